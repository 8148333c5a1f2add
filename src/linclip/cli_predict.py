"""Deprecated import path (0.1.0): an alias of :mod:`linclip.cli.predict`, kept for one release."""

import sys

from .cli import predict as _module

sys.modules[__name__] = _module
