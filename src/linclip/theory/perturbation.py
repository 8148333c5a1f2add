r"""Matrix perturbation tools: Weyl's inequality and Wedin's :math:`\sin\Theta` theorem.

The unfiltered analysis of the paper (Corollary 1) perturbs the population cross-covariance
:math:`A = \eta U\tilde U^\top` by :math:`E = S_n - A` and asks how far the top-:math:`r`
singular subspaces move. Two classical results answer it:

* **Weyl** (1912): :math:`|\sigma_i(A+E) - \sigma_i(A)| \le \|E\|_2` for
  every :math:`i`.
* **Wedin** (1972), in the form proved in the book: with
  :math:`\hat A = A + E`,

  .. math:: \max\{\|\sin\Theta(\hat P_r, P_r)\|_F, \|\sin\Theta(\hat Q_r, Q_r)\|_F\}
            \le \frac{\max\{\|P_\perp^\top E \hat Q_r\|_F, \|Q_\perp^\top E^\top \hat P_r\|_F\}}
                     {\sigma_r(\hat A) - \sigma_{r+1}(A)}
            \le \frac{\min\{\sqrt r\,\|E\|_2, \|E\|_F\}}{\sigma_r(A) - \sigma_{r+1}(A) - \|E\|_2},

  where :math:`P_r, Q_r` (:math:`\hat P_r, \hat Q_r`) span the top-:math:`r` left and right
  singular subspaces of :math:`A` (of :math:`\hat A`) and :math:`P_\perp, Q_\perp` their full
  orthogonal complements. The first (residual, *a posteriori*) form uses the realised
  :math:`\hat A`; the second (*a priori*) form needs only :math:`\|E\|` and the gap of
  :math:`A`, which is what a concentration inequality delivers.

Every function here returns the bound *and* the realised quantity, so a notebook can show how
tight a bound is on random instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validate import check_finite_array, check_int, check_positive

__all__ = [
    "top_singular_subspaces",
    "WeylCheck",
    "weyl_check",
    "WedinCheck",
    "wedin_bound",
    "random_weyl_checks",
    "random_wedin_checks",
]

#: Relative tolerance used by the ``holds`` properties (floating-point round-off only).
RTOL = 1e-10


def _check_range(name: str, bounds) -> tuple[float, float]:
    """Validate an increasing pair of positive numbers ``(lo, hi)``."""
    lo = check_positive(f"{name}[0]", bounds[0])
    hi = check_positive(f"{name}[1]", bounds[1])
    if lo > hi:
        raise ValueError(f"{name} must be increasing; got {bounds}")
    return lo, hi


def _check_pair(A: object, E: object) -> tuple[np.ndarray, np.ndarray]:
    A = check_finite_array("A", A, ndim=2)
    E = check_finite_array("E", E, ndim=2)
    if A.shape != E.shape:
        raise ValueError(f"A and E must have the same shape; got {A.shape} and {E.shape}")
    return A, E


def top_singular_subspaces(
    A: np.ndarray, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Full SVD of ``A`` split into the top-:math:`r` part and its complement.

    Parameters
    ----------
    A : ndarray, shape (p, q)
        The matrix (:math:`S_n` or :math:`\eta U\tilde U^\top` in the book).
    r : int
        Number of leading singular directions, ``1 <= r <= min(p, q)``.

    Returns
    -------
    P_r, P_perp : ndarray, shapes (p, r) and (p, p - r)
        Top-:math:`r` left singular vectors and an orthonormal basis of their complement.
    Q_r, Q_perp : ndarray, shapes (q, r) and (q, q - r)
        The same for the right singular vectors.
    sigma : ndarray, shape (min(p, q),)
        All singular values, descending.
    """
    A = check_finite_array("A", A, ndim=2)
    r = check_int(
        "r", r, maximum=min(A.shape), what=f" with 1 <= r <= min(A.shape) = {min(A.shape)}"
    )
    P, sigma, Qt = np.linalg.svd(A, full_matrices=True)
    Q = Qt.T
    return P[:, :r], P[:, r:], Q[:, :r], Q[:, r:], sigma


