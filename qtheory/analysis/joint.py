"""Functions of the prediction y that every prediction-based formula needs.

For a size law X and a multiplicative prediction Y = X Z (Z independent of X)
this module computes, at arrays of y, the lambda-independent quantities

========  ===========================================================
``fy``    density of Y
``Fy``    P(Y <= y)
``L``     E[X; Y <= y]              (rho'_y = lambda * L(y))
``Lbar``  E[X; Y > y]               (1 - rho'_y = 1 - rho + lambda Lbar)
``S2``    E[X**2; Y <= y]
``V2``    E[(X - Y + y)**2; Y > y, X - Y + y > 0]   (SPRPT's old work)
``K``     P(Y > y, Y - X < y)       (SPRPT's residence kernel)
========  ===========================================================

For continuous sizes each quantity is an expectation over Z of closed-form
partial moments of X, e.g. ``L(y) = E_Z[E[X; X <= y/Z]]``; the expectation is
taken in probability space ``u = G(z)`` with tanh-sinh quadrature, split at
the noise law's kinks, at ``z = 1`` and at ``z = y/x_k`` and ``1 + y/x_k`` for
every kink ``x_k`` of the size law, so no piece straddles a kink. For sizes
with atoms the expectations are exact finite sums.

These are the building blocks of Mitzenmacher's formulas (ITCS 2020,
arXiv:1902.00732) and of the SOAP analysis of SPRPT (Scully, Harchol-Balter,
Scheller-Wolf, POMACS 2018); see :mod:`qtheory.analysis.predicted`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .quadrature import finite_nodes, halfline_nodes, inner_points, nested_sum, tanh_sinh_rule

__all__ = ["JointIntegrals", "QUANTITIES"]


@njit(cache=True, error_model="numpy", inline="always")
def _u_piece(un, ucn, w, i, p, a, ub, uca, ucb, left, right, weight):  # pragma: no cover
    """:func:`_u_nodes` on piece ``p`` of row ``i`` (``a``, ``ub``, ``uca``, ``ucb`` its ends),
    with the rule ``left``, ``right``, ``weight``."""
    S = left.size
    W = weight.size
    d = (uca - ucb) if a >= 0.5 else (ub - a)
    # np.maximum(d, 0.0): NaN stays NaN
    width = d if (d != d or d >= 0.0) else 0.0
    for s in range(S):
        t = p * S + s
        if left[s] < 0.5:
            un[i, t] = a + width * left[s]
            ucn[i, t] = uca - width * left[s]
        else:
            un[i, t] = ub - width * right[s]
            ucn[i, t] = ucb + width * right[s]
    for s in range(W):
        w[i, p * W + s] = width * weight[s]


@njit(cache=True, error_model="numpy", nogil=True)
def _u_nodes(ua, ub, uca, ucb, left, right, weight):  # pragma: no cover - compiled
    """Nodes of a rule on pieces ``[ua, ub]`` in probability space (rows x pieces; ``uca``,
    ``ucb`` their ends as ``1 - u``): at the nodes ``left``, ``right`` (each node's distance
    from the piece's ends as fractions of it) their ``u`` and ``1 - u``, each accurate where
    it is small (rows x pieces * nodes), and at the rule's nodes of weights ``weight`` (all
    of them: ``left`` may be a selection) the weights (rows x pieces * weights), as
    :meth:`JointIntegrals._nodes_u` used to compute them in NumPy (the same arrays)."""
    return _u_nodes_mixed(ua, ub, uca, ucb, left, right, weight, left, right, weight,
                          np.zeros(ua.shape, dtype=np.bool_))


@njit(cache=True, error_model="numpy", nogil=True)
def _u_nodes_mixed(ua, ub, uca, ucb, left, right, weight, left2, right2, weight2,
                   mask):  # pragma: no cover - compiled
    """:func:`_u_nodes` with a second rule of as many nodes (``left2``, ``right2``,
    ``weight2``) on the pieces where ``mask`` (rows x pieces) is true: the arrays that the
    two calls and a selection by ``mask`` give, each piece computed once."""
    n, P = ua.shape
    un = np.empty((n, P * left.size))
    ucn = np.empty((n, P * left.size))
    w = np.empty((n, P * weight.size))
    for i in range(n):
        for p in range(P):
            if mask[i, p]:
                _u_piece(un, ucn, w, i, p, ua[i, p], ub[i, p], uca[i, p], ucb[i, p], left2,
                         right2, weight2)
            else:
                _u_piece(un, ucn, w, i, p, ua[i, p], ub[i, p], uca[i, p], ucb[i, p], left,
                         right, weight)
    return un, ucn, w


QUANTITIES = ("fy", "Fy", "L", "Lbar", "S2", "V2", "K")


class JointIntegrals:
    """Evaluate the functions of y listed in the module docstring.

    Parameters
    ----------
    size : SizeDistribution
    prediction : PredictionModel
    level : int
        tanh-sinh level of the inner integrals over Z (step ``2**-level``).

    Examples
    --------
    >>> from qtheory import Exponential, ExponentialPrediction
    >>> J = JointIntegrals(Exponential(mean=1.0), ExponentialPrediction())
    >>> out = J.evaluate(np.array([1.0]), ("Fy", "L"))
    >>> from scipy.special import kv
    >>> bool(np.isclose(out["L"][0], 1 - 2 * kv(2, 2.0), rtol=1e-12))  # Bessel-K form
    True
    """

    #: the quantities :meth:`evaluate` computes (subclasses add their own)
    names: tuple[str, ...] = QUANTITIES

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, level: int = 3):
        self.size = size
        self.prediction = prediction
        self.level = level
        #: further fixed split points of the integrals over Z (set by the SOAP engine)
        self.extra_z: tuple[float, ...] = ()
        #: split where y/z or y/(z - 1) meets a kink of the size law (z = y/x_k and
        #: 1 + y/x_k); the SOAP engine computes its own per-row points instead
        self.kink_splits = True
        self._bulk = np.array([v for v in (size.scale,) if 0 < v < np.inf] or [1.0])
        #: inner-quadrature error estimates (absolute, per point) of the last call
        self.last_error: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ public
    def evaluate(self, y: np.ndarray, quantities=QUANTITIES) -> dict[str, np.ndarray]:
        """Return ``{name: values}`` at the points ``y`` (any shape)."""
        bad = set(quantities) - set(self.names)
        if bad:
            raise ValueError(f"quantities: unknown {sorted(bad)}; choose from {self.names}")
        y = np.asarray(y, dtype=float)
        shape = y.shape
        flat = y.ravel()
        if self.prediction.is_exact:
            if self.size.is_discrete:
                raise ValueError(
                    "exact predictions of a size law with atoms: use the classical policies"
                )
            out = self._exact(flat, quantities)
        elif getattr(self.prediction, "is_general", False):
            out = self._general(flat, quantities)
        elif self.size.is_discrete:
            out = self._atoms(flat, quantities)
        else:
            out = self._continuous(flat, quantities)
        return {k: v.reshape(shape) for k, v in out.items()}

    # ------------------------------------------------------------------ exact Y = X
    def _exact(self, y, quantities):
        s = self.size
        table = {
            "fy": lambda: s.pdf(y),
            "Fy": lambda: s.cdf(y),
            "L": lambda: s.partial_moment(1, y),
            "Lbar": lambda: s.tail_moment(1, y),
            "S2": lambda: s.partial_moment(2, y),
            "V2": lambda: y * y * s.sf(y),
            "K": lambda: s.sf(y),
        }
        self.last_error = {q: np.zeros(y.shape) for q in quantities}
        return {q: np.asarray(table[q](), float) for q in quantities}

    # ------------------------------------------------------------------ general law
    def _general(self, y, quantities):
        """Integrals over the size x for a general conditional law Q(y | x).

        Each row y is integrated over x in pieces split at the size law's kinks
        and at x = y (where the conditional law of Y typically turns over); V2
        needs an inner integral over t in [y, x + y], split at the law's own
        breakpoints.
        """
        s, p = self.size, self.prediction
        lo, hi = s.support
        n = y.size
        rule = tanh_sinh_rule(self.level)
        kinks = [k for k in s.breakpoints if lo < k < hi]
        pts = np.concatenate([np.broadcast_to(np.array(kinks, float), (n, len(kinks))),
                              np.clip(y, lo, hi)[:, None], self._x_cuts(y),
                              self._general_x_points(y)], axis=1)
        pts = np.where(np.isfinite(pts), np.clip(pts, lo, hi), lo)  # nan: no crossing
        edges = np.sort(np.concatenate([np.full((n, 1), lo), pts], axis=1), axis=1)
        if np.isfinite(hi):
            edges = np.concatenate([edges, np.full((n, 1), hi)], axis=1)
            xn, w = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
        else:
            xf, wf = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
            last = edges[:, -1]
            xh, wh = halfline_nodes(last, np.maximum(last, s.scale), self.level)
            xn = np.concatenate([xf, xh[:, None, :]], axis=1)
            w = np.concatenate([wf, wh[:, None, :]], axis=1)
        pieces = xn.shape[1]
        xn, w = xn.reshape(n, -1), w.reshape(n, -1)
        coarse, coarse4 = np.tile(rule.coarse, pieces), np.tile(rule.coarse4, pieces)
        yy = np.broadcast_to(y[:, None], xn.shape)
        out, err = {}, {}
        with np.errstate(all="ignore"):
            f = np.asarray(s.pdf(xn), float)
            Q = np.asarray(p._cdf(yy, xn), float) if {"Fy", "L", "Lbar", "S2"} & set(quantities) \
                else None
            for q in quantities:
                if q == "fy":
                    vals = f * np.asarray(p._pdf(yy, xn), float)
                elif q == "Fy":
                    vals = f * Q
                elif q == "L":
                    vals = xn * f * Q
                elif q == "Lbar":
                    vals = xn * f * (1.0 - Q)
                elif q == "S2":
                    vals = xn * xn * f * Q
                elif q == "K":
                    vals = f * np.maximum(np.asarray(p._cdf(xn + yy, xn), float)
                                          - np.asarray(p._cdf(yy, xn), float), 0.0)
                elif q == "V2":
                    vals = f * self._general_window(yy, xn)
                else:
                    vals = self._general_integrand(q, yy, xn, f)
                vals = np.where(w > 0, np.nan_to_num(vals), 0.0)
                out[q], err[q] = nested_sum(vals * w, coarse, coarse4)
        self.last_error = err
        return out

    def _x_cuts(self, y):
        """Sizes x where a breakpoint of the conditional law, b_k(x), equals y.

        The user gives breakpoints in y for each x; the integrals over x at fixed y
        need them in x: sign changes of b_k(x) - y on a log grid of x are refined by
        bisection (60 steps), up to two crossings per breakpoint; rows without a
        crossing get nan (ignored)."""
        p, s = self.prediction, self.size
        if p._bp is None:
            return np.zeros((y.size, 0))
        lo, hi = s.support
        top = hi if np.isfinite(hi) else 1e6 * s.scale
        grid = np.geomspace(max(lo, 1e-9 * s.scale), top, 241)
        rows = np.arange(y.size)

        def bp(k, x):
            return np.broadcast_to(np.asarray(p._bp(x)[k], float), np.shape(x))

        cols = []
        with np.errstate(all="ignore"):
            n_curves = len(p._bp(grid))
            for k in range(n_curves):
                diff = bp(k, grid)[None, :] - y[:, None]
                change = np.signbit(diff[:, :-1]) != np.signbit(diff[:, 1:])
                for _ in range(2):
                    has = change.any(axis=1)
                    j = np.argmax(change, axis=1)
                    a, b = grid[j], grid[np.minimum(j + 1, grid.size - 1)]
                    sa = np.signbit(diff[rows, j])
                    for _ in range(60):
                        m = 0.5 * (a + b)
                        same = np.signbit(bp(k, m) - y) == sa
                        a, b = np.where(same, m, a), np.where(same, b, m)
                    cols.append(np.where(has, 0.5 * (a + b), np.nan))
                    change[rows, j] = False
        return np.stack(cols, axis=1) if cols else np.zeros((y.size, 0))

    def _general_x_points(self, y):
        """Further split points in x of the integrals of :meth:`_general` (rows x k;
        subclasses add theirs)."""
        return np.zeros((y.size, 0))

    def _general_integrand(self, q, y, x, f):
        """The integrand over x of a quantity of a subclass (general conditional laws)."""
        raise ValueError(f"quantities: {q!r} has no integrand for a general conditional law")

    def _general_window(self, y, x, lo=None, hi=None, alpha=None, beta=-1.0):
        """``E[(alpha + beta Y)^2; lo < Y < hi | X = x]`` by tanh-sinh over t, split at the
        conditional law's breakpoints; by default ``E[(x + y - Y)^2; y < Y < x + y | X = x]``
        (SPRPT's old work)."""
        p = self.prediction
        rule = tanh_sinh_rule(3)
        a = y if lo is None else lo
        b = x + y if hi is None else np.maximum(hi, a)
        alpha = x + y if alpha is None else alpha
        cuts = []
        if p._bp is not None:
            for v in p._bp(x):
                cuts.append(np.clip(np.broadcast_to(np.asarray(v, float), x.shape), a, b))
        edges = np.sort(np.stack([a, *cuts, b], axis=-1), axis=-1)
        t, w = finite_nodes(edges[..., :-1], edges[..., 1:], rule)
        xb = x[..., None, None]
        ab = np.broadcast_to(alpha, x.shape)[..., None, None]
        dens = np.asarray(p._pdf(t, np.broadcast_to(xb, t.shape)), float)
        return np.sum(w * (ab + beta * t) ** 2 * dens, axis=(-1, -2))

    # ------------------------------------------------------------------ atoms
    def _atoms(self, y, quantities):
        vals, probs = self.size.atoms
        p = self.prediction
        pos = vals > 0
        xv, pv = vals[pos][None, :], probs[pos][None, :]
        yy = y[:, None]
        a = yy / xv
        out = {}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for q in quantities:
                if q == "fy":
                    v = pv * p.noise_pdf(a) / xv
                elif q == "Fy":
                    v = pv * p.noise_cdf(a)
                elif q == "L":
                    v = pv * xv * p.noise_cdf(a)
                elif q == "Lbar":
                    v = pv * xv * p.noise_sf(a)
                elif q == "S2":
                    v = pv * xv**2 * p.noise_cdf(a)
                elif q == "K":  # P(a < Z <= 1 + a): a difference of tails above the
                    # median (of cdfs it is 0 once P(Z > a) < 1e-16)
                    med = float(p.noise_median) if np.isfinite(p.noise_median) else 1.0
                    v = pv * np.where(a >= med, p.noise_sf(a) - p.noise_sf(1.0 + a),
                                      p.noise_cdf(1.0 + a) - p.noise_cdf(a))
                else:  # V2
                    v = pv * xv**2 * p.noise_window_square(a)
                out[q] = v.sum(axis=1)
        # jobs of size 0 are predicted 0: they count in Fy, never in loads
        if np.any(~pos) and "Fy" in out:
            out["Fy"] = out["Fy"] + probs[~pos].sum() * (y >= 0)
        self.last_error = {q: np.zeros(y.shape) for q in quantities}
        return out

    # ------------------------------------------------------------------ continuous
    def fixed_z(self) -> set:
        """The split points of the Z-integral that every row has: the noise law's kinks, 1,
        and ``extra_z``."""
        return set(self.prediction.noise_breakpoints) | {1.0} | {float(v) for v in self.extra_z}

    def _z_points(self, y, extra=None):
        """Breakpoints of the Z-integral inside the noise support, per row (unsorted).

        ``extra`` (rows x k, nan allowed) adds per-row split points."""
        p, s = self.prediction, self.size
        zlo, zhi = p.noise_support
        fixed = np.array(sorted(z for z in self.fixed_z() if zlo < z < zhi), dtype=float)
        kinks = np.array([x for x in s.breakpoints if 0 < x < np.inf], dtype=float)
        cols = [np.broadcast_to(fixed, (y.size, fixed.size))]
        if kinks.size and self.kink_splits:
            r = y[:, None] / kinks[None, :]
            cols += [r, 1.0 + r]
        # soft splits where y/z crosses the bulk of X: keeps sharp transitions
        # (e.g. f_Y's log-singularity at small y) inside one piece's end-cluster
        soft = y[:, None] / self._bulk[None, :]
        cols += [soft, 1.0 + soft]
        if extra is not None:
            cols.append(np.where(np.isfinite(extra), extra, zlo))
        z = np.clip(np.concatenate(cols, axis=1), zlo, zhi)
        # per row: drop points on the support ends and repeated points, then keep only as
        # many columns as the busiest row needs (the rest pad with the upper end)
        z = inner_points(z, zlo, zhi)
        # pad with the row's largest point (a zero-width piece), or the lower end
        pad = np.max(np.where(np.isfinite(z), z, zlo), axis=1, initial=zlo)
        return np.where(np.isfinite(z), z, pad[:, None])

    def u_edges(self, points):
        """``(u, 1 - u)`` (rows x pieces + 1, sorted per row) at the ends of the pieces in
        probability space ``u = G(z)`` between the split points ``points`` (rows x k) and
        the support's ends; :meth:`_nodes_u` takes them in place of ``points`` (callers that
        refine pieces of the same rows compute them once)."""
        p = self.prediction
        n = points.shape[0]
        u = np.concatenate([np.zeros((n, 1)), p.noise_cdf(points), np.ones((n, 1))], axis=1)
        uc = np.concatenate([np.ones((n, 1)), p.noise_sf(points), np.zeros((n, 1))], axis=1)
        order = np.argsort(u, axis=1, kind="stable")
        return np.take_along_axis(u, order, 1), np.take_along_axis(uc, order, 1)

    def _nodes_u(self, y, rule, extra=None, points=None, piece=None, nodes=None, alt=None):
        """Nodes in probability space u = G(z): weights are du, no density needed.

        ``points`` (rows x k), when given, are the split points in z instead of
        :meth:`_z_points` (callers that refine a row keep its pieces fixed), or the pair
        ``(u, 1 - u)`` of :meth:`u_edges` for them. With
        ``piece`` (one index per row) only that piece of each row gets nodes (the same
        values as the full call's; the piece count returned is 1), and with ``nodes`` too (a
        mask over the rule's nodes) z only at those nodes (1 elsewhere; the weights at all).
        With ``alt = (mask, rule2)`` (rows x pieces; ``rule2`` of as many nodes as ``rule``),
        the pieces where ``mask`` is true get ``rule2``'s nodes instead (not with ``piece``)."""
        p = self.prediction
        n = y.size
        if isinstance(points, tuple):  # the edges in u of an earlier call (u_edges)
            u, uc = points
        else:
            u, uc = self.u_edges(self._z_points(y, extra) if points is None else points)
        ua, ub = u[:, :-1], u[:, 1:]
        uca, ucb = uc[:, :-1], uc[:, 1:]
        if piece is not None:
            rows = np.arange(n)
            ua, ub = ua[rows, piece][:, None], ub[rows, piece][:, None]
            uca, ucb = uca[rows, piece][:, None], ucb[rows, piece][:, None]
        left, right = rule.left, rule.right
        if piece is not None and nodes is not None:
            left, right = left[nodes], right[nodes]
        # node positions in u and 1-u, each accurate where it is small, and the weights (the
        # piece's width times the rule's; compiled: _u_nodes)
        piece_ends = tuple(np.ascontiguousarray(v, float) for v in (ua, ub, uca, ucb))
        rule1 = tuple(np.ascontiguousarray(v, float) for v in (left, right, rule.weight))
        if alt is None:
            un, ucn, w = _u_nodes(*piece_ends, *rule1)
        else:  # the pieces of mask on rule2 (of as many nodes), each piece computed once
            mask, rule2 = alt
            un, ucn, w = _u_nodes_mixed(
                *piece_ends, *rule1,
                *(np.ascontiguousarray(v, float) for v in (rule2.left, rule2.right,
                                                            rule2.weight)),
                np.ascontiguousarray(mask, dtype=np.bool_))
        # each node's z from the side where it is accurate, each function only where used
        low = un < 0.5
        zn = np.empty(un.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            zn[low] = p.noise_ppf(un[low])
            high = ~low
            zn[high] = p.noise_isf(np.minimum(ucn[high], 0.5))
        if piece is not None and nodes is not None:
            full = np.ones(w.shape)
            full[:, nodes] = zn
            zn = full
        return zn, w, ua.shape[1]

    def _nodes_z(self, y, rule, extra=None, points=None):
        """Nodes in z with weights dz * density (for noise laws given by a density);
        ``points`` as in :meth:`_nodes_u`."""
        p = self.prediction
        zlo, zhi = p.noise_support
        n = y.size
        pts = np.sort(self._z_points(y, extra) if points is None else points, axis=1)
        edges = np.concatenate([np.full((n, 1), zlo), pts], axis=1)
        if np.isfinite(zhi):
            edges = np.concatenate([edges, np.full((n, 1), zhi)], axis=1)
            zn, w = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
        else:
            zf, wf = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
            last = edges[:, -1]
            scale = np.maximum(last, max(p.noise_median, 1e-300))
            zh, wh = halfline_nodes(last, scale, self.level)
            zn = np.concatenate([zf, zh[:, None, :]], axis=1)
            w = np.concatenate([wf, wh[:, None, :]], axis=1)
        pieces = zn.shape[1]
        zn, w = zn.reshape(n, -1), w.reshape(n, -1)
        with np.errstate(invalid="ignore", over="ignore"):
            w = w * np.asarray(p.noise_pdf(zn), float)
        return zn, w, pieces

    def _continuous(self, y, quantities):
        rule = tanh_sinh_rule(self.level)
        if getattr(self.prediction, "integrate_in_z", False):
            z, w, pieces = self._nodes_z(y, rule)
        else:
            z, w, pieces = self._nodes_u(y, rule)
        coarse = np.tile(rule.coarse, pieces)
        coarse4 = np.tile(rule.coarse4, pieces)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            # nodes whose u underflowed onto 0 or 1: keep z finite and positive
            z = np.clip(z, np.finfo(float).tiny, np.finfo(float).max)
            yy = y[:, None]
            memo = self._memo(yy, z)
            out, err = {}, {}
            for q in quantities:
                vals = self._integrand(q, yy, z, memo)
                vals = np.where(w > 0, vals, 0.0)
                out[q], err[q] = nested_sum(vals * w, coarse, coarse4)
        self.last_error = err
        return out

    def _memo(self, y, z) -> _SizeMemo:
        """The size law's functions at the cut points of the integrands at ``(y, z)``:
        ``t = y / z`` (``Y <= y``) and ``hi = y / (z - 1)`` (``X - Y + y > 0``)."""
        return _SizeMemo(self.size, y / z, np.where(z > 1.0, y / (z - 1.0), np.inf))

    @staticmethod
    def _integrand(q, y, z, m: _SizeMemo):
        if q == "fy":
            return m.get("pdf", "t") / z
        if q == "Fy":
            return m.get("cdf", "t")
        if q == "L":
            return m.get("PM1", "t")
        if q == "Lbar":
            return m.get("TM1", "t")
        if q == "S2":
            return m.get("PM2", "t")
        if q == "K":
            # P(t < X < hi) for z > 1, P(X > t) for z <= 1 (hi = inf)
            return m.between("t", "hi")
        # V2: E[(a X + y)^2; t < X < hi] with a = 1 - z
        return m.square_window(1.0 - z, y, "t", "hi")


class _SizeMemo:
    """Size-law functions at the thresholds ``t`` and ``hi``, each computed once."""

    def __init__(self, size: SizeDistribution, t: np.ndarray, hi: np.ndarray):
        self.size, self.args, self.cache = size, {"t": t, "hi": hi}, {}

    def get(self, fn: str, arg: str) -> np.ndarray:
        key = (fn, arg)
        if key not in self.cache:
            s, x = self.size, self.args[arg]
            if fn.startswith("TM"):
                v = s.tail_moment(int(fn[2:]), x)
            elif fn.startswith("PM"):
                v = s.partial_moment(int(fn[2:]), x)
            else:
                v = getattr(s, fn)(x)
            self.cache[key] = np.asarray(v, dtype=float)
        return self.cache[key]

    def window(self, k: int, lo: str, hi: str) -> np.ndarray:
        """``E[X**k; lo < X < hi]`` as a difference of tail moments (``hi`` may be inf)."""
        fin = np.isfinite(self.args[hi])
        return self.get(f"TM{k}", lo) - np.where(fin, self.get(f"TM{k}", hi), 0.0)

    def between(self, lo: str, hi: str) -> np.ndarray:
        """``P(lo < X < hi)`` (``hi`` may be inf), from whichever of the differences of
        cdfs and of survival functions is free of cancellation; at least 0."""
        fin = np.isfinite(self.args[hi])
        d_sf = self.get("sf", lo) - np.where(fin, self.get("sf", hi), 0.0)
        d_cdf = np.where(fin, self.get("cdf", hi), 1.0) - self.get("cdf", lo)
        return np.maximum(np.where(self.get("cdf", lo) > 0.5, d_sf, d_cdf), 0.0)

    def square_window(self, a, y, lo: str, hi: str) -> np.ndarray:
        """``E[(a X + y)**2; lo < X < hi]`` from the moments of orders 0, 1, 2 (0 where the
        window is empty; at least 0)."""
        d0, d1, d2 = (self.window(k, lo, hi) for k in range(3))
        val = a * a * d2 + 2.0 * a * y * d1 + y * y * d0
        return np.where(d0 > 0, np.maximum(val, 0.0), 0.0)
