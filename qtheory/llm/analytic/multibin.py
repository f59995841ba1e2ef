"""Capacity of multi-bin static batching (Guldogan, Kunde, Lee & Pedarsani, arXiv:2412.04504).

Static batches of ``B`` requests run until their longest member finishes: a batch
lasts ``max(S_1, ..., S_B)``. Multi-bin batching sorts arriving requests into ``k``
bins by their *predicted* service time, with bin edges at the quantiles ``1/k,
..., (k-1)/k`` of the prediction (equal probability mass), and forms each batch
within one bin. Under saturation every bin yields batches in proportion to its
mass, so the mean batch time is the average over the bins of ``E[max of B service
times drawn from bin i]`` and the capacity (the largest sustainable request rate)
is ``B`` divided by it. One bin is plain static batching; more bins group similar
requests and the capacity grows toward ``B / E[S]`` with exact predictions.

Numbering of arXiv:2412.04504v1 as cited by secondary sources (a reading note of the
paper and a reimplementation; the paper text itself could not be checked here): model
assumptions 3.1-3.2 (Sec. 3); throughput ``B / E[t_service]`` and its growth in ``k``,
Proposition 4.1 and Theorem 4.2 (Sec. 4); equal-mass bins optimal, Lemma 4.1; the limit
``2B / (l_min + l_max)`` for uniform service, Remark 4.3; ``E[max]`` of ``B`` uniform
draws on a bin, Appendix A.1, Eq. (8).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from ..._warnings import QuadratureWarning
from ...distributions import Discrete, SizeDistribution, Uniform
from ...predictions import ExactPrediction, PredictionModel
from ..tokens import TokenLaw

__all__ = ["MultibinCapacity", "multibin_capacity"]


@dataclass(frozen=True)
class MultibinCapacity:
    """Result of :func:`multibin_capacity` (times in the unit of the service law).

    Attributes
    ----------
    capacity : float
        ``B / mean_batch_time``: requests per unit time at saturation (0 when the
        service law has an infinite mean).
    mean_batch_time : float
        ``(1/k) sum_i E[max of B service times from bin i]``.
    bin_batch_times : tuple of float
        ``E[max of B]`` for each bin, shortest predictions first (``nan`` where not
        computed: bins of a noisy prediction when the service mean is infinite).
    bin_edges : tuple of float
        The ``k - 1`` bin edges on the prediction (with exact predictions, the
        quantiles of the service law); empty where not computed (noisy predictions
        of a law with an infinite mean).
    batch_size : int
        ``B``.
    bins : int
        ``k``.
    capacity_bound : float
        ``B / E[S]``: no binning exceeds it; the limit ``k -> inf`` with exact
        predictions.
    error : float
        Estimated absolute error of ``mean_batch_time`` (0 for closed forms).
    method : str
        ``"closed form"`` (uniform service, exact predictions), ``"exact sum"``
        (laws with atoms), ``"quadrature"`` (continuous law, exact predictions) or
        ``"tanh-sinh grid"`` (continuous law, noisy predictions).
    """

    capacity: float
    mean_batch_time: float
    bin_batch_times: tuple
    bin_edges: tuple
    batch_size: int
    bins: int
    capacity_bound: float
    error: float
    method: str


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _as_law(service) -> SizeDistribution:
    if isinstance(service, TokenLaw):
        return Discrete(service.values.astype(float), service.probs)
    if not isinstance(service, SizeDistribution):
        raise TypeError("service must be a qtheory size distribution or a TokenLaw, "
                        f"got {service!r}")
    return service


def _max_from_tail(S, B: int):
    """``1 - (1 - S)**B`` without cancellation, ``S`` in [0, 1]."""
    S = np.clip(S, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return -np.expm1(B * np.log1p(-S))


# --- exact predictions ------------------------------------------------------------------
def _exact_uniform(law: Uniform, B: int, k: int):
    a, b = law.support
    width = (b - a) / k
    lows = a + width * np.arange(k)
    # E[max of B iid U(lo, lo + w)] = lo + w B / (B + 1)
    edges = tuple(float(e) for e in a + width * np.arange(1, k))
    return lows + width * B / (B + 1.0), edges, 0.0


def _exact_discrete(law: SizeDistribution, B: int, k: int):
    v, p = law.atoms
    tail = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])   # P(X > v_m)
    i = np.arange(1, k + 1)[:, None]
    # ties are split at random, so bin i holds the ranks ((i-1)/k, i/k]:
    # P(X > x | bin i) = clip(k P(X > x) - (k - i), 0, 1)
    h = _max_from_tail(k * tail[None, :] - (k - i), B)             # on [v_m, v_{m+1})
    times = v[0] + (h[:, :-1] * np.diff(v)[None, :]).sum(axis=1)
    c = np.cumsum(p)
    edges = tuple(float(v[min(int(np.searchsorted(c, j / k - 1e-15)), v.size - 1)])
                  for j in range(1, k))
    return times, edges, 0.0


def _quantile(law: SizeDistribution, u: float) -> float:
    lo, hi = law.support
    if u <= 0.5:
        def f(x):
            return float(law.cdf(x)) - u
    else:
        def f(x):
            return (1.0 - u) - float(law.sf(x))
    if not np.isfinite(hi):
        hi = max(2.0 * lo, float(law.scale), 1.0)
        while f(hi) < 0:
            hi *= 2.0
    return float(optimize.brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                                 maxiter=500))


def _integrate(fn, a: float, b: float, points) -> tuple[float, float]:
    pts = [a, *sorted(p for p in points if a < p < b)]
    if np.isfinite(b):
        pts.append(b)
    total = err = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for x0, x1 in zip(pts[:-1], pts[1:]):
            val, e = integrate.quad(fn, x0, x1, epsabs=0.0, epsrel=1e-13, limit=200)
            total, err = total + val, err + e
        if not np.isfinite(b):
            val, e = integrate.quad(fn, pts[-1], np.inf, epsabs=0.0, epsrel=1e-13,
                                    limit=200)
            total, err = total + val, err + e
    return total, err


def _exact_continuous(law: SizeDistribution, B: int, k: int):
    lo, hi = law.support
    edges = [_quantile(law, j / k) for j in range(1, k)]
    q = [lo, *edges, hi]
    times, err = np.empty(k), 0.0
    bps = tuple(law.breakpoints)
    for i in range(1, k + 1):
        def h(x, i=i):
            return float(_max_from_tail(k * float(law.sf(x)) - (k - i), B))

        if i == k and not np.isfinite(law.mean):
            times[i - 1] = math.inf
            continue
        val, e = _integrate(h, q[i - 1], q[i], bps)
        times[i - 1], err = q[i - 1] + val, err + e / k
    return times, tuple(edges), err


# --- noisy predictions -------------------------------------------------------------------
def _thresholds(cond_cdf, weights, k: int, y_scale: float) -> list[float]:
    """Prediction quantiles ``y_j`` with ``P(Y <= y_j) = j / k``, ``P(Y <= y)`` being
    the weighted sum ``sum_t weights_t P(Y <= y | X = x_t)``."""

    def mass(y):
        return float(np.dot(weights, cond_cdf(y)))

    out = []
    for j in range(1, k):
        target = j / k
        a, b = 0.0, max(y_scale, 1e-300)
        while mass(b) < target:
            a, b = b, 2.0 * b
            if b > 1e300:
                raise ValueError("prediction: could not bracket a quantile of Y")
        out.append(float(optimize.brentq(lambda y, t=target: mass(y) - t, a, b,
                                         xtol=1e-300, rtol=1e-14, maxiter=500)))
    return out


def _noisy_discrete(law: SizeDistribution, pred: PredictionModel, B: int, k: int):
    v, p = law.atoms

    def cond(y):
        return np.nan_to_num(np.asarray(pred.conditional_cdf(y, v), float), nan=1.0)

    edges = _thresholds(cond, p, k, float(np.dot(p, v)) or 1.0)
    c = np.stack([np.zeros_like(v), *[cond(y) for y in edges], np.ones_like(v)])
    pi = np.clip(np.diff(c, axis=0), 0.0, None) * p[None, :]       # P(X = v_m, bin i)
    pi /= pi.sum(axis=1, keepdims=True)
    tail = np.cumsum(pi[:, ::-1], axis=1)[:, ::-1]
    tail = np.concatenate([tail[:, 1:], np.zeros((k, 1))], axis=1)  # P(X > v_m | bin i)
    h = _max_from_tail(tail, B)
    times = v[0] + (h[:, :-1] * np.diff(v)[None, :]).sum(axis=1)
    return times, tuple(edges), 0.0


#: tanh-sinh grid on each piece of [0, 1]: ends reached within ~1e-200, 1457 nodes
_T, _STEP = 728 / 128, 1.0 / 128.0


def _grid_quantiles(law: SizeDistribution, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised quantiles ``Q(u)`` (``v = 1 - u`` given for accuracy near 1), by
    bisection in log-distance from the lower end of the support."""
    lo, hi = law.support
    if np.isfinite(hi):
        span = hi - lo
    else:
        span = max(float(law.scale), 1.0)
        while float(law.sf(lo + span)) > v.min():
            span *= 2.0
    s_lo = np.full(u.shape, math.log(span) - 745.0)
    s_hi = np.full(u.shape, math.log(span))
    lower = u <= 0.5
    for _ in range(64):
        mid = 0.5 * (s_lo + s_hi)
        x = lo + np.exp(mid)
        below = np.where(lower, np.asarray(law.cdf(x)) < u, np.asarray(law.sf(x)) > v)
        s_lo = np.where(below, mid, s_lo)
        s_hi = np.where(below, s_hi, mid)
    return lo + np.exp(0.5 * (s_lo + s_hi))


