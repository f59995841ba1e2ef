"""The driver of the token-level LLM serving simulator: :func:`simulate`."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np

from ...sim._jit import jit
from ...sim.driver import _seed_of
from ...sim.sampling import encode_prediction
from ..schedulers import MLFQ, WAIT, get_scheduler
from ..server import LinearTime, Server, StaircaseTime, UnitTime
from ..workload import TraceArrivals, Workload
from . import kernel as K
from .draws import STREAM_REFINE, draw_requests_batch, stream_keys
from .result import PERCENTILES, Estimate, LLMResult

__all__ = ["simulate", "prepare_replication", "prepare_replications", "BACKENDS"]

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
    """The kernel's per-request auxiliary input (MLFQ entry level, WAIT type), of the shape
    of ``lp`` (one replication or a stack of them: element by element the same)."""
    aux = np.zeros(lp.shape)
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

    def __init__(self, n, maxb, bsz, ntrace, first=None, done=None, stats=None):
        # first, done, stats: optional rows of the stacked results to write into
        self.first = np.empty(n) if first is None else first
        self.done = np.empty(n) if done is None else done
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
        self.stats = np.zeros(K.NST) if stats is None else stats


def prepare_replication(workload, server, scheduler, requests, seed, rep, step=False,
                        trace_points=0, warmup=0):
    """Everything :func:`qtheory.llm.sim.kernel.run` needs for one replication (a dict).

    Used by the reference implementation in the tests (:func:`simulate` prepares all
    its replications at once with :func:`prepare_replications`, the same numbers).
    """
    return _row(prepare_replications(workload, server, scheduler, requests, seed, [rep],
                                     step, [trace_points], warmup), 0)


def prepare_replications(workload, server, scheduler, requests, seed, reps, step=False,
                         trace_points=0, warmup=0, workers=1) -> dict:
    """:func:`prepare_replication` of several replications at once, stacked.

    Parameters
    ----------
    workload, server, scheduler, requests, seed, step, warmup
        As for :func:`prepare_replication`.
    reps : sequence of int
        Replication numbers.
    trace_points : int or sequence of int
        KV trace points of each replication (one number: for all).
    workers : int
        Threads that draw the requests (the numbers do not depend on it).

    Returns
    -------
    dict
        The keys of :func:`prepare_replication`; ``cfg_i``, ``cfg_f``, ``nkey`` and the
        per-request arrays ``arr``, ``lp``, ``lo``, ``yp``, ``aux`` get a first axis of
        replications (row ``j`` is replication ``reps[j]``, bit for bit as
        :func:`prepare_replication` gives it), the others are shared.
    """
    sched = get_scheduler(scheduler)
    n = requests
    reps = np.asarray(reps, np.int64).reshape(-1)
    R = reps.size
    arr, lp, lo, yp = draw_requests_batch(workload, n, seed, reps, workers)
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
    cfg_i[K.CI_WARM] = warmup
    cfg_i[K.CI_SWAPOK] = 1 if server.swap_bandwidth is not None else 0
    cfg_i = np.repeat(cfg_i[None, :], R, axis=0)
    tp = np.broadcast_to(np.asarray(trace_points, np.int64), (R,))
    cfg_i[:, K.CI_NTRACE] = tp
    cfg_f = np.zeros(K.NCF)
    cfg_f[K.CF_P0], cfg_f[K.CF_P1], cfg_f[K.CF_P2] = prm
    cfg_f[K.CF_TCODE] = code
    cfg_f[K.CF_COMP] = server.kv_compression.time_per_token if server.kv_compression else 0.0
    cfg_f[K.CF_BW] = server.swap_bandwidth if server.swap_bandwidth is not None else 1.0
    cfg_f = np.repeat(cfg_f[None, :], R, axis=0)
    last = arr[:, -1]
    horizon = np.where(last > 0, last, 1.0)
    cfg_f[:, K.CF_TRDT] = horizon / np.maximum(tp, 1)
    nkey = stream_keys(seed, reps, STREAM_REFINE)
    aux = _aux(workload, server, sched, lp, lo)
    return {"user_time": _user_time(server), "cfg_i": cfg_i, "cfg_f": cfg_f,
            "sprm": np.ascontiguousarray(sprm, float),
            "nprm": nprm, "nkey": nkey, "arr": arr, "lp": lp, "lo": lo, "yp": yp,
            "aux": aux, "sched": sched, "maxb": maxb, "bsz": bsz}


_STACKED = ("cfg_i", "cfg_f", "nkey", "arr", "lp", "lo", "yp", "aux")


def _row(batch: dict, j: int) -> dict:
    """Replication ``j`` (row ``j``) of :func:`prepare_replications`, as
    :func:`prepare_replication` gives it (views of the rows)."""
    return {k: (v[j] if k in _STACKED else v) for k, v in batch.items()}


def _run_one(prep, trace_points, st=None):
    n = prep["arr"].size
    if st is None:
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


def _grid(t1: np.ndarray, points: int) -> np.ndarray:
    """``np.linspace(0.0, t1[r], points)`` for every row ``r`` (the same numbers, bit for
    bit: the same operations as NumPy's ``linspace`` with a scalar stop)."""
    div = points - 1
    k = np.arange(points, dtype=float)
    step = t1 / div
    ts = k[None, :] * step[:, None]
    zero = step == 0  # linspace's denormal branch, row by row
    if np.any(zero):
        ts[zero] = (k[None, :] / div) * t1[zero, None]
    ts += 0.0
    ts[:, -1] = t1
    return ts


@jit
def _grid_index(ts, inv, x):
    """The first ``j`` with ``x <= ts[j]`` (``ts.size`` if none) in the non-decreasing
    grid ``ts`` of spacing about ``1 / inv``: a guess from ``x * inv``, then corrected by
    comparisons with ``ts`` (exact whatever the guess)."""
    p = ts.size
    g = 0
    f = x * inv
    if f >= p:
        g = p
    elif f > 0.0:
        g = int(f)
    while g > 0 and x <= ts[g - 1]:
        g -= 1
    while g < p and not x <= ts[g]:
        g += 1
    return g


@jit
def _backlogs(arr, done, lo, ts_tok, inv_tok, ts_num, inv_num, tok, num):
    """Outstanding output tokens ``tok[r, j]`` at the times ``ts_tok[r, j]`` and number in
    system ``num[r, j]`` at the times ``ts_num[r, j]`` of replication ``r``: requests with
    ``arr <= t`` (arrived) less those with ``done <= t`` (completed), the counts
    ``np.searchsorted(sorted, t, side="right")`` of the per-replication code. ``tok`` and
    ``num`` must be zero; integer-valued sums, exact in doubles below ``2**53``."""
    R, n = arr.shape
    pt = ts_tok.shape[1]
    pn = ts_num.shape[1]
    for r in range(R):
        for i in range(n):
            w = float(lo[r, i])
            g = _grid_index(ts_tok[r], inv_tok[r], arr[r, i])
            if g < pt:
                tok[r, g] += w
            g = _grid_index(ts_tok[r], inv_tok[r], done[r, i])
            if g < pt:
                tok[r, g] -= w
            g = _grid_index(ts_num[r], inv_num[r], arr[r, i])
            if g < pn:
                num[r, g] += 1.0
            g = _grid_index(ts_num[r], inv_num[r], done[r, i])
            if g < pn:
                num[r, g] -= 1.0
        for j in range(1, pt):
            tok[r, j] += tok[r, j - 1]
        for j in range(1, pn):
            num[r, j] += num[r, j - 1]


def _inverse_step(ts: np.ndarray) -> np.ndarray:
    """``1 / spacing`` of each row of a grid from :func:`_grid` (0 where it is 0)."""
    step = ts[:, -1] / (ts.shape[1] - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / step
    return np.where(np.isfinite(inv), inv, 0.0)


def _masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row means of ``x`` over ``mask`` (NaN for an empty row)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mask, x, 0.0).sum(axis=1) / mask.sum(axis=1)


def _slopes(ts: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares slopes of ``y`` on ``ts`` over ``mask``, row by row: the centred
    closed form (``np.polyfit(ts[mask], y[mask], 1)[0]`` to rounding, about 1e-15
    relative; exactly 0.0 for a constant ``y``); 0.0 with 2 points or fewer, and
    ``np.polyfit`` itself where the closed form is degenerate (all times equal)."""
    m = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = np.where(mask, ts, 0.0).sum(axis=1) / m
        ym = np.where(mask, y, 0.0).sum(axis=1) / m
        dx = np.where(mask, ts - xm[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        out = (dx * np.where(mask, y - ym[:, None], 0.0)).sum(axis=1) / sxx
    out[m <= 2] = 0.0
    for r in np.flatnonzero((m > 2) & ~(np.isfinite(out) & (sxx > 0))):
        out[r] = float(np.polyfit(ts[r][mask[r]], y[r][mask[r]], 1)[0])
    return out


def _percentiles(values: np.ndarray) -> dict:
    """The percentiles of :meth:`Estimate.from_means` (computed apart, on a thread),
    reordering ``values`` in place (the same partition as on NumPy's copy)."""
    if not np.size(values):
        return {q: float("nan") for q in PERCENTILES}
    v = np.asarray(values, float)
    return {q: float(x) for q, x in zip(PERCENTILES, np.percentile(v, PERCENTILES,
                                                                   overwrite_input=True))}


def _estimate(means, pct: dict, level: float) -> Estimate:
    """``Estimate.from_means(means, values, level)`` with ``pct = _percentiles(values)``."""
    return dataclasses.replace(Estimate.from_means(means, None, level), percentiles=pct)


def _row_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Means of consecutive segments of ``values`` of lengths ``counts`` (NaN for an empty
    one), each the same number as ``segment.mean()``: segments of equal length are
    gathered into a 2-d array and averaged along its rows (NumPy's pairwise sum, row by
    row, as for a 1-d array)."""
    out = np.full(counts.size, np.nan)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for c in np.unique(counts):
        if c == 0:
            continue
        rows = np.flatnonzero(counts == c)
        out[rows] = values[starts[rows, None] + np.arange(c)].mean(axis=1)
    return out


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
    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(int(nw), replications))
    tps = np.zeros(replications, np.int64)
    tps[0] = trace_points
    batch = prepare_replications(workload, server, sched, requests, seed_int,
                                 np.arange(replications), step, tps, warmup, nw)
    t0 = time.perf_counter()
    if backend == "gpu":
        from . import gpu

        out = gpu.run_stacked(batch, trace_points, preemptions=records)
    else:
        if nw > 1:  # compile (or load) the kernel once, before the threads call it
            _run_one(prepare_replication(workload, server, sched, 2, seed_int, 0), 0)
        out = _run_rows(batch, nw, records)
    elapsed = time.perf_counter() - t0
    return _collect(workload, server, sched, batch, out, warmup, level, batches, records,
                    trace_points, seed_int, elapsed, backend, nw)


def _run_rows(batch: dict, nw: int, preemptions: bool) -> SimpleNamespace:
    """Run the stacked replications ``batch`` on ``nw`` threads (the CPU backend); their
    results stacked as :func:`qtheory.llm.sim.gpu.run_stacked` returns them."""
    R, n = batch["arr"].shape
    out = SimpleNamespace(first=np.empty((R, n)), done=np.empty((R, n)),
                          stats=np.zeros((R, K.NST)),
                          npre=np.zeros((R, n), np.int64) if preemptions else None,
                          trace=None)
    ntrace = batch["cfg_i"][:, K.CI_NTRACE]

    def one(j):
        tp = int(ntrace[j])
        st = _Rep(n, batch["maxb"], batch["bsz"], tp, out.first[j], out.done[j],
                  out.stats[j])
        _run_one(_row(batch, j), tp, st)
        if preemptions:
            out.npre[j] = st.ri[K.R_NPRE]
        if j == 0:
            out.trace = st.trace

    if nw == 1:
        for j in range(R):
            one(j)
        return out
    rows = iter(range(R))  # shared by the threads: next() is atomic under the GIL
    errors = {}

    def work():
        for j in rows:
            try:
                one(j)
            except Exception as e:  # noqa: BLE001 - re-raised below, lowest row first
                errors[j] = e
                return

    with ThreadPoolExecutor(max_workers=nw) as ex:
        for f in [ex.submit(work) for _ in range(nw)]:
            f.result()
    if errors:
        raise errors[min(errors)]
    return out


#: Rows of a block of :func:`_collect` (about ``2**17`` requests: its temporaries stay
#: in cache, and blocks can run on several threads).
_BLOCK_REQUESTS = 1 << 17


def _collect_block(arr, lo, first, done, warmup, per_row, lat_all, ttft_all):
    """The per-replication statistics of a block of rows of the stack (``arr``, ...,
    ``done``: views of those rows), written into the rows of ``per_row`` (a dict of 1-d
    arrays), ``lat_all`` and ``ttft_all``; returns the block's TBT values (row after
    row). Every number is computed from its own row only, as by the per-replication
    definitions (NumPy's row reductions give the sums of 1-d arrays, bit for bit)."""
    n = arr.shape[1]
    m = slice(warmup, n)
    lat = np.subtract(done[:, m], arr[:, m], out=lat_all)
    ttft = np.subtract(first[:, m], arr[:, m], out=ttft_all)
    per_row["lat"][:] = lat.mean(axis=1)
    per_row["ttft"][:] = ttft.mean(axis=1)
    lom = lo[:, m]
    ok = lom >= 2
    tbt = (done[:, m] - first[:, m])[ok] / (lom[ok] - 1)
    per_row["tbt"][:] = _row_means(tbt, ok.sum(axis=1))
    t0, t1 = arr[:, warmup], arr[:, -1]
    span = t1 - t0
    pos = span > 0
    c0, c1 = t0[:, None], t1[:, None]
    inw = (done >= c0) & (done <= c1)
    area = np.maximum(np.clip(done, c0, c1) - np.clip(arr, c0, c1), 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_row["thr"][:] = np.where(pos, inw.sum(axis=1) / span, math.nan)
        per_row["tthr"][:] = np.where(pos, np.where(inw, lo, 0).sum(axis=1) / span, math.nan)
        per_row["num"][:] = np.where(pos, area / span, math.nan)
    # backlogs on the grids of the per-replication definitions: np.linspace(0, t1, 400)
    # (output tokens) and np.linspace(0, t1, 200) (requests)
    ts_tok, ts_num = _grid(t1, 400), _grid(t1, 200)
    tok, nb = np.zeros(ts_tok.shape), np.zeros(ts_num.shape)
    _backlogs(arr, done, lo, ts_tok, _inverse_step(ts_tok), ts_num, _inverse_step(ts_num),
              tok, nb)
    # integer-valued tokens: these sums are exact, in any order
    per_row["w2"][:] = _masked_mean(tok, (ts_tok >= 0.25 * c1) & (ts_tok < 0.5 * c1))
    per_row["w4"][:] = _masked_mean(tok, ts_tok >= 0.75 * c1)
    # the closed-form slope differs from np.polyfit's by rounding only (about 1e-15
    # relative to the slopes' scale): the one value that is not the same bit for bit
    per_row["slope"][:] = _slopes(ts_num, nb, ts_num >= 0.5 * c1)
    per_row["end"][:] = nb[:, -1]
    return tbt


def _collect(workload, server, sched, batch, out, warmup, level, batches, records,
             trace_points, seed, elapsed, backend="cpu", workers=1) -> LLMResult:
    """The :class:`LLMResult` of stacked replications: ``batch`` from
    :func:`prepare_replications`, ``out`` from :func:`_run_rows` or
    :func:`qtheory.llm.sim.gpu.run_stacked`; computed for blocks of replications at once
    (:func:`_collect_block`), with the numbers of the per-replication definitions.
    ``workers`` threads share the blocks and the percentiles (the numbers do not depend
    on it)."""
    arr, lo, first, done = batch["arr"], batch["lo"], out.first, out.done
    nrep, n = arr.shape
    per_row = {k: np.empty(nrep) for k in ("lat", "ttft", "tbt", "thr", "tthr", "num", "w2",
                                          "w4", "slope", "end")}
    lat_all, ttft_all = np.empty((nrep, n - warmup)), np.empty((nrep, n - warmup))
    rows = max(1, _BLOCK_REQUESTS // n)
    edges = list(range(0, nrep, rows)) + [nrep]

    def block(a, b):
        return _collect_block(arr[a:b], lo[a:b], first[a:b], done[a:b], warmup,
                              {k: v[a:b] for k, v in per_row.items()}, lat_all[a:b],
                              ttft_all[a:b])

    nw = max(1, min(int(workers), len(edges) - 1))
    pool = ThreadPoolExecutor(max_workers=nw) if nw > 1 else None
    run = pool.map if pool is not None else map
    try:
        tbt_all = np.concatenate(list(run(block, edges[:-1], edges[1:])))
        if nrep >= 2:
            method = "replications"
            ml, mt, mb = per_row["lat"], per_row["ttft"], per_row["tbt"]
        else:
            method = "batch means"
            lat0, ttft0, tbt0 = lat_all[0], ttft_all[0], tbt_all
            e = np.linspace(0, lat0.size, batches + 1).astype(int)
            ml = [lat0[a:b].mean() for a, b in zip(e[:-1], e[1:]) if b > a]
            mt = [ttft0[a:b].mean() for a, b in zip(e[:-1], e[1:]) if b > a]
            bt_idx = np.flatnonzero(lo[0, warmup:] >= 2)
            mb = [tbt0[(bt_idx >= a) & (bt_idx < b)].mean()
                  for a, b in zip(e[:-1], e[1:])
                  if np.any((bt_idx >= a) & (bt_idx < b))]
        # the values are no longer needed: the percentiles may reorder them in place
        pcts = list(run(_percentiles, (lat_all, ttft_all, tbt_all)))
    finally:
        if pool is not None:
            pool.shutdown()
    lat_e, ttft_e, tbt_e = (_estimate(v, p, level) for v, p in zip((ml, mt, mb), pcts))
    thr_e = Estimate.from_means(per_row["thr"], None, level)
    tthr_e = Estimate.from_means(per_row["tthr"], None, level)
    S = out.stats
    slope = float(np.mean(per_row["slope"]))
    mean_num = float(np.nanmean(per_row["num"]))
    w2, w4 = (float(v) for v in np.mean(np.stack([per_row["w2"], per_row["w4"]], axis=1),
                                        axis=0))
    lo_all = lo[0].astype(float)
    eo, eo2 = float(lo_all.mean()), float(np.mean(lo_all**2))
    tokens_ok = w4 - w2 <= 0.5 * w2 + 4.0 * math.sqrt((w2 + eo) * eo2 / eo)
    t1_mean = float(np.mean(np.ascontiguousarray(arr[:, -1])))
    count_ok = slope * 0.5 * t1_mean <= max(20.0, 4.0 * math.sqrt(max(mean_num, 0.0) + 1.0))
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
        tr = out.trace
        kv_trace = {"time": tr[0].copy(), "kv_tokens": tr[1].copy(),
                    "kv_blocks": tr[2].copy(), "in_system": tr[3].copy()}
    rec = None
    if records:
        rec = {"arrival": arr.copy(), "prompt": batch["lp"].copy(), "output": lo.copy(),
               "prediction": batch["yp"].copy(), "first_token": first.copy(),
               "completion": done.copy(), "preemptions": out.npre.copy()}
    return LLMResult(
        scheduler=sched.name, latency=lat_e, ttft=ttft_e, tbt=tbt_e, throughput=thr_e,
        token_throughput=tthr_e, mean_number=mean_num, **_counter_fields(S, server),
        backlog_slope=slope, backlog_end=float(np.mean(per_row["end"])), stable=stable,
        requests=n, warmup=warmup, replications=nrep, ci_method=method,
        arrival_rate=float(workload.arrival_rate), seed=seed, level=float(level),
        elapsed=elapsed, backend=backend, kv_trace=kv_trace, records=rec, notes=tuple(notes))


def _counter_fields(S: np.ndarray, server: Server) -> dict:
    """The result fields that come from the kernels' counters ``S`` (one row per
    replication): KV occupancy and extremes, preemptions and their tokens, iterations."""
    span = S[:, K.ST_W1T] - S[:, K.ST_W0T]
    whole = S[:, K.ST_AREA_KV] / np.maximum(S[:, K.ST_T], 1e-300)
    area = np.where(span > 0, (S[:, K.ST_W1A] - S[:, K.ST_W0A]) / np.where(span > 0, span, 1.0),
                    whole)
    return dict(
        kv_mean_tokens=float(np.mean(area)), kv_mean_tokens_run=float(np.mean(whole)),
        kv_max_blocks=int(S[:, K.ST_MAXBLK].max()),
        kv_max_tokens=int(S[:, K.ST_MAXTOK].max()), kv_capacity_blocks=server.kv_blocks,
        preemptions=int(S[:, K.ST_PREEMPT].sum()), evictions=int(S[:, K.ST_EVICT].sum()),
        priority_preemptions=int(S[:, K.ST_PRIO].sum()),
        recomputed_tokens=int(S[:, K.ST_RECOMP].sum()),
        swapped_tokens=int(S[:, K.ST_SWAPTOK].sum()),
        iterations=float(S[:, K.ST_ITERS].mean()))
