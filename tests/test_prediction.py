"""Tests of linclip.prediction: the first-order law of the filtered error, the teacher's tilt,
the best threshold, and prediction versus simulation at fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linclip import BimodalModel, MethodSpec, run_grid
from linclip.asymptotics import expected_max, first_order_sin_theta_sq, predict_unfiltered
from linclip.prediction import (
    PREDICTION_METHODS,
    FilteredPrediction,
    OptimalKeepFraction,
    PhaseDiagram,
    compare_filtered,
    first_order_factor,
    optimal_keep_fraction,
    optimal_keep_fractions,
    predict_filtered,
    simulate_filtered,
    teacher_distortion,
    threshold_phase_diagram,
)
from linclip.score_law import kept_moments, sample_signal_coordinates, threshold_for_fraction

PAPER = dict(d=10, d_t=8, r=4)


def _pred(method="oracle-score", n=20_000, eta=0.3, gamma=1e4, gamma_t=1e4, **kw):
    return predict_filtered(
        n, eta, PAPER["d"], PAPER["d_t"], PAPER["r"], gamma, gamma_t, method=method, **kw
    )


# ------------------------------------------------------------------- predict_filtered
def test_methods_are_the_filter_methods():
    assert set(PREDICTION_METHODS) == {
        "none",
        "teacher",
        "teacher-split",
        "oracle-score",
        "oracle-clean",
    }


def test_none_is_the_unfiltered_prediction():
    p = _pred("none")
    u = predict_unfiltered(20_000, 0.3, 10, 8, 4, 1e4, 1e4)
    assert isinstance(p, FilteredPrediction)
    for name in ("err", "err_sq", "err_x", "err_xt", "err_x_sq", "err_xt_sq", "n_condition"):
        assert getattr(p, name) == pytest.approx(getattr(u, name), rel=1e-12)
    assert p.kept_fraction == 1.0 and p.kept_clean_fraction == 0.3 and math.isnan(p.threshold)
    assert p.rate_factor == pytest.approx(1 / 0.3)
    assert p.err_oracle_filter == p.err and math.isnan(p.teacher_err)


@pytest.mark.parametrize(
    "method, pool", [("oracle-score", 20_000), ("teacher", 20_000), ("teacher-split", 10_000)]
)
def test_keeping_everything_is_the_unfiltered_learner_on_the_pool(method, pool):
    p = _pred(method, keep_fraction=1.0)
    u = predict_unfiltered(pool, 0.3, 10, 8, 4, 1e4, 1e4)
    assert p.threshold == -math.inf and p.n_pool == pool
    assert p.err == pytest.approx(u.err, rel=1e-12)
    assert p.inheritance_x == 0.0 and p.inheritance_xt == 0.0


def test_oracle_clean_trains_on_the_clean_pairs_with_unit_signal():
    p = _pred("oracle-clean")
    assert (p.kept_fraction, p.kept_clean_fraction, p.cross_moment) == (0.3, 1.0, 1.0)
    assert p.n_kept == pytest.approx(6000)
    assert p.rate_factor == pytest.approx(1 / math.sqrt(0.3))
    law_x = first_order_sin_theta_sq(6000, 10, 4, 1e-4, 1 + 1e-4, 1.0)
    law_xt = first_order_sin_theta_sq(6000, 8, 4, 1e-4, 1 + 1e-4, 1.0)
    assert p.err == pytest.approx(expected_max(law_x, law_xt), rel=1e-12)


def test_oracle_score_uses_the_exact_kept_moments():
    p = _pred(theta=2.0)
    km = kept_moments(2.0, 0.3, 4)
    assert p.kept_fraction == pytest.approx(km.kept_fraction, rel=1e-12)
    assert p.cross_moment == pytest.approx(km.cross_moment, rel=1e-12)
    assert p.second_moment_v == pytest.approx(km.second_moment_v, rel=1e-12)
    n_kept = km.kept_fraction * 20_000
    expected = 4 * 6 * 1e-4 * km.second_moment_v / (km.cross_moment**2 * (n_kept - 1))
    assert p.err_x_sq == pytest.approx(expected, rel=1e-12)
    assert p.n_condition == pytest.approx(
        10 * km.second_moment_u * km.second_moment_v / km.cross_moment**2
    )


def test_keep_fraction_and_threshold_are_two_views_of_one_knob():
    by_q = _pred(keep_fraction=0.25)
    theta = float(threshold_for_fraction(0.25, 0.3, 4))
    by_theta = _pred(theta=theta)
    assert by_q.threshold == pytest.approx(theta, rel=1e-12)
    assert by_q.kept_fraction == pytest.approx(0.25, rel=1e-9)
    assert by_theta.err == pytest.approx(by_q.err, rel=1e-9)


def test_score_filters_default_to_the_untuned_threshold_zero():
    assert _pred("teacher").threshold == 0.0
    assert _pred("teacher").err == pytest.approx(_pred("teacher", theta=0.0).err)


def test_error_is_the_unfiltered_error_times_eta_F():
    # err_filtered / err_unfiltered = eta F * sqrt(P (n - 1) / (P n - 1)) exactly at first order
    n, eta = 10**7, 0.1
    p = predict_filtered(n, eta, 10, 8, 4, keep_fraction=0.3)
    u = predict_unfiltered(n, eta, 10, 8, 4, 1e4, 1e4)
    correction = math.sqrt(0.3 * (n - 1) / (0.3 * n - 1))
    assert p.err / u.err == pytest.approx(eta * p.rate_factor * correction, rel=1e-8)


def test_teacher_without_tilt_is_the_oracle_score_prediction():
    for method, pool in (("teacher", 20_000), ("teacher-split", 10_000)):
        p = _pred(method, gamma=1.0, gamma_t=1.0, keep_fraction=0.3, teacher_tilt=False)
        o = predict_filtered(pool, 0.3, 10, 8, 4, 1.0, 1.0, keep_fraction=0.3)
        assert p.err == pytest.approx(o.err, rel=1e-12)
        assert p.inheritance_x == 0.0


def test_teacher_tilt_is_negligible_at_high_snr_and_large_at_low_snr():
    hi = _pred("teacher", keep_fraction=0.3)
    assert hi.err / hi.err_oracle_filter - 1 < 1e-4
    lo = _pred("teacher", gamma=1.0, gamma_t=1.0, keep_fraction=0.3)
    assert lo.err / lo.err_oracle_filter > 1.4
    split = _pred("teacher-split", gamma=1.0, gamma_t=1.0, keep_fraction=0.3)
    assert 1.1 < split.err / split.err_oracle_filter < lo.err / lo.err_oracle_filter
    assert lo.teacher_err == pytest.approx(predict_unfiltered(20_000, 0.3, 10, 8, 4, 1, 1).err)
    assert lo.inheritance_x == pytest.approx(lo.inheritance_xt)  # gamma = gamma_t


@pytest.mark.slow
def test_inheritance_matches_the_boundary_moment_by_monte_carlo():
    # lambda_x = gamma^{-1} kappa_v / s with kappa_v = f(theta) E[v_1^2 | S = theta] / P(theta)
    gamma, theta, eta = 1.0, 2.0, 0.3
    p = predict_filtered(20_000, eta, 10, 8, 4, gamma, gamma, theta=theta, method="teacher-split")
    sig = sample_signal_coordinates(2_000_000, 4, gamma, gamma, eta, rng=11)
    score = sig.score
    h = 0.1
    band = np.abs(score - theta) < h
    kappa_mc = np.mean(sig.v[:, 0] ** 2 * band) / (2 * h) / np.mean(score > theta)
    assert p.inheritance_x * p.cross_moment * gamma == pytest.approx(kappa_mc, rel=0.05)


def test_stein_mechanism_kept_noise_correlates_with_the_teacher_tilt():
    # Filter on u^T v + b^T X v with a small tilt X: E[b v^T | kept] = gamma^{-1} kappa_v X.
    rng = np.random.default_rng(5)
    gamma, eta, theta = 1.0, 0.3, 1.5
    sig = sample_signal_coordinates(1_000_000, 4, gamma, gamma, eta, rng=rng)
    b = rng.standard_normal((sig.u.shape[0], 2)) / math.sqrt(gamma)
    X = np.array([[0.05, 0.0, 0.0, 0.0], [0.0, 0.0, -0.05, 0.0]])
    kept = sig.score + np.einsum("ij,jk,ik->i", b, X, sig.v) > theta
    observed = b[kept].T @ sig.v[kept] / kept.sum()
    p = predict_filtered(20_000, eta, 10, 8, 4, gamma, gamma, theta=theta, method="teacher-split")
    kappa = p.inheritance_x * p.cross_moment * gamma
    assert observed[0, 0] == pytest.approx(kappa * X[0, 0] / gamma, rel=0.15)
    assert observed[1, 2] == pytest.approx(kappa * X[1, 2] / gamma, rel=0.15)
    assert abs(observed[0, 1]) < 0.2 * abs(observed[0, 0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="bogus"), "method must be one of"),
        (dict(method="none", theta=0.0), "does not filter"),
        (dict(method="oracle-clean", keep_fraction=0.5), "does not filter"),
        (dict(theta=0.0, keep_fraction=0.5), "at most one"),
        (dict(keep_fraction=0.0), "keep_fraction"),
        (dict(keep_fraction=1.5), "keep_fraction"),
        (dict(theta=math.nan), "theta"),
        (dict(theta=1e6), "keeps no pairs"),
        (dict(keep_fraction=1e-5), "more than one kept pair"),
        (dict(eta=0.0), "eta"),
        (dict(gamma=-1.0), "gamma"),
        (dict(n=3), "n must"),
        (dict(method="teacher", teacher_tilt="yes"), "teacher_tilt"),
    ],
)
def test_predict_filtered_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _pred(**kwargs)


def test_split_teacher_needs_enough_pairs():
    with pytest.raises(ValueError, match="teacher"):
        predict_filtered(9, 0.9, 10, 8, 4, method="teacher-split", keep_fraction=1.0)


def test_infinite_snr_gives_zero_error_on_that_side():
    p = predict_filtered(20_000, 0.3, 10, 8, 4, math.inf, 1e4, keep_fraction=0.3, method="teacher")
    assert p.err_x == 0.0 and p.err == pytest.approx(p.err_xt)


# ---------------------------------------------------------------- first_order_factor
def test_factor_limits():
    assert first_order_factor(-60.0, 0.2, 4) == pytest.approx(1 / 0.2, rel=1e-6)
    km = kept_moments(1.0, 0.2, 4)
    expected = math.sqrt(km.second_moment_v / (1 + 1e-4)) / (
        km.cross_moment * math.sqrt(km.kept_fraction)
    )
    assert first_order_factor(1.0, 0.2, 4) == pytest.approx(expected, rel=1e-12)
    values = first_order_factor(np.array([0.0, 1.0, 2.0]), 0.2, 4)
    assert values.shape == (3,)
    assert first_order_factor(1.0, 0.2, 4, method="teacher") == pytest.approx(expected, rel=1e-4)


@given(theta=st.floats(-8.0, 15.0), r=st.integers(1, 8))
def test_without_corruption_and_noise_no_filter_helps(theta, r):
    # eta = 1, gamma = inf: A = E[z_1^2 1_K] = B, so F = 1/sqrt(A) >= 1 (Cauchy-Schwarz-free)
    assert first_order_factor(theta, 1.0, r, math.inf, math.inf) >= 1.0 - 1e-9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="none"), "method must be one of"),
        (dict(theta=math.inf), "theta"),
        (dict(eta=1.5), "eta"),
    ],
)
def test_factor_validation(kwargs, match):
    args = dict(theta=0.0, eta=0.3, r=4) | kwargs
    with pytest.raises(ValueError, match=match):
        first_order_factor(**args)


# ---------------------------------------------------------------------- optimum
def test_optimum_has_the_closed_form_for_r2_without_noise():
    # our derivation: as eta -> 0 the optimum solves theta^2 + 2 theta - 1 = 0
    opt = optimal_keep_fraction(1e-7, 2, math.inf, math.inf)
    assert isinstance(opt, OptimalKeepFraction)
    assert opt.threshold == pytest.approx(math.sqrt(2) - 1, abs=1e-4)
    assert opt.keep_fraction == pytest.approx(math.exp(1 - math.sqrt(2)) / 2, rel=1e-4)


@pytest.mark.slow
def test_optimum_beats_every_grid_threshold():
    opt = optimal_keep_fraction(0.3, 4)
    grid = np.linspace(-6.0, 12.0, 181)
    assert opt.factor <= np.min(first_order_factor(grid, 0.3, 4)) * (1 + 1e-9)
    assert opt.factor == pytest.approx(first_order_factor(opt.threshold, 0.3, 4), rel=1e-9)
    assert 0.3 < opt.keep_fraction < 0.6 and opt.gain < 0.6
    assert opt.gain == pytest.approx(0.3 * opt.factor)


def test_without_corruption_keeping_everything_is_best():
    opt = optimal_keep_fraction(1.0, 4)
    assert opt.keep_fraction == 1.0 and opt.threshold == -math.inf and opt.gain == 1.0


def test_grid_vertex_and_refined_optima_agree():
    etas = [1e-3, 0.1, 0.5]
    fine = optimal_keep_fractions(etas, 8)
    fast = optimal_keep_fractions(etas, 8, refine=False, points=96)
    np.testing.assert_allclose(fast.keep_fraction, fine.keep_fraction, atol=0.02)
    np.testing.assert_allclose(fast.factor, fine.factor, rtol=2e-3)
    assert list(fine.columns) == list(OptimalKeepFraction.__dataclass_fields__)


@pytest.mark.slow
def test_teacher_optimum_at_low_snr_differs_from_the_oracle():
    oracle = optimal_keep_fraction(0.3, 4, 1.0, 1.0)
    teacher = optimal_keep_fraction(0.3, 4, 1.0, 1.0, method="teacher")
    assert teacher.method == "teacher" and teacher.factor > oracle.factor
    same = optimal_keep_fraction(0.3, 4, method="teacher")
    assert same.keep_fraction == pytest.approx(
        optimal_keep_fraction(0.3, 4).keep_fraction, abs=1e-3
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="none"), "method must be one of"),
        (dict(q_min=0.0), "q_min"),
        (dict(points=3), "points"),
        (dict(xatol=0.0), "xatol"),
        (dict(r=0), "r must"),
    ],
)
def test_optimum_validation(kwargs, match):
    args = dict(etas=[0.3], r=4) | kwargs
    with pytest.raises(ValueError, match=match):
        optimal_keep_fractions(**args)


def test_phase_diagram_finds_the_switch_only_at_large_rank():
    pd_ = threshold_phase_diagram([1e-3, 0.3], [4, 64], points=64)
    assert isinstance(pd_, PhaseDiagram) and len(pd_.optima) == 4
    sw = pd_.switches.set_index("r")
    assert math.isnan(sw.loc[4, "eta_switch"])
    eta_sw = sw.loc[64, "eta_switch"]
    assert 3e-3 < eta_sw < 3e-2
    assert sw.loc[64, "keep_fraction_above"] == pytest.approx(eta_sw, rel=0.2)
    assert sw.loc[64, "keep_fraction_below"] > 0.15
    with pytest.raises(ValueError, match="at least one"):
        threshold_phase_diagram([], [4])


# ----------------------------------------------------------------- the teacher's error
def test_teacher_distortion_formula_and_validation():
    assert teacher_distortion(10_001, 0.5, 4, math.inf, math.inf) == pytest.approx(
        3 * (5 + 0.5) / (0.25 * 10_000)
    )
    assert teacher_distortion(1000, 0.3, 1) == 0.0
    with pytest.raises(ValueError, match="n_teacher"):
        teacher_distortion(1, 0.3, 4)


# ------------------------------------------------------------------------ simulation
def test_simulate_filtered_reproduces_run_grid_rows():
    model = BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=8.0, eta=0.6, basis_seed=3)
    sim = simulate_filtered(
        model,
        2000,
        keep_fractions=[0.3],
        thetas=[0.5],
        methods=["none", "teacher", "teacher-split", "oracle-score", "oracle-clean"],
        trials=2,
        seed=7,
    )
    specs = [
        MethodSpec("none"),
        MethodSpec("teacher", keep_fraction=0.3),
        MethodSpec("teacher-split", theta=0.5),
        MethodSpec("oracle-score", keep_fraction=0.3),
        MethodSpec("oracle-clean"),
    ]
    grid = run_grid(model, n=2000, eta=0.6, methods=specs, trials=2, seed=7)
    for row in grid.itertuples():
        knob = "theta" if not math.isnan(row.theta) else "keep_fraction"
        match = sim[(sim.method == row.method) & (sim.trial == row.trial)]
        if row.method in ("teacher", "teacher-split", "oracle-score"):
            match = match[np.isclose(match[knob], getattr(row, knob))]
        assert len(match) == 1
        assert match.err.iloc[0] == pytest.approx(row.err, rel=1e-10)
        assert match.n_kept.iloc[0] == row.n_kept
    teacher_rows = sim[sim.method.str.startswith("teacher")]
    assert teacher_rows.teacher_err.notna().all() and teacher_rows.teacher_distortion.gt(0).all()
    assert sim[sim.method == "oracle-score"].teacher_err.isna().all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="model"), "BimodalModel"),
        (dict(n=5), "n must"),
        (dict(methods=[]), "at least one"),
        (dict(methods=["bogus"]), "method"),
        (dict(keep_fractions=[]), "at least one keep fraction"),
        (dict(keep_fractions=[0.0]), "keep_fraction"),
        (dict(keep_fractions=[1e-4]), "keeps"),
        (dict(keep_fractions=[], thetas=[1e3]), "keeps"),
        (dict(trials=0), "trials"),
    ],
)
def test_simulate_filtered_validation(small_model, kwargs, match):
    args = (
        dict(model=small_model, n=500, keep_fractions=[0.5], methods=["oracle-score"], trials=1)
        | kwargs
    )
    model, n = args.pop("model"), args.pop("n")
    with pytest.raises(ValueError, match=match):
        simulate_filtered(model, n, **args)


# ------------------------------------------------------ prediction versus simulation
@pytest.mark.slow
def test_oracle_score_prediction_matches_simulation_in_the_paper_geometry():
    model = BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)
    cmp = compare_filtered(
        model, 20_000, [0.1, 0.3], [0.1, 0.5], methods=["oracle-score"], trials=16, seed=3
    )
    assert len(cmp) == 4
    assert cmp.ratio.between(0.93, 1.07).all(), cmp[["eta", "keep_fraction", "ratio"]]
    np.testing.assert_allclose(cmp.kept_clean_sim, cmp.kept_clean_pred, atol=0.02)


def test_teacher_tilt_correction_matches_simulation_at_low_snr():
    model = BimodalModel(d=10, d_t=8, r=4, gamma=1.0, gamma_t=1.0)
    cmp = compare_filtered(
        model, 20_000, [0.3], [0.3], methods=["teacher", "teacher-split"], trials=16, seed=4
    )
    assert cmp.ratio.between(0.9, 1.1).all(), cmp[["method", "ratio", "ratio_oracle_filter"]]
    assert (cmp.ratio_oracle_filter > 1.15).all()
    np.testing.assert_allclose(cmp.teacher_err_sim, cmp.teacher_err_pred, rtol=0.1)
    np.testing.assert_allclose(cmp.teacher_distortion_sim, cmp.teacher_distortion_pred, rtol=0.2)


def test_baselines_match_simulation():
    model = BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)
    cmp = compare_filtered(
        model, 20_000, [0.3], [0.5], methods=["none", "oracle-clean"], trials=16, seed=5
    )
    assert cmp.keep_fraction.isna().all()
    assert cmp.ratio.between(0.93, 1.07).all(), cmp[["method", "ratio"]]


def test_fast_threshold_inversion_matches_score_law():
    from linclip.prediction import _threshold_for_fraction

    for eta, q, gamma in [(0.3, 0.25, 1e4), (0.01, 0.9, 1.0), (1.0, 0.001, math.inf)]:
        assert _threshold_for_fraction(q, eta, 4, gamma, gamma) == pytest.approx(
            float(threshold_for_fraction(q, eta, 4, gamma, gamma)), rel=1e-9, abs=1e-9
        )


@pytest.mark.parametrize("method", ["teacher", "teacher-split"])
def test_teacher_factor_is_the_large_n_error_ratio(method):
    # with d = d_t and gamma = gamma_t both sides agree; at large n the -1's do not matter
    n, eta, theta = 10**8, 0.3, 1.5
    p = predict_filtered(n, eta, 8, 8, 4, 1.0, 1.0, theta=theta, method=method)
    u = predict_unfiltered(p.n_pool, eta, 8, 8, 4, 1.0, 1.0)
    assert p.err_x_sq / u.err_x_sq == pytest.approx(
        (eta * first_order_factor(theta, eta, 4, 1.0, 1.0, method=method)) ** 2, rel=1e-4
    )
