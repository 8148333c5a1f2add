"""Signals, orphans and concurrent writers (issue 11, item 6), with real subprocesses.

* SIGTERM at ``--jobs 1`` is handled like Ctrl-C: exit status 143, the run log's session says
  ``interrupted`` with a finish time and the signal, and the run resumes to the same file as
  an uninterrupted one.
* A second process writing the same experiment into the same ``--out`` is refused (exit 1).
* SIGKILL to the parent of ``--jobs 2``: no worker process and no resource tracker survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from linclip.cli import main
from linclip.experiments.configs import experiment_config
from linclip.experiments.resources import cpu_count
from linclip.experiments.runner import OutputBusy, _DirLock, output_paths, run_experiment

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _start(out: Path, jobs: int, trials: int = 2000) -> subprocess.Popen:
    argv = [sys.executable, "-m", "linclip", "reproduce", "table1", "--trials", str(trials)]
    argv += ["--jobs", str(jobs), "--no-progress", "--out", str(out)]
    return subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_rows(proc: subprocess.Popen, csv: Path, rows: int, timeout: float = 60) -> None:
    """Wait until ``csv`` holds ``rows`` data rows (the workers are running)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        if csv.exists() and csv.read_text().count("\n") > rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {rows} rows in {csv} after {timeout} s")


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (psutil if installed, else /proc)."""
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except ImportError:  # pragma: no cover - psutil is in requirements.txt
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, todo = [], [pid]
        while todo:
            p = todo.pop()
            kids = [c for c, pp in parents.items() if pp == p]
            found += kids
            todo += kids
        return found


def _alive(pid: int) -> bool:
    """Running and not a zombie (an orphan's zombie waits for a reaper, it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; SIGKILL semantics of Linux")
def test_sigterm_at_jobs_1_is_an_interrupt_and_a_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    paths = output_paths(experiment_config("table1"), out)
    proc = _start(out, jobs=1)
    try:
        _wait_for_rows(proc, paths["trials"], 28)
        # a second process writing the same experiment into the same directory
        code = main(["reproduce", "table1", "--trials", "3", "--no-progress", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "in use by another linclip run" in err
        assert f"pid {proc.pid}" in err
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr.decode() and "interrupted (SIGTERM)" in stderr.decode()
    session = json.loads(paths["run"].read_text())["sessions"][-1]
    assert session["interrupted"] is True and session["finished"] is not None
    assert session["signal"] == "SIGTERM" and session["tasks_done"] >= 2
    # resumable: extending to a few more trials ends with the uninterrupted run's file
    trials = session["tasks_done"] + 2
    run_experiment(experiment_config("table1", trials=trials), out)
    run_experiment(experiment_config("table1", trials=trials), tmp_path / "fresh")
    fresh = output_paths(experiment_config("table1"), tmp_path / "fresh")["trials"]
    assert paths["trials"].read_bytes() == fresh.read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; SIGKILL semantics of Linux")
@pytest.mark.skipif(cpu_count() < 2, reason="--jobs 2 runs serially on one core (no workers)")
def test_sigkill_to_the_parent_leaves_no_worker_alive(tmp_path):
    out = tmp_path / "run"
    paths = output_paths(experiment_config("table1"), out)
    proc = _start(out, jobs=2)
    children: list[int] = []
    try:
        _wait_for_rows(proc, paths["trials"], 2 * 14)  # workers have finished trials
        children = _children(proc.pid)
        assert len(children) >= 2, children  # two workers (and the resource tracker)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.05)
        survivors = [c for c in children if _alive(c)]
        assert survivors == [], f"orphans alive 5 s after SIGKILL: {survivors}"
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_all(c for c in children if _alive(c))
    # what was written is resumable
    session = json.loads(paths["run"].read_text())["sessions"][-1]
    assert session["finished"] is None  # SIGKILL: no chance to write it
    done = session["tasks_done"]
    run_experiment(experiment_config("table1", trials=done + 1), out)


def test_lock_refuses_a_second_writer_in_process(tmp_path):
    cfg = experiment_config("table1", trials=1)
    tmp_path.mkdir(exist_ok=True)
    with _DirLock(tmp_path / f".{cfg.stem}.lock"):
        with pytest.raises(OutputBusy, match="in use by another linclip run of table1_book"):
            run_experiment(cfg, tmp_path)
    # released: the run goes ahead, and a lock on another experiment does not block it
    with _DirLock(tmp_path / ".fig3a_book.lock"):
        assert len(run_experiment(cfg, tmp_path)) == 14


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed in the main thread",
)
def test_sigterm_in_process_marks_the_log(tmp_path):
    """The handler is installed at any jobs: a SIGTERM inside a serial run is an interrupt."""
    from linclip.experiments.runner import Terminated, _run_task

    cfg = experiment_config("table1", trials=4)
    calls = []

    def task(config, eta, trial):
        if trial == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        calls.append(trial)
        return _run_task(config, eta, trial)

    with pytest.raises(Terminated):
        run_experiment(cfg, tmp_path, jobs=1, task_fn=task)
    assert calls == [0, 1]
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler)
    session = json.loads(output_paths(cfg, tmp_path)["run"].read_text())["sessions"][-1]
    assert session["interrupted"] is True and session["signal"] == "SIGTERM"
    assert session["finished"] is not None and session["tasks_done"] == 2
