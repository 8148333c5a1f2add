r"""Exact samplers of the learner's sufficient statistics: no pair is generated.

Every learner in the book sees a set of pairs :math:`w = (x, \tilde x) \in \mathbb R^D`,
:math:`D = d + \tilde d`, only through its count :math:`m`, its sum :math:`\sum w` and its
second moment :math:`\sum w w^\top` (a :class:`Scatter`). Given the clean/corrupted labels the
pairs are iid Gaussian within each mixture component, so these statistics can be drawn from
their exact joint law instead of summing generated pairs:

* **A whole group** (all pairs of one component, no filter, :func:`group_scatter`): the centred
  scatter is :math:`\mathrm{Wishart}_D(m-1, \Sigma_k)` (Helmert rotation) and the mean is
  :math:`N(0, \Sigma_k/m)`, independent of it; the Wishart draw is Bartlett's. Cost
  :math:`O(D^3)` whatever :math:`m`. :func:`sample_cross_covariance` is the batch-vectorised
  form of the same construction for the unfiltered cross-covariance alone (0.1.0).
* **A filtered group** (threshold rules :math:`x^\top M\tilde x > \theta`,
  :func:`filtered_group_scatters`): a score looks only at the projection :math:`p = P^\top w`
  on the row and column spaces of the :math:`M`'s (:math:`2r` coordinates for one rank-:math:`r`
  teacher). Only :math:`p` is drawn per pair; the residual :math:`e = w - Kp` is Gaussian and
  independent of :math:`p`, hence of the selection, and its sums over the kept rows are drawn in
  :math:`O(1)` with a QR rotation of the regressors :math:`[1, p_i^\top]` and one more Wishart.

:class:`ExactSource` answers the engine's :class:`~linclip.data.sources.StatsRequest` this way
(``sampler="exact"``: the unfiltered statistics share one virtual data set, each score
filter's kept sets come from one of their own; ``sampler="exact-paired"``: the cells
(component × which filters keep a pair) are disjoint sets of rows, so every method of a trial
sees one virtual data set). The full-sample teacher and the
kept-fraction (top-:math:`q`) rules have no exact route (:func:`exact_route`). What is lost is
only the individual pairs. Derivations: the design note ``shared/design/exact-sampling.md`` and
the book's chapter *Simulating at scale*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._validate import check_int
from .model import BimodalModel

__all__ = [
    "SAMPLERS",
    "EXACT_SAMPLERS",
    "EXACT_DRAWS_REVISION",
    "EXACT_METHODS",
    "Scatter",
    "ExactSource",
    "exact_route",
    "wishart_identity",
    "group_scatter",
    "filtered_group_scatters",
    "sample_cross_covariance",
]

#: Samplers of a trial's statistics: generated pairs (the reference), exact draws (one
#: virtual data set per score filter, or one per trial with ``exact-paired``), or exact where
#: an exact route exists and pairs otherwise.
SAMPLERS = ("pairs", "exact", "exact-paired", "auto")
#: The exact samplers: one virtual data set per filtered method, or one per trial.
EXACT_SAMPLERS = ("exact", "exact-paired")
#: Revision of the exact samplers' draws, part of a run's identity (so that a run directory
#: written by an earlier revision is never resumed with other draws). 2: ``exact`` is the
#: unpaired sampler (it was ``exact-unpaired``; the paired one, ``exact``, is now
#: ``exact-paired``) and the filtered normals fill chunks of rows coordinate by coordinate.
EXACT_DRAWS_REVISION = 2
#: Former names of samplers (before revision 2), refused with a message naming the new one.
RENAMED_SAMPLERS = {"exact-unpaired": "exact"}
#: Methods with an exact route (with a threshold knob for the score filters).
EXACT_METHODS = ("none", "teacher-split", "oracle-score", "oracle-clean")


def _check_isotropic(model: BimodalModel) -> None:
    """The exact laws here assume the paper's isotropic noise: refuse structured noise."""
    if not model.noise.is_isotropic:
        raise ValueError(
            f"the exact sampler assumes isotropic noise; model.noise is {model.noise.kind} "
            "(NoiseModel(kind='isotropic') is allowed); use sampler='pairs'"
        )


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


