r"""The resumable runner of the paper's experiments: CSV per trial, run log, any executor.

Trials run in this process (``jobs=1``), in a local process pool (``jobs > 1``, the default
executor) or on any :class:`concurrent.futures.Executor` passed as ``executor`` (for example a
Dask cluster's, :func:`linclip.experiments.cluster.dask_executor`). This process writes every
result as it arrives and rewrites the CSV in canonical order at the end, so the file does not
depend on the executor or on the order in which trials finish.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import platform
import signal
import sys
import time
import zlib
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
from .resources import cap_workers, worker_init

__all__ = [
    "run_fused_trial",
    "run_methods_fused",
    "run_experiment",
    "load_trials",
    "output_paths",
    "machine_info",
    "limit_blas_threads",
    "run_identity",
    "run_id",
    "FILE_COLUMNS",
    "ResumeError",
    "OutputBusy",
    "Terminated",
    "prepare_out_dir",
    "strict_json",
]

#: Columns of the per-trial CSV file that :func:`run_experiment` writes: the data columns
#: :data:`~linclip.experiments.configs.CSV_COLUMNS`, the run's identity (:func:`run_id`) and a
#: checksum of the row (CRC-32 of its other fields, 8 hex digits), which detects a torn or
#: edited row.
FILE_COLUMNS = [*CSV_COLUMNS, "run_id", "row_check"]


class ResumeError(ValueError):
    """An output directory holds files that this run cannot resume (bad input: exit status 2).

    The message is one line: the file (and line), what is wrong, and what to do.
    """


class OutputBusy(RuntimeError):
    """Another process is writing the same experiment into the same directory (exit status 1)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or another stop signal) received: handled like Ctrl-C, exit status 128 + signum.

    Attributes
    ----------
    signum : int
        The signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
    """Deprecated: :func:`linclip.experiments.resources.worker_init` (with a parent watchdog)."""
    worker_init(None)


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


def run_identity(config: ExperimentConfig) -> dict:
    """Everything a resumed run must share with the run it continues.

    The experiment's definition (:meth:`~linclip.experiments.configs.ExperimentConfig.identity`:
    seed, sampler, grid of eta and n, methods with their knobs, model, chunk size), the learner
    and the package version; not the number of trials (a run may be extended).
    """
    return {
        "experiment": config.identity(),
        "learner": "linear",
        "linclip": _linclip_version(),
        "file_format": 2,
    }


