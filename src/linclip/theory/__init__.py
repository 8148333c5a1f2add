"""Theory: the bounds, perturbation theory, the score's law and the book's first-order laws.

Nothing here generates data. Modules:

* :mod:`linclip.theory.bounds` — the shapes of the paper's bounds and the score moments;
* :mod:`linclip.theory.perturbation` — Weyl's inequality and Wedin's sin-theta theorem, checked;
* :mod:`linclip.theory.score_law` — the exact law of the oracle score of one component;
* :mod:`linclip.theory.filtered_law` — the mixture's tail: kept moments and thresholds;
* :mod:`linclip.theory.closed_forms` — sympy closed forms (the only module importing sympy);
* :mod:`linclip.theory.asymptotics` — the first-order law of the unfiltered error;
* :mod:`linclip.theory.prediction` — the first-order law of the filtered error;
* :mod:`linclip.theory.thresholds` — the first-order factor and the best threshold;
* :mod:`linclip.theory.curves` — the oracle-filtered error as a vectorised curve in θ;
* :mod:`linclip.theory.filtered_moments` — the filtered cross-covariance in signal/noise
  coordinates.

The names of :mod:`linclip.theory.bounds` are re-exported here (the 0.1.0 module
``linclip.theory``); the other modules are imported on first use.
"""

from .bounds import (
    corollary1_rate,
    proposition1_rate,
    sample_size_condition,
    score_moments,
    snr_factor,
    theorem1_rate,
    wedin_chain_bound,
)

__all__ = [
    "snr_factor",
    "score_moments",
    "sample_size_condition",
    "corollary1_rate",
    "proposition1_rate",
    "theorem1_rate",
    "wedin_chain_bound",
]
