"""Closed forms for one bit of advice (short/long), M/G/1.

M. Mitzenmacher, "Queues with Small Advice", ACDA 2021 (arXiv:2006.15463),
Section 3 (see ``shared/reference/formulas.md``). A job is short iff its
prediction Y <= T. With p_L = P(Y > T), rho_S = lambda E[X; Y <= T] and
W_0 = lambda E[X^2] / 2:

* non-preemptive, shorts first, FIFO within each class:
  E[T] = E[X] + W_0 (1 - rho + rho p_L) / ((1 - rho)(1 - rho_S));
* preemptive, newest short first, longs FIFO:
  E[T] = (E[X] (1 - rho) + p_L W_0) / ((1 - rho)(1 - rho_S));
* preemptive, FIFO within each class (Cobham's preemptive-resume priority):
  E[T] = E[X; S] + lambda E[X^2; S] p_S / (2 (1 - rho_S))
         + E[X; L] / (1 - rho_S) + p_L W_0 / ((1 - rho_S)(1 - rho)).

These are independent of the SOAP engine, which re-derives the first and the
third from the policy's rank function.

k buckets of the prediction, ``(-inf, t_1], (t_1, t_2], ..., (t_{k-1}, inf)``, lower buckets
first, first come first served within a bucket (:class:`~qtheory.policies.Buckets`), are
priority classes whose laws are those of ``X`` given the bucket, so Cobham's formulas give
their means (A. Cobham, "Priority assignment in waiting line problems", Oper. Res. 2 (1954)
70-76; the preemptive-resume form as in M. Harchol-Balter, *Performance Modeling and Design
of Computer Systems*, 2013, ch. 32), written in the partial moments ``p_j = P(bucket j)``,
``m_j = E[X; bucket j]``, ``s_j = E[X^2; bucket j]`` and ``sigma_j = lambda (m_0 + ... + m_j)``:

* non-preemptive: E[T] = E[X] + W_0 sum_j p_j / ((1 - sigma_{j-1})(1 - sigma_j));
* preemptive-resume: E[T] = sum_j [m_j / (1 - sigma_{j-1})
  + p_j lambda (s_0 + ... + s_j) / (2 (1 - sigma_{j-1})(1 - sigma_j))].

With one threshold these are the one-bit forms above (the preemptive one with first come
first served among the shorts); with none, Pollaczek-Khinchine.

Conditional response times (:func:`buckets_conditional`, :func:`one_bit_conditional`): a
job of size ``x`` in bucket ``j`` (Cobham's per-class forms, as above):

* non-preemptive: ``E[T_j(x)] = x + W_0 / ((1 - sigma_{j-1})(1 - sigma_j))``;
* preemptive-resume: ``E[T_j(x)] = x / (1 - sigma_{j-1})
  + lambda (s_0 + ... + s_j) / (2 (1 - sigma_{j-1})(1 - sigma_j))``;
* one bit, preemptive, newest short first: a short job sees only the short jobs, which
  form an M/G/1 queue served last come first served preemptive-resume, so
  ``E[T_S(x)] = x / (1 - rho_S)`` (Harchol-Balter 2013, ch. 30: ``x / (1 - rho)`` for
  LCFS-PR); a long job's response time does not depend on the order among the shorts
  ahead of it, so it is the preemptive form above with ``j = 1``:
  ``E[T_L(x)] = x / (1 - rho_S) + W_0 / ((1 - rho_S)(1 - rho))``.

Averaged over the buckets they give the means above (``tests/test_advice_conditional.py``).
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .joint import JointIntegrals

__all__ = ["one_bit_mean", "short_class", "bucket_moments", "buckets_mean",
           "buckets_conditional", "one_bit_conditional"]


def short_class(size: SizeDistribution, prediction: PredictionModel, threshold: float):
    """Return (P(short), E[X; short], E[X^2; short]) for "short iff Y <= threshold": the
    first bucket of :func:`bucket_moments`."""
    p, m, s, _ = bucket_moments(size, prediction, [float(threshold)])
    return float(p[0]), float(m[0]), float(s[0])


def one_bit_mean(size: SizeDistribution, prediction: PredictionModel, lam: float,
                 threshold: float, preemptive: bool, within: str = "lcfs") -> float:
    """Mean response time of the one-bit policy (Mitzenmacher, ACDA 2021).

    Examples
    --------
    >>> import qtheory as qt
    >>> # a threshold above every size: all jobs short, FCFS (non-preemptive)
    >>> v = one_bit_mean(qt.Uniform(low=0.0, high=1.0), qt.ExactPrediction(), 1.0, 2.0, False)
    >>> round(v, 12)  # 0.5 + (1/3)/(2*(1-0.5))
    0.833333333333
    """
    m1, m2 = size.moment(1), size.moment(2)
    rho = lam * m1
    if rho >= 1.0:
        return np.inf
    p_s, x_s, x2_s = short_class(size, prediction, threshold)
    p_l = 1.0 - p_s
    rho_s = lam * x_s
    w0 = 0.5 * lam * m2
    if not preemptive:
        return m1 + w0 * (1.0 - rho + rho * p_l) / ((1.0 - rho) * (1.0 - rho_s))
    if within == "lcfs":
        return (m1 * (1.0 - rho) + p_l * w0) / ((1.0 - rho) * (1.0 - rho_s))
    if within != "fifo":
        raise ValueError(f"within must be 'lcfs' or 'fifo', got {within!r}")
    return (x_s + 0.5 * lam * x2_s * p_s / (1.0 - rho_s) + (m1 - x_s) / (1.0 - rho_s)
            + p_l * w0 / ((1.0 - rho_s) * (1.0 - rho)))


def bucket_moments(size: SizeDistribution, prediction: PredictionModel, thresholds):
    """``(p, m, s, err)``: per bucket of the prediction (``thresholds`` strictly increasing,
    ``k + 1`` buckets) ``P(bucket)``, ``E[X; bucket]`` and ``E[X^2; bucket]``, and the
    largest absolute error estimate of the quadrature over the noise behind them (0 for
    exact predictions, whose buckets are truncations of the size law).

    Examples
    --------
    >>> import qtheory as qt
    >>> p, m, s, err = bucket_moments(qt.Exponential(mean=1.0), qt.ExactPrediction(), [1.0])
    >>> [round(float(v), 12) for v in p]   # P(X <= 1), P(X > 1)
    [0.632120558829, 0.367879441171]
    """
    t = np.asarray(thresholds, dtype=float)
    m1, m2 = float(size.moment(1)), float(size.moment(2))
    if t.size == 0:
        return np.ones(1), np.array([m1]), np.array([m2]), 0.0
    if prediction.is_exact:
        fy = np.asarray(size.cdf(t), dtype=float)
        low = np.asarray(size.partial_moment(1, t), dtype=float)
        low2 = np.asarray(size.partial_moment(2, t), dtype=float)
        err = 0.0
    else:
        J = JointIntegrals(size, prediction, level=6)
        out = J.evaluate(t, ("Fy", "L", "S2"))
        fy, low, low2 = out["Fy"], out["L"], out["S2"]
        err = max(float(np.max(J.last_error[q])) for q in ("Fy", "L", "S2"))
    p = np.diff(np.concatenate([[0.0], fy, [1.0]]))
    m = np.diff(np.concatenate([[0.0], low, [m1]]))
    s = np.diff(np.concatenate([[0.0], low2, [m2]]))
    return np.maximum(p, 0.0), np.maximum(m, 0.0), np.maximum(s, 0.0), err


def _cobham(lam: float, m1: float, m2: float, p, m, s, preemptive: bool) -> float:
    """Cobham's mean over the buckets (module docstring), from their partial moments."""
    sigma = lam * np.cumsum(m)
    prev = np.concatenate([[0.0], sigma[:-1]])
    den = (1.0 - prev) * (1.0 - sigma)
    if not preemptive:
        return float(m1 + 0.5 * lam * m2 * np.sum(p / den))
    return float(np.sum(m / (1.0 - prev) + p * 0.5 * lam * np.cumsum(s) / den))


