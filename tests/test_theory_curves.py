"""Tests of linclip.theory.curves against the scalar first-order predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linclip.asymptotics import predict_unfiltered
from linclip.prediction import first_order_factor, predict_filtered
from linclip.theory.curves import FilteredErrorCurve, oracle_filter_error_curve

PAPER = {"d": 10, "d_t": 8, "r": 4}


@pytest.mark.parametrize("gamma", [1e4, 1.0])
@pytest.mark.parametrize("eta", [0.03, 0.3, 1.0])
def test_matches_scalar_prediction(eta, gamma):
    thetas = np.array([-1.0, 0.0, 1.5, 4.0])
    curve = oracle_filter_error_curve(thetas, eta, 20_000, **PAPER, gamma=gamma, gamma_t=gamma)
    for k, theta in enumerate(thetas):
        p = predict_filtered(
            20_000,
            eta,
            **PAPER,
            gamma=gamma,
            gamma_t=gamma,
            theta=float(theta),
            method="oracle-score",
        )
        assert curve.err[k] == pytest.approx(p.err, rel=1e-6)
        assert curve.kept_fraction[k] == pytest.approx(p.kept_fraction, rel=1e-9)
        assert curve.factor[k] == pytest.approx(p.rate_factor, rel=1e-9)


def test_factor_matches_first_order_factor_with_its_own_gamma_t():
    thetas = np.linspace(-2.0, 6.0, 9)
    curve = oracle_filter_error_curve(thetas, 0.1, 5_000, **PAPER, gamma=2.0, gamma_t=0.5)
    ref = first_order_factor(thetas, 0.1, 4, 2.0, 0.5)
    np.testing.assert_allclose(curve.factor, ref, rtol=1e-9)
    np.testing.assert_allclose(curve.gain, 0.1 * ref, rtol=1e-9)


def test_broadcasts_theta_against_eta():
    thetas = np.array([0.0, 1.0, 2.0])[:, None]
    etas = np.array([0.05, 0.5])[None, :]
    curve = oracle_filter_error_curve(thetas, etas, 10_000, **PAPER)
    assert isinstance(curve, FilteredErrorCurve)
    assert curve.err.shape == (3, 2) and curve.eta.shape == (3, 2)
    for j, eta in enumerate((0.05, 0.5)):
        column = oracle_filter_error_curve(thetas[:, 0], eta, 10_000, **PAPER)
        np.testing.assert_allclose(curve.err[:, j], column.err, rtol=1e-12)
        none = predict_unfiltered(10_000, eta, 10, 8, 4, 1e4, 1e4).err
        np.testing.assert_allclose(curve.err_unfiltered[:, j], none, rtol=1e-12)


def test_keeping_everything_is_the_unfiltered_learner():
    curve = oracle_filter_error_curve(-80.0, 0.2, 3_000, **PAPER)
    assert float(curve.kept_fraction) == pytest.approx(1.0, abs=1e-12)
    assert float(curve.err) == pytest.approx(float(curve.err_unfiltered), rel=1e-9)
    assert float(curve.gain) == pytest.approx(1.0, rel=1e-9)


def test_too_few_kept_pairs_give_nan_and_arrays_are_read_only():
    curve = oracle_filter_error_curve(np.array([0.0, 60.0]), 0.3, 100, **PAPER)
    assert math.isfinite(curve.err[0]) and math.isnan(curve.err[1])
    with pytest.raises(ValueError):
        curve.err[0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"theta": np.nan}, "theta"),
        ({"theta": [0.0, np.inf]}, "theta"),
        ({"eta": 0.0}, "eta"),
        ({"eta": [0.3, 1.5]}, "eta"),
        ({"eta": np.nan}, "eta"),
        ({"n_pool": 4}, "n_pool"),
        ({"n_pool": 2.5}, "n_pool"),
        ({"r": 9}, "r"),
        ({"d": 0}, "d"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma_t": -1.0}, "gamma_t"),
        ({"theta": [0.0, 1.0, 2.0], "eta": [0.1, 0.2]}, "broadcast"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    args = {
        "theta": 0.0,
        "eta": 0.3,
        "n_pool": 1_000,
        "d": 10,
        "d_t": 8,
        "r": 4,
        "gamma": 1e4,
        "gamma_t": 1e4,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        oracle_filter_error_curve(**args)
