"""Benchmark of the Monte Carlo engine: jobs per second per policy, against Ciw and SimPy.

Measures, in one run on one machine:

* qtheory's CPU kernels: jobs per second for every policy, one replication on one
  core (``workers=1``; best of ``--repeat`` runs, both wall-clock and the thread's CPU
  time, which a machine shared with other jobs leaves less noisy) and one replication
  per core on all cores;
* Ciw and SimPy running the same M/M/1 FCFS model and a two-class non-preemptive
  priority model (rho = 0.8), timed the same two ways, and the speed-up of qtheory
  over each (qtheory's FCFS or Priority-NP on one core against the library, same run).

Ciw and SimPy are not dependencies of qtheory; install them for this script only
(``python -m pip install ciw simpy``). Writes ``results_sim.md`` next to this file
(``--out``), with the load average of the machine before and after the run.

Usage::

    python validation/bench/bench_sim.py [--jobs 5000000] [--baseline-jobs 50000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.sim import simulate

P = qt.policies
POLICIES = [P.FCFS(), P.PS(), P.FB(), P.SJF(), P.PSJF(), P.SRPT(), P.SPJF(), P.PSPJF(),
            P.SPRPT(), P.TRAIL(c=0.8), P.Priority(probs=(0.5, 0.5), preemptive=True),
            P.Priority(probs=(0.5, 0.5), preemptive=False),
            P.OneBit(threshold=1.0, preemptive=True),
            P.Buckets(thresholds=(0.5, 2.0), preemptive=True), P.SRPTBounce(),
            P.SkipPredict(threshold=1.0, cheap_cost=0.05, expensive_cost=0.1,
                          cost_model="server"),
            P.DelayPredict(limit=1.0, expensive_cost=0.1, cost_model="server")]
LOAD = 0.8


def _queue():
    return qt.MG1(load=LOAD, size=qt.Exponential(mean=1.0),
                  prediction=qt.ExponentialPrediction())


def _timed(fn):
    """(wall seconds, thread CPU seconds, result) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w0, time.thread_time() - c0, out


def bench_qtheory(jobs: int, cores: int, repeat: int, all_cores: bool):
    q = _queue()
    rows = []
    for pol in POLICIES:
        try:
            simulate(q, pol, jobs=1000, replications=1, seed=0)  # compile / load cache
        except (NotImplementedError, ValueError) as e:  # an older qtheory
            print(f"{pol.name:42s} skipped: {e}")
            continue
        wall, cpu = [], []
        for _ in range(repeat):
            w, c, _ = _timed(lambda p=pol: simulate(q, p, jobs=jobs, replications=1, seed=1,
                                                    warmup=0, workers=1))
            wall.append(w)
            cpu.append(c)
        one, one_cpu = jobs / min(wall), jobs / min(cpu)
        allc = float("nan")
        if all_cores:
            w, _, _ = _timed(lambda p=pol: simulate(q, p, jobs=jobs, replications=cores,
                                                    seed=1, warmup=0, workers=cores))
            allc = cores * jobs / w
        rows.append((pol.name, one, one_cpu, allc))
        print(f"{pol.name:42s} {one / 1e6:7.2f} M jobs/s wall  {one_cpu / 1e6:7.2f} cpu  "
              f"{allc / 1e6:7.2f} all cores", flush=True)
    return rows


def bench_ciw(jobs: int, priority: bool):
    import ciw

    lam = LOAD
    if priority:
        net = ciw.create_network(
            arrival_distributions={"Class 0": [ciw.dists.Exponential(rate=lam / 2)],
                                   "Class 1": [ciw.dists.Exponential(rate=lam / 2)]},
            service_distributions={"Class 0": [ciw.dists.Exponential(rate=1.0)],
                                   "Class 1": [ciw.dists.Exponential(rate=1.0)]},
            priority_classes={"Class 0": 0, "Class 1": 1},
            number_of_servers=[1])
    else:
        net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(rate=lam)],
                                 service_distributions=[ciw.dists.Exponential(rate=1.0)],
                                 number_of_servers=[1])
    ciw.seed(1)
    sim = ciw.Simulation(net)
    wall, cpu, _ = _timed(lambda: sim.simulate_until_max_time(jobs / lam))
    recs = sim.get_all_records()
    return (len(recs) / wall, len(recs) / cpu,
            float(np.mean([r.exit_date - r.arrival_date for r in recs])))


