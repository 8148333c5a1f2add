r"""The structured-noise sweep of Part III (chapter "Structured noise").

Five noise settings on the paper's dimensions (:math:`d = 10`, :math:`\tilde d = 8`, :math:`r = 4`),
each over :math:`\eta`, for the unfiltered learner, Algorithm 1 (``teacher-split``, :math:`\theta = 0`),
the oracle score (:math:`\theta = 0`) and per-modality PCA, all through
:func:`linclip.experiments.grid.run_grid`:

* ``isotropic``: :math:`\gamma = \tilde\gamma = 10` (noise power :math:`d/\gamma = 1` in :math:`x`);
* ``hetero``: the same power in :math:`x`, spread over the coordinates with the geometric profile
  of spread :math:`c = 20` (:func:`linclip.data.model.hetero_profile`);
* ``spiked-orthogonal``: :math:`\gamma^{-1}I + \lambda VV^\top` in :math:`x`, :math:`k = 2`,
  :math:`\lambda = 2` (stronger than the signal's variance :math:`1 + \gamma^{-1}`), :math:`V \perp U`;
* ``spiked-random``: the same with Haar-random :math:`V`;
* ``matched-isotropic``: isotropic noise with the spiked settings' power in :math:`x`
  (:meth:`linclip.data.model.BimodalModel.matched_isotropic`, :math:`\gamma = 2`).

``python -m linclip.experiments.structured_noise --out FILE.csv`` runs it (resumable: cases
already in ``FILE`` are kept); the chapter reads the committed CSV and re-runs one cell to show
that the file is what the package produces.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from ..data.model import BimodalModel, NoiseModel
from ..filters.spec import MethodSpec
from .grid import _trial_model, run_grid

__all__ = [
    "NOISE_CASES",
    "SWEEP_ETAS",
    "SWEEP_N",
    "SWEEP_METHODS",
    "noise_case",
    "trial_model",
    "run_noise_sweep",
    "sweep_predictions",
    "sweep_summary",
    "sweep_slopes",
    "paired_ratios",
]

#: The sweep's clean fractions and sample size.
SWEEP_ETAS = (1.0, 0.5, 0.2, 0.1, 0.05)
SWEEP_N = 20_000
#: Methods of the contrastive learner in the sweep (PCA runs as method ``none``).
SWEEP_METHODS = (
    MethodSpec("none"),
    MethodSpec("teacher-split", theta=0.0),
    MethodSpec("oracle-score", theta=0.0),
)
_BASE = BimodalModel(d=10, d_t=8, r=4, gamma=10.0, gamma_t=10.0)
_SPIKE = NoiseModel("spiked", rank=2, strength=2.0)

#: The noise settings by name (models with ``eta = 1``; the sweep sets :math:`\eta`).
NOISE_CASES: dict[str, BimodalModel] = {
    "isotropic": _BASE,
    "hetero": replace(_BASE, noise=NoiseModel("hetero", strength=20.0)),
    "spiked-orthogonal": replace(_BASE, noise=_SPIKE),
    "spiked-random": replace(_BASE, noise=replace(_SPIKE, directions="random")),
    "matched-isotropic": replace(_BASE, noise=_SPIKE).matched_isotropic(),
}


def noise_case(name: str) -> BimodalModel:
    """The model of one named noise setting (:data:`NOISE_CASES`)."""
    if name not in NOISE_CASES:
        raise ValueError(f"noise case must be one of {', '.join(NOISE_CASES)}; got {name!r}")
    return NOISE_CASES[name]


def trial_model(model: BimodalModel, n: int, trial: int, seed: int = 0) -> BimodalModel:
    """The model (bases and spike directions) that trial ``trial`` of ``run_grid`` uses."""
    return _trial_model(model, n, trial, seed, True)[0]


def run_noise_sweep(
    cases: tuple[str, ...] | list[str] = tuple(NOISE_CASES),
    *,
    etas: tuple[float, ...] = SWEEP_ETAS,
    n: int = SWEEP_N,
    trials: int = 30,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = False,
):
    """Run the sweep; one row per (case, learner, eta, trial, method), with a ``case`` column.

    Returns a pandas DataFrame with :data:`linclip.experiments.rows.TRIAL_COLUMNS` plus ``case``.
    """
    import pandas as pd

    frames = []
    for name in cases:
        model = noise_case(name)
        for learner, methods in (("linear", SWEEP_METHODS), ("pca", (MethodSpec("none"),))):
            frame = run_grid(
                model,
                n=n,
                eta=etas,
                methods=methods,
                trials=trials,
                seed=seed,
                jobs=jobs,
                learner=learner,
                progress=progress,
            )
            frame.insert(0, "case", name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _method_label(frame):
    """``method`` for the contrastive learner, ``pca`` for the PCA rows."""
    return frame["method"].where(frame["learner"] == "linear", frame["learner"])


def sweep_predictions(
    cases: tuple[str, ...] | list[str] = tuple(NOISE_CASES),
    *,
    etas: tuple[float, ...] = SWEEP_ETAS,
    n: int = SWEEP_N,
    trials: int = 30,
    seed: int = 0,
):
    r"""First-order predictions for every trial model of the sweep.

    One row per (case, eta, trial, method) with ``err_pred``: the unfiltered learner
    (:func:`linclip.theory.structured_noise.predict_structured`), the oracle score at
    :math:`\theta = 0` where the prediction extends (NaN elsewhere), and PCA
    (:func:`linclip.theory.structured_noise.predict_pca`). Each trial's own bases and spike
    directions (:func:`trial_model`) are used.
    """
    import math

    import numpy as np
    import pandas as pd

    from ..theory.structured_noise import noise_blocks, predict_pca, predict_structured

    def spectrum(*mats) -> tuple:
        return tuple(tuple(np.round(np.linalg.eigvalsh(a), 10)) for a in mats)

    cache: dict[tuple, tuple[float, float, float]] = {}
    rows = []
    for name in cases:
        for eta in etas:
            base = noise_case(name).with_eta(eta)
            for t in range(trials):
                m = trial_model(base, n, t, seed)
                bx, bt = noise_blocks(m)
                pca = predict_pca(m, n)
                # The predictions depend on the model only through these spectra (and PCA's
                # bias): trials with the same spectra share one computation.
                key = (
                    eta,
                    spectrum(bx.complement, bx.signal, bt.complement, bt.signal),
                    round(bx.leak, 10),
                    round(bt.leak, 10),
                    spectrum(m.covariance_x(), m.covariance_xt()),
                    round(pca.bias_x, 10),
                    round(pca.bias_xt, 10),
                )
                if key not in cache:
                    try:
                        oracle = predict_structured(m, n, "oracle-score", theta=0.0).err
                    except ValueError:  # does not extend (random spikes, hetero)
                        oracle = math.nan
                    cache[key] = (predict_structured(m, n).err, oracle, pca.err)
                for method, err in zip(("none", "oracle-score", "pca"), cache[key], strict=True):
                    rows.append(dict(case=name, eta=eta, trial=t, method=method, err_pred=err))
    return pd.DataFrame(rows)


def sweep_summary(frame, predictions=None):
    """Mean and standard error of ERR per (case, method, eta); PCA rows as method ``pca``.

    With ``predictions`` (:func:`sweep_predictions`), adds their mean ``err_pred``.
    """
    tidy = frame.assign(method=_method_label(frame))
    out = (
        tidy.groupby(["case", "method", "eta"])["err"]
        .agg(err_mean="mean", err_sem="sem", trials="count")
        .reset_index()
    )
    if predictions is not None:
        pred = predictions.groupby(["case", "method", "eta"])["err_pred"].mean().reset_index()
        out = out.merge(pred, on=["case", "method", "eta"], how="left")
    return out


def sweep_slopes(summary, *, lo: float | None = None, hi: float | None = None):
    r"""Weighted log-log slope of ERR against :math:`\eta` per (case, method) on ``[lo, hi]``.

    :func:`linclip.stats.fit_rate` with the standard errors as weights (its slope error is
    inflated when the points do not lie on a power law).
    """
    import pandas as pd

    from ..stats import fit_rate

    rows = []
    for (case, method), g in summary.groupby(["case", "method"], sort=False):
        g = g.sort_values("eta")
        fit = fit_rate(g["eta"], g["err_mean"], y_sem=g["err_sem"], lo=lo, hi=hi)
        rows.append(dict(case=case, method=method, slope=fit.slope, slope_se=fit.slope_stderr))
    return pd.DataFrame(rows)


def paired_ratios(frame, num: str, den: str = "none"):
    """Per (case, eta): mean and standard error of the per-trial ratio ERR(num)/ERR(den).

    Methods of one trial see the same pairs, so the ratio is a paired comparison. ``pca`` names
    the PCA rows.
    """
    tidy = frame.assign(method=_method_label(frame))
    wide = tidy.pivot_table(index=["case", "eta", "trial"], columns="method", values="err")
    ratio = (wide[num] / wide[den]).rename("ratio").reset_index()
    return (
        ratio.groupby(["case", "eta"])["ratio"]
        .agg(ratio_mean="mean", ratio_sem="sem")
        .reset_index()
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: run the sweep into a CSV file (resumable per case)."""
    import pandas as pd

    p = argparse.ArgumentParser(prog="python -m linclip.experiments.structured_noise")
    p.add_argument("--out", required=True, help="CSV file (cases already in it are skipped)")
    p.add_argument("--trials", type=int, default=30, help="trials per (case, eta) (default 30)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    p.add_argument("--n", type=int, default=SWEEP_N, help=f"pairs n (default {SWEEP_N})")
    p.add_argument(
        "--etas",
        default=",".join(f"{e:g}" for e in SWEEP_ETAS),
        help="comma-separated clean fractions eta (default the chapter's)",
    )
    args = p.parse_args(argv)
    etas = tuple(float(e) for e in args.etas.split(","))
    done = pd.read_csv(args.out) if os.path.exists(args.out) else None
    for name in NOISE_CASES:
        if done is not None and name in set(done["case"]):
            continue
        frame = run_noise_sweep(
            [name],
            etas=etas,
            n=args.n,
            trials=args.trials,
            jobs=args.jobs,
            progress=args.progress,
        )
        done = frame if done is None else pd.concat([done, frame], ignore_index=True)
        done.to_csv(args.out, index=False)
        print(f"{name}: {len(frame)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
