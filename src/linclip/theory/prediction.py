r"""First-order prediction of the *filtered* student's error and the best threshold (our derivation).

The paper bounds the error of the filtered student up to constants and leaves the optimal
threshold :math:`\theta^*` open. This module extends the first-order law of
:mod:`linclip.theory.asymptotics` from the unfiltered learner to a student trained on the pairs that a
score filter keeps (chapter "Predicting the filtered error and choosing the threshold").

Rotate to signal coordinates :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x` and noise
coordinates :math:`b = U_\perp^\top x`, :math:`\tilde b = \tilde U_\perp^\top\tilde x`. The oracle
score :math:`S = u^\top v` looks only at the signal coordinates, and under isotropic noise the
noise coordinates are independent of them. So the kept pairs have

* the same noise coordinates as before (i.i.d. :math:`N(0, \gamma^{-1})`, independent of
  everything else);
* signal coordinates with conditional moments :math:`E[uv^\top\mid S>\theta] = s(\theta)I_r`,
  :math:`E[uu^\top\mid S>\theta] = m_u(\theta)I_r`, :math:`E[vv^\top\mid S>\theta] = m_v(\theta)I_r`
  (computed exactly by :func:`linclip.theory.filtered_law.kept_moments`);
* an effective sample size :math:`n_{\rm kept} = P(\theta)\,n_{\rm pool}`.

The first-order law of :func:`linclip.theory.asymptotics.first_order_sin_theta_sq` then applies with
:math:`\eta \to s(\theta)`, :math:`1+\tilde\gamma^{-1} \to m_v(\theta)`, :math:`n \to n_{\rm kept}`:

.. math::

   E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\,\gamma^{-1} m_v(\theta)}{s(\theta)^2\,(P(\theta)n_{\rm pool}-1)}.

Because :math:`m_u/m_v = (1+\gamma^{-1})/(1+\tilde\gamma^{-1})` for every :math:`\theta`, both sides
scale with the same factor

.. math:: F(\theta) = \frac{\sqrt{m_v(\theta)/(1+\tilde\gamma^{-1})}}{s(\theta)\sqrt{P(\theta)}}
          = \frac{\sqrt{E[v_i^2\,1\{S>\theta\}]/(1+\tilde\gamma^{-1})}}{E[u_iv_i\,1\{S>\theta\}]},

(:math:`1/\eta` without filtering, :math:`1/\sqrt\eta` for the clean-label oracle), so the best
threshold minimises :math:`F` and, at first order, depends on :math:`(\eta, r, \gamma, \tilde\gamma)`
only, not on :math:`n, d, \tilde d`. :func:`~linclip.theory.thresholds.optimal_keep_fraction` finds it.

The teacher methods use the same moments (the teacher is replaced by the oracle it estimates),
plus one correction: the teacher's tilt :math:`X` brings the noise coordinates into its score,
and the student inherits the share :math:`\lambda = \gamma^{-1}\kappa_v(\theta)/s(\theta)` of it
(Stein's lemma at the threshold; first order in :math:`1/\sqrt n` but proportional to
:math:`\gamma^{-1}`, so negligible at high signal-to-noise ratio). :func:`teacher_distortion` gives
the size of the teacher's error *inside* the signal block, a second-order effect the prediction
leaves out. :func:`~linclip.experiments.comparisons.simulate_filtered` runs the methods for many
kept fractions on the same pairs,
and :func:`~linclip.experiments.comparisons.compare_filtered` sets prediction against simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize

from .._knobs import METHODS, check_filter_knob
from .._validate import check_int, check_probability, check_snr
from .asymptotics import ChiLaw, expected_max, first_order_sin_theta_sq, predict_unfiltered
from .filtered_law import kept_moments, threshold_for_fraction
from .score_law import ScoreLaw

__all__ = ["PREDICTION_METHODS", "FilteredPrediction", "predict_filtered", "teacher_distortion"]

#: Methods with a prediction (the same names as :data:`linclip.filters.scores.METHODS`).
PREDICTION_METHODS = METHODS
_SCORE_METHODS = ("teacher", "teacher-split", "oracle-score")
_TEACHERS = ("teacher", "teacher-split")


# ------------------------------------------------------------------------------ helpers
def _check_gammas(gamma: float, gamma_t: float) -> tuple[float, float, float, float]:
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
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
    r""":math:`\theta` with :math:`P(\theta) = q` (as :func:`linclip.theory.filtered_law.threshold_for_fraction`).

    Brackets the root on a cached grid of component tails, so the root finder needs only a few
    evaluations; falls back to :func:`~linclip.theory.filtered_law.threshold_for_fraction` off the grid.
    """
    grid, p1, p0 = _tail_table(r, gamma, gamma_t)
    kept = eta * p1 + (1.0 - eta) * p0
    above = np.flatnonzero(kept >= q)
    if above.size == 0 or above[-1] + 1 >= grid.size:
        return float(threshold_for_fraction(q, eta, r, gamma, gamma_t))
    i = int(above[-1])
    clean, corrupted = ScoreLaw(r, gamma, gamma_t, True), ScoreLaw(r, gamma, gamma_t, False)

    def excess(theta: float) -> float:
        return (
            eta * clean._tail_scalar(theta)[0] + (1.0 - eta) * corrupted._tail_scalar(theta)[0] - q
        )

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
    r"""Step of the central differences in :math:`\theta` (oracle units)."""
    return 1e-4 * math.sqrt(r)


def _kept_state(
    method: str,
    eta: float,
    r: int,
    gamma: float,
    gamma_t: float,
    theta: float | None,
    keep_fraction: float | None,
) -> _Kept:
    """Kept fraction, conditional signal moments and boundary moments of the kept pairs."""
    a, b = 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t
    if method == "none" or (
        method in _SCORE_METHODS and (keep_fraction == 1.0 or theta == -math.inf)
    ):  # theta = -inf keeps every pair, as q = 1 does
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
        raise ValueError(
            f"threshold theta = {theta:g} keeps no pairs in the population "
            "(its tail probability underflows); lower the threshold"
        )
    part_u = np.asarray(km.second_moment_u) * kept  # E[u_i^2 1{S > theta}]
    part_v = np.asarray(km.second_moment_v) * kept
    boundary_u = float(part_u[1] - part_u[2]) / (2.0 * h * kept[0])
    boundary_v = float(part_v[1] - part_v[2]) / (2.0 * h * kept[0])
    f = lambda v: float(np.asarray(v)[0])  # noqa: E731
    return _Kept(
        float(theta),
        float(kept[0]),
        f(km.kept_clean_fraction),
        f(km.cross_moment),
        f(km.second_moment_u),
        f(km.second_moment_v),
        boundary_u,
        boundary_v,
    )


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
        (:func:`linclip.theory.asymptotics.predict_unfiltered` on its :math:`n_T` pairs); NaN otherwise.
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
        r""":math:`F = \sqrt{m_v/(1+\tilde\gamma^{-1})}\,/\,(s\sqrt{q})` (see
        :func:`~linclip.theory.thresholds.first_order_factor`).

        :math:`1/\eta` without filtering and :math:`1/\sqrt\eta` for the clean-label oracle;
        it leaves out the teacher correction.
        """
        return math.sqrt(self.second_moment_v / (1.0 + 1.0 / self.gamma_t)) / (
            self.cross_moment * math.sqrt(self.kept_fraction)
        )

    @property
    def n_kept_over_condition(self) -> float:
        r""":math:`n_{\rm kept}/n_{\rm condition}`; the prediction needs it well above 1."""
        return self.n_kept / self.n_condition


def _side_law(
    dof: int,
    noise_var: float,
    s: float,
    m: float,
    n_kept: float,
    lam: float,
    partner: float,
    eta: float,
    n_teacher: int,
    n: int,
    shared: bool,
) -> ChiLaw:
    r"""Law of one side with the teacher's tilt: :math:`X_S = Z_K/s + \lambda X_T`."""
    var = m / (n_kept - 1.0)
    if lam:
        var += lam**2 * s**2 * partner / (eta**2 * (n_teacher - 1.0))
        if shared:  # teacher and student see the same kept pairs: Cov(Z_K, Z_T) = sigma^2 m/n
            var += 2.0 * lam * s * m / (eta * (n - 1.0))
    return ChiLaw(dof=dof, scale=noise_var * var / s**2)


