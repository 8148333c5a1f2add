r"""Prediction against simulation: the unfiltered and the filtered learner.

:func:`simulate_unfiltered_errors` and :func:`compare_unfiltered` use the exact sampler of
:math:`S_n` (:mod:`linclip.data.exact`); :func:`simulate_filtered` and :func:`compare_filtered`
run the filtered students on generated pairs through the one engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .._validate import check_fraction, check_int, check_positive, check_real
from ..data.exact import _BATCH, _centred_cross_scatter, _component_factors
from ..data.model import BimodalModel, PairSample
from ..filters.engine import run_methods_with_stats
from ..filters.spec import MethodSpec
from ..theory.asymptotics import predict_unfiltered
from ..theory.prediction import _SCORE_METHODS, _check_method, predict_filtered
from .grid import IN_MEMORY_LIMIT, eta_key, trial_source
from .rows import TRIAL_COLUMNS, trial_rows

__all__ = [
    "simulate_unfiltered_errors",
    "compare_unfiltered",
    "simulate_filtered",
    "compare_filtered",
]


def _side_errors(
    S: np.ndarray, U: np.ndarray, U_t: np.ndarray, r: int
) -> tuple[np.ndarray, np.ndarray]:
    """||sin Theta||_F of the top-r left/right singular subspaces of a stack S against U, U_t."""
    P, _, Qt = np.linalg.svd(S, full_matrices=False)
    P, Q = P[..., :r], Qt[..., :r, :].swapaxes(-1, -2)
    res_x = P - U @ (U.T @ P)
    res_xt = Q - U_t @ (U_t.T @ Q)
    return np.sqrt((res_x**2).sum(axis=(-2, -1))), np.sqrt((res_xt**2).sum(axis=(-2, -1)))


def simulate_unfiltered_errors(
    model: BimodalModel, n: int, trials: int, seed: int = 0, batch: int = _BATCH
) -> pd.DataFrame:
    r"""ERR of the unfiltered learner over ``trials`` exact draws of :math:`S_n`.

    Uses the sampler of :func:`~linclip.data.exact.sample_cross_covariance`, so the cost does not grow with
    :math:`n`. The learned subspaces are the top-:math:`r` singular subspaces of :math:`S_n`
    (as for :func:`linclip.learners.contrastive.closed_form_encoders`); the bases are the model's
    :math:`U, \tilde U` (ERR's law does not depend on them).

    Parameters
    ----------
    model : BimodalModel
        The data model with its clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n \ge r+1`.
    trials : int
        Number of independent draws.
    seed : int
        Root seed; the draws depend only on ``(seed, n, eta, trials, batch)``.
    batch : int
        Draws generated together (memory ``batch * (2r + d + d_t)**2`` floats).

    Returns
    -------
    pandas.DataFrame
        Columns ``trial, err, err_x, err_xt`` (one row per draw).
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int("n", n, minimum=model.r + 1, what=f" (at least r + 1 = {model.r + 1} pairs)")
    trials = check_int("trials", trials)
    seed = check_int("seed", seed, minimum=0)
    batch = check_int("batch", batch)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(n, eta_key(model.eta))))
    factors = _component_factors(model)
    parts_x, parts_xt = [], []
    for start in range(0, trials, batch):
        size = min(batch, trials - start)
        S = _centred_cross_scatter(factors, model.d, n, model.eta, size, rng) / (n - 1)
        err_x, err_xt = _side_errors(S, model.U, model.U_t, model.r)
        parts_x.append(err_x)
        parts_xt.append(err_xt)
    err_x, err_xt = np.concatenate(parts_x), np.concatenate(parts_xt)
    return pd.DataFrame(
        {
            "trial": np.arange(trials),
            "err": np.maximum(err_x, err_xt),
            "err_x": err_x,
            "err_xt": err_xt,
        }
    )


def compare_unfiltered(
    model: BimodalModel, n: int | Iterable[int], trials: int, seed: int = 0
) -> pd.DataFrame:
    r"""Predicted versus simulated error of the unfiltered learner, one row per :math:`n`.

    Simulations use :func:`simulate_unfiltered_errors` (exact in law, cost independent of
    :math:`n`); predictions use :func:`~linclip.theory.asymptotics.predict_unfiltered`.

    Parameters
    ----------
    model : BimodalModel
        Dimensions, noise levels and clean fraction :math:`\eta`.
    n : int or iterable of int
        Sample sizes :math:`n \ge r + 1`.
    trials : int
        Simulated draws per sample size.
    seed : int
        Root seed (see :func:`simulate_unfiltered_errors`).

    Returns
    -------
    pandas.DataFrame
        Columns ``d, d_t, r, gamma, gamma_t, eta, n, n_over_condition`` and, for
        ``q`` in ``err, err_x, err_xt``: ``q_sim`` (mean over trials), ``q_sem`` (its standard
        error), ``q_pred``, and ``ratio = err_sim / err_pred``; ``err_sq_sim``, ``err_sq_pred``
        and ``ratio_sq`` for :math:`E[\mathrm{ERR}^2]`.
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    rows = []
    for size in np.atleast_1d(n).tolist():  # type: ignore[arg-type]
        pred = predict_unfiltered(
            size, model.eta, model.d, model.d_t, model.r, model.gamma, model.gamma_t
        )
        sim = simulate_unfiltered_errors(model, size, trials, seed)
        row = dict(
            d=model.d,
            d_t=model.d_t,
            r=model.r,
            gamma=model.gamma,
            gamma_t=model.gamma_t,
            eta=model.eta,
            n=pred.n,
            n_over_condition=pred.n_over_condition,
        )
        for q in ("err", "err_x", "err_xt"):
            row[f"{q}_sim"] = float(sim[q].mean())
            row[f"{q}_sem"] = (
                float(sim[q].std(ddof=1) / math.sqrt(trials)) if trials > 1 else math.nan
            )
            row[f"{q}_pred"] = getattr(pred, q)
        row["err_sq_sim"] = float(np.mean(sim["err"] ** 2))
        row["err_sq_pred"] = pred.err_sq
        rows.append(row)
    out = pd.DataFrame(rows)
    out["ratio"] = out["err_sim"] / out["err_pred"]
    out["ratio_sq"] = out["err_sq_sim"] / out["err_sq_pred"]
    return out


# ------------------------------------------------------------------------- simulation


def _trial_pairs(
    model: BimodalModel, n: int, trial: int, seed: int, resample_bases: bool
) -> tuple[BimodalModel, PairSample]:
    """The model and pairs of trial ``trial``, exactly as :func:`linclip.experiments.grid.run_grid` draws them."""
    model, pairs = trial_source(model, n, trial, seed=seed, resample_bases=resample_bases)
    if not isinstance(pairs, PairSample):
        raise ValueError(
            f"simulate_filtered holds the pairs in memory; n = {n} is above the "
            f"in-memory limit {IN_MEMORY_LIMIT} (use linclip.run_grid instead)"
        )
    return model, pairs


def simulate_filtered(
    model: BimodalModel,
    n: int,
    *,
    keep_fractions: Sequence[float] = (),
    thetas: Sequence[float] = (),
    methods: Sequence[str] = ("oracle-score",),
    trials: int = 20,
    seed: int = 0,
    rho: float = 1.0,
    resample_bases: bool = True,
) -> pd.DataFrame:
    r"""Simulate the students of several methods and knobs on the same pairs.

    Each trial draws its pairs exactly as :func:`linclip.experiments.grid.run_grid` does (same seed contract) and
    runs every (method, knob) in one call of the engine
    (:func:`linclip.filters.engine.run_methods`): each pool is scored once, and the students
    of all kept fractions :math:`q` (top :math:`\lceil q\,n_{\rm pool}\rceil` scores) and
    thresholds :math:`\theta` (oracle units, keep score :math:`> \theta`) are fitted from the
    statistics of their kept sets.

    Parameters
    ----------
    model : BimodalModel
        The data model with its clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n` (in memory; at most 2,000,000).
    keep_fractions, thetas : sequence of float
        Knobs for the score filters (at least one knob if a score filter is requested).
    methods : sequence of str
        Any of :data:`linclip.filters.scores.METHODS`; ``none`` and ``oracle-clean`` ignore the knobs.
    trials : int
        Trials.
    seed : int
        Root seed (see :mod:`linclip.experiments`).
    rho : float
        Regularisation :math:`\rho`.
    resample_bases : bool
        Fresh random :math:`U, \tilde U` per trial (as ``run_grid``).

    Returns
    -------
    pandas.DataFrame
        One row per (trial, method, knob), columns
        :data:`linclip.experiments.rows.TRIAL_COLUMNS`: ``err, err_x, err_xt``, the kept fraction, the
        clean fraction among the kept pairs, ``n_kept``, the threshold used (oracle units for
        :math:`\theta`, the score cut for :math:`q`), and for the teacher methods the teacher's
        ERR and its signal-block distortion :math:`\|U^\top M_T\tilde U - I\|_F^2`.
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    n = check_int(
        "n",
        n,
        minimum=2 * (model.r + 1),
        maximum=2_000_000,
        what=f" between 2(r + 1) = {2 * (model.r + 1)} and 2,000,000",
    )
    methods = [_check_method(m) for m in methods]
    if not methods:
        raise ValueError("methods must name at least one method")
    qs = [check_fraction("keep_fraction (q)", q) for q in keep_fractions]
    ths = [check_real("theta", t) for t in thetas]
    if any(m in _SCORE_METHODS for m in methods) and not (qs or ths):
        raise ValueError("the score filters need at least one keep fraction or threshold")
    trials = check_int("trials", trials)
    seed = check_int("seed", seed, minimum=0)
    rho = check_positive("rho", rho)
    r = model.r
    specs: list[MethodSpec] = []
    for method in methods:
        if method in _SCORE_METHODS:
            specs += [MethodSpec(method, theta=theta) for theta in ths]
            specs += [MethodSpec(method, keep_fraction=q) for q in qs]
        else:
            specs.append(MethodSpec(method))
    rows: list[dict] = []
    for trial in range(trials):
        mdl, pairs = _trial_pairs(model, n, trial, seed, resample_bases)
        outcomes, stats = run_methods_with_stats(pairs, specs, r, rho=rho, U=mdl.U, U_t=mdl.U_t)
        rows += trial_rows(mdl, n, trial, specs, outcomes, stats, rho=rho)
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def compare_filtered(
    model: BimodalModel,
    n: int,
    etas: Iterable[float],
    keep_fractions: Sequence[float],
    *,
    methods: Sequence[str] = ("oracle-score",),
    trials: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Predicted versus simulated mean ERR over a grid of :math:`(\eta, q)`, per method.

    Simulations use :func:`simulate_filtered`; predictions use
    :func:`~linclip.theory.prediction.predict_filtered` with the
    same kept fraction. ``none`` and ``oracle-clean`` rows carry ``keep_fraction`` NaN.

    Parameters
    ----------
    model : BimodalModel
        Dimensions and noise levels (its :math:`\eta` is replaced by each of ``etas``).
    n : int
        Number of pairs.
    etas : iterable of float
        Clean fractions.
    keep_fractions : sequence of float
        Kept fractions :math:`q` of the score filters.
    methods : sequence of str
        Methods to simulate and predict.
    trials : int
        Trials per :math:`\eta`.
    seed : int
        Root seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, eta, keep_fraction, trials, err_sim, err_sem, err_pred, ratio``
        (simulated over predicted mean ERR), ``err_pred_oracle_filter`` and
        ``ratio_oracle_filter`` (the prediction without the teacher correction),
        ``n_kept_pred``, ``kept_clean_sim``, ``kept_clean_pred``, ``n_kept_over_condition``,
        ``teacher_err_sim``, ``teacher_err_pred``, ``teacher_distortion_sim`` and
        ``teacher_distortion_pred`` (NaN for methods without a teacher).
    """
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    rows = []
    for eta in etas:
        mdl = model.with_eta(float(eta))
        sim = simulate_filtered(
            mdl, n, keep_fractions=keep_fractions, methods=methods, trials=trials, seed=seed
        )
        sim["knob"] = sim["keep_fraction"].fillna(-1.0)
        for (method, knob), g in sim.groupby(["method", "knob"], sort=False):
            q = None if knob < 0 else float(knob)
            pred = predict_filtered(
                n,
                mdl.eta,
                mdl.d,
                mdl.d_t,
                mdl.r,
                mdl.gamma,
                mdl.gamma_t,
                keep_fraction=q,
                method=method,
            )
            sem = float(g.err.std(ddof=1) / math.sqrt(len(g))) if len(g) > 1 else math.nan
            rows.append(
                dict(
                    method=method,
                    eta=mdl.eta,
                    keep_fraction=math.nan if q is None else q,
                    trials=len(g),
                    err_sim=float(g.err.mean()),
                    err_sem=sem,
                    err_pred=pred.err,
                    ratio=float(g.err.mean()) / pred.err,
                    err_pred_oracle_filter=pred.err_oracle_filter,
                    ratio_oracle_filter=float(g.err.mean()) / pred.err_oracle_filter,
                    n_kept_pred=pred.n_kept,
                    kept_clean_sim=float(g.kept_clean_fraction.mean()),
                    kept_clean_pred=pred.kept_clean_fraction,
                    n_kept_over_condition=pred.n_kept_over_condition,
                    teacher_err_sim=float(g.teacher_err.mean()),
                    teacher_err_pred=pred.teacher_err,
                    teacher_distortion_sim=float(g.teacher_distortion.mean()),
                    teacher_distortion_pred=pred.teacher_distortion,
                )
            )
    return pd.DataFrame(rows)
