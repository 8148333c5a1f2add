"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.stats`, :mod:`linclip.theory.bounds` and :mod:`linclip.experiments.anatomy`."""

from ._compat import merge
from . import stats
from .theory import bounds
from .experiments import anatomy

merge(globals(), stats, bounds, anatomy)
