"""The response-time histogram: log-spaced bins found without a logarithm.

Bin ``i`` (1-based) of ``nb`` holds the response times ``rt`` with
``int((log(rt) - lo) * scale) == i - 1``; bin 0 and bin ``nb + 1`` catch the rest
(:func:`bin_log`, the definition). The kernels find the same bin with a table:
the exponent and the 7 leading mantissa bits of ``rt`` (an interval narrower than a
bin, so it holds at most one bin edge) index one int64 entry that holds the bin of the
interval's lower end (high bits) and the low 45 bits of the exact edge of the next bin
where that edge lies in the interval (the least double in that bin, found by bisection
on :func:`bin_log` itself; ``2**45`` where it lies beyond). One branch-free comparison
of the low bits of ``rt`` with those of the edge finishes the job: positive doubles
are ordered as their bits, and the high bits of both are the interval's. Same bins, no
``log``, no unpredictable branch and one load per job (a table of bins and a separate
array of edges took two dependent loads: 1-1.5 ns a job more on the CPU).

Examples
--------
>>> import math
>>> lo, scale, nb = math.log(1e-8), 200 / math.log(10.0), 3200
>>> tab, u0 = tables(lo, scale, nb)
>>> all(bin_table(v, tab, u0, nb) == bin_log(v, lo, scale, nb)
...     for v in (1e-9, 1e-8, 0.37, 1.0, 2.5e7, 1e9, 0.0))
True
"""

from __future__ import annotations

import math

import numpy as np

from .._bits import bits_f64, f64_bits
from .._jit import jit

__all__ = ["f64_bits", "bits_f64", "bin_log", "bin_table", "tables", "SHIFT"]

#: Right shift of a double's bits that keeps the exponent and 7 mantissa bits.
SHIFT = 45
_LOW = (1 << SHIFT) - 1  # the bits of a double below its interval's
_BIN = SHIFT + 1  # a table entry: bin << _BIN | low bits of the next edge (or 2**SHIFT)
_EDGE = (1 << _BIN) - 1


@jit
def bin_log(rt, lo, scale, nb):
    """The bin of ``rt`` by its definition (one ``log``)."""
    if rt > 0.0:
        v = (math.log(rt) - lo) * scale
        if v < 0.0:
            return 0
        if v >= nb:
            return nb + 1
        return int(v) + 1
    return 0


@jit
def _fill(lo, scale, nb, tab, edges, u0):
    # edges[i], i = 1 .. nb+1: the least positive double whose bin is >= i
    top = f64_bits(np.inf)
    for i in range(1, nb + 2):
        a, b = 1, top  # bin(a) < i <= bin(b) holds as bin(+inf) = nb + 1
        if bin_log(bits_f64(a), lo, scale, nb) >= i:
            b = a
        while b - a > 1:
            m = a + (b - a) // 2
            if bin_log(bits_f64(m), lo, scale, nb) >= i:
                b = m
            else:
                a = m
        edges[i] = bits_f64(b)
    for j in range(tab.size):
        tab[j] = bin_log(bits_f64((u0 + j) << SHIFT), lo, scale, nb)


def tables(lo: float, scale: float, nb: int):
    """``(tab, u0)`` for :func:`bin_table`: the packed int64 table and the interval
    (a double's bits shifted right by :data:`SHIFT`) of its first entry."""
    edges = np.full(nb + 3, np.inf)  # edges[nb + 2] = inf: no bin past nb + 1
    lo_b = math.exp(lo) * 0.5  # below the first edge
    hi_b = math.exp(lo + (nb + 1) / scale) * 2.0  # above the last edge
    u0 = int(np.float64(lo_b).view(np.int64)) >> SHIFT
    u1 = int(np.float64(hi_b).view(np.int64)) >> SHIFT
    tab = np.zeros(u1 - u0 + 1, np.int32)
    _fill(float(lo), float(scale), int(nb), tab, edges, np.int64(u0))
    if np.any(np.diff(tab) > 1):
        raise ValueError("histogram: bins narrower than the table's intervals")
    nxt = edges[tab + 1].view(np.int64)  # the next bin's edge (> the interval's start)
    inside = (nxt >> SHIFT) == u0 + np.arange(tab.size, dtype=np.int64)
    return (tab.astype(np.int64) << _BIN) | np.where(inside, nxt & _LOW, _LOW + 1), u0


@jit
def bin_table(rt, tab, u0, nb):
    """The bin of ``rt`` (equal to :func:`bin_log`) from the table of :func:`tables`."""
    if not rt > 0.0:
        return 0
    u = (f64_bits(rt) >> SHIFT) - u0
    if u < 0:
        return 0
    if u >= tab.size:
        return nb + 1
    e = tab[u]
    return (e >> _BIN) + ((f64_bits(rt) & _LOW) >= (e & _EDGE))
