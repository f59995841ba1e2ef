"""The simulation driver: replications, warm-up, confidence intervals, percentiles.

:func:`simulate` runs ``replications`` independent replications of an M/G/1 (or
M/G/k) queue under a policy, each with ``warmup`` discarded jobs followed by
``jobs`` measured jobs, on all CPU cores (one thread per replication; the Numba
kernels release the GIL). Each replication draws its jobs from the counter-based
streams of ``(seed, replication)``, so the numbers depend only on the seed and the
backend, never on the number of threads. With ``backend="gpu"`` the same kernels run
one replication per CUDA thread (:mod:`.kernels.gpu`) and return the same kind of
:class:`Outcome`, from which the same statistics are computed.

Confidence intervals: with ``replications >= 2``, a Student-t interval over the
replication means; with one replication, batch means (``batches`` consecutive
batches of measured jobs, by arrival order).

Measured jobs are arrivals number ``warmup .. warmup + jobs - 1``; arrivals go on
after them until every measured job has left (so that later arrivals still
preempt them), at most ``max(jobs, 100000)`` more (on an unstable queue, none:
the queue then drains). Memory per replication is a pool of rows for the jobs in
system (about 180 bytes each with the heap, grown by doubling) plus fixed
histograms; per-job arrays are allocated only with ``records=True``.

Examples
--------
>>> import qtheory as qt
>>> q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0))
>>> r = simulate(q, "FCFS", jobs=20_000, replications=4, seed=1)
>>> abs(r.z_score(q.mean_response_time("FCFS"))) < 4
True
>>> r.jobs, r.replications, r.converged
(20000, 4, True)
"""

from __future__ import annotations

import functools
import numbers
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..policies import get_policy
from .kernels import layout as L
from .ranks import CompiledPolicy, compile_policy
from .result import PERCENTILES, SimulationResult, SimulationWarning, histogram_percentiles
from .rng import prediction_stream
from .sampling import encode_prediction, encode_size, noise_times_sizes

__all__ = ["simulate", "BACKENDS", "prepare", "Prepared", "Outcome"]

BACKENDS = ("cpu", "gpu")
_BINS_PER_DECADE = 200
_DECADES_BELOW = 8
_DECADES_ABOVE = 8
_CHUNK = 1 << 16
_SLICE_EVENTS = 1 << 22
_POOL_MAX = 1 << 21  # rows (about 380 MB) per replication before a run is cut short


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _seed_of(seed) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if seed is None:
        raise ValueError("seed: pass an int or a numpy.random.Generator; None is not allowed "
                         "(every simulation must be reproducible)")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 or a numpy.random.Generator, got {seed!r}")
    return int(seed) % (2**64)


