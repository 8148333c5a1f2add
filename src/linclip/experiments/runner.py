r"""The resumable runner of the paper's experiments: CSV per trial, run log, any executor.

Trials run in this process (``jobs=1``), in a local process pool (``jobs > 1``, the default
executor) or on any :class:`concurrent.futures.Executor` passed as ``executor`` (for example a
Dask cluster's, :func:`linclip.experiments.cluster.dask_executor`). This process writes every
result as it arrives and rewrites the CSV in canonical order at the end, so the file does not
depend on the executor or on the order in which trials finish.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_int
from ..filters.engine import FilterOutcome, run_methods_with_stats
from .configs import CSV_COLUMNS, ExperimentConfig
from .grid import MethodSpec, run_trial

__all__ = [
    "run_fused_trial",
    "run_methods_fused",
    "run_experiment",
    "load_trials",
    "output_paths",
    "machine_info",
    "limit_blas_threads",
]


# ============================================================================ runner
def limit_blas_threads(threads: int = 1) -> bool:
    """Limit the BLAS libraries loaded in this process to ``threads`` threads (threadpoolctl).

    The experiments multiply tall, thin matrices, for which BLAS threads cost more than they
    gain on a busy machine; worker processes already supply the parallelism. Returns True if
    a BLAS library was found and limited. Results do not depend on it.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = check_int("threads", threads)
    threadpool_limits(limits=threads, user_api="blas")
    return any(info.get("user_api") == "blas" for info in threadpool_info())


def run_methods_fused(
    source: object,
    methods: Sequence[MethodSpec],
    r: int,
    *,
    rho: float = 1.0,
    U: np.ndarray | None = None,
    U_t: np.ndarray | None = None,
    score_units: str = "oracle",
) -> list[FilterOutcome]:
    """Deprecated (0.1.0) name of :func:`linclip.filters.engine.run_methods`."""
    return run_methods_with_stats(
        source, methods, r, rho=rho, U=U, U_t=U_t, score_units=score_units
    )[0]


def run_fused_trial(config: ExperimentConfig, eta: float, trial: int) -> list[dict]:
    """One trial of an experiment: every method of ``config`` on the same pairs.

    Uses the bases and pairs of :func:`linclip.experiments.grid.run_trial` for
    ``(config.seed, config.n, eta, trial)``, the sampler ``config.sampler`` and the one engine,
    and returns one row per method
    with the columns :data:`~linclip.experiments.configs.CSV_COLUMNS` (a projection of
    :data:`linclip.experiments.rows.TRIAL_COLUMNS`).
    """
    rows = run_trial(
        config.model(eta),
        config.n,
        int(trial),
        config.methods,
        seed=config.seed,
        rho=config.rho,
        chunk_size=config.chunk_size,
        sampler=config.sampler,
        diagnostics=False,
    )
    return [{c: row[c] for c in CSV_COLUMNS} for row in rows]


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    limit_blas_threads(1)


def _run_task(config: ExperimentConfig, eta: float, trial: int) -> tuple[list[dict], float]:
    start = time.perf_counter()
    rows = run_fused_trial(config, eta, trial)
    return rows, time.perf_counter() - start


_BLAS_LIMITED = False


def _executor_task(
    task_fn: Callable[[ExperimentConfig, float, int], tuple[list[dict], float]],
    config: ExperimentConfig,
    eta: float,
    trial: int,
) -> tuple[list[dict], float]:
    """One trial on a worker of a caller's executor: one BLAS thread per worker (once)."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        limit_blas_threads(1)
        _BLAS_LIMITED = True
    return task_fn(config, eta, trial)


def output_paths(config: ExperimentConfig, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Where :func:`run_experiment` writes: ``trials`` (CSV), ``run`` (JSON) and ``figure``
    (PNG, Figure 3a) or ``table`` (JSON, Table 1).
    """
    out = Path(out_dir)
    paths = {"trials": out / f"{config.stem}_trials.csv", "run": out / f"{config.stem}_run.json"}
    if config.name == "fig3a":
        paths["figure"] = out / f"{config.stem}.png"
    else:
        paths["table"] = out / f"{config.stem}_table.json"
    return paths


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _row_key(row: dict) -> tuple:
    """(method, theta, keep_fraction) of a row, comparable across CSV round trips."""

    def num(v):
        v = float(v)
        return None if math.isnan(v) else v

    return (row["method"], num(row["theta"]), num(row["keep_fraction"]))


