r"""First-order prediction of the *filtered* student's error and the best threshold (our derivation).

The paper bounds the error of the filtered student up to constants and leaves the optimal
threshold :math:`\theta^*` open. This module extends the first-order law of
:mod:`linclip.asymptotics` from the unfiltered learner to a student trained on the pairs that a
score filter keeps (chapter "Predicting the filtered error and choosing the threshold").

Rotate to signal coordinates :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x` and noise
coordinates :math:`b = U_\perp^\top x`, :math:`\tilde b = \tilde U_\perp^\top\tilde x`. The oracle
score :math:`S = u^\top v` looks only at the signal coordinates, and under isotropic noise the
noise coordinates are independent of them. So the kept pairs have

* the same noise coordinates as before (i.i.d. :math:`N(0, \gamma^{-1})`, independent of
  everything else);
* signal coordinates with conditional moments :math:`E[uv^\top\mid S>\theta] = s(\theta)I_r`,
  :math:`E[uu^\top\mid S>\theta] = m_u(\theta)I_r`, :math:`E[vv^\top\mid S>\theta] = m_v(\theta)I_r`
  (computed exactly by :func:`linclip.score_law.kept_moments`);
* an effective sample size :math:`n_{\rm kept} = P(\theta)\,n_{\rm pool}`.

The first-order law of :func:`linclip.asymptotics.first_order_sin_theta_sq` then applies with
:math:`\eta \to s(\theta)`, :math:`1+\tilde\gamma^{-1} \to m_v(\theta)`, :math:`n \to n_{\rm kept}`:

.. math::

   E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\,\gamma^{-1} m_v(\theta)}{s(\theta)^2\,(P(\theta)n_{\rm pool}-1)}.

Because :math:`m_u/m_v = (1+\gamma^{-1})/(1+\tilde\gamma^{-1})` for every :math:`\theta`, both sides
scale with the same factor

.. math:: F(\theta) = \frac{\sqrt{m_v(\theta)/(1+\tilde\gamma^{-1})}}{s(\theta)\sqrt{P(\theta)}}
          = \frac{\sqrt{E[v_i^2\,1\{S>\theta\}]/(1+\tilde\gamma^{-1})}}{E[u_iv_i\,1\{S>\theta\}]},

(:math:`1/\eta` without filtering, :math:`1/\sqrt\eta` for the clean-label oracle), so the best
threshold minimises :math:`F` and, at first order, depends on :math:`(\eta, r, \gamma, \tilde\gamma)`
only, not on :math:`n, d, \tilde d`. :func:`optimal_keep_fraction` finds it.

The teacher methods use the same moments (the teacher is replaced by the oracle it estimates),
plus one correction: the teacher's tilt :math:`X` brings the noise coordinates into its score,
and the student inherits the share :math:`\lambda = \gamma^{-1}\kappa_v(\theta)/s(\theta)` of it
(Stein's lemma at the threshold; first order in :math:`1/\sqrt n` but proportional to
:math:`\gamma^{-1}`, so negligible at high signal-to-noise ratio). :func:`teacher_distortion` gives
the size of the teacher's error *inside* the signal block, a second-order effect the prediction
leaves out. :func:`simulate_filtered` runs the methods for many kept fractions on the same pairs,
and :func:`compare_filtered` sets prediction against simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from ._validate import (check_finite_array, check_fraction, check_int, check_positive,
                        check_probability, check_real)
from .asymptotics import ChiLaw, expected_max, first_order_sin_theta_sq, predict_unfiltered
from .experiments import IN_MEMORY_LIMIT, trial_source
from .filters import (METHODS, bilinear_score, check_filter_knob, kept_count, oracle_score_matrix,
                      teacher_score_matrix)
from .learner import closed_form_encoders, cross_covariance, fit, min_pairs_for_rank
from .metrics import subspace_error
from .model import BimodalModel, PairSample
from .score_law import ScoreLaw, kept_moments, threshold_for_fraction

__all__ = [
    "PREDICTION_METHODS",
    "FilteredPrediction",
    "predict_filtered",
    "first_order_factor",
    "OptimalKeepFraction",
    "optimal_keep_fraction",
    "optimal_keep_fractions",
    "PhaseDiagram",
    "threshold_phase_diagram",
    "teacher_distortion",
    "simulate_filtered",
    "compare_filtered",
]

#: Methods with a prediction (the same names as :data:`linclip.filters.METHODS`).
PREDICTION_METHODS = METHODS
_SCORE_METHODS = ("teacher", "teacher-split", "oracle-score")
_TEACHERS = ("teacher", "teacher-split")


# ------------------------------------------------------------------------------ helpers
def _check_gammas(gamma: float, gamma_t: float) -> tuple[float, float, float, float]:
    gamma = check_positive("gamma", gamma, allow_inf=True)
    gamma_t = check_positive("gamma_t", gamma_t, allow_inf=True)
    return gamma, gamma_t, 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t


def _check_method(method: str) -> str:
    if method not in PREDICTION_METHODS:
        raise ValueError(f"method must be one of {', '.join(PREDICTION_METHODS)}; got {method!r}")
    return method


def _check_knob(method: str, theta, keep_fraction) -> tuple[float | None, float | None]:
    """Validate the knob; a score filter given neither uses the paper's untuned theta = 0."""
    return check_filter_knob(method, theta, keep_fraction, default_theta=0.0)


