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
inside a piece; the switch is found to rounding and the pieces on both sides take their
rule in ``u`` with ``s = switch +- width u**2`` (the next run's start closes on the first
run's end like the square root of the distance; smooth in ``u``), and so do the pieces next
to a fold.

:func:`level_integrals` does this for many laws at once, each law's steps as alone (the
same numbers, bit for bit), with the laws' functions called for all of them together
(:class:`~qtheory.analysis._lawstack.LawStack`: the node laws of Gittins on the posterior
are tabulated, and one compiled lookup serves them all; one law at a time, each call cost
40 to 90 us of Python around a few us of lookup). Three shortcuts, each exact or bounded:
above every critical level of a law the inverse hazard is below ``r`` on its whole grid,
so ``Phi`` falls, there is one run from age 0 to the end and ``S = E[X^2]`` (no runs to
find); ``S`` and the r-work integral's weight grow with the level, so each piece's integral
lies between its width times the integrand at its two edges, and the lowest pieces whose
upper bounds sum to less than ``rtol / 1000`` of the lower bounds' total are left out
(:func:`_drop_tails`); and cuts within ``1e-6`` of a critical level or of each other merge
(:func:`_merge_cuts`: ``N``'s table of Gittins on the posterior has each join twice).
A law whose inverse hazard does not rise on its grid (a rising hazard rate:
:func:`~qtheory.analysis.ageint.falling`) has one run a level, from the age where its
mean remaining size is the level to the end of its support; its integral is taken over
that age instead (:func:`~qtheory.analysis.ageint.age_integrals`: no runs to find, no
roots; ``route="runs"`` keeps the runs, the independent check of
``tests/test_ageint.py``).

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

import copy
import functools

import numpy as np
from numba import njit

from .._threads import concat_chunks
from ._illinois import ill_next, ill_step
from .ageint import age_integrals, falling

__all__ = ["run_work", "illinois", "hazard_extrema", "level_integral", "level_integrals",
           "rank_at", "inverse_hazard", "span_edges"]

_RUNS = 8  # runs of Phi at one level at most (more: a ValueError)
_MERGE = 1e-6  # cuts of a level integral this close (relative) to a level kept merge
_SWITCH_REL = 4e-15  # a switch of the runs' end placed to this (relative) at most


def illinois(fun, lo: np.ndarray, hi: np.ndarray, flo: np.ndarray, fhi: np.ndarray,
             iters: int = 80, xtol: float = 1e-14, x0: np.ndarray | None = None) -> np.ndarray:
    """Roots of ``fun`` (vectorised, one root per bracket ``[lo, hi]`` with ``flo`` and
    ``fhi`` of opposite signs or zero; ``fun(x, i)`` gives the values at the points ``x``
    of the brackets ``i``) by the Illinois method: the secant through the two
    ends, the value kept at an end that stays twice in a row halved; every 16th step a
    bisection (a bound on the worst case). Stops where the bracket is within ``xtol``
    relative (or 4 ulps) or a secant step moved by less than 4 ulps (the function's
    rounding then decides its sign) or on an end of the bracket, and returns the point of
    least ``|fun|`` (or that end). ``x0``: the first point of each bracket where it is
    inside it (NaN: the secant).

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
        if it == 0 and x0 is not None and idx.size:
            # (a first point given: taken where it is inside its bracket)
            x1 = np.asarray(x0, dtype=float)[idx]
            take = (x1 > lo[idx]) & (x1 < hi[idx])
            xs = np.where(take, x1, xs)
            bad = bad & ~take
        if not idx.size:
            break
        fx = np.asarray(fun(xs, idx), dtype=float)
        _ill_update(idx, xs, fx, bad, lo, hi, flo, fhi, side, best, fbest, step, last)
    return best


def _grid_start(a0, a1, a2, f0, f1, f2, two):
    """A bracket ``[a0, a2]`` of a root of ``f`` (values ``f0``, ``f2``) with an age ``a1``
    inside (value ``f1``) where ``two``: ``(lo, hi, f(lo), f(hi), x0)``, the bracket
    narrowed to the side of ``a1`` where the root is (where ``f1`` is finite and not 0,
    and ``f0 <= 0 <= f2``), and ``x0`` the root of the inverse quadratic interpolant
    through the three points where it falls inside the new bracket (else NaN), a first
    point for :func:`illinois`. The ages of a law's grid with the inverse hazard from the
    grid's survival function and density (no call of the law): the local minima of
    ``Phi`` under exponential noise took 6.6 evaluations each from the grid's brackets
    with their ends' values, 5.1 narrowed and started so.

    Examples
    --------
    >>> lo, hi, flo, fhi, x0 = _grid_start(*(np.array([v]) for v in (1.0, 2.0, 3.0, -3.0,
    ...                                    1.0, 6.0)), np.array([True]))
    >>> lo.tolist(), hi.tolist(), bool(1.0 < x0[0] < 2.0)
    ([1.0], [2.0], True)
    """
    lo, hi = np.array(a0, dtype=float), np.array(a2, dtype=float)
    flo, fhi = np.array(f0, dtype=float), np.array(f2, dtype=float)
    x0 = np.full(lo.size, np.nan)
    with np.errstate(all="ignore"):
        # (Lagrange in f through the three points, at f = 0)
        x = (a0 * f1 * f2 / ((f0 - f1) * (f0 - f2)) + a1 * f0 * f2 / ((f1 - f0) * (f1 - f2))
             + a2 * f0 * f1 / ((f2 - f0) * (f2 - f1)))
        ok = (two & np.isfinite(f0) & np.isfinite(f1) & np.isfinite(f2) & (f1 != 0)
              & (f0 <= 0) & (f2 >= 0))
    left = ok & (f1 > 0)  # the root is left of the middle age
    right = ok & (f1 < 0)
    hi[left], fhi[left] = a1[left], f1[left]
    lo[right], flo[right] = a1[right], f1[right]
    inside = ok & (x > lo) & (x < hi)
    x0[inside] = x[inside]
    return lo, hi, flo, fhi, x0


@njit(cache=True, nogil=True)
def _ill_propose(lo, hi, flo, fhi, best, fbest, step, xtol,
                 bisect):  # pragma: no cover - compiled
    """The brackets still open and their next points (:func:`illinois`; each bracket's
    step :func:`~qtheory.analysis._illinois.ill_next`)."""
    n = lo.size
    idx = np.empty(n, dtype=np.int64)
    xs = np.empty(n)
    bad = np.empty(n, dtype=np.bool_)
    m = 0
    for i in range(n):
        state, x, bd = ill_next(lo[i], hi[i], flo[i], fhi[i], fbest[i], step[i], xtol,
                                bisect)
        if state == 2:  # (a secant on an end: the bracket closes there)
            best[i] = x
            fbest[i] = 0.0
        elif state == 1:
            idx[m] = i
            xs[m] = x
            bad[m] = bd
            m += 1
    return idx[:m], xs[:m], bad[:m]


@njit(cache=True, nogil=True)
def _ill_update(idx, xs, fx, bad, lo, hi, flo, fhi, side, best, fbest, step,
                last):  # pragma: no cover - compiled
    """One Illinois step's update of the brackets ``idx`` with the values ``fx`` at
    ``xs`` (in place; :func:`~qtheory.analysis._illinois.ill_step`)."""
    for m in range(idx.size):
        i = idx[m]
        (lo[i], hi[i], flo[i], fhi[i], side[i], best[i], fbest[i], step[i],
         last[i]) = ill_step(xs[m], fx[m], bad[m], lo[i], hi[i], flo[i], fhi[i], side[i],
                             best[i], fbest[i], step[i], last[i])


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
    from ._lawstack import LawStack

    x = np.asarray(x, dtype=float)
    return LawStack([law]).inverse_hazard(np.zeros(x.size, dtype=np.int64), x.ravel()) \
        .reshape(x.shape)


class _Fns:
    """The functions the runs need of one law or of many (:class:`~qtheory.analysis.
    _lawstack.LawStack`: a point names its law, ``nd``), and the laws' grids (those of
    :func:`~qtheory.analysis.posterior_rwork.law_grid`), stacked in rows padded with NaN
    (``G[n]`` ages of law ``n``), with ``E[(X - b)^+]`` on them."""

    def __init__(self, laws, grids=None, st=None):
        from ._lawstack import LawStack
        from .posterior_rwork import _law_grids

        self.laws = list(laws) if isinstance(laws, (list, tuple)) else [laws]
        # (a LawStack of these laws may be given: its joined tables are built once)
        self.st = LawStack(self.laws) if st is None else st
        sup = np.array([[float(v) for v in law.support] for law in self.laws])
        self.lo, self.hi = sup[:, 0], sup[:, 1]
        self.end = np.where(np.isfinite(self.hi), self.hi, np.inf)
        self.ext = np.full((len(self.laws), 0), np.inf)  # the inverse hazard's extrema
        self._key = None
        self._sibs = {}
        if grids is None:
            grids = _law_grids(self.st, self.laws)
        self.set_grids(grids)

    def set_grids(self, grids) -> None:
        """Use ``grids`` (one a law)."""
        key = tuple(id(g[0]) for g in grids)
        if key == self._key:
            return
        self._key = key
        self.grids = list(grids)
        n = len(grids)
        self.G = np.array([g[0].size for g in grids], dtype=np.int64)
        gmax = int(self.G.max())
        self.B, self.SF, self.PDF, self.EM = (np.full((n, gmax), np.nan) for _ in range(4))
        for i, g in enumerate(grids):
            m = g[0].size
            self.B[i, :m], self.SF[i, :m], self.PDF[i, :m], self.EM[i, :m] = g[:4]
        self.M1 = np.array([float(g[4]) for g in grids])
        self._ep = None
        self._ih = None

    @property
    def IH(self) -> np.ndarray:
        """The inverse hazard on the grids' ages (rows as ``B``; ``inf`` where the density
        is 0, NaN in the padding), from their survival function and density: what the
        law's own calls give (:meth:`ihaz`, the same lookups), on first use."""
        if self._ih is None:
            with np.errstate(all="ignore"):
                self._ih = np.where(self.PDF > 0, self.SF / self.PDF,
                                    np.where(np.isnan(self.PDF), np.nan, np.inf))
        return self._ih

    @property
    def EP(self) -> np.ndarray:
        """``E[(X - b)^+]`` on the grids' ages (rows as ``B``), on first use: a level
        integral puts the inverse hazard's extrema into the grids before its first runs."""
        if self._ep is None:
            valid = np.arange(self.B.shape[1])[None, :] < self.G[:, None]
            nd = np.broadcast_to(np.arange(self.B.shape[0])[:, None], valid.shape)[valid]
            self._ep = np.full(self.B.shape, np.nan)
            self._ep[valid] = self.eplus(self.B[valid], nd)[0]
        return self._ep

    def sf(self, x, nd):
        return self.st.sf(nd, x)

    def pdf(self, x, nd):
        return self.st.pdf(nd, x)

    def eplus(self, x, nd):
        """``E[(X - x)^+] = E[X; X > x] - x P(X > x)``, from the tail moment (no
        cancellation against the mean in the upper tail, where ``Phi - E[X]`` is all that is
        left; below the median the partial moments of a posterior concentrated at the low
        end of its support were computed by quadrature, 21 calls a node), and ``P(X > x)``
        (:meth:`~qtheory.analysis._lawstack.LawStack.eplus`)."""
        return self.st.eplus(nd, x)

    def ihaz(self, x, nd):
        """The inverse hazard (:func:`inverse_hazard`)."""
        return self.st.inverse_hazard(nd, x)

    def phim(self, x, r, nd):
        """``Phi(x) - E[X] = r P(X > x) - E[(X - x)^+]``."""
        e, s = self.eplus(x, nd)
        return r * s - e

    def emin(self, c, nd):
        return self.st.emin(nd, c)

    def trunc2(self, b, c, nd):
        return self.st.trunc2(nd, b, c)


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
def _scan(SF, PDF, EP, G, nd, r, pos, active, later):  # pragma: no cover - compiled
    """One run's grid search a level (row ``i``, on the grid of law ``nd[i]``): past the
    previous run's end (index ``pos``, when ``later``) the first age where ``Phi`` rises,
    then ``Phi``'s first local maximum ``f`` (``Phi' = sf - r pdf <= 0``) and the global
    minimum ``k`` of ``Phi - E[X] = r sf - ep`` past it, and a competing local minimum (or
    the grid's end) whose refined value may be lower (-1: none). Returns ``(has, f, k,
    other)``; updates ``pos`` and ``active`` in place."""
    R = r.size
    has = np.zeros(R, dtype=np.bool_)
    f = np.zeros(R, dtype=np.int64)
    k = np.zeros(R, dtype=np.int64)
    other = np.full(R, -1, dtype=np.int64)
    for i in range(R):
        if not active[i]:
            continue
        n = nd[i]
        Gn = G[n]
        sf = SF[n, :Gn]
        pdf = PDF[n, :Gn]
        ep = EP[n, :Gn]
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
        for j in range(fi, Gn):
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
        for j in range(fi, Gn):
            if j == kb:
                continue
            v = ri * sf[j] - ep[j]
            if j == Gn - 1:
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
def _last_below(SF, EP, nd, r, lo, hi, target):  # pragma: no cover - compiled
    """The last grid index in ``[lo, hi)`` where ``r sf - ep <= target`` a row (on the
    grid of law ``nd``; -1: none)."""
    R = r.size
    out = np.full(R, -1, dtype=np.int64)
    for i in range(R):
        n = nd[i]
        for j in range(hi[i] - 1, lo[i] - 1, -1):
            if r[i] * SF[n, j] - EP[n, j] <= target[i]:
                out[i] = j
                break
    return out