@lru_cache(maxsize=64)
def _model_factors(model: BimodalModel) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_component_factors`, cached per model (the hot path of an unfiltered trial)."""
    return _component_factors(model)


@lru_cache(maxsize=64)
def _triangle(q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Below-diagonal and diagonal indices of a q × q triangle (cached)."""
    below = np.tril_indices(q, -1)
    return below[0], below[1], np.arange(q)


def _wishart_roots(q: int, dof: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stack of Bartlett triangles R with R R^T ~ Wishart(I_q, dof[t]); needs every dof >= q."""
    roots = np.zeros((dof.size, q, q))
    rows, cols, idx = _triangle(q)
    roots[:, rows, cols] = rng.standard_normal((dof.size, rows.size))
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
    _check_isotropic(model)
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


# ============================================================ statistics of a set of pairs
#: Cells with at most this many pairs beyond the regressor count draw their residual rows
#: one by one (the rotation needs a full-rank Gram matrix, and small cells are cheap).
_DIRECT_ROWS = 64

#: Pairs projected per block in a filtered group: the block (8192 × 2r doubles) stays in the
#: cache through the scoring, compressing and summing passes; the draws do not depend on it.
_BLOCK = 1 << 13
#: The filtered samplers' normals fill chunks of this many rows coordinate by coordinate
#: (all first coordinates, then all second ones, ...): contiguous stores in the compiled
#: loop. Any assignment of iid normals to coordinates gives iid rows; the chunk size fixes
#: the one used, so that the compiled and the NumPy loop draw the same rows.
_CHUNK = 256


@dataclass(frozen=True)
class Scatter:
    r"""Raw sufficient statistics of a set of pairs :math:`w = (x, \tilde x)`.

    Attributes
    ----------
    m : int
        Number of pairs :math:`m`.
    total : ndarray, shape (D,)
        :math:`\sum_i w_i`.
    second : ndarray, shape (D, D)
        :math:`\sum_i w_i w_i^\top` (about zero, not centred).

    Notes
    -----
    Raw sums add over disjoint sets of rows, so pooling is ``a + b``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.random.default_rng(0).normal(size=(50, 4))
    >>> s = Scatter(50, w.sum(0), w.T @ w)
    >>> bool(np.allclose(s.centred(), 49 * np.cov(w.T)))
    True
    """

    m: int
    total: np.ndarray
    second: np.ndarray

    @classmethod
    def empty(cls, D: int) -> Scatter:
        """The statistics of no pairs in dimension ``D``."""
        return cls(0, np.zeros(D), np.zeros((D, D)))

    def __add__(self, other: Scatter) -> Scatter:
        return Scatter(self.m + other.m, self.total + other.total, self.second + other.second)

    def centred(self) -> np.ndarray:
        r"""Centred scatter :math:`T = \sum ww^\top - (\sum w)(\sum w)^\top/m`."""
        if self.m < 1:
            raise ValueError("an empty set of pairs has no centred scatter")
        return self.second - np.outer(self.total, self.total) / self.m

    def cross_covariance(self, d: int) -> np.ndarray:
        r"""Centred sample cross-covariance :math:`S = T_{x\tilde x}/(m-1)` (first ``d`` = x)."""
        if self.m < 2:
            raise ValueError(f"need at least 2 pairs for a cross-covariance; got m = {self.m}")
        return self.centred()[:d, d:] / (self.m - 1)


def _wishart(dof: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Wishart_k(dof, I) without validation (the hot path of :func:`wishart_identity`)."""
    if k == 0 or dof <= 0:
        return np.zeros((k, k))
    if dof < k:
        Z = rng.standard_normal((dof, k))
        return Z.T @ Z
    A = _wishart_roots(k, np.array([dof]), rng)[0]
    return A @ A.T


def wishart_identity(dof: int, k: int, rng: np.random.Generator) -> np.ndarray:
    r"""One draw of :math:`\mathrm{Wishart}_k(\mathrm{dof}, I_k)`, exact for every dof >= 0.

    Bartlett decomposition :math:`W = AA^\top` (:math:`A` lower triangular,
    :math:`A_{ii} = \sqrt{\chi^2_{\mathrm{dof}-i}}`, :math:`A_{ij}\sim N(0,1)` below the
    diagonal; the triangles of :func:`sample_cross_covariance`) when ``dof >= k``; otherwise
    :math:`Z^\top Z` with :math:`Z` a ``dof × k`` standard normal matrix.

    Parameters
    ----------
    dof : int
        Degrees of freedom (:math:`m - 1` for the centred scatter of :math:`m` rows).
    k : int
        Dimension.
    rng : numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> W = wishart_identity(1000, 3, np.random.default_rng(0))
    >>> bool(np.allclose(W / 1000, np.eye(3), atol=0.15))
    True
    """
    dof = check_int("dof", dof, minimum=0)
    k = check_int("k", k, minimum=0)
    return _wishart(dof, k, rng)


def _psd_factor(S: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """``L`` with ``L @ L.T == S`` and full column rank (drops the null space)."""
    lam, V = np.linalg.eigh((S + S.T) / 2)
    keep = lam > rtol * max(float(lam[-1]), 0.0)
    return V[:, keep] * np.sqrt(lam[keep])


def _group(L: np.ndarray, m: int, rng: np.random.Generator) -> Scatter:
    k = L.shape[1]
    if m - 1 >= k:  # Bartlett: T = (L A)(L A)^T
        B = L @ _wishart_roots(k, np.array([m - 1]), rng)[0]
        T = B @ B.T
    else:
        T = L @ _wishart(m - 1, k, rng) @ L.T
    total = math.sqrt(m) * (L @ rng.standard_normal(k))
    return Scatter(m, total, T + np.outer(total, total) / m)


def group_scatter(
    cov: np.ndarray, m: int, rng: np.random.Generator, *, factor: np.ndarray | None = None
) -> Scatter:
    r"""Statistics of ``m`` iid :math:`N(0, \Sigma)` rows, drawn in :math:`O(D^3)`.

    The centred scatter is :math:`LWL^\top` with :math:`W\sim\mathrm{Wishart}(m-1, I)` and
    :math:`\Sigma = LL^\top`; the sum is :math:`\sqrt m\,Lz`, :math:`z\sim N(0, I)`,
    independent of it (Helmert rotation).

    Parameters
    ----------
    cov : ndarray, shape (D, D)
        Component covariance :math:`\Sigma_k` (positive semi-definite).
    m : int
        Number of rows :math:`m \ge 0`.
    rng : numpy.random.Generator
    factor : ndarray, optional
        A precomputed ``L`` with ``L @ L.T == cov`` (any number of columns), e.g. the
        structural factors of a :class:`~linclip.data.model.BimodalModel` component.
    """
    m = check_int("m", m, minimum=0)
    if m == 0:
        return Scatter.empty(cov.shape[0])
    return _group(_psd_factor(cov) if factor is None else factor, m, rng)


def _projection(matrices: Sequence[np.ndarray], d: int, d_t: int) -> np.ndarray:
    """Orthonormal ``P`` (D × p): block-diagonal bases of the M's column and row spaces."""

    def span(blocks: np.ndarray) -> np.ndarray:
        u, sig, _ = np.linalg.svd(blocks, full_matrices=False)
        return u[:, sig > 1e-10 * max(float(sig[0]), 1e-300)]

    A = span(np.hstack(list(matrices)))
    B = span(np.hstack([M.T for M in matrices]))
    P = np.zeros((d + d_t, A.shape[1] + B.shape[1]))
    P[:d, : A.shape[1]] = A
    P[d:, A.shape[1] :] = B
    return P


def _residual_sums(
    gram: np.ndarray, rows: np.ndarray | None, L_c: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw :math:`W^\top E` and :math:`E^\top E` for residual rows :math:`e_i\sim N(0, C)`.

    ``W`` has rows :math:`[1, v_i^\top]` (Gram matrix ``gram``); :math:`C = L_cL_c^\top`. With
    :math:`W = QR` and :math:`[Q, Q_\perp]` orthogonal, :math:`G = Q^\top E` and
    :math:`H = Q_\perp^\top E` are independent with iid :math:`N(0, C)` rows, so
    :math:`W^\top E = R^\top G` and :math:`E^\top E = G^\top G + H^\top H`,
    :math:`H^\top H\sim\mathrm{Wishart}(m-q, C)`. ``rows`` (the cell's ``W`` itself) is given
    for small cells, whose residual rows are then drawn one by one.
    """
    q = gram.shape[0]
    m = int(round(gram[0, 0]))
    k_c = L_c.shape[1]
    if rows is not None:
        E = rng.standard_normal((m, k_c)) @ L_c.T
        return rows.T @ E, E.T @ E
    R = np.linalg.cholesky(gram).T  # gram = R^T R, R upper triangular
    G = rng.standard_normal((q, k_c)) @ L_c.T
    EtE = G.T @ G + L_c @ _wishart(m - q, k_c, rng) @ L_c.T
    return R.T @ G, EtE


def _assemble(
    m: int, K: np.ndarray, sum_v: np.ndarray, sum_vv: np.ndarray, We: np.ndarray, EtE: np.ndarray
) -> Scatter:
    r"""Statistics of rows :math:`w_i = Kv_i + e_i` from the sums of :math:`v` and :math:`e`.

    :math:`\sum w = K\sum v + \sum e` and
    :math:`\sum ww^\top = K(\sum vv^\top)K^\top + KF + F^\top K^\top + E^\top E` with
    :math:`F = \sum v_ie_i^\top`; ``We`` stacks :math:`(\sum e)^\top` over :math:`F`.
    """
    sum_e, F = We[0], We[1:]
    KF = K @ F
    return Scatter(m, K @ sum_v + sum_e, K @ sum_vv @ K.T + KF + KF.T + EtE)


def _cell_sums_numpy(
    rng: np.random.Generator,
    m: int,
    lam: np.ndarray,
    proj: np.ndarray,
    mu: np.ndarray,
    seg: np.ndarray,
    thetas: np.ndarray,
    fold: bool,
    need: np.ndarray,
    limit: int,
    block: int = _BLOCK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Draw ``m`` rows :math:`v_i \sim N(0, I_k)`, split them into cells and sum each cell.

    The reference loop (the compiled ``linclip.data._kernel.cell_sums`` gives the same
    results up to rounding). Row :math:`i`'s first score is :math:`\sum_j \lambda_j v_{ij}^2`;
    score :math:`s \ge 1` is :math:`\sum_t \mu_t (v_i\cdot o_t)^2` over the columns
    ``seg[s, 0]:seg[s, 1]`` of ``proj`` (``seg[s, 0] < 0``: the first score again). The row
    falls in cell :math:`\sum_s 2^s[\text{score}_s > \theta_s]`. With ``fold`` a row whose
    first score is negative has its two halves swapped first (the reflection
    :math:`\tilde x \mapsto -\tilde x` in the basis :func:`filtered_group_scatters` builds for
    it). Only cells with ``need[c]`` are summed; the first ``limit`` rows of each are kept.
    The normals fill the rows in chunks of ``_CHUNK`` rows, each chunk
    coordinate by coordinate (:func:`_chunk_normals`), so the draws do not depend on ``block``.

    Returns
    -------
    count, sum_v, sum_vv, rows : ndarray
        Shapes ``(C,)``, ``(C, k)``, ``(C, k, k)`` and ``(C, max(limit, 1), k)``.
    """
    k = lam.shape[0]
    n_cells = need.shape[0]
    half = k // 2
    swap = np.r_[half:k, 0:half]
    count = np.zeros(n_cells, dtype=np.int64)
    sum_v = np.zeros((n_cells, k))
    sum_vv = np.zeros((n_cells, k, k))
    rows = np.zeros((n_cells, max(limit, 1), k))
    # Whole chunks per block, so that the chunks (and so the draws) do not depend on block.
    chunk = _CHUNK
    rows_per_block = min(-(-block // chunk) * chunk, max(m, 1))
    extra = [
        (j, None if seg[j, 0] < 0 else np.ascontiguousarray(proj[:, seg[j, 0] : seg[j, 1]]))
        for j in range(1, thetas.shape[0])
    ]
    # Buffers reused block after block (cache-resident).
    v_buf = np.empty((rows_per_block, k))
    scratch = np.empty(rows_per_block * k)
    sq_buf = np.empty((rows_per_block, k))
    ones = np.ones(rows_per_block)
    done = 0
    while done < m:
        b = min(rows_per_block, m - done)
        done += b
        v = v_buf[:b]
        _chunk_normals(rng, v, chunk, scratch)
        sq = np.multiply(v, v, out=sq_buf[:b])
        first = sq @ lam
        if fold:
            neg = first < 0.0
            v[neg] = v[neg][:, swap]
            first = np.abs(first)
        cell = (first > thetas[0]).view(np.uint8)
        for j, vecs in extra:
            if vecs is None:
                score = first
            else:
                z = v @ vecs
                score = np.multiply(z, z, out=z) @ mu[seg[j, 0] : seg[j, 1]]
            cell = cell | ((score > thetas[j]).view(np.uint8) << j)
        # Each cell's sums from its own rows: compressing is far cheaper than a Gram matrix.
        for c in np.flatnonzero(need):
            mask = cell.view(np.bool_) if n_cells == 2 and c == 1 else cell == c
            vc = np.compress(mask, v, axis=0)
            mc = vc.shape[0]
            if mc == 0:
                continue
            have = int(count[c])
            if have < limit:
                take = min(limit - have, mc)
                rows[c, have : have + take] = vc[:take]
            count[c] += mc
            sum_v[c] += ones[:mc] @ vc
            sum_vv[c] += vc.T @ vc
    return count, sum_v, sum_vv, rows


def _chunk_normals(
    rng: np.random.Generator, v: np.ndarray, chunk: int, scratch: np.ndarray
) -> None:
    """Fill the rows ``v`` (shape (b, k)) with normals, ``chunk`` rows at a time, each chunk
    coordinate by coordinate: the compiled loop's order (its contiguous stores).

    ``scratch`` holds at least ``b * k`` doubles.
    """
    b, k = v.shape
    full = b // chunk
    if full:
        z = scratch[: full * k * chunk].reshape(full, k, chunk)
        rng.standard_normal(out=z)
        np.copyto(v[: full * chunk].reshape(full, chunk, k), z.transpose(0, 2, 1))
    if b > full * chunk:
        v[full * chunk :] = rng.standard_normal((k, b - full * chunk)).T


def _positive_count(m: int, rng: np.random.Generator) -> int:
    """How many of ``m`` corrupted pairs score above 0: Binomial(m, 1/2) by the reflection."""
    return int(rng.binomial(m, 0.5))


def _fold_basis(
    cov: np.ndarray, P: np.ndarray, n_a: int, core: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""``L_p`` and the first score's weights in the basis where the reflection swaps halves.

    For a corrupted pair (:math:`x \perp \tilde x`) the projection has block-diagonal
    covariance, factored block by block (:math:`L = \mathrm{diag}(L_a, L_b)`, so the reflection
    :math:`J = \mathrm{diag}(I, -I)` commutes with it). With the SVD
    :math:`L_a^\top M_P L_b = Y S Z^\top`, the directions :math:`(y_i, \pm z_i)/\sqrt 2` carry
    the weights :math:`\pm s_i/2`, and :math:`J` maps each onto its partner.
    """
    D_p = P.shape[1]
    cov_p = P.T @ cov @ P
    L_a = _psd_factor(cov_p[:n_a, :n_a])
    L_b = _psd_factor(cov_p[n_a:, n_a:])
    if L_a.shape[1] != n_a or L_b.shape[1] != D_p - n_a or n_a != D_p - n_a:
        raise ValueError(
            "fold needs a positive definite projected covariance (square invertible blocks "
            "L_a, L_b of equal size); this component's is singular"
        )
    Y, s, Zt = np.linalg.svd(L_a.T @ core @ L_b)
    rot = np.block([[Y, Y], [Zt.T, -Zt.T]]) / math.sqrt(2.0)
    L = np.zeros((D_p, D_p))
    L[:n_a, :n_a] = L_a
    L[n_a:, n_a:] = L_b
    return L @ rot, np.concatenate([s, -s]) / 2


def filtered_group_scatters(
    cov: np.ndarray,
    m: int,
    d: int,
    matrices: Sequence[np.ndarray],
    thetas: Sequence[float],
    rng: np.random.Generator,
    *,
    direct_rows: int = _DIRECT_ROWS,
    block: int = _BLOCK,
    fold: bool = False,
    cells: Sequence[int] | None = None,
    jit: bool | None = None,
) -> dict[int, Scatter]:
    r"""Statistics of ``m`` iid :math:`N(0,\Sigma)` pairs, split by threshold filters.

    Pair :math:`i` falls in cell :math:`c = \sum_j 2^j[x_i^\top M_j\tilde x_i > \theta_j]`. Only
    the projection on the :math:`M_j`'s row and column spaces is drawn per pair (:math:`2r`
    normals for one rank-:math:`r` score matrix); each cell's residual sums are drawn exactly
    in :math:`O(1)` (the QR rotation of the regressors, see the module docstring).

    Parameters
    ----------
    cov : ndarray, shape (D, D)
        Component covariance :math:`\Sigma_k`.
    m : int
        Number of pairs in the component.
    d : int
        Dimension :math:`d` of the first modality (``D - d`` is :math:`\tilde d`).
    matrices : sequence of ndarray, shape (d, D - d)
        Score matrices :math:`M_j` (a teacher's or the oracle's), in the units of ``thetas``.
    thetas : sequence of float
        Thresholds :math:`\theta_j` (keep score :math:`> \theta_j`).
    rng : numpy.random.Generator
    direct_rows : int
        Cells with at most ``2r + 1 + direct_rows`` pairs draw their residual rows one by one
        (exact either way; exposed so that the tests exercise both routes).
    block : int
        Pairs projected per block by the NumPy loop (memory and cache use; the draws do not
        depend on it).
    fold : bool
        For a corrupted component (:math:`x \perp \tilde x`, zero cross block) and one score
        matrix with every :math:`\theta_j \ge 0`: draw only the pairs with a positive score.
        The reflection :math:`\tilde x \mapsto -\tilde x` preserves the component's law and
        negates the score, so their number is :math:`\mathrm{Binomial}(m, 1/2)` and each is a
        drawn pair reflected when its score is negative. Half the normals; cell 0 (no filter
        keeps the pair) is then not returned.
    cells : sequence of int, optional
        Only these cells are summed and returned (all by default).
    jit : bool, optional
        Use the compiled loop (``linclip.data._kernel``); by default when it is available
        for ``rng`` (numba installed, an SFC64 generator). Both give the same draws.

    Returns
    -------
    dict
        Cell index → :class:`Scatter`; cells with no pair are absent.
    """
    from . import _kernel

    m = check_int("m", m, minimum=0)
    if len(matrices) != len(thetas) or not matrices:
        raise ValueError("matrices and thetas must be non-empty and of equal length")
    limit_extra = check_int("direct_rows", direct_rows, minimum=0)
    block = check_int("block", block, minimum=1)
    D = cov.shape[0]
    P = _projection(matrices, d, D - d)
    n_a = int(np.count_nonzero(P[:d].any(axis=0)))
    # Score j of a pair is v^T H_j v, the bilinear form pulled back to v.
    cores = [P[:d, :n_a].T @ M @ P[d:, n_a:] for M in matrices]
    same = [np.array_equal(M, matrices[0]) for M in matrices]
    n_cells = 1 << len(matrices)
    need = np.ones(n_cells, dtype=bool)
    if cells is not None:
        need[:] = False
        need[[check_int("cells", c, minimum=0, maximum=n_cells - 1) for c in cells]] = True
    if fold:
        if not all(same) or min(thetas) < 0 or np.any(cov[:d, d:]):
            raise ValueError(
                "fold needs one score matrix, every theta >= 0 and a corrupted component "
                "(zero cross-covariance block)"
            )
        L_p, lam = _fold_basis(cov, P, n_a, cores[0])
        need[0] = False  # its pairs with a negative score are never drawn
        m = _positive_count(m, rng)
    else:
        L_p = _psd_factor(P.T @ cov @ P)  # p = L_p v, v ~ N(0, I)
        half = np.zeros((P.shape[1], P.shape[1]))
        half[:n_a, n_a:] = cores[0] / 2
        # Rotate v so that the first form is diagonal: its score is a weighted sum of squares.
        lam, rot = np.linalg.eigh(L_p.T @ (half + half.T) @ L_p)
        L_p = L_p @ rot
    # Further scores, diagonalised too: v^T H_j v = sum_l mu_l (v . o_l)^2 over the few
    # directions o_l the form uses (2r of them for a rank-r score matrix).
    k_p = L_p.shape[1]
    seg = np.full((len(matrices), 2), -1, dtype=np.int64)
    vec_parts, mu_parts, used = [np.zeros((k_p, 0))], [np.zeros(0)], 0
    for j, core in enumerate(cores[1:], start=1):
        if same[j]:
            continue
        G = L_p[:n_a].T @ core @ L_p[n_a:]
        mu_j, vecs = np.linalg.eigh((G + G.T) / 2)
        keep = np.abs(mu_j) > 1e-12 * max(float(np.abs(mu_j).max()), 1e-300)
        vec_parts.append(vecs[:, keep])
        mu_parts.append(mu_j[keep])
        seg[j] = (used, used + int(keep.sum()))
        used += int(keep.sum())
    proj = np.ascontiguousarray(np.hstack(vec_parts))
    mu = np.concatenate(mu_parts)
    # Regression of w on v: K = Cov(w, v), residual covariance C = Sigma - K K^T.
    K = cov @ P @ np.linalg.pinv(L_p).T
    L_c = _psd_factor(cov - K @ K.T)

    q = 1 + k_p
    limit = q + limit_extra
    th = np.asarray(thetas, dtype=float)
    if jit is None:
        jit = _kernel.available(rng)
    args = (rng, m, lam, proj, mu, seg, th, fold, need, limit)
    if jit:
        count, sum_v, sum_vv, rows_kept = _kernel.cell_sums(*args)
    else:  # looked up at call time, so that the tests can patch the reference loop
        count, sum_v, sum_vv, rows_kept = _cell_sums_numpy(*args, block=block)

    out: dict[int, Scatter] = {}
    for c in np.flatnonzero(need):
        mc = int(count[c])
        if mc == 0:
            continue
        # The compiled loop sums one triangle's worth of products in a different order;
        # symmetrise so that the Gram matrix is exactly symmetric for its Cholesky factor.
        s_vv = (sum_vv[c] + sum_vv[c].T) / 2
        gram = np.empty((q, q))
        gram[0, 0] = mc
        gram[0, 1:] = gram[1:, 0] = sum_v[c]
        gram[1:, 1:] = s_vv
        rows = None
        if mc <= limit:
            rows = np.hstack([np.ones((mc, 1)), rows_kept[c, :mc]])
        We, EtE = _residual_sums(gram, rows, L_c, rng)
        out[int(c)] = _assemble(mc, K, sum_v[c], s_vv, We, EtE)
    return out


# ======================================================================== the exact source
def exact_route(
    method: str, theta: float | None, keep_fraction: float | None, score: str = "bilinear"
) -> str | None:
    r"""``None`` if ``method`` with its knob has an exact sampler, else why it has none.

    Exact routes: ``none``, ``oracle-clean``, and ``teacher-split`` / ``oracle-score`` with a
    threshold :math:`\theta`. The full-sample ``teacher`` (its filter depends on the very pairs
    it was trained on) and kept-fraction rules (a top-:math:`q` rule couples all pairs through
    the :math:`q`-quantile) have none.
    """
    if score != "bilinear":
        return (
            f"the {score} score of method {method!r} has no exact sampler: the exact route "
            "needs a score linear in each modality (the bilinear score)"
        )
    if method == "teacher":
        return (
            "method 'teacher' (the full-sample teacher) has no exact sampler: its filter "
            "depends on the very pairs it was trained on"
        )
    if keep_fraction is not None:
        return (
            f"the kept-fraction rule (keep_fraction q = {keep_fraction:g}) of method "
            f"{method!r} has no exact sampler: a top-q rule couples all pairs through the "
            "q-quantile; use a threshold theta"
        )
    if method not in EXACT_METHODS:
        return f"method {method!r} has no exact sampler"
    return None


def _matrix(scorer: object) -> np.ndarray:
    """The bilinear score matrix of a scorer (a ``PairScorer`` or a bare matrix)."""
    return np.asarray(getattr(scorer, "M", scorer), dtype=float)


def _no_route(reason: str) -> ValueError:
    return ValueError(
        f"sampler='exact': {reason}; use sampler='pairs', or sampler='auto' to run it on "
        "generated pairs"
    )


def _pool(parts, D: int, keep) -> tuple[Scatter, int]:
    """Sum the cells ``keep(part, cell)`` selects over ``(part, {clean?: cells})`` pairs.

    Returns the pooled :class:`Scatter` and how many of its pairs are clean.
    """
    total, clean = Scatter.empty(D), 0
    for part, cells_by_k in parts:
        for k, cells in cells_by_k.items():
            for c, s in cells.items():
                if keep(part, c):
                    total = total + s
                    clean += s.m if k else 0
    return total, clean


class ExactSource:
    r"""A :class:`~linclip.data.sources.StatisticsSource` that draws the statistics exactly.

    Answers the engine's :class:`~linclip.data.sources.StatsRequest` (``all``, ``clean``,
    ``first`` and threshold-rule kept sets of ``teacher-split`` and ``oracle-score``) with draws
    from the exact joint law of the statistics of :math:`n` pairs of ``model``, without
    generating the pairs: :math:`O(1)` in :math:`n` for the unfiltered learner, the clean-label
    oracle and the teacher, :math:`2r` normals per filtered pair otherwise. All statistics of
    call come from one virtual data set (disjoint cells) with ``paired=True``, as for
    :class:`~linclip.data.sources.PairsSource`; by default each score filter has its own.

    Parameters
    ----------
    model : BimodalModel
        The data model (:math:`d, \tilde d, r, \gamma, \tilde\gamma, \eta, U, \tilde U`).
    n : int
        Number of pairs :math:`n \ge 2`.
    seed : SeedSequence, int or Generator
        Randomness. With a seed (not a Generator) every call of :meth:`statistics` draws the
        same virtual data set, like a regenerated stream of pairs.
    paired : bool
        ``False`` (the default, ``sampler="exact"``): the unfiltered statistics (all pairs, the clean ones,
        the teacher's half) share one virtual data set, and each score filter's kept sets
        are drawn from a data set of their own. Each method's law is still exact (a teacher
        and the half it filters stay independent, as in Algorithm 1); what is given up is
        the pairing of different methods within a trial, and that buys speed: each pair is
        projected for one filter only, and with thresholds :math:`\theta \ge 0` only the
        corrupted pairs with a positive score are drawn at all (the fold of
        :func:`filtered_group_scatters`), half of them. ``True``
        (``sampler="exact-paired"``): every statistic of a call comes from one virtual data
        set, so the methods of a trial are paired as on generated pairs.

    Attributes
    ----------
    pairs_drawn : int
        Running count of the pairs in the filtered groups (0 for unfiltered requests). Each
        such pair's projection is drawn, except with the fold, which draws about half of a
        corrupted group's.

    Examples
    --------
    >>> from linclip import BimodalModel
    >>> from linclip.filters.engine import run_methods
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    >>> none, clean = run_methods(ExactSource(model, 10**9, seed=0), ["none", "oracle-clean"], 4)
    >>> none.n_kept, abs(clean.n_kept / 10**9 - 0.3) < 1e-3
    (1000000000, True)
    """

    def __init__(
        self,
        model: BimodalModel,
        n: int,
        seed: np.random.SeedSequence | int | np.random.Generator | None = None,
        *,
        paired: bool = False,
    ) -> None:
        if not isinstance(model, BimodalModel):
            raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
        _check_isotropic(model)
        self.model = model
        self._n = check_int("n", n, minimum=2)
        self.seed = seed
        if not isinstance(paired, bool):
            raise ValueError(f"paired must be True or False; got {paired!r}")
        self.paired = paired
        self.pairs_drawn = 0
        self._factors: dict[bool, np.ndarray] | None = None
        self._covs: dict[bool, np.ndarray] | None = None

    @property
    def sampler(self) -> str:
        """The sampler's name, as recorded in result rows (``exact`` or ``exact-paired``)."""
        return "exact-paired" if self.paired else "exact"

    @property
    def n(self) -> int:
        """Pairs in the (virtual) sample."""
        return self._n

    @property
    def dims(self) -> tuple[int, int]:
        r"""The dimensions :math:`(d, \tilde d)`."""
        return self.model.d, self.model.d_t

    def _factor(self, clean: bool) -> np.ndarray:
        if self._factors is None:
            f1, f0 = _model_factors(self.model)
            self._factors = {True: f1, False: f0}
        return self._factors[clean]

    def _cov(self, clean: bool) -> np.ndarray:
        if self._covs is None:
            self._covs = {k: self.model.component_covariance(k) for k in (True, False)}
        return self._covs[clean]

    def _draw(
        self,
        clean: bool,
        m: int,
        matrices: list[np.ndarray],
        thetas: list[float],
        rng: np.random.Generator,
        kept_only: bool = False,
    ) -> dict[int, Scatter]:
        if m == 0:
            return {}
        if not matrices:
            return {0: _group(self._factor(clean), m, rng)}
        cells = None
        fold = False
        if kept_only:  # only cells where some filter keeps the pair are needed
            cells = range(1, 1 << len(matrices))
            fold = (
                not clean
                and min(thetas) >= 0
                and all(np.array_equal(M, matrices[0]) for M in matrices)
            )
        self.pairs_drawn += m
        return filtered_group_scatters(
            self._cov(clean), m, self.model.d, matrices, thetas, rng, fold=fold, cells=cells
        )

    def _accumulator(self, s: Scatter, n_clean: int):
        from .sources import MomentAccumulator

        return MomentAccumulator.from_sums(
            self.model.d, self.model.d_t, s.m, s.total, s.second, n_clean=n_clean
        )

    def statistics(self, request, score_matrix):  # noqa: D417 - see StatisticsSource
        """Draw the requested statistics (see the class docstring).

        Raises
        ------
        ValueError
            For a kept set without an exact route (:func:`exact_route`), naming its method
            and knob.
        """
        from .sources import TrialStats

        if getattr(request, "pairs", False):
            raise _no_route(
                "this learner trains on the pairs themselves (StatsRequest(pairs=True)); "
                "an exact sampler draws only their moments"
            )
        for k in request.kept:
            if getattr(k, "weighting", None) is not None:  # soft weighting (iterate chapter)
                raise _no_route(
                    f"the soft weighting {k.weighting.label} of {k.scorer!r} has no exact "
                    "sampler: the exact route draws only hard-cut kept sets"
                )
            reason = exact_route(
                k.scorer, k.theta, k.keep_fraction, getattr(k, "score", "bilinear")
            )
            if reason is not None:
                raise _no_route(reason)
        model, n = self.model, self._n
        D = model.d + model.d_t
        if isinstance(self.seed, np.random.Generator):
            rng = self.seed
        else:  # SFC64: the fastest of NumPy's normal generators here
            seed = self.seed
            if not isinstance(seed, np.random.SeedSequence):
                seed = np.random.SeedSequence(seed)
            rng = np.random.Generator(np.random.SFC64(seed))
        o_thetas = sorted({float(k.theta) for k in request.kept if k.scorer == "oracle-score"})
        s_thetas = sorted({float(k.theta) for k in request.kept if k.scorer == "teacher-split"})
        if not self.paired:
            return self._unpaired(request, score_matrix, rng, o_thetas, s_thetas)
        split = bool(s_thetas) or request.first
        n_first = n // 2 if split else n
        # Rows are iid, so the clean counts of the two halves are independent binomials.
        c_first = int(rng.binomial(n_first, model.eta))
        c_second = int(rng.binomial(n - n_first, model.eta)) if split else 0
        counts = {True: (c_first, c_second), False: (n_first - c_first, n - n_first - c_second)}
        M_o = [_matrix(score_matrix("oracle-score", None))] * len(o_thetas) if o_thetas else []
        first = {k: self._draw(k, counts[k][0], M_o, o_thetas, rng) for k in (True, False)}
        second: dict[bool, dict[int, Scatter]] = {True: {}, False: {}}

        def pool(parts, keep) -> tuple[Scatter, int]:
            return _pool(parts, D, keep)

        everything = lambda part, c: True  # noqa: E731
        first_acc = None
        if split:
            s, c = pool([("a", first)], everything)
            first_acc = self._accumulator(s, c)
            ms = list(M_o)
            if s_thetas:
                ms = [_matrix(score_matrix("teacher-split", first_acc))] * len(s_thetas) + ms
            ths = s_thetas + o_thetas
            second = {k: self._draw(k, counts[k][1], ms, ths, rng) for k in (True, False)}
        parts = [("a", first), ("b", second)]
        n_s = len(s_thetas)

        out = TrialStats(n=n, sample_clean=c_first + c_second, pairs_generated=0)
        if request.all:
            out.all = self._accumulator(*pool(parts, everything))
        if request.clean:
            out.clean = self._accumulator(
                *pool([("a", {True: first[True]}), ("b", {True: second[True]})], everything)
            )
        if request.first:
            out.first = first_acc
        for k in request.kept:
            theta = float(k.theta)
            if k.scorer == "teacher-split":
                j = s_thetas.index(theta)
                kept = pool([("b", second)], lambda part, c, j=j: bool(c >> j & 1))
                out.n_pool.append(n - n_first)
            else:
                j = o_thetas.index(theta)
                kept = pool(
                    parts,
                    lambda part, c, j=j: bool(c >> (j if part == "a" else n_s + j) & 1),
                )
                out.n_pool.append(n)
            out.kept.append(self._accumulator(*kept))
            out.cuts.append(theta)
        return out

    def _unpaired(self, request, score_matrix, rng, o_thetas, s_thetas):
        """:meth:`statistics` with ``paired=False``: one virtual data set per score filter."""
        from .sources import TrialStats

        model, n = self.model, self._n
        D = model.d + model.d_t
        split = bool(s_thetas) or request.first
        n_first = n // 2 if split else n
        # The unfiltered data set: O(1) draws of whole groups, halves kept apart.
        halves = []
        for size in (n_first, n - n_first):
            clean = int(rng.binomial(size, model.eta)) if size else 0
            halves.append(
                {
                    k: self._draw(k, m, [], [], rng)
                    for k, m in ((True, clean), (False, size - clean))
                }
            )

        def pool(groups, keep=lambda c: True) -> tuple[Scatter, int]:
            return _pool([(None, g) for g in groups], D, lambda part, c: keep(c))

        sample_clean = sum(h[True][0].m for h in halves if h[True])
        out = TrialStats(n=n, sample_clean=sample_clean, pairs_generated=0)
        first_acc = self._accumulator(*pool(halves[:1])) if split else None
        if request.all:
            out.all = self._accumulator(*pool(halves))
        if request.clean:
            out.clean = self._accumulator(*pool([{True: h[True]} for h in halves]))
        if request.first:
            out.first = first_acc

        def filtered(matrix: np.ndarray, thetas: list[float], size: int) -> list[dict]:
            # A data set of its own: only the kept cells are drawn (fold for corrupted pairs).
            clean = int(rng.binomial(size, model.eta))
            mats = [matrix] * len(thetas)
            return [
                {k: self._draw(k, m, mats, thetas, rng, kept_only=True)}
                for k, m in ((True, clean), (False, size - clean))
            ]

        sets = {}
        if s_thetas:
            M_s = _matrix(score_matrix("teacher-split", first_acc))
            sets["teacher-split"] = (s_thetas, filtered(M_s, s_thetas, n - n_first))
        if o_thetas:
            M_o = _matrix(score_matrix("oracle-score", None))
            sets["oracle-score"] = (o_thetas, filtered(M_o, o_thetas, n))
        for k in request.kept:
            thetas, groups = sets[k.scorer]
            j = thetas.index(float(k.theta))
            out.kept.append(self._accumulator(*pool(groups, lambda c, j=j: bool(c >> j & 1))))
            out.n_pool.append(n - n_first if k.scorer == "teacher-split" else n)
            out.cuts.append(float(k.theta))
        return out
