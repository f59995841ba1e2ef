"""Mean and conditional response times of the classical M/G/1 policies (known sizes).

Sources (see ``shared/reference/formulas.md``):

* FCFS: Pollaczek-Khinchine, E[T] = E[X] + lambda E[X^2] / (2(1 - rho)).
* PS: E[T(x)] = x / (1 - rho).
* SJF, PSJF, SRPT, FB: M. Harchol-Balter, *Performance Modeling and Design of
  Computer Systems* (2013), ch. 30-33 (SJF eq. 31.?; PSJF and SRPT ch. 32-33;
  FB ch. 30); SRPT: L. Schrage and L. Miller, "The queue M/G/1 with the shortest
  remaining processing time discipline", Oper. Res. 14 (1966) 670-684.

For laws with atoms the ties are broken FIFO, as in SOAP (Scully,
Harchol-Balter, Scheller-Wolf, POMACS 2018): jobs of equal size that are
already present go first, so the waiting term has ``(1 - rho_{x-})(1 - rho_x)``
in its denominator (Cobham's form), which makes SJF, PSJF and SRPT coincide with
FCFS for deterministic sizes.

Mean values over continuous laws are integrals over x on a tanh-sinh grid
(:mod:`qtheory.analysis.outer`); 1 - rho_x is always computed as
``(1 - rho) + lambda E[X; X > x]`` so that loads near 1 lose no digits.
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from .outer import SQUARE_C, OuterGrid, adaptive, make_grid

__all__ = ["ClassicalAnalysis", "CLASSICAL_POLICIES", "atoms_residence"]

CLASSICAL_POLICIES = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT")


def atoms_residence(size: SizeDistribution, lam: float, lo, hi) -> np.ndarray:
    """``int_lo^hi du / (1 - rho_{u-})`` for a size law with atoms (arrays ``lo <= hi``),
    ``rho_{u-} = lambda E[X; X < u]``: constant between atoms, so a finite sum, each
    denominator taken as ``(1 - rho) + lambda E[X; X > a]`` (no cancellation near load 1).

    Examples
    --------
    >>> import qtheory as qt
    >>> d = qt.Discrete([1.0, 2.0], [0.5, 0.5])     # rho_{u-} = 0.25 on (1, 2]
    >>> float(atoms_residence(d, 0.5, np.array(0.0), np.array(2.0)))   # 1 + 1 / 0.75
    2.333333333333333
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    vals = np.asarray(size.atoms[0], dtype=float)
    rho = lam * size.mean
    edges = np.concatenate([[0.0], vals, [np.inf]])
    out = np.zeros(hi.shape)
    for a, b in zip(edges[:-1], edges[1:]):
        seg = np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
        out = out + seg / ((1.0 - rho) + lam * float(size.tail_moment(1, a)))
    return out


