"""Tests for linclip.rates, including comparisons with simulation at fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linclip.experiments import run_grid, summarize
from linclip.learner import cross_covariance
from linclip.model import BimodalModel
from linclip.rates import (
    Breakdown,
    Rank1Sine,
    fit_rate,
    locate_breakdown,
    mean_sem,
    perturbation_anatomy,
    proposition1_anatomy,
    proposition1_instance,
    rank1_sine_decomposition,
    trial_pairs,
    wedin_chain_bound,
)
from linclip.theory import corollary1_rate, proposition1_rate, sample_size_condition


# ----------------------------------------------------------------------------------- fit_rate
@given(slope=st.floats(-3, 3), level=st.floats(-5, 5))
def test_fit_rate_recovers_exact_power_law(slope, level):
    x = np.geomspace(1e2, 1e6, 7)
    y = np.exp(level) * x**slope
    fit = fit_rate(x, y)
    assert fit.slope == pytest.approx(slope, abs=1e-9)
    weighted = fit_rate(x, y, y_sem=0.05 * y)
    assert weighted.slope == pytest.approx(slope, abs=1e-9)
    assert weighted.intercept == pytest.approx(level, abs=1e-7)


def test_fit_rate_window_and_weights():
    x = np.geomspace(1e-3, 1, 10)
    y = np.where(x >= 0.03, 0.01 / x, 0.3)  # 1/x line, flat below 0.03
    assert fit_rate(x, y, lo=0.03).slope == pytest.approx(-1.0, abs=1e-12)
    assert fit_rate(x, y).slope > -0.9  # the flat part bends the unrestricted fit
    # Weighted: with equal relative errors the uncertainty is the weighted one, inflated by
    # sqrt(chi2_red) when the points scatter more than their error bars.
    g = np.random.default_rng(0)
    noisy = 0.01 / x * np.exp(0.1 * g.standard_normal(x.size))
    tight = fit_rate(x, noisy, y_sem=0.001 * noisy)
    loose = fit_rate(x, noisy, y_sem=1.0 * noisy)
    assert tight.slope == pytest.approx(loose.slope, abs=1e-12)
    assert tight.slope_stderr == pytest.approx(fit_rate(x, noisy).slope_stderr, rel=1e-6)
    assert loose.slope_stderr > tight.slope_stderr


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lo=0.2), r"window .* holds 2 points"),
        (dict(y_sem=np.zeros(5)), r"y_sem must be positive"),
        (dict(y_sem=np.ones(3)), r"y_sem must have the shape"),
    ],
)
def test_fit_rate_rejects(kwargs, match):
    x = np.geomspace(0.01, 1, 5)
    with pytest.raises(ValueError, match=match):
        fit_rate(x, 1 / x, **kwargs)


def test_fit_rate_rejects_nonpositive():
    with pytest.raises(ValueError, match=r"positive and finite"):
        fit_rate([1, 2, 3], [1, -1, 1], y_sem=[1, 1, 1])
    with pytest.raises(ValueError, match=r"1-D of equal length"):
        fit_rate([1, 2, 3], [1, 2])


# ----------------------------------------------------------------------------------- mean_sem
def test_mean_sem_matches_pandas():
    import pandas as pd

    frame = pd.DataFrame(
        dict(g=[1, 1, 1, 2, 2], a=[1.0, 2.0, 3.0, 4.0, 6.0], b=[0.0, 0.0, 3.0, 1.0, 1.0])
    )
    out = mean_sem(frame, "g", ["a", "b"])
    assert list(out.columns) == ["g", "a_mean", "a_sem", "b_mean", "b_sem", "trials"]
    assert out.a_mean.tolist() == [2.0, 5.0] and out.trials.tolist() == [3, 2]
    assert out.a_sem[0] == pytest.approx(1.0 / math.sqrt(3))
    assert out.b_sem[1] == 0.0
    with pytest.raises(ValueError, match=r"no column\(s\) \['c'\]"):
        mean_sem(frame, "g", ["c"])


# --------------------------------------------------------------------------- locate_breakdown
def test_locate_breakdown_on_synthetic_curves():
    x = np.geomspace(1e-3, 1, 13)
    bd = locate_breakdown(x, np.minimum(0.01 / x, 0.5), slope=-1, fit_min=0.1)
    assert isinstance(bd, Breakdown)
    assert bd.direction == "below"
    # y/ref = 0.5 x / 0.01 = 1/1.25 at x = 0.016.
    assert bd.x_first_off < 0.016 < bd.x_last_on
    assert bd.x_break == pytest.approx(0.016, rel=0.05)
    np.testing.assert_allclose(bd.reference(x[x >= 0.1]), 0.01 / x[x >= 0.1])
    up = locate_breakdown(x, np.where(x < 0.02, 2.0, 1.0) * 0.01 / x, slope=-1, fit_min=0.1)
    assert up.direction == "above" and up.x_first_off < 0.02 <= up.x_last_on


def test_locate_breakdown_none_and_at_top():
    x = np.geomspace(0.01, 1, 5)
    none = locate_breakdown(x, 3 / x, slope=-1, fit_min=0.01)
    assert math.isnan(none.x_break) and none.direction == "" and none.x_last_on == 0.01
    top = locate_breakdown(x, np.where(x == 1, 10.0, 1 / x), slope=-1, fit_min=0.01, tol=0.1)
    assert top.x_break == 1.0 and math.isnan(top.x_last_on)


def test_locate_breakdown_rejects():
    with pytest.raises(ValueError, match=r"fit_min"):
        locate_breakdown([1, 2, 3], [1, 2, 3], slope=1, fit_min=10)
    with pytest.raises(ValueError, match=r"positive and finite"):
        locate_breakdown([1, 2, 3], [1, 0, 3], slope=1, fit_min=1)
    with pytest.raises(ValueError, match=r"^tol must be"):
        locate_breakdown([1, 2, 3], [1, 2, 3], slope=1, fit_min=1, tol=0)


# --------------------------------------------------------------------------- wedin_chain_bound
def test_wedin_chain_bound_values():
    assert wedin_chain_bound(0.1, 0.5, 4) == pytest.approx(2 * 0.1 / 0.4)
    assert wedin_chain_bound(0.5, 0.5, 4) == math.inf
    out = wedin_chain_bound(np.array([0.0, 0.25, 0.6]), 0.5, 1)
    np.testing.assert_allclose(out, [0.0, 1.0, np.inf])
    # Under Delta <= eta/2 the chain is at most 2 sqrt(r) Delta / eta.
    d = np.linspace(0, 0.25, 11)
    assert np.all(wedin_chain_bound(d, 0.5, 9) <= 2 * 3 * d / 0.5 + 1e-15)
    with pytest.raises(ValueError, match=r"delta must be >= 0"):
        wedin_chain_bound(-1.0, 0.5, 1)


# ------------------------------------------------------------------ anatomy vs. the simulator
@pytest.fixture
def paper_small() -> BimodalModel:
    return BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4, eta=0.3)


def test_trial_pairs_are_run_grid_pairs(paper_small):
    frame = run_grid(paper_small, n=500, eta=0.3, trials=3, seed=4)
    anat = perturbation_anatomy(paper_small, 500, 3, seed=4)
    np.testing.assert_allclose(anat.err.to_numpy(), frame.err.to_numpy(), rtol=1e-9)
    m, x, xt = trial_pairs(paper_small, 500, 0, seed=4)
    assert x.shape == (500, 10) and xt.shape == (500, 8)
    assert m.basis_seed != paper_small.basis_seed


def test_perturbation_anatomy_bounds_hold_and_order(paper_small):
    anat = perturbation_anatomy(paper_small, 4000, 6, seed=1)
    assert (anat.err <= anat.wedin_residual * (1 + 1e-9)).all()
    assert (anat.wedin_residual <= anat.wedin_apriori * (1 + 1e-9)).all()
    np.testing.assert_allclose(
        anat.wedin_apriori, wedin_chain_bound(anat.E_norm.to_numpy(), 0.3, 4)
    )
    # Concentration: ||E|| is of the order sqrt(max(d, d_t) kappa / n) (constant ~ 1)...
    assert 0.3 < (anat.E_norm / anat.conc_scale).mean() < 3
    # ...but at gamma = 1e4 the part of E that rotates the subspaces is far smaller.
    assert (anat.residual / anat.E_norm).max() < 0.1


def test_corollary1_slopes_and_looseness_at_fixed_seed(paper_small):
    """Simulation at fixed seeds: ERR ~ n^(-1/2), ~ 1/eta, and far below Corollary 1's shape."""
    s_n = summarize(run_grid(paper_small, n=[500, 2000, 8000, 32000], eta=0.3, trials=6, seed=2))
    fit_n = fit_rate(s_n.n, s_n.err_mean, y_sem=s_n.err_sem)
    assert fit_n.slope == pytest.approx(-0.5, abs=0.1)
    s_eta = summarize(run_grid(paper_small, n=8000, eta=[0.15, 0.3, 0.6, 1.0], trials=6, seed=2))
    fit_eta = fit_rate(s_eta.eta, s_eta.err_mean, y_sem=s_eta.err_sem)
    assert fit_eta.slope == pytest.approx(-1.0, abs=0.15)
    cor1 = corollary1_rate(s_eta.n, s_eta.eta, 10, 8, 4, 1e4, 1e4)
    ratio = cor1 / s_eta.err_mean
    assert (ratio > 50).all() and (ratio < 300).all()


