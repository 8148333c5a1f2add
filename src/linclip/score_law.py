"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.theory.score_law`, :mod:`linclip.theory.filtered_law` and :mod:`linclip.theory.closed_forms`."""

from ._compat import merge
from .theory import score_law
from .theory import filtered_law
from .theory import closed_forms

merge(globals(), score_law, filtered_law, closed_forms)
