"""Standalone benchmark of qtheory's M/G/1 mean response times, against most-queue.

Run from the repository root (takes a few minutes; the machine should be idle)::

    python validation/bench/bench_mg1.py            # writes validation/bench/results_mg1.md
    python validation/bench/bench_mg1.py --quick    # no symbolic reference values, 5 repeats

What is timed (``time.perf_counter``), for each case:

* **cold**: the first call in a fresh Python process (a subprocess of this
  script; imports are done before the clock starts), so it includes building
  the queue and all its quadrature grids;
* **fresh**: the median over ``--repeats`` (>= 5) runs in this process, each on
  a *new* ``qt.MG1`` so that no cached grid is reused (process-level caches,
  e.g. of tanh-sinh rules, are warm: one untimed call precedes the repeats);
* **cached**: the median over the same number of repeated calls on one queue
  (everything cached: the cost of the final weighted sums).

The peer package most-queue (``most_queue``) is timed the same way (its
calculators keep no cache, so there is no *cached* column). Speed targets of
the issue: SPRPT with a general prediction model <= 100 ms per value at 1e-8
relative accuracy; SPJF <= 20 ms per value; a sweep of 50 loads <= 1 s for
any policy. PASS/FAIL is judged on the *fresh* median; the cold time is shown
with its own verdict.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import qtheory as qt  # noqa: E402

OUT = Path(__file__).resolve().parent / "results_mg1.md"
LOAD = 0.8
SWEEP_LOADS = tuple(float(v) for v in np.linspace(0.05, 0.99, 50))
TARGET_MS = {"SPRPT": 100.0, "SPJF": 20.0}
SWEEP_TARGET_MS = 1000.0
ACCURACY = 1e-8

# ----------------------------------------------------------------------------- the cases
SIZES = {
    "exponential(1)": lambda: qt.Exponential(mean=1.0),
    "weibull(0.5, 0.5)": lambda: qt.Weibull(shape=0.5, scale=0.5),
    "hyperexp(0.5/5.5; 0.9/0.1)": lambda: qt.HyperExponential(means=(0.5, 5.5), probs=(0.9, 0.1)),
    "bounded-pareto(1.5; 0.2, 50)": lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}
PREDICTIONS = {
    "exact": qt.ExactPrediction,
    "exponential": qt.ExponentialPrediction,
    "uniform(0.5)": lambda: qt.UniformPrediction(alpha=0.5),
    "lognormal(0.5)": lambda: qt.LognormalPrediction(sigma=0.5),
}


@dataclass(frozen=True)
class Case:
    size: str
    prediction: str
    policy: str

    @property
    def label(self) -> str:
        return f"{self.policy} | {self.size} | {self.prediction}"


def value_cases() -> list[Case]:
    cases = [Case("exponential(1)", "exponential", p) for p in qt.policies.POLICY_NAMES]
    for s in SIZES:
        for p in ("exponential", "uniform(0.5)", "lognormal(0.5)"):
            for pol in ("SPJF", "SPRPT"):
                c = Case(s, p, pol)
                if c not in cases:
                    cases.append(c)
    return cases


def sweep_cases() -> list[Case]:
    return value_cases()


# ----------------------------------------------------------------------------- qtheory
def ours_queue(case: Case, load: float = LOAD) -> qt.MG1:
    return qt.MG1(load=load, size=SIZES[case.size](), prediction=PREDICTIONS[case.prediction]())


def ours_value(case: Case) -> float:
    return ours_queue(case).mean_response_time(case.policy)


def ours_sweep(case: Case) -> np.ndarray:
    return ours_queue(case, SWEEP_LOADS[0]).sweep(case.policy, SWEEP_LOADS)


# ----------------------------------------------------------------------------- most-queue
def _mq_size(name: str):
    """(kendall notation, params) of most-queue's size-based calculators, or None."""
    from most_queue.random.utils.params import H2Params

    if name == "exponential(1)":
        return "M", 1.0  # rate mu = 1 / mean
    if name.startswith("hyperexp"):
        return "H", H2Params(mu1=1 / 0.5, mu2=1 / 5.5, p1=0.9)
    return None


