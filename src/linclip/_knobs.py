r"""The vocabulary of methods and their knobs, shared by the filters and the theory.

It lives apart from :mod:`linclip.filters` so that :mod:`linclip.theory` can name the methods
without importing any simulation code.
"""

from __future__ import annotations

import math
from numbers import Real

from ._validate import check_fraction, check_real

__all__ = ["METHODS", "FILTERING_METHODS", "check_filter_knob"]


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
    if method in FILTERING_METHODS:
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
