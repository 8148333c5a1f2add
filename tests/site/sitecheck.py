"""Shared helpers of the site tests: where the built HTML is, which pages the toc lists,
and the checks that need no browser (used by the static test and the browser test).

The site tests run in their own pytest invocation after the book is built
(``scripts/test.sh``); they never build anything themselves:

    python -m pytest tests/site            # uses _build/strict/_build/html or _build/html
    LINCLIP_SITE_HTML=DIR python -m pytest tests/site

``python -m pytest tests`` (the unit-test step, which also passes ``--ignore=tests/site``)
does not run them: each site test module skips itself unless a path inside tests/site/ is
named on the command line (or ``LINCLIP_SITE_TESTS=1``). There is deliberately no
conftest.py here: a second ``conftest`` module would shadow tests/conftest.py, which unit
tests import by name (``from conftest import ...``).

Without a built site or without chromium the tests are SKIPPED, loudly; with ``CI=true``
(as ``.ci/run`` sets it) such a skip is a failure, so CI cannot pass without running them.

``LINCLIP_SITE_HTML`` names the built HTML directory. Unset, the first of
``_build/strict/_build/html`` (the strict build of ``scripts/test.sh``) and ``_build/html``
(``scripts/build_book.sh``) that exists is used.
"""

from __future__ import annotations

import os
import re
import sys
import time
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup, NavigableString, Tag

REPO = Path(__file__).resolve().parents[2]
DEFAULT_HTML_DIRS = (
    REPO / "_build" / "strict" / "_build" / "html",
    REPO / "_build" / "html",
)
SCREENSHOT_DIR = REPO / "_build" / "screenshots"

#: The browser test's views: every toc page at these widths (px) in these themes.
WIDTHS = (1280, 390)
THEMES = ("light", "dark")

#: When this test session started (screenshots newer than this are this run's).
SESSION_START = time.time()

#: Reasons a site test was skipped (reported loudly at the end of the run).
SKIPS: list[str] = []

#: The browser test's seconds per page and width (all its themes), and how many browsers
#: ran in parallel (for the summary).
PAGE_SECONDS: dict[str, float] = {}
BROWSER_JOBS = 0


def in_ci() -> bool:
    """True when ``CI`` is set to a true value: then a skipped site test is a failure."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


HERE = Path(__file__).resolve().parent


def site_tests_requested() -> bool:
    """True if this pytest run names tests/site (or a file in it), or LINCLIP_SITE_TESTS=1."""
    if os.environ.get("LINCLIP_SITE_TESTS") == "1":
        return True
    for arg in sys.argv[1:]:
        if arg.startswith("-"):
            continue
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def skip_unless_requested() -> None:
    """Module-level guard of the site test modules (see the module docstring)."""
    if not site_tests_requested():
        pytest.skip(
            "site tests run after the book build: python -m pytest tests/site "
            "(scripts/test.sh does)",
            allow_module_level=True,
        )


def skip_or_fail(reason: str) -> None:
    """Skip (loudly) on a developer's machine; fail when ``CI`` is true."""
    if in_ci():
        pytest.fail(f"CI=true and the site test cannot run: {reason}", pytrace=False)
    if reason not in SKIPS:
        SKIPS.append(reason)
    pytest.skip(f"SKIPPED: {reason}")


@pytest.fixture(scope="session")
def html_dir() -> Path:
    """The built HTML directory (skip loudly, or fail in CI, if there is none)."""
    path = find_html_dir()
    if path is None:
        skip_or_fail(
            "no built site (build the book first: see scripts/test.sh; or set "
            "LINCLIP_SITE_HTML to the HTML directory)"
        )
    return path


