"""WAIT's fluid-guided thresholds (:func:`qtheory.llm.wait_thresholds`) and the claim of
Ao et al. (arXiv:2504.11320) that WAIT keeps the throughput that FCFS with newest-first
eviction loses when the memory is close to the fluid equilibrium ``M*``.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np
import pytest

from qtheory import llm

# the documented scenario (docs/llm_simulation.md, "WAIT against FCFS")
LAM, PROMPT, OUTPUT = 10.0, 50, 100
TIME = llm.LinearTime(1.0, 5e-6)


def _server(cap=None, **kw):
    return llm.Server(max_batch=10**6, iteration_time=TIME, kv_capacity_tokens=cap, **kw)


def test_one_type_by_hand():
    w = llm.Workload(LAM, PROMPT, OUTPUT)
    d = llm.wait_thresholds(w, _server())
    a = OUTPUT * PROMPT + OUTPUT * (OUTPUT + 1) / 2  # prefill emits the first token
    n = d.thresholds[0]
    tau = 1.0 + 5e-6 * n * a
    assert d.areas == (a,)
    assert n > LAM * tau and n - 1 <= LAM * (1.0 + 5e-6 * (n - 1) * a)
    assert d.kv_tokens == n * a and d.iteration_time == pytest.approx(tau, rel=1e-15)
    assert d.fluid_kv_tokens == pytest.approx(llm.fluid_equilibrium(w, _server()).kv_tokens)
    assert d.fits_memory is None and d.fits_batch
    assert d.requests_in_batch == n * OUTPUT


@pytest.mark.parametrize("lam, probs, d1, kappa, pet", [
    (2.0, (0.3, 0.7), 1e-5, 0.0, True),
    (5.0, (0.5, 0.5), 3e-6, 0.0, False),
    (1.5, (0.9, 0.1), 2e-5, 1e-4, True),
    (8.0, (0.2, 0.8), 1e-6, 0.0, True),
])
def test_least_solution_by_brute_force(lam, probs, d1, kappa, pet):
    """The returned thresholds satisfy n_j > lambda_j tau_n and are below every other
    solution on a grid (componentwise): the least solution."""
    out = llm.TokenLaw([30, 120], probs)
    w = llm.Workload(lam, 40, out)
    comp = llm.KVCompression(factor=1.0, time_per_token=kappa) if kappa else None
    s = llm.Server(max_batch=10**6, iteration_time=llm.LinearTime(1.0, d1),
                   prefill_emits_token=pet, kv_compression=comp)
    d = llm.wait_thresholds(w, s, bounds=(60,))
    A = [(o * 40 + o * (o + 1) / 2) if pet else (o + 1) * (40 + o / 2) for o in (30, 120)]
    P = [40 + o - (1 if pet else 0) for o in (30, 120)]
    lj = [lam * p for p in probs]
    assert d.areas == pytest.approx(A, rel=1e-12)

    def ok(n):
        tau = 1.0 + d1 * sum(a * k for a, k in zip(A, n)) + kappa * sum(
            p * k for p, k in zip(P, n))
        return all(k > x * tau for k, x in zip(n, lj))

    assert ok(d.thresholds)
    top = 3 * max(d.thresholds) + 5
    sols = [n for n in itertools.product(range(1, top), repeat=2) if ok(n)]
    assert all(all(a <= b for a, b in zip(d.thresholds, n)) for n in sols)


def test_bad_input():
    w = llm.Workload(LAM, PROMPT, OUTPUT)
    with pytest.raises(ValueError, match="unstable"):
        llm.wait_thresholds(w.with_rate(30.0), _server())
    with pytest.raises(ValueError, match="probability 0"):
        llm.wait_thresholds(w, _server(), bounds=(200,))
    with pytest.raises(ValueError, match="bounds"):
        llm.wait_thresholds(w, _server(), bounds=(20, 10))
    with pytest.raises(ValueError, match="StaircaseTime"):
        llm.wait_thresholds(w, llm.Server(max_batch=8,
                                          iteration_time=llm.StaircaseTime(1.0, 0.5, 64)))


def test_two_deterministic_types_never_exceed_the_pipeline_memory():
    """With every request of a type identical, at most n_j of them per iteration stage
    bound the memory by sum_j n_j A_j: a capacity of exactly that is never overflowed."""
    w = llm.Workload(4.0, 40, llm.TokenLaw([30, 120], [0.6, 0.4]))
    d = llm.wait_thresholds(w, _server(), bounds=(60,))
    cap = int(d.kv_tokens)
    s = _server(cap, preemption="restart")
    r = llm.simulate(w, s, d.scheduler(), requests=30_000, replications=2, seed=5)
    assert r.evictions == 0 and r.kv_max_tokens <= d.kv_tokens
    assert r.stable and abs(r.throughput.mean - 4.0) < 0.02 * 4.0


def test_wait_keeps_the_throughput_fcfs_newest_first_loses():
    """Capacity = the WAIT pipeline's memory, 1.045 M*, restart eviction.

    Measured (8 replications of 200k requests, seed 3): FCFS 7.0-9.94 requests per unit
    time, 1.7M evictions; WAIT(21) 9.94-10.02, no eviction. Here 8 x 100k: WAIT never
    evicts (a deterministic bound, see above) and its throughput is within 1 % of
    lambda in every replication (standard error about 0.3 %); FCFS, once a burst has
    filled the memory, evicts its newest requests, which restart, and settles into a
    thrashing state near 7 per unit time; we ask for a mean 5 % below lambda.
    """
    w = llm.Workload(LAM, PROMPT, OUTPUT)
    d = llm.wait_thresholds(w, _server())
    s = _server(int(d.kv_tokens), preemption="restart")
    assert d.thresholds == (21,) and 1.04 < d.kv_tokens / d.fluid_kv_tokens < 1.05
    rw = llm.simulate(w, s, d.scheduler(), requests=100_000, replications=8, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # FCFS's run is flagged unstable
        rf = llm.simulate(w, s, llm.FCFS(victim="newest"), requests=100_000,
                          replications=8, seed=3)
    assert rw.evictions == 0 and rw.stable
    assert np.all(np.abs(rw.throughput.means - LAM) < 0.01 * LAM)
    assert rf.evictions > 10_000
    assert rf.throughput.mean < 0.95 * LAM and not rf.stable
    assert math.isfinite(rf.latency.mean) and rf.latency.mean > 1.5 * rw.latency.mean


def test_trace_pairs_equal_the_product_law_when_the_prompt_is_fixed():
    out = np.array([30] * 3 + [120] * 7)
    pairs = (np.full(out.size, 40), out)
    wp = llm.Workload(2.0, llm.TokenLaw.from_samples(pairs[0]),
                      llm.TokenLaw.from_samples(out), pairs=pairs)
    wl = llm.Workload(2.0, 40, llm.TokenLaw([30, 120], [0.3, 0.7]))
    a = llm.wait_thresholds(wp, _server(), bounds=(60,))
    b = llm.wait_thresholds(wl, _server(), bounds=(60,))
    assert a.thresholds == b.thresholds
    assert a.areas == pytest.approx(b.areas, rel=1e-12)
    assert a.arrival_rates == pytest.approx(b.arrival_rates, rel=1e-12)


def test_simulate_warns_when_wait_thresholds_cannot_keep_up():
    w = llm.Workload(LAM, PROMPT, OUTPUT)
    s = _server()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        llm.simulate(w, s, "wait", requests=500, replications=1, seed=1)
    msgs = [str(x.message) for x in rec if issubclass(x.category, RuntimeWarning)]
    assert any(re.search(r"cohorts of 1 type-0 .* \(21,\)", m) for m in msgs), msgs
    # and, as a consequence, the run's backlog grows: the stability check says so too
    assert any("looks unstable" in m for m in msgs), msgs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # thresholds that keep up: no such warning (a short run is still filling, so
        # the stability flag is not asked here)
        try:
            llm.simulate(w, s, llm.WAIT(thresholds=(21,)), requests=500, replications=1,
                         seed=1)
        except RuntimeWarning as e:
            assert "cohorts" not in str(e)
