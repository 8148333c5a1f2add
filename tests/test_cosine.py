"""The cosine (CLIP) score against the paper's bilinear score: the ``--score`` option of
``simulate`` and :mod:`linclip.theory.cosine`."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
from scipy import integrate

from linclip import BimodalModel, MethodSpec
from linclip.cli import build_parser, main
from linclip.cli.simulate import score_spec_from_args
from linclip.experiments.grid import run_grid, trial_source
from linclip.experiments.score_comparison import (
    DIAGNOSTIC_COLUMNS,
    block_path,
    distorted_teacher_sweep,
    load_score_sweep,
    paired_score_ratios,
    run_score_sweep,
    score_diagnostics,
    score_pair_specs,
)
from linclip.experiments.score_comparison import main as sweep_main
from linclip.filters.engine import run_methods
from linclip.filters.scores import cosine_score
from linclip.learners import fit
from linclip.theory.asymptotics import first_order_sin_theta_sq
from linclip.theory.cosine import (
    KeptSetMoments,
    anisotropic_first_order,
    clean_cosine_deficits,
    corrupted_cosine_partial_mean,
    corrupted_cosine_tail,
    distorted_oracle,
    expected_rotation_sq,
    kept_set_moments,
    kept_signal,
    mean_norm,
    predict_score_filtered,
    teacher_distortion_parts,
)
from linclip.theory.filtered_law import kept_moments
from linclip.theory.prediction import predict_filtered
from linclip.theory.score_law import sample_signal_coordinates

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


# ------------------------------------------------------------ theory: the corrupted cosine
def _independent_cosines(r, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((n, r)) * 1.3, rng.standard_normal((n, r)) * 0.7
    return np.einsum("ij,ij->i", u, v) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)


@pytest.mark.parametrize("r", [2, 3, 4, 7])
def test_corrupted_cosine_law_matches_monte_carlo(r):
    cos = _independent_cosines(r)
    for c in (-0.5, 0.0, 0.3, 0.8):
        assert corrupted_cosine_tail(c, r) == pytest.approx(np.mean(cos > c), abs=4e-3)
        assert corrupted_cosine_partial_mean(c, r) == pytest.approx(
            np.mean(cos * (cos > c)), abs=4e-3
        )
    assert corrupted_cosine_tail(-1.0, r) == 1.0 and corrupted_cosine_tail(1.0, r) == 0.0


@pytest.mark.parametrize("r", [2, 4, 5])
def test_corrupted_partial_mean_is_the_integral_of_the_density(r):
    dens = lambda t: (1 - t * t) ** ((r - 3) / 2)  # noqa: E731
    z = integrate.quad(dens, -1, 1)[0]
    for c in (-0.9, 0.2, 0.6):
        want = integrate.quad(lambda t: t * dens(t), c, 1)[0] / z
        assert corrupted_cosine_partial_mean(c, r) == pytest.approx(want, rel=1e-7)


def test_mean_norm_and_validation():
    assert mean_norm(1, 4.0) == pytest.approx(2.0 * math.sqrt(2 / math.pi))
    rng = np.random.default_rng(1)
    w = rng.standard_normal((200_000, 4)) * math.sqrt(1.5)
    assert mean_norm(4, 1.5) == pytest.approx(np.linalg.norm(w, axis=1).mean(), rel=3e-3)
    with pytest.raises(ValueError, match="r must be"):
        corrupted_cosine_tail(0.1, 1)


# -------------------------------------------------------------- theory: the oracle kept sets
def _mc_kept(score, q, eta, r=4, gamma=1e4, n=600_000, seed=2):
    sig = sample_signal_coordinates(n, r, gamma, gamma, eta=eta, rng=seed)
    uv = np.einsum("ij,ij->i", sig.u, sig.v)
    val = uv if score == "bilinear" else cosine_score(sig.u, sig.v, np.eye(r), np.eye(r))
    keep = val > np.quantile(val, 1 - q)
    u2 = np.sum(sig.u[keep] ** 2, axis=1) / r
    return dict(
        clean=sig.clean[keep].mean(),
        s=uv[keep].mean() / r,
        m_u=u2.mean(),
        m_v=(np.sum(sig.v[keep] ** 2, axis=1) / r).mean(),
        norm_clean=u2[sig.clean[keep]].mean(),
    )


@pytest.mark.parametrize("score", ["bilinear", "cosine"])
@pytest.mark.parametrize(("eta", "q"), [(0.3, 0.1), (0.3, 0.5), (0.05, 0.2), (1.0, 0.2)])
def test_kept_signal_matches_a_plain_monte_carlo(score, eta, q):
    k = kept_signal(score, q, eta, 4, n_mc=300_000, seed=5)
    mc = _mc_kept(score, q, eta)
    assert k.kept_fraction == pytest.approx(q, rel=2e-3)
    assert k.kept_clean_fraction == pytest.approx(mc["clean"], abs=0.01)
    assert k.cross_moment == pytest.approx(mc["s"], rel=0.02)
    assert k.second_moment_u == pytest.approx(mc["m_u"], rel=0.02)
    assert k.second_moment_v == pytest.approx(mc["m_v"], rel=0.02)
    assert k.norm_sq_clean == pytest.approx(mc["norm_clean"], rel=0.02)
    assert k.kept_correlation <= 1.0 + 1e-12


def test_kept_signal_bilinear_is_the_exact_tail_and_keep_all_is_unfiltered():
    k = kept_signal("bilinear", 0.2, 0.3, 4, gamma=50.0, gamma_t=20.0)
    km = kept_moments(k.threshold, 0.3, 4, 50.0, 20.0)
    assert k.cross_moment == pytest.approx(float(km.cross_moment), rel=1e-10)
    assert k.second_moment_v == pytest.approx(float(km.second_moment_v), rel=1e-10)
    assert k.kept_clean_fraction == pytest.approx(float(km.kept_clean_fraction), rel=1e-10)
    for score in ("bilinear", "cosine"):
        full = kept_signal(score, 1.0, 0.3, 4, n_mc=2000)
        assert full.cross_moment == pytest.approx(0.3, abs=0.02)
        assert full.rate_factor == pytest.approx(1 / 0.3, rel=0.07)


def test_the_cosine_keeps_clean_pairs_of_every_norm():
    bil, cos = kept_signal("bilinear", 0.1, 0.3, 4), kept_signal("cosine", 0.1, 0.3, 4)
    # The bilinear top 10 % are clean pairs with large latent norms; the oracle cosine's are
    # clean pairs whose noise deficit ~ 1/|z|^2 is small: larger norms too, but less so.
    assert bil.norm_sq_clean > 1.2 * cos.norm_sq_clean
    assert cos.kept_clean_fraction > bil.kept_clean_fraction
    assert cos.rate_factor > bil.rate_factor
    # Corrupted pairs kept by the cosine have unselected norms.
    low = kept_signal("cosine", 0.3, 0.05, 4)
    assert low.norm_sq_corrupted == pytest.approx(1 + 1e-4)


def test_predict_score_filtered_bilinear_is_predict_filtered():
    p = predict_score_filtered("bilinear", 10_000, 0.3, 10, 8, 4, keep_fraction=0.2)
    ref = predict_filtered(10_000, 0.3, 10, 8, 4, keep_fraction=0.2, method="oracle-score")
    assert p.err == pytest.approx(ref.err, rel=1e-8)
    c = predict_score_filtered("cosine", 10_000, 0.3, 10, 8, 4, keep_fraction=0.2)
    assert c.err > p.err and c.n_kept == pytest.approx(2000, rel=2e-3)
    with pytest.raises(ValueError, match="score must be one of"):
        predict_score_filtered("clip", 100, 0.3, 10, 8, 4, keep_fraction=0.2)
    with pytest.raises(ValueError, match="keeps about"):
        predict_score_filtered("bilinear", 10, 0.3, 10, 8, 4, keep_fraction=0.01)


# ------------------------------------------------------- theory: the teacher's two errors
def test_distorted_oracle_has_the_given_rotation_and_stretch():
    model = BimodalModel(d=9, d_t=7, r=4, basis_seed=4)
    t = distorted_oracle(model.U, model.U_t, [0.3, 0.1], stretch=0.2)
    parts = teacher_distortion_parts(t, model.U, model.U_t)
    assert parts.angles == pytest.approx([0.3, 0.1], abs=1e-10)
    assert parts.stretch == pytest.approx(0.2, abs=1e-10)
    assert parts.angle_sq == pytest.approx(0.1, abs=1e-10)
    plain = distorted_oracle(model.U, model.U_t)
    assert np.allclose(plain.score_matrix, model.U @ model.U_t.T)
    with pytest.raises(ValueError, match="at most r // 2"):
        distorted_oracle(model.U, model.U_t, [0.1, 0.2, 0.3])


def test_a_fitted_teachers_mismatch_is_a_rotation_of_the_predicted_size():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3, basis_seed=1)
    angle_sq = []
    for seed in range(60):
        s = model.sample(2_000, np.random.default_rng(seed))
        parts = teacher_distortion_parts(fit(s.x, s.xt, 4), model.U, model.U_t)
        mis = parts.mismatch
        assert np.allclose(mis.T @ mis, np.eye(4), atol=1e-3)  # shared singular values
        angle_sq.append(parts.angle_sq)
    want = expected_rotation_sq(2_000, 0.3, 4)
    assert np.mean(angle_sq) == pytest.approx(want, rel=0.2)


def test_clean_cosine_deficits_match_monte_carlo():
    sig = sample_signal_coordinates(200_000, 4, 1e4, 1e4, eta=1.0, rng=3)
    cos = cosine_score(sig.u, sig.v, np.eye(4), np.eye(4))
    dd = clean_cosine_deficits(5_000, 0.3, 4)
    assert np.mean(1 - cos) == pytest.approx(dd.noise, rel=0.05)
    assert dd.rotation == pytest.approx(expected_rotation_sq(5_000, 0.3, 4) / 4)
    assert dd.ratio > 1 and dd.n_teacher_crossover > 5_000
    # A rotation by phi in every plane lowers a noiseless clean cosine by 1 - cos(phi).
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50_000, 4))
    t = distorted_oracle(np.eye(4), np.eye(4), 0.2)
    c = cosine_score(z, z, t.G, t.G_t)
    assert np.mean(1 - c) == pytest.approx(1 - math.cos(0.2), rel=1e-9)


def test_anisotropic_law_reduces_to_the_isotropic_one():
    mom = KeptSetMoments(0.7 * np.eye(4), 1.3 * np.eye(4), 1.1 * np.eye(4), 501)
    p = anisotropic_first_order(mom, 10, 8, 1e3, 1e2)
    iso_x = first_order_sin_theta_sq(501, 10, 4, 1e-3, 1.1, 0.7)
    iso_xt = first_order_sin_theta_sq(501, 8, 4, 1e-2, 1.3, 0.7)
    assert p.err_x_sq == pytest.approx(iso_x.mean_sq, rel=1e-12)
    assert p.err_xt_sq == pytest.approx(iso_xt.mean_sq, rel=1e-12)
    # a depleted direction raises the trace
    C = np.diag([0.7, 0.7, 0.7, 0.2])
    worse = anisotropic_first_order(KeptSetMoments(C, C, C, 501), 10, 8, 1e3, 1e2)
    assert (
        worse.trace_x
        > anisotropic_first_order(
            KeptSetMoments(0.7 * np.eye(4), 0.7 * np.eye(4), 0.7 * np.eye(4), 501), 10, 8
        ).trace_x
    )
    with pytest.raises(ValueError, match="KeptSetMoments"):
        anisotropic_first_order("moments", 10, 8)


def test_kept_set_moments_and_its_validation():
    s = MODEL_SMALL.sample(3_000, np.random.default_rng(0))
    mask = np.zeros(s.n, dtype=bool)
    mask[::3] = True
    mom = kept_set_moments(s.x, s.xt, MODEL_SMALL.U, MODEL_SMALL.U_t, mask)
    assert mom.n_kept == 1_000 and mom.cross.shape == (2, 2)
    assert np.allclose(mom.cross, 0.5 * np.eye(2), atol=0.15)
    assert 0 < mom.anisotropy <= 1
    with pytest.raises(ValueError, match="mask must be"):
        kept_set_moments(s.x, s.xt, MODEL_SMALL.U, MODEL_SMALL.U_t, mask[:-1])


MODEL_SMALL = BimodalModel(d=5, d_t=4, r=2, eta=0.5, basis_seed=2)


# ------------------------------------------------------------ the sweeps and the ratios
def test_score_pair_specs_and_validation():
    specs = score_pair_specs(["teacher", "oracle-score"], [0.2])
    assert [s.label for s in specs] == [
        "none",
        "teacher (q=20%)",
        "teacher (q=20%, cosine)",
        "oracle-score (q=20%)",
        "oracle-score (q=20%, cosine)",
    ]
    with pytest.raises(ValueError, match="filtering methods"):
        score_pair_specs(["none"], [0.2])
    with pytest.raises(ValueError, match="keep_fraction"):
        score_pair_specs(["teacher"], [1.5])


def test_paired_ratios_pair_trials_of_one_engine_call():
    frame = run_grid(
        MODEL_SMALL,
        n=800,
        eta=0.5,
        methods=score_pair_specs(["teacher-split"], [0.3]),
        trials=6,
        seed=2,
    )
    out = paired_score_ratios(frame)
    assert len(out) == 1 and out.trials[0] == 6
    by = frame[frame.method == "teacher-split"].set_index(["trial", "score"]).err
    b = by.xs("bilinear", level="score").to_numpy()
    c = by.xs("cosine", level="score").to_numpy()
    assert out.ratio[0] == pytest.approx(c.mean() / b.mean())
    assert out.geo_ratio[0] == pytest.approx(np.exp(np.mean(np.log(c / b))))
    assert out.win_fraction[0] == pytest.approx(np.mean(c < b))
    with pytest.raises(ValueError, match="no trial with both"):
        paired_score_ratios(frame[frame.score == "bilinear"])
    with pytest.raises(ValueError, match="no column"):
        paired_score_ratios(frame.drop(columns="trial"))


def test_run_score_sweep_is_resumable(tmp_path):
    kw = dict(n=[500], etas=[0.5], keep_fractions=[0.4], methods=["oracle-score"], trials=3)
    first = run_score_sweep(tmp_path, MODEL_SMALL, **kw, command="test")
    path = block_path(tmp_path, 500, 0.5)
    assert path.exists() and len(first) == 3 * 3
    edited = first.copy()
    edited.loc[0, "err"] = 123.0
    edited.to_csv(path, index=False)
    again = run_score_sweep(tmp_path, MODEL_SMALL, **kw, command="test again")
    assert again.loc[0, "err"] == 123.0  # read, not rerun
    log = json.loads((tmp_path / "run.json").read_text())
    assert [r["command"] for r in log["runs"]] == ["test", "test again"]
    assert len(log["blocks"]) == 1
    assert len(load_score_sweep(tmp_path)) == 9
    with pytest.raises(ValueError, match="no sweep blocks"):
        load_score_sweep(tmp_path / "empty")


def test_sweep_command_line(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--n", "400", "--eta", "0.5", "--keep-fraction", "0.5"]
    assert sweep_main([*argv, "--trials", "2", "--d", "5", "--d-t", "4", "--r", "2"]) == 0
    out = capsys.readouterr().out
    assert "teacher-split" in out and "oracle-score" in out and "ratio" in out
    argv[1] = str(tmp_path / "other")
    assert sweep_main([*argv, "--trials", "0"]) == 2
    assert "trials" in capsys.readouterr().err


def test_undistorted_given_teacher_is_the_oracle_score_filter():
    f = distorted_teacher_sweep(
        MODEL_SMALL,
        n=700,
        eta=0.5,
        distortions=[(0.0, 0.0), (0.4, 0.0)],
        keep_fractions=[0.3],
        trials=2,
        seed=1,
    )
    ref = run_grid(
        MODEL_SMALL,
        n=700,
        eta=0.5,
        methods=[
            MethodSpec("oracle-score", keep_fraction=0.3, score=s) for s in ("bilinear", "cosine")
        ],
        trials=2,
        seed=1,
    )
    zero = f[f.angle == 0.0].sort_values(["trial", "score"]).err.to_numpy()
    assert np.allclose(zero, ref.sort_values(["trial", "score"]).err.to_numpy(), rtol=1e-10)
    rotated = f[f.angle == 0.4]
    bil = rotated[rotated.score == "bilinear"].err.to_numpy()
    assert not np.allclose(rotated[rotated.score == "cosine"].err.to_numpy(), zero[1::2])
    assert bil.shape == (2,)
    with pytest.raises(ValueError, match="distortions"):
        distorted_teacher_sweep(MODEL_SMALL, n=700, eta=0.5, distortions=[], keep_fractions=[0.3])


@pytest.mark.parametrize("method", ["teacher-split", "oracle-score"])
def test_score_diagnostics_errors_are_the_engines(method):
    d = score_diagnostics(MODEL_SMALL, n=900, eta=0.5, keep_fraction=0.3, method=method, trials=2)
    assert list(d.columns) == DIAGNOSTIC_COLUMNS and len(d) == 4
    ref = run_grid(
        MODEL_SMALL,
        n=900,
        eta=0.5,
        methods=[MethodSpec(method, keep_fraction=0.3, score=s) for s in ("bilinear", "cosine")],
        trials=2,
    )
    assert np.allclose(
        d.sort_values(["trial", "score"]).err.to_numpy(),
        ref.sort_values(["trial", "score"]).err.to_numpy(),
        rtol=1e-12,
    )
    assert np.allclose(
        d.sort_values(["trial", "score"]).kept_clean_fraction.to_numpy(),
        ref.sort_values(["trial", "score"]).kept_clean_fraction.to_numpy(),
    )
    if method == "oracle-score":
        assert (d.angle_max == 0).all() and (d.stretch == 0).all()
    else:
        assert (d.angle_max > 0).all()
    with pytest.raises(ValueError, match="method must be"):
        score_diagnostics(MODEL_SMALL, n=900, eta=0.5, keep_fraction=0.3, method="none")


def test_trial_source_and_engine_share_the_teacher():
    m, s = trial_source(MODEL_SMALL.with_eta(0.5), 600, 0, seed=0)
    outs = run_methods(
        s,
        [
            MethodSpec("teacher-split", keep_fraction=0.3, score=sc)
            for sc in ("bilinear", "cosine")
        ],
        2,
        U=m.U,
        U_t=m.U_t,
    )
    assert np.allclose(outs[0].teacher.score_matrix, outs[1].teacher.score_matrix)
