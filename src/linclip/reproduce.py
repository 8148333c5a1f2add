r"""The paper's experiments (Figure 3a and Table 1) at book scale and at paper scale.

Three pieces:

* **Experiment definitions.** :func:`experiment_config` returns a frozen
  :class:`ExperimentConfig` for ``"fig3a"`` (ERR against the clean fraction :math:`\eta`) or
  ``"table1"`` (ERR against the kept fraction :math:`q`), at ``"book"`` scale (small enough for a
  notebook) or ``"paper"`` scale (the paper's :math:`n = 10^7` for Figure 3a).
* **A fused trial.** :func:`run_methods_fused` runs several methods of
  :mod:`linclip.filters` on one sample while sharing the passes over the data: pass 1 trains
  the unfiltered learner, the clean-label oracle and the teachers; pass 2 scores with the
  teachers and accumulates every kept set. Its results equal those of separate
  :func:`linclip.filters.run_method` calls exactly (same chunks, same accumulation order), but a
  streamed :math:`n = 10^7` trial generates its data about 1.5 times instead of about 11 times.
* **A resumable runner.** :func:`run_experiment` appends every finished trial to a CSV file
  (flushed per trial), skips the trials already in the file when it is restarted, and rewrites
  the file in a canonical order when the run completes, so an interrupted-and-resumed run ends
  with the same file as an uninterrupted one. Results do not depend on the number of worker
  processes.

Reproducibility contract: trial ``t`` at clean fraction ``eta`` uses exactly the bases and the
pairs of :func:`linclip.experiments.run_trial` for ``(seed, n, eta, t)``.
"""

from __future__ import annotations

import csv
import ctypes
import glob
import io
import json
import math
import os
import platform
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ._validate import check_int, check_positive
from .experiments import MethodSpec, trial_source
from .filters import (FILTERING_METHODS, FilterOutcome, _too_few, bilinear_score, kept_count,
                      oracle_score_matrix, teacher_score_matrix)
from .learner import CrossCovarianceAccumulator, Encoders, closed_form_encoders, min_pairs_for_rank
from .metrics import subspace_error
from .model import BimodalModel, PairSample, StreamingSample

__all__ = [
    "EXPERIMENTS", "SCALES", "CSV_COLUMNS", "Regime", "ExperimentConfig", "experiment_config",
    "run_methods_fused", "run_fused_trial", "run_experiment", "load_trials", "output_paths",
    "summarize_trials", "complete_sweeps", "fit_regimes", "table1_rows", "first_order_errors", "plot_fig3a",
    "write_fig3a_figure", "machine_info", "limit_blas_threads",
]

EXPERIMENTS = ("fig3a", "table1")
SCALES = ("book", "paper")

#: Columns of the per-trial CSV, one row per (eta, trial, method).
CSV_COLUMNS = ["eta", "n", "trial", "method", "theta", "keep_fraction", "err", "err_x", "err_xt",
               "n_pool", "n_kept", "n_kept_clean", "sample_clean_fraction"]

#: The paper's ten clean fractions, geometric from 1 down to 1e-3.
PAPER_ETAS = tuple(float(v) for v in np.geomspace(1.0, 1e-3, 10))
#: Table 1's kept fractions q.
TABLE1_KEEP_FRACTIONS = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0)


# ============================================================================ definitions
@dataclass(frozen=True)
class Regime:
    """A range of :math:`\\eta` over which one method's ERR should follow a power law.

    Attributes
    ----------
    method : str
        Method name (``none``, ``teacher-split``, ...).
    label : str
        Short name of the regime, e.g. ``"large eta"``.
    eta_min, eta_max : float
        Closed range of :math:`\\eta` used for the fit.
    expected_slope : float
        Exponent of :math:`\\eta` predicted by the paper (-1, -1/2 or 0).
    """

    method: str
    label: str
    eta_min: float
    eta_max: float
    expected_slope: float


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one of the paper's experiments (except the number of trials).

    Parameters
    ----------
    name : {"fig3a", "table1"}
        Which experiment.
    scale : {"book", "paper"}
        ``book``: small enough to run inside a notebook; ``paper``: the paper's setting.
    n : int
        Number of pairs :math:`n` per trial.
    etas : tuple of float
        Clean fractions :math:`\\eta`.
    methods : tuple of MethodSpec
        Methods run on the same pairs in every trial.
    trials : int
        Trials per :math:`\\eta`.
    d, d_t, r : int
        Dimensions :math:`d, \\tilde d` and rank :math:`r`.
    gamma, gamma_t : float
        Signal-to-noise parameters :math:`\\gamma, \\tilde\\gamma`.
    rho : float
        Regularisation :math:`\\rho` (does not change the learned subspaces).
    seed : int
        Root seed (see :func:`linclip.experiments.trial_seed`).
    chunk_size : int
        Pairs per chunk when a trial streams its data (:math:`n >` ``IN_MEMORY_LIMIT``).
    regimes : tuple of Regime
        Where to fit slopes (Figure 3a only).
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

    def __post_init__(self) -> None:
        if self.name not in EXPERIMENTS:
            raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; "
                             f"got {self.name!r}")
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
        _check_specs(self.methods)
        for eta in self.etas:
            self.model(eta)

    def model(self, eta: float) -> BimodalModel:
        """The data model at clean fraction ``eta`` (bases are redrawn per trial)."""
        return BimodalModel(d=self.d, d_t=self.d_t, r=self.r, gamma=self.gamma,
                            gamma_t=self.gamma_t, eta=eta)

    @property
    def stem(self) -> str:
        """File-name stem of the outputs, e.g. ``fig3a_paper``."""
        return f"{self.name}_{self.scale}"

    def identity(self) -> dict:
        """The JSON-able definition that a resumed run must match (everything but ``trials``)."""
        return {"name": self.name, "scale": self.scale, "n": self.n, "etas": list(self.etas),
                "methods": [asdict(m) for m in self.methods], "d": self.d, "d_t": self.d_t,
                "r": self.r, "gamma": self.gamma, "gamma_t": self.gamma_t, "rho": self.rho,
                "seed": self.seed, "chunk_size": self.chunk_size}


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


