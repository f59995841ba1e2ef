"""Independent high-precision mean response times with :mod:`mpmath`.

This is ``method="mpmath"`` of :meth:`qtheory.MG1.mean_response_time`. It shares
no code with the double-precision engine (``quadrature``, ``joint``, ``outer``,
``classical``, ``predicted``): every quantity is written directly from the
published formulas as integrals over the true size x and the prediction y,
evaluated with :func:`mpmath.quad` at the requested number of digits, so that
comparing the two methods is a meaningful check of both.

Notation (as in ``formulas.md``): arrivals at rate lambda, size X with density
f (or atoms), prediction Y = X Z with noise Z independent of X, so that the
joint density is g(x, y) = f(x) q(y | x) with q(y | x) = n(y/x)/x and
Q(y | x) = N(y/x) (n, N: density and cdf of Z); rho = lambda E[X];
rho_x = lambda int_0^x t f(t) dt; rho'_y = lambda int f(x) x Q(y | x) dx.

Laws with atoms use FIFO tie-breaking as in SOAP: the waiting-time denominator
is (1 - rho_{x-})(1 - rho_x) (Cobham's form), so that SJF, PSJF and SRPT reduce
to FCFS for a deterministic size.
"""

from __future__ import annotations

import bisect
import math
import warnings

from mpmath import mp

from .._warnings import QuadratureWarning

__all__ = ["mean_response_time", "mean_response_time_mpf", "POLICIES"]

POLICIES = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT", "SPJF", "PSPJF", "SPRPT")
_ALIASES = {"LAS": "FB"}
_TWIN = {"SPJF": "SJF", "PSPJF": "PSJF", "SPRPT": "SRPT"}
_STEP = 8  # ratio of consecutive split points on half-lines
_MAX_STEPS = 14  # at most this many geometric split points above the typical size


def mean_response_time(policy: str, size, prediction, lam: float, dps: int = 30) -> float:
    """Mean response time E[T] of an M/G/1 queue, computed in high precision.

    Every formula is evaluated directly as (at most doubly nested) integrals over
    the true size x and the prediction y with :func:`mpmath.quad`, split at the
    support ends and kinks of the integrands; laws with atoms use exact sums.

    Parameters
    ----------
    policy : str
        One of ``FCFS, PS, FB (alias LAS), SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT``.
    size : SizeDistribution
        Law of the true size X (its ``mp_pdf``/``mp_cdf``/``mp_sf``/``mp_moment``,
        or ``atoms`` when ``is_discrete``).
    prediction : PredictionModel
        Multiplicative model Y = X Z (its ``noise_mp_cdf``/``noise_mp_pdf``,
        ``noise_support``, ``noise_breakpoints``, ``is_exact``).
    lam : float
        Arrival rate lambda > 0.
    dps : int
        Decimal digits of the computation (default 30).

    Returns
    -------
    float
        E[T]; ``inf`` when rho = lambda E[X] >= 1 or a moment the policy needs is
        infinite. If a quadrature cannot reach about ``dps - 5`` digits even after
        subdivision, a :class:`~qtheory.QuadratureWarning` gives the achieved
        relative error.

    Raises
    ------
    ValueError
        For an unknown ``policy`` name or a non-positive ``lam``.

    Notes
    -----
    Formulas (see ``formulas.md``):

    * FCFS (Pollaczek-Khinchine), PS, FB, SJF, PSJF and SRPT (Schrage & Miller
      1966): M. Harchol-Balter, *Performance Modeling and Design of Computer
      Systems*, Cambridge University Press 2013, ch. 23 and 30-33;
      L. Schrage and L. Miller, "The queue M/G/1 with the shortest remaining
      processing time discipline", Operations Research 14(4), 1966.
    * SPJF, PSPJF and SPRPT: M. Mitzenmacher, "Scheduling with Predictions and
      the Price of Misprediction", ITCS 2020 (arXiv:1902.00732).
    * SPRPT's response time (and the tie conventions for atoms) from SOAP:
      Z. Scully, M. Harchol-Balter, A. Scheller-Wolf, "SOAP: One Clean Analysis
      of All Age-Based Scheduling Policies", POMACS 2(1), 2018.

    Exact simplifications used (each also stated in a comment where it is used):

    * Fubini: the average of a function of y alone over g integrates x out
      (f_Y(y) = int g dx, int x g dx); for SRPT the residence term averaged
      over f is int_0^inf Fbar(t) / (1 - rho_t) dt; for SPRPT, with v = y - a,
      it is int_0^inf D(v) / (1 - rho'_v) dv with D(v) = P(v <= Y <= v + X);
    * SPRPT's window term int_{t>y} int_{s>t-y} (s - t + y)^2 g(s, t) equals
      int f(s) s^2 K(y/s) ds with K(c) = int_c^{c+1} (c + 1 - z)^2 n(z) dz
      (z = t/s), evaluated with s = y sigma on a fixed lattice in sigma so
      that the values of K are shared between the y's;
    * E[(X - Y)^+] = E[X] int_0^1 N(z) dz (integration by parts in y);
    * N(y/x) = 1 for x <= y/zhi, where int x^k f N(y/x) dx is a partial moment.

    Numerics: ``mpmath.quad`` (Gauss-Legendre on smooth interior intervals,
    tanh-sinh elsewhere) split at support ends, breakpoints, the kinks of the
    noise law mapped to x, and geometric ladders (ratio 8) on half-lines; a
    first interval [0, a] with an algebraic singularity is mapped by x = a u^4,
    an interval spanning many decades by x = exp(v). Each integral is scaled to
    order 1 because mpmath's convergence test is absolute. At ``dps=20`` the
    classical policies take about a second, SPJF/PSPJF 2-45 s and SPRPT
    15-100 s on one core.

    Examples
    --------
    >>> from qtheory import Exponential, ExactPrediction
    >>> round(mean_response_time("FCFS", Exponential(mean=1.0), ExactPrediction(), 0.5, 20), 12)
    2.0
    """
    return float(mean_response_time_mpf(policy, size, prediction, lam, dps))


