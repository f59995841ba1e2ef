"""Tests of the independent high-precision method (qtheory.analysis.highprec).

Checks use closed forms, hand-derived numbers and plain scipy.integrate.quad of
the published formulas, never the double-precision engine (whose own tests
compare against tests/data/mpmath_reference.json).
"""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

import qtheory as qt
from qtheory.analysis import highprec
from qtheory.analysis.highprec import mean_response_time, mean_response_time_mpf

EXP1 = qt.Exponential(mean=1.0)
EXACT = qt.ExactPrediction()
EXPO = qt.ExponentialPrediction()
UNI = qt.UniformPrediction(alpha=0.5)
CLASSICAL = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT")
PREDICTED = ("SPJF", "PSPJF", "SPRPT")
DATA = Path(__file__).parent / "data" / "mpmath_reference.json"


def quad(f, a, b, points=None):
    """scipy quad with tight tolerances (double precision, independent of mpmath)."""
    kw = {"epsabs": 0.0, "epsrel": 1e-12, "limit": 500}
    if points is not None and np.isfinite(b):
        kw["points"] = [p for p in points if a < p < b]
    return integrate.quad(f, a, b, **kw)[0]


def quad_split(f, pts):
    """Sum of scipy quads over consecutive points (the last may be inf)."""
    return sum(quad(f, a, b) for a, b in zip(pts[:-1], pts[1:]) if b > a)


# ----------------------------------------------------------------------------- M/M/1
@pytest.mark.parametrize("mean, lam", [(1.0, 0.5), (2.0, 0.3), (0.5, 1.9)])
@pytest.mark.parametrize("policy", ["FCFS", "PS"])
def test_mm1_fcfs_ps_to_25_digits(policy, mean, lam):
    size = qt.Exponential(mean=mean)
    value = mean_response_time_mpf(policy, size, EXACT, lam, dps=30)
    with mpmath.workdps(30):
        exact = 1 / (1 / mpmath.mpf(mean) - mpmath.mpf(lam))
        assert abs(value - exact) <= mpmath.mpf(10) ** -25 * exact


def test_mm1_fb_equals_ps():
    # FB on exponential sizes is PS (memoryless): 1 / (mu - lambda)
    value = mean_response_time_mpf("FB", EXP1, EXACT, 0.7, dps=25)
    with mpmath.workdps(25):
        exact = 1 / (1 - mpmath.mpf(0.7))
        assert abs(value / exact - 1) < mpmath.mpf(10) ** -19


def test_psjf_residence_identity_exponential():
    # int x f(x) / (1 - rho_x) dx = -ln(1 - rho) / lam since d rho_x = lam x f(x) dx
    lam = 0.8
    with mpmath.workdps(30):
        calc = highprec._Calc(EXP1, EXACT, mpmath.mpf(lam), 30)
        c1 = highprec._Cumulative(calc, 1)
        res = calc.expect(lambda x: x / (1 - calc.lam * c1(x)), what="residence")
        exact = -mpmath.log(1 - calc.lam) / calc.lam
        assert abs(res / exact - 1) < mpmath.mpf(10) ** -24
        assert calc.worst == 0


def _exp_partials(lam):
    m1 = lambda x: 1 - math.exp(-x) * (1 + x)  # noqa: E731
    m2 = lambda x: 2 - math.exp(-x) * (x * x + 2 * x + 2)  # noqa: E731
    return (lambda x: lam * m1(x)), m2


def test_psjf_exponential_against_scipy():
    lam = 0.8
    rho, m2 = _exp_partials(lam)
    wait = quad(lambda x: math.exp(-x) * lam * m2(x) / (2 * (1 - rho(x)) ** 2), 0, np.inf)
    expected = -math.log(1 - lam) / lam + wait
    assert mean_response_time("PSJF", EXP1, EXACT, lam, dps=20) == pytest.approx(expected,
                                                                                 rel=1e-10)


def test_sjf_exponential_against_scipy():
    lam = 0.9
    rho, _ = _exp_partials(lam)
    w = quad(lambda x: math.exp(-x) / (1 - rho(x)) ** 2, 0, np.inf)
    expected = 1.0 + lam * 2.0 / 2 * w
    assert mean_response_time("SJF", EXP1, EXACT, lam, dps=20) == pytest.approx(expected,
                                                                                rel=1e-10)


