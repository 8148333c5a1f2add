"""Validation of the public entry points (issue 11, items 4, 5 and 7).

Each check is tested with an input it must accept and the broken variant it must refuse with a
``ValueError`` naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

import linclip as L
from linclip._validate import SNR_MIN, check_scores, check_seed, check_snr
from linclip.cli.common import NUMBER_PATTERN, ArgumentParser, positive_seconds
from linclip.cli.predict import validity_notes
from linclip.experiments.configs import ExperimentConfig, experiment_config
from linclip.filters import kept_count
from linclip.learners import loss_gradients, pca_encoders
from linclip.theory.prediction import predict_filtered
from linclip.theory.score_law import ScoreLaw

SCORES = np.linspace(-1.0, 1.0, 41)


@pytest.fixture(scope="module")
def model():
    return L.BimodalModel(d=6, d_t=5, r=2, eta=0.5)


@pytest.fixture(scope="module")
def pairs(model):
    return model.sample(200, np.random.default_rng(3))


# ------------------------------------------------------------------------ _validate helpers
@pytest.mark.parametrize("good, expected", [(0, 0), (7, 7), (3.0, 3), (np.int64(5), 5)])
def test_check_seed_accepts_non_negative_integers(good, expected):
    assert check_seed("seed", good) == expected


@pytest.mark.parametrize("bad", [1.5, 1.9, None, -1, "0", True, math.nan])
def test_check_seed_refuses_and_names_seed(bad):
    with pytest.raises(ValueError, match=r"^seed must be .*integer.*got"):
        check_seed("seed", bad)


def test_check_seed_never_truncates():
    with pytest.raises(ValueError, match="1.9"):
        check_seed("seed", 1.9)


@pytest.mark.parametrize("good", [SNR_MIN, 1e-3, 1.0, 1e4, math.inf])
def test_check_snr_accepts(good):
    assert check_snr("gamma", good) == good


@pytest.mark.parametrize("bad", [1e-320, 1e-200, 0.0, -1.0, -math.inf, math.nan, "1e4"])
def test_check_snr_refuses_and_names_gamma(bad):
    with pytest.raises(ValueError, match=r"^gamma_t must be"):
        check_snr("gamma_t", bad)


def test_check_scores():
    assert check_scores("scores", [1.0, -math.inf, math.inf]).shape == (3,)
    with pytest.raises(ValueError, match=r"scores must not contain NaN.*index 1"):
        check_scores("scores", [1.0, math.nan])
    with pytest.raises(ValueError, match=r"scores must be a 1-D array.*\(2, 2\)"):
        check_scores("scores", np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"scores must be a 1-D array of real numbers"):
        check_scores("scores", ["a", "b"])


# -------------------------------------------------------------------- item 4: the parser
@pytest.mark.parametrize(
    "text", ["-1", "-1.5", "-.5", "-1e-3", "-1E+3", "-inf", "-Infinity", "-nan", "1e-3"]
)
def test_number_pattern_matches_numbers(text):
    assert NUMBER_PATTERN.match(text)
    float(text)  # and Python reads it


@pytest.mark.parametrize("text", ["--n", "-x", "-", "-e5", "-1e", "--theta", "-inform"])
def test_number_pattern_leaves_options_alone(text):
    assert not NUMBER_PATTERN.match(text)


def test_parser_reads_negative_scientific_values():
    p = ArgumentParser(prog="t", exit_on_error=False)
    p.add_argument("--theta", type=float)
    p.add_argument("--n", type=int)
    assert p.parse_args(["--theta", "-1e-3"]).theta == -1e-3
    assert p.parse_args(["--theta", "-inf"]).theta == -math.inf
    # the broken variant: plain argparse takes -1e-3 for an option
    import argparse

    plain = argparse.ArgumentParser(prog="t", exit_on_error=False)
    plain.add_argument("--theta", type=float)
    with pytest.raises(argparse.ArgumentError, match="expected one argument"):
        plain.parse_args(["--theta", "-1e-3"])


def test_subparsers_inherit_the_parser_class():
    from linclip.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["predict", "--method", "teacher", "--theta", "-1e-3"])
    assert args.theta == -1e-3
    args = parser.parse_args(["predict", "--gamma-t", "-inf"])
    assert args.gamma_t == -math.inf  # parsed; validation refuses it (below)


def test_positive_seconds():
    import argparse

    assert positive_seconds("2.5") == 2.5
    for bad in ("-1", "0", "nan", "inf", "abc"):
        with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
            positive_seconds(bad)


def test_theta_minus_inf_keeps_every_pair():
    assert L.MethodSpec("teacher", theta=-math.inf).theta == -math.inf
    assert L.threshold_mask(SCORES, -math.inf, 2).all()
    with pytest.raises(ValueError, match=r"theta must be a finite real number or -inf.*inf"):
        L.MethodSpec("teacher", theta=math.inf)


def test_theta_minus_inf_predicts_as_keeping_everything():
    a = predict_filtered(10_000, 0.3, 10, 8, 4, 1e4, 1e4, theta=-math.inf, method="teacher")
    b = predict_filtered(10_000, 0.3, 10, 8, 4, 1e4, 1e4, keep_fraction=1.0, method="teacher")
    assert a.err == pytest.approx(b.err) and a.kept_fraction == 1.0


# ---------------------------------------------------------------- item 5: filters, masks
def test_threshold_mask_refuses_nan_scores():
    scores = SCORES.copy()
    assert L.threshold_mask(scores, 0.0, 2).sum() == 20
    scores[3] = np.nan  # the broken variant: silently dropped before
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        L.threshold_mask(scores, 0.0, 2)


@pytest.mark.parametrize("bad", [0, -3, "2", 1.5, None, True])
def test_threshold_mask_rank_must_be_a_positive_int(bad):
    assert L.threshold_mask(SCORES, 0.0, 2).any()
    with pytest.raises(ValueError, match=r"^r must be an integer"):
        L.threshold_mask(SCORES, 0.0, bad)


def test_threshold_mask_scores_must_be_1d():
    with pytest.raises(ValueError, match=r"scores must be a 1-D array.*\(5, 5\)"):
        L.threshold_mask(np.ones((5, 5)), 0.0, 2)


def test_top_fraction_mask_refuses_nan_scores():
    scores = SCORES.copy()
    assert L.top_fraction_mask(scores, 0.5, 2).sum() == 21
    scores[40] = np.nan  # the broken variant: kept at an arbitrary position before
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        L.top_fraction_mask(scores, 0.5, 2)
    with pytest.raises(ValueError, match=r"^r must be"):
        L.top_fraction_mask(SCORES, 0.5, 0)


def test_kept_count_validates():
    assert kept_count(0.5, 10) == 5
    with pytest.raises(ValueError, match="keep_fraction"):
        kept_count(2.0, 10)
    with pytest.raises(ValueError, match="n_pool"):
        kept_count(0.5, -1)


def test_score_matrices_validate(pairs, model):
    M = L.oracle_score_matrix(model.U, model.U_t)
    assert L.bilinear_score(pairs.x.tolist(), pairs.xt, M).shape == (200,)
    with pytest.raises(ValueError, match="x and xt must have the same number of rows"):
        L.bilinear_score(pairs.x, pairs.xt[:10], M)
    with pytest.raises(ValueError, match=r"U and U_t must have the same number of columns"):
        L.oracle_score_matrix(np.ones((6, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="teacher must be an Encoders"):
        L.teacher_score_matrix("teacher")


# -------------------------------------------------------------------- run_grid, run_trial
@pytest.mark.parametrize("bad", [1.5, 1.9, None, -1, "1"])
def test_run_grid_seed(model, bad):
    with pytest.raises(ValueError, match=r"^seed must be"):
        L.run_grid(model, n=50, eta=0.5, trials=1, seed=bad)


def test_run_grid_integer_valued_seed_is_the_integer(model):
    a = L.run_grid(model, n=50, eta=0.5, trials=1, seed=2.0)
    b = L.run_grid(model, n=50, eta=0.5, trials=1, seed=2)
    assert a["err"].tolist() == b["err"].tolist()


def test_run_grid_accepts_one_method_name(model):
    one = L.run_grid(model, n=50, eta=0.5, trials=1, methods="teacher-split")
    listed = L.run_grid(model, n=50, eta=0.5, trials=1, methods=["teacher-split"])
    assert one["err"].tolist() == listed["err"].tolist()
    with pytest.raises(ValueError, match=r"method must be one of .*got 'nonsense'"):
        L.run_grid(model, n=50, eta=0.5, trials=1, methods="nonsense")
    with pytest.raises(ValueError, match="each method must be a method name"):
        L.run_grid(model, n=50, eta=0.5, trials=1, methods=[1])


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"n": []}, "n"),
        ({"eta": []}, "eta"),
        ({"methods": []}, "methods"),
        ({"methods": None}, "methods"),
        ({"n": "50"}, "n"),
        ({"eta": "0.5"}, "eta"),
        ({"rho": 0.0}, "rho"),
    ],
)
def test_run_grid_refuses_empty_or_malformed_grids(model, kw, name):
    args = {"n": 50, "eta": 0.5, "trials": 1, **kw}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        L.run_grid(model, **args)


def test_run_grid_model_must_be_a_model():
    with pytest.raises(ValueError, match="model must be a BimodalModel"):
        L.run_grid("model", n=50, eta=0.5, trials=1)


def test_run_trial_validates(model):
    assert len(L.run_trial(model, 50, 0, "none")) == 1
    with pytest.raises(ValueError, match="^seed"):
        L.run_trial(model, 50, 0, ["none"], seed=-1)
    with pytest.raises(ValueError, match="^trial"):
        L.run_trial(model, 50, -1, ["none"])


# --------------------------------------------------------------------- ExperimentConfig
@pytest.mark.parametrize("q", [2.0, -0.5])
def test_experiment_config_revalidates_kept_fractions(q):
    spec = L.MethodSpec("teacher", keep_fraction=0.5)
    ExperimentConfig("table1", "book", 1000, (0.3,), (spec,), 1)  # valid
    broken = L.MethodSpec("teacher", keep_fraction=0.5)
    object.__setattr__(broken, "keep_fraction", q)  # bypasses MethodSpec's own check
    with pytest.raises(ValueError, match=r"keep_fraction \(q\) must be a probability in \(0, 1\]"):
        ExperimentConfig("table1", "book", 1000, (0.3,), (broken,), 1)


def test_experiment_config_refuses_tiny_gamma():
    cfg = experiment_config("table1", trials=1)
    with pytest.raises(ValueError, match="^gamma must be"):
        dataclasses.replace(cfg, gamma=1e-320)


# ----------------------------------------------------------------------------- learners
def test_fit_refuses_identical_rows(pairs):
    L.fit(pairs.x, pairs.xt, 2)
    with pytest.raises(ValueError, match=r"cross-covariance .* is exactly zero .*identical"):
        L.fit(np.ones((20, 6)), np.ones((20, 5)), 2)
    with pytest.raises(ValueError, match=r"rows of x are all identical"):
        L.fit(np.ones((20, 6)), pairs.xt[:20], 2)


def test_closed_form_encoders_refuses_zero_s():
    assert L.closed_form_encoders(np.eye(6, 5), 2).r == 2
    with pytest.raises(ValueError, match="cross-covariance S is zero"):
        L.closed_form_encoders(np.zeros((6, 5)), 2)


def test_losses_validate(pairs):
    enc = L.fit(pairs.x, pairs.xt, 2)
    S = L.cross_covariance(pairs.x, pairs.xt)
    assert math.isfinite(L.loss_from_cross_covariance(enc.G, enc.G_t, S))
    with pytest.raises(ValueError, match="^rho"):
        L.loss_from_cross_covariance(enc.G, enc.G_t, S, rho=-1.0)
    with pytest.raises(ValueError, match="must fit"):
        loss_gradients(enc.G, enc.G_t, S[:3])
    with pytest.raises(ValueError, match="must fit"):
        L.contrastive_loss(enc.G[:, :3], enc.G_t, pairs.x, pairs.xt)


def test_pca_encoders_need_square_covariances():
    assert pca_encoders(np.eye(4), np.eye(3), 2).r == 2
    with pytest.raises(ValueError, match=r"cov_x must be a square covariance matrix"):
        pca_encoders(np.ones((3, 4)), np.eye(3), 1)


# ------------------------------------------------------------------------------ metrics
def test_subspace_error_validates(pairs, model):
    enc = L.fit(pairs.x, pairs.xt, 2)
    assert L.subspace_error(enc, model.U, model.U_t).err < 1
    with pytest.raises(ValueError, match="encoders must be an Encoders pair"):
        L.subspace_error("enc", model.U, model.U_t)
    with pytest.raises(ValueError, match=r"^U must have one row per input coordinate"):
        L.subspace_error(enc, np.eye(4)[:, :2], model.U_t)


def test_summarize_needs_err():
    import pandas as pd

    with pytest.raises(ValueError, match="'err' column"):
        L.summarize(pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="grouping columns"):
        L.summarize(pd.DataFrame({"err": [1.0]}))


# ---------------------------------------------------------------------- gamma everywhere
@pytest.mark.parametrize("gamma", [1e-320, 1e-200])
def test_tiny_gamma_is_refused_naming_gamma(gamma):
    from linclip.theory.asymptotics import predict_unfiltered

    L.BimodalModel(6, 5, 2, gamma=SNR_MIN)  # the smallest accepted
    with pytest.raises(ValueError, match="^gamma must be a signal-to-noise ratio"):
        L.BimodalModel(6, 5, 2, gamma=gamma)
    with pytest.raises(ValueError, match="^gamma_t must be"):
        predict_unfiltered(1000, 0.3, 10, 8, 4, 1e4, gamma)
    with pytest.raises(ValueError, match="^gamma must be"):
        ScoreLaw(2, gamma, 1e4, True)


# ------------------------------------------------------------------- item 7: r = 1 noise
@pytest.mark.parametrize("method", ["teacher", "teacher-split", "oracle-score"])
@pytest.mark.parametrize("knob", [{"theta": 0.0}, {"theta": 0.5}, {"keep_fraction": 0.3}])
def test_r1_predictions_raise_no_integration_warning(method, knob):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an IntegrationWarning would fail here
        pred = predict_filtered(10_000, 0.3, 10, 8, 1, 1e4, 1e4, method=method, **knob)
    assert 0 < pred.err < 1


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("theta", [-0.5, -1e-4, 0.0, 1e-4, 0.3, 2.0])
def test_r1_tail_moments_match_monte_carlo(clean, theta):
    """The u-substitution changes the quadrature, not the law: compare with sampling."""
    law = ScoreLaw(1, 10.0, 3.0, clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prob, px, py = law._tail_scalar(theta)
    rng = np.random.default_rng(11)
    # S = alpha X - beta Y with X, Y independent chi^2_1 (the law's definition)
    x = rng.chisquare(1, 400_000)
    y = rng.chisquare(1, 400_000)
    kept = law.alpha * x - law.beta * y > theta
    assert prob == pytest.approx(kept.mean(), abs=4e-3)
    assert px == pytest.approx(np.mean(x * kept), abs=1e-2)
    assert py == pytest.approx(np.mean(y * kept), abs=1e-2)


def test_r1_tail_probability_is_exact_at_theta_zero_for_corrupted_pairs():
    """For corrupted pairs alpha = beta, so P(S > 0) = 1/2 exactly."""
    law = ScoreLaw(1, 1e4, 1e4, False)
    assert law.alpha == pytest.approx(law.beta)
    assert law._tail_scalar(0.0)[0] == pytest.approx(0.5, abs=1e-13)


def test_validity_notes():
    assert validity_notes({"err_pred": 1e-3, "n_over_condition": 90.0}, 4) == []
    notes = validity_notes({"err_pred": 2.5, "n_over_condition": 90.0}, 4)
    assert len(notes) == 1 and "sqrt(r) = 2" in notes[0]
    notes = validity_notes({"err_pred": 0.1, "n_over_condition": 0.2}, 4)
    assert len(notes) == 1 and "n / n_condition = 0.2 < 1" in notes[0]


def test_predict_prints_outside_validity(capsys):
    from linclip.cli import main

    assert main(["predict", "--gamma", "1e-3", "--n", "1000"]) == 0
    out = capsys.readouterr().out
    assert "OUTSIDE ITS VALIDITY" in out and "sqrt(r) = 2" in out
    assert main(["predict"]) == 0  # the default setting is well inside
    assert "OUTSIDE" not in capsys.readouterr().out


def test_predict_json_carries_the_notes(capsys):
    import json

    from linclip.cli import main

    assert main(["predict", "--gamma", "1e-3", "--n", "1000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["err_max"] == 2.0 and len(result["validity_notes"]) == 2
