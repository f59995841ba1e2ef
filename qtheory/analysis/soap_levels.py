"""Chebyshev tables of SOAP's other-job functions in the rank level, for conditional
response times.

SOAP's conditional response time of a tagged job (:meth:`SOAPAnalysis.conditional
<qtheory.analysis.soap.SOAPAnalysis.conditional>`; Z. Scully, M. Harchol-Balter, A.
Scheller-Wolf, "SOAP", POMACS 2(1) 2018, Theorem 5.5) needs the other-job functions
``N(r)``, ``O0(r)`` and ``S(r)`` at its worst future rank and, through
``1 / (1 - lambda N(r))``, at every level of its residence integral: about a hundred levels
a ramp, each an integral over the noise. Evaluated one by one that was 10-50 ms a job.

The three functions are lambda-free and smooth in ``r`` between the levels where the
engine's outer integral is cut (:meth:`SOAPAnalysis._r_breakpoints
<qtheory.analysis.soap.SOAPAnalysis._r_breakpoints>`: the policy's constants, the levels
where a moving cell boundary meets a kink, and so on). :class:`LevelTable` interpolates
them there at Chebyshev points of the first kind (which leave out the ends, where a
function may jump), 9, then 27, then 81 of them (each set holds the one before), and halves
a piece whose interpolants have not converged: the last two coefficients of each function
within ``1e-13`` of its scale (``E[X]`` for ``N`` and ``O0``, the largest ``S`` on the piece
or a thousandth of ``E[X^2]``) plus four times the noise quadrature's own error estimates on
the piece. The half-lines beyond the first and last of those levels are cut geometrically
(factors of 4 of the rank's scale, out to ``4**20`` of it). A fit whose coefficients have
converged is also checked against exact values next to either end of its piece (within
``1e-6`` and ``1e-3`` of its length), which its points do not reach: on SPRPT's rank the
functions are singular at ``r = 0``, and a fit that had converged was 5e-11 off at
``r = 0.025``; levels closer to an end than the outer check take the exact path (a fit next
to ``r = 0`` gave 5e-9 at ``r = 1e-9`` for 1e-9). Only the pieces that hold a
requested level are built. Levels with no table (within ``1e-12`` of a cut, beyond the
half-lines, at ``-inf``, or on a piece that did not converge in :data:`_DEPTH` halvings)
take the exact path, once per distinct level.

:class:`PiecewiseTable` is the same machinery for any functions of one variable given by an
evaluator and cuts; the closed forms' conditional response times use it for their inner
integrals in the prediction (:meth:`PredictionAnalysis._tabled
<qtheory.analysis.predicted.PredictionAnalysis._tabled>`).
"""

from __future__ import annotations

import numpy as np

from ..distributions._panelcheb import _dct1_matrix

__all__ = ["PiecewiseTable", "LevelTable", "off_cuts"]

_DEGREES = (9, 27, 81)  # first-kind points of a fit: each set holds the one before
_TOL = 1e-13
_DEPTH = 24  # halvings of a piece before it is left to the exact path
_FAR = 20  # the half-lines are cut at 4**k scales from the outermost cut, k <= _FAR
_SNAP = 1e-12  # levels this close (relative) to a cut take the exact path
# where a converged fit is checked (its variable, next to either end, closer than its first
# point), and by how much more than its tolerance it may miss there: SPRPT's rank on
# exponential sizes and noise has a singular end at r = 0, where a fit whose coefficients had
# converged was 5e-11 off at r = 0.025 (a conditional response time 9.6e-10 off)
_CHECK = np.array([-1.0 + 2e-6, -1.0 + 2e-3, 1.0 - 2e-3, 1.0 - 2e-6])
_MISS = 10.0


# the first-kind Chebyshev points of [-1, 1] (ascending) of each degree, and the matrices
# taking values there to the coefficients of their interpolants
_POINTS = {n: -np.cos(np.pi * (np.arange(n) + 0.5) / n) for n in _DEGREES}
_DCT = {n: _dct1_matrix(n) for n in _DEGREES}


