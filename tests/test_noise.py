"""Tests for structured noise (Part III): NoiseModel, the model's derived moments, the samplers'
guards, the result rows, the ``simulate`` options and linclip.theory.structured_noise."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from linclip.cli import main
from linclip.data.exact import ExactSource, sample_cross_covariance
from linclip.data.model import BimodalModel, NoiseModel, hetero_profile
from linclip.experiments.grid import run_grid
from linclip.experiments.rows import TRIAL_COLUMNS
from linclip.filters.scores import bilinear_score, oracle_score_matrix
from linclip.filters.spec import MethodSpec
from linclip.theory.asymptotics import predict_unfiltered
from linclip.theory.prediction import predict_filtered
from linclip.theory.score_law import ScoreLaw
from linclip.theory.structured_noise import (
    noise_blocks,
    oracle_score_moments,
    predict_pca,
    predict_structured,
    teacher_tilt_variance,
    weighted_chi_law,
)

NOISE_COLUMNS = ["noise", "noise_rank", "noise_strength", "noise_modality", "noise_directions"]
SPIKED = NoiseModel("spiked", rank=2, strength=3.0)
RANDOM = NoiseModel("spiked", rank=2, strength=3.0, directions="random")
HETERO = NoiseModel("hetero", strength=10.0, modality="both")


ISOTROPIC = NoiseModel()


def model(noise: NoiseModel = ISOTROPIC, **kw) -> BimodalModel:
    args = dict(d=10, d_t=8, r=4, gamma=4.0, gamma_t=2.0, eta=0.3, basis_seed=3)
    args.update(kw)
    return BimodalModel(**args, noise=noise)


# ------------------------------------------------------------------ the isotropic default
# Sums of model.sample(1000, 7) computed with the package before NoiseModel existed
# (commit c448f22): the default must reproduce them bit for bit.
GOLDEN = [
    (
        dict(d=10, d_t=8, r=4, gamma=4.0, gamma_t=2.0, eta=0.3, basis_seed=3),
        (36.99648021556235, -150.03816386553666, 6483.733394218696, 8029.54849362908, 307),
    ),
    (
        dict(d=6, d_t=5, r=2, gamma=math.inf, gamma_t=9.0, eta=1.0, basis_seed=0),
        (-25.686626356443654, -75.96857750385087, 2050.8032595560016, 2557.926906769473, 1000),
    ),
]


@pytest.mark.parametrize("kw, golden", GOLDEN)
def test_isotropic_default_is_bit_identical_to_before(kw, golden):
    for m in (BimodalModel(**kw), BimodalModel(**kw, noise=NoiseModel())):
        s = m.sample(1000, 7)
        got = (
            float(s.x.sum()),
            float(s.xt.sum()),
            float((s.x**2).sum()),
            float((s.xt**2).sum()),
            int(s.clean.sum()),
        )
        assert got == golden  # exact equality, not approx


def test_isotropic_default_matches_the_old_algorithm():
    m = model()
    rng = np.random.default_rng(11)
    z, zt, clean = m.sample_latents(500, rng)
    x = z @ m.U.T + math.sqrt(1 / m.gamma) * rng.standard_normal((500, m.d))
    xt = zt @ m.U_t.T + math.sqrt(1 / m.gamma_t) * rng.standard_normal((500, m.d_t))
    s = m.sample(500, 11)
    assert np.array_equal(s.x, x) and np.array_equal(s.xt, xt) and np.array_equal(s.clean, clean)


def test_repr_and_bases_do_not_depend_on_the_noise():
    iso, spk = model(), model(SPIKED)
    assert repr(iso) == (
        "BimodalModel(d=10, d_t=8, r=4, gamma=4.0, gamma_t=2.0, eta=0.3, basis_seed=3)"
    )
    assert "noise=NoiseModel(kind='spiked'" in repr(spk)
    assert np.array_equal(iso.U, spk.U) and np.array_equal(iso.U_t, spk.U_t)
    assert iso != spk and hash(iso) != hash(spk)
    assert iso.V is None and spk.V is not None and spk.V_t is None


# ------------------------------------------------------------------ NoiseModel validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="pink"), r"noise kind must be one of isotropic, spiked, hetero; got 'pink'"),
        (dict(kind="isotropic", rank=2), r"noise rank k \(isotropic noise\).*got 2"),
        (dict(kind="isotropic", strength=1.0), r"noise strength \(isotropic noise\) must be 0"),
        (dict(kind="isotropic", modality="text"), r"noise modality applies to structured"),
        (dict(kind="spiked", rank=0, strength=1.0), r"noise rank k \(spiked noise\).*>= 1; got 0"),
        (dict(kind="spiked", rank=1, strength=-1.0), r"noise strength lambda.*got -1"),
        (dict(kind="spiked", rank=1, strength=0.0), r"noise strength lambda"),
        (dict(kind="hetero", strength=0.5), r"noise strength c \(hetero noise\) must be >= 1"),
        (dict(kind="hetero", rank=1, strength=2.0), r"only spiked noise has a rank"),
        (dict(kind="hetero", strength=2.0, directions="random"), r"directions apply to spiked"),
        (dict(kind="spiked", rank=1, strength=1.0, modality="audio"), r"modality must be one of"),
        (dict(kind="spiked", rank=1, strength=1.0, directions="up"), r"directions must be one of"),
    ],
)
def test_noise_model_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseModel(**kwargs)


def test_model_validates_noise_against_dimensions():
    with pytest.raises(ValueError, match=r"orthogonal image spikes.*between 1 and 6.*got 7"):
        model(NoiseModel("spiked", 7, 1.0))
    with pytest.raises(ValueError, match=r"random text spikes.*between 1 and 8.*got 9"):
        model(NoiseModel("spiked", 9, 1.0, "text", "random"))
    model(NoiseModel("spiked", 8, 1.0, "text", "random"))  # allowed
    with pytest.raises(ValueError, match=r"noise must be a NoiseModel; got str"):
        BimodalModel(10, 8, 4, noise="spiked")  # type: ignore[arg-type]


def test_hetero_profile():
    w = hetero_profile(10, 25.0)
    assert w.mean() == pytest.approx(1.0) and w[-1] / w[0] == pytest.approx(25.0)
    assert np.all(np.diff(w) > 0)
    assert np.array_equal(hetero_profile(4, 1.0), np.ones(4))
    with pytest.raises(ValueError, match=r"spread .* must be >= 1"):
        hetero_profile(3, 0.9)


# ------------------------------------------------------------------ derived moments
def test_spike_directions():
    orth, rand = model(SPIKED), model(RANDOM)
    assert np.allclose(orth.V.T @ orth.V, np.eye(2))
    assert np.max(np.abs(orth.U.T @ orth.V)) < 1e-12  # orthogonal to the signal
    assert np.max(np.abs(rand.U.T @ rand.V)) > 0.05  # random directions overlap it
    both = model(replace(SPIKED, modality="both"))
    assert np.max(np.abs(both.U_t.T @ both.V_t)) < 1e-12
    # resampled with the basis seed (a trial draws new spikes with its new bases)
    assert not np.allclose(model(SPIKED, basis_seed=4).V, orth.V)


def test_noise_var_refuses_structured_noise_and_covariances_stay_correct():
    m = model(SPIKED)
    with pytest.raises(ValueError, match=r"noise_var is the variance of isotropic noise.*spiked"):
        _ = m.noise_var
    with pytest.raises(ValueError, match=r"noise_var"):
        _ = m.snr_factor
    assert m.noise_var_t == 0.5  # the text modality is still isotropic
    cov = np.eye(10) / 4.0 + 3.0 * m.V @ m.V.T
    assert np.allclose(m.noise_covariance_x(), cov)
    assert np.allclose(m.covariance_x(), m.U @ m.U.T + cov)
    assert np.allclose(m.covariance_xt(), m.U_t @ m.U_t.T + np.eye(8) / 2.0)
    J = m.joint_covariance()
    assert np.allclose(J[:10, :10], m.covariance_x()) and np.allclose(
        J[:10, 10:], 0.3 * m.U @ m.U_t.T
    )
    h = model(HETERO)
    assert np.allclose(np.diag(h.noise_covariance_xt()), hetero_profile(8, 10.0) / 2.0)
    iso = model()
    assert np.allclose(iso.noise_covariance_x(), np.eye(10) / 4.0)


def test_matched_isotropic_has_the_same_noise_power():
    for noise in (SPIKED, RANDOM, HETERO):
        m = model(noise)
        iso = m.matched_isotropic()
        assert iso.noise.is_isotropic and np.array_equal(iso.U, m.U)
        assert iso.noise_power() == pytest.approx(m.noise_power())
    assert model(HETERO).matched_isotropic().gamma == pytest.approx(4.0)


def _max_z(sample_cov: np.ndarray, cov: np.ndarray, n: int) -> float:
    """Largest |z| of the entries of a sample covariance against a Gaussian's covariance."""
    d = np.sqrt(np.diag(cov))
    se = np.sqrt((np.outer(d**2, d**2) + cov**2) / n)
    return float(np.max(np.abs(sample_cov - cov) / se))


