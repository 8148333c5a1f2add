#!/usr/bin/env python
"""Write (or check) the install cell at the top of every chapter notebook.

A chapter notebook opened outside this repository (Colab, a downloaded copy) has no
``linclip``. Every chapter listed in ``_toc.yml`` therefore gets, as its first code cell,
a cell that installs ``linclip`` when, and only when, it cannot be imported:

* ``repository.url`` set in ``_config.yml``: ``pip install "linclip @ git+<url>@<branch>"``;
* unset (there is no public repository yet): it stops with a message saying how to
  install ``linclip`` from a clone of the repository.

Inside the repository (``linclip`` importable: an editable install, or ``PYTHONPATH``
pointing at ``src/``) the cell does nothing and prints nothing. Its first line is
``# NBVAL_SKIP``, so the strict nbval run skips it; it is tagged ``remove-cell``, so the
book's web pages and PDF do not show it (the downloaded and launched notebooks do). Its
code is <= 79 columns and stable under ``ruff format --line-length 79``.

Usage::

    python scripts/sync_install_cell.py            # write/update the cell in every chapter
    python scripts/sync_install_cell.py --check    # exit 1 if any chapter lacks the current cell
    python scripts/sync_install_cell.py --root DIR # a book root other than the repository

Re-run it (and re-execute nothing: the cell has no output) after changing
``repository.url``. The cell is recognised by its marker line, so re-running replaces the
old cell instead of adding a second one. Only the cell's source, tags and position are
compared by ``--check``; execution counts and metadata written by Jupyter are ignored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

MARKER = "# linclip install cell: written by scripts/sync_install_cell.py"
TAG = "remove-cell"
CELL_ID = "linclip-install"
MAX_COLUMNS = 79


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def repository_setting(root: Path) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``; url is "" while it is unset."""
    repo = _load_yaml(root / "_config.yml").get("repository") or {}
    url = str(repo.get("url") or "").strip().rstrip("/")
    branch = str(repo.get("branch") or "main").strip()
    return url, branch


def _toc_files(entry: object) -> list[str]:
    files: list[str] = []
    if isinstance(entry, dict):
        if "file" in entry:
            files.append(str(entry["file"]))
        for value in entry.values():
            if isinstance(value, (list, dict)):
                files.extend(_toc_files(value))
    elif isinstance(entry, list):
        for item in entry:
            files.extend(_toc_files(item))
    return files


def chapter_notebooks(root: Path) -> list[Path]:
    """The ``.ipynb`` chapters listed in ``_toc.yml`` (the root page included), in order."""
    toc = _load_yaml(root / "_toc.yml")
    names = ([str(toc["root"])] if "root" in toc else []) + _toc_files(toc)
    notebooks: list[Path] = []
    for name in names:
        path = root / name
        if path.suffix != ".ipynb":
            path = path.with_suffix(".ipynb")
        if path.is_file() and path not in notebooks:
            notebooks.append(path)
    return notebooks


def _split_string(text: str, indent: int) -> list[str]:
    """``"text"`` as one or more adjacent string literals fitting in MAX_COLUMNS."""
    width = MAX_COLUMNS - indent - 2
    chunks = [text[i : i + width] for i in range(0, len(text), width)] or [""]
    return [" " * indent + f'"{chunk}"' for chunk in chunks]


