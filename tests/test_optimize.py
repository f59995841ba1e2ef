"""Optimal advice parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qtheory as qt

P = qt.policies


@pytest.mark.parametrize("lam", [0.3, 0.6, 0.9])
def test_one_bit_optimum_solves_known_condition(lam):
    """Exponential sizes, perfect bit, preemptive: lambda = (T - 1)/(e^-T + T - 1)
    (Mitzenmacher, ACDA 2021)."""
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=1.0))
    T = qt.optimal_one_bit(q, preemptive=True).argument
    assert lam == pytest.approx((T - 1) / (np.exp(-T) + T - 1), abs=1e-6)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(load=st.floats(0.1, 0.95), shape=st.floats(0.4, 3.0), preemptive=st.booleans(),
       noise=st.sampled_from(["exact", "exponential", "uniform"]))
def test_one_bit_optimum_beats_every_grid_threshold(load, shape, preemptive, noise):
    pred = {"exact": qt.ExactPrediction(), "exponential": qt.ExponentialPrediction(),
            "uniform": qt.UniformPrediction(alpha=0.5)}[noise]
    q = qt.MG1(load=load, size=qt.Weibull(shape=shape, scale=1.0), prediction=pred)
    best = qt.optimal_one_bit(q, preemptive=preemptive)
    for t in np.geomspace(0.01, 20.0, 25):
        v = q.mean_response_time(P.OneBit(threshold=t, preemptive=preemptive))
        assert best.mean_response_time <= v * (1 + 1e-12)
    assert best.mean_response_time == pytest.approx(
        q.mean_response_time(P.OneBit(threshold=best.argument, preemptive=preemptive)))


def test_buckets_and_trail_optimisers():
    q = qt.MG1(load=0.8, size=qt.Weibull(shape=0.5, scale=0.5))
    one = qt.optimal_one_bit(q, preemptive=True, within="fifo")
    two = qt.optimal_buckets(q, 2, preemptive=True)
    three = qt.optimal_buckets(q, 3, preemptive=True)
    assert two.mean_response_time == pytest.approx(one.mean_response_time, rel=1e-6)
    assert three.mean_response_time < two.mean_response_time
    assert len(three.argument) == 2 and three.argument[0] < three.argument[1]
    assert qt.optimal_buckets(q, 1).mean_response_time == pytest.approx(
        q.mean_response_time("FCFS"))
    with pytest.raises(ValueError, match="k must"):
        qt.optimal_buckets(q, 0)
    qe = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0))
    best = qt.optimal_trail(qe, grid=6)
    # with exact predictions SRPT (c = 1) is optimal among TRAIL policies
    assert best.argument == pytest.approx(1.0, abs=1e-3)
    assert best.mean_response_time == pytest.approx(qe.mean_response_time("SRPT"), rel=1e-7)
