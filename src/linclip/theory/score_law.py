r"""The exact law of the oracle score and its tail quantities (brief §5; our derivation).

The oracle score of a pair is :math:`S = x^\top U\tilde U^\top\tilde x = u^\top v` with the
*signal coordinates* :math:`u = U^\top x = z + U^\top\xi` and :math:`v = \tilde U^\top\tilde x
= \tilde z + \tilde U^\top\tilde\xi`. Per latent coordinate :math:`(u_i, v_i)` is a centred
Gaussian pair with variances :math:`a = 1+\gamma^{-1}`, :math:`b = 1+\tilde\gamma^{-1}` and
covariance :math:`c` (:math:`c=1` in the clean law :math:`D_1`, :math:`c=0` in the corrupted
law :math:`D_0`); the :math:`r` coordinates are independent.

With :math:`\rho = c/\sqrt{ab}`, the combinations :math:`p = u/\sqrt a + v/\sqrt b` and
:math:`q = u/\sqrt a - v/\sqrt b` are independent, :math:`N(0, 2(1+\rho))` and
:math:`N(0, 2(1-\rho))`, and :math:`uv = \sqrt{ab}\,(p^2 - q^2)/4`. Summing over coordinates,

.. math:: S = \alpha X - \beta Y, \qquad \alpha = \tfrac{\sqrt{ab}+c}{2},\quad
          \beta = \tfrac{\sqrt{ab}-c}{2}, \qquad X, Y \sim \chi^2_r \text{ independent},

a difference of two scaled :math:`\chi^2_r` variables (a variance-gamma law). For
:math:`\gamma = \tilde\gamma = \infty` and :math:`c = 1` we get :math:`\beta = 0`: the clean law
is the degenerate :math:`\chi^2_r`. Moreover

.. math:: \|u\|^2 = \tfrac a4(\|p\|^2 + \|q\|^2 + 2p^\top q), \qquad
          \|v\|^2 = \tfrac b4(\|p\|^2 + \|q\|^2 - 2p^\top q),

with :math:`\|p\|^2 = 2(1+\rho)X`, :math:`\|q\|^2 = 2(1-\rho)Y`. Given the two norms the
directions of :math:`p` and :math:`q` are independent and uniform, so
:math:`E[p^\top q \mid X, Y] = 0` and every conditional moment given :math:`S > \theta` reduces to
one-dimensional integrals over the law of :math:`Y`, which this module evaluates with adaptive
quadrature. Accuracy: relative error about :math:`10^{-9}` for tail probabilities above
:math:`10^{-12}`.

Notation of the paper: :math:`P_k(\theta) = \Pr_{D_k}(S > \theta)`,
:math:`E_k(\theta) = E_{D_k}[S \mid S > \theta]`, :math:`P(\theta) = \eta P_1 + (1-\eta)P_0`, and
the per-coordinate filtered cross moment
:math:`s(\theta) = (\eta P_1E_1 + (1-\eta)P_0E_0)/(rP)`, so that the filtered population
cross-covariance is :math:`E[x\tilde x^\top \mid S>\theta] = s(\theta)\,U\tilde U^\top`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, special

from .._validate import check_finite_array, check_int, check_probability, check_snr

__all__ = [
    "ScoreLaw",
    "TailMoments",
    "SignalSample",
    "score_density",
    "mixture_density",
    "tail_probability",
    "conditional_mean",
    "sample_signal_coordinates",
]


#: Mass of the law of Y beyond which the quadrature stops (negligible at double precision).
_Y_TAIL_CUTOFF = 1e-18
_QUAD_KW = dict(epsabs=0.0, epsrel=1e-11, limit=200)


def _as_float_or_array(values: np.ndarray):
    """0-d results come back as ``float`` (prints cleanly), others as ndarrays."""
    values = np.asarray(values, dtype=float)
    return float(values) if values.ndim == 0 else values


def _chi2_pdf(x: float, dof: int) -> float:
    r"""Density of :math:`\chi^2_{dof}` at ``x >= 0`` (log-space, no overflow)."""
    if x <= 0:
        return 0.0 if dof > 2 else (0.5 if dof == 2 and x == 0 else (math.inf if x == 0 else 0.0))
    k = dof / 2.0
    return math.exp((k - 1.0) * math.log(x) - x / 2.0 - k * math.log(2.0) - math.lgamma(k))


def _chi2_sf(x: float, dof: int) -> float:
    r"""Survival function of :math:`\chi^2_{dof}` (1 for ``x <= 0``)."""
    return 1.0 if x <= 0 else float(special.chdtrc(dof, x))


def _chi2_cdf(x: float, dof: int) -> float:
    return 0.0 if x <= 0 else float(special.chdtr(dof, x))


#: Above this argument scipy's ``kve`` returns NaN; the asymptotic series is exact to double
#: precision there.
_KVE_ASYMPTOTIC = 1e7


def _log_kve(nu: float, z: np.ndarray) -> np.ndarray:
    r""":math:`\log(K_\nu(z)e^z)` for ``z > 0``, with the large-argument series where needed."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    small = z < _KVE_ASYMPTOTIC
    out[small] = np.log(special.kve(nu, z[small]))
    zb = z[~small]
    m = 4.0 * nu * nu
    series = 1.0 + (m - 1.0) / (8.0 * zb) + (m - 1.0) * (m - 9.0) / (2.0 * (8.0 * zb) ** 2)
    out[~small] = 0.5 * np.log(math.pi / (2.0 * zb)) + np.log(series)
    return out


