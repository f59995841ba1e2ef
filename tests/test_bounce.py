"""SRPT-Bounce: the closed form (qtheory.analysis.bounce) against the SOAP engine, exact
estimates (SRPT), the conditional response times, and the approximation ratio."""

import numpy as np
import pytest
from scipy import stats

import qtheory as qt
from qtheory import policies as P
from qtheory.analysis.bounce import BounceAnalysis, BounceJoint
from qtheory.analysis.soap import SOAPAnalysis

CASES = {
    "exp-exp": (qt.Exponential(mean=1.0), qt.ExponentialPrediction()),
    "weibull05-lognormal": (qt.Weibull(0.5), qt.LognormalPrediction(0.5)),
    "boundedpareto-uniform": (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
                              qt.UniformPrediction(0.3)),
    "hyperexp-wide-uniform": (qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
                              qt.UniformPrediction(0.9)),
    "exp-interval": (qt.Exponential(mean=1.0),
                     qt.MultiplicativePrediction(stats.uniform(0.5, 1.5))),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("load", [0.5, 0.9])
def test_closed_form_equals_soap(case, load):
    """Two independent derivations: the closed form's integrals over the noise and SOAP's
    engine on the rank |y - a| (agreement measured: 3e-13 or better on these cases)."""
    size, pred = CASES[case]
    q = qt.MG1(load=load, size=size, prediction=pred)
    value, err = q.mean_response_time_with_error(P.SRPTBounce())
    soap = q.mean_response_time(P.SRPTBounce(), method="soap")
    assert err < 1e-9 * value
    assert value == pytest.approx(soap, rel=1e-9)


def test_soap_splits_where_the_bounce_boundary_crosses_the_bulk():
    """Weibull 2 sizes, uniform noise 0.5, load 0.5: SOAP at its default rtol (1e-9) was
    2.4e-10 off the closed form (1.3259614928693626, estimate 2.4e-14) with an estimate of
    1.8e-12: its tagged measure mu at r = 0.02 was 6e-8 off with an estimate of 1.6e-11, where
    the boundary x = r / (1 - z) sweeps the bulk of the sizes in a sliver next to z = 1. Its
    noise quadrature now also splits where a boundary crosses the median size: 2.7e-13."""
    size, pred = qt.Weibull(2.0), qt.UniformPrediction(0.5)
    q = qt.MG1(load=0.5, size=size, prediction=pred)
    value = q.mean_response_time(P.SRPTBounce())
    soap, err = q.mean_response_time_with_error(P.SRPTBounce(), method="soap")
    assert value == pytest.approx(1.3259614928693626, rel=1e-13)
    assert abs(soap - value) < max(err, 1e-12 * value)


@pytest.mark.parametrize("case", ["exp-exp", "weibull05-lognormal"])
def test_conditional_equals_soap(case):
    size, pred = CASES[case]
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    rng = np.random.default_rng(7)
    x = np.concatenate([size.sample(4, rng), [1.0, 1.0, 1.0]])
    y = np.concatenate([x[:4] * pred.noise_sample(4, rng), [2.0, 0.7, 0.3]])  # 3 regimes
    soap = SOAPAnalysis(size, pred, P.SRPTBounce().rank()).conditional(q.arrival_rate, x, y)
    np.testing.assert_allclose(q.conditional_response_time(P.SRPTBounce(), x, y), soap,
                               rtol=1e-10)


def test_exact_estimates_are_srpt():
    size = qt.Weibull(0.6)
    lam = 0.85 / size.mean
    a = BounceAnalysis(size, qt.ExactPrediction())
    srpt = qt.MG1(arrival_rate=lam, size=size).mean_response_time("SRPT")
    assert a.bounce_mean(lam)[0] == pytest.approx(srpt, rel=1e-9)


def test_joint_functions_integrate():
    """R = max(Y, X - Y) has a density (f_R integrates to 1); K + A integrates to E[X] (every
    unit of a job's service is spent at some level); S tends to E[X^2] at high levels (at
    r = 200 it is still 5.9e-10 below: scipy's quad over the noise gives the same)."""
    size, pred = CASES["exp-exp"]
    a = BounceAnalysis(size, pred, rtol=1e-11)
    g, q = a._grid(6, ("fR", "KB", "AB", "SB"))
    assert g.integrate(q["fR"])[0] == pytest.approx(1.0, rel=1e-10)
    assert g.integrate(q["KB"] + q["AB"])[0] == pytest.approx(size.mean, rel=1e-10)
    J = BounceJoint(size, pred, level=6)
    assert J.evaluate(np.array([2000.0]), ("SB",))["SB"][0] == pytest.approx(2.0, rel=1e-14)


def test_approximation_ratio_below_sprpt():
    """Estimates in [s/2, 2 s]: the bounce bounds the harm of underestimates (closed forms
    on both sides now)."""
    q = qt.MG1(load=0.9, size=qt.Weibull(0.5), prediction=CASES["exp-interval"][1])
    assert 1.0 <= q.approximation_ratio(P.SRPTBounce()) < q.approximation_ratio("SPRPT")


def test_bad_input():
    general = qt.ConditionalPrediction(cdf=lambda y, x: 1 - np.exp(-y / x),
                                       pdf=lambda y, x: np.exp(-y / x) / x)
    with pytest.raises(ValueError, match="multiplicative"):
        BounceJoint(qt.Exponential(mean=1.0), general)
    with pytest.raises(ValueError, match="continuous"):
        BounceJoint(qt.Discrete([1.0, 2.0], [0.5, 0.5]), qt.ExponentialPrediction())
    a = BounceAnalysis(*CASES["exp-exp"])
    with pytest.raises(ValueError, match="lam must be"):
        a.bounce_mean(np.nan)
    assert a.bounce_mean(1.0) == (np.inf, 0.0)
