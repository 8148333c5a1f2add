r"""Statistics of sweeps: log-log slope fits, breakdown points, means with standard errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validate import check_positive

__all__ = [
    "SlopeFit",
    "fit_loglog_slope",
    "fit_rate",
    "mean_sem",
    "Breakdown",
    "locate_breakdown",
    "summarize",
    "SUMMARY_COLUMNS",
]


@dataclass(frozen=True)
class SlopeFit:
    r"""Least-squares fit of :math:`\log y = a + b\log x`.

    Attributes
    ----------
    slope, intercept : float
        :math:`b` and :math:`a` (natural logs).
    slope_stderr : float
        Standard error of the slope from the regression residuals.
    """

    slope: float
    intercept: float
    slope_stderr: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Fitted power law evaluated at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def __str__(self) -> str:
        return f"slope {self.slope:+.3f} ± {self.slope_stderr:.3f}"


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> SlopeFit:
    r"""Fit a power law :math:`y \propto x^b` by least squares on log-log scale.

    Raises ``ValueError`` for fewer than three points or non-positive values.
    """
    x = np.asarray(x, dtype=float)  # type: ignore[assignment]
    y = np.asarray(y, dtype=float)  # type: ignore[assignment]
    assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length; got shapes {x.shape}, {y.shape}")
    if x.size < 3:
        raise ValueError(
            f"need at least 3 points to fit a slope with an uncertainty; got {x.size}"
        )
    if np.any(x <= 0) or np.any(y <= 0) or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be positive and finite for a log-log fit")
    from scipy import stats

    res = stats.linregress(np.log(x), np.log(y))
    # For constant y scipy returns stderr = NaN (its r is 0/0), yet the fit is exact.
    stderr = 0.0 if np.ptp(np.log(y)) == 0 else float(res.stderr)
    return SlopeFit(float(res.slope), float(res.intercept), stderr)


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
        :func:`linclip.stats.fit_loglog_slope` on the window.
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
        raise ValueError(
            f"the window [{lo}, {hi}] holds {int(keep.sum())} points; a slope "
            "with an uncertainty needs at least 3"
        )
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
        One row per trial (e.g. from :func:`~linclip.experiments.anatomy.perturbation_anatomy`).
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
        return Breakdown(
            float(x[k]), nan, float(x[k]), direction, float(slope), intercept, x, log_ratio
        )
    a, b = abs(log_ratio[k]), abs(log_ratio[k + 1])
    frac = (a - level) / (a - b) if a != b else 0.0
    x_break = float(np.exp(np.log(x[k]) + frac * (np.log(x[k + 1]) - np.log(x[k]))))
    return Breakdown(
        x_break, float(x[k + 1]), float(x[k]), direction, float(slope), intercept, x, log_ratio
    )


# ------------------------------------------------------------------------------ summaries
#: Statistic columns :func:`summarize` returns (those whose inputs are present).
SUMMARY_COLUMNS = [
    "err_mean",
    "err_std",
    "err_median",
    "err_x_mean",
    "err_xt_mean",
    "kept_fraction_mean",
    "kept_clean_fraction_mean",
    "trials",
    "err_sem",
]


def summarize(
    frame: pd.DataFrame, by: Sequence[str] = ("method", "eta", "n"), *, sort: bool = True
) -> pd.DataFrame:
    """Mean, spread and standard error of ERR (and the kept fractions) per group.

    The one summariser of the package: it reads every result table (trial rows of
    :func:`linclip.experiments.grid.run_grid`, the reproduce CSV,
    :func:`linclip.experiments.comparisons.simulate_filtered`).
    A kept fraction missing from the rows is derived as ``n_kept / n_pool``, a clean fraction
    among the kept as ``n_kept_clean / n_kept``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per trial (and method), with at least ``err``.
    by : sequence of str
        Grouping columns; names absent from ``frame`` are skipped.
    sort : bool
        Sort the groups (otherwise they keep their order of appearance).

    Returns
    -------
    pandas.DataFrame
        The grouping columns, then those of :data:`SUMMARY_COLUMNS` whose inputs exist.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"method": ["none"] * 3, "err": [1.0, 2.0, 3.0],
    ...                   "n_kept": [10, 10, 10], "n_pool": [20, 20, 20]})
    >>> summarize(f, by=["method"])[["err_mean", "err_std", "kept_fraction_mean", "trials"]]
       err_mean  err_std  kept_fraction_mean  trials
    0       2.0      1.0                 0.5       3
    """
    f = frame
    if not hasattr(f, "columns") or "err" not in f.columns:
        raise ValueError(
            "frame must be a table of trial rows with an 'err' column; got "
            + (f"columns {list(f.columns)}" if hasattr(f, "columns") else type(f).__name__)
        )
    if not [k for k in by if k in f.columns]:
        raise ValueError(
            f"none of the grouping columns by = {list(by)} is in the frame (columns "
            f"{list(f.columns)})"
        )
    if "kept_fraction" not in f.columns and {"n_kept", "n_pool"} <= set(f.columns):
        f = f.assign(kept_fraction=f["n_kept"] / f["n_pool"])
    if "kept_clean_fraction" not in f.columns and {"n_kept_clean", "n_kept"} <= set(f.columns):
        f = f.assign(kept_clean_fraction=f["n_kept_clean"] / f["n_kept"])
    keys = [k for k in by if k in f.columns]
    aggs = {
        "err_mean": ("err", "mean"),
        "err_std": ("err", "std"),
        "err_median": ("err", "median"),
    }
    for side in ("err_x", "err_xt"):
        if side in f.columns:
            aggs[side + "_mean"] = (side, "mean")
    for col in ("kept_fraction", "kept_clean_fraction"):
        if col in f.columns:
            aggs[col + "_mean"] = (col, "mean")
    aggs["trials"] = ("err", "size")
    out = f.groupby(keys, sort=sort, dropna=False).agg(**aggs).reset_index()
    out["err_sem"] = out["err_std"] / np.sqrt(out["trials"])
    return out
