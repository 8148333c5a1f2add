"""``python -m linclip predict``: the book's first-order error predictions.

Takes the same model options as ``simulate`` (:func:`linclip.cli.add_model_arguments`) and
prints the predicted ERR instead of simulating it. Predictions come from
:mod:`linclip.asymptotics` (the book's own derivation, not the paper's).

Each method is a function ``args -> dict`` in :data:`PREDICTORS`. Only ``none`` (no filtering)
is available so far; the filtering methods report that their prediction is not available yet
(exit status 2). To add one, replace its entry in :data:`PREDICTORS`; the returned dict must
contain ``err_pred``, ``err_x_pred``, ``err_xt_pred`` and ``kept_fraction``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Callable

from ._validate import check_positive
from .asymptotics import predict_unfiltered
from .cli import SUBCOMMANDS, add_model_arguments, method_spec_from_args, model_from_args
from .filters import METHODS

__all__ = ["PREDICTORS", "RELIABLE_N_OVER_CONDITION", "predict_from_args"]

#: From this n / n_condition on, the book's simulations agree with the prediction within ~5%.
RELIABLE_N_OVER_CONDITION = 10.0


def _json_number(value: float):
    """Finite floats as numbers; infinities as the strings "inf"/"-inf" (strict JSON has none)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _predict_none(args: argparse.Namespace) -> dict:
    """First-order prediction for the learner trained on all pairs."""
    model = model_from_args(args)
    pred = predict_unfiltered(args.n, model.eta, model.d, model.d_t, model.r, model.gamma,
                              model.gamma_t)
    return {
        "err_pred": pred.err, "err_x_pred": pred.err_x, "err_xt_pred": pred.err_xt,
        "err_sq_pred": pred.err_sq, "err_x_sq_pred": pred.err_x_sq,
        "err_xt_sq_pred": pred.err_xt_sq, "kept_fraction": 1.0,
        "n_condition": pred.n_condition, "n_over_condition": pred.n_over_condition,
        "reliable": bool(pred.n_over_condition >= RELIABLE_N_OVER_CONDITION),
        "source": "first-order asymptotics (the book's derivation, not the paper's)",
    }


def _not_available(method: str) -> Callable[[argparse.Namespace], dict]:
    def predictor(args: argparse.Namespace) -> dict:
        raise ValueError(f"prediction for method {method} is not available yet")
    return predictor


#: method -> function(parsed args) -> dict of predictions. Replace an entry to add a method.
PREDICTORS: dict[str, Callable[[argparse.Namespace], dict]] = {
    method: _not_available(method) for method in METHODS}
PREDICTORS["none"] = _predict_none


def predict_from_args(args: argparse.Namespace) -> dict:
    """Validate the options, run the method's predictor and add the parameters."""
    spec = method_spec_from_args(args)
    rho = check_positive("rho", args.rho)
    result = PREDICTORS[spec.method](args)
    result["params"] = {
        "n": args.n, "eta": args.eta, "d": args.d, "d_t": args.d_t, "r": args.r,
        "gamma": _json_number(float(args.gamma)), "gamma_t": _json_number(float(args.gamma_t)),
        "rho": rho, "method": spec.method, "theta": spec.theta,
        "keep_fraction": spec.keep_fraction}
    return result


def _add_predict(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def _run_predict(args: argparse.Namespace) -> int:
    result = predict_from_args(args)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    print(f"method {result['params']['method']}: n = {args.n}, eta = {args.eta:g}, d = {args.d}, "
          f"d~ = {args.d_t}, r = {args.r}, gamma = {args.gamma:g}, gamma~ = {args.gamma_t:g} "
          f"(first-order prediction; the book's derivation)")
    print(f"  E[ERR]        {result['err_pred']:.4e}   (E[ERR^2] = {result['err_sq_pred']:.4e})")
    print(f"  E[ERR x / x~] {result['err_x_pred']:.4e} / {result['err_xt_pred']:.4e}")
    print(f"  kept fraction {result['kept_fraction']:.4f}")
    ratio = result.get("n_over_condition")
    if ratio is not None:
        verdict = ("well past the sample-size condition: expect agreement within a few percent"
                   if result.get("reliable") else
                   "not far enough past the sample-size condition: the prediction is unreliable")
        print(f"  n / n_condition = {ratio:.3g} ({verdict})")
    return 0


SUBCOMMANDS["predict"] = ("predict the error from the book's first-order asymptotics",
                          _add_predict, _run_predict)
