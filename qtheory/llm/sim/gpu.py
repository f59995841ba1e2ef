"""GPU backend of the LLM simulator: one replication per CUDA thread, running the CPU
kernel's own source.

``llm.simulate(..., backend="gpu")`` compiles :func:`qtheory.llm.sim.kernel.run` and
every helper it calls (heaps, MC-SF lines, WAIT cohorts, the counter-based generator
and noise samplers of :mod:`qtheory.sim`) as ``numba.cuda`` device functions with
:func:`qtheory.sim.kernels.gpu.device_function` (one source, two targets; see
:mod:`qtheory.sim._jit`). What is GPU-only is this module: a global kernel in which
thread ``r`` takes its replication's slices of the state arrays and calls the shared
kernel, and the host code that stacks the replications and copies them to and from the
device.

The requests (arrival times, prompt and output lengths, first predictions) are drawn by
the host exactly as for the CPU backend (:mod:`.draws`, counter-based streams), so the
two backends simulate the same requests; refinements of predictions are drawn in the
kernel from the same counter-based streams. Under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` before Numba is first imported) the shared source runs as
Python with IEEE double arithmetic and the C library's ``log``/``exp``, and the results
equal the CPU's exactly (tested); on a GPU they agree up to the rounding of
libdevice's ``log``/``exp`` and fused multiply-adds.

State layout: every per-replication array gets a last axis of length ``R`` (the threads
of a warp reading the same field touch adjacent addresses). Memory: about ``136 n``
bytes per replication of ``n`` requests (``1.4`` GB for ``10**4`` replications of
``10**3`` requests); replications are launched in groups that fit
:data:`MAX_BYTES_PER_LAUNCH`. A replication of ``n`` requests runs on one GPU thread, so
a GPU could pay off only with thousands of replications (a parameter sweep's or a
confidence interval's), not with one long run. Measured on an NVIDIA H200 (2026-12-04,
``validation/bench/results_gpu_checks.md``): ShareGPT-like runs of 16,384 replications x 500
requests take 1.2 s end to end (7.1 M requests/s; kernel and copies 0.64 s) against 1.73 s
on 16 CPU cores, and the first call compiles for 28-48 s.
"""

from __future__ import annotations

import math
import threading
import warnings
from types import SimpleNamespace

import numpy as np

from . import kernel as K

__all__ = ["run_stacked", "MAX_BYTES_PER_LAUNCH",
           "THREADS_PER_BLOCK"]

#: Threads per block on a GPU.
THREADS_PER_BLOCK = 64
#: Device memory for the state of one launch's replications (bytes); more replications
#: are run in several launches.
MAX_BYTES_PER_LAUNCH = 8 << 30

cuda = None  # numba.cuda, bound on first use
_LOCK = threading.Lock()
_LAUNCH = None

# (name, dtype, rows before the request/slot axis, axis length key)
_PER_REQUEST = ("arr", "lp", "lo", "yp", "aux")
_STATE = (("first", np.float64, (), "n"), ("done", np.float64, (), "n"),
          ("ri", np.int64, (K.NRI,), "n"), ("rk", np.float64, (), "n"),
          ("wk", np.float64, (), "n"), ("wi", np.int64, (), "n"),
          ("si", np.int64, (K.NSI,), "maxb"), ("sk", np.float64, (K.NSK,), "maxb"),
          ("cnt", np.int64, (), "bsz"), ("hs", np.int64, (), 4),
          ("paused", np.int64, (), "n"), ("trace", np.float64, (4,), "ntrace"),
          ("stats", np.float64, (), K.NST))


def _launcher():
    global cuda, _LAUNCH
    from ...sim.kernels import gpu as G

    run_dev = G.device_function(K.run)  # raises GPUUnavailableError without a GPU
    with _LOCK:
        if _LAUNCH is None:
            cuda = G.cuda

            def launch(cfg_i, cfg_f, sprm, nprm, nkey, arr, lp, lo, yp, aux, first, done,
                       ri, rk, wk, wi, si, sk, cnt, hs, paused, trace, stats, status):
                r = cuda.grid(1)
                if r < status.shape[0]:
                    status[r] = run_dev(
                        cfg_i[:, r], cfg_f[:, r], sprm, nprm, nkey[r], arr[:, r], lp[:, r],
                        lo[:, r], yp[:, r], aux[:, r], first[:, r], done[:, r],
                        ri[:, :, r], rk[:, r], wk[:, r], wi[:, r], si[:, :, r],
                        sk[:, :, r], cnt[:, r], hs[:, r], paused[:, r], trace[:, :, r],
                        stats[:, r])

            _LAUNCH = cuda.jit(launch)
        return _LAUNCH


def bytes_per_replication(n: int, maxb: int, bsz: int, ntrace: int) -> int:
    """Device bytes of one replication's inputs and state."""
    per_req = 8 * (len(_PER_REQUEST) + 7 + K.NRI)
    return n * per_req + 8 * (maxb * (K.NSI + K.NSK) + bsz + 4 + 4 * max(ntrace, 1)
                              + K.NST + K.NCI + K.NCF + 2)


