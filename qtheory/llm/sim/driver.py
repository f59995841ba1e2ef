"""The driver of the token-level LLM serving simulator: :func:`simulate`."""

from __future__ import annotations

import math
import numbers
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...sim.driver import _seed_of
from ...sim.rng import stream_key
from ...sim.sampling import encode_prediction
from ..schedulers import MLFQ, WAIT, get_scheduler
from ..server import LinearTime, Server, StaircaseTime, UnitTime
from ..workload import TraceArrivals, Workload
from . import kernel as K
from .draws import STREAM_REFINE, draw_requests
from .result import Estimate, LLMResult

__all__ = ["simulate", "prepare_replication", "BACKENDS"]

BACKENDS = ("cpu", "gpu")
_UNLIMITED = 1 << 60
_MODES = {"recompute": K.M_RECOMPUTE, "swap": K.M_SWAP, "restart": K.M_RESTART,
          "keep": K.M_KEEP}


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _time_params(server: Server) -> tuple[float, tuple]:
    if _user_time(server) is not None:
        return 0.0, (0.0, 0.0, 0.0)  # a user callable (see user_time.py)
    code, prm = server.iteration_time.params()
    return float(code), prm


def _user_time(server: Server):
    """The user's iteration-time callable, or ``None`` for a built-in model."""
    it = server.iteration_time
    return None if isinstance(it, (LinearTime, StaircaseTime, UnitTime)) else it


def _aux(workload: Workload, server: Server, sched, lp, lo) -> np.ndarray:
    aux = np.zeros(lp.size)
    if isinstance(sched, MLFQ):
        # skip-join: prefill time in decode iterations -> entry level
        emit = 1 if server.prefill_emits_token else 0
        vals = np.unique(lp)
        lev = np.zeros(vals.size)
        for k, v in enumerate(vals):
            tp = server.time_of(v + emit, v + emit, 1)
            td = server.time_of(1, v + 1, 1)
            r = tp / td
            q = 0
            while q < sched.levels - 1 and sched.quantum * 2.0**q < r:
                q += 1
            lev[k] = q
        aux[:] = lev[np.searchsorted(vals, lp)]
    elif isinstance(sched, WAIT) and not sched.nested:
        aux[:] = np.searchsorted(np.asarray(sched.bounds, float), lo, side="left")
    return aux


class _Rep:
    """Arrays of one replication (inputs, outputs and kernel state)."""

    def __init__(self, n, maxb, bsz, ntrace):
        self.first = np.empty(n)
        self.done = np.empty(n)
        self.ri = np.zeros((K.NRI, n), np.int64)
        self.rk = np.zeros(n)
        self.wk = np.zeros(n)
        self.wi = np.zeros(n, np.int64)
        self.si = np.zeros((K.NSI, maxb), np.int64)
        self.sk = np.zeros((K.NSK, maxb))
        self.cnt = np.zeros(bsz, np.int64)
        self.hs = np.zeros(4, np.int64)
        self.paused = np.zeros(n, np.int64)
        self.trace = np.zeros((4, max(ntrace, 1)))
        self.stats = np.zeros(K.NST)


