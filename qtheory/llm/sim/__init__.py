"""Token-level simulation of an LLM server (iteration-level continuous batching).

See ``docs/llm_simulation.md`` for the model; :func:`simulate` is the entry point.

Model in brief: each iteration runs every running request (at most
``min(max_batch, token_budget)`` of them): a decoding request produces one token, a
prefilling one processes its prompt (or a chunk of it with chunked prefill, decodes
packed first as in Sarathi-Serve); the iteration lasts ``server.time_of(batch tokens,
KV tokens, batch size)``. While producing its ``j``-th output token a request holds
``prompt + j`` KV tokens, in blocks of ``block_size``; before each iteration, if the
blocks needed exceed the capacity, running requests are evicted (victim rule of the
scheduler) until they fit, so memory never exceeds capacity. Between events the
simulator jumps over many iterations in closed form.
"""

from .driver import BACKENDS, simulate
from .result import PERCENTILES, Estimate, LLMResult

__all__ = ["simulate", "LLMResult", "Estimate", "PERCENTILES", "BACKENDS"]