def experiment_config(name: str, scale: str = "book", *, trials: int | None = None,
                      seed: int = 0) -> ExperimentConfig:
    """The definition of one of the paper's experiments.

    Parameters
    ----------
    name : {"fig3a", "table1"}
        ``fig3a``: ERR against :math:`\\eta` for no filtering, teacher filtering with
        :math:`\\theta = 0` and the clean-label oracle (brief §7). ``table1``: :math:`n = 10^4`,
        :math:`\\eta = 0.3`, kept fraction :math:`q \\in \\{1, 10, 20, 30, 40, 50, 100\\}\\%`,
        for the half split (Algorithm 1) and the full-sample teacher.
    scale : {"book", "paper"}
        ``fig3a`` book: :math:`n = 10^5`, 10 trials, four methods (Algorithm 1 and the
        full-sample teacher). ``fig3a`` paper: :math:`n = 10^7`, 95 trials (about the
        paper's count), three methods (Algorithm 1 only, which saves half a pass per trial).
        ``table1`` has :math:`n = 10^4` at both scales; book: 200 trials, paper: 1000 trials
        (the paper's count is not stated).
    trials : int, optional
        Override the number of trials per :math:`\\eta`.
    seed : int
        Root seed.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}; got {name!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    if name == "fig3a":
        methods = [MethodSpec("none"), MethodSpec("teacher-split", theta=0.0)]
        if scale == "book":
            methods.append(MethodSpec("teacher", theta=0.0))
        methods.append(MethodSpec("oracle-clean"))
        n = BOOK_FIG3A_N if scale == "book" else 10_000_000
        default_trials = BOOK_FIG3A_TRIALS if scale == "book" else 95
        # The unfiltered learner needs roughly eta >~ sqrt(max(d, d_t) / n) (the paper's
        # sample-size condition): 0.01 at n = 1e5, 1e-3 at n = 1e7. Fit slopes above it.
        regimes = _fig3a_regimes(0.04, 0.01) if scale == "book" else _fig3a_regimes(2e-3, 2e-3)
        cfg = ExperimentConfig("fig3a", scale, n, PAPER_ETAS, tuple(methods),
                               trials if trials is not None else default_trials, seed=seed,
                               regimes=regimes)
    else:
        methods = tuple(MethodSpec(m, keep_fraction=q) for m in ("teacher-split", "teacher")
                        for q in TABLE1_KEEP_FRACTIONS)
        default_trials = 200 if scale == "book" else 1000
        cfg = ExperimentConfig("table1", scale, 10_000, (0.3,), methods,
                               trials if trials is not None else default_trials, seed=seed)
    return cfg


# ============================================================================ fused trial
def _tail_chunks(stream: StreamingSample, start: int) -> Iterator[PairSample]:
    """The chunks of ``stream`` from pair ``start`` on, without generating earlier chunks.

    Yields exactly the pieces of ``_split_chunks(stream.chunks(), start, 1)``: chunk ``k`` of a
    :class:`StreamingSample` is drawn from the ``k``-th child of its seed, so chunks before
    ``start`` can be skipped.
    """
    n, size = stream.n, stream.chunk_size
    seed = stream.seed
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    n_chunks = -(-n // size)
    children = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key,
                                      pool_size=ss.pool_size).spawn(n_chunks)
    for k in range(start // size, n_chunks):
        chunk = stream.model.sample(min(size, n - k * size), np.random.default_rng(children[k]))
        cut = max(start - k * size, 0)
        piece = chunk.subset(slice(cut, None)) if cut else chunk
        if piece.n:
            yield piece


class _KeptSet:
    """Accumulator of the pairs one filtering method keeps."""

    def __init__(self) -> None:
        self.acc: CrossCovarianceAccumulator | None = None
        self.n_clean = 0

    def add(self, piece: PairSample) -> None:
        if self.acc is None:
            self.acc = CrossCovarianceAccumulator(piece.x.shape[1], piece.xt.shape[1])
        self.acc.update(piece.x, piece.xt)
        self.n_clean += piece.clean_count

    @property
    def n(self) -> int:
        return 0 if self.acc is None else self.acc.n

    def fit(self, r: int, rho: float) -> Encoders:
        if self.n < min_pairs_for_rank(r):
            raise ValueError(f"need at least r + 1 = {min_pairs_for_rank(r)} pairs to learn a "
                             f"rank-{r} subspace; got {self.n}")
        return closed_form_encoders(self.acc.covariance(), r, rho)


def _check_specs(methods: Sequence[MethodSpec]) -> list[MethodSpec]:
    specs = list(methods)
    if not specs:
        raise ValueError("methods must name at least one method")
    for spec in specs:
        if not isinstance(spec, MethodSpec):
            raise ValueError(f"methods must be MethodSpec objects; got {spec!r}")
        if spec.method in FILTERING_METHODS and (spec.theta is None) == (spec.keep_fraction is None):
            raise ValueError(f"method {spec.method!r} needs exactly one of theta and keep_fraction")
    return specs


def run_methods_fused(source: PairSample | StreamingSample, methods: Sequence[MethodSpec],
                      r: int, *, rho: float = 1.0, U: np.ndarray | None = None,
                      U_t: np.ndarray | None = None,
                      score_units: str = "oracle") -> list[FilterOutcome]:
    r"""Run several methods on one sample, sharing the passes over the data.

    The result for every method is identical to
    ``run_method(source, spec.method, r, rho=rho, theta=spec.theta,
    keep_fraction=spec.keep_fraction, U=U, U_t=U_t, score_units=score_units)``: the same
    chunks are added to the same accumulators in the same order. Only the number of passes
    changes:

    * pass 1 (all pairs): :math:`S_n` for ``none`` and the ``teacher``, the clean-only
      :math:`S` for ``oracle-clean``, the first-half :math:`S` for the ``teacher-split`` teacher;
    * pass 2 (the pools to filter; only the second half if ``teacher-split`` is the only
      filter and the source is a :class:`~linclip.model.StreamingSample`): score with every
      teacher and accumulate every threshold-filtered kept set;
    * pass 3, only for kept-fraction specs: accumulate the top-:math:`q` sets once every score
      (and so every cut) is known.

    Parameters
    ----------
    source : PairSample or StreamingSample
        The :math:`n` pairs (anything with ``n`` and ``chunks()``).
    methods : sequence of MethodSpec
        Methods with their knob (:math:`\theta` or :math:`q`).
    r : int
        Rank :math:`r`.
    rho : float
        Regularisation :math:`\rho`.
    U, U_t : ndarray, optional
        True bases, needed by ``oracle-score``.
    score_units : {"oracle", "raw"}
        Units of the teachers' scores (see :func:`linclip.filters.teacher_score_matrix`).

    Returns
    -------
    list of FilterOutcome
        One per method, in the order given.
    """
    specs = _check_specs(methods)
    r = check_int("r", r)
    rho = check_positive("rho", rho)
    n_total = check_int("n", source.n, minimum=2)
    n_first = n_total // 2
    names = {s.method for s in specs}
    if "oracle-score" in names and (U is None or U_t is None):
        raise ValueError("method 'oracle-score' needs the true bases U and U_t")

    # ---- pass 1: everything that needs no score.
    need_all = bool(names & {"none", "teacher"})
    acc_all = _KeptSet()
    acc_clean = _KeptSet()
    acc_first = _KeptSet()
    offset = 0
    for chunk in source.chunks():
        lo = offset
        offset += chunk.n
        if need_all:
            acc_all.add(chunk)
        if "oracle-clean" in names:
            acc_clean.add(chunk.subset(chunk.clean))
        if "teacher-split" in names:
            cut = min(max(n_first - lo, 0), chunk.n)
            if cut:  # the pieces of _split_chunks(..., part=0)
                acc_first.add(chunk.subset(slice(0, cut)))

    results: dict[int, FilterOutcome] = {}
    full_fit = acc_all.fit(r, rho) if need_all else None
    for i, spec in enumerate(specs):
        if spec.method == "none":
            results[i] = FilterOutcome(full_fit, None, acc_all.n, acc_all.n, acc_all.n_clean,
                                       math.nan)
        elif spec.method == "oracle-clean":
            results[i] = FilterOutcome(acc_clean.fit(r, rho), None, n_total, acc_clean.n,
                                       acc_clean.n_clean, math.nan)

    # ---- the score matrices of the filtering methods.
    scorers: dict[str, tuple[Encoders | None, np.ndarray]] = {}
    if "teacher" in names:
        scorers["teacher"] = (full_fit, teacher_score_matrix(full_fit, score_units))
    if "teacher-split" in names:
        split_teacher = acc_first.fit(r, rho)
        scorers["teacher-split"] = (split_teacher,
                                    teacher_score_matrix(split_teacher, score_units))
    if "oracle-score" in names:
        scorers["oracle-score"] = (None, oracle_score_matrix(U, U_t))
    filt = [(i, s) for i, s in enumerate(specs) if s.method in FILTERING_METHODS]
    if not filt:
        return [results[i] for i in range(len(specs))]

    # ---- pass 2: score the pools; accumulate the threshold-filtered sets.
    kept = {i: _KeptSet() for i, _ in filt}
    scores: dict[str, list[np.ndarray]] = {m: [] for m in scorers}
    any_q = any(s.keep_fraction is not None for _, s in filt)

    def pool_pieces() -> Iterator[tuple[PairSample | None, PairSample | None]]:
        """(piece of the full pool, piece of the second half) for every chunk."""
        if set(scorers) == {"teacher-split"} and isinstance(source, StreamingSample):
            for piece in _tail_chunks(source, n_first):
                yield None, piece
            return
        offset = 0
        for chunk in source.chunks():
            lo = offset
            offset += chunk.n
            cut = min(max(n_first - lo, 0), chunk.n)
            second = chunk.subset(slice(cut, None)) if cut else chunk
            yield chunk, (second if second.n else None)

    def score_pass(record: bool) -> Iterator[tuple[str, PairSample, np.ndarray]]:
        for full, second in pool_pieces():
            for m, (_, M) in scorers.items():
                piece = second if m == "teacher-split" else full
                if piece is None:
                    continue
                sc = bilinear_score(piece.x, piece.xt, M)
                if record:
                    scores[m].append(sc)
                yield m, piece, sc

    for m, piece, sc in score_pass(record=any_q):
        for i, spec in filt:
            if spec.method == m and spec.theta is not None:
                kept[i].add(piece.subset(sc > spec.theta))

    cuts: dict[int, float] = {}
    for i, spec in filt:
        pool_scores = np.concatenate(scores[spec.method]) if spec.keep_fraction is not None else None
        n_pool = (n_total - n_first) if spec.method == "teacher-split" else n_total
        if spec.theta is not None:
            if kept[i].n < min_pairs_for_rank(r):
                raise _too_few(kept[i].n, n_pool, r, f"threshold theta = {spec.theta:g}")
            cuts[i] = float(spec.theta)
        else:
            k = kept_count(spec.keep_fraction, n_pool)
            if k < min_pairs_for_rank(r):
                raise _too_few(k, n_pool, r, f"keep_fraction q = {spec.keep_fraction:g}")
            cuts[i] = float(np.partition(pool_scores, n_pool - k)[n_pool - k])

    # ---- pass 3: the top-q sets, now that every cut is known.
    if any_q:
        position = {m: 0 for m in scorers}
        for full, second in pool_pieces():
            for m in scorers:
                piece = second if m == "teacher-split" else full
                if piece is None:
                    continue
                sc = scores[m][position[m]]
                position[m] += 1
                for i, spec in filt:
                    if spec.method == m and spec.keep_fraction is not None:
                        kept[i].add(piece.subset(sc >= cuts[i]))

    for i, spec in filt:
        teacher, _ = scorers[spec.method]
        n_pool = (n_total - n_first) if spec.method == "teacher-split" else n_total
        results[i] = FilterOutcome(kept[i].fit(r, rho), teacher, n_pool, kept[i].n,
                                   kept[i].n_clean, cuts[i])
    return [results[i] for i in range(len(specs))]


def run_fused_trial(config: ExperimentConfig, eta: float, trial: int) -> list[dict]:
    """One trial of an experiment: every method of ``config`` on the same pairs.

    Uses the bases and pairs of :func:`linclip.experiments.run_trial` for
    ``(config.seed, config.n, eta, trial)`` (in memory up to ``IN_MEMORY_LIMIT`` pairs, streamed
    in chunks above), and returns one row per method with the columns :data:`CSV_COLUMNS`.
    """
    n = config.n
    model, source = trial_source(config.model(eta), n, trial, seed=config.seed,
                                 chunk_size=config.chunk_size)
    outcomes = run_methods_fused(source, config.methods, model.r, rho=config.rho, U=model.U,
                                 U_t=model.U_t)
    rows = []
    clean_fraction = None
    for spec, out in zip(config.methods, outcomes):
        if spec.method == "none":
            clean_fraction = out.n_kept_clean / n
        rep = subspace_error(out.student, model.U, model.U_t)
        rows.append({"eta": model.eta, "n": n, "trial": int(trial), "method": spec.method,
                     "theta": math.nan if spec.theta is None else float(spec.theta),
                     "keep_fraction": (math.nan if spec.keep_fraction is None
                                       else float(spec.keep_fraction)),
                     "err": rep.err, "err_x": rep.err_x, "err_xt": rep.err_xt,
                     "n_pool": out.n_pool, "n_kept": out.n_kept,
                     "n_kept_clean": out.n_kept_clean, "sample_clean_fraction": math.nan})
    if clean_fraction is None:
        clean_fraction = float(np.count_nonzero(source.clean)) / n if isinstance(
            source, PairSample) else math.nan
    for row in rows:
        row["sample_clean_fraction"] = clean_fraction
    return rows


# ============================================================================ runner
def limit_blas_threads(threads: int = 1) -> bool:
    """Best effort: limit OpenBLAS (as bundled with NumPy) to ``threads`` threads.

    The experiments multiply tall, thin matrices, for which BLAS threads cost more than they
    gain on a busy machine; worker processes already supply the parallelism. Returns True if
    the limit was set. Results do not depend on it.
    """
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(int(threads))
                return True
    return False


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    limit_blas_threads(1)


def _run_task(config: ExperimentConfig, eta: float, trial: int) -> tuple[list[dict], float]:
    start = time.perf_counter()
    rows = run_fused_trial(config, eta, trial)
    return rows, time.perf_counter() - start


def output_paths(config: ExperimentConfig, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Where :func:`run_experiment` writes: ``trials`` (CSV), ``run`` (JSON) and ``figure``
    (PNG, Figure 3a) or ``table`` (JSON, Table 1)."""
    out = Path(out_dir)
    paths = {"trials": out / f"{config.stem}_trials.csv", "run": out / f"{config.stem}_run.json"}
    if config.name == "fig3a":
        paths["figure"] = out / f"{config.stem}.png"
    else:
        paths["table"] = out / f"{config.stem}_table.json"
    return paths


