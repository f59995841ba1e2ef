"""Job sizes and predictions drawn inside the kernels by inverse-cdf sampling.

A size law or prediction model is *encoded* as an integer code and a flat float
array of parameters; :func:`draw_size` and :func:`draw_noise` turn counter-based
uniforms (:mod:`qtheory.sim.rng`) into draws. Because the uniforms depend only
on (seed, replication, stream, job index), the CPU and GPU kernels draw the same
jobs.

In-kernel laws: :class:`~qtheory.Exponential`, :class:`~qtheory.Deterministic`,
:class:`~qtheory.Uniform`, :class:`~qtheory.Weibull`, :class:`~qtheory.Pareto`,
:class:`~qtheory.BoundedPareto`, :class:`~qtheory.HyperExponential`,
:class:`~qtheory.Discrete` / :class:`~qtheory.Empirical` and
:class:`~qtheory.Lognormal` (through an accurate normal quantile); predictions
:class:`~qtheory.ExactPrediction`, :class:`~qtheory.ExponentialPrediction`,
:class:`~qtheory.UniformPrediction`, :class:`~qtheory.IntervalPrediction` and
:class:`~qtheory.LognormalPrediction`.

Any other law (Gamma, Erlang, a scipy law, a user's
:class:`~qtheory.MultiplicativePrediction` or :class:`~qtheory.ConditionalPrediction`)
is sampled by NumPy in chunks from a Generator seeded by ``(seed, replication)``
(:func:`encode_size` returns ``None``); such runs are reproducible, on the CPU
backend only (``backend="gpu"`` refuses them).

Examples
--------
>>> from qtheory import Exponential, ExponentialPrediction
>>> code, prm = encode_size(Exponential(mean=2.0))
>>> round(draw_size(code, prm, np.exp(-1.0), 0.5), 12)
2.0
>>> encode_prediction(ExponentialPrediction())[0] == NOISE_EXP
True
"""

from __future__ import annotations

import math

import numpy as np

