"""GPU backend of the Monte Carlo engine.

Default suite (no GPU needed): the GPU kernels run under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``, which must be set before Numba is first imported, hence a
subprocess) on small runs, and must give **exactly** the CPU backend's results, job for
job, for every kernel family. Exact equality is the right test there: under the
simulator the kernels' own Python source runs with IEEE double arithmetic and the C
library's ``log``/``exp`` (those that the CPU kernels call), without fused multiply-adds,
so any difference would be a bug in the shared source or in the GPU driver, not rounding.

``gpu`` marker (deselected by default; run with ``pytest -m gpu``, skipped without a CUDA
GPU): the same agreement on a real GPU at larger sizes, to 1e-9 relative (libdevice's
``log`` and the GPU's fused multiply-adds round differently from the CPU), and a
statistical check against the analytic M/M/1 means.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import qtheory as qt
from qtheory.sim import SimulationResult, SimulationWarning, simulate
from qtheory.sim._bits import PY_TWINS
from qtheory.sim._jit import Retarget
from qtheory.sim.kernels import gpu
from qtheory.sim.kernels.layout import FREEN
from qtheory.sim.rng import stream_key, uniform
from qtheory.sim.sampling import (
    draw_noise,
    draw_size,
    encode_prediction,
    encode_size,
    first_geq,
)

P = qt.policies
sys.path.insert(0, os.path.dirname(__file__))
from cudasim import run_under_cudasim  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (queue, policy, servers); one case per kernel family, each drawing in the kernel
MULTI = ("qt.MG1(load=0.85, size=qt.Exponential(mean=1.0), prediction=qt.MultiPrediction("
         "[qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LognormalPrediction(0.5)]))")
EXP = "qt.MG1(load=0.85, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())"
CASES = {
    "FCFS": (EXP, "P.FCFS()", 1),
    "SRPT": (EXP, "P.SRPT()", 1),
    "SPRPT": (EXP, "P.SPRPT()", 1),
    "PSJF-uniform-noise": ("qt.MG1(load=0.8, size=qt.Uniform(0.2, 1.8), "
                           "prediction=qt.UniformPrediction(0.5))", "P.PSJF()", 1),
    "Buckets-20": (EXP, "P.Buckets(thresholds=tuple(float(v) for v in "
                        "np.linspace(0.1, 5.0, 20)), preemptive=True)", 1),
    "Priority": (EXP, "P.Priority(probs=(0.3, 0.7), preemptive=True)", 1),
    "Priority-NP, 3 classes": (EXP, "P.Priority(probs=(0.2, 0.3, 0.5), preemptive=False)", 1),
    "OneBit-P newest short first": (EXP, "P.OneBit(1.0, preemptive=True)", 1),
    "FB": ("qt.MG1(load=0.85, size=qt.HyperExponential([0.5, 5.0], [0.9, 0.1]))",
           "P.FB()", 1),
    "SRPT-Bounce": (EXP, "P.SRPTBounce()", 1),
    "TRAIL (lazy segment end)": (EXP, "P.TRAIL(c=0.5)", 1),
    "PS": ("qt.MG1(load=0.85, size=qt.Weibull(0.5, 0.5))", "P.PS()", 1),
    "SkipPredict-server": (EXP, "P.SkipPredict(threshold=1.0, cheap_cost=0.1, "
                                "expensive_cost=0.3, cost_model='server')", 1),
    "setup+FB (rising, overhead)": (
        EXP, "RankPolicy(RankFunction.single('none', [Segment(value=(0.0, -math.inf), "
             "end=(0.0, 0.1), overhead=True), Segment(value=(0.0, 0.1), slope=1)]), "
             "label='setup+FB')", 1),
    "M/G/3 SRPT": ("qt.MG1(load=0.85, size=qt.Lognormal(1.0, mean=1.0), "
                   "prediction=qt.LognormalPrediction(0.7))", "P.SRPT()", 3),
    "M/G/2 SkipPredict-server": (EXP, "P.SkipPredict(threshold=1.0, cheap_cost=0.1, "
                                      "expensive_cost=0.3, cost_model='server')", 2),
    # several predictions: branches chosen by one (extra prediction A), ranks in another
    "two predictors (bit on Y1, SPRPT on Y0)": (
        MULTI, "RankPolicy(RankFunction('prediction:0', (Branch((Segment(value=(0.0, "
               "-math.inf)),), high=1.0), Branch((Segment(value=(1.0, 0.0), slope=-1),), "
               "low=1.0)), branch_key='prediction:1'), label='skip2')", 1),
    "two extra predictors (buckets on Y1, PSPJF on Y2)": (
        MULTI, "RankPolicy(RankFunction('prediction:2', (Branch((Segment(value=(1.0, "
               "0.0)),), high=0.7), Branch((Segment(value=(1.0, 5.0)),), low=0.7)), "
               "branch_key='prediction:1'), label='b2')", 1),
    # tabulated Gittins ranks on 24 prediction cells: the binary branch search
    "GittinsPosterior, 24 cells": ("qt.MG1(load=0.8, size=qt.Weibull(2.0), "
                                   "prediction=qt.UniformPrediction(0.5))",
                                   "P.GittinsPosterior(cells=24)", 1),
}
JOBS, REPS, SEED = 300, 3, 11

_HEADER = """
import math, pickle, sys, warnings
sys.setswitchinterval(2e-4)  # the simulator's threads wait for the GIL at each syncthreads
import numpy as np
import qtheory as qt
from qtheory.policies import RankPolicy
from qtheory.rank import Branch, RankFunction, Segment
from qtheory.sim import simulate
P = qt.policies
"""


def _run_simulated(body: str, timeout: float = 900.0) -> dict:
    """Run ``body`` (after :data:`_HEADER`) in a fresh interpreter under the CUDA
    simulator; it stores its results in ``out`` (a dict), which comes back pickled."""
    return run_under_cudasim(_HEADER + "out = {}\n" + textwrap.dedent(body) + "\nresult = out\n",
                             timeout)


def _cpu(case: str, **kw) -> SimulationResult:
    from qtheory.policies import RankPolicy  # noqa: F401 - names of the CASES strings
    from qtheory.rank import Branch, RankFunction, Segment  # noqa: F401

    q_src, pol_src, servers = CASES[case]
    q, pol = eval(q_src), eval(pol_src)
    return simulate(q, pol, jobs=JOBS, replications=REPS, seed=SEED, servers=servers,
                    backend="cpu", **kw)


def _assert_same_result(g: SimulationResult, c: SimulationResult) -> None:
    """Every field equal (exactly), except the backend's name and the time taken."""
    assert g.backend == "gpu" and c.backend == "cpu"
    for f in dataclasses.fields(SimulationResult):
        if f.name in ("backend", "elapsed"):
            continue
        a, b = getattr(g, f.name), getattr(c, f.name)
        if f.name == "records":
            assert (a is None) == (b is None)
            if a is not None:
                assert a.keys() == b.keys()
                for k in a:
                    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        elif isinstance(a, float) and math.isnan(a):
            assert math.isnan(b), f.name
        else:
            assert a == b, (f.name, a, b)


