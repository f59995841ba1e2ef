"""Chebyshev tables of a posterior law's truncated moments and density (compiled lookup).

:class:`qtheory.distributions.posterior.PredictionBucket` (and the point posterior) computes
``C(x) = p E[X**k; X <= x | bucket]`` exactly as the sum of the panels below ``x`` plus a
16-point Gauss-Legendre rule on the piece of ``x``'s panel: 16 evaluations of the density (and
of the noise law's cdf) a point, about 0.4 us a point, and a few dozen NumPy calls a call. The
Gittins rank of the law and the multi-class analysis call these functions thousands of times,
on up to a million points in all.

Here each panel ``[a_j, b_j]`` gets, once per order ``k`` and side (partial or tail), a
Chebyshev interpolant from the values at ``N = 24`` Chebyshev-Lobatto points, of one of:

* the piece ``C(x) - C(a_j)`` (mode 1), where ``C`` varies by less than a factor 5 on the
  panel: the lookup adds the anchor ``C(a_j)``, and the absolute error, a few ulps of the
  piece, is a few ulps of the value;
* ``log C(x)`` (mode 2), on panels of a rapidly varying tail, where ``C`` may run over
  hundreds of orders of magnitude: an absolute error ``d`` in ``log C`` is a relative error
  ``d`` in ``C``;
* nothing (mode 3): ``C`` is 0 at every point (an underflowed tail), so on the whole panel;
* ``C(x) / d**p`` (modes 4 and 5, :func:`fit_power_panels`), on a panel at an end of the
  support where ``C`` reaches 0 (a partial moment at the lower end, a tail at the upper end, a
  density whose window closes there) like ``d**p``, ``d`` the distance to that end of the
  panel (``x - a_j`` in mode 4, ``b_j - x`` in mode 5) and ``p`` a whole power from 1 to 4:
  the quotient is smooth and positive, so its relative error is the value's relative error
  however close to the end. It is fitted from its values at the 24 Chebyshev points of the
  first kind, which leave out the ends (where the quotient is 0 / 0).

A panel whose last two coefficients are above ``8 eps`` of its scale, or whose values reach 0
without being all 0 (unless modes 4 or 5 fit), has no table (mode 0): its points keep the
exact path. On the laws checked (exponential sizes with exponential noise, Weibull with
uniform and lognormal noise, lognormal with exponential noise, bounded Pareto with lognormal
noise; buckets and point posteriors) one or two panels of about 20 or 280 lacked a table
before modes 4 and 5, mostly the first and last (where the value reaches 0). With them, of 54
bucket laws (exponential, Weibull 0.5 and 2, lognormal, bounded Pareto and hyperexponential
sizes; exponential, uniform 0.5 and lognormal 0.7 noise; buckets (0, 0.5], (0.5, 2],
(2, inf)) 9 kept one panel without a table; 6 of those, the panel after the first next to an
end where a uniform noise's window closes (the value grows like a power of the distance to
that end, whose logarithm's singularity lay too near the panel for 24 coefficients), have a
table since the panels are graded towards such ends
(:func:`qtheory.distributions.posterior._graded`); 3 keep one (an inner panel with lognormal
noise, a last panel with Weibull 2 sizes). The tabulated values agree with the exact path to
``1e-13`` relative wherever the value is above ``1e-200`` (``6e-15`` in mode 1; mode 2
carries the rounding of ``log C``, ``eps |log C|``, as the exact path carries that of
``f w``).

:func:`panel_lookup`, :func:`moments_lookup`, :func:`tails_lookup` (four functions at once)
and :func:`density_lookup` evaluate the tables for an array of points in one compiled pass
(about 50 ns a point and table).

Examples
--------
>>> import numpy as np
>>> a, b = np.array([0.0, 1.0]), np.array([1.0, 2.0])
>>> x = panel_points(a, b)
>>> table = fit_panels(np.exp(x), np.zeros(2))   # the density e**x: modes 1 and 1
>>> v = panel_lookup(np.array([0.3, 1.7]), a, b, *table)
>>> bool(np.max(np.abs(v / np.exp([0.3, 1.7]) - 1.0)) < 1e-15)
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .base import side_constant

__all__ = ["N_CHEB", "density_lookup", "first_kind_points", "fit_panels", "fit_power_panels",
           "lobatto", "moments_lookup", "panel_lookup", "panel_points", "tails_lookup",
           "moments3_lookup", "between_lookup"]

N_CHEB = 24  # Chebyshev-Lobatto points a panel
_EPS = float(np.finfo(float).eps)
_LINEAR_SPAN = 5.0  # largest ratio max C / min C on a panel tabulated linearly
_NOISE = 1e-280  # a panel whose values all lie below this is tabulated linearly


def lobatto(n: int) -> np.ndarray:
    """The ``n`` Chebyshev-Lobatto points ``cos(pi j / (n - 1))`` of ``[-1, 1]``, ascending."""
    return np.cos(np.pi * np.arange(n) / (n - 1))[::-1].copy()


def panel_points(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The :data:`N_CHEB` Chebyshev-Lobatto points of each panel ``[a_j, b_j]`` (rows,
    ascending), the ends exactly ``a_j`` and ``b_j``."""
    x = a[:, None] + (b - a)[:, None] * (0.5 * (1.0 + lobatto(N_CHEB)))[None, :]
    x[:, 0], x[:, -1] = a, b
    return x