class Prepared:
    """Everything a kernel needs for one queue, policy and run length (shared by backends)."""

    def __init__(self, queue, policy, *, jobs, warmup, seed, records, servers, batches):
        self.queue = queue
        self.policy = get_policy(policy)
        self.compiled: CompiledPolicy = compile_policy(self.policy, queue.size, queue.prediction)
        self.jobs, self.warmup, self.seed = jobs, warmup, seed
        self.records, self.servers, self.batches = records, servers, batches
        if servers > 1:
            if self.compiled.kind != "rank":
                raise NotImplementedError(
                    f"servers: {self.policy.name} is simulated on one server only; M/G/k "
                    "supports rank policies whose ranks do not rise with age")
            if self.compiled.rising:
                raise NotImplementedError(
                    f"servers: {self.policy.name} has ranks that rise with age (shared "
                    "service among tied jobs), which the M/G/k kernel does not support")
        size_enc = encode_size(queue.size)
        pred_enc = encode_prediction(queue.prediction)
        self.in_kernel = size_enc is not None and pred_enc is not None
        self.scode, self.sprm = size_enc if size_enc is not None else (-1, np.zeros(1))
        self.ncode, self.nprm = pred_enc if pred_enc is not None else (-1, np.zeros(1))
        self.sprm = np.ascontiguousarray(self.sprm, float)
        self.nprm = np.ascontiguousarray(self.nprm, float)
        self.xcodes = self._extra_predictions(queue)
        lam = float(queue.arrival_rate)
        self.lam, self.load = lam, float(queue.load)
        self.stable = self.load < 1.0
        extra = max(jobs, 100_000) if self.stable else 0
        self.max_arrivals = warmup + jobs + extra
        scale = float(queue.size.mean)
        self.hist_lo = float(np.log(scale) - _DECADES_BELOW * np.log(10.0))
        self.hist_scale = _BINS_PER_DECADE / np.log(10.0)
        self.nbins = _BINS_PER_DECADE * (_DECADES_BELOW + _DECADES_ABOVE)
        self.cfg_f = np.zeros(L.NCF)
        self.cfg_f[L.C_LAM] = lam
        self.cfg_f[L.C_HLO] = self.hist_lo
        self.cfg_f[L.C_HSCALE] = self.hist_scale
        self.htab, self.hu0 = _hist_tables(self.hist_lo, self.hist_scale, self.nbins)
        self.kernel_name = _kernel_name(self.compiled, servers)

    def _extra_predictions(self, queue) -> list:
        """``[(noise code, stream), ...]`` of the extra predictions A, B that the policy reads
        (models other than the first of a :class:`~qtheory.MultiPrediction`), their
        parameters appended to ``nprm`` (the first model's padded to 2, then 2 each)."""
        extra = self.compiled.extra
        if not extra:
            return []
        models = queue.predictions
        out, prm = [], [np.concatenate([self.nprm, np.zeros(2)])[:max(2, self.nprm.size)]]
        if not self.in_kernel:
            raise NotImplementedError(
                f"policy: {self.policy.name} reads predictions other than the first, which "
                "only in-kernel sampling draws (size laws and prediction models of "
                "qtheory.sim.sampling); the size law or the first prediction model here is "
                "sampled by NumPy")
        for j in extra:
            model = models.model(j, "policy")
            enc = encode_prediction(model)
            if enc is None:
                raise NotImplementedError(
                    f"policy: prediction {j} ({model!r}) has no in-kernel sampler "
                    "(qtheory.sim.sampling lists the models that do)")
            code, p = enc
            p = np.asarray(p, float)
            prm.append(np.concatenate([p, np.zeros(2)])[:2])
            out.append((int(code), prediction_stream(j)))
        self.nprm = np.ascontiguousarray(np.concatenate(prm), float)
        return out

    def cfg_i(self, rep: int) -> np.ndarray:
        c = np.zeros(L.NCI, np.int64)
        c[L.C_SEED] = np.int64(np.uint64(self.seed).view(np.int64))
        c[L.C_REP] = rep
        c[L.C_SCODE] = self.scode
        c[L.C_NCODE] = self.ncode
        c[L.C_KEY] = self.compiled.key
        c[L.C_MODE] = 0 if self.in_kernel else 1
        c[L.C_WARM] = self.warmup
        c[L.C_JOBS] = self.jobs
        c[L.C_MAXARR] = self.max_arrivals
        c[L.C_RECORD] = 1 if self.records else 0
        c[L.C_NBATCH] = self.batches
        c[L.C_NBINS] = self.nbins
        c[L.C_SERVERS] = self.servers
        c[L.C_HU0] = self.hu0
        c[L.C_BKEY] = self.compiled.bkey
        for i, (code, stream) in enumerate(self.xcodes):
            c[L.C_XCODE_A + 2 * i] = code
            c[L.C_XSTREAM_A + 2 * i] = stream
        return c


#: Use the kernels written for one family (FB, FCFS, a constant rank per class) where they
#: apply; tests turn this off to run the same policy through the generic kernel and compare.
_SPECIAL_KERNELS = True


def _same_segment(compiled: CompiledPolicy):
    """The one segment every job has (one branch, one segment, no initial rank, no
    overhead, value not depending on the key or the arrival time), else None."""
    rb, rs = compiled.branches, compiled.segments
    if compiled.kind != "rank" or rb.shape[0] != 1 or rb[0, 2] != 1 or rb[0, 3] != 0:
        return None
    seg = rs[int(rb[0, 1])]
    return seg if seg[4] == 0 and seg[6] == 0 and seg[8] == 0 else None


def _is_fb(compiled: CompiledPolicy) -> bool:
    """True when every job's rank is ``c + s * age`` with the same ``c`` and ``s > 0``."""
    seg = _same_segment(compiled)
    return seg is not None and bool(seg[7] > 0 and seg[0] == 0 and seg[1] == 0)


