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

__all__ = ["draw_requests", "gamma_variate", "STREAM_REFINE"]

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


@jit
def _fill(n, seed, rep, kind, rate, shape, pv, pc, ov, oc, ncode, nprm, arr, lp, lo, yp):
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
            lp[i] = pv[first_geq(pc, 0, pc.size, uniform(k1, np.uint64(i)))]
            lo[i] = ov[first_geq(oc, 0, oc.size, uniform(k2, np.uint64(i)))]
        if ncode >= 0:
            yp[i] = lo[i] * draw_noise(ncode, nprm, uniform(k3, np.uint64(i)))


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
    arr = np.zeros(n)
    lp = np.zeros(n, np.int64)
    lo = np.zeros(n, np.int64)
    yp = np.zeros(n)
    arrivals = workload.arrivals
    kind, shape = 0, 1.0
    if isinstance(arrivals, GammaArrivals):
        kind, shape = 1, arrivals.shape
    elif isinstance(arrivals, TraceArrivals):
        kind = 2
        arr[:] = arrivals.times[:n]
    if workload.pairs is not None:
        lp[:] = workload.pairs[0][:n]
        lo[:] = workload.pairs[1][:n]
        pv = np.zeros(0, np.int64)
        pc = ov = oc = np.zeros(0)
    else:
        pv, pc = workload.prompt_tokens.table()
        ov, oc = workload.output_tokens.table()
        ov = ov.astype(np.int64)
        oc = np.asarray(oc, float)
    enc = encode_prediction(workload.prediction)
    ncode, nprm = (enc[0], np.ascontiguousarray(enc[1], float)) if enc else (-1, np.zeros(1))
    s = np.uint64(seed % 2**64)
    _fill(n, s, np.uint64(rep), kind, float(workload.arrival_rate), float(shape),
          np.ascontiguousarray(pv, np.int64), np.ascontiguousarray(pc, float),
          np.ascontiguousarray(ov, np.int64), np.ascontiguousarray(oc, float),
          ncode, nprm, arr, lp, lo, yp)
    if enc is None:
        gen = np.random.default_rng([int(seed % 2**63), int(rep), 3])
        yp[:] = lo * np.asarray(workload.prediction.noise_sample(n, gen), float)
    return arr, lp, lo, yp
