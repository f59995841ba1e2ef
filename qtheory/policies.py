"""Scheduling policies as data.

A policy is a small immutable object naming the discipline and its flags; the
analytic engine (and, later, the Monte Carlo engine) reads it. Policies can be
given by object (``qt.policies.SPRPT()``) or by name (``"SPRPT"``, case-insensitive;
``"LAS"`` is an alias of ``"FB"``).

=========  ===================================================  ===========
name       rule (lower rank served first, ties FIFO)            preemptive
=========  ===================================================  ===========
FCFS       arrival order                                        no
PS         processor sharing                                    --
FB         least attained service (alias LAS)                   yes
SJF        shortest true size                                   no
PSJF       shortest true size                                   yes
SRPT       shortest remaining true size                         yes
SPJF       shortest predicted size                              no
PSPJF      shortest predicted size                              yes
SPRPT      shortest predicted remaining size (y - age)          yes
Priority   fixed classes drawn independently of size (Cobham)   either
TRAIL      SPRPT while age < c * prediction, then not preempted  limited
OneBit     short (prediction <= T) before long                  either
Buckets    k-bucket advice: bucket index of the prediction      either
SkipPredict  cheap bit, then SPRPT on the long jobs (costs)      yes
DelayPredict FCFS up to age L, then SPRPT (costs)               yes
SRPTBounce rank |y - age| (SPRPT that bounces after y)           yes
Gittins    Gittins index of the size law's age (no sizes known)  yes
SERPT      shortest expected remaining size given the age         yes
RankPolicy any user rank function (:mod:`qtheory.rank`)         --
=========  ===================================================  ===========

Every policy except PS, ``Priority`` and the newest-short-first variant of
``OneBit`` has a SOAP rank function (``policy.rank()``), so the SOAP engine of
:mod:`qtheory.analysis.soap` can analyse it and the simulator can run it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .rank import Branch, RankFunction, Segment

_INF = float("inf")


def _non_preemptive(key: str) -> RankFunction:
    """Rank = key at age 0, then -inf: shortest (predicted) job first."""
    return RankFunction.single(key, [Segment(value=(0.0, -_INF))], initial=(1.0, 0.0))


def _by_key(key: str) -> RankFunction:
    return RankFunction.single(key, [Segment(value=(1.0, 0.0))])


def _remaining(key: str) -> RankFunction:
    return RankFunction.single(key, [Segment(value=(1.0, 0.0), slope=-1)])


def _check_thresholds(name: str, thresholds, allow_empty: bool = False) -> tuple[float, ...]:
    try:
        t = np.asarray(thresholds, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {thresholds!r}") from None
    if allow_empty and t.size == 0:
        return ()
    if t.size == 0 or np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {thresholds!r}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {thresholds!r}")
    return tuple(float(v) for v in t)


def _bucket_rank(thresholds, preemptive: bool) -> RankFunction:
    """Rank = index of the bucket (-inf, t1], (t1, t2], ... of the prediction."""
    edges = (-_INF, *thresholds, _INF)
    branches = []
    for i in range(len(edges) - 1):
        if preemptive:
            seg, init = [Segment(value=(0.0, float(i)))], None
        else:
            seg, init = [Segment(value=(0.0, -_INF))], (0.0, float(i))
        branches.append(Branch(tuple(seg), low=edges[i], high=edges[i + 1], initial=init))
    return RankFunction("prediction", tuple(branches))

__all__ = [
    "Policy",
    "FCFS",
    "PS",
    "FB",
    "SJF",
    "PSJF",
    "SRPT",
    "SPJF",
    "PSPJF",
    "SPRPT",
    "Priority",
    "TRAIL",
    "GittinsBuckets",
    "GittinsPosterior",
    "SkipPredict",
    "DelayPredict",
    "SRPTBounce",
    "Gittins",
    "SERPT",
    "OneBit",
    "Buckets",
    "RankPolicy",
    "get_policy",
    "parse_policy",
    "POLICY_NAMES",
]


@dataclass(frozen=True)
class Policy:
    """Base class of all policies."""

    name = "policy"
    preemptive = False
    uses_prediction = False

    def __str__(self) -> str:
        return self.name

    def rank(self) -> RankFunction | None:
        """The SOAP rank function, or None for policies outside SOAP's scope."""
        return None

    def rank_function(self, size=None, prediction=None) -> RankFunction | None:
        """The rank function for a given queue (size law and prediction model).

        Most policies' ranks do not depend on the queue and this is :meth:`rank`;
        policies built from the size law (Gittins, SERPT) override it. The
        simulator calls this method.
        """
        return self.rank()


@dataclass(frozen=True)
class FCFS(Policy):
    """First come, first served."""

    name = "FCFS"

    def rank(self) -> RankFunction:
        return RankFunction.single("none", [Segment(value=(0.0, 0.0))])


@dataclass(frozen=True)
class PS(Policy):
    """Processor sharing."""

    name = "PS"
    preemptive = True


@dataclass(frozen=True)
class FB(Policy):
    """Foreground-background / least attained service (LAS)."""

    name = "FB"
    preemptive = True

    def rank(self) -> RankFunction:
        return RankFunction.single("none", [Segment(value=(0.0, 0.0), slope=1)])


@dataclass(frozen=True)
class SJF(Policy):
    """Shortest job first (non-preemptive, true sizes)."""

    name = "SJF"

    def rank(self) -> RankFunction:
        return _non_preemptive("size")


@dataclass(frozen=True)
class PSJF(Policy):
    """Preemptive shortest job first (true sizes)."""

    name = "PSJF"
    preemptive = True

    def rank(self) -> RankFunction:
        return _by_key("size")


@dataclass(frozen=True)
class SRPT(Policy):
    """Shortest remaining processing time (true sizes)."""

    name = "SRPT"
    preemptive = True

    def rank(self) -> RankFunction:
        return _remaining("size")


@dataclass(frozen=True)
class SPJF(Policy):
    """Shortest predicted job first (non-preemptive)."""

    name = "SPJF"
    uses_prediction = True

    def rank(self) -> RankFunction:
        return _non_preemptive("prediction")


