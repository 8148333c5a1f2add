r"""The paper's experiments (Figure 3a and Table 1) at book scale and at paper scale.

Three pieces:

* **Experiment definitions.** :func:`experiment_config` returns a frozen
  :class:`ExperimentConfig` for ``"fig3a"`` (ERR against the clean fraction :math:`\eta`) or
  ``"table1"`` (ERR against the kept fraction :math:`q`), at ``"book"`` scale (small enough for a
  notebook) or ``"paper"`` scale (the paper's :math:`n = 10^7` for Figure 3a).
* **A fused trial.** :func:`~linclip.experiments.runner.run_methods_fused` runs several methods of
  :mod:`linclip.filters` on one sample while sharing the passes over the data: pass 1 trains
  the unfiltered learner, the clean-label oracle and the teachers; pass 2 scores with the
  teachers and accumulates every kept set. Its results equal those of separate
  :func:`linclip.filters.methods.run_method` calls exactly (same chunks, same accumulation order), but a
  streamed :math:`n = 10^7` trial generates its data about 1.5 times instead of about 11 times.
* **A resumable runner.** :func:`~linclip.experiments.runner.run_experiment` appends every finished trial to a CSV file
  (flushed per trial), skips the trials already in the file when it is restarted, and rewrites
  the file in a canonical order when the run completes, so an interrupted-and-resumed run ends
  with the same file as an uninterrupted one. Results do not depend on the number of worker
  processes.

Reproducibility contract: trial ``t`` at clean fraction ``eta`` uses exactly the bases and the
pairs of :func:`linclip.experiments.grid.run_trial` for ``(seed, n, eta, t)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .._validate import check_int, check_positive
from ..data.model import BimodalModel
from .grid import MethodSpec

__all__ = [
    "CSV_COLUMNS",
    "EXPERIMENTS",
    "SCALES",
    "PAPER_ETAS",
    "TABLE1_KEEP_FRACTIONS",
    "Regime",
    "ExperimentConfig",
    "experiment_config",
]


EXPERIMENTS = ("fig3a", "table1")
SCALES = ("book", "paper")

#: Columns of the per-trial CSV, one row per (eta, trial, method): a projection of
#: :data:`linclip.experiments.rows.TRIAL_COLUMNS`.
CSV_COLUMNS = [
    "eta",
    "n",
    "trial",
    "method",
    "theta",
    "keep_fraction",
    "err",
    "err_x",
    "err_xt",
    "n_pool",
    "n_kept",
    "n_kept_clean",
    "sample_clean_fraction",
    "sampler",
]

#: The paper's ten clean fractions, geometric from 1 down to 1e-3.
PAPER_ETAS = tuple(float(v) for v in np.geomspace(1.0, 1e-3, 10))
#: Table 1's kept fractions q.
TABLE1_KEEP_FRACTIONS = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0)


# ============================================================================ definitions
@dataclass(frozen=True)
class Regime:
    r"""A range of :math:`\eta` over which one method's ERR should follow a power law.

    Attributes
    ----------
    method : str
        Method name (``none``, ``teacher-split``, ...).
    label : str
        Short name of the regime, e.g. ``"large eta"``.
    eta_min, eta_max : float
        Closed range of :math:`\eta` used for the fit.
    expected_slope : float
        Exponent of :math:`\eta` predicted by the paper (-1, -1/2 or 0).
    """

    method: str
    label: str
    eta_min: float
    eta_max: float
    expected_slope: float


@dataclass(frozen=True)
class ExperimentConfig:
    r"""Everything that defines one of the paper's experiments (except the number of trials).

    Parameters
    ----------
    name : {"fig3a", "table1"}
        Which experiment.
    scale : {"book", "paper"}
        ``book``: small enough to run inside a notebook; ``paper``: the paper's setting.
    n : int
        Number of pairs :math:`n` per trial.
    etas : tuple of float
        Clean fractions :math:`\eta`.
    methods : tuple of MethodSpec
        Methods run on the same pairs in every trial.
    trials : int
        Trials per :math:`\eta`.
    d, d_t, r : int
        Dimensions :math:`d, \tilde d` and rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\gamma, \tilde\gamma`.
    rho : float
        Regularisation :math:`\rho` (does not change the learned subspaces).
    seed : int
        Root seed (see :func:`linclip.experiments.grid.trial_seed`).
    chunk_size : int
        Pairs per chunk when a trial streams its data (:math:`n >` ``IN_MEMORY_LIMIT``).
    regimes : tuple of Regime
        Where to fit slopes (Figure 3a only).
    sampler : {"pairs", "exact", "exact-paired", "auto"}
        How each trial's statistics are drawn
        (:func:`linclip.experiments.grid.trial_samplers`); part of the definition (with the
        revision of the exact draws, :data:`linclip.data.exact.EXACT_DRAWS_REVISION`), so a
        resumed run never mixes rows of different samplers.
    """

    name: str
    scale: str
    n: int
    etas: tuple[float, ...]
    methods: tuple[MethodSpec, ...]
    trials: int
    d: int = 10
    d_t: int = 8
    r: int = 4
    gamma: float = 1e4
    gamma_t: float = 1e4
    rho: float = 1.0
    seed: int = 0
    chunk_size: int = 200_000
    regimes: tuple[Regime, ...] = field(default=(), compare=False)
    sampler: str = "pairs"

    def __post_init__(self) -> None:
        if self.name not in EXPERIMENTS:
            raise ValueError(
                f"experiment must be one of {', '.join(EXPERIMENTS)}; got {self.name!r}"
            )
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {self.scale!r}")
        object.__setattr__(self, "n", check_int("n", self.n, minimum=2))
        object.__setattr__(self, "trials", check_int("trials", self.trials))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))
        object.__setattr__(self, "chunk_size", check_int("chunk_size", self.chunk_size))
        check_positive("rho", self.rho)
        self.model(self.etas[0] if self.etas else 1.0)  # validates d, d_t, r, gamma, eta
        if not self.etas or not self.methods:
            raise ValueError("an experiment needs at least one eta and one method")
        for spec in self.methods:
            if not isinstance(spec, MethodSpec):
                raise ValueError(f"methods must be MethodSpec objects; got {spec!r}")
            # Re-validate: a spec altered after construction (object.__setattr__) must not
            # carry a kept fraction of 2.0 or -0.5 into a run's definition and records.
            MethodSpec(spec.method, theta=spec.theta, keep_fraction=spec.keep_fraction)
        for eta in self.etas:
            self.model(eta)
        from .grid import trial_samplers

        trial_samplers(self.methods, self.sampler)  # validates the sampler and its routes

    def samplers(self) -> list[str]:
        """The sampler each method runs on (``"pairs"``, ``"exact"`` or ``"exact-paired"``)."""
        from .grid import trial_samplers

        return trial_samplers(self.methods, self.sampler)

    def model(self, eta: float) -> BimodalModel:
        """The data model at clean fraction ``eta`` (bases are redrawn per trial)."""
        return BimodalModel(
            d=self.d, d_t=self.d_t, r=self.r, gamma=self.gamma, gamma_t=self.gamma_t, eta=eta
        )

    @property
    def stem(self) -> str:
        """File-name stem of the outputs, e.g. ``fig3a_paper``."""
        return f"{self.name}_{self.scale}"

    def identity(self) -> dict:
        """The JSON-able definition that a resumed run must match (everything but ``trials``)."""
        out = {
            "name": self.name,
            "scale": self.scale,
            "n": self.n,
            "etas": list(self.etas),
            "methods": [asdict(m) for m in self.methods],
            "d": self.d,
            "d_t": self.d_t,
            "r": self.r,
            "gamma": self.gamma,
            "gamma_t": self.gamma_t,
            "rho": self.rho,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "sampler": self.sampler,
        }
        if self.sampler != "pairs":  # the exact draws changed once; pairs runs keep their id
            from ..data.exact import EXACT_DRAWS_REVISION

            out["exact_draws"] = EXACT_DRAWS_REVISION
        return out


def _fig3a_regimes(eta_none_min: float, eta_small_min: float) -> tuple[Regime, ...]:
    """Fit ranges for Figure 3a.

    ``eta_none_min``: smallest eta in the unfiltered fit (above the breakdown);
    ``eta_small_min``: smallest eta in the filtered small-eta fit.
    """
    return (
        Regime("none", "above breakdown", eta_none_min, 1.0, -1.0),
        Regime("teacher-split", "large eta (>= 0.1)", 0.1, 1.0, -0.5),
        Regime("teacher-split", "small eta (<= 0.05)", eta_small_min, 0.05, 0.0),
        Regime("teacher", "large eta (>= 0.1)", 0.1, 1.0, -0.5),
        Regime("teacher", "small eta (<= 0.05)", eta_small_min, 0.05, 0.0),
        Regime("oracle-clean", "all eta", 1e-3, 1.0, -0.5),
    )


#: Book-scale Figure 3a: n and trials chosen so the notebook runs in well under a minute.
BOOK_FIG3A_N = 100_000
BOOK_FIG3A_TRIALS = 10


def experiment_config(
    name: str,
    scale: str = "book",
    *,
    trials: int | None = None,
    seed: int = 0,
    sampler: str = "pairs",
) -> ExperimentConfig:
    r"""The definition of one of the paper's experiments.

    Parameters
    ----------
    name : {"fig3a", "table1"}
        ``fig3a``: ERR against :math:`\eta` for no filtering, teacher filtering with
        :math:`\theta = 0` and the clean-label oracle (brief §7). ``table1``: :math:`n = 10^4`,
        :math:`\eta = 0.3`, kept fraction :math:`q \in \{1, 10, 20, 30, 40, 50, 100\}\%`,
        for the half split (Algorithm 1) and the full-sample teacher.
    scale : {"book", "paper"}
        ``fig3a`` book: :math:`n = 10^5`, 10 trials, four methods (Algorithm 1 and the
        full-sample teacher). ``fig3a`` paper: :math:`n = 10^7`, 95 trials (about the
        paper's count), four methods: none, Algorithm 1, the clean-label oracle and the
        oracle score, both filters at :math:`\theta = 0`.
        ``table1`` has :math:`n = 10^4` at both scales; book: 200 trials, paper: 1000 trials
        (the paper's count is not stated).
    trials : int, optional
        Override the number of trials per :math:`\eta`.
    seed : int
        Root seed.
    sampler : {"pairs", "exact", "exact-paired", "auto"}
        How the trials' statistics are drawn (:class:`ExperimentConfig`). Book-scale
        ``fig3a`` (full-sample teacher) and ``table1`` (kept fractions) have methods without
        an exact route: ``"exact"`` raises for them, ``"auto"`` runs those on pairs.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; got {name!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    if name == "fig3a":
        methods: list[MethodSpec] = [MethodSpec("none"), MethodSpec("teacher-split", theta=0.0)]
        if scale == "book":
            methods.append(MethodSpec("teacher", theta=0.0))
        methods.append(MethodSpec("oracle-clean"))
        if scale == "paper":
            methods.append(MethodSpec("oracle-score", theta=0.0))
        n = BOOK_FIG3A_N if scale == "book" else 10_000_000
        default_trials = BOOK_FIG3A_TRIALS if scale == "book" else 95
        # The unfiltered learner needs roughly eta >~ sqrt(max(d, d_t) / n) (the paper's
        # sample-size condition): 0.01 at n = 1e5, 1e-3 at n = 1e7. Fit slopes above it.
        regimes = _fig3a_regimes(0.04, 0.01) if scale == "book" else _fig3a_regimes(2e-3, 2e-3)
        cfg = ExperimentConfig(
            "fig3a",
            scale,
            n,
            PAPER_ETAS,
            tuple(methods),
            trials if trials is not None else default_trials,
            seed=seed,
            regimes=regimes,
            sampler=sampler,
        )
    else:
        table_methods = tuple(
            MethodSpec(m, keep_fraction=q)
            for m in ("teacher-split", "teacher")
            for q in TABLE1_KEEP_FRACTIONS
        )
        default_trials = 200 if scale == "book" else 1000
        cfg = ExperimentConfig(
            "table1",
            scale,
            10_000,
            (0.3,),
            table_methods,
            trials if trials is not None else default_trials,
            seed=seed,
            sampler=sampler,
        )
    return cfg
