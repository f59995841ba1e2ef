"""Request sequences from counter-based random streams.

Request ``i`` of replication ``r`` under ``seed`` is a pure function of ``(seed, r,
i)``: its inter-arrival time is drawn from stream 0, its prompt length from stream 1,
its output length from stream 2, the noise factor of its prediction from stream 3
(and Gamma inter-arrivals use stream 4 for their extra draws); SPRPT-type refinements
use stream 5 inside the kernel. Each stream is :func:`qtheory.sim.rng.uniform` of a
:func:`~qtheory.sim.rng.stream_key`, so a GPU kernel can draw the same requests.

Examples
--------
>>> from qtheory import llm
>>> w = llm.preset("alpaca", arrival_rate=2.0)
>>> a = draw_requests(w, 5, seed=1, rep=0)
>>> b = draw_requests(w, 5, seed=1, rep=0)
>>> all((x == y).all() for x, y in zip(a, b))
True
"""

from __future__ import annotations

import math

import numpy as np

from ...sim._jit import jit
from ...sim.rng import ndtri, stream_key, uniform
from ...sim.sampling import draw_noise, encode_prediction, first_geq
from ..workload import GammaArrivals, TraceArrivals

__all__ = ["draw_requests", "draw_requests_batch", "stream_keys", "gamma_variate",
           "guide_table", "table_index", "STREAM_REFINE"]

#: Stream of the refined predictions (drawn inside the kernel).
STREAM_REFINE = 5
_TRIES = 32


@jit
def gamma_variate(shape, key_a, key_b, i):
    """A Gamma(``shape``, 1) variate for request ``i``: Marsaglia & Tsang (ACM TOMS
    2000) with counter-based normals (``ndtri`` of uniforms) and uniforms, and the
    ``U**(1/shape)`` boost for ``shape < 1``."""
    k = shape
    boost = 1.0
    if k < 1.0:
        boost = uniform(key_b, np.uint64(i)) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    base = np.uint64(i) * np.uint64(2 * _TRIES)
    for j in range(_TRIES):
        z = ndtri(uniform(key_a, base + np.uint64(2 * j)))
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(key_a, base + np.uint64(2 * j + 1))
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost
    return d * boost  # P(32 rejections) < 1e-40


def guide_table(cum: np.ndarray) -> np.ndarray:
    """Guide of the non-decreasing table ``cum`` for :func:`table_index`: entry ``b`` of
    ``cum.size + 1`` is the first ``i`` with ``cum[i] >= b / cum.size`` (at most
    ``cum.size - 1``)."""
    G = max(cum.size, 1)
    g = np.searchsorted(cum, np.arange(G + 1) / G, side="left")
    return np.minimum(g, max(cum.size - 1, 0)).astype(np.int64)


@jit
def table_index(cum, guide, u):
    """``first_geq(cum, 0, cum.size, u)`` (the first ``i`` with ``u <= cum[i]``), found
    from the bucket ``guide[int(u * G)] .. guide[int(u * G) + 1]`` of
    :func:`guide_table`: the same index whatever the rounding, since the bucket is used
    only when ``cum`` confirms that it brackets the answer (else the plain bisection)."""
    n = cum.size
    G = guide.size - 1
    f = u * G
    b = 0
    if f >= G:
        b = G - 1
    elif f > 0.0:
        b = int(f)
    a = guide[b]
    z = guide[b + 1]
    if not u <= cum[z] or (a > 0 and u <= cum[a - 1]):
        return first_geq(cum, 0, n, u)
    while a < z:
        m = (a + z) // 2
        if u <= cum[m]:
            z = m
        else:
            a = m + 1
    return a


@jit
def _fill(n, seed, rep, kind, rate, shape, pv, pc, pg, ov, oc, og, ncode, nprm, arr, lp,
          lo, yp):
    k0 = stream_key(seed, rep, np.uint64(0))
    k1 = stream_key(seed, rep, np.uint64(1))
    k2 = stream_key(seed, rep, np.uint64(2))
    k3 = stream_key(seed, rep, np.uint64(3))
    k4 = stream_key(seed, rep, np.uint64(4))
    t = 0.0
    for i in range(n):
        if kind == 0:
            t += -math.log(uniform(k0, np.uint64(i))) / rate
            arr[i] = t
        elif kind == 1:
            t += gamma_variate(shape, k0, k4, i) / (rate * shape)
            arr[i] = t
        if pv.size > 0:
            lp[i] = pv[table_index(pc, pg, uniform(k1, np.uint64(i)))]
            lo[i] = ov[table_index(oc, og, uniform(k2, np.uint64(i)))]
        if ncode >= 0:
            yp[i] = lo[i] * draw_noise(ncode, nprm, uniform(k3, np.uint64(i)))


@jit
def _fill_rows(n, seed, reps, kind, rate, shape, pv, pc, pg, ov, oc, og, ncode, nprm, arr,
               lp, lo, yp):
    """:func:`_fill` for replication ``reps[j]`` into row ``j`` of the 2-d arrays (the
    same compiled code as one replication at a time: the same numbers, bit for bit)."""
    for j in range(reps.size):
        _fill(n, seed, reps[j], kind, rate, shape, pv, pc, pg, ov, oc, og, ncode, nprm,
              arr[j], lp[j], lo[j], yp[j])


