"""The command-line interface."""

from __future__ import annotations

import json
import subprocess
import sys

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
