"""SkipPredict, DelayPredict, SRPT-Bounce and interval estimates (issue: SOAP policies)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import qtheory as qt
from qtheory import policies as P

INF = float("inf")
SIZES = {
    "exp": qt.Exponential(mean=1.0),
    "weibull": qt.Weibull(shape=0.5, scale=0.5),
    "bpareto": qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}


# ---------------------------------------------------------------- interval estimates
def test_interval_prediction_matches_scipy_uniform():
    p = qt.IntervalPrediction(beta=0.5, alpha=2.0)
    ref = stats.uniform(loc=0.5, scale=1.5)
    z = np.linspace(0.0, 2.5, 11)
    assert np.allclose(p.noise_cdf(z), ref.cdf(z))
    assert np.allclose(p.noise_pdf(z[1:-1]), ref.pdf(z[1:-1]))
    u = np.linspace(0.01, 0.99, 7)
    assert np.allclose(p.noise_ppf(u), ref.ppf(u))
    # E[(1 - Z)+] by quadrature
    from scipy.integrate import quad

    want = quad(lambda t: (1 - t) * ref.pdf(t), 0.5, 1.0)[0]
    assert p.noise_shortfall() == pytest.approx(want, rel=1e-12)


def test_uniform_prediction_is_the_symmetric_interval():
    q1 = qt.MG1(load=0.8, size=SIZES["weibull"], prediction=qt.UniformPrediction(0.5))
    q2 = qt.MG1(load=0.8, size=SIZES["weibull"], prediction=qt.IntervalPrediction(0.5, 1.5))
    for pol in ("SPJF", "SPRPT"):
        assert q1.mean_response_time(pol) == pytest.approx(q2.mean_response_time(pol), rel=1e-12)


@pytest.mark.parametrize("beta, alpha", [(-0.1, 1.0), (1.0, 1.0), (2.0, 1.0)])
def test_interval_prediction_bad_input(beta, alpha):
    with pytest.raises(ValueError, match="beta|alpha"):
        qt.IntervalPrediction(beta=beta, alpha=alpha)


# ---------------------------------------------------------------- SRPT-Bounce
@pytest.mark.parametrize("name", list(SIZES))
def test_srpt_bounce_with_exact_estimates_is_srpt(name):
    q = qt.MG1(load=0.8, size=SIZES[name], prediction=qt.ExactPrediction())
    assert q.mean_response_time(P.SRPTBounce()) == pytest.approx(
        q.mean_response_time("SRPT"), rel=1e-8)


def test_srpt_bounce_rank_shape():
    r = P.SRPTBounce().rank()
    ages = np.array([0.0, 1.0, 2.0, 3.0, 5.0])
    assert np.allclose(r.evaluate(2.0, ages), np.abs(2.0 - ages))


def test_srpt_bounce_beats_sprpt_when_underestimates_are_common():
    # estimates in [s/2, 2s], heavy-ish tail: the bounce limits the harm of underestimates
    q = qt.MG1(load=0.8, size=SIZES["bpareto"], prediction=qt.IntervalPrediction(0.5, 2.0))
    assert q.approximation_ratio(P.SRPTBounce()) < q.approximation_ratio("SPRPT")
    assert q.approximation_ratio(P.SRPTBounce()) >= 1.0


# ---------------------------------------------------------------- SkipPredict
@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
def test_skippredict_threshold_zero_is_sprpt(name, pred):
    q = qt.MG1(load=0.7, size=SIZES[name], prediction=pred)
    assert q.mean_response_time(P.SkipPredict(threshold=0.0)) == pytest.approx(
        q.mean_response_time("SPRPT"), rel=1e-8)


@pytest.mark.parametrize("c1", [0.0, 0.05, 0.2])
def test_skippredict_threshold_inf_is_fcfs_on_shifted_service(c1):
    s = SIZES["weibull"]
    q = qt.MG1(load=0.6, size=s, prediction=qt.ExponentialPrediction())
    lam = q.arrival_rate
    m1, m2 = s.moment(1) + c1, s.moment(2) + 2 * c1 * s.moment(1) + c1 * c1
    pk = m1 + lam * m2 / (2 * (1 - lam * m1))  # Pollaczek-Khinchine on service c1 + X
    pol = P.SkipPredict(threshold=INF, cheap_cost=c1, expensive_cost=1.0, cost_model="server")
    assert q.mean_response_time(pol) == pytest.approx(pk, rel=1e-12)


def test_skippredict_server_costs_raise_response_time_and_can_be_unstable():
    q = qt.MG1(load=0.7, size=SIZES["exp"], prediction=qt.ExponentialPrediction())
    free = q.mean_response_time(P.SkipPredict(threshold=1.0, cost_model="server"))
    ext = q.mean_response_time(P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                             expensive_cost=0.2))
    paid = q.mean_response_time(P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                              expensive_cost=0.2, cost_model="server"))
    assert ext == pytest.approx(free, rel=1e-9)  # external costs do not touch E[T]
    assert paid > free
    # load 0.7 + lambda * 0.4 >= 1: the server spends too long predicting
    assert q.mean_response_time(P.SkipPredict(threshold=0.0, expensive_cost=0.5,
                                              cost_model="server")) == INF


def test_mean_cost_adds_external_costs_only():
    q = qt.MG1(load=0.7, size=SIZES["exp"], prediction=qt.ExactPrediction())
    ext = P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.5)
    assert q.mean_cost(ext) - q.mean_response_time(ext) == pytest.approx(
        0.1 + 0.5 * np.exp(-1.0), rel=1e-10)
    srv = P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.5, cost_model="server")
    assert q.mean_cost(srv) == q.mean_response_time(srv)
    assert q.mean_cost("SRPT") == q.mean_response_time("SRPT")
    d = P.DelayPredict(limit=2.0, expensive_cost=0.5)
    assert d.external_cost(float(SIZES["exp"].sf(2.0))) == pytest.approx(0.5 * np.exp(-2.0))


def test_skippredict_ranks():
    r = P.SkipPredict(threshold=1.0).rank()
    assert r.evaluate(0.5, 3.0) == -INF and r.evaluate(2.0, 0.5) == pytest.approx(1.5)
    rs = P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.2,
                       cost_model="server").rank()
    assert rs.has_overhead and not r.has_overhead
    assert rs.evaluate(2.0, 0.05) == -INF and rs.evaluate(2.0, 0.2) == 0.0
    assert rs.evaluate(2.0, 0.5) == pytest.approx(2.0 - 0.2)  # y minus own work 0.2


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: P.SkipPredict(threshold=-1.0), "threshold"),
        (lambda: P.SkipPredict(cheap_cost=-0.1), "cheap_cost"),
        (lambda: P.SkipPredict(expensive_cost=float("nan")), "expensive_cost"),
        (lambda: P.SkipPredict(cost_model="free"), "cost_model"),
        (lambda: P.DelayPredict(limit=-2.0), "limit"),
        (lambda: P.DelayPredict(cost_model="x"), "cost_model"),
        (lambda: P.RankPolicy(3.0), "function"),
    ],
)
def test_bad_input(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_skippredict_external_matches_simulation():
    q = qt.MG1(load=0.7, size=SIZES["exp"], prediction=qt.ExponentialPrediction())
    pol = P.SkipPredict(threshold=0.5)
    r = q.simulate(pol, jobs=100_000, replications=4, seed=11)
    assert abs(r.z_score(q.mean_response_time(pol))) < 4


# ---------------------------------------------------------------- DelayPredict
@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
def test_delaypredict_limits(pred):
    q = qt.MG1(load=0.7, size=SIZES["weibull"], prediction=pred)
    assert q.mean_response_time(P.DelayPredict(limit=0.0)) == pytest.approx(
        q.mean_response_time("SPRPT"), rel=1e-8)
    assert q.mean_response_time(P.DelayPredict(limit=INF)) == pytest.approx(
        q.mean_response_time("FCFS"), rel=1e-10)


@pytest.mark.parametrize("model, c2", [("external", 0.0), ("server", 0.1)])
def test_delaypredict_matches_simulation(model, c2):
    q = qt.MG1(load=0.7, size=SIZES["exp"], prediction=qt.ExponentialPrediction())
    pol = P.DelayPredict(limit=1.0, expensive_cost=c2, cost_model=model)
    r = q.simulate(pol, jobs=100_000, replications=4, seed=21)
    assert abs(r.z_score(q.mean_response_time(pol))) < 4
