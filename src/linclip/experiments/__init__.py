"""Experiments: grids of trials, the paper's experiment definitions, the resumable runner.

* :mod:`linclip.experiments.grid` — :func:`~linclip.experiments.grid.run_trial`,
  :func:`~linclip.experiments.grid.run_grid` (tidy DataFrames) and
  the seed contract (:func:`~linclip.experiments.grid.trial_seed`, :func:`~linclip.experiments.grid.trial_source`);
* :mod:`linclip.experiments.configs` — Figure 3a and Table 1 as :class:`~linclip.experiments.configs.ExperimentConfig`;
* :mod:`linclip.experiments.runner` — :func:`~linclip.experiments.runner.run_experiment`, resumable, CSV per trial;
* :mod:`linclip.experiments.analysis` — summaries, slope fits, Table 1, predictions;
* :mod:`linclip.experiments.comparisons` — prediction against simulation;
* :mod:`linclip.experiments.anatomy` — trials with the internals of the proofs;
* :mod:`linclip.experiments.figures` — Figure 3a from per-trial rows;
* :mod:`linclip.experiments.archive` — committed results, read with :func:`~linclip.experiments.archive.load_result`.

Reproducibility contract: trial ``t`` at ``(n, eta)`` draws its data from
``SeedSequence(seed, spawn_key=(n, eta_key, t))``, whatever else is in the grid and however many
worker processes run it. All methods of one trial see the *same* pairs (common random numbers),
so differences between methods are paired comparisons.
"""

from ..filters.spec import MethodSpec
from .archive import RESULTS, load_result
from .grid import (
    IN_MEMORY_LIMIT,
    ROW_COLUMNS,
    run_grid,
    run_trial,
    spec_dict,
    summarize,
    trial_seed,
    trial_source,
)

__all__ = [
    "MethodSpec",
    "trial_seed",
    "trial_source",
    "run_trial",
    "run_grid",
    "summarize",
    "ROW_COLUMNS",
    "IN_MEMORY_LIMIT",
    "spec_dict",
    "load_result",
    "RESULTS",
]
