r"""The size law given that a noisy prediction falls in a bucket: ``X | low < Y <= high``.

For a multiplicative prediction model ``Y = X Z`` (:mod:`qtheory.predictions`; the noise
factor ``Z``, with cdf ``G`` and survival function ``1 - G``, is independent of the size
``X``, with density ``f`` and cdf ``F``), the bucket ``low < Y <= high`` has probability

    p = P(low < Y <= high) = E_Z[F(high/Z) - F(low/Z)] = int f(x) w(x) dx,
    w(x) = G(high/x) - G(low/x) = P(low < Y <= high | X = x),

and the law of ``X`` given the bucket has the density ``f(x) w(x) / p`` (closed form; ``w``
is taken as the difference of survival functions where ``G(low/x) > 1/2``, so that it keeps
full relative precision, and for uniform noise from exact differences ``x - low/z_max`` and
``high/z_min - x`` near the ends of the support). Truncated moments are computed two ways.

*Over the size* (the fast path, used for every ``x`` in ``[t_min, t_max) = [median * 2**-40,
median * 2**50]`` within the support, ``t_max`` raised to at most ``median * 2**200`` for a
size law whose tail ``E[X; X > t_max]`` is above ``1e-30`` of its mean, a power tail:
:func:`_panel_top`): ``p E[X**k; X <= x | bucket] = int_0^x t**k f(t) w(t)
dt`` is the integral of a fixed closed-form function, so ``[t_min, t_max)`` is cut once per law
into panels (geometric, split at the breakpoints, then halved until a 16-point Gauss-Legendre
rule on a panel and on its two halves agree to ``1e-14`` or to the rounding of ``f w``; the
halves are kept, on which the rule is exact to rounding for any piece). A partial moment is the
sum of the panels below ``x`` (extended precision) plus the rule on ``[a_j, x]``; a tail moment
is the sum of the panels above plus the rule on ``[x, b_j]``: sums of positive terms, so that
neither is a difference and small values keep their relative precision. About 0.4 us a point;
so these values, and the density, are tabulated once per law on the panels (Chebyshev
interpolants at 24 points a panel, :mod:`qtheory.distributions._panelcheb`), and looked up
in about 50 ns a point, within ``2e-13`` relative of the exact values wherever they are above
``1e-200``. ``moment(k)`` is the total of the panels and the parts below ``t_min`` and above
``t_max`` (the tables' own anchors: Pareto sizes with exponential noise, ``E[X**2 | Y <= 0.5]``
for alpha 1.5 and ``E[X**3 | Y <= 0.5]`` for alpha 2.5 agree with mpmath to rounding, where
the quadrature over the noise factor of the whole range was 7.4e-12 and 8.0e-12 off).

*Over the noise factor* (for ``p``, ``moment(k)`` without panels, the parts below ``t_min``
and above ``t_max``, points ``x`` outside that range, and noise laws given only by a
density): with
``D_k(a, b) = E[X**k; a < X <= b]`` of the size law,

    E[X**k; c < X <= d | bucket] = E_Z[D_k(max(c, low/Z), min(d, high/Z))] / p,

``partial_moment(k, x)`` being the case ``(c, d) = (0, x)``, ``tail_moment(k, x)`` the case
``(x, inf)`` and ``moment(k)`` the case ``(0, inf)``. ``D_k(a, b)`` is ``M_k(b) - M_k(a)``
(``M_k`` the parent's partial moment) below the point where ``M_k = E[X**k] / 2`` and
``T_k(a) - T_k(b)`` (``T_k`` its tail moment) above. The expectation is taken with the nested
tanh-sinh rule of :mod:`qtheory.analysis.quadrature` in probability space ``u = G(z)`` (nodes
near ``u = 1`` through the noise law's inverse survival function), as
:mod:`qtheory.analysis.joint` does, in pieces split where the integrand is not smooth (``z =
low/c`` and ``high/d``, the noise law's breakpoints, ``low/x_b`` and ``high/x_b`` for the size
law's breakpoints ``x_b``) and where ``low/z`` or ``high/z`` crosses the size's median. The
level is raised (4 up to 9) until two successive levels agree to ``1e-12``. Noise laws given
only by a density (``MultiplicativePrediction(pdf=...)``, ``integrate_in_z``) are integrated in
``z`` with density weights (their cdf is a numerical integral, too slow for the fast path).

A :class:`~qtheory.QuadratureWarning` reports an integral left with an estimated relative error
above ``1e-9``, panels that do not converge, or a bucket of probability below ``1e-300``.

This is the posterior of the size given ``k``-bucket advice from a noisy prediction: one class
of :class:`qtheory.analysis.multiclass.ClassRankAnalysis` per bucket, ranked by
:func:`qtheory.analysis.gittins.gittins_rank` of its law. :func:`bucket_law` returns the right
law for any input: :class:`~qtheory.distributions.truncated.Truncated` for exact predictions,
:class:`~qtheory.distributions.discrete.Discrete` (atoms ``x_i`` with masses
``p_i w(x_i) / p``) for a size law with atoms, :class:`PredictionBucket` otherwise.

Examples
--------
Exponential sizes and exponential predictions (``Y | X = x`` exponential with mean ``x``):
``w(x) = exp(-1/x)`` for the bucket ``(1, inf)``, and ``int x**(v-1) exp(-x - 1/x) dx =
2 K_v(2)`` (a Bessel function), so ``p = 2 K_1(2)`` and the mean is ``K_2(2) / K_1(2)``.

>>> import qtheory as qt
>>> from scipy.special import kv
>>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 1.0, np.inf)
>>> bool(abs(law.mass - 2 * kv(1, 2.0)) < 1e-14), round(law.mean, 12)
(True, 1.814307758764)
>>> bool(abs(law.mean - kv(2, 2.0) / kv(1, 2.0)) < 1e-13)
True
>>> x = np.array([0.5, 1.0, 3.0])
>>> bool(np.all(np.abs(law.cdf(x) + law.sf(x) - 1.0) < 1e-14)), round(float(law.cdf(law.scale)), 12)
(True, 0.5)
>>> bucket_law(qt.Exponential(mean=1.0), qt.ExactPrediction(), 1.0, 2.0)
Truncated(law=Exponential(mean=1.0), low=1.0, high=2.0)
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from .._threads import concat_chunks, map_chunks
from .._warnings import QuadratureWarning
from .base import (
    SizeDistribution,
    as_generator,
    check_count,
    check_interval,
    check_order,
    finish,
    sides_args,
)
from .discrete import Discrete
from .truncated import Truncated

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..predictions import PredictionModel

__all__ = ["PredictionBucket", "bucket_law"]

_LEVEL0 = 4  # first tanh-sinh level of the integrals over Z
_LEVEL_MAX = 9  # last level (14 * 2**8 + 1 = 3585 nodes a piece)
_RTOL = 1e-12  # converged: two successive levels agree to this (relative)
_WARN_RTOL = 1e-9  # error beyond which a QuadratureWarning is issued
_TINY_MASS = 1e-300
_EPS = float(np.finfo(float).eps)
_FLOOR = 1e-290  # absolute error estimates below this are rounding in subnormal numbers
_CHUNK = 1 << 21  # nodes per block of rows (memory bound)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_GL_LEFT = 1.0 + _GL_X[:8]  # offsets of the nodes from the ends (halves of the rule)
_GL_RIGHT = 1.0 - _GL_X[8:]
_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)  # on the gaps of the Chebyshev tables
_PANEL_DOWN, _PANEL_UP = 40, 50  # panel range: median * 2**-40 to median * 2**50
_PANEL_MAX = 200  # ... extended up to median * 2**200 for a power tail (_panel_top)
_TAIL_LEFT = 1e-30  # the tail E[X; X > t] of the size law, relative to its mean, left
# beyond the panels
_PANEL_RTOL = 1e-14  # a panel is accepted when the rule on it and on its halves agree
_PANEL_ROUNDS = 60
_MEMO = 4  # arrays x whose node values are kept
# panels next to a finite end of the support are graded towards it, each at most this times
# as far from the end at its far edge as at its near edge (_graded)
_GRADE = 2.5


def _graded(a: np.ndarray, b: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """The panels ``[a_j, b_j)`` with those near a finite end of the support (``lo``, ``hi``;
    ``None``: no such end) split at ``end +- d 2**i``, where ``d`` is a panel's distance to
    the end at its near edge, until each is at most :data:`_GRADE` times as far at its far
    edge; the panel at the end itself is left as it is.

    Next to an end where the window of a bucket closes (uniform noise: the bucket ``(0.5,
    1]`` of ``Y = X Z`` has sizes above ``1/3``), the partial moments grow like a power of
    the distance to the end. The panel at the end takes the power fit
    (:func:`~qtheory.distributions._panelcheb.fit_power_panels`), but the next one, from
    ``lo + 0.013`` to ``lo + 0.09`` in that bucket, fitted neither mode: the logarithm's
    singularity at ``lo`` is too near for 24 Chebyshev coefficients, and every point on it
    took the exact path (a tenth of SOAP's time on SPRPT in four classes by such a
    prediction). A panel at most 2.5 times as far from the end at one edge as at the other
    keeps that singularity outside the Bernstein ellipse of radius 4.4 (``4.4**-24 <
    1e-15``).

    Examples
    --------
    >>> a, b = _graded(np.array([1.0, 1.01]), np.array([1.01, 1.1]), 1.0, None)
    >>> [round(float(v), 4) for v in a], [round(float(v), 4) for v in b]
    ([1.0, 1.01, 1.02, 1.04, 1.08], [1.01, 1.02, 1.04, 1.08, 1.1])
    """
    pa, pb = [a], [b]
    for end, sign in ((lo, 1.0), (hi, -1.0)):
        if end is None:
            continue
        d0 = sign * ((a if sign > 0 else b) - end)  # the near edge's distance
        d1 = sign * ((b if sign > 0 else a) - end)
        split = d0 > 0
        split[split] = d1[split] > _GRADE * d0[split]
        for j in np.flatnonzero(split):
            steps = int(np.floor(np.log2(d1[j] / d0[j]) - np.log2(0.5 * _GRADE) + 1e-9))
            cuts = end + sign * d0[j] * 2.0 ** np.arange(1, steps + 1)
            pts = np.sort(np.concatenate([[a[j], b[j]], cuts]))
            pa.append(pts[:-1])
            pb.append(pts[1:])
        keep = ~split
        pa[0], pb[0] = pa[0][keep], pb[0][keep]
        a, b = np.concatenate(pa), np.concatenate(pb)
        order = np.argsort(a, kind="stable")
        a, b = a[order], b[order]
        pa, pb = [a], [b]
    return a, b


def _gl_nodes(a: np.ndarray, b: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Gauss-Legendre nodes on ``[a, b]`` (rows), measured from the nearer end, so that on
    an interval of a few ulps they stay inside and split between its two ends."""
    h = half[:, None]
    return np.concatenate([a[:, None] + h * _GL_LEFT, b[:, None] - h * _GL_RIGHT], axis=1)


def _check_prediction(prediction: PredictionModel) -> None:
    from ..predictions import PredictionModel

    if not isinstance(prediction, PredictionModel):
        raise ValueError(f"prediction must be a PredictionModel, got {prediction!r}")
    if getattr(prediction, "is_general", False):
        raise ValueError(f"prediction must be multiplicative (Y = X * Z); {prediction!r} is a "
                         "general conditional law")


