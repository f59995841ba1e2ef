"""The host side of ``llm.simulate`` computed for all replications at once.

``llm.simulate`` draws the requests of all replications in one call
(``draws.draw_requests_batch``), prepares them stacked (``prepare_replications``) and
computes its statistics on 2-d arrays (``driver._collect``). These tests compare it with
straightforward per-replication code written here: the requests of each replication drawn
alone, the kernel run on each, and the statistics computed replication by replication (the
loop ``llm.simulate`` used before, with ``np.polyfit`` for the backlog slope).

Tolerance: every field must be the same number, bit for bit, except ``backlog_slope``.
The vectorised code sums each replication's values with NumPy's row reductions, which add
in the same (pairwise) order as the 1-d reductions of the loop, and its backlog sums are
integer-valued (exact in any order). The slope is a closed-form least-squares fit where the
loop calls ``np.polyfit`` (an SVD): the two differ by rounding, about 1e-16 relative to
each replication's slope; their mean over replications is compared to 1e-12 relative to
the largest replication slope (a mean of slopes of either sign may be close to 0, so a
relative tolerance on the mean alone would not be meaningful).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings

import numpy as np
import pytest

import qtheory as qt
from qtheory import llm
from qtheory.llm.sim import draws, driver
from qtheory.llm.sim import kernel as K
from qtheory.llm.sim.result import Estimate, LLMResult
from qtheory.sim.sampling import first_geq

sys.path.insert(0, os.path.dirname(__file__))
from cudasim import run_under_cudasim  # noqa: E402
from test_llm_sim import _server, _small_workload  # noqa: E402

SLOPE_RTOL = 1e-12


# ----------------------------------------------------------- per-replication reference
def _backlog(arr, done, t0, t1, points=200):
    ts = np.linspace(t0, t1, points)
    d = np.sort(done)
    num = np.searchsorted(arr, ts, side="right") - np.searchsorted(d, ts, side="right")
    return ts, num.astype(float)


def _token_backlog_quarters(arr, done, lo, t1, points=400):
    ts = np.linspace(0.0, t1, points)
    order = np.argsort(done, kind="stable")
    a = np.concatenate(([0.0], np.cumsum(lo, dtype=float)))
    d = np.concatenate(([0.0], np.cumsum(lo[order], dtype=float)))
    w = a[np.searchsorted(arr, ts, side="right")] - d[np.searchsorted(done[order], ts,
                                                                       side="right")]
    q2 = (ts >= 0.25 * t1) & (ts < 0.5 * t1)
    q4 = ts >= 0.75 * t1
    return float(w[q2].mean()), float(w[q4].mean())


def _area_in_system(arr, done, t0, t1):
    a = np.clip(arr, t0, t1)
    b = np.clip(done, t0, t1)
    return float(np.sum(np.maximum(b - a, 0.0)))


def _reference(workload, server, sched, requests, seed, replications, warmup=None,
               level=0.95, records=False, trace_points=0, batches=32):
    """``llm.simulate`` (CPU backend) written replication by replication."""
    sched = llm.schedulers.get_scheduler(sched)
    warmup = requests // 10 if warmup is None else warmup
    preps = [driver.prepare_replication(workload, server, sched, requests, seed, r, False,
                                        trace_points if r == 0 else 0, warmup)
             for r in range(replications)]
    reps = [driver._run_one(p, trace_points) for p in preps]
    nrep, n = len(reps), requests
    m = slice(warmup, n)
    lat_m, ttft_m, tbt_m, thr, tthr, num, slopes, ends = [], [], [], [], [], [], [], []
    quarters, lat_all, ttft_all, tbt_all = [], [], [], []
    batch_lat, batch_ttft, batch_tbt = [], [], []
    for p, st in zip(preps, reps):
        arr, lo = p["arr"], p["lo"]
        lat = (st.done - arr)[m]
        ttft = (st.first - arr)[m]
        ok = lo[m] >= 2
        tbt = ((st.done - st.first)[m][ok] / (lo[m][ok] - 1))
        lat_m.append(lat.mean())
        ttft_m.append(ttft.mean())
        tbt_m.append(tbt.mean() if tbt.size else math.nan)
        lat_all.append(lat)
        ttft_all.append(ttft)
        tbt_all.append(tbt)
        if nrep == 1:
            edges = np.linspace(0, lat.size, batches + 1).astype(int)
            batch_lat = [lat[a:b].mean() for a, b in zip(edges[:-1], edges[1:]) if b > a]
            batch_ttft = [ttft[a:b].mean() for a, b in zip(edges[:-1], edges[1:]) if b > a]
            bt_idx = np.flatnonzero(ok)
            batch_tbt = [tbt[(bt_idx >= a) & (bt_idx < b)].mean()
                         for a, b in zip(edges[:-1], edges[1:])
                         if np.any((bt_idx >= a) & (bt_idx < b))]
        t0, t1 = float(arr[warmup]), float(arr[-1])
        span = t1 - t0
        inw = (st.done >= t0) & (st.done <= t1)
        thr.append(inw.sum() / span)
        tthr.append(lo[inw].sum() / span)
        num.append(_area_in_system(arr, st.done, t0, t1) / span)
        quarters.append(_token_backlog_quarters(arr, st.done, lo, t1))
        ts, nb = _backlog(arr, st.done, 0.0, t1)
        half = ts >= 0.5 * t1
        slopes.append(float(np.polyfit(ts[half], nb[half], 1)[0]) if half.sum() > 2 else 0.0)
        ends.append(float(nb[-1]))
    if nrep >= 2:
        method, ml, mt, mb = "replications", lat_m, ttft_m, tbt_m
    else:
        method, ml, mt, mb = "batch means", batch_lat, batch_ttft, batch_tbt
    S = np.array([st.stats for st in reps])
    slope = float(np.mean(slopes))
    mean_num = float(np.nanmean(num))
    w2, w4 = (float(v) for v in np.mean(np.array(quarters), axis=0))
    lo_all = preps[0]["lo"].astype(float)
    eo, eo2 = float(lo_all.mean()), float(np.mean(lo_all**2))
    tokens_ok = w4 - w2 <= 0.5 * w2 + 4.0 * math.sqrt((w2 + eo) * eo2 / eo)
    t1 = float(np.mean([p["arr"][-1] for p in preps]))
    count_ok = slope * 0.5 * t1 <= max(20.0, 4.0 * math.sqrt(max(mean_num, 0.0) + 1.0))
    stable = bool(tokens_ok and count_ok)
    notes = () if stable else (
        "the backlog grows over the run: means are not stationary estimates",)
    kv_trace = None
    if trace_points > 0:
        tr = reps[0].trace
        kv_trace = {"time": tr[0], "kv_tokens": tr[1], "kv_blocks": tr[2],
                    "in_system": tr[3]}
    rec = None
    if records:
        rec = {"arrival": np.stack([p["arr"] for p in preps]),
               "prompt": np.stack([p["lp"] for p in preps]),
               "output": np.stack([p["lo"] for p in preps]),
               "prediction": np.stack([p["yp"] for p in preps]),
               "first_token": np.stack([st.first for st in reps]),
               "completion": np.stack([st.done for st in reps]),
               "preemptions": np.stack([st.ri[K.R_NPRE] for st in reps])}
    res = LLMResult(
        scheduler=sched.name,
        latency=Estimate.from_means(ml, np.concatenate(lat_all), level),
        ttft=Estimate.from_means(mt, np.concatenate(ttft_all), level),
        tbt=Estimate.from_means(mb, np.concatenate(tbt_all), level),
        throughput=Estimate.from_means(thr, None, level),
        token_throughput=Estimate.from_means(tthr, None, level), mean_number=mean_num,
        **driver._counter_fields(S, server),  # the counters: not what this test is about
        backlog_slope=slope,
        backlog_end=float(np.mean(ends)), stable=stable, requests=n, warmup=warmup,
        replications=nrep, ci_method=method, arrival_rate=float(workload.arrival_rate),
        seed=seed, level=float(level),
        kv_trace=kv_trace, records=rec, notes=notes)
    return res, slopes


def _same(a, b, path=""):
    """``a == b`` exactly (NaN equal to NaN), through dataclasses, dicts and sequences."""
    if dataclasses.is_dataclass(b):
        for f in dataclasses.fields(b):
            if f.name != "elapsed":
                _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(b, dict):
        assert set(a) == set(b), path
        for k in b:
            _same(a[k], b[k], f"{path}[{k}]")
    elif isinstance(b, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(b, (np.ndarray, float, np.floating)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)  # NaN == NaN here
    else:
        assert a == b and type(a) is type(b), (path, a, b)


def _check(res, ref, slopes):
    """Every field of ``res`` is ``ref``'s (the backlog slope to :data:`SLOPE_RTOL`)."""
    scale = max(abs(s) for s in slopes) if slopes else 0.0
    assert res.backlog_slope == pytest.approx(ref.backlog_slope, rel=0,
                                              abs=SLOPE_RTOL * scale + 1e-300)
    _same(dataclasses.replace(res, backlog_slope=0.0),
          dataclasses.replace(ref, backlog_slope=0.0))


