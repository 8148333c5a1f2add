"""``python -m linclip simulate``: simulate the learner with or without filtering."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.model import NOISE_KINDS, NOISE_MODALITIES, SPIKE_DIRECTIONS, NoiseModel
from ..filters.engine import check_learner
from ..filters.iterate import ITERATE_STARTS
from ..filters.scores import FILTERING_METHODS, SCORES
from ..filters.spec import MethodSpec
from ..filters.weighting import WEIGHTINGS, ScoreWeighting
from ..learners import LEARNERS
from ..learners.infonce import InfoNCEOptions
from .common import (
    _finite_or_none,
    _json_float,
    add_model_arguments,
    add_sampler_argument,
    method_spec_from_args,
    model_from_args,
)
from .guards import add_force_argument, check_run_time

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "NAME",
    "HELP",
    "add_arguments",
    "add_noise_arguments",
    "noise_from_args",
    "add_score_argument",
    "score_spec_from_args",
    "add_infonce_arguments",
    "infonce_from_args",
    "write_trial_table",
    "InfoNCEArgs",
    "run",
]

NAME = "simulate"
HELP = "simulate the linear contrastive learner (or PCA, or InfoNCE) with or without filtering"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``simulate``."""
    add_model_arguments(p)
    p.add_argument_group("learner and filter").add_argument(
        "--learner",
        choices=LEARNERS,
        default="linear",
        help="the student's learner: linear (the closed-form contrastive learner), pca "
        "(per-modality PCA, which ignores the pairing: the paper's eta = 0 reference) or "
        "infonce (CLIP's loss on linear encoders, trained by minibatch Adam; see the InfoNCE "
        "options); the teachers' learner is --teacher-learner (default linear)",
    )
    add_infonce_arguments(p)
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
    add_force_argument(g)
    add_noise_arguments(p)
    add_iterate_arguments(p)


# ---- structured noise (Part III, chapter "Structured noise"; keep this block together) ------
#: Defaults of --noise-rank / --noise-strength per noise kind (None: the option does not apply).
NOISE_DEFAULTS = {"isotropic": (0, 0.0), "spiked": (1, 1.0), "hetero": (0, 10.0)}


def add_noise_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the noise covariance (:class:`linclip.data.model.NoiseModel`)."""
    g = p.add_argument_group(
        "structured noise (beyond Assumption 2; the exact sampler needs isotropic noise)"
    )
    g.add_argument(
        "--noise",
        choices=NOISE_KINDS,
        default="isotropic",
        help="isotropic: the paper's noise 1/gamma I; spiked: 1/gamma I + lambda V V^T, a few "
        "strong noise directions V; hetero: per-coordinate variances (1/gamma) w_j, a "
        "geometric profile of mean 1 (same total noise power as isotropic) (default isotropic)",
    )
    g.add_argument(
        "--noise-rank",
        type=int,
        default=None,
        help="spiked: number k >= 1 of spike directions (default 1); not for other kinds",
    )
    g.add_argument(
        "--noise-strength",
        type=float,
        default=None,
        help="spiked: extra variance lambda > 0 along each spike direction (default 1; the "
        "signal directions have variance 1 + 1/gamma); hetero: spread c >= 1, the largest "
        "over the smallest coordinate variance (default 10)",
    )
    g.add_argument(
        "--noise-modality",
        choices=NOISE_MODALITIES,
        default=None,
        help="which modality has the structured noise: image (x), text (x~) or both "
        "(default image)",
    )
    g.add_argument(
        "--noise-directions",
        choices=SPIKE_DIRECTIONS,
        default=None,
        help="spiked: spike directions orthogonal to the signal subspace (needs k <= dim - r) "
        "or Haar-random (overlapping it) (default orthogonal)",
    )


def noise_from_args(args: argparse.Namespace) -> NoiseModel:
    """The validated :class:`~linclip.data.model.NoiseModel` of the parsed options."""
    kind = args.noise
    rank_default, strength_default = NOISE_DEFAULTS[kind]
    given = {
        "--noise-rank": args.noise_rank,
        "--noise-strength": args.noise_strength,
        "--noise-modality": args.noise_modality,
        "--noise-directions": args.noise_directions,
    }
    allowed = {
        "isotropic": (),
        "spiked": tuple(given),
        "hetero": ("--noise-strength", "--noise-modality"),
    }[kind]
    for option, value in given.items():
        if value is not None and option not in allowed:
            raise ValueError(
                f"{option} does not apply to --noise {kind}; got {value!r} (options of "
                f"--noise {kind}: {', '.join(allowed) or 'none'})"
            )
    return NoiseModel(
        kind,
        rank=rank_default if args.noise_rank is None else args.noise_rank,
        strength=strength_default if args.noise_strength is None else args.noise_strength,
        modality="image" if args.noise_modality is None else args.noise_modality,
        directions="orthogonal" if args.noise_directions is None else args.noise_directions,
    )


def noise_params(noise: NoiseModel) -> dict:
    """The noise fields under the names of the result rows' columns (JSON ``params``)."""
    return {
        "noise": noise.kind,
        "noise_rank": noise.rank,
        "noise_strength": noise.strength,
        "noise_modality": noise.modality,
        "noise_directions": noise.directions,
    }