def _spec_key(spec: MethodSpec) -> tuple:
    return (
        spec.method,
        None if spec.theta is None else float(spec.theta),
        None if spec.keep_fraction is None else float(spec.keep_fraction),
    )


def _read_complete(path: Path, config: ExperimentConfig) -> tuple[list[list[str]], bool]:
    """Complete (eta, trial) groups of rows in an existing CSV, and whether it was clean."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], False
    header = next(csv.reader([lines[0]]))
    if header == [c for c in CSV_COLUMNS if c != "sampler"]:
        raise ValueError(
            f"{path} was written before the sampler column existed (its rows come from "
            "generated pairs); resume it with an older linclip, or use another --out directory"
        )
    if header != CSV_COLUMNS:
        raise ValueError(
            f"{path} does not have the expected columns "
            f"({','.join(CSV_COLUMNS)}); use another --out directory"
        )
    clean = text.endswith("\n")
    groups: dict[tuple, list[list[str]]] = {}
    for line in lines[1:]:
        if not line.endswith("\n"):  # an interrupted write
            clean = False
            continue
        fields = next(csv.reader([line]), [])
        if len(fields) != len(CSV_COLUMNS):
            clean = False
            continue
        row = dict(zip(CSV_COLUMNS, fields, strict=True))
        try:
            key = (float(row["eta"]), int(row["trial"]))
            float(row["err"])
        except ValueError:
            clean = False
            continue
        groups.setdefault(key, []).append(fields)
    expected = sorted(map(str, (_spec_key(s) for s in config.methods)))
    used = {str(_spec_key(s)): u for s, u in zip(config.methods, config.samplers(), strict=True)}
    for rows in groups.values():
        for f in rows:
            row = dict(zip(CSV_COLUMNS, f, strict=True))
            want = used.get(str(_row_key(row)))
            if want is not None and row["sampler"] != want:
                raise ValueError(
                    f"{path} holds rows of {row['method']} drawn with sampler "
                    f"{row['sampler']!r}, but this run uses {want!r} (--sampler "
                    f"{config.sampler}); rows of different samplers must not be mixed: use "
                    "another --out directory or delete its files"
                )
    kept: list[list[str]] = []
    for _key, rows in groups.items():
        got = sorted(str(_row_key(dict(zip(CSV_COLUMNS, f, strict=True)))) for f in rows)
        if got == expected:
            kept.extend(rows)
        else:
            clean = False
    return kept, clean


def _write_rows_atomic(path: Path, rows: list[list[str]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)


def _canonical_order(rows: list[list[str]], config: ExperimentConfig) -> list[list[str]]:
    eta_pos = {float(e): i for i, e in enumerate(config.etas)}
    spec_pos = {_spec_key(s): i for i, s in enumerate(config.methods)}

    def key(fields):
        row = dict(zip(CSV_COLUMNS, fields, strict=True))
        return (
            eta_pos.get(float(row["eta"]), len(eta_pos)),
            int(row["trial"]),
            spec_pos.get(_row_key(row), len(spec_pos)),
        )

    return sorted(rows, key=key)


def machine_info() -> dict:
    """CPU model, core count, memory, load and software versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gb": mem_gb,
        "load_average_1_5_15min": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "linclip": _linclip_version(),
    }


