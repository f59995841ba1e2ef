"""GPU backend (one replication per CUDA thread): not implemented in this version.

The counter-based streams of :mod:`qtheory.sim.rng` and the in-kernel samplers of
:mod:`qtheory.sim.sampling` are written so that a ``numba.cuda`` kernel can draw
the same jobs as the CPU kernels; the CUDA kernel itself is still to be written.
Asking for ``backend="gpu"`` raises a clear error instead of importing CuPy.
"""

from __future__ import annotations

__all__ = ["run_replications"]


def run_replications(prep, replications: int):
    """Run ``replications`` on the GPU (not implemented: raises ``NotImplementedError``)."""
    raise NotImplementedError(
        "backend='gpu' is not implemented yet: use backend='cpu' (all CPU cores)")
