"""The one engine against independent references: literal per-pair computations at small n."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linclip import BimodalModel, MethodSpec, fit, fit_pca, subspace_error
from linclip.data.model import PairSample, StreamingSample
from linclip.data.sources import KeptRequest, PairsSource, StatsRequest, as_source
from linclip.filters.engine import run_methods, run_methods_with_stats
from linclip.filters.scores import kept_count, oracle_score_matrix, teacher_score_matrix

R = 2
MODEL = BimodalModel(d=6, d_t=5, r=R, gamma=5.0, gamma_t=8.0, eta=0.4, basis_seed=3)
N = 1_001  # odd: the halves differ in size


def _sample(n=N, seed=5):
    return MODEL.sample(n, np.random.default_rng(seed))


def _reference(sample: PairSample, spec: MethodSpec):
    """Algorithm 1 and friends written out pair by pair with the public primitives."""
    x, xt, clean = sample.x, sample.xt, sample.clean
    n = sample.n
    n1 = n // 2
    teacher = None
    if spec.method == "none":
        keep = np.ones(n, bool)
        pool = slice(None)
    elif spec.method == "oracle-clean":
        keep, pool = clean.copy(), slice(None)
    else:
        if spec.method == "teacher":
            teacher = fit(x, xt, R)
            pool = slice(None)
        elif spec.method == "teacher-split":
            teacher = fit(x[:n1], xt[:n1], R)
            pool = slice(n1, None)
        else:
            pool = slice(None)
        M = (
            oracle_score_matrix(MODEL.U, MODEL.U_t)
            if teacher is None
            else teacher_score_matrix(teacher)
        )
        px, pxt = x[pool], xt[pool]
        scores = np.array([px[i] @ M @ pxt[i] for i in range(px.shape[0])])
        if spec.theta is not None:
            keep = scores > spec.theta
        else:
            k = kept_count(spec.keep_fraction, scores.size)
            keep = np.zeros(scores.size, bool)
            keep[np.argsort(-scores)[:k]] = True
        x, xt, clean = px, pxt, clean[pool]
    student = fit(x[keep], xt[keep], R)
    return student, int(keep.sum()), int(clean[keep].sum()), teacher


SPECS = [
    MethodSpec("none"),
    MethodSpec("oracle-clean"),
    MethodSpec("teacher"),
    MethodSpec("teacher-split"),
    MethodSpec("oracle-score", theta=0.5),
    MethodSpec("teacher", keep_fraction=0.3),
    MethodSpec("teacher-split", keep_fraction=0.2),
    MethodSpec("oracle-score", keep_fraction=0.5),
]


@pytest.mark.parametrize("chunk_size", [None, 97, 500, 2000])
def test_engine_matches_per_pair_reference(chunk_size):
    if chunk_size is None:
        sample = _sample()
        data: object = sample
    else:
        stream = StreamingSample(MODEL, N, 17, chunk_size=chunk_size)
        chunks = list(stream.chunks())
        sample = PairSample(
            np.concatenate([c.x for c in chunks]),
            np.concatenate([c.xt for c in chunks]),
            np.concatenate([c.clean for c in chunks]),
        )
        data = stream
    outcomes = run_methods(data, SPECS, R, U=MODEL.U, U_t=MODEL.U_t)
    for spec, out in zip(SPECS, outcomes, strict=True):
        student, n_kept, n_clean, teacher = _reference(sample, spec)
        assert out.n_kept == n_kept, spec
        assert out.n_kept_clean == n_clean, spec
        ref = subspace_error(student, MODEL.U, MODEL.U_t)
        got = subspace_error(out.student, MODEL.U, MODEL.U_t)
        assert got.err == pytest.approx(ref.err, rel=1e-9, abs=1e-12), spec
        if teacher is not None:
            np.testing.assert_allclose(
                out.teacher.score_matrix, teacher.score_matrix, rtol=1e-9, atol=1e-12
            )


def _generated(specs, n=20_000, chunk_size=3_000):
    source = PairsSource(StreamingSample(MODEL, n, 2, chunk_size=chunk_size))
    run_methods(source, specs, R, U=MODEL.U, U_t=MODEL.U_t)
    return source.pairs_generated


def test_teacher_split_generates_n_pairs():
    n = 20_000
    assert _generated([MethodSpec("teacher-split")]) == n
    assert (
        _generated(
            ["none", "teacher-split", "oracle-clean", MethodSpec("oracle-score", theta=0.0)]
        )
        == n
    )
    # A full-sample teacher must see every pair before it can filter: two passes.
    assert _generated([MethodSpec("teacher")]) == 2 * n
    # A top-q cut is known after every score: the second half is generated again (from the
    # chunk holding pair n/2 on).
    start = (n // 2) // 3_000 * 3_000
    assert _generated([MethodSpec("teacher-split", keep_fraction=0.3)]) == n + (n - start)


def test_in_memory_source_generates_nothing_more():
    source = PairsSource(_sample())
    run_methods(source, SPECS, R, U=MODEL.U, U_t=MODEL.U_t)
    assert source.pairs_generated == 0


def test_sample_clean_count_in_one_pass():
    sample = _sample()
    _, stats = run_methods_with_stats(sample, [MethodSpec("teacher-split")], R)
    assert stats.sample_clean == sample.clean_count


def test_pca_learner_matches_fit_pca():
    sample = _sample()
    (out,) = run_methods(sample, ["none"], R, learner="pca")
    ref = fit_pca(sample.x, sample.xt, R)
    a = subspace_error(out.student, MODEL.U, MODEL.U_t)
    b = subspace_error(ref, MODEL.U, MODEL.U_t)
    assert a.err == pytest.approx(b.err, rel=1e-8)
    assert out.learner == "pca"


def test_pca_student_teacher_stays_contrastive():
    sample = _sample()
    lin, pca = (
        run_methods(sample, ["teacher-split"], R, learner=lrn)[0] for lrn in ("linear", "pca")
    )
    np.testing.assert_array_equal(lin.teacher.score_matrix, pca.teacher.score_matrix)
    assert lin.n_kept == pca.n_kept
    half = sample.subset(slice(N // 2, None))
    keep = np.einsum("ij,ij->i", half.x @ teacher_score_matrix(lin.teacher), half.xt) > 0
    ref = fit_pca(half.x[keep], half.xt[keep], R)
    assert subspace_error(pca.student, MODEL.U, MODEL.U_t).err == pytest.approx(
        subspace_error(ref, MODEL.U, MODEL.U_t).err, rel=1e-8
    )


def test_own_data_without_labels():
    sample = _sample()
    outs = run_methods((sample.x, sample.xt), ["none", MethodSpec("teacher-split", theta=0.0)], R)
    assert all(o.n_kept_clean is None and o.kept_clean_fraction is None for o in outs)
    with pytest.raises(ValueError, match="labels"):
        run_methods((sample.x, sample.xt), ["oracle-clean"], R)


def test_engine_validation():
    sample = _sample()
    with pytest.raises(ValueError, match="learner must be one of"):
        run_methods(sample, ["none"], R, learner="svm")
    with pytest.raises(ValueError, match="single value"):
        run_methods(sample, "none", R)
    with pytest.raises(ValueError, match="data must be"):
        as_source([1, 2, 3])
    with pytest.raises(ValueError, match="exactly one"):
        KeptRequest("teacher", "all")
    with pytest.raises(ValueError, match="scorer"):
        KeptRequest("svm", "all", theta=0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="none", theta=1.0), "does not filter"),
        (dict(method="teacher", theta=1, keep_fraction=0.5), "at most one"),
        (dict(method="teacher", keep_fraction=1.5), "keep_fraction"),
        (dict(method="teacher", theta=math.inf), "theta"),
        (dict(method="bogus"), "method must be one of"),
    ],
)
def test_method_spec_validates_once(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MethodSpec(**kwargs)


def test_stats_request_defaults():
    source = PairsSource(_sample())
    stats = source.statistics(StatsRequest(all=True), lambda s, a: np.eye(6, 5))
    assert stats.all.n == N and stats.kept == []
    assert math.isnan(float("nan"))


# ------------------------------------------------------------------------------ fit_filtered
def test_fit_filtered_matches_engine_split():
    from linclip import fit_filtered

    sample = _sample()
    res = fit_filtered(sample.x, sample.xt, R, split=True)
    (out,) = run_methods(sample, [MethodSpec("teacher-split")], R)
    assert res.kept.shape == (N,) and not res.kept[: N // 2].any()
    assert res.n_kept == out.n_kept and res.n_pool == out.n_pool
    np.testing.assert_allclose(
        res.encoders.score_matrix, out.student.score_matrix, rtol=1e-9, atol=1e-12
    )
    assert np.isnan(res.scores[: N // 2]).all()


def test_fit_filtered_full_and_keep_fraction():
    from linclip import fit_filtered

    sample = _sample()
    res = fit_filtered(sample.x, sample.xt, R, keep_fraction=0.25)
    (out,) = run_methods(sample, [MethodSpec("teacher", keep_fraction=0.25)], R)
    assert res.n_kept == out.n_kept == kept_count(0.25, N)
    assert res.kept_fraction == pytest.approx(out.kept_fraction)
    np.testing.assert_array_equal(res.kept, res.scores >= res.threshold)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(theta=0.0, keep_fraction=0.5), "at most one"),
        (dict(keep_fraction=0.0), "keep_fraction"),
        (dict(split="yes"), "split must be True or False"),
        (dict(theta=1e9), "kept pairs are needed"),
        (dict(rho=0.0), "rho"),
    ],
)
def test_fit_filtered_validation(kwargs, match):
    from linclip import fit_filtered

    sample = _sample()
    with pytest.raises(ValueError, match=match):
        fit_filtered(sample.x, sample.xt, R, **kwargs)
