"""Tests for linclip.learners.infonce: CLIP's loss on linear encoders and its Adam learner."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from linclip import BimodalModel
from linclip.learners import LEARNERS
from linclip.learners.infonce import (
    INFONCE_INITS,
    InfoNCEOptions,
    infonce_encoders,
    infonce_loss,
    infonce_loss_and_grad,
    train_infonce,
)
from linclip.metrics import subspace_error


def naive_loss(G, G_t, x, xt, tau):
    """The symmetric cross-entropy from its definition, with explicit loops."""
    B = x.shape[0]
    a = [G @ xi / np.linalg.norm(G @ xi) for xi in x]
    b = [G_t @ xi / np.linalg.norm(G_t @ xi) for xi in xt]
    logits = np.array([[a[i] @ b[j] / tau for j in range(B)] for i in range(B)])
    i2t = sum(-logits[i, i] + np.log(np.sum(np.exp(logits[i]))) for i in range(B)) / B
    t2i = sum(-logits[j, j] + np.log(np.sum(np.exp(logits[:, j]))) for j in range(B)) / B
    return 0.5 * (i2t + t2i)


def broken_grad(G, G_t, x, xt, tau):
    """The gradient without the normalisation's Jacobian (a plausible mistake)."""
    B = x.shape[0]
    u, v = x @ G.T, xt @ G_t.T
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    a, b = u / nu[:, None], v / nv[:, None]
    L = a @ b.T / tau
    P_row = np.exp(L) / np.exp(L).sum(axis=1, keepdims=True)
    P_col = np.exp(L) / np.exp(L).sum(axis=0, keepdims=True)
    D = (P_row + P_col - 2 * np.eye(B)) / (2 * B * tau)
    return ((D @ b) / nu[:, None]).T @ x, ((D.T @ a) / nv[:, None]).T @ xt


def central_differences(f, M, h=1e-6):
    out = np.zeros_like(M)
    for idx in np.ndindex(M.shape):
        E = np.zeros_like(M)
        E[idx] = h
        out[idx] = (f(M + E) - f(M - E)) / (2 * h)
    return out


def random_problem(seed, B, r=3, d=6, d_t=5):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((r, d)),
        rng.standard_normal((r, d_t)),
        rng.standard_normal((B, d)),
        rng.standard_normal((B, d_t)),
    )


@pytest.mark.parametrize("tau", [0.05, 0.3, 2.0])
@pytest.mark.parametrize("B", [2, 5, 17])
def test_gradient_matches_central_differences(tau, B):
    G, G_t, x, xt = random_problem(int(100 * tau) + B, B)
    _, gG, gGt = infonce_loss_and_grad(G, G_t, x, xt, tau)
    num_G = central_differences(lambda M: infonce_loss(M, G_t, x, xt, tau), G)
    num_Gt = central_differences(lambda M: infonce_loss(G, M, x, xt, tau), G_t)
    scale = max(np.abs(num_G).max(), np.abs(num_Gt).max())
    assert scale > 1e-6  # a non-trivial gradient
    np.testing.assert_allclose(gG, num_G, atol=1e-6 * max(scale, 1.0), rtol=1e-5)
    np.testing.assert_allclose(gGt, num_Gt, atol=1e-6 * max(scale, 1.0), rtol=1e-5)


@pytest.mark.parametrize("tau", [0.3, 2.0])
def test_check_catches_missing_normalisation_jacobian(tau):
    G, G_t, x, xt = random_problem(7, 9)
    bG, bGt = broken_grad(G, G_t, x, xt, tau)
    num_G = central_differences(lambda M: infonce_loss(M, G_t, x, xt, tau), G)
    num_Gt = central_differences(lambda M: infonce_loss(G, M, x, xt, tau), G_t)
    err = max(np.abs(bG - num_G).max(), np.abs(bGt - num_Gt).max())
    assert err > 1e-3 * max(np.abs(num_G).max(), 1e-3)
    # the broken gradient is not orthogonal to G, the true one is (scale invariance)
    _, gG, _ = infonce_loss_and_grad(G, G_t, x, xt, tau)
    assert abs(np.sum(gG * G)) < 1e-10 < abs(np.sum(bG * G))


