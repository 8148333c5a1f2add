"""Data: the bimodal model, samples of pairs, and the sources of sufficient statistics.

* :mod:`linclip.data.model` — :class:`~linclip.data.model.BimodalModel` (Assumptions 1–2),
  :class:`~linclip.data.model.PairSample`,
  :class:`~linclip.data.model.StreamingSample`;
* :mod:`linclip.data.sources` — the engine's sources: :class:`~linclip.data.sources.PairsSource` (generated pairs, the
  reference) and the statistics they return;
* :mod:`linclip.data.exact` — exact samplers of the sufficient statistics:
  :class:`~linclip.data.exact.ExactSource` (the engine's second source, ``sampler="exact"``)
  and the O(1)-in-n sampler of the unfiltered cross-covariance.
"""

from .._lazy import lazy_getattr
from .model import BimodalModel, PairSample, StreamingSample, random_orthonormal

__all__ = [
    "BimodalModel",
    "PairSample",
    "StreamingSample",
    "random_orthonormal",
    "sample_cross_covariance",
    "ExactSource",
    "SAMPLERS",
]

__getattr__ = lazy_getattr(
    __name__, {"sample_cross_covariance": ".exact", "ExactSource": ".exact", "SAMPLERS": ".exact"}
)
