"""Generated pairs against exact sufficient-statistic draws, side by side, through the engine.

Usage (repository root, environment active, ``PYTHONPATH=src``)::

    python benchmarks/bench_exact.py            # n = 1e4, 1e6 (about a minute)
    python benchmarks/bench_exact.py --large    # adds n = 1e7 (several minutes)
    python benchmarks/bench_exact.py --tasks    # paper-scale Figure 3a tasks (several minutes)
    python benchmarks/bench_exact.py --kernel   # the filtered sampler's loop, NumPy vs compiled
    python benchmarks/bench_exact.py --json

Each case times one trial of the Figure 3a geometry (d = 10, d̃ = 8, r = 4, γ = γ̃ = 10⁴,
η = 0.3) both ways, in the same process, one right after the other, through the one engine
(:func:`linclip.filters.engine.run_methods`): a :class:`~linclip.data.sources.PairsSource`
(in memory up to 2·10⁶ pairs, streamed above, as ``run_trial`` does) against an
:class:`~linclip.data.exact.ExactSource`. It reports the ratio of CPU times (pairs / exact;
wall times are printed too, but on a shared machine CPU time is the comparable number) and
the load average. Targets (``benchmarks/README.md``): unfiltered ≥ 10⁴× at n = 10⁷,
Algorithm 1 ≥ 7× at n = 10⁷. Peak memory of each route is measured with tracemalloc in a
separate call. The whole paper-scale figure is read from its run log
(``book/data/fig3a_paper_run.json``), written by
``python -m linclip reproduce fig3a --scale paper --trials 95 --jobs 2 --sampler exact``.
``--tasks`` times single (η, trial) tasks of that figure (``run_fused_trial``, n = 10⁷,
exact sampler) for each method set separately: Algorithm 1 alone, the oracle score alone, the
issue's three methods (none, Algorithm 1, clean-label oracle) and the figure's four (adding the
oracle score), for four variants of the sampler run interleaved (``exact-paired`` and
``exact``, each with the NumPy loop and with the compiled loop of
:mod:`linclip.data._kernel`), and extrapolates each to the 950 tasks of the figure on 2 idle cores
(CPU-seconds / 2). ``--kernel`` times ``filtered_group_scatters`` alone at m = 2·10⁶ pairs,
NumPy loop against compiled loop, same generator state. This is a script, not a test: the
unit tests contain no timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from linclip.data.exact import ExactSource  # noqa: E402
from linclip.data.model import BimodalModel, StreamingSample  # noqa: E402
from linclip.filters.engine import run_methods  # noqa: E402
from linclip.filters.spec import MethodSpec  # noqa: E402

MODEL = BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4, eta=0.3)
IN_MEMORY = 2_000_000
RUN_LOG = Path(__file__).resolve().parents[1] / "book" / "data" / "fig3a_paper_run.json"
#: case -> (methods, n values, n values of --large, target ratio at n = 1e7)
CASES = {
    "unfiltered": ([MethodSpec("none")], (10**4, 10**6), (10**7,), 1e4),
    "algorithm1": ([MethodSpec("teacher-split", theta=0.0)], (10**6,), (10**7,), 7.0),
}


def _pairs(methods, n, seed):
    source = (
        MODEL.sample(n, np.random.default_rng(seed))
        if n <= IN_MEMORY
        else StreamingSample(MODEL, n, seed=seed, chunk_size=200_000)
    )
    return run_methods(source, methods, MODEL.r, U=MODEL.U, U_t=MODEL.U_t)


def _exact(methods, n, seed):
    return run_methods(ExactSource(MODEL, n, seed), methods, MODEL.r, U=MODEL.U, U_t=MODEL.U_t)


def _measure(fn, methods, n, seed, repeat=1):
    """Wall and CPU time per call (no tracing), then the traced peak of one call (MB)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for k in range(repeat):
        fn(methods, n, seed + k)
    wall = (time.perf_counter() - wall0) / repeat
    cpu = (time.process_time() - cpu0) / repeat
    tracemalloc.start()  # slows small allocations by orders of magnitude: measured apart
    fn(methods, n, seed)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, cpu, peak


#: Method sets timed by --tasks (labels of the paper-scale Figure 3a methods).
TASK_SETS = {
    "Algorithm 1": ("teacher-split",),
    "oracle score": ("oracle-score",),
    "three methods": ("none", "teacher-split", "oracle-clean"),
    "four methods": ("none", "teacher-split", "oracle-clean", "oracle-score"),
}
TASK_ETAS = (1.0, 0.1, 0.01)