def test_srpt_exponential_against_scipy_nested():
    # Schrage-Miller formula as written (no Fubini): residence int_0^x dt/(1 - rho_t) inside
    lam = 0.7
    rho, m2 = _exp_partials(lam)

    def et(x):
        wait = lam * (m2(x) + x * x * math.exp(-x)) / (2 * (1 - rho(x)) ** 2)
        res = quad(lambda t: 1 / (1 - rho(t)), 0, x)
        return wait + res

    expected = quad(lambda x: math.exp(-x) * et(x), 0, 60)
    assert mean_response_time("SRPT", EXP1, EXACT, lam, dps=20) == pytest.approx(expected,
                                                                                 rel=1e-9)


def test_fb_hyperexponential_against_scipy():
    means, probs, lam = (0.5, 3.0), (0.8, 0.2), 0.6  # E[X] = 1
    size = qt.HyperExponential(means=means, probs=probs)

    def f(x):
        return sum(p / m * math.exp(-x / m) for m, p in zip(means, probs))

    def sf(x):
        return sum(p * math.exp(-x / m) for m, p in zip(means, probs))

    def et(x):
        e1 = quad(sf, 0, x)  # E[min(X, x)] = int_0^x P(X > t) dt
        e2 = quad(lambda t: 2 * t * sf(t), 0, x)  # E[min(X, x)^2]
        r = 1 - lam * e1
        return (x * r + lam * e2 / 2) / r**2

    expected = quad_split(lambda x: f(x) * et(x), [0, 1, 5, 20, 80, 200])
    assert mean_response_time("FB", size, EXACT, lam, dps=20) == pytest.approx(expected,
                                                                               rel=1e-9)


# ----------------------------------------------------------------------------- atoms
@pytest.mark.parametrize("prediction", [EXACT, EXPO])
def test_deterministic_size_sjf_psjf_srpt_equal_fcfs(prediction):
    size = qt.Deterministic(2.0)
    lam = 0.3  # rho = 0.6
    fcfs = mean_response_time("FCFS", size, EXACT, lam, dps=30)
    assert fcfs == pytest.approx(2.0 + lam * 4.0 / (2 * (1 - 0.6)), rel=1e-15)
    policies = ("SJF", "PSJF", "SRPT")
    if prediction.is_exact:  # SPJF, PSPJF, SPRPT on exact predictions are their twins
        policies += PREDICTED
    for policy in policies:
        assert mean_response_time(policy, size, prediction, lam, dps=30) == fcfs, policy
    with mpmath.workdps(30):
        ref = mean_response_time_mpf("FCFS", size, EXACT, lam, dps=30)
        for policy in policies:
            v = mean_response_time_mpf(policy, size, prediction, lam, dps=30)
            assert abs(v - ref) < mpmath.mpf(10) ** -27


def test_two_point_law_by_hand():
    # sizes 1 and 3 with prob 1/2, lam = 1/4: rho_{1-} = 0, rho_1 = 1/8, rho_3 = 1/2,
    # E[X^2] = 5, E[X^2; X <= 1] = 1/2. Cobham (ties FIFO):
    lam, m2 = Fraction(1, 4), Fraction(5)
    r1, r3 = Fraction(1, 8), Fraction(1, 2)
    half = Fraction(1, 2)
    sjf = half * (1 + lam * m2 / (2 * (1 - r1))) + half * (3 + lam * m2 / (2 * (1 - r1) * (1 - r3)))
    psjf = half * (1 + lam * half / (2 * (1 - r1))) + half * (
        3 / (1 - r1) + lam * m2 / (2 * (1 - r1) * (1 - r3)))
    # SRPT: waiting lam (E[X^2; X <= x] + x^2 P(X > x)) / (2 (1 - rho_x)(1 - rho_{x-}))
    # plus residence int_0^x dt / (1 - rho_{t-}): 1 for x = 1, 1 + 2 / (1 - 1/8) for x = 3
    srpt = half * (lam * (half + 1 * half) / (2 * (1 - r1)) + 1) + half * (
        lam * m2 / (2 * (1 - r3) * (1 - r1)) + 1 + 2 / (1 - r1))
    # FB: min(X, 1) = 1, min(X, 3) = X: rhobar_1 = 1/4, rhobar_3 = 1/2
    fb = half * (1 * (1 - lam) + lam * 1 / 2) / (1 - lam) ** 2 + half * (
        3 * (1 - r3) + lam * m2 / 2) / (1 - r3) ** 2
    size = qt.Discrete(values=[1.0, 3.0], probs=[0.5, 0.5])
    for policy, exact in (("SJF", sjf), ("PSJF", psjf), ("SRPT", srpt), ("FB", fb)):
        got = mean_response_time(policy, size, EXACT, 0.25, dps=25)
        assert got == pytest.approx(float(exact), rel=1e-15), policy


