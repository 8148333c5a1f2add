r"""First-order theory under structured noise (our derivation; Part III, "Structured noise").

The paper assumes isotropic noise :math:`\Sigma_\xi = \gamma^{-1}I`. With a general noise
covariance (:class:`linclip.data.model.NoiseModel`: spiked or heteroskedastic) split it in the
signal coordinates of each modality,

.. math::

   A = \operatorname{Cov}(U^\top x) = I_r + U^\top\Sigma_\xi U,\qquad
   \Sigma_b = \operatorname{Cov}(U_\perp^\top x) = U_\perp^\top\Sigma_\xi U_\perp,

and :math:`B = I_r + \tilde U^\top\Sigma_{\tilde\xi}\tilde U`,
:math:`\Sigma_{\tilde b} = \tilde U_\perp^\top\Sigma_{\tilde\xi}\tilde U_\perp` for
:math:`\tilde x`. What extends and what does not:

* **Unfiltered learner** (:func:`predict_structured`, ``method="none"``). :math:`E[S_n] =
  \eta U\tilde U^\top` is unchanged, and at first order
  :math:`\sin\Theta_U \approx U_\perp^\top E\tilde U/\eta` with :math:`U_\perp^\top S_n\tilde U` the
  centred mean of :math:`b v^\top`, where :math:`b = U_\perp^\top\xi` is independent of
  :math:`v = \tilde U^\top\tilde x` for *every* noise covariance. Hence

  .. math::

     E\|\sin\Theta_U\|_F^2 \approx \frac{\operatorname{tr}(\Sigma_b)\,\operatorname{tr}(B)}
     {\eta^2 (n-1)},

  a weighted sum of :math:`\chi^2_1` with weights :math:`\beta_i\omega_j/(\eta^2(n-1))`
  (eigenvalues of :math:`\Sigma_b` and :math:`B`), matched here by a scaled :math:`\chi^2` of the
  same mean and variance (Satterthwaite), and the same for :math:`\tilde U` with
  :math:`\Sigma_{\tilde b}` and :math:`A`. Isotropic noise gives back
  :func:`linclip.theory.asymptotics.predict_unfiltered` exactly.
* **Clean-label oracle**: the same with :math:`\eta \to 1`, :math:`n \to \eta n`.
* **Oracle-score filter**: extends only when the filter's coordinates :math:`(u, v)` stay
  independent of :math:`(b, \tilde b)` *and* their law is the isotropic one, i.e.
  :math:`U^\top\Sigma_\xi U = \gamma^{-1}I`, :math:`U_\perp^\top\Sigma_\xi U = 0` (and the same for
  :math:`\tilde x`): isotropic noise or spikes orthogonal to the signal. Then
  :math:`E\|\sin\Theta_U\|_F^2 \approx r\operatorname{tr}(\Sigma_b)m_v/(s^2(n_{\rm kept}-1))` with
  the kept moments of :func:`linclip.theory.prediction.predict_filtered`. Otherwise (random
  spikes, heteroskedastic noise) :math:`E[b\,v^\top\mid\text{kept}] \neq 0`: the filtered
  population cross-covariance leaves :math:`U\tilde U^\top`'s span, the filtered student is
  biased, and :func:`predict_structured` refuses.
* **Teacher filters**: not predicted. The teacher's tilt enters its score through the noise
  coordinates, and a spike makes that term large (:func:`teacher_tilt_variance` gives its
  first-order variance); the simulation answers the rest.
* **Score law** (:func:`oracle_score_moments`): mean :math:`r` (clean) or 0 (corrupted) for every
  noise covariance; variance :math:`\operatorname{tr}(AB) + r\,1\{\text{clean}\}`.
* **PCA** (:func:`predict_pca`): the top-:math:`r` eigenspace of :math:`UU^\top + \Sigma_\xi`
  (a population bias when it is not :math:`U`: a spike stronger than the signal, or any spike or
  profile that leaks into the signal subspace) plus the classical first-order fluctuation
  :math:`\sum_{i\le r<j}\ell_i\ell_j/((\ell_i-\ell_j)^2(n-1))`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._knobs import check_filter_knob
from .._validate import check_int
from ..data.model import BimodalModel
from .asymptotics import ChiLaw, expected_max
from .prediction import predict_filtered

__all__ = [
    "NoiseBlocks",
    "noise_blocks",
    "weighted_chi_law",
    "StructuredPrediction",
    "STRUCTURED_METHODS",
    "predict_structured",
    "oracle_score_moments",
    "teacher_tilt_variance",
    "PCAPrediction",
    "predict_pca",
]

#: Methods :func:`predict_structured` predicts (the oracle score only under orthogonal spikes).
STRUCTURED_METHODS = ("none", "oracle-clean", "oracle-score")

#: Below this, a block of the noise covariance counts as zero (round-off of the QR bases).
_TOL = 1e-10


def _check_model(model: object) -> BimodalModel:
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    return model


@dataclass(frozen=True)
class NoiseBlocks:
    r"""The noise covariance of one modality in its signal and noise coordinates.

    Attributes
    ----------
    signal : ndarray, shape (r, r)
        :math:`A = I_r + U^\top\Sigma_\xi U`, the covariance of the signal coordinates.
    complement : ndarray, shape (D - r, D - r)
        :math:`\Sigma_b = U_\perp^\top\Sigma_\xi U_\perp`, the covariance of the noise coordinates.
    leak : float
        :math:`\|U_\perp^\top\Sigma_\xi U\|_F`, the coupling of the two (0 for isotropic noise
        and for spikes orthogonal to the signal).
    """

    signal: np.ndarray
    complement: np.ndarray
    leak: float

    @property
    def signal_isotropic(self) -> bool:
        """Whether :math:`A` is a multiple of the identity (the score law is the paper's)."""
        a = float(np.trace(self.signal)) / self.signal.shape[0]
        return bool(np.max(np.abs(self.signal - a * np.eye(self.signal.shape[0]))) < _TOL)


def noise_blocks(model: BimodalModel) -> tuple[NoiseBlocks, NoiseBlocks]:
    r"""The :class:`NoiseBlocks` of :math:`x` and of :math:`\tilde x` (any noise kind).

    Examples
    --------
    >>> from linclip.data.model import BimodalModel, NoiseModel
    >>> m = BimodalModel(10, 8, 4, gamma=1.0, noise=NoiseModel("spiked", 2, 5.0))
    >>> bx, bt = noise_blocks(m)
    >>> round(float(bx.complement.trace()), 6), bx.leak < 1e-12, bx.signal_isotropic
    (16.0, True, True)
    """
    model = _check_model(model)
    out = []
    for U, cov in (
        (model.U, model.noise_covariance_x()),
        (model.U_t, model.noise_covariance_xt()),
    ):
        r = U.shape[1]
        q, _ = np.linalg.qr(U, mode="complete")
        perp = q[:, r:]
        out.append(
            NoiseBlocks(
                signal=np.eye(r) + U.T @ cov @ U,
                complement=perp.T @ cov @ perp,
                leak=float(np.linalg.norm(perp.T @ cov @ U)),
            )
        )
    return out[0], out[1]


def weighted_chi_law(weights: np.ndarray) -> ChiLaw:
    r"""Scaled :math:`\chi` law matching :math:`\sum_k w_k\chi^2_{1,k}` in mean and variance.

    Satterthwaite: :math:`\nu = (\sum w)^2/\sum w^2` degrees of freedom (rounded to an integer
    :math:`\ge 1`, as :class:`~linclip.theory.asymptotics.ChiLaw` needs) and scale
    :math:`\sum w/\nu`, so the mean square :math:`\sum_k w_k` is exact.

    Parameters
    ----------
    weights : array of float
        Non-negative weights :math:`w_k`.
    """
    w = np.asarray(weights, dtype=float).ravel()
    if w.size == 0 or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be a non-empty array of finite numbers >= 0")
    total = float(w.sum())
    if total == 0.0:
        return ChiLaw(dof=0, scale=0.0)
    dof = max(1, int(round(total**2 / float(np.sum(w**2)))))
    return ChiLaw(dof=dof, scale=total / dof)


@dataclass(frozen=True)
class StructuredPrediction:
    r"""First-order prediction of a student's error under structured noise.

    Attributes
    ----------
    method : str
        One of :data:`STRUCTURED_METHODS`.
    n : int
        Pairs :math:`n`.
    n_kept : float
        Expected pairs the student trains on.
    cross_moment : float
        :math:`s`: :math:`\eta` (none), 1 (clean-label oracle), :math:`s(\theta)` (oracle score).
    law_x, law_xt : ChiLaw
        Satterthwaite laws of :math:`\|\sin\Theta_U\|_F`, :math:`\|\sin\Theta_{\tilde U}\|_F`.
    err_x_sq, err_xt_sq : float
        First-order :math:`E\|\sin\Theta\|_F^2` of each side (exact at first order).
    err : float
        :math:`E[\mathrm{ERR}]`, ERR the larger side (:func:`~linclip.theory.asymptotics.expected_max`).
    """

    method: str
    n: int
    n_kept: float
    cross_moment: float
    law_x: ChiLaw
    law_xt: ChiLaw
    err_x_sq: float
    err_xt_sq: float
    err: float


def _side(complement: np.ndarray, partner: np.ndarray, s: float, n_kept: float) -> ChiLaw:
    beta = np.clip(np.linalg.eigvalsh(complement), 0.0, None)
    omega = np.clip(np.linalg.eigvalsh(partner), 0.0, None)
    return weighted_chi_law(np.outer(beta, omega).ravel() / (s**2 * (n_kept - 1.0)))


def predict_structured(
    model: BimodalModel,
    n: int,
    method: str = "none",
    *,
    theta: float | None = None,
    keep_fraction: float | None = None,
) -> StructuredPrediction:
    r"""First-order error of the unfiltered learner or an oracle filter under any noise covariance.

    Parameters
    ----------
    model : BimodalModel
        The model, with its :class:`~linclip.data.model.NoiseModel` (:math:`\eta` from it).
    n : int
        Number of pairs :math:`n`.
    method : {"none", "oracle-clean", "oracle-score"}
        ``none`` and ``oracle-clean`` extend to every noise covariance; ``oracle-score`` only to
        noise whose signal block is isotropic and uncoupled (isotropic noise, spikes orthogonal
        to the signal), and raises ValueError otherwise.
    theta, keep_fraction : float, optional
        The oracle score's knob (threshold :math:`\theta` in oracle units, or kept fraction
        :math:`q`); default :math:`\theta = 0`.

    Examples
    --------
    >>> from linclip.data.model import BimodalModel
    >>> from linclip.theory.asymptotics import predict_unfiltered
    >>> m = BimodalModel(10, 8, 4, gamma=100.0, gamma_t=50.0, eta=0.3)
    >>> a = predict_structured(m, 10_000).err
    >>> b = predict_unfiltered(10_000, 0.3, 10, 8, 4, 100.0, 50.0).err
    >>> abs(a / b - 1) < 1e-9
    True
    """
    model = _check_model(model)
    if method not in STRUCTURED_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(STRUCTURED_METHODS)} (the teacher methods have no "
            f"first-order prediction under structured noise); got {method!r}"
        )
    n = check_int("n", n, minimum=model.r + 1, what=f" (at least r + 1 = {model.r + 1})")
    bx, bt = noise_blocks(model)
    theta, keep_fraction = check_filter_knob(method, theta, keep_fraction, default_theta=0.0)
    if method == "none":
        s, n_kept, A, B = model.eta, float(n), bx.signal, bt.signal
    elif method == "oracle-clean":
        s, n_kept, A, B = 1.0, model.eta * n, bx.signal, bt.signal
    else:
        for side, blocks in (("image", bx), ("text", bt)):
            if blocks.leak > _TOL or not blocks.signal_isotropic:
                raise ValueError(
                    f"method 'oracle-score' has no first-order prediction for this model's "
                    f"{side} noise ({model.noise.kind}, directions {model.noise.directions}): "
                    "the filter's signal coordinates are correlated with the noise coordinates "
                    "or not isotropic, so the kept pairs' cross-covariance leaves the signal "
                    "subspace; allowed: isotropic noise or spikes orthogonal to the signal"
                )
        # The signal blocks are the paper's: reuse the kept moments of the isotropic law.
        ref = predict_filtered(
            n,
            model.eta,
            model.d,
            model.d_t,
            model.r,
            model.gamma,
            model.gamma_t,
            theta=theta,
            keep_fraction=keep_fraction,
            method="oracle-score",
            teacher_tilt=False,
        )
        s, n_kept = ref.cross_moment, ref.n_kept
        A = ref.second_moment_u * np.eye(model.r)
        B = ref.second_moment_v * np.eye(model.r)
    if not n_kept > 1.0:
        raise ValueError(f"method {method!r} keeps about {n_kept:.3g} pairs; need more than 1")
    law_x = _side(bx.complement, B, s, n_kept)
    law_xt = _side(bt.complement, A, s, n_kept)
    return StructuredPrediction(
        method=method,
        n=n,
        n_kept=n_kept,
        cross_moment=s,
        law_x=law_x,
        law_xt=law_xt,
        err_x_sq=law_x.mean_sq,
        err_xt_sq=law_xt.mean_sq,
        err=expected_max(law_x, law_xt, 1.0),
    )


