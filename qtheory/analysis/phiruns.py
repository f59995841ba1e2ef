r"""The r-work of one job law at given rank levels, from the runs of ``Phi`` (no rank table).

For a job whose size has law ``X`` and that is ranked by its own Gittins rank, the ages of
rank at most ``r`` follow from one function (Z. Scully and M. Harchol-Balter, "The Gittins
Policy in the M/G/1 Queue", WiOpt 2021, section 4; the r-work integral of
:mod:`qtheory.analysis.rwork`):

    Phi(b) = E[min(X, b)] + r P(X > b).

The rank at age ``a`` is at most ``r`` exactly when some later age ``b`` has
``Phi(b) <= Phi(a)`` (the bracket of the rank's definition, ``E[min(X, b) - a | X > a] <=
r P(a < X <= b | X > a)``, multiplied by ``P(X > a)``). So the ages served at level ``r``
are those where ``Phi`` is not below its later infimum, and they form runs ``[b_i, c_i]``:
``c_1`` the global minimiser of ``Phi`` past its first local maximum, ``b_1`` the age on
``Phi``'s first rise where it equals ``Phi(c_1)`` (0 where ``Phi(0) = r >= Phi(c_1)``: the
rank at age 0 is at most ``r``), and each later run the same past the previous ``c_i``.
A local extremum of ``Phi`` is an age where the inverse hazard ``P(X > b) / f(b)``
equals ``r``.

The r-work integral needs, at each level, the new job's r-work ``N(r) = E[min(X, c_1)]``
where ``b_1 = 0`` (else 0) and the sum over the runs of the second moments
``S(r) = sum_i E[((min(X, c_i) - b_i)^+)^2]`` (:meth:`qtheory.analysis.agerank._Law.trunc2`,
which keeps a narrow run's value to a few ulps of its length squared). :func:`run_work`
computes both for many levels at once: a compiled scan of a grid of ages (that of
:func:`~qtheory.analysis.posterior_rwork.law_grid`, with the local extrema of the inverse
hazard put in, so that a run shows on the grid however short it is) finds each run's
local minimum of ``Phi`` and a competing one whose refined value may be lower (where two
are close, the grid's own values would place the switch between them 4e-6 off); the runs'
ends and starts are refined by the Illinois method (:func:`illinois`) on well scaled
functions (the inverse hazard minus ``r``; ``(Phi(x) - Phi(c)) / P(X > x)``). ``Phi`` is
carried as ``Phi - E[X] = r P(X > b) - E[(X - b)^+]`` from tail moments: in the upper
tail ``Phi`` itself is ``E[X]`` to rounding, and the runs there were placed by rounding.

:func:`level_integral` integrates ``S(r) weight(r) / r**2`` over the level, in
``s = 1 / r``, between the law's critical levels: its rank at age 0, the local extrema of
its inverse hazard (folds, where runs appear or merge), the inverse hazard at the grid's
ends and on both sides of the law's breakpoints, and the rank at those breakpoints
(:func:`rank_at`: a run's start crosses an age where the density jumps). Where a run's end
switches between two local minima of ``Phi`` (``S`` jumps) the runs' signature changes
inside a piece; the switch is found to rounding and the pieces are graded towards it (the
next run's start closes on the first run's end like the square root of the distance).

Checked against the Gittins rank tables and r-work engines (``tests/test_phiruns.py``): N
within 7e-16 of the mean and S within 2e-13 of ``E[X^2]`` at 400 levels on nine laws
(posteriors among them); alone in the queue, the level integral equals SOAP's tagged-job
Gittins mean to 1e-9; as each node's ``T(y)`` of
:class:`~qtheory.analysis.posterior_rwork.SwappedPosteriorAnalysis` (its default since the
25th session) within 3.4e-10 of the engines' on 24 random systems
(``validation/phiruns_random.py``). It needs no Gittins rank table, which took 5 to 8 ms a
node law there.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

__all__ = ["run_work", "illinois", "hazard_extrema", "level_integral", "rank_at",
           "inverse_hazard", "span_edges"]

_RUNS = 8  # runs of Phi at one level at most (more: a ValueError)


def illinois(fun, lo: np.ndarray, hi: np.ndarray, flo: np.ndarray, fhi: np.ndarray,
             iters: int = 80, xtol: float = 1e-14) -> np.ndarray:
    """Roots of ``fun`` (vectorised, one root per bracket ``[lo, hi]`` with ``flo`` and
    ``fhi`` of opposite signs or zero; ``fun(x, i)`` gives the values at the points ``x``
    of the brackets ``i``) by the Illinois method: the secant through the two
    ends, the value kept at an end that stays twice in a row halved; every 16th step a
    bisection (a bound on the worst case). Stops where the bracket is within ``xtol``
    relative (or 4 ulps) or a secant step moved by less than 4 ulps (the function's
    rounding then decides its sign) or on an end of the bracket, and returns the point of
    least ``|fun|`` (or that end).

    Examples
    --------
    >>> x = illinois(lambda x, i: x**3 - 2.0, np.array([1.0]), np.array([2.0]),
    ...              np.array([-1.0]), np.array([6.0]))
    >>> bool(abs(x[0] - 2.0 ** (1 / 3)) < 1e-15)
    True
    """
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    flo, fhi = np.array(flo, dtype=float), np.array(fhi, dtype=float)
    # the point of least |f| so far (the answer where the bracket is still wide)
    best = np.where(np.abs(flo) <= np.abs(fhi), lo, hi)
    fbest = np.minimum(np.abs(flo), np.abs(fhi))
    side = np.zeros(lo.size, dtype=np.int8)  # the end replaced last time (1 lo, -1 hi)
    step = np.full(lo.size, np.inf)  # the last move of the iterate
    last = np.full(lo.size, np.nan)
    for it in range(iters):
        idx, xs, bad = _ill_propose(lo, hi, flo, fhi, best, fbest, step, xtol, it % 16 == 15)
        if not idx.size:
            break
        fx = np.asarray(fun(xs, idx), dtype=float)
        _ill_update(idx, xs, fx, bad, lo, hi, flo, fhi, side, best, fbest, step, last)
    return best


@njit(cache=True, nogil=True)
def _ill_propose(lo, hi, flo, fhi, best, fbest, step, xtol,
                 bisect):  # pragma: no cover - compiled
    """The brackets still open and their next points (:func:`illinois`): the secant, or the
    middle where it is not finite or on ``bisect`` steps; a secant on an end closes its
    bracket there (the root to rounding)."""
    n = lo.size
    idx = np.empty(n, dtype=np.int64)
    xs = np.empty(n)
    bad = np.empty(n, dtype=np.bool_)
    m = 0
    for i in range(n):
        if not fbest[i] > 0:
            continue
        big = max(abs(lo[i]), abs(hi[i]))
        ulp = np.spacing(big)
        if not (hi[i] - lo[i] > max(4.0 * ulp, xtol * big) and step[i] > 4.0 * ulp):
            continue
        a, b, fa, fb = lo[i], hi[i], flo[i], fhi[i]
        x = (a * fb - b * fa) / (fb - fa)
        if np.isfinite(x) and not (x > a and x < b):
            best[i] = a if abs(x - a) <= abs(x - b) else b
            fbest[i] = 0.0
            continue
        bd = (not np.isfinite(x)) or bisect
        idx[m] = i
        xs[m] = 0.5 * (a + b) if bd else x
        bad[m] = bd
        m += 1
    return idx[:m], xs[:m], bad[:m]


@njit(cache=True, nogil=True)
def _ill_update(idx, xs, fx, bad, lo, hi, flo, fhi, side, best, fbest, step,
                last):  # pragma: no cover - compiled
    """One Illinois step's update of the brackets ``idx`` with the values ``fx`` at
    ``xs`` (in place)."""
    for m in range(idx.size):
        i = idx[m]
        x, f = xs[m], fx[m]
        moved = abs(x - last[i])
        step[i] = np.inf if (bad[m] or not np.isfinite(moved)) else moved
        last[i] = x
        if abs(f) < fbest[i]:
            best[i] = x
            fbest[i] = abs(f)
        left = np.sign(f) == np.sign(flo[i])  # the root is right of x: x replaces lo
        if left:
            if side[i] == 1:  # the same end twice: the other's value halves
                fhi[i] *= 0.5
            lo[i], flo[i] = x, f
            side[i] = 1
        else:
            if side[i] == -1:
                flo[i] *= 0.5
            hi[i], fhi[i] = x, f
            side[i] = -1


def inverse_hazard(law, x) -> np.ndarray:
    """The inverse hazard ``P(X > x) / f(x)`` of ``law`` at the points ``x`` (``inf``
    where the density is 0): ``Phi' = f (inverse hazard - r)``, so ``Phi``'s local extrema
    are where it equals the level ``r``.

    Examples
    --------
    >>> import qtheory as qt
    >>> inverse_hazard(qt.Exponential(mean=2.0), np.array([0.5, 3.0])).tolist()
    [2.0, 2.0]
    """
    with np.errstate(all="ignore"):
        s = np.asarray(law.sf(x), dtype=float)
        p = np.asarray(law.pdf(x), dtype=float)
        return np.where(p > 0, s / p, np.inf)


class _Fns:
    """The law's functions the runs need (and its exact truncated moments)."""

    def __init__(self, law):
        from .agerank import _Law

        self.law = law
        self.tr = _Law(law)
        lo, hi = (float(v) for v in law.support)
        self.lo, self.hi = lo, hi
        self._gkey = None
        self._geplus = None
        self.ext_ages = np.zeros(0)  # the inverse hazard's local extrema (level_integral)

    def sf(self, x):
        with np.errstate(all="ignore"):
            return np.asarray(self.law.sf(x), dtype=float)

    def pdf(self, x):
        with np.errstate(all="ignore"):
            return np.asarray(self.law.pdf(x), dtype=float)

    def eplus(self, x):
        """``E[(X - x)^+] = E[X; X > x] - x P(X > x)``, from the tail moment (no
        cancellation against the mean in the upper tail, where ``Phi - E[X]`` is all that is
        left; below the median the partial moments of a posterior concentrated at the low
        end of its support were computed by quadrature, 21 calls a node)."""
        x = np.asarray(x, dtype=float)
        s = self.sf(x)
        with np.errstate(all="ignore"):
            out = np.asarray(self.law.tail_moment(1, x), dtype=float) - x * s
        return np.maximum(out, 0.0), s

    def ihaz(self, x):
        """The inverse hazard (:func:`inverse_hazard`)."""
        return inverse_hazard(self.law, x)

    def phim(self, x, r):
        """``Phi(x) - E[X] = r P(X > x) - E[(X - x)^+]``."""
        e, s = self.eplus(x)
        return r * s - e

    def grid_eplus(self, grid):
        """:meth:`eplus` on the ages of ``grid`` (kept for the grid last asked)."""
        if self._gkey is not grid[0]:
            self._gkey = grid[0]
            self._geplus = self.eplus(grid[0])[0]
        return self._geplus

    def emin(self, c):
        return self.tr.emin(c)


