r"""Compiled inner loop of the filtered exact sampler: the same draws as NumPy, fused.

:func:`linclip.data.exact.filtered_group_scatters` spends almost all of its time drawing the
projected coordinates :math:`v_i \sim N(0, I_k)` of the filtered pairs, scoring them and
summing them by cell. In NumPy that is several passes over each block of pairs, and NumPy's
normal generator alone costs about 15 ns per normal on the project's 2-core machines. This
module fuses the passes in one compiled loop (numba) that

* advances **the caller's SFC64 generator itself** (its four-word state is read, stepped in
  registers and written back), and draws each normal with **NumPy's own ziggurat** (NumPy's
  tables, as shipped with numba), so the stream of normals is NumPy's
  ``standard_normal`` stream bit for bit (``tests/test_exact_kernel.py``);
* scores each row as it is drawn and buffers it in its cell; every 64 rows a cell's sums
  are updated with dot products of contiguous columns (no BLAS call, so no BLAS threads to
  contend for the two cores).

Why not numba's own ``Generator.standard_normal``: it reaches the bit generator through a
function pointer and branches on the sign, and measured as slow as NumPy here (15 ns per
normal), against about 5 ns for the inlined generator (``benchmarks/README.md``).

Nothing here changes a law: for the same inputs and generator state the kernel and the NumPy
loop (``linclip.data.exact._cell_sums_numpy``, the reference, used when numba is not
installed or ``LINCLIP_NO_JIT=1``) give the same cells and the same sums up to rounding.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is optional: without it the NumPy loop runs (same draws, slower)
    import numba
    from numba.np.random import _constants as _zig
except ImportError:  # pragma: no cover - exercised by LINCLIP_NO_JIT in the tests
    numba = None  # type: ignore[assignment]

__all__ = ["available", "sfc64_state", "set_sfc64_state", "cell_sums"]

#: Kept rows buffered per cell before they are added to the cell's sums.
_BUFFER = 64


def available(rng: np.random.Generator) -> bool:
    """Whether the compiled loop can draw from ``rng`` (numba present, SFC64, not disabled)."""
    if numba is None or os.environ.get("LINCLIP_NO_JIT", "") not in ("", "0"):
        return False
    return isinstance(rng.bit_generator, np.random.SFC64)


def sfc64_state(rng: np.random.Generator) -> np.ndarray:
    """The four 64-bit words of an SFC64 generator's state (a copy)."""
    return np.array(rng.bit_generator.state["state"]["state"], dtype=np.uint64)


def set_sfc64_state(rng: np.random.Generator, words: np.ndarray) -> None:
    """Write the state words back; NumPy's buffered 32-bit half-word is kept as it was."""
    state = rng.bit_generator.state
    state["state"]["state"] = np.asarray(words, dtype=np.uint64)
    rng.bit_generator.state = state


