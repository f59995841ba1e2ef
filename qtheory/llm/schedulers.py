"""Scheduler specifications for the token-level LLM serving simulator.

A scheduler is a small frozen dataclass with validated parameters. It is data: the
simulator (:func:`qtheory.llm.simulate`) reads its :meth:`~Scheduler.params` (an integer
code and a float parameter vector) and applies the rule stated in the class docstring.
Every scheduler orders the waiting requests by a *rank* (lower is served first, ties
first-come first-served by arrival index); what differs is the rank, whether running
requests can be preempted by a better-ranked waiting one, and the admission rule.

Common parameter: ``victim`` is the rule that picks the request evicted when the KV
cache overflows: ``"newest"`` (largest arrival index among running requests: vLLM's
rule, Kwon et al., SOSP 2023) or ``"lowest-priority"`` (largest rank).

Examples
--------
>>> from qtheory import llm
>>> llm.SPRPT(refine_every=32).params()[0] == llm.SPRPT.code
True
>>> llm.get_scheduler("fcfs")
FCFS(victim='newest')
>>> llm.TRAIL(c=0.5).name
'TRAIL(c=0.5)'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Scheduler", "FCFS", "SJF", "SPJF", "SPRPT", "TRAIL", "MCSF", "WAIT", "ALISE",
           "MLFQ", "SCHEDULERS", "VICTIM_RULES", "get_scheduler"]

#: Eviction victim rules.
VICTIM_RULES = ("newest", "lowest-priority")

# parameter vector layout read by the kernel (see qtheory.llm.sim.kernel)
_NPRM = 8


def _check_victim(v) -> str:
    if v not in VICTIM_RULES:
        raise ValueError(f"victim must be one of {VICTIM_RULES}, got {v!r}")
    return v


def _refine(value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"refine_every must be None or an integer >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Scheduler:
    """Base class: ``code`` (kernel branch), ``preemptive`` and the victim rule."""

    code = -1
    preemptive = False
    uses_prediction = False

    @property
    def name(self) -> str:
        """Short label; a victim rule other than the class's default is appended."""
        default = type(self).__dataclass_fields__["victim"].default
        if self.victim != default:
            return f"{self._label()}[victim={self.victim}]"
        return self._label()

    def _label(self) -> str:
        return type(self).__name__

    def _vector(self) -> list:
        return []

    def params(self) -> tuple[int, np.ndarray]:
        """``(code, parameter vector)`` read by the simulation kernel.

        Slot 0 is the victim rule (0 newest, 1 lowest priority); the rest are the
        scheduler's own parameters.
        """
        v = np.zeros(_NPRM)
        v[0] = VICTIM_RULES.index(self.victim)
        own = self._vector()
        v[1:1 + len(own)] = own
        return self.code, v


@dataclass(frozen=True)
class FCFS(Scheduler):
    """First come, first served (vLLM's default; Kwon et al., "Efficient Memory
    Management for Large Language Model Serving with PagedAttention", SOSP 2023).

    Rule: rank = arrival index. Waiting requests are admitted in rank order while the
    head fits (a batch slot, token budget and KV memory); admission stops at the first
    request that does not fit (no overtaking). Never preempts except on memory overflow.
    """

    victim: str = "newest"
    code = 0

    def __post_init__(self):
        _check_victim(self.victim)


@dataclass(frozen=True)
class SJF(Scheduler):
    """Shortest (true) output first, non-preemptive: the oracle baseline of
    Jaillet et al., arXiv:2502.07115, and of Qiu et al., "Efficient interactive LLM
    serving with proxy model-based sequence length prediction" (2024).

    Rule: rank = true output length ``o``; admission as :class:`FCFS` (in rank order,
    stop at the first that does not fit); never preempts except on memory overflow.
    """

    victim: str = "newest"
    code = 1

    def __post_init__(self):
        _check_victim(self.victim)


