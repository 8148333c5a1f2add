"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.theory.asymptotics`,
:mod:`linclip.data.exact` and :mod:`linclip.experiments.comparisons`.
"""

from ._compat import merge
from .data import exact
from .experiments import comparisons
from .theory import asymptotics

merge(globals(), asymptotics, exact, comparisons)