@njit(cache=True, nogil=True)
def _first_sign(sf, pdf, ri, start, rising):  # pragma: no cover - compiled
    """The first grid index from ``start`` where ``Phi' = sf - ri pdf`` is ``> 0``
    (``rising``) or ``<= 0`` (Phi's first local maximum from there); -1 where none."""
    for j in range(start, sf.size):
        d = sf[j] - ri * pdf[j]
        if (d > 0) if rising else (d <= 0):
            return j
    return -1


@njit(cache=True, nogil=True)
def _scan(sf, pdf, ep, r, pos, active, later):  # pragma: no cover - compiled
    """One run's grid search a level (row): past the previous run's end (index ``pos``, when
    ``later``) the first age where ``Phi`` rises, then ``Phi``'s first local maximum ``f``
    (``Phi' = sf - r pdf <= 0``) and the global minimum ``k`` of ``Phi - E[X] = r sf - ep``
    past it, and a competing local minimum (or the grid's end) whose refined value may be
    lower (-1: none). Returns ``(has, f, k, other)``; updates ``pos`` and ``active`` in
    place."""
    R = r.size
    G = sf.size
    has = np.zeros(R, dtype=np.bool_)
    f = np.zeros(R, dtype=np.int64)
    k = np.zeros(R, dtype=np.int64)
    other = np.full(R, -1, dtype=np.int64)
    for i in range(R):
        if not active[i]:
            continue
        ri = r[i]
        p = pos[i]
        if later:
            q = _first_sign(sf, pdf, ri, p + 1, True)
            if q < 0:
                active[i] = False
                continue
            p = q
            pos[i] = q
        fi = _first_sign(sf, pdf, ri, p, False)
        if fi < 0:
            continue
        has[i] = True
        f[i] = fi
        best = np.inf
        kb = fi
        for j in range(fi, G):
            v = ri * sf[j] - ep[j]
            if v < best:
                best = v
                kb = j
        k[i] = kb
        # a competitor: another local minimum of the grid's Phi (or the grid's end) whose
        # true minimum may be below Phi(k) (the grid's own minimum misses a refined one
        # by up to the rise to its neighbours: a switch of the run's end is then placed
        # where the grid's, not the true, minima are equal)
        bestlb = np.inf
        k2 = -1
        for j in range(fi, G):
            if j == kb:
                continue
            v = ri * sf[j] - ep[j]
            if j == G - 1:
                lb = v
            elif j > fi and v <= ri * sf[j - 1] - ep[j - 1] and v <= ri * sf[j + 1] - ep[j + 1]:
                lb = v - max(ri * sf[j - 1] - ep[j - 1] - v, ri * sf[j + 1] - ep[j + 1] - v)
            else:
                continue
            if lb <= best and lb < bestlb:
                bestlb = lb
                k2 = j
        other[i] = k2
    return has, f, k, other


