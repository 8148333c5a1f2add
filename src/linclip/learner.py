"""Deprecated import path (0.1.0), kept for one release: the learners are in
:mod:`linclip.learners`.
"""

from ._compat import merge
from .learners import contrastive, pca

merge(globals(), contrastive, pca)