class ClassicalAnalysis:
    """Response times of FCFS, PS, FB, SJF, PSJF and SRPT for one size law.

    Examples
    --------
    >>> from qtheory import Exponential
    >>> a = ClassicalAnalysis(Exponential(mean=1.0))
    >>> round(a.mean("PS", 0.5)[0], 12)
    2.0
    """

    def __init__(self, size: SizeDistribution, rtol: float = 1e-9):
        self.size = size
        self.rtol = rtol
        self.m1 = size.moment(1)
        self.m2 = size.moment(2)
        self._grids: dict[int, tuple[OuterGrid, dict]] = {}

    # ------------------------------------------------------------------ grids
    def _grid(self, level: int):
        if level not in self._grids:
            s = self.size
            lo, hi = s.support
            # from 0, not from the support's lower end: SRPT's residence integral of
            # sf(t)/(1 - rho_t) runs over [0, lo) too, where sf = 1
            g = make_grid(0.0, hi, [*s.breakpoints, lo], s.scale, level)
            x = g.x
            with np.errstate(all="ignore"):
                q = {
                    "f": s.pdf(x),
                    "sf": s.sf(x),
                    "TM1": s.tail_moment(1, x),
                    "PM2": s.partial_moment(2, x),
                }
            self._grids[level] = (g, q)
        return self._grids[level]

    # ------------------------------------------------------------------ means
    def mean(self, policy: str, lam: float) -> tuple[float, float]:
        """Return ``(E[T], error estimate)`` of ``policy`` at arrival rate ``lam``."""
        rho = lam * self.m1
        if rho >= 1.0:
            return np.inf, 0.0
        if policy == "FCFS":
            return self.m1 + lam * self.m2 / (2.0 * (1.0 - rho)), 0.0
        if policy == "PS":
            return self.m1 / (1.0 - rho), 0.0
        if self.size.is_discrete:
            return float(np.dot(self.size.atoms[1], self._atoms(policy, lam))), 0.0
        if policy in ("SJF",) and not np.isfinite(self.m2):
            return np.inf, 0.0

        def evaluate(level):
            g, q = self._grid(level)
            x = g.x
            d = (1.0 - rho) + lam * q["TM1"]
            with np.errstate(all="ignore"):
                if policy == "SJF":
                    v, e = g.integrate(q["f"] / d**2)
                    return self.m1 + 0.5 * lam * self.m2 * v, 0.5 * lam * self.m2 * e
                if policy == "PSJF":
                    v, e = g.integrate(q["f"] * q["PM2"] / d**2)
                    return -np.log1p(-rho) / lam + 0.5 * lam * v, 0.5 * lam * e
                if policy == "SRPT":
                    old = q["PM2"] + x * x * q["sf"]
                    v1, e1 = g.integrate(q["f"] * old / d**2)
                    v2, e2 = g.integrate(q["sf"] / d)
                    return 0.5 * lam * v1 + v2, 0.5 * lam * e1 + e2
                if policy == "FB":
                    trunc1 = np.maximum(q["TM1"] - x * q["sf"], 0.0)  # E[(X - x)+]
                    dbar = (1.0 - rho) + lam * trunc1
                    old = q["PM2"] + x * x * q["sf"]
                    return g.integrate(q["f"] * (x / dbar + 0.5 * lam * old / dbar**2))
            raise ValueError(f"policy: unknown classical policy {policy!r}")

        return adaptive(evaluate, self.rtol, f"{policy} mean response time",
                        square_c=SQUARE_C)

    # ------------------------------------------------------------------ conditional
    def conditional(self, policy: str, lam: float, x) -> np.ndarray:
        """E[T(x)] of ``policy`` for jobs of size ``x`` (vectorised)."""
        s = self.size
        x = np.asarray(x, dtype=float)
        rho = lam * self.m1
        if rho >= 1.0:
            return np.full(x.shape, np.inf)
        if policy == "FCFS":
            return x + lam * self.m2 / (2.0 * (1.0 - rho))
        if policy == "PS":
            return x / (1.0 - rho)
        d_le = (1.0 - rho) + lam * s.tail_moment(1, x)  # 1 - rho_x (jobs <= x)
        d_lt = d_le + lam * (x * self._atom_mass(x))  # 1 - rho_{x-} (jobs < x)
        pm2 = s.partial_moment(2, x)
        if policy == "SJF":
            return x + 0.5 * lam * self.m2 / (d_lt * d_le)
        if policy == "PSJF":
            return x / d_lt + 0.5 * lam * pm2 / (d_lt * d_le)
        if policy == "SRPT":
            wait = 0.5 * lam * (pm2 + x * x * s.sf(x)) / (d_lt * d_le)
            return wait + self._srpt_residence(lam, x)
        if policy == "FB":
            trunc1 = s.tail_moment(1, x) - x * s.sf(x)
            dbar = (1.0 - rho) + lam * np.maximum(trunc1, 0.0)
            return x / dbar + 0.5 * lam * (pm2 + x * x * s.sf(x)) / dbar**2
        raise ValueError(f"policy: unknown classical policy {policy!r}")

    def _atom_mass(self, x):
        if not self.size.is_discrete:
            return np.zeros_like(x)
        vals, probs = self.size.atoms
        idx = np.searchsorted(vals, x)
        idx_c = np.minimum(idx, len(vals) - 1)
        hit = (idx < len(vals)) & (vals[idx_c] == x)
        return np.where(hit, probs[idx_c], 0.0)

    def _srpt_residence(self, lam, x):
        """integral_0^x dt / (1 - rho_t) by tanh-sinh on [0, x] split at atoms."""
        from .quadrature import finite_nodes, tanh_sinh_rule

        s = self.size
        rho = lam * self.m1
        x = np.asarray(x, dtype=float)
        if s.is_discrete:
            return atoms_residence(s, lam, np.zeros(x.shape), x)
        pts = np.array([b for b in s.breakpoints if b > 0])
        edges = np.sort(np.concatenate([[0.0], pts]))
        out = np.zeros(x.shape)
        rule = tanh_sinh_rule(5)
        for a, b in zip(edges, [*edges[1:], np.inf]):
            lo = np.minimum(x, a)
            hi = np.minimum(x, b)
            t, w = finite_nodes(lo, hi, rule)
            d = (1.0 - rho) + lam * s.tail_moment(1, t)
            out = out + np.sum(w / d, axis=-1)
        return out

    def _atoms(self, policy: str, lam: float) -> np.ndarray:
        """E[T(x_k)] at every atom (closed sums)."""
        vals = self.size.atoms[0]
        return self.conditional(policy, lam, vals)
