r"""Exact samplers of the learner's sufficient statistics (no pair is generated).

Every learner in the book sees a set of pairs :math:`w = (x, \tilde x) \in \mathbb R^D`,
:math:`D = d + \tilde d`, only through its count :math:`m`, its sum :math:`\sum w` and its
second moment :math:`\sum w w^\top` (a :class:`Scatter`). Given the clean/corrupted labels
the pairs are iid Gaussian within each mixture component, so these statistics can be drawn
from their exact joint law instead of summing generated pairs:

* **A whole group** (all pairs of one component, no filter): the centred scatter is
  :math:`\mathrm{Wishart}_D(m-1, \Sigma_k)` (Helmert rotation) and the mean is
  :math:`N(0, \Sigma_k/m)`, independent of it. The Wishart draw uses the Bartlett
  decomposition. Cost :math:`O(D^3)`, whatever :math:`m`.
* **A filtered group** (a threshold rule :math:`x^\top M\tilde x > \theta` for one or more
  score matrices :math:`M`): a score looks only at the projection :math:`p = P^\top w` onto the
  row and column spaces of the :math:`M`'s (dimension :math:`2r` for one rank-:math:`r`
  teacher). Only :math:`p` is drawn per pair; the residual :math:`e = w - Kp` is Gaussian,
  independent of :math:`p` and so of the selection, and its sums over the kept rows are drawn
  in :math:`O(1)` with a QR rotation of the regressors :math:`[1, p_i^\top]` and one more
  Wishart draw.

The pairs of the different cells (component × which filters keep the pair) are disjoint sets
of rows, so the statistics of every method in a trial (no filtering, the clean-label oracle,
the teacher's first half, each filter's kept set) are drawn jointly, as if from one data set.
What is lost is only the individual pairs (:func:`exact_trial` returns sums, not rows).

See the design note ``shared/design/exact-sampling.md`` and the book's chapter *Simulating at
scale* for the derivations and their checks against generated pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from ._validate import check_int, check_positive, check_real
from .filters import METHODS, FilterOutcome, oracle_score_matrix, teacher_score_matrix
from .learner import Encoders, closed_form_encoders, min_pairs_for_rank
from .model import BimodalModel

__all__ = [
    "EXACT_METHODS",
    "Scatter",
    "ExactTrial",
    "wishart_identity",
    "group_scatter",
    "filtered_group_scatters",
    "exact_trial",
]

#: Methods with an exact route (threshold rules only; see :func:`exact_trial`).
EXACT_METHODS = ("none", "teacher-split", "oracle-score", "oracle-clean")

#: Cells with at most this many rows beyond the regressor count draw their residual rows one
#: by one: the rotation argument needs a full-rank Gram matrix, and small cells are cheap.
_DIRECT_ROWS = 64

#: Pairs drawn per block in a filtered group (memory is O(block · 2r)).
_BLOCK = 1 << 18


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

    Raw sums add over disjoint sets of rows, so pooling is ``a + b``.
    """

    m: int
    total: np.ndarray
    second: np.ndarray

    @classmethod
    def empty(cls, D: int) -> "Scatter":
        """The statistics of no pairs in dimension ``D``."""
        return cls(0, np.zeros(D), np.zeros((D, D)))

    def __add__(self, other: "Scatter") -> "Scatter":
        return Scatter(self.m + other.m, self.total + other.total,
                       self.second + other.second)

    def centred(self) -> np.ndarray:
        r"""Centred scatter :math:`T = \sum w w^\top - (\sum w)(\sum w)^\top / m`."""
        if self.m < 1:
            raise ValueError("an empty set of pairs has no centred scatter")
        return self.second - np.outer(self.total, self.total) / self.m

    def cross_covariance(self, d: int) -> np.ndarray:
        r"""Centred sample cross-covariance :math:`S = T_{x\tilde x}/(m-1)` (first ``d`` = x)."""
        if self.m < 2:
            raise ValueError(f"need at least 2 pairs for a cross-covariance; got m = {self.m}")
        return self.centred()[:d, d:] / (self.m - 1)


