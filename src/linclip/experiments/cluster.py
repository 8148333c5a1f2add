r"""Run the experiments on a Dask cluster (optional: ``pip install linclip[dask]``).

The runner (:func:`linclip.experiments.runner.run_experiment`) and
:func:`linclip.experiments.grid.run_grid` accept any :class:`concurrent.futures.Executor`; this
module supplies one backed by ``dask.distributed``
(``distributed.Client.get_executor``), either on an existing cluster
(``tcp://HOST:PORT``) or on a :class:`distributed.LocalCluster` started on 127.0.0.1 with one
single-threaded worker process per job (``local``).

Results do not depend on the executor: trial ``t`` at ``(n, eta)`` draws its data from its own
seed sequence (:func:`linclip.experiments.grid.trial_seed`), whichever worker runs it and in
whatever order the trials finish, and the parent process writes the CSV in canonical order.

Fault tolerance is Dask's own: when a worker dies, the scheduler re-runs its tasks on the other
workers (up to ``distributed.scheduler.allowed-failures`` times per task, default 3; then the
run stops with :class:`distributed.KilledWorker`). With a ``LocalCluster`` the nanny also
restarts the dead worker process.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

__all__ = [
    "ClusterUnavailable",
    "DASK_INSTALL_HINT",
    "parse_scheduler",
    "require_distributed",
    "dask_executor",
]

#: What to install for ``--scheduler``.
DASK_INSTALL_HINT = "pip install 'linclip[dask]' (or: pip install 'dask[distributed]')"

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]*)):(\d+)$")


class ClusterUnavailable(RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached (an environment problem).

    The command line reports it as one line on stderr with exit status 1.
    """


def parse_scheduler(value: str) -> str:
    """Validate a ``--scheduler`` value: ``"local"`` or ``tcp://HOST:PORT`` (or ``tls://``).

    Parameters
    ----------
    value : str
        ``local`` (start a LocalCluster on 127.0.0.1) or the address of a running Dask
        scheduler, e.g. ``tcp://10.0.0.5:8786``.

    Returns
    -------
    str
        ``"local"`` or the address, unchanged.

    Raises
    ------
    ValueError
        If ``value`` is neither, or the port is not in 1..65535.
    """
    text = str(value).strip()
    if text == "local":
        return text
    m = _ADDRESS.match(text)
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise ValueError(
            "--scheduler must be 'local' or the address of a Dask scheduler, "
            f"tcp://HOST:PORT with PORT in 1..65535 (e.g. tcp://10.0.0.5:8786); got {value!r}"
        )
    return text


def require_distributed() -> Any:
    """Import and return ``distributed``, or raise :class:`ClusterUnavailable` saying what to
    install.
    """
    try:
        import distributed
    except ImportError as exc:
        raise ClusterUnavailable(
            f"--scheduler needs Dask's distributed scheduler, which is not installed: "
            f"{DASK_INSTALL_HINT}"
        ) from exc
    return distributed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal survives ``exec``).

    Ctrl-C reaches every process of the terminal's process group; the parent handles it
    (cancels the trials, closes the cluster), so the workers need not print tracebacks.
    """
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not in the main thread: leave the signal alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def dask_executor(
    scheduler: str, *, jobs: int = 2, timeout: float = 10.0
) -> Iterator[tuple[Executor, int]]:
    """A :class:`concurrent.futures.Executor` on a Dask cluster, and its number of worker threads.

    Parameters
    ----------
    scheduler : str
        ``"local"``: start a :class:`distributed.LocalCluster` on 127.0.0.1 with ``jobs``
        worker processes of one thread each (closed on exit). Otherwise the address of a
        running scheduler, ``tcp://HOST:PORT`` (see :func:`parse_scheduler`); its workers
        must be able to import ``linclip`` (the same version).
    jobs : int
        Worker processes of the local cluster (ignored for an address).
    timeout : float
        Seconds to wait for the scheduler before giving up.

    Yields
    ------
    (Executor, int)
        The executor (``distributed.Client.get_executor``, ``pure=False``: every
        submission is a new task) and the cluster's worker threads when it connected
        (at least 1), a sensible number of trials to keep in flight per half.

    Raises
    ------
    ValueError
        For a malformed ``scheduler``, ``jobs < 1`` or ``timeout <= 0``.
    ClusterUnavailable
        If Dask is not installed or the scheduler does not answer within ``timeout``.
    """
    scheduler = parse_scheduler(scheduler)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer; got {jobs!r}")
    if not timeout > 0:
        raise ValueError(f"--scheduler-timeout must be positive (seconds); got {timeout!r}")
    distributed = require_distributed()
    cluster = None
    try:
        if scheduler == "local":
            with _workers_ignore_sigint():
                cluster = distributed.LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # no dashboard; the scheduler's HTTP endpoint on loopback, any free port
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            client = distributed.Client(cluster, timeout=timeout)
        else:
            client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        where = "start a local Dask cluster" if scheduler == "local" else f"reach {scheduler}"
        raise ClusterUnavailable(
            f"could not {where} within {timeout:g} s: {_first_line(exc)}"
        ) from exc
    try:
        threads = max(1, sum(client.nthreads().values()))
        yield client.get_executor(pure=False), threads
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
