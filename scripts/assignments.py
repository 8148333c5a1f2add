#!/usr/bin/env python
"""Build and grade the book's problem sets (otter-grader master notebooks in assignments/).

Usage (with the book's environment activated)::

    python scripts/assignments.py list
    python scripts/assignments.py build --out handout [--only NAME ...]
    python scripts/assignments.py grade --assignment NAME --out handout NOTEBOOK [--json]

``build`` writes, for every assignment NAME (a folder ``assignments/NAME/`` holding the
master notebook ``NAME.ipynb``):

* ``DIR/NAME/student.ipynb``  -- what students get: no solutions, no hidden tests;
* ``DIR/NAME/solution.ipynb`` -- the instructor's notebook, with solutions and rubrics;
* ``DIR/NAME/autograder.zip`` -- the grading bundle (also the file Gradescope asks for);
* ``DIR/NAME/questions.json`` -- the questions, their points and which are graded by hand.

``grade`` grades one returned notebook locally with ``otter run`` and prints a summary, or
with ``--json`` one JSON object with ``assignment``, ``student_id``, ``score`` and
``possible`` (autograded points), ``manual_possible`` (points graded by hand), the
per-question results and the grading time in seconds. Errors (unknown assignment, missing
bundle, a file that is not a notebook, a notebook of another assignment) are one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DIR = REPO_ROOT / "assignments"
VARIANTS_FILE = ASSIGNMENTS_DIR / "_common" / "variants.py"
# The master notebooks load the variant rule with this cell, so that they run as they are in
# Jupyter (from their own folder). The build replaces the cell by the file's text.
VARIANTS_CELL = "%run ../_common/variants.py"
MARKER = ".assignments-build"  # marks an output folder this script may overwrite
PUBLIC_TESTS = "Public Tests"


class UsageError(Exception):
    """A problem with the command line or the input files: reported in one line, status 2."""


# --------------------------------------------------------------------------------------
# The master notebooks


def list_assignments() -> list[str]:
    """Names of the assignments: folders of ``assignments/`` with a master ``NAME.ipynb``.

    In the book's order: by the number in the master's title ("# Problem set N: ..."), then
    by name.
    """
    names = [p.name for p in ASSIGNMENTS_DIR.iterdir()
             if p.is_dir() and not p.name.startswith(("_", "."))
             and (p / f"{p.name}.ipynb").is_file()]

    def order(name: str) -> tuple[int, str]:
        with open(ASSIGNMENTS_DIR / name / f"{name}.ipynb", encoding="utf-8") as f:
            m = re.search(r"# Problem set (\d+)", f.read())
        return (int(m.group(1)) if m else 10**6, name)

    return sorted(names, key=order)


def check_name(name: str) -> None:
    known = list_assignments()
    if name not in known:
        raise UsageError(f"unknown assignment {name!r} (known: {', '.join(known)})")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_master(name: str):
    import nbformat

    check_name(name)
    return nbformat.read(ASSIGNMENTS_DIR / name / f"{name}.ipynb", as_version=4)


def questions(nb) -> list[dict]:
    """The questions of a master notebook: name, points and whether graded by hand."""
    import yaml

    out = []
    for cell in nb.cells:
        src = _source(cell)
        if cell.cell_type == "raw" and re.match(r"#\s+BEGIN\s+QUESTION", src, re.IGNORECASE):
            cfg = yaml.safe_load(src.split("\n", 1)[1]) or {}
            out.append({"name": cfg["name"], "points": float(cfg.get("points", 0)),
                        "manual": bool(cfg.get("manual", False))})
    return out


def assignment_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _source(cell).startswith("# "):
            return _source(cell).splitlines()[0][2:].strip()
    return ""


def inline_variants(nb):
    """Replace the master's ``%run ../_common/variants.py`` cell by the file's text.

    Why: a handed-out notebook must run on its own (students get one file), and the same
    rule must reach the grading bundle, where the hidden tests import it as ``variants``.
    """
    text = VARIANTS_FILE.read_text(encoding="utf-8").rstrip("\n")
    hits = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and _source(cell).strip() == VARIANTS_CELL:
            cell.source = text
            hits += 1
    if hits != 1:
        raise UsageError(f"the master notebook must have exactly one {VARIANTS_CELL!r} cell "
                         f"(found {hits})")
    return nb


_INIT = re.compile(r"""otter\.Notebook\(\s*(["'])(?P<path>[^"']+)\1\s*\)""")


def set_notebook_path(nb, filename: str):
    """Point otter's init cell at ``filename``.

    Why: the tests travel in the notebook's metadata, and ``otter.Notebook(path)`` reads
    them from the file ``path``; otter assign writes the master's name (``NAME.ipynb``),
    but we hand out ``student.ipynb`` and ``solution.ipynb``.
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and _INIT.search(_source(cell)):
            cell.source = _INIT.sub(f'otter.Notebook("{filename}")', _source(cell))
            cell.source = cell.source.replace(
                "# Initialize Otter",
                "# Initialize Otter (keep this file's name: the checks read the tests from it)")
            return nb
    raise UsageError("otter assign wrote no init cell (init_cell: true is required)")


# --------------------------------------------------------------------------------------
# build


def _run(cmd: list[str], cwd: Path) -> None:
    env = dict(os.environ)
    # The notebooks import linclip: make this checkout's src/ win inside otter's kernels.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: " + " | ".join(tail))


def _prepare_out(dest: Path) -> None:
    if dest.exists():
        if not (dest / MARKER).exists() and any(dest.iterdir()):
            raise UsageError(f"{dest} exists and was not written by this script")
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / MARKER).write_text("Written by scripts/assignments.py build; safe to delete.\n")


def build_one(name: str, out: Path) -> dict:
    import nbformat

    master = inline_variants(read_master(name))
    qs = questions(master)
    dest = out / name
    _prepare_out(dest)
    with tempfile.TemporaryDirectory(prefix=f"assign-{name}-") as tmp:
        stage = Path(tmp) / name
        stage.mkdir()
        nbformat.write(master, stage / f"{name}.ipynb")
        shutil.copy2(VARIANTS_FILE, stage / "variants.py")  # listed in autograder_files
        # --no-run-tests: otter's own check re-executes the solution once more per build;
        # tests/test_assignments.py grades the solution, blank and wrong notebooks instead.
        # It is also why every test is a plain assert that prints nothing: otter turns a test
        # cell into a doctest whose expected output is the cell's stored output, so a test
        # that printed something would need the master executed before otter assign.
        _run([sys.executable, "-m", "otter", "assign", "--no-run-tests",
              f"{name}.ipynb", "dist"], cwd=stage)
        dist = stage / "dist"
        for src, target in [(dist / "student" / f"{name}.ipynb", "student.ipynb"),
                            (dist / "autograder" / f"{name}.ipynb", "solution.ipynb")]:
            nb = set_notebook_path(nbformat.read(src, as_version=4), target)
            nbformat.write(nb, dest / target)
        zips = sorted((dist / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise RuntimeError(f"otter assign wrote {len(zips)} grading bundles for {name}")
        shutil.copy2(zips[0], dest / "autograder.zip")
    manifest = {
        "assignment": name,
        "title": assignment_title(master),
        "questions": qs,
        "possible": sum(q["points"] for q in qs if not q["manual"]),
        "manual_possible": sum(q["points"] for q in qs if q["manual"]),
    }
    (dest / "questions.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --------------------------------------------------------------------------------------
# grade


def read_submission(path: Path):
    """Read a returned notebook; one-line errors for a missing file or invalid JSON."""
    import nbformat

    if not path.is_file():
        raise UsageError(f"no such notebook: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not a notebook (not valid JSON: {exc})") from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise UsageError(f"{path} is not a notebook (no 'cells' in the JSON)")
    try:
        return nbformat.reads(json.dumps(raw), as_version=4)
    except (nbformat.ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path} is not a valid notebook: {exc}") from None


def submission_assignment(nb) -> str | None:
    return nb.metadata.get("otter", {}).get("assignment_name")


def student_id_of(nb) -> str | None:
    for cell in nb.cells:
        m = re.search(r"""^STUDENT_ID\s*=\s*(["'])(.*?)\1""", _source(cell), re.MULTILINE)
        if cell.cell_type == "code" and m:
            return m.group(2)
    return None


def grade(name: str, out: Path, notebook: Path) -> dict:
    check_name(name)
    bundle = out / name / "autograder.zip"
    manifest_path = out / name / "questions.json"
    if not bundle.is_file() or not manifest_path.is_file():
        raise UsageError(f"no grading bundle at {bundle}; run "
                         f"'python scripts/assignments.py build --out {out}' first")
    nb = read_submission(notebook)
    got = submission_assignment(nb)
    if got is None:
        raise UsageError(f"{notebook} is not a problem-set notebook (no otter metadata)")
    if got != name:
        raise UsageError(f"{notebook} is a notebook of assignment {got!r}, not {name!r}")
    manifest = json.loads(manifest_path.read_text())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"grade-{name}-") as tmp:
        # otter runs the notebook under its own file name, and the init cell reads the tests
        # from that file: copy the submission under the name its init cell expects.
        m = next((_INIT.search(_source(c)) for c in nb.cells
                  if c.cell_type == "code" and _INIT.search(_source(c))), None)
        filename = Path(m.group("path")).name if m else "student.ipynb"
        sub_dir = Path(tmp) / "submission"
        res_dir = Path(tmp) / "results"
        sub_dir.mkdir()
        res_dir.mkdir()
        shutil.copy2(notebook, sub_dir / filename)
        _run([sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(bundle.resolve()),
              "-o", str(res_dir), str(sub_dir / filename)], cwd=Path(tmp))
        results = json.loads((res_dir / "results.json").read_text())
    seconds = time.perf_counter() - start
    scores = {t["name"]: t for t in results.get("tests", []) if t.get("name") != PUBLIC_TESTS}
    per_question = []
    for q in manifest["questions"]:
        if q["manual"]:
            per_question.append({"name": q["name"], "score": None, "possible": q["points"],
                                 "manual": True})
            continue
        t = scores.get(q["name"], {})
        per_question.append({"name": q["name"], "score": float(t.get("score") or 0.0),
                             "possible": q["points"], "manual": False})
    return {
        "assignment": name,
        "notebook": str(notebook),
        "student_id": student_id_of(nb),
        "score": sum(q["score"] for q in per_question if not q["manual"]),
        "possible": manifest["possible"],
        "manual_possible": manifest["manual_possible"],
        "questions": per_question,
        "seconds": round(seconds, 2),
    }


# --------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the assignments")
    p_build = sub.add_parser("build", help="write student and solution notebooks and bundles")
    p_build.add_argument("--out", type=Path, required=True, help="output folder")
    p_build.add_argument("--only", nargs="+", metavar="NAME", help="build only these")
    p_grade = sub.add_parser("grade", help="grade one returned notebook locally")
    p_grade.add_argument("--assignment", required=True, help="assignment name (see list)")
    p_grade.add_argument("--out", type=Path, required=True, help="the folder given to build")
    p_grade.add_argument("notebook", type=Path, help="the returned notebook")
    p_grade.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in list_assignments():
                m = questions(read_master(name))
                auto = sum(q["points"] for q in m if not q["manual"])
                manual = sum(q["points"] for q in m if q["manual"])
                print(f"{name:12s} {assignment_title(read_master(name))}  "
                      f"({len(m)} questions, {auto:g} autograded + {manual:g} manual points)")
        elif args.command == "build":
            names = args.only or list_assignments()
            for name in names:
                check_name(name)
            for name in names:
                t0 = time.perf_counter()
                m = build_one(name, args.out)
                print(f"{name}: {len(m['questions'])} questions, {m['possible']:g} autograded "
                      f"+ {m['manual_possible']:g} manual points -> {args.out / name} "
                      f"({time.perf_counter() - t0:.1f} s)")
        else:
            res = grade(args.assignment, args.out, args.notebook)
            if args.json:
                print(json.dumps(res))
            else:
                print(f"{res['assignment']}: {res['score']:g} / {res['possible']:g} autograded "
                      f"points (student id {res['student_id']!r}; {res['seconds']:.1f} s)")
                for q in res["questions"]:
                    got = "graded by hand" if q["manual"] else f"{q['score']:g}"
                    print(f"  {q['name']}: {got} / {q['possible']:g}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
