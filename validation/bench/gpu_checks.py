"""Every GPU check of the package in one command, for a session that is lent a GPU.

Runs, each step in its own process under its own time limit (a step that fails or
hangs does not cost the steps after it), writing a log per step into ``--out``
(default ``$OUT`` when set, else ``/tmp/gpu_checks``):

1. ``env.log``: ``nvidia-smi``, the versions of Python, NumPy, Numba, numba-cuda and
   CuPy, and a one-line CUDA kernel compiled and run (so a missing NVVM shows at once);
2. ``pytest.log``: ``pytest -m gpu tests/test_sim_gpu.py tests/test_llm_gpu.py`` (or
   the node ids given to ``--tests``), the GPU-only tests (job-for-job equality with
   the CPU on every kernel family, M/M/1 means against the analysis, pool growth, the
   LLM kernel for every scheduler);
3. ``bench.log`` and ``results_gpu.md``: ``bench_gpu.py`` at its default sizes;
4. ``scaling.log``: SRPT's aggregate rate against the number of replications and the
   threads per block;
5. ``hist0.log``, ``hist1.log``: FCFS and SRPT with the default warm-up (rates
   and ``z`` against the analysis) counting into the given numbers of histogram copies
   (:data:`qtheory.sim.kernels.gpu.HISTOGRAMS`), checking that all give the same
   histogram; then the same with the histogram's atomic add left out (to time the
   count, and the kernel's structure without it);
6. ``tune.log``, ``tune.json``: FCFS and SRPT under register limits
   (:data:`~qtheory.sim.kernels.gpu.MAX_REGISTERS`); the fastest is written to
   ``tune.json``, which a later ``bench`` step of the same run uses;
7. ``llm.log``: the LLM simulator's GPU backend against all CPU cores on ShareGPT-like
   requests (requests per second).

Usage, from the repository root, with qtheory importable (``PYTHONPATH=.``)::

    python validation/bench/gpu_checks.py [--out DIR] [--steps pytest,bench,...]
        [--tests NODEID ...] [--limit STEP=SECONDS ...]

Each step has a time limit (:data:`LIMITS`, ``--limit`` to change one); a step past it
is killed and the next one starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

ENV = r"""
import platform, sys
import numpy, numba
print("python", sys.version.split()[0], "numpy", numpy.__version__, "numba", numba.__version__)
try:
    import numba_cuda
    print("numba-cuda", numba_cuda.__version__)
except ImportError as e:
    print("numba-cuda: not importable:", e)
try:
    import cupy
    print("cupy", cupy.__version__)
except ImportError as e:
    print("cupy: not importable:", e)
from numba import cuda
print("cuda.is_available()", cuda.is_available())
dev = cuda.get_current_device()
print("device", dev.name, "cc", dev.compute_capability,
      "SMs", dev.MULTIPROCESSOR_COUNT)