def _segments(f: np.ndarray, h: float) -> np.ndarray:
    """``int f dt`` over each interval of a uniform grid, by local cubic interpolation."""
    n = f.size
    if n < 4:
        return 0.5 * h * (f[:-1] + f[1:])
    seg = np.empty(n - 1)
    seg[1:-1] = h / 24.0 * (-f[:-3] + 13.0 * f[1:-2] + 13.0 * f[2:-1] - f[3:])
    seg[0] = h / 12.0 * (5.0 * f[0] + 8.0 * f[1] - f[2])
    seg[-1] = h / 12.0 * (5.0 * f[-1] + 8.0 * f[-2] - f[-3])
    return seg


def _grid_batch_times(pieces, B: int, stride: int) -> np.ndarray:
    """``E[max of B]`` per bin from the per-piece nodes (every ``stride``-th node).

    ``pieces`` is a list of ``(x, dudt, pi)``: quantiles, ``du/dt`` and the bin
    probabilities ``P(bin i | X = x)`` (shape ``(k, n)``) on a uniform t-grid of step
    ``_STEP``; the law of ``X`` in bin ``i`` has ``dF_i/du = pi_i / p_i``.
    """
    h = _STEP * stride
    cols = [(x[::stride], d[::stride], pi[:, ::stride]) for x, d, pi in pieces]
    segs = [np.stack([_segments(pi[i] * d, h) for i in range(pi.shape[0])])
            for x, d, pi in cols]
    piece_tot = np.stack([sg.sum(axis=1) for sg in segs], axis=1)        # (k, pieces)
    total = piece_tot.sum(axis=1)                                         # p_i
    above = np.cumsum(piece_tot[:, ::-1], axis=1)[:, ::-1] - piece_tot    # later pieces
    times = np.zeros(total.size)
    for j, ((x, d, pi), sg) in enumerate(zip(cols, segs)):
        within = np.concatenate([np.cumsum(sg[:, ::-1], axis=1)[:, ::-1],
                                 np.zeros((sg.shape[0], 1))], axis=1)
        S = np.clip((within + above[:, j:j + 1]) / total[:, None], 0.0, 1.0)
        dens = pi * d / total[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            pw = np.where(S >= 1.0, 1.0 if B == 1 else 0.0,
                          np.exp((B - 1) * np.log1p(-np.minimum(S, 1.0))))
        times += h * np.sum(x[None, :] * B * dens * pw, axis=1)
    return times


def _noisy_continuous(law: SizeDistribution, pred: PredictionModel, B: int, k: int):
    # bin edges: quantiles of Y from the package's joint-law engine
    def fy(y):
        return float(np.asarray(pred.marginal_cdf(np.array([y]), law)).ravel()[0])

    edges = []
    for j in range(1, k):
        a, b = 0.0, max(float(law.mean), 1e-300)
        while fy(b) < j / k:
            a, b = b, 2.0 * b
        edges.append(float(optimize.brentq(lambda y, j=j: fy(y) - j / k, a, b,
                                           xtol=1e-300, rtol=1e-14, maxiter=500)))
    # kinks of x -> P(bin | X = x): y_j / z at the noise law's kinks z; and the law's own
    kinks = {float(p) for p in law.breakpoints}
    if not pred.is_general:
        kinks |= {y / z for y in edges for z in pred.noise_breakpoints if 0 < z < np.inf}
    lo, hi = law.support
    ends = [(0.0, 1.0)]
    for xk in sorted(p for p in kinks if lo < p < hi):
        uk, vk = float(law.cdf(xk)), float(law.sf(xk))
        if min(uk - ends[-1][0], vk) > 1e-13:
            ends.append((uk, vk))
    ends.append((1.0, 0.0))
    t = np.linspace(-_T, _T, int(round(2 * _T / _STEP)) + 1)
    z = math.pi * np.sinh(t)
    e_up, e_dn = special.expit(z), special.expit(-z)
    pieces = []
    for (ua, _), (ub, vb) in zip(ends[:-1], ends[1:]):
        w = ub - ua
        u, v = ua + w * e_up, vb + w * e_dn
        x = _grid_quantiles(law, u, v)
        d = w * math.pi * np.cosh(t) * e_up * e_dn
        c = np.stack([np.asarray(pred.conditional_cdf(0.0, x), float),
                      *[np.asarray(pred.conditional_cdf(y, x), float) for y in edges],
                      np.ones_like(x)])
        pieces.append((x, d, np.clip(np.diff(c, axis=0), 0.0, None)))
    fine = _grid_batch_times(pieces, B, 1)
    coarse = _grid_batch_times(pieces, B, 2)
    err = float(np.mean(np.abs(fine - coarse)))
    tail = float(law.tail_moment(1, pieces[-1][0][-1]))
    return fine, tuple(edges), err + B * k * tail


def multibin_capacity(service, batch_size: int, bins: int,
                      prediction: PredictionModel | None = None) -> MultibinCapacity:
    r"""Capacity of multi-bin batching (Guldogan, Kunde, Lee & Pedarsani, arXiv:2412.04504).

    Requests with service times ``S`` (law ``service``) and predictions ``Y`` are
    sorted into ``k`` bins of equal probability by ``Y``; static batches of ``B``
    requests are formed within a bin and last as long as their longest member. With
    ``S_i`` the service time of a request of bin ``i``,

    .. math::

        C_k = \frac{B}{\frac1k \sum_{i=1}^k E[\max(S_{i,1}, \dots, S_{i,B})]},
        \qquad
        E[\max] = \int_0^\infty \bigl(1 - F_i(x)^B\bigr)\,dx,

    where ``F_i`` is the law of ``S`` given ``Y`` in bin ``i``: with exact
    predictions ``Y = S`` the bin is a quantile range of ``S`` and ``F_i(x) =
    clip(k F(x) - (i - 1), 0, 1)``; with a prediction model, ``F_i(x) = k P(S <= x,
    y_{i-1} < Y <= y_i)`` with ``y_j`` the ``j/k`` quantiles of ``Y``. For uniform
    service on ``[a, b]`` and exact predictions bin ``i`` is uniform on ``[a_i, a_i
    + (b - a)/k]`` and ``E[max] = a_i + (b - a) B / (k (B + 1))``, so

    .. math:: C_k = \frac{B}{a + (b - a)\left(\frac12 + \frac{B - 1}{2k(B + 1)}\right)}

    (Guldogan et al.'s closed form for uniform service times), increasing in ``k``
    towards ``B / E[S]``.

    Source: Guldogan et al., arXiv:2412.04504v1, Sec. 4: capacity ``B / E[t_service]``
    with ``k`` equal-mass bins, Proposition 4.1 and Theorem 4.2; equal-mass bin edges,
    Lemma 4.1; per-bin ``E[max]`` for uniform service, Appendix A.1, Eq. (8); the limit
    ``B / E[S] = 2B / (a + b)``, Remark 4.3. These numbers are as cited by secondary
    sources (a reading note of the paper and a reimplementation) and could not be
    checked against the paper text here. The paper's analysis assumes uniform service
    (Assumption 3.2; exponential service in Appendix A.4, same caveat); the numerical
    treatment of general, discrete and noisy-prediction laws here is this package's.

    Parameters
    ----------
    service : SizeDistribution or TokenLaw
        Law of the service time of one request in a batch (any law of
        :mod:`qtheory.distributions`; a :class:`~qtheory.llm.TokenLaw` is taken as
        a discrete law, e.g. output tokens at one time unit per iteration).
    batch_size : int
        ``B >= 1``, requests per batch.
    bins : int
        ``k >= 1``, number of bins.
    prediction : PredictionModel, optional
        The joint law of (S, Y) (:mod:`qtheory.predictions`); default exact.

    Returns
    -------
    MultibinCapacity

    Raises
    ------
    ValueError
        ``batch_size`` or ``bins`` not an integer ``>= 1``.
    TypeError
        ``service`` or ``prediction`` of the wrong type.

    Warns
    -----
    QuadratureWarning
        When the estimated relative error exceeds ``1e-8`` (quadrature) or ``1e-6``
        (grid).

    Notes
    -----
    *Throughput of a bin mix.* Under saturation bin ``i`` receives a fraction
    ``1/k`` of the requests and so forms a fraction ``1/k`` of the batches; the
    mean batch time is the average of the bins' ``E[max]`` and a batch carries
    ``B`` requests.

    *Monotonicity.* Splitting every bin into ``m`` equal-mass sub-bins never lowers
    the capacity: a bin's law is the equal mixture of its sub-bins' laws ``G_j`` and
    ``(mean_j G_j)^B <= mean_j G_j^B`` (Jensen), so ``C_{mk} >= C_k`` for any
    prediction model. Between ``k`` and ``k + 1`` the capacity can decrease when
    the service law has atoms (two equally likely sizes: two bins separate them,
    three bins mix them in the middle bin).

    *Noisy predictions.* As ``k -> inf`` the capacity tends to ``B / E_Y[E[max of
    B draws of S given Y]]``, below ``B / E[S]`` unless ``S`` is a function of
    ``Y``. ``Y`` is assumed to have no atoms.

    *Numerics.* Atoms: exact sums. Exact predictions: adaptive quadrature on each
    bin between its quantiles (relative error about ``1e-12``). Noisy predictions
    of a continuous law: the bin edges ``y_j`` from
    :meth:`PredictionModel.marginal_cdf`, then a tanh-sinh grid in probability
    space ``u = F(x)``, split where ``P(bin | X = x)`` has kinks (``x = y_j / z`` at
    the noise law's breakpoints ``z``), with ``E[max] = int Q(u) B F_i(u)^{B-1}
    dF_i(u)``; the error, estimated by halving the grid, is about ``1e-8``
    relative.

    Examples
    --------
    Uniform service on [1, 3], batches of 8:

    >>> import qtheory as qt
    >>> s = qt.Uniform(1.0, 3.0)
    >>> [round(multibin_capacity(s, 8, k).capacity, 6) for k in (1, 2, 4)]
    [2.88, 3.348837, 3.64557]
    >>> multibin_capacity(s, 8, 4).capacity_bound       # B / E[S]
    4.0

    With exponential predictions the gain of binning is smaller:

    >>> e = qt.Exponential(mean=1.0)
    >>> exact = multibin_capacity(e, 8, 4).capacity
    >>> noisy = multibin_capacity(e, 8, 4, qt.ExponentialPrediction()).capacity
    >>> bool(8 / 2.717857142857143 < noisy < exact)     # 1 bin: B / H_8
    True
    """
    law = _as_law(service)
    B = _count("batch_size", batch_size)
    k = _count("bins", bins)
    if prediction is None:
        prediction = ExactPrediction()
    if not isinstance(prediction, PredictionModel):
        raise TypeError(f"prediction must be a qtheory prediction model, got {prediction!r}")
    mean = float(law.mean)
    bound = B / mean if mean > 0 else math.inf
    exact = prediction.is_exact or k == 1
    tol = 1e-8
    if exact and isinstance(law, Uniform):
        times, edges, err, method = (*_exact_uniform(law, B, k), "closed form")
    elif law.is_discrete:
        fn = _exact_discrete if exact else _noisy_discrete
        times, edges, err = fn(law, B, k) if exact else fn(law, prediction, B, k)
        method = "exact sum"
    elif exact:
        times, edges, err = _exact_continuous(law, B, k)
        method = "quadrature"
    elif not np.isfinite(mean):
        times, edges, err = np.full(k, np.nan), (), math.nan
        method = "tanh-sinh grid"
    else:
        times, edges, err = _noisy_continuous(law, prediction, B, k)
        method, tol = "tanh-sinh grid", 1e-6
    times = np.asarray(times, float)
    mean_time = math.inf if not np.isfinite(mean) else float(np.mean(times))
    if np.isfinite(mean_time) and err > tol * mean_time:
        warnings.warn(f"multibin_capacity: estimated relative error {err / mean_time:.2g} "
                      f"of the mean batch time ({method})", QuadratureWarning, stacklevel=2)
    cap = B / mean_time if mean_time > 0 else math.inf
    return MultibinCapacity(
        capacity=cap, mean_batch_time=mean_time,
        bin_batch_times=tuple(float(x) for x in times), bin_edges=tuple(edges),
        batch_size=B, bins=k, capacity_bound=bound, error=float(err), method=method)
