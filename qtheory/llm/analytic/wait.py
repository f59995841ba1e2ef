"""Fluid-guided thresholds for the WAIT scheduler (after Ao, Luo, Simchi-Levi & Wang,
arXiv:2504.11320).

:class:`~qtheory.llm.schedulers.WAIT` admits each request type ``j`` in cohorts of
``n_j`` requests, at most one cohort per type per iteration boundary. When every
type is backlogged, the batch is a *saturated pipeline*: each of type ``j``'s
iteration stages holds ``n_j`` requests, so the batch holds ``sum_j n_j A_j`` KV
tokens (``A_j``: the area of a type-``j`` request, see
:func:`~qtheory.llm.fluid_equilibrium`), an iteration lasts ``tau_n = d0 + d1 sum_j
n_j A_j`` and type ``j`` completes ``n_j / tau_n`` requests per unit time. The
thresholds are the smallest integers with ``n_j > lambda_j tau_n`` (the pipeline
outruns the arrivals of every type); the memory needed is ``sum_j n_j A_j``, which
exceeds the fluid equilibrium ``M*`` only by the rounding of ``lambda_j tau`` up to an
integer. With deterministic lengths, WAIT with these thresholds never holds more than
``sum_j n_j A_j`` tokens, so a capacity at least that large is never overflowed: no
request is evicted, and no throughput is lost, where FCFS with newest-first eviction
(admitting whenever the head fits *now*) overfills the memory after a burst and
thrashes (``docs/llm_simulation.md``, "WAIT against FCFS").

This is our derivation from the fluid model and from our reading of WAIT's cohorts
(the paper's text was not available here); the threshold rule of the paper itself may
differ in its rounding and safety margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..schedulers import WAIT
from ..server import Server
from ..workload import Workload
from ._accounting import area, batch_tokens, check_server, check_workload, iterations
from .fluid import _linear_params, fluid_equilibrium

__all__ = ["WaitThresholds", "wait_thresholds"]


@dataclass(frozen=True)
class WaitThresholds:
    """Result of :func:`wait_thresholds`.

    Attributes
    ----------
    thresholds : tuple of int
        ``n_j``, the cohort size of each type.
    bounds : tuple of int
        The type boundaries on the output length (type ``j``: ``bounds[j-1] < o <=
        bounds[j]``).
    arrival_rates : tuple of float
        ``lambda_j``.
    areas : tuple of float
        ``E[A | type j]``, token-slots per request.
    batch_tokens : tuple of float
        ``E[P | type j]``, tokens a request adds to the batches over its life (for the
        compression overhead).
    kv_tokens : float
        ``sum_j n_j A_j``: KV tokens of the saturated pipeline, the memory WAIT needs.
    fluid_kv_tokens : float
        ``M*`` of :func:`~qtheory.llm.fluid_equilibrium` for the same workload.
    iteration_time : float
        ``tau_n``, the iteration time of the saturated pipeline.
    throughput_caps : tuple of float
        ``n_j / tau_n``: the most type-``j`` requests per unit time WAIT completes.
    requests_in_batch : float
        ``sum_j n_j E[iterations | type j]``, batch slots of the saturated pipeline.
    fits_memory : bool or None
        ``kv_tokens <= server.kv_capacity_tokens`` (``None``: unlimited memory).
    fits_batch : bool
        ``requests_in_batch <= server.max_batch``.
    """

    thresholds: tuple
    bounds: tuple
    arrival_rates: tuple
    areas: tuple
    batch_tokens: tuple
    kv_tokens: float
    fluid_kv_tokens: float
    iteration_time: float
    throughput_caps: tuple
    requests_in_batch: float
    fits_memory: bool | None
    fits_batch: bool

    def scheduler(self, nested: bool = False, victim: str = "newest") -> WAIT:
        """The :class:`~qtheory.llm.schedulers.WAIT` scheduler with these thresholds."""
        return WAIT(thresholds=self.thresholds, bounds=self.bounds, nested=nested,
                    victim=victim)


def _per_type(workload: Workload, bounds: tuple, pet: bool):
    """``(P(type j), E[area | j], E[batch tokens | j], E[iterations | j])`` per type."""
    edges = np.asarray((0,) + tuple(bounds) + (np.iinfo(np.int64).max,), dtype=np.int64)
    if workload.pairs is not None:
        lp, lo = (np.asarray(a, float) for a in workload.pairs)
        prob = np.full(lo.size, 1.0 / lo.size)
    else:
        law = workload.output_tokens
        lo = np.asarray(law.values, float)
        prob = np.asarray(law.probs, float)
        lp = np.full(lo.size, workload.mean_prompt)  # every quantity is linear in l
    out = []
    for j in range(edges.size - 1):
        m = (lo > edges[j]) & (lo <= edges[j + 1])
        pj = float(prob[m].sum())
        if pj <= 0.0:
            raise ValueError(f"bounds: type {j} ({edges[j]} < output <= {edges[j + 1]}) "
                             "has probability 0; remove the empty type")
        w = prob[m] / pj
        out.append((pj, float(np.dot(w, area(lp[m], lo[m], pet))),
                    float(np.dot(w, batch_tokens(lp[m], lo[m], pet))),
                    float(np.dot(w, iterations(lp[m], lo[m], pet)))))
    return out


def wait_thresholds(workload: Workload, server: Server, bounds=()) -> WaitThresholds:
    r"""Smallest WAIT cohort sizes whose saturated pipeline outruns the arrivals.

    Fluid model of Ao, Luo, Simchi-Levi & Wang (arXiv:2504.11320; see
    :func:`~qtheory.llm.fluid_equilibrium`) applied to our reading of WAIT's cohorts:
    with every type backlogged, each iteration admits ``n_j`` type-``j`` requests, so

    .. math::

        M_n = \sum_j n_j A_j, \qquad \tau_n = d_0 + d_1 M_n + \kappa \sum_j n_j P_j,
        \qquad n_j > \lambda_j \tau_n \ \text{for every}\ j,

    (``P_j``: batch tokens of a type-``j`` request, ``kappa``: the compression time per
    token). The smallest such integers are found by the increasing fixed-point
    iteration ``n_j <- floor(lambda_j tau_n) + 1`` from ``n_j = 1``, which stops at the
    least solution: one exists whenever the fluid model is stable (``load = lambda (d1
    E[A] + kappa E[P]) < 1``), since ``n_j <= lambda_j tau_n + 1`` bounds ``tau_n <= (d0
    + sum_j (d1 A_j + kappa P_j)) / (1 - load)``.

    Parameters
    ----------
    workload : Workload
        Arrival rate and (prompt, output) law; types are defined by ``bounds`` on the
        true output length.
    server : Server
        ``iteration_time`` must be :class:`~qtheory.llm.LinearTime` or
        :class:`~qtheory.llm.UnitTime`; ``prefill_emits_token`` selects the
        accounting; ``kv_capacity_tokens`` and ``max_batch`` are compared with the
        result.
    bounds : sequence of int
        Increasing output-length boundaries of the types (empty: one type; at most two
        boundaries, as :class:`~qtheory.llm.schedulers.WAIT`).

    Returns
    -------
    WaitThresholds
        ``.scheduler()`` gives the WAIT scheduler.

    Raises
    ------
    ValueError
        Unstable fluid model, a type with probability 0, or bad ``bounds``.

    Notes
    -----
    Memory is counted in tokens; a block size ``b`` adds less than ``b`` tokens per
    request. With random lengths, the pipeline's memory fluctuates around ``M_n``: give
    the server a margin (or use the lengths' upper quantiles as types' bounds).

    Examples
    --------
    One type, prompt 50, output 100, ``tau = 1 + 5e-6 M``, 10 requests per unit time:
    ``M* = 202010``, ``lambda tau* = 20.1``, so cohorts of 21 per iteration need
    ``21 A = 211050`` tokens, 4.5 % above ``M*``:

    >>> from qtheory import llm
    >>> w = llm.Workload(10.0, 50, 100)
    >>> s = llm.Server(max_batch=10**6, iteration_time=llm.LinearTime(1.0, 5e-6),
    ...                kv_capacity_tokens=211_050)
    >>> d = llm.wait_thresholds(w, s)
    >>> d.thresholds, d.kv_tokens, round(d.kv_tokens / d.fluid_kv_tokens, 4), d.fits_memory
    ((21,), 211050.0, 1.0448, True)
    >>> round(d.throughput_caps[0], 3), d.scheduler().name     # 21 / (1 + 5e-6 * 211050)
    (10.219, 'WAIT(21,)')
    """
    check_workload(workload)
    check_server(server)
    b = tuple(bounds)
    WAIT(thresholds=(1,) * (len(b) + 1), bounds=b)  # validates the bounds
    d0, d1 = _linear_params(server)
    kappa = server.kv_compression.time_per_token if server.kv_compression is not None else 0.0
    pet = bool(server.prefill_emits_token)
    fl = fluid_equilibrium(workload, server)
    if not fl.stable:
        raise ValueError(f"workload: the fluid model is unstable (load {fl.load:.4g} >= 1); "
                         "no thresholds can keep up")
    types = _per_type(workload, b, pet)
    lam = [workload.arrival_rate * t[0] for t in types]
    n = [1] * len(types)
    tau = math.nan
    while True:  # increasing and bounded (see Notes): terminates
        mem = sum(nj * t[1] for nj, t in zip(n, types))
        tok = sum(nj * t[2] for nj, t in zip(n, types))
        tau = d0 + d1 * mem + kappa * tok
        new = [max(nj, math.floor(lj * tau) + 1) for nj, lj in zip(n, lam)]
        if new == n:
            break
        n = new
    mem = sum(nj * t[1] for nj, t in zip(n, types))
    cap = server.kv_capacity_tokens
    in_batch = sum(nj * t[3] for nj, t in zip(n, types))
    return WaitThresholds(
        thresholds=tuple(n), bounds=b, arrival_rates=tuple(lam),
        areas=tuple(t[1] for t in types), batch_tokens=tuple(t[2] for t in types),
        kv_tokens=float(mem),
        fluid_kv_tokens=float(fl.kv_tokens), iteration_time=float(tau),
        throughput_caps=tuple(nj / tau for nj in n), requests_in_batch=float(in_batch),
        fits_memory=None if cap is None else bool(mem <= cap),
        fits_batch=bool(in_batch <= server.max_batch))