def prepare_replication(workload, server, scheduler, requests, seed, rep, step=False,
                        trace_points=0, warmup=0):
    """Everything :func:`qtheory.llm.sim.kernel.run` needs for one replication (a dict).

    Used by :func:`simulate` and by the reference implementation in the tests.
    """
    sched = get_scheduler(scheduler)
    n = requests
    arr, lp, lo, yp = draw_requests(workload, n, seed, rep)
    bsz = server.block_size
    cap = server.kv_blocks if server.kv_blocks is not None else _UNLIMITED
    budget = server.token_budget if server.token_budget is not None else _UNLIMITED
    maxb = min(server.max_batch, budget)
    code, prm = _time_params(server)
    cfg_i = np.zeros(K.NCI, np.int64)
    cfg_i[K.CI_N] = n
    cfg_i[K.CI_B] = bsz
    cfg_i[K.CI_CAP] = cap
    cfg_i[K.CI_MAXB] = maxb
    cfg_i[K.CI_BUDGET] = budget
    cfg_i[K.CI_CHUNK] = 1 if server.chunked_prefill else 0
    cfg_i[K.CI_EMIT] = 1 if server.prefill_emits_token else 0
    cfg_i[K.CI_MODE] = _MODES[server.preemption]
    pol, sprm = sched.params()
    cfg_i[K.CI_POL] = pol
    cfg_i[K.CI_STEP] = 1 if step or _user_time(server) is not None else 0
    enc = encode_prediction(workload.prediction)
    if enc is None and getattr(sched, "refine_every", None):
        raise NotImplementedError(
            f"refine_every: refined predictions are drawn in the kernel and need an "
            f"in-kernel prediction model (exact, exponential, uniform, lognormal, interval); "
            f"got {workload.prediction!r}")
    ncode, nprm = (enc[0], np.ascontiguousarray(enc[1], float)) if enc else (0, np.zeros(1))
    cfg_i[K.CI_NCODE] = ncode
    cfg_i[K.CI_NTRACE] = trace_points
    cfg_i[K.CI_WARM] = warmup
    cfg_i[K.CI_SWAPOK] = 1 if server.swap_bandwidth is not None else 0
    cfg_f = np.zeros(K.NCF)
    cfg_f[K.CF_P0], cfg_f[K.CF_P1], cfg_f[K.CF_P2] = prm
    cfg_f[K.CF_TCODE] = code
    cfg_f[K.CF_COMP] = server.kv_compression.time_per_token if server.kv_compression else 0.0
    cfg_f[K.CF_BW] = server.swap_bandwidth if server.swap_bandwidth is not None else 1.0
    horizon = float(arr[-1]) if arr[-1] > 0 else 1.0
    cfg_f[K.CF_TRDT] = horizon / max(trace_points, 1)
    nkey = np.uint64(stream_key(np.uint64(seed % 2**64), np.uint64(rep),
                                np.uint64(STREAM_REFINE)))
    aux = _aux(workload, server, sched, lp, lo)
    return {"user_time": _user_time(server), "cfg_i": cfg_i, "cfg_f": cfg_f,
            "sprm": np.ascontiguousarray(sprm, float),
            "nprm": nprm, "nkey": nkey, "arr": arr, "lp": lp, "lo": lo, "yp": yp,
            "aux": aux, "sched": sched, "maxb": maxb, "bsz": bsz}


def _run_one(prep, trace_points):
    n = prep["arr"].size
    st = _Rep(n, prep["maxb"], prep["bsz"], trace_points)
    user = prep.get("user_time")
    if user is None:
        kern, cfg_f = K.run, prep["cfg_f"]
    else:
        from .user_time import kernel_for

        kern, cfg_f = kernel_for(user), prep["cfg_f"].copy()
    status = kern(prep["cfg_i"], cfg_f, prep["sprm"], prep["nprm"], prep["nkey"],
                  prep["arr"], prep["lp"], prep["lo"], prep["yp"], prep["aux"].copy(),
                  st.first, st.done, st.ri, st.rk, st.wk, st.wi, st.si, st.sk, st.cnt, st.hs,
                  st.paused, st.trace, st.stats)
    if cfg_f[K.CF_ERR] != 0.0:
        raise ValueError(
            f"iteration_time returned a value that is not a finite positive number for "
            f"batch_tokens={cfg_f[K.CF_ERR_BT]:g}, kv_tokens={cfg_f[K.CF_ERR_KV]:g}, "
            f"batch_size={cfg_f[K.CF_ERR_BS]:g}")
    if status != 0:
        raise RuntimeError("the LLM simulation kernel reached a state where no request can "
                           "run (please report this as a bug)")
    return st


