r"""Iterated self-filtering: the student of round :math:`k` is the teacher of round :math:`k+1`.

Round 1 is a teacher filter of the paper's kind (``start``):

``teacher-split`` (default)
    Algorithm 1 as written: the teacher is fitted on the first :math:`\lfloor n/2\rfloor`
    pairs and filters the second half, so the round-1 filter is independent of the pairs it
    filters (what the paper's proof needs).
``teacher``
    The full-sample teacher: fitted on all :math:`n` pairs, it filters all of them. Every round
    then filters a pool of the same size :math:`n`, which makes rounds comparable at equal pool
    (the book's chapter uses it for that reason).

Round :math:`k+1 \ge 2` filters by the score of round :math:`k`'s student, handed to the engine as
``teacher=`` with method ``given-teacher`` (one engine call per round,
:func:`linclip.filters.engine.run_methods`; there is no second simulation loop):

* on the **same data** — all :math:`n` pairs of the round-1 sample are filtered again;
* on **fresh data** — round :math:`k+1` draws a new sample (``fresh_data(k + 1)``, seeded by the
  caller; :func:`linclip.experiments.grid.run_trial` derives it from the trial's seed), so the
  teacher is independent of the pairs it filters, as in round 1 of Algorithm 1, and the pairs
  used in total grow with the rounds (:attr:`RoundOutcome.pairs_used`).

Every round keeps by the same knob (threshold :math:`\theta` or kept fraction :math:`q`) and the
same score (bilinear in oracle units, or cosine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._validate import check_int
from ..data.sources import TrialStats, as_source
from .engine import FilterOutcome, run_methods_with_stats
from .scores import GIVEN_TEACHER
from .spec import MethodSpec
from .weighting import WEIGHTINGS, ScoreWeighting

__all__ = ["ITERATE_STARTS", "RoundOutcome", "iterate_filter", "ScoreWeighting", "WEIGHTINGS"]

#: The teacher filters round 1 can be (see the module docstring).
ITERATE_STARTS = ("teacher-split", "teacher")


@dataclass(frozen=True)
class RoundOutcome:
    r"""What round :math:`k` of iterated self-filtering produced.

    Attributes
    ----------
    round : int
        The round :math:`k \ge 1`.
    outcome : linclip.filters.engine.FilterOutcome
        The engine's outcome: the student of round :math:`k`, its teacher (the round-1 teacher,
        or the student of round :math:`k-1`), the kept set and the cut.
    spec : MethodSpec
        The method the engine ran: ``start`` in round 1, ``given-teacher`` afterwards.
    fresh : bool
        Whether rounds after the first draw fresh data.
    pairs_used : int
        Pairs used by rounds :math:`1, \dots, k` together: :math:`n` on the same data,
        :math:`n_1 + \dots + n_k` on fresh data.
    stats : TrialStats
        The source's statistics of this round's sample (clean count, pairs generated).
    """

    round: int
    outcome: FilterOutcome
    spec: MethodSpec
    fresh: bool
    pairs_used: int
    stats: TrialStats

    @property
    def student(self):
        """The student of this round (the teacher of the next)."""
        return self.outcome.student


def iterate_filter(
    data: object,
    r: int,
    rounds: int,
    *,
    theta: float | None = None,
    keep_fraction: float | None = None,
    score: str = "bilinear",
    start: str = "teacher-split",
    fresh_data: Callable[[int], object] | None = None,
    rho: float = 1.0,
    learner: str = "linear",
    U=None,
    U_t=None,
    score_units: str = "oracle",
    learner_options: object | None = None,
    teacher_learner: str = "linear",
) -> list[RoundOutcome]:
    r"""Run :math:`K` rounds of self-filtering; return one :class:`RoundOutcome` per round.

    Parameters
    ----------
    data : PairSample, StreamingSample, tuple (x, xt) or statistics source
        The :math:`n` pairs of round 1 (and of every round on the same data).
    r : int
        Rank :math:`r` of teacher and students.
    rounds : int
        Number of rounds :math:`K \ge 1` (:math:`K = 1` is the ``start`` filter alone).
    theta, keep_fraction : float, optional
        The knob of every round: threshold :math:`\theta` (score units; oracle units for the
        bilinear score) or kept fraction :math:`q`; neither means :math:`\theta = 0`.
    score : {"bilinear", "cosine"}
        What every round ranks pairs by.
    start : {"teacher-split", "teacher"}
        Round 1's filter (:data:`ITERATE_STARTS`).
    fresh_data : callable, optional
        ``fresh_data(k)`` returns the sample of round :math:`k \ge 2` (fresh data); ``None``
        re-filters the round-1 sample in every round (same data).
    rho : float
        Regularisation :math:`\rho`.
    learner : {"linear", "pca", "infonce"}
        The students' learner.
    U, U_t : ndarray, optional
        Unused by the filters (kept for the engine's signature).
    score_units : {"oracle", "raw"}
        Units of the bilinear scores of the teachers (:func:`~linclip.filters.engine.run_methods`).
    learner_options : object, optional
        Options of the learner.
    teacher_learner : {"linear", "pca", "infonce"}
        The learner of round 1's teacher (later teachers are students, so ``learner``).

    Returns
    -------
    list of RoundOutcome
        Rounds :math:`1, \dots, K` in order.

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3, basis_seed=1)
    >>> sample = model.sample(4_000, np.random.default_rng(0))
    >>> out = iterate_filter(sample, 4, 3, start="teacher")
    >>> [o.round for o in out], [o.spec.method for o in out]
    ([1, 2, 3], ['teacher', 'given-teacher', 'given-teacher'])
    >>> out[1].outcome.teacher is out[0].student
    True
    """
    r = check_int("r", r)
    rounds = check_int("rounds (K)", rounds, minimum=1)
    if start not in ITERATE_STARTS:
        raise ValueError(f"start must be one of {', '.join(ITERATE_STARTS)}; got {start!r}")
    if fresh_data is not None and not callable(fresh_data):
        raise ValueError(
            "fresh_data must be None (same data) or a callable returning round k's sample; "
            f"got {type(fresh_data).__name__}"
        )
    first = MethodSpec(start, theta=theta, keep_fraction=keep_fraction, score=score)
    later = MethodSpec(GIVEN_TEACHER, theta=theta, keep_fraction=keep_fraction, score=score)
    common = dict(
        rho=rho,
        learner=learner,
        U=U,
        U_t=U_t,
        score_units=score_units,
        learner_options=learner_options,
    )
    source = as_source(data)
    fresh = fresh_data is not None
    out: list[RoundOutcome] = []
    pairs_used = 0
    teacher = None
    for k in range(1, rounds + 1):
        if k == 1:
            spec, round_data = first, source
            (result,), stats = run_methods_with_stats(
                source, [first], r, teacher_learner=teacher_learner, **common
            )
        else:
            spec = later
            round_data = as_source(fresh_data(k)) if fresh_data is not None else source
            (result,), stats = run_methods_with_stats(
                round_data, [later], r, teacher=teacher, **common
            )
        pairs_used = round_data.n if k == 1 or not fresh else pairs_used + round_data.n
        out.append(RoundOutcome(k, result, spec, fresh, pairs_used, stats))
        teacher = result.student
    return out
