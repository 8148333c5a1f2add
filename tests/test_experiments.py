"""Tests for linclip.experiments: specs, seeds, trials, grids, summaries and the scaling laws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import linclip.experiments.grid as E
from linclip.experiments import (
    ROW_COLUMNS,
    MethodSpec,
    run_grid,
    run_trial,
    spec_dict,
    summarize,
    trial_seed,
)
from linclip.learner import fit
from linclip.metrics import subspace_error
from linclip.model import BimodalModel
from linclip.plotting import fit_loglog_slope


# ---------------------------------------------------------------------------- MethodSpec
def test_method_spec_defaults_and_labels():
    assert MethodSpec("teacher").theta == 0.0  # the paper's untuned default
    assert MethodSpec("oracle-score").theta == 0.0
    assert MethodSpec("none").theta is None and MethodSpec("none").keep_fraction is None
    assert MethodSpec("teacher-split", keep_fraction=0.3).theta is None
    assert MethodSpec("none").label == "none"
    assert MethodSpec("teacher").label == "teacher (θ=0)"
    assert MethodSpec("teacher", theta=2.0).label == "teacher (θ=2)"
    assert MethodSpec("teacher-split", keep_fraction=0.3).label == "teacher-split (q=30%)"
    assert spec_dict(MethodSpec("teacher", keep_fraction=0.1)) == {
        "method": "teacher",
        "theta": None,
        "keep_fraction": 0.1,
        "score": "bilinear",
        "weighting": None,
    }
    with pytest.raises(ValueError, match="method must be one of none, teacher"):
        MethodSpec("bogus")


# ---------------------------------------------------------------------------- trial_seed
def test_trial_seed_depends_only_on_its_arguments():
    a = trial_seed(3, 1000, 0.3, 2).generate_state(4)
    np.testing.assert_array_equal(a, trial_seed(3, 1000, 0.3, 2).generate_state(4))
    # 0.1 + 0.2 != 0.3 in binary, but both round to the same eta key
    np.testing.assert_array_equal(a, trial_seed(3, 1000, 0.1 + 0.2, 2).generate_state(4))
    others = [
        trial_seed(4, 1000, 0.3, 2),
        trial_seed(3, 1001, 0.3, 2),
        trial_seed(3, 1000, 0.31, 2),
        trial_seed(3, 1000, 0.3, 3),
    ]
    for ss in others:
        assert not np.array_equal(a, ss.generate_state(4))


# ----------------------------------------------------------------------------- run_trial
@pytest.fixture
def model():
    return BimodalModel(d=6, d_t=5, r=2, gamma=10.0, gamma_t=10.0, eta=0.5)


def test_run_trial_rows(model):
    specs = [
        MethodSpec("none"),
        MethodSpec("teacher"),
        MethodSpec("oracle-clean"),
        MethodSpec("teacher-split", keep_fraction=0.5),
    ]
    rows = run_trial(model, 800, trial=1, methods=specs, seed=5)
    assert [row["method"] for row in rows] == ["none", "teacher", "oracle-clean", "teacher-split"]
    for row in rows:
        assert set(row) == set(ROW_COLUMNS)
        assert row["err"] == max(row["err_x"], row["err_xt"])
        assert 0 <= row["err"] <= math.sqrt(2)
        assert (row["n"], row["eta"], row["trial"], row["d"], row["r"]) == (800, 0.5, 1, 6, 2)
    # common random numbers: every method saw the same sample
    assert len({row["sample_clean_fraction"] for row in rows}) == 1
    none, teacher, clean, split = rows
    assert none["n_kept"] == 800 and none["kept_fraction"] == 1.0
    assert math.isnan(none["theta"]) and math.isnan(none["keep_fraction"])
    assert teacher["theta"] == 0.0
    assert clean["kept_clean_fraction"] == 1.0
    assert clean["n_kept"] == round(none["sample_clean_fraction"] * 800)
    assert split["n_kept"] == 200 and split["keep_fraction"] == 0.5
    # deterministic, and a different trial index is a different sample
    again = run_trial(model, 800, trial=1, methods=specs, seed=5)
    assert [r["err"] for r in again] == [r["err"] for r in rows]
    other = run_trial(model, 800, trial=2, methods=specs, seed=5)
    assert other[0]["err"] != rows[0]["err"]


def test_run_trial_follows_the_documented_seed_contract(model):
    rows = run_trial(model, 500, trial=0, methods=[MethodSpec("none")], seed=9)
    basis_ss, data_ss = trial_seed(9, 500, 0.5, 0).spawn(2)
    m = BimodalModel(
        6, 5, 2, gamma=10.0, gamma_t=10.0, eta=0.5, basis_seed=int(basis_ss.generate_state(1)[0])
    )
    chunks = list(m.sample_chunks(500, data_ss, 500))
    x, xt = np.vstack([c.x for c in chunks]), np.vstack([c.xt for c in chunks])
    err = subspace_error(fit(x, xt, 2), m.U, m.U_t).err
    assert rows[0]["err"] == pytest.approx(err, rel=1e-10)


def test_run_trial_fixed_bases(model):
    rows = run_trial(model, 400, 0, [MethodSpec("none")], resample_bases=False)
    rows2 = run_trial(model.with_eta(0.5), 400, 0, [MethodSpec("none")], resample_bases=False)
    assert rows[0]["err"] == rows2[0]["err"]


def test_streamed_trials_equal_in_memory_trials(model, monkeypatch):
    specs = [
        MethodSpec("none"),
        MethodSpec("teacher"),
        MethodSpec("teacher-split", keep_fraction=0.4),
        MethodSpec("oracle-clean"),
    ]
    in_memory = run_trial(model, 3000, 0, specs, seed=1, chunk_size=700)
    monkeypatch.setattr(E, "IN_MEMORY_LIMIT", 1000)
    streamed = run_trial(model, 3000, 0, specs, seed=1, chunk_size=700)
    for a, b in zip(in_memory, streamed, strict=True):
        assert a["n_kept"] == b["n_kept"] and a["method"] == b["method"]
        assert a["sample_clean_fraction"] == b["sample_clean_fraction"]
        assert a["err"] == pytest.approx(b["err"], rel=1e-8)


# ------------------------------------------------------------------------------ run_grid
GRID = dict(n=[200, 400], eta=[0.4, 1.0], methods=["none", "teacher"], trials=2, seed=3)


def test_run_grid_shape_and_columns(model):
    frame = run_grid(model, **GRID)
    assert list(frame.columns) == ROW_COLUMNS
    assert len(frame) == 2 * 2 * 2 * 2
    counts = frame.groupby(["eta", "n", "method"]).size()
    assert (counts == 2).all()
    assert set(frame.eta) == {0.4, 1.0} and set(frame.n) == {200, 400}
    assert frame.err.between(0, math.sqrt(2)).all()
    # eta = 1: every pair is clean
    assert (frame[frame.eta == 1.0].sample_clean_fraction == 1.0).all()


def test_run_grid_does_not_depend_on_jobs(model):
    serial = run_grid(model, jobs=1, **GRID)
    parallel = run_grid(model, jobs=2, **GRID)
    pd.testing.assert_frame_equal(serial, parallel)


def test_run_grid_rows_do_not_depend_on_the_rest_of_the_grid(model):
    small = run_grid(model, n=300, eta=0.5, methods=["none"], trials=3, seed=7)
    big = run_grid(model, n=[300, 600], eta=[0.2, 0.5, 0.9], methods=["none"], trials=3, seed=7)
    sub = big[(big.eta == 0.5) & (big.n == 300)].reset_index(drop=True)
    pd.testing.assert_frame_equal(small, sub)
    other_seed = run_grid(model, n=300, eta=0.5, methods=["none"], trials=3, seed=8)
    assert not np.allclose(small.err, other_seed.err)


def test_run_grid_accepts_scalars_arrays_and_specs(model):
    frame = run_grid(
        model,
        n=np.array([150]),
        eta=np.float64(0.7),
        trials=1,
        methods=[MethodSpec("teacher", keep_fraction=0.5)],
    )
    assert len(frame) == 1 and frame.keep_fraction.iloc[0] == 0.5
    assert frame.n_kept.iloc[0] == 75


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(methods=[]), "at least one method"),
        (dict(n=1), "^n "),
        (dict(eta=0.0), "eta"),
        (dict(eta=[0.5, 1.2]), "eta"),
        (dict(trials=0), "^trials "),
        (dict(jobs=0), "^jobs "),
        (dict(methods=["bogus"]), "method must be one of"),
        (dict(n=2), r"r \+ 1 = 3"),
    ],
)
def test_run_grid_errors(model, kwargs, match):
    args = dict(n=100, eta=0.5, trials=1) | kwargs
    with pytest.raises(ValueError, match=match):
        run_grid(model, **args)


# ----------------------------------------------------------------------------- summarize
def test_summarize_numbers():
    frame = pd.DataFrame(
        {
            "method": ["none"] * 3 + ["teacher"] * 2,
            "eta": [0.5] * 5,
            "n": [100] * 5,
            "err": [1.0, 2.0, 4.0, 3.0, 5.0],
            "err_x": [1.0, 2.0, 3.0, 3.0, 5.0],
            "err_xt": [0.5, 1.0, 4.0, 2.0, 1.0],
            "kept_fraction": [1.0, 1.0, 1.0, 0.4, 0.6],
            "kept_clean_fraction": [0.5, 0.5, 0.5, 0.9, 0.7],
        }
    )
    out = summarize(frame).set_index("method")
    assert out.loc["none", "err_mean"] == pytest.approx(7 / 3)
    assert out.loc["none", "err_std"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert out.loc["none", "err_sem"] == pytest.approx(np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert out.loc["none", "trials"] == 3 and out.loc["teacher", "trials"] == 2
    assert out.loc["teacher", "err_x_mean"] == 4.0 and out.loc["teacher", "err_xt_mean"] == 1.5
    assert out.loc["teacher", "kept_fraction_mean"] == pytest.approx(0.5)
    assert out.loc["teacher", "kept_clean_fraction_mean"] == pytest.approx(0.8)
    # grouping keys that are absent are skipped; custom keys work
    by_eta = summarize(frame, by=("eta", "missing"))
    assert len(by_eta) == 1 and by_eta.trials.iloc[0] == 5


def test_summarize_run_grid_output(model):
    frame = run_grid(model, **GRID)
    out = summarize(frame)
    assert len(out) == 8 and (out.trials == 2).all()
    assert {"method", "eta", "n", "err_mean", "err_std", "err_sem"} <= set(out.columns)
    row = out[(out.method == "none") & (out.eta == 0.4) & (out.n == 200)].iloc[0]
    sel = frame[(frame.method == "none") & (frame.eta == 0.4) & (frame.n == 200)]
    assert row.err_mean == pytest.approx(sel.err.mean())


# -------------------------------------------------------------------------- scaling laws
PAPER = BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4)


def test_unfiltered_error_scales_as_one_over_sqrt_n():
    # eta = 1 and gamma = 1e4: the sample-size condition n >~ max(d, d~) (1+1/gamma)^2 / eta^2
    # ~ 10 holds from n = 1e3 on, so ERR ~ sqrt(d / (gamma n)) and the log-log slope is -1/2.
    # With 3 trials per point the regression stderr of the slope is 0.01-0.04 and seeds 0-7
    # gave slopes -0.45 ... -0.52, so +-0.1 is a safe yet meaningful band (-1 or 0 would fail).
    ns = [1_000, 3_000, 10_000, 30_000, 100_000]
    frame = run_grid(PAPER, n=ns, eta=1.0, methods=["none"], trials=3, seed=1)
    s = summarize(frame)
    fit_ = fit_loglog_slope(s.n, s.err_mean)
    assert abs(fit_.slope + 0.5) < 0.1, str(fit_)


def test_unfiltered_error_scales_as_one_over_eta():
    # Fixed n = 3e4, eta from 0.2 to 1: n * eta^2 / max(d, d~) >= 120, far inside the
    # sample-size condition, so ERR ~ (1/eta) sqrt(d / (gamma n)) and the slope is -1.
    # With 6 trials per point, seeds 0-7 gave slopes between -0.955 and -1.031 (regression
    # stderr 0.005-0.07); -1/2 (the filtered rate) would fail the +-0.1 band.
    etas = np.geomspace(0.2, 1.0, 5)
    frame = run_grid(PAPER, n=30_000, eta=etas, methods=["none"], trials=6, seed=0)
    s = summarize(frame)
    fit_ = fit_loglog_slope(s.eta, s.err_mean)
    assert abs(fit_.slope + 1.0) < 0.1, str(fit_)
