"""The C library's allocator set for the analytic engines' large temporary arrays.

The SOAP engine evaluates a batch of rank levels at once: arrays of a few to a few tens of
megabytes (cell edges, their moments, the terms of the tagged job) are made and freed
again many times a value. glibc's ``malloc`` takes blocks above its ``mmap`` threshold
straight from the kernel and gives them back on ``free``, and gives back the free top of
its heap above its trim threshold; memory taken from the kernel again is zeroed page by
page on first touch. Both thresholds start low (128 KiB) and rise only when a large block
is freed, so how often a value pays those page faults depends on what the process did
before: on the development machine (2 virtual CPUs) the bench's 4-segment rank on bounded
Pareto sizes took about 150 ms with 2 page faults a value when it ran first in a process
and 196-217 ms with 7000-20000 faults a value after the other policies' rows
(``validation/bench/bench_malloc.py``).

:func:`keep_large_blocks` sets the two thresholds once to where glibc's own rule takes them
at most (``mmap`` 32 MiB, trim 64 MiB: the state after a 32 MiB block is freed), so blocks up
to 32 MiB come from the heap and up to 64 MiB of its free top stay with the process. The
analytic engines call it when they are made (:class:`qtheory.MG1`, the SOAP engine). It does
nothing on other C libraries, where the environment already sets either threshold
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), or with
``QTHEORY_MALLOPT=0``.

Examples
--------
>>> from qtheory import _memory
>>> _memory.keep_large_blocks() in (True, False)  # True on Linux with glibc
True
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_large_blocks"]

#: blocks up to this size come from the heap (glibc's largest dynamic mmap threshold)
MMAP_THRESHOLD = 32 << 20
#: up to this much free memory at the heap's top stays with the process (twice the above,
#: as glibc's dynamic rule sets it)
TRIM_THRESHOLD = 64 << 20
# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_state: bool | None = None


def _applicable() -> bool:
    if os.environ.get("QTHEORY_MALLOPT", "").strip() == "0":
        return False
    if any(name in os.environ for name in _ENV):
        return False
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def keep_large_blocks() -> bool:
    """Set glibc's ``mmap`` and trim thresholds to :data:`MMAP_THRESHOLD` and
    :data:`TRIM_THRESHOLD` (once a process; see the module docstring). Returns whether they
    are set: False on other platforms or C libraries, with ``QTHEORY_MALLOPT=0``, or where
    the environment sets malloc's thresholds itself."""
    global _state
    if _state is None:
        _state = False
        if _applicable():
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            mallopt.restype = ctypes.c_int
            _state = (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                      and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    return _state