def _dct_matrix(n: int) -> np.ndarray:
    """The matrix taking values at :func:`lobatto` points (ascending) to Chebyshev
    coefficients of the interpolant (a type-I discrete cosine transform)."""
    j = np.arange(n)
    theta = np.pi * j / (n - 1)  # point j of the descending order
    m = np.cos(np.outer(j, theta)) * (2.0 / (n - 1))
    m[:, 0] *= 0.5
    m[:, -1] *= 0.5
    m[0, :] *= 0.5
    m[-1, :] *= 0.5
    return m[:, ::-1].copy()  # columns for the ascending points


_DCT = _dct_matrix(N_CHEB)
_MAX_POWER = 4  # the highest power d**p tried at a zero end (modes 4 and 5)


def first_kind_points(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The :data:`N_CHEB` Chebyshev points of the first kind of each panel ``[a_j, b_j]``
    (rows, ascending): ``cos(pi (i + 1/2) / N)`` mapped to the panel, ends left out."""
    u = -np.cos(np.pi * (np.arange(N_CHEB) + 0.5) / N_CHEB)
    return a[:, None] + (b - a)[:, None] * (0.5 * (1.0 + u))[None, :]


def _dct1_matrix(n: int) -> np.ndarray:
    """The matrix taking values at the first-kind points (ascending) to the Chebyshev
    coefficients of their interpolant (a type-II discrete cosine transform)."""
    theta = np.pi * (np.arange(n) + 0.5) / n  # point i of the descending order
    m = np.cos(np.outer(np.arange(n), theta)) * (2.0 / n)
    m[0, :] *= 0.5
    return m[:, ::-1].copy()


_DCT1 = _dct1_matrix(N_CHEB)


def fit_power_panels(values: np.ndarray, a: np.ndarray, b: np.ndarray,
                     left: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of ``C(x) / d**p`` for panels where ``C`` reaches 0 at one end, from the
    values of ``C`` at the :func:`first_kind_points` (rows): ``d = x - a_j`` where ``left``
    (mode 4), ``b_j - x`` elsewhere (mode 5), and ``p`` the least whole power from 1 to
    :data:`_MAX_POWER` whose quotient is positive, varies by less than a factor 5 on the
    panel and has its last two coefficients within ``8 eps`` of its largest value (mode 0,
    no table, when none does). Returns the coefficients, the modes and the powers (the
    anchors of modes 4 and 5)."""
    v = np.asarray(values, dtype=float)
    x = first_kind_points(a, b)
    d = np.where(left[:, None], x - a[:, None], b[:, None] - x)
    coef = np.zeros(v.shape)
    mode = np.zeros(v.shape[0], dtype=np.int8)
    power = np.zeros(v.shape[0])
    todo = np.all(np.isfinite(v), axis=1) & np.all(v > 0, axis=1)
    for p in range(1, _MAX_POWER + 1):
        if not np.any(todo):
            break
        with np.errstate(all="ignore"):
            q = v / d**p
            lo, hi = np.min(q, axis=1), np.max(q, axis=1)
            c = np.einsum("pj,cj->pc", q, _DCT1)
            tail = np.abs(c[:, -1]) + np.abs(c[:, -2])
            ok = todo & (lo > 0) & (hi <= _LINEAR_SPAN * lo) & (tail <= 8.0 * _EPS * hi)
        coef[ok] = c[ok]
        mode[ok] = np.where(left[ok], 4, 5)
        power[ok] = p
        todo &= ~ok
    return coef, mode, power


def fit_panels(pieces: np.ndarray,
               anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chebyshev coefficients (panels x ``N_CHEB``) and a mode per panel from the values
    ``C = anchor + piece`` at the :func:`lobatto` points of each panel (rows, ascending):
    mode 1 tabulates the piece (where ``C`` varies by less than a factor 5 on the panel; the
    lookup adds the anchor), mode 2 tabulates ``log C``, mode 3 is a panel where ``C`` is 0
    at every point (so on the whole panel, ``C`` being monotone), and mode 0 a panel
    without a table (values not positive and finite, or the last two coefficients above
    ``8 eps`` of the scale: the largest piece or ``C / 16``, whichever is larger, or
    ``max(1, |log C|)``, the rounding of ``log C``; ``log C_mid``, the value mid-panel, is
    taken out of the log table, which keeps its coefficients small). A panel whose values
    all lie below ``1e-280`` without all being zero (a tail that underflows inside it) gets
    mode 1 whatever its coefficients: an absolute error of about ``1e-296`` there is below
    the noise of the subnormal densities it is made of. One compiled pass over the panels
    (:func:`_fit_rows`; a law's tables are built from a few hundred panels, on which the
    NumPy form of the same steps spent most of its time in call overhead).
    Returns the coefficients, the modes and the anchors (``log C_mid`` for mode 2)."""
    piece = np.ascontiguousarray(pieces, dtype=float)
    anchor = np.ascontiguousarray(anchors, dtype=float)
    if piece.ndim != 2 or piece.shape[1] != N_CHEB:
        raise ValueError(f"pieces must have {N_CHEB} columns, got shape {piece.shape}")
    return _fit_rows(piece, anchor, _DCT, _LINEAR_SPAN, _NOISE, 8.0 * _EPS)


@njit(cache=True, error_model="numpy", inline="always")
def _dct_apply(dct, v, out):  # pragma: no cover - compiled
    """``out[k] = sum_j dct[k, j] v[j]``, the sum in order of ``j``."""
    n = v.size
    for k in range(n):
        acc = 0.0
        for j in range(n):
            acc += v[j] * dct[k, j]
        out[k] = acc


@njit(cache=True, error_model="numpy", nogil=True)
def _fit_rows(piece, anchor, dct, span, noise, tol):  # pragma: no cover - compiled
    """:func:`fit_panels`, row by row: the values ``v = anchor + piece`` of a row, the
    linear (piece) or log (``log v - log v_mid``) data, their coefficients by the DCT
    matrix, the convergence test on the last two, and the mode."""
    p, n = piece.shape
    coef = np.zeros((p, n))
    mode = np.zeros(p, dtype=np.int8)
    out_anchor = np.empty(p)
    data = np.empty(n)
    c = np.empty(n)
    for i in range(p):
        a = anchor[i]
        lo = np.inf
        hi = -np.inf
        all_finite = True
        all_zero = True
        nan = False
        for j in range(n):
            v = a + piece[i, j]
            if v != v:
                nan = True
            elif v < lo:
                lo = v
            if v > hi:
                hi = v
            if not np.isfinite(v):
                all_finite = False
            if v != 0.0:
                all_zero = False
        if nan:  # (NumPy's min and max give NaN)
            lo = np.nan
            hi = np.nan
        finite = all_finite and lo > 0
        linear = finite and hi <= span * lo
        ref = 0.0
        if finite:
            ref = np.log(a + piece[i, n // 2])
        scale = 1.0
        if linear:
            big = 0.0
            for j in range(n):
                data[j] = piece[i, j]
                big = max(big, abs(piece[i, j]))
            scale = max(big, lo / 16.0)
        else:
            big = 0.0
            for j in range(n):
                lg = np.log(a + piece[i, j]) if finite else 0.0
                data[j] = lg - ref
                big = max(big, abs(lg))
            scale = max(1.0, big)
        _dct_apply(dct, data, c)
        ok = finite and (abs(c[n - 1]) + abs(c[n - 2])) <= tol * scale
        if linear and not ok:
            # a linear table whose data are noisier than 8 eps of the piece (f w an
            # exponential of a large argument, its rounding eps times that argument): the
            # log table, whose tolerance scales with |log C|
            big = 0.0
            for j in range(n):
                lg = np.log(a + piece[i, j])
                data[j] = lg - ref
                big = max(big, abs(lg))
            _dct_apply(dct, data, c)
            ok = (abs(c[n - 1]) + abs(c[n - 2])) <= tol * max(1.0, big)
            linear = not ok
        if not ok and not all_zero and all_finite and hi <= noise and lo >= 0:
            # a tail that underflows inside the panel: the piece, to an absolute 1e-296
            _dct_apply(dct, piece[i], c)
            ok = True
            linear = True
        if ok:
            for k in range(n):
                coef[i, k] = c[k]
            mode[i] = 1 if linear else 2
        else:
            mode[i] = 3 if all_zero else 0
        out_anchor[i] = ref if mode[i] == 2 else a
    return coef, mode, out_anchor


@njit(cache=True, error_model="numpy", inline="always")
def _panel_of(xi, a, j):  # pragma: no cover - compiled
    """The panel of ``xi``: the last ``j`` with ``a[j] <= xi`` (0 below ``a[0]``), trying the
    previous point's panel ``j`` first (arrays of ages are mostly sorted), then bisecting."""
    p = a.size
    if a[j] <= xi and (j == p - 1 or xi < a[j + 1]):
        return j
    lo = 0
    hi = p
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if a[mid] <= xi:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy", inline="always")
def _panel_u(xi, aj, bj):  # pragma: no cover - compiled
    """``xi`` mapped to ``[-1, 1]`` on the panel ``[aj, bj]`` (clamped beyond its ends)."""
    u = ((xi - aj) - (bj - xi)) / (bj - aj)
    if u < -1.0:
        u = -1.0
    elif u > 1.0:
        u = 1.0
    return u


@njit(cache=True, error_model="numpy", inline="always")
def _value(md, anchor, s, xi, aj, bj):  # pragma: no cover - compiled
    """A panel's value at ``xi`` from its Clenshaw sum ``s``, mode ``md`` and anchor: NaN
    without a table (mode 0), the anchor plus the piece (1), its exponential (2), 0 (3), the
    quotient times ``d**p`` (4, 5: ``d = xi - aj`` or ``bj - xi``, ``p`` the anchor)."""
    if md == 0:
        return np.nan
    if md == 3:
        return 0.0
    if md == 1:
        return max(anchor + s, 0.0)  # (an underflowing tail's piece may dip below 0)
    if md == 2:
        return np.exp(anchor + s)
    d = xi - aj if md == 4 else bj - xi
    return max(s, 0.0) * max(d, 0.0) ** anchor


@njit(cache=True, error_model="numpy", inline="always")
def _clenshaw(c, j, u):  # pragma: no cover - compiled
    """The Chebyshev series of row ``j`` of ``c`` at ``u`` in ``[-1, 1]`` (Clenshaw's
    recurrence, summed as NumPy's ``chebval``)."""
    m = c.shape[1]
    u2 = 2.0 * u
    c0 = c[j, m - 2]
    c1 = c[j, m - 1]
    for k in range(3, m + 1):
        tmp = c0
        c0 = c[j, m - k] - c1
        c1 = tmp + c1 * u2
    return c0 + c1 * u


@njit(cache=True, error_model="numpy", inline="always")
def _at(xi, j, a, b, coef, mode, anchor):  # pragma: no cover - compiled
    """The tabulated value at ``xi`` on panel ``j`` (see :func:`panel_lookup`); NaN without a
    table."""
    md = mode[j]
    if md == 0:
        return np.nan
    if md == 3:
        return 0.0
    aj = a[j]
    bj = b[j]
    return _value(md, anchor[j], _clenshaw(coef, j, _panel_u(xi, aj, bj)), xi, aj, bj)


@njit(cache=True, error_model="numpy", nogil=True)
def panel_lookup(x, a, b, coef, mode, anchor):  # pragma: no cover - compiled
    """The tabulated value at each point of ``x`` (1-D), from the panel ``j`` with
    ``a[j] <= x < b[j]`` (the first or last panel beyond the ends), by the Clenshaw
    recurrence (plus the panel's anchor in mode 1, exponentiated in mode 2; zero in mode 3);
    NaN where that panel has no table (mode 0)."""
    out = np.empty(x.size)
    j = 0
    for i in range(x.size):
        j = _panel_of(x[i], a, j)
        out[i] = _at(x[i], j, a, b, coef, mode, anchor)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _table_value(v, mass, mom, clip):  # pragma: no cover - compiled
    """A moment from a table's value ``v`` (of ``p E[...]``): divided by the mass ``p``, at
    most ``mom``, clipped to ``[0, 1]`` with ``clip``; ``(value, left to the caller)``, the
    latter where the panel has no table (``v`` NaN)."""
    if np.isnan(v):
        return np.nan, True
    v = v / mass
    if v > mom:
        v = mom
    if clip:
        v = min(max(v, 0.0), 1.0)
    return v, False


@njit(cache=True, error_model="numpy", inline="always")
def _in_tables(xi, lo, hi, tmin, tmax):
    # a point inside the support and the panels (not NaN)
    return xi > lo and xi < hi and xi >= tmin and xi < tmax


@njit(cache=True, error_model="numpy", inline="always")
def _one_moment(xi, j, a, b, coef, mode, anchor, lo, hi, tmin, tmax, mass, mom, tail,
                clip):  # pragma: no cover - compiled
    """:func:`moments_lookup` at one point (``j`` the panel hint): ``(value, left to the
    caller, panel)``."""
    if np.isnan(xi):
        return np.nan, False, j
    if not xi > lo:
        v = mom if tail else 0.0
    elif not xi < hi:
        v = 0.0 if tail else mom
    elif not (xi >= tmin and xi < tmax):
        return np.nan, True, j
    else:
        j = _panel_of(xi, a, j)
        v, need = _table_value(_at(xi, j, a, b, coef, mode, anchor), mass, mom, clip)
        return v, need, j
    if clip:
        v = min(max(v, 0.0), 1.0)
    return v, False, j


@njit(cache=True, error_model="numpy", nogil=True)
def moments_lookup(x, a, b, coef, mode, anchor, lo, hi, tmin, tmax, mass, mom, tail,
                   clip):  # pragma: no cover - compiled (tested through callers)
    """A law's truncated moment ``E[X**k; X <= x]`` (or ``X > x`` with ``tail``) at the points
    of ``x`` (1-D) from the tables of ``p E[...]`` (:func:`panel_lookup`): ``0`` or the moment
    ``mom`` outside the support ``(lo, hi)``, the table divided by the mass ``p`` (at most
    ``mom``) inside ``[tmin, tmax)``, NaN at NaN; clipped to ``[0, 1]`` with ``clip``.
    Returns the values, a mask of the points left to the caller (inside the support but
    outside ``[tmin, tmax)``, or on a panel without a table) and their number."""
    n = x.size
    out = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    n_need = 0
    j = 0
    for i in range(n):
        out[i], need[i], j = _one_moment(x[i], j, a, b, coef, mode, anchor, lo, hi, tmin,
                                         tmax, mass, mom, tail, clip)
        if need[i]:
            n_need += 1
    return out, need, n_need


@njit(cache=True, error_model="numpy", nogil=True)
def density_lookup(x, a, b, coef, mode, anchor, tmin, tmax,
                   mass):  # pragma: no cover - compiled (tested through callers)
    """A law's density at the points of ``x`` (1-D) from the tables of ``p f`` on the panels
    of ``[tmin, tmax)`` (:func:`panel_lookup`), divided by the mass ``p``; NaN at NaN. Returns
    the values, a mask of the points left to the caller (outside ``[tmin, tmax)`` or on a
    panel without a table) and their number."""
    n = x.size
    out = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    n_need = 0
    j = 0
    for i in range(n):
        xi = x[i]
        if np.isnan(xi):
            out[i] = np.nan
            continue
        v, j = density_at(xi, j, a, b, coef, mode, anchor, tmin, tmax)
        if np.isnan(v):
            need[i] = True
            n_need += 1
        out[i] = v / mass
    return out, need, n_need


@njit(cache=True, error_model="numpy", inline="always")
def density_at(xi, j, a, b, coef, mode, anchor, tmin, tmax):  # pragma: no cover - compiled
    """The tabulated ``p f`` at ``xi`` (``j`` the panel hint): ``(value, panel)``, NaN
    outside ``[tmin, tmax)`` or on a panel without a table."""
    if xi >= tmin and xi < tmax:
        j = _panel_of(xi, a, j)
        return _at(xi, j, a, b, coef, mode, anchor), j
    return np.nan, j


@njit(cache=True, error_model="numpy", nogil=True)
def tails_lookup(x, a, b, c0, m0, n0, c1, m1, n1, c2, m2, n2, c3, m3, n3, lo, hi, tmin,
                 tmax, mass, mean):  # pragma: no cover - compiled (tested through callers)
    """``P(X > x)``, ``P(X <= x)``, ``E[X; X <= x]`` and ``E[X; X > x]`` at the points of
    ``x`` (1-D) in one pass, one panel search a point, from the tables (coefficients, modes,
    anchors) of the tail of order 0, the partial of order 0, the partial of order 1 and the
    tail of order 1, as :func:`moments_lookup` gives each (the first two clipped to
    ``[0, 1]``, the others capped at the mean). Returns the four arrays, a mask of the
    points left to the caller and their number."""
    n = x.size
    sf = np.empty(n)
    cdf = np.empty(n)
    pm = np.empty(n)
    tm = np.empty(n)
    need = np.zeros(n, dtype=np.bool_)
    n_need = 0
    j = 0
    for i in range(n):
        xi = x[i]
        if np.isnan(xi):
            sf[i] = cdf[i] = pm[i] = tm[i] = np.nan
            continue
        if not xi > lo:
            sf[i], cdf[i], pm[i], tm[i] = 1.0, 0.0, 0.0, mean
            continue
        if not xi < hi:
            sf[i], cdf[i], pm[i], tm[i] = 0.0, 1.0, mean, 0.0
            continue
        if not (xi >= tmin and xi < tmax):
            need[i] = True
            n_need += 1
            sf[i] = cdf[i] = pm[i] = tm[i] = np.nan
            continue
        j = _panel_of(xi, a, j)
        v0 = _at(xi, j, a, b, c0, m0, n0)
        v1 = _at(xi, j, a, b, c1, m1, n1)
        v2 = _at(xi, j, a, b, c2, m2, n2)
        v3 = _at(xi, j, a, b, c3, m3, n3)
        if np.isnan(v0) or np.isnan(v1) or np.isnan(v2) or np.isnan(v3):
            need[i] = True
            n_need += 1
            sf[i] = cdf[i] = pm[i] = tm[i] = np.nan
            continue
        sf[i] = min(max(v0 / mass, 0.0), 1.0)
        cdf[i] = min(max(v1 / mass, 0.0), 1.0)
        pm[i] = min(v2 / mass, mean)
        tm[i] = min(v3 / mass, mean)
    return sf, cdf, pm, tm, need, n_need


@njit(cache=True, error_model="numpy", inline="always")
def _clenshaw3(ca, cb, cc, j, u):  # pragma: no cover - compiled
    """:func:`_clenshaw` of row ``j`` of three tables at once, the three recurrences
    interleaved (each summed exactly as alone: the same values)."""
    m = ca.shape[1]
    u2 = 2.0 * u
    a0 = ca[j, m - 2]
    a1 = ca[j, m - 1]
    b0 = cb[j, m - 2]
    b1 = cb[j, m - 1]
    c0 = cc[j, m - 2]
    c1 = cc[j, m - 1]
    for k in range(3, m + 1):
        ta = a0
        tb = b0
        tc = c0
        a0 = ca[j, m - k] - a1
        b0 = cb[j, m - k] - b1
        c0 = cc[j, m - k] - c1
        a1 = ta + a1 * u2
        b1 = tb + b1 * u2
        c1 = tc + c1 * u2
    return a0 + a1 * u, b0 + b1 * u, c0 + c1 * u


@njit(cache=True, error_model="numpy", inline="always")
def _moments3_point(xi, i, j, a, b, c0, m0, n0, c1, m1, n1, c2, m2, n2, lo, hi, tmin, tmax,
                    mass, mom0, mom1, mom2, tail, out, need):  # pragma: no cover - compiled
    """:func:`moments3_lookup` at one point ``xi`` into ``out[:, i]`` and ``need[:, i]``
    (``j`` the panel hint); returns the panel."""
    # (each order written out: a loop over a tuple of the tables compiled to twice the time)
    if _in_tables(xi, lo, hi, tmin, tmax):
        j = _panel_of(xi, a, j)
        aj = a[j]
        bj = b[j]
        s0, s1, s2 = _clenshaw3(c0, c1, c2, j, _panel_u(xi, aj, bj))
        out[0, i], need[0, i] = _table_value(_value(m0[j], n0[j], s0, xi, aj, bj), mass,
                                             mom0, False)
        out[1, i], need[1, i] = _table_value(_value(m1[j], n1[j], s1, xi, aj, bj), mass,
                                             mom1, False)
        out[2, i], need[2, i] = _table_value(_value(m2[j], n2[j], s2, xi, aj, bj), mass,
                                             mom2, False)
    else:  # NaN, beyond the support or the panels
        out[0, i], need[0, i], j = _one_moment(xi, j, a, b, c0, m0, n0, lo, hi, tmin,
                                               tmax, mass, mom0, tail, False)
        out[1, i], need[1, i], j = _one_moment(xi, j, a, b, c1, m1, n1, lo, hi, tmin,
                                               tmax, mass, mom1, tail, False)
        out[2, i], need[2, i], j = _one_moment(xi, j, a, b, c2, m2, n2, lo, hi, tmin,
                                               tmax, mass, mom2, tail, False)
    return j


@njit(cache=True, error_model="numpy", nogil=True)
def moments3_lookup(x, a, b, c0, m0, n0, c1, m1, n1, c2, m2, n2, lo, hi, tmin, tmax, mass,
                    mom0, mom1, mom2, tail):  # pragma: no cover - compiled (tested by callers)
    """:func:`moments_lookup` of the orders 0, 1 and 2 (tables ``c0, m0, n0`` etc., on the
    same panels; full moments ``mom0``, ``mom1``, ``mom2``) at the points of ``x`` (1-D) in
    one pass: one panel search a point and the three Clenshaw sums interleved
    (:func:`_clenshaw3`); the same values as three calls. Returns the values (3 x points),
    the masks of the points left to the caller (3 x points) and their numbers (3)."""
    n = x.size
    out = np.empty((3, n))
    need = np.zeros((3, n), dtype=np.bool_)
    n_need = np.zeros(3, np.int64)
    j = 0
    for i in range(n):
        j = _moments3_point(x[i], i, j, a, b, c0, m0, n0, c1, m1, n1, c2, m2, n2, lo, hi,
                            tmin, tmax, mass, mom0, mom1, mom2, tail, out, need)
        for k in range(3):
            if need[k, i]:
                n_need[k] += 1
    return out, need, n_need


@njit(cache=True, error_model="numpy", nogil=True)
def moments3_lookup_sides(x, side, out, need, start, stop, a, b, lc0, lm0, ln0, lc1, lm1,
                          ln1, lc2, lm2, ln2, uc0, um0, un0, uc1, um1, un1, uc2, um2, un2, lo,
                          hi, tmin, tmax, mass, mom0, mom1, mom2, tot):  # pragma: no cover
    """:func:`moments3_lookup` at the points ``start:stop`` of ``x``, each on its side
    (``side``: 0 the partial moments, tables ``lc0, lm0, ln0``...; 1 the tail moments,
    ``uc0, um0, un0``...; 2 zeros; 3 the caller's totals ``tot``: :func:`~qtheory.
    distributions.base.side_constant`), into ``out[:, start:stop]`` and ``need[:,
    start:stop]`` (the points left to the caller); each point's numbers those of the
    one-sided call."""
    j = 0
    for i in range(start, stop):
        code = side[i]
        if code == 0:
            j = _moments3_point(x[i], i, j, a, b, lc0, lm0, ln0, lc1, lm1, ln1, lc2, lm2,
                                ln2, lo, hi, tmin, tmax, mass, mom0, mom1, mom2, False, out,
                                need)
        elif code == 1:
            j = _moments3_point(x[i], i, j, a, b, uc0, um0, un0, uc1, um1, un1, uc2, um2,
                                un2, lo, hi, tmin, tmax, mass, mom0, mom1, mom2, True, out,
                                need)
        else:
            side_constant(out, i, code, tot)
            need[0, i] = need[1, i] = need[2, i] = False


@njit(cache=True, error_model="numpy", inline="always")
def _clenshaw2(c, ja, ua, jb, ub):  # pragma: no cover - compiled
    """:func:`_clenshaw` of rows ``ja`` at ``ua`` and ``jb`` at ``ub`` of one table, the two
    recurrences interleaved (each summed exactly as alone)."""
    m = c.shape[1]
    ua2 = 2.0 * ua
    ub2 = 2.0 * ub
    a0 = c[ja, m - 2]
    a1 = c[ja, m - 1]
    b0 = c[jb, m - 2]
    b1 = c[jb, m - 1]
    for k in range(3, m + 1):
        ta = a0
        tb = b0
        a0 = c[ja, m - k] - a1
        b0 = c[jb, m - k] - b1
        a1 = ta + a1 * ua2
        b1 = tb + b1 * ub2
    return a0 + a1 * ua, b0 + b1 * ub


@njit(cache=True, error_model="numpy", nogil=True)
def between_lookup(x0, x1, scale, a, b, c_lo, m_lo, n_lo, c_hi, m_hi, n_hi, lo, hi, tmin,
                   tmax, mass):  # pragma: no cover - compiled (tested through callers)
    """The two ends of ``P(x0 < X <= x1)`` at each point pair (1-D), as
    :meth:`~qtheory.distributions.base.SizeDistribution.prob_between` takes them: where
    ``x0 >= scale`` the tail probabilities (table ``c_hi, m_hi, n_hi``) at ``x0`` and
    ``x1``, else the cdf (``c_lo, m_lo, n_lo``) at both, each as :func:`moments_lookup` gives
    it (clipped to ``[0, 1]``; where both ends are in the tables, their two Clenshaw sums
    interleaved: :func:`_clenshaw2`). Returns the values at ``x0`` and at ``x1`` and the
    masks of the points left to the caller."""
    n = x0.size
    v0 = np.empty(n)
    v1 = np.empty(n)
    need0 = np.zeros(n, dtype=np.bool_)
    need1 = np.zeros(n, dtype=np.bool_)
    j = 0
    for i in range(n):
        xa = x0[i]
        xb = x1[i]
        up = xa >= scale
        if up:
            coef, mode, anchor = c_hi, m_hi, n_hi
        else:
            coef, mode, anchor = c_lo, m_lo, n_lo
        if _in_tables(xa, lo, hi, tmin, tmax) and _in_tables(xb, lo, hi, tmin, tmax):
            ja = _panel_of(xa, a, j)
            jb = _panel_of(xb, a, ja)
            j = jb
            aa, ba, ab, bb = a[ja], b[ja], a[jb], b[jb]
            sa, sb = _clenshaw2(coef, ja, _panel_u(xa, aa, ba), jb, _panel_u(xb, ab, bb))
            v0[i], need0[i] = _table_value(_value(mode[ja], anchor[ja], sa, xa, aa, ba), mass,
                                           1.0, True)
            v1[i], need1[i] = _table_value(_value(mode[jb], anchor[jb], sb, xb, ab, bb), mass,
                                           1.0, True)
        else:
            v0[i], need0[i], j = _one_moment(xa, j, a, b, coef, mode, anchor, lo, hi, tmin,
                                             tmax, mass, 1.0, up, True)
            v1[i], need1[i], j = _one_moment(xb, j, a, b, coef, mode, anchor, lo, hi, tmin,
                                             tmax, mass, 1.0, up, True)
    return v0, v1, need0, need1
