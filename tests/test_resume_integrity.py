"""Resume never mixes runs (issue 11, item 1) and never leaks a traceback (item 2).

Every per-trial CSV row carries the run's identity (``run_id``) and a checksum; the run log
records the identity. A resume refuses, with one line naming the file, everything that does not
belong to the run, and drops (with a one-line notice, then recomputes) only what an
interrupted write leaves: a torn last line and the rows of an incomplete trial.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from linclip.cli import main
from linclip.experiments import MethodSpec
from linclip.experiments.archive import load_result
from linclip.experiments.configs import CSV_COLUMNS, ExperimentConfig
from linclip.experiments.runner import (
    FILE_COLUMNS,
    ResumeError,
    _row_check,
    _run_task,
    load_trials,
    output_paths,
    run_experiment,
    run_id,
    run_identity,
    strict_json,
)

REPO = Path(__file__).resolve().parents[1]


def tiny(trials: int = 2, seed: int = 0, sampler: str = "pairs") -> ExperimentConfig:
    """A fig3a-like experiment that runs in milliseconds."""
    methods = (MethodSpec("none"), MethodSpec("teacher-split", theta=0.0))
    return ExperimentConfig(
        "fig3a",
        "book",
        400,
        (1.0, 0.3),
        methods,
        trials,
        d=5,
        d_t=4,
        r=2,
        gamma=20.0,
        gamma_t=20.0,
        seed=seed,
        sampler=sampler,
    )


@pytest.fixture
def done(tmp_path):
    """A finished two-trial run in ``tmp_path``: (config, paths, CSV bytes)."""
    cfg = tiny()
    run_experiment(cfg, tmp_path)
    paths = output_paths(cfg, tmp_path)
    return cfg, paths, paths["trials"].read_bytes()


def counting():
    calls: list = []

    def task(config, eta, trial):
        calls.append((eta, trial))
        return _run_task(config, eta, trial)

    return task, calls


def rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text().splitlines()))


def write_rows(path: Path, table: list[list[str]]) -> None:
    path.write_text("".join(",".join(r) + "\n" for r in table))


def reseal(fields: list[str]) -> list[str]:
    """A row with a valid checksum again (a forged row, or one written by a buggy run)."""
    return [*fields[:-1], _row_check(fields[:-1])]


# ------------------------------------------------------------------------ identity
def test_every_row_and_the_log_carry_the_run_id(done):
    cfg, paths, _ = done
    table = rows(paths["trials"])
    assert table[0] == FILE_COLUMNS
    rid = run_id(cfg)
    assert len(rid) == 12 and all(r[FILE_COLUMNS.index("run_id")] == rid for r in table[1:])
    assert all(r[-1] == _row_check(r[:-1]) for r in table[1:])
    log = json.loads(paths["run"].read_text())
    assert log["run_id"] == rid and log["identity"] == run_identity(cfg)
    assert load_trials(paths["trials"]).attrs["run_id"] == rid


def test_run_id_covers_the_definition_but_not_the_trial_count():
    base = run_id(tiny())
    assert run_id(tiny(trials=5)) == base  # a run may be extended
    assert run_id(tiny(seed=1)) != base
    assert run_id(tiny(sampler="auto")) != base
    ident = run_identity(tiny())
    assert {"experiment", "learner", "linclip"} <= set(ident)
    assert ident["experiment"]["seed"] == 0 and ident["experiment"]["sampler"] == "pairs"


def test_archived_result_is_the_current_definition():
    """The packaged paper-scale run carries the run id of today's definition of it."""
    from linclip.experiments.configs import experiment_config

    frame, log = load_result("fig3a_paper")
    assert list(frame.columns) == CSV_COLUMNS and len(frame) == 95 * 10 * 4
    assert log["run_id"] == run_id(experiment_config("fig3a", "paper", sampler="exact"))
    from linclip.experiments.archive import result_path

    raw = pd.read_csv(result_path("fig3a_paper", "trials"), usecols=["run_id"], dtype=str)
    assert set(raw["run_id"]) == {log["run_id"]}


def test_results_without_run_id_still_load():
    """Runs written before run_id existed (read-only, never resumed) load all the same."""
    data = REPO / "book" / "data"
    paths = sorted(data.glob("*_trials.csv")) + sorted(data.glob("scale/*_trials.csv"))
    old = data / "scale" / "fig3a_paper_paired_trials.csv"
    assert old in paths and "run_id" not in pd.read_csv(old, nrows=1).columns
    for path in paths:
        assert list(load_trials(path).columns) == CSV_COLUMNS, path


# ------------------------------------------------------------------------ the run log
def _log_missing(p):
    p.unlink()