CONFIGS = [
    # several replications, records and a KV trace; several blocks on two threads
    dict(workload=_small_workload(), server=_server(kv_capacity_tokens=2048),
         sched=llm.SPRPT(refine_every=8), requests=300, replications=5, seed=7,
         records=True, trace_points=25, block=600, workers=2),
    # one replication: batch means; MLFQ's auxiliary levels; Gamma arrivals, lognormal
    # predictions
    dict(workload=llm.Workload(0.12, _small_workload().prompt_tokens,
                               _small_workload().output_tokens,
                               prediction=qt.LognormalPrediction(0.5),
                               arrivals=llm.GammaArrivals(1.7)),
         server=_server(kv_capacity_tokens=4096), sched=llm.MLFQ(), requests=600,
         replications=1, seed=3, records=False, trace_points=0, block=1 << 17, workers=1),
    # overloaded: the unstable-run warning; WAIT's types; one block per row
    dict(workload=_small_workload(0.5), server=_server(), sched=llm.WAIT(thresholds=(3, 2),
                                                                        bounds=(30,)),
         requests=400, replications=3, seed=5, records=True, trace_points=0, block=1,
         workers=3),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["records-trace", "batch-means", "unstable"])
def test_vectorised_collect_equals_per_replication_reference(cfg, monkeypatch):
    cfg = dict(cfg)
    monkeypatch.setattr(driver, "_BLOCK_REQUESTS", cfg.pop("block"))
    workers = cfg.pop("workers")
    w, s, sched = cfg.pop("workload"), cfg.pop("server"), cfg.pop("sched")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        res = llm.simulate(w, s, sched, workers=workers, **cfg)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ref, slopes = _reference(w, s, sched, cfg["requests"], cfg["seed"],
                                 cfg["replications"], records=cfg["records"],
                                 trace_points=cfg["trace_points"])
    _check(res, ref, slopes)
    unstable = [str(x.message) for x in got if "looks unstable" in str(x.message)]
    assert len(unstable) == (0 if ref.stable else 1)
    if cfg["requests"] == 400:
        assert not ref.stable  # the configuration does exercise the warning