def _fmt(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _row_key(row: dict) -> tuple:
    """(method, theta, keep_fraction) of a row, comparable across CSV round trips."""
    def num(v):
        v = float(v)
        return None if math.isnan(v) else v
    return (row["method"], num(row["theta"]), num(row["keep_fraction"]))


def _spec_key(spec: MethodSpec) -> tuple:
    return (spec.method, None if spec.theta is None else float(spec.theta),
            None if spec.keep_fraction is None else float(spec.keep_fraction))


def _read_complete(path: Path, config: ExperimentConfig) -> tuple[list[list[str]], bool]:
    """Complete (eta, trial) groups of rows in an existing CSV, and whether it was clean."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], False
    header = next(csv.reader([lines[0]]))
    if header != CSV_COLUMNS:
        raise ValueError(f"{path} does not have the expected columns "
                         f"({','.join(CSV_COLUMNS)}); use another --out directory")
    clean = text.endswith("\n")
    groups: dict[tuple, list[list[str]]] = {}
    for line in lines[1:]:
        if not line.endswith("\n"):  # an interrupted write
            clean = False
            continue
        fields = next(csv.reader([line]), [])
        if len(fields) != len(CSV_COLUMNS):
            clean = False
            continue
        row = dict(zip(CSV_COLUMNS, fields))
        try:
            key = (float(row["eta"]), int(row["trial"]))
            float(row["err"])
        except ValueError:
            clean = False
            continue
        groups.setdefault(key, []).append(fields)
    expected = sorted(map(str, (_spec_key(s) for s in config.methods)))
    kept: list[list[str]] = []
    for key, rows in groups.items():
        got = sorted(str(_row_key(dict(zip(CSV_COLUMNS, f)))) for f in rows)
        if got == expected:
            kept.extend(rows)
        else:
            clean = False
    return kept, clean


def _write_rows_atomic(path: Path, rows: list[list[str]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)


def _canonical_order(rows: list[list[str]], config: ExperimentConfig) -> list[list[str]]:
    eta_pos = {float(e): i for i, e in enumerate(config.etas)}
    spec_pos = {_spec_key(s): i for i, s in enumerate(config.methods)}

    def key(fields):
        row = dict(zip(CSV_COLUMNS, fields))
        return (eta_pos.get(float(row["eta"]), len(eta_pos)), int(row["trial"]),
                spec_pos.get(_row_key(row), len(spec_pos)))
    return sorted(rows, key=key)


def machine_info() -> dict:
    """CPU model, core count, memory, load and software versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "memory_gb": mem_gb,
            "load_average_1_5_15min": load, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _RunLog:
    """The ``*_run.json`` file: definition, sessions with timing, machine."""

    def __init__(self, path: Path, config: ExperimentConfig, jobs: int) -> None:
        self.path = path
        self.data = {"experiment": config.identity(), "sessions": []}
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = {}
            if old.get("experiment", config.identity()) != config.identity():
                raise ValueError(
                    f"{path} belongs to a run with a different definition (for example another "
                    "--seed or --scale); use another --out directory or delete its files")
            self.data["sessions"] = list(old.get("sessions", []))
        self.session = {"started": _now(), "finished": None, "wall_seconds": 0.0, "jobs": jobs,
                        "trials_requested": config.trials, "tasks_done": 0,
                        "task_seconds_total": 0.0, "interrupted": False,
                        "machine": machine_info()}
        self.data["sessions"].append(self.session)
        self._t0 = time.perf_counter()

    def task_done(self, seconds: float) -> None:
        self.session["tasks_done"] += 1
        self.session["task_seconds_total"] = round(self.session["task_seconds_total"] + seconds, 3)
        self.write()

    def finish(self, interrupted: bool) -> None:
        self.session["finished"] = _now()
        self.session["interrupted"] = interrupted
        self.session["machine"]["load_average_at_end"] = machine_info()["load_average_1_5_15min"]
        self.write()

    def write(self) -> None:
        self.session["wall_seconds"] = round(time.perf_counter() - self._t0, 3)
        sessions = self.data["sessions"]
        self.data["total_wall_seconds"] = round(sum(s["wall_seconds"] for s in sessions), 3)
        self.data["total_tasks_done"] = sum(s["tasks_done"] for s in sessions)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _raise_interrupt(signum, frame):  # pragma: no cover - exercised by hand
    raise KeyboardInterrupt


def run_experiment(config: ExperimentConfig, out_dir: str | os.PathLike | None = None, *,
                   jobs: int = 1, progress: bool = False,
                   task_fn: Callable[[ExperimentConfig, float, int], tuple[list[dict], float]]
                   | None = None) -> pd.DataFrame:
    """Run (or resume) an experiment and return one row per (eta, trial, method).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (see :func:`experiment_config`).
    out_dir : path, optional
        Directory for the resumable outputs (:func:`output_paths`). Every finished trial is
        appended to the CSV and flushed; on a restart, the (eta, trial) pairs already complete
        in the CSV are not recomputed, and incomplete or partly written rows are dropped. When
        every trial is done the CSV is rewritten in canonical order (eta, trial, method), so a
        resumed run ends with the same file as an uninterrupted one. ``None``: keep results
        in memory only.
    jobs : int
        Worker processes (``-1``: every core). Results do not depend on it.
    progress : bool
        Show a tqdm progress bar on stderr.
    task_fn : callable, optional
        Replacement for the trial function (testing hook); must be picklable if ``jobs > 1``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CSV_COLUMNS`, trials ``0 .. config.trials - 1``, canonical order.

    Notes
    -----
    On Ctrl-C (or SIGTERM) the runner stops submitting trials, keeps every trial already
    written and re-raises :class:`KeyboardInterrupt`.
    """
    jobs = (os.cpu_count() or 1) if jobs == -1 else check_int("jobs", jobs)
    task_fn = task_fn or _run_task
    paths = output_paths(config, out_dir) if out_dir is not None else None
    existing: list[list[str]] = []
    log = None
    if paths is not None:
        paths["trials"].parent.mkdir(parents=True, exist_ok=True)
        log = _RunLog(paths["run"], config, jobs)  # raises on a definition mismatch
        if paths["trials"].exists():
            existing, clean = _read_complete(paths["trials"], config)
            if not clean:
                _write_rows_atomic(paths["trials"], _canonical_order(existing, config))
        else:
            _write_rows_atomic(paths["trials"], [])
    done = {(float(f[0]), int(f[2])) for f in existing}
    # Trial-major order: an interrupted run has complete eta sweeps for its first trials.
    tasks = [(eta, t) for t in range(config.trials) for eta in config.etas
             if (float(eta), t) not in done]
    new_rows: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        total = len(config.etas) * config.trials
        bar = tqdm(total=total, initial=total - len(tasks), desc=config.stem, unit="trial",
                   file=sys.stderr, dynamic_ncols=True)
    fh = open(paths["trials"], "a", newline="", encoding="utf-8") if paths else None
    writer = csv.writer(fh, lineterminator="\n") if fh else None

    def record(rows: list[dict], seconds: float) -> None:
        new_rows.extend(rows)
        if writer is not None:
            writer.writerows([[_fmt(row[c]) for c in CSV_COLUMNS] for row in rows])
            fh.flush()
            os.fsync(fh.fileno())
            log.task_done(seconds)
        if bar is not None:
            bar.update(1)

    old_term = None
    if jobs > 1 and tasks:
        try:
            old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:  # not in the main thread
            old_term = None
    interrupted = False
    pool = None
    try:
        if jobs == 1 or len(tasks) <= 1:
            limit_blas_threads(1)
            for eta, t in tasks:
                record(*task_fn(config, eta, t))
        else:
            pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                                       initializer=_worker_init)
            pending = {}
            queue = iter(tasks)
            for eta, t in queue:  # keep at most 2 * jobs tasks in flight
                pending[pool.submit(task_fn, config, eta, t)] = (eta, t)
                if len(pending) >= 2 * jobs:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pending.pop(fut)
                    record(*fut.result())
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(task_fn, config, *nxt)] = nxt
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if fh is not None:
            fh.close()
        if bar is not None:
            bar.close()
        if log is not None:
            log.finish(interrupted)

    if paths is not None:
        all_rows = existing + [[_fmt(row[c]) for c in CSV_COLUMNS] for row in new_rows]
        _write_rows_atomic(paths["trials"], _canonical_order(all_rows, config))
        frame = load_trials(paths["trials"])
    else:
        frame = pd.DataFrame(new_rows, columns=CSV_COLUMNS)
        order = _canonical_order([[_fmt(r[c]) for c in CSV_COLUMNS] for r in new_rows], config)
        frame = pd.read_csv(io.StringIO(_csv_text(order)))
    frame = frame[frame["trial"] < config.trials].reset_index(drop=True)
    return frame


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def load_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a per-trial CSV written by :func:`run_experiment`."""
    frame = pd.read_csv(path)
    if list(frame.columns) != CSV_COLUMNS:
        raise ValueError(f"{path} does not have the columns {', '.join(CSV_COLUMNS)}")
    return frame


# ============================================================================ analysis
def summarize_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and standard error of ERR per (method, theta, keep_fraction, eta).

    Only (eta, trial) groups that every method completed are used. Columns: ``method``,
    ``theta``, ``keep_fraction``, ``eta``, ``err_mean``, ``err_std``, ``err_sem``,
    ``err_median``, ``kept_fraction_mean`` (kept / pool), ``kept_clean_fraction_mean``,
    ``trials``.
    """
    if frame.empty:
        raise ValueError("no trials to summarise")
    f = frame.copy()
    f["kept_fraction"] = f["n_kept"] / f["n_pool"]
    f["kept_clean_fraction"] = f["n_kept_clean"] / f["n_kept"]
    keys = ["method", "theta", "keep_fraction", "eta"]
    out = f.groupby(keys, sort=False, dropna=False).agg(
        err_mean=("err", "mean"), err_std=("err", "std"), err_median=("err", "median"),
        kept_fraction_mean=("kept_fraction", "mean"),
        kept_clean_fraction_mean=("kept_clean_fraction", "mean"),
        trials=("err", "size")).reset_index()
    out["err_sem"] = out["err_std"] / np.sqrt(out["trials"])
    return out


