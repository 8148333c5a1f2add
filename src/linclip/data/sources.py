r"""Sources of sufficient statistics: the seam between the engine and the data.

Every learner in the book sees a set of pairs :math:`w = (x, \tilde x)` only through its count,
its sum and its second moments. A trial of the engine (:mod:`linclip.filters.engine`) therefore
asks a *source* for the statistics of a few sets of pairs, described by a
:class:`StatsRequest`:

* ``all`` — all :math:`n` pairs (the unfiltered learner, the full-sample teacher);
* ``clean`` — the clean pairs (the clean-label oracle);
* ``first`` — the first :math:`\lfloor n/2\rfloor` pairs (Algorithm 1's teacher);
* ``kept`` — for each :class:`KeptRequest`, the pairs of a pool (all pairs, or the second half)
  whose score :math:`x^\top M\tilde x` exceeds a threshold :math:`\theta` or lies in the top
  fraction :math:`q`.

The score matrix :math:`M` of a kept set may depend on statistics the source is still
collecting (Algorithm 1's teacher is fitted on the first half), so the source calls back
``score_matrix(scorer, stats)`` as soon as the statistics it names are complete.

:class:`PairsSource` is the reference: it generates (or holds) the pairs and accumulates. It
makes **one pass** whenever that suffices: the teacher fitted on the first :math:`n/2` pairs
scores the second-half chunks as they are generated, so Algorithm 1 at threshold
:math:`\theta` generates exactly :math:`n` pairs. Only a full-sample teacher (its filter depends
on every pair it filters) and a top-:math:`q` rule on a streamed sample (the cut is known only
after every score) need a second pass over their pool; an in-memory sample is never
regenerated. A second source (an exact sampler of the statistics) implements the same
:meth:`PairsSource.statistics` and needs nothing else from the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from .._validate import check_int
from ..learners.contrastive import CrossCovarianceAccumulator
from .exact import ExactSource
from .model import PairSample, StreamingSample

if TYPE_CHECKING:  # pragma: no cover
    from ..filters.weighting import ScoreWeighting

__all__ = [
    "SCORERS",
    "PairScorer",
    "POOLS",
    "MomentAccumulator",
    "KeptRequest",
    "StatsRequest",
    "TrialStats",
    "StatisticsSource",
    "PairsSource",
    "as_source",
]

#: Score matrices a kept set can be filtered with (``given-teacher``: an encoder pair handed to
#: the engine).
SCORERS = ("teacher", "teacher-split", "oracle-score", "given-teacher")
#: Pools a score filter can act on: all pairs, or the second half (Algorithm 1).
POOLS = ("all", "second")


class MomentAccumulator(CrossCovarianceAccumulator):
    r"""Count, sums and second moments of a set of pairs, added chunk by chunk.

    The cross block :math:`\sum x\tilde x^\top` is always kept (the contrastive learner needs
    only it); with ``full=True`` the within-modality blocks :math:`\sum xx^\top` and
    :math:`\sum\tilde x\tilde x^\top` are kept too (PCA needs them). Sums are taken about a
    shift (the first non-empty chunk's means) for numerical stability. ``n_clean`` counts the
    clean pairs when the labels are known (``None`` otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, xt = rng.standard_normal((50, 3)), rng.standard_normal((50, 2))
    >>> acc = MomentAccumulator(3, 2, full=True)
    >>> _ = acc.add(PairSample(x[:20], xt[:20])).add(PairSample(x[20:], xt[20:]))
    >>> bool(np.allclose(acc.covariance_x(), np.cov(x.T)))
    True
    """

    def __init__(self, d: int, d_t: int, *, full: bool = False, keep_pairs: bool = False) -> None:
        super().__init__(d, d_t)
        self.full = bool(full)
        self.keep_pairs = bool(keep_pairs)
        self._pieces: list[PairSample] = []
        self.n_clean: int | None = 0
        # Weighted sums (soft weighting, :meth:`add` with ``weights``): the sum of the weights
        # and of their squares; every unweighted pair counts with weight 1.
        self.weight_sum = 0.0
        self.weight_sq_sum = 0.0
        self.weighted = False
        self._sum_xx = np.zeros((self.d, self.d)) if full else None
        self._sum_xtxt = np.zeros((self.d_t, self.d_t)) if full else None

    @classmethod
    def from_sums(
        cls,
        d: int,
        d_t: int,
        n: int,
        total: np.ndarray,
        second: np.ndarray,
        *,
        n_clean: int | None = None,
    ) -> MomentAccumulator:
        r"""An accumulator holding given raw sums (about zero) of :math:`n` pairs.

        Parameters
        ----------
        d, d_t : int
            Dimensions :math:`d, \tilde d`.
        n : int
            Number of pairs.
        total : ndarray, shape (d + d_t,)
            :math:`\sum_i w_i`, :math:`w = (x, \tilde x)`.
        second : ndarray, shape (d + d_t, d + d_t)
            :math:`\sum_i w_iw_i^\top` (the within-modality blocks are kept: ``full=True``).
        n_clean : int, optional
            Clean pairs among them.

        Examples
        --------
        >>> import numpy as np
        >>> w = np.random.default_rng(0).standard_normal((40, 5))
        >>> acc = MomentAccumulator.from_sums(3, 2, 40, w.sum(0), w.T @ w)
        >>> bool(np.allclose(acc.covariance(), np.cov(w.T)[:3, 3:]))
        True
        """
        acc = cls(d, d_t, full=True)
        D = acc.d + acc.d_t
        total = np.asarray(total, dtype=float)
        second = np.asarray(second, dtype=float)
        if total.shape != (D,) or second.shape != (D, D):
            raise ValueError(
                f"total and second must have shapes ({D},) and ({D}, {D}); "
                f"got {total.shape} and {second.shape}"
            )
        acc.n = check_int("n", n, minimum=0)
        acc.n_clean = n_clean
        acc._shift_x, acc._shift_xt = np.zeros(acc.d), np.zeros(acc.d_t)
        acc._sum_x, acc._sum_xt = total[: acc.d].copy(), total[acc.d :].copy()
        acc._sum_cross = second[: acc.d, acc.d :].copy()
        acc._sum_xx = second[: acc.d, : acc.d].copy()
        acc._sum_xtxt = second[acc.d :, acc.d :].copy()
        return acc

    def add(self, piece: PairSample, weights: np.ndarray | None = None) -> MomentAccumulator:
        r"""Add the pairs of ``piece`` (and count its clean pairs, if it has labels).

        Parameters
        ----------
        piece : PairSample
            The pairs.
        weights : ndarray, shape (piece.n,), optional
            Non-negative weights :math:`w_i` (soft weighting by the score,
            :class:`~linclip.filters.weighting.ScoreWeighting`). The moments become weighted
            sums; pairs of weight 0 are left out, and ``n`` and ``n_clean`` count the pairs of
            positive weight. The covariances are then the reliability-weighted ones
            (:meth:`covariance`): 0/1 weights give exactly the statistics of the pairs of
            weight 1, equal weights those of all pairs. Not with ``keep_pairs=True``.
        """
        if weights is not None:
            return self._add_weighted(piece, weights)
        self.weight_sum += piece.n
        self.weight_sq_sum += piece.n
        if piece.clean is None:
            self.n_clean = None
        elif self.n_clean is not None:
            self.n_clean += int(np.count_nonzero(piece.clean))
        if piece.n == 0:
            return self
        if self.keep_pairs:
            self._pieces.append(piece)
        self.update(piece.x, piece.xt)
        if self.full:
            assert self._sum_xx is not None and self._sum_xtxt is not None
            assert self._shift_x is not None and self._shift_xt is not None
            xc = piece.x - self._shift_x
            xtc = piece.xt - self._shift_xt
            self._sum_xx += xc.T @ xc
            self._sum_xtxt += xtc.T @ xtc
        return self

    def _add_weighted(self, piece: PairSample, weights: np.ndarray) -> MomentAccumulator:
        w = np.asarray(weights, dtype=float)
        if w.shape != (piece.n,):
            raise ValueError(
                f"weights must have one entry per pair, shape ({piece.n},); got shape {w.shape}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative (soft weights w(S) >= 0)")
        if self.keep_pairs:
            raise ValueError(
                "weighted statistics cannot keep their pairs: the pair learners (InfoNCE) "
                "train on unweighted pairs; use a threshold or a kept fraction instead"
            )
        positive = w > 0
        piece, w = piece.subset(positive), w[positive]
        if piece.clean is None:
            self.n_clean = None
        elif self.n_clean is not None:
            self.n_clean += int(np.count_nonzero(piece.clean))
        self.weighted = True
        if piece.n == 0:
            return self
        if self._shift_x is None:
            self._shift_x = piece.x.mean(axis=0)
            self._shift_xt = piece.xt.mean(axis=0)
        assert self._shift_x is not None and self._shift_xt is not None
        xc, xtc = piece.x - self._shift_x, piece.xt - self._shift_xt
        wx = w[:, None] * xc
        self.n += piece.n
        self.weight_sum += float(w.sum())
        self.weight_sq_sum += float(w @ w)
        self._sum_x += wx.sum(axis=0)
        self._sum_xt += w @ xtc
        self._sum_cross += wx.T @ xtc
        if self.full:
            assert self._sum_xx is not None and self._sum_xtxt is not None
            self._sum_xx += wx.T @ xc
            self._sum_xtxt += (w[:, None] * xtc).T @ xtc
        return self

    def _weighted_centre(self, total: np.ndarray, left: np.ndarray, right: np.ndarray):
        r"""Reliability-weighted centred block.

        :math:`(\sum w ab^\top - W\bar a\bar b^\top)/(W - \sum w^2/W)`, :math:`W = \sum w`.
        """
        W, W2 = self.weight_sum, self.weight_sq_sum
        denom = W - W2 / W if W > 0 else 0.0
        if not denom > 0:
            raise ValueError(
                "need at least 2 pairs of positive weight for a weighted covariance; "
                f"got {self.n} (weight sum {W:g})"
            )
        return (total - np.outer(left, right) / W) / denom

    def covariance(self) -> np.ndarray:
        r"""The centred cross-covariance :math:`S_n` (weighted: :math:`S_w`) of the pairs added."""
        if not self.weighted:
            return super().covariance()
        return self._weighted_centre(self._sum_cross, self._sum_x, self._sum_xt)

    def pairs(self) -> PairSample:
        r"""The pairs themselves, in the order added (needs ``keep_pairs=True``).

        Learners that are not functions of the moments (InfoNCE) train on these.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> acc = MomentAccumulator(3, 2, keep_pairs=True)
        >>> piece = PairSample(rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
        >>> _ = acc.add(piece.subset(slice(0, 2))).add(piece.subset(slice(2, None)))
        >>> bool(np.array_equal(acc.pairs().x, piece.x))
        True
        """
        if not self.keep_pairs:
            raise ValueError(
                "these statistics do not keep their pairs; request them with "
                "StatsRequest(pairs=True) (or MomentAccumulator(..., keep_pairs=True))"
            )
        if not self._pieces:
            return PairSample(np.empty((0, self.d)), np.empty((0, self.d_t)))
        labelled = all(p.clean is not None for p in self._pieces)
        return PairSample(
            np.concatenate([p.x for p in self._pieces]),
            np.concatenate([p.xt for p in self._pieces]),
            np.concatenate([p.clean for p in self._pieces]) if labelled else None,
        )

    def _auto(self, total: np.ndarray | None, sums: np.ndarray, name: str) -> np.ndarray:
        if total is None:
            raise ValueError(
                f"{name} needs the within-modality moments; create the accumulator with full=True"
            )
        if self.weighted:
            return self._weighted_centre(total, sums, sums)
        if self.n < 2:
            raise ValueError(f"need at least 2 pairs for a covariance; got n = {self.n}")
        mean = sums / self.n
        return (total - self.n * np.outer(mean, mean)) / (self.n - 1)

    def covariance_x(self) -> np.ndarray:
        """Centred sample covariance of :math:`x`."""
        return self._auto(self._sum_xx, self._sum_x, "covariance_x")

    def covariance_xt(self) -> np.ndarray:
        r"""Centred sample covariance of :math:`\tilde x`."""
        return self._auto(self._sum_xtxt, self._sum_xt, "covariance_xt")


@dataclass(frozen=True)
class KeptRequest:
    r"""One score-filtered set: which score matrix, which pool, which knob.

    Attributes
    ----------
    scorer : str
        One of :data:`SCORERS`.
    pool : str
        ``"second"`` for ``teacher-split`` (Algorithm 1), ``"all"`` otherwise.
    theta : float or None
        Threshold :math:`\theta`: keep score :math:`> \theta`.
    keep_fraction : float or None
        Kept fraction :math:`q`: keep the :math:`\lceil q\,n_{pool}\rceil` best scores.
    score : {"bilinear", "cosine"}
        Rank by the bilinear score or by the cosine of the embeddings (:class:`PairScorer`).
    weighting : ScoreWeighting, optional
        Soft weighting instead of a cut: every pair of the pool enters the moments with the
        weight ``weighting.weights(score)``
        (:class:`~linclip.filters.weighting.ScoreWeighting`,
        :meth:`MomentAccumulator.add`). Exactly one of ``theta``, ``keep_fraction`` and
        ``weighting`` is given.
    """

    scorer: str
    pool: str
    theta: float | None = None
    keep_fraction: float | None = None
    score: str = "bilinear"
    weighting: ScoreWeighting | None = None

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {', '.join(SCORERS)}; got {self.scorer!r}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}; got {self.pool!r}")
        knobs = [k for k in (self.theta, self.keep_fraction, self.weighting) if k is not None]
        if len(knobs) != 1:
            raise ValueError(
                "a kept set needs exactly one of theta, keep_fraction and weighting; "
                f"got {len(knobs)}"
            )
        if self.weighting is not None and not callable(getattr(self.weighting, "weights", None)):
            raise ValueError(
                "weighting must be a ScoreWeighting (an object with a weights(scores) method); "
                f"got {type(self.weighting).__name__}"
            )
        if self.score not in ("bilinear", "cosine"):
            raise ValueError(f"score must be 'bilinear' or 'cosine'; got {self.score!r}")


@dataclass(frozen=True)
class StatsRequest:
    """The statistics one trial needs (see the module docstring).

    Attributes
    ----------
    all, clean, first : bool
        Whether to collect the statistics of all pairs, of the clean pairs, of the first half.
    kept : tuple of KeptRequest
        Score-filtered sets.
    full : bool
        Collect the within-modality moments of ``all``, ``clean`` and the kept sets too (PCA).
    pairs : bool
        Keep the pairs of every requested set, ``first`` included (learners that are not
        functions of the moments, such as InfoNCE; :meth:`MomentAccumulator.pairs`). Only a
        source that has the pairs can answer it.
    """

    all: bool = False
    clean: bool = False
    first: bool = False
    kept: tuple[KeptRequest, ...] = ()
    full: bool = False
    pairs: bool = False


@dataclass
class TrialStats:
    r"""What a source returns: the requested statistics and what it cost.

    Attributes
    ----------
    n : int
        Pairs in the sample.
    all, clean, first : MomentAccumulator or None
        The requested statistics (``None`` if not requested).
    kept : list of MomentAccumulator
        One per :class:`KeptRequest`, in order.
    n_pool : list of int
        Size of each kept set's pool.
    cuts : list of float
        The threshold applied to each kept set (:math:`\theta`, or the score of the
        :math:`\lceil qn\rceil`-th best pair for a top-:math:`q` rule).
    sample_clean : int or None
        Clean pairs in the whole sample (``None`` without labels).
    pairs_generated : int
        Pairs the source generated to answer (an in-memory sample counts 0).
    """

    n: int
    all: MomentAccumulator | None = None
    clean: MomentAccumulator | None = None
    first: MomentAccumulator | None = None
    kept: list[MomentAccumulator] = field(default_factory=list)
    n_pool: list[int] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    sample_clean: int | None = None
    pairs_generated: int = 0


@dataclass(frozen=True)
class PairScorer:
    r"""What a filter scores pairs with: the score matrix and, for the cosine, the embeddings.

    Attributes
    ----------
    M : ndarray, shape (d, d_t)
        Bilinear score matrix: the score of a pair is :math:`x^\top M\tilde x`.
    A, B : ndarray, shape (r, d) and (r, d_t), optional
        Embeddings with :math:`M \propto A^\top B` (a teacher's :math:`G_T, \tilde G_T`, or
        :math:`U^\top, \tilde U^\top`); needed for the cosine score
        :math:`\cos(Ax, B\tilde x)`.
    """

    M: np.ndarray
    A: np.ndarray | None = None
    B: np.ndarray | None = None

    def scores(self, x: np.ndarray, xt: np.ndarray, score: str = "bilinear") -> np.ndarray:
        """Row-wise scores of the pairs ``(x, xt)`` (``score``: bilinear or cosine)."""
        from ..filters.scores import bilinear_score, cosine_score

        if score == "bilinear":
            return bilinear_score(x, xt, self.M)
        if self.A is None or self.B is None:
            raise ValueError("the cosine score needs the embeddings A and B of the scorer")
        return cosine_score(x, xt, self.A, self.B)


def as_scorer(value: PairScorer | np.ndarray) -> PairScorer:
    """A :class:`PairScorer` as is, or a bare score matrix wrapped in one."""
    return value if isinstance(value, PairScorer) else PairScorer(np.asarray(value, dtype=float))


#: ``score_matrix(scorer, stats)`` -> a :class:`PairScorer` (or a bare score matrix);
#: ``stats`` is the first half for ``teacher-split``, all pairs for ``teacher`` and ``None``
#: for ``oracle-score`` and ``given-teacher``.
ScoreMatrixFn = Callable[[str, "MomentAccumulator | None"], "PairScorer | np.ndarray"]


@runtime_checkable
class StatisticsSource(Protocol):
    """Anything that answers a :class:`StatsRequest` (the engine's only view of the data)."""

    @property
    def n(self) -> int:
        """Pairs in the sample."""
        ...

    def statistics(self, request: StatsRequest, score_matrix: ScoreMatrixFn) -> TrialStats:
        """Collect the requested statistics, calling ``score_matrix`` when a filter needs it."""
        ...


class PairsSource:
    """The reference source: generated pairs, held in memory or streamed in chunks.

    Parameters
    ----------
    sample : PairSample or StreamingSample
        The pairs. A :class:`~linclip.data.model.StreamingSample` is generated chunk by chunk
        (and regenerated only where a second pass is unavoidable); a
        :class:`~linclip.data.model.PairSample` is one chunk and is never regenerated.

    Attributes
    ----------
    pairs_generated : int
        Running count of the pairs this source has generated (0 for an in-memory sample).
    """

    def __init__(self, sample: PairSample | StreamingSample) -> None:
        if not isinstance(sample, (PairSample, StreamingSample)):
            raise ValueError(
                f"sample must be a PairSample or a StreamingSample; got {type(sample).__name__}"
            )
        self.sample = sample
        self.pairs_generated = 0

    @property
    def n(self) -> int:
        """Pairs in the sample."""
        return int(self.sample.n)

    @property
    def dims(self) -> tuple[int, int]:
        r"""The dimensions :math:`(d, \tilde d)`."""
        if isinstance(self.sample, StreamingSample):
            return self.sample.model.d, self.sample.model.d_t
        return int(self.sample.x.shape[1]), int(self.sample.xt.shape[1])

    def _chunks(self, start: int = 0) -> Iterator[PairSample]:
        if isinstance(self.sample, PairSample):
            yield self.sample if start == 0 else self.sample.subset(slice(start, None))
            return
        # The chunk holding pair ``start`` is generated whole and cut: count the cut-off part.
        self.pairs_generated += start % self.sample.chunk_size
        for chunk in self.sample.chunks(start):
            self.pairs_generated += chunk.n
            yield chunk

    def statistics(self, request: StatsRequest, score_matrix: ScoreMatrixFn) -> TrialStats:
        """Answer ``request`` in as few passes as the filters allow (see the module docstring)."""
        n = check_int("n", self.n, minimum=2)
        n_first = n // 2
        d, d_t = self.dims
        generated0 = self.pairs_generated
        in_memory = isinstance(self.sample, PairSample)
        acc = lambda full=request.full: MomentAccumulator(  # noqa: E731
            d, d_t, full=full, keep_pairs=request.pairs
        )
        out = TrialStats(n=n)
        out.all = acc() if request.all else None
        out.clean = acc() if request.clean else None
        out.first = acc() if request.first else None
        kept = request.kept
        out.kept = [acc() for _ in kept]
        out.n_pool = [n - n_first if k.pool == "second" else n for k in kept]
        out.cuts = [math.nan if k.theta is None else float(k.theta) for k in kept]
        matrices: dict[str, PairScorer] = {}
        for fixed in ("oracle-score", "given-teacher"):  # scorers that need no statistics
            if any(k.scorer == fixed for k in kept):
                matrices[fixed] = as_scorer(score_matrix(fixed, None))
        needs_first = any(k.scorer == "teacher-split" for k in kept)
        if needs_first and out.first is None:
            out.first = acc()
        # Scores of the top-q pools, recorded per (scorer, score kind).
        q_keys = {(k.scorer, k.score) for k in kept if k.keep_fraction is not None}
        recorded: dict[tuple[str, str], list[np.ndarray]] = {key: [] for key in q_keys}
        labels = True
        n_clean = 0

        def filter_piece(scorer: str, piece: PairSample, record: bool) -> None:
            for kind in dict.fromkeys(k.score for k in kept if k.scorer == scorer):
                sc = matrices[scorer].scores(piece.x, piece.xt, kind)
                if record and (scorer, kind) in recorded:
                    recorded[(scorer, kind)].append(sc)
                for i, k in enumerate(kept):
                    if k.scorer == scorer and k.score == kind and k.theta is not None:
                        out.kept[i].add(piece.subset(sc > k.theta))
                    elif k.scorer == scorer and k.score == kind and k.weighting is not None:
                        out.kept[i].add(piece, weights=k.weighting.weights(sc))

        # ---- pass 1: every statistic that is known in order, Algorithm 1 included.
        offset = 0
        for chunk in self._chunks():
            lo = offset
            offset += chunk.n
            if chunk.clean is None:
                labels = False
            else:
                n_clean += int(np.count_nonzero(chunk.clean))
            if out.all is not None:
                out.all.add(chunk)
            if out.clean is not None:
                if chunk.clean is None:
                    raise ValueError(
                        "the clean-label oracle needs the clean/corrupted labels; "
                        "this sample has none"
                    )
                out.clean.add(chunk.subset(chunk.clean))
            cut = min(max(n_first - lo, 0), chunk.n)
            if out.first is not None and cut:
                out.first.add(chunk.subset(slice(0, cut)))
            for fixed in ("oracle-score", "given-teacher"):
                if fixed in matrices:
                    filter_piece(fixed, chunk, True)
            if needs_first and offset >= n_first:
                if "teacher-split" not in matrices:
                    matrices["teacher-split"] = as_scorer(score_matrix("teacher-split", out.first))
                second = chunk.subset(slice(cut, None)) if cut else chunk
                if second.n:
                    filter_piece("teacher-split", second, True)
        out.sample_clean = n_clean if labels else None

        # ---- pass 2, only for the full-sample teacher: its score needs every pair first.
        if any(k.scorer == "teacher" for k in kept):
            matrices["teacher"] = as_scorer(score_matrix("teacher", out.all))
            for chunk in self._chunks():
                filter_piece("teacher", chunk, True)

        # ---- the top-q cuts, then one more pass over each top-q pool.
        from ..filters.scores import kept_count

        pool_scores = {s: np.concatenate(v) if v else np.empty(0) for s, v in recorded.items()}
        for i, k in enumerate(kept):
            if k.keep_fraction is None:
                continue
            scores, n_pool = pool_scores[(k.scorer, k.score)], out.n_pool[i]
            m = kept_count(k.keep_fraction, n_pool)
            # Keep exactly the m best: scores >= the m-th largest (ties have probability zero).
            out.cuts[i] = float(np.partition(scores, n_pool - m)[n_pool - m])
        for scorer in sorted({key[0] for key in q_keys}):  # one more pass per pool
            start = n_first if scorer == "teacher-split" else 0
            position = 0
            for piece in self._chunks(start):
                window = slice(position, position + piece.n)
                position += piece.n
                for i, k in enumerate(kept):
                    if k.scorer == scorer and k.keep_fraction is not None:
                        sc = pool_scores[(scorer, k.score)][window]
                        out.kept[i].add(piece.subset(sc >= out.cuts[i]))
        out.pairs_generated = self.pairs_generated - generated0
        if not in_memory and out.pairs_generated < n:  # pragma: no cover - defensive
            raise RuntimeError("the source generated fewer pairs than the sample holds")
        return out


def as_source(data: object) -> StatisticsSource:
    """The engine's view of ``data``: a source as is, or pairs wrapped in :class:`PairsSource`.

    ``data`` may be a :class:`StatisticsSource`, a :class:`~linclip.data.model.PairSample`, a
    :class:`~linclip.data.model.StreamingSample`, or a tuple ``(x, xt)`` of arrays (your own
    embeddings, no labels).
    """
    if isinstance(data, (PairsSource, ExactSource)):
        return data
    if isinstance(data, (PairSample, StreamingSample)):
        return PairsSource(data)
    if isinstance(data, tuple) and len(data) == 2:
        return PairsSource(
            PairSample(np.asarray(data[0], dtype=float), np.asarray(data[1], dtype=float))
        )
    if isinstance(data, StatisticsSource):
        return data
    raise ValueError(
        "data must be a PairSample, a StreamingSample, a tuple (x, xt) or a "
        f"statistics source; got {type(data).__name__}"
    )
