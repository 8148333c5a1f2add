"""The compiled loop of the filtered exact sampler, the fold and both exact samplers end to end.

* The kernel (:mod:`linclip.data._kernel`) must be an accelerator only: NumPy's normal
  stream bit for bit, and the same cells and sums as the NumPy loop for the same inputs.
* The fold (draw only the corrupted pairs with a positive score, Binomial(m, 1/2) of them,
  reflected) must give the law of the kept rows of per-pair generation, entry by entry; three
  plausible bugs (no reflection, a fixed count m/2, a basis in which the swap is not the
  reflection) must be rejected by the same test.
* The unpaired sampler must give the same laws of ERR and of the kept fraction as generated
  pairs, through the engine.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from linclip.cli import main
from linclip.data import _kernel, exact
from linclip.data.exact import ExactSource, Scatter, filtered_group_scatters
from linclip.data.model import BimodalModel
from linclip.experiments.grid import run_grid
from linclip.filters.engine import run_methods
from linclip.filters.scores import oracle_score_matrix
from linclip.filters.spec import MethodSpec

# gamma = 1: the residual carries as much variance as the signal, so errors show (see
# tests/test_exact.py).
MODEL = BimodalModel(d=6, d_t=5, r=2, gamma=1.0, gamma_t=1.0, eta=0.5, basis_seed=4)
D = MODEL.d + MODEL.d_t
IU = np.triu_indices(D)
_u, _s, _vt = np.linalg.svd(
    oracle_score_matrix(MODEL.U, MODEL.U_t) + 0.1 * np.random.default_rng(9).normal(size=(6, 5))
)
M_FIXED = _u[:, :2] @ np.diag([1.2, 0.8]) @ _vt[:2]  # a fixed, imperfect rank-2 "teacher"
M_ORACLE = oracle_score_matrix(MODEL.U, MODEL.U_t)
M_RANK3 = _u[:, :3] @ np.diag([1.2, 0.8, 0.5]) @ _vt[:3]  # 2r = 6 coordinates: padded to 8

needs_jit = pytest.mark.skipif(_kernel.numba is None, reason="numba is not installed")


def _sfc(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.SFC64(seed))


# ------------------------------------------------------------------ the kernel's stream
@needs_jit
@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_kernel_normals_are_numpys_stream(seed):
    got, ref = _sfc(seed), _sfc(seed)
    out = np.empty(200_003)  # long enough to pass through the ziggurat's tail and wedges
    _kernel.fill_normals(got, out)
    assert np.array_equal(out, ref.standard_normal(out.size))
    assert np.abs(out).max() > 3.6541528853610088  # a draw from the tail (beyond r)
    # the generator's state was written back: later NumPy draws continue the same stream
    assert np.array_equal(got.standard_normal(5), ref.standard_normal(5))
    assert got.binomial(10**6, 0.3) == ref.binomial(10**6, 0.3)


@needs_jit
def test_kernel_only_for_sfc64(monkeypatch):
    assert _kernel.available(_sfc(0))
    assert not _kernel.available(np.random.default_rng(0))  # PCG64: the NumPy loop
    monkeypatch.setenv("LINCLIP_NO_JIT", "1")
    assert not _kernel.available(_sfc(0))


_CASES = {
    "one filter": (True, [M_FIXED], [0.3], False, None),
    "two filters": (True, [M_FIXED, M_ORACLE], [0.3, 0.0], False, None),
    "two thresholds": (True, [M_FIXED, M_FIXED], [0.0, 0.8], False, None),
    "kept cells only": (False, [M_FIXED, M_ORACLE], [0.0, 0.0], False, [1, 2, 3]),
    "fold": (False, [M_FIXED], [0.0], True, None),
    "fold, two thresholds": (False, [M_ORACLE, M_ORACLE], [0.0, 0.5], True, None),
    # the kernel's three ways to sum a block: masked (one needed cell, mixed blocks),
    # gathered per cell (several needed cells), whole (fold at 0: every row kept)
    "one kept cell, masked": (True, [M_FIXED], [0.3], False, [1]),
    "rank 3, two kept cells": (True, [M_RANK3, M_FIXED], [0.2, 0.0], False, [1, 3]),
    "rank 3, fold": (False, [M_RANK3], [0.0], True, None),
}


@needs_jit
@pytest.mark.parametrize("m", [9, 768, 40_000])
@pytest.mark.parametrize("case", list(_CASES))
def test_kernel_matches_the_numpy_loop(case, m):
    """Same inputs and generator state: the same cells, counts and sums, and the same state
    afterwards (m = 9 keeps every cell below the direct-rows limit)."""
    clean, mats, thetas, fold, cells = _CASES[case]
    cov = MODEL.component_covariance(clean)
    out, after = [], []
    for jit in (False, True):
        rng = _sfc(5)
        out.append(
            filtered_group_scatters(cov, m, 6, mats, thetas, rng, fold=fold, cells=cells, jit=jit)
        )
        after.append(rng.standard_normal(3))
    ref, got = out
    assert got.keys() == ref.keys() and len(ref) >= 1
    for c, s in ref.items():
        assert got[c].m == s.m
        assert np.allclose(got[c].total, s.total, rtol=1e-10, atol=1e-9)
        assert np.allclose(got[c].second, s.second, rtol=1e-10, atol=1e-9)
    assert np.array_equal(after[0], after[1])
    if cells is not None:
        assert set(ref) <= set(cells)


# ------------------------------------------------------------------------------ the fold
THETAS = (0.0, 0.4)


def _flat(s: Scatter) -> np.ndarray:
    return np.concatenate([[s.m], s.total, s.second[IU]])


def _pairs_kept(m: int, theta: float, trials: int, seed: int) -> np.ndarray:
    """Reference: generate m corrupted pairs, keep those scoring above theta."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(MODEL.component_covariance(False))
    out = []
    for _ in range(trials):
        w = rng.standard_normal((m, D)) @ L.T
        k = np.einsum("ij,jk,ik->i", w[:, :6], M_FIXED, w[:, 6:]) > theta
        out.append(_flat(Scatter(int(k.sum()), w[k].sum(0), w[k].T @ w[k])))
    return np.array(out)


