r"""First-order theory of iterated self-filtering and of soft weighting (our derivation).

**Iteration.** In signal coordinates a student's error is its *tilt* :math:`H` (the
:math:`(d-r)\times r` block that turns :math:`U` towards :math:`U_\perp`;
:math:`\|\sin\Theta_U\|_F \approx \|H\|_F`). :mod:`linclip.theory.prediction` shows that a student
filtered by a teacher of tilt :math:`H_T` has, at first order,

.. math:: H = Z_K/s + \ell H_T,\qquad \ell = \gamma^{-1}g_v(\theta)/s(\theta),

where :math:`Z_K` is the noise-signal cross moment of the oracle's kept set. Self-filtering
iterates this map: :math:`H_k = Z_k/s + \ell H_{k-1}` with :math:`H_0` the unfiltered teacher
(full-sample teacher, :math:`n` pairs). With :math:`a_K = E\|Z_K/s\|^2`,
:math:`a_T = E\|H_0\|^2` and :math:`c = E\langle Z_K/s, H_0\rangle` (the same pairs):

* **same data** — :math:`Z_k = Z_K` in every round, so
  :math:`H_k = \frac{1-\ell^k}{1-\ell}Z_K/s + \ell^kH_0` and
  :math:`E\|H_k\|^2 \to a_K/(1-\ell)^2`;
* **fresh data** — :math:`Z_k` independent of :math:`H_{k-1}` for :math:`k \ge 2`, so
  :math:`E\|H_k\|^2 = a_K + \ell^2E\|H_{k-1}\|^2 \to a_K/(1-\ell^2)`.

Both converge geometrically (rate :math:`\ell`, resp. :math:`\ell^2`); the same data settle
*higher* than fresh data by the factor :math:`(1+\ell)/(1-\ell)` in mean square. What this
leaves out: the teacher's error *inside* the signal block
(:func:`linclip.theory.prediction.teacher_distortion`), a second-order effect that changes which
pairs are kept; it is what makes a poor first teacher (small :math:`\eta n`) improve over rounds.

**Soft weighting.** With weights :math:`w(S)` on the pairs (oracle score, first order),
:math:`E\|\sin\Theta_U\|_F^2 \approx r(d-r)\gamma^{-1}E[w^2v_i^2]/(n\,E[w\,u_iv_i]^2)`; the hard
filter is :math:`w = 1\{S>\theta\}`. By Cauchy–Schwarz (pointwise KKT for :math:`w \ge 0`) the best
non-negative weight is :math:`w_+^*(S) \propto \max\{S,0\}/E[v_i^2\mid S]` (using
:math:`E[u_iv_i\mid S] = S/r`), with the factor
:math:`F_+^{*2} = 1/\big((1+\tilde\gamma^{-1})\,E[\max\{S,0\}^2/(r^2E[v_i^2\mid S])]\big)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validate import check_int, check_positive, check_probability
from .asymptotics import ChiLaw, expected_max
from .prediction import predict_filtered
from .score_law import sample_signal_coordinates

__all__ = [
    "RoundPrediction",
    "tilt_mean_sq",
    "predict_rounds",
    "WeightedPrediction",
    "predict_weighted",
    "optimal_weight_factor",
]


def tilt_mean_sq(k: int, a_K: float, a_T: float, c: float, lam: float, fresh: bool) -> float:
    r""":math:`E\|H_k\|^2` of round :math:`k \ge 1` of the first-order recursion (module docstring).

    Parameters
    ----------
    k : int
        Round :math:`k \ge 1`.
    a_K, a_T, c : float
        :math:`E\|Z_K/s\|^2`, :math:`E\|H_0\|^2` and :math:`E\langle Z_K/s, H_0\rangle`.
    lam : float
        Inheritance :math:`\ell \in [0, 1)`.
    fresh : bool
        Fresh data in rounds :math:`k \ge 2` (else the same data).
    """
    k = check_int("k (round)", k, minimum=1)
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"lam (the inheritance ell) must lie in [0, 1); got {lam}")
    first = a_K + 2.0 * lam * c + lam**2 * a_T
    if fresh:
        value = first
        for _ in range(k - 1):
            value = a_K + lam**2 * value
        return value
    ck = (1.0 - lam**k) / (1.0 - lam)
    return ck**2 * a_K + 2.0 * ck * lam**k * c + lam ** (2 * k) * a_T


@dataclass(frozen=True)
class RoundPrediction:
    r"""First-order prediction of round :math:`k` of self-filtering (full-sample start).

    Attributes
    ----------
    round : int
        :math:`k` (:math:`k = \infty` is the fixed point, given as ``0``).
    fresh : bool
        Fresh data in rounds :math:`k \ge 2`.
    err_x_sq, err_xt_sq : float
        :math:`E\|\sin\Theta_U\|_F^2`, :math:`E\|\sin\Theta_{\tilde U}\|_F^2`.
    err : float
        :math:`E[\mathrm{ERR}]` (the larger side, independent :math:`\chi` laws).
    lam_x, lam_xt : float
        The inheritances :math:`\ell_x, \ell_{\tilde x}`.
    """

    round: int
    fresh: bool
    err_x_sq: float
    err_xt_sq: float
    err: float
    lam_x: float
    lam_xt: float


def predict_rounds(
    n: int,
    eta: float,
    d: int,
    d_t: int,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    rounds: int = 5,
    *,
    theta: float | None = None,
    keep_fraction: float | None = None,
    fresh: bool = False,
) -> list[RoundPrediction]:
    r"""First-order :math:`E[\mathrm{ERR}]` of rounds :math:`1..K` and of the fixed point.

    For self-filtering that starts with the full-sample teacher (``start="teacher"`` of
    :func:`linclip.filters.iterate.iterate_filter`), every round filtering :math:`n` pairs with
    the same knob. The moments come from
    :func:`linclip.theory.prediction.predict_filtered` (``method="teacher"``); round 1 equals its
    prediction. Returns :math:`K + 1` predictions: rounds :math:`1..K`, then the fixed point
    (``round = 0``).
    """
    rounds = check_int("rounds (K)", rounds, minimum=1)
    if not isinstance(fresh, (bool, np.bool_)):
        raise ValueError(f"fresh must be True or False; got {fresh!r}")
    p = predict_filtered(
        n,
        eta,
        d,
        d_t,
        r,
        gamma,
        gamma_t,
        theta=theta,
        keep_fraction=keep_fraction,
        method="teacher",
    )
    s, m_u, m_v, n_k = p.cross_moment, p.second_moment_u, p.second_moment_v, p.n_kept
    a, b = 1.0 + 1.0 / p.gamma, 1.0 + 1.0 / p.gamma_t
    out = []
    sides = (
        (r * (d - r), 1.0 / p.gamma, m_v, b, p.inheritance_x),
        (r * (d_t - r), 1.0 / p.gamma_t, m_u, a, p.inheritance_xt),
    )
    for k in [*range(1, rounds + 1), 0]:
        laws, sq = [], []
        for dof, nv, m, partner, lam in sides:
            a_K = dof * nv * m / (s**2 * (n_k - 1.0))
            a_T = dof * nv * partner / (eta**2 * (n - 1.0))
            c = dof * nv * m / (s * eta * (n - 1.0))
            if k == 0:
                value = a_K / ((1.0 - lam**2) if fresh else (1.0 - lam) ** 2)
            else:
                value = tilt_mean_sq(k, a_K, a_T, c, lam, bool(fresh))
            sq.append(value)
            laws.append(ChiLaw(dof, value / dof if dof else 0.0))
        out.append(
            RoundPrediction(
                k,
                bool(fresh),
                sq[0],
                sq[1],
                expected_max(laws[0], laws[1]),
                p.inheritance_x,
                p.inheritance_xt,
            )
        )
    return out


@dataclass(frozen=True)
class WeightedPrediction:
    r"""First-order prediction of a soft-weighted single fit (oracle score, Monte Carlo moments).

    Attributes
    ----------
    factor : float
        :math:`F_w = \sqrt{E[w^2v_i^2]/(1+\tilde\gamma^{-1})}/E[w\,u_iv_i]` (:math:`1/\eta`
        unweighted; the hard filter's :func:`~linclip.theory.thresholds.first_order_factor`).
    err : float
        :math:`E[\mathrm{ERR}]` on :math:`n` pairs.
    effective_fraction : float
        :math:`E[w]^2/E[w^2]`, the effective sample size over :math:`n`.
    """

    factor: float
    err: float
    effective_fraction: float


def _check_model(eta, r, gamma, gamma_t, samples):
    return (
        check_probability("eta (clean fraction)", eta),
        check_int("r", r),
        check_positive("gamma", gamma, allow_inf=True),
        check_positive("gamma_t", gamma_t, allow_inf=True),
        check_int("samples", samples, minimum=1000),
    )


def predict_weighted(
    weight: Callable[[np.ndarray], np.ndarray],
    n: int,
    eta: float,
    d: int,
    d_t: int,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    samples: int = 400_000,
    seed: int = 0,
) -> WeightedPrediction:
    r"""First-order error of the student fitted with weights :math:`w(S)` of the oracle score.

    :math:`E\|\sin\Theta_U\|_F^2 \approx r(d-r)\gamma^{-1}E[w^2v_i^2]/(n\,E[w u_iv_i]^2)` and its
    mirror image, with the expectations over ``samples`` Monte Carlo draws of the signal
    coordinates (:func:`linclip.theory.score_law.sample_signal_coordinates`; seed ``seed``). A
    teacher's score adds the tilt correction of :mod:`linclip.theory.prediction`, negligible at
    high signal-to-noise ratio and left out here.

    Parameters
    ----------
    weight : callable
        :math:`w`: scores to non-negative weights (e.g. ``ScoreWeighting(...).weights``).
    n, eta, d, d_t, r, gamma, gamma_t
        The model and the number of pairs :math:`n`.
    samples : int
        Monte Carlo draws (at least 1000).
    seed : int
        Seed of the draws.
    """
    eta, r, gamma, gamma_t, samples = _check_model(eta, r, gamma, gamma_t, samples)
    n, d, d_t = check_int("n", n, minimum=2), check_int("d", d), check_int("d_t", d_t)
    sig = sample_signal_coordinates(samples, r, gamma, gamma_t, eta, seed)
    w = np.asarray(weight(sig.score), dtype=float)
    if w.shape != (samples,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weight must map the scores to finite non-negative weights, one each")
    cross = float(np.mean(w[:, None] * sig.u * sig.v))
    if not cross > 0:
        raise ValueError(f"the weighted signal E[w u v] = {cross:.3g} is not positive")
    w2v2 = float(np.mean(w[:, None] ** 2 * sig.v**2))
    w2u2 = float(np.mean(w[:, None] ** 2 * sig.u**2))
    b = 1.0 + 1.0 / gamma_t
    laws = (
        ChiLaw(r * (d - r), w2v2 / (gamma * n * cross**2)),
        ChiLaw(r * (d_t - r), w2u2 / (gamma_t * n * cross**2)),
    )
    mean_w = float(np.mean(w))
    return WeightedPrediction(
        factor=math.sqrt(w2v2 / b) / cross,
        err=expected_max(laws[0], laws[1]),
        effective_fraction=mean_w**2 / float(np.mean(w**2)),
    )


def optimal_weight_factor(
    eta: float,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    samples: int = 400_000,
    bins: int = 200,
    seed: int = 0,
) -> float:
    r"""The smallest first-order factor :math:`F_+^*` of any non-negative weight :math:`w(S)`.

    :math:`F_+^{*2} = 1/\big((1+\tilde\gamma^{-1})\,E[\max\{S,0\}^2/(r^2h(S))]\big)` with
    :math:`h(S) = E[v_i^2\mid S]` estimated in ``bins`` equal-count bins of ``samples`` Monte Carlo
    scores (module docstring). No weight of the score alone does better at first order.
    """
    eta, r, gamma, gamma_t, samples = _check_model(eta, r, gamma, gamma_t, samples)
    bins = check_int("bins", bins, minimum=2)
    sig = sample_signal_coordinates(samples, r, gamma, gamma_t, eta, seed)
    S, v2 = sig.score, np.mean(sig.v**2, axis=1)
    order = np.argsort(S)
    ratio = 0.0
    for idx in np.array_split(order, bins):
        h = float(np.mean(v2[idx]))
        ratio += float(np.sum(np.maximum(S[idx], 0.0) ** 2)) / (r**2 * h)
    ratio /= samples
    return 1.0 / math.sqrt((1.0 + 1.0 / gamma_t) * ratio)
