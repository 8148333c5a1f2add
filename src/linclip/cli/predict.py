r"""``python -m linclip predict``: the book's first-order error predictions.

Takes the same model options as ``simulate`` (:func:`linclip.cli.common.add_model_arguments`) and
prints the predicted ERR instead of simulating it. Predictions come from
:mod:`linclip.theory.asymptotics` (no filtering) and :mod:`linclip.theory.prediction` (the filtered student),
the book's own derivations, not the paper's.

Each method is a function ``args -> dict`` in :data:`PREDICTORS`; the returned dict contains
``err_pred``, ``err_x_pred``, ``err_xt_pred`` and ``kept_fraction``. The score filters take
``--theta`` (oracle units) or ``--keep-fraction``; without either they use the paper's untuned
:math:`\theta = 0`, as ``simulate`` does.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

from .._validate import check_positive
from ..filters.scores import METHODS
from .common import add_model_arguments, method_spec_from_args, model_from_args

__all__ = [
    "NAME",
    "HELP",
    "PREDICTORS",
    "RELIABLE_N_OVER_CONDITION",
    "predict_from_args",
    "validity_notes",
    "add_arguments",
    "run",
]

NAME = "predict"
HELP = "predict the error from the book's first-order asymptotics"

#: From this n / n_condition on, the book's simulations agree with the prediction within ~5%.
RELIABLE_N_OVER_CONDITION = 10.0


def _json_number(value: float | None):
    """Finite floats as numbers; infinities as the strings "inf"/"-inf" (strict JSON has none)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _predict_none(args: argparse.Namespace) -> dict:
    """First-order prediction for the learner trained on all pairs."""
    from ..theory.asymptotics import predict_unfiltered

    model = model_from_args(args)
    pred = predict_unfiltered(
        args.n, model.eta, model.d, model.d_t, model.r, model.gamma, model.gamma_t
    )
    return {
        "err_pred": pred.err,
        "err_x_pred": pred.err_x,
        "err_xt_pred": pred.err_xt,
        "err_sq_pred": pred.err_sq,
        "err_x_sq_pred": pred.err_x_sq,
        "err_xt_sq_pred": pred.err_xt_sq,
        "kept_fraction": 1.0,
        "n_condition": pred.n_condition,
        "n_over_condition": pred.n_over_condition,
        "reliable": bool(pred.n_over_condition >= RELIABLE_N_OVER_CONDITION),
        "source": "first-order asymptotics (the book's derivation, not the paper's)",
    }


def _teacher_reliability(n_teacher: int, model) -> float:
    r""":math:`n_T/n_{\rm condition}` of the teacher (an unfiltered learner on its own pairs)."""
    from ..theory.asymptotics import predict_unfiltered

    return predict_unfiltered(
        n_teacher, model.eta, model.d, model.d_t, model.r, model.gamma, model.gamma_t
    ).n_over_condition


def _predict_filtered(method: str) -> Callable[[argparse.Namespace], dict]:
    """Predictor of a filtering method (``teacher``, ``teacher-split``, ``oracle-*``)."""

    def predictor(args: argparse.Namespace) -> dict:
        model = model_from_args(args)
        from ..theory.prediction import predict_filtered

        spec = method_spec_from_args(args)
        pred = predict_filtered(
            args.n,
            model.eta,
            model.d,
            model.d_t,
            model.r,
            model.gamma,
            model.gamma_t,
            theta=spec.theta,
            keep_fraction=spec.keep_fraction,
            method=method,
        )
        reliable = pred.n_kept_over_condition >= RELIABLE_N_OVER_CONDITION
        result = {
            "err_pred": pred.err,
            "err_x_pred": pred.err_x,
            "err_xt_pred": pred.err_xt,
            "err_sq_pred": pred.err_sq,
            "err_x_sq_pred": pred.err_x_sq,
            "err_xt_sq_pred": pred.err_xt_sq,
            "kept_fraction": pred.kept_fraction,
            "kept_clean_fraction": pred.kept_clean_fraction,
            "threshold": _json_number(pred.threshold) if not math.isnan(pred.threshold) else None,
            "n_pool": pred.n_pool,
            "n_kept": pred.n_kept,
            "cross_moment": pred.cross_moment,
            "second_moment_u": pred.second_moment_u,
            "second_moment_v": pred.second_moment_v,
            "rate_factor": pred.rate_factor,
            "n_condition": pred.n_condition,
            "n_over_condition": pred.n_kept_over_condition,
        }
        if method in ("teacher", "teacher-split"):
            n_teacher = args.n // 2 if method == "teacher-split" else args.n
            teacher_ratio = _teacher_reliability(n_teacher, model)
            reliable = reliable and teacher_ratio >= RELIABLE_N_OVER_CONDITION
            result.update(
                {
                    "err_pred_oracle_filter": pred.err_oracle_filter,
                    "inheritance_x": pred.inheritance_x,
                    "inheritance_xt": pred.inheritance_xt,
                    "teacher_err_pred": pred.teacher_err,
                    "teacher_distortion": pred.teacher_distortion,
                    "teacher_n_over_condition": teacher_ratio,
                }
            )
        result["reliable"] = bool(reliable)
        result["source"] = (
            "first-order asymptotics of the filtered student (the book's "
            "derivation, not the paper's)"
        )
        return result

    return predictor


