"""Overhead segments (server time that does not serve the job's size) in the piecewise SOAP
engine: a job's completion age is its size plus the overhead it serves, a piecewise-affine
function of the size (qtheory.analysis.soap._overhead_table).

Independent checks: the closed forms of SkipPredict and DelayPredict with server-time costs
(qtheory.analysis.predicted, .delay, .skip_two: SOAP by hand, sharing no code with the
engine), mean and conditional; user ranks with overhead against the simulator; and the load
of the completion age.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies
INF = np.inf
EXP = qt.Exponential(mean=1.0)
WEIBULL = qt.Weibull(shape=0.5, scale=0.5)
BPARETO = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)


@pytest.mark.parametrize("size,pred,load", [
    (EXP, qt.ExponentialPrediction(), 0.9),
    (WEIBULL, qt.UniformPrediction(0.5), 0.5),
    (BPARETO, qt.ExponentialPrediction(), 0.8),
])
def test_skip_predict_server_costs_soap_is_the_closed_form(size, pred, load):
    q = qt.MG1(load=load, size=size, prediction=pred)
    pol = P.SkipPredict(1.0, cheap_cost=0.05, expensive_cost=0.1, cost_model="server")
    closed = q.mean_response_time(pol)
    soap, err = q.mean_response_time_with_error(pol, method="soap")
    assert soap == pytest.approx(closed, rel=1e-9)
    assert err <= 1e-9 * soap


@pytest.mark.parametrize("size,pred", [(EXP, qt.ExponentialPrediction()),
                                       (WEIBULL, qt.UniformPrediction(0.5))])
def test_delay_predict_server_costs_soap_is_the_closed_form(size, pred):
    q = qt.MG1(load=0.7, size=size, prediction=pred)
    pol = P.DelayPredict(1.0, expensive_cost=0.1, cost_model="server")
    assert q.mean_response_time(pol, method="soap") == pytest.approx(
        q.mean_response_time(pol), rel=1e-9)


def test_conditionals_with_server_costs_are_the_closed_forms():
    """SOAP's conditional response times (tables in the level) with overhead phases, which it
    refused until 2026-12-06, against the closed forms' (measured: 3e-15)."""
    q = qt.MG1(load=0.7, size=WEIBULL, prediction=qt.UniformPrediction(0.5))
    x = np.array([0.05, 0.3, 0.9, 1.2, 3.0, 8.0])
    y = np.array([0.06, 0.35, 1.3, 0.8, 2.0, 11.0])
    for pol in (P.SkipPredict(1.0, 0.05, 0.1, cost_model="server"),
                P.DelayPredict(1.0, 0.1, cost_model="server")):
        a = SOAPAnalysis(q.size, q.prediction, pol.rank())
        np.testing.assert_allclose(a.conditional(q.arrival_rate, x, y),
                                   q.conditional_response_time(pol, x, y), rtol=1e-10)


def test_two_predictors_server_costs_through_the_branched_engine():
    """SkipPredict with its bit from a second prediction, server-time costs: SOAP on the
    two-part descriptor (each class with its overheads) against the closed form of
    qtheory.analysis.skip_two, mean and conditional."""
    two = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
    q = qt.MG1(load=0.7, size=EXP, prediction=two)
    pol = P.SkipPredict(1.0, 0.05, 0.3, cost_model="server", bit_prediction=1)
    assert q.mean_response_time(pol, method="soap") == pytest.approx(
        q.mean_response_time(pol), rel=1e-9)
    x = np.array([0.5, 2.0, 0.3, 3.0])
    y = np.array([[0.4, 0.6], [2.5, 1.9], [1.2, 0.3], [0.5, 2.2]])
    eng = q._engines.soap(pol.rank())
    np.testing.assert_allclose(eng.conditional(q.arrival_rate, x, y[:, 0], y[:, 1]),
                               q.conditional_response_time(pol, x, y), rtol=1e-10)


USER_RANKS = {
    # every job's prediction computed on the server first (0.2, never preempted), then SPRPT
    "prediction first": RankFunction.single("prediction", [
        Segment(value=(0, -INF), end=(0, 0.2), overhead=True),
        Segment(value=(1, 0), slope=-1)]),
    # FB with a setup of 0.2 at age 0.5 (rank held at 0.5 meanwhile)
    "FB with a setup": RankFunction.single("none", [
        Segment(value=(0, 0), slope=1, end=(0, 0.5)),
        Segment(value=(0, 0.5), end=(0, 0.7), overhead=True),
        Segment(value=(0, 0.5), slope=1)]),
    # PSJF, a check of 0.3 at age 1 at rank 0, then SRPT on what is left
    "PSJF, check at 1": RankFunction.single("size", [
        Segment(value=(1, 0), end=(0, 1.0)),
        Segment(value=(0, 0), end=(0, 1.3), overhead=True),
        Segment(value=(1, -1), slope=-1)]),
    # by the true size: jobs up to 1 first come first served, the longer ones pay 0.2 (never
    # preempted) and then run by SRPT
    "size branches, overhead for longs": RankFunction("size", (
        Branch((Segment(value=(0, 0)),), high=1.0),
        Branch((Segment(value=(0, -INF), end=(0, 0.2), overhead=True),
                Segment(value=(1, 0), slope=-1)), low=1.0))),
    # two buckets; the long ones pay 0.1 first, then FB
    "buckets, overhead for longs": RankFunction("prediction", (
        Branch((Segment(value=(0, 0)),), high=1.0),
        Branch((Segment(value=(0, 1), end=(0, 0.1), overhead=True),
                Segment(value=(0, 1), slope=1)), low=1.0))),
}


