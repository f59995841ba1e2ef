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
grid of quanta, refined by multi-section and a parabolic step), their ends by a 15-section
search. Hazard and residual pieces use their closed forms ``P(X > a)/f(a)`` and
``E[(X - a)^+]/P(X > a)``; interior pieces are adaptive Chebyshev interpolants of ``G``
(relative accuracy about ``1e-13``; over more than a factor 256 of ages cut at powers of 16
first, see :func:`_cheb_pieces`) on nested Chebyshev-Lobatto points of degree 16, 32 and 64
(:func:`_fit`). Near a finite end ``hi`` of the support the closed forms
are differences of nearly equal numbers (``P(X > a)`` of a truncated law is ``sf(a) - sf(hi)``
of its parent), so there ``P(X > a)`` and ``E[(X - a)^+]`` come from Gauss-Legendre quadrature
of the density on ``[a, hi]`` instead. Beyond the age ``A`` where ``P(X > A) <= 1e-15`` (for
a bounded support, its end unless the tail is negligible before it) the rank is held
constant. A law wrapped from scipy is ranked through its tabulated twin
(:func:`qtheory.distributions.tabulated.fast_law`): its own truncated moments are adaptive
quadratures, whose noise at 1e-12 split regimes (gamma shape 2: no rank within 5 minutes;
0.22 s through the twin).