@pytest.mark.parametrize("tau", [0.01, 0.2, 5.0])
def test_loss_matches_definition(tau):
    G, G_t, x, xt = random_problem(3, 6)
    assert infonce_loss(G, G_t, x, xt, tau) == pytest.approx(naive_loss(G, G_t, x, xt, tau))


@pytest.mark.parametrize("tau", [1e-3, 2e-3, 0.01])
def test_small_temperature_is_stable(tau):
    from scipy.special import logsumexp

    G, G_t, x, xt = random_problem(4, 8)
    loss, gG, gGt = infonce_loss_and_grad(G, G_t, x, xt, tau)
    assert np.all(np.isfinite(gG)) and np.all(np.isfinite(gGt))
    a = x @ G.T
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = xt @ G_t.T
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    L = a @ b.T / tau
    ref = (logsumexp(L, axis=1).sum() + logsumexp(L, axis=0).sum() - 2 * np.trace(L)) / 16
    assert loss == pytest.approx(ref, rel=1e-10)


def test_invariances():
    G, G_t, x, xt = random_problem(11, 10)
    tau = 0.4
    base = infonce_loss(G, G_t, x, xt, tau)
    A = ortho_group.rvs(3, random_state=1)
    assert infonce_loss(A @ G, A @ G_t, x, xt, tau) == pytest.approx(base, rel=1e-12)
    assert infonce_loss(3.0 * G, 0.2 * G_t, x, xt, tau) == pytest.approx(base, rel=1e-12)
    assert infonce_loss(G, G_t, 7.0 * x, 0.1 * xt, tau) == pytest.approx(base, rel=1e-12)
    # permuting the batch (pairs together) does not change the loss
    perm = np.random.default_rng(2).permutation(10)
    assert infonce_loss(G, G_t, x[perm], xt[perm], tau) == pytest.approx(base, rel=1e-12)


def test_large_temperature_limit_is_log_batch():
    G, G_t, x, xt = random_problem(5, 12)
    assert infonce_loss(G, G_t, x, xt, 1e8) == pytest.approx(np.log(12), abs=1e-7)


def test_learner_recovers_subspaces_on_clean_data_with_error_falling_in_n():
    model = BimodalModel(d=10, d_t=8, r=4, eta=1.0, gamma=10.0, gamma_t=10.0, basis_seed=0)
    ns = np.array([2_000, 8_000, 32_000])
    errs = []
    for k, n in enumerate(ns):
        pairs = model.sample(int(n), np.random.default_rng(10 + k))
        enc = infonce_encoders(pairs.x, pairs.xt, 4, InfoNCEOptions(epochs=10, seed=k))
        errs.append(subspace_error(enc, model.U, model.U_t).err)
    slope = np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert errs[-1] < 0.15
    assert slope < -0.3, (errs, slope)


def test_seeds_reproducible_and_seed_none_uses_options():
    model = BimodalModel(d=6, d_t=5, r=2, eta=1.0, gamma=10.0, gamma_t=10.0, basis_seed=0)
    p = model.sample(600, np.random.default_rng(0))
    opts = InfoNCEOptions(epochs=2, batch_size=32, seed=3)
    a = infonce_encoders(p.x, p.xt, 2, opts)
    b = infonce_encoders(p.x, p.xt, 2, opts)
    c = infonce_encoders(p.x, p.xt, 2, opts, seed=3)
    d = infonce_encoders(p.x, p.xt, 2, opts, seed=4)
    np.testing.assert_array_equal(a.G, b.G)
    np.testing.assert_array_equal(a.G_t, c.G_t)
    assert not np.array_equal(a.G, d.G)


