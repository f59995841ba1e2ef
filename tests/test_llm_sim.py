"""Tests of the token-level LLM serving simulator (qtheory.llm.simulate)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

import qtheory as qt
from qtheory import llm
from qtheory.llm.sim.driver import _run_one, prepare_replication

sys.path.insert(0, str(Path(__file__).parent))
from llm_reference import reference  # noqa: E402


def _small_workload(rate=0.15, pred=None):
    return llm.Workload(
        rate, llm.TokenLaw.from_distribution(qt.Exponential(mean=30.0), maximum=200),
        llm.TokenLaw.from_distribution(qt.Exponential(mean=40.0), maximum=300),
        prediction=pred or qt.ExponentialPrediction())


def _server(**kw):
    base = dict(max_batch=8, kv_capacity_tokens=560, block_size=16,
                iteration_time=llm.LinearTime(1.0, 0.01), token_budget=400)
    base.update(kw)
    return llm.Server(**base)


# ------------------------------------------------------------------ job for job
CASES = [
    (llm.FCFS(), {}),
    (llm.SJF(), {}),
    (llm.SPJF(), {}),
    (llm.SPRPT(), {}),
    (llm.SPRPT(refine_every=8), {}),
    (llm.TRAIL(c=0.5, refine_every=5), {}),
    (llm.FCFS(victim="lowest-priority"), {}),
    (llm.SPJF(victim="lowest-priority"), {"preemption": "swap", "swap_bandwidth": 100.0}),
    (llm.SPRPT(refine_every=8), {"preemption": "swap", "swap_bandwidth": 100.0}),
    (llm.FCFS(), {"preemption": "restart"}),
    (llm.TRAIL(c=0.5), {"preemption": "restart"}),
    (llm.FCFS(), {"block_size": 4, "iteration_time": llm.StaircaseTime(1.0, 0.5, 64),
                  "token_budget": 64, "chunked_prefill": True,
                  "prefill_emits_token": False}),
    (llm.SPRPT(refine_every=8), {"block_size": 1, "chunked_prefill": True,
                                 "token_budget": 64, "prefill_emits_token": False}),
    (llm.SJF(), {"iteration_time": llm.UnitTime(), "kv_compression":
                 llm.KVCompression(2.0, 0.001)}),
    (llm.MCSF(), {}),
    (llm.MCSF(victim="lowest-priority"), {"block_size": 1, "prefill_emits_token": False}),
    (llm.MCSF(), {"block_size": 4, "chunked_prefill": True, "token_budget": 64,
                  "preemption": "swap", "swap_bandwidth": 100.0}),
    (llm.MCSF(), {"block_size": 3, "preemption": "restart"}),
    (llm.WAIT(thresholds=(3,)), {}),
    (llm.WAIT(thresholds=(4, 2), bounds=(30,)), {"preemption": "restart"}),
    (llm.WAIT(thresholds=(2, 2, 1), bounds=(20, 60)), {"block_size": 4,
                                                        "chunked_prefill": True,
                                                        "token_budget": 64}),
    (llm.WAIT(thresholds=(2, 3), bounds=(25,), nested=True), {}),
    (llm.WAIT(thresholds=(1, 2, 2), bounds=(10, 40), nested=True), {"block_size": 1}),
    (llm.WAIT(thresholds=(3, 1), bounds=(15,), nested=True),
     {"preemption": "restart", "prefill_emits_token": False}),
    (llm.ALISE(), {"preemption": "swap", "swap_bandwidth": 100.0}),
    (llm.ALISE(keep_threshold=1e9), {}),
    (llm.ALISE(keep_threshold=0.0, refine_every=8), {"block_size": 1}),
    (llm.SPRPT(), {"preemption": "keep"}),
    (llm.MLFQ(), {}),
    (llm.MLFQ(quantum=2, levels=3), {"preemption": "restart"}),
    (llm.MLFQ(quantum=4, levels=4), {"preemption": "keep", "chunked_prefill": True,
                                      "token_budget": 64}),
]


@pytest.mark.parametrize("sched,kw", CASES, ids=[f"{c[0].name}-{i}" for i, c in
                                                  enumerate(CASES)])
def test_job_for_job_against_reference(sched, kw):
    _check_against_reference(sched, _server(**kw))


def _check_against_reference(sched, s, npre=True):
    """The kernel and the pure-Python reference on 150 requests: the same first-token
    and completion times, the same peak blocks (and preemption counts)."""
    prep = prepare_replication(_small_workload(), s, sched, 150, 3, 0)
    st = _run_one(prep, 0)
    first, done, maxblk = reference(prep, s)
    np.testing.assert_allclose(st.done, done, rtol=1e-9)
    np.testing.assert_allclose(st.first, first, rtol=1e-9)
    assert int(st.stats[3]) == maxblk <= s.kv_blocks
    if npre:
        np.testing.assert_array_equal(st.ri[5], reference.npre)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_memory_pressure_is_exercised():
    w = _small_workload()
    r = llm.simulate(w, _server(), "fcfs", requests=400, replications=1, seed=3, warmup=0)
    assert r.evictions > 0 and r.kv_max_blocks <= 35


# ------------------------------------------------------------------ invariants
@pytest.mark.parametrize("sched", ["fcfs", "sjf", "spjf", llm.SPRPT(refine_every=16),
                                   llm.TRAIL(c=0.5)])
def test_memory_never_exceeds_capacity(sched):
    w = llm.preset("sharegpt", arrival_rate=0.03)
    s = llm.Server(max_batch=64, kv_capacity_tokens=12000, block_size=16,
                   iteration_time=llm.LinearTime(1.0, 1e-4))
    r = llm.simulate(w, s, sched, requests=3000, replications=2, seed=5)
    assert r.kv_max_blocks <= s.kv_blocks
    assert r.kv_max_tokens <= s.kv_capacity_tokens


def test_littles_law():
    w = _small_workload(rate=0.1)
    s = _server(kv_capacity_tokens=4096, iteration_time=llm.LinearTime(1.0, 1e-4))
    r = llm.simulate(w, s, "fcfs", requests=20000, replications=2, seed=2)
    assert r.stable
    lam = r.throughput.mean
    assert abs(r.mean_number - lam * r.latency.mean) < 0.05 * r.mean_number


# ------------------------------------------------------------------ reduction to M/G/1
def _mg1_case(law):
    # batch 1, no memory limit, unit time, o iterations per request (prefill emits)
    rate = 0.7 / law.mean
    w = llm.Workload(rate, 1, law)
    s = llm.Server(max_batch=1, iteration_time=llm.UnitTime())
    return w, s, rate


@pytest.mark.parametrize("sched,policy", [("fcfs", "FCFS"), ("sjf", "SJF")])
def test_reduction_to_mg1(sched, policy):
    law = llm.TokenLaw([1, 2, 5, 12], [0.4, 0.3, 0.2, 0.1])
    w, s, rate = _mg1_case(law)
    q = qt.MG1(arrival_rate=rate, size=qt.Discrete(law.values.astype(float), law.probs))
    target = q.mean_response_time(policy)
    r = llm.simulate(w, s, sched, requests=60000, replications=4, seed=11)
    # arrivals are only seen at iteration boundaries (integer times): an idle server
    # starts at the arrival itself, so the M/G/1 response time is exact here
    assert abs(r.latency.z_score(target)) < 4, (r.latency.mean, target)


# ------------------------------------------------------------------ preemption modes
def test_preemption_modes_order():
    # SPRPT preempts by priority (no memory limit); a staircase iteration time makes a
    # prefill of prompt + generated tokens cost more than a decode step. Documented
    # direction: restart (regenerates all lost tokens) > recompute (one long prefill)
    # > keep (no cost); swap at a slow link > keep. Common random numbers (same seed):
    # paired differences of the replication means.
    w = llm.Workload(0.008, 50, llm.TokenLaw.from_distribution(
        qt.Exponential(mean=100.0), maximum=800), prediction=qt.ExponentialPrediction())
    res = {}
    for mode, bw in (("restart", None), ("recompute", None), ("swap", 20.0),
                     ("keep", None)):
        s = llm.Server(max_batch=4, block_size=16, preemption=mode, swap_bandwidth=bw,
                       iteration_time=llm.StaircaseTime(1.0, 1.0, 32))
        res[mode] = llm.simulate(w, s, llm.SPRPT(), requests=4000, replications=4, seed=4)

    def lower(a, b):  # paired 95% lower bound of mean(a - b) over replications
        d = res[a].latency.means - res[b].latency.means
        return d.mean() - 3.18 * d.std(ddof=1) / np.sqrt(d.size)

    assert lower("restart", "recompute") > 0
    assert lower("recompute", "keep") > 0
    assert lower("swap", "keep") > 0
    assert res["restart"].recomputed_tokens > 0 and res["swap"].swapped_tokens > 0
    assert res["keep"].recomputed_tokens == 0


# ------------------------------------------------------------------ reproducibility
def test_reproducible_and_replications_differ():
    w = _small_workload(rate=0.02)
    s = _server()
    a = llm.simulate(w, s, "spjf", requests=500, replications=2, seed=9, records=True)
    b = llm.simulate(w, s, "spjf", requests=500, replications=2, seed=9, records=True,
                     workers=1)
    np.testing.assert_array_equal(a.records["completion"], b.records["completion"])
    assert a.latency.mean == b.latency.mean
    assert not np.array_equal(a.records["completion"][0], a.records["completion"][1])


def test_step_mode_equals_event_jumping():
    w = llm.preset("sharegpt", arrival_rate=0.02, prediction=qt.ExponentialPrediction())
    s = llm.Server(max_batch=32, kv_capacity_tokens=10000, block_size=16,
                   iteration_time=llm.LinearTime(1.0, 1e-4))
    for sched in ("fcfs", llm.SPRPT(refine_every=32), llm.MCSF(), llm.MLFQ(),
                  llm.WAIT(thresholds=(4, 2), bounds=(200,)),
                  llm.WAIT(thresholds=(3, 2, 1), bounds=(64, 256), nested=True)):
        a = llm.simulate(w, s, sched, requests=800, replications=1, seed=1, records=True)
        b = llm.simulate(w, s, sched, requests=800, replications=1, seed=1, records=True,
                         step=True)
        np.testing.assert_allclose(a.records["completion"], b.records["completion"],
                                   rtol=1e-9)


# ------------------------------------------------------------------ other schedulers
def test_mcsf_never_evicts_with_exact_predictions():
    # MC-SF admits only what fits at every predicted completion: with exact
    # predictions no admitted request is ever evicted, and memory stays within capacity
    w = _small_workload(rate=0.05, pred=qt.ExactPrediction())
    for bs in (1, 16):
        s = _server(block_size=bs, iteration_time=llm.UnitTime())
        r = llm.simulate(w, s, llm.MCSF(), requests=1500, replications=2, seed=3)
        assert r.evictions == 0 and r.preemptions == 0
        assert r.kv_max_blocks <= s.kv_blocks
        f = llm.simulate(w, s, "fcfs", requests=1500, replications=2, seed=3)
        assert f.evictions > 0      # the same load makes FCFS evict


@pytest.mark.parametrize("sched", [llm.MLFQ(quantum=4, levels=4), llm.ALISE(keep_threshold=20),
                                   llm.WAIT(thresholds=(3,)),
                                   llm.WAIT(thresholds=(2, 1), bounds=(40,))])
def test_other_schedulers_run_within_memory(sched):
    w = _small_workload(rate=0.012)
    s = _server(preemption="swap", swap_bandwidth=200.0)
    r = llm.simulate(w, s, sched, requests=1500, replications=2, seed=8, records=True)
    assert r.kv_max_blocks <= s.kv_blocks
    assert np.all(np.isfinite(r.records["completion"]))
    assert np.all(r.records["completion"] >= r.records["first_token"])


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    w = _small_workload()
    with pytest.raises(ValueError, match="kv_capacity_tokens"):
        llm.simulate(w, _server(kv_capacity_tokens=100), "fcfs", requests=10)
    with pytest.raises(ValueError, match="requests"):
        llm.simulate(w, _server(), "fcfs", requests=0)
    with pytest.raises(ValueError, match="warmup"):
        llm.simulate(w, _server(), "fcfs", requests=10, warmup=10)
    with pytest.raises(ValueError, match="seed"):
        llm.simulate(w, _server(), "fcfs", requests=10, seed=None)
    with pytest.raises(ValueError, match="scheduler"):
        llm.simulate(w, _server(), "nope", requests=10)
    with pytest.raises(NotImplementedError, match="gpu"):
        llm.simulate(w, _server(), "fcfs", requests=10, backend="gpu")
    with pytest.raises(ValueError, match="token_budget"):
        llm.Server(token_budget=0)
    with pytest.raises(ValueError, match="refine_every"):
        llm.SPRPT(refine_every=0)
    with pytest.raises(ValueError, match="c must"):
        llm.TRAIL(c=-1.0)
    with pytest.raises(ValueError, match="victim"):
        llm.FCFS(victim="oldest")
    with pytest.raises(ValueError, match="values must be >= 0"):
        llm.TokenLaw([-1, 2], [0.5, 0.5])
    t = llm.load_trace(__import__("io").StringIO(
        "timestamp,prompt_tokens,output_tokens\n0,5,5\n1,6,3\n2,4,4\n"))
    with pytest.raises(ValueError, match="trace"):
        llm.simulate(t, llm.Server(max_batch=4), "fcfs", requests=5)
    r = llm.simulate(t, llm.Server(max_batch=4), "fcfs", requests=3, replications=1,
                     warmup=0, records=True)
    np.testing.assert_array_equal(r.records["output"][0], [5, 3, 4])


def test_mlfq_with_restart_keeps_levels_and_terminates():
    """Under ``restart`` a request preempted by priority loses its tokens but keeps its
    MLFQ level; re-entering at the top would let restarted requests preempt each other
    forever (this configuration looped without end before the fix)."""
    w = _small_workload()
    s = _server(preemption="restart")
    with pytest.warns(RuntimeWarning, match="unstable"):  # a small, overloaded server
        r = llm.simulate(w, s, llm.MLFQ(quantum=2, levels=3), requests=120,
                         replications=3, seed=3, records=True)
    assert r.priority_preemptions > 0 and np.all(np.isfinite(r.records["completion"]))
    with pytest.warns(RuntimeWarning, match="unstable"):
        step = llm.simulate(w, s, llm.MLFQ(quantum=2, levels=3), requests=120,
                            replications=3, seed=3, records=True, step=True)
    np.testing.assert_allclose(step.records["completion"], r.records["completion"],
                               rtol=1e-12)  # jumps sum the iteration times in closed form


# ------------------------------------------------------- user-callable iteration times
@njit
def _sqrt_time(bt, kv, bs):
    # concave in the KV tokens, linear in batch tokens and size; invalid above 5000
    # batch tokens (to test the error path with the same compiled kernel)
    if bt > 5000.0:
        return -1.0
    return 0.5 + 0.02 * math.sqrt(kv) + 0.001 * bt + 0.01 * bs


@pytest.mark.parametrize("sched,kw", [(llm.SPRPT(refine_every=8), {}),
                                      (llm.MCSF(), {"preemption": "restart"})])
def test_callable_iteration_time_job_for_job_against_reference(sched, kw):
    """The kernel compiled with the user's callable (one iteration per loop pass)
    against the pure-Python reference, which calls ``server.time_of``."""
    _check_against_reference(sched, _server(iteration_time=_sqrt_time, **kw), npre=False)


def test_callable_iteration_time_errors():
    s = llm.Server(max_batch=4, iteration_time=_sqrt_time)
    w = llm.Workload(0.01, 6000, 10)  # a 6000-token prefill: the callable returns -1
    with pytest.raises(ValueError, match="iteration_time.*batch_tokens=6000"):
        llm.simulate(w, s, "fcfs", requests=20, replications=1)
    with pytest.raises(NotImplementedError, match="callable iteration_time"):
        llm.simulate(w, s, "fcfs", requests=20, backend="gpu")

    def not_numba(bt, kv, bs):
        return {"a": 1.0}["a"] + object().__hash__()

    with pytest.raises(TypeError, match="iteration_time.*numba"):
        llm.simulate(w, llm.Server(max_batch=4, iteration_time=not_numba), "fcfs",
                     requests=20, replications=1)


def test_kv_trace_samples_the_kv_whose_window_average_is_kv_mean_tokens():
    """The trace is the KV held at each sample time (prefill included), so its average
    over the measured window equals ``kv_mean_tokens`` (the exact time integral over
    that window) up to the sampling of a step function (measured: 8e-7 relative with
    20,000 samples); event jumps and single steps give the same trace."""
    w = llm.Workload(0.2, 100, 200)
    s = llm.Server(max_batch=10**6, iteration_time=llm.LinearTime(1.0, 2e-5))
    kw = dict(requests=20_000, replications=1, seed=4, records=True, trace_points=20_000)
    r = llm.simulate(w, s, "fcfs", **kw)
    arr = r.records["arrival"][0]
    tr = r.kv_trace
    m = (tr["time"] >= arr[r.warmup]) & (tr["time"] <= arr[-1])
    assert abs(tr["kv_tokens"][m].mean() / r.kv_mean_tokens - 1) < 1e-4
    step = llm.simulate(w, s, "fcfs", step=True, **kw).kv_trace
    for k in tr:
        np.testing.assert_array_equal(step[k], tr[k], err_msg=k)
    # before the first arrival and in idle gaps nothing is held
    assert tr["kv_tokens"][tr["time"] < arr[0]].sum() == 0
