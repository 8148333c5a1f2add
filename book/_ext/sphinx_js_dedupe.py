"""Stop Sphinx 7.4 from writing inline scripts twice into every page.

Sphinx 7.4.7 (the last 7.x) stores an inline script added with
``app.add_js_file(None, body=...)`` after the HTML builder was initialised twice: once
with the file name ``None`` (``Sphinx.add_js_file`` passes it on to the builder as is)
and once with ``''`` (``StandaloneHTMLBuilder.prepare_writing`` re-adds the registry's
scripts as ``filename or ''``). The two never compare equal, so the page gets both.
sphinx-thebe's ``const THEBE_JS_URL = ...`` is one of these scripts, and the second
copy throws ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` in
every page (sphinx-togglebutton's ``var togglebuttonSelector`` is another, harmless
only because ``var`` may be declared twice).

This extension makes the builder treat ``None`` as ``''``, so the duplicate is
recognised and dropped. The browser test (tests/site/) fails on the console error if
this ever stops working. Remove it when the book moves to a Sphinx that fixed this.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _normalise_js_file_name(app: Sphinx) -> None:
    builder = app.builder
    original = getattr(builder, "add_js_file", None)
    if original is None or getattr(original, "_none_as_empty", False):
        return

    def add_js_file(filename: str | None, **kwargs: Any) -> None:
        original(filename or "", **kwargs)

    add_js_file._none_as_empty = True  # type: ignore[attr-defined]
    builder.add_js_file = add_js_file  # type: ignore[attr-defined]


def setup(app: Sphinx) -> dict[str, Any]:
    # Before every other builder-inited handler (sphinx-togglebutton adds one there).
    app.connect("builder-inited", _normalise_js_file_name, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
