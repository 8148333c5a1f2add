"""Tests for linclip.theory: score moments (vs Monte Carlo) and the shapes of the bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linclip.filters import bilinear_score, oracle_score_matrix
from linclip.model import BimodalModel
from linclip.theory import (
    corollary1_rate,
    proposition1_rate,
    sample_size_condition,
    score_moments,
    snr_factor,
    theorem1_rate,
)

DIMS = dict(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)


def test_snr_factor():
    assert snr_factor(4.0, 10.0) == pytest.approx(1.25 * 1.1)
    assert snr_factor(math.inf, math.inf) == 1.0
    assert snr_factor(1.0, 1.0) == 4.0
    for bad in [(0.0, 1.0), (1.0, -2.0), (float("nan"), 1.0)]:
        with pytest.raises(ValueError, match="^gamma"):
            snr_factor(*bad)


@pytest.mark.parametrize("clean", [True, False])
def test_score_moments_match_monte_carlo(clean):
    # Oracle scores x^T U U~^T x~ of 200k pairs with visible noise (gamma = 2, gamma~ = 3),
    # split by the hidden label. The sample mean has SE sqrt(var/m); the sample variance has
    # SE sqrt((mu4 - var^2)/m), estimated from the data. 5 SE bounds (fixed seed).
    m = BimodalModel(d=6, d_t=5, r=3, gamma=2.0, gamma_t=3.0, eta=0.5, basis_seed=2)
    s = m.sample(200_000, rng=7)
    scores = bilinear_score(s.x, s.xt, oracle_score_matrix(m.U, m.U_t))[s.clean == clean]
    mean, var = score_moments(3, 2.0, 3.0, clean)
    k = scores.size
    se_mean = math.sqrt(var / k)
    centred = scores - scores.mean()
    se_var = math.sqrt((np.mean(centred**4) - np.var(centred) ** 2) / k)
    assert abs(scores.mean() - mean) < 5 * se_mean
    assert abs(scores.var(ddof=1) - var) < 5 * se_var
    # the formulas themselves: r (1+1/2)(1+1/3) = 6 for D_0, plus r for D_1
    assert (mean, var) == ((3.0, 9.0) if clean else (0.0, 6.0))


def test_score_moments_noiseless_and_errors():
    assert score_moments(5, math.inf, math.inf, True) == (5.0, 10.0)
    assert score_moments(5, math.inf, math.inf, False) == (0.0, 5.0)
    with pytest.raises(ValueError, match="^r "):
        score_moments(0, 1.0, 1.0, True)
    with pytest.raises(ValueError, match="^gamma_t "):
        score_moments(2, 1.0, 0.0, True)


def test_sample_size_condition():
    assert sample_size_condition(10, 8, 1.0, 1.0, 0.5) == pytest.approx(10 * 4 / 0.25)
    assert sample_size_condition(3, 8, math.inf, math.inf, 1.0) == 8.0
    # scales as 1/eta^2
    ratio = sample_size_condition(10, 8, 1e4, 1e4, 0.1) / sample_size_condition(
        10, 8, 1e4, 1e4, 0.2
    )
    assert ratio == pytest.approx(4.0)
    with pytest.raises(ValueError, match="^eta "):
        sample_size_condition(10, 8, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="^d_t "):
        sample_size_condition(10, 2.5, 1.0, 1.0, 0.5)


@given(n=st.floats(10, 1e9), eta=st.floats(1e-4, 0.5))
def test_rate_exponents(n, eta):
    for rate in (
        lambda n, e: corollary1_rate(n, e, **DIMS),
        lambda n, e: proposition1_rate(n, e, 10, 8, 1e4, 1e4),
        lambda n, e: theorem1_rate(n, e, **DIMS),
    ):
        # every bound decays like n^(-1/2): doubling n divides it by sqrt(2)
        assert rate(2 * n, eta) == pytest.approx(rate(n, eta) / math.sqrt(2), rel=1e-12)
    # without filtering, halving eta doubles the error (1/eta)
    assert corollary1_rate(n, eta / 2, **DIMS) == pytest.approx(
        2 * corollary1_rate(n, eta, **DIMS), rel=1e-12
    )
    assert proposition1_rate(n, eta / 2, 10, 8, 1e4, 1e4) == pytest.approx(
        2 * proposition1_rate(n, eta, 10, 8, 1e4, 1e4), rel=1e-12
    )
    # with filtering it is never worse than without
    assert theorem1_rate(n, eta, **DIMS) <= corollary1_rate(n, eta, **DIMS) * (1 + 1e-12)


def test_rate_values():
    # corollary 1: (1/eta) sqrt(r max(d, d~) snr / n)
    assert corollary1_rate(1000, 0.5, 10, 8, 4, 1.0, 1.0) == pytest.approx(
        2 * math.sqrt(4 * 10 * 4 / 1000)
    )
    assert corollary1_rate(1000, 1.0, 3, 8, 4, math.inf, math.inf) == pytest.approx(
        math.sqrt(32 / 1000)
    )
    # proposition 1 uses max(d/gamma, d~/gamma~) and vanishes without noise
    assert proposition1_rate(100, 1.0, 10, 8, 10.0, 2.0) == pytest.approx(math.sqrt(4 / 100))
    assert proposition1_rate(100, 0.3, 10, 8, math.inf, math.inf) == 0.0


def test_theorem1_switches_regime_at_one_over_r_squared():
    r = 4
    switch = 1 / r**2
    base = math.sqrt(r * 10 * snr_factor(1e4, 1e4) / 5000)
    # large eta: 1/sqrt(eta) regime (halving eta multiplies by sqrt 2)
    for eta in [0.1, 0.5, 1.0]:
        assert theorem1_rate(5000, eta, **DIMS) == pytest.approx(base / math.sqrt(eta))
    assert theorem1_rate(5000, 0.1, **DIMS) / theorem1_rate(5000, 0.2, **DIMS) == pytest.approx(
        math.sqrt(2)
    )
    # small eta: flat at r * base
    for eta in [1e-3, 1e-2, 0.5 * switch, switch]:
        assert theorem1_rate(5000, eta, **DIMS) == pytest.approx(r * base)
    # continuous at the switch, and strictly in the 1/sqrt(eta) regime just above it
    assert theorem1_rate(5000, 1.01 * switch, **DIMS) < r * base
    assert theorem1_rate(5000, 1.01 * switch, **DIMS) == pytest.approx(r * base, rel=0.01)


def test_rates_broadcast():
    n = np.array([1e3, 1e4, 1e5])
    eta = np.array([[0.1], [1.0]])
    out = corollary1_rate(n, eta, **DIMS)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0] / out[1], 10.0)
    assert theorem1_rate(n, eta, **DIMS).shape == (2, 3)
    assert proposition1_rate(n, 0.5, 10, 8, 1e4, 1e4).shape == (3,)


@pytest.mark.parametrize(
    "n, eta",
    [
        (0, 0.5),
        (-5, 0.5),
        (100, 0.0),
        (100, 1.5),
        (float("nan"), 0.5),
        (100, float("nan")),
        ([100, 0], 0.5),
        (100, [0.5, 2.0]),
    ],
)
def test_rate_validation(n, eta):
    with pytest.raises(ValueError, match=r"n must be positive and eta in \(0, 1\]"):
        corollary1_rate(n, eta, **DIMS)
    with pytest.raises(ValueError, match=r"n must be positive and eta in \(0, 1\]"):
        proposition1_rate(n, eta, 10, 8, 1e4, 1e4)
    with pytest.raises(ValueError, match=r"n must be positive and eta in \(0, 1\]"):
        theorem1_rate(n, eta, **DIMS)


def test_rate_gamma_validation():
    with pytest.raises(ValueError, match="^gamma "):
        corollary1_rate(100, 0.5, 10, 8, 4, 0.0, 1.0)
    with pytest.raises(ValueError, match="^gamma_t "):
        proposition1_rate(100, 0.5, 10, 8, 1.0, -1.0)