Speed: all searches handle every age (and every bracket) in one array, the quantities at a
fixed age are computed once for all its quanta, so a law sees a few hundred array calls per
rank; a cold mean response time is 2-170 ms on the laws of
``validation/bench/bench_gittins.py``. The analysis
(:class:`~qtheory.analysis.agerank.AgeRankAnalysis`) solves for the ages where each
Chebyshev piece reaches its rank levels with a compiled twin of its root finder
(:mod:`qtheory.analysis._chebsolve`, the same ages to the last bit; levels near a piece's
flat end take 50-100 false-position steps, which in NumPy had been half the time of a
lognormal law's Gittins value); it loads from Numba's cache in 0.14 s once per process.
For a tabulated posterior law (a bucket's or a prediction's) ``J`` is one compiled pass over
the law's tables and the least quanta are refined by a compiled Brent search
(:mod:`qtheory.analysis._gittins_tab`: about 26 evaluations of ``J`` a bracket against the
46 of the NumPy multi-section; ranks within 2e-14 of the NumPy path, which plain laws keep).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev as _cheb
from numpy.polynomial import legendre as _leg

from ..distributions.base import SizeDistribution
from ..distributions.tabulated import fast_law
from ._gittins_tab import interior_tabulated, j_tabulated, section_tabulated
from .agerank import _SLOPE_RES, AgeRank, RankPiece, geometric_edges

__all__ = ["gittins_rank", "serpt_rank"]

_EPS = float(np.finfo(float).eps)
# quanta b - a, in units of (a + median): 3 a decade below 1e-3, 7 above (99 at 7 a decade
# before; below 1e-3 J(a, a + d) is 1 / hazard plus a term about linear in d, so an interior
# dip there spans decades: the independent check of validation/gittins_rank_check.py and
# the 36-value GittinsBuckets grid came out the same, and the ranks of 62 bucket laws take
# 13 % less time)
_TAU = np.concatenate([np.geomspace(1e-8, 1e-3, 16)[:-1], np.geomspace(1e-3, 1e6, 64)])
_ZREL = np.geomspace(1e-15, 1e-2, 27)  # quanta ending just past a breakpoint, relative
_ZLOW = np.geomspace(1e-12, 1e-2, 11)  # and just before it
_OPZ, _OML = 1.0 + _ZREL, 1.0 - _ZLOW  # (their factors)
_GL_X, _GL_W = _leg.leggauss(16)
_GL4_X, _GL4_W = _leg.leggauss(4)
_GL8_X, _GL8_W = _leg.leggauss(8)
_ZNEAR = 1e-6  # kinks of a continuous density this close above an age (x (a + median))
_CROSS_CHECK = 1e-12  # a root is kept if no quantum does better by this much (relative)
_JUMP = 1e-9  # relative step of the density at a breakpoint that counts as a jump
_FAR = 1e-17  # interior(): tails below this times the age's end the quanta (_Law._far_ends)
_TINY_WINDOW = 1e-3  # a window this narrow against the local scale takes the 4-point rule
_FLAT = 1e-12  # relative gap below which two candidates are a tie
_FLAT_PIECE = 1e-13  # relative spread of a piece's values below which it is a constant
_DECADES = 256.0  # _cheb_pieces cuts an interval over more than this ratio of ages first
_FLAT_TABLE = 4e-12  # the same for a tabulated law (tables to 1e-13, fits to 1e-12)
_NOISE = 1e-13  # absolute rounding of a tail ratio, in units of E[X] / P(X > a)
_TAB_NOISE = 1e-11  # relative rounding of J for a tabulated law of unbounded support
_TAIL_LIVE = 1e-12  # ... where P(X > a) is above this (the absolute allowance beyond)
_CHEB_TOL = 1e-12
_SETTLE = 1e-11  # an end regime's candidate this close to the rank settles a boundary
_SECTION_POINTS = 9  # inner points per multi-section round
_SECTION_ROUNDS = 5  # last spacing (2/10)**4 / 10 = 1.6e-4 of the first bracket
_BRENT_TOL = 1e-9  # the compiled section's tolerance in u = log(b - a)


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
def _flat_to(q, shape: tuple) -> np.ndarray:
    """``q`` broadcast to ``shape`` as a contiguous 1-D float array (a column ``(n, 1)``
    against ``(n, m)`` by ``np.repeat``, an array of the shape by ``ravel``: the same values
    as ``broadcast_to`` and a copy, at a third of the cost on the small arrays of the rank's
    quantum grids)."""
    q = np.asarray(q, dtype=float)
    if q.shape == shape:
        return np.ascontiguousarray(q).ravel()
    if q.ndim == 2 and len(shape) == 2 and q.shape == (shape[0], 1):
        return np.repeat(q[:, 0], shape[1])
    return np.ascontiguousarray(np.broadcast_to(q, shape)).ravel()


class _Law:
    """Vectorised survival quantities of a continuous law, each without cancellation where
    it matters for the ratios J(a, b).

    Speed: every J(a, b) is a difference of four quantities at ``a`` and at ``b``
    (:meth:`at`); the optimisation over ``b`` for fixed ages (:meth:`interior`) evaluates the
    ones at ``a`` once, those at the law's breakpoints are kept from construction, and all
    searches (grid, multi-section, label bisection) handle every age in one array, so the law
    sees a few hundred array calls per rank rather than tens of thousands of small ones.
    """

    def __init__(self, size: SizeDistribution):
        self.s = size
        self.m1 = float(size.moment(1))
        self.med = float(size.scale)
        lo, hi = size.support
        self.lo, self.hi = float(lo), float(hi)
        # the lower end of the support is a kink too (the density may jump up there: the
        # best quantum of an age just below it ends just past it)
        low = (self.lo,) if 0.0 < self.lo < self.hi else ()
        self.bps = np.array(sorted({float(b) for b in (*size.breakpoints, *low) if b > 0}))
        # the breakpoints inside the support (by index: _bp_at holds quantities at each)
        self._inner = np.nonzero((self.bps > self.lo) & (self.bps < self.hi))[0]
        # the first A * 1.5**k (k < 3000) with a negligible tail, 64 candidates a call; for
        # a bounded support the end, unless the tail is negligible before it (a Weibull 1.76
        # law given a uniform-noise bucket reaches 42.6, its tail 1e-11 at 6.2 and below
        # 1e-300 well before 42.6: the rank there was rounding noise, cut into 1400 pieces
        # in 5 s)
        A = max(self.med, 1e-300)
        found = None
        for k0 in range(0, 3000, 64):
            cand = A * 1.5 ** np.arange(k0, min(k0 + 64, 3000), dtype=float)
            if np.isfinite(self.hi):
                cand = cand[cand < self.hi]
                if not cand.size:
                    break
            with np.errstate(all="ignore"):
                sf = np.asarray(size.sf(cand), dtype=float)
                tm = np.asarray(size.tail_moment(1, cand), dtype=float)
            stop = ((sf <= 1e-15) & (tm <= 1e-15 * self.m1)) | (cand > 1e100)
            if np.any(stop):
                found = float(cand[int(np.argmax(stop))])
                break
        if found is not None:
            A = found
        elif np.isfinite(self.hi):
            A = self.hi
        else:
            A = float(cand[-1])
        self.A = A
        # the last age at which the closed forms are evaluated (0/0 at a finite support end)
        self.cap = float(np.nextafter(A, 0.0)) if A >= self.hi else A
        # the last breakpoint (or 0) below a finite upper end: see _end_zone
        self._z_end = max([0.0, *[float(z) for z in self.bps if z < self.hi]])
        # quantities at the breakpoints (ends of quanta in interior(); local scales for _narrow)
        self._bp_at = self.at(self.bps)
        with np.errstate(all="ignore"):
            h, m = self.hazard_inv(self.bps), self.mrl(self.bps)
        self._bp_loc = np.where(m < h, m, h)  # min(h, m) as Python's min of two floats
        # the breakpoints where the density jumps up (the best quantum may end a hair past
        # them: interior() adds quanta there) and the inner ones where it jumps at all (J
        # has a corner in b there, its least value possibly a hair before): a kink of a
        # continuous density leaves J smooth to first order, its minima bracketed by the
        # base grid (the kinks of a prediction bucket's density with uniform noise)
        with np.errstate(all="ignore"):
            f_lo = self.pdf(np.nextafter(self.bps, 0.0))
            f_hi = self.pdf(np.nextafter(self.bps, np.inf))
            tol = _JUMP * np.maximum(np.maximum(f_lo, f_hi), 1.0 / max(self.m1, 1e-300))
            up = ~(f_hi - f_lo <= tol)  # (NaN or inf: a jump)
            jump = up | ~(f_lo - f_hi <= tol)
        self._up = up
        self._corner = jump
        self._tab = self._tables()
        # tails kept to relative precision however small (see classify)
        self._rel_tails = bool(getattr(size, "tabulated", False)) and not np.isfinite(self.hi)
        self._far = self._far_tails()

    def _far_tails(self):
        """``(t, P(X > t), E[(X - t)^+])`` on the ages ``t = med 1.5**k`` from the median to
        past the longest quantum of :meth:`interior` (``1e6 (A + med)``), for
        :meth:`_far_ends`; ``None`` for a bounded support (its quanta end at its end)."""
        if np.isfinite(self.hi):
            return None
        top = 1e6 * (self.A + self.med) * 1.5
        k = np.arange(int(np.ceil(np.log(top / self.med) / np.log(1.5))) + 1, dtype=float)
        t = self.med * 1.5**k
        with np.errstate(all="ignore"):
            sf, _, _, r = self.at(t)
        sf, r = np.asarray(sf, dtype=float), np.asarray(r, dtype=float)
        if not (np.all(np.isfinite(sf)) and np.all(np.isfinite(r))):
            return None
        # (monotone as the law's: a rounding ripple of the tables must not end a search)
        return t, np.minimum.accumulate(sf), np.minimum.accumulate(r)

    def _far_ends(self, a, ea):
        """For each age ``a`` (1-D, quantities ``ea`` there), the first age ``t`` of
        :meth:`_far_tails` beyond which both tails are below :data:`_FAR` times theirs at
        ``a``: every quantum ``b >= t`` has ``J(a, b)`` equal to the mean residual size
        ``E[(X - a)^+] / P(X > a)`` to within about ``2 _FAR`` relative, rounding, so
        :meth:`interior` ends its quanta there (``inf``: no such age, or none known)."""
        if self._far is None:
            return np.full(a.shape, np.inf)
        t, sf, r = self._far
        with np.errstate(all="ignore"):
            ks = np.searchsorted(-sf, -_FAR * np.asarray(ea[0], dtype=float), side="left")
            kr = np.searchsorted(-r, -_FAR * np.asarray(ea[3], dtype=float), side="left")
        k = np.maximum(np.broadcast_to(ks, a.shape), np.broadcast_to(kr, a.shape))
        out = np.where(k < t.size, t[np.minimum(k, t.size - 1)], np.inf)
        return np.where(out > a, out, np.inf)

    def _tables(self):
        """The arguments of :func:`~qtheory.analysis._gittins_tab.j_tabulated` after the
        pair ``(a, b)`` and the quantities at ``a``, for a law with Chebyshev tables of its
        tails and density (a tabulated posterior law); ``None`` for any other law."""
        s = self.s
        if getattr(s, "tails_at", None) is None or not getattr(s, "_use_panels", False):
            return None
        mean = float(s.moment(1.0))
        if not np.isfinite(mean):
            return None
        ta, tb = s._edges()
        tabs = [s._cheb_table(k, tl)[2:] for k, tl in ((0.0, True), (0.0, False),
                                                        (1.0, False), (1.0, True))]
        dens = s._density_table()
        return (ta, tb, *tabs[0], *tabs[1], *tabs[2], *tabs[3], s._lo, s._hi, s._tmin,
                s._tmax, s.mass, mean, *dens, self.med, self.m1, self.hi, self._z_end,
                self.bps, np.asarray(self._bp_loc, dtype=float), _GL_X, _GL_W, _GL8_X,
                _GL8_W, _GL4_X, _GL4_W, _TINY_WINDOW)

    def last_value(self, fun):
        v = float(np.asarray(fun(np.array([self.cap])), dtype=float)[0])
        return v if np.isfinite(v) else 0.0

    def _end_zone(self, x):
        """Ages close to a finite upper end ``hi`` of the support, ``hi - x <= (x - z) / 8``
        with ``z`` the last breakpoint (or 0) below ``hi``; ``None`` for unbounded laws.

        There ``P(X > x)`` and ``E[(X - x)^+]`` are differences of nearly equal numbers in the
        law's closed forms (``sf(x) - sf(hi)`` in a truncated law; the tail moment minus
        ``x P(X > x)``), with relative errors ``eps x / (hi - x)`` and worse, so that the rank
        would be rounding noise just below ``hi``; :meth:`_end_tails` integrates the density
        instead."""
        if not np.isfinite(self.hi):
            return None
        w = self.hi - x
        return (x > self._z_end) & (w > 0) & (w <= 0.125 * (x - self._z_end))

    def _end_tails(self, x):
        """``(P(X > x), E[(X - x)^+], ok)`` for ages in :meth:`_end_zone` (1-D), by 16-point
        Gauss-Legendre of the density on the two halves of ``[x, hi]``: exact to rounding for
        a density smooth up to ``hi`` (the nearest singularity, ``z``, is at least 8 widths
        away). ``ok`` is False where one 16-point rule on the whole of ``[x, hi]`` disagrees
        beyond ``1e-13`` (a density singular at ``hi``, as a beta law's): there the closed
        forms are kept."""
        w = self.hi - x
        q = 0.25 * w  # half-width of each half
        mids = np.stack([x + q, x + 3.0 * q], axis=-1)
        t = mids[..., None] + q[:, None, None] * _GL_X
        off = (np.array([0.0, 2.0])[None, :, None] + 1.0 + _GL_X) * q[:, None, None]  # t - x
        h = 0.5 * w
        t1 = (x + h)[:, None] + h[:, None] * _GL_X
        with np.errstate(all="ignore"):
            f = self.pdf(t)
            f1 = self.pdf(t1)
            sf = q * np.sum(_GL_W * f, axis=(-2, -1))
            resid = q * np.sum(_GL_W * off * f, axis=(-2, -1))
            sf1 = h * np.sum(_GL_W * f1, axis=-1)
            r1 = h * np.sum(_GL_W * (h[:, None] * (1.0 + _GL_X)) * f1, axis=-1)
            ok = ((np.abs(sf1 - sf) <= 1e-13 * sf) & (np.abs(r1 - resid) <= 1e-13 * resid)
                  & np.isfinite(sf) & np.isfinite(resid))
        return sf, resid, ok

    def sf(self, x):
        """P(X > x) (by :meth:`_end_tails` near a finite end of the support)."""
        return self._tails(x, resid=False)[0]

    def cdf(self, x):
        return np.asarray(self.s.cdf(x), dtype=float)

    def pdf(self, x):
        return np.asarray(self.s.pdf(x), dtype=float)

    def _tails(self, x, resid=True):
        """``(P(X > x), E[(X - x)^+])`` (the second ``None`` unless ``resid``): the law's
        closed forms (:meth:`_resid`), or :meth:`_end_tails` near a finite end."""
        x = np.asarray(x, dtype=float)
        sf = np.asarray(self.s.sf(x), dtype=float)
        r = self._resid(x, sf) if resid else None
        zone = self._end_zone(x)
        if zone is not None and np.any(zone):
            sz, rz, ok = self._end_tails(x[zone])
            idx = np.nonzero(zone.ravel())[0][ok]
            sf = np.array(sf, dtype=float)
            sf.ravel()[idx] = sz[ok]
            if resid:
                r = np.array(r, dtype=float)
                r.ravel()[idx] = rz[ok]
        return sf, r

    def at(self, x):
        """``(sf, cdf, emin, resid)`` at ``x`` (any shape): the four quantities J needs, in
        one call each to the law (``emin`` and ``resid`` as in :meth:`emin`, :meth:`resid`),
        or in one call to a law with ``tails_at`` (a tabulated posterior law:
        :meth:`qtheory.distributions.posterior.PredictionBucket.tails_at`)."""
        x = np.asarray(x, dtype=float)
        four = getattr(self.s, "tails_at", None)  # a tabulated law: all four in one pass
        with np.errstate(all="ignore"):
            if four is not None:
                sf, cdf, pm, tm = (v.reshape(x.shape) for v in four(x))
            else:
                sf = np.asarray(self.s.sf(x), dtype=float)
            zone = self._end_zone(x)
            rz = None
            if zone is not None and np.any(zone):
                sz, rz, ok = self._end_tails(x[zone])
                idx = np.nonzero(zone.ravel())[0][ok]
                rz = rz[ok]
                sf = np.array(sf, dtype=float)
                sf.ravel()[idx] = sz[ok]
            if four is None:
                cdf = self.cdf(x)
                pm = np.asarray(self.s.partial_moment(1, x), dtype=float)
                tm = np.asarray(self.s.tail_moment(1, x), dtype=float)
            emin = pm + x * sf
            up = tm - x * sf
            low = self.m1 - emin
        resid = np.maximum(np.where(x >= self.med, up, low), 0.0)
        if rz is not None:
            resid.ravel()[idx] = rz
        return sf, cdf, emin, resid

    def emin(self, c):
        """E[min(X, c)]."""
        c = np.asarray(c, dtype=float)
        return np.asarray(self.s.partial_moment(1, c), dtype=float) + c * self.sf(c)

    def _resid(self, a, sf):
        """E[(X - a)^+] from the closed forms, given ``sf = P(X > a)``: from the tail moment
        above the median, from the partial moment below (the law is called only for the
        side that is used)."""
        up = a >= self.med
        with np.errstate(all="ignore"):
            if np.all(up):
                r = np.asarray(self.s.tail_moment(1, a), dtype=float) - a * sf
            elif not np.any(up):
                r = self.m1 - (np.asarray(self.s.partial_moment(1, a), dtype=float) + a * sf)
            else:
                r = np.where(up, np.asarray(self.s.tail_moment(1, a), dtype=float) - a * sf,
                             self.m1 - (np.asarray(self.s.partial_moment(1, a), dtype=float)
                                        + a * sf))
        return np.maximum(r, 0.0)

    def resid(self, a):
        """E[(X - a)^+]."""
        return self._tails(a)[1]

    def hazard_inv(self, a):
        """1 / hazard = P(X > a) / f(a) (inf where f = 0)."""
        a = np.asarray(a, dtype=float)
        with np.errstate(all="ignore"):
            f, s = self.pdf(a), self.sf(a)
            return np.where(f > 0, s / f, np.inf)

    def mrl(self, a):
        """Mean residual size E[X - a | X > a]."""
        sf, r = self._tails(a)
        with np.errstate(all="ignore"):
            return r / sf

    def _ends(self, a, pa=None):
        """Quantities at the ages ``a`` (1-D) for :meth:`_J`: :meth:`at` and the local scale
        ``min(1/hazard, mean residual)``; also ``(1/hazard, mean residual)``."""
        if pa is None:
            pa = self.at(a)
        with np.errstate(all="ignore"):
            f = self.pdf(a)
            H = np.where(f > 0, pa[0] / f, np.inf)
            M = pa[3] / pa[0]
        return (*pa, np.minimum(H, M)), H, M

    def _narrow(self, a, b, loc_a):
        """Windows (a, b] short against a and against the local scales (1/hazard, mean
        residual) at a and at the breakpoints inside: integrated by Gauss-Legendre."""
        w = b - a
        ok = (a > 0) & (w <= 0.125 * a)
        if not np.any(ok):
            return ok
        with np.errstate(all="ignore"):
            ok &= w <= 0.125 * loc_a
            for z, loc in zip(self.bps, self._bp_loc):
                inside = (a < z) & (z < b)
                if np.any(inside):
                    ok &= ~inside | (w <= 0.125 * float(loc))
        return ok

    def _gl(self, a, b, sf_b):
        """``(int_a^b P(X > t) dt, int_a^b f(t) dt)`` for narrow windows, given ``sf_b =
        P(X > b)``: the first is ``int_a^b (t - a) f(t) dt + (b - a) P(X > b)`` (integration
        by parts; positive terms, and only the density is evaluated, which is much cheaper
        than the survival function for laws defined by quadrature), each integral by 16-point
        Gauss-Legendre on every piece between the breakpoints (only those inside some window
        cut), on shared nodes."""
        cuts = [a] + [np.clip(z, a, b) for z in self.bps if np.any((a < z) & (z < b))] + [b]
        e = np.sort(np.stack(cuts, axis=-1), axis=-1) if len(cuts) > 2 else np.stack(cuts, -1)
        lo, hi = e[..., :-1], e[..., 1:]
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        x = mid[..., None] + half[..., None] * _GL8_X
        pos = half[..., None] > 0
        with np.errstate(all="ignore"):
            vf = np.where(pos, self.pdf(x), 0.0)
            hf = half * np.sum(_GL8_W * vf, axis=-1)
            hm = half * np.sum(_GL8_W * (x - a[..., None, None]) * vf, axis=-1)
        return np.sum(hm, axis=-1) + (b - a) * sf_b, np.sum(hf, axis=-1)

    def _one_window(self, a, b, sf_b, x, w):
        """``(int_a^b P(X > t) dt, int_a^b f(t) dt)`` by one Gauss-Legendre rule (nodes
        ``x``, weights ``w``) of the density on the whole window, the first as
        ``int_a^b (t - a) f(t) dt + (b - a) P(X > b)`` (``sf_b``)."""
        half = 0.5 * (b - a)
        f = self.pdf((a + half)[:, None] + half[:, None] * x)
        den = half * np.sum(w * f, axis=-1)
        num = half * np.sum(w * (half[:, None] * (1.0 + x)) * f, axis=-1) + (b - a) * sf_b
        return num, den

    def _J(self, a, ea, b, eb):
        """J(a, b) from the quantities ``ea`` at a (:meth:`_ends`) and ``eb`` at b
        (:meth:`at`), all broadcast together."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        shape = a.shape
        with np.errstate(all="ignore"):
            up = a >= self.med
            num = np.where(up, ea[3] - eb[3], eb[2] - ea[2])
            den = np.where(up, ea[0] - eb[0], eb[1] - ea[1])
            num, den = np.broadcast_to(num, shape).copy(), np.broadcast_to(den, shape).copy()
            nar = self._narrow(a, b, np.broadcast_to(ea[4], shape))
            if np.any(nar):
                zone = self._end_zone(a) if np.isfinite(self.hi) else None
                plain = nar if zone is None else nar & ~zone
                # windows below 1e-3 of the local scale with no breakpoint inside: the
                # 4-point rule is exact to about (5e-4)**8 there (16 points elsewhere)
                tiny = plain & (b - a <= _TINY_WINDOW * np.broadcast_to(ea[4], shape))
                for z in self.bps:
                    tiny &= ~((a < z) & (z < b))
                if np.any(tiny):
                    num[tiny], den[tiny] = self._one_window(
                        a[tiny], b[tiny], np.broadcast_to(eb[0], shape)[tiny], _GL4_X, _GL4_W)
                    plain = plain & ~tiny
                if np.any(plain):
                    num[plain], den[plain] = self._gl(
                        a[plain], b[plain], np.broadcast_to(eb[0], shape)[plain])
                if zone is not None and np.any(nar & zone):
                    # near a finite end, [a, hi] is smooth: int_a^b P(X > t) dt =
                    # int_a^b (t - a) f(t) dt + (b - a) P(X > b) on one set of nodes
                    m = nar & zone
                    num[m], den[m] = self._one_window(
                        a[m], b[m], np.broadcast_to(eb[0], shape)[m], _GL_X, _GL_W)
            return np.where(den > 0, num / den, np.inf)

    def _Jat(self, a, ea, b):
        """``J(a, b)`` (broadcast) from the quantities ``ea`` at ``a`` (:meth:`_ends`):
        ``_J(a, ea, b, at(b))``, in one compiled pass for a tabulated law
        (:func:`~qtheory.analysis._gittins_tab.j_tabulated`; the points it leaves take the
        NumPy path)."""
        if self._tab is None:
            return self._J(a, ea, b, self.at(b))
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        shape = np.broadcast_shapes(a.shape, b.shape)
        flat = [_flat_to(q, shape) for q in (a, *ea, b)]
        out, need = j_tabulated(*flat, *self._tab)
        if need.any():
            idx = np.nonzero(need)[0]
            fa, fb = flat[0][idx], flat[6][idx]
            out[idx] = self._J(fa, tuple(q[idx] for q in flat[1:6]), fb, self.at(fb))
        return out.reshape(shape)

    def _J_bp(self, a, ea, i):
        """``J(a, z)`` for the law's breakpoint ``z = bps[i]`` (``a`` 1-D, below it), from
        the quantities kept at ``z`` (compiled, :meth:`_Jat`, for a tabulated law)."""
        z = np.full(a.size, self.bps[i])
        if self._tab is not None:
            return self._Jat(a, ea, z)
        return self._J(a, ea, z, tuple(q[i] for q in self._bp_at))

    def J(self, a, b):
        """J(a, b) = int_a^b P(X > t) dt / P(a < X <= b) (broadcast)."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        shape = a.shape
        a, b = a.ravel(), b.ravel()
        ea, _, _ = self._ends(a)
        return self._Jat(a, ea, b).reshape(shape)

    # ---------------------------------------------------------------- the Gittins rank
    def _section(self, a, ea, lo, hi, flo, fhi):
        """Minimise ``J(a, a + exp(u))`` over ``u`` in ``[lo, hi]`` (one row per age, ends'
        values ``flo``, ``fhi`` known) by multi-section: each round evaluates
        ``_SECTION_POINTS`` equispaced inner points of every row in one call and keeps the two
        cells around the least value (width x 2 / (points + 1)); then one parabolic step
        through the least value and its two neighbours. J is smooth and flat to second order
        at an interior optimum, so the vertex is within ``O(h**2)`` of it (``h`` the last
        spacing, ``1.6e-4`` of the first width, itself about 0.66 in ``u``) and J there is
        exact to rounding (its error is of order ``h**4``). The result is the least J actually
        evaluated (a vertex that is off can only be ignored).
        Returns ``(value, u)``.

        A tabulated law takes Brent's method, compiled
        (:func:`~qtheory.analysis._gittins_tab.section_tabulated`, to ``1e-9`` in ``u``);
        rows that meet a point off its tables take the multi-section."""
        if self._tab is not None and a.size:
            e = [np.ascontiguousarray(q, dtype=float) for q in ea]
            val, arg, need = section_tabulated(
                np.ascontiguousarray(a, dtype=float), *e, np.ascontiguousarray(lo, dtype=float),
                np.ascontiguousarray(hi, dtype=float), np.ascontiguousarray(flo, dtype=float),
                np.ascontiguousarray(fhi, dtype=float), _BRENT_TOL, *self._tab)
            if need.any():
                r = np.nonzero(need)[0]
                val[r], arg[r] = self._multisection(a[r], tuple(q[r] for q in ea), lo[r],
                                                    hi[r], flo[r], fhi[r])
            return val, arg
        return self._multisection(a, ea, lo, hi, flo, fhi)

    def _multisection(self, a, ea, lo, hi, flo, fhi):
        """The NumPy multi-section of :meth:`_section` (its ``J`` through :meth:`_Jat`, which
        takes the exact path where a tabulated law's tables do not reach)."""
        t = np.linspace(0.0, 1.0, _SECTION_POINTS + 2)[1:-1]
        rows = np.arange(a.size)
        ea2 = tuple(q[:, None] for q in ea)
        U = F = j = None
        for _ in range(_SECTION_ROUNDS):
            u = lo[:, None] + (hi - lo)[:, None] * t
            b = a[:, None] + np.exp(u)
            f = self._Jat(a[:, None], ea2, b)
            U = np.concatenate([lo[:, None], u, hi[:, None]], axis=1)
            F = np.concatenate([flo[:, None], f, fhi[:, None]], axis=1)
            F = np.where(np.isnan(F), np.inf, F)
            j = np.argmin(F, axis=1)
            jl, jh = np.maximum(j - 1, 0), np.minimum(j + 1, t.size + 1)
            lo, hi = U[rows, jl], U[rows, jh]
            flo, fhi = F[rows, jl], F[rows, jh]
        val, arg = F[rows, j], U[rows, j]
        # parabolic step on equispaced nodes (interior least value only)
        inner = (j > 0) & (j < t.size + 1) & np.isfinite(flo) & np.isfinite(fhi)
        if np.any(inner):
            r = rows[inner]
            f0, f1, f2 = flo[r], val[r], fhi[r]
            h = U[r, j[r]] - U[r, j[r] - 1]
            with np.errstate(all="ignore"):
                curv = f0 - 2.0 * f1 + f2
                du = 0.5 * h * (f0 - f2) / curv
            ok = (curv > 0) & (np.abs(du) < h) & np.isfinite(du)
            if np.any(ok):
                r = r[ok]
                uv = arg[r] + du[ok]
                fv = self._Jat(a[r], tuple(q[r] for q in ea), a[r] + np.exp(uv))
                better = fv < val[r]
                val[r[better]] = fv[better]
                arg[r[better]] = uv[better]
        return val, arg

    def interior(self, a, ea=None):
        """min over b in (a, inf) of J(a, b) on a grid of quanta refined by multi-section:
        ``(value, b)``; ``inf`` where no interior quantum beats the ends of the grid.
        ``ea``: the quantities at ``a`` (:meth:`_ends`) when already known.

        For a tabulated law, in one compiled call for all the ages
        (:func:`~qtheory.analysis._gittins_tab.interior_tabulated`, the arithmetic of
        :meth:`_interior_numpy` point by point); the ages that meet a value off the tables
        take the NumPy form."""
        a = np.asarray(a, dtype=float).ravel()
        if ea is None:
            ea, _, _ = self._ends(a)
        if self._tab is None or not a.size:
            return self._interior_numpy(a, ea)
        e = tuple(_flat_to(np.asarray(q, dtype=float), a.shape) for q in ea)
        best, bstar, need = self._interior_compiled(a, e)
        if need.any():
            idx = np.nonzero(need)[0]
            best[idx], bstar[idx] = self._interior_numpy(a[idx], tuple(q[idx] for q in e))
        return best, bstar

    def _interior_compiled(self, a, e):
        """``(value, b, need)`` of :meth:`interior` for a tabulated law by the compiled
        kernel (``a`` 1-D, ``e`` its quantities, contiguous); ``need``: the ages it leaves
        to the NumPy form (a value off the tables)."""
        # the breakpoints' blocks of quanta that the NumPy form adds for this batch of ages
        added = np.array([rows is not None for _, rows in self._quanta_blocks(a)], dtype=bool)
        add_z, add_l = added[:self.bps.size], added[self.bps.size:]
        clip = (np.full(a.size, self.hi) if np.isfinite(self.hi)
                else np.ascontiguousarray(self._far_ends(a, e), dtype=float))
        best, bstar, ub, need = interior_tabulated(
            a, *e, clip, _TAU, _OPZ, _OML, _ZNEAR, add_z, self._up, self._inner, add_l,
            np.ascontiguousarray(self._corner[self._inner]), _FLAT, _BRENT_TOL, *self._tab)
        searched = ~np.isnan(ub)
        if searched.any():
            bstar[searched] = a[searched] + np.exp(ub[searched])
        return best, bstar, need

    def _quanta_blocks(self, a):
        """The blocks of quanta next to the breakpoints that :meth:`interior` adds to the grid
        of the ages ``a`` (1-D): ``[(quanta (1 x m), rows), ...]``, one block past each
        breakpoint, then one before each inner one, ``rows`` the mask of the ages that take
        it (``None`` where none does: the block is left out; the other ages of a block that
        is kept repeat their last quantum there, no new minimum and the same result).

        Quanta ending just past a breakpoint above ``a`` (where the density may jump up: the
        optimum can sit there, e.g. just below the lower end of the support) and just before
        it (where J has a kink and may have its least value on either side: the base grid
        alone is too coarse to bracket an optimum a hair below it). Where the density is
        continuous at the breakpoint (a kink, J smooth to first order in b) the base grid
        brackets the minima, except for ages so close below it that the quanta to it are
        below its finest (1e-8 of a + median): there they are added too (leaving them out,
        the rank of ages 1e-9 below such a kink came out up to 2.4e-10 high). No quantum
        ends best below the lower end of the support (no block before it)."""
        near = (a + (a + self.med) * _ZNEAR)[:, None]
        out = []
        for i, z in enumerate(self.bps):
            rows = z > a[:, None]
            if not self._up[i]:
                rows &= z <= near
            out.append((z * _OPZ[None, :], rows if self._up[i] or rows.any() else None))
        for i in self._inner:
            zl = self.bps[i] * _OML[None, :]
            rows = zl > a[:, None]
            if not self._corner[i]:
                rows &= zl <= near
            out.append((zl, rows if self._corner[i] or rows.any() else None))
        return out

    def _interior_numpy(self, a, ea):
        """:meth:`interior` in NumPy, all ages at once (``a`` 1-D, ``ea`` its quantities)."""
        base = a + self.med
        d = base[:, None] * _TAU[None, :]
        b = a[:, None] + d
        for quanta, rows in self._quanta_blocks(a):
            if rows is not None:
                b = np.concatenate([b, np.where(rows, quanta, b[:, -1:])], axis=1)
        b.sort(axis=1)
        if np.isfinite(self.hi):
            b = np.minimum(b, self.hi)
        else:  # (quanta past the far tails: J is the mean residual there, to rounding)
            b = np.minimum(b, self._far_ends(a, ea)[:, None])
        # J once per distinct quantum of a row: the padding above and the quanta clipped to
        # the end repeat (adjacent after the sort; 44 % of the grid of a bounded Pareto
        # bucket law with uniform noise), and a repeat takes the value of the first of its run
        first = np.ones(b.shape, dtype=bool)
        first[:, 1:] = b[:, 1:] != b[:, :-1]
        if np.count_nonzero(first) > 0.8 * b.size:  # few repeats: not worth the indexing
            Jv = self._Jat(a[:, None], tuple(q[:, None] for q in ea), b)
        else:
            rows_f, cols_f = np.nonzero(first)
            Jv = np.empty(b.shape)
            Jv[rows_f, cols_f] = self._Jat(a[rows_f], tuple(q[rows_f] for q in ea),
                                           b[rows_f, cols_f])
            run = np.where(first, np.arange(b.shape[1])[None, :], 0)
            Jv = np.take_along_axis(Jv, np.maximum.accumulate(run, axis=1), axis=1)
        best = np.full(a.size, np.inf)
        bstar = np.full(a.size, np.nan)
        inner = Jv[:, 1:-1]
        is_min = (inner <= Jv[:, :-2]) & (inner <= Jv[:, 2:]) & np.isfinite(inner)
        # one candidate per distinct quantum, and none at the upper end of a bounded support
        # (there J is the mean residual, the residual candidate itself): repeated ends (the
        # padding above, the quanta clipped to the end) formed a plateau of equal "local
        # minima" that took both places below, and an interior minimum whose grid value lay
        # above the plateau's was never refined, though its least value lies below it
        # (bounded Pareto sizes, uniform noise 0.5, the bucket (0, 0.5]: the rank up to
        # 1.2e-4 too high at ages 0.19489-0.19499)
        bi = b[:, 1:-1]
        is_min &= (bi > b[:, :-2]) & (bi < self.hi)
        # the two lowest interior local minima of each row, and the two lowest of those that
        # do not tie with an end candidate (the mean residual M, or min(1 / hazard, M)), all
        # refined together. Where J flattens towards M for long quanta its rounding noise
        # makes local minima of the grid at M itself; they tie with the residual and can
        # only be it, but took both places from a true minimum whose grid values lay above
        # M while its least value lay below (hyperexponential sizes, exponential noise, the
        # bucket Y > 2: the rank up to 1.6e-4 too high at ages 0.35471-0.35539, where the
        # least J near b = 2.567 is below M but the grid's nearest quanta were above it)
        cand = np.where(is_min, inner, np.inf)
        with np.errstate(all="ignore"):
            m_res = ea[3] / ea[0]
            tie = np.zeros(inner.shape, dtype=bool)
            for end in (m_res, ea[4]):
                end = np.broadcast_to(np.asarray(end, dtype=float), a.shape)[:, None]
                tie |= np.abs(inner - end) <= _FLAT * np.abs(end)
        order = np.argsort(cand, axis=1)[:, :2]
        order2 = np.argsort(np.where(tie, np.inf, cand), axis=1)[:, :2]
        cols, rows_all = [], []
        rix = np.arange(a.size)
        for col in range(4):
            k = (order[:, col] if col < 2 else order2[:, col - 2]) + 1
            ok = np.isfinite(cand[rix, k - 1])
            if col >= 2:  # tie-free minima not already refined
                ok &= ~tie[rix, k - 1] & (k - 1 != order[:, 0]) & (k - 1 != order[:, 1])
            rows = np.nonzero(ok)[0]
            cols.append((rows, k[rows]))
            rows_all.append(rows)
        rr = np.concatenate(rows_all) if rows_all else np.zeros(0, dtype=int)
        if rr.size:
            kk = np.concatenate([k for _, k in cols])
            ar = a[rr]
            with np.errstate(all="ignore"):
                lo = np.log(b[rr, kk - 1] - ar)
                hi = np.log(b[rr, kk + 1] - ar)
            flo, fhi = Jv[rr, kk - 1], Jv[rr, kk + 1]
            # a bracket that holds a breakpoint (a kink of J in b) is searched on each side
            # of it: across the kink the section's parabolic step fails and the least
            # value found is off by about 1e-8 relative
            own = np.arange(rr.size)
            for i in self._inner:
                z = self.bps[i]
                with np.errstate(all="ignore"):
                    uz = np.log(z - ar[own])
                c = np.nonzero((uz > lo) & (uz < hi))[0]
                if c.size == 0:
                    continue
                o = own[c]
                jz = self._J_bp(ar[o], tuple(q[rr[o]] for q in ea), i)
                own = np.concatenate([own, o])
                lo = np.concatenate([lo, uz[c]])
                hi = np.concatenate([hi, hi[c]])
                flo = np.concatenate([flo, jz])
                fhi = np.concatenate([fhi, fhi[c]])
                hi[c], fhi[c] = uz[c], jz
            val, u = self._section(ar[own], tuple(q[rr[own]] for q in ea), lo, hi, flo, fhi)
            if own.size > rr.size:  # the least of each row's searches
                order = np.lexsort((np.where(np.isnan(val), np.inf, val), own))
                first = order[np.unique(own[order], return_index=True)[1]]
                val, u = val[first], u[first]
            bb = ar + np.exp(u)
            # keep the grid minimum if the section wandered (it never should)
            gval = Jv[rr, kk]
            use_grid = ~(val <= gval)
            val = np.where(use_grid, gval, val)
            bb = np.where(use_grid, b[rr, kk], bb)
            start = 0
            for rows, _ in cols:  # in column order, as one search after the other
                sl = slice(start, start + rows.size)
                start += rows.size
                v, w = val[sl], bb[sl]
                better = v < best[rows]
                best[rows[better]] = v[better]
                bstar[rows[better]] = w[better]
        # quanta ending at the law's breakpoints (kinks of J in b)
        for i, z in enumerate(self.bps):
            m = z > a
            if np.any(m):
                jz = self._J_bp(a[m], tuple(q[m] for q in ea), i)
                better = jz < best[m]
                idx = np.nonzero(m)[0][better]
                best[idx] = jz[better]
                bstar[idx] = z
        return best, bstar

    def classify(self, a, ends: bool = False, quanta: bool = False):
        """``(G, label)`` with labels 0 hazard, 1 residual, 2 interior, -1 tie (unresolved);
        with ``ends`` also the two end candidates ``(1 / hazard, mean residual)``; with
        ``quanta`` also the best interior quantum's end (last)."""
        a = np.asarray(a, dtype=float).ravel()
        ea, H, M = self._ends(a)
        Iv, bstar = self.interior(a, ea)
        # an interior optimum that ties with an end of the quantum range is that end
        # (b* -> a: hazard; b* -> inf: residual)
        # the candidates are ratios of tail integrals to P(X > a): near the end of a
        # bounded support their absolute error grows like eps E[X] / P(X > a), so a gap
        # below that is a tie too (else rounding noise reads as an interior optimum)
        # A tabulated law of unbounded support keeps its tails to about 2e-13 relative
        # however small they are (sums from the far end), and J then to a few 1e-12 (the
        # false gaps of J below 1 / hazard in an exactly exponential tail: 4e-13 where
        # P(X > a) is 1e-3, up to 4.3e-12 down to 1e-21); there the allowance is at most
        # _TAB_NOISE relative (a tie makes the rank jump by up to the allowance, which
        # the Chebyshev pieces then miss by as much). With the absolute one alone an
        # interior optimum 5.9e-6 below 1 / hazard was taken for a tie once P(X > a) fell
        # below 6e-8, and the rank jumped up to 1 / hazard (exponential sizes, the
        # posterior given an exponential-noise prediction 10.4: ages 19.57 to 19.96, and
        # 12 failed fits closing in on the jump)
        with np.errstate(invalid="ignore", divide="ignore"):
            noise = _NOISE * self.m1 / np.maximum(ea[0], 1e-300)
            n_m = n_h = noise
            if self._rel_tails:
                # (only where the tail still counts: beyond P(X > a) = 1e-12 the grid of
                # ages that finds the regimes misses narrow interior ones, which the
                # allowance there keeps out of the piecewise rank and out of the search
                # alike: a lognormal-noise posterior had one at P(X > a) = 1e-20)
                live = ea[0] > _TAIL_LIVE
                n_m = np.where(live, np.minimum(noise, _TAB_NOISE * np.abs(M)), noise)
                n_h = np.where(live, np.minimum(noise, _TAB_NOISE * np.abs(H)), noise)
            tie_end = ((np.isfinite(M) & (np.abs(Iv - M) <= _FLAT * np.abs(M) + n_m))
                       | (np.isfinite(H) & (np.abs(Iv - H) <= _FLAT * np.abs(H) + n_h)))
        Iv = np.where(tie_end, np.inf, Iv)
        cands = np.stack([H, M, Iv], axis=1)
        cands = np.where(np.isnan(cands), np.inf, cands)
        lab = np.argmin(cands, axis=1)
        G = cands[np.arange(a.size), lab]
        srt = np.sort(cands, axis=1)
        gap = (srt[:, 1] - srt[:, 0]) / np.maximum(np.abs(srt[:, 0]), 1e-300)
        lab = np.where(gap <= _FLAT, -1, lab)
        out = (G, lab, H, M) if ends else (G, lab)
        return (*out, bstar) if quanta else out

    def gittins(self, a):
        G, _ = self.classify(a)
        return G


_NEAR_KINK = np.array([1e-2, 1e-3, 1e-4, 1e-6])  # _grid: relative distances to a kink


def _grid(law: _Law, n_per_decade: int = 10):
    """The ages at which :func:`_gittins_continuous` first classifies the rank's regime:
    ``n_per_decade`` a decade from ``1e-7`` of the median to ``A``, with ages near a finite
    end and on both sides of every breakpoint. Ten a decade since 2026-12-05 (twenty
    before): the regime boundaries are bisected from there, and no regime was missed on
    the independent checks (``validation/gittins_rank_check.py``, worst 1.1e-11 as before;
    ``validation/gittins_random_laws.py`` seeds 6-14, worst 9.65e-12 for 9.64e-12); boundaries
    settled from wider brackets leave fitted ranks up to about 9e-12 off where they were up
    to 4e-12 (the settling tolerance :data:`_SETTLE` is 1e-11)."""
    lo = 1e-7 * law.med
    A = law.A
    nd = max(1.0, np.log10(A / lo))
    g = [np.array([0.0]), np.geomspace(lo, A, int(n_per_decade * nd) + 1)]
    if np.isfinite(law.hi):
        span = law.hi - max(law.lo, 0.0)
        g.append(law.hi - span * np.geomspace(1e-10, 1.0, 60))
    for z in law.bps:
        g.append(np.array([z, np.nextafter(z, 0.0), z * (1 - 1e-9), z * (1 + 1e-9)]))
        # a regime narrower than the grid's step can sit next to a kink of the law (an
        # interior optimum over [3.85, 3.9477] before the kink of a uniform-noise bucket
        # law, missed between grid ages 3.80 and z (1 - 1e-9), where it was within the tie
        # allowance of 1 / hazard: the rank 7e-5 too high there, and Gittins, first come
        # first served on that law, 3.2e-8 off Pollaczek-Khinchine): ages approaching z
        g.append(z * (1.0 + np.outer([-1.0, 1.0], _NEAR_KINK).ravel()))
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


def _section_points(lo, hi, n=15):
    """``n`` inner points of each bracket ``[lo_i, hi_i]`` (rows): geometric where a bracket
    spans more than a factor 16 above 0, else equispaced."""
    geo = (lo > 0) & (hi > 16 * lo)
    t = np.linspace(0.0, 1.0, n + 2)[1:-1]
    z = lo[:, None] + (hi - lo)[:, None] * t
    if np.any(geo):
        llo, lhi = np.log(lo[geo]), np.log(hi[geo])
        z[geo] = np.exp(llo[:, None] + (lhi - llo)[:, None] * t)
        z[geo] = np.clip(z[geo], lo[geo, None], hi[geo, None])
    return z


def _section_step(z, hit, lo, hi):
    """One round of the 15-section searches: the first of the points ``z`` (rows, ascending
    within each bracket ``[lo_i, hi_i]``) where ``hit`` and its left neighbour (or the
    bracket's own end) bracket the change. Returns ``(new_lo, new_hi, k)``, ``k`` the index
    of the first hit (``z.shape[1]`` where none: the change lies above the last point)."""
    k = np.where(hit.any(axis=1), np.argmax(hit, axis=1), z.shape[1])
    r = np.arange(z.shape[0])
    new_lo = np.where(k > 0, z[r, np.maximum(k - 1, 0)], lo)
    new_hi = np.where(k < z.shape[1], z[r, np.minimum(k, z.shape[1] - 1)], hi)
    return new_lo, new_hi, k


def _bisect_labels(label, lo, hi, lab_hi, rows: bool = False):
    """Ages in ``(lo_i, hi_i]`` where ``label`` (ages -> integer labels, e.g. the regime of
    :meth:`_Law.classify`) changes to ``lab_hi_i``, all brackets at once (15-section
    search: each round labels 15 ages of every open bracket in one call; the first age
    with the new label and its left neighbour bracket the change), down to ``4 eps``
    relative. With ``rows``, ``label(ages, act)`` takes the ages as rows of the open
    brackets ``act`` (for labels that differ by bracket)."""
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    lab_hi = np.asarray(lab_hi, dtype=int)
    for _ in range(40):
        act = np.nonzero((hi > lo) & ~(hi - lo <= 4.0 * _EPS * hi))[0]
        if act.size == 0:
            break
        z = _section_points(lo[act], hi[act])
        lab = np.asarray(label(z, act) if rows else label(z.ravel())).reshape(z.shape)
        new_lo, new_hi, _ = _section_step(z, lab == lab_hi[act, None], lo[act], hi[act])
        stuck = (new_lo == lo[act]) & (new_hi == hi[act])
        lo[act], hi[act] = new_lo, new_hi
        if np.all(stuck):
            break
    return hi


def _end_gap(G, H, M, e):
    """Relative distance of the end candidate ``e`` (0: ``1 / hazard`` ``H``, 1: mean
    residual ``M``) from the rank ``G``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(e == 0, H, M)
        g = np.abs(c - G) / np.maximum(np.abs(G), 1e-300)
    return np.where(np.isfinite(g), g, np.inf)


def _bisect_regimes(law: _Law, lo, hi, lab_lo, lab_hi, at_lo, at_hi, b_lo, b_hi):
    """The regime boundaries of the Gittins rank in the brackets ``(lo_i, hi_i]`` (labels
    ``lab_lo_i`` below, ``lab_hi_i`` above; ``at_lo``, ``at_hi``: :meth:`_Law.classify`'s
    ``(G, label, H, M)`` at the ends; ``b_lo``, ``b_hi``: the best interior quanta there),
    all at once. Where the end candidate and the interior optimum cross, the boundary is
    their root (:func:`_end_switch_roots`); the rest by :func:`_bisect_labels`'s 15-section
    search on :meth:`_Law.classify`, which also stops, early, a bracket between the interior
    regime and an end regime (hazard or residual) once, at its end in the interior regime,
    the end regime's candidate is within :data:`_SETTLE` of the rank. The boundary is then
    that end, so that the end regime's closed form (``1 / hazard`` or the mean residual)
    covers the rest of the bracket, where it is the rank or, the gap shrinking towards the
    boundary, within ``_SETTLE`` of it; the interior regime's piece is the rank itself on
    either side.

    Such boundaries are where an interior optimum meets an end of the quantum range: the
    candidates merge, and the labels are decided by the tie tolerance :data:`_FLAT`, so the
    last rounds of a bisection to ``4 eps`` locate a point where they differ by about
    ``1e-12`` (exponential sizes, exponential noise, the bucket ``(0, 0.5]``: at the
    interior end ``1 / hazard`` is within 1.4e-11 of the rank 1e-5 (relative) before the
    boundary and 1.2e-12 at 1e-9). Measured: 3-4 rounds instead of 12 for such brackets;
    over 36 GittinsBuckets values (6 size laws x 3 noise models x 1 and 2 thresholds, load
    0.8) the mean response times within 4.4e-12 of the full bisection's, GittinsBuckets
    ``(0.5, 2)`` on exponential sizes with exponential noise 283 -> 195 ms."""
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    lab_lo = np.asarray(lab_lo, dtype=int)
    lab_hi = np.asarray(lab_hi, dtype=int)
    out = hi.copy()
    # the end regime of an interior/end bracket and where its interior end is (-1: none)
    e = np.where(lab_lo == 2, lab_hi, np.where(lab_hi == 2, lab_lo, -1))
    e = np.where((e == 0) | (e == 1), e, -1)
    low_side = lab_lo == 2
    gap_lo = _end_gap(at_lo[0], at_lo[2], at_lo[3], e)
    gap_hi = _end_gap(at_hi[0], at_hi[2], at_hi[3], e)
    open_ = np.ones(lo.size, dtype=bool)
    # a bracket of the grid's points around a breakpoint (1e-9 wide): the regimes change
    # at the breakpoint (a kink of the law), where the spans are cut anyway
    for z in law.bps:
        snap = open_ & (lo <= z) & (z <= hi * (1.0 + 2e-9)) & (hi - lo <= 2e-9 * hi)
        out[snap] = z
        open_ &= ~snap
    # hazard <-> residual: where 1 / hazard and the mean residual cross (both smooth), by
    # false position on their difference, without the quantum search
    hm = open_ & (((lab_lo == 0) & (lab_hi == 1)) | ((lab_lo == 1) & (lab_hi == 0)))
    if np.any(hm):
        idx = np.nonzero(hm)[0]
        root, ok = _cross(law, lo[idx], hi[idx])
        out[idx[ok]] = root[ok]
        open_[idx[ok]] = False
    # interior <-> end where the two candidates cross (not where the optimum merges into
    # the end): the root of their difference, the interior one followed from its end
    sw = open_ & (e >= 0)
    if np.any(sw):
        idx = np.nonzero(sw)[0]
        b_int = np.where(low_side, b_lo, b_hi)[idx]
        a_int = np.where(low_side, lo, hi)[idx]
        root = _end_switch_roots(law, lo[idx], hi[idx], e[idx], a_int, b_int)
        ok = np.isfinite(root)
        out[idx[ok]] = root[ok]
        open_[idx[ok]] = False
    for _ in range(40):
        gap = np.where(low_side, gap_lo, gap_hi)
        settled = open_ & (e >= 0) & (gap <= _SETTLE)
        out[settled] = np.where(low_side, lo, hi)[settled]
        open_ &= ~settled
        act = np.nonzero(open_ & (hi > lo) & ~(hi - lo <= 4.0 * _EPS * hi))[0]
        if act.size == 0:
            break
        z = _section_points(lo[act], hi[act])
        G, lab, H, M = law.classify(z.ravel(), ends=True)
        lab, G, H, M = (v.reshape(z.shape) for v in (lab, G, H, M))
        new_lo, new_hi, k = _section_step(z, lab == lab_hi[act, None], lo[act], hi[act])
        r = np.arange(act.size)
        km, kh = np.maximum(k - 1, 0), np.minimum(k, z.shape[1] - 1)
        move_lo, move_hi = k > 0, k < z.shape[1]
        stuck = (new_lo == lo[act]) & (new_hi == hi[act])
        ea = e[act]
        gap_lo[act] = np.where(move_lo, _end_gap(G[r, km], H[r, km], M[r, km], ea), gap_lo[act])
        gap_hi[act] = np.where(move_hi, _end_gap(G[r, kh], H[r, kh], M[r, kh], ea), gap_hi[act])
        lo[act], hi[act] = new_lo, new_hi
        out[act] = hi[act]
        if np.all(stuck):
            break
    return out


def _cross(law: _Law, lo, hi):
    """Ages in ``(lo_i, hi_i]`` where ``1 / hazard - mean residual`` changes sign, by the
    age-rank engine's bracketed solver (:func:`~qtheory.analysis.agerank._bracket_solve`,
    Illinois false position to a few ulps) on that difference, all brackets at once:
    ``(ages, ok)``, ``ok`` False where the difference is not finite with opposite signs at
    the ends or turns NaN inside (those are left to the label bisection)."""
    from .agerank import _bracket_solve

    def d(x):
        with np.errstate(all="ignore"):
            return law.hazard_inv(x) - law.mrl(x)

    a, b = np.array(lo, dtype=float), np.array(hi, dtype=float)
    fa, fb = d(a), d(b)
    ok = np.isfinite(fa) & np.isfinite(fb) & (np.sign(fa) * np.sign(fb) < 0)
    root = b.copy()
    for rising in (True, False):
        sel = ok & ((fa < 0) if rising else (fa > 0))
        if np.any(sel):
            try:
                root[sel] = _bracket_solve(d, a[sel], b[sel], 0.0, rising)
            except ValueError:  # NaN inside the bracket
                ok[sel] = False
    return root, ok


def _sides(b, z):
    """Where quanta ending at ``b`` end against the breakpoint ``z``: -1 before it, 0 at it
    (to 1e-9 relative), 1 past it."""
    return np.where(np.abs(b - z) <= 1e-9 * z, 0, np.where(b > z, 1, -1))


def _breakpoint_splits(law: _Law, s, e, n=48):
    """Ages in ``(s, e)`` where the best quantum's end arrives at or leaves a breakpoint
    ``z`` of the law (a kink of ``J(a, b)`` in ``b``; the ends of the support are left
    out: no quantum ends best at the lower end, and one that ends at the upper end is
    the residual regime).

    While the best quantum ends at ``z``, the rank is ``J(a, z)``; on either side it is an
    interior optimum, so the rank's second derivative jumps where the optimum reaches or
    leaves ``z``, which a Chebyshev fit resolves only by halving around it (the posterior
    of a hyperexponential law given a uniform-noise prediction bucket: 13 pieces in 2.1 s
    without these splits, 6 in 1.3 s with them, equal to 2e-13). The ages are found by
    sampling the side of ``z`` on which the best quantum ends at ``n`` ages (one search),
    then finding each change as the root of a smooth function (:func:`_crossing_roots`) or,
    where that does not apply, with :func:`_bisect_labels`, to ``4 eps``: the rank's slope
    may jump there too (bounded Pareto sizes, uniform noise 0.5, the bucket (0, 0.5]: from
    -1.2 to -4 at age 0.19935), so a split 2e-9 (relative) off put a kink inside a piece
    and left the rank 5.4e-9 off between them (a search to 1e-8, tried and undone)."""
    zs = [z for z in law.bps[law._inner] if z > s]
    if not zs or not e > s:
        return []
    a = (np.geomspace(s, e, n) if s > 0 and e > 16 * s else np.linspace(s, e, n))[1:-1]
    # and ages a hair inside both ends: a crossing between the last inner age and an end
    # was missed (the posterior of a hyperexponential law given Y > 1, uniform noise 0.5:
    # the best quantum ends past the kink at 2 until age 0.6551 of the span [0, 2/3], whose
    # last inner age is 0.652; the fit then halved 9 times around the kink, 0.54 of 0.79 s)
    w = 1e-9 * (e - s)
    a = np.concatenate([[s + w], a, [e - w]])
    _, b = law.interior(a)
    lo, hi, s_lo, s_hi, b_lo, b_hi, zz = [], [], [], [], [], [], []
    for z in zs:
        side = _sides(b, z)
        ch = np.nonzero(side[1:] != side[:-1])[0]
        if abs(z - e) <= 1e-9 * abs(e):  # the span ends at z: the quantum to z shrinks to 0
            ch = ch[ch < a.size - 2]
        lo.append(a[ch]), hi.append(a[ch + 1]), s_lo.append(side[ch]), s_hi.append(side[ch + 1])
        b_lo.append(b[ch]), b_hi.append(b[ch + 1]), zz.append(np.full(ch.size, z))
    zz = np.concatenate(zz)
    if not zz.size:
        return []
    lo, hi, s_lo, s_hi, b_lo, b_hi = (np.concatenate(v) for v in (lo, hi, s_lo, s_hi, b_lo,
                                                                    b_hi))
    # most crossings are roots of smooth functions of the age (_crossing_roots); the rest
    # by bisection on the side, all at once: one quantum search a round for every bracket
    found = _crossing_roots(law, lo, hi, zz, s_lo, s_hi, b_lo, b_hi)
    rest = np.nonzero(np.isnan(found))[0]
    if rest.size:
        zr = zz[rest]
        found[rest] = _bisect_labels(
            lambda x, act: _sides(law.interior(x.ravel())[1].reshape(x.shape), zr[act, None]),
            lo[rest], hi[rest], s_hi[rest], rows=True)
    return sorted({float(h) for h in found})


def _illinois(f, lo, hi, flo, fhi):
    """Roots in ``[lo_i, hi_i]`` of functions ``f(x, rows)`` (one per row, evaluated for the
    rows ``rows`` at ``x``) with ``f(lo) < 0 < f(hi)`` or the reverse: Illinois false
    position with a bisection every fourth step, to ``4 eps``, all rows side by side. NaN
    for a row whose function turns NaN."""
    a, b = np.array(lo, dtype=float), np.array(hi, dtype=float)
    fa, fb = np.array(flo, dtype=float), np.array(fhi, dtype=float)
    out = np.full(a.size, np.nan)
    last = np.zeros(a.size, dtype=np.int8)  # the end replaced last: -1 a, 1 b
    act = np.nonzero(np.sign(fa) * np.sign(fb) < 0)[0]
    for it in range(200):
        if act.size == 0:
            break
        A, B, FA, FB = a[act], b[act], fa[act], fb[act]
        mid = 0.5 * (A + B)
        with np.errstate(all="ignore"):
            c = B - FB * (B - A) / (FB - FA)
        c = mid if it % 4 == 3 else np.where((c > A) & (c < B), c, mid)
        fc = np.asarray(f(c, act), dtype=float)
        bad = np.isnan(fc)
        hit = fc == 0.0
        out[act[hit]] = c[hit]
        left = ~bad & ~hit & (np.sign(fc) == np.sign(FA))  # the root is in (c, B)
        right = ~bad & ~hit & ~left
        ia, ib = act[left], act[right]
        a[ia], fa[ia] = c[left], fc[left]
        fb[ia] = np.where(last[ia] == -1, 0.5 * fb[ia], fb[ia])  # Illinois: halve the stale end
        b[ib], fb[ib] = c[right], fc[right]
        fa[ib] = np.where(last[ib] == 1, 0.5 * fa[ib], fa[ib])
        last[ia], last[ib] = -1, 1
        done = ~bad & ~hit & (b[act] - a[act] <= 4.0 * _EPS * np.maximum(np.abs(a[act]),
                                                                            np.abs(b[act])))
        out[act[done]] = b[act[done]]
        act = act[~bad & ~hit & ~done]
    return out


def _checked_roots(f, lo, hi, flo, fhi, value, least):
    """Roots of ``f`` by :func:`_illinois`, each kept where no candidate does better there:
    ``least(roots, rows) >= value(roots, rows) * (1 - _CROSS_CHECK)`` (``value``: the
    candidate the root was found on; ``least``: the least of all the rank's candidates at
    those ages); NaN elsewhere and where the root finding fails."""
    out = np.full(np.size(lo), np.nan)
    r = _illinois(f, lo, hi, flo, fhi)
    g = np.nonzero(np.isfinite(r))[0]
    if g.size:
        rg = r[g]
        keep = least(rg, g) >= value(rg, g) * (1.0 - _CROSS_CHECK)
        out[g[keep]] = rg[keep]
    return out


def _crossing_roots(law: _Law, lo, hi, z, s_lo, s_hi, b_lo, b_hi):
    """The ages in ``(lo_i, hi_i)`` where the best quantum's end moves from side ``s_lo_i``
    of the breakpoint ``z_i`` to side ``s_hi_i`` (:func:`_sides`; ``b_lo``, ``b_hi`` the best
    quantum's ends at ``lo``, ``hi``), as roots of smooth functions of the age; NaN where
    neither kind of crossing below applies or its root fails the check (left to the
    bisection of :func:`_breakpoint_splits`).

    * The optimum moves through ``z`` (or onto it, or off it): ``dJ(a, b)/db`` at ``b = z``
      (from below or above) changes sign, that is ``J(a, z) = P(X > z) / f(z-)`` (or
      ``f(z+)``): the best quantum stays on the side of ``z`` where ``J`` decreases towards
      ``z``. Taken where those signs at ``lo`` and ``hi`` match the sides; the root is kept
      if ``z`` is the best quantum end there (no other quantum below ``J(a, z)``).
    * The best quantum jumps from one local optimum to another, on the other side of ``z``:
      the root of the difference of their values, each the least ``J`` near where it was at
      the bracket's end (Brent's search, :meth:`_Law._section`, in a window of a factor
      ``e`` either way of ``b - a``, not crossing ``z``), kept if no quantum does better
      there.

    Both roots are found by false position to ``4 eps`` (:func:`_illinois`), a few dozen
    ``J`` evaluations each instead of the quantum searches of a bisection on the side (10 to
    12 rounds of 15 ages; bounded Pareto sizes with uniform noise, the buckets of thresholds
    0.5 and 2: 25 of 220 ms). The first kind is exact where the bisection is not: near such
    a crossing the best quantum is within the searches' tolerance of ``z``, so the sides
    are noise there."""
    n = lo.size
    out = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        sz = law.sf(z)
        f_m = law.pdf(np.nextafter(z, 0.0))
        f_p = law.pdf(np.nextafter(z, np.inf))
        h_m = np.where(f_m > 0, sz / f_m, np.inf)
        h_p = np.where(f_p > 0, sz / f_p, np.inf)

    def jz(x, rows):
        ea, _, _ = law._ends(x)
        return law._Jat(x, ea, z[rows])

    # ---- the optimum moves through z, onto it or off it
    pair_m = ((s_lo == -1) & (s_hi == 0)) | ((s_lo == 0) & (s_hi == -1))
    pair_p = ((s_lo == 1) & (s_hi == 0)) | ((s_lo == 0) & (s_hi == 1))
    cont = np.abs(f_p - f_m) <= _JUMP * np.maximum(f_m, f_p)
    through = (s_lo * s_hi == -1) & cont
    H = np.where(pair_m | through, h_m, np.where(pair_p, h_p, np.nan))
    cand = np.nonzero(np.isfinite(H))[0]
    if cand.size:
        with np.errstate(all="ignore"):
            pl = jz(lo[cand], cand) - H[cand]
            ph = jz(hi[cand], cand) - H[cand]
        # dJ/db at z has the sign of P(X > z) / f(z) - J(a, z) (from below: f(z-), from
        # above: f(z+)). Side -1 (J rises at z, the optimum below): J(a, z) - H < 0; side
        # 1 (J falls past z): J(a, z) - H > 0; side 0: the opposite of the other end's
        want = np.where(s_lo[cand] != 0, s_lo[cand], -s_hi[cand])
        ok = (np.sign(pl) == want) & (np.sign(ph) == -want)
        c = cand[ok]
        if c.size:
            out[c] = _checked_roots(lambda x, rows: jz(x, c[rows]) - H[c[rows]], lo[c], hi[c],
                                    pl[ok], ph[ok], lambda x, rows: jz(x, c[rows]),
                                    lambda x, rows: law.interior(x)[0])
    # ---- the best quantum jumps across z between two local optima
    cand = np.nonzero(np.isnan(out) & (s_lo != s_hi))[0]
    if cand.size:
        out[cand] = _switch_roots(law, lo[cand], hi[cand], z[cand], s_lo[cand], s_hi[cand],
                                  b_lo[cand], b_hi[cand])
    return out


def _branch(law: _Law, x, z, s, u0):
    """The least ``J(x, b)`` near ``b = x + exp(u0)`` on side ``s`` of ``z`` (``s = 0``:
    ``J(x, z)``): Brent's search in ``u`` within ``u0 +- 1``, not crossing ``z``; NaN where
    the least value lies on the window's edge (the optimum is not where it was)."""
    val = np.full(x.size, np.nan)
    at_z = s == 0
    if np.any(at_z):
        xz = x[at_z]
        ea, _, _ = law._ends(xz)
        val[at_z] = law._Jat(xz, ea, z[at_z])
    m = ~at_z
    if np.any(m):
        xm = x[m]
        ea, _, _ = law._ends(xm)
        with np.errstate(all="ignore"):
            uz = np.log(z[m] - xm)  # (NaN where z <= x: no constraint from below)
        ulo, uhi = u0[m] - 1.0, u0[m] + 1.0
        up = s[m] == 1
        ulo = np.where(up & (uz > ulo), uz, ulo)
        uhi = np.where(~up & (uz < uhi), uz, uhi)
        flo = law._Jat(xm, ea, xm + np.exp(ulo))
        fhi = law._Jat(xm, ea, xm + np.exp(uhi))
        v, u = law._section(xm, ea, ulo, uhi, flo, fhi)
        edge = (u - ulo <= 1e-6) | (uhi - u <= 1e-6) | ~(uhi > ulo)
        val[m] = np.where(edge, np.nan, v)
    return val


