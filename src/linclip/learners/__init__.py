r"""Learners: the closed-form linear contrastive learner, gradient descent, per-modality PCA.

* :mod:`linclip.learners.contrastive` — the cross-covariance, the closed-form minimiser, the
  loss and plain gradient descent (brief §2);
* :mod:`linclip.learners.pca` — per-modality PCA, the paper's :math:`\eta = 0` reference;
* :mod:`linclip.learners.infonce` — CLIP's loss (symmetric InfoNCE with normalised
  embeddings) on linear encoders, trained by minibatch Adam.

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
from .infonce import (
    InfoNCEOptions,
    InfoNCETrace,
    infonce_encoders,
    infonce_loss,
    infonce_loss_and_grad,
    train_infonce,
)
from .pca import fit_pca, pca_encoders

#: Learners the engine can train as the student: ``linear`` (the closed-form contrastive
#: learner), ``pca`` (per-modality PCA, which ignores the pairing) and ``infonce`` (CLIP's
#: loss on linear encoders, :func:`~linclip.learners.infonce.infonce_encoders`).
LEARNERS = ("linear", "pca", "infonce")

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
    "InfoNCEOptions",
    "InfoNCETrace",
    "infonce_encoders",
    "infonce_loss",
    "infonce_loss_and_grad",
    "train_infonce",
]
