"""An LLM inference server as a batch queue: batch limits, KV memory, iteration time.

A :class:`Server` is an immutable description of one serving engine replica:

- ``max_batch`` running requests at most, and a ``token_budget`` of tokens processed
  per iteration (a decoding request counts 1, a prefill counts its prompt tokens, or
  the chunk of them processed in the iteration with ``chunked_prefill``);
- a KV cache of ``kv_capacity_tokens`` token slots (or ``kv_capacity_bytes`` and a
  :class:`ModelSpec` giving bytes per token), allocated in blocks of ``block_size``
  tokens. While producing its ``j``-th output token a request holds
  ``prompt + j`` tokens (vLLM, SOSP 2023);
- the duration of one iteration: :class:`LinearTime` (``d0 + d1 * KV tokens``, Ao et
  al., arXiv:2504.11320), :class:`StaircaseTime` (``c + a * ceil(b / b0)`` in batch
  tokens ``b``, Li, Dai & Peng, arXiv:2504.07347), :class:`UnitTime`, or a
  Numba-compiled callable ``f(batch_tokens, kv_tokens, batch_size)``;
- what preemption does to a request's KV cache: ``"recompute"`` (drop it, later one
  prefill of prompt + generated tokens), ``"swap"`` (copy it to host memory and back
  at ``swap_bandwidth`` tokens per unit time), ``"restart"`` (lose all progress) or
  ``"keep"`` (pause with the cache kept in GPU memory);
- optional KV compression (:class:`KVCompression`, ALISE-style quantization: Zhao &
  Wang, arXiv:2410.23537): ``factor`` times fewer bytes per token, and an optional time
  overhead per processed token.

Examples
--------
>>> from qtheory import llm
>>> s = llm.Server(max_batch=64, token_budget=2048, kv_capacity_bytes=16 * 2**30,
...                model="llama-2-7b", block_size=16)
>>> s.kv_capacity_tokens                  # 16 GiB / 512 KiB per token
32768
>>> llm.StaircaseTime(c=11.28, a=35.47, b0=128)(batch_tokens=300)
117.69
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Server", "LinearTime", "StaircaseTime", "UnitTime", "KVCompression",
           "ModelSpec", "MODELS", "PREEMPTION_MODES"]

PREEMPTION_MODES = ("recompute", "swap", "restart", "keep")


def _pos(name: str, value, *, integer: bool = False, allow_zero: bool = False,
         allow_none: bool = False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a finite number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {kind} {bound}, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class ModelSpec:
    """KV-cache geometry of a transformer: bytes per token of KV cache.

    ``bytes_per_token = 2 * layers * kv_heads * head_dim * dtype_bytes`` (keys and
    values; vLLM, SOSP 2023). Presets are in :data:`MODELS`.

    Examples
    --------
    >>> ModelSpec("llama-2-7b", layers=32, kv_heads=32, head_dim=128).bytes_per_token
    524288
    """

    name: str
    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int = 2

    def __post_init__(self):
        for f in ("layers", "kv_heads", "head_dim", "dtype_bytes"):
            _pos(f, getattr(self, f), integer=True)

    @property
    def bytes_per_token(self) -> int:
        """Bytes of KV cache per token."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


#: Model presets (architectures from the models' published configurations; fp16).
MODELS = {m.name: m for m in (
    ModelSpec("llama-2-7b", 32, 32, 128),
    ModelSpec("llama-2-13b", 40, 40, 128),
    ModelSpec("llama-2-70b", 80, 8, 128),
    ModelSpec("llama-3-8b", 32, 8, 128),
    ModelSpec("llama-3-70b", 80, 8, 128),
    ModelSpec("mistral-7b", 32, 8, 128),
)}


@dataclass(frozen=True)
class LinearTime:
    """Iteration time ``d0 + d1 * (KV tokens of the batch)`` (Ao, Luo, Simchi-Levi & Wang,
    arXiv:2504.11320, Sec. 2)."""

    d0: float
    d1: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "d0", _pos("d0", self.d0))
        object.__setattr__(self, "d1", _pos("d1", self.d1, allow_zero=True))

    def __call__(self, batch_tokens: float = 0.0, kv_tokens: float = 0.0,
                 batch_size: float = 0.0) -> float:
        return self.d0 + self.d1 * kv_tokens

    def params(self) -> tuple[int, tuple[float, ...]]:
        """``(code, parameters)`` read by the simulation kernels."""
        return 1, (self.d0, self.d1, 0.0)


