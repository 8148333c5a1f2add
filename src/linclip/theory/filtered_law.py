r"""Tail quantities of the mixture after a score threshold: kept moments, thresholds.

The law of one component is :class:`linclip.theory.score_law.ScoreLaw`; this module combines the
clean and corrupted laws for a clean fraction :math:`\eta` (brief §5; our derivation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .._validate import check_finite_array, check_fraction, check_int, check_probability
from .score_law import _as_float_or_array, _laws

__all__ = [
    "KeptMoments",
    "mixture_tail",
    "kept_moments",
    "cross_moment",
    "kept_clean_fraction",
    "threshold_for_fraction",
    "rate_factor_crossing",
]


@dataclass(frozen=True)
class KeptMoments:
    r"""Population quantities of the pairs an oracle-score filter keeps (:math:`S > \theta`).

    Attributes are floats, or arrays with the broadcast shape of :math:`\theta` and
    :math:`\eta`.

    Attributes
    ----------
    theta, eta : float or ndarray
        Threshold :math:`\theta` (oracle units) and clean fraction :math:`\eta`.
    r : int
        Rank :math:`r`.
    tail_clean, tail_corrupted : float or ndarray
        :math:`P_1(\theta)` and :math:`P_0(\theta)`.
    mean_clean, mean_corrupted : float or ndarray
        :math:`E_1(\theta)` and :math:`E_0(\theta)` (NaN where the tail underflows).
    kept_fraction : float or ndarray
        :math:`P(\theta) = \eta P_1 + (1-\eta)P_0`, the expected kept fraction :math:`q`.
    kept_clean_fraction : float or ndarray
        :math:`\eta P_1/P`, the expected fraction of clean pairs among the kept ones.
    cross_moment : float or ndarray
        :math:`s(\theta) = (\eta P_1E_1 + (1-\eta)P_0E_0)/(rP) = E[u_iv_i \mid S>\theta]`,
        so that :math:`E[x\tilde x^\top\mid S>\theta] = s(\theta)U\tilde U^\top`.
    second_moment_u, second_moment_v : float or ndarray
        :math:`m_u(\theta) = E[u_i^2 \mid S>\theta]` and :math:`m_v(\theta) = E[v_i^2\mid S>\theta]`
        for one signal coordinate, :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x`
        (mixture-weighted). Noise coordinates :math:`U_\perp^\top x` keep variance
        :math:`\gamma^{-1}` and stay independent of the filter.
    """

    theta: float | np.ndarray
    eta: float | np.ndarray
    r: int
    tail_clean: float | np.ndarray
    tail_corrupted: float | np.ndarray
    mean_clean: float | np.ndarray
    mean_corrupted: float | np.ndarray
    kept_fraction: float | np.ndarray
    kept_clean_fraction: float | np.ndarray
    cross_moment: float | np.ndarray
    second_moment_u: float | np.ndarray
    second_moment_v: float | np.ndarray

    @property
    def rate_factor(self) -> float | np.ndarray:
        r""":math:`T(\theta) = 1/(s(\theta)\sqrt{P(\theta)})`, the :math:`\eta`- and
        :math:`\theta`-dependent factor of the filtered rate in the proof idea of Theorem 1
        (equal to :math:`1/\eta` without filtering). A proxy, not a prediction with constants.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return _as_float_or_array(
                1.0 / (np.asarray(self.cross_moment) * np.sqrt(np.asarray(self.kept_fraction)))
            )


def _eta_array(eta) -> np.ndarray:
    eta = np.asarray(eta, dtype=float)
    for value in eta.ravel():
        check_probability("eta (clean fraction)", float(value))
    return eta


def kept_moments(theta, eta, r: int, gamma: float = 1e4, gamma_t: float = 1e4) -> KeptMoments:
    r"""Tail quantities of the score mixture at thresholds :math:`\theta` and clean fractions :math:`\eta`.

    Parameters
    ----------
    theta : float or array_like
        Thresholds :math:`\theta` in oracle units (keep :math:`S > \theta`).
    eta : float or array_like
        Clean fractions :math:`\eta \in (0, 1]`; broadcast against ``theta``.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma` (``inf`` allowed).

    Returns
    -------
    KeptMoments

    Notes
    -----
    The component integrals depend on :math:`\theta` only, so a whole grid of :math:`\eta`
    values costs no more than one.
    """
    theta = check_finite_array("theta", theta)
    eta = _eta_array(eta)
    clean, corrupted = _laws(r, gamma, gamma_t)
    m1, m0 = clean.tail_moments(theta), corrupted.tail_moments(theta)
    th, et = np.broadcast_arrays(theta, eta)
    p1, p0 = np.broadcast_to(m1.prob, th.shape), np.broadcast_to(m0.prob, th.shape)
    w1, w0 = et * p1, (1.0 - et) * p0
    kept = w1 + w0
    part = {}
    for name in ("partial_score", "partial_u2", "partial_v2"):
        part[name] = et * np.asarray(getattr(m1, name)) + (1.0 - et) * np.asarray(
            getattr(m0, name)
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = kept > 0
        frac = np.where(ok, w1 / kept, np.nan)
        s = np.where(ok, part["partial_score"] / (clean.r * kept), np.nan)
        m_u = np.where(ok, part["partial_u2"] / kept, np.nan)
        m_v = np.where(ok, part["partial_v2"] / kept, np.nan)
    f = _as_float_or_array
    return KeptMoments(
        theta=f(th),
        eta=f(et),
        r=clean.r,
        tail_clean=f(p1),
        tail_corrupted=f(p0),
        mean_clean=f(np.broadcast_to(m1.conditional_mean, th.shape)),
        mean_corrupted=f(np.broadcast_to(m0.conditional_mean, th.shape)),
        kept_fraction=f(kept),
        kept_clean_fraction=f(frac),
        cross_moment=f(s),
        second_moment_u=f(m_u),
        second_moment_v=f(m_v),
    )


def mixture_tail(theta, eta, r: int, gamma: float = 1e4, gamma_t: float = 1e4):
    r""":math:`P(\theta) = \eta P_1(\theta) + (1-\eta)P_0(\theta)`, the expected kept fraction."""
    return kept_moments(theta, eta, r, gamma, gamma_t).kept_fraction


def cross_moment(theta, eta, r: int, gamma: float = 1e4, gamma_t: float = 1e4):
    r""":math:`s(\theta) = (\eta P_1E_1 + (1-\eta)P_0E_0)/(rP)` (see :class:`KeptMoments`)."""
    return kept_moments(theta, eta, r, gamma, gamma_t).cross_moment


def kept_clean_fraction(theta, eta, r: int, gamma: float = 1e4, gamma_t: float = 1e4):
    r""":math:`\eta P_1(\theta)/P(\theta)`: the expected clean fraction among kept pairs."""
    return kept_moments(theta, eta, r, gamma, gamma_t).kept_clean_fraction


def threshold_for_fraction(
    q, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> float | np.ndarray:
    r"""The threshold :math:`\theta` with :math:`P(\theta) = q` (the inverse of :func:`mixture_tail`).

    Parameters
    ----------
    q : float or array_like
        Kept fractions in :math:`(0, 1]`; :math:`q = 1` returns :math:`-\infty` (keep all).
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    """
    eta = check_probability("eta (clean fraction)", eta)
    qs = np.asarray(q, dtype=float)
    for value in qs.ravel():
        check_fraction("q (kept fraction)", float(value))
    clean, corrupted = _laws(r, gamma, gamma_t)

    def kept(theta: float) -> float:
        return eta * clean._tail_scalar(theta)[0] + (1.0 - eta) * corrupted._tail_scalar(theta)[0]

    scale = math.sqrt(clean.variance)
    out = []
    for value in qs.ravel():
        if value == 1.0:
            out.append(-math.inf)
            continue
        lo, hi = clean.mean - 8.0 * scale, clean.mean + 8.0 * scale
        while kept(lo) < value:
            lo -= 8.0 * scale
        while kept(hi) > value:
            hi += 8.0 * scale
        out.append(
            optimize.brentq(
                lambda t, value=value: kept(t) - value, lo, hi, xtol=1e-12 * scale, rtol=1e-12
            )
        )
    return _as_float_or_array(np.array(out).reshape(qs.shape))


def rate_factor_crossing(
    r: int,
    theta_low: float = 0.0,
    theta_high: float | None = None,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    eta_min: float = 1e-12,
) -> float:
    r"""The clean fraction :math:`\eta^*` where two thresholds have equal rate factors :math:`T(\theta)`.

    Solves :math:`T(\theta_{low};\eta) = T(\theta_{high};\eta)` with
    :math:`T = 1/(s\sqrt P)` (:attr:`KeptMoments.rate_factor`). With the defaults
    :math:`\theta_{low} = 0` and :math:`\theta_{high} = r/2` this is where the two regimes of
    Theorem 1 (:math:`T_0` and :math:`T_{0.5}`) meet.

    Parameters
    ----------
    r : int
        Rank :math:`r`.
    theta_low, theta_high : float
        The two thresholds (oracle units); ``theta_high`` defaults to :math:`r/2`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    eta_min : float
        Smallest :math:`\eta` searched.

    Returns
    -------
    float
        The largest :math:`\eta^* \in [\eta_{min}, 1]` where the two rate factors are equal, or
        NaN when one threshold has the smaller rate factor on the whole range (no crossing).

    Notes
    -----
    The component tail integrals do not depend on :math:`\eta`, so they are computed once and
    the root is found on the closed-form mixture.
    """
    r = check_int("r", r)
    theta_high = r / 2.0 if theta_high is None else theta_high
    thetas = check_finite_array("theta", [theta_low, theta_high])
    eta_min = check_probability("eta_min", eta_min)
    clean, corrupted = _laws(r, gamma, gamma_t)
    m1, m0 = clean.tail_moments(thetas), corrupted.tail_moments(thetas)

    def log_ratio(log_eta: float) -> float:
        eta = math.exp(log_eta)
        kept = eta * m1.prob + (1.0 - eta) * m0.prob
        s = (eta * m1.partial_score + (1.0 - eta) * m0.partial_score) / (r * kept)
        t = 1.0 / (s * np.sqrt(kept))
        return float(np.log(t[0]) - np.log(t[1]))

    grid = np.linspace(math.log(eta_min), 0.0, 121)
    values = np.array([log_ratio(g) for g in grid])
    change = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    if change.size == 0:
        return math.nan
    i = int(change[-1])
    return math.exp(optimize.brentq(log_ratio, grid[i], grid[i + 1], xtol=1e-12))
