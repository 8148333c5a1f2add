#!/usr/bin/env bash
# The full test suite:
#   1. unit tests            python -m pytest tests
#   2. chapter notebooks     strict nbval: re-execute every notebook under book/ and compare
#                            its outputs with the committed ones (book/nbval_sanitize.cfg)
#   3. strict book build     jupyter-book build -W -n --keep-going --all into _build/strict
#   4. static HTML check     python -m pytest tests/site/test_static_html.py over the HTML of
#                            step 3 (_build/strict/_build/html): stray $, TeX in titles,
#                            alt text, broken internal links; needs no browser
#   5. browser test          python -m pytest tests/site/test_browser.py: headless Chromium
#                            (Debian's chromium package) opens every page of step 3's HTML at
#                            1280 and 390 px, light and dark, with the network blocked;
#                            screenshots in _build/screenshots/. Each page is loaded once per
#                            width and switched to the other theme; LINCLIP_BROWSER_JOBS
#                            browsers (default: the usable CPUs, at most 4) check pages in
#                            parallel. Without chromium it SKIPS loudly; with CI=true
#                            (.ci/run) a skip is a failure.
#   (0. PDF edition          scripts/build_pdf.sh, before the unit tests; see below)
# Every step runs even if an earlier one fails; the exit status is non-zero if any failed.
# Each step prints its wall-clock time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

export PYTHONHASHSEED=0
# Unit tests draw off-screen (Agg). The notebook kernels must NOT inherit MPLBACKEND=Agg:
# they need the inline backend, or figure cells lose their committed image outputs.
unset MPLBACKEND

failed=()

run_step() {
    local name="$1"
    shift
    echo
    echo "=================================================================="
    echo "== $name"
    echo "=================================================================="
    local rc=0
    local start=$SECONDS
    "$@" || rc=$?
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        echo "-- $name: passed (${took} s)"
    else
        echo "-- $name: FAILED (exit status $rc, ${took} s)"
        failed+=("$name")
    fi
    timings+=("$(printf '%5d s  %s' "$took" "$name")")
}
timings=()

# pytest exits with 5 when it collects no tests; for the notebook step that only means
# no chapter notebooks exist yet, which is not a failure.
pytest_no_tests_ok() {
    local rc=0
    python -m pytest "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "(no notebooks collected; nothing to check)"
        return 0
    fi
    return "$rc"
}

# --- PDF edition (SITE-B; keep these lines together) --------------------------------------
# Built BEFORE the unit tests so that tests/test_pdf.py checks a fresh PDF. In CI (CI=true)
# scripts/build_pdf.sh installs TeX when missing (apt-get, as root); locally it is built
# only where TeX is already installed, and tests/test_pdf.py then skips, saying so.
if [ "${CI:-}" = "true" ] || command -v xelatex >/dev/null 2>&1; then
    run_step "PDF edition (scripts/build_pdf.sh)" \
        env BUILD_PDF_SKIP_SETUP=1 bash scripts/build_pdf.sh
else
    echo
    echo "*** TeX is not installed: the PDF edition is NOT built and tests/test_pdf.py"
    echo "*** will skip. Run 'bash scripts/build_pdf.sh' (as root on Debian) to install it."
fi
# --- end of PDF edition lines ----------------------------------------------------------------

run_step "Lint and type-check (ruff, mypy)" \
    bash -c "ruff check src tests benchmarks && ruff format --check src tests benchmarks && mypy"

run_step "Doctests (Examples sections of the package)" \
    env MPLBACKEND=Agg python -m pytest -q --doctest-modules src/linclip

run_step "Unit tests" \
    env MPLBACKEND=Agg python -m pytest -n 2 tests --ignore=tests/site

run_step "Chapter notebooks (strict nbval)" \
    pytest_no_tests_ok --nbval --nbval-current-env -n 2 --dist loadfile \
        --nbval-sanitize-with book/nbval_sanitize.cfg book/

# --all: re-read every page, so warnings from unchanged pages are reported again.
# The old HTML goes first, so the site tests below never check a stale build.
rm -rf _build/strict/_build/html
run_step "Strict book build (warnings are errors)" \
    jupyter-book build . -W -n --keep-going --all --path-output _build/strict

# The site tests check the HTML the strict build just wrote; they build nothing. They are a
# separate pytest invocation: `python -m pytest tests` (step 1) does not collect tests/site/.
export LINCLIP_SITE_HTML="$REPO_ROOT/_build/strict/_build/html"
run_step "Static HTML check (built site)" \
    python -m pytest tests/site/test_static_html.py

# The pages are checked by parallel browsers inside this one pytest process (not xdist: no
# -n), so the summary (views, screenshots, slowest pages) works as it is; the tests only
# wait for the browsers' results, so it is the summary, not --durations, that times pages.
run_step "Browser test (built site, headless Chromium)" \
    python -m pytest tests/site/test_browser.py

echo
echo "Time per step:"
printf '  %s\n' "${timings[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED steps:"
    printf '  - %s\n' "${failed[@]}"
    exit 1
fi
echo "All steps passed."
