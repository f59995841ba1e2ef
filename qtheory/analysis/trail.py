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

c = 0 gives SJF and c = 1 gives SRPT, and so does any c > 1 (a job is preemptible at every
age below its size): the formulas take min(c, 1). (Until 2026-12-05 they took c itself, whose
residence integral over [(1 - c) x, x] then crossed 0, where a fixed tanh-sinh rule met the
kink of E[X; X > u]: TRAIL(1.4) on Weibull 0.5 sizes came out 6.1e-6 off SRPT with an
estimate of 5e-10.) This module is independent of the SOAP engine, which derives the same
quantity from TRAIL's rank function.

For a size law with atoms the ties are broken first come first served, as in SOAP: at the
level ``r = x`` a new job of size ``x`` is not served ahead of the tagged job (its rank is not
below ``x``) and an old one is, so the waiting term's denominator is
``(1 - rho_{x-}) (1 - rho_x)`` (Cobham's form, as :mod:`qtheory.analysis.classical` has it),
``rho_{x-} = lambda E[X; X < x]``, and the residence integrand ``1 / (1 - rho_{u-})`` is
constant between atoms: the mean is a finite sum over the atoms. Its checks: SJF at ``c = 0``
and SRPT at ``c >= 1`` (the classical sums), and the simulator.
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from .classical import atoms_residence
from .outer import SQUARE_C, adaptive, make_grid
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
    c = min(float(c), 1.0)  # (c > 1: SRPT, as c = 1)
    rho = lam * size.mean
    if rho >= 1.0:
        return np.full(x.shape, np.inf)[()]
    if size.is_discrete:
        return _atoms_conditional(size, lam, c, x)[()]
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


def _atoms_conditional(size: SizeDistribution, lam: float, c: float, x: np.ndarray):
    """E[T(x)] for a size law with atoms (finite sums; module docstring), ``c <= 1``."""
    v, p = (np.asarray(a, dtype=float) for a in size.atoms)
    xs = x[..., None]
    le, lt = v <= xs, v < xs
    load_le = lam * np.sum(p * v * le, axis=-1)  # rho_x
    load_lt = lam * np.sum(p * v * lt, axis=-1)  # rho_{x-}
    old = np.sum(p * np.where(le, v * v, np.maximum(xs, (1.0 - c) * v) ** 2), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = 0.5 * lam * old / ((1.0 - load_le) * (1.0 - load_lt))
    # residence: 1 / (1 - rho_{u-}) over [(1 - c) x, x], constant between atoms
    lo = (1.0 - c) * x
    return wait + atoms_residence(size, lam, lo, x) + lo


def trail_known_sizes_mean(size: SizeDistribution, lam: float, c: float,
                           rtol: float = 1e-9) -> tuple[float, float]:
    """``(E[T], error estimate)`` of TRAIL with known sizes, by quadrature over x (a finite
    sum over the atoms of a law with atoms).

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.analysis.classical import ClassicalAnalysis
    >>> d = qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2])
    >>> t0, _ = trail_known_sizes_mean(d, 0.3, 0.0)          # c = 0: SJF
    >>> bool(abs(t0 - ClassicalAnalysis(d).mean("SJF", 0.3)[0]) < 1e-12)
    True
    """
    c = min(float(c), 1.0)  # (c > 1: SRPT, as c = 1)
    rho = lam * size.mean
    if rho >= 1.0:
        return np.inf, 0.0
    if size.is_discrete:
        v, p = size.atoms
        return float(np.dot(p, _atoms_conditional(size, lam, c, np.asarray(v, float)))), 0.0
    lo, hi = size.support
    kinks = [k for k in (*size.breakpoints, lo) if 0 < k < np.inf]
    # E[T(x)] has kinks at the size law's kinks and where (1-c)x or x/(1-c) meets one
    pts = [*kinks, *(k / (1.0 - c) for k in kinks if c < 1), *((1.0 - c) * k for k in kinks)]

    def evaluate(level):
        g = make_grid(0.0, hi, pts, size.scale, level)
        with np.errstate(all="ignore"):
            vals = size.pdf(g.x) * trail_known_sizes_conditional(size, lam, c, g.x)
        return g.integrate(np.where(g.w > 0, vals, 0.0))

    # the classical forms' floor C d**2 / |value| with C = SQUARE_C: with C = 1 a
    # hyperexponential law (means 0.892, 5.83, c = 0.485, load 0.68) was accepted 3.6e-10
    # off with an estimate of 8e-11 (validation/closed_forms_random.py --advice)
    return adaptive(evaluate, rtol, "TRAIL mean response time", square_c=SQUARE_C)
