r"""Analysis of experiment results: summaries, slopes, Table 1, first-order predictions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .configs import ExperimentConfig, Regime

__all__ = [
    "summarize_trials",
    "complete_sweeps",
    "fit_regimes",
    "table1_rows",
    "first_order_errors",
]


# ============================================================================ analysis
def summarize_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and standard error of ERR per (method, theta, keep_fraction, eta).

    Only (eta, trial) groups that every method completed are used. Columns: ``method``,
    ``theta``, ``keep_fraction``, ``eta``, ``err_mean``, ``err_std``, ``err_sem``,
    ``err_median``, ``kept_fraction_mean`` (kept / pool), ``kept_clean_fraction_mean``,
    ``trials``.
    """
    from ..stats import summarize

    if frame.empty:
        raise ValueError("no trials to summarise")
    keys = ["method", "theta", "keep_fraction", "eta"]
    out = summarize(
        frame.drop(columns=["kept_fraction", "kept_clean_fraction"], errors="ignore"),
        keys,
        sort=False,
    )
    return out[
        keys
        + [
            "err_mean",
            "err_std",
            "err_median",
            "kept_fraction_mean",
            "kept_clean_fraction_mean",
            "trials",
            "err_sem",
        ]
    ]


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
    r"""Fitted log-log slopes of mean ERR against :math:`\eta`, one row per regime.

    Columns: ``method``, ``regime``, ``eta_min``, ``eta_max``, ``points``, ``slope``,
    ``slope_stderr``, ``expected_slope``. Regimes with fewer than three points are skipped.
    """
    from ..plotting import fit_loglog_slope

    rows = []
    for reg in regimes:
        g = summary[
            (summary["method"] == reg.method)
            & (summary["eta"] >= reg.eta_min * (1 - 1e-9))
            & (summary["eta"] <= reg.eta_max * (1 + 1e-9))
        ].sort_values("eta")
        if len(g) < 3:
            continue
        fit = fit_loglog_slope(g["eta"], g["err_mean"])
        rows.append(
            {
                "method": reg.method,
                "regime": reg.label,
                "eta_min": float(g["eta"].min()),
                "eta_max": float(g["eta"].max()),
                "points": len(g),
                "slope": fit.slope,
                "slope_stderr": fit.slope_stderr,
                "intercept": fit.intercept,
                "expected_slope": reg.expected_slope,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "method",
            "regime",
            "eta_min",
            "eta_max",
            "points",
            "slope",
            "slope_stderr",
            "intercept",
            "expected_slope",
        ],
    )


def _spread(value: float, trials: int) -> float:
    """A standard deviation or error as a finite float (0 for a single trial, as in
    ``linclip simulate``), so that the JSON output is strict JSON.
    """
    return float(value) if trials > 1 else 0.0


def table1_rows(frame: pd.DataFrame) -> list[dict]:
    """Table 1 as a JSON-able list: one row per (keep_fraction, method).

    Each row has ``keep_fraction``, ``method``, ``err_mean``, ``err_std``, ``err_sem``,
    ``trials``, ``n``, ``eta``, ``kept_clean_fraction_mean`` (ERR in plain units; the paper
    prints ERR in units of :math:`10^{-4}`). With a single trial the spreads are 0.
    """
    s = summarize_trials(frame)
    s = s[s["keep_fraction"].notna()].sort_values(
        ["keep_fraction", "method"], ascending=[True, False]
    )
    n = int(frame["n"].iloc[0])
    return [
        {
            "keep_fraction": float(r.keep_fraction),
            "method": str(r.method),
            "err_mean": float(r.err_mean),
            "err_std": _spread(r.err_std, r.trials),
            "err_sem": _spread(r.err_sem, r.trials),
            "trials": int(r.trials),
            "n": n,
            "eta": float(r.eta),
            "kept_clean_fraction_mean": float(r.kept_clean_fraction_mean),
        }
        for r in s.itertuples()
    ]


def first_order_errors(config: ExperimentConfig) -> pd.DataFrame:
    r"""First-order predictions of mean ERR for every (method, eta) of an experiment.

    The book's derivation, not the paper's: a learner whose pairs have population
    cross-covariance :math:`s\,U\tilde U^\top` has
    :math:`\|\sin\Theta_U\|_F^2 \approx \gamma^{-1} m_v\,\chi^2_{r(d-r)}/(s^2(n_{used}-1))`
    (:func:`linclip.theory.asymptotics.first_order_sin_theta_sq`), and ERR is the larger of the two
    sides (:func:`linclip.theory.asymptotics.expected_max`). Per method:

    * ``none``: :math:`n_{used} = n`, :math:`s = \eta`, :math:`m = 1 + \gamma^{-1}`;
    * ``oracle-clean``: :math:`n_{used} = \eta n`, :math:`s = 1`;
    * ``teacher`` / ``teacher-split`` / ``oracle-score``: the teacher is replaced by the oracle
      score, so the kept set is the population tail :math:`S > \theta` of
      :func:`linclip.theory.filtered_law.kept_moments` (for a kept fraction :math:`q`, :math:`\theta`
      solves :math:`P(\theta) = q`), :math:`n_{used} = P(\theta)\,n_{pool}` with
      :math:`n_{pool} = n` or :math:`n - \lfloor n/2\rfloor`, :math:`s = s(\theta)` and
      :math:`m = E[v_i^2 \mid S > \theta]`, :math:`E[u_i^2 \mid S > \theta]`.

    The prediction ignores the teacher's own error and the breakdown when
    :math:`\eta` is of order :math:`1/\sqrt{n}`. It is
    :func:`linclip.theory.prediction.predict_filtered` with ``teacher_tilt=False``.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``theta``, ``keep_fraction``, ``eta``, ``err_pred``, ``n_used``,
        ``signal`` (:math:`s`).
    """
    from ..theory.prediction import predict_filtered

    rows = []
    for spec in config.methods:
        for eta in config.etas:
            # The teacher is replaced by the oracle score it estimates (no teacher tilt).
            pred = predict_filtered(
                config.n,
                eta,
                config.d,
                config.d_t,
                config.r,
                config.gamma,
                config.gamma_t,
                theta=spec.theta,
                keep_fraction=spec.keep_fraction,
                method=spec.method,
                teacher_tilt=False,
            )
            rows.append(
                {
                    "method": spec.method,
                    "theta": math.nan if spec.theta is None else float(spec.theta),
                    "keep_fraction": (
                        math.nan if spec.keep_fraction is None else float(spec.keep_fraction)
                    ),
                    "eta": float(eta),
                    "err_pred": float(pred.err),
                    "n_used": float(pred.n_kept),
                    "signal": float(pred.cross_moment),
                }
            )
    return pd.DataFrame(rows)
