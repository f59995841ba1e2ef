"""Many size laws' functions in one call: a point names its law by an index.

:mod:`qtheory.analysis.phiruns` finds the runs of ``Phi`` for all the node laws of
Gittins on the posterior at once (:class:`~qtheory.analysis.posterior_rwork.
SwappedPosteriorAnalysis`: 166 laws), and each of its steps calls the laws' functions
(survival function, density, truncated moments) at a few points a level. One law at a
time, a call cost 40 to 90 us in Python around a compiled table lookup of a few us: most
of a node's time. :class:`LawStack` takes the points of all laws in one call. Where every
law is tabulated on panels (:class:`~qtheory.distributions.posterior.PredictionBucket` and
:class:`~qtheory.distributions.point_posterior.PredictionPoint`), their Chebyshev tables are
joined (panels of law ``n`` at ``off[n]:off[n + 1]``) and looked up in one compiled pass
(:func:`_stack_moments`, :func:`_stack_density`): per point the same compiled function
as the law's own lookup, so the same values bit for bit; the points the tables leave go
to each law's exact path, as the law itself sends them. Other laws are called one law at a
time (the same values too); a stack of both kinds keeps each kind in a stack of its own.

Examples
--------
>>> import numpy as np
>>> import qtheory as qt
>>> st = LawStack([qt.Exponential(mean=1.0), qt.Exponential(mean=2.0)])
>>> st.sf(np.array([0, 1, 1]), np.array([1.0, 1.0, 2.0])).round(6).tolist()
[0.367879, 0.606531, 0.367879]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._threads import concat_chunks, map_chunks
from ..distributions._panelcheb import _one_moment, density_at
from ._illinois import ill_next, ill_step

__all__ = ["LawStack"]


@njit(cache=True, error_model="numpy", nogil=True)
def _stack_moments(idx, x, off, a, b, coef, mode, anchor, lo, hi, tmin, tmax, mass, mom,
                   neg_lo, neg_hi, tail, clip):  # pragma: no cover - compiled (tested
    # through LawStack)
    """:func:`~qtheory.distributions._panelcheb.moments_lookup` with a law a point: point
    ``i`` of law ``idx[i]`` on that law's panels ``off[idx[i]]:off[idx[i] + 1]`` of the
    joined tables, with its scalars ``lo[n]`` etc. Below a trimmed lower end (``neg_lo``)
    a tail moment, and above a trimmed upper end (``neg_hi``) a partial moment, is the
    whole moment, as the family's exact path takes it
    (:meth:`~qtheory.distributions._point_family.Family.moments_exact`, the same
    operations). Returns the values and the mask of the points left to the caller."""
    n = x.size
    out = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    m = -1
    j = 0
    for i in range(n):
        m, o0, o1, j = _law_of(idx, i, off, m, j)
        v, nd, j = _one_moment(x[i], j, a[o0:o1], b[o0:o1], coef[o0:o1], mode[o0:o1],
                               anchor[o0:o1], lo[m], hi[m], tmin[m], tmax[m], mass[m],
                               mom[m], tail, clip)
        if nd and ((tail and x[i] < tmin[m] and neg_lo[m])
                   or (not tail and x[i] >= tmax[m] and neg_hi[m])):
            v = _whole(mass[m], mom[m], clip)
            nd = False
        out[i] = v
        need[i] = nd
    return out, need


@njit(cache=True, error_model="numpy", inline="always")
def _law_of(idx, i, off, last, j):  # pragma: no cover - compiled
    """Point ``i``'s law ``m``, its panels ``o0:o1`` in the joined tables and the panel hint
    (reset where the law changes from ``last``)."""
    m = idx[i]
    return m, off[m], off[m + 1], (j if m == last else 0)


@njit(cache=True, error_model="numpy", nogil=True)
def _stack_density(idx, x, off, a, b, coef, mode, anchor, lo, hi, tmin, tmax,
                   mass):  # pragma: no cover - compiled (tested through LawStack)
    """:func:`~qtheory.distributions._panelcheb.density_lookup` with a law a point (as
    :func:`_stack_moments`), 0 beyond the law's support ``(lo, hi)`` (closed). Returns the
    values and the mask of the points left."""
    n = x.size
    out = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    m = -1
    j = 0
    for i in range(n):
        xi = x[i]
        if np.isnan(xi):
            out[i] = np.nan
            continue
        m, o0, o1, j = _law_of(idx, i, off, m, j)
        if xi < lo[m] or xi > hi[m]:  # (beyond the support: 0, as the law's own)
            out[i] = 0.0
            continue
        v, j = density_at(xi, j, a[o0:o1], b[o0:o1], coef[o0:o1], mode[o0:o1],
                          anchor[o0:o1], tmin[m], tmax[m])
        if np.isnan(v):
            need[i] = True
        out[i] = v / mass[m]
    return out, need


@njit(cache=True, error_model="numpy")
def _whole(mass, mom, clip):  # pragma: no cover - compiled
    """A tail moment below a trimmed lower end (a partial moment above a trimmed upper
    end): the whole moment, as the family's exact path takes it (scalars only: a compiled
    helper taking arrays made the lookups slower)."""
    v = (mass * mom) / mass
    if np.isfinite(mom):
        v = min(v, mom)
    if clip:
        v = min(max(v, 0.0), 1.0)
    return v


@njit(cache=True, error_model="numpy", nogil=True)
def _stack_roots(rows, resume, fres, kind, nd, r, tg, x0, iters, xtol, lo, hi, flo, fhi,
                 side, best, fbest, step, last, it, xp, badp, pend, off, llo, lhi, tmin,
                 tmax, mass, mom0, mom1, neg_lo, neg_hi, s_a, s_b, s_c, s_m, s_n, p_a, p_b,
                 p_c, p_m, p_n, t_a, t_b, t_c, t_m, t_n):  # pragma: no cover - compiled
    """:meth:`LawStack.roots`' brackets ``rows``, each by the Illinois method to its end
    (:func:`~qtheory.analysis.phiruns.illinois`'s steps), its function from the joined
    tables: ``kind`` 0, the inverse hazard less ``r``; 1, ``r - (E[(X - x)^+] + tg) /
    P(X > x)``; 2, the mean remaining size ``E[(X - x)^+] / P(X > x)`` less ``r``. A
    bracket whose point needs a law's exact path stops there (``pend``, its
    point ``xp``); with ``resume``, each of ``rows`` first takes the value ``fres`` at its
    pending point. (The lookups are written out here, not through helpers of
    :func:`_stack_moments` and :func:`_stack_density` taking the tables' arrays: such a
    helper made the roots of N's local minima 0.106 s against 0.081 s under exponential
    noise, the 33rd session.)"""
    for q in range(rows.size):
        i = rows[q]
        m = nd[i]
        o0, o1 = off[m], off[m + 1]
        js = 0
        jp = 0
        jt = 0
        if resume:
            (lo[i], hi[i], flo[i], fhi[i], side[i], best[i], fbest[i], step[i],
             last[i]) = ill_step(xp[i], fres[q], badp[i], lo[i], hi[i], flo[i], fhi[i],
                                 side[i], best[i], fbest[i], step[i], last[i])
            it[i] += 1
            pend[i] = False
        a, b, fa, fb, sd, bx, fbx, stp, lst = (lo[i], hi[i], flo[i], fhi[i], side[i],
                                               best[i], fbest[i], step[i], last[i])
        k = it[i]
        while k < iters:
            state, x, bad = ill_next(a, b, fa, fb, fbx, stp, xtol, k % 16 == 15)
            if state == 2:  # (a secant on an end: the bracket closes there)
                bx = x
                fbx = 0.0
            if state != 1:
                break
            if k == 0 and x0[i] > a and x0[i] < b:
                x = x0[i]
                bad = False
            s, ns, js = _one_moment(x, js, s_a[o0:o1], s_b[o0:o1], s_c[o0:o1], s_m[o0:o1],
                                    s_n[o0:o1], llo[m], lhi[m], tmin[m], tmax[m], mass[m],
                                    mom0[m], True, True)
            if ns and x < tmin[m] and neg_lo[m]:
                s = _whole(mass[m], mom0[m], True)
                ns = False
            if kind == 0:
                if x < llo[m] or x > lhi[m]:
                    p, nq = 0.0, False
                else:
                    p, jp = density_at(x, jp, p_a[o0:o1], p_b[o0:o1], p_c[o0:o1],
                                       p_m[o0:o1], p_n[o0:o1], tmin[m], tmax[m])
                    nq = np.isnan(p)
                    p = p / mass[m]
                f = (s / p if p > 0 else np.inf) - r[i]
            else:
                t1, nq, jt = _one_moment(x, jt, t_a[o0:o1], t_b[o0:o1], t_c[o0:o1],
                                         t_m[o0:o1], t_n[o0:o1], llo[m], lhi[m], tmin[m],
                                         tmax[m], mass[m], mom1[m], True, False)
                if nq and x < tmin[m] and neg_lo[m]:
                    t1 = _whole(mass[m], mom1[m], False)
                    nq = False
                e = t1 - x * s
                if e < 0.0:
                    e = 0.0
                if kind == 2:
                    f = (e / s if s > 0 else 0.0) - r[i]
                elif s > 0:
                    f = r[i] - (e + tg[i]) / s
                elif e + tg[i] > 0:
                    f = -np.inf
                else:
                    f = r[i]
            if ns or nq:
                xp[i] = x
                badp[i] = bad
                pend[i] = True
                break
            a, b, fa, fb, sd, bx, fbx, stp, lst = ill_step(x, f, bad, a, b, fa, fb, sd, bx,
                                                           fbx, stp, lst)
            k += 1
        (lo[i], hi[i], flo[i], fhi[i], side[i], best[i], fbest[i], step[i],
         last[i]) = a, b, fa, fb, sd, bx, fbx, stp, lst
        it[i] = k


def _tabulated(law) -> bool:
    from ..distributions.posterior import PredictionBucket

    if not (isinstance(law, PredictionBucket) and law._use_panels):
        return False
    return all(np.isfinite(law.moment(k)) for k in (1.0, 2.0))


class _Joined:
    """One table (order ``k``, side ``tail``; or the density) of every law, joined."""

    def __init__(self, tabs):
        self.a = np.concatenate([t[0] for t in tabs])
        self.b = np.concatenate([t[1] for t in tabs])
        self.coef = np.ascontiguousarray(np.concatenate([t[2] for t in tabs]))
        self.mode = np.concatenate([t[3] for t in tabs])
        self.anchor = np.concatenate([np.asarray(t[4], dtype=float) for t in tabs])


class LawStack:
    """The functions of the laws ``laws`` at points that each name their law.

    Parameters
    ----------
    laws : sequence of SizeDistribution
        Continuous laws.

    Notes
    -----
    Every method takes ``idx`` (int array: the law of each point) and the points, 1-D
    arrays of one length, and gives what ``laws[idx[i]]``'s own method gives at point
    ``i``, bit for bit (module docstring).
    """

    def __init__(self, laws):
        self.laws = list(laws)
        self.n = len(self.laws)
        tab = np.array([_tabulated(law) for law in self.laws], dtype=bool)
        self.fast = self.n > 0 and bool(tab.all())
        self._joined = {}
        self._trs = [None] * self.n
        self._family = None  # (point posteriors of one size law: _point_family.Family)
        # some laws tabulated, some not (a Weibull 0.5 posterior's lowest predictions have
        # supports below its tables' first age): each kind in its own stack, the tabulated
        # ones in the compiled pass (before, one untabulated law sent all 126 a law at a
        # time: that system's level integrals took 1.3 to 1.7 s, now 0.5 s)
        self._mix = None
        if tab.any() and not tab.all():
            pos = np.empty(self.n, dtype=np.int64)
            pos[tab] = np.arange(int(tab.sum()))
            pos[~tab] = np.arange(int((~tab).sum()))
            parts = (LawStack([v for v, t in zip(self.laws, tab) if t]),
                     LawStack([v for v, t in zip(self.laws, tab) if not t]))
            self._mix = (tab, pos, parts)
            self.lo, self.hi = np.empty(self.n), np.empty(self.n)
            for sel, part in zip((tab, ~tab), parts):
                self.lo[sel], self.hi[sel] = part.lo, part.hi
        elif self.fast:
            self.off = np.zeros(self.n + 1, dtype=np.int64)
            self.off[1:] = np.cumsum([law._edges()[0].size for law in self.laws])
            self.lo = np.array([law._lo for law in self.laws], dtype=float)
            self.hi = np.array([law._hi for law in self.laws], dtype=float)
            self.tmin = np.array([law._tmin for law in self.laws], dtype=float)
            self.tmax = np.array([law._tmax for law in self.laws], dtype=float)
            self.mass = np.array([law.mass for law in self.laws], dtype=float)
            # (tables trimmed above a negligible lower tail: posterior._trimmed)
            self.neg_lo = np.array([bool(getattr(law, "_neg_lo", False))
                                    for law in self.laws])
            self.neg_hi = np.array([bool(getattr(law, "_neg_hi", False))
                                    for law in self.laws])
        else:  # (the supports' ends, for trunc2_narrow)
            sup = np.array([[float(v) for v in law.support] for law in self.laws],
                           dtype=float).reshape(-1, 2)
            self.lo, self.hi = sup[:, 0], sup[:, 1]

    # ------------------------------------------------------------------ plumbing
    def _split(self, name: str, idx, arrays, before=(), after=()):
        """Method ``name`` of the laws that are tabulated and of the others, each kind in
        its own stack (``before`` and ``after`` the law indices and the points), into
        one array."""
        tab, pos, parts = self._mix
        idx = np.asarray(idx, dtype=np.int64).ravel()
        arrays = [np.broadcast_to(np.asarray(a, dtype=float).ravel(), idx.shape)
                  for a in arrays]
        out = np.empty(idx.size)
        t = tab[idx]
        for sel, part in ((t, parts[0]), (~t, parts[1])):
            if sel.any():
                out[sel] = getattr(part, name)(*before, pos[idx[sel]],
                                               *(a[sel] for a in arrays), *after)
        return out

    def _table(self, key):
        hit = self._joined.get(key)
        if hit is None:
            if key == "pdf":
                tabs = [law._density_table() for law in self.laws]
            else:
                tabs = [law._cheb_table(*key) for law in self.laws]
            hit = self._joined[key] = _Joined(tabs)
        return hit

    def _each(self, idx, x, fn):
        """``fn(law, x)`` a law at a time, into one array."""
        idx = np.asarray(idx, dtype=np.int64)
        x = np.asarray(x, dtype=float)
        out = np.empty(x.shape)
        if x.size == 0:
            return out
        if self.n == 1:
            out[:] = fn(self.laws[0], x)
            return out
        order = np.argsort(idx, kind="stable")
        ids = idx[order]
        cut = np.flatnonzero(np.diff(ids)) + 1
        for grp in np.split(order, cut):
            with np.errstate(all="ignore"):
                out[grp] = fn(self.laws[int(idx[grp[0]])], x[grp])
        return out

    def _moments(self, k: float, idx, x, tail: bool, clip: bool = False):
        if self._mix is not None:
            return self._split("_moments", idx, (x,), (k,), (tail, clip))
        x = np.ascontiguousarray(np.asarray(x, dtype=float))
        idx = np.ascontiguousarray(np.asarray(idx, dtype=np.int64))
        if not self.fast:
            if k == 0.0 and tail and clip:
                return self._each(idx, x, lambda law, v: law.sf(v))
            name = "tail_moment" if tail else "partial_moment"
            return self._each(idx, x, lambda law, v: getattr(law, name)(k, v))
        t = self._table((k, tail))
        mom = self._moms(k)
        # (row by row: a large call in chunks on the thread pool, _threads)
        out, need = concat_chunks(lambda s: _stack_moments(
            idx[s], x[s], self.off, t.a, t.b, t.coef, t.mode, t.anchor, self.lo, self.hi,
            self.tmin, self.tmax, self.mass, mom, self.neg_lo, self.neg_hi, tail, clip),
            x.size, (0, 0))
        if need.any():
            at = np.flatnonzero(need)
            fam = self._fam()
            if fam:  # (point posteriors of one size law: their quadratures together)
                rest = fam.moments_exact(k, idx[at], x[at], tail, mom[idx[at]])
                out[at] = np.clip(rest, 0.0, 1.0) if clip else rest
                return out

            def exact(law, v):
                rest = law._moments_exact(k, v, tail, law.moment(k))
                return np.clip(rest, 0.0, 1.0) if clip else rest

            out[at] = self._each(idx[at], x[at], exact)
        return out

    def _fam(self):
        """The laws' :class:`~qtheory.distributions._point_family.Family` where they are
        point posteriors of one size law, else ``False``."""
        if self._family is None:
            from ..distributions._point_family import family_of

            self._family = family_of(self.laws) or False
        return self._family

    def _moms(self, k: float) -> np.ndarray:
        key = ("mom", k)
        hit = self._joined.get(key)
        if hit is None:
            hit = self._joined[key] = np.array([law.moment(k) for law in self.laws])
        return hit

    # ------------------------------------------------------------------ the functions
    def sf(self, idx, x):
        """``P(X > x)``."""
        return self._moments(0.0, idx, x, True, True)

    def pdf(self, idx, x):
        """The density."""
        if self._mix is not None:
            return self._split("pdf", idx, (x,))
        x = np.ascontiguousarray(np.asarray(x, dtype=float))
        idx = np.ascontiguousarray(np.asarray(idx, dtype=np.int64))
        if not self.fast:
            return self._each(idx, x, lambda law, v: law.pdf(v))
        t = self._table("pdf")
        out, need = concat_chunks(lambda s: _stack_density(
            idx[s], x[s], self.off, t.a, t.b, t.coef, t.mode, t.anchor, self.lo, self.hi,
            self.tmin, self.tmax, self.mass), x.size, (0, 0))
        if need.any():
            at = np.flatnonzero(need)
            fam = self._fam()
            if fam:  # (point posteriors of one size law: all at once)
                out[at] = fam.pdf_exact(idx[at], x[at])
            else:
                out[at] = self._each(idx[at], x[at], lambda law, v: law._pdf_exact(v))
        return out

    def partial_moment(self, k: float, idx, x):
        """``E[X**k; X <= x]``."""
        return self._moments(float(k), idx, x, False)

    def tail_moment(self, k: float, idx, x):
        """``E[X**k; X > x]``."""
        return self._moments(float(k), idx, x, True)

    def inverse_hazard(self, idx, x):
        """``P(X > x) / f(x)`` (``inf`` where the density is 0)."""
        with np.errstate(all="ignore"):
            s = self.sf(idx, x)
            p = self.pdf(idx, x)
            return np.where(p > 0, s / p, np.inf)

    def eplus(self, idx, x):
        """``(E[(X - x)^+], P(X > x))``: ``E[X; X > x] - x P(X > x)`` from the tail moment
        (no cancellation against the mean in the upper tail), at least 0."""
        x = np.asarray(x, dtype=float)
        s = self.sf(idx, x)
        with np.errstate(all="ignore"):
            out = self.tail_moment(1.0, idx, x) - x * s
        return np.maximum(out, 0.0), s

    def root_values(self, kind: str, idx, x, r, target=None) -> np.ndarray:
        """The functions :meth:`roots` solves, at the points ``x`` of the laws ``idx``:
        ``"ihaz"``, the inverse hazard less ``r``; ``"start"``, ``r - (E[(X - x)^+] +
        target) / P(X > x)`` (``-inf`` where ``P(X > x) = 0 < E[(X - x)^+] + target``, else
        ``r`` there); ``"mres"``, the mean remaining size ``E[(X - x)^+] / P(X > x)`` (0
        where ``P(X > x) = 0``) less ``r``. (The compiled twin, :func:`_stack_roots`, takes
        the same operations from the joined tables.)"""
        if kind == "ihaz":
            return self.inverse_hazard(idx, x) - r
        e, s = self.eplus(idx, x)
        with np.errstate(all="ignore"):
            if kind == "mres":
                return np.where(s > 0, e / s, 0.0) - r
            v = r - (e + target) / s
        return np.where(s > 0, v, np.where(e + target > 0, -np.inf, r))

    def roots(self, kind: str, idx, lo, hi, flo, fhi, r, target=None, x0=None,
              iters: int = 80, xtol: float = 1e-14) -> np.ndarray:
        """Roots by :func:`~qtheory.analysis.phiruns.illinois` (the same steps and
        arguments, bit for bit) of a function of law ``idx[i]`` in each bracket ``[lo[i],
        hi[i]]``: ``kind="ihaz"``, the inverse hazard less ``r``; ``kind="start"``, ``r -
        (E[(X - x)^+] + target) / P(X > x)`` (``-inf`` where ``P(X > x) = 0 <
        E[(X - x)^+] + target``, else ``r`` there). Where every law is tabulated, each
        bracket goes to its end in one compiled pass (:func:`_stack_roots`), the rows in
        chunks on the thread pool, with a Python call only for the points the tables
        leave to a law's exact path; else :func:`~qtheory.analysis.phiruns.illinois`
        with the same function."""
        idx = np.ascontiguousarray(np.asarray(idx, dtype=np.int64))
        r = np.ascontiguousarray(np.broadcast_to(np.asarray(r, dtype=float), idx.shape))
        tg = np.zeros(idx.size) if target is None else \
            np.ascontiguousarray(np.asarray(target, dtype=float))
        code = {"ihaz": 0, "start": 1, "mres": 2}.get(kind)
        if code is None:
            raise ValueError(f"kind must be 'ihaz', 'start' or 'mres', got {kind!r}")

        def fun(x, sel):
            return self.root_values(kind, idx[sel], x, r[sel], tg[sel])

        if not self.fast:
            from .phiruns import illinois

            return illinois(fun, lo, hi, flo, fhi, iters=iters, xtol=xtol, x0=x0)
        lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
        flo, fhi = np.array(flo, dtype=float), np.array(fhi, dtype=float)
        n = lo.size
        best = np.where(np.abs(flo) <= np.abs(fhi), lo, hi)
        fbest = np.minimum(np.abs(flo), np.abs(fhi))
        side = np.zeros(n, dtype=np.int8)
        step = np.full(n, np.inf)
        last = np.full(n, np.nan)
        it = np.zeros(n, dtype=np.int64)
        xp = np.zeros(n)
        badp = np.zeros(n, dtype=np.bool_)
        pend = np.zeros(n, dtype=np.bool_)
        x0 = np.full(n, np.nan) if x0 is None else \
            np.ascontiguousarray(np.asarray(x0, dtype=float))
        ts, tp, tt = self._table((0.0, True)), self._table("pdf"), self._table((1.0, True))
        m0, m1 = self._moms(0.0), self._moms(1.0)
        rows = np.arange(n)
        fres = np.zeros(0)
        resume = False
        while rows.size:
            def run(s, rows=rows, fres=fres, resume=resume):
                _stack_roots(rows[s], resume, fres[s] if resume else fres,
                             code, idx, r, tg, x0, iters, xtol, lo, hi,
                             flo, fhi, side, best, fbest, step, last, it, xp, badp, pend,
                             self.off, self.lo, self.hi, self.tmin, self.tmax, self.mass, m0,
                             m1, self.neg_lo, self.neg_hi, ts.a, ts.b, ts.coef, ts.mode,
                             ts.anchor, tp.a, tp.b, tp.coef, tp.mode, tp.anchor, tt.a, tt.b,
                             tt.coef, tt.mode, tt.anchor)
                return ()

            map_chunks(run, rows.size)
            rows = np.flatnonzero(pend)
            if rows.size:  # (the exact paths, all together)
                fres = np.asarray(fun(xp[rows], rows), dtype=float)
                resume = True
        return best

    def tr(self, n: int):
        """Law ``n``'s exact truncated moments (:class:`~qtheory.analysis.agerank._Law`)."""
        if self._trs[n] is None:
            from .agerank import _Law

            self._trs[n] = _Law(self.laws[n])
        return self._trs[n]

    def emin(self, idx, c):
        """``E[min(X, c)]`` (``c`` may be inf), as :meth:`~qtheory.analysis.agerank._Law.
        emin`."""
        c = np.asarray(c, dtype=float)
        fin = np.isfinite(c)
        cc = np.where(fin, np.maximum(c, 0.0), 0.0)
        with np.errstate(invalid="ignore"):
            val = self.partial_moment(1.0, idx, cc) + cc * self.sf(idx, cc)
        return np.where(fin, val, self._moms(1.0)[idx])

    def trunc2(self, idx, b, c):
        """``E[((min(X, c) - b)^+)^2]`` for ``b <= c`` (``c`` may be inf), as
        :meth:`~qtheory.analysis.agerank._Law.trunc2` computes it (the same steps on the
        joined tables, the side of the moments' differences chosen by ``P(X > b) <= 1/2``
        rather than by the median: the same but within rounding of the median; other laws
        a law at a time)."""
        if self._mix is not None:
            return self._split("trunc2", idx, (b, c))
        b = np.asarray(b, dtype=float).ravel()
        c = np.asarray(c, dtype=float).ravel()
        idx = np.asarray(idx, dtype=np.int64).ravel()
        out = np.zeros(b.size)
        if b.size == 0:
            return out
        if not self.fast:
            order = np.argsort(idx, kind="stable")
            cut = np.flatnonzero(np.diff(idx[order])) + 1
            for grp in np.split(order, cut):
                out[grp] = self.tr(int(idx[grp[0]])).trunc2(b[grp], c[grp])
            return out
        tail = ~np.isfinite(c)
        with np.errstate(all="ignore"):
            if tail.any():
                it, bt = idx[tail], b[tail]
                sfb = self.sf(it, bt)
                t1 = self._moments(1.0, it, bt, True)
                t2 = self._moments(2.0, it, bt, True)
                out[tail] = np.maximum(t2 - 2.0 * bt * t1 + bt * bt * sfb, 0.0)
            fin = ~tail
            if fin.any():
                i_f, bf, cf = idx[fin], b[fin], c[fin]
                # at or above the median (_Law's side; P(X > b) <= 1/2 there, which
                # needs no median: computing one took 0.3 ms a law)
                upper = self.sf(i_f, bf) <= 0.5
                # (below a trimmed lower end a partial moment is below 2**-60 of the
                # moment, 1e-30 with Gittins on the posterior's node laws: taken as 0 in
                # the difference, not by a quadrature over the noise a point)
                low = self.neg_lo[i_f] & (bf < self.tmin[i_f])
                d = []
                for k in (0.0, 1.0, 2.0):
                    mb = np.zeros(bf.size)
                    if not low.all():
                        at = np.flatnonzero(~low)
                        mb[at] = self._moments(k, i_f[at], bf[at], False)
                    dk = self._moments(k, i_f, cf, False) - mb
                    if upper.any():
                        iu = np.flatnonzero(upper)
                        dk[iu] = (self._moments(k, i_f[iu], bf[iu], True)
                                  - self._moments(k, i_f[iu], cf[iu], True))
                    d.append(dk)
                w2 = np.maximum(d[2] - 2.0 * bf * d[1] + bf * bf * d[0], 0.0)
                out[fin] = w2 + (cf - bf) ** 2 * self.sf(i_f, cf)
        return self.trunc2_narrow(idx, b, c, out)

    def trunc2_narrow(self, idx, b, c, out):
        """``out`` (the values of :meth:`trunc2` from the moments' differences) with the
        narrow intervals' values put in: those ``[b, min(c, end)]`` narrower than 1/64 of
        ``b``, by the density's quadrature where its two rules agree
        (:meth:`~qtheory.analysis.agerank._Law._trunc2_narrow`'s steps)."""
        from .agerank import _EPS, _GL16, _NARROW

        end = np.minimum(c, self.hi[idx])
        narrow = (b > 0) & (end - b < _NARROW * b) & (end > b)
        if narrow.any():
            at = np.flatnonzero(narrow)
            bn, cn, en, i_n = b[at], c[at], end[at], idx[at]
            x, w = _GL16
            u = np.concatenate([0.5 * (1.0 + x), 0.25 * (1.0 + x), 0.25 * (3.0 + x)])
            dd = (en - bn)[:, None] * u[None, :]
            pts = bn[:, None] + dd
            f = dd * dd * self.pdf(np.repeat(i_n, u.size), pts.ravel()).reshape(pts.shape)
            m = x.size
            whole = (f[:, :m] @ w) * (0.5 * (en - bn))
            halves = (f[:, m:2 * m] @ w + f[:, 2 * m:] @ w) * (0.25 * (en - bn))
            good = np.abs(whole - halves) <= 1e-12 * np.abs(halves) \
                + 64.0 * _EPS * (en - bn) ** 2
            inner = cn < self.hi[i_n]
            if inner.any():
                halves[inner] += (cn[inner] - bn[inner]) ** 2 * self.sf(i_n[inner], cn[inner])
            ok = good
            out[at[ok]] = halves[ok]
        return out
