r"""Filtering your own embeddings: teacher, score, filter and student in one call.

:func:`fit_filtered` needs only the paired rows :math:`(x_i, \tilde x_i)`; no hidden labels,
no model. It is Algorithm 1 (``split=True``) or its full-sample variant (``split=False``) on
data held in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_positive
from ..learners.contrastive import Encoders, check_pairs, fit, min_pairs_for_rank
from .scores import _too_few, bilinear_score, check_filter_knob, kept_count, teacher_score_matrix

__all__ = ["FilteredFit", "fit_filtered"]


@dataclass(frozen=True)
class FilteredFit:
    r"""The result of :func:`fit_filtered`.

    Attributes
    ----------
    encoders : Encoders
        The student :math:`(G, \tilde G)`, trained on the kept rows.
    teacher : Encoders
        The teacher that scored the rows.
    kept : ndarray of bool, shape (n,)
        Which input rows the student was trained on (with ``split=True`` the first half is
        never kept: it trained the teacher).
    scores : ndarray, shape (n,)
        The teacher's score :math:`x_i^\top M_T\tilde x_i` of every row, in oracle units (NaN
        for the rows that trained a split teacher).
    threshold : float
        The cut applied: :math:`\theta`, or the score of the last kept row for a kept fraction.
    n_pool : int
        Rows offered to the filter.
    """

    encoders: Encoders
    teacher: Encoders
    kept: np.ndarray
    scores: np.ndarray
    threshold: float
    n_pool: int

    @property
    def n_kept(self) -> int:
        """Rows the student was trained on."""
        return int(np.count_nonzero(self.kept))

    @property
    def kept_fraction(self) -> float:
        """Kept fraction :math:`n_{kept}/n_{pool}`."""
        return self.n_kept / self.n_pool


def fit_filtered(
    x: np.ndarray,
    xt: np.ndarray,
    r: int,
    *,
    theta: float | None = None,
    keep_fraction: float | None = None,
    split: bool = False,
    rho: float = 1.0,
) -> FilteredFit:
    r"""Train a teacher, filter the pairs by its score, and train the student on the rest.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        First-modality embeddings :math:`x_i`, one pair per row.
    xt : ndarray, shape (n, d_t)
        Second-modality embeddings :math:`\tilde x_i`, row-aligned with ``x``.
    r : int
        Rank :math:`r` of teacher and student.
    theta : float, optional
        Threshold :math:`\theta` in oracle units (keep score :math:`> \theta`). With neither
        knob the paper's untuned :math:`\theta = 0` is used.
    keep_fraction : float, optional
        Kept fraction :math:`q \in (0, 1]`: keep the :math:`\lceil q\,n_{pool}\rceil` best.
    split : bool
        Algorithm 1 as written: the teacher is trained on the first :math:`\lfloor n/2\rfloor`
        rows and filters the rest. Otherwise one teacher trained on all rows filters all rows.
    rho : float
        Regularisation :math:`\rho > 0` (does not change subspaces).

    Returns
    -------
    FilteredFit
        ``encoders`` (the student), ``teacher``, ``kept`` (a boolean mask over the input rows),
        ``scores``, ``threshold``, ``n_pool``.

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel, subspace_error
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    >>> pairs = model.sample(20_000, np.random.default_rng(0))
    >>> res = fit_filtered(pairs.x, pairs.xt, 4, split=True)
    >>> res.kept.shape, bool(res.kept[:10_000].any())
    ((20000,), False)
    >>> unfiltered = subspace_error(fit(pairs.x, pairs.xt, 4), model.U, model.U_t).err
    >>> bool(subspace_error(res.encoders, model.U, model.U_t).err < unfiltered)
    True
    """
    x, xt = check_pairs(x, xt, r)
    r = int(r)
    rho = check_positive("rho", rho)
    if not isinstance(split, (bool, np.bool_)):
        raise ValueError(f"split must be True or False; got {split!r}")
    method = "teacher-split" if split else "teacher"
    theta, keep_fraction = check_filter_knob(method, theta, keep_fraction, default_theta=0.0)
    n = x.shape[0]
    start = n // 2 if split else 0
    if split and start < min_pairs_for_rank(r):
        raise ValueError(
            f"split=True trains the teacher on the first n // 2 = {start} rows; "
            f"at least r + 1 = {r + 1} are needed"
        )
    teacher = fit(x[:start], xt[:start], r, rho) if split else fit(x, xt, r, rho)
    pool_scores = bilinear_score(x[start:], xt[start:], teacher_score_matrix(teacher))
    n_pool = n - start
    if theta is not None:
        keep = pool_scores > theta
        cut = float(theta)
        knob = f"threshold theta = {theta:g}"
    else:
        assert keep_fraction is not None
        k = kept_count(keep_fraction, n_pool)
        cut = float(np.partition(pool_scores, n_pool - k)[n_pool - k])
        keep = pool_scores >= cut
        knob = f"keep_fraction q = {keep_fraction:g}"
    if np.count_nonzero(keep) < min_pairs_for_rank(r):
        raise _too_few(int(np.count_nonzero(keep)), n_pool, r, knob)
    kept = np.zeros(n, dtype=bool)
    kept[start:] = keep
    scores = np.full(n, math.nan)
    scores[start:] = pool_scores
    student = fit(x[kept], xt[kept], r, rho)
    return FilteredFit(student, teacher, kept, scores, cut, n_pool)
