"""Reference values of E[T] computed with qtheory's independent mpmath method.

How ``tests/data/mpmath_reference.json`` was made: this script, run from the
repository root as ::

    python validation/make_reference_values.py            # 2 worker processes
    python validation/make_reference_values.py --jobs 1   # or serially

Each value is ::

    from qtheory.analysis.highprec import mean_response_time_mpf
    lam = load / size.mean                    # float, exactly as MG1(load=...) does
    value = mean_response_time_mpf(policy, size, prediction, lam, dps=25)
    mpmath.nstr(value, 20)                    # stored as a string

with the matrix

* sizes: Exponential(mean=1.0), Weibull(shape=0.5, scale=0.5),
  HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
  BoundedPareto(alpha=1.5, low=0.2, high=50.0);
* FCFS, PS, FB, SJF, PSJF, SRPT with ExactPrediction();
* SPJF, PSPJF, SPRPT with ExponentialPrediction() and UniformPrediction(alpha=0.5);
* loads 0.5 and 0.9.

``qtheory.analysis.highprec`` shares no code with the double-precision engine,
so these numbers are an independent check of it. The JSON file is a list of
records; each carries the one-line ``snippet`` that reproduces it, the exact
``arrival_rate`` used (the float ``load / size.mean``), ``dps`` and the
``seconds`` it took. Values are given to 20 significant digits (computed at 25);
the method aims at a relative error below about 1e-20 at dps=25 and warns
(QuadratureWarning) where a quadrature falls short, which is recorded in
``warnings``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mpmath  # noqa: E402

import qtheory as qt  # noqa: E402
from qtheory.analysis.highprec import mean_response_time_mpf  # noqa: E402

DPS = 25
DIGITS = 20
LOADS = (0.5, 0.9)
OUT = ROOT / "tests" / "data" / "mpmath_reference.json"

SIZES = {
    "Exponential": {"mean": 1.0},
    "Weibull": {"shape": 0.5, "scale": 0.5},
    "HyperExponential": {"means": [0.5, 3.0], "probs": [0.8, 0.2]},
    "BoundedPareto": {"alpha": 1.5, "low": 0.2, "high": 50.0},
}
CLASSICAL = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT")
PREDICTED = ("SPJF", "PSPJF", "SPRPT")
PREDICTIONS = {
    "ExactPrediction": {},
    "ExponentialPrediction": {},
    "UniformPrediction": {"alpha": 0.5},
}


def _call(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def cases():
    """The (size, size kwargs, prediction, prediction kwargs, policy, load) matrix."""
    out = []
    for size, skw in SIZES.items():
        for load in LOADS:
            for pol in CLASSICAL:
                out.append((size, skw, "ExactPrediction", {}, pol, load))
            for pred in ("ExponentialPrediction", "UniformPrediction"):
                for pol in PREDICTED:
                    out.append((size, skw, pred, PREDICTIONS[pred], pol, load))
    return out


def compute(case) -> dict:
    size_name, skw, pred_name, pkw, policy, load = case
    size = getattr(qt, size_name)(**skw)
    pred = getattr(qt, pred_name)(**pkw)
    lam = load / size.mean
    snippet = (
        f"mean_response_time_mpf({policy!r}, {_call(size_name, skw)}, {_call(pred_name, pkw)}, "
        f"lam={lam!r}, dps={DPS})"
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = mean_response_time_mpf(policy, size, pred, lam, dps=DPS)
    seconds = time.perf_counter() - t0
    rec = {
        "size": _call(size_name, skw),
        "size_class": size_name,
        "size_kwargs": skw,
        "prediction": _call(pred_name, pkw),
        "prediction_class": pred_name,
        "prediction_kwargs": pkw,
        "policy": policy,
        "load": load,
        "arrival_rate": lam,
        "value": mpmath.nstr(value, DIGITS, strip_zeros=False),
        "dps": DPS,
        "seconds": round(seconds, 1),
        "snippet": snippet,
    }
    if caught:
        rec["warnings"] = [str(w.message) for w in caught]
    print(f"{seconds:7.1f}s  {policy:6s} {rec['size']:55s} {pred_name:22s} {load}  "
          f"{rec['value']}", flush=True)
    return rec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    todo = cases()
    t0 = time.perf_counter()
    if args.jobs > 1:
        # longest first, so that the pool stays busy
        heavy = {"SPRPT": 0, "PSPJF": 1, "SPJF": 2}
        todo.sort(key=lambda c: heavy.get(c[4], 3))
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            records = list(pool.map(compute, todo))
    else:
        records = [compute(c) for c in todo]
    records.sort(key=_key)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("[\n")
        fh.write(",\n".join("  " + json.dumps(r) for r in records))
        fh.write("\n]\n")
    print(f"wrote {len(records)} records to {os.path.relpath(args.out)} "
          f"in {time.perf_counter() - t0:.0f}s")
    return 0


def _key(rec):
    sizes = list(SIZES)
    preds = list(PREDICTIONS)
    pols = list(CLASSICAL + PREDICTED)
    return (sizes.index(rec["size_class"]), preds.index(rec["prediction_class"]),
            pols.index(rec["policy"]), rec["load"])


if __name__ == "__main__":
    raise SystemExit(main())
