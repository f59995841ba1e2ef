"""qtheory._memory: glibc's mmap and trim thresholds set once for the engines' large
temporary arrays, each check in a fresh process (the allocator's state is the process's)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from qtheory import _memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a burst of ten 5 MiB arrays, made, touched and freed four times after a first burst: the
# page faults of the four (each burst touches 12800 pages)
_BURST = """
import resource, numpy as np
import qtheory as qt
q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0))  # the engines set the thresholds
from qtheory import _memory
def burst():
    arrs = [np.ones((5 << 20) // 8) for _ in range(10)]
    return sum(float(a[-1]) for a in arrs)
burst()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    burst()
print(_memory.keep_large_blocks(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _run(env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("QTHEORY_MALLOPT", *_memory._ENV)}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _BURST], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_large_blocks_stay_with_the_process():
    """With the thresholds set (by making a queue), the repeated bursts take almost no page
    faults; with QTHEORY_MALLOPT=0 glibc gives each 5 MiB block back to the kernel on free
    (its dynamic mmap threshold stays at the block's size) and every burst faults again."""
    on, faults_on = _run({})
    off, faults_off = _run({"QTHEORY_MALLOPT": "0"})
    assert on and not off
    assert faults_on < 1000 and faults_off > 10 * max(faults_on, 1000)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_the_environment_decides_first():
    """Where the environment sets malloc's thresholds itself, qtheory leaves them."""
    for name in _memory._ENV:
        on, _ = _run({name: "glibc.malloc.trim_threshold=1000000"
                      if name == "GLIBC_TUNABLES" else "100000000"})
        assert not on


def test_set_once_and_reported():
    """The call is idempotent and says whether the thresholds are set: True exactly on
    glibc without an opt-out in the environment."""
    first = _memory.keep_large_blocks()
    assert _memory.keep_large_blocks() is first
    expected = GLIBC and os.environ.get("QTHEORY_MALLOPT", "").strip() != "0" and not any(
        name in os.environ for name in _memory._ENV)
    assert first is expected
