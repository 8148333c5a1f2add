r"""Closed forms (sympy) of the oracle score's law for even rank: the only sympy importer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .._validate import check_int, check_positive
from .score_law import _as_float_or_array

__all__ = ["ClosedFormLaw", "even_r_closed_form"]


# ------------------------------------------------------------------ closed forms (even r)
@dataclass(frozen=True)
class ClosedFormLaw:
    r"""Closed forms (sympy) of :math:`S = \alpha X - \beta Y`, :math:`X, Y\sim\chi^2_r`, even :math:`r`.

    Attributes
    ----------
    r : int
        Even rank.
    s, theta, alpha, beta : sympy.Symbol
        Score variable, threshold, and the two (positive) scales.
    density_pos, density_neg : sympy.Expr
        Density on :math:`s > 0` and on :math:`s < 0`.
    tail_pos, tail_neg : sympy.Expr
        :math:`\Pr(S > \theta)` for :math:`\theta \ge 0` and for :math:`\theta < 0`.
    partial_pos, partial_neg : sympy.Expr
        :math:`E[S\,1\{S>\theta\}]` for :math:`\theta \ge 0` and for :math:`\theta < 0`.
    """

    r: int
    s: sp.Symbol
    theta: sp.Symbol
    alpha: sp.Symbol
    beta: sp.Symbol
    density_pos: sp.Expr
    density_neg: sp.Expr
    tail_pos: sp.Expr
    tail_neg: sp.Expr
    partial_pos: sp.Expr
    partial_neg: sp.Expr

    @property
    def density(self) -> sp.Expr:
        """The density as one ``Piecewise`` in ``s``."""
        return sp.Piecewise((self.density_pos, self.s >= 0), (self.density_neg, True))

    @property
    def tail(self) -> sp.Expr:
        r""":math:`P(\theta) = \Pr(S>\theta)` as one ``Piecewise`` in ``theta``."""
        return sp.Piecewise((self.tail_pos, self.theta >= 0), (self.tail_neg, True))

    @property
    def conditional_mean(self) -> sp.Expr:
        r""":math:`E[S\mid S>\theta]` as one ``Piecewise`` in ``theta``."""
        return sp.Piecewise(
            (self.partial_pos / self.tail_pos, self.theta >= 0),
            (self.partial_neg / self.tail_neg, True),
        )

    def numeric(self, which: str, alpha: float, beta: float):
        """A NumPy function of one array argument for ``which`` in {'density', 'tail', 'conditional_mean'}.

        The two branches are evaluated only where they apply, so no overflow warnings arise
        from the branch that does not.
        """
        if which not in ("density", "tail", "conditional_mean"):
            raise ValueError(
                f"which must be 'density', 'tail' or 'conditional_mean'; got {which!r}"
            )
        alpha = check_positive("alpha", alpha)
        beta = check_positive("beta", beta)
        values = {self.alpha: alpha, self.beta: beta}
        if which == "density":
            var, pos, neg = self.s, self.density_pos, self.density_neg
        elif which == "tail":
            var, pos, neg = self.theta, self.tail_pos, self.tail_neg
        else:
            var = self.theta
            pos, neg = self.partial_pos / self.tail_pos, self.partial_neg / self.tail_neg
        f_pos = sp.lambdify(var, pos.subs(values), "numpy")
        f_neg = sp.lambdify(var, neg.subs(values), "numpy")

        def evaluate(x):
            x = np.asarray(x, dtype=float)
            out = np.empty_like(x)
            right = x >= 0
            out[right] = f_pos(x[right])
            out[~right] = f_neg(x[~right])
            return _as_float_or_array(out)

        return evaluate


def _upper_integral(poly: sp.Expr, var: sp.Symbol, lam: sp.Expr, lower: sp.Expr) -> sp.Expr:
    r""":math:`\int_{lower}^\infty p(t)e^{-\lambda t}dt` for a polynomial :math:`p`, :math:`lower \ge 0`.

    Uses :math:`\int_\ell^\infty t^j e^{-\lambda t}dt = \frac{j!}{\lambda^{j+1}} e^{-\lambda\ell}
    \sum_{m\le j}\frac{(\lambda\ell)^m}{m!}` term by term (fast and exact).
    """
    total = sp.Integer(0)
    for (j,), coeff in sp.Poly(sp.expand(poly), var).terms():
        series = sum((lam * lower) ** m / sp.factorial(m) for m in range(j + 1))
        total += coeff * sp.factorial(j) / lam ** (j + 1) * sp.exp(-lam * lower) * series
    return total


def even_r_closed_form(r: int) -> ClosedFormLaw:
    r"""Closed forms of the density, tail and partial mean of :math:`S = \alpha X - \beta Y` for even :math:`r`.

    For even :math:`r = 2k`, :math:`\alpha X \sim \mathrm{Gamma}(k, \text{rate } \lambda_1 = 1/(2\alpha))`
    has an elementary (Erlang) density, so the convolution
    :math:`f(s) = \int_0^\infty f_{\alpha X}(s + y)f_{\beta Y}(y)\,dy` (for :math:`s>0`) is a
    polynomial times :math:`e^{-\lambda_1 s}`, and symmetrically for :math:`s<0` with
    :math:`e^{\lambda_2 s}`. Tails and partial means follow term by term.

    Parameters
    ----------
    r : int
        Even rank :math:`r \ge 2`.
    """
    r = check_int("r", r, minimum=2)
    if r % 2:
        raise ValueError(f"r must be even for the elementary closed form; got r = {r}")
    k = r // 2
    s, theta = sp.symbols("s theta", real=True)
    alpha, beta = sp.symbols("alpha beta", positive=True)
    y, t = sp.symbols("y t", positive=True)
    lam1, lam2 = 1 / (2 * alpha), 1 / (2 * beta)

    # Convolution: for s > 0, f(s) = int_0^oo f_{alpha X}(s + y) f_{beta Y}(y) dy, and for s < 0,
    # f(s) = int_0^oo f_{alpha X}(y) f_{beta Y}(|s| + y) dy. Both reduce to the same polynomial
    # Q(t) = C int_0^oo (t + y)^(k-1) y^(k-1) e^(-mu y) dy with t = |s|, mu = lam1 + lam2, times
    # e^(-lam1 s) (s > 0) or e^(lam2 s) (s < 0).
    const = (lam1 * lam2) ** k / sp.factorial(k - 1) ** 2
    poly = sp.expand(
        const
        * _upper_integral(
            sp.expand((t + y) ** (k - 1) * y ** (k - 1)), y, lam1 + lam2, sp.Integer(0)
        )
    )
    poly_pos = poly_neg = poly
    density_pos = (poly_pos * sp.exp(-lam1 * t)).subs(t, s)
    density_neg = (poly_neg * sp.exp(-lam2 * t)).subs(t, -s)
    mean = r * (alpha - beta)
    tail_pos = _upper_integral(poly_pos, t, lam1, theta)
    partial_pos = _upper_integral(sp.expand(t * poly_pos), t, lam1, theta)
    # theta < 0: Pr(S > theta) = 1 - Pr(-S > -theta) and
    # E[S 1{S>theta}] = E[S] + E[(-S) 1{-S >= -theta}].
    tail_neg = 1 - _upper_integral(poly_neg, t, lam2, -theta)
    partial_neg = mean + _upper_integral(sp.expand(t * poly_neg), t, lam2, -theta)
    return ClosedFormLaw(
        r=r,
        s=s,
        theta=theta,
        alpha=alpha,
        beta=beta,
        density_pos=density_pos,
        density_neg=density_neg,
        tail_pos=tail_pos,
        tail_neg=tail_neg,
        partial_pos=partial_pos,
        partial_neg=partial_neg,
    )