def _log_truncated(p):
    text = p.read_text()
    p.write_text(text[: len(text) // 2])


def _log_random(p):
    p.write_bytes(random.Random(0).randbytes(256))


def _log_list(p):
    p.write_text("[1, 2, 3]\n")


def _log_no_identity(p):
    log = json.loads(p.read_text())
    del log["run_id"]
    p.write_text(json.dumps(log))


def _log_other_identity(p):
    log = json.loads(p.read_text())
    log["run_id"] = "0123456789ab"
    p.write_text(json.dumps(log))


def _log_other_version(p):
    log = json.loads(p.read_text())
    log["run_id"], log["identity"]["linclip"] = "0123456789ab", "0.0.1"
    p.write_text(json.dumps(log))


def _log_directory(p):
    p.unlink()
    p.mkdir()


@pytest.mark.parametrize(
    "damage, match",
    [
        (_log_missing, "has no run log"),
        (_log_truncated, "not valid JSON"),
        (_log_random, "binary data"),
        (_log_list, "JSON list, not an object"),
        (_log_no_identity, "no run identity"),
        (_log_other_identity, "belongs to another run"),
        (_log_other_version, "written by linclip 0.0.1"),
        (_log_directory, "is a directory"),
    ],
)
def test_damaged_log_refuses_to_resume(done, damage, match):
    cfg, paths, before = done
    damage(paths["run"])
    with pytest.raises(ResumeError, match=match) as info:
        run_experiment(tiny(seed=0), paths["run"].parent)
    message = str(info.value)
    assert "\n" not in message and "use another --out directory" in message
    assert str(paths["run"].parent) in message
    assert paths["trials"].read_bytes() == before  # nothing was touched


def test_other_seed_over_a_run_without_its_log_is_refused(done):
    # issue 11: with the log deleted, a seed-1 run returned seed-0 results and exited 0
    cfg, paths, before = done
    paths["run"].unlink()
    with pytest.raises(ResumeError, match="no run log") as info:
        run_experiment(tiny(seed=1), paths["run"].parent)
    assert str(paths["trials"]) in str(info.value)
    assert paths["trials"].read_bytes() == before and not paths["run"].exists()


# ------------------------------------------------------------------------ the rows
def _foreign_eta(table):
    extra = list(table[1])
    extra[0] = "0.7"
    table.append(reseal(extra))


def _edited_n(table):
    table[2][1] = "401"


def _edited_n_resealed(table):
    table[2][1] = "401"
    table[2] = reseal(table[2])


def _edited_err(table):
    table[3][6] = "0.5"


def _duplicate(table):
    table.insert(3, list(table[2]))


def _other_run(table):
    table[2][FILE_COLUMNS.index("run_id")] = "0123456789ab"
    table[2] = reseal(table[2])


def _no_run_id_column(table):
    for i, r in enumerate(table):
        table[i] = r[: len(CSV_COLUMNS)]


def _bad_header(table):
    table[0] = ["a", "b", "c"]


def _extra_field_mid_file(table):
    table[2].append("x")


def _foreign_method(table):
    table[2][3] = "oracle-clean"
    table[2] = reseal(table[2])


def _not_a_number(table):
    table[2][2] = "two"
    table[2] = reseal(table[2])


@pytest.mark.parametrize(
    "damage, match",
    [
        (_foreign_eta, "eta = 0.7, which is not in this run's grid"),
        (_edited_n, "n = 401, but this run has n = 400"),
        (_edited_n_resealed, "n = 401"),
        (_edited_err, "fails its checksum"),
        (_duplicate, "repeats the row of line 3"),
        (_other_run, "belongs to another run"),
        (_no_run_id_column, "no run_id column"),
        (_bad_header, "expected columns"),
        (_extra_field_mid_file, "malformed"),
        (_foreign_method, "not one of this run's methods"),
        (_not_a_number, "not a number"),
    ],
)
def test_foreign_or_edited_rows_refuse_to_resume(done, damage, match):
    cfg, paths, _ = done
    table = rows(paths["trials"])
    damage(table)
    write_rows(paths["trials"], table)
    damaged = paths["trials"].read_bytes()
    with pytest.raises(ResumeError, match=match) as info:
        run_experiment(tiny(trials=3), paths["run"].parent)
    assert "\n" not in str(info.value) and str(paths["trials"]) in str(info.value)
    assert paths["trials"].read_bytes() == damaged


@pytest.mark.parametrize(
    "content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00", b"", "η,n\n".encode("utf-16")]
)
def test_binary_or_empty_csv_is_refused(done, content):
    cfg, paths, _ = done
    paths["trials"].write_bytes(content)
    with pytest.raises(ResumeError, match="binary data|empty") as info:
        run_experiment(cfg, paths["run"].parent)
    assert str(paths["trials"]) in str(info.value)


# ------------------------------------------------------------------------ torn writes
@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda text: text[:-30], id="no final newline, mid-row"),
        pytest.param(lambda text: text[:-1], id="no final newline, whole row"),
        pytest.param(lambda text: text[:-4] + "\n", id="check torn, newline added"),
        pytest.param(lambda text: text[:-16] + "\n", id="run_id torn, last field parses"),
        pytest.param(
            lambda text: text[: text[:-1].rindex(",pairs,")] + "\n", id="only data fields"
        ),
    ],
)
def test_torn_last_line_is_dropped_with_a_notice_and_recomputed(done, capsys, cut):
    cfg, paths, full = done
    paths["trials"].write_text(cut(full.decode()))
    task, calls = counting()
    run_experiment(cfg, paths["run"].parent, task_fn=task)
    err = capsys.readouterr().err
    assert "torn last line" in err and "line 9" in err  # 8 rows after the header
    assert "incomplete trial 1 at eta = 0.3" in err  # its other row went with it
    assert calls == [(0.3, 1)]
    assert paths["trials"].read_bytes() == full
    assert all(len(line) < 200 for line in err.splitlines())