def _launch_stacked(h, sprm, nprm, maxb, bsz, trace_points):
    """Copy the stacked inputs ``h`` (``cfg_i``, ``cfg_f``, ``nkey`` and the per-request
    arrays, replications on the last axis) to the device, add zeroed state, run one
    launch and check its status; the device arrays (a dict)."""
    from ...sim.kernels.gpu import _simulated

    launch = _launcher()
    n, R = h["arr"].shape
    sizes = {"n": n, "maxb": maxb, "bsz": bsz, "ntrace": max(trace_points, 1)}
    h = dict(h)
    for name, dt, rows, length in _STATE:
        size = sizes[length] if isinstance(length, str) else length
        h[name] = np.zeros(rows + (size, R), dt)
    d = {k: cuda.to_device(np.ascontiguousarray(v)) for k, v in h.items()}
    sprm = cuda.to_device(np.ascontiguousarray(sprm))
    nprm = cuda.to_device(np.ascontiguousarray(nprm))
    status = cuda.to_device(np.full(R, -1, np.int64))
    tpb = min(THREADS_PER_BLOCK, R) if not _simulated() else min(4, R)
    grid = (math.ceil(R / tpb), tpb)
    with warnings.catch_warnings():
        if _simulated():  # NumPy scalars warn on the generator's intended uint64 wraparound
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        launch[grid](d["cfg_i"], d["cfg_f"], sprm, nprm, d["nkey"], d["arr"], d["lp"],
                     d["lo"], d["yp"], d["aux"], d["first"], d["done"], d["ri"], d["rk"],
                     d["wk"], d["wi"], d["si"], d["sk"], d["cnt"], d["hs"], d["paused"],
                     d["trace"], d["stats"], status)
    st = status.copy_to_host()
    if np.any(st != 0):
        raise RuntimeError("the LLM simulation kernel reached a state where no request can "
                           f"run in replication(s) {np.flatnonzero(st != 0).tolist()} "
                           "(please report this as a bug)")
    return d


def _group_rows(batch, a, b, trace_points, preemptions):
    """Run rows ``a:b`` of the stacked replications ``batch`` in one launch; their
    results stacked by replication (C-contiguous rows, as the CPU backend gives them)."""
    h = {"cfg_i": batch["cfg_i"][a:b].T, "cfg_f": batch["cfg_f"][a:b].T,
         "nkey": batch["nkey"][a:b]}
    for k in _PER_REQUEST:
        h[k] = batch[k][a:b].T
    d = _launch_stacked(h, batch["sprm"], batch["nprm"], batch["maxb"], batch["bsz"],
                        trace_points)
    out = {k: np.ascontiguousarray(d[k].copy_to_host().T) for k in ("first", "done", "stats")}
    out["npre"] = (np.ascontiguousarray(d["ri"].copy_to_host()[K.R_NPRE].T)
                   if preemptions else None)
    out["trace"] = d["trace"].copy_to_host()[:, :, 0] if a == 0 and trace_points > 0 else None
    return out


def _per_launch(n, maxb, bsz, trace_points) -> int:
    """Replications per launch: as many as :data:`MAX_BYTES_PER_LAUNCH` holds."""
    return max(1, int(MAX_BYTES_PER_LAUNCH // bytes_per_replication(n, maxb, bsz,
                                                                     trace_points)))


def run_stacked(batch: dict, trace_points: int, preemptions: bool = False) -> SimpleNamespace:
    """Run stacked replications (a ``prepare_replications`` dict) on the GPU.

    Parameters
    ----------
    batch : dict
        :func:`qtheory.llm.sim.driver.prepare_replications` of the replications: the
        per-replication arrays stacked on a first axis of replications.
    trace_points : int
        KV trace points of replication 0 (row 0).
    preemptions : bool
        Also return the per-request preemption counts.

    Returns
    -------
    SimpleNamespace
        ``first``, ``done`` (``(R, n)`` first-token and completion times), ``stats``
        (``(R, NST)``), ``npre`` (``(R, n)`` preemption counts, or ``None``) and
        ``trace`` (``(4, trace_points)`` of row 0, or ``None``); C-contiguous. Raises
        :class:`qtheory.sim.kernels.gpu.GPUUnavailableError` without a GPU.
    """
    _launcher()
    R = batch["arr"].shape[0]
    step = _per_launch(batch["arr"].shape[1], batch["maxb"], batch["bsz"], trace_points)
    parts = [_group_rows(batch, a, min(a + step, R), trace_points, preemptions)
             for a in range(0, R, step)]

    def cat(k):
        return parts[0][k] if len(parts) == 1 else np.concatenate([q[k] for q in parts])

    return SimpleNamespace(first=cat("first"), done=cat("done"), stats=cat("stats"),
                           npre=cat("npre") if preemptions else None,
                           trace=parts[0]["trace"])
