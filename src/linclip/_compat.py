"""Helpers for the 0.1.0 import paths kept as thin re-exports for one release (see CHANGELOG)."""

from __future__ import annotations

import types
from typing import Any

__all__ = ["merge"]


def merge(namespace: dict[str, Any], *modules: types.ModuleType) -> None:
    """Copy every module-level name of ``modules`` into ``namespace`` (first module wins).

    Private helpers are copied as well, so code written against 0.1.0 keeps working;
    ``__all__`` becomes the union of the modules' public names.
    """
    public: list[str] = []
    for module in modules:
        for key, value in vars(module).items():
            if not key.startswith("__"):
                namespace.setdefault(key, value)
        public += [n for n in getattr(module, "__all__", []) if n not in public]
    namespace["__all__"] = public