@lru_cache(maxsize=32)
def _tail_table(r: int, gamma: float, gamma_t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Component tail probabilities on a coarse threshold grid (cached per r, gamma, gamma_t)."""
    clean, corrupted = ScoreLaw(r, gamma, gamma_t, True), ScoreLaw(r, gamma, gamma_t, False)
    lo = -12.0 * math.sqrt(corrupted.variance)
    hi = clean.mean + 12.0 * math.sqrt(clean.variance)
    grid = np.linspace(lo, hi, 49)
    tables = (grid, np.asarray(clean.tail(grid)), np.asarray(corrupted.tail(grid)))
    for table in tables:
        table.setflags(write=False)  # shared by every caller through the cache
    return tables


@lru_cache(maxsize=4096)
def _threshold_for_fraction(q: float, eta: float, r: int, gamma: float, gamma_t: float) -> float:
    """:math:`\theta` with :math:`P(\theta) = q` (as :func:`linclip.score_law.threshold_for_fraction`).

    Brackets the root on a cached grid of component tails, so the root finder needs only a few
    evaluations; falls back to :func:`~linclip.score_law.threshold_for_fraction` off the grid.
    """
    grid, p1, p0 = _tail_table(r, gamma, gamma_t)
    kept = eta * p1 + (1.0 - eta) * p0
    above = np.flatnonzero(kept >= q)
    if above.size == 0 or above[-1] + 1 >= grid.size:
        return float(threshold_for_fraction(q, eta, r, gamma, gamma_t))
    i = int(above[-1])
    clean, corrupted = ScoreLaw(r, gamma, gamma_t, True), ScoreLaw(r, gamma, gamma_t, False)

    def excess(theta: float) -> float:
        return (eta * clean._tail_scalar(theta)[0]
                + (1.0 - eta) * corrupted._tail_scalar(theta)[0] - q)

    return optimize.brentq(excess, grid[i], grid[i + 1], xtol=1e-12, rtol=1e-12)


@dataclass(frozen=True)
class _Kept:
    threshold: float
    kept_fraction: float
    kept_clean_fraction: float
    cross_moment: float
    second_moment_u: float
    second_moment_v: float
    boundary_u: float
    boundary_v: float


def _step(r: int) -> float:
    """Step of the central differences in :math:`\\theta` (oracle units)."""
    return 1e-4 * math.sqrt(r)


def _kept_state(method: str, eta: float, r: int, gamma: float, gamma_t: float,
                theta: float | None, keep_fraction: float | None) -> _Kept:
    """Kept fraction, conditional signal moments and boundary moments of the kept pairs."""
    a, b = 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t
    if method == "none" or (method in _SCORE_METHODS and keep_fraction == 1.0):
        thr = math.nan if method == "none" else -math.inf
        return _Kept(thr, 1.0, eta, eta, a, b, 0.0, 0.0)
    if method == "oracle-clean":
        return _Kept(math.nan, eta, 1.0, 1.0, a, b, 0.0, 0.0)
    if theta is None:
        theta = _threshold_for_fraction(keep_fraction, eta, r, gamma, gamma_t)
    h = _step(r)
    km = kept_moments(np.array([theta, theta - h, theta + h]), eta, r, gamma, gamma_t)
    kept = np.asarray(km.kept_fraction)
    if not kept[0] > 0.0:
        raise ValueError(f"threshold theta = {theta:g} keeps no pairs in the population "
                         "(its tail probability underflows); lower the threshold")
    part_u = np.asarray(km.second_moment_u) * kept    # E[u_i^2 1{S > theta}]
    part_v = np.asarray(km.second_moment_v) * kept
    boundary_u = float(part_u[1] - part_u[2]) / (2.0 * h * kept[0])
    boundary_v = float(part_v[1] - part_v[2]) / (2.0 * h * kept[0])
    f = lambda v: float(np.asarray(v)[0])  # noqa: E731
    return _Kept(float(theta), float(kept[0]), f(km.kept_clean_fraction), f(km.cross_moment),
                 f(km.second_moment_u), f(km.second_moment_v), boundary_u, boundary_v)


# --------------------------------------------------------------------- the prediction
@dataclass(frozen=True)
class FilteredPrediction:
    r"""First-order prediction of the error of a (filtered) student (the book's derivation).

    Attributes
    ----------
    method : str
        One of :data:`PREDICTION_METHODS`.
    n, eta, d, d_t, r, gamma, gamma_t
        The parameters :math:`(n, \eta, d, \tilde d, r, \gamma, \tilde\gamma)`.
    threshold : float
        Threshold :math:`\theta` in oracle units (given, or solving :math:`P(\theta) = q`);
        :math:`-\infty` for :math:`q = 1`, NaN for ``none`` and ``oracle-clean``.
    kept_fraction : float
        :math:`P(\theta)`, the expected fraction of the pool that is kept (:math:`\eta` for
        ``oracle-clean``, 1 for ``none``).
    kept_clean_fraction : float
        Expected fraction of clean pairs among the kept ones, :math:`\eta P_1(\theta)/P(\theta)`.
    n_pool : int
        Pairs offered to the filter: :math:`n`, or :math:`n - \lfloor n/2\rfloor` for
        ``teacher-split``.
    n_kept : float
        Expected number of pairs the student trains on, :math:`P(\theta)\,n_{\rm pool}`.
    cross_moment : float
        :math:`s(\theta) = E[u_iv_i\mid\text{kept}]` (:math:`\eta` without filtering, 1 for the
        clean-label oracle).
    second_moment_u, second_moment_v : float
        :math:`m_u(\theta) = E[u_i^2\mid\text{kept}]`, :math:`m_v(\theta) = E[v_i^2\mid\text{kept}]`.
    inheritance_x, inheritance_xt : float
        For the teacher methods, the fraction :math:`\lambda` of the teacher's tilt that the
        student inherits on each side, :math:`\lambda_x = \gamma^{-1}\kappa_v(\theta)/s(\theta)`
        and :math:`\lambda_{\tilde x} = \tilde\gamma^{-1}\kappa_u(\theta)/s(\theta)`, with
        :math:`\kappa_v = -\frac{d}{d\theta}E[v_i^2 1\{S>\theta\}]/P(\theta)` (0 for the other
        methods, and without the teacher correction).
    law_x, law_xt : ChiLaw
        First-order laws of :math:`\|\sin\Theta_U\|_F` and :math:`\|\sin\Theta_{\tilde U}\|_F`.
    err_x_sq, err_xt_sq, err_x, err_xt, err, err_sq : float
        Predicted :math:`E\|\sin\Theta\|_F^2` and :math:`E\|\sin\Theta\|_F` of each side, and
        :math:`E[\mathrm{ERR}]`, :math:`E[\mathrm{ERR}^2]` (ERR the larger side).
    err_oracle_filter : float
        :math:`E[\mathrm{ERR}]` if the filter were the oracle score (equal to ``err`` except for
        the teacher methods with the teacher correction).
    teacher_err : float
        For the teacher methods, the predicted :math:`E[\mathrm{ERR}]` of the teacher itself
        (:func:`linclip.asymptotics.predict_unfiltered` on its :math:`n_T` pairs); NaN otherwise.
    teacher_distortion : float
        For the teacher methods, :func:`teacher_distortion` of the teacher; NaN otherwise. Its
        effect (second order) is not in the prediction.
    n_condition : float
        Kept-set analogue of the paper's sample-size scale,
        :math:`\max\{d,\tilde d\}\,m_u m_v/s^2` (equal to
        :math:`\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/\eta^2` without filtering).
    """

    method: str
    n: int
    eta: float
    d: int
    d_t: int
    r: int
    gamma: float
    gamma_t: float
    threshold: float
    kept_fraction: float
    kept_clean_fraction: float
    n_pool: int
    n_kept: float
    cross_moment: float
    second_moment_u: float
    second_moment_v: float
    inheritance_x: float
    inheritance_xt: float
    law_x: ChiLaw
    law_xt: ChiLaw
    err_x_sq: float
    err_xt_sq: float
    err_x: float
    err_xt: float
    err: float
    err_sq: float
    err_oracle_filter: float
    teacher_err: float
    teacher_distortion: float
    n_condition: float

    @property
    def rate_factor(self) -> float:
        r""":math:`F = \sqrt{m_v/(1+\tilde\gamma^{-1})}\,/\,(s\sqrt{q})` (see :func:`first_order_factor`).

        :math:`1/\eta` without filtering and :math:`1/\sqrt\eta` for the clean-label oracle;
        it leaves out the teacher correction.
        """
        return math.sqrt(self.second_moment_v / (1.0 + 1.0 / self.gamma_t)) / (
            self.cross_moment * math.sqrt(self.kept_fraction))

    @property
    def n_kept_over_condition(self) -> float:
        """:math:`n_{\\rm kept}/n_{\\rm condition}`; the prediction needs it well above 1."""
        return self.n_kept / self.n_condition


def _side_law(dof: int, noise_var: float, s: float, m: float, n_kept: float, lam: float,
              partner: float, eta: float, n_teacher: int, n: int, shared: bool) -> ChiLaw:
    r"""Law of one side with the teacher's tilt: :math:`X_S = Z_K/s + \lambda X_T`."""
    var = m / (n_kept - 1.0)
    if lam:
        var += lam**2 * s**2 * partner / (eta**2 * (n_teacher - 1.0))
        if shared:  # teacher and student see the same kept pairs: Cov(Z_K, Z_T) = sigma^2 m/n
            var += 2.0 * lam * s * m / (eta * (n - 1.0))
    return ChiLaw(dof=dof, scale=noise_var * var / s**2)


def predict_filtered(n: int, eta: float, d: int, d_t: int, r: int, gamma: float = 1e4,
                     gamma_t: float = 1e4, *, theta: float | None = None,
                     keep_fraction: float | None = None, method: str = "oracle-score",
                     teacher_tilt: bool = True) -> FilteredPrediction:
    r"""First-order prediction of the error of the student of a filtering method.

    .. math::

       E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\,\gamma^{-1}m_v}{s^2(n_{\rm kept}-1)},\qquad
       E\|\sin\Theta_{\tilde U}\|_F^2 \approx \frac{r(\tilde d-r)\,\tilde\gamma^{-1}m_u}{s^2(n_{\rm kept}-1)},

    each side a scaled :math:`\chi` law, the two independent; :math:`E[\mathrm{ERR}]` by
    :func:`linclip.asymptotics.expected_max`. Per method:

    * ``none``: :math:`n_{\rm kept} = n`, :math:`s = \eta`, :math:`m_u = 1+\gamma^{-1}`,
      :math:`m_v = 1+\tilde\gamma^{-1}` (the same as
      :func:`linclip.asymptotics.predict_unfiltered`);
    * ``oracle-score``: the exact kept moments of the oracle-score tail :math:`S > \theta`
      (:func:`linclip.score_law.kept_moments`) and :math:`n_{\rm kept} = P(\theta)\,n`;
    * ``teacher``: the same, plus (with ``teacher_tilt``) the part of the teacher's own tilt that
      the student inherits: :math:`X_S \approx Z_K/s + \lambda X_T` with
      :math:`\lambda_x = \gamma^{-1}\kappa_v/s`, which adds
      :math:`r(d-r)\gamma^{-1}[\lambda^2(1+\tilde\gamma^{-1})/(\eta^2(n-1)) + 2\lambda m_v/(s\eta(n-1))]`
      to :math:`E\|\sin\Theta_U\|_F^2` (the cross term because teacher and student share the
      data), and its mirror image;
    * ``teacher-split``: the pool is :math:`n - \lfloor n/2\rfloor`, the teacher has
      :math:`\lfloor n/2\rfloor` pairs of its own, and there is no cross term;
    * ``oracle-clean``: :math:`n_{\rm kept} = \eta n`, :math:`s = 1`, unconditioned
      second moments.

    The teacher's error *within* the signal block (:func:`teacher_distortion`) is a second-order
    effect this function does not include.

    Parameters
    ----------
    n : int
        Number of pairs :math:`n`.
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    d, d_t : int
        Dimensions :math:`d`, :math:`\tilde d`.
    r : int
        Rank :math:`r \le \min(d, \tilde d)`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma \in (0, \infty]`.
    theta : float, optional
        Threshold :math:`\theta` in oracle units (keep :math:`S > \theta`).
    keep_fraction : float, optional
        Kept fraction :math:`q \in (0, 1]` (the threshold solves :math:`P(\theta) = q`).
        Score filters take at most one of ``theta`` and ``keep_fraction``; given neither, they
        use the paper's untuned :math:`\theta = 0`.
    method : str
        One of :data:`PREDICTION_METHODS`.
    teacher_tilt : bool
        Include the inherited teacher tilt for the teacher methods (default). ``False`` predicts
        them as if the teacher were the oracle score.

    Returns
    -------
    FilteredPrediction
    """
    method = _check_method(method)
    d = check_int("d", d)
    d_t = check_int("d_t", d_t)
    r = check_int("r", r, maximum=min(d, d_t), what=" with 1 <= r <= min(d, d_t)")
    n = check_int("n", n, minimum=r + 1, what=f" (at least r + 1 = {r + 1} pairs)")
    eta = check_probability("eta (clean fraction)", eta)
    gamma, gamma_t, a, b = _check_gammas(gamma, gamma_t)
    if not isinstance(teacher_tilt, (bool, np.bool_)):
        raise ValueError(f"teacher_tilt must be True or False; got {teacher_tilt!r}")
    theta, keep_fraction = _check_knob(method, theta, keep_fraction)
    kept = _kept_state(method, eta, r, gamma, gamma_t, theta, keep_fraction)
    n_pool = n - n // 2 if method == "teacher-split" else n
    n_kept = kept.kept_fraction * n_pool
    if not n_kept > 1.0:
        raise ValueError(f"method {method!r} keeps about {n_kept:.3g} of {n_pool} pairs; the "
                         "first-order prediction needs more than one kept pair (raise n, eta or "
                         "the kept fraction)")
    s, m_u, m_v = kept.cross_moment, kept.second_moment_u, kept.second_moment_v
    nv, nv_t = 1.0 / gamma, 1.0 / gamma_t
    base_x = first_order_sin_theta_sq(n_kept, d, r, nv, m_v, s)
    base_xt = first_order_sin_theta_sq(n_kept, d_t, r, nv_t, m_u, s)
    err_oracle = expected_max(base_x, base_xt, 1.0)
    law_x, law_xt = base_x, base_xt
    lam_x = lam_xt = 0.0
    teacher_err = distortion = math.nan
    if method in _TEACHERS:
        n_teacher = n // 2 if method == "teacher-split" else n
        if n_teacher < r + 1:
            raise ValueError(f"the teacher of method {method!r} has {n_teacher} pairs; it needs "
                             f"at least r + 1 = {r + 1}")
        teacher_err = predict_unfiltered(n_teacher, eta, d, d_t, r, gamma, gamma_t).err
        distortion = teacher_distortion(n_teacher, eta, r, gamma, gamma_t) if n_teacher > 1 \
            else math.nan
        if teacher_tilt and math.isfinite(kept.threshold):
            lam_x, lam_xt = float(nv * kept.boundary_v / s), float(nv_t * kept.boundary_u / s)
            shared = method == "teacher"
            law_x = _side_law(base_x.dof, nv, s, m_v, n_kept, lam_x, b, eta, n_teacher, n,
                              shared)
            law_xt = _side_law(base_xt.dof, nv_t, s, m_u, n_kept, lam_xt, a, eta, n_teacher, n,
                               shared)
    err = expected_max(law_x, law_xt, 1.0) if law_x is not base_x else err_oracle
    return FilteredPrediction(
        method=method, n=n, eta=eta, d=d, d_t=d_t, r=r, gamma=gamma, gamma_t=gamma_t,
        threshold=kept.threshold, kept_fraction=kept.kept_fraction,
        kept_clean_fraction=kept.kept_clean_fraction, n_pool=n_pool, n_kept=n_kept,
        cross_moment=s, second_moment_u=m_u, second_moment_v=m_v,
        inheritance_x=lam_x, inheritance_xt=lam_xt,
        law_x=law_x, law_xt=law_xt, err_x_sq=law_x.mean_sq, err_xt_sq=law_xt.mean_sq,
        err_x=law_x.mean, err_xt=law_xt.mean, err=err,
        err_sq=expected_max(law_x, law_xt, 2.0), err_oracle_filter=err_oracle,
        teacher_err=teacher_err, teacher_distortion=distortion,
        n_condition=max(d, d_t) * m_u * m_v / s**2)


# ---------------------------------------------------------------- the first-order factor
class _FactorTable:
    """Component tail quantities of one :math:`(r, \\gamma, \\tilde\\gamma)`, combined for any :math:`\\eta`.

    The component integrals do not depend on :math:`\\eta`, so a grid of thresholds is
    integrated once and reused for every :math:`\\eta`.
    """

    def __init__(self, r: int, gamma: float, gamma_t: float, method: str) -> None:
        self.r, self.gamma, self.gamma_t, self.method = r, gamma, gamma_t, method
        self.a, self.b = 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t
        self.clean = ScoreLaw(r, gamma, gamma_t, True)
        self.corrupted = ScoreLaw(r, gamma, gamma_t, False)
        self.boundary = method in _TEACHERS

    def components(self, theta) -> list:
        theta = np.asarray(theta, dtype=float)
        shifts = (0.0, -_step(self.r), _step(self.r)) if self.boundary else (0.0,)
        return [(self.clean.tail_moments(theta + h), self.corrupted.tail_moments(theta + h))
                for h in shifts]

    def _mix(self, eta: float, pair, name: str) -> np.ndarray:
        m1, m0 = pair
        return eta * np.asarray(getattr(m1, name)) + (1.0 - eta) * np.asarray(getattr(m0, name))

    def log_factor(self, eta: float, comps) -> tuple[np.ndarray, np.ndarray]:
        """:math:`\\log F` (the larger side for the teacher methods) and the kept fraction."""
        main = comps[0]
        kept = self._mix(eta, main, "prob")
        cross = self._mix(eta, main, "partial_score") / self.r      # E[u_i v_i 1{S > theta}]
        part_v, part_u = self._mix(eta, main, "partial_v2"), self._mix(eta, main, "partial_u2")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sq_x, sq_xt = part_v / cross**2 / self.b, part_u / cross**2 / self.a
            if self.boundary:
                h = _step(self.r)
                shared = 2.0 if self.method == "teacher" else 0.0
                sides = []
                for part, name, nv, partner in ((part_v, "partial_v2", 1 / self.gamma, self.b),
                                                (part_u, "partial_u2", 1 / self.gamma_t, self.a)):
                    below, above = self._mix(eta, comps[1], name), self._mix(eta, comps[2], name)
                    slope = (below - above) / (2 * h)
                    lam = nv * slope / cross     # gamma^{-1} kappa / s with kappa = slope / P
                    extra = lam**2 * partner / eta**2 + shared * lam * part / (cross * eta)
                    sides.append(extra / partner)
                sq_x, sq_xt = sq_x + sides[0], sq_xt + sides[1]
            out = 0.5 * np.log(np.maximum(sq_x, sq_xt))
        ok = (kept > 0) & (cross > 0) & np.isfinite(out)
        return np.where(ok, out, np.inf), kept

    def theta_grid(self, q_min: float, points: int) -> np.ndarray:
        lo = -4.5 * math.sqrt(self.corrupted.variance)
        hi = self.clean.mean + 2.0 * math.sqrt(self.clean.variance)
        while float(self.clean.tail(hi)) > q_min:
            hi += math.sqrt(self.clean.variance)
        return np.linspace(lo, hi, points)


def first_order_factor(theta, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4,
                       method: str = "oracle-score"):
    r"""The filtered first-order factor :math:`F(\theta)` (the book's derivation).

    For the oracle-score filter

    .. math:: F(\theta) = \frac{\sqrt{m_v(\theta)/(1+\tilde\gamma^{-1})}}{s(\theta)\sqrt{P(\theta)}}
              = \frac{\sqrt{E[v_i^2 1\{S>\theta\}]/(1+\tilde\gamma^{-1})}}{E[u_iv_i 1\{S>\theta\}]},

    the same for both sides. The predicted error of the filter is the unfiltered prediction on
    the same pool with :math:`1/\eta` replaced by :math:`F(\theta)` (and :math:`n_{\rm pool}-1` by
    :math:`P(\theta)n_{\rm pool}-1`). :math:`F = T\sqrt{m_v/(1+\tilde\gamma^{-1})}` with the rate
    factor :math:`T = 1/(s\sqrt P)` of the paper's proof idea. For ``teacher`` and
    ``teacher-split`` the factor includes the inherited teacher tilt (large :math:`n`, the larger
    of the two sides).

    Parameters
    ----------
    theta : float or array_like
        Thresholds :math:`\theta` (oracle units).
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    method : {"oracle-score", "teacher", "teacher-split"}
        The score filter.

    Returns
    -------
    float or ndarray
        :math:`F(\theta)`, shaped like ``theta``.
    """
    if method not in _SCORE_METHODS:
        raise ValueError(f"method must be one of {', '.join(_SCORE_METHODS)}; got {method!r}")
    r = check_int("r", r)
    eta = check_probability("eta (clean fraction)", eta)
    gamma, gamma_t, _, _ = _check_gammas(gamma, gamma_t)
    theta = check_finite_array("theta", theta)
    table = _FactorTable(r, gamma, gamma_t, method)
    log_f, _ = table.log_factor(eta, table.components(theta))
    out = np.exp(log_f)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class OptimalKeepFraction:
    r"""The kept fraction and threshold that minimise the first-order error (our derivation).

    Attributes
    ----------
    eta, r, gamma, gamma_t
        The parameters :math:`(\eta, r, \gamma, \tilde\gamma)`; the optimum does not depend on
        :math:`n, d, \tilde d` at first order.
    method : str
        The score filter (``oracle-score``, ``teacher`` or ``teacher-split``).
    keep_fraction : float
        :math:`q^* = P(\theta^*)` (1 if no threshold beats keeping everything).
    threshold : float
        :math:`\theta^*` in oracle units (:math:`-\infty` if :math:`q^* = 1`).
    factor : float
        :math:`F(\theta^*)`, the minimal first-order factor.
    gain : float
        :math:`\eta F(\theta^*) = F(\theta^*)/F(-\infty)`: the predicted ratio of the filtered to
        the unfiltered error on the same pool (below 1 means filtering helps).
    kept_clean_fraction : float
        Clean fraction among the kept pairs at the optimum.
    cross_moment, second_moment_v : float
        :math:`s(\theta^*)` and :math:`m_v(\theta^*)`.
    """

    eta: float
    r: int
    gamma: float
    gamma_t: float
    method: str
    keep_fraction: float
    threshold: float
    factor: float
    gain: float
    kept_clean_fraction: float
    cross_moment: float
    second_moment_v: float


def _vertex(grid: np.ndarray, values: np.ndarray, i: int) -> tuple[float, float]:
    """Vertex of the parabola through the grid minimum and its neighbours (no new integrals)."""
    if i == 0 or i == grid.size - 1 or not np.all(np.isfinite(values[i - 1:i + 2])):
        return float(grid[i]), float(values[i])
    h = grid[i + 1] - grid[i]
    lo, mid, hi = values[i - 1], values[i], values[i + 1]
    curvature = lo - 2.0 * mid + hi
    if curvature <= 0:
        return float(grid[i]), float(mid)
    shift = 0.5 * h * (lo - hi) / curvature
    return float(grid[i] + shift), float(mid - (lo - hi) ** 2 / (8.0 * curvature))


def _optimum(table: _FactorTable, eta: float, grid: np.ndarray, comps, q_min: float,
             xatol: float, refine: bool) -> OptimalKeepFraction:
    log_f, kept = table.log_factor(eta, comps)
    log_f = np.where(kept >= q_min, log_f, np.inf)
    unfiltered = -math.log(eta)
    i = int(np.argmin(log_f))
    theta, lf = float(grid[i]), float(log_f[i])
    if np.isfinite(lf) and refine:
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]

        def objective(t: float) -> float:
            value, k = table.log_factor(eta, table.components(t))
            return float(value) if float(k) >= q_min else math.inf

        res = optimize.minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                                       options={"xatol": xatol})
        if res.fun < lf:
            theta, lf = float(res.x), float(res.fun)
    elif np.isfinite(lf):
        theta, lf = _vertex(grid, log_f, i)
    if not np.isfinite(lf) or lf >= unfiltered - 1e-12:
        theta, lf = -math.inf, unfiltered
    if math.isinf(theta):
        q, clean, s, m_v = 1.0, eta, eta, table.b
    elif refine:
        km = kept_moments(theta, eta, table.r, table.gamma, table.gamma_t)
        q, clean = float(km.kept_fraction), float(km.kept_clean_fraction)
        s, m_v = float(km.cross_moment), float(km.second_moment_v)
    else:  # interpolate on the grid: no new integrals
        main = comps[0]
        p1 = np.interp(theta, grid, np.asarray(main[0].prob))
        q = float(np.interp(theta, grid, kept))
        clean = eta * float(p1) / q
        cross = np.interp(theta, grid, table._mix(eta, main, "partial_score")) / table.r
        s = float(cross) / q
        m_v = float(np.interp(theta, grid, table._mix(eta, main, "partial_v2"))) / q
    if q >= 1.0 - 1e-9:  # a threshold below every score in practice: no filtering
        theta, q, clean, s, m_v, lf = -math.inf, 1.0, eta, eta, table.b, unfiltered
    factor = math.exp(lf)
    return OptimalKeepFraction(eta=eta, r=table.r, gamma=table.gamma, gamma_t=table.gamma_t,
                               method=table.method, keep_fraction=q, threshold=theta,
                               factor=factor, gain=eta * factor, kept_clean_fraction=clean,
                               cross_moment=s, second_moment_v=m_v)