@njit(cache=True, nogil=True)
def _last_below(sf, ep, r, lo, hi, target):  # pragma: no cover - compiled
    """The last grid index in ``[lo, hi)`` where ``r sf - ep <= target`` a row (-1: none)."""
    R = r.size
    out = np.full(R, -1, dtype=np.int64)
    for i in range(R):
        for j in range(hi[i] - 1, lo[i] - 1, -1):
            if r[i] * sf[j] - ep[j] <= target[i]:
                out[i] = j
                break
    return out


def _run_end(b, fns, end, rr, f, k):
    """The run's end ``c`` next to the grid index ``k`` (a local minimum of ``Phi``, refined
    where ``Phi'`` changes sign between the neighbours; the end of the support at the grid's
    last index) and ``Phi(c) - E[X]`` there."""
    last = b.size - 1
    c = np.empty(rr.size)
    at_end = k == last
    c[at_end] = end
    phic = np.zeros(rr.size)
    inner = np.nonzero(~at_end)[0]
    if inner.size:
        lo_c = b[np.maximum(k[inner] - 1, f[inner])]
        hi_c = b[np.minimum(k[inner] + 1, last)]
        ri = rr[inner]

        def g(x, sel, ri=ri):  # Phi' / f = the inverse hazard - r (well scaled)
            return fns.ihaz(x) - ri[sel]

        glo = g(lo_c, np.arange(inner.size))
        ghi = g(hi_c, np.arange(inner.size))
        # where the grid's neighbours do not bracket the minimum, the grid point
        ok = (glo <= 0) & (ghi >= 0)
        cc = b[k[inner]].copy()
        if ok.any():
            sel = np.nonzero(ok)[0]
            cc[sel] = illinois(lambda x, s2, sel=sel: g(x, sel[s2]), lo_c[sel], hi_c[sel],
                               glo[sel], ghi[sel])
        c[inner] = cc
        phic[inner] = fns.phim(cc, ri)
    return c, phic