def _run_end(fns, nd, rr, f, k):
    """The run's end ``c`` next to the grid index ``k`` (a local minimum of ``Phi``, refined
    where ``Phi'`` changes sign between the neighbours; the end of the support at the grid's
    last index) and ``Phi(c) - E[X]`` there (rows of the laws ``nd``)."""
    B = fns.B
    last = fns.G[nd] - 1
    c = np.empty(rr.size)
    at_end = k == last
    c[at_end] = fns.end[nd[at_end]]
    phic = np.zeros(rr.size)
    inner = np.nonzero(~at_end)[0]
    if inner.size:
        ni = nd[inner]
        lo_c = B[ni, np.maximum(k[inner] - 1, f[inner])]
        hi_c = B[ni, np.minimum(k[inner] + 1, last[inner])]
        ri = rr[inner]
        # the root of Phi' / f = the inverse hazard - r (well scaled: LawStack.roots)
        # (the values at the grid's ages from its survival function and density: those
        # of the law's own calls; a bracket of two grid steps narrowed by its middle,
        # _grid_start)
        i0 = np.maximum(k[inner] - 1, f[inner])
        i2 = np.minimum(k[inner] + 1, last[inner])
        i1 = np.minimum(i0 + 1, i2)
        gv = [fns.IH[ni, i] - ri for i in (i0, i1, i2)]
        glo, ghi = gv[0], gv[2]
        # where the grid's neighbours do not bracket the minimum, the grid point
        ok = (glo <= 0) & (ghi >= 0)
        cc = B[ni, k[inner]].copy()
        if ok.any():
            sel = np.nonzero(ok)[0]
            lo_s, hi_s, flo, fhi, x0 = _grid_start(lo_c[sel], B[ni[sel], i1[sel]], hi_c[sel],
                                                  glo[sel], gv[1][sel], ghi[sel],
                                                  (i2 - i0 == 2)[sel])
            cc[sel] = fns.st.roots("ihaz", ni[sel], lo_s, hi_s, flo, fhi, ri[sel], x0=x0)
        c[inner] = cc
        phic[inner] = fns.phim(cc, ri, ni)
    return c, phic


