"""Tests for linclip.perturbation (Weyl's inequality and Wedin's sin-theta theorem)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linclip.metrics import sin_theta_distance
from linclip.model import random_orthonormal
from linclip.perturbation import (
    WedinCheck,
    WeylCheck,
    random_wedin_checks,
    random_weyl_checks,
    top_singular_subspaces,
    wedin_bound,
    weyl_check,
)


# ------------------------------------------------------------------------ top_singular_subspaces
def test_top_singular_subspaces_shapes_and_orthogonality(rng):
    A = rng.standard_normal((7, 5))
    P_r, P_perp, Q_r, Q_perp, sigma = top_singular_subspaces(A, 2)
    assert P_r.shape == (7, 2) and P_perp.shape == (7, 5)
    assert Q_r.shape == (5, 2) and Q_perp.shape == (5, 3)
    np.testing.assert_allclose(
        np.hstack([P_r, P_perp]).T @ np.hstack([P_r, P_perp]), np.eye(7), atol=1e-12
    )
    np.testing.assert_allclose(P_r.T @ A @ Q_r, np.diag(sigma[:2]), atol=1e-12)
    assert np.all(np.diff(sigma) <= 0)


@pytest.mark.parametrize("r", [0, 6, 2.5])
def test_top_singular_subspaces_rejects_bad_rank(rng, r):
    with pytest.raises(ValueError, match=r"^r must be an integer"):
        top_singular_subspaces(rng.standard_normal((7, 5)), r)


# ------------------------------------------------------------------------------------- Weyl
def test_weyl_check_zero_perturbation_is_exact(rng):
    A = rng.standard_normal((4, 3))
    chk = weyl_check(A, np.zeros_like(A))
    assert isinstance(chk, WeylCheck)
    assert chk.bound == 0.0 and chk.max_shift <= 1e-14
    assert chk.holds and math.isnan(chk.ratio)


def test_weyl_is_attained_by_an_aligned_rank_one_perturbation(rng):
    """E = eps * p_1 q_1^T moves sigma_1 by exactly eps: Weyl's bound is tight."""
    A = rng.standard_normal((6, 4))
    P, _, Qt = np.linalg.svd(A)
    eps = 0.37
    chk = weyl_check(A, eps * np.outer(P[:, 0], Qt[0]))
    assert chk.holds
    assert chk.ratio == pytest.approx(1.0, abs=1e-12)


@given(
    seed=st.integers(0, 2**31 - 1),
    p=st.integers(1, 9),
    q=st.integers(1, 9),
    scale=st.floats(1e-6, 1e3),
)
def test_weyl_holds_on_random_matrices(seed, p, q, scale):
    g = np.random.default_rng(seed)
    chk = weyl_check(g.standard_normal((p, q)), scale * g.standard_normal((p, q)))
    assert chk.holds
    assert 0.0 <= chk.ratio <= 1.0 + 1e-10
    assert chk.shifts.shape == (min(p, q),)


def test_weyl_check_rejects_shape_mismatch(rng):
    with pytest.raises(ValueError, match=r"A and E must have the same shape"):
        weyl_check(rng.standard_normal((3, 2)), rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"A must contain only finite numbers"):
        weyl_check(np.array([[np.nan, 1.0]]), np.zeros((1, 2)))


# ------------------------------------------------------------------------------------ Wedin
def test_wedin_two_by_two_is_exact():
    """A = diag(sigma, 0), E = eps e_1 e_2^T: sin = eps / sqrt(sigma^2 + eps^2) = residual bound."""
    sigma, eps = 2.0, 0.3
    chk = wedin_bound(np.diag([sigma, 0.0]), np.array([[0.0, eps], [0.0, 0.0]]), 1)
    assert isinstance(chk, WedinCheck)
    exact = eps / math.hypot(sigma, eps)
    assert chk.sin_theta_right == pytest.approx(exact, rel=1e-12)
    assert chk.sin_theta_left == pytest.approx(0.0, abs=1e-15)
    assert chk.residual_bound == pytest.approx(exact, rel=1e-12)
    assert chk.bound == pytest.approx(eps / (sigma - eps), rel=1e-12)
    assert chk.gap == sigma and chk.sigma_r1 == 0.0
    assert chk.holds


