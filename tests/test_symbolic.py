"""Tests of the sympy closed forms (qtheory.analysis.symbolic)."""

from __future__ import annotations

import math

import mpmath as mp
import pytest
import sympy as sp

import qtheory as qt
from qtheory.analysis import symbolic as S

Y = S.SYMBOLS["y"]
LOADS = (0.3, 0.8, 0.95, 0.99)
MEANS = (1.0, 2.0)


@pytest.fixture(scope="module")
def expo():
    return S.exp_prediction_expressions()


def _mp_fn(expr, *syms):
    # S._besselk is checked against mpmath.besselk in test_fast_besselk_matches_mpmath
    return sp.lambdify(syms, expr, modules=[{"besselk": S._besselk}, "mpmath"])


# ---------------------------------------------------------------------------- FCFS, PS
@pytest.mark.parametrize("policy", ["FCFS", "PS"])
@pytest.mark.parametrize("mean", MEANS)
@pytest.mark.parametrize("rho", LOADS)
def test_fcfs_ps_exact(policy, mean, rho):
    lam = rho / mean
    got = S.mean_response_time(policy, qt.Exponential(mean=mean), None, lam)
    assert got == pytest.approx(1.0 / (1.0 / mean - lam), rel=1e-15)


def test_fcfs_ps_symbolic():
    e = S.mm1_expressions()
    mu, lam = S.SYMBOLS["mu"], S.SYMBOLS["lam"]
    assert sp.simplify(e["T_FCFS"] - 1 / (mu - lam)) == 0
    assert sp.simplify(e["T_PS"] - 1 / (mu - lam)) == 0
    x = S.SYMBOLS["x"]
    assert sp.simplify(e["rho_x"] - lam / mu * (1 - (1 + mu * x) * sp.exp(-mu * x))) == 0


def test_fb_equals_ps_for_mm1():
    # memoryless sizes: any size-blind work-conserving policy has the M/M/1 mean
    for lam in (0.3, 0.9):
        got = S.mean_response_time("LAS", qt.Exponential(mean=1.0), None, lam)
        assert got == pytest.approx(1.0 / (1.0 - lam), rel=1e-14)


# ---------------------------------------------------------------------------- Bessel forms
def test_meijerg_equals_bessel(expo):
    for k, g in expo["meijerg"].items():
        b = expo["M1"][k]
        for yy in ("0.05", "1.3", "7"):
            with mp.workdps(50):
                gv = mp.mpmathify(sp.N(g.subs(Y, sp.Rational(yy)), 50))
                bv = mp.mpmathify(sp.N(b.subs(Y, sp.Rational(yy)), 50))
                assert abs(gv / bv - 1) < mp.mpf(10) ** -40


def test_bessel_recursion_and_limits(expo):
    M1, M = expo["M1"], expo["M"]
    for k in (0, 1, 2):  # d/dy M_k = -M_{k-1}
        assert sp.simplify(sp.diff(M1[k], Y) + M1[k - 1]) == 0
        assert sp.simplify(sp.diff(M[k], Y) + M[k - 1]) == 0
    assert sp.limit(M1[0], Y, 0) == 1  # P(Y > 0) = 1
    assert sp.limit(M1[1], Y, 0) == 1  # M_1(0) = E[X]
    assert sp.limit(M1[2], Y, 0) == 2  # M_2(0) = E[X^2]
    assert sp.integrate(M1[-1], (Y, 0, sp.oo)) == 1


@pytest.mark.parametrize("mean", MEANS)
def test_bessel_identities_mpmath(expo, mean):
    m = S.SYMBOLS["m"]
    fY = _mp_fn(expo["f_Y"], Y, m)
    sf = _mp_fn(expo["sf_Y"], Y, m)
    Mk = {k: _mp_fn(v, Y, m) for k, v in expo["M"].items()}
    with mp.workdps(30):
        mm = mp.mpf(mean)
        # f_Y integrates to 1
        total = mp.quad(lambda yy: fY(yy, mm), [0, mm, 10 * mm, mp.inf])
        assert abs(total - 1) < mp.mpf(10) ** -25
        # M_1(0+) = E[X], M_2(0+) = E[X^2]
        tiny = mp.mpf(10) ** -40
        assert abs(Mk[1](tiny, mm) / mm - 1) < mp.mpf(10) ** -28
        assert abs(Mk[2](tiny, mm) / (2 * mm**2) - 1) < mp.mpf(10) ** -28
        for y0 in (mp.mpf("0.3"), mp.mpf(2)):
            # d/dy P(Y <= y) = f_Y
            deriv = mp.diff(lambda yy: 1 - sf(yy, mm), y0)
            assert abs(deriv / fY(y0, mm) - 1) < mp.mpf(10) ** -20
            # the definition M_k(y) = E[X^k e^{-y/X}] for X ~ Exp(mean m)
            for k in (-1, 0, 1, 2):
                direct = mp.quad(lambda x: x**k * mp.exp(-x / mm - y0 / x) / mm, [0, mm, mp.inf])
                assert abs(direct / Mk[k](y0, mm) - 1) < mp.mpf(10) ** -20


def test_fast_besselk_matches_mpmath():
    with mp.workdps(30):
        for z in ("1e-30", "0.37", "5.5", "23", "46.5", "300", "1e7"):
            zz = mp.mpf(z)
            for n in range(4):
                with mp.workdps(40):
                    ref = mp.besselk(n, zz)
                assert abs(S._besselk(n, zz) / ref - 1) < mp.mpf(10) ** -29


