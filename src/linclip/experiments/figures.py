r"""Figure 3a from per-trial rows (matplotlib is imported inside the functions)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .analysis import fit_regimes, summarize_trials
from .configs import ExperimentConfig

__all__ = ["plot_fig3a", "write_fig3a_figure"]


_LABELS = {
    "none": "no filtering",
    "teacher-split": "teacher, θ = 0 (Algorithm 1, half split)",
    "teacher": "teacher, θ = 0 (full sample)",
    "oracle-clean": "clean-label oracle",
    "oracle-score": "oracle score",
}


def plot_fig3a(
    summary: pd.DataFrame,
    slopes: pd.DataFrame | None = None,
    ax=None,
    title: str | None = None,
    predictions: pd.DataFrame | None = None,
    shade_below: float | None = None,
):
    r"""Figure 3a: mean ERR against :math:`\eta` on log-log axes, ± one standard error.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`~linclip.experiments.analysis.summarize_trials`.
    slopes : DataFrame, optional
        Output of :func:`~linclip.experiments.analysis.fit_regimes`; each fit is drawn as a dotted
        line over its range and
        its slope is added to the legend.
    ax : matplotlib Axes, optional
    title : str, optional
    predictions : DataFrame, optional
        Output of :func:`~linclip.experiments.analysis.first_order_errors`, drawn as thin lines in each method's colour.
    shade_below : float, optional
        Shade :math:`\eta` below this value, e.g. :math:`\sqrt{\max\{d,\tilde d\}/n}`, where
        the paper's sample-size condition fails.
    """
    import matplotlib.pyplot as plt

    from ..plotting import method_color

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    for method in [m for m in _LABELS if m in set(summary["method"])]:
        g = summary[summary["method"] == method].sort_values("eta")
        label = _LABELS[method]
        if slopes is not None and len(slopes):
            fits = slopes[slopes["method"] == method]
            if len(fits):
                label += " (slope " + ", ".join(f"{s.slope:+.2f}" for s in fits.itertuples()) + ")"
        style = "--" if method == "teacher" else "-"
        ax.errorbar(
            g["eta"],
            g["err_mean"],
            yerr=g["err_sem"],
            marker="o",
            markersize=4,
            linestyle=style,
            color=method_color(method),
            label=label,
        )
        if predictions is not None:
            p = predictions[predictions["method"] == method].sort_values("eta")
            ax.plot(p["eta"], p["err_pred"], "-", lw=0.8, alpha=0.6, color=method_color(method))
        if slopes is not None:
            for s in slopes[slopes["method"] == method].itertuples():
                xs = np.geomspace(s.eta_min, s.eta_max, 20)
                ax.plot(xs, np.exp(s.intercept) * xs**s.slope, ":", color="grey", lw=1.0)
    if shade_below is not None:
        lo = float(summary["eta"].min()) / 1.3
        if shade_below > lo:
            ax.axvspan(
                lo,
                shade_below,
                color="grey",
                alpha=0.12,
                lw=0,
                label="sample-size condition fails",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("clean fraction η (log scale, decreasing →)")
    ax.set_ylabel("ERR (mean ± s.e.)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def write_fig3a_figure(
    frame: pd.DataFrame,
    config: ExperimentConfig,
    path: str | os.PathLike,
    title: str | None = None,
) -> pd.DataFrame:
    """Draw Figure 3a from per-trial rows, save it to ``path`` and return the fitted slopes."""
    import matplotlib.pyplot as plt

    from ..plotting import use_book_style

    use_book_style()
    summary = summarize_trials(frame)
    slopes = fit_regimes(summary, config.regimes)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    trials = int(summary["trials"].min())
    plot_fig3a(
        summary,
        slopes,
        ax=ax,
        title=title or f"Figure 3a, n = {config.n:.0e}, {trials} trials per η",
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return slopes
