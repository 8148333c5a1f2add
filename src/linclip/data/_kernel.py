r"""Compiled inner loop of the filtered exact sampler: the same draws as NumPy, fused.

:func:`linclip.data.exact.filtered_group_scatters` spends almost all of its time drawing the
projected coordinates :math:`v_i \sim N(0, I_k)` of the filtered pairs, scoring them and
summing them by cell. NumPy's normal generator alone costs about 14 ns per normal on the
project's 2-core machines, and NumPy needs several passes per block of pairs. This module
does the work in one compiled function (numba) that

* advances **the caller's SFC64 generator itself** (its four-word state is read, stepped in
  registers and written back), and draws each normal with **NumPy's own ziggurat** (NumPy's
  tables, as shipped with numba; the fast path inlined, the rare wedge and tail out of line),
  so the stream of normals is NumPy's ``standard_normal`` stream bit for bit
  (``tests/test_exact_kernel.py``);
* works block by block (:data:`CHUNK` rows): the normals fill the block coordinate by
  coordinate, as in the NumPy loop (``linclip.data.exact._chunk_normals``), then the scores,
  the fold's reflection and the cells are loops over the block's rows that the compiler
  vectorises, and the block's sums are dot products of contiguous columns, masked (one cell
  needed) or gathered per cell (several), two columns against four at a time (no BLAS call,
  so no BLAS threads to contend for the two cores).

Why not numba's own ``Generator.standard_normal``: it reaches the bit generator through a
function pointer and branches on the sign, and measured as slow as NumPy here (15 ns per
normal), against about 3 ns for the inlined generator (``benchmarks/README.md``).

Nothing here changes a law: for the same inputs and generator state the kernel and the NumPy
loop (``linclip.data.exact._cell_sums_numpy``, the reference, used when numba is not
installed or ``LINCLIP_NO_JIT=1``) give the same cells and the same sums up to rounding.
"""

from __future__ import annotations

import os

import numpy as np

from .exact import _CHUNK

try:  # numba is optional: without it the NumPy loop runs (same draws, slower)
    import numba
    from numba.np.random import _constants as _zig
except ImportError:  # pragma: no cover - exercised by LINCLIP_NO_JIT in the tests
    numba = None  # type: ignore[assignment]

__all__ = ["available", "sfc64_state", "set_sfc64_state", "cell_sums"]