# ----------------------------------------------------------------------------- simulator
@pytest.fixture(scope="module")
def simulated():
    """The GPU backend's results for every case, run under the CUDA simulator."""
    body = f"""
    cases = {{{", ".join(f"{k!r}: ({q}, {p}, {s})" for k, (q, p, s) in CASES.items())}}}
    for name, (q, pol, servers) in cases.items():
        for records in (True, False):
            out[name, records] = simulate(q, pol, jobs={JOBS}, replications={REPS},
                                          seed={SEED}, servers=servers, records=records,
                                          backend="gpu")
    """
    return _run_simulated(body)


@pytest.mark.parametrize("case", list(CASES))
def test_gpu_kernels_equal_cpu_job_for_job_under_cudasim(simulated, case):
    g, c = simulated[case, True], _cpu(case, records=True)
    assert g.converged and g.percentile_method == "exact"
    assert np.all(np.isfinite(g.records["completion"]))
    _assert_same_result(g, c)


@pytest.mark.parametrize("case", ["FCFS", "FB", "PS", "M/G/3 SRPT", "SkipPredict-server"])
def test_gpu_histogram_and_batches_equal_cpu_under_cudasim(simulated, case):
    # no records: percentiles from the shared (atomically counted) histograms
    g, c = simulated[case, False], _cpu(case)
    assert g.percentile_method == "histogram"
    _assert_same_result(g, c)


