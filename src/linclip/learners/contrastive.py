r"""The linear contrastive learner (brief §2).

Encoders :math:`G \in \mathbb R^{r\times d}`, :math:`\tilde G \in \mathbb R^{r\times\tilde d}`
score a pair by :math:`s_{ij} = \langle G x_i, \tilde G \tilde x_j\rangle`. The loss

.. math::
   L(G,\tilde G) = -\frac1n\sum_i s_{ii} + \frac{1}{n(n-1)}\sum_{i\ne j} s_{ij}
                   + \frac\rho2 \|G^\top\tilde G\|_F^2
                 = -\operatorname{Tr}(G S_n \tilde G^\top) + \frac\rho2\|G^\top\tilde G\|_F^2

is minimised in closed form by :math:`G^\top\tilde G = \operatorname{SVD}_r(S_n)/\rho`
(Eckart–Young–Mirsky), where :math:`S_n` is the centered sample cross-covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import check_finite_array, check_int, check_positive

__all__ = [
    "Encoders",
    "GradientDescentResult",
    "CrossCovarianceAccumulator",
    "check_pairs",
    "cross_covariance",
    "closed_form_encoders",
    "fit",
    "contrastive_loss",
    "loss_from_cross_covariance",
    "loss_gradients",
    "gradient_descent",
    "min_pairs_for_rank",
]


def min_pairs_for_rank(r: int) -> int:
    r"""Fewest pairs from which a rank-``r`` centered cross-covariance can be estimated.

    Centering removes one degree of freedom, so :math:`S_n` has rank at most :math:`n-1`;
    learning an :math:`r`-dimensional subspace needs :math:`n \ge r+1`.
    """
    return int(r) + 1


def check_pairs(x: object, xt: object, r: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired data matrices and return them as float arrays.

    Raises ``ValueError`` if shapes disagree, entries are not finite, or (when ``r`` is given)
    there are fewer than ``r + 1`` pairs or ``r`` exceeds a dimension.
    """
    x = check_finite_array("x", x, ndim=2)
    xt = check_finite_array("xt", xt, ndim=2)
    if x.shape[0] != xt.shape[0]:
        raise ValueError(
            f"x and xt must have the same number of rows (pairs); "
            f"got {x.shape[0]} and {xt.shape[0]}"
        )
    if r is not None:
        r = check_int(
            "r",
            r,
            maximum=min(x.shape[1], xt.shape[1]),
            what=f" with 1 <= r <= min(d, d_t) = {min(x.shape[1], xt.shape[1])}",
        )
        need = min_pairs_for_rank(r)
        if x.shape[0] < need:
            raise ValueError(
                f"need at least r + 1 = {need} pairs to estimate a rank-{r} "
                f"cross-covariance; got n = {x.shape[0]}"
            )
    return x, xt


def cross_covariance(x: np.ndarray, xt: np.ndarray) -> np.ndarray:
    r"""Centered sample cross-covariance :math:`S_n`.

    .. math:: S_n = \frac{1}{n-1}\sum_i (x_i-\bar x)(\tilde x_i-\bar{\tilde x})^\top
                  = \frac1n\sum_i x_i\tilde x_i^\top - \frac{1}{n(n-1)}\sum_{i\ne j}x_i\tilde x_j^\top

    Parameters
    ----------
    x : ndarray, shape (n, d)
        First-modality samples :math:`x_i` as rows.
    xt : ndarray, shape (n, d_t)
        Second-modality samples :math:`\tilde x_i` as rows.

    Returns
    -------
    ndarray, shape (d, d_t)
    """
    x, xt = check_pairs(x, xt)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 pairs for a centered cross-covariance; got n = {n}")
    acc = CrossCovarianceAccumulator(x.shape[1], xt.shape[1])
    acc.update(x, xt)
    return acc.covariance()