from ..distributions import (
    BoundedPareto,
    Discrete,
    Exponential,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from ..predictions import (
    ExactPrediction,
    ExponentialPrediction,
    IntervalPrediction,
    LognormalPrediction,
    UniformPrediction,
)
from ._jit import jit
from .rng import log_unit, ndtri, stream_key, uniform

__all__ = [
    "encode_size",
    "encode_prediction",
    "encode_classes",
    "draw_size",
    "draw_noise",
    "draw_class",
    "noise_times_sizes",
    "first_geq",
    "SIZE_EXP",
    "SIZE_DET",
    "SIZE_UNIFORM",
    "SIZE_WEIBULL",
    "SIZE_PARETO",
    "SIZE_BPARETO",
    "SIZE_HYPEREXP",
    "SIZE_DISCRETE",
    "SIZE_LOGNORMAL",
    "NOISE_EXACT",
    "NOISE_EXP",
    "NOISE_UNIFORM",
    "NOISE_LOGNORMAL",
    "NOISE_INTERVAL",
]

SIZE_EXP, SIZE_DET, SIZE_UNIFORM, SIZE_WEIBULL, SIZE_PARETO = 0, 1, 2, 3, 4
SIZE_BPARETO, SIZE_HYPEREXP, SIZE_DISCRETE, SIZE_LOGNORMAL = 5, 6, 7, 8
NOISE_EXACT, NOISE_EXP, NOISE_UNIFORM, NOISE_LOGNORMAL, NOISE_INTERVAL = 0, 1, 2, 3, 4


def encode_size(size) -> tuple[int, np.ndarray] | None:
    """``(code, params)`` for in-kernel sampling of ``size``, or ``None`` (NumPy fallback)."""
    t = type(size)
    p = size._params() if hasattr(size, "_params") else {}
    if t is Exponential:
        return SIZE_EXP, np.array([p["mean"]])
    if t is Uniform:
        return SIZE_UNIFORM, np.array([p["low"], p["high"]])
    if t is Weibull:
        return SIZE_WEIBULL, np.array([p["shape"], p["scale"]])
    if t is Pareto:
        return SIZE_PARETO, np.array([p["alpha"], p["xm"]])
    if t is BoundedPareto:
        a, lo, hi = p["alpha"], p["low"], p["high"]
        den = -math.expm1(-a * math.log(hi / lo))
        return SIZE_BPARETO, np.array([a, lo, hi, den])
    if t is Lognormal:
        return SIZE_LOGNORMAL, np.array([p["mu"], p["sigma"]])
    if t is HyperExponential:
        means, probs = np.asarray(p["means"], float), np.asarray(p["probs"], float)
        cum = np.cumsum(probs)
        cum[-1] = 1.0
        return SIZE_HYPEREXP, np.concatenate([[means.size], cum, means])
    if isinstance(size, Discrete):
        vals, probs = size.atoms
        vals, probs = np.asarray(vals, float), np.asarray(probs, float)
        if vals.size == 1:
            return SIZE_DET, np.array([vals[0]])
        cum = np.cumsum(probs)
        cum[-1] = 1.0
        return SIZE_DISCRETE, np.concatenate([[vals.size], cum, vals])
    return None


def encode_prediction(prediction) -> tuple[int, np.ndarray] | None:
    """``(code, params)`` for in-kernel sampling of the noise factor Z, or ``None``."""
    t = type(prediction)
    if t is ExactPrediction:
        return NOISE_EXACT, np.zeros(1)
    if t is ExponentialPrediction:
        return NOISE_EXP, np.zeros(1)
    if t is UniformPrediction:
        return NOISE_UNIFORM, np.array([prediction.alpha])
    if t is LognormalPrediction:
        return NOISE_LOGNORMAL, np.array([prediction.sigma])
    if t is IntervalPrediction:
        lo, hi = prediction.noise_support
        return NOISE_INTERVAL, np.array([lo, hi - lo])
    return None


def encode_classes(probs) -> np.ndarray:
    """Cumulative class probabilities for :func:`draw_class` (last entry exactly 1)."""
    cum = np.cumsum(np.asarray(probs, float))
    cum[-1] = 1.0
    return cum


@jit
def first_geq(cum, lo, n, u):
    """The first ``i`` in ``[0, n)`` with ``u <= cum[lo + i]`` (``n - 1`` if none): a
    bisection on a non-decreasing array (mixture branches, discrete atoms, classes, LLM token
    tables;
    :func:`qtheory.sim.kernels.cpu._branch` repeats the loop on a column of a 2-d array)."""
    a, b = 0, n - 1
    while a < b:
        m = (a + b) // 2
        if u <= cum[lo + m]:
            b = m
        else:
            a = m + 1
    return a


@jit
def draw_size(code, prm, u1, u2):
    """A job size from uniforms ``u1`` (the value) and ``u2`` (a mixture branch)."""
    if code == SIZE_EXP:
        return -prm[0] * log_unit(u1)
    if code == SIZE_DET:
        return prm[0]
    if code == SIZE_UNIFORM:
        return prm[0] + (prm[1] - prm[0]) * u1
    if code == SIZE_WEIBULL:
        return prm[1] * (-log_unit(u1)) ** (1.0 / prm[0])
    if code == SIZE_PARETO:
        return prm[1] * math.exp(-log_unit(u1) / prm[0])
    if code == SIZE_BPARETO:
        x = prm[1] * math.exp(-math.log1p(-u1 * prm[3]) / prm[0])
        # clipped to [low, high] without min/max (not compiled by every numba.cuda)
        if x < prm[1]:
            return prm[1]
        if x > prm[2]:
            return prm[2]
        return x
    if code == SIZE_HYPEREXP:
        n = int(prm[0])
        i = first_geq(prm, 1, n, u2)
        return -prm[1 + n + i] * log_unit(u1)
    if code == SIZE_DISCRETE:
        n = int(prm[0])
        i = first_geq(prm, 1, n, u1)
        return prm[1 + n + i]
    if code == SIZE_LOGNORMAL:
        return math.exp(prm[0] + prm[1] * ndtri(u1))
    return math.nan


@jit
def draw_noise(code, prm, u):
    """The multiplicative noise factor Z of a prediction ``Y = X * Z``."""
    if code == NOISE_EXACT:
        return 1.0
    if code == NOISE_EXP:
        return -log_unit(u)
    if code == NOISE_UNIFORM:
        return 1.0 - prm[0] + 2.0 * prm[0] * u
    if code == NOISE_LOGNORMAL:
        return math.exp(prm[0] * ndtri(u))
    if code == NOISE_INTERVAL:
        return prm[0] + prm[1] * u
    return math.nan


@jit
def draw_class(cum, u):
    """The priority class (0 = highest) of a job from cumulative class probabilities."""
    return first_geq(cum, 0, cum.size, u)


@jit
def _noise_times_sizes(seed, stream, code, prm, first, sizes, out):
    for r in range(sizes.shape[0]):
        k = stream_key(np.uint64(seed), np.uint64(r), np.uint64(stream))
        for m in range(sizes.shape[1]):
            out[r, m] = sizes[r, m] * draw_noise(code, prm, uniform(k, np.uint64(first + m)))


def noise_times_sizes(seed: int, stream: int, code: int, prm, first: int,
                      sizes: np.ndarray) -> np.ndarray:
    """``sizes * Z`` with ``Z`` the noise factor of code ``code`` (:func:`draw_noise`) drawn
    from stream ``stream`` of replication ``r`` (the row of ``sizes``) at the draws
    ``first, first + 1, ...`` (the columns): the predictions that the kernels draw for
    arrivals ``first, first + 1, ...`` of each replication (the extra predictions of a
    :class:`~qtheory.MultiPrediction` come from streams 8, 9, ...), computed again after
    a run for the records.

    Examples
    --------
    >>> x = np.ones((1, 3))
    >>> y = noise_times_sizes(7, 3, NOISE_UNIFORM, np.array([0.5]), 10, x)
    >>> bool(np.all((y >= 0.5) & (y <= 1.5)))
    True
    """
    sizes = np.ascontiguousarray(sizes, dtype=float)
    out = np.empty(sizes.shape)
    _noise_times_sizes(np.uint64(seed), int(stream), int(code),
                       np.ascontiguousarray(prm, dtype=float), int(first), sizes, out)
    return out
