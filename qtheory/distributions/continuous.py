"""Continuous job-size laws with closed-form moments.

:class:`Exponential`, :class:`Uniform` and :class:`HyperExponential` live
here; :class:`Gamma`, :class:`Erlang` and :class:`Weibull` live in
:mod:`qtheory.distributions.gamma_family`, and the heavy-tailed
:class:`Lognormal`, :class:`Pareto` and :class:`BoundedPareto` in
:mod:`qtheory.distributions.heavy_tailed`. All nine are re-exported from this
module.

Every partial moment ``E[X**k; X <= x]`` and tail moment ``E[X**k; X > x]`` is
a closed form evaluated directly (regularised incomplete gamma functions,
``expm1``/``log1p`` power differences), never as ``moment - other``.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp
from scipy import special

from .._threads import concat_chunks, map_chunks
from .base import (
    HalfLineLaw,
    SizeDistribution,
    as_generator,
    between_pairs,
    check_count,
    check_order,
    check_positive,
    check_probs,
    finish,
    sides_args,
    to_array,
)
from .gamma_family import (
    Erlang,
    ExpOfPowerTail,
    Gamma,
    IncompleteGammaMoments,
    Weibull,
    _incgamma_moment,
    exp_mixture_012,
    exp_mixture_012_sides,
    exp_mixture_between,
)
from .heavy_tailed import BoundedPareto, Lognormal, Pareto

__all__ = [
    "Exponential",
    "Uniform",
    "Gamma",
    "Erlang",
    "HyperExponential",
    "Weibull",
    "Lognormal",
    "Pareto",
    "BoundedPareto",
]


def _pow_diff(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    """``b**p - a**p`` for ``0 <= a <= b``, ``b > 0``, ``p > 0``, without cancellation."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log1p((a - b) / b)  # log(a/b); -inf at a == 0
        return -(b**p) * np.expm1(p * log_ratio)


