"""Token-budget stability limit of Li, Dai & Peng (arXiv:2504.07347).

A server that processes at most ``b_max`` tokens per iteration, an iteration of
``b`` tokens lasting ``t_b``, serves at most ``b_max / t_{b_max}`` tokens per unit
time with full batches. Li, Dai & Peng ("Throughput-Optimal Scheduling Algorithms
for LLM Inference and AI Agents", arXiv:2504.07347; later Dai, Deng, Li & Peng)
show that with mean prefill ``m_p`` and decode ``m_d`` tokens per request every
work-conserving policy that fills batches up to the budget (Orca- and Sarathi-style
batching) is stable when ``lambda (m_p + m_d) < b_max / t_{b_max}``, and that no
policy is when ``lambda (m_p + m_d) > b_max / t_{b_max}``.

Numbering, as cited for arXiv:2504.07347v3 (Dai, Deng, Li & Peng) by two independent
reproductions (serQ, Concourse.jl): the stability boundary is Theorem 2 (part (a): no
policy above it; part (b): every work-conserving policy below it), work conservation is
defined in Eqs. (8)-(9), the queueing model is Sec. 3.1 with the staircase batch time
as Assumption 1, and the Orca / Sarathi-Serve / FasterTransformer / vLLM comparison is
Sec. 4. The numbering of v1-v2 (Li, Dai & Peng) could not be checked here (paper text
not available).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from ..server import LinearTime, Server, StaircaseTime, UnitTime
from ..workload import Workload
from ._accounting import check_server, check_workload, mean_of

__all__ = ["StabilityLimit", "stability_limit"]


@dataclass(frozen=True)
class StabilityLimit:
    """Result of :func:`stability_limit` (rates are per unit of the iteration time).

    Attributes
    ----------
    arrival_rate : float
        ``lambda``, requests per unit time.
    tokens_per_request : float
        Mean batch tokens a request needs: ``m_p + m_d`` (``prefill_emits_token=False``)
        or ``m_p + m_d - 1`` (``True``: the prefill iteration emits the first token).
    token_rate : float
        Offered token load ``lambda * tokens_per_request``.
    token_budget : int
        ``b_max``.
    batch_time : float
        ``t_{b_max}``, the duration of a full iteration.
    max_token_rate : float
        ``b_max / t_{b_max}``, tokens per unit time with full batches.
    max_arrival_rate : float
        ``max_token_rate / tokens_per_request``: the stability boundary in requests.
    load : float
        ``rho = token_rate / max_token_rate``.
    stable : bool
        ``rho < 1``: every work-conserving policy filling the budget is stable.
    backlog_growth_rate : float
        Fluid growth rate of the number of requests in system, ``max(lambda -
        lambda_max, 0)`` (requests per unit time; 0 when ``rho <= 1``).
    token_backlog_growth_rate : float
        The same in tokens: ``max(token_rate - max_token_rate, 0)``.
    token_rate_bound : float
        ``max_{1 <= b <= b_max} b / t_b``: no policy serves more tokens per unit
        time. Equal to ``max_token_rate`` unless a partial last step of the staircase
        makes the full budget less efficient than a smaller batch.
    prefill_emits_token : bool
        The token accounting used (from the server).
    """

    arrival_rate: float
    tokens_per_request: float
    token_rate: float
    token_budget: int
    batch_time: float
    max_token_rate: float
    max_arrival_rate: float
    load: float
    stable: bool
    backlog_growth_rate: float
    token_backlog_growth_rate: float
    token_rate_bound: float
    prefill_emits_token: bool


def stability_limit(workload: Workload, server: Server) -> StabilityLimit:
    r"""Token-budget stability boundary of Li, Dai & Peng (arXiv:2504.07347).

    With iteration time ``t_b`` for a batch of ``b`` tokens and a budget of
    ``b_max`` tokens per iteration, the stability condition is

    .. math:: \lambda (m_p + m_d) < b_{\max} / t_{b_{\max}}

    (Li, Dai & Peng, arXiv:2504.07347, Theorem 2: part (a) for the instability of
    every policy above the boundary, part (b) for the stability of work-conserving
    policies, Eqs. (8)-(9), below it; numbering of v3 as cited by two independent
    reproductions, earlier versions not checked. The stability region is the same
    for Orca- and Sarathi-style batching, Sec. 4). Above the boundary a full-budget
    policy processes ``b_max /
    t_{b_max}`` tokens per unit time, so the fluid backlog grows at ``lambda -
    lambda_max`` requests per unit time (a consequence drawn here, not a numbered
    result of the paper).

    Parameters
    ----------
    workload : Workload
        Arrival rate and token laws (only the means enter).
    server : Server
        Needs a ``token_budget``, and an iteration time that depends on batch
        tokens only: :class:`StaircaseTime`, :class:`UnitTime`, or
        :class:`LinearTime` with ``d1 = 0`` (a constant). The compression overhead
        ``kv_compression.time_per_token`` is included in ``t_b``
        (:meth:`Server.time_of`).

    Returns
    -------
    StabilityLimit

    Raises
    ------
    ValueError
        ``server.token_budget`` is ``None``; the iteration time depends on KV
        tokens (``LinearTime`` with ``d1 > 0``: use :func:`fluid_equilibrium`);
        some request can never be served (:meth:`Server.check`).
    TypeError
        ``server.iteration_time`` is a user callable (its dependence on KV tokens
        is unknown).

    Warns
    -----
    UserWarning
        When ``server.max_batch < server.token_budget`` (a decode-only batch then
        holds at most ``max_batch`` tokens, which the token-only model ignores: the
        true region may be smaller), or when a batch smaller than the budget is
        more efficient (``token_rate_bound > max_token_rate``).

    Notes
    -----
    *Token accounting.* The formula counts ``m_p + m_d`` batch tokens per request:
    a prefill of ``m_p`` tokens and ``m_d`` decode iterations of one token, the
    ``prefill_emits_token=False`` convention. With ``True`` (vLLM's) the prefill
    iteration already emits the first output token, so a request costs ``m_p +
    m_d - 1`` batch tokens; the server's flag is honoured.

    *No token budget.* Without a budget, ``b / t_b`` keeps growing with ``b`` (for
    the staircase towards ``b0 / a``, never reached; for unit time without bound)
    and the result's premise, a largest batch ``b_max``, is absent: a budget is
    required.

    *Batch sizes that are not multiples of the step.* For the staircase ``c + a
    ceil(b / b0)``, ``b / t_b`` is largest at ``b_max`` when ``b_max`` is a
    multiple of ``b0``. Otherwise ``floor(b_max / b0) b0`` tokens may be processed
    faster; the sufficient condition (full batches) is still ``rho < 1`` but no
    policy can exceed ``token_rate_bound``.

    Examples
    --------
    The staircase fitted by Li, Dai & Peng for CodeLlama-34B on an A100 (ms;
    Sec. 2.3, Fig. 6 and Eq. (4) as cited by Concourse.jl for v3):

    >>> from qtheory import llm
    >>> server = llm.Server(max_batch=2048, token_budget=2048, prefill_emits_token=False,
    ...                     iteration_time=llm.StaircaseTime(c=11.28, a=35.47, b0=128))
    >>> w = llm.Workload(arrival_rate=0.02, prompt_tokens=100, output_tokens=50)
    >>> lim = stability_limit(w, server)
    >>> round(lim.max_token_rate, 6)            # 2048 / (11.28 + 16 * 35.47) tokens/ms
    3.538355
    >>> round(lim.max_arrival_rate, 6), round(lim.load, 4), lim.stable
    (0.023589, 0.8479, True)
    >>> over = stability_limit(w.with_rate(0.03), server)
    >>> over.stable, round(over.backlog_growth_rate, 6)    # requests per ms
    (False, 0.006411)
    """
    check_workload(workload)
    check_server(server)
    it = server.iteration_time
    b_max = server.token_budget
    if b_max is None:
        raise ValueError(
            "server.token_budget is None: the token-budget bound needs a largest batch "
            "b_max (without one, b / t_b keeps growing with b); give the server a "
            "token_budget")
    if isinstance(it, LinearTime) and it.d1 > 0:
        raise ValueError(
            "server.iteration_time is LinearTime with d1 > 0: the iteration time grows "
            "with the KV tokens held, not with the batch tokens, so the token-budget "
            "bound does not apply; use llm.fluid_equilibrium")
    if not isinstance(it, (LinearTime, StaircaseTime, UnitTime)):
        raise TypeError(
            "server.iteration_time must be StaircaseTime, UnitTime or LinearTime with "
            f"d1 = 0 for the token-budget bound, got {it!r}")
    server.check(workload)
    pet = bool(server.prefill_emits_token)
    lam = workload.arrival_rate
    tokens = mean_of(workload, "batch_tokens", pet)
    t_full = server.time_of(float(b_max))
    max_tok = b_max / t_full
    # b / t_b is maximal at b_max or at the largest multiple of the step below it
    candidates = {b_max}
    if isinstance(it, StaircaseTime) and b_max >= it.b0:
        candidates.add((b_max // it.b0) * it.b0)
    bound = max(b / server.time_of(float(b)) for b in candidates)
    if bound > max_tok * (1.0 + 1e-12):
        warnings.warn(
            f"token_budget={b_max} is not the most efficient batch: "
            f"{max(candidates, key=lambda b: b / server.time_of(float(b)))} tokens per "
            f"iteration process {bound:.6g} tokens per unit time against "
            f"{max_tok:.6g}; no policy exceeds token_rate_bound", UserWarning,
            stacklevel=2)
    if server.max_batch < b_max:
        warnings.warn(
            f"server.max_batch={server.max_batch} < token_budget={b_max}: a decode-only "
            "batch holds at most max_batch tokens, which the token-budget model "
            "ignores; the stable region may be smaller than reported", UserWarning,
            stacklevel=2)
    token_rate = lam * tokens
    lam_max = max_tok / tokens if tokens > 0 else math.inf
    rho = token_rate / max_tok
    return StabilityLimit(
        arrival_rate=lam, tokens_per_request=tokens, token_rate=token_rate,
        token_budget=b_max, batch_time=t_full, max_token_rate=max_tok,
        max_arrival_rate=lam_max, load=rho, stable=bool(rho < 1.0),
        backlog_growth_rate=max(lam - lam_max, 0.0),
        token_backlog_growth_rate=max(token_rate - max_tok, 0.0),
        token_rate_bound=bound, prefill_emits_token=pet)
