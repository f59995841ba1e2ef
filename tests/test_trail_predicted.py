"""TRAIL on the prediction: the closed form (qtheory.analysis.trail_predicted) against the
SOAP engine, its limits, sizes with atoms (closed form and known sizes) and the simulator."""

import numpy as np
import pytest

import qtheory as qt
from qtheory import policies as P
from qtheory.analysis.classical import ClassicalAnalysis
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.analysis.trail import trail_known_sizes_mean
from qtheory.analysis.trail_predicted import TrailJoint, TrailPredictionAnalysis

CASES = {
    "exp-exp": (qt.Exponential(mean=1.0), qt.ExponentialPrediction()),
    "weibull2-uniform": (qt.Weibull(2.0), qt.UniformPrediction(0.5)),
    "weibull05-lognormal": (qt.Weibull(0.5), qt.LognormalPrediction(0.5)),
    "boundedpareto-uniform": (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
                              qt.UniformPrediction(0.3)),
}
ATOMS = qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("c", [0.3, 0.8])
def test_closed_form_equals_soap(case, c):
    """Two independent derivations: the closed form's integrals over the noise and SOAP's
    engine on TRAIL's rank function (agreement measured: 1e-12 or better)."""
    size, pred = CASES[case]
    q = qt.MG1(load=0.85, size=size, prediction=pred)
    value, err = q.mean_response_time_with_error(P.TRAIL(c=c))
    soap = q.mean_response_time(P.TRAIL(c=c), method="soap")
    assert err < 1e-9 * value
    assert value == pytest.approx(soap, rel=1e-9)


@pytest.mark.parametrize("case", ["exp-exp", "weibull05-lognormal"])
def test_conditional_equals_soap(case):
    size, pred = CASES[case]
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    rng = np.random.default_rng(5)
    x = size.sample(5, rng)
    y = x * pred.noise_sample(5, rng)
    for c in (0.3, 0.8):
        pol = P.TRAIL(c=c)
        soap = SOAPAnalysis(size, pred, pol.rank()).conditional(q.arrival_rate, x, y)
        np.testing.assert_allclose(q.conditional_response_time(pol, x, y), soap, rtol=1e-10)


@pytest.mark.parametrize("case", ["exp-exp", "weibull2-uniform"])
def test_limits_c0_spjf_c1_sprpt(case):
    """c = 0 is SPJF (S2 + V2c = E[X^2], Kc = 0), c >= 1 SPRPT, and the values are continuous
    at both ends."""
    size, pred = CASES[case]
    lam = 0.8 / size.mean
    spjf = TrailPredictionAnalysis(size, pred, 0.0)
    assert spjf.trail_mean(lam)[0] == pytest.approx(spjf.mean("SPJF", lam)[0], rel=1e-10)
    near0 = TrailPredictionAnalysis(size, pred, 1e-7).trail_mean(lam)[0]
    assert near0 == pytest.approx(spjf.mean("SPJF", lam)[0], rel=1e-6)
    sprpt = spjf.mean("SPRPT", lam)[0]
    near1 = TrailPredictionAnalysis(size, pred, 1.0 - 1e-7).trail_mean(lam)[0]
    assert near1 == pytest.approx(sprpt, rel=1e-6)
    for c in (1.0, 1.5):
        assert TrailPredictionAnalysis(size, pred, c).trail_mean(lam)[0] == sprpt


def test_joint_functions_at_c0():
    """At c = 0 the old work is all of E[X^2; Y > y] and the residence kernel vanishes."""
    size, pred = CASES["weibull2-uniform"]
    J = TrailJoint(size, pred, 0.0, level=5)
    y = np.array([0.3, 1.0, 2.5])
    q = J.evaluate(y, ("S2", "V2c", "Kc"))
    np.testing.assert_allclose(q["S2"] + q["V2c"], size.moment(2), rtol=1e-12)
    assert np.all(q["Kc"] == 0.0)


def test_exact_predictions_are_known_sizes():
    size = qt.Weibull(0.7)
    q = qt.MG1(load=0.7, size=size, prediction=qt.ExactPrediction())
    a = q.mean_response_time(P.TRAIL(c=0.6))
    b = q.mean_response_time(P.TRAIL(c=0.6, on="size"))
    assert a == b
    # the prediction route's own exact branch agrees with the known-size form
    v, _ = TrailPredictionAnalysis(size, qt.ExactPrediction(), 0.6).trail_mean(q.arrival_rate)
    assert v == pytest.approx(a, rel=1e-9)


# ----------------------------------------------------------------------------- atoms
def test_atoms_limits():
    """Sizes with atoms (the SOAP engine takes continuous sizes only): c = 0 and c -> 0 give
    SPJF, c -> 1 and c = 1 SPRPT, for exponential and uniform noise."""
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(0.3)):
        lam = 0.8 / ATOMS.mean
        a0 = TrailPredictionAnalysis(ATOMS, pred, 0.0)
        spjf, sprpt = a0.mean("SPJF", lam)[0], a0.mean("SPRPT", lam)[0]
        assert a0.trail_mean(lam)[0] == pytest.approx(spjf, rel=1e-12)
        assert TrailPredictionAnalysis(ATOMS, pred, 1e-9).trail_mean(lam)[0] == \
            pytest.approx(spjf, rel=1e-8)
        assert TrailPredictionAnalysis(ATOMS, pred, 1 - 1e-9).trail_mean(lam)[0] == \
            pytest.approx(sprpt, rel=1e-8)


