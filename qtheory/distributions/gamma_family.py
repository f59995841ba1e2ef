"""Gamma-type job-size laws: :class:`Gamma`, :class:`Erlang`, :class:`Weibull`.

Re-exported by :mod:`qtheory.distributions.continuous`. Their partial and tail
moments are scaled regularised incomplete gamma functions ``P`` and ``Q``
(:func:`scipy.special.gammainc`, :func:`scipy.special.gammaincc`), each
evaluated directly so that both keep full relative precision.
"""

from __future__ import annotations

import numbers

import numpy as np
from mpmath import mp
from numba import njit
from scipy import special

from .._threads import concat_chunks, map_chunks
from .base import (
    HalfLineLaw,
    as_generator,
    check_count,
    check_order,
    check_positive,
    finish,
    side_constant,
    sides_args,
    to_array,
)

__all__ = ["Gamma", "Erlang", "Weibull"]


@njit(cache=True, error_model="numpy", inline="always")
def _series_cut(n):  # pragma: no cover - compiled
    """Where :func:`_gamma_int` switches P(n, y) from its series to ``1 - Q``."""
    return max(1.0, n - 1.0 - np.sqrt(n))


def _series_table(orders: int = 8, width: int = 32):
    """``(c, deg)``: ``c[n, j] = n! / (n + j)!``, the coefficients of P(n, y)'s series
    ``1F1(1; n + 1; y) = sum_j y**j n! / (n + j)!``, and ``deg[n]`` the degree after which
    its terms are below 1e-17 at the series' cut (:func:`_series_cut`), for n <= ``orders``."""
    from math import factorial, sqrt

    c = np.array([[factorial(n) / factorial(n + j) for j in range(width)]
                  for n in range(orders + 1)])
    deg = np.zeros(orders + 1, dtype=np.int64)
    for n in range(1, orders + 1):
        y = max(1.0, n - 1.0 - sqrt(n))
        d = 0
        while y ** (d + 1) * c[n, d + 1] > 1e-17:
            d += 1
        deg[n] = d
    return c, deg


# the series of P(n, y) below its cut, for the whole orders n <= 8 that take it (degrees
# 15 to 25); on a million points of [0, log 2] its Horner sum takes 9 ms against 26 ms for
# the term-by-term loop with a division a term that it replaces, and meets 1F1 in mpmath
# to 1 ulp (the loop: 3 ulps)
_SER, _SER_DEG = _series_table()


@njit(cache=True, error_model="numpy", inline="always")
def _gamma_int_e(n, yi, e, upper, cut):  # pragma: no cover - compiled
    """Q(n, y) (``upper``) or P(n, y) at one point ``y >= 0`` given ``e = exp(-y)``, for a
    whole ``1 <= n <= 8`` (:func:`_gamma_int`; ``cut`` its switch from the series to
    ``1 - Q``; the series by Horner's rule on :data:`_SER`)."""
    if upper or yi >= cut:
        q = 0.0
        if e != 0.0:
            term = 1.0
            poly = 1.0
            for j in range(1, n):
                term = term * yi / j
                poly = poly + term
            q = e * poly
        return q if upper else 1.0 - q
    lead = 1.0
    for j in range(1, n + 1):
        lead = lead * yi / j
    d = _SER_DEG[n]
    total = _SER[n, d]
    for j in range(d - 1, -1, -1):
        total = total * yi + _SER[n, j]
    return e * lead * total


@njit(cache=True, error_model="numpy", inline="always")
def _gamma_int_one(n, yi, upper, cut):  # pragma: no cover - compiled
    """:func:`_gamma_int_e` with its exponential computed here."""
    return _gamma_int_e(n, yi, np.exp(-yi), upper, cut)