@dataclass(frozen=True)
class StaircaseTime:
    """Iteration time ``c + a * ceil(b / b0)`` for ``b`` tokens in the batch (Li, Dai &
    Peng, arXiv:2504.07347, fitted there for CodeLlama-34B on an A100 with c = 11.28 ms,
    a = 35.47 ms, b0 = 128)."""

    c: float
    a: float
    b0: int

    def __post_init__(self):
        object.__setattr__(self, "c", _pos("c", self.c, allow_zero=True))
        object.__setattr__(self, "a", _pos("a", self.a))
        object.__setattr__(self, "b0", _pos("b0", self.b0, integer=True))

    def __call__(self, batch_tokens: float = 0.0, kv_tokens: float = 0.0,
                 batch_size: float = 0.0) -> float:
        return self.c + self.a * math.ceil(batch_tokens / self.b0)

    def params(self) -> tuple[int, tuple[float, ...]]:
        """``(code, parameters)`` read by the simulation kernels."""
        return 2, (self.c, self.a, float(self.b0))


@dataclass(frozen=True)
class UnitTime:
    """Every iteration lasts ``duration`` (Jaillet et al., arXiv:2502.07115: unit time)."""

    duration: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "duration", _pos("duration", self.duration))

    def __call__(self, batch_tokens: float = 0.0, kv_tokens: float = 0.0,
                 batch_size: float = 0.0) -> float:
        return self.duration

    def params(self) -> tuple[int, tuple[float, ...]]:
        """``(code, parameters)`` read by the simulation kernels."""
        return 0, (self.duration, 0.0, 0.0)


@dataclass(frozen=True)
class KVCompression:
    """KV-cache quantization: ``factor`` times fewer bytes per token, plus
    ``time_per_token`` added to an iteration per token it processes (ALISE: Zhao &
    Wang, ICCAD 2024, arXiv:2410.23537)."""

    factor: float = 1.0
    time_per_token: float = 0.0

    def __post_init__(self):
        f = _pos("factor", self.factor)
        if f < 1:
            raise ValueError(f"factor must be >= 1 (a compression), got {self.factor!r}")
        object.__setattr__(self, "factor", f)
        object.__setattr__(self, "time_per_token",
                           _pos("time_per_token", self.time_per_token, allow_zero=True))


