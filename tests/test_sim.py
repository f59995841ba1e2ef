"""Monte Carlo engine: API, reproducibility, bad input, and job-for-job checks of the kernels
against independent pure-Python reference simulators (fast; default suite)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numba import njit
from scipy import special, stats

import qtheory as qt
from qtheory.policies import (
    FB,
    PS,
    SJF,
    SPJF,
    SPRPT,
    SRPT,
    TRAIL,
    Buckets,
    OneBit,
    Priority,
    RankPolicy,
)
from qtheory.rank import RankFunction, Segment
from qtheory.sim import SimulationResult, SimulationWarning, simulate
from qtheory.sim.driver import _kernel, _Replication, prepare
from qtheory.sim.kernels.hist import bin_log, bin_table, tables
from qtheory.sim.rng import log_unit, ndtri, uniforms
from qtheory.sim.sampling import draw_noise, draw_size, encode_prediction, encode_size

P = qt.policies
EXP_Q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())


# ----------------------------------------------------------------------------- API
def test_result_fields_and_helpers():
    r = simulate(EXP_Q, "SPRPT", jobs=20_000, replications=4, seed=11)
    assert isinstance(r, SimulationResult)
    assert r.policy == "SPRPT" and r.jobs == 20_000 and r.warmup == 2_000
    assert r.replications == 4 and r.replication_means.shape == (4,)
    assert r.ci[0] < r.mean < r.ci[1] and r.level == 0.95 and r.std_error > 0
    assert r.ci_method == "replications" and r.converged and r.stable
    assert r.backend == "cpu" and r.seed == 11 and r.servers == 1
    assert r.p50 < r.p90 < r.p99 < r.p999
    assert r.z_score(r.mean) == 0.0 and r.covers(r.mean)
    assert abs(r.z_score(r.mean + 2 * r.std_error) + 2.0) < 1e-12
    assert "SPRPT" in r.summary() and "NOT CONVERGED" not in r.summary()
    with pytest.raises(ValueError, match="records"):
        _ = r.response_times


def test_mg1_method_delegates():
    r = EXP_Q.simulate("FCFS", jobs=5_000, replications=2, seed=1)
    s = simulate(EXP_Q, "FCFS", jobs=5_000, replications=2, seed=1)
    assert r == s and r.mean == s.mean


def test_single_replication_uses_batch_means():
    r = simulate(EXP_Q, "FCFS", jobs=50_000, replications=1, seed=2, batches=20)
    assert r.ci_method == "batch means"
    assert math.isfinite(r.ci[0]) and r.ci[0] < r.mean < r.ci[1]
    assert abs(r.z_score(5.0)) < 4


def test_level_changes_interval_width():
    a = simulate(EXP_Q, "FCFS", jobs=5_000, replications=4, seed=3, level=0.5)
    b = simulate(EXP_Q, "FCFS", jobs=5_000, replications=4, seed=3, level=0.99)
    assert a.mean == b.mean
    assert (a.ci[1] - a.ci[0]) < (b.ci[1] - b.ci[0])


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_numbers_any_thread_count():
    a = simulate(EXP_Q, "SRPT", jobs=10_000, replications=3, seed=5, workers=1)
    b = simulate(EXP_Q, "SRPT", jobs=10_000, replications=3, seed=5, workers=3)
    c = simulate(EXP_Q, "SRPT", jobs=10_000, replications=3, seed=6)
    np.testing.assert_array_equal(a.replication_means, b.replication_means)
    assert a.percentiles == b.percentiles and a.mean_number == b.mean_number
    assert c.mean != a.mean


def test_generator_seed_is_reproducible():
    a = simulate(EXP_Q, "FCFS", jobs=2_000, replications=2, seed=np.random.default_rng(9))
    b = simulate(EXP_Q, "FCFS", jobs=2_000, replications=2, seed=np.random.default_rng(9))
    assert a.mean == b.mean and a.seed == b.seed


def test_replications_are_prefix_stable():
    # replication r depends on (seed, r) only: 2 replications are the first 2 of 4
    a = simulate(EXP_Q, "PSPJF", jobs=5_000, replications=2, seed=8)
    b = simulate(EXP_Q, "PSPJF", jobs=5_000, replications=4, seed=8)
    np.testing.assert_array_equal(a.replication_means, b.replication_means[:2])


@pytest.mark.parametrize("pol, servers", [
    ("FB", 1), ("SPRPT", 1), ("PS", 1), ("SRPT", 3), (P.SRPTBounce(), 1),
    (P.SkipPredict(threshold=1.0, cheap_cost=0.02, expensive_cost=0.05, cost_model="server"), 1),
    (P.SkipPredict(threshold=1.0, cheap_cost=0.02, expensive_cost=0.05, cost_model="server"), 2),
], ids=str)
def test_pool_growth_and_resuming_do_not_change_results(pol, servers):
    q = qt.MG1(load=0.93, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    prep = prepare(q, pol, jobs=3_000, warmup=0, seed=4, servers=servers)
    small, big = _Replication(prep, 0, cap=2), _Replication(prep, 0, cap=4096)
    small.run(_kernel(prep.kernel_name))
    big.run(_kernel(prep.kernel_name))
    assert small.pf.shape[0] > 2 and small.si[10] == big.si[10]  # same number of events
    assert small.sf[7] == big.sf[7]  # same sum of response times
    # resuming after every few events (SLICE) gives the same run too
    import qtheory.sim.driver as drv

    sliced = _Replication(prep, 0)
    old = drv._SLICE_EVENTS
    drv._SLICE_EVENTS = 7
    try:
        sliced.run(_kernel(prep.kernel_name))
    finally:
        drv._SLICE_EVENTS = old
    assert sliced.si[10] == big.si[10] and sliced.sf[7] == big.sf[7]


def test_fallback_sampling_is_reproducible_and_correct():
    q = qt.MG1(load=0.7, size=qt.Gamma(2.0, mean=1.0), prediction=qt.UniformPrediction(0.5))
    a = simulate(q, "SPRPT", jobs=40_000, replications=4, seed=1)
    b = simulate(q, "SPRPT", jobs=40_000, replications=4, seed=1)
    assert a.mean == b.mean
    assert abs(a.z_score(q.mean_response_time("SPRPT"))) < 4


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, match", [
    ({"jobs": 0}, "jobs"),
    ({"jobs": -5}, "jobs"),
    ({"jobs": 2.5}, "jobs"),
    ({"replications": 0}, "replications"),
    ({"warmup": -1}, "warmup"),
    ({"backend": "tpu"}, "backend"),
    ({"level": 1.0}, "level"),
    ({"seed": None}, "seed"),
    ({"seed": -3}, "seed"),
    ({"servers": 0}, "servers"),
])
def test_bad_input_raises_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        simulate(EXP_Q, "FCFS", **{"jobs": 100, **kw})


def test_gpu_backend_fails_clearly_without_importing_cupy():
    import sys

    with pytest.raises(NotImplementedError, match="gpu"):
        simulate(EXP_Q, "FCFS", jobs=10, backend="gpu")
    assert "cupy" not in sys.modules


def test_unknown_policy_and_queue():
    with pytest.raises(ValueError, match="policy"):
        simulate(EXP_Q, "NOPE", jobs=10)
    with pytest.raises(TypeError, match="queue"):
        simulate(object(), "FCFS", jobs=10)


@pytest.mark.parametrize("pol", [FB(), PS()])
def test_multiserver_refuses_rising_ranks_and_ps(pol):
    with pytest.raises(NotImplementedError, match="servers"):
        simulate(EXP_Q, pol, jobs=10, servers=2)


def test_unstable_load_runs_but_is_not_converged():
    q = qt.MG1(load=1.2, size=qt.Exponential(mean=1.0))
    with pytest.warns(SimulationWarning, match="unstable"):
        r = simulate(q, "SRPT", jobs=5_000, replications=2, seed=1)
    assert not r.stable and not r.converged
    assert "NOT CONVERGED" in r.summary()


# ----------------------------------------------------------------------------- random numbers
def test_counter_based_uniforms():
    a = uniforms(1, 0, 0, 0, 200_000)
    assert a.min() > 0 and a.max() < 1
    assert stats.kstest(a, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(a[1:], a[:-1])[0, 1]) < 0.01
    b = uniforms(1, 0, 1, 0, 200_000)  # another stream
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    np.testing.assert_array_equal(a[1000:1010], uniforms(1, 0, 0, 1000, 10))


@njit
def _log_unit_all(u, out):
    for i in range(u.size):
        out[i] = log_unit(u[i])


def test_log_unit_within_one_ulp():
    """The vectorisable log of the samplers (no libm) against a 120-bit mpmath log; the
    whole stream range of uniforms, the binade edges and the fold point sqrt(2)/2."""
    import mpmath

    edges = [2.0**-63, 2.0**-54, 1.5 * 2.0**-53, 2.0**-32, 2.0**-16, 0.0625, 0.25, 0.5,
             np.nextafter(0.5, 0), math.sqrt(0.5), np.nextafter(math.sqrt(0.5), 1),
             np.nextafter(math.sqrt(0.5), 0), 1 - 2.0**-53, 1 - 2.0**-52, 0.999999, 1.0]
    u = np.concatenate([uniforms(11, 0, 0, 0, 4000), np.logspace(-18, -1e-12, 500),
                        np.array(edges)])
    got = np.empty_like(u)
    _log_unit_all(u, got)
    assert got[-1] == 0.0
    with mpmath.workprec(120):
        for v, g in zip(u[:-1].tolist(), got[:-1].tolist()):
            exact = mpmath.log(mpmath.mpf(v))
            ulp = math.ulp(float(exact))
            assert abs(mpmath.mpf(g) - exact) <= ulp, v
    # and the compiled samplers agree with libm to within 1 ulp on a long stream
    u = uniforms(12, 0, 1, 0, 1_000_000)
    got = np.empty_like(u)
    _log_unit_all(u, got)
    ref = np.log(u)
    assert np.all(np.abs(got - ref) <= np.spacing(np.abs(ref)))


def test_ndtri_matches_scipy():
    p = np.concatenate([np.logspace(-300, -1, 60), np.linspace(0.02, 0.98, 97),
                        1 - np.logspace(-15, -1, 30)])
    got = np.array([ndtri(v) for v in p])
    ref = special.ndtri(p)
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3)) < 1e-12


@pytest.mark.parametrize("dist", [
    qt.Exponential(mean=2.0), qt.Uniform(1.0, 3.0), qt.Weibull(0.5, 1.0), qt.Pareto(2.5, 1.0),
    qt.BoundedPareto(1.5, 0.1, 100.0), qt.Lognormal(1.0, mean=1.0),
    qt.HyperExponential([1.0, 10.0], [0.9, 0.1]),
])
def test_in_kernel_sampling_follows_the_law(dist):
    code, prm = encode_size(dist)
    u1 = uniforms(3, 0, 1, 0, 20_000)
    u2 = uniforms(3, 0, 2, 0, 20_000)
    x = np.array([draw_size(code, prm, a, b) for a, b in zip(u1, u2)])
    assert stats.kstest(x, dist.cdf).pvalue > 1e-4


@pytest.mark.parametrize("pred", [qt.UniformPrediction(0.5), qt.IntervalPrediction(0.25, 3.0),
                                  qt.ExponentialPrediction(), qt.LognormalPrediction(0.7)],
                         ids=lambda m: type(m).__name__)
def test_in_kernel_noise_follows_the_model(pred):
    code, prm = encode_prediction(pred)
    u = uniforms(5, 0, 3, 0, 20_000)
    z = np.array([draw_noise(code, prm, v) for v in u])
    assert stats.kstest(z, pred.noise_cdf).pvalue > 1e-4
    lo, hi = pred.noise_support
    assert z.min() >= lo and z.max() <= hi


def test_discrete_sampling_frequencies():
    d = qt.Discrete([1.0, 3.0, 7.0], [0.2, 0.5, 0.3])
    code, prm = encode_size(d)
    u = uniforms(4, 0, 1, 0, 20_000)
    x = np.array([draw_size(code, prm, a, 0.5) for a in u])
    freq = np.array([(x == v).mean() for v in (1.0, 3.0, 7.0)])
    assert np.all(np.abs(freq - [0.2, 0.5, 0.3]) < 0.015)


# ----------------------------------------------------------------------------- reference sims
def _reference_rank(rank: RankFunction, key, arr, size, value_t=0.0):
    """Completion times under a rank policy whose ranks never rise (pure Python, slow).

    Independent of the kernel: ranks come from ``RankFunction.evaluate`` (the analysis'
    evaluator), the job to serve is re-chosen by a full scan at every event. Overhead
    segments: a job's age counts all its service, its own work only the service outside
    overhead segments; it leaves when its own work reaches its size, never inside an
    overhead segment, and a job whose own work ends at a segment's start leaves there.
    """
    n = len(arr)
    age = np.zeros(n)
    own = np.zeros(n)
    done = np.full(n, np.nan)
    present: list[int] = []
    t, nxt, cur = 0.0, 0, -1

    def rank_of(j):
        r = float(rank.evaluate(key[j], age[j]))
        return r + value_t * arr[j] if np.isfinite(r) else r

    def segment(j):
        """(end, overhead) of the segment that holds job j's age."""
        for br in rank.branches:
            if br.low < key[j] <= br.high:
                for s in br.segments:
                    e = s.end[0] * key[j] + s.end[1]
                    if e > age[j] + 1e-12:
                        return e, s.overhead
        return math.inf, False

    while nxt < n or present:
        if cur >= 0:
            end, ovh = segment(cur)
            dt_done = math.inf if ovh else size[cur] - own[cur]
            dt_seg = end - age[cur]
        else:
            dt_done = dt_seg = math.inf
        dt_arr = arr[nxt] - t if nxt < n else math.inf
        dt = min(dt_done, dt_seg, dt_arr)
        if cur >= 0:
            age[cur] += dt
            if not ovh:
                own[cur] += dt
        t += dt
        if dt == dt_arr and nxt < n:
            present.append(nxt)
            j = nxt
            nxt += 1
            if cur < 0 or rank_of(j) < rank_of(cur):
                cur = j
            continue
        if dt == dt_done:
            done[cur] = t
            present.remove(cur)
        elif dt == dt_seg:
            age[cur] = end
        cur = min(present, key=lambda j: (rank_of(j), j)) if present else -1
    return done


