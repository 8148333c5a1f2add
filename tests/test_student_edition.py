"""The student-edition script removes every solution and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_student_edition", ROOT / "scripts" / "make_student_edition.py"
)
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
        nbformat.v4.new_markdown_cell(
            "```{solution-start} ex-a\n:class: dropdown\n```\nSecret A."
        ),
        nbformat.v4.new_code_cell("secret_code = 42"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
        nbformat.v4.new_markdown_cell(
            "```{exercise} B\n:label: ex-b\nDo B.\n```\n\n```{solution} ex-b\n:class: dropdown\n"
            "Secret B.\n```\n\nKeep this sentence."
        ),
        nbformat.v4.new_code_cell("visible = 1"),
    ]
    return nb


def test_strip_removes_gated_and_plain_solutions_and_keeps_the_rest():
    nb = _toy_notebook()
    out = mse.strip_solutions(nb)
    text = _text(out)
    for secret in [
        "Secret A",
        "secret_code",
        "Secret B",
        "solution-start",
        "solution-end",
        "{solution}",
    ]:
        assert secret not in text
    for kept in [
        "# Title",
        "Do A.",
        "Do B.",
        "Keep this sentence.",
        "visible = 1",
        "exercise-start",
        "exercise-end",
    ]:
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


# --------------------------------------------------------------------------------------
# Instructor material, buttons and sentences that send students to solutions

CONFIG = (ROOT / "_config.yml").read_text(encoding="utf-8")


def test_student_config_has_no_repository_and_no_launch_buttons():
    import yaml

    cfg = yaml.safe_load(mse.student_config(CONFIG))
    assert cfg["title"].endswith(mse.TITLE_SUFFIX)
    assert "repository" not in cfg and "launch_buttons" not in cfg
    for button in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        assert cfg["html"][button] is False
    # The rest of the configuration is kept.
    original = yaml.safe_load(CONFIG)
    assert cfg["sphinx"] == original["sphinx"] and cfg["execute"] == original["execute"]
    assert cfg["html"]["use_multitoc_numbering"] == original["html"]["use_multitoc_numbering"]


def test_student_config_with_a_student_repository_points_only_there():
    import yaml

    url = "https://example.org/course/student-book"
    # The instructor's repository URL is unset in the book's config: give it one, so that
    # "the student config never names it" is a real check.
    instructor = "https://example.org/course/instructor-book"
    config = CONFIG.replace('  url: ""', f"  url: {instructor}")
    assert yaml.safe_load(config)["repository"]["url"] == instructor
    cfg = yaml.safe_load(mse.student_config(config, url))
    assert cfg["repository"]["url"] == url
    assert cfg["html"]["use_repository_button"] is True
    assert cfg["launch_buttons"] == yaml.safe_load(config)["launch_buttons"]
    assert instructor not in mse.student_config(config, url)


def test_student_toc_drops_the_instructors_part():
    toc = (
        "# comment\nformat: jb-book\nroot: book/index\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: book/a\n"
        f"  - caption: {mse.INSTRUCTOR_PART}\n    chapters:\n      - file: book/guide\n"
        "  - caption: Back matter\n    chapters:\n      - file: book/bibliography\n"
    )
    text, files = mse.student_toc(toc)
    assert files == ["book/guide"]
    assert "book/guide" not in text and "book/a" in text and "book/bibliography" in text
    assert text.startswith("# comment")


def test_rewrites_remove_every_pointer_to_a_solution():
    text = (
        "you see. Solutions to exercises are collapsed; click on a solution to open it. "
        "Theorems.\n\nWrite your three numbers down, then open the solution, which averages "
        "over 20 samples.\n\nEstimate it by hand before opening the solution, which uses "
        "`f`.\n\nKeep this. Now read the solution below. Keep that too."
    )
    dropped = []
    out = mse.rewrite_for_students(text, dropped=dropped)
    assert not mse.OPEN_SOLUTION.search(out)
    assert "then check them with code that averages" in out
    assert "by hand, then check it with `f`" in out
    assert "Keep this." in out and "Keep that too." in out and "read the solution" not in out
    assert len(dropped) == 1


def test_student_edition_sources_send_no_one_to_solutions_or_instructors(tmp_path):
    out = tmp_path / "student"
    dropped = []
    mse.write_student_edition(out, dropped=dropped)
    assert dropped == []  # every such sentence of the book is covered by a rewrite
    texts = [p.read_text(encoding="utf-8") for p in (out / "book").rglob("*.md")]
    for path in (out / "book").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        texts += [c.source for c in nb.cells if c.cell_type == "markdown"]
    for text in texts:
        assert not mse.OPEN_SOLUTION.search(text), text[:300]
        assert "make_student_edition" not in text and "instructor_guide" not in text
    assert not list((out / "book").glob("instructor_guide.*"))
    assert mse.INSTRUCTOR_PART not in (out / "_toc.yml").read_text()


def test_student_edition_html_has_no_launch_or_repository_link(tmp_path):
    """Build the student edition (index page and one notebook chapter) and read its HTML."""
    import shutil
    import subprocess
    import sys

    import yaml

    if (
        shutil.which("jupyter-book") is None
        and not (Path(sys.executable).parent / "jupyter-book").exists()
    ):
        pytest.skip("jupyter-book is not installed")
    out = tmp_path / "student"
    mse.write_student_edition(out)
    # Two pages are enough to see the theme's buttons (launch buttons appear on notebook
    # pages only) and keep the build short; the configuration is the edition's own.
    toc = yaml.safe_load((out / "_toc.yml").read_text())
    first = toc["parts"][0]["chapters"][0]["file"]
    (out / "_toc.yml").write_text(
        yaml.safe_dump(
            {
                "format": "jb-book",
                "root": toc["root"],
                "parts": [{"caption": "Part", "chapters": [{"file": first}]}],
            }
        )
    )
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [
        str(exe) if exe.exists() else "jupyter-book",
        "build",
        str(out),
        "--path-output",
        str(tmp_path / "build"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    html_dir = tmp_path / "build" / "_build" / "html"
    pages = [html_dir / "book" / "index.html", html_dir / f"{first}.html"]
    repo_url = yaml.safe_load(CONFIG)["repository"]["url"]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for needle in (
            *([repo_url] if repo_url else []),
            "mybinder.org",
            "colab.research.google.com",
            "launch-buttons",
            "fa-github",
            "instructor_guide",
        ):
            assert needle not in html, (page.name, needle)