def run_work(law, r, grid=None, fns=None, signature: bool = False):
    """``(N, S)`` of ``law`` at the levels ``r``: the new job's expected r-work and the sum
    of the second moments of the r-work of its runs (module docstring); with ``signature``
    also an integer a level that names where its runs end (on which piece of monotone
    inverse hazard, between the ages ``fns.ext_ages``, or at the end of the support; it
    changes only where the runs' structure does: a jump where a run's end switches from one
    local minimum of ``Phi`` to another, or a fold).

    Parameters
    ----------
    law : SizeDistribution
        A continuous size law (no atoms).
    r : array_like
        Levels ``> 0``.
    grid : tuple, optional
        ``law_grid(law)`` (computed if not given).
    fns : object, optional
        The law's functions (made if not given; reuse it across calls of one law).
    signature : bool
        Also return the runs' signature (above).

    Examples
    --------
    Exponential sizes are ranked first come first served at their mean: a job runs to
    completion at every level above it, and at no level below.

    >>> import qtheory as qt
    >>> N, S = run_work(qt.Exponential(mean=1.0), np.array([0.5, 2.0]))
    >>> np.round(N, 12).tolist(), np.round(S, 12).tolist()
    ([0.0, 1.0], [0.0, 2.0])

    Uniform sizes on ``[0, 1]`` (their ranks fall with age: the rank is the mean remaining
    size ``(1 - a) / 2``): below the level 1/2 the run is ``[1 - 2 r, 1]``.

    >>> N, S = run_work(qt.Uniform(0.0, 1.0), np.array([0.25]))
    >>> float(N[0]), round(float(S[0]), 14)   # E[(X - 1/2)^2; X > 1/2] = 1/24
    (0.0, 0.04166666666667)
    """
    from .posterior_rwork import law_grid

    r = np.atleast_1d(np.asarray(r, dtype=float))
    if fns is None:
        fns = _Fns(law)
    b, sf, pdf, em, m1 = law_grid(law) if grid is None else grid
    G = b.size
    last = G - 1
    end = fns.hi if np.isfinite(fns.hi) else np.inf  # the last grid age stands for it
    # Phi - E[X] = r sf - E[(X - b)^+] (its values in the upper tail are far below the
    # rounding of E[X])
    ep = fns.grid_eplus((b, sf, pdf, em, m1))
    R = r.size
    N = np.zeros(R)
    S = np.zeros(R)
    pos = np.zeros(R, dtype=np.int64)  # the search for the next run starts past this index
    prev_c = np.zeros(R)  # ... and past this age (the previous run's end)
    prev_phi = r - m1  # Phi - E[X] there (Phi(0) = r)
    active = np.ones(R, dtype=bool)
    sig = np.zeros(R, dtype=np.int64)
    for run in range(_RUNS + 1):
        has, f_all, k_all, o_all = _scan(sf, pdf, ep, r, pos, active, run > 0)
        if not has.any():
            break
        if run == _RUNS:
            raise ValueError("law: Phi has more than 8 runs at one level (a rank with that "
                             "many dips is outside this method)")
        rows = np.nonzero(has)[0]
        f, k = f_all[rows], k_all[rows]
        rr = r[rows]
        c, phic = _run_end(b, fns, end, rr, f, k)
        k2 = o_all[rows]
        alt = np.nonzero(k2 >= 0)[0]
        if alt.size:
            c2, phic2 = _run_end(b, fns, end, rr[alt], f[alt], k2[alt])
            lower = phic2 < phic[alt]
            sel = alt[lower]
            c[sel], phic[sel], k[sel] = c2[lower], phic2[lower], k2[alt][lower]
        at_end = k == last
        # the run's start: where Phi, rising from the search's start, reaches Phi(c)
        start = np.empty(rows.size)
        p0 = prev_phi[rows]
        from_start = p0 >= phic  # (the first run: the rank at age 0 is at most r)
        start[from_start] = prev_c[rows][from_start]
        rest = np.nonzero(~from_start)[0]
        if rest.size:
            # the last grid age in [pos, f) where Phi <= Phi(c) (Phi rises there)
            lim = f[rest]
            j = _last_below(sf, ep, r[rows[rest]], pos[rows[rest]], lim, phic[rest])
            pc = prev_c[rows[rest]]
            rr2, target = rr[rest], phic[rest]
            lo_b = np.maximum(np.where(j >= 0, b[np.maximum(j, 0)], pc), pc)
            hi_b = np.where(j >= 0, b[np.minimum(j + 1, last)], b[pos[rows[rest]]])
            # where that bracket reaches Phi's local maximum (the grid age f, past it),
            # it ends at the maximum: Phi comes back down to Phi(c) after it
            top = np.nonzero(j + 1 >= lim)[0]
            if top.size:
                a1, b1 = b[np.maximum(lim[top] - 1, 0)], b[lim[top]]
                a1 = np.maximum(a1, lo_b[top])
                rt = rr2[top]

                def gm(x, sel, rt=rt):
                    return fns.ihaz(x) - rt[sel]

                ga = gm(a1, np.arange(top.size))
                gb = gm(b1, np.arange(top.size))
                # (a bound of the bracket only: any age between the crossing and the
                # maximum will do)
                hi_b[top] = illinois(gm, a1, b1, np.maximum(ga, 0.0), np.minimum(gb, 0.0),
                                     iters=40, xtol=1e-9)
            # below the support Phi(x) = x + r: the start is exact there
            lin = (run == 0) & (target + m1 - rr2 <= b[0]) & (fns.lo > 0)
            st = np.empty(rest.size)
            st[lin] = target[lin] + m1 - rr2[lin]
            solve = np.nonzero(~lin)[0]
            if solve.size:
                def h(x, sel, rr2=rr2, target=target, solve=solve):
                    # (Phi(x) - Phi(c)) / P(X > x): the same sign, and near the end of
                    # the support r minus the mean remaining size, about linear there
                    # (unscaled, a run 1e-6 long at the end of a uniform law took 40 steps
                    # and was 40% off)
                    s_ = solve[sel]
                    e, sfx = fns.eplus(x)
                    with np.errstate(all="ignore"):
                        v = rr2[s_] - (e + target[s_]) / sfx
                    return np.where(sfx > 0, v, np.where(e + target[s_] > 0, -np.inf,
                                                         rr2[s_]))

                a0 = lo_b[solve]
                b0 = hi_b[solve]
                ha = h(a0, np.arange(solve.size))
                hb = h(b0, np.arange(solve.size))
                st[solve] = illinois(h, a0, b0, np.minimum(ha, 0.0), np.maximum(hb, 0.0),
                                     iters=40)
            start[rest] = st
        # the new job's r-work: the first run, where it starts at age 0
        if run == 0:
            new = np.nonzero(from_start)[0]
            N[rows[new]] = fns.emin(c[new])
        S[rows] += fns.tr.trunc2(start, c)
        if signature:
            # the run's end named by the piece of monotone inverse hazard it lies on (a
            # local minimum of Phi is where the inverse hazard rises through r: one a
            # rising piece at most); the end of the support 63
            ordinal = np.where(at_end, 63, np.searchsorted(fns.ext_ages, c) % 63)
            sig[rows] += (ordinal + 1) * 64 ** run
        # the next run's search starts past this one's end
        prev_c[rows] = c
        prev_phi[rows] = phic
        pos[rows] = k
        active[rows] &= ~at_end
        active[~has] = False
    if signature:
        return N, S, sig
    return N, S


