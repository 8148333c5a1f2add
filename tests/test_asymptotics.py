"""Tests of linclip.asymptotics: the chi law, the first-order prediction, the exact sampler,
and prediction versus simulation (the pair-level learner and the fast sampler)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from linclip import BimodalModel, cross_covariance, run_grid
from linclip.asymptotics import (
    ChiLaw,
    compare_unfiltered,
    expected_max,
    first_order_sin_theta_sq,
    predict_unfiltered,
    sample_cross_covariance,
    simulate_unfiltered_errors,
)
from linclip.theory import corollary1_rate, sample_size_condition


def _complement(U: np.ndarray) -> np.ndarray:
    return np.linalg.svd(U, full_matrices=True)[0][:, U.shape[1] :]


# ------------------------------------------------------------------------------ ChiLaw
@settings(max_examples=60, deadline=None)
@given(dof=st.integers(1, 300), scale=st.floats(1e-12, 1e3))
def test_chi_law_moments(dof, scale):
    law = ChiLaw(dof, scale)
    assert law.mean_sq == pytest.approx(dof * scale, rel=1e-12)
    assert law.moment(2) == pytest.approx(law.mean_sq, rel=1e-10)
    assert law.mean == pytest.approx(math.sqrt(scale) * stats.chi.mean(dof), rel=1e-9)
    assert law.mean <= math.sqrt(law.mean_sq) * (1 + 1e-12)  # Jensen
    assert law.std**2 == pytest.approx(law.mean_sq - law.mean**2, rel=1e-6, abs=1e-300)


def test_chi_law_distribution_functions():
    law = ChiLaw(24, 2.5e-7)
    t = np.linspace(0, 5e-3, 11)
    np.testing.assert_allclose(law.cdf(t) + law.sf(t), 1.0, atol=1e-14)
    assert np.all(np.diff(law.cdf(t)) >= 0)
    q = law.quantile(0.3)
    assert float(law.cdf(q)) == pytest.approx(0.3, rel=1e-9)
    draws = law.sample(200_000, rng=0)
    assert draws.mean() == pytest.approx(law.mean, rel=5e-3)
    assert (draws**2).mean() == pytest.approx(law.mean_sq, rel=1e-2)


@pytest.mark.parametrize("law", [ChiLaw(0, 1.0), ChiLaw(5, 0.0)])
def test_chi_law_degenerate_is_point_mass_at_zero(law):
    assert law.is_degenerate
    assert law.mean == 0.0 and law.mean_sq == 0.0 and law.std == 0.0
    assert float(law.cdf(0.0)) == 1.0 and float(law.sf(0.0)) == 0.0
    assert np.all(law.sample(5, rng=1) == 0)
    assert law.quantile(0.9) == 0.0


@pytest.mark.parametrize(
    "dof, scale, match",
    [
        (-1, 1.0, "dof"),
        (2.5, 1.0, "dof"),
        (3, -1.0, "scale"),
        (3, math.nan, "scale"),
        (3, math.inf, "scale"),
        (3, True, "scale"),
    ],
)
def test_chi_law_validation(dof, scale, match):
    with pytest.raises(ValueError, match=match):
        ChiLaw(dof, scale)


def test_chi_law_method_validation():
    law = ChiLaw(3, 1.0)
    with pytest.raises(ValueError, match="q must be"):
        law.quantile(1.0)
    with pytest.raises(ValueError, match="p must be"):
        law.moment(0)


# ------------------------------------------------------------ first_order_sin_theta_sq
def test_first_order_formula():
    law = first_order_sin_theta_sq(
        n_eff=101,
        ambient_dim=10,
        r=4,
        noise_var=0.5,
        partner_second_moment=2.0,
        signal_cross_moment=0.25,
    )
    assert law.dof == 24
    assert law.scale == pytest.approx(0.5 * 2.0 / (0.25**2 * 100))
    assert law.mean_sq == pytest.approx(24 * 0.5 * 2.0 / (0.0625 * 100))


@settings(max_examples=50, deadline=None)
@given(
    n=st.floats(2.0, 1e8),
    D=st.integers(1, 60),
    r=st.integers(1, 10),
    sigma2=st.floats(1e-6, 10.0),
    m=st.floats(0.1, 10.0),
    s=st.floats(1e-3, 1.0),
    c=st.floats(1.5, 10.0),
)
def test_first_order_scaling_laws(n, D, r, sigma2, m, s, c):
    D = max(D, r)
    base = first_order_sin_theta_sq(n, D, r, sigma2, m, s)
    assert base.dof == r * (D - r)
    # proportional to the noise variance and the partner's moment, inversely to s^2 and n - 1
    assert first_order_sin_theta_sq(n, D, r, c * sigma2, m, s).scale == pytest.approx(
        c * base.scale
    )
    assert first_order_sin_theta_sq(n, D, r, sigma2, c * m, s).scale == pytest.approx(
        c * base.scale
    )
    assert first_order_sin_theta_sq(n, D, r, sigma2, m, c * s).scale == pytest.approx(
        base.scale / c**2
    )
    n2 = c * (n - 1) + 1
    assert first_order_sin_theta_sq(n2, D, r, sigma2, m, s).scale == pytest.approx(base.scale / c)


def test_first_order_noiseless_and_full_dimension_are_zero():
    assert first_order_sin_theta_sq(100, 10, 4, 0.0, 1.0, 0.3).is_degenerate
    assert first_order_sin_theta_sq(100, 4, 4, 1.0, 1.0, 0.3).is_degenerate


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_eff=1.0), "n_eff"),
        (dict(n_eff=math.nan), "n_eff"),
        (dict(n_eff=True), "n_eff"),
        (dict(ambient_dim=3), "ambient_dim"),
        (dict(r=0), "r must"),
        (dict(noise_var=-1e-3), "noise_var"),
        (dict(noise_var=math.inf), "noise_var"),
        (dict(partner_second_moment=0.0), "partner_second_moment"),
        (dict(signal_cross_moment=0.0), "signal_cross_moment"),
        (dict(signal_cross_moment=-0.1), "signal_cross_moment"),
    ],
)
def test_first_order_validation(kwargs, match):
    args = dict(
        n_eff=100,
        ambient_dim=10,
        r=4,
        noise_var=1.0,
        partner_second_moment=1.0,
        signal_cross_moment=0.3,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        first_order_sin_theta_sq(**args)


# -------------------------------------------------------------------------- expected_max
@pytest.mark.parametrize(
    "a, b",
    [
        (ChiLaw(24, 1e-6), ChiLaw(16, 1.2e-6)),
        (ChiLaw(1, 3.0), ChiLaw(1, 3.0)),
        (ChiLaw(2, 1e-9), ChiLaw(40, 1e-11)),
    ],
)
def test_expected_max_matches_monte_carlo(a, b):
    rng = np.random.default_rng(3)
    m = np.maximum(a.sample(400_000, rng), b.sample(400_000, rng))
    for power in (1.0, 2.0):
        mc = np.mean(m**power)
        se = np.std(m**power) / math.sqrt(m.size)
        assert abs(expected_max(a, b, power) - mc) < 5 * se


def test_expected_max_bounds_symmetry_and_homogeneity():
    a, b = ChiLaw(24, 2e-6), ChiLaw(16, 3e-6)
    e1 = expected_max(a, b)
    assert e1 == pytest.approx(expected_max(b, a), rel=1e-9)
    assert max(a.mean, b.mean) <= e1 <= a.mean + b.mean
    e2 = expected_max(a, b, 2.0)
    assert max(a.mean_sq, b.mean_sq) <= e2 <= a.mean_sq + b.mean_sq
    assert e1**2 <= e2
    c = 1e-8
    assert expected_max(ChiLaw(24, c * a.scale), ChiLaw(16, c * b.scale)) == pytest.approx(
        math.sqrt(c) * e1, rel=1e-8
    )


def test_expected_max_with_a_degenerate_side():
    a = ChiLaw(16, 1e-6)
    assert expected_max(ChiLaw(24, 0.0), a) == pytest.approx(a.mean, rel=1e-12)
    assert expected_max(a, ChiLaw(0, 1.0), 2.0) == pytest.approx(a.mean_sq, rel=1e-12)
    assert expected_max(ChiLaw(0, 1.0), ChiLaw(3, 0.0)) == 0.0


def test_expected_max_validation():
    with pytest.raises(ValueError, match="law_a must be a ChiLaw"):
        expected_max(1.0, ChiLaw(1, 1.0))
    with pytest.raises(ValueError, match="power"):
        expected_max(ChiLaw(1, 1.0), ChiLaw(1, 1.0), power=0.0)


# ---------------------------------------------------------------------- predict_unfiltered
def test_predict_unfiltered_closed_forms():
    n, eta, d, d_t, r, g, gt = 20_000, 0.3, 10, 8, 4, 1e4, 1e4
    p = predict_unfiltered(n, eta, d, d_t, r, g, gt)
    assert p.err_x_sq == pytest.approx(r * (d - r) / g * (1 + 1 / gt) / (eta**2 * (n - 1)))
    assert p.err_xt_sq == pytest.approx(r * (d_t - r) / gt * (1 + 1 / g) / (eta**2 * (n - 1)))
    assert math.sqrt(p.err_x_sq) == pytest.approx(1.1547e-3, rel=1e-4)  # root mean square
    assert p.err_x == pytest.approx(1.1428e-3, rel=1e-4)  # chi mean: slightly below (Jensen)
    assert p.err_x == pytest.approx(p.law_x.mean) and p.err_xt == pytest.approx(p.law_xt.mean)
    assert max(p.err_x, p.err_xt) <= p.err <= math.sqrt(p.err_sq)
    assert p.n_condition == pytest.approx(sample_size_condition(d, d_t, g, gt, eta))
    assert p.n_over_condition == pytest.approx(n / p.n_condition)
    assert p.perturbation_to_gap == pytest.approx(math.sqrt(p.n_condition / n))


def test_predict_unfiltered_is_symmetric_in_the_modalities():
    p = predict_unfiltered(5000, 0.4, 12, 7, 3, 2.0, 5.0)
    q = predict_unfiltered(5000, 0.4, 7, 12, 3, 5.0, 2.0)
    assert (p.err_x, p.err_xt) == pytest.approx((q.err_xt, q.err_x))
    assert p.err == pytest.approx(q.err, rel=1e-8)


@pytest.mark.parametrize("gamma, gamma_t", [(1.0, 1.0), (1e4, 1e4), (3.0, 100.0)])
def test_prediction_versus_corollary1_shape(gamma, gamma_t):
    n, eta, d, d_t, r = 1000, 0.3, 10, 8, 4
    p = predict_unfiltered(n, eta, d, d_t, r, gamma, gamma_t)
    bound_sq = corollary1_rate(n, eta, d, d_t, r, gamma, gamma_t) ** 2
    assert p.err_x_sq / bound_sq == pytest.approx(
        (d - r) / (max(d, d_t) * (1 + gamma)) * n / (n - 1)
    )


def test_noiseless_modalities_predict_zero():
    p = predict_unfiltered(1000, 0.3, 10, 8, 4, math.inf, 1e4)
    assert p.err_x == 0.0 and p.err_x_sq == 0.0
    assert p.err == pytest.approx(p.err_xt) and p.err_sq == pytest.approx(p.err_xt_sq)
    assert predict_unfiltered(1000, 0.3, 10, 8, 4, math.inf, math.inf).err == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=4), "n must"),
        (dict(n=100.5), "n must"),
        (dict(eta=0.0), "eta"),
        (dict(eta=1.2), "eta"),
        (dict(d=0), "d must"),
        (dict(d_t=2.0 + 0.5j), "d_t"),
        (dict(r=9), "r must"),
        (dict(gamma=0.0), "gamma"),
        (dict(gamma_t=-1.0), "gamma_t"),
        (dict(gamma=math.nan), "gamma"),
    ],
)
def test_predict_unfiltered_validation(kwargs, match):
    args = dict(n=1000, eta=0.3, d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        predict_unfiltered(**args)


# ---------------------------------------------------------------------- the exact sampler
@pytest.mark.parametrize("n", [3, 12, 500])
def test_sampler_reproduces_the_exact_noise_cross_moment(n):
    """E||U_perp^T S_n U~||_F^2 = r(d-r) gamma^-1 (1+gamma~^-1)/(n-1) holds exactly for every n."""
    model = BimodalModel(10, 8, 4, gamma=1.0, gamma_t=2.0, eta=0.3, basis_seed=1)
    S = sample_cross_covariance(model, n, rng=5, size=20_000)
    v = np.sum((_complement(model.U).T @ S @ model.U_t) ** 2, axis=(1, 2))
    exact = 4 * 6 * 1.0 * 1.5 / (n - 1)
    assert abs(v.mean() - exact) < 4 * v.std() / math.sqrt(v.size)
    mean_S = S.mean(axis=0)
    assert np.abs(mean_S - model.cross_covariance()).max() < 6 * S.std(axis=0).max() / math.sqrt(
        20_000
    )


@pytest.mark.slow
def test_sampler_matches_pair_level_fourth_moments():
    """The signal block's fluctuations (a mixture fourth moment) agree with real pairs at n = 12."""
    model = BimodalModel(6, 5, 2, gamma=1.0, gamma_t=2.0, eta=0.3, basis_seed=2)
    n, draws = 12, 6000
    fast = model.U.T @ sample_cross_covariance(model, n, rng=6, size=draws) @ model.U_t
    rng = np.random.default_rng(7)
    slow = np.array(
        [
            model.U.T @ cross_covariance(p.x, p.xt) @ model.U_t
            for p in (model.sample(n, rng) for _ in range(draws))
        ]
    )
    for i, j in [(0, 0), (0, 1)]:
        a, b = fast[:, i, j], slow[:, i, j]
        se = math.sqrt(a.var() / draws + b.var() / draws)
        assert abs(a.mean() - b.mean()) < 4 * se
        # variance comparison: 4 standard errors of the difference of sample variances
        se_var = math.sqrt(2 * (a.var() ** 2 + b.var() ** 2) / draws) * 2.0
        assert abs(a.var() - b.var()) < 4 * se_var


