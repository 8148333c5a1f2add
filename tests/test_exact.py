"""Exact sufficient-statistic samplers against generated pairs.

Distributions, not only means: entry-wise tests of the mean *and* the variance of every entry
of the statistics (sum and second moment), and two-sample tests of ERR and of the kept
fraction. Each power claim is backed by a deliberately broken sampler that the same test must
reject (see ``shared/design/exact-sampling.md`` §4 for why the residual step is tested at
γ = γ̃ = 1: at γ = 10⁴ the residual is O(1/γ) and its bugs are invisible).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from linclip import exact
from linclip.exact import (Scatter, exact_trial, filtered_group_scatters, group_scatter,
                           wishart_identity)
from linclip.filters import oracle_score_matrix, run_method
from linclip.metrics import subspace_error
from linclip.model import BimodalModel

MODEL = BimodalModel(d=6, d_t=5, r=2, gamma=1.0, gamma_t=1.0, eta=0.5, basis_seed=4)
D = MODEL.d + MODEL.d_t
IU = np.triu_indices(D)


def _flat(s: Scatter) -> np.ndarray:
    return np.concatenate([s.total, s.second[IU]])


def _pairs_stats(cov: np.ndarray, m: int, trials: int, rng, keep=None) -> np.ndarray:
    """Reference: generate the rows, (optionally) filter them, sum."""
    L = np.linalg.cholesky(cov)
    out = []
    for _ in range(trials):
        w = rng.standard_normal((m, D)) @ L.T
        if keep is not None:
            w = w[keep(w)]
        out.append(np.concatenate([w.sum(0), (w.T @ w)[IU]]))
    return np.array(out)


def _max_z(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Largest |z| over entries for equal means and for equal variances."""
    za = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
    da = (a - a.mean(0)) ** 2
    db = (b - b.mean(0)) ** 2
    zv = (da.mean(0) - db.mean(0)) / np.sqrt(da.var(0) / len(a) + db.var(0) / len(b))
    return float(np.max(np.abs(za))), float(np.max(np.abs(zv)))


# ------------------------------------------------------------------------ Scatter algebra
def test_scatter_matches_numpy():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(50, D))
    s = Scatter(50, w.sum(0), w.T @ w)
    assert np.allclose(s.centred(), np.cov(w.T) * 49)
    ref = np.cov(w[:, :6].T, w[:, 6:].T)[:6, 6:]
    assert np.allclose(s.cross_covariance(6), ref)
    half = Scatter(20, w[:20].sum(0), w[:20].T @ w[:20]) + Scatter(
        30, w[20:].sum(0), w[20:].T @ w[20:])
    assert np.allclose(half.second, s.second) and half.m == 50
    with pytest.raises(ValueError, match="at least 2"):
        Scatter(1, w[0], np.outer(w[0], w[0])).cross_covariance(6)


# ------------------------------------------------------------------------------ Wishart
@pytest.mark.parametrize("dof", [2, 9])
def test_wishart_diagonal_is_chi_square(dof):
    rng = np.random.default_rng(dof)
    draws = np.array([wishart_identity(dof, 4, rng) for _ in range(4000)])
    for i in range(4):
        assert stats.kstest(draws[:, i, i], stats.chi2(dof).cdf).pvalue > 1e-3
    # Off-diagonal entries: mean 0, variance dof.
    off = draws[:, 0, 3]
    assert abs(off.mean()) < 4 * np.sqrt(dof / 4000)
    assert off.var() == pytest.approx(dof, rel=0.1)


def test_wishart_bad_input():
    with pytest.raises(ValueError, match="dof"):
        wishart_identity(-1, 3, np.random.default_rng(0))


# ----------------------------------------------------------------- unfiltered group (§1)
def _group_reference(m, trials, seed):
    return _pairs_stats(MODEL.component_covariance(True), m, trials,
                        np.random.default_rng(seed))


def _group_exact(m, trials, seed, draw=group_scatter):
    rng = np.random.default_rng(seed)
    cov = MODEL.component_covariance(True)
    return np.array([_flat(draw(cov, m, rng)) for _ in range(trials)])


def _broken_dof(cov, m, rng):
    """Wishart with m degrees of freedom instead of m - 1 (a plausible off-by-one)."""
    L = exact._psd_factor(cov)
    T = L @ wishart_identity(m, L.shape[1], rng) @ L.T
    total = np.sqrt(m) * (L @ rng.standard_normal(L.shape[1]))
    return Scatter(m, total, T + np.outer(total, total) / m)


def _broken_mean(cov, m, rng):
    """Forgets the mean's contribution to the raw second moment."""
    s = group_scatter(cov, m, rng)
    return Scatter(m, s.total, s.second - np.outer(s.total, s.total) / m)


