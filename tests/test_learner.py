"""Tests for linclip.learner: S_n, the contrastive loss, its closed-form minimiser and GD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ortho_group

from linclip.learner import (
    CrossCovarianceAccumulator,
    Encoders,
    GradientDescentResult,
    check_pairs,
    closed_form_encoders,
    contrastive_loss,
    cross_covariance,
    fit,
    gradient_descent,
    loss_from_cross_covariance,
    loss_gradients,
    min_pairs_for_rank,
)
from linclip.metrics import row_space_basis, sin_theta_distance


def naive_cross_covariance(x, xt):
    """(1/n) sum_i x_i x~_i^T - 1/(n(n-1)) sum_{i != j} x_i x~_j^T, by explicit loops."""
    n = x.shape[0]
    paired = sum(np.outer(x[i], xt[i]) for i in range(n)) / n
    unpaired = sum(np.outer(x[i], xt[j]) for i in range(n) for j in range(n) if i != j)
    return paired - unpaired / (n * (n - 1))


def naive_loss(G, G_t, x, xt, rho):
    """The loss from its definition with the full n x n similarity matrix s_ij."""
    n = x.shape[0]
    s = (x @ G.T) @ (xt @ G_t.T).T
    off = s.sum() - np.trace(s)
    return -np.trace(s) / n + off / (n * (n - 1)) + 0.5 * rho * np.sum((G.T @ G_t) ** 2)


@pytest.fixture
def data(small_model):
    s = small_model.sample(400, rng=1)
    return s.x, s.xt


@pytest.fixture
def S(data):
    return cross_covariance(*data)


# ------------------------------------------------------------------------- cross-covariance
@given(n=st.integers(2, 9), d=st.integers(1, 4), d_t=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_cross_covariance_matches_pairwise_formula(n, d, d_t, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + rng.normal(size=d)  # nonzero means: centering matters
    xt = rng.normal(size=(n, d_t)) - 2.0
    S = cross_covariance(x, xt)
    np.testing.assert_allclose(S, naive_cross_covariance(x, xt), atol=1e-12)
    # ... and the centered (n-1)-normalised form, which numpy computes too
    np.testing.assert_allclose(S, np.cov(x.T, xt.T)[:d, d:], atol=1e-12)


def test_cross_covariance_is_shift_invariant(data):
    x, xt = data
    np.testing.assert_allclose(
        cross_covariance(x + 1e3, xt - 5.0), cross_covariance(x, xt), atol=1e-9
    )


def test_cross_covariance_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        cross_covariance(rng.normal(size=(1, 3)), rng.normal(size=(1, 2)))
    with pytest.raises(ValueError, match="same number of rows"):
        cross_covariance(rng.normal(size=(5, 3)), rng.normal(size=(4, 2)))
    x = rng.normal(size=(5, 3))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="^x must contain only finite numbers"):
        cross_covariance(x, rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="^xt must be a 2-D array"):
        cross_covariance(rng.normal(size=(5, 3)), rng.normal(size=5))


def test_accumulator_matches_and_validates(data):
    x, xt = data
    acc = CrossCovarianceAccumulator(6, 5)
    assert acc.update(x[:0], xt[:0]) is acc and acc.n == 0
    with pytest.raises(ValueError, match="at least 2 pairs"):
        acc.covariance()
    for lo in range(0, 400, 37):
        acc.update(x[lo : lo + 37], xt[lo : lo + 37])
    assert acc.n == 400
    np.testing.assert_allclose(acc.covariance(), cross_covariance(x, xt), atol=1e-13)
    with pytest.raises(ValueError, match="do not match"):
        acc.update(x[:, :5], xt)
    with pytest.raises(ValueError, match="do not match"):
        acc.update(x[:3], xt[:4])
    with pytest.raises(ValueError, match="^d "):
        CrossCovarianceAccumulator(0, 2)


def test_accumulator_is_numerically_stable_for_large_offsets():
    # Sums are kept about a shift, so a mean of 1e6 does not wipe out a unit covariance.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(10_000, 1))
    x, xt = z + 1e6, z - 1e6
    acc = CrossCovarianceAccumulator(1, 1)
    for lo in range(0, 10_000, 1000):
        acc.update(x[lo : lo + 1000], xt[lo : lo + 1000])
    np.testing.assert_allclose(acc.covariance(), np.cov(z[:, 0]), rtol=1e-8)


def test_check_pairs_and_min_pairs(data):
    x, xt = data
    assert min_pairs_for_rank(3) == 4
    a, b = check_pairs(x.tolist(), xt, r=2)
    assert isinstance(a, np.ndarray) and a.dtype == float
    with pytest.raises(ValueError, match=r"at least r \+ 1 = 3 pairs.*got n = 2"):
        check_pairs(x[:2], xt[:2], r=2)
    check_pairs(x[:3], xt[:3], r=2)  # n = r + 1 is enough
    with pytest.raises(ValueError, match=r"^r .*min\(d, d_t\) = 5"):
        check_pairs(x, xt, r=6)


# --------------------------------------------------------------------------------- loss
@given(
    n=st.integers(2, 8), r=st.integers(1, 3), rho=st.floats(0.01, 10), seed=st.integers(0, 10**6)
)
def test_contrastive_loss_matches_definition_and_trace_form(n, r, rho, seed):
    rng = np.random.default_rng(seed)
    x, xt = rng.normal(size=(n, 4)) + 0.5, rng.normal(size=(n, 3))
    G, G_t = rng.normal(size=(r, 4)), rng.normal(size=(r, 3))
    expected = naive_loss(G, G_t, x, xt, rho)
    assert contrastive_loss(G, G_t, x, xt, rho) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    S = cross_covariance(x, xt)
    assert loss_from_cross_covariance(G, G_t, S, rho) == pytest.approx(
        expected, rel=1e-10, abs=1e-10
    )


def test_loss_from_cross_covariance_explicit_value():
    G = np.array([[1.0, 0.0]])
    G_t = np.array([[2.0, 0.0, 0.0]])
    S = np.zeros((2, 3))
    S[0, 0] = 3.0
    # -Tr(G S G~^T) = -6;  (rho/2)||G^T G~||^2 = (0.5/2) * 4 = 1
    assert loss_from_cross_covariance(G, G_t, S, rho=0.5) == pytest.approx(-5.0)


def test_contrastive_loss_errors(data):
    x, xt = data
    G, G_t = np.ones((2, 6)), np.ones((2, 5))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        contrastive_loss(G, G_t, x[:1], xt[:1])
    with pytest.raises(ValueError, match="^rho "):
        contrastive_loss(G, G_t, x, xt, rho=0.0)
    with pytest.raises(ValueError, match="same number of rows"):
        contrastive_loss(G, G_t, x, xt[:-1])


def test_loss_gradients_match_finite_differences(S):
    rng = np.random.default_rng(2)
    G, G_t, rho = rng.normal(size=(2, 6)), rng.normal(size=(2, 5)), 0.7
    grad_G, grad_G_t = loss_gradients(G, G_t, S, rho)
    h = 1e-6
    for arr, grad, which in [(G, grad_G, 0), (G_t, grad_G_t, 1)]:
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            e = np.zeros_like(arr)
            e[idx] = h
            args_p = (G + e, G_t) if which == 0 else (G, G_t + e)
            args_m = (G - e, G_t) if which == 0 else (G, G_t - e)
            num[idx] = (
                loss_from_cross_covariance(*args_p, S, rho)
                - loss_from_cross_covariance(*args_m, S, rho)
            ) / (2 * h)
        # central differences of a quartic: truncation ~ h^2, rounding ~ eps / h ~ 1e-10
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------------------- closed form
def best_rank_r(S, r):
    P, s, Qt = np.linalg.svd(S)
    return (P[:, :r] * s[:r]) @ Qt[:r]


@pytest.mark.parametrize("rho", [0.1, 1.0, 7.5])
def test_closed_form_product_is_truncated_svd_over_rho(S, rho):
    enc = closed_form_encoders(S, 2, rho)
    assert enc.G.shape == (2, 6) and enc.G_t.shape == (2, 5) and enc.r == 2
    np.testing.assert_allclose(enc.score_matrix, best_rank_r(S, 2) / rho, atol=1e-13)
    # minimum value from completing the square: -(1/(2 rho)) sum_{i<=r} sigma_i^2
    sigma = np.linalg.svd(S, compute_uv=False)
    assert loss_from_cross_covariance(enc.G, enc.G_t, S, rho) == pytest.approx(
        -np.sum(sigma[:2] ** 2) / (2 * rho), rel=1e-12
    )


def test_closed_form_beats_random_perturbations(S):
    enc = closed_form_encoders(S, 2, rho=1.0)
    best = loss_from_cross_covariance(enc.G, enc.G_t, S)
    rng = np.random.default_rng(5)
    for scale in [1e-4, 1e-2, 1.0]:
        for _ in range(20):
            G = enc.G + scale * rng.normal(size=enc.G.shape)
            G_t = enc.G_t + scale * rng.normal(size=enc.G_t.shape)
            assert loss_from_cross_covariance(G, G_t, S) >= best - 1e-15
    # and any other rank-2 pair, e.g. the true bases scaled
    for _ in range(20):
        G, G_t = rng.normal(size=(2, 6)), rng.normal(size=(2, 5))
        assert loss_from_cross_covariance(G, G_t, S) > best


def test_closed_form_subspaces_do_not_depend_on_rho(S):
    ref = closed_form_encoders(S, 2, rho=1.0)
    for rho in [1e-3, 0.3, 40.0]:
        enc = closed_form_encoders(S, 2, rho)
        assert sin_theta_distance(enc.G.T, ref.G.T) < 1e-10
        assert sin_theta_distance(enc.G_t.T, ref.G_t.T) < 1e-10
        np.testing.assert_allclose(enc.score_matrix * rho, ref.score_matrix, atol=1e-13)


def test_loss_is_invariant_under_orthogonal_mixing(S):
    enc = closed_form_encoders(S, 2, rho=2.0)
    rng = np.random.default_rng(1)
    G, G_t = rng.normal(size=(2, 6)), rng.normal(size=(2, 5))
    for A in ortho_group.rvs(2, size=5, random_state=3):
        for g, gt in [(enc.G, enc.G_t), (G, G_t)]:
            assert loss_from_cross_covariance(A @ g, A @ gt, S, 2.0) == pytest.approx(
                loss_from_cross_covariance(g, gt, S, 2.0), rel=1e-12, abs=1e-14
            )
        # the identified object G^T G~ is unchanged, so is the row space
        np.testing.assert_allclose((A @ enc.G).T @ (A @ enc.G_t), enc.score_matrix, atol=1e-13)


def test_closed_form_errors(S):
    with pytest.raises(ValueError, match="^rho "):
        closed_form_encoders(S, 2, rho=0.0)
    with pytest.raises(ValueError, match="^rho "):
        closed_form_encoders(S, 2, rho=-1.0)
    with pytest.raises(ValueError, match=r"^r .*min\(d, d_t\) = 5"):
        closed_form_encoders(S, 6)
    with pytest.raises(ValueError, match="^r "):
        closed_form_encoders(S, 0)
    bad = S.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="^S must contain only finite"):
        closed_form_encoders(bad, 2)


# --------------------------------------------------------------------------------- fit
def test_fit_equals_closed_form_of_cross_covariance(data):
    x, xt = data
    enc = fit(x, xt, 2, rho=3.0)
    ref = closed_form_encoders(cross_covariance(x, xt), 2, 3.0)
    np.testing.assert_allclose(enc.score_matrix, ref.score_matrix, atol=1e-14)


def test_fit_recovers_the_subspace_with_many_samples(paper_model):
    s = paper_model.sample(20_000, rng=0)
    enc = fit(s.x, s.xt, paper_model.r)
    assert sin_theta_distance(row_space_basis(enc.G), paper_model.U) < 5e-3
    assert sin_theta_distance(row_space_basis(enc.G_t), paper_model.U_t) < 5e-3


def test_fit_errors(data):
    x, xt = data
    with pytest.raises(ValueError, match=r"r \+ 1 = 3 pairs"):
        fit(x[:2], xt[:2], 2)
    with pytest.raises(ValueError, match="same number of rows"):
        fit(x, xt[:10], 2)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fit(bad, xt, 2)
    with pytest.raises(ValueError, match="^rho "):
        fit(x, xt, 2, rho=0)


def test_encoders_similarity_and_score_matrix(data):
    x, xt = data
    rng = np.random.default_rng(0)
    enc = Encoders(rng.normal(size=(3, 6)), rng.normal(size=(3, 5)))
    assert enc.r == 3
    np.testing.assert_allclose(enc.score_matrix, enc.G.T @ enc.G_t)
    sims = enc.similarity(x[:20], xt[:20])
    explicit = [float((enc.G @ x[i]) @ (enc.G_t @ xt[i])) for i in range(20)]
    np.testing.assert_allclose(sims, explicit, rtol=1e-12)


# ------------------------------------------------------------------------ gradient descent
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_descent_reaches_the_closed_form(S, seed):
    res = gradient_descent(S, 2, rho=1.0, steps=2000, rng=seed)
    assert isinstance(res, GradientDescentResult) and res.losses.shape == (2000,)
    cf = closed_form_encoders(S, 2, 1.0)
    assert sin_theta_distance(res.encoders.G.T, cf.G.T) < 1e-6
    assert sin_theta_distance(res.encoders.G_t.T, cf.G_t.T) < 1e-6
    best = loss_from_cross_covariance(cf.G, cf.G_t, S)
    # the closed form is never beaten, and GD gets to within rounding of it
    assert res.losses[-1] >= best - 1e-12
    assert res.losses[-1] == pytest.approx(best, rel=1e-9)
    # GD with a small stable step decreases the loss at every step (up to rounding)
    assert np.all(np.diff(res.losses) <= 1e-12)
    assert res.losses[0] > res.losses[-1]


def test_gradient_descent_is_rho_invariant_in_subspace(S):
    a = gradient_descent(S, 2, rho=0.2, steps=1500, rng=0).encoders
    b = gradient_descent(S, 2, rho=5.0, steps=1500, rng=0).encoders
    assert sin_theta_distance(a.G.T, b.G.T) < 1e-6
    np.testing.assert_allclose(a.score_matrix * 0.2, b.score_matrix * 5.0, atol=1e-6)


def test_gradient_descent_reproducible_and_zero_steps(S):
    a = gradient_descent(S, 2, steps=10, rng=4)
    b = gradient_descent(S, 2, steps=10, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a.encoders.G, b.encoders.G)
    z = gradient_descent(S, 2, steps=0, rng=4)
    assert z.losses.size == 0 and z.encoders.G.shape == (2, 6)


def test_gradient_descent_errors(S):
    with pytest.raises(ValueError, match="zero matrix"):
        gradient_descent(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="^rho "):
        gradient_descent(S, 2, rho=0)
    with pytest.raises(ValueError, match="^steps "):
        gradient_descent(S, 2, steps=-1)
    with pytest.raises(ValueError, match="^step_size "):
        gradient_descent(S, 2, step_size=0)
    with pytest.raises(ValueError, match="^init_scale "):
        gradient_descent(S, 2, init_scale=-1)
    with pytest.raises(ValueError, match="^r "):
        gradient_descent(S, 9)