def test_sampler_shapes_and_validation():
    model = BimodalModel(10, 8, 4, eta=0.5)
    assert sample_cross_covariance(model, 50, rng=0).shape == (10, 8)
    assert sample_cross_covariance(model, 50, rng=0, size=3).shape == (3, 10, 8)
    np.testing.assert_array_equal(
        sample_cross_covariance(model, 50, rng=4), sample_cross_covariance(model, 50, rng=4)
    )
    with pytest.raises(ValueError, match="n must"):
        sample_cross_covariance(model, 1)
    with pytest.raises(ValueError, match="model must be a BimodalModel"):
        sample_cross_covariance("model", 10)
    with pytest.raises(ValueError, match="trials"):
        simulate_unfiltered_errors(model, 100, 0)
    with pytest.raises(ValueError, match="n must"):
        simulate_unfiltered_errors(model, 4, 10)


def test_fast_simulation_matches_the_pair_level_learner():
    model = BimodalModel(10, 8, 4, gamma=1.0, gamma_t=1.0)
    fast = simulate_unfiltered_errors(model.with_eta(0.5), 2000, 400, seed=1)
    slow = run_grid(model, n=2000, eta=0.5, trials=150, seed=1)
    for col in ("err", "err_x", "err_xt"):
        se = math.sqrt(fast[col].var() / len(fast) + slow[col].var() / len(slow))
        assert abs(fast[col].mean() - slow[col].mean()) < 4 * se


