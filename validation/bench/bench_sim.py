"""Benchmark of the Monte Carlo engine: jobs per second per policy, against Ciw and SimPy.

Measures, in one run on one machine:

* qtheory's CPU kernels: jobs per second for every policy, one replication on one
  core (``workers=1``) and one replication per core on all cores;
* Ciw and SimPy running the same M/M/1 FCFS model and a two-class non-preemptive
  priority model (rho = 0.8), and the speed-up of qtheory over each.

Ciw and SimPy are not dependencies of qtheory; install them for this script only
(``python -m pip install ciw simpy``). Writes ``results_sim.md`` next to this file.

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
            P.Buckets(thresholds=(0.5, 2.0), preemptive=True)]
LOAD = 0.8


def _queue():
    return qt.MG1(load=LOAD, size=qt.Exponential(mean=1.0),
                  prediction=qt.ExponentialPrediction())


def bench_qtheory(jobs: int, cores: int):
    q = _queue()
    rows = []
    for pol in POLICIES:
        simulate(q, pol, jobs=1000, replications=1, seed=0)  # compile / load cache
        t0 = time.perf_counter()
        simulate(q, pol, jobs=jobs, replications=1, seed=1, warmup=0, workers=1)
        one = jobs / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        simulate(q, pol, jobs=jobs, replications=cores, seed=1, warmup=0, workers=cores)
        allc = cores * jobs / (time.perf_counter() - t0)
        rows.append((pol.name, one, allc))
        print(f"{pol.name:22s} {one / 1e6:7.2f} M jobs/s (1 core)  {allc / 1e6:7.2f} (all)")
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
    t0 = time.perf_counter()
    sim.simulate_until_max_time(jobs / lam)
    dt = time.perf_counter() - t0
    recs = sim.get_all_records()
    return len(recs) / dt, float(np.mean([r.exit_date - r.arrival_date for r in recs]))


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
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    return len(out) / dt, float(np.mean(out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5_000_000)
    ap.add_argument("--baseline-jobs", type=int, default=50_000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_sim.md")))
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    rows = bench_qtheory(args.jobs, cores)
    by_name = {r[0]: r for r in rows}
    base = []
    for lib, fn in (("Ciw", bench_ciw), ("SimPy", bench_simpy)):
        for prio in (False, True):
            try:
                rate, mean = fn(args.baseline_jobs, prio)
            except ImportError:
                print(f"{lib} not installed: skipped")
                continue
            ours = by_name["Priority-NP" if prio else "FCFS"][1]
            model = "2-class priority (NP)" if prio else "M/M/1 FCFS"
            base.append((lib, model, rate, mean, ours / rate))
            print(f"{lib:6s} {model:22s} {rate / 1e3:8.1f} k jobs/s  E[T]={mean:.3f}  "
                  f"qtheory x{ours / rate:,.0f}")
    lines = [
        "# Monte Carlo engine: throughput",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {cores} cores; "
        f"Python {platform.python_version()}; M/M/1 with exponential predictions at "
        f"rho = {LOAD}; {args.jobs:,} jobs per replication (Numba kernels already compiled).",
        "Generated by `python validation/bench/bench_sim.py`. Timings on a shared machine "
        "vary by +-20%.",
        "",
        "| policy | M jobs/s, 1 core | M jobs/s, all cores |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {a / 1e6:.2f} | {b / 1e6:.2f} |" for n, a, b in rows]
    if base:
        lines += ["", "## Against Ciw and SimPy (same model, same run, one core)", "",
                  f"{args.baseline_jobs:,} jobs each.", "",
                  "| library | model | k jobs/s | E[T] | qtheory speed-up |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {lib} | {m} | {r / 1e3:.1f} | {e:.3f} | {x:,.0f}x |"
                  for lib, m, r, e, x in base]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
