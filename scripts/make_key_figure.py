#!/usr/bin/env python
"""Write the book's key figure, ``book/_static/key_figure.png``: the paper's Figure 3a.

Usage (with .venv activated, from anywhere)::

    python scripts/make_key_figure.py               # from the committed paper-scale run
    python scripts/make_key_figure.py --book-scale  # re-run the book-scale sweep instead
    python scripts/make_key_figure.py --out F       # write F instead

By default the figure is drawn from the committed per-trial results of the paper-scale run
(``book/data/fig3a_paper_trials.csv``: d = 10, d~ = 8, r = 4, gamma = gamma~ = 1e4,
n = 1e7, ten clean fractions from 1 to 1e-3; produced by
``python -m linclip reproduce fig3a --scale paper --out book/data``), so the README, the preface
and the chapter *Reproducing the paper's experiments* show the same numbers. Only the trials
that finished every (eta, method) are used. ``--book-scale`` re-runs the n = 1e5 sweep of the
chapter (about 20 s of CPU) for a machine without the committed data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from linclip.reproduce import (complete_sweeps, experiment_config, load_trials,  # noqa: E402
                               run_experiment, write_fig3a_figure)

REPO = Path(__file__).resolve().parents[1]
PAPER_CSV = REPO / "book" / "data" / "fig3a_paper_trials.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "book" / "_static" / "key_figure.png",
                        help="output PNG (default book/_static/key_figure.png)")
    parser.add_argument("--book-scale", action="store_true",
                        help="re-run the book-scale sweep (n = 1e5) instead of reading the "
                             "committed paper-scale results")
    args = parser.parse_args(argv)

    if args.book_scale:
        config = experiment_config("fig3a", "book")
        frame = run_experiment(config)
        title = f"Figure 3a at book scale: n = {config.n:.0e}, {config.trials} trials per η"
    else:
        config = experiment_config("fig3a", "paper")
        frame = complete_sweeps(load_trials(PAPER_CSV), config)
        trials = frame["trial"].nunique()
        title = f"Figure 3a reproduced: n = {config.n:.0e}, {trials} trials per η"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    slopes = write_fig3a_figure(frame, config, args.out, title=title)
    for s in slopes.itertuples():
        print(f"{s.method:>14} {s.regime:<22} slope {s.slope:+.2f} ± {s.slope_stderr:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
