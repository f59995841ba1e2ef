"""Benchmark of the GPU backend: aggregate jobs per second over replications, against the CPU.

Measures, in one process on one machine:

* the GPU backend (``simulate(..., backend="gpu")``, one replication per CUDA thread):
  jobs per second summed over ``--replications`` replications of ``--jobs`` jobs each,
  timed by the wall clock around ``simulate`` (host-device copies included; each
  policy's kernel is compiled by a small untimed run first);
* the CPU backend on all cores (one replication per core) on the same model, and the
  ratio GPU / CPU;
* a check that the two backends agree job for job on a small run with records (largest
  relative difference of the completion times; 0 under the CUDA simulator, about 1e-15
  on a GPU, whose ``log``/``exp`` and fused multiply-adds round differently), and that
  the GPU's mean covers the analytic M/M/1 value (``|z| < 4``).

The target of the issue is at least 1e9 jobs/s aggregate on an H100 (the script prints
whether it is met). **It needs a CUDA GPU**: on a machine without one it stops with
:class:`qtheory.sim.kernels.gpu.GPUUnavailableError`. ``--smoke`` runs tiny sizes (a
few hundred jobs, 3 replications, two policies) so that the script itself can be checked
under Numba's CUDA simulator, where the speeds mean nothing::

    NUMBA_ENABLE_CUDASIM=1 python validation/bench/bench_gpu.py --smoke

On a GPU machine (numba with its CUDA target, e.g. ``pip install numba-cuda``)::

    python validation/bench/bench_gpu.py [--jobs 20000] [--replications 65536]

Writes ``results_gpu.md`` next to this file (``--out``; not written with ``--smoke``
unless ``--out`` is given). Run from the repository root with qtheory importable
(``pip install .`` or ``PYTHONPATH=.``).

``--ptx`` needs no GPU: it compiles the global kernel of every family to PTX for sm_90
(H100) and, where ``ptxas`` is found, assembles it and prints the registers and spills.
It needs the CUDA toolkit's NVVM and libdevice (``CUDA_HOME``, or the ``nvidia-cuda-nvcc``
wheels) but no driver, and patches Numba's query of the current device's compute
capability (device functions are compiled for it)::

    CUDA_HOME=.../nvidia/cuda_nvcc python validation/bench/bench_gpu.py --ptx
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.sim import simulate
from qtheory.sim.kernels import gpu

P = qt.policies
LOAD = 0.8
TARGET = 1e9


def _policies(smoke: bool):
    if smoke:
        return [("FCFS", P.FCFS(), 1), ("FB", P.FB(), 1)]
    return [("FCFS", P.FCFS(), 1), ("SRPT", P.SRPT(), 1), ("SPRPT", P.SPRPT(), 1),
            ("FB", P.FB(), 1), ("PS", P.PS(), 1),
            ("SkipPredict-server", P.SkipPredict(threshold=1.0, cheap_cost=0.05,
                                                 expensive_cost=0.1, cost_model="server"), 1),
            ("SRPT, 4 servers", P.SRPT(), 4)]


def _queue():
    return qt.MG1(load=LOAD, size=qt.Exponential(mean=1.0),
                  prediction=qt.ExponentialPrediction())


def _wall(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(name, pol, servers, *, jobs, reps, cpu_jobs, cores, check_jobs, check_reps):
    q = _queue()
    kw = dict(servers=servers, seed=1)  # default warm-up: jobs // 10 more, discarded
    simulate(q, pol, jobs=min(jobs, 200), replications=2, backend="gpu", **kw)  # compile
    simulate(q, pol, jobs=200, replications=1, backend="cpu", **kw)  # compile / load cache
    tg, rg = _wall(lambda: simulate(q, pol, jobs=jobs, replications=reps, backend="gpu", **kw))
    tc, rc = _wall(lambda: simulate(q, pol, jobs=cpu_jobs, replications=cores, backend="cpu",
                                    workers=cores, **kw))
    # rates count every simulated job, warm-up included
    gpu_rate = (jobs + rg.warmup) * reps / tg
    cpu_rate = (cpu_jobs + rc.warmup) * cores / tc
    # job for job on a small run, and the mean against the analysis
    ck = dict(jobs=check_jobs, replications=check_reps, seed=5, servers=servers, records=True)
    a = simulate(q, pol, backend="gpu", **ck)
    b = simulate(q, pol, backend="cpu", **ck)
    diff = float(np.max(np.abs(a.records["completion"] / b.records["completion"] - 1)))
    z = float("nan")
    if servers == 1:
        try:
            z = rg.z_score(q.mean_response_time(pol))
        except (ValueError, NotImplementedError):
            pass
    row = dict(name=name, gpu=gpu_rate, cpu=cpu_rate, ratio=gpu_rate / cpu_rate, diff=diff,
               z=z, mean=rg.mean, converged=rg.converged)
    print(f"{name:20s} GPU {gpu_rate / 1e6:10.2f} M jobs/s  CPU ({cores} cores) "
          f"{cpu_rate / 1e6:8.2f} M jobs/s  ratio {row['ratio']:8.1f}  job-for-job max rel "
          f"diff {diff:.1e}  z {z:+.2f}", flush=True)
    return row


FAMILIES = ("mg1_rank", "mg1_rank_ovh", "mg1_rank_rise", "mg1_rank_rise_ovh", "mg1_ps", "mg1_fb",
            "mg1_fcfs", "mg1_class", "mgk_rank", "mgk_rank_ovh")


def compile_ptx(cc=(9, 0)):
    """Compile every family's global kernel to PTX without a GPU (see the docstring)."""
    import shutil
    import subprocess
    import tempfile
    import types

    import numba
    from numba import cuda
    from numba.cuda import dispatcher

    if not cuda.is_available():  # device functions ask the current device for its cc
        dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    gpu.cuda = cuda
    f8, i8 = numba.float64, numba.int64

    def a(t, n):
        return numba.types.Array(t, n, "C")

    sig = (a(f8, 1), a(i8, 2), a(f8, 2), a(f8, 2), a(f8, 1), a(f8, 1), a(f8, 1), a(f8, 3),
           a(i8, 3), a(f8, 2), a(i8, 3), a(i8, 2), a(i8, 2), a(f8, 2), a(i8, 2), a(i8, 2),
           a(i8, 1), a(f8, 2), a(i8, 2), a(f8, 3), a(f8, 1), a(f8, 1),
           a(f8, 3), a(i8, 3), a(i8, 1), i8)
    ptxas = shutil.which("ptxas")
    if ptxas is None and os.environ.get("CUDA_HOME"):
        cand = Path(os.environ["CUDA_HOME"]) / "bin" / "ptxas"
        ptxas = str(cand) if cand.exists() else None
    for name in FAMILIES:
        t0 = time.perf_counter()
        ptx, _ = cuda.compile_ptx(gpu._launcher(name).py_func, sig, cc=cc)
        line = f"{name:18s} PTX {len(ptx) / 1e3:7.0f} kB in {time.perf_counter() - t0:5.1f} s"
        if ptxas:
            with tempfile.TemporaryDirectory() as d:
                src = Path(d) / "k.ptx"
                src.write_text(ptx)
                limit = ([f"--maxrregcount={gpu.MAX_REGISTERS}"] if gpu.MAX_REGISTERS
                         else [])
                out = subprocess.run([ptxas, f"-arch=sm_{cc[0]}{cc[1]}", "-v", *limit,
                                      str(src), "-o", str(Path(d) / "k.cubin")],
                                     capture_output=True, text=True)
            info = [ln.split("info    :")[-1].strip() for ln in out.stderr.splitlines()
                    if "registers" in ln or "spill" in ln]
            line += "; ptxas: " + ("; ".join(info[:2]) if out.returncode == 0
                                   else out.stderr.strip().splitlines()[-1])
        print(line, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20_000, help="jobs per GPU replication")
    ap.add_argument("--replications", type=int, default=65_536, help="GPU replications")
    ap.add_argument("--cpu-jobs", type=int, default=2_000_000,
                    help="jobs per CPU replication (one per core)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes (runs under NUMBA_ENABLE_CUDASIM=1)")
    ap.add_argument("--out", default=None,
                    help="markdown report (default: results_gpu.md next to this file)")
    ap.add_argument("--max-registers", type=int, default=None,
                    help="gpu.MAX_REGISTERS for the run, 0 for no limit (default: the module's)")
    ap.add_argument("--ptx", action="store_true",
                    help="only compile every kernel family to PTX (no GPU needed)")
    args = ap.parse_args(argv)
    if args.max_registers is not None:
        gpu.MAX_REGISTERS = args.max_registers or None
    if args.ptx:
        compile_ptx()
        return
    simulated = gpu.available() and gpu._simulated()
    if not gpu.available():
        gpu._cuda()  # raises GPUUnavailableError with the reason
    cores = os.cpu_count() or 1
    if args.smoke:
        jobs, reps, cpu_jobs, check = 300, 3, 300, (200, 2)
    else:
        jobs, reps, cpu_jobs, check = args.jobs, args.replications, args.cpu_jobs, (5_000, 16)
    from numba import cuda

    dev = "CUDA simulator" if simulated else cuda.get_current_device().name
    dev = dev.decode() if isinstance(dev, bytes) else str(dev)
    setting = f"register limit {gpu.MAX_REGISTERS}"
    print(f"device: {dev}; {reps} GPU replications x {jobs} jobs; CPU: {cores} cores x "
          f"{cpu_jobs} jobs; {setting}")
    rows = [bench(n, p, k, jobs=jobs, reps=reps, cpu_jobs=cpu_jobs, cores=cores,
                  check_jobs=check[0], check_reps=check[1]) for n, p, k in _policies(args.smoke)]
    best = max(r["gpu"] for r in rows)
    met = all(r["gpu"] >= TARGET for r in rows)
    print(f"target {TARGET:.0e} jobs/s: {'met by every policy' if met else 'NOT met by all'} "
          f"(best {best:.3g})" + ("  [CUDA simulator: speeds mean nothing]" if simulated else ""))
    assert all(r["diff"] < 1e-9 for r in rows), "GPU and CPU disagree job for job"
    out = args.out
    if out is None and not args.smoke:
        out = str(Path(__file__).with_name("results_gpu.md"))
    if out:
        lines = [
            "# GPU backend: throughput", "",
            f"Device: {dev}. CPU: {platform.processor() or platform.machine()}, {cores} cores. "
            f"M/M/1 (and M/M/4) with exponential predictions at rho = {LOAD}. GPU: "
            f"{reps:,} replications x {jobs:,} jobs (one replication per CUDA thread), wall "
            f"clock around `simulate` (copies included, kernels compiled before); CPU: one "
            f"replication of {cpu_jobs:,} jobs per core, all cores, same process. Each "
            f"replication also simulates a discarded warm-up of a tenth of its jobs, counted "
            f"in the rates. z: the GPU run's mean against the analytic value. Kernels: "
            f"{setting}. Generated by `python validation/bench/bench_gpu.py --jobs {jobs} "
            f"--replications {reps} --max-registers {gpu.MAX_REGISTERS or 0}`.",
            "",
            "| policy | GPU M jobs/s | CPU all cores M jobs/s | GPU / CPU | "
            "job-for-job max rel. diff | z vs analysis |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {r['name']} | {r['gpu'] / 1e6:.1f} | {r['cpu'] / 1e6:.1f} | "
                  f"{r['ratio']:.1f} | {r['diff']:.1e} | {r['z']:+.2f} |" for r in rows]
        meet = [r["name"] for r in rows if r["gpu"] >= TARGET]
        lines += ["", f"Target >= {TARGET:.0e} jobs/s aggregate: "
                  + ("met by every policy" if met else
                     f"met by {', '.join(meet)}, not by the others" if meet else "not met")
                  + f" (best {best / 1e9:.2f} G jobs/s)."]
        Path(out).write_text("\n".join(lines) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
