"""Options and helpers shared by the subcommands (the model, the learner and the filter)."""

from __future__ import annotations

import argparse
import math
import re

from ..data.model import BimodalModel
from ..filters.scores import FILTERING_METHODS, METHODS
from ..filters.spec import MethodSpec

__all__ = [
    "ArgumentParser",
    "NUMBER_PATTERN",
    "add_model_arguments",
    "add_sampler_argument",
    "model_from_args",
    "method_spec_from_args",
]

#: A number in any notation Python's ``float`` reads, with a sign: ``-1``, ``-1.5``, ``-.5``,
#: ``-1e-3``, ``-1E+3``, ``-inf``, ``-Infinity``, ``-nan``. An argument matching it is a value,
#: never an option (none of the options looks like a number).
NUMBER_PATTERN = re.compile(
    r"^[-+]?(?:(?:\d+(?:_\d+)*\.?\d*(?:_\d+)*|\.\d+(?:_\d+)*)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)$",
    re.IGNORECASE,
)


class ArgumentParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` that reads every negative number as a value.

    Plain argparse only recognises ``-1`` and ``-1.5`` as negative numbers; ``--theta -1e-3``,
    ``--theta -inf`` and ``--gamma-t -inf`` fail with "expected one argument" because the value
    looks like an option. Here any argument matching :data:`NUMBER_PATTERN` is a value, so
    such numbers reach the options' validation, which decides (``--theta -1e-3`` and
    ``--theta -inf`` are valid thresholds; ``--gamma-t -inf`` is refused, naming gamma_t).
    The subparsers made by ``add_subparsers`` are of this class too.

    Examples
    --------
    >>> p = ArgumentParser(prog="demo")
    >>> _ = p.add_argument("--theta", type=float)
    >>> p.parse_args(["--theta", "-1e-3"]).theta
    -0.001
    >>> p.parse_args(["--theta", "-inf"]).theta
    -inf
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own test for "is this a negative number, not an option" (a private
        # attribute since Python 3.2; the only hook argparse offers).
        self._negative_number_matcher = NUMBER_PATTERN


def positive_seconds(text: str) -> float:
    """``type=`` of a duration option: a positive, finite number of seconds.

    Validated when the options are read, so ``--scheduler-timeout -1`` is refused even where
    the option would not be used.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a positive, finite number of seconds; got {text!r}"
        )
    return value


#: The choices of ``--sampler`` (:data:`linclip.data.exact.SAMPLERS`).
SAMPLER_CHOICES = ("pairs", "exact", "exact-paired", "auto")
#: Former names, refused with the new one: :data:`linclip.data.exact.RENAMED_SAMPLERS`, copied
#: so that ``--help`` does not import numba (``tests/test_exact_kernel.py`` checks they agree).
_RENAMED = {"exact-unpaired": "exact"}


def _sampler(text: str) -> str:
    if text in _RENAMED:
        raise argparse.ArgumentTypeError(
            f"{text!r} is now called {_RENAMED[text]!r} (the paired exact sampler is "
            f"'exact-paired'); choose from {', '.join(SAMPLER_CHOICES)}"
        )
    if text not in SAMPLER_CHOICES:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(SAMPLER_CHOICES)})"
        )
    return text


def add_sampler_argument(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The ``--sampler {pairs,exact,exact-paired,auto}`` option of the run commands."""
    p.add_argument(
        "--sampler",
        type=_sampler,
        metavar="{" + ",".join(SAMPLER_CHOICES) + "}",
        default="pairs",
        help="pairs: generate every pair (the reference); exact: draw the learner's "
        "sufficient statistics from their exact law (O(1) in n without a filter; the "
        "full-sample teacher and --keep-fraction rules have no exact route and are refused; "
        "each score filter on a virtual data set of its own, so the methods of a trial are "
        "not paired); exact-paired: the same with all methods of a trial on one virtual "
        "data set (slower with several filters); auto: exact where possible, pairs "
        "otherwise (each result row says which) (default pairs)",
    )


def add_model_arguments(p: argparse.ArgumentParser, *, with_method: bool = True) -> None:
    """Options shared by ``simulate`` and ``predict``: the model, learner and filter."""
    g = p.add_argument_group("data model (Assumptions 1-2)")
    g.add_argument("--n", type=int, default=10_000, help="number of pairs n (default 10000)")
    g.add_argument(
        "--eta",
        type=float,
        default=0.3,
        help="clean fraction eta in (0, 1]: probability a pair is matched (default 0.3)",
    )
    g.add_argument("--d", type=int, default=10, help="dimension d of x (default 10)")
    g.add_argument("--d-t", type=int, default=8, help="dimension d~ of x~ (default 8)")
    g.add_argument("--r", type=int, default=4, help="rank r of the shared subspace (default 4)")
    g.add_argument(
        "--gamma",
        type=float,
        default=1e4,
        help="signal-to-noise gamma of x; noise variance 1/gamma (default 1e4)",
    )
    g.add_argument(
        "--gamma-t", type=float, default=1e4, help="signal-to-noise gamma~ of x~ (default 1e4)"
    )
    g = p.add_argument_group("learner and filter")
    g.add_argument(
        "--rho",
        type=float,
        default=1.0,
        help="regularisation rho > 0 of the contrastive loss (default 1)",
    )
    if with_method:
        g.add_argument(
            "--method",
            choices=METHODS,
            default="none",
            help="none: train on all pairs; teacher: teacher on all n scores and "
            "filters all n; teacher-split: Algorithm 1 (teacher on first half, "
            "filter second half); oracle-score: filter by x^T U U~^T x~; "
            "oracle-clean: keep exactly the clean pairs (default none)",
        )
    knob = g.add_mutually_exclusive_group()
    knob.add_argument(
        "--theta",
        type=float,
        default=None,
        help="threshold theta in oracle units: keep pairs with score > theta "
        "(default for filtering methods: 0, the paper's untuned choice)",
    )
    knob.add_argument(
        "--keep-fraction",
        type=float,
        default=None,
        help="kept fraction q in (0, 1]: keep the top q of the scored pairs",
    )


def model_from_args(args: argparse.Namespace) -> BimodalModel:
    """Build the validated model from parsed options."""
    return BimodalModel(
        d=args.d, d_t=args.d_t, r=args.r, gamma=args.gamma, gamma_t=args.gamma_t, eta=args.eta
    )


def method_spec_from_args(args: argparse.Namespace) -> MethodSpec:
    """Validated method and knob from parsed options."""
    if args.method not in FILTERING_METHODS and (
        args.theta is not None or args.keep_fraction is not None
    ):
        raise ValueError(
            f"--theta/--keep-fraction only apply to the filtering methods "
            f"({', '.join(FILTERING_METHODS)}); method is {args.method!r}"
        )
    return MethodSpec(args.method, theta=args.theta, keep_fraction=args.keep_fraction)


def _finite_or_none(value: float | None) -> float | None:
    """``None`` for None or NaN; infinities as the strings "inf"/"-inf" (strict JSON has none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _json_float(value)


def _json_float(value: float):
    """``inf`` as the string "inf": strict JSON has no Infinity literal."""
    return str(value) if math.isinf(value) else value