class MQUniformPredictor:
    """Y | X = x ~ U[(1 - a) x, (1 + a) x] for most-queue's ``MG1SpjfCalc``.

    Not part of most-queue: a user-written object satisfying its ``Predictor``
    protocol (``marginal_y_pdf``, ``load_below_y``), written in the style of its
    built-in ``ExpNoisePredictor`` (scipy ``quad`` over x).
    """

    def __init__(self, alpha: float):
        self.a = alpha

    def marginal_y_pdf(self, y, pdf):
        from scipy.integrate import quad

        if y <= 0:
            return 0.0
        lo, hi = y / (1 + self.a), y / (1 - self.a)
        return quad(lambda x: pdf(x) / (2 * self.a * x), lo, hi, limit=400)[0]

    def load_below_y(self, lam, pdf, y):
        from scipy.integrate import quad

        if y <= 0:
            return 0.0
        lo, hi = y / (1 + self.a), y / (1 - self.a)
        part = quad(lambda x: x * pdf(x) * (y / x - (1 - self.a)) / (2 * self.a), lo, hi,
                    limit=400)[0]
        full = quad(lambda x: x * pdf(x), 0.0, lo, limit=400)[0] if lo > 0 else 0.0
        return float(lam) * (full + part)


def _mq_predictor(name: str):
    from most_queue.theory.srpt import ExpNoisePredictor, LognormalNoisePredictor

    return {
        "exponential": ExpNoisePredictor,
        "lognormal(0.5)": lambda: LognormalNoisePredictor(sigma=0.5),
        "uniform(0.5)": lambda: MQUniformPredictor(0.5),
    }.get(name)


def mq_support(case: Case) -> tuple[bool, str]:
    """Whether most-queue can compute ``case``, and why not / how."""
    if case.policy in ("PSPJF", "SPRPT"):
        return False, f"no {case.policy} calculator in most-queue"
    if _mq_size(case.size) is None:
        kind = case.size.split("(")[0]
        return False, (f"{kind} sizes not supported by most-queue's size-based calculators "
                       "(supported: M, H2, E, Gamma, unbounded Pareto, Uniform, Normal, D)")
    if case.policy == "SPJF":
        if case.prediction == "uniform(0.5)":
            return True, "MG1SpjfCalc + user-written uniform Predictor (no built-in one)"
        return True, "MG1SpjfCalc"
    return True, {"FCFS": "MG1Calc", "PS": "MG1PSCalc", "FB": "MG1FbCalc", "SJF": "MG1SjfCalc",
                  "PSJF": "MG1PsjfCalc", "SRPT": "MG1SrptCalc"}[case.policy]


def mq_value(case: Case, load: float = LOAD) -> float:
    from most_queue.theory.fifo.mg1 import MG1Calc
    from most_queue.theory.fifo.mg1_ps import MG1PSCalc
    from most_queue.theory.srpt import (
        MG1FbCalc,
        MG1PsjfCalc,
        MG1SjfCalc,
        MG1SpjfCalc,
        MG1SrptCalc,
    )
    from most_queue.theory.srpt.utils.load_below import get_theory_moments

    kendall, params = _mq_size(case.size)
    moments = get_theory_moments(params, kendall, 4)
    lam = load / moments[0]
    if case.policy in ("FCFS", "PS"):
        calc = MG1Calc() if case.policy == "FCFS" else MG1PSCalc()
        calc.set_sources(lam)
        calc.set_servers(moments)
        return float(calc.get_v(num=1)[0])
    cls = {"FB": MG1FbCalc, "SJF": MG1SjfCalc, "PSJF": MG1PsjfCalc, "SRPT": MG1SrptCalc,
           "SPJF": MG1SpjfCalc}[case.policy]
    calc = cls()
    calc.set_sources(lam)
    calc.set_servers(params, kendall)
    if case.policy == "SPJF":
        calc.set_predictor(_mq_predictor(case.prediction)())
    return float(calc.run().v[0])


def mq_sweep(case: Case) -> np.ndarray:
    return np.array([mq_value(case, r) for r in SWEEP_LOADS])