@dataclass(frozen=True)
class SPJF(Scheduler):
    """Shortest predicted output first, non-preemptive (Qiu et al., arXiv:2404.08509;
    Mitzenmacher's SPJF for a single server, arXiv:1902.00732).

    Rule: rank = predicted output length ``Y`` (the workload's prediction model);
    admission as :class:`FCFS`.
    """

    victim: str = "newest"
    code = 2
    uses_prediction = True

    def __post_init__(self):
        _check_victim(self.victim)


@dataclass(frozen=True)
class SPRPT(Scheduler):
    """Shortest predicted remaining output first, preemptive (Mitzenmacher,
    arXiv:1902.00732; for LLM serving with refined predictions: Shahout et al., TRAIL,
    arXiv:2410.01035).

    Rule: rank = ``Yhat(g) - g`` for a request that has generated ``g`` tokens, where
    the predicted total ``Yhat`` is refined every ``refine_every`` tokens: at
    ``g_k = k * refine_every`` a fresh prediction of the *remaining* length is drawn with
    the workload's noise model applied to the true remaining length, ``Yhat = g_k + (o -
    g_k) Z_k`` (errors shrink as the request nears completion). With
    ``refine_every=None``, ``Yhat = Y`` throughout and the rank ``Y - g`` may become
    negative for an underestimated request (which then has top priority, as the SOAP
    rank ``y - a``). At each iteration boundary, while the best waiting request does not
    fit and ranks strictly better than the worst running *decoding* request, that
    request is preempted (the server's preemption mode) and the waiting one admitted.
    """

    refine_every: int | None = None
    victim: str = "lowest-priority"
    code = 3
    preemptive = True
    uses_prediction = True

    def __post_init__(self):
        _refine(self.refine_every)
        _check_victim(self.victim)

    def _label(self) -> str:
        return "SPRPT" + (f"(R={self.refine_every})" if self.refine_every else "")

    def _vector(self):
        return [_refine(self.refine_every)]


@dataclass(frozen=True)
class TRAIL(Scheduler):
    """SPRPT with limited preemption (Shahout, Dai, ... Mitzenmacher, "Don't Stop Me
    Now: Embedding Based Scheduling for LLMs" (TRAIL), arXiv:2410.01035).

    Rule: as :class:`SPRPT` (same refinement), but a request can be preempted by
    priority only while it has generated fewer than ``c * Y`` tokens (``Y`` its initial
    prediction); from then on its rank is ``-inf`` (it is never preempted by priority
    and, if evicted for memory, it is first in line).
    """

    c: float = 0.8
    refine_every: int | None = None
    victim: str = "lowest-priority"
    code = 4
    preemptive = True
    uses_prediction = True

    def __post_init__(self):
        if not (isinstance(self.c, numbers.Real) and math.isfinite(self.c) and self.c >= 0):
            raise ValueError(f"c must be a finite number >= 0, got {self.c!r}")
        _refine(self.refine_every)
        _check_victim(self.victim)

    def _label(self) -> str:
        r = f", R={self.refine_every}" if self.refine_every else ""
        return f"TRAIL(c={self.c:g}{r})"

    def _vector(self):
        return [_refine(self.refine_every), float(self.c)]


@dataclass(frozen=True)
class MCSF(Scheduler):
    """Memory-constrained shortest first (Jaillet, Jiang, Mellou, Molinaro, Podimata,
    Zhou, "Online Scheduling for LLM Inference with KV Cache Constraints",
    arXiv:2502.07115, Algorithm MC-SF).

    Rule: non-preemptive; waiting requests sorted by predicted output ``Y`` (ties by
    arrival). At an iteration boundary, admit the longest prefix of that order such
    that, with every running and admitted request predicted to finish after
    ``max(ceil(Y) - g, 1)`` more tokens, the KV memory (in blocks) at each of those
    predicted completion times stays within capacity; batch slots and token budget
    must also fit. A request that outlives its prediction is predicted to end at the
    next iteration. With exact predictions no admitted request is ever evicted. A
    request that outlives its prediction keeps running; if memory then overflows the
    kernel evicts a victim (counted in ``preemptions``) by the ``victim`` rule. When
    nothing runs, the first waiting request is admitted if it fits now, whatever its
    prediction (otherwise a request predicted to outgrow the whole cache would wait
    forever).
    """

    victim: str = "newest"
    code = 5
    uses_prediction = True

    def __post_init__(self):
        _check_victim(self.victim)

    def _label(self) -> str:
        return "MC-SF"


