#!/usr/bin/env python
"""Write a student edition of the book: the same book with every exercise solution removed.

Usage (from anywhere, with .venv activated)::

    python scripts/make_student_edition.py            # writes <repo>/student/
    python scripts/make_student_edition.py --out DIR  # writes DIR/ instead
    jupyter-book build student                        # HTML in student/_build/html

What is removed
---------------
* Gated solutions (the form needed when a solution contains code): everything from the
  markdown cell that opens ```{solution-start} through the cell that holds the matching
  ```{solution-end}, inclusive, including every code or markdown cell in between. Text in
  the opening cell *before* the solution-start fence, and text in the closing cell *after*
  the solution-end block, is kept (so an ``{exercise-end}`` sharing a cell survives).
* Non-gated solutions: ```{solution} ... ``` (or ``:::{solution}``) directive blocks inside
  markdown cells and inside ``.md`` pages.
* Cells tagged ``solution`` (cell metadata ``tags``), as an explicit escape hatch.

Everything else (including the committed outputs of the remaining cells) is kept. The
edition is a self-contained Jupyter Book: ``_config.yml`` with the title changed to
"... (student edition)", the same ``_toc.yml`` (same relative paths), and a copy of
``book/`` (assets, ``references.bib``) with the notebooks and pages stripped.

Why not sphinx-exercise's ``hide_solutions``: with gated solutions it crashes the HTML
build (``unknown node type: solution_end_node``), and it would still ship the solution code
cells inside the notebooks.

The core transformation is importable without side effects, e.g. for a test::

    import importlib.util
    spec = importlib.util.spec_from_file_location("mse", "scripts/make_student_edition.py")
    mse = importlib.util.module_from_spec(spec); spec.loader.exec_module(mse)
    student_nb = mse.strip_solutions(nb)   # nb: an nbformat.NotebookNode; nb is not modified
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = "book"
MARKER = ".student-edition"  # marks an output directory this script may overwrite
TITLE_SUFFIX = " (student edition)"

# An opening fence: 3+ backticks or 3+ colons, then {name}, at the start of a line
# (up to 3 spaces of indentation, as in CommonMark).
_OPEN = r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{%s\}[^\n]*$"
_SOLUTION_START = re.compile(_OPEN % r"solution-start", re.MULTILINE)
_SOLUTION_END = re.compile(_OPEN % r"solution-end", re.MULTILINE)
_SOLUTION = re.compile(_OPEN % r"solution", re.MULTILINE)
_ANY_SOLUTION_DIRECTIVE = re.compile(_OPEN % r"solution(?:-start|-end)?", re.MULTILINE)


class SolutionMarkupError(ValueError):
    """Raised when solution markup is unbalanced, so nothing is silently dropped or leaked."""


def _block_end(text: str, open_match: re.Match) -> int:
    """Index just past the closing fence of the directive block opened by ``open_match``.

    The closing fence is the first later line that consists only of the same fence
    character, at least as long as the opening fence (CommonMark), optionally indented by up
    to 3 spaces. Shorter inner fences (nested code blocks) therefore do not close it.
    """
    fence = open_match.group("fence")
    closing = re.compile(r"^ {0,3}%s%s*[ \t]*$" % (re.escape(fence), re.escape(fence[0])),
                         re.MULTILINE)
    m = closing.search(text, open_match.end())
    if m is None:
        raise SolutionMarkupError(
            f"unclosed directive block starting with {open_match.group(0).strip()!r}")
    end = m.end()
    if end < len(text) and text[end] == "\n":
        end += 1
    return end


def strip_solution_blocks(text: str) -> str:
    """Remove every non-gated ``{solution}`` directive block from markdown ``text``."""
    while True:
        m = _SOLUTION.search(text)
        if m is None:
            return text
        text = text[:m.start()] + text[_block_end(text, m):]


def _tidy(text: str) -> str:
    """Collapse the blank lines left where a block was cut out."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _has_tag(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def strip_solutions(nb):
    """Return a copy of notebook ``nb`` with all solution content removed.

    ``nb`` is an ``nbformat.NotebookNode`` (any v4 minor version); it is not modified.
    Raises :class:`SolutionMarkupError` if a solution-start has no matching solution-end
    (or vice versa), or if any solution directive survives the transformation.
    """
    nb = copy.deepcopy(nb)
    kept = []
    inside = False  # between a solution-start and its solution-end
    for cell in nb.cells:
        src = _source(cell)
        if cell.cell_type != "markdown":
            if not inside and not _has_tag(cell, "solution"):
                kept.append(cell)
            continue

        pos = 0
        pieces = []  # the parts of this cell that lie outside gated solutions
        text = src
        state = inside  # True while inside a solution-start ... solution-end span
        # Walk through the cell: alternate between outside text and gated solution spans.
        while True:
            if not state:
                m = _SOLUTION_START.search(text, pos)
                stray_end = _SOLUTION_END.search(text, pos)
                if stray_end is not None and (m is None or stray_end.start() < m.start()):
                    raise SolutionMarkupError("solution-end without a preceding solution-start")
                if m is None:
                    pieces.append(text[pos:])
                    break
                pieces.append(text[pos:m.start()])
                state = True
                pos = m.start()
            else:
                m = _SOLUTION_END.search(text, pos)
                if m is None:
                    break  # the solution continues in later cells
                pos = _block_end(text, m)
                state = False
        inside = state

        if _has_tag(cell, "solution"):
            continue
        new_src = _tidy(strip_solution_blocks("".join(pieces)))
        if new_src.strip():
            cell.source = new_src
            kept.append(cell)

    if inside:
        raise SolutionMarkupError("solution-start without a matching solution-end")
    nb.cells = kept
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _ANY_SOLUTION_DIRECTIVE.search(_source(cell)):
            raise SolutionMarkupError("solution markup survived stripping: "
                                      + _source(cell)[:200])
    return nb


