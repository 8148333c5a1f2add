"""Tests for linclip.reproduce and the ``reproduce`` subcommand (small scales only)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from linclip.cli import main
from linclip.experiments import MethodSpec, run_trial
from linclip.experiments.runner import FILE_COLUMNS, run_id
from linclip.filters import _split_chunks, run_method
from linclip.model import BimodalModel, StreamingSample
from linclip.reproduce import (
    CSV_COLUMNS,
    PAPER_ETAS,
    TABLE1_KEEP_FRACTIONS,
    ExperimentConfig,
    Regime,
    _run_task,
    complete_sweeps,
    experiment_config,
    first_order_errors,
    fit_regimes,
    limit_blas_threads,
    load_trials,
    output_paths,
    run_experiment,
    run_fused_trial,
    run_methods_fused,
    summarize_trials,
    table1_rows,
    write_fig3a_figure,
)

ALL_SPECS = [
    MethodSpec("none"),
    MethodSpec("teacher-split", theta=0.0),
    MethodSpec("teacher", theta=0.5),
    MethodSpec("oracle-clean"),
    MethodSpec("oracle-score", theta=0.0),
    MethodSpec("teacher", keep_fraction=0.3),
    MethodSpec("teacher-split", keep_fraction=0.1),
    MethodSpec("oracle-score", keep_fraction=0.5),
]


def tiny_config(trials: int = 3, seed: int = 0, name: str = "fig3a") -> ExperimentConfig:
    """A fig3a-like experiment that runs in milliseconds."""
    methods = (
        MethodSpec("none"),
        MethodSpec("teacher-split", theta=0.0),
        MethodSpec("oracle-clean"),
    )
    return ExperimentConfig(
        name,
        "book",
        600,
        (1.0, 0.3, 0.1),
        methods,
        trials,
        d=6,
        d_t=5,
        r=2,
        gamma=20.0,
        gamma_t=20.0,
        seed=seed,
        regimes=(Regime("none", "all", 0.1, 1.0, -1.0),),
    )


# ------------------------------------------------------------------------ fused trial
@pytest.mark.parametrize("streamed", [False, True])
def test_fused_equals_separate_run_method(streamed):
    model = BimodalModel(d=10, d_t=8, r=4, gamma=50.0, gamma_t=50.0, eta=0.25, basis_seed=5)
    source = StreamingSample(model, 3001, 7, chunk_size=400) if streamed else model.sample(3001, 1)
    fused = run_methods_fused(source, ALL_SPECS, 4, U=model.U, U_t=model.U_t)
    for spec, got in zip(ALL_SPECS, fused, strict=True):
        ref = run_method(
            source,
            spec.method,
            4,
            theta=spec.theta,
            keep_fraction=spec.keep_fraction,
            U=model.U,
            U_t=model.U_t,
        )
        np.testing.assert_allclose(got.student.G, ref.student.G, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.student.G_t, ref.student.G_t, rtol=0, atol=1e-12)
        assert (got.n_pool, got.n_kept, got.n_kept_clean) == (
            ref.n_pool,
            ref.n_kept,
            ref.n_kept_clean,
        )
        assert (
            math.isnan(got.threshold)
            and math.isnan(ref.threshold)
            or got.threshold == ref.threshold
        )
        if ref.teacher is not None:
            np.testing.assert_allclose(got.teacher.G, ref.teacher.G, rtol=0, atol=1e-12)


def test_fused_split_only_skips_first_half_but_agrees():
    model = BimodalModel(d=6, d_t=5, r=2, gamma=10.0, gamma_t=10.0, eta=0.5, basis_seed=2)
    stream = StreamingSample(model, 2500, 3, chunk_size=300)
    spec = MethodSpec("teacher-split", theta=0.0)
    got = run_methods_fused(stream, [spec], 2)[0]
    ref = run_method(stream, "teacher-split", 2, theta=0.0)
    np.testing.assert_allclose(got.student.G, ref.student.G, rtol=0, atol=1e-12)
    assert got.n_kept == ref.n_kept


@pytest.mark.parametrize("start", [0, 1, 299, 300, 1250, 2499])
def test_tail_chunks_match_split_chunks(start):
    model = BimodalModel(d=4, d_t=3, r=2, eta=0.5, basis_seed=1)
    stream = StreamingSample(model, 2500, 11, chunk_size=300)
    a = list(stream.chunks(start))
    b = list(_split_chunks(stream.chunks(), start, 1)) if start else list(stream.chunks())
    assert len(a) == len(b)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.x, q.x)
        np.testing.assert_array_equal(p.xt, q.xt)
        np.testing.assert_array_equal(p.clean, q.clean)


def test_fused_trial_matches_run_trial():
    cfg = tiny_config()
    rows = run_fused_trial(cfg, 0.3, 1)
    ref = run_trial(cfg.model(0.3), cfg.n, 1, list(cfg.methods), seed=cfg.seed)
    assert [r["method"] for r in rows] == [r["method"] for r in ref]
    for a, b in zip(rows, ref, strict=True):
        assert a["err"] == pytest.approx(b["err"], abs=1e-12)
        assert a["n_kept"] == b["n_kept"]
        assert a["sample_clean_fraction"] == pytest.approx(b["sample_clean_fraction"])


def test_fused_errors():
    model = BimodalModel(d=6, d_t=5, r=2, eta=0.5, basis_seed=2)
    sample = model.sample(50, 0)
    with pytest.raises(ValueError, match="at least one method"):
        run_methods_fused(sample, [], 2)
    with pytest.raises(ValueError, match="oracle-score"):
        run_methods_fused(sample, [MethodSpec("oracle-score")], 2)
    with pytest.raises(ValueError, match="kept pairs are needed"):
        run_methods_fused(sample, [MethodSpec("teacher", theta=1e6)], 2)
    with pytest.raises(ValueError, match="method must be one of"):
        run_methods_fused(sample, [42], 2)


# ------------------------------------------------------------------------ definitions
def test_experiment_configs():
    paper = experiment_config("fig3a", "paper")
    assert paper.n == 10_000_000 and len(paper.etas) == 10
    np.testing.assert_allclose(paper.etas, np.geomspace(1, 1e-3, 10))
    assert (paper.d, paper.d_t, paper.r, paper.gamma, paper.gamma_t) == (10, 8, 4, 1e4, 1e4)
    assert {m.method for m in paper.methods} == {
        "none",
        "teacher-split",
        "oracle-clean",
        "oracle-score",
    }
    assert paper.sampler == "pairs"  # the reference; --sampler exact on the command line
    assert all(m.theta == 0.0 for m in paper.methods if m.method.startswith("teacher"))
    book = experiment_config("fig3a", "book", trials=5, seed=3)
    assert book.trials == 5 and book.seed == 3 and book.etas == PAPER_ETAS
    t1 = experiment_config("table1")
    assert t1.n == 10_000 and t1.etas == (0.3,) and t1.trials >= 200
    assert sorted({m.keep_fraction for m in t1.methods}) == list(TABLE1_KEEP_FRACTIONS)
    assert {m.method for m in t1.methods} == {"teacher-split", "teacher"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="fig3b"), "experiment must be one of"),
        (dict(scale="huge"), "scale must be one of"),
        (dict(trials=0), "trials must be an integer"),
        (dict(seed=-1), "seed must be an integer"),
    ],
)
def test_experiment_config_errors(kwargs, match):
    args = dict(name="fig3a", scale="book")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        experiment_config(args.pop("name"), args.pop("scale"), **args)


# ------------------------------------------------------------------------ runner
def test_csv_schema_and_contents(tmp_path):
    cfg = tiny_config(trials=2)
    frame = run_experiment(cfg, tmp_path)
    path = output_paths(cfg, tmp_path)["trials"]
    header = path.read_text().splitlines()[0]
    assert header == ",".join(FILE_COLUMNS)  # the data columns, run_id, row_check
    on_disk = load_trials(path)
    assert list(on_disk.columns) == CSV_COLUMNS and on_disk.attrs["run_id"] == run_id(cfg)
    assert len(on_disk) == len(cfg.etas) * cfg.trials * len(cfg.methods)
    pd.testing.assert_frame_equal(frame, on_disk)
    assert set(on_disk["method"]) == {"none", "teacher-split", "oracle-clean"}
    assert (on_disk["err"] > 0).all() and (on_disk["err"] <= math.sqrt(cfg.r) + 1e-12).all()
    log = json.loads(output_paths(cfg, tmp_path)["run"].read_text())
    assert log["experiment"]["seed"] == cfg.seed and log["run_id"] == run_id(cfg)
    assert log["total_tasks_done"] == len(cfg.etas) * cfg.trials
    assert "cpu_count" in log["sessions"][0]["machine"]
    # rows equal the in-memory run (no out_dir)
    pd.testing.assert_frame_equal(run_experiment(cfg, None), on_disk)


def test_resume_after_interrupt_gives_identical_file(tmp_path):
    cfg = tiny_config(trials=3)
    fresh_dir, resumed_dir = tmp_path / "fresh", tmp_path / "resumed"
    run_experiment(cfg, fresh_dir)
    fresh = output_paths(cfg, fresh_dir)["trials"].read_bytes()

    calls = []

    def interrupted_task(config, eta, trial):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append((eta, trial))
        return _run_task(config, eta, trial)

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, resumed_dir, task_fn=interrupted_task)
    path = output_paths(cfg, resumed_dir)["trials"]
    assert len(load_trials(path)) == 4 * len(cfg.methods)
    # simulate a crash in the middle of writing a row
    with open(path, "a") as fh:
        fh.write("0.1,600,2,none,nan,nan,0.0")

    recomputed = []

    def counting_task(config, eta, trial):
        recomputed.append((eta, trial))
        return _run_task(config, eta, trial)

    run_experiment(cfg, resumed_dir, task_fn=counting_task)
    assert not set(recomputed) & set(calls)
    assert len(recomputed) + len(calls) == len(cfg.etas) * cfg.trials
    assert path.read_bytes() == fresh
    log = json.loads(output_paths(cfg, resumed_dir)["run"].read_text())
    assert [s["interrupted"] for s in log["sessions"]] == [True, False]

    # a third run has nothing left to do
    recomputed.clear()
    run_experiment(cfg, resumed_dir, task_fn=counting_task)
    assert recomputed == [] and path.read_bytes() == fresh


def test_incomplete_trial_group_is_recomputed(tmp_path):
    cfg = tiny_config(trials=2)
    run_experiment(cfg, tmp_path)
    path = output_paths(cfg, tmp_path)["trials"]
    full = path.read_bytes()
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # drop one method of the last (eta, trial)
    recomputed = []

    def counting_task(config, eta, trial):
        recomputed.append((eta, trial))
        return _run_task(config, eta, trial)

    run_experiment(cfg, tmp_path, task_fn=counting_task)
    assert len(recomputed) == 1
    assert path.read_bytes() == full


def test_extending_trials_equals_fresh_run(tmp_path):
    run_experiment(tiny_config(trials=2), tmp_path / "a")
    frame = run_experiment(tiny_config(trials=4), tmp_path / "a")
    run_experiment(tiny_config(trials=4), tmp_path / "b")
    cfg = tiny_config(trials=4)
    assert (
        output_paths(cfg, tmp_path / "a")["trials"].read_bytes()
        == output_paths(cfg, tmp_path / "b")["trials"].read_bytes()
    )
    assert sorted(frame["trial"].unique()) == [0, 1, 2, 3]
    # asking for fewer trials returns only those, and keeps the file
    assert sorted(run_experiment(tiny_config(trials=1), tmp_path / "a")["trial"].unique()) == [0]


@pytest.mark.slow
def test_jobs_do_not_change_results(tmp_path):
    cfg = tiny_config(trials=2)
    run_experiment(cfg, tmp_path / "one", jobs=1)
    run_experiment(cfg, tmp_path / "two", jobs=2)
    assert (
        output_paths(cfg, tmp_path / "one")["trials"].read_bytes()
        == output_paths(cfg, tmp_path / "two")["trials"].read_bytes()
    )


def test_resume_refuses_other_definition(tmp_path):
    run_experiment(tiny_config(seed=0, trials=1), tmp_path)
    with pytest.raises(ValueError, match="different definition"):
        run_experiment(tiny_config(seed=1, trials=1), tmp_path)


def test_bad_header_is_refused(tmp_path):
    cfg = tiny_config(trials=1)
    path = output_paths(cfg, tmp_path)["trials"]
    run_experiment(cfg, tmp_path)  # a run log of this run, then a CSV that is not one
    path.write_text("a,b,c\n")
    with pytest.raises(ValueError, match="expected columns"):
        run_experiment(cfg, tmp_path)


# ------------------------------------------------------------------------ analysis
def synthetic_frame(slope: float) -> pd.DataFrame:
    rows = []
    for eta in (1.0, 0.3, 0.1, 0.03, 0.01):
        for t in range(3):
            rows.append(
                dict(
                    eta=eta,
                    n=100,
                    trial=t,
                    method="none",
                    theta=math.nan,
                    keep_fraction=math.nan,
                    err=eta**slope * (1 + 0.01 * (t - 1)),
                    err_x=0.0,
                    err_xt=0.0,
                    n_pool=100,
                    n_kept=100,
                    n_kept_clean=50,
                    sample_clean_fraction=0.5,
                )
            )
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def test_summarize_and_fit_regimes_recover_slope():
    summary = summarize_trials(synthetic_frame(-1.0))
    assert set(summary["trials"]) == {3}
    fits = fit_regimes(
        summary,
        [Regime("none", "all", 0.01, 1.0, -1.0), Regime("none", "too few", 0.5, 1.0, -1.0)],
    )
    assert len(fits) == 1
    assert fits["slope"].iloc[0] == pytest.approx(-1.0, abs=1e-9)
    assert fits["points"].iloc[0] == 5


@pytest.mark.slow
def test_table1_rows_and_figure(tmp_path):
    cfg = ExperimentConfig(
        "table1",
        "book",
        800,
        (0.3,),
        tuple(
            MethodSpec(m, keep_fraction=q)
            for m in ("teacher-split", "teacher")
            for q in (0.1, 0.5, 1.0)
        ),
        3,
        d=6,
        d_t=5,
        r=2,
        gamma=20.0,
        gamma_t=20.0,
    )
    rows = table1_rows(run_experiment(cfg))
    assert len(rows) == 6
    for row in rows:
        assert {"keep_fraction", "method", "err_mean", "err_std"} <= set(row)
        assert row["trials"] == 3
    cfg3 = tiny_config(trials=2)
    slopes = write_fig3a_figure(run_experiment(cfg3), cfg3, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert list(slopes["method"]) == ["none"]


def test_limit_blas_threads_is_safe():
    assert limit_blas_threads(1) in (True, False)


# ------------------------------------------------------------------------ command line
def test_cli_table1_json(tmp_path, capsys):
    code = main(
        [
            "reproduce",
            "table1",
            "--trials",
            "3",
            "--seed",
            "4",
            "--json",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 2 * len(TABLE1_KEEP_FRACTIONS)
    for row in rows:
        assert {"keep_fraction", "method", "err_mean", "err_std"} <= set(row)
        assert row["method"] in ("teacher-split", "teacher")
    # the full-sample teacher keeping everything is the unfiltered learner: same ERR as a
    # direct run on the same pairs
    full = [r for r in rows if r["method"] == "teacher" and r["keep_fraction"] == 1.0][0]
    assert full["err_mean"] > 0
    assert (tmp_path / "table1_book_table.json").exists()


@pytest.mark.slow
def test_cli_fig3a_book_json(tmp_path, capsys, monkeypatch):
    import linclip.experiments.configs as rp

    monkeypatch.setattr(rp, "BOOK_FIG3A_N", 20_000)
    code = main(
        ["reproduce", "fig3a", "--trials", "1", "--json", "--no-progress", "--out", str(tmp_path)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["summary"]) == 10 * 4
    assert (tmp_path / "fig3a_book.png").exists()
    assert (tmp_path / "fig3a_book_trials.csv").exists()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--trials", "0"], "--trials"),
        (["--jobs", "0"], "--jobs"),
        (["--seed", "-2"], "--seed"),
    ],
)
def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, argv, match):
    code = main(["reproduce", "table1", "--no-progress", "--out", str(tmp_path)] + argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and match in err


def test_cli_mismatched_resume_exits_2(tmp_path, capsys):
    assert (
        main(
            [
                "reproduce",
                "table1",
                "--trials",
                "1",
                "--json",
                "--no-progress",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "reproduce",
                "table1",
                "--trials",
                "1",
                "--seed",
                "9",
                "--no-progress",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different definition" in err


# ------------------------------------------------------------------------ predictions
def test_first_order_errors_match_asymptotics():
    from linclip.asymptotics import predict_unfiltered

    cfg = experiment_config("fig3a", "book")
    pred = first_order_errors(cfg)
    assert len(pred) == len(cfg.etas) * len(cfg.methods)
    for eta in (1.0, PAPER_ETAS[3]):
        none = pred[(pred.method == "none") & (pred.eta == eta)]["err_pred"].iloc[0]
        ref = predict_unfiltered(cfg.n, eta, cfg.d, cfg.d_t, cfg.r, cfg.gamma, cfg.gamma_t).err
        assert none == pytest.approx(ref, rel=1e-6)
    # the clean-label oracle is the unfiltered learner on eta * n clean pairs
    eta = PAPER_ETAS[5]
    oc = pred[(pred.method == "oracle-clean") & (pred.eta == eta)]["err_pred"].iloc[0]
    ref = predict_unfiltered(
        round(eta * cfg.n), 1.0, cfg.d, cfg.d_t, cfg.r, cfg.gamma, cfg.gamma_t
    ).err
    assert oc == pytest.approx(ref, rel=1e-3)  # eta * n is not an integer
    # at small eta the theta = 0 filter keeps about half the pool with signal about 3/8
    small = pred[(pred.method == "teacher") & (pred.eta == 1e-3)].iloc[0]
    assert small["signal"] == pytest.approx(3 / 8, abs=2e-3)
    assert small["n_used"] == pytest.approx(cfg.n / 2, rel=2e-3)


def test_first_order_errors_table1_keep_all_is_unfiltered():
    cfg = experiment_config("table1")
    pred = first_order_errors(cfg)
    full = pred[(pred.method == "teacher") & (pred.keep_fraction == 1.0)].iloc[0]
    assert full["signal"] == pytest.approx(0.3) and full["n_used"] == cfg.n
    q30 = pred[(pred.method == "teacher") & (pred.keep_fraction == 0.3)].iloc[0]
    assert q30["n_used"] == pytest.approx(0.3 * cfg.n, rel=1e-6)
    assert q30["err_pred"] < full["err_pred"]


def test_complete_sweeps_drops_partial_trials():
    cfg = tiny_config(trials=2)
    frame = run_experiment(cfg)
    partial = frame[~((frame.trial == 1) & (frame.eta == 0.1))]
    kept = complete_sweeps(partial, cfg)
    assert sorted(kept["trial"].unique()) == [0]
    assert len(complete_sweeps(frame, cfg)) == len(frame)


def test_cli_table1_single_trial_is_strict_json(tmp_path, capsys):
    assert (
        main(
            [
                "reproduce",
                "table1",
                "--trials",
                "1",
                "--json",
                "--no-progress",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "NaN" not in text
    rows = json.loads(text)
    assert all(row["err_std"] == 0.0 and row["trials"] == 1 for row in rows)