def oracle_score_moments(model: BimodalModel, clean: bool) -> tuple[float, float]:
    r"""Mean and variance of the oracle score :math:`S = x^\top U\tilde U^\top\tilde x` of one component.

    :math:`S = u^\top v` with :math:`u = U^\top x \sim N(0, A)`, :math:`v = \tilde U^\top\tilde x
    \sim N(0, B)` and :math:`\operatorname{Cov}(u, v) = I_r` (clean) or 0 (corrupted), so
    :math:`E[S] = r\,1\{\text{clean}\}` and :math:`\operatorname{Var}S = \operatorname{tr}(AB) +
    r\,1\{\text{clean}\}` (Isserlis). Isotropic noise: :math:`rab + r\,1\{\text{clean}\}`.

    Parameters
    ----------
    model : BimodalModel
        The model (any noise kind).
    clean : bool
        The clean law :math:`D_1` (True) or the corrupted law :math:`D_0` (False).
    """
    model = _check_model(model)
    if not isinstance(clean, (bool, np.bool_)):
        raise ValueError(f"clean must be True or False; got {clean!r}")
    bx, bt = noise_blocks(model)
    r = model.r
    mean = float(r) if clean else 0.0
    return mean, float(np.trace(bx.signal @ bt.signal)) + (r if clean else 0.0)