def test_group_scatter_entrywise_at_n_10():
    ref = _group_reference(10, 10000, 1)
    z_mean, z_var = _max_z(_group_exact(10, 10000, 2), ref)
    assert z_mean < 4.5 and z_var < 4.5
    # Power: both broken samplers are rejected by the same statistic.
    for broken in (_broken_dof, _broken_mean):
        z_mean, z_var = _max_z(_group_exact(10, 10000, 2, broken), ref)
        assert max(z_mean, z_var) > 8, broken.__name__


def test_group_scatter_empty_and_single():
    cov = MODEL.component_covariance(False)
    rng = np.random.default_rng(0)
    assert group_scatter(cov, 0, rng).m == 0
    one = group_scatter(cov, 1, rng)
    assert np.allclose(one.second, np.outer(one.total, one.total))


# ------------------------------------------------------------ filtered group (§2, residual)
M_FIXED = oracle_score_matrix(MODEL.U, MODEL.U_t) + 0.3 * np.random.default_rng(9).normal(
    size=(MODEL.d, MODEL.d_t)) / 3  # a fixed, imperfect "teacher" of rank > r
M_FIXED = np.linalg.svd(M_FIXED)[0][:, :2] @ np.diag([1.2, 0.8]) @ np.linalg.svd(
    M_FIXED)[2][:2]  # rank r = 2, like a teacher
THETA = 0.3


def _keep(w):
    return np.einsum("ij,jk,ik->i", w[:, :MODEL.d], M_FIXED, w[:, MODEL.d:]) > THETA


def _filtered_exact(m, trials, seed, direct_rows, clean=True):
    rng = np.random.default_rng(seed)
    cov = MODEL.component_covariance(clean)
    out = []
    for _ in range(trials):
        cells = filtered_group_scatters(cov, m, MODEL.d, [M_FIXED], [THETA], rng,
                                        direct_rows=direct_rows)
        out.append(_flat(cells.get(1, Scatter.empty(D))))
    return np.array(out)


_RESIDUAL_SUMS = exact._residual_sums


def _broken_no_gtg(gram, rows, L_c, rng):
    """Residual step without G^T G in E^T E."""
    We, EtE = _RESIDUAL_SUMS(gram, rows, L_c, rng)
    R = np.linalg.cholesky(gram).T
    G = np.linalg.solve(R.T, We)
    return We, EtE - G.T @ G


def _broken_no_kf(m, K, sum_v, sum_vv, We, EtE):
    """Assembly without the K F + F^T K^T cross term."""
    return Scatter(m, K @ sum_v + We[0], K @ sum_vv @ K.T + EtE)


@pytest.fixture(scope="module")
def filtered_reference():
    return _pairs_stats(MODEL.component_covariance(True), 120, 6000,
                        np.random.default_rng(11), keep=_keep)


@pytest.mark.parametrize("direct_rows", [0, 10_000], ids=["rotation", "direct"])
def test_filtered_scatter_entrywise(direct_rows, filtered_reference):
    ref = filtered_reference
    z_mean, z_var = _max_z(_filtered_exact(120, 6000, 12, direct_rows), ref)
    assert z_mean < 4.5 and z_var < 4.5


def test_filtered_scatter_broken_variants_are_rejected(monkeypatch,
                                                       filtered_reference):
    ref = filtered_reference
    with monkeypatch.context() as mp:
        mp.setattr(exact, "_residual_sums", _broken_no_gtg)
        z = _max_z(_filtered_exact(120, 6000, 12, 0), ref)
        assert max(z) > 8, z
    with monkeypatch.context() as mp:
        mp.setattr(exact, "_assemble", _broken_no_kf)
        z = _max_z(_filtered_exact(120, 6000, 12, 0), ref)
        assert max(z) > 8, z


def test_filtered_cells_partition_the_rows():
    rng = np.random.default_rng(3)
    cells = filtered_group_scatters(MODEL.component_covariance(False), 5000, MODEL.d,
                                    [M_FIXED, -M_FIXED], [0.0, 0.0], rng)
    assert sum(s.m for s in cells.values()) == 5000
    assert 3 not in cells  # no pair can score above 0 for both M and -M


# ------------------------------------------------------------------- whole trials vs pairs
METHODS = [("none", None), ("teacher-split", 0.0), ("oracle-clean", None),
           ("oracle-score", 0.5)]


def _trial_errs_exact(model, n, trials, seed):
    rng = np.random.default_rng(seed)
    errs, kept = [], []
    for _ in range(trials):
        t = exact_trial(model, n, METHODS, rng)
        errs.append([subspace_error(o.student, model.U, model.U_t).err for o in t.outcomes])
        kept.append([o.kept_fraction for o in t.outcomes])
    return np.array(errs), np.array(kept)


