"""Exact sufficient-statistic samplers (``sampler="exact"``) against generated pairs.

Distributions, not only means: entry-wise tests of the mean *and* the variance of every entry
of the statistics, and two-sample tests of ERR and of the kept fraction through the engine.
Each power claim is backed by a deliberately broken sampler that the same test must reject
(the residual step is tested at γ = γ̃ = 1: at γ = 10⁴ the residual is O(1/γ) and its bugs are
invisible; see ``shared/design/exact-sampling.md`` §4).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from linclip.cli import main
from linclip.data import exact
from linclip.data.exact import (
    ExactSource,
    Scatter,
    exact_route,
    filtered_group_scatters,
    group_scatter,
    sample_cross_covariance,
    wishart_identity,
)
from linclip.data.model import BimodalModel
from linclip.data.sources import KeptRequest, MomentAccumulator, StatsRequest
from linclip.experiments.configs import ExperimentConfig, experiment_config
from linclip.experiments.grid import run_grid, run_trial, trial_samplers
from linclip.experiments.runner import load_trials, output_paths, run_experiment
from linclip.filters.engine import run_methods
from linclip.filters.scores import oracle_score_matrix
from linclip.filters.spec import MethodSpec

MODEL = BimodalModel(d=6, d_t=5, r=2, gamma=1.0, gamma_t=1.0, eta=0.5, basis_seed=4)
D = MODEL.d + MODEL.d_t
IU = np.triu_indices(D)


def _flat(s: Scatter) -> np.ndarray:
    return np.concatenate([s.total, s.second[IU]])


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
        30, w[20:].sum(0), w[20:].T @ w[20:]
    )
    assert np.allclose(half.second, s.second) and half.m == 50
    with pytest.raises(ValueError, match="at least 2"):
        Scatter(1, w[0], np.outer(w[0], w[0])).cross_covariance(6)
    with pytest.raises(ValueError, match="empty"):
        Scatter.empty(D).centred()


def test_moment_accumulator_from_sums_equals_added_pairs():
    sample = MODEL.sample(40, 3)
    w = np.hstack([sample.x, sample.xt])
    built = MomentAccumulator.from_sums(6, 5, 40, w.sum(0), w.T @ w, n_clean=7)
    added = MomentAccumulator(6, 5, full=True).add(sample)
    assert built.n == 40 and built.n_clean == 7
    for name in ("covariance", "covariance_x", "covariance_xt"):
        assert np.allclose(getattr(built, name)(), getattr(added, name)())
    with pytest.raises(ValueError, match="shapes"):
        MomentAccumulator.from_sums(6, 5, 40, w.sum(0)[:3], w.T @ w)


# ------------------------------------------------------------------------------ Wishart
@pytest.mark.parametrize("dof", [2, 9])
def test_wishart_diagonal_is_chi_square(dof):
    rng = np.random.default_rng(dof)
    draws = np.array([wishart_identity(dof, 4, rng) for _ in range(4000)])
    for i in range(4):
        assert stats.kstest(draws[:, i, i], stats.chi2(dof).cdf).pvalue > 1e-3
    off = draws[:, 0, 3]  # off-diagonal entries: mean 0, variance dof
    assert abs(off.mean()) < 4 * np.sqrt(dof / 4000)
    assert off.var() == pytest.approx(dof, rel=0.1)


def test_wishart_bad_input():
    with pytest.raises(ValueError, match="dof"):
        wishart_identity(-1, 3, np.random.default_rng(0))


def test_batch_sampler_still_works():
    """The 0.1.0 batch sampler of S_n (used by the asymptotics chapter) shares the module."""
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    S = sample_cross_covariance(model, 1000, rng=0, size=3)
    assert S.shape == (3, 10, 8)


# -------------------------------------------------------- the full scatter at n = 10 (§1)
def _full_scatter(acc: MomentAccumulator) -> np.ndarray:
    """The 66 entries of the centred scatter T of all pairs, from an accumulator."""
    n = acc.n
    C = np.block(
        [
            [acc.covariance_x(), acc.covariance()],
            [acc.covariance().T, acc.covariance_xt()],
        ]
    )
    return ((n - 1) * C)[IU]


def _exact_full(n: int, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    req = StatsRequest(all=True, full=True)
    return np.array(
        [
            _full_scatter(ExactSource(MODEL, n, rng).statistics(req, lambda *a: None).all)
            for _ in range(draws)
        ]
    )


def _pairs_full(n: int, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        s = MODEL.sample(n, rng)
        w = np.hstack([s.x, s.xt])
        w = w - w.mean(0)
        out.append((w.T @ w)[IU])
    return np.array(out)


def _broken_dof(L, m, rng):
    """Wishart with m degrees of freedom instead of m - 1 (a plausible off-by-one)."""
    k = L.shape[1]
    T = L @ exact._wishart(m, k, rng) @ L.T
    total = math.sqrt(m) * (L @ rng.standard_normal(k))
    return Scatter(m, total, T + np.outer(total, total) / m)


_GROUP = exact._group


def _broken_between(L, m, rng):
    """Forgets the group mean in the raw second moment: drops the between-group term."""
    s = _GROUP(L, m, rng)
    return Scatter(m, s.total, s.second - np.outer(s.total, s.total) / m)


@pytest.fixture(scope="module")
def full_reference():
    return _pairs_full(10, 12_000, 1)


def test_full_scatter_entrywise_at_n_10(full_reference, monkeypatch):
    z_mean, z_var = _max_z(_exact_full(10, 12_000, 2), full_reference)
    print(f"full scatter n=10: max|z| mean {z_mean:.2f}, variance {z_var:.2f}")
    assert z_mean < 4.5 and z_var < 4.5
    # Power: both broken samplers are rejected by the same statistic.
    for broken in (_broken_dof, _broken_between):
        with monkeypatch.context() as mp:
            mp.setattr(exact, "_group", broken)
            z = _max_z(_exact_full(10, 12_000, 2), full_reference)
        print(f"  broken {broken.__name__}: max|z| {max(z):.1f}")
        assert max(z) > 8, broken.__name__


def test_group_scatter_empty_and_single():
    cov = MODEL.component_covariance(False)
    rng = np.random.default_rng(0)
    assert group_scatter(cov, 0, rng).m == 0
    one = group_scatter(cov, 1, rng)
    assert np.allclose(one.second, np.outer(one.total, one.total))


# ------------------------------------------- the residual step at γ = γ̃ = 1 (§2, fixed M)
_M = oracle_score_matrix(MODEL.U, MODEL.U_t) + 0.1 * np.random.default_rng(9).normal(
    size=(MODEL.d, MODEL.d_t)
)
_u, _s, _vt = np.linalg.svd(_M)
M_FIXED = _u[:, :2] @ np.diag([1.2, 0.8]) @ _vt[:2]  # a fixed, imperfect rank-2 "teacher"
THETA = 0.3
M_ORACLE = oracle_score_matrix(MODEL.U, MODEL.U_t)


def _pairs_filtered(m, trials, seed):
    """Reference: generate rows, keep those above THETA under M_FIXED (cell 1 or 3), and the
    rows kept by M_FIXED but not by the oracle at 0 (cell 1)."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(MODEL.component_covariance(True))
    a, b = [], []
    for _ in range(trials):
        w = rng.standard_normal((m, D)) @ L.T
        k1 = np.einsum("ij,jk,ik->i", w[:, :6], M_FIXED, w[:, 6:]) > THETA
        k2 = np.einsum("ij,jk,ik->i", w[:, :6], M_ORACLE, w[:, 6:]) > 0
        a.append(np.concatenate([w[k1].sum(0), (w[k1].T @ w[k1])[IU]]))
        c = w[k1 & ~k2]
        b.append(np.concatenate([c.sum(0), (c.T @ c)[IU]]))
    return np.array(a), np.array(b)