def optimal_keep_fractions(etas: Iterable[float], r: int, gamma: float = 1e4,
                           gamma_t: float = 1e4, *, method: str = "oracle-score",
                           q_min: float = 1e-4, points: int = 64, refine: bool = True,
                           xatol: float = 1e-4) -> pd.DataFrame:
    r"""The error-minimising kept fraction :math:`q^*` and threshold :math:`\theta^*` for many :math:`\eta`.

    Minimises the first-order factor :math:`F(\theta)` of :func:`first_order_factor` over the
    thresholds with :math:`P(\theta) \ge q_{min}`: a grid of ``points`` thresholds shared by all
    :math:`\eta` (the factor can have two local minima, near the paper's two regimes, so a
    local search alone is not enough), then bounded scalar minimisation
    (:func:`scipy.optimize.minimize_scalar`) between the grid neighbours of the best grid point.
    Keeping everything (:math:`q = 1`, factor :math:`1/\eta`) is a candidate too.

    Parameters
    ----------
    etas : iterable of float
        Clean fractions :math:`\eta \in (0, 1]`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma`.
    method : {"oracle-score", "teacher", "teacher-split"}
        Score filter; the teacher methods include the inherited teacher tilt.
    q_min : float
        Smallest kept fraction searched.
    points : int
        Grid size (at least 8).
    refine : bool
        Refine the best grid point by bounded scalar minimisation (default). Without it the
        optimum is the vertex of the parabola through the best grid point and its neighbours,
        and the kept quantities are interpolated on the grid (no new integrals; for maps).
    xatol : float
        Absolute tolerance on :math:`\theta` of the refinement.

    Returns
    -------
    pandas.DataFrame
        One row per :math:`\eta` with the fields of :class:`OptimalKeepFraction`.
    """
    if method not in _SCORE_METHODS:
        raise ValueError(f"method must be one of {', '.join(_SCORE_METHODS)}; got {method!r}")
    r = check_int("r", r)
    gamma, gamma_t, _, _ = _check_gammas(gamma, gamma_t)
    values = [etas] if np.isscalar(etas) else list(etas)
    etas = [check_probability("eta (clean fraction)", e) for e in values]
    q_min = check_fraction("q_min", q_min)
    points = check_int("points", points, minimum=8)
    xatol = check_positive("xatol", xatol)
    table = _FactorTable(r, gamma, gamma_t, method)
    grid = table.theta_grid(q_min, points)
    comps = table.components(grid)
    rows = [_optimum(table, eta, grid, comps, q_min, xatol, bool(refine)).__dict__
            for eta in etas]
    return pd.DataFrame(rows, columns=list(OptimalKeepFraction.__dataclass_fields__))