# ---------------------------------------------------------------------------- SPRPT identities
def test_sprpt_identities_sympy():
    for name, v in S.sprpt_noise_identities().items():
        assert v["difference"] == 0, name


def test_sprpt_identities_double_integrals(expo):
    """E[(X-Y)+] = E[X]/e, K(u) = (1-1/e) M_0(u), V2(y) = (1-2/e) M_2(y) by 2-D quadrature."""
    m = S.SYMBOLS["m"]
    mean = mp.mpf(2)
    M0 = _mp_fn(expo["M"][0], Y, m)
    M2 = _mp_fn(expo["M"][2], Y, m)

    def g(x, yy):  # joint density of (X, Y)
        return mp.exp(-x / mean) / mean * mp.exp(-yy / x) / x

    with mp.workdps(16):
        # E[(X - Y)^+] = int_x int_{y < x} (x - y) g
        short = mp.quad(
            lambda x: mp.quad(lambda yy: (x - yy) * g(x, yy), [0, x]), [0, mean, mp.inf]
        )
        assert abs(short / (mean / mp.e) - 1) < mp.mpf(10) ** -12
        u = mp.mpf("0.7")
        # K(u) = P(Y > u, Y - X < u) = int_x int_{u < y < x + u} g
        K = mp.quad(lambda x: mp.quad(lambda yy: g(x, yy), [u, x + u]), [0, mean, mp.inf])
        assert abs(K / ((1 - 1 / mp.e) * M0(u, mean)) - 1) < mp.mpf(10) ** -12
        # V2(y) = E[(X - Y + y)^2; Y > y, X - Y + y > 0] = int_x int_{y < t < x + y} (x - t + y)^2 g
        y0 = mp.mpf("1.5")
        V2 = mp.quad(
            lambda x: mp.quad(lambda t: (x - t + y0) ** 2 * g(x, t), [y0, x + y0]),
            [0, mean, mp.inf],
        )
        assert abs(V2 / ((1 - 2 / mp.e) * M2(y0, mean)) - 1) < mp.mpf(10) ** -12


def test_expression_consistency(expo):
    lam, m = S.SYMBOLS["lam"], S.SYMBOLS["m"]
    assert sp.simplify(expo["shortfall"] - m / sp.E) == 0
    assert sp.limit(expo["rho_prime"], Y, sp.oo) == lam * m  # rho'_inf = rho
    assert sp.limit(expo["S2_Y"], Y, 0) == 0


# ---------------------------------------------------------------------------- errors
def test_not_implemented():
    with pytest.raises(NotImplementedError, match="method='quad'"):
        S.mean_response_time("SJF", qt.Uniform(0.0, 2.0), None, 0.5)
    with pytest.raises(NotImplementedError, match="no closed form"):
        S.mean_response_time(
            "SPRPT", qt.Exponential(mean=1.0), qt.UniformPrediction(alpha=0.5), 0.5
        )
    with pytest.raises(NotImplementedError):
        S.mean_response_time("Priority", qt.Exponential(mean=1.0), None, 0.5)
    q = qt.MG1(
        arrival_rate=0.5,
        size=qt.Exponential(mean=1.0),
        prediction=qt.LognormalPrediction(sigma=1.0),
    )
    with pytest.raises(NotImplementedError):
        q.mean_response_time("PSPJF", method="symbolic")


def test_unstable_is_inf():
    for policy in ("FCFS", "SRPT", "SPRPT"):
        got = S.mean_response_time(
            policy, qt.Exponential(mean=2.0), qt.ExponentialPrediction(), 0.5
        )
        assert got == math.inf


def test_exact_prediction_twin():
    size = qt.Exponential(mean=1.0)
    for pred, true in (("SPJF", "SJF"), ("PSPJF", "PSJF"), ("SPRPT", "SRPT")):
        a = S.mean_response_time(pred, size, qt.ExactPrediction(), 0.6)
        b = S.mean_response_time(true, size, qt.ExponentialPrediction(), 0.6)
        assert a == b


def test_ordering():
    size, pred, lam = qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.8
    t = {p: S.mean_response_time(p, size, pred, lam) for p in S.SUPPORTED_POLICIES}
    assert t["SRPT"] < t["PSJF"] < t["SJF"] < t["FCFS"]
    assert t["SRPT"] < t["SPRPT"] < t["FCFS"]
    assert t["SJF"] < t["SPJF"] < t["FCFS"]


# ---------------------------------------------------------------------------- vs the engine
CASES = [(p, "exact") for p in ("FCFS", "PS", "SJF", "PSJF", "SRPT", "FB")] + [
    (p, "exponential") for p in ("SPJF", "PSPJF", "SPRPT")
]


@pytest.mark.parametrize("policy,pred", CASES)
@pytest.mark.parametrize("mean", MEANS)
@pytest.mark.parametrize("rho", LOADS)
def test_agrees_with_quad_engine(policy, pred, mean, rho):
    prediction = qt.ExactPrediction() if pred == "exact" else qt.ExponentialPrediction()
    lam = rho / mean
    # rtol 1e-11 asks the quadrature for more than the 1e-10 agreement checked here
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=mean), prediction=prediction,
               rtol=1e-11)
    sym = q.mean_response_time(policy, method="symbolic")
    assert sym == S.mean_response_time(policy, q.size, prediction, lam)
    fast = q.mean_response_time(policy)
    assert fast == pytest.approx(sym, rel=1e-10, abs=0)
