"""Gittins and SERPT ranks of a known size law, as :class:`~qtheory.analysis.agerank.AgeRank`.

Both policies see only a job's age ``a`` and the size law X.

* **SERPT** (shortest expected remaining processing time) ranks a job by its mean residual size
  ``m(a) = E[X - a | X > a] = E[(X - a)^+] / P(X > a)``.
* **Gittins** ranks a job by the inverse of its Gittins index (J. C. Gittins, *Multi-armed
  Bandit Allocation Indices*, Wiley 1989; S. Aalto, U. Ayesta and R. Righter, "On the Gittins
  index in the M/G/1 queue", Queueing Systems 63 (2009) 437-458, eq. (4)-(5)):

      G(a) = inf_{b > a} J(a, b),   J(a, b) = int_a^b P(X > t) dt / P(a < X <= b),

  the least expected service per completion over all service quanta ``b - a``. It minimises the
  mean response time among policies that do not know the sizes; Z. Scully, M. Harchol-Balter and
  A. Scheller-Wolf, "SOAP", POMACS 2(1) 2018, Section 5, analyse it with their Theorem 5.5
  (:class:`~qtheory.analysis.agerank.AgeRankAnalysis`).

Structure used to get the monotone pieces exactly (Aalto et al. 2009, Section 3): the limit
``b -> a+`` of ``J`` is ``1/h(a)`` (``h`` the hazard rate) and ``b -> inf`` gives ``m(a)``; by
the envelope theorem ``G' = (f(a) / P(a < X <= b*)) (G - 1/h(a)) <= 0`` wherever the optimal
quantum ``b* > a``, so ``G`` decreases there, and elsewhere ``G = 1/h`` on a stretch where
``1/h`` increases. Hence ``G`` alternates between *hazard* pieces (``G = 1/h``, increasing: FB
behaviour), *residual* pieces (``b* = inf``, ``G = m``, decreasing: FCFS behaviour) and
*interior* pieces (finite ``b* > a``, decreasing). Consequences tested in
``tests/test_agerank.py``: exponential sizes give a constant rank (FCFS); decreasing hazard
rates give ``G = 1/h`` increasing (FB); increasing hazard rates give ``G = m`` decreasing
(FCFS).

Discrete laws (``Discrete``, ``Empirical``, ``Deterministic``) are done exactly: between two
atoms ``P(X > a)`` is constant, so every ``J(a, b)`` (only ``b`` at atoms matter) is linear in
``a`` and ``G`` is the lower envelope of finitely many decreasing lines: piecewise linear,
concave and decreasing between atoms, jumping at the atoms. ``m`` is linear with slope -1 there.

Continuous laws: the regimes are found on a grid of ages (``J`` minimised over a logarithmic
grid of quanta and refined by golden-section search), their ends by bisection. Hazard and
residual pieces use their closed forms ``P(X > a)/f(a)`` and ``E[(X - a)^+]/P(X > a)``; interior
pieces are adaptive Chebyshev interpolants of ``G`` (relative accuracy about ``1e-13``). Beyond
the age ``A`` where ``P(X > A) <= 1e-15`` the rank is held constant. Laws wrapped from scipy
work but are slow (their partial moments are numerical).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev as _cheb
from numpy.polynomial import legendre as _leg

from ..distributions.base import SizeDistribution
from .agerank import AgeRank, RankPiece

__all__ = ["gittins_rank", "serpt_rank"]

_EPS = float(np.finfo(float).eps)
_TAU = np.geomspace(1e-8, 1e6, 99)  # quanta b - a, in units of (a + median)
_ZREL = np.geomspace(1e-15, 1e-2, 27)  # quanta ending just past a breakpoint, relative
_GL_X, _GL_W = _leg.leggauss(16)
_FLAT = 1e-12  # relative gap below which two candidates are a tie
_NOISE = 1e-13  # absolute rounding of a tail ratio, in units of E[X] / P(X > a)
_CHEB_TOL = 1e-12


def _check_size(size):
    if not isinstance(size, SizeDistribution):
        raise ValueError(f"size: expected a SizeDistribution, got {type(size).__name__}")
    m1 = float(size.moment(1))
    if not np.isfinite(m1):
        raise ValueError("size: the Gittins and SERPT ranks need a finite mean size")
    return m1


# ============================================================================ discrete laws
def _tails(p):
    """P(X > v_j) for sorted atoms with masses p, as exact suffix sums."""
    T = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])
    return T


def _lower_envelope(c, m, width):
    """Pieces ``(offset, value, slope)`` of ``min_j c_j + m_j t`` on ``[0, width)``; ``m``
    increasing in j."""
    out = []
    t = 0.0
    vals = c + m * t
    cur = int(np.flatnonzero(vals == vals.min())[0])  # ties: the most negative slope
    while True:
        out.append((t, float(c[cur] + m[cur] * t), float(m[cur])))
        if cur == 0:
            break
        j = np.arange(cur)
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = (c[j] - c[cur]) / (m[cur] - m[j])
        cross = np.where(np.isfinite(cross) & (cross > t), cross, np.inf)
        k = int(np.argmin(cross))
        tk = float(cross[k])
        if not tk < width:
            break
        # among lines crossing at tk take the one with the most negative slope
        cur = int(np.flatnonzero(cross == tk)[0])
        t = tk
    return out


def _gittins_discrete(size) -> AgeRank:
    v, p = (np.asarray(z, dtype=float) for z in size.atoms)
    T = _tails(p)
    pieces = []
    for i in range(v.size):
        a0 = 0.0 if i == 0 else float(v[i - 1])
        a1 = float(v[i])
        if not a1 > a0:
            continue
        s = float(p[i:].sum())  # P(X > a) for a in [a0, a1)
        B = np.cumsum(p[i:])  # P(a < X <= v_j)
        A = np.cumsum(p[i:] * (v[i:] - a0)) + (v[i:] - a0) * T[i:]  # E[min(X, v_j) - a0; X > a0]
        c, m = A / B, -s / B
        for off, val, slope in _lower_envelope(c, m, a1 - a0):
            pieces.append((a0 + off, val, slope))
    out = []
    starts = [q[0] for q in pieces] + [float(v[-1])]
    for (st, val, slope), end in zip(pieces, starts[1:]):
        if end > st:
            out.append(RankPiece(st, end, value=val, slope=slope))
    out.append(RankPiece(float(v[-1]), np.inf, value=0.0))
    return AgeRank(out, name="Gittins", age_hint=float(v[-1]))


def _serpt_discrete(size) -> AgeRank:
    v, p = (np.asarray(z, dtype=float) for z in size.atoms)
    out = []
    for i in range(v.size):
        a0 = 0.0 if i == 0 else float(v[i - 1])
        a1 = float(v[i])
        if not a1 > a0:
            continue
        s = float(p[i:].sum())
        m0 = float(np.sum(p[i:] * (v[i:] - a0)) / s)
        out.append(RankPiece(a0, a1, value=m0, slope=-1.0))
    out.append(RankPiece(float(v[-1]), np.inf, value=0.0))
    return AgeRank(out, name="SERPT", age_hint=float(v[-1]))


# ============================================================================ continuous laws
class _Law:
    """Vectorised survival quantities of a continuous law, each without cancellation where
    it matters for the ratios J(a, b)."""

    def __init__(self, size: SizeDistribution):
        self.s = size
        self.m1 = float(size.moment(1))
        self.med = float(size.scale)
        lo, hi = size.support
        self.lo, self.hi = float(lo), float(hi)
        self.bps = np.array(sorted({float(b) for b in size.breakpoints if b > 0}))
        A = max(self.med, 1e-300)
        if np.isfinite(self.hi):
            A = self.hi
        else:
            for _ in range(3000):
                with np.errstate(all="ignore"):
                    sf = float(size.sf(A))
                    tm = float(size.tail_moment(1, A))
                if (sf <= 1e-15 and tm <= 1e-15 * self.m1) or A > 1e100:
                    break
                A *= 1.5
        self.A = A
        # the last age at which the closed forms are evaluated (0/0 at a finite support end)
        self.cap = float(np.nextafter(A, 0.0)) if np.isfinite(self.hi) else A

    def last_value(self, fun):
        v = float(np.asarray(fun(np.array([self.cap])), dtype=float)[0])
        return v if np.isfinite(v) else 0.0

    def sf(self, x):
        return np.asarray(self.s.sf(x), dtype=float)

    def cdf(self, x):
        return np.asarray(self.s.cdf(x), dtype=float)

    def pdf(self, x):
        return np.asarray(self.s.pdf(x), dtype=float)

    def emin(self, c):
        """E[min(X, c)]."""
        c = np.asarray(c, dtype=float)
        return np.asarray(self.s.partial_moment(1, c), dtype=float) + c * self.sf(c)

    def resid(self, a):
        """E[(X - a)^+]."""
        a = np.asarray(a, dtype=float)
        with np.errstate(all="ignore"):
            up = np.asarray(self.s.tail_moment(1, a), dtype=float) - a * self.sf(a)
            low = self.m1 - self.emin(a)
        return np.maximum(np.where(a >= self.med, up, low), 0.0)

    def hazard_inv(self, a):
        """1 / hazard = P(X > a) / f(a) (inf where f = 0)."""
        a = np.asarray(a, dtype=float)
        with np.errstate(all="ignore"):
            f, s = self.pdf(a), self.sf(a)
            return np.where(f > 0, s / f, np.inf)

    def mrl(self, a):
        """Mean residual size E[X - a | X > a]."""
        a = np.asarray(a, dtype=float)
        with np.errstate(all="ignore"):
            return self.resid(a) / self.sf(a)

    def _narrow(self, a, b):
        """Windows (a, b] short against a and against the local scales (1/hazard, mean
        residual) at a and at the breakpoints inside: integrated by Gauss-Legendre."""
        w = b - a
        ok = (a > 0) & (w <= 0.125 * a)
        if not np.any(ok):
            return ok
        with np.errstate(all="ignore"):
            ok &= w <= 0.125 * np.minimum(self.hazard_inv(a), self.mrl(a))
            for z in self.bps:
                inside = (a < z) & (z < b)
                if np.any(inside):
                    zz = np.full(1, z)
                    loc = min(float(self.hazard_inv(zz)[0]), float(self.mrl(zz)[0]))
                    ok &= ~inside | (w <= 0.125 * loc)
        return ok

    def _gl(self, f, a, b):
        """int_a^b f by 16-point Gauss-Legendre on each piece between the breakpoints."""
        cuts = [a] + [np.clip(z, a, b) for z in self.bps] + [b]
        e = np.sort(np.stack(cuts, axis=-1), axis=-1)
        lo, hi = e[..., :-1], e[..., 1:]
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        x = mid[..., None] + half[..., None] * _GL_X
        with np.errstate(all="ignore"):
            vals = np.where(half[..., None] > 0, f(x), 0.0)
        return np.sum(half * np.sum(_GL_W * vals, axis=-1), axis=-1)

    def J(self, a, b):
        """J(a, b) = int_a^b P(X > t) dt / P(a < X <= b) (broadcast)."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        shape = a.shape
        a, b = a.ravel(), b.ravel()
        with np.errstate(all="ignore"):
            up = a >= self.med
            num = np.where(up, self.resid(a) - self.resid(b), self.emin(b) - self.emin(a))
            den = np.where(up, self.sf(a) - self.sf(b), self.cdf(b) - self.cdf(a))
            nar = self._narrow(a, b)
            if np.any(nar):
                an, bn = a[nar], b[nar]
                num[nar] = self._gl(self.sf, an, bn)
                den[nar] = self._gl(self.pdf, an, bn)
            out = np.where(den > 0, num / den, np.inf)
        return out.reshape(shape)

    # ---------------------------------------------------------------- the Gittins rank
    def interior(self, a):
        """min over b in (a, inf) of J(a, b) on a grid of quanta refined by golden section:
        ``(value, b)``; ``inf`` where no interior quantum beats the ends of the grid."""
        a = np.asarray(a, dtype=float).ravel()
        base = a + self.med
        d = base[:, None] * _TAU[None, :]
        b = a[:, None] + d
        # quanta ending just past a breakpoint above a (where the density may jump up: the
        # optimum can sit there, e.g. just below the lower end of the support)
        for z in self.bps:
            zb = z * (1.0 + _ZREL)
            b = np.concatenate([b, np.where(z > a[:, None], zb[None, :], b[:, -1:])], axis=1)
        b.sort(axis=1)
        if np.isfinite(self.hi):
            b = np.minimum(b, self.hi)
        Jv = self.J(a[:, None], b)
        best = np.full(a.size, np.inf)
        bstar = np.full(a.size, np.nan)
        inner = Jv[:, 1:-1]
        is_min = (inner <= Jv[:, :-2]) & (inner <= Jv[:, 2:]) & np.isfinite(inner)
        # the two lowest interior local minima of each row
        cand = np.where(is_min, inner, np.inf)
        order = np.argsort(cand, axis=1)[:, :2]
        invphi = (np.sqrt(5.0) - 1.0) / 2.0
        for col in range(order.shape[1]):
            k = order[:, col] + 1
            ok = np.isfinite(cand[np.arange(a.size), k - 1])
            if not np.any(ok):
                continue
            rows = np.nonzero(ok)[0]
            ar = a[rows]
            lo = np.log(b[rows, k[rows] - 1] - ar)
            hi = np.log(b[rows, k[rows] + 1] - ar)
            c1 = hi - invphi * (hi - lo)
            c2 = lo + invphi * (hi - lo)
            f1 = self.J(ar, ar + np.exp(c1))
            f2 = self.J(ar, ar + np.exp(c2))
            for _ in range(40):  # bracket 1e-8 of its width: G to ~1e-16 (flat optimum)
                left = f1 <= f2
                hi = np.where(left, c2, hi)
                lo = np.where(left, lo, c1)
                n1 = np.where(left, hi - invphi * (hi - lo), c2)
                n2 = np.where(left, c1, lo + invphi * (hi - lo))
                fn1 = np.where(left, np.nan, f2)
                fn2 = np.where(left, f1, np.nan)
                new = np.where(left, n1, n2)
                fv = self.J(ar, ar + np.exp(new))
                f1 = np.where(left, fv, fn1)
                f2 = np.where(left, fn2, fv)
                c1, c2 = n1, n2
            val = np.minimum(f1, f2)
            bb = ar + np.exp(np.where(f1 <= f2, c1, c2))
            # keep the grid minimum if golden section wandered (it never should)
            gval = Jv[rows, k[rows]]
            use_grid = ~(val <= gval)
            val = np.where(use_grid, gval, val)
            bb = np.where(use_grid, b[rows, k[rows]], bb)
            better = val < best[rows]
            best[rows[better]] = val[better]
            bstar[rows[better]] = bb[better]
        # quanta ending at the law's breakpoints (kinks of J in b)
        for z in self.bps:
            m = z > a
            if np.any(m):
                jz = self.J(a[m], np.full(int(m.sum()), z))
                better = jz < best[m]
                idx = np.nonzero(m)[0][better]
                best[idx] = jz[better]
                bstar[idx] = z
        return best, bstar

    def classify(self, a):
        """``(G, label)`` with labels 0 hazard, 1 residual, 2 interior, -1 tie (unresolved)."""
        a = np.asarray(a, dtype=float).ravel()
        H = self.hazard_inv(a)
        M = self.mrl(a)
        Iv, _ = self.interior(a)
        # an interior optimum that ties with an end of the quantum range is that end
        # (b* -> a: hazard; b* -> inf: residual)
        # the candidates are ratios of tail integrals to P(X > a): near the end of a
        # bounded support their absolute error grows like eps E[X] / P(X > a), so a gap
        # below that is a tie too (else rounding noise reads as an interior optimum)
        with np.errstate(invalid="ignore", divide="ignore"):
            noise = _NOISE * self.m1 / np.maximum(self.sf(a), 1e-300)
            tie_end = ((np.isfinite(M) & (np.abs(Iv - M) <= _FLAT * np.abs(M) + noise))
                       | (np.isfinite(H) & (np.abs(Iv - H) <= _FLAT * np.abs(H) + noise)))
        Iv = np.where(tie_end, np.inf, Iv)
        cands = np.stack([H, M, Iv], axis=1)
        cands = np.where(np.isnan(cands), np.inf, cands)
        lab = np.argmin(cands, axis=1)
        G = cands[np.arange(a.size), lab]
        srt = np.sort(cands, axis=1)
        gap = (srt[:, 1] - srt[:, 0]) / np.maximum(np.abs(srt[:, 0]), 1e-300)
        lab = np.where(gap <= _FLAT, -1, lab)
        return G, lab

    def gittins(self, a):
        G, _ = self.classify(a)
        return G


