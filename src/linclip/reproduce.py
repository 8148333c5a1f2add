"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.experiments` (configs,
runner, analysis, figures) and :mod:`linclip.filters.engine`.
"""

from ._compat import merge
from .experiments import analysis, configs, figures, runner
from .filters import engine

merge(globals(), configs, runner, analysis, figures, engine)