def _window(prediction: PredictionModel, low: float, high: float, x: np.ndarray) -> np.ndarray:
    """``w(x) = P(low < x Z <= high)`` for ``x > 0`` (array), from the cdf of ``Z`` where
    ``G(low/x) <= 1/2`` and from its survival function above (no cancellation)."""
    from ..predictions import ExponentialPrediction, IntervalPrediction

    if isinstance(prediction, IntervalPrediction):
        return _interval_window(prediction, low, high, x)
    if type(prediction) is ExponentialPrediction:
        return _exponential_window(low, high, x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zl = low / x if low > 0 else np.zeros(x.shape)
        zh = high / x if np.isfinite(high) else np.full(x.shape, np.inf)
        gl = np.asarray(prediction.noise_cdf(zl), dtype=float)
        up = gl > 0.5
        out = np.asarray(prediction.noise_cdf(zh), dtype=float) - gl
        if np.any(up):
            sl = np.asarray(prediction.noise_sf(zl[up]), dtype=float)
            sh = np.asarray(prediction.noise_sf(zh[up]), dtype=float)
            out[up] = sl - sh
    return np.maximum(out, 0.0)


@njit(cache=True, error_model="numpy", nogil=True)
def _gap_sums(half, t, g, w, order, m):  # pragma: no cover - compiled
    """The cumulative tables of :meth:`PredictionBucket._cheb_table` for the order 0, 1 or
    2: the gap integrals ``half_i sum_q w_q t_iq**order g_iq`` (8 terms summed pairwise, as
    NumPy sums a row of 8) of the ``m`` gaps of each panel, and their running sums from the
    panel's left end (``up``, 0 first) and from its right end (``down``, 0 last), in that
    order of additions: the values of the NumPy expressions, bit for bit, in one pass."""
    npan = half.size // m
    up = np.empty((npan, m + 1))
    down = np.empty((npan, m + 1))
    gap = np.empty(m)
    r = np.empty(8)
    for p in range(npan):
        for j in range(m):
            i = p * m + j
            for q in range(8):
                if order == 0:
                    r[q] = w[q] * g[i, q]
                elif order == 1:
                    r[q] = w[q] * (t[i, q] * g[i, q])
                else:
                    r[q] = w[q] * ((t[i, q] * t[i, q]) * g[i, q])
            gap[j] = half[i] * (((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])))
        acc = 0.0
        up[p, 0] = 0.0
        for j in range(m):
            acc = gap[j] if j == 0 else acc + gap[j]
            up[p, j + 1] = acc
        acc = 0.0
        down[p, m] = 0.0
        for j in range(m - 1, -1, -1):
            acc = gap[j] if j == m - 1 else acc + gap[j]
            down[p, j] = acc
    return up, down


@njit(cache=True, error_model="numpy", inline="always")
def _sum16(r):  # pragma: no cover - compiled
    """The sum of the 16 entries of ``r`` in NumPy's order for a row of 16 (pairwise: eight
    partial sums ``r_j + r_{j+8}``, then added in pairs)."""
    s0 = r[0] + r[8]
    s1 = r[1] + r[9]
    s2 = r[2] + r[10]
    s3 = r[3] + r[11]
    s4 = r[4] + r[12]
    s5 = r[5] + r[13]
    s6 = r[6] + r[14]
    s7 = r[7] + r[15]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True, error_model="numpy", nogil=True)
def _gl_sums(half, t, g, w, orders, floor, c):  # pragma: no cover - compiled
    """:meth:`PredictionBucket._gl_orders` for the orders 0, 1 and 2 (``orders``): per row
    ``i`` and order ``k``, ``half_i sum_q (w_q t_iq**k) g_iq`` and its rounding bound
    ``|half_i| sum_q (w_q t_iq**k) g_iq rel_iq`` with ``rel = c (1 + |log g|)`` (1 where
    ``g <= floor``), each sum of 16 in NumPy's order (:func:`_sum16`)."""
    n = half.size
    nk = orders.size
    val = np.empty((nk, n))
    noise = np.empty((nk, n))
    r = np.empty(16)
    e = np.empty(16)
    rel = np.empty(16)
    for i in range(n):
        for q in range(16):
            gq = g[i, q]
            rel[q] = c * (1.0 + abs(np.log(gq))) if gq > floor else 1.0
        for m in range(nk):
            k = orders[m]
            for q in range(16):
                if k == 0:
                    wt = w[q]
                elif k == 1:
                    wt = w[q] * t[i, q]
                else:
                    wt = w[q] * (t[i, q] * t[i, q])
                r[q] = wt * g[i, q]
                e[q] = r[q] * rel[q]
            val[m, i] = half[i] * _sum16(r)
            noise[m, i] = abs(half[i]) * _sum16(e)
    return val, noise