def test_gpu_pool_growth_slices_and_overflow_under_cudasim():
    # tiny pools and a few events per launch: the host loop grows the pools and resumes
    # the replications many times, without changing a number; with a row limit, the
    # replications that pass it stop where the CPU's stop
    out = _run_simulated("""
    from qtheory.sim import driver
    from qtheory.sim.kernels import gpu
    q = qt.MG1(load=0.95, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    gpu._POOL0 = 2
    for name, pol in (("SRPT", P.SRPT()), ("FB", P.FB()), ("PS", P.PS())):
        prep = driver.prepare(q, pol, jobs=200, warmup=20, seed=3, records=True)
        out[name] = gpu.run_replications(prep, 3, max_events=5)
    q6 = qt.MG1(load=0.6, size=qt.Exponential(mean=1.0))
    prep = driver.prepare(q6, P.FCFS(), jobs=300, warmup=0, seed=5)
    driver._POOL_MAX = 8
    out["overflow"] = gpu.run_replications(prep, 4)
    """)
    from qtheory.sim import driver

    def cpu_run(prep, reps):  # the CPU backend with the same tiny initial pools
        rs = [driver._Replication(prep, r, cap=2) for r in range(reps)]
        for r in rs:
            r.run(driver._kernel(prep.kernel_name))
        return driver.Outcome.of_replications(rs)

    q = qt.MG1(load=0.95, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    for name, pol in (("SRPT", P.SRPT()), ("FB", P.FB()), ("PS", P.PS())):
        prep = driver.prepare(q, pol, jobs=200, warmup=20, seed=3, records=True)
        c, g = cpu_run(prep, 3), out[name]
        assert g.si[:, FREEN].min() > 2  # the pools grew (one size for all on the GPU)
        _same_outcome(g, c)
    prep = driver.prepare(qt.MG1(load=0.6, size=qt.Exponential(mean=1.0)), P.FCFS(), jobs=300,
                          warmup=0, seed=5)
    old = driver._POOL_MAX
    driver._POOL_MAX = 8
    try:
        c = cpu_run(prep, 4)
    finally:
        driver._POOL_MAX = old
    g = out["overflow"]
    assert g.overflow.any() and not g.overflow.all()
    _same_outcome(g, c)


def test_gpu_histogram_copies_over_many_launches_equal_the_cpu_under_cudasim():
    # the replications count into a few histogram copies with atomic adds, summed on the
    # host: 9 replications are 3 blocks of 4 threads under the simulator (the last one with
    # 3 idle threads), 40 events per launch make many launches, and 4 or 2 copies (fewer
    # than the replications) make replications share copies; every way counts exactly
    # what the CPU counts
    out = _run_simulated("""
    from qtheory.sim import driver
    from qtheory.sim.kernels import gpu
    q = qt.MG1(load=0.85, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    for name, pol in (("FCFS", P.FCFS()), ("SRPT", P.SRPT()), ("PS", P.PS())):
        prep = driver.prepare(q, pol, jobs=150, warmup=10, seed=7)
        for copies in (4, 2):
            gpu.HISTOGRAMS = copies
            launches = []
            g = gpu.run_replications(prep, 9, launches.append, max_events=40)
            out[name, copies] = (g, len(launches))
    out["launchers"] = sorted(gpu._LAUNCHERS)
    """)
    from qtheory.sim import driver

    q = qt.MG1(load=0.85, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    for name, pol in (("FCFS", P.FCFS()), ("SRPT", P.SRPT()), ("PS", P.PS())):
        prep = driver.prepare(q, pol, jobs=150, warmup=10, seed=7)
        rs = [driver._Replication(prep, r) for r in range(9)]
        for r in rs:
            r.run(driver._kernel(prep.kernel_name))
        c = driver.Outcome.of_replications(rs)
        assert c.hist.sum() == 9 * 150
        for copies in (4, 2):
            g, launches = out[name, copies]
            assert launches > 5, (name, copies, launches)
            _same_outcome(g, c)
    # one launcher per family and register limit
    names = {k[0] for k in out["launchers"]}
    assert out["launchers"] == sorted((n, gpu.MAX_REGISTERS) for n in names)


def _same_outcome(g, c):
    """Equal final states, but for the free rows: the GPU grows every pool together."""
    keep = np.arange(g.si.shape[1]) != FREEN
    np.testing.assert_array_equal(g.si[:, keep], c.si[:, keep])
    for f in ("rec", "sf", "hist", "bsum", "bcnt", "overflow"):
        np.testing.assert_array_equal(getattr(g, f), getattr(c, f), err_msg=f)


def test_gpu_bad_input_under_cudasim():
    out = _run_simulated("""
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    gamma = qt.MG1(load=0.7, size=qt.Gamma(2.0, mean=1.0))
    tries = {
        "numpy-sampled law": lambda: simulate(gamma, "FCFS", jobs=10, backend="gpu"),
        "servers with FB": lambda: simulate(q, "FB", jobs=10, servers=2, backend="gpu"),
        "jobs": lambda: simulate(q, "FCFS", jobs=0, backend="gpu"),
        "backend": lambda: simulate(q, "FCFS", jobs=10, backend="cuda"),
    }
    for name, f in tries.items():
        try:
            f()
            out[name] = None
        except Exception as e:
            out[name] = (type(e).__name__, str(e))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = simulate(qt.MG1(load=1.3, size=qt.Exponential(mean=1.0)), "SRPT", jobs=100,
                     replications=2, seed=1, backend="gpu")
    out["unstable"] = (r.stable, r.converged, [str(x.message) for x in w])
    """)
    assert out["numpy-sampled law"][0] == "NotImplementedError"
    assert "Gamma" in out["numpy-sampled law"][1] and "backend='cpu'" in out["numpy-sampled law"][1]
    assert out["servers with FB"][0] == "NotImplementedError"
    assert "servers" in out["servers with FB"][1]
    assert out["jobs"][0] == "ValueError" and "jobs" in out["jobs"][1]
    assert out["backend"][0] == "ValueError" and "backend" in out["backend"][1]
    stable, converged, msgs = out["unstable"]
    assert not stable and not converged and any("unstable" in m for m in msgs)


# ----------------------------------------------------------------------------- no GPU
def _no_gpu() -> bool:
    return not gpu.available()


@pytest.mark.skipif("not _no_gpu()", reason="a GPU is present")
def test_gpu_backend_without_gpu_raises_a_clear_error():
    q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0))
    with pytest.raises(gpu.GPUUnavailableError, match="NUMBA_ENABLE_CUDASIM") as e:
        simulate(q, "FCFS", jobs=10, backend="gpu")
    assert isinstance(e.value, RuntimeError) and "no CUDA GPU" in str(e.value)
    assert "cupy" not in sys.modules