def _linclip_version() -> str:
    from .._version import __version__

    return __version__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _RunLog:
    """The ``*_run.json`` file: definition, sessions with timing, machine."""

    def __init__(
        self, path: Path, config: ExperimentConfig, jobs: int, executor: str = "process pool"
    ) -> None:
        self.path = path
        self.data: dict[str, Any] = {"experiment": config.identity(), "sessions": []}
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = {}
            old_def = dict(old.get("experiment", config.identity()))
            old_sampler = old_def.setdefault("sampler", "pairs")  # logs before 0.3.0
            if old_sampler != config.sampler:
                raise ValueError(
                    f"{path} belongs to a run with sampler {old_sampler!r}, but this run "
                    f"uses {config.sampler!r}; rows of different samplers must not be mixed: "
                    "use another --out directory or delete its files"
                )
            if old_def != config.identity():
                raise ValueError(
                    f"{path} belongs to a run with a different definition (for example another "
                    "--seed or --scale); use another --out directory or delete its files"
                )
            self.data["sessions"] = list(old.get("sessions", []))
        self.session: dict[str, Any] = {
            "started": _now(),
            "finished": None,
            "wall_seconds": 0.0,
            "jobs": jobs,
            "executor": executor,
            "sampler": config.sampler,
            "samplers": dict(
                zip((m.label for m in config.methods), config.samplers(), strict=True)
            ),
            "trials_requested": config.trials,
            "tasks_done": 0,
            "task_seconds_total": 0.0,
            "interrupted": False,
            "machine": machine_info(),
        }
        self.data["sessions"].append(self.session)
        self._t0 = time.perf_counter()

    def task_done(self, seconds: float) -> None:
        self.session["tasks_done"] += 1
        self.session["task_seconds_total"] = round(self.session["task_seconds_total"] + seconds, 3)
        self.write()

    def finish(self, interrupted: bool) -> None:
        self.session["finished"] = _now()
        self.session["interrupted"] = interrupted
        self.session["machine"]["load_average_at_end"] = machine_info()["load_average_1_5_15min"]
        self.write()

    def write(self) -> None:
        self.session["wall_seconds"] = round(time.perf_counter() - self._t0, 3)
        sessions = self.data["sessions"]
        self.data["total_wall_seconds"] = round(sum(s["wall_seconds"] for s in sessions), 3)
        self.data["total_tasks_done"] = sum(s["tasks_done"] for s in sessions)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _raise_interrupt(signum, frame):  # pragma: no cover - exercised by hand
    raise KeyboardInterrupt


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | os.PathLike | None = None,
    *,
    jobs: int = 1,
    progress: bool = False,
    task_fn: Callable[[ExperimentConfig, float, int], tuple[list[dict], float]] | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Run (or resume) an experiment and return one row per (eta, trial, method).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (see :func:`~linclip.experiments.configs.experiment_config`).
    out_dir : path, optional
        Directory for the resumable outputs (:func:`output_paths`). Every finished trial is
        appended to the CSV and flushed; on a restart, the (eta, trial) pairs already complete
        in the CSV are not recomputed, and incomplete or partly written rows are dropped. When
        every trial is done the CSV is rewritten in canonical order (eta, trial, method), so a
        resumed run ends with the same file as an uninterrupted one. ``None``: keep results
        in memory only.
    jobs : int
        Worker processes (``-1``: every core). Results do not depend on it. With ``executor``,
        the number of its workers: at most ``2 * jobs`` trials are in flight at a time.
    progress : bool
        Show a tqdm progress bar on stderr.
    task_fn : callable, optional
        Replacement for the trial function (testing hook); must be picklable if ``jobs > 1``
        or ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Where to run the trials instead of a local process pool, e.g. a Dask cluster's
        (:func:`linclip.experiments.cluster.dask_executor`). The caller owns it (it is not
        shut down here); on an interrupt or an error the trials still pending are cancelled.
        A trial whose worker is lost is retried by the executor itself, if it can.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~linclip.experiments.configs.CSV_COLUMNS`, trials ``0 .. config.trials - 1``, canonical order.

    Notes
    -----
    On Ctrl-C (or SIGTERM) the runner stops submitting trials, keeps every trial already
    written and re-raises :class:`KeyboardInterrupt`. Results do not depend on ``jobs``,
    ``executor`` or the order in which trials finish: each trial has its own seed sequence
    (:func:`linclip.experiments.grid.trial_seed`).
    """
    jobs = (os.cpu_count() or 1) if jobs == -1 else check_int("jobs", jobs)
    task_fn = task_fn or _run_task
    paths = output_paths(config, out_dir) if out_dir is not None else None
    existing: list[list[str]] = []
    log = None
    if paths is not None:
        paths["trials"].parent.mkdir(parents=True, exist_ok=True)
        log = _RunLog(  # raises on a definition mismatch
            paths["run"], config, jobs, _executor_name(executor, jobs)
        )
        if paths["trials"].exists():
            existing, clean = _read_complete(paths["trials"], config)
            if not clean:
                _write_rows_atomic(paths["trials"], _canonical_order(existing, config))
        else:
            _write_rows_atomic(paths["trials"], [])
    done = {(float(f[0]), int(f[2])) for f in existing}
    # Trial-major order: an interrupted run has complete eta sweeps for its first trials.
    tasks = [
        (eta, t)
        for t in range(config.trials)
        for eta in config.etas
        if (float(eta), t) not in done
    ]
    new_rows: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(config.etas) * config.trials
        bar = tqdm(
            total=total,
            initial=total - len(tasks),
            desc=config.stem,
            unit="trial",
            file=sys.stderr,
            dynamic_ncols=True,
        )
    fh = open(paths["trials"], "a", newline="", encoding="utf-8") if paths else None
    writer = csv.writer(fh, lineterminator="\n") if fh else None

    def record(rows: list[dict], seconds: float) -> None:
        new_rows.extend(rows)
        if writer is not None:
            assert fh is not None and log is not None
            writer.writerows([[_fmt(row[c]) for c in CSV_COLUMNS] for row in rows])
            fh.flush()
            os.fsync(fh.fileno())
            log.task_done(seconds)
        if bar is not None:
            bar.update(1)

    old_term = None
    if (jobs > 1 or executor is not None) and tasks:
        try:
            old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:  # not in the main thread
            old_term = None
    interrupted = False
    pool = None
    pending: dict[Future, tuple[float, int]] = {}
    try:
        if executor is None and (jobs == 1 or len(tasks) <= 1):
            limit_blas_threads(1)
            for eta, t in tasks:
                record(*task_fn(config, eta, t))
        elif tasks:
            if executor is None:
                pool = ProcessPoolExecutor(
                    max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init
                )

                def submit(eta: float, t: int) -> Future:
                    assert pool is not None
                    return pool.submit(task_fn, config, eta, t)

            else:

                def submit(eta: float, t: int) -> Future:
                    assert executor is not None
                    return executor.submit(_executor_task, task_fn, config, eta, t)

            queue = iter(tasks)
            for eta, t in queue:  # keep at most 2 * jobs tasks in flight
                pending[submit(eta, t)] = (eta, t)
                if len(pending) >= 2 * jobs:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pending.pop(fut)
                    record(*fut.result())
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[submit(*nxt)] = nxt
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        for fut in pending:  # a caller's executor: cancel what is left, keep the executor
            fut.cancel()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if fh is not None:
            fh.close()
        if bar is not None:
            bar.close()
        if log is not None:
            log.finish(interrupted)

    if paths is not None:
        all_rows = existing + [[_fmt(row[c]) for c in CSV_COLUMNS] for row in new_rows]
        _write_rows_atomic(paths["trials"], _canonical_order(all_rows, config))
        frame = load_trials(paths["trials"])
    else:
        frame = pd.DataFrame(new_rows, columns=CSV_COLUMNS)
        order = _canonical_order([[_fmt(r[c]) for c in CSV_COLUMNS] for r in new_rows], config)
        frame = pd.read_csv(io.StringIO(_csv_text(order)))
    frame = frame[frame["trial"] < config.trials].reset_index(drop=True)
    return frame


def _executor_name(executor: Executor | None, jobs: int) -> str:
    """How the run log names the executor: ``serial``, ``process pool`` or the class."""
    if executor is None:
        return "serial" if jobs == 1 else "process pool"
    name = type(executor).__name__
    client = getattr(executor, "_client", None)  # dask's ClientExecutor
    address = getattr(getattr(client, "scheduler", None), "address", None)
    return f"{name} ({address})" if address else name


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def load_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a per-trial CSV written by :func:`run_experiment`."""
    frame = pd.read_csv(path)
    if list(frame.columns) == [c for c in CSV_COLUMNS if c != "sampler"]:
        frame["sampler"] = "pairs"  # written before the sampler column existed
    if list(frame.columns) != CSV_COLUMNS:
        raise ValueError(f"{path} does not have the columns {', '.join(CSV_COLUMNS)}")
    return frame
