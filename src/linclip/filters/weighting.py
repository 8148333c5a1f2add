r"""Soft weighting of the pairs by their score: one fit, no hard cut (the book's Part III).

A hard filter gives pair :math:`i` the weight :math:`1\{S_i > \theta\}`; a *soft* filter gives it
:math:`w(S_i) \ge 0` and the student fits the weighted cross-covariance

.. math::

   S_w = \frac{\sum_i w_i (x_i-\bar x_w)(\tilde x_i-\bar{\tilde x}_w)^\top}{W - \sum_i w_i^2/W},
   \qquad W = \sum_i w_i,\quad \bar x_w = \sum_i w_ix_i/W,

(reliability weights: :math:`S_w` does not change when every weight is multiplied by the same
constant, equals :math:`S_n` when all weights are equal, and equals the kept set's :math:`S_n`
when the weights are 0 or 1). Two families, both functions of the score :math:`S` with a centre
:math:`\theta` (score units) and a temperature :math:`T > 0`:

``ramp`` (the clipped score, the book's candidate)
    :math:`w(S) = \min\{\max\{(S-\theta)/T, 0\}, 1\}`: zero below :math:`\theta`, rising linearly
    over a width :math:`T`, then flat. At first order the best non-negative weight is
    :math:`w_+^*(S) \propto \max\{S, 0\}/E[v_i^2 \mid S]` (chapter *Iterated self-filtering*):
    zero for negative scores, linear near zero, saturating for large scores — the ramp's shape.
``logistic``
    :math:`w(S) = 1/(1+e^{-(S-\theta)/T})`: a smooth step. :math:`T \to 0` is the hard threshold
    filter at :math:`\theta`, :math:`T \to \infty` the unfiltered learner (all weights 1/2).

The weights are non-negative by construction: a signed weight could make :math:`W` vanish.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_positive, check_real

__all__ = ["WEIGHTINGS", "ScoreWeighting"]

#: The weight families of :class:`ScoreWeighting`.
WEIGHTINGS = ("ramp", "logistic")


@dataclass(frozen=True)
class ScoreWeighting:
    r"""A soft weight :math:`w(S)` of a pair with score :math:`S` (see the module docstring).

    Parameters
    ----------
    kind : {"ramp", "logistic"}
        The family: the clipped score ``ramp`` or the smooth step ``logistic``.
    theta : float
        Centre :math:`\theta` in the units of the score (oracle units for the bilinear score):
        where the ramp starts, where the logistic weight is 1/2.
    temperature : float
        Width :math:`T > 0` of the transition (score units; ``inf`` allowed for the logistic,
        which then gives every pair the weight 1/2).

    Examples
    --------
    >>> w = ScoreWeighting("ramp", theta=0.0, temperature=2.0)
    >>> w.weights(np.array([-1.0, 0.5, 1.0, 3.0])).tolist()
    [0.0, 0.25, 0.5, 1.0]
    >>> w.label
    'ramp(θ=0, T=2)'
    >>> ScoreWeighting("box")
    Traceback (most recent call last):
    ...
    ValueError: kind must be one of ramp, logistic; got 'box'
    """

    kind: str = "ramp"
    theta: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in WEIGHTINGS:
            raise ValueError(f"kind must be one of {', '.join(WEIGHTINGS)}; got {self.kind!r}")
        object.__setattr__(self, "theta", check_real("theta", self.theta))
        t = check_positive("temperature (T)", self.temperature, allow_inf=self.kind == "logistic")
        object.__setattr__(self, "temperature", t)

    def weights(self, scores: np.ndarray) -> np.ndarray:
        r"""The weights :math:`w(S_i) \in [0, 1]` of the scores :math:`S_i` (same shape)."""
        s = np.asarray(scores, dtype=float)
        if math.isinf(self.temperature):
            return np.full(s.shape, 0.5)
        z = (s - self.theta) / self.temperature
        if self.kind == "logistic":
            from scipy.special import expit  # lazy: the command line starts without scipy

            return expit(z)
        return np.clip(z, 0.0, 1.0)

    @property
    def label(self) -> str:
        """Short label, e.g. ``ramp(θ=0, T=2)``."""
        return f"{self.kind}(θ={self.theta:g}, T={self.temperature:g})"
