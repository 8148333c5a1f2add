"""Command line: ``python -m linclip {simulate,predict,reproduce}``.

The subcommands are the modules in :data:`COMMANDS`, in this order; each defines ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Nothing registers itself by being
imported. Heavy libraries (pandas, scipy, sympy, matplotlib) are imported inside ``run``, so
``--help`` starts fast.

Errors are one line on stderr that names the path or the parameter and what is wrong, never a
traceback. Exit status:

* ``0``: success;
* ``2``: bad input: an option's value, a path that is a file where a directory is needed (or
  the reverse), an output directory whose files this run must not resume
  (:class:`linclip.experiments.runner.ResumeError`), a run refused as too long without
  ``--force``, any other ``OSError`` on a path the user named (no such file, no permission);
* ``1``: an environment failure: Dask or its scheduler unavailable, another process writing
  the same experiment into the same ``--out`` (:class:`~linclip.experiments.runner.OutputBusy`),
  a full disk or an I/O error, out of memory, a worker process that died, or an unexpected
  internal error (set ``LINCLIP_TRACEBACK=1`` to see its traceback);
* ``130``: interrupted by Ctrl-C (SIGINT); ``143``: stopped by SIGTERM (128 + the signal's
  number). The trials written so far are kept; rerunning the command resumes.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
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
    """Entry point; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        return int(args._run(args))
    except KeyboardInterrupt as exc:
        return _interrupted(prog, exc)
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        status, message = _error_status(exc)
        if status == 1 and os.environ.get("LINCLIP_TRACEBACK") and _is_internal(exc):
            raise
        print(f"{prog}: error: {_one_line(message)}", file=sys.stderr)
        return status


#: errno values that mean the machine, not the input, failed: exit status 1.
_ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EIO", "ENOMEM", "EMFILE", "ENFILE", "EAGAIN", "EBUSY")
    if hasattr(errno, name)
)


def _interrupted(prog: str, exc: KeyboardInterrupt) -> int:
    signum = int(getattr(exc, "signum", signal.SIGINT))
    name = signal.Signals(signum).name
    print(
        f"{prog}: interrupted ({name}); results written so far are kept (rerun to resume)",
        file=sys.stderr,
    )
    return 128 + signum


def _is_internal(exc: BaseException) -> bool:
    return not isinstance(exc, (ValueError, OSError, MemoryError))


def _error_status(exc: BaseException) -> tuple[int, str]:
    """(exit status, message) of an exception escaping a subcommand."""
    from concurrent.futures.process import BrokenProcessPool

    name = type(exc).__name__
    if isinstance(exc, ValueError):  # includes ResumeError, UnicodeDecodeError
        if isinstance(exc, UnicodeError):
            return 2, f"not UTF-8 text: {exc}"
        return 2, str(exc)
    if isinstance(exc, OSError):
        path = exc.filename if exc.filename is not None else ""
        what = exc.strerror or str(exc)
        if exc.filename2 is not None:
            path = f"{path} -> {exc.filename2}"
        message = f"{path}: {what}" if path else what
        return (1 if exc.errno in _ENVIRONMENT_ERRNOS else 2), message
    if isinstance(exc, MemoryError):
        return 1, "out of memory (try a smaller --n or --trials, or fewer --jobs)"
    if isinstance(exc, BrokenProcessPool):
        return 1, f"a worker process died ({exc}); rerun to resume"
    if name in ("ClusterUnavailable", "OutputBusy"):
        return 1, str(exc)
    return 1, f"internal error ({name}: {exc}); please report it (LINCLIP_TRACEBACK=1 shows where)"


def _one_line(message: str) -> str:
    return " ".join(str(message).split()) or "unknown error"
