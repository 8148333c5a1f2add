"""Tests for linclip.model (the data model, Assumptions 1-2) and linclip._validate."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import mixture_entry_se
from linclip import _validate as V
from linclip.learner import CrossCovarianceAccumulator, cross_covariance
from linclip.model import BimodalModel, PairSample, StreamingSample, random_orthonormal


# --------------------------------------------------------------------------- _validate helpers
class TestValidate:
    def test_check_int_accepts_and_converts(self):
        assert V.check_int("k", 3) == 3
        assert V.check_int("k", np.int64(5)) == 5
        out = V.check_int("k", 4.0)
        assert out == 4 and isinstance(out, int)
        assert V.check_int("k", 0, minimum=0) == 0
        assert V.check_int("k", 7, maximum=7) == 7

    @pytest.mark.parametrize("value", [2.5, "3", None, True, float("nan"), float("inf")])
    def test_check_int_rejects_non_integers(self, value):
        with pytest.raises(ValueError, match=r"^k must be an integer"):
            V.check_int("k", value)

    def test_check_int_range_message(self):
        with pytest.raises(ValueError, match=r"k must be an integer >= 1; got 0"):
            V.check_int("k", 0)
        with pytest.raises(ValueError, match=r"between 1 and 3 \(extra\); got 4"):
            V.check_int("k", 4, maximum=3, what=" (extra)")

    def test_check_real(self):
        assert V.check_real("t", -2) == -2.0
        for bad in [float("nan"), float("inf"), "1", True, None]:
            with pytest.raises(ValueError, match=r"^t must be a"):
                V.check_real("t", bad)

    def test_check_positive(self):
        assert V.check_positive("g", 2) == 2.0
        assert V.check_positive("g", math.inf, allow_inf=True) == math.inf
        for bad in [0, -1.0, float("nan"), math.inf, True, "2"]:
            with pytest.raises(ValueError, match=r"^g must be"):
                V.check_positive("g", bad)
        with pytest.raises(ValueError, match=r"in \(0, inf\]"):
            V.check_positive("g", -math.inf, allow_inf=True)

    def test_check_probability(self):
        assert V.check_probability("p", 1) == 1.0
        assert V.check_probability("p", 1e-12) == 1e-12
        assert V.check_fraction is V.check_probability
        for bad in [0.0, -0.1, 1.0000001, float("nan"), True, None]:
            with pytest.raises(ValueError, match=r"^p must be a probability in \(0, 1\]"):
                V.check_probability("p", bad)

    def test_check_finite_array(self):
        arr = V.check_finite_array("A", [[1, 2], [3, 4]], ndim=2)
        assert arr.dtype == float and arr.shape == (2, 2)
        with pytest.raises(ValueError, match=r"A must be a 2-D array; got shape \(3,\)"):
            V.check_finite_array("A", [1, 2, 3], ndim=2)
        with pytest.raises(ValueError, match=r"found 2 NaN or inf entries"):
            V.check_finite_array("A", [[np.nan, 1.0], [np.inf, 0.0]])


# ---------------------------------------------------------------------- random_orthonormal
@given(dim=st.integers(1, 12), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_random_orthonormal_has_orthonormal_columns(dim, data, seed):
    rank = data.draw(st.integers(1, dim))
    Q = random_orthonormal(dim, rank, np.random.default_rng(seed))
    assert Q.shape == (dim, rank)
    np.testing.assert_allclose(Q.T @ Q, np.eye(rank), atol=1e-12)


def test_random_orthonormal_is_haar_on_average():
    # For a Haar-random unit vector in R^3, E[q q^T] = I/3 and each coordinate is symmetric.
    # Without the sign fix of R's diagonal, numpy's QR returns a biased first coordinate.
    rng = np.random.default_rng(0)
    qs = np.array([random_orthonormal(3, 1, rng)[:, 0] for _ in range(4000)])
    # SE of a mean of q_1 (variance 1/3) over 4000 draws is ~0.009; 5 SE ~ 0.046.
    assert np.all(np.abs(qs.mean(axis=0)) < 0.046)


def test_random_orthonormal_rejects_rank_above_dim():
    with pytest.raises(ValueError, match="rank"):
        random_orthonormal(3, 4, np.random.default_rng(0))


# --------------------------------------------------------------------------- BimodalModel
class TestBimodalModelConstruction:
    def test_bases_orthonormal(self, small_model):
        m = small_model
        assert m.U.shape == (m.d, m.r) and m.U_t.shape == (m.d_t, m.r)
        np.testing.assert_allclose(m.U.T @ m.U, np.eye(m.r), atol=1e-12)
        np.testing.assert_allclose(m.U_t.T @ m.U_t, np.eye(m.r), atol=1e-12)

    def test_same_seed_same_bases_other_seed_other_bases(self):
        a = BimodalModel(7, 5, 3, basis_seed=11)
        b = BimodalModel(7, 5, 3, basis_seed=11, gamma=2.0)
        c = BimodalModel(7, 5, 3, basis_seed=12)
        np.testing.assert_array_equal(a.U, b.U)
        np.testing.assert_array_equal(a.U_t, b.U_t)
        assert np.linalg.norm(a.U - c.U) > 0.1

    def test_bases_are_read_only(self, small_model):
        with pytest.raises(ValueError):
            small_model.U[0, 0] = 1.0

    def test_with_eta_keeps_bases_and_noise(self, small_model):
        m2 = small_model.with_eta(0.1)
        assert m2.eta == 0.1 and m2.clean_fraction == 0.1
        assert (m2.d, m2.d_t, m2.r, m2.gamma, m2.gamma_t, m2.basis_seed) == (
            small_model.d,
            small_model.d_t,
            small_model.r,
            small_model.gamma,
            small_model.gamma_t,
            small_model.basis_seed,
        )
        np.testing.assert_array_equal(m2.U, small_model.U)
        np.testing.assert_array_equal(m2.U_t, small_model.U_t)
        assert small_model.eta == 0.6  # frozen original untouched

    def test_frozen(self, small_model):
        with pytest.raises(dataclasses.FrozenInstanceError):
            small_model.eta = 0.5

    def test_derived_scalars(self):
        m = BimodalModel(4, 3, 2, gamma=4.0, gamma_t=10.0)
        assert m.noise_var == 0.25 and m.noise_var_t == pytest.approx(0.1)
        assert m.snr_factor == pytest.approx(1.25 * 1.1)
        m_inf = BimodalModel(4, 3, 2, gamma=math.inf, gamma_t=math.inf)
        assert m_inf.noise_var == 0.0 and m_inf.snr_factor == 1.0

    def test_float_integer_dimensions_are_converted(self):
        m = BimodalModel(4.0, 3, 2)
        assert m.d == 4 and isinstance(m.d, int)

    @pytest.mark.parametrize(
        "kwargs, name",
        [
            (dict(eta=0.0), "eta"),
            (dict(eta=1.5), "eta"),
            (dict(eta=-0.2), "eta"),
            (dict(eta=float("nan")), "eta"),
            (dict(r=5), "r"),
            (dict(r=0), "r"),
            (dict(gamma=0.0), "gamma"),
            (dict(gamma=-1.0), "gamma"),
            (dict(gamma=float("nan")), "gamma"),
            (dict(gamma_t=0.0), "gamma_t"),
            (dict(d=4.5), "d"),
            (dict(d=0), "d"),
            (dict(d_t=2.5), "d_t"),
            (dict(basis_seed=-1), "basis_seed"),
        ],
    )
    def test_validation_names_the_parameter(self, kwargs, name):
        params = dict(d=6, d_t=4, r=2) | kwargs
        with pytest.raises(ValueError, match=rf"^{name}\b") as info:
            BimodalModel(**params)
        assert "got" in str(info.value)

    def test_r_message_states_the_allowed_range(self):
        with pytest.raises(ValueError, match=r"1 <= r <= min\(d, d_t\)"):
            BimodalModel(6, 4, 5)


class TestPopulationMoments:
    def test_closed_forms(self, small_model):
        m = small_model
        np.testing.assert_allclose(m.covariance_x(), m.U @ m.U.T + 0.25 * np.eye(6))
        np.testing.assert_allclose(m.covariance_xt(), m.U_t @ m.U_t.T + 0.125 * np.eye(5))
        np.testing.assert_allclose(m.cross_covariance(), 0.6 * m.U @ m.U_t.T)
        # the r-th singular value of the population cross-covariance is eta (brief §2)
        sv = np.linalg.svd(m.cross_covariance(), compute_uv=False)
        np.testing.assert_allclose(sv[: m.r], 0.6)
        np.testing.assert_allclose(sv[m.r :], 0.0, atol=1e-14)

    def test_component_and_joint_covariance(self, small_model):
        m = small_model
        clean, corrupt = m.component_covariance(True), m.component_covariance(False)
        assert clean.shape == corrupt.shape == (11, 11)
        np.testing.assert_allclose(clean[:6, 6:], m.U @ m.U_t.T)
        np.testing.assert_array_equal(corrupt[:6, 6:], 0.0)
        np.testing.assert_allclose(clean[:6, :6], corrupt[:6, :6])
        np.testing.assert_allclose(m.joint_covariance()[:6, 6:], m.cross_covariance())
        # both components are valid (positive semidefinite) covariances
        assert np.linalg.eigvalsh(clean).min() > -1e-12
        assert np.linalg.eigvalsh(corrupt).min() > 0


@pytest.fixture(scope="module")
def big_sample():
    """n = 200,000 pairs of a small model with visible noise (gamma = 2, gamma~ = 3)."""
    model = BimodalModel(d=4, d_t=3, r=2, gamma=2.0, gamma_t=3.0, eta=0.35, basis_seed=5)
    return model, model.sample(200_000, rng=np.random.default_rng(1))


class TestEmpiricalMoments:
    # Each entry of an empirical second moment (1/n) sum w_i w_j is a mean of n i.i.d. terms, so
    # its deviation from the population value is ~ N(0, SE^2) with SE computed exactly from the
    # mixture's fourth moments (conftest.mixture_entry_se). With ~30 entries per matrix and a
    # fixed seed, a 5-SE bound is essentially never violated by a correct sampler
    # (P(|Z| > 5) ~ 6e-7 per entry), yet a wrong factor (e.g. eta or gamma^-1/2 instead of
    # gamma^-1) moves entries by tens of SEs at n = 200k.
    Z = 5.0

    def _check(self, sample_w, components, expected):
        n = sample_w.shape[0]
        emp = sample_w.T @ sample_w / n
        se = mixture_entry_se(components, n)
        z = np.abs(emp - expected) / se
        assert z.max() < self.Z, f"max z-score {z.max():.2f}"

    def test_mixture_joint_covariance(self, big_sample):
        m, s = big_sample
        w = np.hstack([s.x, s.xt])
        comps = [(m.eta, m.component_covariance(True)), (1 - m.eta, m.component_covariance(False))]
        self._check(w, comps, m.joint_covariance())

    def test_marginal_and_cross_blocks(self, big_sample):
        m, s = big_sample
        n = s.n
        comps = [(m.eta, m.component_covariance(True)), (1 - m.eta, m.component_covariance(False))]
        se = mixture_entry_se(comps, n)
        for emp, pop, block in [
            (s.x.T @ s.x / n, m.covariance_x(), se[:4, :4]),
            (s.xt.T @ s.xt / n, m.covariance_xt(), se[4:, 4:]),
            (s.x.T @ s.xt / n, m.cross_covariance(), se[:4, 4:]),
        ]:
            assert np.max(np.abs(emp - pop) / block) < self.Z

    @pytest.mark.parametrize("clean", [True, False])
    def test_component_covariance_on_subsets(self, big_sample, clean):
        m, s = big_sample
        sub = s.subset(s.clean if clean else ~s.clean)
        K = m.component_covariance(clean)
        self._check(np.hstack([sub.x, sub.xt]), [(1.0, K)], K)

    def test_means_are_zero(self, big_sample):
        m, s = big_sample
        w = np.hstack([s.x, s.xt])
        se = np.sqrt(np.diag(m.joint_covariance()) / s.n)
        assert np.max(np.abs(w.mean(axis=0)) / se) < self.Z

    def test_clean_count_is_binomial(self, big_sample):
        m, s = big_sample
        z = (s.clean_count - s.n * m.eta) / math.sqrt(s.n * m.eta * (1 - m.eta))
        assert abs(z) < 4.0
        assert s.clean.dtype == bool and s.clean.shape == (s.n,)


def test_clean_pairs_share_latents_and_noiseless_limit():
    m = BimodalModel(6, 5, 3, gamma=math.inf, gamma_t=math.inf, eta=0.5, basis_seed=1)
    s = m.sample(2000, rng=3)
    # gamma = inf: x lies exactly in span(U) and x~ in span(U~)
    np.testing.assert_allclose(s.x - s.x @ m.U @ m.U.T, 0.0, atol=1e-12)
    np.testing.assert_allclose(s.xt - s.xt @ m.U_t @ m.U_t.T, 0.0, atol=1e-12)
    z, zt = s.x @ m.U, s.xt @ m.U_t
    np.testing.assert_allclose(z[s.clean], zt[s.clean], atol=1e-12)
    # corrupted latents are independent, so they differ
    assert np.all(np.linalg.norm(z[~s.clean] - zt[~s.clean], axis=1) > 1e-6)


def test_eta_one_means_all_clean():
    s = BimodalModel(4, 3, 2, eta=1.0).sample(500, rng=0)
    assert s.clean.all()


def test_sample_latents(small_model):
    z, zt, clean = small_model.sample_latents(300, np.random.default_rng(0))
    assert z.shape == zt.shape == (300, 2) and clean.shape == (300,)
    np.testing.assert_array_equal(z[clean], zt[clean])
    assert not np.any(np.all(z[~clean] == zt[~clean], axis=1))
    with pytest.raises(ValueError, match="^n "):
        small_model.sample_latents(-1, np.random.default_rng(0))


def test_sample_reproducible_and_shapes(small_model):
    a = small_model.sample(50, rng=9)
    b = small_model.sample(50, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.xt, b.xt)
    np.testing.assert_array_equal(a.clean, b.clean)
    assert a.x.shape == (50, 6) and a.xt.shape == (50, 5)
    empty = small_model.sample(0, rng=0)
    assert empty.n == 0 and empty.x.shape == (0, 6)


# ----------------------------------------------------------------------------- PairSample
def test_pair_sample_subset_split_chunks(small_model):
    s = small_model.sample(11, rng=4)
    assert isinstance(s, PairSample) and isinstance(s.subset(s.clean), PairSample)
    assert s.n == 11 and s.clean_count == int(s.clean.sum())
    first, rest = s.split(5)
    assert (first.n, rest.n) == (5, 6)
    np.testing.assert_array_equal(np.vstack([first.x, rest.x]), s.x)
    np.testing.assert_array_equal(np.concatenate([first.clean, rest.clean]), s.clean)
    idx = np.array([3, 1, 7])
    sub = s.subset(idx)
    np.testing.assert_array_equal(sub.xt, s.xt[idx])
    np.testing.assert_array_equal(sub.clean, s.clean[idx])
    chunks = list(s.chunks())
    assert len(chunks) == 1 and chunks[0] is s
    assert s.split(0)[0].n == 0 and s.split(11)[1].n == 0
    with pytest.raises(ValueError, match="n_first"):
        s.split(12)


# ---------------------------------------------------------------- chunked / streaming samples
@given(n=st.integers(1, 60), chunk=st.integers(1, 25), seed=st.integers(0, 10**6))
def test_sample_chunks_sizes_and_reproducibility(n, chunk, seed):
    m = BimodalModel(3, 2, 1, gamma=5.0, eta=0.5)
    first = list(m.sample_chunks(n, seed, chunk))
    second = list(m.sample_chunks(n, np.random.SeedSequence(seed), chunk))
    sizes = [c.n for c in first]
    assert sum(sizes) == n
    assert all(sz == chunk for sz in sizes[:-1]) and 1 <= sizes[-1] <= chunk
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.xt, b.xt)
        np.testing.assert_array_equal(a.clean, b.clean)


def test_sample_chunks_does_not_consume_a_seed_sequence(small_model):
    ss = np.random.SeedSequence(42)
    a = np.vstack([c.x for c in small_model.sample_chunks(30, ss, 7)])
    b = np.vstack([c.x for c in small_model.sample_chunks(30, ss, 7)])
    np.testing.assert_array_equal(a, b)
    other = np.vstack([c.x for c in small_model.sample_chunks(30, 43, 7)])
    assert not np.allclose(a, other)


def test_sample_chunks_validation(small_model):
    assert list(small_model.sample_chunks(0, 1)) == []
    with pytest.raises(ValueError, match="chunk_size"):
        list(small_model.sample_chunks(10, 1, chunk_size=0))
    with pytest.raises(ValueError, match="^n "):
        list(small_model.sample_chunks(-3, 1))


def test_streaming_sample_two_passes_identical(small_model):
    stream = StreamingSample(small_model, n=1001, seed=7, chunk_size=128)
    assert stream.x_dim == 6
    p1, p2 = list(stream.chunks()), list(stream.chunks())
    assert sum(c.n for c in p1) == 1001
    assert max(c.n for c in p1) <= 128
    np.testing.assert_array_equal(np.vstack([c.x for c in p1]), np.vstack([c.x for c in p2]))
    np.testing.assert_array_equal(np.vstack([c.xt for c in p1]), np.vstack([c.xt for c in p2]))
    # the realised clean fraction is Binomial(n, eta): z-score check
    clean = sum(c.clean_count for c in p1)
    assert abs(clean - 1001 * 0.6) / math.sqrt(1001 * 0.6 * 0.4) < 4


def test_streaming_sample_validation(small_model):
    with pytest.raises(ValueError, match="^n "):
        StreamingSample(small_model, n=0, seed=1)
    with pytest.raises(ValueError, match="chunk_size"):
        StreamingSample(small_model, n=10, seed=1, chunk_size=0)


def test_chunk_boundaries_do_not_change_the_cross_covariance(small_model):
    stream = StreamingSample(small_model, n=5000, seed=3, chunk_size=333)
    chunks = list(stream.chunks())
    x = np.vstack([c.x for c in chunks])
    xt = np.vstack([c.xt for c in chunks])
    acc = CrossCovarianceAccumulator(6, 5)
    for c in chunks:
        acc.update(c.x, c.xt)
    in_memory = cross_covariance(x, xt)
    np.testing.assert_allclose(acc.covariance(), in_memory, rtol=0, atol=1e-12)
    # and any other chunking of the same pairs (including empty and one-row chunks)
    cuts = [0, 1, 1, 2, 800, 2711, 4999, 5000]
    acc2 = CrossCovarianceAccumulator(6, 5)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        acc2.update(x[lo:hi], xt[lo:hi])
    assert acc2.n == 5000
    np.testing.assert_allclose(acc2.covariance(), in_memory, rtol=0, atol=1e-12)
