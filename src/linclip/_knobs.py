r"""The vocabulary of methods and their knobs, shared by the filters and the theory.

It lives apart from :mod:`linclip.filters` so that :mod:`linclip.theory` can name the methods
without importing any simulation code.
"""

from __future__ import annotations

import math
from numbers import Real

from ._validate import check_fraction, check_real

__all__ = [
    "METHODS",
    "FILTERING_METHODS",
    "GIVEN_TEACHER",
    "ENGINE_METHODS",
    "SCORE_FILTERS",
    "SCORES",
    "check_filter_knob",
    "check_score",
]


def _check_theta(theta: object) -> float:
    r"""A threshold :math:`\theta`: a finite real number, or ``-inf`` (keep every pair)."""
    if isinstance(theta, Real) and not isinstance(theta, bool) and float(theta) == -math.inf:
        return -math.inf
    if isinstance(theta, Real) and not isinstance(theta, bool) and float(theta) == math.inf:
        raise ValueError(
            "theta must be a finite real number or -inf (keep every pair); got inf, which "
            "keeps no pair"
        )
    return check_real("theta", theta)


#: The five methods (see :mod:`linclip.filters`).
METHODS = ("none", "teacher", "teacher-split", "oracle-score", "oracle-clean")
#: The methods that filter by a score (they take a threshold or a kept fraction).
FILTERING_METHODS = ("teacher", "teacher-split", "oracle-score")
#: A filter by the score of an encoder pair handed to the engine (``teacher=``): the building
#: block of iterated self-filtering, where the student of one round is the next round's teacher.
GIVEN_TEACHER = "given-teacher"
#: Everything the engine runs: the paper's five methods and :data:`GIVEN_TEACHER`.
ENGINE_METHODS = (*METHODS, GIVEN_TEACHER)
#: The engine's score filters (they take a threshold or a kept fraction, and a score).
SCORE_FILTERS = (*FILTERING_METHODS, GIVEN_TEACHER)
#: Scores a filter can rank pairs by: ``bilinear`` (the paper's :math:`x^\top M\tilde x`) and
#: ``cosine`` (the cosine of the two embeddings, the "CLIP score" of DataComp and DFN).
SCORES = ("bilinear", "cosine")


def check_filter_knob(
    method: str,
    theta: float | None,
    keep_fraction: float | None,
    *,
    default_theta: float | None = None,
) -> tuple[float | None, float | None]:
    r"""Validate the filtering knob of ``method`` and return ``(theta, keep_fraction)``.

    The score filters (:data:`FILTERING_METHODS`) take exactly one of the threshold
    :math:`\theta` and the kept fraction :math:`q`; given neither they use ``default_theta`` if
    it is set (the paper's untuned choice is 0) and raise otherwise. The other methods take
    neither.
    """
    if method in SCORE_FILTERS:
        if theta is not None and keep_fraction is not None:
            raise ValueError(
                f"method {method!r} takes at most one of theta (threshold) and "
                "keep_fraction (q); got both"
            )
        if theta is None and keep_fraction is None:
            if default_theta is None:
                raise ValueError(
                    f"method {method!r} needs exactly one of theta (threshold) "
                    "and keep_fraction (q); got neither"
                )
            theta = default_theta
    elif theta is not None or keep_fraction is not None:
        raise ValueError(
            f"method {method!r} does not filter by score; do not pass theta or keep_fraction"
        )
    if theta is not None:
        theta = _check_theta(theta)
    if keep_fraction is not None:
        keep_fraction = check_fraction("keep_fraction (q)", keep_fraction)
    return theta, keep_fraction


def check_score(method: str, score: str) -> str:
    """Return ``score`` if it is one of :data:`SCORES` and ``method`` filters by a score.

    Only the score filters (:data:`SCORE_FILTERS`) rank pairs; the other methods accept the
    default ``"bilinear"`` (which then means nothing) and refuse ``"cosine"``.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    if score != "bilinear" and method not in SCORE_FILTERS:
        raise ValueError(
            f"method {method!r} does not filter by a score; score={score!r} applies only to "
            f"{', '.join(SCORE_FILTERS)}"
        )
    return score