def mean_response_time_mpf(policy: str, size, prediction, lam: float, dps: int = 30):
    """:func:`mean_response_time` as an :class:`mpmath.mpf` carrying ``dps`` digits.

    Used for reference values (``validation/make_reference_values.py``); same
    parameters, ``mpmath.inf`` where the float version returns ``inf``.

    Examples
    --------
    >>> from qtheory import Exponential, ExactPrediction
    >>> v = mean_response_time_mpf("PS", Exponential(mean=1.0), ExactPrediction(), 0.75, 25)
    >>> str(v)
    '4.0'
    """
    name = _policy_name(policy)
    try:
        lam_f = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"lam must be a number, got {lam!r}") from None
    if not (math.isfinite(lam_f) and lam_f > 0):
        raise ValueError(f"lam must be finite and > 0, got {lam!r}")
    dps = int(dps)
    if dps < 10:
        raise ValueError(f"dps must be >= 10, got {dps!r}")
    with mp.workdps(dps):
        calc = _Calc(size, prediction, mp.mpf(lam_f), dps)
        value = calc.mean(name)
        calc.report(name)
        return +value


def _policy_name(policy) -> str:
    name = getattr(policy, "name", policy)
    key = str(name).upper() if isinstance(name, str) else None
    key = _ALIASES.get(key, key)
    if key not in POLICIES:
        raise ValueError(
            f"policy: unknown policy {policy!r} for method='mpmath'; expected one of "
            f"{', '.join(POLICIES)}"
        )
    return key


# ---------------------------------------------------------------------------- helpers
def _unique_sorted(points):
    out = []
    for p in sorted(points):
        if not out or p != out[-1]:
            out.append(p)
    return out


def _refine(pts):
    """Split every interval of ``pts`` in two (geometric midpoint on wide positive ones)."""
    out = [pts[0]]
    for a, b in zip(pts[:-1], pts[1:]):
        if b == mp.inf:
            mid = a * _STEP if a > 0 else mp.one
            if mid > a:
                out.append(mid)
        elif a > 0 and b > 4 * a:
            out.append(mp.sqrt(a * b))
        else:
            out.append((a + b) / 2)
        out.append(b)
    return out


_WIDE = 2**16  # intervals [a, b] with b / a above this are integrated in log x
_POWER = 4  # x = a u**4 on a first interval [0, a] where the integrand is singular at 0


def _singular_at_zero(f, a):
    """True when x f(x) decays slower than x**0.9 as x -> 0 (an algebraic singularity)."""
    x1, x2 = a * mp.mpf(2) ** -40, a * mp.mpf(2) ** -80
    v1 = abs(f(x1)) * x1
    if not v1 > 0:
        return False
    return abs(f(x2)) * x2 > v1 * mp.mpf(2) ** -36


def _piece(f, a, b, maxdegree=None, method="tanh-sinh", multiscale=False):
    """One interval [a, b] with mpmath.quad; returns (value, error estimate).

    On a first interval [0, a] where x f(x) does not vanish like x (an algebraic
    singularity such as the density of a Weibull or gamma law of shape < 1),
    tanh-sinh nodes cannot come closer to 0 than about eps * a, which loses a
    share of about eps**(1 - beta) for f ~ x**-beta (1e-10 at 20 digits for a
    square-root singularity). There x = a u**4 is substituted, which makes the
    integrand O(u**(3 - 4 beta)) and keeps the loss below eps for beta <= 3/4.
    """
    if a == 0 and b != mp.inf and _singular_at_zero(f, b):
        def g(u):
            u3 = u**3
            return f(b * u3 * u) * (_POWER * b * u3)

        return mp.quad(g, [0, 1], error=True, maxdegree=maxdegree)
    if multiscale and a > 0 and b != mp.inf and b > a * _WIDE:
        # many decades (e.g. from y to the typical size when y is tiny): x = exp(v)
        def h(v):
            x = mp.exp(v)
            return f(x) * x

        return mp.quad(h, [mp.log(a), mp.log(b)], error=True, maxdegree=maxdegree)
    return mp.quad(f, [a, b], error=True, maxdegree=maxdegree, method=method)