def _grid(law: _Law, n_per_decade: int = 20):
    lo = 1e-7 * law.med
    A = law.A
    nd = max(1.0, np.log10(A / lo))
    g = [np.array([0.0]), np.geomspace(lo, A, int(n_per_decade * nd) + 1)]
    if np.isfinite(law.hi):
        span = law.hi - max(law.lo, 0.0)
        g.append(law.hi - span * np.geomspace(1e-10, 1.0, 60))
    for z in law.bps:
        g.append(np.array([z, np.nextafter(z, 0.0), z * (1 - 1e-9), z * (1 + 1e-9)]))
    g = np.unique(np.concatenate(g))
    return g[(g >= 0) & (g < A)]


def _runs(lab):
    """Resolve ties (label -1) to the previous resolved label (or the next one at the start);
    return the labels and the indices where they change."""
    lab = lab.copy()
    res = np.nonzero(lab >= 0)[0]
    if res.size == 0:
        return None
    lab[: res[0]] = lab[res[0]]
    for i in range(1, lab.size):
        if lab[i] < 0:
            lab[i] = lab[i - 1]
    return lab


def _bisect_label(law: _Law, lo, hi, lab_lo, lab_hi):
    """Age in (lo, hi] where the regime changes from lab_lo to lab_hi (31-section search:
    each round classifies 31 ages at once)."""
    for _ in range(40):
        if not hi > lo or hi - lo <= 4.0 * _EPS * hi:
            break
        if lo > 0 and hi > 16 * lo:
            z = np.geomspace(lo, hi, 33)[1:-1]
        else:
            z = np.linspace(lo, hi, 33)[1:-1]
        _, lab = law.classify(z)
        hit = np.nonzero(lab == lab_hi)[0]
        k = int(hit[0]) if hit.size else z.size
        lo = float(z[k - 1]) if k > 0 else lo
        hi = float(z[k]) if k < z.size else hi
    return hi