# --------------------------------------------------------------------------- one component
@dataclass(frozen=True)
class TailMoments:
    r"""Tail quantities of one component law at thresholds :math:`\theta`.

    All attributes are floats (scalar :math:`\theta`) or arrays shaped like :math:`\theta`.

    Attributes
    ----------
    theta : float or ndarray
        Thresholds :math:`\theta` (a pair is kept iff :math:`S > \theta`).
    prob : float or ndarray
        :math:`P_k(\theta) = \Pr(S > \theta)`.
    partial_x, partial_y : float or ndarray
        :math:`E[X\,1\{S>\theta\}]` and :math:`E[Y\,1\{S>\theta\}]` for the two
        :math:`\chi^2_r` variables of :math:`S = \alpha X - \beta Y`.
    partial_score : float or ndarray
        :math:`E[S\,1\{S>\theta\}] = P_k(\theta)E_k(\theta)`.
    partial_u2, partial_v2 : float or ndarray
        :math:`E[u_i^2\,1\{S>\theta\}]` and :math:`E[v_i^2\,1\{S>\theta\}]` for one signal
        coordinate :math:`i` (the same for every :math:`i` by exchangeability).
    """

    theta: float | np.ndarray
    prob: float | np.ndarray
    partial_x: float | np.ndarray
    partial_y: float | np.ndarray
    partial_score: float | np.ndarray
    partial_u2: float | np.ndarray
    partial_v2: float | np.ndarray

    @property
    def conditional_mean(self) -> float | np.ndarray:
        r""":math:`E_k(\theta) = E[S \mid S > \theta]` (NaN where :math:`P_k(\theta)` underflows to 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(
                np.asarray(self.prob) > 0,
                np.asarray(self.partial_score) / np.asarray(self.prob),
                np.nan,
            )
        return _as_float_or_array(out)


@dataclass(frozen=True)
class ScoreLaw:
    r"""Exact law of the oracle score :math:`S` in one mixture component.

    Parameters
    ----------
    r : int
        Rank :math:`r` (number of latent coordinates), ``r >= 1``.
    gamma : float
        Signal-to-noise parameter :math:`\gamma` of the first modality (``inf``: no noise).
    gamma_t : float
        Signal-to-noise parameter :math:`\tilde\gamma` of the second modality.
    clean : bool
        True for the clean law :math:`D_1` (:math:`c = 1`), False for the corrupted law
        :math:`D_0` (:math:`c = 0`).

    Attributes
    ----------
    a, b : float
        Per-coordinate variances :math:`1+\gamma^{-1}` and :math:`1+\tilde\gamma^{-1}`.
    c : float
        Per-coordinate covariance of :math:`(u_i, v_i)`: 1 or 0.
    rho : float
        Correlation :math:`c/\sqrt{ab}`, written :math:`\kappa` in the book (where
        :math:`\rho` is the regulariser only); :attr:`kappa` is the same number.
    alpha, beta : float
        Scales in :math:`S = \alpha X - \beta Y`: :math:`(\sqrt{ab}\pm c)/2`.
    mean, variance : float
        :math:`rc` and :math:`r(ab + c^2)`.
    """

    r: int
    gamma: float = 1e4
    gamma_t: float = 1e4
    clean: bool = True
    a: float = field(init=False)
    b: float = field(init=False)
    c: float = field(init=False)
    rho: float = field(init=False)
    alpha: float = field(init=False)
    beta: float = field(init=False)
    mean: float = field(init=False)
    variance: float = field(init=False)

    @property
    def kappa(self) -> float:
        r"""The correlation :math:`\kappa = c/\sqrt{ab}` (the book's symbol; same as ``rho``)."""
        return self.rho

    def __post_init__(self) -> None:
        r = check_int("r", self.r)
        gamma = check_snr("gamma", self.gamma)
        gamma_t = check_snr("gamma_t", self.gamma_t)
        if not isinstance(self.clean, (bool, np.bool_)):
            raise ValueError(
                f"clean must be True (law D_1) or False (law D_0); got {self.clean!r}"
            )
        a, b = 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t
        c = 1.0 if self.clean else 0.0
        root = math.sqrt(a * b)
        # beta = (sqrt(ab) - c)/2, written without cancellation for c = 1 and large SNR.
        beta = (a * b - 1.0) / (2.0 * (root + 1.0)) if self.clean else root / 2.0
        values = dict(
            r=r,
            gamma=gamma,
            gamma_t=gamma_t,
            clean=bool(self.clean),
            a=a,
            b=b,
            c=c,
            rho=c / root,
            alpha=(root + c) / 2.0,
            beta=beta,
            mean=r * c,
            variance=r * (a * b + c * c),
        )
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def degenerate(self) -> bool:
        r"""True when :math:`\beta = 0` (clean law without noise): :math:`S = \chi^2_r`."""
        return self.beta == 0.0

    # ------------------------------------------------------------------------- density
    def pdf(self, s) -> float | np.ndarray:
        r"""Density of :math:`S` at ``s``.

        For :math:`\beta > 0` the variance-gamma closed form with rates
        :math:`\lambda_1 = 1/(2\alpha)`, :math:`\lambda_2 = 1/(2\beta)`, :math:`k = r/2`,
        :math:`\nu = k - 1/2`, :math:`\mu = \lambda_1 + \lambda_2`:

        .. math:: f(s) = \frac{(\lambda_1\lambda_2)^k}{\Gamma(k)\sqrt\pi}
                  \Big(\frac{|s|}{\mu}\Big)^{\nu} e^{(\lambda_2-\lambda_1)s/2}
                  K_{\nu}\big(\mu|s|/2\big),

        evaluated in log space with the exponentially scaled Bessel function
        :func:`scipy.special.kve`. At :math:`s = 0` the limit is used (infinite for
        :math:`r = 1`). For :math:`\beta = 0`, the density of :math:`\alpha\chi^2_r`.
        """
        s = check_finite_array("s", s)
        if self.degenerate:
            x = s / self.alpha
            out = np.array([_chi2_pdf(float(v), self.r) for v in x.ravel()]).reshape(x.shape)
            return _as_float_or_array(out / self.alpha)
        k = self.r / 2.0
        nu = k - 0.5
        lam1, lam2 = 1.0 / (2.0 * self.alpha), 1.0 / (2.0 * self.beta)
        mu = lam1 + lam2
        log_const = k * math.log(lam1 * lam2) - math.lgamma(k) - 0.5 * math.log(math.pi)
        abs_s = np.abs(s)
        out = np.empty_like(s)
        pos = abs_s > 0
        # (lam2 - lam1) s/2 - mu|s|/2 equals -lam1 s for s > 0 and lam2 s for s < 0.
        expo = np.where(s[pos] > 0, -lam1 * s[pos], lam2 * s[pos])
        out[pos] = np.exp(
            log_const
            + nu * (np.log(abs_s[pos]) - math.log(mu))
            + expo
            + _log_kve(nu, mu * abs_s[pos] / 2.0)
        )
        if nu > 0:  # |s|^nu K_nu(mu|s|/2) -> Gamma(nu) 2^(nu-1) (2/mu)^nu
            at_zero = math.exp(
                log_const
                - nu * math.log(mu)
                + math.lgamma(nu)
                + (nu - 1.0) * math.log(2.0)
                + nu * math.log(2.0 / mu)
            )
        else:
            at_zero = math.inf
        out[~pos] = at_zero
        return _as_float_or_array(out)

    # ------------------------------------------------------------------- tail moments
    def _tail_scalar(self, theta: float) -> tuple[float, float, float]:
        r""":math:`(\Pr(S>\theta), E[X1\{S>\theta\}], E[Y1\{S>\theta\}])` for one threshold."""
        r, alpha, beta = self.r, self.alpha, self.beta
        if self.degenerate:
            t = theta / alpha
            prob = _chi2_sf(t, r)
            return prob, r * _chi2_sf(t, r + 2), r * prob
        # Region A: 0 <= y <= y0 = max(0, -theta/beta), where S > theta whatever X is.
        y0 = max(0.0, -theta / beta)
        prob_a, x_a, y_a = _chi2_cdf(y0, r), r * _chi2_cdf(y0, r), r * _chi2_cdf(y0, r + 2)
        # Region B: y > y0; S > theta iff X > (theta + beta y)/alpha.
        y_max = float(special.chdtri(r + 2, _Y_TAIL_CUTOFF))
        if y_max <= y0:
            return prob_a, x_a, y_a

        def cut(y: float) -> float:
            return (theta + beta * y) / alpha

        if r == 1:
            return self._tail_region_b_r1(theta, y0, y_max, prob_a, x_a, y_a)
        prob_b = integrate.quad(
            lambda y: _chi2_pdf(y, r) * _chi2_sf(cut(y), r), y0, y_max, **_QUAD_KW
        )[0]
        x_b = (
            r
            * integrate.quad(
                lambda y: _chi2_pdf(y, r) * _chi2_sf(cut(y), r + 2), y0, y_max, **_QUAD_KW
            )[0]
        )
        y_b = (
            r
            * integrate.quad(
                lambda y: _chi2_pdf(y, r + 2) * _chi2_sf(cut(y), r), y0, y_max, **_QUAD_KW
            )[0]
        )
        return min(prob_a + prob_b, 1.0), x_a + x_b, y_a + y_b

    def _tail_region_b_r1(
        self, theta: float, y0: float, y_max: float, prob_a: float, x_a: float, y_a: float
    ) -> tuple[float, float, float]:
        r"""Region B of :meth:`_tail_scalar` for :math:`r = 1`, in the variable :math:`u`.

        For :math:`r = 1` the density of :math:`Y \sim \chi^2_1` has a :math:`y^{-1/2}`
        singularity at 0, and :math:`\Pr(\chi^2_1 > t)` a square-root kink at :math:`t = 0`,
        reached at :math:`y = y_0`; adaptive quadrature in :math:`y` then stalls on roundoff
        (scipy's ``IntegrationWarning``). Substituting :math:`y = y_0 + u^2`,
        :math:`dy = 2u\,du`, makes every integrand smooth: :math:`2u\,f_{\chi^2_1}(u^2)` is
        the half-normal density :math:`\sqrt{2/\pi}\,e^{-u^2/2}`, and the cut
        :math:`(\theta + \beta y)/\alpha` becomes :math:`(\max(\theta, 0) + \beta u^2)/\alpha`
        since :math:`\theta + \beta y_0 = \max(\theta, 0)`.
        """
        alpha, beta = self.alpha, self.beta
        base = max(theta, 0.0) if y0 > 0.0 else theta  # theta + beta * y0, exactly

        def jac_pdf(u: float, dof: int) -> float:
            r""":math:`2u\,f_{\chi^2_{dof}}(y_0 + u^2)`, finite at :math:`u = 0`."""
            if y0 > 0.0:
                return 2.0 * u * _chi2_pdf(y0 + u * u, dof)
            k = dof / 2.0  # the chi density of sqrt(Y), in log space
            if u <= 0.0:
                return math.sqrt(2.0 / math.pi) if dof == 1 else 0.0
            return math.exp(
                math.log(2.0) + (dof - 1.0) * math.log(u) - u * u / 2.0
                - k * math.log(2.0) - math.lgamma(k)
            )  # fmt: skip

        def cut(u: float) -> float:
            return (base + beta * u * u) / alpha

        u_max = math.sqrt(y_max - y0)
        prob_b = integrate.quad(
            lambda u: jac_pdf(u, 1) * _chi2_sf(cut(u), 1), 0.0, u_max, **_QUAD_KW
        )[0]
        x_b = integrate.quad(
            lambda u: jac_pdf(u, 1) * _chi2_sf(cut(u), 3), 0.0, u_max, **_QUAD_KW
        )[0]
        y_b = integrate.quad(
            lambda u: jac_pdf(u, 3) * _chi2_sf(cut(u), 1), 0.0, u_max, **_QUAD_KW
        )[0]
        return min(prob_a + prob_b, 1.0), x_a + x_b, y_a + y_b

    def tail_moments(self, theta) -> TailMoments:
        r"""All tail quantities at thresholds :math:`\theta` (scalar or array).

        Uses :math:`E[X\,1\{X>t\}] = r\,\Pr(\chi^2_{r+2} > t)` and one-dimensional adaptive
        quadrature over the law of :math:`Y`.
        """
        theta = check_finite_array("theta", theta)
        flat = np.array([self._tail_scalar(float(t)) for t in theta.ravel()]).reshape(
            theta.shape + (3,)
        )
        prob, px, py = flat[..., 0], flat[..., 1], flat[..., 2]
        rho = self.rho
        both = ((1.0 + rho) * px + (1.0 - rho) * py) / (2.0 * self.r)
        return TailMoments(
            theta=_as_float_or_array(theta),
            prob=_as_float_or_array(prob),
            partial_x=_as_float_or_array(px),
            partial_y=_as_float_or_array(py),
            partial_score=_as_float_or_array(self.alpha * px - self.beta * py),
            partial_u2=_as_float_or_array(self.a * both),
            partial_v2=_as_float_or_array(self.b * both),
        )

    def tail(self, theta) -> float | np.ndarray:
        r""":math:`P_k(\theta) = \Pr(S > \theta)`."""
        return self.tail_moments(theta).prob

    def conditional_mean(self, theta) -> float | np.ndarray:
        r""":math:`E_k(\theta) = E[S \mid S > \theta]`."""
        return self.tail_moments(theta).conditional_mean

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        r"""Draw ``n`` scores as :math:`\alpha X - \beta Y` (for Monte Carlo checks)."""
        n = check_int("n", n, minimum=0)
        rng = np.random.default_rng(rng)
        return self.alpha * rng.chisquare(self.r, n) - self.beta * rng.chisquare(self.r, n)


# --------------------------------------------------------------------------- the mixture
def _laws(r: int, gamma: float, gamma_t: float) -> tuple[ScoreLaw, ScoreLaw]:
    return ScoreLaw(r, gamma, gamma_t, True), ScoreLaw(r, gamma, gamma_t, False)


def score_density(s, r: int, gamma: float = 1e4, gamma_t: float = 1e4, clean: bool = True):
    r"""Density of the oracle score in the clean (:math:`D_1`) or corrupted (:math:`D_0`) law.

    Parameters
    ----------
    s : float or array_like
        Score values.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma` (``inf`` allowed).
    clean : bool
        Component: True for :math:`D_1`, False for :math:`D_0`.
    """
    return ScoreLaw(r, gamma, gamma_t, clean).pdf(s)


def mixture_density(s, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4):
    r"""Density of all scores, :math:`\eta f_1 + (1-\eta) f_0` (:math:`\eta` = clean fraction)."""
    eta = check_probability("eta (clean fraction)", eta)
    clean, corrupted = _laws(r, gamma, gamma_t)
    return _as_float_or_array(
        eta * np.asarray(clean.pdf(s)) + (1.0 - eta) * np.asarray(corrupted.pdf(s))
    )


def tail_probability(theta, r: int, gamma: float = 1e4, gamma_t: float = 1e4, clean: bool = True):
    r""":math:`P_k(\theta) = \Pr_{D_k}(S > \theta)` for :math:`k = 1` (``clean``) or 0."""
    return ScoreLaw(r, gamma, gamma_t, clean).tail(theta)


def conditional_mean(theta, r: int, gamma: float = 1e4, gamma_t: float = 1e4, clean: bool = True):
    r""":math:`E_k(\theta) = E_{D_k}[S \mid S > \theta]` for :math:`k = 1` (``clean``) or 0."""
    return ScoreLaw(r, gamma, gamma_t, clean).conditional_mean(theta)


# ----------------------------------------------------------------------- Monte Carlo helper
@dataclass(frozen=True)
class SignalSample:
    r"""Signal coordinates of ``n`` pairs: :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x`.

    Attributes
    ----------
    u, v : ndarray, shape (n, r)
    clean : ndarray of bool, shape (n,)
    """

    u: np.ndarray
    v: np.ndarray
    clean: np.ndarray

    @property
    def score(self) -> np.ndarray:
        r"""Oracle scores :math:`S_i = u_i^\top v_i`."""
        return np.einsum("ij,ij->i", self.u, self.v)


def sample_signal_coordinates(
    n: int,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    eta: float = 1.0,
    rng: np.random.Generator | int | None = None,
) -> SignalSample:
    r"""Draw the signal coordinates :math:`u = z + U^\top\xi`, :math:`v = \tilde z + \tilde U^\top\tilde\xi` directly.

    By rotation invariance of isotropic noise, :math:`U^\top\xi \sim N(0,\gamma^{-1}I_r)`, so the
    oracle score's law does not depend on :math:`d, \tilde d, U, \tilde U`; this sampler is the
    cheapest way to check the formulas of this module by Monte Carlo.

    Parameters
    ----------
    n : int
        Number of pairs.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    eta : float
        Clean fraction :math:`\eta`.
    rng : Generator or int or None
        Random generator or seed.
    """
    n = check_int("n", n, minimum=0)
    r = check_int("r", r)
    gamma = check_snr("gamma", gamma)
    gamma_t = check_snr("gamma_t", gamma_t)
    eta = check_probability("eta (clean fraction)", eta)
    rng = np.random.default_rng(rng)
    clean = rng.random(n) < eta
    z = rng.standard_normal((n, r))
    zt = rng.standard_normal((n, r))
    zt[clean] = z[clean]
    u = z + math.sqrt(1.0 / gamma) * rng.standard_normal((n, r))
    v = zt + math.sqrt(1.0 / gamma_t) * rng.standard_normal((n, r))
    return SignalSample(u, v, clean)