if numba is not None:
    _U = numba.uint64
    _WI = np.ascontiguousarray(_zig.wi_double, dtype=np.float64)
    _KI = np.ascontiguousarray(_zig.ki_double, dtype=np.uint64)
    _FI = np.ascontiguousarray(_zig.fi_double, dtype=np.float64)
    _R = float(_zig.ziggurat_nor_r)
    _INV_R = float(_zig.ziggurat_nor_inv_r)
    _TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53, NumPy's next_double

    @numba.njit(inline="always")
    def _step(a, b, c, w):  # pragma: no cover - compiled
        # NumPy's sfc64_next: returns the output word and the new state.
        tmp = a + b + w
        return (
            tmp,
            b ^ (b >> _U(11)),
            c + (c << _U(3)),
            ((c << _U(24)) | (c >> _U(40))) + tmp,
            w + _U(1),
        )

    @numba.njit(inline="always")
    def _normal(a, b, c, w, WI, KI, FI):  # pragma: no cover - compiled
        # NumPy's random_standard_normal (ziggurat), with the sign applied without a branch:
        # a 50 % branch mispredicts half the time and was a third of the cost.
        while True:
            r, a, b, c, w = _step(a, b, c, w)
            idx = r & _U(0xFF)
            r >>= _U(8)
            rabs = (r >> _U(1)) & _U(0x000FFFFFFFFFFFFF)
            x = rabs * WI[idx] * np.float64(1 - 2 * np.int64(r & _U(1)))
            if rabs < KI[idx]:
                return x, a, b, c, w
            if idx == _U(0):
                while True:
                    u1, a, b, c, w = _step(a, b, c, w)
                    xx = -_INV_R * np.log1p(-((u1 >> _U(11)) * _TO_UNIT))
                    u2, a, b, c, w = _step(a, b, c, w)
                    yy = -np.log1p(-((u2 >> _U(11)) * _TO_UNIT))
                    if yy + yy > xx * xx:
                        if (rabs >> _U(8)) & _U(1):
                            return -(_R + xx), a, b, c, w
                        return _R + xx, a, b, c, w
            else:
                u, a, b, c, w = _step(a, b, c, w)
                if (FI[idx - _U(1)] - FI[idx]) * ((u >> _U(11)) * _TO_UNIT) + FI[idx] < np.exp(
                    -0.5 * x * x
                ):
                    return x, a, b, c, w

    @numba.njit(cache=True, nogil=True)
    def _fill(state, out, WI, KI, FI):  # pragma: no cover - compiled
        a, b, c, w = state[0], state[1], state[2], state[3]
        for i in range(out.shape[0]):
            x, a, b, c, w = _normal(a, b, c, w, WI, KI, FI)
            out[i] = x
        state[0], state[1], state[2], state[3] = a, b, c, w

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _flush(buf, cell, f, sum_v, sum_vv):  # pragma: no cover - compiled
        # One cell's buffered rows, stored column by column: each entry of the sums is a
        # dot product of two contiguous columns (vectorised; fastmath reorders only it).
        k = buf.shape[1]
        for j in range(k):
            col = buf[cell, j]
            s = 0.0
            for t in range(f):
                s += col[t]
            sum_v[cell, j] += s
            for i in range(j + 1):
                other = buf[cell, i]
                s = 0.0
                for t in range(f):
                    s += col[t] * other[t]
                sum_vv[cell, j, i] += s

    @numba.njit(cache=True, nogil=True)
    def _cell_sums(
        state, m, lam, proj, mu, seg, thetas, fold, need, limit, count, sum_v, sum_vv, rows
    ):  # pragma: no cover - compiled
        k = lam.shape[0]
        n_scores = thetas.shape[0]
        n_cells = count.shape[0]
        half = k // 2
        WI, KI, FI = _WI, _KI, _FI
        proj_t = np.ascontiguousarray(proj.T)
        buf = np.empty((n_cells, k, _BUFFER))
        fill = np.zeros(n_cells, dtype=np.int64)
        v = np.empty(k)
        a, b, c, w = state[0], state[1], state[2], state[3]
        for _ in range(m):
            first = 0.0
            for j in range(k):
                x, a, b, c, w = _normal(a, b, c, w, WI, KI, FI)
                v[j] = x
                first += lam[j] * (x * x)
            if fold and first < 0.0:
                # The x~ -> -x~ reflection, in the basis where it swaps the two halves.
                for j in range(half):
                    t = v[j]
                    v[j] = v[half + j]
                    v[half + j] = t
                first = -first
            cell = 1 if first > thetas[0] else 0
            for s in range(1, n_scores):
                lo, hi = seg[s, 0], seg[s, 1]
                if lo < 0:  # the first score matrix again
                    score = first
                else:
                    score = 0.0
                    for t in range(lo, hi):
                        z = 0.0
                        for j in range(k):
                            z += v[j] * proj_t[t, j]
                        score += mu[t] * (z * z)
                if score > thetas[s]:
                    cell |= 1 << s
            if not need[cell]:
                continue
            n_c = count[cell]
            if n_c < limit:
                for j in range(k):
                    rows[cell, n_c, j] = v[j]
            count[cell] = n_c + 1
            f = fill[cell]
            for j in range(k):
                buf[cell, j, f] = v[j]
            f += 1
            if f == _BUFFER:
                _flush(buf, cell, f, sum_v, sum_vv)
                f = 0
            fill[cell] = f
        for cell in range(n_cells):
            _flush(buf, cell, fill[cell], sum_v, sum_vv)
            # One triangle was summed; mirror it.
            for j in range(k):
                for i in range(j):
                    sum_vv[cell, i, j] = sum_vv[cell, j, i]
        state[0], state[1], state[2], state[3] = a, b, c, w


def fill_normals(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill the 1-d float64 array ``out`` with ``rng``'s next standard normals (tests)."""
    words = sfc64_state(rng)
    _fill(words, out, _WI, _KI, _FI)
    set_sfc64_state(rng, words)


def cell_sums(
    rng: np.random.Generator,
    m: int,
    lam: np.ndarray,
    proj: np.ndarray,
    mu: np.ndarray,
    seg: np.ndarray,
    thetas: np.ndarray,
    fold: bool,
    need: np.ndarray,
    limit: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``m`` rows and return each cell's count, sums, second moments and first rows.

    The contract is that of ``linclip.data.exact._cell_sums_numpy`` (same arguments, same
    results up to rounding); ``rng`` must pass :func:`available`.
    """
    k = lam.shape[0]
    n_cells = need.shape[0]
    count = np.zeros(n_cells, dtype=np.int64)
    sum_v = np.zeros((n_cells, k))
    sum_vv = np.zeros((n_cells, k, k))
    rows = np.zeros((n_cells, max(limit, 1), k))
    words = sfc64_state(rng)
    _cell_sums(
        words,
        int(m),
        np.ascontiguousarray(lam, dtype=np.float64),
        np.ascontiguousarray(proj, dtype=np.float64),
        np.ascontiguousarray(mu, dtype=np.float64),
        np.ascontiguousarray(seg, dtype=np.int64),
        np.ascontiguousarray(thetas, dtype=np.float64),
        bool(fold),
        np.ascontiguousarray(need, dtype=np.bool_),
        int(limit),
        count,
        sum_v,
        sum_vv,
        rows,
    )
    set_sfc64_state(rng, words)
    return count, sum_v, sum_vv, rows