def test_importing_the_package_does_not_import_numba_cuda():
    code = ("import sys, qtheory, qtheory.sim, qtheory.sim.kernels.gpu, qtheory.sim.kernels.cpu;"
            "print('numba.cuda' in sys.modules, 'cupy' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------- Retarget
def test_retarget_to_plain_python_reproduces_the_cpu_functions():
    # the mechanism the GPU build uses, with "compile" = identity: the shared Python source
    # of the generator and the samplers, run as Python, equals the njit machine code
    # (the bit-cast intrinsics, which Python cannot call, become their Python twins)
    py = Retarget(lambda f: f, PY_TWINS)
    u_py, key_py, size_py, noise_py = py(uniform), py(stream_key), py(draw_size), py(draw_noise)
    assert u_py is not uniform.py_func and u_py.__code__ is uniform.py_func.__code__
    assert size_py.__globals__["first_geq"] is py(first_geq) is not first_geq
    k = stream_key(np.uint64(5), np.uint64(2), np.uint64(1))
    with warnings.catch_warnings():  # NumPy scalars warn on the intended uint64 wraparound
        warnings.filterwarnings("ignore", "overflow", RuntimeWarning)
        assert key_py(np.uint64(5), np.uint64(2), np.uint64(1)) == k
        us = [u_py(k, np.uint64(i)) for i in range(50)]
    assert us == [uniform(k, np.uint64(i)) for i in range(50)]
    for law in (qt.Exponential(mean=2.0), qt.Weibull(0.5, 1.0), qt.BoundedPareto(1.5, 0.1, 100.0),
                qt.HyperExponential([1.0, 10.0], [0.9, 0.1]), qt.Lognormal(1.0, mean=1.0),
                qt.Discrete([1.0, 3.0, 7.0], [0.2, 0.5, 0.3])):
        code, prm = encode_size(law)
        for u1, u2 in zip(us[::2], us[1::2]):
            assert size_py(code, prm, u1, u2) == draw_size(code, prm, u1, u2), law
    for pred in (qt.UniformPrediction(0.5), qt.LognormalPrediction(0.7)):
        code, prm = encode_prediction(pred)
        assert [noise_py(code, prm, u) for u in us] == [draw_noise(code, prm, u) for u in us]


def test_retarget_rebinds_overrides_and_memoises():
    from qtheory.sim.kernels import cpu

    calls = []

    def my_count(hist, b):
        calls.append(b)

    rt = Retarget(lambda f: f, {cpu._count: my_count,
                                cpu._record_batched: cpu._record_direct})
    rec = rt(cpu._measure)  # the helper of _record that counts into the histogram
    assert rt(cpu._measure) is rec and rec.__globals__["_count"] is rt(cpu._count)
    # a kernel's batched record is the GPU's direct one, whose _record is rebound too
    batched = rt(cpu._record_batched)
    assert rt(cpu.mg1_fcfs).__globals__["_record_batched"] is batched
    assert batched.__code__ is cpu._record_direct.py_func.__code__
    assert batched.__globals__["_record"] is rt(cpu._record)
    assert rt(cpu._count).__code__ is my_count.__code__
    rt(cpu._count)(None, 3)
    assert calls == [3]
    with pytest.raises(TypeError, match="Python function"):
        rt(np.add)


# ----------------------------------------------------------------------------- real GPU
def _real_gpu() -> bool:
    return gpu.available() and not gpu._simulated()


needs_gpu = pytest.mark.skipif("not _real_gpu()", reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("case", list(CASES))
def test_gpu_equals_cpu_job_for_job_on_a_gpu(case):
    from qtheory.policies import RankPolicy  # noqa: F401 - names of the CASES strings
    from qtheory.rank import RankFunction, Segment  # noqa: F401

    q_src, pol_src, servers = CASES[case]
    q, pol = eval(q_src), eval(pol_src)
    kw = dict(jobs=5_000, replications=64, seed=21, servers=servers, records=True)
    g = simulate(q, pol, backend="gpu", **kw)
    c = simulate(q, pol, backend="cpu", **kw)
    # the same jobs (to rounding: libdevice's log/exp), the same schedule
    for k in ("arrival", "size", "prediction"):
        np.testing.assert_allclose(g.records[k], c.records[k], rtol=1e-12, atol=0)
    np.testing.assert_allclose(g.records["completion"], c.records["completion"], rtol=1e-9)
    np.testing.assert_allclose(g.replication_means, c.replication_means, rtol=1e-9)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("pol", ["FCFS", "SRPT", "PS", "FB", "SPRPT"])
def test_gpu_mm1_means_match_the_analysis(pol):
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    r = simulate(q, pol, jobs=20_000, replications=4096, seed=3, backend="gpu")
    assert r.converged and r.backend == "gpu"
    assert abs(r.z_score(q.mean_response_time(pol))) < 4, (r.mean, r.std_error)
    assert abs(r.mean_number / (q.arrival_rate * r.mean) - 1) < 0.01


@pytest.mark.gpu
@needs_gpu
def test_gpu_pool_growth_at_high_load():
    # at load 0.98 some replications pass 256 jobs in system: the pools grow on the host
    q = qt.MG1(load=0.98, size=qt.Exponential(mean=1.0))
    kw = dict(jobs=50_000, replications=256, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SimulationWarning)
        g = simulate(q, "FCFS", backend="gpu", **kw)
    c = simulate(q, "FCFS", backend="cpu", **kw)
    assert g.converged
    np.testing.assert_allclose(g.replication_means, c.replication_means, rtol=1e-9)
