"""``python -m linclip reproduce {fig3a,table1}``: the paper's experiments at book or paper scale.

Examples::

    python -m linclip reproduce fig3a --scale book
    python -m linclip reproduce fig3a --scale paper --trials 20 --jobs 2 --out results
    python -m linclip reproduce table1 --trials 200 --seed 0 --json
    python -m linclip reproduce fig3a --scale paper --scheduler local --jobs 2
    python -m linclip reproduce fig3a --scale paper --scheduler tcp://10.0.0.5:8786

Every finished trial is appended to ``<out>/<experiment>_<scale>_trials.csv``; rerunning the
same command resumes where it stopped (and ``--trials`` may be raised to extend a run). A
resume accepts only rows of the same run (``run_id``; see
:func:`linclip.experiments.runner.run_experiment`); one process at a time may write an
experiment into a directory (a lock file ``<out>/.<experiment>_<scale>.lock``).

Before a run that will take more than a minute the estimated run time is printed on stderr
(:mod:`linclip.experiments.resources`); a run estimated above 12 hours is refused unless
``--force``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from ..experiments.configs import EXPERIMENTS, SCALES
from .common import add_sampler_argument, positive_seconds
from .guards import add_force_argument, check_run_time

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "reproduce"
HELP = "reproduce the paper's Figure 3a or Table 1 (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``reproduce``."""
    p.add_argument(
        "experiment",
        choices=EXPERIMENTS,
        help="fig3a: ERR vs clean fraction eta (no filtering, teacher with theta = 0, "
        "clean-label oracle); table1: ERR vs kept fraction q at n = 1e4, "
        "eta = 0.3",
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="book",
        help="book: small enough for a notebook (fig3a n = 1e5); paper: the paper's "
        "setting (fig3a n = 1e7, ten eta from 1 to 1e-3) (default book)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="trials per eta (default: fig3a book 10, paper 95; table1 book 200, paper 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes; results do not depend on it (default 1, -1 = all)",
    )
    add_sampler_argument(p)
    p.add_argument(
        "--out",
        default="results",
        help="directory for the per-trial CSV, the run log (JSON) and the figure or "
        "table; an existing run there is resumed (default results)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print exactly one JSON document on stdout (table1: a list of rows)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar on stderr"
    )
    add_force_argument(p)
    _add_cluster_arguments(p)


def _finite(v: float):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def run(args: argparse.Namespace) -> int:
    """Run ``reproduce``; return the exit status."""
    from ..experiments.analysis import _spread, summarize_trials, table1_rows
    from ..experiments.cluster import ClusterUnavailable
    from ..experiments.configs import experiment_config
    from ..experiments.figures import write_fig3a_figure
    from ..experiments.runner import output_paths, prepare_out_dir, strict_json

    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials must be a positive integer; got {args.trials}")
    if args.jobs == 0 or args.jobs < -1:
        raise ValueError(f"--jobs must be a positive integer or -1 (every core); got {args.jobs}")
    config = experiment_config(
        args.experiment, args.scale, trials=args.trials, seed=args.seed, sampler=args.sampler
    )
    prepare_out_dir(args.out, "--out")
    paths = output_paths(config, args.out)
    try:
        frame = _run_trials(config, args)
    except ClusterUnavailable as exc:  # an environment problem: exit status 1, one line
        print(f"python -m linclip {NAME}: error: {exc}", file=sys.stderr)
        return 1
    summary = summarize_trials(frame)

    if config.name == "table1":
        rows = table1_rows(frame)
        paths["table"].write_text(strict_json(rows, indent=1) + "\n", encoding="utf-8")
        if args.json:
            print(strict_json(rows))
            return 0
        print(
            f"Table 1: n = {config.n}, eta = {config.etas[0]:g}, {config.trials} trials, "
            f"seed {config.seed}; ERR in units of 1e-4 (mean ± std)"
        )
        print(f"{'kept q':>8}  {'half split (Alg. 1)':>22}  {'full sample':>22}")
        by = {(r["keep_fraction"], r["method"]): r for r in rows}
        for q in sorted({r["keep_fraction"] for r in rows}):
            cells = []
            for m in ("teacher-split", "teacher"):
                r = by.get((q, m))
                cells.append(
                    f"{r['err_mean'] * 1e4:9.3f} ± {r['err_std'] * 1e4:8.3f}" if r else ""
                )
            print(f"{100 * q:7.0f}%  {cells[0]:>22}  {cells[1]:>22}")
        print(f"wrote {paths['trials']}, {paths['table']}, {paths['run']}")
        return 0

    slopes = write_fig3a_figure(frame, config, paths["figure"])
    if args.json:
        out = {
            "summary": [
                {
                    "method": r.method,
                    "theta": _finite(float(r.theta)),
                    "eta": float(r.eta),
                    "err_mean": float(r.err_mean),
                    "err_std": _spread(r.err_std, r.trials),
                    "err_sem": _spread(r.err_sem, r.trials),
                    "trials": int(r.trials),
                }
                for r in summary.itertuples()
            ],
            "slopes": slopes.drop(columns=["intercept"]).to_dict(orient="records"),
            "sampler": config.sampler,
            "samplers": dict(
                zip((m.label for m in config.methods), config.samplers(), strict=True)
            ),
            "files": {k: str(v) for k, v in paths.items()},
        }
        print(strict_json(out))
        return 0
    print(
        f"Figure 3a ({config.scale} scale): n = {config.n:.0e}, {len(config.etas)} values of "
        f"eta, {config.trials} trials, seed {config.seed}, sampler {config.sampler}"
    )
    print(f"{'method':>14} {'eta':>10} {'ERR mean':>11} {'s.e.':>10}")
    for r in summary.itertuples():
        print(f"{r.method:>14} {r.eta:10.3e} {r.err_mean:11.4e} {r.err_sem:10.2e}")
    print("fitted slopes of log ERR against log eta:")
    for s in slopes.itertuples():
        print(
            f"  {s.method:>14} {s.regime:<26} {s.slope:+.3f} ± {s.slope_stderr:.3f} "
            f"(paper: {s.expected_slope:+.1f})"
        )
    print(f"wrote {paths['trials']}, {paths['figure']}, {paths['run']}")
    return 0


# ---------------------------------------------------------------- cluster (linclip[dask])
def _add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "cluster (optional; needs pip install 'linclip[dask]')",
        "Run the trials on a Dask cluster instead of local processes; results are identical.",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="{local,tcp://HOST:PORT}",
        help="local: start a Dask LocalCluster on 127.0.0.1 with --jobs worker processes "
        "(1 thread each); tcp://HOST:PORT: use the workers of a running Dask scheduler "
        "(they must have linclip installed); a lost worker's trials are re-run by Dask",
    )
    g.add_argument(
        "--scheduler-timeout",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="give up if the scheduler does not answer within this time (default 10)",
    )


