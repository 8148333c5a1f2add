r"""Rates of the unfiltered learner: slope fits, breakdown points and the bounds' anatomy.

Companion of the part *Learning without filtering*:

* :func:`fit_rate` fits :math:`\mathrm{ERR} \propto x^b` on a window of a sweep, optionally
  weighted by the Monte Carlo standard errors;
* :func:`locate_breakdown` finds where a sweep leaves a reference power law (e.g. the
  :math:`1/\eta` line when the sample-size condition fails);
* :func:`wedin_chain_bound` is Corollary 1's proof chain with the *realised* perturbation;
* :func:`perturbation_anatomy` runs unfiltered trials (the same pairs as
  :func:`linclip.experiments.run_grid`) and records :math:`\|S_n - \eta U\tilde U^\top\|_2`,
  the part of it that rotates the subspaces, and both forms of Wedin's bound;
* :func:`proposition1_instance`, :func:`rank1_sine_decomposition` and
  :func:`proposition1_anatomy` implement Proposition 1's hard instance (:math:`r = 1`,
  noiseless :math:`\tilde x`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ._validate import check_finite_array, check_int, check_positive, check_probability
from .experiments import trial_seed
from .learner import cross_covariance
from .model import BimodalModel, StreamingSample
from .perturbation import wedin_bound
from .plotting import SlopeFit, fit_loglog_slope
from .theory import corollary1_rate, snr_factor

__all__ = [
    "fit_rate",
    "mean_sem",
    "Breakdown",
    "locate_breakdown",
    "wedin_chain_bound",
    "trial_pairs",
    "perturbation_anatomy",
    "proposition1_instance",
    "Rank1Sine",
    "rank1_sine_decomposition",
    "proposition1_anatomy",
]


# ------------------------------------------------------------------------------ slope fits
def _window(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    keep = np.ones(x.shape, dtype=bool)
    if lo is not None:
        keep &= x >= lo
    if hi is not None:
        keep &= x <= hi
    return keep


def fit_rate(x, y, *, y_sem=None, lo: float | None = None, hi: float | None = None) -> SlopeFit:
    r"""Fit :math:`y \propto x^b` on the points with ``lo <= x <= hi``.

    Parameters
    ----------
    x : array_like
        Sweep variable (:math:`n` or :math:`\eta`), positive.
    y : array_like
        Mean error at each ``x``, positive.
    y_sem : array_like, optional
        Standard errors of ``y``. If given, the fit is weighted least squares on
        :math:`\log y` with standard deviations :math:`\mathrm{sem}/y` (delta method), and the
        slope's standard error is the weighted one, inflated by
        :math:`\sqrt{\chi^2/(k-2)}` when that exceeds one (a curve that is not a power law
        gets an honest, larger uncertainty). Without ``y_sem`` this is
        :func:`linclip.plotting.fit_loglog_slope` on the window.
    lo, hi : float, optional
        Window of ``x`` values used.

    Returns
    -------
    SlopeFit
        ``slope``, ``intercept`` (natural log) and ``slope_stderr``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length; got shapes {x.shape}, {y.shape}")
    keep = _window(x, lo, hi)
    if int(keep.sum()) < 3:
        raise ValueError(f"the window [{lo}, {hi}] holds {int(keep.sum())} points; a slope "
                         "with an uncertainty needs at least 3")
    if y_sem is None:
        return fit_loglog_slope(x[keep], y[keep])
    sem = np.asarray(y_sem, dtype=float)
    if sem.shape != x.shape:
        raise ValueError(f"y_sem must have the shape of y {y.shape}; got {sem.shape}")
    x, y, sem = x[keep], y[keep], sem[keep]
    if np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(x * y)):
        raise ValueError("x and y must be positive and finite for a log-log fit")
    if np.any(~np.isfinite(sem)) or np.any(sem <= 0):
        raise ValueError("y_sem must be positive and finite (one trial gives no standard error)")
    w = (y / sem) ** 2
    X = np.column_stack([np.ones_like(x), np.log(x)])
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = cov @ X.T @ (w * np.log(y))
    resid = np.log(y) - X @ beta
    chi2_red = float(np.sum(w * resid**2) / (x.size - 2)) if x.size > 2 else 1.0
    stderr = math.sqrt(cov[1, 1] * max(1.0, chi2_red))
    return SlopeFit(float(beta[1]), float(beta[0]), stderr)


