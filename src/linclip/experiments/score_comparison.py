r"""Cosine against bilinear score: paired sweeps and paired ratios (chapter "The CLIP score").

Every filter of the sweep runs with both scores, the paper's bilinear :math:`x^\top M\tilde x`
and the cosine of the two embeddings (the CLIP score), in *one* engine call per trial
(:func:`linclip.experiments.grid.run_grid`), so the two students of a trial saw the same pairs
and, for the teacher methods, the same teacher. The error ratio is then a paired comparison
(:func:`paired_score_ratios`) whose standard error is much smaller than that of two independent
means.

The sweep is resumable: each :math:`(n, \eta)` block is written to its own CSV file as soon as
it is done and skipped when the command is run again; a JSON run log records the command, the
settings and the wall time of each block. Command line::

    python -m linclip.experiments.score_comparison --out book/data/beyond/cosine \
        --n 10000 --eta 0.03 0.1 0.3 1 --keep-fraction 0.05 0.1 0.2 0.3 0.5 --trials 200
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._knobs import FILTERING_METHODS, SCORE_FILTERS, SCORES
from .._validate import check_fraction, check_int
from ..data.model import BimodalModel, PairSample
from ..filters.spec import MethodSpec
from .grid import run_grid

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "score_pair_specs",
    "paired_score_ratios",
    "SWEEP_COLUMNS",
    "block_path",
    "run_score_sweep",
    "load_score_sweep",
    "distorted_teacher_sweep",
    "DIAGNOSTIC_COLUMNS",
    "score_diagnostics",
    "main",
]

_KEYS = ("method", "eta", "n", "keep_fraction")

#: Columns of a sweep block's CSV: a projection of
#: :data:`linclip.experiments.rows.TRIAL_COLUMNS` (the model's dimensions and SNR are in the
#: run log), errors to 8 significant digits.
SWEEP_COLUMNS = [
    "eta",
    "n",
    "trial",
    "method",
    "keep_fraction",
    "score",
    "err",
    "err_x",
    "err_xt",
    "kept_fraction",
    "kept_clean_fraction",
    "n_kept",
    "threshold",
    "teacher_err",
    "teacher_distortion",
    "sampler",
    "learner",
    "teacher_learner",
]


def score_pair_specs(
    methods: Sequence[str] = ("teacher-split", "oracle-score"),
    keep_fractions: Sequence[float] = (0.1, 0.3),
    *,
    reference: bool = True,
) -> list[MethodSpec]:
    r"""Each filtering method at each kept fraction :math:`q` with both scores.

    Parameters
    ----------
    methods : sequence of str
        Filtering methods (:data:`linclip.filters.scores.FILTERING_METHODS`).
    keep_fractions : sequence of float
        Kept fractions :math:`q \in (0, 1]`.
    reference : bool
        Prepend the unfiltered learner ``"none"`` (the reference error).

    Returns
    -------
    list of MethodSpec
        ``none`` (if ``reference``), then for each method and :math:`q` the bilinear and the
        cosine spec, in that order.

    Examples
    --------
    >>> [s.label for s in score_pair_specs(["oracle-score"], [0.1], reference=False)]
    ['oracle-score (q=10%)', 'oracle-score (q=10%, cosine)']
    """
    for method in methods:
        if method not in FILTERING_METHODS:
            raise ValueError(
                f"methods must be filtering methods ({', '.join(FILTERING_METHODS)}); "
                f"got {method!r}"
            )
    qs = [check_fraction("keep_fraction (q)", q) for q in keep_fractions]
    if not methods or not qs:
        raise ValueError("methods and keep_fractions must each name at least one value")
    specs = [MethodSpec("none")] if reference else []
    specs += [MethodSpec(m, keep_fraction=q, score=s) for m in methods for q in qs for s in SCORES]
    return specs


def paired_score_ratios(frame: pd.DataFrame, by: Sequence[str] = _KEYS) -> pd.DataFrame:
    r"""Cosine over bilinear error, paired trial by trial, with its standard error.

    For each group (default: method, :math:`\eta`, :math:`n`, :math:`q`) the trials that ran
    both scores are paired; with :math:`b_t, c_t` the bilinear and cosine errors of trial
    :math:`t` of :math:`k`, the ratio of the mean errors is :math:`R = \bar c/\bar b` and its
    standard error (delta method, paired) is

    .. math:: \operatorname{se}(R) = \frac{\operatorname{sd}_t(c_t - R\,b_t)}{\sqrt k\;\bar b}.

    Parameters
    ----------
    frame : pandas.DataFrame
        Trial rows (:data:`linclip.experiments.rows.TRIAL_COLUMNS`) with a ``score`` column.
    by : sequence of str
        Grouping columns; ``trial`` pairs the rows within a group.

    Returns
    -------
    pandas.DataFrame
        The grouping columns, ``err_bilinear``, ``err_cosine`` (means), ``ratio``,
        ``ratio_sem``, ``geo_ratio`` and ``geo_ratio_sem`` (the geometric mean of the
        per-trial ratios :math:`c_t/b_t` and its delta-method standard error: robust to a few
        failed trials), ``win_fraction`` (share of trials where the cosine error is smaller),
        ``kept_clean_bilinear``, ``kept_clean_cosine`` (mean clean fraction among kept pairs)
        and ``trials``.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"method": ["oracle-score"] * 4, "eta": 0.3, "n": 100,
    ...     "keep_fraction": 0.1, "trial": [0, 0, 1, 1], "kept_clean_fraction": 1.0,
    ...     "score": ["bilinear", "cosine"] * 2, "err": [1.0, 1.5, 2.0, 2.5]})
    >>> out = paired_score_ratios(rows)
    >>> print(f"{out.ratio[0]:.4f} {out.ratio_sem[0]:.4f} {out.trials[0]}")
    1.3333 0.1111 2
    """
    import pandas as pd

    by = list(by)
    need = by + ["trial", "score", "err", "kept_clean_fraction"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"frame has no column(s) {missing}; available: {list(frame.columns)}")
    rows = frame[frame["score"].isin(SCORES) & frame["method"].isin(SCORE_FILTERS)]
    wide = rows.pivot_table(
        index=by + ["trial"],
        columns="score",
        values=["err", "kept_clean_fraction"],
        aggfunc="first",
    )
    need_cols = [(v, sc) for v in ("err", "kept_clean_fraction") for sc in SCORES]
    if wide.empty or any(col not in wide.columns for col in need_cols):
        raise ValueError("frame has no trial with both a bilinear and a cosine filter")
    wide = wide.dropna()
    out = []
    for key, group in wide.groupby(level=list(range(len(by))), sort=True):
        b = group[("err", "bilinear")].to_numpy(float)
        c = group[("err", "cosine")].to_numpy(float)
        k = b.size
        ratio = float(c.mean() / b.mean())
        sem = (
            float(np.std(c - ratio * b, ddof=1) / (math.sqrt(k) * b.mean())) if k > 1 else math.nan
        )
        logs = np.log(c / b)
        geo = float(np.exp(logs.mean()))
        geo_sem = float(geo * np.std(logs, ddof=1) / math.sqrt(k)) if k > 1 else math.nan
        key = key if isinstance(key, tuple) else (key,)
        out.append(
            dict(
                zip(by, key, strict=True),
                err_bilinear=float(b.mean()),
                err_cosine=float(c.mean()),
                ratio=ratio,
                ratio_sem=sem,
                geo_ratio=geo,
                geo_ratio_sem=geo_sem,
                win_fraction=float(np.mean(c < b)),
                kept_clean_bilinear=float(group[("kept_clean_fraction", "bilinear")].mean()),
                kept_clean_cosine=float(group[("kept_clean_fraction", "cosine")].mean()),
                trials=int(k),
            )
        )
    if not out:
        raise ValueError("frame has no trial with both a bilinear and a cosine filter")
    return pd.DataFrame(out)


def block_path(out: Path | str, n: int, eta: float) -> Path:
    r"""The CSV file of one :math:`(n, \eta)` block of a sweep written to directory ``out``."""
    return Path(out) / f"trials_n{int(n)}_eta{eta:.6g}.csv"


def run_score_sweep(
    out: Path | str,
    model: BimodalModel,
    *,
    n: Sequence[int],
    etas: Sequence[float],
    keep_fractions: Sequence[float],
    methods: Sequence[str] = ("teacher-split", "oracle-score"),
    trials: int = 100,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = False,
    command: str = "",
    learner: str = "linear",
    teacher_learner: str | None = None,
) -> pd.DataFrame:
    r"""Run (or resume) a paired cosine-against-bilinear sweep and return all its trial rows.

    Parameters
    ----------
    out : path
        Directory for one CSV per :math:`(n, \eta)` block (:func:`block_path`) and the run log
        ``run.json``.
    model : BimodalModel
        :math:`d, \tilde d, r, \gamma, \tilde\gamma` (its :math:`\eta` is overridden).
    n : sequence of int
        Sample sizes :math:`n`.
    etas : sequence of float
        Clean fractions :math:`\eta`.
    keep_fractions : sequence of float
        Kept fractions :math:`q`.
    methods : sequence of str
        Filtering methods, each run with both scores (:func:`score_pair_specs`).
    trials : int
        Trials per block.
    seed : int
        Root seed (:func:`linclip.experiments.grid.trial_seed`).
    jobs : int
        Worker processes (results do not depend on it).
    progress : bool
        Progress bar over the trials of each block.
    command : str
        The command line, recorded in the run log.
    learner : {"linear", "pca", "infonce"}
        The students' learner (InfoNCE with its default
        :class:`~linclip.learners.infonce.InfoNCEOptions`).
    teacher_learner : str, optional
        The teachers' learner; default: the same as ``learner`` (the teacher is the model
        itself).

    Notes
    -----
    A block whose CSV exists is read, not rerun; a block CSV is written only when the block
    is complete, so an interrupted run loses at most the block it was working on.
    """
    import pandas as pd

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = score_pair_specs(methods, keep_fractions)
    trials = check_int("trials", trials)
    teacher_learner = learner if teacher_learner is None else teacher_learner
    model_dict = asdict(model)
    log_path = out / "run.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {"runs": [], "blocks": []}
    log["runs"].append(
        dict(
            command=command,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            model={k: model_dict[k] for k in ("d", "d_t", "r", "gamma", "gamma_t")},
            n=[int(v) for v in n],
            etas=[float(v) for v in etas],
            keep_fractions=[float(v) for v in keep_fractions],
            methods=list(methods),
            trials=trials,
            seed=seed,
            learner=learner,
            teacher_learner=teacher_learner,
        )
    )
    frames = []
    for nn in n:
        for eta in etas:
            path = block_path(out, nn, eta)
            if path.exists():
                frames.append(pd.read_csv(path))
                continue
            start = time.time()
            frame = run_grid(
                model,
                n=int(nn),
                eta=float(eta),
                methods=specs,
                trials=trials,
                seed=seed,
                jobs=jobs,
                progress=progress,
                learner=learner,
                teacher_learner=teacher_learner,
            )
            frame = frame[SWEEP_COLUMNS]
            frame.to_csv(path, index=False, float_format="%.8g")
            frames.append(pd.read_csv(path))
            log["blocks"].append(
                dict(
                    file=path.name,
                    n=int(nn),
                    eta=float(eta),
                    trials=trials,
                    wall_seconds=round(time.time() - start, 1),
                    jobs=jobs,
                    finished=datetime.now(UTC).isoformat(timespec="seconds"),
                    python=platform.python_version(),
                    numpy=np.__version__,
                )
            )
            log_path.write_text(json.dumps(log, indent=1) + "\n")
    log_path.write_text(json.dumps(log, indent=1) + "\n")
    return pd.concat(frames, ignore_index=True)


def load_score_sweep(out: Path | str) -> pd.DataFrame:
    """All trial rows of the blocks a sweep wrote to directory ``out``."""
    import pandas as pd

    files = sorted(Path(out).glob("trials_n*_eta*.csv"))
    if not files:
        raise ValueError(f"no sweep blocks (trials_n*_eta*.csv) in {str(out)!r}")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def distorted_teacher_sweep(
    model: BimodalModel,
    *,
    n: int,
    eta: float,
    distortions: Sequence[tuple[float, float]],
    keep_fractions: Sequence[float],
    planes: int = 1,
    trials: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Filter by a teacher whose only errors are a given rotation and stretch.

    For each trial (the pairs of :func:`linclip.experiments.grid.trial_source`) and each
    distortion :math:`(\varphi, \delta)`, the engine runs the ``given-teacher`` filter with the
    teacher :func:`linclip.theory.cosine.distorted_oracle` (the first ``planes`` planes
    rotated by :math:`\varphi`, singular values :math:`e^{\pm\delta}`) at each kept fraction
    with both scores, in one call (paired). :math:`(0, 0)` is the oracle-score filter.

    Parameters
    ----------
    model : BimodalModel
        :math:`d, \tilde d, r, \gamma, \tilde\gamma`.
    n : int
        Pairs per trial (all of them are scored).
    eta : float
        Clean fraction :math:`\eta`.
    distortions : sequence of (float, float)
        Pairs (rotation angle :math:`\varphi` in radians, stretch :math:`\delta`).
    keep_fractions : sequence of float
        Kept fractions :math:`q`.
    planes : int
        How many of the :math:`\lfloor r/2\rfloor` coordinate planes are rotated.
    trials : int
        Trials (the same pairs for every distortion within a trial).
    seed : int
        Root seed.

    Returns
    -------
    pandas.DataFrame
        :data:`linclip.experiments.rows.TRIAL_COLUMNS`, ``angle`` and ``stretch``.
    """
    import pandas as pd

    from ..filters.engine import run_methods_with_stats
    from ..theory.cosine import distorted_oracle
    from .grid import trial_source
    from .rows import TRIAL_COLUMNS, trial_rows

    planes = check_int("planes", planes, maximum=model.r // 2, what=f" in 1..{model.r // 2}")
    trials = check_int("trials", trials)
    specs = [
        MethodSpec("given-teacher", keep_fraction=q, score=sc)
        for q in [check_fraction("keep_fraction (q)", v) for v in keep_fractions]
        for sc in SCORES
    ]
    pairs = [(float(a), float(b)) for a, b in distortions]
    if not pairs:
        raise ValueError("distortions must name at least one (angle, stretch) pair")
    rows = []
    for t in range(trials):
        trial_model, sample = trial_source(model.with_eta(eta), n, t, seed=seed)
        for angle, stretch in pairs:
            teacher = distorted_oracle(
                trial_model.U, trial_model.U_t, [angle] * planes, stretch=stretch
            )
            outcomes, stats = run_methods_with_stats(
                sample, specs, trial_model.r, U=trial_model.U, U_t=trial_model.U_t, teacher=teacher
            )
            for row in trial_rows(
                trial_model, n, t, specs, outcomes, stats, rho=1.0, diagnostics=False
            ):
                row["angle"], row["stretch"] = angle, stretch
                rows.append(row)
    return pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, "angle", "stretch"])