def _exact_filtered(m, trials, seed, direct_rows=0):
    rng = np.random.default_rng(seed)
    cov = MODEL.component_covariance(True)
    a, b = [], []
    empty = Scatter.empty(D)
    for _ in range(trials):
        cells = filtered_group_scatters(
            cov, m, 6, [M_FIXED, M_ORACLE], [THETA, 0.0], rng, direct_rows=direct_rows
        )
        a.append(_flat(cells.get(1, empty) + cells.get(3, empty)))
        b.append(_flat(cells.get(1, empty)))
    return np.array(a), np.array(b)


_RESIDUAL_SUMS = exact._residual_sums


def _broken_no_gtg(gram, rows, L_c, rng):
    """Residual step without G^T G in E^T E."""
    We, EtE = _RESIDUAL_SUMS(gram, rows, L_c, rng)
    if rows is not None:  # small cells draw their rows directly (no rotation to break)
        return We, EtE
    R = np.linalg.cholesky(gram).T
    G = np.linalg.solve(R.T, We)
    return We, EtE - G.T @ G


def _broken_no_kf(m, K, sum_v, sum_vv, We, EtE):
    """Assembly without the K F + F^T K^T cross term."""
    return Scatter(m, K @ sum_v + We[0], K @ sum_vv @ K.T + EtE)


