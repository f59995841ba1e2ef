"""Outer integrals over a half-line, split at breakpoints, with level adaptivity.

The formulas of :mod:`qtheory.analysis.classical` and
:mod:`qtheory.analysis.predicted` are integrals over the size x or the
prediction y on [lo, hi]. :class:`OuterGrid` lays tanh-sinh nodes on each piece
between consecutive breakpoints (exp-sinh on a final unbounded piece). Its nodes
do not depend on the arrival rate, so lambda-independent integrands are
computed once per level and a whole load sweep costs one weighted sum per load.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._warnings import QuadratureWarning
from .quadrature import SAFETY, finite_nodes, halfline_nodes, nested_sum, tanh_sinh_rule

__all__ = ["OuterGrid", "make_grid", "adaptive"]

MAX_BREAKPOINTS = 64
SQUARE_C = 256.0  # the classical closed forms' square_c of adaptive
FIRST_C = 1e4  # adaptive's first_c where an integral starts at level 3
_LOG_SPAN = 16.0  # a finite piece [a, b] with b > this times a > 0 takes the rule in log x


@dataclass(frozen=True)
class OuterGrid:
    """Quadrature nodes ``x`` with weights ``w``; ``coarse``/``coarse4`` mark the
    step-2h and step-4h subsets used for the error estimate."""

    x: np.ndarray
    w: np.ndarray
    coarse: np.ndarray
    coarse4: np.ndarray

    def integrate(self, values: np.ndarray) -> tuple[float, float]:
        """Return ``(integral, error estimate)`` of ``values`` given at ``x``; the
        estimate includes the safety factor :data:`~qtheory.analysis.quadrature.SAFETY`."""
        prod = np.where(self.w > 0, values * self.w, 0.0)
        fine, err = nested_sum(prod, self.coarse, self.coarse4)
        return float(fine), SAFETY * float(err)


def make_grid(lo: float, hi: float, breakpoints, scale: float, level: int) -> OuterGrid:
    """Nodes on [lo, hi] split at the breakpoints strictly inside it; a finite piece
    ``[a, b]`` with ``b > 16 a > 0`` takes the rule in ``log x`` (the integrands of the
    closed forms change over a scale of ``x`` itself: a piece [0.1, 372] of an integral over
    the prediction, tanh-sinh in ``x``, needed a level more than the whole half-line's
    exp-sinh rule).

    Examples
    --------
    >>> g = make_grid(0.0, np.inf, [], 1.0, 4)
    >>> round(g.integrate(np.exp(-g.x))[0], 12)
    1.0
    """
    pts = sorted({float(b) for b in breakpoints if lo < b < hi and np.isfinite(b)})
    if len(pts) > MAX_BREAKPOINTS:  # keep a spread subset; the error estimate reports the rest
        pts = list(np.asarray(pts)[np.linspace(0, len(pts) - 1, MAX_BREAKPOINTS).astype(int)])
    edges = [float(lo), *pts]
    rule = tanh_sinh_rule(level)
    xs, ws, cs, c4s = [], [], [], []
    finite_hi = np.isfinite(hi)
    ends = [*edges[1:], float(hi)] if finite_hi else edges[1:]
    for a, b in zip(edges, ends):
        if a > 0 and b > _LOG_SPAN * a:
            # a piece over decades: the rule in log x (the same nodes' nesting), as the
            # integrands change over a scale of x itself there
            u, w = finite_nodes(np.array(np.log(a)), np.array(np.log(b)), rule)
            x = np.exp(u)
            w = w * x
        else:
            x, w = finite_nodes(np.array(a), np.array(b), rule)
        xs.append(x), ws.append(w), cs.append(rule.coarse), c4s.append(rule.coarse4)
    if not finite_hi:
        a = edges[-1]
        s = max(scale, a) if a > 0 else scale
        x, w = halfline_nodes(np.array(a), np.array(s), level)
        hrule = tanh_sinh_rule(level, 3.4)
        xs.append(x), ws.append(w), cs.append(hrule.coarse), c4s.append(hrule.coarse4)
    return OuterGrid(*(np.concatenate(v) for v in (xs, ws, cs, c4s)))


def adaptive(
    evaluate: Callable[[int], tuple[float, float]],
    rtol: float,
    what: str,
    first: int = 4,
    last: int = 6,
    atol: float = 0.0,
    square_c: float = 1.0,
    first_c: float | None = None,
) -> tuple[float, float]:
    """Raise the level until ``evaluate(level)`` reports an error within tolerance.

    ``evaluate`` returns ``(value, error_estimate)``. The estimate is checked against the
    change ``d`` from the level below (``first - 1`` is evaluated too; the grids are nested,
    so its nodes are a subset): a double-exponential rule at best doubles the correct digits
    per level, so the error of a level is about ``C d**2 / |value|``, and that floor is
    taken when it is larger, with ``C = square_c``. The nested estimate alone was once 75
    times low: SPJF, Weibull 1.59 sizes, uniform noise, load 0.898: level 4 reported 6e-10
    where it was off by 1.8e-7 (4.6e-8 relative), after level 3 had been off by 1.9e-4.
    ``C = 1`` was too low for the classical closed forms (random laws checked against SOAP
    and mpmath): SJF on a hyperexponential law (means 0.652 and 8.55, load 0.719) was
    accepted at level 4 with an estimate of 6.9e-10 and was 1.2e-7 off (1.1e-8 relative,
    ``C = 170``); they pass :data:`SQUARE_C` (256; SOAP's age-rank analysis measured ``C``
    from 1 to 194, :func:`qtheory.analysis.agerank._accept`), and cost microseconds a level.
    So do SPJF, PSPJF and SPRPT (with exact predictions SPJF was 1.4e-9 off its classical
    twin SJF, estimate 5.6e-10). SkipPredict and DelayPredict keep ``C = 1``: a level costs
    up to a tenth of a second there, and 256 sent values that were right to 7e-12 to the
    next level (DelayPredict on hyperexponential sizes, uniform noise: 120 -> 270 ms). The
    one miss over the prediction that no ``C`` caught, 5.3e-9 (PSPJF, bounded Pareto sizes,
    exponential noise, ``C = 3.7e4``), was fixed by cutting the integral where the size
    law's support ends sit (:func:`make_grid`). ``first_c`` (default
    ``square_c``) is ``C`` at the first level alone: where its callers start at level 3
    (integrals with many breakpoints) the change from level 2 can be pre-asymptotic, and
    level 3 was accepted 2.3e-9 off (PSPJF, five atoms, ``C = 1100``, with ``square_c =
    256``) and 1.6e-8 off (DelayPredict, uniform noise, ``C = 1000``, with ``square_c = 1``);
    they pass :data:`FIRST_C` (1e4), which sends such values to level 4 and accepts level 3
    where its change from level 2 is below about 3e-7 relative. Over 76 level-3 values
    (random systems of ``validation/closed_forms_random.py``: SPJF, PSPJF, SPRPT,
    SkipPredict, DelayPredict; compared with ``rtol=1e-13``) ``C`` had median 0.37, 90th
    percentile 540 and largest 5.9e3.
    A value that is not finite is returned as it is. If the last level still misses the
    tolerance a :class:`QuadratureWarning` states the achieved error.
    """
    prev, _ = evaluate(first - 1)
    value, err = evaluate(first)
    level = first
    while True:
        if not np.isfinite(value):
            return value, err
        if np.isfinite(prev):
            d = abs(value - prev)
            c = square_c if level > first or first_c is None else max(square_c, first_c)
            err = max(err, c * d * d / abs(value)) if value != 0 else max(err, d)
        if err <= max(rtol * abs(value), atol) or level >= last:
            break
        prev = value
        level += 1
        value, err = evaluate(level)
    if err > max(rtol * abs(value), atol):
        rel = err / abs(value) if value else err
        warnings.warn(
            f"{what}: quadrature reached an estimated relative error of {rel:.2e}, "
            f"above the requested rtol={rtol:.1e}",
            QuadratureWarning,
            stacklevel=3,
        )
    return value, err
