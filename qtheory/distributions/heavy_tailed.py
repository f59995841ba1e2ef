"""Heavy-tailed job-size laws: :class:`Lognormal`, :class:`Pareto`, :class:`BoundedPareto`.

Re-exported by :mod:`qtheory.distributions.continuous`. Power-law partial and
tail moments are written as ``expm1(p L) / p`` with ``L`` a ``log1p`` of a
relative difference, so they keep relative precision at both ends of the
support and pass smoothly through the logarithmic case ``k == alpha``.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp
from numba import njit
from scipy import special

from .._threads import concat_chunks, map_chunks
from .base import (
    HalfLineLaw,
    SizeDistribution,
    as_generator,
    between_pairs,
    check_count,
    check_finite,
    check_order,
    check_positive,
    clip,
    finish,
    side_constant,
    sides_args,
    to_array,
)

__all__ = ["Lognormal", "Pareto", "BoundedPareto"]


def _expm1_ratio(p: float, L: np.ndarray) -> np.ndarray:
    """``(exp(p L) - 1) / p``, equal to ``L`` when ``p == 0``."""
    if p == 0:
        return np.asarray(L, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.expm1(p * L) / p


def _log_ratio(b: np.ndarray, a: np.ndarray | float) -> np.ndarray:
    """``log(b/a)`` for ``b >= a > 0``, accurate when ``b`` is close to ``a``."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.log1p((b - a) / a)


@njit(cache=True, error_model="numpy", inline="always")
def _em1_ratio(p, L, ratio_k, e_alpha):  # pragma: no cover - compiled
    """``(exp(p L) - 1) / p`` (``L`` at ``p = 0``) given ``exp(p L) = e_alpha * ratio_k``
    (the power of the ratio whose log is ``L``, times ``exp(-alpha L)``): the product less 1
    where ``|p L| >= 0.5`` (the difference then loses at most 1.5 bits), ``expm1`` below."""
    if p == 0.0:
        return L
    t = p * L
    if abs(t) < 0.5:
        return np.expm1(t) / p
    return (e_alpha * ratio_k - 1.0) / p


@njit(cache=True, error_model="numpy", inline="always")
def _bp012_point(xi, tail, alpha, lo, hi, den, c1, c2, log_h, e_h, out, i):  # pragma: no cover
    """The three moments of :func:`bounded_pareto_012` at one point ``xi`` into
    ``out[:, i]`` (``log_h = log(high/low)``, ``e_h = (low/high)**alpha`` or 0)."""
    if xi != xi:
        out[0, i] = out[1, i] = out[2, i] = np.nan
        return
    xc = min(max(xi, lo), hi)
    L1 = np.log1p((xc - lo) / lo)  # log(x/low)
    e1 = np.exp(-alpha * L1)  # (low/x)**alpha
    r = xc / lo
    if tail:
        q = hi / xc
        if q >= 2.0 and e_h > 0.0:
            # log(high/x) = log(high/low) - log(x/low) (at least log 2, so at most a few
            # ulps of log(high/low) lost) and (x/high)**alpha = (low/high)**alpha / e1:
            # no second logarithm or exponential
            L2 = log_h - L1
            e2 = e_h / e1
        else:
            L2 = np.log1p((hi - xc) / xc)  # log(high/x)
            e2 = np.exp(-alpha * L2)
        m0 = -np.expm1(-alpha * L2) if alpha * L2 < 0.5 else 1.0 - e2
        out[0, i] = min(e1 * m0 / den, 1.0)
        for k in (1, 2):
            p = k - alpha
            c = c1 if k == 1 else c2
            v = c * (e1 * (r if k == 1 else r * r)) * _em1_ratio(
                p, L2, q if k == 1 else q * q, e2)
            out[k, i] = v / den if xi < hi else 0.0
    else:
        m0 = -np.expm1(-alpha * L1) if alpha * L1 < 0.5 else 1.0 - e1
        out[0, i] = min(m0 / den, 1.0)
        for k in (1, 2):
            p = k - alpha
            c = c1 if k == 1 else c2
            v = c * _em1_ratio(p, L1, r if k == 1 else r * r, e1) / den
            out[k, i] = v if xi > lo else 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _bp_log_h(alpha, lo, hi):  # pragma: no cover - compiled
    """``(log(high/low), (low/high)**alpha)``, the latter 0 below the normal range."""
    log_h = np.log1p((hi - lo) / lo)  # log(high/low)
    e_h = np.exp(-alpha * log_h)  # (low/high)**alpha; below the normal range: not used
    if e_h < 1e-290:
        e_h = 0.0
    return log_h, e_h


