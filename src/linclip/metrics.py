r"""Distances between subspaces and the paper's error metric (brief §3).

For :math:`r`-dimensional subspaces with orthonormal bases :math:`X, Y` and principal angles
:math:`\theta_1,\dots,\theta_r`,

.. math:: \|\sin\Theta(X, Y)\|_F = \Big(\sum_i \sin^2\theta_i\Big)^{1/2}
          = \|(I - XX^\top) Y\|_F \in [0, \sqrt r].

:math:`\mathrm{ERR}(G,\tilde G) = \max\{\|\sin\Theta(\mathrm{row}(G), U)\|_F,
\|\sin\Theta(\mathrm{row}(\tilde G), \tilde U)\|_F\}`: the book's reading of the paper's ERR
(the maximum over the two modalities; brief §3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_finite_array
from .learners.contrastive import Encoders

__all__ = [
    "orthonormal_basis",
    "row_space_basis",
    "principal_angles",
    "sin_theta_distance",
    "ErrorReport",
    "subspace_error",
]


def orthonormal_basis(A: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``A`` (shape (p, k), full column rank)."""
    A = check_finite_array("A", A, ndim=2)
    q, sigma, _ = np.linalg.svd(A, full_matrices=False)
    tol = max(A.shape) * np.finfo(float).eps * (sigma[0] if sigma.size else 0.0)
    rank = int(np.count_nonzero(sigma > tol))
    if rank < A.shape[1]:
        raise ValueError(
            f"matrix of shape {A.shape} has rank {rank} < {A.shape[1]} columns; "
            "its column space is not of the stated dimension"
        )
    return q


def row_space_basis(G: np.ndarray) -> np.ndarray:
    """Orthonormal basis (as columns, shape (d, r)) of the row space of an encoder ``G``."""
    return orthonormal_basis(np.asarray(G, dtype=float).T)


def _check_bases(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = check_finite_array("X", X, ndim=2)
    Y = check_finite_array("Y", Y, ndim=2)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            "the subspaces X and Y (bases as columns) must live in the same space; got "
            f"ambient dimensions {X.shape[0]} and {Y.shape[0]}"
        )
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"subspaces must have the same dimension r; got {X.shape[1]} and {Y.shape[1]}"
        )
    return orthonormal_basis(X), orthonormal_basis(Y)


def principal_angles(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of ``X`` and ``Y``.

    Uses :func:`scipy.linalg.subspace_angles`, which is accurate for small angles.
    """
    X, Y = _check_bases(X, Y)
    import scipy.linalg

    return np.sort(scipy.linalg.subspace_angles(X, Y))


def sin_theta_distance(X: np.ndarray, Y: np.ndarray) -> float:
    r""":math:`\|\sin\Theta(X, Y)\|_F` between the column spaces of ``X`` and ``Y``.

    Parameters
    ----------
    X, Y : ndarray, shape (p, r)
        Spanning sets (need not be orthonormal) of two :math:`r`-dimensional subspaces.

    Notes
    -----
    Computed as :math:`\|(I-XX^\top)Y\|_F` with orthonormalised bases, which keeps full relative
    accuracy for errors as small as :math:`10^{-6}` (unlike :math:`\sqrt{r-\|X^\top Y\|_F^2}`).
    """
    X, Y = _check_bases(X, Y)
    residual = Y - X @ (X.T @ Y)
    return float(np.linalg.norm(residual))


@dataclass(frozen=True)
class ErrorReport:
    r"""ERR and its two sides.

    Attributes
    ----------
    err : float
        :math:`\max(\text{err\_x}, \text{err\_xt})`: the book's reading of the paper's ERR
        (the maximum over the two modalities; brief §3).
    err_x : float
        :math:`\|\sin\Theta(\mathrm{row}(G), U)\|_F`.
    err_xt : float
        :math:`\|\sin\Theta(\mathrm{row}(\tilde G), \tilde U)\|_F`.
    """

    err: float
    err_x: float
    err_xt: float


def subspace_error(encoders: Encoders, U: np.ndarray, U_t: np.ndarray) -> ErrorReport:
    r"""ERR of learned encoders against the true bases :math:`U, \tilde U`, and its two sides.

    ``err`` is the book's reading of the paper's ERR: the larger of the two
    :math:`\|\sin\Theta\|_F` distances (brief §3).

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel, Encoders
    >>> model = BimodalModel(d=6, d_t=5, r=2)
    >>> perfect = Encoders(model.U.T, model.U_t.T)
    >>> rep = subspace_error(perfect, model.U, model.U_t)
    >>> bool(rep.err < 1e-12), rep.err == max(rep.err_x, rep.err_xt)
    (True, True)
    """
    if not isinstance(encoders, Encoders):
        raise ValueError(
            f"encoders must be an Encoders pair (G, G_t); got {type(encoders).__name__}"
        )
    U = check_finite_array("U", U, ndim=2)
    U_t = check_finite_array("U_t", U_t, ndim=2)
    for name, basis, width in (("U", U, encoders.G.shape[1]), ("U_t", U_t, encoders.G_t.shape[1])):
        if basis.shape[0] != width:
            raise ValueError(
                f"{name} must have one row per input coordinate of its encoder ({width}); got "
                f"shape {basis.shape}"
            )
    err_x = sin_theta_distance(row_space_basis(encoders.G), U)
    err_xt = sin_theta_distance(row_space_basis(encoders.G_t), U_t)
    return ErrorReport(err=max(err_x, err_xt), err_x=err_x, err_xt=err_xt)
