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
it returns the same ages to the last bit (tested against the NumPy path).

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

__all__ = ["cheb_bracket_solve"]


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _cheb_at(coef, off, scl, mode, plo, phi, a):
    """The interpolant at age ``a``: in ``a`` (mode 0), ``sqrt(phi - a)`` (1) or
    ``sqrt(a - plo)`` (2), mapped to the window and summed as NumPy's ``chebval`` does."""
    if mode == 1:
        t = np.sqrt(max(phi - a, 0.0))
    elif mode == 2:
        t = np.sqrt(max(a - plo, 0.0))
    else:
        t = a
    x = off + scl * t
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


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _solve_one(coef, off, scl, mode, plo, phi, lo, hi, lev, sgn, strict, grid, gval):
    """One level: the age (``nan`` when the piece returned NaN). ``grid`` (ascending) and
    ``gval`` (the piece there) narrow the bracket first: to the cell of the grid's points
    inside ``(lo, hi)`` where the predicate starts to hold (by bisection on the points)."""
    fa = sgn * (_cheb_at(coef, off, scl, mode, plo, phi, lo) - lev)
    fb = sgn * (_cheb_at(coef, off, scl, mode, plo, phi, hi) - lev)
    if np.isnan(fa) or np.isnan(fb):
        return np.nan
    if (fa > 0) if strict else (fa >= 0):
        return lo
    if not ((fb > 0) if strict else (fb >= 0)):
        return hi
    a, b = lo, hi
    n = grid.size
    if n:
        # the grid's points strictly inside (a, b): indices i0 .. i1 - 1
        i0 = np.searchsorted(grid, a, side="right")
        i1 = np.searchsorted(grid, b, side="left")
        if i1 > i0:
            # first point of i0 .. i1 - 1 where the predicate holds (i1 if none)
            l, r = i0, i1
            while l < r:
                m = (l + r) >> 1
                v = sgn * (gval[m] - lev)
                if np.isnan(v):
                    return np.nan
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
    side = 0
    k = 0.0
    for it in range(400):
        tol = 2.0 * _EPS * max(abs(a), abs(b)) + _TINY
        if (b - a) <= tol:
            return b
        xs = a + (b - a) * (fa / (fa - fb))
        mid = np.sqrt(a * b) if (a > 0 and b > 16.0 * a) else 0.5 * (a + b)
        bis = (it % 4 == 3) or not np.isfinite(xs) or xs <= a or xs >= b
        x = mid if bis else xs
        if fb == 0.0:  # the level at b: gallop below it
            x = b - tol * 2.0**k
            k += 1.0
        else:
            k = 0.0
        if x <= a or x >= b:
            x = 0.5 * (a + b)
        if x <= a or x >= b:  # adjacent floats: converged
            return b
        fx = sgn * (_cheb_at(coef, off, scl, mode, plo, phi, x) - lev)
        if np.isnan(fx):
            return np.nan
        if (fx > 0) if strict else (fx >= 0):
            b, fb = x, fx
            if side == 1:
                fa = 0.5 * fa
            side = 1
        else:
            a, fa = x, fx
            if side == -1:
                fb = 0.5 * fb
            side = -1
    return b


@njit(cache=True, fastmath=False, error_model="numpy")
def _solve_all(coef, off, scl, mode, plo, phi, lo, hi, level, sgn, strict, out, grid, gval):
    for i in range(grid.size):
        gval[i] = _cheb_at(coef, off, scl, mode, plo, phi, grid[i])
    for i in range(level.size):
        out[i] = _solve_one(coef, off, scl, mode, plo, phi, lo[i], hi[i], level[i], sgn,
                            strict, grid, gval)


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
