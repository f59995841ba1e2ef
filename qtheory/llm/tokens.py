"""Token-count laws: integer laws of prompt and output lengths.

An LLM request's prompt and output lengths are whole numbers of tokens. A
:class:`TokenLaw` is a finite law on integers ``minimum .. maximum``, stored as a
probability table, so that every moment the analytic models need is an exact finite
sum and the simulators sample it by a table search (the same table on every
backend).

A continuous size law ``X`` of :mod:`qtheory.distributions` becomes the token count
``clip(ceil(X), minimum, maximum)``: the probability of ``k`` tokens is
``P(k - 1 < X <= k)``, and the mass above ``maximum`` sits at ``maximum`` (a
serving engine's ``max_tokens`` stops generation there). A :class:`~qtheory.Discrete`
law with integer atoms is taken as is.

Examples
--------
>>> import qtheory as qt
>>> law = TokenLaw.from_distribution(qt.Exponential(mean=10.0), maximum=4096)
>>> round(law.mean, 6)      # E[ceil(X)] = 1 / (1 - exp(-1/10))
10.508332
>>> TokenLaw([1, 3], [0.5, 0.5]).moment(2)
5.0
"""

from __future__ import annotations

import numbers

import numpy as np

from ..distributions import SizeDistribution

__all__ = ["TokenLaw", "as_token_law"]

#: Largest token count a law may put mass on (keeps the tables small).
MAX_TOKENS = 1 << 22


