"""Tests of linclip.filtered_moments: the filtered cross-covariance in signal/noise coordinates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linclip.filtered_moments import SignalNoiseBlocks, orthogonal_completion, signal_noise_blocks
from linclip.filters import bilinear_score, oracle_score_matrix
from linclip.model import BimodalModel, random_orthonormal
from linclip.score_law import cross_moment


def test_orthogonal_completion_is_orthogonal():
    U = random_orthonormal(7, 3, np.random.default_rng(0))
    Up = orthogonal_completion(U)
    Q = np.hstack([U, Up])
    assert Up.shape == (7, 4)
    np.testing.assert_allclose(Q.T @ Q, np.eye(7), atol=1e-12)


def test_orthogonal_completion_validation():
    with pytest.raises(ValueError, match="orthonormal"):
        orthogonal_completion(np.ones((4, 2)))
    with pytest.raises(ValueError, match="at most"):
        orthogonal_completion(np.eye(3)[:2])


def test_population_structure_is_exact():
    """Rotating eta U U_t^T gives eta on the signal diagonal and zeros elsewhere."""
    model = BimodalModel(6, 5, 2, eta=0.4)
    rng = np.random.default_rng(1)
    smp = model.sample(4000, rng)
    blocks = signal_noise_blocks(smp.x, smp.xt, model.U, model.U_t)
    assert isinstance(blocks, SignalNoiseBlocks)
    assert blocks.signal.shape == (2, 2) and blocks.noise_signal.shape == (4, 2)
    assert blocks.signal_noise.shape == (2, 3) and blocks.noise_noise.shape == (4, 3)
    assert blocks.n_kept == 4000


@pytest.mark.parametrize("theta", [0.0, 2.0])
def test_filtered_signal_block_matches_cross_moment(theta):
    """Prediction s(theta) from score_law vs the simulated filtered cross-covariance."""
    r, eta = 4, 0.3
    model = BimodalModel(10, 8, r, gamma=1e4, gamma_t=1e4, eta=eta)
    smp = model.sample(200_000, np.random.default_rng(2024))
    keep = bilinear_score(smp.x, smp.xt, oracle_score_matrix(model.U, model.U_t)) > theta
    blocks = signal_noise_blocks(smp.x, smp.xt, model.U, model.U_t, keep)
    s = cross_moment(theta, eta, r)
    se = 3.0 / math.sqrt(blocks.n_kept)  # entries of u v have standard deviation below ~3
    assert blocks.scale == pytest.approx(s, abs=se)
    assert blocks.signal_offdiag < 6 * se
    assert blocks.outside_signal < 6 * se
    assert blocks.relative_residual < 0.1


def test_mask_validation():
    model = BimodalModel(4, 4, 2)
    smp = model.sample(50, 0)
    with pytest.raises(ValueError, match="mask"):
        signal_noise_blocks(smp.x, smp.xt, model.U, model.U_t, np.ones(49, dtype=bool))
    with pytest.raises(ValueError, match="at least 2"):
        signal_noise_blocks(smp.x, smp.xt, model.U, model.U_t, np.arange(50) == 3)
    with pytest.raises(ValueError, match="do not fit"):
        signal_noise_blocks(smp.x, smp.xt, model.U[:3], model.U_t)
