"""Vectorised double-exponential (tanh-sinh / exp-sinh) quadrature.

Every analytic quantity in qtheory is an integral, often an integral of an
integral. Nested calls to :func:`scipy.integrate.quad` are accurate but slow
(one Python call per node). This module evaluates whole batches of integrals at
once: each row of the input is one integral, split at its own breakpoints into
the same number of pieces, and every piece gets the same tanh-sinh rule. The
rule is nested (the nodes at step ``h`` contain those at ``2h``), so a single
evaluation yields both an estimate and an error estimate ``|I_h - I_2h|``.

The double-exponential rule is robust to integrable endpoint singularities
(``x**-0.5``, ``log x``) and to algebraic decay on half-lines, which is what
heavy-tailed size laws and prediction noise produce. Kinks and jumps must be
placed on breakpoints; the callers in :mod:`qtheory.analysis` do that.

References
----------
H. Takahasi and M. Mori, "Double exponential formulas for numerical
integration", Publ. RIMS 9 (1974) 721-741.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["TanhSinhRule", "tanh_sinh_rule", "finite_nodes", "halfline_nodes", "nested_sum",
           "inner_points", "SAFETY", "gauss_kronrod15"]

_T_MAX_FINITE = 3.5  # distance to the endpoint reaches ~1e-23 of the interval
_T_MAX_HALFLINE = 3.4  # x up to ~1e21 * scale on a half-line
# The asymptotic estimate of nested_sum can be optimistic while convergence is still
# setting in (seen: 8x low at step 1/16 for SRPT with Weibull(0.5) sizes, checked
# against mpmath). Final results (outer integrals) are judged and reported with it
# multiplied by SAFETY; inner integrals have their own, tighter, tolerance.
SAFETY = 10.0


@dataclass(frozen=True)
class TanhSinhRule:
    """Abscissae of the tanh-sinh rule at step ``h = 2**-level`` on (0, 1).

    Attributes
    ----------
    left, right : ndarray
        Distances of each node from the left and right end of (0, 1); both are
        accurate to full relative precision, even when they are below 1e-300.
    weight : ndarray
        Weights on (0, 1) (they sum to 1 up to the truncation error).
    coarse : ndarray of bool
        Nodes that also belong to the rule at step ``2h``.
    coarse4 : ndarray of bool
        Nodes that also belong to the rule at step ``4h``.
    h : float
        The step.
    """

    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    coarse: np.ndarray
    coarse4: np.ndarray
    h: float


@lru_cache(maxsize=16)
def tanh_sinh_rule(level: int, t_max: float = _T_MAX_FINITE) -> TanhSinhRule:
    """Return the tanh-sinh rule on (0, 1) with step ``2**-level``.

    Examples
    --------
    >>> r = tanh_sinh_rule(3)
    >>> float(np.sum(r.weight * r.left ** -0.5))  # integral of x**-1/2 on (0, 1)
    2.0
    """
    if level < 1:
        raise ValueError(f"level must be >= 1, got {level}")
    h = 2.0**-level
    # t range rounded up to a multiple of 1/2, so that for every level the rule at
    # level L is exactly the even-indexed subset of the rule at level L + 1
    n = int(np.ceil(2.0 * t_max)) * 2 ** (level - 1)
    j = np.arange(-n, n + 1)
    t = j * h
    u = 0.5 * np.pi * np.sinh(t)
    # distance to the left end: (1 + tanh u)/2 = 1/(1 + exp(-2u))
    left = 1.0 / (1.0 + np.exp(-2.0 * u))
    right = 1.0 / (1.0 + np.exp(2.0 * u))
    weight = h * 0.5 * np.pi * np.cosh(t) / (2.0 * np.cosh(u) ** 2)
    return TanhSinhRule(left, right, weight, (j % 2) == 0, (j % 4) == 0, h)


def finite_nodes(a: np.ndarray, b: np.ndarray, rule: TanhSinhRule):
    """Nodes and weights of ``rule`` mapped onto ``[a, b]`` (broadcast).

    Returns ``(x, w)`` with a trailing axis for the nodes. Nodes near ``a``
    are ``a + (b-a)*left`` and near ``b`` are ``b - (b-a)*right``, so they
    never collapse onto the endpoints.
    """
    a = np.asarray(a, dtype=float)[..., None]
    b = np.asarray(b, dtype=float)[..., None]
    width = b - a
    x = np.where(rule.left < 0.5, a + width * rule.left, b - width * rule.right)
    return x, width * rule.weight


def halfline_nodes(a: np.ndarray, scale: np.ndarray, level: int):
    """Exp-sinh nodes and weights on ``[a, inf)``: ``x = a + scale*exp(pi*sinh t)``."""
    rule = tanh_sinh_rule(level, _T_MAX_HALFLINE)
    a = np.asarray(a, dtype=float)[..., None]
    scale = np.asarray(scale, dtype=float)[..., None]
    ratio = rule.left / rule.right  # = exp(pi sinh t)
    x = a + scale * ratio
    # dx/dt = scale * ratio * pi cosh t;  rule.weight = h (pi/2) cosh t / (2 cosh^2 u)
    # so dx = rule.weight * scale * ratio * 4 cosh^2(u) = rule.weight * scale / (left*right)
    w = scale * rule.weight / (rule.left * rule.right) * ratio
    return x, w


def nested_sum(prod: np.ndarray, coarse: np.ndarray, coarse4: np.ndarray, *,
               with_coarse: bool = False):
    """Sum weighted values over the last axis with an error estimate.

    ``prod`` holds ``value * weight`` at the nodes of a nested rule (step h);
    ``coarse`` and ``coarse4`` select the nodes of steps 2h and 4h. With
    ``d1 = |I_h - I_2h|`` and ``d2 = |I_2h - I_4h|`` (the errors of the two
    coarser sums, to first order) the error of ``I_h`` is estimated as
    ``d1 * min(1, d1/d2)**2``. Double-exponential rules converge like
    ``exp(-c/h)``, for which this is exact: with ``e_2h = exp(-c/2h)`` and
    ``e_4h = exp(-c/4h)``, ``e_h = e_2h**3 / e_4h**2 = d1 * (d1/d2)**2``.
    Where convergence is only algebraic (a kink inside a piece) it
    underestimates by the convergence ratio (1/4 for a second-order rate), and
    it falls back to ``d1`` when convergence has not started. A floor of a few
    ulps of the sum of ``|prod|`` accounts for rounding.

    Returns ``(I_h, error)``, arrays over the leading axes, and with ``with_coarse``
    also ``I_2h`` (callers that refine a piece keep it as the next level's coarse sum).
    """
    fine = prod.sum(axis=-1)
    half = 2.0 * prod[..., coarse].sum(axis=-1)
    quarter = 4.0 * prod[..., coarse4].sum(axis=-1)
    d1 = np.abs(fine - half)
    d2 = np.abs(half - quarter)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d2 > 0, np.minimum(d1 / d2, 1.0), np.where(d1 > 0, 1.0, 0.0))
    # rounding floor: the sum of |terms| times a few ulps
    floor = 8.0 * np.finfo(float).eps * np.abs(prod).sum(axis=-1)
    if with_coarse:
        return fine, np.maximum(d1 * ratio * ratio, floor), half
    return fine, np.maximum(d1 * ratio * ratio, floor)


def inner_points(z: np.ndarray, lo, hi) -> np.ndarray:
    """Split points per row: the distinct values of each row of ``z`` strictly inside
    ``(lo, hi)`` (broadcast against ``z``), sorted, as many columns as the busiest row
    needs, ``nan`` after a row's last point.

    Examples
    --------
    >>> inner_points(np.array([[3.0, 1.0, 1.0, 9.0], [2.0, 0.0, 5.0, 5.0]]), 0.0, 8.0)
    array([[1., 3.],
           [2., 5.]])
    """
    z = np.where((z > lo) & (z < hi), z, np.nan)
    z = np.sort(z, axis=1)
    dup = np.zeros(z.shape, dtype=bool)
    dup[:, 1:] = z[:, 1:] == z[:, :-1]
    z = np.sort(np.where(dup, np.nan, z), axis=1)
    width = int(np.max(np.sum(np.isfinite(z), axis=1), initial=0))
    return z[:, :width]


# The 15-point Kronrod extension of the 7-point Gauss-Legendre rule on [-1, 1] (nodes of
# x >= 0, the Kronrod weights, and the Gauss weights of the Gauss nodes, which are the
# Kronrod nodes of odd index): R. Piessens, E. de Doncker-Kapenga, C. W. Ueberhuber and
# D. K. Kahaner, "QUADPACK: A Subroutine Package for Automatic Integration", Springer 1983
# (routine QK15); checked in tests/test_soap_gk.py against numpy's Gauss-Legendre
# nodes and weights and the exact integrals of x**k up to degree 23.
_GK15_X = (0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
           0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
           0.586087235467691130294144838258730, 0.405845151377397166906606412076961,
           0.207784955007898467600689403773245, 0.0)
_GK15_WK = (0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
            0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
            0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
            0.204432940075298892414161999234649, 0.209482141084727828012999174891714)
_G7_W = (0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
         0.381830050505118944950369775488975, 0.417959183673469387755102040816327)


@lru_cache(maxsize=1)
def gauss_kronrod15():
    """``(x, w_kronrod, w_gauss)`` of the 7-point Gauss / 15-point Kronrod pair on (0, 1):
    the 15 nodes in increasing order, the Kronrod weights, and the Gauss weights at the
    same positions (0 at the 8 Kronrod-only nodes). ``|K15 - G7|`` estimates the error of
    G7, far above K15's own for a smooth integrand (K15 is exact for polynomials of degree
    22, G7 of degree 13); a kink or an endpoint singularity shows in it as a large
    difference.

    Examples
    --------
    >>> x, wk, wg = gauss_kronrod15()
    >>> x.size, round(float(wk.sum()), 15), round(float(wg.sum()), 15)
    (15, 1.0, 1.0)
    >>> round(float(np.sum(wk * x**22)), 15) == round(1 / 23, 15)  # degree 22: exact
    True
    """
    pos = np.array(_GK15_X[:-1])
    t = np.concatenate([-pos, [0.0], pos[::-1]])  # increasing on [-1, 1]
    wk_half = np.array(_GK15_WK[:-1])
    wk = np.concatenate([wk_half, [_GK15_WK[-1]], wk_half[::-1]])
    wg = np.zeros(15)
    g = np.array(_G7_W)  # at the Kronrod nodes of odd index (1, 3, 5) and the centre
    wg[[1, 3, 5, 7, 9, 11, 13]] = np.concatenate([g, g[-2::-1]])
    x = 0.5 * (t + 1.0)
    for arr in (x, wk, wg):
        arr.flags.writeable = False
    return x, 0.5 * wk, 0.5 * wg