@dataclass(frozen=True)
class Server:
    """One LLM serving replica. See the module docstring for the model.

    Parameters
    ----------
    max_batch : int
        Largest number of running requests (``>= 1``).
    token_budget : int, optional
        Tokens processed per iteration at most (``None``: no limit).
    kv_capacity_tokens : int, optional
        KV-cache size in token slots (``None``: unlimited memory, unless
        ``kv_capacity_bytes`` is given).
    kv_capacity_bytes : float, optional
        KV-cache size in bytes; needs ``model``. Exclusive with ``kv_capacity_tokens``.
    model : str or ModelSpec, optional
        Bytes per token (a key of :data:`MODELS` or a :class:`ModelSpec`).
    block_size : int
        Tokens per KV block (vLLM's default is 16); a request holding ``n`` tokens
        occupies ``ceil(n / block_size)`` blocks.
    iteration_time : LinearTime, StaircaseTime, UnitTime or callable
        Duration of one iteration. A callable ``f(batch_tokens, kv_tokens,
        batch_size)`` must return a finite positive float and be compilable by
        ``numba.njit`` (a plain Python function is compiled by the simulator; the
        simulator then runs one iteration per event-loop pass, see
        ``docs/llm_simulation.md``); the analytic models take the built-in forms only.
    chunked_prefill : bool
        Split prompts into chunks that fill the token budget after the decodes
        (Sarathi-Serve, OSDI 2024); otherwise a prompt is prefilled in one iteration.
    preemption : {"recompute", "swap", "restart", "keep"}
        What preemption does to a request's KV cache (see the module docstring).
    swap_bandwidth : float, optional
        KV tokens moved per unit time each way when ``preemption="swap"`` (required then).
    kv_compression : KVCompression, optional
        KV quantization.
    prefill_emits_token : bool
        Token accounting. ``True`` (vLLM's): the prefill iteration also produces the
        first output token, so a request with ``o`` output tokens runs ``o``
        iterations and holds ``prompt + j`` tokens during its ``j``-th (Dong & Cao's
        accounting, ``w = l o + o (o + 1) / 2`` token-slots). ``False`` (Ao et al.'s):
        a prefill iteration holding ``prompt`` tokens, then ``o`` decode iterations
        holding ``prompt + j`` (``(o + 1)(l + o / 2)`` token-slots).
    """

    max_batch: int = 256
    token_budget: int | None = None
    kv_capacity_tokens: int | None = None
    kv_capacity_bytes: float | None = None
    model: object = None
    block_size: int = 1
    iteration_time: object = field(default_factory=UnitTime)
    chunked_prefill: bool = False
    preemption: str = "recompute"
    swap_bandwidth: float | None = None
    kv_compression: KVCompression | None = None
    prefill_emits_token: bool = True

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "max_batch", _pos("max_batch", self.max_batch, integer=True))
        set_(self, "token_budget", _pos("token_budget", self.token_budget, integer=True,
                                        allow_none=True))
        set_(self, "block_size", _pos("block_size", self.block_size, integer=True))
        model = self.model
        if isinstance(model, str):
            if model.lower() not in MODELS:
                raise ValueError(f"model must be one of {sorted(MODELS)} or a ModelSpec, "
                                 f"got {model!r}")
            model = MODELS[model.lower()]
        elif model is not None and not isinstance(model, ModelSpec):
            raise TypeError(f"model must be a preset name or a ModelSpec, got {model!r}")
        set_(self, "model", model)
        comp = self.kv_compression
        if comp is not None and not isinstance(comp, KVCompression):
            raise TypeError(f"kv_compression must be a KVCompression, got {comp!r}")
        factor = comp.factor if comp is not None else 1.0
        if self.kv_capacity_bytes is not None:
            if self.kv_capacity_tokens is not None:
                raise ValueError("give kv_capacity_tokens or kv_capacity_bytes, not both")
            cap = _pos("kv_capacity_bytes", self.kv_capacity_bytes)
            if model is None:
                raise ValueError("kv_capacity_bytes needs model= (bytes per token)")
            set_(self, "kv_capacity_bytes", cap)
            set_(self, "kv_capacity_tokens",
                 int(math.floor(cap * factor / model.bytes_per_token)))
            if self.kv_capacity_tokens < 1:
                raise ValueError(f"kv_capacity_bytes={cap!r} holds less than one token of "
                                 f"{model.name} ({model.bytes_per_token} B/token)")
        else:
            set_(self, "kv_capacity_tokens",
                 _pos("kv_capacity_tokens", self.kv_capacity_tokens, integer=True,
                      allow_none=True))
        it = self.iteration_time
        if not isinstance(it, (LinearTime, StaircaseTime, UnitTime)) and not callable(it):
            raise TypeError(f"iteration_time must be LinearTime, StaircaseTime, UnitTime "
                            f"or a callable, got {it!r}")
        if not isinstance(self.chunked_prefill, (bool, np.bool_)):
            raise TypeError(f"chunked_prefill must be a bool, got {self.chunked_prefill!r}")
        if not isinstance(self.prefill_emits_token, (bool, np.bool_)):
            raise TypeError(f"prefill_emits_token must be a bool, "
                            f"got {self.prefill_emits_token!r}")
        if self.preemption not in PREEMPTION_MODES:
            raise ValueError(f"preemption must be one of {PREEMPTION_MODES}, "
                             f"got {self.preemption!r}")
        set_(self, "swap_bandwidth", _pos("swap_bandwidth", self.swap_bandwidth,
                                          allow_none=True))
        if self.preemption == "swap" and self.swap_bandwidth is None:
            raise ValueError("preemption='swap' needs swap_bandwidth (KV tokens per unit time)")

    # --- derived quantities ------------------------------------------------------------
    @property
    def kv_blocks(self) -> int | None:
        """KV capacity in blocks (``None``: unlimited)."""
        if self.kv_capacity_tokens is None:
            return None
        return self.kv_capacity_tokens // self.block_size

    def blocks_for(self, tokens) -> np.ndarray | int:
        """Blocks held by a request with ``tokens`` tokens of KV cache."""
        return -(-np.asarray(tokens) // self.block_size) if np.ndim(tokens) \
            else -(-int(tokens) // self.block_size)

    def time_of(self, batch_tokens: float, kv_tokens: float = 0.0,
                batch_size: float = 0.0) -> float:
        """Duration of one iteration processing ``batch_tokens`` tokens with
        ``kv_tokens`` tokens of KV cache in the batch (compression overhead included)."""
        t = float(self.iteration_time(batch_tokens, kv_tokens, batch_size))
        if self.kv_compression is not None:
            t += self.kv_compression.time_per_token * batch_tokens
        return t

    def check(self, workload) -> None:
        """Raise a ``ValueError`` if some request of ``workload`` can never be served.

        That is: a request whose whole KV cache (prompt + output tokens, in blocks) is
        larger than the KV capacity (it could never finish), or a prompt larger than
        the token budget without chunked prefill.
        """
        longest = workload.prompt_tokens.maximum
        if workload.pairs is not None:
            total = int(np.max(workload.pairs[0] + workload.pairs[1]))
        else:
            total = longest + workload.output_tokens.maximum
        if self.kv_capacity_tokens is not None:
            need = int(self.blocks_for(longest)) * self.block_size
            if need > self.kv_capacity_tokens:
                raise ValueError(
                    f"kv_capacity_tokens={self.kv_capacity_tokens} is smaller than the "
                    f"longest prompt ({longest} tokens, {need} in blocks)")
            need = int(self.blocks_for(total)) * self.block_size
            if need > self.kv_capacity_tokens:
                raise ValueError(
                    f"kv_capacity_tokens={self.kv_capacity_tokens} is smaller than the "
                    f"largest request's KV cache (prompt + output = {total} tokens, "
                    f"{need} in blocks): it could never finish")
        if self.token_budget is not None and not self.chunked_prefill \
                and longest > self.token_budget:
            raise ValueError(
                f"token_budget={self.token_budget} is smaller than the longest prompt "
                f"({longest} tokens) and chunked_prefill is off")
