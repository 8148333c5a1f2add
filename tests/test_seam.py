"""The Part III seam of the engine: cosine scores, a given teacher, pair-keeping statistics.

Each test checks the engine against an independent computation with the public primitives
(a literal per-pair filter, the closed-form learner on the literal kept set) or against an
identity that must hold (the cosine and bilinear scores have the same sign; the oracle handed
in as a teacher is the oracle-score filter).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from linclip import BimodalModel, MethodSpec, fit, fit_pca
from linclip.data.exact import ExactSource
from linclip.data.model import PairSample, StreamingSample
from linclip.data.sources import (
    KeptRequest,
    MomentAccumulator,
    PairScorer,
    PairsSource,
    StatsRequest,
)
from linclip.experiments.grid import run_grid, trial_samplers
from linclip.experiments.rows import TRIAL_COLUMNS
from linclip.filters.engine import run_methods
from linclip.filters.scores import (
    bilinear_score,
    cosine_score,
    kept_count,
    teacher_score_matrix,
)
from linclip.learners import Encoders

R = 2
MODEL = BimodalModel(d=6, d_t=5, r=R, gamma=5.0, gamma_t=8.0, eta=0.4, basis_seed=3)
N = 1_001


def _sample(n=N, seed=5):
    return MODEL.sample(n, np.random.default_rng(seed))


def _cos_by_hand(x, xt, A, B):
    """The cosine pair by pair, with nothing vectorised (the independent reference)."""
    out = []
    for xi, ti in zip(x, xt, strict=True):
        u, v = A @ xi, B @ ti
        out.append(float(u @ v) / math.sqrt(float(u @ u) * float(v @ v)))
    return np.array(out)


def _materialise(stream: StreamingSample) -> PairSample:
    """The streamed pairs in one in-memory sample (same pairs, same order)."""
    pieces = list(stream.chunks())
    return PairSample(
        np.concatenate([p.x for p in pieces]),
        np.concatenate([p.xt for p in pieces]),
        np.concatenate([p.clean for p in pieces]),
    )


def _same_fit(a: Encoders, b: Encoders) -> bool:
    return bool(np.allclose(a.score_matrix, b.score_matrix, atol=1e-10))


# ------------------------------------------------------------------------- the cosine score
def test_cosine_score_matches_a_per_pair_computation_and_is_scale_free():
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((40, 6)), rng.standard_normal((40, 5))
    A, B = rng.standard_normal((R, 6)), rng.standard_normal((R, 5))
    c = cosine_score(x, xt, A, B)
    assert np.allclose(c, _cos_by_hand(x, xt, A, B))
    assert np.all(np.abs(c) <= 1 + 1e-12)
    # Positive rescalings of the embeddings or of single pairs leave it unchanged ...
    scale = rng.uniform(0.1, 10, size=(40, 1))
    assert np.allclose(cosine_score(scale * x, xt, 3.0 * A, 0.2 * B), c)
    # ... and its sign is the bilinear score's sign.
    assert np.array_equal(np.sign(c), np.sign(bilinear_score(x, xt, A.T @ B)))


def test_cosine_score_refuses_misfit_shapes():
    x, xt = np.ones((3, 6)), np.ones((3, 5))
    with pytest.raises(ValueError, match="do not fit"):
        cosine_score(x, xt, np.ones((2, 5)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="do not fit"):
        cosine_score(x, xt, np.ones((2, 6)), np.ones((3, 5)))


def test_zero_embedding_scores_zero():
    x, xt = np.zeros((1, 6)), np.ones((1, 5))
    assert cosine_score(x, xt, np.ones((R, 6)), np.ones((R, 5))).tolist() == [0.0]


def test_cosine_top_q_is_the_literal_filter_with_the_fitted_teacher():
    sample = _sample()
    spec = MethodSpec("teacher-split", keep_fraction=0.3, score="cosine")
    (out,) = run_methods(sample, [spec], R)
    first, second = sample.split(N // 2)
    teacher = fit(first.x, first.xt, R)
    assert _same_fit(out.teacher, teacher)
    cos = _cos_by_hand(second.x, second.xt, teacher.G, teacher.G_t)
    m = kept_count(0.3, second.n)
    keep = cos >= np.sort(cos)[::-1][m - 1]
    assert out.n_kept == m == int(keep.sum())
    assert out.score == "cosine"
    assert _same_fit(out.student, fit(second.x[keep], second.xt[keep], R))
    assert out.threshold == pytest.approx(np.sort(cos)[::-1][m - 1])


def test_cosine_and_bilinear_thresholds_at_zero_keep_the_same_pairs():
    sample = _sample()
    bil, cos = run_methods(
        sample,
        [MethodSpec("teacher-split"), MethodSpec("teacher-split", score="cosine")],
        R,
    )
    assert bil.n_kept == cos.n_kept and bil.n_kept_clean == cos.n_kept_clean
    assert _same_fit(bil.student, cos.student)
    # Above zero they differ: the cosine ignores the norms the bilinear score rewards.
    bil2, cos2 = run_methods(
        sample,
        [
            MethodSpec("teacher-split", keep_fraction=0.2),
            MethodSpec("teacher-split", keep_fraction=0.2, score="cosine"),
        ],
        R,
    )
    assert bil2.n_kept == cos2.n_kept
    assert not _same_fit(bil2.student, cos2.student)


def test_streamed_cosine_filters_equal_in_memory_ones():
    stream = StreamingSample(MODEL, N, seed=11, chunk_size=97)
    whole = _materialise(stream)
    specs = [
        MethodSpec("teacher", keep_fraction=0.4, score="cosine"),
        MethodSpec("teacher-split", theta=0.5, score="cosine"),
        MethodSpec("oracle-score", keep_fraction=0.25, score="cosine"),
    ]
    kw = dict(U=MODEL.U, U_t=MODEL.U_t)
    a = run_methods(PairsSource(stream), specs, R, **kw)
    b = run_methods(whole, specs, R, **kw)
    for x, y in zip(a, b, strict=True):
        assert x.n_kept == y.n_kept and _same_fit(x.student, y.student)


def test_oracle_cosine_is_the_cosine_of_the_projections():
    sample = _sample()
    (out,) = run_methods(
        sample,
        [MethodSpec("oracle-score", theta=0.6, score="cosine")],
        R,
        U=MODEL.U,
        U_t=MODEL.U_t,
    )
    cos = _cos_by_hand(sample.x, sample.xt, MODEL.U.T, MODEL.U_t.T)
    keep = cos > 0.6
    assert out.n_kept == int(keep.sum())
    assert _same_fit(out.student, fit(sample.x[keep], sample.xt[keep], R))


# ------------------------------------------------------------------------- a given teacher
@pytest.mark.parametrize("score", ["bilinear", "cosine"])
def test_the_oracle_as_a_given_teacher_is_the_oracle_score_filter(score):
    sample = _sample()
    oracle = Encoders(MODEL.U.T.copy(), MODEL.U_t.T.copy())
    given, orc = run_methods(
        sample,
        [MethodSpec("given-teacher", keep_fraction=0.3, score=score)],
        R,
        teacher=oracle,
    ) + run_methods(
        sample,
        [MethodSpec("oracle-score", keep_fraction=0.3, score=score)],
        R,
        U=MODEL.U,
        U_t=MODEL.U_t,
    )
    assert given.n_kept == orc.n_kept and given.n_kept_clean == orc.n_kept_clean
    assert _same_fit(given.student, orc.student)
    assert given.teacher is oracle and given.n_pool == N


def test_given_teacher_threshold_uses_oracle_units():
    sample = _sample()
    rng = np.random.default_rng(1)
    teacher = Encoders(rng.standard_normal((R, 6)), rng.standard_normal((R, 5)))
    (out,) = run_methods(sample, [MethodSpec("given-teacher", theta=0.2)], R, teacher=teacher)
    M = teacher_score_matrix(teacher, "oracle")
    keep = bilinear_score(sample.x, sample.xt, M) > 0.2
    assert out.n_kept == int(keep.sum())


def test_given_teacher_needs_its_teacher_and_only_it_takes_one():
    sample = _sample()
    with pytest.raises(ValueError, match="needs the encoder pair"):
        run_methods(sample, [MethodSpec("given-teacher")], R)
    with pytest.raises(ValueError, match="teacher= is used only"):
        run_methods(sample, ["none"], R, teacher=fit(sample.x, sample.xt, R))


# --------------------------------------------------------------- learners of the teachers
def test_a_pca_teacher_is_fitted_on_the_first_half():
    sample = _sample()
    (out,) = run_methods(sample, [MethodSpec("teacher-split")], R, teacher_learner="pca")
    first, _ = sample.split(N // 2)
    assert _same_fit(out.teacher, fit_pca(first.x, first.xt, R))
    assert out.teacher_learner == "pca" and out.learner == "linear"


def test_unknown_teacher_learner_is_named():
    with pytest.raises(ValueError, match="teacher_learner must be one of"):
        run_methods(_sample(), ["teacher-split"], R, teacher_learner="svm")


# ------------------------------------------------------------------ pair-keeping statistics
def test_pair_keeping_statistics_hold_exactly_the_kept_pairs():
    stream = StreamingSample(MODEL, N, seed=4, chunk_size=100)
    whole = _materialise(stream)
    M = MODEL.U @ MODEL.U_t.T
    request = StatsRequest(
        all=True,
        clean=True,
        first=True,
        kept=(KeptRequest("oracle-score", "all", keep_fraction=0.3),),
        pairs=True,
    )
    stats = PairsSource(stream).statistics(request, lambda scorer, s: PairScorer(M))
    assert np.array_equal(stats.all.pairs().x, whole.x)
    assert np.array_equal(stats.clean.pairs().xt, whole.xt[whole.clean])
    assert np.array_equal(stats.first.pairs().x, whole.x[: N // 2])
    sc = bilinear_score(whole.x, whole.xt, M)
    keep = sc >= np.sort(sc)[::-1][kept_count(0.3, N) - 1]
    kept = stats.kept[0].pairs()
    assert np.array_equal(kept.x, whole.x[keep]) and np.array_equal(kept.clean, whole.clean[keep])


def test_statistics_without_pairs_say_how_to_get_them():
    with pytest.raises(ValueError, match="pairs=True"):
        MomentAccumulator(3, 2).pairs()


# ---------------------------------------------------------------------- the exact sampler
def test_exact_sampler_refuses_what_it_cannot_draw():
    source = ExactSource(MODEL, 10_000, seed=0)
    with pytest.raises(ValueError, match="cosine score"):
        run_methods(source, [MethodSpec("teacher-split", score="cosine")], R)
    with pytest.raises(ValueError, match="given-teacher"):
        run_methods(
            source, [MethodSpec("given-teacher")], R, teacher=Encoders(MODEL.U.T, MODEL.U_t.T)
        )
    with pytest.raises(ValueError, match="pairs themselves"):
        source.statistics(StatsRequest(all=True, pairs=True), lambda s, t: MODEL.U)


def test_auto_sampler_sends_cosine_filters_to_pairs():
    specs = ["none", MethodSpec("teacher-split", score="cosine")]
    assert trial_samplers(specs, "auto") == ["exact", "pairs"]
    with pytest.raises(ValueError, match="cosine"):
        trial_samplers(specs, "exact")
    assert trial_samplers(["none"], "auto", learner="infonce") == ["pairs"]
    assert trial_samplers(["none", "teacher-split"], "auto", teacher_learner="infonce") == [
        "exact",
        "pairs",
    ]


# ------------------------------------------------------------------------------ the rows
def test_rows_record_score_and_teacher_learner():
    frame = run_grid(
        MODEL,
        n=600,
        eta=0.5,
        methods=[MethodSpec("teacher-split", keep_fraction=0.5, score="cosine"), "none"],
        trials=2,
        teacher_learner="pca",
    )
    assert list(frame.columns) == TRIAL_COLUMNS
    assert isinstance(frame, pd.DataFrame)
    by = frame.set_index("method")
    assert set(by.loc["teacher-split", "score"]) == {"cosine"}
    assert set(by.loc["teacher-split", "teacher_learner"]) == {"pca"}
    assert set(by.loc["none", "score"]) == {"bilinear"}
    assert set(by.loc["none", "teacher_learner"]) == {"linear"}


def test_method_spec_validates_the_score():
    with pytest.raises(ValueError, match="score must be one of"):
        MethodSpec("teacher", score="clip")
    with pytest.raises(ValueError, match="does not filter by a score"):
        MethodSpec("none", score="cosine")
    assert MethodSpec("oracle-score", theta=0.1, score="cosine").label == (
        "oracle-score (θ=0.1, cosine)"
    )