@pytest.fixture(scope="module")
def filtered_reference():
    return _pairs_filtered(120, 5000, 11)


@pytest.mark.parametrize("direct_rows", [0, 10_000], ids=["rotation", "direct"])
def test_residual_step_entrywise(direct_rows, filtered_reference):
    ref_a, ref_b = filtered_reference
    got_a, got_b = _exact_filtered(120, 5000, 12, direct_rows)
    za, zb = _max_z(got_a, ref_a), _max_z(got_b, ref_b)
    print(f"residual step ({direct_rows}): max|z| kept {za}, one cell {zb}")
    assert max(za) < 4.5 and max(zb) < 4.5


def test_residual_step_broken_variants_are_rejected(monkeypatch, filtered_reference):
    ref_a, _ = filtered_reference
    for name, broken in (("_residual_sums", _broken_no_gtg), ("_assemble", _broken_no_kf)):
        with monkeypatch.context() as mp:
            mp.setattr(exact, name, broken)
            z = _max_z(_exact_filtered(120, 5000, 12)[0], ref_a)
        print(f"broken {broken.__name__}: max|z| mean {z[0]:.1f}, variance {z[1]:.1f}")
        assert max(z) > 8, (broken.__name__, z)


# ------------------------------------- the joint law of (W^T E, E^T E) at small m (§2)
# The residual rows e_i ~ N(0, C) of a cell enter only through W^T E (its first row is the
# sum of e) and E^T E. A sampler can draw each of the two with the right marginal law and
# still get their joint law wrong (E^T E ~ Wishart(m, C) drawn apart from G: an O(1/m) error,
# invisible in S at large m). At small m the residual scatter H^T H = E^T E - (W^T E)^T
# (W^T W)^-1 (W^T E), Wishart(m - q, C) and independent of W^T E, exposes it: the wrong joint
# law inflates its variance by a factor of about (m + q)/(m - q).
_L_RES = np.array([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.4, 0.6], [0.2, -0.5, 0.9]])
_JOINT_CASES = [(2, 1), (3, 1), (5, 1), (3, 2), (5, 3)]  # (m, q)
_IU4 = np.triu_indices(4)


def _regressors(m: int, q: int) -> np.ndarray:
    """A fixed m × q regressor matrix [1, v_i^T] (full column rank)."""
    v = np.random.default_rng(100 * m + q).normal(size=(m, q - 1))
    return np.hstack([np.ones((m, 1)), v])


def _joint_stats(W: np.ndarray, We: np.ndarray, EtE: np.ndarray) -> np.ndarray:
    """Entries of W^T E, E^T E and the residual scatter H^T H (upper triangles), per draw."""
    HtH = EtE - We.transpose(0, 2, 1) @ np.linalg.solve(W.T @ W, We)
    return np.hstack([We.reshape(len(We), -1), EtE[:, _IU4[0], _IU4[1]], HtH[:, _IU4[0], _IU4[1]]])


def _joint_reference(m: int, q: int, draws: int, seed: int) -> np.ndarray:
    """The statistics of generated residual rows E (m × 4, rows iid N(0, L L^T))."""
    W = _regressors(m, q)
    E = np.random.default_rng(seed).standard_normal((draws, m, 3)) @ _L_RES.T
    return _joint_stats(W, W.T @ E, E.transpose(0, 2, 1) @ E)


