"""Chebyshev tables of one class's other-job functions as functions of the rank level.

In a multi-class SOAP analysis (:mod:`qtheory.analysis.multiclass`) every class's work
functions ``N(r) = E[X^new[r]]``, ``O0(r) = E[X_0^old[r]]`` and
``S(r) = sum_i E[(X_i^old[r])^2]`` are needed at the levels of every other class: with ``n``
classes of ``L`` levels each, ``n (n - 1) L`` evaluations, most of them a root finding on a
rank piece. For a bare level (one that compares only rank values) the three functions depend
on the level ``r`` alone, and between consecutive *critical values* of the class's rank (its
values at the ends of its monotone pieces and at the size law's breakpoints or atoms) which
pieces are crossed, and how, does not change: each interval end is the inverse of one smooth
monotone piece at ``r``, and the size law's truncated moments are smooth between its
breakpoints. So on each such interval the three functions are smooth in ``r``.

:class:`WorkTable` interpolates them there from their exact values (the class engine's own
functions) at 32 Chebyshev points of the first kind, which leave out the ends (at a critical
value a function may jump, and its value there belongs to one side only). An interval whose
levels span more than a factor 8 is first cut geometrically (:func:`_presplit`: a rank may
stretch the law's scale of ages over decades of levels). A fit that converges is checked
against exact values at positions ``1e-5`` and ``1e-4`` of its variable from either end,
closer than its first point (within ``1e-11`` of its scale), so that a rise between an end and
its first point is not missed: before both, the rank ``(a - 1)**2`` on Weibull 0.5 sizes had
one interval of levels from 1 to 6e10, whose 32 points all lay past the rise of its work
functions near 1, and its fit converged to the wrong constant there. An interval whose
interpolants have not converged (last two coefficients above ``1e-13`` of the largest value
on it, or of ``1e-6`` of the function's largest value, whichever is larger) is halved, up to
:data:`_DEPTH` times; a half at a critical value is fitted in the square root of the
distance to it, the variable in which the ages of levels near a smooth extremum of the rank
are smooth. A half that does not gain a factor :data:`_GAIN` on its parent is not halved
again: near the limit of a rank that approaches it exponentially (1 / hazard of a
hyperexponential law) and where a rank is flat to rounding, the exact values themselves are
ill-conditioned. Levels on an interval without a table, outside the critical values, within
:data:`_SNAP` (relative) of one, or in a cluster of critical values closer than
:data:`_CLUSTER` (a rank's value at the join of two of its Chebyshev pieces, computed on
each side) are left to the exact path (``need``). Only intervals where the exact path solves
for ages (inside the range of a piece neither constant nor linear) are tabulated, each when
first asked for enough levels (:meth:`WorkTable.lookup`'s ``least``).

Beyond the critical values the three functions are constants (every age is an end of a
piece), taken from one exact evaluation each side.

Accuracy (``tests/test_worktab.py``): within ``1e-12`` of each function's largest value of
the exact path on Gittins ranks of Weibull 0.5, hyperexponential and bucket laws, SERPT on a
truncated Weibull 0.5 law and a callable rank; next to SERPT's smooth maximum (levels 1e-6 to
1e-8 below it) the exact values scatter by 2.3e-12 about a smooth curve, the table's by
5.4e-13. With every interval tabulated, class means equal the exact path's to 1e-12 on mixes
with atoms, a non-preemptive class, a linear and a callable rank. Mean response times of
GittinsBuckets with 3 to 8 buckets change by at most 1.9e-15 relative.

Examples
--------
>>> import numpy as np
>>> import qtheory as qt
>>> from qtheory.analysis.agerank import AgeRankAnalysis, _Levels
>>> from qtheory.analysis.gittins import gittins_rank
>>> law = qt.Weibull(0.5)
>>> e = AgeRankAnalysis(law, gittins_rank(law))
>>> tab = WorkTable(e)
>>> r = np.linspace(0.5, 1.9, 7)
>>> N, O0, S, need = tab.lookup(r, np.ones(r.size, dtype=bool))
>>> L = _Levels(r, np.full(r.size, -1), np.zeros(r.size))
>>> exact = e._new_work(L)
>>> bool(np.all(need | (np.abs(N - exact) <= 1e-14 * law.mean)))
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..distributions._panelcheb import _clenshaw, _dct1_matrix, _panel_of
from .agerank import geometric_edges

__all__ = ["WorkTable", "work_lookup"]

_NPTS = 32  # Chebyshev points of the first kind an interval
_EPS = float(np.finfo(float).eps)
_TOL = 1e-13  # the last two coefficients, relative to the largest value on the interval
_FLOOR = 1e-6  # of a function's largest value: the least scale of an interval (module doc)
_CLUSTER = 1e-10  # critical values closer than this (relative) are one: levels between take
# the exact path
_GAIN = 8.0  # the least factor a halving must gain in convergence to go on (see build)
_DEPTH = 8  # halvings of an interval whose interpolant has not converged
_SNAP = 1e-9  # levels this close (relative) to a critical value take the exact path: next
# to a smooth extremum the exact ages are ill-conditioned there, and the two would differ
_U = -np.cos(np.pi * (np.arange(_NPTS) + 0.5) / _NPTS)  # ascending, in (-1, 1)
_SPAN = 8.0  # an interval is cut where its levels span more than this factor (_presplit)
_SPLITS = 24  # at most this many pieces a side
_CHECK_T = np.array([1e-5, 1e-4, 1.0 - 1e-4, 1.0 - 1e-5])  # where fits are checked
_CHECK_TOL = 1e-11  # of the scale: the most a checked fit may miss the exact value by
_BAD_CHECK = 1e6  # the miss given to a fit that fails its check (it is halved)


_DCT = _dct1_matrix(_NPTS)  # values at the ascending first-kind points -> coefficients


def critical_values(e) -> np.ndarray:
    """The sorted finite rank values of engine ``e`` (an
    :class:`~qtheory.analysis.agerank.AgeRankAnalysis`) where its work functions may jump or
    kink as functions of the level: the end values of its pieces that jobs reach, and its
    rank at the size law's breakpoints (or atoms) inside them."""
    vals = set()
    for j in range(e.K):
        if e.live[j]:
            vals.update(float(z) for z in (e.u[j], e.v[j]) if np.isfinite(z))
    for z in e._law_breaks():
        if 0 < z < e.H:
            j = int(np.searchsorted(e.t[1:], z, side="right"))
            if j < e.K:
                g = float(e.pieces[j].eval(np.array([z]))[0])
                if np.isfinite(g):
                    vals.add(g)
    return np.array(sorted(vals))