class _ChebFunc:
    """A Chebyshev interpolant in ``a`` or in ``sqrt(hi - a)`` / ``sqrt(a - lo)`` (for a
    square-root endpoint behaviour, e.g. the Gittins rank just below the lower end of a Pareto
    law's support)."""

    def __init__(self, cheb, lo, hi, mode):
        self.cheb, self.lo, self.hi, self.mode = cheb, lo, hi, mode

    def __call__(self, a):
        a = np.asarray(a, dtype=float)
        if self.mode == 0:
            return self.cheb(a)
        if self.mode == 1:
            return self.cheb(np.sqrt(np.maximum(self.hi - a, 0.0)))
        return self.cheb(np.sqrt(np.maximum(a - self.lo, 0.0)))


def _fit(f, lo, hi):
    """A converged interpolant of ``f`` on [lo, hi], or ``(None, last try)``."""
    w = np.sqrt(hi - lo)
    tries = [(0, f, (lo, hi)),
             (1, lambda z: f(hi - z * z), (0.0, w)),
             (2, lambda z: f(lo + z * z), (0.0, w))]
    last = None
    for mode, g, dom in tries:
        for deg in (32, 48):
            c = _cheb.Chebyshev.interpolate(g, deg, domain=list(dom))
            last = _ChebFunc(c, lo, hi, mode)
            scale = max(float(np.max(np.abs(c.coef[:4]))), 1e-300)
            if np.max(np.abs(c.coef[-4:])) <= _CHEB_TOL * scale:
                return last, True
    return last, False


