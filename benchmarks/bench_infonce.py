"""Benchmark: one InfoNCE training run at n = 2e4, d = 10, d_t = 8, r = 4 (issue 13).

Target: at most TARGET_CPU_S seconds of CPU on one core with the default
:class:`~linclip.learners.infonce.InfoNCEOptions`, and ERR below TARGET_ERR on the
setting the book's chapter uses (eta = 1, gamma = gamma_t = 10). Prints ERR after every
epoch (the convergence curve behind the default number of epochs).

    . /work/venv/bin/activate && export PYTHONPATH=src
    python benchmarks/bench_infonce.py           # defaults
    python benchmarks/bench_infonce.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from linclip import BimodalModel  # noqa: E402
from linclip.learners.contrastive import fit  # noqa: E402
from linclip.learners.infonce import InfoNCEOptions, train_infonce  # noqa: E402
from linclip.metrics import subspace_error  # noqa: E402

TARGET_CPU_S = 5.0
TARGET_ERR = 0.15
N, D, D_T, R = 20_000, 10, 8, 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--eta", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=10.0)
    parser.add_argument("--epochs", type=int, default=InfoNCEOptions().epochs)
    args = parser.parse_args(argv)
    model = BimodalModel(
        d=D, d_t=D_T, r=R, eta=args.eta, gamma=args.gamma, gamma_t=args.gamma, basis_seed=0
    )
    pairs = model.sample(N, np.random.default_rng(1))
    curve: list[float] = []
    opts = InfoNCEOptions(epochs=args.epochs)
    # the callback's ERR computations are excluded from the timing
    spent = [0.0]

    def record(epoch: int, enc: object) -> None:
        t = time.process_time()
        curve.append(subspace_error(enc, model.U, model.U_t).err)  # type: ignore[arg-type]
        spent[0] += time.process_time() - t

    cpu0, wall0 = time.process_time(), time.perf_counter()
    train_infonce(pairs.x, pairs.xt, R, opts, callback=record)
    cpu = time.process_time() - cpu0 - spent[0]
    wall = time.perf_counter() - wall0
    linear_err = subspace_error(fit(pairs.x, pairs.xt, R), model.U, model.U_t).err
    ok = cpu <= TARGET_CPU_S and curve[-1] <= TARGET_ERR
    result = {
        "n": N,
        "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__},
        "eta": args.eta,
        "gamma": args.gamma,
        "cpu_s": cpu,
        "wall_s": wall,
        "err_by_epoch": curve,
        "linear_err": linear_err,
        "load_average": os.getloadavg()[0],
        "targets": {"cpu_s": TARGET_CPU_S, "err": TARGET_ERR},
        "pass": ok,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"InfoNCE, n = {N}, {opts.epochs} epochs, batch {opts.batch_size}, tau {opts.temperature}"
        )
        for e, err in enumerate(curve, 1):
            print(f"  epoch {e:3d}: ERR = {err:.4f}")
        print(f"linear closed form ERR = {linear_err:.4f}")
        print(
            f"CPU {cpu:.2f} s (target <= {TARGET_CPU_S}), wall {wall:.2f} s, "
            f"load {result['load_average']:.1f}: {'PASS' if ok else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