@njit(cache=True, error_model="numpy", nogil=True)
def bounded_pareto_012(x, alpha, lo, hi, den, c1, c2, tail):  # pragma: no cover - compiled
    """Partial moments of orders 0, 1 and 2 (tail moments with ``tail``) of
    :class:`BoundedPareto` at the points of ``x`` (1-D), ``c_k = alpha low**k``: the formulas
    of its ``cdf``/``sf``, ``partial_moment`` and ``tail_moment`` with the transcendental
    functions of a point shared by the orders: the logarithms ``L1 = log(x/low)`` and
    ``L2 = log(high/x)`` (as ``log1p``), ``exp(-alpha L1)`` and ``exp(-alpha L2)``, and the
    powers ``(x/low)**k`` and ``(high/x)**k`` by products (:func:`_em1_ratio`); NaN at NaN.
    For the tail moments at ``x <= high/2``, ``L2 = log(high/low) - L1`` (at least ``log 2``,
    so a few ulps of ``log(high/low)`` at most) and ``exp(-alpha L2) = (low/high)**alpha /
    exp(-alpha L1)``: one logarithm and one exponential a point (1M points: 37 -> 29 ms on
    two threads). Within 1e-14 relative of the NumPy formulas (against 40-digit mpmath on
    five laws: 6.8e-15 at most, 5.1e-15 with the second logarithm)."""
    n = x.size
    out = np.empty((3, n))
    log_h, e_h = _bp_log_h(alpha, lo, hi)
    for i in range(n):
        _bp012_point(x[i], tail, alpha, lo, hi, den, c1, c2, log_h, e_h, out, i)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def bounded_pareto_012_sides(x, side, tot, out, start, stop, alpha, lo, hi, den, c1,
                             c2):  # pragma: no cover - compiled
    """:func:`bounded_pareto_012` at the points ``start:stop`` of ``x``, each on its side
    (``side``: 0 the partial moments, 1 the tail moments, 2 zeros, 3 the totals ``tot``),
    into ``out[:, start:stop]`` (:meth:`~qtheory.distributions.base.SizeDistribution.
    moments012_sides`): each point's numbers those of the one-sided kernel."""
    log_h, e_h = _bp_log_h(alpha, lo, hi)
    for i in range(start, stop):
        code = side[i]
        if code <= 1:
            _bp012_point(x[i], code == 1, alpha, lo, hi, den, c1, c2, log_h, e_h, out, i)
        else:
            side_constant(out, i, code, tot)


@njit(cache=True, error_model="numpy", nogil=True)
def bounded_pareto_between(a, b, alpha, lo, hi, den):  # pragma: no cover - compiled
    """``P(a < X <= b)`` of :class:`BoundedPareto` at each pair of ``a <= b`` (1-D; ``b`` may
    be inf) as one product, ``(low/a)**alpha (1 - (a/b)**alpha) / den`` with both ends
    clipped to the support: ``exp(-alpha log(a/low)) * -expm1(-alpha log(b/a)) / den``, the
    logarithms as ``log1p`` of relative differences. No difference of two probabilities is
    taken, so the value keeps its relative precision at any ``a`` and any width; NaN where
    an end is NaN."""
    n = a.size
    out = np.empty(n)
    for i in range(n):
        ai = a[i]
        bi = b[i]
        if ai != ai or bi != bi:
            out[i] = np.nan
            continue
        ac = min(max(ai, lo), hi)
        bc = min(max(bi, lo), hi)
        if bc <= ac:
            out[i] = 0.0
            continue
        head = np.exp(-alpha * np.log1p((ac - lo) / lo))  # (low/a)**alpha
        out[i] = min(head * -np.expm1(-alpha * np.log1p((bc - ac) / ac)) / den, 1.0)
    return out


def _mp_expm1_ratio(p, L):
    return L if p == 0 else mp.expm1(p * L) / p