class CrossCovarianceAccumulator:
    """Streaming sufficient statistics for :math:`S_n` (sum of x, of x̃ and of x x̃ᵀ).

    Lets a learner see ``n = 10**7`` pairs in chunks with memory independent of ``n``.
    Sums are kept about a running shift (the first chunk's means) for numerical stability.
    """

    def __init__(self, d: int, d_t: int) -> None:
        self.d = check_int("d", d)
        self.d_t = check_int("d_t", d_t)
        self.n = 0
        self._shift_x: np.ndarray | None = None
        self._shift_xt: np.ndarray | None = None
        self._sum_x = np.zeros(self.d)
        self._sum_xt = np.zeros(self.d_t)
        self._sum_cross = np.zeros((self.d, self.d_t))

    def update(self, x: np.ndarray, xt: np.ndarray) -> CrossCovarianceAccumulator:
        """Add a chunk of pairs (rows of ``x`` and ``xt``)."""
        if x.shape[0] == 0:
            return self
        if x.shape[1] != self.d or xt.shape[1] != self.d_t or x.shape[0] != xt.shape[0]:
            raise ValueError(
                f"chunk shapes {x.shape} and {xt.shape} do not match "
                f"(n, {self.d}) and (n, {self.d_t})"
            )
        if self._shift_x is None:
            self._shift_x = x.mean(axis=0)
            self._shift_xt = xt.mean(axis=0)
        xc = x - self._shift_x
        xtc = xt - self._shift_xt
        self.n += x.shape[0]
        self._sum_x += xc.sum(axis=0)
        self._sum_xt += xtc.sum(axis=0)
        self._sum_cross += xc.T @ xtc
        return self

    def covariance(self) -> np.ndarray:
        """The centered cross-covariance :math:`S_n` of everything added so far."""
        if self.n < 2:
            raise ValueError(
                f"need at least 2 pairs for a centered cross-covariance; got n = {self.n}"
            )
        mean_x = self._sum_x / self.n
        mean_xt = self._sum_xt / self.n
        return (self._sum_cross - self.n * np.outer(mean_x, mean_xt)) / (self.n - 1)


@dataclass(frozen=True)
class Encoders:
    r"""A pair of linear encoders :math:`(G, \tilde G)`.

    Attributes
    ----------
    G : ndarray, shape (r, d)
        Image encoder :math:`G`.
    G_t : ndarray, shape (r, d_t)
        Text encoder :math:`\tilde G`.
    """

    G: np.ndarray
    G_t: np.ndarray

    @property
    def r(self) -> int:
        """Embedding dimension :math:`r`."""
        return int(self.G.shape[0])

    @property
    def score_matrix(self) -> np.ndarray:
        r""":math:`M = G^\top\tilde G`, so that the pair score is :math:`x^\top M \tilde x`."""
        return self.G.T @ self.G_t

    def similarity(self, x: np.ndarray, xt: np.ndarray) -> np.ndarray:
        r"""Paired similarities :math:`s_{ii} = \langle G x_i, \tilde G\tilde x_i\rangle`."""
        return np.einsum("ij,ij->i", x @ self.G.T, xt @ self.G_t.T)


def closed_form_encoders(S: np.ndarray, r: int, rho: float = 1.0) -> Encoders:
    r"""Closed-form minimiser of the regularised linear contrastive loss.

    With :math:`S = P\Sigma Q^\top` (SVD), returns :math:`G = \Sigma_r^{1/2}P_r^\top/\sqrt\rho`
    and :math:`\tilde G = \Sigma_r^{1/2}Q_r^\top/\sqrt\rho`, so that
    :math:`G^\top\tilde G = \operatorname{SVD}_r(S)/\rho`. Any :math:`(AG, A\tilde G)` with
    orthogonal :math:`A` is an equally good minimiser.

    Parameters
    ----------
    S : ndarray, shape (d, d_t)
        Cross-covariance :math:`S_n`.
    r : int
        Embedding dimension :math:`r \le \min(d, \tilde d)`.
    rho : float
        Regularisation strength :math:`\rho > 0`.
    """
    S = check_finite_array("S", S, ndim=2)
    r = check_int(
        "r", r, maximum=min(S.shape), what=f" with 1 <= r <= min(d, d_t) = {min(S.shape)}"
    )
    rho = check_positive("rho", rho)
    P, sigma, Qt = np.linalg.svd(S, full_matrices=False)
    if not sigma[0] > 0.0:
        raise ValueError(
            "the cross-covariance S is zero, so it defines no subspace (no encoder can be "
            "learned): are the rows of x (or of xt) all identical?"
        )
    root = np.sqrt(sigma[:r] / rho)[:, None]
    return Encoders(G=root * P[:, :r].T, G_t=root * Qt[:r])


