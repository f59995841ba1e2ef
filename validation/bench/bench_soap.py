"""Benchmark of the SOAP rank-function engine (not a test: run it by hand).

For each rank policy and (size law, prediction model) it times one mean response
time on a fresh queue (cold: all quadrature built from scratch; median of
``--repeats`` runs) and a sweep of 50 loads on one queue, and reports the ratio to
the closed-form engine's SPRPT measured in the same run, plus the relative
difference to the closed form where one exists. Target of the SOAP issue: any SOAP
policy <= 200 ms per value at 1e-8 relative for continuous size laws; so every cold value
is timed twice, at the queue's default rtol (1e-9) and at 1e-8, and PASS means the value at
1e-8 took at most 200 ms with an error estimate of at most 1e-8.

Usage: ``python validation/bench/bench_soap.py [--repeats 5] [--out FILE]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies
SIZES = {
    "exponential": qt.Exponential(mean=1.0),
    "weibull(0.5)": qt.Weibull(shape=0.5, scale=0.5),
    "hyperexp": qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "bounded pareto": qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}
PREDICTIONS = {
    "exponential": qt.ExponentialPrediction(),
    "uniform(0.5)": qt.UniformPrediction(alpha=0.5),
}
# name: (policy, reference, method). The rows marked "soap" are timed through the general
# SOAP engine and compared with the closed form (reference: a closed-form policy, or
# "closed" for the policy's own closed form); the prediction-cost policies are timed with
# their default analysis (the dedicated SOAP derivations of qtheory.analysis.predicted and
# .delay) and compared with the general engine (reference "soap"; with server-time costs
# its overhead segments, since 2026-12-06).
POLICIES = {
    "SPRPT (via SOAP)": (P.SPRPT(), "SPRPT", "soap"),
    "PSPJF (via SOAP)": (P.PSPJF(), "PSPJF", "soap"),
    "SPJF (via SOAP)": (P.SPJF(), "SPJF", "soap"),
    "TRAIL(c=0.5)": (P.TRAIL(c=0.5), "closed", "soap"),
    "TRAIL(c=0.8)": (P.TRAIL(c=0.8), "closed", "soap"),
    "SRPT-Bounce": (P.SRPTBounce(), "closed", "soap"),
    "OneBit-NP(T=1)": (P.OneBit(threshold=1.0), "closed", "soap"),
    "Buckets-P(0.5,2)": (P.Buckets(thresholds=(0.5, 2.0), preemptive=True), None, "soap"),
    "rank 2y-a": (P.RankPolicy(RankFunction.single(
        "prediction", [Segment(value=(2.0, 0.0), slope=-1)]), label="2y-a"), None, "soap"),
    # a user rank of four segments (SPRPT, a constant stretch, SPRPT again, then lower): each
    # boundary brings split points in the noise and the level (docs/soap.md)
    "rank of 4 segments": (P.RankPolicy(RankFunction.single("prediction", [
        Segment(value=(1.0, 0.0), slope=-1, end=(0.0, 0.5)),
        Segment(value=(1.0, -0.5), slope=0, end=(0.0, 1.5)),
        Segment(value=(1.0, -0.5), slope=-1, end=(0.0, 3.0)),
        Segment(value=(1.0, -2.0), slope=-1)]), label="4 segments"), None, "soap"),
    "SkipPredict-ext(T=1)": (P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                           expensive_cost=0.1), "soap", None),
    "SkipPredict-server(T=1)": (P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                              expensive_cost=0.1, cost_model="server"),
                                "soap", None),
    "DelayPredict-ext(L=1)": (P.DelayPredict(limit=1.0, expensive_cost=0.1), "soap", None),
    "DelayPredict-server(L=1)": (P.DelayPredict(limit=1.0, expensive_cost=0.1,
                                                cost_model="server"), "soap", None),
}
# policies that read a second prediction (queues with qt.MultiPrediction([the prediction,
# CHEAP])): the bit or the classes from the cheap one, SPRPT on the prediction
CHEAP = qt.UniformPrediction(alpha=0.5)
_TWO_CUTS = (0.5, 1.0, 2.0)
POLICIES_TWO = {
    "SkipPredict-ext(T=1), bit Y1": (P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                                   expensive_cost=0.1, bit_prediction=1),
                                     "soap", None),
    "SkipPredict-ext(T=1), bit Y1 (via SOAP)": (P.SkipPredict(
        threshold=1.0, cheap_cost=0.05, expensive_cost=0.1, bit_prediction=1), None, "soap"),
    "SkipPredict-server(T=1), bit Y1": (P.SkipPredict(
        threshold=1.0, cheap_cost=0.05, expensive_cost=0.1, cost_model="server",
        bit_prediction=1), "soap", None),
    "SPRPT in 4 classes by Y1 (via SOAP)": (P.RankPolicy(RankFunction(
        "prediction:0", tuple(Branch((Segment(value=(1.0, 0.0), slope=-1),), low=a, high=b)
                              for a, b in zip((-np.inf, *_TWO_CUTS), (*_TWO_CUTS, np.inf))),
        branch_key="prediction:1"), label="SPRPT in 4 classes by Y1"), "SPRPT", None),
}
TARGET_MS = 200.0
# the tolerance: "any SOAP policy <= 200 ms per value at 1e-8 relative"; each row is
# also timed at the queue's default rtol (1e-9), ten times tighter
TARGET_RTOL = 1e-8
TARGET_LABEL = "1e-8"


def _time(fn, repeats):
    times = []
    value = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_soap.md"))
    args = ap.parse_args(argv)
    loads = np.linspace(0.05, 0.99, 50)
    rows = []
    warnings.simplefilter("always", qt.QuadratureWarning)
    with warnings.catch_warnings(record=True) as rec:
        for sname, size in SIZES.items():
            for pname, pred in PREDICTIONS.items():
                def peer(size=size, pred=pred):
                    return qt.MG1(load=0.8, size=size, prediction=pred).mean_response_time("SPRPT")

                peer_t, _ = _time(peer, args.repeats)
                two = qt.MultiPrediction([pred, CHEAP])
                cases = [(name, case, pred, pname) for name, case in POLICIES.items()]
                cases += [(name, case, two, f"{pname} + bit {CHEAP!r}")
                          for name, case in POLICIES_TWO.items()]
                for name, (pol, ref, method), preds, plabel in cases:
                    kw = {"method": method} if method else {}

                    def cold(pol=pol, size=size, preds=preds, kw=kw, rtol=None):
                        q = qt.MG1(load=0.8, size=size, prediction=preds,
                                   **({} if rtol is None else {"rtol": rtol}))
                        return q.mean_response_time_with_error(pol, **kw)
                    t, (v, _) = _time(cold, args.repeats)
                    t8, (v8, e8) = _time(lambda cold=cold: cold(rtol=TARGET_RTOL),
                                         args.repeats)
                    q = qt.MG1(load=0.8, size=size, prediction=preds)
                    t0 = time.perf_counter()
                    q.sweep(pol, loads)
                    sweep_t = time.perf_counter() - t0
                    diff = diff8 = ""
                    if ref is not None:
                        closed = q.mean_response_time(
                            pol, method="soap") if ref == "soap" else q.mean_response_time(
                            pol if ref == "closed" else ref)
                        diff = f"{abs(v / closed - 1):.1e}"
                        diff8 = f"{abs(v8 / closed - 1):.1e}"
                    else:  # no closed form: against the value at the default rtol
                        diff8 = f"{abs(v8 / v - 1):.1e}*"
                    ok = t8 * 1e3 <= TARGET_MS and e8 <= TARGET_RTOL * abs(v8)
                    rows.append((sname, plabel, name, t * 1e3, t / peer_t, sweep_t, diff,
                                 t8 * 1e3, e8 / abs(v8), diff8, "PASS" if ok else "FAIL"))
    lines = [
        "# SOAP engine benchmark",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; qtheory {qt.__version__}; Python "
        f"{platform.python_version()}; numpy {np.__version__}; {os.cpu_count()} CPUs "
        f"({platform.machine()}); one process. Command: `python validation/bench/bench_soap.py "
        f"--repeats {args.repeats}`.",
        "",
        "Cold = one mean response time at load 0.8 on a fresh queue (median of repeats). Peer = "
        "the closed-form engine's SPRPT on the same (size, prediction), same run. Sweep = 50 "
        "loads in [0.05, 0.99] on one queue. |diff| = relative difference to the closed form "
        "(SkipPredict and DelayPredict: their dedicated analysis, timed, against the general "
        "SOAP engine, with server-time costs through its overhead segments). Rows whose "
        "prediction reads `+ bit`: a queue with a second prediction "
        "(`qt.MultiPrediction`), whose policies take their bit or their classes from it "
        "(SkipPredict's with `bit_prediction=1`: closed form of `qtheory.analysis.skip_two`, "
        "or SOAP on the two-part descriptor; SPRPT split into classes by it, against SPRPT's "
        "closed form).",
        "",
        f"The issue's target is a value in at most {TARGET_MS:.0f} ms at {TARGET_LABEL} "
        "relative: the columns `1e-8 ...` time the same cold value on a queue with "
        f"`rtol={TARGET_LABEL}` (median of repeats), give its own error estimate "
        "(relative) and its difference to the closed form (marked `*` where there is "
        "none: to the value at the default rtol). PASS: at most "
        f"{TARGET_MS:.0f} ms with an estimate of at most {TARGET_LABEL}. The other "
        "columns are at the default rtol (1e-9).",
        "",
        "| size | prediction | policy | cold ms | / peer | sweep s | abs diff | 1e-8 ms | "
        "1e-8 estimate | 1e-8 diff | <= 200 ms at 1e-8 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f} | "
                     f"{r[6]} | {r[7]:.1f} | {r[8]:.1e} | {r[9]} | {r[10]} |")
    return _write(lines, rec, args.out)


def _write(lines, rec, out):
    """Write the report ``lines`` to ``out`` with the first 20 quadrature warnings of
    ``rec`` (recorded warnings); print and return ``out``."""
    lines = [*lines, "", f"Quadrature warnings: {len(rec)}", ""]
    lines += [f"- {w.message}" for w in rec[:20]]
    out.write_text("\n".join(lines) + "\n")
    print(out)
    return out


if __name__ == "__main__":
    main()