def test_the_load_is_that_of_the_completion_age():
    """E[completion age] = E[X] + c1 + c2 P(Y > T) for SkipPredict (every job serves c1,
    the predicted-long ones c2 too), E[X] + c2 P(X > L) for DelayPredict; a queue stable
    by its sizes but not with the overhead gives inf."""
    pred = qt.ExponentialPrediction()
    skip = P.SkipPredict(1.0, 0.05, 0.1, cost_model="server")
    a = SOAPAnalysis(EXP, pred, skip.rank())
    p_long = 1.0 - float(pred.marginal_cdf(np.array([1.0]), EXP)[0])
    assert a.m1 == pytest.approx(1.0 + 0.05 + 0.1 * p_long, rel=1e-12)
    delay = SOAPAnalysis(WEIBULL, pred, P.DelayPredict(1.0, 0.1, cost_model="server").rank())
    assert delay.m1 == pytest.approx(WEIBULL.mean + 0.1 * float(WEIBULL.sf(1.0)), rel=1e-12)
    by_size = SOAPAnalysis(WEIBULL, pred, USER_RANKS["size branches, overhead for longs"])
    assert by_size.m1 == pytest.approx(WEIBULL.mean + 0.2 * float(WEIBULL.sf(1.0)), rel=1e-12)
    lam = 1.01 / a.m1  # lambda E[completion] = 1.01, lambda E[X] < 0.97
    assert a.mean(lam)[0] == np.inf and np.all(np.isinf(a.conditional(lam, 1.0, 1.0)))
    q = qt.MG1(arrival_rate=lam, size=EXP, prediction=pred)
    assert q.load < 1 and q.mean_response_time(skip, method="soap") == np.inf


@pytest.mark.parametrize("name", list(USER_RANKS))
def test_user_ranks_with_overhead_against_the_simulator(name):
    """Mean within 4.5 standard errors of the simulator (8 x 1e5 jobs), with no warning;
    conditional response times average to the mean over 1e4 draws of the joint law."""
    q = qt.MG1(load=0.7, size=WEIBULL, prediction=qt.ExponentialPrediction())
    pol = P.RankPolicy(USER_RANKS[name], label=name)
    value, err = q.mean_response_time_with_error(pol)
    assert err <= 1e-9 * value
    sim = q.simulate(pol, jobs=100_000, replications=8, seed=5)
    assert abs(sim.z_score(value)) < 4.5, (sim.mean, sim.std_error, value)
    x, y = q.prediction.sample(q.size, 10000, rng=1)
    c = q.conditional_response_time(pol, x, y)
    assert abs(c.mean() - value) < 5 * c.std() / np.sqrt(c.size)


@pytest.mark.slow
def test_two_overheads_in_a_branch_against_the_simulator():
    """SPRPT with two checks, 0.1 at age 0 (never preempted) and 0.2 at age 1.1 (rank 0):
    38 split points in the noise, as the same rank without overhead has (6 s for the mean,
    20 s for the tables of the conditional: the many-boundary cost of docs/soap.md). Mean
    against 8 x 3e6 simulated jobs (measured z = +0.47 and +0.63 on two seeds)."""
    rank = RankFunction.single("prediction", [
        Segment(value=(0, -INF), end=(0, 0.1), overhead=True),
        Segment(value=(1, 0), slope=-1, end=(0, 1.1)),
        Segment(value=(0, 0), end=(0, 1.3), overhead=True),
        Segment(value=(1, -1), slope=-1)])
    q = qt.MG1(load=0.6, size=WEIBULL, prediction=qt.ExponentialPrediction())
    pol = P.RankPolicy(rank)
    value, err = q.mean_response_time_with_error(pol)
    assert err <= 1e-9 * value
    sim = q.simulate(pol, jobs=3_000_000, replications=8, seed=11)
    assert abs(sim.z_score(value)) < 4, (sim.mean, sim.std_error, value)


def test_fcfs_with_a_setup_is_pollaczek_khinchine():
    """FCFS whose jobs each need a setup of c first: M/G/1 FCFS with service X + c."""
    c = 0.3
    rank = RankFunction.single("none", [Segment(value=(0, 0), end=(0, c), overhead=True),
                                        Segment(value=(0, 0))])
    q = qt.MG1(load=0.6, size=WEIBULL, prediction=qt.ExponentialPrediction())
    lam, m1, m2 = q.arrival_rate, WEIBULL.mean, WEIBULL.moment(2)
    es, es2 = m1 + c, m2 + 2 * c * m1 + c * c
    want = es + lam * es2 / (2 * (1 - lam * es))
    assert q.mean_response_time(P.RankPolicy(rank)) == pytest.approx(want, rel=1e-12)
    x = np.array([0.1, 1.0, 5.0])
    np.testing.assert_allclose(q.conditional_response_time(P.RankPolicy(rank), x),
                               x + c + lam * es2 / (2 * (1 - lam * es)), rtol=1e-10)


def test_unsupported_overheads_are_named():
    moving = RankFunction.single("prediction", [
        Segment(value=(1, 0), slope=-1, end=(0.5, 0.0)),
        Segment(value=(0, 0), end=(0.5, 0.2), overhead=True),
        Segment(value=(0, -INF))])
    q = qt.MG1(load=0.5, size=EXP, prediction=qt.ExponentialPrediction())
    with pytest.raises(ValueError, match=r"segments\[1\].*start depends on the key"):
        q.mean_response_time(P.RankPolicy(moving))
    sloped = RankFunction.single("none", [Segment(value=(0, 0), end=(0, 0.2), overhead=True),
                                          Segment(value=(0, 0), slope=0.5)])
    with pytest.raises(ValueError, match="overhead segments needs slopes"):
        q.mean_response_time(P.RankPolicy(sloped))
