"""Sweep of the chapter "Iterated self-filtering" (book/beyond/iterated_filtering.ipynb).

Run from the repository root (about 10 minutes on one core):

    python book/data/beyond/iterated_sweep.py

Writes book/data/beyond/iterated_rounds.csv (one row per trial, method, round) and prints a
run log (book/data/beyond/iterated_rounds.log holds the committed one). Two settings of the
paper's dimensions d = 10, d~ = 8, r = 4: the paper's signal-to-noise ratio gamma = gamma~ = 1e4
at n = 10^4, and a noisy one, gamma = gamma~ = 1 at n = 2*10^4, where the first-order theory
predicts a visible effect of the rounds. All through linclip.experiments.grid.run_grid.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from linclip import BimodalModel, MethodSpec
from linclip.experiments.grid import run_grid
from linclip.filters import ScoreWeighting
from linclip.theory.thresholds import optimal_keep_fraction

OUT = Path(__file__).with_name("iterated_rounds.csv")
SEED, TRIALS, ROUNDS = 2026, 40, 5
SETTINGS = {
    "paper-snr": dict(gamma=1e4, n=10_000, etas=[1.0, 0.3, 0.1, 0.03]),
    "noisy": dict(gamma=1.0, n=20_000, etas=[1.0, 0.3, 0.1]),
}
TEMPS = [1.0, 2.0, 4.0, 8.0]


def main() -> int:
    frames, t0 = [], time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f} s] {msg}", flush=True)

    for name, s in SETTINGS.items():
        model = BimodalModel(d=10, d_t=8, r=4, gamma=s["gamma"], gamma_t=s["gamma"])
        n = s["n"]
        for eta in s["etas"]:
            kw = dict(n=n, eta=eta, trials=TRIALS, seed=SEED)
            q_star = optimal_keep_fraction(eta, 4, s["gamma"], s["gamma"], method="teacher")
            parts = []
            # 1. rounds from the full-sample teacher at theta = 0: same and fresh data
            for fresh in (False, True):
                f = run_grid(model, methods=["teacher"], rounds=ROUNDS, fresh=fresh, **kw)
                parts.append(f.assign(study="rounds"))
            # 2. rounds from Algorithm 1 (teacher-split) on the same data
            f = run_grid(model, methods=["teacher-split"], rounds=ROUNDS, **kw)
            parts.append(f.assign(study="rounds-split"))
            # 3. rounds at the best single threshold (optimal-threshold chapter), same data
            if q_star.keep_fraction < 1.0:
                spec = MethodSpec("teacher", keep_fraction=round(q_star.keep_fraction, 4))
                f = run_grid(model, methods=[spec], rounds=ROUNDS, **kw)
                parts.append(f.assign(study="rounds-best-q"))
            # 4. one fit: none, hard theta = 0, soft weightings (paired: same samples)
            specs = ["none", MethodSpec("teacher", theta=0.0)]
            specs += [
                MethodSpec("teacher", weighting=ScoreWeighting("ramp", 0.0, t)) for t in TEMPS
            ]
            specs += [MethodSpec("teacher", weighting=ScoreWeighting("logistic", 0.0, 1.0))]
            parts.append(run_grid(model, methods=specs, **kw).assign(study="single-fit"))
            # 5. one round with all the pairs k fresh rounds use (equal total pairs)
            for k in range(2, ROUNDS + 1):
                f = run_grid(model, methods=["teacher"], **{**kw, "n": k * n})
                parts.append(f.assign(study="equal-pairs", pairs_used=k * n))
            frame = pd.concat(parts, ignore_index=True).assign(setting=name)
            frames.append(frame)
            log(f"{name}: eta = {eta:g} done (q* = {q_star.keep_fraction:.4f}), {len(frame)} rows")
    out = pd.concat(frames, ignore_index=True)
    out.to_csv(OUT, index=False)
    log(f"wrote {OUT} ({len(out)} rows); seed {SEED}, {TRIALS} trials, {ROUNDS} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
