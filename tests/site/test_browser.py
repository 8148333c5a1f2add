"""Browser test of the built site: headless Chromium (the Debian ``chromium`` package,
driven by Playwright for Python) opens every page in the toc at a desktop and a phone
width, in the light and the dark theme, and checks what a reader meets:

* no console error, no uncaught exception, no failed or non-local request (every request
  that does not go to 127.0.0.1 is aborted: the site must work with no network),
* the page is in the requested theme (pydata-sphinx-theme: ``<html data-theme>``),
* MathJax (served by the book) typesets every formula, with no error, and no raw TeX or
  stray ``$`` is left in the text,
* every image loads (``naturalWidth > 0``) and has real alt text,
* no internal link is broken, no page is wider than the screen,
* on a phone the sidebar drawer opens when its toggle is clicked (and Escape closes it);
  on a page with a solution dropdown, the dropdown opens (and closes again).

A view is a page at one width in one theme. Each page is loaded once per width (loading
and typesetting is most of the cost): in one theme, taken from the stored preference as
when a reader comes back (``localStorage``), then switched to the other theme the way a
reader does it (the system preference changes and the theme button is clicked), and every
check runs again. The loaded theme alternates with the width (light at 1280 px, dark at
390 px), so every page is also loaded in each theme. Load-time problems (console errors,
failed requests) count for both views of that load.

Screenshots of each view go to ``_build/screenshots/`` (not committed), in parts of at
most ``SCREENSHOT_PART`` px of page height (a JPEG is at most 65,535 px high).
The test builds nothing: it serves the HTML that ``scripts/test.sh`` built.

The pages are checked by ``LINCLIP_BROWSER_JOBS`` browsers in parallel threads (default:
the usable CPUs, at most 4); each test then reports its view's result. The summary names
the slowest pages.

Chromium is ``$LINCLIP_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH.
Without it (or without Playwright) the test is SKIPPED loudly, or fails with CI=true.
"""

from __future__ import annotations

import functools
import http.server
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
import sitecheck
from sitecheck import skip_or_fail

sitecheck.skip_unless_requested()

# Fixtures shared by the site test modules (there is no conftest.py here: see sitecheck).
html_dir = sitecheck.html_dir
site_summary = sitecheck.site_summary

PAGES = sitecheck.toc_pages()
WIDTHS = sitecheck.WIDTHS
HEIGHTS = {1280: 900, 390: 844}
THEMES = sitecheck.THEMES

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Console errors that are known upstream noise, as regular expressions, each with the
#: reason it is tolerated. Keep it empty: every entry hides something a reader may see.
ALLOWED_CONSOLE_ERRORS: list[str] = []

# --------------------------------------------------------------------------------------
# JavaScript run in the page
# --------------------------------------------------------------------------------------

WAIT_FOR_MATH = """async () => {
  const first = document.querySelector('.math');
  const hasMath = first !== null;
  if (!window.MathJax || !window.MathJax.startup || !window.MathJax.startup.promise) {
    return {hasMath, mathjax: false, example: first ? first.textContent.slice(0, 80) : null};
  }
  await window.MathJax.startup.promise;
  await document.fonts.ready;
  const math = Array.from(document.querySelectorAll('.math'));
  const items = Array.from(window.MathJax.startup.document.math || []);
  return {
    hasMath, mathjax: true, version: window.MathJax.version,
    formulas: math.length,
    untypeset: math.filter(el => !el.querySelector('mjx-container'))
                   .map(el => el.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                 .map(el => (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 80)),
    // \\undefinedmacro: MathJax's noundefined extension draws the macro name in red (in
    // CHTML the glyphs are CSS content, so the message quotes the formula's TeX source)
    undefinedMacros: Array.from(document.querySelectorAll('mjx-container [style*="color: red"]'))
                 .map(el => {
                   const box = el.closest('mjx-container');
                   const item = items.find(i => i.typesetRoot === box);
                   return (item ? item.math : el.textContent).slice(0, 80);
                 }),
  };
}"""