class WorkTable:
    """Tables of a class's bare-level work functions ``(N, O0, S)`` in the level (module
    docstring).

    Parameters
    ----------
    engine : AgeRankAnalysis
        The class's engine; its ``_new_work`` and ``_old_work`` give the exact values.
    """

    def __init__(self, engine):
        self.engine = engine
        crit = critical_values(engine)
        # clusters of critical values (a rank's value at a join of two of its Chebyshev
        # pieces, computed on each side): the intervals run between clusters
        gap = np.diff(crit) > _CLUSTER * np.maximum(np.abs(crit[1:]), 1e-300)
        a = crit[np.concatenate([gap, [False]])]
        b = crit[np.concatenate([[False], gap])]
        wide = b - a > 4.0 * _SNAP * np.maximum(np.abs(a), np.abs(b))
        a, b = a[wide], b[wide]
        # only intervals where the exact path solves for ages: those inside the range of a
        # piece that is neither linear nor constant (elsewhere it is a few array operations)
        solving = np.zeros(a.size, dtype=bool)
        for j in range(engine.K):
            p = engine.pieces[j]
            if engine.live[j] and engine.kind[j] != 0 and not p.is_linear:
                lo, hi = sorted((engine.u[j], engine.v[j]))
                solving |= (a < hi) & (b > lo)
        self.ia, self.ib = a[solving], b[solving]  # the intervals, tabulated when asked
        self.built = np.zeros(self.ia.size, dtype=bool)
        # beyond the critical values the functions are constants (the ages are ends of
        # pieces): one exact value each side, on first use, for the levels below ``lo_out``
        # or above ``hi_out``
        if crit.size:
            self.lo_out = crit[0] - _SNAP * max(abs(crit[0]), 1e-300)
            self.hi_out = crit[-1] + _SNAP * max(abs(crit[-1]), 1e-300)
        else:
            self.lo_out, self.hi_out = -np.inf, np.inf
        self._outer = None
        self.exact_points = 0
        self._floor = None
        self._parts: list[tuple] = []
        self._set_panels()

    def _set_panels(self):
        if self._parts:
            parts = [np.concatenate([k[i] for k in self._parts]) for i in range(10)]
        else:
            parts = [np.zeros(0)] * 4 + [np.zeros((0, _NPTS))] * 3 + \
                    [np.zeros(0, dtype=bool)] * 2 + [np.zeros(0, dtype=np.int8)]
        order = np.argsort(parts[0], kind="stable")
        (self.a, self.b, self.sa, self.sb, self.cN, self.cO, self.cS, self.okN,
         self.okW, self.mode) = (np.ascontiguousarray(p[order]) for p in parts)
        self._parts = [tuple(getattr(self, n) for n in ("a", "b", "sa", "sb", "cN", "cO",
                                                         "cS", "okN", "okW", "mode"))]
        self.panels = self.a.size

    def build(self, which) -> None:
        """Tabulate the intervals ``which`` (indices into ``ia``, ``ib``): from 32 exact
        values each, halved where the interpolant has not converged."""
        from .agerank import _Levels

        which = np.asarray(which, dtype=np.int64)
        which = which[~self.built[which]]
        if not which.size:
            return
        self.built[which] = True
        engine = self.engine
        # snap tolerances at each end: 0 at the cuts inside an interval
        todo_a, todo_b, todo_sa, todo_sb = _presplit(self.ia[which], self.ib[which])
        todo_miss = np.full(todo_a.size, np.inf)  # the parent interval's miss
        todo_mode = np.zeros(todo_a.size, dtype=np.int8)
        for depth in range(_DEPTH + 1):
            if not todo_a.size:
                break
            # the fit's points and the checks' (one exact call for both)
            t = np.broadcast_to(np.concatenate([0.5 * (1.0 + _U), _CHECK_T]),
                                (todo_a.size, _NPTS + _CHECK_T.size))
            pts = _map(todo_a, todo_b, todo_mode, t)
            flat = pts.ravel()
            lev = _Levels(flat, np.full(flat.size, -1, dtype=np.int64), np.zeros(flat.size))
            N = np.asarray(engine._new_work(lev), dtype=float).reshape(pts.shape)
            O0, S = (np.asarray(v, dtype=float).reshape(pts.shape)
                     for v in engine._old_work(lev))
            self.exact_points += flat.size
            checks = [v[:, _NPTS:] for v in (N, O0, S)]
            N, O0, S = (v[:, :_NPTS] for v in (N, O0, S))
            if self._floor is None:  # each function's largest value: the floor of scales
                top = [float(np.max(np.abs(v), initial=0.0, where=np.isfinite(v)))
                       for v in (N, O0, S)]
                m1 = float(engine.law.m1) if np.isfinite(engine.law.m1) else top[0]
                m2 = float(engine.law.m2) if np.isfinite(engine.law.m2) else top[2]
                self._floor = [_FLOOR * max(top[0], m1), _FLOOR * max(top[1], m1),
                               _FLOOR * max(top[2], m2)]
            fits = [_fit(v, f) for v, f in zip((N, O0, S), self._floor)]
            okN = fits[0][1] <= 1.0
            okW = (fits[1][1] <= 1.0) & (fits[2][1] <= 1.0)
            miss = np.maximum(np.maximum(fits[0][1], fits[1][1]), fits[2][1])
            # converged interpolants are checked at ages closer to the ends than their
            # points (a feature there, between an end and the first point, would be missed)
            cand = np.nonzero(okN & okW)[0]
            if cand.size:
                bad = _check(pts[cand, _NPTS:], todo_a[cand], todo_b[cand], todo_sa[cand],
                             todo_sb[cand], [f[0][cand] for f in fits],
                             [c[cand] for c in checks],
                             [np.maximum(np.max(np.abs(v[cand]), axis=1), fl)
                              for v, fl in zip((N, O0, S), self._floor)])
                okN[cand[bad]] = okW[cand[bad]] = False
                miss[cand[bad]] = _BAD_CHECK
            # a half that does not gain a factor _GAIN on its parent holds a singular end of
            # another kind (a rank approaching a limit exponentially, as 1 / hazard does a
            # hyperexponential's largest mean, where the ages are ill-conditioned) or values
            # noisy at the tolerance (a rank flat to rounding): left to the exact path
            # rather than halved to the depth limit
            done = (okN & okW) | ~np.isfinite(miss) | (miss * _GAIN > todo_miss) \
                | (depth == _DEPTH)
            if np.any(done):
                self._parts.append((todo_a[done], todo_b[done], todo_sa[done], todo_sb[done],
                                    fits[0][0][done], fits[1][0][done], fits[2][0][done],
                                    okN[done], okW[done], todo_mode[done]))
            cut = ~done
            mid = 0.5 * (todo_a[cut] + todo_b[cut])
            todo_a, todo_b = (np.concatenate([todo_a[cut], mid]),
                              np.concatenate([mid, todo_b[cut]]))
            todo_sa = np.concatenate([todo_sa[cut], np.zeros(mid.size)])
            todo_sb = np.concatenate([np.zeros(mid.size), todo_sb[cut]])
            todo_miss = np.concatenate([miss[cut], miss[cut]])
            # a half at a critical value is fitted in the square root of the distance to it
            # (a level near a smooth extremum of the rank: the ages go like a square root)
            todo_mode = np.where(todo_sb > 0, 1, np.where(todo_sa > 0, 2, 0)).astype(np.int8)
        self._set_panels()

    def lookup(self, val, wait, least: int = 0):
        """``(N, O0, S, need)`` at the bare levels ``val``: the tabulated values (``O0`` and
        ``S`` only where ``wait``), and the mask of the levels left to the exact path (NaN
        there). Intervals not yet tabulated are built first where at least ``least`` of the
        levels fall in them (``0``: every interval)."""
        val = np.ascontiguousarray(val, dtype=float)
        wait = np.ascontiguousarray(wait, dtype=np.bool_)
        if self.ia.size and not np.all(self.built):
            i = np.searchsorted(self.ia, val, side="right") - 1
            inside = (i >= 0) & (val < self.ib[np.maximum(i, 0)])
            count = np.bincount(i[inside], minlength=self.ia.size)
            self.build(np.nonzero(~self.built & (count >= max(least, 1)))[0])
        N, O0, S, need = work_lookup(val, wait, self.a, self.b, self.sa, self.sb, self.mode,
                                     self.cN, self.cO, self.cS, self.okN, self.okW)
        below, above = val < self.lo_out, val > self.hi_out
        if np.any(below) or np.any(above):
            if self._outer is None:
                from .agerank import _Levels

                r = np.array([self.lo_out - 1.0 - abs(self.lo_out),
                              self.hi_out + 1.0 + abs(self.hi_out)])
                lev = _Levels(r, np.full(2, -1, dtype=np.int64), np.zeros(2))
                self._outer = (np.asarray(self.engine._new_work(lev), dtype=float),
                               *(np.asarray(v, dtype=float)
                                 for v in self.engine._old_work(lev)))
            for side, m in ((0, below), (1, above)):
                if np.any(m):
                    N[m] = self._outer[0][side]
                    O0[m] = np.where(wait[m], self._outer[1][side], 0.0)
                    S[m] = np.where(wait[m], self._outer[2][side], 0.0)
                    need[m] = False
        N[need] = O0[need] = S[need] = np.nan
        return N, O0, S, need