def _cheb_pieces(f, a, b):
    """Adaptive Chebyshev interpolants of ``f`` on [a, b]: list of (a, b, callable).

    An interval is accepted when the last coefficients of its degree-32 (or 48) interpolant,
    in ``a`` or in the square root of the distance to one of its ends, are below
    ``_CHEB_TOL`` times its largest value; else it is halved (geometrically where it spans
    decades), down to a relative width of ``1e-10``, at most 200 intervals."""
    out, todo = [], [(float(a), float(b), 0)]
    while todo:
        lo, hi, depth = todo.pop()
        fn, ok = _fit(f, lo, hi)
        tiny = (hi - lo) <= 1e-10 * max(abs(hi), 1e-300)
        if ok or tiny or depth >= 60 or len(out) + len(todo) >= 200:
            out.append((lo, hi, fn))
            continue
        mid = np.sqrt(lo * hi) if (lo > 0 and hi > 8 * lo) else 0.5 * (lo + hi)
        todo.append((mid, hi, depth + 1))
        todo.append((lo, mid, depth + 1))
    out.sort(key=lambda z: z[0])
    return out


def _closed(fun, cap_age):
    """A closed-form rank held constant beyond ``cap_age``."""

    def f(a):
        a = np.asarray(a, dtype=float)
        return fun(np.minimum(a, cap_age))

    return f