def _discrete_prediction_reference(policy, values, probs, lam, noise):
    """E[T] of a prediction policy for sizes with atoms, from the formulas as written.

    ``noise``: (cdf N, pdf n, breakpoints) of Z = Y / X. Plain scipy quad over y of
    sum_i p_i q(y | v_i) E[T(v_i, y)], with rho'_y, E[X^2; Y <= y], the SPRPT window
    term int_{t>y} int_{s>t-y} (s - (t - y))^2 g(s, t) and its residence integral
    over the age computed directly.
    """
    N, n, zb = noise
    v, p = np.asarray(values, float), np.asarray(probs, float)
    ex2 = float(p @ v**2)

    def rho_p(y):
        return lam * sum(pi * vi * N(y / vi) for vi, pi in zip(v, p)) if y > 0 else 0.0

    def s2(y):
        return sum(pi * vi**2 * N(y / vi) for vi, pi in zip(v, p))

    def window(y):
        tot = 0.0
        for vi, pi in zip(v, p):
            pts = [vi * b for b in zb]
            tot += pi * quad(lambda t: (vi - t + y) ** 2 * n(t / vi) / vi, y, y + vi, pts)
        return tot

    def et(x, y):
        r = 1 - rho_p(y)
        if policy == "SPJF":
            return x + lam * ex2 / (2 * r * r)
        if policy == "PSPJF":
            return x / r + lam * s2(y) / (2 * r * r)
        res = quad(lambda a: 1 / (1 - rho_p(y - a)), 0, min(x, y),
                   [y - vi * b for vi in v for b in zb])
        return lam * (s2(y) + window(y)) / (2 * r * r) + res + max(x - y, 0.0)

    total = 0.0
    for vi, pi in zip(v, p):
        kinks = sorted({vj * b for vj in v for b in zb} | {vi * b for b in zb}
                       | {vj * (b - 1) for vj in v for b in zb if b > 1} | {vi})
        top = vi * 60
        pts = [0.0] + [k for k in kinks if 0 < k < top] + [top]
        total += pi * quad_split(lambda y: n(y / vi) / vi * et(vi, y), pts)
    return total


EXP_NOISE = (lambda z: -math.expm1(-z) if z > 0 else 0.0,
             lambda z: math.exp(-z) if z >= 0 else 0.0, ())
UNI_NOISE = (lambda z: min(max((z - 0.5) / 1.0, 0.0), 1.0),
             lambda z: 1.0 if 0.5 <= z <= 1.5 else 0.0, (0.5, 1.5))


@pytest.mark.parametrize("policy", PREDICTED)
@pytest.mark.parametrize("pred, noise", [(EXPO, EXP_NOISE), (UNI, UNI_NOISE)],
                         ids=["exponential", "uniform"])
def test_prediction_policies_with_atoms_against_scipy(policy, pred, noise):
    values, probs, lam = (0.5, 2.0), (0.6, 0.4), 0.6  # E[X] = 1.1, rho = 0.66
    size = qt.Discrete(values=list(values), probs=list(probs))
    expected = _discrete_prediction_reference(policy, values, probs, lam, noise)
    got = mean_response_time(policy, size, pred, lam, dps=20)
    assert got == pytest.approx(expected, rel=1e-8)


def test_spjf_exponential_sizes_uniform_predictions_against_scipy():
    # f_Y(y) = int_{y/1.5}^{y/0.5} e^{-x} / x dx = E1(y/1.5) - E1(2y);
    # rho'_y = lam int x e^{-x} N(y/x) dx, N(z) = clip(z - 0.5, 0, 1)
    lam = 0.8
    N = UNI_NOISE[0]

    def rho_p(y):
        inner = quad(lambda x: x * math.exp(-x) * N(y / x), y / 1.5, 2 * y)
        return lam * ((1 - math.exp(-y / 1.5) * (1 + y / 1.5)) + inner)

    def fy(y):
        return special.exp1(y / 1.5) - special.exp1(2 * y)

    w = quad_split(lambda y: fy(y) / (1 - rho_p(y)) ** 2, [0, 0.5, 2, 8, 30, 120])
    expected = 1.0 + lam * 2.0 / 2 * w
    got = mean_response_time("SPJF", EXP1, UNI, lam, dps=16)
    assert got == pytest.approx(expected, rel=1e-8)


