"""Reference mean response times from the independent mpmath method.

Writes ``tests/data/mpmath_reference.json``, read by
``tests/test_mg1.py::test_quadrature_matches_mpmath_reference`` (quadrature within
1e-8 relative of each value). The values are computed by
``qtheory.analysis.highprec.mean_response_time`` at ``dps = 20`` decimal digits: the
published formulas integrated over the size x and the prediction y with
``mpmath.quad``, sharing no code with the double-precision engine.

Matrix: sizes Exponential(mean=1), Weibull(shape=0.5, scale=0.5) (F(x) = 1 -
exp(-sqrt(2x))), HyperExponential(means=(0.5, 3), probs=(0.8, 0.2)),
BoundedPareto(alpha=1.5, low=0.2, high=50); FCFS, PS, FB, SJF, PSJF, SRPT at loads 0.5
and 0.9; SPJF, PSPJF, SPRPT with exponential and uniform(alpha=0.5) predictions at load
0.9.

Run: ``python validation/make_reference_values.py`` (about 10 minutes on one core).
Records are flushed as they are computed, so an interrupted run keeps what it has.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import mpmath

import qtheory as qt
from qtheory.analysis.highprec import mean_response_time

DPS = 20
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


def jobs():
    for sname in SIZES:
        for pol in ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT"):
            for load in (0.5, 0.9):
                yield sname, None, pol, load
    for pname in PREDICTIONS:
        for sname in SIZES:
            for pol in ("SPJF", "PSPJF", "SPRPT"):
                yield sname, pname, pol, 0.9


def main(out: Path | None = None) -> Path:
    out = out or Path(__file__).resolve().parents[1] / "tests" / "data" / "mpmath_reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    header = {
        "made_by": "python validation/make_reference_values.py",
        "method": f"qtheory.analysis.highprec.mean_response_time(policy, size, prediction, "
                  f"lam, dps={DPS}) with lam = load / E[X]",
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "versions": {"qtheory": qt.__version__, "mpmath": mpmath.__version__,
                     "python": platform.python_version()},
    }
    for sname, pname, pol, load in jobs():
        size = SIZES[sname]
        pred = PREDICTIONS[pname] if pname else qt.ExactPrediction()
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = mean_response_time(pol, size, pred, load / size.mean, DPS)
        records.append({"size": sname, "prediction": pname, "policy": pol, "load": load,
                        "value": repr(value), "dps": DPS,
                        "seconds": round(time.perf_counter() - t0, 2),
                        "warnings": [str(w.message)[:160] for w in caught]})
        print(records[-1], flush=True)
        out.write_text(json.dumps({"header": header, "records": records}, indent=1) + "\n")
    return out


if __name__ == "__main__":
    print(main())