def teacher_tilt_variance(model: BimodalModel, n_teacher: int) -> float:
    r"""First-order variance that a teacher's *tilt* adds to its score (our derivation).

    A teacher fitted on :math:`n_T` independent pairs has, in oracle units,
    :math:`M_T \approx (I + \Delta)\text{ on the signal block} + U_\perp X\tilde U^\top +
    U Y^\top\tilde U_\perp^\top`, with the tilt :math:`X \approx \frac1{\eta(n_T-1)}\sum_i
    b_iv_i^\top` (the same matrix as in :func:`predict_structured`) and :math:`Y` its mirror. On
    a fresh pair the tilt adds :math:`b^\top Xv + u^\top Y\tilde b` to the score: mean 0,
    uncorrelated with the oracle score, the same for clean and corrupted pairs, and of variance

    .. math:: \frac{\operatorname{tr}(\Sigma_b^2)\operatorname{tr}(B^2)
              + \operatorname{tr}(\Sigma_{\tilde b}^2)\operatorname{tr}(A^2)}{\eta^2(n_T-1)}.

    A spike of strength :math:`\lambda` outside the signal contributes :math:`\propto k\lambda^2`.
    The signal-block distortion :math:`\Delta` (for isotropic noise
    :func:`linclip.theory.prediction.teacher_distortion`) adds more variance to the score and is
    *not* included: this is the part of the teacher's error that the noise structure changes
    most, not the teacher's whole excess over the oracle.

    Parameters
    ----------
    model : BimodalModel
        The model (any noise kind; its :math:`\eta`).
    n_teacher : int
        The teacher's pairs :math:`n_T` (:math:`\lfloor n/2\rfloor` for Algorithm 1).
    """
    model = _check_model(model)
    n_teacher = check_int("n_teacher", n_teacher, minimum=2)
    bx, bt = noise_blocks(model)
    sq = lambda m: float(np.sum(m * m))  # noqa: E731  tr(M^2) of a symmetric M
    num = sq(bx.complement) * sq(bt.signal) + sq(bt.complement) * sq(bx.signal)
    return num / (model.eta**2 * (n_teacher - 1))


