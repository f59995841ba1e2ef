"""Analytic models of LLM serving, one module per paper.

- :func:`stability_limit` — token-budget stability boundary (Li, Dai & Peng,
  arXiv:2504.07347);
- :func:`fluid_equilibrium` — fluid equilibrium of the KV memory with linear
  iteration times (Ao, Luo, Simchi-Levi & Wang, arXiv:2504.11320);
- :func:`memory_area`, :func:`memory_stable` — token-slots per request and the
  necessary memory condition (Dong & Cao, arXiv:2604.11001);
- :func:`wait_thresholds` — cohort sizes of the WAIT scheduler from the same fluid
  model (our derivation after Ao et al.);
- :func:`multibin_capacity` — capacity of multi-bin static batching (Guldogan,
  Kunde, Lee & Pedarsani, arXiv:2412.04504).

Every model reads the same :class:`~qtheory.llm.Workload` and
:class:`~qtheory.llm.Server` specifications; the server's ``prefill_emits_token``
flag selects the token accounting (see each function).
"""

from .fluid import FluidEquilibrium, fluid_equilibrium
from .memory import MemoryBound, memory_area, memory_stable
from .multibin import MultibinCapacity, multibin_capacity
from .token_budget import StabilityLimit, stability_limit
from .wait import WaitThresholds, wait_thresholds

__all__ = [
    "stability_limit", "StabilityLimit",
    "fluid_equilibrium", "FluidEquilibrium",
    "memory_area", "memory_stable", "MemoryBound",
    "multibin_capacity", "MultibinCapacity",
    "wait_thresholds", "WaitThresholds",
]
