"""Deprecated import path (0.1.0): an alias of :mod:`linclip.theory.filtered_moments`, kept for
one release.
"""

import sys

from .theory import filtered_moments as _module

sys.modules[__name__] = _module