def optimal_keep_fraction(eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4, *,
                          method: str = "oracle-score", q_min: float = 1e-4
                          ) -> OptimalKeepFraction:
    r"""The kept fraction :math:`q^*` and threshold :math:`\theta^*` minimising the predicted error.

    At first order the filtered error is proportional to :math:`F(\theta)`
    (:func:`first_order_factor`) for every :math:`n, d, \tilde d`, so the optimum depends on
    :math:`(\eta, r, \gamma, \tilde\gamma)` and the method only. See
    :func:`optimal_keep_fractions` for the search.

    Parameters
    ----------
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    method : {"oracle-score", "teacher", "teacher-split"}
        Score filter.
    q_min : float
        Smallest kept fraction searched.

    Returns
    -------
    OptimalKeepFraction
    """
    eta = check_probability("eta (clean fraction)", eta)
    row = optimal_keep_fractions([eta], r, gamma, gamma_t, method=method, q_min=q_min).iloc[0]
    values = {k: row[k] for k in OptimalKeepFraction.__dataclass_fields__}
    values = {k: (int(v) if k == "r" else (str(v) if k == "method" else float(v)))
              for k, v in values.items()}
    return OptimalKeepFraction(**values)


@dataclass(frozen=True)
class PhaseDiagram:
    r"""Best kept fraction over a grid of :math:`(\eta, r)` and where its regime switches.

    Attributes
    ----------
    optima : pandas.DataFrame
        One row per :math:`(r, \eta)`: the fields of :class:`OptimalKeepFraction` (grid vertex,
        see :func:`optimal_keep_fractions` with ``refine=False``).
    switches : pandas.DataFrame
        One row per :math:`r`: ``eta_switch``, the clean fraction at which the best threshold
        jumps from the low-threshold local minimum of :math:`F` to the high-threshold one (NaN
        if :math:`F` never has two competing local minima on the searched range), and
        ``keep_fraction_below``, ``keep_fraction_above``: :math:`q^*` on either side of the jump.
    """

    optima: pd.DataFrame
    switches: pd.DataFrame