@njit(cache=True, error_model="numpy", nogil=True)
def _gamma_int(n, y, upper):  # pragma: no cover - compiled (tested through the callers)
    """Q(n, y) (``upper``) or P(n, y) for a whole order ``n >= 1`` at the points of ``y``
    (1-D, >= 0 or NaN): Q as ``exp(-y) sum_{j<n} y**j / j!`` (0 where ``exp(-y)``
    underflows), P as ``1 - Q`` where ``y >= max(1, n - 1 - sqrt(n))`` (there P > 0.06, so
    the difference loses at most 4 bits) and below as the series
    ``exp(-y) y**n / n! sum_{j>=0} y**j n! / (n + j)!`` (positive terms, full relative
    precision however small P is)."""
    out = np.empty(y.size)
    cut = _series_cut(n)
    for i in range(y.size):
        out[i] = np.nan if y[i] != y[i] else _gamma_int_one(n, y[i], upper, cut)
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _exp_side(y, tail):  # pragma: no cover - compiled
    """``(e^-y, P-term, zero)`` of the moments at ``y`` (the exponent of one component):
    the order-0 term ``e^-y`` (tail) or ``-expm1(-y)`` (partial), and whether the higher
    orders are 0 there (``y`` infinite for the tail, 0 for the partial moments)."""
    e = np.exp(-y)
    if tail:
        return e, e, y == np.inf
    return e, -np.expm1(-y), y == 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _mix012_point(xi, means, probs, const1, const2, tail, cut2, cut3, out,
                  i):  # pragma: no cover - compiled
    """The three moments of :func:`exp_mixture_012` at one point ``xi`` into ``out[:, i]``."""
    if xi != xi:
        out[0, i] = out[1, i] = out[2, i] = np.nan
        return
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for c in range(means.size):
        y = max(xi, 0.0) / means[c]
        e, m0, zero = _exp_side(y, tail)
        s0 += probs[c] * m0
        if zero:
            s1 += 0.0
            s2 += 0.0
        else:
            s1 += const1[c] * _gamma_int_e(2, y, e, tail, cut2)
            s2 += const2[c] * _gamma_int_e(3, y, e, tail, cut3)
    out[0, i] = s0
    out[1, i] = s1
    out[2, i] = s2


@njit(cache=True, error_model="numpy", nogil=True)
def exp_mixture_012(x, means, probs, const1, const2, tail):  # pragma: no cover - compiled
    """Partial moments of orders 0, 1 and 2 (tail moments with ``tail``) of a mixture of
    exponentials (means ``means``, probabilities ``probs``) at the points of ``x`` (1-D):
    per branch ``y = max(x, 0) / mean``, order 0 ``p (-expm1(-y))`` (``p exp(-y)``), order
    k ``const_k P(k + 1, y)`` (``Q``; 0 at ``y = 0``, resp. ``inf``) as
    :func:`_incgamma_moment` gives it, summed over the branches in order from 0; NaN at
    NaN. The formulas of :class:`~qtheory.distributions.continuous.Exponential` and
    :class:`~qtheory.distributions.continuous.HyperExponential`, in one pass."""
    n = x.size
    out = np.empty((3, n))
    cut2 = _series_cut(2)
    cut3 = _series_cut(3)
    for i in range(n):
        _mix012_point(x[i], means, probs, const1, const2, tail, cut2, cut3, out, i)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def exp_mixture_012_sides(x, side, tot, out, start, stop, means, probs, const1,
                          const2):  # pragma: no cover - compiled
    """:func:`exp_mixture_012` at the points ``start:stop`` of ``x``, each on its side (0
    partial, 1 tail, 2 zeros, 3 the totals ``tot``), into ``out[:, start:stop]``."""
    cut2 = _series_cut(2)
    cut3 = _series_cut(3)
    for i in range(start, stop):
        code = side[i]
        if code <= 1:
            _mix012_point(x[i], means, probs, const1, const2, code == 1, cut2, cut3, out, i)
        else:
            side_constant(out, i, code, tot)


@njit(cache=True, error_model="numpy", inline="always")
def _pow012_point(yi, n1, n2, const1, const2, tail, cut1, cut2, out,
                  i):  # pragma: no cover - compiled
    """The three moments of :func:`exp_power_012` at one point ``yi`` into ``out[:, i]``."""
    if yi != yi:
        out[0, i] = out[1, i] = out[2, i] = np.nan
        return
    e, out[0, i], zero = _exp_side(yi, tail)
    if zero:
        out[1, i] = 0.0
        out[2, i] = 0.0
    else:
        out[1, i] = const1 * _gamma_int_e(n1, yi, e, tail, cut1)
        out[2, i] = const2 * _gamma_int_e(n2, yi, e, tail, cut2)


