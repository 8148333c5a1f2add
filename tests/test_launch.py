"""Launch, repository and download buttons, built from the book's real configuration.

A minimal copy of the book (the repository's own ``_config.yml`` and ``book/_ext/``, a toc with
the preface stand-in and one small chapter notebook at a real chapter path) is built
twice with jupyter-book:

* ``repository.url`` unset (the state of the repository now): no launch, Binder, Colab,
  repository, issues or edit button, and no link to any of those services;
* ``repository.url`` set to a test value: Binder, Colab and repository links that point
  at that repository, the notebook's path, the configured branch, and no ``/./``;
  and with a PDF edition present, a "PDF edition" download link and the file in _static.

Also checks ``scripts/sync_install_cell.py`` (``--check`` with and without the cell, and
the cell's content in both states of the setting) and the Binder configuration.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

bs4 = pytest.importorskip("bs4")

ROOT = Path(__file__).resolve().parent.parent
TEST_URL = "https://github.com/example-org/example-book"
CHAPTER = "book/foundations/mini"  # a chapter path like the real ones
_EXE = Path(sys.executable).parent / "jupyter-book"
JUPYTER_BOOK = str(_EXE) if _EXE.is_file() else (shutil.which("jupyter-book") or "jupyter-book")
LAUNCH_HOSTS = ("mybinder.org", "colab.research.google.com", "github.com")


def _load_sync_module():
    spec = importlib.util.spec_from_file_location(
        "sync_install_cell", ROOT / "scripts" / "sync_install_cell.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _load_sync_module()


def _mini_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A small chapter\n\nSome text."),
        nbformat.v4.new_code_cell("print(1 + 1)"),
    ]
    return nb


def _make_book(tmp: Path, url: str) -> Path:
    """A minimal book in ``tmp`` with the repository's config and ``repository.url``."""
    book = tmp / "book-src"
    (book / "book" / "foundations").mkdir(parents=True)
    for sub in ("_ext", "_static"):  # local extensions; html_static_path and the favicon
        shutil.copytree(
            ROOT / "book" / sub,
            book / "book" / sub,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("repository", {})["url"] = url
    (book / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    bib = config.get("bibtex_bibfiles") or []
    for name in bib:
        target = book / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target)
    toc = {"format": "jb-book", "root": "book/index", "chapters": [{"file": CHAPTER}]}
    (book / "_toc.yml").write_text(yaml.safe_dump(toc), "utf-8")
    (book / "book" / "index.md").write_text("# Preface\n\nA preface.\n", "utf-8")
    nbformat.write(_mini_notebook(), book / f"{CHAPTER}.ipynb")
    return book


def _build(book: Path, out: Path) -> Path:
    result = subprocess.run(
        [
            JUPYTER_BOOK,
            "build",
            str(book),
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=book,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = out / "_build" / "html"
    assert (html / f"{CHAPTER}.html").is_file()
    return html


def _links(page: Path) -> list[str]:
    soup = bs4.BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return [a.get("href", "") for a in soup.find_all("a")]


@pytest.fixture(scope="module")
def unset_site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("launch-unset")
    return _build(_make_book(tmp, ""), tmp / "out")


@pytest.fixture(scope="module")
def set_site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("launch-set")
    book = _make_book(tmp, TEST_URL)
    out = tmp / "out"
    # A PDF edition "built" before the HTML: the site must offer it.
    latex_config = yaml.safe_load((ROOT / "_config.yml").read_text())["latex"]
    pdf_name = Path(latex_config["latex_documents"]["targetname"]).with_suffix(".pdf").name
    latex = out / "_build" / "latex"
    latex.mkdir(parents=True)
    (latex / pdf_name).write_bytes(b"%PDF-1.5\n% test stand-in\n")
    return _build(book, out)


@pytest.fixture(scope="module")
def student_site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("launch-student")
    book = _make_book(tmp, TEST_URL)
    (book / ".student-edition").write_text("test\n")  # scripts/make_student_edition.py's marker
    return _build(book, tmp / "out")


def test_repository_url_is_unset_in_the_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert not (config.get("repository") or {}).get("url"), (
        "repository.url is set: only set it to the real public repository"
    )
    assert (config.get("repository") or {}).get("path_to_book", "") in ("", None)


def test_unset_url_shows_no_launch_or_repository_buttons(unset_site):
    for page in (unset_site / f"{CHAPTER}.html", unset_site / "book" / "index.html"):
        text = page.read_text(encoding="utf-8")
        for marker in (
            "launch-buttons",
            "fa-rocket",
            "Launch on",
            "repository-button",
            "edit-button",
            "issues-button",
            "initThebe",
        ):
            assert marker not in text, f"{page.name}: {marker!r} shown with no repository"
        for href in _links(page):
            assert not any(host in href for host in LAUNCH_HOSTS), (page.name, href)
        # No PDF edition was built: no link to one.
        assert "PDF edition" not in text


def test_student_edition_never_links_to_the_repository(student_site):
    # Even with repository.url set: its launch buttons would open the instructor notebooks.
    for page in (student_site / f"{CHAPTER}.html", student_site / "book" / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert "launch-buttons" not in text and "repository-button" not in text
        for href in _links(page):
            assert not any(host in href for host in LAUNCH_HOSTS), (page.name, href)


def test_student_edition_script_copies_the_extension():
    # make_student_edition.py copies book/ (not the repository root): the extension that
    # _config.yml loads must live under book/ for the student edition to build.
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    for path in config["sphinx"]["local_extensions"].values():
        assert Path(path).parts[0] == "book", path


def test_unset_url_keeps_the_download_buttons(unset_site):
    hrefs = _links(unset_site / f"{CHAPTER}.html")
    assert any(h.endswith("_sources/book/foundations/mini.ipynb") for h in hrefs), hrefs


def test_set_url_gives_working_launch_and_repository_links(set_site):
    hrefs = _links(set_site / f"{CHAPTER}.html")
    binder = f"https://mybinder.org/v2/gh/example-org/example-book/main?urlpath=lab/tree/{CHAPTER}.ipynb"
    colab = f"https://colab.research.google.com/github/example-org/example-book/blob/main/{CHAPTER}.ipynb"
    assert binder in hrefs, hrefs
    assert colab in hrefs, hrefs
    assert TEST_URL in hrefs, hrefs
    for href in hrefs:
        assert "/./" not in href, href
        if "example-org" in href:
            assert href in (binder, colab, TEST_URL), f"unexpected repository link {href}"


def test_set_url_offers_the_pdf_edition(set_site):
    page = set_site / f"{CHAPTER}.html"
    soup = bs4.BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    links = [a for a in soup.find_all("a") if "PDF edition" in a.get_text()]
    assert links, "no 'PDF edition' link although the PDF was built"
    href = links[0]["href"]
    assert href.endswith(".pdf") and "_static/" in href
    assert (page.parent / href).resolve().is_file(), href


# --- scripts/sync_install_cell.py ---------------------------------------------------------


def _sync_book(tmp: Path, url: str, with_cell: bool) -> Path:
    book = _make_book(tmp, url)
    if with_cell:
        assert sync.main(["--root", str(book)]) == 0
    return book


@pytest.mark.parametrize("url", ["", TEST_URL])
def test_sync_check_fails_without_the_cell_and_passes_with_it(tmp_path, url):
    book = _sync_book(tmp_path, url, with_cell=False)
    script = ROOT / "scripts" / "sync_install_cell.py"
    run = [sys.executable, str(script), "--root", str(book)]
    assert subprocess.run([*run, "--check"], check=False, capture_output=True).returncode == 1
    assert subprocess.run(run, check=False, capture_output=True).returncode == 0
    assert subprocess.run([*run, "--check"], check=False, capture_output=True).returncode == 0
    # Idempotent: a second write changes nothing and adds no second cell.
    path = book / f"{CHAPTER}.ipynb"
    before = path.read_text(encoding="utf-8")
    assert subprocess.run(run, check=False, capture_output=True).returncode == 0
    assert path.read_text(encoding="utf-8") == before
    cells = json.loads(before)["cells"]
    install = [c for c in cells if sync.MARKER in "".join(c["source"])]
    assert len(install) == 1
    assert [c["cell_type"] for c in cells].index("code") == cells.index(install[0])


def test_sync_check_fails_when_the_url_changes(tmp_path):
    book = _sync_book(tmp_path, "", with_cell=True)
    config = yaml.safe_load((book / "_config.yml").read_text())
    config["repository"]["url"] = TEST_URL
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    assert sync.main(["--root", str(book), "--check"]) == 1


@pytest.mark.parametrize("url", ["", TEST_URL])
def test_install_cell_content(url):
    source = sync.cell_source(url, "main")
    lines = source.splitlines()
    assert lines[0] == "# NBVAL_SKIP"
    assert all(len(line) <= 79 for line in lines)
    assert 'importlib.util.find_spec("linclip") is None' in source
    compile(source, "<install cell>", "exec")
    if url:
        assert f'"linclip @ git+{url}@main"' in source
    else:
        assert "git+" not in source and "pip install -e ." in source


def test_install_cell_does_nothing_where_linclip_is_importable():
    # The tests run with linclip importable, as the notebooks do in the repository.
    for url in ("", TEST_URL):
        result = subprocess.run(
            [sys.executable, "-c", sync.cell_source(url, "main")],
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def _hide_linclip(monkeypatch):
    """Make the cell see a Python without linclip (as on Colab or a downloaded copy)."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "linclip" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_install_cell_explains_when_linclip_is_missing_and_url_unset(monkeypatch):
    _hide_linclip(monkeypatch)
    with pytest.raises(ModuleNotFoundError, match="pip install -e ."):
        exec(sync.cell_source("", "main"), {})  # noqa: S102 (the cell's own code)


def test_install_cell_pip_installs_from_the_repository_when_url_set(monkeypatch):
    _hide_linclip(monkeypatch)
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda args, **kw: calls.append(args))
    exec(sync.cell_source(TEST_URL, "main"), {})  # noqa: S102 (the cell's own code)
    assert calls == [
        [sys.executable, "-m", "pip", "install", "--quiet", f"linclip @ git+{TEST_URL}@main"]
    ]


# The coordinator writes the install cells (python scripts/sync_install_cell.py) once the
# content helpers' notebook changes are merged, then sets this to True.
INSTALL_CELLS_SYNCED = True


@pytest.mark.skipif(
    not INSTALL_CELLS_SYNCED,
    reason="install cells not yet written: run scripts/sync_install_cell.py, then set "
    "INSTALL_CELLS_SYNCED = True in tests/test_launch.py",
)
def test_every_chapter_notebook_has_the_current_install_cell():
    assert sync.main(["--check"]) == 0


def test_chapter_notebooks_are_the_toc_chapters():
    notebooks = sync.chapter_notebooks(ROOT)
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert notebooks, "no chapter notebooks found"
    for path in notebooks:
        assert str(path.relative_to(ROOT).with_suffix("")) in toc


# --- Binder ------------------------------------------------------------------------------


def test_binder_configuration_installs_linclip_on_python_311():
    binder = ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    requirements = (binder / "requirements.txt").read_text()
    post_build = (binder / "postBuild").read_text()
    assert "pip install" in post_build and " ." in post_build
    # Every pin in binder/requirements.txt is the repository's own pin.
    pins = {
        line.split("==")[0].lower(): line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for line in requirements.splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert line == pins.get(line.split("==")[0].lower()), line