#: Variants of the exact sampler timed side by side by --tasks: (label, sampler, jit).
TASK_VARIANTS = (
    ("exact-paired NumPy", "exact-paired", False),
    ("exact-paired", "exact-paired", True),
    ("exact, NumPy loop", "exact", False),
    ("exact", "exact", True),
)


def _tasks(repeat: int = 2, sets: tuple[str, ...] = tuple(TASK_SETS)) -> list[dict]:
    """CPU and wall time of one paper-scale task per method set, sampler variant and eta.

    The variants run interleaved (one task of each in turn), so that they share the load.
    """
    import dataclasses

    from linclip.experiments.configs import experiment_config
    from linclip.experiments.runner import run_fused_trial

    cfg = experiment_config("fig3a", "paper", sampler="exact")
    by_name = {m.method: m for m in cfg.methods}
    out = []
    for label in sets:
        names = TASK_SETS[label]
        cpu = {v[0]: [] for v in TASK_VARIANTS}
        wall = {v[0]: [] for v in TASK_VARIANTS}
        for eta in TASK_ETAS:
            for t in range(repeat):
                for variant, sampler, jit in TASK_VARIANTS:
                    os.environ["LINCLIP_NO_JIT"] = "" if jit else "1"
                    config = dataclasses.replace(
                        cfg, methods=tuple(by_name[k] for k in names), sampler=sampler
                    )
                    wall0, cpu0 = time.perf_counter(), time.process_time()
                    run_fused_trial(config, eta, t)
                    cpu[variant].append(time.process_time() - cpu0)
                    wall[variant].append(time.perf_counter() - wall0)
        os.environ["LINCLIP_NO_JIT"] = ""
        for variant, _, _ in TASK_VARIANTS:
            per_task = float(np.mean(cpu[variant]))
            out.append(
                dict(
                    methods=label,
                    variant=variant,
                    etas=list(TASK_ETAS),
                    tasks_timed=len(cpu[variant]),
                    cpu_s=per_task,
                    wall_s=float(np.mean(wall[variant])),
                    figure_min_2_cores=950 * per_task / 2 / 60,
                )
            )
    return out


#: Filtered groups timed by --kernel: (label, clean?, number of distinct matrices, fold).
KERNEL_CASES = (
    ("clean, 1 filter", True, 1, False),
    ("corrupted, 1 filter", False, 1, False),
    ("corrupted, fold", False, 1, True),
    ("clean, 2 filters", True, 2, False),
)


def _kernel_rows(m: int = 2_000_000, repeat: int = 3) -> list[dict]:
    """ns per pair of filtered_group_scatters, NumPy loop against the compiled loop."""
    from linclip.data.exact import filtered_group_scatters

    M_o = MODEL.U @ MODEL.U_t.T
    # a rank-r "teacher" near the oracle, as a trained one is (rank r, not full rank)
    u, s, vt = np.linalg.svd(M_o + 0.01 * np.random.default_rng(1).normal(size=M_o.shape))
    M_t = (u[:, : MODEL.r] * s[: MODEL.r]) @ vt[: MODEL.r]
    rows = []
    for label, clean, k, fold in KERNEL_CASES:
        cov = MODEL.component_covariance(clean)
        mats = [M_t, M_o][:k]
        cpu = {False: [], True: []}
        for jit in (True, False, True):  # the first call compiles or loads the cache
            filtered_group_scatters(
                cov,
                1000,
                MODEL.d,
                mats,
                [0.0] * k,
                np.random.Generator(np.random.SFC64(0)),
                fold=fold,
                jit=jit,
            )
        for r in range(repeat):
            for jit in (False, True):
                rng = np.random.Generator(np.random.SFC64(r))
                cpu0 = time.process_time()
                filtered_group_scatters(cov, m, MODEL.d, mats, [0.0] * k, rng, fold=fold, jit=jit)
                cpu[jit].append(time.process_time() - cpu0)
        numpy_ns, jit_ns = (float(np.median(cpu[j])) / m * 1e9 for j in (False, True))
        rows.append(
            dict(case=label, m=m, numpy_ns=numpy_ns, jit_ns=jit_ns, ratio=numpy_ns / jit_ns)
        )
    return rows


