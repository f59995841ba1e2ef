"""Workloads of an LLM server: arrivals, prompt and output lengths, predictions.

A :class:`Workload` is an immutable description of the requests: their arrival
process (:class:`Poisson`, :class:`GammaArrivals` for bursty traffic as in BurstGPT,
or a :class:`TraceArrivals` replaying timestamps), the law of prompt tokens, the law
of output tokens (both :class:`~qtheory.llm.TokenLaw`, or any size law, rounded up
to whole tokens) and the scheduler's prediction of the output length (a
:mod:`qtheory.predictions` model on output tokens).

Prompt and output lengths are independent unless the workload comes from a trace
(:func:`qtheory.llm.load_trace`), where each request keeps its own pair.

Examples
--------
>>> import qtheory as qt
>>> from qtheory import llm
>>> w = llm.Workload(arrival_rate=2.0, prompt_tokens=qt.Exponential(mean=100.0),
...                  output_tokens=qt.Exponential(mean=200.0))
>>> round(w.mean_prompt, 3), round(w.mean_output, 3)
(100.5, 200.5)
>>> w.arrivals
Poisson()
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ..predictions import ExactPrediction, PredictionModel
from .tokens import TokenLaw, as_token_law

__all__ = ["Workload", "Poisson", "GammaArrivals", "TraceArrivals", "gamma", "poisson"]


@dataclass(frozen=True)
class Poisson:
    """Poisson arrivals (exponential inter-arrival times)."""

    @property
    def cv(self) -> float:
        """Coefficient of variation of inter-arrival times (1)."""
        return 1.0

    def __repr__(self) -> str:
        return "Poisson()"


@dataclass(frozen=True)
class GammaArrivals:
    """Renewal arrivals with Gamma inter-arrival times of coefficient of variation ``cv``.

    ``cv > 1`` is burstier than Poisson (BurstGPT fits Gamma inter-arrivals:
    Wang et al., "BurstGPT", arXiv:2401.17644); ``cv = 1`` is Poisson.
    """

    cv: float

    def __post_init__(self):
        if not (isinstance(self.cv, numbers.Real) and np.isfinite(self.cv) and self.cv > 0):
            raise ValueError(f"cv must be a finite number > 0, got {self.cv!r}")

    @property
    def shape(self) -> float:
        """Gamma shape ``1 / cv**2``."""
        return 1.0 / self.cv**2


@dataclass(frozen=True, eq=False)
class TraceArrivals:
    """Arrival times replayed from a trace (seconds from the first request)."""

    times: np.ndarray = field(repr=False)

    def __post_init__(self):
        t = np.asarray(self.times, dtype=float)
        if t.ndim != 1 or t.size == 0:
            raise ValueError("times must be a non-empty 1-d array")
        if not np.all(np.isfinite(t)):
            raise ValueError("times must be finite")
        if np.any(np.diff(t) < 0):
            row = int(np.argmax(np.diff(t) < 0)) + 1
            raise ValueError(f"times must be non-decreasing: row {row} goes back in time")
        t = t - t[0]
        t.setflags(write=False)
        object.__setattr__(self, "times", t)

    @property
    def cv(self) -> float:
        """Empirical coefficient of variation of the inter-arrival times."""
        d = np.diff(self.times)
        return float(d.std() / d.mean()) if d.size > 1 and d.mean() > 0 else float("nan")

    def __repr__(self) -> str:
        return f"TraceArrivals({self.times.size} requests)"


def poisson() -> Poisson:
    """Poisson arrivals."""
    return Poisson()


def gamma(cv: float) -> GammaArrivals:
    """Gamma renewal arrivals with inter-arrival coefficient of variation ``cv``."""
    return GammaArrivals(cv)


@dataclass(frozen=True, eq=False)
class Workload:
    """Requests arriving at an LLM server.

    Parameters
    ----------
    arrival_rate : float
        Requests per unit time (``> 0``). For a trace, the trace's mean rate unless
        given (a given rate rescales the trace's time axis).
    prompt_tokens : TokenLaw, SizeDistribution or int
        Law of the prompt length (``>= 1`` token; continuous laws are rounded up).
    output_tokens : TokenLaw, SizeDistribution or int
        Law of the output length (``>= 1`` token).
    prediction : PredictionModel, optional
        The scheduler's prediction ``Y`` of the output length ``X`` (tokens), as in
        :mod:`qtheory.predictions`; default exact (``Y = X``).
    arrivals : "poisson", Poisson, GammaArrivals or TraceArrivals
        The arrival process.
    pairs : (prompt, output) int arrays, optional
        Per-request lengths from a trace (then ``prompt_tokens`` and
        ``output_tokens`` are their empirical marginals and requests keep their pair).
    name : str, optional
        A label.
    """

    arrival_rate: float
    prompt_tokens: TokenLaw
    output_tokens: TokenLaw
    prediction: PredictionModel = field(default_factory=ExactPrediction)
    arrivals: object = "poisson"
    pairs: tuple | None = field(default=None, repr=False)
    name: str | None = None

    def __post_init__(self):
        rate = self.arrival_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) \
                or not np.isfinite(rate) or rate <= 0:
            raise ValueError(f"arrival_rate must be a finite number > 0, got {rate!r}")
        object.__setattr__(self, "arrival_rate", float(rate))
        object.__setattr__(self, "prompt_tokens",
                           as_token_law(self.prompt_tokens, "prompt_tokens", minimum=1))
        object.__setattr__(self, "output_tokens",
                           as_token_law(self.output_tokens, "output_tokens", minimum=1))
        if not isinstance(self.prediction, PredictionModel):
            raise TypeError(f"prediction must be a qtheory prediction model, "
                            f"got {self.prediction!r}")
        arr = self.arrivals
        if isinstance(arr, str):
            if arr.lower() != "poisson":
                raise ValueError(f"arrivals must be 'poisson', gamma(cv) or a trace, got {arr!r}")
            arr = Poisson()
        if not isinstance(arr, (Poisson, GammaArrivals, TraceArrivals)):
            raise TypeError(f"arrivals must be 'poisson', gamma(cv) or TraceArrivals, got {arr!r}")
        object.__setattr__(self, "arrivals", arr)
        if self.pairs is not None:
            p, o = (np.asarray(a, dtype=np.int64) for a in self.pairs)
            if p.shape != o.shape or p.ndim != 1 or p.size == 0:
                raise ValueError("pairs must be two non-empty 1-d arrays of equal length")
            if p.min() < 1 or o.min() < 1:
                raise ValueError("pairs must hold token counts >= 1 (prompt and output)")
            if isinstance(arr, TraceArrivals) and arr.times.size != p.size:
                raise ValueError("pairs and trace arrival times must have equal length")
            p.setflags(write=False)
            o.setflags(write=False)
            object.__setattr__(self, "pairs", (p, o))

    # --- derived quantities ------------------------------------------------------------
    @property
    def mean_prompt(self) -> float:
        """``E[prompt tokens]``."""
        return self.prompt_tokens.mean

    @property
    def mean_output(self) -> float:
        """``E[output tokens]``."""
        return self.output_tokens.mean

    @property
    def mean_tokens(self) -> float:
        """``E[prompt + output tokens]`` per request."""
        return self.mean_prompt + self.mean_output

    def joint_moment(self, fn) -> float:
        """``E[fn(prompt, output)]`` for a vectorised ``fn`` (pairs of a trace, or the
        product law of independent lengths)."""
        if self.pairs is not None:
            p, o = self.pairs
            vals = np.broadcast_to(fn(p.astype(float), o.astype(float)), p.shape)
            return float(np.mean(vals))
        pv, pp = self.prompt_tokens.values.astype(float), self.prompt_tokens.probs
        ov, op = self.output_tokens.values.astype(float), self.output_tokens.probs
        # the product law's table can be large (8192 x 4096 for the Azure presets):
        # evaluate fn on blocks of prompt values to bound the memory used
        rows = max(1, (1 << 20) // ov.size)
        total = 0.0
        for start in range(0, pv.size, rows):
            blk = pv[start:start + rows, None]
            vals = np.broadcast_to(fn(blk, ov[None, :]), (blk.shape[0], ov.size))
            total += float(pp[start:start + rows] @ vals @ op)
        return total

    def with_rate(self, arrival_rate: float) -> Workload:
        """The same workload at another arrival rate (a trace is rescaled in time)."""
        if isinstance(arrival_rate, bool) or not isinstance(arrival_rate, numbers.Real) \
                or not np.isfinite(arrival_rate) or arrival_rate <= 0:
            raise ValueError(f"arrival_rate must be a finite number > 0, got {arrival_rate!r}")
        arr = self.arrivals
        if isinstance(arr, TraceArrivals):
            arr = TraceArrivals(arr.times * (self.arrival_rate / float(arrival_rate)))
        return Workload(arrival_rate, self.prompt_tokens, self.output_tokens,
                        self.prediction, arr, self.pairs, self.name)

    def __repr__(self) -> str:
        label = f"{self.name}, " if self.name else ""
        return (f"Workload({label}rate={self.arrival_rate:g}, "
                f"prompt mean={self.mean_prompt:.6g}, output mean={self.mean_output:.6g}, "
                f"prediction={self.prediction!r}, arrivals={self.arrivals!r})")
