"""Tests for linclip.metrics: principal angles, ||sin Theta||_F and the paper's ERR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ortho_group

from linclip.learner import Encoders
from linclip.metrics import (
    ErrorReport,
    orthonormal_basis,
    principal_angles,
    row_space_basis,
    sin_theta_distance,
    subspace_error,
)


@st.composite
def subspace_pair(draw):
    """Two spanning sets (p x r) of r-dimensional subspaces of R^p, and a seed for more draws."""
    p = draw(st.integers(2, 8))
    r = draw(st.integers(1, p - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(p, r)), rng.normal(size=(p, r)), rng


def well_conditioned(rng, k):
    """A random invertible k x k matrix with condition number at most about 10."""
    if k == 1:
        return np.array([[rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 3.0)]])
    Q1, Q2 = ortho_group.rvs(k, size=2, random_state=rng)
    return Q1 @ np.diag(rng.uniform(0.3, 3.0, size=k)) @ Q2


@given(subspace_pair())
def test_symmetric(pair):
    X, Y, _ = pair
    assert sin_theta_distance(X, Y) == pytest.approx(sin_theta_distance(Y, X), abs=1e-12)


@given(subspace_pair())
def test_invariant_to_a_common_rotation(pair):
    X, Y, rng = pair
    p = X.shape[0]
    Q = ortho_group.rvs(p, random_state=rng)
    assert sin_theta_distance(Q @ X, Q @ Y) == pytest.approx(sin_theta_distance(X, Y), abs=1e-10)


@given(subspace_pair())
def test_invariant_to_change_of_basis_within_each_subspace(pair):
    X, Y, rng = pair
    r = X.shape[1]
    B, C = well_conditioned(rng, r), well_conditioned(rng, r)
    assert sin_theta_distance(X @ B, Y @ C) == pytest.approx(sin_theta_distance(X, Y), abs=1e-10)


@given(subspace_pair())
def test_zero_iff_same_subspace(pair):
    X, Y, rng = pair
    B = well_conditioned(rng, X.shape[1])
    assert sin_theta_distance(X, X @ B) < 1e-12
    # generic Gaussian Y spans a different subspace (r < p), so the distance is positive;
    # a far-from-zero lower bound would not hold in general, 1e-6 does for Gaussian draws
    assert sin_theta_distance(X, Y) > 1e-6


@given(subspace_pair())
def test_bounded_by_sqrt_r_and_equal_to_principal_angle_form(pair):
    X, Y, _ = pair
    r = X.shape[1]
    dist = sin_theta_distance(X, Y)
    angles = principal_angles(X, Y)
    assert 0.0 <= dist <= math.sqrt(r) + 1e-12
    assert angles.shape == (r,)
    assert np.all(np.diff(angles) >= 0)  # ascending
    assert np.all((angles >= 0) & (angles <= math.pi / 2 + 1e-12))
    assert dist == pytest.approx(math.sqrt(np.sum(np.sin(angles) ** 2)), abs=1e-10)


def test_orthogonal_subspaces_reach_sqrt_r():
    eye = np.eye(6)
    assert sin_theta_distance(eye[:, :3], eye[:, 3:]) == pytest.approx(math.sqrt(3))
    np.testing.assert_allclose(principal_angles(eye[:, :3], eye[:, 3:]), [math.pi / 2] * 3)


@given(phi=st.floats(-math.pi, math.pi))
def test_two_dimensional_example(phi):
    X = np.array([[1.0], [0.0]])
    Y = np.array([[math.cos(phi)], [math.sin(phi)]])
    assert sin_theta_distance(X, Y) == pytest.approx(abs(math.sin(phi)), abs=1e-12)
    # embedding the example in R^3 changes nothing
    assert sin_theta_distance(np.vstack([X, [[0.0]]]), np.vstack([Y, [[0.0]]])) == pytest.approx(
        abs(math.sin(phi)), abs=1e-12
    )


def test_small_angles_keep_relative_accuracy():
    # ||sin Theta|| = sin(1e-9) must not be swamped by rounding (sqrt(r - ||X^T Y||^2) would be)
    phi = 1e-9
    X = np.array([[1.0], [0.0]])
    Y = np.array([[math.cos(phi)], [math.sin(phi)]])
    assert sin_theta_distance(X, Y) == pytest.approx(phi, rel=1e-6)


@given(st.integers(1, 6), st.integers(0, 5), st.integers(0, 10**6))
def test_orthonormal_basis(k, extra, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k + extra, k))
    Q = orthonormal_basis(A)
    assert Q.shape == A.shape
    np.testing.assert_allclose(Q.T @ Q, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(Q @ (Q.T @ A), A, atol=1e-10)  # same column space


def test_row_space_basis():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(2, 5))
    B = row_space_basis(G)
    assert B.shape == (5, 2)
    np.testing.assert_allclose(B @ (B.T @ G.T), G.T, atol=1e-12)
    assert sin_theta_distance(B, G.T) < 1e-12


def test_subspace_error_is_the_max_of_the_two_sides():
    U = np.eye(4)[:, :2]
    U_t = np.eye(3)[:, :2]
    phi = 0.3
    # G spans U exactly (mixed within the subspace); G~ is tilted by phi in one direction
    G = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    G_t = np.array([[math.cos(phi), 0.0, math.sin(phi)], [0.0, 3.0, 0.0]])
    rep = subspace_error(Encoders(G, G_t), U, U_t)
    assert isinstance(rep, ErrorReport)
    assert rep.err_x < 1e-12
    assert rep.err_xt == pytest.approx(math.sin(phi), rel=1e-12)
    assert rep.err == rep.err_xt
    swapped = subspace_error(Encoders(G_t, G), U_t, U)
    assert swapped.err_x == pytest.approx(math.sin(phi)) and swapped.err == swapped.err_x


@given(subspace_pair(), subspace_pair())
def test_subspace_error_property(a, b):
    X, U, _ = a
    Y, U_t, _ = b
    if X.shape[1] != Y.shape[1]:
        Y, U_t = Y[:, :1], U_t[:, :1]
        X, U = X[:, :1], U[:, :1]
    rep = subspace_error(Encoders(X.T, Y.T), U, U_t)
    assert rep.err_x == pytest.approx(sin_theta_distance(X, U), abs=1e-12)
    assert rep.err_xt == pytest.approx(sin_theta_distance(Y, U_t), abs=1e-12)
    assert rep.err == max(rep.err_x, rep.err_xt)


def test_error_messages():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same space; got ambient dimensions 4 and 5"):
        sin_theta_distance(rng.normal(size=(4, 2)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="same dimension r; got 2 and 1"):
        principal_angles(rng.normal(size=(4, 2)), rng.normal(size=(4, 1)))
    col = rng.normal(size=(4, 1))
    with pytest.raises(ValueError, match=r"has rank 1 < 2 columns"):
        sin_theta_distance(np.hstack([col, 2 * col]), rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match=r"rank 0 < 1"):
        orthonormal_basis(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="^X must be a 2-D array"):
        sin_theta_distance(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match="^Y must contain only finite"):
        sin_theta_distance(np.ones((3, 1)), np.array([[1.0], [np.nan], [0.0]]))
    with pytest.raises(ValueError, match="rank"):  # r > p cannot span an r-dim subspace
        sin_theta_distance(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="rank"):  # rank-deficient encoder
        subspace_error(
            Encoders(np.ones((2, 4)), rng.normal(size=(2, 3))), np.eye(4)[:, :2], np.eye(3)[:, :2]
        )
