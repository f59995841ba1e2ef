"""The SOAP rank-function engine against closed forms, limits and orderings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import qtheory as qt
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.analysis.trail import trail_known_sizes_mean
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies
SIZES = {
    "exp": qt.Exponential(mean=1.0),
    "weibull": qt.Weibull(shape=0.5, scale=0.5),
    "hyperexp": qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "bpareto": qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}
NOISE = {
    "exact": qt.ExactPrediction(),
    "exponential": qt.ExponentialPrediction(),
    "uniform": qt.UniformPrediction(alpha=0.5),
}


@pytest.fixture(autouse=True)
def _no_quadrature_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        yield


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("policy", ["FCFS", "FB", "SJF", "PSJF", "SRPT"])
def test_soap_equals_classical_closed_forms(size, policy):
    q = qt.MG1(load=0.85, size=SIZES[size])
    assert q.mean_response_time(policy, method="soap") == pytest.approx(
        q.mean_response_time(policy), rel=1e-8)


@pytest.mark.parametrize("size", ["exp", "weibull", "bpareto"])
@pytest.mark.parametrize("noise", ["exponential", "uniform"])
@pytest.mark.parametrize("policy", ["SPJF", "PSPJF", "SPRPT"])
def test_soap_equals_prediction_closed_forms(size, noise, policy):
    q = qt.MG1(load=0.8, size=SIZES[size], prediction=NOISE[noise])
    assert q.mean_response_time(policy, method="soap") == pytest.approx(
        q.mean_response_time(policy), rel=1e-8)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("c", [0.0, 0.3, 0.8, 1.0])
def test_trail_known_sizes_closed_form(size, c):
    s = SIZES[size]
    lam = 0.8 / s.mean
    closed = trail_known_sizes_mean(s, lam, c)[0]
    soap = SOAPAnalysis(s, qt.ExactPrediction(), P.TRAIL(c=c, on="size").rank()).mean(lam)[0]
    assert soap == pytest.approx(closed, rel=1e-8)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(load=st.floats(0.1, 0.95), noise=st.sampled_from(["exponential", "uniform"]),
       shape=st.floats(0.5, 2.0))
def test_trail_limits(load, noise, shape):
    """TRAIL is SPJF at c = 0 and SPRPT at c = 1 (different rank functions)."""
    q = qt.MG1(load=load, size=qt.Weibull(shape=shape, scale=1.0), prediction=NOISE[noise])
    assert q.mean_response_time(P.TRAIL(c=0.0)) == pytest.approx(
        q.mean_response_time("SPJF"), rel=1e-8)
    assert q.mean_response_time(P.TRAIL(c=1.0)) == pytest.approx(
        q.mean_response_time("SPRPT"), rel=1e-8)
    # no ordering between TRAIL(c), SPJF and SPRPT holds in general: with poor predictions
    # of low-variance sizes SPJF can beat SPRPT, and TRAIL(0.5) can beat both


@pytest.mark.parametrize("noise", list(NOISE))
@pytest.mark.parametrize("preemptive", [False, True])
def test_one_bit_soap_equals_closed_form(noise, preemptive):
    q = qt.MG1(load=0.8, size=SIZES["exp"], prediction=NOISE[noise])
    pol = P.OneBit(threshold=1.2, preemptive=preemptive, within="fifo")
    assert q.mean_response_time(pol, method="soap") == pytest.approx(
        q.mean_response_time(pol), rel=1e-8)


def test_one_bit_exponential_sizes_known_forms():
    """Perfect bit at T for exponential sizes: rho_T = lambda(1 - (1 + T)e^-T)."""
    lam, T = 0.7, 1.3
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=1.0))
    rho_s = lam * (1 - (1 + T) * np.exp(-T))
    p_l = np.exp(-T)
    w0 = lam
    np_form = 1 + w0 * (1 - lam + lam * p_l) / ((1 - lam) * (1 - rho_s))
    p_form = (1 - lam + p_l * w0) / ((1 - lam) * (1 - rho_s))
    assert q.mean_response_time(P.OneBit(threshold=T)) == pytest.approx(np_form, rel=1e-12)
    assert q.mean_response_time(P.OneBit(threshold=T, preemptive=True)) == pytest.approx(
        p_form, rel=1e-12)


def test_one_bucket_is_fcfs_and_buckets_generalise_one_bit():
    q = qt.MG1(load=0.8, size=SIZES["weibull"], prediction=NOISE["exponential"])
    assert q.mean_response_time(P.Buckets()) == pytest.approx(q.mean_response_time("FCFS"))
    for pre in (False, True):
        b = q.mean_response_time(P.Buckets(thresholds=(0.7,), preemptive=pre))
        o = q.mean_response_time(P.OneBit(threshold=0.7, preemptive=pre, within="fifo"))
        assert b == pytest.approx(o, rel=1e-8)
    # more buckets help SPJF-like scheduling here
    two = q.mean_response_time(P.Buckets(thresholds=(0.7,), preemptive=True))
    four = q.mean_response_time(P.Buckets(thresholds=(0.3, 0.7, 2.0), preemptive=True))
    assert four < two < q.mean_response_time("FCFS")


def test_user_rank_function_piecewise_form():
    """rank 2y - a under Y = X Z equals SPRPT under predictions 2Y (a different path)."""
    size = qt.Exponential(mean=1.0)
    custom = P.RankPolicy(RankFunction.single("prediction", [Segment(value=(2.0, 0.0), slope=-1)]),
                          label="2y-a")
    q1 = qt.MG1(load=0.8, size=size, prediction=qt.ExponentialPrediction())
    q2 = qt.MG1(load=0.8, size=size, prediction=qt.MultiplicativePrediction(stats.expon(scale=2)))
    assert q1.mean_response_time(custom) == pytest.approx(q2.mean_response_time("SPRPT"),
                                                          rel=1e-8)


def test_rank_evaluate_matches_definition():
    r = P.TRAIL(c=0.5).rank()
    k = np.array([2.0, 2.0, 2.0])
    a = np.array([0.0, 0.9, 1.5])
    np.testing.assert_array_equal(r.evaluate(k, a), [2.0, 1.1, -np.inf])
    sjf = P.SJF().rank()
    assert sjf.evaluate(3.0, 0.0) == 3.0 and sjf.evaluate(3.0, 0.1) == -np.inf


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Segment(value=(1.0, 0.0), slope=float("nan")), "slope"),
        (lambda: RankFunction.single("size", [Segment(value=(1.0, 0.0), slope=2)]), "slope"),
        (lambda: Segment(value=(1.0, -np.inf)), "-inf"),
        (lambda: Branch((Segment(),), low=2.0, high=1.0), "out of order"),
        (lambda: RankFunction("prediction", (Branch((Segment(),), low=-np.inf, high=1.0),
                                             Branch((Segment(),), low=2.0, high=np.inf))),
         "contiguous"),
        (lambda: RankFunction("age", (Branch((Segment(),)),)), "key"),
        (lambda: Branch((Segment(end=(0.0, 1.0)),)), "last segment"),
        (lambda: P.Buckets(thresholds=(2.0, 1.0)), "increasing"),
        (lambda: P.OneBit(threshold=-1.0), "threshold"),
        (lambda: P.TRAIL(c=-0.5), "c must"),
    ],
)
def test_bad_rank_input(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_soap_needs_a_rank():
    q = qt.MG1(load=0.5, size=SIZES["exp"])
    with pytest.raises(ValueError, match="rank"):
        q.mean_response_time(P.OneBit(threshold=1.0, preemptive=True), method="soap")
    with pytest.raises(ValueError, match="continuous"):
        SOAPAnalysis(qt.Deterministic(value=1.0), qt.ExactPrediction(), P.SRPT().rank())


def test_soap_unstable_is_inf():
    q = qt.MG1(load=1.0, size=SIZES["exp"], prediction=NOISE["exponential"])
    assert q.mean_response_time(P.TRAIL(c=0.5)) == np.inf


@pytest.mark.parametrize("noise", ["exact", "exponential"])
def test_soap_conditional_equals_closed_forms(noise):
    q = qt.MG1(load=0.8, size=SIZES["weibull"], prediction=NOISE[noise])
    x = np.array([0.1, 1.0, 3.0])
    y = x if noise == "exact" else np.array([0.5, 0.7, 6.0])
    for name in ("SPRPT", "PSPJF", "SPJF", "SRPT", "FB", "SJF"):
        a = SOAPAnalysis(q.size, q.prediction, qt.get_policy(name).rank())
        np.testing.assert_allclose(a.conditional(q.arrival_rate, x, y),
                                   q.conditional_response_time(name, x, y), rtol=1e-8)
    trail = q.conditional_response_time(P.TRAIL(c=0.5), x, y)
    assert np.all(np.isfinite(trail)) and np.all(trail > x)
