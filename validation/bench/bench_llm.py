"""Benchmark of the token-level LLM serving simulator (qtheory.llm.simulate).

Measures, in one run on one machine:

* qtheory's Numba kernel: seconds for ``--requests`` (default 1,000,000) ShareGPT-like
  requests (``llm.preset("sharegpt")``: log-normal prompt / output lengths with the
  vLLM paper's means 161.31 / 337.99 tokens), ``max_batch=256``, a KV cache of 65,536
  tokens in 16-token blocks (memory binds: about 190 requests of mean size fit), linear
  iteration time ``10 + 1e-4 * KV tokens`` (ms), recompute preemption, arrival rate
  ``--rate`` (default 0.018 per ms, about 90% of the memory-bound capacity), for every
  scheduler; one replication, one core (thread CPU time and wall clock); request
  drawing and kernel timed separately; compile (or cache load) time measured first;
* a straightforward SimPy implementation of the same model (FCFS, newest-first
  recompute eviction, same requests) on ``--simpy-requests`` requests: per-request
  rates compared, and its completion times checked against qtheory's job for job.

SimPy is not a dependency of qtheory (``python -m pip install simpy``). Writes
``results_llm.md`` next to this file.

Usage::

    python validation/bench/bench_llm.py [--requests 1000000] [--simpy-requests 3000]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from qtheory import llm
from qtheory.llm.sim.driver import _run_one, prepare_replication

SCHEDULERS = [llm.FCFS(), llm.SJF(), llm.SPJF(), llm.SPRPT(), llm.SPRPT(refine_every=64),
              llm.TRAIL(c=0.5), llm.TRAIL(c=0.5, refine_every=64), llm.MLFQ(), llm.ALISE(),
              llm.FCFS(victim="lowest-priority"), llm.MCSF(),
              llm.WAIT(thresholds=(4, 2), bounds=(256,)),
              llm.WAIT(thresholds=(4, 2, 1), bounds=(128, 512), nested=True)]


def _server():
    return llm.Server(max_batch=256, kv_capacity_tokens=65536, block_size=16,
                      iteration_time=llm.LinearTime(10.0, 1e-4), preemption="recompute")


def _workload(rate):
    import qtheory as qt

    return llm.preset("sharegpt", arrival_rate=rate, prediction=qt.LognormalPrediction(0.5))


def _timed(fn):
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w0, time.thread_time() - c0, out


def simpy_run(prep, server):
    """The same model in SimPy: FCFS, newest-first recompute eviction, one iteration per
    SimPy timeout. Returns completion times."""
    import simpy

    arr, lp, lo = prep["arr"], prep["lp"], prep["lo"]
    n = arr.size
    B, cap = server.block_size, server.kv_blocks
    maxb = server.max_batch
    d0, d1 = server.iteration_time.d0, server.iteration_time.d1
    env = simpy.Environment()
    waiting: list[int] = []      # FCFS by index (kept sorted)
    running: list[int] = []
    g = np.zeros(n, np.int64)
    prefill = np.zeros(n, bool)
    done = np.full(n, math.nan)
    wake = [env.event()]

    def blocks(h):
        return -(-h // B)

    def arrivals():
        for i in range(n):
            yield env.timeout(arr[i] - env.now)
            waiting.append(i)
            if not wake[0].triggered:
                wake[0].succeed()

    def engine():
        ndone = 0
        while ndone < n:
            if not running and not waiting:
                wake[0] = env.event()
                yield wake[0]
                # arrivals are seen at the next iteration boundary (here: now)
            need = sum(blocks(lp[i] + g[i] + 1) for i in running)
            evicted = False
            while need > cap:
                v = max(running)
                running.remove(v)
                need -= blocks(lp[v] + g[v] + 1)
                waiting.append(v)
                waiting.sort()
                evicted = True
            if not evicted:
                while waiting and len(running) < maxb:
                    w = waiting[0]
                    nb = blocks(lp[w] + g[w] + 1)
                    if need + nb > cap:
                        break
                    waiting.pop(0)
                    running.append(w)
                    prefill[w] = True
                    need += nb
            if not running:
                wake[0] = env.event()
                yield wake[0]
                continue
            kv = sum(lp[i] + g[i] + 1 for i in running)
            yield env.timeout(d0 + d1 * kv)
            for i in list(running):
                prefill[i] = False
                g[i] += 1
                if g[i] >= lo[i]:
                    done[i] = env.now
                    running.remove(i)
                    ndone += 1

    env.process(arrivals())
    env.process(engine())
    env.run()
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--simpy-requests", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=0.018)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_llm.md")))
    a = ap.parse_args()
    load0 = os.getloadavg()
    w, s = _workload(a.rate), _server()
    rows = []
    for sched in SCHEDULERS:
        comp, _, _ = _timed(lambda sc=sched: _run_one(
            prepare_replication(w, s, sc, 100, 1, 0), 0))
        best = None
        for _ in range(a.repeat):
            tp, _, prep = _timed(lambda sc=sched: prepare_replication(w, s, sc, a.requests,
                                                                      1, 0))
            tw, tc, st = _timed(lambda p=prep: _run_one(p, 0))
            if best is None or tc < best[2]:
                best = (tp, tw, tc, prep, st)
        tp, tw, tc, prep, st = best
        lat = float(np.mean(st.done - prep["arr"]))
        rows.append((sched.name, comp, tp, tw, tc, lat, st.stats[1], st.stats[8],
                     st.stats[4], st.stats[3]))
        print(f"{sched.name:28s} compile/load {comp:6.2f}s draw {tp:5.2f}s kernel "
              f"{tw:6.2f}s wall {tc:6.2f}s CPU  E[latency] {lat:10.1f}  preemptions "
              f"{st.stats[4]:.0f}", flush=True)
    # SimPy comparison
    simpy_rows = []
    try:
        import simpy  # noqa: F401

        m = a.simpy_requests
        prep = prepare_replication(w, s, llm.FCFS(), m, 1, 0)
        tw_s, tc_s, done_s = _timed(lambda: simpy_run(prep, s))
        tw_q, tc_q, st = _timed(lambda: _run_one(prep, 0))
        err = float(np.max(np.abs(done_s - st.done) / st.done))
        simpy_rows.append((m, tw_s, tc_s, tw_q, tc_q, err))
        print(f"SimPy {m} requests: {tc_s:.2f}s CPU ({m / tc_s:.0f} req/s); qtheory "
              f"{m / max(tc_q, 1e-9):.0f} req/s; max rel. difference {err:.1e}")
    except ImportError:
        print("simpy not installed: comparison skipped")
    load1 = os.getloadavg()
    _write(a, rows, simpy_rows, load0, load1)


def _write(a, rows, simpy_rows, load0, load1):
    lines = ["# LLM serving simulator: speed", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python "
             f"{platform.python_version()}. Load average (1/5/15 min) before "
             f"{'/'.join(f'{x:.2f}' for x in load0)}, after "
             f"{'/'.join(f'{x:.2f}' for x in load1)}.",
             f"Generated by `python validation/bench/bench_llm.py --requests {a.requests}"
             f" --rate {a.rate}`.", "",
             f"Model: {a.requests:,} ShareGPT-like requests (preset 'sharegpt', log-normal "
             "predictions sigma = 0.5), max_batch 256, KV cache 65,536 tokens in 16-token "
             f"blocks, iteration time 10 + 1e-4 x KV tokens, recompute, rate {a.rate}. "
             "One replication on one core; best of "
             f"{a.repeat} by the thread's CPU time. 'draw' is drawing the requests "
             "(counter-based streams), 'kernel' the simulation; 'compile / load' is the "
             "first call (Numba cache load, or compilation on a fresh install).", "",
             "| scheduler | compile / load (s) | draw (s) | kernel wall (s) | kernel CPU (s) "
             "| E[latency] | iterations | events | preemptions | max blocks |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | "
                     f"{r[5]:.1f} | {r[6]:.3g} | {r[7]:.3g} | {r[8]:.0f} | {r[9]:.0f} |")
    if simpy_rows:
        m, tw_s, tc_s, tw_q, tc_q, err = simpy_rows[0]
        per_q = rows[0][4] / a.requests
        lines += ["", "## Against SimPy (same model, same requests, one core)", "",
                  f"SimPy, FCFS with newest-first recompute eviction, {m:,} requests: "
                  f"{tc_s:.2f} s CPU = {m / tc_s:,.0f} requests/s. qtheory on the same "
                  f"{m:,} requests: {tc_q * 1e3:.1f} ms; on {a.requests:,}: "
                  f"{1 / per_q:,.0f} requests/s, **{(tc_s / m) / per_q:,.0f}x** SimPy's "
                  f"per-request rate. Completion times agree job for job (max relative "
                  f"difference {err:.1e})."]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