# ------------------------------------------------------------------ the pieces
def _workloads():
    from scipy import stats

    base = _small_workload()
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.exponential(8.0, 300))
    pr, ou = rng.integers(1, 100, 300), rng.integers(1, 150, 300)
    return [
        llm.preset("sharegpt", arrival_rate=0.018, prediction=qt.LognormalPrediction(0.5)),
        llm.Workload(0.12, base.prompt_tokens, base.output_tokens,
                     prediction=qt.UniformPrediction(0.5), arrivals=llm.GammaArrivals(0.6)),
        llm.Workload(0.125, llm.TokenLaw.from_samples(pr), llm.TokenLaw.from_samples(ou),
                     arrivals=llm.TraceArrivals(times), pairs=(pr, ou)),
        llm.Workload(0.12, base.prompt_tokens, base.output_tokens,
                     prediction=qt.MultiplicativePrediction(stats.gamma(2.0, scale=0.5))),
    ]


def test_batched_draws_are_the_per_replication_draws_bit_for_bit():
    seed = 2**70 + 12345
    for w in _workloads():
        reps = np.r_[0:3, 7, 130:260]  # 134 rows: two threads draw blocks of them
        stacked = draws.draw_requests_batch(w, 250, seed, reps, workers=2)
        for j in (0, 1, 2, 3, 60, reps.size - 1):
            one = draws.draw_requests(w, 250, seed, int(reps[j]))
            for x, y in zip(stacked, one):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x[j], y)