def wishart_identity(dof: int, k: int, rng: np.random.Generator) -> np.ndarray:
    r"""One draw of :math:`\mathrm{Wishart}_k(\mathrm{dof}, I_k)` (exact for every dof >= 0).

    Bartlett decomposition :math:`W = AA^\top` (:math:`A` lower triangular,
    :math:`A_{ii} = \sqrt{\chi^2_{\mathrm{dof}-i}}`, :math:`A_{ij} \sim N(0,1)` below the
    diagonal) when ``dof >= k``; otherwise :math:`Z^\top Z` with :math:`Z` a
    ``dof × k`` standard normal matrix (the Bartlett form needs dof > k − 1).

    Examples
    --------
    >>> import numpy as np
    >>> W = wishart_identity(1000, 3, np.random.default_rng(0))
    >>> bool(np.allclose(W / 1000, np.eye(3), atol=0.15))
    True
    """
    dof = check_int("dof", dof, minimum=0)
    k = check_int("k", k, minimum=0)
    if k == 0 or dof == 0:
        return np.zeros((k, k))
    if dof < k:
        Z = rng.standard_normal((dof, k))
        return Z.T @ Z
    A = np.tril(rng.standard_normal((k, k)), -1)
    A[np.diag_indices(k)] = np.sqrt(rng.chisquare(dof - np.arange(k)))
    return A @ A.T