def _fold_kept(m: int, theta: float, trials: int, seed: int) -> np.ndarray:
    rng = _sfc(seed)
    cov = MODEL.component_covariance(False)
    out = []
    for _ in range(trials):
        cells = filtered_group_scatters(cov, m, 6, [M_FIXED], [theta], rng, fold=True)
        out.append(_flat(cells.get(1, Scatter.empty(D))))
    return np.array(out)


def _max_z(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |z| over entries, for equal means and for equal variances."""
    za = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
    da, db = (a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2
    zv = (da.mean(0) - db.mean(0)) / np.sqrt(da.var(0) / len(a) + db.var(0) / len(b))
    return float(max(np.abs(za).max(), np.abs(zv).max()))


@pytest.fixture(scope="module")
def fold_reference():
    return {theta: _pairs_kept(60, theta, 4000, 21 + i) for i, theta in enumerate(THETAS)}


_SUMS = exact._cell_sums_numpy
_BASIS = exact._fold_basis


def _broken_no_reflection(rng, m, lam, proj, mu, seg, thetas, fold, need, limit, block=8192):
    """Draws the Binomial(m, 1/2) rows but forgets to reflect the negative ones."""
    return _SUMS(rng, m, lam, proj, mu, seg, thetas, False, need, limit, block=block)


def _broken_basis(cov, P, n_a, core):
    """The weights in eigh's ascending order: swapping halves then pairs -s1 with +s2."""
    L_p, lam = _BASIS(cov, P, n_a, core)
    order = np.argsort(lam)
    return L_p[:, order], lam[order]


def _broken_half(m, rng):
    return m // 2  # the expected count instead of a binomial draw


@pytest.mark.parametrize("theta", THETAS)
def test_fold_gives_the_law_of_the_kept_rows(theta, fold_reference):
    for jit in [False, True] if _kernel.numba is not None else [False]:
        with pytest.MonkeyPatch.context() as mp:
            if not jit:
                mp.setenv("LINCLIP_NO_JIT", "1")
            z = _max_z(_fold_kept(60, theta, 4000, 3), fold_reference[theta])
        print(f"fold at theta = {theta} (jit {jit}): max|z| {z:.2f}")
        assert z < 4.5


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("_cell_sums_numpy", _broken_no_reflection),
        ("_fold_basis", _broken_basis),
        ("_positive_count", _broken_half),
    ],
)
def test_fold_broken_variants_are_rejected(name, broken, fold_reference, monkeypatch):
    monkeypatch.setenv("LINCLIP_NO_JIT", "1")  # the NumPy loop is the one patched
    monkeypatch.setattr(exact, name, broken)
    z = _max_z(_fold_kept(60, 0.0, 4000, 3), fold_reference[0.0])
    print(f"broken {broken.__name__}: max|z| {z:.1f}")
    assert z > 6  # measured: 184 (no reflection), 7.9 (basis), 45 (fixed count)


def test_fold_refuses_what_it_cannot_fold():
    rng = np.random.default_rng(0)
    corrupted, clean = MODEL.component_covariance(False), MODEL.component_covariance(True)
    with pytest.raises(ValueError, match="corrupted component"):
        filtered_group_scatters(clean, 10, 6, [M_FIXED], [0.0], rng, fold=True)
    with pytest.raises(ValueError, match="theta >= 0"):
        filtered_group_scatters(corrupted, 10, 6, [M_FIXED], [-0.5], rng, fold=True)
    with pytest.raises(ValueError, match="one score matrix"):
        filtered_group_scatters(corrupted, 10, 6, [M_FIXED, M_ORACLE], [0.0, 0.0], rng, fold=True)
    with pytest.raises(ValueError, match="cells"):
        filtered_group_scatters(corrupted, 10, 6, [M_FIXED], [0.0], rng, cells=[2])


