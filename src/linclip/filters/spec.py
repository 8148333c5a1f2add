"""A filtering method with its knob, validated once where it is made."""

from __future__ import annotations

from dataclasses import dataclass

from .scores import ENGINE_METHODS, SCORE_FILTERS, check_filter_knob, check_score
from .weighting import ScoreWeighting

__all__ = ["MethodSpec"]


@dataclass(frozen=True)
class MethodSpec:
    r"""A method with its filtering knob.

    Parameters
    ----------
    method : str
        One of :data:`linclip.filters.scores.METHODS`, or ``"given-teacher"`` (filter by the
        score of an encoder pair handed to the engine, see
        :func:`linclip.filters.engine.run_methods`).
    theta : float, optional
        Threshold :math:`\theta` (oracle units) for the filtering methods.
    keep_fraction : float, optional
        Kept fraction :math:`q` for the filtering methods.
    score : {"bilinear", "cosine"}
        What a filtering method ranks pairs by: the paper's bilinear score
        :math:`x^\top M\tilde x` or the cosine of the two embeddings (the CLIP score;
        thresholds are then cosines in :math:`[-1, 1]`).
    weighting : ScoreWeighting, optional
        Soft weighting of the pool's pairs by their score instead of a cut (a score filter
        only, and then neither ``theta`` nor ``keep_fraction``;
        :class:`~linclip.filters.weighting.ScoreWeighting`).

    Notes
    -----
    A filtering method given neither knob uses the paper's untuned default :math:`\theta = 0`;
    it takes at most one knob, and the other methods take none. Everything is validated here,
    once, so a spec that exists can run.

    Examples
    --------
    >>> MethodSpec("teacher-split").label
    'teacher-split (θ=0)'
    >>> MethodSpec("teacher-split", keep_fraction=0.3, score="cosine").label
    'teacher-split (q=30%, cosine)'
    >>> MethodSpec("none", theta=1.0)
    Traceback (most recent call last):
    ...
    ValueError: method 'none' does not filter by score; do not pass theta or keep_fraction
    """

    method: str
    theta: float | None = None
    keep_fraction: float | None = None
    score: str = "bilinear"
    weighting: ScoreWeighting | None = None

    def __post_init__(self) -> None:
        if self.method not in ENGINE_METHODS:
            raise ValueError(
                f"method must be one of {', '.join(ENGINE_METHODS)}; got {self.method!r}"
            )
        check_score(self.method, self.score)
        if self.weighting is not None:
            if not isinstance(self.weighting, ScoreWeighting):
                raise ValueError(
                    f"weighting must be a ScoreWeighting; got {type(self.weighting).__name__}"
                )
            if self.method not in SCORE_FILTERS:
                raise ValueError(
                    f"method {self.method!r} does not filter by a score; weighting applies "
                    f"only to {', '.join(SCORE_FILTERS)}"
                )
            if self.theta is not None or self.keep_fraction is not None:
                raise ValueError(
                    f"method {self.method!r} with a weighting takes no theta or keep_fraction "
                    "(the weighting replaces the cut)"
                )
            return
        theta, q = check_filter_knob(
            self.method, self.theta, self.keep_fraction, default_theta=0.0
        )
        object.__setattr__(self, "theta", theta)
        object.__setattr__(self, "keep_fraction", q)

    @property
    def label(self) -> str:
        """Short human-readable label, e.g. ``teacher (θ=0)`` or ``teacher-split (q=30%)``."""
        extra = ", cosine" if self.score == "cosine" else ""
        if self.weighting is not None:
            return f"{self.method} (soft {self.weighting.label}{extra})"
        if self.theta is not None:
            return f"{self.method} (θ={self.theta:g}{extra})"
        if self.keep_fraction is not None:
            return f"{self.method} (q={100 * self.keep_fraction:g}%{extra})"
        return self.method
