"""Tests of the per-modality PCA learner (the paper's eta = 0 reference)."""

import numpy as np
import pytest
import scipy.linalg

from linclip.learner import fit_pca
from linclip.metrics import sin_theta_distance, subspace_error
from linclip.model import BimodalModel


def _model(eta: float, gamma: float = 1e4) -> BimodalModel:
    return BimodalModel(d=10, d_t=8, r=4, eta=eta, gamma=gamma, gamma_t=gamma, basis_seed=3)


def test_matches_svd_of_centred_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) @ np.diag([5, 4, 3, 1, 1, 1])
    xt = rng.normal(size=(200, 5))
    enc = fit_pca(x, xt, 2)
    # Independent route: right singular vectors of the centred data matrix.
    _, _, vt = scipy.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    assert sin_theta_distance(enc.G.T, vt[:2].T) < 1e-10
    assert enc.G.shape == (2, 6) and enc.G_t.shape == (2, 5)


def test_ignores_the_pairing():
    sample = _model(0.5).sample(2000, np.random.default_rng(1))
    perm = np.random.default_rng(2).permutation(2000)
    a = fit_pca(sample.x, sample.xt, 4)
    b = fit_pca(sample.x, sample.xt[perm], 4)
    assert sin_theta_distance(a.G_t.T, b.G_t.T) < 1e-10
    assert sin_theta_distance(a.G.T, b.G.T) < 1e-10


def test_error_does_not_depend_on_eta():
    # Same seed, different eta: the marginals of x and xt are the same law
    # whatever eta is, so the mean error over trials must agree.
    errs = {}
    for eta in (1.0, 0.01):
        vals = [
            subspace_error(fit_pca(s.x, s.xt, 4), s_model.U, s_model.U_t).err
            for s_model in [_model(eta, gamma=10.0)]
            for s in (s_model.sample(2000, np.random.default_rng(t)) for t in range(40))
        ]
        errs[eta] = np.mean(vals), np.std(vals) / np.sqrt(len(vals))
    (m1, s1), (m2, s2) = errs[1.0], errs[0.01]
    assert abs(m1 - m2) < 4 * np.hypot(s1, s2)


def test_error_falls_like_one_over_root_n():
    model = _model(0.3, gamma=10.0)
    means = []
    for n in (1000, 16000):
        vals = [
            subspace_error(fit_pca(s.x, s.xt, 4), model.U, model.U_t).err
            for s in (model.sample(n, np.random.default_rng(t)) for t in range(20))
        ]
        means.append(np.mean(vals))
    # 16x more data: error / 4 up to sampling noise.
    assert means[0] / means[1] == pytest.approx(4.0, rel=0.2)


def test_bad_input():
    with pytest.raises(ValueError, match="r"):
        fit_pca(np.ones((10, 3)), np.ones((10, 3)), 5)
    with pytest.raises(ValueError, match="rows"):
        fit_pca(np.ones((10, 3)), np.ones((9, 3)), 1)