def complete_sweeps(frame: pd.DataFrame, config: ExperimentConfig) -> pd.DataFrame:
    """The rows of the trials that finished every (eta, method) of ``config``.

    A run stopped part-way has complete eta sweeps for its first trials (the runner works
    trial by trial) and a partial sweep for the trial it was on; dropping the latter gives every
    eta the same number of trials.
    """
    per_trial = frame.groupby("trial")["err"].size()
    full = per_trial[per_trial == len(config.etas) * len(config.methods)].index
    return frame[frame["trial"].isin(full)].reset_index(drop=True)


def fit_regimes(summary: pd.DataFrame, regimes: Sequence[Regime]) -> pd.DataFrame:
    """Fitted log-log slopes of mean ERR against :math:`\\eta`, one row per regime.

    Columns: ``method``, ``regime``, ``eta_min``, ``eta_max``, ``points``, ``slope``,
    ``slope_stderr``, ``expected_slope``. Regimes with fewer than three points are skipped.
    """
    from .plotting import fit_loglog_slope

    rows = []
    for reg in regimes:
        g = summary[(summary["method"] == reg.method)
                    & (summary["eta"] >= reg.eta_min * (1 - 1e-9))
                    & (summary["eta"] <= reg.eta_max * (1 + 1e-9))].sort_values("eta")
        if len(g) < 3:
            continue
        fit = fit_loglog_slope(g["eta"], g["err_mean"])
        rows.append({"method": reg.method, "regime": reg.label, "eta_min": float(g["eta"].min()),
                     "eta_max": float(g["eta"].max()), "points": len(g), "slope": fit.slope,
                     "slope_stderr": fit.slope_stderr, "intercept": fit.intercept,
                     "expected_slope": reg.expected_slope})
    return pd.DataFrame(rows, columns=["method", "regime", "eta_min", "eta_max", "points",
                                       "slope", "slope_stderr", "intercept", "expected_slope"])


