r"""The cosine ("CLIP") score against the paper's bilinear score (our derivation).

A score filter ranks pairs by the bilinear score :math:`S = u^\top v` (the paper) or by the
cosine :math:`C = u^\top v/(\|u\|\|v\|)` of the two embeddings (DataComp, DFN), where for the
oracle :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x` are the signal coordinates and for
a teacher :math:`u = G_Tx`, :math:`v = \tilde G_T\tilde x`. This module holds the pieces of the
chapter "The CLIP score: cosine against bilinear":

1. **The kept set of the oracle filters** (:func:`kept_signal`). Both scores look only at the
   signal coordinates and are invariant under a joint rotation :math:`(u, v)\mapsto(Ou, Ov)`, so
   the kept set has :math:`E[uv^\top\mid\text{kept}] = s\,I_r`,
   :math:`E[uu^\top\mid\text{kept}] = m_u I_r`, :math:`E[vv^\top\mid\text{kept}] = m_v I_r`, and
   the book's first-order law of the filtered error
   (:func:`linclip.theory.prediction.predict_filtered`) applies to either score with that
   score's :math:`(P, s, m_u, m_v)` (:func:`predict_score_filtered`). For the bilinear score the
   moments are exact (:func:`linclip.theory.filtered_law.kept_moments`). For the cosine the
   corrupted component is exact: two independent isotropic Gaussian vectors have a cosine
   :math:`C` with :math:`(1+C)/2 \sim \mathrm{Beta}(\tfrac{r-1}2, \tfrac{r-1}2)`, independent of
   both norms (:func:`corrupted_cosine_tail`, :func:`corrupted_cosine_partial_mean`); the clean
   component is integrated by Monte Carlo over
   :func:`linclip.theory.score_law.sample_signal_coordinates`.
2. **Why a teacher's cosine is worse than the oracle's** (:func:`teacher_distortion_parts`,
   :func:`expected_rotation_sq`, :func:`clean_cosine_deficits`). In signal coordinates the
   teacher's two embeddings are :math:`A = G_TU` and :math:`B = \tilde G_T\tilde U`; the learner
   identifies only :math:`G_T^\top\tilde G_T`, and :math:`O = B^{-1}A` is, to first order, a
   rotation by small angles :math:`\varphi_k \sim 1/(\eta\sqrt{n_T})` (the antisymmetric part of
   the teacher's error). A clean pair then has cosine :math:`\approx z^\top O z/\|z\|^2`, which
   depends on the *direction* of :math:`z` and not on its norm; the bilinear score
   :math:`\approx\|z\|^2` barely notices :math:`O`. When this rotation deficit exceeds the noise
   deficit :math:`\approx(r-1)(\gamma^{-1}+\tilde\gamma^{-1})/(2\|z\|^2)`, a top-:math:`q` cosine
   filter keeps clean pairs by direction: its kept set is anisotropic.
3. **The first-order law for an anisotropic kept set** (:func:`kept_set_moments`,
   :func:`anisotropic_first_order`):
   :math:`E\|\sin\Theta_U\|_F^2 \approx (d-r)\gamma^{-1}\operatorname{tr}(C^{-\top}\Sigma_vC^{-1})
   /(n_{\rm kept}-1)`, with :math:`C = E[uv^\top\mid\text{kept}]` and
   :math:`\Sigma_v = E[vv^\top\mid\text{kept}]` (it reduces to :math:`r(d-r)\gamma^{-1}m_v/(s^2
   (n_{\rm kept}-1))` when both are multiples of :math:`I_r`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .._knobs import SCORES
from .._validate import (
    check_finite_array,
    check_fraction,
    check_int,
    check_positive,
    check_probability,
)
from .asymptotics import ChiLaw, expected_max, first_order_sin_theta_sq
from .filtered_law import threshold_for_fraction
from .score_law import ScoreLaw, sample_signal_coordinates

__all__ = [
    "corrupted_cosine_tail",
    "corrupted_cosine_partial_mean",
    "mean_norm",
    "KeptSignal",
    "kept_signal",
    "ScoreFilteredPrediction",
    "predict_score_filtered",
    "distorted_oracle",
    "TeacherDistortion",
    "teacher_distortion_parts",
    "expected_rotation_sq",
    "CleanCosineDeficits",
    "clean_cosine_deficits",
    "KeptSetMoments",
    "kept_set_moments",
    "AnisotropicPrediction",
    "anisotropic_first_order",
]


def _check_r(r: int) -> int:
    return check_int("r", r, minimum=2, what=" (a cosine of r = 1 coordinates is only a sign)")


def _check_score(score: str) -> str:
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    return score


# ------------------------------------------------------------------ the corrupted cosine
def corrupted_cosine_tail(c, r: int):
    r""":math:`P_0(c) = \Pr(C > c)` for a corrupted pair (exact).

    The signal coordinates :math:`u, v` of a corrupted pair are independent isotropic Gaussian
    vectors in :math:`\mathbb R^r`, so their cosine :math:`C` has density proportional to
    :math:`(1-t^2)^{(r-3)/2}` on :math:`[-1, 1]`, i.e. :math:`(1+C)/2 \sim
    \mathrm{Beta}(\tfrac{r-1}2, \tfrac{r-1}2)`, whatever :math:`\gamma, \tilde\gamma`, and
    :math:`C` is independent of :math:`\|u\|` and :math:`\|v\|`.

    Parameters
    ----------
    c : float or array_like
        Cosine thresholds in :math:`[-1, 1]` (values outside are clipped).
    r : int
        Rank :math:`r \ge 2`.

    Examples
    --------
    >>> print(f"{corrupted_cosine_tail(0.0, 4):.3f} {corrupted_cosine_tail(0.5, 3):.3f}")
    0.500 0.250
    """
    r = _check_r(r)
    c = np.clip(check_finite_array("c", c), -1.0, 1.0)
    k = (r - 1) / 2.0
    out = special.betaincc(k, k, (1.0 + c) / 2.0)
    return float(out) if out.ndim == 0 else out


def corrupted_cosine_partial_mean(c, r: int):
    r""":math:`E[C\,1\{C > c\}]` for a corrupted pair (exact).

    .. math:: E[C\,1\{C>c\}] = \frac{(1-c^2)^{(r-1)/2}}{(r-1)\,B(\tfrac12, \tfrac{r-1}2)}
              \qquad (-1 \le c \le 1).

    Parameters
    ----------
    c : float or array_like
        Cosine thresholds in :math:`[-1, 1]` (values outside are clipped).
    r : int
        Rank :math:`r \ge 2`.
    """
    r = _check_r(r)
    c = np.clip(check_finite_array("c", c), -1.0, 1.0)
    out = (1.0 - c * c) ** ((r - 1) / 2.0) / ((r - 1) * special.beta(0.5, (r - 1) / 2.0))
    return float(out) if out.ndim == 0 else out


def mean_norm(r: int, variance: float = 1.0) -> float:
    r""":math:`E\|w\|` for :math:`w \sim N(0, \sigma^2 I_r)`.

    :math:`E\|w\| = \sigma\sqrt2\,\Gamma(\tfrac{r+1}2)/\Gamma(\tfrac r2)`.
    """
    r = check_int("r", r)
    variance = check_positive("variance", variance)
    return math.sqrt(2.0 * variance) * math.exp(math.lgamma((r + 1) / 2) - math.lgamma(r / 2))


# ------------------------------------------------------------- the oracle's kept sets
@dataclass(frozen=True)
class KeptSignal:
    r"""Population quantities of the pairs a top-:math:`q` oracle filter keeps, for one score.

    Attributes
    ----------
    score : {"bilinear", "cosine"}
        The score the filter ranks by.
    keep_fraction, eta : float
        Kept fraction :math:`q` and clean fraction :math:`\eta`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    threshold : float
        The threshold with kept fraction :math:`q` (oracle units for ``bilinear``, a cosine
        for ``cosine``).
    kept_fraction : float
        :math:`P = \eta P_1 + (1-\eta)P_0` at the threshold (equal to :math:`q` up to the Monte
        Carlo step of the cosine's clean component).
    tail_clean, tail_corrupted : float
        :math:`P_1` and :math:`P_0` at the threshold.
    kept_clean_fraction : float
        :math:`\eta P_1/P`.
    cross_moment : float
        :math:`s = E[u_iv_i\mid\text{kept}]`.
    second_moment_u, second_moment_v : float
        :math:`m_u = E[u_i^2\mid\text{kept}]`, :math:`m_v = E[v_i^2\mid\text{kept}]`.
    norm_sq_clean, norm_sq_corrupted : float
        :math:`E[\|u\|^2/r \mid\text{kept}]` within the clean and within the corrupted kept
        pairs (:math:`1+\gamma^{-1}` for an unselected pair).
    cross_clean, cross_corrupted : float
        :math:`E[u^\top v/r\mid\text{kept}]` within the clean and the corrupted kept pairs.
    n_mc : int
        Monte Carlo draws of the clean component (0: exact).
    """

    score: str
    keep_fraction: float
    eta: float
    r: int
    gamma: float
    gamma_t: float
    threshold: float
    kept_fraction: float
    tail_clean: float
    tail_corrupted: float
    kept_clean_fraction: float
    cross_moment: float
    second_moment_u: float
    second_moment_v: float
    norm_sq_clean: float
    norm_sq_corrupted: float
    cross_clean: float
    cross_corrupted: float
    n_mc: int

    @property
    def rate_factor(self) -> float:
        r""":math:`F = \sqrt{m_v/(1+\tilde\gamma^{-1})}/(s\sqrt P)`, the first-order error factor
        (:func:`linclip.theory.thresholds.first_order_factor`; :math:`1/\eta` without filter).
        """
        b = 1.0 + 1.0 / self.gamma_t
        return math.sqrt(self.second_moment_v / b) / (
            self.cross_moment * math.sqrt(self.kept_fraction)
        )

    @property
    def kept_correlation(self) -> float:
        r""":math:`\kappa_K = s/\sqrt{m_um_v}`, the per-coordinate correlation of the kept set."""
        return self.cross_moment / math.sqrt(self.second_moment_u * self.second_moment_v)


def _bilinear_kept(q: float, eta: float, r: int, gamma: float, gamma_t: float) -> KeptSignal:
    clean, corrupted = ScoreLaw(r, gamma, gamma_t, True), ScoreLaw(r, gamma, gamma_t, False)
    theta = float(threshold_for_fraction(q, eta, r, gamma, gamma_t)) if q < 1 else -math.inf
    if q < 1:
        m1, m0 = clean.tail_moments(theta), corrupted.tail_moments(theta)
        p1, p0 = float(m1.prob), float(m0.prob)
        s1, s0 = float(m1.partial_score) / r, float(m0.partial_score) / r
        u1, u0 = float(m1.partial_u2), float(m0.partial_u2)
        v1, v0 = float(m1.partial_v2), float(m0.partial_v2)
    else:
        p1 = p0 = 1.0
        s1, s0 = 1.0, 0.0
        u1 = u0 = clean.a
        v1 = v0 = clean.b
    return _combine(
        "bilinear", q, eta, r, gamma, gamma_t, theta, p1, p0, s1, s0, u1, u0, v1, v0, 0
    )


def _combine(score, q, eta, r, gamma, gamma_t, thr, p1, p0, s1, s0, u1, u0, v1, v0, n_mc):
    """Mixture of the two components' partial moments (each E[f 1{kept}])."""
    kept = eta * p1 + (1.0 - eta) * p0
    nan = math.nan
    return KeptSignal(
        score=score,
        keep_fraction=q,
        eta=eta,
        r=r,
        gamma=gamma,
        gamma_t=gamma_t,
        threshold=float(thr),
        kept_fraction=kept,
        tail_clean=p1,
        tail_corrupted=p0,
        kept_clean_fraction=eta * p1 / kept,
        cross_moment=(eta * s1 + (1.0 - eta) * s0) / kept,
        second_moment_u=(eta * u1 + (1.0 - eta) * u0) / kept,
        second_moment_v=(eta * v1 + (1.0 - eta) * v0) / kept,
        norm_sq_clean=u1 / p1 if p1 > 0 else nan,
        norm_sq_corrupted=u0 / p0 if p0 > 0 else nan,
        cross_clean=s1 / p1 if p1 > 0 else nan,
        cross_corrupted=s0 / p0 if p0 > 0 else nan,
        n_mc=n_mc,
    )


def _cosine_kept(
    q: float, eta: float, r: int, gamma: float, gamma_t: float, n_mc: int, seed: int
) -> KeptSignal:
    a, b = 1.0 + 1.0 / gamma, 1.0 + 1.0 / gamma_t
    sig = sample_signal_coordinates(n_mc, r, gamma, gamma_t, eta=1.0, rng=seed)
    uv = np.einsum("ij,ij->i", sig.u, sig.v)
    nu2, nv2 = np.einsum("ij,ij->i", sig.u, sig.u), np.einsum("ij,ij->i", sig.v, sig.v)
    cos = uv / np.sqrt(nu2 * nv2)
    order = np.argsort(-cos)
    cos_sorted = cos[order]

    def excess(c: float) -> float:
        p1 = np.searchsorted(-cos_sorted, -c, side="left") / n_mc  # share with cos > c
        return eta * p1 + (1.0 - eta) * float(corrupted_cosine_tail(c, r)) - q

    if q < 1:
        lo, hi = -1.0, 1.0
        if excess(lo) < 0:  # pragma: no cover - q <= 1 always has a root at -1
            raise ValueError(f"keep_fraction q = {q:g} cannot be reached")
        c = float(optimize.bisect(excess, lo, hi, xtol=1e-14, maxiter=200))
    else:
        c = -1.0
    kept = cos > c if q < 1 else np.ones(n_mc, dtype=bool)
    p1 = float(kept.mean())
    s1 = float(uv[kept].sum() / (r * n_mc))
    u1 = float(nu2[kept].sum() / (r * n_mc))
    v1 = float(nv2[kept].sum() / (r * n_mc))
    p0 = float(corrupted_cosine_tail(c, r))
    s0 = mean_norm(r, a) * mean_norm(r, b) * float(corrupted_cosine_partial_mean(c, r)) / r
    return _combine(
        "cosine", q, eta, r, gamma, gamma_t, c, p1, p0, s1, s0, u1, a * p0, v1, b * p0, n_mc
    )


def kept_signal(
    score: str,
    keep_fraction: float,
    eta: float,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    n_mc: int = 400_000,
    seed: int = 0,
) -> KeptSignal:
    r"""The kept set of the top-:math:`q` oracle filter by the bilinear or the cosine score.

    Parameters
    ----------
    score : {"bilinear", "cosine"}
        The oracle's score: :math:`u^\top v` or :math:`u^\top v/(\|u\|\|v\|)`.
    keep_fraction : float
        Kept fraction :math:`q \in (0, 1]`.
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    r : int
        Rank :math:`r \ge 2`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma`.
    n_mc : int
        Monte Carlo draws of clean pairs for the cosine (the bilinear score is exact).
    seed : int
        Seed of those draws.

    Returns
    -------
    KeptSignal

    Notes
    -----
    Cosine: the corrupted component is exact (:func:`corrupted_cosine_tail`; the norms of a
    corrupted pair are independent of its cosine, so
    :math:`E[u^\top v\,1\{C>c\}] = E\|u\|\,E\|v\|\,E[C1\{C>c\}]` and
    :math:`E[u_i^2 1\{C>c\}] = (1+\gamma^{-1})P_0(c)`); the clean component is the average
    over ``n_mc`` clean draws, and the threshold solves
    :math:`\eta\hat P_1(c) + (1-\eta)P_0(c) = q`. Relative Monte Carlo error of the clean
    moments: about :math:`1/\sqrt{n_{mc}P_1}`.

    Examples
    --------
    >>> k = kept_signal("bilinear", 0.1, 0.3, 4)
    >>> print(f"{k.kept_clean_fraction:.3f} {k.norm_sq_clean:.3f}")
    0.907 1.860
    """
    score = _check_score(score)
    q = check_fraction("keep_fraction (q)", keep_fraction)
    eta = check_probability("eta (clean fraction)", eta)
    r = _check_r(r)
    gamma = check_positive("gamma", gamma, allow_inf=True)
    gamma_t = check_positive("gamma_t", gamma_t, allow_inf=True)
    if score == "bilinear":
        return _bilinear_kept(q, eta, r, gamma, gamma_t)
    n_mc = check_int("n_mc", n_mc, minimum=1000)
    return _cosine_kept(q, eta, r, gamma, gamma_t, n_mc, int(seed))


@dataclass(frozen=True)
class ScoreFilteredPrediction:
    r"""First-order prediction of the error of a top-:math:`q` oracle-filtered student.

    Attributes
    ----------
    kept : KeptSignal
        The kept set's moments.
    n_pool : int
        Pairs offered to the filter.
    n_kept : float
        :math:`P\,n_{\rm pool}`.
    err_x, err_xt, err : float
        Predicted :math:`E\|\sin\Theta_U\|_F`, :math:`E\|\sin\Theta_{\tilde U}\|_F` and
        :math:`E[\mathrm{ERR}]`.
    """

    kept: KeptSignal
    n_pool: int
    n_kept: float
    err_x: float
    err_xt: float
    err: float


def predict_score_filtered(
    score: str,
    n_pool: int,
    eta: float,
    d: int,
    d_t: int,
    r: int,
    gamma: float = 1e4,
    gamma_t: float = 1e4,
    *,
    keep_fraction: float,
    n_mc: int = 400_000,
    seed: int = 0,
) -> ScoreFilteredPrediction:
    r"""First-order :math:`E[\mathrm{ERR}]` of the student of a top-:math:`q` oracle filter.

    .. math:: E\|\sin\Theta_U\|_F^2 \approx \frac{r(d-r)\gamma^{-1}m_v}{s^2(qn_{\rm pool}-1)},
              \qquad E\|\sin\Theta_{\tilde U}\|_F^2 \approx
              \frac{r(\tilde d-r)\tilde\gamma^{-1}m_u}{s^2(qn_{\rm pool}-1)},

    with the score's kept moments (:func:`kept_signal`); for ``bilinear`` this is
    :func:`linclip.theory.prediction.predict_filtered` for ``oracle-score``. It holds for the
    cosine because the cosine, like the bilinear score, depends on the signal coordinates only
    and is invariant under joint rotations. It is *not* a prediction for a teacher's cosine
    (see :func:`teacher_distortion_parts`).

    Parameters
    ----------
    score : {"bilinear", "cosine"}
        The oracle's score.
    n_pool : int
        Pairs offered to the filter (:math:`n`, or :math:`n - \lfloor n/2\rfloor`).
    eta, d, d_t, r, gamma, gamma_t
        The model :math:`(\eta, d, \tilde d, r, \gamma, \tilde\gamma)`.
    keep_fraction : float
        Kept fraction :math:`q`.
    n_mc, seed : int
        Monte Carlo draws and seed of :func:`kept_signal` (cosine only).
    """
    d = check_int("d", d)
    d_t = check_int("d_t", d_t)
    r = check_int("r", r, maximum=min(d, d_t), what=" with 2 <= r <= min(d, d_t)")
    n_pool = check_int("n_pool", n_pool, minimum=2)
    kept = kept_signal(score, keep_fraction, eta, r, gamma, gamma_t, n_mc=n_mc, seed=seed)
    n_kept = kept.kept_fraction * n_pool
    if not n_kept > 1.0:
        raise ValueError(
            f"keep_fraction q = {keep_fraction:g} keeps about {n_kept:.3g} of {n_pool} pairs; "
            "the prediction needs more than one"
        )
    law_x = first_order_sin_theta_sq(
        n_kept, d, r, 1.0 / kept.gamma, kept.second_moment_v, kept.cross_moment
    )
    law_xt = first_order_sin_theta_sq(
        n_kept, d_t, r, 1.0 / kept.gamma_t, kept.second_moment_u, kept.cross_moment
    )
    return ScoreFilteredPrediction(
        kept=kept,
        n_pool=n_pool,
        n_kept=n_kept,
        err_x=law_x.mean,
        err_xt=law_xt.mean,
        err=expected_max(law_x, law_xt, 1.0),
    )


# ------------------------------------------------------ the teacher's embedding rotation
def distorted_oracle(U: np.ndarray, U_t: np.ndarray, angles=0.0, stretch: float = 0.0):
    r"""The oracle's embeddings with a rotation between them and a common stretch.

    Returns :class:`~linclip.learners.contrastive.Encoders` :math:`(DRU^\top, D\tilde U^\top)`: :math:`R`
    rotates the coordinate planes :math:`(1,2), (3,4), \dots` of :math:`\mathbb R^r` by the
    angles :math:`\varphi_1, \varphi_2, \dots` and :math:`D` is diagonal with
    :math:`e^{\delta/2}` on the first :math:`\lceil r/2\rceil` coordinates and
    :math:`e^{-\delta/2}` on the others. The teacher's signal block is then
    :math:`W = R^\top D^2`, with singular values :math:`e^{\pm\delta}`: the two kinds of error
    a trained teacher makes inside the signal subspace (:func:`teacher_distortion_parts`),
    isolated. Its bilinear score is :math:`u^\top R^\top D^2v`, its cosine
    :math:`\cos(DRu, Dv)`; hand it to the engine as ``teacher=`` of the ``given-teacher``
    method.

    Parameters
    ----------
    U, U_t : ndarray
        True bases :math:`U` (d, r) and :math:`\tilde U` (d_t, r).
    angles : float or sequence of float
        One rotation angle (radians) for every plane, or one per plane (at most
        :math:`\lfloor r/2\rfloor`; missing planes are not rotated).
    stretch : float
        :math:`\delta`, the log of the largest singular value of :math:`W` (0: none).

    Examples
    --------
    >>> import numpy as np
    >>> t = distorted_oracle(np.eye(4), np.eye(4), [0.5])
    >>> print(np.round(t.G[:2, :2], 3).tolist(), np.allclose(t.G[2:, 2:], np.eye(2)))
    [[0.878, -0.479], [0.479, 0.878]] True
    """
    from ..learners.contrastive import Encoders

    U = check_finite_array("U", U, ndim=2)
    U_t = check_finite_array("U_t", U_t, ndim=2)
    if U.shape[1] != U_t.shape[1]:
        raise ValueError(f"U {U.shape} and U_t {U_t.shape} need the same rank r")
    r = U.shape[1]
    phi = check_finite_array("angles", angles)
    if phi.ndim == 0:
        phi = np.full(r // 2, float(phi))
    if phi.ndim != 1 or phi.size > r // 2:
        raise ValueError(
            f"angles must be one number or at most r // 2 = {r // 2} numbers; got {phi.tolist()}"
        )
    delta = float(check_finite_array("stretch", stretch))
    R = np.eye(r)
    for k, angle in enumerate(phi.tolist()):
        c, s = math.cos(angle), math.sin(angle)
        R[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[c, -s], [s, c]]
    half = (r + 1) // 2
    D = np.diag(np.r_[np.full(half, math.exp(delta / 2)), np.full(r - half, math.exp(-delta / 2))])
    return Encoders(D @ R @ U.T, D @ U_t.T)


@dataclass(frozen=True)
class TeacherDistortion:
    r"""A teacher's error inside the signal subspace, in its two parts.

    In signal coordinates the teacher's embeddings are :math:`A = G_TU` and
    :math:`B = \tilde G_T\tilde U` (:math:`r\times r`), and its score matrix's signal block is
    :math:`W = A^\top B` (the oracle has :math:`A = B = I`).

    Attributes
    ----------
    mismatch : ndarray, shape (r, r)
        :math:`O = B^{-1}A`, the map between the two embeddings (identity for the oracle; for
        the closed-form learner, whose two factors share the singular values, a rotation).
    angles : ndarray, shape (r // 2,)
        Rotation angles :math:`\varphi_k \ge 0` of the orthogonal polar factor of :math:`O`
        (eigenvalues :math:`e^{\pm i\varphi_k}`), largest first. The cosine of a clean pair
        sees them.
    singular_values : ndarray, shape (r,)
        Singular values of :math:`W` divided by their geometric mean, descending. The bilinear
        score of a clean pair sees their spread.
    stretch : float
        :math:`\delta = \tfrac12\log(\sigma_1/\sigma_r)` of :math:`W`.
    """

    mismatch: np.ndarray
    angles: np.ndarray
    singular_values: np.ndarray
    stretch: float

    @property
    def angle_sq(self) -> float:
        r""":math:`\sum_k\varphi_k^2`."""
        return float(np.sum(self.angles**2))


def teacher_distortion_parts(teacher, U: np.ndarray, U_t: np.ndarray) -> TeacherDistortion:
    r"""Split a teacher's signal-subspace error into the rotation and the stretch.

    Parameters
    ----------
    teacher : Encoders
        The teacher :math:`(G_T, \tilde G_T)`.
    U, U_t : ndarray
        True bases :math:`U`, :math:`\tilde U`.

    Notes
    -----
    A clean, noiseless pair :math:`x = Uz`, :math:`\tilde x = \tilde Uz` has the teacher
    scores :math:`z^\top Wz` (bilinear) and :math:`\cos(BOz, Bz)` (cosine). The first is
    :math:`\|z\|^2` up to the spread of :math:`W`'s singular values and is blind to a small
    rotation (second order); the second is 1 for :math:`O = I` whatever the stretch of
    :math:`B`, and falls by about :math:`1 - z^\top Oz/\|z\|^2` under a rotation: a
    function of the direction of :math:`z` only.

    Examples
    --------
    >>> import numpy as np
    >>> parts = teacher_distortion_parts(distorted_oracle(np.eye(4), np.eye(4), [0.2], 0.1),
    ...                                  np.eye(4), np.eye(4))
    >>> print(np.round(parts.angles, 4).tolist(), round(parts.stretch, 4))
    [0.2, 0.0] 0.1
    """
    A = np.asarray(teacher.G) @ check_finite_array("U", U, ndim=2)
    B = np.asarray(teacher.G_t) @ check_finite_array("U_t", U_t, ndim=2)
    mismatch = np.linalg.solve(B, A)
    W_, _, Vt = np.linalg.svd(mismatch)
    phases = np.sort(np.abs(np.angle(np.linalg.eigvals(W_ @ Vt))))[::-1]
    r = mismatch.shape[0]
    angles = phases[0 : 2 * (r // 2) : 2]  # eigenvalues come in pairs e^{+-i phi}
    sv = np.linalg.svd(A.T @ B, compute_uv=False)
    sv = sv / math.exp(float(np.mean(np.log(sv))))
    return TeacherDistortion(
        mismatch=mismatch,
        angles=angles,
        singular_values=sv,
        stretch=0.5 * math.log(float(sv[0] / sv[-1])),
    )


def expected_rotation_sq(
    n_teacher: int, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> float:
    r"""First-order :math:`E\sum_k\varphi_k^2` of a teacher trained on :math:`n_T` pairs.

    In oracle units the teacher's signal block is :math:`W \approx I + E/\eta` with
    :math:`E = U^\top S_{n_T}\tilde U - \eta I`; its rotation is the antisymmetric part
    :math:`K = (E - E^\top)/(2\eta)`. Off the diagonal
    :math:`\operatorname{Var}E_{ij} = ab/(n_T-1)` and
    :math:`\operatorname{Cov}(E_{ij}, E_{ji}) = \eta/(n_T-1)`, so
    :math:`E\|K\|_F^2 = r(r-1)(ab-\eta)/(2\eta^2(n_T-1))`, and
    :math:`\|K\|_F^2 = 2\sum_k\varphi_k^2` gives

    .. math:: E\sum_k\varphi_k^2 \approx \frac{r(r-1)(ab-\eta)}{4\eta^2(n_T-1)}.

    Parameters
    ----------
    n_teacher : int
        The teacher's pairs :math:`n_T`.
    eta : float
        Clean fraction :math:`\eta`.
    r : int
        Rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters (:math:`a = 1+\gamma^{-1}`, :math:`b = 1+\tilde\gamma^{-1}`).
    """
    n_teacher = check_int("n_teacher", n_teacher, minimum=2)
    eta = check_probability("eta (clean fraction)", eta)
    r = check_int("r", r)
    a = 1.0 + 1.0 / check_positive("gamma", gamma, allow_inf=True)
    b = 1.0 + 1.0 / check_positive("gamma_t", gamma_t, allow_inf=True)
    return r * (r - 1) * (a * b - eta) / (4.0 * eta**2 * (n_teacher - 1))


@dataclass(frozen=True)
class CleanCosineDeficits:
    r"""Mean cosine deficit :math:`1 - C` of a clean pair: from noise and from the rotation.

    Attributes
    ----------
    noise : float
        :math:`(r-1)(\gamma^{-1}+\tilde\gamma^{-1})/(2(r-2))` (the oracle's; :math:`E[1/\|z\|^2]
        = 1/(r-2)`); ``inf`` for :math:`r = 2`.
    rotation : float
        :math:`(1/r)E\sum_k\varphi_k^2\cdot\ldots` — precisely :math:`E\sum_k\varphi_k^2/r`
        (:func:`expected_rotation_sq`), the mean of :math:`1 - z^\top Oz/\|z\|^2`.
    ratio : float
        ``rotation / noise``: above 1, a teacher's top-:math:`q` cosine keeps clean pairs by
        the direction of their latent rather than by their noise.
    n_teacher_crossover : float
        The :math:`n_T` at which ``ratio`` is 1.
    """

    noise: float
    rotation: float
    ratio: float
    n_teacher_crossover: float


def clean_cosine_deficits(
    n_teacher: int, eta: float, r: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> CleanCosineDeficits:
    r"""Compare the two sources of a clean pair's cosine deficit for a teacher of :math:`n_T` pairs.

    To second order in the noise, a clean pair :math:`u = z + \varepsilon`,
    :math:`v = z + \tilde\varepsilon` has :math:`1 - C \approx
    \|P_{z}^\perp(\varepsilon - \tilde\varepsilon)\|^2/(2\|z\|^2)`, of mean
    :math:`(r-1)(\gamma^{-1}+\tilde\gamma^{-1})E[1/\|z\|^2]/2`; a rotation :math:`O` with plane
    angles :math:`\varphi_k` adds :math:`1 - z^\top Oz/\|z\|^2`, of mean
    :math:`\sum_k 2(1-\cos\varphi_k)/r \approx \sum_k\varphi_k^2/r`.

    Parameters
    ----------
    n_teacher : int
        The teacher's pairs :math:`n_T`.
    eta, r, gamma, gamma_t
        Clean fraction, rank (:math:`r \ge 3` for a finite noise deficit) and
        signal-to-noise parameters.
    """
    r = check_int("r", r, minimum=2)
    noise_var = 1.0 / check_positive("gamma", gamma, allow_inf=True) + 1.0 / check_positive(
        "gamma_t", gamma_t, allow_inf=True
    )
    noise = math.inf if r == 2 else (r - 1) * noise_var / (2.0 * (r - 2))
    rotation = expected_rotation_sq(n_teacher, eta, r, gamma, gamma_t) / r
    ratio = rotation / noise if noise > 0 else math.inf
    crossover = (n_teacher - 1) * ratio + 1 if math.isfinite(ratio) else math.inf
    return CleanCosineDeficits(noise, rotation, ratio, crossover)


# --------------------------------------------------------- anisotropic kept sets (plug-in)
@dataclass(frozen=True)
class KeptSetMoments:
    r"""Signal moments of a set of kept pairs (centred, as the learner uses them).

    Attributes
    ----------
    cross : ndarray, shape (r, r)
        :math:`C = \widehat E[uv^\top]` with :math:`u = U^\top x`, :math:`v = \tilde U^\top\tilde x`.
    second_u, second_v : ndarray, shape (r, r)
        :math:`\Sigma_u = \widehat E[uu^\top]`, :math:`\Sigma_v = \widehat E[vv^\top]`.
    n_kept : int
        Number of kept pairs.
    """

    cross: np.ndarray
    second_u: np.ndarray
    second_v: np.ndarray
    n_kept: int

    @property
    def spectrum_u(self) -> np.ndarray:
        r"""Eigenvalues of :math:`\Sigma_u`, ascending (all equal for an isotropic kept set)."""
        return np.linalg.eigvalsh(self.second_u)

    @property
    def anisotropy(self) -> float:
        r"""Smallest over largest eigenvalue of :math:`\Sigma_u` (1 = isotropic)."""
        ev = self.spectrum_u
        return float(ev[0] / ev[-1])


def kept_set_moments(
    x: np.ndarray, xt: np.ndarray, U: np.ndarray, U_t: np.ndarray, mask: np.ndarray
) -> KeptSetMoments:
    r"""The signal moments :math:`C, \Sigma_u, \Sigma_v` of the kept pairs ``mask``.

    Parameters
    ----------
    x, xt : ndarray
        Pairs, shapes (n, d) and (n, d_t).
    U, U_t : ndarray
        True bases.
    mask : ndarray of bool, shape (n,)
        The kept pairs.
    """
    x = check_finite_array("x", x, ndim=2)
    xt = check_finite_array("xt", xt, ndim=2)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (x.shape[0],) or xt.shape[0] != x.shape[0]:
        raise ValueError(
            f"mask must be a boolean array of shape ({x.shape[0]},) for {x.shape[0]} pairs; "
            f"got dtype {mask.dtype}, shape {mask.shape} ({xt.shape[0]} rows of xt)"
        )
    k = int(mask.sum())
    if k < 2:
        raise ValueError(f"need at least 2 kept pairs; got {k}")
    u = x[mask] @ np.asarray(U)
    v = xt[mask] @ np.asarray(U_t)
    u = u - u.mean(axis=0)
    v = v - v.mean(axis=0)
    return KeptSetMoments(u.T @ v / (k - 1), u.T @ u / (k - 1), v.T @ v / (k - 1), k)


@dataclass(frozen=True)
class AnisotropicPrediction:
    r"""First-order error of a student trained on a kept set with given signal moments.

    Attributes
    ----------
    err_x_sq, err_xt_sq : float
        Predicted :math:`E\|\sin\Theta_U\|_F^2` and :math:`E\|\sin\Theta_{\tilde U}\|_F^2`.
    err : float
        Predicted :math:`E[\mathrm{ERR}]`, treating each side as a scaled :math:`\chi` law with
        that mean square (exact when the kept set is isotropic).
    trace_x, trace_xt : float
        :math:`\operatorname{tr}(C^{-\top}\Sigma_vC^{-1})` and
        :math:`\operatorname{tr}(C^{-1}\Sigma_uC^{-\top})` (:math:`rm_v/s^2`, :math:`rm_u/s^2`
        when isotropic).
    """

    err_x_sq: float
    err_xt_sq: float
    err: float
    trace_x: float
    trace_xt: float


def anisotropic_first_order(
    moments: KeptSetMoments, d: int, d_t: int, gamma: float = 1e4, gamma_t: float = 1e4
) -> AnisotropicPrediction:
    r"""First-order error of the student of a kept set, from its signal moments.

    The student's :math:`\hat U` has :math:`\tan\Theta \approx NC^{-1}`, where
    :math:`N = \widehat E[bv^\top]` pairs the :math:`d-r` noise coordinates
    :math:`b = U_\perp^\top x` (independent of a filter that sees only the signal coordinates)
    with the partner's signal coordinates; :math:`E[N^\top N] = (d-r)\gamma^{-1}\Sigma_v/(n-1)`,
    so

    .. math:: E\|\sin\Theta_U\|_F^2 \approx \frac{(d-r)\,\gamma^{-1}\,
              \operatorname{tr}(C^{-\top}\Sigma_v C^{-1})}{n_{\rm kept}-1},

    and the mirror image for :math:`\tilde U`. With :math:`C = sI`, :math:`\Sigma_v = m_vI` it is
    :func:`linclip.theory.asymptotics.first_order_sin_theta_sq`. Directions that the filter
    depletes (small eigenvalues of :math:`C`) dominate the trace.

    Parameters
    ----------
    moments : KeptSetMoments
        :math:`C, \Sigma_u, \Sigma_v` and :math:`n_{\rm kept}` (:func:`kept_set_moments`).
    d, d_t : int
        Dimensions :math:`d, \tilde d`.
    gamma, gamma_t : float
        Signal-to-noise parameters.
    """
    if not isinstance(moments, KeptSetMoments):
        raise ValueError(f"moments must be a KeptSetMoments; got {type(moments).__name__}")
    r = moments.cross.shape[0]
    d = check_int("d", d, minimum=r, what=f" at least r = {r}")
    d_t = check_int("d_t", d_t, minimum=r, what=f" at least r = {r}")
    nv = 1.0 / check_positive("gamma", gamma, allow_inf=True)
    nv_t = 1.0 / check_positive("gamma_t", gamma_t, allow_inf=True)
    Ci = np.linalg.inv(moments.cross)
    tr_x = float(np.trace(Ci.T @ moments.second_v @ Ci))
    tr_xt = float(np.trace(Ci @ moments.second_u @ Ci.T))
    dof = moments.n_kept - 1
    sq_x = (d - r) * nv * tr_x / dof
    sq_xt = (d_t - r) * nv_t * tr_xt / dof

    def law(D: int, sq: float) -> ChiLaw:
        k = r * (D - r)
        return ChiLaw(dof=k, scale=sq / k if k else 0.0)

    return AnisotropicPrediction(
        err_x_sq=sq_x,
        err_xt_sq=sq_xt,
        err=expected_max(law(d, sq_x), law(d_t, sq_xt), 1.0),
        trace_x=tr_x,
        trace_xt=tr_xt,
    )
