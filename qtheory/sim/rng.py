"""Counter-based random numbers shared by the CPU and GPU kernels.

Draw ``i`` of stream ``s`` of replication ``r`` under seed ``seed`` is a pure
function of ``(seed, r, s, i)``: no generator state is carried from one draw to
the next, so a kernel can draw job ``i``'s numbers in any order, on any device,
and two backends see the same job sequence.

The function is SplitMix64 used in random-access form (G. Steele, D. Lea, C.
Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): the key
of a stream is the finaliser ``mix64`` applied three times to the seed, the
replication and the stream number; draw ``i`` is ``mix64(key + (i + 1) *
GAMMA)``. The 53 high bits of the result give a double in the open interval
(0, 1), so ``log(u)`` and ``log(1 - u)`` are always finite.

Examples
--------
>>> k = stream_key(np.uint64(7), np.uint64(0), np.uint64(1))
>>> u = uniform(k, np.uint64(0))
>>> 0.0 < u < 1.0, u == uniform(k, np.uint64(0))
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

from ._bits import bits_f64, f64_bits
from ._jit import jit

__all__ = ["mix64", "stream_key", "uniform", "uniforms", "log_unit", "ndtri", "STREAMS",
           "prediction_stream"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_SALT = np.uint64(0xD1B54A32D192ED03)
_TWO_M53 = 1.0 / 9007199254740992.0

#: Stream numbers: one per kind of random quantity of a job.
STREAMS = {"interarrival": 0, "size": 1, "size_branch": 2, "noise": 3, "class": 4}


def prediction_stream(j: int) -> int:
    """The stream of the noise of prediction ``j >= 1`` of a
    :class:`~qtheory.MultiPrediction` (prediction 0's is ``STREAMS["noise"]``): ``8 + j``,
    its own, so that a model's draws do not depend on which others a policy reads."""
    return 8 + int(j)


@jit
def mix64(z):
    """SplitMix64's finaliser: a bijection of 64-bit words with full avalanche."""
    z = np.uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def stream_key(seed, rep, stream):
    """The key of stream ``stream`` of replication ``rep`` (all ``uint64``)."""
    seed, rep, stream = np.uint64(seed), np.uint64(rep), np.uint64(stream)
    h = mix64(seed + _GAMMA)
    h = mix64(h + (rep + _ONE) * _SALT)
    return mix64(h + (stream + _ONE) * _GAMMA)


@jit
def uniform(key, i):
    """Draw ``i`` (``uint64``) of the stream with key ``key``: a double in (0, 1)."""
    h = mix64(np.uint64(key) + (np.uint64(i) + _ONE) * _GAMMA)
    return (float(h >> _S11) + 0.5) * _TWO_M53


@jit
def _uniforms(key, start, n, out):
    for j in range(n):
        out[j] = uniform(key, np.uint64(start + j))


def uniforms(seed: int, rep: int, stream: int, start: int, n: int) -> np.ndarray:
    """``n`` draws from index ``start`` of a stream, as a NumPy array (for tests and tools).

    Examples
    --------
    >>> a = uniforms(1, 0, 0, 0, 5)
    >>> bool(np.all(a[2:] == uniforms(1, 0, 0, 2, 3)))
    True
    """
    out = np.empty(int(n))
    key = stream_key(np.uint64(seed), np.uint64(rep), np.uint64(stream))
    _uniforms(np.uint64(key), int(start), int(n), out)
    return out


# log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with s = f / (2 + f): the reduction and the
# minimax coefficients of R on |s| <= 0.1716 (|f| <= sqrt(2) - 1) published with fdlibm's
# e_log.c (Sun Microsystems, 1993; error below 1 ulp), and ln 2 split in a high part with
# trailing zeros (k ln2_hi is exact for |k| < 2^11) and the rest.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
_MANT = 0xFFFFFFFFFFFFF  # the 52 fraction bits of a double
_ONE_BITS = 0x3FF0000000000000  # the exponent bits of 1.0


@jit
def log_unit(u):
    """Natural logarithm of a positive normal double ``u`` (a uniform draw), within 1 ulp.

    Written without a call to libm and without branches (the exponent and the fraction
    from the bits of ``u``, then the fdlibm reduction and polynomial), so that a loop of
    draws compiles to SIMD code on the CPU (libm's ``log`` is a scalar call: three per
    job were 40% of a simulation's time) and the same arithmetic runs on the GPU. Run as
    Python (the CUDA simulator), the bit casts are :data:`qtheory.sim._bits.PY_TWINS`.

    Examples
    --------
    >>> import math
    >>> abs(log_unit(0.3) - math.log(0.3)) <= 1e-16
    True
    >>> log_unit(1.0), log_unit(0.5) == -math.log(2.0)
    (0.0, True)
    """
    b = f64_bits(u)
    e = float((b >> 52) - 1023)
    y = bits_f64((b & _MANT) | _ONE_BITS)  # in [1, 2)
    c = y > _SQRT2  # fold into [sqrt(2)/2, sqrt(2)]
    y = y * (0.5 if c else 1.0)
    k = e + (1.0 if c else 0.0)
    f = y - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


@jit
def _ndtri_lower(p):
    # p in (0, 0.5]: Acklam's rational start, then one Halley step on erfc (lower tail,
    # where 0.5 * erfc(-x / sqrt 2) keeps full relative precision)
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838)
               * q - 2.549732539343734) * q + 4.374664141464968) * q + 2.938163982698783) / \
            ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996)
              * q + 3.754408661907416) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
                - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
              - 3.066479806614716e+01) * r + 2.506628277459239) * q / \
            (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
                - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
              - 1.328068155288572e+01) * r + 1.0)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@jit
def ndtri(p):
    """Standard normal quantile on (0, 1): P. J. Acklam's rational approximation refined by
    one Halley step on ``erfc``, computed in the lower tail and mirrored (``1 - p`` is exact
    for ``p > 1/2``); relative error ~1e-15."""
    if p > 0.5:
        return -_ndtri_lower(1.0 - p)
    return _ndtri_lower(p)