def buckets_mean(size: SizeDistribution, prediction: PredictionModel, lam: float,
                 thresholds, preemptive: bool) -> tuple[float, float]:
    """``(E[T], error estimate)`` of k-bucket advice (:class:`~qtheory.policies.Buckets`):
    Cobham's priority formulas over the buckets of the prediction (module docstring), the
    buckets' partial moments from :func:`bucket_moments`. The error estimate is the change
    of the mean when every partial moment moves by the quadrature's error estimate in the
    direction that raises it, and then lowers it. ``inf`` at load >= 1.

    Examples
    --------
    >>> import qtheory as qt
    >>> size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    >>> one, _ = buckets_mean(size, pred, 0.8, [], preemptive=False)   # one bucket: FCFS
    >>> round(one, 12)
    5.0
    >>> two, _ = buckets_mean(size, pred, 0.8, [1.0], preemptive=False)
    >>> bool(abs(two - one_bit_mean(size, pred, 0.8, 1.0, False)) < 1e-12)  # one bit
    True
    """
    m1, m2 = float(size.moment(1)), float(size.moment(2))
    rho = lam * m1
    if rho >= 1.0:
        return np.inf, 0.0
    p, m, s, err = bucket_moments(size, prediction, thresholds)
    value = _cobham(lam, m1, m2, p, m, s, preemptive)
    if err > 0:
        moved = [_cobham(lam, m1, m2, p, np.maximum(m + d * err, 0.0),
                         np.maximum(s + d * err, 0.0), preemptive) for d in (1.0, -1.0)]
        err = max(abs(v - value) for v in moved)
    return value, float(err)


