"""Base class of job-size laws.

A size law is a probability law on [0, inf). Every law exposes the same
vectorised interface, which the analytic engine relies on:

* ``pdf``, ``cdf``, ``sf`` (``sf`` is computed directly, never as ``1 - cdf``,
  so that tails keep full relative precision);
* ``moment(k)`` = E[X**k] (``inf`` where it diverges);
* ``partial_moment(k, x)`` = E[X**k; X <= x] and ``tail_moment(k, x)`` =
  E[X**k; X > x], each computed directly so that neither is a difference of
  nearly equal numbers;
* ``breakpoints``: the finite points of [0, inf) where the density is not
  smooth (support ends, kinks, atoms), which quadrature must not straddle;
* ``sample(n, rng)`` from a :class:`numpy.random.Generator` or a seed;
* ``mp_pdf``, ``mp_cdf``, ``mp_sf`` on :mod:`mpmath` numbers, used by the
  independent high-precision method.

Laws with atoms (``Deterministic``, ``Discrete``, ``Empirical``) set
``is_discrete = True`` and expose ``atoms = (values, probs)``.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod

import numpy as np
from numba import njit

from .._threads import concat_chunks

__all__ = [
    "HalfLineLaw",
    "SizeDistribution",
    "as_generator",
    "check_positive",
    "check_finite",
    "check_order",
    "check_count",
    "check_probs",
    "to_array",
    "finish",
    "sides_args",
    "between_pairs",
    "side_constant",
]


def as_generator(rng) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a Generator or None.

    ``None`` is refused: every random result in qtheory must be reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise ValueError("rng: pass a seed (int) or a numpy.random.Generator; None is not allowed")
    if isinstance(rng, numbers.Integral) or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng: expected an int seed or numpy.random.Generator, got {type(rng).__name__}"
    )


def check_positive(name: str, value, allow_zero: bool = False) -> float:
    """Validate a positive finite scalar parameter and return it as float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return v


def check_finite(name: str, value) -> float:
    """Validate a finite scalar parameter and return it as float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_order(k) -> float:
    """Validate a moment order ``k`` (finite real, ``k >= 0``) and return it as float."""
    return check_positive("k", k, allow_zero=True)


def check_count(n) -> int:
    """Validate a sample size ``n`` (integer, ``n >= 0``) and return it as int."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    return int(n)


def check_probs(probs, size: int, name: str = "probs") -> np.ndarray:
    """Validate a probability vector of length ``size`` and return it normalised.

    Entries must be finite and ``>= 0`` and sum to 1 within ``1e-9``; the result
    is divided by its sum.
    """
    try:
        p = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if p.ndim != 1 or p.size != size:
        raise ValueError(f"{name} must be a 1-D array of length {size}, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    total = float(p.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1 (within 1e-9), got sum {total!r}")
    return p / total


def check_interval(low, high) -> tuple[float, float]:
    """``(low, high)`` as floats for an interval ``low < X <= high`` of sizes:
    ``0 <= low < high <= inf``; raises ValueError naming the parameter otherwise."""
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"low and high must be numbers, got low={low!r}, high={high!r}") \
            from None
    if not (np.isfinite(low) and low >= 0):
        raise ValueError(f"low must be finite and >= 0, got {low!r}")
    if not high > low:
        raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")
    return low, high


def to_array(x) -> np.ndarray:
    """``x`` as a float ndarray (any shape)."""
    return np.asarray(x, dtype=float)


def clip(x, lo, hi):
    """``np.clip(x, lo, hi)`` for float data (NaN stays NaN), as ``minimum(maximum(x, lo),
    hi)``: the same values at about half the cost of ``np.clip``'s dispatch on the small
    arrays of a rank solver's iterations.

    Examples
    --------
    >>> clip(np.array([-1.0, 0.5, 3.0, np.nan]), 0.0, 1.0).tolist()[:3]
    [0.0, 0.5, 1.0]
    """
    return np.minimum(np.maximum(x, lo), hi)


def sides_args(x, side, tot) -> tuple:
    """The arguments of a compiled :meth:`SizeDistribution.moments012_sides` as its kernels
    take them (contiguous 1-D ``x``, ``int8`` codes, three totals) and its output array
    ``(3, n)``."""
    x = np.ascontiguousarray(x, dtype=float).ravel()
    side = np.ascontiguousarray(side, dtype=np.int8).ravel()
    if side.size != x.size:
        raise ValueError(f"side: {side.size} codes for {x.size} points")
    tot = np.ascontiguousarray(tot, dtype=float)
    return x, side, tot, np.empty((3, x.size))


