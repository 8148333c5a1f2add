from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from .._validate import check_int, check_positive
from .grid import MethodSpec, trial_source
from ..filters import (FILTERING_METHODS, FilterOutcome, _too_few, bilinear_score, kept_count,
                      oracle_score_matrix, teacher_score_matrix)
from ..learners.contrastive import CrossCovarianceAccumulator, Encoders, closed_form_encoders, min_pairs_for_rank
from ..metrics import subspace_error
from ..data.model import PairSample, StreamingSample
from .configs import ExperimentConfig

__all__ = ["run_methods_fused", "run_fused_trial"]

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