# ----------------------------------------------------------------------------- timing
def _time(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def cold_time(which: str, kind: str, case: Case) -> float:
    """Seconds of the first call in a fresh interpreter (imports not timed)."""
    payload = json.dumps([which, kind, case.size, case.prediction, case.policy])
    out = subprocess.run([sys.executable, __file__, "--cold-worker", payload],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def _cold_worker(payload: str) -> None:
    which, kind, size, pred, pol = json.loads(payload)
    case = Case(size, pred, pol)
    if which == "peer":  # import everything most-queue needs before the clock starts
        import most_queue.theory.fifo.mg1  # noqa: F401
        import most_queue.theory.fifo.mg1_ps  # noqa: F401
        import most_queue.theory.srpt  # noqa: F401
        import most_queue.theory.srpt.utils.load_below  # noqa: F401
        fn = mq_value if kind == "value" else mq_sweep
    else:
        fn = ours_value if kind == "value" else ours_sweep
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(_time(fn, case))


def median_time(fn, case: Case, repeats: int) -> float:
    fn(case)  # untimed: warm process-level caches
    return statistics.median(_time(fn, case) for _ in range(repeats))


def cached_time(case: Case, repeats: int, sweep: bool) -> float:
    q = ours_queue(case, SWEEP_LOADS[0] if sweep else LOAD)
    call = (lambda: q.sweep(case.policy, SWEEP_LOADS)) if sweep else (
        lambda: q.mean_response_time(case.policy))
    call()
    return statistics.median(_time(call) for _ in range(repeats))


# ----------------------------------------------------------------------------- accuracy
def reference_value(case: Case, symbolic: bool):
    """(value, source) of an independent reference, or (None, reason)."""
    if symbolic and case.size == "exponential(1)" and case.prediction in ("exponential", "exact"):
        q = ours_queue(case)
        return q.mean_response_time(case.policy, method="symbolic"), "symbolic"
    return None, "none"


# ----------------------------------------------------------------------------- report
def _ms(t: float | None) -> str:
    if t is None:
        return "n/a"
    ms = 1e3 * t
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.3g}"


def _verdict(t: float | None, target_ms: float | None) -> str:
    if t is None or target_ms is None:
        return "-"
    return "PASS" if 1e3 * t <= target_ms else "FAIL"


def _g(v) -> str:
    return "n/a" if v is None else f"{v:.10g}"


def _loadavg() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def machine_lines(runtime: float, args, load_before: str) -> list[str]:
    from importlib.metadata import version

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        "# Benchmark: qtheory M/G/1 mean response times vs most-queue",
        "",
        f"Generated by `python validation/bench/bench_mg1.py{' --quick' if args.quick else ''}` "
        f"on {now}; total runtime {runtime:.0f} s.",
        "",
        f"- machine: {platform.machine()}, `nproc` = {_nproc()}, "
        f"{platform.platform()}; load average (1/5/15 min) {load_before} at the start, "
        f"{_loadavg()} at the end (the machine is shared: other processes compete for the CPUs)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {version('scipy')}, qtheory {qt.__version__}, most-queue {version('most-queue')}",
        f"- repeats: median of {args.repeats} runs (fresh queue each run); cold = first call "
        "in a fresh interpreter (imports excluded, grid construction included); cached = "
        "repeated call on one queue (qtheory only; most-queue keeps no cache)",
        f"- per-value cases at load rho = {LOAD}; sweeps over 50 loads "
        f"np.linspace(0.05, 0.99, 50); qtheory at its default rtol = 1e-9",
        "- targets: SPRPT <= 100 ms per value at 1e-8 relative accuracy; SPJF <= 20 ms per "
        "value; a 50-load sweep <= 1 s for any policy. Verdicts use the *fresh* median; "
        "the cold verdict is given separately.",
        "- ratio = qtheory time / most-queue time (fresh medians; < 1 means qtheory is "
        "faster); rel. diff = |qtheory - most-queue| / qtheory.",
        "",
    ]