def hazard_extrema(law, grid, fns=None, iters: int = 28):
    """``(ages, values)`` of the local extrema of the inverse hazard ``P(X > b) / f(b)`` past
    the grid's first age and before its last (where ``Phi``'s local extrema appear and
    vanish in pairs as the level moves: folds of the runs), each refined by golden-section
    search between its grid neighbours; extrema shallower than ``1e-10`` of the value on
    the grid (rounding of a flat inverse hazard) are left out.

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.analysis.posterior_rwork import law_grid
    >>> law = qt.Exponential(mean=1.0)
    >>> hazard_extrema(law, law_grid(law))[0].size   # a constant hazard: none
    0
    """
    if fns is None:
        fns = _Fns(law)
    b, sf, pdf = grid[0], grid[1], grid[2]
    with np.errstate(all="ignore"):
        ih = np.where(pdf > 0, sf / pdf, np.inf)
    i = np.arange(1, b.size - 1)
    a0, a1, a2 = ih[i - 1], ih[i], ih[i + 1]
    fin = np.isfinite(a0) & np.isfinite(a1) & np.isfinite(a2) & (a1 > 0)
    with np.errstate(all="ignore"):
        deep = np.maximum(np.abs(a0 - a1), np.abs(a2 - a1)) > 1e-10 * a1
    mn = fin & deep & (a1 <= a0) & (a1 < a2)
    mx = fin & deep & (a1 >= a0) & (a1 > a2)
    sel = np.nonzero(mn | mx)[0]
    if not sel.size:
        return np.zeros(0), np.zeros(0)
    sign = np.where(mn[sel], 1.0, -1.0)

    def f(x):
        v = fns.ihaz(x)
        return sign * np.where(np.isfinite(v), v, np.inf)

    ages = _golden(f, b[i[sel] - 1], b[i[sel] + 1], iters)
    return ages, sign * f(ages)


