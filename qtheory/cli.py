"""Command-line interface: ``qtheory solve | optimize | table | validate | llm``.

Examples (shell)::

    qtheory solve --policy SPRPT --size exponential:mean=1 --prediction exponential --load 0.8
    qtheory solve --policy SPJF,SPRPT --size weibull:shape=0.5,scale=0.5 \\
        --prediction uniform:alpha=0.5 --arrival-rate 0.9 --json
    qtheory solve --policy TRAIL:c=0.5,SRPT-Bounce --size exponential:mean=1 \
        --prediction exponential --load 0.8 --simulate 200000
    qtheory solve --policy SkipPredict:threshold=1,expensive_cost=0.1,bit_prediction=1 \
        --size exponential:mean=1 --prediction exponential --prediction uniform:alpha=0.5 \
        --load 0.8
    qtheory optimize onebit --size exponential:mean=1 --prediction exponential --load 0.8
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
from . import policies as policies_mod
from . import predictions as preds
from .policies import POLICY_NAMES, get_policy
from .queue import METHODS, MG1

__all__ = ["main", "parse_size", "parse_prediction", "parse_predictions", "split_policies",
           "parse_jobs", "headline_table"]

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


def split_policies(specs: Sequence[str]) -> list[str]:
    """Policy specs from the values of ``--policy``: each value is one spec or a
    comma-separated list of them; a piece with ``=`` and no ``:`` continues the spec before
    it (``"TRAIL:c=0.5,SPRPT"`` is two policies, ``"OneBit:threshold=2,preemptive=true"``
    one).

    Examples
    --------
    >>> split_policies(["SPJF,TRAIL:c=0.5,SPRPT", "OneBit:threshold=2,preemptive=true"])
    ['SPJF', 'TRAIL:c=0.5', 'SPRPT', 'OneBit:threshold=2,preemptive=true']
    """
    out: list[str] = []
    for value in specs:
        for piece in value.split(","):
            if not piece.strip():
                continue
            if "=" in piece and ":" not in piece:
                if not out or ":" not in out[-1]:
                    raise ValueError(f"policy: {piece.strip()!r} is a parameter without a "
                                     f"policy (write Name:key=value)")
                out[-1] += "," + piece.strip()
            else:
                out.append(piece.strip())
    if not out:
        raise ValueError("policy: give at least one policy")
    return out


def parse_predictions(specs: Sequence[str] | None):
    """The prediction model of ``--prediction``: one spec, or a
    :class:`~qtheory.predictions.MultiPrediction` of several (``--prediction`` given more
    than once: the policies read them as ``prediction:0``, ``prediction:1``, ...).

    Examples
    --------
    >>> parse_predictions(["exponential", "uniform:alpha=0.5"])
    MultiPrediction([ExponentialPrediction(), UniformPrediction(alpha=0.5)])
    """
    specs = list(specs or ["exact"])
    models = [parse_prediction(v) for v in specs]
    return models[0] if len(models) == 1 else preds.MultiPrediction(models)


def parse_jobs(spec: str, models: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The jobs of ``--conditional``: ``"x"`` or ``"x:y"`` (with several prediction models
    ``"x:y0:y1..."``, one value per model), comma-separated. Returns the sizes and the
    predictions (``None`` when no job gives one; shape (jobs, models) with several models).

    Examples
    --------
    >>> parse_jobs("0.5:0.6,2:1.5", 1)
    (array([0.5, 2. ]), array([0.6, 1.5]))
    >>> parse_jobs("1:0.8:1.2", 2)[1]
    array([[0.8, 1.2]])
    """
    xs, ys = [], []
    for item in spec.split(","):
        if not item.strip():
            continue
        try:
            vals = [float(v) for v in item.split(":")]
        except ValueError:
            raise ValueError(f"--conditional: expected numbers x[:y], got {item.strip()!r}") \
                from None
        if len(vals) not in (1, 1 + models):
            raise ValueError(f"--conditional: job {item.strip()!r} needs its size and "
                             f"{models} prediction(s) (x:y{':y' * (models - 1)}), or its size "
                             "alone")
        xs.append(vals[0])
        ys.append(vals[1:])
    if not xs:
        raise ValueError("--conditional: give at least one job")
    if all(not y for y in ys):
        return np.array(xs), None
    if not all(ys):
        raise ValueError("--conditional: give the predictions of every job or of none")
    y = np.array(ys)
    return np.array(xs), (y[:, 0] if models == 1 else y)


