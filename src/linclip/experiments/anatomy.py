r"""Trials with the internals of the proofs: Corollary 1's perturbation, Proposition 1's instance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validate import check_finite_array, check_int, check_positive, check_probability
from ..data.model import BimodalModel, PairSample
from ..learners.contrastive import cross_covariance
from ..theory.bounds import corollary1_rate, snr_factor, wedin_chain_bound
from ..theory.perturbation import wedin_bound
from .grid import trial_source

__all__ = [
    "trial_pairs",
    "perturbation_anatomy",
    "proposition1_instance",
    "Rank1Sine",
    "rank1_sine_decomposition",
    "proposition1_anatomy",
]


# ------------------------------------------------------------------- trials with internals
def trial_pairs(
    model: BimodalModel, n: int, trial: int, seed: int = 0
) -> tuple[BimodalModel, np.ndarray, np.ndarray]:
    r"""The pairs (and the model with its per-trial bases) that
    :func:`linclip.experiments.grid.run_grid` uses for trial ``trial`` at ``(n, model.eta)``.

    Returns
    -------
    model : BimodalModel
        ``model`` with the trial's freshly drawn bases :math:`U, \tilde U`.
    x, xt : ndarray, shapes (n, d) and (n, d_t)
    """
    n = check_int("n", n, minimum=2)
    trial = check_int("trial", trial, minimum=0)
    model, sample = trial_source(model, n, trial, seed=seed)
    if isinstance(sample, PairSample):
        return model, sample.x, sample.xt
    chunks = list(sample.chunks())
    return model, np.concatenate([c.x for c in chunks]), np.concatenate([c.xt for c in chunks])


def perturbation_anatomy(model: BimodalModel, n: int, trials: int, seed: int = 0) -> pd.DataFrame:
    r"""Unfiltered trials with the internals of Corollary 1's proof.

    For each trial (same pairs as :func:`linclip.experiments.grid.run_grid` with the same ``seed``),
    :math:`E = S_n - \eta U\tilde U^\top` is fed to :func:`linclip.theory.perturbation.wedin_bound`.

    Parameters
    ----------
    model : BimodalModel
        Dimensions, noise :math:`\gamma, \tilde\gamma` and clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n`.
    trials : int
        Number of trials.
    seed : int
        Root seed (as in ``run_grid``).

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``eta, n, gamma, gamma_t, trial``, ``err`` (the learner's ERR),
        ``E_norm`` (:math:`\Delta`), ``residual`` (the rotating part of :math:`E`),
        ``wedin_residual`` and ``wedin_apriori`` (the two forms of Wedin's bound, the latter
        :math:`\sqrt r\Delta/(\eta-\Delta)`), ``conc_scale``
        (:math:`\sqrt{\max\{d,\tilde d\}(1+\gamma^{-1})(1+\tilde\gamma^{-1})/n}`) and
        ``cor1`` (Corollary 1's shape, constants set to one).
    """
    trials = check_int("trials", trials)
    D = max(model.d, model.d_t)
    kappa = snr_factor(model.gamma, model.gamma_t)
    rows = []
    for t in range(trials):
        m, x, xt = trial_pairs(model, n, t, seed)
        A = m.cross_covariance()
        chk = wedin_bound(A, cross_covariance(x, xt) - A, m.r)
        rows.append(
            dict(
                eta=m.eta,
                n=n,
                gamma=m.gamma,
                gamma_t=m.gamma_t,
                trial=t,
                err=chk.sin_theta,
                E_norm=chk.E_norm,
                residual=chk.residual,
                wedin_residual=chk.residual_bound,
                wedin_apriori=wedin_chain_bound(chk.E_norm, m.eta, m.r),
                conc_scale=math.sqrt(D * kappa / n),
                cor1=float(corollary1_rate(n, m.eta, m.d, m.d_t, m.r, m.gamma, m.gamma_t)),
            )
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ Proposition 1's instance
def proposition1_instance(
    d: int, gamma: float, eta: float, d_t: int = 1, basis_seed: int = 0
) -> BimodalModel:
    r"""Proposition 1's hard instance: :math:`r = 1`, noiseless :math:`\tilde x`, finite :math:`\gamma`.

    Parameters
    ----------
    d : int
        Dimension :math:`d \ge 2` of the noisy modality :math:`x`.
    gamma : float
        Its signal-to-noise parameter :math:`\gamma` (finite: the noise is what the lower
        bound is made of).
    eta : float
        Clean fraction :math:`\eta \in (0, 1]`.
    d_t : int
        Dimension :math:`\tilde d` of :math:`\tilde x = \tilde u\tilde z`; it does not affect
        the error (the right singular vector of :math:`S_n` is exactly :math:`\tilde u`).
    basis_seed : int
        Seed of :math:`u, \tilde u`.

    Returns
    -------
    BimodalModel
        With ``r = 1`` and ``gamma_t = inf``.
    """
    d = check_int("d", d, minimum=2, what=" (the noise needs a direction orthogonal to u)")
    gamma = check_positive("gamma", gamma)
    eta = check_probability("eta (clean fraction)", eta)
    return BimodalModel(
        d=d, d_t=d_t, r=1, gamma=gamma, gamma_t=math.inf, eta=eta, basis_seed=basis_seed
    )


@dataclass(frozen=True)
class Rank1Sine:
    r"""The sine of the learned angle for a rank-one :math:`S_n = a\tilde u^\top`.

    Attributes
    ----------
    along : float
        :math:`u^\top S_n\tilde u` (the signal, about :math:`\eta`).
    orthogonal : float
        :math:`\|(I - uu^\top)S_n\tilde u\|` (the noise that tilts the estimate).
    norm : float
        :math:`\|S_n\|_2 = \sqrt{\text{along}^2 + \text{orthogonal}^2}`.
    """

    along: float
    orthogonal: float
    norm: float

    @property
    def sine(self) -> float:
        r""":math:`\sin\angle(\hat u, u) = \text{orthogonal}/\|S_n\|_2`."""
        return self.orthogonal / self.norm


def rank1_sine_decomposition(
    S: np.ndarray, u: np.ndarray, u_t: np.ndarray, rtol: float = 1e-8
) -> Rank1Sine:
    r"""Split :math:`S\tilde u` into its parts along and orthogonal to :math:`u`.

    Parameters
    ----------
    S : ndarray, shape (d, d_t)
        A cross-covariance of the form :math:`a\tilde u^\top` (Proposition 1's instance).
    u : ndarray, shape (d,) or (d, 1)
        True unit vector :math:`u`.
    u_t : ndarray, shape (d_t,) or (d_t, 1)
        True unit vector :math:`\tilde u`.
    rtol : float
        Tolerance for the check that :math:`S = (S\tilde u)\tilde u^\top`.

    Raises
    ------
    ValueError
        If shapes do not match, :math:`u, \tilde u` are not unit vectors, or :math:`S` is not
        of the form :math:`a\tilde u^\top`.
    """
    S = check_finite_array("S", S, ndim=2)
    u = check_finite_array("u", u).ravel()
    u_t = check_finite_array("u_t", u_t).ravel()
    if S.shape != (u.size, u_t.size):
        raise ValueError(
            f"S must have shape (len(u), len(u_t)) = ({u.size}, {u_t.size}); got {S.shape}"
        )
    for name, v in (("u", u), ("u_t", u_t)):
        if abs(np.linalg.norm(v) - 1.0) > 1e-8:
            raise ValueError(f"{name} must be a unit vector; got norm {np.linalg.norm(v):.6g}")
    a = S @ u_t
    if np.linalg.norm(S - np.outer(a, u_t)) > rtol * max(float(np.linalg.norm(S)), 1e-300):
        raise ValueError(
            "S is not of the form a u_t^T (rank one with right vector u_t); "
            "the decomposition needs a noiseless second modality and r = 1"
        )
    along = float(u @ a)
    orthogonal = float(np.linalg.norm(a - along * u))
    return Rank1Sine(along=along, orthogonal=orthogonal, norm=float(np.linalg.norm(a)))


def proposition1_anatomy(model: BimodalModel, n: int, trials: int, seed: int = 0) -> pd.DataFrame:
    r"""Trials of Proposition 1's instance with the parts of the sine.

    Parameters
    ----------
    model : BimodalModel
        A rank-one model with ``gamma_t = inf`` (see :func:`proposition1_instance`).
    n, trials, seed
        As in :func:`perturbation_anatomy`.

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``eta, n, trial``, ``err`` (sine from the decomposition, equal to the
        learner's ERR), ``along``, ``orthogonal``, ``norm``, and the normalised
        ``orth_scaled`` :math:`=\text{orthogonal}\cdot\sqrt{\gamma n/d}`,
        ``norm_over_eta`` :math:`=\|S_n\|_2/\eta` and ``err_scaled``
        :math:`=\mathrm{ERR}\cdot\eta\sqrt n/\sqrt{d/\gamma}`.
    """
    if model.r != 1 or not math.isinf(model.gamma_t):
        raise ValueError(
            f"Proposition 1's instance needs r = 1 and gamma_t = inf; got "
            f"r = {model.r}, gamma_t = {model.gamma_t}"
        )
    trials = check_int("trials", trials)
    scale = math.sqrt(model.d / model.gamma)
    rows = []
    for t in range(trials):
        m, x, xt = trial_pairs(model, n, t, seed)
        dec = rank1_sine_decomposition(cross_covariance(x, xt), m.U[:, 0], m.U_t[:, 0])
        rows.append(
            dict(
                eta=m.eta,
                n=n,
                trial=t,
                err=dec.sine,
                along=dec.along,
                orthogonal=dec.orthogonal,
                norm=dec.norm,
                orth_scaled=dec.orthogonal * math.sqrt(n) / scale,
                norm_over_eta=dec.norm / m.eta,
                err_scaled=dec.sine * m.eta * math.sqrt(n) / scale,
            )
        )
    return pd.DataFrame(rows)
