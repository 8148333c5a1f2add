"""Sphinx extension: the book's launch, repository and PDF-download buttons.

Loaded by ``_config.yml`` (``sphinx.local_extensions``). It makes two settings of
``_config.yml`` the only switches a maintainer needs:

``repository.url``
    The public repository URL, the ONE setting for every repository-derived link.
    Empty or absent (the state while there is no public repository): the site shows no
    launch (Binder, Colab, JupyterHub, Thebe), repository, issues or edit buttons.
    The student edition (a generated copy, recognised by its ``.student-edition``
    marker file) is always built as if it were unset, so that it never links to the
    instructor notebooks. Set: the repository button and the launch buttons configured under
    ``launch_buttons`` are shown. ``repository.path_to_book: "."`` is normalised to
    ``""`` so that the launch URLs contain no ``/./`` (sphinx-book-theme appends a
    slash to whatever ``path_to_book`` holds).

``latex.latex_documents.targetname``
    The file name of the PDF edition (``bash scripts/build_pdf.sh`` builds it into
    ``_build/latex/``). When an HTML build finds that file (next to its own output,
    ``<output>/_build/latex/``, or in ``<book root>/_build/latex/``), it copies it into
    the site as ``_static/<targetname>`` and adds a "PDF edition" entry to the download
    menu of every page. Without the file, no link is shown (and none is broken).

LaTeX labels of theorem-like blocks (a sphinx-proof bug, fixed here for LaTeX only)
    sphinx-proof's LaTeX writer finds a block's chapter by comparing the chapter's
    section ``names`` (made from the raw title, e.g. ``the teacher's score``) with the
    chapter's title text (after smart quotes: ``the teacher’s score``). For a chapter
    title with an apostrophe (or anything else smart quotes change) they differ, the
    block gets ``\\label{None:...}`` and every ``{prf:ref}`` to it is an undefined
    reference in the PDF. Nesting a block inside an admonition is NOT the cause. Before
    the LaTeX writer runs, we add the title text to the chapter section's ``names``
    (the writers emit ``ids``, not ``names``, so nothing else changes).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging, texescape

LOGGER = logging.getLogger(__name__)

#: Written by scripts/make_student_edition.py into the student edition's root.
STUDENT_EDITION_MARKER = ".student-edition"

#: Theme options that only make sense with a repository URL.
_REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")


def _book_config(srcdir: str | Path) -> dict[str, Any]:
    path = Path(srcdir) / "_config.yml"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def pdf_name(srcdir: str | Path) -> str | None:
    """The PDF edition's file name (``latex.latex_documents.targetname``, ``.tex`` -> ``.pdf``)."""
    latex = _book_config(srcdir).get("latex") or {}
    name = (latex.get("latex_documents") or {}).get("targetname")
    return str(Path(str(name)).with_suffix(".pdf")) if name else None


def apply_repository_setting(app: Sphinx, config: Config) -> None:
    """Show repository/launch buttons if and only if ``repository.url`` is set."""
    opts = config.html_theme_options
    url = str(opts.get("repository_url") or "").strip()
    if (Path(app.srcdir) / STUDENT_EDITION_MARKER).exists():
        # The student edition (scripts/make_student_edition.py) exists only as a generated
        # copy: launch or repository links would open the instructor notebooks.
        url = ""
    if not url:
        # Unset: remove every repository-derived button. (jupyter-book fills in its own
        # default URL when the key is absent, so we clear it explicitly.)
        opts.pop("repository_url", None)
        opts.pop("launch_buttons", None)
        for key in _REPOSITORY_BUTTONS:
            opts[key] = False
        return
    opts["repository_url"] = url.rstrip("/")
    opts["use_repository_button"] = True
    path_to_docs = str(opts.get("path_to_docs") or "").strip().strip("/")
    if path_to_docs in (".", "./"):
        path_to_docs = ""
    opts["path_to_docs"] = path_to_docs


def _find_pdf(app: Sphinx) -> Path | None:
    name = pdf_name(app.srcdir)
    if not name:
        return None
    candidates = [
        Path(app.outdir).parent / "latex" / name,
        Path(app.srcdir) / "_build" / "latex" / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def locate_pdf(app: Sphinx) -> None:
    """At builder start, remember the PDF edition if it has been built."""
    app.book_pdf = None  # type: ignore[attr-defined]
    if app.builder.format != "html":
        return
    pdf = _find_pdf(app)
    app.book_pdf = pdf  # type: ignore[attr-defined]
    if pdf is None:
        LOGGER.info("book_editions: no PDF edition found; no download link")
    else:
        LOGGER.info(f"book_editions: offering the PDF edition {pdf}")


def add_pdf_button(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Add "PDF edition" to the page's download menu (after the theme built it)."""
    pdf = getattr(app, "book_pdf", None)
    if pdf is None or "header_buttons" not in context:
        return
    button = {
        "type": "link",
        "url": context["pathto"](f"_static/{pdf.name}", 1),
        "text": "PDF edition",
        "tooltip": "Download the whole book as a PDF",
        "icon": "fas fa-book",
        "label": "download-book-pdf-button",
    }
    for group in context["header_buttons"]:
        if group.get("label") == "download-buttons":
            group["buttons"].append(button)
            return
    context["header_buttons"].append(button)


def copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    """Copy the PDF edition into the site's ``_static``."""
    pdf = getattr(app, "book_pdf", None)
    if exception is not None or pdf is None:
        return
    target = Path(app.outdir) / "_static" / pdf.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(pdf, target)


def fix_proof_chapter_names(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Let sphinx-proof's LaTeX writer find every chapter (see the module docstring)."""
    if app.builder.format != "latex":
        return
    titles = app.env.titles
    for section in doctree.findall(nodes.section):
        chapter = section.get("docname")
        if chapter not in titles:
            continue
        title = titles[chapter].astext()
        is_chapter = (
            section.children
            and isinstance(section[0], nodes.title)
            and section[0].astext() == title
        )
        if is_chapter and title.lower() not in section["names"]:
            section["names"].append(title.lower())


def add_preface_heading(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """PDF: give the root page (the preface) its heading, contents entry and page header.

    sphinx-jupyterbook-latex drops the root page's title and prints its text right after
    the table of contents, under the running header "CONTENTS". We open it with an
    unnumbered chapter instead.
    """
    if app.builder.format != "latex" or docname != app.config.root_doc:
        return
    title = app.env.titles.get(app.config.root_doc)
    if title is None:
        return
    text = texescape.escape(title.astext(), app.config.latex_engine)
    latex = (
        f"\\chapter*{{{text}}}\n\\addcontentsline{{toc}}{{chapter}}{{{text}}}\n"
        f"\\markboth{{{text}}}{{{text}}}\n"
    )
    doctree.insert(0, nodes.raw("", latex, format="latex"))


def setup(app: Sphinx) -> dict[str, Any]:
    # After jupyter-book has translated _config.yml into html_theme_options.
    app.connect("config-inited", apply_repository_setting, priority=900)
    app.connect("builder-inited", locate_pdf)
    # sphinx-book-theme fills the header buttons at priority 501.
    app.connect("html-page-context", add_pdf_button, priority=600)
    app.connect("build-finished", copy_pdf)
    app.connect("doctree-resolved", fix_proof_chapter_names)
    app.connect("doctree-resolved", add_preface_heading)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