@cuda.jit
def k(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = numba.float64(i) * 2.0

a = cuda.to_device(numpy.zeros(1000))
k[8, 128](a)
print("tiny kernel ok:", bool((a.copy_to_host() == 2.0 * numpy.arange(1000)).all()))
"""

SCALING = r"""
import sys
import time
from qtheory.sim import simulate
from qtheory.sim.kernels import gpu
sys.path.insert(0, "validation/bench")
from bench_gpu import _queue  # the benchmark's M/M/1 at load 0.8
q = _queue()
simulate(q, "SRPT", jobs=200, replications=2, backend="gpu", seed=1, warmup=0)
for tpb in TPB:
    gpu.THREADS_PER_BLOCK = tpb
    for reps in REPS:
        jobs = JOBS
        t0 = time.perf_counter()
        simulate(q, "SRPT", jobs=jobs, replications=reps, backend="gpu", seed=1, warmup=0)
        dt = time.perf_counter() - t0
        print(f"SRPT threads/block {tpb:4d} replications {reps:7d} x {jobs} jobs: "
              f"{jobs * reps / dt / 1e9:6.3f} G jobs/s ({dt:.2f} s)", flush=True)
"""

HIST = r"""
import sys
import time
import numpy as np
from qtheory.sim import simulate
from qtheory.sim.kernels import gpu
if NOCOUNT:  # leave the histogram's atomic add out, to time it
    def _nocount(hist, b):
        return None
    gpu._count_atomic = _nocount
_run, _last = gpu.run_replications, {}


def _keep(*a, **kw):  # keep the outcome of the last run, to compare the histograms
    out = _last["out"] = _run(*a, **kw)
    return out


gpu.run_replications = _keep
sys.path.insert(0, "validation/bench")
from bench_gpu import _queue  # the benchmark's M/M/1 at load 0.8
q = _queue()
differ = []
for pol in POLS:
    hists = {}
    simulate(q, pol, jobs=200, replications=2, backend="gpu", seed=1)  # compile
    for h in HISTS:
        gpu.HISTOGRAMS = h
        t0 = time.perf_counter()
        r = simulate(q, pol, jobs=JOBS, replications=REPS, backend="gpu", seed=2)
        dt = time.perf_counter() - t0
        hists[h] = _last["out"].hist
        z = r.z_score(q.mean_response_time(pol))
        print(f"{pol:5s} histograms {h:5d} count {'off' if NOCOUNT else 'on '} {REPS} x "
              f"({JOBS} + {r.warmup}) jobs: {(JOBS + r.warmup) * REPS / dt / 1e9:6.3f} G jobs/s "
              f"({dt:.2f} s); mean {r.mean:.6f} +- {r.std_error:.1e}, z {z:+.2f}", flush=True)
    if not NOCOUNT:
        same = all(np.array_equal(v, next(iter(hists.values()))) for v in hists.values())
        print(f"{pol:5s} histograms identical across copies: {same}", flush=True)
        if not same:
            differ.append(pol)
assert not differ, f"the histogram depends on the number of copies: {differ}"
"""

TUNE = r"""
import json, sys, time
from qtheory.sim import simulate
from qtheory.sim.kernels import gpu
sys.path.insert(0, "validation/bench")
from bench_gpu import _queue  # the benchmark's M/M/1 at load 0.8
q = _queue()
total = {}
for maxreg in VARIANTS:
    gpu.MAX_REGISTERS = maxreg
    t = 0.0
    for pol in POLS:
        simulate(q, pol, jobs=200, replications=2, backend="gpu", seed=1)  # compile
        t0 = time.perf_counter()
        r = simulate(q, pol, jobs=JOBS, replications=REPS, backend="gpu", seed=2)
        dt = time.perf_counter() - t0
        t += dt
        print(f"{pol:5s} register limit {str(maxreg):4s} {REPS} x ({JOBS} + {r.warmup}) jobs: "
              f"{(JOBS + r.warmup) * REPS / dt / 1e9:6.3f} G jobs/s ({dt:.2f} s); "
              f"mean {r.mean:.9f}, p99 {r.p99:.6f}", flush=True)
    total[maxreg] = t
best = min(total, key=total.get)
print("fastest register limit:", best, flush=True)
with open(OUTFILE, "w") as fh:
    json.dump({"max_registers": best}, fh)
"""

LLM = r"""
import os, sys, time, warnings
from qtheory import llm
sys.path.insert(0, "validation/bench")
from bench_llm import _server, _workload  # the model of the CPU benchmark
srv, w = _server(), _workload(0.018)
cores = os.cpu_count()
warnings.simplefilter("ignore", RuntimeWarning)
t0 = time.perf_counter()
llm.simulate(w, srv, llm.FCFS(), requests=200, replications=2, backend="gpu", seed=1)
print(f"first GPU call (compiles the kernel): {time.perf_counter() - t0:.1f} s", flush=True)
llm.simulate(w, srv, llm.FCFS(), requests=200, replications=1, backend="cpu", seed=1)
for sched in (llm.FCFS(), llm.SPRPT()):
    for n, reps in SIZES:
        t0 = time.perf_counter()
        g = llm.simulate(w, srv, sched, requests=n, replications=reps, backend="gpu", seed=1)
        tg = time.perf_counter() - t0
        print(f"{sched.name:12.12s} GPU {reps:6d} x {n} requests: "
              f"{n * reps / tg / 1e6:8.3f} M req/s ({tg:.2f} s, of which kernel and copies "
              f"{g.elapsed:.2f} s: {n * reps / g.elapsed / 1e6:.3f} M req/s); latency mean "
              f"{g.latency.mean:.1f}", flush=True)
    t0 = time.perf_counter()
    c = llm.simulate(w, srv, sched, requests=NCPU, replications=cores, workers=cores,
                     backend="cpu", seed=1)
    tc = time.perf_counter() - t0
    print(f"{sched.name:12.12s} CPU {cores} cores x {NCPU} requests: "
          f"{NCPU * cores / tc / 1e6:8.3f} M req/s ({tc:.2f} s); latency mean "
          f"{c.latency.mean:.1f}", flush=True)
"""


#: default time limit of each step, seconds
LIMITS = {"env": 30, "pytest": 240, "bench": 170, "scaling": 70, "hist": 90, "tune": 150,
          "llm": 70}


def _step(name: str, cmd: list[str], limit: float, out: Path, tail: int = 40) -> int:
    log = out / f"{name}.log"
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE / "gpu_shim"),
                                         os.environ.get("PYTHONPATH", "")])}
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = 124
    lines = log.read_text(errors="replace").splitlines()
    keep = [ln for ln in lines if not ln.rstrip().endswith("PASSED")] if name == "pytest" \
        else lines
    for ln in keep[-tail:]:
        print(f"[{name}] {ln[:300]}")
    print(f"== {name}: rc {rc} in {time.perf_counter() - t0:.0f} s (limit {limit:.0f} s)",
          flush=True)
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_checks"))
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, to check this script under NUMBA_ENABLE_CUDASIM=1")
    ap.add_argument("--steps", default="pytest,bench,scaling,hist,llm",
                    help="comma-separated steps to run after env, in this order (default: all)")
    ap.add_argument("--tests", nargs="*", default=None,
                    help="pytest node ids (default: the two GPU test files)")
    ap.add_argument("--limit", nargs="*", default=[], metavar="STEP=SECONDS",
                    help=f"time limit of a step (defaults: {LIMITS})")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    lim = {**LIMITS, **{k: float(v) for k, v in (a.split('=') for a in args.limit)}}
    rcs = {}
    subprocess.run("nvidia-smi > " + str(out / "nvidia-smi.log") + " 2>&1", shell=True)
    rcs["env"] = _step("env", [py, "-c", ENV], lim["env"], out)
    smoke = ["--smoke"] if args.smoke else []
    for step in args.steps.split(","):  # in the order given
        if step == "pytest":
            tests = args.tests or ["tests/test_sim_gpu.py", "tests/test_llm_gpu.py"]
            rcs[step] = _step(step, [py, "-m", "pytest", "-m", "gpu", "-v", "-p",
                                     "no:cacheprovider", "--durations=0", *tests],
                              lim[step], out)
        elif step == "bench":
            tuned = []
            if (out / "tune.json").exists():  # the fastest setting of the tune step
                import json

                best = json.loads((out / "tune.json").read_text())
                tuned = ["--max-registers", str(best["max_registers"] or 0)]
            rcs[step] = _step(step, [py, str(HERE / "bench_gpu.py"), "--out",
                                     str(out / "results_gpu.md"), *smoke, *tuned],
                              lim[step], out)
        elif step == "tune":
            sizes = ("POLS, VARIANTS, REPS, JOBS = ('FCFS',), (None, 128), 9, 200\n"
                     if args.smoke else
                     "POLS, VARIANTS, REPS, JOBS = ('FCFS', 'SRPT'), (None, 160, 128, 96), "
                     "65536, 20000\n")
            rcs[step] = _step(step, [py, "-c", sizes + f"OUTFILE = {str(out / 'tune.json')!r}\n"
                                     + TUNE], lim[step], out)
        elif step == "scaling":
            sizes = ("TPB, REPS, JOBS = (4,), (3,), 200\n" if args.smoke else
                     "TPB, REPS, JOBS = (128, 64, 256), (16384, 65536, 131072), 10000\n")
            rcs[step] = _step(step, [py, "-c", sizes + SCALING], lim[step], out)
        elif step == "hist":
            sizes = ("POLS, HISTS, REPS, JOBS = ('FCFS',), (4, 2), 9, 200\n" if args.smoke
                     else "POLS, HISTS, REPS, JOBS = ('FCFS', 'SRPT'), (32, 1024), 65536, "
                     "20000\n")
            for nocount in (0, 1):
                rcs[f"hist{nocount}"] = _step(f"hist{nocount}", [
                    py, "-c", sizes + f"NOCOUNT = {nocount}\n" + HIST], lim[step], out)
        elif step == "llm":
            sizes = ("SIZES, NCPU = ((100, 3),), 100\n" if args.smoke else
                     "SIZES, NCPU = ((500, 1024), (500, 4096), (500, 16384)), 200_000\n")
            rcs[step] = _step(step, [py, "-c", sizes + LLM], lim[step], out)
        else:
            ap.error(f"unknown step {step!r} (steps: pytest, bench, scaling, hist, tune, llm)")
    print("return codes:", rcs)
    return int(any(rcs.values()))


if __name__ == "__main__":
    sys.exit(main())
