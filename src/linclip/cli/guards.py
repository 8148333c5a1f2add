"""Run-time guards shared by ``simulate`` and ``reproduce``: the estimate and ``--force``.

Before a run estimated (:mod:`linclip.experiments.resources`) to take more than
:data:`~linclip.experiments.resources.ANNOUNCE_SECONDS` the estimate is printed on stderr; a run
estimated above :data:`~linclip.experiments.resources.RUN_TIME_LIMIT_SECONDS` (12 hours) is
refused with exit status 2 unless ``--force`` is given. The environment variable
``LINCLIP_RUN_TIME_LIMIT`` (seconds) replaces that limit, e.g. ``LINCLIP_RUN_TIME_LIMIT=30`` in
a fuzz test of the command line, so that no generated argument list starts a long run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from ..experiments.resources import (
    ANNOUNCE_SECONDS,
    RUN_TIME_LIMIT_SECONDS,
    estimate_run_seconds,
    estimate_trial_seconds,
    format_duration,
)

__all__ = ["add_force_argument", "check_run_time", "config_trial_seconds", "run_time_limit"]

#: The environment variable that replaces the run-time limit (seconds).
LIMIT_VARIABLE = "LINCLIP_RUN_TIME_LIMIT"


def run_time_limit() -> float:
    """The run-time limit in seconds: ``$LINCLIP_RUN_TIME_LIMIT`` if set, else 12 hours."""
    raw = os.environ.get(LIMIT_VARIABLE)
    if raw is None or raw == "":
        return RUN_TIME_LIMIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise ValueError(f"{LIMIT_VARIABLE} must be a positive number of seconds; got {raw!r}")
    return value


def add_force_argument(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The ``--force`` option: run even if the estimated run time is above the limit."""
    p.add_argument(
        "--force",
        action="store_true",
        help="run even if the estimated run time is above the limit of "
        f"{format_duration(RUN_TIME_LIMIT_SECONDS)} (the estimate is printed before any run "
        f"of more than {ANNOUNCE_SECONDS:.0f} s)",
    )


def config_trial_seconds(config) -> float:
    """Estimated seconds of one trial of an :class:`~linclip.experiments.configs.ExperimentConfig`."""
    return estimate_trial_seconds(
        config.n,
        config.d,
        config.d_t,
        [m.method for m in config.methods],
        config.samplers(),
    )


def check_run_time(
    command: str,
    trial_seconds: float,
    tasks: int,
    workers: int,
    *,
    force: bool,
    what: str,
    reduce: str = "--trials",
) -> float:
    """Print the estimated run time if above a minute; refuse it above the limit unless forced.

    Returns the estimate in seconds; raises a ValueError (exit status 2) that says how to
    override when the estimate is above the limit and ``force`` is false.
    """
    seconds = estimate_run_seconds(trial_seconds, tasks, workers)
    limit = run_time_limit()
    if seconds <= min(ANNOUNCE_SECONDS, limit):
        return seconds
    plan = (
        f"estimated run time {format_duration(seconds)} ({what} on {workers} worker "
        f"process{'es' if workers != 1 else ''}, about {format_duration(trial_seconds)} per "
        "trial)"
    )
    if seconds > limit and not force:
        raise ValueError(
            f"{plan} is above the limit of {format_duration(limit)}; add "
            f"--force to run it anyway, or reduce {reduce}"
        )
    print(f"python -m linclip {command}: {plan}", file=sys.stderr)
    return seconds