def _joint_exact(m, q, draws, seed, residual_sums=None):
    W = _regressors(m, q)
    fn = residual_sums or exact._residual_sums
    rng = np.random.default_rng(seed)
    We, EtE = zip(*(fn(W.T @ W, None, _L_RES, rng) for _ in range(draws)), strict=True)
    return _joint_stats(W, np.array(We), np.array(EtE))


def _broken_independent(gram, rows, L_c, rng):
    """Right marginals, wrong joint law: E^T E ~ Wishart(m, C) drawn apart from W^T E."""
    We, _ = _RESIDUAL_SUMS(gram, rows, L_c, rng)
    m = int(round(gram[0, 0]))
    return We, L_c @ exact._wishart(m, L_c.shape[1], rng) @ L_c.T


def _broken_no_wishart(gram, rows, L_c, rng):
    """Drops the H^T H term: E^T E = G^T G only."""
    R = np.linalg.cholesky(gram).T
    G = rng.standard_normal((gram.shape[0], L_c.shape[1])) @ L_c.T
    return R.T @ G, G.T @ G


@pytest.fixture(scope="module")
def joint_reference():
    return {(m, q): _joint_reference(m, q, 6000, 31 + m + q) for m, q in _JOINT_CASES}


def _ks_residual_trace(got: np.ndarray, ref: np.ndarray) -> float:
    """KS p-value of tr(H^T H), the residual scatter's trace."""
    diag = [k for k, (i, j) in enumerate(zip(*_IU4, strict=True)) if i == j]
    cols = -len(_IU4[0]) + np.array(diag)
    return float(stats.ks_2samp(got[:, cols].sum(1), ref[:, cols].sum(1)).pvalue)


def test_residual_sums_joint_law_small_m(joint_reference):
    for (m, q), ref in joint_reference.items():
        got = _joint_exact(m, q, 6000, 7 + m + q)
        z_mean, z_var = _max_z(got, ref)
        ks = _ks_residual_trace(got, ref)
        print(f"m={m} q={q}: max|z| mean {z_mean:.2f}, variance {z_var:.2f}; KS p {ks:.3f}")
        assert z_mean < 4.5 and z_var < 4.5, (m, q, z_mean, z_var)
        assert ks > 1e-3, (m, q, ks)


@pytest.mark.parametrize("broken", [_broken_independent, _broken_no_wishart])
def test_residual_sums_joint_law_rejects_broken(broken, joint_reference):
    worst = []
    for (m, q), ref in joint_reference.items():
        got = _joint_exact(m, q, 6000, 7 + m + q, residual_sums=broken)
        z = max(_max_z(got, ref))
        ks = _ks_residual_trace(got, ref)
        print(f"{broken.__name__} m={m} q={q}: max|z| {z:.1f}, KS p {ks:.2g}")
        worst.append(z)
        assert z > 8, (broken.__name__, m, q, z)


def test_filtered_cells_partition_the_rows():
    rng = np.random.default_rng(3)
    cells = filtered_group_scatters(
        MODEL.component_covariance(False), 5000, MODEL.d, [M_FIXED, -M_FIXED], [0.0, 0.0], rng
    )
    assert sum(s.m for s in cells.values()) == 5000
    assert 3 not in cells  # no pair scores above 0 for both M and -M


def test_filtered_draws_do_not_depend_on_the_block_size():
    """The normals fill chunks of 256 rows whatever the block size, so any block gives the same virtual
    pairs: the same cells, the same sums up to rounding."""
    cov = MODEL.component_covariance(True)
    out = [
        filtered_group_scatters(
            cov, 3000, 6, [M_FIXED, M_ORACLE], [THETA, 0.0], np.random.default_rng(5), block=b
        )
        for b in (7, 1000, 1 << 13)
    ]
    for cells in out[1:]:
        assert cells.keys() == out[0].keys()
        for c, s in cells.items():
            assert s.m == out[0][c].m
            assert np.allclose(s.second, out[0][c].second, rtol=1e-12, atol=1e-9)


