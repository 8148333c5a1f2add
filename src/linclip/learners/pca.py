r"""Per-modality PCA: the paper's :math:`\eta = 0` reference learner (its Eq. 2).

Each encoder is learned from its own modality alone, so the pairing plays no role. The
learner sees the data only through the within-modality sample covariances, so it can be fitted
from the same sufficient statistics as the contrastive learner (:func:`pca_encoders`).
"""

from __future__ import annotations

import numpy as np

from .._validate import check_finite_array, check_int
from .contrastive import Encoders, check_pairs

__all__ = ["fit_pca", "pca_encoders"]


def _top_eigenvectors(cov: np.ndarray, r: int) -> np.ndarray:
    # eigh sorts ascending; the last r columns span the top-r subspace.
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, ::-1][:, :r].T


def pca_encoders(cov_x: np.ndarray, cov_xt: np.ndarray, r: int) -> Encoders:
    r"""Encoders whose rows are the top-``r`` eigenvectors of two covariance matrices.

    Parameters
    ----------
    cov_x : ndarray, shape (d, d)
        Sample covariance of :math:`x`.
    cov_xt : ndarray, shape (d_t, d_t)
        Sample covariance of :math:`\tilde x`.
    r : int
        Embedding dimension :math:`r \le \min(d, \tilde d)`.
    """
    cov_x = check_finite_array("cov_x", cov_x, ndim=2)
    cov_xt = check_finite_array("cov_xt", cov_xt, ndim=2)
    for name, cov in (("cov_x", cov_x), ("cov_xt", cov_xt)):
        if cov.shape[0] != cov.shape[1]:
            raise ValueError(f"{name} must be a square covariance matrix; got shape {cov.shape}")
    r = check_int(
        "r", r, maximum=min(cov_x.shape[0], cov_xt.shape[0]), what=" with 1 <= r <= min(d, d_t)"
    )
    return Encoders(G=_top_eigenvectors(cov_x, r), G_t=_top_eigenvectors(cov_xt, r))


def fit_pca(x: np.ndarray, xt: np.ndarray, r: int) -> Encoders:
    r"""Per-modality PCA: the top-``r`` eigenvectors of each sample covariance.

    The paper's :math:`\eta = 0` reference point (its Eq. 2): each encoder is learned
    from its own modality alone, so the pairing, and with it :math:`\eta`, plays no
    role. Rows of ``G`` (``G_t``) are the top-``r`` eigenvectors of the centred sample
    covariance of ``x`` (``xt``), so ``subspace_error`` applies as for :func:`~linclip.learners.contrastive.fit`.
    The returned encoders carry no cross-modal information: their score matrix
    :math:`G^\top\tilde G` is not a contrastive score and must not be used to filter.

    Parameters
    ----------
    x, xt : ndarray, shapes (n, d) and (n, d_t)
        Samples of the two modalities (the row order is ignored).
    r : int
        Embedding dimension :math:`r`; needs :math:`n \ge r + 1`.

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel
    >>> from linclip.metrics import subspace_error
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.01, gamma=1e4,
    ...                      gamma_t=1e4, basis_seed=0)
    >>> sample = model.sample(10_000, np.random.default_rng(1))
    >>> err = subspace_error(fit_pca(sample.x, sample.xt, 4), model.U, model.U_t)
    >>> bool(err.err < 1e-2)
    True
    """
    x, xt = check_pairs(x, xt, r)
    r = int(r)

    def top_eigenvectors(a: np.ndarray) -> np.ndarray:
        centred = a - a.mean(axis=0)
        # eigh sorts ascending; the last r columns span the top-r subspace.
        _, vecs = np.linalg.eigh(centred.T @ centred / (a.shape[0] - 1))
        return vecs[:, ::-1][:, :r].T

    return Encoders(G=top_eigenvectors(x), G_t=top_eigenvectors(xt))
