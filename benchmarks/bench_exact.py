"""Generated pairs against exact sufficient-statistic draws, side by side in one run.

Usage (repository root, environment active)::

    python benchmarks/bench_exact.py            # n = 1e4, 1e6 (about a minute)
    python benchmarks/bench_exact.py --large    # adds n = 1e7 (several minutes)
    python benchmarks/bench_exact.py --json

Each case times one trial of the Figure 3a geometry (d = 10, d̃ = 8, r = 4, γ = γ̃ = 10⁴,
η = 0.3) both ways, in the same process, one right after the other, and reports the ratio
(pairs time / exact time) with the CPU times and the load average. Ratios, not absolute times,
are the targets (``benchmarks/README.md``): the unfiltered trial ≥ 10⁴× at n = 10⁷, the
Algorithm 1 trial ≥ 7× at n = 10⁷. Peak memory of each route is measured with tracemalloc.
This is a script, not a test: the unit tests contain no timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from linclip.exact import exact_trial  # noqa: E402
from linclip.filters import run_method  # noqa: E402
from linclip.model import BimodalModel, StreamingSample  # noqa: E402

MODEL = BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4, eta=0.3)
IN_MEMORY = 2_000_000
#: case -> (method, theta, n values, target ratio at the largest n of --large)
CASES = {
    "unfiltered": ("none", None, (10**4, 10**6), (10**7,), 1e4),
    "algorithm1": ("teacher-split", 0.0, (10**6,), (10**7,), 7.0),
}


def _pairs(method, theta, n, seed):
    rng = np.random.default_rng(seed)
    source = (MODEL.sample(n, rng) if n <= IN_MEMORY
              else StreamingSample(MODEL, n, seed=seed, chunk_size=200_000))
    return run_method(source, method, MODEL.r, theta=theta)


def _exact(method, theta, n, seed):
    return exact_trial(MODEL, n, [(method, theta)], np.random.default_rng(seed))


def _measure(fn, *args, repeat=1):
    """Wall and CPU time per call (no tracing), then peak traced memory of one call."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for k in range(repeat):
        fn(*args[:-1], args[-1] + k)
    wall = (time.perf_counter() - wall0) / repeat
    cpu = (time.process_time() - cpu0) / repeat
    # tracemalloc slows small allocations by orders of magnitude: measure memory apart.
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, cpu, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="add the n = 1e7 cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = []
    for case, (method, theta, ns, large, target) in CASES.items():
        for n in ns + (large if args.large else ()):
            # Warm-up (imports, caches) outside the timing.
            _exact(method, theta, 1000, 0)
            # Tiny exact trials are microseconds: average over repeats.
            rep = 200 if method == "none" else 3
            p = _measure(_pairs, method, theta, n, 1)
            e = _measure(_exact, method, theta, n, 1, repeat=rep)
            rows.append(dict(case=case, n=n, pairs_s=p[0], pairs_cpu_s=p[1],
                             pairs_peak_mb=p[2], exact_s=e[0], exact_cpu_s=e[1],
                             exact_peak_mb=e[2], ratio=p[0] / e[0],
                             target=target if n in large else None))
    load = os.getloadavg()
    if args.json:
        print(json.dumps(dict(rows=rows, load_average=load)))
        return 0
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'case':<11} {'n':>9} {'pairs s':>9} {'exact s':>10} {'ratio':>9} "
          f"{'pairs MB':>9} {'exact MB':>9}  target")
    failed = False
    for row in rows:
        verdict = ""
        if row["target"] is not None:
            ok = row["ratio"] >= row["target"]
            failed |= not ok
            verdict = f">= {row['target']:g} {'PASS' if ok else 'FAIL'}"
        print(f"{row['case']:<11} {row['n']:>9.0e} {row['pairs_s']:>9.3f} "
              f"{row['exact_s']:>10.5f} {row['ratio']:>9.1f} {row['pairs_peak_mb']:>9.1f} "
              f"{row['exact_peak_mb']:>9.1f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