def _map(a: np.ndarray, b: np.ndarray, mode: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Levels at the positions ``t`` in ``[0, 1]`` (rows) of each interval's variable,
    ``u = 2 t - 1`` for the interpolant: the level (mode 0, ``t = 0`` at ``a``),
    ``sqrt(b - r)`` (mode 1, ``t = 0`` at ``b``) or ``sqrt(r - a)`` (mode 2)."""
    w = (b - a)[:, None]
    return np.where((mode == 1)[:, None], b[:, None] - w * t * t,
                    np.where((mode == 2)[:, None], a[:, None] + w * t * t, a[:, None] + w * t))


def _check(r, a, b, sa, sb, coefs, exact, scales) -> np.ndarray:
    """Which of the intervals (converged fits ``coefs`` of N, O0, S) miss their ``exact``
    values at the levels ``r`` (rows: the :data:`_CHECK_T` positions of their variable) by
    more than :data:`_CHECK_TOL` of their ``scales``; levels within the snap tolerances
    ``sa``, ``sb`` of an end are not checked."""
    inside = (r - a[:, None] > sa[:, None]) & (b[:, None] - r > sb[:, None])
    u = np.broadcast_to(2.0 * _CHECK_T - 1.0, r.shape)
    bad = np.zeros(a.size, dtype=bool)
    for c, e, sc in zip(coefs, exact, scales):
        with np.errstate(invalid="ignore"):
            off = np.abs(_chebval_rows(c, u) - e) > _CHECK_TOL * sc[:, None]
        bad |= np.any(off & inside, axis=1)
    return bad


def _chebval_rows(c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row ``i`` of the Chebyshev series ``c[i]`` at the points ``u[i]`` (Clenshaw; compiled,
    :func:`_clenshaw_rows`)."""
    return _clenshaw_rows(np.ascontiguousarray(c, dtype=float),
                          np.ascontiguousarray(u, dtype=float))


@njit(cache=True, error_model="numpy", nogil=True)
def _clenshaw_rows(c, u):  # pragma: no cover - compiled
    """:func:`_chebval_rows`: ``b_k = c_k + 2 u b_{k+1} - b_{k+2}`` down to ``k = 1``, then
    ``c_0 + u b_1 - b_2``, each step in that order of operations (the NumPy expression's)."""
    rows, m = u.shape
    out = np.empty((rows, m))
    n = c.shape[1]
    for i in range(rows):
        for j in range(m):
            x = u[i, j]
            x2 = 2.0 * x
            b1 = 0.0
            b2 = 0.0
            for k in range(n - 1, 0, -1):
                t = c[i, k] + x2 * b1 - b2
                b2 = b1
                b1 = t
            out[i, j] = c[i, 0] + x * b1 - b2
    return out


def _presplit(a: np.ndarray, b: np.ndarray):
    """The intervals cut where they span more than a factor :data:`_SPAN` in magnitude
    (geometrically, at 0 first where they contain it; from 0, down to
    ``_SPAN**-_SPLITS`` of the other end): a level's ages, and so the work functions, vary
    over the law's scale, which a rank may stretch over decades of levels (a callable
    ``(a - 1)**2`` runs from 1 to 6e10 over one interval, on which 32 points missed the
    rise near 1). Returns the ends and their snap tolerances (0 at the cuts)."""
    out_a, out_b, out_sa, out_sb = [], [], [], []
    for lo, hi in zip(a, b):
        cuts = [lo, hi]
        if lo < 0.0 < hi:
            cuts = [lo, 0.0, hi]
        pts = []
        for x, y in zip(cuts[:-1], cuts[1:]):
            near, far = (x, y) if abs(x) <= abs(y) else (y, x)
            sign = 1.0 if far > 0 else -1.0
            if near == 0.0:
                mags = abs(far) * _SPAN ** -np.arange(_SPLITS, 0, -1, dtype=float)
            else:
                mags = geometric_edges(abs(near), abs(far), _SPAN, _SPLITS)[1:-1]
            pts.extend(sign * mags)
        edges = np.unique(np.concatenate([cuts, pts]))
        edges = edges[(edges >= lo) & (edges <= hi)]
        out_a.append(edges[:-1])
        out_b.append(edges[1:])
        sa = np.zeros(edges.size - 1)
        sb = np.zeros(edges.size - 1)
        sa[0] = _SNAP * abs(lo)
        sb[-1] = _SNAP * abs(hi)
        out_sa.append(sa)
        out_sb.append(sb)
    if not out_a:
        z = np.zeros(0)
        return z, z.copy(), z.copy(), z.copy()
    return tuple(np.concatenate(v) for v in (out_a, out_b, out_sa, out_sb))


def _fit(v: np.ndarray, floor: float):
    """Chebyshev coefficients of the rows of ``v`` (values at the first-kind points) and how
    far each is from convergence: its last two coefficients over ``_TOL`` times the row's
    largest value or ``floor``, whichever is larger (at most 1: converged; an all-zero row
    gives 0; a row with a value not finite, ``inf``)."""
    with np.errstate(all="ignore"):
        c = np.einsum("pj,cj->pc", np.where(np.isfinite(v), v, 0.0), _DCT)
        scale = np.maximum(np.max(np.abs(v), axis=1), floor)
        tail = np.abs(c[:, -1]) + np.abs(c[:, -2])
        miss = np.where(tail > 0, tail / (_TOL * scale), 0.0)
    return c, np.where(np.all(np.isfinite(v), axis=1), miss, np.inf)


@njit(cache=True, error_model="numpy", nogil=True)
def work_lookup(val, wait, a, b, sa, sb, mode, cN, cO, cS, okN,
                okW):  # pragma: no cover - compiled
    """The tabulated ``(N, O0, S)`` at the levels ``val`` (``O0``, ``S`` where ``wait``,
    else 0) and the mask of the levels left to the exact path (NaN in their rows): outside
    the intervals, within their snap tolerances of a critical value, or on an interval
    whose table did not converge."""
    n = val.size
    N = np.zeros(n)
    O0 = np.zeros(n)
    S = np.zeros(n)
    need = np.zeros(n, dtype=np.bool_)
    p = a.size
    j = 0
    for i in range(n):
        r = val[i]
        if p == 0 or not (r > a[0] and r < b[p - 1]):
            need[i] = True
            continue
        j = _panel_of(r, a, j)
        if r >= b[j] or r - a[j] <= sa[j] or b[j] - r <= sb[j] or not okN[j] \
                or (wait[i] and not okW[j]):
            need[i] = True
            continue
        if mode[j] == 0:
            u = ((r - a[j]) - (b[j] - r)) / (b[j] - a[j])
        elif mode[j] == 1:
            u = 2.0 * np.sqrt((b[j] - r) / (b[j] - a[j])) - 1.0
        else:
            u = 2.0 * np.sqrt((r - a[j]) / (b[j] - a[j])) - 1.0
        N[i] = max(_clenshaw(cN, j, u), 0.0)
        if wait[i]:
            O0[i] = max(_clenshaw(cO, j, u), 0.0)
            S[i] = max(_clenshaw(cS, j, u), 0.0)
    return N, O0, S, need