@pytest.mark.parametrize("noise", [SPIKED, RANDOM, HETERO, replace(SPIKED, modality="both")])
def test_generated_covariance_matches_the_model(noise):
    m = model(noise)
    n = 200_000
    s = m.sample(n, 5)
    w = np.hstack([s.x, s.xt])
    for clean in (True, False):
        rows = w[s.clean == clean]
        cov = m.component_covariance(clean)
        assert _max_z(rows.T @ rows / len(rows), cov, len(rows)) < 5.5
    # a broken variant (the strength or the profile off by 20 %) is detected
    broken = model(
        replace(noise, strength=noise.strength * (1.2 if noise.kind == "spiked" else 2))
    )
    rows = w[~s.clean]
    assert _max_z(rows.T @ rows / len(rows), broken.component_covariance(False), len(rows)) > 8


# ------------------------------------------------------------------ samplers and rows
def test_exact_sampler_refuses_structured_noise():
    m = model(SPIKED)
    with pytest.raises(ValueError, match=r"exact sampler assumes isotropic noise.*spiked"):
        ExactSource(m, 1000, seed=0)
    with pytest.raises(ValueError, match=r"exact sampler assumes isotropic noise.*hetero"):
        sample_cross_covariance(model(HETERO), 1000, rng=0)
    with pytest.raises(ValueError, match=r"sampler 'exact' assumes isotropic noise"):
        run_grid(m, n=500, eta=0.3, trials=1, sampler="exact")
    ExactSource(model(), 1000, seed=0)  # isotropic is fine