def predict_filtered(
    n: int,
    eta: float,
    d: int,
    d_t: int,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    theta: float | None = None,
    keep_fraction: float | None = None,
    method: str = "oracle-score",
    teacher_tilt: bool = True,
) -> FilteredPrediction:
    r"""First-order prediction of the error of the student of a filtering method.

    .. math::

       E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\,\gamma^{-1}m_v}{s^2(n_{\rm kept}-1)},\qquad
       E\|\sin\Theta_{\tilde U}\|_F^2 \approx \frac{r(\tilde d-r)\,\tilde\gamma^{-1}m_u}{s^2(n_{\rm kept}-1)},

    each side a scaled :math:`\chi` law, the two independent; :math:`E[\mathrm{ERR}]` by
    :func:`linclip.theory.asymptotics.expected_max`. Per method:

    * ``none``: :math:`n_{\rm kept} = n`, :math:`s = \eta`, :math:`m_u = 1+\gamma^{-1}`,
      :math:`m_v = 1+\tilde\gamma^{-1}` (the same as
      :func:`linclip.theory.asymptotics.predict_unfiltered`);
    * ``oracle-score``: the exact kept moments of the oracle-score tail :math:`S > \theta`
      (:func:`linclip.theory.filtered_law.kept_moments`) and :math:`n_{\rm kept} = P(\theta)\,n`;
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
        raise ValueError(
            f"method {method!r} keeps about {n_kept:.3g} of {n_pool} pairs; the "
            "first-order prediction needs more than one kept pair (raise n, eta or "
            "the kept fraction)"
        )
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
            raise ValueError(
                f"the teacher of method {method!r} has {n_teacher} pairs; it needs "
                f"at least r + 1 = {r + 1}"
            )
        teacher_err = predict_unfiltered(n_teacher, eta, d, d_t, r, gamma, gamma_t).err
        distortion = (
            teacher_distortion(n_teacher, eta, r, gamma, gamma_t) if n_teacher > 1 else math.nan
        )
        if teacher_tilt and math.isfinite(kept.threshold):
            lam_x, lam_xt = float(nv * kept.boundary_v / s), float(nv_t * kept.boundary_u / s)
            shared = method == "teacher"
            law_x = _side_law(base_x.dof, nv, s, m_v, n_kept, lam_x, b, eta, n_teacher, n, shared)
            law_xt = _side_law(
                base_xt.dof, nv_t, s, m_u, n_kept, lam_xt, a, eta, n_teacher, n, shared
            )
    err = expected_max(law_x, law_xt, 1.0) if law_x is not base_x else err_oracle
    return FilteredPrediction(
        method=method,
        n=n,
        eta=eta,
        d=d,
        d_t=d_t,
        r=r,
        gamma=gamma,
        gamma_t=gamma_t,
        threshold=kept.threshold,
        kept_fraction=kept.kept_fraction,
        kept_clean_fraction=kept.kept_clean_fraction,
        n_pool=n_pool,
        n_kept=n_kept,
        cross_moment=s,
        second_moment_u=m_u,
        second_moment_v=m_v,
        inheritance_x=lam_x,
        inheritance_xt=lam_xt,
        law_x=law_x,
        law_xt=law_xt,
        err_x_sq=law_x.mean_sq,
        err_xt_sq=law_xt.mean_sq,
        err_x=law_x.mean,
        err_xt=law_xt.mean,
        err=err,
        err_sq=expected_max(law_x, law_xt, 2.0),
        err_oracle_filter=err_oracle,
        teacher_err=teacher_err,
        teacher_distortion=distortion,
        n_condition=max(d, d_t) * m_u * m_v / s**2,
    )


# ------------------------------------------------------------- the teacher's own error
def teacher_distortion(
    n_teacher: int, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> float:
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