@pytest.mark.parametrize("gamma_t", [1e4, math.inf])
def test_noiseless_x_side_is_exactly_recovered(gamma_t):
    model = BimodalModel(10, 8, 4, gamma=math.inf, gamma_t=gamma_t, eta=0.3)
    fast = simulate_unfiltered_errors(model, 1000, 20, seed=2)
    slow = run_grid(model, n=1000, eta=0.3, trials=5, seed=2)
    assert fast.err_x.max() < 1e-12 and slow.err_x.max() < 1e-12
    if math.isinf(gamma_t):
        assert fast.err.max() < 1e-12 and slow.err.max() < 1e-12
    else:
        assert fast.err_xt.min() > 1e-5


# ------------------------------------------------------ prediction versus simulation
@pytest.mark.parametrize("gamma, eta, n", [(1e4, 0.3, 20_000), (1.0, 0.5, 20_000)])
def test_prediction_matches_the_learner_far_past_the_condition(gamma, eta, n):
    """Mean ERR of 40 trials of the real (pair-level) learner within 6% of the prediction."""
    model = BimodalModel(10, 8, 4, gamma=gamma, gamma_t=gamma)
    p = predict_unfiltered(n, eta, 10, 8, 4, gamma, gamma)
    assert p.n_over_condition > 100
    frame = run_grid(model, n=n, eta=eta, trials=40, seed=11)
    assert frame.err.mean() / p.err == pytest.approx(1.0, abs=0.06)
    assert np.mean(frame.err**2) / p.err_sq == pytest.approx(1.0, abs=0.12)
    assert frame.err_x.mean() / p.err_x == pytest.approx(1.0, abs=0.07)
    assert frame.err_xt.mean() / p.err_xt == pytest.approx(1.0, abs=0.08)


