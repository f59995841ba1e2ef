"""Benchmark of the Gittins and SERPT ranks of a known size law (not a test: run it by hand).

For each size law it times one mean response time of ``qt.policies.Gittins()`` and of
``qt.policies.SERPT()`` at load 0.8, cold: a fresh law object and a fresh queue, so the
rank (regimes, label bisection, Chebyshev pieces) and all quadrature are built from scratch;
median of ``--repeats`` runs. The peer is FB's mean response time on a fresh queue of a fresh
law, timed in the same run (a closed form through the law's partial moments). Target of the
SOAP issue: any SOAP policy <= 200 ms per value at 1e-8 relative for continuous size laws.

Usage: ``python validation/bench/bench_gittins.py [--repeats 3] [--out FILE] [--compare OLD]
[--compare-note TEXT]``;
``--compare`` adds the cold time and value of an earlier results file of this script (for
example one written before a change) and the relative difference of the values.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from bench_soap import _time, _write  # the same timing (median of repeats) and report
from scipy import stats

import qtheory as qt

P = qt.policies
# factories: each run gets a fresh law object (no cached median, rank or quadrature)
SIZES = {
    "exponential": lambda: qt.Exponential(mean=1.0),
    "weibull(0.5)": lambda: qt.Weibull(shape=0.5, scale=1.0),
    "weibull(2)": lambda: qt.Weibull(shape=2.0, scale=1.0),
    "hyperexp": lambda: qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "bounded pareto(1.5,0.2,50)": lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
    "lognormal(1)": lambda: qt.Lognormal(sigma=1.0, mean=1.0),
    "pareto(2.5)": lambda: qt.Pareto(alpha=2.5, xm=1.0),
    "uniform(0,2)": lambda: qt.Uniform(0.0, 2.0),
    "trunc exp[0,1]": lambda: qt.Truncated(qt.Exponential(mean=1.0), 0.0, 1.0),
    "trunc weibull(0.5)[0,5]": lambda: qt.Truncated(qt.Weibull(shape=0.5, scale=1.0), 0.0,
                                                    5.0),
    # laws wrapped from scipy: ranked and analysed through their tabulated twins (built
    # cold, in the time)
    "scipy gamma(2)": lambda: qt.ScipyDistribution(stats.gamma(2.0, scale=0.5)),
    "scipy lognormal(1)": lambda: qt.ScipyDistribution(stats.lognorm(1.0, scale=np.exp(-0.5))),
}


def _quantiles(k: int) -> tuple:
    """k equal-probability thresholds of the prediction (Weibull 0.5 sizes, exponential
    noise), computed once here, outside the timed runs: a user states the thresholds (the
    search for these quantiles took 65 ms, which the timed runs had included until
    2026-12-05)."""
    u = np.arange(1, k + 1) / (k + 1)
    return tuple(float(v) for v in qt.ExponentialPrediction().marginal_ppf(
        u, qt.Weibull(shape=0.5, scale=1.0)))


_Q4, _Q8 = _quantiles(4), _quantiles(8)

POLICIES = {"Gittins": P.Gittins, "SERPT": P.SERPT}
# Gittins given a noisy prediction: (size, prediction, policy); each bucket's law is a
# posterior (quadrature), so the rank is built on tables of that law
PREDICTED = {
    ("exponential", "exponential noise", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.Exponential(mean=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("weibull(2)", "uniform noise 0.5", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.Weibull(shape=2.0, scale=1.0), lambda: qt.UniformPrediction(0.5),
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("lognormal(1)", "exponential noise", "GittinsBuckets(1)"): (
        lambda: qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=(1.0,))),
    # the slowest size/noise pairs of a 36-value grid (6 size laws x 3 noise models x 1 and
    # 2 thresholds): heavy tails, and uniform noise (kinks of the posterior)
    ("weibull(0.5)", "exponential noise", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.Weibull(shape=0.5, scale=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("lognormal(1)", "exponential noise", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("bounded pareto(1.5,0.2,50)", "uniform noise 0.5", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
        lambda: qt.UniformPrediction(0.5), lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("hyperexp", "uniform noise 0.5", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
        lambda: qt.UniformPrediction(0.5), lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    # a power tail: bucket ranks that grow like the age over ten decades
    ("pareto(2.5)", "lognormal noise 0.5", "GittinsBuckets(2)"): (
        lambda: qt.Pareto(alpha=2.5, xm=1.0), lambda: qt.LognormalPrediction(0.5),
        lambda: P.GittinsBuckets(thresholds=(2.0,))),
    # more buckets (equal-probability thresholds): a rank and a table per bucket, and a
    # multi-class analysis whose other-job functions are tabulated in the level
    ("weibull(0.5)", "exponential noise", "GittinsBuckets(4 quantiles)"): (
        lambda: qt.Weibull(shape=0.5, scale=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=_Q4)),
    ("weibull(0.5)", "exponential noise", "GittinsBuckets(8 quantiles)"): (
        lambda: qt.Weibull(shape=0.5, scale=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsBuckets(thresholds=_Q8)),
    # exact predictions: the bucket laws are truncated size laws, in closed form (SOAP's
    # analysis first: the r-work integral took 221 and 385 ms)
    ("weibull(0.5)", "exact", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.Weibull(shape=0.5, scale=1.0), qt.ExactPrediction,
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("bounded pareto(1.5,0.2,50)", "exact", "GittinsBuckets(0.5, 2)"): (
        lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.ExactPrediction,
        lambda: P.GittinsBuckets(thresholds=(0.5, 2.0))),
    ("weibull(2)", "uniform noise 0.5", "GittinsPosterior(16)"): (
        lambda: qt.Weibull(shape=2.0, scale=1.0), lambda: qt.UniformPrediction(0.5),
        lambda: P.GittinsPosterior(nodes=16)),
    # the swapped integral at the queue's default rtol 1e-9 (8 nodes a piece, 152 node
    # laws; its estimate 1.6e-11 relative), and at the 1e-8 (6 a piece, 114 node
    # laws; 7.0e-9)
    ("weibull(2)", "uniform noise 0.5", "GittinsPosterior(swap)"): (
        lambda: qt.Weibull(shape=2.0, scale=1.0), lambda: qt.UniformPrediction(0.5),
        lambda: P.GittinsPosterior(rule="swap")),
    ("weibull(2)", "uniform noise 0.5", "GittinsPosterior(swap), rtol 1e-8"): (
        lambda: qt.Weibull(shape=2.0, scale=1.0), lambda: qt.UniformPrediction(0.5),
        lambda: P.GittinsPosterior(rule="swap"), 1e-8),
    # posteriors whose hazards rise and fall (interior minima of Phi, switches of the
    # runs' end, folds): the systems the issue's 200 ms is not yet met on (32nd session)
    ("exponential", "exponential noise", "GittinsPosterior(swap), rtol 1e-8"): (
        lambda: qt.Exponential(mean=1.0), qt.ExponentialPrediction,
        lambda: P.GittinsPosterior(rule="swap"), 1e-8),
    ("lognormal(1)", "lognormal noise 0.5", "GittinsPosterior(swap), rtol 1e-8"): (
        lambda: qt.Lognormal(1.0, mean=1.0), lambda: qt.LognormalPrediction(0.5),
        lambda: P.GittinsPosterior(rule="swap"), 1e-8),
    ("bounded pareto(1.5,0.2,50)", "lognormal noise 0.5",
     "GittinsPosterior(swap), rtol 1e-8"): (
        lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
        lambda: qt.LognormalPrediction(0.5), lambda: P.GittinsPosterior(rule="swap"), 1e-8),
}
LOAD = 0.8
TARGET_MS = 200.0


def _read_results(path: Path) -> dict:
    """``{(size, policy): (cold ms, value)}`` from a results file of this script (a row of
    the second table keyed ``(size, "prediction: policy")``)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("20") and "_stamp" not in out:
            out["_stamp"] = line.split(";")[0]
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[6] in ("PASS", "FAIL"):
            out[(cells[0], cells[1])] = (float(cells[2]), float(cells[5]))
        elif len(cells) == 8 and cells[7] in ("PASS", "FAIL"):
            out[(cells[0], f"{cells[1]}: {cells[2]}")] = (float(cells[3]), float(cells[6]))
    return out