def fit(x: np.ndarray, xt: np.ndarray, r: int, rho: float = 1.0) -> Encoders:
    r"""Train the linear contrastive learner on pairs ``(x, xt)`` in closed form.

    Parameters
    ----------
    x, xt : ndarray, shapes (n, d) and (n, d_t)
        Paired samples.
    r : int
        Embedding dimension :math:`r`; needs :math:`n \ge r + 1`.
    rho : float
        Regularisation :math:`\rho > 0` (does not change the learned subspaces).

    Examples
    --------
    >>> import numpy as np
    >>> from linclip import BimodalModel, subspace_error
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    >>> pairs = model.sample(10_000, np.random.default_rng(0))
    >>> enc = fit(pairs.x, pairs.xt, r=4)
    >>> enc.G.shape, enc.G_t.shape
    ((4, 10), (4, 8))
    >>> bool(subspace_error(enc, model.U, model.U_t).err < 0.1)
    True
    """
    x, xt = check_pairs(x, xt, r)
    S = cross_covariance(x, xt)
    if not np.any(S):
        constant = [name for name, a in (("x", x), ("xt", xt)) if not np.any(a - a[0])]
        why = (
            f"the rows of {' and '.join(constant)} are all identical"
            if constant
            else "x and xt are uncorrelated in every direction"
        )
        raise ValueError(
            f"fit: the cross-covariance of x and xt is exactly zero ({why}), so no subspace "
            "is defined and no encoder can be learned"
        )
    return closed_form_encoders(S, r, rho)


def contrastive_loss(
    G: np.ndarray, G_t: np.ndarray, x: np.ndarray, xt: np.ndarray, rho: float = 1.0
) -> float:
    r"""The loss evaluated from its definition, in :math:`O(n r (d+\tilde d))` memory-light time.

    Uses :math:`\sum_{i\ne j} s_{ij} = \langle \sum_i Gx_i, \sum_j\tilde G\tilde x_j\rangle
    - \sum_i s_{ii}`, so the :math:`n\times n` similarity matrix is never formed.
    """
    x, xt = check_pairs(x, xt)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"the contrastive loss needs at least 2 pairs; got n = {n}")
    rho = check_positive("rho", rho)
    G, G_t, _ = _check_encoder_shapes(G, G_t, np.zeros((x.shape[1], xt.shape[1])))
    emb = x @ G.T
    emb_t = xt @ G_t.T
    paired = np.einsum("ij,ij->", emb, emb_t)
    all_pairs = emb.sum(axis=0) @ emb_t.sum(axis=0)
    reg = 0.5 * rho * np.sum((G.T @ G_t) ** 2)
    return float(-paired / n + (all_pairs - paired) / (n * (n - 1)) + reg)


