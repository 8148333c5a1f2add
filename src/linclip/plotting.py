"""One figure style for the whole book, and log-log helpers with reference slopes.

The palette is seaborn's ``colorblind`` order, with the colours that were too light on white
darkened; figures are drawn with dark ink (#222) on an opaque white face, so that they read
as a white card, legible in the book's light and dark themes alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import seaborn as sns

from .stats import SlopeFit, fit_loglog_slope

__all__ = ["use_book_style", "PALETTE", "method_color", "SlopeFit", "fit_loglog_slope",
           "add_reference_slope", "loglog_errorbar"]

#: seaborn's ``colorblind`` palette (same order and hues), with every colour that had less
#: than 3:1 contrast against white made darker (orange, pink, grey) or, where darkening
#: would make it look like a neighbour, replaced (tan -> brown, light pink -> purple,
#: yellow -> olive, sky blue -> dark cyan). Every colour has >= 3:1 contrast on the white
#: figure face (WCAG 2.1, 1.4.11 for graphical objects); tests/test_book_style.py checks it.
PALETTE = sns.color_palette([
    "#0173b2",  # blue        5.1:1
    "#c37d04",  # orange      3.4:1 (seaborn #de8f05: 2.6:1)
    "#029e73",  # green       3.4:1
    "#d55e00",  # vermillion  3.9:1
    "#c86db6",  # pink        3.3:1 (seaborn #cc78bc: 3.0:1)
    "#8b5a2b",  # brown       5.8:1 (seaborn tan #ca9161: 2.7:1)
    "#7b3294",  # purple      7.7:1 (seaborn light pink #fbafe4: 1.7:1)
    "#767676",  # grey        4.5:1 (seaborn #949494: 3.0:1)
    "#857c00",  # olive       4.3:1 (seaborn yellow #ece133: 1.4:1)
    "#00838f",  # dark cyan   4.5:1 (seaborn sky blue #56b4e9: 2.3:1)
])
_METHOD_ORDER = ["none", "teacher", "teacher-split", "oracle-score", "oracle-clean"]
#: Ink of text, axes and ticks: 15.9:1 on the white figure face. Figures are opaque white
#: in both book themes (in the dark theme a figure is a white card), so one ink fits both.
_INK = "#222222"
_GRID = "#d0d0d0"
#: Reference-slope lines (add_reference_slope): 3.9:1 on white, enough for a graphic.
_MID_GREY = "#808080"


def use_book_style() -> None:
    """Apply the book's matplotlib/seaborn style (idempotent).

    Dark ink (``#222222``) on an opaque white figure and axes face, so text, axes and
    ticks have 15.9:1 contrast in the light and the dark book theme alike (a transparent
    figure put mid-grey ink on the dark page: 2.8:1). Figures render at 150 dpi in the
    notebook (the inline backend draws PNGs at ``figure.dpi``; a 6.4 in figure is 960 px,
    sharp on high-density screens at the book's ~800 px column) and save at 200 dpi.
    The line colours are ``PALETTE`` (colour-blind safe, >= 3:1 on white).
    """
    sns.set_theme(context="notebook", style="ticks", palette=PALETTE)
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 150,
        "savefig.dpi": 200,
        "figure.facecolor": "white",
        "figure.edgecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.edgecolor": "white",
        "savefig.transparent": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE.as_hex()),
        "axes.edgecolor": _INK,
        "axes.labelcolor": _INK,
        "xtick.color": _INK,
        "ytick.color": _INK,
        "xtick.labelcolor": _INK,
        "ytick.labelcolor": _INK,
        "text.color": _INK,
        "axes.titlecolor": _INK,
        "legend.frameon": False,
        "legend.labelcolor": _INK,
        "axes.grid": True,
        "grid.color": _GRID,
        "grid.alpha": 1.0,
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