@dataclass(frozen=True)
class WAIT(Scheduler):
    """Waiting for accumulated inference threshold (Ao, Luo, Simchi-Levi, Wang,
    "Optimizing LLM Inference: Fluid-Guided Online Scheduling with Memory Constraints",
    arXiv:2504.11320).

    Requests are typed by output length: type ``j`` has ``bounds[j-1] < o <=
    bounds[j]`` (true length for WAIT; with ``nested=True`` the type is not known in
    advance and the stage boundaries ``bounds`` are crossed as tokens are generated).

    Rule simulated (WAIT, our reading of the paper's threshold batching): each type
    ``j`` admits new requests in *cohorts* of ``thresholds[j]``: once its previous
    cohort is admitted and at least ``thresholds[j]`` new requests of type ``j`` are
    waiting, a cohort of the oldest ``thresholds[j]`` of them opens and is admitted in
    arrival order as far as batch slots, token budget and memory allow (a cohort not
    admitted whole stays open and is completed at later iteration boundaries). At
    most one cohort per type opens per iteration boundary, so a backlog of type ``j``
    is admitted at ``thresholds[j]`` requests per iteration. Once no further request
    will arrive, each type admits all its waiting requests. Requests preempted by a
    memory overflow are readmitted first-come first-served at any boundary.

    Rule simulated (Nested WAIT, ``nested=True``, for unknown lengths; our reading of
    the paper's stages): every new request enters stage 0; a request that has
    generated ``bounds[k]`` tokens without completing pauses with its KV kept in
    memory (counted against capacity; not a preemption) and waits for stage
    ``k + 1``. Each stage ``k`` admits cohorts of ``thresholds[k]`` of its waiting
    requests (oldest first) as WAIT does per type, at most one per stage per
    iteration boundary. On a memory overflow paused requests are evicted
    first (KV dropped, readmitted first-come first-served and recomputed). Once no
    further request will arrive, each stage admits all its waiting requests.
    """

    thresholds: tuple = (1,)
    bounds: tuple = ()
    nested: bool = False
    victim: str = "newest"
    code = 6

    def __post_init__(self):
        th = tuple(self.thresholds)
        if not th or any(isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 1
                         for t in th):
            raise ValueError(f"thresholds must be integers >= 1, got {self.thresholds!r}")
        b = tuple(self.bounds)
        if len(b) != len(th) - 1:
            raise ValueError(f"bounds must have len(thresholds) - 1 = {len(th) - 1} "
                             f"entries, got {len(b)}")
        if any(not isinstance(x, numbers.Integral) or x < 1 for x in b) or \
                any(b[i] >= b[i + 1] for i in range(len(b) - 1)):
            raise ValueError(f"bounds must be increasing integers >= 1, got {self.bounds!r}")
        if len(th) > 3:
            raise ValueError("at most 3 types are supported")
        object.__setattr__(self, "thresholds", tuple(int(t) for t in th))
        object.__setattr__(self, "bounds", tuple(int(x) for x in b))
        _check_victim(self.victim)

    def _label(self) -> str:
        return ("Nested-WAIT" if self.nested else "WAIT") + str(self.thresholds)

    def _vector(self):
        th = list(self.thresholds) + [0] * (3 - len(self.thresholds))
        bd = list(self.bounds) + [0] * (2 - len(self.bounds))
        return [len(self.thresholds)] + th + bd + [1.0 if self.nested else 0.0]


