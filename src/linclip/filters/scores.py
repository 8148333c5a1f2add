r"""Scores and masks: the teacher's and the oracle's bilinear score, thresholds, kept fractions.

A pair is scored by :math:`x^\top M\tilde x` with :math:`M = G_T^\top\tilde G_T` (a teacher,
:func:`teacher_score_matrix`, in oracle units by default) or :math:`M = U\tilde U^\top` (the
oracle, :func:`oracle_score_matrix`); a filter keeps the pairs scoring above a threshold
:math:`\theta` (:func:`threshold_mask`) or the top fraction :math:`q` (:func:`top_fraction_mask`).
The methods themselves are listed in :data:`METHODS`; see :mod:`linclip.filters`.
"""

from __future__ import annotations

import math

import numpy as np

from .._knobs import (
    ENGINE_METHODS,
    FILTERING_METHODS,
    GIVEN_TEACHER,
    METHODS,
    SCORE_FILTERS,
    SCORES,
    _check_theta,
    check_filter_knob,
    check_score,
)
from .._validate import check_finite_array, check_fraction, check_int, check_scores
from ..learners.contrastive import Encoders, check_pairs, min_pairs_for_rank

__all__ = [
    "METHODS",
    "FILTERING_METHODS",
    "GIVEN_TEACHER",
    "ENGINE_METHODS",
    "SCORE_FILTERS",
    "SCORES",
    "check_score",
    "bilinear_score",
    "cosine_score",
    "teacher_score_matrix",
    "oracle_score_matrix",
    "threshold_mask",
    "top_fraction_mask",
    "check_filter_knob",
    "kept_count",
]


def bilinear_score(x: np.ndarray, xt: np.ndarray, M: np.ndarray) -> np.ndarray:
    r"""Row-wise scores :math:`x_i^\top M \tilde x_i`.

    Parameters
    ----------
    x : ndarray, shape (n, d)
    xt : ndarray, shape (n, d_t)
    M : ndarray, shape (d, d_t)
        Score matrix: :math:`G_T^\top\tilde G_T` for a teacher, :math:`U\tilde U^\top` for the oracle.
    """
    M = check_finite_array("M", M, ndim=2)
    x, xt = check_pairs(x, xt)
    if x.shape[1] != M.shape[0] or xt.shape[1] != M.shape[1]:
        raise ValueError(
            f"score matrix of shape {M.shape} does not fit x of width {x.shape[1]} "
            f"and xt of width {xt.shape[1]}"
        )
    return np.einsum("ij,ij->i", x @ M, xt)


