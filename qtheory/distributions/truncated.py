"""A size law conditioned on an interval: ``X | low < X <= high``.

All quantities are exact in the parent law: with ``P = P(low < X <= high)``,
``cdf(x) = P(low < X <= min(x, high)) / P`` and
``E[X**k; X <= x | low < X <= high] = (E[X**k; X <= min(x, high)] - E[X**k; X <= low]) / P``
(tail moments from the parent's tail moments when that avoids cancellation). It is the
posterior law of the size given perfect bucket advice (the size's bucket): one class of
:class:`qtheory.analysis.multiclass.ClassRankAnalysis` per bucket, ranked by
:func:`qtheory.analysis.gittins.gittins_rank` (``docs/soap.md``, "Several classes").

Every function is vectorised over ``x`` (any shape; a float for a scalar), with one call to
the parent's vectorised function per call; the parent's values at the interval ends are
computed once per law object (the Gittins rank and the quadrature engines call these
functions hundreds of times). The density is closed at the lower end of the support (its
right limit there), as for the other laws.

Examples
--------
>>> import qtheory as qt
>>> t = Truncated(qt.Exponential(mean=1.0), 1.0, float("inf"))
>>> round(t.mean, 12), round(float(t.cdf(2.0)), 12)   # memoryless: 1 + Exp(1)
(2.0, 0.632120558829)
"""

from __future__ import annotations

import numpy as np

from .base import SizeDistribution, check_interval, clip, finish

__all__ = ["Truncated"]