def _as_fns(law, grid, fns) -> _Fns:
    """``fns`` (made for ``law`` if not given) on ``grid`` (if given): where ``fns`` holds
    another grid, a copy of it that shares its functions (kept for the next call)."""
    if fns is None:
        return _Fns(law, None if grid is None else [grid])
    if grid is None or fns._key == (id(grid[0]),):
        return fns
    sib = fns._sibs.get(id(grid[0]))
    if sib is None or sib.grids[0][0] is not grid[0]:
        sib = copy.copy(fns)
        sib._key = None
        sib._sibs = {}
        sib.set_grids([grid])
        fns._sibs = {id(grid[0]): sib}
    sib.ext = fns.ext
    return sib


def run_work(law, r, grid=None, fns=None, signature: bool = False):
    """``(N, S)`` of ``law`` at the levels ``r``: the new job's expected r-work and the sum
    of the second moments of the r-work of its runs (module docstring); with ``signature``
    also an integer a level that names where its runs end (on which piece of monotone
    inverse hazard, between the ages ``fns.ext``, or at the end of the support; it
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
    fns = _as_fns(law, grid, fns)
    r = np.atleast_1d(np.asarray(r, dtype=float))
    return _runs(fns, np.zeros(r.size, dtype=np.int64), r, signature)


def _runs(fns: _Fns, nd: np.ndarray, r: np.ndarray, signature: bool = False):
    """:func:`run_work` of many laws: level ``r[i]`` of law ``nd[i]`` (each row as alone)."""
    B = fns.B
    R = r.size
    N = np.zeros(R)
    S = np.zeros(R)
    pos = np.zeros(R, dtype=np.int64)  # the search for the next run starts past this index
    prev_c = np.zeros(R)  # ... and past this age (the previous run's end)
    # Phi - E[X] there (Phi(0) = r)
    prev_phi = r - fns.M1[nd]
    active = np.ones(R, dtype=bool)
    sig = np.zeros(R, dtype=np.int64)
    for run in range(_RUNS + 1):
        # (rows in chunks on the thread pool; pos and active updated through their views)
        has, f_all, k_all, o_all = concat_chunks(
            lambda s, later=run > 0: _scan(fns.SF, fns.PDF, fns.EP, fns.G, nd[s], r[s],
                                           pos[s], active[s], later), R, (0, 0, 0, 0))
        if not has.any():
            break
        if run == _RUNS:
            raise ValueError("law: Phi has more than 8 runs at one level (a rank with that "
                             "many dips is outside this method)")
        rows = np.nonzero(has)[0]
        f, k = f_all[rows], k_all[rows]
        rr = r[rows]
        nr = nd[rows]
        last = fns.G[nr] - 1
        c, phic = _run_end(fns, nr, rr, f, k)
        k2 = o_all[rows]
        alt = np.nonzero(k2 >= 0)[0]
        if alt.size:
            c2, phic2 = _run_end(fns, nr[alt], rr[alt], f[alt], k2[alt])
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
            nres = nr[rest]
            p_rest = pos[rows[rest]]
            j = _last_below(fns.SF, fns.EP, nres, r[rows[rest]], p_rest, lim, phic[rest])
            pc = prev_c[rows[rest]]
            rr2, target = rr[rest], phic[rest]
            lo_b = np.maximum(np.where(j >= 0, B[nres, np.maximum(j, 0)], pc), pc)
            hi_b = np.where(j >= 0, B[nres, np.minimum(j + 1, last[rest])], B[nres, p_rest])
            # where that bracket reaches Phi's local maximum (the grid age f, past it),
            # it ends at the maximum: Phi comes back down to Phi(c) after it
            top = np.nonzero(j + 1 >= lim)[0]
            if top.size:
                nt = nres[top]
                a1, b1 = B[nt, np.maximum(lim[top] - 1, 0)], B[nt, lim[top]]
                a1 = np.maximum(a1, lo_b[top])
                rt = rr2[top]
                ga = fns.st.root_values("ihaz", nt, a1, rt)
                gb = fns.st.root_values("ihaz", nt, b1, rt)
                # (a bound of the bracket only: any age between the crossing and the
                # maximum will do)
                hi_b[top] = fns.st.roots("ihaz", nt, a1, b1, np.maximum(ga, 0.0),
                                         np.minimum(gb, 0.0), rt, iters=40, xtol=1e-9)
            # below the support Phi(x) = x + r: the start is exact there
            m1 = fns.M1[nres]
            lin = (run == 0) & (target + m1 - rr2 <= B[nres, 0]) & (fns.lo[nres] > 0)
            st = np.empty(rest.size)
            st[lin] = target[lin] + m1[lin] - rr2[lin]
            solve = np.nonzero(~lin)[0]
            if solve.size:
                # the root of (Phi(x) - Phi(c)) / P(X > x): the same sign, and near the end
                # of the support r minus the mean remaining size, about linear there
                # (unscaled, a run 1e-6 long at the end of a uniform law took 40 steps and
                # was 40% off)
                ns_, rs_, ts_ = nres[solve], rr2[solve], target[solve]
                a0 = lo_b[solve]
                b0 = hi_b[solve]
                ha = fns.st.root_values("start", ns_, a0, rs_, ts_)
                hb = fns.st.root_values("start", ns_, b0, rs_, ts_)
                st[solve] = fns.st.roots("start", ns_, a0, b0, np.minimum(ha, 0.0),
                                         np.maximum(hb, 0.0), rs_, ts_, iters=40)
            start[rest] = st
        # the new job's r-work: the first run, where it starts at age 0
        if run == 0:
            new = np.nonzero(from_start)[0]
            N[rows[new]] = fns.emin(c[new], nr[new])
        S[rows] += fns.trunc2(start, c, nr)
        if signature:
            # the run's end named by the piece of monotone inverse hazard it lies on (a
            # local minimum of Phi is where the inverse hazard rises through r: one a
            # rising piece at most); the end of the support 63
            below = (fns.ext[nr] < c[:, None]).sum(axis=1)
            ordinal = np.where(at_end, 63, below % 63)
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
    fns = _as_fns(law, grid, fns)
    nd, ages, vals = _extrema(fns, iters)
    return ages, vals


def _extrema(fns: _Fns, iters: int = 28):
    """:func:`hazard_extrema` of every law of ``fns``: ``(law, age, value)`` arrays."""
    B, SF, PDF, G = fns.B, fns.SF, fns.PDF, fns.G
    with np.errstate(all="ignore"):
        ih = np.where(PDF > 0, SF / PDF, np.inf)
    i = np.arange(1, B.shape[1] - 1)
    a0, a1, a2 = ih[:, i - 1], ih[:, i], ih[:, i + 1]
    inside = (i[None, :] + 1) < G[:, None]
    fin = np.isfinite(a0) & np.isfinite(a1) & np.isfinite(a2) & (a1 > 0) & inside
    with np.errstate(all="ignore"):
        deep = np.maximum(np.abs(a0 - a1), np.abs(a2 - a1)) > 1e-10 * a1
    mn = fin & deep & (a1 <= a0) & (a1 < a2)
    mx = fin & deep & (a1 >= a0) & (a1 > a2)
    nd, col = np.nonzero(mn | mx)
    if not nd.size:
        return nd, np.zeros(0), np.zeros(0)
    sign = np.where(mn[nd, col], 1.0, -1.0)

    def f(x):
        v = fns.ihaz(x, nd)
        return sign * np.where(np.isfinite(v), v, np.inf)

    ages = _golden(f, B[nd, i[col] - 1], B[nd, i[col] + 1], iters)
    return nd, ages, sign * f(ages)


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
    fns = _as_fns(law, grid, fns)
    ages = np.atleast_1d(np.asarray(ages, dtype=float))
    return _ranks(fns, np.zeros(ages.size, dtype=np.int64), ages)


def _ranks(fns: _Fns, nd: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """:func:`rank_at` of many laws: the rank of law ``nd[i]`` at age ``ages[i]``."""
    out = np.empty(ages.size)
    if not ages.size:
        return out
    B, SF, EM = fns.B[nd], fns.SF[nd], fns.EM[nd]
    sa = fns.sf(ages, nd)
    ea = fns.emin(ages, nd)
    with np.errstate(all="ignore"):
        # b -> a: the inverse hazard just past a (the ratio cancels there)
        near = sa / fns.pdf(ages * (1.0 + 1e-13) + 1e-300, nd)
        later = (B > ages[:, None]) & (np.arange(B.shape[1])[None, :] < fns.G[nd][:, None])
        ratio = np.where(later & (sa[:, None] - SF > 0),
                         (EM - ea[:, None]) / (sa[:, None] - SF), np.inf)
        tail = (fns.M1[nd] - ea) / sa  # b = inf
    k = np.argmin(ratio, axis=1)
    rk = ratio[np.arange(ages.size), k]
    first = np.argmax(later, axis=1)
    best = np.minimum(tail, near)
    done = ~np.isfinite(rk) | (rk >= best) | (k == fns.G[nd] - 1) | (k == first)
    out[:] = best
    out[~(sa > 0)] = np.nan
    go = np.nonzero(~done & (sa > 0))[0]
    if go.size:
        ng, ag, sg, eg = nd[go], ages[go], sa[go], ea[go]

        def f(x):
            with np.errstate(all="ignore"):
                v = (fns.emin(x, ng) - eg) / (sg - fns.sf(x, ng))
            return np.where(np.isfinite(v), v, np.inf)

        kg = k[go]
        x = _golden(f, np.maximum(fns.B[ng, np.maximum(kg - 1, 0)], ag), fns.B[ng, kg + 1], 40)
        out[go] = np.minimum(np.minimum(f(x), rk[go]), best[go])
    return out


def _with_ages(fns: _Fns, nd: np.ndarray, ages: np.ndarray):
    """The laws' grids with ``ages`` (of the laws ``nd``) put in (where each run of ``Phi``
    shows on the grid however short it is: a run appears at a local minimum of the inverse
    hazard, and two merge at a local maximum)."""
    grids = list(fns.grids)
    keep = (ages > fns.B[nd, 0]) & (ages < fns.B[nd, fns.G[nd] - 1])
    nd, ages = nd[keep], ages[keep]
    if not ages.size:
        return grids
    with np.errstate(all="ignore"):
        s_ = fns.sf(ages, nd)
        p_ = fns.pdf(ages, nd)
        e_ = fns.st.partial_moment(1.0, nd, ages) + ages * s_
    for n in np.unique(nd):
        m = nd == n
        b, sf, pdf, em, m1 = grids[n]
        order = np.argsort(np.concatenate([b, ages[m]]), kind="stable")
        grids[n] = (np.concatenate([b, ages[m]])[order], np.concatenate([sf, s_[m]])[order],
                    np.concatenate([pdf, p_[m]])[order], np.concatenate([em, e_[m]])[order],
                    m1)
    return grids


def _switches(fns: _Fns, nd, s_lo, s_hi, sig_lo, k: int = 7, rel: float = _SWITCH_REL):
    """Levels (in ``s = 1 / r``) where the runs' signature changes inside the brackets
    ``[s_lo, s_hi]`` (of the laws ``nd``; it is ``sig_lo`` at the lower end): ``k`` points
    a bracket a round, the bracket shrinking to the first change, until it is narrower
    than ``rel`` of its level (to rounding: 14 rounds from a bracket between two check
    nodes; 63 points a round for 9 rounds cost 5 times the rows, half of the level
    integrals' rows under lognormal noise). :func:`level_integrals` asks ``1e-4`` of its
    ``rtol`` (at least 4e-15): a switch placed ``delta`` (relative) off moves the pieces
    next to it by about the jump of ``S`` there times ``delta`` times the level, at most
    ``delta`` of the law's integral (the rounds at ``rtol=1e-8``, 11 instead of 14, took
    a sixth of the bounded Pareto system's level integrals)."""
    lo, hi = s_lo.astype(float), s_hi.astype(float)
    u = np.arange(1, k + 1) / (k + 1.0)
    live = np.arange(lo.size)
    for _ in range(64):
        live = live[np.abs(hi[live] - lo[live]) > rel * np.maximum(np.abs(lo[live]),
                                                                     np.abs(hi[live]))]
        if not live.size:
            break
        a, b = lo[live], hi[live]
        pts = a[:, None] + (b - a)[:, None] * u[None, :]
        _, _, sg = _runs(fns, np.repeat(nd[live], k), 1.0 / pts.ravel(), signature=True)
        sg = sg.reshape(pts.shape)
        diff = sg != sig_lo[live, None]
        first = np.where(diff.any(axis=1), np.argmax(diff, axis=1), k)
        at = np.arange(live.size)
        lo[live] = np.where(first > 0, pts[at, np.maximum(first - 1, 0)], a)
        hi[live] = np.where(first < k, pts[at, np.minimum(first, k - 1)], b)
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
                   nodes=(12, 16), route: str = "auto"):
    """``(int_0^inf S(r) weight(r) dr / r**2, estimate)`` for one law ranked by its own
    Gittins rank (``S`` of :func:`run_work`), in ``s = 1 / r``: pieces between the law's
    critical levels (its rank at age 0 ``gamma``, the local extrema of its inverse hazard,
    that hazard's values at the grid's ends and on both sides of the law's breakpoints, and
    the rank at those breakpoints, :func:`rank_at`) and ``cuts`` (in ``s``), each over at
    most the factor ``span``, and cut again where a run's end switches between two local
    minima of ``Phi`` (where ``S`` jumps, found by :func:`run_work`'s signature; the pieces
    next to it in ``u``, :func:`_piece_points`); Gauss-Legendre with ``nodes`` points
    (value, check) a piece, and a piece whose two sums differ by more than ``rtol / 100``
    of the whole is halved, ``split`` times at most. Levels below ``floor`` (default
    ``2**-40`` of the mean) are left out, and so are the lowest pieces whose share is below
    ``rtol / 1000`` by a bound from the integrand at their edges (:func:`_drop_tails`;
    ``weight`` must not fall as ``r`` grows). Cuts within ``1e-6`` (relative) of a
    critical level or of each other merge (:func:`_merge_cuts`). :func:`level_integrals`
    does many laws at once.

    ``route``: ``"auto"`` (default) takes the integral of a law whose inverse hazard does
    not rise over the age (:mod:`qtheory.analysis.ageint`: one run a level, its start
    where the mean remaining size is the level; no floor there, the integral runs to the
    end of the support), every other law's over the level as above; ``"runs"`` takes every
    law's over the level.

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
    fns = _as_fns(law, grid, fns)
    fl = None if floor is None else [floor]
    v, e = level_integrals(fns, weight, [gamma], cuts=cuts, floors=fl, rtol=rtol, span=span,
                           split=split, nodes=nodes, route=route)
    return float(v[0]), float(e[0])


class _Node:
    """One law's pieces of :func:`level_integrals` and what they have summed; ``kind`` a
    piece: 0, or 1 (2) where the integrand has a square-root singularity at its left
    (right) end, a switch of the runs' end (:func:`_piece_points`)."""

    __slots__ = ("sa", "sb", "kind", "done_v", "done_e", "cut_rounds", "result")

    def __init__(self, sa, sb):
        self.sa, self.sb = sa, sb
        self.kind = np.zeros(sa.size, dtype=np.int8)
        self.done_v, self.done_e, self.cut_rounds = 0.0, 0.0, 0
        self.result = None


