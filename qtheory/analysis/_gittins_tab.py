"""Compiled ``J(a, b)`` of the Gittins rank for a tabulated posterior law.

:meth:`qtheory.analysis.gittins._Law.interior` minimises

    J(a, b) = int_a^b P(X > t) dt / P(a < X <= b)

over a grid of a few hundred quanta ``b`` for every age ``a``, then refines the least ones by
multi-section. For a law given by Chebyshev tables
(:class:`qtheory.distributions.posterior.PredictionBucket` and the point posterior) the
quantities at ``b`` are compiled lookups already
(:func:`qtheory.distributions._panelcheb.tails_lookup`), but each evaluation of ``J`` was still
about forty NumPy array operations (the two sides of the median, the narrow windows integrated
by Gauss-Legendre, the windows next to a finite end of the support), which made it most of the
time of a bucket law's rank. :func:`j_tabulated` evaluates ``J`` at every pair ``(a, b)`` in
one compiled pass, with the same arithmetic as ``_Law.at`` and ``_Law._J``, point by point
(agreement to a few ulps: only the order of the Gauss-Legendre sums differs).

A point whose evaluation needs a value the tables do not hold (outside ``[t_min, t_max)`` or on
a panel without a table) is flagged; the caller computes it on the exact path.

:func:`section_tabulated` refines the least quanta: Brent's minimisation (golden section with
parabolic steps; R. P. Brent, *Algorithms for Minimization without Derivatives*, 1973, ch. 5)
of ``J(a, a + exp(u))`` over each bracket in ``u``, to ``1e-9`` in ``u``, where ``J`` is flat to
second order, so that the least value is exact to rounding. It takes about 15 evaluations of
``J`` a bracket where the NumPy multi-section of ``_Law._section`` takes 46.

:func:`interior_tabulated` is the whole of ``_Law.interior`` for such a law in one compiled
call, in the NumPy form's steps, each over all ages at once: the grids of quanta, ``J`` at
their distinct quanta (one :func:`j_tabulated` call), the choice of the least local minima,
their brackets cut at the breakpoints, Brent's search on all of them (one
:func:`section_tabulated` call), then the quanta ending at the breakpoints. The NumPy form
spent about a third of its time on array bookkeeping between its compiled calls (some 60
array operations a call, 65 calls a GittinsBuckets value of eight quantiles): 60 -> 40 ms
over the 1871 ages of its nine bucket laws, the least values the same but for 1 ulp at 3 of
12665 ages of 30 laws (``tests/test_gittins_tab.py``). A form that went age by age, with one
``J`` function inlined at each of its call sites, was as fast but took 4 minutes to compile.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..distributions._panelcheb import _at, _panel_of, _panel_u, _value

__all__ = ["interior_tabulated", "j_tabulated", "section_tabulated"]


@njit(cache=True, error_model="numpy", inline="always")
def _tails(x, j, upper, ta, tb, c0, m0, n0, c1, m1, n1, c2, m2, n2, c3, m3, n3, lo, hi, tmin,
           tmax, mass, mean):  # pragma: no cover - compiled
    """``(sf, cdf, E[X; X <= x], E[X; X > x], ok, j)`` at one point, as
    :func:`~qtheory.distributions._panelcheb.tails_lookup` gives them, with ``j`` the panel
    (the previous point's on entry, tried first). Only the tables that ``J`` uses are summed:
    ``sf`` and the tail moment for an age above the median (``upper``), ``sf``, ``cdf`` and
    the partial moment below it (the others are returned as 0); the Clenshaw recurrences of
    the tables run side by side."""
    if np.isnan(x):
        return np.nan, np.nan, np.nan, np.nan, True, j
    if not x > lo:
        return 1.0, 0.0, 0.0, mean, True, j
    if not x < hi:
        return 0.0, 1.0, mean, 0.0, True, j
    if not (x >= tmin and x < tmax):
        return np.nan, np.nan, np.nan, np.nan, False, j
    j = _panel_of(x, ta, j)
    m = c0.shape[1]
    aj = ta[j]
    bj = tb[j]
    u = _panel_u(x, aj, bj)
    u2 = 2.0 * u
    p0 = c0[j, m - 2]
    q0 = c0[j, m - 1]
    if upper:
        p3 = c3[j, m - 2]
        q3 = c3[j, m - 1]
        for k in range(3, m + 1):
            t0 = p0
            p0 = c0[j, m - k] - q0
            q0 = t0 + q0 * u2
            t3 = p3
            p3 = c3[j, m - k] - q3
            q3 = t3 + q3 * u2
        v0 = _value(m0[j], n0[j], p0 + q0 * u, x, aj, bj)
        v3 = _value(m3[j], n3[j], p3 + q3 * u, x, aj, bj)
        if np.isnan(v0) or np.isnan(v3):
            return np.nan, np.nan, np.nan, np.nan, False, j
        return min(max(v0 / mass, 0.0), 1.0), 0.0, 0.0, min(v3 / mass, mean), True, j
    p1 = c1[j, m - 2]
    q1 = c1[j, m - 1]
    p2 = c2[j, m - 2]
    q2 = c2[j, m - 1]
    for k in range(3, m + 1):
        t0 = p0
        p0 = c0[j, m - k] - q0
        q0 = t0 + q0 * u2
        t1 = p1
        p1 = c1[j, m - k] - q1
        q1 = t1 + q1 * u2
        t2 = p2
        p2 = c2[j, m - k] - q2
        q2 = t2 + q2 * u2
    v0 = _value(m0[j], n0[j], p0 + q0 * u, x, aj, bj)
    v1 = _value(m1[j], n1[j], p1 + q1 * u, x, aj, bj)
    v2 = _value(m2[j], n2[j], p2 + q2 * u, x, aj, bj)
    if np.isnan(v0) or np.isnan(v1) or np.isnan(v2):
        return np.nan, np.nan, np.nan, np.nan, False, j
    return (min(max(v0 / mass, 0.0), 1.0), min(max(v1 / mass, 0.0), 1.0),
            min(v2 / mass, mean), 0.0, True, j)


@njit(cache=True, error_model="numpy", inline="always")
def _dens(x, da, db, dc, dm, dn, lo, hi, tmin, tmax, mass):  # pragma: no cover - compiled
    """``(f(x), ok)`` as :func:`~qtheory.distributions._panelcheb.density_lookup` gives it,
    and 0 outside the support ``[lo, hi]`` (where the closed form is 0 too)."""
    if np.isnan(x):
        return np.nan, True
    if x < lo or x > hi:
        return 0.0, True
    if x >= tmin and x < tmax:
        v = _at(x, _panel_of(x, da, 0), da, db, dc, dm, dn)
        if not np.isnan(v):
            return v / mass, True
    return np.nan, False


@njit(cache=True, error_model="numpy", nogil=True)
def j_tabulated(a, e0, e1, e2, e3, e4, b, ta, tb, c0, m0, n0, c1, m1, n1, c2, m2, n2, c3, m3,
                n3, lo, hi, tmin, tmax, mass, mean, da, db, dc, dm, dn, med, m1st, law_hi,
                z_end, bps, bp_loc, gx, gw, g8x, g8w, g4x, g4w, tiny_window):  # pragma: no cover
    """``J(a_i, b_i)`` for the pairs of the 1-D arrays ``a``, ``b``, given the quantities
    ``e0..e4`` at each ``a_i`` (``_Law._ends``: sf, cdf, E[min(X, a)], E[(X - a)^+] and the
    local scale), the law's tables (tails: edges ``ta``, ``tb`` and coefficients, modes and
    anchors of the tail of order 0, the partial of order 0, the partial of order 1, the tail
    of order 1; density: ``da .. dn``), its support ``(lo, hi)`` and table range
    ``[tmin, tmax)``, mass and mean, and the ``_Law``'s median ``med``, mean ``m1st``,
    upper end ``law_hi``, last breakpoint ``z_end`` below it, breakpoints ``bps`` with local
    scales ``bp_loc``, the 16-, 8- and 4-point Gauss-Legendre rules and ``_TINY_WINDOW``.
    Returns ``J`` and a mask of the points that need the exact path (their ``J`` is NaN)."""
    n = a.size
    out = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    ng = gx.size
    finite_hi = np.isfinite(law_hi)
    jt = 0
    for i in range(n):
        ai = a[i]
        bi = b[i]
        # the quantities at b (_Law.at)
        upper = ai >= med
        sf, cdf, pm, tm, ok, jt = _tails(bi, jt, upper, ta, tb, c0, m0, n0, c1, m1, n1, c2, m2,
                                         n2, c3, m3, n3, lo, hi, tmin, tmax, mass, mean)
        if not ok:
            need[i] = True
            out[i] = np.nan
            continue
        zoned = False
        rz = 0.0
        if finite_hi:
            w = law_hi - bi
            if bi > z_end and w > 0 and w <= 0.125 * (bi - z_end):
                # _Law._end_tails: two 16-point halves of [b, hi], checked by one rule
                q = 0.25 * w
                s2 = 0.0
                r2 = 0.0
                for half in range(2):
                    mid = bi + (2.0 * half + 1.0) * q
                    for k in range(ng):
                        f, okf = _dens(mid + q * gx[k], da, db, dc, dm, dn, lo, hi, tmin,
                                       tmax, mass)
                        if not okf:
                            ok = False
                        s2 += gw[k] * f
                        r2 += gw[k] * ((2.0 * half + 1.0 + gx[k]) * q) * f
                h = 0.5 * w
                s1 = 0.0
                r1 = 0.0
                for k in range(ng):
                    f, okf = _dens((bi + h) + h * gx[k], da, db, dc, dm, dn, lo, hi, tmin,
                                       tmax, mass)
                    if not okf:
                        ok = False
                    s1 += gw[k] * f
                    r1 += gw[k] * (h * (1.0 + gx[k])) * f
                if not ok:
                    need[i] = True
                    out[i] = np.nan
                    continue
                s2 *= q
                r2 *= q
                s1 *= h
                r1 *= h
                if (abs(s1 - s2) <= 1e-13 * s2 and abs(r1 - r2) <= 1e-13 * r2
                        and np.isfinite(s2) and np.isfinite(r2)):
                    sf = s2
                    rz = r2
                    zoned = True
        emin = pm + bi * sf
        if bi >= med:
            resid = tm - bi * sf
        else:
            resid = m1st - emin
        if resid < 0.0:
            resid = 0.0
        if zoned:
            resid = rz
        # J from the quantities at a and b (_Law._J)
        if upper:
            num = e3[i] - resid
            den = e0[i] - sf
        else:
            num = emin - e2[i]
            den = cdf - e1[i]
        wab = bi - ai
        loc = e4[i]
        nar = ai > 0 and wab <= 0.125 * ai and wab <= 0.125 * loc
        inside = False
        if nar:
            for z in range(bps.size):
                if ai < bps[z] and bps[z] < bi:
                    inside = True
                    if not wab <= 0.125 * bp_loc[z]:
                        nar = False
        if nar:
            zone = False
            if finite_hi:
                wa = law_hi - ai
                zone = ai > z_end and wa > 0 and wa <= 0.125 * (ai - z_end)
            if zone or (wab <= tiny_window * loc and not inside):
                # one rule on the whole window: 16 points by the end, 4 if tiny
                if zone:
                    xs, ws = gx, gw
                else:
                    xs, ws = g4x, g4w
                half = 0.5 * wab
                mid = ai + half
                dsum = 0.0
                nsum = 0.0
                for k in range(xs.size):
                    f, okf = _dens(mid + half * xs[k], da, db, dc, dm, dn, lo, hi, tmin,
                                       tmax, mass)
                    if not okf:
                        ok = False
                    dsum += ws[k] * f
                    nsum += ws[k] * (half * (1.0 + xs[k])) * f
                den = half * dsum
                num = half * nsum + wab * sf
            else:
                # 8 points on each piece between the breakpoints inside the window
                dsum = 0.0
                nsum = 0.0
                left = ai
                for z in range(bps.size + 1):
                    if z < bps.size:
                        right = bps[z]
                        if not (ai < right and right < bi):
                            continue
                    else:
                        right = bi
                    half = 0.5 * (right - left)
                    if half > 0:
                        mid = 0.5 * (left + right)
                        ps = 0.0
                        pn = 0.0
                        for k in range(g8x.size):
                            t = mid + half * g8x[k]
                            f, okf = _dens(t, da, db, dc, dm, dn, lo, hi, tmin, tmax, mass)
                            if not okf:
                                ok = False
                            ps += g8w[k] * f
                            pn += g8w[k] * (t - ai) * f
                        dsum += half * ps
                        nsum += half * pn
                    left = right
                den = dsum
                num = nsum + wab * sf
            if not ok:
                need[i] = True
                out[i] = np.nan
                continue
        out[i] = num / den if den > 0 else np.inf
    return out, need


_GOLD = 0.5 * (3.0 - 5.0**0.5)


@njit(cache=True, error_model="numpy", nogil=True)
def section_tabulated(a, e0, e1, e2, e3, e4, lo, hi, flo, fhi, tol, ta, tb, c0, m0, n0, c1,
                      m1, n1, c2, m2, n2, c3, m3, n3, slo, shi, tmin, tmax, mass, mean, da,
                      db, dc, dm, dn, med, m1st, law_hi, z_end, bps, bp_loc, gx, gw, g8x, g8w,
                      g4x, g4w, tiny_window):  # pragma: no cover - compiled
    """Minimise ``J(a_i, a_i + exp(u))`` over ``u`` in ``[lo_i, hi_i]`` for every row (the
    ends' values ``flo``, ``fhi`` known; the law's tables as for :func:`j_tabulated`, the
    support as ``slo``, ``shi``) by Brent's method (golden section and parabolic
    steps, to ``tol`` in ``u``), the rows side by side: each step evaluates the next point
    of every row still searching in one call of :func:`j_tabulated`. Returns the least value
    found (the ends included), its ``u``, and a mask of the rows that met a point off the
    tables (to be searched on the NumPy path)."""
    n = a.size
    sa = lo.copy()
    sb = hi.copy()
    x = sa + _GOLD * (sb - sa)
    fx, need = j_tabulated(a, e0, e1, e2, e3, e4, a + np.exp(x), ta, tb, c0, m0, n0, c1, m1,
                           n1, c2, m2, n2, c3, m3, n3, slo, shi, tmin, tmax, mass, mean, da,
                           db, dc, dm, dn, med, m1st, law_hi, z_end, bps, bp_loc, gx, gw, g8x,
                           g8w, g4x, g4w, tiny_window)
    for i in range(n):
        if np.isnan(fx[i]):
            fx[i] = np.inf
    w = x.copy()
    v = x.copy()
    fw = fx.copy()
    fv = fx.copy()
    d = np.zeros(n)
    e = np.zeros(n)
    live = ~need
    u = np.empty(n)
    for _ in range(200):
        rows = np.empty(n, dtype=np.int64)
        k = 0
        for i in range(n):
            if not live[i]:
                continue
            m = 0.5 * (sa[i] + sb[i])
            tol1 = tol + 4.4e-16 * abs(x[i])
            tol2 = 2.0 * tol1
            if abs(x[i] - m) <= tol2 - 0.5 * (sb[i] - sa[i]):
                live[i] = False
                continue
            golden = True
            if abs(e[i]) > tol1:
                r = (x[i] - w[i]) * (fx[i] - fv[i])
                q = (x[i] - v[i]) * (fx[i] - fw[i])
                p = (x[i] - v[i]) * q - (x[i] - w[i]) * r
                q = 2.0 * (q - r)
                if q > 0.0:
                    p = -p
                q = abs(q)
                etemp = e[i]
                e[i] = d[i]
                if (np.isfinite(p) and abs(p) < abs(0.5 * q * etemp)
                        and p > q * (sa[i] - x[i]) and p < q * (sb[i] - x[i])):
                    d[i] = p / q
                    ui = x[i] + d[i]
                    if ui - sa[i] < tol2 or sb[i] - ui < tol2:
                        d[i] = tol1 if x[i] < m else -tol1
                    golden = False
            if golden:
                e[i] = (sb[i] - x[i]) if x[i] < m else (sa[i] - x[i])
                d[i] = _GOLD * e[i]
            if abs(d[i]) >= tol1:
                u[i] = x[i] + d[i]
            else:
                u[i] = x[i] + tol1 if d[i] > 0 else x[i] - tol1
            rows[k] = i
            k += 1
        if k == 0:
            break
        rows = rows[:k]
        fu, off = j_tabulated(a[rows], e0[rows], e1[rows], e2[rows], e3[rows], e4[rows],
                              a[rows] + np.exp(u[rows]), ta, tb, c0, m0, n0, c1, m1, n1,
                              c2, m2, n2, c3, m3, n3, slo, shi, tmin, tmax, mass, mean, da, db,
                              dc, dm, dn, med, m1st, law_hi, z_end, bps, bp_loc, gx, gw, g8x,
                              g8w, g4x, g4w, tiny_window)
        for t in range(k):
            i = rows[t]
            if off[t]:
                need[i] = True
                live[i] = False
                continue
            f = fu[t] if not np.isnan(fu[t]) else np.inf
            ui = u[i]
            if f <= fx[i]:
                if ui < x[i]:
                    sb[i] = x[i]
                else:
                    sa[i] = x[i]
                v[i] = w[i]
                fv[i] = fw[i]
                w[i] = x[i]
                fw[i] = fx[i]
                x[i] = ui
                fx[i] = f
            else:
                if ui < x[i]:
                    sa[i] = ui
                else:
                    sb[i] = ui
                if f <= fw[i] or w[i] == x[i]:
                    v[i] = w[i]
                    fv[i] = fw[i]
                    w[i] = ui
                    fw[i] = f
                elif f <= fv[i] or v[i] == x[i] or v[i] == w[i]:
                    v[i] = ui
                    fv[i] = f
    # the least value found, the ends of the bracket included
    val = fx.copy()
    arg = x.copy()
    for i in range(n):
        fl = flo[i] if not np.isnan(flo[i]) else np.inf
        fh = fhi[i] if not np.isnan(fhi[i]) else np.inf
        if fl < val[i]:
            val[i] = fl
            arg[i] = lo[i]
        if fh < val[i]:
            val[i] = fh
            arg[i] = hi[i]
    return val, arg, need


@njit(cache=True, error_model="numpy", inline="always")
def _two_least(k, v, values, k1, k2):  # pragma: no cover - compiled
    """The indices ``(k1, k2)`` of the least and the next least value seen (-1: none yet)
    after seeing ``v = values[k]``, the first among equals staying first."""
    if k1 < 0 or v < values[k1]:
        return k, k1
    if k2 < 0 or v < values[k2]:
        return k1, k
    return k1, k2


@njit(cache=True, error_model="numpy", nogil=True)
def interior_tabulated(a, e0, e1, e2, e3, e4, clip, tau, opz, oml, znear, add_z, up, inner,
                       add_l, corner, flat, tol, ta, tb, c0, m0, n0, c1, m1, n1, c2, m2, n2,
                       c3, m3, n3, lo, hi, tmin, tmax, mass, mean, da, db, dc, dm, dn, med,
                       m1st, law_hi, z_end, bps, bp_loc, gx, gw, g8x, g8w, g4x, g4w,
                       tiny_window):  # pragma: no cover - compiled
    """:meth:`qtheory.analysis.gittins._Law.interior` for a tabulated law in one compiled
    call, in the NumPy form's steps, each over all ages at once: the grid of quanta
    ``a + (a + med) tau`` with the quanta around the breakpoints (``opz = 1 + _ZREL`` past
    every breakpoint, ``oml = 1 - _ZLOW`` before the inner ones ``inner``; the blocks
    ``add_z``, ``add_l`` that the NumPy form adds for the whole batch, an age that does not
    take a block repeating its last quantum, as there), sorted and clipped to ``clip``;
    ``J`` at every distinct quantum (:func:`j_tabulated`); the two least interior local
    minima of each age and the two least that do not tie (``flat``) with the mean residual
    or the local scale; their brackets, cut at the inner breakpoints inside them;
    :func:`section_tabulated` on all of them (to ``tol``); then the quanta ending at the
    breakpoints. The arithmetic is the NumPy form's, point by point.

    Returns the least value of each age, its quantum's end (NaN where it is
    ``a + exp(u)``), that ``u`` (else NaN: the caller takes NumPy's ``exp``, whose last bit
    differs from the compiled one's at about 5 % of the points, as the NumPy form has it),
    and a mask of the ages that met a value off the tables (to be done on the NumPy
    path)."""
    n = a.size
    nt = tau.size
    nbp = bps.size
    nin = inner.size
    width = nt + nbp * opz.size + nin * oml.size
    best = np.full(n, np.inf)
    bstar = np.full(n, np.nan)
    ustar = np.full(n, np.nan)
    need = np.zeros(n, dtype=np.bool_)
    # the grid of each age (sorted, clipped) and J at its distinct quanta (``pj``: the
    # evaluation of each grid entry, a repeat taking its run's first)
    Bm = np.empty((n, width))
    nbs = np.empty(n, dtype=np.int64)
    pj = np.empty((n, width), dtype=np.int64)
    pa = np.empty(n * width, dtype=np.int64)
    pb = np.empty(n * width)
    m = 0
    for i in range(n):
        ai = a[i]
        base = ai + med
        row = Bm[i]
        nb = 0
        for k in range(nt):
            row[nb] = ai + base * tau[k]
            nb += 1
        near = ai + base * znear
        for j in range(nbp):
            if not add_z[j]:
                continue
            z = bps[j]
            last = row[nb - 1]
            take = z > ai and (up[j] or z <= near)
            for k in range(opz.size):
                row[nb] = z * opz[k] if take else last
                nb += 1
        for t in range(nin):
            if not add_l[t]:
                continue
            z = bps[inner[t]]
            last = row[nb - 1]
            for k in range(oml.size):
                zl = z * oml[k]
                row[nb] = zl if (zl > ai and (corner[t] or zl <= near)) else last
                nb += 1
        row[:nb] = np.sort(row[:nb])
        ci = clip[i]
        for k in range(nb):
            if not row[k] <= ci and not np.isnan(row[k]):  # (np.minimum: NaN stays)
                row[k] = ci
        nbs[i] = nb
        for k in range(nb):
            if k == 0 or row[k] != row[k - 1]:
                pa[m] = i
                pb[m] = row[k]
                m += 1
            pj[i, k] = m - 1
    pa = pa[:m]
    pb = pb[:m]
    vals, off = j_tabulated(a[pa], e0[pa], e1[pa], e2[pa], e3[pa], e4[pa], pb, ta, tb, c0, m0,
                            n0, c1, m1, n1, c2, m2, n2, c3, m3, n3, lo, hi, tmin, tmax, mass,
                            mean, da, db, dc, dm, dn, med, m1st, law_hi, z_end, bps, bp_loc, gx,
                            gw, g8x, g8w, g4x, g4w, tiny_window)
    Jm = np.empty((n, width))
    for i in range(n):
        for k in range(nbs[i]):
            Jm[i, k] = vals[pj[i, k]]
    for q in range(m):
        if off[q]:
            need[pa[q]] = True
    # the candidates of each age (the two least interior local minima, first come first
    # among equals, and the two least that tie with neither end candidate), in that order
    c_age = np.empty(4 * n, dtype=np.int64)
    c_k = np.empty(4 * n, dtype=np.int64)
    nc = 0
    for i in range(n):
        if need[i]:
            continue
        Jv = Jm[i]
        B = Bm[i]
        m_res = e3[i] / e0[i]
        f4 = e4[i]
        k1 = -1
        k2 = -1
        t1 = -1
        t2 = -1
        for k in range(1, nbs[i] - 1):
            v = Jv[k]
            if not (v <= Jv[k - 1] and v <= Jv[k + 1] and np.isfinite(v)
                    and B[k] > B[k - 1] and B[k] < law_hi):
                continue
            k1, k2 = _two_least(k, v, Jv, k1, k2)
            if abs(v - m_res) <= flat * abs(m_res) or abs(v - f4) <= flat * abs(f4):
                continue
            t1, t2 = _two_least(k, v, Jv, t1, t2)
        for q in range(4):
            k = (k1, k2, t1, t2)[q]
            if k < 0 or (q >= 2 and (k == k1 or k == k2)):
                continue
            c_age[nc] = i
            c_k[nc] = k
            nc += 1
    # their brackets in u = log(b - a), each cut at the inner breakpoints inside it (in
    # order; a piece cut off before one breakpoint is checked against the later ones): an
    # end at a breakpoint takes J there, known after one call for all (reference >= 0)
    ns_max = nc * (nin + 1)
    s_c = np.empty(ns_max, dtype=np.int64)
    s_lo = np.empty(ns_max)
    s_hi = np.empty(ns_max)
    s_flo = np.empty(ns_max)
    s_fhi = np.empty(ns_max)
    r_lo = np.full(ns_max, -1, dtype=np.int64)
    r_hi = np.full(ns_max, -1, dtype=np.int64)
    z_age = np.empty(n * max(nin, 1), dtype=np.int64)
    z_pt = np.empty(n * max(nin, 1))
    nzp = 0
    ns = 0
    c = 0
    while c < nc:
        i = c_age[c]
        first = ns
        while c < nc and c_age[c] == i:
            k = c_k[c]
            s_c[ns] = c
            s_lo[ns] = np.log(Bm[i, k - 1] - a[i])
            s_hi[ns] = np.log(Bm[i, k + 1] - a[i])
            s_flo[ns] = Jm[i, k - 1]
            s_fhi[ns] = Jm[i, k + 1]
            ns += 1
            c += 1
        for t in range(nin):
            z = bps[inner[t]]
            uz = np.log(z - a[i])
            ref = -1
            last = ns
            for s in range(first, last):
                if not (uz > s_lo[s] and uz < s_hi[s]):
                    continue
                if ref < 0:
                    ref = nzp
                    z_age[nzp] = i
                    z_pt[nzp] = z
                    nzp += 1
                s_c[ns] = s_c[s]
                s_lo[ns] = uz
                s_hi[ns] = s_hi[s]
                r_lo[ns] = ref
                s_fhi[ns] = s_fhi[s]
                r_hi[ns] = r_hi[s]
                ns += 1
                s_hi[s] = uz
                r_hi[s] = ref
    if nzp:
        za = z_age[:nzp]
        jz, off = j_tabulated(a[za], e0[za], e1[za], e2[za], e3[za], e4[za], z_pt[:nzp], ta, tb,
                              c0, m0, n0, c1, m1, n1, c2, m2, n2, c3, m3, n3, lo, hi, tmin,
                              tmax, mass, mean, da, db, dc, dm, dn, med, m1st, law_hi, z_end,
                              bps, bp_loc, gx, gw, g8x, g8w, g4x, g4w, tiny_window)
        for q in range(nzp):
            if off[q]:
                need[z_age[q]] = True
        for s in range(ns):
            if r_lo[s] >= 0:
                s_flo[s] = jz[r_lo[s]]
            if r_hi[s] >= 0:
                s_fhi[s] = jz[r_hi[s]]
    # Brent's search on every piece of the ages still on the tables
    keep = np.empty(ns, dtype=np.int64)
    nk = 0
    for s in range(ns):
        if not need[c_age[s_c[s]]]:
            keep[nk] = s
            nk += 1
    keep = keep[:nk]
    sa = c_age[s_c[keep]]
    val, arg, off = section_tabulated(a[sa], e0[sa], e1[sa], e2[sa], e3[sa], e4[sa],
                                      s_lo[keep], s_hi[keep], s_flo[keep], s_fhi[keep], tol,
                                      ta, tb, c0, m0, n0, c1, m1, n1, c2, m2, n2, c3, m3, n3,
                                      lo, hi, tmin, tmax, mass, mean, da, db, dc, dm, dn, med,
                                      m1st, law_hi, z_end, bps, bp_loc, gx, gw, g8x, g8w, g4x,
                                      g4w, tiny_window)
    for q in range(nk):
        if off[q]:
            need[sa[q]] = True
    # each candidate's value: the least of its pieces' (the first among equals), or the
    # grid's where the search wandered; each age's least, its candidates in order
    c_val = np.full(nc, np.inf)
    c_u = np.full(nc, np.nan)
    c_set = np.zeros(nc, dtype=np.bool_)
    for q in range(nk):
        cc = s_c[keep[q]]
        v = val[q] if not np.isnan(val[q]) else np.inf
        if not c_set[cc] or v < c_val[cc]:
            c_val[cc] = v
            c_u[cc] = arg[q]
            c_set[cc] = True
    for cc in range(nc):
        i = c_age[cc]
        if need[i]:
            continue
        k = c_k[cc]
        v = c_val[cc]
        bb = np.nan
        uu = c_u[cc]
        if not v <= Jm[i, k]:
            v = Jm[i, k]
            bb = Bm[i, k]
            uu = np.nan
        if v < best[i]:
            best[i] = v
            bstar[i] = bb
            ustar[i] = uu
    # quanta ending at the breakpoints
    qa = np.empty(n * nbp, dtype=np.int64)
    qz = np.empty(n * nbp)
    nq = 0
    for i in range(n):
        for j in range(nbp):
            if bps[j] > a[i] and not need[i]:
                qa[nq] = i
                qz[nq] = bps[j]
                nq += 1
    if nq:
        qa = qa[:nq]
        qz = qz[:nq]
        jq, off = j_tabulated(a[qa], e0[qa], e1[qa], e2[qa], e3[qa], e4[qa], qz, ta, tb, c0,
                              m0, n0, c1, m1, n1, c2, m2, n2, c3, m3, n3, lo, hi, tmin, tmax,
                              mass, mean, da, db, dc, dm, dn, med, m1st, law_hi, z_end, bps,
                              bp_loc, gx, gw, g8x, g8w, g4x, g4w, tiny_window)
        for q in range(nq):
            i = qa[q]
            if off[q]:
                need[i] = True
            elif jq[q] < best[i]:
                best[i] = jq[q]
                bstar[i] = qz[q]
                ustar[i] = np.nan
    return best, bstar, ustar, need
