r"""The first-order factor F(θ) and the best threshold or kept fraction (our derivation).

See :mod:`linclip.theory.prediction` for the derivation of the factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from .._validate import (
    check_finite_array,
    check_fraction,
    check_int,
    check_positive,
    check_probability,
)
from .filtered_law import kept_moments
from .prediction import _SCORE_METHODS, _TEACHERS, _check_gammas, _step
from .score_law import ScoreLaw

__all__ = [
    "first_order_factor",
    "OptimalKeepFraction",
    "optimal_keep_fractions",
    "optimal_keep_fraction",
    "PhaseDiagram",
    "threshold_phase_diagram",
]


# ---------------------------------------------------------------- the first-order factor
class _FactorTable:
    r"""Component tail quantities of one :math:`(r, \gamma, \tilde\gamma)`, combined for any :math:`\eta`.

    The component integrals do not depend on :math:`\eta`, so a grid of thresholds is
    integrated once and reused for every :math:`\eta`.
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
        return [
            (self.clean.tail_moments(theta + h), self.corrupted.tail_moments(theta + h))
            for h in shifts
        ]

    def _mix(self, eta: float, pair, name: str) -> np.ndarray:
        m1, m0 = pair
        return eta * np.asarray(getattr(m1, name)) + (1.0 - eta) * np.asarray(getattr(m0, name))

    def log_factor(self, eta: float, comps) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\log F` (the larger side for the teacher methods) and the kept fraction."""
        main = comps[0]
        kept = self._mix(eta, main, "prob")
        cross = self._mix(eta, main, "partial_score") / self.r  # E[u_i v_i 1{S > theta}]
        part_v, part_u = self._mix(eta, main, "partial_v2"), self._mix(eta, main, "partial_u2")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sq_x, sq_xt = part_v / cross**2 / self.b, part_u / cross**2 / self.a
            if self.boundary:
                h = _step(self.r)
                shared = 2.0 if self.method == "teacher" else 0.0
                sides = []
                for part, name, nv, partner in (
                    (part_v, "partial_v2", 1 / self.gamma, self.b),
                    (part_u, "partial_u2", 1 / self.gamma_t, self.a),
                ):
                    below, above = self._mix(eta, comps[1], name), self._mix(eta, comps[2], name)
                    slope = (below - above) / (2 * h)
                    lam = nv * slope / cross  # gamma^{-1} kappa / s with kappa = slope / P
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


def first_order_factor(
    theta,
    eta: float,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    method: str = "oracle-score",
):
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
    if i == 0 or i == grid.size - 1 or not np.all(np.isfinite(values[i - 1 : i + 2])):
        return float(grid[i]), float(values[i])
    h = grid[i + 1] - grid[i]
    lo, mid, hi = values[i - 1], values[i], values[i + 1]
    curvature = lo - 2.0 * mid + hi
    if curvature <= 0:
        return float(grid[i]), float(mid)
    shift = 0.5 * h * (lo - hi) / curvature
    return float(grid[i] + shift), float(mid - (lo - hi) ** 2 / (8.0 * curvature))


def _optimum(
    table: _FactorTable,
    eta: float,
    grid: np.ndarray,
    comps,
    q_min: float,
    xatol: float,
    refine: bool,
) -> OptimalKeepFraction:
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

        res = optimize.minimize_scalar(
            objective, bounds=(lo, hi), method="bounded", options={"xatol": xatol}
        )
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
    return OptimalKeepFraction(
        eta=eta,
        r=table.r,
        gamma=table.gamma,
        gamma_t=table.gamma_t,
        method=table.method,
        keep_fraction=q,
        threshold=theta,
        factor=factor,
        gain=eta * factor,
        kept_clean_fraction=clean,
        cross_moment=s,
        second_moment_v=m_v,
    )


def optimal_keep_fractions(
    etas: Iterable[float],
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    method: str = "oracle-score",
    q_min: float = 1e-4,
    points: int = 64,
    refine: bool = True,
    xatol: float = 1e-4,
) -> pd.DataFrame:
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
    rows = [_optimum(table, eta, grid, comps, q_min, xatol, bool(refine)).__dict__ for eta in etas]
    return pd.DataFrame(rows, columns=list(OptimalKeepFraction.__dataclass_fields__))


def optimal_keep_fraction(
    eta: float,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    method: str = "oracle-score",
    q_min: float = 1e-4,
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
    values = {
        k: (int(v) if k == "r" else (str(v) if k == "method" else float(v)))
        for k, v in values.items()
    }
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


def _two_minima_gap(
    table: _FactorTable, eta: float, grid: np.ndarray, comps, q_min: float
) -> tuple[float, float, float]:
    """Log F at the lowest-threshold local minimum minus log F at the highest one (and their q)."""
    lf, kept = table.log_factor(eta, comps)
    lf = np.where(kept >= q_min, lf, np.inf)
    inner = np.flatnonzero((lf[1:-1] < lf[:-2]) & (lf[1:-1] <= lf[2:])) + 1
    if inner.size < 2:
        return math.nan, math.nan, math.nan
    i, j = int(inner[0]), int(inner[-1])
    (ti, vi), (tj, vj) = _vertex(grid, lf, i), _vertex(grid, lf, j)
    return vi - vj, float(np.interp(ti, grid, kept)), float(np.interp(tj, grid, kept))


def threshold_phase_diagram(
    etas: Sequence[float],
    ranks: Sequence[int],
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    method: str = "oracle-score",
    q_min: float = 1e-4,
    points: int = 96,
    eta_min: float = 1e-6,
) -> PhaseDiagram:
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
        change = np.flatnonzero(
            np.isfinite(gaps[:-1])
            & np.isfinite(gaps[1:])
            & (np.sign(gaps[:-1]) != np.sign(gaps[1:]))
        )
        eta_sw = q_below = q_above = math.nan
        if change.size:
            k = int(change[-1])
            eta_sw = math.exp(
                optimize.brentq(
                    lambda le, table=table, grid=grid, comps=comps: _two_minima_gap(
                        table, math.exp(le), grid, comps, q_min
                    )[0],
                    math.log(scan[k]),
                    math.log(scan[k + 1]),
                    xtol=1e-10,
                )
            )
            _, q_below, q_above = _two_minima_gap(table, eta_sw, grid, comps, q_min)
        switches.append(
            dict(r=r, eta_switch=eta_sw, keep_fraction_below=q_below, keep_fraction_above=q_above)
        )
    optima = pd.DataFrame(rows, columns=list(OptimalKeepFraction.__dataclass_fields__))
    return PhaseDiagram(optima=optima, switches=pd.DataFrame(switches))
