"""The command-line interface."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import qtheory as qt
from qtheory.cli import main, parse_prediction, parse_size


def test_solve_json(capsys):
    rc = main(["solve", "--policy", "SPRPT,SPJF", "--size", "exponential:mean=1",
               "--prediction", "exponential", "--load", "0.8", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    got = {r["policy"]: r["mean_response_time"] for r in out["results"]}
    assert got["SPRPT"] == pytest.approx(q.mean_response_time("SPRPT"), rel=1e-12)
    assert got["SPJF"] == pytest.approx(q.mean_response_time("SPJF"), rel=1e-12)
    assert out["load"] == pytest.approx(0.8)


def test_solve_arrival_rate_text(capsys):
    rc = main(["solve", "--policy", "FCFS", "--size", "hyperexponential:means=0.5/3,probs=0.8/0.2",
               "--arrival-rate", "0.5"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "FCFS" in text and "rho=0.5" in text


def test_unstable_json_gives_null(capsys):
    assert main(["solve", "--policy", "PS", "--size", "exp:mean=1", "--load", "1.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["mean_response_time"] is None


@pytest.mark.parametrize(
    "argv, match",
    [
        (["solve", "--policy", "SPRPT", "--size", "exponential:mean=-1", "--load", "0.5"], "mean"),
        (["solve", "--policy", "SPRPT", "--size", "nolaw", "--load", "0.5"], "unknown law"),
        (["solve", "--policy", "XYZ", "--size", "exp:mean=1", "--load", "0.5"], "policy"),
        (["solve", "--policy", "SPJF", "--size", "exp:mean=1", "--prediction", "uniform:alpha=2",
          "--load", "0.5"], "alpha"),
        (["solve", "--policy", "SPJF", "--size", "exp:mean=1"], "exactly one"),
    ],
)
def test_errors_name_the_parameter(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_parsers():
    assert parse_size("weibull:shape=0.5,scale=0.5").mean == pytest.approx(1.0)
    assert isinstance(parse_prediction("lognormal:sigma=0.3"), qt.LognormalPrediction)
    with pytest.raises(ValueError, match="key=value"):
        parse_size("exponential:mean")


def test_table_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "qtheory.cli", "table"], capture_output=True,
                         text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].startswith("| policy |") and "rho=0.99" in lines[0]
    assert len(lines) == 2 + len(qt.policies.POLICY_NAMES)
    fcfs = [line for line in lines if line.startswith("| FCFS |")][0]
    assert "2.000000" in fcfs  # M/M/1 at rho = 0.5: 1/(1 - 0.5)


# ---------------------------------------------------------------- policies with parameters
def _solve_json(argv, capsys):
    assert main(["solve", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_policy_specs_give_the_objects_values(capsys):
    """Specs with parameters, comma-separated and repeated, against the same policy
    objects through the Python API (the one computation the command line must not change)."""
    out = _solve_json(["--policy", "TRAIL:c=0.5,SPRPT", "--policy",
                       "OneBit:threshold=2,preemptive=true,within=fifo", "--policy",
                       "Buckets:thresholds=0.5/2,preemptive=false",
                       "--size", "weibull:shape=0.5,scale=0.5", "--prediction",
                       "uniform:alpha=0.5", "--load", "0.7"], capsys)
    q = qt.MG1(load=0.7, size=qt.Weibull(shape=0.5, scale=0.5),
               prediction=qt.UniformPrediction(alpha=0.5))
    P = qt.policies
    want = [P.TRAIL(c=0.5), P.SPRPT(), P.OneBit(threshold=2.0, preemptive=True, within="fifo"),
            P.Buckets(thresholds=(0.5, 2.0), preemptive=False)]
    assert [r["spec"] for r in out["results"]] == [repr(p) for p in want]
    for r, pol in zip(out["results"], want):
        assert r["policy"] == pol.name
        assert r["mean_response_time"] == q.mean_response_time(pol)


def test_several_predictions(capsys):
    """``--prediction`` twice: a MultiPrediction queue; SkipPredict's bit from the second
    prediction (its closed form) against the object on the same queue, and the bit from
    the first differing from it."""
    spec = "SkipPredict:threshold=1,cheap_cost=0.05,expensive_cost=0.1,bit_prediction={}"
    out = _solve_json(["--policy", spec.format(1), "--policy", spec.format(0),
                       "--size", "exp:mean=1", "--prediction", "exponential",
                       "--prediction", "uniform:alpha=0.5", "--load", "0.8"], capsys)
    assert out["prediction"].startswith("MultiPrediction(")
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.MultiPrediction(
        [qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)]))
    vals = [r["mean_response_time"] for r in out["results"]]
    for v, j in zip(vals, (1, 0)):
        pol = qt.policies.SkipPredict(threshold=1.0, cheap_cost=0.05, expensive_cost=0.1,
                                      bit_prediction=j)
        assert v == q.mean_response_time(pol)
    assert abs(vals[0] - vals[1]) > 1e-3


def test_soap_method_and_simulation(capsys):
    """``--method soap`` (a second derivation: within 1e-8 of the closed form) and
    ``--simulate`` (the simulator's mean and CI as ``q.simulate`` gives them, same seed)."""
    argv = ["--policy", "TRAIL:c=0.5", "--size", "exp:mean=1", "--prediction", "exponential",
            "--load", "0.7"]
    closed = _solve_json(argv, capsys)["results"][0]["mean_response_time"]
    out = _solve_json([*argv, "--method", "soap", "--simulate", "2000", "--replications", "4",
                       "--seed", "11"], capsys)["results"][0]
    assert out["mean_response_time"] == pytest.approx(closed, rel=1e-8)
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    sim = q.simulate(qt.policies.TRAIL(c=0.5), jobs=2000, replications=4, seed=11)
    got = out["simulation"]
    assert got["mean"] == sim.mean and got["ci"] == list(sim.ci)
    assert got["z"] == pytest.approx((sim.mean - out["mean_response_time"]) / sim.std_error)
    assert main(["solve", *argv, "--simulate", "2000", "--replications", "4"]) == 0
    assert "simulated" in capsys.readouterr().out


def test_optimize_matches_the_functions(capsys):
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    argv = ["--size", "exp:mean=1", "--prediction", "exponential", "--load", "0.8", "--json"]
    assert main(["optimize", "onebit", "--preemptive", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    res = qt.optimal_one_bit(q, preemptive=True)
    assert out["argument"] == res.argument
    assert out["mean_response_time"] == res.mean_response_time
    assert out["policy"] == repr(qt.policies.OneBit(threshold=res.argument, preemptive=True))
    assert main(["optimize", "buckets", "--k", "2", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert tuple(out["argument"]) == qt.optimal_buckets(q, 2).argument
    assert main(["optimize", "trail", "--size", "exp:mean=1", "--load", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "best TRAIL(c=" in text and "E[T] =" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["solve", "--policy", "TRAIL:d=1"], "TRAIL has no parameter 'd'"),
        (["solve", "--policy", "OneBit:preemptive=maybe"], "'preemptive': expected true"),
        (["solve", "--policy", "Buckets:thresholds=2/1"], "thresholds must be strictly"),
        (["solve", "--policy", "SPRPT:c=1"], "takes no parameters"),
        (["solve", "--policy", "c=1,SPRPT"], "parameter without a policy"),
        (["solve", "--policy", "SkipPredict:bit_prediction=1"], "prediction 1 asked for"),
        (["solve", "--policy", "SPRPT", "--simulate", "0"], "--simulate"),
        (["optimize", "buckets"], "--k"),
        (["optimize", "trail", "--c-max", "0"], "--c-max"),
    ],
)
def test_spec_errors_name_the_parameter(argv, match, capsys):
    assert main([*argv, "--size", "exp:mean=1", "--load", "0.5"]) == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("pol", [
    qt.policies.Priority(probs=(0.25, 0.75), preemptive=True),
    qt.policies.TRAIL(c=0.3, on="size"),
    qt.policies.GittinsBuckets(thresholds=(0.5, 2.0)),
    qt.policies.GittinsPosterior(nodes=8, extrapolate=False, cells=32),
    qt.policies.SkipPredict(threshold=2.0, cheap_cost=0.01, expensive_cost=0.2,
                            cost_model="server", bit_prediction=1),
    qt.policies.DelayPredict(limit=0.5, expensive_cost=0.1, cost_model="server"),
    qt.policies.OneBit(threshold=0.7, preemptive=True, within="fifo"),
    qt.policies.Buckets(thresholds=(0.1, 1.0, 10.0), preemptive=True),
])
def test_parse_policy_round_trip(pol):
    """Every field of every policy with parameters, written as a spec, gives the object
    back (names and keys in any case)."""
    import dataclasses

    def text(v):
        if isinstance(v, tuple):
            return "/".join(repr(float(t)) for t in v)
        return str(v).upper() if isinstance(v, str) else repr(v)

    fields = ",".join(f"{f.name.upper()}={text(getattr(pol, f.name))}"
                      for f in dataclasses.fields(pol))
    assert qt.policies.parse_policy(f"{type(pol).__name__.lower()}:{fields}") == pol
    assert qt.policies.get_policy(f"{type(pol).__name__}") == type(pol)()


def test_conditional_response_times(capsys):
    """``--conditional``: E[T | x, y] of the given jobs, as the Python API gives them; with
    several predictions each job gives all of them, and a policy that reads only the first
    gets the first."""
    out = _solve_json(["--policy", "SPRPT,FCFS", "--size", "exp:mean=1", "--prediction",
                       "exponential", "--load", "0.8", "--conditional", "0.5:0.6,2:1.5"],
                      capsys)
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    x, y = np.array([0.5, 2.0]), np.array([0.6, 1.5])
    for r, name in zip(out["results"], ("SPRPT", "FCFS")):
        got = [c["mean_response_time"] for c in r["conditional"]]
        assert got == q.conditional_response_time(name, x, y).tolist()
        assert [c["y"] for c in r["conditional"]] == [[0.6], [1.5]]
    two = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
    q2 = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=two)
    skip = qt.policies.SkipPredict(threshold=1.0, bit_prediction=1)
    out = _solve_json(["--policy", "SkipPredict:threshold=1,bit_prediction=1,SPRPT",
                       "--size", "exp:mean=1", "--prediction", "exponential", "--prediction",
                       "uniform:alpha=0.5", "--load", "0.8", "--conditional",
                       "0.5:0.6:0.4,2:1.5:2.5"], capsys)
    y2 = np.array([[0.6, 0.4], [1.5, 2.5]])
    got = [[c["mean_response_time"] for c in r["conditional"]] for r in out["results"]]
    assert got[0] == q2.conditional_response_time(skip, x, y2).tolist()
    assert got[1] == q2.conditional_response_time("SPRPT", x, y2[:, 0]).tolist()
    # exact predictions: the size alone (SPJF is then SJF)
    assert main(["solve", "--policy", "SPJF", "--size", "exp:mean=1", "--load", "0.5",
                 "--conditional", "1"]) == 0
    sjf = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0)).conditional_response_time("SJF", 1.0)
    assert f"E[T | x=1] = {sjf:.12g}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--prediction", "exponential", "--policy", "SPRPT", "--conditional", "1"],
     "reads the prediction; give each job as x:y"),
    (["--prediction", "exponential", "--prediction", "exponential", "--policy", "SPRPT",
      "--conditional", "1:2"], "needs its size and 2 prediction"),
    (["--policy", "SRPT", "--conditional", "1:a"], "expected numbers"),
    (["--prediction", "exponential", "--policy", "SPRPT", "--conditional", "1:1,2"],
     "every job or of none"),
])
def test_conditional_errors(argv, match, capsys):
    assert main(["solve", *argv, "--size", "exp:mean=1", "--load", "0.5"]) == 2
    assert match in capsys.readouterr().err
