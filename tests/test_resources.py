"""Guards on resources (issue 11, item 3): lazy chunk seeds, worker cap, run-time estimate."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from linclip.cli import main
from linclip.cli.guards import check_run_time
from linclip.data.model import BimodalModel, StreamingSample
from linclip.experiments import resources
from linclip.experiments.grid import run_grid, run_trial
from linclip.experiments.resources import (
    RUN_TIME_LIMIT_SECONDS,
    cap_workers,
    cpu_count,
    estimate_trial_seconds,
    format_duration,
)


def _digest(chunks, fields=("x", "xt", "clean")) -> str:
    h = hashlib.sha256()
    for c in chunks:
        for f in fields:
            h.update(getattr(c, f).tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------ lazy chunk seeds
# Digests computed with linclip 0.2.0 (chunk seeds spawned up front) before the change.
def test_lazy_chunk_seeds_give_the_same_pairs_as_before():
    m = BimodalModel(d=10, d_t=8, r=4, eta=0.3, basis_seed=5)
    s = StreamingSample(m, 1000, np.random.SeedSequence(7, spawn_key=(3, 1)), chunk_size=128)
    assert _digest(s.chunks()) == (
        "a14d80ba52b808ce922afea70be5e84bda8e4b5bc0d51faf4ca7a45381e258b0"
    )
    assert _digest(m.sample_chunks(1000, 11, 300, start=450)) == (
        "7544a37eb1062c220c72623a0fd2dcaf567d3ed36ff63945ea6267f7d1d43d46"
    )
    parent = np.random.SeedSequence(9)
    parent.spawn(3)  # a parent that has spawned: children still count from 0, as before
    assert _digest(m.sample_chunks(500, parent, 200), ("x",)) == (
        "56aa9560cb3c484d421dcc491014f07f56b59735b264571b2737654179677c39"
    )


def test_trial_errors_are_bit_identical_to_before():
    rows = run_trial(
        BimodalModel(d=10, d_t=8, r=4, eta=0.3),
        5000,
        2,
        ["none", "teacher-split"],
        seed=3,
        chunk_size=700,
    )
    assert [r["err"] for r in rows] == [0.0018643825007360147, 0.0017726814010592725]


def test_first_chunk_of_a_huge_sample_is_immediate():
    # 0.2.0 spawned all 5e8 chunk seeds before the first chunk (gigabytes, minutes)
    m = BimodalModel(d=4, d_t=3, r=2)
    t0 = time.perf_counter()
    first = next(iter(StreamingSample(m, 10**14, 1, chunk_size=200_000).chunks()))
    assert first.n == 200_000 and time.perf_counter() - t0 < 5


# ------------------------------------------------------------------------ workers
def test_cap_workers(capsys):
    cpus = cpu_count()
    assert cap_workers(40, 2) == min(2, cpus)
    err = capsys.readouterr().err
    if min(2, cpus) < 40:
        assert err.count("\n") == 1 and "not 40 (--jobs 40)" in err
    assert cap_workers(1, 10) == 1 and capsys.readouterr().err == ""
    assert cap_workers(-1, 100, announce=False) == cpus
    assert cap_workers(3, 0, announce=False) == 1


def test_run_grid_caps_workers_and_says_so(capsys, small_model):
    frame = run_grid(small_model, n=200, eta=0.5, trials=1, jobs=40)
    assert len(frame) == 1
    assert "using 1 worker process, not 40" in capsys.readouterr().err


# ------------------------------------------------------------------------ run time
def test_estimates_follow_the_cost_model():
    one = estimate_trial_seconds(10**6, 10, 8, ["none"], ["pairs"])
    two = estimate_trial_seconds(10**6, 10, 8, ["none", "teacher-split"], ["pairs", "pairs"])
    assert two - resources.TRIAL_OVERHEAD_SECONDS == pytest.approx(
        2 * (one - resources.TRIAL_OVERHEAD_SECONDS)
    )
    assert one == pytest.approx(resources.TRIAL_OVERHEAD_SECONDS + 10**6 * 2.0e-6)
    # the exact sampler without a filter does not depend on n
    assert estimate_trial_seconds(10**12, 10, 8, ["none"], ["exact"]) < 0.1
    assert format_duration(90) == "90 s" and format_duration(3 * 86400) == "3 days"


def test_check_run_time_announces_and_refuses(capsys):
    assert check_run_time("simulate", 1.0, 10, 1, force=False, what="w") == 10
    assert capsys.readouterr().err == ""
    check_run_time("simulate", 100.0, 3, 1, force=False, what="3 trials")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "estimated run time 5 minutes (3 trials" in err
    with pytest.raises(ValueError, match="add --force to run it anyway"):
        check_run_time("simulate", RUN_TIME_LIMIT_SECONDS, 2, 1, force=False, what="w")
    check_run_time("simulate", RUN_TIME_LIMIT_SECONDS, 2, 1, force=True, what="w")
    assert "estimated run time 24.0 hours" in capsys.readouterr().err


def test_simulate_huge_n_is_refused_at_once(capsys):
    t0 = time.perf_counter()
    code = main(["simulate", "--n", "1000000000000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--force" in err
    assert "estimated run time" in err and time.perf_counter() - t0 < 5


def test_reproduce_paper_scale_on_pairs_is_announced_and_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(resources, "PAIR_PASS_SECONDS", 1e-5)  # a slower machine
    argv = ["reproduce", "fig3a", "--scale", "paper", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "950 trials" in err and "add --force" in err
    assert not (tmp_path / "fig3a_paper_trials.csv").exists()  # nothing written


def test_run_time_limit_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("LINCLIP_RUN_TIME_LIMIT", "0.5")
    assert main(["simulate", "--n", "10000000", "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "above the limit of 0.5 s" in err
    monkeypatch.setenv("LINCLIP_RUN_TIME_LIMIT", "soon")
    assert main(["simulate", "--n", "10000000"]) == 2
    assert "LINCLIP_RUN_TIME_LIMIT must be a positive number" in capsys.readouterr().err