def cosine_score(x: np.ndarray, xt: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Row-wise cosines :math:`\cos(Ax_i, B\tilde x_i)` of the two embeddings (the CLIP score).

    Parameters
    ----------
    x : ndarray, shape (n, d)
    xt : ndarray, shape (n, d_t)
    A : ndarray, shape (r, d)
        Image embedding: a teacher's :math:`G_T`, or :math:`U^\top` for the oracle.
    B : ndarray, shape (r, d_t)
        Text embedding: :math:`\tilde G_T`, or :math:`\tilde U^\top`.

    Notes
    -----
    DataComp and DFN filter by this score; the paper's filter uses the unnormalised
    :func:`bilinear_score` :math:`\langle Ax, B\tilde x\rangle`. A pair with a zero
    embedding (probability zero under the model) gets cosine 0. Positive rescalings of
    :math:`A`, :math:`B`, :math:`x` or :math:`\tilde x` do not change it.

    Examples
    --------
    >>> import numpy as np
    >>> x, xt = np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 3.0]])
    >>> cosine_score(x, xt, np.eye(2), np.eye(2)).round(4).tolist()
    [1.0, 0.7071]
    """
    A = check_finite_array("A", A, ndim=2)
    B = check_finite_array("B", B, ndim=2)
    x, xt = check_pairs(x, xt)
    if A.shape[0] != B.shape[0] or x.shape[1] != A.shape[1] or xt.shape[1] != B.shape[1]:
        raise ValueError(
            f"embeddings of shapes {A.shape} and {B.shape} do not fit x of width "
            f"{x.shape[1]} and xt of width {xt.shape[1]} (need (r, d) and (r, d_t))"
        )
    u, v = x @ A.T, xt @ B.T
    dot = np.einsum("ij,ij->i", u, v)
    norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    return np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)


def teacher_score_matrix(teacher: Encoders, units: str = "oracle") -> np.ndarray:
    r"""The teacher's score matrix :math:`M_T = G_T^\top \tilde G_T`, optionally rescaled.

    Parameters
    ----------
    teacher : Encoders
        The teacher :math:`(G_T, \tilde G_T)`.
    units : {"oracle", "raw"}
        ``"raw"`` returns :math:`M_T` itself (:math:`\to (\eta/\rho)U\tilde U^\top`).
        ``"oracle"`` divides by the mean of its top-:math:`r` singular values, so that
        :math:`M_T \to U\tilde U^\top` and a threshold :math:`\theta` means the same as for the
        oracle score (the paper's thresholds 0 and :math:`r/2` are in these units). A positive
        rescaling never changes which pairs rank highest.
    """
    if not isinstance(teacher, Encoders):
        raise ValueError(
            f"teacher must be an Encoders pair (G, G_t); got {type(teacher).__name__}"
        )
    M = teacher.score_matrix
    if units == "raw":
        return M
    if units != "oracle":
        raise ValueError(f"units must be 'oracle' or 'raw'; got {units!r}")
    sigma = np.linalg.svd(M, compute_uv=False)[: teacher.r]
    scale = float(np.mean(sigma))
    if scale <= 0:
        raise ValueError("the teacher's score matrix is zero; it cannot rank pairs")
    return M / scale


def oracle_score_matrix(U: np.ndarray, U_t: np.ndarray) -> np.ndarray:
    r"""Oracle score matrix :math:`U\tilde U^\top` (knows the true subspaces)."""
    U = check_finite_array("U", U, ndim=2)
    U_t = check_finite_array("U_t", U_t, ndim=2)
    if U.shape[1] != U_t.shape[1]:
        raise ValueError(
            f"U and U_t must have the same number of columns (the rank r); got shapes "
            f"{U.shape} and {U_t.shape}"
        )
    return U @ U_t.T


def _too_few(kept: int, total: int, r: int, knob: str) -> ValueError:
    return ValueError(
        f"{knob} keeps {kept} of {total} pairs, but at least r + 1 = {min_pairs_for_rank(r)} "
        f"kept pairs are needed to learn a rank-{r} subspace; lower the threshold or raise "
        "the kept fraction"
    )


def threshold_mask(scores: np.ndarray, theta: float, r: int) -> np.ndarray:
    r"""Keep pairs whose score exceeds :math:`\theta`; raise if fewer than ``r + 1`` survive.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        One score per pair; NaN is refused (it cannot be compared with :math:`\theta`).
    theta : float
        Threshold :math:`\theta`: a finite real number, or ``-inf`` (keep every pair).
    r : int
        Rank :math:`r` of the subspace the kept pairs will train (a positive integer).

    Examples
    --------
    >>> threshold_mask(np.array([0.5, -1.0, 2.0, 3.0]), 0.0, r=1)
    array([ True, False,  True,  True])
    >>> threshold_mask(np.array([0.5, np.nan, 2.0]), 0.0, r=1)
    Traceback (most recent call last):
    ...
    ValueError: scores must not contain NaN (a NaN score cannot be ranked); found 1 NaN entries, the first at index 1
    """
    scores = check_scores("scores", scores)
    theta = _check_theta(theta)
    r = check_int("r", r, what=" (the rank of the subspace)")
    mask = scores > theta
    kept = int(np.count_nonzero(mask))
    if kept < min_pairs_for_rank(r):
        raise _too_few(kept, mask.size, r, f"threshold theta = {theta:g}")
    return mask


def kept_count(keep_fraction: float, n_pool: int) -> int:
    r"""Number of pairs a kept fraction :math:`q` keeps out of ``n_pool``: :math:`\lceil qn\rceil`."""
    q = check_fraction("keep_fraction (q)", keep_fraction)
    n_pool = check_int("n_pool", n_pool, minimum=0)
    return min(n_pool, math.ceil(q * n_pool - 1e-9))


def top_fraction_mask(scores: np.ndarray, keep_fraction: float, r: int) -> np.ndarray:
    r"""Keep the :math:`\lceil q\,n\rceil` highest-scoring pairs (top-:math:`q`).

    Parameters
    ----------
    scores : ndarray, shape (n,)
        One score per pair; NaN is refused (it has no rank).
    keep_fraction : float
        Kept fraction :math:`q \in (0, 1]`.
    r : int
        Rank :math:`r` of the subspace the kept pairs will train (a positive integer).
    """
    q = check_fraction("keep_fraction (q)", keep_fraction)
    scores = check_scores("scores", scores)
    r = check_int("r", r, what=" (the rank of the subspace)")
    k = kept_count(q, scores.size)
    if k < min_pairs_for_rank(r):
        raise _too_few(k, scores.size, r, f"keep_fraction q = {q:g}")
    mask = np.zeros(scores.size, dtype=bool)
    mask[np.argpartition(-scores, k - 1)[:k]] = True
    return mask