# ---------------------------------------------------------------------------------
class Lognormal(HalfLineLaw):
    """Lognormal law: ``log X`` is normal with mean ``mu`` and standard deviation ``sigma``.

    Parameters
    ----------
    sigma : float
        Standard deviation of ``log X``, ``> 0``.
    mu : float, optional
        Mean of ``log X`` (default 0 when ``mean`` is not given).
    mean : float, optional
        Mean of ``X``, ``> 0``; then ``mu = log(mean) - sigma**2 / 2``. Give at
        most one of ``mu`` and ``mean``.

    Notes
    -----
    ``E[X**k; X <= x] = exp(k mu + k**2 sigma**2 / 2) Phi((log x - mu - k sigma**2) / sigma)``
    and the tail uses ``Phi(-...)``; both are evaluated through ``ndtr`` (or
    ``log_ndtr`` when the product would under- or overflow).

    Examples
    --------
    >>> d = Lognormal(sigma=1.0, mean=2.0)
    >>> round(d.moment(1), 12)
    2.0
    >>> import math
    >>> round(d.moment(2) / math.e, 12)  # E[X**2] = mean**2 exp(sigma**2)
    4.0
    >>> float(Lognormal(0.5).cdf(1.0))
    0.5
    """

    def __init__(self, sigma: float, mu: float | None = None, mean: float | None = None):
        self._sigma = check_positive("sigma", sigma)
        if mu is not None and mean is not None:
            raise ValueError("Lognormal: give at most one of mu, mean")
        if mean is not None:
            self._mu = float(np.log(check_positive("mean", mean)) - 0.5 * self._sigma**2)
        else:
            self._mu = check_finite("mu", 0.0 if mu is None else mu)

    def _params(self) -> dict:
        return {"sigma": self._sigma, "mu": self._mu}

    @property
    def sigma(self) -> float:
        """Standard deviation of ``log X``."""
        return self._sigma

    @property
    def mu(self) -> float:
        """Mean of ``log X``."""
        return self._mu

    @property
    def scale(self) -> float:
        return float(np.exp(self._mu))

    def _z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(np.maximum(x, 0.0)) - self._mu) / self._sigma

    def pdf(self, x):
        x = to_array(x)
        z = self._z(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.exp(-0.5 * z * z) / (x * self._sigma * np.sqrt(2.0 * np.pi))
        return finish(np.where(x > 0, out, 0.0), x)

    def cdf(self, x):
        x = to_array(x)
        return finish(special.ndtr(self._z(x)), x)

    def sf(self, x):
        x = to_array(x)
        return finish(special.ndtr(-self._z(x)), x)

    def _logc(self, k: float) -> float:
        return k * self._mu + 0.5 * (k * self._sigma) ** 2

    def moment(self, k: float) -> float:
        k = check_order(k)
        with np.errstate(over="ignore"):
            return float(np.exp(self._logc(k)))

    def _scaled_ndtr(self, k: float, w: np.ndarray) -> np.ndarray:
        """``exp(logc(k)) * Phi(w)`` without spurious under/overflow."""
        logc = self._logc(k)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            c = np.exp(logc)
            phi = special.ndtr(w)
            direct = c * phi
            via_log = np.exp(logc + special.log_ndtr(w))
        good = np.isfinite(c) & (c > 0) & (phi > 1e-290)
        return np.where(good, direct, via_log)

    def partial_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.cdf(x)
        x = to_array(x)
        w = self._z(x) - k * self._sigma
        return finish(self._scaled_ndtr(k, w), x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.sf(x)
        x = to_array(x)
        w = self._z(x) - k * self._sigma
        return finish(self._scaled_ndtr(k, -w), x)

    def sample(self, n: int, rng) -> np.ndarray:
        return as_generator(rng).lognormal(self._mu, self._sigma, size=check_count(n))

    def _mp_z(self, x):
        return (mp.log(x) - mp.mpf(self._mu)) / mp.mpf(self._sigma)

    def mp_pdf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.zero
        z = self._mp_z(x)
        return mp.exp(-z * z / 2) / (x * mp.mpf(self._sigma) * mp.sqrt(2 * mp.pi))

    def mp_cdf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.zero
        return mp.erfc(-self._mp_z(x) / mp.sqrt(2)) / 2

    def mp_sf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.one
        return mp.erfc(self._mp_z(x) / mp.sqrt(2)) / 2

    def mp_moment(self, k):
        k = mp.mpf(k)
        return mp.exp(k * mp.mpf(self._mu) + (k * mp.mpf(self._sigma)) ** 2 / 2)


# ---------------------------------------------------------------------------------
class Pareto(SizeDistribution):
    """Pareto law: density ``alpha xm**alpha / x**(alpha+1)`` on ``[xm, inf)``.

    Parameters
    ----------
    alpha : float
        Tail index, ``> 0``; moments of order ``k >= alpha`` are infinite.
    xm : float, default 1.0
        Lower end of the support, ``> 0``.

    Examples
    --------
    >>> d = Pareto(alpha=3.0, xm=2.0)
    >>> d.moment(1), d.moment(2), d.moment(3)
    (3.0, 12.0, inf)
    >>> float(d.sf(4.0)), float(d.tail_moment(1, 4.0))
    (0.125, 0.75)
    """

    def __init__(self, alpha: float, xm: float = 1.0):
        self._alpha = check_positive("alpha", alpha)
        self._xm = check_positive("xm", xm)

    def _params(self) -> dict:
        return {"alpha": self._alpha, "xm": self._xm}

    @property
    def alpha(self) -> float:
        """Tail index."""
        return self._alpha

    @property
    def xm(self) -> float:
        """Lower end of the support."""
        return self._xm

    @property
    def support(self) -> tuple[float, float]:
        return (self._xm, np.inf)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return (self._xm,)

    @property
    def scale(self) -> float:
        return float(self._xm * 2.0 ** (1.0 / self._alpha))

    def _L(self, x: np.ndarray) -> np.ndarray:
        """``log(max(x, xm)/xm)``."""
        return _log_ratio(np.maximum(x, self._xm), self._xm)

    def pdf(self, x):
        x = to_array(x)
        with np.errstate(divide="ignore"):
            out = self._alpha / self._xm * (self._xm / np.maximum(x, self._xm)) ** (self._alpha + 1)
        return finish(np.where(x >= self._xm, out, 0.0), x)

    def cdf(self, x):
        x = to_array(x)
        return finish(-np.expm1(-self._alpha * self._L(x)), x)

    def sf(self, x):
        x = to_array(x)
        return finish(np.exp(-self._alpha * self._L(x)), x)

    def moment(self, k: float) -> float:
        k = check_order(k)
        if k >= self._alpha:
            return float("inf")
        with np.errstate(over="ignore"):
            return float(self._alpha * self._xm**k / (self._alpha - k))

    def partial_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.cdf(x)
        x = to_array(x)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._alpha * self._xm**k * _expm1_ratio(k - self._alpha, self._L(x))
        return finish(np.where(x > self._xm, out, 0.0), x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.sf(x)
        x = to_array(x)
        p = k - self._alpha
        if p >= 0:
            out = np.where(np.isposinf(x), 0.0, np.inf)
        else:
            with np.errstate(over="ignore", under="ignore"):
                out = self._alpha * self._xm**k * np.exp(p * self._L(x)) / -p
        return finish(out, x)

    def sample(self, n: int, rng) -> np.ndarray:
        e = as_generator(rng).standard_exponential(size=check_count(n))
        return self._xm * np.exp(e / self._alpha)

    def mp_pdf(self, x):
        x = mp.mpf(x)
        a, xm = mp.mpf(self._alpha), mp.mpf(self._xm)
        return a / xm * (xm / x) ** (a + 1) if x >= xm else mp.zero

    def mp_cdf(self, x):
        x = mp.mpf(x)
        a, xm = mp.mpf(self._alpha), mp.mpf(self._xm)
        return -mp.expm1(-a * mp.log(x / xm)) if x > xm else mp.zero

    def mp_sf(self, x):
        x = mp.mpf(x)
        a, xm = mp.mpf(self._alpha), mp.mpf(self._xm)
        return (xm / x) ** a if x > xm else mp.one

    def mp_moment(self, k):
        k = mp.mpf(k)
        a = mp.mpf(self._alpha)
        return mp.inf if k >= a else a * mp.mpf(self._xm) ** k / (a - k)


# ---------------------------------------------------------------------------------
class BoundedPareto(SizeDistribution):
    """Pareto law truncated to ``[low, high]``.

    Density ``alpha low**alpha x**(-alpha-1) / (1 - (low/high)**alpha)`` on
    ``[low, high]``.

    Parameters
    ----------
    alpha : float
        Tail index, ``> 0`` (any value: all moments are finite).
    low, high : float
        Ends of the support, ``0 < low < high``.

    Notes
    -----
    With ``p = k - alpha`` and ``D = 1 - (low/high)**alpha``,
    ``E[X**k; X <= x] = alpha low**k expm1(p log(x/low)) / (p D)`` and
    ``E[X**k; X > x] = alpha low**k (x/low)**p expm1(p log(high/x)) / (p D)``
    (``expm1(p L)/p -> L`` when ``k == alpha``).

    Examples
    --------
    >>> d = BoundedPareto(alpha=1.0, low=1.0, high=4.0)
    >>> d.moment(0), float(d.cdf(2.0))
    (1.0, 0.6666666666666666)
    >>> round(d.moment(1), 12)  # the log case k == alpha: (4/3) log 4
    1.848392481493
    """

    def __init__(self, alpha: float, low: float, high: float):
        self._alpha = check_positive("alpha", alpha)
        self._lo = check_positive("low", low)
        self._hi = check_positive("high", high)
        if not self._lo < self._hi:
            raise ValueError(f"low must be < high, got low={low!r}, high={high!r}")
        self._logr = float(_log_ratio(self._hi, self._lo))  # log(high/low)
        self._den = float(-np.expm1(-self._alpha * self._logr))  # 1 - (low/high)**alpha

    def _params(self) -> dict:
        return {"alpha": self._alpha, "low": self._lo, "high": self._hi}

    @property
    def alpha(self) -> float:
        """Tail index."""
        return self._alpha

    @property
    def support(self) -> tuple[float, float]:
        return (self._lo, self._hi)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return (self._lo, self._hi)

    @property
    def scale(self) -> float:
        return float(self._quantile(np.float64(0.5)))

    def _quantile(self, u: np.ndarray) -> np.ndarray:
        x = self._lo * np.exp(-np.log1p(-u * self._den) / self._alpha)
        return clip(x, self._lo, self._hi)

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return clip(x, self._lo, self._hi)

    def pdf(self, x):
        x = to_array(x)
        xc = self._clip(x)
        out = self._alpha / self._lo * (self._lo / xc) ** (self._alpha + 1) / self._den
        return finish(np.where((x >= self._lo) & (x <= self._hi), out, 0.0), x)

    def cdf(self, x):
        x = to_array(x)
        out = -np.expm1(-self._alpha * _log_ratio(self._clip(x), self._lo)) / self._den
        return finish(np.minimum(out, 1.0), x)

    def sf(self, x):
        x = to_array(x)
        xc = self._clip(x)
        a = self._alpha
        out = np.exp(-a * _log_ratio(xc, self._lo)) * -np.expm1(-a * _log_ratio(self._hi, xc))
        return finish(np.minimum(out / self._den, 1.0), x)

    def moment(self, k: float) -> float:
        k = check_order(k)
        if k == 0:
            return 1.0
        p = k - self._alpha
        with np.errstate(over="ignore"):
            return float(self._alpha * self._lo**k * _expm1_ratio(p, self._logr) / self._den)

    def partial_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.cdf(x)
        x = to_array(x)
        p = k - self._alpha
        L = _log_ratio(self._clip(x), self._lo)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._alpha * self._lo**k * _expm1_ratio(p, L) / self._den
        return finish(np.where(x > self._lo, out, 0.0), x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.sf(x)
        x = to_array(x)
        p = k - self._alpha
        xc = self._clip(x)
        with np.errstate(over="ignore", invalid="ignore"):
            lead = np.exp(p * _log_ratio(xc, self._lo))  # (x/low)**p
            out = self._alpha * self._lo**k * lead * _expm1_ratio(p, _log_ratio(self._hi, xc))
        return finish(np.where(x < self._hi, out / self._den, 0.0), x)

    def moments012(self, x, tail: bool = False) -> tuple:
        """The partial (``tail``: tail) moments of orders 0, 1 and 2 at the points of ``x`` in
        one compiled pass (:func:`bounded_pareto_012`, on threads for many points): the
        formulas of :meth:`cdf`/:meth:`sf`, :meth:`partial_moment` and :meth:`tail_moment`
        with the logarithms and exponentials of a point shared by the orders, within 1e-14
        relative of them (6e-15 the largest seen: alpha 0.3 over six decades). The SOAP
        engine's 4-segment rank on these sizes with exponential noise: 319 -> 289 ms.

        Examples
        --------
        >>> d = BoundedPareto(alpha=1.5, low=0.2, high=50.0)
        >>> m0, m1, m2 = d.moments012(np.array([0.1, 1.0, 60.0]), tail=True)
        >>> bool(np.allclose(m1, d.tail_moment(1, [0.1, 1.0, 60.0]), rtol=1e-14, atol=0))
        True
        """
        x = to_array(x)
        flat = np.ascontiguousarray(x.ravel())
        a, lo, hi, den = self._alpha, self._lo, self._hi, self._den
        with np.errstate(over="ignore"):
            c1, c2 = float(a * lo**1.0), float(a * lo**2.0)
        tail = bool(tail)
        out = concat_chunks(lambda s: (bounded_pareto_012(flat[s], a, lo, hi, den, c1, c2,
                                                          tail),), flat.size, (1,))[0]
        if x.ndim == 0:
            return tuple(float(v[0]) for v in out)
        return tuple(v.reshape(x.shape) for v in out)

    def prob_between(self, a, b) -> np.ndarray:
        """``P(a < X <= b)`` for ``a <= b`` in one compiled pass (:func:`bounded_pareto_between`,
        on threads for many pairs): ``(low/a)**alpha (1 - (a/b)**alpha) / den`` at the clipped
        ends, a product of two factors each accurate to a few ulps, so no cancellation at
        either end of the support (the generic difference of two ``sf`` or ``cdf`` values
        loses the digits of their common part).

        Examples
        --------
        >>> d = BoundedPareto(alpha=1.5, low=0.2, high=50.0)
        >>> bool(abs(d.prob_between(1.0, 2.0) / (d.cdf(2.0) - d.cdf(1.0)) - 1) < 1e-14)
        True
        >>> float(d.prob_between(49.0, np.inf)) > 0
        True
        """
        al, lo, hi, den = self._alpha, self._lo, self._hi, self._den
        return between_pairs(a, b, lambda x, y: bounded_pareto_between(x, y, al, lo, hi, den))

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """:meth:`SizeDistribution.moments012_sides
        <qtheory.distributions.base.SizeDistribution.moments012_sides>` in one compiled
        pass (:func:`bounded_pareto_012_sides`, on threads for many points), each point's
        numbers those of :meth:`moments012` on its side."""
        a, lo, hi, den = self._alpha, self._lo, self._hi, self._den
        with np.errstate(over="ignore"):
            c1, c2 = float(a * lo**1.0), float(a * lo**2.0)
        x, side, tot, out = sides_args(x, side, tot)
        map_chunks(lambda s: bounded_pareto_012_sides(x, side, tot, out, s.start, s.stop, a,
                                                      lo, hi, den, c1, c2), x.size)
        return out

    def sample(self, n: int, rng) -> np.ndarray:
        u = as_generator(rng).random(size=check_count(n))
        return self._quantile(u)

    def _mp_params(self):
        a, lo, hi = mp.mpf(self._alpha), mp.mpf(self._lo), mp.mpf(self._hi)
        return a, lo, hi, -mp.expm1(-a * mp.log(hi / lo))

    def mp_pdf(self, x):
        x = mp.mpf(x)
        a, lo, hi, den = self._mp_params()
        if not lo <= x <= hi:
            return mp.zero
        return a / lo * (lo / x) ** (a + 1) / den

    def mp_cdf(self, x):
        x = mp.mpf(x)
        a, lo, hi, den = self._mp_params()
        if x <= lo:
            return mp.zero
        if x >= hi:
            return mp.one
        return -mp.expm1(-a * mp.log(x / lo)) / den

    def mp_sf(self, x):
        x = mp.mpf(x)
        a, lo, hi, den = self._mp_params()
        if x <= lo:
            return mp.one
        if x >= hi:
            return mp.zero
        return (lo / x) ** a * -mp.expm1(-a * mp.log(hi / x)) / den

    def mp_moment(self, k):
        k = mp.mpf(k)
        a, lo, hi, den = self._mp_params()
        return a * lo**k * _mp_expm1_ratio(k - a, mp.log(hi / lo)) / den
