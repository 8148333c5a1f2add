"""Tests for linclip.cli: ``simulate`` and the general error path (other subcommands are
tested in their own files)."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import pytest

from linclip.cli import (
    SUBCOMMANDS,
    add_model_arguments,
    build_parser,
    main,
    method_spec_from_args,
    model_from_args,
)
from linclip.experiments import MethodSpec

SMALL = ["--n", "400", "--trials", "3", "--seed", "1"]


def strict_json(text: str) -> dict:
    """Parse one JSON document, rejecting NaN/Infinity (not valid JSON)."""

    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def run_simulate_json(capsys, *extra):
    code = main(["simulate", "--json", *SMALL, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1, "exactly one line (one JSON object) on stdout"
    obj = strict_json(lines[0])
    assert isinstance(obj, dict)
    return obj


def test_simulate_json_prints_one_object(capsys):
    obj = run_simulate_json(capsys)
    assert {"err_mean", "err_std", "kept_fraction_mean", "trials", "params"} <= set(obj)
    assert obj["trials"] == 3
    assert 0 < obj["err_mean"] < math.sqrt(4) and obj["err_std"] >= 0
    assert obj["err_mean"] == pytest.approx(max(obj["err_x_mean"], obj["err_xt_mean"]), rel=0.5)
    assert obj["kept_fraction_mean"] == 1.0  # method none keeps everything
    p = obj["params"]
    assert p["n"] == 400 and p["seed"] == 1 and p["method"] == "none"
    assert (p["eta"], p["d"], p["d_t"], p["r"], p["gamma"], p["rho"]) == (0.3, 10, 8, 4, 1e4, 1.0)
    assert p["theta"] is None and p["keep_fraction"] is None


def test_simulate_json_is_reproducible_and_seeded(capsys):
    a = run_simulate_json(capsys)
    b = run_simulate_json(capsys)
    assert a == b
    c = run_simulate_json(capsys, "--seed", "2")  # later --seed wins
    assert c["err_mean"] != a["err_mean"] and c["params"]["seed"] == 2


def test_simulate_filtering_options(capsys):
    obj = run_simulate_json(capsys, "--method", "teacher", "--keep-fraction", "0.4")
    assert obj["kept_fraction_mean"] == pytest.approx(0.4)
    assert obj["params"]["keep_fraction"] == 0.4 and obj["params"]["theta"] is None
    obj = run_simulate_json(capsys, "--method", "teacher-split")
    assert obj["params"]["theta"] == 0.0  # the paper's untuned default
    obj = run_simulate_json(capsys, "--method", "oracle-clean", "--eta", "0.5")
    assert obj["kept_clean_fraction_mean"] == 1.0
    assert abs(obj["kept_fraction_mean"] - 0.5) < 4 * math.sqrt(0.25 / 400)


def test_simulate_noiseless_gamma_is_strict_json(capsys):
    obj = run_simulate_json(capsys, "--gamma", "inf", "--trials", "1")
    assert obj["params"]["gamma"] == "inf"
    assert obj["err_std"] == 0.0  # one trial: no spread rather than NaN
    assert obj["err_x_mean"] < 1e-10  # no noise on x: its subspace is learned exactly


def test_simulate_text_output(capsys):
    assert main(["simulate", *SMALL, "--method", "teacher", "--theta", "0.5"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("method teacher (θ=0.5): n = 400, eta = 0.3")
    assert "ERR" in out and "kept fraction" in out and "3 trials" in out


def test_simulate_help_mentions_every_option_and_symbol(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    # the model/learner options name their symbol (n, eta, d, d~, ...); the run options say
    # what they do
    symbols = {
        "--learner": "pca",
        "--n": "pairs n",
        "--eta": "eta",
        "--d": "dimension d",
        "--d-t": "dimension d~",
        "--r": "rank r",
        "--gamma": "gamma",
        "--gamma-t": "gamma~",
        "--rho": "rho",
        "--theta": "theta",
        "--keep-fraction": "fraction q",
        "--method": "none",
        "--trials": "trials",
        "--seed": "seed",
        "--jobs": "worker",
        "--json": "JSON",
        "--progress": "progress",
        "--sampler": "sufficient statistics",
        # structured noise (Part III)
        "--noise": "isotropic",
        "--noise-rank": "k >= 1",
        "--noise-strength": "lambda",
        "--noise-modality": "text (x~)",
        "--noise-directions": "orthogonal",
        "--force": "estimated run time",
        "--score": "cosine",
        # InfoNCE options (issue 13, chapter 1)
        "--teacher-learner": "teachers",
        "--temperature": "tau",
        "--epochs": "epochs",
        "--batch-size": "batch",
        "--lr": "Adam",
        "--out": "CSV",
        # iterated self-filtering and soft weighting (tests/test_iterate.py)
        "--rounds": "rounds K",
        "--fresh": "fresh sample",
        "--weighting": "clipped score",
        "--weight-theta": "theta_w",
        "--weight-temperature": "width T",
    }
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {opt: a for a in sub.choices["simulate"]._actions for opt in a.option_strings}
    for option, symbol in symbols.items():
        assert option in text, option
        assert symbol in actions[option].help, option
    # every option of the parser is documented
    for opt, action in actions.items():
        if opt not in ("-h", "--help"):
            assert action.help and opt in symbols, opt
    for method in ("none", "teacher", "teacher-split", "oracle-score", "oracle-clean"):
        assert method in text


def test_top_level_help_lists_simulate(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "simulate" in capsys.readouterr().out
    assert "simulate" in SUBCOMMANDS


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--eta", "1.5"], "eta"),
        (["--eta", "nan"], "eta"),
        (["--r", "20"], "r must be"),
        (["--d", "0"], "d must be"),
        (["--gamma", "-1"], "gamma"),
        (["--theta", "0"], "--theta/--keep-fraction only apply to the filtering methods"),
        (["--method", "oracle-clean", "--keep-fraction", "0.5"], "only apply to the filtering"),
        (["--method", "teacher", "--theta", "100"], "lower the threshold"),
        (["--method", "teacher", "--keep-fraction", "0.001"], "raise the kept fraction"),
        (["--method", "teacher", "--keep-fraction", "0"], "keep_fraction"),
        (["--method", "teacher", "--theta", "inf"], "theta"),
        (["--trials", "0"], "trials"),
        (["--seed", "-1"], "--seed"),
        (["--jobs", "0"], "jobs"),
        (["--rho", "0"], "rho"),
        (["--n", "4"], "r + 1"),
    ],
)
def test_invalid_parameters_exit_2_with_one_line(capsys, argv, fragment):
    code = main(["simulate", *SMALL, *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("python -m linclip simulate: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_argparse_errors_exit_2(capsys):
    for argv in (
        ["simulate", "--theta", "0", "--keep-fraction", "0.5"],
        ["simulate", "--method", "bogus"],
        ["simulate", "--n", "ten"],
        [],
        ["no-such-command"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err


def test_model_and_method_from_args():
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    args = p.parse_args(
        [
            "--eta",
            "0.2",
            "--d",
            "6",
            "--d-t",
            "5",
            "--r",
            "2",
            "--gamma",
            "3",
            "--method",
            "teacher",
            "--keep-fraction",
            "0.3",
        ]
    )
    model = model_from_args(args)
    assert (model.eta, model.d, model.d_t, model.r, model.gamma, model.gamma_t) == (
        0.2,
        6,
        5,
        2,
        3.0,
        1e4,
    )
    assert method_spec_from_args(args) == MethodSpec("teacher", keep_fraction=0.3)
    p2 = argparse.ArgumentParser()
    add_model_arguments(p2, with_method=False)
    assert not hasattr(p2.parse_args([]), "method")
    with pytest.raises(ValueError, match="only apply to the filtering methods"):
        method_spec_from_args(p.parse_args(["--theta", "1"]))
    with pytest.raises(ValueError, match="r must be"):
        model_from_args(p.parse_args(["--r", "11"]))


def _env():
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def test_python_dash_m_simulate_json():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "linclip",
            "simulate",
            "--json",
            "--n",
            "300",
            "--trials",
            "2",
            "--method",
            "teacher",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = strict_json(lines[0])
    assert obj["trials"] == 2 and obj["params"]["method"] == "teacher"
    assert 0 < obj["kept_fraction_mean"] < 1


def test_error_exit_status(capsys):
    code = main(["simulate", "--eta", "1.5"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "eta" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------ --learner
def test_simulate_learner_pca_json(capsys):
    obj = run_simulate_json(capsys, "--learner", "pca", "--eta", "0.01")
    assert obj["learner"] == "pca" and obj["params"]["learner"] == "pca"
    assert 0 < obj["err_mean"] < 0.1  # PCA ignores the pairing: fine even at eta = 0.01
    lin = run_simulate_json(capsys, "--eta", "0.01")
    assert lin["learner"] == "linear" and lin["err_mean"] > obj["err_mean"]


def test_simulate_learner_pca_with_filter_keeps_contrastive_teacher(capsys):
    pca = run_simulate_json(capsys, "--learner", "pca", "--method", "teacher-split")
    lin = run_simulate_json(capsys, "--method", "teacher-split")
    # same teacher, same kept sets: only the student differs
    assert pca["kept_fraction_mean"] == lin["kept_fraction_mean"]
    assert pca["kept_clean_fraction_mean"] == lin["kept_clean_fraction_mean"]
    assert pca["err_mean"] != lin["err_mean"]


def test_simulate_learner_recorded_in_rows():
    from linclip import BimodalModel, run_grid

    frame = run_grid(
        BimodalModel(d=6, d_t=5, r=2),
        n=300,
        eta=0.5,
        methods=["none", "teacher"],
        trials=2,
        learner="pca",
    )
    assert set(frame["learner"]) == {"pca"}


def test_simulate_bad_learner_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--learner", "svm"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--learner" in err and "linear" in err and "Traceback" not in err
    from linclip import BimodalModel, run_grid

    with pytest.raises(ValueError, match="learner must be one of linear, pca, infonce; got 'svm'"):
        run_grid(BimodalModel(d=6, d_t=5, r=2), n=300, eta=0.5, learner="svm")


def test_version(capsys):
    import linclip

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"linclip {linclip.__version__}"


HEAVY = ("sympy", "pandas", "scipy", "matplotlib")


def test_startup_imports_no_heavy_library():
    """``import linclip`` and ``--help`` import none of sympy, pandas, scipy, matplotlib."""
    code = (
        "import sys, contextlib, io\n"
        "import linclip\n"
        "from linclip.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['simulate', '--help'], ['predict', '--help'],\n"
        "                 ['reproduce', '--help']):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