def _is_fcfs(compiled: CompiledPolicy) -> bool:
    """True when every job has the same constant rank (FCFS: ties go FIFO)."""
    seg = _same_segment(compiled)
    return seg is not None and bool(seg[7] == 0)


def _is_class(compiled: CompiledPolicy) -> bool:
    """True when the rank is a constant per branch (at most 16 branches): preemptive
    (finite constants, plus a multiple of the arrival time: newest-first one-bit advice),
    or non-preemptive (finite initial constants, ``-inf`` in service)."""
    rb, rs = compiled.branches, compiled.segments
    if compiled.kind != "rank" or not 1 <= rb.shape[0] <= 16 or np.any(rb[:, 2] != 1):
        return False
    seg = rs[rb[:, 1].astype(int)]
    if np.any(seg[:, [4, 7, 8]] != 0) or not np.all(np.isfinite(seg[:, 6])):
        return False
    if np.all(rb[:, 3] == 0):
        return bool(np.all(np.isfinite(seg[:, 5])))
    return bool(np.all(rb[:, 3] != 0) and np.all(rb[:, 4] == 0) and np.all(seg[:, 6] == 0)
                and np.all(np.isfinite(rb[:, 5])) and np.all(seg[:, 5] == -np.inf))


def _kernel_name(compiled: CompiledPolicy, servers: int) -> str:
    """The CPU kernel of a compiled policy: a specialisation per family (see kernels.cpu)."""
    if compiled.kind == "ps":
        return "mg1_ps"
    if _SPECIAL_KERNELS and servers == 1 and _is_fb(compiled):
        return "mg1_fb"
    if _SPECIAL_KERNELS and servers == 1 and _is_fcfs(compiled):
        return "mg1_fcfs"
    if _SPECIAL_KERNELS and servers == 1 and _is_class(compiled):
        return "mg1_class"
    base = "mgk_rank" if servers > 1 else ("mg1_rank_rise" if compiled.rising else "mg1_rank")
    return base + ("_ovh" if compiled.overhead else "")


@functools.lru_cache(maxsize=16)
def _hist_tables(lo: float, scale: float, nbins: int):
    from .kernels.hist import tables

    return tables(lo, scale, nbins)  # shared by the runs of one size scale; never written


def prepare(queue, policy, *, jobs: int, warmup: int, seed: int, records: bool = False,
            servers: int = 1, batches: int = 32) -> Prepared:
    """Compile ``policy`` for ``queue`` and fix the run parameters (see :func:`simulate`)."""
    return Prepared(queue, policy, jobs=jobs, warmup=warmup, seed=seed, records=records,
                    servers=servers, batches=batches)


