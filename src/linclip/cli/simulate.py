"""``python -m linclip simulate``: simulate the learner with or without filtering."""

from __future__ import annotations

import argparse
import json

from ..filters.engine import check_learner
from ..filters.iterate import ITERATE_STARTS
from ..filters.spec import MethodSpec
from ..filters.weighting import WEIGHTINGS, ScoreWeighting
from ..learners import LEARNERS
from .common import (
    _finite_or_none,
    _json_float,
    add_model_arguments,
    add_sampler_argument,
    method_spec_from_args,
    model_from_args,
)

__all__ = ["NAME", "HELP", "add_arguments", "run"]

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
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    g.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    add_iterate_arguments(p)


# ---- iterated self-filtering and soft weighting (chapter "Iterated self-filtering") --------
def add_iterate_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``--rounds``, ``--fresh``, ``--weighting`` and the weighting's knobs."""
    g = p.add_argument_group("iterated self-filtering and soft weighting")
    g.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds K >= 1 of self-filtering for --method teacher or teacher-split: round 1 "
        "is that filter, round k+1 filters by round k's student with the same --theta or "
        "--keep-fraction; results are reported per round (default 1)",
    )
    g.add_argument(
        "--fresh",
        action="store_true",
        help="with --rounds K > 1: each round after the first draws a fresh sample of n pairs "
        "(deterministically seeded; K*n pairs in all) instead of re-filtering the same n",
    )
    g.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default=None,
        help="soft weighting instead of a cut, in one fit (score-filter methods only, not with "
        "--theta/--keep-fraction/--rounds): ramp = the clipped score "
        "min(max((S - theta_w)/T, 0), 1); logistic = 1/(1 + exp(-(S - theta_w)/T))",
    )
    g.add_argument(
        "--weight-theta",
        type=float,
        default=None,
        help="centre theta_w of the weighting, in oracle units (default 0)",
    )
    g.add_argument(
        "--weight-temperature",
        type=float,
        default=None,
        help="width T > 0 of the weighting, in oracle units (default 1)",
    )


def iterate_options(args: argparse.Namespace, spec: MethodSpec) -> tuple[MethodSpec, int, bool]:
    """The validated method (with its weighting), rounds and fresh switch of the options."""
    rounds, fresh = getattr(args, "rounds", 1), bool(getattr(args, "fresh", False))
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"--rounds must be an integer >= 1; got {rounds!r}")
    if rounds > 1 and spec.method not in ITERATE_STARTS:
        raise ValueError(
            f"--rounds {rounds} needs --method {' or '.join(ITERATE_STARTS)} (round 1's "
            f"teacher filter); got {spec.method!r}"
        )
    if fresh and rounds == 1:
        raise ValueError("--fresh needs --rounds K >= 2 (round 1 always uses the first sample)")
    kind = getattr(args, "weighting", None)
    w_theta, w_temp = (
        getattr(args, "weight_theta", None),
        getattr(args, "weight_temperature", None),
    )
    if kind is None:
        if w_theta is not None or w_temp is not None:
            raise ValueError("--weight-theta/--weight-temperature need --weighting ramp|logistic")
        return spec, rounds, fresh
    if rounds > 1:
        raise ValueError("--weighting is a single fit; it takes no --rounds (got --rounds > 1)")
    if args.theta is not None or args.keep_fraction is not None:
        raise ValueError("--weighting replaces the cut: do not pass --theta or --keep-fraction")
    if w_temp is not None and not w_temp > 0:
        raise ValueError(f"--weight-temperature (the width T) must be > 0; got {w_temp}")
    weighting = ScoreWeighting(
        kind, 0.0 if w_theta is None else w_theta, 1.0 if w_temp is None else w_temp
    )
    return MethodSpec(spec.method, score=spec.score, weighting=weighting), rounds, fresh


def _iterate_params(spec: MethodSpec, rounds: int, fresh: bool) -> dict:
    w = spec.weighting
    return {
        "rounds": rounds,
        "fresh": fresh,
        "weighting": None if w is None else w.kind,
        "weight_theta": None if w is None else w.theta,
        "weight_temperature": None if w is None else w.temperature,
    }


def _round_summaries(frame) -> list[dict]:
    from ..experiments.grid import summarize

    out = []
    for _, row in summarize(frame, by=("round", "pairs_used")).iterrows():
        out.append(
            {
                "round": int(row["round"]),
                "pairs_used": int(row["pairs_used"]),
                "err_mean": float(row.err_mean),
                "err_std": float(row.err_std) if int(row.trials) > 1 else 0.0,
                "kept_fraction_mean": float(row.kept_fraction_mean),
                "kept_clean_fraction_mean": float(row.kept_clean_fraction_mean),
            }
        )
    return out


# ---- end of iterated self-filtering lines


def run(args: argparse.Namespace) -> int:
    """Run ``simulate``; return the exit status."""
    from ..experiments.grid import run_grid, summarize

    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    model = model_from_args(args)
    spec = method_spec_from_args(args)
    spec, rounds, fresh = iterate_options(args, spec)
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
        rounds=rounds,
        fresh=fresh,
    )
    by_round = _round_summaries(frame)
    row = summarize(frame[frame["round"] == rounds]).iloc[0]  # the last round
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
            **_iterate_params(spec, rounds, fresh),
        },
        "by_round": by_round,
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
        if rounds > 1:
            print(f"  by round ({'fresh' if fresh else 'same'} data):")
            for b in by_round:
                print(
                    f"    round {b['round']}: ERR {b['err_mean']:.4e} ± {b['err_std']:.2e}, "
                    f"kept {b['kept_fraction_mean']:.4f}, pairs used {b['pairs_used']}"
                )
    return 0