def _reference_fb(arr, size):
    """FB by brute force: the jobs of least age share the server equally."""
    n = len(arr)
    age = np.zeros(n)
    done = np.full(n, np.nan)
    present: list[int] = []
    t, nxt = 0.0, 0
    while nxt < n or present:
        if present:
            amin = min(age[j] for j in present)
            grp = [j for j in present if age[j] <= amin + 1e-9]
            for j in grp:
                age[j] = amin
            others = [age[j] for j in present if age[j] > amin + 1e-9]
            g = len(grp)
            dt_done = min(size[j] - age[j] for j in grp) * g
            dt_catch = (min(others) - amin) * g if others else math.inf
        else:
            grp, g, dt_done, dt_catch = [], 1, math.inf, math.inf
        dt_arr = arr[nxt] - t if nxt < n else math.inf
        dt = min(dt_done, dt_catch, dt_arr)
        for j in grp:
            age[j] += dt / g
        t += dt
        for j in list(present):
            if size[j] - age[j] <= 1e-9:
                done[j] = t
                present.remove(j)
        if dt == dt_arr and nxt < n:
            present.append(nxt)
            nxt += 1
    return done


def _reference_ps(arr, size):
    n = len(arr)
    rem = np.array(size, float)
    done = np.full(n, np.nan)
    present: list[int] = []
    t, nxt = 0.0, 0
    while nxt < n or present:
        g = len(present)
        dt_done = min(rem[j] for j in present) * g if present else math.inf
        dt_arr = arr[nxt] - t if nxt < n else math.inf
        dt = min(dt_done, dt_arr)
        for j in present:
            rem[j] -= dt / g
        t += dt
        for j in list(present):
            if rem[j] <= 1e-9:
                done[j] = t
                present.remove(j)
        if dt == dt_arr and nxt < n:
            present.append(nxt)
            nxt += 1
    return done