def _exponential_window(low: float, high: float, x: np.ndarray) -> np.ndarray:
    """:func:`_window` for an exponential noise factor (mean 1): ``exp(-low/x) - exp(-high/x)
    = exp(-low/x) (1 - exp(-(high - low)/x))``, one ``exp`` and one ``expm1`` a point, with
    its relative precision however close the two ends are (the difference of the two
    survival functions, or of the two cdfs, cancels there).

    Examples
    --------
    >>> x = np.array([0.5, 2.0])
    >>> w = _exponential_window(1.0, 3.0, x)
    >>> bool(np.allclose(w, np.exp(-1.0 / x) - np.exp(-3.0 / x), rtol=1e-15, atol=0))
    True
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lead = np.exp(-low / x) if low > 0 else np.ones(x.shape)
        if not np.isfinite(high):
            return lead
        return lead * -np.expm1(-(high - low) / x)


def _interval_window(prediction: PredictionModel, low: float, high: float,
                     x: np.ndarray) -> np.ndarray:
    """:func:`_window` for a uniform noise factor on ``[z0, z1]``: with ``c = low`` or
    ``high``, ``G(c/x) = z0 (c/z0 - x) / (x (z1 - z0))`` and
    ``1 - G(c/x) = z1 (x - c/z1) / (x (z1 - z0))`` (clipped to [0, 1]), so that ``w`` keeps
    its relative precision up to the ends ``low/z1`` and ``high/z0`` of the support, where
    ``x - c/z1`` and ``c/z0 - x`` are exact differences."""
    z0, z1 = (float(v) for v in prediction.noise_support)
    span = z1 - z0

    def cdf(c):  # G(c / x)
        if c == 0:
            return np.zeros(x.shape)
        if not np.isfinite(c):
            return np.ones(x.shape)
        if z0 == 0:
            return np.clip(c / (x * span), 0.0, 1.0)
        return np.clip(z0 * (c / z0 - x) / (x * span), 0.0, 1.0)

    def sf(c):  # 1 - G(c / x)
        if c == 0:
            return np.ones(x.shape)
        if not np.isfinite(c):
            return np.zeros(x.shape)
        return np.clip(z1 * (x - c / z1) / (x * span), 0.0, 1.0)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gl = cdf(low)
        out = np.where(gl > 0.5, sf(low) - sf(high), cdf(high) - gl)
    return np.maximum(np.where(np.isnan(out), 0.0, out), 0.0)


def release_node_values(law) -> None:
    """Free the density values that a :class:`PredictionBucket` (or ``PredictionPoint``)
    keeps for its last few argument arrays; a no-op for other laws. The multi-class
    analysis calls it after each class's pass over a large array of levels (16 node
    classes of exponential noise: peak memory 920 -> 670 MB)."""
    memo = getattr(law, "__dict__", {}).get("_node_memo")
    if memo:
        memo.clear()


def bucket_law(size: SizeDistribution, prediction: PredictionModel, low: float,
               high: float) -> SizeDistribution:
    """The law of the size ``X`` given that its prediction ``Y`` falls in ``(low, high]``.

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size.
    prediction : PredictionModel
        A multiplicative prediction model ``Y = X Z`` (general conditional laws are refused).
    low, high : float
        The bucket, ``0 <= low < high <= inf``; it must have positive probability.

    Returns
    -------
    SizeDistribution
        :class:`~qtheory.distributions.truncated.Truncated` ``(size, low, high)`` for exact
        predictions; a :class:`~qtheory.distributions.discrete.Discrete` law for a size law
        with atoms (atoms ``x_i`` with masses proportional to
        ``p_i P(low < x_i Z <= high)``; an atom at 0 is never in a bucket); a
        :class:`PredictionBucket` otherwise.

    Examples
    --------
    >>> import qtheory as qt
    >>> d = bucket_law(qt.Discrete([1.0, 2.0], [0.5, 0.5]), qt.UniformPrediction(0.5),
    ...                1.2, 10.0)
    >>> d.atoms                     # P(Y > 1.2 | X = 1) = 0.3, P(Y > 1.2 | X = 2) = 0.9
    (array([1., 2.]), array([0.25, 0.75]))
    >>> type(bucket_law(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.5, 2.0))
    <class 'qtheory.distributions.posterior.PredictionBucket'>
    """
    if not isinstance(size, SizeDistribution):
        raise ValueError(f"size must be a SizeDistribution, got {size!r}")
    _check_prediction(prediction)
    low, high = check_interval(low, high)
    if prediction.is_exact:
        return Truncated(size, low, high)
    if size.is_discrete:
        return reweighted_atoms(size, lambda v: _window(prediction, low, high, v),
                                f"low, high: the bucket ({low!r}, {high!r}] has probability 0 "
                                f"under size={size!r} and prediction={prediction!r}")
    return PredictionBucket(size, prediction, low, high)


def reweighted_atoms(size: SizeDistribution, weight, empty: str) -> Discrete:
    """The atoms ``x_i`` of ``size`` with masses proportional to ``p_i weight(x_i)``
    (``weight`` vectorised, called on the positive atoms; an atom at 0 gets weight 0);
    ``ValueError(empty)`` when every mass is 0."""
    v, p = (np.asarray(a, dtype=float) for a in size.atoms)
    w = np.zeros(v.shape)
    pos = v > 0
    w[pos] = weight(v[pos])
    mass = p * w
    total = float(mass.sum())
    if not total > 0:
        raise ValueError(empty)
    keep = mass > 0
    return Discrete(v[keep], mass[keep] / total)


def refine_rows(quad, zp: np.ndarray):
    """``(values, errors)`` of the integrals over the noise factor of the rows of ``zp``
    (their pieces' ends), refined a row at a time: ``quad(rows, level)`` gives the rows'
    ``(value, nested estimate, difference from the level below)`` with the tanh-sinh rule
    at ``level``, from :data:`_LEVEL0` up to :data:`_LEVEL_MAX`, until the rule agrees
    with the one at half the nodes (the nested estimate alone can be optimistic before
    convergence sets in). Rows with an empty range are 0."""
    from ..analysis.quadrature import SAFETY

    n = zp.shape[0]
    out = np.zeros(n)
    err = np.zeros(n)
    rows = np.nonzero(zp[:, -1] > zp[:, 0])[0]
    level = _LEVEL0
    while rows.size:
        per_row = (zp.shape[1] - 1) * (14 * 2 ** (level - 1) + 1)
        step = max(1, _CHUNK // per_row)
        v, e, d1 = (np.empty(rows.size) for _ in range(3))
        for i in range(0, rows.size, step):
            r = rows[i:i + step]
            v[i:i + step], e[i:i + step], d1[i:i + step] = quad(r, level)
        done = (d1 <= _RTOL * np.abs(v)) | (d1 <= _FLOOR)
        out[rows] = v
        err[rows] = np.where(done, SAFETY * e, d1)
        if level >= _LEVEL_MAX or np.all(done):
            break
        rows = rows[~done]
        level += 1
    return out, err


def _warn_raw(name: str, what: str, k: float, out: np.ndarray, err: np.ndarray) -> None:
    """A QuadratureWarning where :func:`refine_rows` left an error above
    :data:`_WARN_RTOL` (relative) or a non-finite one."""
    big = (out > 0) & (err > _FLOOR)
    worst = np.max(np.where(big, err / np.where(big, out, 1.0), 0.0), initial=0.0)
    if worst > _WARN_RTOL or not np.all(np.isfinite(err)):
        warnings.warn(f"{name}: the {what} (order {k:g}) reached an estimated relative error "
                      f"of {worst:.2e} (quadrature over the noise factor)", QuadratureWarning,
                      stacklevel=4)


def _panel_top(size: SizeDistribution, med: float) -> float:
    """The upper end of the panels: ``med * 2**50``, or higher (by ``2**8`` at a time, up to
    ``2**200``) while the size law's tail ``E[X; X > t]`` there is above :data:`_TAIL_LEFT`
    of its mean. A power tail needs it: the Gittins rank's quanta reach a million times
    the ages where its tail is negligible, and beyond the panels every truncated moment is
    a quadrature over the noise (a bucket of Pareto(2.5) sizes: quanta to 1.8e16, panels
    to 1.5e15, 0.18 s of a 0.27 s GittinsBuckets value). A property of the size law alone:
    kept on it (a hundred node laws of Gittins on the posterior asked it each)."""
    memo = getattr(size, "__dict__", None)
    key = ("_panel_top", float(med))
    if memo is not None and key in memo:
        return memo[key]
    top = _panel_top_of(size, med)
    if memo is not None:
        memo[key] = top
    return top


def _panel_top_of(size: SizeDistribution, med: float) -> float:
    """:func:`_panel_top`, computed."""
    up = _PANEL_UP
    m1 = float(size.moment(1))
    if not (np.isfinite(m1) and np.isinf(float(size.support[1]))):
        return med * 2.0**up
    with np.errstate(all="ignore"):
        while up < _PANEL_MAX and \
                float(size.tail_moment(1, med * 2.0**up)) > _TAIL_LEFT * m1:
            up += 8
    return med * 2.0**up


class PredictionBucket(SizeDistribution):
    """The law of a continuous size ``X`` given ``low < Y <= high`` for ``Y = X Z``.

    Formulas and numerical method in the module docstring. Every function is vectorised
    over ``x`` (any shape; a float for a scalar). Truncated moments (cdf, sf, partial and tail
    moments) are accurate to about ``1e-14`` relative (checked against scipy quadrature of the
    density and against two independent internal methods); the density is closed form. Both
    are then tabulated on the panels (:mod:`qtheory.distributions._panelcheb`: Chebyshev
    interpolants, within ``2e-13`` relative of these exact values above ``1e-200``, looked up
    in about 50 ns a point). The bucket probability, the moments, the median, the panels and
    the tables are computed once per law object.

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size; continuous (for laws with atoms use :func:`bucket_law`).
    prediction : PredictionModel
        Multiplicative, with a continuous noise factor (for exact predictions use
        :func:`bucket_law`, which returns a ``Truncated`` law).
    low, high : float
        The bucket of the prediction, ``0 <= low < high <= inf``; it must have positive
        probability.

    Attributes
    ----------
    mass : float
        ``p = P(low < Y <= high)``; also the acceptance rate of :meth:`sample`.

    Examples
    --------
    >>> import qtheory as qt
    >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), 1.0, 2.0)
    >>> law.support                     # Y = X Z with Z in [0.5, 1.5]
    (0.6666666666666666, 4.0)
    >>> round(float(law.cdf(1.0) + law.sf(1.0)), 14)
    1.0
    """

    #: The Gittins rank (:func:`qtheory.analysis.gittins.gittins_rank`) tabulates every
    #: piece of this law's rank, not only the interior ones: each evaluation of the hazard
    #: and mean-residual pieces costs table lookups, so the solves of the SOAP analysis run
    #: faster on Chebyshev interpolants (to ``1e-12`` relative, as the interior pieces).
    tabulated = True
    #: Whether the tables stop short of a negligible lower (upper) tail
    #: (:func:`_trimmed`).
    _neg_lo = _neg_hi = False

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, low: float,
                 high: float):
        if not isinstance(size, SizeDistribution):
            raise ValueError(f"size must be a SizeDistribution, got {size!r}")
        _check_prediction(prediction)
        if prediction.is_exact:
            raise ValueError("prediction: exact predictions give Truncated(size, low, high); "
                             "use bucket_law")
        if size.is_discrete:
            raise ValueError("size: a law with atoms gives a Discrete posterior; use bucket_law")
        low, high = check_interval(low, high)
        self._setup(size, prediction, low, high)

    def _setup(self, size: SizeDistribution, prediction: PredictionModel, low: float,
               high: float, defer_mass: bool = False) -> None:
        """Everything but the checks (shared with the point posterior, ``low == high``);
        with ``defer_mass`` all but the probability (:meth:`_set_mass`)."""
        self.size, self.prediction, self.low, self.high = size, prediction, low, high
        self._in_z = bool(getattr(prediction, "integrate_in_z", False))
        self._med = float(size.scale)
        zlo, zhi = (float(v) for v in prediction.noise_support)
        self._zlo, self._zhi = zlo, zhi
        slo, shi = (float(v) for v in size.support)
        lo = max(slo, low / zhi if (low > 0 and np.isfinite(zhi)) else 0.0)
        hi = min(shi, high / zlo if (zlo > 0 and np.isfinite(high)) else np.inf)
        self._lo, self._hi = float(lo), float(hi)
        # fixed split points of the integrals over Z
        pts = {float(z) for z in prediction.noise_breakpoints}
        xs = [float(b) for b in size.breakpoints if 0 < b < np.inf]
        if self._med > 0 and np.isfinite(self._med):
            xs.append(self._med)
        for xb in xs:
            if low > 0:
                pts.add(low / xb)
            if np.isfinite(high):
                pts.add(high / xb)
        self._zfixed = np.array(sorted(z for z in pts if zlo < z < zhi and np.isfinite(z)))
        self._split_cache: dict[float, float] = {}
        # fast path: panels of the t-integral of f w (needs a cheap noise cdf)
        self._use_panels = not self._in_z
        med = self._med if (self._med > 0 and np.isfinite(self._med)) else 1.0
        self._tmin = max(self._lo, med * 2.0**-_PANEL_DOWN)
        self._tmax = min(self._hi, _panel_top(size, med))
        if not self._tmin < self._tmax:
            self._use_panels = False
        self._const: dict[tuple, float] = {}
        if defer_mass:  # (the caller sets it: _point_family.point_laws)
            return
        mass = 0.0
        if lo < hi:
            mass = self._raw(0.0, np.array([0.0]), np.array([np.inf]), "probability")[0]
        self._set_mass(mass)

    def _set_mass(self, mass: float) -> None:
        """Check and keep the bucket's probability (the prediction's density at a point)."""
        low, high, size, prediction = self.low, self.high, self.size, self.prediction
        if not (np.isfinite(mass) and mass > 0):
            raise ValueError(f"low, high: the bucket ({low!r}, {high!r}] has probability 0 "
                             f"under size={size!r} and prediction={prediction!r}")
        if mass < _TINY_MASS:
            warnings.warn(f"PredictionBucket: the bucket ({low!r}, {high!r}] has probability "
                          f"{mass:.3e}; relative accuracy may be lost", QuadratureWarning,
                          stacklevel=3)
        self.mass = float(mass)

    # ------------------------------------------------------------------ helpers
    def _split(self, k: float) -> float:
        """The point ``s`` with ``M_k(s) = E[X**k] / 2`` (``inf`` when that moment
        diverges): truncated moments of the parent are differences of partial moments below
        ``s`` and of tail moments above (computed once per order)."""
        s = self._split_cache.get(k)
        if s is not None:
            return s
        size = self.size
        # a property of the size law alone: kept on it too, for the other buckets of a
        # policy (each bucket law searched it again, 32 searches for four thresholds)
        shared = getattr(size, "__dict__", {}).get("_moment_split")
        if shared is not None and k in shared:
            s = self._split_cache[k] = shared[k]
            return s
        if k == 0:
            s = self._med
        else:
            m = float(size.moment(k))
            if not np.isfinite(m):
                s = np.inf
            else:
                lo, hi = (float(v) for v in size.support)
                b = max(self._med, 1e-300) if not np.isfinite(hi) else hi
                while not np.isfinite(hi) and float(size.partial_moment(k, b)) < 0.5 * m:
                    b *= 2.0
                # 32-section on [lo, b] down to adjacent floats (about 11 vectorised calls
                # where a bisection took some 55 scalar ones): b keeps M_k(b) >= E[X**k] / 2
                a = lo
                for _ in range(40):
                    c = np.linspace(a, b, 33)[1:-1]
                    c = c[(c > a) & (c < b)]
                    if c.size == 0:
                        break
                    below = np.asarray(size.partial_moment(k, c), dtype=float) < 0.5 * m
                    i = int(np.argmin(below)) if not below.all() else c.size
                    if i < c.size:
                        b = float(c[i])
                    if i > 0:
                        a = float(c[i - 1])
                s = float(b)
        self._split_cache[k] = s
        if hasattr(size, "__dict__"):
            size.__dict__.setdefault("_moment_split", {})[k] = s
        return s

    def _D(self, k: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``E[X**k; a < X <= b]`` of the parent for ``a < b`` (1-D; ``b`` may be inf)."""
        size = self.size
        s = self._split(k)
        out = np.empty(a.shape)
        use_t = (a >= s) | np.isinf(b)
        with np.errstate(all="ignore"):
            if np.any(use_t):
                aa, bb = a[use_t], b[use_t]
                fin = np.isfinite(bb)
                ta = np.asarray(size.tail_moment(k, aa), dtype=float)
                tb = np.zeros(bb.shape)
                if np.any(fin):
                    tb[fin] = np.asarray(size.tail_moment(k, bb[fin]), dtype=float)
                out[use_t] = ta - tb
            head = ~use_t
            if np.any(head):
                ab = np.concatenate([a[head], b[head]])
                m = np.asarray(size.partial_moment(k, ab), dtype=float)
                n = m.size // 2
                out[head] = m[n:] - m[:n]
        return np.maximum(out, 0.0)

    def _zpoints(self, c: np.ndarray, d: np.ndarray):
        """Per-row split points of the integral over Z, from its lower to its upper end
        (rows x columns, sorted; padded with the upper end), for ``E[.; c < X <= d]``."""
        low, high = self.low, self.high
        n = c.size
        with np.errstate(divide="ignore", invalid="ignore"):
            zfrom = np.maximum(low / d if low > 0 else np.zeros(n), self._zlo)
            zto = np.minimum(high / c if np.isfinite(high) else np.full(n, np.inf), self._zhi)
            zfrom = np.where(np.isnan(zfrom), self._zlo, zfrom)
            zto = np.where(np.isnan(zto), self._zhi, zto)
            row = [np.broadcast_to(self._zfixed, (n, self._zfixed.size))]
            if low > 0:
                row.append((low / c)[:, None])
            if np.isfinite(high):
                row.append((high / d)[:, None])
        z = np.concatenate(row, axis=1)
        from ..analysis.quadrature import inner_points

        z = inner_points(z, zfrom[:, None], zto[:, None])
        z = np.where(np.isfinite(z), z, zto[:, None])
        return np.concatenate([zfrom[:, None], z, zto[:, None]], axis=1)

    def _nodes(self, zp: np.ndarray, level: int):
        """Nodes ``z`` and weights (rows x nodes) of the rule at ``level`` on the pieces
        between the columns of ``zp``; also the rule (for the nested error estimate)."""
        from ..analysis.quadrature import finite_nodes, halfline_nodes, tanh_sinh_rule

        p = self.prediction
        rule = tanh_sinh_rule(level)
        n = zp.shape[0]
        if self._in_z:
            lo_e, hi_e = zp[:, :-1], zp[:, 1:]
            inf_end = np.isinf(hi_e)
            zn, w = finite_nodes(lo_e, np.where(inf_end, lo_e, hi_e), rule)
            if np.any(inf_end):
                scale = np.maximum(lo_e, max(float(p.noise_median), 1e-300))
                zh, wh = halfline_nodes(lo_e, scale, level)
                zn = np.where(inf_end[..., None], zh, zn)
                w = np.where(inf_end[..., None], wh, w)
            zn, w = zn.reshape(n, -1), w.reshape(n, -1)
            with np.errstate(all="ignore"):
                w = w * np.asarray(p.noise_pdf(zn), dtype=float)
            w = np.where(np.isfinite(w), w, 0.0)
            return zn, w, rule
        with np.errstate(all="ignore"):
            u = np.asarray(p.noise_cdf(zp), dtype=float)
            uc = np.asarray(p.noise_sf(zp), dtype=float)
        ua, ub, uca, ucb = u[:, :-1], u[:, 1:], uc[:, :-1], uc[:, 1:]
        width = np.maximum(np.where(ua >= 0.5, uca - ucb, ub - ua), 0.0)[..., None]
        near_left = rule.left < 0.5
        un = np.where(near_left, ua[..., None] + width * rule.left,
                      ub[..., None] - width * rule.right)
        ucn = np.where(near_left, uca[..., None] - width * rule.left,
                       ucb[..., None] + width * rule.right)
        w = (width * rule.weight).reshape(n, -1)
        un, ucn = un.reshape(n, -1), ucn.reshape(n, -1)
        with np.errstate(all="ignore"):
            zn = np.where(un < 0.5, p.noise_ppf(np.minimum(un, 0.5)),
                          p.noise_isf(np.minimum(ucn, 0.5)))
        return zn, w, rule

    def _quad(self, k: float, c: np.ndarray, d: np.ndarray, zp: np.ndarray, level: int):
        """``E_Z[D_k(max(c, low/Z), min(d, high/Z))]`` at ``level``, with the nested error
        estimate and the difference from the rule at the level below."""
        from ..analysis.quadrature import nested_sum

        zn, w, rule = self._nodes(zp, level)
        pieces = zp.shape[1] - 1
        with np.errstate(all="ignore"):
            zn = np.clip(np.where(np.isnan(zn), 1.0, zn), np.finfo(float).tiny,
                         np.finfo(float).max)
            a = self.low / zn if self.low > 0 else np.zeros(zn.shape)
            b = self.high / zn if np.isfinite(self.high) else np.full(zn.shape, np.inf)
        a = np.maximum(a, c[:, None])
        b = np.minimum(b, d[:, None])
        sel = (b > a) & (w > 0)
        vals = np.zeros(zn.shape)
        if np.any(sel):
            vals[sel] = self._D(k, a[sel], b[sel])
        prod = np.where(sel, vals * w, 0.0)
        coarse = np.tile(rule.coarse, pieces)
        coarse4 = np.tile(rule.coarse4, pieces)
        with np.errstate(all="ignore"):
            fine, est, half = nested_sum(prod, coarse, coarse4, with_coarse=True)
            return fine, est, np.abs(fine - half)

    def _raw(self, k: float, c: np.ndarray, d: np.ndarray, what: str) -> np.ndarray:
        """``p E[X**k; c < X <= d | bucket]`` for 1-D arrays ``c < d``, refined per row
        (:func:`refine_rows`)."""
        if c.size == 0:
            return np.zeros(0)
        zp = self._zpoints(c, d)
        out, err = refine_rows(lambda r, level: self._quad(k, c[r], d[r], zp[r], level), zp)
        _warn_raw(type(self).__name__, what, k, out, err)
        return out

    def _cached(self, key: tuple, fn) -> float:
        v = self._const.get(key)
        if v is None:
            v = self._const[key] = float(fn())
        return v

    def _flat_below(self):
        """``c`` where the window ``w(t) = P(low < t Z <= high)`` is exactly the constant
        ``c`` (1 or 0, to rounding) on ``(0, t_min)``, else ``None``; there ``p E[X**k;
        X <= x | bucket] = c E[X**k; X <= x]`` for ``x < t_min``, the size law's own partial
        moment, instead of a quadrature over the noise factor for every such point (the
        quadrature nodes of the SOAP analysis on Weibull 0.5 sizes reach ages of 1e-55:
        5651 such points a GittinsBuckets value, 170 ms). With ``low = 0``, ``w`` does not
        increase with ``t``, so ``w(t_min) = 1`` makes it 1 below; with ``low > 0``,
        ``w(t) <= P(Z > low / t)``, which does not decrease with ``t``, so that probability
        being 0 at ``t_min`` makes ``w`` 0 below. Only for the window of this class (a point
        posterior's density factor is another function)."""
        hit = self.__dict__.get("_flat_below_c", False)
        if hit is not False:
            return hit
        c = None
        if type(self)._g is PredictionBucket._g and self._tmin > 0:
            t = np.array([self._tmin])
            if self.low == 0:
                if float(_window(self.prediction, self.low, self.high, t)[0]) == 1.0:
                    c = 1.0
            elif float(np.asarray(self.prediction.noise_sf(self.low / t),
                                  dtype=float)[0]) == 0.0:
                c = 0.0
        self.__dict__["_flat_below_c"] = c
        return c

    # ------------------------------------------------------------------ panels (fast path)
    def _g(self, t: np.ndarray) -> np.ndarray:
        """``f(t) w(t)`` at points ``0 < t`` of the support (any shape)."""
        flat = t.ravel()
        w = _window(self.prediction, self.low, self.high, flat)
        with np.errstate(all="ignore"):
            f = np.asarray(self.size.pdf(flat), dtype=float)
            out = np.where(w > 0, f * w, 0.0)
        return np.where(np.isfinite(out), out, 0.0).reshape(t.shape)

    def _gl(self, k: float, a: np.ndarray, b: np.ndarray):
        """``int_a^b t**k f(t) w(t) dt`` by the Gauss-Legendre rule (1-D arrays), and a bound
        on its rounding error: ``f w`` is mostly an exponential of a large argument
        (``exp(-low/t)``, ``exp(-t)``), whose relative rounding error is ``eps`` times that
        argument, ``|log(f w)|``; values below ``1e-290`` count as noise in full (subnormal
        numbers lose their relative precision)."""
        return self._gl_orders((k,), a, b)[0]

    def _gl_orders(self, ks, a: np.ndarray, b: np.ndarray) -> list:
        """:meth:`_gl` for each order of ``ks``, on one evaluation of ``f w``."""
        half = 0.5 * (b - a)
        t = _gl_nodes(a, b, half)
        out = []
        with np.errstate(all="ignore"):
            g = self._g(t)
            if all(k in (0.0, 1.0, 2.0) for k in ks):  # compiled, the same sums
                orders = np.array([int(k) for k in ks], dtype=np.int64)
                val, noise = _gl_sums(half, t, g, _GL_W, orders, _FLOOR, 4.0 * _EPS)
                return [(val[i], noise[i]) for i in range(orders.size)]
            rel = np.where(g > _FLOOR, 4.0 * _EPS * (1.0 + np.abs(np.log(np.where(
                g > _FLOOR, g, 1.0)))), 1.0)
            for k in ks:
                terms = _GL_W * t**k * g
                out.append((half * np.sum(terms, axis=1),
                            np.abs(half) * np.sum(terms * rel, axis=1)))
        return out

    def _edges(self):
        """Panels ``[a_j, b_j)`` of ``[t_min, t_max)`` on which the Gauss-Legendre rule
        integrates ``t**k f(t) w(t)`` (so any piece of a panel too) to rounding, for the orders
        ``k = 0`` and ``2``: a panel is split until the rule on it and the rule on its two
        halves agree to ``1e-14`` (or to the rounding of ``f w``), and then kept as those
        halves; a steep panel at a finite end cut towards it, the ends graded
        (:func:`_build_edges`). Computed once per law object; shared by every order ``k``."""
        cached = self.__dict__.get("_edge_cache")
        if cached is not None:
            return cached
        _build_edges([self], lambda t, n: self._g(t))
        return self.__dict__["_edge_cache"]

    def _anchor(self, k: float, side: str) -> float:
        """``p E[X**k; X <= t_min | bucket]`` (``side="lo"``) or ``p E[X**k; X > t_max |
        bucket]`` (``"hi"``) by the quadrature over Z, or the value put in the law's
        ``_anchors`` before (:func:`~qtheory.distributions._point_family.build_tables`
        computes those of many point posteriors together, the same numbers)."""
        hit = self.__dict__.get("_anchors", {}).get((k, side))
        if hit is not None:
            return hit
        if side == "lo":
            return self._raw(k, np.array([0.0]), np.array([self._tmin]), "partial moment")[0]
        return self._raw(k, np.array([self._tmax]), np.array([np.inf]), "tail moment")[0]

    def _panels(self, k: float):
        """The panels (:meth:`_edges`) with, for order ``k``, the sums of the panel integrals
        left of each panel and right of it (in extended precision), anchored at
        ``p E[X**k; X <= t_min | bucket]`` and ``p E[X**k; X > t_max | bucket]`` from the
        quadrature over Z, and their total. Computed once per order."""
        cache = self.__dict__.setdefault("_panel_cache", {})
        if k in cache:
            return cache[k]
        a, b = self._edges()
        # the panel integrals of the orders 0, 1 and 2 on one evaluation of f w (the tables
        # need all three)
        sums = self.__dict__.setdefault("_panel_sums", {})
        if k not in sums:
            ks = (0.0, 1.0, 2.0) if k in (0.0, 1.0, 2.0) else (k,)
            for kk, (vk, _) in zip(ks, self._gl_orders(ks, a, b)):
                sums[kk] = vk
        v = sums[k]
        v = np.where(np.isfinite(v), v, 0.0).astype(np.longdouble)
        lo_anchor = 0.0
        flat = self._flat_below()
        if self._tmin > self._lo and flat is not None:  # the window is flat below t_min
            lo_anchor = flat * float(self.size.partial_moment(k, self._tmin))
        elif self._tmin > self._lo:
            lo_anchor = self._anchor(k, "lo")
        hi_anchor = 0.0
        if self._diverges(k):
            hi_anchor = np.inf
        elif self._tmax < self._hi:
            # (no quadrature over the noise where the size law's tail is gone: a light tail
            # at median * 2**50)
            if not self._parent_tail_gone(k, np.array([self._tmax]))[0]:
                hi_anchor = self._anchor(k, "hi")
        # left[j]: everything below a_j; right[j]: everything above b_j (each summed from its
        # own end, so that small tails keep their relative precision)
        left = np.longdouble(lo_anchor) + np.concatenate([[0.0], np.cumsum(v)])
        right = np.longdouble(hi_anchor) + np.concatenate([np.cumsum(v[::-1])[::-1][1:], [0.0]])
        total = float(left[-1] + np.longdouble(hi_anchor))
        out = (a, b, left.astype(float), right.astype(float), total)
        cache[k] = out
        return out

    def _cheb_table(self, k: float, tail: bool):
        """The panels with, for order ``k`` and side ``tail``, the Chebyshev tables of the
        cumulative values (:mod:`qtheory.distributions._panelcheb`): the pieces ``int_{a_j}^x
        t**k f w dt`` and ``int_x^{b_j}`` at 24 Chebyshev-Lobatto points ``x`` of each panel,
        as sums of an 8-point Gauss-Legendre rule on the 23 gaps between the points (a gap is
        at most 7 % of a panel, on which the 16-point rule is exact to rounding; positive
        terms, so small pieces keep their relative precision), with the panel sums below (or
        above) as anchors. Both sides of the orders 0, 1, 2 (and ``k``) are built together,
        on first use, from one evaluation of ``f w`` (for 280 panels, 280 x 23 x 8 = 51520
        points). Measured against the exact path (:meth:`_panel_values`) on eight bucket and
        point laws: within ``1e-13`` relative wherever the value is above ``1e-200``."""
        cache = self.__dict__.setdefault("_cheb_cache", {})
        hit = cache.get((k, tail))
        if hit is not None:
            return hit
        _build_tables([self], lambda t, n: self._g(t), tuple(sorted({0.0, 1.0, 2.0, k})))
        return cache[(k, tail)]

    def _panel_values(self, k: float, x: np.ndarray, tail: bool) -> np.ndarray:
        """``p E[X**k; X <= x | bucket]`` (or ``X > x`` with ``tail``) for ``x`` in
        ``[t_min, t_max)`` (1-D), computed directly: the sum of the panels beyond the panel of
        ``x`` (below it, or above it with ``tail``) plus the Gauss-Legendre rule on the piece
        of that panel. Sums of positive terms only, so small values keep their relative
        precision, and continuous in ``x`` to rounding (at a panel end the piece is the panel
        integral in the sums, on the same nodes). The values of ``f w`` at the nodes are kept
        for the last few arrays ``x``, so that other orders at the same points cost no new
        evaluations (:func:`release_node_values` frees them)."""
        a, b, left, right, _ = self._panels(k)
        j = np.clip(np.searchsorted(a, x, side="right") - 1, 0, a.size - 1)
        key = (tail, x.tobytes())
        memo = self.__dict__.setdefault("_node_memo", {})
        hit = memo.get(key)
        if hit is None:
            u, v = (x, b[j]) if tail else (a[j], x)
            half = 0.5 * (v - u)
            t = _gl_nodes(u, v, half)
            hit = (half, t, self._g(t))
            if len(memo) >= _MEMO:
                memo.pop(next(iter(memo)))
            memo[key] = hit
        half, t, g = hit
        with np.errstate(all="ignore"):
            piece = half * np.sum(_GL_W * (g if k == 0 else t**k * g), axis=1)
        return piece + (right[j] if tail else left[j])

    def _moments(self, k: float, x: ArrayLike, tail: bool, clip: bool = False):
        """``E[X**k; X <= x | bucket]`` (or ``X > x`` with ``tail``) at every point of ``x``
        (any shape; clipped to ``[0, 1]`` with ``clip``): one compiled pass over the Chebyshev
        tables (:func:`qtheory.distributions._panelcheb.moments_lookup`), and the exact path
        (:meth:`_moments_exact`) for the points it leaves (outside ``[t_min, t_max)`` or on a
        panel without a table)."""
        k = check_order(k)
        x = np.asarray(x, dtype=float)
        mom = self.moment(k)
        if not (self._use_panels and (np.isfinite(mom) or not tail)):
            out = finish(self._moments_exact(k, x.ravel(), tail, mom), x.ravel())
            out = np.clip(out, 0.0, 1.0) if clip else out
        else:
            from ._panelcheb import moments_lookup

            flat = np.ascontiguousarray(x.ravel())
            out, need, n_need = moments_lookup(flat, *self._cheb_table(k, tail), self._lo,
                                               self._hi, self._tmin, self._tmax, self.mass,
                                               mom, tail, clip)
            if n_need:
                rest = self._moments_exact(k, flat[need], tail, mom)
                out[need] = np.clip(rest, 0.0, 1.0) if clip else rest
        out = out.reshape(x.shape)
        return float(out) if out.ndim == 0 else out

    def moments012(self, x: ArrayLike, tail: bool = False) -> tuple:
        """:meth:`partial_moment` (or :meth:`tail_moment` with ``tail``) of the orders 0, 1
        and 2 at the points of ``x``, the same values, in one compiled pass over the three
        tables (:func:`qtheory.distributions._panelcheb.moments3_lookup`: one panel search a
        point, the Clenshaw sums interleaved); the exact path for the points it leaves.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                        0.5, 2.0)
        >>> x = np.array([0.2, 1.0, 5.0])
        >>> m0, m1, m2 = law.moments012(x, tail=True)
        >>> bool(np.all(m2 == law.tail_moment(2, x)) and np.all(m0 == law.tail_moment(0, x)))
        True
        """
        moms = [self.moment(k) for k in (0.0, 1.0, 2.0)]
        if not (self._use_panels and (not tail or all(np.isfinite(moms)))):
            return super().moments012(x, tail)
        from ._panelcheb import moments3_lookup

        x = np.asarray(x, dtype=float)
        flat = np.ascontiguousarray(x.ravel())
        tabs = [self._cheb_table(k, tail) for k in (0.0, 1.0, 2.0)]
        a, b = tabs[0][0], tabs[0][1]
        rest = (*tabs[0][2:], *tabs[1][2:], *tabs[2][2:], self._lo, self._hi, self._tmin,
                self._tmax, self.mass, *moms, tail)
        # points in chunks on threads (qtheory._threads: the same numbers)
        out, need, n_need = concat_chunks(lambda s: moments3_lookup(flat[s], a, b, *rest),
                                          flat.size, (1, 1, None))
        res = []
        for k in range(3):
            v = out[k]
            if n_need[k]:
                v[need[k]] = self._moments_exact(float(k), flat[need[k]], tail, moms[k])
            v = v.reshape(x.shape)
            res.append(float(v) if v.ndim == 0 else v)
        return tuple(res)

    def moments012_sides(self, x, side, tot) -> np.ndarray:
        """:meth:`moments012` on each point's side (:meth:`SizeDistribution.moments012_sides
        <qtheory.distributions.base.SizeDistribution.moments012_sides>`), the same values:
        one compiled pass over both sides' tables
        (:func:`qtheory.distributions._panelcheb.moments3_lookup_sides`), then the exact
        path for the points it leaves."""
        moms = [self.moment(k) for k in (0.0, 1.0, 2.0)]
        if not (self._use_panels and all(np.isfinite(moms))):
            return super().moments012_sides(x, side, tot)
        from ._panelcheb import moments3_lookup_sides

        x, side, tot, out = sides_args(x, side, tot)
        need = np.empty((3, x.size), dtype=bool)
        low = [self._cheb_table(k, False) for k in (0.0, 1.0, 2.0)]
        up = [self._cheb_table(k, True) for k in (0.0, 1.0, 2.0)]
        a, b = low[0][0], low[0][1]
        rest = (*low[0][2:], *low[1][2:], *low[2][2:], *up[0][2:], *up[1][2:], *up[2][2:],
                self._lo, self._hi, self._tmin, self._tmax, self.mass, *moms, tot)
        # points in chunks on threads (qtheory._threads: the same numbers)
        map_chunks(lambda s: moments3_lookup_sides(x, side, out, need, s.start, s.stop, a, b,
                                                   *rest), x.size)
        for k in range(3):
            if need[k].any():
                for code, tail in ((0, False), (1, True)):
                    at = np.flatnonzero(need[k] & (side == code))
                    if at.size:
                        out[k, at] = self._moments_exact(float(k), x[at], tail, moms[k])
        return out

    def tails_at(self, x: ArrayLike):
        """``(sf, cdf, E[X; X <= x], E[X; X > x])`` at the points of ``x`` (1-D), as
        :meth:`sf`, :meth:`cdf`, :meth:`partial_moment` and :meth:`tail_moment` of order 1
        give them, in one compiled pass over the tables
        (:func:`qtheory.distributions._panelcheb.tails_lookup`); the Gittins rank
        (:meth:`qtheory.analysis.gittins._Law.at`) needs the four at every quantum.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                        0.5, 2.0)
        >>> x = np.array([0.2, 1.0, 5.0])
        >>> s, c, pm, tm = law.tails_at(x)
        >>> bool(np.all(s == law.sf(x)) and np.all(pm == law.partial_moment(1, x)))
        True
        """
        x = np.ascontiguousarray(np.asarray(x, dtype=float).ravel())
        mean = self.moment(1.0)
        if not (self._use_panels and np.isfinite(mean)):
            return (self.sf(x), self.cdf(x), self.partial_moment(1.0, x),
                    self.tail_moment(1.0, x))
        from ._panelcheb import tails_lookup

        a, b = self._edges()
        tabs = [self._cheb_table(k, tl)[2:] for k, tl in ((0.0, True), (0.0, False),
                                                            (1.0, False), (1.0, True))]
        *out, need, n_need = tails_lookup(x, a, b, *tabs[0], *tabs[1], *tabs[2], *tabs[3],
                                          self._lo, self._hi, self._tmin, self._tmax,
                                          self.mass, mean)
        if n_need:
            xs = x[need]
            for arr, val in zip(out, (self.sf(xs), self.cdf(xs), self.partial_moment(1.0, xs),
                                      self.tail_moment(1.0, xs))):
                arr[need] = val
        return tuple(out)

    def _parent_tail_gone(self, k: float, x: np.ndarray) -> np.ndarray:
        """Where the size law's own tail moment ``E[X**k; X > x]`` underflows to 0: the
        bucket's, at most that (its window is at most 1), is 0 there too, without a
        quadrature over the noise."""
        with np.errstate(all="ignore"):
            return np.asarray(self.size.tail_moment(k, x), dtype=float) == 0.0

    def _moments_exact(self, k: float, flat: np.ndarray, tail: bool, mom: float):
        """:meth:`_moments` at the points of ``flat`` (1-D) without the Chebyshev tables of
        the points (the panel sums and the Gauss-Legendre rule on the piece, or the quadrature
        over the noise factor); NaN points give any value (the caller puts NaN there)."""
        below = ~(flat > self._lo)
        above = ~(flat < self._hi)
        inside = ~(below | above) & ~np.isnan(flat)
        out = np.empty(flat.shape)
        out[below] = mom if tail else 0.0
        out[above] = 0.0 if tail else mom
        if tail and not np.isfinite(mom):  # a divergent moment diverges beyond every x
            out[inside] = mom
            inside = np.zeros(flat.shape, dtype=bool)
        if inside.any():
            xi = flat[inside]
            raw = np.empty(xi.shape)
            fast = (xi >= self._tmin) & (xi < self._tmax) if self._use_panels \
                else np.zeros(xi.shape, dtype=bool)
            # (below a trimmed lower end a tail, above a trimmed upper end a partial
            # moment, is the whole moment to rounding: _trimmed)
            whole = (xi < self._tmin) & self._neg_lo if tail else \
                (xi >= self._tmax) & self._neg_hi
            if whole.any():
                raw[whole] = self.mass * mom
                fast &= ~whole
            if fast.any():
                raw[fast] = self._panel_values(k, np.ascontiguousarray(xi[fast]), tail)
            slow = ~fast & ~whole
            c = self._flat_below()
            if c is not None and slow.any():
                # below t_min the window is constant (1 or 0): the size law's own moments
                low = slow & (xi < self._tmin)
                if low.any():
                    part = c * np.asarray(self.size.partial_moment(k, xi[low]), dtype=float)
                    raw[low] = self.mass * mom - part if tail else part
                    slow &= ~low
            if slow.any() and np.isfinite(mom):
                # above the panels, where the size law's own tail moment underflows to 0,
                # the bucket's (at most that, the window being at most 1) is 0 too: no
                # quadrature over the noise (SPRPT's integrals over the prediction reach
                # x = y / z for z near 0, x = 1e300: 0.8 s of a 1.1 s value of SkipPredict
                # with a separate cheap predictor)
                high = slow & (xi >= self._tmax)
                if high.any():
                    gone = self._parent_tail_gone(k, xi[high])
                    if gone.any():
                        idx = np.flatnonzero(high)[gone]
                        raw[idx] = 0.0 if tail else self.mass * mom
                        slow[idx] = False
            if slow.any():
                xs = xi[slow]
                if tail:
                    raw[slow] = self._raw(k, xs, np.full(xs.shape, np.inf), "tail moment")
                else:
                    raw[slow] = self._raw(k, np.zeros(xs.shape), xs, "partial moment")
            out[inside] = raw / self.mass
            if np.isfinite(mom):
                out[inside] = np.minimum(out[inside], mom)
        return out

    # ------------------------------------------------------------------ interface
    def _density_table(self):
        """The panels with the Chebyshev tables of ``f w`` (:meth:`_g`, ``p`` times the
        density), fitted to its values at 24 Chebyshev-Lobatto points a panel; built once, on
        first use."""
        hit = self.__dict__.get("_density_cache")
        if hit is None:
            _build_tables([self], lambda t, n: self._g(t), (), density=True)
            hit = self.__dict__["_density_cache"]
        return hit

    def pdf(self, x: ArrayLike):
        """The density (:meth:`_pdf_exact`), from the Chebyshev tables of ``f w`` on the panels
        (:mod:`qtheory.distributions._panelcheb`; within ``2e-13`` relative of the closed form
        on the laws of ``tests/test_panelcheb.py``), and from the closed form outside the
        panels or on a panel without a table.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                        0.5, 2.0)
        >>> x = np.array([0.01, 0.3, 1.0, 7.0, 40.0])
        >>> bool(np.all(np.abs(law.pdf(x) / law._pdf_exact(x) - 1.0) < 1e-12))
        True
        """
        x = np.asarray(x, dtype=float)
        if not self._use_panels:
            return self._pdf_exact(x)
        from ._panelcheb import density_lookup

        flat = np.ascontiguousarray(x.ravel())
        tab = self._density_table()
        out, need, n_need = concat_chunks(
            lambda s: density_lookup(flat[s], *tab, self._tmin, self._tmax, self.mass),
            flat.size, (0, 0, None))
        if n_need:
            out[need] = self._pdf_exact(flat[need])
        out = out.reshape(x.shape)
        return float(out) if out.ndim == 0 else out

    def _pdf_exact(self, x: ArrayLike):
        """Density ``f(x) w(x) / p`` (closed form; the right limit at the lower end of the
        support), vectorised over ``x``.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5),
        ...                        0.0, 1.0)
        >>> round(float(law._pdf_exact(0.5) * law.mass), 12)   # f(0.5) P(0.5 Z <= 1) = e**-0.5
        0.606530659713
        """
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        inside = (flat >= self._lo) & (flat <= self._hi)
        out = np.zeros(flat.shape)
        if inside.any():
            xi = flat[inside]
            pos = xi > 0
            w = np.zeros(xi.shape)
            if pos.any():
                w[pos] = _window(self.prediction, self.low, self.high, xi[pos])
            if self.low == 0:  # w(0+) = 1: Y <= high for x -> 0
                w[~pos] = 1.0
            f = np.asarray(self.size.pdf(xi), dtype=float)
            with np.errstate(invalid="ignore"):
                out[inside] = np.where(w > 0, f * w, 0.0) / self.mass
        return finish(out.reshape(x.shape), x)

    def cdf(self, x: ArrayLike):
        """``P(X <= x | low < Y <= high)``, vectorised over ``x``.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                        0.0, np.inf)               # no information: the size law
        >>> bool(abs(law.cdf(1.0) - (1 - np.exp(-1.0))) < 1e-15)
        True
        """
        return self._moments(0.0, x, tail=False, clip=True)

    def sf(self, x: ArrayLike):
        """``P(X > x | low < Y <= high)``, computed directly (no ``1 - cdf``)."""
        return self._moments(0.0, x, tail=True, clip=True)

    def prob_between(self, a, b) -> np.ndarray:
        """``P(a < X <= b | low < Y <= high)``: the base class's choice of side (tail
        probabilities from the median on, the cdf below) and the same values, the tables
        looked up in one compiled pass (:func:`qtheory.distributions._panelcheb.
        between_lookup`), the exact path for the points it leaves.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                        0.5, 2.0)
        >>> a, b = np.array([0.1, 0.8, 3.0]), np.array([0.5, 2.0, np.inf])
        >>> p = law.prob_between(a, b)
        >>> bool(np.all(p[:2] == law.cdf(b[:2]) - law.cdf(a[:2])) and p[2] == law.sf(3.0))
        True
        """
        if not self._use_panels:
            return super().prob_between(a, b)
        from ._panelcheb import between_lookup

        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        shape = a.shape
        x0, x1 = np.ascontiguousarray(a.ravel()), np.ascontiguousarray(b.ravel())
        scale = self.scale
        low_t, high_t = self._cheb_table(0.0, False), self._cheb_table(0.0, True)
        rest = (scale, low_t[0], low_t[1], *low_t[2:], *high_t[2:], self._lo, self._hi,
                self._tmin, self._tmax, self.mass)
        v0, v1, need0, need1 = concat_chunks(lambda s: between_lookup(x0[s], x1[s], *rest),
                                             x0.size, (0, 0, 0, 0))
        up = x0 >= scale
        for v, need, x in ((v0, need0, x0), (v1, need1, x1)):
            if need.any():
                for tail in (True, False):
                    sel = need & (up if tail else ~up)
                    if sel.any():
                        v[sel] = np.clip(self._moments_exact(0.0, x[sel], tail, 1.0), 0.0, 1.0)
        with np.errstate(invalid="ignore"):
            out = np.where(up, v0 - v1, v1 - v0)
        return out.reshape(shape)

    def moment(self, k: float) -> float:
        """``E[X**k | low < Y <= high]`` (cached per order; ``inf`` when it diverges)."""
        k = check_order(k)
        if k == 0:
            return 1.0
        if self._diverges(k):
            return np.inf
        if self._use_panels:  # the total of the panel sums and their two anchors
            return self._cached(("moment", k), lambda: self._panels(k)[4] / self.mass)
        return self._cached(("moment", k), lambda: self._raw(
            k, np.array([0.0]), np.array([np.inf]), "moment")[0] / self.mass)

    def _diverges(self, k: float) -> bool:
        """True where ``E[X**k | bucket]`` is infinite.

        * An unbounded bucket: where the size law's moment diverges
          (``E[X**k; Y > low] >= E[X**k; X > low / z] P(Z > z)`` for all ``z``; where it
          does not, the bucket's is at most ``E[X**k] / P(bucket)``).
        * A bounded bucket, or a point ``Y = y``: the weight of a size ``x``,
          ``P(low < x Z <= high)`` (or ``g(y / x) / x``), is of exact order ``x**-beta`` as
          ``x -> inf``, with ``beta`` the noise factor's power at 0
          (:attr:`~qtheory.predictions.PredictionModel.noise_power_at_zero`), so the moment
          diverges exactly where ``E[X**(k - beta)]`` does. With ``beta`` unknown (a user
          noise density) the answer is False and the quadrature warns where it does not
          converge; with ``beta = inf`` (noise bounded away from 0, log-normal noise) the
          weight vanishes faster than any power.

        Example: Pareto(1.5) sizes, exponential noise (``beta = 1``), ``Y <= 0.5``: the
        moments of order below 2.5 are finite, those from 2.5 on infinite (before, orders
        2.5 and 3 came out as 568 and 2.5e42, each with a QuadratureWarning)."""
        size = self.size
        if not np.isfinite(self.high):
            return not np.isfinite(size.moment(k))
        beta = getattr(self.prediction, "noise_power_at_zero", None)
        if beta is None or not np.isfinite(beta) or not k > beta:
            return False
        return not np.isfinite(size.moment(k - beta))

    def partial_moment(self, k: float, x: ArrayLike):
        """``E[X**k; X <= x | low < Y <= high]``, vectorised over ``x``.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Weibull(0.5), qt.LognormalPrediction(0.7), 0.5, 2.0)
        >>> x = np.array([0.5, 1.0, 4.0])
        >>> bool(np.allclose(law.partial_moment(1, x) + law.tail_moment(1, x), law.mean,
        ...                  rtol=1e-13, atol=0))
        True
        """
        return self._moments(k, x, tail=False)

    def tail_moment(self, k: float, x: ArrayLike):
        """``E[X**k; X > x | low < Y <= high]``, vectorised over ``x``, computed directly."""
        return self._moments(k, x, tail=True)

    @property
    def support(self) -> tuple[float, float]:
        """``(lower, upper)``: the size law's support, narrowed to
        ``[low / z_max, high / z_min]`` for a noise factor in ``[z_min, z_max]``."""
        return (self._lo, self._hi)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """The size law's breakpoints and the kinks ``low / z_b``, ``high / z_b`` of ``w`` (at
        the noise law's breakpoints and finite support ends ``z_b``), with the finite ends of
        the support."""
        pts = {float(b) for b in self.size.breakpoints}
        zs = set(self.prediction.noise_breakpoints)
        zs |= {z for z in (self._zlo, self._zhi) if 0 < z < np.inf}
        for z in zs:
            if z > 0:
                pts.add(self.low / z)
                pts.add(self.high / z)
        pts |= {self._lo, self._hi}
        return tuple(sorted(b for b in pts
                            if 0 < b < np.inf and self._lo <= b <= self._hi))

    @property
    def scale(self) -> float:
        """The median (cached): a 31-section search on the cdf, 31 points a call."""
        cached = self.__dict__.get("_median_cache")
        if cached is not None:
            return cached
        value = self._median_by_sections(self._lo, self._hi,
                                         max(2.0 * self._lo, self._med, 1e-300))
        self.__dict__["_median_cache"] = value
        return value

    def sample(self, n: int, rng: int | np.random.Generator) -> np.ndarray:
        """``n`` exact draws by rejection from the joint law: draw ``X`` and ``Z``, keep the
        pairs with ``low < X Z <= high``. The acceptance rate is :attr:`mass`, so about
        ``n / mass`` pairs are drawn (in vectorised batches).

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionBucket(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5),
        ...                        1.0, 2.0)
        >>> x = law.sample(1000, rng=1)
        >>> bool(x.min() >= law.support[0] and x.max() <= law.support[1])
        True
        """
        n = check_count(n)
        gen = as_generator(rng)
        out = []
        got = 0
        while got < n:
            m = int(min(1.1 * (n - got) / self.mass + 64, 1 << 22))
            x = np.asarray(self.size.sample(m, gen), dtype=float)
            y = x * np.asarray(self.prediction.noise_sample(m, gen), dtype=float)
            keep = x[(y > self.low) & (y <= self.high)]
            out.append(keep[: n - got])
            got += out[-1].size
        return np.concatenate(out) if out else np.zeros(0)

    # ------------------------------------------------------------------ mpmath
    def _mp_w(self, x):
        p = self.prediction
        if x <= 0:
            return 1 if self.low == 0 else 0
        gh = 1 if not np.isfinite(self.high) else p.noise_mp_cdf(self.high / x)
        gl = 0 if self.low == 0 else p.noise_mp_cdf(self.low / x)
        return gh - gl

    def _mp_edges(self, a, b):
        from mpmath import mp

        inner = sorted({float(v) for v in (*self.breakpoints, self.low, self.high, self._med)
                        if a < v < b and np.isfinite(v)})
        ends = [mp.mpf(a), *[mp.mpf(v) for v in inner]]
        ends.append(mp.inf if not np.isfinite(b) else mp.mpf(b))
        return ends

    def _mp_mass(self):
        from mpmath import mp

        key = mp.prec
        cache = self.__dict__.setdefault("_mp_mass_cache", {})
        if key not in cache:
            with mp.extraprec(30):
                cache[key] = mp.quad(lambda t: self.size.mp_pdf(t) * self._mp_w(t),
                                     self._mp_edges(self._lo, self._hi))
        return cache[key]

    def mp_pdf(self, x):
        """Density at an mpmath number: ``size.mp_pdf(x) w(x) / p``, with ``w`` from the noise
        law's ``noise_mp_cdf`` (at 30 extra bits) and ``p`` by :func:`mpmath.quad`."""
        from mpmath import mp

        x = mp.mpf(x)
        if not (self._lo <= x <= self._hi):
            return mp.zero
        with mp.extraprec(30):
            w = self._mp_w(x)
            v = self.size.mp_pdf(x) * w if w != 0 else mp.zero
        return +(v / self._mp_mass())

    def mp_cdf(self, x):
        """cdf at an mpmath number, by :func:`mpmath.quad` of :meth:`mp_pdf` (split at the
        breakpoints)."""
        from mpmath import mp

        x = mp.mpf(x)
        if x <= self._lo:
            return mp.zero
        if x >= self._hi:
            return mp.one
        return mp.quad(self.mp_pdf, self._mp_edges(self._lo, float(x))[:-1] + [x])

    def mp_sf(self, x):
        """sf at an mpmath number, by :func:`mpmath.quad` of :meth:`mp_pdf` on ``(x, hi)``."""
        from mpmath import mp

        x = mp.mpf(x)
        if x <= self._lo:
            return mp.one
        if x >= self._hi:
            return mp.zero
        return mp.quad(self.mp_pdf, [x, *self._mp_edges(float(x), self._hi)[1:]])

    def _params(self) -> dict:
        return {"size": self.size, "prediction": self.prediction, "low": self.low,
                "high": self.high}