def strip_solutions_from_markdown_page(text: str) -> str:
    """Student version of a ``.md`` page (non-gated solution blocks only)."""
    if _SOLUTION_START.search(text) or _SOLUTION_END.search(text):
        raise SolutionMarkupError("gated solutions are only supported in notebooks")
    out = strip_solution_blocks(text)
    return _tidy(out) + "\n"


def student_config(config_text: str) -> str:
    """``_config.yml`` text with the book title changed to '... (student edition)'.

    Edits the ``title:`` line in place, so comments and layout are preserved.
    """
    import yaml  # PyYAML is a dependency of jupyter-book

    pattern = re.compile(r"^title\s*:(?P<value>.*)$", re.MULTILINE)
    m = pattern.search(config_text)
    if m is None:
        title = "Book"
        return f"title: {yaml.safe_dump(title + TITLE_SUFFIX).strip()}\n" + config_text
    value = yaml.safe_load(m.group("value").split(" #")[0]) or "Book"
    new_line = "title: " + yaml.safe_dump(str(value) + TITLE_SUFFIX,
                                          default_style='"', width=10**6).strip()
    return config_text[:m.start()] + new_line + config_text[m.end():]


def write_student_edition(out_dir: Path, repo_root: Path = REPO_ROOT) -> list[Path]:
    """Write the student edition into ``out_dir``. Returns the notebooks and pages changed."""
    out_dir = Path(out_dir).resolve()
    if out_dir == repo_root.resolve() or repo_root.resolve().is_relative_to(out_dir):
        raise ValueError(f"refusing to write the student edition into {out_dir}")
    if out_dir.exists():
        if not (out_dir / MARKER).exists():
            raise FileExistsError(
                f"{out_dir} exists and was not written by this script; remove it or use --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text("Generated by scripts/make_student_edition.py; "
                                  "safe to delete.\n")

    (out_dir / "_config.yml").write_text(
        student_config((repo_root / "_config.yml").read_text(encoding="utf-8")),
        encoding="utf-8")
    shutil.copy2(repo_root / "_toc.yml", out_dir / "_toc.yml")
    shutil.copytree(repo_root / BOOK_DIR, out_dir / BOOK_DIR,
                    ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints",
                                                  "__pycache__", "nbval_sanitize.cfg"))

    changed = []
    for path in sorted((out_dir / BOOK_DIR).rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student = strip_solutions(nb)
        if student.cells != nb.cells:
            changed.append(path)
        nbformat.validate(student)
        nbformat.write(student, path)
    for path in sorted((out_dir / BOOK_DIR).rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = strip_solutions_from_markdown_page(text)
        if new != text and _SOLUTION.search(text):
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student",
                        help="output directory (default: <repo>/student)")
    args = parser.parse_args(argv)
    try:
        changed = write_student_edition(args.out)
    except (SolutionMarkupError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    print(f"Student edition written to {out}")
    for path in changed:
        print(f"  solutions removed from {path.relative_to(out)}")
    if not changed:
        print("  (no solutions found)")
    print(f"Build it with:  jupyter-book build {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