def bench_simpy(jobs: int, priority: bool):
    import simpy

    rng = random.Random(1)
    env = simpy.Environment()
    server = simpy.PriorityResource(env, capacity=1) if priority else simpy.Resource(env, 1)
    out = []

    def job(cls):
        arr = env.now
        req = server.request(priority=cls) if priority else server.request()
        with req:
            yield req
            yield env.timeout(rng.expovariate(1.0))
        out.append(env.now - arr)

    def source():
        for _ in range(jobs):
            yield env.timeout(rng.expovariate(LOAD))
            env.process(job(rng.randrange(2)))

    env.process(source())
    wall, cpu, _ = _timed(env.run)
    return len(out) / wall, len(out) / cpu, float(np.mean(out))


def _load() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5_000_000)
    ap.add_argument("--baseline-jobs", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3, help="one-core runs per policy (best)")
    ap.add_argument("--no-all-cores", action="store_true", help="skip the all-cores column")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_sim.md")))
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    load_before = _load()
    rows = bench_qtheory(args.jobs, cores, args.repeat, not args.no_all_cores)
    by_name = {r[0]: r for r in rows}
    base = []
    for lib, fn in (("Ciw", bench_ciw), ("SimPy", bench_simpy)):
        for prio in (False, True):
            try:
                rate, rate_cpu, mean = fn(args.baseline_jobs, prio)
            except ImportError:
                print(f"{lib} not installed: skipped")
                continue
            ours = by_name["Priority-NP" if prio else "FCFS"]
            model = "2-class priority (NP)" if prio else "M/M/1 FCFS"
            base.append((lib, model, rate, rate_cpu, mean, ours[1] / rate, ours[2] / rate_cpu))
            print(f"{lib:6s} {model:22s} {rate / 1e3:8.1f} k jobs/s  E[T]={mean:.3f}  "
                  f"qtheory x{ours[1] / rate:,.0f} (wall)  x{ours[2] / rate_cpu:,.0f} (cpu)")
    load_after = _load()
    lines = [
        "# Monte Carlo engine: throughput",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {cores} cores; "
        f"Python {platform.python_version()}; M/M/1 with exponential predictions at "
        f"rho = {LOAD}; {args.jobs:,} jobs per replication (Numba kernels already compiled). "
        f"Load average (1/5/15 min) before the run {load_before}, after {load_after}.",
        f"Generated by `python validation/bench/bench_sim.py --jobs {args.jobs}`. One core: "
        f"best of {args.repeat} runs, by the wall clock and by the thread's CPU time (on a "
        "shared machine the CPU time is the steadier measure of the code's speed).",
        "",
        "| policy | M jobs/s, 1 core (wall) | M jobs/s, 1 core (CPU time) | "
        "M jobs/s, all cores (wall) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {n} | {a / 1e6:.2f} | {c / 1e6:.2f} | {b / 1e6:.2f} |" for n, a, c, b in rows]
    if base:
        lines += ["", "## Against Ciw and SimPy (same model, same run, one core)", "",
                  f"{args.baseline_jobs:,} jobs each; qtheory's FCFS (or Priority-NP) on one "
                  "core against the library, by wall clock and by CPU time.", "",
                  "| library | model | k jobs/s (wall) | k jobs/s (CPU) | E[T] | "
                  "qtheory speed-up (wall) | (CPU) |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {lib} | {m} | {r / 1e3:.1f} | {rc / 1e3:.1f} | {e:.3f} | {x:,.0f}x | "
                  f"{xc:,.0f}x |" for lib, m, r, rc, e, x, xc in base]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
