r"""TRAIL on the prediction: a closed form, derived with SOAP by hand.

TRAIL (Shahout et al., "Don't Stop Me Now: Embedding Based Scheduling for LLMs", ICLR 2025,
arXiv:2410.01035) serves the job of least predicted remaining size, rank ``y - a`` at age
``a``, but a job can be preempted only while ``a < c y``; from then on it is served to
completion (rank ``-inf``). ``c = 0`` is SPJF and ``c >= 1`` SPRPT. With SOAP (Z. Scully,
M. Harchol-Balter, A. Scheller-Wolf, POMACS 2(1) 2018, Theorem 5.5; the formula of
``shared/reference/formulas.md``) for a tagged job of size ``x`` predicted ``y``, whose
worst future rank is ``y - a`` while ``a < min(x, c y)`` and ``-inf`` after:

* a new job of prediction ``y'`` is served ahead of it at level ``r`` iff ``y' < r``, and then
  to completion (its rank only falls): ``rho_new[r] = lambda E[X; Y < r]``, so
  ``1 - rho_new[r] = D(r) = 1 - rho + lambda E[X; Y > r]``, as for SPRPT;
* an old job ``(x', y')`` with ``y' <= r`` has interval 0 of length ``x'``; one with
  ``y' > r`` reaches rank ``r`` at age ``y' - r`` if that is below ``c y'``, and else rank
  ``-inf`` at age ``c y'``: its interval 1 is the rest ``(x' - min(y' - r, c y'))+``.

Hence, at the level ``r = y``,

    E[T(x, y)] = lambda (S2(y) + V2c(y)) / (2 D(y)^2)
                 + integral_{y - min(x, c y)}^{y} du / D(u) + (x - c y)+,

    S2(y)  = E[X^2; Y <= y],
    V2c(y) = E[((X - min(Y - y, c Y))+)^2; Y > y]
           = E[(X - Y + y)^2; y < Y <= y / (1 - c), X - Y + y > 0]
             + E[(X - c Y)^2; Y > y / (1 - c), c Y < X].

Averaged over ``(X, Y)`` (Fubini on the residence integral, as for SPRPT in
:mod:`qtheory.analysis.predicted`):

    E[T] = E[X] E[(1 - c Z)+] + integral_0^inf Kc(u) / D(u) du
           + (lambda / 2) integral f_Y(y) (S2(y) + V2c(y)) / D(y)^2 dy,

    Kc(u) = P(Y - min(X, c Y) < u < Y) = P(u < Y < u / (1 - c), X > Y - u).

For a general conditional law of ``Y`` given ``X`` (:class:`~qtheory.ConditionalPrediction`)
they are integrals over the size of the conditional law's windows (split where ``x + y`` meets
``y / (1 - c)`` and where the law's breakpoints cross ``y`` or ``y / (1 - c)``), and
``E[(X - c Y)+]`` is ``E[int_0^X P(Y <= s / c | X) ds]``. For ``Y = X Z`` each of ``V2c`` and
``Kc`` is an integral over the noise factor of closed-form
partial moments of ``X`` between the cut points ``y / z``, ``y / ((1 - c) z)`` and (for
``z > 1``) ``y / (z - 1)`` (:class:`TrailJoint`); the integrals over ``z`` are also split at
``z = 1 / c``, where ``(1 - c z)+`` has its kink and the last two cut points meet. With exact
predictions ``V2c(y) = y^2 P(y < X <= y / (1 - c)) + (1 - c)^2 E[X^2; X > y / (1 - c)]``, the
known-size form of :mod:`qtheory.analysis.trail`; ``c = 0`` gives ``S2 + V2c = E[X^2]`` and
``Kc = 0``, SPJF's form, and ``c -> 1`` SPRPT's.

This module shares the integrals over the noise with SPRPT's closed form and nothing with
the SOAP engine, which derives the same quantity from TRAIL's rank function: the two are the
independent routes to TRAIL on the prediction (``tests/test_trail_predicted.py``).
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .joint import QUANTITIES, JointIntegrals
from .outer import FIRST_C, SQUARE_C, adaptive
from .predicted import PredictionAnalysis

__all__ = ["TrailJoint", "TrailPredictionAnalysis"]


class TrailJoint(JointIntegrals):
    """:class:`~qtheory.analysis.joint.JointIntegrals` with TRAIL's two further functions of
    the prediction for ``0 <= c < 1`` (module docstring): ``V2c`` (old work beyond the level)
    and ``Kc`` (the residence kernel).

    Examples
    --------
    >>> import qtheory as qt
    >>> J = TrailJoint(qt.Exponential(mean=1.0), qt.ExactPrediction(), 0.5)
    >>> q = J.evaluate(np.array([1.0]), ("Kc",))   # P(1 < X <= 2)
    >>> bool(abs(q["Kc"][0] - (np.exp(-1.0) - np.exp(-2.0))) < 1e-15)
    True
    """

    names = (*QUANTITIES, "V2c", "Kc")

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, c: float,
                 level: int = 3):
        c = float(c)
        if not 0.0 <= c < 1.0:
            raise ValueError(f"c must be in [0, 1) here (c >= 1 is SPRPT), got {c!r}")
        super().__init__(size, prediction, level)
        self.c = c
        if c > 0:
            self.extra_z = (1.0 / c,)

    # ------------------------------------------------------------------ exact Y = X
    def _exact(self, y, quantities):
        base = [q for q in quantities if q in QUANTITIES]
        out = super()._exact(y, base) if base else {}
        s, knee = self.size, y / (1.0 - self.c)
        for q in quantities:
            if q == "Kc":
                out[q] = np.asarray(s.prob_between(y, knee), dtype=float)
            elif q == "V2c":
                out[q] = np.asarray(y * y * s.prob_between(y, knee)
                                    + (1.0 - self.c) ** 2 * s.tail_moment(2, knee), dtype=float)
        self.last_error = {q: np.zeros(y.shape) for q in quantities}
        return out

    # ------------------------------------------------------------------ general law
    def _general_x_points(self, y):
        """Where ``x + y = y / (1 - c)`` (the two windows of the old work meet) and where a
        breakpoint of the conditional law equals ``y / (1 - c)``."""
        knee = y / (1.0 - self.c)
        return np.concatenate([(self.c * knee)[:, None], self._x_cuts(knee)], axis=1)

    def _general_integrand(self, q, y, x, f):
        p, c = self.prediction, self.c
        knee = y / (1.0 - c)
        Q = np.asarray(p._cdf(y, x), float)
        if q == "Kc":  # P(y < Y < min(y / (1 - c), x + y) | x)
            top = np.asarray(p._cdf(np.minimum(knee, x + y), x), float)
            return f * np.maximum(top - Q, 0.0)
        if q == "V2c":
            # (x + y - Y)^2 on y < Y < min(y / (1 - c), x + y); (x - c Y)^2 on
            # y / (1 - c) < Y < x / c
            first = self._general_window(y, x, y, np.minimum(knee, x + y), x + y, -1.0)
            if c == 0:
                second = x * x * np.maximum(1.0 - Q, 0.0)
            else:
                second = self._general_window(y, x, knee, x / c, x, -c)
            return f * (first + second)
        return super()._general_integrand(q, y, x, f)

    # ------------------------------------------------------------------ atoms
    def _atoms(self, y, quantities):
        base = [q for q in quantities if q in QUANTITIES]
        out = super()._atoms(y, base) if base else {}
        vals, probs = self.size.atoms
        pos = vals > 0
        xv, pv = vals[pos][None, :], probs[pos][None, :]
        p, c = self.prediction, self.c
        yy = y[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            a = yy / xv  # Y > y
            knee = yy / ((1.0 - c) * xv)  # Y <= y / (1 - c)
            upper = np.minimum(knee, 1.0 + a)  # ... and X - Y + y > 0

            med = float(p.noise_median) if np.isfinite(p.noise_median) else 1.0

            def moments(lo, hi):  # E[Z**k; lo < Z <= hi], k = 0, 1, 2 (0 where empty)
                ok = hi > lo
                # the probability as a difference of tails above the median (of cdfs it
                # is 0 once P(Z > lo) < 1e-16)
                m0 = np.where(lo >= med, p.noise_sf(lo) - p.noise_sf(hi),
                              p.noise_cdf(hi) - p.noise_cdf(lo))
                out = [np.where(ok, np.maximum(m0, 0.0), 0.0)]
                for k in (1, 2):
                    m = p.noise_partial_moment(k, hi) - p.noise_partial_moment(k, lo)
                    out.append(np.where(ok, m, 0.0))
                return out

            m0, m1, m2 = moments(a, upper)
            for q in quantities:
                if q == "Kc":
                    out[q] = (pv * m0).sum(axis=1)
                elif q == "V2c":
                    # (x (1 - Z) + y)**2 = (x + y)**2 - 2 x (x + y) Z + x**2 Z**2
                    b = xv + yy
                    first = b * b * m0 - 2.0 * xv * b * m1 + xv * xv * m2
                    top = 1.0 / c if c > 0 else np.inf
                    n0, n1, n2 = moments(knee, np.full(knee.shape, top))
                    second = xv * xv * (n0 - 2.0 * c * n1 + c * c * n2)
                    out[q] = (pv * (np.maximum(first, 0.0) + np.maximum(second, 0.0))).sum(axis=1)
        self.last_error = {q: np.zeros(y.shape) for q in quantities}
        return out

    # ------------------------------------------------------------------ continuous
    def _z_points(self, y, extra=None):
        """As :meth:`JointIntegrals._z_points`, and where ``y / ((1 - c) z)`` meets a kink
        or the bulk of the size law."""
        xs = [float(v) for v in self.size.breakpoints if 0 < v < np.inf] \
            if self.kink_splits else []
        xs += [float(v) for v in self._bulk]
        cols = y[:, None] / ((1.0 - self.c) * np.array(xs)[None, :])
        extra = cols if extra is None else np.concatenate([extra, cols], axis=1)
        return super()._z_points(y, extra)

    def _memo(self, y, z):
        m = super()._memo(y, z)
        tc = y / ((1.0 - self.c) * z)
        m.args["tc"] = tc
        m.args["top"] = np.minimum(tc, m.args["hi"])
        return m

    def _integrand(self, q, y, z, m):
        if q == "Kc":
            return m.between("t", "top")  # P(t < X < min(tc, hi))
        if q == "V2c":
            first = m.square_window(1.0 - z, y, "t", "top")
            rest = np.maximum(1.0 - self.c * z, 0.0)
            return first + rest * rest * m.get("TM2", "tc")
        return super()._integrand(q, y, z, m)


class TrailPredictionAnalysis(PredictionAnalysis):
    """Mean and conditional response times of TRAIL on the prediction (module docstring),
    for one size law, prediction model and ``c``; ``c >= 1`` is SPRPT's closed form.

    Parameters
    ----------
    size : SizeDistribution
    prediction : PredictionModel
        Multiplicative (``Y = X Z``).
    c : float
        Preemptible while the age is below ``c`` times the prediction; ``c >= 0``.
    rtol : float
        Target relative error of the mean.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = TrailPredictionAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.0)
    >>> value, err = a.trail_mean(0.5)
    >>> spjf, _ = a.mean("SPJF", 0.5)            # c = 0 is SPJF
    >>> bool(abs(value - spjf) < 1e-9 * spjf)
    True
    """

    _linear = ("fy", "K", "Kc")

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, c: float,
                 rtol: float = 1e-9):
        c = float(c)
        if not (np.isfinite(c) and c >= 0):
            raise ValueError(f"c must be finite and >= 0, got {c!r}")
        super().__init__(size, prediction, rtol)
        self.c = min(c, 1.0)
        if self.c < 1.0:
            self.joint = TrailJoint(size, prediction, self.c)

    def _y_breakpoints(self):
        """SPRPT's breakpoints in ``y`` and, for every kink or end ``x`` of the size law and
        kink ``z`` of the noise (and ``z = 1``, ``1 / c``), where ``y / ((1 - c) z)`` meets
        ``x`` and where the cut points meet at ``z = 1 / c``."""
        ylo, yhi, pts = super()._y_breakpoints()
        c = self.c
        if c >= 1.0:
            return ylo, yhi, pts
        if self.prediction.is_general:  # where y / (1 - c) sits on those of SPRPT
            return ylo, yhi, sorted(set(pts) | {(1.0 - c) * v for v in pts})
        s, p = self.size, self.prediction
        lo, hi = s.support
        xs = {v for v in (*s.breakpoints, lo, hi) if 0 < v < np.inf}
        if s.is_discrete:
            xs |= {float(v) for v in s.atoms[0] if v > 0}
        zs = set(p.noise_breakpoints) | {1.0}
        if c > 0:
            zs.add(1.0 / c)
        if not p.noise_breakpoints and np.isfinite(p.noise_median) and p.noise_median > 0:
            zs.add(float(p.noise_median))
        more = {(1.0 - c) * x * z for x in xs for z in zs}
        more |= {x * z for x in xs for z in zs} | {x * (z - 1.0) for x in xs for z in zs
                                                  if z > 1}
        return ylo, yhi, sorted(set(pts) | {v for v in more if 0 < v < np.inf})

    def _trail_shortfall(self) -> float:
        """``E[(X - c Y)+] = E[X] E[(1 - c Z)+]``, the work done after the last preemptible
        age, ``E[X] (P(Z <= 1/c) - c E[Z; Z <= 1/c])`` (``E[X]`` at ``c = 0``)."""
        c, p = self.c, self.prediction
        if c == 0:
            return float(self.m1)
        if p.is_general:
            return float(p.shortfall(self.size, c))
        if p.is_exact:
            return float(self.m1) * (1.0 - c)
        top = 1.0 / c
        share = float(p.noise_cdf(top)) - c * float(p.noise_partial_moment(1, top))
        return float(self.m1) * max(share, 0.0)

    def trail_mean(self, lam: float) -> tuple[float, float]:
        """``(E[T], error estimate)`` of TRAIL at arrival rate ``lam`` (``inf`` at load >= 1).

        Examples
        --------
        >>> import qtheory as qt
        >>> size, pred = qt.Weibull(2.0), qt.UniformPrediction(0.5)
        >>> a = TrailPredictionAnalysis(size, pred, 0.8)
        >>> value, err = a.trail_mean(0.8 / size.mean)
        >>> soap = qt.MG1(load=0.8, size=size, prediction=pred).mean_response_time(
        ...     qt.policies.TRAIL(c=0.8), method="soap")
        >>> bool(abs(value - soap) < 1e-8 * value)
        True
        """
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        if self.c >= 1.0:
            return self.mean("SPRPT", lam)
        rho = lam * self.m1
        if rho >= 1.0 or not np.isfinite(self.m2):
            return np.inf, 0.0
        base = self._trail_shortfall()
        needs = ("fy", "Lbar", "S2", "V2c", "Kc")

        def evaluate(level):
            g, q = self._grid(level, needs)
            d = (1.0 - rho) + lam * q["Lbar"]
            with np.errstate(all="ignore"):
                v1, e1 = g.integrate(q["fy"] * (q["S2"] + q["V2c"]) / d**2)
                v2, e2 = g.integrate(q["Kc"] / d)
            return base + v2 + 0.5 * lam * v1, e2 + 0.5 * lam * e1

        first = 3 if len(self._y_breakpoints()[2]) > 2 else 4
        return adaptive(evaluate, self.rtol, f"TRAIL(c={self.c:g}) mean response time",
                        first=first, square_c=SQUARE_C, first_c=FIRST_C)

    def trail_conditional(self, lam: float, x, y) -> np.ndarray:
        """``E[T(x, y)]`` of TRAIL for a job of size ``x`` predicted ``y`` (broadcast).

        Examples
        --------
        >>> import qtheory as qt
        >>> a = TrailPredictionAnalysis(qt.Exponential(mean=1.0), qt.ExactPrediction(), 0.5)
        >>> from qtheory.analysis.trail import trail_known_sizes_conditional
        >>> t = float(a.trail_conditional(0.5, 2.0, 2.0))
        >>> bool(abs(t - trail_known_sizes_conditional(qt.Exponential(mean=1.0), 0.5, 0.5,
        ...                                            2.0)) < 1e-10)
        True
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        if self.c >= 1.0:
            return self.conditional("SPRPT", lam, x, y)
        rho = lam * self.m1
        if rho >= 1.0:
            return np.full(x.shape, np.inf)
        q = self._tabled(y, ("Lbar", "S2", "V2c"))
        d = (1.0 - rho) + lam * q["Lbar"]
        wait = 0.5 * lam * (q["S2"] + q["V2c"]) / d**2
        reach = np.minimum(x, self.c * y)  # the preemptible part of the job's service
        return wait + self._residence(lam, reach, y) + np.maximum(x - self.c * y, 0.0)
