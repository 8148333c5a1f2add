"""Doctest collection (``pytest --doctest-modules src/linclip``): skip the 0.1.0 alias modules.

They replace themselves in ``sys.modules`` by the module they alias, which doctest collection
cannot import under their own name; the aliased modules' doctests run under the new paths.
"""

collect_ignore = [
    f"linclip/{name}.py"
    for name in (
        "model",
        "filtered_moments",
        "perturbation",
        "cli_predict",
        "cli_reproduce",
        "__main__",
    )
]