class Truncated(SizeDistribution):
    """The law of ``X`` given ``low < X <= high``.

    Parameters
    ----------
    law : SizeDistribution
        The parent law.
    low, high : float
        Interval ends, ``0 <= low < high <= inf``; the interval must have positive mass.

    Examples
    --------
    >>> import qtheory as qt
    >>> t = Truncated(qt.Uniform(0.0, 4.0), 1.0, 3.0)      # uniform on (1, 3]
    >>> t.mean, t.support, t.cdf([0.0, 2.0, 3.0]).tolist()
    (2.0, (1.0, 3.0), [0.0, 0.5, 1.0])
    """

    def __init__(self, law: SizeDistribution, low: float, high: float):
        if not isinstance(law, SizeDistribution):
            raise ValueError(f"law must be a SizeDistribution, got {law!r}")
        low, high = check_interval(low, high)
        self.law, self.low, self.high = law, low, high
        self.is_discrete = law.is_discrete
        med = float(law.scale)
        self._parent_med = med
        self._upper = low >= med  # compute masses from the right tail
        mass = float(law.sf(low)) - (float(law.sf(high)) if np.isfinite(high) else 0.0) \
            if self._upper else float(law.cdf(high)) - float(law.cdf(low))
        if not mass > 0:
            raise ValueError(f"the interval ({low!r}, {high!r}] has no mass under {law!r}")
        self.mass = mass
        lo, hi = law.support
        self._lo = max(float(lo), low)
        self._hi = min(float(hi), high)
        if self.is_discrete:
            v, p = law.atoms
            keep = (v > low) & (v <= high)
            self.atoms = (v[keep], p[keep] / p[keep].sum())

    # ------------------------------------------------------------------ helpers
    def _const(self, name: str, k: float, fn) -> float:
        """A quantity that does not depend on ``x`` (a parent value at an interval end, a
        moment): ``fn()``, computed once per law object, since the rank and quadrature code
        calls the vectorised functions below thousands of times."""
        key = (name, k)
        cache = self.__dict__.setdefault("_const_cache", {})
        v = cache.get(key)
        if v is None:
            v = cache[key] = float(fn())
        return v

    def _pm(self, k, x):
        """E[X**k; low < X <= x] for x in [low, high] (array)."""
        L = self.law
        if self._upper:
            hi_tail = np.asarray(L.tail_moment(k, x), dtype=float)
            return self._const("tail_low", k, lambda: L.tail_moment(k, self.low)) - hi_tail
        return np.asarray(L.partial_moment(k, x), dtype=float) - self._const(
            "partial_low", k, lambda: L.partial_moment(k, self.low))

    def _clip(self, x):
        return clip(x, self.low, self.high)

    # ------------------------------------------------------------------ interface
    def pdf(self, x):
        """Density ``f(x) / P`` on ``[low, high]`` (closed at the lower end of the support, as
        the other laws: the right limit there); 0 outside. Vectorised over ``x``.

        Examples
        --------
        >>> import qtheory as qt
        >>> t = Truncated(qt.Exponential(mean=1.0), 1.0, float("inf"))
        >>> [round(float(v), 12) for v in t.pdf([0.5, 1.0, 2.0])]
        [0.0, 1.0, 0.367879441171]
        """
        x = np.asarray(x, dtype=float)
        inside = (x >= self._lo) & (x <= self.high)
        out = np.where(inside, np.asarray(self.law.pdf(np.where(inside, x, self._lo)),
                                          dtype=float) / self.mass, 0.0)
        return finish(out, x)

    def cdf(self, x):
        """``P(X <= x | low < X <= high)``, vectorised over ``x`` (a float for a scalar).

        Examples
        --------
        >>> import qtheory as qt
        >>> t = Truncated(qt.Uniform(0.0, 4.0), 1.0, 3.0)
        >>> t.cdf([0.5, 1.5, 2.0, 5.0]).tolist()
        [0.0, 0.25, 0.5, 1.0]
        """
        x = np.asarray(x, dtype=float)
        out = clip(self._pm(0, self._clip(x)) / self.mass, 0.0, 1.0)
        return finish(np.where(x <= self.low, 0.0, out), x)

    def sf(self, x):
        """``P(X > x | low < X <= high)``, vectorised over ``x``: from the parent's survival
        function above its median, from the interval's cdf below (no cancellation)."""
        x = np.asarray(x, dtype=float)
        xc = self._clip(x)
        L = self.law
        up = xc >= self._parent_med
        out = None
        if np.any(up):
            out = raw = np.asarray(L.sf(xc), dtype=float)
            if np.isfinite(self.high):
                out = raw = raw - self._const("sf_high", 0, lambda: L.sf(self.high))
        if out is None or not np.all(up):
            alt = self.mass - self._pm(0, xc)
            out = alt if out is None else np.where(up, raw, alt)
        out = clip(out / self.mass, 0.0, 1.0)
        return finish(np.where(x < self.low, 1.0, out), x)

    def moment(self, k: float) -> float:
        """``E[X**k | low < X <= high]`` (cached per order ``k``).

        Examples
        --------
        >>> import qtheory as qt
        >>> Truncated(qt.Uniform(0.0, 4.0), 1.0, 3.0).moment(1)
        2.0
        """
        if np.isfinite(self.high):
            return self._const("moment", k, lambda: self._pm(k, np.array(self.high)) / self.mass)
        return self._const("moment", k, lambda: self.law.tail_moment(k, self.low) / self.mass)

    def partial_moment(self, k: float, x):
        """``E[X**k; X <= x | low < X <= high]``, vectorised over ``x``.

        Examples
        --------
        >>> import qtheory as qt
        >>> t = Truncated(qt.Uniform(0.0, 4.0), 1.0, 3.0)
        >>> t.partial_moment(1, [1.0, 2.0, 3.0, 9.0]).tolist()
        [0.0, 0.75, 2.0, 2.0]
        """
        x = np.asarray(x, dtype=float)
        out = np.maximum(self._pm(k, self._clip(x)), 0.0) / self.mass
        return finish(np.where(x <= self.low, 0.0, out), x)

    def tail_moment(self, k: float, x):
        """``E[X**k; X > x | low < X <= high]``, vectorised over ``x``: from the parent's tail
        moments (no cancellation in the tail).

        Examples
        --------
        >>> import qtheory as qt
        >>> t = Truncated(qt.Uniform(0.0, 4.0), 1.0, 3.0)
        >>> t.tail_moment(1, [0.0, 2.0, 3.0]).tolist()
        [2.0, 1.25, 0.0]
        """
        x = np.asarray(x, dtype=float)
        xc = self._clip(x)
        L = self.law
        top = self._const("tail_high", k, lambda: L.tail_moment(k, self.high)) \
            if np.isfinite(self.high) else 0.0
        out = np.maximum(np.asarray(L.tail_moment(k, xc), dtype=float) - top, 0.0) / self.mass
        below = x < self.low
        if np.any(below):
            out = np.where(below, self.moment(k), out)
        return finish(out, x)

    @property
    def scale(self) -> float:
        """The median (cached): a 31-section search on the cdf, 31 points a call, to adjacent
        floats."""
        cached = self.__dict__.get("_median_cache")
        if cached is not None:
            return cached
        if self.is_discrete:
            return super().scale
        value = self._median_by_sections(self._lo, self._hi, max(2.0 * self._lo, 1.0))
        self.__dict__["_median_cache"] = value
        return value

    def sample(self, n: int, rng) -> np.ndarray:
        """Inverse-cdf sampling by bisection (vectorised), to 1e-14 relative."""
        gen = np.random.default_rng(rng)
        u = gen.random(int(n))
        lo = np.full(u.shape, self._lo)
        hi = np.full(u.shape, self._hi if np.isfinite(self._hi) else max(1.0, self._lo))
        while np.any(np.asarray(self.cdf(hi)) < u):
            grow = np.asarray(self.cdf(hi)) < u
            hi = np.where(grow, 2.0 * hi, hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            below = np.asarray(self.cdf(mid)) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            if np.all(hi - lo <= 1e-14 * np.maximum(hi, 1e-300)):
                break
        return hi

    @property
    def support(self) -> tuple[float, float]:
        return (self._lo, self._hi)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        pts = [b for b in self.law.breakpoints if self._lo < b < self._hi]
        # the ends of the support: the density jumps there (as a bounded Pareto or uniform
        # law lists its ends); left out, the quadratures over a prediction's noise factor of
        # a bucket law did not cut there and stopped at 1e-8 to 1e-6 (Weibull 1.5 on
        # [0.3, 2], exponential noise: the probability of Y <= 0.7 to 2.1e-7)
        pts += [e for e in (self._lo, self._hi) if 0.0 < e < np.inf]
        return tuple(sorted(set(pts)))

    def mp_pdf(self, x):
        return self.law.mp_pdf(x) / self.mass if self.low < x <= self.high else 0 * x

    def mp_cdf(self, x):
        if x <= self.low:
            return 0 * x
        hi = min(x, self.high) if np.isfinite(self.high) else x
        return (self.law.mp_cdf(hi) - self.law.mp_cdf(self.low)) / self.mass

    def mp_sf(self, x):
        return 1 - self.mp_cdf(x)

    def _params(self) -> dict:
        return {"law": self.law, "low": self.low, "high": self.high}
