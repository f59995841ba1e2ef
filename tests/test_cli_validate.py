"""The ``qtheory validate`` command: analysis vs simulation from the command line."""

from __future__ import annotations

import pytest

from qtheory.cli import main


def test_validate_small_grid(tmp_path, capsys, monkeypatch):
    import qtheory as qt
    import qtheory.sim.validate as v

    # a one-law, two-policy grid keeps the run short; the command's own code path is unchanged
    monkeypatch.setattr(v, "DEFAULT_LAWS", lambda: {"exp(1)": qt.Exponential(mean=1.0)})
    monkeypatch.setattr(v, "DEFAULT_POLICIES", lambda: [qt.policies.FCFS(), qt.policies.SRPT()])
    out = tmp_path / "report.md"
    rc = main(["validate", "--jobs", "20000", "--replications", "4", "--loads", "0.5",
               "--out", str(out), "--no-plot", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "SRPT" in text and "z=" in text
    body = out.read_text()
    assert "| exp(1) | 0.5 | FCFS |" in body


@pytest.mark.parametrize("loads", ["1.2", "abc", ""])
def test_validate_bad_loads(loads, capsys):
    assert main(["validate", "--loads", loads, "--no-progress"]) == 2
    assert "--loads" in capsys.readouterr().err