def _trial_errs_pairs(model, n, trials, seed):
    rng = np.random.default_rng(seed)
    errs, kept = [], []
    for _ in range(trials):
        sample = model.sample(n, rng)
        outs = [run_method(sample, m, model.r, theta=t, U=model.U, U_t=model.U_t)
                for m, t in METHODS]
        errs.append([subspace_error(o.student, model.U, model.U_t).err for o in outs])
        kept.append([o.kept_fraction for o in outs])
    return np.array(errs), np.array(kept)


@pytest.mark.slow
def test_trial_distributions_match_pairs():
    model = BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=4.0, eta=0.3, basis_seed=1)
    e_exact, k_exact = _trial_errs_exact(model, 400, 1500, 21)
    e_pairs, k_pairs = _trial_errs_pairs(model, 400, 1500, 22)
    for j, (method, _) in enumerate(METHODS):
        p_err = stats.ks_2samp(e_exact[:, j], e_pairs[:, j]).pvalue
        assert p_err > 1e-3, (method, p_err)
        if method in ("teacher-split", "oracle-score", "oracle-clean"):
            p_kept = stats.ks_2samp(k_exact[:, j], k_pairs[:, j]).pvalue
            assert p_kept > 1e-3, (method, p_kept)
        ratio = e_exact[:, j].mean() / e_pairs[:, j].mean()
        assert abs(ratio - 1) < 0.05, (method, ratio)


def test_trial_outcome_bookkeeping():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    t = exact_trial(model, 100_000, METHODS, np.random.default_rng(0))
    none, split, clean, oscore = t.outcomes
    assert none.n_kept == 100_000 and none.n_kept_clean == t.n_clean == clean.n_kept
    assert split.n_pool == 50_000 and split.teacher is not None
    assert 0 < split.n_kept < 50_000 and split.n_kept_clean <= split.n_kept
    assert oscore.n_pool == 100_000 and oscore.threshold == 0.5
    assert t.pairs_drawn == 100_000  # oracle score filters all pairs


def test_unfiltered_trial_is_o1_in_n():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    t = exact_trial(model, 10**12, [("none", None), ("oracle-clean", None)],
                    np.random.default_rng(0))
    assert t.pairs_drawn == 0
    err = subspace_error(t.outcomes[0].student, model.U, model.U_t).err
    assert err < 1e-5  # ~ 1/(eta sqrt(n)) scale, far below the n = 1e7 error


@pytest.mark.parametrize("methods, match", [
    ([("teacher", 0.0)], "no exact sampler"),
    ([("teacher-split", None)], "needs a threshold"),
    ([("none", 0.0)], "takes no threshold"),
    ([("bogus", None)], "method must be one of"),
    ([], "at least one"),
])
def test_exact_trial_bad_methods(methods, match):
    with pytest.raises(ValueError, match=match):
        exact_trial(MODEL, 100, methods, np.random.default_rng(0))


def test_exact_trial_too_few_kept():
    with pytest.raises(ValueError, match="r \\+ 1"):
        exact_trial(MODEL, 100, [("oracle-score", 1e6)], np.random.default_rng(0))


# ------------------------------------------------- one virtual data set per trial (pairing)
def _fisher_z(a: np.ndarray, b: np.ndarray) -> float:
    """z statistic for equal correlations of the two columns of ``a`` and of ``b``."""
    ra, rb = (np.corrcoef(x[:, 0], x[:, 1])[0, 1] for x in (a, b))
    return float((np.arctanh(ra) - np.arctanh(rb)) / np.sqrt(1 / (len(a) - 3)
                                                             + 1 / (len(b) - 3)))


@pytest.mark.slow
def test_methods_of_one_trial_share_one_data_set():
    """ERR(none) and ERR(oracle-clean) are correlated across trials as on generated pairs.

    Drawing each method from its own call gives each the right law but independent data
    sets (correlation 0); the same statistic must reject that.
    """
    model = BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=4.0, eta=0.3, basis_seed=1)
    methods = [("none", None), ("oracle-clean", None)]
    n, trials = 200, 1500

    def errs(outcomes):
        return [subspace_error(o.student, model.U, model.U_t).err for o in outcomes]

    rng = np.random.default_rng(31)
    pairs, joint, separate = [], [], []
    for _ in range(trials):
        sample = model.sample(n, rng)
        pairs.append(errs([run_method(sample, m, model.r, theta=t) for m, t in methods]))
        joint.append(errs(exact_trial(model, n, methods, rng).outcomes))
        separate.append(errs([exact_trial(model, n, [spec], rng).outcomes[0]
                              for spec in methods]))
    pairs, joint, separate = map(np.array, (pairs, joint, separate))
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.15  # there is pairing to keep
    assert abs(_fisher_z(joint, pairs)) < 3.5
    assert abs(_fisher_z(separate, pairs)) > 5
