r"""Analysis of experiment results: summaries, slopes, Table 1, first-order predictions."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..filters import (FILTERING_METHODS)
from .configs import ExperimentConfig, Regime

__all__ = ["summarize_trials", "complete_sweeps", "fit_regimes", "table1_rows", "first_order_errors"]


# ============================================================================ analysis
def summarize_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and standard error of ERR per (method, theta, keep_fraction, eta).

    Only (eta, trial) groups that every method completed are used. Columns: ``method``,
    ``theta``, ``keep_fraction``, ``eta``, ``err_mean``, ``err_std``, ``err_sem``,
    ``err_median``, ``kept_fraction_mean`` (kept / pool), ``kept_clean_fraction_mean``,
    ``trials``.
    """
    if frame.empty:
        raise ValueError("no trials to summarise")
    f = frame.copy()
    f["kept_fraction"] = f["n_kept"] / f["n_pool"]
    f["kept_clean_fraction"] = f["n_kept_clean"] / f["n_kept"]
    keys = ["method", "theta", "keep_fraction", "eta"]
    out = f.groupby(keys, sort=False, dropna=False).agg(
        err_mean=("err", "mean"), err_std=("err", "std"), err_median=("err", "median"),
        kept_fraction_mean=("kept_fraction", "mean"),
        kept_clean_fraction_mean=("kept_clean_fraction", "mean"),
        trials=("err", "size")).reset_index()
    out["err_sem"] = out["err_std"] / np.sqrt(out["trials"])
    return out


def complete_sweeps(frame: pd.DataFrame, config: ExperimentConfig) -> pd.DataFrame:
    """The rows of the trials that finished every (eta, method) of ``config``.

    A run stopped part-way has complete eta sweeps for its first trials (the runner works
    trial by trial) and a partial sweep for the trial it was on; dropping the latter gives every
    eta the same number of trials.
    """
    per_trial = frame.groupby("trial")["err"].size()
    full = per_trial[per_trial == len(config.etas) * len(config.methods)].index
    return frame[frame["trial"].isin(full)].reset_index(drop=True)


def fit_regimes(summary: pd.DataFrame, regimes: Sequence[Regime]) -> pd.DataFrame:
    """Fitted log-log slopes of mean ERR against :math:`\\eta`, one row per regime.

    Columns: ``method``, ``regime``, ``eta_min``, ``eta_max``, ``points``, ``slope``,
    ``slope_stderr``, ``expected_slope``. Regimes with fewer than three points are skipped.
    """
    from ..plotting import fit_loglog_slope

    rows = []
    for reg in regimes:
        g = summary[(summary["method"] == reg.method)
                    & (summary["eta"] >= reg.eta_min * (1 - 1e-9))
                    & (summary["eta"] <= reg.eta_max * (1 + 1e-9))].sort_values("eta")
        if len(g) < 3:
            continue
        fit = fit_loglog_slope(g["eta"], g["err_mean"])
        rows.append({"method": reg.method, "regime": reg.label, "eta_min": float(g["eta"].min()),
                     "eta_max": float(g["eta"].max()), "points": len(g), "slope": fit.slope,
                     "slope_stderr": fit.slope_stderr, "intercept": fit.intercept,
                     "expected_slope": reg.expected_slope})
    return pd.DataFrame(rows, columns=["method", "regime", "eta_min", "eta_max", "points",
                                       "slope", "slope_stderr", "intercept", "expected_slope"])


def _spread(value: float, trials: int) -> float:
    """A standard deviation or error as a finite float (0 for a single trial, as in
    ``linclip simulate``), so that the JSON output is strict JSON."""
    return float(value) if trials > 1 else 0.0


def table1_rows(frame: pd.DataFrame) -> list[dict]:
    """Table 1 as a JSON-able list: one row per (keep_fraction, method).

    Each row has ``keep_fraction``, ``method``, ``err_mean``, ``err_std``, ``err_sem``,
    ``trials``, ``n``, ``eta``, ``kept_clean_fraction_mean`` (ERR in plain units; the paper
    prints ERR in units of :math:`10^{-4}`). With a single trial the spreads are 0.
    """
    s = summarize_trials(frame)
    s = s[s["keep_fraction"].notna()].sort_values(["keep_fraction", "method"],
                                                  ascending=[True, False])
    n = int(frame["n"].iloc[0])
    return [{"keep_fraction": float(r.keep_fraction), "method": str(r.method),
             "err_mean": float(r.err_mean), "err_std": _spread(r.err_std, r.trials),
             "err_sem": _spread(r.err_sem, r.trials), "trials": int(r.trials), "n": n,
             "eta": float(r.eta),
             "kept_clean_fraction_mean": float(r.kept_clean_fraction_mean)}
            for r in s.itertuples()]


