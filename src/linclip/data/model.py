r"""The bimodal data model of the paper (brief §1, Assumptions 1 and 2).

A pair :math:`(x, \tilde x) \in \mathbb R^d \times \mathbb R^{\tilde d}` is generated as

.. math::  x = U z + \xi, \qquad \tilde x = \tilde U \tilde z + \tilde\xi,

with orthonormal :math:`U \in \mathbb R^{d\times r}`, :math:`\tilde U \in \mathbb R^{\tilde d\times r}`.
With probability :math:`\eta` the pair is *clean* (:math:`\tilde z = z`), otherwise *corrupted*
(:math:`z, \tilde z` independent), and :math:`\xi \sim N(0, \gamma^{-1} I_d)`,
:math:`\tilde\xi \sim N(0, \tilde\gamma^{-1} I_{\tilde d})`.

Beyond the paper (Part III, chapter "Structured noise"): :class:`NoiseModel` replaces the
isotropic noise covariance :math:`\gamma^{-1}I` of one or both modalities by a *spiked*
covariance :math:`\gamma^{-1}I + \lambda VV^\top` (a few strong noise directions) or a
*heteroskedastic* diagonal covariance :math:`\gamma^{-1}\operatorname{diag}(w)` (per-coordinate
variances, :math:`\operatorname{mean}(w) = 1`). The default is the paper's isotropic noise, and
with it every sample is bit for bit what it was before the option existed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import check_int, check_positive, check_probability, check_real, check_snr

__all__ = [
    "BimodalModel",
    "NoiseModel",
    "NOISE_KINDS",
    "NOISE_MODALITIES",
    "SPIKE_DIRECTIONS",
    "PairSample",
    "StreamingSample",
    "random_orthonormal",
    "hetero_profile",
]

#: Kinds of noise covariance (:class:`NoiseModel`).
NOISE_KINDS = ("isotropic", "spiked", "hetero")
#: Which modality carries the structured noise: x ("image"), x~ ("text") or both.
NOISE_MODALITIES = ("image", "text", "both")
#: Spike directions: orthogonal to the signal subspace, or Haar-random in the ambient space.
SPIKE_DIRECTIONS = ("orthogonal", "random")


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


def hetero_profile(dim: int, spread: float) -> np.ndarray:
    r"""The heteroskedastic variance profile :math:`w \in \mathbb R^{D}` (mean 1).

    Geometric from the first to the last ambient coordinate,
    :math:`w_j \propto c^{(j-1)/(D-1)}` with :math:`c` = ``spread`` = :math:`w_D/w_1`, normalised
    to :math:`\frac1D\sum_j w_j = 1`, so :math:`\gamma^{-1}\operatorname{diag}(w)` has the same
    total noise power :math:`D\gamma^{-1}` as the isotropic noise.

    Parameters
    ----------
    dim : int
        Ambient dimension :math:`D` (:math:`d` or :math:`\tilde d`).
    spread : float
        Ratio :math:`c \ge 1` of the largest to the smallest coordinate variance.

    Examples
    --------
    >>> w = hetero_profile(3, 4.0)
    >>> [round(float(v), 4) for v in w], round(float(w.mean()), 12)
    ([0.4286, 0.8571, 1.7143], 1.0)
    """
    dim = check_int("dim", dim)
    spread = check_real("spread (noise strength of hetero noise)", spread)
    if spread < 1.0:
        raise ValueError(
            f"spread (noise strength of hetero noise) must be >= 1 (largest over smallest "
            f"coordinate variance); got {spread:g}"
        )
    if dim == 1:
        return np.ones(1)
    w = spread ** (np.arange(dim) / (dim - 1))
    return w / w.mean()


@dataclass(frozen=True)
class NoiseModel:
    r"""The structure of the noise covariance (beyond the paper's Assumption 2).

    Parameters
    ----------
    kind : {"isotropic", "spiked", "hetero"}
        ``isotropic``: the paper's :math:`\gamma^{-1}I` (the default; the other fields must keep
        their defaults). ``spiked``: :math:`\Sigma_\xi = \gamma^{-1}I_d + \lambda VV^\top` with
        :math:`V \in \mathbb R^{d\times k}` orthonormal (``rank`` :math:`k` strong noise
        directions of extra variance ``strength`` :math:`\lambda`). ``hetero``: per-coordinate
        (heteroskedastic) variances :math:`\Sigma_\xi = \gamma^{-1}\operatorname{diag}(w)` with
        the geometric profile :func:`hetero_profile` of spread ``strength`` :math:`c`
        (total noise power :math:`d\gamma^{-1}` unchanged). Every pair has the same noise law:
        per-*sample* noise scales (a scale mixture) are not implemented.
    rank : int
        Spike rank :math:`k \ge 1` (``spiked`` only; 0 otherwise).
    strength : float
        ``spiked``: the extra variance :math:`\lambda > 0` along each spike direction (absolute
        units; the signal directions have variance :math:`1 + \gamma^{-1}`). ``hetero``: the
        spread :math:`c \ge 1`. 0 for ``isotropic``.
    modality : {"image", "text", "both"}
        Which modality's noise is structured: :math:`x`, :math:`\tilde x`, or both (the same
        parameters, independent directions). The other modality keeps :math:`\gamma^{-1}I`.
    directions : {"orthogonal", "random"}
        ``spiked`` only: :math:`V` Haar-random inside the orthogonal complement of the signal
        subspace (:math:`U^\top V = 0`; needs :math:`k \le d - r`), or Haar-random in
        :math:`\mathbb R^d` (it then overlaps the signal subspace). Keep ``"orthogonal"`` for the
        other kinds.

    Examples
    --------
    >>> NoiseModel().is_isotropic
    True
    >>> NoiseModel("spiked", rank=2, strength=3.0).structured_modalities
    ('image',)
    """

    kind: str = "isotropic"
    rank: int = 0
    strength: float = 0.0
    modality: str = "image"
    directions: str = "orthogonal"

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(
                f"noise kind must be one of {', '.join(NOISE_KINDS)}; got {self.kind!r}"
            )
        if self.modality not in NOISE_MODALITIES:
            raise ValueError(
                f"noise modality must be one of {', '.join(NOISE_MODALITIES)}; "
                f"got {self.modality!r}"
            )
        if self.directions not in SPIKE_DIRECTIONS:
            raise ValueError(
                f"noise directions must be one of {', '.join(SPIKE_DIRECTIONS)}; "
                f"got {self.directions!r}"
            )
        if self.kind == "spiked":
            rank = check_int("noise rank k (spiked noise)", self.rank)
            strength = check_positive("noise strength lambda (spiked noise)", self.strength)
        else:
            rank = check_int(
                f"noise rank k ({self.kind} noise)",
                self.rank,
                minimum=0,
                maximum=0,
                what=": only spiked noise has a rank",
            )
            if self.kind == "hetero":
                strength = check_real("noise strength c (hetero noise)", self.strength)
                if strength < 1.0:
                    raise ValueError(
                        "noise strength c (hetero noise) must be >= 1 (largest over smallest "
                        f"coordinate variance); got {strength:g}"
                    )
            else:
                strength = check_real("noise strength (isotropic noise)", self.strength)
                if strength != 0.0:
                    raise ValueError(
                        "noise strength (isotropic noise) must be 0: isotropic noise has no "
                        f"strength beyond gamma; got {strength:g}"
                    )
            if self.directions != "orthogonal":
                raise ValueError(
                    f"noise directions apply to spiked noise only; {self.kind} noise takes the "
                    f"default 'orthogonal'; got {self.directions!r}"
                )
        if self.kind == "isotropic" and self.modality != "image":
            raise ValueError(
                "noise modality applies to structured noise only; isotropic noise takes the "
                f"default 'image'; got {self.modality!r}"
            )
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "strength", strength)

    @property
    def is_isotropic(self) -> bool:
        """Whether this is the paper's isotropic noise (``kind == "isotropic"``)."""
        return self.kind == "isotropic"

    @property
    def structured_modalities(self) -> tuple[str, ...]:
        """The modalities (``"image"``, ``"text"``) whose noise is structured."""
        if self.is_isotropic:
            return ()
        return ("image", "text") if self.modality == "both" else (self.modality,)

    def applies_to(self, modality: str) -> bool:
        """Whether ``modality`` (``"image"`` or ``"text"``) has structured noise."""
        return modality in self.structured_modalities

    def as_dict(self) -> dict:
        """The fields as a plain dict (JSON output and result rows)."""
        return dict(
            kind=self.kind,
            rank=self.rank,
            strength=self.strength,
            modality=self.modality,
            directions=self.directions,
        )


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
    noise : NoiseModel
        Structure of the noise covariance (default: the paper's isotropic noise). Spike
        directions :math:`V, \tilde V` are drawn from ``basis_seed`` too, on a stream of their
        own (the bases :math:`U, \tilde U` do not depend on ``noise``).

    Notes
    -----
    ``U``, ``U_t`` (and the spike directions ``V``, ``V_t``, ``None`` without spikes) are
    computed once in ``__post_init__`` and are not part of equality. With structured noise the
    isotropic shortcuts ``noise_var``, ``noise_var_t`` and ``snr_factor`` refuse (ValueError);
    use :meth:`noise_covariance_x` and :meth:`noise_covariance_xt`.
    """

    d: int
    d_t: int
    r: int
    gamma: float = 1e4
    gamma_t: float = 1e4
    eta: float = 1.0
    basis_seed: int = 0
    noise: NoiseModel = field(default=NoiseModel(), repr=False)
    U: np.ndarray = field(init=False, repr=False, compare=False)
    U_t: np.ndarray = field(init=False, repr=False, compare=False)
    V: np.ndarray | None = field(init=False, repr=False, compare=False)
    V_t: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = check_int("d", self.d)
        d_t = check_int("d_t", self.d_t)
        r = check_int("r", self.r, maximum=min(d, d_t), what=" with 1 <= r <= min(d, d_t)")
        gamma = check_snr("gamma", self.gamma)
        gamma_t = check_snr("gamma_t", self.gamma_t)
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
        self._init_noise()

    def _init_noise(self) -> None:
        noise = self.noise
        if not isinstance(noise, NoiseModel):
            raise ValueError(f"noise must be a NoiseModel; got {type(noise).__name__}")
        V = V_t = None
        if noise.kind == "spiked":
            # A stream of its own: U and U_t (drawn above) do not depend on the noise.
            rng = np.random.default_rng(
                np.random.SeedSequence([self.basis_seed, self.d, self.d_t, self.r, 1])
            )
            spikes = {}
            for side, dim, basis in (("image", self.d, self.U), ("text", self.d_t, self.U_t)):
                if not noise.applies_to(side):
                    continue
                if noise.directions == "random":
                    check_int(
                        f"noise rank k (random {side} spikes)",
                        noise.rank,
                        maximum=dim,
                        what=f" (at most the dimension {dim})",
                    )
                    spikes[side] = random_orthonormal(dim, noise.rank, rng)
                else:
                    check_int(
                        f"noise rank k (orthogonal {side} spikes)",
                        noise.rank,
                        maximum=dim - self.r,
                        what=f" (at most dim - r = {dim - self.r}, the signal's complement)",
                    )
                    q, _ = np.linalg.qr(basis, mode="complete")
                    spikes[side] = q[:, self.r :] @ random_orthonormal(
                        dim - self.r, noise.rank, rng
                    )
                spikes[side].setflags(write=False)
            V, V_t = spikes.get("image"), spikes.get("text")
        object.__setattr__(self, "V", V)
        object.__setattr__(self, "V_t", V_t)

    def __repr__(self) -> str:
        base = (
            f"BimodalModel(d={self.d!r}, d_t={self.d_t!r}, r={self.r!r}, gamma={self.gamma!r}, "
            f"gamma_t={self.gamma_t!r}, eta={self.eta!r}, basis_seed={self.basis_seed!r}"
        )
        return base + (")" if self.noise.is_isotropic else f", noise={self.noise!r})")

    # ----------------------------------------------------------------- derived quantities
    @property
    def clean_fraction(self) -> float:
        """Alias of ``eta``."""
        return self.eta

    def _isotropic(self, side: str, what: str) -> None:
        if self.noise.applies_to(side):
            raise ValueError(
                f"{what} is the variance of isotropic noise, but this model's {side} noise is "
                f"{self.noise.kind} (noise={self.noise!r}); use noise_covariance_x() / "
                "noise_covariance_xt(), or noise=NoiseModel() for the paper's isotropic noise"
            )

    @property
    def noise_var(self) -> float:
        r"""Noise variance :math:`\gamma^{-1}` of the first modality (isotropic noise only)."""
        self._isotropic("image", "noise_var")
        return 1.0 / self.gamma

    @property
    def noise_var_t(self) -> float:
        r"""Noise variance :math:`\tilde\gamma^{-1}` of the second modality (isotropic noise only)."""
        self._isotropic("text", "noise_var_t")
        return 1.0 / self.gamma_t

    @property
    def snr_factor(self) -> float:
        r"""The factor :math:`(1+\gamma^{-1})(1+\tilde\gamma^{-1})` that recurs in every bound.

        Isotropic noise only (it refuses structured noise, whose bounds have no such factor).
        """
        return (1.0 + self.noise_var) * (1.0 + self.noise_var_t)

    def _noise_diag(self, side: str) -> np.ndarray | None:
        """Per-coordinate variances of hetero noise on ``side`` (None if not hetero there)."""
        if self.noise.kind != "hetero" or not self.noise.applies_to(side):
            return None
        dim, gamma = (self.d, self.gamma) if side == "image" else (self.d_t, self.gamma_t)
        return hetero_profile(dim, self.noise.strength) / gamma

    def _noise_cov(self, side: str) -> np.ndarray:
        dim, gamma = (self.d, self.gamma) if side == "image" else (self.d_t, self.gamma_t)
        diag = self._noise_diag(side)
        if diag is not None:
            return np.diag(diag)
        cov = np.eye(dim) / gamma
        V = self.V if side == "image" else self.V_t
        if V is not None:
            cov = cov + self.noise.strength * V @ V.T
        return cov

    def noise_covariance_x(self) -> np.ndarray:
        r"""Noise covariance :math:`\Sigma_\xi = E[\xi\xi^\top]` of :math:`x` (any noise kind).

        :math:`\gamma^{-1}I_d` (isotropic), :math:`\gamma^{-1}I_d + \lambda VV^\top` (spiked) or
        :math:`\gamma^{-1}\operatorname{diag}(w)` (hetero, :func:`hetero_profile`).
        """
        return self._noise_cov("image")

    def noise_covariance_xt(self) -> np.ndarray:
        r"""Noise covariance :math:`\Sigma_{\tilde\xi}` of :math:`\tilde x` (any noise kind)."""
        return self._noise_cov("text")

    def noise_power(self) -> tuple[float, float]:
        r"""Total noise power :math:`(\operatorname{tr}\Sigma_\xi, \operatorname{tr}\Sigma_{\tilde\xi})`."""
        return (
            float(np.trace(self.noise_covariance_x())),
            float(np.trace(self.noise_covariance_xt())),
        )

    def matched_isotropic(self) -> BimodalModel:
        r"""The isotropic model with the same bases and the same total noise power per modality.

        :math:`\gamma' = d/\operatorname{tr}\Sigma_\xi` and
        :math:`\tilde\gamma' = \tilde d/\operatorname{tr}\Sigma_{\tilde\xi}`: the comparison
        "at matched total noise power" of the chapter (hetero noise already has it).

        Examples
        --------
        >>> m = BimodalModel(10, 8, 4, gamma=1.0, noise=NoiseModel("spiked", 2, 5.0))
        >>> round(m.matched_isotropic().gamma, 12)
        0.5
        """
        px, pt = self.noise_power()
        gamma = self.d / px if px > 0 else math.inf
        gamma_t = self.d_t / pt if pt > 0 else math.inf
        return replace(self, gamma=gamma, gamma_t=gamma_t, noise=NoiseModel())

    def with_eta(self, eta: float) -> BimodalModel:
        """Same bases and noise, different clean fraction."""
        return replace(self, eta=eta)

    # ---------------------------------------------------------------- population moments
    def covariance_x(self) -> np.ndarray:
        r""":math:`E[x x^\top] = U U^\top + \Sigma_\xi` (same in both components).

        :math:`\Sigma_\xi = \gamma^{-1} I_d` for the paper's isotropic noise.
        """
        if self.noise.is_isotropic:
            return self.U @ self.U.T + self.noise_var * np.eye(self.d)
        return self.U @ self.U.T + self.noise_covariance_x()

    def covariance_xt(self) -> np.ndarray:
        r""":math:`E[\tilde x \tilde x^\top] = \tilde U \tilde U^\top + \Sigma_{\tilde\xi}`."""
        if self.noise.is_isotropic:
            return self.U_t @ self.U_t.T + self.noise_var_t * np.eye(self.d_t)
        return self.U_t @ self.U_t.T + self.noise_covariance_xt()

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
        if self.noise.is_isotropic:  # the paper's noise: exactly the draws of 0.1.0
            if self.noise_var > 0:
                x += np.sqrt(self.noise_var) * rng.standard_normal(x.shape)
            if self.noise_var_t > 0:
                xt += np.sqrt(self.noise_var_t) * rng.standard_normal(xt.shape)
            return PairSample(x, xt, clean)
        # Structured noise: the isotropic (or per-coordinate) part first, then the spikes.
        for arr, side, gamma in ((x, "image", self.gamma), (xt, "text", self.gamma_t)):
            diag = self._noise_diag(side)
            if diag is not None:
                if np.any(diag > 0):
                    arr += np.sqrt(diag) * rng.standard_normal(arr.shape)
            elif gamma < math.inf:
                arr += math.sqrt(1.0 / gamma) * rng.standard_normal(arr.shape)
        for arr, V in ((x, self.V), (xt, self.V_t)):
            if V is not None:
                spike = rng.standard_normal((arr.shape[0], V.shape[1]))
                arr += math.sqrt(self.noise.strength) * spike @ V.T
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
