"""Cross-validation of the Monte Carlo engine against the analytic engine.

For every policy with a formula, the simulated mean's confidence interval must cover
``q.mean_response_time(policy)``: ``|z| < 4``. A quick grid runs in the default suite;
the full grid (exponential, Weibull and bounded-Pareto sizes at loads up to 0.95) is
marked ``slow``. Every run is seeded.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import qtheory as qt
from qtheory.sim import simulate

P = qt.policies

POLICIES = [
    P.FCFS(), P.PS(), P.FB(), P.SJF(), P.PSJF(), P.SRPT(), P.SPJF(), P.PSPJF(), P.SPRPT(),
    P.Priority(probs=(0.3, 0.7), preemptive=True), P.Priority(probs=(0.3, 0.7), preemptive=False),
    P.TRAIL(c=0.5), P.OneBit(threshold=1.0, preemptive=True),
    P.OneBit(threshold=1.0, preemptive=False), P.OneBit(threshold=1.0, preemptive=True,
                                                         within="fifo"),
    P.Buckets(thresholds=(0.5, 2.0), preemptive=True),
    P.Buckets(thresholds=(0.5, 2.0), preemptive=False),
]

LAWS = {
    "exponential": qt.Exponential(mean=1.0),
    "weibull": qt.Weibull(shape=0.5, scale=0.5),  # mean 1, squared coefficient of variation 5
    "bounded-pareto": qt.BoundedPareto(alpha=1.5, low=0.1, high=100.0),
}


def _ids(p):
    return p.name


@pytest.mark.parametrize("policy", POLICIES, ids=_ids)
def test_quick_cross_validation(policy):
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    r = simulate(q, policy, jobs=40_000, replications=4, seed=2024)
    exact = q.mean_response_time(policy)
    assert abs(r.z_score(exact)) < 4, (policy.name, r.mean, exact)


def test_cross_validation_detects_a_wrong_value():
    # the check has power: a 3% error in the analytic value is caught
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    r = simulate(q, "SPRPT", jobs=200_000, replications=8, seed=7)
    assert abs(r.z_score(1.03 * q.mean_response_time("SPRPT"))) > 4


@pytest.mark.slow
@pytest.mark.parametrize("load", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("law", list(LAWS))
@pytest.mark.parametrize("policy", POLICIES, ids=_ids)
def test_full_cross_validation(policy, law, load):
    size = LAWS[law]
    q = qt.MG1(load=load, size=size, prediction=qt.ExponentialPrediction())
    exact = q.mean_response_time(policy)
    jobs = 400_000 if load < 0.9 else 2_000_000
    r = simulate(q, policy, jobs=jobs, replications=8, seed=zlib.crc32(f"{law}:{load}".encode()))
    assert r.converged
    assert abs(r.z_score(exact)) < 4, (policy.name, law, load, r.mean, exact, r.z_score(exact))


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("law", ["exponential", "weibull"])
def test_mgk_littles_law_and_ordering(k, law):
    q = qt.MG1(load=0.9, size=LAWS[law], prediction=qt.ExponentialPrediction())
    res = {p: simulate(q, p, jobs=300_000, replications=6, seed=11, servers=k)
           for p in ("FCFS", "SRPT", "SPRPT", "SPJF", "PSPJF")}
    for r in res.values():
        assert abs(r.mean_number / (q.arrival_rate * r.mean) - 1) < 0.02
    assert res["SRPT"].mean < res["SPRPT"].mean < res["FCFS"].mean
    # SRPT-k is within a bounded factor of M/G/1 SRPT (Grosof, Scully, Harchol-Balter 2018)
    assert res["SRPT"].mean > q.mean_response_time("SRPT")
    assert np.isfinite(res["PSPJF"].mean)