def _bucket_of(thresholds, y) -> np.ndarray:
    """The bucket of each prediction: ``j`` with ``t_{j-1} < y <= t_j``."""
    return np.searchsorted(np.asarray(thresholds, dtype=float), y, side="left")


def buckets_conditional(size: SizeDistribution, prediction: PredictionModel, lam: float,
                        thresholds, preemptive: bool, x, y) -> np.ndarray:
    """``E[T | X = x, Y = y]`` of k-bucket advice (:class:`~qtheory.policies.Buckets`):
    Cobham's per-class response times (module docstring; A. Cobham, Oper. Res. 2 (1954),
    and M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*, 2013,
    ch. 32), the class being the bucket of ``y``. Broadcasts ``x`` and ``y``; ``inf`` at
    load >= 1.

    Examples
    --------
    >>> import qtheory as qt
    >>> size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    >>> t = buckets_conditional(size, pred, 0.5, [], False, [0.0, 1.0], [1.0, 1.0])
    >>> [round(float(v), 12) for v in t]     # one bucket: FCFS, x + 0.5 / (1 - 0.5)
    [1.0, 2.0]
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    m1, m2 = float(size.moment(1)), float(size.moment(2))
    if lam * m1 >= 1.0:
        return np.full(x.shape, np.inf)
    _, m, s, _ = bucket_moments(size, prediction, thresholds)
    sigma = lam * np.cumsum(m)
    prev = np.concatenate([[0.0], sigma[:-1]])
    j = _bucket_of(thresholds, y)
    den = (1.0 - prev[j]) * (1.0 - sigma[j])
    if not preemptive:
        return x + 0.5 * lam * m2 / den
    return x / (1.0 - prev[j]) + 0.5 * lam * np.cumsum(s)[j] / den


def one_bit_conditional(size: SizeDistribution, prediction: PredictionModel, lam: float,
                        threshold: float, preemptive: bool, within: str, x, y) -> np.ndarray:
    """``E[T | X = x, Y = y]`` of one bit of advice (:class:`~qtheory.policies.OneBit`, short
    iff ``y <= threshold``): the bucket forms with one threshold, and for the preemptive
    policy that serves the newest short first ``x / (1 - rho_S)`` for a short job and
    ``x / (1 - rho_S) + W_0 / ((1 - rho_S)(1 - rho))`` for a long one (module docstring).

    Examples
    --------
    >>> import qtheory as qt
    >>> size, pred = qt.Exponential(mean=1.0), qt.ExactPrediction()
    >>> t = one_bit_conditional(size, pred, 0.5, 1.0, True, "lcfs", [0.5, 2.0], [0.5, 2.0])
    >>> rho_s = 0.5 * (1.0 - 2.0 * np.exp(-1.0))          # lambda E[X; X <= 1]
    >>> bool(abs(t[0] - 0.5 / (1.0 - rho_s)) < 1e-14)
    True
    """
    if within not in ("lcfs", "fifo"):
        raise ValueError(f"within must be 'lcfs' or 'fifo', got {within!r}")
    if not preemptive or within == "fifo":
        return buckets_conditional(size, prediction, lam, [threshold], preemptive, x, y)
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    m1, m2 = float(size.moment(1)), float(size.moment(2))
    rho = lam * m1
    if rho >= 1.0:
        return np.full(x.shape, np.inf)
    _, x_s, _ = short_class(size, prediction, threshold)
    rho_s = lam * x_s
    longs = y > threshold
    return x / (1.0 - rho_s) + np.where(longs, 0.5 * lam * m2 / ((1.0 - rho_s) * (1.0 - rho)),
                                        0.0)