def _gittins_continuous(size) -> AgeRank:
    law = _Law(size)
    grid = _grid(law)
    G, lab = law.classify(grid)
    scale = np.max(np.abs(G[np.isfinite(G)]))
    fin = np.isfinite(G)
    spread = (np.max(G[fin]) - np.min(G[fin])) / max(scale, 1e-300)
    lab = _runs(lab)
    if lab is None or spread <= 1e-12:  # all candidates tie: a constant rank (exponential)
        return AgeRank.constant(float(np.median(G[fin])), name="Gittins")
    # regime boundaries
    bounds = [0.0]
    labels = [int(lab[0])]
    for i in range(1, grid.size):
        if lab[i] != lab[i - 1]:
            z = _bisect_label(law, grid[i - 1], grid[i], int(lab[i - 1]), int(lab[i]))
            if z >= law.A * (1.0 - 1e-9):  # at the end of the range: nothing left to rank
                continue
            if z > bounds[-1]:
                bounds.append(float(z))
                labels.append(int(lab[i]))
            else:
                labels[-1] = int(lab[i])
    # a regime also ends at the law's breakpoints (kinks of the closed forms)
    A = law.A
    spans = []
    edges = [*bounds, A]
    for (s, e), lb in zip(zip(edges[:-1], edges[1:]), labels):
        cuts = [s, *[z for z in law.bps if s < z < e], e]
        spans += [(s2, e2, lb) for s2, e2 in zip(cuts[:-1], cuts[1:]) if e2 > s2]
    # a regime boundary a few ulps from a breakpoint leaves a sliver whose (ill-determined)
    # value would still count in the sup of the worst future rank: give it to the next span
    kept = []
    for s2, e2, lb in spans:
        if kept and kept[-1][2] == "sliver":
            s2 = kept.pop()[0]
        if e2 - s2 <= 1e-11 * max(abs(e2), 1e-300) and (s2, e2) != spans[-1][:2]:
            kept.append((s2, e2, "sliver"))
            continue
        kept.append((s2, e2, lb))
    pieces = []
    for s2, e2, lb in kept:
        if lb == 0:
            pieces.append(RankPiece(s2, e2, 1, _closed(law.hazard_inv, law.cap)))
        elif lb == 1:
            pieces.append(RankPiece(s2, e2, -1, _closed(law.mrl, law.cap)))
        else:
            for c0, c1, ch in _cheb_pieces(law.gittins, s2, e2):
                pieces.append(RankPiece(c0, c1, -1, ch))
    gA = law.last_value(law.gittins if labels[-1] == 2 else pieces[-1].eval)
    pieces.append(RankPiece(A, np.inf, value=gA))
    return AgeRank(_fix_kinds(pieces), name="Gittins", age_hint=A)