# ----------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("policy", CLASSICAL + PREDICTED)
@pytest.mark.parametrize("load", [1.0, 1.5])
def test_unstable_load_gives_inf(policy, load):
    for size in (EXP1, qt.Deterministic(2.0)):
        lam = load / size.mean
        assert mean_response_time(policy, size, EXPO, lam, dps=15) == math.inf


def test_infinite_second_moment():
    size = qt.Pareto(alpha=1.5, xm=1.0)  # E[X] = 3, E[X^2] = inf
    lam = 0.1  # rho = 0.3
    for policy in ("FCFS", "SJF", "SPJF", "SPRPT"):
        assert mean_response_time(policy, size, EXPO, lam, dps=15) == math.inf, policy
    assert mean_response_time("PS", size, EXACT, lam, dps=15) == pytest.approx(3 / 0.7)


def test_unknown_policy_and_bad_arguments():
    with pytest.raises(ValueError, match="GITTINS"):
        mean_response_time("GITTINS", EXP1, EXACT, 0.5)
    with pytest.raises(ValueError, match="policy"):
        mean_response_time("nope", EXP1, EXACT, 0.5)
    with pytest.raises(ValueError, match="lam"):
        mean_response_time("FCFS", EXP1, EXACT, -1.0)
    # names are case-insensitive, LAS is FB, and policy objects are accepted
    assert mean_response_time("las", EXP1, EXACT, 0.5, 15) == pytest.approx(2.0, rel=1e-13)
    assert mean_response_time(qt.policies.PS(), EXP1, EXACT, 0.5, 15) == pytest.approx(2.0)


def test_called_through_mg1():
    q = qt.MG1(load=0.5, size=EXP1)
    assert q.mean_response_time("FCFS", method="mpmath", dps=20) == 2.0
    assert q.mean_response_time("SRPT", method="mpmath", dps=20) < 2.0


def test_no_quadrature_warning_in_standard_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        for size in (EXP1, qt.Weibull(shape=0.5, scale=0.5),
                     qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)):
            for policy in ("SJF", "SRPT"):
                mean_response_time(policy, size, EXACT, 0.8 / size.mean, dps=20)


@settings(max_examples=20, deadline=None)
@given(load=st.floats(0.01, 0.99), mean=st.floats(0.1, 10.0))
def test_fcfs_ps_deterministic_closed_forms(load, mean):
    size = qt.Deterministic(mean)
    lam = load / mean
    assert mean_response_time("FCFS", size, EXACT, lam, 20) == pytest.approx(
        mean + lam * mean**2 / (2 * (1 - lam * mean)), rel=1e-13)
    assert mean_response_time("PS", size, EXACT, lam, 20) == pytest.approx(
        mean / (1 - lam * mean), rel=1e-13)


def _reference_records():
    if not DATA.exists():
        return []
    data = json.loads(DATA.read_text())
    return data["records"] if isinstance(data, dict) else data


def _recompute(rec, dps=None):
    size = eval("qt." + rec["size"])  # the repr of a qtheory law
    pred = eval("qt." + rec["prediction"]) if rec.get("prediction") else EXACT
    lam = rec.get("arrival_rate", float(rec["load"]) / size.mean)
    return mean_response_time(rec["policy"], size, pred, lam, dps or int(rec.get("dps", 20)))


def test_reference_file_matches_current_method():
    """tests/data/mpmath_reference.json is well formed and its cheap entries are current."""
    records = _reference_records()
    if not records:
        pytest.skip("tests/data/mpmath_reference.json not generated yet")
    for r in records:
        assert {"size", "policy", "load", "value"} <= set(r)
        assert math.isfinite(float(r["value"])) and float(r["value"]) > 0
    cheap = [r for r in records if r["policy"] in ("FCFS", "PS")
             or (r["policy"] == "SJF" and r["size"].startswith("Exponential"))]
    assert cheap
    for r in cheap:
        assert _recompute(r) == pytest.approx(float(r["value"]), rel=1e-14), r