def _cold(make_size, make_policy):
    def run():
        return qt.MG1(load=LOAD, size=make_size()).mean_response_time(make_policy())

    return run


def _cold_predicted(make_size, make_pred, make_policy, rtol=None):
    def run():
        extra = {} if rtol is None else {"rtol": rtol}
        q = qt.MG1(load=LOAD, size=make_size(), prediction=make_pred(), **extra)
        return q.mean_response_time(make_policy())

    return run


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_gittins.md"))
    ap.add_argument("--only", nargs="*", default=None, help="size names to run (default all)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="an earlier results file of this script, shown alongside")
    ap.add_argument("--compare-note", default="",
                    help="what the compared file was run on (e.g. the code's revision)")
    args = ap.parse_args(argv)
    before = _read_results(args.compare) if args.compare else {}
    rows = []
    warnings.simplefilter("always", qt.QuadratureWarning)
    # import-time and first-call costs (numpy/scipy dispatch) out of the first case
    qt.MG1(load=LOAD, size=qt.Exponential(mean=1.0)).mean_response_time(P.Gittins())
    with warnings.catch_warnings(record=True) as rec:
        for sname, make in SIZES.items():
            if args.only and sname not in args.only:
                continue
            peer_t, _ = _time(_cold(make, lambda: "FB"), args.repeats)
            for pname, make_pol in POLICIES.items():
                t, v = _time(_cold(make, make_pol), args.repeats)
                rows.append((sname, pname, t * 1e3, peer_t * 1e3, t / peer_t, v,
                             "PASS" if t * 1e3 <= TARGET_MS else "FAIL"))
                print(f"{sname:26s} {pname:8s} {t * 1e3:9.1f} ms  {v!r}", flush=True)
        pred_rows = []
        for (sname, pr, pname), (mk_s, mk_p, mk_pol, *rt) in PREDICTED.items():
            if args.only and sname not in args.only:
                continue
            rtol = rt[0] if rt else None  # (the queue's rtol where a row sets one)
            peer_t, _ = _time(_cold_predicted(mk_s, mk_p, lambda: "SPRPT", rtol), args.repeats)
            t, v = _time(_cold_predicted(mk_s, mk_p, mk_pol, rtol), args.repeats)
            pred_rows.append((sname, pr, pname, t * 1e3, peer_t * 1e3, t / peer_t, v,
                              "PASS" if t * 1e3 <= TARGET_MS else "FAIL"))
            print(f"{sname:14s} {pr:18s} {pname:22s} {t * 1e3:9.1f} ms  {v!r}", flush=True)
    lines = [
        "# Gittins / SERPT rank benchmark",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; qtheory {qt.__version__}; Python "
        f"{platform.python_version()}; numpy {np.__version__}; {os.cpu_count()} CPUs "
        f"({platform.machine()}); one process. Command: `python "
        f"validation/bench/bench_gittins.py --repeats {args.repeats}`.",
        "",
        f"Cold = one mean response time at load {LOAD} on a fresh queue of a fresh law object "
        "(the rank built from scratch; median of repeats). Peer = FB's mean response time, "
        "cold likewise, same run. Value = the mean response time (17 digits).",
        "",
        "| size | policy | cold ms | peer (FB) ms | / peer | value | <= 200 ms |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | "
                     f"{r[5]!r} | {r[6]} |")
    if pred_rows:
        lines += ["", "Gittins given a noisy prediction (each bucket's law, or each node's, a "
                  "posterior computed by quadrature and tabulated). Peer = SPRPT (closed-form "
                  "engine), cold on the same queue, same run. GittinsPosterior(16)'s value "
                  "carries its own error estimate (about 2.2e-3 at 16 nodes here, see "
                  "`validation/results/gittins_posterior.md`), not 1e-8; the swapped "
                  "integral's, at the queue's default rtol 1e-9 and at rtol 1e-8, are "
                  "4.9e-10 and 2.9e-9 relative (`validation/results/posterior_swap.md`). The "
                  "last three rows are systems whose posteriors' hazards rise and fall, where "
                  "the issue's 200 ms is not yet met (estimates 2.9e-9, 1.6e-9 and 5.3e-9; "
                  "`docs/soap.md`).", "",
                  "| size | prediction | policy | cold ms | peer (SPRPT) ms | / peer | value | "
                  "<= 200 ms |", "|---|---|---|---:|---:|---:|---:|---|"]
        for r in pred_rows:
            lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | "
                         f"{r[6]!r} | {r[7]} |")
    if before:
        note = f", {args.compare_note}" if args.compare_note else ""
        lines += ["", f"Compared with `{args.compare.name}` ({before.pop('_stamp', '')}{note}):",
                  "", "| size | policy | before ms | now ms | speed-up | before value | "
                  "abs(now / before - 1) |", "|---|---|---:|---:|---:|---:|---:|"]
        both = [(r[0], r[1], r[2], r[5]) for r in rows] + \
            [(r[0], f"{r[1]}: {r[2]}", r[3], r[6]) for r in pred_rows]
        for size, pol, ms, val in both:
            old = before.get((size, pol))
            if old is None:
                continue
            lines.append(f"| {size} | {pol} | {old[0]:.1f} | {ms:.1f} | {old[0] / ms:.1f} | "
                         f"{old[1]!r} | {abs(val / old[1] - 1):.1e} |")
    return _write(lines, rec, args.out)


if __name__ == "__main__":
    main()
