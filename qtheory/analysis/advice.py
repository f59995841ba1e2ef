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
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .joint import JointIntegrals

__all__ = ["one_bit_mean", "short_class"]


def short_class(size: SizeDistribution, prediction: PredictionModel, threshold: float):
    """Return (P(short), E[X; short], E[X^2; short]) for "short iff Y <= threshold"."""
    t = float(threshold)
    if prediction.is_exact:
        return (float(size.cdf(t)), float(size.partial_moment(1, t)),
                float(size.partial_moment(2, t)))
    J = JointIntegrals(size, prediction, level=6)
    out = J.evaluate(np.array([t]), ("Fy", "L", "S2"))
    return float(out["Fy"][0]), float(out["L"][0]), float(out["S2"][0])


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
