"""Settings of the site tests (tests/site/): they check the BUILT book, so they run in a
separate pytest invocation after the build (``scripts/test.sh``):

    python -m pytest tests/site            # uses _build/strict/_build/html or _build/html
    LINCLIP_SITE_HTML=DIR python -m pytest tests/site

``python -m pytest tests`` (the unit-test step) does not collect them: the hook below
ignores this directory unless a path inside it was named on the command line.

Without a built site or without chromium the tests are SKIPPED, loudly; with ``CI=true``
(as ``.ci/run`` sets it) a skip is a failure, so CI cannot pass without running them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sitecheck

HERE = Path(__file__).resolve().parent


def _named_on_command_line(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.resolve().parent == HERE and not _named_on_command_line(config):
        return True
    return None


@pytest.fixture(scope="session")
def html_dir() -> Path:
    path = sitecheck.find_html_dir()
    if path is None:
        sitecheck.skip_or_fail(
            "no built site (build the book first: see scripts/test.sh; or set "
            "LINCLIP_SITE_HTML to the HTML directory)"
        )
    return path


_RESULTS: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (
        report.when == "setup" and report.outcome != "passed"
    ):
        return
    module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    counts = _RESULTS.setdefault(module, {"passed": 0, "failed": 0, "skipped": 0})
    counts[report.outcome] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tr = terminalreporter
    pages, widths, themes = sitecheck.toc_pages(), sitecheck.WIDTHS, sitecheck.THEMES
    browser = _RESULTS.get("test_browser.py", {"passed": 0, "failed": 0, "skipped": 0})
    tr.write_sep("=", "site tests")
    tr.write_line(
        f"browser test: {len(pages)} pages x {len(widths)} widths ({', '.join(map(str, widths))} px)"
        f" x {len(themes)} themes ({', '.join(themes)}) = {len(pages) * len(widths) * len(themes)}"
        f" views: {browser['passed']} passed, {browser['failed']} failed,"
        f" {browser['skipped']} skipped"
    )
    static = _RESULTS.get("test_static_html.py")
    if static:
        tr.write_line(
            f"static HTML check: {static['passed']} passed, {static['failed']} failed,"
            f" {static['skipped']} skipped"
        )
    if browser["passed"] and sitecheck.SCREENSHOT_DIR.is_dir():
        tr.write_line(f"screenshots: {sitecheck.SCREENSHOT_DIR}")
    for reason in sitecheck.SKIPS:
        tr.write_sep("!", "SITE TESTS SKIPPED", red=True, bold=True)
        tr.write_line(f"!!! {reason}", red=True, bold=True)
        tr.write_line("!!! (with CI=true this is a failure)", red=True, bold=True)