def test_rows_carry_the_noise_columns():
    i = TRIAL_COLUMNS.index(NOISE_COLUMNS[0])
    assert TRIAL_COLUMNS[i : i + len(NOISE_COLUMNS)] == NOISE_COLUMNS
    frame = run_grid(
        model(RANDOM),
        n=600,
        eta=[0.3],
        methods=["none", "teacher-split"],
        trials=2,
        sampler="auto",
    )
    assert list(frame.columns) == TRIAL_COLUMNS
    assert set(frame["noise"]) == {"spiked"} and set(frame["noise_rank"]) == {2}
    assert set(frame["noise_strength"]) == {3.0} and set(frame["noise_modality"]) == {"image"}
    assert set(frame["noise_directions"]) == {"random"}
    assert set(frame["sampler"]) == {"pairs"}  # auto falls back to pairs
    iso = run_grid(model(), n=600, eta=0.3, trials=1)
    assert iso["noise"].iloc[0] == "isotropic" and iso["noise_rank"].iloc[0] == 0


# ------------------------------------------------------------------ command line
SMALL = ["simulate", "--json", "--n", "400", "--trials", "2", "--seed", "1"]


def run_json(capsys, *extra) -> dict:
    code = main([*SMALL, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_cli_records_the_noise(capsys):
    p = run_json(capsys)["params"]
    assert (p["noise"], p["noise_rank"], p["noise_strength"]) == ("isotropic", 0, 0.0)
    obj = run_json(
        capsys, "--noise", "spiked", "--noise-rank", "2", "--noise-strength", "3",
        "--noise-modality", "both", "--noise-directions", "random",
    )  # fmt: skip
    p = obj["params"]
    assert (p["noise"], p["noise_rank"], p["noise_strength"]) == ("spiked", 2, 3.0)
    assert (p["noise_modality"], p["noise_directions"]) == ("both", "random")
    p = run_json(capsys, "--noise", "hetero")["params"]
    assert (p["noise"], p["noise_strength"], p["noise_modality"]) == ("hetero", 10.0, "image")
    # the noise changes the result; the isotropic default does not
    assert run_json(capsys, "--noise", "spiked")["err_mean"] != run_json(capsys)["err_mean"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--noise-rank", "2"], r"--noise-rank does not apply to --noise isotropic"),
        (["--noise", "hetero", "--noise-rank", "1"], r"--noise-rank does not apply to --noise h"),
        (["--noise", "hetero", "--noise-strength", "0.5"], r"must be >= 1"),
        (["--noise", "spiked", "--noise-strength", "-1"], r"noise strength lambda"),
        (["--noise", "spiked", "--noise-rank", "7"], r"between 1 and 6"),
        (["--noise", "spiked", "--sampler", "exact"], r"assumes isotropic noise"),
    ],
)
def test_cli_validates_the_noise(capsys, extra, match):
    code = main([*SMALL, *extra])
    _, err = capsys.readouterr()
    assert code != 0
    assert __import__("re").search(match, err), err


def test_cli_help_documents_the_noise(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    for word in ("--noise {isotropic,spiked,hetero}", "--noise-rank", "--noise-strength"):
        assert word in out
    assert "--noise-modality {image,text,both}" in out and "--noise-directions" in out


# ------------------------------------------------------------------ theory
def test_predict_structured_reduces_to_the_isotropic_laws():
    m = model(eta=0.3, gamma=100.0, gamma_t=50.0)
    a, b = predict_structured(m, 10_000), predict_unfiltered(10_000, 0.3, 10, 8, 4, 100.0, 50.0)
    assert (a.law_x.dof, a.law_xt.dof) == (b.law_x.dof, b.law_xt.dof)
    assert a.law_x.scale == pytest.approx(b.law_x.scale, rel=1e-12)
    assert a.law_xt.scale == pytest.approx(b.law_xt.scale, rel=1e-12)
    assert a.err == pytest.approx(b.err, rel=1e-9)
    f = predict_filtered(
        10_000, 0.3, 10, 8, 4, 100.0, 50.0, theta=1.0, method="oracle-score", teacher_tilt=False
    )
    g = predict_structured(m, 10_000, "oracle-score", theta=1.0)
    assert g.err_x_sq == pytest.approx(f.err_x_sq) and g.err == pytest.approx(f.err, rel=1e-6)
    c = predict_structured(m, 10_000, "oracle-clean")
    assert c.err == pytest.approx(
        predict_filtered(10_000, 0.3, 10, 8, 4, 100.0, 50.0, method="oracle-clean").err
    )


def test_predict_structured_spiked_mean_square_closed_form():
    m = model(SPIKED, gamma=1e4, gamma_t=1e4)
    p = predict_structured(m, 5_000)
    expected = (6e-4 + 2 * 3.0) * 4 * (1 + 1e-4) / (0.3**2 * 4_999)
    assert p.err_x_sq == pytest.approx(expected, rel=1e-9)
    assert p.law_x.dof == round((6e-4 + 6) ** 2 * 4 / (6 * 1e-8 + 18))  # Satterthwaite


def test_predict_structured_refuses_where_it_does_not_extend():
    for noise in (RANDOM, HETERO):
        with pytest.raises(ValueError, match=r"'oracle-score' has no first-order prediction"):
            predict_structured(model(noise), 10_000, "oracle-score")
    with pytest.raises(ValueError, match=r"method must be one of none, oracle-clean"):
        predict_structured(model(), 10_000, "teacher")
    with pytest.raises(ValueError, match=r"do not pass theta"):
        predict_structured(model(), 10_000, "none", theta=0.0)
    with pytest.raises(ValueError, match=r"model must be a BimodalModel"):
        predict_structured("m", 10_000)  # type: ignore[arg-type]


@pytest.mark.parametrize("noise", [SPIKED, RANDOM, HETERO])
def test_predict_structured_against_simulation(noise):
    """Mean-square error of the unfiltered learner: prediction within 4 standard errors."""
    m = model(noise, gamma=30.0, gamma_t=30.0, eta=0.5)
    frame = run_grid(m, n=4_000, eta=0.5, trials=40, seed=3, resample_bases=False)
    pred = predict_structured(m, 4_000)
    for col, want in (("err_x", pred.err_x_sq), ("err_xt", pred.err_xt_sq)):
        sq = frame[col].to_numpy() ** 2
        assert abs(sq.mean() - want) < 4 * sq.std(ddof=1) / math.sqrt(sq.size) + 0.05 * want


def test_oracle_filter_under_orthogonal_spikes_against_simulation():
    m = model(SPIKED, gamma=1e4, gamma_t=1e4, eta=0.3)
    spec = MethodSpec("oracle-score", theta=0.0)
    frame = run_grid(m, n=8_000, eta=0.3, methods=[spec], trials=30, seed=2, resample_bases=False)
    pred = predict_structured(m, 8_000, "oracle-score")
    sq = frame["err_x"].to_numpy() ** 2
    assert (
        abs(sq.mean() - pred.err_x_sq)
        < 4 * sq.std(ddof=1) / math.sqrt(sq.size) + 0.05 * pred.err_x_sq
    )


def test_oracle_score_moments():
    for clean in (True, False):
        law = ScoreLaw(4, 4.0, 2.0, clean)
        assert oracle_score_moments(model(), clean) == pytest.approx((law.mean, law.variance))
        # orthogonal spikes leave the oracle score's law unchanged
        assert oracle_score_moments(model(SPIKED), clean) == pytest.approx(
            (law.mean, law.variance)
        )
    m = model(RANDOM)
    s = m.sample(300_000, 4)
    sc = bilinear_score(s.x, s.xt, oracle_score_matrix(m.U, m.U_t))
    for clean in (True, False):
        mean, var = oracle_score_moments(m, clean)
        k = sc[s.clean == clean]
        assert abs(k.mean() - mean) < 5 * math.sqrt(var / k.size)
        assert abs(k.var() - var) < 0.03 * var
        assert var > ScoreLaw(4, 4.0, 2.0, clean).variance * 1.05  # the leak is visible
    with pytest.raises(ValueError, match=r"clean must be True or False"):
        oracle_score_moments(m, 1)  # type: ignore[arg-type]


def test_teacher_tilt_variance_against_simulation():
    from linclip.filters.scores import teacher_score_matrix
    from linclip.learners.contrastive import fit

    m = model(NoiseModel("spiked", 2, 10.0), gamma=1e4, gamma_t=1e4, eta=0.3)
    test = m.sample(20_000, 99)
    excess = []
    for t in range(25):
        train = m.sample(4_000, 200 + t)
        M = teacher_score_matrix(fit(train.x, train.xt, 4), "oracle")
        tilt = M - m.U @ m.U.T @ M @ m.U_t @ m.U_t.T  # the blocks outside the signal block
        excess.append(np.var(bilinear_score(test.x, test.xt, tilt)))
    pred = teacher_tilt_variance(m, 4_000)
    assert abs(np.mean(excess) - pred) < 4 * np.std(excess, ddof=1) / 5 + 0.1 * pred
    assert teacher_tilt_variance(model(gamma=1e4, gamma_t=1e4), 4_000) < 1e-3 * pred
    with pytest.raises(ValueError, match=r"n_teacher must be an integer >= 2"):
        teacher_tilt_variance(m, 1)


def test_predict_pca():
    iso = model(gamma=100.0, gamma_t=100.0)
    p = predict_pca(iso, 10_000)
    assert p.consistent and p.bias_x < 1e-10
    assert p.var_x_sq == pytest.approx(4 * 6 * 1.01 * 0.01 / 9_999)
    strong = predict_pca(model(SPIKED, gamma=1e4), 10_000)  # spike 3 > signal 1
    assert not strong.consistent and strong.bias_x == pytest.approx(math.sqrt(2))
    assert strong.err == pytest.approx(math.sqrt(2))
    weak = predict_pca(model(NoiseModel("spiked", 2, 0.5), gamma=1e4), 10_000)
    assert weak.consistent
    frame = run_grid(
        model(NoiseModel("spiked", 2, 0.5), gamma=1e4, gamma_t=1e4),
        n=4_000, eta=0.3, trials=30, seed=1, learner="pca", resample_bases=False,
    )  # fmt: skip
    sq = frame["err_x"].to_numpy() ** 2
    pw = predict_pca(model(NoiseModel("spiked", 2, 0.5), gamma=1e4, gamma_t=1e4), 4_000)
    assert abs(sq.mean() - pw.var_x_sq) < 4 * sq.std(ddof=1) / math.sqrt(30) + 0.05 * pw.var_x_sq
    assert predict_pca(model(RANDOM), 10_000).bias_x > 0.01  # random spikes bias PCA


def test_noise_blocks_and_weighted_chi_law():
    bx, bt = noise_blocks(model(RANDOM))
    assert bx.leak > 0.01 and not bx.signal_isotropic and bt.leak < 1e-12
    law = weighted_chi_law(np.full(12, 0.5))
    assert (law.dof, law.scale) == (12, 0.5)
    assert weighted_chi_law(np.zeros(3)).is_degenerate
    with pytest.raises(ValueError, match=r"weights must be"):
        weighted_chi_law(np.array([-1.0]))


# ------------------------------------------------------------------ the chapter's sweep
def test_sweep_cases_and_trial_models():
    from linclip.experiments.grid import trial_source
    from linclip.experiments.structured_noise import NOISE_CASES, noise_case, trial_model

    assert list(NOISE_CASES) == [
        "isotropic", "hetero", "spiked-orthogonal", "spiked-random", "matched-isotropic",
    ]  # fmt: skip
    matched = NOISE_CASES["matched-isotropic"]
    assert matched.noise_power() == pytest.approx(NOISE_CASES["spiked-random"].noise_power())
    with pytest.raises(ValueError, match=r"noise case must be one of isotropic"):
        noise_case("pink")
    m = noise_case("spiked-random").with_eta(0.3)
    tm, _ = trial_source(m, 500, 3, seed=2)
    assert np.array_equal(trial_model(m, 500, 3, seed=2).V, tm.V)


def test_sweep_pipeline_and_resumable_main(tmp_path):
    import pandas as pd

    from linclip.experiments.structured_noise import (
        main as sweep_main,
    )
    from linclip.experiments.structured_noise import (
        paired_ratios,
        run_noise_sweep,
        sweep_predictions,
        sweep_slopes,
        sweep_summary,
    )

    etas = (1.0, 0.5, 0.25)
    frame = run_noise_sweep(["isotropic", "spiked-orthogonal"], etas=etas, n=800, trials=3)
    assert list(frame.columns) == ["case", *TRIAL_COLUMNS]
    assert len(frame) == 2 * 3 * 3 * 4  # cases x etas x trials x (3 methods + PCA)
    pred = sweep_predictions(["isotropic", "spiked-orthogonal"], etas=etas, n=800, trials=3)
    assert set(pred["method"]) == {"none", "oracle-score", "pca"}
    summary = sweep_summary(frame, pred)
    assert set(summary["method"]) == {"none", "teacher-split", "oracle-score", "pca"}
    assert summary["err_pred"].notna().sum() == 2 * 3 * 3  # none, oracle-score, pca
    slopes = sweep_slopes(summary[summary.method == "none"])
    assert np.all((slopes.slope < -0.5) & (slopes.slope > -1.5))
    ratios = paired_ratios(frame, "oracle-score")
    assert len(ratios) == 6 and np.all(ratios.ratio_mean > 0)
    out = tmp_path / "sweep.csv"
    argv = ["--out", str(out), "--trials", "1", "--n", "300", "--etas", "1,0.5,0.2"]
    assert sweep_main(argv) == 0
    first = pd.read_csv(out)
    assert set(first["case"]) == set(pred["case"]) | {
        "hetero",
        "spiked-random",
        "matched-isotropic",
    }
    assert sweep_main(argv) == 0  # resumable: nothing is recomputed or duplicated
    assert len(pd.read_csv(out)) == len(first)
