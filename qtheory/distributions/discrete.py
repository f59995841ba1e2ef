"""Job-size laws with atoms: :class:`Discrete`, :class:`Empirical`, :class:`Deterministic`.

These laws have no density: ``pdf`` and ``mp_pdf`` raise :class:`TypeError`
and ``pmf`` gives the atom masses. ``cdf(x) = P(X <= x)`` includes an atom at
``x``; ``sf(x) = P(X > x)`` excludes it, and so do partial moments (``<=``)
and tail moments (``>``). Tails are sums over the atoms above ``x``, never
``1 - cdf``.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

from .base import (
    SizeDistribution,
    as_generator,
    check_count,
    check_order,
    check_positive,
    check_probs,
    finish,
    to_array,
)

__all__ = ["Discrete", "Empirical", "Deterministic"]


def _check_values(values, name: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite")
    if np.any(v < 0):
        raise ValueError(f"{name} must be >= 0, got min {float(v.min())!r}")
    return v + 0.0  # turn -0.0 into 0.0


class Discrete(SizeDistribution):
    """Law with finitely many atoms: ``P(X = values[i]) = probs[i]``.

    Duplicate values are merged, atoms are sorted, atoms of mass 0 are dropped
    and ``probs`` is normalised to sum to 1.

    Parameters
    ----------
    values : array_like of float
        Atom locations, ``>= 0``.
    probs : array_like of float
        Atom masses, ``>= 0``, summing to 1 within ``1e-9``.

    Examples
    --------
    >>> d = Discrete([3.0, 1.0, 3.0], [0.25, 0.5, 0.25])
    >>> d.atoms
    (array([1., 3.]), array([0.5, 0.5]))
    >>> d.moment(1), float(d.cdf(1.0)), float(d.sf(1.0))
    (2.0, 0.5, 0.5)
    >>> float(d.partial_moment(1, 1.0)), float(d.tail_moment(1, 1.0))
    (0.5, 1.5)
    """

    is_discrete = True

    def __init__(self, values, probs):
        v = _check_values(values, "values")
        p = check_probs(probs, v.size, "probs")
        self._setup(v, p)

    def _setup(self, v: np.ndarray, p: np.ndarray) -> None:
        uniq, inv = np.unique(v, return_inverse=True)
        mass = np.bincount(inv.ravel(), weights=p, minlength=uniq.size)
        keep = mass > 0
        self._v = uniq[keep]
        self._p = mass[keep] / mass[keep].sum()
        n = self._v.size
        # cdf at "i atoms <= x" and sf at "atoms i.. are > x", both exact at the ends
        self._cum = np.concatenate([[0.0], np.cumsum(self._p)])
        self._cum[-1] = 1.0
        self._tail = np.concatenate([np.cumsum(self._p[::-1])[::-1], [0.0]])
        self._tail[0] = 1.0
        self._n = n

    def _params(self) -> dict:
        return {"values": self._v.tolist(), "probs": self._p.tolist()}

    @property
    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, probs)``: sorted distinct atoms and their masses (copies)."""
        return self._v.copy(), self._p.copy()

    @property
    def support(self) -> tuple[float, float]:
        return (float(self._v[0]), float(self._v[-1]))

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self._v)

    def _count_le(self, x: np.ndarray) -> np.ndarray:
        """Number of atoms ``<= x`` (NaN maps past the end; ``finish`` masks it)."""
        return np.searchsorted(self._v, x, side="right")

    def pdf(self, x):
        raise TypeError(f"{type(self).__name__} has atoms; use pmf")

    def pmf(self, x):
        """``P(X = x)``: the mass of the atom at ``x`` (0 elsewhere)."""
        x = to_array(x)
        i = np.minimum(np.searchsorted(self._v, x, side="left"), self._n - 1)
        return finish(np.where(self._v[i] == x, self._p[i], 0.0), x)

    def cdf(self, x):
        x = to_array(x)
        return finish(self._cum[self._count_le(x)], x)

    def sf(self, x):
        x = to_array(x)
        return finish(self._tail[self._count_le(x)], x)

    def _weights(self, k: float) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self._p * self._v**k

    def moment(self, k: float) -> float:
        return float(self._weights(check_order(k)).sum())

    def partial_moment(self, k: float, x):
        k = check_order(k)
        x = to_array(x)
        if k == 0:
            return self.cdf(x)
        cum = np.concatenate([[0.0], np.cumsum(self._weights(k))])
        return finish(cum[self._count_le(x)], x)

    def tail_moment(self, k: float, x):
        k = check_order(k)
        x = to_array(x)
        if k == 0:
            return self.sf(x)
        tail = np.concatenate([np.cumsum(self._weights(k)[::-1])[::-1], [0.0]])
        return finish(tail[self._count_le(x)], x)

    def sample(self, n: int, rng) -> np.ndarray:
        n = check_count(n)
        u = as_generator(rng).random(size=n)
        i = np.minimum(np.searchsorted(self._cum[1:], u, side="right"), self._n - 1)
        return self._v[i]

    def _mp_atoms(self):
        return [(mp.mpf(v), mp.mpf(p)) for v, p in zip(self._v, self._p, strict=True)]

    def mp_pdf(self, x):
        raise TypeError(f"{type(self).__name__} has atoms; use mp_pmf")

    def mp_pmf(self, x):
        """``P(X = x)`` as an mpmath number."""
        x = mp.mpf(x)
        return mp.fsum(p for v, p in self._mp_atoms() if v == x)

    def mp_cdf(self, x):
        x = mp.mpf(x)
        return mp.fsum(p for v, p in self._mp_atoms() if v <= x)

    def mp_sf(self, x):
        x = mp.mpf(x)
        return mp.fsum(p for v, p in self._mp_atoms() if v > x)

    def mp_moment(self, k):
        k = mp.mpf(k)
        return mp.fsum(p * v**k for v, p in self._mp_atoms())


class Empirical(Discrete):
    """Empirical law of a sample: mass ``1/n`` on each of the ``n`` samples.

    Parameters
    ----------
    samples : array_like of float
        Observed sizes, ``>= 0`` (repeated values get proportionally more mass).

    Examples
    --------
    >>> d = Empirical([1.0, 2.0, 2.0, 5.0])
    >>> d.atoms
    (array([1., 2., 5.]), array([0.25, 0.5 , 0.25]))
    >>> d.moment(1)
    2.5
    """

    def __init__(self, samples):
        s = _check_values(samples, "samples")
        self._samples = s
        self._setup(s, np.full(s.size, 1.0 / s.size))

    def _params(self) -> dict:
        return {"samples": self._samples}


class Deterministic(Discrete):
    """Constant size ``value`` (a single atom).

    Parameters
    ----------
    value : float
        The size, ``> 0``.

    Examples
    --------
    >>> d = Deterministic(2.0)
    >>> d.moment(2), float(d.cdf(2.0)), float(d.sf(2.0))
    (4.0, 1.0, 0.0)
    >>> float(d.tail_moment(1, 1.0))
    2.0
    """

    def __init__(self, value: float):
        self._value = check_positive("value", value)
        self._setup(np.array([self._value]), np.array([1.0]))

    def _params(self) -> dict:
        return {"value": self._value}

    @property
    def value(self) -> float:
        """The constant size."""
        return self._value

    def sample(self, n: int, rng) -> np.ndarray:
        as_generator(rng)
        return np.full(check_count(n), self._value)
