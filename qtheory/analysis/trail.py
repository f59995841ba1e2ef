"""TRAIL limited preemption with known sizes: a closed form.

TRAIL (Shahout et al., "Don't Stop Me Now: Embedding Based Scheduling for
LLMs", ICLR 2025, arXiv:2410.01035) serves the job of least remaining size but
lets a job be preempted only while its age is below c times its size. With
known sizes the SOAP analysis (Scully, Harchol-Balter, Scheller-Wolf, POMACS
2018) gives, for a job of size x (``shared/reference/formulas.md``; derived
there, re-derived here: old jobs of size t > x stop being preemptible at age
min(t - x, c t), so their remaining work is max(x, (1 - c) t)):

    E[T(x)] = lambda [int_0^x t^2 dF + int_x^inf max(x, (1-c) t)^2 dF(t)] / (2 (1 - rho_x)^2)
            + int_{(1-c) x}^x du / (1 - rho_u) + (1 - c) x.

c = 0 gives SJF and c = 1 gives SRPT. This module is independent of the SOAP
engine, which derives the same quantity from TRAIL's rank function.
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from .outer import adaptive, make_grid
from .quadrature import finite_nodes, tanh_sinh_rule

__all__ = ["trail_known_sizes_conditional", "trail_known_sizes_mean"]


def _old_work(size: SizeDistribution, x, c: float):
    """int_0^x t^2 dF + int_x^inf max(x, (1-c) t)^2 dF(t)."""
    x = np.asarray(x, dtype=float)
    below = size.partial_moment(2, x)
    if c >= 1.0:
        return below + x * x * size.sf(x)
    # max(x, (1-c)t) = x for t < x/(1-c), (1-c)t beyond
    knee = x / (1.0 - c)
    mid = x * x * (size.sf(x) - size.sf(knee))
    return below + mid + (1.0 - c) ** 2 * size.tail_moment(2, knee)


def trail_known_sizes_conditional(size: SizeDistribution, lam: float, c: float, x):
    """E[T(x)] of TRAIL with known sizes (see the module docstring).

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.analysis.classical import ClassicalAnalysis
    >>> s = qt.Exponential(mean=1.0)
    >>> t1 = trail_known_sizes_conditional(s, 0.5, 1.0, 2.0)   # c = 1: SRPT
    >>> bool(abs(t1 - ClassicalAnalysis(s).conditional("SRPT", 0.5, 2.0)) < 1e-12)
    True
    """
    x = np.asarray(x, dtype=float)
    rho = lam * size.mean
    if rho >= 1.0:
        return np.full(x.shape, np.inf)[()]
    d = (1.0 - rho) + lam * size.tail_moment(1, x)
    wait = 0.5 * lam * _old_work(size, x, c) / d**2
    # residence: integral over [(1-c)x, x], split at the kinks of the size law
    lo_u = (1.0 - c) * x
    kinks = np.array([k for k in (*size.breakpoints, size.support[0]) if 0 < k < np.inf])
    inner = np.clip(kinks, lo_u[..., None], x[..., None]) if kinks.size else \
        np.zeros(x.shape + (0,))
    edges = np.sort(np.concatenate([lo_u[..., None], inner, x[..., None]], axis=-1), axis=-1)
    t, w = finite_nodes(edges[..., :-1], edges[..., 1:], tanh_sinh_rule(5))
    res = np.sum(w / ((1.0 - rho) + lam * size.tail_moment(1, t)), axis=(-1, -2))
    return (wait + res + (1.0 - c) * x)[()]


def trail_known_sizes_mean(size: SizeDistribution, lam: float, c: float,
                           rtol: float = 1e-9) -> tuple[float, float]:
    """``(E[T], error estimate)`` of TRAIL with known sizes, by quadrature over x."""
    rho = lam * size.mean
    if rho >= 1.0:
        return np.inf, 0.0
    lo, hi = size.support
    kinks = [k for k in (*size.breakpoints, lo) if 0 < k < np.inf]
    # E[T(x)] has kinks at the size law's kinks and where (1-c)x or x/(1-c) meets one
    pts = [*kinks, *(k / (1.0 - c) for k in kinks if c < 1), *((1.0 - c) * k for k in kinks)]

    def evaluate(level):
        g = make_grid(0.0, hi, pts, size.scale, level)
        with np.errstate(all="ignore"):
            vals = size.pdf(g.x) * trail_known_sizes_conditional(size, lam, c, g.x)
        return g.integrate(np.where(g.w > 0, vals, 0.0))

    return adaptive(evaluate, rtol, "TRAIL mean response time")