def _records(q, pol, n, seed=7, servers=1):
    r = simulate(q, pol, jobs=n, replications=1, seed=seed, warmup=0, records=True,
                 servers=servers)
    rec = r.records
    return rec["arrival"][0], rec["size"][0], rec["prediction"][0], rec["completion"][0]


def _compare(arr, comp, ref):
    # completions before the last arrival cannot depend on later arrivals
    ok = ref < arr[-1]
    assert ok.sum() > 0.7 * len(arr)
    np.testing.assert_allclose(comp[ok], ref[ok], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pol", [
    P.FCFS(), SJF(), P.PSJF(), SRPT(), SPJF(), P.PSPJF(), SPRPT(), TRAIL(c=0.5),
    Buckets(thresholds=(0.5, 2.0), preemptive=True), OneBit(1.0, preemptive=False),
    OneBit(1.0, preemptive=True, within="fifo"),
])
def test_kernel_matches_reference_job_for_job(pol):
    arr, x, y, comp = _records(EXP_Q, pol, 400)
    rank = pol.rank()
    key = {"none": np.zeros_like(x), "size": x, "prediction": y}[rank.key]
    _compare(arr, comp, _reference_rank(rank, key, arr, x))


OVH_Q = qt.MG1(load=0.6, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
INF = math.inf


@pytest.mark.parametrize("pol", [
    P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.3, cost_model="server"),
    P.SkipPredict(threshold=1.0, cheap_cost=0.0, expensive_cost=0.3, cost_model="server"),
    P.SkipPredict(threshold=1.0, cheap_cost=0.2, expensive_cost=0.0, cost_model="server"),
    P.SkipPredict(threshold=INF, cheap_cost=0.2, cost_model="server"),
    P.SkipPredict(threshold=0.0, cheap_cost=0.1, expensive_cost=0.3, cost_model="server"),
    P.DelayPredict(limit=0.5, expensive_cost=0.3, cost_model="server"),
    P.DelayPredict(limit=0.0, expensive_cost=0.3, cost_model="server"),
    RankPolicy(RankFunction.single("prediction", [  # overhead in the middle, key-dependent ends
        Segment(value=(1.0, 0.0), slope=-1, end=(0.5, 0.0)),
        Segment(value=(0.0, 0.0), end=(0.5, 0.2), overhead=True),
        Segment(value=(0.5, 0.0), slope=-1, end=(2.0, 0.2)),
        Segment(value=(0.0, -INF), end=(2.0, 0.3), overhead=True),
        Segment(value=(0.0, -INF)),
    ]), label="mid-overhead"),
], ids=lambda p: p.name)
def test_overhead_kernel_matches_reference_job_for_job(pol):
    arr, x, y, comp = _records(OVH_Q, pol, 400)
    rank = pol.rank()
    assert rank.has_overhead
    key = {"none": np.zeros_like(x), "size": x, "prediction": y}[rank.key]
    _compare(arr, comp, _reference_rank(rank, key, arr, x))


