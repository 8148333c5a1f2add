"""Experiment sweeps: a grid of (eta, n, method) x trials, returned as a tidy DataFrame.

Reproducibility contract: trial ``t`` at ``(n, eta)`` draws its data from
``SeedSequence(seed, spawn_key=(n, eta_key, t))``, whatever else is in the grid and however many
worker processes run it. All methods of one trial see the *same* pairs (common random numbers),
so differences between methods are paired comparisons.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_int, check_positive, check_seed
from ..data.exact import EXACT_SAMPLERS, RENAMED_SAMPLERS, SAMPLERS, ExactSource, exact_route
from ..data.model import BimodalModel, PairSample, StreamingSample
from ..filters.engine import check_learner, run_methods_with_stats
from ..filters.spec import MethodSpec
from .resources import cap_workers, worker_init
from .rows import TRIAL_COLUMNS, trial_rows

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "IN_MEMORY_LIMIT",
    "spec_dict",
    "eta_key",
    "trial_seed",
    "trial_source",
    "trial_exact_source",
    "trial_samplers",
    "check_sampler",
    "check_rounds",
    "trial_round_source",
    "run_trial",
    "run_grid",
    "summarize",
    "ROW_COLUMNS",
]

#: Columns of :func:`run_grid` (the one row schema,
#: :data:`linclip.experiments.rows.TRIAL_COLUMNS`).
ROW_COLUMNS = TRIAL_COLUMNS

#: Above this many pairs a trial streams its data in chunks instead of holding it in memory.
IN_MEMORY_LIMIT = 2_000_000


def _as_spec(method: str | MethodSpec) -> MethodSpec:
    if isinstance(method, MethodSpec):
        return method
    if not isinstance(method, str):
        raise ValueError(
            f"each method must be a method name (str) or a MethodSpec; got {method!r}"
        )
    return MethodSpec(method)


def _as_specs(methods: object) -> list[MethodSpec]:
    """``methods`` as a list of specs; one name or one spec stands for a list of one."""
    if isinstance(methods, (str, MethodSpec)):
        return [_as_spec(methods)]
    try:
        items = list(methods)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(
            f"methods must be a method name, a MethodSpec or a sequence of them; got {methods!r}"
        ) from None
    if not items:
        raise ValueError("methods must name at least one method; got an empty sequence")
    return [_as_spec(m) for m in items]


def _grid_values(name: str, values: object, what: str) -> list:
    """The values of one grid axis (a scalar or an iterable); an empty axis is refused."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be {what} or an iterable of them; got {values!r}")
    if isinstance(values, Iterable) and not isinstance(values, np.ndarray):
        out = list(values)
    else:
        out = np.atleast_1d(values).tolist()  # type: ignore[call-overload]
    if not out:
        raise ValueError(
            f"{name} must hold at least one value ({what}); got an empty {type(values).__name__}"
        )
    return out


def _check_grid(methods, n, eta, seed, rho, model) -> tuple:
    """Validate :func:`run_grid`'s grid before anything runs (see its docstring)."""
    if not isinstance(model, BimodalModel):
        raise ValueError(f"model must be a BimodalModel; got {type(model).__name__}")
    ns = [check_int("n", v, minimum=2) for v in _grid_values("n", n, "an integer >= 2")]
    etas = [model.with_eta(v).eta for v in _grid_values("eta", eta, "a clean fraction")]
    return _as_specs(methods), ns, etas, check_seed("seed", seed), check_positive("rho", rho)


def eta_key(eta: float) -> int:
    r"""The integer that stands for :math:`\eta` in seed keys: :math:`\mathrm{round}(10^{12}\eta)`."""
    return int(round(eta * 10**12))


