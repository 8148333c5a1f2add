r"""First-order asymptotics of the subspace error (the book's own derivation, not the paper's).

The paper's bounds hide their constants. This module predicts the error *with* constants, from
a first-order perturbation of the singular subspaces of the cross-covariance
:math:`S_n` (chapter "Exact asymptotics of the unfiltered error").

Rotate to signal coordinates :math:`a = U^\top x`, :math:`\tilde a = \tilde U^\top\tilde x` and
noise coordinates :math:`b = U_\perp^\top x`, :math:`\tilde b = \tilde U_\perp^\top\tilde x`.
Under isotropic noise :math:`b` is independent of everything else. If, in the population,
:math:`S_n \to s\,U\tilde U^\top` (:math:`s = \eta` without filtering), the first-order change of
the left singular subspace is :math:`\tan\Theta_U \approx U_\perp^\top S_n\tilde U/s`, and

.. math::

   \|\sin\Theta_U\|_F^2 \approx \frac{\sigma_b^2\, m_{\tilde a}}{s^2\,(n_{\rm eff}-1)}\,
   \chi^2_{r(d-r)},

with :math:`\sigma_b^2` the noise variance per coordinate (:math:`\gamma^{-1}`),
:math:`m_{\tilde a}` the partner's second moment per signal coordinate
(:math:`1+\tilde\gamma^{-1}`) and :math:`n_{\rm eff}-1` the degrees of freedom of the centred
estimator. The same holds for the :math:`\tilde U` side with the roles exchanged. The two sides
are asymptotically independent, so :math:`\mathrm{ERR} = \max` of two independent scaled
:math:`\chi` variables.

The general function :func:`first_order_sin_theta_sq` takes the moments as arguments, so that
a *filtered* student (whose kept set changes only the moments of the signal coordinates and the
effective sample size) can reuse it; :func:`predict_unfiltered` is the specialisation to the
learner without filtering.

The module also has an exact sampler of :math:`S_n` (:func:`~linclip.data.exact.sample_cross_covariance`) whose cost
does not grow with :math:`n`; it lets the book check the predictions up to the paper's
:math:`n = 10^7` in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy import integrate, special

from .._validate import check_int, check_positive, check_probability, check_snr
from .bounds import sample_size_condition

__all__ = [
    "ChiLaw",
    "first_order_sin_theta_sq",
    "expected_max",
    "UnfilteredPrediction",
    "predict_unfiltered",
]


# --------------------------------------------------------------------------- the chi law
@dataclass(frozen=True)
class ChiLaw:
    r"""Law of :math:`X = \sqrt{\text{scale}\cdot\chi^2_{\text{dof}}}` (a scaled :math:`\chi` law).

    The first-order law of :math:`\|\sin\Theta\|_F` for one modality. ``dof = 0`` or
    ``scale = 0`` is the point mass at zero (e.g. a noiseless modality, :math:`\gamma=\infty`).

    Attributes
    ----------
    dof : int
        Degrees of freedom :math:`k = r(D - r)` (:math:`D` the ambient dimension).
    scale : float
        Variance per degree of freedom, :math:`\sigma^2 m / (s^2 (n_{\rm eff}-1))`.
    """

    dof: int
    scale: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "dof", check_int("dof", self.dof, minimum=0))
        scale = self.scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, Real)
            or not math.isfinite(scale)
            or scale < 0
        ):
            raise ValueError(f"scale must be a finite real number >= 0; got {scale!r}")
        object.__setattr__(self, "scale", float(scale))

    @property
    def is_degenerate(self) -> bool:
        """True if the law is the point mass at zero."""
        return self.dof == 0 or self.scale == 0.0

    def moment(self, p: float) -> float:
        r""":math:`E[X^p] = (2\,\text{scale})^{p/2}\,\Gamma((k+p)/2)/\Gamma(k/2)` for :math:`p > 0`."""
        p = check_positive("p", p)
        if self.is_degenerate:
            return 0.0
        k = self.dof
        log_ratio = special.gammaln((k + p) / 2) - special.gammaln(k / 2)
        return float((2.0 * self.scale) ** (p / 2) * math.exp(log_ratio))

    @property
    def mean_sq(self) -> float:
        r""":math:`E[X^2] = k\cdot\text{scale}` (the predicted :math:`E\|\sin\Theta\|_F^2`)."""
        return self.dof * self.scale

    @property
    def mean(self) -> float:
        r""":math:`E[X]`, the predicted :math:`E\|\sin\Theta\|_F`."""
        return self.moment(1.0)

    @property
    def std(self) -> float:
        """Standard deviation of :math:`X`."""
        return math.sqrt(max(self.mean_sq - self.mean**2, 0.0))

    def cdf(self, t):
        r""":math:`P(X \le t)` (vectorised)."""
        t = np.asarray(t, dtype=float)
        if self.is_degenerate:
            return np.where(t >= 0, 1.0, 0.0)
        # P(chi^2_k <= t^2/scale) = regularised lower incomplete gamma (fast, no scipy.stats)
        return special.gammainc(self.dof / 2, np.maximum(t, 0.0) ** 2 / (2 * self.scale))

    def sf(self, t):
        r""":math:`P(X > t)` (vectorised)."""
        t = np.asarray(t, dtype=float)
        if self.is_degenerate:
            return np.where(t >= 0, 0.0, 1.0)
        return special.gammaincc(self.dof / 2, np.maximum(t, 0.0) ** 2 / (2 * self.scale))

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of :math:`X` (``0 < q < 1``)."""
        if not (isinstance(q, Real) and 0.0 < float(q) < 1.0):
            raise ValueError(f"q must be a probability strictly between 0 and 1; got {q!r}")
        if self.is_degenerate:
            return 0.0
        return float(math.sqrt(2 * self.scale * special.gammaincinv(self.dof / 2, q)))

    def sample(self, size: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Draw ``size`` independent values of :math:`X`."""
        size = check_int("size", size, minimum=0)
        rng = np.random.default_rng(rng)
        if self.is_degenerate:
            return np.zeros(size)
        return np.sqrt(self.scale * rng.chisquare(self.dof, size))


def _check_real_above(name: str, value: object, lower: float, *, inclusive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        ok = False
    else:
        v = float(value)
        ok = math.isfinite(v) and (v >= lower if inclusive else v > lower)
    if not ok:
        op = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be a finite real number {op} {lower:g}; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def first_order_sin_theta_sq(
    n_eff: float,
    ambient_dim: int,
    r: int,
    noise_var: float,
    partner_second_moment: float,
    signal_cross_moment: float,
) -> ChiLaw:
    r"""First-order law of :math:`\|\sin\Theta\|_F` for one modality (the book's derivation).

    If the population cross-covariance of the pairs the learner uses is
    :math:`s\,U\tilde U^\top`, the noise coordinates of this modality are independent of
    everything else with variance :math:`\sigma^2` each, and the partner's signal coordinates
    have second moment :math:`m\,I_r`, then

    .. math::

       \|\sin\Theta(\hat U, U)\|_F^2 \;\approx\;
       \frac{\sigma^2 m}{s^2\,(n_{\rm eff}-1)}\;\chi^2_{r(D-r)},
       \qquad
       E\|\sin\Theta\|_F^2 \approx \frac{r(D-r)\,\sigma^2 m}{s^2 (n_{\rm eff}-1)}.

    Parameters
    ----------
    n_eff : float
        Number of pairs the learner is trained on (:math:`n`, or the kept count
        :math:`n_{\rm kept}` of a filtered student); must exceed 1. The centred estimator has
        :math:`n_{\rm eff}-1` degrees of freedom.
    ambient_dim : int
        Ambient dimension :math:`D` of this modality (:math:`d` for :math:`U`,
        :math:`\tilde d` for :math:`\tilde U`), with :math:`D \ge r`.
    r : int
        Rank :math:`r` of the shared subspace.
    noise_var : float
        Noise variance per coordinate of this modality, :math:`\sigma^2 = \gamma^{-1}`
        (``0`` for a noiseless modality).
    partner_second_moment : float
        Second moment :math:`m` of one signal coordinate of the *other* modality among the
        pairs used (:math:`1+\tilde\gamma^{-1}` without filtering; :math:`E[v_i^2\mid\text{kept}]`
        for a filtered student).
    signal_cross_moment : float
        Per-coordinate signal cross moment :math:`s` (the :math:`r`-th singular value of the
        population cross-covariance): :math:`\eta` without filtering,
        :math:`E[u_i v_i\mid\text{kept}]` for a filtered student. Must be positive.

    Returns
    -------
    ChiLaw
        ``dof`` :math:`= r(D-r)`, ``scale`` :math:`= \sigma^2 m/(s^2(n_{\rm eff}-1))`;
        ``.mean_sq`` is the predicted :math:`E\|\sin\Theta\|_F^2` and ``.mean`` the predicted
        :math:`E\|\sin\Theta\|_F`.
    """
    n_eff = _check_real_above("n_eff (effective number of pairs)", n_eff, 1.0, inclusive=False)
    r = check_int("r", r)
    ambient_dim = check_int("ambient_dim", ambient_dim, minimum=r, what=f" at least r = {r}")
    noise_var = _check_real_above("noise_var (1/gamma)", noise_var, 0.0, inclusive=True)
    partner_second_moment = check_positive("partner_second_moment", partner_second_moment)
    signal_cross_moment = check_positive(
        "signal_cross_moment (s, eta without filtering)", signal_cross_moment
    )
    scale = noise_var * partner_second_moment / (signal_cross_moment**2 * (n_eff - 1.0))
    return ChiLaw(dof=r * (ambient_dim - r), scale=scale)


def expected_max(law_a: ChiLaw, law_b: ChiLaw, power: float = 1.0) -> float:
    r""":math:`E[\max(A, B)^p]` for independent :math:`A \sim` ``law_a``, :math:`B \sim` ``law_b``.

    Computed by numerical integration of the tail,
    :math:`E[M^p] = \int_0^\infty p\,t^{p-1}\,(1 - F_A(t)F_B(t))\,dt`, in units of the larger
    root-mean-square so that the quadrature's tolerances are relative.

    Parameters
    ----------
    law_a, law_b : ChiLaw
        Laws of the two sides (:math:`\|\sin\Theta_U\|_F` and :math:`\|\sin\Theta_{\tilde U}\|_F`).
    power : float
        The moment :math:`p > 0` (1 for :math:`E[\mathrm{ERR}]`, 2 for :math:`E[\mathrm{ERR}^2]`).
    """
    for name, law in (("law_a", law_a), ("law_b", law_b)):
        if not isinstance(law, ChiLaw):
            raise ValueError(f"{name} must be a ChiLaw; got {type(law).__name__}")
    power = check_positive("power", power)
    if law_a.is_degenerate:
        return law_b.moment(power)
    if law_b.is_degenerate:
        return law_a.moment(power)
    unit = math.sqrt(max(law_a.mean_sq, law_b.mean_sq))
    a = ChiLaw(law_a.dof, law_a.scale / unit**2)
    b = ChiLaw(law_b.dof, law_b.scale / unit**2)
    upper = max(
        math.sqrt(2 * law.scale * special.gammainccinv(law.dof / 2, 1e-15)) for law in (a, b)
    )

    def integrand(t: float) -> float:
        return power * t ** (power - 1) * (1.0 - float(a.cdf(t)) * float(b.cdf(t)))

    value, _ = integrate.quad(
        integrand, 0.0, upper, points=[a.mean, b.mean], limit=200, epsabs=1e-13, epsrel=1e-10
    )
    return float(value * unit**power)


# --------------------------------------------------------------- the unfiltered learner
@dataclass(frozen=True)
class UnfilteredPrediction:
    r"""First-order prediction of the unfiltered learner's error (book's derivation).

    Attributes
    ----------
    n, eta, d, d_t, r, gamma, gamma_t
        The parameters :math:`(n, \eta, d, \tilde d, r, \gamma, \tilde\gamma)`.
    law_x, law_xt : ChiLaw
        First-order laws of :math:`\|\sin\Theta_U\|_F` and :math:`\|\sin\Theta_{\tilde U}\|_F`.
    err_x_sq, err_xt_sq : float
        Predicted :math:`E\|\sin\Theta_U\|_F^2 = r(d-r)\gamma^{-1}(1+\tilde\gamma^{-1})/(\eta^2(n-1))`
        and its mirror image.
    err_x, err_xt : float
        Predicted :math:`E\|\sin\Theta_U\|_F`, :math:`E\|\sin\Theta_{\tilde U}\|_F` (:math:`\chi` means).
    err, err_sq : float
        Predicted :math:`E[\mathrm{ERR}]` and :math:`E[\mathrm{ERR}^2]`, ERR the max of the sides.
    n_condition : float
        The paper's sample-size scale :math:`\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/\eta^2`.
    """

    n: int
    eta: float
    d: int
    d_t: int
    r: int
    gamma: float
    gamma_t: float
    law_x: ChiLaw
    law_xt: ChiLaw
    err_x_sq: float
    err_xt_sq: float
    err_x: float
    err_xt: float
    err: float
    err_sq: float
    n_condition: float

    @property
    def n_over_condition(self) -> float:
        r""":math:`n / n_{\rm condition}`; the prediction is reliable when this is well above 1."""
        return self.n / self.n_condition

    @property
    def perturbation_to_gap(self) -> float:
        r"""Rough size of the noise in :math:`S_n` relative to the gap :math:`\eta`.

        :math:`\sqrt{\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}\,/\,\eta
        = (n_{\rm condition}/n)^{1/2}`; first-order theory needs it small.
        """
        return math.sqrt(self.n_condition / self.n)


def predict_unfiltered(
    n: int, eta: float, d: int, d_t: int, r: int, gamma: float, gamma_t: float
) -> UnfilteredPrediction:
    r"""First-order prediction of the error of the learner trained on all :math:`n` pairs.

    .. math::

       E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\,\gamma^{-1}(1+\tilde\gamma^{-1})}{\eta^2(n-1)},
       \qquad
       E\|\sin\Theta_{\tilde U}\|_F^2 \approx
       \frac{r(\tilde d-r)\,\tilde\gamma^{-1}(1+\gamma^{-1})}{\eta^2(n-1)},

    each side a scaled :math:`\chi` law, the two independent, and
    :math:`E[\mathrm{ERR}] = E[\max]` by :func:`expected_max`. Reliable when
    :math:`n \gg n_{\rm condition}`; see the chapter for where it fails.

    Parameters
    ----------
    n : int
        Number of pairs :math:`n \ge r + 1`.
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    d, d_t : int
        Dimensions :math:`d`, :math:`\tilde d`.
    r : int
        Rank :math:`r \le \min(d, \tilde d)`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma \in (0, \infty]`.
    """
    d = check_int("d", d)
    d_t = check_int("d_t", d_t)
    r = check_int("r", r, maximum=min(d, d_t), what=" with 1 <= r <= min(d, d_t)")
    n = check_int("n", n, minimum=r + 1, what=f" (at least r + 1 = {r + 1} pairs)")
    eta = check_probability("eta (clean fraction)", eta)
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
    law_x = first_order_sin_theta_sq(n, d, r, 1.0 / gamma, 1.0 + 1.0 / gamma_t, eta)
    law_xt = first_order_sin_theta_sq(n, d_t, r, 1.0 / gamma_t, 1.0 + 1.0 / gamma, eta)
    return UnfilteredPrediction(
        n=n,
        eta=eta,
        d=d,
        d_t=d_t,
        r=r,
        gamma=gamma,
        gamma_t=gamma_t,
        law_x=law_x,
        law_xt=law_xt,
        err_x_sq=law_x.mean_sq,
        err_xt_sq=law_xt.mean_sq,
        err_x=law_x.mean,
        err_xt=law_xt.mean,
        err=expected_max(law_x, law_xt, 1.0),
        err_sq=expected_max(law_x, law_xt, 2.0),
        n_condition=sample_size_condition(d, d_t, gamma, gamma_t, eta),
    )


# ------------------------------------------------------------- an exact, fast sampler
