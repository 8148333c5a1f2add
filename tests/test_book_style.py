"""The book's figure style is legible for every reader: dark ink on an opaque white face
(>= 4.5:1 for text, WCAG 2.1 AA, in the light and the dark book theme alike, since the
figure is a white card in both), line colours with >= 3:1 contrast on white, and a
resolution that stays sharp on high-density screens.

The checks render real figures (Agg) and read the colours back from the artists and the
pixels, rather than only re-reading the rcParams that ``use_book_style`` sets.
"""

from __future__ import annotations

import io

import matplotlib as mpl
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from linclip.plotting import PALETTE, use_book_style

#: The book's page background in each theme (pydata-sphinx-theme 0.15.4: --pst-color-background).
PAGE_BACKGROUNDS = {"light": "#ffffff", "dark": "#121212"}


def relative_luminance(colour) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    channels = np.asarray(mcolors.to_rgb(colour))
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def contrast(a, b) -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def composite(colour, background) -> tuple[float, float, float]:
    """``colour`` (with its alpha) painted over an opaque ``background``."""
    r, g, b, alpha = mcolors.to_rgba(colour)
    bg = np.asarray(mcolors.to_rgb(background))
    return tuple(alpha * np.array([r, g, b]) + (1 - alpha) * bg)


def test_contrast_formula() -> None:
    assert contrast("black", "white") == pytest.approx(21.0)
    assert contrast("#808080", "white") == pytest.approx(3.95, abs=0.01)  # the old ink


@pytest.fixture
def figure():
    """A typical book figure: two lines, a legend, a title, labels, a grid."""
    with mpl.rc_context():
        use_book_style()
        fig, ax = plt.subplots()
        for k in range(2):
            ax.plot([0, 1, 2], [k, k + 1, k + 3], label=f"method {k}")
        ax.set(title="A title", xlabel="clean fraction η", ylabel="error")
        ax.legend()
        fig.canvas.draw()
        yield fig, ax
        plt.close(fig)


def test_figure_and_axes_face_are_opaque_white(figure) -> None:
    fig, ax = figure
    assert mcolors.to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert mcolors.to_rgba(ax.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    assert mpl.rcParams["savefig.transparent"] is False
    # What the reader gets: the saved PNG and the inline backend's PNG (drawn with the
    # figure's own facecolor) have no transparent pixel, and the corner is white.
    for kwargs in ({}, {"facecolor": fig.get_facecolor()}):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight", **kwargs)
        pixels = plt.imread(io.BytesIO(buf.getvalue()))
        assert pixels.shape[2] == 3 or np.all(pixels[..., 3] == 1.0), "transparent pixels"
        assert np.allclose(pixels[0, 0, :3], 1.0), "the background is not white"


@pytest.mark.parametrize("theme", sorted(PAGE_BACKGROUNDS))
def test_text_and_axes_ink_has_aa_contrast_in_both_themes(figure, theme: str) -> None:
    fig, ax = figure
    # The figure is opaque, so the ink's background is the figure face in either theme
    # (the page colour shows only around the figure).
    face = composite(fig.get_facecolor(), PAGE_BACKGROUNDS[theme])
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
    texts += ax.get_xticklabels() + ax.get_yticklabels() + ax.get_legend().get_texts()
    assert len(texts) > 6
    for text in texts:
        ratio = contrast(composite(text.get_color(), face), face)
        assert ratio >= 4.5, f"{text.get_text()!r}: {ratio:.2f}:1 on {theme} theme"
    ink = [ax.spines["left"].get_edgecolor()]
    ink += [t.get_markeredgecolor() for t in ax.xaxis.get_ticklines()]
    for colour in ink:
        assert contrast(composite(colour, face), face) >= 4.5


def test_palette_lines_have_three_to_one_contrast_on_white(figure) -> None:
    _fig, ax = figure
    assert len(PALETTE) >= 8
    for k, colour in enumerate(PALETTE):
        ratio = contrast(colour, "white")
        assert ratio >= 3.0, f"PALETTE[{k}] = {mcolors.to_hex(colour)}: {ratio:.2f}:1"
    # The colour cycle is the palette, so unstyled lines get these colours too.
    cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [mcolors.to_hex(c) for c in cycle] == PALETTE.as_hex()
    assert mcolors.to_hex(ax.get_lines()[0].get_color()) == PALETTE.as_hex()[0]


def test_palette_colours_are_distinct() -> None:
    hexes = PALETTE.as_hex()
    assert len(set(hexes)) == len(hexes)
    rgb = np.array([mcolors.to_rgb(c) for c in hexes])
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 0.1


def test_resolution_is_high_density(figure) -> None:
    fig, _ = figure
    # The inline backend renders at figure.dpi: a default figure is >= 900 px wide, so
    # it is drawn at >= 1 device pixel per CSS pixel in the book's ~800 px column.
    assert fig.dpi >= 150
    assert fig.get_figwidth() * fig.dpi >= 900
    assert mpl.rcParams["savefig.dpi"] >= 200


def test_fonts_are_legible_at_page_width(figure) -> None:
    fig, ax = figure
    # A 6.4 in figure shown at the ~800 px column: each point is 150/72 * 800/960 px.
    scale = fig.dpi / 72 * 800 / (fig.get_figwidth() * fig.dpi)
    for text in ax.get_xticklabels() + [ax.xaxis.label, ax.title]:
        assert text.get_fontsize() * scale >= 11, f"{text.get_text()!r} under 11 px"


def test_idempotent() -> None:
    with mpl.rc_context():
        use_book_style()
        before = dict(mpl.rcParams)
        use_book_style()
        assert dict(mpl.rcParams) == before
