"""The age-rank SOAP engine's quadrature levels (qtheory.analysis.agerank): which level is
accepted (_accept), and levels at a flat maximum of the rank (_flat).

The reference for SERPT on a truncated Weibull law is the SOAP formula written out in
mpmath (:func:`_serpt_truncated_weibull_mp`), sharing no code with the engine."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis import agerank as AR

P = qt.policies
TW = qt.Truncated(qt.Weibull(shape=0.5, scale=1.0), 0.0, 5.0)
# _serpt_truncated_weibull_mp(32), 40 s (at 25 digits: 3.970556302627644, 29 s)
TW_SERPT_08 = 3.9705563026264863372571759854149


def _serpt_truncated_weibull_mp(dps: int) -> float:
    """E[T] of SERPT (rank: the mean residual life m(a)) for X ~ Weibull(0.5, 1) truncated
    to [0, 5], load 0.8, by SOAP (Scully et al. 2018, Theorem 5.5) in mpmath.

    m increases up to a* (m' = 0 there: f IS = S**2) and decreases to 0 at 5. A job of size
    x <= a* has worst future rank w = m(x): new jobs are served until their rank reaches w
    (age x), old ones while it is at most w (up to x, and again after c2, the age on the
    decreasing branch with m = w). A job of size x > a* has w = m(a*) (an old job is served
    to completion) and its residence after a* runs at the rank m(a), which new jobs reach
    at the age on the increasing branch with the same rank (or never below m(0))."""
    from mpmath import exp, mp, mpf, quad, sqrt

    with mp.workdps(dps):
        H = mpf(5)
        Z = 1 - exp(-sqrt(H))

        def S(t):
            return (exp(-sqrt(t)) - exp(-sqrt(H))) / Z

        def f(t):
            return exp(-sqrt(t)) / (2 * sqrt(t)) / Z

        def G(t):  # an antiderivative of exp(-sqrt(t))
            return -2 * (sqrt(t) + 1) * exp(-sqrt(t))

        def IS(a):  # int_a^5 S(t) dt
            return (G(H) - G(a) - (H - a) * exp(-sqrt(H))) / Z

        def m(a):
            return IS(a) / S(a)

        EX, EX2 = IS(0), 2 * quad(lambda t: t * S(t), [0, 1, H])
        lam = mpf("0.8") / EX
        steps = int(3.4 * dps) + 10

        def bisect(g, lo, hi):  # g(lo) < 0 <= g(hi)
            for _ in range(steps):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if g(mid) < 0 else (lo, mid)
            return (lo + hi) / 2

        astar = bisect(lambda a: S(a) ** 2 - f(a) * IS(a), mpf("0.1"), mpf(2))
        mmax, m0 = m(astar), m(0)

        def emin(c):  # E[min(X, c)]
            return quad(S, [0, c]) if c > 0 else mpf(0)

        def c_inc(v):
            if v <= m0:
                return mpf(0)
            return bisect(lambda a: m(a) - v, mpf(0), astar)

        def T(x):  # x <= a*
            c2 = bisect(lambda a: v - m(a), astar, H) if (v := m(x)) < mmax else astar
            o0 = emin(x)
            s2 = 2 * quad(lambda t: t * S(t), [0, x]) + 2 * quad(lambda t: (t - c2) * S(t),
                                                                 [c2, H])
            rn = lam * o0
            return lam * s2 / (2 * (1 - lam * o0) * (1 - rn)) + x / (1 - rn)

        part1 = quad(lambda x: f(x) * T(x), [0, mpf("0.01"), mpf("0.3"), astar])
        rn = lam * emin(astar)
        wait = lam * EX2 / (2 * (1 - lam * EX) * (1 - rn))
        a3 = bisect(lambda a: m0 - m(a), astar, H)  # past it m < m(0): no new job waits
        part2 = S(astar) * (wait + astar / (1 - rn)) + quad(
            lambda a: S(a) / (1 - lam * emin(c_inc(m(a)))), [astar, 2, a3, H])
        return float(part1 + part2)


def _engine(q):
    return [e for e in q._engines._age.values() if isinstance(e, AR.AgeRankAnalysis)][-1]


def test_serpt_at_a_flat_maximum_of_its_rank_matches_mpmath():
    # SERPT's rank has a smooth maximum near age 0.8593; levels at that maximum came from
    # two pieces, and solving for them on the increasing one returned ages up to 1e-8 early,
    # differently at each quadrature level: 3.9705562735 (7.3e-9 low) before _flat
    q = qt.MG1(load=0.8, size=TW)
    assert q.mean_response_time(P.SERPT()) == pytest.approx(TW_SERPT_08, rel=1e-12)
    e, lam = _engine(q), 0.8 / TW.mean
    vals = [e._structure(level).evaluate(lam)[0] for level in (4, 5, 6)]
    assert max(vals) - min(vals) <= 1e-13 * TW_SERPT_08


@pytest.mark.slow
def test_serpt_truncated_weibull_reference_value():
    assert _serpt_truncated_weibull_mp(25) == pytest.approx(TW_SERPT_08, rel=1e-14)


def test_flat_levels():
    end = np.array([1.5, -2.0, 0.0])
    assert AR._flat(np.nextafter(end, 0.0) * (1 - 4e-16), end).tolist() == [True, True, True]
    assert AR._flat(end * (1 - 1e-13) - 1e-300, end).tolist() == [False, False, False]


def test_first_level_is_accepted_only_well_inside_rtol():
    rtol = 1e-9
    assert AR._accept(1.0, 5e-12, 1.0 + 1e-6, rtol, first=True)
    assert not AR._accept(1.0, 5e-11, 1.0, rtol, first=True)  # estimate not 100x inside
    assert not AR._accept(1.0, 1e-15, 1.0 + 1e-4, rtol, first=True)  # coarse rule differs
    assert AR._accept(1.0, 5e-10, 1.0 + 1e-6, rtol, first=False)  # later: rtol itself
    assert not AR._accept(1.0, 2e-9, 1.0, rtol, first=False)


@pytest.mark.parametrize("size, prediction, load", [
    (qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), 0.5),  # estimate 2e-11: level 5
    (qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction(), 0.8),
    (qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)), qt.UniformPrediction(0.5),
     0.95),
], ids=["exp-uniform", "lognormal-exp", "hyperexp-uniform"])
def test_accepted_level_agrees_with_level_six(size, prediction, load):
    q = qt.MG1(load=load, size=size, prediction=prediction)
    v = q.mean_response_time(P.GittinsBuckets(thresholds=(0.5, 2.0)))
    an = q._engines.gittins_buckets(P.GittinsBuckets(thresholds=(0.5, 2.0)))
    lam = load / size.mean
    ref = float(an.probs @ np.array([st.evaluate(lam)[0] for st in an._level(6)]))
    assert v == pytest.approx(ref, rel=1e-10)
