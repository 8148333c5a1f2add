#!/usr/bin/env python
"""Reliability sweep (issue 11): hundreds of bad and edge inputs, each with its expected outcome.

Every case states what must happen:

* ``error``   -- a clean one-line error: exit status 2 (command line) or ``ValueError`` (API),
  no traceback, and a message naming the parameter (or path) given in the case;
* ``env``     -- an environment failure: exit status 1 (or 2), one line naming the path;
* ``valid``   -- accepted: exit status 0 / a normal return;
* ``interrupt`` -- an interrupted run: exit status 128 + the signal (130 for SIGINT, 143 for
  SIGTERM) and a log that says so;
* ``recover`` -- damage the run repairs itself (a torn last line): exit 0, a notice naming the
  file on stderr, the rows recomputed;
* ``guard``   -- a resource guard: refused quickly (exit 2, naming the option) or accepted with
  a message saying what was capped, never a silent run that grows without bound;
* ``survive`` -- a fault the run must survive with nothing lost.

The actual outcome is classified as one of: clean error, valid accepted, interrupted cleanly,
guarded; or the failures traceback, silently accepted invalid input, error without the
parameter's name, wrong exit status, resource problem, valid rejected, fault not survived.
The script prints a markdown table of counts and the list of failures; its exit status is 1 if
any case failed.

Command-line and API cases run in-process in two worker processes (a timeout per case);
file, signal and resource cases run ``python -m linclip`` as subprocesses, tiny sizes
throughout. Run from the repository root::

    PYTHONPATH=src python scripts/reliability_sweep.py [--jobs 2] [--only cli|api|fault]
        [--list] [--verbose]

It is not part of the test command (``scripts/test.sh``); the unit tests cover the same
validation piece by piece, and ``tests/test_cli_fuzz.py`` fuzzes the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

OK_CLASSES = ("clean error", "valid accepted", "interrupted cleanly", "guarded", "survived")
FAIL_CLASSES = (
    "traceback",
    "silently accepted invalid input",
    "error without the parameter's name",
    "wrong exit status",
    "resource problem",
    "valid rejected",
    "fault not survived",
)


@dataclass
class Case:
    """One input and what must happen."""

    id: str
    kind: str  # cli | api | fault
    item: int  # issue 11 item (0: general)
    expect: str  # error | env | valid | interrupt | guard | survive | recover
    argv: list[str] | None = None  # cli
    call: str | None = None  # api: name of a function in API_CASES
    names: tuple[str, ...] = ()  # the error message must contain one of these
    timeout: float = 60.0
    note: str = ""
    setup: Callable | None = field(default=None, repr=False)


@dataclass
class Result:
    """The outcome of one case."""

    case: Case
    outcome: str
    detail: str = ""
    seconds: float = 0.0


# ================================================================== command-line cases
SIM = ["simulate", "--n", "300", "--trials", "1"]
PRED = ["predict"]
REPRO = ["reproduce", "table1", "--trials", "1", "--no-progress"]


def _opt_names(opt: str) -> tuple[str, ...]:
    """How an error message may name the option ``--gamma-t``: itself, gamma_t, gamma~."""
    dest = opt.lstrip("-").replace("-", "_")
    names = [opt, dest]
    if dest.endswith("_t"):
        names.append(dest[:-2] + "~")
    if dest == "keep_fraction":
        names.append("q")
    if dest == "eta":
        names.append("clean fraction")
    return tuple(names)


# (option, value, expected, extra names) for the model options shared by simulate and predict
MODEL_VALUES: list[tuple[str, str, str, tuple[str, ...]]] = []
for _opt in ("--n",):
    for _v, _e in [
        ("-1", "error"),
        ("0", "error"),
        ("1", "error"),
        ("2", "error"),  # fewer than r + 1 pairs
        ("nan", "error"),
        ("inf", "error"),
        ("-inf", "error"),
        ("abc", "error"),
        ("", "error"),
        ("1e3", "error"),
        ("3.5", "error"),
        ("0x10", "error"),
        ("300", "valid"),
        ("３００", "valid"),  # fullwidth digits: Python's int() reads them
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ("r + 1", "pairs")))
for _opt in ("--eta",):
    for _v, _e in [
        ("0", "error"),
        ("-1", "error"),
        ("-1e-3", "error"),
        ("1.5", "error"),
        ("nan", "error"),
        ("inf", "error"),
        ("-inf", "error"),
        ("abc", "error"),
        ("", "error"),
        ("1", "valid"),
        ("0.5", "valid"),
        ("5e-1", "valid"),
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ()))
for _opt in ("--d", "--d-t"):
    for _v, _e in [
        ("0", "error"),
        ("-1", "error"),
        ("2", "error"),  # smaller than r = 4
        ("3.5", "error"),
        ("nan", "error"),
        ("abc", "error"),
        ("", "error"),
        ("12", "valid"),
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ("r",)))
for _opt in ("--r",):
    for _v, _e in [
        ("0", "error"),
        ("-3", "error"),
        ("11", "error"),
        ("2.0", "error"),
        ("nan", "error"),
        ("abc", "error"),
        ("1", "valid"),
        ("2", "valid"),
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ()))
for _opt in ("--gamma", "--gamma-t"):
    for _v, _e in [
        ("0", "error"),
        ("-1", "error"),
        ("-1e-3", "error"),
        ("-inf", "error"),
        ("nan", "error"),
        ("1e-320", "error"),
        ("1e-200", "error"),
        ("abc", "error"),
        ("", "error"),
        ("inf", "valid"),
        ("1e400", "valid"),  # float('1e400') is inf: no noise
        ("1e-3", "valid"),
        ("1e6", "valid"),
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ()))
for _opt in ("--rho",):
    for _v, _e in [
        ("0", "error"),
        ("-1", "error"),
        ("-1e-3", "error"),
        ("nan", "error"),
        ("inf", "error"),
        ("abc", "error"),
        ("1e-3", "valid"),
        ("10", "valid"),
    ]:
        MODEL_VALUES.append((_opt, _v, _e, ()))

# the filtering knobs, with --method teacher
KNOB_VALUES: list[tuple[str, str, str]] = [
    ("--theta", "-1e-3", "valid"),
    ("--theta", "-inf", "valid"),
    ("--theta", "-1E+0", "valid"),
    ("--theta", "0", "valid"),
    ("--theta", "0.5", "valid"),
    ("--theta", "inf", "error"),
    ("--theta", "nan", "error"),
    ("--theta", "-nan", "error"),
    ("--theta", "1e308", "error"),
    ("--theta", "abc", "error"),
    ("--theta", "", "error"),
    ("--keep-fraction", "0", "error"),
    ("--keep-fraction", "-0.5", "error"),
    ("--keep-fraction", "2", "error"),
    ("--keep-fraction", "nan", "error"),
    ("--keep-fraction", "inf", "error"),
    ("--keep-fraction", "-1e-3", "error"),
    ("--keep-fraction", "abc", "error"),
    ("--keep-fraction", "1", "valid"),
    ("--keep-fraction", "0.5", "valid"),
]


def _cli_cases() -> list[Case]:
    cases: list[Case] = []

    def add(cid, item, expect, argv, names=(), **kw):
        cases.append(Case(cid, "cli", item, expect, argv=list(argv), names=tuple(names), **kw))

    for base, sub in ((SIM, "simulate"), (PRED, "predict")):
        for opt, value, expect, extra in MODEL_VALUES:
            item = 4 if value.startswith("-") and re.search(r"[eEn]", value) else 5
            add(
                f"{sub} {opt} {value!r}",
                item,
                expect,
                [*base, opt, value],
                _opt_names(opt) + extra,
            )
        for opt, value, expect in KNOB_VALUES:
            item = 4 if value.startswith("-") and re.search(r"[eEn]", value) else 5
            add(
                f"{sub} --method teacher {opt} {value!r}",
                item,
                expect,
                [*base, "--method", "teacher", opt, value],
                _opt_names(opt) + ("keeps",),
            )
        for method in ("none", "teacher", "teacher-split", "oracle-score", "oracle-clean"):
            add(f"{sub} --method {method}", 0, "valid", [*base, "--method", method])
        add(f"{sub} --method bogus", 5, "error", [*base, "--method", "bogus"], ("--method",))
        add(f"{sub} --method ''", 5, "error", [*base, "--method", ""], ("--method",))
        add(f"{sub} --method nöne", 5, "error", [*base, "--method", "nöne"], ("--method",))
        add(
            f"{sub} --method none --theta 0",
            5,
            "error",
            [*base, "--method", "none", "--theta", "0"],
            ("theta",),
        )
        add(
            f"{sub} --method oracle-clean --keep-fraction 0.5",
            5,
            "error",
            [*base, "--method", "oracle-clean", "--keep-fraction", "0.5"],
            ("keep-fraction", "keep_fraction"),
        )
        add(
            f"{sub} --theta and --keep-fraction",
            5,
            "error",
            [*base, "--method", "teacher", "--theta", "0", "--keep-fraction", "0.5"],
            ("--theta", "--keep-fraction"),
        )
        add(f"{sub} --theta=-1e-3", 4, "valid", [*base, "--method", "teacher", "--theta=-1e-3"])
        add(f"{sub} duplicate --n", 0, "valid", [*base, "--n", "301", "--n", "302"])
        add(f"{sub} duplicate --json", 0, "valid", [*base, "--json", "--json"])
        add(f"{sub} --bogus", 0, "error", [*base, "--bogus"], ("--bogus",))
        add(f"{sub} --n (no value)", 0, "error", [*base, "--n"], ("--n",))
        add(f"{sub} positional junk", 0, "error", [*base, "junk"], ("junk",))
        add(f"{sub} --json", 0, "valid", [*base, "--json"])
        add(f"{sub} --help", 0, "valid", [sub, "--help"])
        add(
            f"{sub} r = 1 teacher (no IntegrationWarning)",
            7,
            "valid",
            [*base, "--r", "1", "--method", "teacher"],
            note="stderr must be empty",
        )
    # predict: far outside validity must say so in the printed output
    add(
        "predict --gamma 1e-3 says 'outside its validity'",
        7,
        "valid",
        ["predict", "--gamma", "1e-3", "--n", "1000"],
        note="stdout must contain OUTSIDE ITS VALIDITY",
    )
    add(
        "predict --n 30 --eta 0.05 says 'outside its validity'",
        7,
        "valid",
        ["predict", "--n", "30", "--eta", "0.05"],
        note="stdout must contain OUTSIDE ITS VALIDITY",
    )
    for m in ("teacher", "teacher-split", "oracle-score"):
        for q in ("0.3", "0.05"):
            add(
                f"predict --r 1 --method {m} --keep-fraction {q}",
                7,
                "valid",
                ["predict", "--r", "1", "--method", m, "--keep-fraction", q],
                note="stderr must be empty",
            )
    # simulate-only options
    for opt, value, expect in [
        ("--trials", "0", "error"),
        ("--trials", "-1", "error"),
        ("--trials", "1.5", "error"),
        ("--trials", "nan", "error"),
        ("--trials", "abc", "error"),
        ("--trials", "2", "valid"),
        ("--seed", "-1", "error"),
        ("--seed", "1.5", "error"),
        ("--seed", "1e3", "error"),
        ("--seed", "abc", "error"),
        ("--seed", "", "error"),
        ("--seed", "7", "valid"),
        ("--seed", str(2**64), "valid"),
        ("--jobs", "0", "error"),
        ("--jobs", "-2", "error"),
        ("--jobs", "abc", "error"),
        ("--jobs", "1", "valid"),
        ("--learner", "bogus", "error"),
        ("--learner", "pca", "valid"),
        ("--sampler", "bogus", "error"),
        ("--sampler", "exact", "valid"),
        ("--sampler", "auto", "valid"),
    ]:
        add(f"simulate {opt} {value!r}", 5, expect, [*SIM, opt, value], _opt_names(opt))
    add(
        "simulate --sampler exact --method teacher",
        5,
        "error",
        [*SIM, "--sampler", "exact", "--method", "teacher"],
        ("sampler",),
    )
    add("simulate --progress", 0, "valid", [*SIM, "--progress"])
    # reproduce options
    for opt, value, expect in [
        ("--trials", "0", "error"),
        ("--trials", "-1", "error"),
        ("--trials", "abc", "error"),
        ("--trials", "1.5", "error"),
        ("--seed", "-1", "error"),
        ("--seed", "abc", "error"),
        ("--seed", "1.5", "error"),
        ("--jobs", "0", "error"),
        ("--jobs", "-2", "error"),
        ("--jobs", "abc", "error"),
        ("--scale", "bogus", "error"),
        ("--scale", "", "error"),
        ("--sampler", "bogus", "error"),
        ("--sampler", "exact", "error"),  # table1's kept fractions have no exact route
        ("--scheduler", "bogus", "error"),
        ("--scheduler", "", "error"),
        ("--scheduler", "tcp://host:0", "error"),
        ("--scheduler", "tcp://host:99999", "error"),
        ("--scheduler-timeout", "-1", "error"),
        ("--scheduler-timeout", "0", "error"),
        ("--scheduler-timeout", "nan", "error"),
        ("--scheduler-timeout", "abc", "error"),
    ]:
        add(
            f"reproduce table1 {opt} {value!r}",
            5,
            expect,
            [*REPRO, "--out", "{tmp}", opt, value],
            _opt_names(opt) + (("scheduler",) if "sched" in opt else ()),
        )
    add("reproduce bogus", 5, "error", ["reproduce", "bogus"], ("experiment", "bogus"))
    add("reproduce (no experiment)", 0, "error", ["reproduce"], ("experiment",))
    add("reproduce table1 --trials 1", 0, "valid", [*REPRO, "--out", "{tmp}"])
    add("reproduce table1 --json", 0, "valid", [*REPRO, "--out", "{tmp}", "--json"])
    add("reproduce table1 --seed 3", 0, "valid", [*REPRO, "--out", "{tmp}", "--seed", "3"])
    add("reproduce table1 unicode --out", 0, "valid", [*REPRO, "--out", "{tmp}/résultats-δ"])
    add("(no subcommand)", 0, "error", [], ("command", "simulate"))
    add("bogus subcommand", 0, "error", ["bogus"], ("bogus",))
    add("--version", 0, "valid", ["--version"])
    add("--help", 0, "valid", ["--help"])
    return cases


# =========================================================================== API cases
def _api_table() -> list[tuple[str, int, str, Callable[[], object], tuple[str, ...]]]:
    """(id, item, expect, thunk, names): the public API with bad and edge arguments."""
    import numpy as np

    import linclip as L
    from linclip.data import ExactSource, sample_cross_covariance
    from linclip.experiments.configs import ExperimentConfig, experiment_config
    from linclip.filters import kept_count
    from linclip.learners import CrossCovarianceAccumulator, pca_encoders
    from linclip.stats import fit_loglog_slope
    from linclip.theory import (
        corollary1_rate,
        sample_size_condition,
        snr_factor,
        theorem1_rate,
    )
    from linclip.theory.asymptotics import predict_unfiltered
    from linclip.theory.prediction import predict_filtered
    from linclip.theory.score_law import ScoreLaw

    rng = np.random.default_rng(0)
    model = L.BimodalModel(d=6, d_t=5, r=2, eta=0.5)
    pairs = model.sample(200, np.random.default_rng(1))
    scores = np.linspace(-1, 1, 50)
    nan_scores = scores.copy()
    nan_scores[7] = np.nan
    enc = L.fit(pairs.x, pairs.xt, 2)
    t: list[tuple[str, int, str, Callable[[], object], tuple[str, ...]]] = []

    def add(cid, item, expect, thunk, names=()):
        t.append((cid, item, expect, thunk, tuple(names)))

    # --- threshold_mask / top_fraction_mask
    add("threshold_mask NaN score", 5, "error", lambda: L.threshold_mask(nan_scores, 0.0, 2),
        ("scores", "NaN"))  # fmt: skip
    for r in (0, -3, "2", 1.5, None, True):
        add(f"threshold_mask r={r!r}", 5, "error",
            lambda r=r: L.threshold_mask(scores, 0.0, r), ("r",))  # fmt: skip
    add("threshold_mask 2-D scores", 5, "error",
        lambda: L.threshold_mask(np.ones((5, 5)), 0.0, 2), ("scores", "1-D"))  # fmt: skip
    add("threshold_mask 0-D scores", 5, "error",
        lambda: L.threshold_mask(np.float64(1.0), 0.0, 2), ("scores",))  # fmt: skip
    add("threshold_mask string scores", 5, "error",
        lambda: L.threshold_mask("abc", 0.0, 2), ("scores",))  # fmt: skip
    for th in (math.nan, math.inf, "0", None):
        add(f"threshold_mask theta={th!r}", 5, "error",
            lambda th=th: L.threshold_mask(scores, th, 2), ("theta",))  # fmt: skip
    add("threshold_mask theta=-inf keeps all", 4, "valid",
        lambda: L.threshold_mask(scores, -math.inf, 2))  # fmt: skip
    add("threshold_mask theta=-1e-3", 4, "valid", lambda: L.threshold_mask(scores, -1e-3, 2))
    add("threshold_mask too few kept", 5, "error",
        lambda: L.threshold_mask(scores, 0.99, 2), ("theta", "keeps"))  # fmt: skip
    add("threshold_mask +inf scores", 5, "valid",
        lambda: L.threshold_mask(np.r_[scores, np.inf], 0.0, 2))  # fmt: skip
    add("top_fraction_mask NaN score", 5, "error",
        lambda: L.top_fraction_mask(nan_scores, 0.5, 2), ("scores", "NaN"))  # fmt: skip
    for q in (0.0, -0.5, 2.0, math.nan, "0.5", None):
        add(f"top_fraction_mask q={q!r}", 5, "error",
            lambda q=q: L.top_fraction_mask(scores, q, 2), ("keep_fraction",))  # fmt: skip
    for r in (0, -1, "2"):
        add(f"top_fraction_mask r={r!r}", 5, "error",
            lambda r=r: L.top_fraction_mask(scores, 0.5, r), ("r",))  # fmt: skip
    add("top_fraction_mask 2-D", 5, "error",
        lambda: L.top_fraction_mask(np.ones((4, 4)), 0.5, 2), ("scores",))  # fmt: skip
    add("top_fraction_mask valid", 0, "valid", lambda: L.top_fraction_mask(scores, 0.5, 2))
    add("kept_count q=2", 5, "error", lambda: kept_count(2.0, 10), ("keep_fraction",))
    # --- run_grid / run_trial
    for seed in (1.5, 1.9, None, -1, "0", True):
        add(f"run_grid seed={seed!r}", 5, "error",
            lambda seed=seed: L.run_grid(model, n=50, eta=0.5, trials=1, seed=seed),
            ("seed",))  # fmt: skip
    add("run_grid seed=2.0 (integer-valued)", 5, "valid",
        lambda: L.run_grid(model, n=50, eta=0.5, trials=1, seed=2.0))  # fmt: skip
    add("run_grid methods='none' (one name)", 5, "valid",
        lambda: L.run_grid(model, n=50, eta=0.5, trials=1, methods="none"))  # fmt: skip
    add("run_grid methods='bogus'", 5, "error",
        lambda: L.run_grid(model, n=50, eta=0.5, trials=1, methods="bogus"),
        ("method",))  # fmt: skip
    add("run_grid methods=[1]", 5, "error",
        lambda: L.run_grid(model, n=50, eta=0.5, trials=1, methods=[1]), ("method",))  # fmt: skip
    add("run_grid methods=None", 5, "error",
        lambda: L.run_grid(model, n=50, eta=0.5, trials=1, methods=None), ("methods",))  # fmt: skip
    for kw, names in [
        ({"n": []}, ("n",)),
        ({"eta": []}, ("eta",)),
        ({"methods": []}, ("methods",)),
        ({"n": 1}, ("n",)),
        ({"n": "50"}, ("n",)),
        ({"eta": 0.0}, ("eta",)),
        ({"eta": [0.5, 2.0]}, ("eta",)),
        ({"eta": "0.5"}, ("eta",)),
        ({"trials": 0}, ("trials",)),
        ({"trials": 1.5}, ("trials",)),
        ({"rho": 0.0}, ("rho",)),
        ({"rho": math.nan}, ("rho",)),
        ({"jobs": 0}, ("jobs",)),
        ({"learner": "bogus"}, ("learner",)),
        ({"sampler": "bogus"}, ("sampler",)),
    ]:
        args = {"n": 50, "eta": 0.5, "trials": 1, **kw}
        add(f"run_grid {kw}", 5, "error", lambda a=args: L.run_grid(model, **a), names)
    add("run_grid model='x'", 5, "error",
        lambda: L.run_grid("x", n=50, eta=0.5, trials=1), ("model",))  # fmt: skip
    add("run_trial seed=-1", 5, "error", lambda: L.run_trial(model, 50, 0, ["none"], seed=-1),
        ("seed",))  # fmt: skip
    add("run_trial trial=-1", 5, "error", lambda: L.run_trial(model, 50, -1, ["none"]),
        ("trial",))  # fmt: skip
    add("run_trial methods='none'", 5, "valid", lambda: L.run_trial(model, 50, 0, "none"))
    # --- ExperimentConfig
    base = experiment_config("table1", trials=1)
    for q in (2.0, -0.5):

        def bad_spec(q=q):
            spec = L.MethodSpec("teacher", keep_fraction=0.5)
            object.__setattr__(spec, "keep_fraction", q)  # bypass MethodSpec's own check
            return ExperimentConfig("table1", "book", 1000, (0.3,), (spec,), 1)

        add(f"ExperimentConfig kept fraction {q}", 5, "error", bad_spec, ("keep_fraction",))
    for kw, names in [
        ({"seed": -1}, ("seed",)),
        ({"seed": 1.5}, ("seed",)),
        ({"trials": 0}, ("trials",)),
        ({"n": 1}, ("n",)),
        ({"rho": 0.0}, ("rho",)),
        ({"gamma": 1e-320}, ("gamma",)),
        ({"etas": ()}, ("eta",)),
        ({"etas": (2.0,)}, ("eta",)),
        ({"methods": ()}, ("method",)),
        ({"methods": ("none",)}, ("MethodSpec", "methods")),
        ({"sampler": "bogus"}, ("sampler",)),
        ({"name": "bogus"}, ("experiment",)),
        ({"scale": "bogus"}, ("scale",)),
        ({"chunk_size": 0}, ("chunk_size",)),
    ]:
        add(f"ExperimentConfig {kw}", 5, "error",
            lambda kw=kw: __import__("dataclasses").replace(base, **kw), names)  # fmt: skip
    for kw, names in [
        ({"name": "bogus"}, ("experiment",)),
        ({"scale": "bogus"}, ("scale",)),
        ({"trials": 0}, ("trials",)),
        ({"seed": -1}, ("seed",)),
        ({"sampler": "exact"}, ("sampler", "exact")),
    ]:
        args = {"name": "table1", **kw}
        add(f"experiment_config {kw}", 5, "error",
            lambda a=args: experiment_config(**a), names)  # fmt: skip
    # --- the model
    for kw, names in [
        ({"d": 0}, ("d",)),
        ({"d": 2.5}, ("d",)),
        ({"d_t": -1}, ("d_t",)),
        ({"r": 0}, ("r",)),
        ({"r": 7}, ("r",)),
        ({"r": "2"}, ("r",)),
        ({"gamma": 0.0}, ("gamma",)),
        ({"gamma": -1.0}, ("gamma",)),
        ({"gamma": math.nan}, ("gamma",)),
        ({"gamma": 1e-320}, ("gamma",)),
        ({"gamma": 1e-200}, ("gamma",)),
        ({"gamma_t": -math.inf}, ("gamma_t",)),
        ({"gamma_t": "1e4"}, ("gamma_t",)),
        ({"eta": 0.0}, ("eta",)),
        ({"eta": 1.5}, ("eta",)),
        ({"eta": math.nan}, ("eta",)),
        ({"basis_seed": -1}, ("basis_seed",)),
    ]:
        args = {"d": 6, "d_t": 5, "r": 2, **kw}
        add(f"BimodalModel {kw}", 5, "error", lambda a=args: L.BimodalModel(**a), names)
    add("BimodalModel gamma=inf", 0, "valid", lambda: L.BimodalModel(6, 5, 2, gamma=math.inf))
    add("BimodalModel gamma=1e-150", 5, "valid", lambda: L.BimodalModel(6, 5, 2, gamma=1e-150))
    add("model.sample n=-1", 5, "error", lambda: model.sample(-1, rng), ("n",))
    add("model.sample n=1.5", 5, "error", lambda: model.sample(1.5, rng), ("n",))
    add("model.with_eta 0", 5, "error", lambda: model.with_eta(0.0), ("eta",))
    add("random_orthonormal rank > dim", 5, "error",
        lambda: L.random_orthonormal(3, 4, rng), ("rank",))  # fmt: skip
    add("StreamingSample n=0", 5, "error", lambda: L.StreamingSample(model, 0, 0), ("n",))
    add("StreamingSample chunk_size=0", 5, "error",
        lambda: L.StreamingSample(model, 10, 0, chunk_size=0), ("chunk_size",))  # fmt: skip
    add("PairSample 1-D x", 5, "error",
        lambda: L.PairSample(np.ones(3), np.ones((3, 2))), ("x",))  # fmt: skip
    add("PairSample rows differ", 5, "error",
        lambda: L.PairSample(np.ones((3, 2)), np.ones((4, 2))), ("rows",))  # fmt: skip
    add("sample_cross_covariance n=0", 5, "error",
        lambda: sample_cross_covariance(model, 0, 0), ("n",))  # fmt: skip
    add("ExactSource n=1", 5, "error", lambda: ExactSource(model, 1, 0), ("n",))
    # --- learners
    ones_x, ones_xt = np.ones((20, 6)), np.ones((20, 5))
    add("fit identical rows", 5, "error", lambda: L.fit(ones_x, ones_xt, 2),
        ("cross-covariance", "identical"))  # fmt: skip
    add("fit constant x only", 5, "error", lambda: L.fit(ones_x, pairs.xt[:20], 2),
        ("cross-covariance", "identical"))  # fmt: skip
    add("closed_form_encoders S=0", 5, "error",
        lambda: L.closed_form_encoders(np.zeros((6, 5)), 2), ("S", "zero"))  # fmt: skip
    add("fit NaN entry", 5, "error",
        lambda: L.fit(np.where(pairs.x == pairs.x[0, 0], np.nan, pairs.x), pairs.xt, 2),
        ("x", "finite"))  # fmt: skip
    add("fit r=0", 5, "error", lambda: L.fit(pairs.x, pairs.xt, 0), ("r",))
    add("fit r > d", 5, "error", lambda: L.fit(pairs.x, pairs.xt, 9), ("r",))
    add("fit n < r + 1", 5, "error", lambda: L.fit(pairs.x[:2], pairs.xt[:2], 2), ("r + 1",))
    add("fit rho=0", 5, "error", lambda: L.fit(pairs.x, pairs.xt, 2, rho=0.0), ("rho",))
    add("fit rho=nan", 5, "error", lambda: L.fit(pairs.x, pairs.xt, 2, rho=math.nan), ("rho",))
    add("fit rows differ", 5, "error", lambda: L.fit(pairs.x, pairs.xt[:10], 2), ("rows",))
    add("fit 1-D x", 5, "error", lambda: L.fit(pairs.x[0], pairs.xt, 2), ("x",))
    add("fit lists", 0, "valid", lambda: L.fit(pairs.x.tolist(), pairs.xt.tolist(), 2))
    add("fit_pca r=0", 5, "error", lambda: L.fit_pca(pairs.x, pairs.xt, 0), ("r",))
    add("pca_encoders non-square", 5, "error",
        lambda: pca_encoders(np.ones((3, 4)), np.eye(3), 1), ("cov",))  # fmt: skip
    add("cross_covariance n=1", 5, "error",
        lambda: L.cross_covariance(pairs.x[:1], pairs.xt[:1]), ("n",))  # fmt: skip
    add("CrossCovarianceAccumulator d=0", 5, "error",
        lambda: CrossCovarianceAccumulator(0, 3), ("d",))  # fmt: skip
    add("contrastive_loss n=1", 5, "error",
        lambda: L.contrastive_loss(enc.G, enc.G_t, pairs.x[:1], pairs.xt[:1]), ("n", "pairs"))  # fmt: skip
    add("contrastive_loss G wrong width", 5, "error",
        lambda: L.contrastive_loss(enc.G[:, :3], enc.G_t, pairs.x, pairs.xt), ("G",))  # fmt: skip
    add("loss_from_cross_covariance rho=-1", 5, "error",
        lambda: L.loss_from_cross_covariance(enc.G, enc.G_t, np.ones((6, 5)), rho=-1.0),
        ("rho",))  # fmt: skip
    add("gradient_descent steps=-1", 5, "error",
        lambda: L.gradient_descent(np.eye(6, 5), 2, steps=-1), ("steps",))  # fmt: skip
    add("gradient_descent steps=0 (returns the start)", 0, "valid",
        lambda: L.gradient_descent(np.eye(6, 5), 2, steps=0))  # fmt: skip
    add("gradient_descent step_size=nan", 5, "error",
        lambda: L.gradient_descent(np.eye(6, 5), 2, step_size=math.nan), ("step_size",))  # fmt: skip
    # --- metrics
    add("principal_angles dims differ", 5, "error",
        lambda: L.principal_angles(np.eye(6)[:, :2], np.eye(5)[:, :2]), ("X", "Y", "rows"))  # fmt: skip
    add("principal_angles NaN", 5, "error",
        lambda: L.principal_angles(np.full((4, 2), np.nan), np.eye(4)[:, :2]), ("X", "finite"))  # fmt: skip
    add("sin_theta_distance 1-D", 5, "error",
        lambda: L.sin_theta_distance(np.ones(4), np.eye(4)[:, :2]), ("X",))  # fmt: skip
    add("subspace_error wrong U", 5, "error",
        lambda: L.subspace_error(enc, np.eye(4)[:, :2], model.U_t), ("U",))  # fmt: skip
    add("subspace_error not Encoders", 5, "error",
        lambda: L.subspace_error("enc", model.U, model.U_t), ("encoders",))  # fmt: skip
    add("row_space_basis zero G", 5, "error",
        lambda: L.row_space_basis(np.zeros((2, 6))), ("G", "zero", "rank"))  # fmt: skip
    # --- scores and filters
    add("bilinear_score M wrong shape", 5, "error",
        lambda: L.bilinear_score(pairs.x, pairs.xt, np.ones((3, 3))), ("score matrix", "M"))  # fmt: skip
    add("bilinear_score 1-D x", 5, "error",
        lambda: L.bilinear_score(pairs.x[0], pairs.xt, np.ones((6, 5))), ("x",))  # fmt: skip
    add("bilinear_score lists", 0, "valid",
        lambda: L.bilinear_score(pairs.x.tolist(), pairs.xt.tolist(), np.ones((6, 5))))  # fmt: skip
    add("oracle_score_matrix rank differs", 5, "error",
        lambda: L.oracle_score_matrix(np.ones((6, 2)), np.ones((5, 3))), ("U",))  # fmt: skip
    add("teacher_score_matrix units", 5, "error",
        lambda: L.teacher_score_matrix(enc, units="bogus"), ("units",))  # fmt: skip
    add("teacher_score_matrix not Encoders", 5, "error",
        lambda: L.teacher_score_matrix("x"), ("teacher",))  # fmt: skip
    for kw, names in [
        ({"method": "bogus"}, ("method",)),
        ({"method": "none", "theta": 0.0}, ("theta",)),
        ({"method": "teacher", "theta": 0.0, "keep_fraction": 0.5}, ("theta", "keep_fraction")),
        ({"method": "teacher", "theta": math.nan}, ("theta",)),
        ({"method": "teacher", "theta": math.inf}, ("theta",)),
        ({"method": "teacher", "keep_fraction": 0.0}, ("keep_fraction",)),
        ({"method": "teacher", "keep_fraction": 1.5}, ("keep_fraction",)),
        ({"method": "teacher", "theta": "0"}, ("theta",)),
    ]:
        add(f"MethodSpec {kw}", 5, "error", lambda kw=kw: L.MethodSpec(**kw), names)
    add("MethodSpec theta=-inf", 4, "valid", lambda: L.MethodSpec("teacher", theta=-math.inf))
    add("run_method bogus", 5, "error",
        lambda: L.run_method(pairs, "bogus", 2), ("method",))  # fmt: skip
    add("run_method r=0", 5, "error", lambda: L.run_method(pairs, "none", 0), ("r",))
    add("run_method oracle-score without U", 5, "error",
        lambda: L.run_method(pairs, "oracle-score", 2, theta=0.0), ("U",))  # fmt: skip
    add("run_method theta=-inf", 4, "valid",
        lambda: L.run_method(pairs, "teacher", 2, theta=-math.inf))  # fmt: skip
    add("run_methods empty", 5, "error", lambda: L.run_methods(pairs, [], 2), ("method",))
    add("run_methods learner", 5, "error",
        lambda: L.run_methods(pairs, ["none"], 2, learner="bogus"), ("learner",))  # fmt: skip
    add("fit_filtered NaN x", 5, "error",
        lambda: L.fit_filtered(np.full((50, 6), np.nan), pairs.xt[:50], 2), ("x",))  # fmt: skip
    add("fit_filtered both knobs", 5, "error",
        lambda: L.fit_filtered(pairs.x, pairs.xt, 2, theta=0.0, keep_fraction=0.5),
        ("theta", "keep_fraction"))  # fmt: skip
    add("fit_filtered split='yes'", 5, "error",
        lambda: L.fit_filtered(pairs.x, pairs.xt, 2, split="yes"), ("split",))  # fmt: skip
    add("fit_filtered valid", 0, "valid", lambda: L.fit_filtered(pairs.x, pairs.xt, 2))
    # --- theory
    add("predict_unfiltered gamma=1e-320", 5, "error",
        lambda: predict_unfiltered(1000, 0.3, 10, 8, 4, 1e-320, 1e4), ("gamma",))  # fmt: skip
    add("predict_unfiltered n=0", 5, "error",
        lambda: predict_unfiltered(0, 0.3, 10, 8, 4, 1e4, 1e4), ("n",))  # fmt: skip
    add("predict_unfiltered eta=2", 5, "error",
        lambda: predict_unfiltered(1000, 2.0, 10, 8, 4, 1e4, 1e4), ("eta",))  # fmt: skip
    add("predict_filtered method bogus", 5, "error",
        lambda: predict_filtered(1000, 0.3, 10, 8, 4, 1e4, 1e4, method="bogus"), ("method",))  # fmt: skip
    add("predict_filtered theta=nan", 5, "error",
        lambda: predict_filtered(1000, 0.3, 10, 8, 4, 1e4, 1e4, theta=math.nan,
                                 method="teacher"), ("theta",))  # fmt: skip
    add("predict_filtered theta=-inf", 4, "valid",
        lambda: predict_filtered(1000, 0.3, 10, 8, 4, 1e4, 1e4, theta=-math.inf,
                                 method="teacher"))  # fmt: skip
    add("predict_filtered r=1 (no IntegrationWarning)", 7, "valid",
        lambda: predict_filtered(10_000, 0.3, 10, 8, 1, 1e4, 1e4, method="teacher"))  # fmt: skip
    add("ScoreLaw r=0", 5, "error", lambda: ScoreLaw(0, 1e4, 1e4, True), ("r",))
    add("ScoreLaw gamma=1e-320", 5, "error", lambda: ScoreLaw(2, 1e-320, 1e4, True), ("gamma",))
    add("ScoreLaw tail NaN", 5, "error",
        lambda: ScoreLaw(2, 1e4, 1e4, True).tail_moments(math.nan), ("theta",))  # fmt: skip
    add("snr_factor gamma=0", 5, "error", lambda: snr_factor(0.0, 1.0), ("gamma",))
    add("sample_size_condition eta=0", 5, "error",
        lambda: sample_size_condition(10, 8, 1e4, 1e4, 0.0), ("eta",))  # fmt: skip
    add("theorem1_rate n=0", 5, "error",
        lambda: theorem1_rate(0, 0.3, 10, 8, 4, 1e4, 1e4), ("n",))  # fmt: skip
    add("corollary1_rate gamma=-1", 5, "error",
        lambda: corollary1_rate(1000, 0.3, 10, 8, 4, -1.0, 1e4), ("gamma",))  # fmt: skip
    # --- stats
    add("fit_loglog_slope one point", 5, "error",
        lambda: fit_loglog_slope([1.0], [1.0]), ("x", "points", "two"))  # fmt: skip
    add("fit_loglog_slope negative", 5, "error",
        lambda: fit_loglog_slope([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]), ("y", "positive"))  # fmt: skip
    add("summarize missing columns", 5, "error",
        lambda: L.summarize(__import__("pandas").DataFrame({"a": [1]})), ("err", "column"))  # fmt: skip
    return t


_API_CACHE: dict[str, tuple] = {}


def _api_cases() -> list[Case]:
    # Built in a worker too (the thunks are not picklable): ids are the keys.
    return [
        Case(cid, "api", item, expect, call=cid, names=names)
        for cid, item, expect, _thunk, names in _api_table()
    ]


# ========================================================================= fault cases
def _base_run(root: Path) -> Path:
    """A finished tiny seed-0 Table 1 run (2 trials), made once and copied per case."""
    base = root / "base-run"
    if not base.exists():
        _run_cli(["reproduce", "table1", "--trials", "2", "--no-progress", "--out", str(base)])
    return base


def _copy_base(root: Path, name: str) -> Path:
    out = root / name
    shutil.copytree(_base_run(root), out)
    return out


def _mutate_csv(path: Path, fn: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(fn(lines)) + "\n", encoding="utf-8")


def _fault_cases() -> list[Case]:
    cases: list[Case] = []
    stem = "table1_book"

    def add(cid, item, expect, setup, names=(), timeout=90.0, note=""):
        cases.append(
            Case(
                cid,
                "fault",
                item,
                expect,
                names=tuple(names),
                setup=setup,
                timeout=timeout,
                note=note,
            )  # fmt: skip
        )

    def resume(out: Path, *extra: str) -> list[str]:
        return ["reproduce", "table1", "--trials", "2", "--no-progress", "--out", str(out), *extra]

    # item 1: resume integrity
    def f_log(kind: str):
        def setup(root: Path):
            out = _copy_base(root, f"log-{kind}")
            log = out / f"{stem}_run.json"
            if kind == "deleted":
                log.unlink()
            elif kind == "truncated":
                log.write_bytes(log.read_bytes()[: len(log.read_bytes()) // 2])
            elif kind == "random":
                log.write_bytes(os.urandom(300))
            elif kind == "empty":
                log.write_text("", encoding="utf-8")
            elif kind == "list":
                log.write_text("[]\n", encoding="utf-8")
            elif kind == "string":
                log.write_text('"hello"\n', encoding="utf-8")
            return resume(out, "--seed", "1"), {}

        return setup

    for kind in ("deleted", "truncated", "random", "empty", "list", "string"):
        add(f"resume --seed 1 over seed 0, run log {kind}", 1 if kind in
            ("deleted", "truncated", "random", "empty") else 2, "error", f_log(kind),
            (stem,))  # fmt: skip

    def f_seed(root: Path):
        return resume(_copy_base(root, "seed-1"), "--seed", "1"), {}

    add("resume --seed 1 over an intact seed-0 run", 1, "error", f_seed, (stem, "seed"))

    def f_sampler(root: Path):
        return resume(_copy_base(root, "sampler"), "--sampler", "auto"), {}

    add("resume --sampler auto over a pairs run", 1, "error", f_sampler, (stem, "sampler"))

    def f_rows(kind: str):
        def setup(root: Path):
            out = _copy_base(root, f"rows-{kind}")
            csv = out / f"{stem}_trials.csv"

            def edit(lines: list[str]) -> list[str]:
                head = lines[0].split(",")
                row = lines[1].split(",")
                if kind == "foreign eta":
                    row[head.index("eta")] = "0.5"
                    row[head.index("trial")] = "7"
                    return [*lines, ",".join(row)]
                if kind == "edited n":
                    row[head.index("n")] = "999"
                    return [lines[0], ",".join(row), *lines[2:]]
                if kind == "err nan":
                    row[head.index("err")] = "nan"
                    return [lines[0], ",".join(row), *lines[2:]]
                if kind == "torn last line":
                    last = lines[-1]
                    return [*lines[:-1], last[: last.rfind(",") - 3]]
                if kind == "duplicate row":
                    return [*lines, lines[1]]
                if kind == "no header":
                    return lines[1:]
                raise AssertionError(kind)

            _mutate_csv(csv, edit)
            return resume(out), {}

        return setup

    for kind in ("foreign eta", "edited n", "err nan", "torn last line", "duplicate row",
                 "no header"):  # fmt: skip
        expect = "recover" if kind == "torn last line" else "error"
        add(f"resume with CSV {kind}", 2 if kind == "err nan" else 1, expect, f_rows(kind),
            (stem,))  # fmt: skip

    def f_binary_csv(root: Path):
        out = _copy_base(root, "binary-csv")
        (out / f"{stem}_trials.csv").write_bytes(os.urandom(2000))
        return resume(out), {}

    add("resume with a binary CSV", 2, "error", f_binary_csv, (stem,))

    def f_csv_dir(root: Path):
        out = root / "csv-dir"
        (out / f"{stem}_trials.csv").mkdir(parents=True)
        return resume(out), {}

    add("CSV path is a directory", 2, "error", f_csv_dir, (stem,))

    # item 2: --out that cannot be a directory
    def f_out_file(root: Path):
        f = root / "a-file"
        f.write_text("x", encoding="utf-8")
        return resume(f), {}

    add("--out is a file", 2, "error", f_out_file, ("a-file",))

    def f_out_under_file(root: Path):
        f = root / "b-file"
        f.write_text("x", encoding="utf-8")
        return resume(f / "sub"), {}

    add("--out under a file", 2, "error", f_out_under_file, ("b-file",))
    add("--out /proc/x", 2, "env", lambda root: (resume(Path("/proc/x")), {}), ("/proc/x",))
    add("--out /dev/null", 2, "env", lambda root: (resume(Path("/dev/null")), {}),
        ("/dev/null",))  # fmt: skip

    # item 3: resources
    add("simulate --n 1e12 (guard)", 3, "guard",
        lambda root: (["simulate", "--n", "1000000000000", "--trials", "1"], {}),
        ("--n", "--force", "n"), timeout=20.0)  # fmt: skip
    add("simulate --n 1e14 (guard)", 3, "guard",
        lambda root: (["simulate", "--n", "100000000000000", "--trials", "1"], {}),
        ("--n", "--force", "n"), timeout=20.0)  # fmt: skip
    add("reproduce fig3a --scale paper (guard)", 3, "guard",
        lambda root: (["reproduce", "fig3a", "--scale", "paper", "--no-progress", "--out",
                       str(root / "paper")], {}),
        ("--force", "minute", "estimated"), timeout=20.0,
        note="announce: below the 12-hour limit the run time is announced, then it runs")  # fmt: skip
    add("simulate --jobs 40 --trials 2 (worker cap)", 3, "guard",
        lambda root: (["simulate", "--n", "300", "--trials", "2", "--jobs", "40"], {}),
        ("worker", "jobs"), timeout=60.0)  # fmt: skip

    # item 6: signals, orphans, the lock
    def long_run(root: Path, name: str, jobs: str) -> list[str]:
        return ["reproduce", "table1", "--trials", "400", "--jobs", jobs, "--no-progress",
                "--out", str(root / name)]  # fmt: skip

    for sig, jobs in (("SIGTERM", "1"), ("SIGINT", "1"), ("SIGINT", "2"), ("SIGTERM", "2")):
        add(f"{sig} during reproduce --jobs {jobs}", 6, "interrupt",
            lambda root, sig=sig, jobs=jobs: (long_run(root, f"{sig}-{jobs}", jobs),
                                              {"signal": sig, "after": 6.0}),
            (stem,), timeout=60.0)  # fmt: skip
    add("SIGKILL to the parent at --jobs 2: no worker survives", 6, "survive",
        lambda root: (long_run(root, "kill", "2"), {"signal": "SIGKILL", "after": 6.0,
                                                     "orphans": True}),
        timeout=60.0)  # fmt: skip
    add("two writers into one --out: the second is refused", 6, "env",
        lambda root: (long_run(root, "two", "1"), {"second": True, "after": 5.0}),
        ("lock", "another", "in use", "running", "process"), timeout=60.0)  # fmt: skip
    add("interrupted and resumed run equals an uninterrupted one", 6, "survive",
        lambda root: (["reproduce", "table1", "--trials", "60", "--no-progress", "--out",
                       str(root / "resumed")], {"signal": "SIGINT", "after": 4.0,
                                                "compare": True}),
        timeout=120.0)  # fmt: skip
    return cases


# ============================================================================== running
def _run_cli(argv: list[str], timeout: float = 120.0, cwd: Path | None = None):
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONHASHSEED="0")
    return subprocess.run(
        [sys.executable, "-m", "linclip", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def _names(name: str, text: str) -> bool:
    """Whether ``text`` names ``name``: a whole word for short names (``n``, ``r``, ``G``)."""
    if len(name) <= 2:
        return re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", text) is not None
    return name.lower() in text.lower()


def _classify_exit(case: Case, code: int | None, out: str, err: str, exc: str = "") -> tuple:
    text = out + err
    names_ok = not case.names or any(_names(n, text) for n in case.names)
    if exc or "Traceback" in err:
        return "traceback", (exc or err.strip().splitlines()[-1])[:200]
    if case.expect == "valid":
        if code == 0:
            if "stderr must be empty" in case.note and err.strip():
                return "valid rejected", f"noise on stderr: {err.strip()[:150]}"
            if "OUTSIDE ITS VALIDITY" in case.note and "OUTSIDE ITS VALIDITY" not in out:
                return "silently accepted invalid input", "no validity note in the output"
            return "valid accepted", ""
        return "valid rejected", f"exit {code}: {err.strip()[:200]}"
    if case.expect == "recover":  # dropped with a notice naming the file, then recomputed
        if code != 0:
            return "valid rejected", f"exit {code}: {err.strip()[:200]}"
        if not err.strip() or not names_ok:
            return "silently accepted invalid input", "no notice naming the file on stderr"
        return "survived", "dropped with a notice and recomputed"
    if case.expect in ("error", "env"):
        if code == 0:
            return "silently accepted invalid input", f"exit 0: {out.strip()[:150]}"
        allowed = (2,) if case.expect == "error" else (1, 2)
        if code not in allowed:
            return "wrong exit status", f"exit {code} (expected {allowed}): {err.strip()[:150]}"
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        if not lines or "error" not in lines[-1].lower():
            return "traceback", f"no one-line error at the end of stderr: {err.strip()[-150:]}"
        usage = [ln for ln in lines[:-1] if not ln.startswith(("usage:", " "))]
        if usage:  # anything but argparse's usage block before the error line
            return "traceback", f"{len(lines)} lines on stderr: {usage[0][:120]}"
        if not names_ok:
            return "error without the parameter's name", err.strip()[:200]
        return "clean error", ""
    raise AssertionError(case.expect)


def _inprocess_cli(argv: list[str]) -> tuple[int | None, str, str, str]:
    from linclip.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | None
    exc = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except _Timeout:
            raise
        except BaseException as e:  # noqa: BLE001 - a traceback in the real CLI
            code, exc = None, f"{type(e).__name__}: {e}"
    return code, out.getvalue(), err.getvalue(), exc


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


_WORKER_TMP: Path | None = None


def _worker_init(tmp: str) -> None:
    global _WORKER_TMP
    import warnings

    os.environ.setdefault("MPLBACKEND", "Agg")
    _WORKER_TMP = Path(tmp)
    os.chdir(tmp)  # stray default outputs (reproduce --out results) land here
    warnings.simplefilter("default")  # every warning is printed (and counted as noise)
    signal.signal(signal.SIGALRM, _on_alarm)


def _run_inprocess(case: Case) -> Result:
    import warnings

    start = time.perf_counter()
    signal.alarm(int(case.timeout))
    try:
        if case.kind == "cli":
            assert _WORKER_TMP is not None
            tmp = tempfile.mkdtemp(dir=_WORKER_TMP)
            argv = [a.replace("{tmp}", tmp) for a in case.argv or []]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                code, out, err, exc = _inprocess_cli(argv)
            err += "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
            outcome, detail = _classify_exit(case, code, out, err, exc)
        else:
            if not _API_CACHE:
                _API_CACHE.update({row[0]: row for row in _api_table()})
            thunk = _API_CACHE[case.call][3]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    thunk()
                    code, msg = 0, ""
                except ValueError as e:
                    code, msg = 2, f"ValueError: {e}"  # the one line a user would see
                except _Timeout:
                    raise
                except Exception as e:  # noqa: BLE001
                    return Result(case, "traceback", f"{type(e).__name__}: {e}"[:200],
                                  time.perf_counter() - start)  # fmt: skip
            noise = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
            if case.expect == "valid" and noise:
                case.note = "stderr must be empty"
            outcome, detail = _classify_exit(case, code, "", msg + ("\n" + noise if noise else ""))
    except _Timeout:
        outcome, detail = "resource problem", f"no answer within {case.timeout:.0f} s"
    finally:
        signal.alarm(0)
    return Result(case, outcome, detail, time.perf_counter() - start)


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pids: list[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _popen(argv: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONHASHSEED="0")
    return subprocess.Popen(
        [sys.executable, "-m", "linclip", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _kill_tree(proc: subprocess.Popen, pids: list[int]) -> None:
    for pid in [proc.pid, *pids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=10)


def _watch(proc: subprocess.Popen, timeout: float, rss_limit: float = 2e9) -> tuple:
    """Wait for ``proc``; return (code, out, err, peak_rss, why_killed)."""
    import psutil

    start, peak, why = time.monotonic(), 0.0, ""
    while proc.poll() is None:
        try:
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
            rss = sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if rss > rss_limit:
            why = f"memory grew past {rss_limit / 1e9:.1f} GB"
        elif time.monotonic() - start > timeout:
            why = f"still running after {timeout:.0f} s (peak {peak / 1e9:.2f} GB)"
        if why:
            _kill_tree(proc, _children(proc.pid))
            try:  # what it printed before it was stopped (e.g. an announced run time)
                out, err = proc.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError):
                out, err = "", ""
            return None, out or "", err or "", peak, why
        time.sleep(0.2)
    out, err = proc.communicate()
    return proc.returncode, out, err, peak, ""


def _run_fault(case: Case, root: Path) -> Result:
    start = time.perf_counter()
    assert case.setup is not None
    argv, opts = case.setup(root)
    if not opts:  # a plain command
        proc = _popen(argv)
        code, out, err, peak, why = _watch(proc, case.timeout)
        if case.expect == "guard":
            if why and "announce" in case.note and "estimated run time" in err:
                # below the refusal limit: the run time is announced before it starts
                return Result(case, "guarded", "announced: " + err.strip()[:150],
                              time.perf_counter() - start)  # fmt: skip
            if why:
                return Result(case, "resource problem", why, time.perf_counter() - start)
            if code == 2 and any(n in err for n in case.names):
                return Result(case, "guarded", err.strip()[:150], time.perf_counter() - start)
            if code == 0 and any(n in (out + err) for n in case.names):
                return Result(case, "guarded", "", time.perf_counter() - start)
            if "Traceback" in err:
                return Result(case, "traceback", err.strip().splitlines()[-1][:200])
            return Result(case, "resource problem",
                          f"exit {code} without a guard message: {(out + err).strip()[:150]}",
                          time.perf_counter() - start)  # fmt: skip
        if why:
            return Result(case, "resource problem", why, time.perf_counter() - start)
        outcome, detail = _classify_exit(case, code, out, err)
        return Result(case, outcome, detail, time.perf_counter() - start)

    # signal cases
    proc = _popen(argv)
    time.sleep(opts.get("after", 5.0))
    if proc.poll() is not None:
        out, err = proc.communicate()
        return Result(case, "fault not survived",
                      f"finished before the signal (exit {proc.returncode}); {err[-150:]}",
                      time.perf_counter() - start)  # fmt: skip
    kids = _children(proc.pid)
    if opts.get("second"):
        code2, out2, err2, _, why2 = _watch(_popen(argv), 20.0)
        _kill_tree(proc, kids)
        if why2:
            return Result(case, "fault not survived",
                          "the second writer ran alongside the first: " + why2,
                          time.perf_counter() - start)  # fmt: skip
        return Result(case, *_classify_exit(case, code2, out2, err2),
                      time.perf_counter() - start)  # fmt: skip
    sig = getattr(signal, opts["signal"])
    os.kill(proc.pid, sig)
    if opts.get("orphans"):
        with contextlib.suppress(Exception):
            proc.communicate(timeout=10)
        time.sleep(4.0)
        alive = _alive(kids)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if alive:
            return Result(case, "fault not survived",
                          f"{len(alive)} of {len(kids)} child processes alive 4 s later",
                          time.perf_counter() - start)  # fmt: skip
        return Result(case, "survived", f"{len(kids)} children, none left",
                      time.perf_counter() - start)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        _kill_tree(proc, kids)
        return Result(case, "fault not survived", "did not stop within 30 s of the signal",
                      time.perf_counter() - start)  # fmt: skip
    if "Traceback" in err:
        return Result(case, "traceback", err.strip().splitlines()[-1][:200])
    if opts.get("compare"):
        resumed = _run_cli(argv, timeout=case.timeout)
        ref_dir = root / "uninterrupted"
        ref = _run_cli([*argv[:-1], str(ref_dir)], timeout=case.timeout)
        out_dir = Path(argv[-1])
        a = (out_dir / "table1_book_trials.csv").read_bytes() if resumed.returncode == 0 else b""
        b = (ref_dir / "table1_book_trials.csv").read_bytes() if ref.returncode == 0 else b"-"
        if a == b:
            return Result(case, "survived", "byte-identical CSV", time.perf_counter() - start)
        return Result(case, "fault not survived", "resumed CSV differs from uninterrupted one",
                      time.perf_counter() - start)  # fmt: skip
    log = Path(argv[-1]) / "table1_book_run.json"
    try:
        record = json.loads(log.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    flags = json.dumps(record)
    expected = 128 + int(sig)  # 130 for SIGINT, 143 for SIGTERM (documented in the CLI)
    if proc.returncode != expected:
        return Result(case, "wrong exit status", f"exit {proc.returncode} (expected {expected})",
                      time.perf_counter() - start)  # fmt: skip
    if '"interrupted": true' not in flags:
        return Result(case, "fault not survived", "the run log does not say interrupted",
                      time.perf_counter() - start)  # fmt: skip
    return Result(case, "interrupted cleanly", "", time.perf_counter() - start)


def all_cases() -> list[Case]:
    """Every case of the sweep, command line, API and faults."""
    return _cli_cases() + _api_cases() + _fault_cases()


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print the table of counts and the failures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--only", choices=("cli", "api", "fault"), default=None)
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--verbose", action="store_true", help="print every case's outcome")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SRC))
    os.environ["PYTHONPATH"] = str(SRC)
    cases = [c for c in all_cases() if args.only in (None, c.kind)]
    if args.list:
        for c in cases:
            print(f"{c.kind:5} item {c.item} {c.expect:9} {c.id}")
        print(f"{len(cases)} cases")
        return 0
    start = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="linclip-sweep-") as tmp:
        root = Path(tmp) / "faults"
        root.mkdir()
        faults = [c for c in cases if c.kind == "fault"]
        fault_results: list[Result] = []

        def run_faults() -> None:  # mostly waiting on subprocesses: a thread is enough
            for c in faults:
                try:
                    fault_results.append(_run_fault(c, root))
                except Exception as e:  # noqa: BLE001 - the sweep itself must go on
                    fault_results.append(Result(c, "fault not survived", f"sweep error: {e!r}"))

        quick = [c for c in cases if c.kind in ("cli", "api")]
        thread = threading.Thread(target=run_faults)
        # The workers are forked before the thread starts (forking a threaded process is
        # unsafe), and never re-forked (no maxtasksperchild).
        with mp.get_context("fork").Pool(
            args.jobs, initializer=_worker_init, initargs=(tmp,)
        ) as pool:
            thread.start()
            results += pool.map(_run_inprocess, quick, chunksize=4)
        thread.join()
        results += fault_results
    elapsed = time.perf_counter() - start
    _report(results, elapsed, args.verbose)
    return 1 if any(r.outcome in FAIL_CLASSES for r in results) else 0


def _report(results: list[Result], elapsed: float, verbose: bool) -> None:
    counts = Counter(r.outcome for r in results)
    by_kind = {k: Counter(r.outcome for r in results if r.case.kind == k) for k in
               ("cli", "api", "fault")}  # fmt: skip
    print(f"## Reliability sweep: {len(results)} inputs, {elapsed:.0f} s\n")
    print("| outcome | command line | API | file/signal/resource | total |")
    print("|---|---:|---:|---:|---:|")
    for outcome in (*OK_CLASSES, *FAIL_CLASSES):
        row = [by_kind[k][outcome] for k in ("cli", "api", "fault")]
        print(f"| {outcome} | {row[0]} | {row[1]} | {row[2]} | {counts[outcome]} |")
    total = [sum(by_kind[k].values()) for k in ("cli", "api", "fault")]
    print(f"| **inputs tried** | {total[0]} | {total[1]} | {total[2]} | {len(results)} |")
    items = Counter(r.case.item for r in results)
    print("\nCases per issue item: " + ", ".join(
        f"{'general' if k == 0 else f'item {k}'} {v}" for k, v in sorted(items.items())))  # fmt: skip
    failures = [r for r in results if r.outcome in FAIL_CLASSES]
    print(f"\n### Failures ({len(failures)})\n")
    for r in failures:
        print(f"- [{r.case.kind}, item {r.case.item}] {r.case.id}: **{r.outcome}** {r.detail}")
    if verbose:
        print("\n### Every case\n")
        for r in results:
            print(f"- {r.case.id}: {r.outcome} ({r.seconds:.1f} s) {r.detail}")


if __name__ == "__main__":
    sys.exit(main())
