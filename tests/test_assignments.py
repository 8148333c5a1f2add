"""The problem sets (assignments/) build, grade and leak nothing.

For every assignment: the solution scores full marks, the unanswered student notebook scores
zero autograded points, a notebook with one deliberately wrong answer loses exactly that
question's points, the student notebook holds no solution text and no hidden test, and it
executes top to bottom without an exception. The handout is built once per session (module
fixture); every grading runs ``otter run`` on one notebook (about 10-40 s each on 2 cores), and
the measured grading times are written to ``grading_times.json`` in the build folder and
printed with ``pytest -s``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "assignments.py"
_spec = importlib.util.spec_from_file_location("assignments_script", SCRIPT)
asg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(asg)

_vspec = importlib.util.spec_from_file_location("variants", asg.VARIANTS_FILE)
variants = importlib.util.module_from_spec(_vspec)
_vspec.loader.exec_module(variants)

NAMES = asg.list_assignments()
# The question answered wrongly in the "one wrong answer" test (a computation, a sympy
# derivation, a prediction question and an engine computation on the student's sample).
WRONG = {"foundations": "q3", "unfiltered": "q2", "filtering": "q4", "beyond": "q3"}
# Questions whose expected answer does not depend on the student id (symbolic derivations).
ID_FREE = {
    "foundations": {"q2"},
    "unfiltered": {"q2"},
    "filtering": {"q2"},
    "beyond": {"q2"},
}
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout")
    for name in NAMES:
        asg.build_one(name, out)
    yield out
    (out / "grading_times.json").write_text(json.dumps(TIMES, indent=2))
    print(
        "\ngrading time per notebook (s):",
        ", ".join(f"{k} {v:.1f}" for k, v in sorted(TIMES.items())),
    )


def _grade(handout, name, nb_path, label):
    res = asg.grade(name, handout, nb_path)
    TIMES[f"{name}/{label}"] = res["seconds"]
    return res


def _answer_variables(master, question):
    """Names assigned on ``# SOLUTION`` lines inside the question's solution cells."""
    names, inside = [], None
    for cell in master.cells:
        src = asg._source(cell)
        if cell.cell_type == "raw" and src.startswith("# BEGIN QUESTION"):
            inside = re.search(r"name:\s*(\S+)", src).group(1)
        if inside == question and cell.cell_type == "code":
            names += re.findall(r"^(q\d+_\w+)\s*=.*#\s*SOLUTION\s*$", src, re.MULTILINE)
    return sorted(set(names))


def _with_cell_after(nb, needle, source):
    """Copy of ``nb`` with a code cell ``source`` inserted after the first cell containing
    ``needle``."""
    nb = copy.deepcopy(nb)
    idx = next(i for i, c in enumerate(nb.cells) if needle in asg._source(c))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(source))
    return nb


def _all_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _all_strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _all_strings(value)


def _probes(master):
    """Distinctive strings of the solutions and of the hidden tests of a master notebook."""
    solution, hidden, public = set(), set(), []
    in_solution = in_tests = False
    for cell in master.cells:
        src = asg._source(cell)
        if not (in_solution or in_tests):
            public.append(src)
        if cell.cell_type == "raw":
            if src.startswith("# BEGIN SOLUTION"):
                in_solution = True
            elif src.startswith("# END SOLUTION"):
                in_solution = False
            elif src.startswith("# BEGIN TESTS"):
                in_tests = True
            elif src.startswith("# END TESTS"):
                in_tests = False
            continue
        if in_solution and cell.cell_type == "markdown":
            solution.update(s.strip() for s in re.split(r"(?<=\.)\s+", src) if len(s.strip()) > 30)
        elif in_solution and cell.cell_type == "code":
            block = False
            for line in src.splitlines():
                stripped = line.strip()
                if stripped == "# BEGIN SOLUTION":
                    block = True
                elif stripped == "# END SOLUTION":
                    block = False
                elif block and len(stripped) > 12:
                    solution.add(stripped)
                elif re.search(r"#\s*SOLUTION\s*$", line):
                    rhs = re.sub(r"#\s*SOLUTION\s*$", "", line).split("=", 1)[-1].strip()
                    if len(rhs) > 8:
                        solution.add(rhs)
        elif in_tests and cell.cell_type == "code" and "hidden: true" in src:
            body = src.split('""" # END TEST CONFIG', 1)[1]
            hidden.update(line.strip() for line in body.splitlines() if len(line.strip()) > 12)
    # A string that the prompts or the setup also contain is no evidence of a leak.
    public_text = "\n".join(public)
    return (
        {p for p in solution if p not in public_text},
        {p for p in hidden if p not in public_text},
    )