class _Cumulative:
    """x -> int_lo^x t**k f(t) dt for a continuous law, memoised.

    A new point is integrated from the nearest point already known (exact
    additivity of the integral), so that the many points an outer
    :func:`mpmath.quad` asks for each cost one short quadrature.
    """

    def __init__(self, calc, k: int):
        self.c = calc
        self.k = k
        self.keys = [calc.lo]
        self.vals = [mp.zero]
        self.total = calc.moment(k)
        self.tail = {}

    def integrand(self, t):
        return t**self.k * self.c.pdf(t)

    def __call__(self, x):
        c = self.c
        if x <= c.lo:
            return mp.zero
        if x >= c.hi:
            return self.total
        if x > c.top:  # far tail: total minus the (negligible) tail integral
            v = self.tail.get(x)
            if v is None:
                v = self.total - c.quad(self.integrand, [x, mp.inf], "tail partial moment",
                                        scale=self.total)
                self.tail[x] = v
            return v
        i = bisect.bisect_left(self.keys, x)
        if i < len(self.keys) and self.keys[i] == x:
            return self.vals[i]
        left = self.keys[i - 1]
        right = self.keys[i] if i < len(self.keys) else None
        if right is not None and right - x < x - left:
            pts = c.cut_points(x, right)
            v = self.vals[i] - c.quad(self.integrand, pts, "partial moment", scale=self.total)
        else:
            pts = c.cut_points(left, x)
            v = self.vals[i - 1] + c.quad(self.integrand, pts, "partial moment",
                                          scale=self.total)
        self.keys.insert(i, x)
        self.vals.insert(i, v)
        return v