def _psd_factor(S: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """``L`` with ``L @ L.T == S`` and full column rank (drops the null space)."""
    lam, V = np.linalg.eigh((S + S.T) / 2)
    keep = lam > rtol * max(float(lam[-1]), 0.0)
    return V[:, keep] * np.sqrt(lam[keep])


def group_scatter(cov: np.ndarray, m: int, rng: np.random.Generator, *,
                  factor: np.ndarray | None = None) -> Scatter:
    r"""Statistics of ``m`` iid :math:`N(0, \Sigma)` rows, drawn in :math:`O(D^3)`.

    The centred scatter is :math:`L W L^\top` with :math:`W \sim \mathrm{Wishart}(m-1, I)` and
    :math:`\Sigma = LL^\top`; the sum is :math:`\sqrt m\,L z` with :math:`z \sim N(0, I)`,
    independent of it (Helmert rotation).

    Parameters
    ----------
    cov : ndarray, shape (D, D)
        Component covariance :math:`\Sigma_k` (positive semi-definite).
    m : int
        Number of rows :math:`m \ge 0`.
    rng : numpy.random.Generator
    factor : ndarray, optional
        A precomputed ``L`` with ``L @ L.T == cov`` (saves a decomposition per call).
    """
    m = check_int("m", m, minimum=0)
    D = cov.shape[0]
    if m == 0:
        return Scatter.empty(D)
    L = _psd_factor(cov) if factor is None else factor
    k = L.shape[1]
    T = L @ wishart_identity(m - 1, k, rng) @ L.T
    total = math.sqrt(m) * (L @ rng.standard_normal(k))
    return Scatter(m, total, T + np.outer(total, total) / m)


def _projection(matrices: Sequence[np.ndarray], d: int, d_t: int) -> np.ndarray:
    """Orthonormal ``P`` (D × p): block-diagonal bases of the M's column and row spaces."""

    def span(blocks: np.ndarray) -> np.ndarray:
        u, sig, _ = np.linalg.svd(blocks, full_matrices=False)
        return u[:, sig > 1e-10 * max(float(sig[0]), 1e-300)]

    A = span(np.hstack(list(matrices)))
    B = span(np.hstack([M.T for M in matrices]))
    P = np.zeros((d + d_t, A.shape[1] + B.shape[1]))
    P[:d, : A.shape[1]] = A
    P[d:, A.shape[1]:] = B
    return P


def _residual_sums(gram: np.ndarray, rows: np.ndarray | None, L_c: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw :math:`W^\top E` and :math:`E^\top E` for residual rows :math:`e_i \sim N(0, C)`.

    ``W`` has rows :math:`[1, v_i^\top]` (Gram matrix ``gram``); ``C = L_c L_c^T``. With
    :math:`W = QR` and :math:`[Q, Q_\perp]` orthogonal, :math:`G = Q^\top E` and
    :math:`H = Q_\perp^\top E` are independent with iid :math:`N(0, C)` rows, so
    :math:`W^\top E = R^\top G` and :math:`E^\top E = G^\top G + H^\top H`,
    :math:`H^\top H \sim \mathrm{Wishart}(m - q, C)`. ``rows`` (the cell's ``W`` itself) is
    given for small cells, whose residual rows are then drawn one by one.
    """
    q = gram.shape[0]
    m = int(round(gram[0, 0]))
    D, k_c = L_c.shape
    if rows is not None:
        E = rng.standard_normal((m, k_c)) @ L_c.T
        return rows.T @ E, E.T @ E
    R = np.linalg.cholesky(gram).T  # gram = R^T R, R upper triangular
    G = rng.standard_normal((q, k_c)) @ L_c.T
    EtE = G.T @ G + L_c @ wishart_identity(m - q, k_c, rng) @ L_c.T
    return R.T @ G, EtE


def filtered_group_scatters(cov: np.ndarray, m: int, d: int, matrices: Sequence[np.ndarray],
                            thetas: Sequence[float], rng: np.random.Generator, *,
                            direct_rows: int = _DIRECT_ROWS) -> dict[int, Scatter]:
    r"""Statistics of ``m`` iid :math:`N(0,\Sigma)` pairs split by threshold filters.

    Pair :math:`i` falls in cell :math:`c = \sum_j 2^j\,[x_i^\top M_j \tilde x_i > \theta_j]`.
    Only the projection onto the :math:`M_j`'s row and column spaces is drawn per pair
    (:math:`2r` normals for one rank-:math:`r` score matrix); each cell's residual sums are
    drawn exactly in :math:`O(1)` (see :func:`_residual_sums`).

    Parameters
    ----------
    cov : ndarray, shape (D, D)
        Component covariance :math:`\Sigma_k`.
    m : int
        Number of pairs in the component.
    d : int
        Dimension :math:`d` of the first modality (``D - d`` is :math:`\tilde d`).
    matrices : sequence of ndarray, shape (d, D - d)
        Score matrices :math:`M_j` (teacher or oracle), in the units of ``thetas``.
    thetas : sequence of float
        Thresholds :math:`\theta_j` (keep score :math:`> \theta_j`).
    rng : numpy.random.Generator
    direct_rows : int
        Cells with at most ``2r + 1 + direct_rows`` pairs draw their residual rows one by one
        (exact either way; exposed so that tests can exercise both routes).

    Returns
    -------
    dict
        Cell index → :class:`Scatter`; cells with no pair are absent.
    """
    m = check_int("m", m, minimum=0)
    if len(matrices) != len(thetas) or not matrices:
        raise ValueError("matrices and thetas must be non-empty and of equal length")
    D = cov.shape[0]
    d_t = D - d
    P = _projection(matrices, d, d_t)
    n_a = int(np.count_nonzero(P[:d].any(axis=0)))
    L_p = _psd_factor(P.T @ cov @ P)  # p = L_p v, v ~ N(0, I)
    # Score j of a pair is v^T H_j v with H_j the bilinear form pulled back to v.
    forms = []
    for M in matrices:
        core = np.zeros((P.shape[1], P.shape[1]))
        core[:n_a, n_a:] = P[:d, :n_a].T @ M @ P[d:, n_a:] / 2
        forms.append(L_p.T @ (core + core.T) @ L_p)
    # Rotate v so that the first form is diagonal: its score is then a weighted sum of
    # squares (v is standard normal, so any rotation of it is too).
    lam, O = np.linalg.eigh(forms[0])
    L_p = L_p @ O
    forms = [O.T @ H @ O for H in forms]
    k_p = L_p.shape[1]
    # Regression of w on v: K = Cov(w, v), residual covariance C = Sigma - K K^T.
    K = cov @ P @ np.linalg.pinv(L_p).T
    L_c = _psd_factor(cov - K @ K.T)

    q = 1 + k_p
    n_cells = 1 << len(matrices)
    count = np.zeros(n_cells, dtype=np.int64)
    sum_v = np.zeros((n_cells, k_p))
    sum_vv = np.zeros((n_cells, k_p, k_p))
    kept_rows: list[list[np.ndarray]] = [[] for _ in range(n_cells)]
    limit = q + check_int("direct_rows", direct_rows, minimum=0)
    done = 0
    while done < m:
        block = min(_BLOCK, m - done)
        done += block
        v = rng.standard_normal((block, k_p))
        cell = ((v * v) @ lam > thetas[0]).astype(np.int64)
        for j in range(1, len(forms)):
            score = np.einsum("ij,ij->i", v @ forms[j], v)
            cell += (score > thetas[j]).astype(np.int64) << j
        for c in range(n_cells):
            hit = cell == c
            mc = int(np.count_nonzero(hit))
            if mc == 0:
                continue
            vc = v[hit]
            if count[c] <= limit:
                kept_rows[c].append(vc)
            count[c] += mc
            sum_v[c] += vc.sum(axis=0)
            sum_vv[c] += vc.T @ vc

    out: dict[int, Scatter] = {}
    for c in range(n_cells):
        mc = int(count[c])
        if mc == 0:
            continue
        gram = np.empty((q, q))
        gram[0, 0] = mc
        gram[0, 1:] = gram[1:, 0] = sum_v[c]
        gram[1:, 1:] = sum_vv[c]
        rows = None
        if mc <= limit:
            V = np.vstack(kept_rows[c])
            rows = np.hstack([np.ones((mc, 1)), V])
        We, EtE = _residual_sums(gram, rows, L_c, rng)
        out[c] = _assemble(mc, K, sum_v[c], sum_vv[c], We, EtE)
    return out


def _assemble(m: int, K: np.ndarray, sum_v: np.ndarray, sum_vv: np.ndarray,
              We: np.ndarray, EtE: np.ndarray) -> Scatter:
    r"""Statistics of rows :math:`w_i = K v_i + e_i` from the sums of :math:`v` and :math:`e`.

    :math:`\sum w = K\sum v + \sum e` and
    :math:`\sum ww^\top = K(\sum vv^\top)K^\top + KF + F^\top K^\top + E^\top E` with
    :math:`F = \sum v_i e_i^\top`; ``We`` stacks :math:`(\sum e)^\top` over :math:`F`.
    """
    sum_e, F = We[0], We[1:]
    KF = K @ F
    return Scatter(m, K @ sum_v + sum_e, K @ sum_vv @ K.T + KF + KF.T + EtE)


@dataclass(frozen=True)
class ExactTrial:
    """The statistics of one trial, drawn exactly, and every method's outcome.

    Attributes
    ----------
    n_clean : int
        Realised clean count :math:`n_c \\sim \\mathrm{Bin}(n, \\eta)`.
    outcomes : tuple of FilterOutcome
        One per requested method, in order.
    pairs_drawn : int
        Pairs for which a projection was drawn (the second half, or all pairs for the oracle
        score); 0 when only unfiltered statistics were needed.
    """

    n_clean: int
    outcomes: tuple[FilterOutcome, ...]
    pairs_drawn: int


@lru_cache(maxsize=64)
def _components(model: BimodalModel) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """Covariance and its factor for the clean (True) and corrupted (False) components."""
    out = {}
    for clean in (True, False):
        cov = model.component_covariance(clean)
        out[clean] = (cov, _psd_factor(cov))
    return out


def _check_methods(methods: Sequence[tuple[str, float | None]]) -> list[tuple[str, float]]:
    out = []
    for method, theta in methods:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        if method not in EXACT_METHODS:
            raise ValueError(
                f"method {method!r} has no exact sampler (its filter depends on the rows it "
                "was trained on); use sampler='pairs', or sampler='auto' to fall back")
        if method in ("teacher-split", "oracle-score"):
            if theta is None:
                raise ValueError(
                    f"method {method!r} needs a threshold theta for the exact sampler "
                    "(a kept-fraction rule couples all pairs and has no exact route)")
            theta = check_real("theta", theta)
        elif theta is not None:
            raise ValueError(f"method {method!r} takes no threshold; got theta = {theta!r}")
        out.append((method, math.nan if theta is None else float(theta)))
    if not out:
        raise ValueError("methods must name at least one method")
    return out


def _student(scatter: Scatter, d: int, r: int, rho: float, what: str) -> Encoders:
    if scatter.m < min_pairs_for_rank(r):
        raise ValueError(
            f"{what} keeps {scatter.m} pairs, but at least r + 1 = {min_pairs_for_rank(r)} "
            f"are needed to learn a rank-{r} subspace; lower the threshold")
    return closed_form_encoders(scatter.cross_covariance(d), r, rho)


def exact_trial(model: BimodalModel, n: int, methods: Sequence[tuple[str, float | None]],
                rng: np.random.Generator, *, rho: float = 1.0,
                score_units: str = "oracle") -> ExactTrial:
    r"""One trial of several methods on one (virtual) data set of ``n`` pairs, drawn exactly.

    The methods and their semantics are those of :func:`linclip.filters.run_method` with
    threshold rules: ``none`` (all :math:`n` pairs), ``oracle-clean`` (the clean pairs),
    ``teacher-split`` (Algorithm 1: teacher on the first :math:`\lfloor n/2\rfloor` pairs,
    student on the second-half pairs whose teacher score exceeds :math:`\theta`) and
    ``oracle-score`` (all :math:`n` pairs filtered by :math:`x^\top U\tilde U^\top\tilde x >
    \theta`). All methods see the same virtual data set. The full-sample ``teacher`` and
    kept-fraction rules have no exact route and raise ``ValueError``.

    Parameters
    ----------
    model : BimodalModel
        The data model (:math:`d, \tilde d, r, \gamma, \tilde\gamma, \eta, U, \tilde U`).
    n : int
        Number of pairs :math:`n`.
    methods : sequence of (method, theta)
        ``theta`` is the threshold :math:`\theta` (oracle units unless ``score_units="raw"``)
        for the filtering methods and ``None`` for the others.
    rng : numpy.random.Generator
    rho : float
        Regularisation :math:`\rho` (does not change subspaces).
    score_units : {"oracle", "raw"}
        Units of the teacher's score (:func:`linclip.filters.teacher_score_matrix`).

    Examples
    --------
    >>> import numpy as np
    >>> from linclip.metrics import subspace_error
    >>> model = BimodalModel(d=10, d_t=8, r=4, eta=0.3)
    >>> trial = exact_trial(model, 10**7, [("none", None), ("teacher-split", 0.0)],
    ...                     np.random.default_rng(0))
    >>> none, split = trial.outcomes
    >>> errs = [subspace_error(o.student, model.U, model.U_t).err for o in trial.outcomes]
    >>> bool(errs[1] < errs[0] < 1e-2)
    True
    """
    n = check_int("n", n, minimum=2)
    rho = check_positive("rho", rho)
    specs = _check_methods(methods)
    if score_units not in ("oracle", "raw"):
        raise ValueError(f"score_units must be 'oracle' or 'raw'; got {score_units!r}")
    d, r = model.d, model.r
    D = d + model.d_t
    comps = _components(model)
    oracle_thetas = sorted({t for m, t in specs if m == "oracle-score"})
    split_thetas = sorted({t for m, t in specs if m == "teacher-split"})
    need_split = bool(split_thetas)
    M_oracle = oracle_score_matrix(model.U, model.U_t)

    n_first = n // 2 if need_split else n
    # Rows are iid, so the clean counts of the two parts are independent binomials.
    first_clean = int(rng.binomial(n_first, model.eta))
    second_clean = int(rng.binomial(n - n_first, model.eta))
    n_clean = first_clean + second_clean
    counts = {True: (first_clean, second_clean),
              False: (n_first - first_clean, n - n_first - second_clean)}
    pairs_drawn = 0

    # first[k]: statistics of the first part of component k, by oracle-filter cell.
    def draw(k: bool, m: int, matrices: list[np.ndarray], thetas: list[float]
             ) -> dict[int, Scatter]:
        nonlocal pairs_drawn
        if not matrices:
            cov, L = comps[k]
            return {0: group_scatter(cov, m, rng, factor=L)} if m else {}
        pairs_drawn += m
        return filtered_group_scatters(comps[k][0], m, d, matrices, thetas, rng)

    oracle_ms = [M_oracle] * len(oracle_thetas)
    first = {k: draw(k, counts[k][0], oracle_ms, list(oracle_thetas)) for k in (True, False)}
    second: dict[bool, dict[int, Scatter]] = {True: {}, False: {}}
    teacher = None
    if need_split:
        first_all = sum((s for k in first for s in first[k].values()), Scatter.empty(D))
        teacher = _student(first_all, d, r, rho, "the first half")
        M_teacher = teacher_score_matrix(teacher, score_units)
        ms = [M_teacher] * len(split_thetas) + oracle_ms
        ths = list(split_thetas) + list(oracle_thetas)
        second = {k: draw(k, counts[k][1], ms, ths) for k in (True, False)}

    n_o = len(oracle_thetas)
    n_s = len(split_thetas)

    def pool(part: dict[bool, dict[int, Scatter]], keep) -> tuple[Scatter, int]:
        total, clean = Scatter.empty(D), 0
        for k, cells in part.items():
            for c, s in cells.items():
                if keep(c):
                    total = total + s
                    clean += s.m if k else 0
        return total, clean

    everything = {k: {**{("a", c): s for c, s in first[k].items()},
                      **{("b", c): s for c, s in second[k].items()}} for k in (True, False)}

    def oracle_bit(key, j: int) -> bool:
        part, c = key
        return bool(c >> (j if part == "a" else n_s + j) & 1)

    outcomes = []
    for method, theta in specs:
        if method == "none":
            s, c = pool(everything, lambda key: True)
            outcomes.append(FilterOutcome(_student(s, d, r, rho, "no filtering"), None,
                                          s.m, s.m, c, math.nan))
        elif method == "oracle-clean":
            s, c = pool({True: everything[True]}, lambda key: True)
            outcomes.append(FilterOutcome(_student(s, d, r, rho, "the clean-label oracle"),
                                          None, n, s.m, c, math.nan))
        elif method == "teacher-split":
            j = split_thetas.index(theta)
            s, c = pool(second, lambda cell: bool(cell >> j & 1))
            outcomes.append(FilterOutcome(
                _student(s, d, r, rho, f"threshold theta = {theta:g}"), teacher,
                n - n_first, s.m, c, theta))
        else:  # oracle-score, on all n pairs
            j = oracle_thetas.index(theta)
            s, c = pool(everything, lambda key: oracle_bit(key, j))
            outcomes.append(FilterOutcome(
                _student(s, d, r, rho, f"threshold theta = {theta:g}"), None, n, s.m, c,
                theta))
    return ExactTrial(n_clean, tuple(outcomes), pairs_drawn)