def _reference_fcfs(arr, service, k=1):
    """FCFS with k servers and a central queue, job by job."""
    free_at = np.zeros(k)
    done = np.empty(len(arr))
    for j, (a, s) in enumerate(zip(arr, service)):
        i = int(np.argmin(free_at))
        free_at[i] = max(a, free_at[i]) + s
        done[j] = free_at[i]
    return done


@pytest.mark.parametrize("k", [1, 2, 3])
def test_skippredict_server_without_threshold_is_fcfs_on_cost_plus_size(k):
    # threshold = inf: every job is short; it needs c1 of server time, then its size
    c1 = 0.25
    pol = P.SkipPredict(threshold=INF, cheap_cost=c1, cost_model="server")
    arr, x, _, comp = _records(OVH_Q, pol, 600, servers=k)
    _compare(arr, comp, _reference_fcfs(arr, k * (c1 + x), k))


@pytest.mark.parametrize("k", [1, 2])
def test_own_work_ending_at_a_boundary_skips_the_overhead(k):
    # sizes exactly 1 = the limit: every job leaves at age 1 and never pays the prediction
    q = qt.MG1(load=0.7, size=qt.Deterministic(1.0), prediction=qt.ExponentialPrediction())
    pol = P.DelayPredict(limit=1.0, expensive_cost=5.0, cost_model="server")
    a = simulate(q, pol, jobs=5_000, replications=2, seed=3, servers=k)
    b = simulate(q, "FCFS", jobs=5_000, replications=2, seed=3, servers=k)
    np.testing.assert_array_equal(a.replication_means, b.replication_means)


def test_delaypredict_without_delay_equals_skippredict_without_bit():
    # limit 0: every job pays c2 at rank 0, then SPRPT on its own work; that is
    # SkipPredict with threshold 0 and no cheap bit, job for job
    a = simulate(OVH_Q, P.DelayPredict(limit=0.0, expensive_cost=0.2, cost_model="server"),
                 jobs=5_000, replications=2, seed=4, records=True)
    b = simulate(OVH_Q, P.SkipPredict(threshold=0.0, expensive_cost=0.2, cost_model="server"),
                 jobs=5_000, replications=2, seed=4, records=True)
    np.testing.assert_array_equal(a.records["completion"], b.records["completion"])


def test_overhead_costs_server_time():
    # c2 = 0 is SPRPT-like DelayPredict; paying c2 on the server makes every job slower
    base = simulate(OVH_Q, P.DelayPredict(limit=0.5), jobs=20_000, replications=2, seed=5,
                    records=True)
    paid = simulate(OVH_Q, P.DelayPredict(limit=0.5, expensive_cost=0.3, cost_model="server"),
                    jobs=20_000, replications=2, seed=5, records=True)
    assert paid.mean > base.mean
    rt = paid.response_times
    long = paid.records["size"] > 0.5
    assert np.all(rt[long] >= paid.records["size"][long] + 0.3 - 1e-9)
    assert np.all(rt[~long] >= paid.records["size"][~long] - 1e-9)


def test_skippredict_server_without_threshold_matches_pollaczek_khinchine():
    c1 = 0.3
    q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    pol = P.SkipPredict(threshold=INF, cheap_cost=c1, cost_model="server")
    lam, es, es2 = q.arrival_rate, c1 + 1.0, c1**2 + 2 * c1 + 2.0  # S = c1 + X, X ~ Exp(1)
    pk = es + lam * es2 / (2 * (1 - lam * es))
    r = simulate(q, pol, jobs=50_000, replications=8, seed=6)
    assert abs(r.z_score(pk)) < 4, (r.mean, pk)
    assert abs(q.mean_response_time(pol) / pk - 1) < 1e-9


@pytest.mark.parametrize("pol", [
    P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.3, cost_model="server"),
    P.DelayPredict(limit=0.5, expensive_cost=0.3, cost_model="server"),
], ids=lambda p: p.name)
def test_mgk_overhead_one_server_agrees_with_mg1_kernel(pol):
    prep = prepare(OVH_Q, pol, jobs=5_000, warmup=0, seed=2)
    assert prep.kernel_name == "mg1_rank_ovh"
    a = _Replication(prep, 0)
    a.run(_kernel("mg1_rank_ovh"))
    b = _Replication(prep, 0)
    b.run(_kernel("mgk_rank_ovh"))
    assert a.si[4] == b.si[4] == 5_000 and abs(a.sf[7] / b.sf[7] - 1) < 1e-12


def test_rising_rank_with_overhead_runs_consistently():
    # FB after a non-preemptible setup of 0.1 that counts toward the age
    rank = RankFunction.single("none", [
        Segment(value=(0.0, -INF), end=(0.0, 0.1), overhead=True),
        Segment(value=(0.0, 0.1), slope=1),
    ])
    pol = RankPolicy(rank, label="setup+FB")
    q = qt.MG1(load=0.6, size=qt.Exponential(mean=1.0))
    prep = prepare(q, pol, jobs=10, warmup=0, seed=1)
    assert prep.kernel_name == "mg1_rank_rise_ovh"
    r = simulate(q, pol, jobs=20_000, replications=2, seed=3, records=True)
    fb = simulate(q, FB(), jobs=20_000, replications=2, seed=3)
    assert r.converged and r.mean > fb.mean
    assert abs(r.mean_number / (q.arrival_rate * r.mean) - 1) < 0.03
    assert np.all(r.response_times >= r.records["size"] + 0.1 - 1e-9)


