"""Run test code in a fresh interpreter under Numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` takes effect only if it is set before Numba is first
imported, so the GPU backends' default-suite tests run their GPU side in a subprocess.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")


def run_under_cudasim(code: str, timeout: float = 900.0):
    """Run ``code`` (dedented; ``tests/`` is importable) under the CUDA simulator and
    return the value it leaves in the variable ``result`` (pickled back)."""
    src = (f"import pickle, sys\nsys.path.insert(0, {TESTS!r})\n" + textwrap.dedent(code)
           + "\nsys.stdout.flush()\nsys.stdout.buffer.write(b'@@PICKLE@@' + "
           "pickle.dumps(result))\n")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True,
                       timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode()[-4000:]
    return pickle.loads(p.stdout.split(b"@@PICKLE@@", 1)[1])
