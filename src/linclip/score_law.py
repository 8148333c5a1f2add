"""Deprecated import path (0.1.0), kept for one release: see :mod:`linclip.theory.score_law`,
:mod:`linclip.theory.filtered_law` and :mod:`linclip.theory.closed_forms`.
"""

from ._compat import merge
from .theory import closed_forms, filtered_law, score_law

merge(globals(), score_law, filtered_law, closed_forms)