def mean_sem(frame: pd.DataFrame, by, columns) -> pd.DataFrame:
    """Mean and standard error of the mean of ``columns`` per group of ``by``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per trial (e.g. from :func:`perturbation_anatomy`).
    by : str or sequence of str
        Grouping columns (e.g. ``["gamma", "eta"]``).
    columns : sequence of str
        Columns to summarise; the output has ``<col>_mean`` and ``<col>_sem`` for each, and
        ``trials`` (the group size).

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by the grouping columns.
    """
    by = [by] if isinstance(by, str) else list(by)
    columns = list(columns)
    missing = [c for c in by + columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; available: {list(frame.columns)}")
    grouped = frame.groupby(by, sort=True)
    spec = {f"{c}_{stat}": (c, stat) for c in columns for stat in ("mean", "sem")}
    out = grouped.agg(**spec, trials=(columns[0], "size")).reset_index()
    return out


@dataclass(frozen=True)
class Breakdown:
    r"""Where a sweep leaves a reference power law :math:`y_{ref} = e^{a} x^{b}`.

    Attributes
    ----------
    x_break : float
        Interpolated (in :math:`\log x`) point where :math:`|\log(y/y_{ref})|` first reaches
        :math:`\log(1+\text{tol})`, scanning from the largest ``x`` down; NaN if it never does.
    x_last_on : float
        Smallest ``x`` (of the scan) still on the line, NaN if none.
    x_first_off : float
        Largest ``x`` off the line, NaN if none.
    direction : str
        ``"above"`` or ``"below"`` the line at ``x_first_off``, or ``""``.
    slope, intercept : float
        Reference line :math:`b` (given) and :math:`a` (fitted on ``x >= fit_min``).
    x, log_ratio : ndarray
        The sweep (ascending) and :math:`\log(y/y_{ref})` at each point.
    """

    x_break: float
    x_last_on: float
    x_first_off: float
    direction: str
    slope: float
    intercept: float
    x: np.ndarray
    log_ratio: np.ndarray

    def reference(self, x) -> np.ndarray:
        """The reference line evaluated at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def locate_breakdown(x, y, *, slope: float, fit_min: float, tol: float = 0.25) -> Breakdown:
    r"""Locate where :math:`y(x)` departs from the line :math:`y \propto x^{\text{slope}}`.

    The line's level is fitted (slope fixed) on the points with ``x >= fit_min``. Scanning
    from the largest ``x`` downwards, the first point whose ratio to the line lies outside
    :math:`[1/(1+\text{tol}), 1+\text{tol}]` is *off*; the breakdown point is interpolated
    between it and its on-line neighbour.

    Parameters
    ----------
    x, y : array_like
        Sweep (e.g. :math:`\eta`) and mean error, positive.
    slope : float
        Reference slope (:math:`-1` for the :math:`1/\eta` line).
    fit_min : float
        Points with ``x >= fit_min`` fix the line's level (at least one is needed).
    tol : float
        Relative departure that counts as leaving the line (default 25%).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length; got shapes {x.shape}, {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(x * y)):
        raise ValueError("x and y must be positive and finite")
    tol = check_positive("tol", tol)
    order = np.argsort(x)
    x, y = x[order], y[order]
    fit = x >= fit_min
    if not np.any(fit):
        raise ValueError(f"no point has x >= fit_min = {fit_min}; the line's level needs one")
    intercept = float(np.mean(np.log(y[fit]) - slope * np.log(x[fit])))
    log_ratio = np.log(y) - intercept - slope * np.log(x)
    level = math.log1p(tol)
    off = np.abs(log_ratio) > level
    nan = math.nan
    if not np.any(off):
        return Breakdown(nan, float(x[0]), nan, "", float(slope), intercept, x, log_ratio)
    k = int(np.flatnonzero(off)[-1])  # largest x that is off the line
    direction = "above" if log_ratio[k] > 0 else "below"
    if k == x.size - 1:
        return Breakdown(float(x[k]), nan, float(x[k]), direction, float(slope), intercept,
                         x, log_ratio)
    a, b = abs(log_ratio[k]), abs(log_ratio[k + 1])
    frac = (a - level) / (a - b) if a != b else 0.0
    x_break = float(np.exp(np.log(x[k]) + frac * (np.log(x[k + 1]) - np.log(x[k]))))
    return Breakdown(x_break, float(x[k + 1]), float(x[k]), direction, float(slope), intercept,
                     x, log_ratio)


def wedin_chain_bound(delta, eta, r: int):
    r"""Corollary 1's proof chain with a given perturbation size.

    With :math:`\Delta = \|S_n - \eta U\tilde U^\top\|_2`, Weyl and Wedin give
    :math:`\mathrm{ERR} \le \sqrt r\,\Delta/(\eta - \Delta)` when :math:`\Delta < \eta`
    (``inf`` otherwise); under :math:`\Delta \le \eta/2` this is at most
    :math:`2\sqrt r\,\Delta/\eta`.

    Parameters
    ----------
    delta : array_like
        :math:`\Delta \ge 0`.
    eta : array_like
        Clean fraction :math:`\eta \in (0, 1]` (the gap :math:`\sigma_r(\eta U\tilde U^\top)`).
    r : int
        Rank :math:`r`.
    """
    r = check_int("r", r)
    delta = np.asarray(delta, dtype=float)
    eta = np.asarray(eta, dtype=float)
    if np.any(delta < 0) or np.any(eta <= 0) or np.any(eta > 1):
        raise ValueError("delta must be >= 0 and eta in (0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(delta < eta, math.sqrt(r) * delta / (eta - delta), np.inf)
    return out if out.ndim else float(out)


# ------------------------------------------------------------------- trials with internals
def trial_pairs(model: BimodalModel, n: int, trial: int, seed: int = 0
                ) -> tuple[BimodalModel, np.ndarray, np.ndarray]:
    """The pairs (and the model with its per-trial bases) that
    :func:`linclip.experiments.run_grid` uses for trial ``trial`` at ``(n, model.eta)``.

    Returns
    -------
    model : BimodalModel
        ``model`` with the trial's freshly drawn bases :math:`U, \\tilde U`.
    x, xt : ndarray, shapes (n, d) and (n, d_t)
    """
    n = check_int("n", n, minimum=2)
    trial = check_int("trial", trial, minimum=0)
    ss = trial_seed(seed, n, model.eta, trial)
    basis_ss, data_ss = ss.spawn(2)
    model = replace(model, basis_seed=int(basis_ss.generate_state(1)[0]))
    chunks = list(StreamingSample(model, n, data_ss, chunk_size=min(200_000, n)).chunks())
    return model, np.concatenate([c.x for c in chunks]), np.concatenate([c.xt for c in chunks])


def perturbation_anatomy(model: BimodalModel, n: int, trials: int, seed: int = 0
                         ) -> pd.DataFrame:
    r"""Unfiltered trials with the internals of Corollary 1's proof.

    For each trial (same pairs as :func:`linclip.experiments.run_grid` with the same ``seed``),
    :math:`E = S_n - \eta U\tilde U^\top` is fed to :func:`linclip.perturbation.wedin_bound`.

    Parameters
    ----------
    model : BimodalModel
        Dimensions, noise :math:`\gamma, \tilde\gamma` and clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n`.
    trials : int
        Number of trials.
    seed : int
        Root seed (as in ``run_grid``).

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``eta, n, gamma, gamma_t, trial``, ``err`` (the learner's ERR),
        ``E_norm`` (:math:`\Delta`), ``residual`` (the rotating part of :math:`E`),
        ``wedin_residual`` and ``wedin_apriori`` (the two forms of Wedin's bound, the latter
        :math:`\sqrt r\Delta/(\eta-\Delta)`), ``conc_scale``
        (:math:`\sqrt{\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}`) and
        ``cor1`` (Corollary 1's shape, constants set to one).
    """
    trials = check_int("trials", trials)
    D = max(model.d, model.d_t)
    kappa = snr_factor(model.gamma, model.gamma_t)
    rows = []
    for t in range(trials):
        m, x, xt = trial_pairs(model, n, t, seed)
        A = m.cross_covariance()
        chk = wedin_bound(A, cross_covariance(x, xt) - A, m.r)
        rows.append(dict(eta=m.eta, n=n, gamma=m.gamma, gamma_t=m.gamma_t, trial=t,
                         err=chk.sin_theta, E_norm=chk.E_norm, residual=chk.residual,
                         wedin_residual=chk.residual_bound,
                         wedin_apriori=wedin_chain_bound(chk.E_norm, m.eta, m.r),
                         conc_scale=math.sqrt(D * kappa / n),
                         cor1=float(corollary1_rate(n, m.eta, m.d, m.d_t, m.r, m.gamma,
                                                    m.gamma_t))))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ Proposition 1's instance
def proposition1_instance(d: int, gamma: float, eta: float, d_t: int = 1,
                          basis_seed: int = 0) -> BimodalModel:
    r"""Proposition 1's hard instance: :math:`r = 1`, noiseless :math:`\tilde x`, finite :math:`\gamma`.

    Parameters
    ----------
    d : int
        Dimension :math:`d \ge 2` of the noisy modality :math:`x`.
    gamma : float
        Its signal-to-noise parameter :math:`\gamma` (finite: the noise is what the lower
        bound is made of).
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    d_t : int
        Dimension :math:`\tilde d` of :math:`\tilde x = \tilde u\tilde z`; it does not affect
        the error (the right singular vector of :math:`S_n` is exactly :math:`\tilde u`).
    basis_seed : int
        Seed of :math:`u, \tilde u`.

    Returns
    -------
    BimodalModel
        With ``r = 1`` and ``gamma_t = inf``.
    """
    d = check_int("d", d, minimum=2, what=" (the noise needs a direction orthogonal to u)")
    gamma = check_positive("gamma", gamma)
    eta = check_probability("eta (clean fraction)", eta)
    return BimodalModel(d=d, d_t=d_t, r=1, gamma=gamma, gamma_t=math.inf, eta=eta,
                        basis_seed=basis_seed)


@dataclass(frozen=True)
class Rank1Sine:
    r"""The sine of the learned angle for a rank-one :math:`S_n = a\tilde u^\top`.

    Attributes
    ----------
    along : float
        :math:`u^\top S_n\tilde u` (the signal, about :math:`\eta`).
    orthogonal : float
        :math:`\|(I - uu^\top)S_n\tilde u\|` (the noise that tilts the estimate).
    norm : float
        :math:`\|S_n\|_2 = \sqrt{\text{along}^2 + \text{orthogonal}^2}`.
    """

    along: float
    orthogonal: float
    norm: float

    @property
    def sine(self) -> float:
        r""":math:`\sin\angle(\hat u, u) = \text{orthogonal}/\|S_n\|_2`."""
        return self.orthogonal / self.norm


def rank1_sine_decomposition(S: np.ndarray, u: np.ndarray, u_t: np.ndarray,
                             rtol: float = 1e-8) -> Rank1Sine:
    r"""Split :math:`S\tilde u` into its parts along and orthogonal to :math:`u`.

    Parameters
    ----------
    S : ndarray, shape (d, d_t)
        A cross-covariance of the form :math:`a\tilde u^\top` (Proposition 1's instance).
    u : ndarray, shape (d,) or (d, 1)
        True unit vector :math:`u`.
    u_t : ndarray, shape (d_t,) or (d_t, 1)
        True unit vector :math:`\tilde u`.
    rtol : float
        Tolerance for the check that :math:`S = (S\tilde u)\tilde u^\top`.

    Raises
    ------
    ValueError
        If shapes do not match, :math:`u, \tilde u` are not unit vectors, or :math:`S` is not
        of the form :math:`a\tilde u^\top`.
    """
    S = check_finite_array("S", S, ndim=2)
    u = check_finite_array("u", u).ravel()
    u_t = check_finite_array("u_t", u_t).ravel()
    if S.shape != (u.size, u_t.size):
        raise ValueError(f"S must have shape (len(u), len(u_t)) = ({u.size}, {u_t.size}); "
                         f"got {S.shape}")
    for name, v in (("u", u), ("u_t", u_t)):
        if abs(np.linalg.norm(v) - 1.0) > 1e-8:
            raise ValueError(f"{name} must be a unit vector; got norm {np.linalg.norm(v):.6g}")
    a = S @ u_t
    if np.linalg.norm(S - np.outer(a, u_t)) > rtol * max(np.linalg.norm(S), 1e-300):
        raise ValueError("S is not of the form a u_t^T (rank one with right vector u_t); "
                         "the decomposition needs a noiseless second modality and r = 1")
    along = float(u @ a)
    orthogonal = float(np.linalg.norm(a - along * u))
    return Rank1Sine(along=along, orthogonal=orthogonal, norm=float(np.linalg.norm(a)))


def proposition1_anatomy(model: BimodalModel, n: int, trials: int, seed: int = 0
                         ) -> pd.DataFrame:
    r"""Trials of Proposition 1's instance with the parts of the sine.

    Parameters
    ----------
    model : BimodalModel
        A rank-one model with ``gamma_t = inf`` (see :func:`proposition1_instance`).
    n, trials, seed
        As in :func:`perturbation_anatomy`.

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``eta, n, trial``, ``err`` (sine from the decomposition, equal to the
        learner's ERR), ``along``, ``orthogonal``, ``norm``, and the normalised
        ``orth_scaled`` :math:`=\text{orthogonal}\cdot\sqrt{\gamma n/d}`,
        ``norm_over_eta`` :math:`=\|S_n\|_2/\eta` and ``err_scaled``
        :math:`=\mathrm{ERR}\cdot\eta\sqrt n/\sqrt{d/\gamma}`.
    """
    if model.r != 1 or not math.isinf(model.gamma_t):
        raise ValueError(f"Proposition 1's instance needs r = 1 and gamma_t = inf; got "
                         f"r = {model.r}, gamma_t = {model.gamma_t}")
    trials = check_int("trials", trials)
    scale = math.sqrt(model.d / model.gamma)
    rows = []
    for t in range(trials):
        m, x, xt = trial_pairs(model, n, t, seed)
        dec = rank1_sine_decomposition(cross_covariance(x, xt), m.U[:, 0], m.U_t[:, 0])
        rows.append(dict(eta=m.eta, n=n, trial=t, err=dec.sine, along=dec.along,
                         orthogonal=dec.orthogonal, norm=dec.norm,
                         orth_scaled=dec.orthogonal * math.sqrt(n) / scale,
                         norm_over_eta=dec.norm / m.eta,
                         err_scaled=dec.sine * m.eta * math.sqrt(n) / scale))
    return pd.DataFrame(rows)
