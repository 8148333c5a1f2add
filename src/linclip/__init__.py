r"""linclip: linear contrastive learning with and without teacher-based data filtering.

The engine of the companion book to Pareek, Oh & Du, *Understanding the Gain from Data
Filtering in Multimodal Contrastive Learning* (NeurIPS 2025). Subpackages by idea:

* :mod:`linclip.data` — the bimodal model (Assumptions 1–2), samples, streams and the sources
  of sufficient statistics;
* :mod:`linclip.learners` — the closed-form contrastive learner, gradient descent, PCA;
* :mod:`linclip.metrics` — principal angles, :math:`\|\sin\Theta\|_F`, ERR;
* :mod:`linclip.filters` — scores, masks, methods and the one simulation engine;
* :mod:`linclip.theory` — bounds, perturbation theory, the score's law, first-order laws;
* :mod:`linclip.experiments` — grids, the paper's experiments, the resumable runner, analysis;
* :mod:`linclip.stats` — slope fits, breakdown points, summaries;
* :mod:`linclip.plotting` — the book's figure style (the matplotlib/seaborn importer);
* :mod:`linclip.cli` — ``python -m linclip simulate | predict | reproduce``.

The names below are the short curated API; ``import linclip`` imports neither pandas, scipy,
sympy nor matplotlib.
"""

from ._version import __version__
from .data import BimodalModel, PairSample, StreamingSample, random_orthonormal
from .experiments.grid import run_grid, run_trial, summarize
from .filters import (
    FILTERING_METHODS,
    METHODS,
    FilteredFit,
    FilterOutcome,
    MethodSpec,
    bilinear_score,
    fit_filtered,
    oracle_score_matrix,
    run_method,
    run_methods,
    teacher_score_matrix,
    threshold_mask,
    top_fraction_mask,
)
from .learners import (
    LEARNERS,
    Encoders,
    closed_form_encoders,
    contrastive_loss,
    cross_covariance,
    fit,
    fit_pca,
    gradient_descent,
    loss_from_cross_covariance,
)
from .metrics import (
    ErrorReport,
    principal_angles,
    row_space_basis,
    sin_theta_distance,
    subspace_error,
)

__all__ = [
    "__version__",
    "BimodalModel",
    "PairSample",
    "StreamingSample",
    "random_orthonormal",
    "LEARNERS",
    "Encoders",
    "cross_covariance",
    "closed_form_encoders",
    "fit",
    "fit_pca",
    "contrastive_loss",
    "loss_from_cross_covariance",
    "gradient_descent",
    "ErrorReport",
    "principal_angles",
    "row_space_basis",
    "sin_theta_distance",
    "subspace_error",
    "METHODS",
    "FILTERING_METHODS",
    "MethodSpec",
    "FilterOutcome",
    "bilinear_score",
    "oracle_score_matrix",
    "teacher_score_matrix",
    "threshold_mask",
    "top_fraction_mask",
    "run_method",
    "run_methods",
    "fit_filtered",
    "FilteredFit",
    "run_grid",
    "run_trial",
    "summarize",
]