def _two_minima_gap(table: _FactorTable, eta: float, grid: np.ndarray, comps,
                    q_min: float) -> tuple[float, float, float]:
    """log F at the lowest-threshold local minimum minus log F at the highest one (and their q)."""
    lf, kept = table.log_factor(eta, comps)
    lf = np.where(kept >= q_min, lf, np.inf)
    inner = np.flatnonzero((lf[1:-1] < lf[:-2]) & (lf[1:-1] <= lf[2:])) + 1
    if inner.size < 2:
        return math.nan, math.nan, math.nan
    i, j = int(inner[0]), int(inner[-1])
    (ti, vi), (tj, vj) = _vertex(grid, lf, i), _vertex(grid, lf, j)
    return vi - vj, float(np.interp(ti, grid, kept)), float(np.interp(tj, grid, kept))


def threshold_phase_diagram(etas: Sequence[float], ranks: Sequence[int], gamma: float = 1e4,
                            gamma_t: float = 1e4, *, method: str = "oracle-score",
                            q_min: float = 1e-4, points: int = 96,
                            eta_min: float = 1e-6) -> PhaseDiagram:
    r"""The error-minimising kept fraction :math:`q^*(\eta, r)` and the switch between its regimes.

    For each rank the component tail integrals are computed once on a grid of ``points``
    thresholds; every :math:`\eta` then costs only closed-form combinations. The first-order
    factor :math:`F(\theta)` can have two local minima: a low threshold that keeps a fixed share
    of mostly corrupted but aligned pairs, and a high threshold that keeps mostly clean pairs
    (the two regimes of the paper's Theorem 1). The switch :math:`\eta_{sw}(r)` is where the two
    minima are equally deep (root of their difference, by :func:`scipy.optimize.brentq`).

    Parameters
    ----------
    etas : sequence of float
        Clean fractions of the map.
    ranks : sequence of int
        Ranks :math:`r` of the map.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    method : {"oracle-score", "teacher", "teacher-split"}
        Score filter.
    q_min : float
        Smallest kept fraction searched.
    points : int
        Threshold grid size per rank (at least 8).
    eta_min : float
        Smallest clean fraction searched for the switch.

    Returns
    -------
    PhaseDiagram
    """
    if method not in _SCORE_METHODS:
        raise ValueError(f"method must be one of {', '.join(_SCORE_METHODS)}; got {method!r}")
    gamma, gamma_t, _, _ = _check_gammas(gamma, gamma_t)
    etas = [check_probability("eta (clean fraction)", e) for e in etas]
    ranks = [check_int("r", r) for r in ranks]
    if not etas or not ranks:
        raise ValueError("etas and ranks must each contain at least one value")
    q_min = check_fraction("q_min", q_min)
    points = check_int("points", points, minimum=8)
    eta_min = check_probability("eta_min", eta_min)
    rows, switches = [], []
    scan = np.geomspace(eta_min, 1.0, 61)
    for r in ranks:
        table = _FactorTable(r, gamma, gamma_t, method)
        grid = table.theta_grid(q_min, points)
        comps = table.components(grid)
        rows += [_optimum(table, eta, grid, comps, q_min, 1e-4, False).__dict__ for eta in etas]
        gaps = np.array([_two_minima_gap(table, e, grid, comps, q_min)[0] for e in scan])
        change = np.flatnonzero(np.isfinite(gaps[:-1]) & np.isfinite(gaps[1:])
                                & (np.sign(gaps[:-1]) != np.sign(gaps[1:])))
        eta_sw = q_below = q_above = math.nan
        if change.size:
            k = int(change[-1])
            eta_sw = math.exp(optimize.brentq(
                lambda le: _two_minima_gap(table, math.exp(le), grid, comps, q_min)[0],
                math.log(scan[k]), math.log(scan[k + 1]), xtol=1e-10))
            _, q_below, q_above = _two_minima_gap(table, eta_sw, grid, comps, q_min)
        switches.append(dict(r=r, eta_switch=eta_sw, keep_fraction_below=q_below,
                             keep_fraction_above=q_above))
    optima = pd.DataFrame(rows, columns=list(OptimalKeepFraction.__dataclass_fields__))
    return PhaseDiagram(optima=optima, switches=pd.DataFrame(switches))