#: Columns of :func:`score_diagnostics`.
DIAGNOSTIC_COLUMNS = [
    "eta",
    "n",
    "trial",
    "method",
    "keep_fraction",
    "score",
    "err",
    "predicted_err",
    "kept_clean_fraction",
    "spectrum_min",
    "spectrum_max",
    "anisotropy",
    "norm_sq_clean",
    "angle_max",
    "angle_sq",
    "stretch",
]


def score_diagnostics(
    model: BimodalModel,
    *,
    n: int,
    eta: float,
    keep_fraction: float,
    method: str = "teacher-split",
    trials: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Inside a trial: the teacher's embedding rotation and the kept set of each score.

    Each trial runs the ``method`` filter with both scores in one engine call
    (:func:`linclip.filters.engine.run_methods`, the pairs of
    :func:`linclip.experiments.grid.trial_source`, so the errors are those of
    :func:`run_score_sweep`). Then, with the engine's teacher, the kept set is rebuilt by the
    literal filter (the package's scores and top-:math:`q` mask, which the engine's tests
    check against the engine) and described: its clean fraction, the spectrum of
    :math:`\Sigma_u = E[uu^\top\mid\text{kept}]`, the mean :math:`\|u\|^2/r` of its clean
    pairs, and the plug-in first-order error
    (:func:`linclip.theory.cosine.anisotropic_first_order`) of a student trained on it.

    Parameters
    ----------
    model : BimodalModel
        :math:`d, \tilde d, r, \gamma, \tilde\gamma`.
    n : int
        Pairs per trial.
    eta : float
        Clean fraction :math:`\eta`.
    keep_fraction : float
        Kept fraction :math:`q`.
    method : {"teacher", "teacher-split", "oracle-score"}
        The filter.
    trials : int
        Trials.
    seed : int
        Root seed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DIAGNOSTIC_COLUMNS`; ``angle_*`` and ``stretch`` describe the teacher's
        rotation and stretch (:func:`linclip.theory.cosine.teacher_distortion_parts`; 0 for the
        oracle).
    """
    import pandas as pd

    from ..filters.engine import run_methods
    from ..filters.scores import (
        bilinear_score,
        cosine_score,
        teacher_score_matrix,
        top_fraction_mask,
    )
    from ..metrics import subspace_error
    from ..theory.cosine import anisotropic_first_order, kept_set_moments, teacher_distortion_parts
    from .grid import trial_source

    if method not in FILTERING_METHODS:
        raise ValueError(f"method must be one of {', '.join(FILTERING_METHODS)}; got {method!r}")
    q = check_fraction("keep_fraction (q)", keep_fraction)
    trials = check_int("trials", trials)
    specs = [MethodSpec(method, keep_fraction=q, score=sc) for sc in SCORES]
    rows = []
    for t in range(trials):
        m, sample = trial_source(model.with_eta(eta), n, t, seed=seed)
        if not isinstance(sample, PairSample):
            raise ValueError(
                f"n = {n} pairs are streamed, not held in memory; score_diagnostics needs "
                "n <= linclip.experiments.grid.IN_MEMORY_LIMIT"
            )
        outcomes = run_methods(sample, specs, m.r, U=m.U, U_t=m.U_t)
        pool = sample.split(n // 2)[1] if method == "teacher-split" else sample
        labels = np.asarray(pool.clean, dtype=bool)
        teacher = outcomes[0].teacher
        if teacher is None:  # the oracle: identity embeddings in signal coordinates
            from ..learners.contrastive import Encoders

            teacher = Encoders(m.U.T.copy(), m.U_t.T.copy())
            angles, stretch = np.zeros(m.r // 2), 0.0
        else:
            parts = teacher_distortion_parts(teacher, m.U, m.U_t)
            angles, stretch = parts.angles, parts.stretch
        for spec, out in zip(specs, outcomes, strict=True):
            if spec.score == "cosine":
                sc = cosine_score(pool.x, pool.xt, teacher.G, teacher.G_t)
            else:
                sc = bilinear_score(pool.x, pool.xt, teacher_score_matrix(teacher))
            mask = top_fraction_mask(sc, q, m.r)
            mom = kept_set_moments(pool.x, pool.xt, m.U, m.U_t, mask)
            clean = mask & labels
            u_clean = pool.x[clean] @ m.U
            ev = mom.spectrum_u
            rows.append(
                dict(
                    eta=eta,
                    n=n,
                    trial=t,
                    method=method,
                    keep_fraction=q,
                    score=spec.score,
                    err=subspace_error(out.student, m.U, m.U_t).err,
                    predicted_err=anisotropic_first_order(mom, m.d, m.d_t, m.gamma, m.gamma_t).err,
                    kept_clean_fraction=float(labels[mask].mean()),
                    spectrum_min=float(ev[0]),
                    spectrum_max=float(ev[-1]),
                    anisotropy=float(ev[0] / ev[-1]),
                    norm_sq_clean=float(np.mean(np.sum(u_clean**2, axis=1)) / m.r)
                    if clean.any()
                    else float("nan"),
                    angle_max=float(np.max(angles)) if angles.size else 0.0,
                    angle_sq=float(np.sum(angles**2)),
                    stretch=stretch,
                )
            )
    return pd.DataFrame(rows, columns=DIAGNOSTIC_COLUMNS)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m linclip.experiments.score_comparison``: run or resume a paired sweep."""
    p = argparse.ArgumentParser(
        prog="python -m linclip.experiments.score_comparison",
        description="Paired sweep: every filter with the bilinear and the cosine score on the "
        "same pairs (resumable; one CSV per (n, eta) block and a run log run.json).",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=int, nargs="+", default=[10_000], help="sample sizes n")
    p.add_argument("--eta", type=float, nargs="+", default=[0.3], help="clean fractions eta")
    p.add_argument(
        "--keep-fraction", type=float, nargs="+", default=[0.1, 0.3], help="kept fractions q"
    )
    p.add_argument(
        "--method",
        nargs="+",
        default=["teacher-split", "oracle-score"],
        choices=FILTERING_METHODS,
        help="filtering methods (each with both scores)",
    )
    p.add_argument("--d", type=int, default=10, help="dimension d of x")
    p.add_argument("--d-t", type=int, default=8, help="dimension d~ of x~")
    p.add_argument("--r", type=int, default=4, help="rank r")
    p.add_argument("--gamma", type=float, default=1e4, help="signal-to-noise gamma")
    p.add_argument("--gamma-t", type=float, default=1e4, help="signal-to-noise gamma~")
    p.add_argument("--trials", type=int, default=100, help="trials per (n, eta) block")
    p.add_argument("--seed", type=int, default=0, help="root seed")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    p.add_argument(
        "--learner",
        choices=("linear", "pca", "infonce"),
        default="linear",
        help="the students' learner (infonce: default InfoNCEOptions)",
    )
    p.add_argument(
        "--teacher-learner",
        choices=("linear", "pca", "infonce"),
        default=None,
        help="the teachers' learner (default: the same as --learner)",
    )
    args = p.parse_args(argv)
    try:
        model = BimodalModel(
            d=args.d, d_t=args.d_t, r=args.r, gamma=args.gamma, gamma_t=args.gamma_t
        )
        frame = run_score_sweep(
            args.out,
            model,
            n=args.n,
            etas=args.eta,
            keep_fractions=args.keep_fraction,
            methods=args.method,
            trials=args.trials,
            seed=args.seed,
            jobs=args.jobs,
            progress=args.progress,
            learner=args.learner,
            teacher_learner=args.teacher_learner,
            command=" ".join(["python -m linclip.experiments.score_comparison", *sys.argv[1:]])
            if argv is None
            else " ".join(["python -m linclip.experiments.score_comparison", *argv]),
        )
    except ValueError as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    table = paired_score_ratios(frame)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
