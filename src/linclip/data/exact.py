r"""An exact sampler of the unfiltered cross-covariance whose cost does not grow with n.

Moved from :mod:`linclip.theory.asymptotics` (0.1.0); see its module docstring for the derivation.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_int
from .model import BimodalModel

__all__ = ["sample_cross_covariance"]


#: Draws generated together by the sampler (bounds the memory of the Bartlett triangles).
_BATCH = 500


def _component_factors(model: BimodalModel) -> tuple[np.ndarray, np.ndarray]:
    r"""Factors :math:`L_c` with :math:`w = L_c g`, :math:`g \sim N(0, I)`, for the two components.

    Clean: :math:`w = (Uz + \sigma\xi, \tilde U z + \tilde\sigma\tilde\xi)`; corrupted: the same
    with an independent :math:`\tilde z`. Built from the model's structure (not from an
    eigendecomposition), so a noiseless modality stays exactly inside its signal subspace.
    """
    d, d_t, r = model.d, model.d_t, model.r
    zeros = np.zeros
    noise = []
    if model.noise_var > 0:
        noise.append(np.vstack([math.sqrt(model.noise_var) * np.eye(d), zeros((d_t, d))]))
    if model.noise_var_t > 0:
        noise.append(np.vstack([zeros((d, d_t)), math.sqrt(model.noise_var_t) * np.eye(d_t)]))
    shared = np.vstack([model.U, model.U_t])
    separate = np.block([[model.U, zeros((d, r))], [zeros((d_t, r)), model.U_t]])
    return np.hstack([shared, *noise]), np.hstack([separate, *noise])


def _wishart_roots(q: int, dof: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stack of Bartlett triangles R with R R^T ~ Wishart(I_q, dof[t]); needs every dof >= q."""
    roots = np.zeros((dof.size, q, q))
    below = np.tril_indices(q, -1)
    roots[:, below[0], below[1]] = rng.standard_normal((dof.size, below[0].size))
    idx = np.arange(q)
    roots[:, idx, idx] = np.sqrt(rng.chisquare(dof[:, None] - idx[None, :]))
    return roots


def _centred_cross_scatter(
    factors: tuple[np.ndarray, np.ndarray],
    d: int,
    n: int,
    eta: float,
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    r"""``size`` draws of the cross block :math:`\sum_i (x_i-\bar x)(\tilde x_i-\bar{\tilde x})^\top`.

    Given the clean count :math:`m`, the within-group centred scatters are :math:`L_c W L_c^\top`
    with independent standard Wisharts :math:`W` of :math:`m-1` and :math:`n-m-1` degrees of
    freedom, and the between-group term is :math:`\frac{m(n-m)}{n}\delta\delta^\top` with
    :math:`\delta = \bar w_1 - \bar w_0 \sim N(0, \Sigma_1/m + \Sigma_0/(n-m))`.
    Returns an array of shape ``(size, d, d_t)``.
    """
    m = rng.binomial(n, eta, size=size)
    f1, f0 = factors
    cross = np.zeros((size, d, f1.shape[0] - d))
    for f, k in ((f1, m), (f0, n - m)):
        q, dof = f.shape[1], k - 1
        big = dof >= q
        if np.any(big):  # the usual case: Bartlett, all trials at once
            half = f @ _wishart_roots(q, dof[big], rng)
            cross[big] += half[:, :d] @ half[:, d:].transpose(0, 2, 1)
        for t in np.flatnonzero((dof >= 1) & ~big):  # tiny groups: W = Z Z^T directly
            half = f @ rng.standard_normal((q, dof[t]))
            cross[t] += half[:d] @ half[d:].T
    weight = m * (n - m) / n  # zero when one group is empty
    g1 = rng.standard_normal((size, f1.shape[1])) @ f1.T / np.sqrt(np.maximum(m, 1))[:, None]
    g0 = rng.standard_normal((size, f0.shape[1])) @ f0.T / np.sqrt(np.maximum(n - m, 1))[:, None]
    diff = g1 - g0
    cross += weight[:, None, None] * diff[:, :d, None] * diff[:, None, d:]
    return cross


def sample_cross_covariance(
    model: BimodalModel,
    n: int,
    rng: np.random.Generator | int | None = None,
    size: int | None = None,
) -> np.ndarray:
    r"""Draw :math:`S_n` from its exact law without generating the :math:`n` pairs.

    Given the clean count :math:`m \sim \mathrm{Binomial}(n, \eta)`, the centred scatter matrix
    of the stacked pairs :math:`w = (x, \tilde x)` splits into the within-group scatters,
    independent :math:`\mathrm{Wishart}(\Sigma_1, m-1)` and
    :math:`\mathrm{Wishart}(\Sigma_0, n-m-1)`, plus the between-group term
    :math:`\frac{m(n-m)}{n}(\bar w_1-\bar w_0)(\bar w_1-\bar w_0)^\top` with
    :math:`\bar w_1 - \bar w_0 \sim N(0, \Sigma_1/m + \Sigma_0/(n-m))`, all independent.
    :math:`S_n` is its cross block divided by :math:`n-1`. The cost is
    :math:`O((d+\tilde d)^3)` per draw, independent of :math:`n`.

    Parameters
    ----------
    model : BimodalModel
        The data model (its ``U``, ``U_t`` and :math:`\eta` are used).
    n : int
        Number of pairs :math:`n \ge 2`.
    rng : Generator or int or None
        Randomness.
    size : int or None
        Number of independent draws; ``None`` for a single matrix.

    Returns
    -------
    ndarray, shape (d, d_t), or (size, d, d_t) if ``size`` is given
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int("n", n, minimum=2)
    count = 1 if size is None else check_int("size", size)
    rng = np.random.default_rng(rng)
    factors = _component_factors(model)
    cross = np.concatenate(
        [
            _centred_cross_scatter(factors, model.d, n, model.eta, min(_BATCH, count - start), rng)
            for start in range(0, count, _BATCH)
        ]
    ) / (n - 1)
    return cross[0] if size is None else cross
