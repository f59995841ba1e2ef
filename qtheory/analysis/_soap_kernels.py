"""Compiled cell formulas of the SOAP engine (:mod:`qtheory.analysis.soap`).

:meth:`SOAPAnalysis._other <qtheory.analysis.soap.SOAPAnalysis._other>` sums, over the
x-cells of every (level, noise node) row, closed forms in the other job's size: at each
cell's midpoint it finds the new job's stopping age and the old job's runs of rank at most
r (``_structure``), and takes moments of affine functions of X over the cell. In numpy that
is a few dozen whole-array passes per cell and segment; here it is one loop over the rows
that does the same arithmetic, in the same order, on scalars (the values agree bit for bit
up to the sign of a zero; ``tests/test_soap_kernels.py`` compares the two paths).

It covers one branch with unbounded key range and no overhead segments (every class of
:class:`~qtheory.analysis.soap_branched.BranchedSOAP`, the catalogue's single-branch ranks
and user ranks of that form); the rest keeps the numpy path. The size law's partial
moments at the cell edges are looked up before the loop (vectorised, as the numpy path
does) and passed in.

``crossing_points`` serves every rank: the noise quadrature's split points where the cell
boundaries meet the size law's kinks or each other (``SOAPAnalysis._row_z_points``).

Layout of ``segp`` (segments x 6): the key coefficient and the constant of the segment's
start, end and value, in that order; ``slopes`` holds -1, 0 or +1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["crossing_points", "edge_sides", "kept_columns", "other_cells", "piece_sums",
           "root_columns", "sorted_edges", "tagged_sums", "tagged_terms"]


@njit(cache=True, error_model="numpy", inline="always")
def _at(cx, c0, x):
    # an affine function of the size at a finite x; a coefficient of 0 gives c0 itself (as
    # the numpy path's constant parts do)
    if cx == 0.0:
        return c0
    return cx * x + c0


@njit(cache=True, error_model="numpy", inline="always")
def _scaled(coef, m):
    if coef == 0.0:
        return 0.0
    if coef == 1.0:
        return m
    return coef * m


@njit(cache=True, error_model="numpy", inline="always")
def _poly(a, b, power, d0, d1, d2):
    """E[(a + b X)**power; cell] from the cell's moments d0, d1, d2 (a term whose moment
    is 0 counts 0 even where its coefficient overflowed)."""
    if power == 1:
        out = a * d0 + b * d1
        if np.isfinite(out):
            return out
        t0 = 0.0 if d0 == 0.0 else a * d0
        t1 = 0.0 if d1 == 0.0 else b * d1
        return t0 + t1
    out = (a * a) * d0 + (2.0 * a * b) * d1 + (b * b) * d2
    if np.isfinite(out):
        return out
    t0 = 0.0 if d0 == 0.0 else (a * a) * d0
    t1 = 0.0 if d1 == 0.0 else (2.0 * a * b) * d1
    t2 = 0.0 if d2 == 0.0 else (b * b) * d2
    return t0 + t1 + t2


@njit(cache=True, error_model="numpy", inline="always")
def _cell_midpoint(a, b, big):
    """The midpoint of the cell ``[a, b]`` as ``SOAPAnalysis._midpoint`` takes it (``big``:
    the support reaches past 1e307, where ``a + b`` could overflow or ``b`` be infinite)."""
    if not big:
        return 0.5 * (a + b)
    if np.isfinite(b):
        return 0.5 * a + 0.5 * b
    return min(2.0 * abs(a) + 1.0, 1.7976931348623157e308)


@njit(cache=True, error_model="numpy", inline="always")
def _row_segments(segp, mi, seg):
    """The segments' start, end and value at multiplier ``mi`` as affine functions of the
    size: ``seg`` (6 x segments) gets the coefficient and constant of each, in that order."""
    for j in range(segp.shape[0]):
        for q in range(3):
            seg[2 * q, j] = _scaled(segp[j, 2 * q], mi)
            seg[2 * q + 1, j] = segp[j, 2 * q + 1]


@njit(cache=True, error_model="numpy", inline="always")
def _delta(v, tot, k, c, i, ncol, end_lo, end_hi, la, lb):
    """E[X^k; cell c] on row i from the one-sided moments at its edges (the numpy path's
    ``_Cell.delta``)."""
    if c == 0:
        va = tot[k] if end_lo else 0.0
    else:
        va = v[c - 1, i]
    if c + 1 == ncol - 1:
        vb = tot[k] if end_hi else 0.0
    else:
        vb = v[c, i]
    if la:
        return (vb if lb else tot[k] - vb) - va
    return va - vb


@njit(cache=True, error_model="numpy", nogil=True)
def other_cells(r, m, edges, v0, v1, v2, tot, med, end_lo, end_hi, big, segp, slopes, has_init,
                init0, init1, tie):
    """N, O0, S at rows (r, m) of one branch without overhead.

    ``edges`` (columns x rows) are the cell edges; ``v0``, ``v1``, ``v2`` (inner columns x
    rows) the one-sided moments of orders 0, 1 and 2 at the inner edges (partial moments at
    edges at or below the median ``med``, tail moments above it), ``tot`` the full moments;
    ``end_lo``/``end_hi`` whether the outer columns' one-sided moment is the total; ``big``
    whether the support reaches past 1e307 (midpoints then avoid overflow)."""
    ncol, n = edges.shape
    J = slopes.size
    N = np.zeros(n)
    O0 = np.zeros(n)
    S = np.zeros(n)
    # per segment at one row: affine parts (coefficient, constant) of start, end, value
    seg = np.empty((6, J))
    Sx, S0, Ex, E0, Vx, V0 = seg[0], seg[1], seg[2], seg[3], seg[4], seg[5]
    # per segment at one cell: the structure (_structure)
    ge_valid = np.empty(J, np.bool_)
    ge_x = np.empty(J)
    ge_0 = np.empty(J)
    le_valid = np.empty(J, np.bool_)
    lo_x = np.empty(J)
    lo_0 = np.empty(J)
    hi_x = np.empty(J)
    hi_0 = np.empty(J)
    from_start = np.empty(J, np.bool_)
    to_end = np.empty(J, np.bool_)
    for i in range(n):
        ri = r[i]
        mi = m[i]
        _row_segments(segp, mi, seg)
        initx = init0 * mi
        for c in range(ncol - 1):
            a = edges[c, i]
            b = edges[c + 1, i]
            if not b > a:
                continue
            xm = _cell_midpoint(a, b, big)
            # ------------------------------------------------ structure at the midpoint
            first_v = 0.0
            for j in range(J):
                E_v = _at(Ex[j], E0[j], xm)
                V_v = _at(Vx[j], V0[j], xm)
                if j == 0:
                    first_v = V_v
                sl = slopes[j]
                if sl == 0:
                    ge_valid[j] = V_v >= ri
                    ge_x[j] = Sx[j]
                    ge_0[j] = S0[j]
                    le_valid[j] = V_v <= ri
                    lo_x[j] = Sx[j]
                    lo_0[j] = S0[j]
                    hi_x[j] = Ex[j]
                    hi_0[j] = E0[j]
                    from_start[j] = True
                    to_end[j] = True
                elif sl == 1:
                    # the crossing age S + r - V
                    cx = (Sx[j] + 0.0) - Vx[j]
                    c0 = (S0[j] + ri) - V0[j]
                    cross_v = _at(cx, c0, xm)
                    at_end = np.isfinite(E_v) and abs(cross_v - E_v) <= tie * (
                        abs(E_v) + abs(V_v) + abs(ri))
                    ge_valid[j] = (cross_v < E_v) or at_end
                    if V_v >= ri:
                        ge_x[j] = Sx[j]
                        ge_0[j] = S0[j]
                    else:
                        ge_x[j] = cx
                        ge_0[j] = c0
                    te = (E_v <= cross_v) or at_end
                    to_end[j] = te
                    le_valid[j] = V_v < ri
                    lo_x[j] = Sx[j]
                    lo_0[j] = S0[j]
                    if te:
                        hi_x[j] = Ex[j]
                        hi_0[j] = E0[j]
                    else:
                        hi_x[j] = cx
                        hi_0[j] = c0
                    from_start[j] = True
                else:
                    # the crossing age S + V - r
                    cx = (Sx[j] + Vx[j]) - 0.0
                    c0 = (S0[j] + V0[j]) - ri
                    ge_valid[j] = V_v >= ri
                    ge_x[j] = Sx[j]
                    ge_0[j] = S0[j]
                    fs = V_v <= ri
                    from_start[j] = fs
                    if fs:
                        lo_x[j] = Sx[j]
                        lo_0[j] = S0[j]
                    else:
                        lo_x[j] = cx
                        lo_0[j] = c0
                    le_valid[j] = _at(lo_x[j], lo_0[j], xm) < E_v
                    hi_x[j] = Ex[j]
                    hi_0[j] = E0[j]
                    to_end[j] = True
            # new jobs: the first age with rank >= r
            found = False
            c_x = 0.0
            c_0 = np.inf
            if has_init:
                init_v = initx * xm + init1
                if init_v >= ri:
                    c_x = 0.0
                    c_0 = 0.0
                    found = True
                rank0_le = init_v <= ri
            else:
                rank0_le = first_v <= ri
            for j in range(J):
                if ge_valid[j] and not found:
                    c_x = ge_x[j]
                    c_0 = ge_0[j]
                if ge_valid[j]:
                    found = True
            # the cell's moments
            la = edges[c, i] <= med
            lb = edges[c + 1, i] <= med
            d0 = _delta(v0, tot, 0, c, i, ncol, end_lo, end_hi, la, lb)
            d1 = _delta(v1, tot, 1, c, i, ncol, end_lo, end_hi, la, lb)
            d2 = _delta(v2, tot, 2, c, i, ncol, end_lo, end_hi, la, lb)
            xc = xm
            # the new job's time in service: min(X, c)
            if found and _at(c_x, c_0, xm) < xc:
                N[i] += _poly(c_0, c_x, 1, d0, d1, d2)
            else:
                N[i] += _poly(0.0, 1.0, 1, d0, d1, d2)
            # old jobs: maximal runs of rank <= r across contiguous segments
            run_x = 0.0
            run_0 = 0.0
            run_first = False
            for j in range(J):
                if j > 0:
                    cont_prev = le_valid[j - 1] and to_end[j - 1] and le_valid[j] \
                        and from_start[j]
                else:
                    cont_prev = False
                if le_valid[j] and not cont_prev:
                    run_x = lo_x[j]
                    run_0 = lo_0[j]
                    run_first = (j == 0) and from_start[j] and rank0_le
                if j + 1 < J:
                    cont = le_valid[j] and to_end[j] and le_valid[j + 1] \
                        and from_start[j + 1]
                else:
                    cont = False
                if not (le_valid[j] and not cont):
                    continue
                lo_v = _at(run_x, run_0, xm)
                hi_v = _at(hi_x[j], hi_0[j], xm)
                if xc > lo_v and xc < hi_v:
                    px = 1.0 - run_x
                    p0 = 0.0 - run_0
                elif xc >= hi_v:
                    px = hi_x[j] - run_x
                    p0 = hi_0[j] - run_0
                else:
                    px = 0.0
                    p0 = 0.0
                S[i] += _poly(p0, px, 2, d0, d1, d2)
                if run_first:
                    O0[i] += _poly(p0, px, 1, d0, d1, d2)
    return N, O0, S


@njit(cache=True, error_model="numpy", inline="always")
def _nan_max(a, b):
    # np.maximum: nan if either is nan
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@njit(cache=True, error_model="numpy", inline="always")
def _nan_min(a, b):
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@njit(cache=True, error_model="numpy", inline="always")
def _add_piece(pk, pv, npieces, kind, lox, lo0, hix, hi0, vx, v0):
    """Record a piece of the worst future rank: its kind (0 a level, 1 a ramp), its ages
    ``[lo, hi)`` and its level or ramp constant, each affine in the size; returns the count."""
    pk[npieces] = kind
    pv[npieces, 0] = lox
    pv[npieces, 1] = lo0
    pv[npieces, 2] = hix
    pv[npieces, 3] = hi0
    pv[npieces, 4] = vx
    pv[npieces, 5] = v0
    return npieces + 1


@njit(cache=True, error_model="numpy", inline="always")
def _emit(o_row, o_kind, o_f, count, row, kind, f0, f1, f2, f3):
    """Write a term of :func:`tagged_terms` at ``count`` (room is made per row); returns
    the new count."""
    o_row[count] = row
    o_kind[count] = kind
    o_f[0, count] = f0
    o_f[1, count] = f1
    o_f[2, count] = f2
    o_f[3, count] = f3
    return count + 1


@njit(cache=True, error_model="numpy", nogil=True)
def tagged_terms(r, m, edges, big, segp, slopes, has_init, init0, init1):
    """The terms of the tagged job's densities nu and mu at rows (r, m) of one branch
    without overhead (the numpy path's ``_tagged_pieces`` and ``_tagged_densities``).

    Returns ``(row, kind, f0, f1, f2, f3)``, one entry per term in the order the numpy
    path adds them (row by row; per row cell by cell, and within a cell nu's root first,
    then the worst future rank's pieces from the last segment back):

    * kind 0, a root of nu: (f0, f1) = (x, |slope|), the term ``f(x) / |slope|``;
    * kind 1, a root of a level piece of mu: (x, |slope|, length coefficient, length
      constant), the term ``f(x) / |slope| * (f2 x + f3)``;
    * kind 2, a ramp piece of mu: (f0, f1) = (p, q), the term ``P(p < X <= q)``.
    """
    ncol, n = edges.shape
    J = slopes.size
    # at most nu's root and two pieces a segment in a cell
    per_row = max(1, (ncol - 1) * (1 + 2 * J))
    cap = max(16, 2 * n, per_row)
    o_row = np.empty(cap, np.int64)
    o_kind = np.empty(cap, np.int8)
    o_f = np.empty((4, cap))
    count = 0
    seg = np.empty((6, J))
    # a cell's pieces: kind (0 level, 1 ramp), and a_lo, a_hi, level or alpha (affine each)
    pk = np.empty(4 * J, np.int64)
    pv = np.empty((4 * J, 6))
    for i in range(n):
        ri = r[i]
        mi = m[i]
        initx = init0 * mi
        if count + per_row > o_row.size:  # grow the outputs (rarely)
            grow = max(2 * o_row.size, count + per_row)
            t_row = np.empty(grow, np.int64)
            t_kind = np.empty(grow, np.int8)
            t_f = np.empty((4, grow))
            t_row[:count] = o_row[:count]
            t_kind[:count] = o_kind[:count]
            t_f[:, :count] = o_f[:, :count]
            o_row, o_kind, o_f = t_row, t_kind, t_f
        _row_segments(segp, mi, seg)
        for c in range(ncol - 1):
            a = edges[c, i]
            b = edges[c + 1, i]
            if not b > a:
                continue
            xm = _cell_midpoint(a, b, big)
            xc = xm
            # the worst future rank from age 0 (M), built from the last segment back; the
            # pieces are kept to be added after nu's root, in the numpy path's order
            Mx = 0.0
            M0 = -np.inf
            npieces = 0
            for jj in range(J):
                j = J - 1 - jj
                Sx, S0, Ex, E0, Vx, V0 = (seg[0, j], seg[1, j], seg[2, j], seg[3, j],
                                          seg[4, j], seg[5, j])
                active = _at(Sx, S0, xm) < xc
                if _at(Ex, E0, xm) < xc:
                    endx = Ex
                    end0 = E0
                else:
                    endx = 1.0
                    end0 = 0.0
                M_v = _at(Mx, M0, xm)
                sl = slopes[j]
                if sl == 0 or sl == 1:
                    if sl == 0:
                        tx = Vx
                        t0 = V0
                    else:
                        tx = Vx + (endx - Sx)
                        t0 = V0 + (end0 - S0)
                    if _at(tx, t0, xm) > M_v:
                        lx = tx
                        l0 = t0
                    else:
                        lx = Mx
                        l0 = M0
                    if active:
                        npieces = _add_piece(pk, pv, npieces, 0, Sx, S0, endx, end0,
                                             lx, l0)
                        Mx = lx
                        M0 = l0
                else:
                    V_v = _at(Vx, V0, xm)
                    below = V_v <= M_v
                    alx = Sx + Vx
                    al0 = S0 + V0
                    acx = alx - Mx
                    ac0 = al0 - M0
                    cut = (not below) and np.isfinite(M_v) and (
                        _at(acx, ac0, xm) < _at(endx, end0, xm))
                    if active:
                        if below:
                            npieces = _add_piece(pk, pv, npieces, 0, Sx, S0, endx, end0,
                                                 Mx, M0)
                        elif not cut:
                            npieces = _add_piece(pk, pv, npieces, 1, Sx, S0, endx, end0,
                                                 alx, al0)
                        else:
                            npieces = _add_piece(pk, pv, npieces, 1, Sx, S0, acx, ac0,
                                                 alx, al0)
                            npieces = _add_piece(pk, pv, npieces, 0, acx, ac0, endx, end0,
                                                 Mx, M0)
                        if not below:
                            Mx = Vx
                            M0 = V0
            Rx = Mx
            R0 = M0
            if has_init:
                if initx * xm + init1 > _at(Mx, M0, xm):
                    Rx = initx
                    R0 = init1
            # nu: the root of R(x) = r inside the cell
            if Rx != 0.0 and np.isfinite(R0):
                xs = (ri - R0) / Rx
                if xs > a and xs < b:
                    count = _emit(o_row, o_kind, o_f, count, i, 0, xs, abs(Rx), 0.0, 0.0)
            for p_ in range(npieces):
                lox = pv[p_, 0]
                lo0 = pv[p_, 1]
                hix = pv[p_, 2]
                hi0 = pv[p_, 3]
                lvx = pv[p_, 4]
                lv0 = pv[p_, 5]
                if pk[p_] == 0:
                    if lvx != 0.0 and np.isfinite(lv0):
                        xs = (ri - lv0) / lvx
                        if xs > a and xs < b:
                            count = _emit(o_row, o_kind, o_f, count, i, 1, xs, abs(lvx),
                                          hix - lox, hi0 - lo0)
                    continue
                # a ramp r = alpha - age on (a_lo, a_hi): sizes where
                # alpha - a_hi < r <= alpha - a_lo, an interval inside the cell
                p = a
                q = b
                for s in range(2):
                    if s == 0:
                        gx = lvx - hix
                        g0 = (lv0 - hi0) - ri
                    else:
                        gx = lvx - lox
                        g0 = (lv0 - lo0) - ri
                    if gx != 0.0 and np.isfinite(g0):
                        x0 = -g0 / gx
                    else:
                        x0 = np.nan
                    pos = gx > 0
                    neg_side = pos if s == 0 else not pos
                    const_ok = (g0 < 0) if s == 0 else (g0 >= 0)
                    flat = gx == 0
                    if not flat and not neg_side:
                        p = _nan_max(p, x0)
                    if not flat and neg_side:
                        q = _nan_min(q, x0)
                    if flat and not const_ok:
                        q = p
                if q > p:
                    count = _emit(o_row, o_kind, o_f, count, i, 2, p, q, 0.0, 0.0)
    return o_row[:count], o_kind[:count], o_f[:, :count]


@njit(cache=True, error_model="numpy")
def _pairwise_leaf(a, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``a[lo:lo + n]`` for ``n <= 128``: eight accumulators, then
    the rest in order (its reduction of a contiguous row, so that the sums here equal
    ``ndarray.sum`` to the last bit)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, error_model="numpy")
def _pairwise(a, lo, n):  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``a[lo:lo + n]``: blocks of at most 128
    (:func:`_pairwise_leaf`), a longer row split in two halves, the first a multiple of 8,
    and the halves' sums added. The recursion runs on an explicit stack (numba's cache does
    not take a recursive function)."""
    if n <= 128:
        return _pairwise_leaf(a, lo, n)
    s_lo = np.empty(64, np.int64)
    s_n = np.empty(64, np.int64)
    s_state = np.empty(64, np.int64)
    vals = np.empty(64)
    top = 0
    nv = 0
    s_lo[0] = lo
    s_n[0] = n
    s_state[0] = 0
    while top >= 0:
        cl = s_lo[top]
        cn = s_n[top]
        if cn <= 128:
            vals[nv] = _pairwise_leaf(a, cl, cn)
            nv += 1
            top -= 1
            continue
        n2 = cn // 2
        n2 -= n2 % 8
        st = s_state[top]
        if st == 0:
            s_state[top] = 1
            top += 1
            s_lo[top] = cl
            s_n[top] = n2
            s_state[top] = 0
        elif st == 1:
            s_state[top] = 2
            top += 1
            s_lo[top] = cl + n2
            s_n[top] = cn - n2
            s_state[top] = 0
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


@njit(cache=True, error_model="numpy", nogil=True)
def piece_sums(v, w, coarse, coarse4, floor):  # pragma: no cover - compiled
    """The noise quadrature's sums of one function on (pair x node) arrays ``v`` (values)
    and ``w`` (weights; nodes of weight 0 count 0), each pair one piece of a nested rule
    (``coarse``, ``coarse4``: its nodes of twice and four times the step): the sum and the
    error estimate of :func:`qtheory.analysis.quadrature.nested_sum`, with a floor under the
    latter (``SOAPAnalysis._z_sums``): ``floor`` 1 the plain difference ``d1`` to the sum of
    twice the step, 2 ``d1 min(1, d1/d2)`` (``d2`` the difference of the two coarser sums),
    0 none. The same numbers as NumPy's: the full rows summed pairwise as ``ndarray.sum``
    sums a contiguous row, the coarse sums in order (NumPy reduces the columns a mask picks
    from several rows one after the other)."""
    npairs, size = v.shape
    fine = np.empty(npairs)
    err = np.empty(npairs)
    prod = np.empty(size)
    absp = np.empty(size)
    sub = np.empty(size)
    eps8 = 8.0 * 2.220446049250313e-16
    for p in range(npairs):
        for j in range(size):
            x = v[p, j] * w[p, j]
            prod[j] = x if w[p, j] > 0 else 0.0
            absp[j] = abs(prod[j])
        f = _pairwise(prod, 0, size)
        # the coarse sums: in order over the selected nodes (several pairs), or pairwise
        # (one pair: NumPy's selection is then a contiguous row)
        h = 0.0
        q = 0.0
        if npairs > 1:
            first = True
            for j in range(size):
                if coarse[j]:
                    h = prod[j] if first else h + prod[j]
                    first = False
            first = True
            for j in range(size):
                if coarse4[j]:
                    q = prod[j] if first else q + prod[j]
                    first = False
        else:
            k = 0
            for j in range(size):
                if coarse[j]:
                    sub[k] = prod[j]
                    k += 1
            h = _pairwise(sub, 0, k)
            k = 0
            for j in range(size):
                if coarse4[j]:
                    sub[k] = prod[j]
                    k += 1
            q = _pairwise(sub, 0, k)
        half = 2.0 * h
        quarter = 4.0 * q
        d1 = abs(f - half)
        d2 = abs(half - quarter)
        if d2 > 0:
            ratio = d1 / d2
            if ratio != ratio:
                pass
            elif ratio > 1.0:
                ratio = 1.0
        else:
            ratio = 1.0 if d1 > 0 else 0.0
        e = _nan_max(d1 * ratio * ratio, eps8 * _pairwise(absp, 0, size))
        if floor == 1:
            e = _nan_max(e, d1)
        elif floor == 2:
            e = _nan_max(e, d1 * ratio)
        fine[p] = f
        err[p] = e
    return fine, err


@njit(cache=True, error_model="numpy", nogil=True)
def tagged_sums(n, rows, kind, f, density, prob):  # pragma: no cover - compiled
    """nu and mu at ``n`` rows from the terms of :func:`tagged_terms` (``rows``, ``kind``,
    ``f``), given the size law's density at the roots (``density``, one per term of kind 0
    or 1, in order) and the probabilities of the ramps (``prob``, one per term of kind 2):
    each term's value as the numpy path computes it, added in the terms' order (as
    ``np.bincount`` adds, from 0)."""
    nu = np.zeros(n)
    mu = np.zeros(n)
    ir = 0
    ip = 0
    for t in range(rows.size):
        k = kind[t]
        if k == 2:
            mu[rows[t]] += prob[ip]
            ip += 1
            continue
        v = density[ir] / f[1, t]
        ir += 1
        if k == 0:
            nu[rows[t]] += v
        else:
            mu[rows[t]] += v * (f[2, t] * f[0, t] + f[3, t])
    return nu, mu


@njit(cache=True, error_model="numpy", nogil=True)
def root_columns(r, m, table, lo, hi):  # pragma: no cover - compiled
    """The roots in x of the boundaries ``(a + b m) x + c0 + c1 r`` (rows of ``table``:
    a, b, c0, c1) at rows (r, m), clipped to the support ``[lo, hi]`` (no root: ``lo``), as
    ``SOAPAnalysis._roots`` and ``_edges`` compute them (boundaries x rows)."""
    K = table.shape[0]
    n = r.size
    cols = np.empty((K, n))
    for k in range(K):
        a = table[k, 0]
        b = table[k, 1]
        c0 = table[k, 2]
        c1 = table[k, 3]
        for i in range(n):
            if b != 0:
                cx = a + b * m[i]
                c = c0 + c1 * r[i] if c1 != 0 else c0
                root = -c / cx if cx != 0 else np.nan
            elif c1 != 0:
                root = -(c0 + c1 * r[i]) / a
            else:
                root = -c0 / a
            # np.fmin(np.fmax(root, lo), hi): NaN (no root) -> lo
            if not root >= lo:
                root = lo
            elif root > hi:
                root = hi
            cols[k, i] = root
    return cols


@njit(cache=True, error_model="numpy", nogil=True)
def kept_columns(cols, lo, hi):  # pragma: no cover - compiled
    """``soap._kept_columns`` on the columns of ``root_columns`` (boundaries x rows): the
    indices of those that can bound a cell of positive width (not at a support end in
    every row, not equal to an earlier kept one; NaN compares as numpy does)."""
    K, n = cols.shape
    keep = np.empty(K, np.int64)
    nk = 0
    for k in range(K):
        all_lo = True  # col.max(initial=lo) == lo
        all_hi = True  # col.min(initial=hi) == hi
        for i in range(n):
            v = cols[k, i]
            if not v <= lo:  # above lo, or NaN (np.max propagates it)
                all_lo = False
            if not v >= hi:
                all_hi = False
        if all_lo or all_hi:
            continue
        dup = False
        for t in range(nk):
            j = keep[t]
            same = True
            for i in range(n):
                if cols[k, i] != cols[j, i]:
                    same = False
                    break
            if same:
                dup = True
                break
        if not dup:
            keep[nk] = k
            nk += 1
    return keep[:nk]


@njit(cache=True, error_model="numpy", nogil=True)
def edge_sides(x, lo, hi, med):  # pragma: no cover - compiled
    """The side of each cell edge ``x`` (1-D) whose one-sided moment the SOAP engine takes
    (``soap._Moments``; the codes of ``SizeDistribution.moments012_sides``): inside the
    support ``(lo, hi)``, 0 (the partial moment) at or below the median ``med``, 1 (the tail
    moment) above it; at or beyond a support end, 3 (the total) where that side's moment is
    the whole law's (the partial moment at ``hi`` and above, the tail moment at ``lo`` and
    below), else 2 (zero); NaN 2."""
    n = x.size
    out = np.empty(n, np.int8)
    for i in range(n):
        v = x[i]
        low = v <= med
        if v > lo and v < hi:
            out[i] = 0 if low else 1
        elif (v <= lo and not low) or (v >= hi and low):
            out[i] = 3
        else:
            out[i] = 2
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def sorted_edges(cols, keep, lo, hi):  # pragma: no cover - compiled
    """Cell edges (columns x rows): the support's ends and the kept root columns ``keep``
    (indices into ``cols``), sorted per row."""
    nk = keep.size
    n = cols.shape[1]
    out = np.empty((nk + 2, n))
    buf = np.empty(nk)
    for i in range(n):
        for t in range(nk):
            v = cols[keep[t], i]
            # insertion sort (a few columns)
            s = t
            while s > 0 and buf[s - 1] > v:
                buf[s] = buf[s - 1]
                s -= 1
            buf[s] = v
        out[0, i] = lo
        for t in range(nk):
            out[t + 1, i] = buf[t]
        out[nk + 1, i] = hi
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _key_ok(key, klo, khi):
    # SOAPAnalysis._key_ok: inside [klo, khi] up to rounding (NaN: no)
    tol = 1e-9 * max(1.0, abs(key))
    return key >= klo - tol and key <= khi + tol


@njit(cache=True, error_model="numpy", nogil=True)
def crossing_points(r, fin, a, b, c0, c1, klo, khi, xlo, xhi, kinks, lo, hi, zlo, zhi):
    """The noise values z where the cell boundaries ``(a + b z) x + c0 + c1 r = 0`` of one
    table meet a kink of the size law (rows x boundaries * kinks) and where two of them
    cross inside the support (rows x pairs, in ``np.triu_indices`` order), NaN where there
    is none: ``SOAPAnalysis._row_z_points``' arithmetic, in the same order, on scalars
    (``r`` holds 0 at the rows ``fin`` marks infinite; a boundary that moves with r does not
    exist there)."""
    n = r.size
    B = a.size
    K = kinks.size
    zk = np.empty((n, B * K))
    P = B * (B - 1) // 2
    zp = np.empty((n, P))
    c = np.empty(B)
    live = np.empty(B, dtype=np.bool_)
    for i in range(n):
        for j in range(B):
            c[j] = c0[j] + c1[j] * r[i]
            live[j] = fin[i] or c1[j] == 0.0
        for j in range(B):
            for k in range(K):
                z = (-c[j] / kinks[k] - a[j]) / b[j]
                ok = (b[j] != 0.0 and live[j] and _key_ok(z * kinks[k], klo[j], khi[j])
                      and _key_ok(kinks[k], xlo[j], xhi[j]))
                zk[i, j * K + k] = z if ok else np.nan
        t = 0
        for p in range(B):
            for q in range(p + 1, B):
                num = c[q] * a[p] - c[p] * a[q]
                den = c[p] * b[q] - c[q] * b[p]
                z = num / den
                x = -c[p] / (a[p] + b[p] * z)
                key = z * x
                ok = (den != 0.0 and z > zlo and z < zhi and x > lo and x < hi and live[p]
                      and live[q] and _key_ok(key, klo[p], khi[p])
                      and _key_ok(key, klo[q], khi[q]) and _key_ok(x, xlo[p], xhi[p])
                      and _key_ok(x, xlo[q], xhi[q]))
                zp[i, t] = z if ok else np.nan
                t += 1
    return zk, zp