def test_filtered_bad_input():
    cov = MODEL.component_covariance(True)
    with pytest.raises(ValueError, match="equal length"):
        filtered_group_scatters(cov, 10, 6, [M_FIXED], [], np.random.default_rng(0))
    with pytest.raises(ValueError, match="block"):
        filtered_group_scatters(cov, 10, 6, [M_FIXED], [0.0], np.random.default_rng(0), block=0)


# --------------------------------------------------- whole trials through the engine
METHODS = [
    MethodSpec("none"),
    MethodSpec("teacher-split", theta=0.0),
    MethodSpec("oracle-clean"),
    MethodSpec("oracle-score", theta=0.5),
]


def _compare(trials: int, n: int) -> list[tuple]:
    model = BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=4.0)
    kw = dict(n=n, eta=0.3, methods=METHODS, trials=trials)
    ex = run_grid(model, sampler="exact", seed=1, **kw)
    pa = run_grid(model, sampler="pairs", seed=2, **kw)
    assert set(ex["sampler"]) == {"exact"} and set(pa["sampler"]) == {"pairs"}
    out = []
    for spec in METHODS:
        e = ex[ex["method"] == spec.method]
        p = pa[pa["method"] == spec.method]
        for col in ("err", "kept_fraction"):
            if col == "kept_fraction" and spec.method == "none":
                continue
            a, b = e[col].to_numpy(), p[col].to_numpy()
            ks = stats.ks_2samp(a, b).pvalue
            ratio = a.mean() / b.mean()
            se = ratio * math.sqrt(
                a.var() / a.mean() ** 2 / a.size + b.var() / b.mean() ** 2 / b.size
            )
            out.append((spec.method, col, ks, ratio, se))
            print(
                f"{spec.method:>14} {col:>13}: KS p = {ks:.3f}, mean ratio {ratio:.4f} ± {se:.4f}"
            )
    return out


def test_trial_distributions_match_pairs_quick():
    for method, col, ks, ratio, se in _compare(300, 400):
        assert ks > 1e-3, (method, col, ks)
        assert abs(ratio - 1) < 4 * se + 1e-12, (method, col, ratio, se)


@pytest.mark.slow
def test_trial_distributions_match_pairs():
    """3000 trials per sampler: the kept fractions' mean ratios have s.e. ≲ 0.1 %, so a 1 %
    bias would be a > 5σ miss; ERR's ratio s.e. is about 0.6 %."""
    for method, col, ks, ratio, se in _compare(3000, 1000):
        assert ks > 1e-3, (method, col, ks)
        assert abs(ratio - 1) < 4 * se, (method, col, ratio, se)
        if col == "kept_fraction":
            assert se < 0.002


def test_exact_source_bookkeeping():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    source = ExactSource(model, 100_000, seed=0, paired=True)
    none, split, clean, oscore = run_methods(source, METHODS, 4, U=model.U, U_t=model.U_t)
    assert none.n_kept == 100_000 and none.n_kept_clean == clean.n_kept
    assert split.n_pool == 50_000 and split.teacher is not None
    assert 0 < split.n_kept < 50_000 and split.n_kept_clean <= split.n_kept
    assert oscore.n_pool == 100_000 and oscore.threshold == 0.5
    assert source.pairs_drawn == 100_000  # the oracle score filters all pairs
    # a seed (not a Generator) draws the same virtual data set on every call
    again = run_methods(
        ExactSource(model, 100_000, seed=0, paired=True), METHODS, 4, U=model.U, U_t=model.U_t
    )
    assert [o.n_kept for o in again] == [o.n_kept for o in (none, split, clean, oscore)]


def test_unfiltered_trial_is_o1_in_n():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    source = ExactSource(model, 10**12, seed=0)
    none, clean = run_methods(source, ["none", "oracle-clean"], 4)
    assert source.pairs_drawn == 0 and none.n_kept == 10**12
    from linclip.metrics import subspace_error

    assert subspace_error(none.student, model.U, model.U_t).err < 1e-5


