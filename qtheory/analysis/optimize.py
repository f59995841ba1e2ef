"""Optimal parameters of advice policies: the 1-bit threshold, k bucket thresholds, TRAIL's c.

Method
------
The objective E[T](parameter) is computed by the analytic engine (closed forms
for one bit, SOAP for buckets and TRAIL). It need not be unimodal, so each
one-dimensional search first scans a grid (``grid`` points, log-spaced over the
0.1%-99.9% quantile range of the prediction for thresholds, uniform over [0, 1]
for c) and then refines the best grid point with bounded Brent search
(:func:`scipy.optimize.minimize_scalar`, ``xatol`` relative 1e-6 in
log-threshold or absolute 1e-6 in c) inside its two neighbouring cells. The
result is never worse than the best grid point. For k buckets the thresholds are
parametrised by log-increments (so they stay ordered) and refined with
Nelder-Mead from the best of a quantile-spaced start and coordinate scans
(``fatol`` relative 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..policies import TRAIL, Buckets, OneBit

__all__ = ["OptimumResult", "optimal_one_bit", "optimal_buckets", "optimal_trail"]


@dataclass(frozen=True)
class OptimumResult:
    """Best parameter(s) and the mean response time there."""

    argument: float | tuple
    mean_response_time: float
    evaluations: int


def _prediction_quantiles(queue, probs):
    """Quantiles of the prediction Y (:meth:`~qtheory.predictions.PredictionModel.marginal_ppf`)."""
    return queue.prediction.marginal_ppf(np.asarray(probs, dtype=float), queue.size)


def _scan_then_brent(f, grid, to_param, xatol):
    vals = np.array([f(to_param(g)) for g in grid])
    i = int(np.nanargmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best_x, best_v = grid[i], vals[i]
    n = len(grid)
    if hi > lo:
        res = optimize.minimize_scalar(lambda g: f(to_param(g)), bounds=(lo, hi),
                                       method="bounded", options={"xatol": xatol})
        n += res.nfev
        if res.fun < best_v:
            best_x, best_v = res.x, res.fun
    return to_param(best_x), float(best_v), n


def optimal_one_bit(queue, preemptive: bool = False, within: str = "lcfs",
                    grid: int = 40) -> OptimumResult:
    """Threshold T minimising E[T] of :class:`~qtheory.policies.OneBit`.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0))
    >>> res = optimal_one_bit(q, preemptive=True)
    >>> lam, T = 0.8, res.argument  # optimality condition of Mitzenmacher (ACDA 2021)
    >>> bool(abs(lam - (T - 1) / (np.exp(-T) + T - 1)) < 1e-5)
    True
    """
    q01, q99 = _prediction_quantiles(queue, (1e-3, 0.999))
    g = np.linspace(np.log(q01), np.log(q99), grid)

    def f(t):
        return queue.mean_response_time(OneBit(threshold=t, preemptive=preemptive, within=within))

    t, v, n = _scan_then_brent(f, g, np.exp, 1e-6)
    return OptimumResult(float(t), v, n)


def optimal_trail(queue, grid: int = 21, c_max: float = 1.0) -> OptimumResult:
    """``c`` in [0, c_max] minimising E[T] of :class:`~qtheory.policies.TRAIL`."""
    g = np.linspace(0.0, c_max, grid)
    t, v, n = _scan_then_brent(lambda c: queue.mean_response_time(TRAIL(c=float(c))), g,
                               lambda c: float(c), 1e-6)
    return OptimumResult(float(t), v, n)


def optimal_buckets(queue, k: int, preemptive: bool = True, maxiter: int = 400) -> OptimumResult:
    """``k - 1`` thresholds minimising E[T] of :class:`~qtheory.policies.Buckets` (k buckets)."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    if k == 1:
        v = queue.mean_response_time(Buckets(preemptive=preemptive))
        return OptimumResult((), v, 1)

    def thresholds(theta):
        return np.exp(np.cumsum(np.concatenate([[theta[0]], np.exp(theta[1:])])))

    def f(theta):
        t = thresholds(theta)
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            return np.inf
        return queue.mean_response_time(Buckets(thresholds=tuple(t), preemptive=preemptive))

    start_t = _prediction_quantiles(queue, np.arange(1, k) / k)
    theta0 = np.concatenate([[np.log(start_t[0])], np.log(np.diff(np.log(start_t)))])
    res = optimize.minimize(f, theta0, method="Nelder-Mead",
                            options={"maxiter": maxiter, "xatol": 1e-6, "fatol": 1e-9 * f(theta0)})
    best = res.x if res.fun <= f(theta0) else theta0
    return OptimumResult(tuple(float(v) for v in thresholds(best)), float(min(res.fun, f(theta0))),
                         int(res.nfev) + 2)
