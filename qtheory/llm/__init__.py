"""LLM inference serving seen as a queue.

Specifications are small immutable objects:

- :class:`Workload` (arrival process, prompt and output token laws, prediction of
  the output length), :func:`preset` workloads with cited statistics and
  :func:`load_trace` for a CSV trace;
- :class:`Server` (batch and token limits, KV capacity in tokens or bytes with a
  :class:`ModelSpec`, block size, iteration-time model, chunked prefill, preemption
  mode, KV compression).

Examples
--------
>>> from qtheory import llm
>>> w = llm.preset("alpaca", arrival_rate=2.0)
>>> s = llm.Server(max_batch=32, kv_capacity_tokens=16384, block_size=16)
>>> s.check(w) is None
True
"""

from .analytic import (
    FluidEquilibrium,
    MemoryBound,
    MultibinCapacity,
    StabilityLimit,
    WaitThresholds,
    fluid_equilibrium,
    memory_area,
    memory_stable,
    multibin_capacity,
    stability_limit,
    wait_thresholds,
)
from .presets import PRESETS, lognormal_tokens, preset
from .schedulers import (
    ALISE,
    FCFS,
    MCSF,
    MLFQ,
    SCHEDULERS,
    SJF,
    SPJF,
    SPRPT,
    TRAIL,
    WAIT,
    Scheduler,
    get_scheduler,
)
from .server import (
    MODELS,
    PREEMPTION_MODES,
    KVCompression,
    LinearTime,
    ModelSpec,
    Server,
    StaircaseTime,
    UnitTime,
)
from .sim import Estimate, LLMResult, simulate
from .tokens import TokenLaw, as_token_law
from .trace import load_trace, read_trace
from .workload import GammaArrivals, Poisson, TraceArrivals, Workload, gamma, poisson

__all__ = [
    "Workload", "Poisson", "GammaArrivals", "TraceArrivals", "gamma", "poisson",
    "TokenLaw", "as_token_law",
    "preset", "PRESETS", "lognormal_tokens", "load_trace", "read_trace",
    "Server", "LinearTime", "StaircaseTime", "UnitTime", "KVCompression", "ModelSpec",
    "MODELS", "PREEMPTION_MODES",
    "stability_limit", "StabilityLimit", "fluid_equilibrium", "FluidEquilibrium",
    "memory_area", "memory_stable", "MemoryBound", "multibin_capacity", "MultibinCapacity",
    "wait_thresholds", "WaitThresholds",
    "simulate", "LLMResult", "Estimate",
    "Scheduler", "FCFS", "SJF", "SPJF", "SPRPT", "TRAIL", "MCSF", "WAIT", "ALISE", "MLFQ",
    "SCHEDULERS", "get_scheduler",
]