def test_pca_learner_on_exact_statistics():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    (out,) = run_methods(ExactSource(model, 10_000, seed=0), ["none"], 4, learner="pca")
    assert out.learner == "pca"


# ------------------------------------------------------------- no exact route, auto
@pytest.mark.parametrize(
    "spec, match",
    [
        (MethodSpec("teacher", theta=0.0), "full-sample teacher"),
        (MethodSpec("teacher-split", keep_fraction=0.3), "keep_fraction q = 0.3"),
        (MethodSpec("oracle-score", keep_fraction=0.5), "keep_fraction q = 0.5"),
    ],
)
def test_exact_refuses_methods_without_route(spec, match):
    assert exact_route(spec.method, spec.theta, spec.keep_fraction) is not None
    with pytest.raises(ValueError, match=match) as info:
        trial_samplers([spec], "exact")
    assert "'pairs'" in str(info.value) and "'auto'" in str(info.value)
    with pytest.raises(ValueError, match=match):
        run_grid(MODEL, n=200, eta=0.5, methods=[spec], trials=1, sampler="exact")
    # the source itself refuses too (no silent fallback)
    req = StatsRequest(kept=(KeptRequest(spec.method, "all", spec.theta, spec.keep_fraction),))
    with pytest.raises(ValueError, match="sampler='auto'"):
        ExactSource(MODEL, 200, 0).statistics(req, lambda *a: np.eye(6, 5))


def test_bad_sampler_name():
    with pytest.raises(
        ValueError, match="sampler must be one of pairs, exact, exact-paired, auto"
    ):
        trial_samplers(["none"], "fast")
    with pytest.raises(ValueError, match="sampler must be one of"):
        experiment_config("fig3a", "paper", sampler="fast")
    with pytest.raises(ValueError, match="BimodalModel"):
        ExactSource("model", 10)


def test_auto_falls_back_per_method_and_says_so():
    specs = [MethodSpec("none"), MethodSpec("teacher", theta=0.0), MethodSpec("oracle-clean")]
    assert trial_samplers(specs, "auto") == ["exact", "pairs", "exact"]
    rows = run_trial(MODEL, 400, 0, specs, sampler="auto")
    assert [r["method"] for r in rows] == ["none", "teacher", "oracle-clean"]
    assert [r["sampler"] for r in rows] == ["exact", "pairs", "exact"]
    # the pairs rows are exactly those of sampler="pairs"
    pairs = run_trial(MODEL, 400, 0, specs, sampler="pairs")
    assert rows[1] == {**pairs[1], "sampler": "pairs"}
    with pytest.raises(ValueError, match="book-scale|full-sample teacher"):
        experiment_config("fig3a", "book", sampler="exact")
    assert experiment_config("fig3a", "book", sampler="auto").samplers() == [
        "exact",
        "exact",
        "pairs",
        "exact",
    ]


# ----------------------------------------------------------------- runner and resume
def _tiny(sampler: str = "exact", trials: int = 2) -> ExperimentConfig:
    return ExperimentConfig(
        "fig3a",
        "paper",
        2000,
        (1.0, 0.3),
        (
            MethodSpec("none"),
            MethodSpec("teacher-split", theta=0.0),
            MethodSpec("oracle-clean"),
            MethodSpec("oracle-score", theta=0.0),
        ),
        trials,
        d=6,
        d_t=5,
        r=2,
        gamma=20.0,
        gamma_t=20.0,
        sampler=sampler,
    )


def test_runner_records_sampler_and_resumes(tmp_path):
    cfg = _tiny()
    fresh = run_experiment(cfg, tmp_path / "fresh")
    assert set(fresh["sampler"]) == {"exact"}
    calls = []

    def interrupted(config, eta, trial):
        from linclip.experiments.runner import _run_task

        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append((eta, trial))
        return _run_task(config, eta, trial)

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "resumed", task_fn=interrupted)
    run_experiment(cfg, tmp_path / "resumed")
    a = output_paths(cfg, tmp_path / "fresh")["trials"].read_bytes()
    b = output_paths(cfg, tmp_path / "resumed")["trials"].read_bytes()
    assert a == b
    log = json.loads(output_paths(cfg, tmp_path / "resumed")["run"].read_text())
    assert log["experiment"]["sampler"] == "exact"
    assert [s["sampler"] for s in log["sessions"]] == ["exact", "exact"]
    assert log["sessions"][0]["machine"]["linclip"]


