"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.stats`,
:mod:`linclip.theory.bounds` and :mod:`linclip.experiments.anatomy`.
"""

from . import stats
from ._compat import merge
from .experiments import anatomy
from .theory import bounds

merge(globals(), stats, bounds, anatomy)
