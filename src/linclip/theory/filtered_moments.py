r"""The filtered cross-covariance in signal/noise coordinates (proof idea of Theorem 1).

Complete the true bases to orthogonal matrices :math:`[U, U_\perp]` and
:math:`[\tilde U, \tilde U_\perp]` and rotate a cross-covariance :math:`S` into

.. math:: R = [U, U_\perp]^\top S\, [\tilde U, \tilde U_\perp]
          = \begin{pmatrix} U^\top S\tilde U & U^\top S\tilde U_\perp \\
                            U_\perp^\top S\tilde U & U_\perp^\top S\tilde U_\perp\end{pmatrix}.

For the population cross-covariance of the pairs kept by the oracle score,
:math:`R = s(\theta)\begin{pmatrix} I_r & 0\\ 0 & 0\end{pmatrix}`: only the signal block is
non-zero, and it is a multiple of the identity (:func:`linclip.theory.filtered_law.cross_moment`). For a
finite sample the other blocks are :math:`O(1/\sqrt{n_{kept}})` fluctuations; their size relative to
:math:`s(\theta)` is what the error of the student depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_array
from ..learners.contrastive import check_pairs, cross_covariance

__all__ = ["orthogonal_completion", "SignalNoiseBlocks", "signal_noise_blocks"]


def orthogonal_completion(U: np.ndarray) -> np.ndarray:
    r"""An orthonormal basis :math:`U_\perp` of the orthogonal complement of the columns of ``U``.

    Parameters
    ----------
    U : ndarray, shape (d, r)
        Orthonormal columns (:math:`U` or :math:`\tilde U`).

    Returns
    -------
    ndarray, shape (d, d - r)
        :math:`U_\perp` with :math:`[U, U_\perp]` orthogonal.
    """
    U = check_finite_array("U", U, ndim=2)
    d, r = U.shape
    if r > d:
        raise ValueError(f"U must have at most as many columns as rows; got shape {U.shape}")
    if not np.allclose(U.T @ U, np.eye(r), atol=1e-8):
        raise ValueError("U must have orthonormal columns (U^T U = I)")
    q, _ = np.linalg.qr(np.hstack([U, np.eye(d)]))
    return q[:, r:d]


@dataclass(frozen=True)
class SignalNoiseBlocks:
    r"""A cross-covariance rotated into signal/noise coordinates.

    Attributes
    ----------
    rotated : ndarray, shape (d, d_t)
        :math:`R = [U, U_\perp]^\top S [\tilde U, \tilde U_\perp]`.
    r : int
        Rank :math:`r`; the signal block is ``rotated[:r, :r]``.
    n_kept : int
        Number of pairs the cross-covariance was computed from.
    """

    rotated: np.ndarray
    r: int
    n_kept: int

    @property
    def signal(self) -> np.ndarray:
        r""":math:`U^\top S\tilde U` (shape (r, r))."""
        return self.rotated[: self.r, : self.r]

    @property
    def signal_noise(self) -> np.ndarray:
        r""":math:`U^\top S\tilde U_\perp` (shape (r, d_t - r))."""
        return self.rotated[: self.r, self.r :]

    @property
    def noise_signal(self) -> np.ndarray:
        r""":math:`U_\perp^\top S\tilde U` (shape (d - r, r)); drives the error of :math:`U`."""
        return self.rotated[self.r :, : self.r]

    @property
    def noise_noise(self) -> np.ndarray:
        r""":math:`U_\perp^\top S\tilde U_\perp`."""
        return self.rotated[self.r :, self.r :]

    @property
    def scale(self) -> float:
        r"""Mean diagonal of the signal block, :math:`\operatorname{Tr}(U^\top S\tilde U)/r`.

        The estimate of :math:`s(\theta)`.
        """
        return float(np.trace(self.signal) / self.r)

    @property
    def signal_offdiag(self) -> float:
        """Largest absolute off-diagonal entry of the signal block."""
        off = self.signal - np.diag(np.diag(self.signal))
        return float(np.max(np.abs(off))) if self.r > 1 else 0.0

    @property
    def outside_signal(self) -> float:
        """Largest absolute entry outside the signal block."""
        blocks = [self.signal_noise, self.noise_signal, self.noise_noise]
        return float(max((np.max(np.abs(b)) for b in blocks if b.size), default=0.0))

    @property
    def relative_residual(self) -> float:
        r"""Distance from exact proportionality to :math:`U\tilde U^\top`.

        :math:`\|R - \text{scale}\cdot\operatorname{diag}(I_r, 0)\|_F / \|R\|_F`.
        """
        target = np.zeros_like(self.rotated)
        target[: self.r, : self.r] = self.scale * np.eye(self.r)
        return float(np.linalg.norm(self.rotated - target) / np.linalg.norm(self.rotated))


def signal_noise_blocks(
    x: np.ndarray, xt: np.ndarray, U: np.ndarray, U_t: np.ndarray, mask: np.ndarray | None = None
) -> SignalNoiseBlocks:
    r"""Rotate the centered cross-covariance of the (kept) pairs into signal/noise coordinates.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        First modality.
    xt : ndarray, shape (n, d_t)
        Second modality :math:`\tilde x`.
    U, U_t : ndarray
        True bases :math:`U` (d, r) and :math:`\tilde U` (d_t, r).
    mask : ndarray of bool, shape (n,), optional
        The kept pairs (default: all).

    Returns
    -------
    SignalNoiseBlocks
    """
    x, xt = check_pairs(x, xt)
    U = check_finite_array("U", U, ndim=2)
    U_t = check_finite_array("U_t", U_t, ndim=2)
    if U.shape[0] != x.shape[1] or U_t.shape[0] != xt.shape[1] or U.shape[1] != U_t.shape[1]:
        raise ValueError(
            f"U {U.shape} and U_t {U_t.shape} do not fit x of width {x.shape[1]} "
            f"and xt of width {xt.shape[1]} with a common rank r"
        )
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (x.shape[0],):
            raise ValueError(
                f"mask must be a boolean array of shape ({x.shape[0]},); got "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
        x, xt = x[mask], xt[mask]
    r = U.shape[1]
    if x.shape[0] < 2:
        raise ValueError(
            f"need at least 2 kept pairs for a centered cross-covariance; got {x.shape[0]}"
        )
    left = np.hstack([U, orthogonal_completion(U)])
    right = np.hstack([U_t, orthogonal_completion(U_t)])
    rotated = left.T @ cross_covariance(x, xt) @ right
    return SignalNoiseBlocks(rotated=rotated, r=r, n_kept=int(x.shape[0]))
