"""Benchmark of qtheory._memory (not a test: run it by hand): the bench's slowest SOAP row
with glibc's thresholds as qtheory sets them and as glibc leaves them.

Each case runs in a fresh process: the 4-segment user rank of ``bench_soap.py`` on bounded
Pareto sizes with exponential noise (load 0.8, rtol 1e-8), timed 5 times (median) with the
page faults of each value (``ru_minflt``), either first in the process or after the bench's
other SOAP rows on the same sizes and noise (3 values each), with ``QTHEORY_MALLOPT=0``
(glibc's own dynamic thresholds) and without (qtheory's). The two settings alternate over
``--rounds`` rounds.

Usage: ``python validation/bench/bench_malloc.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CASE = r"""
import json, resource, statistics, sys, time, warnings
sys.path.insert(0, {here!r})
import bench_soap as B
import qtheory as qt
from qtheory import _memory
warnings.simplefilter("ignore")
size, pred = B.SIZES["bounded pareto"], B.PREDICTIONS["exponential"]
target = B.POLICIES["rank of 4 segments"][0]
def value(pol, method):
    q = qt.MG1(load=0.8, size=size, prediction=pred, rtol=1e-8)
    return q.mean_response_time_with_error(pol, **({{"method": method}} if method else {{}}))
if {first}:
    value(target, "soap")
for name, (pol, ref, method) in B.POLICIES.items():
    if method == "soap" and pol is not target:
        for _ in range(3):
            value(pol, method)
value(target, "soap")
ts, faults = [], []
for _ in range(5):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    value(target, "soap")
    ts.append(1e3 * (time.perf_counter() - t0))
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps([_memory.keep_large_blocks(), statistics.median(ts), faults]))
"""


def run(first: bool, mallopt: bool) -> tuple:
    env = dict(os.environ)
    env.pop("QTHEORY_MALLOPT", None)
    if not mallopt:
        env["QTHEORY_MALLOPT"] = "0"
    code = _CASE.format(here=str(Path(__file__).parent), first=first)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for r in range(args.rounds):
        for first in (True, False):
            for mallopt in (False, True):
                on, ms, faults = run(first, mallopt)
                rows.append((r, first, on, ms, faults))
                print(f"round {r}: {'first' if first else 'after the other rows'}, "
                      f"thresholds {'qtheory' if on else 'glibc'}: {ms:.1f} ms, page faults "
                      f"a value {faults}", flush=True)
    return rows


if __name__ == "__main__":
    main()