def _figure() -> dict | None:
    """Wall time, CPU-seconds of the tasks, and sessions of the committed paper-scale run."""
    if not RUN_LOG.exists():
        return None
    log = json.loads(RUN_LOG.read_text(encoding="utf-8"))
    sessions = log["sessions"]
    return dict(
        sampler=log["experiment"].get("sampler", "pairs"),
        methods=[m["method"] for m in log["experiment"]["methods"]],
        tasks_done=log["total_tasks_done"],
        wall_s=log["total_wall_seconds"],
        task_s=round(sum(s["task_seconds_total"] for s in sessions), 1),
        load=[s["machine"]["load_average_1_5_15min"] for s in sessions],
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="add the n = 1e7 cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--tasks", action="store_true", help="only time paper-scale Figure 3a tasks"
    )
    parser.add_argument(
        "--kernel",
        action="store_true",
        help="only time the filtered group sampler: NumPy loop against the compiled loop",
    )
    args = parser.parse_args(argv)
    load0 = os.getloadavg()
    if args.kernel:
        krows = _kernel_rows()
        load1 = os.getloadavg()
        if args.json:
            print(json.dumps(dict(kernel=krows, load_average=(load0, load1))))
            return 0
        print(f"load average at start {load0[0]:.1f}, at end {load1[0]:.1f} (2 cores)")
        print(
            f"{'filtered group':<20} {'NumPy ns/pair':>13} {'compiled ns/pair':>16} {'ratio':>6}"
        )
        for row in krows:
            print(
                f"{row['case']:<20} {row['numpy_ns']:>13.1f} {row['jit_ns']:>16.1f} "
                f"{row['ratio']:>6.2f}"
            )
        return 0
    if args.tasks:
        tasks = _tasks()
        load1 = os.getloadavg()
        if args.json:
            print(json.dumps(dict(tasks=tasks, load_average=(load0, load1))))
            return 0
        print(f"load average at start {load0[0]:.1f}, at end {load1[0]:.1f} (2 cores)")
        print(
            f"{'methods':<14} {'sampler':<18} {'CPU s/task':>10} {'wall s/task':>11} "
            f"{'figure, 2 idle cores':>21}"
        )
        for row in tasks:
            print(
                f"{row['methods']:<14} {row['variant']:<18} {row['cpu_s']:>10.3f} "
                f"{row['wall_s']:>11.3f} {row['figure_min_2_cores']:>17.1f} min"
            )
        return 0
    rows = []
    for case, (methods, ns, large, target) in CASES.items():
        _exact(methods, 1000, 0)  # warm-up (imports, caches) outside the timing
        for n in ns + (large if args.large else ()):
            rep = 300 if case == "unfiltered" else 3
            p = _measure(_pairs, methods, n, 1)
            e = _measure(_exact, methods, n, 1, repeat=rep)
            rows.append(
                dict(
                    case=case,
                    n=n,
                    pairs_s=p[0],
                    pairs_cpu_s=p[1],
                    pairs_peak_mb=p[2],
                    exact_s=e[0],
                    exact_cpu_s=e[1],
                    exact_peak_mb=e[2],
                    ratio=p[1] / e[1],
                    target=target if n in large else None,
                )
            )
    load = (load0, os.getloadavg())
    figure = _figure()
    if args.json:
        print(json.dumps(dict(rows=rows, load_average=load, figure=figure)))
        return 0
    print(
        f"load average at start {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}, at end "
        f"{load[1][0]:.1f} {load[1][1]:.1f} {load[1][2]:.1f} (2 cores)"
    )
    print(
        f"{'case':<11} {'n':>7} {'pairs cpu s':>11} {'exact cpu s':>12} {'ratio':>9} "
        f"{'pairs wall':>10} {'exact wall':>10} {'pairs MB':>9} {'exact MB':>9}  target"
    )
    failed = False
    for row in rows:
        verdict = ""
        if row["target"] is not None:
            ok = row["ratio"] >= row["target"]
            failed |= not ok
            verdict = f">= {row['target']:g} {'PASS' if ok else 'FAIL'}"
        print(
            f"{row['case']:<11} {row['n']:>7.0e} {row['pairs_cpu_s']:>11.4f} "
            f"{row['exact_cpu_s']:>12.6f} {row['ratio']:>9.1f} {row['pairs_s']:>10.3f} "
            f"{row['exact_s']:>10.5f} {row['pairs_peak_mb']:>9.1f} "
            f"{row['exact_peak_mb']:>9.1f}  {verdict}"
        )
    if figure is not None:
        print(
            f"paper-scale figure ({figure['sampler']}, {', '.join(figure['methods'])}): "
            f"{figure['tasks_done']} of 950 tasks, {figure['wall_s']:.0f} s wall, "
            f"{figure['task_s']:.0f} task-seconds; load {figure['load']}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