def trial_seed(seed: int, n: int, eta: float, trial: int) -> np.random.SeedSequence:
    """The seed sequence of one trial; depends only on (seed, n, eta, trial)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(n), eta_key(eta), int(trial)))


def trial_source(
    model: BimodalModel,
    n: int,
    trial: int,
    *,
    seed: int = 0,
    resample_bases: bool = True,
    chunk_size: int = 200_000,
) -> tuple[BimodalModel, PairSample | StreamingSample]:
    """The model and the pairs of one trial, as every experiment runner draws them.

    The bases (if ``resample_bases``) and the pairs come from :func:`trial_seed`, so every
    runner that goes through this function sees the same data for the same
    ``(seed, n, eta, trial)``. Up to :data:`IN_MEMORY_LIMIT` pairs the sample is held in memory
    (a :class:`~linclip.data.model.PairSample`); above it, it is a
    :class:`~linclip.data.model.StreamingSample` regenerated chunk by
    chunk, with identical pairs. :func:`trial_exact_source` is the exact-sampler counterpart.
    """
    model, data_ss = _trial_model(model, n, trial, seed, resample_bases)
    stream = StreamingSample(model, n, data_ss, chunk_size=min(chunk_size, n))
    if n > IN_MEMORY_LIMIT:
        return model, stream
    chunks = list(stream.chunks())
    return model, PairSample(
        np.concatenate([c.x for c in chunks]),
        np.concatenate([c.xt for c in chunks]),
        np.concatenate([c.clean for c in chunks]),
    )


def _trial_model(
    model: BimodalModel, n: int, trial: int, seed: int, resample_bases: bool
) -> tuple[BimodalModel, np.random.SeedSequence]:
    ss = trial_seed(seed, n, model.eta, trial)
    basis_ss, data_ss = ss.spawn(2)
    if resample_bases:
        model = replace(model, basis_seed=int(basis_ss.generate_state(1)[0]))
    return model, data_ss


def trial_exact_source(
    model: BimodalModel,
    n: int,
    trial: int,
    *,
    seed: int = 0,
    resample_bases: bool = True,
    paired: bool = False,
) -> tuple[BimodalModel, ExactSource]:
    """The model of one trial and an :class:`~linclip.data.exact.ExactSource` for its data.

    Same bases as :func:`trial_source` (same :func:`trial_seed`); the source draws the
    statistics from the trial's data seed instead of generating the pairs (``paired=False``:
    ``sampler="exact"``, one virtual data set per score filter; ``paired=True``:
    ``sampler="exact-paired"``, one per trial).
    """
    model, data_ss = _trial_model(model, n, trial, seed, resample_bases)
    return model, ExactSource(model, n, data_ss, paired=paired)


def check_sampler(sampler: str) -> str:
    """Return ``sampler`` if it is one of :data:`~linclip.data.exact.SAMPLERS`, else raise."""
    if sampler in RENAMED_SAMPLERS:
        raise ValueError(
            f"sampler {sampler!r} is now called {RENAMED_SAMPLERS[sampler]!r} (and the paired "
            f"exact sampler 'exact-paired'); sampler must be one of {', '.join(SAMPLERS)}"
        )
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    return sampler


def trial_samplers(
    methods: Sequence[str | MethodSpec],
    sampler: str = "pairs",
    learner: str = "linear",
    teacher_learner: str = "linear",
) -> list[str]:
    """The sampler (``"pairs"``, ``"exact"`` or ``"exact-paired"``) each method runs on.

    ``pairs``: every method on generated pairs; ``exact``: every method on exact draws of its
    statistics, each score filter on a virtual data set of its own
    (:class:`~linclip.data.exact.ExactSource`, ``paired=False``), and a ``ValueError`` naming
    the method and knob if one has no exact route (:func:`linclip.data.exact.exact_route`);
    ``exact-paired``: the same, with all methods of a trial on one virtual data set
    (``paired=True``); ``auto``: exact where a route exists, pairs otherwise (never
    silently: the rows say which). A learner that trains on the pairs
    themselves (:data:`linclip.filters.engine.PAIR_LEARNERS`) has no exact route at all.

    Examples
    --------
    >>> trial_samplers(["none", MethodSpec("teacher", theta=0.0)], "auto")
    ['exact', 'pairs']
    """
    check_sampler(sampler)
    specs = _as_specs(methods)
    if sampler == "pairs":
        return ["pairs"] * len(specs)
    from ..filters.engine import PAIR_LEARNERS

    routes = [exact_route(s.method, s.theta, s.keep_fraction, s.score) for s in specs]
    routes = [  # soft weighting has no exact route (iterated-filtering chapter)
        f"the soft weighting {s.weighting.label} has no exact route"
        if s.weighting is not None
        else reason
        for s, reason in zip(specs, routes, strict=True)
    ]
    if learner in PAIR_LEARNERS:
        routes = [f"learner {learner!r} trains on the pairs themselves"] * len(specs)
    elif teacher_learner in PAIR_LEARNERS:
        routes = [
            reason
            if reason is not None or s.method not in ("teacher", "teacher-split")
            else f"teacher_learner {teacher_learner!r} trains on the pairs themselves"
            for s, reason in zip(specs, routes, strict=True)
        ]
    if sampler in EXACT_SAMPLERS:
        for spec, reason in zip(specs, routes, strict=True):
            if reason is not None:
                raise ValueError(
                    f"sampler {sampler!r} cannot run {spec.label}: {reason}; use sampler "
                    "'pairs', or 'auto' (exact where possible, pairs for the rest)"
                )
    used = sampler if sampler in EXACT_SAMPLERS else "exact"
    return [used if reason is None else "pairs" for reason in routes]


def run_trial(
    model: BimodalModel,
    n: int,
    trial: int,
    methods: Sequence[str | MethodSpec],
    seed: int = 0,
    rho: float = 1.0,
    resample_bases: bool = True,
    chunk_size: int = 200_000,
    learner: str = "linear",
    sampler: str = "pairs",
    diagnostics: bool = True,
    learner_options: object | None = None,
    teacher_learner: str = "linear",
    rounds: int = 1,
    fresh: bool = False,
) -> list[dict]:
    r"""Run every method on one sample of ``n`` pairs; return one row (dict) per method.

    Parameters
    ----------
    model : BimodalModel
        Dimensions, noise and clean fraction :math:`\eta`.
    n : int
        Number of pairs :math:`n`.
    trial : int
        Trial index (selects the random stream).
    methods : sequence of MethodSpec
        Methods to run on the same pairs.
    seed : int
        Root seed of the whole experiment.
    rho : float
        Regularisation :math:`\rho`.
    resample_bases : bool
        Draw fresh random :math:`U, \tilde U` for each trial (as in the paper's experiments).
    chunk_size : int
        Chunk size used when ``n`` exceeds :data:`IN_MEMORY_LIMIT`.
    learner : {"linear", "pca", "infonce"}
        The student's learner (the teachers' is ``teacher_learner``).
    sampler : {"pairs", "exact", "exact-paired", "auto"}
        Generated pairs (the reference), exact draws of the statistics, or exact where an
        exact route exists and pairs otherwise (:func:`trial_samplers`); the ``sampler``
        column of each row says which was used.
    diagnostics : bool
        Add the teacher's ERR and distortion to the rows of the teacher methods.
    learner_options : object, optional
        Options of the learner (``infonce``:
        :class:`~linclip.learners.infonce.InfoNCEOptions`).
    teacher_learner : {"linear", "pca", "infonce"}
        The teachers' learner (:func:`linclip.filters.engine.run_methods`).
    rounds : int
        Rounds :math:`K` of iterated self-filtering for the methods ``teacher`` and
        ``teacher-split`` with a hard cut (:func:`linclip.filters.iterate.iterate_filter`):
        with :math:`K > 1` each gives :math:`K` rows (column ``round``); the other methods give
        one row, round 1 of 1. Needs ``sampler="pairs"`` (the later rounds have no exact route).
    fresh : bool
        Rounds :math:`k \ge 2` on fresh data (:func:`trial_round_source`) instead of the
        trial's sample.

    Notes
    -----
    All methods of one sampler run in one call of the engine
    (:func:`linclip.filters.engine.run_methods`), sharing its passes over the pairs; rows have
    the columns :data:`linclip.experiments.rows.TRIAL_COLUMNS`. Both samplers use the trial's
    bases and data seed (:func:`trial_source`); methods on different samplers do not see the
    same pairs.
    """
    specs = _as_specs(methods)
    seed = check_seed("seed", seed)
    n = check_int("n", n, minimum=2)
    trial = check_int("trial", trial, minimum=0)
    learner = check_learner(learner)
    if sampler == "auto" and not model.noise.is_isotropic:
        sampler = "pairs"  # the exact sampler assumes isotropic noise; the rows say "pairs"
    rounds, fresh = check_rounds(rounds, fresh, sampler)
    samplers = trial_samplers(specs, sampler, learner, teacher_learner)
    rows: list[dict | None] = [None] * len(specs)
    iterated = [i for i, s in enumerate(specs) if _iterated(s, rounds)]
    extra: dict[int, list[dict]] = {}
    for i in iterated:
        extra[i] = _iterated_rows(
            model,
            n,
            trial,
            specs[i],
            seed,
            rho,
            resample_bases,
            chunk_size,
            learner,
            diagnostics,
            learner_options,
            teacher_learner,
            rounds,
            fresh,
        )
        samplers[i] = "iterated"
    for used in dict.fromkeys(s for s in samplers if s != "iterated"):
        idx = [i for i, s in enumerate(samplers) if s == used]
        group = [specs[i] for i in idx]
        source: object
        if used in EXACT_SAMPLERS:
            trial_model, source = trial_exact_source(
                model,
                n,
                trial,
                seed=seed,
                resample_bases=resample_bases,
                paired=used == "exact-paired",
            )
        else:
            trial_model, source = trial_source(
                model, n, trial, seed=seed, resample_bases=resample_bases, chunk_size=chunk_size
            )
        outcomes, stats = run_methods_with_stats(
            source,
            group,
            trial_model.r,
            rho=rho,
            learner=learner,
            U=trial_model.U,
            U_t=trial_model.U_t,
            learner_options=learner_options,
            teacher_learner=teacher_learner,
        )
        group_rows = trial_rows(
            trial_model,
            n,
            trial,
            group,
            outcomes,
            stats,
            rho=rho,
            diagnostics=diagnostics,
            sampler=used,
            learner_options=learner_options,
        )
        for i, row in zip(idx, group_rows, strict=True):
            rows[i] = row
    out: list[dict] = []
    for i, one in enumerate(rows):
        if i in extra:
            out.extend(extra[i])
        elif one is not None:
            out.append(one)
    return out


# ---- iterated self-filtering (chapter "Iterated self-filtering"; keep these lines together)
def check_rounds(rounds: int, fresh: bool, sampler: str = "pairs") -> tuple[int, bool]:
    """Validate the rounds :math:`K` and the fresh-data switch of iterated self-filtering."""
    rounds = check_int("rounds (K)", rounds, minimum=1)
    if not isinstance(fresh, (bool, np.bool_)):
        raise ValueError(f"fresh must be True or False; got {fresh!r}")
    if rounds > 1 and sampler != "pairs":
        raise ValueError(
            f"rounds = {rounds} needs sampler 'pairs' (rounds after the first filter by a "
            f"given teacher, which has no exact route); got sampler {sampler!r}"
        )
    if fresh and rounds == 1:
        raise ValueError("fresh=True needs rounds >= 2 (round 1 always uses the trial's sample)")
    return rounds, bool(fresh)


def _iterated(spec: MethodSpec, rounds: int) -> bool:
    return rounds > 1 and spec.method in ("teacher", "teacher-split") and spec.weighting is None


def trial_round_source(
    model: BimodalModel,
    n: int,
    trial: int,
    round_index: int,
    *,
    seed: int = 0,
    chunk_size: int = 200_000,
) -> PairSample | StreamingSample:
    r"""The fresh sample of round :math:`k \ge 2` of a trial's iterated self-filtering.

    Drawn from ``SeedSequence(seed, spawn_key=(n, eta_key, trial, 2, k))`` with the trial's
    ``model`` (its bases): reproducible, independent of the trial's own sample (keys
    ``(..., trial, 0)`` and ``(..., trial, 1)``) and of every other round.
    """
    round_index = check_int("round_index (k)", round_index, minimum=2)
    ss = np.random.SeedSequence(
        int(seed), spawn_key=(int(n), eta_key(model.eta), int(trial), 2, round_index)
    )
    stream = StreamingSample(model, n, ss, chunk_size=min(chunk_size, n))
    if n > IN_MEMORY_LIMIT:
        return stream
    chunks = list(stream.chunks())
    return PairSample(
        np.concatenate([c.x for c in chunks]),
        np.concatenate([c.xt for c in chunks]),
        np.concatenate([c.clean for c in chunks]),
    )


def _iterated_rows(
    model,
    n,
    trial,
    spec,
    seed,
    rho,
    resample_bases,
    chunk_size,
    learner,
    diagnostics,
    learner_options,
    teacher_learner,
    rounds,
    fresh,
) -> list[dict]:
    from ..filters.iterate import iterate_filter

    trial_model, source = trial_source(
        model, n, trial, seed=seed, resample_bases=resample_bases, chunk_size=chunk_size
    )

    def fresh_data(k: int):
        return trial_round_source(trial_model, n, trial, k, seed=seed, chunk_size=chunk_size)

    outs = iterate_filter(
        source,
        trial_model.r,
        rounds,
        theta=spec.theta,
        keep_fraction=spec.keep_fraction,
        score=spec.score,
        start=spec.method,
        fresh_data=fresh_data if fresh else None,
        rho=rho,
        learner=learner,
        learner_options=learner_options,
        teacher_learner=teacher_learner,
    )
    rows = []
    for o in outs:
        rows += trial_rows(
            trial_model,
            n,
            trial,
            [spec],
            [o.outcome],
            o.stats,
            rho=rho,
            diagnostics=diagnostics,
            sampler="pairs",
            round_index=o.round,
            rounds=rounds,
            fresh=fresh,
            pairs_used=o.pairs_used,
        )
    return rows


# ---- end of iterated self-filtering lines


def _run_task(args: tuple) -> list[dict]:
    return run_trial(*args)


def run_grid(
    model: BimodalModel,
    *,
    n: int | Iterable[int],
    eta: float | Iterable[float],
    methods: Sequence[str | MethodSpec] = ("none",),
    trials: int = 10,
    seed: int = 0,
    rho: float = 1.0,
    jobs: int = 1,
    resample_bases: bool = True,
    chunk_size: int = 200_000,
    progress: bool = False,
    learner: str = "linear",
    executor: Executor | None = None,
    sampler: str = "pairs",
    learner_options: object | None = None,
    teacher_learner: str = "linear",
    rounds: int = 1,
    fresh: bool = False,
) -> pd.DataFrame:
    r"""Run a grid of experiments and return one row per (eta, n, trial, method).

    Parameters
    ----------
    model : BimodalModel
        Supplies :math:`d, \tilde d, r, \gamma, \tilde\gamma`; its ``eta`` is overridden by the
        grid.
    n : int or iterable of int
        Sample sizes :math:`n`.
    eta : float or iterable of float
        Clean fractions :math:`\eta \in (0, 1]`.
    methods : str, MethodSpec or sequence of them
        Methods (strings use the default knob, :math:`\theta = 0` for filters); a single name
        or spec means that one method (``methods="none"`` is ``methods=["none"]``).
    trials : int
        Trials per grid point.
    seed : int
        Root seed, a non-negative integer (``1.5`` or ``None`` are refused, never truncated);
        see the module docstring for the reproducibility contract.
    rho : float
        Regularisation :math:`\rho`.
    jobs : int
        Worker processes (results do not depend on it). ``-1`` uses every core. At most one
        per trial and one per core are started
        (:func:`~linclip.experiments.resources.cap_workers`, which says so on stderr); each
        exits by itself if this process dies
        (:func:`~linclip.experiments.resources.worker_init`).
    resample_bases : bool
        Fresh random :math:`U, \tilde U` per trial.
    chunk_size : int
        Chunk size for streamed (large-``n``) trials.
    progress : bool
        Show a tqdm progress bar over trials.
    learner : {"linear", "pca", "infonce"}
        The student's learner (the teachers' is ``teacher_learner``).
    executor : concurrent.futures.Executor, optional
        Where to run the trials instead of ``jobs`` local processes, e.g. a Dask cluster's
        (:func:`linclip.experiments.cluster.dask_executor`); ``jobs`` is then ignored. The
        caller owns it. Results do not depend on it (each trial has its own seed sequence).
    sampler : {"pairs", "exact", "exact-paired", "auto"}
        How each trial's statistics are drawn (:func:`run_trial`).
    learner_options : object, optional
        Options of the learner (:func:`run_trial`).
    teacher_learner : {"linear", "pca", "infonce"}
        The teachers' learner (:func:`run_trial`).
    rounds, fresh
        Iterated self-filtering of the teacher methods (:func:`run_trial`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ROW_COLUMNS`.

    Raises
    ------
    ValueError
        Naming the parameter, the value and what is allowed, before any trial runs: an empty
        ``n``, ``eta`` or ``methods``, a seed that is not a non-negative integer, a
        non-positive ``rho``, an unknown method or sampler.

    Examples
    --------
    >>> from linclip import BimodalModel, run_grid, summarize
    >>> frame = run_grid(BimodalModel(d=10, d_t=8, r=4), n=2_000, eta=[0.3, 1.0],
    ...                  methods=["none", "teacher-split"], trials=2, seed=0)
    >>> len(frame), sorted(set(frame["method"]))
    (8, ['none', 'teacher-split'])
    >>> print(summarize(frame)[["method", "eta", "trials"]].to_string(index=False))
           method  eta  trials
             none  0.3       2
             none  1.0       2
    teacher-split  0.3       2
    teacher-split  1.0       2
    """
    import pandas as pd

    methods, n, eta, seed, rho = _check_grid(methods, n, eta, seed, rho, model)
    ns = [check_int("n", v, minimum=2) for v in np.atleast_1d(n).tolist()]  # type: ignore[arg-type]
    etas = [model.with_eta(float(v)).eta for v in np.atleast_1d(eta).tolist()]  # type: ignore[arg-type]
    specs = [_as_spec(m) for m in methods]
    if not specs:
        raise ValueError("methods must name at least one method")
    trials = check_int("trials", trials)
    jobs = -1 if jobs == -1 else check_int("jobs", jobs)
    learner = check_learner(learner)
    teacher_learner = check_learner(teacher_learner, "teacher_learner")
    # Fails early for a method without an exact route.
    trial_samplers(specs, sampler, learner, teacher_learner)
    if sampler in EXACT_SAMPLERS and not model.noise.is_isotropic:
        raise ValueError(
            f"sampler {sampler!r} assumes isotropic noise; model.noise is {model.noise.kind}; "
            "use sampler 'pairs', or 'auto' (which then runs every method on pairs)"
        )
    rounds, fresh = check_rounds(rounds, fresh, sampler)
    tasks = [
        (
            model.with_eta(e),
            nn,
            t,
            specs,
            seed,
            rho,
            resample_bases,
            chunk_size,
            learner,
            sampler,
            True,
            learner_options,
            teacher_learner,
            rounds,
            fresh,
        )
        for e in etas
        for nn in ns
        for t in range(trials)
    ]
    results: Iterable[list[dict]]
    pool = None
    workers = 1 if executor is not None else cap_workers(jobs, len(tasks))
    if executor is not None:
        results = executor.map(_run_task, tasks)  # in task order, whatever finishes first
    elif workers == 1:
        results = map(_run_task, tasks)
    else:
        pool = ProcessPoolExecutor(
            max_workers=workers, initializer=worker_init, initargs=(os.getpid(),)
        )
        results = pool.map(_run_task, tasks)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(tasks), desc="trials", unit="trial")
    try:
        rows = [row for task_rows in results for row in task_rows]
    finally:
        if pool is not None:
            pool.shutdown()
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def summarize(frame: pd.DataFrame, by: Sequence[str] = ("method", "eta", "n")) -> pd.DataFrame:
    """Mean, standard deviation and standard error of ERR (and kept fractions) per group.

    The 0.1.0 column set of :func:`linclip.stats.summarize` (the one summariser): the
    grouping columns, ``err_mean, err_std, err_x_mean, err_xt_mean, kept_fraction_mean,
    kept_clean_fraction_mean, trials, err_sem``. Reads the reproduce CSV as well.
    """
    from ..stats import summarize as summarize_rows

    out = summarize_rows(frame, by, sort=True)
    keys = [k for k in by if k in frame.columns]
    cols = [
        "err_mean",
        "err_std",
        "err_x_mean",
        "err_xt_mean",
        "kept_fraction_mean",
        "kept_clean_fraction_mean",
        "trials",
        "err_sem",
    ]
    return out[keys + [c for c in cols if c in out.columns]]


def spec_dict(spec: MethodSpec) -> dict:
    """The spec as a plain dict (for JSON output)."""
    return asdict(spec)