class _Summary:
    """Counts the site tests' outcomes and prints the summary line (and loud skips)."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, int]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        if module == "test_browser.py" and "::test_page_as_a_reader_sees_it[" not in report.nodeid:
            module = "test_browser.py (other)"  # the summary line counts views only
        counts = self.results.setdefault(module, {"passed": 0, "failed": 0, "skipped": 0})
        counts[report.outcome] += 1

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr = terminalreporter
        tr.write_sep("=", "site tests")
        browser = self.results.get("test_browser.py")
        if browser:
            pages = toc_pages()
            views = len(pages) * len(WIDTHS) * len(THEMES)
            tr.write_line(
                f"browser test: {len(pages)} pages x {len(WIDTHS)} widths "
                f"({', '.join(map(str, WIDTHS))} px) x {len(THEMES)} themes "
                f"({', '.join(THEMES)}) = {views} views: {browser['passed']} passed, "
                f"{browser['failed']} failed, {browser['skipped']} skipped"
            )
            if browser["passed"] + browser["failed"] and SCREENSHOT_DIR.is_dir():
                stats = [p.stat() for p in SCREENSHOT_DIR.glob("*.jpg")]
                shots = sum(st.st_mtime >= SESSION_START and st.st_size > 0 for st in stats)
                tr.write_line(f"screenshots: {shots} non-empty files in {SCREENSHOT_DIR}")
            if PAGE_SECONDS:
                slowest = sorted(PAGE_SECONDS.items(), key=lambda kv: -kv[1])[:5]
                tr.write_line(
                    f"{len(PAGE_SECONDS)} page loads in {BROWSER_JOBS} parallel browser(s);"
                    " slowest (s, all themes): "
                    + ", ".join(f"{name} {sec:.0f}" for name, sec in slowest)
                )
        static = self.results.get("test_static_html.py")
        if static:
            tr.write_line(
                f"static HTML check: {static['passed']} passed, {static['failed']} failed,"
                f" {static['skipped']} skipped"
            )
        for reason in SKIPS:
            tr.write_sep("!", "SITE TESTS SKIPPED", red=True, bold=True)
            tr.write_line(f"!!! SKIPPED: {reason}", red=True, bold=True)
            tr.write_line("!!! (with CI=true this is a failure)", red=True, bold=True)


@pytest.fixture(scope="session", autouse=True)
def site_summary(request: pytest.FixtureRequest) -> None:
    """Register the summary (once per session, from whichever site module runs first)."""
    manager = request.config.pluginmanager
    if manager.get_plugin("linclip-site-summary") is None:
        manager.register(_Summary(), "linclip-site-summary")


def find_html_dir() -> Path | None:
    """The built HTML directory, or None if there is none."""
    env = os.environ.get("LINCLIP_SITE_HTML")
    if env:
        path = Path(env)
        return path if (path / "index.html").is_file() else None
    for path in DEFAULT_HTML_DIRS:
        if (path / "index.html").is_file():
            return path
    return None


def toc_pages(toc: Path = REPO / "_toc.yml") -> list[str]:
    """Every page the toc lists, as a path relative to the HTML root (``book/index.html``)."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    files = [data["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("sections", "chapters"):
                walk(entry.get(key, []))

    for part in data.get("parts", []):
        walk(part.get("chapters", []))
    walk(data.get("chapters", []))
    return [f + ".html" for f in files]


# --------------------------------------------------------------------------------------
# Text that should never reach a reader
# --------------------------------------------------------------------------------------

#: Elements whose text is not prose: code, scripts, math the page typesets, and MathJax's
#: own output. A ``$`` or a backslash inside these is legitimate.
NON_PROSE = (
    "script",
    "style",
    "pre",
    "code",
    "kbd",
    "samp",
    "textarea",
    "svg",
    "mjx-container",
    "mjx-assistive-mml",
    "math",
)
NON_PROSE_CLASSES = ("math", "highlight", "MathJax")

#: A TeX command left as text: a backslash followed by letters, or the math delimiters
#: \( \) \[ \] that MyST writes around math for MathJax.
RAW_TEX = re.compile(r"\\[A-Za-z]{2,}|\\[()\[\]{}]")


def _is_prose(node: NavigableString) -> bool:
    for parent in node.parents:
        if not isinstance(parent, Tag):
            continue
        if parent.name in NON_PROSE:
            return False
        classes = parent.get("class") or []
        if any(c in NON_PROSE_CLASSES for c in classes):
            return False
    return True


def prose_text_nodes(soup: BeautifulSoup) -> list[str]:
    """The text nodes of the article a reader reads as prose (not code, not math)."""
    main = soup.select_one("main") or soup.body or soup
    out = []
    for node in main.find_all(string=True):
        if type(node) is not NavigableString:  # comments, CDATA, doctype
            continue
        if node.strip() and _is_prose(node):
            out.append(str(node))
    return out


def snippet(text: str, pos: int, width: int = 40) -> str:
    s = text[max(0, pos - width) : pos + width].replace("\n", " ")
    return " ".join(s.split())


