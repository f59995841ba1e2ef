"""Exact SOAP analysis of age-only rank functions: Gittins, SERPT and user-defined ranks.

Implements Theorem 5.5 of Z. Scully, M. Harchol-Balter and A. Scheller-Wolf, "SOAP: One
Clean Analysis of All Age-Based Scheduling Policies", Proc. ACM Meas. Anal. Comput. Syst.
2(1) 2018, for an M/G/1 queue whose rank ``g(a)`` depends on a job's age ``a`` only (lower
rank served first, ties first come first served). For a tagged job of size x, with worst
future rank ``w(a; x) = sup_{a <= b < x} g(b)`` and ``r = w(0; x)``,

    E[T_x] = lambda sum_i E[X_i^old[r]^2] / (2 (1 - rho_0^old[r]) (1 - rho^new[r]))
           + integral_0^x da / (1 - rho^new[w(a; x)]),

with ``X^new[r] = min(X, c0(r))``, ``c0(r) = inf{a >= 0 : g(a) >= r}`` (new jobs lose ties)
and the old r-work of the maximal age intervals ``[b_i, c_i)`` on which ``g <= r`` (old jobs
win ties): ``X_0^old = min(X, c_0)`` when ``b_0 = 0`` and ``X_i^old = (min(X, c_i) - b_i)^+``.

The rank
--------
An :class:`AgeRank` is ``g`` with its finitely many **monotone pieces** ``[t_j, t_{j+1})``,
on each of which ``g`` is continuous and increasing, decreasing or constant; ``g`` may jump at
a ``t_j`` and is right-continuous there (the rank *while served* at ages ``[a, a + da)`` is
``g(a)``), and ``sup`` above is taken over the closure (left limits count). A constant piece may
have the value ``-inf``: a job whose rank is ``-inf`` is never preempted. Build one from pieces
(:class:`RankPiece`), from a :class:`~qtheory.rank.RankFunction` with key ``"none"``, or from a
plain callable (:meth:`AgeRank.from_callable`, which finds the pieces numerically).

How E[T] is computed
--------------------
Every quantity above is exact in the size law through partial moments
(``E[min(X, c)] = E[X; X <= c] + c P(X > c)``, and so on); numerics are only needed for the
level sets of ``g``. Write the residence term as a sum over ages ``a < x`` and classify each
pair ``(a, x)``: either ``g(a)`` is strictly above every rank on ``(a, x)`` (a *descent*
pair, at level ``g(a)``), or ``w(a; x)`` is a level fixed by the pieces after ``a`` (a
*staircase* pair). Fubini on the descent pairs gives

    E[R(X)] = sum_{decreasing pieces} int h(g(a)) P(a < X <= e(a)) da
            + E[ sum_{staircase steps of X} h(level) * length ],

with ``h(r) = 1 / (1 - lambda E[X^new[r]])`` and ``e(a)`` the first age after the piece where
``g`` reaches ``g(a)`` again. The first sum is a tanh-sinh quadrature in the age; the second and
the waiting term are a tanh-sinh quadrature in the size x (a finite sum over the atoms for
discrete laws). Both are split at the breakpoints of the law, at the ``t_j`` and wherever ``g``
crosses the value of ``g`` at a piece end (local extrema, returns to an earlier maximum) or at
a breakpoint of the law, so that the integrands are smooth on each sub-interval. The result is a
finite list of rank levels with lambda-free weights:

    E[T] = sum_i u_i / (1 - lambda N_i)
         + sum_j v_j lambda S_j / (2 (1 - lambda O_j) (1 - lambda N_j)),

so that a load sweep costs a few vector operations per load once the levels are known. The error
estimate is the nested tanh-sinh estimate of :mod:`qtheory.analysis.quadrature`; the number of
nodes is doubled until it meets ``rtol`` (the first level only with a hundredfold margin:
:func:`_accept`).

Exactness on a piece: a level is carried with the piece and age it was read from, so comparisons
of levels of the same piece are made on the ages, not on the (possibly rounded) values; e.g. the
rank ``1/hazard(a)`` of a hyperexponential law is increasing although its values stop changing in
double precision far in the tail, and the analysis still sees FB there.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable

import numpy as np

from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution
from ..distributions.tabulated import fast_law
from ..rank import RankFunction, Segment
from .quadrature import SAFETY, finite_nodes, halfline_nodes, tanh_sinh_rule

__all__ = ["RankPiece", "AgeRank", "AgeRankAnalysis", "as_age_rank", "MAX_PIECES"]

#: Most monotone pieces that :meth:`AgeRank.from_callable` accepts when it finds them itself.
MAX_PIECES = 64

_EPS = float(np.finfo(float).eps)
_TINY = 1e-300
_SLOPE_RES = 2.0**20 * _EPS  # least rank change over a mean size, relative to the rank
_FIRST_LEVEL = 4
_SNAP = 8.0 * np.finfo(float).eps  # see _flat
_EARLY = 1e-2  # the first level is accepted with its estimate below this times rtol
_FIRST_C = 256.0  # and with this times its difference to the half-step sum squared (_accept)
_LAST_LEVEL = 7
_COND_LEVEL = 5
_WIDE = 1e6  # a quadrature piece over more than this factor of ages is cut (_wide_cut)
_NARROW = 0.015625  # _Law.trunc2: intervals narrower than this times their start
_GL16 = np.polynomial.legendre.leggauss(16)


# ====================================================================== monotone root finding
def _solve_grid(lo, hi, n: int) -> np.ndarray:
    """The points on which :func:`_bracket_solve` (and its compiled twin,
    :mod:`qtheory.analysis._chebsolve`) narrows the brackets of ``n`` levels before its
    iterations: ``min(lo)`` to ``max(hi)``, geometric where that spans decades above 0,
    one point per 8 levels up to 1025 (none for fewer than 64 levels). Each level's bracket
    becomes the cell of these points where the predicate starts to hold (a bisection on
    the points, whose values are computed once), which takes about 10 of its 20 iterations
    off (Gittins on the posterior, 16 node classes of exponential sizes with exponential
    noise: 12.3 -> 9.3 s, the same value)."""
    if n < 64 or lo.size == 0:
        return np.zeros(0)
    m = min(1025, 1 + n // 8)
    g0, g1 = float(np.min(lo)), float(np.max(hi))
    if not (np.isfinite(g0) and np.isfinite(g1) and g1 > g0):
        return np.zeros(0)
    if g0 > 0 and g1 > 16.0 * g0:
        return np.geomspace(g0, g1, m)
    return np.linspace(g0, g1, m)


def _bracket_solve(func, lo, hi, level, increasing: bool, strict: bool = False):
    """First age in ``[lo, hi]`` where a monotone predicate holds (vectorised).

    The predicate is ``func(a) >= level`` (``> level`` when ``strict``) for an increasing
    ``func`` and ``func(a) <= level`` for a decreasing one. Returns ``lo`` where it already
    holds at ``lo`` and ``hi`` where it fails at ``hi``. Illinois false position, with a
    (geometric where the bracket spans decades) bisection step every fourth iteration, down to
    a few ulps. Where the function equals the level at the bracket's upper end (a level that
    is the rank's own value there: false position would stay at that end and only the
    bisections would close the bracket), the next points gallop below it by ``tol``,
    ``2 tol``, ``4 tol``, ... (``tol`` the stopping width): on the Gittins ranks of
    ``validation/bench/bench_gittins.py`` this halves the iterations (41.6 to 21.6 a level
    on exponential sizes with exponential noise).
    """
    lo, hi, level = (np.array(v, dtype=float).ravel() for v in np.broadcast_arrays(lo, hi, level))
    sgn = 1.0 if increasing else -1.0

    def phi(a, lev):
        with np.errstate(all="ignore"):
            return sgn * (np.asarray(func(a), dtype=float) - lev)

    def holds(f):
        return f > 0 if (strict and increasing) else f >= 0

    out = hi.copy()
    if lo.size == 0:
        return out
    fa, fb = phi(lo, level), phi(hi, level)
    if np.any(np.isnan(fa) | np.isnan(fb)):
        raise ValueError("rank: the rank function returned NaN while solving for a level")
    at_lo = holds(fa)
    out[at_lo] = lo[at_lo]
    act = np.nonzero(~at_lo & holds(fb))[0]
    a, b, fa, fb, lev = lo[act], hi[act], fa[act], fb[act], level[act]
    grid = _solve_grid(lo, hi, lo.size)
    if grid.size and act.size:
        with np.errstate(all="ignore"):
            gval = np.asarray(func(grid), dtype=float)
        # the grid's points strictly inside (a, b), i0 .. i1 - 1; the first where the
        # predicate holds (i1 if none), by bisection on the points
        i0 = np.searchsorted(grid, a, side="right")
        i1 = np.searchsorted(grid, b, side="left")
        left, right = i0.copy(), i1.copy()
        while True:
            go = left < right
            if not np.any(go):
                break
            m = (left + right) >> 1
            v = sgn * (gval[np.minimum(m, grid.size - 1)] - lev)
            if np.any(go & np.isnan(v)):
                raise ValueError("rank: the rank function returned NaN while solving for a "
                                 "level")
            h = holds(v)
            right = np.where(go & h, m, right)
            left = np.where(go & ~h, m + 1, left)
        up = left < i1
        lw = left > i0
        with np.errstate(all="ignore"):
            b = np.where(up, grid[np.minimum(left, grid.size - 1)], b)
            fb = np.where(up, sgn * (gval[np.minimum(left, grid.size - 1)] - lev), fb)
            a = np.where(lw, grid[np.maximum(left - 1, 0)], a)
            fa = np.where(lw, sgn * (gval[np.maximum(left - 1, 0)] - lev), fa)
    side = np.zeros(act.size, dtype=int)
    k = np.zeros(act.size)  # galloping steps below an end where the rank equals the level
    for it in range(400):
        if act.size == 0:
            break
        tol = 2.0 * _EPS * np.maximum(np.abs(a), np.abs(b)) + _TINY
        done = (b - a) <= tol
        if np.any(done):
            out[act[done]] = b[done]
            keep = ~done
            act, a, b, fa, fb, lev, side, k, tol = (v[keep] for v in (act, a, b, fa, fb, lev,
                                                                       side, k, tol))
            if act.size == 0:
                break
        with np.errstate(all="ignore"):
            xs = a + (b - a) * (fa / (fa - fb))
        mid = np.where((a > 0) & (b > 16.0 * a), np.sqrt(a * b), 0.5 * (a + b))
        bis = (it % 4 == 3) | ~np.isfinite(xs) | (xs <= a) | (xs >= b)
        x = np.where(bis, mid, xs)
        # the rank equals the level at b (false position would return b itself, and the
        # bracket would close by bisection alone): step below b by tol, 2 tol, 4 tol, ...
        eq = fb == 0.0
        x = np.where(eq, b - tol * 2.0**k, x)
        k = np.where(eq, k + 1.0, 0.0)
        bad = (x <= a) | (x >= b)
        x = np.where(bad, 0.5 * (a + b), x)
        stuck = (x <= a) | (x >= b)
        if np.any(stuck):  # adjacent floats: converged
            out[act[stuck]] = b[stuck]
            keep = ~stuck
            act, a, b, fa, fb, lev, side, x, k = (v[keep] for v in (act, a, b, fa, fb, lev,
                                                                      side, x, k))
            if act.size == 0:
                break
        fx = phi(x, lev)
        if np.any(np.isnan(fx)):
            raise ValueError("rank: the rank function returned NaN while solving for a level")
        t = holds(fx)
        a_new = np.where(t, a, x)
        b_new = np.where(t, x, b)
        fa_new = np.where(t, fa, fx)
        fb_new = np.where(t, fx, fb)
        fa_new = np.where(t & (side == 1), 0.5 * fa_new, fa_new)
        fb_new = np.where(~t & (side == -1), 0.5 * fb_new, fb_new)
        side = np.where(t, 1, -1)
        a, b, fa, fb = a_new, b_new, fa_new, fb_new
    if act.size:
        out[act] = b
    return out


# ====================================================================== pieces
class RankPiece:
    """One monotone piece of an age-only rank: ``g`` on ``[start, end)``.

    Either a **linear** piece, ``value + slope * (a - start)`` (``slope = 0``: constant; a
    constant ``value`` may be ``-inf``), or a **general** piece given by a vectorised ``func``
    that is continuous and monotone (``kind`` +1 increasing, -1 decreasing) on the closed
    interval ``[start, end]`` (``func(end)`` is the left limit at ``end``).

    Parameters
    ----------
    start, end : float
        ``0 <= start < end <= inf``.
    kind : {-1, 0, 1}, optional
        Required with ``func``; derived from ``slope`` otherwise.
    func : callable, optional
        Vectorised rank on the piece.
    value, slope : float, optional
        A linear piece (``slope`` defaults to 0).

    Examples
    --------
    >>> p = RankPiece(1.0, 3.0, value=2.0, slope=-1.0)
    >>> float(p.eval(2.5)), float(p.solve(1.5, "le"))
    (0.5, 1.5)
    """

    __slots__ = ("start", "end", "kind", "func", "value", "slope")

    def __init__(self, start, end, kind=None, func=None, *, value=None, slope=None):
        start, end = float(start), float(end)
        if not (0.0 <= start < end) or np.isnan(end):
            raise ValueError(f"rank: a piece needs 0 <= start < end, got [{start!r}, {end!r})")
        self.start, self.end = start, end
        if func is None:
            if value is None:
                raise ValueError("rank: a piece needs either func or value")
            value = float(value)
            slope = 0.0 if slope is None else float(slope)
            if np.isnan(value) or value == np.inf:
                raise ValueError(f"rank: a piece value must be finite or -inf, got {value!r}")
            if not np.isfinite(slope):
                raise ValueError(f"rank: a piece slope must be finite, got {slope!r}")
            if value == -np.inf and slope != 0.0:
                raise ValueError("rank: a -inf piece must be constant (slope 0)")
            self.func, self.value, self.slope = None, value, slope
            self.kind = int(np.sign(slope))
        else:
            if not callable(func):
                raise ValueError("rank: func must be callable")
            if kind not in (-1, 0, 1):
                raise ValueError(f"rank: kind must be -1, 0 or 1, got {kind!r}")
            self.func, self.kind = func, int(kind)
            if self.kind == 0:
                v = float(np.asarray(func(np.array([start])), dtype=float).ravel()[0])
                if np.isnan(v) or v == np.inf:
                    raise ValueError(f"rank: the constant piece at {start!r} has value {v!r}")
                self.func, self.value, self.slope = None, v, 0.0
            else:
                self.value, self.slope = np.nan, np.nan

    @property
    def is_linear(self) -> bool:
        """True for a linear (or constant) piece."""
        return self.func is None

    def eval(self, a):
        """The rank at ages ``a`` (vectorised; the piece's formula, whatever ``a``)."""
        a = np.asarray(a, dtype=float)
        if self.func is None:
            if self.slope == 0.0:
                return np.full(a.shape, self.value)
            return self.value + self.slope * (a - self.start)
        out = np.asarray(self.func(a), dtype=float)
        return np.broadcast_to(out, a.shape).astype(float)

    def solve(self, level, mode: str, end=None):
        """First age of ``[start, end]`` where ``g >= level`` (``mode="ge"``), ``g > level``
        (``"gt"``; increasing pieces) or ``g <= level`` (``"le"``; decreasing pieces)."""
        level = np.asarray(level, dtype=float)
        end = self.end if end is None else float(end)
        if self.func is None:
            if self.slope == 0.0:
                ok = {"ge": self.value >= level, "gt": self.value > level,
                      "le": self.value <= level}[mode]
                return np.where(ok, self.start, end)
            with np.errstate(all="ignore"):
                a = self.start + (level - self.value) / self.slope
            return np.clip(np.where(np.isnan(a), end, a), self.start, end)
        fast = getattr(self.func, "bracket_solve", None)  # a compiled twin (Chebyshev)
        if fast is not None:
            return fast(self.start, end, level, mode != "le", mode == "gt").reshape(level.shape)
        return _bracket_solve(self.func, self.start, end, level, mode != "le",
                              strict=mode == "gt").reshape(level.shape)

    def clipped(self, end: float) -> RankPiece:
        """The same piece ending at ``end``."""
        p = RankPiece.__new__(RankPiece)
        for k in self.__slots__:
            setattr(p, k, getattr(self, k))
        p.end = float(end)
        return p

    def __repr__(self) -> str:
        kind = {1: "increasing", -1: "decreasing", 0: "constant"}[self.kind]
        if self.func is None:
            return (f"RankPiece([{self.start:g}, {self.end:g}), {kind}, value={self.value:g}, "
                    f"slope={self.slope:g})")
        return f"RankPiece([{self.start:g}, {self.end:g}), {kind})"


class AgeRank:
    """An age-only rank function with its monotone pieces (see the module docstring).

    Parameters
    ----------
    pieces : sequence of RankPiece
        Contiguous, from age 0 to infinity.
    name : str
        A label.
    age_hint : float, optional
        An age beyond which the rank hardly matters (e.g. a high quantile of the size law);
        :meth:`to_rank_function` tabulates the last piece up to it.

    Examples
    --------
    FB (least attained service first) is the rank ``g(a) = a``:

    >>> fb = AgeRank.linear(slope=1.0, name="FB")
    >>> float(fb(2.5)), fb.breakpoints
    (2.5, ())
    >>> r = AgeRank([RankPiece(0, 1, value=0.0, slope=1.0), RankPiece(1, np.inf, value=-np.inf)])
    >>> r(np.array([0.5, 1.0, 7.0]))
    array([ 0.5, -inf, -inf])
    """

    def __init__(self, pieces, name: str = "rank", age_hint: float | None = None):
        pieces = tuple(pieces)
        if not pieces:
            raise ValueError("rank: at least one piece is required")
        for i, p in enumerate(pieces):
            if not isinstance(p, RankPiece):
                raise ValueError(f"rank: pieces[{i}] must be a RankPiece, got {type(p).__name__}")
        if pieces[0].start != 0.0:
            raise ValueError("rank: the first piece must start at age 0")
        for p, q in zip(pieces[:-1], pieces[1:]):
            if p.end != q.start:
                raise ValueError(f"rank: pieces are not contiguous at {p.end!r} / {q.start!r}")
        if pieces[-1].end != np.inf:
            raise ValueError("rank: the last piece must end at age infinity")
        self.pieces = pieces
        self.name = str(name)
        self.age_hint = None if age_hint is None else float(age_hint)
        self._starts = np.array([p.start for p in pieces])

    # ------------------------------------------------------------------ constructors
    @classmethod
    def constant(cls, value: float = 0.0, name: str = "constant") -> AgeRank:
        """The constant rank (FCFS for any finite value).

        Examples
        --------
        >>> float(AgeRank.constant(3.0)(10.0))
        3.0
        """
        return cls([RankPiece(0.0, np.inf, value=value)], name=name)

    @classmethod
    def linear(cls, slope: float = 1.0, value: float = 0.0, name: str = "linear") -> AgeRank:
        """The rank ``value + slope * a`` (``slope = 1``: FB; ``slope <= 0``: FCFS)."""
        return cls([RankPiece(0.0, np.inf, value=value, slope=slope)], name=name)

    @classmethod
    def from_rank_function(cls, rank: RankFunction, name: str = "rank") -> AgeRank:
        """The age-only rank of a :class:`~qtheory.rank.RankFunction` with key ``"none"``.

        Examples
        --------
        >>> from qtheory.rank import RankFunction, Segment
        >>> rf = RankFunction.single("none", [Segment(value=(0.0, 0.0), slope=1, end=(0.0, 2.0)),
        ...                                   Segment(value=(0.0, 1.0), slope=0)])
        >>> for p in AgeRank.from_rank_function(rf).pieces:
        ...     print(p)
        RankPiece([0, 2), increasing, value=0, slope=1)
        RankPiece([2, inf), constant, value=1, slope=0)
        """
        if not isinstance(rank, RankFunction):
            raise ValueError(f"rank: expected a RankFunction, got {type(rank).__name__}")
        if rank.key != "none":
            raise ValueError(f"rank: the age-rank engine needs an age-only rank (key 'none'), "
                             f"got key {rank.key!r}")
        br = rank.branches[0]
        if any(getattr(s, "overhead", False) for s in br.segments):
            raise ValueError("rank: overhead segments are not supported by the age-rank engine")
        if br.initial is not None:
            raise ValueError("rank: an 'initial' rank at age 0 is not supported by the age-rank "
                             "engine")
        pieces = []
        for s in br.segments:
            start, end = s.start[1], s.end[1]
            if end <= start:
                continue
            pieces.append(RankPiece(start, end, value=s.value[1], slope=float(s.slope)))
        return cls(pieces, name=name)

    @classmethod
    def from_callable(cls, func: Callable, breakpoints=None, size: SizeDistribution | None = None,
                      age_max: float | None = None, max_pieces: int = MAX_PIECES,
                      name: str = "rank") -> AgeRank:
        """An :class:`AgeRank` from a plain callable ``g(a)``.

        With ``breakpoints``, ``g`` must be continuous and monotone between them (checked on
        a sample; a violation raises ``ValueError``). Without, the pieces are found
        numerically: ``g`` is sampled on a logarithmic grid of ages (from ``1e-9`` to
        ``age_max``, 48 points per decade, plus the size law's breakpoints), local extrema
        are located with a golden-section (bracketing) minimiser, jumps and the ends of flat
        stretches by bisection; more than ``max_pieces`` pieces raise ``ValueError``. Each
        piece's monotonicity is then checked with three more ages between grid points (a
        violation raises ``ValueError``). Beyond ``age_max`` the last piece is assumed to keep
        its monotonicity. Features narrower than a quarter of the grid spacing can be missed:
        pass the breakpoints when you know them.

        ``g`` must be vectorised (it is called on float arrays) and return finite values or
        ``-inf`` (a job with rank ``-inf`` is never preempted); NaN and ``+inf`` raise
        ``ValueError``.

        Parameters
        ----------
        func : callable
            The rank ``g(a)``.
        breakpoints : sequence of float, optional
            Ages splitting ``[0, inf)`` into monotone continuous pieces.
        size : SizeDistribution, optional
            Sets the sampling range (its support and median) when ``age_max`` is not given.
        age_max : float, optional
            End of the sampling range.
        max_pieces : int
            See above (default :data:`MAX_PIECES`).
        name : str
            A label.

        Examples
        --------
        >>> r = AgeRank.from_callable(lambda a: np.abs(a - 1.0), age_max=10.0)
        >>> [(round(p.start, 9), p.kind) for p in r.pieces]
        [(0.0, -1), (1.0, 1)]
        """
        return _scan_pieces(cls, func, breakpoints, size, age_max, max_pieces, name)

    # ------------------------------------------------------------------ evaluation
    def __call__(self, a):
        a = np.asarray(a, dtype=float)
        idx = np.searchsorted(self._starts, a, side="right") - 1
        out = np.full(a.shape, np.nan)
        for i, p in enumerate(self.pieces):
            m = idx == i
            if np.any(m):
                out[m] = p.eval(a[m])
        out = np.where(a >= 0, out, np.nan)
        return float(out) if out.ndim == 0 else out

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Interior piece boundaries."""
        return tuple(float(p.start) for p in self.pieces[1:])

    def __repr__(self) -> str:
        return f"AgeRank({self.name!r}, {len(self.pieces)} pieces)"

    # ------------------------------------------------------------------ tabulation
    def to_rank_function(self, n: int = 64, age_max: float | None = None) -> RankFunction:
        """A :class:`~qtheory.rank.RankFunction` (key ``"none"``) that tabulates this rank.

        Linear and constant pieces are copied exactly; every other piece is interpolated
        linearly through ``n + 1`` ages (geometrically spaced where the piece spans more than a
        factor 4, evenly otherwise), which keeps it monotone and keeps the jumps where they
        are. An unbounded general last piece is tabulated up to ``age_max`` (default: the
        ``age_hint`` given at construction, else ``100 * max(1, last start)``) and held constant
        after it. ``+inf`` ranks cannot occur; values above ``1e300`` are clipped to ``1e300``.

        Examples
        --------
        >>> rf = AgeRank.linear(1.0).to_rank_function()
        >>> float(rf.evaluate(0.0, 3.0))
        3.0
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        if age_max is None:
            age_max = self.age_hint
        segs = []
        for p in self.pieces:
            if p.is_linear:
                segs.append(Segment(value=(0.0, p.value), slope=p.slope, end=(0.0, p.end)))
                continue
            lo, hi = p.start, p.end
            tail = not np.isfinite(hi)
            if tail:
                hi = age_max if age_max is not None else 100.0 * max(1.0, lo)
                hi = max(hi, 2.0 * lo, lo + 1.0)
            if lo > 0 and hi / lo > 4.0:
                ages = np.geomspace(lo, hi, n + 1)
            else:
                ages = np.linspace(lo, hi, n + 1)
            ages[0], ages[-1] = lo, hi
            vals = np.minimum(p.eval(ages), 1e300)
            if np.any(np.isnan(vals)) or np.any(vals == -np.inf):
                raise ValueError(f"rank: non-finite values while tabulating piece {p!r}")
            for i in range(n):
                slope = (vals[i + 1] - vals[i]) / (ages[i + 1] - ages[i])
                segs.append(Segment(value=(0.0, vals[i]), slope=float(slope),
                                    end=(0.0, float(ages[i + 1]))))
            if tail:
                segs.append(Segment(value=(0.0, vals[-1]), slope=0, end=(0.0, np.inf)))
        # the Segment end of the last piece is inf already for linear pieces
        last = segs[-1]
        if np.isfinite(last.end[1]):
            segs.append(Segment(value=(0.0, self.pieces[-1].eval(last.end[1]).item()), slope=0))
        return RankFunction.single("none", segs)


def as_age_rank(rank, size: SizeDistribution | None = None) -> AgeRank:
    """Turn ``rank`` into an :class:`AgeRank`.

    Accepts an :class:`AgeRank`, a :class:`~qtheory.rank.RankFunction` with key ``"none"``, a
    number (a constant rank) or a plain vectorised callable ``g(a)`` (pieces found numerically
    with :meth:`AgeRank.from_callable` over the range of ``size``).

    Examples
    --------
    >>> as_age_rank(2.0).pieces
    (RankPiece([0, inf), constant, value=2, slope=0),)
    """
    if isinstance(rank, AgeRank):
        return rank
    if isinstance(rank, RankFunction):
        return AgeRank.from_rank_function(rank)
    if isinstance(rank, numbers.Real) and not isinstance(rank, bool):
        return AgeRank.constant(float(rank))
    if callable(rank):
        return AgeRank.from_callable(rank, size=size)
    raise ValueError(f"rank: expected an AgeRank, a RankFunction, a number or a callable, "
                     f"got {type(rank).__name__}")


# ====================================================================== the size law
def _m012(size, x: np.ndarray, tail: bool) -> list:
    """The partial (``tail``: tail) moments of orders 0, 1 and 2 of ``size`` at ``x`` (1-D),
    as arrays (:meth:`~qtheory.distributions.base.SizeDistribution.moments012`)."""
    return [np.asarray(v, dtype=float) for v in size.moments012(x, tail)]


class _Law:
    """Exact truncated moments of the size law (partial and tail moments, or atom sums)."""

    def __init__(self, size: SizeDistribution):
        self.size = size
        self.discrete = bool(size.is_discrete)
        self.m1 = float(size.moment(1))
        self.m2 = float(size.moment(2))
        lo, hi = size.support
        self.lo, self.hi = float(lo), float(hi)
        self.med = float(size.scale)
        if self.discrete:
            self.v, self.p = (np.asarray(z, dtype=float) for z in size.atoms)
            self.horizon = float(self.v[-1])
        elif np.isfinite(self.hi):
            self.horizon = self.hi
        else:
            # the first h = median * 2**k with a negligible tail (or beyond 1e250), the sf
            # of 64 candidates a call: a power tail needs hundreds of doublings (Pareto 2.5:
            # sf below 1e-200 past 1e80), each a quadrature over the noise for a bucket law
            # beyond its tables (0.3 s of a GittinsBuckets value one at a time); the tail
            # moment only at the candidates whose sf is already negligible, eight at a time
            # in order (the first of them mostly stops the search): beyond a tabulated law's
            # tables each is a quadrature of the law it was made from (a scipy law's: 28
            # scipy.integrate.quad calls, half of a Gittins value of 195 ms)
            h0 = max(self.med, 1e-300)
            h = h0
            done = False
            for k0 in range(0, 2048, 64):
                cand = h0 * 2.0 ** np.arange(k0, k0 + 64, dtype=float)
                with np.errstate(all="ignore"):
                    sf = np.asarray(size.sf(cand), dtype=float)
                far = cand > 1e250
                maybe = np.nonzero((sf <= 1e-200) | far)[0]
                for i in range(0, maybe.size, 8):
                    idx = maybe[i:i + 8]
                    with np.errstate(all="ignore"):
                        tm = (np.asarray(size.tail_moment(1, cand[idx]), dtype=float)
                              if np.isfinite(self.m1) else np.zeros(idx.size))
                    stop = ((sf[idx] <= 1e-200) & (tm <= 1e-18 * self.m1)) | far[idx]
                    if np.any(stop):
                        h = float(cand[idx[int(np.argmax(stop))]])
                        done = True
                        break
                if done:
                    break
            self.horizon = h

    def cdf(self, x):
        return np.asarray(self.size.cdf(np.asarray(x, dtype=float)), dtype=float)

    def sf(self, x):
        return np.asarray(self.size.sf(np.asarray(x, dtype=float)), dtype=float)

    def pdf(self, x):
        return np.asarray(self.size.pdf(np.asarray(x, dtype=float)), dtype=float)

    def prob(self, a, b):
        """P(a < X <= b) for a <= b (b may be inf), without cancellation
        (:meth:`~qtheory.distributions.base.SizeDistribution.prob_between`), at least 0."""
        return np.maximum(self.size.prob_between(a, b), 0.0)

    def emin(self, c):
        """E[min(X, c)] (c may be inf)."""
        c = np.asarray(c, dtype=float)
        fin = np.isfinite(c)
        cc = np.where(fin, np.maximum(c, 0.0), 0.0)
        with np.errstate(invalid="ignore"):
            val = np.asarray(self.size.partial_moment(1, cc), dtype=float) + cc * self.sf(cc)
        return np.where(fin, val, self.m1)

    def trunc2(self, b, c):
        """E[((min(X, c) - b)^+)^2] for b <= c (c may be inf)."""
        b, c = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(c, dtype=float))
        b, c = b.ravel(), c.ravel()
        if b.size == 0:
            return np.zeros(0)
        if self.discrete:
            out = np.empty(b.size)
            step = max(1, 2_000_000 // self.v.size)
            for i in range(0, b.size, step):
                bb, cc = b[i:i + step, None], c[i:i + step, None]
                d = np.maximum(np.minimum(self.v[None, :], cc) - bb, 0.0)
                out[i:i + step] = (d * d) @ self.p
            return out
        s = self.size
        out = np.zeros(b.size)
        tail = ~np.isfinite(c)
        with np.errstate(all="ignore"):
            if tail.any():
                bt = b[tail]
                sfb = self.sf(bt)
                if not np.isfinite(self.m2):
                    val = np.where(sfb > 0, np.inf, 0.0)
                else:
                    _, t1, t2 = _m012(s, bt, True)
                    val = t2 - 2.0 * bt * t1 + bt * bt * sfb
                out[tail] = np.maximum(val, 0.0)
            fin = ~tail
            if fin.any():
                bf, cf = b[fin], c[fin]
                upper = (bf >= self.med) & np.isfinite(self.m2)
                # the three orders of each side in one call (SizeDistribution.moments012: a
                # tabulated law looks its three tables up in one compiled pass)
                d = [pc - pb for pc, pb in zip(_m012(s, cf, False), _m012(s, bf, False))]
                if upper.any():
                    d = [np.where(upper, tb - tc, pm) for pm, tb, tc in
                         zip(d, _m012(s, bf, True), _m012(s, cf, True))]
                w2 = np.maximum(d[2] - 2.0 * bf * d[1] + bf * bf * d[0], 0.0)
                out[fin] = w2 + (cf - bf) ** 2 * self.sf(cf)
        # an interval narrow next to its start (ending at c or at the support's end)
        # cancels in the moment differences by (b / (c - b))**2: there the integral of the
        # density, int_b^e (x - b)**2 f(x) dx + (c - b)**2 P(X > c) with e = min(c, hi),
        # whose error is a few ulps of (c - b)**2 (what the r-work integral, which divides
        # by the level squared, needs near a bounded support's end: rwork)
        end = np.minimum(c, self.hi)
        narrow = (b > 0) & (end - b < _NARROW * b) & (end > b)
        if narrow.any():
            val = self._trunc2_narrow(b[narrow], c[narrow], end[narrow])
            ok = np.isfinite(val)
            idx = np.nonzero(narrow)[0][ok]
            out[idx] = val[ok]
        return out

    def _trunc2_narrow(self, b, c, e):
        """``int_b^e (x - b)**2 f(x) dx + (c - b)**2 P(X > c)`` (``e = min(c, hi)``) by
        16-point Gauss-Legendre on ``[b, e]``, checked by the rule on its two halves (NaN
        where they differ by more than ``1e-12`` relative plus a few ulps of
        ``(e - b)**2``: a kink or a singular density inside, left to the moment
        differences); one call of the density for all the points."""
        x, w = _GL16
        u = np.concatenate([0.5 * (1.0 + x), 0.25 * (1.0 + x), 0.25 * (3.0 + x)])  # in [0, 1]
        d = (e - b)[:, None] * u[None, :]  # x - b
        f = d * d * self.pdf(b[:, None] + d)
        n = x.size
        whole = (f[:, :n] @ w) * (0.5 * (e - b))
        halves = (f[:, n:2 * n] @ w + f[:, 2 * n:] @ w) * (0.25 * (e - b))
        good = np.abs(whole - halves) <= 1e-12 * np.abs(halves) + 64.0 * _EPS * (e - b) ** 2
        inner = c < self.hi
        if inner.any():
            halves[inner] += (c[inner] - b[inner]) ** 2 * self.sf(c[inner])
        return np.where(good, halves, np.nan)


# ====================================================================== levels
class _Levels:
    """Rank levels with their source: value, piece index (-1: none) and age on that piece."""

    __slots__ = ("val", "src", "age")

    def __init__(self, val, src, age):
        self.val = np.asarray(val, dtype=float)
        self.src = np.asarray(src, dtype=np.int64)
        self.age = np.asarray(age, dtype=float)

    def __getitem__(self, m):
        return _Levels(self.val[m], self.src[m], self.age[m])

    @property
    def size(self) -> int:
        return self.val.size

    @staticmethod
    def concat(items):
        items = [it for it in items if it.size]
        if not items:
            return _Levels(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
        return _Levels(np.concatenate([i.val for i in items]),
                       np.concatenate([i.src for i in items]),
                       np.concatenate([i.age for i in items]))


def _unique_rows(key):
    """``np.unique(key, axis=0, return_inverse=True)`` for a 2-D float array (rows in
    lexicographic order, equal rows merged as floats compare), by one ``lexsort``: the
    same result, several times faster than NumPy's structured-row sort."""
    if key.shape[0] == 0:
        return key.copy(), np.zeros(0, dtype=np.int64)
    order = np.lexsort(key.T[::-1])
    srt = key[order]
    new = np.empty(srt.shape[0], dtype=bool)
    new[0] = True
    new[1:] = np.any(srt[1:] != srt[:-1], axis=1)
    inv = np.empty(srt.shape[0], dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    return srt[new], inv


def _full(n, v):
    return np.full(n, v, dtype=float)


def _qnodes(edges, open_end: bool, level: int, scale: float):
    """Tanh-sinh nodes on the pieces between ``edges`` (exp-sinh on ``[edges[-1], inf)`` when
    ``open_end``): ages, weights, piece ids and the nested-rule masks."""
    rule = tanh_sinh_rule(level)
    xs, ws, ps, c2, c4 = [], [], [], [], []
    pid = 0
    for a, b in _wide_cut(edges):
        x, w = finite_nodes(np.array(a), np.array(b), rule)
        xs.append(x), ws.append(w), ps.append(np.full(x.size, pid))
        c2.append(rule.coarse), c4.append(rule.coarse4)
        pid += 1
    if open_end:
        a = float(edges[-1])
        x, w = halfline_nodes(np.array(a), np.array(max(scale, a)), level)
        hrule = tanh_sinh_rule(level, 3.4)
        xs.append(x), ws.append(w), ps.append(np.full(x.size, pid))
        c2.append(hrule.coarse), c4.append(hrule.coarse4)
        pid += 1
    if not xs:
        z = np.zeros(0)
        return z, z, np.zeros(0, dtype=np.int64), z.astype(bool), z.astype(bool), 0
    return (np.concatenate(xs), np.concatenate(ws), np.concatenate(ps), np.concatenate(c2),
            np.concatenate(c4), pid)


def geometric_edges(lo: float, hi: float, ratio: float, most: int | None = None) -> np.ndarray:
    """``lo = e_0 < e_1 < ... < e_m = hi``, geometric, with ``m`` the fewest pieces of at most
    the factor ``ratio`` each (``0 < lo < hi``; at least one, at most ``most``); the ends are
    exactly ``lo`` and ``hi``. Serves the cuts of wide quadrature pieces (:func:`_wide_cut`),
    of rank pieces before their fits (``gittins._cheb_pieces``) and of level intervals
    before their tables (``_worktab._presplit``)."""
    span = np.log(hi) - np.log(lo)  # (hi / lo overflows for a subnormal lo)
    m = max(1, int(np.ceil(span / np.log(ratio))))
    if most is not None:
        m = min(m, most)
    edges = np.exp(np.log(lo) + span * (np.arange(m + 1) / m))
    edges[0], edges[-1] = lo, hi
    return edges


def _wide_cut(edges):
    """The pieces between ``edges`` (empty ones left out), each over more than a factor
    :data:`_WIDE` of ages cut geometrically into pieces of at most that factor: tanh-sinh
    on a piece from 1 to 1.4e30 (a Pareto law's rank up to its horizon age) put a handful of
    nodes where the density has its mass, and its nested estimate did not see it (3.6 times
    off, estimate 6e-4)."""
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        if not b > a:
            continue
        if a > 0 and np.isfinite(b) and b > _WIDE * a:
            cuts = geometric_edges(a, b, _WIDE)
            out.extend(zip(cuts[:-1], cuts[1:]))
        else:
            out.append((a, b))
    return out


def _flat(level, end, snap: float = _SNAP):
    """Levels equal to a monotone piece's value ``end`` at its start or end to within
    ``snap`` (relative; :data:`_SNAP` for continuous laws): the same rank value computed
    another way (a maximum of the rank is the end value of an increasing piece and the start
    value of a decreasing one). Such a
    level is taken to be reached at that end: where the rank is flat there (a smooth
    maximum), the ages whose rank rounds to it span about ``sqrt(eps)`` of the scale, and a
    solve returned any of them, so that the same level's work functions differed with the
    piece it came from. Measured: SERPT on a Weibull(0.5) law truncated to [0, 5], load
    0.8, quadrature levels 4 to 7 gave 3.9705562028, ...2735, ...1985, ...2037 (1.9e-8
    apart; the nested estimates 1e-13).

    Laws with atoms have no smooth maxima, and their ranks take the same value at several
    ages, computed in ways that differ by an ulp or two (the rank after an atom, the rank
    at a regime change before it): there the tolerance turned such near-ties into the
    wrong ties, and Gittins given three buckets of sizes 1, 2, 5 under exponential noise
    came out 6.73925, 1.6e-3 above the simulator's 6.72845 +- 0.00202 (1.6e9 jobs) and the
    r-work integral's 6.72841. Their engines pass ``snap = 0``: exact comparisons. So do
    the levels of other classes (:meth:`AgeRankAnalysis._level_snap`)."""
    return np.abs(level - end) <= snap * np.abs(end)


def _rel_diff(value: float, below: float) -> float:
    """``|value - below| / |value|`` (0 for a value of 0): the first level's difference to
    its half-step sum in :func:`_accept`'s error model."""
    return abs(value - below) / abs(value) if value != 0 else 0.0


def _accept(value: float, err: float, below: float, rtol: float, first: bool,
            first_c: float | None = None) -> bool:
    """Whether a quadrature level's ``value`` (nested estimate ``err``) is accepted: the
    estimate meets ``rtol`` and the value agrees with the level below (``below``) to
    ``sqrt(rtol)``; double-exponential convergence squares the error per level, and the
    agreement guards against an estimate that is small by accident on a coarse grid. At the
    first level the level below is the nested rule's half-step sum, the same nodes as that
    level's own rule, and the estimate must be below ``_EARLY * rtol``; otherwise the next
    level is computed and compared with this one. Measured, at the first level (4) against
    level 6, 108 GittinsBuckets values (6 size laws, 3 noise laws, 1 and 2 thresholds, loads
    0.5, 0.8, 0.95): at most 6.6e-13 relative where the estimate is below 1e-11 (it is below
    2e-14 in most), 5.3e-11 where it is 2e-11 and above (exponential sizes, uniform noise:
    those go on to the next level); level 5, which every value needed before, costs twice
    level 4 and took two thirds of the multi-class analysis.

    The first level must also pass ``_FIRST_C d**2 <= rtol``, ``d`` the relative difference
    to the half-step sum: tanh-sinh about squares its error per level, and the error of the
    first level was ``C d**2`` with ``C`` from 1 to 194 on 45 accepted values (15 laws,
    Gittins and SERPT, loads 0.5, 0.843 and 0.95), while the nested estimate, which assumes
    the rate of the two levels before, can miss: Gittins on Pareto(1.83) at load 0.843 was
    accepted with an estimate of 9.2e-12 and ``d = 6.1e-6``, and was 2.1e-9 off (``C = 56``;
    found by the r-work integral, :mod:`qtheory.analysis.rwork`, which disagreed). ``first_c``
    replaces that constant (the r-work integral's, ``rwork._FIRST_C``, is 1e8)."""
    if not err <= rtol * abs(value) or not abs(value - below) <= np.sqrt(rtol) * abs(value):
        return False
    if not first:
        return True
    d = _rel_diff(value, below)
    c = _FIRST_C if first_c is None else first_c
    return err <= _EARLY * rtol * abs(value) and c * d * d <= rtol


class _Structure:
    """The lambda-free levels and weights of E[T] at one quadrature level."""

    def __init__(self, node_w, node_pid, node_c2, node_c4, t_node, t_lev, t_coef, t_w,
                 N, O0, S):
        self.node_w, self.node_pid = node_w, node_pid
        self.node_c2, self.node_c4 = node_c2, node_c4
        self.t_node, self.t_lev, self.t_coef, self.t_w = t_node, t_lev, t_coef, t_w
        self.N, self.O0, self.S = N, O0, S

    def evaluate(self, lam: float, coarse: bool = False):
        """``(E[T], error estimate)`` of this quadrature level at arrival rate ``lam``;
        with ``coarse`` also the value of the next coarser level, whose nodes are every
        other node of this one (the nested rule's half-step sum)."""
        with np.errstate(all="ignore"):
            h = 1.0 / (1.0 - lam * self.N)
            W = np.where(self.S > 0, 0.5 * lam * self.S / ((1.0 - lam * self.O0)
                                                             * (1.0 - lam * self.N)), 0.0)
            tv = self.t_coef * np.where(self.t_w, W[self.t_lev], h[self.t_lev])
        if np.any(np.isinf(tv)):
            return (np.inf, 0.0, np.inf) if coarse else (np.inf, 0.0)
        nn = self.node_w.size
        vals = np.bincount(self.t_node, tv, minlength=nn) * self.node_w
        total = float(vals.sum())
        q = self.node_pid >= 0
        if not np.any(q):
            err = 8.0 * _EPS * float(np.abs(vals).sum())
            return (total, err, total) if coarse else (total, err)
        pid, v = self.node_pid[q], vals[q]
        npc = int(pid.max()) + 1
        fine = np.bincount(pid, v, minlength=npc)
        half = 2.0 * np.bincount(pid, np.where(self.node_c2[q], v, 0.0), minlength=npc)
        quarter = 4.0 * np.bincount(pid, np.where(self.node_c4[q], v, 0.0), minlength=npc)
        absv = np.bincount(pid, np.abs(v), minlength=npc)
        d1, d2 = np.abs(fine - half), np.abs(half - quarter)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(d2 > 0, np.minimum(d1 / d2, 1.0), np.where(d1 > 0, 1.0, 0.0))
        err = np.maximum(d1 * ratio * ratio, 8.0 * _EPS * absv)
        err = SAFETY * float(err.sum()) + 8.0 * _EPS * float(np.abs(vals).sum())
        if coarse:
            return total, err, float(vals[~q].sum() + half.sum())
        return total, err


# ====================================================================== the analysis
class AgeRankAnalysis:
    """SOAP response times of an age-only rank policy in the M/G/1 (see the module docstring).

    Parameters
    ----------
    size : SizeDistribution
        Any size law: continuous (with a density) or with atoms (``Discrete``, ``Empirical``,
        ``Deterministic``).
    rank : AgeRank, RankFunction, number or callable
        The rank ``g(a)``; see :func:`as_age_rank`.
    rtol : float
        Target relative error of :meth:`mean`.

    Examples
    --------
    FB is the rank ``g(a) = a``; for exponential sizes E[T] is that of PS, ``E[X] / (1 - rho)``:

    >>> import qtheory as qt
    >>> a = AgeRankAnalysis(qt.Exponential(mean=1.0), AgeRank.linear(1.0))
    >>> round(a.mean(0.5)[0], 10)
    2.0

    A constant rank is FCFS (Pollaczek-Khinchine), for any law, here with two atoms:

    >>> b = AgeRankAnalysis(qt.Discrete([1.0, 3.0], [0.5, 0.5]), 0.0)
    >>> b.mean(0.3)[0], float(b.conditional(0.3, 1.0))
    (3.875, 2.875)
    """

    def __init__(self, size: SizeDistribution, rank, rtol: float = 1e-9):
        if not isinstance(size, SizeDistribution):
            raise ValueError(f"size: expected a SizeDistribution, got {type(size).__name__}")
        try:
            rtol = float(rtol)
        except (TypeError, ValueError):
            raise ValueError(f"rtol must be a number, got {rtol!r}") from None
        if not (np.isfinite(rtol) and rtol > 0):
            raise ValueError(f"rtol must be finite and > 0, got {rtol!r}")
        # a law wrapped from scipy is analysed through its tabulated twin (its truncated
        # moments one adaptive quadrature each otherwise): the same law to about 1e-13
        size = fast_law(size)
        self.size = size
        self.rank = as_age_rank(rank, size)
        self.rtol = rtol
        self.law = _Law(size)
        self._snap = 0.0 if self.law.discrete else _SNAP  # see _flat
        self._table()
        self._structs: dict[int, _Structure] = {}

    # ------------------------------------------------------------------ piece table
    def _table(self):
        law = self.law
        H = law.horizon
        pieces = list(self.rank.pieces)
        last = pieces[-1]
        t_end = max(H, 2.0 * last.start + 1.0) if last.start >= H else H
        if last.start >= t_end:
            t_end = 2.0 * last.start + 1.0
        pieces[-1] = last.clipped(t_end)
        self.H = H
        self.pieces = pieces
        K = len(pieces)
        self.K = K
        self.t = np.array([p.start for p in pieces] + [t_end])
        self.kind = np.array([p.kind for p in pieces])
        u = np.empty(K)
        v = np.empty(K)
        for j, p in enumerate(pieces):
            with np.errstate(all="ignore"):
                u[j] = p.eval(np.array([p.start]))[0]
                v[j] = p.eval(np.array([p.end]))[0]
            if np.isnan(u[j]) or np.isnan(v[j]) or u[j] == np.inf or v[j] == np.inf:
                raise ValueError(f"rank: non-finite value at an end of piece {p!r} "
                                 f"({u[j]!r}, {v[j]!r})")
            if p.kind == 1 and u[j] > v[j] + 1e-12 * abs(v[j]):
                raise ValueError(f"rank: piece {p!r} is declared increasing but g(start) = "
                                 f"{u[j]!r} > g(end) = {v[j]!r}")
            if p.kind == -1 and u[j] < v[j] - 1e-12 * abs(v[j]):
                raise ValueError(f"rank: piece {p!r} is declared decreasing but g(start) = "
                                 f"{u[j]!r} < g(end) = {v[j]!r}")
        # a linear piece whose slope, over a mean size, moves the rank by less than about a
        # million ulps of its value at the piece's start is not resolved in floating point:
        # the ages where it reaches a level (levels a few ulps apart) are ill-conditioned, and
        # the answer would be off without notice (Exp(1.3) sizes, rank 0.5 - a, then
        # 0.5 + 2.2e-16 (a - 1): 1.7 % off). Refused, with the least slope that is resolved.
        age_scale = law.m1 if (np.isfinite(law.m1) and law.m1 > 0) else law.med
        for j, p in enumerate(pieces):
            if not (p.is_linear and p.slope != 0.0 and p.start < H):
                continue
            mag = abs(u[j])  # the rank where the piece starts (a rising one may grow huge)
            if abs(p.slope) * age_scale < _SLOPE_RES * mag:
                raise ValueError(
                    f"rank: the piece on [{p.start:g}, {self.rank.pieces[j].end:g}) has slope "
                    f"{p.slope!r}, which "
                    f"moves its rank (about {mag:.3g}) by {abs(p.slope) * age_scale:.2e} over "
                    f"a mean size ({age_scale:.3g}): below the resolution of double precision "
                    f"for the SOAP levels. Use slope 0 (equal ranks served first come first "
                    f"served) or |slope| >= {_SLOPE_RES * mag / age_scale:.2e} (rising: equal "
                    f"ranks share the server)")
        # a monotone piece whose end values are equal in floating point is constant there
        flat = (self.kind != 0) & (u == v)
        for j in np.nonzero(flat)[0]:
            pieces[j] = RankPiece(pieces[j].start, pieces[j].end, value=float(u[j]))
        self.kind = np.where(flat, 0, self.kind)
        self.u, self.v = u, v
        self.sup = np.where(self.kind == 1, np.maximum(u, v), u)
        self.sup_age = np.where(self.kind == 1, self.t[1:], self.t[:-1])
        # pieces that jobs can reach (start below the horizon)
        self.live = self.t[:-1] < H
        crit = set()
        for j in range(K):
            if self.live[j]:
                for z in (u[j], v[j]):
                    if np.isfinite(z):
                        crit.add(float(z))
        bps = [b for b in self._law_breaks() if 0 < b < H]
        for b in bps:
            j = int(np.searchsorted(self.t[1:], b, side="right"))
            if j < K and (not law.discrete or self.kind[j] == 1):
                z = float(pieces[j].eval(np.array([b]))[0])
                if np.isfinite(z):
                    crit.add(z)
        self.crit = np.array(sorted(crit))
        self._dec_edges = {j: self._piece_edges(j) for j in range(K)
                           if self.kind[j] == -1 and self.live[j]}

    def _law_breaks(self):
        if self.law.discrete:
            return [float(z) for z in self.law.v]
        return [float(z) for z in self.size.breakpoints] + [self.law.lo]

    def _piece_edges(self, j):
        """Ages of piece j where the integrands may have a kink or a jump: its ends, the law's
        breakpoints inside and the crossings of the critical levels."""
        a, b = self.t[j], self.t[j + 1]
        edges = {float(a), float(min(b, self.H))}
        for z in self._law_breaks():
            if a < z < min(b, self.H):
                edges.add(float(z))
        k = self.kind[j]
        if k != 0:
            lo, hi = min(self.u[j], self.v[j]), max(self.u[j], self.v[j])
            lev = self.crit[(self.crit > lo) & (self.crit < hi)]
            if lev.size:
                pts = self.pieces[j].solve(lev, "ge" if k == 1 else "le")
                edges |= {float(z) for z in pts if a < z < min(b, self.H)}
        return np.array(sorted(edges))

    # ------------------------------------------------------------------ level functions
    def _level_snap(self, L: _Levels):
        """The rounding tolerance of :func:`_flat` for each level: this engine's for a level
        taken from one of its own pieces, 0 (exact comparisons) for a bare level (another
        class's rank value, a quadrature node in the level). Two classes whose ranks are equal
        in exact arithmetic (posterior laws of three prediction buckets of a truncated Weibull
        law under uniform noise that does not reach the support's ends: each density is the
        size's over ``x``) come out a few ulps apart, and which is below which changes with
        the age. With the tolerance, one class's jobs tied with another's for the first and
        came strictly before it for the second, and Gittins given those buckets came out
        1.86265 (estimate 4e-14) where the simulator gives 1.85986 +- 0.0007 and the r-work
        integral 1.85990; with exact comparisons the order is strict both ways, and SOAP gives
        1.85990, as with the classes' ranks made exactly equal or clearly apart."""
        if not self._snap:
            return 0.0
        return np.where(L.src >= 0, self._snap, 0.0)

    def _solve(self, j, val, mode):
        return self.pieces[j].solve(val, mode)

    def _first_reach(self, L: _Levels, start=0):
        """inf{a >= t_start : g reaches the level}, over the closure (left limits count)."""
        n = L.size
        pos = _full(n, np.inf)
        found = np.zeros(n, dtype=bool)
        snap = self._level_snap(L)
        start = np.broadcast_to(np.asarray(start), (n,))
        for j in range(self.K):
            cand = ~found & (start <= j)
            if not cand.any():
                continue
            same = cand & (L.src == j)
            hit = cand & ((self.sup[j] >= L.val) | same)
            if not hit.any():
                continue
            if self.kind[j] == 1:
                pos[same] = L.age[same]
                at0 = hit & ~same & (self.u[j] >= L.val)
                pos[at0] = self.t[j]
                # a level at the piece's end value (to rounding) is reached at its end: there
                # the rank may be flat (a smooth maximum, as SERPT's), and solving for it
                # would return any age where the rank rounds to that value, 1e-8 before the
                # end and more (see _flat)
                top = hit & ~same & ~at0 & _flat(L.val, self.v[j], snap)
                pos[top] = self.t[j + 1]
                mid = hit & ~same & ~at0 & ~top
                if mid.any():
                    pos[mid] = self._solve(j, L.val[mid], "ge")
            else:
                pos[hit] = self.t[j]
            found |= hit
        return pos

    def _new_work(self, L: _Levels):
        """E[X^new[r]] = E[min(X, c0(r))]."""
        return self.law.emin(self._first_reach(L))

    def _old_work(self, L: _Levels):
        """(E[X_0^old[r]], sum_i E[(X_i^old[r])^2]) over the maximal intervals of g <= r."""
        n = L.size
        O0, S = np.zeros(n), np.zeros(n)
        is_open = np.zeros(n, dtype=bool)
        cb, cc = np.zeros(n), np.zeros(n)
        snap = self._level_snap(L)
        t_end = self.t[-1]

        def emit(mask):
            if not mask.any():
                return
            b, c = cb[mask], cc[mask]
            c = np.where(c >= t_end, np.inf, c)
            S[mask] += self.law.trunc2(b, c)
            z = np.nonzero(mask)[0][b == 0.0]
            if z.size:
                O0[z] = self.law.emin(np.where(cc[z] >= t_end, np.inf, cc[z]))

        for j in range(self.K):
            tj, tj1 = self.t[j], self.t[j + 1]
            same = L.src == j
            lo, hi = _full(n, tj), _full(n, tj)
            kj = self.kind[j]
            if kj == 0:
                hi[(self.u[j] <= L.val) | same] = tj1
            elif kj == 1:
                full = ~same & ((self.v[j] <= L.val) | _flat(L.val, self.v[j], snap))
                part = ~same & ~full & (self.u[j] <= L.val)
                hi[full] = tj1
                hi[same] = L.age[same]
                if part.any():  # g(t_{j+1}-) > r: the interval ends strictly inside
                    hi[part] = np.minimum(self._solve(j, L.val[part], "gt"),
                                          np.nextafter(tj1, -np.inf))
            else:
                full = ~same & ((self.u[j] <= L.val) | _flat(L.val, self.u[j], snap))
                part = ~same & ~full & (self.v[j] <= L.val)
                some = full | part | same
                hi[some] = tj1
                lo[same] = L.age[same]
                if part.any():  # g(t_j) > r: the interval starts strictly inside
                    lo[part] = np.maximum(self._solve(j, L.val[part], "le"),
                                          np.nextafter(tj, np.inf))
            ne = hi > lo
            cont = ne & is_open & (cc == lo)
            new = ne & ~cont
            emit(new & is_open)
            cb[new] = lo[new]
            cc[ne] = hi[ne]
            is_open |= ne
        emit(is_open)
        return O0, S

    # ------------------------------------------------------------------ the tagged job
    def _staircase(self, x, J):
        """Non-descent steps of ``w(.; x)`` on ``[0, x)`` for jobs of sizes ``x`` in pieces ``J``
        (``t_J < x <= t_{J+1}``).

        Returns ``(node, levels, length)`` of the steps, the worst future rank ``r = w(0; x)``
        and the descent intervals ``(node, piece, lo, hi)`` (where ``w(a; x) = g(a)``).
        """
        n = x.size
        Sv, Ss, Sa = _full(n, -np.inf), np.full(n, -1, dtype=np.int64), np.zeros(n)
        t_node, t_lev, t_len, desc = [], [], [], []

        def step(ids, val, src, age, length):
            keep = length > 0
            if keep.any():
                ids = ids[keep]
                t_node.append(ids)
                t_lev.append(_Levels(np.broadcast_to(val, keep.shape)[keep],
                                     np.broadcast_to(src, keep.shape)[keep],
                                     np.broadcast_to(age, keep.shape)[keep]))
                t_len.append(np.broadcast_to(length, keep.shape)[keep])

        for k in range(self.K - 1, -1, -1):
            tk, tk1 = self.t[k], self.t[k + 1]
            kk = self.kind[k]
            ins = np.nonzero(J == k)[0]
            if ins.size:
                xi = x[ins]
                if kk == 1:
                    gv = self.pieces[k].eval(xi)
                    step(ins, gv, k, xi, xi - tk)
                    Sv[ins], Ss[ins], Sa[ins] = gv, k, xi
                elif kk == 0:
                    step(ins, self.u[k], k, tk, xi - tk)
                    Sv[ins], Ss[ins], Sa[ins] = self.u[k], k, tk
                else:
                    desc.append((ins, k, _full(ins.size, tk), xi))
                    Sv[ins], Ss[ins], Sa[ins] = self.u[k], k, tk
            bef = np.nonzero(J > k)[0]
            if not bef.size:
                continue
            sv, ss, sa = Sv[bef], Ss[bef], Sa[bef]
            if kk != -1:
                take = self.sup[k] > sv
                lv = np.where(take, self.sup[k], sv)
                ls = np.where(take, k, ss)
                la = np.where(take, self.sup_age[k], sa)
                step(bef, lv, ls, la, _full(bef.size, tk1 - tk))
                Sv[bef], Ss[bef], Sa[bef] = lv, ls, la
                continue
            lvl = (sv >= self.u[k]) | _flat(sv, self.u[k], self._snap)
            dsc = sv < self.v[k]
            part = ~lvl & ~dsc
            step(bef[lvl], sv[lvl], ss[lvl], sa[lvl], _full(int(lvl.sum()), tk1 - tk))
            if dsc.any():
                desc.append((bef[dsc], k, _full(int(dsc.sum()), tk), _full(int(dsc.sum()), tk1)))
            if part.any():
                q = self._solve(k, sv[part], "le")
                desc.append((bef[part], k, _full(q.size, tk), q))
                step(bef[part], sv[part], ss[part], sa[part], tk1 - q)
            upd = ~lvl
            Sv[bef[upd]], Ss[bef[upd]], Sa[bef[upd]] = self.u[k], k, tk
        nodes = np.concatenate(t_node) if t_node else np.zeros(0, dtype=np.int64)
        lengths = np.concatenate(t_len) if t_len else np.zeros(0)
        return nodes, _Levels.concat(t_lev), lengths, _Levels(Sv, Ss, Sa), desc

    def _piece_of(self, x):
        """J with t_J < x <= t_{J+1} (the piece whose closure ends the job)."""
        J = np.searchsorted(self.t[1:-1], x, side="left")
        return np.minimum(J, self.K - 1)

    # ------------------------------------------------------------------ structure
    def _structure(self, level: int) -> _Structure:
        if level in self._structs:
            return self._structs[level]
        law = self.law
        node_w, node_pid, node_c2, node_c4 = [], [], [], []
        t_node, t_lev, t_coef, t_w = [], [], [], []
        n_nodes = 0
        pid_off = 0

        def add_nodes(w, pid, c2, c4):
            nonlocal n_nodes
            node_w.append(w), node_pid.append(pid), node_c2.append(c2), node_c4.append(c4)
            n_nodes += w.size
            return n_nodes - w.size

        def add_terms(nodes, levels, coef, is_w):
            keep = coef != 0
            if keep.any():
                t_node.append(nodes[keep]), t_lev.append(levels[keep])
                t_coef.append(coef[keep]), t_w.append(np.full(int(keep.sum()), is_w))

        # ---- the tagged job: sizes x (atoms, or quadrature nodes over the density)
        if law.discrete:
            x, wx = law.v, law.p
            pid = np.full(x.size, -1)
            c2 = c4 = np.ones(x.size, dtype=bool)
        else:
            xs, ws, ps, c2s, c4s = [], [], [], [], []
            for j in range(self.K):
                a, b = max(self.t[j], law.lo), min(self.t[j + 1], law.hi, self.H)
                if not b > a:
                    continue
                edges = self._piece_edges(j)
                edges = edges[(edges >= a) & (edges <= b)]
                edges = np.unique(np.concatenate([[a], edges, [b]]))
                open_end = (j == self.K - 1) and not np.isfinite(law.hi)
                if open_end and edges.size > 1:
                    edges = edges[:-1]  # exp-sinh from the last split point
                xq, wq, pq, cq2, cq4, npc = _qnodes(edges, open_end, level, law.med)
                xs.append(xq), ws.append(wq), ps.append(pq + pid_off)
                c2s.append(cq2), c4s.append(cq4)
                pid_off += npc
            x = np.concatenate(xs)
            with np.errstate(all="ignore"):
                wx = np.concatenate(ws) * law.pdf(x)
            pid, c2, c4 = np.concatenate(ps), np.concatenate(c2s), np.concatenate(c4s)
            keep = (x <= self.H) & np.isfinite(wx) & (wx != 0)
            x, wx, pid, c2, c4 = x[keep], wx[keep], pid[keep], c2[keep], c4[keep]
        base = add_nodes(wx, pid, c2, c4)
        pos = x > 0
        ids = np.nonzero(pos)[0]
        nodes, levels, lengths, r, _ = self._staircase(x[pos], self._piece_of(x[pos]))
        add_terms(ids[nodes] + base, levels, lengths, False)
        add_terms(ids + base, r, np.ones(ids.size), True)
        zero = np.nonzero(~pos)[0]
        if zero.size:
            # a job of size 0 waits with the rank of age 0 (the limit x -> 0+)
            add_terms(zero + base, _Levels(_full(zero.size, self.u[0]),
                                           np.zeros(zero.size, dtype=np.int64),
                                           np.zeros(zero.size)),
                      np.ones(zero.size), True)
        # ---- descent pairs: int over decreasing pieces of h(g(a)) P(a < X <= e(a)) da
        for j, edges in self._dec_edges.items():
            open_end = (j == self.K - 1) and not law.discrete and not np.isfinite(law.hi) \
                and self.t[j + 1] >= self.H
            if open_end and edges.size > 1:
                edges = edges[:-1]
            a, wa, pa, ca2, ca4, npc = _qnodes(edges, open_end, level, law.med)
            keep = a < self.H
            a, wa, pa, ca2, ca4 = a[keep], wa[keep], pa[keep], ca2[keep], ca4[keep]
            if not a.size:
                continue
            lev = _Levels(self.pieces[j].eval(a), np.full(a.size, j), a)
            e = self._first_reach(lev, start=j + 1)
            coef = law.prob(a, e)
            b0 = add_nodes(wa, pa + pid_off, ca2, ca4)
            pid_off += npc
            add_terms(np.arange(a.size) + b0, lev, coef, False)
        # ---- unique levels and their lambda-free functions
        node_w = np.concatenate(node_w)
        node_pid, node_c2 = np.concatenate(node_pid), np.concatenate(node_c2)
        node_c4 = np.concatenate(node_c4)
        tn = np.concatenate(t_node)
        tl = _Levels.concat(t_lev)
        tc = np.concatenate(t_coef)
        tw = np.concatenate(t_w)
        key = np.stack([tl.val, tl.src.astype(float), np.where(tl.src >= 0, tl.age, 0.0)], 1)
        uniq, inv = _unique_rows(key)
        U = _Levels(uniq[:, 0], uniq[:, 1].astype(np.int64), uniq[:, 2])
        N = self._new_work(U)
        O0, S = np.zeros(U.size), np.zeros(U.size)
        wl = np.unique(inv[tw])
        if wl.size:
            O0[wl], S[wl] = self._old_work(U[wl])
        st = _Structure(node_w, node_pid, node_c2, node_c4, tn, inv, tc, tw, N, O0, S)
        st.levels, st.waiting = U, wl  # kept for mixtures of classes (multiclass.py)
        self._structs[level] = st
        return st

    # ------------------------------------------------------------------ public
    def mean(self, lam: float) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` (``inf`` when the load is >= 1).

        The number of nodes is doubled until the nested tanh-sinh estimate meets ``rtol`` and
        the value agrees with the level below to ``sqrt(rtol)``; the first level, whose level
        below is its own rule's every other node, only with an estimate below ``rtol / 100``
        (:func:`_accept`). A :class:`~qtheory.QuadratureWarning` reports a miss;
        lambda-free quantities are kept, so further loads cost a few vector operations.
        """
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        rho = lam * self.law.m1
        if rho >= 1.0:
            return np.inf, 0.0
        value, err, prev = np.nan, np.inf, None
        for level in range(_FIRST_LEVEL, _LAST_LEVEL + 1):
            value, err, below = self._structure(level).evaluate(lam, coarse=True)
            if not np.isfinite(value):
                break
            if _accept(value, err, below if prev is None else prev, self.rtol,
                       first=prev is None):
                break
            prev = value
        if np.isfinite(value) and err > self.rtol * abs(value):
            warnings.warn(
                f"age-rank SOAP mean response time: quadrature reached an estimated relative "
                f"error of {err / abs(value):.2e}, above the requested rtol={self.rtol:.1e}",
                QuadratureWarning, stacklevel=2)
        return value, err

    def conditional(self, lam: float, x) -> np.ndarray:
        """E[T_x] for jobs of size ``x`` (vectorised; ``inf`` when the load is >= 1).

        The descent parts of the residence integral are integrated by tanh-sinh on each
        decreasing piece, split where the integrand has kinks.
        """
        lam = float(lam)
        x = np.asarray(x, dtype=float)
        if np.any(np.isnan(x)) or np.any(x < 0):
            raise ValueError("x must be >= 0 (and not NaN)")
        rho = lam * self.law.m1
        if rho >= 1.0:
            return np.full(x.shape, np.inf)
        return self._conditional(lam, x, self._new_work, self._old_work)

    def _conditional(self, lam: float, x: np.ndarray, new_work, old_work) -> np.ndarray:
        """:meth:`conditional` with the other jobs' work functions given: ``new_work(L)``
        and ``old_work(L) -> (O0, S)`` at levels ``L`` (the multi-class analysis passes
        mixtures over the classes)."""
        xf = x.ravel()
        out = np.zeros(xf.size)
        pos = np.nonzero(xf > 0)[0]
        if pos.size:
            xp = xf[pos]
            nodes, levels, lengths, r, desc = self._staircase(xp, self._piece_of(xp))
            with np.errstate(all="ignore"):
                h = 1.0 / (1.0 - lam * new_work(levels))
            res = np.bincount(nodes, lengths * h, minlength=xp.size).astype(float)
            rule = tanh_sinh_rule(_COND_LEVEL)
            for rows, k, lo, hi in desc:
                edges = self._dec_edges.get(k)
                if edges is None:
                    edges = self._piece_edges(k)
                inner = edges[1:-1]
                cuts = np.clip(inner[None, :], lo[:, None], hi[:, None])
                e = np.concatenate([lo[:, None], cuts, hi[:, None]], axis=1)
                an, wn = finite_nodes(e[:, :-1], e[:, 1:], rule)
                shp = an.shape
                af = an.ravel()
                lev = _Levels(self.pieces[k].eval(af), np.full(af.size, k), af)
                with np.errstate(all="ignore"):
                    hv = (1.0 / (1.0 - lam * new_work(lev))).reshape(shp)
                res += np.bincount(rows, np.sum(np.where(wn > 0, wn * hv, 0.0), axis=(1, 2)),
                                   minlength=xp.size)
            out[pos] = res + self._waiting(lam, r, new_work, old_work)
        zero = np.nonzero(xf == 0)[0]
        if zero.size:
            out[zero] = self._waiting(lam, _Levels(_full(1, self.u[0]), [0], [0.0]), new_work,
                                      old_work)[0]
        return out.reshape(x.shape)

    def _waiting(self, lam, r: _Levels, new_work, old_work):
        N = new_work(r)
        O0, S = old_work(r)
        with np.errstate(all="ignore"):
            return np.where(S > 0, 0.5 * lam * S / ((1.0 - lam * O0) * (1.0 - lam * N)), 0.0)



# ====================================================================== piece detection
def _wrap_callable(func):
    """``func`` as a checked vectorised float function (element-wise fallback)."""

    def g(a):
        a = np.asarray(a, dtype=float)
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(func(a), dtype=float)
            if out.shape != a.shape:
                out = np.broadcast_to(out, a.shape).astype(float)
        except Exception:  # not vectorised: element by element
            try:
                out = np.array([float(func(float(z))) for z in a.ravel()]).reshape(a.shape)
            except Exception as exc:
                raise ValueError(f"rank: calling g(a) failed: {exc}") from exc
        bad = np.isnan(out) | (out == np.inf)
        if np.any(bad):
            where = float(a[bad].ravel()[0])
            raise ValueError(f"rank: g returned {out[bad].ravel()[0]!r} at age {where!r}; ranks "
                             "must be finite or -inf (never preempted)")
        return out

    return g


def _sample_range(size, age_max):
    if age_max is not None:
        hi = float(age_max)
        if not (np.isfinite(hi) and hi > 0):
            raise ValueError(f"age_max must be finite and > 0, got {age_max!r}")
        scale = hi * 1e-3
        if size is not None:
            scale = min(scale, float(size.scale))
        return hi, scale, ([] if size is None else list(size.breakpoints))
    if size is None:
        raise ValueError("rank: give the size law or age_max so that the rank can be sampled")
    lo, hi = size.support
    scale = float(size.scale) if size.scale > 0 else 1.0
    if size.is_discrete or np.isfinite(hi):
        return float(hi), scale, list(size.breakpoints)
    h = scale
    for _ in range(2000):
        if float(size.sf(h)) <= 1e-12 or h > 1e200:
            break
        h *= 2.0
    return h, scale, list(size.breakpoints)


def _left_of(g, end):
    """g on a piece ending at ``end``: evaluated just below ``end`` from ``end`` on, so that
    ``func(end)`` is the left limit where g jumps there."""
    if not np.isfinite(end):
        return g
    left = float(np.nextafter(end, 0.0))

    def f(a):
        return g(np.minimum(np.asarray(a, dtype=float), left))

    return f


def _kind_of(vals, name):
    """Monotonicity of sampled values: +1, -1, 0, or None (not monotone)."""
    v = np.asarray(vals, dtype=float)
    fin = np.isfinite(v)
    if not np.all(fin):
        return 0 if np.all(~fin) else None
    d = np.diff(v)
    tol = 8.0 * _EPS * np.maximum(np.abs(v[:-1]), np.abs(v[1:]))
    up, down = np.any(d > tol), np.any(d < -tol)
    if up and down:
        return None
    return 1 if up else (-1 if down else 0)


def _find_jump(g, lo, hi, d0):
    """Bisect [lo, hi] towards the larger change; return the jump point or None."""
    glo, ghi = float(g(np.array([lo]))[0]), float(g(np.array([hi]))[0])
    for _ in range(2100):
        if not hi > lo or np.nextafter(lo, np.inf) >= hi:
            break
        mid = np.sqrt(lo * hi) if (lo > 0 and hi > 16 * lo) else 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        gm = float(g(np.array([mid]))[0])
        with np.errstate(invalid="ignore"):
            left, right = abs(gm - glo), abs(ghi - gm)
        if np.isnan(left):
            left = np.inf if np.isinf(gm) != np.isinf(glo) else 0.0
        if np.isnan(right):
            right = np.inf if np.isinf(gm) != np.isinf(ghi) else 0.0
        if left >= right:
            hi, ghi = mid, gm
        else:
            lo, glo = mid, gm
    with np.errstate(invalid="ignore"):
        gap = abs(ghi - glo)
    if np.isinf(glo) != np.isinf(ghi):
        return hi
    if np.isnan(gap):
        return None
    scale = max(abs(glo), abs(ghi), 1e-300)
    if gap > 1e-6 * abs(d0) and gap > 64 * _EPS * scale:
        return hi
    return None


def _golden(g, lo, hi, sign):
    """Minimiser of ``sign * g`` on [lo, hi] by golden-section search, down to a few ulps (so
    that a kink is located exactly; a smooth extremum to about the square root of the
    rounding error, which moves the rank values there by rounding only)."""
    invphi = (np.sqrt(5.0) - 1.0) / 2.0

    def f(z):
        return sign * float(g(np.array([z]))[0])

    a, b = float(lo), float(hi)
    c, d = b - invphi * (b - a), a + invphi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(300):
        if b - a <= 4.0 * _EPS * max(abs(a), abs(b)) + _TINY:
            break
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = f(d)
    return 0.5 * (a + b)


def _scan_pieces(cls, func, breakpoints, size, age_max, max_pieces, name):
    if not callable(func):
        raise ValueError(f"rank: expected a callable, got {type(func).__name__}")
    if isinstance(max_pieces, bool) or not isinstance(max_pieces, numbers.Integral) \
            or max_pieces < 1:
        raise ValueError(f"max_pieces must be an integer >= 1, got {max_pieces!r}")
    g = _wrap_callable(func)
    a_hi, scale, law_bps = _sample_range(size, age_max)
    if breakpoints is not None:
        try:
            bps = np.asarray(breakpoints, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ValueError("breakpoints must be a sequence of ages") from None
        if np.any(~np.isfinite(bps)) or np.any(bps <= 0):
            raise ValueError("breakpoints must be finite and > 0")
        edges = np.unique(np.concatenate([[0.0], bps, [np.inf]]))
        pieces = []
        for s, e in zip(edges[:-1], edges[1:]):
            top = e if np.isfinite(e) else max(a_hi, 2.0 * s + scale)
            if s > 0 and top / s > 4:
                ages = np.geomspace(s, top, 65)
            else:
                ages = np.linspace(s, top, 65)
            if np.isfinite(e):
                ages[-1] = np.nextafter(e, 0.0)
            kind = _kind_of(g(ages), name)
            if kind is None:
                raise ValueError(f"rank: g is not monotone on the piece [{s!r}, {e!r}) "
                                 "between the given breakpoints")
            if kind == 0:
                pieces.append(RankPiece(s, e, value=float(g(np.array([s]))[0])))
            else:
                pieces.append(RankPiece(s, e, kind, _left_of(g, e)))
        return cls(pieces, name=name, age_hint=a_hi)
    # ---- sample
    a_lo = 1e-9 * scale
    ndec = max(1.0, np.log10(a_hi / a_lo))
    grid = np.geomspace(a_lo, a_hi, int(48 * ndec) + 1)
    extra = [b for b in law_bps if 0 < b < a_hi]
    extra += [np.nextafter(b, 0.0) for b in extra]
    grid = np.unique(np.concatenate([[0.0], grid, extra]))
    vals = g(grid)
    n = grid.size
    with np.errstate(invalid="ignore"):
        d = np.diff(vals)
    both_inf = np.isinf(vals[:-1]) & np.isinf(vals[1:])
    d = np.where(both_inf, 0.0, d)
    absd = np.abs(d)
    # ---- jumps: a change much larger than its neighbours', or a switch to/from -inf
    nb = np.maximum(np.concatenate([[0.0], absd[:-1]]), np.concatenate([absd[1:], [0.0]]))
    tol = 8.0 * _EPS * np.maximum(np.abs(np.where(np.isinf(vals), 0, vals))[:-1],
                                  np.abs(np.where(np.isinf(vals), 0, vals))[1:])
    sgn = np.where(absd <= tol, 0, np.sign(d)).astype(int)
    sgn = np.where(np.isinf(d), np.sign(d), sgn).astype(int)
    turn = np.zeros(n - 1, dtype=bool)
    turn[1:] |= (sgn[1:] != sgn[:-1])
    turn[:-1] |= (sgn[1:] != sgn[:-1])
    suspect = np.nonzero((absd > 0) & ((absd > 8.0 * nb) | np.isinf(d) | turn))[0]
    if suspect.size > 40 * max_pieces:
        raise ValueError(f"rank: g does not look piecewise monotone (its sampled values change "
                         f"direction or jump more than {40 * max_pieces} times)")
    jumps = []
    for i in suspect:
        p = _find_jump(g, grid[i], grid[i + 1], d[i])
        if p is not None:
            jumps.append(float(p))
    jumps = sorted(set(jumps))
    if len(jumps) > max_pieces:
        raise ValueError(f"rank: g does not look piecewise monotone (more than {max_pieces} "
                         "jumps found)")
    # ---- monotone runs between jumps
    cuts = sorted(set(jumps))
    boundaries = list(cuts)
    seg_edges = [0.0, *cuts, np.inf]
    for s, e in zip(seg_edges[:-1], seg_edges[1:]):
        inside = np.nonzero((grid[:-1] >= s) & (grid[1:] < e))[0]
        if inside.size == 0:
            continue
        sg = sgn[inside].copy()
        # absorb isolated flat steps inside a monotone run
        for k in range(1, sg.size - 1):
            if sg[k] == 0 and sg[k - 1] == sg[k + 1] != 0:
                sg[k] = sg[k - 1]
        change = np.nonzero(sg[1:] != sg[:-1])[0]
        if change.size > 2 * max_pieces:
            raise ValueError(f"rank: g does not look piecewise monotone (more than {max_pieces} "
                             "monotone pieces on the sampling grid)")
        for c in change:
            i0, i1 = inside[c], inside[c + 1]  # grid intervals with different signs
            lo, hi = grid[i0], grid[i1 + 1]
            s0, s1 = sg[c], sg[c + 1]
            if s0 != 0 and s1 != 0:  # a local extremum: golden-section search on +-g
                boundaries.append(_golden(g, lo, hi, 1.0 if s0 < 0 else -1.0))
            else:  # the end of a flat stretch: bisection on "still at the plateau value"
                if s0 == 0:
                    c0 = float(g(np.array([lo]))[0])
                    a, b = grid[i1], grid[i1 + 1]
                else:
                    c0 = float(g(np.array([hi]))[0])
                    a, b = grid[i0], grid[i0 + 1]

                def flat(z, c0=c0):
                    gz = float(g(np.array([z]))[0])
                    return gz == c0 or abs(gz - c0) <= 8.0 * _EPS * abs(c0)

                for _ in range(200):
                    m = 0.5 * (a + b)
                    if not a < m < b:
                        break
                    if flat(m) == (s0 == 0):
                        a = m
                    else:
                        b = m
                boundaries.append(float(b))
    boundaries = sorted({b for b in boundaries if b > 0})
    if len(boundaries) + 1 > max_pieces:
        raise ValueError(f"rank: g does not look piecewise monotone (more than {max_pieces} "
                         "monotone pieces found)")
    edges = [0.0, *boundaries, np.inf]
    pieces = []
    for s, e in zip(edges[:-1], edges[1:]):
        top = e if np.isfinite(e) else max(a_hi, 2.0 * s + scale)
        inner = grid[(grid > s) & (grid < top)]
        ages = np.concatenate([[s], inner, [np.nextafter(top, 0.0) if np.isfinite(e) else top]])
        # each piece's monotonicity is checked on three more ages between the grid's: a
        # rank that oscillates faster than the grid can look monotone on it (aliasing:
        # sin(3 a) + a / 2 on Weibull(0.5) sizes, whose grid spacing passes the period 2.1
        # at age 44, came out as one increasing piece from 58 on, and the analysis did not
        # converge, 5.9e-5 off, instead of refusing the rank)
        q = np.arange(1, 4) / 4.0
        ages = np.sort(np.concatenate([ages, (ages[:-1, None]
                                              + np.diff(ages)[:, None] * q).ravel()]))
        kind = _kind_of(g(ages), name)
        if kind is None:
            # a feature between grid points: accept the dominant direction if the violation
            # is at rounding level, else refuse
            raise ValueError(f"rank: g does not look piecewise monotone on [{s!r}, {e!r}) "
                             "(pass its breakpoints explicitly)")
        if kind == 0:
            pieces.append(RankPiece(s, e, value=float(g(np.array([s]))[0])))
        else:
            pieces.append(RankPiece(s, e, kind, _left_of(g, e)))
    # merge neighbours of the same kind that meet continuously (spurious boundaries)
    merged = [pieces[0]]
    for p in pieces[1:]:
        q = merged[-1]
        if p.kind == q.kind and p.kind != 0 and p.start not in jumps:
            merged[-1] = RankPiece(q.start, p.end, q.kind, _left_of(g, p.end))
        elif p.kind == q.kind == 0 and p.value == q.value:
            merged[-1] = RankPiece(q.start, p.end, value=q.value)
        else:
            merged.append(p)
    return cls(merged, name=name, age_hint=a_hi)