# ---------------------------------------------------------------------------- engine
class _Calc:
    """All integrals for one (size law, prediction model, lambda) at the current precision."""

    def __init__(self, size, prediction, lam, dps):
        self.size = size
        self.pred = prediction
        self.lam = lam
        self.dps = dps
        self.tol = mp.mpf(10) ** (-(dps - 5))
        self.tiny = mp.mpf(10) ** (-(dps + 10))
        self.worst = mp.zero
        self.worst_what = ""
        self.worst_tol = self.tol
        self.discrete = bool(getattr(size, "is_discrete", False))
        self._moments = {}
        if self.discrete:
            vals, probs = size.atoms
            pairs = sorted((mp.mpf(float(v)), mp.mpf(float(p)))
                           for v, p in zip(vals, probs) if float(p) > 0)
            total = mp.fsum(p for _, p in pairs)
            self.atoms = [(v, p / total) for v, p in pairs]
            self.lo, self.hi = self.atoms[0][0], self.atoms[-1][0]
        else:
            lo, hi = (float(v) for v in size.support)
            self.lo = mp.mpf(max(lo, 0.0))
            self.hi = mp.mpf(hi) if math.isfinite(hi) else mp.inf
            self.breaks = _unique_sorted(
                mp.mpf(float(b)) for b in size.breakpoints if lo < float(b) < hi
            )
            self._pdf = {}
            self.ladder, self.top = self._size_ladder()
        # noise law
        self.exact = bool(getattr(prediction, "is_exact", False))
        if not self.exact:
            zlo, zhi = (float(v) for v in prediction.noise_support)
            self.zlo = mp.mpf(max(zlo, 0.0))
            self.zhi = mp.mpf(zhi) if math.isfinite(zhi) else mp.inf
            zb = {float(b) for b in prediction.noise_breakpoints}
            zb |= {v for v in (zlo, zhi) if 0 < v < math.inf}
            self.zbreaks = _unique_sorted(mp.mpf(b) for b in zb if b > 0)
            try:
                zmed = float(prediction.noise_median)
            except Exception:  # noqa: BLE001 - a user law without a ppf
                zmed = 1.0
            self.zmed = mp.mpf(zmed) if math.isfinite(zmed) and zmed > 0 else mp.one
            self.zcap = self._noise_cap()
            self.yscale = mp.mpf(float(size.scale)) * self.zmed
            self._ymemo = {}
            self._kmemo = {}
            self._Nmemo = {}
            self._nmemo = {}

    # ------------------------------------------------------------------ numerics
    def quad(self, f, pts, what, scale=1, outer=False, multiscale=False):
        """mpmath.quad of f over the split points ``pts``, with error control.

        ``scale``: the expected size of the result. mpmath's convergence test and
        error estimate are absolute (eps/8, and capped at 1), so the integrand
        is divided by ``scale`` to make both relative to it.
        ``outer``: the outermost integral, whose integrand carries the errors of
        inner integrals; inner ones must reach a 100 times smaller error.
        ``multiscale``: integrate intervals spanning many decades in log x (the
        integrals over x at a small y live on all scales from y to the sizes).
        Interior finite intervals hold smooth integrands (kinks are split
        points): Gauss-Legendre is tried first, tanh-sinh where its error
        estimate is not good enough. If the total error is still too large,
        every interval is bisected and the degree raised; if that fails too,
        the achieved relative error is reported once in a QuadratureWarning.
        """
        pts = _unique_sorted(pts)
        if len(pts) < 2:
            return mp.zero
        scale = mp.mpf(scale)
        if not (0 < scale < mp.inf):
            scale = mp.one

        def fs(x):
            return f(x) / scale

        tol = self.tol if outer else self.tol / 100
        pieces = []
        for a, b in zip(pts[:-1], pts[1:]):
            if a > 0 and b != mp.inf and not (multiscale and b > a * _WIDE):
                v, e = mp.quad(fs, [a, b], method="gauss-legendre", error=True)
                pieces.append([a, b, v, e, True])
            else:
                pieces.append([a, b, *_piece(fs, a, b, multiscale=multiscale), False])
        for p in pieces:
            if p[4] and p[3] > tol / len(pieces):
                p[2], p[3] = _piece(fs, p[0], p[1], multiscale=multiscale)
        v = mp.fsum(p[2] for p in pieces)
        e = mp.fsum(p[3] for p in pieces)
        if e <= tol * max(abs(v), 1):
            return v * scale
        deg = int(4 + max(0, math.log(mp.prec / 30.0, 2))) + 1  # mpmath's own guess, plus one
        fine = _refine(pts)
        parts = [_piece(fs, a, b, deg, multiscale=multiscale)
                 for a, b in zip(fine[:-1], fine[1:])]
        v2 = mp.fsum(p[0] for p in parts)
        e2 = mp.fsum(p[1] for p in parts)
        rel = e2 / max(abs(v2), 1)
        if rel > tol and rel > self.worst:
            self.worst, self.worst_what, self.worst_tol = rel, what, tol
        return v2 * scale

    def report(self, name):
        if self.worst > 0:
            warnings.warn(
                f"mpmath {name}: a quadrature ({self.worst_what}) reached only a relative "
                f"error of {mp.nstr(self.worst, 3)} (asked for {mp.nstr(self.worst_tol, 3)})",
                QuadratureWarning,
                stacklevel=4,
            )

    # ------------------------------------------------------------------ size law
    def moment(self, k):
        if k not in self._moments:
            if self.discrete:
                self._moments[k] = mp.fsum(p * v**k for v, p in self.atoms)
            else:
                m = self.size.mp_moment(k)
                self._moments[k] = mp.mpf(m) if m != mp.inf else mp.inf
        return self._moments[k]

    def pdf(self, x):
        v = self._pdf.get(x)
        if v is None:
            v = mp.mpf(self.size.mp_pdf(x))
            self._pdf[x] = v
        return v

    def sf(self, x):
        return mp.mpf(self.size.mp_sf(x))

    def _size_ladder(self):
        """Geometric split points m * 8**k above the median m, until the tail is negligible."""
        m = mp.mpf(float(self.size.scale))
        if not m > self.lo:
            m = self.lo * 2 if self.lo > 0 else mp.one
        eps = mp.mpf(10) ** (-(self.dps + 5))
        pts, p = [], m
        for _ in range(_MAX_STEPS):
            if not p < self.hi:
                break
            pts.append(p)
            if self.sf(p) < eps:
                break
            p = p * _STEP
        top = pts[-1] if (pts and self.hi == mp.inf) else mp.inf
        return pts, top

    def cut_points(self, a, b, extra=()):
        """[a, b] with the support ends, breakpoints, ladder and ``extra`` points inside."""
        inner = [p for p in (*self.breaks, *self.ladder, *extra) if a < p < b]
        return [a, *_unique_sorted(inner), b]

    def expect(self, h, a=None, b=None, extra=(), what="", scale=1, outer=False):
        """E[h(X); a < X < b]: a sum over atoms, or a quadrature of f h over (a, b)."""
        if self.discrete:
            return mp.fsum(p * h(v) for v, p in self.atoms)
        a = self.lo if a is None else max(a, self.lo)
        b = self.hi if b is None else min(b, self.hi)
        if not a < b:
            return mp.zero
        return self.quad(lambda x: self.pdf(x) * h(x), self.cut_points(a, b, extra), what, scale,
                         outer=outer)

    # ------------------------------------------------------------------ dispatch
    def mean(self, name):
        m1 = self.moment(1)
        if m1 == mp.inf or self.lam * m1 >= 1:
            return mp.inf
        # rough sizes of the results, to scale the outer integrals (see quad)
        self.rscale = 1 / (1 - self.lam * m1)
        self.tscale = m1 * self.rscale
        if name in _TWIN and self.exact:
            name = _TWIN[name]  # Y = X: the policy on true sizes
        if name in _TWIN:
            return getattr(self, "_" + name)()
        if self.discrete:
            return getattr(self, "_d_" + name)()
        return getattr(self, "_c_" + name)()

    # ------------------------------------------------------------------ classical
    def _FCFS(self):
        # Pollaczek-Khinchine: E[T] = E[X] + lam E[X^2] / (2 (1 - rho))
        m1, m2 = self.moment(1), self.moment(2)
        if m2 == mp.inf:
            return mp.inf
        return m1 + self.lam * m2 / (2 * (1 - self.lam * m1))

    def _PS(self):
        # E[T(x)] = x / (1 - rho), averaged: E[X] / (1 - rho)
        m1 = self.moment(1)
        return m1 / (1 - self.lam * m1)

    _c_FCFS = _d_FCFS = _FCFS
    _c_PS = _d_PS = _PS

    # continuous size laws: outer integral over x of E[T(x)] f(x), with the
    # partial moments int_0^x t^k f(t) dt memoised (_Cumulative)
    def _c_SJF(self):
        # E[T(x)] = x + lam E[X^2] / (2 (1 - rho_x)^2); the x term averages to E[X]
        m2 = self.moment(2)
        if m2 == mp.inf:
            return mp.inf
        lam, c1 = self.lam, _Cumulative(self, 1)
        w = self.expect(lambda x: 1 / (1 - lam * c1(x)) ** 2, what="SJF outer",
                        scale=self.rscale, outer=True)
        return self.moment(1) + lam * m2 / 2 * w

    def _c_PSJF(self):
        # E[T(x)] = x / (1 - rho_x) + lam int_0^x t^2 f / (2 (1 - rho_x)^2)
        lam, c1, c2 = self.lam, _Cumulative(self, 1), _Cumulative(self, 2)

        def h(x):
            r = 1 - lam * c1(x)
            return x / r + lam * c2(x) / (2 * r * r)

        return self.expect(h, what="PSJF outer", scale=self.tscale, outer=True)

    def _c_SRPT(self):
        # E[T(x)] = lam [int_0^x t^2 f + x^2 Fbar(x)] / (2 (1 - rho_x)^2)
        #          + int_0^x dt / (1 - rho_t).
        # Residence term averaged over f, by Fubini:
        #   int f(x) int_0^x dt/(1 - rho_t) dx = int_0^inf Fbar(t) / (1 - rho_t) dt.
        lam, c1, c2 = self.lam, _Cumulative(self, 1), _Cumulative(self, 2)

        def h(x):
            r = 1 - lam * c1(x)
            return lam * (c2(x) + x * x * self.sf(x)) / (2 * r * r)

        wait = self.expect(h, what="SRPT waiting", scale=self.tscale, outer=True)
        hi = self.hi
        pts = [mp.zero, *self.cut_points(self.lo, hi)] if self.lo > 0 else self.cut_points(0, hi)
        res = self.quad(lambda t: self.sf(t) / (1 - lam * c1(t)), pts, "SRPT residence",
                        scale=self.tscale, outer=True)
        return wait + res

    def _c_FB(self):
        # with Xbar_x = min(X, x): rhobar_x = lam E[Xbar_x], E[T(x)] =
        # (x (1 - rhobar_x) + lam E[Xbar_x^2] / 2) / (1 - rhobar_x)^2
        lam, c1, c2 = self.lam, _Cumulative(self, 1), _Cumulative(self, 2)

        def h(x):
            s = self.sf(x)
            r = 1 - lam * (c1(x) + x * s)
            return (x * r + lam * (c2(x) + x * x * s) / 2) / (r * r)

        return self.expect(h, what="FB outer", scale=self.tscale, outer=True)

    # laws with atoms: exact sums, ties FIFO (Cobham / SOAP)
    def _partials(self):
        """For each atom v_i: rho_{v-} and rho_v, and E[X^2; X <= v]."""
        out, s1, s2 = [], mp.zero, mp.zero
        for v, p in self.atoms:
            before = self.lam * s1
            s1 += p * v
            s2 += p * v * v
            out.append((v, p, before, self.lam * s1, s2))
        return out

    def _d_SJF(self):
        # E[T(x)] = x + lam E[X^2] / (2 (1 - rho_{x-})(1 - rho_x))
        m2 = self.moment(2)
        terms = (p * (v + self.lam * m2 / (2 * (1 - rb) * (1 - ra)))
                 for v, p, rb, ra, _ in self._partials())
        return mp.fsum(terms)

    def _d_PSJF(self):
        # preemptive priority by size, FIFO within a size (Cobham):
        # E[T(x)] = x / (1 - rho_{x-}) + lam E[X^2; X <= x] / (2 (1 - rho_{x-})(1 - rho_x))
        terms = (p * (v / (1 - rb) + self.lam * s2 / (2 * (1 - rb) * (1 - ra)))
                 for v, p, rb, ra, s2 in self._partials())
        return mp.fsum(terms)

    def _d_SRPT(self):
        # SOAP with rank x - a, ties FIFO: old jobs X_0 = X 1{X <= x}, X_1 = x 1{X > x},
        # rho_0^old = rho_x, rho^new = rho_{x-}:
        # E[T(x)] = lam (E[X^2; X <= x] + x^2 P(X > x)) / (2 (1 - rho_x)(1 - rho_{x-}))
        #         + int_0^x dt / (1 - rho_{t-}),  rho_t piecewise constant between atoms.
        out, res, prev, rprev = [], mp.zero, mp.zero, mp.zero
        parts = self._partials()
        for v, p, rb, ra, s2 in parts:
            res += (v - prev) / (1 - rprev)  # rho_{t-} = rho_prev on (prev, v]
            prev, rprev = v, ra
            tail = mp.fsum(q for w, q, *_ in parts if w > v)
            wait = self.lam * (s2 + v * v * tail) / (2 * (1 - ra) * (1 - rb))
            out.append(p * (wait + res))
        return mp.fsum(out)

    def _d_FB(self):
        # FB formula with Xbar_x = min(X, x) (SOAP: rank = age; unchanged by atoms)
        terms = []
        for v, p in self.atoms:
            e1 = mp.fsum(q * min(w, v) for w, q in self.atoms)
            e2 = mp.fsum(q * min(w, v) ** 2 for w, q in self.atoms)
            r = 1 - self.lam * e1
            terms.append(p * (v * r + self.lam * e2 / 2) / (r * r))
        return mp.fsum(terms)

    # ------------------------------------------------------------------ predictions
    # Noise law: N = cdf, n = density of Z; Q(y|x) = N(y/x), q(y|x) = n(y/x)/x.
    def N(self, z):
        if z >= self.zcap:
            return mp.one
        v = self._Nmemo.get(z)
        if v is None:
            v = self._Nmemo[z] = mp.mpf(self.pred.noise_mp_cdf(z))
        return v

    def n(self, z):
        if z >= self.zcap:
            return mp.zero
        v = self._nmemo.get(z)
        if v is None:
            v = self._nmemo[z] = mp.mpf(self.pred.noise_mp_pdf(z))
        return v

    def _noise_cap(self):
        """A point beyond which Z has no mass at the working precision.

        Integrals over x near 0 ask for N(y/x) and n(y/x) at astronomically large
        arguments, where e.g. exp(-z) costs a precision proportional to log(z).
        Past zcap, 1 - N(z) and z**3 n(z) are below 10**-(dps + 10), so N is set
        to 1 and n to 0 there (a change below the working precision).
        """
        if self.zhi != mp.inf:
            return self.zhi
        eps = mp.mpf(10) ** (-(self.dps + 10))
        z = 2 * max(self.zmed, mp.one)
        with mp.workdps(self.dps + 15):
            for _ in range(400):
                tail = 1 - mp.mpf(self.pred.noise_mp_cdf(z))
                if tail < eps and z**3 * mp.mpf(self.pred.noise_mp_pdf(z)) < eps:
                    return +z
                z *= 2
        return mp.inf

    def _x_kinks(self, y, shifted=False):
        """Split points in x for integrands in N(y/x), n(y/x) (and N(1 + y/x)).

        Their kinks y/b (and y/(b - 1)) for the noise breakpoints b, and the point
        y/median(Z) where the noise factor changes, with two more at 8 and 64
        times it (a wide gap up to the size ladder is then integrated in log x,
        see _piece).
        """
        pts = [y / b for b in self.zbreaks]
        if shifted:
            pts += [y / (b - 1) for b in self.zbreaks if b > 1]
        p = y / self.zmed
        pts += [p, p * _STEP, p * _STEP**2]
        return pts

    def _ymemo_get(self, key, y, fn):
        k = (key, y)
        v = self._ymemo.get(k)
        if v is None:
            v = fn(y)
            self._ymemo[k] = v
        return v

    # The functions of y below are integrals over x; two of them share one
    # quadrature as the real and imaginary parts of a complex integrand (mpmath.quad
    # integrates complex functions), each scaled to order 1.
    def _pair(self, y, key, h1, h2, a, b, kinks, s1, s2):
        """(E[h1(X); a < X < b], E[h2(X); a < X < b]) for the y-function pair ``key``."""
        k = (key, y)
        out = self._ymemo.get(k)
        if out is not None:
            return out
        if self.discrete:
            out = (mp.fsum(p * h1(v) for v, p in self.atoms),
                   mp.fsum(p * h2(v) for v, p in self.atoms))
        else:
            a, b = max(a, self.lo), min(b, self.hi)
            if a < b:
                i1, i2 = 1 / s1, 1 / s2

                def f(x):
                    p = self.pdf(x)
                    return mp.mpc(p * h1(x) * i1, p * h2(x) * i2)

                v = self.quad(f, self.cut_points(a, b, kinks), key, multiscale=True)
                out = (v.real * s1, v.imag * s2)
            else:
                out = (mp.zero, mp.zero)
        self._ymemo[k] = out
        return out

    def _ends(self, y):
        """N(y/x) = 1 for x <= y/zhi, and N(y/x) = n(y/x) = 0 for x >= y/zlo."""
        a = y / self.zhi if self.zhi != mp.inf else mp.zero
        b = y / self.zlo if self.zlo > 0 else mp.inf
        return a, b

    def loads(self, y):
        """(rho'_y, E[X^2; Y <= y]) = (lam int f x N(y/x) dx, int f x^2 N(y/x) dx).

        As N(y/x) = 1 for x <= y/zhi, each is int_0^{y/zhi} x^k f (a partial moment)
        plus an integral over [y/zhi, y/zlo].
        """
        if y <= 0:
            return mp.zero, mp.zero
        a, b = self._ends(y)
        r, s2 = self._pair(y, "loads", lambda x: x * self.N(y / x),
                           lambda x: x * x * self.N(y / x), a, b, self._x_kinks(y),
                           self.moment(1), self.moment(2))
        if not self.discrete and a > self.lo:
            r, s2 = r + self._cum(1)(a), s2 + self._cum(2)(a)
        return self.lam * r, s2

    def dens(self, y):
        """(f_Y(y), h1(y)) = (int g(x, y) dx, int x g(x, y) dx) with g = f(x) n(y/x)/x."""
        if y <= 0:
            return mp.zero, mp.zero
        a, b = self._ends(y)
        # the density of Y is of order 1 / (typical y)
        return self._pair(y, "dens", lambda x: self.n(y / x) / x, lambda x: self.n(y / x),
                          a, b, self._x_kinks(y), 1 / self.yscale,
                          self.moment(1) / self.yscale)

    def dens_load(self, y):
        """(f_Y(y), rho'_y) in one pass (SPJF)."""
        if y <= 0:
            return mp.zero, mp.zero
        a, b = self._ends(y)
        fy, r = self._pair(y, "dens_load", lambda x: self.n(y / x) / x,
                           lambda x: x * self.N(y / x), a, b, self._x_kinks(y),
                           1 / self.yscale, self.moment(1))
        if not self.discrete and a > self.lo:
            r = r + self._cum(1)(a)
        return fy, self.lam * r

    def dens_D(self, v):
        """(f_Y(v), D(v)) with D(v) = P(v <= Y <= v + X) = int f(x) [N(1 + v/x) - N(v/x)] dx.

        D's integrand vanishes unless v/x < zhi and 1 + v/x > zlo; that domain holds
        the support [v/zhi, v/zlo] of the density's integrand (whose end v/zlo is
        among D's kinks).
        """
        if v <= 0:
            return mp.zero, self._D0()
        a = v / self.zhi if self.zhi != mp.inf else mp.zero
        b = v / (self.zlo - 1) if self.zlo > 1 else mp.inf
        return self._pair(v, "dens_D", lambda x: self.n(v / x) / x,
                          lambda x: self.N(1 + v / x) - self.N(v / x), a, b,
                          self._x_kinks(v, shifted=True), 1 / self.yscale, mp.one)

    def _D0(self):
        return self.N(mp.one) - self.N(mp.zero)  # D(0) = P(Z <= 1)

    def _cum(self, k):
        name = f"_cum{k}"
        if not hasattr(self, name):
            setattr(self, name, _Cumulative(self, k))
        return getattr(self, name)

    def K(self, c):
        """int_c^{c+1} (c + 1 - z)^2 n(z) dz = E[(1 + c - Z)^2; c < Z < 1 + c], memoised."""
        if c >= self.zcap:
            return mp.zero
        v = self._kmemo.get(c)
        if v is None:
            a, b = max(c, self.zlo), min(c + 1, self.zhi)
            if a < b:
                pts = [a, *(z for z in self.zbreaks if a < z < b), b]
                v = self.quad(lambda z: (c + 1 - z) ** 2 * self.n(z), pts, "SPRPT window")
            else:
                v = mp.zero
            self._kmemo[c] = v
        return v

    def R(self, y):
        """int_{t>y} int_{s>t-y} (s - (t - y))^2 g(s, t) ds dt.

        For fixed s, put z = t/s: the t-integral is s^2 K(y/s) (Fubini), so
        R(y) = int f(s) s^2 K(y/s) ds. For a continuous law substitute s = y sigma:
        R(y) = y^3 int sigma^2 f(y sigma) K(1/sigma) d sigma, split on a fixed
        lattice of points 8**k (plus the kinks of K), so that the K values are
        shared between all y.
        """

        def one(y):
            if y <= 0:
                return mp.zero
            if self.discrete:
                return mp.fsum(p * v * v * self.K(y / v) for v, p in self.atoms)
            # K(1/sigma) > 0 needs 1/sigma < zhi (or zcap) and 1 + 1/sigma > zlo
            a = max(self.lo / y, 1 / self.zcap if self.zcap != mp.inf else mp.zero)
            b = self.hi / y
            if self.zlo > 1:
                b = min(b, 1 / (self.zlo - 1))
            if not a < b:
                return mp.zero
            # all lattice points from a up to just past the size ladder (in sigma);
            # beyond it f(y sigma) is negligible and one last interval to b suffices
            hi_w = (self.ladder[-1] if self.ladder else 1) / y * _STEP
            k0 = int(mp.floor(mp.log(a, _STEP))) if a > 0 else -4
            k1 = int(mp.ceil(mp.log(min(hi_w, b) if b != mp.inf else hi_w, _STEP)))
            lat = [mp.mpf(_STEP) ** k for k in range(k0, k1 + 1)]
            kinks = [1 / z for z in self.zbreaks] + [1 / (z - 1) for z in self.zbreaks if z > 1]
            brk = [p / y for p in self.breaks]
            inner = [s for s in (*lat, *kinks, *brk) if a < s < b]
            pts = [a, *_unique_sorted(inner), b]
            val = self.quad(lambda s: s * s * self.pdf(y * s) * self.K(1 / s), pts,
                            "SPRPT R(y)", scale=self.moment(2) / y**3)
            return y**3 * val

        return self._ymemo_get("R", y, one)

    def _y_points(self, shifted=False):
        """Split points for integrals over y: support of Y, kinks, and a geometric ladder."""
        xs = [v for v, _ in self.atoms] if self.discrete else [
            p for p in (self.lo, *self.breaks, self.hi) if 0 < p < mp.inf]
        ylo = self.lo * self.zlo
        yhi = self.hi * self.zhi if self.hi != mp.inf and self.zhi != mp.inf else mp.inf
        kinks = {x * z for x in xs for z in self.zbreaks}
        if shifted:
            # SPRPT's residence term D(v) = P(v <= Y <= v + X) is positive below the
            # support of Y too: integrate from 0, with its kinks x (z - 1)
            kinks |= {x * (z - 1) for x in xs for z in self.zbreaks if z > 1}
            kinks.add(ylo)
            ylo = mp.zero
        m = self.yscale
        eps = mp.mpf(10) ** (-(self.dps + 5))
        ladder, p = [], m
        for _ in range(_MAX_STEPS + 4):
            if not p < yhi:
                break
            ladder.append(p)
            if self._y_sf(p) < eps:
                break
            p = p * _STEP
        inner = [y for y in (*kinks, *ladder) if ylo < y < yhi]
        return [ylo, *_unique_sorted(inner), yhi]

    def _y_sf(self, y):
        """P(Y > y) = int f(x) (1 - N(y/x)) dx (only to place split points)."""
        if self.discrete:
            return mp.fsum(p * (1 - self.N(y / v)) for v, p in self.atoms)
        saved = self.worst, self.worst_what  # a rough value is enough here
        a = y / self.zhi if self.zhi != mp.inf else mp.zero
        out = self.expect(lambda x: 1 - self.N(y / x), a, None, self._x_kinks(y), "P(Y > y)")
        self.worst, self.worst_what = saved
        return out

    def _SPJF(self):
        # E[T(x, y)] = x + lam E[X^2] / (2 (1 - rho'_y)^2). Integrating x out (Fubini):
        # E[T] = E[X] + lam E[X^2] / 2 * int f_Y(y) / (1 - rho'_y)^2 dy.
        m2 = self.moment(2)
        if m2 == mp.inf:
            return mp.inf

        def h(y):
            fy, r = self.dens_load(y)
            return fy / (1 - r) ** 2

        w = self.quad(h, self._y_points(), "SPJF outer", scale=self.rscale, outer=True)
        return self.moment(1) + self.lam * m2 / 2 * w

    def _PSPJF(self):
        # E[T(x, y)] = x / (1 - rho'_y) + lam E[X^2; Y <= y] / (2 (1 - rho'_y)^2).
        # Integrating x out: int g(x, y) x dx = h1(y), int g(x, y) dx = f_Y(y).
        lam = self.lam

        def h(y):
            r, s2 = self.loads(y)
            fy, h1 = self.dens(y)
            return h1 / (1 - r) + lam * fy * s2 / (2 * (1 - r) ** 2)

        return self.quad(h, self._y_points(), "PSPJF outer", scale=self.tscale, outer=True)

    def _SPRPT(self):
        # E[T(x, y)] = lam [E[X^2; Y <= y] + R(y)] / (2 (1 - rho'_y)^2)
        #              + int_0^{min(x,y)} da / (1 - rho'_{y-a}) + (x - y)^+.
        # Residence term averaged over g: put v = y - a, then exchange the order
        # (Fubini): int_0^inf dv / (1 - rho'_v) P((Y - X)^+ <= v <= Y), and
        # P(v <= Y <= v + X) = D(v) (positive for v below the support of Y too).
        # (x - y)^+ averaged: int f(x) int_0^x (x - y) q(y|x) dy dx; by parts the inner
        # integral is int_0^x N(y/x) dy = x int_0^1 N(z) dz, so the term is E[X] int_0^1 N.
        m2 = self.moment(2)
        if m2 == mp.inf and self.N(mp.one) > 0:
            return mp.inf
        lam = self.lam

        def h(y):
            r, s2 = self.loads(y)
            fy, d = self.dens_D(y)
            wait = lam * fy * (s2 + self.R(y)) / (2 * (1 - r) ** 2) if fy else mp.zero
            return wait + d / (1 - r)

        main = self.quad(h, self._y_points(shifted=True), "SPRPT outer", scale=self.tscale,
                         outer=True)
        pts = [mp.zero, *(z for z in self.zbreaks if z < 1), mp.one]
        short = self.moment(1) * self.quad(self.N, pts, "E[(1 - Z)^+]")
        return main + short
