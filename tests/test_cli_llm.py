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