# ---------------------------------------------------------------------------------- Weyl
@dataclass(frozen=True)
class WeylCheck:
    r"""Weyl's inequality on one instance.

    Attributes
    ----------
    shifts : ndarray
        :math:`|\sigma_i(A+E) - \sigma_i(A)|` for :math:`i = 1, \dots, \min(p, q)`.
    bound : float
        :math:`\|E\|_2`, Weyl's bound on every shift.
    """

    shifts: np.ndarray
    bound: float

    @property
    def max_shift(self) -> float:
        r""":math:`\max_i |\sigma_i(A+E) - \sigma_i(A)|`."""
        return float(np.max(self.shifts))

    @property
    def ratio(self) -> float:
        """Tightness ``max_shift / bound`` in [0, 1] (1: Weyl is attained; NaN if E = 0)."""
        return self.max_shift / self.bound if self.bound > 0 else math.nan

    @property
    def holds(self) -> bool:
        """Whether every shift is at most the bound (up to round-off)."""
        slack = RTOL * max(self.bound, float(np.max(self.shifts, initial=0.0)), 1e-300)
        return bool(np.all(self.shifts <= self.bound + slack + 1e-14))


def weyl_check(A: np.ndarray, E: np.ndarray) -> WeylCheck:
    r"""Compare the singular-value shifts of :math:`A + E` with :math:`\|E\|_2`.

    Parameters
    ----------
    A : ndarray, shape (p, q)
        Unperturbed matrix (e.g. :math:`\eta U\tilde U^\top`).
    E : ndarray, shape (p, q)
        Perturbation (e.g. :math:`S_n - \eta U\tilde U^\top`).
    """
    A, E = _check_pair(A, E)
    s = np.linalg.svd(A, compute_uv=False)
    s_hat = np.linalg.svd(A + E, compute_uv=False)
    return WeylCheck(shifts=np.abs(s_hat - s), bound=float(np.linalg.norm(E, 2)))


# --------------------------------------------------------------------------------- Wedin
@dataclass(frozen=True)
class WedinCheck:
    r"""Wedin's :math:`\sin\Theta` theorem on one instance: realised angles and both bounds.

    Attributes
    ----------
    r : int
        Rank :math:`r` of the compared subspaces.
    sin_theta_left : float
        :math:`\|\sin\Theta(\hat P_r, P_r)\|_F = \|P_\perp^\top\hat P_r\|_F` (left singular
        subspaces; for :math:`A = \eta U\tilde U^\top`, :math:`\hat A = S_n` this is the
        :math:`U` side of ERR).
    sin_theta_right : float
        :math:`\|\sin\Theta(\hat Q_r, Q_r)\|_F` (right subspaces, the :math:`\tilde U` side).
    E_norm : float
        :math:`\|E\|_2`.
    E_frob : float
        :math:`\|E\|_F`.
    sigma_r : float
        :math:`\sigma_r(A)`.
    sigma_r1 : float
        :math:`\sigma_{r+1}(A)` (0 when :math:`r = \min(p, q)`).
    sigma_r_hat : float
        :math:`\sigma_r(A + E)`.
    residual : float
        :math:`\max\{\|P_\perp^\top E\hat Q_r\|_F, \|Q_\perp^\top E^\top\hat P_r\|_F\}`, the
        part of :math:`E` that rotates the subspaces.
    """

    r: int
    sin_theta_left: float
    sin_theta_right: float
    E_norm: float
    E_frob: float
    sigma_r: float
    sigma_r1: float
    sigma_r_hat: float
    residual: float

    @property
    def sin_theta(self) -> float:
        r""":math:`\max` of the two sides.

        With :math:`A = \eta U\tilde U^\top` this is the book's reading of the paper's ERR (the
        maximum over the two modalities; brief §3).
        """
        return max(self.sin_theta_left, self.sin_theta_right)

    @property
    def gap(self) -> float:
        r""":math:`\delta = \sigma_r(A) - \sigma_{r+1}(A)`."""
        return self.sigma_r - self.sigma_r1

    @property
    def residual_bound(self) -> float:
        r"""A posteriori form: ``residual`` / :math:`(\sigma_r(\hat A) - \sigma_{r+1}(A))` (inf if
        the denominator is not positive).
        """
        den = self.sigma_r_hat - self.sigma_r1
        return self.residual / den if den > 0 else math.inf

    @property
    def bound(self) -> float:
        r"""A priori form: :math:`\min\{\sqrt r\|E\|_2, \|E\|_F\}/(\delta - \|E\|_2)` (inf unless
        :math:`\|E\|_2 < \delta`).
        """
        den = self.gap - self.E_norm
        num = min(math.sqrt(self.r) * self.E_norm, self.E_frob)
        return num / den if den > 0 else math.inf

    @property
    def ratio(self) -> float:
        """Tightness ``sin_theta / bound`` of the a priori form (0 when the bound is vacuous)."""
        return self.sin_theta / self.bound if math.isfinite(self.bound) and self.bound > 0 else 0.0

    @property
    def holds(self) -> bool:
        """``sin_theta <= residual_bound <= bound`` up to round-off."""
        tol = RTOL * max(self.sin_theta, 1e-300) + 1e-14
        return bool(
            self.sin_theta <= self.residual_bound + tol
            and self.residual_bound <= self.bound * (1 + RTOL) + 1e-14
        )


