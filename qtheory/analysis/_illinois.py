"""The Illinois method's steps, one bracket at a time, compiled.

:func:`~qtheory.analysis.phiruns.illinois` advances all its brackets together, one step a
call of the (vectorised) function; :meth:`~qtheory.analysis._lawstack.LawStack.roots`
takes each bracket to its end inside one compiled call, with the laws' tables looked up
there. Both take their steps from here (:func:`ill_next`, :func:`ill_step`), so they give
the same roots, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["ill_next", "ill_step"]


@njit(cache=True)
def ill_next(lo, hi, flo, fhi, fbest, step, xtol,
             bisect):  # pragma: no cover - compiled (tested through illinois and roots)
    """A bracket's next point from its ends ``lo``, ``hi``, their values, the least
    ``|f|`` so far and the last step: ``(state, x, bad)``, ``state`` 1 where the bracket
    is open, 0 where it is done (its root to ``xtol`` relative or 4 ulps, or the last step
    below 4 ulps), 2 where its secant falls on an end ``x`` (the root to rounding: the
    bracket closes there); ``x`` the secant, or the middle (``bad``) where the secant is
    not finite or on ``bisect`` steps. Scalars only (arrays passed to a compiled helper
    made the bracket steps 3 to 5 times slower)."""
    if not fbest > 0:
        return 0, 0.0, False
    big = max(abs(lo), abs(hi))
    ulp = np.spacing(big)
    if not (hi - lo > max(4.0 * ulp, xtol * big) and step > 4.0 * ulp):
        return 0, 0.0, False
    x = (lo * fhi - hi * flo) / (fhi - flo)
    if np.isfinite(x) and not (x > lo and x < hi):
        return 2, (lo if abs(x - lo) <= abs(x - hi) else hi), False
    bd = (not np.isfinite(x)) or bisect
    return 1, (0.5 * (lo + hi) if bd else x), bd


@njit(cache=True)
def ill_step(x, f, bad, lo, hi, flo, fhi, side, best, fbest, step,
             last):  # pragma: no cover - compiled (tested through illinois and roots)
    """A bracket (its ends, their values, the end replaced last, the best point and its
    ``|f|``, the last step and point) updated with the value ``f`` at ``x``: the end on
    ``f``'s side replaced, the other end's value halved where the same end goes twice in a
    row. Returns the new ``(lo, hi, flo, fhi, side, best, fbest, step, last)``."""
    moved = abs(x - last)
    step = np.inf if (bad or not np.isfinite(moved)) else moved
    last = x
    if abs(f) < fbest:
        best = x
        fbest = abs(f)
    if np.sign(f) == np.sign(flo):  # the root is right of x: x replaces lo
        if side == 1:  # the same end twice: the other's value halves
            fhi *= 0.5
        lo, flo = x, f
        side = 1
    else:
        if side == -1:
            flo *= 0.5
        hi, fhi = x, f
        side = -1
    return lo, hi, flo, fhi, side, best, fbest, step, last
