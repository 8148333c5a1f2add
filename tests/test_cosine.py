"""The cosine (CLIP) score against the paper's bilinear score: the ``--score`` option of
``simulate`` and :mod:`linclip.theory.cosine`."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from linclip import BimodalModel, MethodSpec
from linclip.cli import build_parser, main
from linclip.cli.simulate import score_spec_from_args
from linclip.experiments.grid import run_grid

SMALL = ["--n", "600", "--trials", "2", "--seed", "3"]


def _json(capsys, *argv):
    code = main(["simulate", "--json", *SMALL, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


# ------------------------------------------------------------------------------ the CLI
def test_score_option_is_parsed_with_bilinear_default():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices["simulate"]
    assert parser.parse_args([]).score == "bilinear"
    assert parser.parse_args(["--score", "cosine"]).score == "cosine"


def test_unknown_score_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--score", "clip"])
    assert info.value.code == 2
    assert "invalid choice: 'clip'" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["teacher", "teacher-split", "oracle-score"])
def test_cosine_is_recorded_in_the_json_output(capsys, method):
    obj = _json(capsys, "--method", method, "--keep-fraction", "0.3", "--score", "cosine")
    assert obj["score"] == "cosine" and obj["params"]["score"] == "cosine"
    assert obj["kept_fraction_mean"] == pytest.approx(0.3, abs=2e-3)


def test_default_score_is_recorded_as_bilinear(capsys):
    obj = _json(capsys)
    assert obj["score"] == "bilinear" and obj["params"]["score"] == "bilinear"


def test_cli_cosine_equals_the_engine_on_the_same_trials(capsys):
    obj = _json(capsys, "--method", "teacher-split", "--keep-fraction", "0.2", "--score", "cosine")
    frame = run_grid(
        BimodalModel(d=10, d_t=8, r=4),
        n=600,
        eta=0.3,
        methods=[MethodSpec("teacher-split", keep_fraction=0.2, score="cosine")],
        trials=2,
        seed=3,
    )
    assert obj["err_mean"] == pytest.approx(float(frame["err"].mean()), rel=1e-12)
    assert set(frame["score"]) == {"cosine"}


def test_cosine_and_bilinear_differ_at_a_kept_fraction_and_agree_at_theta_zero(capsys):
    args = ["--method", "oracle-score", "--keep-fraction", "0.2"]
    assert (
        _json(capsys, *args)["err_mean"] != _json(capsys, *args, "--score", "cosine")["err_mean"]
    )
    # At theta = 0 both keep the pairs with a positive inner product: the same student.
    zero = ["--method", "oracle-score", "--theta", "0"]
    assert _json(capsys, *zero)["err_mean"] == pytest.approx(
        _json(capsys, *zero, "--score", "cosine")["err_mean"], rel=1e-12
    )


@pytest.mark.parametrize("method", ["none", "oracle-clean"])
def test_cosine_with_a_method_that_does_not_filter_is_an_error(capsys, method):
    assert main(["simulate", *SMALL, "--method", method, "--score", "cosine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--score cosine applies only to the filtering methods" in err[0]
    assert repr(method) in err[0]


def test_cosine_with_the_exact_sampler_is_an_error(capsys):
    argv = ["simulate", *SMALL, "--method", "teacher-split", "--score", "cosine"]
    assert main([*argv, "--sampler", "exact"]) == 2
    assert "cosine" in capsys.readouterr().err
    assert main([*argv, "--sampler", "auto", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sampler"] == "pairs"


def test_text_output_names_the_score(capsys):
    assert main(["simulate", *SMALL, "--method", "teacher", "--score", "cosine"]) == 0
    assert "cosine" in capsys.readouterr().out.splitlines()[0]


def test_score_spec_from_args_keeps_bilinear_and_the_knob():
    spec = MethodSpec("teacher", keep_fraction=0.4)
    assert score_spec_from_args(spec, argparse.Namespace(score="bilinear")) is spec
    cos = score_spec_from_args(spec, argparse.Namespace(score="cosine"))
    assert cos == MethodSpec("teacher", keep_fraction=0.4, score="cosine")
    assert score_spec_from_args(MethodSpec("none"), argparse.Namespace()) == MethodSpec("none")
    with pytest.raises(ValueError, match="method is 'none'"):
        score_spec_from_args(MethodSpec("none"), argparse.Namespace(score="cosine"))


def test_seeded_runs_are_reproducible(capsys):
    args = ["--method", "teacher-split", "--keep-fraction", "0.1", "--score", "cosine"]
    assert _json(capsys, *args) == _json(capsys, *args)
    assert np.isfinite(_json(capsys, *args)["err_mean"])