def wedin_bound(A: np.ndarray, E: np.ndarray, r: int) -> WedinCheck:
    r"""Realised :math:`\|\sin\Theta\|_F` between the top-:math:`r` singular subspaces of
    :math:`A` and :math:`A + E`, with Wedin's residual and a priori bounds.

    Parameters
    ----------
    A : ndarray, shape (p, q)
        Unperturbed matrix; in the book :math:`A = \eta U\tilde U^\top`, whose top-:math:`r`
        subspaces are :math:`U, \tilde U` and whose gap is :math:`\sigma_r(A) = \eta`.
    E : ndarray, shape (p, q)
        Perturbation; in the book :math:`E = S_n - \eta U\tilde U^\top`.
    r : int
        Rank :math:`r`, ``1 <= r <= min(p, q)``.

    Returns
    -------
    WedinCheck
        ``.sin_theta`` (realised), ``.residual_bound``, ``.bound`` and ``.holds``.

    Notes
    -----
    If :math:`\sigma_r(A) = \sigma_{r+1}(A)` the top-:math:`r` subspace of :math:`A` is not
    unique; the bounds are then infinite and ``sin_theta`` refers to the subspace the SVD
    happened to return.
    """
    A, E = _check_pair(A, E)
    P_r, P_perp, Q_r, Q_perp, sigma = top_singular_subspaces(A, r)
    A_hat = A + E
    Ph_r, _, Qh_r, _, sigma_hat = top_singular_subspaces(A_hat, r)
    residual = max(
        float(np.linalg.norm(P_perp.T @ E @ Qh_r)), float(np.linalg.norm(Q_perp.T @ E.T @ Ph_r))
    )
    return WedinCheck(
        r=r,
        sin_theta_left=float(np.linalg.norm(P_perp.T @ Ph_r)),
        sin_theta_right=float(np.linalg.norm(Q_perp.T @ Qh_r)),
        E_norm=float(np.linalg.norm(E, 2)),
        E_frob=float(np.linalg.norm(E)),
        sigma_r=float(sigma[r - 1]),
        sigma_r1=float(sigma[r]) if r < sigma.size else 0.0,
        sigma_r_hat=float(sigma_hat[r - 1]),
        residual=residual,
    )