def test_clean_resume_is_silent_and_recomputes_nothing(done, capsys):
    cfg, paths, full = done
    task, calls = counting()
    frame = run_experiment(cfg, paths["run"].parent, task_fn=task)
    assert calls == [] and capsys.readouterr().err == ""
    assert paths["trials"].read_bytes() == full and frame.attrs["run_id"] == run_id(cfg)
    log = json.loads(paths["run"].read_text())
    assert len(log["sessions"]) == 2 and log["run_id"] == run_id(cfg)


def test_extending_a_run_keeps_its_identity(done, tmp_path):
    cfg, paths, _ = done
    run_experiment(tiny(trials=3), paths["run"].parent)
    fresh = tmp_path / "fresh"
    run_experiment(tiny(trials=3), fresh)
    assert paths["trials"].read_bytes() == output_paths(cfg, fresh)["trials"].read_bytes()


# ------------------------------------------------------------------------ NaN is JSON-safe
def test_strict_json_has_no_nan_literals():
    text = strict_json({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5]})
    assert json.loads(text) == {"a": None, "b": ["inf", "-inf", 1.5]}


def test_cli_json_with_a_nan_err_prints_null(tmp_path, capsys):
    argv = ["reproduce", "table1", "--trials", "1", "--json", "--no-progress"]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 0
    capsys.readouterr()
    path = tmp_path / "table1_book_trials.csv"
    table = rows(path)
    table[1][CSV_COLUMNS.index("err")] = "nan"  # a NaN a run could write: a valid row
    table[1] = reseal(table[1])
    write_rows(path, table)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and "Traceback" not in captured.err
    assert any(r["err_mean"] is None for r in json.loads(captured.out))


# ------------------------------------------------------------------------ command line
def _cli(capsys, out: str, *extra: str) -> tuple[int, str]:
    code = main(["reproduce", "table1", "--trials", "1", "--no-progress", "--out", out, *extra])
    return code, capsys.readouterr().err


def test_cli_out_is_a_file_or_under_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, err = _cli(capsys, str(f))
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "not a directory" in err
    code, err = _cli(capsys, str(f / "sub"))
    assert code == 2 and err.count("\n") == 1 and f"{f} is a file" in err


def test_cli_out_cannot_be_created(capsys):
    code, err = _cli(capsys, "/proc/linclip-no-such-dir")
    assert code == 2 and err.count("\n") == 1 and "/proc/linclip-no-such-dir" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["table1_book_trials.csv", "table1_book_run.json"])
def test_cli_output_file_is_a_directory(tmp_path, capsys, name):
    (tmp_path / name).mkdir()
    code, err = _cli(capsys, str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and name in err and "is a directory" in err


def test_cli_table_path_is_a_directory(tmp_path, capsys):
    (tmp_path / "table1_book_table.json").mkdir()
    code, err = _cli(capsys, str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "table1_book_table.json" in err


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "table1_book_run.json").write_text('"a string"'),
        lambda d: (d / "table1_book_trials.csv").write_bytes(bytes(range(256))),
        lambda d: (d / "table1_book_run.json").unlink(),
    ],
    ids=["log not an object", "binary CSV", "log missing"],
)
def test_cli_damaged_outputs_exit_2_with_one_line(tmp_path, capsys, damage):
    assert _cli(capsys, str(tmp_path))[0] == 0
    damage(tmp_path)
    code, err = _cli(capsys, str(tmp_path), "--seed", "1")
    assert code == 2 and err.count("\n") == 1 and str(tmp_path) in err
    assert "Traceback" not in err


def test_load_trials_reads_every_format(done, tmp_path):
    cfg, paths, _ = done
    frame = load_trials(paths["trials"])
    old = tmp_path / "old.csv"
    frame.to_csv(old, index=False)  # 0.2.0: no run_id
    pd.testing.assert_frame_equal(load_trials(old), frame)
    older = tmp_path / "older.csv"
    frame.drop(columns=["sampler"]).to_csv(older, index=False)  # before the sampler column
    assert list(load_trials(older)["sampler"].unique()) == ["pairs"]
