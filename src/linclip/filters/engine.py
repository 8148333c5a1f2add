r"""The one simulation engine: any set of methods and one learner on one source of statistics.

:func:`run_methods` turns a list of :class:`~linclip.filters.spec.MethodSpec` into one
:class:`~linclip.data.sources.StatsRequest`, asks the source for the statistics (the source
decides how: :class:`~linclip.data.sources.PairsSource` generates the pairs in one pass where
the filters allow it), fits the teachers when the source calls back for their score matrices,
and fits one student per method from the statistics of its kept set. Every runner of the
package calls it: :func:`linclip.filters.methods.run_method`, :func:`linclip.experiments.grid.run_trial`
and :func:`~linclip.experiments.grid.run_grid`, the paper's experiments
(:func:`linclip.experiments.runner.run_experiment`) and the prediction-versus-simulation
comparisons (:func:`linclip.experiments.comparisons.simulate_filtered`).

The student is the chosen ``learner`` (:data:`linclip.learners.LEARNERS`); the teachers are
the closed-form contrastive learner unless ``teacher_learner`` says otherwise (InfoNCE can be its
own teacher). A filter ranks pairs by the bilinear score or by the cosine of the embeddings
(:class:`~linclip.filters.spec.MethodSpec` ``score``); method ``given-teacher`` filters by the
score of an encoder pair handed in as ``teacher`` (iterated self-filtering). Learners that are
not functions of the moments (InfoNCE) make the engine ask the source for the pairs themselves
(``StatsRequest(pairs=True)``), which only a source holding the pairs can answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validate import check_int, check_positive
from ..data.sources import (
    KeptRequest,
    MomentAccumulator,
    PairScorer,
    StatsRequest,
    TrialStats,
    as_source,
)
from ..learners import LEARNERS
from ..learners.contrastive import Encoders, closed_form_encoders, min_pairs_for_rank
from ..learners.pca import pca_encoders
from .scores import GIVEN_TEACHER, SCORE_FILTERS, _too_few, teacher_score_matrix
from .spec import MethodSpec

__all__ = [
    "PAIR_LEARNERS",
    "FilterOutcome",
    "scorer_for",
    "oracle_scorer",
    "run_methods",
    "run_methods_with_stats",
    "check_learner",
    "fit_statistics",
]


@dataclass(frozen=True)
class FilterOutcome:
    r"""What a method produced.

    Attributes
    ----------
    student : Encoders
        Encoders trained on the kept pairs (for ``none``: on all pairs).
    teacher : Encoders or None
        The teacher, for the teacher methods.
    n_pool : int
        Pairs offered to the filter (:math:`n`, or :math:`n - \lfloor n/2\rfloor` for the split).
    n_kept : int
        Pairs the student was trained on.
    n_kept_clean : int or None
        Clean pairs among them (``None`` when the data have no labels).
    threshold : float
        Threshold used, in the units of the score (NaN for ``none`` and ``oracle-clean``).
    learner : str
        The student's learner (:data:`linclip.learners.LEARNERS`).
    score : str
        What the filter ranked pairs by (``bilinear`` or ``cosine``; ``bilinear`` for the
        methods that do not filter by a score).
    teacher_learner : str
        The teacher's learner (``linear`` unless the engine was told otherwise).
    """

    student: Encoders
    teacher: Encoders | None
    n_pool: int
    n_kept: int
    n_kept_clean: int | None
    threshold: float
    learner: str = "linear"
    score: str = "bilinear"
    teacher_learner: str = "linear"

    @property
    def kept_fraction(self) -> float:
        """:math:`q = n_{kept}/n_{pool}`."""
        return self.n_kept / self.n_pool

    @property
    def kept_clean_fraction(self) -> float | None:
        """Fraction of the kept pairs that are clean (``None`` without labels)."""
        return None if self.n_kept_clean is None else self.n_kept_clean / self.n_kept


def check_learner(learner: str, name: str = "learner") -> str:
    """Return ``learner`` if it is one of :data:`linclip.learners.LEARNERS`, else raise."""
    if learner not in LEARNERS:
        raise ValueError(f"{name} must be one of {', '.join(LEARNERS)}; got {learner!r}")
    return learner


#: Learners that train on the pairs themselves, not on their moments.
PAIR_LEARNERS = ("infonce",)


def fit_statistics(
    stats: MomentAccumulator,
    r: int,
    rho: float = 1.0,
    learner: str = "linear",
    options: object | None = None,
) -> Encoders:
    r"""Fit ``learner`` from the statistics of a set of pairs.

    ``linear``: the closed-form contrastive learner on the centred cross-covariance;
    ``pca``: the top-:math:`r` eigenvectors of each modality's covariance (needs
    ``full=True`` statistics); ``infonce``: CLIP's loss trained on the pairs themselves
    (needs ``keep_pairs=True`` statistics; ``options`` are its
    :class:`~linclip.learners.infonce.InfoNCEOptions`).
    """
    if stats.n < min_pairs_for_rank(r):
        raise ValueError(
            f"need at least r + 1 = {min_pairs_for_rank(r)} pairs to learn a "
            f"rank-{r} subspace; got {stats.n}"
        )
    if learner == "pca":
        return pca_encoders(stats.covariance_x(), stats.covariance_xt(), r)
    if learner in PAIR_LEARNERS:
        from ..learners.infonce import infonce_encoders

        pairs = stats.pairs()
        if options is None:
            return infonce_encoders(pairs.x, pairs.xt, r)
        return infonce_encoders(pairs.x, pairs.xt, r, options=options)  # type: ignore[arg-type]
    return closed_form_encoders(stats.covariance(), r, rho)


def scorer_for(teacher: Encoders, units: str = "oracle") -> PairScorer:
    r"""The :class:`~linclip.data.sources.PairScorer` of a teacher: :math:`M_T` and its embeddings.

    ``units`` as in :func:`linclip.filters.scores.teacher_score_matrix` (the bilinear score in
    oracle units by default; the cosine does not depend on it).
    """
    return PairScorer(teacher_score_matrix(teacher, units), teacher.G, teacher.G_t)


def oracle_scorer(U: np.ndarray, U_t: np.ndarray) -> PairScorer:
    r"""The oracle's :class:`~linclip.data.sources.PairScorer`.

    Score matrix :math:`U\tilde U^\top`, embeddings :math:`U^\top` and :math:`\tilde U^\top`.
    """
    U, U_t = np.asarray(U, dtype=float), np.asarray(U_t, dtype=float)
    return PairScorer(U @ U_t.T, U.T, U_t.T)


def _as_specs(methods: Sequence[str | MethodSpec]) -> list[MethodSpec]:
    if isinstance(methods, (str, MethodSpec)):
        raise ValueError(
            "methods must be a sequence of method names or MethodSpec objects; "
            f"got the single value {methods!r} (wrap it in a list)"
        )
    specs = [m if isinstance(m, MethodSpec) else MethodSpec(m) for m in methods]
    if not specs:
        raise ValueError("methods must name at least one method")
    return specs


def _knob(spec: MethodSpec) -> str:
    if spec.weighting is not None:
        return f"weighting {spec.weighting.label}"
    if spec.theta is not None:
        return f"threshold theta = {spec.theta:g}"
    return f"keep_fraction q = {spec.keep_fraction:g}"


def run_methods(
    data: object,
    methods: Sequence[str | MethodSpec],
    r: int,
    *,
    rho: float = 1.0,
    learner: str = "linear",
    U: np.ndarray | None = None,
    U_t: np.ndarray | None = None,
    score_units: str = "oracle",
    learner_options: object | None = None,
    teacher_learner: str = "linear",
    teacher: Encoders | None = None,
) -> list[FilterOutcome]:
    r"""Run several methods on one sample, sharing every pass over the data.

    Parameters
    ----------
    data : PairSample, StreamingSample, tuple (x, xt) or statistics source
        The :math:`n` pairs, or a source of their statistics
        (:class:`~linclip.data.sources.StatisticsSource`).
    methods : sequence of str or MethodSpec
        Methods with their knob (:math:`\theta` or :math:`q`); names use the default knob
        (:math:`\theta = 0` for the filters).
    r : int
        Rank :math:`r` learned by teacher and student.
    rho : float
        Regularisation :math:`\rho` (does not change subspaces).
    learner : {"linear", "pca", "infonce"}
        The student's learner (:data:`linclip.learners.LEARNERS`).
    U, U_t : ndarray, optional
        True bases, needed by ``oracle-score``.
    score_units : {"oracle", "raw"}
        Units of the teachers' bilinear scores
        (:func:`linclip.filters.scores.teacher_score_matrix`).
    learner_options : object, optional
        Options of a learner that has them (``infonce``:
        :class:`~linclip.learners.infonce.InfoNCEOptions`), for the student and for a teacher
        of the same learner.
    teacher_learner : {"linear", "pca", "infonce"}
        The learner of the teachers of ``teacher`` and ``teacher-split`` (the paper's is the
        linear contrastive learner).
    teacher : Encoders, optional
        The encoder pair whose score the method ``given-teacher`` filters all :math:`n` pairs
        by (needed by it, refused without it).

    Returns
    -------
    list of FilterOutcome
        One per method, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel
    >>> from linclip.data.sources import PairsSource
    >>> from linclip.data.model import StreamingSample
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    >>> source = PairsSource(StreamingSample(model, 20_000, seed=1, chunk_size=3_000))
    >>> none, alg1 = run_methods(source, ["none", "teacher-split"], r=4)
    >>> source.pairs_generated  # Algorithm 1 and the unfiltered learner in one pass
    20000
    >>> alg1.n_pool, 0.0 < alg1.kept_fraction < 1.0
    (10000, True)
    """
    return run_methods_with_stats(
        data,
        methods,
        r,
        rho=rho,
        learner=learner,
        U=U,
        U_t=U_t,
        score_units=score_units,
        learner_options=learner_options,
        teacher_learner=teacher_learner,
        teacher=teacher,
    )[0]


def run_methods_with_stats(
    data: object,
    methods: Sequence[str | MethodSpec],
    r: int,
    *,
    rho: float = 1.0,
    learner: str = "linear",
    U: np.ndarray | None = None,
    U_t: np.ndarray | None = None,
    score_units: str = "oracle",
    learner_options: object | None = None,
    teacher_learner: str = "linear",
    teacher: Encoders | None = None,
) -> tuple[list[FilterOutcome], TrialStats]:
    """:func:`run_methods`, also returning the source's :class:`~linclip.data.sources.TrialStats`.

    The statistics carry the clean count of the whole sample and the number of pairs the
    source generated.
    """
    specs = _as_specs(methods)
    r = check_int("r", r)
    rho = check_positive("rho", rho)
    learner = check_learner(learner)
    teacher_learner = check_learner(teacher_learner, "teacher_learner")
    if score_units not in ("oracle", "raw"):
        raise ValueError(f"score_units must be 'oracle' or 'raw'; got {score_units!r}")
    names = {s.method for s in specs}
    if "oracle-score" in names and (U is None or U_t is None):
        raise ValueError("method 'oracle-score' needs the true bases U and U_t")
    if GIVEN_TEACHER in names and not isinstance(teacher, Encoders):
        raise ValueError(
            f"method {GIVEN_TEACHER!r} needs the encoder pair to filter by: pass "
            f"teacher=Encoders(...); got {type(teacher).__name__}"
        )
    if any(s.weighting is not None for s in specs) and learner in PAIR_LEARNERS:
        raise ValueError(
            f"learner {learner!r} trains on the pairs themselves and takes no soft weighting; "
            "use a threshold or a kept fraction"
        )
    if teacher is not None and GIVEN_TEACHER not in names:
        raise ValueError(f"teacher= is used only by method {GIVEN_TEACHER!r}; none was given")
    source = as_source(data)
    check_int("n", source.n, minimum=2)
    uses_teacher = bool(names & {"teacher", "teacher-split"})

    filt = [(i, s) for i, s in enumerate(specs) if s.method in SCORE_FILTERS]
    kept_index = {i: j for j, (i, _) in enumerate(filt)}
    request = StatsRequest(
        all=bool(names & {"none", "teacher"}),
        clean="oracle-clean" in names,
        first="teacher-split" in names,
        kept=tuple(
            KeptRequest(
                s.method,
                "second" if s.method == "teacher-split" else "all",
                s.theta,
                s.keep_fraction,
                s.score,
                s.weighting,
            )
            for _, s in filt
        ),
        full=learner == "pca" or (uses_teacher and teacher_learner == "pca"),
        pairs=learner in PAIR_LEARNERS or (uses_teacher and teacher_learner in PAIR_LEARNERS),
    )
    teachers: dict[str, Encoders] = {}

    def score_matrix(scorer: str, stats: MomentAccumulator | None) -> PairScorer:
        if scorer == "oracle-score":
            assert U is not None and U_t is not None
            return oracle_scorer(U, U_t)
        if scorer == GIVEN_TEACHER:
            assert teacher is not None
            teachers[scorer] = teacher
            return scorer_for(teacher, score_units)
        assert stats is not None
        fitted = fit_statistics(stats, r, rho, teacher_learner, learner_options)
        teachers[scorer] = fitted
        return scorer_for(fitted, score_units)

    def outcome(
        fit_on: MomentAccumulator, spec: MethodSpec, n_pool: int, cut: float
    ) -> FilterOutcome:
        return FilterOutcome(
            fit_statistics(fit_on, r, rho, learner, learner_options),
            teachers.get(spec.method),
            n_pool,
            fit_on.n,
            fit_on.n_clean,
            cut,
            learner,
            spec.score,
            teacher_learner if spec.method in ("teacher", "teacher-split") else "linear",
        )

    stats = source.statistics(request, score_matrix)
    outcomes: list[FilterOutcome] = []
    for i, spec in enumerate(specs):
        if spec.method == "none":
            assert stats.all is not None
            outcomes.append(outcome(stats.all, spec, stats.all.n, math.nan))
        elif spec.method == "oracle-clean":
            assert stats.clean is not None
            outcomes.append(outcome(stats.clean, spec, stats.n, math.nan))
        else:
            j = kept_index[i]
            kept, n_pool = stats.kept[j], stats.n_pool[j]
            if kept.n < min_pairs_for_rank(r):
                raise _too_few(kept.n, n_pool, r, _knob(spec))
            outcomes.append(outcome(kept, spec, n_pool, float(stats.cuts[j])))
    return outcomes, stats
