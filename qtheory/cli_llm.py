"""``qtheory llm simulate`` and ``qtheory llm capacity``: LLM serving from the shell.

Examples (shell)::

    qtheory llm capacity --preset sharegpt --rate 2 --token-budget 2048 \\
        --staircase 11.28,35.47,128 --kv-capacity 200000
    qtheory llm simulate --preset sharegpt --rate 0.5,1,1.5 --scheduler sprpt \\
        --kv-capacity 60000 --max-batch 256 --requests 100000 --replications 4
"""

from __future__ import annotations

import json
import sys

import numpy as np

__all__ = ["add_llm_parser"]


def _floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise ValueError(f"{name}: give at least one number")
    return vals


def _time_model(args):
    from . import llm

    given = [x for x in (args.linear, args.staircase) if x]
    if len(given) > 1:
        raise ValueError("give at most one of --linear and --staircase")
    if args.linear:
        d = _floats(args.linear, "--linear")
        if len(d) != 2:
            raise ValueError("--linear: expected d0,d1")
        return llm.LinearTime(d0=d[0], d1=d[1])
    if args.staircase:
        c = _floats(args.staircase, "--staircase")
        if len(c) != 3:
            raise ValueError("--staircase: expected c,a,b0")
        return llm.StaircaseTime(c=c[0], a=c[1], b0=int(c[2]))
    return llm.UnitTime()


def _server(args):
    from . import llm

    kw = {}
    if args.kv_capacity is not None:
        kw["kv_capacity_tokens"] = args.kv_capacity
    if args.kv_bytes is not None:
        kw["kv_capacity_bytes"] = args.kv_bytes
        kw["model"] = args.model
    if args.preemption == "swap":
        kw["swap_bandwidth"] = args.swap_bandwidth
    return llm.Server(max_batch=args.max_batch, token_budget=args.token_budget,
                      block_size=args.block_size, iteration_time=_time_model(args),
                      chunked_prefill=args.chunked_prefill, preemption=args.preemption,
                      **kw)


_PREDICTIONS = {"exact": (0, "ExactPrediction"), "exponential": (0, "ExponentialPrediction"),
                "lognormal": (1, "LognormalPrediction"), "uniform": (1, "UniformPrediction"),
                "interval": (2, "IntervalPrediction")}


def _prediction(text):
    """``NAME[:P1[,P2]]`` -> a prediction model (None: the workload's default)."""
    if text is None:
        return None
    from . import predictions

    name, _, prm = str(text).partition(":")
    key = name.strip().lower()
    if key not in _PREDICTIONS:
        raise ValueError(f"--prediction: unknown model {name!r}; use one of "
                         f"{', '.join(_PREDICTIONS)} (e.g. lognormal:0.5)")
    n, cls = _PREDICTIONS[key]
    vals = _floats(prm, "--prediction") if prm.strip() else []
    if len(vals) != n:
        raise ValueError(f"--prediction: {key} takes {n} parameter(s), got {len(vals)}")
    return getattr(predictions, cls)(*vals)


def _workload(args, rate: float):
    from . import llm

    pred = _prediction(getattr(args, "prediction", None))
    if args.trace:
        return llm.load_trace(args.trace, arrival_rate=rate, prediction=pred)
    return llm.preset(args.preset, arrival_rate=rate, prediction=pred)