def _gl_orders_of(g, ks, a, b, n):
    """``PredictionBucket._gl_orders`` of the orders ``ks`` (0, 1, 2) for the panels
    ``[a, b]`` of the laws ``n`` (rows: the compiled sums, as for one law)."""
    half = 0.5 * (b - a)
    t = _gl_nodes(a, b, half)
    with np.errstate(all="ignore"):
        gv = g(t, n)
        orders = np.array([int(k) for k in ks], dtype=np.int64)
        val, noise = _gl_sums(half, t, gv, _GL_W, orders, _FLOOR, 4.0 * _EPS)
    return [(val[i], noise[i]) for i in range(orders.size)]


def _build_edges(todo, g, trim: float = 0.0) -> None:
    """``PredictionBucket._edges`` of the laws ``todo`` together, into each law's caches
    (with the panel sums of ``_panels``, orders 0, 1, 2), ``g(t, n)`` the integrand ``f w``
    of law ``n`` at the points ``t`` (rows): each law's initial panels, then the halving
    rounds on all laws' panels at once (a panel is kept as its halves where the 16-point
    rule on it and on them agree to ``1e-14`` or to the rounding of ``f w``), runs of
    panels where ``f w`` underflows to 0 joined (:func:`_merge_zero`), the steep ends cut
    and the ends graded. One law's :meth:`PredictionBucket._edges` is this with
    itself alone; :func:`qtheory.distributions._point_family.build_tables` takes many point
    posteriors' at once (the same panels, bit for bit).

    A panel at a finite end of the support (``lo`` or ``hi``, where the panels reach it)
    across which ``f w`` varies by a factor ``q`` above 4 is cut at ``end -+ W 2**-i``
    (``W`` its width, ``i = 1 .. m``, ``m`` such that ``log q / 2**m`` is below ``log 4``):
    next to the end the tables fit ``C / d**p``
    (:func:`~qtheory.distributions._panelcheb.fit_power_panels`), which needs ``C`` to vary
    by less than a factor 5 on the panel. A posterior of Weibull 2 sizes given the
    prediction 3 under uniform noise 0.5 (support ``[2, 6]``, ``f w`` falling by ``e**14``
    across its last panel ``[4.67, 6]``) had no table there, and each of its points took the
    exact path (a fifth of the node laws' level integrals of Gittins on the posterior).

    With ``trim`` (0: none), the runs of panels at either end whose integrals of every order
    0, 1, 2 sum to at most ``trim`` of that order's total are left to the exact path
    (:func:`_trimmed`)."""
    a_l, b_l, n_l = [], [], []
    for n, law in enumerate(todo):
        if "_edge_cache" in law.__dict__:
            continue
        t_min, t_max = law._tmin, law._tmax
        med = law._med if (law._med > 0 and np.isfinite(law._med)) else 1.0
        top = max(_PANEL_UP, int(np.ceil(np.log2(t_max / med))) if np.isfinite(t_max) else 0)
        # (from below t_min where that is below the usual range: _point_family.build_tables)
        down = max(_PANEL_DOWN, int(np.ceil(-np.log2(t_min / med))) if t_min > 0 else 0)
        grid = med * 2.0 ** np.arange(-down, top + 1)
        extra = [t_min, t_max, *[v for v in (law.low, law.high) if v > 0], *law.breakpoints]
        e = np.unique(np.clip(np.concatenate([grid, np.array(extra, dtype=float)]),
                              t_min, t_max))
        a_l.append(e[:-1])
        b_l.append(e[1:])
        n_l.append(np.full(e.size - 1, n, dtype=np.int64))
    if not a_l:
        return
    a, b, nn = np.concatenate(a_l), np.concatenate(b_l), np.concatenate(n_l)
    keep_a, keep_b, keep_n, keep_z = [], [], [], []
    worst = np.zeros(len(todo))
    orders = (0.0, 2.0)
    wholes = _gl_orders_of(g, orders, a, b, nn)
    for rnd in range(_PANEL_ROUNDS):
        m = 0.5 * (a + b)
        ok = np.ones(a.shape, dtype=bool)
        gap = np.zeros(a.shape)
        lefts, rights = _gl_orders_of(g, orders, a, m, nn), _gl_orders_of(g, orders, m, b, nn)
        for (whole, noise), (left, n1), (right, n2) in zip(wholes, lefts, rights):
            halves = left + right
            diff = np.abs(whole - halves)
            ok &= (diff <= _PANEL_RTOL * halves + noise + n1 + n2) | ~(halves > _FLOOR)
            with np.errstate(all="ignore"):
                gap = np.maximum(gap, np.where(halves > _FLOOR, diff / halves, 0.0))
        if rnd == 0 and trim > 0:
            # (the panels far out in the runs at either end of a law that hold at most
            # 1e-3 trim of its total, by the larger of the rule on them and on their
            # halves, are taken as they are: _trimmed leaves them out, and their halvings
            # were most of the rounds; _negligible_ends)
            ok |= _negligible_ends(a, nn, [np.maximum(w[0], lf[0] + rt[0]) for w, lf, rt
                                           in zip(wholes, lefts, rights)], 1e-3 * trim)
        forced = ~ok & (~(b - a > 1e-7 * b) | (rnd == _PANEL_ROUNDS - 1))
        if np.any(forced):
            gf = np.where(np.isfinite(gap), gap, np.inf)
            np.maximum.at(worst, nn[forced], gf[forced])
        ok |= forced
        keep_a += [a[ok], m[ok]]
        keep_b += [m[ok], b[ok]]
        keep_n += [nn[ok], nn[ok]]
        # (halves where f w is 0 at all 16 nodes of both orders' rules: underflow)
        keep_z += [(lefts[0][0] == 0.0)[ok] & (lefts[1][0] == 0.0)[ok],
                   (rights[0][0] == 0.0)[ok] & (rights[1][0] == 0.0)[ok]]
        if np.all(ok):
            break
        a, b = np.concatenate([a[~ok], m[~ok]]), np.concatenate([m[~ok], b[~ok]])
        nn = np.concatenate([nn[~ok], nn[~ok]])
        wholes = [tuple(np.concatenate([x[~ok], y[~ok]]) for x, y in zip(lw, rw))
                  for lw, rw in zip(lefts, rights)]
    ka, kb, kn = np.concatenate(keep_a), np.concatenate(keep_b), np.concatenate(keep_n)
    kz = np.concatenate(keep_z)
    per = {}
    for n in np.unique(kn):
        law = todo[n]
        if worst[n] > _WARN_RTOL:
            warnings.warn(f"{type(law).__name__}: the panels of the size integrals did not "
                          f"converge (relative disagreement up to {worst[n]:.2e}); the "
                          f"density may be singular inside the support", QuadratureWarning,
                          stacklevel=3)
        sel = kn == n
        aa = ka[sel]
        order = np.argsort(aa, kind="stable")
        lo_end = law._lo if law._tmin == law._lo > 0 else None
        hi_end = law._hi if law._tmax == law._hi < np.inf else None
        per[n] = [*_merge_zero(aa[order], kb[sel][order], kz[sel][order]), lo_end, hi_end]
    # the steep ends (docstring): the lower ends, then the upper ones
    for which, sign in ((2, 1.0), (3, -1.0)):
        cand, pts = [], []
        for n, (aa, bb, lo_end, hi_end) in per.items():
            end = lo_end if which == 2 else hi_end
            if end is None or not aa.size:
                continue
            j = 0 if sign > 0 else aa.size - 1
            if (aa[j] if sign > 0 else bb[j]) != end:
                continue
            w = bb[j] - aa[j]
            cand.append((n, j, end, w))
            pts.append([end + sign * 1e-9 * w, end + sign * w])
        if not cand:
            continue
        gv = g(np.array(pts), np.array([c[0] for c in cand]))
        for (n, j, end, w), gg in zip(cand, gv):
            if not (np.all(np.isfinite(gg)) and np.all(gg > 0)):
                continue
            ratio = float(np.max(gg) / np.min(gg))
            if ratio <= 4.0:
                continue
            aa, bb = per[n][0], per[n][1]
            mm = min(int(np.ceil(np.log2(np.log(ratio) / np.log(4.0)))) + 1, 40)
            cuts = end + sign * w * 2.0 ** -np.arange(1, mm + 1, dtype=float)
            p_ = np.sort(np.concatenate([[aa[j], bb[j]], cuts]))
            aa = np.concatenate([np.delete(aa, j), p_[:-1]])
            bb = np.concatenate([np.delete(bb, j), p_[1:]])
            order = np.argsort(aa, kind="stable")
            per[n][0], per[n][1] = aa[order], bb[order]
    for n, (aa, bb, lo_end, hi_end) in per.items():
        todo[n].__dict__["_edge_cache"] = _graded(aa, bb, lo_end, hi_end)
    # the panel sums of the orders 0, 1, 2 (PredictionBucket._panels, on one evaluation)
    ns = list(per)
    A = np.concatenate([todo[n].__dict__["_edge_cache"][0] for n in ns])
    B = np.concatenate([todo[n].__dict__["_edge_cache"][1] for n in ns])
    cnt = [todo[n].__dict__["_edge_cache"][0].size for n in ns]
    N = np.repeat(np.array(ns, dtype=np.int64), cnt)
    vals = _gl_orders_of(g, (0.0, 1.0, 2.0), A, B, N)
    off = np.concatenate([[0], np.cumsum(cnt)])
    for i, n in enumerate(ns):
        sl = slice(off[i], off[i + 1])
        sums = [vals[c][0][sl] for c in range(3)]
        if trim > 0:
            sums = _trimmed(todo[n], sums, trim)
        todo[n].__dict__.setdefault("_panel_sums", {}).update(
            {k: sums[c] for c, k in enumerate((0.0, 1.0, 2.0))})


