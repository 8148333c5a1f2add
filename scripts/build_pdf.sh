#!/usr/bin/env bash
# Build the PDF edition of the book: _build/latex/linclip-companion.pdf
#
#     bash scripts/build_pdf.sh            # install TeX if missing, build, check the log
#     bash scripts/build_pdf.sh --no-install   # never call apt-get; fail if TeX is missing
#
# 1. TeX. If xelatex, latexmk, make, pdftotext or one of the LaTeX packages the build needs
#    is missing, installs (as root, with apt-get) the smallest Debian set that builds this
#    book (measured 2026-12: ~79 MB download, ~350 MB on disk, ~2.5 min):
#        latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
#        texlive-xetex fonts-freefont-otf poppler-utils make
#    (Sphinx's documented LaTeX requirements for the xelatex engine, plus pdftotext for the
#    tests). The engine is xelatex (_config.yml: latex.latex_engine), so Unicode text
#    (η, θ, √, ★, …) is typeset with the FreeFont OpenType fonts, maths with Latin Modern.
# 2. bbm.sty. sphinx-jupyterbook-latex's jupyterBook.cls does \RequirePackage{bbm}, and
#    Debian ships bbm only in texlive-fonts-extra (1.4 GB). This book never uses \mathbbm,
#    so scripts/tex/bbm.sty, a five-line stand-in that maps \mathbbm to amssymb's \mathbb,
#    is put on TEXINPUTS for this build only. (If a real bbm.sty is installed, the
#    stand-in still wins for this build; remove scripts/tex from TEXINPUTS to use it.)
# 3. Build: jupyter-book build . --builder pdflatex (from the committed notebook outputs;
#    nothing is executed). The file name comes from _config.yml
#    (latex.latex_documents.targetname).
# 4. Check: fails (exit 1) on any undefined reference or citation, any missing glyph
#    ("Missing character" in the LaTeX log), any \label{None:...} (a theorem-like block
#    whose chapter sphinx-proof could not find), or a LaTeX error.
#
# After a successful build, an HTML build of the book (scripts/build_book.sh) copies the
# PDF into the site and links it from every page's download menu ("PDF edition").
#
# Environment: BUILD_PDF_SKIP_SETUP=1 skips scripts/_setup.sh (use the active Python
# environment as it is; scripts/test.sh sets it because it has already run the setup).
# PDF_PATH_OUTPUT=DIR builds into DIR/_build/latex instead of ./_build/latex.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

INSTALL=1
for arg in "$@"; do
    case "$arg" in
        --no-install) INSTALL=0 ;;
        -h|--help) sed -n '2,33p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build_pdf.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

APT_PACKAGES=(latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
              texlive-xetex fonts-freefont-otf poppler-utils make)
# What the build needs (commands and LaTeX packages; bbm.sty is provided by scripts/tex).
NEEDED_COMMANDS=(xelatex latexmk make pdftotext pdfinfo kpsewhich)
NEEDED_STY=(fncychap.sty changepage.sty pgfplots.sty tikz.sty mathrsfs.sty tabulary.sty
            capt-of.sty needspace.sty wrapfig.sty fontspec.sty polyglossia.sty
            unicode-math.sty upquote.sty)

tex_missing() {
    local missing=()
    for c in "${NEEDED_COMMANDS[@]}"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if command -v kpsewhich >/dev/null 2>&1; then
        for s in "${NEEDED_STY[@]}"; do
            [ -n "$(kpsewhich "$s" 2>/dev/null)" ] || missing+=("$s")
        done
    fi
    if command -v fc-list >/dev/null 2>&1; then
        [ -n "$(fc-list FreeSerif 2>/dev/null)" ] || missing+=("font FreeSerif")
    else
        missing+=("fc-list")
    fi
    printf '%s\n' "${missing[@]}"
}

