"""Data: the bimodal model, samples of pairs, and the sources of sufficient statistics.

* :mod:`linclip.data.model` — :class:`~linclip.data.model.BimodalModel` (Assumptions 1–2),
  :class:`~linclip.data.model.PairSample`,
  :class:`~linclip.data.model.StreamingSample`;
* :mod:`linclip.data.sources` — the engine's sources: :class:`~linclip.data.sources.PairsSource` (generated pairs, the
  reference) and the statistics they return;
* :mod:`linclip.data.exact` — an exact O(1)-in-n sampler of the unfiltered cross-covariance.
"""

from .._lazy import lazy_getattr
from .model import BimodalModel, PairSample, StreamingSample, random_orthonormal

__all__ = [
    "BimodalModel",
    "PairSample",
    "StreamingSample",
    "random_orthonormal",
    "sample_cross_covariance",
]

__getattr__ = lazy_getattr(__name__, {"sample_cross_covariance": ".exact"})