def _check_wait(workload, server, sched) -> None:
    """Warn when WAIT's cohorts cannot keep up with a type's arrivals even with every
    type backlogged (fluid model of :func:`qtheory.llm.wait_thresholds`)."""
    if not isinstance(sched, WAIT) or sched.nested or not isinstance(
            server.iteration_time, (LinearTime, UnitTime)):
        return
    from ..analytic.fluid import _linear_params
    from ..analytic.wait import wait_thresholds

    try:
        d = wait_thresholds(workload, server, sched.bounds)
    except ValueError:  # unstable fluid model or an empty type: nothing to compare
        return
    n = sched.thresholds
    comp = server.kv_compression.time_per_token if server.kv_compression else 0.0
    d0, d1 = _linear_params(server)
    # a backlogged type j admits n_j per iteration, and its own saturated pipeline (n_j
    # requests in each of its stages) makes every iteration last at least tau_j
    for j, (nj, lj, a, p) in enumerate(zip(n, d.arrival_rates, d.areas, d.batch_tokens)):
        tau_j = d0 + nj * (d1 * a + comp * p)
        if nj <= lj * tau_j:
            warnings.warn(
                f"{sched.name}: cohorts of {nj} type-{j} requests per iteration complete "
                f"at most {nj / tau_j:.4g} of them per unit time, not more than their "
                f"arrival rate {lj:.4g}: in the fluid model the queue cannot be stable "
                f"(the least thresholds that keep up are {d.thresholds}; see "
                "llm.wait_thresholds)", RuntimeWarning, stacklevel=3)
            return


def _backlog(arr, done, t0, t1, points=200):
    ts = np.linspace(t0, t1, points)
    d = np.sort(done)
    num = np.searchsorted(arr, ts, side="right") - np.searchsorted(d, ts, side="right")
    return ts, num.astype(float)


def _token_backlog_quarters(arr, done, lo, t1, points=400):
    """Mean outstanding output tokens (of requests arrived and not completed) over the
    second and the last quarter of ``[0, t1]``."""
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


