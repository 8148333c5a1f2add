"""Wall time and peak memory of the core linclip operations, checked against stated targets.

Usage (from the repository root, with .venv activated)::

    python benchmarks/bench_core.py            # n = 1e5 and 1e6 cases
    python benchmarks/bench_core.py --large    # also the streaming teacher trial at n = 1e7
    python benchmarks/bench_core.py --json     # one JSON object instead of the table

Each case runs in a fresh Python process, so its peak resident set size (``ru_maxrss``) is not
inflated by an earlier case. For every case we report

* ``time_s``       wall time of the measured operation (imports and setup excluded);
* ``cpu_s``        CPU time of the same (less sensitive to other load on the machine);
* ``rss_mb``       increase of the process's peak RSS over its value just before the operation;
* ``traced_mb``    peak of memory allocated through Python/numpy during the operation
                   (``tracemalloc``; numpy registers its array buffers with it).

Targets are constants below; a case PASSes if it meets both its time and its memory target.
The exit status is 1 if any target fails. Timings depend on the machine and on its load; the
numbers measured for this repository are recorded in ``benchmarks/README.md``.

This is a script, not a test: the unit tests (``tests/``) contain no timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# One BLAS thread unless the caller says otherwise: the matrix products are tiny (d <= 10), and
# on a shared machine oversubscribed BLAS threads only add contention. Must precede numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

#: The paper's Figure 3a geometry.
MODEL = dict(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)
ETA = 0.3
CHUNK = 200_000

#: name -> (description, n, time target in seconds, peak-RSS-increase target in MB)
CASES = {
    "fit_1e5": ("sample n pairs in memory + closed-form fit", 100_000, 1.0, 100.0),
    "fit_1e6": ("sample n pairs in memory + closed-form fit", 1_000_000, 5.0, 1000.0),
    "stream_teacher_1e6": (
        "run_method('teacher', theta=0) on a StreamingSample",
        1_000_000,
        10.0,
        500.0,
    ),
}
LARGE_CASES = {
    "stream_teacher_1e7": (
        "run_method('teacher', theta=0) on a StreamingSample",
        10_000_000,
        100.0,
        500.0,
    ),
    # One (eta, trial) task of `python -m linclip reproduce fig3a --scale paper`: the fused
    # runner shares data passes between none, teacher-split and oracle-clean.
    "fig3a_paper_trial": (
        "reproduce.run_fused_trial: none + teacher-split + oracle-clean",
        10_000_000,
        60.0,
        500.0,
    ),
}


def _peak_rss_mb() -> float:
    import resource

    # Linux reports ru_maxrss in kilobytes (macOS in bytes).
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run_case(name: str) -> dict:
    """Run one case in this process and return its measurements."""
    import time
    import tracemalloc

    import numpy as np

    from linclip.filters import run_method
    from linclip.learner import fit
    from linclip.metrics import subspace_error
    from linclip.model import BimodalModel, StreamingSample

    _, n, _, _ = {**CASES, **LARGE_CASES}[name]
    model = BimodalModel(**MODEL, eta=ETA, basis_seed=0)
    # warm up numpy/BLAS code paths on a tiny problem so that first-call costs are excluded
    s = model.sample(1000, rng=0)
    fit(s.x, s.xt, model.r)
    del s

    rss0 = _peak_rss_mb()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    if name.startswith("fit_"):
        sample = model.sample(n, rng=np.random.default_rng(1))
        enc = fit(sample.x, sample.xt, model.r)
        kept = 1.0
    elif name == "fig3a_paper_trial":
        from linclip.reproduce import experiment_config, run_fused_trial

        rows = run_fused_trial(experiment_config("fig3a", "paper"), ETA, 0)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        split = next(row for row in rows if row["method"] == "teacher-split")
        return dict(
            case=name,
            n=n,
            time_s=elapsed,
            cpu_s=cpu,
            rss_mb=_peak_rss_mb() - rss0,
            traced_mb=traced_peak / 2**20,
            err=split["err"],
            kept_fraction=split["n_kept"] / split["n_pool"],
        )
    else:
        stream = StreamingSample(model, n, seed=1, chunk_size=CHUNK)
        out = run_method(stream, "teacher", model.r, theta=0.0)
        enc, kept = out.student, out.kept_fraction
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = _peak_rss_mb() - rss0
    err = subspace_error(enc, model.U, model.U_t).err
    return dict(
        case=name,
        n=n,
        time_s=elapsed,
        cpu_s=cpu,
        rss_mb=rss,
        traced_mb=traced_peak / 2**20,
        err=err,
        kept_fraction=kept,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--large", action="store_true", help="also run the streaming teacher trial at n = 1e7"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run a single case
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_case(args.one)))
        return 0

    cases = dict(CASES, **(LARGE_CASES if args.large else {}))
    results = []
    for name, (desc, n, t_target, m_target) in cases.items():
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--one", name],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            results.append(
                dict(case=name, n=n, error=proc.stderr.strip().splitlines()[-1], passed=False)
            )
            continue
        res = json.loads(proc.stdout)
        res.update(
            description=desc,
            time_target_s=t_target,
            rss_target_mb=m_target,
            time_ok=res["time_s"] < t_target,
            rss_ok=res["rss_mb"] < m_target,
        )
        res["passed"] = res["time_ok"] and res["rss_ok"]
        results.append(res)

    ok = all(r["passed"] for r in results)
    if args.json:
        print(
            json.dumps(
                dict(
                    results=results,
                    passed=ok,
                    cpu_count=os.cpu_count(),
                    load_average=os.getloadavg(),
                )
            )
        )
        return 0 if ok else 1

    print(
        f"linclip core benchmarks ({os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; d = {MODEL['d']}, d~ = {MODEL['d_t']}, r = {MODEL['r']}, "
        f"eta = {ETA})"
    )
    header = (
        f"{'case':<20} {'n':>9} {'time (s)':>9} {'target':>7} {'CPU (s)':>8} "
        f"{'peak RSS +MB':>13} "
        f"{'target':>7} {'traced MB':>10} {'ERR':>10}  result"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if "error" in r:
            print(f"{r['case']:<20} {r['n']:>9.0e}  ERROR: {r['error']}")
            continue
        print(
            f"{r['case']:<20} {r['n']:>9.0e} {r['time_s']:>9.2f} {r['time_target_s']:>7.1f} "
            f"{r['cpu_s']:>8.2f} {r['rss_mb']:>13.1f} {r['rss_target_mb']:>7.0f} "
            f"{r['traced_mb']:>10.1f} "
            f"{r['err']:>10.3e}  {'PASS' if r['passed'] else 'FAIL'}"
            + (
                ""
                if r["passed"]
                else f" ({'time' if not r['time_ok'] else ''}"
                f"{' ' if not (r['time_ok'] or r['rss_ok']) else ''}"
                f"{'memory' if not r['rss_ok'] else ''})"
            )
        )
    print("all targets met" if ok else "SOME TARGETS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
