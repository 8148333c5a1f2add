r"""Closed-form shapes of the paper's bounds and the moments of the score (brief §5–§6).

Constants hidden by :math:`\lesssim` are set to one: these functions give *shapes* to draw as
reference lines and to compare slopes with, not numerical predictions. The book's own
first-order predictions (with constants) live in separate modules.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_int, check_probability, check_snr

__all__ = [
    "snr_factor",
    "score_moments",
    "sample_size_condition",
    "corollary1_rate",
    "proposition1_rate",
    "theorem1_rate",
    "wedin_chain_bound",
]


def _check_n_eta(n: np.ndarray, eta: np.ndarray) -> None:
    # Written as "not all valid" so that NaN entries are rejected too.
    if not (np.all(n > 0) and np.all(eta > 0) and np.all(eta <= 1)):
        raise ValueError(f"n must be positive and eta in (0, 1]; got n = {n}, eta = {eta}")


def snr_factor(gamma: float, gamma_t: float) -> float:
    r""":math:`(1+\gamma^{-1})(1+\tilde\gamma^{-1})`."""
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
    return (1.0 + 1.0 / gamma) * (1.0 + 1.0 / gamma_t)


def score_moments(r: int, gamma: float, gamma_t: float, clean: bool) -> tuple[float, float]:
    r"""Mean and variance of the oracle score :math:`S=(z+U^\top\xi)^\top(\tilde z+\tilde U^\top\tilde\xi)`.

    Clean law :math:`D_1`: mean :math:`r`, variance :math:`r + r(1+\gamma^{-1})(1+\tilde\gamma^{-1})`.
    Corrupted law :math:`D_0`: mean 0, variance :math:`r(1+\gamma^{-1})(1+\tilde\gamma^{-1})`.
    """
    r = check_int("r", r)
    s = snr_factor(gamma, gamma_t)
    return (float(r), r + r * s) if clean else (0.0, r * s)


def sample_size_condition(d: int, d_t: int, gamma: float, gamma_t: float, eta: float) -> float:
    r"""The paper's sample-size scale :math:`\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/\eta^2`."""
    d, d_t = check_int("d", d), check_int("d_t", d_t)
    eta = check_probability("eta", eta)
    return max(d, d_t) * snr_factor(gamma, gamma_t) / eta**2


def corollary1_rate(n, eta, d: int, d_t: int, r: int, gamma: float, gamma_t: float):
    r"""Shape of Corollary 1 (reconstructed).

    :math:`\frac1\eta\sqrt{r\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}`.
    """
    n = np.asarray(n, dtype=float)
    eta = np.asarray(eta, dtype=float)
    _check_n_eta(n, eta)
    return np.sqrt(r * max(d, d_t) * snr_factor(gamma, gamma_t) / n) / eta


def proposition1_rate(n, eta, d: int, d_t: int, gamma: float, gamma_t: float):
    r"""Shape of Proposition 1's lower bound (reconstructed).

    :math:`\frac1\eta\sqrt{\max\{d\gamma^{-1},\tilde d\tilde\gamma^{-1}\}/n}`.
    """
    n = np.asarray(n, dtype=float)
    eta = np.asarray(eta, dtype=float)
    _check_n_eta(n, eta)
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
    return np.sqrt(max(d / gamma, d_t / gamma_t) / n) / eta


def theorem1_rate(n, eta, d: int, d_t: int, r: int, gamma: float, gamma_t: float):
    r"""Shape of Theorem 1 (reconstructed).

    :math:`\min\{\eta^{-1/2}, r\}\sqrt{r\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}`.

    The two regimes cross at :math:`\eta = 1/r^2`.
    """
    n = np.asarray(n, dtype=float)
    eta = np.asarray(eta, dtype=float)
    _check_n_eta(n, eta)
    base = np.sqrt(r * max(d, d_t) * snr_factor(gamma, gamma_t) / n)
    return np.minimum(1.0 / np.sqrt(eta), float(r)) * base


def wedin_chain_bound(delta, eta, r: int):
    r"""Corollary 1's proof chain with a given perturbation size.

    With :math:`\Delta = \|S_n - \eta U\tilde U^\top\|_2`, Weyl and Wedin give
    :math:`\mathrm{ERR} \le \sqrt r\,\Delta/(\eta - \Delta)` when :math:`\Delta < \eta`
    (``inf`` otherwise); under :math:`\Delta \le \eta/2` this is at most
    :math:`2\sqrt r\,\Delta/\eta`.

    Parameters
    ----------
    delta : array_like
        :math:`\Delta \ge 0`.
    eta : array_like
        Clean fraction :math:`\eta \in (0, 1]` (the gap :math:`\sigma_r(\eta U\tilde U^\top)`).
    r : int
        Rank :math:`r`.
    """
    r = check_int("r", r)
    delta = np.asarray(delta, dtype=float)
    eta = np.asarray(eta, dtype=float)
    if np.any(delta < 0) or np.any(eta <= 0) or np.any(eta > 1):
        raise ValueError("delta must be >= 0 and eta in (0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(delta < eta, math.sqrt(r) * delta / (eta - delta), np.inf)
    return out if out.ndim else float(out)
