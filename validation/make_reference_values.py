"""Reference mean response times from the independent mpmath method.

Writes ``tests/data/mpmath_reference.json``, read by
``tests/test_mg1.py::test_quadrature_matches_mpmath_reference`` (quadrature within
1e-8 relative of each value) and ``tests/test_highprec.py``. Each value is ::

    from qtheory.analysis.highprec import mean_response_time_mpf
    lam = load / size.mean                # the float MG1(load=...) uses
    value = mean_response_time_mpf(policy, size, prediction, lam, dps=25)
    mpmath.nstr(value, 20)                # stored as a string, 20 significant digits

that is, the published formulas integrated over the size x and the prediction y
with ``mpmath.quad`` at 25 digits, sharing no code with the double-precision
engine. Every record carries its one-line ``snippet``, the ``arrival_rate`` used,
``dps``, the ``seconds`` it took and any ``warnings`` (QuadratureWarning: an
integral short of its tolerance, with the achieved error).

Matrix: sizes Exponential(mean=1), Weibull(shape=0.5, scale=0.5) (F(x) = 1 -
exp(-sqrt(2x))), HyperExponential(means=(0.5, 3), probs=(0.8, 0.2)),
BoundedPareto(alpha=1.5, low=0.2, high=50); FCFS, PS, FB, SJF, PSJF, SRPT with exact
predictions; SPJF, PSPJF, SPRPT with exponential and uniform(alpha=0.5) predictions;
loads 0.5 and 0.9.

Run from the repository root: ``python validation/make_reference_values.py`` (two
worker processes, about 30 minutes; ``--jobs 1`` for one core). Records are written
as they are computed, so an interrupted run keeps what it has.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import mpmath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qtheory as qt  # noqa: E402
from qtheory.analysis.highprec import mean_response_time_mpf  # noqa: E402

DPS = 25
DIGITS = 20
LOADS = (0.5, 0.9)
SIZES = {
    "Exponential(mean=1.0)": qt.Exponential(mean=1.0),
    "Weibull(shape=0.5, scale=0.5)": qt.Weibull(shape=0.5, scale=0.5),
    "HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))":
        qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "BoundedPareto(alpha=1.5, low=0.2, high=50.0)":
        qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}
PREDICTIONS = {
    "ExponentialPrediction()": qt.ExponentialPrediction(),
    "UniformPrediction(alpha=0.5)": qt.UniformPrediction(alpha=0.5),
}
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "mpmath_reference.json"


def jobs():
    """(size, prediction or None for exact, policy, load), in the file's order."""
    out = []
    for sname in SIZES:
        for pol in ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT"):
            for load in LOADS:
                out.append((sname, None, pol, load))
    for pname in PREDICTIONS:
        for sname in SIZES:
            for pol in ("SPJF", "PSPJF", "SPRPT"):
                for load in LOADS:
                    out.append((sname, pname, pol, load))
    return out


def compute(job) -> dict:
    sname, pname, pol, load = job
    size = SIZES[sname]
    pred = PREDICTIONS[pname] if pname else qt.ExactPrediction()
    lam = load / size.mean
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = mean_response_time_mpf(pol, size, pred, lam, DPS)
    return {
        "size": sname, "prediction": pname, "policy": pol, "load": load,
        "arrival_rate": lam, "value": mpmath.nstr(value, DIGITS, strip_zeros=False), "dps": DPS,
        "seconds": round(time.perf_counter() - t0, 1),
        "warnings": [str(w.message)[:200] for w in caught],
        "snippet": f"mean_response_time_mpf({pol!r}, qt.{sname}, "
                   f"qt.{pname or 'ExactPrediction()'}, lam={lam!r}, dps={DPS})",
    }


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description="Write tests/data/mpmath_reference.json.")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "made_by": "python validation/make_reference_values.py",
        "method": f"mpmath.nstr(qtheory.analysis.highprec.mean_response_time_mpf(policy, "
                  f"size, prediction, lam, dps={DPS}), {DIGITS}) with lam = load / size.mean "
                  f"(prediction null: ExactPrediction())",
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "versions": {"qtheory": qt.__version__, "mpmath": mpmath.__version__,
                     "python": platform.python_version()},
    }
    todo = jobs()
    order = {job: i for i, job in enumerate(todo)}
    done = {}

    def write():
        records = [done[j] for j in sorted(done, key=order.__getitem__)]
        out.write_text(json.dumps({"header": header, "records": records}, indent=1) + "\n")

    def report(job, rec):
        done[job] = rec
        print(f"{rec['seconds']:7.1f}s {rec['policy']:6s} {rec['size'][:30]:30s} "
              f"{str(rec['prediction'])[:22]:22s} {rec['load']}  {rec['value']}", flush=True)
        write()

    if args.jobs > 1:
        slow_first = sorted(todo, key=lambda j: {"SPRPT": 0, "PSPJF": 1, "SPJF": 2}.get(j[2], 3))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(compute, j): j for j in slow_first}
            for fut in as_completed(futures):
                report(futures[fut], fut.result())
    else:
        for job in todo:
            report(job, compute(job))
    return out


if __name__ == "__main__":
    print(main())