@pytest.mark.slow
def test_reference_file_reproduces():
    """Every stored value is reproduced by the current code (slow: tens of minutes)."""
    records = _reference_records()
    if not records:
        pytest.skip("tests/data/mpmath_reference.json not generated yet")
    for r in records:
        assert _recompute(r) == pytest.approx(float(r["value"]), rel=1e-12), r


# ----------------------------------------------------------------------------- slow
def _bessel_exp_exp(lam):
    """Exponential sizes (mean 1) with exponential predictions (formulas.md):
    M_k(y) = E[X^k e^{-y/X}] = 2 y^{(k+1)/2} K_{k+1}(2 sqrt y), f_Y = 2 K_0(2 sqrt y)."""

    def M(k, y):
        return 2 * y ** ((k + 1) / 2) * special.kv(k + 1, 2 * math.sqrt(y))

    fy = lambda y: 2 * special.kv(0, 2 * math.sqrt(y))  # noqa: E731
    rho_p = lambda y: lam * (1 - M(1, y))  # noqa: E731
    return M, fy, rho_p


@pytest.mark.slow
def test_spjf_pspjf_exponential_exponential_against_bessel_forms():
    lam = 0.8
    M, fy, rho_p = _bessel_exp_exp(lam)
    pts = [0, 1e-8, 1e-4, 0.01, 0.3, 2, 8, 30, 120, 600]
    spjf = 1 + lam * 2 / 2 * quad_split(lambda y: fy(y) / (1 - rho_p(y)) ** 2, pts)
    # PSPJF: int x g(x, y) dx = M_0(y); E[X^2; Y <= y] = E[X^2] - M_2(y)
    pspjf = quad_split(lambda y: M(0, y) / (1 - rho_p(y))
                       + lam * fy(y) * (2 - M(2, y)) / (2 * (1 - rho_p(y)) ** 2), pts)
    assert mean_response_time("SPJF", EXP1, EXPO, lam, dps=18) == pytest.approx(spjf, rel=1e-8)
    assert mean_response_time("PSPJF", EXP1, EXPO, lam, dps=18) == pytest.approx(pspjf,
                                                                                 rel=1e-8)


@pytest.mark.slow
def test_sprpt_exponential_exponential_against_scipy():
    # SPRPT from the formula as written, with the window term and the residence
    # integral done by scipy (inner integrals in closed Bessel form where formulas.md
    # gives them): R(y) = int f(s) int_y^{y+s} (s - t + y)^2 e^{-t/s}/s dt ds.
    lam = 0.7
    M, fy, rho_p = _bessel_exp_exp(lam)

    def rho_i(y):
        return rho_p(y) if y > 0 else 0.0

    def window(y):
        inner = lambda s: quad(lambda t: (s - t + y) ** 2 * math.exp(-t / s) / s, y, y + s)  # noqa: E731,E501
        return quad_split(lambda s: math.exp(-s) * inner(s), [0, 1, 5, 20, 60])

    def et_y(y):
        # average over x of E[T(x, y)] q(y|x) f(x): waiting and residence terms
        r = 1 - rho_i(y)
        wait = fy(y) * lam * ((2 - M(2, y)) + window(y)) / (2 * r * r)
        res = quad_split(lambda x: math.exp(-x) * math.exp(-y / x) / x
                         * quad(lambda a: 1 / (1 - rho_i(y - a)), 0, min(x, y)),
                         [0, 0.5, 2, 8, 40])
        return wait + res

    main = quad_split(et_y, [0, 0.05, 0.5, 2, 8, 30, 100])
    expected = main + 1 * math.exp(-1)  # E[(X - Y)+] = E[X] E[(1 - Z)+] = 1/e
    got = mean_response_time("SPRPT", EXP1, EXPO, lam, dps=18)
    assert got == pytest.approx(expected, rel=2e-7)


@pytest.mark.slow
@pytest.mark.parametrize("policy", PREDICTED)
def test_precision_is_stable_between_dps(policy):
    size = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
    a = mean_response_time_mpf(policy, size, UNI, 0.9, dps=20)
    b = mean_response_time_mpf(policy, size, UNI, 0.9, dps=28)
    assert abs(a / b - 1) < 1e-15
