"""Tests of linclip.score_law: exact law of the oracle score, tails, filtered moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from linclip.score_law import (
    ClosedFormLaw,
    KeptMoments,
    ScoreLaw,
    conditional_mean,
    cross_moment,
    even_r_closed_form,
    kept_clean_fraction,
    kept_moments,
    mixture_density,
    mixture_tail,
    rate_factor_crossing,
    sample_signal_coordinates,
    score_density,
    tail_probability,
    threshold_for_fraction,
)
from linclip.theory import score_moments


def _integrate_real_line(f, lo=-np.inf, hi=np.inf):
    """Integrate a density with a possible kink/singularity at 0."""
    left = integrate.quad(f, lo, 0.0, limit=200)[0] if lo < 0 else 0.0
    right = integrate.quad(f, 0.0, hi, limit=200)[0]
    return left + right


# ------------------------------------------------------------------------ parameters
def test_scales_match_identity_symbolically():
    """alpha = (sqrt(ab)+c)/2, beta = (sqrt(ab)-c)/2 reproduce uv = sqrt(ab)((1+rho)/2 X - (1-rho)/2 Y)."""
    a, b = sp.symbols("a b", positive=True)
    c = sp.symbols("c", nonnegative=True)
    rho = c / sp.sqrt(a * b)
    assert sp.simplify(sp.sqrt(a * b) * (1 + rho) / 2 - (sp.sqrt(a * b) + c) / 2) == 0
    assert sp.simplify(sp.sqrt(a * b) * (1 - rho) / 2 - (sp.sqrt(a * b) - c) / 2) == 0


def test_p_q_rotation_is_exact_and_decorrelates():
    u, v = sp.symbols("u v", real=True)
    a, b = sp.symbols("a b", positive=True)
    c = sp.symbols("c", nonnegative=True)
    p = u / sp.sqrt(a) + v / sp.sqrt(b)
    q = u / sp.sqrt(a) - v / sp.sqrt(b)
    assert sp.simplify(sp.sqrt(a * b) * (p**2 - q**2) / 4 - u * v) == 0
    # Covariances from the quadratic form with Cov(u,v) = [[a, c], [c, b]].
    cov = sp.Matrix([[a, c], [c, b]])
    wp = sp.Matrix([1 / sp.sqrt(a), 1 / sp.sqrt(b)])
    wq = sp.Matrix([1 / sp.sqrt(a), -1 / sp.sqrt(b)])
    rho = c / sp.sqrt(a * b)
    assert sp.simplify((wp.T * cov * wq)[0]) == 0
    assert sp.simplify((wp.T * cov * wp)[0] - 2 * (1 + rho)) == 0
    assert sp.simplify((wq.T * cov * wq)[0] - 2 * (1 - rho)) == 0


@pytest.mark.parametrize("clean", [True, False])
@pytest.mark.parametrize("gamma,gamma_t", [(1e4, 1e4), (2.0, 0.5), (math.inf, 3.0)])
def test_moments_agree_with_theory(clean, gamma, gamma_t):
    law = ScoreLaw(5, gamma, gamma_t, clean)
    mean, var = score_moments(5, gamma, gamma_t, clean)
    assert law.mean == pytest.approx(mean)
    assert law.variance == pytest.approx(var)
    # alpha X - beta Y: mean r(alpha - beta), variance 2r(alpha^2 + beta^2)
    assert law.r * (law.alpha - law.beta) == pytest.approx(mean)
    assert 2 * law.r * (law.alpha**2 + law.beta**2) == pytest.approx(var)


def test_noiseless_clean_law_is_degenerate_chi2():
    law = ScoreLaw(4, math.inf, math.inf, True)
    assert law.degenerate and law.beta == 0.0 and law.alpha == 1.0
    s = np.array([0.5, 2.0, 7.0])
    np.testing.assert_allclose(law.pdf(s), stats.chi2.pdf(s, 4), rtol=1e-12)
    np.testing.assert_allclose(law.tail(s), stats.chi2.sf(s, 4), rtol=1e-12)
    assert law.tail(-1.0) == 1.0


def test_beta_has_no_cancellation_at_high_snr():
    law = ScoreLaw(3, 1e12, 1e12, True)
    assert law.beta == pytest.approx(1e-12, rel=1e-6)


# ---------------------------------------------------------------------------- density
@pytest.mark.parametrize("r", [1, 2, 3, 16])
@pytest.mark.parametrize("clean", [True, False])
def test_density_integrates_to_one_with_right_moments(r, clean):
    law = ScoreLaw(r, 2.0, 5.0, clean)
    m0 = _integrate_real_line(law.pdf)
    m1 = _integrate_real_line(lambda s: s * law.pdf(s))
    m2 = _integrate_real_line(lambda s: s * s * law.pdf(s))
    assert m0 == pytest.approx(1.0, abs=1e-8)
    assert m1 == pytest.approx(law.mean, abs=1e-7)
    assert m2 - m1**2 == pytest.approx(law.variance, rel=1e-7)


def test_density_at_zero_is_the_limit():
    law = ScoreLaw(4, 3.0, 3.0, False)
    assert law.pdf(0.0) == pytest.approx(law.pdf(1e-9), rel=1e-6)
    assert ScoreLaw(1, 3.0, 3.0, False).pdf(0.0) == math.inf


def test_density_converges_to_degenerate_law():
    s = np.array([0.3, 2.0, 9.0])
    near = ScoreLaw(4, 1e12, 1e12, True).pdf(s)
    np.testing.assert_allclose(near, stats.chi2.pdf(s, 4), rtol=1e-6)
    assert np.all(np.isfinite(ScoreLaw(4, 1e12, 1e12, True).pdf(np.array([-1e-3, 1e3]))))


def test_density_matches_histogram():
    law = ScoreLaw(3, 4.0, 4.0, False)
    draws = law.sample(400_000, 1)
    counts, edges = np.histogram(draws, bins=40, range=(-6, 6))
    mid = (edges[1:] + edges[:-1]) / 2
    width = edges[1] - edges[0]
    expected = law.pdf(mid) * width * draws.size
    # Poisson errors; mid-point rule error is tiny at this bin width except near 0.
    away = np.abs(mid) > 0.5
    z = (counts[away] - expected[away]) / np.sqrt(expected[away])
    assert np.max(np.abs(z)) < 5


def test_mixture_density_is_the_weighted_sum():
    s = np.linspace(-3, 10, 7)
    want = 0.3 * score_density(s, 4, 10.0, 10.0, True) + 0.7 * score_density(
        s, 4, 10.0, 10.0, False
    )
    np.testing.assert_allclose(mixture_density(s, 0.3, 4, 10.0, 10.0), want)


# ------------------------------------------------------------------- tails vs Monte Carlo
@pytest.mark.parametrize(
    "r,gamma,gamma_t", [(1, 1e4, 1e4), (4, 1e4, 1e4), (4, 1.5, 0.7), (16, 1e4, 1e4)]
)
@pytest.mark.parametrize("clean", [True, False])
def test_tail_and_conditional_mean_vs_monte_carlo(r, gamma, gamma_t, clean):
    law = ScoreLaw(r, gamma, gamma_t, clean)
    draws = law.sample(400_000, 7)
    for theta in (-r / 2, 0.0, r / 2, float(r)):
        kept = draws > theta
        p_hat = kept.mean()
        se_p = math.sqrt(max(p_hat * (1 - p_hat), 1e-12) / draws.size)
        assert law.tail(theta) == pytest.approx(p_hat, abs=5 * se_p + 1e-12)
        if kept.sum() > 1000:
            se_m = draws[kept].std() / math.sqrt(kept.sum())
            assert law.conditional_mean(theta) == pytest.approx(draws[kept].mean(), abs=5 * se_m)


def test_tail_endpoints_and_monotonicity():
    law = ScoreLaw(6, 3.0, 3.0, False)
    thetas = np.linspace(-30, 30, 25)
    tails = law.tail(thetas)
    assert np.all(np.diff(tails) <= 1e-15)
    assert tails[0] == pytest.approx(1.0, abs=1e-8) and tails[-1] < 1e-6
    assert law.tail(0.0) == pytest.approx(0.5, abs=1e-12)  # D_0 is symmetric
    # E[S | S > 0] = E|S| for the symmetric corrupted law
    draws = law.sample(200_000, 3)
    assert law.conditional_mean(0.0) == pytest.approx(np.abs(draws).mean(), rel=0.01)


def test_conditional_mean_is_nan_where_tail_underflows():
    law = ScoreLaw(2, 1e4, 1e4, False)
    with np.errstate(all="raise"):
        assert math.isnan(law.conditional_mean(5000.0))


def test_module_functions_wrap_the_class():
    law = ScoreLaw(4, 7.0, 9.0, False)
    assert tail_probability(1.0, 4, 7.0, 9.0, False) == law.tail(1.0)
    assert conditional_mean(1.0, 4, 7.0, 9.0, False) == law.conditional_mean(1.0)


# ------------------------------------------------------------------ even-r closed forms
@pytest.mark.parametrize("r", [2, 4, 8])
def test_even_r_closed_form_matches_numeric(r):
    cf = even_r_closed_form(r)
    assert isinstance(cf, ClosedFormLaw)
    for clean, gamma in [(True, 3.0), (False, 3.0), (True, 1e4), (False, 1e4)]:
        law = ScoreLaw(r, gamma, gamma, clean)
        s = np.array([-4.0, -0.7, 0.3, 2.5, 9.0])
        np.testing.assert_allclose(
            cf.numeric("density", law.alpha, law.beta)(s[2:]), law.pdf(s[2:]), rtol=1e-9
        )
        if not clean or gamma < 100:  # negative side underflows for a tiny beta
            np.testing.assert_allclose(
                cf.numeric("density", law.alpha, law.beta)(s[:2]), law.pdf(s[:2]), rtol=1e-9
            )
        np.testing.assert_allclose(
            cf.numeric("tail", law.alpha, law.beta)(s), law.tail(s), rtol=1e-9, atol=1e-14
        )
        np.testing.assert_allclose(
            cf.numeric("conditional_mean", law.alpha, law.beta)(s),
            law.conditional_mean(s),
            rtol=1e-8,
        )


def test_even_r_closed_form_r2_is_asymmetric_laplace():
    cf = even_r_closed_form(2)
    al, be, s = cf.alpha, cf.beta, cf.s
    assert sp.simplify(cf.density_pos - sp.exp(-s / (2 * al)) / (2 * (al + be))) == 0
    assert sp.simplify(cf.density_neg - sp.exp(s / (2 * be)) / (2 * (al + be))) == 0
    total = sp.integrate(cf.density_pos, (s, 0, sp.oo)) + sp.integrate(
        cf.density_neg, (s, -sp.oo, 0)
    )
    assert sp.simplify(total - 1) == 0
    # tail and partial mean are continuous at theta = 0
    assert sp.simplify((cf.tail_pos - cf.tail_neg).subs(cf.theta, 0)) == 0
    assert sp.simplify((cf.partial_pos - cf.partial_neg).subs(cf.theta, 0)) == 0


def test_even_r_closed_form_normalised_exactly_at_rational_scales():
    cf = even_r_closed_form(6)
    vals = {cf.alpha: sp.Rational(3, 2), cf.beta: sp.Rational(1, 3)}
    assert (
        sp.simplify(
            cf.tail_pos.subs(cf.theta, 0).subs(vals)
            + (1 - cf.tail_neg).subs(cf.theta, 0).subs(vals)
            - 1
        )
        == 0
    )
    assert (
        sp.simplify(
            cf.partial_pos.subs(cf.theta, 0).subs(vals)
            - cf.partial_neg.subs(cf.theta, 0).subs(vals)
        )
        == 0
    )


def test_even_r_closed_form_validation():
    with pytest.raises(ValueError, match="even"):
        even_r_closed_form(3)
    with pytest.raises(ValueError, match="r must be"):
        even_r_closed_form(0)
    cf = even_r_closed_form(2)
    with pytest.raises(ValueError, match="which"):
        cf.numeric("cdf", 1.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        cf.numeric("tail", 1.0, 0.0)


# ---------------------------------------------------------------------- mixture moments
def test_kept_moments_reduce_to_population_without_filtering():
    km = kept_moments(-1e3, 0.3, 4, 4.0, 2.0)
    assert km.kept_fraction == pytest.approx(1.0)
    assert km.cross_moment == pytest.approx(0.3, rel=1e-8)  # E[u_i v_i] = eta
    assert km.second_moment_u == pytest.approx(1.25, rel=1e-8)  # a = 1 + 1/gamma
    assert km.second_moment_v == pytest.approx(1.5, rel=1e-8)
    assert km.kept_clean_fraction == pytest.approx(0.3)
    assert km.rate_factor == pytest.approx(1 / 0.3, rel=1e-8)


def test_kept_moments_broadcast_theta_and_eta():
    thetas = np.array([0.0, 1.0, 2.0])
    etas = np.array([[0.1], [0.5]])
    km = kept_moments(thetas, etas, 4)
    assert isinstance(km, KeptMoments)
    assert km.cross_moment.shape == (2, 3)
    np.testing.assert_allclose(km.kept_fraction[1], mixture_tail(thetas, 0.5, 4))
    np.testing.assert_allclose(km.cross_moment[0], cross_moment(thetas, 0.1, 4))
    np.testing.assert_allclose(km.kept_clean_fraction[0], kept_clean_fraction(thetas, 0.1, 4))


@pytest.mark.parametrize(
    "r,gamma,gamma_t,eta", [(4, 1e4, 1e4, 0.3), (3, 1.0, 4.0, 0.6), (16, 1e4, 1e4, 0.1)]
)
def test_kept_moments_vs_monte_carlo(r, gamma, gamma_t, eta):
    smp = sample_signal_coordinates(300_000, r, gamma, gamma_t, eta, rng=11)
    score = smp.score
    for theta in (0.0, r / 2):
        km = kept_moments(theta, eta, r, gamma, gamma_t)
        kept = score > theta
        n_kept = kept.sum()
        assert km.kept_fraction == pytest.approx(kept.mean(), abs=5 * math.sqrt(0.25 / score.size))
        assert km.kept_clean_fraction == pytest.approx(
            smp.clean[kept].mean(), abs=5 * math.sqrt(0.25 / n_kept)
        )
        uv = (smp.u[kept] * smp.v[kept]).mean(axis=1)
        u2 = (smp.u[kept] ** 2).mean(axis=1)
        v2 = (smp.v[kept] ** 2).mean(axis=1)
        for pred, obs in [
            (km.cross_moment, uv),
            (km.second_moment_u, u2),
            (km.second_moment_v, v2),
        ]:
            assert pred == pytest.approx(obs.mean(), abs=5 * obs.std() / math.sqrt(n_kept))


def test_second_moments_inflate_in_the_tail():
    km = kept_moments(np.array([0.0, 4.0, 8.0]), 1.0, 4, 1e4, 1e4)
    assert np.all(np.diff(km.second_moment_u) > 0)
    # u and v play symmetric roles at equal SNR
    np.testing.assert_allclose(km.second_moment_u, km.second_moment_v, rtol=1e-12)


def test_signal_sample_scores():
    smp = sample_signal_coordinates(10, 3, math.inf, math.inf, 1.0, rng=0)
    np.testing.assert_allclose(smp.u, smp.v)
    np.testing.assert_allclose(smp.score, (smp.u**2).sum(axis=1))
    assert smp.clean.all()


# ---------------------------------------------------------------- threshold for a fraction
@pytest.mark.parametrize("eta", [0.05, 0.3, 1.0])
def test_threshold_for_fraction_round_trip(eta):
    qs = np.array([0.01, 0.1, 0.3, 0.5, 0.9])
    thetas = threshold_for_fraction(qs, eta, 4)
    assert np.all(np.diff(thetas) < 0)
    np.testing.assert_allclose(mixture_tail(thetas, eta, 4), qs, rtol=1e-9)
    assert threshold_for_fraction(1.0, eta, 4) == -math.inf


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(q=st.floats(0.001, 0.999), eta=st.floats(0.01, 1.0), r=st.integers(1, 12))
def test_threshold_round_trip_property(q, eta, r):
    theta = threshold_for_fraction(q, eta, r, 1e4, 1e4)
    assert mixture_tail(theta, eta, r) == pytest.approx(q, rel=1e-7)


def test_threshold_for_fraction_vs_monte_carlo():
    smp = sample_signal_coordinates(200_000, 4, 1e4, 1e4, 0.3, rng=5)
    theta = threshold_for_fraction(0.3, 0.3, 4)
    assert np.mean(smp.score > theta) == pytest.approx(0.3, abs=0.005)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(r=0), "r must be"),
        (dict(r=2.5), "r must be"),
        (dict(r=2, gamma=0.0), "gamma"),
        (dict(r=2, gamma_t=-1.0), "gamma_t"),
        (dict(r=2, clean="yes"), "clean"),
    ],
)
def test_score_law_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScoreLaw(**kwargs)


def test_function_validation():
    with pytest.raises(ValueError, match="theta"):
        tail_probability(np.nan, 2)
    with pytest.raises(ValueError, match="eta"):
        kept_moments(0.0, 0.0, 2)
    with pytest.raises(ValueError, match="eta"):
        kept_moments(0.0, np.array([0.5, 1.5]), 2)
    with pytest.raises(ValueError, match="q"):
        threshold_for_fraction(0.0, 0.5, 2)
    with pytest.raises(ValueError, match="eta"):
        mixture_density(0.0, 2.0, 2)
    with pytest.raises(ValueError, match="n must be"):
        sample_signal_coordinates(-1, 2)
    with pytest.raises(ValueError, match="s must"):
        score_density(np.inf, 2)


# ------------------------------------------------------------------ regime crossing
def test_rate_factor_crossing_equalises_the_two_thresholds():
    eta = rate_factor_crossing(16)
    assert 1e-3 < eta < 0.1
    km = kept_moments(np.array([0.0, 8.0]), eta, 16)
    assert km.rate_factor[0] == pytest.approx(km.rate_factor[1], rel=1e-9)
    # below the crossing theta = 0 wins, above it theta = r/2 wins
    below, above = (
        kept_moments(np.array([0.0, 8.0]), eta / 3, 16),
        kept_moments(np.array([0.0, 8.0]), min(3 * eta, 1.0), 16),
    )
    assert below.rate_factor[0] < below.rate_factor[1]
    assert above.rate_factor[0] > above.rate_factor[1]


def test_rate_factor_crossing_scales_like_one_over_r():
    products = [rate_factor_crossing(r) * r for r in (32, 64, 128)]
    assert all(0.3 < p < 0.45 for p in products)


def test_rate_factor_crossing_absent_for_small_r():
    assert math.isnan(rate_factor_crossing(2))
    with pytest.raises(ValueError, match="eta_min"):
        rate_factor_crossing(4, eta_min=0.0)


def test_kappa_is_the_books_name_for_the_correlation():
    from linclip.theory.score_law import ScoreLaw as Law

    law = Law(4, 1.0, 3.0)
    assert law.kappa == law.rho == pytest.approx((2 * 4 / 3) ** -0.5)
    assert Law(4, 1.0, 3.0, clean=False).kappa == 0.0