@pytest.mark.parametrize("init", INFONCE_INITS)
@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_training_lowers_the_loss(init, schedule):
    model = BimodalModel(d=6, d_t=5, r=2, eta=1.0, gamma=10.0, gamma_t=10.0, basis_seed=0)
    p = model.sample(1000, np.random.default_rng(0))
    seen = []
    trace = train_infonce(
        p.x,
        p.xt,
        2,
        InfoNCEOptions(epochs=4, batch_size=50, init=init, schedule=schedule, weight_decay=0.1),
        callback=lambda epoch, enc: seen.append(epoch),
    )
    assert seen == [0, 1, 2, 3]
    assert trace.epoch_losses.shape == (4,)
    assert trace.epoch_losses[-1] < np.log(50)
    assert trace.encoders.G.shape == (2, 6) and trace.encoders.G_t.shape == (2, 5)


def test_batch_larger_than_n_and_odd_remainder():
    model = BimodalModel(d=5, d_t=4, r=2, eta=1.0, gamma=10.0, gamma_t=10.0, basis_seed=0)
    p = model.sample(41, np.random.default_rng(0))  # 41 = 2 * 20 + 1: the last batch of 1
    enc = infonce_encoders(p.x, p.xt, 2, InfoNCEOptions(epochs=2, batch_size=20))
    assert np.all(np.isfinite(enc.G))
    enc = infonce_encoders(p.x, p.xt, 2, InfoNCEOptions(epochs=1, batch_size=1000))
    assert np.all(np.isfinite(enc.G_t))


def test_registered_as_learner():
    assert "infonce" in LEARNERS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"temperature": -1.0}, "temperature must be positive"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
        ({"lr": 0}, "lr must be positive"),
        ({"beta1": 1.0}, r"beta1 must be in \[0, 1\)"),
        ({"beta2": -0.1}, r"beta2 must be in \[0, 1\)"),
        ({"eps": 0}, "eps must be positive"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"init": "zeros"}, "init must be one of linear, random"),
        ({"schedule": "step"}, "schedule must be one of cosine, constant"),
        ({"weight_decay": -1.0}, "weight_decay must be a real number >= 0"),
        ({"center": "yes"}, "center must be True or False"),
    ],
)
def test_options_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InfoNCEOptions(**kwargs)


