"""Shared fixtures and settings for the linclip unit tests.

* matplotlib runs on the non-interactive Agg backend (set before pyplot is imported anywhere).
* hypothesis uses a modest number of examples and no deadline (the machine is shared).
* ``small_model`` and friends are tiny models whose samples take milliseconds.
"""

from __future__ import annotations

import os

# One BLAS thread: the tiny matrix products here gain nothing from threads, and on a shared
# 2-core machine oversubscribed OpenBLAS threads made the suite about twice as slow. This only
# works if numpy is not imported yet (pytest loads this file before any test module).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from linclip.model import BimodalModel  # noqa: E402

settings.register_profile(
    "linclip",
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: a red test stays red
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("linclip")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, fixed-seed generator for each test."""
    return np.random.default_rng(20251207)


@pytest.fixture
def small_model() -> BimodalModel:
    """d = 6, d~ = 5, r = 2 with noticeable noise and a corrupted minority."""
    return BimodalModel(d=6, d_t=5, r=2, gamma=4.0, gamma_t=8.0, eta=0.6, basis_seed=3)


@pytest.fixture
def paper_model() -> BimodalModel:
    """The paper's Figure 3a geometry (d = 10, d~ = 8, r = 4, gamma = gamma~ = 1e4)."""
    return BimodalModel(d=10, d_t=8, r=4, gamma=1e4, gamma_t=1e4, eta=1.0, basis_seed=0)


def mixture_entry_se(components: list[tuple[float, np.ndarray]], n: int) -> np.ndarray:
    r"""Standard error of each entry of the second-moment matrix :math:`\frac1n\sum w w^\top`.

    For a zero-mean Gaussian vector with covariance K, :math:`E[w_i^2 w_j^2] = K_{ii}K_{jj} +
    2K_{ij}^2` (Isserlis). For a mixture with weights :math:`\pi_k` the fourth moment is the
    weighted sum, so
    :math:`\operatorname{Var}(w_iw_j) = \sum_k\pi_k(K^k_{ii}K^k_{jj}+2(K^k_{ij})^2)
    - (\sum_k\pi_k K^k_{ij})^2` and the mean of ``n`` independent copies has standard error
    :math:`\sqrt{\operatorname{Var}/n}`.
    """
    fourth = sum(w * (np.outer(np.diag(K), np.diag(K)) + 2 * K**2) for w, K in components)
    second = sum(w * K for w, K in components)
    return np.sqrt((fourth - second**2) / n)
