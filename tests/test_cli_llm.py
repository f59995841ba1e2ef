"""``qtheory llm capacity`` and ``qtheory llm simulate`` (argument handling and output)."""

import json

import pytest

from qtheory import llm
from qtheory.cli import main


def test_capacity_json_matches_the_library(capsys):
    rc = main(["llm", "capacity", "--preset", "alpaca", "--rate", "0.01,0.02",
               "--linear", "1,0.001", "--kv-capacity", "20000", "--json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rate"] for r in rows] == [0.01, 0.02]
    server = llm.Server(kv_capacity_tokens=20000, iteration_time=llm.LinearTime(1, 0.001))
    f = llm.fluid_equilibrium(llm.preset("alpaca", arrival_rate=0.02), server)
    assert rows[1]["fluid_kv_tokens"] == pytest.approx(f.kv_tokens, rel=1e-12)
    assert rows[1]["memory_area"] == pytest.approx(
        llm.memory_area(llm.preset("alpaca", arrival_rate=0.02), server), rel=1e-12)


def test_capacity_token_budget(capsys):
    rc = main(["llm", "capacity", "--preset", "alpaca", "--rate", "1", "--token-budget",
               "8192", "--staircase", "11.28,35.47,128", "--max-batch", "8192", "--json"])
    assert rc == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["stable"] is False and row["backlog_growth_rate"] > 0


@pytest.mark.parametrize("argv,match", [
    (["--rate", "x"], "--rate"),
    (["--rate", "1", "--linear", "1"], "--linear"),
    (["--rate", "1", "--token-budget", "0"], "token_budget"),
    (["--rate", "1", "--kv-capacity", "100"], "kv_capacity_tokens"),
])
def test_capacity_bad_input(argv, match, capsys):
    assert main(["llm", "capacity", *argv]) == 2
    assert match in capsys.readouterr().err


# ------------------------------------------------------------------ simulate
def test_simulate_json_equals_the_library(capsys):
    argv = ["llm", "simulate", "--preset", "alpaca", "--rate", "0.02,0.04",
            "--linear", "1,0.001", "--kv-capacity", "9000", "--block-size", "16",
            "--scheduler", "sprpt", "--prediction", "lognormal:0.5",
            "--requests", "3000", "--replications", "2", "--seed", "7", "--json",
            "--no-progress"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rate"] for r in rows] == [0.02, 0.04]
    import qtheory as qt

    server = llm.Server(kv_capacity_tokens=9000, block_size=16,
                        iteration_time=llm.LinearTime(1, 0.001))
    w = llm.preset("alpaca", arrival_rate=0.04, prediction=qt.LognormalPrediction(0.5))
    r = llm.simulate(w, server, "sprpt", requests=3000, replications=2, seed=7)
    assert rows[1]["latency_mean"] == r.latency.mean
    assert rows[1]["latency_ci"] == list(r.latency.ci)
    assert rows[1]["kv_mean_tokens"] == r.kv_mean_tokens
    assert rows[1]["preemptions"] == r.preemptions
    assert rows[1]["scheduler"] == r.scheduler
    # the prediction reaches the simulator: exact predictions give other numbers
    assert main([*argv[:-4], "--prediction", "exact", "--json", "--no-progress"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert exact[1]["latency_mean"] != rows[1]["latency_mean"]


def test_simulate_text_output_and_progress(capsys):
    assert main(["llm", "simulate", "--preset", "alpaca", "--rate", "0.01,0.02",
                 "--requests", "1000", "--replications", "2", "--linear", "1,0.001",
                 "--scheduler", "wait"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("rate=0.01 WAIT(1,): latency ")
    assert "llm simulate" in err          # the progress bar over rates


@pytest.mark.parametrize("argv,match", [
    (["--scheduler", "nope"], "scheduler"),
    (["--prediction", "gauss:1"], "--prediction"),
    (["--prediction", "lognormal"], "--prediction"),
    (["--requests", "0"], "requests"),
])
def test_simulate_bad_input(argv, match, capsys):
    assert main(["llm", "simulate", "--rate", "0.01", "--no-progress", *argv]) == 2
    assert match in capsys.readouterr().err