def _check_encoder_shapes(
    G: object, G_t: object, S: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``G`` (r, d), ``G_t`` (r, d_t) and ``S`` (d, d_t) as finite float arrays that fit."""
    G = check_finite_array("G", G, ndim=2)
    G_t = check_finite_array("G_t", G_t, ndim=2)
    S = check_finite_array("S", S, ndim=2)
    if G.shape[0] != G_t.shape[0] or S.shape != (G.shape[1], G_t.shape[1]):
        raise ValueError(
            f"G of shape (r, d), G_t of shape (r, d_t) and S of shape (d, d_t) must fit; got "
            f"G {G.shape}, G_t {G_t.shape}, S {S.shape}"
        )
    return G, G_t, S


def loss_from_cross_covariance(
    G: np.ndarray, G_t: np.ndarray, S: np.ndarray, rho: float = 1.0
) -> float:
    r""":math:`-\operatorname{Tr}(G S \tilde G^\top) + \frac\rho2\|G^\top\tilde G\|_F^2`."""
    G, G_t, S = _check_encoder_shapes(G, G_t, S)
    return _loss(G, G_t, S, check_positive("rho", rho))


def loss_gradients(
    G: np.ndarray, G_t: np.ndarray, S: np.ndarray, rho: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`loss_from_cross_covariance`.

    :math:`\nabla_G L = -\tilde G S^\top + \rho\,\tilde G\tilde G^\top G` and
    :math:`\nabla_{\tilde G} L = -G S + \rho\, G G^\top\tilde G`.
    """
    G, G_t, S = _check_encoder_shapes(G, G_t, S)
    return _loss_gradients(G, G_t, S, check_positive("rho", rho))


def _loss_gradients(G, G_t, S, rho: float) -> tuple[np.ndarray, np.ndarray]:
    grad_G = -G_t @ S.T + rho * (G_t @ G_t.T) @ G
    grad_G_t = -G @ S + rho * (G @ G.T) @ G_t
    return grad_G, grad_G_t


def _loss(G, G_t, S, rho: float) -> float:
    return float(-np.trace(G @ S @ G_t.T) + 0.5 * rho * np.sum((G.T @ G_t) ** 2))


@dataclass(frozen=True)
class GradientDescentResult:
    """Outcome of :func:`gradient_descent`: final encoders and the loss after every step."""

    encoders: Encoders
    losses: np.ndarray


def gradient_descent(
    S: np.ndarray,
    r: int,
    rho: float = 1.0,
    *,
    steps: int = 2000,
    step_size: float = 0.2,
    init_scale: float = 1e-2,
    rng: np.random.Generator | int | None = 0,
) -> GradientDescentResult:
    r"""Plain simultaneous gradient descent on the loss, from a small random start.

    The step is ``step_size / sigma_1(S)`` so the iteration is scale-free: the minimiser's
    singular values are :math:`\sigma_i(S)/\rho` and the curvature scales like :math:`\sigma_1`.

    Parameters
    ----------
    S : ndarray, shape (d, d_t)
        Cross-covariance :math:`S_n` (the loss depends on the data only through it).
    r : int
        Embedding dimension :math:`r`.
    rho : float
        Regularisation :math:`\rho`.
    steps : int
        Number of iterations.
    step_size : float
        Dimensionless step (stable below about 0.5).
    init_scale : float
        Standard deviation of the random initial entries, relative to
        :math:`\sqrt{\sigma_1(S)/\rho}`.
    rng : Generator or int or None
        Randomness for the initialisation.
    """
    S = check_finite_array("S", S, ndim=2)
    r = check_int("r", r, maximum=min(S.shape), what=" with 1 <= r <= min(d, d_t)")
    rho = check_positive("rho", rho)
    steps = check_int("steps", steps, minimum=0)
    step_size = check_positive("step_size", step_size)
    init_scale = check_positive("init_scale", init_scale)
    rng = np.random.default_rng(rng)
    sigma1 = float(np.linalg.norm(S, 2))
    if sigma1 == 0:
        raise ValueError("S is the zero matrix; gradient descent has nothing to learn")
    scale = init_scale * np.sqrt(sigma1 / rho)
    G = scale * rng.standard_normal((r, S.shape[0]))
    G_t = scale * rng.standard_normal((r, S.shape[1]))
    # The Hessian in (G, G_t) scales like rho * ||G||^2 ~ sigma_1, hence lr ~ 1/sigma_1.
    lr = step_size / sigma1
    losses = np.empty(steps)
    for t in range(steps):
        grad_G, grad_G_t = _loss_gradients(G, G_t, S, rho)  # validated once, above
        G = G - lr * grad_G
        G_t = G_t - lr * grad_G_t
        losses[t] = _loss(G, G_t, S, rho)
    return GradientDescentResult(Encoders(G, G_t), losses)