def test_breakdown_lands_near_the_sample_size_condition():
    """At gamma = 1 the 1/eta line is left within a factor 3 of eta_c = sqrt(D kappa / n)."""
    m = BimodalModel(d=10, d_t=8, r=4, gamma=1.0, gamma_t=1.0)
    etas = np.geomspace(1, 3e-3, 9)
    s = summarize(run_grid(m, n=5000, eta=etas, trials=4, seed=0))
    eta_c = math.sqrt(sample_size_condition(10, 8, 1.0, 1.0, 1.0) / 5000)
    bd = locate_breakdown(s.eta, s.err_mean, slope=-1, fit_min=0.3)
    assert bd.direction == "below"
    assert eta_c / 3 < bd.x_break < 3 * eta_c


# ------------------------------------------------------------------------------ Proposition 1
def test_proposition1_instance():
    m = proposition1_instance(12, 2.0, 0.4)
    assert (m.r, m.d, m.d_t, m.gamma, m.eta) == (1, 12, 1, 2.0, 0.4)
    assert math.isinf(m.gamma_t) and m.U.shape == (12, 1)
    assert proposition1_instance(12, 2.0, 0.4, d_t=5).U_t.shape == (5, 1)
    with pytest.raises(ValueError, match=r"^d must be an integer >= 2"):
        proposition1_instance(1, 2.0, 0.4)
    with pytest.raises(ValueError, match=r"^gamma must be positive and finite"):
        proposition1_instance(5, math.inf, 0.4)
    with pytest.raises(ValueError, match=r"eta \(clean fraction\) must be a probability"):
        proposition1_instance(5, 1.0, 0.0)


