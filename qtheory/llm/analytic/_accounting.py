"""Per-request token accounting shared by the analytic LLM models (private).

Two conventions, chosen by :attr:`Server.prefill_emits_token
<qtheory.llm.Server.prefill_emits_token>`, for a request with ``l`` prompt tokens
and ``o`` output tokens:

========================  ==========================  ==============================
quantity                  ``True`` (vLLM; Dong & Cao)  ``False`` (Ao et al.)
========================  ==========================  ==============================
iterations                ``o``                       ``o + 1``
KV tokens in iteration j  ``l + j``, ``j = 1..o``     ``l + j``, ``j = 0..o``
area (token-slots)        ``l o + o (o + 1) / 2``     ``(o + 1)(l + o / 2)``
batch tokens processed    ``l + o - 1``               ``l + o``
========================  ==========================  ==============================

The area is the sum over the request's iterations of the KV tokens it holds; the
batch tokens are what it adds to the token budget over its life (its prompt once,
then one token per decode iteration).
"""

from __future__ import annotations

from ..server import LinearTime, Server, StaircaseTime, UnitTime
from ..workload import Workload

__all__ = ["area", "iterations", "batch_tokens", "mean_of", "check_workload",
           "check_server", "min_iteration_time"]


def area(prompt, output, prefill_emits_token: bool = True):
    """Token-slot-iterations of one request (vectorised)."""
    if prefill_emits_token:
        return output * prompt + output * (output + 1) / 2.0
    return (output + 1) * (prompt + output / 2.0)


def iterations(prompt, output, prefill_emits_token: bool = True):
    """Iterations a request runs through when never preempted (vectorised)."""
    return output + (0 if prefill_emits_token else 1) + 0 * prompt


def batch_tokens(prompt, output, prefill_emits_token: bool = True):
    """Tokens a request adds to the batches it runs in, over its life (vectorised)."""
    return prompt + output - (1 if prefill_emits_token else 0)


def mean_of(workload: Workload, what: str, prefill_emits_token: bool = True) -> float:
    """``E[what(L, O)]`` over the workload, for ``what`` in ``area``, ``iterations``,
    ``batch_tokens``.

    A trace's own (prompt, output) pairs are averaged (through
    :meth:`Workload.joint_moment`); independent laws use their marginal moments (the
    three quantities are polynomials of degree 2 with no ``L**2`` term, so
    ``E[L O] = E[L] E[O]`` is all the product law contributes).
    """
    fn = {"area": area, "iterations": iterations, "batch_tokens": batch_tokens}[what]
    if workload.pairs is not None:
        return workload.joint_moment(lambda p, o: fn(p, o, prefill_emits_token))
    el, eo = workload.mean_prompt, workload.mean_output
    eo2 = workload.output_tokens.moment(2)
    shift = 0.0 if prefill_emits_token else 1.0
    if what == "area":
        return el * (eo + shift) + (eo2 + eo) / 2.0
    if what == "iterations":
        return eo + shift
    return el + eo - (1.0 - shift)


def check_workload(workload) -> Workload:
    """Raise a ``TypeError`` naming ``workload`` unless it is a :class:`Workload`."""
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a qtheory.llm.Workload, got {workload!r}")
    return workload


def check_server(server) -> Server:
    """Raise a ``TypeError`` naming ``server`` unless it is a :class:`Server`."""
    if not isinstance(server, Server):
        raise TypeError(f"server must be a qtheory.llm.Server, got {server!r}")
    return server


def min_iteration_time(server: Server) -> float:
    """A lower bound on the duration of any iteration that advances a request.

    Such an iteration processes at least one token: ``time_of(1, kv_tokens=0)`` is a
    lower bound for the three built-in time models (the staircase is non-decreasing
    in batch tokens, the linear model in KV tokens, the compression overhead in batch
    tokens). A user callable has no known minimum: ``TypeError``.
    """
    it = server.iteration_time
    if not isinstance(it, (LinearTime, StaircaseTime, UnitTime)):
        raise TypeError("server.iteration_time must be LinearTime, StaircaseTime or "
                        f"UnitTime for this bound (a callable has no known minimum), got {it!r}")
    return float(server.time_of(1.0, 0.0, 1.0))