def _golden(f, lo, hi, iters: int = 28) -> np.ndarray:
    """Minimisers of ``f`` (vectorised over the brackets ``[lo, hi]``) by golden-section
    search, ``iters`` steps (the bracket shrinks by 0.618 a step)."""
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    g = 0.5 * (np.sqrt(5.0) - 1.0)
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iters):
        left = f1 <= f2  # the minimum is in [lo, x2]: x1 becomes the new x2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        new = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        fn = f(new)
        x1, x2, f1, f2 = (np.where(left, new, x2), np.where(left, x1, new),
                          np.where(left, fn, f2), np.where(left, f1, fn))
    return 0.5 * (lo + hi)


def rank_at(law, grid, ages, fns=None) -> np.ndarray:
    """The Gittins rank of ``law`` at the ``ages``, ``min_{b > a} (E[min(X, b)] -
    E[min(X, a)]) / P(a < X <= b)`` (``b = inf`` gives the mean remaining size): the least
    value on the grid's later ages, refined by golden-section search between its
    neighbours. A run of ``Phi`` starts at an age ``a`` exactly at the level ``rank_at(a)``,
    so where the density jumps or kinks at ``a`` (a breakpoint, an end of the support) the
    work functions kink at that level.

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.analysis.posterior_rwork import law_grid
    >>> law = qt.Uniform(1.0, 3.0)   # a rising hazard: the mean remaining size
    >>> np.round(rank_at(law, law_grid(law), np.array([1.0, 2.0])), 12).tolist()
    [1.0, 0.5]
    """
    if fns is None:
        fns = _Fns(law)
    b, sf, pdf, em, m1 = grid
    ages = np.asarray(ages, dtype=float)
    out = np.empty(ages.size)
    for n, a in enumerate(ages):
        sa = float(fns.sf(np.array([a]))[0])
        ea = float(fns.emin(np.array([a]))[0])
        if not sa > 0:
            out[n] = np.nan
            continue
        later = b > a
        with np.errstate(all="ignore"):
            ratio = np.where(later & (sa - sf > 0), (em - ea) / (sa - sf), np.inf)
            # b -> a: the inverse hazard just past a (the ratio cancels there)
            near = float(sa / fns.pdf(np.array([a * (1.0 + 1e-13) + 1e-300]))[0])
        k = int(np.argmin(ratio))
        tail = (m1 - ea) / sa  # b = inf
        first = int(np.argmax(later))
        if not np.isfinite(ratio[k]) or ratio[k] >= min(tail, near) or k == b.size - 1 \
                or k == first:
            out[n] = min(tail, near)
            continue

        def f(x, a=a, sa=sa, ea=ea):
            with np.errstate(all="ignore"):
                v = (fns.emin(x) - ea) / (sa - fns.sf(x))
            return np.where(np.isfinite(v), v, np.inf)

        x = _golden(f, np.array([max(b[max(k - 1, 0)], a)]), np.array([b[k + 1]]), 40)
        out[n] = float(min(f(x)[0], ratio[k], tail, near))
    return out


