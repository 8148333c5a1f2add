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

The module also has an exact sampler of :math:`S_n` (:func:`sample_cross_covariance`) whose cost
does not grow with :math:`n`; it lets the book check the predictions up to the paper's
:math:`n = 10^7` in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import integrate, special

from ._validate import check_int, check_positive, check_probability
from .model import BimodalModel
from .theory import sample_size_condition

__all__ = [
    "ChiLaw",
    "first_order_sin_theta_sq",
    "expected_max",
    "UnfilteredPrediction",
    "predict_unfiltered",
    "sample_cross_covariance",
    "simulate_unfiltered_errors",
    "compare_unfiltered",
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
        if isinstance(scale, bool) or not isinstance(scale, Real) or not math.isfinite(scale) \
                or scale < 0:
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
    ok = (not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
          and (value >= lower if inclusive else value > lower))
    if not ok:
        op = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be a finite real number {op} {lower:g}; got {value!r}")
    return float(value)


def first_order_sin_theta_sq(n_eff: float, ambient_dim: int, r: int, noise_var: float,
                             partner_second_moment: float,
                             signal_cross_moment: float) -> ChiLaw:
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
    ambient_dim = check_int("ambient_dim", ambient_dim, minimum=r,
                            what=f" at least r = {r}")
    noise_var = _check_real_above("noise_var (1/gamma)", noise_var, 0.0, inclusive=True)
    partner_second_moment = check_positive("partner_second_moment", partner_second_moment)
    signal_cross_moment = check_positive("signal_cross_moment (s, eta without filtering)",
                                         signal_cross_moment)
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
    upper = max(math.sqrt(2 * law.scale * special.gammainccinv(law.dof / 2, 1e-15))
                for law in (a, b))

    def integrand(t: float) -> float:
        return power * t ** (power - 1) * (1.0 - float(a.cdf(t)) * float(b.cdf(t)))

    value, _ = integrate.quad(integrand, 0.0, upper, points=[a.mean, b.mean], limit=200,
                              epsabs=1e-13, epsrel=1e-10)
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
        """:math:`n / n_{\\rm condition}`; the prediction is reliable when this is well above 1."""
        return self.n / self.n_condition

    @property
    def perturbation_to_gap(self) -> float:
        r"""Rough size of the noise in :math:`S_n` relative to the gap :math:`\eta`.

        :math:`\sqrt{\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}\,/\,\eta
        = (n_{\rm condition}/n)^{1/2}`; first-order theory needs it small.
        """
        return math.sqrt(self.n_condition / self.n)


def predict_unfiltered(n: int, eta: float, d: int, d_t: int, r: int, gamma: float,
                       gamma_t: float) -> UnfilteredPrediction:
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
    gamma = check_positive("gamma", gamma, allow_inf=True)
    gamma_t = check_positive("gamma_t", gamma_t, allow_inf=True)
    law_x = first_order_sin_theta_sq(n, d, r, 1.0 / gamma, 1.0 + 1.0 / gamma_t, eta)
    law_xt = first_order_sin_theta_sq(n, d_t, r, 1.0 / gamma_t, 1.0 + 1.0 / gamma, eta)
    return UnfilteredPrediction(
        n=n, eta=eta, d=d, d_t=d_t, r=r, gamma=gamma, gamma_t=gamma_t,
        law_x=law_x, law_xt=law_xt,
        err_x_sq=law_x.mean_sq, err_xt_sq=law_xt.mean_sq,
        err_x=law_x.mean, err_xt=law_xt.mean,
        err=expected_max(law_x, law_xt, 1.0), err_sq=expected_max(law_x, law_xt, 2.0),
        n_condition=sample_size_condition(d, d_t, gamma, gamma_t, eta))


# ------------------------------------------------------------- an exact, fast sampler
#: Draws generated together by the sampler (bounds the memory of the Bartlett triangles).
_BATCH = 500


def _component_factors(model: BimodalModel) -> tuple[np.ndarray, np.ndarray]:
    r"""Factors :math:`L_c` with :math:`w = L_c g`, :math:`g \sim N(0, I)`, for the two components.

    Clean: :math:`w = (Uz + \sigma\xi, \tilde U z + \tilde\sigma\tilde\xi)`; corrupted: the same
    with an independent :math:`\tilde z`. Built from the model's structure (not from an
    eigendecomposition), so a noiseless modality stays exactly inside its signal subspace.
    """
    d, d_t, r = model.d, model.d_t, model.r
    zeros = np.zeros
    noise = []
    if model.noise_var > 0:
        noise.append(np.vstack([math.sqrt(model.noise_var) * np.eye(d), zeros((d_t, d))]))
    if model.noise_var_t > 0:
        noise.append(np.vstack([zeros((d, d_t)), math.sqrt(model.noise_var_t) * np.eye(d_t)]))
    shared = np.vstack([model.U, model.U_t])
    separate = np.block([[model.U, zeros((d, r))], [zeros((d_t, r)), model.U_t]])
    return np.hstack([shared, *noise]), np.hstack([separate, *noise])


def _wishart_roots(q: int, dof: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stack of Bartlett triangles R with R R^T ~ Wishart(I_q, dof[t]); needs every dof >= q."""
    roots = np.zeros((dof.size, q, q))
    below = np.tril_indices(q, -1)
    roots[:, below[0], below[1]] = rng.standard_normal((dof.size, below[0].size))
    idx = np.arange(q)
    roots[:, idx, idx] = np.sqrt(rng.chisquare(dof[:, None] - idx[None, :]))
    return roots


def _centred_cross_scatter(factors: tuple[np.ndarray, np.ndarray], d: int, n: int, eta: float,
                           size: int, rng: np.random.Generator) -> np.ndarray:
    r"""``size`` draws of the cross block :math:`\sum_i (x_i-\bar x)(\tilde x_i-\bar{\tilde x})^\top`.

    Given the clean count :math:`m`, the within-group centred scatters are :math:`L_c W L_c^\top`
    with independent standard Wisharts :math:`W` of :math:`m-1` and :math:`n-m-1` degrees of
    freedom, and the between-group term is :math:`\frac{m(n-m)}{n}\delta\delta^\top` with
    :math:`\delta = \bar w_1 - \bar w_0 \sim N(0, \Sigma_1/m + \Sigma_0/(n-m))`.
    Returns an array of shape ``(size, d, d_t)``.
    """
    m = rng.binomial(n, eta, size=size)
    f1, f0 = factors
    cross = np.zeros((size, d, f1.shape[0] - d))
    for f, k in ((f1, m), (f0, n - m)):
        q, dof = f.shape[1], k - 1
        big = dof >= q
        if np.any(big):                      # the usual case: Bartlett, all trials at once
            half = f @ _wishart_roots(q, dof[big], rng)
            cross[big] += half[:, :d] @ half[:, d:].transpose(0, 2, 1)
        for t in np.flatnonzero((dof >= 1) & ~big):   # tiny groups: W = Z Z^T directly
            half = f @ rng.standard_normal((q, dof[t]))
            cross[t] += half[:d] @ half[d:].T
    weight = m * (n - m) / n                 # zero when one group is empty
    g1 = rng.standard_normal((size, f1.shape[1])) @ f1.T / np.sqrt(np.maximum(m, 1))[:, None]
    g0 = rng.standard_normal((size, f0.shape[1])) @ f0.T / np.sqrt(np.maximum(n - m, 1))[:, None]
    diff = g1 - g0
    cross += weight[:, None, None] * diff[:, :d, None] * diff[:, None, d:]
    return cross


def sample_cross_covariance(model: BimodalModel, n: int,
                            rng: np.random.Generator | int | None = None,
                            size: int | None = None) -> np.ndarray:
    r"""Draw :math:`S_n` from its exact law without generating the :math:`n` pairs.

    Given the clean count :math:`m \sim \mathrm{Binomial}(n, \eta)`, the centred scatter matrix
    of the stacked pairs :math:`w = (x, \tilde x)` splits into the within-group scatters,
    independent :math:`\mathrm{Wishart}(\Sigma_1, m-1)` and
    :math:`\mathrm{Wishart}(\Sigma_0, n-m-1)`, plus the between-group term
    :math:`\frac{m(n-m)}{n}(\bar w_1-\bar w_0)(\bar w_1-\bar w_0)^\top` with
    :math:`\bar w_1 - \bar w_0 \sim N(0, \Sigma_1/m + \Sigma_0/(n-m))`, all independent.
    :math:`S_n` is its cross block divided by :math:`n-1`. The cost is
    :math:`O((d+\tilde d)^3)` per draw, independent of :math:`n`.

    Parameters
    ----------
    model : BimodalModel
        The data model (its ``U``, ``U_t`` and :math:`\eta` are used).
    n : int
        Number of pairs :math:`n \ge 2`.
    rng : Generator or int or None
        Randomness.
    size : int or None
        Number of independent draws; ``None`` for a single matrix.

    Returns
    -------
    ndarray, shape (d, d_t), or (size, d, d_t) if ``size`` is given
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int("n", n, minimum=2)
    count = 1 if size is None else check_int("size", size)
    rng = np.random.default_rng(rng)
    factors = _component_factors(model)
    cross = np.concatenate([
        _centred_cross_scatter(factors, model.d, n, model.eta, min(_BATCH, count - start), rng)
        for start in range(0, count, _BATCH)]) / (n - 1)
    return cross[0] if size is None else cross


def _side_errors(S: np.ndarray, U: np.ndarray, U_t: np.ndarray,
                 r: int) -> tuple[np.ndarray, np.ndarray]:
    """||sin Theta||_F of the top-r left/right singular subspaces of a stack S against U, U_t."""
    P, _, Qt = np.linalg.svd(S, full_matrices=False)
    P, Q = P[..., :r], Qt[..., :r, :].swapaxes(-1, -2)
    res_x = P - U @ (U.T @ P)
    res_xt = Q - U_t @ (U_t.T @ Q)
    return np.sqrt((res_x**2).sum(axis=(-2, -1))), np.sqrt((res_xt**2).sum(axis=(-2, -1)))


def simulate_unfiltered_errors(model: BimodalModel, n: int, trials: int, seed: int = 0,
                               batch: int = _BATCH) -> pd.DataFrame:
    r"""ERR of the unfiltered learner over ``trials`` exact draws of :math:`S_n`.

    Uses the sampler of :func:`sample_cross_covariance`, so the cost does not grow with
    :math:`n`. The learned subspaces are the top-:math:`r` singular subspaces of :math:`S_n`
    (as for :func:`linclip.learner.closed_form_encoders`); the bases are the model's
    :math:`U, \tilde U` (ERR's law does not depend on them).

    Parameters
    ----------
    model : BimodalModel
        The data model with its clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n \ge r+1`.
    trials : int
        Number of independent draws.
    seed : int
        Root seed; the draws depend only on ``(seed, n, eta, trials, batch)``.
    batch : int
        Draws generated together (memory ``batch * (2r + d + d_t)**2`` floats).

    Returns
    -------
    pandas.DataFrame
        Columns ``trial, err, err_x, err_xt`` (one row per draw).
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int("n", n, minimum=model.r + 1, what=f" (at least r + 1 = {model.r + 1} pairs)")
    trials = check_int("trials", trials)
    seed = check_int("seed", seed, minimum=0)
    batch = check_int("batch", batch)
    rng = np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(n, int(round(model.eta * 10**12)))))
    factors = _component_factors(model)
    parts_x, parts_xt = [], []
    for start in range(0, trials, batch):
        size = min(batch, trials - start)
        S = _centred_cross_scatter(factors, model.d, n, model.eta, size, rng) / (n - 1)
        err_x, err_xt = _side_errors(S, model.U, model.U_t, model.r)
        parts_x.append(err_x)
        parts_xt.append(err_xt)
    err_x, err_xt = np.concatenate(parts_x), np.concatenate(parts_xt)
    return pd.DataFrame({"trial": np.arange(trials), "err": np.maximum(err_x, err_xt),
                         "err_x": err_x, "err_xt": err_xt})


def compare_unfiltered(model: BimodalModel, n: int | Iterable[int], trials: int,
                       seed: int = 0) -> pd.DataFrame:
    r"""Predicted versus simulated error of the unfiltered learner, one row per :math:`n`.

    Simulations use :func:`simulate_unfiltered_errors` (exact in law, cost independent of
    :math:`n`); predictions use :func:`predict_unfiltered`.

    Parameters
    ----------
    model : BimodalModel
        Dimensions, noise levels and clean fraction :math:`\eta`.
    n : int or iterable of int
        Sample sizes :math:`n \ge r + 1`.
    trials : int
        Simulated draws per sample size.
    seed : int
        Root seed (see :func:`simulate_unfiltered_errors`).

    Returns
    -------
    pandas.DataFrame
        Columns ``d, d_t, r, gamma, gamma_t, eta, n, n_over_condition`` and, for
        ``q`` in ``err, err_x, err_xt``: ``q_sim`` (mean over trials), ``q_sem`` (its standard
        error), ``q_pred``, and ``ratio = err_sim / err_pred``; ``err_sq_sim``, ``err_sq_pred``
        and ``ratio_sq`` for :math:`E[\mathrm{ERR}^2]`.
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    rows = []
    for size in np.atleast_1d(n).tolist():
        pred = predict_unfiltered(size, model.eta, model.d, model.d_t, model.r, model.gamma,
                                  model.gamma_t)
        sim = simulate_unfiltered_errors(model, size, trials, seed)
        row = dict(d=model.d, d_t=model.d_t, r=model.r, gamma=model.gamma,
                   gamma_t=model.gamma_t, eta=model.eta, n=pred.n,
                   n_over_condition=pred.n_over_condition)
        for q in ("err", "err_x", "err_xt"):
            row[f"{q}_sim"] = float(sim[q].mean())
            row[f"{q}_sem"] = float(sim[q].std(ddof=1) / math.sqrt(trials)) if trials > 1 \
                else math.nan
            row[f"{q}_pred"] = getattr(pred, q)
        row["err_sq_sim"] = float(np.mean(sim["err"] ** 2))
        row["err_sq_pred"] = pred.err_sq
        rows.append(row)
    out = pd.DataFrame(rows)
    out["ratio"] = out["err_sim"] / out["err_pred"]
    out["ratio_sq"] = out["err_sq_sim"] / out["err_sq_pred"]
    return out