class _Replication:
    """The state arrays of one replication, grown on demand."""

    def __init__(self, prep: Prepared, rep: int, cap: int = 256):
        self.prep, self.rep = prep, rep
        cap = max(cap, prep.servers)
        if prep.kernel_name == "mg1_class":  # its class queues live in hi[:, :branches]
            cap = max(cap, prep.compiled.branches.shape[0])
        self.pf = np.zeros((cap, L.NPF))
        self.pi = np.zeros((cap, L.NPI), np.int64)
        self.hk = np.zeros(cap)
        self.hi = np.zeros((2, cap), np.int64)
        self.blk = np.zeros((L.NBLK, L.BLK))
        self.park = np.zeros((L.NPARK, cap), np.int64)
        self.free = np.arange(cap - 1, -1, -1, dtype=np.int64)
        self.grp = np.zeros(cap, np.int64)
        self.sf = np.zeros(L.NSF)
        self.si = np.zeros(L.NSI, np.int64)
        self.si[L.FREEN] = cap
        self.hist = np.zeros(prep.nbins + 2, np.int64)
        self.bsum = np.zeros(prep.batches)
        self.bcnt = np.zeros(prep.batches, np.int64)
        self.rec = np.zeros((prep.jobs if prep.records else 0, 4))
        self.bufx = np.zeros(1)
        self.bufy = np.zeros(1)
        self.cfg_i = prep.cfg_i(rep)
        self.gen = None
        self.overflow = False
        if not prep.in_kernel:
            self.gen = np.random.default_rng([prep.seed, rep])

    def grow(self) -> bool:
        cap = self.pf.shape[0]
        if cap >= _POOL_MAX:
            return False
        new = 2 * cap
        for name in ("pf", "pi"):
            a = getattr(self, name)
            b = np.zeros((new, a.shape[1]), a.dtype)
            b[:cap] = a
            setattr(self, name, b)
        for name in ("hi", "park"):
            a = getattr(self, name)
            b = np.zeros((a.shape[0], new), a.dtype)
            b[:, :cap] = a
            setattr(self, name, b)
        for name in ("hk", "grp"):
            a = getattr(self, name)
            b = np.zeros(new, a.dtype)
            b[:cap] = a
            setattr(self, name, b)
        free = np.zeros(new, np.int64)
        n = int(self.si[L.FREEN])
        free[:n] = self.free[:n]
        free[n:n + (new - cap)] = np.arange(new - 1, cap - 1, -1)
        self.free = free
        self.si[L.FREEN] = n + (new - cap)
        return True

    def refill(self):
        prep = self.prep
        x, y = prep.queue.prediction.sample(prep.queue.size, _CHUNK, self.gen)
        self.bufx = np.ascontiguousarray(x, float)
        self.bufy = np.ascontiguousarray(y, float)
        self.si[L.BUF0] = self.si[L.BUF0] + self.si[L.BUFN]
        self.si[L.BUFN] = _CHUNK

    def run(self, kernel, on_progress=None):
        prep = self.prep
        done_before = 0
        while True:
            st = kernel(prep.cfg_f, self.cfg_i, prep.compiled.branches, prep.compiled.segments,
                        prep.compiled.class_cum, prep.sprm, prep.nprm, self.pf, self.pi,
                        self.hk, self.hi, self.free, self.grp, self.sf, self.si, self.hist,
                        prep.htab, self.bsum, self.bcnt, self.rec, self.bufx,
                        self.bufy, self.blk, self.park, _SLICE_EVENTS)
            if on_progress is not None:
                done = int(self.si[L.NDONE])
                on_progress(done - done_before)
                done_before = done
            if st == L.DONE:
                return
            if st == L.GROW:
                if not self.grow():
                    self.overflow = True
                    return
            elif st == L.NEED_DATA:
                self.refill()


@dataclass
class Outcome:
    """The final state of ``R`` replications, as a backend hands it to the statistics.

    Attributes
    ----------
    si, sf : ndarray, shape (R, NSI), (R, NSF)
        Int and float scalars of each replication (:mod:`.kernels.layout`).
    bsum, bcnt : ndarray, shape (R, batches)
        Sums and counts of the batches of measured jobs.
    hist : ndarray, shape (nbins + 2,)
        The response-time histogram of all replications together.
    rec : ndarray, shape (R, jobs, 4), or None
        Arrival, size, prediction and completion of every measured job (``records``).
    overflow : ndarray of bool, shape (R,)
        Replications cut short because their pool of job rows could not grow.
    """

    si: np.ndarray
    sf: np.ndarray
    bsum: np.ndarray
    bcnt: np.ndarray
    hist: np.ndarray
    rec: np.ndarray | None
    overflow: np.ndarray

    @classmethod
    def of_replications(cls, reps) -> Outcome:
        """Gather the CPU backend's :class:`_Replication` objects."""
        return cls(si=np.stack([r.si for r in reps]), sf=np.stack([r.sf for r in reps]),
                   bsum=np.stack([r.bsum for r in reps]), bcnt=np.stack([r.bcnt for r in reps]),
                   hist=np.sum([r.hist for r in reps], axis=0),
                   rec=np.stack([r.rec for r in reps]) if reps[0].prep.records else None,
                   overflow=np.array([r.overflow for r in reps], bool))


def _all_predictions(prep: Prepared, rec: np.ndarray, notes: list) -> np.ndarray:
    """Every prediction of the measured jobs, shape (replications, jobs, models): the first
    as the kernel recorded it, the others drawn again from their streams (8 + the model's
    index, at the jobs' arrival numbers), as the kernels draw those that a policy reads: the
    same numbers whether or not the policy read them. A model without an in-kernel sampler
    gives NaN (and a note)."""
    models = prep.queue.predictions
    out = np.full((*rec.shape[:2], len(models)), np.nan)
    out[:, :, 0] = rec[:, :, 2]
    sizes = rec[:, :, 1]
    for j in range(1, len(models)):
        model = models.model(j, "records")
        enc = encode_prediction(model)
        if enc is None:
            notes.append(f"records: prediction {j} ({model!r}) has no in-kernel sampler; its "
                         "records are NaN")
            continue
        code, prm = enc
        out[:, :, j] = noise_times_sizes(prep.seed, prediction_stream(j), code, prm,
                                         prep.warmup, sizes)
    return out


