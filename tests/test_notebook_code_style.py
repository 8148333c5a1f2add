"""Notebook code fits the page: every line of every code cell in every chapter notebook is
at most 79 characters (longer lines scroll sideways on the site and are clipped in print),
and the notebooks are formatted by ``ruff format --line-length 79`` (the developers'
guide: run ``ruff format --line-length 79 NB.ipynb`` and fix what it cannot).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_COLUMNS = 79
NOTEBOOKS = sorted(
    p for p in (REPO / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


def long_code_lines(notebook: Path, limit: int = MAX_COLUMNS) -> list[str]:
    """``cell N, line M: L columns: <line>`` for every code line longer than ``limit``."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    problems = []
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"]
        text = "".join(source) if isinstance(source, list) else source
        for m, line in enumerate(text.splitlines(), start=1):
            if len(line) > limit:
                problems.append(f"cell {n}, line {m}: {len(line)} columns: {line.strip()[:60]}")
    return problems


def _ruff() -> list[str] | None:
    try:
        import ruff  # noqa: F401

        return [sys.executable, "-m", "ruff"]
    except ImportError:
        exe = shutil.which("ruff")
        return [exe] if exe else None


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no chapter notebooks under book/"


def test_long_line_detector(tmp_path: Path) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["x" * 200]},
            {
                "cell_type": "code",
                "source": ["short = 1\n", "y = '" + "a" * 80 + "'\n"],
            },
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    (problem,) = long_code_lines(path)
    assert problem.startswith("cell 1, line 2: 86 columns")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_in_79_columns(notebook: Path) -> None:
    problems = long_code_lines(notebook)
    assert not problems, (
        f"{notebook.relative_to(REPO)}: {len(problems)} code line(s) over {MAX_COLUMNS} "
        "columns:\n" + "\n".join(f"  - {p}" for p in problems)
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_ruff_formatted(notebook: Path) -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.fail("ruff is not installed (pip install -r requirements.txt)")
    cmd = [
        *ruff,
        "format",
        "--check",
        "--diff",
        "--no-cache",
        f"--line-length={MAX_COLUMNS}",
    ]
    result = subprocess.run(
        [*cmd, str(notebook)], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.returncode == 0, (
        f"{notebook.relative_to(REPO)} is not formatted; run "
        f"`ruff format --line-length {MAX_COLUMNS} {notebook.relative_to(REPO)}`:\n"
        + (result.stdout + result.stderr)[-3000:]
    )
