"""Smoke test of the LLM validation report (validation/report_llm.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = (
    "## 1. Token-budget stability",
    "## 2. Fluid memory equilibrium",
    "## 3. Memory area",
    "## 4. Reduction to M/G/1",
    "## 5. Schedulers on presets",
)
PLOTS = ("llm_token_budget.png", "llm_fluid.png", "llm_fluid_trace.png", "llm_memory.png",
         "llm_mg1.png", "llm_sched_sharegpt.png", "llm_sched_alpaca.png",
         "llm_sched_trace.png")


def _load():
    spec = importlib.util.spec_from_file_location(
        "report_llm", ROOT / "validation" / "report_llm.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod      # dataclasses look their module up while executing
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return mod


def test_report_llm_smoke(tmp_path):
    pytest.importorskip("matplotlib")
    report = _load()
    path = report.main(["--smoke", "--out", str(tmp_path)])
    assert path == tmp_path / "llm_report.md"
    text = path.read_text()
    for title in SECTIONS:
        assert title in text, title
    assert "python validation/report_llm.py --smoke" in text
    assert "Machine:" in text
    for name in PLOTS:
        png = tmp_path / name
        assert png.exists() and png.stat().st_size > 1000, name
        assert f"({name})" in text, name