class TokenLaw:
    """A law on the integers ``values`` with probabilities ``probs``.

    Parameters
    ----------
    values : array_like of int
        Distinct token counts, each ``>= 0``; sorted on construction.
    probs : array_like of float
        Their probabilities, ``>= 0``, summing to 1 within ``1e-9`` (then renormalised).
    name : str, optional
        A label used in reprs and reports.

    Examples
    --------
    >>> law = TokenLaw([2, 1], [0.25, 0.75])
    >>> law.values.tolist(), law.probs.tolist(), law.mean
    ([1, 2], [0.75, 0.25], 1.25)
    """

    def __init__(self, values, probs, name: str | None = None):
        v = np.asarray(values)
        p = np.asarray(probs, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError("values must be a non-empty 1-d array of token counts")
        if p.shape != v.shape:
            raise ValueError(f"probs must have the shape of values {v.shape}, got {p.shape}")
        if not np.all(np.isfinite(v.astype(float))) or np.any(v != np.round(v)):
            raise ValueError("values must be whole numbers of tokens")
        v = v.astype(np.int64)
        if np.any(v < 0):
            raise ValueError(f"values must be >= 0 tokens, got {int(v.min())}")
        if np.any(v > MAX_TOKENS):
            raise ValueError(f"values must be <= {MAX_TOKENS} tokens, got {int(v.max())}")
        if np.unique(v).size != v.size:
            raise ValueError("values must be distinct")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("probs must be finite and >= 0")
        total = p.sum()
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"probs must sum to 1 (within 1e-9), got {total!r}")
        order = np.argsort(v)
        keep = p[order] > 0
        self.values = v[order][keep]
        self.probs = p[order][keep] / p[order][keep].sum()
        self.values.setflags(write=False)
        self.probs.setflags(write=False)
        self.name = name

    # --- constructors ------------------------------------------------------------------
    @classmethod
    def from_distribution(cls, law: SizeDistribution, minimum: int = 1,
                          maximum: int | None = None, name: str | None = None) -> TokenLaw:
        """Token count ``clip(ceil(X), minimum, maximum)`` of a size law ``X``.

        Parameters
        ----------
        law : SizeDistribution
            A law of :mod:`qtheory.distributions` (continuous or discrete).
        minimum : int
            Smallest count (``1`` for outputs; ``0`` allowed for prompts).
        maximum : int, optional
            Largest count; mass above it is put at ``maximum``. Default: the
            ``1 - 1e-12`` quantile, rounded up (a law that needs more than
            ``2**22`` tokens there raises a ``ValueError`` asking for ``maximum``).

        Examples
        --------
        >>> import qtheory as qt
        >>> TokenLaw.from_distribution(qt.Deterministic(2.5)).values.tolist()
        [3]
        """
        if not isinstance(law, SizeDistribution):
            raise TypeError(f"law must be a qtheory size distribution, got {law!r}")
        minimum = _check_count("minimum", minimum, 0)
        if maximum is None:
            maximum = _upper_quantile(law)
        maximum = _check_count("maximum", maximum, max(minimum, 1))
        if maximum > MAX_TOKENS:
            raise ValueError(f"maximum must be <= {MAX_TOKENS}, got {maximum}")
        if maximum < minimum:
            raise ValueError(f"maximum ({maximum}) must be >= minimum ({minimum})")
        k = np.arange(minimum, maximum + 1, dtype=np.int64)
        # P(count = k) = P(k-1 < X <= k) for minimum < k < maximum, ends absorb the rest
        cdf = np.asarray(law.cdf(k.astype(float)), dtype=float)
        probs = np.diff(np.concatenate([[0.0], cdf]))
        probs[-1] += float(law.sf(float(maximum)))
        probs = np.clip(probs, 0.0, None)
        return cls(k, probs / probs.sum(), name=name or repr(law))

    @classmethod
    def from_samples(cls, samples, name: str | None = None) -> TokenLaw:
        """The empirical law of observed token counts (e.g. a trace column)."""
        s = np.asarray(samples)
        if s.ndim != 1 or s.size == 0:
            raise ValueError("samples must be a non-empty 1-d array of token counts")
        vals, counts = np.unique(s, return_counts=True)
        return cls(vals, counts / counts.sum(), name=name)

    # --- moments -----------------------------------------------------------------------
    def moment(self, k: float) -> float:
        """``E[N**k]``."""
        return float(np.dot(self.probs, self.values.astype(float) ** k))

    @property
    def mean(self) -> float:
        """``E[N]``."""
        return self.moment(1)

    @property
    def minimum(self) -> int:
        """Smallest count with positive probability."""
        return int(self.values[0])

    @property
    def maximum(self) -> int:
        """Largest count with positive probability."""
        return int(self.values[-1])

    def cdf(self, k):
        """``P(N <= k)``, vectorised."""
        c = np.concatenate([[0.0], np.cumsum(self.probs)])
        c[-1] = 1.0
        idx = np.searchsorted(self.values, np.asarray(k, dtype=float), side="right")
        out = c[idx]
        return float(out) if np.ndim(out) == 0 else out

    def sample(self, n: int, rng) -> np.ndarray:
        """``n`` independent counts drawn with ``rng`` (a seed or a Generator)."""
        rng = np.random.default_rng(rng)
        return rng.choice(self.values, size=int(n), p=self.probs)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, cumulative)`` arrays used by the simulation kernels' table search."""
        c = np.cumsum(self.probs)
        c[-1] = 1.0
        return self.values.copy(), c

    def __repr__(self) -> str:
        if self.name:
            return f"TokenLaw({self.name}, mean={self.mean:.6g})"
        return f"TokenLaw(values={self.values.size}, mean={self.mean:.6g})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, TokenLaw) and np.array_equal(self.values, other.values)
                and np.array_equal(self.probs, other.probs))

    def __hash__(self) -> int:
        return hash((self.values.tobytes(), self.probs.tobytes()))


def as_token_law(value, name: str, minimum: int = 1) -> TokenLaw:
    """Coerce a :class:`TokenLaw`, a size law or an int (a fixed count) to a TokenLaw.

    Parameters
    ----------
    value : TokenLaw, SizeDistribution or int
        The law.
    name : str
        The parameter name used in error messages.
    minimum : int
        Smallest allowed count.
    """
    if isinstance(value, TokenLaw):
        law = value
    elif isinstance(value, SizeDistribution):
        law = TokenLaw.from_distribution(value, minimum=minimum)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        law = TokenLaw([int(value)], [1.0])
    else:
        raise TypeError(f"{name} must be a TokenLaw, a size distribution or an int, "
                        f"got {value!r}")
    if law.minimum < minimum:
        raise ValueError(f"{name} must put no mass below {minimum} tokens, "
                         f"got {law.minimum}")
    return law


def _check_count(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not float(value).is_integer() or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _upper_quantile(law: SizeDistribution) -> int:
    lo, hi = law.support
    if np.isfinite(hi):
        top = hi
    else:
        top = max(1.0, float(law.mean) if np.isfinite(law.mean) else 1.0)
        while float(law.sf(top)) > 1e-12:
            top *= 2.0
            if top > MAX_TOKENS:
                raise ValueError("the size law has more than 1e-12 mass above 2**22 "
                                 "tokens: pass maximum=")
    return int(np.ceil(top))