def _negligible_ends(a: np.ndarray, nn: np.ndarray, est, frac: float,
                     within: float = 1e-16) -> np.ndarray:
    """Mask of the panels (starts ``a``, laws ``nn``) far out in the runs at either end of
    their law whose estimates ``est`` (one array an order) add up, from that end, to at
    most ``frac`` of the law's total of that order, for every order: those whose sums from
    that end are also at most ``within`` of the run's. (What a trimmed end leaves out joins
    its anchor, and next to the end a value is about the anchor: the panels that hold the
    anchor's leading digits are refined as any. Taken with the whole run, the anchor under
    exponential noise given 20 was 6e-9 off, and P(X > 79.5), 1e-33, 5.7e-13.)

    Examples
    --------
    >>> a, nn = np.arange(6.0), np.zeros(6, dtype=np.int64)
    >>> est = [np.array([1e-60, 1e-35, 1.0, 2.0, 1e-33, 1e-55])]
    >>> _negligible_ends(a, nn, est, 1e-30).tolist()
    [True, False, False, False, False, True]
    """
    out = np.zeros(a.size, dtype=bool)
    order = np.lexsort((a, nn))
    _, start = np.unique(nn[order], return_index=True)
    stop = np.append(start[1:], order.size)
    for i0, i1 in zip(start.tolist(), stop.tolist()):
        rows = order[i0:i1]
        low = np.ones(rows.size, dtype=bool)
        high = np.ones(rows.size, dtype=bool)
        for e in est:
            v = np.where(np.isfinite(e[rows]), e[rows], np.inf)
            tot = float(np.sum(v))
            if not (np.isfinite(tot) and tot > 0):
                low[:] = high[:] = False
                break
            up, down = np.cumsum(v), np.cumsum(v[::-1])[::-1]
            run_lo, run_hi = up <= frac * tot, down <= frac * tot
            r_lo = float(up[run_lo][-1]) if run_lo.any() else 0.0
            r_hi = float(down[run_hi][0]) if run_hi.any() else 0.0
            low &= run_lo & (up <= within * r_lo)
            high &= run_hi & (down <= within * r_hi)
        out[rows] = low | high
    return out


