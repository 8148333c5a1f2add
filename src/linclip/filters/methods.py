r"""Teacher-based filtering (Algorithm 1) and the two oracles (brief §4).

Every method takes a *source* of pairs: an in-memory :class:`~linclip.model.PairSample` or a
:class:`~linclip.model.StreamingSample` that regenerates its pairs chunk by chunk; both expose
``chunks()``. All methods therefore run unchanged from :math:`n = 10^2` to :math:`n = 10^7`.

Methods
-------
``none``
    Train on all :math:`n` pairs.
``teacher``
    Practical variant: a teacher trained on all :math:`n` pairs scores all of them; the student
    trains on the kept pairs.
``teacher-split``
    Algorithm 1 as written: teacher on the first :math:`\lfloor n/2\rfloor` pairs, filter and
    student on the rest.
``oracle-score``
    Filter all :math:`n` pairs by the oracle score :math:`x^\top U\tilde U^\top\tilde x`.
``oracle-clean``
    Keep exactly the clean pairs (the oracle that knows the hidden labels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

import numpy as np

from .._validate import check_int, check_positive
from ..learners.contrastive import (CrossCovarianceAccumulator, Encoders, closed_form_encoders,
                      min_pairs_for_rank)
from ..data.model import PairSample

from .scores import (METHODS, _too_few, bilinear_score, check_filter_knob,
                     kept_count, oracle_score_matrix, teacher_score_matrix, threshold_mask)

__all__ = ["FilterOutcome", "fit_source", "run_method"]


class PairSource(Protocol):
    """Anything that yields :class:`PairSample` chunks, identically on every call."""

    def chunks(self) -> Iterator[PairSample]: ...


@dataclass(frozen=True)
class FilterOutcome:
    """What a method produced.

    Attributes
    ----------
    student : Encoders
        Encoders trained on the kept pairs (for ``none``: on all pairs).
    teacher : Encoders or None
        The teacher, for the teacher methods.
    n_pool : int
        Pairs offered to the filter (:math:`n`, or :math:`n - \\lfloor n/2\\rfloor` for the split).
    n_kept : int
        Pairs the student was trained on.
    n_kept_clean : int
        Clean pairs among them.
    threshold : float
        Threshold used, in the units of the score (NaN for ``none`` and ``oracle-clean``).
    """

    student: Encoders
    teacher: Encoders | None
    n_pool: int
    n_kept: int
    n_kept_clean: int
    threshold: float

    @property
    def kept_fraction(self) -> float:
        """:math:`q = n_{kept}/n_{pool}`."""
        return self.n_kept / self.n_pool

    @property
    def kept_clean_fraction(self) -> float:
        """Fraction of the kept pairs that are clean."""
        return self.n_kept_clean / self.n_kept


def _split_chunks(chunks: Iterable[PairSample], n_first: int, part: int) -> Iterator[PairSample]:
    """Chunks of the first ``n_first`` pairs (part 0) or of the rest (part 1)."""
    offset = 0
    for chunk in chunks:
        lo, hi = offset, offset + chunk.n
        offset = hi
        cut = min(max(n_first - lo, 0), chunk.n)
        piece = chunk.subset(slice(0, cut)) if part == 0 else chunk.subset(slice(cut, None))
        if piece.n:
            yield piece


def fit_source(chunks: Iterable[PairSample], r: int, rho: float = 1.0,
               mask_fn=None) -> tuple[Encoders, int, int]:
    """Closed-form fit on the (optionally masked) pairs of a stream of chunks.

    Returns the encoders, the number of pairs used and how many of them were clean.
    """
    acc: CrossCovarianceAccumulator | None = None
    n_clean = 0
    for chunk in chunks:
        if mask_fn is not None:
            chunk = chunk.subset(mask_fn(chunk))
        if acc is None:
            acc = CrossCovarianceAccumulator(chunk.x.shape[1], chunk.xt.shape[1])
        acc.update(chunk.x, chunk.xt)
        n_clean += chunk.clean_count
    if acc is None or acc.n < min_pairs_for_rank(r):
        got = 0 if acc is None else acc.n
        raise ValueError(f"need at least r + 1 = {min_pairs_for_rank(r)} pairs to learn a "
                         f"rank-{r} subspace; got {got}")
    return closed_form_encoders(acc.covariance(), r, rho), acc.n, n_clean


def _count(chunks: Iterable[PairSample]) -> int:
    return sum(chunk.n for chunk in chunks)


def run_method(source: PairSource, method: str, r: int, *, rho: float = 1.0,
               theta: float | None = None, keep_fraction: float | None = None,
               U: np.ndarray | None = None, U_t: np.ndarray | None = None,
               score_units: str = "oracle") -> FilterOutcome:
    r"""Run one of :data:`METHODS` on a source of pairs.

    Parameters
    ----------
    source : PairSample or StreamingSample
        The :math:`n` pairs.
    method : str
        One of ``none``, ``teacher``, ``teacher-split``, ``oracle-score``, ``oracle-clean``.
    r : int
        Rank :math:`r` learned by teacher and student.
    rho : float
        Regularisation :math:`\rho` (does not change subspaces).
    theta : float, optional
        Threshold :math:`\theta` (keep score :math:`> \theta`), in oracle units unless
        ``score_units="raw"``. Exactly one of ``theta`` and ``keep_fraction`` is required by the
        filtering methods, and neither is accepted by the others.
    keep_fraction : float, optional
        Kept fraction :math:`q \in (0, 1]` (keep the top :math:`\lceil q n_{pool}\rceil` scores).
    U, U_t : ndarray, optional
        True bases, required by ``oracle-score``.
    score_units : {"oracle", "raw"}
        Units of the teacher's score, see :func:`teacher_score_matrix`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    rho = check_positive("rho", rho)
    r = check_int("r", r)
    theta, keep_fraction = check_filter_knob(method, theta, keep_fraction)

    if method == "none":
        student, n_kept, n_clean = fit_source(source.chunks(), r, rho)
        return FilterOutcome(student, None, n_kept, n_kept, n_clean, math.nan)
    if method == "oracle-clean":
        n_pool = _count(source.chunks())
        student, n_kept, n_clean = fit_source(source.chunks(), r, rho,
                                              mask_fn=lambda c: c.clean)
        return FilterOutcome(student, None, n_pool, n_kept, n_clean, math.nan)

    teacher = None
    if method == "oracle-score":
        if U is None or U_t is None:
            raise ValueError("method 'oracle-score' needs the true bases U and U_t")
        M = oracle_score_matrix(U, U_t)
        pool = source.chunks
    elif method == "teacher":
        teacher, _, _ = fit_source(source.chunks(), r, rho)
        M = teacher_score_matrix(teacher, score_units)
        pool = source.chunks
    else:  # teacher-split
        n_total = _count(source.chunks())
        n_first = n_total // 2
        teacher, _, _ = fit_source(_split_chunks(source.chunks(), n_first, 0), r, rho)
        M = teacher_score_matrix(teacher, score_units)
        pool = lambda: _split_chunks(source.chunks(), n_first, 1)  # noqa: E731

    scores = np.concatenate([bilinear_score(c.x, c.xt, M) for c in pool()])
    n_pool = scores.size
    if theta is not None:
        cut = theta
        threshold_mask(scores, cut, r)  # validates that enough pairs survive
        keep = lambda c: bilinear_score(c.x, c.xt, M) > cut  # noqa: E731
    else:
        k = kept_count(keep_fraction, n_pool)
        if k < min_pairs_for_rank(r):
            raise _too_few(k, n_pool, r, f"keep_fraction q = {keep_fraction:g}")
        # Keep exactly the k best: scores >= the k-th largest (ties have probability zero).
        cut = float(np.partition(scores, n_pool - k)[n_pool - k])
        keep = lambda c: bilinear_score(c.x, c.xt, M) >= cut  # noqa: E731
    student, n_kept, n_clean = fit_source(pool(), r, rho, mask_fn=keep)
    return FilterOutcome(student, teacher, n_pool, n_kept, n_clean, float(cut))
