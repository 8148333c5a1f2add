#!/usr/bin/env python
"""Write the book's key figure, ``book/_static/key_figure.png``: Figure 3a at book scale.

Usage (with .venv activated, from anywhere)::

    python scripts/make_key_figure.py            # writes <repo>/book/_static/key_figure.png
    python scripts/make_key_figure.py --out F    # writes F instead

It runs the same experiment as the chapter *Reproducing the paper's experiments*
(``linclip.reproduce.experiment_config("fig3a", "book")``: d = 10, d~ = 8, r = 4,
gamma = gamma~ = 1e4, n = 1e5, ten clean fractions eta from 1 to 1e-3, fixed seed), so the
figure in the README and the preface shows the same numbers as the chapter. It takes about
15-20 seconds of CPU time.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from linclip.plotting import use_book_style  # noqa: E402
from linclip.reproduce import (experiment_config, fit_regimes, plot_fig3a,  # noqa: E402
                               run_experiment, summarize_trials)

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "book" / "_static" / "key_figure.png",
                        help="output PNG (default book/_static/key_figure.png)")
    args = parser.parse_args(argv)

    config = experiment_config("fig3a", "book")
    summary = summarize_trials(run_experiment(config))
    slopes = fit_regimes(summary, config.regimes)
    # At n = 1e5 the flat small-eta regime of the filtered learners is squeezed against the
    # breakdown (see the chapter), so the legend only reports the fits above the breakdown.
    shown = slopes[~slopes["regime"].str.startswith("small")]
    breakdown = math.sqrt(max(config.d, config.d_t) / config.n)

    use_book_style()
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    plot_fig3a(summary, shown, ax=ax, shade_below=breakdown,
               title=f"ERR vs clean fraction η (n = {config.n:.0e}, d = {config.d}, "
                     f"d̃ = {config.d_t}, r = {config.r}, {config.trials} trials)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    plt.close(fig)
    for s in slopes.itertuples():
        print(f"{s.method:>14} {s.regime:<22} slope {s.slope:+.2f} ± {s.slope_stderr:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
