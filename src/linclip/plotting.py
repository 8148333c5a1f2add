"""One figure style for the whole book, and log-log helpers with reference slopes.

The palette is seaborn's ``colorblind``; figures use a transparent background with mid-grey
axes and text, so that they stay legible on the book's light and dark themes.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import seaborn as sns

from .stats import SlopeFit, fit_loglog_slope

__all__ = ["use_book_style", "PALETTE", "method_color", "SlopeFit", "fit_loglog_slope",
           "add_reference_slope", "loglog_errorbar"]

PALETTE = sns.color_palette("colorblind")
_METHOD_ORDER = ["none", "teacher", "teacher-split", "oracle-score", "oracle-clean"]
_MID_GREY = "#808080"


def use_book_style() -> None:
    """Apply the book's matplotlib/seaborn style (idempotent)."""
    sns.set_theme(context="notebook", style="ticks", palette="colorblind")
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "figure.facecolor": "none",
        "axes.facecolor": "none",
        "savefig.facecolor": "none",
        "savefig.transparent": True,
        "axes.edgecolor": _MID_GREY,
        "axes.labelcolor": _MID_GREY,
        "xtick.color": _MID_GREY,
        "ytick.color": _MID_GREY,
        "text.color": _MID_GREY,
        "axes.titlecolor": _MID_GREY,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.color": _MID_GREY,
        "grid.alpha": 0.25,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "lines.linewidth": 1.8,
        "errorbar.capsize": 3,
    })


def method_color(method: str):
    """A fixed colour per method so every chapter uses the same colours."""
    try:
        return PALETTE[_METHOD_ORDER.index(method)]
    except ValueError:
        return PALETTE[7]


def add_reference_slope(ax, x: Sequence[float], slope: float, anchor: tuple[float, float],
                        label: str | None = None, **kwargs) -> None:
    """Draw a dashed reference line :math:`y \\propto x^{slope}` through ``anchor``."""
    x = np.asarray(x, dtype=float)
    x0, y0 = anchor
    kwargs.setdefault("color", _MID_GREY)
    kwargs.setdefault("linestyle", "--")
    kwargs.setdefault("linewidth", 1.2)
    ax.plot(x, y0 * (x / x0) ** slope, label=label, **kwargs)


def loglog_errorbar(ax, summary, x: str, y: str = "err_mean", yerr: str = "err_sem",
                    hue: str = "method", labels: dict | None = None) -> None:
    """Plot a summary table (from :func:`linclip.experiments.grid.summarize`) on log-log axes."""
    for key, group in summary.groupby(hue, sort=False):
        group = group.sort_values(x)
        ax.errorbar(group[x], group[y], yerr=group[yerr] if yerr else None, marker="o",
                    markersize=4, color=method_color(str(key)),
                    label=(labels or {}).get(key, key))
    ax.set_xscale("log")
    ax.set_yscale("log")