def test_rank1_sine_decomposition_exact_example():
    u, u_t = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0])
    S = np.outer([0.3, 0.04, 0.0], u_t)
    dec = rank1_sine_decomposition(S, u, u_t)
    assert isinstance(dec, Rank1Sine)
    assert (dec.along, dec.orthogonal) == pytest.approx((0.3, 0.04))
    assert dec.norm == pytest.approx(math.hypot(0.3, 0.04))
    assert dec.sine == pytest.approx(0.04 / math.hypot(0.3, 0.04))


def test_rank1_sine_decomposition_rejects():
    u, u_t = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    with pytest.raises(ValueError, match=r"not of the form"):
        rank1_sine_decomposition(np.eye(2), u, u_t)
    with pytest.raises(ValueError, match=r"u must be a unit vector"):
        rank1_sine_decomposition(np.zeros((2, 2)), 2 * u, u_t)
    with pytest.raises(ValueError, match=r"S must have shape"):
        rank1_sine_decomposition(np.zeros((3, 2)), u, u_t)


def test_proposition1_sine_equals_learner_error():
    m = proposition1_instance(8, 1.0, 0.5, d_t=3)
    anat = proposition1_anatomy(m, 3000, 4, seed=9)
    frame = run_grid(m, n=3000, eta=0.5, trials=4, seed=9)
    np.testing.assert_allclose(anat.err.to_numpy(), frame.err.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(anat.err, anat.orthogonal / anat.norm, rtol=1e-12)
    m_, x, xt = trial_pairs(m, 3000, 0, seed=9)
    S = cross_covariance(x, xt)
    assert np.linalg.matrix_rank(S, tol=1e-10 * np.linalg.norm(S)) == 1


def test_proposition1_lower_bound_constant_at_fixed_seed():
    """Inside n >= 4 d / (gamma eta^2), ERR eta sqrt(n) / sqrt(d / gamma) stays near sqrt((d-1)/d)."""
    d, gamma = 16, 1.0
    for eta, n in [(0.2, 4000), (0.5, 2000), (1.0, 8000)]:
        assert n >= 4 * d / (gamma * eta**2)
        anat = proposition1_anatomy(proposition1_instance(d, gamma, eta), n, 12, seed=3)
        assert 0.7 < anat.err_scaled.mean() < 1.1
        assert anat.err_scaled.min() > 0.35
        assert (anat.norm_over_eta < 2).all()
        ratio = anat.err / proposition1_rate(n, eta, d, 1, gamma, math.inf)
        np.testing.assert_allclose(ratio, anat.err_scaled, rtol=1e-12)


def test_proposition1_anatomy_rejects_other_models(paper_small):
    with pytest.raises(ValueError, match=r"needs r = 1 and gamma_t = inf"):
        proposition1_anatomy(paper_small, 100, 1)
