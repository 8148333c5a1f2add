"""Tests for linclip.plotting: the book style, slope fits and reference lines (Agg backend)."""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linclip.plotting import (
    PALETTE,
    SlopeFit,
    add_reference_slope,
    fit_loglog_slope,
    loglog_errorbar,
    method_color,
    use_book_style,
)


@pytest.fixture(autouse=True)
def _restore_rcparams():
    with mpl.rc_context():
        yield
    plt.close("all")


def test_backend_is_agg():
    assert mpl.get_backend().lower() == "agg"


# ------------------------------------------------------------------------- slope fitting
@given(
    slope=st.floats(-3, 3),
    amplitude=st.floats(1e-6, 1e6),
    x0=st.floats(1e-3, 1e3),
    k=st.integers(3, 12),
)
def test_fit_recovers_an_exact_power_law(slope, amplitude, x0, k):
    x = x0 * np.geomspace(1, 1e4, k)
    y = amplitude * x**slope
    fit = fit_loglog_slope(x, y)
    assert isinstance(fit, SlopeFit)
    assert fit.slope == pytest.approx(slope, abs=1e-9)
    assert fit.intercept == pytest.approx(math.log(amplitude), abs=1e-7)
    assert fit.slope_stderr < 1e-7
    np.testing.assert_allclose(fit.predict(x), y, rtol=1e-7)


def test_fit_accepts_huge_and_tiny_positive_values():
    x = np.array([1e200, 1e201, 1e202, 1e203])
    y = np.array([1e-200, 1e-201, 1e-202, 1e-203])
    assert fit_loglog_slope(x, y).slope == pytest.approx(-1.0)
    assert fit_loglog_slope(x, x).slope == pytest.approx(1.0)


def test_fit_of_constant_data_is_exact():
    fit = fit_loglog_slope([1.0, 10.0, 100.0], [2.0, 2.0, 2.0])
    assert (fit.slope, fit.slope_stderr) == (0.0, 0.0)
    assert fit.intercept == pytest.approx(math.log(2.0))


def test_fit_on_noisy_data_has_a_sensible_stderr():
    # y = x^-0.5 exp(eps), eps ~ N(0, 0.1^2): the OLS stderr of the slope is
    # sigma / sqrt(sum (log x - mean)^2); the estimate should be within a factor 1.5 of it
    # and the slope within 4 stderrs of the truth.
    rng = np.random.default_rng(0)
    x = np.geomspace(1e2, 1e6, 60)
    y = x**-0.5 * np.exp(0.1 * rng.normal(size=x.size))
    fit = fit_loglog_slope(x, y)
    theory = 0.1 / math.sqrt(np.sum((np.log(x) - np.log(x).mean()) ** 2))
    assert theory / 1.5 < fit.slope_stderr < 1.5 * theory
    assert abs(fit.slope + 0.5) < 4 * fit.slope_stderr
    assert str(fit) == f"slope {fit.slope:+.3f} ± {fit.slope_stderr:.3f}"


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1, 2], [1, 2], "at least 3 points"),
        ([1, 2, 3], [1, 2], "1-D of equal length"),
        ([[1, 2, 3]], [[1, 2, 3]], "1-D of equal length"),
        ([1, 2, 0], [1, 2, 3], "positive and finite"),
        ([1, 2, 3], [1, -2, 3], "positive and finite"),
        ([1, 2, np.inf], [1, 2, 3], "positive and finite"),
        ([1, 2, 3], [1, np.nan, 3], "positive and finite"),
    ],
)
def test_fit_errors(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_loglog_slope(x, y)


# ------------------------------------------------------------------------------- style
def test_use_book_style_sets_the_book_palette():
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=["#000000"])
    use_book_style()
    cycle = [mcolors.to_hex(c) for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert [mcolors.to_hex(c) for c in PALETTE] == cycle
    # Opaque white face (dark ink): the figure reads as a white card in both themes.
    assert mpl.rcParams["savefig.transparent"] is False
    assert mpl.rcParams["axes.spines.top"] is False
    before = dict(mpl.rcParams)
    use_book_style()  # idempotent
    assert dict(mpl.rcParams) == before


def test_method_color():
    methods = ["none", "teacher", "teacher-split", "oracle-score", "oracle-clean"]
    colours = [method_color(m) for m in methods]
    assert len({mcolors.to_hex(c) for c in colours}) == 5
    assert colours[0] == PALETTE[0]
    assert method_color("something else") == PALETTE[7]


# --------------------------------------------------------------------- reference lines
@pytest.mark.parametrize("slope", [-1.0, -0.5, 0.0, 2.0])
def test_add_reference_slope_draws_the_right_line(slope):
    fig, ax = plt.subplots()
    x = np.geomspace(1e-3, 1.0, 7)
    add_reference_slope(ax, x, slope, anchor=(0.01, 3.0), label=f"slope {slope}")
    (line,) = ax.get_lines()
    xd, yd = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(xd, x)
    np.testing.assert_allclose(np.diff(np.log(yd)) / np.diff(np.log(xd)), slope, atol=1e-12)
    # passes through the anchor (0.01, 3): interpolate log y linearly in log x
    assert np.exp(np.interp(np.log(0.01), np.log(xd), np.log(yd))) == pytest.approx(3.0)
    assert line.get_linestyle() == "--" and line.get_label() == f"slope {slope}"


def test_add_reference_slope_kwargs_override_defaults():
    fig, ax = plt.subplots()
    add_reference_slope(ax, [1, 10], -1, (1, 1), color="red", linestyle=":")
    (line,) = ax.get_lines()
    assert mcolors.to_hex(line.get_color()) == "#ff0000" and line.get_linestyle() == ":"


def test_loglog_errorbar():
    summary = pd.DataFrame(
        {
            "method": ["none", "none", "none", "teacher", "teacher", "teacher"],
            "n": [1e3, 1e5, 1e4, 1e3, 1e4, 1e5],
            "err_mean": [3e-2, 3e-3, 1e-2, 1e-2, 3e-3, 1e-3],
            "err_sem": [1e-3] * 6,
        }
    )
    fig, ax = plt.subplots()
    loglog_errorbar(ax, summary, x="n", labels={"teacher": "teacher (θ=0)"})
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    containers = ax.containers
    assert len(containers) == 2
    by_label = {c.get_label(): c for c in containers}
    assert set(by_label) == {"none", "teacher (θ=0)"}
    none_line = by_label["none"].lines[0]
    np.testing.assert_array_equal(none_line.get_xdata(), [1e3, 1e4, 1e5])  # sorted by x
    np.testing.assert_array_equal(none_line.get_ydata(), [3e-2, 1e-2, 3e-3])
    assert mcolors.to_hex(none_line.get_color()) == mcolors.to_hex(method_color("none"))
    teacher_line = by_label["teacher (θ=0)"].lines[0]
    assert mcolors.to_hex(teacher_line.get_color()) == mcolors.to_hex(method_color("teacher"))
    # error bars: one vertical segment per point, of half-length err_sem
    segs = by_label["none"].lines[2][0].get_segments()
    assert len(segs) == 3
    np.testing.assert_allclose([abs(sg[1][1] - sg[0][1]) for sg in segs], 2e-3)
