"""A size law conditioned on an interval: ``X | low < X <= high``.

All quantities are exact in the parent law: with ``P = P(low < X <= high)``,
``cdf(x) = P(low < X <= min(x, high)) / P`` and
``E[X**k; X <= x | low < X <= high] = (E[X**k; X <= min(x, high)] - E[X**k; X <= low]) / P``
(tail moments from the parent's tail moments when that avoids cancellation). It is the
posterior law of the size given perfect bucket advice (the size's bucket), used by
:class:`qtheory.policies.GittinsBuckets`.

Examples
--------
>>> import qtheory as qt
>>> t = Truncated(qt.Exponential(mean=1.0), 1.0, float("inf"))
>>> round(t.mean, 12), round(float(t.cdf(2.0)), 12)   # memoryless: 1 + Exp(1)
(2.0, 0.632120558829)
"""

from __future__ import annotations

import numpy as np

from .base import SizeDistribution, finish

__all__ = ["Truncated"]


class Truncated(SizeDistribution):
    """The law of ``X`` given ``low < X <= high``.

    Parameters
    ----------
    law : SizeDistribution
        The parent law.
    low, high : float
        Interval ends, ``0 <= low < high <= inf``; the interval must have positive mass.
    """

    def __init__(self, law: SizeDistribution, low: float, high: float):
        if not isinstance(law, SizeDistribution):
            raise ValueError(f"law must be a SizeDistribution, got {law!r}")
        low, high = float(low), float(high)
        if not (np.isfinite(low) and low >= 0):
            raise ValueError(f"low must be finite and >= 0, got {low!r}")
        if not high > low:
            raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")
        self.law, self.low, self.high = law, low, high
        self.is_discrete = law.is_discrete
        med = float(law.scale)
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
    def _pm(self, k, x):
        """E[X**k; low < X <= x] for x in [low, high] (array)."""
        L = self.law
        if self._upper:
            hi_tail = np.asarray(L.tail_moment(k, x), dtype=float)
            return float(L.tail_moment(k, self.low)) - hi_tail
        return np.asarray(L.partial_moment(k, x), dtype=float) - float(
            L.partial_moment(k, self.low))

    def _clip(self, x):
        return np.clip(x, self.low, self.high)

    # ------------------------------------------------------------------ interface
    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x > self.low) & (x <= self.high)
        out = np.where(inside, np.asarray(self.law.pdf(np.where(inside, x, self._lo)),
                                          dtype=float) / self.mass, 0.0)
        return finish(out, x)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        out = np.clip(self._pm(0, self._clip(x)) / self.mass, 0.0, 1.0)
        return finish(np.where(x <= self.low, 0.0, out), x)

    def sf(self, x):
        x = np.asarray(x, dtype=float)
        xc = self._clip(x)
        L = self.law
        if np.isfinite(self.high):
            raw = np.asarray(L.sf(xc), dtype=float) - float(L.sf(self.high))
        else:
            raw = np.asarray(L.sf(xc), dtype=float)
        alt = self.mass - self._pm(0, xc)
        out = np.where(xc >= float(L.scale), raw, alt) / self.mass
        out = np.clip(out, 0.0, 1.0)
        return finish(np.where(x < self.low, 1.0, out), x)

    def moment(self, k: float) -> float:
        if np.isfinite(self.high):
            return float(self._pm(k, np.array(self.high))) / self.mass
        return float(self.law.tail_moment(k, self.low)) / self.mass

    def partial_moment(self, k: float, x):
        x = np.asarray(x, dtype=float)
        out = np.maximum(self._pm(k, self._clip(x)), 0.0) / self.mass
        return finish(np.where(x <= self.low, 0.0, out), x)

    def tail_moment(self, k: float, x):
        x = np.asarray(x, dtype=float)
        xc = self._clip(x)
        L = self.law
        top = float(L.tail_moment(k, self.high)) if np.isfinite(self.high) else 0.0
        out = np.maximum(np.asarray(L.tail_moment(k, xc), dtype=float) - top, 0.0) / self.mass
        out = np.where(x < self.low, self.moment(k), out)
        return finish(out, x)

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