@njit(cache=True, error_model="numpy", nogil=True)
def exp_power_012(y, n1, n2, const1, const2, tail):  # pragma: no cover - compiled
    """Partial moments of orders 0, 1 and 2 (tail moments with ``tail``) of a law with
    ``P(X > x) = exp(-y)`` whose orders 1 and 2 are ``const_k P(n_k, y)`` (``Q``) for whole
    ``n_k <= 8`` (a Weibull law of shape 1/m), at the points of ``y`` (1-D): order 0
    ``-expm1(-y)`` (``exp(-y)``), orders 1 and 2 as :func:`_incgamma_moment` gives them
    (exact zeros at ``y = 0``, resp. ``inf``), one ``exp(-y)`` a point shared by the three;
    NaN at NaN."""
    n = y.size
    out = np.empty((3, n))
    cut1 = _series_cut(n1)
    cut2 = _series_cut(n2)
    for i in range(n):
        _pow012_point(y[i], n1, n2, const1, const2, tail, cut1, cut2, out, i)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def exp_power_012_sides(y, side, tot, out, start, stop, n1, n2, const1,
                        const2):  # pragma: no cover - compiled
    """:func:`exp_power_012` at the points ``start:stop`` of ``y``, each on its side (0
    partial, 1 tail, 2 zeros, 3 the totals ``tot``), into ``out[:, start:stop]``."""
    cut1 = _series_cut(n1)
    cut2 = _series_cut(n2)
    for i in range(start, stop):
        code = side[i]
        if code <= 1:
            _pow012_point(y[i], n1, n2, const1, const2, code == 1, cut1, cut2, out, i)
        else:
            side_constant(out, i, code, tot)


@njit(cache=True, error_model="numpy", nogil=True)
def weibull_pdf(x, c, s):  # pragma: no cover - compiled
    """The Weibull density of shape ``c`` and scale ``s`` at the points of ``x`` (1-D):
    ``(c/s) exp((c - 1) log u - u**c)`` with ``u = x/s`` (``u**c`` as ``sqrt(u)`` or ``u u``
    for the shapes 1/2 and 2, as NumPy takes those powers); 0 below 0 and at ``inf``, NaN
    at NaN, ``inf`` at 0 for a shape below 1."""
    n = x.size
    out = np.empty(n)
    cs = c / s
    for i in range(n):
        xi = x[i]
        if xi != xi:
            out[i] = np.nan
            continue
        if not (xi >= 0.0 and xi < np.inf):
            out[i] = 0.0
            continue
        u = xi / s
        if c == 0.5:
            y = np.sqrt(u)
        elif c == 2.0:
            y = u * u
        elif c == 1.0:
            y = u
        else:
            y = u**c
        lg = 0.0 if c == 1.0 else (c - 1.0) * np.log(u)
        out[i] = cs * np.exp(lg - y)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def exp_mixture_between(a, b, means, probs, med):  # pragma: no cover - compiled
    """``P(a < X <= b)`` of a mixture of exponentials (means ``means``, probabilities
    ``probs``) at each pair of ``a`` and ``b`` (1-D), as
    :meth:`~qtheory.distributions.base.SizeDistribution.prob_between` takes it: ``sf(a) -
    sf(b)`` where ``a >= med`` (the median), ``cdf(b) - cdf(a)`` below, each end a sum over
    the branches in order from 0 of ``p exp(-max(x, 0)/m)`` (``p (-expm1(...))``); NaN
    where an end is NaN."""
    n = a.size
    out = np.empty(n)
    for i in range(n):
        ai = a[i]
        bi = b[i]
        up = ai >= med
        sa = 0.0
        sb = 0.0
        for c in range(means.size):
            ya = max(ai, 0.0) / means[c]
            yb = max(bi, 0.0) / means[c]
            if up:
                sa += probs[c] * np.exp(-ya)
                sb += probs[c] * np.exp(-yb)
            else:
                sa += probs[c] * -np.expm1(-ya)
                sb += probs[c] * -np.expm1(-yb)
        if ai != ai or bi != bi:
            out[i] = np.nan
        else:
            out[i] = sa - sb if up else sb - sa
    return out


