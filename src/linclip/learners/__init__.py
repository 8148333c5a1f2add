r"""Learners: the closed-form linear contrastive learner, gradient descent, per-modality PCA.

* :mod:`linclip.learners.contrastive` — the cross-covariance, the closed-form minimiser, the
  loss and plain gradient descent (brief §2);
* :mod:`linclip.learners.pca` — per-modality PCA, the paper's :math:`\eta = 0` reference.

:data:`LEARNERS` names the learners the engine can train as the student.
"""

from .contrastive import (
    CrossCovarianceAccumulator,
    Encoders,
    GradientDescentResult,
    check_pairs,
    closed_form_encoders,
    contrastive_loss,
    cross_covariance,
    fit,
    gradient_descent,
    loss_from_cross_covariance,
    loss_gradients,
    min_pairs_for_rank,
)
from .pca import fit_pca, pca_encoders

#: Learners the engine can train as the student: ``linear`` (the closed-form contrastive
#: learner) and ``pca`` (per-modality PCA, which ignores the pairing).
LEARNERS = ("linear", "pca")

__all__ = [
    "LEARNERS",
    "Encoders",
    "GradientDescentResult",
    "CrossCovarianceAccumulator",
    "check_pairs",
    "cross_covariance",
    "closed_form_encoders",
    "fit",
    "fit_pca",
    "pca_encoders",
    "contrastive_loss",
    "loss_from_cross_covariance",
    "loss_gradients",
    "gradient_descent",
    "min_pairs_for_rank",
]
