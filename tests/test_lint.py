"""The code base is ruff-clean (configuration in pyproject.toml)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    try:
        out = subprocess.run([*cmd, "check", "qtheory", "tests", "validation", "docs",
                              "proofs_notebooks"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    except FileNotFoundError:  # pragma: no cover - ruff is a test dependency
        pytest.skip("ruff is not installed")
    assert out.returncode == 0, out.stdout + out.stderr