#: Rows drawn, scored and summed per block (the NumPy loop's chunk: the same draws).
CHUNK = _CHUNK


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

    #: NumPy's layer widths with the sign folded in: entry idx | (sign << 8).
    _WS = np.ascontiguousarray(np.concatenate([_WI, -_WI]))

    @numba.njit(inline="always")
    def _normal(a, b, c, w, KI, WS, WI, FI):  # pragma: no cover - compiled
        # NumPy's random_standard_normal (ziggurat). Its fast path (99 % of draws) is inlined
        # and free of branches on the sign: the sign picks the table entry (a 50 % branch
        # mispredicts half the time). x * -w rounds as -(x * w), so the value is NumPy's.
        r, a, b, c, w = _step(a, b, c, w)
        idx = r & _U(0xFF)
        r >>= _U(8)
        rabs = (r >> _U(1)) & _U(0x000FFFFFFFFFFFFF)
        x = np.int64(rabs) * WS[idx | ((r & _U(1)) << _U(8))]
        if rabs >= KI[idx]:
            x, a, b, c, w = _rare(idx, rabs, x, a, b, c, w, KI, WS, WI, FI)
        return x, a, b, c, w

    @numba.njit(inline="never", nogil=True)
    def _rare(idx, rabs, x, a, b, c, w, KI, WS, WI, FI):  # pragma: no cover - compiled
        # The rest of NumPy's ziggurat, out of line so that the fast path stays small: the
        # tail or the wedge test of the rejected draw, then fresh draws until one is accepted.
        while True:
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
            r, a, b, c, w = _step(a, b, c, w)
            idx = r & _U(0xFF)
            r >>= _U(8)
            rabs = (r >> _U(1)) & _U(0x000FFFFFFFFFFFFF)
            x = np.int64(rabs) * WS[idx | ((r & _U(1)) << _U(8))]
            if rabs < KI[idx]:
                return x, a, b, c, w

    @numba.njit(cache=True, nogil=True)
    def _fill(state, out, KI, WS, WI, FI):  # pragma: no cover - compiled
        a, b, c, w = state[0], state[1], state[2], state[3]
        for i in range(out.shape[0]):
            x, a, b, c, w = _normal(a, b, c, w, KI, WS, WI, FI)
            out[i] = x
        state[0], state[1], state[2], state[3] = a, b, c, w

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _sums(cols, f, mask, masked, sum_v, sum_vv, cell):  # pragma: no cover - compiled
        # The sums of a block of rows stored column by column (``cols[j, :f]``; rows k and
        # beyond, up to a multiple of 4, are zero). Entries are dot products of contiguous
        # columns, two columns against four at a time: six loads feed eight products, and
        # the loop vectorises (fastmath reorders only these sums). With ``mask`` (1.0 for the
        # cell's rows, 0.0 for the others) the left columns are masked first: x * 0.0 and
        # s + 0.0 are exact, so these are the cell's sums, without a branch on each row.
        k = sum_v.shape[1]
        left = cols
        if mask is not None:
            for j in range(k):
                col = cols[j]
                mcol = masked[j]
                for t in range(f):
                    mcol[t] = mask[t] * col[t]
            left = masked
        for j in range(k):
            col = left[j]
            s = 0.0
            for t in range(f):
                s += col[t]
            sum_v[cell, j] += s
        for j0 in range(0, k, 2):
            a0 = left[j0]
            a1 = left[j0 + 1]
            for i0 in range(0, j0 + 2, 4):
                b0 = cols[i0]
                b1 = cols[i0 + 1]
                b2 = cols[i0 + 2]
                b3 = cols[i0 + 3]
                s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
                for t in range(f):
                    x0 = a0[t]
                    x1 = a1[t]
                    y0 = b0[t]
                    y1 = b1[t]
                    y2 = b2[t]
                    y3 = b3[t]
                    s00 += x0 * y0
                    s01 += x0 * y1
                    s02 += x0 * y2
                    s03 += x0 * y3
                    s10 += x1 * y0
                    s11 += x1 * y1
                    s12 += x1 * y2
                    s13 += x1 * y3
                block = (s00, s01, s02, s03, s10, s11, s12, s13)
                for q in range(8):
                    j = j0 + q // 4
                    i = i0 + q % 4
                    if i <= j < k:
                        sum_vv[cell, j, i] += block[q]

    @numba.njit(cache=True, nogil=True)
    def _keep_rows(cols, f, cell, cc, count, limit, rows):  # pragma: no cover - compiled
        # The first ``limit`` rows of cell ``cc`` are kept as rows (for its residual step).
        have = count[cc]
        t = 0
        while have < limit and t < f:
            if cell[t] == cc:
                for j in range(rows.shape[2]):
                    rows[cc, have, j] = cols[j, t]
                have += 1
            t += 1

    @numba.njit(cache=True, nogil=True)
    def _cell_sums(
        state, m, lam, proj, mu, seg, thetas, fold, need, limit, count, sum_v, sum_vv, rows
    ):  # pragma: no cover - compiled
        # Block by block: draw the rows, then score, fold and sum them with loops over the
        # block's rows, which the compiler vectorises. Only the draws branch on each row.
        k = lam.shape[0]
        n_scores = thetas.shape[0]
        n_cells = count.shape[0]
        half = k // 2
        KI, WS, WI, FI = _KI, _WS, _WI, _FI
        B = CHUNK
        kp = -(-k // 4) * 4  # zero rows pad the columns to a multiple of 4 (see _sums)
        buf = np.zeros((kp, B))  # column j holds coordinate j of the block's rows
        first = np.empty(B)
        score = np.empty(B)
        z = np.empty(B)
        cell = np.empty(B, dtype=np.int64)
        mask = np.empty(B)
        masked = np.zeros((kp, B))
        n_need = 0
        only = 0
        for cc in range(n_cells):
            if need[cc]:
                n_need += 1
                only = cc
        # With several cells to sum, rows are gathered into a buffer per cell (each row is
        # summed once); with one, masked sums of the block cost less than the gathering.
        gathered = np.zeros((n_cells if n_need > 1 else 0, kp, B))
        fill = np.zeros(n_cells, dtype=np.int64)
        a, b, c, w = state[0], state[1], state[2], state[3]
        done = 0
        while done < m:
            nb = min(B, m - done)
            done += nb
            for j in range(k):  # coordinate by coordinate: contiguous stores
                col = buf[j]
                for t in range(nb):
                    x, a, b, c, w = _normal(a, b, c, w, KI, WS, WI, FI)
                    col[t] = x
            first[:nb] = 0.0
            for j in range(k):
                lj = lam[j]
                col = buf[j]
                for t in range(nb):
                    first[t] += lj * (col[t] * col[t])
            if fold:
                # The x~ -> -x~ reflection, in the basis where it swaps the two halves.
                for j in range(half):
                    lo = buf[j]
                    hi = buf[half + j]
                    for t in range(nb):
                        neg = first[t] < 0.0
                        x, y = lo[t], hi[t]
                        lo[t] = y if neg else x
                        hi[t] = x if neg else y
                for t in range(nb):
                    f = first[t]
                    first[t] = -f if f < 0.0 else f
            th = thetas[0]
            for t in range(nb):
                cell[t] = 1 if first[t] > th else 0
            for s in range(1, n_scores):
                lo_s, hi_s = seg[s, 0], seg[s, 1]
                th = thetas[s]
                if lo_s < 0:  # the first score matrix again
                    for t in range(nb):
                        cell[t] |= (1 if first[t] > th else 0) << s
                    continue
                score[:nb] = 0.0
                for o in range(lo_s, hi_s):
                    z[:nb] = 0.0
                    for j in range(k):
                        p = proj[j, o]
                        col = buf[j]
                        for t in range(nb):
                            z[t] += col[t] * p
                    mo = mu[o]
                    for t in range(nb):
                        score[t] += mo * (z[t] * z[t])
                for t in range(nb):
                    cell[t] |= (1 if score[t] > th else 0) << s
            c0 = cell[0]
            uniform = True
            for t in range(1, nb):
                if cell[t] != c0:
                    uniform = False
                    break
            if uniform:  # the common case at theta = 0: a block of kept rows
                if need[c0]:
                    _keep_rows(buf, nb, cell, c0, count, limit, rows)
                    count[c0] += nb
                    _sums(buf, nb, None, masked, sum_v, sum_vv, c0)
            elif n_need == 1:
                n_in = 0
                for t in range(nb):
                    hit = cell[t] == only
                    mask[t] = 1.0 if hit else 0.0
                    n_in += 1 if hit else 0
                if n_in > 0:
                    _keep_rows(buf, nb, cell, only, count, limit, rows)
                    count[only] += n_in
                    _sums(buf, nb, mask, masked, sum_v, sum_vv, only)
            else:
                for cc in range(n_cells):
                    if need[cc]:
                        _keep_rows(buf, nb, cell, cc, count, limit, rows)
                for t in range(nb):
                    cc = cell[t]
                    if not need[cc]:
                        continue
                    count[cc] += 1
                    f = fill[cc]
                    for j in range(k):
                        gathered[cc, j, f] = buf[j, t]
                    f += 1
                    if f == B:
                        _sums(gathered[cc], f, None, masked, sum_v, sum_vv, cc)
                        f = 0
                    fill[cc] = f
        for cc in range(n_cells):
            if fill[cc] > 0:
                _sums(gathered[cc], fill[cc], None, masked, sum_v, sum_vv, cc)
            # One triangle was summed; mirror it.
            for j in range(k):
                for i in range(j):
                    sum_vv[cc, i, j] = sum_vv[cc, j, i]
        state[0], state[1], state[2], state[3] = a, b, c, w


def fill_normals(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill the 1-d float64 array ``out`` with ``rng``'s next standard normals (tests)."""
    words = sfc64_state(rng)
    _fill(words, out, _KI, _WS, _WI, _FI)
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