def _fix_kinds(pieces):
    """Turn pieces whose values do not move (to rounding) into constants, and give a piece
    whose end values go the other way (a sliver at a regime change, where the candidates tie
    to rounding) the direction of its ends."""
    out = []
    for p in pieces:
        if p.kind != 0 and np.isfinite(p.end):
            ends = p.eval(np.array([p.start, p.end]))
            if ends[0] == ends[1]:
                out.append(RankPiece(p.start, p.end, value=float(ends[0])))
                continue
            kind = 1 if ends[1] > ends[0] else -1
            if kind != p.kind:
                p = RankPiece(p.start, p.end, kind, p.func)
        out.append(p)
    return out


def _serpt_continuous(size) -> AgeRank:
    law = _Law(size)
    grid = _grid(law)
    M = law.mrl(grid)
    fin = np.isfinite(M)
    scale = np.max(np.abs(M[fin]))
    if (np.max(M[fin]) - np.min(M[fin])) <= 1e-12 * scale:
        return AgeRank.constant(float(np.median(M[fin])), name="SERPT")
    # m' = h m - 1 has the sign of m - 1/h (and is -1 where the density vanishes)
    H = law.hazard_inv(grid)

    def sign(a):
        a = np.asarray(a, dtype=float)
        m, h = law.mrl(a), law.hazard_inv(a)
        gap = (m - h) / np.maximum(np.abs(m), 1e-300)
        return np.where(np.abs(gap) <= _FLAT, 0, np.sign(gap)).astype(int)

    sg = np.where(np.abs((M - H) / np.maximum(np.abs(M), 1e-300)) <= _FLAT, 0,
                  np.sign(M - H)).astype(int)
    sg = _runs(np.where(sg == 0, -1, (sg > 0).astype(int)))
    if sg is None:
        return AgeRank.constant(float(np.median(M[fin])), name="SERPT")
    bounds, kinds = [0.0], [1 if sg[0] == 1 else -1]
    for i in range(1, grid.size):
        if sg[i] != sg[i - 1]:
            lo, hi = grid[i - 1], grid[i]
            want = 1 if sg[i - 1] == 1 else -1
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if not lo < mid < hi:
                    break
                if int(sign(np.array([mid]))[0]) == want:
                    lo = mid
                else:
                    hi = mid
            bounds.append(float(hi))
            kinds.append(1 if sg[i] == 1 else -1)
    A = law.A
    edges = [*bounds, A]
    pieces = []
    for (s, e), k in zip(zip(edges[:-1], edges[1:]), kinds):
        cuts = [s, *[z for z in law.bps if s < z < e], e]
        for s2, e2 in zip(cuts[:-1], cuts[1:]):
            if e2 > s2:
                pieces.append(RankPiece(s2, e2, k, _closed(law.mrl, law.cap)))
    pieces.append(RankPiece(A, np.inf, value=law.last_value(law.mrl)))
    return AgeRank(_fix_kinds(pieces), name="SERPT", age_hint=A)