@jit
def _keys(seed, reps, stream, out):
    for j in range(reps.size):
        out[j] = stream_key(seed, reps[j], stream)


def stream_keys(seed: int, reps, stream: int) -> np.ndarray:
    """``stream_key(seed, rep, stream)`` of every ``rep`` in ``reps`` (a ``uint64`` array).

    Examples
    --------
    >>> from qtheory.sim.rng import stream_key
    >>> k = stream_keys(7, [0, 3], STREAM_REFINE)
    >>> int(k[1]) == int(stream_key(np.uint64(7), np.uint64(3), np.uint64(STREAM_REFINE)))
    True
    """
    reps = np.ascontiguousarray(reps, np.uint64)
    out = np.zeros(reps.size, np.uint64)
    _keys(np.uint64(seed % 2**64), reps, np.uint64(stream), out)
    return out


def _tables(workload):
    """The arguments of :func:`_fill` that depend on the workload only."""
    arrivals = workload.arrivals
    kind, shape = 0, 1.0
    if isinstance(arrivals, GammaArrivals):
        kind, shape = 1, arrivals.shape
    elif isinstance(arrivals, TraceArrivals):
        kind = 2
    if workload.pairs is not None:
        pv = np.zeros(0, np.int64)
        pc = ov = oc = np.zeros(0)
    else:
        pv, pc = workload.prompt_tokens.table()
        ov, oc = workload.output_tokens.table()
        ov = ov.astype(np.int64)
        oc = np.asarray(oc, float)
    enc = encode_prediction(workload.prediction)
    ncode, nprm = (enc[0], np.ascontiguousarray(enc[1], float)) if enc else (-1, np.zeros(1))
    pc, oc = np.ascontiguousarray(pc, float), np.ascontiguousarray(oc, float)
    return (kind, float(workload.arrival_rate), float(shape),
            np.ascontiguousarray(pv, np.int64), pc, guide_table(pc),
            np.ascontiguousarray(ov, np.int64), oc, guide_table(oc),
            ncode, nprm), enc is not None


def draw_requests(workload, n: int, seed: int, rep: int):
    """``(arrival, prompt, output, prediction)`` arrays of ``n`` requests.

    Parameters
    ----------
    workload : Workload
    n : int
        Number of requests (for a trace or per-request pairs, at most their length).
    seed, rep : int
        Seed and replication number.
    """
    return tuple(v[0] for v in draw_requests_batch(workload, n, seed, [rep]))


def draw_requests_batch(workload, n: int, seed: int, reps, workers: int = 1):
    """The requests of several replications at once: ``(arrival, prompt, output,
    prediction)`` arrays of shape ``(len(reps), n)``, row ``j`` equal (bit for bit) to
    ``draw_requests(workload, n, seed, reps[j])``.

    Parameters
    ----------
    workload : Workload
    n : int
        Requests per replication.
    seed : int
        Seed.
    reps : sequence of int
        Replication numbers.
    workers : int
        Threads that draw blocks of replications (the draws do not depend on it).

    Examples
    --------
    >>> from qtheory import llm
    >>> w = llm.preset("alpaca", arrival_rate=2.0)
    >>> a = draw_requests_batch(w, 5, seed=1, reps=[0, 1])
    >>> b = draw_requests(w, 5, seed=1, rep=1)
    >>> all((x[1] == y).all() for x, y in zip(a, b))
    True
    """
    reps = np.ascontiguousarray(reps, np.uint64)
    R = reps.size
    arr = np.zeros((R, n))
    lp = np.zeros((R, n), np.int64)
    lo = np.zeros((R, n), np.int64)
    yp = np.zeros((R, n))
    if isinstance(workload.arrivals, TraceArrivals):
        arr[:] = workload.arrivals.times[:n]
    if workload.pairs is not None:
        lp[:] = workload.pairs[0][:n]
        lo[:] = workload.pairs[1][:n]
    args, encoded = _tables(workload)
    s = np.uint64(seed % 2**64)
    nw = max(1, min(int(workers), R // 64))  # a block of fewer is not worth a thread
    if nw == 1:
        _fill_rows(n, s, reps, *args, arr, lp, lo, yp)
    else:
        from concurrent.futures import ThreadPoolExecutor

        edges = np.linspace(0, R, nw + 1).astype(int)
        with ThreadPoolExecutor(max_workers=nw) as ex:  # _fill_rows releases the GIL
            list(ex.map(lambda a, b: _fill_rows(n, s, reps[a:b], *args, arr[a:b], lp[a:b],
                                                lo[a:b], yp[a:b]), edges[:-1], edges[1:]))
    if not encoded:
        for j in range(R):
            gen = np.random.default_rng([int(seed % 2**63), int(reps[j]), 3])
            yp[j] = lo[j] * np.asarray(workload.prediction.noise_sample(n, gen), float)
    return arr, lp, lo, yp
