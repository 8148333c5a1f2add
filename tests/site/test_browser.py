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
* on a phone the sidebar drawer opens when its toggle is clicked; on a page with a
  solution dropdown, the dropdown opens.

A screenshot of each page x width x theme goes to ``_build/screenshots/`` (not committed).
The test builds nothing: it serves the HTML that ``scripts/test.sh`` built.

Chromium is ``$LINCLIP_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH.
Without it (or without Playwright) the test is SKIPPED loudly, or fails with CI=true.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
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
  return {
    hasMath, mathjax: true, version: window.MathJax.version,
    formulas: math.length,
    untypeset: math.filter(el => !el.querySelector('mjx-container'))
                   .map(el => el.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                 .map(el => (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 80)),
    // \\undefinedmacro: MathJax's noundefined extension draws the macro name in red
    undefinedMacros: Array.from(document.querySelectorAll('mjx-container [style*="color: red"]'))
                 .map(el => el.textContent.slice(0, 80)),
  };
}"""

RAW_TEXT = """() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'KBD', 'SAMP', 'TEXTAREA',
                        'MJX-CONTAINER', 'MJX-ASSISTIVE-MML', 'MATH', 'svg']);
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


@pytest.fixture(scope="session")
def browser(site_url: str):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed (pip install -r requirements.txt)")
    executable = _chromium()
    if executable is None:
        skip_or_fail("no chromium found (apt-get install -y chromium, or set LINCLIP_CHROMIUM)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure means "cannot run"
            skip_or_fail(f"chromium ({executable}) does not start: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="session", autouse=True)
def _screenshot_dir() -> None:
    # Not emptied: files are overwritten by name (the summary counts this run's files).
    sitecheck.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)


def _console_allowed(text: str) -> bool:
    return any(re.search(pattern, text) for pattern in ALLOWED_CONSOLE_ERRORS)


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
@pytest.mark.parametrize("page", PAGES)
def test_page_as_a_reader_sees_it(
    browser,
    site_url: str,
    html_dir: Path,
    page: str,
    width: int,
    theme: str,
) -> None:
    problems: list[str] = []
    origin = site_url.rstrip("/")
    context = browser.new_context(
        viewport={"width": width, "height": HEIGHTS[width]},
        color_scheme=theme,
        reduced_motion="reduce",
    )
    # The theme the reader chose last time (pydata-sphinx-theme keeps it in localStorage).
    context.add_init_script(
        f"localStorage.setItem('mode', '{theme}');localStorage.setItem('theme', '{theme}');"
    )

    def route(r) -> None:
        if r.request.url.startswith(origin + "/"):
            r.continue_()
        else:
            problems.append(f"non-local request blocked: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on(
        "console",
        lambda m: (
            m.type == "error"
            and not _console_allowed(m.text)
            and problems.append(f"console error: {m.text}")
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    tab.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    tab.on(
        "requestfailed",
        lambda r: (
            r.url.startswith(origin + "/")
            and problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    try:
        response = tab.goto(site_url + page, wait_until="load")
        assert response is not None and response.ok, f"{page}: HTTP {response and response.status}"

        # MathJax
        math = tab.evaluate(WAIT_FOR_MATH)
        if math["hasMath"] and not math["mathjax"]:
            problems.append(
                f"math on a page without MathJax (the reader sees raw TeX): {math['example']!r}"
            )
        if math["mathjax"]:
            if not math["version"].startswith("3."):
                problems.append(f"MathJax {math['version']}, expected 3.x")
            problems += [f"formula not typeset: {t!r}" for t in math["untypeset"]]
            problems += [f"MathJax error: {t!r}" for t in math["errors"]]
            problems += [f"undefined TeX macro: {t!r}" for t in math["undefinedMacros"]]
        problems += [f"raw TeX or stray '$' in text: ...{t}..." for t in tab.evaluate(RAW_TEXT)]

        # Theme and width
        layout = tab.evaluate(WIDTHS_JS)
        if layout["theme"] != theme:
            problems.append(f"theme is {layout['theme']!r}, expected {theme!r}")
        if layout["scrollWidth"] > layout["innerWidth"]:
            problems.append(
                f"page is wider than the screen: scrollWidth {layout['scrollWidth']}"
                f" > {layout['innerWidth']} px; sticking out: {layout['culprits']}"
            )

        # Images
        for img in tab.evaluate(IMAGES):
            if img["naturalWidth"] <= 0:
                problems.append(f"image does not load: {img['src']}")
            why = sitecheck.alt_problem(img["alt"], img["src"] or "")
            if why:
                problems.append(f"image {img['src']}: {why}")

        # Internal links (the served files are the files on disk)
        for href in sorted(set(tab.evaluate(LINKS))):
            why = sitecheck.broken_internal_link(html_dir, page, href)
            if why:
                problems.append(f"broken link {why}")

        name = page.removesuffix(".html").replace("/", "__")
        # JPEG: a full-page PNG of a long page takes several times longer to encode.
        tab.screenshot(
            path=str(sitecheck.SCREENSHOT_DIR / f"{name}_{width}px_{theme}.jpg"),
            full_page=True,
            type="jpeg",
            quality=75,
        )

        # A solution dropdown opens
        dropdowns = tab.locator(DROPDOWN_SELECTOR)
        if dropdowns.count() > 0:
            first = dropdowns.first
            first.scroll_into_view_if_needed()
            state = first.evaluate(DROPDOWN_STATE)
            if state["shown"]:
                problems.append(f"dropdown is open before it is clicked ({state})")
            # The reader's control: the toggle button (sphinx-togglebutton), or <summary>.
            # (Not the title's centre: a solution's title holds a link to its exercise.)
            button = first.locator("button.toggle-button")
            if button.count() == 0:
                button = first.locator("summary")
            button.first.click()
            tab.wait_for_timeout(300)
            state = first.evaluate(DROPDOWN_STATE)
            if not state["shown"]:
                problems.append(f"dropdown does not open when clicked ({state})")
        # Sidebar: a drawer behind a toggle on a phone, shown on a desktop.
        before = tab.evaluate(SIDEBAR_JS)
        if before is None:
            problems.append("no primary sidebar (.bd-sidebar-primary)")
        elif width < 960:
            if before["visible"]:
                problems.append(
                    f"phone: the sidebar drawer is open before its toggle is clicked ({before})"
                )
            toggle = tab.locator("button.primary-toggle").first
            if toggle.count() == 0 or not toggle.is_visible():
                problems.append("phone: no visible sidebar toggle (button.primary-toggle)")
            else:
                toggle.click()
                for _ in range(30):  # the drawer slides in (a CSS transition)
                    tab.wait_for_timeout(100)
                    after = tab.evaluate(SIDEBAR_JS)
                    if after["visible"] and after["left"] >= -1:
                        break
                after = tab.evaluate(SIDEBAR_JS)
                if not (
                    after["visible"]
                    and after["left"] >= -1
                    and after["right"] <= width + 1
                    and after["links"] > 0
                ):
                    problems.append(f"phone: the sidebar drawer does not open ({after})")
                tab.keyboard.press("Escape")
        elif not before["visible"] or before["links"] == 0:
            problems.append(f"desktop: the sidebar is not shown ({before})")

    finally:
        context.close()

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