# ------------------------------------------------------------- the teacher's own error
def teacher_distortion(n_teacher: int, eta: float, r: int, gamma: float = 1e4,
                       gamma_t: float = 1e4) -> float:
    r"""First-order :math:`E\|U^\top M_T\tilde U - I_r\|_F^2` of a teacher in oracle units.

    A teacher trained on :math:`n_T` pairs has :math:`M_T \approx \operatorname{SVD}_r(S_{n_T})`;
    inside the signal block, in oracle units, :math:`W = U^\top M_T\tilde U \approx
    (\eta I + E_{11})/(\eta + \operatorname{tr}E_{11}/r)` with
    :math:`E_{11} = U^\top S_{n_T}\tilde U - \eta I`. So the teacher scores pairs by
    :math:`u^\top Wv` instead of :math:`u^\top v`, and

    .. math:: E\|W - I\|_F^2 \approx \frac{(r-1)\big((r+1)(1+\gamma^{-1})(1+\tilde\gamma^{-1})
              + \eta\big)}{\eta^2(n_T-1)}.

    It does not shrink with the signal-to-noise ratio: it is the teacher's error *within* the
    signal subspace, which its subspace error ERR does not see.

    Parameters
    ----------
    n_teacher : int
        Pairs the teacher is trained on (:math:`n`, or :math:`\lfloor n/2\rfloor` for the split).
    eta : float
        Clean fraction :math:`\eta`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    """
    n_teacher = check_int("n_teacher", n_teacher, minimum=2)
    eta = check_probability("eta (clean fraction)", eta)
    r = check_int("r", r)
    _, _, a, b = _check_gammas(gamma, gamma_t)
    return (r - 1) * ((r + 1) * a * b + eta) / (eta**2 * (n_teacher - 1))


