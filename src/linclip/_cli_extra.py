"""Registers the subcommands defined outside :mod:`linclip.cli`.

Each module imported here adds an entry to :data:`linclip.cli.SUBCOMMANDS` at import time.
"""

from . import cli_predict, cli_reproduce  # noqa: F401
