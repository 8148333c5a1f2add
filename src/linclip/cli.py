"""Command line: ``python -m linclip simulate ...`` (more subcommands register themselves).

Errors in the parameters are reported as one line on stderr and exit status 2, never as a
traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable, Sequence

from .experiments import MethodSpec, run_grid, summarize
from .filters import FILTERING_METHODS, METHODS
from .model import BimodalModel

__all__ = ["main", "build_parser", "add_model_arguments", "model_from_args",
           "method_spec_from_args", "SUBCOMMANDS"]

#: name -> (help, function adding arguments, function running the command and returning a code)
SUBCOMMANDS: dict[str, tuple[str, Callable, Callable]] = {}


def add_model_arguments(p: argparse.ArgumentParser, *, with_method: bool = True) -> None:
    """Options shared by ``simulate`` and ``predict``: the model, learner and filter."""
    g = p.add_argument_group("data model (Assumptions 1-2)")
    g.add_argument("--n", type=int, default=10_000, help="number of pairs n (default 10000)")
    g.add_argument("--eta", type=float, default=0.3,
                   help="clean fraction eta in (0, 1]: probability a pair is matched (default 0.3)")
    g.add_argument("--d", type=int, default=10, help="dimension d of x (default 10)")
    g.add_argument("--d-t", type=int, default=8, help="dimension d~ of x~ (default 8)")
    g.add_argument("--r", type=int, default=4, help="rank r of the shared subspace (default 4)")
    g.add_argument("--gamma", type=float, default=1e4,
                   help="signal-to-noise gamma of x; noise variance 1/gamma (default 1e4)")
    g.add_argument("--gamma-t", type=float, default=1e4,
                   help="signal-to-noise gamma~ of x~ (default 1e4)")
    g = p.add_argument_group("learner and filter")
    g.add_argument("--rho", type=float, default=1.0,
                   help="regularisation rho > 0 of the contrastive loss (default 1)")
    if with_method:
        g.add_argument("--method", choices=METHODS, default="none",
                       help="none: train on all pairs; teacher: teacher on all n scores and "
                            "filters all n; teacher-split: Algorithm 1 (teacher on first half, "
                            "filter second half); oracle-score: filter by x^T U U~^T x~; "
                            "oracle-clean: keep exactly the clean pairs (default none)")
    knob = g.add_mutually_exclusive_group()
    knob.add_argument("--theta", type=float, default=None,
                      help="threshold theta in oracle units: keep pairs with score > theta "
                           "(default for filtering methods: 0, the paper's untuned choice)")
    knob.add_argument("--keep-fraction", type=float, default=None,
                      help="kept fraction q in (0, 1]: keep the top q of the scored pairs")


def model_from_args(args: argparse.Namespace) -> BimodalModel:
    """Build the validated model from parsed options."""
    return BimodalModel(d=args.d, d_t=args.d_t, r=args.r, gamma=args.gamma,
                        gamma_t=args.gamma_t, eta=args.eta)


def method_spec_from_args(args: argparse.Namespace) -> MethodSpec:
    """Validated method and knob from parsed options."""
    if args.method not in FILTERING_METHODS and (args.theta is not None
                                                 or args.keep_fraction is not None):
        raise ValueError(f"--theta/--keep-fraction only apply to the filtering methods "
                         f"({', '.join(FILTERING_METHODS)}); method is {args.method!r}")
    return MethodSpec(args.method, theta=args.theta, keep_fraction=args.keep_fraction)


def _finite_or_none(value: float):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _json_float(value: float):
    """``inf`` as the string "inf": strict JSON has no Infinity literal."""
    return str(value) if math.isinf(value) else value


def _add_simulate(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    g = p.add_argument_group("run")
    g.add_argument("--trials", type=int, default=10, help="independent trials (default 10)")
    g.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    g.add_argument("--jobs", type=int, default=1,
                   help="worker processes; results do not depend on it (default 1, -1 = all)")
    g.add_argument("--json", action="store_true",
                   help="print exactly one JSON object on stdout")
    g.add_argument("--progress", action="store_true", help="show a progress bar on stderr")


def _run_simulate(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    model = model_from_args(args)
    spec = method_spec_from_args(args)
    frame = run_grid(model, n=args.n, eta=args.eta, methods=[spec], trials=args.trials,
                     seed=args.seed, rho=args.rho, jobs=args.jobs, progress=args.progress)
    row = summarize(frame).iloc[0]
    err_std = float(row.err_std) if args.trials > 1 else 0.0
    result = {
        "err_mean": float(row.err_mean), "err_std": err_std,
        "err_x_mean": float(row.err_x_mean), "err_xt_mean": float(row.err_xt_mean),
        "kept_fraction_mean": float(row.kept_fraction_mean),
        "kept_clean_fraction_mean": float(row.kept_clean_fraction_mean),
        "trials": int(row.trials),
        "params": {"n": args.n, "eta": model.eta, "d": model.d, "d_t": model.d_t, "r": model.r,
                   "gamma": _json_float(model.gamma), "gamma_t": _json_float(model.gamma_t),
                   "rho": args.rho,
                   "method": spec.method, "theta": _finite_or_none(spec.theta),
                   "keep_fraction": _finite_or_none(spec.keep_fraction), "seed": args.seed,
                   "jobs": args.jobs},
    }
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(f"method {spec.label}: n = {args.n}, eta = {model.eta:g}, d = {model.d}, "
              f"d~ = {model.d_t}, r = {model.r}, gamma = {model.gamma:g}, "
              f"gamma~ = {model.gamma_t:g}, {result['trials']} trials")
        print(f"  ERR           {result['err_mean']:.4e} ± {result['err_std']:.2e} (mean ± std)")
        print(f"  ERR x / x~    {result['err_x_mean']:.4e} / {result['err_xt_mean']:.4e}")
        print(f"  kept fraction {result['kept_fraction_mean']:.4f}, clean among kept "
              f"{result['kept_clean_fraction_mean']:.4f}")
    return 0


SUBCOMMANDS["simulate"] = ("simulate the linear contrastive learner with or without filtering",
                           _add_simulate, _run_simulate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    # Import for their side effect of registering subcommands.
    from . import _cli_extra  # noqa: F401

    parser = argparse.ArgumentParser(
        prog="python -m linclip",
        description="Linear contrastive learning with teacher-based data filtering "
                    "(Pareek, Oh & Du, NeurIPS 2025): simulations and predictions.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except ValueError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
