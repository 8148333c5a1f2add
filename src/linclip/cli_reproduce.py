"""Deprecated import path (0.1.0): alias of :mod:`linclip.cli.reproduce`, kept for one release."""

import sys

from .cli import reproduce as _module

sys.modules[__name__] = _module