# ============================================================================ public
def gittins_rank(size: SizeDistribution) -> AgeRank:
    """The Gittins rank of a known size law (lower is served first).

    ``G(a) = inf_{b > a} int_a^b P(X > t) dt / P(a < X <= b)``: the inverse of the Gittins
    index (Gittins 1989; Aalto, Ayesta and Righter, Queueing Systems 63 (2009), eq. (4)); see
    the module docstring for how its monotone pieces are obtained. The result is an
    :class:`~qtheory.analysis.agerank.AgeRank`: callable, with exact pieces for
    :class:`~qtheory.analysis.agerank.AgeRankAnalysis`, and
    :meth:`~qtheory.analysis.agerank.AgeRank.to_rank_function` for the simulator.

    Parameters
    ----------
    size : SizeDistribution
        A law with finite mean: continuous (with a density) or with atoms.

    Examples
    --------
    Two sizes, 1 (probability 0.8) and 3: a fresh job's rank is ``min((1 - a)/0.8,
    (1 - a) + 2 * 0.2)``; after age 1 it is the remaining size ``3 - a``.

    >>> import qtheory as qt
    >>> g = gittins_rank(qt.Discrete([1.0, 3.0], [0.8, 0.2]))
    >>> [round(float(g(a)), 12) for a in (0.0, 0.5, 1.0, 2.0)]
    [1.25, 0.625, 2.0, 1.0]

    Exponential sizes: the rank is the mean (a constant: FCFS).

    >>> gittins_rank(qt.Exponential(mean=2.0)).pieces
    (RankPiece([0, inf), constant, value=2, slope=0),)
    """
    _check_size(size)
    if size.is_discrete:
        return _gittins_discrete(size)
    return _gittins_continuous(size)


def serpt_rank(size: SizeDistribution) -> AgeRank:
    """The SERPT rank ``E[X - a | X > a]`` (mean residual size) of a known size law.

    Exact through tail moments: ``E[(X - a)^+] / P(X > a)``; monotone pieces where
    ``m(a) - 1/h(a)`` changes sign (``m' = h m - 1``). Linear with slope -1 between the atoms
    of a discrete law. See :func:`gittins_rank` for the returned object.

    Examples
    --------
    >>> import qtheory as qt
    >>> s = serpt_rank(qt.Uniform(0.0, 2.0))
    >>> round(float(s(0.5)), 12), [p.kind for p in s.pieces][:1]
    (0.75, [-1])
    """
    _check_size(size)
    if size.is_discrete:
        return _serpt_discrete(size)
    return _serpt_continuous(size)
