"""SPJF, PSPJF and SPRPT: M/G/1 scheduling on predicted sizes.

Formulas (notation of ``shared/reference/formulas.md``; D(y) = 1 - rho'_y):

* SPJF, M. Mitzenmacher, "Scheduling with Predictions and the Price of
  Misprediction", ITCS 2020 (arXiv:1902.00732), Section 3:
  E[T(x, y)] = x + lambda E[X^2] / (2 D(y)^2).
* PSPJF (same paper; derived with SOAP):
  E[T(x, y)] = x / D(y) + lambda E[X^2; Y <= y] / (2 D(y)^2).
  Averaged, the first term is integral dL / (1 - lambda L) = -ln(1 - rho)/lambda.
* SPRPT, rank y - a (same paper; SOAP, Scully, Harchol-Balter, Scheller-Wolf,
  POMACS 2018, Theorem 5.5):
  E[T(x, y)] = lambda (E[X^2; Y <= y] + V2(y)) / (2 D(y)^2)
             + integral_{(y-x)+}^{y} dv / D(v) + (x - y)+,
  with V2 the old work of jobs predicted above y (:mod:`qtheory.analysis.joint`).
  Averaged, the residence term becomes E[(X - Y)+] + integral K(u)/D(u) du with
  K(u) = P(Y > u, Y - X < u), a one-dimensional integral (swap the order of
  integration in E[integral_0^{min(X,Y)} da / D(Y - a)]).

All lambda-independent functions of y live on a cached grid, so a sweep over
loads costs one weighted sum per load.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .joint import JointIntegrals
from .outer import FIRST_C, SQUARE_C, OuterGrid, adaptive, make_grid
from .quadrature import finite_nodes, tanh_sinh_rule
from .soap_levels import off_cuts

__all__ = ["PredictionAnalysis", "PREDICTION_POLICIES"]

PREDICTION_POLICIES = ("SPJF", "PSPJF", "SPRPT")
_INNER_RTOL = 1e-10


_FEW_POINTS = 512  # point values for at most this many points go to _finest (_tabled)


class PredictionAnalysis:
    """Response times of SPJF, PSPJF and SPRPT for one (size, prediction) pair.

    Examples
    --------
    >>> from qtheory import Exponential, ExactPrediction
    >>> a = PredictionAnalysis(Exponential(mean=1.0), ExactPrediction())
    >>> round(a.mean("SPJF", 0.5)[0], 6)  # = SJF, since predictions are exact
    1.712686
    """

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, rtol: float = 1e-9):
        if prediction.is_exact and size.is_discrete:
            raise ValueError(
                "prediction: exact predictions of a size law with atoms (equal predictions tie) "
                "are not supported by the prediction analyses; with exact predictions SPJF, "
                "PSPJF and SPRPT are SJF, PSJF and SRPT, which take atoms")
        self.size = size
        self.prediction = prediction
        self.rtol = rtol
        self.m1 = size.moment(1)
        self.m2 = size.moment(2)
        self.joint = JointIntegrals(size, prediction)
        self._grids: dict[tuple[int, float], tuple[OuterGrid, dict]] = {}
        self._skip_constants: dict[float, tuple[float, float]] = {}
        # many kinks -> many short pieces, each smooth: start one level lower
        n_pieces = (len(prediction.noise_breakpoints) if not prediction.is_general else 1) \
            + 2 * len(size.breakpoints)
        self._inner_level = 3 if n_pieces > 3 else 4
        self._point_tables: dict[tuple, object] = {}  # conditional: tables in y (_tabled)
        self.exact_conditional = False  # True: every point by _finest (no tables)

    # ------------------------------------------------------------------ grid
    def _y_breakpoints(self):
        s, p = self.size, self.prediction
        lo, hi = s.support
        xs = {v for v in (*s.breakpoints, lo, hi) if 0 < v < np.inf}
        if p.is_general:  # no product structure: the law's breakpoints at the size kinks
            pts = set(xs)
            if p._bp is not None:
                for x in {lo, *xs}:
                    pts |= {float(v) for v in np.ravel(p._bp(np.asarray(x, float)))
                            if np.isfinite(v) and v > 0}
            return 0.0, np.inf, sorted(pts)
        zs = set(p.noise_breakpoints) | ({1.0} if p.is_exact else set())
        pts = {x * z for x in xs for z in zs} | {x * (z - 1.0) for x in xs for z in zs if z > 1}
        # a noise law without kinks (exponential, lognormal) left the half-line in one piece,
        # but the integrands still change where a kink or end x of the size law sits for the
        # typical noise factor, over a scale of y itself: cut there too (bounded Pareto on
        # [0.1, 372] with exponential noise, PSPJF at load 0.742: the fourth level was 5.3e-9
        # off with an estimate of 3.6e-11, its change from the third 3.8e-7; now 1.9e-11)
        # (a piece between them over decades takes the rule in log y: make_grid)
        if not zs and xs and np.isfinite(p.noise_median) and p.noise_median > 0:
            pts |= {x * float(p.noise_median) for x in xs}
        zlo, zhi = p.noise_support
        ylo = lo * zlo
        yhi = hi * zhi if np.isfinite(hi) and np.isfinite(zhi) else np.inf
        return ylo, yhi, sorted(pts)

    def _grid(self, level: int, names: tuple[str, ...], lo: float = 0.0):
        key = (level, float(lo))
        if key not in self._grids:
            ylo, yhi, pts = self._y_breakpoints()
            scale = self.size.scale * (1.0 if self.prediction.is_general
                                       else self.prediction.noise_median)
            # from 0, not from the least prediction: SPRPT's kernel K(u) = P(Y > u,
            # Y - X < u) is positive below it
            self._grids[key] = (make_grid(float(lo), yhi, [*pts, ylo], scale, level), {})
        grid, cache = self._grids[key]
        missing = tuple(n for n in names if n not in cache)
        if missing:
            prev = self._grids.get((level - 1, float(lo)))
            if prev is not None and all(n in prev[1] for n in missing):
                # nested rule: the previous level's nodes are this level's coarse nodes
                new = ~grid.coarse
                part = OuterGrid(grid.x[new], grid.w[new], grid.coarse[new], grid.coarse4[new])
                fresh = self._inner(part, missing)
                for n in missing:
                    v = np.empty(grid.x.size)
                    v[grid.coarse] = prev[1][n]
                    v[new] = fresh[n]
                    cache[n] = v
            else:
                cache.update(self._inner(grid, missing))
        return grid, cache

    def _inner(self, grid: OuterGrid, names):
        """Inner integrals at the grid's nodes, with row-wise refinement.

        Every node gets the current inner level; then the nodes whose errors
        contribute most to the error of the outer integrals (see
        ``_row_contributions``) are recomputed one level higher, until the total
        relative contribution is below ``_INNER_RTOL`` (or level 7 is reached).
        """
        names = tuple(dict.fromkeys(("fy", *names)))  # f_Y weighs the error check
        level = self._inner_level
        self.joint.level = level
        with np.errstate(all="ignore"):
            out = self.joint.evaluate(grid.x, names)
        err = dict(self.joint.last_error)
        while True:
            contrib = self._row_contributions(grid.w, out, err)
            total = float(contrib.sum())
            if total <= _INNER_RTOL:
                return out
            if level >= 7:
                break
            # the fewest rows that carry all but a tenth of the excess
            order = np.argsort(contrib)[::-1]
            cum = np.cumsum(contrib[order])
            need = total - 0.1 * _INNER_RTOL
            take = order[: int(np.searchsorted(cum, need)) + 1]
            level += 1
            self.joint.level = level
            with np.errstate(all="ignore"):
                sub = self.joint.evaluate(grid.x[take], names)
            for n in names:
                out[n][take] = sub[n]
                err[n][take] = self.joint.last_error[n]
        warnings.warn(
            f"inner integrals over the prediction noise reached relative error {total:.1e}",
            QuadratureWarning,
            stacklevel=4,
        )
        return out

    #: the inner quantities that enter the outer integrals linearly (the others are
    #: averaged against f_Y)
    _linear: tuple[str, ...] = ("fy", "K")

    def _row_contributions(self, w, out, err) -> np.ndarray:
        """Per node, its inner errors as they enter the outer integrals, relative to
        those integrals (f_Y and K enter linearly, the rest averaged against f_Y); the
        worst quantity counts."""
        fy = np.abs(out["fy"])
        worst = np.zeros(w.shape)
        for n, v in out.items():
            weight = w if n in self._linear else w * fy
            with np.errstate(invalid="ignore"):
                den = np.nansum(weight * np.abs(v))
                if den > 0:
                    worst = np.maximum(worst, np.nan_to_num(weight * err[n]) / den)
        return worst

    # ------------------------------------------------------------------ means
    def mean(self, policy: str, lam: float) -> tuple[float, float]:
        """Return ``(E[T], error estimate)`` of ``policy`` at arrival rate ``lam``."""
        if policy not in PREDICTION_POLICIES:
            raise ValueError(f"policy: expected one of {PREDICTION_POLICIES}, got {policy!r}")
        rho = lam * self.m1
        if rho >= 1.0:
            return np.inf, 0.0
        if policy == "SPJF" and not np.isfinite(self.m2):
            return np.inf, 0.0
        needs = {
            "SPJF": ("fy", "Lbar"),
            "PSPJF": ("fy", "Lbar", "S2"),
            "SPRPT": ("fy", "Lbar", "S2", "V2", "K"),
        }[policy]

        def lost(g, q, per_mass):
            """The part of an integral of f_Y times ``per_mass`` that the grid misses: its
            nodes end at about 1e-24 and 1e21 times the scale, and a law whose f_Y is
            singular at 0 (Weibull 0.3 sizes: f_Y(y) ~ y**-0.7) keeps some 1e-7 of its mass
            below the first node, which the nested estimate does not see. Bounded by the
            missing mass 1 - int f_Y times ``per_mass`` at the grid's end nodes, shared
            between the two ends as f_Y(y) y there (the mass beyond an end of a power law
            is of that order; the largest ``per_mass`` anywhere, near load 1, was 1e4
            times too pessimistic)."""
            deficit = abs(1.0 - g.integrate(q["fy"])[0])
            per_mass = np.broadcast_to(per_mass, g.x.shape)
            ok = np.isfinite(per_mass) & (q["fy"] > 0)
            if not np.any(ok):
                return 0.0
            x, pm, fy = g.x[ok], np.abs(per_mass[ok]), q["fy"][ok]
            i, j = np.argmin(x), np.argmax(x)
            lo, hi = fy[i] * x[i], fy[j] * x[j]
            if not lo + hi > 0:
                return deficit * float(max(pm[i], pm[j]))
            return deficit * float((pm[i] * lo + pm[j] * hi) / (lo + hi))

        def evaluate(level):
            g, q = self._grid(level, needs)
            d = (1.0 - rho) + lam * q["Lbar"]
            with np.errstate(all="ignore"):
                if policy == "SPJF":
                    v, e = g.integrate(q["fy"] / d**2)
                    c = 0.5 * lam * self.m2
                    return self.m1 + c * v, c * (e + lost(g, q, 1.0 / d**2))
                if policy == "PSPJF":
                    v, e = g.integrate(q["fy"] * q["S2"] / d**2)
                    return (-np.log1p(-rho) / lam + 0.5 * lam * v,
                            0.5 * lam * (e + lost(g, q, q["S2"] / d**2)))
                v1, e1 = g.integrate(q["fy"] * (q["S2"] + q["V2"]) / d**2)
                v2, e2 = g.integrate(q["K"] / d)
                base = self._shortfall()
                e1 += lost(g, q, (q["S2"] + q["V2"]) / d**2)
                return base + v2 + 0.5 * lam * v1, e2 + 0.5 * lam * e1

        first = 3 if len(self._y_breakpoints()[2]) > 2 else 4
        # the classical forms' floor on the level's error (outer.adaptive): with C = 1 SPJF
        # with exact predictions (Weibull 0.5 sizes, load 0.9) was 1.4e-9 off its classical
        # twin SJF (and mpmath) with an estimate of 5.6e-10; and C = FIRST_C at level 3,
        # whose change from level 2 can be pre-asymptotic: PSPJF on five atoms with
        # exponential noise (load 0.276) accepted level 3 2.3e-9 off with the estimate
        # 1.6e-10 (C = 1100)
        return adaptive(evaluate, self.rtol, f"{policy} mean response time", first=first,
                        square_c=SQUARE_C, first_c=FIRST_C)

    # ------------------------------------------------------------------ SkipPredict
    def skip_predict_mean(self, lam: float, threshold: float, cheap_cost: float = 0.0,
                          expensive_cost: float = 0.0) -> tuple[float, float]:
        """``(E[T], error)`` of SkipPredict with prediction costs paid in server time.

        R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in Predictions
        for Scheduling", NeurIPS 2024 (arXiv:2402.03564), Section 4, re-derived here
        with SOAP (Scully, Harchol-Balter, Scheller-Wolf, POMACS 2018, Theorem 5.5).
        A job is *short* iff its prediction is ``<= threshold``. Every job first
        needs ``cheap_cost`` of server time (rank -inf: FIFO, never preempted); a
        short job then runs at rank -inf (FCFS, non-preemptive, ahead of all long
        work); a long job needs ``expensive_cost`` more (rank 0), then runs as SPRPT
        with rank ``y - w`` (``w`` = its own work done). Writing D(r) = 1 -
        rho_new[r] = 1 - rho - lam (c1 + c2 P(long)) + lam Lbar(r) for r > T:

        * short: E[T] = c1 + x + lam E[(X_0)^2] / (2 (1 - lam (c1 + E[X; short]))),
          X_0 = c1 + X for shorts and c1 for longs;
        * long (x, y): lam Sigma(y) / (2 D(y)^2) + (c1 + c2) / D(y) +
          integral_{y-x}^{y} du / D(u), where Sigma(y) = E[(c1 + X)^2; short] +
          E[(c1 + c2 + X)^2; T < Y <= y] + (c1 + c2)^2 P(Y > y) + V2(y) and D is
          constant below T (1 - lam (c1 + E[X; short] + c2 P(long))) and below 0
          (1 - lam (c1 + E[X; short])).

        With zero costs this is the mean response time of the external-cost model;
        ``threshold = 0`` gives SPRPT.
        """
        T, c1, c2 = float(threshold), float(cheap_cost), float(expensive_cost)
        if self.prediction.is_general:
            raise ValueError("prediction: SkipPredict needs a multiplicative prediction model")
        FT, LT, S2T = self._short_part(T)
        pl = 1.0 - FT
        rho = lam * self.m1
        if rho + lam * (c1 + c2 * pl) >= 1.0:
            return np.inf, 0.0
        if not np.isfinite(self.m2):
            return np.inf, 0.0
        short_sq = c1 * c1 * FT + 2 * c1 * LT + S2T  # E[(c1 + X)^2; short]
        w_short = lam * (short_sq + c1 * c1 * pl) / (2.0 * (1.0 - lam * (c1 + LT)))
        short = FT * (w_short + c1) + LT
        if pl <= 0.0:
            return short, 0.0
        c12 = c1 + c2
        C1, C2 = self._skip_constants_at(T)
        rho_mid = lam * (c1 + LT + c2 * pl)
        rho_minus = lam * (c1 + LT)
        tail = C2 / (1.0 - rho_mid) + C1 / (1.0 - rho_minus)
        needs = ("fy", "Fy", "Lbar", "S2", "V2", "K")

        def evaluate(level):
            g, q = self._grid(level, needs, lo=T)
            d = (1.0 - rho - lam * (c1 + c2 * pl)) + lam * q["Lbar"]
            L = self.m1 - q["Lbar"]
            sigma = (short_sq + c12 * c12 * pl + 2 * c12 * (L - LT) + q["S2"] - S2T + q["V2"])
            with np.errstate(all="ignore"):
                v1, e1 = g.integrate(q["fy"] * (0.5 * lam * sigma / d**2 + c12 / d))
                v2, e2 = g.integrate(q["K"] / d)
            return short + tail + v1 + v2, e1 + e2

        # C = FIRST_C at level 3 (see mean; DelayPredict's level 3 was accepted 1.6e-8 off)
        first = 3 if len(self._y_breakpoints()[2]) > 2 else 4
        return adaptive(evaluate, self.rtol, "SkipPredict mean response time", first=first,
                        first_c=FIRST_C)

    def _short_part(self, T: float) -> tuple[float, float, float]:
        """``(P(Y <= T), E[X; Y <= T], E[X^2; Y <= T])``: SkipPredict's short jobs."""
        if T == np.inf:
            return 1.0, self.m1, self.m2
        if T > 0:
            qT = self._finest(np.array([T]), ("Fy", "Lbar", "S2"))
            return (float(qT["Fy"][0]), self.m1 - float(qT["Lbar"][0]),
                    float(qT["S2"][0]))
        return 0.0, 0.0, 0.0

    def _skip_constants_at(self, T: float) -> tuple[float, float]:
        """``(E[(X - Y)+; Y > T], E[(T - (Y - X)+)+; Y > T])`` by quadrature over Z."""
        if T in self._skip_constants:
            return self._skip_constants[T]
        from scipy.integrate import quad

        s, p = self.size, self.prediction
        if p.is_exact:
            out = (0.0, T * float(s.sf(T)) if T > 0 else 0.0)
            self._skip_constants[T] = out
            return out
        zlo, zhi = p.noise_support
        xs = [v for v in (*s.breakpoints, *s.support) if 0 < v < np.inf]
        if s.is_discrete:
            xs += [float(v) for v in s.atoms[0]]
        kinks = set(p.noise_breakpoints) | {1.0}
        if T > 0:
            kinks |= {T / x for x in xs} | {1.0 + T / x for x in xs}

        def pm(k, x):
            return float(s.partial_moment(k, x)) if x > 0 else 0.0

        def c1_integrand(z):  # (1 - z) E[X; X > T/z], z < 1
            cut = T / z if z > 0 else np.inf
            tail = self.m1 - pm(1, cut) if np.isfinite(cut) else 0.0
            return float(p.noise_pdf(z)) * (1.0 - z) * tail

        def c2_integrand(z):
            if T <= 0:
                return 0.0
            g = float(p.noise_pdf(z))
            if z <= 1.0:
                return g * T * float(s.sf(T / z)) if z > 0 else 0.0
            a, b = T / z, T / (z - 1.0)
            mass = pm(0, b) - pm(0, a)
            first = pm(1, b) - pm(1, a)
            return g * (T * mass - (z - 1.0) * first)

        def integrate(fun, lo, hi):
            if not hi > lo:
                return 0.0
            pts = sorted(v for v in kinks if lo < v < hi)
            edges = [lo, *pts, hi]
            total = 0.0
            for a, b in zip(edges[:-1], edges[1:]):
                total += quad(fun, a, b, epsabs=0.0, epsrel=1e-12, limit=200)[0]
            return total

        c1v = integrate(c1_integrand, zlo, min(1.0, zhi))
        c2v = integrate(c2_integrand, zlo, zhi) if np.isfinite(zhi) else (
            integrate(c2_integrand, zlo, max(kinks | {2.0}) * 4)
            + quad(c2_integrand, max(kinks | {2.0}) * 4, np.inf, epsabs=0.0, epsrel=1e-12,
                   limit=200)[0])
        self._skip_constants[T] = (c1v, c2v)
        return c1v, c2v

    def _shortfall(self) -> float:
        """E[(X - Y)+]: E[X] E[(1 - Z)+] for multiplicative models."""
        if self.prediction.is_general:
            if not hasattr(self, "_shortfall_value"):
                self._shortfall_value = self.prediction.shortfall(self.size)
            return self._shortfall_value
        return self.m1 * self.prediction.noise_shortfall()

    # ------------------------------------------------------------------ conditional
    def conditional(self, policy: str, lam: float, x, y) -> np.ndarray:
        """E[T(x, y)] for a job of size ``x`` predicted ``y`` (vectorised, broadcast)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        rho = lam * self.m1
        if rho >= 1.0:
            return np.full(x.shape, np.inf)
        q = self._tabled(y, ("Lbar", "S2", "V2") if policy == "SPRPT" else ("Lbar", "S2"))
        d = (1.0 - rho) + lam * q["Lbar"]
        if policy == "SPJF":
            return x + 0.5 * lam * self.m2 / d**2
        if policy == "PSPJF":
            return x / d + 0.5 * lam * q["S2"] / d**2
        if policy != "SPRPT":
            raise ValueError(f"policy: expected one of {PREDICTION_POLICIES}, got {policy!r}")
        wait = 0.5 * lam * (q["S2"] + q["V2"]) / d**2
        return wait + self._residence(lam, x, y) + np.maximum(x - y, 0.0)

    def _finest(self, y, names) -> dict:
        """The inner integrals at the points ``y`` (any shape), each point taken up the inner
        levels from 4 until two successive levels agree to ``1e-13`` relative in every
        quantity (or level 7): the conditional response times took the level the mean's
        refinement had left ``self.joint`` at, and PSPJF's was 4.1e-6 off at y = 0.0087
        (hyperexponential sizes, means 0.272 and 8.32, exponential noise), while the inner
        rule's own estimate was 30 times low there (level 3: 2.4e-5 off, estimate 7.4e-7).
        Cost: the test that averages 20000 conditional values (SPRPT, exponential sizes and
        noise) 3.5 -> 19 s; level 7 for every point took twice as long again."""
        keep = self.joint.level
        y = np.asarray(y, dtype=float)
        flat = y.ravel()
        try:
            with np.errstate(all="ignore"):
                self.joint.level = 4
                prev = self.joint.evaluate(flat, names)
                out = {n: np.array(prev[n], dtype=float) for n in names}
                todo = np.arange(flat.size)
                for level in (5, 6, 7):
                    if not todo.size:
                        break
                    self.joint.level = level
                    cur = self.joint.evaluate(flat[todo], names)
                    moved = np.zeros(todo.size, dtype=bool)
                    for n in names:
                        a, b = prev[n], cur[n]
                        moved |= ~(np.abs(b - a) <= 1e-13 * np.abs(b))
                        out[n][todo] = b
                    todo = todo[moved]
                    prev = {n: cur[n][moved] for n in names}
        finally:
            self.joint.level = keep
        return {n: out[n].reshape(y.shape) for n in names}

    def _tabled(self, y, names, strict: bool = True) -> dict:
        """The inner integrals ``names`` at the points ``y`` (any shape) from Chebyshev
        tables in ``y`` between the breakpoints of :meth:`_y_breakpoints`
        (:class:`~qtheory.analysis.soap_levels.PiecewiseTable`, built where asked; the
        points without a table by :meth:`_finest`): the conditional response times took
        every point, and every node of their residence integrals, up the inner levels one by
        one (SPRPT, 203 jobs: 3.9 s; now 0.13 s). ``strict=False`` for the nodes of a
        quadrature rule (:meth:`~qtheory.analysis.soap_levels.PiecewiseTable.lookup`).
        With ``exact_conditional`` every point goes to :meth:`_finest`."""
        names = tuple(names)
        # (a few points cost less than the tables: SPJF, 206 jobs, 0.04 s by _finest, 0.15 s
        # with the tables built)
        if self.exact_conditional or (strict and np.size(y) <= _FEW_POINTS):
            return self._finest(y, names)
        table = self._point_tables.get(names)
        if table is None:
            from .soap_levels import PiecewiseTable

            _, _, pts = self._y_breakpoints()
            scale = self._table_scale()
            m2 = float(self.m2)
            second = 1e-3 * m2 if np.isfinite(m2) else 0.0
            refs = {n: (1.0 if n == "Fy" else self.m1 if n in ("Lbar", "LBbar") else second)
                    for n in names}

            def evaluate(v):
                vals = self._finest(v, names)
                return vals, {n: np.zeros(np.shape(v)) for n in names}

            cuts = sorted({0.0, *(float(p) for p in pts if np.isfinite(p) and p > 0)})
            table = self._point_tables[names] = PiecewiseTable(evaluate, names, cuts, scale,
                                                               refs, lower=0.0)
        return table.functions(y, strict)

    def _residence(self, lam, x, y):
        """integral over v in [(y - x)+, y] of dv / (1 - rho'_v), split at y-kinks."""
        return self._levels(lam, np.maximum(y - x, 0.0), y)

    def _levels(self, lam, lo, hi, name: str = "Lbar", base=None, coef=None):
        """``int_lo^hi dv / D(v)`` with ``D = base + coef * name(v)`` (``lo <= hi``,
        arrays; by default ``base = 1 - rho`` and ``coef = lambda``), split at the
        breakpoints in ``v``."""
        rho = lam * self.m1
        base = 1.0 - rho if base is None else base
        coef = lam if coef is None else coef
        _, _, pts = self._y_breakpoints()
        edges = [0.0, *pts, np.inf]
        rule = tanh_sinh_rule(3)
        total = np.zeros(np.shape(lo))
        for a, b in zip(edges[:-1], edges[1:]):
            aa, bb = np.clip(lo, a, b), np.clip(hi, a, b)
            if not np.any(bb > aa):
                continue
            v, w = finite_nodes(aa, bb, rule)
            if not self.exact_conditional:
                # nodes next to the tables' cuts (0 and the breakpoints) moved off them:
                # there the tables give way to the inner quadrature, one evaluation a node
                # (SPRPT, 20000 jobs: 40 s)
                v = off_cuts(v, edges[:-1], self._table_scale())
            lbar = self._tabled(v, (name,), strict=False)[name]
            total = total + np.sum(w / (base + coef * lbar), axis=-1)
        return total

    def _table_scale(self) -> float:
        """The scale of the tables in ``y`` (:meth:`_tabled`)."""
        med = 1.0 if self.prediction.is_general else float(self.prediction.noise_median)
        return float(self.size.scale) * (med if np.isfinite(med) and med > 0 else 1.0)

    def skip_predict_conditional(self, lam: float, threshold: float, cheap_cost: float,
                                 expensive_cost: float, x, y) -> np.ndarray:
        """E[T(x, y)] of SkipPredict with prediction costs in server time (vectorised,
        broadcast): the per-job forms of :meth:`skip_predict_mean`'s derivation (SOAP,
        Scully, Harchol-Balter, Scheller-Wolf, POMACS 2018, Theorem 5.5), with
        ``c12 = c1 + c2``,

        * short (``y <= T``): ``c1 + x + lam E[X_0^2] / (2 (1 - lam (c1 + E[X; short])))``;
        * long: ``lam Sigma(y) / (2 D(y)^2) + c12 / D(y) + int_{y - x}^{y} du / D(u)``, the
          last over ``u > T`` with ``D(u) = 1 - rho - lam (c1 + c2 P(long)) + lam Lbar(u)``,
          over ``0 < u <= T`` with ``1 - lam (c1 + E[X; short] + c2 P(long))`` and over
          ``u <= 0`` with ``1 - lam (c1 + E[X; short])``.

        With zero costs this is the external model's conditional response time (SOAP's
        engine gives it on SkipPredict's rank function: ``tests/test_skip_delay.py``).
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        T, c1, c2 = float(threshold), float(cheap_cost), float(expensive_cost)
        FT, LT, S2T = self._short_part(T)
        pl = 1.0 - FT
        rho = lam * self.m1
        if rho + lam * (c1 + c2 * pl) >= 1.0 or not np.isfinite(self.m2):
            return np.full(x.shape, np.inf)
        short_sq = c1 * c1 * FT + 2 * c1 * LT + S2T
        rho_minus = lam * (c1 + LT)
        rho_mid = lam * (c1 + LT + c2 * pl)
        w_short = lam * (short_sq + c1 * c1 * pl) / (2.0 * (1.0 - rho_minus))
        out = c1 + x + w_short
        long_ = y > T
        if np.any(long_):
            xl, yl = x[long_], y[long_]
            c12 = c1 + c2
            base = 1.0 - rho - lam * (c1 + c2 * pl)
            q = self._tabled(yl, ("Lbar", "S2", "V2"))
            d = base + lam * q["Lbar"]
            sigma = (short_sq + c12 * c12 * pl + 2 * c12 * (self.m1 - q["Lbar"] - LT)
                     + q["S2"] - S2T + q["V2"])
            lo = yl - xl
            res = self._levels(lam, np.maximum(lo, T), yl, base=base, coef=lam)
            res = res + (np.clip(yl, 0.0, T) - np.clip(lo, 0.0, T)) / (1.0 - rho_mid)
            res = res + np.maximum(-lo, 0.0) / (1.0 - rho_minus)
            out = np.array(out, dtype=float)
            out[long_] = 0.5 * lam * sigma / d**2 + c12 / d + res
        return out