def test_atoms_against_simulation():
    """Measured with 8 x 1e7 jobs (seeds 11, 12): 5.50662 and 5.50677 (z = 0.88, 0.55) for
    5.504923 (uniform noise 0.3, c = 0.3, load 0.8); here 8 x 2e5 jobs."""
    pred = qt.UniformPrediction(0.3)
    q = qt.MG1(load=0.8, size=ATOMS, prediction=pred)
    value = q.mean_response_time(P.TRAIL(c=0.3))
    r = q.simulate(P.TRAIL(c=0.3), jobs=200_000, replications=8, seed=3)
    half = 0.5 * (r.ci[1] - r.ci[0])
    assert abs(r.mean - value) < 2.0 * half


def test_known_sizes_atoms():
    """TRAIL with known sizes on atoms: a finite sum with first come first served ties; SJF
    at c = 0, SRPT at c >= 1 (the classical sums), FCFS for deterministic sizes."""
    lam = 0.8 / ATOMS.mean
    cls = ClassicalAnalysis(ATOMS)
    assert trail_known_sizes_mean(ATOMS, lam, 0.0)[0] == pytest.approx(
        cls.mean("SJF", lam)[0], rel=1e-14)
    for c in (1.0, 2.0):
        assert trail_known_sizes_mean(ATOMS, lam, c)[0] == pytest.approx(
            cls.mean("SRPT", lam)[0], rel=1e-14)
    det = qt.Discrete([2.0], [1.0])
    assert trail_known_sizes_mean(det, 0.4, 0.5)[0] == pytest.approx(
        ClassicalAnalysis(det).mean("FCFS", 0.4)[0], rel=1e-14)
    q = qt.MG1(load=0.8, size=ATOMS, prediction=qt.ExactPrediction())
    x = np.array([1.0, 2.0, 5.0])
    mid = q.conditional_response_time(P.TRAIL(c=0.5, on="size"), x)
    srpt, sjf = cls.conditional("SRPT", lam, x), cls.conditional("SJF", lam, x)
    # the largest jobs gain from limited preemption against SRPT, the smallest lose
    assert mid[-1] < srpt[-1] and mid[0] > srpt[0] and np.all(mid != sjf)
    r = q.simulate(P.TRAIL(c=0.5, on="size"), jobs=200_000, replications=8, seed=4)
    half = 0.5 * (r.ci[1] - r.ci[0])
    assert abs(r.mean - q.mean_response_time(P.TRAIL(c=0.5, on="size"))) < 2.0 * half


# ----------------------------------------------------------------------------- input
def test_bad_input():
    size, pred = CASES["exp-exp"]
    with pytest.raises(ValueError, match="c must be"):
        TrailJoint(size, pred, 1.0)
    with pytest.raises(ValueError, match="c must be"):
        TrailPredictionAnalysis(size, pred, -0.1)
    with pytest.raises(ValueError, match="lam must be"):
        TrailPredictionAnalysis(size, pred, 0.5).trail_mean(-1.0)
    assert TrailPredictionAnalysis(size, pred, 0.5).trail_mean(1.0) == (np.inf, 0.0)
    general = qt.ConditionalPrediction(cdf=lambda y, x: 1 - np.exp(-y / x),
                                       pdf=lambda y, x: np.exp(-y / x) / x)
    with pytest.raises(ValueError, match="c must be > 0"):
        general.shortfall(size, 0.0)


# ----------------------------------------------------------------------------- general laws
BIASED = qt.ConditionalPrediction(cdf=lambda y, x: 1 - np.exp(-y / (x + 0.5)),
                                  pdf=lambda y, x: np.exp(-y / (x + 0.5)) / (x + 0.5))


def test_general_law_equals_multiplicative_route():
    """Exponential noise given as a general conditional law: the integrals over the size
    (JointIntegrals._general) against those over the noise factor (measured: 3.4e-14 and
    1.0e-14 for c = 0.3 and 0.8; conditional values equal to rounding)."""
    size = qt.Exponential(mean=1.0)
    general = qt.ConditionalPrediction(cdf=lambda y, x: 1 - np.exp(-y / x),
                                       pdf=lambda y, x: np.exp(-y / x) / x)
    qa = qt.MG1(load=0.8, size=size, prediction=qt.ExponentialPrediction())
    qb = qt.MG1(load=0.8, size=size, prediction=general)
    for c in (0.3, 0.8):
        assert qb.mean_response_time(P.TRAIL(c=c)) == pytest.approx(
            qa.mean_response_time(P.TRAIL(c=c)), rel=1e-11)
    x, y = np.array([0.3, 1.0, 2.5]), np.array([0.6, 0.8, 2.0])
    np.testing.assert_allclose(qb.conditional_response_time(P.TRAIL(c=0.6), x, y),
                               qa.conditional_response_time(P.TRAIL(c=0.6), x, y), rtol=1e-11)


def test_general_law_limits_and_simulation():
    """A biased prediction (Y | X = x exponential with mean x + 0.5), which the SOAP engine
    cannot take: c = 0 is the general SPJF form, c -> 1 the general SPRPT form, and c = 0.5
    agrees with the simulator (measured: 3.39242 against 3.38386 +- 0.0081, 8 x 1e6 jobs)."""
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=BIASED)
    assert q.mean_response_time(P.TRAIL(c=0.0)) == pytest.approx(
        q.mean_response_time("SPJF"), rel=1e-10)
    assert q.mean_response_time(P.TRAIL(c=1 - 1e-8)) == pytest.approx(
        q.mean_response_time("SPRPT"), rel=1e-6)
    value = q.mean_response_time(P.TRAIL(c=0.5))
    r = q.simulate(P.TRAIL(c=0.5), jobs=200_000, replications=8, seed=5)
    assert abs(r.mean - value) < 4.0 * r.std_error