def _kernel(name: str):
    from .kernels import cpu

    return getattr(cpu, name)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        return None
    return tqdm(total=total, unit="job", unit_scale=True, leave=False)


def simulate(queue, policy, jobs: int = 100_000, replications: int = 8, seed=0,
             warmup: int | None = None, backend: str = "cpu", level: float = 0.95,
             records: bool = False, servers: int = 1, workers: int | None = None,
             batches: int = 32, progress: bool = False) -> SimulationResult:
    """Simulate ``queue`` under ``policy`` and estimate the mean response time.

    Parameters
    ----------
    queue : qtheory.MG1
        Arrival rate, size law and prediction model.
    policy : str or Policy
        Any policy of :mod:`qtheory.policies`, including :class:`~qtheory.policies.RankPolicy`.
    jobs : int
        Measured jobs per replication (after warm-up), ``>= 1``.
    replications : int
        Independent replications, ``>= 1`` (one: batch-means CI).
    seed : int or numpy.random.Generator
        Same seed and backend give the same numbers (a Generator is asked for one int).
    warmup : int, optional
        Jobs discarded per replication; default ``jobs // 10``.
    backend : {"cpu", "gpu"}
        ``"gpu"`` runs one replication per CUDA thread (needs ``numba.cuda`` and a CUDA
        GPU, or Numba's CUDA simulator; sizes and predictions from the in-kernel laws of
        :mod:`qtheory.sim.sampling`): the same kernels and the same jobs as ``"cpu"``.
        Ask for many replications (thousands) to fill a GPU.
    level : float
        Confidence level of ``ci`` (default 0.95).
    records : bool
        Keep arrival, size, prediction and completion of every measured job (memory
        ``32 * jobs * replications`` bytes); percentiles are then exact. On a
        :class:`~qtheory.MultiPrediction` queue the records also hold every prediction
        of every job (``predictions``).
    servers : int
        ``k`` of an M/G/k queue: one central queue, ``k`` servers each of speed
        ``1/k`` (total capacity 1, so the load is ``arrival_rate * E[X]`` for any k),
        serving the ``k`` jobs of lowest rank. Rank policies whose ranks do not rise
        with age (FCFS, SJF/PSJF/SRPT, SPJF/PSPJF/SPRPT, TRAIL, buckets, priority,
        SkipPredict, DelayPredict).
    workers : int, optional
        Threads (default: all CPU cores; ignored by the GPU backend). Does not change the
        numbers.
    batches : int
        Batches per replication for the batch-means CI (and the per-replication check).
    progress : bool
        Show a tqdm progress bar (if tqdm is installed).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        ``jobs`` or ``replications`` < 1, ``warmup`` < 0, an unknown backend, a bad
        ``level`` or seed.
    NotImplementedError
        ``servers > 1`` with PS or a policy whose ranks rise with age (FB);
        ``backend="gpu"`` with a size law or prediction model sampled by NumPy.
    qtheory.sim.kernels.gpu.GPUUnavailableError
        ``backend="gpu"`` without a CUDA GPU (a ``NotImplementedError``).

    Warns
    -----
    SimulationWarning
        When the load is >= 1: the run completes but ``converged`` is False.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    jobs = _check_int("jobs", jobs, 1)
    replications = _check_int("replications", replications, 1)
    warmup = jobs // 10 if warmup is None else _check_int("warmup", warmup, 0)
    servers = _check_int("servers", servers, 1)
    batches = _check_int("batches", batches, 2)
    if not (isinstance(level, numbers.Real) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not hasattr(queue, "arrival_rate") or not hasattr(queue, "size"):
        raise TypeError(f"queue: expected a qtheory.MG1, got {type(queue).__name__}")
    seed_int = _seed_of(seed)
    prep = prepare(queue, policy, jobs=jobs, warmup=warmup, seed=seed_int, records=records,
                   servers=servers, batches=batches)
    if not prep.stable:
        warnings.warn(f"load {prep.load:.4g} >= 1: the queue is unstable; the simulated mean "
                      "grows with the run length and is reported as not converged",
                      SimulationWarning, stacklevel=2)
    t0 = time.perf_counter()
    if backend == "gpu":
        from .kernels import gpu

        bar = _progress_bar(prep.jobs * replications, progress)
        try:
            out = gpu.run_replications(prep, replications,
                                       None if bar is None else bar.update)
        finally:
            if bar is not None:
                bar.close()
    else:
        out = Outcome.of_replications(_run_cpu(prep, replications, workers, progress))
    elapsed = time.perf_counter() - t0
    return _collect(prep, out, replications, level, backend, elapsed)


def _run_cpu(prep: Prepared, replications: int, workers, progress: bool):
    kernel = _kernel(prep.kernel_name)
    reps = [_Replication(prep, r) for r in range(replications)]
    bar = _progress_bar(prep.jobs * replications, progress)
    lock = threading.Lock()

    def tick(n):
        if bar is not None and n:
            with lock:
                bar.update(n)

    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(int(nw), replications))
    try:
        if nw == 1:
            for r in reps:
                r.run(kernel, tick)
        else:
            # compile (or load from cache) once before the threads start
            with ThreadPoolExecutor(max_workers=nw) as ex:
                list(ex.map(lambda r: r.run(kernel, tick), reps))
    finally:
        if bar is not None:
            bar.close()
    return reps


def _collect(prep: Prepared, out: Outcome, replications, level, backend,
             elapsed) -> SimulationResult:
    jobs = prep.jobs
    done = np.ascontiguousarray(out.si[:, L.NDONE])
    sums = np.ascontiguousarray(out.sf[:, L.SUMT])
    sums2 = np.ascontiguousarray(out.sf[:, L.SUMT2])
    with np.errstate(invalid="ignore", divide="ignore"):
        rep_means = sums / done
    overflow = bool(np.any(out.overflow))
    truncated = bool(np.any(done < jobs)) or overflow
    notes = []
    if overflow:
        notes.append(f"a replication had more than {_POOL_MAX} jobs in system and was cut short")
    if bool(np.any(done < jobs)):
        notes.append("some measured jobs did not complete")
    if replications >= 2:
        method = "replications"
        means = rep_means
    else:
        method = "batch means"
        with np.errstate(invalid="ignore", divide="ignore"):
            means = out.bsum[0] / out.bcnt[0]
        means = means[out.bcnt[0] > 0]
    res_kw = {}
    if prep.records:
        rec = out.rec
        records = {"arrival": rec[:, :, 0], "size": rec[:, :, 1], "prediction": rec[:, :, 2],
                   "completion": rec[:, :, 3]}
        if len(prep.queue.predictions) > 1:
            records["predictions"] = _all_predictions(prep, rec, notes)
        rt = (rec[:, :, 3] - rec[:, :, 0])[np.isfinite(rec[:, :, 3])]
        pct = {q: float(np.percentile(rt, q)) for q in PERCENTILES} if rt.size else {
            q: float("nan") for q in PERCENTILES}
        res_kw.update(records=records, percentile_method="exact")
    else:
        pct = histogram_percentiles(out.hist, prep.hist_lo, prep.hist_scale)
    n = done.sum()
    mean_all = sums.sum() / n if n else float("nan")
    var = sums2.sum() / n - mean_all**2 if n else float("nan")
    windows = out.sf[:, L.TWE] - out.sf[:, L.TWS]
    areas = np.ascontiguousarray(out.sf[:, L.AREA])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_number = float(np.mean(areas / windows)) if np.all(windows > 0) else float("nan")
    converged = prep.stable and not truncated and int(n) > 0
    res = SimulationResult.from_replication_means(
        prep.policy.name, means, level=float(level), percentiles=pct, jobs=jobs,
        warmup=prep.warmup, replications=replications, ci_method=method,
        mean_number=mean_number, arrival_rate=prep.lam, load=prep.load,
        servers=prep.servers, stable=prep.stable, converged=converged,
        std=float(np.sqrt(max(var, 0.0))), backend=backend, seed=prep.seed,
        notes=tuple(notes), replication_means=rep_means, elapsed=elapsed, **res_kw)
    if not converged and prep.stable:
        warnings.warn("simulation: " + "; ".join(notes or ["no measured job"])
                      + " - the mean is reported as not converged", SimulationWarning,
                      stacklevel=3)
    return res