def _fold_node(edges: np.ndarray, folds: np.ndarray) -> _Node:
    """A law's :class:`_Node` of the pieces between ``edges`` (sorted, in ``s``), those
    next to a fold (a level of ``folds``, where a local extremum of the inverse hazard
    makes a run of ``Phi`` appear or two merge: a run's end moves like the square root of
    the distance there) taking the rule in ``u`` towards it (:func:`_singular_pieces`).

    Examples
    --------
    >>> nn = _fold_node(np.array([0.0, 1.0, 2.0, 4.0]), np.array([2.0, 4.0]))
    >>> nn.sa.tolist(), nn.sb.tolist(), nn.kind.tolist()
    ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], [0, 2, 1, 2])
    """
    sa, sb, kind = _singular_pieces(edges, np.isin(edges, folds))
    nn = _Node(sa, sb)
    nn.kind = kind
    return nn


def _singular_pieces(edges: np.ndarray, sing: np.ndarray):
    """``(sa, sb, kind)`` of the pieces between the sorted ``edges``, where the integrand
    has a square-root singularity at the edges where ``sing``: a piece takes the rule in
    ``u`` towards its singular end (kind 1 at its left end, 2 at its right,
    :func:`_piece_points`), and a piece singular at both ends is halved first, each half
    towards its own.

    Examples
    --------
    >>> sa, sb, k = _singular_pieces(np.array([0.0, 1.0, 3.0]), np.array([True, True, False]))
    >>> sa.tolist(), sb.tolist(), k.tolist()
    ([0.0, 0.5, 1.0], [0.5, 1.0, 3.0], [1, 2, 1])
    """
    both = np.flatnonzero(sing[:-1] & sing[1:])
    if both.size:
        edges = np.insert(edges, both + 1, 0.5 * (edges[both] + edges[both + 1]))
        sing = np.insert(sing, both + 1, False)
    kind = np.where(sing[:-1], 1, np.where(sing[1:], 2, 0)).astype(np.int8)
    return edges[:-1], edges[1:], kind