def test_resume_with_other_sampler_is_refused(tmp_path):
    run_experiment(_tiny("exact", 1), tmp_path)
    run_log = output_paths(_tiny(), tmp_path)["run"]
    with pytest.raises(ValueError, match="sampler 'exact'.*must not be mixed") as info:
        run_experiment(_tiny("pairs", 1), tmp_path)
    assert str(run_log) in str(info.value)
    # with the run log gone, the CSV's sampler column still refuses
    run_log.unlink()
    trials = output_paths(_tiny(), tmp_path)["trials"]
    with pytest.raises(ValueError, match="must not be mixed") as info:
        run_experiment(_tiny("pairs", 1), tmp_path)
    assert str(trials) in str(info.value)


def test_old_csv_without_sampler_column(tmp_path):
    cfg = _tiny("pairs", 1)
    frame = run_experiment(cfg, tmp_path)
    path = output_paths(cfg, tmp_path)["trials"]
    old = frame.drop(columns=["sampler"])
    old.to_csv(path, index=False)
    assert list(load_trials(path)["sampler"].unique()) == ["pairs"]
    with pytest.raises(ValueError, match="before the sampler column"):
        run_experiment(cfg, tmp_path)


# ------------------------------------------------------------------------------- CLI
def _simulate(capsys, *argv):
    code = main(["simulate", "--n", "2000", "--trials", "2", "--json", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "method, sampler, used",
    [
        ("teacher-split", "exact", "exact"),
        ("none", "exact", "exact"),
        ("teacher", "auto", "pairs"),
        ("oracle-score", "pairs", "pairs"),
    ],
)
def test_cli_simulate_sampler(capsys, method, sampler, used):
    code, out, _ = _simulate(capsys, "--method", method, "--sampler", sampler)
    assert code == 0
    result = json.loads(out)
    assert result["sampler"] == used and result["params"]["sampler"] == sampler
    assert 0 < result["err_mean"] < 1


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--method", "teacher"], "full-sample teacher"),
        (["--method", "teacher-split", "--keep-fraction", "0.3"], "keep_fraction q = 0.3"),
    ],
)
def test_cli_simulate_exact_without_route_exits_2(capsys, argv, match):
    code, _, err = _simulate(capsys, "--sampler", "exact", *argv)
    assert code == 2 and err.count("\n") == 1
    assert match in err and "auto" in err


def test_cli_sampler_choices_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--sampler", "fast"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    for command in ("simulate", "reproduce"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "--sampler {pairs,exact,exact-paired,auto}" in text


def test_cli_reproduce_exact_refuses_book_fig3a(tmp_path, capsys):
    code = main(
        ["reproduce", "fig3a", "--sampler", "exact", "--no-progress", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "teacher" in err and "auto" in err


def test_cli_reproduce_paper_exact_and_mismatched_resume(tmp_path, capsys, monkeypatch):
    import linclip.experiments.configs as configs

    real = configs.experiment_config

    def small(name, scale="book", **kw):  # paper definition at n = 3000, two eta
        from dataclasses import replace

        return replace(real(name, scale, **kw), n=3000, etas=(1.0, 0.1))

    monkeypatch.setattr(configs, "experiment_config", small)
    argv = ["reproduce", "fig3a", "--scale", "paper", "--trials", "1", "--no-progress"]
    out = ["--out", str(tmp_path)]
    assert main([*argv, "--sampler", "exact", "--json", *out]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sampler"] == "exact" and set(result["samplers"].values()) == {"exact"}
    frame = load_trials(tmp_path / "fig3a_paper_trials.csv")
    assert set(frame["method"]) == {"none", "teacher-split", "oracle-clean", "oracle-score"}
    assert set(frame["sampler"]) == {"exact"}
    assert main([*argv, "--sampler", "pairs", *out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fig3a_paper_run.json" in err and "sampler" in err
