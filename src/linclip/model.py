"""Deprecated import path (0.1.0): an alias of :mod:`linclip.data.model`, kept for one release."""

import sys

from .data import model as _module

sys.modules[__name__] = _module