# ---- end of the structured-noise block ------------------------------------------------------


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
    from ..experiments.grid import run_grid, summarize, trial_samplers
    from ..experiments.resources import cap_workers, estimate_trial_seconds
    from ..experiments.runner import strict_json

    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer; got {args.seed}")
    model = replace(model_from_args(args), noise=noise_from_args(args))  # structured noise
    spec = score_spec_from_args(method_spec_from_args(args), args)
    spec, rounds, fresh = iterate_options(args, spec)
    learner = check_learner(args.learner)
    infonce = infonce_from_args(args, learner)
    if args.trials >= 1 and (args.jobs == -1 or args.jobs >= 1):
        check_run_time(
            NAME,
            estimate_trial_seconds(
                args.n,
                model.d,
                model.d_t,
                [spec.method],
                # structured noise runs on pairs (the exact sampler needs isotropic noise)
                trial_samplers([spec], args.sampler if model.noise.is_isotropic else "pairs"),
            ),
            args.trials,
            cap_workers(args.jobs, args.trials, announce=False),
            force=args.force,
            what=f"{args.trials} trials of n = {args.n:.3g} pairs",
            reduce="--n or --trials",
        )
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
        **infonce.run_grid_kwargs,
        rounds=rounds,
        fresh=fresh,
    )
    if infonce.out is not None:
        write_trial_table(frame, infonce.out)
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
            **noise_params(model.noise),  # structured noise
            "score": spec.score,
            **infonce.params,
            **_iterate_params(spec, rounds, fresh),
        },
        "by_round": by_round,
    }
    if args.json:
        print(strict_json(result))
    else:
        shown = spec.label if learner == "linear" else f"{spec.label}, learner {learner}"
        shown += infonce.label
        print(
            f"method {shown}: n = {args.n}, eta = {model.eta:g}, d = {model.d}, "
            f"d~ = {model.d_t}, r = {model.r}, gamma = {model.gamma:g}, "
            f"gamma~ = {model.gamma_t:g}, {result['trials']} trials, "
            f"sampler {result['sampler']}"
        )
        if not model.noise.is_isotropic:  # structured noise
            nz = model.noise
            print(
                f"  noise {nz.kind} on {nz.modality}: rank {nz.rank}, strength {nz.strength:g}"
                + (f", {nz.directions} spikes" if nz.kind == "spiked" else "")
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


# --- InfoNCE learner options (issue 13, Part III chapter 1; keep this block together) -------


@dataclass(frozen=True)
class InfoNCEArgs:
    """What ``--learner infonce`` / ``--teacher-learner`` add to a ``simulate`` run."""

    run_grid_kwargs: dict
    params: dict
    label: str
    out: Path | None


def add_infonce_arguments(p: argparse.ArgumentParser) -> None:
    """``--teacher-learner``, ``--temperature``, ``--epochs``, ``--batch-size``, ``--lr``, ``--out``."""
    g = p.add_argument_group(
        "InfoNCE learner (CLIP's loss on linear encoders; with --learner infonce or "
        "--teacher-learner infonce)"
    )
    g.add_argument(
        "--teacher-learner",
        choices=LEARNERS,
        default="linear",
        help="the learner of the teachers of teacher and teacher-split: linear (the paper's) or "
        "infonce (the InfoNCE model is its own teacher) (default linear)",
    )
    defaults = InfoNCEOptions()
    g.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"softmax temperature tau > 0 (default {defaults.temperature:g})",
    )
    g.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"number of epochs (passes of minibatch Adam over the pairs), >= 1 "
        f"(default {defaults.epochs})",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"pairs per minibatch B >= 2; the softmax runs over the batch "
        f"(default {defaults.batch_size})",
    )
    g.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"Adam step size > 0, cosine-decayed to 0 over the run (default {defaults.lr:g})",
    )
    g.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write every trial's row (the columns of linclip.experiments.rows."
        "TRIAL_COLUMNS) to this CSV file",
    )


_INFONCE_FLAGS = {
    "temperature": "--temperature",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
}


def infonce_from_args(args: argparse.Namespace, learner: str) -> InfoNCEArgs:
    """Validate the InfoNCE options; refuse them when no InfoNCE model is trained."""
    teacher_learner = check_learner(args.teacher_learner, "--teacher-learner")
    given = {k: getattr(args, k) for k in _INFONCE_FLAGS if getattr(args, k) is not None}
    uses = "infonce" in (learner, teacher_learner)
    if given and not uses:
        flags = ", ".join(_INFONCE_FLAGS[k] for k in given)
        raise ValueError(
            f"{flags}: only for the InfoNCE learner; add --learner infonce or "
            f"--teacher-learner infonce"
        )
    kwargs: dict = {"teacher_learner": teacher_learner}
    params: dict = {"teacher_learner": teacher_learner}
    label = "" if teacher_learner == "linear" else f", teacher learner {teacher_learner}"
    if uses:
        try:
            opts = InfoNCEOptions(**given, seed=args.seed)
        except ValueError as exc:
            key = str(exc).split(" ", 1)[0]
            raise ValueError(f"{_INFONCE_FLAGS.get(key, key)}: {exc}") from None
        kwargs["learner_options"] = opts
        params.update(
            temperature=opts.temperature,
            epochs=opts.epochs,
            batch_size=opts.batch_size,
            lr=opts.lr,
        )
        label += (
            f" (tau = {opts.temperature:g}, {opts.epochs} epochs, batch {opts.batch_size}, "
            f"lr {opts.lr:g})"
        )
    else:
        params.update(temperature=None, epochs=None, batch_size=None, lr=None)
    out = args.out
    if out is not None and out.suffix != ".csv":
        raise ValueError(f"--out must name a .csv file; got {str(out)!r}")
    return InfoNCEArgs(kwargs, params, label, out)


def write_trial_table(frame: pd.DataFrame, out: Path) -> None:
    """Write the trial rows to ``out`` (CSV), creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)


# --- end of InfoNCE block ---------------------------------------------------------------------
