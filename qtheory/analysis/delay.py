"""DelayPredict: FCFS for the first ``limit`` of service, then SPRPT on a prediction.

The baseline of R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in
Predictions for Scheduling", NeurIPS 2024 (arXiv:2402.03564), which delays the
expensive prediction instead of using a cheap one: a job runs its first L of
service at rank -inf (FCFS, not preempted); a job still present then gets its
prediction y; in the server-time cost model it then needs c2 of server time at
rank 0 (overhead, not its own work); then it is served by SPRPT on its own work w,
rank ``y - w`` (``w >= L``). With external costs (or c2 = 0) there is no overhead.

Derivation (SOAP: Z. Scully, M. Harchol-Balter, A. Scheller-Wolf, POMACS 2018,
Theorem 5.5). Write m_L = E[min(X, L)], p_L = P(X > L), Y = X Z and, for a rank
level r, t = L + r and

    A(r) = E[X - L; X > L, Y <= t],
    D(r) = 1 - lambda (m_L + c2 p_L + A(r)).

* A tagged job of size x <= L has worst future rank -inf: new jobs never get
  ahead of it and old jobs are served for their first min(X, L) only, so
  E[T(x)] = x + lambda E[min(X, L)^2] / (2 (1 - lambda m_L)).
* A tagged job of size x > L and prediction y has worst future rank
  r0 = max(0, y - L) (c2 > 0; the overhead phase sits at rank 0) or r0 = y - L
  (c2 = 0). New r-work: min(X, L), plus, if the rank-0 phase can be passed
  (r > 0 or c2 = 0), c2 1{X > L} + (X - L) 1{X > L, Y - L < r}; so
  1 - rho_new(r) = D(r) where it is passable and 1 - lambda m_L where it is not.
  Old r-work (the rank-0 phase is passable at r0 >= 0): interval 0 is
  min(X, L) + c2 1{X > L} + (X - L) 1{X > L, Y - L <= r}, so 1 - rho_0^old(r) = D(r);
  an old job with X > L and Y - L > r has a second interval (X - Y + r)^+ once
  its rank y - w has come down to r. Hence, with
  S(r) = E[X^2; X <= L] + E[(X + c2)^2; X > L, Y <= t] + (L + c2)^2 P(X > L, Y > t)
  + V(r), V(r) = E[(X - Y + r)^2; Y > t, Y - X < r],

      E[T(x, y)] = lambda S(r0) / (2 (1 - rho_0^old(r0)) (1 - rho_new(r0)))
                   + (L + c2) / (1 - rho_new(r0)) + integral_{y-x}^{y-L} du / (1 - rho_new(u)).

Averaging over (X, Y): the law of r0 on {X > L} has density f_{Y,L}(L + r)
(the density of Y on X > L) on r > r_lo, r_lo = 0 (c2 > 0) or -L (c2 = 0), plus
for c2 > 0 an atom P(X > L, Y <= L) at r = 0; by Fubini the residence integrals
become integral K(u) / (1 - rho_new(u)) du with K(u) = P(X > L, Y - X < u < Y - L)
= P(Y > L + u, Y - X < u). Below r_lo, 1 - rho_new = 1 - lambda m_L and the mass of
K there is C = E[(X - max(L, Y))^+] (c2 > 0) or E[(X - L - Y)^+] (c2 = 0). So

    E[T] = E[X; X <= L] + P(X <= L) lambda E[min(X, L)^2] / (2 (1 - lambda m_L))
         + [c2 > 0] P(X > L, Y <= L) (lambda S(0) / (2 D(0) (1 - lambda m_L))
                                      + (L + c2) / (1 - lambda m_L))
         + C / (1 - lambda m_L)
         + integral_{r_lo}^inf [f_{Y,L}(L + r) (lambda S(r) / (2 D(r)^2) + (L + c2) / D(r))
                                + K(r) / D(r)] dr.

For each r the functions of r above are integrals over the noise Z of
closed-form partial moments of X (cut points L, t/z, -r/(1 - z), r/(z - 1)),
computed by tanh-sinh quadrature split at the noise law's kinks, at z = 1, at
z = t/L (where all cut points meet) and where a cut point crosses a kink of the
size law; they vanish for z > max(1, t/L). The outer integral over r is split at
the matching kinks. ``limit = 0`` with c2 = 0 is SPRPT and ``limit = inf`` FCFS.
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .outer import FIRST_C, OuterGrid, adaptive, make_grid
from .quadrature import finite_nodes, halfline_nodes, nested_sum, tanh_sinh_rule
from .soap_levels import off_cuts

__all__ = ["DelayPredictAnalysis", "delay_predict_mean"]

_NAMES = ("fyl", "Pl", "M1", "M2", "V", "K")
_FIRST_INNER = 5
_LAST_INNER = 8
_INNER_SHARE = 0.2  # share of the tolerance left to the inner (noise) integrals


class DelayPredictAnalysis:
    """Mean response time of DelayPredict for one queue (size law, prediction, L, c2).

    Everything except the final weighted sums is independent of the arrival
    rate and cached, so :meth:`mean` at several loads is cheap.

    Parameters
    ----------
    size : SizeDistribution
        A continuous size law.
    prediction : PredictionModel
        A multiplicative model ``Y = X Z`` (or exact predictions).
    limit : float
        L >= 0, the FCFS part of every job (``inf`` gives FCFS).
    expensive_cost : float
        c2 >= 0, server time of the prediction at rank 0 (server-time model);
        pass 0 for the external-cost model.
    rtol : float
        Relative tolerance.

    Examples
    --------
    >>> from qtheory import Exponential, ExponentialPrediction
    >>> a = DelayPredictAnalysis(Exponential(mean=1.0), ExponentialPrediction(), limit=0.0)
    >>> round(a.mean(0.8)[0], 8)  # limit 0 is SPRPT
    3.13752399
    """

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, limit: float,
                 expensive_cost: float = 0.0, rtol: float = 1e-9):
        L = float(limit)
        c2 = float(expensive_cost)
        if np.isnan(L) or L < 0:
            raise ValueError(f"limit must be >= 0, got {limit!r}")
        if not (np.isfinite(c2) and c2 >= 0):
            raise ValueError(f"expensive_cost must be finite and >= 0, got {expensive_cost!r}")
        if not (np.isfinite(rtol) and rtol > 0):
            raise ValueError(f"rtol must be > 0, got {rtol!r}")
        if getattr(prediction, "is_general", False):
            raise ValueError("prediction: DelayPredict needs a multiplicative prediction model")
        if size.is_discrete and np.isfinite(L):
            raise ValueError("size: the DelayPredict analysis needs a continuous size law")
        self.size, self.prediction = size, prediction
        self.limit, self.c2, self.rtol = L, c2, float(rtol)
        self.m1, self.m2 = float(size.moment(1)), float(size.moment(2))
        self._median = float(size.scale)
        self._grids: dict[int, tuple[OuterGrid, np.ndarray]] = {}
        self._inner_cache: dict[tuple, tuple[dict, dict]] = {}
        if not np.isfinite(L):
            return
        s = size
        self.p_long = float(s.sf(L))
        self.e_short = float(s.partial_moment(1, L)) if L > 0 else 0.0
        s2 = float(s.partial_moment(2, L)) if L > 0 else 0.0
        self.s2_short = s2
        self.f_short = float(s.cdf(L))
        self.m_L = self.e_short + L * self.p_long
        self.q2 = s2 + L * L * self.p_long
        self.r_lo = 0.0 if c2 > 0 else -L
        self._kinks = sorted({float(v) for v in (*s.breakpoints, *s.support)
                              if 0 < v < np.inf})
        if prediction.is_exact:
            self._zs = [1.0]
        else:
            self._zs = sorted({1.0, *prediction.noise_breakpoints})
        if self.p_long > 0:
            self._atom = self._inner(np.array([0.0]), _LAST_INNER)[0] if c2 > 0 else None
            self._cres, self._cres_err = self._residence_constant()

    # ------------------------------------------------------------------ public
    def mean(self, lam: float) -> tuple[float, float]:
        """Return ``(E[T], error estimate)`` at arrival rate ``lam``."""
        lam = float(lam)
        if not (np.isfinite(lam) and lam > 0):
            raise ValueError(f"lam must be finite and > 0, got {lam!r}")
        L, c2 = self.limit, self.c2
        if not np.isfinite(L):  # FCFS: Pollaczek-Khinchine
            if lam * self.m1 >= 1.0 or not np.isfinite(self.m2):
                return np.inf, 0.0
            return self.m1 + lam * self.m2 / (2.0 * (1.0 - lam * self.m1)), 0.0
        if lam * (self.m1 + c2 * self.p_long) >= 1.0 or not np.isfinite(self.m2):
            return np.inf, 0.0
        d_minus = 1.0 - lam * self.m_L
        short = self.e_short + self.f_short * lam * self.q2 / (2.0 * d_minus)
        if self.p_long <= 0.0:
            return short, 0.0
        base = short + self._cres / d_minus
        base_err = self._cres_err / d_minus
        if self._atom is not None:
            q = self._atom
            d0 = 1.0 - lam * (self.m_L + c2 * self.p_long + q["M1"][0] - L * q["Pl"][0])
            base += float(q["Pl"][0] * (0.5 * lam * self._sigma(q)[0] / (d0 * d_minus)
                                        + (L + c2) / d_minus))

        def evaluate(level):
            grid, r = self._grid(level)
            inner = _FIRST_INNER
            while True:
                q, e = self._inner_at(level, inner, r)
                v, err = grid.integrate(self._integrand(lam, q))
                ierr = self._inner_error(lam, grid, q, e)
                if ierr <= _INNER_SHARE * self.rtol * abs(base + v) or inner >= _LAST_INNER:
                    return float(base + v), float(base_err + err + ierr)
                inner += 1

        # C = FIRST_C at level 3, tried first with many breakpoints: it was accepted 1.6e-8
        # off with an estimate of 1.5e-11 (Weibull 1.52 sizes, uniform noise 0.21, load
        # 0.502, L = 1.546: C = 1000); sending every such value to level 4 cost up to 2.6
        # times as much (bounded Pareto, uniform noise: 175 -> 385 ms)
        first = 3 if len(self._r_breakpoints()) > 2 else 4
        return adaptive(evaluate, self.rtol, "DelayPredict mean response time", first=first,
                        first_c=FIRST_C)

    def conditional(self, lam: float, x, y) -> np.ndarray:
        """E[T(x, y)] of a job of size ``x`` and prediction ``y`` (vectorised, broadcast):
        the per-job terms of the module docstring. A job of size ``x <= L``:
        ``x + lambda E[min(X, L)^2] / (2 (1 - lambda m_L))``; a larger one, with
        ``r0 = max(0, y - L)`` (``y - L`` when ``c2 = 0``),
        ``lambda S(r0) / (2 D(r0) D_new(r0)) + (L + c2) / D_new(r0)
        + int_{y - x}^{y - L} du / D_new(u)``, where ``D_new(u) = D(u)`` when the rank-0
        phase can be passed (``u > 0``, or ``c2 = 0``) and ``1 - lambda m_L`` otherwise. The
        functions of the level come from Chebyshev tables in ``r``
        (:class:`~qtheory.analysis.soap_levels.PiecewiseTable`, cut at the breakpoints of the
        mean's outer integral) of the noise quadrature at its finest level.

        Examples
        --------
        >>> import qtheory as qt
        >>> a = DelayPredictAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                          limit=0.5, expensive_cost=0.2)
        >>> a.conditional(0.6, [0.3, 2.0], [1.0, 1.5]).round(6)
        array([0.370848, 5.52893 ])
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        L, c2 = self.limit, self.c2
        if not np.isfinite(L):  # FCFS
            if lam * self.m1 >= 1.0 or not np.isfinite(self.m2):
                return np.full(x.shape, np.inf)
            return x + lam * self.m2 / (2.0 * (1.0 - lam * self.m1))
        if lam * (self.m1 + c2 * self.p_long) >= 1.0 or not np.isfinite(self.m2):
            return np.full(x.shape, np.inf)
        d_minus = 1.0 - lam * self.m_L
        out = np.array(x + lam * self.q2 / (2.0 * d_minus), dtype=float)
        long_ = x > L
        if not np.any(long_):
            return out
        xl, yl = x[long_], y[long_]
        r0 = np.maximum(yl - L, self.r_lo)
        q = self._level_values(r0)
        d = 1.0 - lam * (self.m_L + c2 * self.p_long + q["M1"] - L * q["Pl"])
        # the rank-0 phase stops new jobs at r0 = 0 (c2 > 0): only d_minus there
        d_new = np.where((c2 > 0) & (r0 <= 0.0), d_minus, d)
        wait = 0.5 * lam * self._sigma(q) / (d * d_new)
        lo, hi = yl - xl, yl - L
        res = (np.maximum(np.minimum(hi, self.r_lo) - lo, 0.0)) / d_minus
        a, b = np.maximum(lo, self.r_lo), hi
        live = np.flatnonzero(b > a)
        bps = np.array(self._r_breakpoints())
        cuts_all = np.array(sorted({self.r_lo, *bps}))
        scale = self._r_scale()
        rule = tanh_sinh_rule(4)
        # jobs in chunks of about 1e6 nodes (a node array per job and piece between cuts)
        chunk = max(1, (1 << 20) // ((bps.size + 1) * rule.left.size))
        for i in range(0, live.size, chunk):
            rows = live[i:i + chunk]
            aa, bb = a[rows], b[rows]
            cuts = np.clip(bps[None, :], aa[:, None], bb[:, None])
            edges = np.sort(np.concatenate([aa[:, None], cuts, bb[:, None]], axis=1), axis=1)
            u, w = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
            # (nodes moved off the tables' cuts: soap_levels.off_cuts)
            qu = self._level_values(off_cuts(u.ravel(), cuts_all, scale), strict=False)
            du = 1.0 - lam * (self.m_L + c2 * self.p_long + qu["M1"] - L * qu["Pl"])
            res[rows] += np.sum(w * (1.0 / du).reshape(u.shape), axis=(-1, -2))
        out[long_] = wait + (L + c2) / d_new + res
        return out

    def _r_scale(self) -> float:
        """The scale of the rank levels: the median size times the noise's median."""
        return self._median * (1.0 if self.prediction.is_exact
                               else self.prediction.noise_median)

    def _level_values(self, r, strict: bool = True) -> dict:
        """``Pl, M1, M2, V`` at the levels ``r`` (1-D) from the tables in ``r`` (built on
        first use; the points without a table by the noise quadrature at its finest
        level)."""
        table = self.__dict__.get("_table")
        if table is None:
            from .soap_levels import PiecewiseTable

            names = ("Pl", "M1", "M2", "V")
            scale = self._r_scale()

            def evaluate(v):
                q, e = self._inner(np.asarray(v, float), _LAST_INNER)
                return {n: q[n] for n in names}, {n: e[n] for n in names}

            m2 = self.m2 if np.isfinite(self.m2) else 1.0
            refs = {"Pl": 1.0, "M1": self.m1, "M2": 1e-3 * m2, "V": 1e-3 * m2}
            table = self.__dict__["_table"] = PiecewiseTable(
                evaluate, names, self._r_breakpoints() or [self.r_lo], scale, refs,
                lower=self.r_lo)
        return table.functions(np.asarray(r, float), strict)

    # ------------------------------------------------------------------ outer
    def _sigma(self, q):
        """S(r) = sum_i E[(X_i^old[r])^2] (module docstring)."""
        L, c2 = self.limit, self.c2
        return (self.s2_short + q["M2"] + 2.0 * c2 * q["M1"] + c2 * c2 * q["Pl"]
                + (L + c2) ** 2 * (self.p_long - q["Pl"]) + q["V"])

    def _integrand(self, lam, q):
        L, c2 = self.limit, self.c2
        d = 1.0 - lam * (self.m_L + c2 * self.p_long + q["M1"] - L * q["Pl"])
        with np.errstate(all="ignore"):
            return (q["fyl"] * (0.5 * lam * self._sigma(q) / (d * d) + (L + c2) / d)
                    + q["K"] / d)

    def _inner_error(self, lam, grid, q, e) -> float:
        """First-order effect of the inner errors on the outer integral."""
        ref = self._integrand(lam, q)
        total = 0.0
        for n in _NAMES:
            if not np.any(e[n]):
                continue
            moved = dict(q)
            moved[n] = q[n] + e[n]
            diff = np.abs(self._integrand(lam, moved) - ref)
            total += float(np.sum(np.abs(grid.w) * np.nan_to_num(diff)))
        return total

    def _r_breakpoints(self):
        L = self.limit
        pts = {0.0}
        for zb in self._zs:
            pts.add(L * (zb - 1.0))
            for xk in self._kinks:
                pts |= {xk * zb - L, xk * (zb - 1.0)}
        return sorted(p for p in pts if p > self.r_lo and np.isfinite(p))

    def _grid(self, level):
        if level not in self._grids:
            scale = self._r_scale()
            g = make_grid(self.r_lo, np.inf, self._r_breakpoints(), scale, level)
            self._grids[level] = (g, g.x)
        return self._grids[level]

    def _inner_at(self, level, inner, r):
        key = (level, inner)
        if key not in self._inner_cache:
            prev = self._inner_cache.get((level - 1, inner))
            if prev is None:
                self._inner_cache[key] = self._inner(r, inner)
            else:
                # nested rules: the previous level's nodes are this level's coarse nodes
                coarse = self._grids[level][0].coarse
                q, e = self._inner(r[~coarse], inner)
                out, err = {}, {}
                for n in _NAMES:
                    out[n], err[n] = np.empty(r.size), np.empty(r.size)
                    out[n][coarse], err[n][coarse] = prev[0][n], prev[1][n]
                    out[n][~coarse], err[n][~coarse] = q[n], e[n]
                self._inner_cache[key] = (out, err)
        return self._inner_cache[key]

    # ------------------------------------------------------------------ inner
    def _between(self, lo, hi, ks=(0, 1, 2)):
        """E[X^k; lo < X <= hi] for k in ks (hi may be inf), without cancellation:
        tail moments where lo is above the median, partial moments below it."""
        s = self.size
        lo = np.maximum(lo, 0.0)
        live = hi > lo
        upper = live & (lo >= self._median)
        lower = live & ~upper
        out = [np.zeros(lo.shape) for _ in ks]
        with np.errstate(all="ignore"):
            for mask, tail in ((upper, True), (lower, False)):
                if not np.any(mask):
                    continue
                a, b = lo[mask], hi[mask]
                fin = np.isfinite(b)
                bf = np.where(fin, b, a)
                for o, k in zip(out, ks):
                    if tail:
                        v = np.asarray(s.tail_moment(k, a), float) - np.where(
                            fin, np.asarray(s.tail_moment(k, bf), float), 0.0)
                    else:
                        v = np.where(fin, np.asarray(s.partial_moment(k, bf), float),
                                     s.moment(k)) - np.asarray(s.partial_moment(k, a), float)
                    o[mask] = np.maximum(v, 0.0)
        return out

    def _quantities(self, r, z):
        """Integrands over z (rows r, nodes z) of the functions of r; exact: z = 1."""
        L = self.limit
        t = L + r
        with np.errstate(all="ignore"):
            b = np.where(z > 0, t / z, np.inf)
            above = b > L
            P0, P1, P2 = self._between(np.full(b.shape, L), np.where(above, b, L))
            fyl = np.where(above & np.isfinite(b), np.asarray(self.size.pdf(
                np.where(np.isfinite(b), b, 0.0)), float) / z, 0.0)
            below1 = z < 1.0
            lo = np.where(below1 & (r < 0), np.maximum(b, -r / (1.0 - z)), b)
            hi = np.where(below1, np.inf, np.where((z > 1.0) & (r > 0), r / (z - 1.0), -1.0))
            hi = np.where((z == 1.0) & (r > 0), np.inf, hi)
            Q0, Q1, Q2 = self._between(lo, hi)
            a = 1.0 - z
            V = np.maximum(a * a * Q2 + 2.0 * a * r * Q1 + r * r * Q0, 0.0)
        return {"fyl": fyl, "Pl": P0, "M1": P1, "M2": P2, "V": V, "K": Q0}

    def _z_edges(self, r):
        """Per row: split points in z (sorted, padded) and the upper end."""
        p = self.prediction
        L = self.limit
        zlo, zhi = p.noise_support
        t = L + r
        top = np.minimum(zhi, np.maximum(1.0, t / L)) if L > 0 else np.full(r.shape, zhi)
        cols = [np.broadcast_to(np.array(self._zs, float), (r.size, len(self._zs)))]
        if L > 0:
            cols.append((t / L)[:, None])
        for xk in (*self._kinks, self._median):
            cols += [(t / xk)[:, None], (1.0 + r / xk)[:, None]]
        pts = np.concatenate(cols, axis=1)
        upper = np.where(np.isfinite(top), top, np.inf)[:, None]
        pts = np.where((pts > zlo) & (pts < upper), pts, np.nan)
        pts = np.sort(pts, axis=1)
        width = int(np.max(np.sum(np.isfinite(pts), axis=1), initial=0))
        pts = pts[:, :width]
        last = np.max(np.where(np.isfinite(pts), pts, zlo), axis=1, initial=zlo)
        pts = np.where(np.isfinite(pts), pts, last[:, None])
        return pts, top

    def _inner(self, r, level):
        """The functions of r at the rows ``r`` with their error estimates."""
        r = np.asarray(r, float)
        if self.prediction.is_exact:
            q = self._quantities(r[:, None], np.ones((r.size, 1)))
            return {n: v[:, 0] for n, v in q.items()}, {n: np.zeros(r.size) for n in _NAMES}
        p = self.prediction
        zlo = p.noise_support[0]
        pts, top = self._z_edges(r)
        n = r.size
        rule = tanh_sinh_rule(level)
        infinite = not np.all(np.isfinite(top))
        if infinite:
            edges = np.concatenate([np.full((n, 1), zlo), pts], axis=1)
        else:
            edges = np.concatenate([np.full((n, 1), zlo), pts, top[:, None]], axis=1)
        z, w = finite_nodes(edges[:, :-1], edges[:, 1:], rule)
        coarse, coarse4 = [rule.coarse] * z.shape[1], [rule.coarse4] * z.shape[1]
        z, w = z.reshape(n, -1), w.reshape(n, -1)
        if infinite:
            a = edges[:, -1]
            zh, wh = halfline_nodes(a, np.maximum(a, p.noise_median), level)
            hrule = tanh_sinh_rule(level, 3.4)
            z, w = np.concatenate([z, zh], axis=1), np.concatenate([w, wh], axis=1)
            coarse.append(hrule.coarse)
            coarse4.append(hrule.coarse4)
        coarse, coarse4 = np.concatenate(coarse), np.concatenate(coarse4)
        with np.errstate(all="ignore"):
            w = w * np.asarray(p.noise_pdf(z), float)
        w = np.where(np.isfinite(w), w, 0.0)
        # only the nodes of positive weight (the rows' split points are padded with
        # zero-width pieces, and the noise density vanishes outside its support)
        live = w > 0
        q = self._quantities(np.broadcast_to(r[:, None], z.shape)[live], z[live])
        out, err = {}, {}
        prod = np.zeros(z.shape)
        for name, v in q.items():
            prod[live] = np.nan_to_num(v) * w[live]
            out[name], err[name] = nested_sum(prod, coarse, coarse4)
        return out, err

    def _residence_constant(self) -> tuple[float, float]:
        """Mass of the residence kernel below r_lo: E[(X - max(L, Y))^+] (c2 > 0) or
        E[(X - L - Y)^+] (c2 = 0), by quadrature over z < 1."""
        L, s, p = self.limit, self.size, self.prediction
        if p.is_exact:
            return 0.0, 0.0
        zlo, zhi = p.noise_support
        top = min(1.0, zhi)
        if top <= zlo:
            return 0.0, 0.0
        pts = set()
        for xk in (*self._kinks, self._median):
            pts |= {L / xk, 1.0 - L / xk}
        pts = sorted(v for v in pts | set(self._zs) if zlo < v < top)
        edges = np.array([zlo, *pts, top])

        def integrand(z):
            with np.errstate(all="ignore"):
                if self.c2 > 0:
                    cut = np.where(z > 0, L / z, np.inf)
                    p0, m1 = self._between(np.full(z.shape, L), cut, ks=(0, 1))
                    tail = np.where(np.isfinite(cut), np.asarray(
                        s.tail_moment(1, np.where(np.isfinite(cut), cut, 0.0)), float), 0.0)
                    return m1 - L * p0 + (1.0 - z) * tail
                cut = L / (1.0 - z)
                return (1.0 - z) * np.asarray(s.tail_moment(1, cut), float) \
                    - L * np.asarray(s.sf(cut), float)

        best = None
        for level in range(5, 9):
            rule = tanh_sinh_rule(level)
            z, w = finite_nodes(edges[:-1], edges[1:], rule)
            with np.errstate(all="ignore"):
                vals = np.nan_to_num(integrand(z)) * np.asarray(p.noise_pdf(z), float)
            coarse = np.tile(rule.coarse, z.shape[0])
            coarse4 = np.tile(rule.coarse4, z.shape[0])
            v, e = nested_sum((vals * w).ravel(), coarse, coarse4)
            best = (float(v), 10.0 * float(e))
            if best[1] <= 1e-3 * self.rtol * max(abs(best[0]), self.m1):
                break
        return best


def delay_predict_mean(size: SizeDistribution, prediction: PredictionModel, lam: float,
                       limit: float, expensive_cost: float = 0.0,
                       rtol: float = 1e-9) -> tuple[float, float]:
    """``(E[T], error)`` of DelayPredict in the M/G/1 with arrival rate ``lam``.

    R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in Predictions
    for Scheduling", NeurIPS 2024 (arXiv:2402.03564), the DelayPredict baseline;
    derived with SOAP (Scully, Harchol-Balter, Scheller-Wolf, POMACS 2018,
    Theorem 5.5), see the module docstring for the formula. A job runs its first
    ``limit`` of service FCFS, then (server-time model) ``expensive_cost`` of
    server time at rank 0, then SPRPT on its own work (rank ``y - w``). For the
    external-cost model pass ``expensive_cost=0``.

    Parameters
    ----------
    size : SizeDistribution
    prediction : PredictionModel
    lam : float
        Arrival rate.
    limit : float
        L >= 0 (``inf``: FCFS; 0 with no cost: SPRPT).
    expensive_cost : float
        c2 >= 0, paid in server time.
    rtol : float
        Relative tolerance; a :class:`~qtheory.QuadratureWarning` reports a miss.

    Returns
    -------
    (float, float)
        The mean response time and its estimated absolute error; ``(inf, 0)``
        when ``lam (E[X] + c2 P(X > L)) >= 1``.

    Examples
    --------
    >>> from qtheory import Exponential, UniformPrediction
    >>> v, err = delay_predict_mean(Exponential(mean=1.0), UniformPrediction(0.5), 0.5,
    ...                             limit=float("inf"))
    >>> v  # FCFS
    2.0
    """
    return DelayPredictAnalysis(size, prediction, limit, expensive_cost, rtol).mean(lam)