def run_id(config: ExperimentConfig) -> str:
    """The run's identity as 12 hex digits: a SHA-256 hash of :func:`run_identity`.

    Every row of the per-trial CSV carries it (column ``run_id``), and so does the run log;
    :func:`run_experiment` resumes only rows and logs of the same identity.
    """
    text = json.dumps(run_identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _row_check(fields: Sequence[str]) -> str:
    """CRC-32 of a row's fields (all but the check itself), as 8 hex digits."""
    return f"{zlib.crc32(chr(31).join(fields).encode('utf-8')):08x}"


def _file_row(row: dict, rid: str) -> list[str]:
    fields = [_fmt(row[c]) for c in CSV_COLUMNS] + [rid]
    return [*fields, _row_check(fields)]


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


_DELETE_HINT = "use another --out directory or delete its files"


def _notice(message: str) -> None:
    print(f"linclip: {message}", file=sys.stderr)


def _read_text(path: Path, what: str) -> str:
    """The text of ``path``; a ResumeError (one line) if it is a directory or not UTF-8 text."""
    if path.is_dir():
        raise ResumeError(f"{path} is a directory, not {what}; {_DELETE_HINT}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ResumeError(f"{path} is not {what} (binary data, not UTF-8 text); {_DELETE_HINT}")
    return text


def _read_complete(
    path: Path, config: ExperimentConfig, rid: str | None = None
) -> tuple[list[list[str]], bool]:
    """The complete (eta, trial) groups of rows of this run in an existing CSV.

    Returns the rows (as written, with ``run_id`` and ``row_check``) and whether the file was
    clean (else it is rewritten). Only two things are dropped, each with a one-line notice on
    stderr: a torn last line (an interrupted write: no final newline, missing fields or a
    short checksum) and the rows of a trial whose other rows are missing (also an interrupted
    write). Everything else that does not belong to this run raises :class:`ResumeError`
    naming the file and line: another run's rows (``run_id``), rows outside the grid (eta, n,
    method, knob, sampler), rows that fail their checksum (edited), duplicates.
    """
    rid = run_id(config) if rid is None else rid
    text = _read_text(path, "a per-trial CSV")
    if not text:
        raise ResumeError(f"{path} is empty (no header); {_DELETE_HINT}")
    lines = text.split("\n")
    ends_clean = lines[-1] == ""
    if ends_clean:
        lines.pop()
    try:
        header = next(csv.reader([lines[0]]), [])
    except csv.Error:
        header = []
    if header == [c for c in CSV_COLUMNS if c != "sampler"]:
        raise ValueError(
            f"{path} was written before the sampler column existed (its rows come from "
            "generated pairs); resume it with an older linclip, or use another --out directory"
        )
    if header == CSV_COLUMNS:
        raise ResumeError(
            f"{path} has no run_id column (written by linclip 0.2.0 or earlier): its rows "
            f"cannot be matched to this run; {_DELETE_HINT}"
        )
    if header != FILE_COLUMNS:
        raise ResumeError(
            f"{path} does not have the expected columns ({','.join(FILE_COLUMNS)}); {_DELETE_HINT}"
        )
    etas = {float(e) for e in config.etas}
    used = {_spec_key(s): u for s, u in zip(config.methods, config.samplers(), strict=True)}
    clean = True
    groups: dict[tuple, dict[tuple, list[str]]] = {}
    seen: dict[tuple, int] = {}
    body = lines[1:]
    width = len(FILE_COLUMNS)
    for i, line in enumerate(body):
        lineno = i + 2
        last = i == len(body) - 1
        where = f"{path}, line {lineno}"
        try:
            fields = next(csv.reader([line]), [])
        except csv.Error:
            fields = None
        if last and (
            not ends_clean
            or fields is None
            or len(fields) < width
            or (len(fields) == width and len(fields[-1]) < 8)
        ):
            _notice(f"{where}: dropped a torn last line (an interrupted write); recomputed")
            clean = False
            continue
        if fields is None or len(fields) != width:
            got = "unreadable" if fields is None else f"{len(fields)} fields, not {width}"
            raise ResumeError(f"{where} is malformed ({got}); {_DELETE_HINT}")
        row = dict(zip(FILE_COLUMNS, fields, strict=True))
        if row["run_id"] != rid:
            raise ResumeError(
                f"{where} belongs to another run (run_id {row['run_id']!r}; this run is "
                f"{rid!r}: another seed, scale, sampler, grid or linclip version); rows of "
                f"different runs must not be mixed: {_DELETE_HINT}"
            )
        try:
            eta, n, trial = float(row["eta"]), int(row["n"]), int(row["trial"])
            key = _row_key(row)
            float(row["err"])
        except ValueError:
            raise ResumeError(
                f"{where} has a value that is not a number; {_DELETE_HINT}"
            ) from None
        if eta not in etas:
            raise ResumeError(
                f"{where} has eta = {row['eta']}, which is not in this run's grid "
                f"(a foreign or edited row); {_DELETE_HINT}"
            )
        if n != config.n:
            raise ResumeError(
                f"{where} has n = {row['n']}, but this run has n = {config.n} "
                f"(a foreign or edited row); {_DELETE_HINT}"
            )
        if trial < 0:
            raise ResumeError(f"{where} has trial = {trial} < 0; {_DELETE_HINT}")
        if key not in used:
            raise ResumeError(
                f"{where} has method {row['method']} (theta {row['theta']}, keep fraction "
                f"{row['keep_fraction']}), which is not one of this run's methods; "
                f"{_DELETE_HINT}"
            )
        if row["sampler"] != used[key]:
            raise ValueError(
                f"{path} holds rows of {row['method']} drawn with sampler "
                f"{row['sampler']!r}, but this run uses {used[key]!r} (--sampler "
                f"{config.sampler}); rows of different samplers must not be mixed: use "
                "another --out directory or delete its files"
            )
        if row["row_check"] != _row_check(fields[:-1]):
            raise ResumeError(
                f"{where} fails its checksum (the row was edited or corrupted); {_DELETE_HINT}"
            )
        ident = (eta, trial, key)
        if ident in seen:
            raise ResumeError(
                f"{where} repeats the row of line {seen[ident]} (eta {row['eta']}, trial "
                f"{trial}, {row['method']}); {_DELETE_HINT}"
            )
        seen[ident] = lineno
        groups.setdefault((eta, trial), {})[key] = fields
    kept: list[list[str]] = []
    for (eta, trial), rows in groups.items():
        if len(rows) == len(used):
            kept.extend(rows.values())
        else:
            _notice(
                f"{path}: dropped {len(rows)} row(s) of the incomplete trial {trial} at "
                f"eta = {eta!r} (an interrupted write); recomputed"
            )
            clean = False
    return kept, clean and ends_clean


def _write_rows_atomic(path: Path, rows: list[list[str]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FILE_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)


def _canonical_order(rows: list[list[str]], config: ExperimentConfig) -> list[list[str]]:
    eta_pos = {float(e): i for i, e in enumerate(config.etas)}
    spec_pos = {_spec_key(s): i for i, s in enumerate(config.methods)}
    columns = FILE_COLUMNS if rows and len(rows[0]) == len(FILE_COLUMNS) else CSV_COLUMNS

    def key(fields):
        row = dict(zip(columns, fields, strict=True))
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
    """The ``*_run.json`` file: identity, definition, sessions with timing, machine."""

    def __init__(
        self, path: Path, config: ExperimentConfig, jobs: int, executor: str = "process pool"
    ) -> None:
        self.path = path
        rid = run_id(config)
        self.data: dict[str, Any] = {
            "run_id": rid,
            "identity": run_identity(config),
            "experiment": config.identity(),
            "sessions": [],
        }
        if path.exists() or path.is_symlink():
            self.data["sessions"] = _resumable_sessions(path, config, rid)
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

    def finish(self, interrupted: bool, signal_name: str | None = None) -> None:
        self.session["finished"] = _now()
        self.session["interrupted"] = interrupted
        if signal_name is not None:
            self.session["signal"] = signal_name
        self.session["machine"]["load_average_at_end"] = machine_info()["load_average_1_5_15min"]
        self.write()

    def write(self) -> None:
        self.session["wall_seconds"] = round(time.perf_counter() - self._t0, 3)
        sessions = self.data["sessions"]
        self.data["total_wall_seconds"] = round(
            sum(float(s.get("wall_seconds", 0.0)) for s in sessions), 3
        )
        self.data["total_tasks_done"] = sum(int(s.get("tasks_done", 0)) for s in sessions)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(strict_json(self.data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN as ``None`` and every infinity as the string ``"inf"``/``"-inf"``."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def strict_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``value`` as strict JSON: NaN as ``null``, infinities as ``"inf"``.

    Used for every JSON document the command line prints or writes, so a NaN in a result
    (for example an ``err`` of ``nan``) never fails with "Out of range float values".
    """
    return json.dumps(_json_safe(value), allow_nan=False, **kwargs)


def _resumable_sessions(path: Path, config: ExperimentConfig, rid: str) -> list:
    """The sessions of the run log ``path`` if it is this run's; else a one-line ResumeError."""
    what = "a run log"
    text = _read_text(path, what)
    try:
        old = json.loads(text)
    except ValueError:
        raise ResumeError(
            f"{path} is not a readable run log (not valid JSON: truncated or overwritten?); "
            f"{_DELETE_HINT}"
        ) from None
    if not isinstance(old, dict):
        raise ResumeError(
            f"{path} is not a run log (JSON {type(old).__name__}, not an object); {_DELETE_HINT}"
        )
    old_def = old.get("experiment")
    if isinstance(old_def, dict):
        old_def = dict(old_def)
        old_sampler = old_def.setdefault("sampler", "pairs")  # logs before 0.3.0
        if old_sampler != config.sampler:
            raise ResumeError(
                f"{path} belongs to a run with sampler {old_sampler!r}, but this run "
                f"uses {config.sampler!r}; rows of different samplers must not be mixed: "
                f"{_DELETE_HINT}"
            )
        if old_def != config.identity():
            raise ResumeError(
                f"{path} belongs to a run with a different definition (for example another "
                f"--seed or --scale); {_DELETE_HINT}"
            )
    old_id = old.get("run_id")
    if not isinstance(old_id, str) or not old_id:
        raise ResumeError(
            f"{path} has no run identity (run_id; written by linclip 0.2.0 or earlier, or "
            f"edited), so its rows cannot be matched to this run; {_DELETE_HINT}"
        )
    if old_id != rid:
        version = (
            (old.get("identity") or {}).get("linclip")
            if isinstance(old.get("identity"), dict)
            else None
        )
        because = (
            f"written by linclip {version}, this is {_linclip_version()}"
            if isinstance(version, str) and version != _linclip_version()
            else "another definition"
        )
        raise ResumeError(
            f"{path} belongs to another run (run_id {old_id!r}, this run is {rid!r}: "
            f"{because}); rows of different runs must not be mixed: {_DELETE_HINT}"
        )
    sessions = old.get("sessions", [])
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise ResumeError(
            f"{path} is malformed (sessions is not a list of objects); {_DELETE_HINT}"
        )
    return list(sessions)


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def prepare_out_dir(out: str | os.PathLike, name: str = "out_dir") -> Path:
    """Create the output directory ``out`` (and its parents) and return it as a Path.

    Raises a ValueError naming ``name`` and the path when ``out`` is a file, lies under a
    file, or cannot be created (no such place, no permission, read-only); other OS errors
    (a full disk, ...) propagate.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name} {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{name} {out} exists and is not a directory") from None
    except NotADirectoryError:
        parent = next((p for p in out.parents if p.exists() and not p.is_dir()), out.parent)
        raise ValueError(
            f"{name} {out} cannot be created: {parent} is a file, not a directory"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS):
            raise ValueError(f"{name} {out} cannot be created ({exc.strerror or exc})") from None
        raise
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {out} is not writable")
    return out


class _DirLock:
    """An exclusive ``fcntl.flock`` on ``<out>/.<stem>.lock`` for the whole run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: Any = None

    def __enter__(self) -> _DirLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        try:
            self.fh = open(self.path, "a+", encoding="utf-8")
        except IsADirectoryError:
            raise ResumeError(
                f"{self.path} is a directory, not a lock file; {_DELETE_HINT}"
            ) from None
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "unknown"
            self.fh.close()
            self.fh = None
            raise OutputBusy(
                f"{self.path.parent} is in use by another linclip run of "
                f"{self.path.stem.lstrip('.').removesuffix('.lock')} (pid {holder}); wait for "
                "it to finish or use another --out directory"
            ) from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"{os.getpid()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()  # releases the lock
            self.fh = None


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | os.PathLike | None = None,
    *,
    jobs: int = 1,
    progress: bool = False,
    task_fn: Callable[[ExperimentConfig, float, int], tuple[list[dict], float]] | None = None,
    executor: Executor | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume) an experiment and return one row per (eta, trial, method).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (see :func:`~linclip.experiments.configs.experiment_config`).
    out_dir : path, optional
        Directory for the resumable outputs (:func:`output_paths`). Every finished trial is
        appended to the CSV and flushed; on a restart, the (eta, trial) pairs already complete
        in the CSV are not recomputed. When every trial is done the CSV is rewritten in
        canonical order (eta, trial, method), so a resumed run ends with the same file as an
        uninterrupted one. ``None``: keep results in memory only. See Notes for what a
        resume accepts.
    jobs : int
        Worker processes (``-1``: every core); at most one per trial still to run and one per
        core (:func:`~linclip.experiments.resources.cap_workers`, which says so on stderr).
        Results do not depend on it. With ``executor``, the number of its workers: at most
        ``2 * jobs`` trials are in flight at a time.
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
    on_plan : callable, optional
        Called as ``on_plan(tasks, workers)`` once the trials still to run are known (after
        the resume checks, before anything is written): the trials left and the worker
        processes that will run them. It may raise to refuse the run (the command line
        prints its estimated run time there and refuses a run above its limit).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~linclip.experiments.configs.CSV_COLUMNS`, trials ``0 .. config.trials - 1``,
        canonical order; ``frame.attrs["run_id"]`` is the run's identity (:func:`run_id`).

    Raises
    ------
    ResumeError
        ``out_dir`` holds files this run must not resume (one line naming the file): a CSV
        without its run log; a run log that is unreadable, not a JSON object, without a
        ``run_id`` or with another one; rows of another run, outside the grid, edited
        (checksum) or repeated.
    OutputBusy
        Another process is running the same experiment into ``out_dir`` (a lock file
        ``.<stem>.lock`` there, held with ``fcntl.flock`` for the whole run).
    KeyboardInterrupt
        Ctrl-C; :class:`Terminated` (a subclass) for SIGTERM.

    Notes
    -----
    The data are self-describing: every CSV row carries the run's identity (``run_id``, a
    hash of :func:`run_identity`: definition with seed, sampler, grid and methods, learner,
    package version) and a checksum (``row_check``); the run log records the identity too.
    A resume drops only what an interrupted write leaves behind, each with a one-line notice
    on stderr, and recomputes it: a torn last line and the rows of an incomplete trial.

    On Ctrl-C or SIGTERM (whatever ``jobs``) the runner stops, terminates its worker
    processes, keeps every trial already written, marks the session ``interrupted`` (with
    its finish time and the signal) and raises :class:`KeyboardInterrupt` (:class:`Terminated`
    for SIGTERM). Local workers exit by themselves within a fraction of a second if this
    process is killed (:func:`~linclip.experiments.resources.worker_init`). Results do not
    depend on ``jobs``, ``executor`` or the order in which trials finish: each trial has its
    own seed sequence (:func:`linclip.experiments.grid.trial_seed`).
    """
    jobs = -1 if jobs == -1 else check_int("jobs", jobs)
    if out_dir is None:
        return _run(config, None, jobs, progress, task_fn, executor, on_plan)
    paths = output_paths(config, out_dir)
    prepare_out_dir(paths["trials"].parent)
    with _DirLock(paths["trials"].parent / f".{config.stem}.lock"):
        return _run(config, paths, jobs, progress, task_fn, executor, on_plan)


def _run(
    config: ExperimentConfig,
    paths: dict[str, Path] | None,
    jobs: int,
    progress: bool,
    task_fn: Callable[[ExperimentConfig, float, int], tuple[list[dict], float]] | None,
    executor: Executor | None,
    on_plan: Callable[[int, int], None] | None,
) -> pd.DataFrame:
    task_fn = task_fn or _run_task
    rid = run_id(config)
    existing: list[list[str]] = []
    log = None
    if paths is not None:
        for key in ("trials", "run"):
            if paths[key].is_dir():
                raise ResumeError(
                    f"{paths[key]} is a directory, not a "
                    f"{'per-trial CSV' if key == 'trials' else 'run log'}; {_DELETE_HINT}"
                )
        csv_there = paths["trials"].exists()
        if csv_there and not paths["run"].exists():
            raise ResumeError(
                f"{paths['trials']} has no run log ({paths['run'].name} is missing), so its "
                f"rows cannot be matched to this run; rows of different runs must not be "
                f"mixed: {_DELETE_HINT}"
            )
        log = _RunLog(paths["run"], config, jobs)  # checks the old log; writes nothing yet
        clean = True
        if csv_there:
            existing, clean = _read_complete(paths["trials"], config, rid)
    done = {(float(f[0]), int(f[2])) for f in existing}
    # Trial-major order: an interrupted run has complete eta sweeps for its first trials.
    tasks = [
        (eta, t)
        for t in range(config.trials)
        for eta in config.etas
        if (float(eta), t) not in done
    ]
    workers = jobs if executor is not None else cap_workers(jobs, len(tasks))
    if on_plan is not None:
        on_plan(len(tasks), workers)
    if paths is not None and log is not None:
        log.session["workers"] = workers
        log.session["executor"] = _executor_name(executor, workers)
        if not csv_there:
            _write_rows_atomic(paths["trials"], [])
        elif not clean:
            _write_rows_atomic(paths["trials"], _canonical_order(existing, config))
    new_rows: list[list[str]] = []
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
        fields = [_file_row(row, rid) for row in rows]
        new_rows.extend(fields)
        if writer is not None:
            assert fh is not None and log is not None
            writer.writerows(fields)
            fh.flush()
            os.fsync(fh.fileno())
            log.task_done(seconds)
        if bar is not None:
            bar.update(1)

    old_term = None
    if tasks:
        try:
            old_term = signal.signal(signal.SIGTERM, _raise_terminated)
        except ValueError:  # not in the main thread
            old_term = None
    interrupted = False
    signal_name: str | None = None
    pool = None
    pending: dict[Future, tuple[float, int]] = {}
    try:
        if executor is None and workers == 1:
            limit_blas_threads(1)
            for eta, t in tasks:
                record(*task_fn(config, eta, t))
        elif tasks:
            if executor is None:
                pool = ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=get_context("spawn"),
                    initializer=worker_init,
                    initargs=(os.getpid(),),
                )

                def submit(eta: float, t: int) -> Future:
                    assert pool is not None
                    return pool.submit(task_fn, config, eta, t)

            else:

                def submit(eta: float, t: int) -> Future:
                    assert executor is not None
                    return executor.submit(_executor_task, task_fn, config, eta, t)

            queue = iter(tasks)
            for eta, t in queue:  # keep at most 2 * workers tasks in flight
                pending[submit(eta, t)] = (eta, t)
                if len(pending) >= 2 * workers:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pending.pop(fut)
                    record(*fut.result())
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[submit(*nxt)] = nxt
    except KeyboardInterrupt as exc:
        interrupted = True
        signal_name = signal.Signals(exc.signum).name if isinstance(exc, Terminated) else "SIGINT"
        raise
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if pool is not None:
            if interrupted:
                _terminate_workers(pool)
                # No cancel_futures here: the broken pool fails its pending futures itself, and
                # cancelling them too races with that (InvalidStateError in the pool's thread).
                pool.shutdown(wait=False)
            else:
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            for fut in pending:  # a caller's executor: cancel what is left, keep the executor
                fut.cancel()
        if fh is not None:
            fh.close()
        if bar is not None:
            bar.close()
        if log is not None:
            log.finish(interrupted, signal_name)

    if paths is not None:
        _write_rows_atomic(paths["trials"], _canonical_order(existing + new_rows, config))
        frame = load_trials(paths["trials"])
    else:
        order = _canonical_order(new_rows, config)
        frame = pd.read_csv(io.StringIO(_csv_text(order)), dtype={"run_id": str})[CSV_COLUMNS]
    frame = frame[frame["trial"] < config.trials].reset_index(drop=True)
    frame.attrs["run_id"] = rid
    return frame


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's worker processes now (their trials are lost and will be recomputed)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):  # pragma: no cover - already gone
            pass


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
    writer.writerow(FILE_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def load_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a per-trial CSV written by :func:`run_experiment` (any version), read-only.

    Returns the columns :data:`~linclip.experiments.configs.CSV_COLUMNS`. A file written
    since ``run_id`` existed (:data:`FILE_COLUMNS`) has its identity in
    ``frame.attrs["run_id"]`` (one id, or a sorted list if the file mixes runs); committed
    results written before it (``book/data``, :func:`linclip.experiments.archive.load_result`)
    and files without the ``sampler`` column (read as ``"pairs"``) still load. Nothing is
    checked against a run: that is what resuming does (:func:`run_experiment`).
    """
    frame = pd.read_csv(path, dtype={"run_id": str, "row_check": str})
    columns = list(frame.columns)
    if columns == [c for c in CSV_COLUMNS if c != "sampler"]:
        frame["sampler"] = "pairs"  # written before the sampler column existed
    elif columns == FILE_COLUMNS:
        ids = sorted(set(frame["run_id"].astype(str)))
        frame = frame[CSV_COLUMNS]
        frame.attrs["run_id"] = ids[0] if len(ids) == 1 else ids
    if list(frame.columns) != CSV_COLUMNS:
        raise ValueError(f"{path} does not have the columns {', '.join(CSV_COLUMNS)}")
    return frame