# ------------------------------------------------------------------------- simulation
_SIM_COLUMNS = ["eta", "n", "d", "d_t", "r", "gamma", "gamma_t", "method", "theta",
                "keep_fraction", "trial", "err", "err_x", "err_xt", "kept_fraction",
                "kept_clean_fraction", "n_kept", "threshold", "teacher_err",
                "teacher_distortion"]


def _trial_pairs(model: BimodalModel, n: int, trial: int, seed: int,
                 resample_bases: bool) -> tuple[BimodalModel, PairSample]:
    """The model and pairs of trial ``trial``, exactly as :func:`linclip.run_grid` draws them."""
    model, pairs = trial_source(model, n, trial, seed=seed, resample_bases=resample_bases)
    if not isinstance(pairs, PairSample):
        raise ValueError(f"simulate_filtered holds the pairs in memory; n = {n} is above the "
                         f"in-memory limit {IN_MEMORY_LIMIT} (use linclip.run_grid instead)")
    return model, pairs


def _nested_cross_covariances(x: np.ndarray, xt: np.ndarray, scores: np.ndarray,
                              sizes: Sequence[int]) -> dict[int, np.ndarray]:
    """Centred cross-covariances of the top-``k`` scored pairs for every ``k`` in ``sizes``.

    One sort and one pass over the data (block sums between consecutive sizes), instead of one
    pass per kept set; sums are taken about the pool mean for numerical stability.
    """
    order = np.argsort(-scores, kind="stable")
    xs, xts = x[order] - x.mean(axis=0), xt[order] - xt.mean(axis=0)
    out, start = {}, 0
    sum_x, sum_xt = np.zeros(x.shape[1]), np.zeros(xt.shape[1])
    cross = np.zeros((x.shape[1], xt.shape[1]))
    for k in sorted(set(sizes)):
        bx, bxt = xs[start:k], xts[start:k]
        sum_x += bx.sum(axis=0)
        sum_xt += bxt.sum(axis=0)
        cross += bx.T @ bxt
        start = k
        out[k] = (cross - np.outer(sum_x, sum_xt) / k) / (k - 1)
    return out


