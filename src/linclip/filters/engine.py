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

Teachers are always the closed-form contrastive learner (a teacher must score pairs); the
student is the chosen ``learner`` (:data:`linclip.learners.LEARNERS`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validate import check_int, check_positive
from ..data.sources import KeptRequest, MomentAccumulator, StatsRequest, TrialStats, as_source
from ..learners import LEARNERS
from ..learners.contrastive import Encoders, closed_form_encoders, min_pairs_for_rank
from ..learners.pca import pca_encoders
from .scores import FILTERING_METHODS, _too_few, oracle_score_matrix, teacher_score_matrix
from .spec import MethodSpec

__all__ = [
    "FilterOutcome",
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
    """

    student: Encoders
    teacher: Encoders | None
    n_pool: int
    n_kept: int
    n_kept_clean: int | None
    threshold: float
    learner: str = "linear"

    @property
    def kept_fraction(self) -> float:
        """:math:`q = n_{kept}/n_{pool}`."""
        return self.n_kept / self.n_pool

    @property
    def kept_clean_fraction(self) -> float | None:
        """Fraction of the kept pairs that are clean (``None`` without labels)."""
        return None if self.n_kept_clean is None else self.n_kept_clean / self.n_kept


def check_learner(learner: str) -> str:
    """Return ``learner`` if it is one of :data:`linclip.learners.LEARNERS`, else raise."""
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {', '.join(LEARNERS)}; got {learner!r}")
    return learner


def fit_statistics(
    stats: MomentAccumulator, r: int, rho: float = 1.0, learner: str = "linear"
) -> Encoders:
    r"""Fit ``learner`` from the statistics of a set of pairs.

    ``linear``: the closed-form contrastive learner on the centred cross-covariance;
    ``pca``: the top-:math:`r` eigenvectors of each modality's covariance (needs
    ``full=True`` statistics).
    """
    if stats.n < min_pairs_for_rank(r):
        raise ValueError(
            f"need at least r + 1 = {min_pairs_for_rank(r)} pairs to learn a "
            f"rank-{r} subspace; got {stats.n}"
        )
    if learner == "pca":
        return pca_encoders(stats.covariance_x(), stats.covariance_xt(), r)
    return closed_form_encoders(stats.covariance(), r, rho)


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
    learner : {"linear", "pca"}
        The student's learner; the teachers are always the contrastive learner.
    U, U_t : ndarray, optional
        True bases, needed by ``oracle-score``.
    score_units : {"oracle", "raw"}
        Units of the teachers' scores (:func:`linclip.filters.scores.teacher_score_matrix`).

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
        data, methods, r, rho=rho, learner=learner, U=U, U_t=U_t, score_units=score_units
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
) -> tuple[list[FilterOutcome], TrialStats]:
    """:func:`run_methods`, also returning the source's :class:`~linclip.data.sources.TrialStats`.

    The statistics carry the clean count of the whole sample and the number of pairs the
    source generated.
    """
    specs = _as_specs(methods)
    r = check_int("r", r)
    rho = check_positive("rho", rho)
    learner = check_learner(learner)
    if score_units not in ("oracle", "raw"):
        raise ValueError(f"score_units must be 'oracle' or 'raw'; got {score_units!r}")
    names = {s.method for s in specs}
    if "oracle-score" in names and (U is None or U_t is None):
        raise ValueError("method 'oracle-score' needs the true bases U and U_t")
    source = as_source(data)
    check_int("n", source.n, minimum=2)

    filt = [(i, s) for i, s in enumerate(specs) if s.method in FILTERING_METHODS]
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
            )
            for _, s in filt
        ),
        full=learner == "pca",
    )
    teachers: dict[str, Encoders] = {}

    def score_matrix(scorer: str, stats: MomentAccumulator | None) -> np.ndarray:
        if scorer == "oracle-score":
            assert U is not None and U_t is not None
            return oracle_score_matrix(U, U_t)
        assert stats is not None
        teacher = fit_statistics(stats, r, rho, "linear")
        teachers[scorer] = teacher
        return teacher_score_matrix(teacher, score_units)

    stats = source.statistics(request, score_matrix)
    outcomes: list[FilterOutcome] = []
    for i, spec in enumerate(specs):
        if spec.method == "none":
            assert stats.all is not None
            outcomes.append(
                FilterOutcome(
                    fit_statistics(stats.all, r, rho, learner),
                    None,
                    stats.all.n,
                    stats.all.n,
                    stats.all.n_clean,
                    math.nan,
                    learner,
                )
            )
        elif spec.method == "oracle-clean":
            assert stats.clean is not None
            outcomes.append(
                FilterOutcome(
                    fit_statistics(stats.clean, r, rho, learner),
                    None,
                    stats.n,
                    stats.clean.n,
                    stats.clean.n_clean,
                    math.nan,
                    learner,
                )
            )
        else:
            j = kept_index[i]
            kept, n_pool = stats.kept[j], stats.n_pool[j]
            if kept.n < min_pairs_for_rank(r):
                raise _too_few(kept.n, n_pool, r, _knob(spec))
            outcomes.append(
                FilterOutcome(
                    fit_statistics(kept, r, rho, learner),
                    teachers.get(spec.method),
                    n_pool,
                    kept.n,
                    kept.n_clean,
                    float(stats.cuts[j]),
                    learner,
                )
            )
    return outcomes, stats