def off_cuts(v, cuts, scale: float) -> np.ndarray:
    """The points ``v`` moved off the ``cuts`` (sorted) to ``4e-12`` relative of them, each on
    its own side: for the nodes of a quadrature rule next to the ends of its pieces, which
    :meth:`PiecewiseTable.lookup` would send to the exact path (within ``1e-12`` of a cut),
    one exact evaluation each. Only for functions continuous at the cuts, whose nodes
    there carry vanishing weights (a residence integral's ``1 / D``): 5000 conditional
    response times of DelayPredict took 84 s and 8.8 GB, and 0.5 s and 0.3 GB with the
    nodes moved, the values unchanged to 1e-15.

    Examples
    --------
    >>> off_cuts(np.array([1e-20, 0.5, 1.0 - 1e-15]), np.array([0.0, 1.0]), 1.0).tolist()
    [4e-12, 0.5, 0.999999999996]
    """
    v = np.asarray(v, dtype=float)
    cuts = np.asarray(cuts, dtype=float)
    if not cuts.size or not v.size:
        return v
    j = np.clip(np.searchsorted(cuts, v), 1, cuts.size)
    lo, hi = cuts[j - 1], cuts[np.minimum(j, cuts.size - 1)]
    c = np.where(np.abs(v - lo) <= np.abs(v - hi), lo, hi)
    gap = 4e-12 * np.maximum(np.abs(c), scale)
    near = np.abs(v - c) < gap
    return np.where(near, np.where(v >= c, c + gap, c - gap), v)