def test_mgk_overhead_littles_law():
    pol = P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.3, cost_model="server")
    r = simulate(OVH_Q, pol, jobs=30_000, replications=2, seed=8, servers=3)
    assert r.converged and abs(r.mean_number / (OVH_Q.arrival_rate * r.mean) - 1) < 0.03


def test_newest_short_first_matches_reference():
    pol = OneBit(1.0, preemptive=True)  # shorts: preemptive LCFS; longs FIFO
    arr, x, y, comp = _records(EXP_Q, pol, 400)
    _compare(arr, comp, _reference_lcfs_shorts(arr, x, y <= 1.0))


def _reference_lcfs_shorts(arr, size, short):
    n = len(arr)
    rem = np.array(size, float)
    done = np.full(n, np.nan)
    present: list[int] = []
    t, nxt = 0.0, 0

    def pick():
        s = [j for j in present if short[j]]
        if s:
            return max(s)
        return min(present) if present else -1

    while nxt < n or present:
        cur = pick()
        dt_done = rem[cur] if cur >= 0 else math.inf
        dt_arr = arr[nxt] - t if nxt < n else math.inf
        dt = min(dt_done, dt_arr)
        if cur >= 0:
            rem[cur] -= dt
        t += dt
        if dt == dt_done and cur >= 0:
            done[cur] = t
            present.remove(cur)
        elif nxt < n:
            present.append(nxt)
            nxt += 1
    return done


def test_fb_shares_the_server_among_tied_jobs():
    arr, x, _, comp = _records(qt.MG1(load=0.8, size=qt.Exponential(mean=1.0)), FB(), 300)
    _compare(arr, comp, _reference_fb(arr, x))


