"""Closed forms with sympy: the M/M/1 queue, and exponential predictions of exponential sizes.

Everything here is derived with :mod:`sympy` (``sympy.integrate``) rather than
typed in by hand, then either simplified to an exact expression or reduced to a
single one-dimensional integral that :func:`mpmath.quad` evaluates at 30
significant digits (the integrands are ``sympy.lambdify``-ed with
``modules="mpmath"``). It is an independent check of the double-precision
quadrature engine (``method="quad"``).

Sources (see ``shared/reference/formulas.md``):

* FCFS (Pollaczek-Khinchine), PS, SJF, PSJF, SRPT and FB (LAS) with known sizes:
  M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*,
  Cambridge University Press (2013), ch. 23-33; SRPT: L. Schrage and L. Miller,
  "The queue M/G/1 with the shortest remaining processing time discipline",
  Oper. Res. 14 (1966) 670-684.
* SPJF, PSPJF and SPRPT with exponential predictions (``Y | X = x ~ Exp(mean x)``):
  M. Mitzenmacher, "Scheduling with Predictions and the Price of
  Misprediction", ITCS 2020 (arXiv:1902.00732). The Bessel-K forms follow from
  the integral representation (DLMF 10.32.10)
  ``integral_0^inf x^(nu-1) exp(-x - y/x) dx = 2 y^(nu/2) K_nu(2 sqrt(y))``;
  sympy returns these integrals as Meijer G functions
  ``G^{2,0}_{0,2}(y | 0, nu)``, which equal the Bessel forms (checked to 50
  digits and through the recursion ``d/dy M_k = -M_{k-1}`` in the tests and in
  ``proofs_notebooks/predicted_sizes_exponential.py``).
* PSPJF and SPRPT mean-value formulas: derived with SOAP (Scully,
  Harchol-Balter, Scheller-Wolf, "SOAP: One Clean Analysis of All Age-Based
  Scheduling Policies", POMACS 2018), as in ``formulas.md``.

Supported cases of :func:`mean_response_time` (sizes ``Exponential(mean=m)``,
``mu = 1/m``, ``rho = lambda m``):

==========================  ====================  ===============================
policy                      prediction            form
==========================  ====================  ===============================
FCFS, PS                    any                   exact: ``1 / (mu - lambda)``
SJF, PSJF, SRPT, FB         any (true sizes)      closed-form integrand, mpmath.quad
SPJF, PSPJF, SPRPT          ExactPrediction       as SJF, PSJF, SRPT
SPJF, PSPJF, SPRPT          ExponentialPrediction Bessel-K integrand, mpmath.quad
==========================  ====================  ===============================

Anything else raises :class:`NotImplementedError`.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import mpmath as mp
import sympy as sp

__all__ = [
    "SYMBOLS",
    "SUPPORTED_POLICIES",
    "DPS",
    "mm1_expressions",
    "exp_prediction_expressions",
    "sprpt_noise_identities",
    "bessel_from_meijerg",
    "mean_response_time",
]

#: Decimal digits of the mpmath quadratures.
DPS = 30

_x, _t, _y, _u, _s, _z, _w = sp.symbols("x t y u s z w", positive=True)
_mu, _lam, _m = sp.symbols("mu lambda m", positive=True)

#: The sympy symbols used in every expression of this module.
SYMBOLS: dict[str, sp.Symbol] = {
    "x": _x,  # true size
    "t": _t,  # integration variable over sizes
    "y": _y,  # prediction (or the rank level u in K(u))
    "u": _u,
    "s": _s,  # y = m s**2 substitution variable
    "z": _z,  # multiplicative noise Z = Y / X
    "w": _w,
    "mu": _mu,  # service rate 1/m (M/M/1)
    "lam": _lam,  # arrival rate
    "m": _m,  # mean size (predictions)
}

_CLASSICAL = ("FCFS", "PS", "SJF", "PSJF", "SRPT", "FB")
_PREDICTED = ("SPJF", "PSPJF", "SPRPT")
_TWIN = {"SPJF": "SJF", "PSPJF": "PSJF", "SPRPT": "SRPT"}

#: Policy names for which :func:`mean_response_time` may have a closed form.
SUPPORTED_POLICIES: tuple[str, ...] = _CLASSICAL + _PREDICTED


# ---------------------------------------------------------------------------- M/M/1
@lru_cache(maxsize=1)
def _mm1() -> dict[str, Any]:
    x, t, mu, lam = _x, _t, _mu, _lam
    f = mu * sp.exp(-mu * x)  # density of Exp(rate mu)
    ft = f.subs(x, t)
    Fbar = sp.exp(-mu * x)
    EX = sp.integrate(t * ft, (t, 0, sp.oo))
    EX2 = sp.integrate(t**2 * ft, (t, 0, sp.oo))
    rho = sp.simplify(lam * EX)
    # rho_x = lambda int_0^x t f(t) dt ; S2(x) = int_0^x t^2 f(t) dt
    rho_x = sp.simplify(lam * sp.integrate(t * ft, (t, 0, x)))
    S2 = sp.simplify(sp.integrate(t**2 * ft, (t, 0, x)))
    # FB: E[min(X, x)] = int_0^x Fbar ; E[min(X, x)^2] = S2(x) + x^2 Fbar(x)
    Xbar1 = sp.simplify(sp.integrate(Fbar.subs(x, t), (t, 0, x)))
    Xbar2 = sp.simplify(S2 + x**2 * Fbar)
    rhobar = sp.simplify(lam * Xbar1)

    T_fcfs = sp.simplify(EX + lam * EX2 / (2 * (1 - rho)))
    T_ps = sp.simplify(EX / (1 - rho))
    Tx = {
        "PS": x / (1 - rho),
        "SJF": x + lam * EX2 / (2 * (1 - rho_x) ** 2),
        "PSJF": x / (1 - rho_x) + lam * S2 / (2 * (1 - rho_x) ** 2),
        "SRPT": lam * (S2 + x**2 * Fbar) / (2 * (1 - rho_x) ** 2)
        + sp.Integral(1 / (1 - rho_x.subs(x, t)), (t, 0, x)),
        "FB": (x * (1 - rhobar) + lam * Xbar2 / 2) / (1 - rhobar) ** 2,
    }
    # Integrands over x in [0, inf) of E[T]. For SRPT the residence term
    # int_0^inf f(x) int_0^x dt/(1-rho_t) dx is swapped into int_0^inf Fbar(x)/(1-rho_x) dx.
    integrand = {
        "SJF": f * Tx["SJF"],
        "PSJF": f * Tx["PSJF"],
        "SRPT": f * lam * (S2 + x**2 * Fbar) / (2 * (1 - rho_x) ** 2) + Fbar / (1 - rho_x),
        "FB": f * Tx["FB"],
    }
    return {
        "f": f,
        "Fbar": Fbar,
        "EX": EX,
        "EX2": EX2,
        "rho": rho,
        "rho_x": rho_x,
        "S2_x": S2,
        "Xbar1_x": Xbar1,
        "Xbar2_x": Xbar2,
        "rhobar_x": rhobar,
        "T_FCFS": T_fcfs,
        "T_PS": T_ps,
        "T_x": Tx,
        "integrand": integrand,
    }


def mm1_expressions() -> dict[str, Any]:
    """Sympy expressions of the M/M/1 queue (size rate ``mu``, arrival rate ``lambda``).

    Returns
    -------
    dict
        ``f``, ``Fbar`` (density and tail of X at ``x``), ``EX``, ``EX2``,
        ``rho``, ``rho_x`` = lambda int_0^x t f(t) dt, ``S2_x`` = E[X^2; X <= x],
        ``Xbar1_x``, ``Xbar2_x`` = E[min(X, x)], E[min(X, x)^2],
        ``rhobar_x`` = lambda ``Xbar1_x``; ``T_FCFS`` and ``T_PS`` (exact
        means); ``T_x`` (dict: conditional E[T(x)] of PS, SJF, PSJF, SRPT, FB;
        SRPT keeps an unevaluated ``Integral``); ``integrand`` (dict: the
        function of ``x`` whose integral over [0, inf) is E[T], for SJF, PSJF,
        SRPT, FB). Symbols are those of :data:`SYMBOLS`.

    Examples
    --------
    >>> e = mm1_expressions()
    >>> e["T_FCFS"]
    -1/(lambda - mu)
    >>> mu, lam, x = SYMBOLS["mu"], SYMBOLS["lam"], SYMBOLS["x"]
    >>> sp.simplify(e["rho_x"] - lam / mu * (1 - (1 + mu * x) * sp.exp(-mu * x)))
    0
    """
    d = _mm1()
    out = dict(d)
    out["T_x"] = dict(d["T_x"])
    out["integrand"] = dict(d["integrand"])
    return out


# ------------------------------------------------------------------ exponential predictions
def bessel_from_meijerg(g: sp.Expr) -> sp.Expr:
    """Rewrite ``G^{2,0}_{0,2}(y | b1, b2)`` (possibly given at ``1/y``) as a Bessel K form.

    Uses ``G^{0,2}_{2,0}(1/y | a1, a2; -) = G^{2,0}_{0,2}(y | -; 1-a1, 1-a2)`` and
    ``G^{2,0}_{0,2}(y | b1, b2) = 2 y^((b1+b2)/2) K_(b1-b2)(2 sqrt(y))`` (DLMF
    16.19.2 and 10.32.10; sympy's ``hyperexpand`` does not know the latter).

    Examples
    --------
    >>> y = SYMBOLS["y"]
    >>> bessel_from_meijerg(sp.meijerg(((0, 1), ()), ((), ()), 1 / y))
    2*sqrt(y)*besselk(1, 2*sqrt(y))
    """
    if not isinstance(g, sp.meijerg):
        raise ValueError(f"expected a Meijer G function, got {g!r}")
    arg = g.argument
    if len(g.an) == 2 and not g.aother and not g.bm and not g.bother:
        b = [1 - a for a in g.an]
        arg = 1 / arg
    elif len(g.bm) == 2 and not g.an and not g.aother and not g.bother:
        b = list(g.bm)
    else:
        raise ValueError(f"not a G^(2,0)_(0,2) function: {g!r}")
    b1, b2 = b
    return 2 * arg ** ((b1 + b2) / sp.Integer(2)) * sp.besselk(sp.Abs(b1 - b2), 2 * sp.sqrt(arg))


@lru_cache(maxsize=1)
def _noise_identities() -> dict[str, dict[str, sp.Expr]]:
    x, y, u, z = _x, _y, _u, _z
    gz = sp.exp(-z)  # density of Z ~ Exp(1), Y = X Z
    out = {}
    # E[(X - Y)^+ | X = x] = x E[(1 - Z)^+]
    d = sp.simplify(sp.integrate(x * (1 - z) * gz, (z, 0, 1)))
    out["shortfall"] = {"derived": d, "claimed": x / sp.E}
    # P(Y > u, Y - X < u | X = x) = P(u/x < Z < 1 + u/x)
    d = sp.simplify(sp.integrate(gz, (z, u / x, 1 + u / x)))
    out["K"] = {"derived": d, "claimed": (1 - 1 / sp.E) * sp.exp(-u / x)}
    # E[(X - Y + y)^2; Y > y, X - Y + y > 0 | X = x]
    d = sp.simplify(sp.integrate((x - x * z + y) ** 2 * gz, (z, y / x, 1 + y / x)))
    out["V2"] = {"derived": d, "claimed": (1 - 2 / sp.E) * x**2 * sp.exp(-y / x)}
    for v in out.values():
        v["difference"] = sp.simplify(sp.expand(v["derived"] - v["claimed"]))
    return out


def sprpt_noise_identities() -> dict[str, dict[str, sp.Expr]]:
    """The three conditional identities behind the SPRPT closed form, derived with sympy.

    For ``Y = X Z`` with ``Z ~ Exp(1)`` independent of X, and given ``X = x``:

    * ``shortfall``: E[(X - Y)^+ | x] = x / e, so E[(X - Y)^+] = E[X] / e;
    * ``K``: P(Y > u, Y - X < u | x) = (1 - 1/e) e^{-u/x}, so K(u) = (1 - 1/e) M_0(u);
    * ``V2``: E[(X - Y + y)^2; Y > y, X - Y + y > 0 | x] = (1 - 2/e) x^2 e^{-y/x},
      so V2(y) = (1 - 2/e) M_2(y).

    Returns
    -------
    dict
        For each name, ``derived`` (``sympy.integrate`` over z), ``claimed``
        and their simplified ``difference`` (0).

    Examples
    --------
    >>> all(v["difference"] == 0 for v in sprpt_noise_identities().values())
    True
    """
    return {k: dict(v) for k, v in _noise_identities().items()}


@lru_cache(maxsize=1)
def _expo() -> dict[str, Any]:
    x, y, u, s, lam, m = _x, _y, _u, _s, _lam, _m
    # --- mean 1: M_k(y) = E[X^k e^{-y/X}] = int_0^inf x^k e^{-x} e^{-y/x} dx (k = -1 gives f_Y)
    meijer = {}
    bessel1 = {}
    for k in (-1, 0, 1, 2):
        g = sp.integrate(x**k * sp.exp(-x) * sp.exp(-y / x), (x, 0, sp.oo))
        meijer[k] = g
        bessel1[k] = bessel_from_meijerg(g)
    # --- mean m: X = m X_1, so M_k(y) = m^k M_k^{(1)}(y/m) (k = -1: f_Y(y) = f_{Y_1}(y/m)/m)
    M = {k: sp.simplify(m**k * bessel1[k].subs(y, y / m)) for k in bessel1}
    fX = sp.exp(-x / m) / m
    EX = sp.integrate(x * fX, (x, 0, sp.oo))
    EX2 = sp.integrate(x**2 * fX, (x, 0, sp.oo))
    f_Y = M[-1]
    sf_Y = M[0]
    rho_prime = lam * (EX - M[1])
    S2_Y = EX2 - M[2]  # E[X^2; Y <= y]
    ids = _noise_identities()
    # coefficients from the sympy-derived conditional identities (constants in x, y, u)
    c_short = sp.simplify(ids["shortfall"]["derived"] / x)
    c_K = sp.simplify(ids["K"]["derived"] / sp.exp(-u / x))
    c_V2 = sp.simplify(ids["V2"]["derived"] / (x**2 * sp.exp(-y / x)))
    for c in (c_short, c_K, c_V2):
        if c.free_symbols:  # pragma: no cover - guards the derivation
            raise AssertionError(f"identity coefficient is not a constant: {c}")
    shortfall = c_short * EX
    K = c_K * M[0].subs(y, u)
    V2 = c_V2 * M[2]
    D = 1 - rho_prime
    integrand = {
        # SPJF: E[T] = E[X] + lambda E[X^2]/2 * int f_Y / D^2
        "SPJF": f_Y / D**2,
        # PSPJF: E[T] = -ln(1 - rho)/lambda + lambda/2 int f_Y S2_Y / D^2
        "PSPJF": f_Y * S2_Y / D**2,
        # SPRPT: E[T] = E[(X-Y)^+] + int [K/D + lambda/2 f_Y (S2_Y + V2)/D^2] dy
        "SPRPT": K.subs(u, y) / D + lam / 2 * f_Y * (S2_Y + V2) / D**2,
    }
    rho = lam * EX
    T = {
        "SPJF": EX + lam * EX2 / 2 * sp.Integral(integrand["SPJF"], (y, 0, sp.oo)),
        "PSPJF": -sp.log(1 - rho) / lam + lam / 2 * sp.Integral(integrand["PSPJF"], (y, 0, sp.oo)),
        "SPRPT": shortfall + sp.Integral(integrand["SPRPT"], (y, 0, sp.oo)),
    }
    # y = m s^2, dy = 2 m s ds: Bessel arguments become 2 s and the log singularity softens
    integrand_s = {k: v.subs(y, m * s**2) * 2 * m * s for k, v in integrand.items()}
    return {
        "f_X": fX,
        "g": fX * sp.exp(-y / x) / x,
        "meijerg": meijer,
        "M1": bessel1,
        "M": M,
        "EX": EX,
        "EX2": EX2,
        "rho": rho,
        "f_Y": f_Y,
        "sf_Y": sf_Y,
        "rho_prime": rho_prime,
        "S2_Y": S2_Y,
        "shortfall": shortfall,
        "K": K,
        "V2": V2,
        "integrand": integrand,
        "integrand_s": integrand_s,
        "T": T,
    }


def exp_prediction_expressions() -> dict[str, Any]:
    """Sympy expressions for exponential predictions of ``Exponential(mean=m)`` sizes.

    ``Y | X = x ~ Exp(mean x)`` (Mitzenmacher, ITCS 2020). With
    ``M_k(y) = E[X^k e^{-y/X}]``: ``f_Y = M_{-1}``, ``P(Y > y) = M_0``,
    ``rho'_y = lambda (E[X] - M_1(y))``, ``E[X^2; Y <= y] = E[X^2] - M_2(y)``.

    Returns
    -------
    dict
        ``f_X``, ``g`` (joint density of (X, Y)); ``meijerg`` and ``M1``
        (dicts k -> M_k for mean 1, as sympy's Meijer G result and as Bessel K);
        ``M`` (k -> M_k for mean m, k = -1..2); ``EX``, ``EX2``, ``rho``,
        ``f_Y``, ``sf_Y``, ``rho_prime``, ``S2_Y`` (E[X^2; Y <= y]),
        ``shortfall`` (E[(X - Y)^+]), ``K`` (in ``u``), ``V2`` (SPRPT);
        ``integrand`` (dict policy -> integrand in ``y`` of the remaining 1-D
        integral), ``integrand_s`` (the same after ``y = m s^2``) and ``T``
        (policy -> E[T] with an unevaluated ``Integral``).

    Examples
    --------
    >>> e = exp_prediction_expressions()
    >>> e["M1"][-1]
    2*besselk(0, 2*sqrt(y))
    >>> e["M1"][1]
    2*y*besselk(2, 2*sqrt(y))
    >>> e["shortfall"]
    m*exp(-1)
    """
    d = _expo()
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}


# ---------------------------------------------------------------------------- evaluation
@cache
def _mm1_integrand_fn(policy: str):
    return sp.lambdify((_x, _mu, _lam), _mm1()["integrand"][policy], modules="mpmath")


def _k01_uncached(z: mp.mpf) -> tuple[mp.mpf, mp.mpf]:
    """(K_0(z), K_1(z)) for real z > 0 at the current mpmath precision.

    mpmath's ``besselk`` takes ~5-150 ms for integer orders (it perturbs the
    order); this takes ~1 ms. Small and moderate z: the ascending series
    (DLMF 10.31.2 and 10.31.1) with ``0.87 z`` extra digits against the
    cancellation between the I and the logarithmic parts; z >= 1.16 (dps + 10):
    the Hankel asymptotic expansion (DLMF 10.40.2), whose smallest term is
    below ``exp(-2 z)``. Agreement with ``mpmath.besselk`` is checked in the tests.
    """
    dps = mp.mp.dps
    if z >= 1.16 * (dps + 10):
        out = []
        with mp.extradps(10):
            pref = mp.sqrt(mp.pi / (2 * z)) * mp.exp(-z)
            for nu in (0, 1):
                mu4 = 4 * nu * nu
                term = tot = mp.mpf(1)
                k = 0
                while abs(term) > mp.eps:
                    k += 1
                    term = term * (mu4 - (2 * k - 1) ** 2) / (8 * k * z)
                    tot += term
                out.append(pref * tot)
        return +out[0], +out[1]
    with mp.extradps(int(0.87 * float(z)) + 15):
        z = mp.mpf(z)
        q = z * z / 4
        g = mp.euler
        t0 = t1 = mp.mpf(1)  # q^k / (k!)^2 and q^k / (k! (k+1)!)
        i0 = i1 = mp.mpf(1)  # I_0(z) and 2 I_1(z) / z partial sums
        s0 = mp.mpf(0)  # sum H_k q^k / (k!)^2
        s1 = 1 - 2 * g  # sum (psi(k+1) + psi(k+2)) q^k / (k! (k+1)!)
        h = mp.mpf(0)  # harmonic number H_k
        k = 0
        while True:
            k += 1
            t0 = t0 * q / (k * k)
            t1 = t1 * q / (k * (k + 1))
            h += mp.mpf(1) / k
            i0 += t0
            i1 += t1
            s0 += h * t0
            s1 += (2 * h + mp.mpf(1) / (k + 1) - 2 * g) * t1
            if k > 2 and t0 < mp.eps * i0 and t1 < mp.eps * i1:
                break
        lg = mp.log(z / 2)
        k0 = -(lg + g) * i0 + s0
        k1 = 1 / z + lg * (z / 2) * i1 - z / 4 * s1
    return +k0, +k1


@lru_cache(maxsize=65536)
def _k01(z: mp.mpf, prec: int) -> tuple[mp.mpf, mp.mpf]:
    with mp.workprec(prec):
        return _k01_uncached(z)


def _besselk(n, z):
    """K_n(z) for the integrands: integer n >= 0 by forward recurrence from K_0, K_1.

    Values at a node are cached, so the several orders of one integrand (and
    the same nodes at other loads, means and policies) cost one evaluation.
    """
    z = mp.mpf(z)
    try:
        nn = int(n)
    except TypeError:  # pragma: no cover - symbolic orders never reach here
        return mp.besselk(n, z)
    if nn != n or nn < 0 or z <= 0:
        return mp.besselk(n, z)
    a, b = _k01(z, mp.mp.prec)
    if nn == 0:
        return a
    for j in range(1, nn):  # K_{j+1} = K_{j-1} + (2j/z) K_j, stable upwards
        a, b = b, a + 2 * j / z * b
    return b


@cache
def _expo_integrand_fn(policy: str):
    return sp.lambdify(
        (_s, _m, _lam), _expo()["integrand_s"][policy], modules=[{"besselk": _besselk}, "mpmath"]
    )


@cache
def _exact_fn(name: str):
    return sp.lambdify((_mu, _lam), _mm1()[name], modules="mpmath")


def _quad(fn, pts) -> mp.mpf:
    return mp.quad(fn, pts)


def _mm1_mean(policy: str, m: float, lam: float) -> float:
    with mp.workdps(DPS):
        mu = 1 / mp.mpf(m)
        L = mp.mpf(lam)
        if policy in ("FCFS", "PS"):
            return float(_exact_fn("T_" + policy)(mu, L))
        fn = _mm1_integrand_fn(policy)
        M = mp.mpf(m)
        pts = [0, M / 2, 2 * M, 8 * M, 32 * M, mp.inf]
        return float(_quad(lambda x: fn(x, mu, L), pts))


def _expo_mean(policy: str, m: float, lam: float) -> float:
    with mp.workdps(DPS):
        M = mp.mpf(m)
        L = mp.mpf(lam)
        rho = L * M
        fn = _expo_integrand_fn(policy)
        integral = _quad(lambda s: fn(s, M, L), [0, mp.mpf(1) / 4, 1, 4, 16, mp.inf])
        if policy == "SPJF":
            val = M + L * 2 * M**2 / 2 * integral
        elif policy == "PSPJF":
            val = -mp.log1p(-rho) / L + L / 2 * integral
        else:  # SPRPT
            val = M / mp.e + integral
        return float(val)


def _describe(policy, size, prediction) -> str:
    return f"{policy} with size {size!r} and prediction {prediction!r}"


def mean_response_time(policy: str, size, prediction, lam: float) -> float:
    """Mean response time E[T] from a sympy closed form (or closed-form 1-D integrand).

    Parameters
    ----------
    policy : str
        Policy name (``"FCFS"``, ``"PS"``, ``"SJF"``, ``"PSJF"``, ``"SRPT"``,
        ``"FB"``, ``"SPJF"``, ``"PSPJF"``, ``"SPRPT"``; case-insensitive,
        ``"LAS"`` = ``"FB"``).
    size : qtheory.Exponential
        Size law; only exponential sizes have closed forms here.
    prediction : qtheory.PredictionModel or None
        ``ExactPrediction`` (or None) or ``ExponentialPrediction`` for the
        prediction policies; ignored by the true-size policies.
    lam : float
        Arrival rate, > 0.

    Returns
    -------
    float
        E[T]; ``inf`` when ``rho = lam E[X] >= 1``. FCFS and PS are exact
        rational functions; the others are 30-digit ``mpmath.quad`` values of
        closed-form integrands (see the module docstring).

    Raises
    ------
    NotImplementedError
        When no closed form is implemented (use ``method="quad"`` or ``"mpmath"``).

    Examples
    --------
    >>> import qtheory as qt
    >>> mean_response_time("FCFS", qt.Exponential(mean=1.0), None, 0.8)
    5.000000000000001
    >>> round(mean_response_time("FB", qt.Exponential(mean=1.0), None, 0.5), 12)
    2.0
    >>> t = mean_response_time("SPRPT", qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.5)
    >>> 1.0 < t < 2.0
    True
    """
    from ..distributions import Exponential
    from ..distributions.base import check_positive
    from ..predictions import ExactPrediction, ExponentialPrediction

    name = str(getattr(policy, "name", policy)).upper()
    if name == "LAS":
        name = "FB"
    lam = check_positive("lam", lam)
    if name not in SUPPORTED_POLICIES or not isinstance(size, Exponential):
        raise NotImplementedError(
            f"no closed form for {_describe(name, size, prediction)}; use method='quad' or 'mpmath'"
        )
    if name in _PREDICTED:
        if prediction is None or isinstance(prediction, ExactPrediction):
            name = _TWIN[name]
        elif not isinstance(prediction, ExponentialPrediction):
            raise NotImplementedError(
                f"no closed form for {_describe(name, size, prediction)}; "
                "use method='quad' or 'mpmath'"
            )
    m = float(size.mean)
    if lam * m >= 1.0:
        return float("inf")
    if name in _CLASSICAL:
        return _mm1_mean(name, m, lam)
    return _expo_mean(name, m, lam)