def test_prediction_matches_at_paper_scale():
    """n = 10^7 (the paper's Figure 3a scale), 1000 exact draws: within 2%."""
    model = BimodalModel(10, 8, 4, gamma=1e4, gamma_t=1e4, eta=0.1)
    sim = simulate_unfiltered_errors(model, 10**7, 1000, seed=3)
    p = predict_unfiltered(10**7, 0.1, 10, 8, 4, 1e4, 1e4)
    assert sim.err.mean() / p.err == pytest.approx(1.0, abs=0.02)
    assert np.mean(sim.err**2) / p.err_sq == pytest.approx(1.0, abs=0.04)
    # the two sides are (asymptotically) independent
    assert abs(np.corrcoef(sim.err_x, sim.err_xt)[0, 1]) < 0.1


def test_prediction_fails_in_opposite_directions_below_the_condition():
    """High SNR: the error is underpredicted near the condition; low SNR: overpredicted."""
    for gamma, expect_above in [(1e4, True), (1.0, False)]:
        p = predict_unfiltered(100, 0.3, 10, 8, 4, gamma, gamma)
        n = int(round(p.n_condition))
        model = BimodalModel(10, 8, 4, gamma=gamma, gamma_t=gamma, eta=0.3)
        ratio = (
            simulate_unfiltered_errors(model, n, 400, seed=4).err.mean()
            / predict_unfiltered(n, 0.3, 10, 8, 4, gamma, gamma).err
        )
        assert (ratio > 1.5) if expect_above else (ratio < 0.97)


def test_compare_unfiltered_table():
    model = BimodalModel(10, 8, 4, gamma=1.0, gamma_t=1.0, eta=0.5)
    table = compare_unfiltered(model, [2000, 20_000], trials=300, seed=5)
    assert list(table.n) == [2000, 20_000]
    p = predict_unfiltered(20_000, 0.5, 10, 8, 4, 1.0, 1.0)
    row = table.iloc[1]
    assert row.err_pred == pytest.approx(p.err) and row.err_sq_pred == pytest.approx(p.err_sq)
    assert row.n_over_condition == pytest.approx(p.n_over_condition)
    assert row.ratio == pytest.approx(row.err_sim / row.err_pred)
    assert np.all(np.abs(table.ratio - 1) < 0.05)
    assert np.all(table.err_sem > 0) and np.all(table.err_sim >= table.err_x_sim)
    with pytest.raises(ValueError, match="model must be a BimodalModel"):
        compare_unfiltered(None, 100, 3)
