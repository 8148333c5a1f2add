"""Command line: ``python -m linclip {simulate,predict,reproduce}``.

The subcommands are the modules in :data:`COMMANDS`, in this order; each defines ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Nothing registers itself by being
imported. Errors in the parameters are reported as one line on stderr and exit status 2, never
as a traceback. Heavy libraries (pandas, scipy, sympy, matplotlib) are imported inside
``run``, so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from .._version import __version__
from . import predict, reproduce, simulate
from .common import ArgumentParser, add_model_arguments, method_spec_from_args, model_from_args

__all__ = [
    "main",
    "build_parser",
    "add_model_arguments",
    "model_from_args",
    "method_spec_from_args",
    "COMMANDS",
    "SUBCOMMANDS",
]

#: The subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (simulate, predict, reproduce)

#: name -> (help, function adding arguments, function running the command); the 0.1.0 view of
#: :data:`COMMANDS`, read-only in effect (the parser is built from :data:`COMMANDS`).
SUBCOMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    m.NAME: (m.HELP, m.add_arguments, m.run) for m in COMMANDS
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`."""
    parser = ArgumentParser(  # reads --theta -1e-3 as a value (linclip.cli.common)
        prog="python -m linclip",
        description="Linear contrastive learning with teacher-based data filtering "
        "(Pareek, Oh & Du, NeurIPS 2025): simulations and predictions.",
    )
    parser.add_argument("--version", action="version", version=f"linclip {__version__}")
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