def _reads_other_predictions(pol) -> bool:
    """True when ``pol`` reads a prediction other than the first (its conditional response
    time then takes every prediction of a job)."""
    if getattr(pol, "bit_prediction", 0):
        return True
    try:
        rank = pol.rank()
    except TypeError:  # ranks built from the laws (Gittins): the first prediction only
        return False
    return rank is not None and bool(rank.key_index or rank.branch_index)


def _conditional(q: MG1, pol, x, y) -> list:
    """E[T | x, y] of the jobs of ``--conditional`` (exact predictions: y = x)."""
    if y is None and pol.uses_prediction:
        if not q.prediction.is_exact:
            raise ValueError(f"--conditional: {pol.name} reads the prediction; give each job "
                             "as x:y")
        y = x
    if y is not None and y.ndim == 2 and not _reads_other_predictions(pol):
        y = y[:, 0]
    return np.atleast_1d(q.conditional_response_time(pol, x, y)).tolist()


def _queue(args) -> MG1:
    size = parse_size(args.size)
    prediction = parse_predictions(args.prediction)
    if (args.load is None) == (args.arrival_rate is None):
        raise ValueError("give exactly one of --load and --arrival-rate")
    return MG1(arrival_rate=args.arrival_rate, load=args.load, size=size, prediction=prediction)


def _json_number(v):
    """Strict JSON has no Infinity or NaN: null instead."""
    return float(v) if np.isfinite(v) else None


def _solve(args) -> int:
    q = _queue(args)
    policies = [get_policy(spec) for spec in split_policies(args.policy)]
    if args.simulate is not None and args.simulate < 1:
        raise ValueError(f"--simulate must be a positive number of jobs, got {args.simulate}")
    jobs = None if args.conditional is None else parse_jobs(args.conditional,
                                                            len(q.predictions))
    rows = []
    for pol in policies:
        t0 = time.perf_counter()
        value, err = q.mean_response_time_with_error(pol, method=args.method, dps=args.dps)
        row = {"policy": pol.name, "mean_response_time": value, "error_estimate": err,
               "seconds": time.perf_counter() - t0, "spec": repr(pol)}
        if jobs is not None:
            x, y = jobs
            given = [None] * x.size if y is None else [np.atleast_1d(v).tolist() for v in y]
            row["conditional"] = [{"x": float(xv), "y": yv, "mean_response_time": v}
                                  for xv, yv, v in zip(x, given, _conditional(q, pol, x, y))]
        if args.simulate is not None:
            sim = q.simulate(pol, jobs=args.simulate, replications=args.replications,
                             seed=args.seed)
            z = (sim.mean - value) / sim.std_error if sim.std_error > 0 else float("nan")
            row["simulation"] = {"mean": sim.mean, "ci": list(sim.ci), "level": sim.level,
                                 "std_error": sim.std_error, "z": z, "jobs": sim.jobs,
                                 "replications": sim.replications, "seed": sim.seed}
        rows.append(row)
    prediction = q.predictions if len(q.predictions) > 1 else q.prediction
    if args.json:
        for r in rows:
            r["mean_response_time"] = _json_number(r["mean_response_time"])
            for c in r.get("conditional", []):
                c["mean_response_time"] = _json_number(c["mean_response_time"])
            if "simulation" in r:
                sim = r["simulation"]
                for k in ("mean", "std_error", "z"):
                    sim[k] = _json_number(sim[k])
                sim["ci"] = [_json_number(v) for v in sim["ci"]]
        out = {"size": repr(q.size), "prediction": repr(prediction),
               "arrival_rate": q.arrival_rate, "load": q.load, "stable": q.is_stable,
               "method": args.method, "results": rows}
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(f"M/G/1  size={q.size!r}  prediction={prediction!r}  "
              f"lambda={q.arrival_rate:g}  rho={q.load:g}  method={args.method}")
        width = max(8, *(len(r["policy"]) for r in rows))
        for r in rows:
            line = f"  {r['policy']:<{width}} E[T] = {r['mean_response_time']:.12g}"
            if "simulation" in r:
                sim = r["simulation"]
                half = 0.5 * (sim["ci"][1] - sim["ci"][0])
                line += (f"   simulated {sim['mean']:.6g} +- {half:.2g} "
                         f"({100 * sim['level']:g}% CI, z = {sim['z']:+.2f})")
            print(line)
            for c in r.get("conditional", []):
                given = f"x={c['x']:g}" + ("" if c["y"] is None else
                                           ", y=" + "/".join(f"{v:g}" for v in c["y"]))
                print(f"    E[T | {given}] = {c['mean_response_time']:.12g}")
    return 0