def _trimmed(law, sums, trim: float):
    """The panel sums ``sums`` (orders 0, 1, 2) of ``law`` without the runs of panels at
    either end whose sums of every order add up to at most ``trim`` of that order's total:
    the law's ``t_min`` and ``t_max`` move to the panels kept, what the panels left out held
    joins the anchors (``_anchors``: ``E[X**k; X <= t_min]`` and ``E[X**k; X > t_max]``,
    exact sums of their 16-point rules), and a point there takes the exact path. Its
    values are the same functions; only where the tables reach changes.

    A point posterior's panels run from ``2**-40`` to ``2**50`` of the size law's median, and
    those where its density is below ``1e-30`` of its peak, split until each panel's rule
    agrees with its halves' to ``1e-14``, are most of them (under exponential noise, 110 of
    146 a law). Gittins on the posterior asks its node laws little there: its grids stop
    where the tails are below ``1e-17`` (:func:`qtheory.analysis.posterior_rwork._grid`),
    and what it does ask is mostly a tail below the lower end or a partial moment above the
    upper one, the whole moment to rounding where all that lies beyond is below ``2**-60``
    of it (``_neg_lo``, ``_neg_hi``: no quadrature).
    Only a point posterior (:func:`~qtheory.distributions._point_family.build_tables`, its
    anchors computed with the others') whose moments of the orders 0, 1, 2 are finite is
    trimmed."""
    fin = [np.where(np.isfinite(v), v, np.nan) for v in sums]
    if any(np.isnan(v).any() for v in fin) or law._flat_below() is not None \
            or any(law._diverges(k) for k in (0.0, 1.0, 2.0)):
        return sums
    anchors = law.__dict__.setdefault("_anchors", {})
    a, b = law.__dict__["_edge_cache"]
    n = a.size
    tot = [float(np.sum(v)) for v in fin]
    low = np.ones(n, dtype=bool)
    high = np.ones(n, dtype=bool)
    for v, t in zip(fin, tot):
        low &= np.cumsum(v) <= trim * t
        high &= np.cumsum(v[::-1])[::-1] <= trim * t
    i0 = int(np.argmin(low)) if not low.all() else n  # the first panel kept
    i1 = n - int(np.argmin(high[::-1])) if not high.all() else 0  # one past the last
    if i1 - i0 < 2 or (i0 == 0 and i1 == n):
        return sums
    # (an anchor build_tables did not compute, _point_family._anchors, is 0: nothing lies
    # beyond that end)
    for c, k in enumerate((0.0, 1.0, 2.0)):
        if i0 > 0:
            anchors[(k, "lo")] = float(anchors.get((k, "lo"), 0.0) + np.sum(fin[c][:i0]))
        if i1 < n:
            anchors[(k, "hi")] = float(anchors.get((k, "hi"), 0.0) + np.sum(fin[c][i1:]))
    law._tmin, law._tmax = float(a[i0]), float(b[i1 - 1])
    # (below the lower end the tail moment, above the upper end the partial one, is the
    # whole moment to rounding where all that lies beyond, the anchor with what was
    # there before, is below 2**-60 of it: at an end trimmed, and at one not trimmed whose
    # anchor is that small too; until the 32nd session only at a trimmed end, and under
    # exponential noise 38 node laws whose lower ends were not trimmed took a quadrature
    # over the noise at each age below them, 0.07 s of the level integrals)
    small = trim <= 2.0**-60
    law._neg_lo = small and all(
        anchors.get((k, "lo"), 0.0) <= trim * t for k, t in zip((0.0, 1.0, 2.0), tot))
    law._neg_hi = small and all(
        anchors.get((k, "hi"), 0.0) <= trim * t for k, t in zip((0.0, 1.0, 2.0), tot))
    law.__dict__["_edge_cache"] = (a[i0:i1], b[i0:i1])
    return [v[i0:i1] for v in sums]


