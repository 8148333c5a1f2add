"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.theory.prediction`,
:mod:`linclip.theory.thresholds` and :mod:`linclip.experiments.comparisons`.
"""

from ._compat import merge
from .experiments import comparisons
from .theory import prediction, thresholds

merge(globals(), prediction, thresholds, comparisons)