def test_guided_table_search_is_the_bisection():
    rng = np.random.default_rng(1)
    for trial in range(200):
        k = int(rng.integers(1, 50))
        p = rng.random(k) * (rng.random(k) < 0.7)  # zero-probability entries: ties
        p[-1] += p.sum() == 0
        c = np.cumsum(p / p.sum())
        if trial % 3 == 0:
            c = np.maximum.accumulate(np.round(c, 2))
        c[-1] = 1.0
        g = draws.guide_table(c)
        edges = np.arange(k + 1) / k
        us = np.concatenate([rng.random(100), c, np.nextafter(c, 0), np.nextafter(c, 2),
                             edges, np.nextafter(edges, 2), np.nextafter(edges, -1),
                             [np.nan, 0.0, 1.0, 5e-324, 2.0, -1.0]])
        for u in us:
            assert draws.table_index(c, g, u) == first_geq(c, 0, c.size, u)


def test_stacked_preparation_rows_are_the_single_preparations():
    w = _workloads()[1]
    s = _server(kv_capacity_tokens=4096)
    for sched in (llm.MLFQ(), llm.WAIT(thresholds=(2, 2), bounds=(40,)), llm.SPRPT()):
        b = driver.prepare_replications(w, s, sched, 200, 9, [0, 1, 4], False, [12, 0, 3], 20)
        for j, (rep, tp) in enumerate(((0, 12), (1, 0), (4, 3))):
            one = driver.prepare_replication(w, s, sched, 200, 9, rep, False, tp, 20)
            row = driver._row(b, j)
            assert set(row) == set(one)
            for k, v in one.items():
                if isinstance(v, np.ndarray | np.generic):
                    assert np.asarray(row[k]).dtype == np.asarray(v).dtype, k
                    np.testing.assert_array_equal(row[k], v, err_msg=k)
                else:
                    assert row[k] == v or row[k] is v, k


def test_grid_is_linspace_row_by_row():
    t1 = np.array([1234.5678, 1.0, 0.0, 5e-324, 1e-310, 3.0e7, 0.1])
    for points in (200, 400, 7):
        g = driver._grid(t1, points)
        for r, t in enumerate(t1):
            np.testing.assert_array_equal(g[r], np.linspace(0.0, t, points))


def test_backlogs_are_the_searchsorted_counts():
    rng = np.random.default_rng(3)
    R, n = 6, 150
    arr = np.cumsum(rng.exponential(1.0, (R, n)), axis=1)
    arr[1, 10:20] = arr[1, 10]  # simultaneous arrivals
    done = arr + rng.exponential(20.0, (R, n))
    done[2] = arr[2] + 5.0  # completions on arrival instants
    lo = rng.integers(1, 300, (R, n))
    t1 = arr[:, -1].copy()
    ts_tok, ts_num = driver._grid(t1, 400), driver._grid(t1, 200)
    done[3, :50] = ts_num[3, 100:150]  # completions exactly on grid points
    tok, nb = np.zeros(ts_tok.shape), np.zeros(ts_num.shape)
    driver._backlogs(arr, done, lo, ts_tok, driver._inverse_step(ts_tok), ts_num,
                     driver._inverse_step(ts_num), tok, nb)
    for r in range(R):
        ts, ref = _backlog(arr[r], done[r], 0.0, t1[r])
        np.testing.assert_array_equal(nb[r], ref)
        q2 = (ts_tok[r] >= 0.25 * t1[r]) & (ts_tok[r] < 0.5 * t1[r])
        q4 = ts_tok[r] >= 0.75 * t1[r]
        w2, w4 = _token_backlog_quarters(arr[r], done[r], lo[r], t1[r])
        assert tok[r][q2].mean() == w2 and tok[r][q4].mean() == w4


