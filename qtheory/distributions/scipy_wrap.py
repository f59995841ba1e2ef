"""Wrap a frozen :mod:`scipy.stats` continuous law as a :class:`SizeDistribution`.

Moments are computed numerically, one :func:`scipy.integrate.quad` call per
element (slow but dependable):

* ``partial_moment(k, x) = int_lo^x t**k pdf(t) dt``;
* ``tail_moment(k, x) = x**k sf(x) + k int_x^hi t**(k-1) sf(t) dt``
  (integration by parts: both terms are positive and use the law's own
  ``sf``, so the tail keeps relative precision deep in the tail).

Intervals are cut at the breakpoints and at the median; pieces above the median
are integrated in ``log t`` so that mass near the median is never missed. A
moment over an unbounded support is declared infinite when ``t**k sf(t)`` fails
to decrease between ``1e8`` and ``1e16`` medians (or when quadrature does not
return a finite value).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from mpmath import mp
from scipy import integrate, stats

from .base import SizeDistribution, as_generator, check_count, check_order, finish, to_array

__all__ = ["ScipyDistribution", "as_distribution"]

_EPSREL = 1e-13
_VECTOR_MIN = 64
_VECTOR_LEVEL = 5


def _quad(f, lo: float, hi: float) -> float:
    if not lo < hi:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        with np.errstate(all="ignore"):
            val, _ = integrate.quad(f, lo, hi, epsabs=0.0, epsrel=_EPSREL, limit=200)
    return float(val)


def _safe(g, t: float) -> float:
    """``g(t)``, with 0 where it is undefined (``t == 0`` with a negative power, overflow)."""
    if t <= 0.0:
        return 0.0
    try:
        v = float(g(t))
    except (ZeroDivisionError, OverflowError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _is_frozen(obj, kind) -> bool:
    return isinstance(getattr(obj, "dist", None), kind) and hasattr(obj, "args")


class ScipyDistribution(SizeDistribution):
    """Any frozen continuous :mod:`scipy.stats` law with support in ``[0, inf)``.

    Parameters
    ----------
    dist : frozen ``scipy.stats`` continuous distribution
        E.g. ``scipy.stats.gamma(2.0, scale=0.5)``. Discrete laws and laws
        whose support starts below 0 are refused (``ValueError``).
    breakpoints : sequence of float, optional
        Extra points where the density is not smooth (the finite support ends
        ``> 0`` are always included).

    Notes
    -----
    ``pdf``, ``cdf``, ``sf`` and ``sample`` are the frozen law's own. Moments
    use adaptive quadrature per element (see the module docstring); they are
    accurate to about ``1e-12`` relative. The Gittins and SERPT ranks and the
    age-rank SOAP analysis use the law's :class:`~qtheory.Tabulated` twin instead
    (:func:`~qtheory.distributions.tabulated.fast_law`), built once per object.
    ``mp_pdf``, ``mp_cdf`` and ``mp_sf`` only convert the double-precision values.

    Examples
    --------
    >>> from scipy import stats
    >>> d = ScipyDistribution(stats.expon(scale=2.0))
    >>> round(d.moment(2), 10)
    8.0
    >>> round(d.tail_moment(1, 2.0) * math.e, 12)  # E[X; X > 2] = 4/e
    4.0
    """

    def __init__(self, dist, breakpoints=()):
        if _is_frozen(dist, stats.rv_discrete):
            raise ValueError("dist: discrete scipy laws are not supported; use Discrete")
        if not _is_frozen(dist, stats.rv_continuous):
            raise TypeError(
                f"dist: expected a frozen scipy.stats continuous distribution, "
                f"got {type(dist).__name__}"
            )
        lo, hi = dist.support()
        if np.ndim(lo) != 0 or np.ndim(hi) != 0:
            raise ValueError("dist: array-valued (vectorised) frozen laws are not supported")
        lo, hi = float(lo), float(hi)
        if not lo >= 0 or not hi > lo:
            raise ValueError(f"dist: support must lie in [0, inf), got ({lo}, {hi})")
        self._dist = dist
        self._lo, self._hi = lo, hi
        try:
            extra = [float(b) for b in np.atleast_1d(np.asarray(breakpoints, dtype=float))]
        except (TypeError, ValueError):
            raise ValueError("breakpoints must be a sequence of numbers") from None
        if not all(np.isfinite(b) and b >= 0 for b in extra):
            raise ValueError("breakpoints must be finite and >= 0")
        pts = set(extra)
        if lo > 0:
            pts.add(lo)
        if np.isfinite(hi):
            pts.add(hi)
        self._bp = tuple(sorted(pts))
        med = float(dist.median())
        if not (np.isfinite(med) and lo < med < hi):
            med = 0.5 * (lo + hi) if np.isfinite(hi) else max(2.0 * lo, 1.0)
        self._med = med
        self._moments: dict[float, float] = {}

    @property
    def dist(self):
        """The wrapped frozen scipy law."""
        return self._dist

    def _params(self) -> dict:
        return {"dist": self._dist, "breakpoints": self._bp}

    def __repr__(self) -> str:
        d = self._dist
        args = [repr(a) for a in d.args] + [f"{k}={v!r}" for k, v in d.kwds.items()]
        return f"ScipyDistribution({d.dist.name}({', '.join(args)}))"

    @property
    def support(self) -> tuple[float, float]:
        return (self._lo, self._hi)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return self._bp

    @property
    def scale(self) -> float:
        return self._med

    # --- pointwise ------------------------------------------------------------------
    def pdf(self, x):
        x = to_array(x)
        return finish(np.asarray(self._dist.pdf(x), dtype=float), x)

    def cdf(self, x):
        x = to_array(x)
        return finish(np.asarray(self._dist.cdf(x), dtype=float), x)

    def sf(self, x):
        x = to_array(x)
        return finish(np.asarray(self._dist.sf(x), dtype=float), x)

    # --- quadrature -------------------------------------------------------------------
    def _integral(self, g, a: float, b: float) -> float:
        """``int_a^b g(t) dt``, cut at breakpoints and the median; log variable above it."""
        if not a < b:
            return 0.0
        cuts = sorted({a, b} | {p for p in (*self._bp, self._med) if a < p < b})
        total = 0.0
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            if lo >= self._med:
                ulo, uhi = math.log(lo), (math.log(hi) if np.isfinite(hi) else np.inf)
                total += _quad(
                    lambda u: _safe(g, math.exp(u)) * math.exp(u) if u < 700 else 0.0, ulo, uhi
                )
            else:
                total += _quad(lambda t: _safe(g, t), lo, hi)
        return total

    def _pdf1(self, t: float) -> float:
        return float(self._dist.pdf(t))

    def _sf1(self, t: float) -> float:
        return float(self._dist.sf(t))

    def _partial1(self, k: float, x: float) -> float:
        if not x > self._lo:
            return 0.0
        if x >= self._hi:
            return self.moment(k)
        return self._integral(lambda t: t**k * self._pdf1(t), self._lo, x)

    def _tail1(self, k: float, x: float) -> float:
        if x >= self._hi:
            return 0.0
        x = max(x, self._lo)
        if not np.isfinite(self.moment(k)):
            return float("inf")
        head = x**k * self._sf1(x) if x > 0 else 0.0
        return head + k * self._integral(lambda t: t ** (k - 1) * self._sf1(t), x, self._hi)

    def _diverges(self, k: float) -> bool:
        if np.isfinite(self._hi):
            return False
        s = max(self._med, 1e-300)
        t1, t2 = s * 1e8, s * 1e16
        g1, g2 = t1**k * self._sf1(t1), t2**k * self._sf1(t2)
        return g2 > 0 and g2 >= g1

    def moment(self, k: float) -> float:
        k = check_order(k)
        if k == 0:
            return 1.0
        if k not in self._moments:
            if self._diverges(k):
                val = float("inf")
            else:
                lo = self._lo
                head = lo**k if lo > 0 else 0.0
                g = lambda t: t ** (k - 1) * self._sf1(t)  # noqa: E731
                val = head + k * self._integral(g, lo, self._hi)
                if not np.isfinite(val):
                    val = float("inf")
            self._moments[k] = val
        return self._moments[k]

    # Arrays of more than _VECTOR_MIN points (the quadrature engine asks for tens of
    # thousands) use one vectorised tanh-sinh rule per piece between breakpoints
    # instead of one quad call per point. Pieces: [lo, b_1, ..., b_m, median] clipped
    # to [lo, x] (partial) or [x, hi] (tail, with an exp-sinh piece to infinity).
    def _pieces(self, lo_arr, hi_arr):
        cuts = np.array(sorted({*self._bp, self._med} - {self._lo, self._hi}), dtype=float)
        pts = np.clip(cuts[None, :], lo_arr[:, None], hi_arr[:, None])
        return np.concatenate([lo_arr[:, None], pts, hi_arr[:, None]], axis=1)

    def _vector_integral(self, k: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        from ..analysis.quadrature import finite_nodes, halfline_nodes, tanh_sinh_rule

        rule = tanh_sinh_rule(_VECTOR_LEVEL)
        finite_b = np.where(np.isfinite(b), b, np.maximum(a, max(self._med, self._lo)))
        edges = self._pieces(a, finite_b)
        t, w = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
        with np.errstate(all="ignore"):
            vals = np.where(w > 0, t**k * np.asarray(self._dist.pdf(t), float) * w, 0.0)
        total = vals.sum(axis=(-1, -2))
        inf = ~np.isfinite(b)
        if np.any(inf):
            start = finite_b[inf]
            th, wh = halfline_nodes(start, np.maximum(start, max(self._med, 1e-300)),
                                    _VECTOR_LEVEL)
            with np.errstate(all="ignore"):
                vh = np.where(wh > 0, th**k * np.asarray(self._dist.pdf(th), float) * wh, 0.0)
            total[inf] += np.nan_to_num(vh).sum(axis=-1)
        return total

    def partial_moment(self, k: float, x):
        k = check_order(k)
        x = to_array(x)
        if k == 0:
            return self.cdf(x)
        if x.size > _VECTOR_MIN and np.isfinite(self.moment(k)):
            flat = np.nan_to_num(x.ravel(), nan=self._lo)
            xx = np.clip(flat, self._lo, self._hi)
            out = self._vector_integral(k, np.full(xx.shape, self._lo), xx)
            return finish(out.reshape(x.shape), x)
        vals = [self._partial1(k, float(xi)) if not np.isnan(xi) else np.nan for xi in x.flat]
        return finish(np.array(vals, dtype=float).reshape(x.shape), x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        x = to_array(x)
        if k == 0:
            return self.sf(x)
        if x.size > _VECTOR_MIN and np.isfinite(self.moment(k)):
            flat = np.nan_to_num(x.ravel(), nan=self._lo)
            xx = np.clip(flat, self._lo, self._hi)
            out = self._vector_integral(k, xx, np.full(xx.shape, self._hi))
            out = np.where(flat >= self._hi, 0.0, out)
            return finish(out.reshape(x.shape), x)
        vals = [self._tail1(k, float(xi)) if not np.isnan(xi) else np.nan for xi in x.flat]
        return finish(np.array(vals, dtype=float).reshape(x.shape), x)

    def sample(self, n: int, rng) -> np.ndarray:
        n = check_count(n)
        return np.asarray(self._dist.rvs(size=n, random_state=as_generator(rng)), dtype=float)

    # --- mpmath (double precision only) -------------------------------------------------
    def mp_pdf(self, x):
        return mp.mpf(self._pdf1(float(x)))

    def mp_cdf(self, x):
        return mp.mpf(float(self._dist.cdf(float(x))))

    def mp_sf(self, x):
        return mp.mpf(self._sf1(float(x)))

    def mp_moment(self, k):
        return mp.mpf(self.moment(float(k)))


def as_distribution(obj) -> SizeDistribution:
    """Return ``obj`` as a :class:`SizeDistribution`.

    A :class:`SizeDistribution` is returned unchanged; a frozen continuous
    :mod:`scipy.stats` law is wrapped in :class:`ScipyDistribution`; anything
    else (including frozen discrete scipy laws) raises ``TypeError``.

    Examples
    --------
    >>> from scipy import stats
    >>> as_distribution(stats.uniform(1.0, 2.0))
    ScipyDistribution(uniform(1.0, 2.0))
    """
    if isinstance(obj, SizeDistribution):
        return obj
    if _is_frozen(obj, stats.rv_continuous):
        return ScipyDistribution(obj)
    if _is_frozen(obj, stats.rv_discrete):
        raise TypeError("as_distribution: discrete scipy laws are not supported; use Discrete")
    raise TypeError(
        f"as_distribution: expected a SizeDistribution or a frozen scipy.stats continuous "
        f"distribution, got {type(obj).__name__}"
    )
