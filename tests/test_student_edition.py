"""The student-edition script removes every solution and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_student_edition",
                                               ROOT / "scripts" / "make_student_edition.py")
mse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mse)

BOOK_NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def _toy_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nSome text."),
        nbformat.v4.new_markdown_cell("```{exercise-start}\n:label: ex-a\n```\nDo A."),
        nbformat.v4.new_markdown_cell("```{exercise-end}\n```"),
        nbformat.v4.new_markdown_cell("```{solution-start} ex-a\n:class: dropdown\n```\nSecret A."),
        nbformat.v4.new_code_cell("secret_code = 42"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
        nbformat.v4.new_markdown_cell(
            "```{exercise} B\n:label: ex-b\nDo B.\n```\n\n```{solution} ex-b\n:class: dropdown\n"
            "Secret B.\n```\n\nKeep this sentence."),
        nbformat.v4.new_code_cell("visible = 1"),
    ]
    return nb


def test_strip_removes_gated_and_plain_solutions_and_keeps_the_rest():
    nb = _toy_notebook()
    out = mse.strip_solutions(nb)
    text = _text(out)
    for secret in ["Secret A", "secret_code", "Secret B", "solution-start", "solution-end",
                   "{solution}"]:
        assert secret not in text
    for kept in ["# Title", "Do A.", "Do B.", "Keep this sentence.", "visible = 1",
                 "exercise-start", "exercise-end"]:
        assert kept in text
    # The input is left untouched.
    assert "Secret A" in _text(nb)


def test_unbalanced_gated_solution_raises():
    nb = _toy_notebook()
    del nb.cells[5]  # drop the solution-end cell
    with pytest.raises(Exception):
        mse.strip_solutions(nb)


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.stem)
def test_book_notebooks_lose_every_solution(path):
    nb = nbformat.read(path, as_version=4)
    out = mse.strip_solutions(nb)
    text = _text(out)
    assert "solution-start" not in text and "{solution}" not in text
    assert len(out.cells) <= len(nb.cells)
    if "exercise" in _text(nb):
        assert "exercise" in text