#: method -> function(parsed args) -> dict of predictions. Replace an entry to add a method.
PREDICTORS: dict[str, Callable[[argparse.Namespace], dict]] = {
    method: _predict_filtered(method) for method in METHODS
}
PREDICTORS["none"] = _predict_none


def validity_notes(result: dict, r: int) -> list[str]:
    r"""Plain-language notes on a prediction that lies far outside its validity.

    ERR is at most :math:`\sqrt r` (every principal angle at most 90°), so a predicted ERR
    at or above :math:`\sqrt r` is not a number to read; and below the sample-size
    condition (:math:`n/n_{\rm condition} < 1`) the first-order law does not apply at all.
    ``predict`` prints these notes and puts them in its JSON (``validity_notes``).

    Examples
    --------
    >>> validity_notes({"err_pred": 3.0, "n_over_condition": 0.5}, 4)[0][:40]
    'predicted E[ERR] = 3 is not below sqrt(r'
    >>> validity_notes({"err_pred": 1e-3, "n_over_condition": 90.0}, 4)
    []
    """
    notes = []
    err_max = math.sqrt(r)
    err = result.get("err_pred")
    if isinstance(err, float) and not err < err_max:
        notes.append(
            f"predicted E[ERR] = {err:.3g} is not below sqrt(r) = {err_max:.3g}, the largest "
            "possible ERR: the first-order prediction is far outside its validity here and "
            "says only that the learner fails"
        )
    ratio = result.get("n_over_condition")
    if isinstance(ratio, float) and ratio < 1.0:
        notes.append(
            f"n / n_condition = {ratio:.3g} < 1: the sample-size condition fails, so the "
            "first-order law does not apply (expect ERR near its random-subspace value)"
        )
    teacher_ratio = result.get("teacher_n_over_condition")
    if isinstance(teacher_ratio, float) and teacher_ratio < 1.0:
        notes.append(
            f"teacher n / n_condition = {teacher_ratio:.3g} < 1: the teacher itself is below "
            "the sample-size condition, so its scores carry little signal"
        )
    return notes


def predict_from_args(args: argparse.Namespace) -> dict:
    """Validate the options, run the method's predictor and add the parameters."""
    spec = method_spec_from_args(args)
    rho = check_positive("rho", args.rho)
    result = PREDICTORS[spec.method](args)
    result["err_max"] = math.sqrt(args.r)
    result["validity_notes"] = validity_notes(result, args.r)
    result["params"] = {
        "n": args.n,
        "eta": args.eta,
        "d": args.d,
        "d_t": args.d_t,
        "r": args.r,
        "gamma": _json_number(float(args.gamma)),
        "gamma_t": _json_number(float(args.gamma_t)),
        "rho": rho,
        "method": spec.method,
        "theta": _json_number(spec.theta),
        "keep_fraction": spec.keep_fraction,
    }
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``predict``."""
    add_model_arguments(p)
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Run ``predict``; return the exit status."""
    result = predict_from_args(args)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    print(
        f"method {result['params']['method']}: n = {args.n}, eta = {args.eta:g}, d = {args.d}, "
        f"d~ = {args.d_t}, r = {args.r}, gamma = {args.gamma:g}, gamma~ = {args.gamma_t:g} "
        f"(first-order prediction; the book's derivation)"
    )
    print(f"  E[ERR]        {result['err_pred']:.4e}   (E[ERR^2] = {result['err_sq_pred']:.4e})")
    print(f"  E[ERR x / x~] {result['err_x_pred']:.4e} / {result['err_xt_pred']:.4e}")
    print(f"  kept fraction {result['kept_fraction']:.4f}")
    if "kept_clean_fraction" in result:
        threshold = result["threshold"]
        shown = (
            "none"
            if threshold is None
            else (threshold if isinstance(threshold, str) else f"{threshold:.4f}")
        )
        print(
            f"  clean among kept {result['kept_clean_fraction']:.4f}, threshold (oracle units) "
            f"{shown}, n_kept {result['n_kept']:.0f}"
        )
    if "teacher_err_pred" in result:
        print(
            f"  teacher: predicted ERR {result['teacher_err_pred']:.4e}; student inherits "
            f"lambda = {result['inheritance_x']:.3g} of its tilt (oracle-filter prediction "
            f"{result['err_pred_oracle_filter']:.4e}); signal-block distortion "
            f"{result['teacher_distortion']:.3g} (not in the prediction)"
        )
    ratio = result.get("n_over_condition")
    if ratio is not None:
        verdict = (
            "well past the sample-size condition: expect agreement within a few percent"
            if result.get("reliable")
            else "not far enough past the sample-size condition: the prediction is unreliable"
        )
        name = "n_kept / n_condition" if "n_kept" in result else "n / n_condition"
        print(f"  {name} = {ratio:.3g} ({verdict})")
        if "teacher_n_over_condition" in result:
            print(f"  teacher n / n_condition = {result['teacher_n_over_condition']:.3g}")
    for note in result["validity_notes"]:
        print(f"  OUTSIDE ITS VALIDITY: {note}")
    return 0