def _cli(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_list_names_every_assignment():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "list"], capture_output=True, text=True, check=True
    )
    assert NAMES == ["foundations", "unfiltered", "filtering", "beyond"]  # the book's order
    for name in NAMES:
        assert name in proc.stdout


def test_variants_are_deterministic_documented_and_personal():
    a = variants.variant("Alice ", "foundations")
    assert a == variants.variant("alice", "foundations")
    assert set(a) == {"d", "d_t", "r", "eta", "gamma", "gamma_t", "seed"}
    seen = {tuple(sorted(variants.variant(f"s{i:03d}", "foundations").items())) for i in range(50)}
    assert len(seen) == 50  # no two of 50 students share a variant (the seed alone differs)
    for i in range(200):
        v = variants.variant(f"student-{i}", "filtering")
        assert 2 <= v["r"] < v["d_t"] <= v["d"] and 0 < v["eta"] < 1
    assert variants.variant("x", "foundations") != variants.variant("x", "filtering")
    with pytest.raises(ValueError, match="STUDENT_ID"):
        variants.variant("  ", "foundations")


@pytest.mark.parametrize("name", NAMES)
def test_build_writes_the_handout(handout, name):
    dest = handout / name
    for f in ["student.ipynb", "solution.ipynb", "autograder.zip", "questions.json"]:
        assert (dest / f).is_file()
    manifest = json.loads((dest / "questions.json").read_text())
    qs = manifest["questions"]
    assert 4 <= len(qs) <= 8
    assert any(q["manual"] for q in qs) and any(not q["manual"] for q in qs)
    assert manifest["possible"] == sum(q["points"] for q in qs if not q["manual"]) > 0
    master = asg.read_master(name)
    text = "\n".join(asg._source(c) for c in master.cells)
    assert "sp.simplify(" in text and "Time:" in text  # a sympy question and a time estimate


@pytest.mark.parametrize("name", NAMES)
def test_solution_scores_full_marks(handout, name):
    res = _grade(handout, name, handout / name / "solution.ipynb", "solution")
    assert res["assignment"] == name
    assert res["score"] == res["possible"] > 0
    assert all(q["score"] == q["possible"] for q in res["questions"] if not q["manual"])