@dataclass(frozen=True)
class PSPJF(Policy):
    """Preemptive shortest predicted job first (rank = prediction)."""

    name = "PSPJF"
    preemptive = True
    uses_prediction = True

    def rank(self) -> RankFunction:
        return _by_key("prediction")


@dataclass(frozen=True)
class SPRPT(Policy):
    """Shortest predicted remaining processing time (rank = prediction - age).

    A job whose age passes its prediction keeps its negative rank and runs on.
    """

    name = "SPRPT"
    preemptive = True
    uses_prediction = True

    def rank(self) -> RankFunction:
        return _remaining("prediction")


@dataclass(frozen=True)
class Priority(Policy):
    """Fixed priority classes, each job independently of its size in class i w.p. ``probs[i]``.

    Class 0 has the highest priority; FIFO within a class. With ``preemptive=True``
    it is preemptive-resume. Mean response times follow Cobham (1954); see
    :mod:`qtheory.analysis.priority`.

    Examples
    --------
    >>> Priority(probs=(0.3, 0.7)).name
    'Priority-NP'
    """

    probs: tuple = field(default=(1.0,))
    preemptive: bool = False

    def __post_init__(self):
        p = np.asarray(self.probs, dtype=float)
        if p.ndim != 1 or p.size == 0 or np.any(~np.isfinite(p)) or np.any(p < 0):
            raise ValueError(
                f"probs must be a non-empty list of non-negative numbers, got {self.probs!r}"
            )
        if abs(p.sum() - 1.0) > 1e-9:
            raise ValueError(f"probs must sum to 1, they sum to {p.sum()!r}")
        object.__setattr__(self, "probs", tuple(float(v) for v in p / p.sum()))

    @property
    def name(self) -> str:  # type: ignore[override]
        return "Priority-P" if self.preemptive else "Priority-NP"


@dataclass(frozen=True)
class TRAIL(Policy):
    """SPRPT with limited preemption: preemptible only while age < c * prediction.

    Shahout et al., "Don't Stop Me Now: Embedding Based Scheduling for LLMs"
    (TRAIL), ICLR 2025 (arXiv:2410.01035); the paper's default is c = 0.8.
    ``c = 0`` is SPJF and ``c = 1`` is SPRPT. ``on="size"`` uses true sizes.

    Analysis: closed forms on the size (:mod:`qtheory.analysis.trail`) and on the
    prediction (:mod:`qtheory.analysis.trail_predicted`; sizes with atoms and general
    :class:`~qtheory.ConditionalPrediction` laws too), the default route;
    ``method="soap"`` derives the same value from :meth:`rank` with the SOAP engine
    (continuous sizes, multiplicative prediction models).

    Examples
    --------
    >>> TRAIL(c=0.8).name
    'TRAIL(c=0.8)'
    """

    c: float = 0.8
    on: str = "prediction"

    def __post_init__(self):
        c = float(self.c)
        if not np.isfinite(c) or c < 0:
            raise ValueError(f"c must be finite and >= 0, got {self.c!r}")
        if self.on not in ("prediction", "size"):
            raise ValueError(f"on must be 'prediction' or 'size', got {self.on!r}")
        object.__setattr__(self, "c", c)

    @property
    def name(self) -> str:  # type: ignore[override]
        suffix = "" if self.on == "prediction" else ", on=size"
        return f"TRAIL(c={self.c:g}{suffix})"

    @property
    def preemptive(self) -> bool:  # type: ignore[override]
        return self.c > 0

    @property
    def uses_prediction(self) -> bool:  # type: ignore[override]
        return self.on == "prediction"

    def rank(self) -> RankFunction:
        if self.c == 0:
            return _non_preemptive(self.on)
        return RankFunction.single(self.on, [
            Segment(value=(1.0, 0.0), slope=-1, end=(self.c, 0.0)),
            Segment(value=(0.0, -_INF)),
        ])


@dataclass(frozen=True)
class OneBit(Policy):
    """One bit of advice: a job is short iff its prediction is <= ``threshold``.

    M. Mitzenmacher, "Queues with Small Advice", ACDA 2021 (arXiv:2006.15463).
    With :class:`~qtheory.ExactPrediction` the bit is perfect (THRESHOLD).

    * ``preemptive=False``: shorts before longs, FIFO within each class.
    * ``preemptive=True`` (the paper's): a short arrival preempts; the newest
      short is served first (preemptive LCFS among shorts); longs FIFO.
    * ``preemptive=True, within="fifo"``: preemptive priority, FIFO within class.

    Examples
    --------
    >>> OneBit(threshold=1.0, preemptive=True).name
    'OneBit-P(T=1)'
    """

    threshold: float = 1.0
    preemptive: bool = False
    within: str = "lcfs"

    def __post_init__(self):
        _check_thresholds("threshold", [self.threshold])
        if self.within not in ("lcfs", "fifo"):
            raise ValueError(f"within must be 'lcfs' or 'fifo', got {self.within!r}")
        object.__setattr__(self, "threshold", float(self.threshold))

    uses_prediction = True

    @property
    def name(self) -> str:  # type: ignore[override]
        if not self.preemptive:
            return f"OneBit-NP(T={self.threshold:g})"
        tag = "P" if self.within == "lcfs" else "P-FIFO"
        return f"OneBit-{tag}(T={self.threshold:g})"

    def rank(self) -> RankFunction | None:
        if self.preemptive and self.within == "lcfs":
            return None  # newest-short-first is not a SOAP policy; closed form instead
        return _bucket_rank((self.threshold,), self.preemptive)


