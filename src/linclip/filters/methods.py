r"""One method on one sample: :func:`run_method` (a thin wrapper of the engine) and
:func:`fit_source`, the closed-form fit on a stream of chunks.

The methods are described in :mod:`linclip.filters`; several methods on the same pairs are
cheaper in one call of :func:`linclip.filters.engine.run_methods`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np

from ..data.model import PairSample
from ..learners.contrastive import (
    CrossCovarianceAccumulator,
    Encoders,
    closed_form_encoders,
    min_pairs_for_rank,
)
from .engine import FilterOutcome, run_methods
from .scores import METHODS, check_filter_knob
from .spec import MethodSpec

__all__ = ["FilterOutcome", "fit_source", "run_method"]


class PairSource(Protocol):
    """Anything that yields :class:`~linclip.data.model.PairSample` chunks, identically on every call."""

    def chunks(self) -> Iterator[PairSample]: ...


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


def fit_source(
    chunks: Iterable[PairSample], r: int, rho: float = 1.0, mask_fn=None
) -> tuple[Encoders, int, int]:
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
        raise ValueError(
            f"need at least r + 1 = {min_pairs_for_rank(r)} pairs to learn a "
            f"rank-{r} subspace; got {got}"
        )
    return closed_form_encoders(acc.covariance(), r, rho), acc.n, n_clean


def run_method(
    source: object,
    method: str,
    r: int,
    *,
    rho: float = 1.0,
    theta: float | None = None,
    keep_fraction: float | None = None,
    U: np.ndarray | None = None,
    U_t: np.ndarray | None = None,
    score_units: str = "oracle",
    learner: str = "linear",
) -> FilterOutcome:
    r"""Run one of :data:`~linclip.filters.scores.METHODS` on a source of pairs.

    Parameters
    ----------
    source : PairSample, StreamingSample, tuple (x, xt) or statistics source
        The :math:`n` pairs (see :func:`linclip.filters.engine.run_methods`).
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
        Units of the teacher's score, see :func:`~linclip.filters.scores.teacher_score_matrix`.
    learner : {"linear", "pca"}
        The student's learner (the teacher is always the contrastive learner).

    Notes
    -----
    A thin wrapper of :func:`linclip.filters.engine.run_methods` with one method. Several
    methods on the same pairs are cheaper in one call of ``run_methods``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    theta, keep_fraction = check_filter_knob(method, theta, keep_fraction)
    spec = MethodSpec(method, theta=theta, keep_fraction=keep_fraction)
    return run_methods(
        source, [spec], r, rho=rho, learner=learner, U=U, U_t=U_t, score_units=score_units
    )[0]