class PiecewiseTable:
    """Chebyshev tables of smooth functions of one variable between given cuts (module
    docstring), built lazily where values are asked for.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(v) -> (values, errors)``: dicts of arrays (one per key) at the 1-D points
        ``v``, the values and estimates of their errors (zeros where there are none).
    keys : tuple of str
    cuts : array_like
        Sorted finite points where the functions may jump or kink.
    scale : float
        The variable's scale: the half-lines beyond the cuts are cut at ``4**k`` of it.
    refs : dict
        The least scale of each key's tolerance (module docstring).
    lower : float, optional
        The lower end of the domain (no half-line below it).
    """

    def __init__(self, evaluate, keys, cuts, scale: float, refs: dict,
                 lower: float | None = None):
        self._evaluate = evaluate
        self.keys = tuple(keys)
        cuts = np.asarray(cuts, dtype=float)
        far = float(scale) * 4.0 ** np.arange(_FAR + 1)
        below = np.zeros(0) if lower is not None else cuts[0] - far[::-1]
        extra = np.zeros(0) if lower is None else np.array([float(lower)])
        edges = np.unique(np.concatenate([below, extra, cuts, cuts[-1] + far]))
        if lower is not None:
            edges = edges[edges >= lower]
        self.cuts = cuts
        self.scale = float(scale)
        self.lo, self.hi = float(edges[0]), float(edges[-1])
        self._a = list(edges[:-1])
        self._b = list(edges[1:])
        self._fit: list = [None] * len(self._a)
        self._depth = [0] * len(self._a)
        self._ref = dict(refs)

    # -------------------------------------------------------------------------- building
    def _build(self, todo: list) -> None:
        """Fit the pieces ``todo`` (indices), halving those that do not converge; a fit that
        converges is checked at :data:`_CHECK` (its variable's positions next to either
        end, closer than its first point) before it is kept."""
        # piece -> (degree index, values, errors, coefficients to check or None)
        state = {i: (0, None, None, None) for i in todo}
        while state:
            levels, owners = [], []
            for i, (k, vals, _, coef) in state.items():
                a, b = self._a[i], self._b[i]
                if coef is not None:
                    t = _CHECK
                else:
                    n = _DEGREES[k]
                    t = _POINTS[n]
                    if vals is not None:  # only the points new at this degree
                        t = t[np.arange(n) % 3 != 1]
                levels.append(0.5 * (a + b) + 0.5 * (b - a) * t)
                owners.append(np.full(t.size, i))
            r = np.concatenate(levels)
            v, e = self._evaluate(r)
            owner = np.concatenate(owners)
            nxt = {}
            for i, (k, vals, errs, coef) in state.items():
                at = owner == i
                new_v = {q: v[q][at] for q in self.keys}
                new_e = {q: e[q][at] for q in self.keys}
                if coef is not None:  # the check of a converged fit
                    ok = True
                    for q in self.keys:
                        miss = np.abs(np.polynomial.chebyshev.chebval(_CHECK, coef[q])
                                      - new_v[q])
                        ok &= bool(np.all(miss <= _MISS * self._tol(q, vals[q], errs[q])
                                          + 4.0 * new_e[q]))
                    if ok:
                        self._fit[i] = coef
                    else:
                        self._split_or_drop(i, nxt)
                    continue
                n = _DEGREES[k]
                if vals is None:
                    vals, errs = new_v, new_e
                else:
                    old = np.arange(n) % 3 == 1
                    for q in self.keys:
                        full_v, full_e = np.empty(n), np.empty(n)
                        full_v[old], full_v[~old] = vals[q], new_v[q]
                        full_e[old], full_e[~old] = errs[q], new_e[q]
                        vals[q], errs[q] = full_v, full_e
                coef, ok = {}, True
                for q in self.keys:
                    c = _DCT[n] @ vals[q]
                    ok &= bool(np.all(np.isfinite(c))) and \
                        abs(c[-1]) + abs(c[-2]) <= self._tol(q, vals[q], errs[q])
                    coef[q] = c
                if ok:
                    nxt[i] = (k, vals, errs, coef)
                elif k + 1 < len(_DEGREES):
                    nxt[i] = (k + 1, vals, errs, None)
                else:
                    self._split_or_drop(i, nxt)
            state = nxt

    def _tol(self, q: str, vals: np.ndarray, errs: np.ndarray) -> float:
        """What a fit of ``q`` may miss by: ``_TOL`` of its scale plus four times the noise
        quadrature's estimates (module docstring)."""
        scale = max(float(np.max(np.abs(vals))), self._ref[q])
        return _TOL * scale + 4.0 * float(np.max(errs))

    def _split_or_drop(self, i: int, nxt: dict) -> None:
        """Halve piece ``i`` (both halves to be fitted), or after :data:`_DEPTH` halvings
        leave it to the exact path."""
        if self._depth[i] < _DEPTH:
            for j in self._halve(i):
                nxt[j] = (0, None, None, None)
        else:
            self._fit[i] = False

    def _halve(self, i: int) -> tuple[int, int]:
        """Cut piece ``i`` in halves (its index keeps the left one); the right one is
        appended."""
        a, b = self._a[i], self._b[i]
        mid = 0.5 * (a + b)
        self._b[i] = mid
        self._a.append(mid)
        self._b.append(b)
        self._fit.append(None)
        self._depth[i] += 1
        self._depth.append(self._depth[i])
        return i, len(self._a) - 1

    # -------------------------------------------------------------------------- lookup
    def _owners(self, r: np.ndarray) -> np.ndarray:
        """The piece of each level (-1: none)."""
        a = np.array(self._a)
        order = np.argsort(a)
        j = np.searchsorted(a[order], r, side="right") - 1
        own = np.where(j >= 0, order[np.clip(j, 0, None)], -1)
        b = np.array(self._b)
        inside = (j >= 0) & (r < b[np.clip(own, 0, None)])
        return np.where(inside, own, -1)

    def lookup(self, r, strict: bool = True) -> tuple[dict, np.ndarray]:
        """``({"N", "O0", "S"}: values, need)`` at the levels ``r`` (1-D); ``need`` marks the
        levels without a table (their values are NaN). Without ``strict`` the tables also
        serve the levels next to the ends of their pieces (module docstring), though not
        within ``1e-12`` of a cut: the nodes of a quadrature rule whose weights vanish
        there. (A level on a cut is a constant of the policy, whose value there is neither
        side's limit: bucket advice's levels, 42 % off from the right limits.)"""
        r = np.asarray(r, dtype=float)
        out = {q: np.full(r.shape, np.nan) for q in self.keys}
        fin = np.isfinite(r) & (r > self.lo) & (r < self.hi)
        if self.cuts.size:  # (a constant level sits on a cut: its own value, not a limit)
            # the nearest cut by bisection (a table of levels x cuts needed 8 GB for 7e6
            # levels and 147 cuts)
            j = np.clip(np.searchsorted(self.cuts, r), 1, self.cuts.size) if r.size else r
            near = np.fmin(np.abs(r - self.cuts[j - 1]),
                           np.abs(r - self.cuts[np.minimum(j, self.cuts.size - 1)])) \
                if r.size else np.zeros(0)
            fin &= near > _SNAP * np.maximum(np.abs(r), self.scale)
        own = np.where(fin, self._owners(np.where(fin, r, 0.0)), -1)
        todo = [int(i) for i in np.unique(own[own >= 0]) if self._fit[int(i)] is None]
        if todo:
            self._build(todo)
            own = np.where(fin, self._owners(np.where(fin, r, 0.0)), -1)
        need = np.ones(r.shape, dtype=bool)
        for i in np.unique(own[own >= 0]):
            fit = self._fit[int(i)]
            if fit is False:
                continue
            at = own == i
            a, b = self._a[int(i)], self._b[int(i)]
            t = (2.0 * r[at] - (a + b)) / (b - a)
            # closer to an end than the outer check point: the exact path (next to a cut the
            # functions may be singular: SPRPT's N at r = 1e-9 from a fit was 5e-9 for 1e-9)
            inner = np.abs(t) <= _CHECK[-1] if strict else np.ones(t.size, dtype=bool)
            idx = np.flatnonzero(at)[inner]
            for q in self.keys:
                out[q][idx] = np.polynomial.chebyshev.chebval(t[inner], fit[q])
            need[idx] = False
        return out, need

    def functions(self, r, strict: bool = True) -> dict:
        """``N``, ``O0`` and ``S`` at the levels ``r`` (any shape): from the tables, and by
        the exact path (once per distinct level) where there is none (:meth:`lookup`)."""
        r = np.asarray(r, dtype=float)
        flat = r.ravel()
        out, need = self.lookup(flat, strict)
        if np.any(need):
            uniq, inv = np.unique(flat[need], return_inverse=True)
            exact, _ = self._evaluate(uniq)
            for q in self.keys:
                out[q][need] = np.asarray(exact[q])[inv]
        return {q: out[q].reshape(r.shape) for q in self.keys}


class LevelTable(PiecewiseTable):
    """Tables of ``N``, ``O0`` and ``S`` of a :class:`~qtheory.analysis.soap.SOAPAnalysis`
    in the level (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> import qtheory as qt
    >>> from qtheory.analysis.soap import SOAPAnalysis
    >>> rank = qt.policies.SPRPT().rank()
    >>> a = SOAPAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), rank)
    >>> r = np.array([-0.7, 0.3, 2.5])
    >>> vals, need = LevelTable(a).lookup(r)
    >>> exact = a._functions_of_r(r, False)
    >>> bool(np.all(need | (np.abs(vals["N"] - exact["N"]) <= 1e-12)))
    True
    """

    def __init__(self, analysis):
        self.analysis = analysis
        m2 = float(analysis.size.moment(2))
        super().__init__(lambda r: analysis._functions_of_r(r, False, with_err=True),
                         ("N", "O0", "S"), analysis._r_breakpoints(),
                         float(analysis._scale_r()),
                         {"N": analysis.m1, "O0": analysis.m1,
                          "S": 1e-3 * m2 if np.isfinite(m2) else 0.0})