@pytest.mark.parametrize("name", NAMES)
def test_blank_student_notebook_scores_zero(handout, name):
    """Through the command line, with --json (one JSON object on stdout)."""
    proc = _cli(
        "grade", "--assignment", name, "--out", handout, handout / name / "student.ipynb", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert {"assignment", "score", "possible", "student_id", "questions"} <= set(res)
    assert res["assignment"] == name and res["student_id"] == "example-student"
    assert res["score"] == 0 and res["possible"] > 0
    TIMES[f"{name}/blank"] = res["seconds"]


@pytest.mark.parametrize("name", NAMES)
def test_one_wrong_answer_loses_exactly_that_question(handout, name, tmp_path):
    question = WRONG[name]
    answers = _answer_variables(asg.read_master(name), question)
    assert answers, f"no answer variables found for {name}/{question}"
    solution = nbformat.read(handout / name / "solution.ipynb", as_version=4)
    wrong = _with_cell_after(
        solution,
        f"{answers[0]} =",
        "\n".join(f"{a} = {a} + 1  # deliberately wrong" for a in answers),
    )
    path = tmp_path / "solution.ipynb"
    nbformat.write(wrong, path)
    res = _grade(handout, name, path, "wrong")
    lost = {q["name"]: q["possible"] - q["score"] for q in res["questions"] if not q["manual"]}
    points = next(q["possible"] for q in res["questions"] if q["name"] == question)
    assert lost[question] == points
    assert all(v == 0 for q, v in lost.items() if q != question)
    assert res["score"] == res["possible"] - points


@pytest.mark.parametrize("name", ["foundations", "beyond"])
def test_answers_for_another_students_variant_lose_points(handout, name, tmp_path):
    """Copying: answers computed for another id are wrong for one's own id."""
    solution = nbformat.read(handout / name / "solution.ipynb", as_version=4)
    setup = next(c for c in solution.cells if asg._source(c).startswith("STUDENT_ID ="))
    friend = asg._source(setup).replace('"example-student"', '"a-classmate"', 1)
    nb = _with_cell_after(solution, 'STUDENT_ID = "example-student"', friend)
    nb = _with_cell_after(nb, 'STUDENT_ID = "a-classmate"', 'STUDENT_ID = "example-student"')
    path = tmp_path / "solution.ipynb"
    nbformat.write(nb, path)
    assert asg.student_id_of(nb) == "example-student"
    res = _grade(handout, name, path, "copied")
    for q in res["questions"]:
        if q["manual"]:
            continue
        if q["name"] in ID_FREE[name]:
            assert q["score"] == q["possible"]
        else:
            assert q["score"] < q["possible"], q


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_has_no_solution_and_no_hidden_test(handout, name):
    solution_probes, hidden_probes = _probes(asg.read_master(name))
    assert len(solution_probes) >= 10 and len(hidden_probes) >= 4
    student = json.loads((handout / name / "student.ipynb").read_text())
    text = "\n".join(_all_strings(student))
    leaked = sorted(p for p in solution_probes | hidden_probes if p in text)
    assert leaked == []
    assert "hidden" not in json.dumps(student["metadata"]).replace('"hidden": false', "")
    # The probes are real: the solution notebook does contain the solution code.
    solution_text = "\n".join(
        _all_strings(json.loads((handout / name / "solution.ipynb").read_text()))
    )
    code_probes = [p for p in solution_probes if not p.endswith(".")]
    assert sum(p in solution_text for p in code_probes) >= 0.9 * len(code_probes)


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_executes_top_to_bottom(handout, name, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(handout / name / "student.ipynb", as_version=4)
    target = tmp_path / "student.ipynb"
    nbformat.write(nb, target)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    checks = [c for c in nb.cells if c.cell_type == "code" and "grader.check(" in c.source]
    assert checks and all(c.outputs for c in checks)  # the public checks ran (and failed)


def test_clear_errors(handout, tmp_path):
    cases = []
    cases.append(
        (
            _cli(
                "grade",
                "--assignment",
                "nosuch",
                "--out",
                handout,
                handout / "foundations" / "student.ipynb",
            ),
            "unknown assignment",
        )
    )
    bad = tmp_path / "broken.ipynb"
    bad.write_text('{"cells": [')
    cases.append(
        (_cli("grade", "--assignment", "foundations", "--out", handout, bad), "not valid JSON")
    )
    cases.append(
        (
            _cli(
                "grade",
                "--assignment",
                "foundations",
                "--out",
                handout,
                handout / "unfiltered" / "student.ipynb",
            ),
            "of assignment 'unfiltered', not 'foundations'",
        )
    )
    cases.append(
        (
            _cli(
                "grade",
                "--assignment",
                "foundations",
                "--out",
                tmp_path / "none",
                handout / "foundations" / "student.ipynb",
            ),
            "run 'python scripts",
        )
    )
    cases.append(
        (_cli("build", "--out", tmp_path / "x", "--only", "nosuch"), "unknown assignment")
    )
    for proc, message in cases:
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_use_only_the_stable_linclip_api(name):
    allowed = {
        "linclip",
        "linclip.model",
        "linclip.learner",
        "linclip.metrics",
        "linclip.filters",
        "linclip.score_law",
        "linclip.asymptotics",
        "linclip.prediction",
    }
    text = "\n".join(asg._source(c) for c in asg.read_master(name).cells)
    used = set(re.findall(r"(?:from|import)\s+(linclip(?:\.\w+)*)", text))
    assert used and used <= allowed, used - allowed
