"""Tests of ``python -m linclip predict`` (linclip.cli_predict)."""

from __future__ import annotations

import json
import math

import pytest

from linclip import cli
from linclip.asymptotics import predict_unfiltered
from linclip.cli_predict import PREDICTORS
from linclip.filters import METHODS
from linclip.prediction import predict_filtered


def _run(capsys, *argv):
    code = cli.main(["predict", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _strict_json(text):
    def reject(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def _option_strings(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_predict_is_registered_with_the_same_model_options_as_simulate():
    assert "predict" in cli.SUBCOMMANDS
    model_options = {
        "--n",
        "--eta",
        "--d",
        "--d-t",
        "--r",
        "--gamma",
        "--gamma-t",
        "--rho",
        "--method",
        "--theta",
        "--keep-fraction",
    }
    assert model_options <= _option_strings("simulate")
    assert model_options <= _option_strings("predict")
    assert "--json" in _option_strings("predict")


def test_every_method_has_a_predictor():
    assert set(PREDICTORS) == set(METHODS)


def test_json_output_for_the_unfiltered_learner(capsys):
    code, out, err = _run(
        capsys,
        "--n",
        "20000",
        "--eta",
        "0.3",
        "--d",
        "10",
        "--d-t",
        "8",
        "--r",
        "4",
        "--gamma",
        "1e4",
        "--gamma-t",
        "1e4",
        "--json",
    )
    assert code == 0 and err == ""
    assert len(out.strip().splitlines()) == 1
    result = _strict_json(out)
    p = predict_unfiltered(20000, 0.3, 10, 8, 4, 1e4, 1e4)
    assert result["err_pred"] == pytest.approx(p.err)
    assert result["err_x_pred"] == pytest.approx(p.err_x)
    assert result["err_xt_pred"] == pytest.approx(p.err_xt)
    assert result["err_sq_pred"] == pytest.approx(p.err_sq)
    assert result["kept_fraction"] == 1.0
    assert result["n_over_condition"] == pytest.approx(p.n_over_condition)
    assert result["reliable"] is True
    assert result["params"] == {
        "n": 20000,
        "eta": 0.3,
        "d": 10,
        "d_t": 8,
        "r": 4,
        "gamma": 1e4,
        "gamma_t": 1e4,
        "rho": 1.0,
        "method": "none",
        "theta": None,
        "keep_fraction": None,
    }


def test_defaults_match_simulate_defaults(capsys):
    code, out, _ = _run(capsys, "--json")
    assert code == 0
    params = _strict_json(out)["params"]
    assert (params["n"], params["eta"], params["d"], params["d_t"], params["r"]) == (
        10_000,
        0.3,
        10,
        8,
        4,
    )


def test_below_the_condition_is_flagged(capsys):
    code, out, _ = _run(capsys, "--n", "200", "--json")
    assert code == 0 and _strict_json(out)["reliable"] is False
    code, out, _ = _run(capsys, "--n", "200")
    assert code == 0 and "unreliable" in out


def test_infinite_gamma_gives_valid_json_and_zero_x_error(capsys):
    code, out, _ = _run(capsys, "--gamma", "inf", "--json")
    assert code == 0
    result = _strict_json(out)
    assert result["err_x_pred"] == 0.0 and result["params"]["gamma"] == "inf"
    assert result["err_pred"] == pytest.approx(result["err_xt_pred"])


def test_human_readable_output(capsys):
    code, out, err = _run(capsys, "--n", "5000")
    assert code == 0 and err == ""
    assert out.startswith("method none: n = 5000")
    p = predict_unfiltered(5000, 0.3, 10, 8, 4, 1e4, 1e4)
    assert f"{p.err:.4e}" in out and "kept fraction 1.0000" in out


@pytest.mark.parametrize(
    "method, knob",
    [
        ("teacher", ["--keep-fraction", "0.3"]),
        ("teacher-split", ["--theta", "1.5"]),
        ("oracle-score", ["--keep-fraction", "0.3"]),
        ("oracle-clean", []),
    ],
)
def test_json_output_for_the_filtering_methods(capsys, method, knob):
    code, out, err = _run(capsys, "--method", method, "--n", "20000", *knob, "--json")
    assert code == 0 and err == ""
    assert len(out.strip().splitlines()) == 1
    result = _strict_json(out)
    kw = {}
    if knob:
        kw = {"theta": 1.5} if knob[0] == "--theta" else {"keep_fraction": 0.3}
    p = predict_filtered(20000, 0.3, 10, 8, 4, 1e4, 1e4, method=method, **kw)
    assert result["err_pred"] == pytest.approx(p.err)
    assert result["err_x_pred"] == pytest.approx(p.err_x)
    assert result["err_xt_pred"] == pytest.approx(p.err_xt)
    assert result["err_sq_pred"] == pytest.approx(p.err_sq)
    assert result["kept_fraction"] == pytest.approx(p.kept_fraction)
    assert result["kept_clean_fraction"] == pytest.approx(p.kept_clean_fraction)
    assert result["n_kept"] == pytest.approx(p.n_kept)
    assert result["reliable"] is True
    assert result["params"]["method"] == method
    if method == "oracle-clean":
        assert result["threshold"] is None and result["kept_fraction"] == pytest.approx(0.3)
    else:
        assert result["threshold"] == pytest.approx(p.threshold)
    if method.startswith("teacher"):
        assert result["teacher_err_pred"] == pytest.approx(p.teacher_err)
        assert result["err_pred_oracle_filter"] == pytest.approx(p.err_oracle_filter)
        assert result["inheritance_x"] == pytest.approx(p.inheritance_x)
        assert result["teacher_distortion"] == pytest.approx(p.teacher_distortion)
    else:
        assert "teacher_err_pred" not in result


def test_score_filters_default_to_theta_zero_like_simulate(capsys):
    code, out, _ = _run(capsys, "--method", "teacher-split", "--json")
    assert code == 0
    result = _strict_json(out)
    assert result["threshold"] == 0.0 and result["params"]["theta"] == 0.0
    p = predict_filtered(10_000, 0.3, 10, 8, 4, 1e4, 1e4, method="teacher-split", theta=0.0)
    assert result["err_pred"] == pytest.approx(p.err) and result["n_pool"] == 5000


def test_keeping_everything_prints_minus_infinity_as_a_string(capsys):
    code, out, _ = _run(capsys, "--method", "oracle-score", "--keep-fraction", "1", "--json")
    assert code == 0
    result = _strict_json(out)
    assert result["threshold"] == "-inf" and result["kept_fraction"] == 1.0
    code, none_out, _ = _run(capsys, "--json")
    assert result["err_pred"] == pytest.approx(_strict_json(none_out)["err_pred"])


def test_teacher_below_its_own_condition_is_flagged(capsys):
    code, out, _ = _run(
        capsys,
        "--method",
        "teacher",
        "--eta",
        "0.01",
        "--n",
        "20000",
        "--keep-fraction",
        "0.3",
        "--json",
    )
    assert code == 0
    result = _strict_json(out)
    assert result["n_over_condition"] > 10 and result["teacher_n_over_condition"] < 1
    assert result["reliable"] is False


def test_low_snr_teacher_prediction_includes_the_inherited_tilt(capsys):
    code, out, _ = _run(
        capsys,
        "--method",
        "teacher",
        "--gamma",
        "1",
        "--gamma-t",
        "1",
        "--keep-fraction",
        "0.3",
        "--n",
        "20000",
        "--json",
    )
    result = _strict_json(out)
    assert result["err_pred"] > 1.4 * result["err_pred_oracle_filter"]
    assert 0 < result["inheritance_x"] < 1


def test_human_readable_output_for_a_teacher(capsys):
    code, out, err = _run(capsys, "--method", "teacher-split", "--keep-fraction", "0.3")
    assert code == 0 and err == ""
    assert out.startswith("method teacher-split: n = 10000")
    p = predict_filtered(
        10_000, 0.3, 10, 8, 4, 1e4, 1e4, method="teacher-split", keep_fraction=0.3
    )
    assert f"{p.err:.4e}" in out and "kept fraction 0.3000" in out
    assert "clean among kept" in out and "teacher: predicted ERR" in out
    assert "n_kept / n_condition" in out and "teacher n / n_condition" in out


def test_a_threshold_that_keeps_nothing_exits_2(capsys):
    code, out, err = _run(capsys, "--method", "oracle-score", "--theta", "1e6")
    assert code == 2 and out == ""
    assert "keeps no pairs" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--eta", "0"], "eta"),
        (["--n", "3"], "n must"),
        (["--r", "11"], "r must"),
        (["--gamma", "-1"], "gamma"),
        (["--gamma-t", "nan"], "gamma_t"),
        (["--rho", "0"], "rho"),
        (["--d", "0"], "d must"),
        (["--theta", "0.5"], "--theta/--keep-fraction"),
    ],
)
def test_invalid_parameters_exit_2_with_one_line(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_predict_json_in_process(capsys):
    code, out, err = _run(capsys, "--n", "50000", "--json")
    assert code == 0, err
    result = _strict_json(out)
    assert math.isfinite(result["err_pred"]) and result["err_pred"] > 0
