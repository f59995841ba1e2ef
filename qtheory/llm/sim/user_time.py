"""User-callable iteration times for the LLM simulator (private).

``Server(iteration_time=f)`` with ``f(batch_tokens, kv_tokens, batch_size) -> time``:
the kernel :func:`qtheory.llm.sim.kernel.run` is compiled once more per callable, with
its iteration-time helper ``_tau`` replaced by a call of ``f`` (compiled by Numba's
``njit``), through :class:`qtheory.sim._jit.Retarget` (the same source; nothing of the
kernel is written twice). The event jumps of the built-in models sum their iteration
times in closed form; a callable has no closed form, so its runs execute one iteration
per pass of the event loop (``step`` mode: the same numbers the jumps give, computed
iteration by iteration).

A value of ``f`` that is not a finite positive number is recorded with its arguments
(``cfg_f[CF_ERR..]``) and replaced by 1 so that the run ends; the driver then raises a
``ValueError`` naming ``iteration_time``.
"""

from __future__ import annotations

import threading

from . import kernel as K

__all__ = ["kernel_for"]

_LOCK = threading.Lock()
_KERNELS: dict[int, tuple[object, object]] = {}
# cfg_f slots read by the wrapper (globals: frozen into the compiled code)
CF_ERR, CF_ERR_BT, CF_ERR_KV, CF_ERR_BS, CF_COMP = (K.CF_ERR, K.CF_ERR_BT, K.CF_ERR_KV,
                                                     K.CF_ERR_BS, K.CF_COMP)


def _wrap(user):
    def tau_user(cf, bt, kv, bs):
        t = float(user(float(bt), float(kv), float(bs)))
        if not (t > 0.0 and t < 1.0e300):
            if cf[CF_ERR] == 0.0:
                cf[CF_ERR] = 1.0
                cf[CF_ERR_BT] = bt
                cf[CF_ERR_KV] = kv
                cf[CF_ERR_BS] = bs
            t = 1.0
        return t + cf[CF_COMP] * bt

    return tau_user


def kernel_for(fn):
    """The simulation kernel with iteration times ``fn(batch_tokens, kv_tokens,
    batch_size)`` (memoised per callable; compiling takes tens of seconds)."""
    from numba import njit
    from numba.core.dispatcher import Dispatcher
    from numba.core.errors import NumbaError

    from ...sim._jit import JIT_OPTIONS, Retarget

    with _LOCK:
        hit = _KERNELS.get(id(fn))
        if hit is not None:
            return hit[1]
        user = fn if isinstance(fn, Dispatcher) else njit(fn)
        opts = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}  # not K.run's cache
        try:
            user(1.0, 1.0, 1.0)
        except NumbaError as e:
            raise TypeError(
                "iteration_time: the callable must be compilable by numba.njit as "
                f"f(batch_tokens, kv_tokens, batch_size) -> float; Numba says: {e}") from e
        kern = Retarget(njit(**opts), {K._tau: _wrap(user)})(K.run)
        _KERNELS[id(fn)] = (fn, kern)
        return kern