def _merge_zero(a: np.ndarray, b: np.ndarray, zero: np.ndarray):
    """The sorted panels ``[a_j, b_j)`` with each run of consecutive ones where ``zero``
    (``f w`` underflows to 0 at all their rules' nodes), but for those next to a panel
    where it does not, joined into one panel.

    A point posterior under lognormal or exponential noise has panels from ``2**-40`` to
    ``2**50`` of the median, two an octave at least, and its density underflows over most
    of them (Weibull 2 sizes, lognormal noise 0.5: 164 of a law's 250 panels); their tables
    cost as much as the others' (208 evaluations of the density a panel), and they are
    constant there.

    Examples
    --------
    >>> a, b = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    >>> z = np.array([True, True, True, False])
    >>> [v.tolist() for v in _merge_zero(a, b, z)]
    [[0.0, 2.0, 3.0], [2.0, 3.0, 4.0]]
    """
    if a.size < 2:
        return a, b
    # (but the panels next to one where f w is not 0: their tables' ends touch it, and
    # their density fits would spread its subnormal values over the joined panel)
    inner = zero.copy()
    inner[1:] &= zero[:-1]
    inner[:-1] &= zero[1:]
    zero = inner
    if not (zero[1:] & zero[:-1]).any():
        return a, b
    start = np.ones(a.size, dtype=bool)
    start[1:] = ~(zero[1:] & zero[:-1])
    first = np.flatnonzero(start)
    last = np.concatenate([first[1:] - 1, [a.size - 1]])
    return a[first], b[last]


