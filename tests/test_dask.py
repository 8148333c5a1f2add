"""Trials on a real Dask cluster (a LocalCluster on 127.0.0.1 with two worker processes).

Shows: the same CSV bytes as the local process pool and as ``--jobs 1`` for the same seed; a
worker killed in the middle of a trial loses no trial (Dask re-runs it); a run interrupted in
the client resumes to the same file. Without Dask these tests are skipped, with a reason that
says so in the summary (``-ra``); with ``CI=true`` they fail instead. The tests of the error
messages (bad address, unreachable scheduler, Dask not installed) run without Dask.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from linclip import BimodalModel
from linclip.cli import main
from linclip.experiments import run_grid
from linclip.experiments import runner as runner_module
from linclip.experiments.cluster import ClusterUnavailable, dask_executor, parse_scheduler
from linclip.experiments.configs import experiment_config
from linclip.experiments.runner import _run_task, load_trials, output_paths, run_experiment

try:
    import distributed
except ImportError:  # pragma: no cover - depends on the environment
    distributed = None

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _require_dask() -> None:
    if distributed is not None:
        return
    message = (
        "dask.distributed is not installed: the Dask cluster tests did NOT run "
        "(pip install 'linclip[dask]')"
    )
    if IN_CI:
        pytest.fail(message + "; CI=true requires them")
    pytest.skip(message)


@pytest.fixture(scope="module")
def client():
    """A Client of a LocalCluster: two single-threaded worker processes on 127.0.0.1."""
    _require_dask()
    import cloudpickle

    # The task functions below live in this test module, which the workers cannot import.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # no dashboard; the scheduler's HTTP endpoint on loopback, any free port
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    c = distributed.Client(cluster, timeout=30)
    c.wait_for_workers(2, timeout=60)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def small_config(trials: int = 4, seed: int = 3):
    """Table 1 at book scale (n = 1e4, seven kept fractions, two teachers), few trials."""
    return experiment_config("table1", "book", trials=trials, seed=seed)


def csv_bytes(config, out: Path) -> bytes:
    return output_paths(config, out)["trials"].read_bytes()


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    """The ``--jobs 1`` run of :func:`small_config` with six trials."""
    cfg = small_config(trials=6)
    out = tmp_path_factory.mktemp("serial")
    run_experiment(cfg, out, jobs=1)
    return cfg, csv_bytes(cfg, out)


# ------------------------------------------------------------------------ identical results
def test_cluster_rows_equal_process_pool_and_serial(client, serial_reference, tmp_path):
    cfg, serial = serial_reference
    run_experiment(cfg, tmp_path / "pool", jobs=2)
    ex = client.get_executor(pure=False)
    frame = run_experiment(cfg, tmp_path / "dask", jobs=2, executor=ex)
    assert csv_bytes(cfg, tmp_path / "pool") == serial
    assert csv_bytes(cfg, tmp_path / "dask") == serial
    assert len(frame) == cfg.trials * len(cfg.etas) * len(cfg.methods)
    log = json.loads(output_paths(cfg, tmp_path / "dask")["run"].read_text())
    assert log["sessions"][-1]["executor"].startswith("ClientExecutor (tcp://127.0.0.1:")


def _shuffled_task(config, eta, trial):
    """Later trials finish first: completion order is the reverse of submission order."""
    time.sleep(0.02 * (config.trials - trial))
    return _run_task(config, eta, trial)


def test_completion_order_does_not_matter(client, serial_reference, tmp_path):
    cfg, serial = serial_reference
    ex = client.get_executor(pure=False)
    run_experiment(cfg, tmp_path, jobs=3, executor=ex, task_fn=_shuffled_task)
    assert csv_bytes(cfg, tmp_path) == serial


def test_run_grid_on_cluster_equals_serial(client):
    model = BimodalModel(d=6, d_t=5, r=2, gamma=20.0, gamma_t=20.0)
    kwargs = dict(n=800, eta=[1.0, 0.3], methods=["none", "teacher-split"], trials=3, seed=5)
    serial = run_grid(model, **kwargs)
    on_cluster = run_grid(model, executor=client.get_executor(pure=False), **kwargs)
    pd.testing.assert_frame_equal(serial, on_cluster)


def test_cli_scheduler_address_equals_jobs_1(client, serial_reference, tmp_path, capsys):
    cfg, serial = serial_reference
    argv = ["reproduce", "table1", "--trials", "6", "--seed", "3", "--no-progress", "--json"]
    code = main(argv + ["--out", str(tmp_path), "--scheduler", client.scheduler.address])
    assert code == 0
    json.loads(capsys.readouterr().out)  # one JSON document
    assert csv_bytes(cfg, tmp_path) == serial


# ------------------------------------------------------------------------ interrupted client
def test_resume_after_interrupting_the_client(client, serial_reference, tmp_path, monkeypatch):
    cfg, serial = serial_reference
    ex = client.get_executor(pure=False)
    k = 2
    original = runner_module._RunLog.task_done

    def stop_after_k(self, seconds):  # Ctrl-C in the client once k results are written
        original(self, seconds)
        if self.session["tasks_done"] == k:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner_module._RunLog, "task_done", stop_after_k)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path, jobs=2, executor=ex, task_fn=_shuffled_task)
    monkeypatch.setattr(runner_module._RunLog, "task_done", original)
    assert len(load_trials(output_paths(cfg, tmp_path)["trials"])) == k * len(cfg.methods)

    run_experiment(cfg, tmp_path, jobs=2, executor=client.get_executor(pure=False))
    assert csv_bytes(cfg, tmp_path) == serial
    log = json.loads(output_paths(cfg, tmp_path)["run"].read_text())
    assert [s["interrupted"] for s in log["sessions"]] == [True, False]
    assert [s["tasks_done"] for s in log["sessions"]] == [k, cfg.trials - k]


# ------------------------------------------------------------------------ a worker is killed
VICTIM_TRIAL = 2


def _task_that_gets_killed(marker_dir, config, eta, trial):
    """Log each attempt; the first attempt of trial VICTIM_TRIAL waits to be killed."""
    d = Path(marker_dir)
    (d / f"attempt-{trial}-{os.getpid()}-{time.monotonic_ns()}").touch()
    if trial == VICTIM_TRIAL and not (d / "killed").exists():
        (d / "victim.tmp").write_text(str(os.getpid()))
        os.replace(d / "victim.tmp", d / "victim")
        time.sleep(120)  # SIGKILLed by the test long before this ends
    time.sleep(0.05)
    return _run_task(config, eta, trial)


def test_killed_worker_loses_no_trial(client, serial_reference, tmp_path):
    cfg, serial = serial_reference
    markers = tmp_path / "markers"
    markers.mkdir()
    pids_before = set(client.run(os.getpid).values())
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 60
        while not (markers / "victim").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int((markers / "victim").read_text())
        (markers / "killed").touch()  # the retry then runs normally
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    task = functools.partial(_task_that_gets_killed, str(markers))
    ex = client.get_executor(pure=False)
    run_experiment(cfg, tmp_path / "out", jobs=2, executor=ex, task_fn=task)
    thread.join(timeout=5)
    assert len(killed) == 1 and killed[0] in pids_before  # a worker process was killed mid-trial
    attempts = [p.name.split("-") for p in markers.glob("attempt-*")]
    victim_attempts = [a for a in attempts if int(a[1]) == VICTIM_TRIAL]
    assert len(victim_attempts) >= 2  # Dask re-ran the lost trial ...
    assert {int(a[2]) for a in victim_attempts} - {killed[0]}  # ... in another process
    assert csv_bytes(cfg, tmp_path / "out") == serial  # and no trial is lost or changed


# ------------------------------------------------------------------------ --scheduler local
def test_cli_scheduler_local(serial_reference, tmp_path, capsys):
    _require_dask()
    cfg, serial = serial_reference
    argv = ["reproduce", "table1", "--trials", "6", "--seed", "3", "--no-progress", "--json"]
    assert main(argv + ["--out", str(tmp_path), "--scheduler", "local", "--jobs", "2"]) == 0
    capsys.readouterr()
    assert csv_bytes(cfg, tmp_path) == serial


# ------------------------------------------------------------------------ errors (no Dask needed)
@pytest.mark.parametrize(
    "value",
    ["foo", "tcp://", "tcp://host", "tcp://host:0", "tcp://host:70000", "http://h:1", "local2"],
)
def test_malformed_scheduler_exits_2_with_one_line(value, tmp_path, capsys):
    code = main(
        ["reproduce", "table1", "--no-progress", "--out", str(tmp_path)]
        + [
            "--scheduler",
            value,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--scheduler" in err and "tcp://HOST:PORT" in err


@pytest.mark.parametrize("value", ["local", "tcp://10.0.0.5:8786", "tls://[::1]:8786"])
def test_parse_scheduler_accepts(value):
    assert parse_scheduler(value) == value


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_exits_1_with_one_line(tmp_path, capsys):
    _require_dask()
    address = f"tcp://127.0.0.1:{_closed_port()}"
    argv = ["reproduce", "table1", "--trials", "1", "--no-progress", "--out", str(tmp_path)]
    start = time.monotonic()
    code = main(argv + ["--scheduler", address, "--scheduler-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and address in err
    assert time.monotonic() - start < 20


def test_scheduler_without_dask_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    argv = ["reproduce", "table1", "--trials", "1", "--no-progress", "--out", str(tmp_path)]
    code = main(argv + ["--scheduler", "local"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "pip install 'linclip[dask]'" in err
    with pytest.raises(ClusterUnavailable, match=r"linclip\[dask\]"):
        with dask_executor("tcp://127.0.0.1:8786"):
            pass


def test_bad_timeout_exits_2(tmp_path, capsys):
    argv = ["reproduce", "table1", "--no-progress", "--out", str(tmp_path), "--scheduler"]
    # Refused when the options are read (argparse exits with status 2), before any cluster.
    with pytest.raises(SystemExit) as exc:
        main(argv + ["local", "--scheduler-timeout", "0"])
    assert exc.value.code == 2 and "--scheduler-timeout" in capsys.readouterr().err