def cell_source(url: str, branch: str) -> str:
    """The install cell's code for a repository ``url`` ("" while unset)."""
    lines = [
        "# NBVAL_SKIP",
        MARKER,
        "# Installs linclip when this notebook runs outside the book's repository",
        "# (Colab, a downloaded copy); inside the repository it does nothing.",
        "import importlib.util",
    ]
    if url:
        requirement = f"linclip @ git+{url}@{branch}" if branch else f"linclip @ git+{url}"
        lines += [
            "import subprocess",
            "import sys",
            "",
            'if importlib.util.find_spec("linclip") is None:',
            "    subprocess.check_call(",
            "        [",
            "            sys.executable,",
            '            "-m",',
            '            "pip",',
            '            "install",',
            '            "--quiet",',
        ]
        literal = _split_string(requirement, 12)
        if len(literal) == 1:
            lines.append(literal[0] + ",")
        else:
            lines += ["            ("] + _split_string(requirement, 16) + ["            ),"]
        lines += ["        ]", "    )", "    importlib.invalidate_caches()"]
    else:
        lines += [
            "",
            'if importlib.util.find_spec("linclip") is None:',
            "    raise ModuleNotFoundError(",
            '        "This notebook needs the linclip package, which is not installed. "',
            '        "Clone the book\'s repository, run `pip install -r requirements.txt` "',
            '        "and `pip install -e .` in its root folder, restart the kernel and "',
            '        "open the notebook from the clone (book/...)."',
            "    )",
        ]
    source = "\n".join(lines)
    too_long = [line for line in lines if len(line) > MAX_COLUMNS]
    if too_long:
        raise ValueError(f"install cell lines exceed {MAX_COLUMNS} columns: {too_long}")
    return source


def _is_install_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and MARKER in cell.get("source", "")


def _expected_index(cells: list) -> int:
    """Where the install cell belongs: just before the first other code cell."""
    others = [c for c in cells if not _is_install_cell(c)]
    for i, cell in enumerate(others):
        if cell.get("cell_type") == "code":
            return i
    return len(others)


def notebook_status(nb: nbformat.NotebookNode, source: str) -> str | None:
    """None if ``nb`` has exactly the expected install cell in place, else why not."""
    found = [i for i, c in enumerate(nb.cells) if _is_install_cell(c)]
    if not found:
        return "no install cell"
    if len(found) > 1:
        return f"{len(found)} install cells"
    cell = nb.cells[found[0]]
    if cell.source != source:
        return "install cell out of date (repository.url changed?)"
    if TAG not in cell.get("metadata", {}).get("tags", []):
        return f"install cell lacks the {TAG!r} tag"
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    if first_code != found[0]:
        return "install cell is not the first code cell"
    return None


def sync_notebook(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """Return ``nb`` with exactly one, current install cell as its first code cell."""
    old = [c for c in nb.cells if _is_install_cell(c)]
    cells = [c for c in nb.cells if not _is_install_cell(c)]
    if old and old[0].source == source:
        cell = old[0]
    else:
        cell = nbformat.v4.new_code_cell(source=source)
        if nb.nbformat_minor >= 5:
            cell["id"] = CELL_ID
        elif "id" in cell:
            del cell["id"]
    tags = cell.metadata.setdefault("tags", [])
    if TAG not in tags:
        tags.append(TAG)
    cells.insert(_expected_index(cells), cell)
    nb.cells = cells
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on any gap")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="book root holding _config.yml and _toc.yml (default: the repository)",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    url, branch = repository_setting(root)
    source = cell_source(url, branch)
    notebooks = chapter_notebooks(root)
    if not notebooks:
        print(f"sync_install_cell: no chapter notebooks in {root / '_toc.yml'}", file=sys.stderr)
        return 1
    state = f"installs from {url}@{branch}" if url else "repository.url unset: explains"
    problems = 0
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        status = notebook_status(nb, source)
        rel = path.relative_to(root)
        if args.check:
            if status is not None:
                print(f"{rel}: {status}")
                problems += 1
        elif status is not None:
            nbformat.write(sync_notebook(nb, source), path)
            print(f"{rel}: install cell written ({state})")
    if args.check:
        if problems:
            print(
                f"sync_install_cell: {problems} of {len(notebooks)} chapter notebooks need "
                "`python scripts/sync_install_cell.py`",
                file=sys.stderr,
            )
            return 1
        print(f"sync_install_cell: all {len(notebooks)} chapter notebooks are current ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
