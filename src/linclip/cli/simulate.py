"""``python -m linclip simulate``: simulate the learner with or without filtering."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from ..filters.engine import check_learner
from ..filters.scores import FILTERING_METHODS, SCORES
from ..filters.spec import MethodSpec
from ..learners import LEARNERS
from .common import (
    _finite_or_none,
    _json_float,
    add_model_arguments,
    add_sampler_argument,
    method_spec_from_args,
    model_from_args,
)

__all__ = ["NAME", "HELP", "add_arguments", "run", "add_score_argument", "score_spec_from_args"]

NAME = "simulate"
HELP = "simulate the linear contrastive learner with or without filtering"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``simulate``."""
    add_model_arguments(p)
    p.add_argument_group("learner and filter").add_argument(
        "--learner",
        choices=LEARNERS,
        default="linear",
        help="the student's learner: linear (the closed-form contrastive learner) or pca "
        "(per-modality PCA, which ignores the pairing: the paper's eta = 0 reference); "
        "with a filtering method the teacher stays the contrastive learner "
        "(default linear)",
    )
    g = p.add_argument_group("run")
    g.add_argument("--trials", type=int, default=10, help="independent trials (default 10)")
    g.add_argument("--seed", type=int, default=0, help="root random seed (default 0)")
    g.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes; results do not depend on it (default 1, -1 = all)",
    )
    add_sampler_argument(g)
    add_score_argument(p)
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    g.add_argument("--progress", action="store_true", help="show a progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Run ``simulate``; return the exit status."""
    from ..experiments.grid import run_grid, summarize

    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    model = model_from_args(args)
    spec = score_spec_from_args(method_spec_from_args(args), args)
    learner = check_learner(args.learner)
    frame = run_grid(
        model,
        n=args.n,
        eta=args.eta,
        methods=[spec],
        trials=args.trials,
        seed=args.seed,
        rho=args.rho,
        jobs=args.jobs,
        progress=args.progress,
        learner=learner,
        sampler=args.sampler,
    )
    row = summarize(frame).iloc[0]
    err_std = float(row.err_std) if args.trials > 1 else 0.0
    result = {
        "err_mean": float(row.err_mean),
        "err_std": err_std,
        "err_x_mean": float(row.err_x_mean),
        "err_xt_mean": float(row.err_xt_mean),
        "kept_fraction_mean": float(row.kept_fraction_mean),
        "kept_clean_fraction_mean": float(row.kept_clean_fraction_mean),
        "trials": int(row.trials),
        "learner": learner,
        "sampler": str(frame["sampler"].iloc[0]),
        "score": str(frame["score"].iloc[0]),
        "params": {
            "learner": learner,
            "n": args.n,
            "eta": model.eta,
            "d": model.d,
            "d_t": model.d_t,
            "r": model.r,
            "gamma": _json_float(model.gamma),
            "gamma_t": _json_float(model.gamma_t),
            "rho": args.rho,
            "method": spec.method,
            "theta": _finite_or_none(spec.theta),
            "keep_fraction": _finite_or_none(spec.keep_fraction),
            "seed": args.seed,
            "jobs": args.jobs,
            "sampler": args.sampler,
            "score": spec.score,
        },
    }
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        shown = spec.label if learner == "linear" else f"{spec.label}, learner {learner}"
        print(
            f"method {shown}: n = {args.n}, eta = {model.eta:g}, d = {model.d}, "
            f"d~ = {model.d_t}, r = {model.r}, gamma = {model.gamma:g}, "
            f"gamma~ = {model.gamma_t:g}, {result['trials']} trials, "
            f"sampler {result['sampler']}"
        )
        print(f"  ERR           {result['err_mean']:.4e} ± {result['err_std']:.2e} (mean ± std)")
        print(f"  ERR x / x~    {result['err_x_mean']:.4e} / {result['err_xt_mean']:.4e}")
        print(
            f"  kept fraction {result['kept_fraction_mean']:.4f}, clean among kept "
            f"{result['kept_clean_fraction_mean']:.4f}"
        )
    return 0


# --- --score (Part III, "The CLIP score: cosine against bilinear"; keep these lines together) ---
def add_score_argument(p: argparse.ArgumentParser) -> None:
    """The ``--score {bilinear,cosine}`` option: what the teacher and oracle-score filters rank by."""
    p.add_argument_group("filter score").add_argument(
        "--score",
        choices=SCORES,
        default="bilinear",
        help="what the filtering methods (teacher, teacher-split, oracle-score) rank pairs by: "
        "bilinear, the paper's score x^T M x~ (M = G^T G~ of the teacher, U U~^T of the "
        "oracle), or cosine, the cosine of the two embeddings cos(G x, G~ x~) (the CLIP score "
        "of DataComp and DFN; cos(U^T x, U~^T x~) for the oracle), whose --theta is then a "
        "cosine in [-1, 1]. --score cosine with a method that does not filter by a score "
        "(none, oracle-clean) is an error; it needs generated pairs (--sampler pairs or "
        "auto). Recorded in the JSON output (default bilinear)",
    )


def score_spec_from_args(spec: MethodSpec, args: argparse.Namespace) -> MethodSpec:
    """``spec`` with the score of ``--score``; ``ValueError`` for a non-filtering method."""
    score = getattr(args, "score", "bilinear")
    if score == spec.score:
        return spec
    if spec.method not in FILTERING_METHODS:
        raise ValueError(
            f"--score {score} applies only to the filtering methods "
            f"({', '.join(FILTERING_METHODS)}); method is {spec.method!r}"
        )
    return replace(spec, score=score)


# --- end of --score lines ---------------------------------------------------------------------
