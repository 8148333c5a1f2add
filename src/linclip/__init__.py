"""linclip: linear contrastive learning with and without teacher-based data filtering.

The engine of the companion book to Pareek, Oh & Du, *Understanding the Gain from Data
Filtering in Multimodal Contrastive Learning* (NeurIPS 2025). One module per idea:

* :mod:`linclip.model` — the bimodal data model (Assumptions 1–2) and sampling;
* :mod:`linclip.learner` — the cross-covariance, the closed-form learner, the loss, gradient descent;
* :mod:`linclip.metrics` — principal angles, :math:`\\|\\sin\\Theta\\|_F`, ERR;
* :mod:`linclip.filters` — teacher/oracle scores, thresholds and kept fractions, Algorithm 1;
* :mod:`linclip.experiments` — reproducible grids of trials as tidy DataFrames;
* :mod:`linclip.theory` — the bounds' shapes and the score moments;
* :mod:`linclip.perturbation` — Weyl's inequality and Wedin's sin-theta theorem, checked;
* :mod:`linclip.rates` — slope fits, breakdown points, the lower-bound instance;
* :mod:`linclip.asymptotics` — the book's first-order law of the unfiltered error;
* :mod:`linclip.score_law` — the exact law of the oracle score and its tail quantities;
* :mod:`linclip.filtered_moments` — the filtered cross-covariance in signal/noise coordinates;
* :mod:`linclip.prediction` — the first-order law of the filtered error, best thresholds;
* :mod:`linclip.reproduce` — the paper's experiments (Figure 3a, Table 1), resumable;
* :mod:`linclip.plotting` — the book's figure style and log-log helpers;
* :mod:`linclip.cli` — ``python -m linclip simulate | predict | reproduce``.
"""

from .experiments import MethodSpec, run_grid, run_trial, summarize
from .filters import (FILTERING_METHODS, METHODS, FilterOutcome, bilinear_score,
                      oracle_score_matrix, run_method, teacher_score_matrix, threshold_mask,
                      top_fraction_mask)
from .learner import (Encoders, closed_form_encoders, contrastive_loss, cross_covariance, fit,
                      gradient_descent, loss_from_cross_covariance)
from .metrics import (ErrorReport, principal_angles, row_space_basis, sin_theta_distance,
                      subspace_error)
from .model import BimodalModel, PairSample, StreamingSample, random_orthonormal

__version__ = "0.1.0"

__all__ = [
    "BimodalModel", "PairSample", "StreamingSample", "random_orthonormal",
    "Encoders", "cross_covariance", "closed_form_encoders", "fit", "contrastive_loss",
    "loss_from_cross_covariance", "gradient_descent",
    "ErrorReport", "principal_angles", "row_space_basis", "sin_theta_distance", "subspace_error",
    "METHODS", "FILTERING_METHODS", "FilterOutcome", "bilinear_score", "oracle_score_matrix",
    "teacher_score_matrix", "threshold_mask", "top_fraction_mask", "run_method",
    "MethodSpec", "run_grid", "run_trial", "summarize",
]