def _piece_points(sa, sb, kind, t, w):
    """``(points, weights)`` (pieces x nodes) of the Gauss-Legendre rule ``(t, w)`` on the
    pieces ``[sa, sb]``: in ``s`` where ``kind`` is 0; where it is 1 in ``u`` with
    ``s = sa + (sb - sa) u**2`` (``u`` in ``[0, 1]``), and where it is 2 with
    ``s = sb - (sb - sa) u**2``, so that an integrand ``g(s) + h(s) |s - end|**(1/2)`` is
    smooth in ``u``.

    Next to a switch of the runs' end the later run's start closes on the first run's end
    like the square root of the distance (a fold of ``Phi``'s local maximum). In ``s`` the
    piece next to it needed 22 pieces graded by factors of 4 down to 1e-13 of the level on
    each side; in ``u`` one a side does (the halving rounds cut it further where needed).

    Examples
    --------
    The rule in ``u`` integrates ``sqrt(s)`` on ``[0, 1]`` exactly (2 / 3):

    >>> t, w = np.polynomial.legendre.leggauss(8)
    >>> x, wt = _piece_points(np.array([0.0]), np.array([1.0]), np.array([1]), t, w)
    >>> bool(abs(float(np.sum(wt * np.sqrt(x))) - 2.0 / 3.0) < 1e-15)
    True
    """
    half = 0.5 * (sb - sa)
    x = 0.5 * (sa + sb)[:, None] + half[:, None] * t
    wt = half[:, None] * w[None, :]
    sing = np.flatnonzero(kind)
    if sing.size:
        u = 0.5 * (1.0 + t)
        width = (sb - sa)[sing, None]
        left = (kind[sing] == 1)[:, None]
        x[sing] = np.where(left, sa[sing, None] + width * u * u, sb[sing, None] - width * u * u)
        wt[sing] = width * (u * w)[None, :]
    return x, wt