def test_wedin_sin_theta_matches_metrics(rng):
    """The left sin-theta equals linclip.metrics.sin_theta_distance of the singular vectors."""
    U = random_orthonormal(8, 3, rng)
    U_t = random_orthonormal(6, 3, rng)
    A = 0.4 * U @ U_t.T
    E = 0.01 * rng.standard_normal(A.shape)
    chk = wedin_bound(A, E, 3)
    P_hat = np.linalg.svd(A + E)[0][:, :3]
    Q_hat = np.linalg.svd(A + E)[2][:3].T
    assert chk.sin_theta_left == pytest.approx(sin_theta_distance(P_hat, U), rel=1e-9)
    assert chk.sin_theta_right == pytest.approx(sin_theta_distance(Q_hat, U_t), rel=1e-9)
    assert chk.gap == pytest.approx(0.4, rel=1e-12)
    assert chk.holds


@given(seed=st.integers(0, 2**31 - 1), level=st.floats(1e-4, 0.999))
def test_wedin_holds_on_random_instances(seed, level):
    g = np.random.default_rng(seed)
    A = g.standard_normal((7, 5))
    E = g.standard_normal((7, 5))
    s = np.linalg.svd(A, compute_uv=False)
    E *= level * (s[1] - s[2]) / np.linalg.norm(E, 2)
    chk = wedin_bound(A, E, 2)
    assert chk.holds
    assert math.isfinite(chk.bound)
    assert chk.sin_theta <= math.sqrt(2) + 1e-12


def test_wedin_bound_is_infinite_when_perturbation_exceeds_gap(rng):
    A = np.diag([1.0, 0.5, 0.0])
    chk = wedin_bound(A, 0.6 * np.eye(3), 1)
    assert chk.bound == math.inf and chk.ratio == 0.0
    assert chk.holds


def test_wedin_full_rank_has_zero_tail(rng):
    A = rng.standard_normal((4, 3))
    chk = wedin_bound(A, 1e-3 * rng.standard_normal((4, 3)), 3)
    assert chk.sigma_r1 == 0.0
    assert chk.sin_theta_right == pytest.approx(0.0, abs=1e-12)  # the whole R^3
    assert chk.holds


def test_wedin_rejects_bad_input(rng):
    A = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"same shape"):
        wedin_bound(A, np.zeros((3, 4)), 1)
    with pytest.raises(ValueError, match=r"^r must be an integer"):
        wedin_bound(A, np.zeros_like(A), 4)


# ---------------------------------------------------------------------------- random checkers
def test_random_weyl_checks_all_hold_at_fixed_seed():
    frame = random_weyl_checks(300, 6, 4, rng=11)
    assert len(frame) == 300 and bool(frame.holds.all())
    assert frame.ratio.max() <= 1.0 + 1e-10
    rank1 = random_weyl_checks(300, 6, 4, rng=11, kind="rank1")
    assert bool(rank1.holds.all())
    # Weyl is close to tight when E dominates A (the shifts approach sigma_1(E) - sigma_1(A)).
    big = frame.E_norm > 3 * frame.A_norm
    assert big.any() and frame.ratio[big].min() > 0.4
    assert frame.E_norm.between(1e-3, 10.0 + 1e-9).all()


def test_random_weyl_checks_reproducible():
    a = random_weyl_checks(20, 3, 3, rng=5)
    b = random_weyl_checks(20, 3, 3, rng=5)
    assert a.equals(b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="sparse"), r"kind must be"),
        (dict(scale_range=(1.0, 0.1)), r"scale_range must be increasing"),
        (dict(scale_range=(0.0, 1.0)), r"scale_range\[0\] must be"),
    ],
)
def test_random_weyl_checks_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_weyl_checks(5, 3, 3, rng=0, **kwargs)


def test_random_wedin_checks_all_hold_and_levels():
    frame = random_wedin_checks(300, 8, 6, 2, rng=7)
    assert bool(frame.holds.all())
    assert np.isfinite(frame.bound).all()
    np.testing.assert_allclose(frame.E_norm / frame.gap, frame.level, rtol=1e-10)
    assert frame.gap.min() >= 0.7 - 1e-12
    assert (frame.ratio <= 1.0 + 1e-10).all() and (frame.ratio > 0).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(r=6), r"r must be an integer between 1 and 5"),
        (dict(tail=1.0), r"tail must lie in \[0, 1\)"),
        (dict(level_range=(0.5, 0.1)), r"level_range must be increasing"),
    ],
)
def test_random_wedin_checks_rejects(kwargs, match):
    args = dict(n_instances=3, p=8, q=6, r=2, rng=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        random_wedin_checks(**args)