def _with_ages(law, grid, ages):
    """``grid`` (of :func:`~qtheory.analysis.posterior_rwork.law_grid`) with ``ages`` put in
    (where each run of ``Phi`` shows on the grid however short it is: a run appears at a
    local minimum of the inverse hazard, and two merge at a local maximum)."""
    b, sf, pdf, em, m1 = grid
    ages = ages[(ages > b[0]) & (ages < b[-1])]
    if not ages.size:
        return grid
    with np.errstate(all="ignore"):
        s_ = np.asarray(law.sf(ages), dtype=float)
        p_ = np.asarray(law.pdf(ages), dtype=float)
        e_ = np.asarray(law.partial_moment(1, ages), dtype=float) + ages * s_
    order = np.argsort(np.concatenate([b, ages]), kind="stable")
    return (np.concatenate([b, ages])[order], np.concatenate([sf, s_])[order],
            np.concatenate([pdf, p_])[order], np.concatenate([em, e_])[order], m1)


def _switches(law, grid, fns, s_lo, s_hi, sig_lo, rounds: int = 9, k: int = 63):
    """Levels (in ``s = 1 / r``) where the runs' signature changes inside the brackets
    ``[s_lo, s_hi]`` (it is ``sig_lo`` at the lower end): ``k`` points a bracket a round, the
    bracket shrinking to the first change, ``rounds`` times (64**-9: to rounding; a call
    of :func:`run_work` costs about as much for 63 levels as for 15)."""
    lo, hi = s_lo.copy(), s_hi.copy()
    u = np.arange(1, k + 1) / (k + 1.0)
    for _ in range(rounds):
        pts = lo[:, None] + (hi - lo)[:, None] * u[None, :]
        _, _, sg = run_work(law, 1.0 / pts.ravel(), grid, fns, signature=True)
        sg = sg.reshape(pts.shape)
        diff = sg != sig_lo[:, None]
        first = np.where(diff.any(axis=1), np.argmax(diff, axis=1), k)
        new_lo = np.where(first > 0, pts[np.arange(lo.size), np.maximum(first - 1, 0)], lo)
        new_hi = np.where(first < k, pts[np.arange(lo.size), np.minimum(first, k - 1)], hi)
        lo, hi = new_lo, new_hi
    return 0.5 * (lo + hi)


def span_edges(s: np.ndarray, span: float) -> np.ndarray:
    """The sorted edges ``s`` (from 0) with each gap between positive edges wider than the
    factor ``span`` cut geometrically into equal ratios (the level integrals' pieces).

    Examples
    --------
    >>> span_edges(np.array([0.0, 1.0, 16.0]), 4.0).tolist()
    [0.0, 1.0, 4.0, 16.0]
    """
    edges = [float(s[0])]
    for a, c in zip(s[:-1], s[1:]):
        if a > 0 and c > span * a:
            n = int(np.ceil(np.log(c / a) / np.log(span)))
            edges.extend(a * (c / a) ** (np.arange(1, n + 1) / n))
        else:
            edges.append(c)
    return np.unique(np.array(edges, dtype=float))


@functools.lru_cache(maxsize=16)
def _leggauss(n: int):
    from numpy.polynomial import legendre as L

    return L.leggauss(n)