def level_integrals(laws, weight, gammas, grids=None, cuts=(), floors=None,
                    rtol: float = 1e-11, span: float = 4.0, split: int = 8,
                    nodes=(12, 16), route: str = "auto"):
    """:func:`level_integral` of many laws at once (arrays of values and estimates): each
    law's steps as alone, the same numbers, with the laws' functions called for all of
    them together (:class:`~qtheory.analysis._lawstack.LawStack`; the node laws of Gittins
    on the posterior are tabulated, and one compiled lookup serves them all).

    Parameters
    ----------
    laws : sequence of SizeDistribution, or the ``_Fns`` of them
        Continuous laws.
    weight : callable
        ``weight(r)``, the same for every law, not falling as ``r`` grows (as the r-work
        integral's): each law's negligible lowest levels are left out with a bound that
        needs it (:func:`_drop_tails`).
    gammas : sequence of float
        Each law's rank at age 0.
    grids : sequence, optional
        Each law's :func:`~qtheory.analysis.posterior_rwork.law_grid`.
    cuts : array_like
        Levels (in ``s = 1 / r``) where every law's pieces are cut.
    floors : sequence of float, optional
        Each law's lowest level (default ``2**-40`` of its mean).
    rtol, span, split, nodes, route
        As :func:`level_integral`.

    Examples
    --------
    >>> import qtheory as qt
    >>> laws = [qt.Weibull(0.5), qt.Exponential(mean=2.0)]
    >>> v, e = level_integrals(laws, lambda r: 0.5 + 0.0 * r, [0.0, 2.0])
    >>> bool(np.all(np.abs(v / np.array([2.0, 2.0]) - 1.0) < 1e-11))
    True
    """
    if route not in ("auto", "runs"):
        raise ValueError(f"route must be 'auto' or 'runs', got {route!r}")
    fns = laws if isinstance(laws, _Fns) else _Fns(list(laws), grids)
    if grids is not None and isinstance(laws, _Fns):
        fns.set_grids(grids)
    n = len(fns.laws)
    gammas = np.asarray(gammas, dtype=float)
    nd_e, ages, vals = _extrema(fns)
    fns.ext = np.full((n, max(np.bincount(nd_e, minlength=n).max(initial=0), 1)), np.inf)
    for i in range(n):
        a_i = np.sort(ages[nd_e == i])
        fns.ext[i, :a_i.size] = a_i
    fns.set_grids(_with_ages(fns, nd_e, ages))
    floors = 2.0**-40 * fns.M1 if floors is None else np.asarray(floors, dtype=float)
    # laws whose inverse hazard does not rise: one run a level, over the age (ageint)
    fall = falling(fns) if route == "auto" else np.zeros(n, dtype=bool)
    ih = np.where(fns.PDF > 0, fns.IH, np.nan)
    # where a run starts or ends at an age where the density jumps or kinks (an end of the
    # support, a breakpoint): the rank there, and the inverse hazard on both sides
    bp_nd, bp, sides = _breakpoint_sides(fns, fall)
    bp_rank = _ranks(fns, bp_nd, bp)
    cuts = np.asarray(cuts, dtype=float)
    nodes_ = []
    top = np.zeros(n)  # s below which S = E[X^2]
    m2 = fns.trunc2(np.zeros(n), fns.end, np.arange(n))
    for i in range(n):
        if fall[i]:
            nodes_.append(_Node(np.zeros(0), np.zeros(0)))
            continue
        # (the inverse hazard at the grid's last age: where the grid ends before the
        # support does, a run appears there; on an unbounded support its limit)
        mb = bp_nd == i
        crit = np.concatenate([[gammas[i]], vals[nd_e == i], [ih[i, 0], ih[i, fns.G[i] - 1]],
                               bp_rank[mb], sides[0][mb], sides[1][mb]])
        crit = crit[np.isfinite(crit) & (crit > floors[i])]
        # above every critical level the inverse hazard is below r on the whole grid, so
        # Phi falls: one run, from age 0 to the end, and S = E[X^2] (no run_work there)
        top[i] = 1.0 / crit.max() if crit.size else 0.0
        smax = 1.0 / floors[i]
        fixed = np.unique(np.concatenate([[0.0], 1.0 / crit, [smax]]))
        sv = _merge_cuts(fixed[(fixed >= 0) & (fixed <= smax)], cuts[cuts <= smax])
        edges = span_edges(sv, span)
        folds = vals[nd_e == i]
        nodes_.append(_fold_node(edges, 1.0 / folds[np.isfinite(folds) & (folds > 0)]))
    if fall.any():
        at = np.flatnonzero(fall)
        v, e = age_integrals(fns, at, weight, cuts, rtol=rtol, nodes=nodes, split=split)
        for q, i in enumerate(at):
            nodes_[i].result = (float(v[q]), float(e[q]))
    _drop_tails(fns, nodes_, weight, rtol, top, m2)
    rules = [_leggauss(m) for m in nodes]
    for rnd in range(split + 1 + 4):
        live = [i for i in range(n) if nodes_[i].result is None]
        if not live:
            break
        # both rules' nodes of every law in one call; the check rule's signatures tell a
        # piece where the runs' end switches between two local minima of Phi (S jumps
        # there): such a piece is cut at the switch and done again (4 rounds at most)
        sns, flats, nds = _rule_points(nodes_, live, rules)
        flat_all = np.concatenate(flats)
        nd_all = np.concatenate(nds)
        with np.errstate(divide="ignore"):
            r = 1.0 / flat_all
        # (levels above all of a law's critical levels: one run, S = E[X^2])
        one = flat_all <= top[nd_all]
        S = np.empty(r.size)
        sg_all = np.full(r.size, 64, dtype=np.int64)
        S[one] = m2[nd_all[one]]
        _, S[~one], sg_all[~one] = _runs(fns, nd_all[~one], r[~one], signature=True)
        g_all = S * np.asarray(weight(r), dtype=float)
        bounds = np.concatenate([[0], np.cumsum([f.size for f in flats])])
        want = []  # (law, pieces, columns, brackets) of the switches to place
        parts = []
        for m, i in enumerate(live):
            nn, sn = nodes_[i], sns[m]
            g = g_all[bounds[m]:bounds[m + 1]]
            n0 = sn[0].size
            sg = sg_all[bounds[m]:bounds[m + 1]][n0:].reshape(sn[1].shape)
            # (not in pieces narrower than 1e-9 of their level: next to a switch the two
            # minima of Phi are equal to rounding, and which one wins flickers)
            chg = (sg[:, 1:] != sg[:, :-1]) & (nn.sb - nn.sa > 1e-9 * nn.sb)[:, None]
            if chg.any() and nn.cut_rounds < 4:
                p, j = np.nonzero(chg)
                want.append((i, p, sn[1][p, j], sn[1][p, j + 1], sg[p, j], sn, g))
            else:
                parts.append((i, sn, g))
        if want:
            cut = _switches(fns, np.concatenate([np.full(w[1].size, w[0], dtype=np.int64)
                                                 for w in want]),
                            np.concatenate([w[2] for w in want]),
                            np.concatenate([w[3] for w in want]),
                            np.concatenate([w[4] for w in want]),
                            rel=max(_SWITCH_REL, 1e-4 * rtol))
            at = 0
            for i, p, _, _, _, sn, g in want:
                # (the law's other pieces summed now, those to cut left for the next round:
                # until the 32nd session every piece of such a law was done again, and the
                # round after the switches took as many rows as the first)
                nn = nodes_[i]
                if rnd >= split + nn.cut_rounds:
                    pos = p
                else:
                    pend = np.zeros(nn.sa.size, dtype=bool)
                    pend[p] = True
                    _sum_pieces(nn, sn, g, rules, rtol, False, pend)
                    pos = np.cumsum(pend)[p] - 1
                _cut_at(nn, pos, cut[at:at + p.size])
                at += p.size
        for i, sn, g in parts:
            _sum_pieces(nodes_[i], sn, g, rules, rtol, rnd >= split + nodes_[i].cut_rounds)
    return (np.array([nn.result[0] for nn in nodes_]),
            np.array([nn.result[1] for nn in nodes_]))