def run(args) -> str:
    t_start = time.perf_counter()
    load_before = _loadavg()
    repeats = args.repeats
    rows_value, rows_sweep, rows_acc, unsupported = [], [], [], []
    warn_log: list[str] = []

    def record(label, rec):
        warn_log.extend(f"{label}: {w.category.__name__}: {w.message}" for w in rec)

    for case in value_cases():
        print("value", case.label, flush=True)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            q = ours_queue(case)
            val, err = q.mean_response_time_with_error(case.policy)
            row = {
                "case": case, "ours": val, "est_err": err / abs(val),
                "cold": cold_time("ours", "value", case),
                "fresh": median_time(ours_value, case, repeats),
                "cached": cached_time(case, repeats, sweep=False),
            }
        record(case.label, rec)
        ok, how = mq_support(case)
        row["peer_how"] = how
        if ok:
            row["peer"] = mq_value(case)
            row["peer_cold"] = cold_time("peer", "value", case)
            row["peer_fresh"] = median_time(mq_value, case, repeats)
        else:
            row["peer"] = row["peer_cold"] = row["peer_fresh"] = None
            unsupported.append(f"{case.label}: {how}")
        rows_value.append(row)

        if case.policy in ("SPJF", "PSPJF", "SPRPT"):
            tight = qt.MG1(load=LOAD, size=SIZES[case.size](),
                           prediction=PREDICTIONS[case.prediction](), rtol=1e-13)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tight_val = tight.mean_response_time(case.policy)
            ref, src = reference_value(case, not args.quick)
            rows_acc.append({"case": case, "ours": val, "est_err": err / abs(val),
                             "tight": abs(val - tight_val) / abs(tight_val),
                             "ref": ref, "src": src,
                             "ref_err": None if ref is None else abs(val - ref) / abs(ref)})

    for case in sweep_cases():
        print("sweep", case.label, flush=True)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            vals = ours_sweep(case)
            row = {
                "case": case,
                "cold": cold_time("ours", "sweep", case),
                "fresh": median_time(ours_sweep, case, repeats),
                "cached": cached_time(case, repeats, sweep=True),
            }
        record(case.label + " (sweep)", rec)
        ok, how = mq_support(case)
        # most-queue sweeps are timed for the exponential-size cases only (the others
        # cost ~50 x its per-value time, shown in the first table)
        if ok and case.size == "exponential(1)":
            peer_vals = mq_sweep(case)
            row["peer_cold"] = cold_time("peer", "sweep", case)
            row["peer_fresh"] = median_time(mq_sweep, case, repeats)
            row["max_rel_diff"] = float(np.max(np.abs(vals - peer_vals) / np.abs(vals)))
        else:
            row["peer_cold"] = row["peer_fresh"] = row["max_rel_diff"] = None
            row["peer_how"] = how if not ok else "not timed (see per-value table)"
        rows_sweep.append(row)

    runtime = time.perf_counter() - t_start
    lines = machine_lines(runtime, args, load_before)

    # ---- summary of the verdicts
    fails = [f"{r['case'].label}: {_ms(r['fresh'])} ms per value (target "
             f"{TARGET_MS[r['case'].policy]:g} ms)" for r in rows_value
             if _verdict(r["fresh"], TARGET_MS.get(r["case"].policy)) == "FAIL"]
    fails += [f"{r['case'].label}: {_ms(r['fresh'])} ms per 50-load sweep (target 1000 ms)"
              for r in rows_sweep if _verdict(r["fresh"], SWEEP_TARGET_MS) == "FAIL"]
    n_target = sum(1 for r in rows_value if r["case"].policy in TARGET_MS) + len(rows_sweep)
    acc_fails = [r["case"].label for r in rows_acc
                 if max(r["est_err"], r["tight"], r["ref_err"] or 0.0) > ACCURACY]
    lines += ["## Summary", "",
              f"- speed: {n_target - len(fails)} of {n_target} timed cases meet their target "
              "(fresh median)" + (":" if fails else "."),
              *[f"  - FAIL {f}" for f in fails],
              f"- accuracy (1e-8 relative): {len(rows_acc) - len(acc_fails)} of {len(rows_acc)} "
              "prediction-policy values pass" + (": FAIL " + "; ".join(acc_fails) if acc_fails
                                                  else "."),
              ""]

    # ---- per-value timing
    lines += [
        "## Mean response time per value (load 0.8)",
        "",
        "| policy | size | prediction | cold ms | fresh ms | cached ms | target ms | verdict "
        "(fresh) | verdict (cold) | most-queue cold ms | most-queue fresh ms | ratio |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in rows_value:
        c = r["case"]
        target = TARGET_MS.get(c.policy)
        ratio = (f"{r['fresh'] / r['peer_fresh']:.3g}" if r["peer_fresh"] else "n/a")
        lines.append(
            f"| {c.policy} | {c.size} | {c.prediction} | {_ms(r['cold'])} | {_ms(r['fresh'])} | "
            f"{_ms(r['cached'])} | {target if target else '-'} | {_verdict(r['fresh'], target)} | "
            f"{_verdict(r['cold'], target)} | {_ms(r['peer_cold'])} | {_ms(r['peer_fresh'])} | "
            f"{ratio} |")
    lines += ["", "## Values: qtheory vs most-queue (load 0.8)", "",
              "| policy | size | prediction | qtheory | est. rel. err | most-queue | abs diff | "
              "rel. diff | most-queue calculator |",
              "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows_value:
        c = r["case"]
        if r["peer"] is None:
            diff = rel = "n/a"
        else:
            diff = f"{abs(r['ours'] - r['peer']):.2e}"
            rel = f"{abs(r['ours'] - r['peer']) / abs(r['ours']):.2e}"
        lines.append(f"| {c.policy} | {c.size} | {c.prediction} | {_g(r['ours'])} | "
                     f"{r['est_err']:.1e} | {_g(r['peer'])} | {diff} | {rel} | {r['peer_how']} |")

    lines += [
        "", "Differences for FB, SJF, PSJF and SRPT are of the size expected from most-queue's "
        "method: it tabulates the inner integrals with cumulative trapezoid sums on a fixed "
        "4000-point mesh up to its 1 - 1e-7 quantile of the size law and integrates with "
        "Simpson's rule; its SPJF uses nested scipy `quad` calls (outer epsrel = 1e-7).",
    ]

    # ---- accuracy
    lines += [
        "", "## Accuracy of the prediction policies (target 1e-8 relative)", "",
        "est. rel. err: qtheory's own error estimate; vs rtol=1e-13: relative difference to "
        "the same engine run at rtol = 1e-13 (self-convergence, not independent); vs "
        "reference: relative difference to `method=\"symbolic\"` (sympy-derived Bessel-K / "
        "closed-form integrands evaluated with mpmath at 30 digits), available for "
        "exponential sizes with exponential predictions only" + (
            " (skipped with --quick)" if args.quick else "") + ".",
        "",
        "| policy | size | prediction | qtheory | est. rel. err | vs rtol=1e-13 | reference | "
        "vs reference | verdict (1e-8) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows_acc:
        c = r["case"]
        worst = max(r["est_err"], r["tight"], r["ref_err"] or 0.0)
        ref = "n/a" if r["ref"] is None else f"{r['ref']:.15g} ({r['src']})"
        vref = "n/a" if r["ref_err"] is None else f"{r['ref_err']:.1e}"
        lines.append(f"| {c.policy} | {c.size} | {c.prediction} | {r['ours']:.15g} | "
                     f"{r['est_err']:.1e} | {r['tight']:.1e} | {ref} | {vref} | "
                     f"{'PASS' if worst <= ACCURACY else 'FAIL'} |")

    # ---- sweeps
    lines += ["", "## Sweeps over 50 loads in [0.05, 0.99] (target <= 1 s)", "",
              "| policy | size | prediction | cold ms | fresh ms | cached ms | verdict (fresh) | "
              "verdict (cold) | most-queue cold ms | most-queue fresh ms | ratio | "
              "max rel. diff |",
              "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for r in rows_sweep:
        c = r["case"]
        ratio = f"{r['fresh'] / r['peer_fresh']:.3g}" if r["peer_fresh"] else "n/a"
        mrd = "n/a" if r["max_rel_diff"] is None else f"{r['max_rel_diff']:.1e}"
        lines.append(
            f"| {c.policy} | {c.size} | {c.prediction} | {_ms(r['cold'])} | {_ms(r['fresh'])} | "
            f"{_ms(r['cached'])} | {_verdict(r['fresh'], SWEEP_TARGET_MS)} | "
            f"{_verdict(r['cold'], SWEEP_TARGET_MS)} | {_ms(r['peer_cold'])} | "
            f"{_ms(r['peer_fresh'])} | {ratio} | {mrd} |")

    # ---- most-queue coverage
    lines += [
        "", "## What most-queue could not compute", "",
        "most-queue 2.9 has M/G/1 calculators for SJF, PSJF, SRPT, FB (`most_queue.theory.srpt`, "
        "grid + Simpson integration on a 4000-point mesh), FCFS and PS (`most_queue.theory.fifo`) "
        "and SPJF with a pluggable predictor (built in: perfect, exponential noise, log-normal "
        "noise; scipy `quad` for the inner integrals). It has no PSPJF and no SPRPT, and its "
        "size-based calculators accept only M, H2, Erlang, Gamma, (unbounded) Pareto, Uniform, "
        "Normal and deterministic sizes: no Weibull, no bounded Pareto. Uniform predictions are "
        "computed with a user-written predictor object (`MQUniformPredictor` in this script), "
        "not with a built-in one. Cases not computed:",
        "",
        *[f"- {u}" for u in unsupported],
        "",
        "## Warnings raised by qtheory during the benchmark",
        "",
        *([f"- {w}" for w in dict.fromkeys(warn_log)] or ["None."]),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (>= 5)")
    parser.add_argument("--quick", action="store_true",
                        help="skip the (slow, ~2 min) symbolic reference values")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cold-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_worker:
        _cold_worker(args.cold_worker)
        return 0
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    text = run(args)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