@pytest.mark.parametrize("size", [qt.Exponential(mean=1.0), qt.Weibull(0.5, 1.0),
                                  qt.Deterministic(1.0), qt.Discrete([0.5, 1.0, 4.0],
                                                                     [0.5, 0.3, 0.2]),
                                  qt.Gamma(shape=0.5, mean=1.0)],
                         ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("pol, special, generic", [
    (FB(), "mg1_fb", "mg1_rank_rise"), (P.FCFS(), "mg1_fcfs", "mg1_rank"),
    (Priority(probs=(0.3, 0.7), preemptive=True), "mg1_class", "mg1_rank"),
    (Priority(probs=(0.2, 0.3, 0.5), preemptive=False), "mg1_class", "mg1_rank"),
    (Buckets(thresholds=(0.5, 2.0), preemptive=True), "mg1_class", "mg1_rank"),
    (Buckets(thresholds=(0.5, 2.0), preemptive=False), "mg1_class", "mg1_rank"),
    (OneBit(1.0, preemptive=True, within="fifo"), "mg1_class", "mg1_rank"),
    (OneBit(1.0, preemptive=True), "mg1_class", "mg1_rank"),
], ids=["FB", "FCFS", "Priority-P", "Priority-NP-3", "Buckets-P", "Buckets-NP", "OneBit-FIFO",
        "OneBit-newest-first"])
def test_special_kernels_equal_the_generic_kernels(size, pol, special, generic, monkeypatch):
    """FB (a stack of equal-age groups, no heap), FCFS (a ring of jobs whose departures
    are known at arrival) and constant ranks per class (a FIFO queue per class) have their
    own kernels; the generic rank kernels run the same policies: the same completions to
    rounding, at a load where the pools grow many times, with ties (atoms), and with
    NumPy-sampled sizes (Gamma)."""
    from qtheory.sim import driver

    q = qt.MG1(load=0.95, size=size, prediction=qt.ExponentialPrediction())
    assert driver.prepare(q, pol, jobs=10, warmup=0, seed=1).kernel_name == special
    runs = []
    for on in (True, False):
        monkeypatch.setattr(driver, "_SPECIAL_KERNELS", on)
        runs.append(simulate(q, pol, jobs=20_000, replications=2, seed=5, records=True))
    assert driver.prepare(q, pol, jobs=10, warmup=0, seed=1).kernel_name == generic
    a, b = runs
    np.testing.assert_allclose(a.records["completion"], b.records["completion"], rtol=1e-12)
    np.testing.assert_allclose(a.replication_means, b.replication_means, rtol=1e-12)
    assert a.mean_number == pytest.approx(b.mean_number, rel=1e-12)
    assert a.percentiles == pytest.approx(b.percentiles, rel=1e-9)


_SERVER_COST = dict(cost_model="server")
_SETUP_FB = RankPolicy(RankFunction.single("none", [
    Segment(value=(0.0, -INF), end=(0.0, 0.1), overhead=True),
    Segment(value=(0.0, 0.1), slope=1)]), label="setup+FB")
# (policy, replication means, mean number in system) at load 0.95, seed 5, 2 x 20,000 jobs,
# as float.hex, from the kernels before the served job's registers of 2026-12-04 (4th
# session): those changes keep every number to the last bit
_PINNED = [
    (P.SRPTBounce(), ("0x1.155870fb60f5dp+3", "0x1.3696ba1f7cb63p+3"), "0x1.1fb42b4f8de32p+3"),
    (P.SkipPredict(threshold=1.0, cheap_cost=0.05, expensive_cost=0.1, **_SERVER_COST),
     ("0x1.d365dfa795827p+9", "0x1.939c6825d3927p+9"), "0x1.519782a69a620p+7"),
    (P.DelayPredict(limit=1.0, expensive_cost=0.1, **_SERVER_COST),
     ("0x1.32e4c2676cbb5p+5", "0x1.7da3763e11568p+5"), "0x1.6eae0c51b1be0p+5"),
    (_SETUP_FB, ("0x1.8463c2f58aabbp+12", "0x1.7159c2a236347p+12"), "0x1.a18659758bef4p+9"),
]


@pytest.mark.parametrize("pol, means, number", _PINNED, ids=lambda v: getattr(v, "name", ""))
def test_rising_and_overhead_kernels_keep_their_numbers(pol, means, number):
    """The rising kernel keeps a job served alone in registers and serves a preempting
    arrival at once; the flat kernel updates the registers of a job that goes on after a
    segment end in place: the numbers are those of the kernels before (bit for bit here)."""
    q = qt.MG1(load=0.95, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    r = simulate(q, pol, jobs=20_000, replications=2, seed=5, records=True)
    # bit for bit on the machine that pinned them; to 1e-12 elsewhere (another CPU's libm)
    assert list(r.replication_means) == pytest.approx([float.fromhex(v) for v in means],
                                                      rel=1e-12, abs=0)
    assert r.mean_number == pytest.approx(float.fromhex(number), rel=1e-12, abs=0)


@njit
def _bins_both(v, tab, u0, lo, scale, nb, out):
    for i in range(v.size):
        out[0, i] = bin_table(v[i], tab, u0, nb)
        out[1, i] = bin_log(v[i], lo, scale, nb)


@pytest.mark.parametrize("mean", [1.0, 1e3, 3e-5])
def test_histogram_table_bins_equal_the_definition(mean):
    """The one-load table (bin and the low bits of the edge in each interval) gives the bin
    of the definition: random response times over the whole range, each bin's edge and the
    doubles a few ulps around it, zero, negatives, subnormals, infinities and NaN."""
    from qtheory.sim import driver

    prep = driver.prepare(qt.MG1(load=0.5, size=qt.Exponential(mean=mean)), P.FCFS(), jobs=10,
                          warmup=0, seed=1)
    lo, scale, nb = prep.hist_lo, prep.hist_scale, prep.nbins
    tab, u0 = tables(lo, scale, nb)
    assert tab.dtype == np.int64 and u0 == prep.hu0
    rng = np.random.default_rng(3)
    span = (nb + 40) / scale
    rand = np.exp(lo - 20 / scale + span * rng.random(200_000))
    edges = np.exp(lo + np.arange(-2, nb + 3) / scale)
    near = [edges]
    up, down = edges.copy(), edges.copy()
    for _ in range(4):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, 0.0)
        near += [up, down]
    special = np.array([0.0, -0.0, -1.0, 5e-324, 1e-310, np.inf, -np.inf, np.nan,
                        np.finfo(float).max, np.finfo(float).tiny])
    v = np.concatenate([rand, *near, special])
    out = np.zeros((2, v.size), np.int64)
    _bins_both(v, tab, np.int64(u0), lo, scale, nb, out)
    np.testing.assert_array_equal(out[0], out[1])
    assert out[0].min() == 0 and out[0].max() == nb + 1


# (policy, replication means, mean number in system, histogram 99th percentile) at load
# 0.95, seed 5, 2 x 20,000 jobs, as float.hex, from the FCFS and class kernels before the
# changes of 2026-12-04 (4th session: class drawn in SIMD loops, one-load histogram table,
# batch sums in registers), which keep every number to the last bit
_PINNED_FAST = [
    (P.FCFS(), ("0x1.4c17599fe81dap+4", "0x1.765086d2aa25bp+4"), "0x1.5268f771d753ap+4",
     "0x1.15c6ec7ad9d6cp+6"),
    (Priority(probs=(0.5, 0.5), preemptive=False),
     ("0x1.50d029771980dp+4", "0x1.7494508c41795p+4"), "0x1.54aa4807c47aap+4",
     "0x1.0954d55760abcp+7"),
    (Priority(probs=(0.2, 0.3, 0.5), preemptive=True),
     ("0x1.50d140c4a1639p+4", "0x1.7492d0e55fd32p+4"), "0x1.54b203853bf70p+4",
     "0x1.0b16a0243c3b2p+7"),
]


@pytest.mark.parametrize("pol, means, number, p99", _PINNED_FAST,
                         ids=lambda v: getattr(v, "name", ""))
def test_fcfs_and_class_kernels_keep_their_numbers(pol, means, number, p99):
    """The FCFS ring and the per-class queues (two and three classes, with the class drawn
    in the arrival block), the histogram table and the batch sums kept in registers:
    replication means, mean number in system and the histogram's 99th percentile are those
    of the kernels before (bit for bit on the machine that pinned them)."""
    from qtheory.sim import driver

    q = qt.MG1(load=0.95, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    assert driver.prepare(q, pol, jobs=10, warmup=0, seed=1).kernel_name in ("mg1_fcfs",
                                                                              "mg1_class")
    r = simulate(q, pol, jobs=20_000, replications=2, seed=5)
    assert list(r.replication_means) == pytest.approx([float.fromhex(v) for v in means],
                                                      rel=1e-12, abs=0)
    assert r.mean_number == pytest.approx(float.fromhex(number), rel=1e-12, abs=0)
    assert r.percentiles[99] == pytest.approx(float.fromhex(p99), rel=1e-12, abs=0)


# (policy, servers, (mean, standard error of the batch means, mean number in system, histogram
# 99th percentile)) at load 0.95, seed 5, one replication of 40,000 jobs (32 batches), as
# float.hex, from the flat, rising, PS, FB and M/G/k kernels before their batch sums moved
# into registers (2026-12-04, 4th session), which keeps every number to the last bit
_PINNED_BATCHES = [
    (SPRPT(), 1, ("0x1.12d1e0e1aadefp+3", "0x1.c01f343a7e37cp-1", "0x1.06ddb3a0a49cbp+3",
                  "0x1.3237ad93e7fd9p+7")),
    (TRAIL(c=0.8), 1, ("0x1.130180ce4b900p+3", "0x1.c020f6f7c0c52p-1", "0x1.070aeb8d309cep+3",
                       "0x1.3237ad93e7fd9p+7")),
    (PS(), 1, ("0x1.4e47cf852a7c6p+4", "0x1.433edf77cf396p+1", "0x1.3d6d7111a3d8cp+4",
               "0x1.38f87fbb1018ap+7")),
    (FB(), 1, ("0x1.4b7eb3482e5e0p+4", "0x1.6bde8b6c10e37p+1", "0x1.423ebfacbfbc2p+4",
               "0x1.8f4131c534626p+8")),
    (P.SRPTBounce(), 1, ("0x1.1dd33d787a1e0p+3", "0x1.c658a1233e9d5p-1", "0x1.1150b722decc3p+3",
                         "0x1.3f1223ab905d0p+7")),
    (SRPT(), 2, ("0x1.ab3471738f392p+2", "0x1.1ccd7b476f5cdp-1", "0x1.9745071036f04p+2",
                 "0x1.79243fb3c6ce1p+6")),
]


@pytest.mark.parametrize("pol, servers, pinned", _PINNED_BATCHES,
                         ids=lambda v: getattr(v, "name", str(v)))
def test_rank_ps_fb_mgk_kernels_keep_their_batch_means(pol, servers, pinned):
    """The flat rank kernel (SPRPT, TRAIL), the rising one (SRPT-Bounce), PS, FB and M/G/k
    keep the current batch's sum and count in registers: with one replication the confidence
    interval comes from the batch means, whose standard error is pinned with the mean, the
    mean number in system and the histogram's 99th percentile (bit for bit on the machine that
    pinned them; to 1e-12 elsewhere)."""
    from qtheory.sim import driver

    q = qt.MG1(load=0.95, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    name = driver.prepare(q, pol, jobs=10, warmup=0, seed=1, servers=servers).kernel_name
    assert name in ("mg1_rank", "mg1_rank_rise", "mg1_ps", "mg1_fb", "mgk_rank")
    r = simulate(q, pol, jobs=40_000, replications=1, seed=5, servers=servers)
    assert r.ci_method == "batch means"
    got = (r.mean, r.std_error, r.mean_number, r.percentiles[99])
    assert got == pytest.approx([float.fromhex(v) for v in pinned], rel=1e-12, abs=0)


def test_class_kernel_pool_holds_every_class_queue():
    """mg1_class keeps each class's queue ends in the pool's index rows, one column per
    class: a pool asked for with fewer rows than classes gets enough (it used to write past
    its end), and the run equals one with a large pool."""
    from qtheory.sim import driver

    q = qt.MG1(load=0.9, size=qt.Exponential(mean=1.0))
    pol = P.Priority(probs=(0.3, 0.3, 0.4), preemptive=False)
    prep = driver.prepare(q, pol, jobs=3000, warmup=100, seed=4, records=True)
    assert prep.kernel_name == "mg1_class"
    outs = []
    for cap in (2, 4096):
        r = driver._Replication(prep, 0, cap=cap)
        assert r.hi.shape[1] >= 3
        r.run(driver._kernel(prep.kernel_name))
        outs.append(r)
    np.testing.assert_array_equal(outs[0].rec, outs[1].rec)
    np.testing.assert_array_equal(outs[0].sf, outs[1].sf)


@pytest.mark.parametrize("pol", [P.SRPTBounce(), _SETUP_FB, FB(), P.SkipPredict(
    threshold=1.0, cheap_cost=0.05, expensive_cost=0.1, **_SERVER_COST), SPRPT(), PS()],
    ids=lambda p: p.name)
def test_rank_kernels_resume_mid_service_exactly(pol, monkeypatch):
    """A tiny pool and a few events per call: the kernels stop and resume many times with
    a job in service (the rising kernel's registers written back and read again, the
    current batch's sum and count written back and loaded again), and the run equals one
    in a single call, bit for bit."""
    from qtheory.sim import driver

    monkeypatch.setattr(driver, "_SPECIAL_KERNELS", False)
    q = qt.MG1(load=0.9, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    prep = driver.prepare(q, pol, jobs=3000, warmup=100, seed=9, records=True)
    outs = []
    for cap, ev in ((2, 7), (4096, 10**9)):
        r = driver._Replication(prep, 0, cap=cap)
        monkeypatch.setattr(driver, "_SLICE_EVENTS", ev)
        r.run(driver._kernel(prep.kernel_name))
        outs.append(r)
    small, big = outs
    np.testing.assert_array_equal(small.rec, big.rec)
    np.testing.assert_array_equal(small.sf, big.sf)
    np.testing.assert_array_equal(small.bsum, big.bsum)
    np.testing.assert_array_equal(small.bcnt, big.bcnt)
    assert small.bcnt.sum() == 3000


def test_fcfs_ring_unwraps_when_the_pool_grows():
    """Tiny initial pool, a few events per call: the FCFS ring wraps, the pool grows while
    it is wrapped, and the run equals one with a large pool."""
    from qtheory.sim import driver

    q = qt.MG1(load=0.97, size=qt.Exponential(mean=1.0))
    prep = driver.prepare(q, P.FCFS(), jobs=3000, warmup=100, seed=9, records=True)
    outs = []
    for cap, ev in ((2, 7), (4096, 10**9)):
        r = driver._Replication(prep, 0, cap=cap)
        kernel = driver._kernel(prep.kernel_name)
        monkey = driver._SLICE_EVENTS
        try:
            driver._SLICE_EVENTS = ev
            r.run(kernel)
        finally:
            driver._SLICE_EVENTS = monkey
        outs.append(r)
    small, big = outs
    assert small.pf.shape[0] > 2  # it grew
    np.testing.assert_array_equal(small.rec, big.rec)
    np.testing.assert_array_equal(small.sf, big.sf)


def test_ps_matches_reference():
    arr, x, _, comp = _records(qt.MG1(load=0.8, size=qt.Exponential(mean=1.0)), PS(), 300)
    _compare(arr, comp, _reference_ps(arr, x))


def test_priority_classes_follow_probabilities():
    q = qt.MG1(load=0.6, size=qt.Exponential(mean=1.0))
    pol = Priority(probs=(0.25, 0.75), preemptive=True)
    r = simulate(q, pol, jobs=40_000, replications=4, seed=3)
    assert abs(r.z_score(q.mean_response_time(pol))) < 4


def test_rank_policy_equals_builtin_job_for_job():
    mine = RankPolicy(RankFunction.single("prediction", [Segment(value=(1.0, 0.0), slope=-1)]),
                      label="my-sprpt")
    a = simulate(EXP_Q, mine, jobs=3_000, replications=2, seed=4, records=True)
    b = simulate(EXP_Q, SPRPT(), jobs=3_000, replications=2, seed=4, records=True)
    np.testing.assert_array_equal(a.records["completion"], b.records["completion"])
    assert a.policy == "my-sprpt"


def test_age_only_rank_with_arbitrary_slopes():
    # a tabulated age-only rank (Gittins-like): falls at slope -2, then rises at 0.5, then flat
    rank = RankFunction.single("none", [
        Segment(value=(0.0, 1.0), slope=-2.0, end=(0.0, 0.3)),
        Segment(value=(0.0, 0.4), slope=0.5, end=(0.0, 1.5)),
        Segment(value=(0.0, 1.0), slope=0.0),
    ])
    pol = RankPolicy(rank, label="table")
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0))
    r = simulate(q, pol, jobs=40_000, replications=4, seed=2)
    assert r.converged and abs(r.mean_number - q.arrival_rate * r.mean) < 0.03 * r.mean_number
    try:
        exact = q.mean_response_time(pol)
    except ValueError:  # no analysis of non-unit slopes in this version of the package
        return
    assert abs(r.z_score(exact)) < 4


@pytest.mark.parametrize("slopes, twin", [((2.0, 0.5), FB()), ((-3.0, -0.25), P.FCFS())])
def test_monotone_age_ranks_with_odd_slopes_equal_their_twin(slopes, twin):
    # a strictly increasing age-only rank orders jobs as FB does (tied jobs share the server
    # at rates that keep their ranks equal); a strictly decreasing one as FCFS
    a, b = slopes
    rank = RankFunction.single("none", [Segment(value=(0.0, 0.0), slope=a, end=(0.0, 1.0)),
                                        Segment(value=(0.0, a), slope=b)])
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0))
    r = simulate(q, RankPolicy(rank, label="odd"), jobs=20_000, replications=2, seed=6)
    s = simulate(q, twin, jobs=20_000, replications=2, seed=6)
    np.testing.assert_allclose(r.replication_means, s.replication_means, rtol=1e-9)


