"""Command-line interface: ``qtheory solve | table | validate | llm``.

Examples (shell)::

    qtheory solve --policy SPRPT --size exponential:mean=1 --prediction exponential --load 0.8
    qtheory solve --policy SPJF,SPRPT --size weibull:shape=0.5,scale=0.5 \\
        --prediction uniform:alpha=0.5 --arrival-rate 0.9 --json
    qtheory table            # the README's headline table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np

from . import distributions as dists
from . import predictions as preds
from .policies import POLICY_NAMES
from .queue import MG1

__all__ = ["main", "parse_size", "parse_prediction", "headline_table"]

_SIZES = {
    "exponential": dists.Exponential,
    "exp": dists.Exponential,
    "deterministic": dists.Deterministic,
    "uniform": dists.Uniform,
    "gamma": dists.Gamma,
    "erlang": dists.Erlang,
    "hyperexponential": dists.HyperExponential,
    "weibull": dists.Weibull,
    "lognormal": dists.Lognormal,
    "pareto": dists.Pareto,
    "boundedpareto": dists.BoundedPareto,
    "bounded-pareto": dists.BoundedPareto,
    "discrete": dists.Discrete,
}
_PREDICTIONS = {
    "exact": preds.ExactPrediction,
    "none": preds.ExactPrediction,
    "exponential": preds.ExponentialPrediction,
    "exp": preds.ExponentialPrediction,
    "uniform": preds.UniformPrediction,
    "lognormal": preds.LognormalPrediction,
}
HEADLINE_LOADS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def _parse_spec(spec: str, table: dict, what: str):
    name, _, params = spec.partition(":")
    key = name.strip().lower()
    if key not in table:
        raise ValueError(f"{what}: unknown law {name!r}; known: {', '.join(sorted(table))}")
    kwargs = {}
    if params.strip():
        # values may be lists separated by '/', e.g. means=0.5/3,probs=0.8/0.2
        for item in params.split(","):
            k, eq, v = item.partition("=")
            if not eq:
                raise ValueError(f"{what}: expected key=value in {spec!r}, got {item!r}")
            vals = [float(t) for t in v.split("/")]
            kwargs[k.strip()] = vals[0] if len(vals) == 1 else tuple(vals)
    try:
        return table[key](**kwargs)
    except TypeError as exc:
        raise ValueError(f"{what}: bad parameters in {spec!r}: {exc}") from None


def parse_size(spec: str):
    """Parse ``"name:key=value,key=value"`` into a size law.

    Examples
    --------
    >>> parse_size("exponential:mean=2")
    Exponential(mean=2.0)
    """
    return _parse_spec(spec, _SIZES, "size")


def parse_prediction(spec: str):
    """Parse ``"exponential"``, ``"uniform:alpha=0.5"``, ``"exact"`` ...

    Examples
    --------
    >>> parse_prediction("uniform:alpha=0.25")
    UniformPrediction(alpha=0.25)
    """
    return _parse_spec(spec, _PREDICTIONS, "prediction")


def headline_table(loads: Sequence[float] = HEADLINE_LOADS, policies=POLICY_NAMES) -> str:
    """Markdown table of E[T]: exponential sizes (mean 1), exponential predictions."""
    base = MG1(load=loads[0], size=dists.Exponential(mean=1.0),
               prediction=preds.ExponentialPrediction())
    head = "| policy | " + " | ".join(f"rho={r:g}" for r in loads) + " |"
    lines = [head, "|---|" + "---:|" * len(loads)]
    for name in policies:
        vals = base.sweep(name, loads)
        lines.append(f"| {name} | " + " | ".join(f"{v:.6f}" for v in vals) + " |")
    return "\n".join(lines)


def _solve(args) -> int:
    size = parse_size(args.size)
    prediction = parse_prediction(args.prediction)
    if (args.load is None) == (args.arrival_rate is None):
        raise ValueError("give exactly one of --load and --arrival-rate")
    q = MG1(arrival_rate=args.arrival_rate, load=args.load, size=size, prediction=prediction)
    names = [p.strip() for p in args.policy.split(",") if p.strip()]
    rows = []
    for name in names:
        t0 = time.perf_counter()
        value, err = q.mean_response_time_with_error(name, method=args.method, dps=args.dps)
        rows.append({"policy": name.upper(), "mean_response_time": value, "error_estimate": err,
                     "seconds": time.perf_counter() - t0})
    if args.json:
        for r in rows:  # strict JSON has no Infinity: an unstable queue's mean is null
            if not np.isfinite(r["mean_response_time"]):
                r["mean_response_time"] = None
        out = {"size": repr(size), "prediction": repr(prediction), "arrival_rate": q.arrival_rate,
               "load": q.load, "stable": q.is_stable, "method": args.method, "results": rows}
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(f"M/G/1  size={size!r}  prediction={prediction!r}  "
              f"lambda={q.arrival_rate:g}  rho={q.load:g}  method={args.method}")
        for r in rows:
            print(f"  {r['policy']:<8} E[T] = {r['mean_response_time']:.12g}")
    return 0


def _validate(args) -> int:
    from .sim.validate import DEFAULT_LAWS, DEFAULT_POLICIES, cross_validate, write_report

    try:
        loads = [float(v) for v in args.loads.split(",") if v.strip()]
    except ValueError:
        loads = []
    if not loads or any(not 0 < v < 1 for v in loads):
        raise ValueError(f"--loads must be comma-separated numbers in (0, 1), got {args.loads!r}")
    rows = cross_validate(DEFAULT_LAWS(), loads, DEFAULT_POLICIES(), jobs=args.jobs,
                          replications=args.replications, seed=args.seed,
                          progress=not args.no_progress)
    for r in rows:
        print(f"{r.law:20s} {r.load:5.2f} {r.policy:24s} analytic={r.analytic:<12.6g} "
              f"simulated={r.simulated:<12.6g} z={r.z:+.2f}")
    if args.out:
        pre = (f"Generated by `qtheory validate --jobs {args.jobs} --replications "
               f"{args.replications} --seed {args.seed} --loads {args.loads}`.")
        path = write_report(rows, args.out, title="Analysis vs simulation", preamble=pre,
                            plot=not args.no_plot)
        print(f"wrote {path}")
    worst = max((abs(r.z) for r in rows), default=0.0)
    return 0 if worst < 4 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qtheory`` command."""
    parser = argparse.ArgumentParser(prog="qtheory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="mean response time of one or more policies")
    s.add_argument("--policy", required=True,
                   help=f"policy name(s), comma-separated: {', '.join(POLICY_NAMES)}")
    s.add_argument("--size", required=True, help="size law, e.g. exponential:mean=1")
    s.add_argument("--prediction", default="exact",
                   help="prediction model: exact, exponential, uniform:alpha=A, lognormal:sigma=S")
    s.add_argument("--load", type=float, help="rho = lambda E[X]")
    s.add_argument("--arrival-rate", type=float, help="lambda (instead of --load)")
    s.add_argument("--method", default="quad", choices=("quad", "mpmath", "symbolic"))
    s.add_argument("--dps", type=int, default=30, help="digits for --method mpmath")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_solve)

    t = sub.add_parser("table", help="headline table: all policies, exponential sizes and "
                                     "exponential predictions, loads 0.5-0.99")
    t.set_defaults(func=lambda a: print(headline_table()) or 0)

    v = sub.add_parser("validate", help="analysis vs Monte Carlo over a grid of size laws, "
                                        "policies and loads, with z-scores (exit 1 if |z| >= 4)")
    v.add_argument("--jobs", type=int, default=200_000, help="jobs per replication")
    v.add_argument("--replications", type=int, default=8)
    v.add_argument("--seed", type=int, default=2025)
    v.add_argument("--loads", default="0.5,0.8", help="comma-separated loads")
    v.add_argument("--out", default=None, help="write a Markdown report (and a PNG) here")
    v.add_argument("--no-plot", action="store_true", help="no PNG with the report")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=_validate)

    from .cli_llm import add_llm_parser

    add_llm_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"qtheory: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
