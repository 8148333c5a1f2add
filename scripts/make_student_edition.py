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

What else changes
-----------------
* Instructor material: the toc part "For instructors" (the instructor guide, with the
  problem sets' rubrics) is dropped from ``_toc.yml`` and its pages are not copied.
* Buttons: the book's ``_config.yml`` points the repository and launch (Binder, Colab)
  buttons at the instructor repository, whose notebooks contain every solution. The
  student edition's config therefore has no repository URL, no repository, issues or edit
  button and no launch buttons, unless ``--student-repository URL`` names a separate
  repository that holds the student edition; then the buttons point there.
* Sentences that tell the reader to open a solution (the preface's "click on a solution to
  open it", "then open the solution, which ..." in exercises) are rewritten, and the
  preface's section for instructors is removed (:data:`STUDENT_REWRITES`). Any other
  sentence that still tells the reader to open a solution is dropped and reported.

Everything else (including the committed outputs of the remaining cells) is kept. The
edition is a self-contained Jupyter Book: ``_config.yml`` with the title changed to
"... (student edition)" (and the changes above), the same ``_toc.yml`` (same relative
paths) without the instructors' part, and a copy of ``book/`` (assets,
``references.bib``) with the notebooks and pages stripped.

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
INSTRUCTOR_PART = "For instructors"  # the toc part that is not part of the student edition

# Sentences of the instructor edition that make no sense (or point to instructor material) in
# the student edition: (pattern, replacement), applied to every markdown cell and page. A
# replacement of None removes the match. Patterns allow for the line breaks of wrapped text.
_WS = r"\s+"
STUDENT_REWRITES: list[tuple[re.Pattern, str | None]] = [
    (re.compile(r"Solutions" + _WS + "to" + _WS + "exercises" + _WS + "are" + _WS
                + r"collapsed;\s+click\s+on\s+a\s+solution\s+to\s+open\s+it\."),
     ("This is the student edition: the exercises have no solutions here, so work them out\n"
      "yourself and ask your instructor for feedback.")),
    (re.compile(r",?\s+then\s+open\s+the\s+solution,\s+which\s+"),
     ", then check them with code that "),
    (re.compile(r"\s+before\s+opening\s+the\s+solution,\s+which\s+uses\s+"),
     ", then check it with "),
    # The preface's instructors' entry and section describe how to make this edition.
    (re.compile(r"^Instructors\n: [^\n]*(?:\n  [^\n]*)*\n?", re.MULTILINE), None),
    (re.compile(r"^\(for-instructors\)=\n## [^\n]*\n(?:(?!## |\([\w-]+\)=\n## )[^\n]*\n)*",
                re.MULTILINE), None),
]
# Without a student repository, the preface's description of the launch buttons is wrong.
_BUTTONS_SENTENCE = re.compile(
    r"The\s+buttons\s+at\s+the\s+top\s+of\s+each\s+page\s+download[^.]*?\(rocket\s+icon\)\.")
_BUTTONS_REPLACEMENT = "The button at the top of each page downloads the page's source."
# A sentence that still sends the reader to a solution (checked after the rewrites).
OPEN_SOLUTION = re.compile(
    r"(?:click|open|opening|see|read|reveal|expand)\w*\s+(?:on\s+)?(?:the|a|its)\s+solution\b",
    re.IGNORECASE)

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


def _drop_sentence(text: str, m: re.Match) -> str:
    """Remove the sentence around match ``m`` (bounded by '. ' or a blank line)."""
    starts = [i + 2 for i in (text.rfind(". ", 0, m.start()), text.rfind("\n\n", 0, m.start()))
              if i >= 0]
    start = max(starts, default=0)
    ends = [i + 1 for i in (text.find(". ", m.end()), text.find(".\n", m.end())) if i >= 0]
    end = min(ends, default=len(text))
    return text[:start] + text[end:].lstrip(" ")


def rewrite_for_students(text: str, launch_buttons: bool = False,
                         dropped: list[str] | None = None) -> str:
    """Markdown ``text`` with the sentences of :data:`STUDENT_REWRITES` rewritten.

    ``launch_buttons`` says whether the student edition has repository/launch buttons (a
    student repository is configured); without them the preface's description of the
    buttons is replaced. Any sentence still matching :data:`OPEN_SOLUTION` is dropped and
    appended to ``dropped``.
    """
    for pattern, replacement in STUDENT_REWRITES:
        text = pattern.sub("" if replacement is None else replacement, text)
    if not launch_buttons:
        text = _BUTTONS_SENTENCE.sub(_BUTTONS_REPLACEMENT, text)
    while (m := OPEN_SOLUTION.search(text)) is not None:
        if dropped is not None:
            dropped.append(text[max(0, m.start() - 60):m.end() + 60].replace("\n", " "))
        new = _drop_sentence(text, m)
        if new == text:  # cannot happen, but never loop forever
            break
        text = new
    return text


def strip_solutions_from_markdown_page(text: str) -> str:
    """Student version of a ``.md`` page (non-gated solution blocks only)."""
    if _SOLUTION_START.search(text) or _SOLUTION_END.search(text):
        raise SolutionMarkupError("gated solutions are only supported in notebooks")
    out = strip_solution_blocks(text)
    return _tidy(out) + "\n"


def _retitle(config_text: str) -> str:
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


def _remove_top_level_block(config_text: str, key: str) -> str:
    """Remove the top-level ``key:`` mapping (its line and all indented/blank lines after)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:.*\n(?:(?:[ \t]+.*|[ \t]*)\n)*", re.MULTILINE)
    return pattern.sub("", config_text)


def student_config(config_text: str, student_repository: str | None = None) -> str:
    """``_config.yml`` text for the student edition.

    The title becomes '... (student edition)' (edited in place, so comments and layout are
    preserved). The ``repository`` and ``launch_buttons`` blocks are removed and the
    repository, issues and edit buttons are switched off, because in the book's config they
    lead to the instructor repository (whose notebooks contain the solutions). If
    ``student_repository`` (a URL) is given, a ``repository`` block pointing there is
    written instead and the launch buttons are kept.
    """
    import yaml

    text = _retitle(config_text)
    launch = re.search(r"^launch_buttons\s*:.*\n(?:(?:[ \t]+.*|[ \t]*)\n)*", text, re.MULTILINE)
    html = yaml.safe_load(text).get("html") or {}
    text = _remove_top_level_block(text, "repository")
    text = _remove_top_level_block(text, "launch_buttons")
    text = _remove_top_level_block(text, "html")
    html = dict(html)
    for button in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        html[button] = False
    block = ("\n# Student edition: no button may lead to the instructor repository.\n"
             + yaml.safe_dump({"html": html}, sort_keys=False))
    if student_repository:
        html["use_repository_button"] = True
        block = ("\n# Student edition: the buttons lead to the student repository only.\n"
                 + yaml.safe_dump({"html": html}, sort_keys=False)
                 + yaml.safe_dump({"repository": {"url": student_repository,
                                                  "path_to_book": ".", "branch": "main"}},
                                  sort_keys=False)
                 + (launch.group(0) if launch else ""))
    return text.rstrip("\n") + "\n" + block


def student_toc(toc_text: str) -> tuple[str, list[str]]:
    """``_toc.yml`` without the part :data:`INSTRUCTOR_PART`; also returns its files."""
    import yaml

    toc = yaml.safe_load(toc_text)
    parts = toc.get("parts", [])
    dropped = [p for p in parts if p.get("caption") == INSTRUCTOR_PART]
    if not dropped:
        return toc_text, []
    files = [c["file"] for p in dropped for c in p.get("chapters", []) if "file" in c]
    toc["parts"] = [p for p in parts if p.get("caption") != INSTRUCTOR_PART]
    header = "".join(line + "\n" for line in toc_text.splitlines() if line.startswith("#"))
    return header + yaml.safe_dump(toc, sort_keys=False), files


def write_student_edition(out_dir: Path, repo_root: Path = REPO_ROOT,
                          student_repository: str | None = None,
                          dropped: list[str] | None = None) -> list[Path]:
    """Write the student edition into ``out_dir``. Returns the notebooks and pages changed.

    ``student_repository``: see :func:`student_config`. Sentences dropped by
    :func:`rewrite_for_students` are appended to ``dropped``.
    """
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
        student_config((repo_root / "_config.yml").read_text(encoding="utf-8"),
                       student_repository),
        encoding="utf-8")
    toc_text, instructor_files = student_toc((repo_root / "_toc.yml").read_text(encoding="utf-8"))
    (out_dir / "_toc.yml").write_text(toc_text, encoding="utf-8")
    shutil.copytree(repo_root / BOOK_DIR, out_dir / BOOK_DIR,
                    ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints",
                                                  "__pycache__", "nbval_sanitize.cfg"))
    for stem in instructor_files:  # instructor pages are not part of the student edition
        for path in (out_dir / stem).parent.glob(Path(stem).name + ".*"):
            path.unlink()

    launch = bool(student_repository)
    changed = []
    for path in sorted((out_dir / BOOK_DIR).rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student = strip_solutions(nb)
        for cell in student.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_for_students(_source(cell), launch, dropped)
        if student.cells != nb.cells:
            changed.append(path)
        nbformat.validate(student)
        nbformat.write(student, path)
    for path in sorted((out_dir / BOOK_DIR).rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = rewrite_for_students(strip_solutions_from_markdown_page(text), launch, dropped)
        if _tidy(new) != _tidy(text):
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student",
                        help="output directory (default: <repo>/student)")
    parser.add_argument("--student-repository", metavar="URL", default=None,
                        help="a repository holding the student edition; only then does the "
                             "edition get repository and launch buttons (pointing there)")
    args = parser.parse_args(argv)
    dropped: list[str] = []
    try:
        changed = write_student_edition(args.out, student_repository=args.student_repository,
                                        dropped=dropped)
    except (SolutionMarkupError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    print(f"Student edition written to {out}")
    for path in changed:
        print(f"  solutions removed or sentences rewritten in {path.relative_to(out)}")
    if not changed:
        print("  (no solutions found)")
    for text in dropped:
        print(f"  warning: dropped a sentence that pointed to a solution: ...{text}...")
    print(f"Build it with:  jupyter-book build {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