def _build_tables(todo, g, orders=(0.0, 1.0, 2.0), density: bool = False) -> None:
    """The Chebyshev tables of the laws ``todo`` together, into each law's caches
    (``g(t, n)`` the integrand ``f w`` of law ``n`` at the points ``t``, rows): for each
    order of ``orders`` both sides of ``PredictionBucket._cheb_table`` (gap sums at the
    Lobatto points of every panel of every law, compiled for the orders 0, 1, 2, then the
    fits; end panels where the value reaches 0 refitted as ``C / d**p`` from their values
    as :meth:`PredictionBucket._panel_values` gives them, all tables' in one fit), and with
    ``density`` the table of ``f w`` itself (``_density_table``; ``C / d**p`` where the
    density's window closes at an end of the support). One law's tables are this with
    itself alone; :func:`qtheory.distributions._point_family.build_tables` takes many point
    posteriors' at once (the same tables, bit for bit)."""
    from ._panelcheb import N_CHEB, first_kind_points, fit_panels, fit_power_panels, panel_points

    edges = [law._edges() for law in todo]
    npan = np.array([e[0].size for e in edges])
    off = np.concatenate([[0], np.cumsum(npan)])
    A = np.concatenate([e[0] for e in edges])
    B = np.concatenate([e[1] for e in edges])
    law_of = np.repeat(np.arange(len(todo)), npan)  # each panel's law
    x = panel_points(A, B)
    tabs = {}
    if orders:
        sums = [{k: law._panels(k) for k in orders} for law in todo]
        u, v = x[:, :-1].ravel(), x[:, 1:].ravel()
        half = 0.5 * (v - u)
        t = (u + half)[:, None] + half[:, None] * _GL8_X
        gv = g(t.reshape(A.size, N_CHEB - 1, -1), law_of).reshape(t.shape)
        zero = np.zeros((A.size, 1))
        for order in orders:
            if order in (0.0, 1.0, 2.0):  # compiled, the same sums (_gap_sums)
                up, down = _gap_sums(half, t, gv, _GL8_W, int(order), N_CHEB - 1)
            else:
                with np.errstate(all="ignore"):
                    gap = half * np.sum(_GL8_W * (t**order * gv), axis=1)
                gap = gap.reshape(A.size, N_CHEB - 1)
                up = np.concatenate([zero, np.cumsum(gap, axis=1)], axis=1)
                down = np.concatenate([np.cumsum(gap[:, ::-1], axis=1)[:, ::-1], zero],
                                      axis=1)
            for side, vals, j in ((False, up, 2), (True, down, 3)):
                anchors = np.concatenate([s_[order][j][:n] for s_, n in zip(sums, npan)])
                tabs[(order, side)] = list(fit_panels(vals, anchors))
        # end panels where the value reaches 0 (a partial moment at the lower end, a tail
        # at the upper end): their values at the first-kind points as _panel_values takes
        # them (the panel sums beyond the point's panel plus the 16-point rule on the
        # piece), then C / d**p, all tables' in one fit
        rows_all, vals_all, left_all, keys_all = [], [], [], []
        for key in sorted(tabs):
            _, mode, anchor = tabs[key]
            rows = np.nonzero((mode == 0) & (anchor == 0.0))[0]
            if not rows.size:
                continue
            order, side = key
            xf = first_kind_points(A[rows], B[rows])
            xi = xf.ravel()
            # each point's panel as _panel_values finds it, its own (the points lie inside
            # it, but for rounding: those are searched in their law's panels)
            jj = np.repeat(rows, xf.shape[1])
            pn = law_of[jj]
            for i in np.nonzero((xi < A[jj]) | (xi >= B[jj]))[0]:
                a_n = edges[pn[i]][0]
                jj[i] = off[pn[i]] + min(max(int(np.searchsorted(a_n, xi[i], side="right"))
                                             - 1, 0), a_n.size - 1)
            uu, vv = (xi, B[jj]) if side else (A[jj], xi)
            hh = 0.5 * (vv - uu)
            tt = _gl_nodes(uu, vv, hh)
            gg = g(tt, pn)
            with np.errstate(all="ignore"):
                piece = hh * np.sum(_GL_W * (gg if order == 0 else tt**order * gg), axis=1)
            anchors = np.concatenate([s_[order][3 if side else 2][:n]
                                      for s_, n in zip(sums, npan)])
            rows_all.append(rows)
            vals_all.append((piece + anchors[jj]).reshape(xf.shape))
            left_all.append(np.full(rows.size, not side))
            keys_all.append(key)
        if rows_all:
            rr = np.concatenate(rows_all)
            c, m, p = fit_power_panels(np.concatenate(vals_all), A[rr], B[rr],
                                       np.concatenate(left_all))
            at = 0
            for key, rows in zip(keys_all, rows_all):
                sl = slice(at, at + rows.size)
                at += rows.size
                ok = m[sl] > 0
                coef, mode, anchor = tabs[key]
                coef, mode, anchor = coef.copy(), mode.copy(), np.array(anchor, dtype=float)
                coef[rows[ok]], mode[rows[ok]], anchor[rows[ok]] = (c[sl][ok], m[sl][ok],
                                                                    p[sl][ok])
                tabs[key] = [coef, mode, anchor]
    if density:
        gd = g(x, law_of)
        coef, mode, anchor = fit_panels(gd, np.zeros(A.size))
        # a density whose window closes at an end of the support (0 there, not inside)
        left, right = gd[:, 0] == 0.0, gd[:, -1] == 0.0
        ends = (mode == 0) & (left != right) & np.all(gd[:, 1:-1] > 0, axis=1)
        if ends.any():
            idx = np.nonzero(ends)[0]
            xf = first_kind_points(A[idx], B[idx])
            c, m, p = fit_power_panels(g(xf, law_of[idx]), A[idx], B[idx], left[idx])
            ok = m > 0
            coef, mode, anchor = coef.copy(), mode.copy(), np.array(anchor, dtype=float)
            coef[idx[ok]], mode[idx[ok]], anchor[idx[ok]] = c[ok], m[ok], p[ok]
        tabs["pdf"] = [coef, mode, anchor]
    for n, law in enumerate(todo):
        sl = slice(off[n], off[n + 1])
        a, b = edges[n]
        cache = law.__dict__.setdefault("_cheb_cache", {})
        for key, (coef, mode, anchor) in tabs.items():
            entry = (a, b, coef[sl], mode[sl], anchor[sl])
            if key == "pdf":
                law.__dict__["_density_cache"] = entry
            else:
                cache[key] = entry