def _switch_roots(law: _Law, lo, hi, z, s_lo, s_hi, b_lo, b_hi):
    """Roots of ``V_lo(a) - V_hi(a)``, the values of the local optima best at ``lo`` and at
    ``hi`` followed into the bracket (:func:`_branch`); NaN where they do not bracket a
    change or the root fails the check (:func:`_crossing_roots`)."""
    with np.errstate(all="ignore"):
        u_lo = np.log(b_lo - lo)
        u_hi = np.log(b_hi - hi)

    def d(x, rows):
        vl = _branch(law, x, z[rows], s_lo[rows], u_lo[rows])
        return vl - _branch(law, x, z[rows], s_hi[rows], u_hi[rows])

    every = np.arange(lo.size)
    dl, dh = d(lo, every), d(hi, every)
    out = np.full(lo.size, np.nan)
    c = np.nonzero((dl <= 0) & (dh > 0))[0]
    if c.size:
        out[c] = _checked_roots(
            lambda x, rows: d(x, c[rows]), lo[c], hi[c], dl[c], dh[c],
            lambda x, rows: _branch(law, x, z[c[rows]], s_hi[c[rows]], u_hi[c[rows]]),
            lambda x, rows: law.interior(x)[0])
    return out


def _end_switch_roots(law: _Law, lo, hi, e, a_int, b_int):
    """Where the end candidate ``e`` (0: ``1 / hazard``, 1: the mean residual) and the
    interior optimum cross in ``(lo, hi)``: the root of their difference, the interior one
    the least ``J`` near the best quantum ``b_int`` of the bracket's interior end ``a_int``
    (:func:`_branch`), kept if no candidate is lower there (by ``_CROSS_CHECK``); NaN where
    the difference does not change sign (the optimum merges into the end: the bisection of
    :func:`_bisect_regimes` then settles it), the interior optimum leaves its window or the
    check fails. Measured (bounded Pareto sizes, uniform noise 0.5, the buckets of thresholds
    0.5 and 2): 4 of the 7 interior / end boundaries are such crossings, found this way
    instead of by up to 8 rounds of the bisection's 15 ages; 3 are merges."""
    with np.errstate(all="ignore"):
        u0 = np.log(b_int - a_int)
    z = np.full(lo.size, np.nan)
    side = np.ones(lo.size, dtype=np.int64)

    def d(x, rows):
        with np.errstate(all="ignore"):
            end = np.where(e[rows] == 0, law.hazard_inv(x), law.mrl(x))
        return end - _branch(law, x, z[rows], side[rows], u0[rows])

    every = np.arange(lo.size)
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    dl, dh = d(lo, every), d(hi, every)
    # where the interior optimum does not reach the end regime's end of the bracket (it is
    # born inside, above the end candidate, and crosses it further on: bounded Pareto sizes,
    # uniform noise 0.5, the bucket (0, 0.5], ages 0.19-0.194 then 0.19489), the last of 8
    # ages across the bracket where it exists and is still above the end candidate
    low_int = a_int == hi
    d_end = np.where(low_int, dl, dh)
    gone = np.nonzero(np.isnan(d_end) & np.isfinite(np.where(low_int, dh, dl)))[0]
    if gone.size:
        t = np.arange(1, 9) / 9.0
        a_end = np.where(low_int, lo, hi)[gone]
        x = a_end[:, None] + (a_int[gone] - a_end)[:, None] * t[None, :]
        dx = d(x.ravel(), np.repeat(gone, t.size)).reshape(x.shape)
        sign_end = np.sign(np.where(low_int, dh, dl)[gone])  # the interior end's sign...
        above = np.isfinite(dx) & (np.sign(dx) == -sign_end[:, None])  # ... and the end's
        has = above.any(axis=1)
        k = t.size - 1 - np.argmax(above[:, ::-1], axis=1)  # the last such age
        rows, kk = gone[has], k[has]
        xs, ds = x[has, kk], dx[has, kk]
        lo[rows] = np.where(low_int[rows], xs, lo[rows])
        dl[rows] = np.where(low_int[rows], ds, dl[rows])
        hi[rows] = np.where(low_int[rows], hi[rows], xs)
        dh[rows] = np.where(low_int[rows], dh[rows], ds)
    def least(x, rows):
        ea, H, M = law._ends(x)
        return np.minimum(np.minimum(H, M), law.interior(x, ea)[0])

    out = np.full(lo.size, np.nan)
    c = np.nonzero(np.isfinite(dl) & np.isfinite(dh) & (np.sign(dl) * np.sign(dh) < 0))[0]
    if c.size:
        out[c] = _checked_roots(
            lambda x, rows: d(x, c[rows]), lo[c], hi[c], dl[c], dh[c],
            lambda x, rows: _branch(law, x, z[c[rows]], side[c[rows]], u0[c[rows]]), least)
    return out