@dataclass(frozen=True)
class Buckets(Policy):
    """k-bucket advice: rank = index of the bucket of the prediction.

    Buckets are ``(-inf, t1], (t1, t2], ..., (t_{k-1}, inf)`` for strictly
    increasing ``thresholds``; lower buckets first, FIFO within a bucket,
    preemptive-resume or not. One bucket (``thresholds=()``) is FCFS.

    Examples
    --------
    >>> Buckets(thresholds=(0.5, 2.0), preemptive=True).name
    'Buckets-P(0.5,2)'
    """

    thresholds: tuple = ()
    preemptive: bool = False
    uses_prediction = True

    def __post_init__(self):
        t = _check_thresholds("thresholds", self.thresholds, allow_empty=True)
        object.__setattr__(self, "thresholds", t)

    @property
    def name(self) -> str:  # type: ignore[override]
        tag = "P" if self.preemptive else "NP"
        return f"Buckets-{tag}(" + ",".join(f"{t:g}" for t in self.thresholds) + ")"

    def rank(self) -> RankFunction:
        if not self.thresholds:
            return RankFunction.single("none", [Segment(value=(0.0, 0.0))])
        return _bucket_rank(self.thresholds, self.preemptive)


_COST_MODELS = ("external", "server")


def _check_cost(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class SkipPredict(Policy):
    """SkipPredict: a cheap bit for every job, an expensive prediction for long ones.

    R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in Predictions
    for Scheduling", NeurIPS 2024 (arXiv:2402.03564). A job is *short* iff its
    prediction is ``<= threshold`` (the cheap bit is the queue's prediction model
    coarsened to one bit); shorts are served FCFS, never preempted, ahead of
    every long job; long jobs get the expensive prediction and are served by
    SPRPT (rank ``y - own work done``).

    Costs: ``cheap_cost`` (every job) and ``expensive_cost`` (long jobs).

    * ``cost_model="external"``: predictions are computed off the server. The
      response time does not depend on the costs; :meth:`qtheory.MG1.mean_cost`
      adds the expected cost per job, ``cheap_cost + expensive_cost * P(long)``.
    * ``cost_model="server"``: predictions take server time: on arrival a job
      needs ``cheap_cost`` of service at rank -inf (FIFO, not preempted); a long
      job then needs ``expensive_cost`` more at rank 0 (ahead of the long jobs
      already predicted, behind short ones), then its own size at rank ``y - w``.
      Response times include these phases. (Our reading of the paper's server
      time model; the rank of each phase is stated here so results are
      reproducible.)

    ``threshold=0`` is SPRPT (plus costs) and ``threshold=inf`` FCFS.

    ``bit_prediction=j`` takes the cheap bit from a *separate* predictor, prediction ``j``
    of a :class:`~qtheory.MultiPrediction` queue (``Y_j <= threshold``: short), while SPRPT
    ranks the long jobs by prediction 0 (the paper's setting, a cheap classifier and an
    expensive regressor). Its closed form (both cost models) is
    :class:`qtheory.analysis.skip_two.SkipTwoAnalysis`, conditional response times
    included; ``method="soap"`` analyses the external model by SOAP on the two-part
    descriptor (:mod:`qtheory.analysis.soap_branched`).

    Examples
    --------
    >>> SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.5, cost_model="server").name
    'SkipPredict-server(T=1, c1=0.1, c2=0.5)'
    >>> SkipPredict(threshold=1.0, bit_prediction=1).name
    'SkipPredict-external(T=1, c1=0, c2=0, bit=prediction:1)'
    """

    threshold: float = 1.0
    cheap_cost: float = 0.0
    expensive_cost: float = 0.0
    cost_model: str = "external"
    bit_prediction: int = 0

    uses_prediction = True
    preemptive = True

    def __post_init__(self):
        t = _check_cost("threshold", self.threshold) if self.threshold != _INF else _INF
        object.__setattr__(self, "threshold", t)
        object.__setattr__(self, "cheap_cost", _check_cost("cheap_cost", self.cheap_cost))
        object.__setattr__(self, "expensive_cost",
                           _check_cost("expensive_cost", self.expensive_cost))
        if self.cost_model not in _COST_MODELS:
            raise ValueError(f"cost_model must be one of {_COST_MODELS}, got {self.cost_model!r}")
        j = self.bit_prediction
        if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or j < 0:
            raise ValueError(f"bit_prediction must be an integer >= 0 (the index of a "
                             f"prediction model), got {j!r}")
        object.__setattr__(self, "bit_prediction", int(j))

    @property
    def name(self) -> str:  # type: ignore[override]
        bit = f", bit=prediction:{self.bit_prediction}" if self.bit_prediction else ""
        return (f"SkipPredict-{self.cost_model}(T={self.threshold:g}, "
                f"c1={self.cheap_cost:g}, c2={self.expensive_cost:g}{bit})")

    def external_cost(self, p_long: float) -> float:
        """Expected prediction cost per job outside the server (0 in the server model)."""
        if self.cost_model == "server":
            return 0.0
        return self.cheap_cost + self.expensive_cost * p_long

    def server_costs(self) -> tuple[float, float]:
        """``(c1, c2)``: the server time of the cheap and of the expensive prediction
        (both 0 in the external model)."""
        if self.cost_model == "server":
            return self.cheap_cost, self.expensive_cost
        return 0.0, 0.0

    def rank(self) -> RankFunction:
        (c1, c2), T = self.server_costs(), self.threshold
        short, long = [], []
        if c1 > 0:
            short.append(Segment(value=(0.0, -_INF), end=(0.0, c1), overhead=True))
            long.append(Segment(value=(0.0, -_INF), end=(0.0, c1), overhead=True))
        short.append(Segment(value=(0.0, -_INF)))
        if c2 > 0:
            long.append(Segment(value=(0.0, 0.0), end=(0.0, c1 + c2), overhead=True))
        long.append(Segment(value=(1.0, 0.0), slope=-1))
        if T == _INF:
            return RankFunction.single("prediction", short)
        if T == 0:
            return RankFunction.single("prediction", long)
        return RankFunction("prediction", (Branch(tuple(short), high=T),
                                           Branch(tuple(long), low=T)),
                            branch_key=f"prediction:{self.bit_prediction}")


@dataclass(frozen=True)
class DelayPredict(Policy):
    """DelayPredict: every job runs ``limit`` FCFS first; survivors get a prediction.

    The baseline of Shahout and Mitzenmacher (NeurIPS 2024, arXiv:2402.03564)
    that delays predictions instead of using a cheap bit: a job runs its first
    ``limit`` of service at rank -inf (FCFS, not preempted); a job still present
    then gets the expensive prediction y and is served by SPRPT on its own work
    (rank ``y - w``). Costs as in :class:`SkipPredict`: with
    ``cost_model="server"`` the prediction takes ``expensive_cost`` of server
    time at rank 0 when the job reaches age ``limit``; with ``"external"``
    :meth:`qtheory.MG1.mean_cost` adds ``expensive_cost * P(X > limit)``.

    ``limit=0`` is SPRPT and ``limit=inf`` FCFS.

    Examples
    --------
    >>> DelayPredict(limit=2.0).name
    'DelayPredict-external(L=2, c2=0)'
    """

    limit: float = 1.0
    expensive_cost: float = 0.0
    cost_model: str = "external"

    uses_prediction = True
    preemptive = True

    def __post_init__(self):
        lim = _check_cost("limit", self.limit) if self.limit != _INF else _INF
        object.__setattr__(self, "limit", lim)
        object.__setattr__(self, "expensive_cost",
                           _check_cost("expensive_cost", self.expensive_cost))
        if self.cost_model not in _COST_MODELS:
            raise ValueError(f"cost_model must be one of {_COST_MODELS}, got {self.cost_model!r}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"DelayPredict-{self.cost_model}(L={self.limit:g}, c2={self.expensive_cost:g})"

    def external_cost(self, p_long: float) -> float:
        """Expected prediction cost per job outside the server; ``p_long = P(X > limit)``."""
        return 0.0 if self.cost_model == "server" else self.expensive_cost * p_long

    def rank(self) -> RankFunction:
        L, c2 = self.limit, self.expensive_cost
        if L == _INF:
            return RankFunction.single("prediction", [Segment(value=(0.0, -_INF))])
        segs = []
        if L > 0:
            segs.append(Segment(value=(0.0, -_INF), end=(0.0, L)))
        if self.cost_model == "server" and c2 > 0:
            segs.append(Segment(value=(0.0, 0.0), end=(0.0, L + c2), overhead=True))
        segs.append(Segment(value=(1.0, -L), slope=-1))
        return RankFunction.single("prediction", segs)


@dataclass(frozen=True)
class SRPTBounce(Policy):
    """SRPT-Bounce: rank ``|y - age|`` on the estimate y.

    Z. Scully, I. Grosof, M. Mitzenmacher, "Uniform Bounds for Scheduling with
    Job Size Estimates", ITCS 2022 (arXiv:2110.00633). Like SPRPT (rank
    ``y - a``) until the job's age reaches its estimate; an underestimated job
    then *bounces*: its rank grows again as ``a - y`` instead of staying below
    every other job, which bounds the damage one underestimate can do. With
    exact estimates it is SRPT.

    Analysis: a closed form (:mod:`qtheory.analysis.bounce`), the default route;
    ``method="soap"`` derives the same value from :meth:`rank` with the SOAP engine. Both
    need a continuous size law and a multiplicative estimate model (a general
    :class:`~qtheory.ConditionalPrediction` raises ``ValueError``).

    Examples
    --------
    >>> float(SRPTBounce().rank().evaluate(k=2.0, age=3.0))
    1.0
    """

    name = "SRPT-Bounce"
    preemptive = True
    uses_prediction = True

    def rank(self) -> RankFunction:
        return RankFunction.single("prediction", [
            Segment(value=(1.0, 0.0), slope=-1, end=(1.0, 0.0)),
            Segment(value=(0.0, 0.0), slope=1),
        ])


class _AgeRankPolicy(Policy):
    """A policy whose rank is a function of the age, built from the size law."""

    preemptive = True

    def age_rank(self, size):  # pragma: no cover - abstract
        raise NotImplementedError

    def rank_function(self, size=None, prediction=None) -> RankFunction:
        if size is None:
            raise ValueError(f"size: {self.name}'s rank depends on the size law")
        return self.age_rank(size).to_rank_function()


@dataclass(frozen=True)
class Gittins(_AgeRankPolicy):
    """The Gittins-index policy for a known size law (sizes themselves unknown).

    Rank at age a: inf over b > a of E[min(X, b) - a | X > a] / P(X <= b | X > a), the
    inverse of the Gittins index (J. C. Gittins, "Multi-armed Bandit Allocation Indices",
    1989; S. Aalto, U. Ayesta, R. Righter, "On the Gittins index in the M/G/1 queue",
    Queueing Systems 63, 2009). It minimises the mean response time among policies that
    do not know sizes; analysed with SOAP (Scully, Harchol-Balter, Scheller-Wolf, POMACS
    2018, Section 5) by :mod:`qtheory.analysis.agerank`. Works for discrete laws too.

    The rank is built from the law's truncated moments to about 1e-13 and its regimes are
    told apart at 1e-12, so it needs laws with closed-form or tabulated moments: the
    package's own laws and their :class:`~qtheory.Truncated` versions (tens of ms), and any
    other continuous law through its :class:`~qtheory.Tabulated` twin, which a wrapped
    scipy law (:class:`~qtheory.ScipyDistribution`, whose truncated moments are adaptive
    quadratures good to about 1e-12) gets by itself: gamma shape 2 from scipy 0.22 s cold,
    equal to the native law to 1e-15 (no value within 5 minutes on the quadratures, whose
    noise split its one residual regime into pieces; lognormal sigma 1 63 ms, was 5.4 s).
    Past the age where the tail is negligible the rank is held constant, or, for a law with
    an infinite second moment whose rank rises there, keeps rising (held constant, those
    oldest jobs would be served first come first served and the mean would be infinite;
    Pareto(1.5) at load 0.8: 8.7204, between SRPT's 6.31 and FB's 9.27). An infinite mean
    that still comes out carries a :class:`~qtheory.QuadratureWarning` saying why.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0))
    >>> round(q.mean_response_time(Gittins()), 9)  # memoryless: Gittins = FCFS
    5.0
    """

    name = "Gittins"

    def age_rank(self, size):
        from .analysis.gittins import gittins_rank

        return gittins_rank(size)


@dataclass(frozen=True)
class SERPT(_AgeRankPolicy):
    """Shortest Expected Remaining Processing Time: rank E[X - a | X > a].

    Uses the size law only (SOAP paper, Section 5); analysed by
    :mod:`qtheory.analysis.agerank`.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(load=0.5, size=qt.Uniform(0.0, 2.0))
    >>> round(q.mean_response_time(SERPT()) / q.mean_response_time("FCFS"), 9)
    1.0
    """

    name = "SERPT"

    def age_rank(self, size):
        from .analysis.gittins import serpt_rank

        return serpt_rank(size)


@dataclass(frozen=True)
class GittinsBuckets(Policy):
    """Gittins given k-bucket advice of the prediction.

    The prediction's axis is cut at ``thresholds`` into buckets ``[0, t1], (t1, t2], ...,
    (t_{k-1}, inf)``; a job whose prediction lies in bucket ``j`` is ranked at age ``a`` by
    the Gittins rank of the posterior law ``X | Y in bucket j``
    (:func:`qtheory.distributions.posterior.bucket_law`; with exact predictions the
    truncated size law), preemptive-resume, ties first come first served. It is the
    mean-optimal policy among those that see only each job's bucket and age (Gittins'
    theorem applied to the classes; Scully, Harchol-Balter, Scheller-Wolf, POMACS 2018,
    Section 5, for the SOAP analysis), analysed exactly by
    :class:`qtheory.analysis.multiclass.ClassRankAnalysis`. One bucket
    (``thresholds=()``) is :class:`Gittins`. As the buckets get finer it tends to Gittins on
    the posterior law given the prediction itself, but only at first order and with a
    drifting constant (exact predictions, exponential sizes, load 0.8, ``n`` quantile
    buckets: ``n * (E[T] - E[T_SRPT])`` = 2.12, 2.02, 1.87, 1.70, 1.49 for ``n`` = 2 ... 32,
    while the analysis time grows as ``n**2``); that limit is :class:`GittinsPosterior`,
    computed at second order instead.

    The simulator runs each bucket's Gittins rank tabulated (as for :class:`Gittins`,
    :meth:`qtheory.analysis.agerank.AgeRank.to_rank_function`).
    :meth:`~qtheory.MG1.conditional_response_time` gives ``E[T(x, y)]``, the response time
    of a job of size ``x`` in the bucket of ``y`` (checked: integrated over a bucket's law
    it gives the class mean to 1e-9).

    Exact predictions or bounded noise give bucket laws with no mass below some age; the
    Gittins rank of an age just below that end takes its best quantum just past it (the
    rank search treats the lower end of a law's support as a breakpoint). Measured
    (load 0.8, thresholds (0.5, 2)): Weibull shape 0.5 with exact predictions 0.37 s
    (E[T] = 7.4329; the simulator, 8 x 4e6 jobs, gives 7.444 +- 0.015, z = 0.76),
    lognormal sigma 1.5 with exact predictions 0.20 s; noisy predictions take longer, as
    each bucket law is a quadrature, tabulated once per law
    (:mod:`qtheory.distributions._panelcheb`; ``validation/bench/results_gittins.md``, cold,
    median of 3: Weibull shape 2 with uniform noise alpha 0.5 0.10 s, exponential sizes with
    exponential noise 0.15 s, lognormal sigma 1 with exponential noise and one threshold
    0.15 s, each 0.7-1.0 s before the tables; heavier or kinkier pairs 0.24-0.40 s, e.g.
    bounded Pareto sizes with uniform noise).

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0),
    ...            prediction=qt.ExponentialPrediction())
    >>> g = q.mean_response_time(GittinsBuckets(thresholds=(1.0,)))
    >>> bool(g < q.mean_response_time("FCFS"))   # the advice helps
    True
    """

    thresholds: tuple = ()
    preemptive = True
    uses_prediction = True

    def __post_init__(self):
        t = _check_thresholds("thresholds", self.thresholds, allow_empty=True)
        if t and t[0] <= 0:
            raise ValueError(f"thresholds must be > 0 (predictions are >= 0), got {t!r}")
        object.__setattr__(self, "thresholds", t)

    @property
    def name(self) -> str:  # type: ignore[override]
        return "GittinsBuckets(" + ",".join(f"{t:g}" for t in self.thresholds) + ")"

    def bucket_laws(self, size, prediction) -> list:
        """``[(P(Y in bucket), law of X given the bucket or None), ...]``, one per bucket
        (``None`` for a bucket of probability 0)."""
        from .distributions.posterior import bucket_law

        if size is None or prediction is None:
            raise ValueError(f"size, prediction: {self.name}'s rank depends on both laws")
        edges = (0.0, *self.thresholds, _INF)
        if len(edges) == 2:
            return [(1.0, size)]
        cdf = np.concatenate([[0.0], np.asarray(
            prediction.marginal_cdf(np.array(self.thresholds), size), float), [1.0]])
        out = []
        for j in range(len(edges) - 1):
            p = float(cdf[j + 1] - cdf[j])
            out.append((p, bucket_law(size, prediction, edges[j], edges[j + 1])
                        if p > 1e-14 else None))
        # (the buckets' tables built together: the same tables, bit for bit)
        from .distributions._point_family import build_tables

        build_tables([law for _, law in out if law is not None])
        return out

    def age_ranks(self, size, prediction) -> list:
        """The Gittins rank (:class:`~qtheory.analysis.agerank.AgeRank`) of every bucket's
        law, ``None`` for an empty bucket."""
        return self.age_ranks_of(self.bucket_laws(size, prediction))

    @staticmethod
    def age_ranks_of(laws) -> list:
        """The Gittins ranks of the laws of :meth:`bucket_laws`."""
        from .analysis.gittins import gittins_rank

        return [None if law is None else gittins_rank(law) for _, law in laws]

    def rank(self) -> RankFunction | None:
        return None  # depends on the size law and the prediction model

    def rank_function(self, size=None, prediction=None) -> RankFunction:
        ranks = self.age_ranks(size, prediction)
        if len(ranks) == 1:
            return ranks[0].to_rank_function()
        edges = (-_INF, *self.thresholds, _INF)
        branches = []
        for j, r in enumerate(ranks):
            segs = ([Segment(value=(0.0, 0.0))] if r is None
                    else list(r.to_rank_function().branches[0].segments))
            branches.append(Branch(tuple(segs), low=edges[j], high=edges[j + 1]))
        return RankFunction("prediction", tuple(branches))


@dataclass(frozen=True)
class GittinsPosterior(Policy):
    """Gittins on the posterior law of the size given the prediction itself.

    A job with prediction ``y`` is ranked at age ``a`` by the Gittins rank of ``X | Y = y``
    (:func:`qtheory.distributions.point_posterior.point_law`), preemptive-resume, ties first
    come first served. It minimises the mean response time among policies that see only
    each job's prediction and age (Gittins' theorem with the prediction as the job's type;
    Aalto, Ayesta, Righter, Queueing Systems 63, 2009), so it bounds from below SPJF, PSPJF,
    SPRPT, TRAIL, :class:`GittinsBuckets` and every other prediction policy here; with exact
    predictions it is SRPT (returned exactly).

    Analysis (:mod:`qtheory.analysis.posterior_gittins`): SOAP with the prediction as a
    continuous descriptor, its integrals over the prediction taken by the ``nodes``-point
    Gauss-Legendre rule in the prediction's quantile (one class per node), Richardson
    extrapolated from ``nodes`` and ``nodes / 2`` as a second-order rule
    (``extrapolate=False``: the ``nodes`` value itself).
    :meth:`~qtheory.MG1.mean_response_time_with_error` returns the error estimate
    ``max(|E_n - E_{n/2}|, |E_{n/2} - E_{n/4}| / 4)`` (a bound for any order of convergence
    from 1 up, once the differences shrink steadily: check with a larger ``nodes``;
    ``validation/posterior_random.py``); a
    :class:`~qtheory.QuadratureWarning` reports one above ``1e-3`` relative, differences that
    do not shrink (then no extrapolation) and a value above SPRPT's, which the optimum cannot
    be (the rule has not converged: at loads near 1 the node values are erratic; Weibull 2
    sizes, uniform noise 0.5, load 0.99: 21.70, 25.36, 25.70, 25.37, 25.24 for 4 ... 64
    nodes, SPRPT 25.24). About a second a value at the default 16 nodes, cold (0.48 s for
    Weibull 2 sizes with uniform noise 0.5, 1.15 s for exponential sizes with exponential
    noise, 1.34 s for bounded Pareto sizes with lognormal noise; 64 nodes add about 2 s).

    The simulator runs it on ``cells`` equal-probability cells of the prediction's quantile,
    a job in a cell being ranked by the Gittins rank of the posterior at the cell's middle
    quantile (tabulated as for :class:`Gittins`): a perturbation of the optimal ranks, so
    its mean response time is above the analysed value and tends to it as the cells shrink
    (``validation/gittins_posterior.py``; Weibull 2 sizes, uniform noise 0.5, load 0.8: 5.3,
    2.2 and 0.83 % above it with 4, 8 and 16 cells, about 0.1 % extrapolated to the default
    64, within the simulator's confidence interval at 8 x 4e6 jobs).

    Parameters
    ----------
    nodes : int
        Gauss-Legendre nodes of the analysis (even, 4 to 256).
    extrapolate : bool
        Richardson extrapolation from ``nodes`` and ``nodes / 2``.
    cells : int
        Quantile cells of the simulated policy (1 to 4096).
    rule : str
        ``"nodes"`` (default): the node rule above. ``"swap"``: the r-work integral with
        the prediction's integral inside (:mod:`qtheory.analysis.posterior_rwork`): each
        prediction's share ``int S_y(r) K(r) dr`` is smooth in the prediction, and the
        other-job function ``N``, whose integrand jumps in it, is integrated exactly
        across the jump (product integration), so the rule over the prediction converges
        spectrally; ``nodes`` and ``extrapolate`` are then not used. For continuous size
        laws and noisy predictions (exact predictions give SRPT exactly; sizes with atoms
        raise a ``ValueError``). Its nodes a piece follow the queue's ``rtol`` (6 from
        1e-9 up, 8 from 1e-10, else 10), and its pieces are cut where the posterior's
        structure changes and halved until the estimate is within ``rtol``. Weibull 2
        sizes, uniform noise 0.5, load 0.8: at the default ``rtol=1e-9``,
        2.35617874021891 with an estimate of 1.2e-9 (5.2e-10 relative; 1.5e-11 from the
        value at ``rtol=1e-10``) in about 0.17 s; at ``rtol=1e-8``, 2.35617874021902
        (estimate 7.0e-9) in about 0.15 s (each node's share from the runs of its
        posterior's ``Phi``, all nodes at once, :mod:`qtheory.analysis.phiruns`, over the
        age where the posterior's hazard rate rises, :mod:`qtheory.analysis.ageint`),
        where the node rule gives 2.35610 with an estimate of 2.2e-3 at 16 nodes in 0.5 s.
        Systems whose posteriors' hazards rise and fall take longer (at ``rtol=1e-8``,
        estimates below 6e-9 of the mean): exponential sizes with exponential noise
        about 0.5 s (8 s until the 29th session, 0.8 s until the 33rd), lognormal sizes
        with lognormal noise about 0.45 s, bounded Pareto sizes with lognormal noise
        about 0.7 s, Weibull 0.5 sizes with uniform noise about 0.4 s (``docs/soap.md``).

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(load=0.8, size=qt.Weibull(2.0), prediction=qt.UniformPrediction(0.5))
    >>> g = q.mean_response_time(GittinsPosterior(nodes=16))
    >>> bool(g < q.mean_response_time("SPRPT") < q.mean_response_time("FCFS"))
    True
    """

    nodes: int = 16
    extrapolate: bool = True
    cells: int = 64
    rule: str = "nodes"
    preemptive = True
    uses_prediction = True

    def __post_init__(self):
        from .analysis.posterior_gittins import check_nodes

        object.__setattr__(self, "nodes", check_nodes(self.nodes))
        c = self.cells
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 1 <= c <= 4096:
            raise ValueError(f"cells must be an integer from 1 to 4096, got {c!r}")
        object.__setattr__(self, "cells", int(c))
        object.__setattr__(self, "extrapolate", bool(self.extrapolate))
        if self.rule not in ("nodes", "swap"):
            raise ValueError(f"rule must be 'nodes' or 'swap', got {self.rule!r}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return "GittinsPosterior(swap)" if self.rule == "swap" \
            else f"GittinsPosterior({self.nodes})"

    def rank(self) -> RankFunction | None:
        return None  # depends on the size law and the prediction model

    def cell_laws(self, size, prediction) -> list:
        """``[(quantile cell edges (y_low, y_high), middle prediction, posterior law), ...]``
        of the simulated policy, one per cell."""
        from .distributions.point_posterior import point_law

        if size is None or prediction is None:
            raise ValueError(f"size, prediction: {self.name}'s rank depends on both laws")
        m = self.cells
        inner = prediction.marginal_ppf(np.arange(1, m) / m, size) if m > 1 else np.zeros(0)
        mid = prediction.marginal_ppf((np.arange(m) + 0.5) / m, size)
        edges = np.concatenate([[-_INF], inner, [_INF]])
        return [((float(edges[j]), float(edges[j + 1])), float(mid[j]),
                 point_law(size, prediction, float(mid[j]))) for j in range(m)]

    def rank_function(self, size=None, prediction=None) -> RankFunction:
        """The simulated policy's rank: one branch per quantile cell (class docstring);
        SRPT's rank for exact predictions."""
        from .analysis.gittins import gittins_rank

        if prediction is not None and prediction.is_exact:
            return SRPT().rank()
        branches = []
        for (low, high), _, law in self.cell_laws(size, prediction):
            segs = gittins_rank(law).to_rank_function().branches[0].segments
            branches.append(Branch(tuple(segs), low=low, high=high))
        return RankFunction("prediction", tuple(branches))


@dataclass(frozen=True)
class RankPolicy(Policy):
    """A user-defined policy given by its rank function.

    ``function`` is either a :class:`qtheory.rank.RankFunction` (the documented
    piecewise form, any key) or a plain Python callable ``r(age)`` of the age
    only (vectorised or not), analysed by the age-rank SOAP engine
    (:mod:`qtheory.analysis.agerank`) which finds its monotone pieces.

    Examples
    --------
    A preemptive policy that serves the job with the smallest ``2*y - age``:

    >>> from qtheory.rank import RankFunction, Segment
    >>> pol = RankPolicy(RankFunction.single("prediction", [Segment(value=(2.0, 0.0), slope=-1)]),
    ...                  label="2y-a")
    >>> pol.name
    '2y-a'
    """

    function: object = None
    label: str = "rank policy"

    def __post_init__(self):
        if not (isinstance(self.function, RankFunction) or callable(self.function)):
            raise ValueError("function must be a qtheory.rank.RankFunction or a callable "
                             f"r(age), got {type(self.function).__name__}")

    @classmethod
    def from_file(cls, path, label: str | None = None) -> RankPolicy:
        """The policy of a rank function saved as JSON
        (:meth:`qtheory.rank.RankFunction.to_dict`, :meth:`~qtheory.rank.RankFunction.from_dict`
        for the form); the command line reads such files (``--policy Rank:file=PATH``).
        Its label is ``label``, else the file's ``"label"`` entry, else the file's name
        without its suffix.

        Examples
        --------
        >>> import json, tempfile, pathlib
        >>> from qtheory.rank import RankFunction, Segment
        >>> r = RankFunction.single("prediction", [Segment(value=(2.0, 0.0), slope=-1)])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "twice.json"
        >>> _ = path.write_text(json.dumps(r.to_dict()))
        >>> pol = RankPolicy.from_file(path)
        >>> pol.name, pol.function == r
        ('twice', True)
        """
        import json
        from pathlib import Path

        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ValueError(f"file: cannot read the rank file {str(path)!r}: "
                             f"{exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"file: {str(path)!r} is not JSON: {exc}") from None
        try:
            rank = RankFunction.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"file {str(path)!r}: {exc}") from None
        if label is None:
            label = data.get("label") if isinstance(data.get("label"), str) else path.stem
        return cls(rank, label=label)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    @property
    def is_callable(self) -> bool:
        return not isinstance(self.function, RankFunction)

    @property
    def uses_prediction(self) -> bool:  # type: ignore[override]
        return not self.is_callable and "prediction" in (self.function.key,
                                                         self.function.branch_key)

    def rank(self) -> RankFunction | None:
        return None if self.is_callable else self.function

    def age_rank(self, size=None):
        """The :class:`~qtheory.analysis.agerank.AgeRank` of a callable rank."""
        from .analysis.agerank import AgeRank

        if not self.is_callable:
            return AgeRank.from_rank_function(self.function)
        return AgeRank.from_callable(self.function, size=size, name=self.label)

    def rank_function(self, size=None, prediction=None) -> RankFunction | None:
        if not self.is_callable:
            return self.function
        return self.age_rank(size).to_rank_function()


_BY_NAME = {
    "FCFS": FCFS,
    "FIFO": FCFS,
    "PS": PS,
    "FB": FB,
    "LAS": FB,
    "SJF": SJF,
    "PSJF": PSJF,
    "SRPT": SRPT,
    "SPJF": SPJF,
    "PSPJF": PSPJF,
    "SPRPT": SPRPT,
    # parameter-free rank policies (no closed form: SOAP, the size law's Gittins rank)
    "GITTINS": Gittins,
    "SERPT": SERPT,
    "SRPT-BOUNCE": SRPTBounce,
    "SRPTBOUNCE": SRPTBounce,
}

#: The policies with a closed form, by name (the headline table of the command line and
#: the benchmarks); :func:`get_policy` also takes the aliases FIFO and LAS and the names of
#: the parameter-free rank policies Gittins, SERPT and SRPT-Bounce.
POLICY_NAMES = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT", "SPJF", "PSPJF", "SPRPT")
_ALL_NAMES = (*POLICY_NAMES, "FIFO", "LAS", "Gittins", "SERPT", "SRPT-Bounce")

# policies with parameters, by the names of their specs ("TRAIL:c=0.5"); RankPolicy takes a
# function and has no spec
_BY_SPEC = {c.__name__.upper(): c for c in (Priority, TRAIL, GittinsBuckets, GittinsPosterior,
                                            SkipPredict, DelayPredict, OneBit, Buckets)}
_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


def _spec_value(cls: type, field_name: str, kind: str, text: str):
    """One ``key=value`` of a policy spec, converted to the field's type."""
    text = text.strip()
    where = f"policy: {cls.__name__} parameter {field_name!r}"
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{where}: expected true or false, got {text!r}")
    if kind == "str":
        return text.lower()
    try:
        if kind == "int":
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        if kind == "tuple":  # numbers separated by '/', e.g. thresholds=0.5/2
            return tuple(float(v) for v in text.split("/") if v.strip())
        return float(text)
    except ValueError:
        what = {"int": "an integer", "tuple": "numbers separated by '/'"}.get(kind, "a number")
        raise ValueError(f"{where}: expected {what}, got {text!r}") from None


def parse_policy(spec: str) -> Policy:
    """Parse a policy spec: a name (``"SPRPT"``, ``"Gittins"``), or a policy with parameters
    as ``"Name:key=value,key=value"``.

    Names and keys are case-insensitive; the keys are the policy's fields (parameters left
    out take their defaults), lists are separated by ``/`` (``thresholds=0.5/2``) and flags
    read ``true``/``false`` (also ``yes``/``no``, ``1``/``0``). The command line
    (``qtheory solve --policy``) reads policies this way.

    Parameters
    ----------
    spec : str

    Returns
    -------
    Policy

    Examples
    --------
    >>> parse_policy("TRAIL:c=0.5")
    TRAIL(c=0.5, on='prediction')
    >>> parse_policy("onebit:threshold=2,preemptive=true,within=fifo")
    OneBit(threshold=2.0, preemptive=True, within='fifo')
    >>> parse_policy("Buckets:thresholds=0.5/2").thresholds
    (0.5, 2.0)
    >>> parse_policy("SkipPredict:threshold=1,expensive_cost=0.1,bit_prediction=1").name
    'SkipPredict-external(T=1, c1=0, c2=0.1, bit=prediction:1)'

    A user's rank function, saved as JSON (:meth:`RankPolicy.from_file`), is
    ``"Rank:file=PATH"`` (with ``label=NAME`` optionally).
    """
    if not isinstance(spec, str):
        raise TypeError(f"policy: expected a string spec, got {type(spec).__name__}")
    name, _, params = spec.partition(":")
    key = name.strip().upper()
    if key in _BY_NAME:
        if params.strip():
            raise ValueError(f"policy: {_BY_NAME[key].__name__} takes no parameters, "
                             f"got {params.strip()!r}")
        return _BY_NAME[key]()
    if key.replace("_", "") in ("RANK", "RANKPOLICY"):
        return _parse_rank_spec(spec, params)
    cls = _BY_SPEC.get(key.replace("-", "").replace("_", ""))
    if cls is None:
        known = ", ".join((*_ALL_NAMES, *(c.__name__ for c in _BY_SPEC.values()),
                           "Rank:file=PATH"))
        raise ValueError(f"policy: unknown name {name.strip()!r}; known: {known}")
    fields = {f.name.lower(): f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in _spec_items(spec, params):
        f = fields.get(k.lower())
        if f is None:
            raise ValueError(f"policy: {cls.__name__} has no parameter {k!r}; its "
                             f"parameters: {', '.join(fl.name for fl in dataclasses.fields(cls))}")
        if f.name in kwargs:
            raise ValueError(f"policy: parameter {f.name!r} given twice in {spec!r}")
        kwargs[f.name] = _spec_value(cls, f.name, str(f.type), v)
    return cls(**kwargs)


def _spec_items(spec: str, params: str) -> list[tuple[str, str]]:
    """The ``key=value`` items of a spec's parameters, keys stripped (blank items skipped; an
    item without ``=`` raises a ``ValueError``)."""
    out = []
    for item in params.split(","):
        if not item.strip():
            continue
        k, eq, v = item.partition("=")
        if not eq:
            raise ValueError(f"policy: expected key=value in {spec!r}, got {item.strip()!r}")
        out.append((k.strip(), v))
    return out


def _parse_rank_spec(spec: str, params: str) -> RankPolicy:
    """``Rank:file=PATH[,label=NAME]``: a :class:`RankPolicy` read from a JSON rank file."""
    kwargs: dict = {}
    for k, v in _spec_items(spec, params):
        k = k.lower()
        if k not in ("file", "label"):
            raise ValueError(f"policy: Rank takes file=PATH and optionally label=NAME, got "
                             f"{k + '=' + v.strip()!r} in {spec!r}")
        if k in kwargs:
            raise ValueError(f"policy: parameter {k!r} given twice in {spec!r}")
        kwargs[k] = v.strip()
    if not kwargs.get("file"):
        raise ValueError(f"policy: Rank needs file=PATH (a JSON rank function, see "
                         f"qtheory.rank.RankFunction.from_dict), got {spec!r}")
    return RankPolicy.from_file(kwargs["file"], label=kwargs.get("label"))


def get_policy(policy) -> Policy:
    """Return a :class:`Policy` from a policy object, a name or a spec
    (:func:`parse_policy`).

    Examples
    --------
    >>> get_policy("las")
    FB()
    >>> get_policy("Gittins")
    Gittins()
    >>> get_policy("trail:c=0.2")
    TRAIL(c=0.2, on='prediction')
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        return parse_policy(policy)
    raise TypeError(f"policy: expected a name or a Policy object, got {type(policy).__name__}")