def _spread(value: float, trials: int) -> float:
    """A standard deviation or error as a finite float (0 for a single trial, as in
    ``linclip simulate``), so that the JSON output is strict JSON."""
    return float(value) if trials > 1 else 0.0


def table1_rows(frame: pd.DataFrame) -> list[dict]:
    """Table 1 as a JSON-able list: one row per (keep_fraction, method).

    Each row has ``keep_fraction``, ``method``, ``err_mean``, ``err_std``, ``err_sem``,
    ``trials``, ``n``, ``eta``, ``kept_clean_fraction_mean`` (ERR in plain units; the paper
    prints ERR in units of :math:`10^{-4}`). With a single trial the spreads are 0.
    """
    s = summarize_trials(frame)
    s = s[s["keep_fraction"].notna()].sort_values(["keep_fraction", "method"],
                                                  ascending=[True, False])
    n = int(frame["n"].iloc[0])
    return [{"keep_fraction": float(r.keep_fraction), "method": str(r.method),
             "err_mean": float(r.err_mean), "err_std": _spread(r.err_std, r.trials),
             "err_sem": _spread(r.err_sem, r.trials), "trials": int(r.trials), "n": n,
             "eta": float(r.eta),
             "kept_clean_fraction_mean": float(r.kept_clean_fraction_mean)}
            for r in s.itertuples()]