def stray_math_in_text(texts: list[str]) -> list[str]:
    """Text nodes with a ``$`` or raw TeX outside math: a display MyST did not parse."""
    problems = []
    for text in texts:
        for m in re.finditer(r"\$", text):
            problems.append(f"stray '$': ...{snippet(text, m.start())}...")
        for m in RAW_TEX.finditer(text):
            problems.append(f"raw TeX {m.group(0)!r}: ...{snippet(text, m.start())}...")
    return problems


TEX_IN_TITLE = re.compile(r"[\\$]")


def title_problems(soup: BeautifulSoup) -> list[str]:
    """TeX (a backslash or ``$``) or math in the browser title, the sidebar, headings
    and link texts: places MathJax does not reach (tab, search results, print header,
    sidebar of pages without math), so they must be plain Unicode."""
    problems = []
    if soup.title and TEX_IN_TITLE.search(soup.title.get_text()):
        problems.append(f"<title>: {soup.title.get_text()!r}")
    places = [
        ("sidebar", "nav.bd-docs-nav a, .bd-sidebar-primary a"),
        ("heading", "main h1, main h2, main h3, main h4, main h5, main h6"),
        ("link text", "main a"),
    ]
    seen = set()
    for where, selector in places:
        for el in soup.select(selector):
            if id(el) in seen:
                continue
            seen.add(id(el))
            text = " ".join(el.get_text().split())
            has_math = el.select_one(".math, mjx-container") is not None
            if TEX_IN_TITLE.search(text) or has_math:
                problems.append(f"{where}: {text!r}")
    return problems


IMAGE_FILE = re.compile(r"\.(png|jpe?g|gif|svg|webp|pdf)\b", re.IGNORECASE)


def alt_problem(alt: str | None, src: str) -> str | None:
    """Why ``alt`` is not real alt text (None if it is): missing, empty, or a file name
    or path (MyST-NB writes the image's path when a figure cell sets no alt text)."""
    if alt is None:
        return "no alt attribute"
    text = alt.strip()
    if not text:
        return "empty alt text"
    name = src.rsplit("/", 1)[-1].split("?", 1)[0]
    if name and (text == name or text.endswith("/" + name)):
        return f"alt text is the file path {text!r}"
    if "/" in text and " " not in text:
        return f"alt text looks like a path {text!r}"
    if IMAGE_FILE.search(text) and " " not in text:
        return f"alt text looks like a file name {text!r}"
    if re.fullmatch(r"[0-9a-f]{16,}", text):
        return f"alt text is a hash {text!r}"
    return None


def image_problems(soup: BeautifulSoup) -> list[str]:
    problems = []
    for img in soup.find_all("img"):
        why = alt_problem(img.get("alt"), img.get("src", ""))
        if why:
            problems.append(f"image {img.get('src', '?')}: {why}")
    return problems


# --------------------------------------------------------------------------------------
# Internal links
# --------------------------------------------------------------------------------------


@cache
def parse(path: Path) -> BeautifulSoup:
    """The parsed HTML file (cached: each page is parsed once per run; do not modify)."""
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@cache
def _ids_of(path: Path) -> frozenset[str]:
    soup = parse(path)
    ids = {el["id"] for el in soup.find_all(id=True)}
    ids |= {el["name"] for el in soup.find_all("a", attrs={"name": True})}
    return frozenset(ids)


def broken_internal_link(root: Path, page: str, href: str) -> str | None:
    """Why ``href`` on ``page`` (relative to ``root``) is broken, or None if it works.

    External links (with a scheme or a host), ``mailto:`` and ``javascript:`` are not
    checked (the tests run with no network). A link to a file must find the file; a link
    with a fragment must find an element with that id on the target page.
    """
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return None
    target, fragment = urldefrag(href)
    page_path = root / page
    if target:
        path = (page_path.parent / unquote(target)).resolve()
        if path.is_dir():
            path = path / "index.html"
        try:
            path.relative_to(root.resolve())
        except ValueError:
            return f"{href!r} leaves the site"
        if not path.is_file():
            return f"{href!r}: no such file"
    else:
        path = page_path.resolve()
    if fragment and path.suffix == ".html" and unquote(fragment) not in _ids_of(path):
        return f"{href!r}: no element with id {fragment!r}"
    return None


def link_problems(root: Path, page: str, soup: BeautifulSoup) -> list[str]:
    problems = []
    for a in soup.find_all("a", href=True):
        why = broken_internal_link(root, page, a["href"])
        if why:
            problems.append(f"link {why}")
    return problems