@dataclass(frozen=True)
class PCAPrediction:
    r"""First-order prediction of per-modality PCA under any noise covariance.

    Attributes
    ----------
    bias_x, bias_xt : float
        :math:`\|\sin\Theta\|_F` between the population top-:math:`r` eigenspace of
        :math:`E[xx^\top]` (of :math:`E[\tilde x\tilde x^\top]`) and :math:`U` (:math:`\tilde U`):
        the error as :math:`n\to\infty`. 0 when PCA is consistent.
    var_x_sq, var_xt_sq : float
        First-order :math:`E\|\sin\Theta\|_F^2` of the sample eigenspace around the population one,
        :math:`\sum_{i\le r<j}\ell_i\ell_j/((\ell_i-\ell_j)^2(n-1))`; ``inf`` if the gap
        :math:`\ell_r - \ell_{r+1}` is zero.
    consistent : bool
        Whether both biases vanish (then ``err`` is a first-order prediction).
    err : float
        :math:`E[\mathrm{ERR}]` from the two Satterthwaite laws when ``consistent``; otherwise the
        limit :math:`\max(\text{bias}_x, \text{bias}_{\tilde x})` (the fluctuation is then
        second order in comparison).
    """

    bias_x: float
    bias_xt: float
    var_x_sq: float
    var_xt_sq: float
    consistent: bool
    err: float