RAW_TEXT = """() => {
  // (MathML and SVG elements keep their lower-case tag names in an HTML page)
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'KBD', 'SAMP', 'TEXTAREA',
                        'MJX-CONTAINER', 'MJX-ASSISTIVE-MML', 'math', 'svg']);
  const skipClass = ['highlight'];
  const main = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el && el !== main.parentElement; el = el.parentElement) {
        if (skip.has(el.tagName) || skipClass.some(c => el.classList.contains(c))) {
          return NodeFilter.FILTER_REJECT;
        }
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  const bad = [];
  const re = /\\$|\\\\[A-Za-z]{2,}|\\\\[()\\[\\]{}]/g;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent;
    let m;
    while ((m = re.exec(t)) !== null) {
      bad.push(t.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\\s+/g, ' '));
    }
  }
  return bad;
}"""

IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  return imgs.map(img => ({src: img.getAttribute('src'), alt: img.getAttribute('alt'),
                           naturalWidth: img.naturalWidth}));
}"""

LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"

WIDTHS_JS = """() => {
  const scrollWidth = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  const out = {scrollWidth, innerWidth: window.innerWidth,
               theme: document.documentElement.dataset.theme,
               mode: document.documentElement.dataset.mode, culprits: []};
  if (scrollWidth <= window.innerWidth) return out;
  // Name the outermost elements that stick out (not those inside a scrolling box).
  const clipped = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) {
        return true; } } return false; };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= window.innerWidth + 0.5 || clipped(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.position === 'fixed') continue;  // closed drawers
    if (out.culprits.some(c => c.el.contains(el))) continue;
    out.culprits.push({el, text: `<${el.tagName.toLowerCase()} class="${el.className}"> `
                                 + `right edge ${Math.round(r.right)} px: `
                                 + el.textContent.trim().slice(0, 60)});
    if (out.culprits.length >= 3) break;
  }
  out.culprits = out.culprits.map(c => c.text);
  return out;
}"""

SIDEBAR_JS = """() => {
  const s = document.querySelector('.bd-sidebar-primary');
  if (!s) return null;
  const r = s.getBoundingClientRect();
  const cs = getComputedStyle(s);
  const visible = cs.visibility !== 'hidden' && cs.display !== 'none' && r.width > 0
                  && r.right > 1 && r.left < window.innerWidth - 1;
  return {visible, left: r.left, right: r.right, width: r.width,
          links: s.querySelectorAll('nav a').length};
}"""

DROPDOWN_STATE = """(el) => {
  const body = Array.from(el.children).filter(c => !c.classList.contains('admonition-title')
                                                && c.tagName !== 'SUMMARY'
                                                && !c.classList.contains('sd-summary-title'));
  const shown = body.some(c => { const r = c.getBoundingClientRect();
                                 return r.height > 0 && getComputedStyle(c).visibility !== 'hidden'; });
  return {shown, hiddenClass: el.classList.contains('toggle-hidden'),
          open: el.tagName === 'DETAILS' ? el.open : null};
}"""

DROPDOWN_SELECTOR = ".solution.dropdown, .admonition.dropdown, details.sd-dropdown"


# The drawer is open (and in the screen), and focus has moved into it (pydata-sphinx-theme
# focuses its first link 100 ms after the click; Escape closes the drawer from there).
SIDEBAR_OPEN = f"""() => {{
  const s = ({SIDEBAR_JS})();
  return s !== null && s.visible && s.left >= -1;
}}"""
SIDEBAR_FOCUSED = """() => {
  const s = document.querySelector('.bd-sidebar-primary');
  return s !== null && s.contains(document.activeElement);
}"""
SIDEBAR_CLOSED = f"() => {{ const s = ({SIDEBAR_JS})(); return s === null || !s.visible; }}"
DROPDOWN_SHOWN = f"(el) => ({DROPDOWN_STATE})(el).shown"
DROPDOWN_HIDDEN = f"(el) => !({DROPDOWN_STATE})(el).shown"
MODE = "() => document.documentElement.dataset.mode"
NO_TOOLTIP = "() => document.querySelector('.tooltip') === null"
PAGE_HEIGHT = "() => Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"

#: Page height (px) per screenshot file; a taller page is shot in parts. A JPEG is at most
#: 65,535 px high (the full-page shots of the API page used to be empty files).
SCREENSHOT_PART = 16384

#: How long to wait for a condition a reader would see at once (ms); a slower page is
#: reported, not waited for forever. Loading a long page on a busy machine can take a while.
REACT_MS = 5_000
LOAD_MS = 180_000


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site_url(html_dir: Path) -> Iterator[str]:
    """Serve ``html_dir`` on 127.0.0.1 (a free port) in a thread, for the whole session."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _chromium() -> str | None:
    env = os.environ.get("LINCLIP_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _jobs() -> int:
    """How many browsers check pages in parallel: ``LINCLIP_BROWSER_JOBS``, else the
    CPUs this process may use, at most 4 (each browser keeps about one core busy)."""
    env = os.environ.get("LINCLIP_BROWSER_JOBS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"LINCLIP_BROWSER_JOBS={env!r}: expected a whole number >= 1")
        return int(env)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # under pytest -n: one browser per worker
        return 1
    return max(1, min(4, len(os.sched_getaffinity(0))))


@pytest.fixture(scope="session", autouse=True)
def _screenshot_dir() -> None:
    # Not emptied: files are overwritten by name (the summary counts this run's files).
    sitecheck.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)


def _console_allowed(text: str) -> bool:
    return any(re.search(pattern, text) for pattern in ALLOWED_CONSOLE_ERRORS)


class BrowserUnavailable(Exception):
    """Chromium does not start (the tests skip, or fail with CI=true)."""


class _Views:
    """Checks the selected (page, width) pairs in ``jobs`` threads, each with its own
    Playwright and Chromium (Playwright's sync API is one instance per thread), longest
    pages first; ``result(page, width)`` waits for that pair: ``{theme: problems}``."""

    def __init__(self, site_url: str, html_dir: Path, executable: str, pairs: list, jobs: int):
        self.site_url, self.html_dir, self.executable = site_url, html_dir, executable
        self.results: dict[tuple[str, int], Future] = {pair: Future() for pair in pairs}
        # Longest first: the last jobs are short, so the browsers finish together.
        order = sorted(pairs, key=lambda pw: -(html_dir / pw[0]).stat().st_size)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        for pair in order:
            self.queue.put(pair)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.alive = jobs
        self.threads = [
            threading.Thread(target=self._work, name=f"browser-{i}", daemon=True)
            for i in range(jobs)
        ]
        for t in self.threads:
            t.start()

    def _next(self) -> tuple[str, int] | None:
        if self.stop.is_set():
            return None
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    def _work(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                try:
                    browser = p.chromium.launch(
                        executable_path=self.executable, args=CHROMIUM_ARGS
                    )
                except Exception as exc:  # noqa: BLE001 - any launch failure: "cannot run"
                    self._lost(
                        BrowserUnavailable(f"chromium ({self.executable}) does not start: {exc}")
                    )
                    return
                try:
                    while (pair := self._next()) is not None:
                        future = self.results[pair]
                        if not future.set_running_or_notify_cancel():
                            continue
                        start = time.perf_counter()
                        try:
                            future.set_result(_check_page(browser, self, *pair))
                        except BaseException as exc:  # noqa: BLE001 - reported by the test
                            future.set_exception(exc)
                        sitecheck.PAGE_SECONDS[f"{pair[0]} at {pair[1]} px"] = (
                            time.perf_counter() - start
                        )
                finally:
                    browser.close()
        except Exception as exc:  # noqa: BLE001 - Playwright itself does not start
            self._lost(BrowserUnavailable(f"Playwright does not start: {exc}"))

    def _lost(self, exc: Exception) -> None:
        """A thread could not start its browser; the last one fails the pending pairs."""
        with self.lock:
            self.alive -= 1
            if self.alive > 0:
                return
        while (pair := self._next()) is not None:
            if self.results[pair].set_running_or_notify_cancel():
                self.results[pair].set_exception(exc)

    def result(self, page: str, width: int) -> dict[str, list[str]]:
        return self.results[(page, width)].result()

    def close(self) -> None:
        self.stop.set()
        for future in self.results.values():
            future.cancel()
        for t in self.threads:
            t.join(timeout=LOAD_MS / 1000)


@pytest.fixture(scope="session")
def views(request: pytest.FixtureRequest, site_url: str, html_dir: Path) -> Iterator[_Views]:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("Playwright for Python is not installed (pip install -r requirements.txt)")
    executable = _chromium()
    if executable is None:
        skip_or_fail("no chromium found (apt-get install -y chromium, or set LINCLIP_CHROMIUM)")
    pairs = []
    for item in request.session.items:  # the selected views, e.g. after -k
        callspec = getattr(item, "callspec", None)
        if getattr(item, "originalname", None) == "test_page_as_a_reader_sees_it" and callspec:
            pair = (callspec.params["page"], callspec.params["width"])
            if pair not in pairs:
                pairs.append(pair)
    jobs = min(_jobs(), max(1, len(pairs)))
    sitecheck.BROWSER_JOBS = jobs
    checker = _Views(site_url, html_dir, executable, pairs, jobs)
    try:
        yield checker
    finally:
        checker.close()


# --------------------------------------------------------------------------------------
# The checks of one page at one width, in both themes
# --------------------------------------------------------------------------------------


def _wait(tab, condition: str, arg=None, timeout: float = REACT_MS) -> bool:
    """Wait until the JavaScript ``condition`` is true (checked every frame); False if it
    is still false after ``timeout`` ms."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        tab.wait_for_function(condition, arg=arg, timeout=timeout, polling="raf")
    except PlaywrightTimeout:
        return False
    return True


def _themes_for(width: int) -> tuple[str, ...]:
    """The themes of a page at ``width``: the first is loaded, the others switched to.
    The loaded theme alternates with the width, so each page is loaded in every theme."""
    k = WIDTHS.index(width) % len(THEMES)
    return THEMES[k:] + THEMES[:k]


def _check_page(browser, views: _Views, page: str, width: int) -> dict[str, list[str]]:
    site_url, html_dir = views.site_url, views.html_dir
    origin = site_url.rstrip("/")
    themes = _themes_for(width)
    results: dict[str, list[str]] = {theme: [] for theme in themes}
    problems = results[themes[0]]  # where the page's events go (switched with the theme)
    context = browser.new_context(
        viewport={"width": width, "height": HEIGHTS[width]},
        color_scheme=themes[0],
        reduced_motion="reduce",
    )
    context.set_default_timeout(REACT_MS * 6)
    context.set_default_navigation_timeout(LOAD_MS)
    # The theme the reader chose last time (pydata-sphinx-theme keeps it in localStorage).
    context.add_init_script(
        f"localStorage.setItem('mode', '{themes[0]}');"
        f"localStorage.setItem('theme', '{themes[0]}');"
    )

    def report(message: str) -> None:
        problems.append(message)

    def route(r) -> None:
        if r.request.url.startswith(origin + "/"):
            r.continue_()
        else:
            report(f"non-local request blocked: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on(
        "console",
        lambda m: (
            m.type == "error"
            and not _console_allowed(m.text)
            and report(f"console error: {m.text}")
        ),
    )
    tab.on("pageerror", lambda e: report(f"uncaught exception: {e}"))
    tab.on("response", lambda r: r.status >= 400 and report(f"HTTP {r.status}: {r.url}"))
    tab.on(
        "requestfailed",
        lambda r: (
            r.url.startswith(origin + "/") and report(f"request failed: {r.url} ({r.failure})")
        ),
    )
    try:
        response = tab.goto(site_url + page, wait_until="load")
        if response is None or not response.ok:
            report(f"{page}: HTTP {response and response.status}")
        else:
            math = tab.evaluate(WAIT_FOR_MATH)  # typeset once; checked again per theme
            # What went wrong while loading and typesetting concerns every theme's view.
            load_problems = [f"{p} (loading in the {themes[0]} theme)" for p in problems]
            for k, theme in enumerate(themes):
                if k > 0:
                    problems = results[theme]
                    problems += load_problems
                    _switch_theme(tab, theme, report)
                    math = tab.evaluate(WAIT_FOR_MATH)
                _check_view(tab, html_dir, page, width, theme, math, report)
    finally:
        context.close()
    return results


def _switch_theme(tab, theme: str, report) -> None:
    """Switch to ``theme`` as a reader does: the system preference changes, and the
    theme button (light/dark/auto, in the order pydata-sphinx-theme cycles) is clicked."""
    tab.evaluate("window.scrollTo(0, 0)")
    tab.emulate_media(color_scheme=theme, reduced_motion="reduce")
    button = tab.locator(".theme-switch-button:visible").first
    if button.count() == 0:
        report("no visible theme button (.theme-switch-button)")
        return
    for _ in range(3):  # at most once through light, dark, auto
        if tab.evaluate(MODE) == theme:
            break
        button.click()
    if tab.evaluate(MODE) != theme:
        report(f"the theme button does not reach the {theme} mode ({tab.evaluate(MODE)!r})")
    # Leave the page as loaded: the mouse where it starts, no focus ring, no tooltip.
    tab.mouse.move(0, 0)
    tab.evaluate("() => document.activeElement && document.activeElement.blur()")
    _wait(tab, NO_TOOLTIP)


def _check_view(tab, html_dir: Path, page: str, width: int, theme: str, math, report) -> None:
    """Every check of one view; the page is loaded and in ``theme``, scrolled to the top,
    with its dropdowns and drawer closed (and left so)."""
    # MathJax
    if math["hasMath"] and not math["mathjax"]:
        report(f"math on a page without MathJax (the reader sees raw TeX): {math['example']!r}")
    if math["mathjax"]:
        if not math["version"].startswith("3."):
            report(f"MathJax {math['version']}, expected 3.x")
        for t in math["untypeset"]:
            report(f"formula not typeset: {t!r}")
        for t in math["errors"]:
            report(f"MathJax error: {t!r}")
        for t in math["undefinedMacros"]:
            report(f"undefined TeX macro: {t!r}")
    for t in tab.evaluate(RAW_TEXT):
        report(f"raw TeX or stray '$' in text: ...{t}...")

    # Theme and width
    layout = tab.evaluate(WIDTHS_JS)
    if layout["theme"] != theme:
        report(f"theme is {layout['theme']!r}, expected {theme!r}")
    if layout["scrollWidth"] > layout["innerWidth"]:
        report(
            f"page is wider than the screen: scrollWidth {layout['scrollWidth']}"
            f" > {layout['innerWidth']} px; sticking out: {layout['culprits']}"
        )

    # Images
    for img in tab.evaluate(IMAGES):
        if img["naturalWidth"] <= 0:
            report(f"image does not load: {img['src']}")
        why = sitecheck.alt_problem(img["alt"], img["src"] or "")
        if why:
            report(f"image {img['src']}: {why}")

    # Internal links (the served files are the files on disk)
    for href in sorted(set(tab.evaluate(LINKS))):
        why = sitecheck.broken_internal_link(html_dir, page, href)
        if why:
            report(f"broken link {why}")

    _screenshot(tab, page, width, theme, report)

    # A solution dropdown opens (and closes again, for the next theme's view)
    dropdowns = tab.locator(DROPDOWN_SELECTOR)
    if dropdowns.count() > 0:
        first = dropdowns.first
        first.scroll_into_view_if_needed()
        state = first.evaluate(DROPDOWN_STATE)
        if state["shown"]:
            report(f"dropdown is open before it is clicked ({state})")
        # The reader's control: the toggle button (sphinx-togglebutton), or <summary>.
        # (Not the title's centre: a solution's title holds a link to its exercise.)
        button = first.locator("button.toggle-button")
        if button.count() == 0:
            button = first.locator("summary")
        button.first.click()
        handle = first.element_handle()
        _wait(tab, DROPDOWN_SHOWN, handle)
        state = first.evaluate(DROPDOWN_STATE)
        if not state["shown"]:
            report(f"dropdown does not open when clicked ({state})")
        else:
            button.first.click()
            if not _wait(tab, DROPDOWN_HIDDEN, handle):
                report(f"dropdown does not close when clicked again ({state})")
        tab.evaluate("window.scrollTo(0, 0)")

    # Sidebar: a drawer behind a toggle on a phone, shown on a desktop.
    before = tab.evaluate(SIDEBAR_JS)
    if before is None:
        report("no primary sidebar (.bd-sidebar-primary)")
    elif width < 960:
        if before["visible"]:
            report(f"phone: the sidebar drawer is open before its toggle is clicked ({before})")
        toggle = tab.locator("button.primary-toggle").first
        if toggle.count() == 0 or not toggle.is_visible():
            report("phone: no visible sidebar toggle (button.primary-toggle)")
        else:
            toggle.click()
            _wait(tab, SIDEBAR_OPEN)  # the drawer slides in (a CSS transition)
            after = tab.evaluate(SIDEBAR_JS)
            if not (
                after["visible"]
                and after["left"] >= -1
                and after["right"] <= width + 1
                and after["links"] > 0
            ):
                report(f"phone: the sidebar drawer does not open ({after})")
            else:
                _wait(tab, SIDEBAR_FOCUSED)
                tab.keyboard.press("Escape")
                if not _wait(tab, SIDEBAR_CLOSED):
                    report(f"phone: Escape does not close the sidebar drawer ({after})")
    elif not before["visible"] or before["links"] == 0:
        report(f"desktop: the sidebar is not shown ({before})")


def _screenshot(tab, page: str, width: int, theme: str, report) -> None:
    """The whole page, as a reader scrolls through it: the window is made up to
    ``SCREENSHOT_PART`` px high and shot part by part (cheaper than Playwright's
    ``full_page``, which lays a long page out again for every shot), then restored."""
    stem = f"{page.removesuffix('.html').replace('/', '__')}_{width}px_{theme}"
    for old in sitecheck.SCREENSHOT_DIR.glob(f"{stem}*.jpg"):
        old.unlink()
    part = min(tab.evaluate(PAGE_HEIGHT), SCREENSHOT_PART)
    tab.set_viewport_size({"width": width, "height": part})
    try:
        height = tab.evaluate(PAGE_HEIGHT)  # the layout may change with the window
        tops = list(range(0, height, part)) or [0]
        for k, top in enumerate(tops):
            name = f"{stem}.jpg" if len(tops) == 1 else f"{stem}_part{k + 1:02d}.jpg"
            tab.evaluate("(y) => window.scrollTo(0, y)", top)  # the last part may overlap
            # JPEG: a PNG of a long page takes several times longer to encode.
            data = tab.screenshot(
                path=str(sitecheck.SCREENSHOT_DIR / name), type="jpeg", quality=75
            )
            if not data:
                report(f"screenshot {name} is empty")
    finally:
        tab.set_viewport_size({"width": width, "height": HEIGHTS[width]})
        tab.evaluate("window.scrollTo(0, 0)")


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
@pytest.mark.parametrize("page", PAGES)
def test_page_as_a_reader_sees_it(views: _Views, page: str, width: int, theme: str) -> None:
    try:
        problems = views.result(page, width)[theme]
    except BrowserUnavailable as exc:
        skip_or_fail(str(exc))
    assert not problems, (
        f"{page} at {width} px, {theme} theme: {len(problems)} problem(s)\n"
        + "\n".join(f"  - {p}" for p in problems)
    )


def test_the_book_has_a_solution_dropdown(html_dir: Path) -> None:
    """The dropdown check above is vacuous unless some page has a solution dropdown."""
    pages = [
        p
        for p in PAGES
        if re.search(
            r'class="[^"]*\bsolution\b[^"]*\bdropdown\b',
            (html_dir / p).read_text(encoding="utf-8"),
        )
    ]
    assert pages, "no page in the toc has a solution dropdown"
