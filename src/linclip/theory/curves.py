r"""Vectorised first-order error curves of the oracle-score filtered student (our derivation).

:func:`linclip.theory.prediction.predict_filtered` predicts one (threshold, clean fraction) at a
time. A figure of the predicted error against the kept fraction needs the whole curve; this
module computes it on a grid of thresholds :math:`\theta` and clean fractions :math:`\eta` at
once, from one call of :func:`linclip.theory.filtered_law.kept_moments`.

For the oracle-score filter both sides of the first-order law scale by the same factor
(chapter "Predicting the filtered error and choosing the threshold"), so the predicted mean
error of the student is the unfiltered prediction on the same pool times

.. math::

   \eta F(\theta)\,\sqrt{\frac{P(\theta)\,(n_{\rm pool}-1)}{P(\theta)\,n_{\rm pool}-1}},
   \qquad
   F(\theta) = \frac{\sqrt{m_v(\theta)/(1+\tilde\gamma^{-1})}}{s(\theta)\sqrt{P(\theta)}},

exactly (the :math:`n-1` of the centred estimator becomes :math:`P n_{\rm pool}-1`). The teacher
methods' inherited tilt is not included: these are the curves of the oracle-score filter, which
the teachers follow at high signal-to-noise ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_array, check_int, check_probability, check_snr
from .asymptotics import predict_unfiltered
from .filtered_law import kept_moments

__all__ = ["FilteredErrorCurve", "oracle_filter_error_curve"]


@dataclass(frozen=True)
class FilteredErrorCurve:
    r"""First-order error of the oracle-score filtered student on a grid (the book's derivation).

    Every array attribute has the broadcast shape of ``theta`` and ``eta``.

    Attributes
    ----------
    n_pool, d, d_t, r, gamma, gamma_t
        The parameters :math:`(n_{\rm pool}, d, \tilde d, r, \gamma, \tilde\gamma)`.
    theta, eta : ndarray
        Thresholds :math:`\theta` (oracle units) and clean fractions :math:`\eta`.
    kept_fraction : ndarray
        :math:`P(\theta)`, the expected kept fraction of the pool.
    n_kept : ndarray
        :math:`P(\theta)\,n_{\rm pool}`, the expected number of pairs the student trains on.
    cross_moment, second_moment_v : ndarray
        :math:`s(\theta)` and :math:`m_v(\theta)` (see :func:`linclip.theory.filtered_law.kept_moments`).
    factor : ndarray
        :math:`F(\theta)`; :math:`1/\eta` at :math:`P = 1`.
    gain : ndarray
        :math:`\eta F(\theta)`, the large-:math:`n` ratio of the filtered to the unfiltered error.
    err_unfiltered : ndarray
        :math:`E[\mathrm{ERR}]` of the unfiltered learner on the pool
        (:func:`linclip.theory.asymptotics.predict_unfiltered`).
    err : ndarray
        Predicted :math:`E[\mathrm{ERR}]` of the filtered student; NaN where
        :math:`P(\theta)\,n_{\rm pool} \le 1` (no first-order prediction).
    """

    n_pool: int
    d: int
    d_t: int
    r: int
    gamma: float
    gamma_t: float
    theta: np.ndarray
    eta: np.ndarray
    kept_fraction: np.ndarray
    n_kept: np.ndarray
    cross_moment: np.ndarray
    second_moment_v: np.ndarray
    factor: np.ndarray
    gain: np.ndarray
    err_unfiltered: np.ndarray
    err: np.ndarray


def _frozen(values) -> np.ndarray:
    out = np.array(values, dtype=float)
    out.setflags(write=False)
    return out


def oracle_filter_error_curve(
    theta, eta, n_pool: int, d: int, d_t: int, r: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> FilteredErrorCurve:
    r"""Predicted mean error of the oracle-score filtered student on a grid of thresholds.

    The student keeps the pairs of a pool of :math:`n_{\rm pool}` whose oracle score
    :math:`S = x^\top U\tilde U^\top\tilde x` exceeds :math:`\theta`. Its first-order mean error
    is

    .. math::

       E[\mathrm{ERR}] \approx E[\mathrm{ERR}_{\rm none}]\;\eta F(\theta)\,
       \sqrt{\frac{P(\theta)(n_{\rm pool}-1)}{P(\theta)\,n_{\rm pool}-1}},

    with :math:`E[\mathrm{ERR}_{\rm none}]` the unfiltered prediction on the same pool. This
    equals ``predict_filtered(n_pool, eta, d, d_t, r, gamma, gamma_t, theta=theta,
    method="oracle-score").err`` at every grid point, computed for the whole grid at once.

    Parameters
    ----------
    theta : float or array_like
        Thresholds :math:`\theta` in oracle units (finite).
    eta : float or array_like
        Clean fractions :math:`\eta \in (0, 1]`; broadcast against ``theta``.
    n_pool : int
        Pairs offered to the filter, :math:`n_{\rm pool} \ge r + 1` (:math:`n` for the oracle
        score or the full-sample teacher, :math:`n - \lfloor n/2\rfloor` for Algorithm 1).
    d, d_t : int
        Dimensions :math:`d`, :math:`\tilde d`.
    r : int
        Rank :math:`r \le \min(d, \tilde d)`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma \in (0, \infty]`.

    Returns
    -------
    FilteredErrorCurve

    Raises
    ------
    ValueError
        If a parameter is out of range (the message names it), or ``theta`` and ``eta`` do
        not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from linclip.theory.curves import oracle_filter_error_curve
    >>> curve = oracle_filter_error_curve(np.array([-50.0, 0.0]), 0.3, 10_000, 10, 8, 4)
    >>> print(f"{curve.kept_fraction[0]:.3f} {curve.gain[0]:.3f}")
    1.000 1.000
    >>> print(f"{curve.kept_fraction[1]:.3f} {curve.err[1] / curve.err_unfiltered[1]:.3f}")
    0.650 0.561
    """
    d = check_int("d", d)
    d_t = check_int("d_t", d_t)
    r = check_int("r", r, maximum=min(d, d_t), what=" with 1 <= r <= min(d, d_t)")
    n_pool = check_int("n_pool", n_pool, minimum=r + 1, what=f" (at least r + 1 = {r + 1})")
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
    theta = check_finite_array("theta", theta)
    eta = np.asarray(check_finite_array("eta (clean fraction)", eta), dtype=float)
    for value in np.unique(eta):
        check_probability("eta (clean fraction)", float(value))
    try:
        theta_b, eta_b = np.broadcast_arrays(theta, eta)
    except ValueError as exc:
        raise ValueError(
            f"theta (shape {theta.shape}) and eta (shape {eta.shape}) must "
            "broadcast against each other"
        ) from exc
    km = kept_moments(theta_b, eta_b, r, gamma, gamma_t)
    kept = np.asarray(km.kept_fraction, dtype=float)
    s = np.asarray(km.cross_moment, dtype=float)
    m_v = np.asarray(km.second_moment_v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.sqrt(m_v / (1.0 + 1.0 / gamma_t)) / (s * np.sqrt(kept))
    none = {
        float(e): predict_unfiltered(n_pool, float(e), d, d_t, r, gamma, gamma_t).err
        for e in np.unique(eta_b)
    }
    err_none = np.vectorize(none.__getitem__, otypes=[float])(eta_b)
    n_kept = kept * n_pool
    with np.errstate(divide="ignore", invalid="ignore"):
        small_n = np.sqrt(kept * (n_pool - 1.0) / (n_kept - 1.0))
        err = np.where(n_kept > 1.0, err_none * eta_b * factor * small_n, math.nan)
    return FilteredErrorCurve(
        n_pool=n_pool,
        d=d,
        d_t=d_t,
        r=r,
        gamma=gamma,
        gamma_t=gamma_t,
        theta=_frozen(theta_b),
        eta=_frozen(eta_b),
        kept_fraction=_frozen(kept),
        n_kept=_frozen(n_kept),
        cross_moment=_frozen(s),
        second_moment_v=_frozen(m_v),
        factor=_frozen(factor),
        gain=_frozen(eta_b * factor),
        err_unfiltered=_frozen(err_none),
        err=_frozen(err),
    )
