"""Compiled root finding on Chebyshev rank pieces (the hot loop of the age-rank analysis).

:func:`qtheory.analysis.agerank._bracket_solve` finds, for every level of an array, the
first age of a bracket where a monotone rank piece reaches the level, by Illinois false
position in NumPy: every iteration is a dozen array operations and, for a tabulated piece
(:class:`qtheory.analysis.gittins._ChebFunc`), a Clenshaw recurrence of about 50 steps, each
again an array operation. Levels near a tangency (a rank piece that flattens at its end)
take 50-100 iterations, so on a Gittins rank the analysis spent half its time in this
Python-level loop on arrays of a few elements.

:func:`cheb_bracket_solve` is the same algorithm, level by level, compiled: the same
arithmetic in the same order (the domain map ``off + scl * t``, NumPy's ``chebval``
recurrence, the narrowing of each bracket on the points of
:func:`~qtheory.analysis.agerank._solve_grid`, the false-position and bisection steps, the
Illinois halving, the galloping steps below an end where the rank equals the level), so that
it returns the same ages to the last bit (tested against the NumPy path). Four levels are
solved side by side, their Clenshaw recurrences interleaved (:func:`_solve_all`).

Examples
--------
>>> import numpy as np
>>> from numpy.polynomial import chebyshev as C
>>> p = C.Chebyshev.interpolate(np.exp, 20, domain=[0.0, 1.0])
>>> off, scl = p.mapparms()
>>> a = cheb_bracket_solve(p.coef, off, scl, 0, 0.0, 1.0, np.zeros(1), np.ones(1),
...                        np.array([2.0]), True, False)
>>> bool(abs(a[0] - np.log(2.0)) < 1e-14)
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .agerank import _EPS, _TINY, _solve_grid  # the NumPy solver's rules, shared

__all__ = ["cheb_bracket_solve", "cheb_eval"]


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _mapped(off, scl, mode, plo, phi, a):
    """Age ``a`` as the interpolant's variable: ``a`` (mode 0), ``sqrt(phi - a)`` (1) or
    ``sqrt(a - plo)`` (2), mapped to the window by ``off + scl * t``."""
    if mode == 1:
        t = np.sqrt(max(phi - a, 0.0))
    elif mode == 2:
        t = np.sqrt(max(a - plo, 0.0))
    else:
        t = a
    return off + scl * t


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _cheb_at(coef, off, scl, mode, plo, phi, a):
    """The interpolant at age ``a`` (:func:`_mapped`), summed as NumPy's ``chebval`` does."""
    x = _mapped(off, scl, mode, plo, phi, a)
    n = coef.size
    if n == 1:
        return coef[0] + 0.0 * x
    if n == 2:
        return coef[0] + coef[1] * x
    x2 = 2 * x
    c0 = coef[n - 2]
    c1 = coef[n - 1]
    for i in range(3, n + 1):
        tmp = c0
        c0 = coef[n - i] - c1
        c1 = tmp + c1 * x2
    return c0 + c1 * x


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _eval_all(coef, off, scl, mode, plo, phi, a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _cheb_at(coef, off, scl, mode, plo, phi, a[i])


def cheb_eval(coef, off: float, scl: float, mode: int, plo: float, phi: float,
              a) -> np.ndarray:
    """The interpolant at the ages ``a`` (any shape): NumPy's ``Chebyshev.__call__`` on
    the mapped variable (:func:`_mapped`), compiled, the same values to the last bit (a
    Python-level loop over some 65 coefficients, each an array operation, was about 0.1 ms
    a call on the small arrays of the age-rank analysis).

    Examples
    --------
    A series in ``sqrt(a - 1)`` (mode 2) on the ages ``[1, 5]``:

    >>> import numpy as np
    >>> from numpy.polynomial import Chebyshev
    >>> p = Chebyshev([1.0, -0.5, 0.25, 0.125], domain=[0.0, 2.0])
    >>> a = np.array([1.0, 2.0, 4.5])
    >>> got = cheb_eval(p.coef, *p.mapparms(), 2, 1.0, 5.0, a)
    >>> bool(np.array_equal(got, p(np.sqrt(a - 1.0))))
    True
    """
    a = np.asarray(a, dtype=float)
    flat = np.ascontiguousarray(a.ravel())
    out = np.empty(flat.size)
    _eval_all(np.ascontiguousarray(coef, dtype=float), float(off), float(scl), int(mode),
              float(plo), float(phi), flat, out)
    return out.reshape(a.shape)


_LANES = 4  # levels solved side by side (the recurrences below are written out for four)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _start(coef, off, scl, mode, plo, phi, lo, hi, lev, sgn, strict, grid, gval):
    """The start of one level's search: ``(age, a, b, fa, fb, done)``, the age when an end
    settles the level (``done``: the predicate holds at ``lo``, fails at ``hi``, or the
    piece is NaN), else the bracket narrowed on ``grid`` (ascending) and ``gval`` (the
    piece there): to the cell of the grid's points inside ``(lo, hi)`` where the predicate
    starts to hold (by bisection on the points)."""
    fa = sgn * (_cheb_at(coef, off, scl, mode, plo, phi, lo) - lev)
    fb = sgn * (_cheb_at(coef, off, scl, mode, plo, phi, hi) - lev)
    if np.isnan(fa) or np.isnan(fb):
        return np.nan, lo, hi, fa, fb, True
    if (fa > 0) if strict else (fa >= 0):
        return lo, lo, hi, fa, fb, True
    if not ((fb > 0) if strict else (fb >= 0)):
        return hi, lo, hi, fa, fb, True
    a, b = lo, hi
    n = grid.size
    if n:
        i0 = np.searchsorted(grid, a, side="right")
        i1 = np.searchsorted(grid, b, side="left")
        if i1 > i0:
            l, r = i0, i1
            while l < r:
                m = (l + r) >> 1
                v = sgn * (gval[m] - lev)
                if np.isnan(v):
                    return np.nan, a, b, fa, fb, True
                if (v > 0) if strict else (v >= 0):
                    r = m
                else:
                    l = m + 1
            if l < i1:
                b = grid[l]
                fb = sgn * (gval[l] - lev)
            if l > i0:
                a = grid[l - 1]
                fa = sgn * (gval[l - 1] - lev)
    return b, a, b, fa, fb, False


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _solve_all(coef, off, scl, mode, plo, phi, lo, hi, level, sgn, strict, out, grid, gval):
    """The age of every level, :data:`_LANES` levels side by side: each step decides the
    next point of every lane (Illinois false position, a bisection every fourth step,
    galloping below an end where the piece equals the level: the NumPy solver's steps in
    its arithmetic), then evaluates the interpolant at all of them with their Clenshaw
    recurrences interleaved (one alone is bound by the latency of its chain: 42 -> 24 ms
    on the 43 500 levels of a GittinsBuckets value); a lane that finishes takes the next
    level. Each level gets the ages of a search of its own, to the last bit."""
    for i in range(grid.size):
        gval[i] = _cheb_at(coef, off, scl, mode, plo, phi, grid[i])
    n = level.size
    L = 4  # _LANES
    lane = np.full(L, -1, dtype=np.int64)
    A = np.zeros(L)
    B = np.zeros(L)
    FA = np.zeros(L)
    FB = np.zeros(L)
    K = np.zeros(L)
    X = np.zeros(L)
    T = np.zeros(L)
    C0 = np.zeros(L)
    side = np.zeros(L, dtype=np.int64)
    it = np.zeros(L, dtype=np.int64)
    ev = np.zeros(L, dtype=np.bool_)
    nc = coef.size
    nxt = 0
    while True:
        busy = 0
        for q in range(L):
            while lane[q] < 0 and nxt < n:
                i = nxt
                nxt += 1
                r, a, b, fa, fb, done = _start(coef, off, scl, mode, plo, phi, lo[i], hi[i],
                                               level[i], sgn, strict, grid, gval)
                if done:
                    out[i] = r
                else:
                    lane[q] = i
                    A[q], B[q], FA[q], FB[q] = a, b, fa, fb
                    K[q] = 0.0
                    side[q] = 0
                    it[q] = 0
            if lane[q] >= 0:
                busy += 1
        if busy == 0:
            break
        # the next point of every lane (one step of the NumPy solver, before its evaluation)
        for q in range(L):
            ev[q] = False
            i = lane[q]
            if i < 0:
                continue
            a, b, fa, fb = A[q], B[q], FA[q], FB[q]
            if it[q] >= 400:
                out[i] = b
                lane[q] = -1
                continue
            tol = 2.0 * _EPS * max(abs(a), abs(b)) + _TINY
            if (b - a) <= tol:
                out[i] = b
                lane[q] = -1
                continue
            xs = a + (b - a) * (fa / (fa - fb))
            mid = np.sqrt(a * b) if (a > 0 and b > 16.0 * a) else 0.5 * (a + b)
            bis = (it[q] % 4 == 3) or not np.isfinite(xs) or xs <= a or xs >= b
            x = mid if bis else xs
            if fb == 0.0:
                x = b - tol * 2.0**K[q]
                K[q] += 1.0
            else:
                K[q] = 0.0
            if x <= a or x >= b:
                x = 0.5 * (a + b)
            if x <= a or x >= b:
                out[i] = b
                lane[q] = -1
                continue
            X[q] = x
            ev[q] = True
        # the interpolant at every lane's point: the recurrences interleaved
        for q in range(L):
            T[q] = _mapped(off, scl, mode, plo, phi, X[q])
        if nc == 1:
            for q in range(L):
                C0[q] = coef[0] + 0.0 * T[q]
        elif nc == 2:
            for q in range(L):
                C0[q] = coef[0] + coef[1] * T[q]
        else:  # four recurrences in registers, side by side
            t0, t1, t2, t3 = T[0], T[1], T[2], T[3]
            u0, u1, u2, u3 = 2 * t0, 2 * t1, 2 * t2, 2 * t3
            a0 = a1 = a2 = a3 = coef[nc - 2]
            b0 = b1 = b2 = b3 = coef[nc - 1]
            for k in range(3, nc + 1):
                ck = coef[nc - k]
                a0, b0 = ck - b0, a0 + b0 * u0
                a1, b1 = ck - b1, a1 + b1 * u1
                a2, b2 = ck - b2, a2 + b2 * u2
                a3, b3 = ck - b3, a3 + b3 * u3
            C0[0] = a0 + b0 * t0
            C0[1] = a1 + b1 * t1
            C0[2] = a2 + b2 * t2
            C0[3] = a3 + b3 * t3
        for q in range(L):
            if not ev[q]:
                continue
            i = lane[q]
            fx = sgn * (C0[q] - level[i])
            if np.isnan(fx):
                out[i] = np.nan
                lane[q] = -1
                continue
            x = X[q]
            if (fx > 0) if strict else (fx >= 0):
                B[q], FB[q] = x, fx
                if side[q] == 1:
                    FA[q] = 0.5 * FA[q]
                side[q] = 1
            else:
                A[q], FA[q] = x, fx
                if side[q] == -1:
                    FB[q] = 0.5 * FB[q]
                side[q] = -1
            it[q] += 1


def cheb_bracket_solve(coef, off: float, scl: float, mode: int, plo: float, phi: float,
                       lo, hi, level, increasing: bool, strict: bool) -> np.ndarray:
    """:func:`~qtheory.analysis.agerank._bracket_solve` for a Chebyshev interpolant.

    Parameters
    ----------
    coef, off, scl : the interpolant's coefficients and its domain map ``off + scl * t``.
    mode : int
        0: the variable is the age ``a``; 1: ``sqrt(phi - a)``; 2: ``sqrt(a - plo)``.
    plo, phi : float
        The ends of the piece (used by modes 1 and 2).
    lo, hi, level : array_like
        Brackets and levels (broadcast together, flattened).
    increasing, strict : bool
        As in ``_bracket_solve``.
    """
    lo, hi, level = (np.array(v, dtype=float).ravel()
                     for v in np.broadcast_arrays(lo, hi, level))
    out = np.empty(level.size)
    grid = _solve_grid(lo, hi, level.size)
    _solve_all(np.ascontiguousarray(coef, dtype=float), float(off), float(scl), int(mode),
               float(plo), float(phi), lo, hi, level, 1.0 if increasing else -1.0,
               bool(strict and increasing), out, grid, np.empty(grid.size))
    if np.any(np.isnan(out)):
        raise ValueError("rank: the rank function returned NaN while solving for a level")
    return out