def _capacity(args) -> int:
    from . import llm

    server = _server(args)
    out = {}
    for rate in _floats(args.rate, "--rate"):
        w = _workload(args, rate)
        row = {"rate": rate, "mean_prompt": w.mean_prompt, "mean_output": w.mean_output,
               "memory_area": llm.memory_area(w, server)}
        if server.token_budget is not None and not isinstance(server.iteration_time,
                                                              llm.LinearTime):
            s = llm.stability_limit(w, server)
            row.update(max_arrival_rate=s.max_arrival_rate, token_load=s.load,
                       stable=bool(s.stable), backlog_growth_rate=s.backlog_growth_rate)
        if isinstance(server.iteration_time, (llm.LinearTime, llm.UnitTime)):
            f = llm.fluid_equilibrium(w, server)
            row.update(fluid_kv_tokens=f.kv_tokens, fluid_iteration_time=f.iteration_time,
                       fluid_stable=bool(f.stable))
        if server.kv_capacity_tokens is not None:
            m = llm.memory_stable(w, server)
            row.update(memory_feasible=bool(m.feasible))
        out[rate] = row
    if args.json:
        print(json.dumps(list(out.values()), indent=1, default=float))
    else:
        for row in out.values():
            print("  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in row.items()))
    return 0


def _simulate(args) -> int:
    from . import llm

    server = _server(args)
    rates = _floats(args.rate, "--rate")
    bar = None
    if not args.no_progress and len(rates) > 1:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(rates), desc="llm simulate", file=sys.stderr)
        except ImportError:  # pragma: no cover - tqdm is in the test extra
            bar = None
    rows = []
    for rate in rates:
        w = _workload(args, rate)
        r = llm.simulate(w, server, scheduler=args.scheduler, requests=args.requests,
                         seed=args.seed, replications=args.replications)
        rows.append({"rate": rate, "scheduler": r.scheduler,
                     "latency_mean": r.latency.mean, "latency_ci": list(r.latency.ci),
                     "latency_p99": r.latency.percentiles.get(99.0, np.nan),
                     "ttft_mean": r.ttft.mean, "tbt_mean": r.tbt.mean,
                     "throughput": r.throughput.mean,
                     "token_throughput": r.token_throughput.mean,
                     "kv_mean_tokens": r.kv_mean_tokens, "kv_max_tokens": r.kv_max_tokens,
                     "preemptions": r.preemptions, "stable": bool(r.stable)})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if args.json:
        print(json.dumps(rows, indent=1, default=float))
    else:
        for row in rows:
            lo, hi = row["latency_ci"]
            print(f"rate={row['rate']:g} {row['scheduler']}: latency {row['latency_mean']:.6g} "
                  f"[{lo:.6g}, {hi:.6g}] p99 {row['latency_p99']:.6g}  TTFT "
                  f"{row['ttft_mean']:.6g}  TBT {row['tbt_mean']:.6g}  throughput "
                  f"{row['throughput']:.6g} req/t  KV mean {row['kv_mean_tokens']:.6g}  "
                  f"preemptions {row['preemptions']}"
                  + ("" if row["stable"] else "  UNSTABLE"))
    return 0


def _common(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", default="sharegpt",
                     help="workload preset: sharegpt, alpaca, lmsys, azure-conversation, "
                          "azure-code")
    src.add_argument("--trace", help="CSV trace (timestamp, prompt tokens, output tokens)")
    p.add_argument("--rate", required=True, help="arrival rate(s), comma-separated")
    p.add_argument("--max-batch", type=int, default=256)
    p.add_argument("--token-budget", type=int, default=None)
    p.add_argument("--kv-capacity", type=int, default=None, help="KV capacity in tokens")
    p.add_argument("--kv-bytes", type=float, default=None,
                   help="KV capacity in bytes (with --model)")
    p.add_argument("--model", default="llama-2-7b", help="model preset for bytes per token")
    p.add_argument("--block-size", type=int, default=1)
    p.add_argument("--linear", help="iteration time d0,d1 (d0 + d1 * KV tokens)")
    p.add_argument("--staircase", help="iteration time c,a,b0 (c + a * ceil(tokens / b0))")
    p.add_argument("--chunked-prefill", action="store_true")
    p.add_argument("--preemption", default="recompute",
                   choices=("recompute", "swap", "restart", "keep"))
    p.add_argument("--swap-bandwidth", type=float, default=None,
                   help="KV tokens per unit time (with --preemption swap)")
    p.add_argument("--prediction", default=None,
                   help="prediction model of output lengths: exact, exponential, "
                        "lognormal:SIGMA, uniform:ALPHA, interval:BETA,ALPHA "
                        "(default: the workload's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_llm_parser(sub) -> None:
    """Register ``qtheory llm simulate | capacity`` on an argparse subparsers object."""
    llm_p = sub.add_parser("llm", help="LLM serving: token-level simulation and capacity")
    llm_sub = llm_p.add_subparsers(dest="llm_command", required=True)
    s = llm_sub.add_parser("simulate", help="token-level simulation with confidence intervals")
    _common(s)
    s.add_argument("--scheduler", default="fcfs",
                   help="fcfs, sjf, spjf, sprpt, trail, mc-sf, wait, alise, mlfq")
    s.add_argument("--requests", type=int, default=100_000, help="requests per replication")
    s.add_argument("--replications", type=int, default=4)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_simulate)
    c = llm_sub.add_parser("capacity", help="analytic stability, fluid and memory bounds")
    _common(c)
    c.set_defaults(func=_capacity)