def test_argument_validation():
    G, G_t, x, xt = random_problem(0, 5)
    with pytest.raises(ValueError, match="temperature must be positive"):
        infonce_loss(G, G_t, x, xt, 0.0)
    with pytest.raises(ValueError, match="same number of rows"):
        infonce_loss(G, G_t, x, xt[:4], 1.0)
    with pytest.raises(ValueError, match="G is"):
        infonce_loss(G[:, :4], G_t, x, xt, 1.0)
    with pytest.raises(ValueError, match="same number of rows r"):
        infonce_loss(G[:2], G_t, x, xt, 1.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        infonce_loss(G, G_t, x[:1], xt[:1], 1.0)
    with pytest.raises(ValueError, match="zero norm"):
        infonce_loss(G, G_t, np.zeros_like(x), xt, 1.0)
    with pytest.raises(ValueError, match="options must be an InfoNCEOptions"):
        infonce_encoders(x, xt, 2, options={"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        infonce_encoders(x, xt, 2, seed=-2)
    with pytest.raises(ValueError, match="need at least r"):
        infonce_encoders(x[:2], xt[:2], 2)


# --- the engine, the rows and the command line ---------------------------------------------


def test_engine_trains_infonce_student_and_teacher_and_rows_record_options():
    from linclip import run_grid
    from linclip.experiments.rows import TRIAL_COLUMNS

    model = BimodalModel(d=6, d_t=5, r=2, gamma=10.0, gamma_t=10.0)
    opts = InfoNCEOptions(epochs=2, batch_size=64, temperature=0.5, lr=0.02)
    frame = run_grid(
        model,
        n=1200,
        eta=0.5,
        methods=["none", "teacher-split"],
        trials=1,
        learner="infonce",
        teacher_learner="infonce",
        learner_options=opts,
    )
    assert list(frame.columns) == TRIAL_COLUMNS
    i = TRIAL_COLUMNS.index("temperature")
    assert TRIAL_COLUMNS[i : i + 4] == ["temperature", "epochs", "batch_size", "lr"]
    assert set(frame.learner) == {"infonce"}
    split = frame[frame.method == "teacher-split"].iloc[0]
    assert split.teacher_learner == "infonce" and np.isfinite(split.teacher_err)
    assert list(frame.temperature) == [0.5, 0.5] and list(frame.batch_size) == [64, 64]
    assert list(frame.epochs) == [2, 2] and list(frame.lr) == [0.02, 0.02]
    # the linear learner's rows leave the InfoNCE columns empty
    lin = run_grid(model, n=600, eta=0.5, trials=1)
    assert lin[["temperature", "epochs", "batch_size", "lr"]].isna().all().all()


def test_engine_infonce_is_the_learner_called_directly():
    from linclip.filters.engine import run_methods

    model = BimodalModel(d=6, d_t=5, r=2, eta=1.0, gamma=10.0, gamma_t=10.0, basis_seed=0)
    pairs = model.sample(800, np.random.default_rng(5))
    opts = InfoNCEOptions(epochs=2, batch_size=50, seed=7)
    (out,) = run_methods(pairs, ["none"], 2, learner="infonce", learner_options=opts)
    direct = infonce_encoders(pairs.x, pairs.xt, 2, opts)
    np.testing.assert_allclose(out.student.G, direct.G)
    np.testing.assert_allclose(out.student.G_t, direct.G_t)


def test_cli_infonce_json_and_out(tmp_path, capsys):
    import json

    import pandas as pd

    from linclip.cli import main

    out = tmp_path / "rows.csv"
    argv = ["simulate", "--learner", "infonce", "--teacher-learner", "infonce"]
    argv += ["--method", "teacher-split", "--n", "1000", "--d", "6", "--d-t", "5", "--r", "2"]
    argv += ["--gamma", "10", "--gamma-t", "10", "--trials", "2", "--epochs", "2"]
    argv += ["--temperature", "0.5", "--batch-size", "64", "--lr", "0.02", "--json"]
    assert main([*argv, "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    p = result["params"]
    assert (p["learner"], p["teacher_learner"]) == ("infonce", "infonce")
    assert (p["temperature"], p["epochs"], p["batch_size"], p["lr"]) == (0.5, 2, 64, 0.02)
    frame = pd.read_csv(out)
    assert len(frame) == 2 and set(frame.temperature) == {0.5} and set(frame.epochs) == {2}
    assert set(frame.teacher_learner) == {"infonce"}


def test_cli_linear_json_records_no_infonce_options(capsys):
    import json

    from linclip.cli import main

    assert main(["simulate", "--n", "500", "--trials", "1", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)["params"]
    assert p["teacher_learner"] == "linear" and p["temperature"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--temperature", "0.5"], "--temperature: only for the InfoNCE learner"),
        (["--learner", "infonce", "--temperature", "0"], "--temperature: temperature must be"),
        (["--learner", "infonce", "--epochs", "0"], "--epochs: epochs must be an integer >= 1"),
        (["--learner", "infonce", "--batch-size", "1"], "--batch-size: batch_size must be"),
        (["--learner", "infonce", "--lr", "-1"], "--lr: lr must be positive"),
        (["--learner", "infonce", "--sampler", "exact"], "trains on the pairs themselves"),
        (["--out", "rows.txt"], "--out must name a .csv file"),
    ],
)
def test_cli_infonce_errors_are_one_line(extra, message, capsys):
    from linclip.cli import main

    assert main(["simulate", "--n", "300", "--trials", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_help_documents_infonce_options(capsys):
    from linclip.cli import main

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--temperature", "--epochs", "--batch-size", "--lr", "--teacher-learner"):
        assert flag in text