missing="$(tex_missing)"
if [ -n "$missing" ]; then
    echo "==> TeX tools missing: $(echo "$missing" | tr '\n' ' ')"
    if [ "$INSTALL" -eq 0 ]; then
        echo "build_pdf.sh: --no-install given; install: apt-get install -y" \
             "--no-install-recommends ${APT_PACKAGES[*]}" >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "build_pdf.sh: need root and apt-get to install:" \
             "apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}" >&2
        exit 1
    fi
    t0=$(date +%s)
    echo "==> Installing TeX: apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${APT_PACKAGES[@]}" >/dev/null
    echo "==> TeX installed in $(( $(date +%s) - t0 )) s"
    missing="$(tex_missing)"
    if [ -n "$missing" ]; then
        echo "build_pdf.sh: still missing after the install: $missing" >&2
        exit 1
    fi
fi

if [ "${BUILD_PDF_SKIP_SETUP:-0}" != "1" ]; then
    # shellcheck source=scripts/_setup.sh
    source "$REPO_ROOT/scripts/_setup.sh"
fi

OUT="${PDF_PATH_OUTPUT:-.}"
LATEX_DIR="$OUT/_build/latex"
TARGET="$(python - <<'EOF'
import pathlib, yaml
cfg = yaml.safe_load(open("_config.yml", encoding="utf-8"))
name = ((cfg.get("latex") or {}).get("latex_documents") or {}).get("targetname")
if not name:
    raise SystemExit("_config.yml: latex.latex_documents.targetname is not set")
print(pathlib.Path(name).with_suffix("").name)
EOF
)"
PDF="$LATEX_DIR/$TARGET.pdf"
LOG="$LATEX_DIR/$TARGET.log"
TEX="$LATEX_DIR/$TARGET.tex"

# The bbm.sty stand-in (see 2. above); TeX log lines unwrapped so that grep sees them whole.
export TEXINPUTS="$REPO_ROOT/scripts/tex:${TEXINPUTS:-}"
export max_print_line=100000

rm -f "$PDF" "$LOG"
t0=$(date +%s)
echo "==> Building the PDF edition (jupyter-book build . --builder pdflatex)"
jupyter-book build . --builder pdflatex --path-output "$OUT"
echo "==> PDF build took $(( $(date +%s) - t0 )) s"

if [ ! -s "$PDF" ] || [ ! -s "$LOG" ]; then
    echo "build_pdf.sh: FAILED: no $PDF (see $LOG)" >&2
    exit 1
fi

# --- check the LaTeX log and source -------------------------------------------------------
problems=0
report() {  # report TITLE PATTERN FILE
    local hits
    hits="$(grep -E "$2" "$3" | sort | uniq -c | sort -rn || true)"
    if [ -n "$hits" ]; then
        echo "build_pdf.sh: $1:" >&2
        echo "$hits" | head -40 >&2
        problems=1
    fi
}
report "undefined references or citations" \
    "(Reference|Citation|Hyper reference) .* undefined|There were undefined (references|citations)" "$LOG"
report "missing glyphs" "Missing character: " "$LOG"
report "LaTeX errors" "^! " "$LOG"
report "theorem-like blocks without a chapter (\\label{None:...})" '\\label\{None:[^}]*\}' "$TEX"
if [ "$problems" -ne 0 ]; then
    echo "build_pdf.sh: FAILED: the PDF was written to $PDF but has the problems above" >&2
    exit 1
fi

# Not fatal, but listed: text or maths running more than 10 pt into the right margin
# (code and outputs wrap: latex_elements.sphinxsetup verbatimforcewraps in _config.yml).
wide="$(grep -E '^Overfull \\hbox \(([1-9][0-9]|[1-9][0-9]{2,})\.[0-9]+pt too wide\)' "$LOG" || true)"
if [ -n "$wide" ]; then
    echo "build_pdf.sh: warning: lines wider than the text block (line numbers in $TEX):"
    echo "$wide" | sed 's/^/    /'
fi

pages="$(pdfinfo "$PDF" | awk '/^Pages:/ {print $2}')"
echo "==> PDF edition: $PDF ($pages pages, $(du -h "$PDF" | cut -f1))"
echo "    Rebuild the HTML (bash scripts/build_book.sh) to offer it for download on the site."