def between_pairs(a, b, kernel) -> np.ndarray:
    """``kernel(a, b)`` of a compiled ``prob_between`` pass on the pairs of ``a`` and ``b``
    (broadcast, each as contiguous 1-D chunks, on threads for many pairs:
    :func:`qtheory._threads.concat_chunks`), shaped as the broadcast pairs."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    shape = a.shape
    fa, fb = np.ascontiguousarray(a.ravel()), np.ascontiguousarray(b.ravel())
    out = concat_chunks(lambda s: (kernel(fa[s], fb[s]),), fa.size, (0,))[0]
    return out.reshape(shape)


@njit(cache=True, inline="always")
def side_constant(out, i, code, tot):  # pragma: no cover - compiled
    """Column ``i`` of a compiled :meth:`SizeDistribution.moments012_sides` at a point of
    side code 2 (zeros) or 3 (the caller's totals ``tot``): the codes' one definition for
    the laws' ``*_sides`` kernels."""
    for k in range(3):
        out[k, i] = tot[k] if code == 3 else 0.0


def finish(out, x: np.ndarray):
    """Propagate NaN from ``x`` into ``out``; return a Python float for 0-d input."""
    out = np.where(np.isnan(x), np.nan, np.asarray(out, dtype=float))
    return float(out) if out.ndim == 0 else out


class SizeDistribution(ABC):
    """Abstract job-size law on [0, inf). See the module docstring."""

    is_discrete: bool = False

    # --- required -----------------------------------------------------------------
    @abstractmethod
    def pdf(self, x):
        """Density at ``x`` (0 outside the support). Discrete laws raise TypeError."""

    @abstractmethod
    def cdf(self, x):
        """P(X <= x)."""

    @abstractmethod
    def sf(self, x):
        """P(X > x), computed without cancellation."""

    def prob_between(self, a, b) -> np.ndarray:
        """``P(a < X <= b)`` for ``a <= b`` (arrays, broadcast; ``b`` may be inf) without
        cancellation: ``sf(a) - sf(b)`` where ``a`` is at or above the median, ``cdf(b) -
        cdf(a)`` below it, each evaluated only where it is used. As a difference of cdfs it
        is 0 once ``P(X > a) < 1e-16``, and over a power tail that lost SOAP's analysis
        6.2e-9 of ``E[X]`` (SRPT on Pareto(2.05) sizes, ``tests/test_soap.py``).

        Examples
        --------
        >>> import qtheory as qt
        >>> float(qt.Exponential(mean=1.0).prob_between(40.0, np.inf))  # exp(-40)
        4.248354255291589e-18
        """
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        up = a >= self.scale
        out = np.empty(a.shape)
        with np.errstate(invalid="ignore"):
            if np.any(up):
                out[up] = (np.asarray(self.sf(a[up]), dtype=float)
                           - np.asarray(self.sf(b[up]), dtype=float))
            if not np.all(up):
                low = ~up
                out[low] = (np.asarray(self.cdf(b[low]), dtype=float)
                            - np.asarray(self.cdf(a[low]), dtype=float))
        return out

    @abstractmethod
    def moment(self, k: float) -> float:
        """E[X**k] for real k >= 0 (``inf`` when it diverges)."""

    @abstractmethod
    def partial_moment(self, k: float, x):
        """E[X**k; X <= x], vectorised over ``x``."""

    @abstractmethod
    def tail_moment(self, k: float, x):
        """E[X**k; X > x], vectorised over ``x`` (``inf`` when it diverges)."""

    def moments012(self, x, tail: bool = False) -> tuple:
        """The partial moments of orders 0, 1 and 2 at the points of ``x`` (the tail
        moments with ``tail``): ``(partial_moment(0, x), partial_moment(1, x),
        partial_moment(2, x))``, the same values; laws that share work between the orders
        override it (a posterior bucket looks its three tables up in one pass). The SOAP
        engine takes its cells' moments through :meth:`moments012_sides`, each edge on its
        side.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = qt.Exponential(mean=1.0)
        >>> p0, p1, p2 = law.moments012(np.array([0.5, 2.0]))
        >>> bool(np.all(p2 == law.partial_moment(2, [0.5, 2.0])))
        True
        """
        f = self.tail_moment if tail else self.partial_moment
        return tuple(f(k, x) for k in (0.0, 1.0, 2.0))

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """The one-sided moments of orders 0, 1 and 2 at the points of ``x`` (1-D), each on
        its side: ``(3, n)`` with column ``i`` :meth:`moments012` at ``x[i]`` where
        ``side[i]`` is 0 (partial moments) or 1 (tail moments), zeros where it is 2 and the
        totals ``tot`` (``E[X^0], E[X^1], E[X^2]``) where it is 3. The SOAP engine's cell
        moments take them this way, one call for all the cells' edges: laws with a compiled
        :meth:`moments012` write them in one pass, with no gathering of each side's points
        and scattering back (:class:`~qtheory.analysis.soap._Moments`; 10-25 % of the
        other-job functions' time before); here, the two sides' calls of
        :meth:`moments012`, the same numbers.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = qt.Exponential(mean=1.0)
        >>> x = np.array([0.5, 2.0, 0.0, 9.0])
        >>> out = law.moments012_sides(x, np.array([0, 1, 2, 3]), [1.0, 1.0, 2.0])
        >>> bool(out[1, 1] == law.moments012(x[1:2], tail=True)[1][0]), out[:, 2:].tolist()
        (True, [[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
        """
        x = np.asarray(x, dtype=float).ravel()
        side = np.asarray(side).ravel()
        out = np.zeros((3, x.size))
        for code, tail in ((0, False), (1, True)):
            idx = np.flatnonzero(side == code)
            if idx.size:
                got = self.moments012(x[idx], tail)
                for j in range(3):
                    out[j, idx] = got[j]
        at = np.flatnonzero(side == 3)
        if at.size:
            out[:, at] = np.asarray(tot, dtype=float)[:, None]
        return out

    @abstractmethod
    def sample(self, n: int, rng) -> np.ndarray:
        """``n`` independent draws using ``rng`` (seed or Generator)."""

    @property
    @abstractmethod
    def support(self) -> tuple[float, float]:
        """(lower, upper) end of the support; upper may be ``inf``."""

    @property
    @abstractmethod
    def breakpoints(self) -> tuple[float, ...]:
        """Finite points in [0, inf) where the density is not smooth."""

    @abstractmethod
    def mp_pdf(self, x):
        """Density at an mpmath number, at the current ``mpmath.mp.dps``."""

    @abstractmethod
    def mp_cdf(self, x):
        """cdf at an mpmath number."""

    @abstractmethod
    def mp_sf(self, x):
        """sf at an mpmath number."""

    # --- derived ------------------------------------------------------------------
    @property
    def mean(self) -> float:
        """E[X]."""
        return self.moment(1)

    @property
    def scale(self) -> float:
        """A representative size (the median), used to place quadrature nodes."""
        cached = self.__dict__.get("_median_cache")
        if cached is not None:
            return cached
        value = self._median_by_bisection()
        self.__dict__["_median_cache"] = value
        return value

    def _median_by_bisection(self) -> float:
        lo, hi = self.support
        if self.is_discrete:
            vals, probs = self.atoms
            c = np.cumsum(probs)
            return float(vals[np.searchsorted(c, 0.5)])
        a, b = (lo, hi if np.isfinite(hi) else max(2 * lo, 1.0))
        while np.isfinite(b) and self.cdf(b) < 0.5:
            b *= 2.0
        for _ in range(200):
            m = 0.5 * (a + b)
            if self.cdf(m) < 0.5:
                a = m
            else:
                b = m
        return float(0.5 * (a + b)) if b > 0 else 1.0

    def _median_by_sections(self, lo: float, hi: float, first: float) -> float:
        """The median by a 31-section search on the vectorised cdf over ``[lo, hi]`` (31
        points a call); with ``hi = inf`` the bracket's upper end starts at ``first`` and
        doubles until the cdf reaches 1/2."""
        if not np.isfinite(hi):
            hi = first
            while float(self.cdf(hi)) < 0.5:
                hi *= 2.0
        t = np.linspace(0.0, 1.0, 33)[1:-1]
        for _ in range(40):
            if not np.nextafter(lo, hi) < hi:
                break
            z = lo + (hi - lo) * t
            below = np.asarray(self.cdf(z)) < 0.5
            k = int(np.argmin(below)) if not np.all(below) else z.size
            new_lo = float(z[k - 1]) if k > 0 else lo
            new_hi = float(z[k]) if k < z.size else hi
            if new_lo == lo and new_hi == hi:
                break
            lo, hi = new_lo, new_hi
        return float(hi) if hi > 0 else 1.0

    def mp_moment(self, k):
        """E[X**k] with mpmath quadrature of ``mp_pdf`` (override for closed forms)."""
        import mpmath as mp

        lo, hi = self.support
        pts = [mp.mpf(lo)] + [mp.mpf(p) for p in self.breakpoints if lo < p < hi]
        pts.append(mp.inf if not np.isfinite(hi) else mp.mpf(hi))
        return mp.quad(lambda t: t**k * self.mp_pdf(t), pts)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {}


class HalfLineLaw(SizeDistribution):
    """A law with a smooth density on the whole half-line (0, inf): no breakpoints."""

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, np.inf)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return ()

