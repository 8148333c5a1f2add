r"""The bimodal data model of the paper (brief §1, Assumptions 1 and 2).

A pair :math:`(x, \tilde x) \in \mathbb R^d \times \mathbb R^{\tilde d}` is generated as

.. math::  x = U z + \xi, \qquad \tilde x = \tilde U \tilde z + \tilde\xi,

with orthonormal :math:`U \in \mathbb R^{d\times r}`, :math:`\tilde U \in \mathbb R^{\tilde d\times r}`.
With probability :math:`\eta` the pair is *clean* (:math:`\tilde z = z`), otherwise *corrupted*
(:math:`z, \tilde z` independent), and :math:`\xi \sim N(0, \gamma^{-1} I_d)`,
:math:`\tilde\xi \sim N(0, \tilde\gamma^{-1} I_{\tilde d})`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import check_int, check_positive, check_probability

__all__ = ["BimodalModel", "PairSample", "StreamingSample", "random_orthonormal"]


def random_orthonormal(dim: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    r"""Draw a Haar-random ``dim x rank`` matrix with orthonormal columns.

    Parameters
    ----------
    dim : int
        Ambient dimension (:math:`d` or :math:`\tilde d`).
    rank : int
        Number of columns (:math:`r`), at most ``dim``.
    rng : numpy.random.Generator
        Source of randomness.
    """
    dim = check_int("dim", dim)
    rank = check_int("rank", rank, maximum=dim, what=" not larger than dim")
    q, rr = np.linalg.qr(rng.standard_normal((dim, rank)))
    # Fixing the signs of R's diagonal makes the law exactly Haar, not just orthonormal.
    return q * np.sign(np.diag(rr))


@dataclass(frozen=True)
class PairSample:
    r"""``n`` pairs, with their hidden clean/corrupted labels when they are known.

    Attributes
    ----------
    x : ndarray, shape (n, d)
        First modality ("images"), one pair per row.
    xt : ndarray, shape (n, d_t)
        Second modality ("texts"), :math:`\tilde x`.
    clean : ndarray of bool, shape (n,), or None
        True where the pair is correctly matched (:math:`\tilde z = z`). Hidden from learners;
        only the clean-label oracle may look at it. ``None`` for data without labels (your own
        embeddings): then nothing reports a clean fraction.

    Examples
    --------
    >>> import numpy as np
    >>> s = PairSample(np.zeros((3, 2)), np.ones((3, 4)))
    >>> s.n, s.has_labels
    (3, False)
    """

    x: np.ndarray
    xt: np.ndarray
    clean: np.ndarray | None = None

    def __post_init__(self) -> None:
        x, xt, clean = self.x, self.xt, self.clean
        if getattr(x, "ndim", None) != 2 or getattr(xt, "ndim", None) != 2:
            raise ValueError(
                "x and xt must be 2-D arrays (one pair per row); got shapes "
                f"{np.shape(x)} and {np.shape(xt)}"
            )
        if x.shape[0] != xt.shape[0]:
            raise ValueError(
                f"x and xt must have the same number of rows (pairs); got "
                f"{x.shape[0]} and {xt.shape[0]}"
            )
        if clean is not None and not (
            isinstance(clean, np.ndarray)
            and clean.dtype == np.bool_
            and clean.shape == (x.shape[0],)
        ):
            raise ValueError(
                f"clean must be None or a boolean array of shape ({x.shape[0]},); "
                f"got {type(clean).__name__} of shape {np.shape(clean)}"
            )

    @property
    def n(self) -> int:
        """Number of pairs."""
        return int(self.x.shape[0])

    @property
    def has_labels(self) -> bool:
        """Whether the hidden clean/corrupted labels are known."""
        return self.clean is not None

    @property
    def clean_count(self) -> int:
        """Realised number of clean pairs (Binomial(n, eta)); needs the labels."""
        if self.clean is None:
            raise ValueError("this sample has no clean/corrupted labels (clean=None)")
        return int(np.count_nonzero(self.clean))

    def subset(self, mask_or_index: np.ndarray | slice) -> PairSample:
        """Return the pairs selected by a boolean mask, an index array or a slice."""
        clean = None if self.clean is None else self.clean[mask_or_index]
        return PairSample(self.x[mask_or_index], self.xt[mask_or_index], clean)

    def chunks(self) -> Iterator[PairSample]:
        """Iterate over the sample in chunks (an in-memory sample is a single chunk)."""
        yield self

    def split(self, n_first: int) -> tuple[PairSample, PairSample]:
        """Split into the first ``n_first`` pairs and the rest (Algorithm 1's half split)."""
        n_first = check_int("n_first", n_first, minimum=0, maximum=self.n)
        return self.subset(slice(0, n_first)), self.subset(slice(n_first, None))


@dataclass(frozen=True)
class BimodalModel:
    r"""Parameters of the bimodal model, with random orthonormal bases drawn from ``basis_seed``.

    Parameters
    ----------
    d : int
        Dimension :math:`d` of the first modality.
    d_t : int
        Dimension :math:`\tilde d` of the second modality.
    r : int
        Rank :math:`r` of the shared latent subspace, ``1 <= r <= min(d, d_t)``.
    gamma : float
        Signal-to-noise parameter :math:`\gamma` (noise variance :math:`\gamma^{-1}`); ``inf``
        means no noise.
    gamma_t : float
        Signal-to-noise parameter :math:`\tilde\gamma` of the second modality.
    eta : float
        Clean fraction :math:`\eta \in (0, 1]` (probability that a pair is correctly matched).
    basis_seed : int
        Seed for :math:`U, \tilde U`. Changing ``eta`` with :func:`dataclasses.replace` keeps
        the same bases, so sweeps over :math:`\eta` compare like with like.

    Notes
    -----
    ``U`` and ``U_t`` are computed once in ``__post_init__`` and are not part of equality.
    """

    d: int
    d_t: int
    r: int
    gamma: float = 1e4
    gamma_t: float = 1e4
    eta: float = 1.0
    basis_seed: int = 0
    U: np.ndarray = field(init=False, repr=False, compare=False)
    U_t: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = check_int("d", self.d)
        d_t = check_int("d_t", self.d_t)
        r = check_int("r", self.r, maximum=min(d, d_t), what=" with 1 <= r <= min(d, d_t)")
        gamma = check_positive("gamma", self.gamma, allow_inf=True)
        gamma_t = check_positive("gamma_t", self.gamma_t, allow_inf=True)
        eta = check_probability("eta (clean fraction)", self.eta)
        seed = check_int("basis_seed", self.basis_seed, minimum=0)
        for name, value in [
            ("d", d),
            ("d_t", d_t),
            ("r", r),
            ("gamma", gamma),
            ("gamma_t", gamma_t),
            ("eta", eta),
            ("basis_seed", seed),
        ]:
            object.__setattr__(self, name, value)
        rng = np.random.default_rng(np.random.SeedSequence([seed, d, d_t, r]))
        object.__setattr__(self, "U", random_orthonormal(d, r, rng))
        object.__setattr__(self, "U_t", random_orthonormal(d_t, r, rng))
        self.U.setflags(write=False)
        self.U_t.setflags(write=False)

    # ----------------------------------------------------------------- derived quantities
    @property
    def clean_fraction(self) -> float:
        """Alias of ``eta``."""
        return self.eta

    @property
    def noise_var(self) -> float:
        r"""Noise variance :math:`\gamma^{-1}` of the first modality."""
        return 1.0 / self.gamma

    @property
    def noise_var_t(self) -> float:
        r"""Noise variance :math:`\tilde\gamma^{-1}` of the second modality."""
        return 1.0 / self.gamma_t

    @property
    def snr_factor(self) -> float:
        r"""The factor :math:`(1+\gamma^{-1})(1+\tilde\gamma^{-1})` that recurs in every bound."""
        return (1.0 + self.noise_var) * (1.0 + self.noise_var_t)

    def with_eta(self, eta: float) -> BimodalModel:
        """Same bases and noise, different clean fraction."""
        return replace(self, eta=eta)

    # ---------------------------------------------------------------- population moments
    def covariance_x(self) -> np.ndarray:
        r""":math:`E[x x^\top] = U U^\top + \gamma^{-1} I_d` (same in both components)."""
        return self.U @ self.U.T + self.noise_var * np.eye(self.d)

    def covariance_xt(self) -> np.ndarray:
        r""":math:`E[\tilde x \tilde x^\top] = \tilde U \tilde U^\top + \tilde\gamma^{-1} I`."""
        return self.U_t @ self.U_t.T + self.noise_var_t * np.eye(self.d_t)

    def cross_covariance(self) -> np.ndarray:
        r"""Population cross-covariance :math:`E[x \tilde x^\top] = \eta U \tilde U^\top`."""
        return self.eta * self.U @ self.U_t.T

    def component_covariance(self, clean: bool) -> np.ndarray:
        r"""Joint covariance of :math:`(x, \tilde x)` in one mixture component.

        Parameters
        ----------
        clean : bool
            True for the clean law (cross block :math:`U\tilde U^\top`), False for the corrupted
            law (cross block zero).

        Returns
        -------
        ndarray, shape (d + d_t, d + d_t)
        """
        cross = self.U @ self.U_t.T if clean else np.zeros((self.d, self.d_t))
        return np.block([[self.covariance_x(), cross], [cross.T, self.covariance_xt()]])

    def joint_covariance(self) -> np.ndarray:
        r"""Covariance of the mixture: :math:`\eta`-weighted average of the two components."""
        return self.eta * self.component_covariance(True) + (
            1 - self.eta
        ) * self.component_covariance(False)

    # ------------------------------------------------------------------------- sampling
    def sample_latents(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Draw the latents :math:`z, \tilde z` (shape (n, r)) and the clean labels."""
        n = check_int("n", n, minimum=0)
        clean = rng.random(n) < self.eta
        z = rng.standard_normal((n, self.r))
        zt = rng.standard_normal((n, self.r))
        zt[clean] = z[clean]
        return z, zt, clean

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> PairSample:
        """Sample ``n`` pairs.

        Parameters
        ----------
        n : int
            Number of pairs :math:`n` (>= 0).
        rng : Generator or int or None
            Random generator, or a seed for :func:`numpy.random.default_rng`.
        """
        rng = np.random.default_rng(rng)
        z, zt, clean = self.sample_latents(n, rng)
        x = z @ self.U.T
        xt = zt @ self.U_t.T
        if self.noise_var > 0:
            x += np.sqrt(self.noise_var) * rng.standard_normal(x.shape)
        if self.noise_var_t > 0:
            xt += np.sqrt(self.noise_var_t) * rng.standard_normal(xt.shape)
        return PairSample(x, xt, clean)

    def sample_chunks(
        self,
        n: int,
        seed: np.random.SeedSequence | int,
        chunk_size: int = 200_000,
        *,
        start: int = 0,
    ) -> Iterator[PairSample]:
        """Yield ``n`` pairs in chunks of at most ``chunk_size``, reproducibly.

        Chunk ``k`` is drawn from the ``k``-th child of ``seed``, so iterating twice with the same
        seed yields the same pairs: a streaming learner can make several passes over a sample
        that never sits in memory as a whole.

        The children are derived lazily, one per chunk as it is drawn: chunk ``k`` uses
        ``SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (k,))``, exactly the ``k``-th
        child that ``seed.spawn`` would return (on a fresh copy of ``seed``), so memory does
        not grow with the number of chunks (:math:`n = 10^{12}` has five million).
        """
        n = check_int("n", n, minimum=0)
        chunk_size = check_int("chunk_size", chunk_size)
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        n_chunks = -(-n // chunk_size)
        start = check_int("start", start, minimum=0, maximum=n)
        for k in range(start // chunk_size, n_chunks):
            size = min(chunk_size, n - k * chunk_size)
            child = _chunk_seed(ss, k)
            chunk = self.sample(size, np.random.default_rng(child))
            cut = start - k * chunk_size
            if cut > 0:
                chunk = chunk.subset(slice(cut, None))
            if chunk.n:
                yield chunk


def _chunk_seed(ss: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The ``k``-th child of ``ss`` as ``spawn`` would make it, without spawning the others.

    ``SeedSequence.spawn`` mutates its parent; children are generated as from a fresh copy
    (counting from 0), so repeated passes over a sample agree.
    """
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, k), pool_size=ss.pool_size)


@dataclass(frozen=True)
class StreamingSample:
    """A reproducible sample of ``n`` pairs that is generated chunk by chunk on every pass.

    It never holds more than ``chunk_size`` pairs in memory, so paper-scale runs
    (:math:`n = 10^7`) need tens of megabytes, not gigabytes. Iterating twice yields the same
    pairs, which lets the teacher pipeline make one pass to train and another to filter.

    Parameters
    ----------
    model : BimodalModel
        The data model.
    n : int
        Number of pairs :math:`n`.
    seed : int
        Root seed of the sample.
    chunk_size : int
        Pairs per chunk.
    """

    model: BimodalModel
    n: int
    seed: int | np.random.SeedSequence
    chunk_size: int = 200_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_int("n", self.n))
        object.__setattr__(self, "chunk_size", check_int("chunk_size", self.chunk_size))

    @property
    def x_dim(self) -> int:
        """Dimension :math:`d`."""
        return self.model.d

    def chunks(self, start: int = 0) -> Iterator[PairSample]:
        """Yield the pairs chunk by chunk (identical on every call), from pair ``start`` on."""
        return self.model.sample_chunks(self.n, self.seed, self.chunk_size, start=start)
