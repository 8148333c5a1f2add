"""InfoNCE at the paper's gamma = 1e4 for n >> gamma (chapter beyond/infonce).

Run from the repository root (about 4 minutes on one core):

    python book/data/beyond/infonce/flat_large_n.py

writes book/data/beyond/infonce/flat_large_n.csv (one row per n and trial;
defaults of the InfoNCE learner, random start, eta = 1, no filter).
"""

from pathlib import Path

import pandas as pd

from linclip import BimodalModel, run_grid

OUT = Path(__file__).with_name("flat_large_n.csv")
model = BimodalModel(d=10, d_t=8, r=4, eta=1.0, gamma=1e4, gamma_t=1e4)
frames = []
for k, (n, trials) in enumerate(
    ((20_000, 2), (100_000, 2), (200_000, 2), (400_000, 1))
):
    frames.append(
        run_grid(
            model,
            n=n,
            eta=1.0,
            methods=["none"],
            trials=trials,
            seed=20261201 + k,
            learner="infonce",
        )
    )
    print(n, frames[-1].err.round(4).tolist(), flush=True)
pd.concat(frames).to_csv(OUT, index=False)