class _ChebFunc:
    """A Chebyshev interpolant in ``a`` or in ``sqrt(hi - a)`` / ``sqrt(a - lo)`` (for a
    square-root endpoint behaviour, e.g. the Gittins rank just below the lower end of a Pareto
    law's support)."""

    def __init__(self, cheb, lo, hi, mode):
        self.cheb, self.lo, self.hi, self.mode = cheb, lo, hi, mode
        self._held = None
        self.rough = None  # a failed fit: where the function was roughest (see _fit)

    @property
    def _args(self):
        """The compiled kernels' arguments (made on first use: most fits are tries)."""
        if self._held is None:
            off, scl = self.cheb.mapparms()
            self._held = (np.ascontiguousarray(self.cheb.coef, dtype=float), float(off),
                          float(scl), int(self.mode), float(self.lo), float(self.hi))
        return self._held

    def __call__(self, a):
        """The interpolant at the ages ``a``: ``cheb`` at ``a``, ``sqrt(hi - a)`` or
        ``sqrt(a - lo)``, compiled (:func:`~qtheory.analysis._chebsolve.cheb_eval`, the
        values of NumPy's ``Chebyshev.__call__`` to the last bit)."""
        from ._chebsolve import cheb_eval

        return cheb_eval(*self._args, a)

    def bracket_solve(self, lo, hi, level, increasing: bool, strict: bool) -> np.ndarray:
        """:func:`~qtheory.analysis.agerank._bracket_solve` on this interpolant, compiled
        (:mod:`qtheory.analysis._chebsolve`; the same ages to the last bit)."""
        from ._chebsolve import cheb_bracket_solve

        return cheb_bracket_solve(*self._args, lo, hi, level, increasing, strict)