def _run_trials(config, args: argparse.Namespace):
    """The trials of ``config``: local processes, or a Dask cluster with ``--scheduler``."""
    from ..experiments.runner import run_experiment
    from .guards import config_trial_seconds

    progress = not args.no_progress

    def on_plan(tasks: int, workers: int) -> None:
        check_run_time(
            NAME,
            config_trial_seconds(config),
            tasks,
            workers,
            force=args.force,
            what=f"{tasks} trials of n = {config.n:.0e} pairs ({config.stem})",
        )

    if args.scheduler is None:
        return run_experiment(config, args.out, jobs=args.jobs, progress=progress, on_plan=on_plan)
    from ..experiments.cluster import ClusterUnavailable, dask_executor, parse_scheduler

    scheduler = parse_scheduler(args.scheduler)  # ValueError: exit status 2
    if not args.scheduler_timeout > 0:
        raise ValueError(
            f"--scheduler-timeout must be positive (seconds); got {args.scheduler_timeout}"
        )
    jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
    with dask_executor(scheduler, jobs=jobs, timeout=args.scheduler_timeout) as (ex, threads):
        try:
            return run_experiment(
                config, args.out, jobs=threads, progress=progress, executor=ex, on_plan=on_plan
            )
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # a trial lost its worker too often
                raise ClusterUnavailable(f"the Dask cluster lost a trial's worker: {exc}") from exc
            raise