# ------------------------------------------------- both exact samplers, end to end
METHODS = [
    MethodSpec("none"),
    MethodSpec("teacher-split", theta=0.0),
    MethodSpec("oracle-clean"),
    MethodSpec("oracle-score", theta=0.0),
    MethodSpec("oracle-score", theta=0.5),
]


def test_paired_trials_match_pairs():
    """KS tests and mean ratios of ERR and of the kept fraction, ``exact-paired`` vs pairs
    (``tests/test_exact.py`` does the same for ``exact``, the unpaired sampler)."""
    model = BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=4.0)
    kw = dict(methods=METHODS, n=400, eta=0.3, trials=300, jobs=1)
    ex = run_grid(model, sampler="exact-paired", seed=1, **kw)
    pa = run_grid(model, sampler="pairs", seed=2, **kw)
    assert set(ex["sampler"]) == {"exact-paired"} and set(pa["sampler"]) == {"pairs"}
    for spec in METHODS:
        theta = -1.0 if spec.theta is None else spec.theta
        sel = (ex["method"] == spec.method) & (ex["theta"].fillna(-1.0) == theta)
        ref = (pa["method"] == spec.method) & (pa["theta"].fillna(-1.0) == theta)
        for col in ("err", "kept_fraction"):
            if col == "kept_fraction" and spec.method == "none":
                continue
            a, b = ex.loc[sel, col].to_numpy(), pa.loc[ref, col].to_numpy()
            assert a.size == b.size == 300
            ks = stats.ks_2samp(a, b).pvalue
            ratio = a.mean() / b.mean()
            se = ratio * np.sqrt(
                a.var() / a.mean() ** 2 / a.size + b.var() / b.mean() ** 2 / b.size
            )
            print(f"{spec.label:>22} {col:>13}: KS p = {ks:.3f}, ratio {ratio:.4f} ± {se:.4f}")
            assert ks > 1e-3, (spec.label, col, ks)
            assert abs(ratio - 1) < 4 * se + 1e-12, (spec.label, col, ratio, se)


def test_unpaired_source_bookkeeping():
    model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    source = ExactSource(model, 100_000, seed=0)  # paired=False, sampler="exact"
    assert source.sampler == "exact" and not source.paired
    assert ExactSource(model, 10, paired=True).sampler == "exact-paired"
    none, split, clean, o0, o5 = run_methods(source, METHODS, 4, U=model.U, U_t=model.U_t)
    assert none.n_kept == 100_000 and none.n_kept_clean == clean.n_kept
    assert split.n_pool == 50_000 and 0 < split.n_kept < 50_000
    assert o0.n_pool == o5.n_pool == 100_000 and o5.n_kept < o0.n_kept  # one draw, nested
    # each filter on its own data set: the oracle score's clean count is not the sample's
    assert o0.n_kept_clean != none.n_kept_clean
    # the pairs of both filtered groups: Algorithm 1's half and the oracle score's n
    assert source.pairs_drawn == 50_000 + 100_000
    again = run_methods(
        ExactSource(model, 100_000, seed=0, paired=False), METHODS, 4, U=model.U, U_t=model.U_t
    )
    assert [o.n_kept for o in again] == [o.n_kept for o in (none, split, clean, o0, o5)]
    with pytest.raises(ValueError, match="paired must be True or False"):
        ExactSource(model, 100, paired="no")  # type: ignore[arg-type]


def test_cli_simulate_exact_paired(tmp_path, capsys):
    out = tmp_path / "run.csv"
    argv = ["simulate", "--n", "2000", "--trials", "2", "--method", "oracle-score"]
    code = main([*argv, "--sampler", "exact-paired", "--out", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["sampler"] == "exact-paired"
    assert set(pd.read_csv(out)["sampler"]) == {"exact-paired"}


def test_former_sampler_name_is_refused_with_the_new_one(tmp_path, capsys):
    """``exact-unpaired`` was renamed ``exact``: a clear error (exit 2), never a traceback."""
    argv = ["simulate", "--n", "2000", "--trials", "1", "--sampler", "exact-unpaired"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path / "x.csv")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "'exact-unpaired' is now called 'exact'" in err and "Traceback" not in err
    from linclip.cli.common import _RENAMED

    assert _RENAMED == exact.RENAMED_SAMPLERS
    with pytest.raises(ValueError, match="'exact-unpaired' is now called 'exact'"):
        run_grid(BimodalModel(d=6, d_t=5, r=2), n=100, eta=0.5, trials=1, sampler="exact-unpaired")
