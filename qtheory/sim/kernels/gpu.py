"""GPU backend: one replication per CUDA thread, running the CPU kernels' own source.

``simulate(..., backend="gpu")`` runs every kernel family of :mod:`.cpu` (flat and
rising ranks, overhead segments, processor sharing, M/G/k) on an NVIDIA GPU through
``numba.cuda``. Nothing is written twice: :class:`qtheory.sim._jit.Retarget`
compiles the very Python functions behind the CPU kernels (and the counter-based
streams of :mod:`qtheory.sim.rng` and the samplers of :mod:`qtheory.sim.sampling`
that they call) with ``numba.cuda.jit(device=True)``. What is GPU-only is this
module: a global kernel per family that finds its replication from ``cuda.grid(1)``,
takes its slices of the state arrays and calls the shared event loop; the host loop
that launches it until every replication is done (growing the job pools, like the
CPU driver, when a replication runs out of rows); and three overridden helpers: the
histogram count, an atomic add here because the replications share a few histograms, the
batch sums of the FCFS, class, flat-rank and PS kernels, added into the batch arrays
directly (:func:`.cpu._record_direct`), and the class draw, one job at a time
(:func:`.cpu._class_block_scalar`): the CPU's versions of the last two add spills here.
Same seed, same jobs: the streams are counter-based, so the GPU draws
the CPU's job sequence; the results agree job for job up to the rounding of
``log``/``exp`` (libdevice against the C library) and fused multiply-adds.

State layout: every state array of :mod:`.layout` gets a last axis of length
``replications`` (``pf[slot, column, rep]``), so that the threads of a warp reading
the same field of their own replication touch adjacent addresses; a thread sees its
own replication as strided views (``pf[:, :, rep]``), which the shared kernels index
exactly like the CPU's rows. All memory is allocated by the host before a launch; the
kernels never allocate.

Requirements: ``numba.cuda`` with a CUDA GPU and driver (the toolkit's NVVM and
libdevice, e.g. from the ``numba-cuda[cu12]`` or ``[cu13]`` wheels; see the ``gpu``
extra of the package), and sizes and predictions sampled in the kernel (laws listed in
:mod:`qtheory.sim.sampling`; others are sampled by NumPy on the CPU only). ``numba.cuda``
is imported only when this backend runs. Without a GPU, ``backend="gpu"`` raises
:class:`GPUUnavailableError`; with ``NUMBA_ENABLE_CUDASIM=1`` in the environment before
Numba is first imported, the same code runs on the CPU under Numba's CUDA simulator
(pure Python: about a thousand times slower, for tests; the histogram count is then a
lock, see :func:`_count_simulated`).

Response-time histogram: each completed job is counted with a global-memory atomic add
into one of :data:`HISTOGRAMS` copies (replication ``r`` into copy ``r % HISTOGRAMS``),
summed on the host. Measured on an H200 (2026-12-04, 65,536 replications x 22,000 jobs,
M/M/1 at load 0.8, G jobs/s, ``validation/bench/results_gpu_checks.md``):

=======================================  ======  ======
setting                                   FCFS    SRPT
=======================================  ======  ======
global atomic add (255 registers)         0.87    0.52
shared-memory histogram                   0.86    0.48
shared-memory histogram and bin table     0.86    0.46
no count at all (for reference only)      3.13    1.18
global atomic add, 128 registers          1.11    0.51
=======================================  ======  ======

So the count's cost is not the atomic: a per-block histogram in shared memory, added into
the global one once per launch, and a shared-memory copy of the bin table as well, gave
the same integers but were no faster, at 255 registers or at 128 (1.02 / 0.47), and were
removed again (commits 091550a and 4e7bcc8 have them). What the count costs is the
binning with the few warps that 255 registers per thread leave resident; a register limit
of 128 (:data:`MAX_REGISTERS`, the default) lets twice as many warps hide it: FCFS 0.88 ->
1.10, FB 0.61 -> 0.76, PS 0.74 -> 0.85, SPRPT 0.36 -> 0.40, SkipPredict 0.21 -> 0.23 G
jobs/s, SRPT +4%, M/G/4 SRPT -3% (``validation/bench/results_gpu.md``; ptxas reports spill
stores of 612-1,080 bytes per thread instead of 104-188, to local memory that the L1 cache
serves).

For speed, ask for many replications (the GPU runs one per thread: ``10**4`` to
``10**5`` keep an H100 busy); each replication's pools take about 50 kB. Kernels are
compiled on their first use in a process (several seconds per family; not cached on
disk: ``cache=True`` of ``numba.cuda.jit`` keys a kernel on its own source file only,
and a kernel built here from the helpers of other files would be reloaded stale after
an edit of a helper).

Examples
--------
>>> import qtheory as qt
>>> from qtheory.sim import simulate
>>> q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
>>> r = simulate(q, "SRPT", jobs=20_000, replications=8192, seed=1,
...              backend="gpu")  # doctest: +SKIP
>>> r = simulate(q, "SRPT", jobs=20_000, replications=4, seed=1)  # the same on the CPU
>>> abs(r.z_score(q.mean_response_time("SRPT"))) < 4
True
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .layout import (
    BLK,
    C_REP,
    DONE,
    FREEN,
    GROW,
    NBLK,
    NDONE,
    NEED_DATA,
    NPARK,
    NPF,
    NPI,
    NSF,
    NSI,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..driver import Outcome, Prepared

__all__ = ["run_replications", "GPUUnavailableError", "available", "device_function",
           "THREADS_PER_BLOCK",
           "SLICE_EVENTS", "HISTOGRAMS", "MAX_REGISTERS"]

#: Threads per block on a GPU (the kernels use up to 255 registers per thread).
THREADS_PER_BLOCK = 128
#: Events per replication per launch; the host relaunches until every replication is done.
SLICE_EVENTS = 1 << 18
#: Copies of the histogram that the replications share (replication r counts into copy
#: ``r % HISTOGRAMS``, summed on the host), which spreads the atomic adds.
HISTOGRAMS = 32
#: Register limit per thread passed to ``numba.cuda.jit`` for the global kernels
#: (``None``: the compiler's choice, 255 for every family). A lower limit lets more warps
#: reside on a multiprocessor, at the price of spills to local memory; 128 was the fastest
#: of 255 and 128 on an H200 (module docstring). Part of the launcher's memo key.
MAX_REGISTERS: int | None = 128
_POOL0 = 256  # initial rows per replication (as the CPU driver)

cuda = None  # numba.cuda, bound by _cuda() on first use (never at import)


class GPUUnavailableError(NotImplementedError):
    """``backend="gpu"`` cannot run here: no CUDA GPU (or ``numba.cuda``) is available.

    A :class:`NotImplementedError`, and so a :class:`RuntimeError`: the backend is not
    available on this machine.
    """


def _simulated() -> bool:
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


def available() -> bool:
    """True when ``backend="gpu"`` can run here (a CUDA GPU, or Numba's CUDA simulator).

    Imports ``numba.cuda``.
    """
    try:
        _cuda()
    except GPUUnavailableError:
        return False
    return True


def _cuda():
    """``numba.cuda``, checked; raises :class:`GPUUnavailableError` without a GPU."""
    global cuda
    try:
        from numba import cuda as numba_cuda
    except ImportError as e:  # pragma: no cover - numba without its CUDA target
        raise GPUUnavailableError(
            "backend='gpu' needs numba.cuda, which could not be imported "
            f"({e}); install the 'gpu' extra, or use backend='cpu'") from e
    if not numba_cuda.is_available():
        raise GPUUnavailableError(
            "backend='gpu': no CUDA GPU is available (numba.cuda.is_available() is False: "
            "no GPU, no driver, or no CUDA toolkit found). Use backend='cpu' (all CPU "
            "cores); to run the GPU kernels on the CPU under Numba's CUDA simulator (slow, "
            "for tests), set NUMBA_ENABLE_CUDASIM=1 in the environment before Numba is "
            "first imported.")
    cuda = numba_cuda
    return numba_cuda


# ----------------------------------------------------------------------------- device code
def _count_atomic(hist, b):
    """The GPU's :func:`.cpu._count`: replications share histograms."""
    cuda.atomic.add(hist, b, 1)


_SIM_LOCK = threading.Lock()


def _count_simulated(hist, b):
    """:func:`.cpu._count` under the CUDA simulator, where the threads of a block are
    Python threads: a lock (the simulator's ``cuda.atomic`` is reached through a swap
    of the function's globals that is not safe between threads of one device function).
    """
    with _SIM_LOCK:
        hist[b] += 1


def _make_launcher(body, max_registers: int | None = None):
    """The global kernel of one family: replication ``cuda.grid(1)`` resumes its run,
    compiled with the register limit ``max_registers`` (:data:`MAX_REGISTERS`)."""
    # (the CUDA simulator's jit takes no register limit)
    jit_kw = {} if max_registers is None or _simulated() else {
        "max_registers": int(max_registers)}

    def launch(cfg_f, cfg_i, rb, rs, ccum, sprm, nprm, pf, pi, hk, hi, free, grp, sf, si,
               hist, htab, bsum, bcnt, rec, bufx, bufy, blk, park, status,
               max_events):
        r = cuda.grid(1)
        if r < status.shape[0] and status[r] != DONE:
            status[r] = body(cfg_f, cfg_i[:, r], rb, rs, ccum, sprm, nprm, pf[:, :, r],
                             pi[:, :, r], hk[:, r], hi[:, :, r], free[:, r], grp[:, r],
                             sf[:, r], si[:, r], hist[r % hist.shape[0]], htab,
                             bsum[:, r], bcnt[:, r], rec[:, :, r], bufx, bufy, blk[:, :, r],
                             park[:, :, r], max_events)

    return cuda.jit(launch, **jit_kw)


_LOCK = threading.Lock()
_RETARGET = None
_LAUNCHERS: dict[tuple, object] = {}


def _retarget_locked(fn):
    global _RETARGET
    if _RETARGET is None:
        from .._bits import PY_TWINS
        from .._jit import Retarget
        from . import cpu

        # the histogram count is shared; the batch sums stay in memory and the classes are
        # drawn one job at a time (the CPU's versions add spills here)
        direct = {cpu._record_batched: cpu._record_direct,
                  cpu._class_block: cpu._class_block_scalar}
        if _simulated():
            over = {cpu._count: _count_simulated, **direct, **PY_TWINS}
        else:
            over = {cpu._count: _count_atomic, **direct}
        _RETARGET = Retarget(cuda.jit(device=True), over)
    return _RETARGET(fn)


def device_function(fn):
    """``fn``, a shared CPU kernel function (made by :func:`qtheory.sim._jit.jit`),
    compiled as a ``numba.cuda`` device function with the whole tree of helpers it calls
    (memoised; one :class:`~qtheory.sim._jit.Retarget` per process, shared by every
    GPU kernel of the package). Raises :class:`GPUUnavailableError` without a GPU."""
    _cuda()
    with _LOCK:
        return _retarget_locked(fn)


def _launcher(name: str):
    """The compiled global kernel for the CPU kernel ``name`` of :mod:`.cpu` (memoised),
    with the register limit :data:`MAX_REGISTERS` (read now)."""
    key = (name, MAX_REGISTERS)
    with _LOCK:
        if key not in _LAUNCHERS:
            from . import cpu

            _LAUNCHERS[key] = _make_launcher(_retarget_locked(getattr(cpu, name)),
                                             MAX_REGISTERS)
        return _LAUNCHERS[key]


# ----------------------------------------------------------------------------- host side
def _zeros(shape, dtype=np.float64):
    """A zeroed device array (a memset on the GPU; host zeros under the simulator)."""
    if _simulated():
        return cuda.to_device(np.zeros(shape, dtype))
    from numba.cuda.cudadrv.driver import device_memset

    d = cuda.device_array(shape, dtype)
    if d.size:
        device_memset(d, 0, d.nbytes)
    return d


class _State:
    """The state arrays of ``R`` replications (last axis), on the device."""

    # the arrays with one row per job slot, and the axis of the slots
    POOLS = {"pf": 0, "pi": 0, "hk": 0, "free": 0, "grp": 0, "hi": 1, "park": 1}

    def __init__(self, prep, replications: int):
        R = self.R = replications
        cap = self.cap = max(_POOL0, prep.servers)
        cfg_i = np.repeat(prep.cfg_i(0)[:, None], R, axis=1)
        cfg_i[C_REP] = np.arange(R)
        si = np.zeros((NSI, R), np.int64)
        si[FREEN] = cap
        self.status = np.full(R, -1, np.int64)
        dev = {k: cuda.to_device(np.ascontiguousarray(v)) for k, v in {
            "cfg_f": prep.cfg_f, "rb": prep.compiled.branches, "rs": prep.compiled.segments,
            "ccum": prep.compiled.class_cum, "sprm": prep.sprm, "nprm": prep.nprm,
            "htab": prep.htab, "bufx": np.zeros(1), "bufy": np.zeros(1),
            "cfg_i": cfg_i, "si": si, "status": self.status,
            "free": _free_stacks(np.zeros((0, R), np.int64), np.zeros(R, np.int64), 0, cap),
        }.items()}
        shapes = {"pf": ((cap, NPF, R), np.float64), "pi": ((cap, NPI, R), np.int64),
                  "hk": ((cap, R), np.float64), "hi": ((2, cap, R), np.int64),
                  "grp": ((cap, R), np.int64), "park": ((NPARK, cap, R), np.int64),
                  "sf": ((NSF, R), np.float64),
                  "hist": ((min(HISTOGRAMS, R), prep.nbins + 2), np.int64),
                  "bsum": ((prep.batches, R), np.float64),
                  "bcnt": ((prep.batches, R), np.int64),
                  "rec": ((prep.jobs if prep.records else 1, 4, R), np.float64),
                  "blk": ((NBLK, BLK, R), np.float64)}
        dev.update({k: _zeros(shape, dt) for k, (shape, dt) in shapes.items()})
        self.dev = dev
        self.overflow = np.zeros(R, bool)

    def args(self, max_events: int):
        d = self.dev
        return (d["cfg_f"], d["cfg_i"], d["rb"], d["rs"], d["ccum"], d["sprm"], d["nprm"],
                d["pf"], d["pi"], d["hk"], d["hi"], d["free"], d["grp"], d["sf"], d["si"],
                d["hist"], d["htab"], d["bsum"], d["bcnt"], d["rec"], d["bufx"],
                d["bufy"], d["blk"], d["park"], d["status"], np.int64(max_events))

    def fetch(self, name: str) -> np.ndarray:
        return self.dev[name].copy_to_host()

    def fetch_status(self) -> np.ndarray:
        self.status = self.fetch("status")
        return self.status

    def grow(self, want: np.ndarray, pool_max: int) -> None:
        """Double the pools of every replication (``want``: those that asked, and resume);
        those that cannot grow (``pool_max`` rows, or no device memory) stop, flagged."""
        if self.cap >= pool_max:
            self._stop(want)
            return
        cap, new = self.cap, 2 * self.cap
        si = self.fetch("si")
        try:
            grown = {}
            for k, axis in self.POOLS.items():
                if k == "free":
                    continue
                old = self.dev[k]
                shape = list(old.shape)
                shape[axis] = new
                d = _zeros(tuple(shape), old.dtype)
                if axis == 0:  # device to device, slots 0 .. cap-1
                    d[:cap].copy_to_device(old)
                else:
                    for i in range(shape[0]):
                        d[i, :cap].copy_to_device(old[i])
                grown[k] = d
            grown["free"] = cuda.to_device(_free_stacks(self.fetch("free"), si[FREEN], cap, new))
        except Exception as e:  # out of device memory: stop the replications that asked
            if "memory" not in str(e).lower() and not isinstance(e, MemoryError):
                raise
            self._stop(want)
            return
        si[FREEN] += new - cap
        self.dev.update(grown)
        self.dev["si"] = cuda.to_device(si)
        self.cap = new
        self.status[want] = -1
        self.dev["status"] = cuda.to_device(self.status)

    def _stop(self, which: np.ndarray) -> None:
        self.overflow |= which
        self.status[which] = DONE
        self.dev["status"] = cuda.to_device(self.status)


def _free_stacks(free: np.ndarray, n: np.ndarray, cap: int, new: int) -> np.ndarray:
    """The free-slot stacks of pools grown from ``cap`` to ``new`` slots: each keeps its
    ``n[r]`` free slots and gets ``new-1 .. cap`` on top (as the CPU driver's pools)."""
    R = n.size
    out = np.zeros((new, R), np.int64)
    out[:cap] = free[:cap]
    rows = n[None, :] + np.arange(new - cap)[:, None]
    out[rows, np.arange(R)[None, :]] = np.arange(new - 1, cap - 1, -1)[:, None]
    return out


def _blocks(R: int) -> tuple[int, int]:
    tpb = min(THREADS_PER_BLOCK, R) if not _simulated() else min(4, R)
    return math.ceil(R / tpb), tpb


def run_replications(prep: Prepared, replications: int,
                     on_progress: Callable[[int], object] | None = None, *,
                     max_events: int | None = None) -> Outcome:
    """Run ``replications`` replications of ``prep`` on the GPU, one per CUDA thread.

    Parameters
    ----------
    prep : qtheory.sim.driver.Prepared
        The compiled policy and run parameters (shared with the CPU backend).
    replications : int
        Number of replications (= CUDA threads).
    on_progress : callable, optional
        Called after each launch with the number of measured jobs done since the last
        call.
    max_events : int, optional
        Events per replication per launch (default :data:`SLICE_EVENTS`); the results do
        not depend on it.

    Returns
    -------
    qtheory.sim.driver.Outcome

    Raises
    ------
    NotImplementedError
        The size law or the prediction model is sampled by NumPy (CPU only).
    GPUUnavailableError
        No CUDA GPU (and no CUDA simulator).
    """
    from ..driver import _POOL_MAX, Outcome

    if not prep.in_kernel:
        raise NotImplementedError(
            f"backend='gpu' draws sizes and predictions inside the kernel; "
            f"{type(prep.queue.size).__name__} sizes with "
            f"{type(prep.queue.prediction).__name__} are sampled by NumPy, on the CPU "
            "only: use backend='cpu' (the in-kernel laws are listed in qtheory.sim.sampling)")
    _cuda()
    launcher = _launcher(prep.kernel_name)
    st = _State(prep, replications)
    grid = _blocks(replications)
    slice_events = SLICE_EVENTS if max_events is None else int(max_events)
    done_before = 0
    with warnings.catch_warnings():
        if _simulated():  # NumPy scalars warn on the generator's intended uint64 wraparound
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        while True:
            launcher[grid](*st.args(slice_events))
            status = st.fetch_status()
            if on_progress is not None:
                done = int(st.dev["si"][NDONE].copy_to_host().sum())
                on_progress(done - done_before)
                done_before = done
            if np.any(status == NEED_DATA):  # pragma: no cover - in-kernel sampling only
                raise RuntimeError("backend='gpu': a replication asked for NumPy samples")
            grow = status == GROW
            if np.any(grow):
                st.grow(grow, _POOL_MAX)
            if np.all(st.status == DONE):
                break
    sf, si = st.fetch("sf"), st.fetch("si")
    bsum, bcnt, hist = st.fetch("bsum"), st.fetch("bcnt"), st.fetch("hist")
    rec = np.ascontiguousarray(np.moveaxis(st.fetch("rec"), 2, 0)) if prep.records else None
    return Outcome(si=np.ascontiguousarray(si.T), sf=np.ascontiguousarray(sf.T),
                   bsum=np.ascontiguousarray(bsum.T), bcnt=np.ascontiguousarray(bcnt.T),
                   hist=hist.sum(axis=0), rec=rec, overflow=st.overflow.copy())
