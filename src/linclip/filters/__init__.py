r"""Filters: scores, masks, methods and the one simulation engine (brief §4).

* :mod:`linclip.filters.scores` — teacher and oracle scores, thresholds and kept fractions;
* :mod:`linclip.filters.spec` — :class:`~linclip.filters.spec.MethodSpec`, a method with its knob;
* :mod:`linclip.filters.methods` — :func:`~linclip.filters.methods.run_method` and
  :class:`~linclip.filters.engine.FilterOutcome`;
* :mod:`linclip.filters.engine` — the one pass-sharing engine every runner calls;
* :mod:`linclip.filters.own_data` — :func:`~linclip.filters.own_data.fit_filtered` for your own embeddings;
* :mod:`linclip.filters.iterate` — :func:`~linclip.filters.iterate.iterate_filter`, iterated
  self-filtering (the student of round k is the teacher of round k + 1);
* :mod:`linclip.filters.weighting` — :class:`~linclip.filters.weighting.ScoreWeighting`, soft
  weighting of the pairs by their score in a single fit.

Methods
-------
``none``
    Train on all :math:`n` pairs.
``teacher``
    Practical variant: a teacher trained on all :math:`n` pairs scores all of them; the student
    trains on the kept pairs.
``teacher-split``
    Algorithm 1 as written: teacher on the first :math:`\lfloor n/2\rfloor` pairs, filter and
    student on the rest.
``oracle-score``
    Filter all :math:`n` pairs by the oracle score :math:`x^\top U\tilde U^\top\tilde x`.
``oracle-clean``
    Keep exactly the clean pairs (the oracle that knows the hidden labels).
"""

from .engine import run_methods
from .iterate import ITERATE_STARTS, RoundOutcome, iterate_filter
from .methods import FilterOutcome, _split_chunks, fit_source, run_method
from .own_data import FilteredFit, fit_filtered
from .scores import (
    FILTERING_METHODS,
    METHODS,
    _too_few,
    bilinear_score,
    check_filter_knob,
    kept_count,
    oracle_score_matrix,
    teacher_score_matrix,
    threshold_mask,
    top_fraction_mask,
)
from .spec import MethodSpec
from .weighting import WEIGHTINGS, ScoreWeighting

__all__ = [
    "METHODS",
    "FILTERING_METHODS",
    "MethodSpec",
    "FilterOutcome",
    "bilinear_score",
    "teacher_score_matrix",
    "oracle_score_matrix",
    "threshold_mask",
    "top_fraction_mask",
    "kept_count",
    "check_filter_knob",
    "fit_source",
    "run_method",
    "run_methods",
    "fit_filtered",
    "FilteredFit",
    "_split_chunks",
    "_too_few",
    "ITERATE_STARTS",
    "RoundOutcome",
    "iterate_filter",
    "WEIGHTINGS",
    "ScoreWeighting",
]
