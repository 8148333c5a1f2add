"""Registers the subcommands defined outside :mod:`linclip.cli` (predict, reproduce, ...).

Each module imported here adds an entry to :data:`linclip.cli.SUBCOMMANDS` at import time.
"""