def simulate_filtered(model: BimodalModel, n: int, *,
                      keep_fractions: Sequence[float] = (),
                      thetas: Sequence[float] = (),
                      methods: Sequence[str] = ("oracle-score",), trials: int = 20,
                      seed: int = 0, rho: float = 1.0,
                      resample_bases: bool = True) -> pd.DataFrame:
    r"""Simulate the students of several methods and knobs on the same pairs.

    Each trial draws its pairs exactly as :func:`linclip.run_grid` does (same seed contract), so a
    row equals the corresponding ``run_grid`` row up to rounding; but every pool is scored and
    sorted once, and the students of all kept fractions :math:`q` (top
    :math:`\lceil q\,n_{\rm pool}\rceil` scores) and thresholds :math:`\theta` (oracle units,
    keep score :math:`> \theta`) are fitted from nested sums in one pass, which makes sweeps over
    :math:`q` cheap.

    Parameters
    ----------
    model : BimodalModel
        The data model with its clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n` (in memory; at most 2,000,000).
    keep_fractions, thetas : sequence of float
        Knobs for the score filters (at least one knob if a score filter is requested).
    methods : sequence of str
        Any of :data:`linclip.filters.METHODS`; ``none`` and ``oracle-clean`` ignore the knobs.
    trials : int
        Trials.
    seed : int
        Root seed (see :mod:`linclip.experiments`).
    rho : float
        Regularisation :math:`\rho`.
    resample_bases : bool
        Fresh random :math:`U, \tilde U` per trial (as ``run_grid``).

    Returns
    -------
    pandas.DataFrame
        One row per (trial, method, knob), with ``err, err_x, err_xt``, the kept fraction, the
        clean fraction among the kept pairs, ``n_kept``, the threshold used (oracle units for
        :math:`\theta`, the score cut for :math:`q`), and for the teacher methods the teacher's
        ERR and its signal-block distortion :math:`\|U^\top M_T\tilde U - I\|_F^2`.
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int("n", n, minimum=2 * (model.r + 1), maximum=2_000_000,
                  what=f" between 2(r + 1) = {2 * (model.r + 1)} and 2,000,000")
    methods = [_check_method(m) for m in methods]
    if not methods:
        raise ValueError("methods must name at least one method")
    qs = [check_fraction("keep_fraction (q)", q) for q in keep_fractions]
    ths = [check_real("theta", t) for t in thetas]
    if any(m in _SCORE_METHODS for m in methods) and not (qs or ths):
        raise ValueError("the score filters need at least one keep fraction or threshold")
    trials = check_int("trials", trials)
    seed = check_int("seed", seed, minimum=0)
    rho = check_positive("rho", rho)
    r = model.r
    rows = []
    for trial in range(trials):
        mdl, pairs = _trial_pairs(model, n, trial, seed, resample_bases)
        base = dict(eta=mdl.eta, n=n, d=mdl.d, d_t=mdl.d_t, r=r, gamma=mdl.gamma,
                    gamma_t=mdl.gamma_t, trial=trial)
        full_fit = None

        def record(method, theta, q, S, n_kept, n_clean, n_pool, cut,
                   diagnostics=(math.nan, math.nan)):
            rep = subspace_error(closed_form_encoders(S, r, rho), mdl.U, mdl.U_t)
            rows.append(dict(base, method=method, theta=theta, keep_fraction=q, err=rep.err,
                             err_x=rep.err_x, err_xt=rep.err_xt, kept_fraction=n_kept / n_pool,
                             kept_clean_fraction=n_clean / n_kept, n_kept=n_kept,
                             threshold=cut, teacher_err=diagnostics[0],
                             teacher_distortion=diagnostics[1]))

        for method in methods:
            if method == "none":
                record(method, math.nan, math.nan, cross_covariance(pairs.x, pairs.xt), n,
                       pairs.clean_count, n, math.nan)
                continue
            if method == "oracle-clean":
                clean = pairs.subset(pairs.clean)
                if clean.n < min_pairs_for_rank(r):
                    raise ValueError(f"trial {trial} has {clean.n} clean pairs; at least "
                                     f"r + 1 = {r + 1} are needed")
                record(method, math.nan, math.nan, cross_covariance(clean.x, clean.xt), clean.n,
                       clean.n, n, math.nan)
                continue
            teacher, pool = None, pairs
            if method == "oracle-score":
                M = oracle_score_matrix(mdl.U, mdl.U_t)
            elif method == "teacher":
                if full_fit is None:
                    full_fit = fit(pairs.x, pairs.xt, r, rho)
                teacher = full_fit
            else:
                first, pool = pairs.split(n // 2)
                teacher = fit(first.x, first.xt, r, rho)
            diagnostics = (math.nan, math.nan)
            if teacher is not None:
                M = teacher_score_matrix(teacher, "oracle")
                W = mdl.U.T @ M @ mdl.U_t
                diagnostics = (subspace_error(teacher, mdl.U, mdl.U_t).err,
                               float(np.sum((W - np.eye(r)) ** 2)))
            scores = bilinear_score(pool.x, pool.xt, M)
            # Every kept set is a top-k set of the scores: (knob, k, threshold reported).
            knobs = []
            for theta in ths:
                k = int(np.count_nonzero(scores > theta))
                if k < min_pairs_for_rank(r):
                    raise ValueError(f"threshold theta = {theta:g} keeps {k} of {pool.n} pairs "
                                     f"in trial {trial}; at least r + 1 = {r + 1} are needed")
                knobs.append((theta, math.nan, k, theta))
            for q in qs:
                k = kept_count(q, pool.n)
                if k < min_pairs_for_rank(r):
                    raise ValueError(f"keep_fraction q = {q:g} keeps {k} of {pool.n} pairs; at "
                                     f"least r + 1 = {r + 1} are needed")
                knobs.append((math.nan, q, k, float(np.partition(scores, pool.n - k)[pool.n - k])))
            covs = _nested_cross_covariances(pool.x, pool.xt, scores, [k for *_, k, _ in knobs])
            clean_sorted = np.cumsum(pool.clean[np.argsort(-scores, kind="stable")])
            for theta, q, k, cut in knobs:
                record(method, theta, q, covs[k], k, int(clean_sorted[k - 1]), pool.n, cut,
                       diagnostics)
    return pd.DataFrame(rows, columns=_SIM_COLUMNS)


def compare_filtered(model: BimodalModel, n: int, etas: Iterable[float],
                     keep_fractions: Sequence[float], *,
                     methods: Sequence[str] = ("oracle-score",), trials: int = 20,
                     seed: int = 0) -> pd.DataFrame:
    r"""Predicted versus simulated mean ERR over a grid of :math:`(\eta, q)`, per method.

    Simulations use :func:`simulate_filtered`; predictions use :func:`predict_filtered` with the
    same kept fraction. ``none`` and ``oracle-clean`` rows carry ``keep_fraction`` NaN.

    Parameters
    ----------
    model : BimodalModel
        Dimensions and noise levels (its :math:`\eta` is replaced by each of ``etas``).
    n : int
        Number of pairs.
    etas : iterable of float
        Clean fractions.
    keep_fractions : sequence of float
        Kept fractions :math:`q` of the score filters.
    methods : sequence of str
        Methods to simulate and predict.
    trials : int
        Trials per :math:`\eta`.
    seed : int
        Root seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, eta, keep_fraction, trials, err_sim, err_sem, err_pred, ratio``
        (simulated over predicted mean ERR), ``err_pred_oracle_filter`` and
        ``ratio_oracle_filter`` (the prediction without the teacher correction),
        ``n_kept_pred``, ``kept_clean_sim``, ``kept_clean_pred``, ``n_kept_over_condition``,
        ``teacher_err_sim``, ``teacher_err_pred``, ``teacher_distortion_sim`` and
        ``teacher_distortion_pred`` (NaN for methods without a teacher).
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    rows = []
    for eta in etas:
        mdl = model.with_eta(float(eta))
        sim = simulate_filtered(mdl, n, keep_fractions=keep_fractions, methods=methods,
                                trials=trials, seed=seed)
        sim["knob"] = sim["keep_fraction"].fillna(-1.0)
        for (method, knob), g in sim.groupby(["method", "knob"], sort=False):
            q = None if knob < 0 else float(knob)
            pred = predict_filtered(n, mdl.eta, mdl.d, mdl.d_t, mdl.r, mdl.gamma, mdl.gamma_t,
                                    keep_fraction=q, method=method)
            sem = float(g.err.std(ddof=1) / math.sqrt(len(g))) if len(g) > 1 else math.nan
            rows.append(dict(method=method, eta=mdl.eta,
                             keep_fraction=math.nan if q is None else q, trials=len(g),
                             err_sim=float(g.err.mean()), err_sem=sem, err_pred=pred.err,
                             ratio=float(g.err.mean()) / pred.err,
                             err_pred_oracle_filter=pred.err_oracle_filter,
                             ratio_oracle_filter=float(g.err.mean()) / pred.err_oracle_filter,
                             n_kept_pred=pred.n_kept,
                             kept_clean_sim=float(g.kept_clean_fraction.mean()),
                             kept_clean_pred=pred.kept_clean_fraction,
                             n_kept_over_condition=pred.n_kept_over_condition,
                             teacher_err_sim=float(g.teacher_err.mean()),
                             teacher_err_pred=pred.teacher_err,
                             teacher_distortion_sim=float(g.teacher_distortion.mean()),
                             teacher_distortion_pred=pred.teacher_distortion))
    return pd.DataFrame(rows)
