r"""Guards on resources: worker processes, estimated run time, workers that outlive a parent.

* :func:`cap_workers`: a run never starts more worker processes than it has trials or the
  machine has cores, ``min(jobs, tasks, CPUs)``, and says so on stderr when it caps.
* :func:`estimate_trial_seconds`, :func:`estimate_run_seconds`: a simple cost model of one
  trial, calibrated on the book's build machine (below), so the command line can print an
  estimate before a run of more than :data:`ANNOUNCE_SECONDS` and refuse one of more than
  :data:`RUN_TIME_LIMIT_SECONDS` unless ``--force`` is given.
* :func:`worker_init`: the initializer of every local worker process: ignore Ctrl-C (the
  parent handles it), one BLAS thread, and a watchdog thread that ends the worker as soon as
  its parent is gone (a parent killed with SIGKILL cannot stop its workers itself).

The cost model
--------------
A trial on generated pairs (sampler ``pairs``) makes one pass over its ``n`` pairs, or two
when a method filters with a teacher or a score (pass 1 trains, pass 2 scores and keeps); a
pass costs :data:`PAIR_PASS_SECONDS` per pair at ``d = 10``, ``d~ = 8``, growing with
``d * d~ + d + d~``. On the exact sampler a method without a filter costs a constant
(the statistics are drawn directly, whatever ``n``); a filtering method still scores its pool,
at :data:`EXACT_FILTER_SECONDS` per pair and filtering method (``exact``, the compiled loop;
:data:`EXACT_PAIRED_FILTER_SECONDS` for ``exact-paired``; :data:`EXACT_NUMPY_FACTOR` times
more without numba). The constants were measured on the 2-core build machine (2 cores, one
BLAS thread per process, shared with other jobs) from trials at n = 10⁶ and 10⁷ (generated
pairs: 1.1 to 2.5 µs per pair and pass depending on the load; exact samplers: the paper-scale
Figure 3a tasks of ``benchmarks/bench_exact.py --tasks``, 0.017–0.019 µs (``exact``) and
0.047 µs (``exact-paired``) per pair of n and filtering method) and rounded up; they get
the order of magnitude right (within a factor of about two), they do not time a run.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

__all__ = [
    "ANNOUNCE_SECONDS",
    "RUN_TIME_LIMIT_SECONDS",
    "PAIR_PASS_SECONDS",
    "EXACT_FILTER_SECONDS",
    "EXACT_PAIRED_FILTER_SECONDS",
    "EXACT_NUMPY_FACTOR",
    "TRIAL_OVERHEAD_SECONDS",
    "cpu_count",
    "cap_workers",
    "estimate_trial_seconds",
    "estimate_run_seconds",
    "format_duration",
    "worker_init",
]

#: A run estimated to take longer than this prints its estimate first (seconds).
ANNOUNCE_SECONDS = 60.0
#: A run estimated to take longer than this is refused unless ``--force`` (seconds: 12 hours).
RUN_TIME_LIMIT_SECONDS = 12 * 3600.0
#: Seconds per pair and pass over generated pairs at d = 10, d~ = 8 (one BLAS thread).
PAIR_PASS_SECONDS = 2.0e-6
#: Seconds per pair of a filtering method's pool on the exact sampler (the fold; one filter
#: per virtual data set).
EXACT_FILTER_SECONDS = 2.5e-8
#: The same for ``exact-paired`` (all filters of a trial project each pair jointly).
EXACT_PAIRED_FILTER_SECONDS = 6.0e-8
#: How much slower the NumPy loop is than the compiled one (numba not installed).
EXACT_NUMPY_FACTOR = 5.0
#: Seconds per trial whatever n (bases, learners, bookkeeping).
TRIAL_OVERHEAD_SECONDS = 0.01

_FILTERS = ("teacher", "teacher-split", "oracle-score")


def cpu_count() -> int:
    """The cores this process may use (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def cap_workers(jobs: int, tasks: int, *, announce: bool = True, what: str = "trial") -> int:
    """The worker processes to start: ``min(jobs, tasks, CPUs)``, at least 1.

    Parameters
    ----------
    jobs : int
        Requested worker processes (``-1``: every core).
    tasks : int
        Trials still to run.
    announce : bool
        Say so on stderr (one line) when fewer than the requested ``jobs`` are started.
    what : str
        The name of one task in that line.
    """
    cpus = cpu_count()
    requested = cpus if jobs == -1 else int(jobs)
    workers = max(1, min(requested, tasks, cpus))
    if announce and workers < requested and tasks > 0:
        why = (
            f"only {tasks} {what}{'s' if tasks != 1 else ''} to run"
            if tasks <= cpus
            else f"this machine has {cpus} core{'s' if cpus != 1 else ''}"
        )
        print(
            f"linclip: using {workers} worker process{'es' if workers != 1 else ''}, not "
            f"{requested} (--jobs {jobs}): {why}",
            file=sys.stderr,
        )
    return workers


def _dim_factor(d: int, d_t: int) -> float:
    return (d * d_t + d + d_t) / (10 * 8 + 10 + 8)


def estimate_trial_seconds(
    n: int, d: int, d_t: int, methods: Sequence[str], samplers: Sequence[str]
) -> float:
    r"""Estimated seconds of one trial (every method on one sample) on one core.

    Parameters
    ----------
    n : int
        Pairs per trial :math:`n`.
    d, d_t : int
        Dimensions :math:`d, \tilde d`.
    methods : sequence of str
        Method names of the trial.
    samplers : sequence of str
        The sampler each method runs on (``"pairs"``, ``"exact"`` or ``"exact-paired"``).
    """
    f = _dim_factor(d, d_t)
    seconds = TRIAL_OVERHEAD_SECONDS
    on_pairs = [m for m, s in zip(methods, samplers, strict=True) if s == "pairs"]
    if on_pairs:
        passes = 2 if any(m in _FILTERS for m in on_pairs) else 1
        seconds += passes * n * PAIR_PASS_SECONDS * f
    from ..data import _kernel

    numpy_factor = EXACT_NUMPY_FACTOR if _kernel.numba is None else 1.0
    for sampler, per_pair in (
        ("exact", EXACT_FILTER_SECONDS),
        ("exact-paired", EXACT_PAIRED_FILTER_SECONDS),
    ):
        filters = [
            m for m, s in zip(methods, samplers, strict=True) if s == sampler and m in _FILTERS
        ]
        seconds += len(filters) * n * per_pair * f * numpy_factor
    return seconds


def estimate_run_seconds(trial_seconds: float, tasks: int, workers: int) -> float:
    """Estimated wall-clock seconds of ``tasks`` trials on ``workers`` processes."""
    if tasks <= 0:
        return 0.0
    waves = -(-tasks // max(1, workers))
    return trial_seconds * waves


def format_duration(seconds: float) -> str:
    """``seconds`` as a short human-readable duration, e.g. ``"3.2 hours"``."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / (365 * 86400):.2g} years"


def _watch_parent(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: nobody will collect this worker's results
        time.sleep(interval)


def worker_init(parent_pid: int | None = None, interval: float = 0.2) -> None:
    """Initializer of a local worker process (see the module docstring).

    Parameters
    ----------
    parent_pid : int, optional
        The parent's process id; the worker exits within ``interval`` seconds once its parent
        is no longer ``parent_pid`` (the parent died; the worker was re-parented).
    interval : float
        Seconds between two checks of the parent.
    """
    from .runner import limit_blas_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    limit_blas_threads(1)
    if parent_pid is not None:
        if os.getppid() != parent_pid:  # pragma: no cover - the parent died during start-up
            os._exit(1)
        threading.Thread(
            target=_watch_parent,
            args=(parent_pid, interval),
            name="linclip-parent-watch",
            daemon=True,
        ).start()
