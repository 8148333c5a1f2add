"""Committed results of long runs, shipped with the package so they resolve anywhere.

``fig3a_paper``: the paper-scale Figure 3a (n = 10⁷, ten η; no filtering, Algorithm 1, the
clean-label oracle and the oracle score, drawn with the exact sampler), its per-trial CSV and
its run log (definition with the sampler, sessions, machine, versions, wall time). A copy of
``book/data/fig3a_paper_*``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["RESULTS", "load_result", "result_path"]

#: Names of the committed results.
RESULTS = ("fig3a_paper",)


def _check(name: str) -> str:
    if name not in RESULTS:
        raise ValueError(f"name must be one of {', '.join(RESULTS)}; got {name!r}")
    return name


def result_path(name: str, kind: str = "trials") -> Any:
    """The packaged file of a result: ``kind="trials"`` (CSV) or ``"run"`` (JSON log).

    Returns a :class:`importlib.resources.abc.Traversable` (use ``str()`` or ``open()``).
    """
    name = _check(name)
    if kind not in ("trials", "run"):
        raise ValueError(f"kind must be 'trials' or 'run'; got {kind!r}")
    suffix = "_trials.csv" if kind == "trials" else "_run.json"
    return resources.files(__name__).joinpath(name + suffix)


def load_result(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Load a committed result: its per-trial rows and its run log.

    Parameters
    ----------
    name : str
        One of :data:`RESULTS`, e.g. ``"fig3a_paper"``.

    Returns
    -------
    frame : pandas.DataFrame
        One row per (eta, trial, method), the columns of
        :data:`linclip.experiments.configs.CSV_COLUMNS`.
    log : dict
        The run log (experiment definition, sessions with timing, machine).

    Examples
    --------
    >>> from linclip.experiments import load_result
    >>> frame, log = load_result("fig3a_paper")
    >>> log["experiment"]["n"]
    10000000
    >>> sorted(frame["method"].unique())
    ['none', 'oracle-clean', 'oracle-score', 'teacher-split']
    >>> log["experiment"]["sampler"], sorted(frame["sampler"].unique())
    ('exact', ['exact'])
    """
    from ..runner import load_trials

    with resources.as_file(result_path(name, "trials")) as path:
        frame = load_trials(path)
    log = json.loads(result_path(name, "run").read_text(encoding="utf-8"))
    return frame, log
