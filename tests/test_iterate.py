"""Iterated self-filtering and soft weighting (linclip.filters.iterate, .weighting).

Each round is checked against an independent computation: the literal per-pair filter of the
data by the previous round's student, and the closed-form learner on that literal kept set.
The soft weighting is checked by its invariances (equal weights = no filter, 0/1 weights = the
threshold filter).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from linclip import BimodalModel, MethodSpec, fit, fit_pca
from linclip.cli import main
from linclip.data.exact import ExactSource
from linclip.data.model import PairSample
from linclip.data.sources import KeptRequest, MomentAccumulator
from linclip.experiments.grid import (
    check_rounds,
    run_grid,
    run_trial,
    trial_round_source,
    trial_samplers,
    trial_source,
)
from linclip.experiments.rows import TRIAL_COLUMNS
from linclip.filters import ScoreWeighting, iterate_filter, run_methods
from linclip.filters.scores import kept_count
from linclip.learners import Encoders
from linclip.theory.iterated import (
    optimal_weight_factor,
    predict_rounds,
    predict_weighted,
    tilt_mean_sq,
)
from linclip.theory.prediction import predict_filtered
from linclip.theory.thresholds import first_order_factor

R = 2
MODEL = BimodalModel(d=6, d_t=5, r=R, gamma=5.0, gamma_t=8.0, eta=0.4, basis_seed=3)
N = 1_201


def _sample(n=N, seed=5):
    return MODEL.sample(n, np.random.default_rng(seed))


def _same_fit(a: Encoders, b: Encoders, atol=1e-10) -> bool:
    return bool(np.allclose(a.score_matrix, b.score_matrix, atol=atol))


def _scores_by_hand(sample: PairSample, teacher: Encoders) -> np.ndarray:
    """<G x_i, G~ x~_i> pair by pair (a positive multiple of the oracle-unit score)."""
    return np.array(
        [
            float((teacher.G @ x) @ (teacher.G_t @ xt))
            for x, xt in zip(sample.x, sample.xt, strict=True)
        ]
    )


# ------------------------------------------------------------------------------ the rounds
@pytest.mark.parametrize("start", ["teacher-split", "teacher"])
@pytest.mark.parametrize("knob", [dict(theta=0.0), dict(keep_fraction=0.4)])
def test_round_one_is_the_start_filter_exactly(start, knob):
    sample = _sample()
    (engine,) = run_methods(sample, [MethodSpec(start, **knob)], R)
    (first,) = iterate_filter(sample, R, 1, start=start, **knob)
    assert first.round == 1 and first.spec.method == start and not first.fresh
    assert first.outcome.n_kept == engine.n_kept and first.outcome.n_pool == engine.n_pool
    assert np.array_equal(first.student.score_matrix, engine.student.score_matrix)
    assert np.array_equal(first.outcome.teacher.score_matrix, engine.teacher.score_matrix)


@pytest.mark.parametrize("start", ["teacher-split", "teacher"])
def test_each_round_is_the_literal_filter_by_the_previous_student(start):
    sample = _sample()
    rounds = iterate_filter(sample, R, 4, start=start)
    for prev, this in zip(rounds, rounds[1:], strict=False):
        assert this.outcome.teacher is prev.student
        keep = _scores_by_hand(sample, prev.student) > 0.0  # theta = 0: units do not matter
        assert this.outcome.n_pool == N and this.outcome.n_kept == int(keep.sum())
        assert this.outcome.n_kept_clean == int(np.count_nonzero(sample.clean[keep]))
        assert _same_fit(this.student, fit(sample.x[keep], sample.xt[keep], R))
        assert this.pairs_used == N


def test_top_q_rounds_keep_the_best_scores_of_the_previous_student():
    sample = _sample()
    rounds = iterate_filter(sample, R, 3, start="teacher", keep_fraction=0.3)
    for prev, this in zip(rounds, rounds[1:], strict=False):
        sc = _scores_by_hand(sample, prev.student)
        m = kept_count(0.3, N)
        keep = sc >= np.sort(sc)[::-1][m - 1]
        assert this.outcome.n_kept == m == int(keep.sum())
        assert _same_fit(this.student, fit(sample.x[keep], sample.xt[keep], R))


def test_fresh_rounds_filter_their_own_sample_with_the_previous_student():
    samples = {k: _sample(seed=100 + k) for k in range(2, 5)}
    rounds = iterate_filter(_sample(), R, 4, start="teacher", fresh_data=samples.__getitem__)
    assert [o.pairs_used for o in rounds] == [N, 2 * N, 3 * N, 4 * N]
    for prev, this in zip(rounds, rounds[1:], strict=False):
        data = samples[this.round]
        keep = _scores_by_hand(data, prev.student) > 0.0
        assert this.fresh and this.outcome.n_kept == int(keep.sum())
        assert _same_fit(this.student, fit(data.x[keep], data.xt[keep], R))


def test_fresh_round_samples_are_reproducible_and_disjoint():
    model, first = trial_source(MODEL, N, 3, seed=7)
    a = trial_round_source(model, N, 3, 2, seed=7)
    b = trial_round_source(model, N, 3, 2, seed=7)
    c = trial_round_source(model, N, 3, 3, seed=7)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.xt, b.xt)
    for one, two in ((first, a), (first, c), (a, c)):
        assert np.intersect1d(one.x[:, 0], two.x[:, 0]).size == 0  # no pair shared
    rows1 = run_trial(MODEL, N, 3, ["teacher"], seed=7, rounds=3, fresh=True)
    rows2 = run_trial(MODEL, N, 3, ["teacher"], seed=7, rounds=3, fresh=True)
    assert [r["err"] for r in rows1] == [r["err"] for r in rows2]
    same = run_trial(MODEL, N, 3, ["teacher"], seed=7, rounds=3)
    assert rows1[0]["err"] == same[0]["err"]  # round 1 is the trial's own sample
    assert rows1[1]["err"] != same[1]["err"]


def test_grid_rows_record_rounds_and_keep_other_methods_single():
    assert TRIAL_COLUMNS[-5:] == ["round", "rounds", "fresh", "pairs_used", "weighting"]
    assert TRIAL_COLUMNS.index("round") > TRIAL_COLUMNS.index("teacher_learner")
    frame = run_grid(
        MODEL, n=N, eta=0.4, methods=["none", "teacher-split"], trials=2, rounds=3, fresh=True
    )
    assert list(frame.columns) == TRIAL_COLUMNS
    ts = frame[frame.method == "teacher-split"]
    assert sorted(ts["round"].tolist()) == [1, 1, 2, 2, 3, 3]
    assert set(ts["rounds"]) == {3} and bool(ts["fresh"].all())
    assert sorted(set(ts["pairs_used"])) == [N, 2 * N, 3 * N]
    none = frame[frame.method == "none"]
    assert len(none) == 2 and set(none["round"]) == {1} and set(none["rounds"]) == {1}
    # round 1 of the iterated method is the trial's one-round result
    single = run_grid(MODEL, n=N, eta=0.4, methods=["teacher-split"], trials=2)
    assert ts[ts["round"] == 1]["err"].tolist() == single["err"].tolist()
    assert set(single["weighting"]) == {"none"}


# ------------------------------------------------------------------------ soft weighting
def test_weighted_accumulator_invariances():
    rng = np.random.default_rng(0)
    piece = PairSample(rng.standard_normal((300, 4)), rng.standard_normal((300, 3)))
    plain = MomentAccumulator(4, 3, full=True).add(piece)
    ones = MomentAccumulator(4, 3, full=True).add(piece, weights=np.ones(300))
    halves = MomentAccumulator(4, 3, full=True).add(piece, weights=np.full(300, 0.5))
    for acc in (ones, halves):
        assert np.allclose(acc.covariance(), plain.covariance())
        assert np.allclose(acc.covariance_x(), plain.covariance_x())
        assert np.allclose(acc.covariance_xt(), plain.covariance_xt())
    w = (rng.random(300) < 0.4).astype(float)
    hard = MomentAccumulator(4, 3, full=True).add(piece.subset(slice(0, 150)), weights=w[:150])
    hard.add(piece.subset(slice(150, None)), weights=w[150:])
    subset = MomentAccumulator(4, 3, full=True).add(piece.subset(w > 0))
    assert hard.n == subset.n == int(w.sum())
    assert np.allclose(hard.covariance(), subset.covariance())
    assert np.allclose(hard.covariance_x(), subset.covariance_x())
    # a weighted covariance by hand
    v = rng.uniform(0.1, 2.0, 300)
    acc = MomentAccumulator(4, 3).add(piece, weights=v)
    mx, mt = v @ piece.x / v.sum(), v @ piece.xt / v.sum()
    by_hand = ((piece.x - mx) * v[:, None]).T @ (piece.xt - mt) / (v.sum() - (v @ v) / v.sum())
    assert np.allclose(acc.covariance(), by_hand)


def test_equal_soft_weights_reproduce_the_unfiltered_learner():
    sample = _sample()
    flat = ScoreWeighting("logistic", 0.0, math.inf)
    none, soft = run_methods(sample, ["none", MethodSpec("teacher", weighting=flat)], R)
    assert soft.n_kept == N
    assert _same_fit(soft.student, none.student)
    soft_pca = run_methods(sample, [MethodSpec("teacher", weighting=flat)], R, learner="pca")[0]
    assert _same_fit(soft_pca.student, fit_pca(sample.x, sample.xt, R))


@pytest.mark.parametrize("kind", ["logistic", "ramp"])
def test_hard_soft_weights_reproduce_the_threshold_filter(kind):
    sample = _sample()
    sharp = ScoreWeighting(kind, 0.5, 1e-12)
    for method in ("teacher", "teacher-split", "oracle-score"):
        hard, soft = run_methods(
            sample,
            [MethodSpec(method, theta=0.5), MethodSpec(method, weighting=sharp)],
            R,
            U=MODEL.U,
            U_t=MODEL.U_t,
        )
        assert soft.n_kept == hard.n_kept and soft.n_kept_clean == hard.n_kept_clean
        assert _same_fit(soft.student, hard.student, atol=1e-9)


def test_ramp_weights_enter_the_moments_as_computed_by_hand():
    sample = _sample()
    wt = ScoreWeighting("ramp", 0.0, 2.0)
    (out,) = run_methods(
        sample, [MethodSpec("oracle-score", weighting=wt)], R, U=MODEL.U, U_t=MODEL.U_t
    )
    s = np.einsum("ij,ij->i", sample.x @ MODEL.U, sample.xt @ MODEL.U_t)
    w = np.clip(s / 2.0, 0.0, 1.0)
    assert out.n_kept == int(np.count_nonzero(w))
    acc = MomentAccumulator(MODEL.d, MODEL.d_t).add(sample, weights=w)
    from linclip.learners.contrastive import closed_form_encoders

    assert _same_fit(out.student, closed_form_encoders(acc.covariance(), R))
    assert MethodSpec("oracle-score", weighting=wt).label == "oracle-score (soft ramp(θ=0, T=2))"


def test_the_exact_sampler_refuses_soft_weighting():
    spec = MethodSpec("teacher-split", weighting=ScoreWeighting())
    with pytest.raises(ValueError, match="soft weighting ramp.*no exact"):
        run_methods(ExactSource(MODEL, 10_000, seed=0), [spec], R)
    assert trial_samplers([spec, "none"], "auto") == ["pairs", "exact"]
    with pytest.raises(ValueError, match="soft weighting"):
        trial_samplers([spec], "exact")


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(rounds=0), "rounds \\(K\\) must be an integer >= 1"),
        (dict(rounds=2.5), "rounds \\(K\\) must be an integer"),
        (dict(rounds=2, start="none"), "start must be one of teacher-split, teacher"),
        (dict(rounds=2, fresh_data=3), "fresh_data must be None"),
        (dict(rounds=2, theta=0.0, keep_fraction=0.5), "at most one of theta"),
        (dict(rounds=2, score="l2"), "score must be one of"),
    ],
)
def test_iterate_filter_validates(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        iterate_filter(_sample(), R, **kwargs)


def test_weighting_and_spec_validation():
    with pytest.raises(ValueError, match="kind must be one of ramp, logistic; got 'box'"):
        ScoreWeighting("box")
    with pytest.raises(ValueError, match="temperature \\(T\\) must be positive and finite"):
        ScoreWeighting("ramp", 0.0, math.inf)
    with pytest.raises(ValueError, match="temperature \\(T\\) must be in \\(0, inf\\]"):
        ScoreWeighting("logistic", 0.0, 0.0)
    with pytest.raises(ValueError, match="theta must be a finite"):
        ScoreWeighting("ramp", math.nan)
    with pytest.raises(ValueError, match="does not filter by a score; weighting applies"):
        MethodSpec("none", weighting=ScoreWeighting())
    with pytest.raises(ValueError, match="takes no theta or keep_fraction"):
        MethodSpec("teacher", theta=1.0, weighting=ScoreWeighting())
    with pytest.raises(ValueError, match="weighting must be a ScoreWeighting"):
        MethodSpec("teacher", weighting="ramp")
    with pytest.raises(ValueError, match="exactly one of theta, keep_fraction and weighting"):
        KeptRequest("teacher", "all", theta=0.0, weighting=ScoreWeighting())
    acc = MomentAccumulator(2, 2)
    piece = PairSample(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="one entry per pair"):
        acc.add(piece, weights=np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        acc.add(piece, weights=-np.ones(3))
    with pytest.raises(ValueError, match="cannot keep their pairs"):
        MomentAccumulator(2, 2, keep_pairs=True).add(piece, weights=np.ones(3))
    with pytest.raises(ValueError, match="at least 2 pairs of positive weight"):
        MomentAccumulator(2, 2).add(piece, weights=np.array([1.0, 0, 0])).covariance()


def test_grid_round_validation():
    with pytest.raises(ValueError, match="rounds = 2 needs sampler 'pairs'"):
        check_rounds(2, False, "exact")
    with pytest.raises(ValueError, match="fresh=True needs rounds >= 2"):
        check_rounds(1, True)
    with pytest.raises(ValueError, match="fresh must be True or False"):
        check_rounds(2, "yes")
    with pytest.raises(ValueError, match="rounds \\(K\\) must be an integer >= 1"):
        run_grid(MODEL, n=N, eta=0.4, methods=["teacher"], trials=1, rounds=0)
    with pytest.raises(ValueError, match="round_index \\(k\\) must be an integer >= 2"):
        trial_round_source(MODEL, N, 0, 1)


# ------------------------------------------------------------------------------ the theory
def test_round_one_prediction_is_the_teacher_prediction_and_rounds_settle():
    args = (20_000, 0.3, 10, 8, 4, 1.0, 1.0)
    teacher = predict_filtered(*args, theta=0.0, method="teacher")
    same = predict_rounds(*args, rounds=30, theta=0.0)
    fresh = predict_rounds(*args, rounds=30, theta=0.0, fresh=True)
    assert same[0].err == pytest.approx(teacher.err, rel=1e-9)
    assert fresh[0].err == pytest.approx(teacher.err, rel=1e-9)
    assert same[-2].err == pytest.approx(same[-1].err, rel=1e-6)  # round 30 = fixed point
    assert fresh[-2].err == pytest.approx(fresh[-1].err, rel=1e-6)
    assert fresh[-1].err < same[-1].err
    lam = same[0].lam_x
    ratio = same[-1].err_x_sq / fresh[-1].err_x_sq
    assert ratio == pytest.approx((1 + lam) / (1 - lam), rel=1e-9)


def test_tilt_recursion_by_iteration():
    a_K, a_T, c, lam = 1.0, 5.0, 0.7, 0.4
    x0 = None
    for k in range(1, 6):
        # same data: X_k = Z/s + lam X_{k-1}, second moments by expansion
        ck = sum(lam**j for j in range(k))
        want = ck**2 * a_K + 2 * ck * lam**k * c + lam ** (2 * k) * a_T
        assert tilt_mean_sq(k, a_K, a_T, c, lam, False) == pytest.approx(want)
        x0 = (a_K + 2 * lam * c + lam**2 * a_T) if x0 is None else a_K + lam**2 * x0
        assert tilt_mean_sq(k, a_K, a_T, c, lam, True) == pytest.approx(x0)
    with pytest.raises(ValueError, match="lam \\(the inheritance ell\\) must lie in"):
        tilt_mean_sq(1, 1.0, 1.0, 0.0, 1.0, False)


def test_weighted_prediction_of_the_hard_filter_is_the_first_order_factor():
    hard = predict_weighted(lambda s: (s > 0.0).astype(float), 10_000, 0.3, 10, 8, 4, 1.0, 1.0)
    assert hard.factor == pytest.approx(first_order_factor(0.0, 0.3, 4, 1.0, 1.0), rel=0.01)
    best = optimal_weight_factor(0.3, 4, 1.0, 1.0)
    ramp = predict_weighted(ScoreWeighting("ramp", 0.0, 4.0).weights, 10_000, 0.3, 10, 8, 4, 1, 1)
    assert best <= ramp.factor < hard.factor
    with pytest.raises(ValueError, match="non-negative weights"):
        predict_weighted(lambda s: s, 10_000, 0.3, 10, 8, 4)


# ------------------------------------------------------------------------- command line
SMALL = ["--n", "600", "--trials", "2", "--seed", "1", "--json"]


def _json(capsys, *argv):
    code = main(["simulate", *SMALL, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_cli_rounds_are_recorded(capsys):
    obj = _json(capsys, "--method", "teacher", "--rounds", "3", "--fresh")
    p = obj["params"]
    assert (p["rounds"], p["fresh"], p["weighting"]) == (3, True, None)
    assert [b["round"] for b in obj["by_round"]] == [1, 2, 3]
    assert [b["pairs_used"] for b in obj["by_round"]] == [600, 1200, 1800]
    assert obj["err_mean"] == obj["by_round"][-1]["err_mean"]


def test_cli_weighting_is_recorded(capsys):
    obj = _json(
        capsys, "--method", "teacher-split", "--weighting", "ramp", "--weight-temperature", "3"
    )
    p = obj["params"]
    assert (p["weighting"], p["weight_theta"], p["weight_temperature"]) == ("ramp", 0.0, 3.0)
    assert p["rounds"] == 1 and len(obj["by_round"]) == 1


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--rounds", "2"], "needs --method teacher-split or teacher"),
        (["--rounds", "0", "--method", "teacher"], "--rounds must be an integer >= 1"),
        (["--fresh", "--method", "teacher"], "--fresh needs --rounds K >= 2"),
        (["--weight-theta", "1"], "need --weighting"),
        (["--method", "teacher", "--weighting", "ramp", "--rounds", "2"], "takes no --rounds"),
        (["--method", "teacher", "--weighting", "ramp", "--theta", "1"], "replaces the cut"),
        (["--weighting", "ramp"], "does not filter by a score"),
        (["--method", "teacher", "--weighting", "ramp", "--weight-temperature", "0"], "width T"),
        (["--method", "teacher-split", "--rounds", "2", "--sampler", "exact"], "sampler 'pairs'"),
    ],
)
def test_cli_refuses_bad_combinations(capsys, argv, fragment):
    code = main(["simulate", *SMALL, *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert fragment in err.strip().splitlines()[-1], err