# ----------------------------------------------------------------------------- laws of T
def test_fcfs_mm1_response_time_is_exponential():
    lam, mu = 0.7, 1.0
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=1 / mu))
    r = simulate(q, "FCFS", jobs=100_000, replications=2, seed=12, records=True)
    t = r.response_times.ravel()[::100]  # thinned: nearly independent samples
    assert stats.kstest(t, stats.expon(scale=1 / (mu - lam)).cdf).pvalue > 1e-3
    # the test has power: the size law itself is rejected
    assert stats.kstest(t, stats.expon(scale=1 / mu).cdf).pvalue < 1e-6


def test_histogram_percentiles_match_exact_ones():
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0))
    a = simulate(q, "SRPT", jobs=20_000, replications=2, seed=3, records=True)
    b = simulate(q, "SRPT", jobs=20_000, replications=2, seed=3)
    assert a.percentile_method == "exact" and b.percentile_method == "histogram"
    for k in (50.0, 90.0, 99.0):
        assert abs(b.percentiles[k] / a.percentiles[k] - 1) < 0.015


@pytest.mark.parametrize("pol", ["FCFS", "SRPT", "FB", "PS", "SPJF"])
def test_littles_law(pol):
    q = qt.MG1(load=0.8, size=qt.Weibull(0.5, 0.5), prediction=qt.ExponentialPrediction())
    r = simulate(q, pol, jobs=50_000, replications=4, seed=5)
    assert abs(r.mean_number / (q.arrival_rate * r.mean) - 1) < 0.02