def _lobatto(n: int):
    """The Chebyshev-Lobatto points ``cos(pi k / n)`` (``k = 0 .. n``, descending) and the
    matrix that takes values there to the coefficients of the degree-``n`` interpolant (the
    discrete cosine transform of type I). The points of ``n`` are every other point of
    ``2 n``, so that a fit of degree 64 reuses the 33 values of degree 32."""
    hit = _LOBATTO.get(n)
    if hit is None:
        k = np.arange(n + 1)
        t = np.cos(np.pi * k / n)
        m = (2.0 / n) * np.cos(np.pi * np.outer(k, k) / n)
        m[:, [0, n]] *= 0.5
        m[[0, n], :] *= 0.5
        hit = _LOBATTO[n] = (t, m)
    return hit


_LOBATTO: dict = {}


def _fit(f, lo, hi):
    """``(interpolant, True)`` once a fit of ``f`` on [lo, hi] converges, else
    ``(last try, False)``, the last try's ``rough`` the fraction of the interval where the
    function is roughest (see :func:`_cheb_pieces`).

    Tried in ``a`` and in the square root of the distance to either end (a rank with a
    square-root end, e.g. just below the lower end of a Pareto law's support, or where an
    optimum merges into an end regime), each at degree 16, then 32 and, where the
    coefficients' decay from degree 16 to 32 would bring the tail near the tolerance by 64,
    at degree 64, on nested Chebyshev-Lobatto points (17 values, then 16 and 32 new ones).
    The points of the first kind used before (degrees 32 and 48, 33 + 49 values) do not
    nest: on the ranks of the nine buckets of eight equal-probability thresholds (Weibull
    0.5 sizes, exponential noise) 37 of 61 fits needed the second degree, and the ranks took
    31 ms a bucket; 16 ms now. Over 62 bucket laws the fitted ranks agree with the direct
    quantum search to 5.1e-12, as before."""
    w = np.sqrt(hi - lo)
    # (the ages clipped to [lo, hi]: the Lobatto points include the ends, and hi - w * w
    # can round below lo, e.g. below the lower end of a support, where the rank is NaN)
    tries = [(0, f, (lo, hi)),
             (1, lambda z: f(np.maximum(hi - z * z, lo)), (0.0, w)),
             (2, lambda z: f(np.minimum(lo + z * z, hi)), (0.0, w))]
    if lo == 0.0:  # a rank from age 0 is mostly singular there (a density like a**-0.5)
        tries = [tries[2], tries[0], tries[1]]
    last = None
    t64 = _lobatto(64)[0]
    rough = None
    for mode, g, dom in tries:
        d0, d1 = dom
        v = np.empty(65)  # the values at the Lobatto points of degree 64, as they come
        coef = np.zeros(1)
        for deg, new in ((16, slice(0, None, 4)), (32, slice(2, None, 4)),
                         (64, slice(1, None, 2))):
            v[new] = np.asarray(g(d0 + (d1 - d0) * 0.5 * (t64[new] + 1.0)), dtype=float)
            if deg == 32 and mode == 0:
                # where the degree-16 interpolant misses the new values most (as a fraction
                # of the interval): :func:`_cheb_pieces` cuts a failed interval near there
                with np.errstate(all="ignore"):
                    miss = np.abs(_cheb.chebval(t64[new], coef) - v[new])
                if np.all(np.isfinite(miss)):
                    rough = 0.5 * (float(t64[new][int(np.argmax(miss))]) + 1.0)
            coef = _lobatto(deg)[1] @ v[::64 // deg]
            last = _ChebFunc(_cheb.Chebyshev(coef, domain=[d0, d1]), lo, hi, mode)
            scale = max(float(np.max(np.abs(coef[:4]))), 1e-300)
            tail = float(np.max(np.abs(coef[-4:])))
            if tail <= _CHEB_TOL * scale:
                return last, True
            # degree 64 only where the coefficients' decay from degree 16 to 32 would bring
            # the tail near the tolerance by 64 (that decay twice more: tail**3 / middle**2);
            # else it is one more failed fit before the interval is cut
            middle = max(float(np.max(np.abs(coef[14:18]))), 1e-300)
            if deg == 32 and tail ** 3 > 1e3 * _CHEB_TOL * scale * middle * middle:
                break
    last.rough = rough
    return last, False


def _cheb_pieces(f, a, b, scale):
    """Adaptive Chebyshev interpolants of ``f`` on [a, b]: list of (a, b, callable).

    An interval is accepted when the last coefficients of its degree-16, 32 or 64
    interpolant (:func:`_fit`), in ``a`` or in the square root of the distance to one of its
    ends, are below ``_CHEB_TOL`` times its largest value; else it is halved (geometrically
    where it spans decades), down to a relative width of ``1e-10``, at most 200 intervals.

    An interval over more than a factor :data:`_DECADES` of ages (from ``scale``, the law's
    median, where it starts at 0) is first cut at powers of 16: the tolerance is relative
    to the largest value, and a rank that grows with the age (a mean residual, linear for a
    Pareto law) would otherwise be fitted over ``[1, 1.4e10]`` to an absolute ``1e-6``,
    2.4e-6 relative where it is 0.67 (SERPT of a tabulated Pareto(2.5) law: mean response
    time 1.5e-7 off)."""
    a, b = float(a), float(b)
    todo = [(a, b, 0)]
    lo0 = a if a > 0 else float(scale)
    if np.isfinite(b) and lo0 > 0 and b > _DECADES * lo0:
        cuts = geometric_edges(lo0, b, 16.0)
        if a == 0:
            cuts = np.concatenate([[0.0], cuts])
        todo = [(float(x), float(y), 1) for x, y in zip(cuts[-2::-1], cuts[:0:-1])]
    out = []
    while todo:
        lo, hi, depth = todo.pop()
        fn, ok = _fit(f, lo, hi)
        tiny = (hi - lo) <= 1e-10 * max(abs(hi), 1e-300)
        if ok or tiny or depth >= 60 or len(out) + len(todo) >= 200:
            out.append((lo, hi, fn))
            continue
        # geometric where the interval spans decades; from 0, at a sixteenth (a rank that
        # fails to fit on [0, h] is mostly singular at 0, e.g. a density like a**-0.5:
        # [0, 1434] took 13 halvings, each 6 failed fits, before [0, 0.175] fitted)
        # and next to an end where the function is rough (the degree-16 interpolant in the
        # age misses the values between its points most next to that end), at an eighth:
        # halving towards a singular point at or near an end fits one half at once and
        # fails the other every try, some 30 times to reach it (the rank of the exponential
        # posterior given y = 10.4 did so at a spurious jump, since removed, see
        # classify; the node laws of GittinsPosterior(16) on five size / noise pairs take
        # 5 % fewer rank values with the eighths)
        rough = getattr(fn, "rough", None)
        if lo > 0 and hi > 8 * lo:
            mid = np.sqrt(lo * hi)
        elif lo == 0.0 and depth < 8:
            mid = hi / 16.0
        elif rough is not None and rough >= 0.9:
            mid = hi - 0.125 * (hi - lo)
        elif rough is not None and rough <= 0.1:
            mid = lo + 0.125 * (hi - lo)
        else:
            mid = 0.5 * (lo + hi)
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


def _fitted(size) -> bool:
    """Whether the closed-form pieces of a rank of ``size`` (inverse hazard, mean residual
    size) are taken as Chebyshev interpolants (:func:`_cheb_pieces`), as the Gittins optimum's
    always are: for a tabulated law (its tail quantities are tables) and for a truncated law
    (:class:`~qtheory.distributions.truncated.Truncated`, each evaluation a few calls of its
    parent law on small arrays). An interpolant's evaluation and its level solves are
    compiled (:class:`_ChebFunc`); with the closed forms a mean of GittinsBuckets(0.5, 2)
    under exact predictions spent most of its time in the level solver's Python loop on
    them: 200 -> 104 ms on bounded Pareto(1.5, 0.2, 50) sizes, 121 -> 51 ms on Weibull 0.5
    sizes, the values within 1 ulp. The pieces are then judged flat at
    :data:`_FLAT_TABLE`, as a tabulated law's."""
    from ..distributions.truncated import Truncated

    return bool(getattr(size, "tabulated", False)) or isinstance(size, Truncated)


def _gittins_continuous(size) -> AgeRank:
    law = _Law(size)
    grid = _grid(law)
    G, lab, H, M, B = law.classify(grid, ends=True, quanta=True)
    scale = np.max(np.abs(G[np.isfinite(G)]))
    fin = np.isfinite(G)
    spread = (np.max(G[fin]) - np.min(G[fin])) / max(scale, 1e-300)
    lab = _runs(lab)
    if lab is None or spread <= 1e-12:  # all candidates tie: a constant rank (exponential)
        return AgeRank.constant(float(np.median(G[fin])), name="Gittins")
    # regime boundaries
    bounds = [0.0]
    labels = [int(lab[0])]
    change = np.nonzero(lab[1:] != lab[:-1])[0] + 1
    found = _bisect_regimes(law, grid[change - 1], grid[change], lab[change - 1],
                            lab[change], tuple(v[change - 1] for v in (G, lab, H, M)),
                            tuple(v[change] for v in (G, lab, H, M)), B[change - 1],
                            B[change])
    for i, z in zip(change, found):
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
        if lb in (0, 1):
            kind = 1 if lb == 0 else -1
            fn = _closed(law.hazard_inv if lb == 0 else law.mrl, law.cap)
            if _fitted(size):
                for c0, c1, ch in _cheb_pieces(fn, s2, e2, law.med):
                    pieces.append(RankPiece(c0, c1, kind, ch))
            else:
                pieces.append(RankPiece(s2, e2, kind, fn))
        else:
            cuts = [s2, *[z for z in _breakpoint_splits(law, s2, e2) if s2 < z < e2], e2]
            for t0, t1 in zip(cuts[:-1], cuts[1:]):
                for c0, c1, ch in _cheb_pieces(law.gittins, t0, t1, law.med):
                    pieces.append(RankPiece(c0, c1, -1, ch))
    gA = law.last_value(law.gittins if labels[-1] == 2 else pieces[-1].eval)
    pieces.append(_last_piece(law, pieces, gA))
    flat = _FLAT_TABLE if _fitted(size) else _FLAT_PIECE
    return AgeRank(_fix_kinds(pieces, flat), name="Gittins", age_hint=A)


def _last_piece(law, pieces, value: float) -> RankPiece:
    """The rank beyond the age ``A`` where the tail is negligible: the constant ``value``;
    but for a law with an infinite second moment whose rank rises up to ``A``, a line rising
    from ``value``. Any slope gives the same order there (the jobs past ``A`` rank above
    every younger one, and among themselves the youngest first, as under the true rank,
    which keeps rising); the slope is the least that double precision resolves at that
    value (twice the least that ``AgeRankAnalysis`` accepts, :data:`_SLOPE_RES` over the
    same age scale). Held constant, those jobs were served
    first come first served among themselves, with an infinite mean wait: Gittins and SERPT
    on Pareto(1.5) sizes gave ``inf``, where FB gives 9.27; now 8.7204452445, equal to the
    analysis of the rank in closed form (``a / 1.5`` past age 1) to 3e-12."""
    A = law.A
    rising = bool(pieces) and pieces[-1].kind == 1 and pieces[-1].end >= A
    if rising and not np.isfinite(float(law.s.moment(2))) and np.isfinite(value) \
            and value > 0:
        scale = law.m1 if np.isfinite(law.m1) and law.m1 > 0 else law.med
        return RankPiece(A, np.inf, value=value, slope=2.0 * _SLOPE_RES * value / scale)
    return RankPiece(A, np.inf, value=value)


def _fix_kinds(pieces, flat: float = _FLAT_PIECE):
    """Turn pieces whose values do not move (to rounding: ``flat`` relative, at their ends
    and 15 inner ages) into constants, and give a piece whose end values go the other way
    (a sliver at a regime change, where the candidates tie to rounding) the direction of its
    ends. ``flat`` is :data:`_FLAT_PIECE` for a law in closed form and :data:`_FLAT_TABLE`
    for a tabulated one (a posterior law: its tail quantities and density are tables good to
    about 1e-13 each, and the rank's pieces are Chebyshev fits to 1e-12; an exactly
    exponential tail of the posterior, e.g. past the reach of a bounded noise factor, came
    out as a rising piece of spread 5.2e-13 otherwise).

    A flat piece is a real constant (an exponential tail: the rank is ``1 / rate`` there)
    whose rounding noise would otherwise make it a rising or falling piece, and SOAP ties
    differ: equal constant ranks are served first come first served, equal rising ranks
    share the server."""
    out = []
    for p in pieces:
        if p.kind != 0 and np.isfinite(p.end):
            ends = p.eval(np.array([p.start, p.end]))
            inner = p.eval(p.start + (p.end - p.start) * np.linspace(0.0, 1.0, 17)[1:-1])
            vals = np.concatenate([ends, inner])
            if np.all(np.isfinite(vals)) and (np.max(vals) - np.min(vals)
                                              <= flat * np.max(np.abs(vals))):
                out.append(RankPiece(p.start, p.end, value=float(np.median(vals))))
                continue
            kind = 1 if ends[1] > ends[0] else -1
            if kind != p.kind:
                p = RankPiece(p.start, p.end, kind, p.func)
            cut = _flat_tail(p, ends[1], inner[-1], flat) if np.all(np.isfinite(vals)) \
                else None
            if cut is not None:
                out.append(RankPiece(p.start, cut, p.kind, p.func))
                out.append(RankPiece(cut, p.end, value=float(ends[1])))
                continue
        out.append(p)
    return out


def _flat_tail(p: RankPiece, end_value: float, last_inner: float, flat: float):
    """The age ``t`` from which a monotone piece's values stay within ``flat`` (relative)
    of its end value, when that tail is at least the last sixteenth of the piece (else
    ``None``). There the rank is a constant to rounding: a bucket law's Gittins rank that
    climbs to the larger mean of a hyperexponential law was within rounding of it from age
    12 to 34.7, still a rising piece; SOAP solved for levels near that value on it, each
    solve returned some age of the flat stretch, and its multi-class analysis wandered by
    1e-3 over its quadrature levels (the r-work integral, which uses the values, did not).
    The remaining size past such ages is exponential to rounding, so the order of those
    jobs among themselves leaves the mean as it is; as a constant they are served first
    come first served, and nothing is solved there."""
    scale = flat * abs(end_value)
    if not abs(last_inner - end_value) <= scale:
        return None
    lo, hi = float(p.start), float(p.start + (p.end - p.start) * (15.0 / 16.0))
    for _ in range(60):  # the first age of the flat tail, by bisection (monotone piece)
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if abs(float(p.eval(np.array([mid]))[0]) - end_value) <= scale:
            hi = mid
        else:
            lo = mid
    return hi if p.start < hi < p.end else None


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
    change = np.nonzero(sg[1:] != sg[:-1])[0] + 1
    want = np.where(sg[change - 1] == 1, 1, -1)
    # bisection on the sign of m - 1/h, all brackets at once (one call per halving; the
    # same midpoints as one bracket at a time, so the same ends where rounding makes the
    # sign flicker near a flat extremum of m)
    lo, hi = grid[change - 1].astype(float), grid[change].astype(float)
    act = np.arange(change.size)
    for _ in range(200):
        mid = 0.5 * (lo[act] + hi[act])
        inside = (lo[act] < mid) & (mid < hi[act])
        act, mid = act[inside], mid[inside]
        if act.size == 0:
            break
        keep = sign(mid) == want[act]
        lo[act[keep]] = mid[keep]
        hi[act[~keep]] = mid[~keep]
    for i, z in zip(change, hi):
        bounds.append(float(z))
        kinds.append(1 if sg[i] == 1 else -1)
    A = law.A
    edges = [*bounds, A]
    pieces = []
    for (s, e), k in zip(zip(edges[:-1], edges[1:]), kinds):
        cuts = [s, *[z for z in law.bps if s < z < e], e]
        for s2, e2 in zip(cuts[:-1], cuts[1:]):
            if e2 > s2:
                fn = _closed(law.mrl, law.cap)
                if getattr(size, "tabulated", False):  # as Gittins' pieces: interpolants
                    for c0, c1, ch in _cheb_pieces(fn, s2, e2, law.med):
                        pieces.append(RankPiece(c0, c1, k, ch))
                else:
                    pieces.append(RankPiece(s2, e2, k, fn))
    pieces.append(_last_piece(law, pieces, law.last_value(law.mrl)))
    flat = _FLAT_TABLE if getattr(size, "tabulated", False) else _FLAT_PIECE
    return AgeRank(_fix_kinds(pieces, flat), name="SERPT", age_hint=A)


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
    return _gittins_continuous(fast_law(size))


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
    return _serpt_continuous(fast_law(size))