def _mean_of_max(law_a, law_b, points: int = 4001) -> float:
    """:math:`E[\\max(A, B)]` for independent scaled-chi laws, by the trapezoid rule on
    :math:`\\int_0^\\infty (1 - F_A F_B)\\,dt` (vectorised; relative error below 1e-6; a fast
    stand-in for :func:`linclip.asymptotics.expected_max`)."""
    from scipy import stats

    upper = max(math.sqrt(law.scale) * stats.chi.isf(1e-13, law.dof) for law in (law_a, law_b))
    t = np.linspace(0.0, upper, points)
    cdf = stats.chi.cdf(t / math.sqrt(law_a.scale), law_a.dof) * stats.chi.cdf(
        t / math.sqrt(law_b.scale), law_b.dof)
    return float(np.trapezoid(1.0 - cdf, t))


def first_order_errors(config: ExperimentConfig) -> pd.DataFrame:
    r"""First-order predictions of mean ERR for every (method, eta) of an experiment.

    The book's derivation, not the paper's: a learner whose pairs have population
    cross-covariance :math:`s\,U\tilde U^\top` has
    :math:`\|\sin\Theta_U\|_F^2 \approx \gamma^{-1} m_v\,\chi^2_{r(d-r)}/(s^2(n_{used}-1))`
    (:func:`linclip.asymptotics.first_order_sin_theta_sq`), and ERR is the larger of the two
    sides (:func:`linclip.asymptotics.expected_max`). Per method:

    * ``none``: :math:`n_{used} = n`, :math:`s = \eta`, :math:`m = 1 + \gamma^{-1}`;
    * ``oracle-clean``: :math:`n_{used} = \eta n`, :math:`s = 1`;
    * ``teacher`` / ``teacher-split`` / ``oracle-score``: the teacher is replaced by the oracle
      score, so the kept set is the population tail :math:`S > \theta` of
      :func:`linclip.score_law.kept_moments` (for a kept fraction :math:`q`, :math:`\theta`
      solves :math:`P(\theta) = q`), :math:`n_{used} = P(\theta)\,n_{pool}` with
      :math:`n_{pool} = n` or :math:`n - \lfloor n/2\rfloor`, :math:`s = s(\theta)` and
      :math:`m = E[v_i^2 \mid S > \theta]`, :math:`E[u_i^2 \mid S > \theta]`.

    The prediction ignores the teacher's own error and the breakdown when
    :math:`\eta` is of order :math:`1/\sqrt{n}`.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``theta``, ``keep_fraction``, ``eta``, ``err_pred``, ``n_used``,
        ``signal`` (:math:`s`).
    """
    from .asymptotics import first_order_sin_theta_sq
    from .score_law import kept_moments, threshold_for_fraction

    nv, nv_t = 1.0 / config.gamma, 1.0 / config.gamma_t
    rows = []
    for spec in config.methods:
        for eta in config.etas:
            n_pool = (config.n - config.n // 2) if spec.method == "teacher-split" else config.n
            if spec.method == "none" or (spec.method in FILTERING_METHODS
                                         and spec.keep_fraction == 1.0):
                n_used, s, m_u, m_v = n_pool, eta, 1.0 + nv, 1.0 + nv_t
            elif spec.method == "oracle-clean":
                n_used, s, m_u, m_v = eta * config.n, 1.0, 1.0 + nv, 1.0 + nv_t
            else:
                theta = spec.theta
                if theta is None:
                    theta = float(threshold_for_fraction(spec.keep_fraction, eta, config.r,
                                                         config.gamma, config.gamma_t))
                km = kept_moments(theta, eta, config.r, config.gamma, config.gamma_t)
                n_used = float(km.kept_fraction) * n_pool
                s, m_u, m_v = float(km.cross_moment), float(km.second_moment_u), float(
                    km.second_moment_v)
            law_x = first_order_sin_theta_sq(n_used, config.d, config.r, nv, m_v, s)
            law_xt = first_order_sin_theta_sq(n_used, config.d_t, config.r, nv_t, m_u, s)
            rows.append({"method": spec.method,
                         "theta": math.nan if spec.theta is None else float(spec.theta),
                         "keep_fraction": (math.nan if spec.keep_fraction is None
                                           else float(spec.keep_fraction)),
                         "eta": float(eta), "err_pred": _mean_of_max(law_x, law_xt),
                         "n_used": float(n_used), "signal": float(s)})
    return pd.DataFrame(rows)


_LABELS = {"none": "no filtering", "teacher-split": "teacher, θ = 0 (Algorithm 1, half split)",
           "teacher": "teacher, θ = 0 (full sample)", "oracle-clean": "clean-label oracle",
           "oracle-score": "oracle score"}


def plot_fig3a(summary: pd.DataFrame, slopes: pd.DataFrame | None = None, ax=None,
               title: str | None = None, predictions: pd.DataFrame | None = None,
               shade_below: float | None = None):
    """Figure 3a: mean ERR against :math:`\\eta` on log-log axes, ± one standard error.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_trials`.
    slopes : DataFrame, optional
        Output of :func:`fit_regimes`; each fit is drawn as a dotted line over its range and
        its slope is added to the legend.
    ax : matplotlib Axes, optional
    title : str, optional
    predictions : DataFrame, optional
        Output of :func:`first_order_errors`, drawn as thin lines in each method's colour.
    shade_below : float, optional
        Shade :math:`\\eta` below this value, e.g. :math:`\\sqrt{\\max\\{d,\\tilde d\\}/n}`, where
        the paper's sample-size condition fails.
    """
    import matplotlib.pyplot as plt

    from .plotting import method_color

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    for method in [m for m in _LABELS if m in set(summary["method"])]:
        g = summary[summary["method"] == method].sort_values("eta")
        label = _LABELS[method]
        if slopes is not None and len(slopes):
            fits = slopes[slopes["method"] == method]
            if len(fits):
                label += " (slope " + ", ".join(f"{s.slope:+.2f}" for s in fits.itertuples()) + ")"
        style = "--" if method == "teacher" else "-"
        ax.errorbar(g["eta"], g["err_mean"], yerr=g["err_sem"], marker="o", markersize=4,
                    linestyle=style, color=method_color(method), label=label)
        if predictions is not None:
            p = predictions[predictions["method"] == method].sort_values("eta")
            ax.plot(p["eta"], p["err_pred"], "-", lw=0.8, alpha=0.6, color=method_color(method))
        if slopes is not None:
            for s in slopes[slopes["method"] == method].itertuples():
                xs = np.geomspace(s.eta_min, s.eta_max, 20)
                ax.plot(xs, np.exp(s.intercept) * xs**s.slope, ":", color="grey", lw=1.0)
    if shade_below is not None:
        lo = float(summary["eta"].min()) / 1.3
        if shade_below > lo:
            ax.axvspan(lo, shade_below, color="grey", alpha=0.12, lw=0,
                       label="sample-size condition fails")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("clean fraction η (log scale, decreasing →)")
    ax.set_ylabel("ERR (mean ± s.e.)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def write_fig3a_figure(frame: pd.DataFrame, config: ExperimentConfig, path: str | os.PathLike,
                       title: str | None = None) -> pd.DataFrame:
    """Draw Figure 3a from per-trial rows, save it to ``path`` and return the fitted slopes."""
    import matplotlib.pyplot as plt

    from .plotting import use_book_style

    use_book_style()
    summary = summarize_trials(frame)
    slopes = fit_regimes(summary, config.regimes)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    trials = int(summary["trials"].min())
    plot_fig3a(summary, slopes, ax=ax,
               title=title or f"Figure 3a, n = {config.n:.0e}, {trials} trials per η")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return slopes
