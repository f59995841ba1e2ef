"""Memory area of a request and the memory stability condition of Dong & Cao
(arXiv:2604.11001).

A request with ``l`` prompt and ``o`` output tokens holds ``l + j`` KV tokens while
producing its ``j``-th token, so over its life it occupies ``w = l o + o (o + 1) /
2`` token-slots (one slot per token per decode step). A memory of ``M`` slots
offers ``M`` slot-steps per step, whence Dong & Cao's necessary condition ``sum_k
lambda_k w_k <= M`` for any policy (unit-time steps, ``lambda_k`` per step).

Numbering (Dong & Cao, arXiv:2604.11001v1, the version seen): the slotted model is
Sec. 2, the necessary condition is Proposition 3.2, and Algorithm 1's memory budget
``sum_k b_k w_k <= M`` is inequality (2), as cited by an independent reproduction
(Concourse.jl); the equation number of ``w`` itself could not be checked here (paper
text not available).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..server import Server
from ..workload import Workload
from ._accounting import check_server, check_workload, mean_of, min_iteration_time

__all__ = ["MemoryBound", "memory_area", "memory_stable"]


def memory_area(workload: Workload, server: Server | None = None) -> float:
    r"""Mean token-slots a request occupies over its life (Dong & Cao, arXiv:2604.11001).

    .. math:: w(l, o) = l\,o + \frac{o (o + 1)}{2}

    averaged over the workload's (prompt, output) law: a trace's own pairs, or the
    product of independent laws.

    Source: Dong & Cao, arXiv:2604.11001, the per-request KV workload ``w_k`` that
    enters Proposition 3.2 and inequality (2) (numbering as cited by an independent
    reproduction; the equation number of the definition of ``w`` could not be checked
    here, paper text not available).

    Parameters
    ----------
    workload : Workload
        The (prompt, output) law.
    server : Server, optional
        Its ``prefill_emits_token`` selects the accounting: ``True`` (the default
        without a server) is Dong & Cao's, ``o`` iterations holding ``l + 1, ...,
        l + o`` tokens; ``False`` adds the prefill iteration holding ``l`` tokens,
        ``w = (o + 1)(l + o / 2)`` (Ao et al.'s ``A``, arXiv:2504.11320, Sec. 3.1,
        the factor in Eq. (5)).

    Returns
    -------
    float
        ``E[w(L, O)]`` in token-slot-iterations.

    Examples
    --------
    >>> from qtheory import llm
    >>> w = llm.Workload(arrival_rate=1.0, prompt_tokens=10, output_tokens=4)
    >>> memory_area(w)                         # 10 * 4 + 4 * 5 / 2
    50.0
    >>> memory_area(w, llm.Server(prefill_emits_token=False))   # + the prefill's 10
    60.0
    """
    check_workload(workload)
    pet = True if server is None else bool(check_server(server).prefill_emits_token)
    return mean_of(workload, "area", pet)


@dataclass(frozen=True)
class MemoryBound:
    """Result of :func:`memory_stable`.

    Attributes
    ----------
    arrival_rate : float
        ``lambda``, requests per unit time.
    area : float
        ``E[w]``, token-slot-iterations per request (:func:`memory_area`).
    min_iteration_time : float
        ``t_min``, a lower bound on the duration of an iteration (1 for unit time).
    demand : float
        ``lambda t_min E[w]``: a lower bound on the mean KV tokens in use, whatever
        the policy.
    capacity : float
        ``M = server.kv_capacity_tokens`` (``inf`` when unlimited).
    load : float
        ``demand / capacity``.
    feasible : bool
        ``demand <= capacity``. ``False`` means no policy can be stable.
    prefill_emits_token : bool
        The token accounting used.
    """

    arrival_rate: float
    area: float
    min_iteration_time: float
    demand: float
    capacity: float
    load: float
    feasible: bool
    prefill_emits_token: bool


def memory_stable(workload: Workload, server: Server) -> MemoryBound:
    r"""Necessary memory condition for stability (Dong & Cao, arXiv:2604.11001).

    With unit-time iterations and ``M`` token slots, any policy needs

    .. math:: \sum_k \lambda_k w_k = \lambda\,E[w] \le M,

    ``lambda`` in requests per iteration: Proposition 3.2 of Dong & Cao,
    arXiv:2604.11001 (numbering as cited by an independent reproduction; not checked
    against the paper text here). This function generalises the condition
    to iterations of any duration: every iteration lasts at least ``t_min``, so a
    request keeps ``w`` token-slots for at least ``t_min`` each, and by Little's law
    the mean number of KV tokens in use is at least ``lambda t_min E[w]``; it cannot
    exceed ``M``. Hence ``lambda t_min E[w] <= M`` for every policy (preemption only
    adds iterations, so the bound holds for recompute, swap, restart and keep
    alike).

    Parameters
    ----------
    workload : Workload
        Arrival rate and (prompt, output) law.
    server : Server
        ``kv_capacity_tokens`` (``None``: unlimited, always feasible),
        ``prefill_emits_token`` (accounting, see :func:`memory_area`) and
        ``iteration_time``: ``t_min = server.time_of(1, kv_tokens=0)``, i.e. the
        duration for :class:`UnitTime`, ``d0`` for :class:`LinearTime` and ``c + a``
        for :class:`StaircaseTime` (plus the compression overhead of one token).

    Returns
    -------
    MemoryBound

    Raises
    ------
    TypeError
        ``server.iteration_time`` is a user callable (no known minimum).
    ValueError
        Some request can never be served (:meth:`Server.check`).

    Notes
    -----
    The condition is necessary, not sufficient. With :class:`LinearTime` the
    iterations last longer as memory fills; :func:`fluid_equilibrium` then gives
    the memory in use, ``M* = lambda tau* E[A] >= lambda d0 E[A]`` (Ao et al.,
    arXiv:2504.11320, Sec. 3.2, Eq. (8)), and its ``fits_memory`` is the sharper check.
    The extension to iterations of any duration (``t_min``) is this package's, not a
    result of Dong & Cao.

    Examples
    --------
    >>> from qtheory import llm
    >>> w = llm.Workload(arrival_rate=0.5, prompt_tokens=10, output_tokens=4)
    >>> b = memory_stable(w, llm.Server(kv_capacity_tokens=20))
    >>> b.demand, b.load, b.feasible               # 0.5 * 50 slots per step, M = 20
    (25.0, 1.25, False)
    """
    check_workload(workload)
    check_server(server)
    t_min = min_iteration_time(server)
    server.check(workload)
    pet = bool(server.prefill_emits_token)
    lam = workload.arrival_rate
    a = mean_of(workload, "area", pet)
    demand = lam * t_min * a
    cap = math.inf if server.kv_capacity_tokens is None else float(server.kv_capacity_tokens)
    load = demand / cap
    return MemoryBound(arrival_rate=lam, area=a, min_iteration_time=t_min, demand=demand,
                       capacity=cap, load=load, feasible=bool(demand <= cap),
                       prefill_emits_token=pet)
