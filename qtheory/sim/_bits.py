"""Bit casts between a float64 and its IEEE-754 bits, for the kernels of both targets.

:func:`f64_bits` and :func:`bits_f64` are Numba intrinsics (a register move in the
machine code of the CPU and of the GPU); Python cannot call them, so a kernel run as
Python (the CUDA simulator, :class:`~qtheory.sim._jit.Retarget` with the identity)
rebinds them to :func:`f64_bits_py` and :func:`bits_f64_py` (:data:`PY_TWINS`).

Examples
--------
>>> bool(f64_bits_py(1.0) == 0x3FF0000000000000), float(bits_f64_py(0x3FF0000000000000))
(True, 1.0)
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import intrinsic

__all__ = ["f64_bits", "bits_f64", "f64_bits_py", "bits_f64_py", "PY_TWINS"]


@intrinsic
def f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a register move)."""
    if isinstance(x, types.Float) and x.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.int64))
        return types.int64(types.float64), codegen
    return None


@intrinsic
def bits_f64(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x``."""
    if isinstance(x, types.Integer) and x.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.float64))
        return types.float64(types.int64), codegen
    return None


def f64_bits_py(x):
    """:func:`f64_bits` in Python."""
    return np.float64(x).view(np.int64)


def bits_f64_py(x):
    """:func:`bits_f64` in Python."""
    return np.int64(x).view(np.float64)


#: ``{intrinsic: its Python twin}``, the overrides of a Python retargeting.
PY_TWINS = {f64_bits: f64_bits_py, bits_f64: bits_f64_py}
