"""The PDF edition (scripts/build_pdf.sh): checked whenever TeX is installed.

* TeX (xelatex, latexmk) or poppler's pdftotext/pdfinfo missing: every test SKIPS, with a
  message saying so (``-ra`` prints it in the summary). ``.ci/run`` installs TeX and
  builds the PDF before the tests, so CI never skips.
* TeX present: the PDF ``_build/latex/<targetname>.pdf`` is used if it is newer than
  every source of the book; otherwise it is built here first (``scripts/build_pdf.sh
  --no-install`` into a temporary folder, ~1.5 min), which also fails on undefined
  references, missing glyphs and ``\\label{None:...}``.

Then: the page count is plausible, every chapter's title is in the ``pdftotext`` text,
no reference is printed as "??", and every exercise solution is in the PDF.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("xelatex", "latexmk", "make", "pdftotext", "pdfinfo")
MIN_PAGES_PER_CHAPTER = 5


def _skip_loudly(reason: str) -> None:
    message = f"PDF edition NOT CHECKED: {reason}"
    print(f"\n*** {message} ***", file=sys.stderr)
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _pdf_name() -> str:
    target = _config()["latex"]["latex_documents"]["targetname"]
    return Path(target).with_suffix(".pdf").name


def _toc_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def walk(entry) -> list[str]:
        found: list[str] = []
        if isinstance(entry, dict):
            if "file" in entry:
                found.append(entry["file"])
            for value in entry.values():
                if isinstance(value, (dict, list)):
                    found += walk(value)
        elif isinstance(entry, list):
            for item in entry:
                found += walk(item)
        return found

    paths = []
    for name in [toc["root"], *walk(toc)]:
        for suffix in (".ipynb", ".md"):
            path = ROOT / f"{name}{suffix}"
            if path.is_file():
                paths.append(path)
                break
    return paths


def _markdown_of(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _title(path: Path) -> str:
    for line in _markdown_of(path).splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise AssertionError(f"{path}: no '# ' title")


def _sources() -> list[Path]:
    paths = [ROOT / "_config.yml", ROOT / "_toc.yml", *_toc_files()]
    paths += sorted((ROOT / "book").rglob("*.bib"))
    return paths


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> Path:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        _skip_loudly(
            f"{', '.join(missing)} not installed; `bash scripts/build_pdf.sh` installs TeX "
            "(Debian, as root) and builds the PDF"
        )
    built = ROOT / "_build" / "latex" / _pdf_name()
    newest_source = max(p.stat().st_mtime for p in _sources())
    if built.is_file() and built.stat().st_mtime >= newest_source:
        return built
    out = tmp_path_factory.mktemp("pdf-edition")
    env = dict(os.environ, BUILD_PDF_SKIP_SETUP="1", PDF_PATH_OUTPUT=str(out))
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_pdf.sh"), "--no-install"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, (
        "scripts/build_pdf.sh failed:\n" + result.stdout[-4000:] + result.stderr[-4000:]
    )
    return out / "_build" / "latex" / _pdf_name()


@pytest.fixture(scope="module")
def text(pdf) -> str:
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def _normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\ufb01", "fi")
    text = text.replace("\ufb02", "fl").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text)


def test_page_count(pdf):
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    chapters = len(_toc_files())
    print(f"PDF edition: {pdf.name}, {pages} pages, {chapters} toc entries")
    assert pages >= MIN_PAGES_PER_CHAPTER * chapters, pages


def test_every_chapter_title_is_in_the_pdf(text):
    flat = _normalise(text)
    missing = []
    for path in _toc_files():
        title = _title(path)
        # Any TeX in a title (there should be none) is checked piece by piece around it.
        for piece in re.split(r"\$[^$]*\$", title):
            piece = _normalise(piece).strip(" :,")
            if piece and piece not in flat:
                missing.append((path.relative_to(ROOT).as_posix(), piece))
    assert not missing, missing


def test_no_unresolved_reference(text):
    lines = [line for line in text.splitlines() if "??" in line]
    assert not lines, lines[:10]


def test_every_solution_is_in_the_pdf(text):
    expected = 0
    for path in _toc_files():
        markdown = _markdown_of(path)
        expected += len(re.findall(r"^[`:]{3,}\{solution(?:-start)?\}", markdown, re.MULTILINE))
    found = len(re.findall(r"Solution to Exercise", text))
    assert found == expected, (found, expected)


def test_build_pdf_catches_broken_references_and_glyphs(tmp_path):
    """scripts/build_pdf.sh on a two-page book: a theorem-like block nested in an
    admonition of a chapter whose title has an apostrophe gets a real label; an undefined
    LaTeX reference and a glyph no font has make the script fail, naming both."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        _skip_loudly(f"{', '.join(missing)} not installed")
    import nbformat

    book = tmp_path / "mini"
    (book / "scripts").mkdir(parents=True)
    (book / "book").mkdir()
    shutil.copy(ROOT / "_config.yml", book)
    shutil.copytree(
        ROOT / "book" / "_ext",
        book / "book" / "_ext",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "scripts" / "build_pdf.sh", book / "scripts")
    shutil.copytree(ROOT / "scripts" / "tex", book / "scripts" / "tex")
    for bib in _config().get("bibtex_bibfiles") or []:
        (book / bib).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / bib, book / bib)
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/ch\n"
    )
    (book / "book" / "index.md").write_text(
        "# Preface\n\nA smile \U0001f642, see {prf:ref}`prop-x`.\n\n"
        "```{raw} latex\nSee \\ref{nowhere}.\n```\n",
        encoding="utf-8",
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# The teacher's chapter\n\n````{admonition} The paper's claim\n:class: note\n\n"
            "```{prf:proposition} A claim\n:label: prop-x\n\nText: η, θ, √, ★.\n```\n````\n"
        )
    ]
    nbformat.write(nb, book / "book" / "ch.ipynb")
    result = subprocess.run(
        ["bash", "scripts/build_pdf.sh", "--no-install"],
        check=False,
        capture_output=True,
        text=True,
        cwd=book,
        env=dict(os.environ, BUILD_PDF_SKIP_SETUP="1"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Reference `nowhere' on page" in output
    assert "There is no \U0001f642" in output
    assert "label{None" not in output
    tex = (book / "_build" / "latex" / Path(_pdf_name()).with_suffix(".tex").name).read_text()
    assert r"\label{book/ch:prop-x}" in tex
    assert "Missing character: There is no η" not in output
