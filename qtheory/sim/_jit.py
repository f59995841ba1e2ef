"""One place for the JIT options of the simulation kernels.

Every CPU kernel is compiled with ``njit(cache=True, nogil=True, fastmath=False,
_nrt=False)``: ``cache`` stores the machine code next to the sources (the first call
of a fresh install compiles, later processes load it), ``nogil`` lets the driver run
replications on all cores from a thread pool, ``fastmath`` stays off so that ``-inf``
ranks and ``inf`` segment ends keep their IEEE meaning, and the Numba runtime's
reference counting is off: the kernels never allocate, and without it a call of a
small helper that takes arrays costs nothing (with it, every such call pays atomic
increments and decrements: a heap push measured 37 ns with, 2.8 ns without).
"""

from __future__ import annotations

from numba import njit

__all__ = ["jit", "jit_inline", "JIT_OPTIONS"]

#: Options shared by every CPU kernel.
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy",
               "_nrt": False}


def jit(fn):
    """Compile ``fn`` for the CPU with :data:`JIT_OPTIONS`."""
    return njit(**JIT_OPTIONS)(fn)


def jit_inline(fn):
    """Like :func:`jit`, and always inlined into its callers by Numba (a hot helper that
    LLVM would leave as a call: a call passes every array as seven scalars)."""
    return njit(inline="always", **JIT_OPTIONS)(fn)
