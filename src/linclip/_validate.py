"""Input validation shared by every public function.

Every check raises :class:`ValueError` with a message that names the parameter, the value
received and what is allowed, so that a reader of a notebook or a user of the command line
sees at once what to change.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = [
    "check_int",
    "check_positive",
    "check_probability",
    "check_fraction",
    "check_finite_array",
    "check_real",
    "check_seed",
    "check_snr",
    "check_scores",
    "SNR_MIN",
]

#: Smallest signal-to-noise parameter accepted (:func:`check_snr`): below it the noise variance
#: :math:`1/\gamma` squared (a fourth moment of the data, used by the predictions) overflows a
#: double, and subnormal values (``1e-320``) lose their precision.
SNR_MIN = 1e-150


def _is_nan(value: object) -> bool:
    return isinstance(value, Real) and math.isnan(float(value))


def check_int(
    name: str, value: object, *, minimum: int = 1, maximum: int | None = None, what: str = ""
) -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if (
            not isinstance(value, bool)
            and isinstance(value, Real)
            and not _is_nan(value)
            and float(value).is_integer()
        ):
            value = int(float(value))
        else:
            raise ValueError(f"{name} must be an integer{what}; got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an integer {allowed}{what}; got {value}")
    return value


def check_real(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` or raise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value}")
    return value


def check_positive(name: str, value: object, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a ``float`` if it is > 0 (and finite unless ``allow_inf``)."""
    if isinstance(value, bool) or not isinstance(value, Real) or _is_nan(value):
        raise ValueError(f"{name} must be a positive real number; got {value!r}")
    value = float(value)
    if value <= 0 or (math.isinf(value) and not allow_inf):
        allowed = "in (0, inf]" if allow_inf else "positive and finite"
        raise ValueError(f"{name} must be {allowed}; got {value}")
    return value


def check_probability(name: str, value: object) -> float:
    """Return ``value`` if it lies in the half-open interval (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or _is_nan(value):
        raise ValueError(f"{name} must be a probability in (0, 1]; got {value!r}")
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be a probability in (0, 1]; got {value}")
    return value


check_fraction = check_probability


def check_finite_array(name: str, array: object, *, ndim: int | None = None) -> np.ndarray:
    """Return ``array`` as a float ndarray after checking its rank and that it has no NaN/inf."""
    arr = np.asarray(array, dtype=float)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} must contain only finite numbers; found {bad} NaN or inf entries"
        )
    return arr


def check_seed(name: str, value: object) -> int:
    """Return ``value`` as ``int`` if it is a non-negative integer (a root random seed).

    Integer-valued floats (``3.0``) are accepted; ``1.5``, ``1.9``, ``None``, booleans and
    strings are refused (never truncated).
    """
    if value is None:
        raise ValueError(f"{name} must be a non-negative integer (a random seed); got None")
    return check_int(name, value, minimum=0, what=" (a random seed)")


def check_snr(name: str, value: object) -> float:
    r"""Return a signal-to-noise parameter :math:`\gamma` in ``[SNR_MIN, inf]`` as ``float``.

    ``inf`` means no noise. Values below :data:`SNR_MIN` (including subnormal ones such as
    ``1e-320``, whose inverse overflows) are refused with a message naming ``name``.
    """
    value = check_positive(name, value, allow_inf=True)
    if value < SNR_MIN:
        raise ValueError(
            f"{name} must be a signal-to-noise ratio in [{SNR_MIN:g}, inf] (noise variance "
            f"1/{name} finite, and its square too); got {value:g}"
        )
    return value


def check_scores(name: str, scores: object) -> np.ndarray:
    """Return per-pair ``scores`` as a 1-D float array with no NaN (``±inf`` are allowed).

    A NaN score cannot be ranked against a threshold or against other scores, so it is
    refused rather than silently dropped or kept at an arbitrary position.
    """
    try:
        arr = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a 1-D array of real numbers; got {scores!r:.60}"
        ) from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one score per pair); got shape {arr.shape}")
    bad = int(np.count_nonzero(np.isnan(arr)))
    if bad:
        first = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(
            f"{name} must not contain NaN (a NaN score cannot be ranked); found {bad} NaN "
            f"entries, the first at index {first}"
        )
    return arr