def _regularized_gamma(a: float, y: np.ndarray, upper: bool) -> np.ndarray:
    """Q(a, y) (``upper``) or P(a, y); in closed form for small whole ``a``.

    For a whole ``a = n <= 8``, ``Q(n, y) = exp(-y) sum_{j<n} y**j / j!`` has only
    positive terms, and ``P = 1 - Q`` loses at most 4 bits where
    ``y >= max(1, n - 1 - sqrt(n))``; below that P is its power series (:func:`_gamma_int`,
    compiled; until 2026-12-06 the difference was taken from ``y = 1`` on, 2e-11 off for
    ``n = 8`` there, and below 1 scipy's ``gammainc``, 1.5e-13 off at ``y = 2.4e-94`` for
    ``n = 3``). On a million exponential points P(2, y) takes about 0.017 s (0.056 s
    until 2026-12-06 evening, when the series was summed term by term with a division a
    term) and Q 0.005 s, against 0.11 s and 0.015 s for the same formulas in NumPy with
    scipy below 1.

    Examples
    --------
    >>> y = np.array([0.0, 1e-300, 0.5, 3.0, np.inf])
    >>> bool(np.allclose(_regularized_gamma(3.0, y, False), special.gammainc(3.0, y),
    ...                  rtol=1e-14, atol=0))
    True
    """
    if not (a == int(a) and 1 <= a <= 8):
        return (special.gammaincc if upper else special.gammainc)(a, y)
    y = np.asarray(y, dtype=float)
    return _gamma_int(int(a), np.ascontiguousarray(y.ravel()), bool(upper)).reshape(y.shape)


