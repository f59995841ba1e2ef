"""Multi-class M/G/1 priority queues (Cobham's formulas).

A. Cobham, "Priority assignment in waiting line problems", Oper. Res. 2 (1954)
70-76; the preemptive-resume form as in M. Harchol-Balter, *Performance
Modeling and Design of Computer Systems* (2013), ch. 31-32. Class 0 has the
highest priority, FIFO within a class; sigma_k is the load of classes 0..k.

* non-preemptive: E[T_k] = E[X_k] + W0 / ((1 - sigma_{k-1})(1 - sigma_k)),
  W0 = sum_i lambda_i E[X_i^2] / 2;
* preemptive-resume: E[T_k] = E[X_k] / (1 - sigma_{k-1})
  + (sum_{i<=k} lambda_i E[X_i^2] / 2) / ((1 - sigma_{k-1})(1 - sigma_k)).
"""

from __future__ import annotations

import numpy as np

__all__ = ["priority_class_means"]


def priority_class_means(rates, m1, m2, preemptive: bool) -> np.ndarray:
    """Mean response time of every class.

    Parameters
    ----------
    rates, m1, m2 : array_like
        Arrival rate, E[X] and E[X^2] of each class, highest priority first.
    preemptive : bool
        Preemptive-resume if true, else non-preemptive.

    Returns
    -------
    ndarray
        ``inf`` for classes that are unstable (non-preemptive: all classes once
        the total load reaches 1; preemptive: class k once sigma_k >= 1).

    Examples
    --------
    >>> priority_class_means([0.4], [1.0], [2.0], preemptive=False)  # one class = M/M/1
    array([1.66666667])
    """
    rates, m1, m2 = (np.asarray(v, dtype=float) for v in (rates, m1, m2))
    sigma = np.cumsum(rates * m1)
    sigma_prev = np.concatenate([[0.0], sigma[:-1]])
    work = rates * m2 / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if preemptive:
            wait = np.cumsum(work) / ((1.0 - sigma_prev) * (1.0 - sigma))
            out = m1 / (1.0 - sigma_prev) + wait
            out[sigma >= 1.0] = np.inf
        else:
            out = m1 + work.sum() / ((1.0 - sigma_prev) * (1.0 - sigma))
            if sigma[-1] >= 1.0:
                out[:] = np.inf
    return out