def _pca_side(cov: np.ndarray, U: np.ndarray, n: int) -> tuple[float, float, ChiLaw | None]:
    r = U.shape[1]
    ell, vecs = np.linalg.eigh(cov)
    ell, vecs = ell[::-1], vecs[:, ::-1]
    top = vecs[:, :r]
    bias = float(np.linalg.norm(top - U @ (U.T @ top)))  # ||U_perp^T top||_F, no cancellation
    if ell[r - 1] - (ell[r] if r < ell.size else 0.0) <= _TOL:
        return bias, math.inf, None
    if r == ell.size:
        return bias, 0.0, ChiLaw(dof=0, scale=0.0)
    li, lj = ell[:r, None], ell[None, r:]
    weights = (li * lj / ((li - lj) ** 2 * (n - 1))).ravel()
    law = weighted_chi_law(weights)
    return bias, float(weights.sum()), law


def predict_pca(model: BimodalModel, n: int) -> PCAPrediction:
    r"""Per-modality PCA under the model's noise: population bias and first-order fluctuation.

    Each modality alone is Gaussian (:math:`x \sim N(0, UU^\top + \Sigma_\xi)` in both mixture
    components), so PCA's error does not depend on :math:`\eta`. Isotropic noise: no bias and
    :math:`E\|\sin\Theta_U\|_F^2 \approx r(d-r)(1+\gamma^{-1})\gamma^{-1}/(n-1)`. Orthogonal
    spikes: no bias while :math:`\lambda < 1`; for :math:`\lambda > 1` the spikes displace
    :math:`\min(k, r)` signal directions and the bias is :math:`\sqrt{\min(k, r)}`.

    Parameters
    ----------
    model : BimodalModel
        The model (any noise kind).
    n : int
        Number of pairs :math:`n \ge r + 1`.

    Examples
    --------
    >>> from linclip.data.model import BimodalModel, NoiseModel
    >>> m = BimodalModel(10, 8, 4, gamma=1e4, noise=NoiseModel("spiked", 2, 3.0))
    >>> round(predict_pca(m, 10_000).bias_x ** 2, 9)
    2.0
    """
    model = _check_model(model)
    n = check_int("n", n, minimum=model.r + 1, what=f" (at least r + 1 = {model.r + 1})")
    bx, vx, lx = _pca_side(model.covariance_x(), model.U, n)
    bt, vt, lt = _pca_side(model.covariance_xt(), model.U_t, n)
    consistent = bx < 1e-8 and bt < 1e-8 and lx is not None and lt is not None
    if consistent:
        assert lx is not None and lt is not None
        err = expected_max(lx, lt, 1.0)
    else:
        err = max(bx, bt)
    return PCAPrediction(bx, bt, vx, vt, consistent, err)