def _incgamma_moment(const: float, a: float, y: np.ndarray, upper: bool) -> np.ndarray:
    """``const * P(a, y)`` (``upper=False``) or ``const * Q(a, y)``, for ``y >= 0``.

    Exact zeros at ``y == 0`` (lower) and ``y == inf`` (upper), so that an
    overflowing ``const`` never produces ``inf * 0``.
    """
    y = np.asarray(y, dtype=float)
    g = _regularized_gamma(a, np.atleast_1d(y), upper).reshape(y.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        out = const * g
    zero = np.isposinf(y) if upper else (y == 0)
    return np.where(zero, 0.0, out)


class IncompleteGammaMoments:
    """Moments of laws whose partial moments are incomplete gamma functions (exponential,
    gamma, Weibull): E[X^k; X <= x] = const(k) P(order(k), y(x)) and the tail with Q.
    Subclasses give ``_const(k)`` (= E[X^k]), ``_gamma_order(k)`` and ``_y(x)``."""

    def moment(self, k: float) -> float:
        return self._const(check_order(k))

    def partial_moment(self, k: float, x):
        return self._incomplete(k, x, upper=False)

    def tail_moment(self, k: float, x):
        return self._incomplete(k, x, upper=True)

    def _incomplete(self, k, x, upper: bool):
        k = check_order(k)
        if k == 0:
            return self.sf(x) if upper else self.cdf(x)
        x = to_array(x)
        out = _incgamma_moment(self._const(k), self._gamma_order(k), self._y(x), upper=upper)
        return finish(out, x)


class ExpOfPowerTail:
    """cdf and sf of laws with P(X > x) = exp(-y(x)) (exponential, Weibull), given ``_y``."""

    def cdf(self, x):
        x = to_array(x)
        return finish(-np.expm1(-self._y(x)), x)

    def sf(self, x):
        x = to_array(x)
        return finish(np.exp(-self._y(x)), x)


# ---------------------------------------------------------------------------------
class Gamma(IncompleteGammaMoments, HalfLineLaw):
    """Gamma law with shape ``shape`` and scale ``scale`` (or mean ``mean``).

    Density ``x**(shape-1) exp(-x/scale) / (Gamma(shape) scale**shape)``.

    Parameters
    ----------
    shape : float
        Shape, ``> 0``.
    scale : float, optional
        Scale, ``> 0``.
    mean : float, optional
        Mean ``shape * scale``, ``> 0``. Give at most one of ``scale`` and
        ``mean``; with neither, ``scale = 1``.

    Notes
    -----
    ``E[X**k; X <= x] = scale**k poch(shape, k) P(shape + k, x/scale)``, the
    tail uses ``Q``.

    Examples
    --------
    >>> d = Gamma(shape=2.0, mean=4.0)
    >>> d.moment(1), d.moment(2)
    (4.0, 24.0)
    >>> float(d.partial_moment(0, 1.0)) == float(d.cdf(1.0))
    True
    """

    def __init__(self, shape: float, scale: float | None = None, mean: float | None = None):
        self._a = check_positive("shape", shape)
        if scale is not None and mean is not None:
            raise ValueError("Gamma: give at most one of scale, mean")
        if mean is not None:
            self._theta = check_positive("mean", mean) / self._a
        else:
            self._theta = check_positive("scale", 1.0 if scale is None else scale)
        if not (np.isfinite(self._theta) and self._theta > 0):
            raise ValueError(f"mean / shape must be a positive finite scale, got {self._theta!r}")

    def _params(self) -> dict:
        return {"shape": self._a, "scale": self._theta}

    @property
    def shape(self) -> float:
        """Shape parameter."""
        return self._a

    @property
    def scale(self) -> float:
        return float(self._theta * special.gammaincinv(self._a, 0.5))

    def pdf(self, x):
        x = to_array(x)
        y = np.maximum(x, 0.0) / self._theta
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            logp = special.xlogy(self._a - 1.0, y) - y - special.gammaln(self._a)
            out = np.where((x >= 0) & (x < np.inf), np.exp(logp) / self._theta, 0.0)
        return finish(out, x)

    def cdf(self, x):
        x = to_array(x)
        return finish(special.gammainc(self._a, np.maximum(x, 0.0) / self._theta), x)

    def sf(self, x):
        x = to_array(x)
        return finish(special.gammaincc(self._a, np.maximum(x, 0.0) / self._theta), x)

    def _const(self, k: float) -> float:
        with np.errstate(over="ignore"):
            return float(self._theta**k * special.poch(self._a, k))

    def _gamma_order(self, k: float) -> float:
        return self._a + k

    def _y(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0) / self._theta

    def sample(self, n: int, rng) -> np.ndarray:
        return as_generator(rng).gamma(self._a, self._theta, size=check_count(n))

    def mp_pdf(self, x):
        x = mp.mpf(x)
        a, th = mp.mpf(self._a), mp.mpf(self._theta)
        if x < 0:
            return mp.zero
        if x == 0:
            return mp.inf if a < 1 else (1 / th if a == 1 else mp.zero)
        y = x / th
        return mp.exp((a - 1) * mp.log(y) - y - mp.loggamma(a)) / th

    def mp_cdf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.zero
        return mp.gammainc(mp.mpf(self._a), 0, x / mp.mpf(self._theta), regularized=True)

    def mp_sf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.one
        return mp.gammainc(mp.mpf(self._a), x / mp.mpf(self._theta), mp.inf, regularized=True)

    def mp_moment(self, k):
        k = mp.mpf(k)
        a = mp.mpf(self._a)
        return mp.mpf(self._theta) ** k * mp.rf(a, k)


class Erlang(Gamma):
    """Erlang law: sum of ``k`` exponentials, with total mean ``mean``.

    A :class:`Gamma` with integer shape ``k`` and scale ``mean / k``.

    Parameters
    ----------
    k : int
        Number of phases, ``>= 1``.
    mean : float, default 1.0
        Mean, ``> 0``.

    Examples
    --------
    >>> d = Erlang(4, mean=2.0)
    >>> d.moment(1), d.moment(2)  # variance mean**2 / k = 1
    (2.0, 5.0)
    """

    def __init__(self, k: int, mean: float = 1.0):
        ok = isinstance(k, numbers.Integral) and not isinstance(k, bool)
        if not ok and isinstance(k, numbers.Real) and float(k).is_integer():
            ok = True
        if not ok or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self._k = int(k)
        super().__init__(shape=float(self._k), mean=mean)
        self._mean_param = check_positive("mean", mean)

    def _params(self) -> dict:
        return {"k": self._k, "mean": self._mean_param}


# ---------------------------------------------------------------------------------
class Weibull(ExpOfPowerTail, IncompleteGammaMoments, HalfLineLaw):
    """Weibull law: ``cdf(x) = 1 - exp(-(x/scale)**shape)``.

    Parameters
    ----------
    shape : float
        Shape ``c > 0`` (``c < 1``: heavier than exponential).
    scale : float, default 1.0
        Scale ``s > 0``.

    Notes
    -----
    ``E[X**k] = s**k Gamma(1 + k/c)`` and
    ``E[X**k; X <= x] = s**k Gamma(1 + k/c) P(1 + k/c, (x/s)**c)``.

    Examples
    --------
    >>> d = Weibull(shape=0.5, scale=0.5)  # F(x) = 1 - exp(-sqrt(2x))
    >>> d.moment(1), d.moment(2)
    (1.0, 6.0)
    >>> float(d.sf(2.0))
    0.1353352832366127
    """

    def __init__(self, shape: float, scale: float = 1.0):
        self._c = check_positive("shape", shape)
        self._s = check_positive("scale", scale)

    def _params(self) -> dict:
        return {"shape": self._c, "scale": self._s}

    @property
    def shape(self) -> float:
        """Shape parameter."""
        return self._c

    @property
    def scale(self) -> float:
        return float(self._s * np.log(2.0) ** (1.0 / self._c))

    def _y(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (np.maximum(x, 0.0) / self._s) ** self._c

    def pdf(self, x):
        """The density ``(c/s) exp((c - 1) log(x/s) - (x/s)**c)``, in one compiled pass over
        the points (:func:`weibull_pdf`, on threads for many points): a posterior law's tables
        take it at hundreds of thousands of points."""
        x = to_array(x)
        flat = np.ascontiguousarray(x.ravel())
        c, s = self._c, self._s
        out = concat_chunks(lambda sl: (weibull_pdf(flat[sl], c, s),), flat.size, (0,))[0]
        return float(out[0]) if x.ndim == 0 else out.reshape(x.shape)

    def _const(self, k: float) -> float:
        with np.errstate(over="ignore"):
            return float(self._s**k * special.gamma(1.0 + k / self._c))

    def moments012(self, x, tail: bool = False) -> tuple:
        """The partial (``tail``: tail) moments of orders 0, 1 and 2 at the points of ``x``.
        Where ``1 + 1/shape`` and ``1 + 2/shape`` are whole numbers up to 8 (shape 1, 1/2,
        1/3 ...) in one compiled pass (:func:`exp_power_012`, on threads for many points):
        ``y = (x/scale)**shape`` once, one ``exp(-y)`` a point for the three orders; orders 1
        and 2 the values of :meth:`partial_moment` / :meth:`tail_moment` bit for bit, order
        0 those of :meth:`cdf` / :meth:`sf` within 2 ulps (the C library's ``exp`` and
        ``expm1`` against NumPy's). Otherwise one order at a time.

        Examples
        --------
        >>> w = Weibull(shape=0.5, scale=1.0)
        >>> x = np.array([0.1, 1.0, 30.0])
        >>> m0, m1, m2 = w.moments012(x, tail=True)
        >>> bool(np.all(m2 == w.tail_moment(2, x)))
        True
        """
        n1, n2 = self._gamma_order(1.0), self._gamma_order(2.0)
        if not (n1 == int(n1) and n2 == int(n2) and n2 <= 8):
            return super().moments012(x, tail)
        x = to_array(x)
        y = np.ascontiguousarray(np.atleast_1d(self._y(x)).ravel(), dtype=float)
        c1, c2 = self._const(1.0), self._const(2.0)
        tail = bool(tail)
        out = concat_chunks(lambda s: (exp_power_012(y[s], int(n1), int(n2), c1, c2, tail),),
                            y.size, (1,))[0]
        res = tuple(finish(v.reshape(x.shape), x) for v in out)
        return res

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """:meth:`SizeDistribution.moments012_sides
        <qtheory.distributions.base.SizeDistribution.moments012_sides>`: where
        :meth:`moments012` is compiled, one pass (:func:`exp_power_012_sides`) with
        ``y = (x/scale)**shape`` at all the points first, each point's numbers those of
        :meth:`moments012` on its side."""
        n1, n2 = self._gamma_order(1.0), self._gamma_order(2.0)
        if not (n1 == int(n1) and n2 == int(n2) and n2 <= 8):
            return super().moments012_sides(x, side, tot)
        x, side, tot, out = sides_args(x, side, tot)
        with np.errstate(invalid="ignore"):
            y = np.ascontiguousarray(self._y(x), dtype=float)
        c1, c2 = self._const(1.0), self._const(2.0)
        map_chunks(lambda s: exp_power_012_sides(y, side, tot, out, s.start, s.stop, int(n1),
                                                 int(n2), c1, c2), x.size)
        return out

    def _gamma_order(self, k: float) -> float:
        return 1.0 + k / self._c

    def sample(self, n: int, rng) -> np.ndarray:
        return self._s * as_generator(rng).weibull(self._c, size=check_count(n))

    def mp_pdf(self, x):
        x = mp.mpf(x)
        c, s = mp.mpf(self._c), mp.mpf(self._s)
        if x < 0:
            return mp.zero
        if x == 0:
            return mp.inf if c < 1 else (1 / s if c == 1 else mp.zero)
        u = x / s
        return c / s * u ** (c - 1) * mp.exp(-(u**c))

    def mp_cdf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.zero
        return -mp.expm1(-((x / mp.mpf(self._s)) ** mp.mpf(self._c)))

    def mp_sf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.one
        return mp.exp(-((x / mp.mpf(self._s)) ** mp.mpf(self._c)))

    def mp_moment(self, k):
        k = mp.mpf(k)
        return mp.mpf(self._s) ** k * mp.gamma(1 + k / mp.mpf(self._c))