def level_integral(law, weight, gamma: float, grid=None, fns=None, cuts=(), floor=None,
                   rtol: float = 1e-11, span: float = 4.0, split: int = 8,
                   nodes=(12, 16)):
    """``(int_0^inf S(r) weight(r) dr / r**2, estimate)`` for one law ranked by its own
    Gittins rank (``S`` of :func:`run_work`), in ``s = 1 / r``: pieces between the law's
    critical levels (its rank at age 0 ``gamma``, the local extrema of its inverse hazard,
    that hazard's values at the grid's ends and on both sides of the law's breakpoints, and
    the rank at those breakpoints, :func:`rank_at`) and ``cuts`` (in ``s``), each over at
    most the factor ``span``, and cut again, graded by factors of 4, where a run's end
    switches between two local minima of ``Phi`` (where ``S`` jumps, found by
    :func:`run_work`'s signature); Gauss-Legendre with ``nodes`` points (value, check) a
    piece, and a piece whose two sums differ by more than ``rtol / 100`` of the whole is
    halved, ``split`` times at most. Levels below ``floor`` (default ``2**-40`` of the mean)
    are left out.

    With ``weight = 1 / (2 (1 - lambda N(r)))`` this is the law's share of the Gittins
    mean response time (:mod:`qtheory.analysis.rwork`).

    Examples
    --------
    Alone at load 0 a job's response time is its size: ``int S / (2 r**2) dr = E[X]``.

    >>> import qtheory as qt
    >>> law = qt.Weibull(0.5)
    >>> v, e = level_integral(law, lambda r: 0.5 + 0.0 * r, 0.0)
    >>> bool(abs(v / law.mean - 1.0) < 1e-11)
    True
    """
    from .posterior_rwork import law_grid

    if fns is None:
        fns = _Fns(law)
    grid0 = law_grid(law) if grid is None else grid
    ages, vals = hazard_extrema(law, grid0, fns)
    fns.ext_ages = np.sort(ages)
    grid = _with_ages(law, grid0, ages)
    m1 = float(grid[4])
    floor = 2.0**-40 * m1 if floor is None else float(floor)
    b, sf, pdf = grid[0], grid[1], grid[2]
    with np.errstate(all="ignore"):
        ih = np.where(pdf > 0, sf / pdf, np.nan)
    # (the inverse hazard at the grid's last age: where the grid ends before the support
    # does, a run appears there; on an unbounded support its limit)
    crit = [gamma, *vals, ih[0], ih[-1]]
    # where a run starts or ends at an age where the density jumps or kinks (an end of the
    # support, a breakpoint): the rank there, and the inverse hazard on both sides
    bps = np.array([x for x in getattr(law, "breakpoints", ()) if np.isfinite(x) and x > 0
                    and x < b[-1]], dtype=float)
    if bps.size:
        crit.extend(rank_at(law, grid, bps, fns))
        with np.errstate(all="ignore"):
            for side in (1.0 - 1e-13, 1.0 + 1e-13):
                crit.extend(fns.sf(bps * side) / fns.pdf(bps * side))
    crit = np.asarray(crit, dtype=float)
    crit = crit[np.isfinite(crit) & (crit > floor)]
    smax = 1.0 / floor
    sv = np.unique(np.concatenate([[0.0], 1.0 / crit, np.asarray(cuts, dtype=float),
                                   [smax]]))
    sv = sv[(sv >= 0) & (sv <= smax)]
    edges = span_edges(sv, span)
    sa, sb = edges[:-1], edges[1:]
    rules = [_leggauss(n) for n in nodes]
    done_v, done_e = 0.0, 0.0
    cut_rounds = 0
    for rnd in range(split + 1 + 4):
        # both rules' nodes in one call; the check rule's signatures tell a piece where
        # the runs' end switches between two local minima of Phi (S jumps there): such a
        # piece is cut at the switch and done again (4 rounds at most)
        sn = [0.5 * (sa + sb)[:, None] + 0.5 * (sb - sa)[:, None] * t for t, _w in rules]
        flat = np.concatenate([x.ravel() for x in sn])
        with np.errstate(divide="ignore"):
            r = 1.0 / flat
        _, S, sg = run_work(law, r, grid, fns, signature=True)
        g = S * np.asarray(weight(r), dtype=float)
        n0 = sn[0].size
        sg = sg[n0:].reshape(sn[1].shape)
        # (not in pieces narrower than 1e-9 of their level: next to a switch the two
        # minima of Phi are equal to rounding, and which one wins flickers)
        chg = (sg[:, 1:] != sg[:, :-1]) & (sb - sa > 1e-9 * sb)[:, None]
        if chg.any() and cut_rounds < 4:
            cut_rounds += 1
            p, j = np.nonzero(chg)
            cut = _switches(law, grid, fns, sn[1][p, j], sn[1][p, j + 1], sg[p, j])
            # graded towards the switch on both sides (by factors of 4, to 1e-13 of the
            # level): below it the later run's start closes on the first run's end like
            # the square root of the distance (a Weibull 0.5 posterior's piece next to its
            # switch was still 3e-8 off after 8 halvings)
            # (each piece split at its own cuts: after a halving round the pieces left
            # are not contiguous, and the gaps between them are done)
            inner = {}
            for i, c0 in zip(p, cut):
                w = sb[i] - sa[i]
                pts = inner.setdefault(int(i), [])
                pts.append(c0)
                d = 0.25 * w
                while d > 1e-13 * c0:
                    pts.extend([c0 - d, c0 + d])
                    d *= 0.25
            na, nb = [], []
            for i in range(sa.size):
                pts = np.asarray(inner.get(i, []), dtype=float)
                pts = np.unique(pts[(pts > sa[i]) & (pts < sb[i])])
                e = np.concatenate([[sa[i]], pts, [sb[i]]])
                na.append(e[:-1])
                nb.append(e[1:])
            sa, sb = np.concatenate(na), np.concatenate(nb)
            continue
        vals_ = []
        for x, (_t, w), part in zip(sn, rules, (g[:n0], g[n0:])):
            wn = 0.5 * (sb - sa)[:, None] * w[None, :]
            vals_.append((part.reshape(x.shape) * wn).sum(axis=1))
        diff = np.abs(vals_[1] - vals_[0])
        total = done_v + float(vals_[1].sum())
        bad = diff > 1e-2 * rtol * max(abs(total), 1e-300)
        if rnd >= split + cut_rounds or not np.any(bad):
            return total, done_e + float(diff.sum())
        done_v += float(vals_[1][~bad].sum())
        done_e += float(diff[~bad].sum())
        mid = 0.5 * (sa[bad] + sb[bad])
        sa, sb = np.concatenate([sa[bad], mid]), np.concatenate([mid, sb[bad]])
    return done_v, done_e  # (not reached)