def _optimize(args) -> int:
    from .analysis.optimize import optimal_buckets, optimal_one_bit, optimal_trail

    q = _queue(args)
    preemptive = args.preemptive
    t0 = time.perf_counter()
    if args.target == "onebit":
        res = optimal_one_bit(q, preemptive=bool(preemptive), within=args.within)
        best = policies_mod.OneBit(threshold=res.argument, preemptive=bool(preemptive),
                                   within=args.within)
    elif args.target == "buckets":
        if args.k is None:
            raise ValueError("--k: give the number of buckets for 'buckets'")
        pre = True if preemptive is None else preemptive
        res = optimal_buckets(q, args.k, preemptive=pre)
        best = policies_mod.Buckets(thresholds=res.argument, preemptive=pre)
    else:
        if not args.c_max > 0:
            raise ValueError(f"--c-max must be > 0, got {args.c_max}")
        res = optimal_trail(q, c_max=args.c_max)
        best = policies_mod.TRAIL(c=res.argument)
    seconds = time.perf_counter() - t0
    if args.json:
        arg = list(res.argument) if isinstance(res.argument, tuple) else res.argument
        print(json.dumps({"size": repr(q.size), "prediction": repr(q.prediction),
                          "arrival_rate": q.arrival_rate, "load": q.load,
                          "target": args.target, "argument": arg, "policy": repr(best),
                          "mean_response_time": _json_number(res.mean_response_time),
                          "evaluations": res.evaluations, "seconds": seconds},
                         indent=2, allow_nan=False))
    else:
        print(f"M/G/1  size={q.size!r}  prediction={q.prediction!r}  "
              f"lambda={q.arrival_rate:g}  rho={q.load:g}")
        print(f"  best {best.name}: E[T] = {res.mean_response_time:.12g}  "
              f"({res.evaluations} evaluations)")
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


def _queue_arguments(p) -> None:
    p.add_argument("--size", required=True, help="size law, e.g. exponential:mean=1")
    p.add_argument("--prediction", action="append", default=None,
                   help="prediction model: exact (default), exponential, uniform:alpha=A, "
                        "lognormal:sigma=S; repeated for several predictions of each job")
    p.add_argument("--load", type=float, help="rho = lambda E[X]")
    p.add_argument("--arrival-rate", type=float, help="lambda (instead of --load)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qtheory`` command."""
    parser = argparse.ArgumentParser(prog="qtheory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="mean response time of one or more policies")
    s.add_argument("--policy", required=True, action="append",
                   help="policy name(s) or spec(s), comma-separated or the option repeated: "
                        f"{', '.join(POLICY_NAMES)}, Gittins, SERPT, SRPT-Bounce, or with "
                        "parameters, e.g. TRAIL:c=0.5, OneBit:threshold=1,preemptive=true, "
                        "Buckets:thresholds=0.5/2, SkipPredict:threshold=1,expensive_cost=0.1; "
                        "a rank function of your own saved as JSON: Rank:file=PATH")
    _queue_arguments(s)
    s.add_argument("--method", default="quad", choices=METHODS)
    s.add_argument("--dps", type=int, default=30, help="digits for --method mpmath")
    s.add_argument("--simulate", type=int, default=None, metavar="JOBS",
                   help="also simulate each policy (JOBS measured jobs a replication) and "
                        "print the simulated mean, its confidence interval and z")
    s.add_argument("--conditional", default=None, metavar="JOBS",
                   help="also E[T | size, prediction] of these jobs: x or x:y "
                        "(x:y0:y1... with several predictions), comma-separated")
    s.add_argument("--replications", type=int, default=8, help="replications of --simulate")
    s.add_argument("--seed", type=int, default=2025, help="seed of --simulate")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_solve)

    o = sub.add_parser("optimize", help="best threshold of one-bit advice, best k-bucket "
                                        "thresholds, or best c of TRAIL for a queue")
    o.add_argument("target", choices=("onebit", "buckets", "trail"))
    _queue_arguments(o)
    o.add_argument("--k", type=int, default=None, help="number of buckets (buckets)")
    pre = o.add_mutually_exclusive_group()
    pre.add_argument("--preemptive", dest="preemptive", action="store_true", default=None,
                     help="preemptive variant (default: non-preemptive one bit, "
                          "preemptive buckets)")
    pre.add_argument("--non-preemptive", dest="preemptive", action="store_false")
    o.add_argument("--within", default="lcfs", choices=("lcfs", "fifo"),
                   help="order among short jobs of preemptive one bit")
    o.add_argument("--c-max", type=float, default=1.0, help="upper end of c (trail)")
    o.add_argument("--json", action="store_true", help="machine-readable output")
    o.set_defaults(func=_optimize)

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