# ------------------------------------------------------------------------ random instances
def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def random_weyl_checks(
    n_instances: int,
    p: int,
    q: int,
    rng: np.random.Generator | int,
    kind: str = "gaussian",
    scale_range: tuple[float, float] = (1e-3, 10.0),
) -> pd.DataFrame:
    r"""Weyl's inequality on many random instances.

    :math:`A` has i.i.d. :math:`N(0,1)` entries. The perturbation :math:`E` has spectral norm
    :math:`\varepsilon` drawn log-uniformly from ``scale_range`` and is either a dense Gaussian
    matrix (``kind="gaussian"``) or a random rank-one matrix (``kind="rank1"``).

    Parameters
    ----------
    n_instances : int
        Number of random :math:`(A, E)` pairs.
    p, q : int
        Shape of :math:`A` and :math:`E`.
    rng : Generator or int
        Random generator or seed.
    kind : {"gaussian", "rank1"}
        Type of perturbation.
    scale_range : (float, float)
        Range of :math:`\|E\|_2`.

    Returns
    -------
    pandas.DataFrame
        One row per instance: ``A_norm`` (:math:`\|A\|_2`), ``E_norm``, ``max_shift``,
        ``ratio``, ``holds``.
    """
    n_instances = check_int("n_instances", n_instances)
    p, q = check_int("p", p), check_int("q", q)
    if kind not in ("gaussian", "rank1"):
        raise ValueError(f"kind must be 'gaussian' or 'rank1'; got {kind!r}")
    lo, hi = _check_range("scale_range", scale_range)
    rng = np.random.default_rng(rng)
    rows = []
    for _ in range(n_instances):
        A = rng.standard_normal((p, q))
        if kind == "gaussian":
            E = rng.standard_normal((p, q))
        else:
            E = np.outer(rng.standard_normal(p), rng.standard_normal(q))
        E *= _log_uniform(rng, lo, hi) / np.linalg.norm(E, 2)
        chk = weyl_check(A, E)
        rows.append(
            dict(
                A_norm=float(np.linalg.norm(A, 2)),
                E_norm=chk.bound,
                max_shift=chk.max_shift,
                ratio=chk.ratio,
                holds=chk.holds,
            )
        )
    return pd.DataFrame(rows)


def random_wedin_checks(
    n_instances: int,
    p: int,
    q: int,
    r: int,
    rng: np.random.Generator | int,
    tail: float = 0.3,
    level_range: tuple[float, float] = (1e-3, 0.99),
) -> pd.DataFrame:
    r"""Wedin's theorem on many random instances with a controlled gap.

    :math:`A = P\,\mathrm{diag}(\sigma)\,Q^\top` with Haar-random :math:`P, Q`, the top
    :math:`r` singular values uniform on :math:`[1, 3]` and the others uniform on
    :math:`[0, \text{tail}]`, so the gap is :math:`\delta = \sigma_r - \sigma_{r+1} \ge 1 -
    \text{tail}`. The perturbation is a dense Gaussian matrix rescaled to
    :math:`\|E\|_2 = t\,\delta` with the *level* :math:`t` log-uniform on ``level_range``.

    Parameters
    ----------
    n_instances : int
        Number of instances.
    p, q, r : int
        Shape of :math:`A` and rank of the compared subspaces, ``r < min(p, q)``.
    rng : Generator or int
        Random generator or seed.
    tail : float
        Upper end of the non-leading singular values, in [0, 1).
    level_range : (float, float)
        Range of :math:`t = \|E\|_2/\delta`; keep it below 1 for a finite a priori bound.

    Returns
    -------
    pandas.DataFrame
        One row per instance: ``level``, ``gap``, ``E_norm``, ``sin_theta``,
        ``residual_bound``, ``bound``, ``ratio``, ``holds``.
    """
    n_instances = check_int("n_instances", n_instances)
    p, q = check_int("p", p), check_int("q", q)
    r = check_int("r", r, maximum=min(p, q) - 1, what=" with 1 <= r < min(p, q)")
    if not 0.0 <= float(tail) < 1.0:
        raise ValueError(f"tail must lie in [0, 1); got {tail}")
    lo, hi = _check_range("level_range", level_range)
    rng = np.random.default_rng(rng)
    k = min(p, q)
    rows = []
    for _ in range(n_instances):
        P = np.linalg.qr(rng.standard_normal((p, p)))[0]
        Q = np.linalg.qr(rng.standard_normal((q, q)))[0]
        sigma = np.concatenate(
            [np.sort(rng.uniform(1.0, 3.0, r))[::-1], np.sort(rng.uniform(0.0, tail, k - r))[::-1]]
        )
        A = P[:, :k] @ np.diag(sigma) @ Q[:, :k].T
        level = _log_uniform(rng, lo, hi)
        E = rng.standard_normal((p, q))
        E *= level * (sigma[r - 1] - sigma[r]) / np.linalg.norm(E, 2)
        chk = wedin_bound(A, E, r)
        rows.append(
            dict(
                level=level,
                gap=chk.gap,
                E_norm=chk.E_norm,
                sin_theta=chk.sin_theta,
                residual_bound=chk.residual_bound,
                bound=chk.bound,
                ratio=chk.ratio,
                holds=chk.holds,
            )
        )
    return pd.DataFrame(rows)
