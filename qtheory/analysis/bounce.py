r"""SRPT-Bounce: a closed form, derived with SOAP by hand.

SRPT-Bounce (Z. Scully, I. Grosof, M. Mitzenmacher, "Uniform Bounds for Scheduling with Job
Size Estimates", ITCS 2022, arXiv:2110.00633) ranks a job with estimate ``y`` at age ``a`` by
``|y - a|``: as SPRPT until the age reaches the estimate, then rising again. With SOAP (Z.
Scully, M. Harchol-Balter, A. Scheller-Wolf, POMACS 2(1) 2018, Theorem 5.5; the formula of
``shared/reference/formulas.md``), first come first served among equal ranks:

* a job's rank is at most ``r`` exactly at the ages ``[y - r, y + r]``. A new job is served
  ahead of a tagged job whose worst future rank is ``r`` iff its estimate is below ``r``, and
  then until its age is ``y' + r``: ``X^new[r] = min(X, Y + r) 1{Y < r}`` and
  ``D(r) = 1 - rho_new[r] = 1 - lambda E[min(X, Y + r); Y < r]``;
* an old job with ``y' <= r`` has interval 0, ``min(x', y' + r)``; one with ``y' > r`` the
  interval ``[y' - r, y' + r]``, of r-work ``min(x' - y' + r, 2 r)+``, so
  ``S(r) = E[min(X, Y + r)^2; Y <= r] + E[(min(X - Y + r, 2 r)+)^2; Y > r]``;
* a tagged job ``(x, y)`` has worst future rank ``max(y - a, x - y)`` at ages ``a <= y``
  and ``x - y`` after: ``r = R = max(y, x - y)`` at arrival, and the residence time is
  ``int_{y-x}^{y} du / D(u)`` for ``x <= y``, ``int_{x-y}^{y} du / D(u) + 2 (x - y) / D(x - y)``
  for ``y < x < 2 y`` and ``x / D(x - y)`` for ``x >= 2 y``.

So ``E[T(x, y)] = lambda S(R) / (2 D(R)^2) + residence``, and averaged over ``(X, Y)`` (the
residence by Fubini: a job spends its levels ``u`` in ``(|x - y|, y)`` at rate 1 and the
rest of its time at the level ``x - y``):

    E[T] = (lambda / 2) int f_R(r) S(r) / D(r)^2 dr + int (K(u) + A(u)) / D(u) du,

    K(u) = P(|X - Y| < u < Y),
    A(w) dw = E[M; X - Y in dw],  M = X (X >= 2 Y), 2 (X - Y) (Y < X < 2 Y), 0 (X <= Y).

For ``Y = X Z``: ``R = X max(Z, 1 - Z)``, so ``f_R(r) = E[f(r / Z') / Z']`` with
``Z' = max(Z, 1 - Z)``; ``A(w) = E[m(Z) w f(w / (1 - Z)) / (1 - Z)^2; Z < 1]`` with
``m(z) = 1`` for ``z <= 1/2`` and ``2 (1 - z)`` above; ``K``, ``S`` and ``1 - D`` are integrals
over ``Z`` of partial moments of ``X`` cut at ``r / z``, ``r / (1 - z)`` and ``r / (z - 1)``
(:class:`BounceJoint`; the integrals over ``z`` are also split at ``z = 1/2``). ``D`` is
computed as ``1 - rho + lambda (E[X; Y >= r] + E[(X - Y - r)+; Y < r])``, free of
cancellation near load 1. With exact predictions ``R = X``, ``A = 0`` and the formula is
SRPT's.

This module shares the integrals over the noise with SPRPT's closed form and nothing with the
SOAP engine, which derives the same quantity from the rank function ``|y - a|``: the two are
the independent routes to SRPT-Bounce (``tests/test_bounce.py``).
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .joint import QUANTITIES, JointIntegrals
from .outer import FIRST_C, SQUARE_C, adaptive
from .predicted import PredictionAnalysis

__all__ = ["BounceJoint", "BounceAnalysis"]


class BounceJoint(JointIntegrals):
    """:class:`~qtheory.analysis.joint.JointIntegrals` with SRPT-Bounce's functions of the
    level ``r`` (module docstring): ``fR`` (density of ``R = max(Y, X - Y)``), ``LBbar``
    (``E[X; Y >= r] + E[(X - Y - r)+; Y < r]``, so that ``D = 1 - rho + lambda LBbar``),
    ``SB`` (``S(r)``), ``KB`` (``K(r)``) and ``AB`` (``A(r)``). Continuous sizes; exact or
    multiplicative predictions.

    Examples
    --------
    >>> import qtheory as qt
    >>> J = BounceJoint(qt.Exponential(mean=1.0), qt.ExactPrediction())
    >>> q = J.evaluate(np.array([1.0]), ("SB", "AB"))   # SRPT's E[X^2; X <= 1] + P(X > 1)
    >>> bool(abs(q["SB"][0] - (2 - 5 * np.exp(-1.0) + np.exp(-1.0))) < 1e-15)
    True
    >>> float(q["AB"][0])
    0.0
    """

    names = (*QUANTITIES, "fR", "LBbar", "SB", "KB", "AB")

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, level: int = 3):
        if getattr(prediction, "is_general", False):
            raise ValueError("prediction: SRPT-Bounce's closed form needs a multiplicative "
                             "prediction model (Y = X Z); the SOAP engine takes the others")
        if size.is_discrete:
            raise ValueError("size: SRPT-Bounce's closed form (as its SOAP engine) needs a "
                             "continuous size law")
        super().__init__(size, prediction, level)
        self.extra_z = (0.5,)

    # ------------------------------------------------------------------ exact Y = X
    def _exact(self, y, quantities):
        base = [q for q in quantities if q in QUANTITIES]
        out = super()._exact(y, base) if base else {}
        s = self.size
        for q in quantities:
            if q == "fR":
                out[q] = np.asarray(s.pdf(y), dtype=float)
            elif q == "LBbar":
                out[q] = np.asarray(s.tail_moment(1, y), dtype=float)
            elif q == "SB":
                out[q] = np.asarray(s.partial_moment(2, y) + y * y * s.sf(y), dtype=float)
            elif q == "KB":
                out[q] = np.asarray(s.sf(y), dtype=float)
            elif q == "AB":
                out[q] = np.zeros(y.shape)
        self.last_error = {q: np.zeros(y.shape) for q in quantities}
        return out

    # ------------------------------------------------------------------ continuous
    def _z_points(self, y, extra=None):
        """As :meth:`JointIntegrals._z_points`, and where ``y / (1 - z)`` meets a kink or the
        bulk of the size law (``z = 1 - y / x``)."""
        xs = [float(v) for v in self.size.breakpoints if 0 < v < np.inf] \
            if self.kink_splits else []
        xs += [float(v) for v in self._bulk]
        cols = 1.0 - y[:, None] / np.array(xs)[None, :]
        extra = cols if extra is None else np.concatenate([extra, cols], axis=1)
        return super()._z_points(y, extra)

    def _memo(self, y, z):
        m = super()._memo(y, z)
        below = z < 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            a1 = np.where(below, y / (1.0 - z), np.inf)
        m.args["a1"] = a1  # X (1 - Z) = y, for Z < 1
        m.args["span"] = np.where(below, a1, m.args["hi"])  # |X (1 - Z)| = y
        m.args["tR"] = y / np.maximum(z, 1.0 - z)  # R = y
        m.args["lo1"] = np.minimum(m.args["t"], a1)
        m.args["top1"] = np.maximum(m.args["t"], a1)
        return m

    def _integrand(self, q, y, z, m):
        below = z < 1.0
        if q == "fR":
            return m.get("pdf", "tR") / np.maximum(z, 1.0 - z)
        if q == "KB":
            return m.between("t", "span")
        if q == "AB":
            with np.errstate(all="ignore"):
                w = np.where(z <= 0.5, 1.0, 2.0 * (1.0 - z))
                val = w * y * m.get("pdf", "a1") / (1.0 - z) ** 2
            return np.where(below, np.nan_to_num(val, nan=0.0, posinf=0.0), 0.0)
        if q == "LBbar":
            # E[X; X >= t] + E[(1 - z) X - y; a1 < X < t] (the second for z < 1/2 only)
            d0, d1 = m.window(0, "a1", "t"), m.window(1, "a1", "t")
            extra = np.where(z < 0.5, np.maximum((1.0 - z) * d1 - y * d0, 0.0), 0.0)
            return m.get("TM1", "t") + extra
        if q == "SB":
            a = 1.0 - z
            # interval 0 (Y <= r): X**2 up to min(t, a1), then (z X + r)**2 on (a1, t)
            first = m.get("PM2", "lo1") + np.where(
                z < 0.5, m.square_window(z, y, "a1", "t"), 0.0)
            # Y > r: ((1 - z) X + r)**2 on (t, min(a1, hi)), capped at 2 r beyond a1 (z < 1)
            second = m.square_window(a, y, "t", "span") + np.where(
                below, 4.0 * y * y * m.get("sf", "top1"), 0.0)
            return first + second
        return super()._integrand(q, y, z, m)


class BounceAnalysis(PredictionAnalysis):
    """Mean and conditional response times of SRPT-Bounce (module docstring) for one size
    law and prediction model.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = BounceAnalysis(qt.Exponential(mean=1.0), qt.ExactPrediction())
    >>> value, err = a.bounce_mean(0.5)
    >>> srpt, _ = a.mean("SPRPT", 0.5)         # exact estimates: SRPT
    >>> bool(abs(value - srpt) < 1e-9 * srpt)
    True
    """

    _linear = ("fy", "K", "fR", "KB", "AB")

    def __init__(self, size: SizeDistribution, prediction: PredictionModel,
                 rtol: float = 1e-9):
        super().__init__(size, prediction, rtol)
        self.joint = BounceJoint(size, prediction)

    def _y_breakpoints(self):
        """SPRPT's breakpoints in the level and, for every kink or end ``x`` of the size law
        and kink ``z`` of the noise (and ``z = 1/2``), where ``x (1 - z)`` and
        ``x max(z, 1 - z)`` sit."""
        ylo, yhi, pts = super()._y_breakpoints()
        if self.prediction.is_exact:
            return ylo, yhi, pts
        s, p = self.size, self.prediction
        lo, hi = s.support
        xs = {v for v in (*s.breakpoints, lo, hi) if 0 < v < np.inf}
        zs = set(p.noise_breakpoints) | {0.5, 1.0}
        if not p.noise_breakpoints and np.isfinite(p.noise_median) and p.noise_median > 0:
            zs.add(float(p.noise_median))
        more = {x * (1.0 - z) for x in xs for z in zs if z < 1} | \
            {x * max(z, 1.0 - z) for x in xs for z in zs}
        # R = X max(Z, 1 - Z) >= X / 2: its least value
        ylo = min(ylo, 0.5 * lo) if p.noise_support[0] < 1 else ylo
        return ylo, yhi, sorted(set(pts) | {v for v in more if 0 < v < np.inf})

    def bounce_mean(self, lam: float) -> tuple[float, float]:
        """``(E[T], error estimate)`` of SRPT-Bounce at arrival rate ``lam`` (``inf`` at
        load >= 1).

        Examples
        --------
        >>> import qtheory as qt
        >>> size, pred = qt.Weibull(2.0), qt.UniformPrediction(0.5)
        >>> value, err = BounceAnalysis(size, pred).bounce_mean(0.8 / size.mean)
        >>> soap = qt.MG1(load=0.8, size=size, prediction=pred).mean_response_time(
        ...     qt.policies.SRPTBounce(), method="soap")
        >>> bool(abs(value - soap) < 1e-8 * value)
        True
        """
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        rho = lam * self.m1
        if rho >= 1.0 or not np.isfinite(self.m2):
            return np.inf, 0.0
        needs = ("fy", "fR", "LBbar", "SB", "KB", "AB")

        def evaluate(level):
            g, q = self._grid(level, needs)
            d = (1.0 - rho) + lam * q["LBbar"]
            with np.errstate(all="ignore"):
                v1, e1 = g.integrate(q["fR"] * q["SB"] / d**2)
                v2, e2 = g.integrate((q["KB"] + q["AB"]) / d)
            return v2 + 0.5 * lam * v1, e2 + 0.5 * lam * e1

        first = 3 if len(self._y_breakpoints()[2]) > 2 else 4
        return adaptive(evaluate, self.rtol, "SRPT-Bounce mean response time", first=first,
                        square_c=SQUARE_C, first_c=FIRST_C)

    def bounce_conditional(self, lam: float, x, y) -> np.ndarray:
        """``E[T(x, y)]`` of SRPT-Bounce for a job of size ``x`` with estimate ``y``
        (broadcast).

        Examples
        --------
        >>> import qtheory as qt
        >>> a = BounceAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction())
        >>> t = a.bounce_conditional(0.5, [1.0, 1.0], [2.0, 0.25])
        >>> from qtheory.analysis.soap import SOAPAnalysis
        >>> soap = SOAPAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                     qt.policies.SRPTBounce().rank()).conditional(
        ...                         0.5, [1.0, 1.0], [2.0, 0.25])
        >>> t.round(6), bool(np.allclose(t, soap, rtol=1e-10))
        (array([2.043834, 1.359195]), True)
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        rho = lam * self.m1
        if rho >= 1.0:
            return np.full(x.shape, np.inf)
        r = np.maximum(y, x - y)
        q = self._tabled(r, ("LBbar", "SB"))
        d = (1.0 - rho) + lam * q["LBbar"]
        wait = 0.5 * lam * q["SB"] / d**2
        # residence: levels (|x - y|, y) at rate 1, then the time left at level x - y
        lo = np.abs(x - y)
        res = self._levels(lam, np.minimum(lo, y), y, "LBbar")
        stay = np.where(x <= y, 0.0, np.where(x < 2.0 * y, 2.0 * (x - y), x))
        at = np.maximum(x - y, 0.0)
        d_at = (1.0 - rho) + lam * self._tabled(at, ("LBbar",))["LBbar"]
        return wait + res + np.where(stay > 0, stay / d_at, 0.0)
