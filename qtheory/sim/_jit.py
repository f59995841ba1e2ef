"""One place for the JIT options of the simulation kernels, and their second target.

Every CPU kernel is compiled with ``njit(cache=True, nogil=True, fastmath=False,
_nrt=False)``: ``cache`` stores the machine code next to the sources (the first call
of a fresh install compiles, later processes load it), ``nogil`` lets the driver run
replications on all cores from a thread pool, ``fastmath`` stays off so that ``-inf``
ranks and ``inf`` segment ends keep their IEEE meaning, and the Numba runtime's
reference counting is off: the kernels never allocate, and without it a call of a
small helper that takes arrays costs nothing (with it, every such call pays atomic
increments and decrements: a heap push measured 37 ns with, 2.8 ns without).

**One source, two targets.** The kernels and every helper they call (the heap, the
rank arrays, the counter-based generator of :mod:`..rng`, the samplers of
:mod:`..sampling`) are written once, as plain Python in the subset that both Numba
targets compile, and decorated with :func:`jit` / :func:`jit_inline` for the CPU.
:class:`Retarget` compiles the *same Python functions* for another target (the GPU
backend passes ``numba.cuda.jit(device=True)``): it copies a function with its global
names (and closure cells) that refer to other shared functions rebound to their
compiled versions for that target, recursively, so a kernel and the whole tree of
helpers it calls are compiled from one source. A helper that must differ between the
targets (an atomic add on the GPU; a pure-Python bit cast under Numba's CUDA
simulator) is given as an *override*. The CPU functions are untouched by this (their
machine code, cache and speed are those of plain ``njit``).

Rules for shared code: no allocation (pools are passed in), no Python objects, no
builtin ``min``/``max`` (not compiled by every ``numba.cuda``), int64/float64/uint64
scalars, tuples for several results, and shared helpers called by their bare global
names (``uniform(...)``, not ``rng.uniform(...)``: only global names are rebound).

Examples
--------
>>> from numba import njit
>>> @njit
... def twice(x):
...     return 2.0 * x
>>> @njit
... def quad(x):
...     return twice(twice(x))
>>> py = Retarget(lambda f: f)(quad)  # "compiled" for plain Python: a rebound copy
>>> py(1.5), py.__globals__["twice"] is twice.py_func, py.__globals__["twice"](1.0)
(6.0, False, 2.0)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

from numba import njit
from numba.core.dispatcher import Dispatcher

__all__ = ["jit", "jit_inline", "JIT_OPTIONS", "Retarget"]

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


class Retarget:
    """Compile shared kernel functions (made by :func:`jit`) for another target.

    Parameters
    ----------
    compile : callable
        Turns a Python function into the target's compiled function, e.g.
        ``numba.cuda.jit(device=True)``.
    overrides : mapping, optional
        ``{shared function: replacement Python function}`` for the helpers whose
        implementation differs on this target; a replacement is retargeted like any
        other function (it may call shared functions).

    Notes
    -----
    Calling the instance with a CPU dispatcher returns its compiled version for the
    target (memoised: each function is compiled once per instance). Global names and
    closure cells of the function's Python source that hold a Numba CPU dispatcher (or
    a key of ``overrides``) are rebound, in a copy of the function, to the retargeted
    value; everything else (modules, constants) is shared as is.
    """

    def __init__(self, compile: Callable, overrides: Mapping | None = None):
        self._compile = compile
        self._overrides = dict(overrides or {})
        self._memo: dict[int, tuple[object, object]] = {}

    def _wants(self, value) -> bool:
        try:
            if value in self._overrides:
                return True
        except TypeError:  # unhashable
            return False
        return isinstance(value, Dispatcher)

    def __call__(self, fn):
        """The compiled version of ``fn`` (a shared function, or a plain Python one)."""
        key = id(fn)
        hit = self._memo.get(key)
        if hit is not None:
            return hit[1]
        try:
            src = self._overrides.get(fn, fn)
        except TypeError:
            src = fn
        py = getattr(src, "py_func", src)
        if not isinstance(py, types.FunctionType):
            raise TypeError(f"Retarget: cannot compile {fn!r} (not a Python function)")
        glb = py.__globals__
        names = [n for n in py.__code__.co_names if n in glb and self._wants(glb[n])]
        if names:
            glb = dict(glb)
            for n in names:
                glb[n] = self(glb[n])
        # a warning raised in the function (even an ignored one) adds this key to its
        # globals on first use; under Numba's CUDA simulator other threads of the block
        # iterate over those globals at every call, so the key must exist beforehand
        glb.setdefault("__warningregistry__", {})
        closure = py.__closure__
        if closure and any(self._wants(c.cell_contents) for c in closure):
            closure = tuple(types.CellType(self(c.cell_contents) if self._wants(c.cell_contents)
                                           else c.cell_contents) for c in closure)
        copy = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, closure)
        copy.__qualname__ = py.__qualname__
        copy.__module__ = py.__module__
        copy.__doc__ = py.__doc__
        out = self._compile(copy)
        self._memo[key] = (fn, out)  # keep fn alive: its id stays unique
        return out