def _mean_of_max(law_a, law_b, points: int = 4001) -> float:
    """:math:`E[\\max(A, B)]` for independent scaled-chi laws, by the trapezoid rule on
    :math:`\\int_0^\\infty (1 - F_A F_B)\\,dt` (vectorised; relative error below 1e-6; a fast
    stand-in for :func:`linclip.asymptotics.expected_max`)."""
    from scipy import stats

    upper = max(math.sqrt(law.scale) * stats.chi.isf(1e-13, law.dof) for law in (law_a, law_b))
    t = np.linspace(0.0, upper, points)
    cdf = stats.chi.cdf(t / math.sqrt(law_a.scale), law_a.dof) * stats.chi.cdf(
        t / math.sqrt(law_b.scale), law_b.dof)
    return float(np.trapezoid(1.0 - cdf, t))


def first_order_errors(config: ExperimentConfig) -> pd.DataFrame:
    r"""First-order predictions of mean ERR for every (method, eta) of an experiment.

    The book's derivation, not the paper's: a learner whose pairs have population
    cross-covariance :math:`s\,U\tilde U^\top` has
    :math:`\|\sin\Theta_U\|_F^2 \approx \gamma^{-1} m_v\,\chi^2_{r(d-r)}/(s^2(n_{used}-1))`
    (:func:`linclip.asymptotics.first_order_sin_theta_sq`), and ERR is the larger of the two
    sides (:func:`linclip.asymptotics.expected_max`). Per method:

    * ``none``: :math:`n_{used} = n`, :math:`s = \eta`, :math:`m = 1 + \gamma^{-1}`;
    * ``oracle-clean``: :math:`n_{used} = \eta n`, :math:`s = 1`;
    * ``teacher`` / ``teacher-split`` / ``oracle-score``: the teacher is replaced by the oracle
      score, so the kept set is the population tail :math:`S > \theta` of
      :func:`linclip.score_law.kept_moments` (for a kept fraction :math:`q`, :math:`\theta`
      solves :math:`P(\theta) = q`), :math:`n_{used} = P(\theta)\,n_{pool}` with
      :math:`n_{pool} = n` or :math:`n - \lfloor n/2\rfloor`, :math:`s = s(\theta)` and
      :math:`m = E[v_i^2 \mid S > \theta]`, :math:`E[u_i^2 \mid S > \theta]`.

    The prediction ignores the teacher's own error and the breakdown when
    :math:`\eta` is of order :math:`1/\sqrt{n}`.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``theta``, ``keep_fraction``, ``eta``, ``err_pred``, ``n_used``,
        ``signal`` (:math:`s`).
    """
    from ..theory.asymptotics import first_order_sin_theta_sq
    from ..theory.filtered_law import kept_moments, threshold_for_fraction

    nv, nv_t = 1.0 / config.gamma, 1.0 / config.gamma_t
    rows = []
    for spec in config.methods:
        for eta in config.etas:
            n_pool = (config.n - config.n // 2) if spec.method == "teacher-split" else config.n
            if spec.method == "none" or (spec.method in FILTERING_METHODS
                                         and spec.keep_fraction == 1.0):
                n_used, s, m_u, m_v = n_pool, eta, 1.0 + nv, 1.0 + nv_t
            elif spec.method == "oracle-clean":
                n_used, s, m_u, m_v = eta * config.n, 1.0, 1.0 + nv, 1.0 + nv_t
            else:
                theta = spec.theta
                if theta is None:
                    theta = float(threshold_for_fraction(spec.keep_fraction, eta, config.r,
                                                         config.gamma, config.gamma_t))
                km = kept_moments(theta, eta, config.r, config.gamma, config.gamma_t)
                n_used = float(km.kept_fraction) * n_pool
                s, m_u, m_v = float(km.cross_moment), float(km.second_moment_u), float(
                    km.second_moment_v)
            law_x = first_order_sin_theta_sq(n_used, config.d, config.r, nv, m_v, s)
            law_xt = first_order_sin_theta_sq(n_used, config.d_t, config.r, nv_t, m_u, s)
            rows.append({"method": spec.method,
                         "theta": math.nan if spec.theta is None else float(spec.theta),
                         "keep_fraction": (math.nan if spec.keep_fraction is None
                                           else float(spec.keep_fraction)),
                         "eta": float(eta), "err_pred": _mean_of_max(law_x, law_xt),
                         "n_used": float(n_used), "signal": float(s)})
    return pd.DataFrame(rows)


