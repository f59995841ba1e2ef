"""Gittins on the posterior: the swapped r-work integral against the node rule.

For each system (load 0.8) the table of ``validation/results/posterior_swap.md`` gives

* the swapped integral (:class:`qtheory.analysis.posterior_rwork.SwappedPosteriorAnalysis`,
  ``GittinsPosterior(rule="swap")``) with 6, 8 and 10 nodes a piece: value, error
  estimate, the work identity ``int N(r) / r^2 dr`` (1 for Gittins ranks) and the time;
* the node rule (:class:`qtheory.analysis.posterior_gittins.PosteriorGittinsAnalysis`) with
  ``n`` = 16, 32, 64 nodes: ``E_n``, the ratio of successive differences, and ``E_64``
  extrapolated at the order that ratio shows (``E_64 + d_64 / (ratio - 1)``), an
  independent estimate of the limit;
* SPRPT's value, which the optimum cannot exceed.

Run: ``python validation/posterior_swap.py [--quick]`` (about 10 minutes on two cores;
``--quick``: the first system only).
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import qtheory as qt
from qtheory.analysis.posterior_gittins import PosteriorGittinsAnalysis
from qtheory.analysis.posterior_rwork import SwappedPosteriorAnalysis

LOAD = 0.8
SYSTEMS = [
    ("Weibull(2)", "uniform noise 0.5", lambda: qt.Weibull(2.0),
     lambda: qt.UniformPrediction(0.5)),
    ("Exponential(1)", "exponential noise", lambda: qt.Exponential(mean=1.0),
     qt.ExponentialPrediction),
    ("Weibull(0.5)", "uniform noise 0.3", lambda: qt.Weibull(0.5),
     lambda: qt.UniformPrediction(0.3)),
    ("BoundedPareto(1.5, 0.2, 50)", "lognormal noise 0.5",
     lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
     lambda: qt.LognormalPrediction(0.5)),
]


def run_system(label, noise, size, pred, out):
    lam = LOAD / size.mean
    rows = []
    for nodes in (6, 8, 10):
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = SwappedPosteriorAnalysis(size, pred, nodes=nodes)
            value, err = a.mean(lam)
        dt = time.perf_counter() - t
        rows.append((nodes, value, err, a.work_identity(), len(a.laws),
                     sum(pc.m for pc in a.npieces), dt, len(caught)))
        print(label, nodes, value, err, dt, flush=True)
    node_vals = []
    cache: dict = {}
    for n in (16, 32, 64):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hi, _, _, _ = PosteriorGittinsAnalysis(size, pred, nodes=n, cache=cache).node_means(lam)
        node_vals.append((n, hi, time.perf_counter() - t))
        print(label, "nodes", n, hi, flush=True)
    d32 = node_vals[1][1] - node_vals[0][1]
    d64 = node_vals[2][1] - node_vals[1][1]
    ratio = d32 / d64 if d64 else float("inf")
    extra = node_vals[2][1] + d64 / (ratio - 1.0) if ratio > 1 else float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sprpt = qt.MG1(load=LOAD, size=size, prediction=pred).mean_response_time("SPRPT")
    best = rows[-1][1]
    out.append(f"\n## {label} sizes, {noise}, load {LOAD}\n")
    out.append("| swapped, nodes a piece | value | estimate | work identity - 1 | "
               "T nodes | N nodes | time | warnings |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for nodes, value, err, ident, nt, nn, dt, nw in rows:
        out.append(f"| {nodes} | {value:.14f} | {err:.1e} | {ident - 1.0:+.1e} | {nt} | "
                   f"{nn} | {dt:.1f} s | {nw} |")
    out.append("")
    out.append("| node rule, n | E_n | E_n - swapped (10) | time |")
    out.append("|---:|---:|---:|---:|")
    for n, v, dt in node_vals:
        out.append(f"| {n} | {v:.10f} | {v - best:+.2e} | {dt:.1f} s |")
    out.append("")
    out.append(f"Ratio of the node rule's differences (32 -> 64): {ratio:.2f}; "
               f"E_64 extrapolated at that order: {extra:.10f} "
               f"({extra - best:+.1e} from the swapped value). SPRPT: {sprpt:.10f} "
               f"(the swapped value is {100 * (sprpt - best) / best:.2f} % below).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first system only")
    args = parser.parse_args()
    out = ["# Gittins on the posterior: the swapped integral against the node rule", "",
           f"Written by `validation/posterior_swap.py` on "
           f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC."]
    for label, noise, size, pred in SYSTEMS[:1] if args.quick else SYSTEMS:
        run_system(label, noise, size(), pred(), out)
    path = Path(__file__).parent / "results" / "posterior_swap.md"
    path.write_text("\n".join(out) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