def test_closed_form_slopes_are_polyfit():
    rng = np.random.default_rng(4)
    t1 = np.array([1e4, 3.0, 2.5e5, 1e4, 7.0])
    ts = driver._grid(t1, 200)
    y = np.round(rng.normal(50, 10, ts.shape) + ts * rng.normal(0, 1e-2, (5, 1)))
    y[3] = 17.0  # constant: slope 0.0, as the closed form gives it exactly
    half = ts >= 0.5 * t1[:, None]
    few = half.copy()
    few[1, :] = False
    few[1, -2:] = True  # 2 points: 0.0 by definition
    got = driver._slopes(ts, y, half)
    for r in range(5):
        ref = np.polyfit(ts[r][half[r]], y[r][half[r]], 1)[0]
        assert got[r] == pytest.approx(ref, rel=SLOPE_RTOL, abs=1e-15 * abs(y[r]).max()
                                       / t1[r])
    assert got[3] == 0.0
    assert driver._slopes(ts, y, few)[1] == 0.0


def test_row_means_are_the_segment_means_bit_for_bit():
    rng = np.random.default_rng(6)
    counts = rng.integers(0, 300, 40)
    counts[[3, 9]] = 0
    v = rng.lognormal(size=counts.sum())
    got = driver._row_means(v, counts)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    for r, (a, c) in enumerate(zip(starts, counts)):
        if c == 0:
            assert math.isnan(got[r])
        else:
            assert got[r] == v[a:a + c].mean()


def test_stacked_gpu_launch_groups(monkeypatch):
    from qtheory.llm.sim import gpu as lg

    per = lg.bytes_per_replication(50, 8, 16, 4)
    seen = []

    def fake(batch, a, b, tp, pre):
        seen.append((a, b))
        r = np.arange(a, b, dtype=float)
        return {"first": np.repeat(r[:, None], 50, 1), "done": -np.repeat(r[:, None], 50, 1),
                "stats": np.repeat(r[:, None], K.NST, 1),
                "npre": np.repeat(r[:, None], 50, 1).astype(np.int64) if pre else None,
                "trace": np.full((4, tp), float(a)) if a == 0 else None}

    monkeypatch.setattr(lg, "_launcher", lambda: None)
    monkeypatch.setattr(lg, "_group_rows", fake)
    monkeypatch.setattr(lg, "MAX_BYTES_PER_LAUNCH", 3 * per + 1)
    batch = {"arr": np.zeros((10, 50)), "maxb": 8, "bsz": 16}
    out = lg.run_stacked(batch, 4, preemptions=True)
    assert seen == [(0, 3), (3, 6), (6, 9), (9, 10)]
    np.testing.assert_array_equal(out.first[:, 7], np.arange(10))
    np.testing.assert_array_equal(out.npre[:, 0], np.arange(10))
    assert out.stats.shape == (10, K.NST) and out.trace.shape == (4, 4)
    assert lg.run_stacked(batch, 4).npre is None


def test_gpu_backend_in_several_launches_equals_cpu_under_cudasim():
    """Three launches (a memory budget of two replications each) under Numba's CUDA
    simulator give exactly the CPU backend's result."""
    g = run_under_cudasim("""
        import warnings
        from test_llm_sim import _server, _small_workload
        from qtheory import llm
        from qtheory.llm.sim import gpu
        gpu.MAX_BYTES_PER_LAUNCH = 2 * gpu.bytes_per_replication(80, 8, 16, 6) + 1
        warnings.simplefilter("ignore", RuntimeWarning)
        result = llm.simulate(_small_workload(), _server(), llm.SPJF(), requests=80,
                              replications=5, seed=2, records=True, trace_points=6,
                              backend="gpu")
    """, timeout=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c = llm.simulate(_small_workload(), _server(), llm.SPJF(), requests=80,
                         replications=5, seed=2, records=True, trace_points=6)
    assert g.backend == "gpu"
    _same(dataclasses.replace(g, backend="cpu"), c)
