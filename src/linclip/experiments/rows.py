"""One row schema for every result table: trial rows of :func:`~linclip.experiments.grid.run_grid`, the comparisons and
(as a projection) the reproduce CSV.

Each row describes one (trial, method, knob): the model, the method and its knob, the student's
learner, its ERR and the kept set. Columns that do not apply are NaN (``theta`` of a top-q rule,
``teacher_err`` of a method without a teacher, ``kept_clean_fraction`` without labels).
The ``noise*`` columns record the model's :class:`~linclip.data.model.NoiseModel` (``isotropic``,
rank 0, strength 0 for the paper's noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.model import BimodalModel
from ..data.sources import TrialStats
from ..filters.engine import PAIR_LEARNERS, FilterOutcome
from ..filters.scores import teacher_score_matrix
from ..filters.spec import MethodSpec
from ..learners.infonce import InfoNCEOptions
from ..metrics import subspace_error

__all__ = ["TRIAL_COLUMNS", "trial_rows"]

#: Columns of every trial table (``run_grid``, ``simulate_filtered``).
TRIAL_COLUMNS = [
    "eta",
    "n",
    "d",
    "d_t",
    "r",
    "gamma",
    "gamma_t",
    "rho",
    "method",
    "theta",
    "keep_fraction",
    "trial",
    "err",
    "err_x",
    "err_xt",
    "kept_fraction",
    "kept_clean_fraction",
    "n_kept",
    "sample_clean_fraction",
    "threshold",
    "learner",
    "n_pool",
    "n_kept_clean",
    "teacher_err",
    "teacher_distortion",
    "sampler",
    "score",
    "teacher_learner",
    # structured noise (Part III, "Structured noise"): linclip.data.model.NoiseModel
    "noise",
    "noise_rank",
    "noise_strength",
    "noise_modality",
    "noise_directions",
    # --- InfoNCE learner options (issue 13, chapter 1): NaN unless the row's student or
    # teacher is "infonce" ---
    "temperature",
    "epochs",
    "batch_size",
    "lr",
    # --- end of InfoNCE columns ---
    # ---- iterated self-filtering and soft weighting (chapter "Iterated self-filtering")
    "round",
    "rounds",
    "fresh",
    "pairs_used",
    "weighting",
]


def _learner_option_columns(out: FilterOutcome, options: object | None) -> dict[str, float]:
    """The InfoNCE options of a row (:data:`TRIAL_COLUMNS`), NaN where InfoNCE trained nothing."""
    if out.learner not in PAIR_LEARNERS and out.teacher_learner not in PAIR_LEARNERS:
        return dict(temperature=math.nan, epochs=math.nan, batch_size=math.nan, lr=math.nan)
    opts = options if isinstance(options, InfoNCEOptions) else InfoNCEOptions()
    return dict(
        temperature=opts.temperature, epochs=opts.epochs, batch_size=opts.batch_size, lr=opts.lr
    )


def _nan_if_none(value: float | int | None) -> float:
    return math.nan if value is None else float(value)


def trial_rows(
    model: BimodalModel,
    n: int,
    trial: int,
    specs: Sequence[MethodSpec],
    outcomes: Sequence[FilterOutcome],
    stats: TrialStats,
    *,
    rho: float,
    diagnostics: bool = True,
    sampler: str = "pairs",
    learner_options: object | None = None,
    round_index: int = 1,
    rounds: int = 1,
    fresh: bool = False,
    pairs_used: int | None = None,
) -> list[dict[str, Any]]:
    r"""Rows (dicts with :data:`TRIAL_COLUMNS`) of one trial, one per method.

    ``sampler`` (``"pairs"``, ``"exact"`` or ``"exact-paired"``) records how the
    statistics were drawn.
    ``learner_options`` (:class:`~linclip.learners.infonce.InfoNCEOptions`, or ``None`` for
    its defaults) fills the InfoNCE columns of rows whose student or teacher is ``infonce``.
    ``round_index`` (column ``round``), ``rounds``, ``fresh`` and ``pairs_used`` describe
    iterated self-filtering (:func:`linclip.filters.iterate.iterate_filter`): round :math:`k` of
    :math:`K`, on fresh data or not, and the pairs used by rounds :math:`1..k` (default
    ``n``); a one-round method has round 1 of 1. Column ``weighting`` is the soft weighting's
    label (:class:`~linclip.filters.weighting.ScoreWeighting`), ``"none"`` for a hard cut.

    With ``diagnostics``, rows of the teacher methods carry the teacher's ERR and its
    signal-block distortion :math:`\|U^\top M_T\tilde U - I\|_F^2` (oracle units).
    """
    sample_clean = _nan_if_none(stats.sample_clean) / n
    rows = []
    for spec, out in zip(specs, outcomes, strict=True):
        rep = subspace_error(out.student, model.U, model.U_t)
        teacher_err = teacher_distortion = math.nan
        if diagnostics and out.teacher is not None:
            W = model.U.T @ teacher_score_matrix(out.teacher, "oracle") @ model.U_t
            teacher_err = subspace_error(out.teacher, model.U, model.U_t).err
            teacher_distortion = float(np.sum((W - np.eye(model.r)) ** 2))
        rows.append(
            dict(
                eta=model.eta,
                n=n,
                d=model.d,
                d_t=model.d_t,
                r=model.r,
                gamma=model.gamma,
                gamma_t=model.gamma_t,
                rho=rho,
                method=spec.method,
                theta=_nan_if_none(spec.theta),
                keep_fraction=_nan_if_none(spec.keep_fraction),
                trial=trial,
                err=rep.err,
                err_x=rep.err_x,
                err_xt=rep.err_xt,
                kept_fraction=out.kept_fraction,
                kept_clean_fraction=_nan_if_none(out.kept_clean_fraction),
                n_kept=out.n_kept,
                sample_clean_fraction=sample_clean,
                threshold=out.threshold,
                learner=out.learner,
                n_pool=out.n_pool,
                n_kept_clean=(math.nan if out.n_kept_clean is None else out.n_kept_clean),
                teacher_err=teacher_err,
                teacher_distortion=teacher_distortion,
                sampler=sampler,
                score=out.score,
                teacher_learner=out.teacher_learner,
                noise=model.noise.kind,
                noise_rank=model.noise.rank,
                noise_strength=model.noise.strength,
                noise_modality=model.noise.modality,
                noise_directions=model.noise.directions,
                **_learner_option_columns(out, learner_options),
                round=int(round_index),
                rounds=int(rounds),
                fresh=bool(fresh),
                pairs_used=int(n if pairs_used is None else pairs_used),
                weighting="none" if spec.weighting is None else spec.weighting.label,
            )
        )
    return rows