def _breakpoint_sides(fns: _Fns, skip) -> tuple:
    """``(law, age, [inverse hazard just below, just above])`` arrays of the breakpoints of
    the laws of ``fns`` inside their grids (but those of the laws where ``skip``): where a
    run of ``Phi`` may start or end, so their inverse hazards are critical levels
    (:func:`level_integrals`; :func:`~qtheory.analysis.posterior_rwork._critical_levels`)."""
    bp_nd, bp = [], []
    for i, law in enumerate(fns.laws):
        if skip[i]:
            continue
        top = fns.B[i, fns.G[i] - 1]
        x = [v for v in getattr(law, "breakpoints", ()) if np.isfinite(v) and 0 < v < top]
        bp_nd.extend([i] * len(x))
        bp.extend(x)
    bp_nd, bp = np.asarray(bp_nd, dtype=np.int64), np.asarray(bp, dtype=float)
    with np.errstate(all="ignore"):
        sides = [fns.sf(bp * sd, bp_nd) / fns.pdf(bp * sd, bp_nd)
                 for sd in (1.0 - 1e-13, 1.0 + 1e-13)]
    return bp_nd, bp, sides


class _Points(list):
    """A law's rules' points (a list, one pieces x nodes array a rule), with their weights
    (``w``, the same shapes) where :func:`_rule_points` made them."""

    w = None


def _rule_points(nodes_, live, rules, label=None):
    """``(points, flattened, law of each point)`` of both rules on the pieces of the laws
    ``live`` (a list a law: each rule's points as a pieces x nodes array; the points of
    both in one array; the law's index, or ``label[i]``, a point)."""
    sns, flats, nds = [], [], []
    if not live:
        return sns, flats, nds
    # (every law's pieces in one call a rule, then split a law: element by element, the
    # same points; a call a law and rule took 0.036 s of bounded Pareto's level integrals)
    cnt = [nodes_[i].sa.size for i in live]
    cut = np.cumsum(cnt)[:-1]
    sa = np.concatenate([nodes_[i].sa for i in live])
    sb = np.concatenate([nodes_[i].sb for i in live])
    kind = np.concatenate([nodes_[i].kind for i in live])
    both = [_piece_points(sa, sb, kind, t, w) for t, w in rules]
    per = [np.split(x, cut) for x, _ in both]
    wts = [np.split(wt, cut) for _, wt in both]
    for q, i in enumerate(live):
        sn = _Points(p[q] for p in per)
        sn.w = [wt[q] for wt in wts]
        flat = np.concatenate([x.ravel() for x in sn])
        sns.append(sn)
        flats.append(flat)
        nds.append(np.full(flat.size, i if label is None else label[i], dtype=np.int64))
    return sns, flats, nds