# ---------------------------------------------------------------------------------
class Exponential(ExpOfPowerTail, IncompleteGammaMoments, HalfLineLaw):
    """Exponential law with mean ``mean`` (or rate ``rate = 1/mean``).

    Parameters
    ----------
    mean : float, optional
        Mean, ``> 0``.
    rate : float, optional
        Rate, ``> 0``. Give exactly one of ``mean`` and ``rate``.

    Notes
    -----
    ``E[X**k; X <= x] = m**k Gamma(k+1) P(k+1, x/m)`` and the tail uses the
    complementary ``Q``, so both keep full relative precision.

    Examples
    --------
    >>> d = Exponential(mean=2.0)
    >>> d.tail_moment(1, 0.0)
    2.0
    >>> float(d.sf(2.0 * 69.0))  # exp(-69), no cancellation
    1.0e-30
    >>> Exponential(rate=4.0).moment(2)
    0.125
    """

    def __init__(self, mean: float | None = None, rate: float | None = None):
        if (mean is None) == (rate is None):
            raise ValueError("Exponential: give exactly one of mean, rate")
        if mean is not None:
            self._m = check_positive("mean", mean)
        else:
            self._m = 1.0 / check_positive("rate", rate)
            if not np.isfinite(self._m):
                raise ValueError(f"rate is too small, got {rate!r}")

    def _params(self) -> dict:
        return {"mean": self._m}

    @property
    def rate(self) -> float:
        """1 / mean."""
        return 1.0 / self._m

    @property
    def scale(self) -> float:
        return self._m * np.log(2.0)

    def _y(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.maximum(x, 0.0) / self._m

    def pdf(self, x):
        x = to_array(x)
        out = np.where(x >= 0, np.exp(-self._y(x)) / self._m, 0.0)
        return finish(out, x)

    def _const(self, k: float) -> float:
        with np.errstate(over="ignore"):
            return float(self._m**k * special.gamma(k + 1.0))

    def _gamma_order(self, k: float) -> float:
        return k + 1.0

    def moments012(self, x, tail: bool = False) -> tuple:
        """The partial (``tail``: tail) moments of orders 0, 1 and 2 at the points of ``x``
        in one compiled pass (:func:`~qtheory.distributions.gamma_family.exp_mixture_012`):
        the formulas of :meth:`partial_moment` and :meth:`tail_moment`, one exponential a
        point shared by the orders."""
        return _exp_mixture_moments(x, np.array([self._m]), np.ones(1),
                                    np.array([self._const(1.0)]), np.array([self._const(2.0)]),
                                    tail)

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """:meth:`moments012` on each point's side, in one compiled pass
        (:meth:`SizeDistribution.moments012_sides
        <qtheory.distributions.base.SizeDistribution.moments012_sides>`)."""
        return _exp_mixture_sides(x, side, tot, np.array([self._m]), np.ones(1),
                                  np.array([self._const(1.0)]), np.array([self._const(2.0)]))

    def prob_between(self, a, b) -> np.ndarray:
        """``P(a < X <= b)`` as :meth:`SizeDistribution.prob_between
        <qtheory.distributions.base.SizeDistribution.prob_between>` takes it, in one compiled
        pass (:func:`~qtheory.distributions.gamma_family.exp_mixture_between`).

        Examples
        --------
        >>> float(Exponential(mean=1.0).prob_between(40.0, np.inf))  # exp(-40)
        4.248354255291589e-18
        """
        return _exp_mixture_between(self, a, b, [self._m], [1.0])

    def sample(self, n: int, rng) -> np.ndarray:
        return as_generator(rng).exponential(self._m, size=check_count(n))

    def mp_pdf(self, x):
        x = mp.mpf(x)
        m = mp.mpf(self._m)
        return mp.exp(-x / m) / m if x >= 0 else mp.zero

    def mp_cdf(self, x):
        x = mp.mpf(x)
        return -mp.expm1(-x / mp.mpf(self._m)) if x > 0 else mp.zero

    def mp_sf(self, x):
        x = mp.mpf(x)
        return mp.exp(-x / mp.mpf(self._m)) if x > 0 else mp.one

    def mp_moment(self, k):
        k = mp.mpf(k)
        return mp.mpf(self._m) ** k * mp.gamma(k + 1)


# ---------------------------------------------------------------------------------
class Uniform(SizeDistribution):
    """Uniform law on ``[low, high]``.

    Parameters
    ----------
    low, high : float
        Ends of the support, ``0 <= low < high``.

    Notes
    -----
    Partial and tail moments are ``(b**(k+1) - a**(k+1)) / ((k+1)(high-low))``
    on the relevant sub-interval, with the power difference computed as
    ``-b**(k+1) expm1((k+1) log1p((a-b)/b))``.

    Examples
    --------
    >>> d = Uniform(1.0, 3.0)
    >>> d.moment(1), d.moment(2)
    (2.0, 4.333333333333333)
    >>> float(d.partial_moment(0, 2.0)), float(d.tail_moment(1, 2.0))
    (0.5, 1.25)
    """

    def __init__(self, low: float, high: float):
        self._lo = check_positive("low", low, allow_zero=True)
        self._hi = check_positive("high", high)
        if not self._lo < self._hi:
            raise ValueError(f"low must be < high, got low={low!r}, high={high!r}")

    def _params(self) -> dict:
        return {"low": self._lo, "high": self._hi}

    @property
    def support(self) -> tuple[float, float]:
        return (self._lo, self._hi)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return tuple(p for p in (self._lo, self._hi) if p > 0)

    @property
    def scale(self) -> float:
        return 0.5 * (self._lo + self._hi)

    def pdf(self, x):
        x = to_array(x)
        out = np.where((x >= self._lo) & (x <= self._hi), 1.0 / (self._hi - self._lo), 0.0)
        return finish(out, x)

    def cdf(self, x):
        x = to_array(x)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.clip((x - self._lo) / (self._hi - self._lo), 0.0, 1.0)
        return finish(out, x)

    def sf(self, x):
        x = to_array(x)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.clip((self._hi - x) / (self._hi - self._lo), 0.0, 1.0)
        return finish(out, x)

    def _den(self, k: float) -> float:
        return (k + 1.0) * (self._hi - self._lo)

    def moment(self, k: float) -> float:
        k = check_order(k)
        if k == 0:
            return 1.0
        return float(_pow_diff(np.float64(self._lo), np.float64(self._hi), k + 1.0) / self._den(k))

    def partial_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.cdf(x)
        x = to_array(x)
        b = np.clip(x, self._lo, self._hi)
        b = np.where(np.isnan(b), self._hi, b)
        out = np.where(b > self._lo, _pow_diff(self._lo, b, k + 1.0) / self._den(k), 0.0)
        return finish(out, x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.sf(x)
        x = to_array(x)
        a = np.clip(x, self._lo, self._hi)
        a = np.where(np.isnan(a), self._lo, a)
        out = np.where(a < self._hi, _pow_diff(a, self._hi, k + 1.0) / self._den(k), 0.0)
        return finish(out, x)

    def sample(self, n: int, rng) -> np.ndarray:
        return as_generator(rng).uniform(self._lo, self._hi, size=check_count(n))

    def mp_pdf(self, x):
        x = mp.mpf(x)
        if self._lo <= x <= self._hi:
            return 1 / (mp.mpf(self._hi) - mp.mpf(self._lo))
        return mp.zero

    def mp_cdf(self, x):
        x = mp.mpf(x)
        lo, hi = mp.mpf(self._lo), mp.mpf(self._hi)
        return min(max((x - lo) / (hi - lo), mp.zero), mp.one)

    def mp_sf(self, x):
        x = mp.mpf(x)
        lo, hi = mp.mpf(self._lo), mp.mpf(self._hi)
        return min(max((hi - x) / (hi - lo), mp.zero), mp.one)

    def mp_moment(self, k):
        k = mp.mpf(k)
        lo, hi = mp.mpf(self._lo), mp.mpf(self._hi)
        return (hi ** (k + 1) - lo ** (k + 1)) / ((k + 1) * (hi - lo))


def _exp_mixture_between(law, a, b, means, probs):
    """:meth:`~qtheory.distributions.base.SizeDistribution.prob_between` of an exponential
    law or mixture by :func:`~qtheory.distributions.gamma_family.exp_mixture_between` (one
    compiled pass over the pairs, on threads for many: the NumPy path summed a (points x
    branches) array along its short axis, half a value's time in it on hyperexponential
    sizes). The values agree with the NumPy path's within a few ulps of ``sf`` (or ``cdf``)
    at the ends."""
    means = np.ascontiguousarray(means, float)
    probs = np.ascontiguousarray(probs, float)
    med = float(law.scale)
    return between_pairs(a, b, lambda x, y: exp_mixture_between(x, y, means, probs, med))


def _exp_mixture_moments(x, means, probs, const1, const2, tail: bool) -> tuple:
    """The three moments of :func:`~qtheory.distributions.gamma_family.exp_mixture_012`, each
    shaped as ``x`` (a float for 0-d ``x``)."""
    x = to_array(x)
    flat = np.ascontiguousarray(x.ravel())
    means, probs, const1, const2 = (np.ascontiguousarray(v, float)
                                    for v in (means, probs, const1, const2))
    tail = bool(tail)
    # points in chunks on threads (qtheory._threads: the same numbers)
    out = concat_chunks(lambda s: (exp_mixture_012(flat[s], means, probs, const1, const2,
                                                   tail),), flat.size, (1,))[0]
    if x.ndim == 0:
        return tuple(float(v[0]) for v in out)
    return tuple(v.reshape(x.shape) for v in out)


def _exp_mixture_sides(x, side, tot, means, probs, const1, const2) -> np.ndarray:
    """:meth:`~qtheory.distributions.base.SizeDistribution.moments012_sides` of a mixture
    of exponentials in one compiled pass
    (:func:`~qtheory.distributions.gamma_family.exp_mixture_012_sides`, on threads for many
    points), each point's numbers those of :func:`_exp_mixture_moments` on its side."""
    x, side, tot, out = sides_args(x, side, tot)
    means, probs, const1, const2 = (np.ascontiguousarray(v, float)
                                    for v in (means, probs, const1, const2))
    map_chunks(lambda s: exp_mixture_012_sides(x, side, tot, out, s.start, s.stop, means,
                                               probs, const1, const2), x.size)
    return out


# ---------------------------------------------------------------------------------
class HyperExponential(HalfLineLaw):
    """Mixture of exponentials: with probability ``probs[i]``, exponential of mean ``means[i]``.

    Parameters
    ----------
    means : array_like of float
        Branch means, ``> 0``.
    probs : array_like of float
        Branch probabilities, ``>= 0``, summing to 1 (within ``1e-9``; then
        normalised).

    Examples
    --------
    >>> d = HyperExponential(means=[1.0, 10.0], probs=[0.9, 0.1])
    >>> d.moment(1), d.moment(2)
    (1.9, 21.8)
    >>> float(d.tail_moment(0, 0.0))
    1.0
    """

    def __init__(self, means, probs):
        try:
            m = np.asarray(means, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("means must be an array of numbers") from None
        if m.ndim != 1 or m.size == 0:
            raise ValueError(f"means must be a non-empty 1-D array, got shape {m.shape}")
        if not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise ValueError("means must be finite and > 0")
        self._means = m.copy()
        self._probs = check_probs(probs, m.size, "probs")

    def _params(self) -> dict:
        return {"means": self._means.tolist(), "probs": self._probs.tolist()}

    @property
    def means(self) -> np.ndarray:
        """Branch means (a copy)."""
        return self._means.copy()

    @property
    def probs(self) -> np.ndarray:
        """Branch probabilities (a copy)."""
        return self._probs.copy()

    def _y(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)[..., None] / self._means

    def pdf(self, x):
        x = to_array(x)
        out = (self._probs / self._means * np.exp(-self._y(x))).sum(axis=-1)
        return finish(np.where(x >= 0, out, 0.0), x)

    def cdf(self, x):
        x = to_array(x)
        return finish((self._probs * -np.expm1(-self._y(x))).sum(axis=-1), x)

    def sf(self, x):
        x = to_array(x)
        return finish((self._probs * np.exp(-self._y(x))).sum(axis=-1), x)

    def _consts(self, k: float) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self._probs * self._means**k * special.gamma(k + 1.0)

    def moment(self, k: float) -> float:
        return float(self._consts(check_order(k)).sum())

    def partial_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.cdf(x)
        x = to_array(x)
        out = _incgamma_moment(self._consts(k), k + 1.0, self._y(x), upper=False)
        return finish(out.sum(axis=-1), x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        if k == 0:
            return self.sf(x)
        x = to_array(x)
        out = _incgamma_moment(self._consts(k), k + 1.0, self._y(x), upper=True)
        return finish(out.sum(axis=-1), x)

    def moments012(self, x, tail: bool = False) -> tuple:
        """The partial (``tail``: tail) moments of orders 0, 1 and 2 at the points of ``x``
        in one compiled pass over the branches
        (:func:`~qtheory.distributions.gamma_family.exp_mixture_012`): the formulas of
        :meth:`partial_moment` and :meth:`tail_moment`."""
        return _exp_mixture_moments(x, self._means, self._probs, self._consts(1.0),
                                    self._consts(2.0), tail)

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """:meth:`moments012` on each point's side, in one compiled pass
        (:meth:`SizeDistribution.moments012_sides
        <qtheory.distributions.base.SizeDistribution.moments012_sides>`)."""
        return _exp_mixture_sides(x, side, tot, self._means, self._probs, self._consts(1.0),
                                  self._consts(2.0))

    def prob_between(self, a, b) -> np.ndarray:
        """``P(a < X <= b)`` as :meth:`SizeDistribution.prob_between
        <qtheory.distributions.base.SizeDistribution.prob_between>` takes it, in one compiled
        pass over the pairs and branches
        (:func:`~qtheory.distributions.gamma_family.exp_mixture_between`).

        Examples
        --------
        >>> h = HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
        >>> bool(abs(h.prob_between(1.0, 2.0) - (h.sf(1.0) - h.sf(2.0))) < 1e-16)
        True
        """
        return _exp_mixture_between(self, a, b, self._means, self._probs)

    def sample(self, n: int, rng) -> np.ndarray:
        n = check_count(n)
        gen = as_generator(rng)
        u = gen.random((n, 2))  # one row per draw: a prefix of a sample is a smaller sample
        cum = np.cumsum(self._probs)
        branch = np.minimum(np.searchsorted(cum, u[:, 0], side="right"), cum.size - 1)
        return -np.log1p(-u[:, 1]) * self._means[branch]

    def _mp_branches(self):
        return [(mp.mpf(p), mp.mpf(m)) for p, m in zip(self._probs, self._means, strict=True)]

    def mp_pdf(self, x):
        x = mp.mpf(x)
        if x < 0:
            return mp.zero
        return mp.fsum(p / m * mp.exp(-x / m) for p, m in self._mp_branches())

    def mp_cdf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.zero
        return mp.fsum(-p * mp.expm1(-x / m) for p, m in self._mp_branches())

    def mp_sf(self, x):
        x = mp.mpf(x)
        if x <= 0:
            return mp.fsum(p for p, _ in self._mp_branches())
        return mp.fsum(p * mp.exp(-x / m) for p, m in self._mp_branches())

    def mp_moment(self, k):
        k = mp.mpf(k)
        return mp.gamma(k + 1) * mp.fsum(p * m**k for p, m in self._mp_branches())