def simulate(workload: Workload, server: Server, scheduler="fcfs", requests: int = 100_000,
             seed=0, replications: int = 4, warmup: int | None = None,
             backend: str = "cpu", level: float = 0.95, records: bool = False,
             trace_points: int = 0, workers: int | None = None, batches: int = 32,
             step: bool = False) -> LLMResult:
    """Simulate an LLM server at the token level and measure latency and throughput.

    Parameters
    ----------
    workload : Workload
        Arrivals, prompt and output lengths, prediction model.
    server : Server
        Batch and token limits, KV memory, iteration time, preemption mode.
        ``server.check(workload)`` is called first.
    scheduler : str or Scheduler
        A :mod:`qtheory.llm.schedulers` instance or name (``"fcfs"``, ``"sjf"``, ...).
    requests : int
        Requests per replication (warm-up included); at most the trace length for a
        trace workload.
    seed : int or numpy.random.Generator
        Same seed, same numbers.
    replications : int
        Independent replications (one: batch-means confidence intervals).
    warmup : int, optional
        Requests (by arrival) excluded from the statistics; default ``requests // 10``.
    backend : {"cpu", "gpu"}
        ``"gpu"``: one replication per CUDA thread (:mod:`qtheory.llm.sim.gpu`), the
        same requests and the same kernel source as ``"cpu"``; raises
        :class:`~qtheory.sim.kernels.gpu.GPUUnavailableError` (a
        ``NotImplementedError``) without a CUDA GPU or Numba's CUDA simulator.
    level : float
        Confidence level.
    records : bool
        Keep per-request arrays (see :class:`LLMResult`).
    trace_points : int
        Sample the KV occupancy at this many equally spaced times (replication 0).
    workers : int, optional
        Threads of the CPU backend (default: all cores); does not change the numbers.
    batches : int
        Batches for batch means when ``replications == 1``.
    step : bool
        Execute one iteration at a time instead of jumping between events (for checks;
        gives the same numbers, slower).

    Returns
    -------
    LLMResult

    Notes
    -----
    Stability heuristic (conservative: either signal flags the run, with a
    ``RuntimeWarning``). *Tokens:* ``W(t)``, the output tokens of the requests in
    system (arrived, not completed), is averaged over the second and the last quarter
    of the arrival window (``W2``, ``W4``; mean over replications); the signal is
    ``W4 - W2 > W2 / 2 + 4 sqrt((W2 + E[O]) E[O^2] / E[O])``: an overloaded queue's
    backlog grows linearly from the start, so ``W4 / W2`` tends to ``7 / 3``, while a
    stationary one's fluctuates around its mean (the square root is the scale of the
    fluctuations of a sum of ``W2 / E[O]`` output lengths). This catches a size-based
    scheduler that completes the short requests and lets the long ones pile up (its
    number in system grows slowly, its work at the fluid rate). *Requests:* the number
    in system, fitted by least squares over the second half of the arrival window
    (``backlog_slope``, the fluid rate ``lambda - mu_max`` for FCFS-like order), grows
    by more than ``max(20, 4 sqrt(mean number + 1))`` over that half; this catches a
    collapse late in the run (memory thrashing). Near saturation a finite run is not
    stationary and may be flagged either way.

    Examples
    --------
    >>> from qtheory import llm
    >>> w = llm.preset("alpaca", arrival_rate=0.1)
    >>> s = llm.Server(max_batch=16, kv_capacity_tokens=16384, block_size=16)
    >>> r = llm.simulate(w, s, "fcfs", requests=2000, replications=2, seed=1)
    >>> r.kv_max_blocks <= s.kv_blocks, r.stable
    (True, True)
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a qtheory.llm.Workload, got {workload!r}")
    if not isinstance(server, Server):
        raise TypeError(f"server must be a qtheory.llm.Server, got {server!r}")
    sched = get_scheduler(scheduler)
    requests = _check_int("requests", requests, 2)
    replications = _check_int("replications", replications, 1)
    batches = _check_int("batches", batches, 2)
    trace_points = _check_int("trace_points", trace_points, 0)
    warmup = requests // 10 if warmup is None else _check_int("warmup", warmup, 0)
    if warmup >= requests:
        raise ValueError(f"warmup must be < requests ({requests}), got {warmup}")
    if not (isinstance(level, numbers.Real) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    limit = None
    if isinstance(workload.arrivals, TraceArrivals):
        limit = workload.arrivals.times.size
    elif workload.pairs is not None:
        limit = workload.pairs[0].size
    if limit is not None and requests > limit:
        raise ValueError(f"requests={requests} is more than the trace's {limit} requests")
    server.check(workload)
    _check_wait(workload, server, sched)
    if backend == "gpu" and _user_time(server) is not None:
        raise NotImplementedError(
            "backend='gpu' with a callable iteration_time: the GPU kernel supports "
            "LinearTime, StaircaseTime and UnitTime; use backend='cpu'")
    if backend == "gpu":
        from ...sim.kernels.gpu import _cuda

        _cuda()  # GPUUnavailableError (a NotImplementedError) without a GPU, early
    seed_int = _seed_of(seed)
    preps = [prepare_replication(workload, server, sched, requests, seed_int, r, step,
                                 trace_points if r == 0 else 0, warmup)
             for r in range(replications)]
    t0 = time.perf_counter()
    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(int(nw), replications))
    if backend == "gpu":
        from . import gpu

        reps = gpu.run_replications(preps, trace_points)
    elif nw == 1:
        reps = [_run_one(p, trace_points) for p in preps]
    else:
        _run_one(prepare_replication(workload, server, sched, 2, seed_int, 0), 0)  # compile
        with ThreadPoolExecutor(max_workers=nw) as ex:
            reps = list(ex.map(lambda p: _run_one(p, trace_points), preps))
    elapsed = time.perf_counter() - t0
    return _collect(workload, server, sched, preps, reps, warmup, level, batches, records,
                    trace_points, seed_int, elapsed, backend)


def _collect(workload, server, sched, preps, reps, warmup, level, batches, records,
             trace_points, seed, elapsed, backend="cpu") -> LLMResult:
    nrep = len(reps)
    n = preps[0]["arr"].size
    m = slice(warmup, n)
    lat_m, ttft_m, tbt_m, thr, tthr, num, slopes, ends = [], [], [], [], [], [], [], []
    quarters = []
    lat_all, ttft_all, tbt_all = [], [], []
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
        if span > 0:
            thr.append(inw.sum() / span)
            tthr.append(lo[inw].sum() / span)
            num.append(_area_in_system(arr, st.done, t0, t1) / span)
        else:
            thr.append(math.nan)
            tthr.append(math.nan)
            num.append(math.nan)
        quarters.append(_token_backlog_quarters(arr, st.done, lo, t1))
        ts, nb = _backlog(arr, st.done, 0.0, t1)
        half = ts >= 0.5 * t1
        slopes.append(float(np.polyfit(ts[half], nb[half], 1)[0]) if half.sum() > 2 else 0.0)
        ends.append(float(nb[-1]))
    if nrep >= 2:
        method = "replications"
        ml, mt, mb = lat_m, ttft_m, tbt_m
    else:
        method = "batch means"
        ml, mt, mb = batch_lat, batch_ttft, batch_tbt
    lat_e = Estimate.from_means(ml, np.concatenate(lat_all), level)
    ttft_e = Estimate.from_means(mt, np.concatenate(ttft_all), level)
    tbt_e = Estimate.from_means(mb, np.concatenate(tbt_all), level)
    thr_e = Estimate.from_means(thr, None, level)
    tthr_e = Estimate.from_means(tthr, None, level)
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
    notes = []
    if not stable:
        notes.append("the backlog grows over the run: means are not stationary estimates")
        warnings.warn(f"{sched.name}: the outstanding output tokens go from {w2:.4g} "
                      f"(second quarter of the run) to {w4:.4g} (last quarter), the number "
                      f"in system grows by about {slope:.4g} requests per unit time: the "
                      "run looks unstable", RuntimeWarning, stacklevel=3)
    kv_trace = None
    if trace_points > 0:
        tr = reps[0].trace
        kv_trace = {"time": tr[0].copy(), "kv_tokens": tr[1].copy(),
                    "kv_blocks": tr[2].copy(), "in_system": tr[3].copy()}
    rec = None
    if records:
        rec = {"arrival": np.stack([p["arr"] for p in preps]),
               "prompt": np.stack([p["lp"] for p in preps]),
               "output": np.stack([p["lo"] for p in preps]),
               "prediction": np.stack([p["yp"] for p in preps]),
               "first_token": np.stack([st.first for st in reps]),
               "completion": np.stack([st.done for st in reps]),
               "preemptions": np.stack([st.ri[K.R_NPRE] for st in reps])}
    span = S[:, K.ST_W1T] - S[:, K.ST_W0T]
    whole = S[:, K.ST_AREA_KV] / np.maximum(S[:, K.ST_T], 1e-300)
    area = np.where(span > 0, (S[:, K.ST_W1A] - S[:, K.ST_W0A]) / np.where(span > 0, span, 1.0),
                    whole)
    return LLMResult(
        scheduler=sched.name, latency=lat_e, ttft=ttft_e, tbt=tbt_e, throughput=thr_e,
        token_throughput=tthr_e, mean_number=mean_num,
        kv_mean_tokens=float(np.mean(area)), kv_mean_tokens_run=float(np.mean(whole)),
        kv_max_blocks=int(S[:, K.ST_MAXBLK].max()),
        kv_max_tokens=int(S[:, K.ST_MAXTOK].max()), kv_capacity_blocks=server.kv_blocks,
        preemptions=int(S[:, K.ST_PREEMPT].sum()), evictions=int(S[:, K.ST_EVICT].sum()),
        priority_preemptions=int(S[:, K.ST_PRIO].sum()),
        recomputed_tokens=int(S[:, K.ST_RECOMP].sum()),
        swapped_tokens=int(S[:, K.ST_SWAPTOK].sum()), backlog_slope=slope,
        backlog_end=float(np.mean(ends)), stable=stable, requests=n, warmup=warmup,
        replications=nrep, ci_method=method, arrival_rate=float(workload.arrival_rate),
        iterations=float(S[:, K.ST_ITERS].mean()), seed=seed, level=float(level),
        elapsed=elapsed, backend=backend, kv_trace=kv_trace, records=rec, notes=tuple(notes))
