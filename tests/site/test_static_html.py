"""Fast static check of the built HTML (no browser): for every page in the toc,

* no stray ``$`` and no raw TeX in prose text (a ``$$`` display that MyST did not parse,
  e.g. one written right after a line of text without a blank line),
* no TeX or math in the browser title, the sidebar, headings and link texts (MathJax
  does not reach the tab, search results, the print header or pages without math),
* every image has real alt text (not missing, empty, or the image's file path),
* no internal link is broken (file and fragment exist).

Each failure names the page and quotes the offending text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sitecheck
from bs4 import BeautifulSoup

sitecheck.skip_unless_requested()

# Fixtures shared by the site test modules (there is no conftest.py here: see sitecheck).
html_dir = sitecheck.html_dir
site_summary = sitecheck.site_summary

PAGES = sitecheck.toc_pages()


def _soup(html_dir: Path, page: str) -> BeautifulSoup:
    path = html_dir / page
    assert path.is_file(), f"{page} is in _toc.yml but not in the build {html_dir}"
    return sitecheck.parse(path.resolve())


def _report(page: str, kind: str, problems: list[str]) -> str:
    lines = [f"{page}: {len(problems)} {kind}"] + [f"  - {p}" for p in problems]
    return "\n".join(lines)


@pytest.mark.parametrize("page", PAGES)
def test_no_stray_dollar_or_raw_tex_in_text(html_dir: Path, page: str) -> None:
    problems = sitecheck.stray_math_in_text(sitecheck.prose_text_nodes(_soup(html_dir, page)))
    assert not problems, _report(page, "text node(s) with TeX outside math", problems)


@pytest.mark.parametrize("page", PAGES)
def test_no_tex_in_titles_sidebar_headings_links(html_dir: Path, page: str) -> None:
    problems = sitecheck.title_problems(_soup(html_dir, page))
    assert not problems, _report(page, "title(s)/link text(s) with TeX", problems)


@pytest.mark.parametrize("page", PAGES)
def test_images_have_real_alt_text(html_dir: Path, page: str) -> None:
    problems = sitecheck.image_problems(_soup(html_dir, page))
    assert not problems, _report(page, "image(s) without real alt text", problems)


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(html_dir: Path, page: str) -> None:
    problems = sitecheck.link_problems(html_dir, page, _soup(html_dir, page))
    assert not problems, _report(page, "broken internal link(s)", problems)


def test_mathjax_is_served_locally(html_dir: Path) -> None:
    """Every page that loads MathJax loads the book's own copy, not a CDN."""
    pages_with_math = 0
    for page in PAGES:
        soup = _soup(html_dir, page)
        for script in soup.find_all("script", src=True):
            if "mathjax" in script["src"].lower():
                pages_with_math += 1
                assert "://" not in script["src"], f"{page} loads MathJax from {script['src']}"
                path = (html_dir / page).parent / script["src"].split("?", 1)[0]
                assert path.is_file(), f"{page}: {script['src']} is not in the build"
    assert pages_with_math > 0, "no page loads MathJax at all"
    assert (html_dir / "_static" / "mathjax" / "LICENSE").is_file(), "MathJax licence missing"