def _drop_tails(fns: _Fns, nodes_, weight, rtol: float, top=None, m2=None) -> None:
    """Leave out each law's pieces at its lowest levels (largest ``s``) whose share is
    negligible, bounded from the integrand at the pieces' edges (one :func:`run_work` call
    for all): ``S`` and ``N`` grow with the level (the ages of rank at most ``r`` grow
    with ``r``, so the runs grow and merge, and a run's work squared is at least the sum of
    the squares of the works it joins), so ``S(1 / s) weight(1 / s)`` falls with ``s``
    (``weight`` as that of the r-work integral, ``1 / (2 (1 - lambda N))``), and a piece's
    integral lies between its width times the integrand at its right edge and at its left
    edge (for a ``weight`` that does not fall as the level grows; where the integrand at
    the edges rises with ``s`` nothing is left out). The pieces from the last one down,
    while the sum of their upper bounds stays
    below ``rtol / 1000`` of the sum of all pieces' lower bounds, are left out: their
    bounds' midpoint joins the value and their half difference the estimate. Bounded
    supports' node laws of Gittins on the posterior spent half their levels below 1e-8 of
    their integral, many on their tables' untabulated end panels."""
    nd, s = [], []
    for i, nn in enumerate(nodes_):
        if nn.result is not None:
            continue
        e = np.concatenate([nn.sa, nn.sb[-1:]])
        e = e[e > 0]
        nd.append(np.full(e.size, i, dtype=np.int64))
        s.append(e)
    if not nd:
        return
    nd, s = np.concatenate(nd), np.concatenate(s)
    r = 1.0 / s
    S = np.empty(r.size)
    one = s <= top[nd] if top is not None else np.zeros(r.size, dtype=bool)
    if one.any():  # (above every critical level: S = E[X^2])
        S[one] = m2[nd[one]]
    S[~one] = _runs(fns, nd[~one], r[~one])[1]
    g = S * np.asarray(weight(r), dtype=float)
    at = 0
    for nn in nodes_:
        if nn.result is not None:
            continue
        m = nn.sa.size + 1 - int(nn.sa[0] == 0.0)
        ge = g[at:at + m]
        at += m
        if nn.sa[0] == 0.0:
            ge = np.concatenate([[np.inf], ge])  # (the first piece is always done)
        # (a weight that falls with the level somewhere shows here: no bound then)
        if not np.all(np.isfinite(ge[1:])) or np.any(np.diff(ge[1:]) > 1e-9 * ge[1:-1]):
            continue
        w = nn.sb - nn.sa
        upper, lower = w * ge[:-1], w * ge[1:]
        tot = float(np.sum(lower[1:])) + float(lower[0])
        cum = np.cumsum(upper[::-1])[::-1]  # the upper bounds of the pieces from j on
        ok = (cum <= 1e-3 * rtol * tot) & (np.arange(w.size) > 0)
        if not ok.any():
            continue
        j = int(np.argmax(ok))
        nn.done_v += float(0.5 * np.sum(upper[j:] + lower[j:]))
        nn.done_e += float(0.5 * np.sum(upper[j:] - lower[j:]))
        nn.sa, nn.sb, nn.kind = nn.sa[:j], nn.sb[:j], nn.kind[:j]


def _merge_cuts(fixed: np.ndarray, cuts: np.ndarray, rel: float = _MERGE) -> np.ndarray:
    """The sorted levels ``fixed`` (kept as they are: the law's critical levels, where its
    runs jump or kink) and those of ``cuts`` (where the weight may kink) farther than
    ``rel`` of their value from every level kept. ``N``'s table of Gittins on the posterior
    has its pieces' joins twice, each side's estimate of one kink, 1e-16 to 4e-6 apart:
    each pair made a piece of 28 levels, a third of a node's levels, and a kink misplaced
    by ``delta`` moves the integral by about ``delta**2`` times its slope's jump (1e-12 of
    the piece here).

    Examples
    --------
    >>> _merge_cuts(np.array([0.0, 1.0, 4.0]), np.array([1.0 + 1e-9, 2.0, 2.0 + 1e-8]))
    array([0., 1., 2., 4.])
    """
    fixed = np.unique(np.asarray(fixed, dtype=float))
    cuts = np.unique(np.asarray(cuts, dtype=float))
    if fixed.size and cuts.size:  # (the nearest level kept of the fixed ones)
        j = np.searchsorted(fixed, cuts)
        below = fixed[np.maximum(j - 1, 0)]
        above = fixed[np.minimum(j, fixed.size - 1)]
        near = np.minimum(np.abs(cuts - below), np.abs(above - cuts))
        cuts = cuts[near > rel * cuts]
    kept = []
    last = -np.inf
    for c in cuts.tolist():  # ... and of the cuts kept below (in order)
        if c - last > rel * c:
            kept.append(c)
            last = c
    return np.unique(np.concatenate([fixed, np.asarray(kept, dtype=float)]))


def _cut_at(nn: _Node, p, cut) -> None:
    """Cut the pieces ``p`` of a law at its switches ``cut``: the pieces on both sides of a
    switch take the rule in ``u`` towards it (:func:`_singular_pieces`: below it the later
    run's start closes on the first run's end like the square root of the distance; a
    Weibull 0.5 posterior's piece next to its switch was 3e-8 off after 8 halvings in
    ``s``), a piece's own singular end (a switch cut in an earlier round) staying one.
    Each piece is split at its own cuts: after a halving round the pieces left are not
    contiguous, and the gaps between them are done."""
    nn.cut_rounds += 1
    sa, sb, kind = nn.sa, nn.sb, nn.kind
    inner = {}
    for i, c0 in zip(p, cut):
        inner.setdefault(int(i), []).append(c0)
    na, nb, nk = [], [], []
    for i in range(sa.size):
        pts = np.asarray(inner.get(i, []), dtype=float)
        pts = np.unique(pts[(pts > sa[i]) & (pts < sb[i])])
        if not pts.size:
            na.append(sa[i:i + 1])
            nb.append(sb[i:i + 1])
            nk.append(kind[i:i + 1])
            continue
        sing = np.concatenate([[kind[i] == 1], np.ones(pts.size, dtype=bool), [kind[i] == 2]])
        a, b, k = _singular_pieces(np.concatenate([[sa[i]], pts, [sb[i]]]), sing)
        na.append(a)
        nb.append(b)
        nk.append(k)
    nn.sa, nn.sb, nn.kind = np.concatenate(na), np.concatenate(nb), np.concatenate(nk)


def _sum_pieces(nn: _Node, sn, g, rules, rtol: float, last: bool, pending=None) -> None:
    """Sum a law's pieces by both rules; keep those that agree, halve the others (or, on
    the ``last`` round or where all agree, set the law's result). The pieces where
    ``pending`` (a mask; not on the ``last`` round) are neither kept nor halved: they stay,
    first and in their order, for the next round (their values count in the total that
    sets the tolerance)."""
    sa, sb, kind = nn.sa, nn.sb, nn.kind
    n0 = sn[0].size
    vals_ = []
    # (the rules' weights where _rule_points made them with the points)
    wts = getattr(sn, "w", None) or [_piece_points(sa, sb, kind, t, w)[1] for t, w in rules]
    for x, wn, part in zip(sn, wts, (g[:n0], g[n0:])):
        vals_.append((part.reshape(x.shape) * wn).sum(axis=1))
    diff = np.abs(vals_[1] - vals_[0])
    total = nn.done_v + float(vals_[1].sum())
    bad = diff > 1e-2 * rtol * max(abs(total), 1e-300)
    pend = np.zeros(sa.size, dtype=bool) if pending is None else pending
    if not pend.any() and (last or not np.any(bad)):
        nn.result = (total, nn.done_e + float(diff.sum()))
        return
    bad &= ~pend
    keep = ~bad & ~pend
    nn.done_v += float(vals_[1][keep].sum())
    nn.done_e += float(diff[keep].sum())
    mid = 0.5 * (sa[bad] + sb[bad])
    kb = kind[bad]
    # (each half keeps its parent's singular end: the left half a left one, the right a
    # right one)
    nn.sa = np.concatenate([sa[pend], sa[bad], mid])
    nn.sb = np.concatenate([sb[pend], mid, sb[bad]])
    nn.kind = np.concatenate([kind[pend], np.where(kb == 1, kb, 0),
                              np.where(kb == 2, kb, 0)]).astype(np.int8)