@dataclass(frozen=True)
class ALISE(Scheduler):
    """ALISE-like speculative scheduling (Zhao & Wang, "ALISE: Accelerating Large
    Language Model Serving with Speculative Scheduling", ICCAD 2024, arXiv:2410.23537).

    Rule: preemptive priority by predicted remaining execution, rank ``Yhat(g) - g`` as
    :class:`SPRPT` (same refinement). A request preempted by priority keeps its KV in
    GPU memory (paused) when its estimated waiting time, the predicted remaining tokens
    of the request that displaces it, is at most ``keep_threshold`` iterations;
    otherwise its KV is offloaded to host memory (``"swap"``, at the server's
    ``swap_bandwidth``; recomputed if the server has none). Paused requests are the
    first evicted (offloaded) when memory overflows. The server's ``kv_compression``
    models ALISE's KV quantization.
    """

    keep_threshold: float = 64.0
    refine_every: int | None = None
    victim: str = "lowest-priority"
    code = 7
    preemptive = True
    uses_prediction = True

    def __post_init__(self):
        k = self.keep_threshold
        if not (isinstance(k, numbers.Real) and math.isfinite(k) and k >= 0):
            raise ValueError(f"keep_threshold must be a finite number >= 0, got {k!r}")
        _refine(self.refine_every)
        _check_victim(self.victim)

    def _vector(self):
        return [_refine(self.refine_every), 0.0, float(self.keep_threshold)]


@dataclass(frozen=True)
class MLFQ(Scheduler):
    """Skip-join multi-level feedback queue at token granularity (FastServe: Wu et al.,
    "Fast Distributed Inference Serving for Large Language Models", arXiv:2305.05920).

    Rule: ``levels`` queues; level ``q`` has a quantum of ``quantum * 2**q`` output
    tokens (the last level is unbounded). Skip-join: a new request enters the highest
    level whose quantum covers its prefill, measured in decode iterations as
    ``time_of(prefill) / time_of(one decode)`` of the server's iteration-time model.
    A request is demoted one level when it has generated its level's quantum. Rank =
    level, ties first-come first-served; preemptive: a waiting request of a higher
    level preempts a running decoding request of a lower one.
    """

    quantum: int = 8
    levels: int = 6
    victim: str = "lowest-priority"
    code = 8
    preemptive = True

    def __post_init__(self):
        for n, v in (("quantum", self.quantum), ("levels", self.levels)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{n} must be an integer >= 1, got {v!r}")
        if self.levels > 40:
            raise ValueError(f"levels must be <= 40, got {self.levels}")
        _check_victim(self.victim)

    def _label(self) -> str:
        return f"MLFQ(q={self.quantum},L={self.levels})"

    def _vector(self):
        return [0.0, 0.0, 0.0, float(self.quantum), float(self.levels)]


#: Names accepted by :func:`get_scheduler`.
SCHEDULERS = {"fcfs": FCFS, "sjf": SJF, "spjf": SPJF, "sprpt": SPRPT, "trail": TRAIL,
              "mc-sf": MCSF, "mcsf": MCSF, "wait": WAIT, "alise": ALISE, "mlfq": MLFQ,
              "fastserve": MLFQ}


def get_scheduler(value) -> Scheduler:
    """A :class:`Scheduler` from an instance or a name of :data:`SCHEDULERS`."""
    if isinstance(value, Scheduler):
        return value
    if isinstance(value, str):
        key = value.strip().lower().replace("_", "-")
        if key in SCHEDULERS:
            return SCHEDULERS[key]()
        raise ValueError(f"scheduler must be one of {sorted(SCHEDULERS)} or a Scheduler, "
                         f"got {value!r}")
    raise TypeError(f"scheduler must be a name or a Scheduler instance, got {value!r}")


_ = field  # keep dataclasses.field importable for subclasses