def test_records_are_consistent():
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.UniformPrediction(0.5))
    r = simulate(q, "SPRPT", jobs=2_000, replications=2, seed=1, records=True)
    rec = r.records
    assert np.all(np.diff(rec["arrival"], axis=1) > 0)
    assert np.all(rec["completion"] - rec["arrival"] >= rec["size"] - 1e-9)
    ratio = rec["prediction"] / rec["size"]
    assert ratio.min() >= 0.5 - 1e-12 and ratio.max() <= 1.5 + 1e-12
    np.testing.assert_allclose(r.response_times.mean(axis=1), r.replication_means)


# ----------------------------------------------------------------------------- M/G/k
def _erlang_c_mean(k, lam, mean_size):
    mu = 1.0 / (k * mean_size)  # each of k servers works at speed 1/k
    a = lam / mu
    s = sum(a**i / math.factorial(i) for i in range(k))
    top = a**k / math.factorial(k) * k / (k - a)
    return top / (s + top) / (k * mu - lam) + 1 / mu


@pytest.mark.parametrize("k", [2, 4])
def test_mmk_fcfs_matches_erlang_c(k):
    r = simulate(EXP_Q, "FCFS", jobs=50_000, replications=4, seed=3, servers=k)
    assert abs(r.z_score(_erlang_c_mean(k, EXP_Q.arrival_rate, 1.0))) < 4
    assert abs(r.mean_number / (EXP_Q.arrival_rate * r.mean) - 1) < 0.02


def test_mgk_prediction_policies_order():
    means = {p: simulate(EXP_Q, p, jobs=30_000, replications=4, seed=9, servers=2).mean
             for p in ("FCFS", "SRPT", "SPRPT", "SPJF", "PSPJF")}
    assert means["SRPT"] < means["SPRPT"] < means["FCFS"]
    assert means["PSPJF"] < means["SPJF"] < means["FCFS"]


def test_mgk_one_server_kernel_agrees_with_mg1_kernel():
    prep = prepare(EXP_Q, "SRPT", jobs=5_000, warmup=0, seed=2)
    a = _Replication(prep, 0)
    a.run(_kernel("mg1_rank"))
    b = _Replication(prep, 0)
    b.run(_kernel("mgk_rank"))
    assert abs(a.sf[7] / b.sf[7] - 1) < 1e-12


def test_progress_bar_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = simulate(EXP_Q, "FCFS", jobs=2_000, replications=2, seed=1, progress=True)
    assert r.converged
