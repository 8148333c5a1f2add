"""Deprecated import path (0.1.0): an alias of :mod:`linclip.theory.perturbation`, kept for one
release.
"""

import sys

from .theory import perturbation as _module

sys.modules[__name__] = _module
