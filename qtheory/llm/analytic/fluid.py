"""Fluid memory equilibrium of Ao, Luo, Simchi-Levi & Wang (arXiv:2504.11320).

Iterations last ``tau = d0 + d1 M`` where ``M`` is the number of KV tokens in the
batch. In the fluid limit every running request advances one stage per iteration
and ``lambda tau`` requests enter each iteration, so each stage holds ``lambda
tau`` requests and the batch holds ``M = lambda tau A`` tokens, ``A`` being the
area of a request (tokens held summed over its stages). With ``tau = d0 + d1 M``
the fixed point is ``M* = d0 lambda A / (1 - d1 lambda A)``.

Equation numbers refer to Ao et al.'s arXiv build whose front matter matches arXiv v2
(the authors' compiled LaTeX labels): iteration time ``tau = d0 + d1 M``
is Eq. (1) (Sec. 2.3); the fluid model is Sec. 3 ("Fluid Dynamics and Equilibrium"),
single type Sec. 3.1 (``M*``: Eq. (5); throughput ``lambda l'``: Eq. (6); instability
condition: Proposition 1), several types Sec. 3.2 (``M*``: Eq. (8); equilibrium
iteration time: Eq. (9); throughput: Eq. (10)). Later revisions may renumber.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..server import LinearTime, Server, StaircaseTime, UnitTime
from ..workload import Workload
from ._accounting import check_server, check_workload, mean_of

__all__ = ["FluidEquilibrium", "fluid_equilibrium"]


@dataclass(frozen=True)
class FluidEquilibrium:
    """Result of :func:`fluid_equilibrium` (times in the unit of ``d0``).

    Attributes
    ----------
    arrival_rate : float
        ``lambda``, requests per unit time.
    area : float
        ``E[A]``, token-slots per request summed over its iterations (``(o + 1)(l
        + o / 2)`` or ``l o + o (o + 1) / 2``, see :func:`fluid_equilibrium`).
    load : float
        ``lambda (d1 E[A] + kappa E[P])`` (``kappa``: compression time per processed
        token, ``E[P]``: batch tokens per request); stable iff ``< 1``.
    max_arrival_rate : float
        The arrival rate at which ``load`` reaches 1 (``inf`` if ``d1 = kappa = 0``).
    kv_tokens : float
        ``M*``, KV tokens in the batch at equilibrium (``inf`` when unstable).
    iteration_time : float
        ``tau* = d0 / (1 - load)`` (``inf`` when unstable).
    throughput_requests : float
        Completions per unit time: ``lambda`` when stable; above the boundary the
        supremum ``max_arrival_rate``, approached as the batch grows without bound.
    throughput_tokens : float
        Output tokens per unit time, ``throughput_requests * E[O]``.
    iterations_per_request : float
        ``E[O + 1]`` (``prefill_emits_token=False``) or ``E[O]`` (``True``).
    time_in_system : float
        ``iterations_per_request * tau*`` (no queueing at the fluid equilibrium).
    requests_in_system : float
        Little's law: ``lambda * time_in_system`` (all of them in the batch).
    batch_tokens : float
        Tokens processed per iteration, ``lambda tau* E[P]``.
    stable : bool
        ``load < 1``.
    fits_memory : bool or None
        ``M* <= server.kv_capacity_tokens`` (``None``: unlimited memory). Block
        rounding is ignored (it adds less than ``block_size`` tokens per request).
    fits_batch : bool
        ``requests_in_system <= server.max_batch``.
    fits_token_budget : bool or None
        ``batch_tokens <= server.token_budget`` (``None``: no budget).
    prefill_emits_token : bool
        The token accounting used (from the server).
    """

    arrival_rate: float
    area: float
    load: float
    max_arrival_rate: float
    kv_tokens: float
    iteration_time: float
    throughput_requests: float
    throughput_tokens: float
    iterations_per_request: float
    time_in_system: float
    requests_in_system: float
    batch_tokens: float
    stable: bool
    fits_memory: bool | None
    fits_batch: bool
    fits_token_budget: bool | None
    prefill_emits_token: bool


def _linear_params(server: Server) -> tuple[float, float]:
    it = server.iteration_time
    if isinstance(it, LinearTime):
        return it.d0, it.d1
    if isinstance(it, UnitTime):
        return it.duration, 0.0
    if isinstance(it, StaircaseTime):
        raise ValueError(
            "server.iteration_time is StaircaseTime: the fluid memory model needs an "
            "iteration time linear in KV tokens (LinearTime or UnitTime); for a "
            "staircase in batch tokens use llm.stability_limit")
    raise TypeError("server.iteration_time must be LinearTime or UnitTime for the fluid "
                    f"memory model, got {it!r}")


def fluid_equilibrium(workload: Workload, server: Server) -> FluidEquilibrium:
    r"""Fluid equilibrium of the KV memory of Ao, Luo, Simchi-Levi & Wang (arXiv:2504.11320).

    One request type with prompt ``l`` and output ``l'`` tokens, arrival rate
    ``lambda``, iteration time ``tau = d0 + d1 M`` (``M``: KV tokens in the batch).
    In the fluid model of Ao et al. (single-type fluid benchmark) a request runs a
    prefill stage holding ``l`` tokens, then ``l'`` decode stages, the ``j``-th
    holding ``l + j``; each stage holds ``lambda tau`` requests at equilibrium, so

    .. math::

        A = (l' + 1)\left(l + \frac{l'}{2}\right), \qquad
        M^* = \frac{d_0 \lambda A}{1 - d_1 \lambda A}, \qquad
        \tau^* = \frac{d_0}{1 - d_1 \lambda A},

    the throughput is ``lambda l'`` tokens per unit time, and the equilibrium
    exists iff ``d1 lambda A < 1``. Several types share ``tau`` and add their
    memory: ``lambda A`` becomes ``sum_j lambda_j A_j = lambda E[A(L, O)]`` over the
    workload's (prompt, output) law (a trace's own pairs, or the product of
    independent laws).

    Source: Ao et al., arXiv:2504.11320, Sec. 3 "Fluid Dynamics and Equilibrium".
    Single type (Sec. 3.1): ``M*`` is Eq. (5), the throughput ``lambda l'`` is Eq. (6),
    and by Proposition 1 the mean latency grows linearly in time under every policy
    when ``d1 lambda A >= 1``.
    Several types (Sec. 3.2): ``M*`` is Eq. (8), ``tau*`` is Eq. (9) and the
    throughput ``sum_j lambda_j l'_j`` is Eq. (10); ``tau = d0 + d1 M`` is Eq. (1)
    (Sec. 2.3). Numbering as compiled in the authors' arXiv build (front matter
    matching arXiv v2); later revisions may renumber.

    Parameters
    ----------
    workload : Workload
        Arrival rate and (prompt, output) law.
    server : Server
        ``iteration_time`` must be :class:`LinearTime` or :class:`UnitTime`
        (``d0 = duration``, ``d1 = 0``). ``prefill_emits_token`` selects the
        accounting (Notes); ``kv_capacity_tokens``, ``max_batch`` and
        ``token_budget`` are compared with the equilibrium; the compression overhead
        ``kv_compression.time_per_token`` is included.

    Returns
    -------
    FluidEquilibrium
        ``kv_tokens``, ``iteration_time``, ``time_in_system`` and
        ``requests_in_system`` are ``inf`` when unstable.

    Raises
    ------
    ValueError
        ``iteration_time`` is a :class:`StaircaseTime` (use :func:`stability_limit`).
    TypeError
        ``iteration_time`` is a user callable; ``workload`` or ``server`` of the
        wrong type.

    Notes
    -----
    *Accounting.* ``prefill_emits_token=False`` is the paper's (Sec. 3.1): ``l' + 1``
    iterations holding ``l, l + 1, ..., l + l'`` tokens, area ``(l' + 1)(l + l' /
    2)``, ``l + l'`` batch tokens. ``prefill_emits_token=True`` (vLLM; Dong & Cao)
    has the prefill iteration emit the first token: ``l'`` iterations holding ``l +
    1, ..., l + l'``, so the same fluid argument (each of the ``l'`` stages holds
    ``lambda tau`` requests) gives ``M = lambda tau A`` with

    .. math:: A = \sum_{j=1}^{l'} (l + j) = l\,l' + \frac{l'(l' + 1)}{2},

    and ``l + l' - 1`` batch tokens; the formulas for ``M*`` and ``tau*`` are
    unchanged.

    *Compression overhead.* With ``kappa`` time per processed token an iteration
    lasts ``d0 + d1 M + kappa T``, ``T = lambda tau E[P]`` the tokens processed per
    iteration (``E[P]`` batch tokens per request). Solving the linear fixed point,
    ``tau* = d0 / (1 - lambda (d1 E[A] + kappa E[P]))`` and ``M* = lambda tau*
    E[A]``; ``kappa = 0`` gives the paper's Eqs. (8) and (9). The overhead term is
    this package's extension, not a result of the paper.

    Examples
    --------
    One type, ``l = 100``, ``l' = 50``, paper's accounting:

    >>> from qtheory import llm
    >>> server = llm.Server(iteration_time=llm.LinearTime(d0=10.0, d1=1e-4), max_batch=512,
    ...                     kv_capacity_tokens=200_000, prefill_emits_token=False)
    >>> w = llm.Workload(arrival_rate=0.5, prompt_tokens=100, output_tokens=50)
    >>> eq = fluid_equilibrium(w, server)
    >>> eq.area                                    # (50 + 1) * (100 + 50 / 2)
    6375.0
    >>> round(eq.kv_tokens, 6), round(eq.iteration_time, 6), eq.stable, eq.fits_memory
    (46788.990826, 14.678899, True, True)
    >>> eq.throughput_tokens                       # lambda * l'
    25.0
    >>> round(eq.requests_in_system, 6), eq.fits_batch     # 0.5 * 51 * tau*
    (374.311927, True)
    >>> fluid_equilibrium(w.with_rate(2.0), server).kv_tokens
    inf
    """
    check_workload(workload)
    check_server(server)
    d0, d1 = _linear_params(server)
    kappa = server.kv_compression.time_per_token if server.kv_compression is not None else 0.0
    pet = bool(server.prefill_emits_token)
    lam = workload.arrival_rate
    a = mean_of(workload, "area", pet)
    p = mean_of(workload, "batch_tokens", pet)
    n_it = mean_of(workload, "iterations", pet)
    per_request = d1 * a + kappa * p
    load = lam * per_request
    lam_max = 1.0 / per_request if per_request > 0 else math.inf
    stable = bool(load < 1.0)
    if stable:
        tau = d0 / (1.0 - load)
        m = lam * tau * a
        t_sys = n_it * tau
        n_sys = lam * t_sys
        b_tok = lam * tau * p
        thr = lam
    else:
        tau = m = t_sys = n_sys = b_tok = math.inf
        thr = lam_max
    cap = server.kv_capacity_tokens
    budget = server.token_budget
    return FluidEquilibrium(
        arrival_rate=lam, area=a, load=load, max_arrival_rate=lam_max, kv_tokens=m,
        iteration_time=tau, throughput_requests=thr,
        throughput_tokens=thr * workload.mean_output, iterations_per_request=n_it,
        time_in_system=t_sys, requests_in_system=n_sys, batch_tokens=b_tok,
        stable=stable, fits_memory=None if cap is None else bool(m <= cap),
        fits_batch=bool(n_sys <= server.max_batch),
        fits_token_budget=None if budget is None else bool(b_tok <= budget),
        prefill_emits_token=pet)
