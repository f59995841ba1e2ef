"""Analytic LLM-serving models, each against an independent computation.

* Ao et al.'s fluid equilibrium against the fixed point ``M = lambda E[A] tau(M)`` found by
  iterating :meth:`Server.time_of`, and against per-type sums;
* Li, Dai & Peng's token-budget bound against a direct fluid recursion of full-budget batching
  and a scan of ``b / t_b`` over every batch size;
* Dong & Cao's memory area against a brute-force count of the tokens held in each iteration;
* multi-bin batching: closed form against quadrature against Monte Carlo, refinement
  monotonicity (hypothesis), and a counterexample to monotonicity in ``k`` in general.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats

import qtheory as qt
from qtheory import llm

ROOT = Path(__file__).resolve().parents[1]


def _types_workload(rate, pairs):
    """A trace-like workload whose requests cycle through the given (prompt, output) types."""
    p, o = (np.array(a) for a in zip(*pairs))
    return llm.Workload(rate, llm.TokenLaw.from_samples(p), llm.TokenLaw.from_samples(o),
                        pairs=(p, o))


def _held_tokens(l, o, prefill_emits_token):
    """KV tokens a request holds in each of its iterations, listed one by one."""
    if prefill_emits_token:
        return [l + j for j in range(1, o + 1)]
    return [l + j for j in range(0, o + 1)]


# ------------------------------------------------------------------------ fluid (Ao et al.)
def test_fluid_single_type_matches_the_paper():
    l, lp, lam, d0, d1 = 100, 50, 0.5, 10.0, 1e-4
    server = llm.Server(iteration_time=llm.LinearTime(d0, d1), prefill_emits_token=False)
    eq = llm.fluid_equilibrium(llm.Workload(lam, l, lp), server)
    A = (lp + 1) * (l + lp / 2)
    assert eq.area == A
    assert eq.kv_tokens == pytest.approx(d0 * lam * A / (1 - d1 * lam * A), rel=1e-14)
    assert eq.iteration_time == pytest.approx(d0 / (1 - d1 * lam * A), rel=1e-14)
    assert eq.throughput_tokens == pytest.approx(lam * lp)
    assert eq.throughput_requests == lam
    assert eq.max_arrival_rate == pytest.approx(1 / (d1 * A))
    # Little: lp + 1 iterations of tau* each
    assert eq.time_in_system == pytest.approx((lp + 1) * eq.iteration_time)
    assert eq.requests_in_system == pytest.approx(lam * (lp + 1) * eq.iteration_time)
    assert eq.batch_tokens == pytest.approx(lam * eq.iteration_time * (l + lp))
    assert eq.stable and eq.fits_memory is None and eq.fits_token_budget is None


def _fixed_point(workload, server):
    """Iterate tau <- time_of(batch tokens, KV tokens) with the per-iteration fluid flows,
    the area and batch tokens of each request counted by brute force."""
    pet = server.prefill_emits_token
    if workload.pairs is not None:
        reqs = list(zip(*workload.pairs))
        weights = np.full(len(reqs), 1.0 / len(reqs))
    else:
        reqs = [(p, o) for p in workload.prompt_tokens.values
                for o in workload.output_tokens.values]
        weights = np.array([pp * po for pp in workload.prompt_tokens.probs
                            for po in workload.output_tokens.probs])
    area = sum(w * sum(_held_tokens(int(p), int(o), pet)) for (p, o), w in zip(reqs, weights))
    work = sum(w * (p + o - (1 if pet else 0)) for (p, o), w in zip(reqs, weights))
    lam, tau = workload.arrival_rate, 1.0
    for _ in range(5000):
        new = server.time_of(lam * tau * work, lam * tau * area)
        if abs(new - tau) <= 1e-15 * new:
            break
        tau = new
    return lam * tau * area, tau


@pytest.mark.parametrize("pet", [False, True])
@pytest.mark.parametrize("compression", [None, llm.KVCompression(time_per_token=2e-3)])
def test_fluid_equilibrium_is_the_fixed_point(pet, compression):
    w = llm.Workload(1.5, llm.TokenLaw([3, 20, 41], [0.3, 0.5, 0.2]),
                     llm.TokenLaw([1, 7, 30], [0.2, 0.5, 0.3]))
    server = llm.Server(iteration_time=llm.LinearTime(d0=1.0, d1=1e-3), prefill_emits_token=pet,
                        kv_compression=compression)
    eq = llm.fluid_equilibrium(w, server)
    m, tau = _fixed_point(w, server)
    assert eq.stable and 0.3 < eq.load < 0.95
    assert eq.kv_tokens == pytest.approx(m, rel=1e-12)
    assert eq.iteration_time == pytest.approx(tau, rel=1e-12)


def test_fluid_several_types_add_up():
    types = [(10, 5), (200, 40), (50, 300)]
    lam, d0, d1 = 0.03, 1.0, 2e-5
    w = _types_workload(lam, types)
    server = llm.Server(iteration_time=llm.LinearTime(d0, d1), prefill_emits_token=False)
    eq = llm.fluid_equilibrium(w, server)
    lam_a = sum(lam / 3 * (o + 1) * (l + o / 2) for l, o in types)        # sum_j lambda_j A_j
    assert eq.kv_tokens == pytest.approx(d0 * lam_a / (1 - d1 * lam_a), rel=1e-13)
    # each type's memory is its share lambda_j A_j tau*
    shares = [lam / 3 * (o + 1) * (l + o / 2) * eq.iteration_time for l, o in types]
    assert sum(shares) == pytest.approx(eq.kv_tokens, rel=1e-13)
    assert eq.requests_in_system == pytest.approx(
        sum(lam / 3 * (o + 1) for _, o in types) * eq.iteration_time, rel=1e-13)


def test_fluid_vllm_accounting_and_product_law():
    w = llm.preset("alpaca", arrival_rate=0.05)
    server = llm.Server(iteration_time=llm.LinearTime(d0=1.0, d1=1e-4))
    eq = llm.fluid_equilibrium(w, server)
    a = w.joint_moment(lambda l, o: l * o + o * (o + 1) / 2)    # brute force over the product
    assert eq.area == pytest.approx(a, rel=1e-12)
    assert eq.iterations_per_request == pytest.approx(w.mean_output)
    assert eq.kv_tokens == pytest.approx(w.arrival_rate * a / (1 - 1e-4 * w.arrival_rate * a),
                                         rel=1e-12)
    ao = llm.fluid_equilibrium(w, llm.Server(iteration_time=llm.LinearTime(d0=1.0, d1=1e-4),
                                             prefill_emits_token=False))
    assert ao.area - eq.area == pytest.approx(w.mean_prompt, rel=1e-12)   # the prefill's l


def test_fluid_unit_time_and_limits():
    w = llm.Workload(2.0, 10, 4)
    eq = llm.fluid_equilibrium(w, llm.Server(iteration_time=llm.UnitTime(0.5),
                                             kv_capacity_tokens=60, max_batch=4,
                                             token_budget=100))
    assert eq.load == 0.0 and eq.max_arrival_rate == math.inf
    assert eq.kv_tokens == pytest.approx(2.0 * 0.5 * 50.0)   # lambda tau (l o + o(o+1)/2)
    assert eq.fits_memory is True
    assert eq.requests_in_system == pytest.approx(2.0 * 4 * 0.5)
    assert eq.fits_batch is True
    assert eq.batch_tokens == pytest.approx(2.0 * 0.5 * 13) and eq.fits_token_budget is True
    small = llm.fluid_equilibrium(w, llm.Server(iteration_time=llm.UnitTime(0.5),
                                                kv_capacity_tokens=49, max_batch=3,
                                                token_budget=12))
    assert (small.fits_memory, small.fits_batch, small.fits_token_budget) == (False, False, False)


@pytest.mark.parametrize("rate", [1 / 6375e-4, 2.0])
def test_fluid_unstable_is_infinite(rate):
    server = llm.Server(iteration_time=llm.LinearTime(10.0, 1e-4), kv_capacity_tokens=10**9,
                        prefill_emits_token=False)
    eq = llm.fluid_equilibrium(llm.Workload(rate, 100, 50), server)
    assert not eq.stable and eq.load >= 1.0
    for f in ("kv_tokens", "iteration_time", "time_in_system", "requests_in_system",
              "batch_tokens"):
        assert getattr(eq, f) == math.inf
    assert eq.fits_memory is False and eq.fits_batch is False
    assert eq.throughput_requests == pytest.approx(1 / 6375e-4)
    assert eq.throughput_tokens == pytest.approx(50 / 6375e-4)


def test_fluid_errors():
    w = llm.Workload(1.0, 10, 4)
    with pytest.raises(ValueError, match="StaircaseTime.*stability_limit"):
        llm.fluid_equilibrium(w, llm.Server(iteration_time=llm.StaircaseTime(1.0, 1.0, 8)))
    with pytest.raises(TypeError, match="iteration_time"):
        llm.fluid_equilibrium(w, llm.Server(iteration_time=lambda b, k, n: 1.0))
    with pytest.raises(TypeError, match="workload"):
        llm.fluid_equilibrium("w", llm.Server())
    with pytest.raises(TypeError, match="server"):
        llm.fluid_equilibrium(w, None)


# ------------------------------------------------------------------ token budget (Li et al.)
def _full_budget_fluid(token_rate, server, horizon_iterations=20_000):
    """Direct fluid recursion of full-budget batching: tokens arrive at ``token_rate``; each
    iteration takes min(backlog, b_max) tokens and lasts t_b. Returns the token backlog's
    growth rate per unit time over the second half of the run."""
    b_max, backlog, t = server.token_budget, 0.0, 0.0
    marks = []
    for n in range(horizon_iterations):
        b = min(backlog, b_max)
        dt = server.time_of(max(b, 1.0))
        backlog += token_rate * dt - b
        t += dt
        if n == horizon_iterations // 2 or n == horizon_iterations - 1:
            marks.append((t, backlog))
    (t0, q0), (t1, q1) = marks
    return (q1 - q0) / (t1 - t0)


@pytest.mark.parametrize("rate", [0.01, 0.03, 0.06])
@pytest.mark.parametrize("pet", [False, True])
def test_token_budget_against_a_direct_fluid(rate, pet):
    server = llm.Server(max_batch=1024, token_budget=1024, prefill_emits_token=pet,
                        iteration_time=llm.StaircaseTime(c=11.28, a=35.47, b0=128))
    w = llm.Workload(rate, llm.TokenLaw([50, 150], [0.5, 0.5]), llm.TokenLaw([10, 90], [0.5, 0.5]))
    lim = llm.stability_limit(w, server)
    per_req = 100 + 50 - (1 if pet else 0)
    assert lim.tokens_per_request == pytest.approx(per_req)
    assert lim.max_token_rate == pytest.approx(1024 / (11.28 + 8 * 35.47))
    assert lim.load == pytest.approx(rate * per_req * (11.28 + 8 * 35.47) / 1024)
    growth = _full_budget_fluid(rate * per_req, server)
    if lim.stable:
        assert abs(growth) < 1e-6
        assert lim.backlog_growth_rate == 0.0
    else:
        assert lim.token_backlog_growth_rate == pytest.approx(growth, rel=1e-9)
        assert lim.backlog_growth_rate == pytest.approx(growth / per_req, rel=1e-9)
        assert lim.backlog_growth_rate == pytest.approx(rate - lim.max_arrival_rate)


def test_token_rate_bound_scans_every_batch_size():
    for b_max in (128, 300, 1000):
        server = llm.Server(max_batch=b_max, token_budget=b_max,
                            iteration_time=llm.StaircaseTime(c=5.0, a=20.0, b0=128),
                            kv_compression=llm.KVCompression(time_per_token=0.01))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lim = llm.stability_limit(llm.Workload(0.01, 10, 10), server)
        scan = max(b / server.time_of(b) for b in range(1, b_max + 1))
        assert lim.token_rate_bound == pytest.approx(scan, rel=1e-14)
        assert lim.batch_time == server.time_of(b_max)


def test_token_budget_warnings_and_unit_time():
    w = llm.Workload(0.5, 10, 10)
    with pytest.warns(UserWarning, match="not the most efficient"):
        llm.stability_limit(w, llm.Server(max_batch=300, token_budget=300,
                                          iteration_time=llm.StaircaseTime(5.0, 20.0, 128)))
    with pytest.warns(UserWarning, match="max_batch=64"):
        llm.stability_limit(w, llm.Server(max_batch=64, token_budget=128,
                                          iteration_time=llm.StaircaseTime(5.0, 20.0, 128)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lim = llm.stability_limit(w, llm.Server(max_batch=256, token_budget=16,
                                                iteration_time=llm.UnitTime(2.0)))
        const = llm.stability_limit(w, llm.Server(max_batch=256, token_budget=16,
                                                  iteration_time=llm.LinearTime(2.0, 0.0)))
    assert lim.max_token_rate == 8.0 and lim.max_arrival_rate == pytest.approx(8.0 / 19)
    assert const == lim


def test_token_budget_errors():
    w = llm.Workload(0.5, 10, 10)
    with pytest.raises(ValueError, match="token_budget is None"):
        llm.stability_limit(w, llm.Server(iteration_time=llm.StaircaseTime(1.0, 1.0, 8)))
    with pytest.raises(ValueError, match="LinearTime with d1 > 0.*fluid_equilibrium"):
        llm.stability_limit(w, llm.Server(token_budget=64, iteration_time=llm.LinearTime(1, 1)))
    with pytest.raises(TypeError, match="iteration_time"):
        llm.stability_limit(w, llm.Server(token_budget=64,
                                          iteration_time=lambda b, k, n: 1.0))
    with pytest.raises(ValueError, match="token_budget=8 is smaller than the longest prompt"):
        llm.stability_limit(w, llm.Server(max_batch=8, token_budget=8))


# ----------------------------------------------------------------- memory area (Dong & Cao)
@pytest.mark.parametrize("pet", [True, False])
def test_memory_area_brute_force(pet):
    prompt = llm.TokenLaw([1, 6, 13], [0.2, 0.3, 0.5])
    output = llm.TokenLaw([1, 2, 17], [0.6, 0.3, 0.1])
    w = llm.Workload(1.0, prompt, output)
    brute = sum(pp * po * sum(_held_tokens(int(l), int(o), pet))
                for l, pp in zip(prompt.values, prompt.probs)
                for o, po in zip(output.values, output.probs))
    server = llm.Server(prefill_emits_token=pet)
    assert llm.memory_area(w, server) == pytest.approx(brute, rel=1e-14)
    pairs = [(3, 4), (10, 1), (7, 20)]
    wt = _types_workload(1.0, pairs)
    assert llm.memory_area(wt, server) == pytest.approx(
        np.mean([sum(_held_tokens(l, o, pet)) for l, o in pairs]), rel=1e-14)


def test_memory_area_closed_form_and_default():
    w = llm.Workload(1.0, 10, 4)
    assert llm.memory_area(w) == 10 * 4 + 4 * 5 / 2
    assert llm.memory_area(w, llm.Server(prefill_emits_token=False)) == 5 * (10 + 2)
    with pytest.raises(TypeError, match="server"):
        llm.memory_area(w, "server")


@pytest.mark.parametrize("it, t_min", [
    (llm.UnitTime(), 1.0),
    (llm.UnitTime(0.25), 0.25),
    (llm.LinearTime(d0=3.0, d1=0.5), 3.0),
    (llm.StaircaseTime(c=11.28, a=35.47, b0=128), 11.28 + 35.47),
])
def test_memory_stable(it, t_min):
    w = llm.Workload(0.2, llm.TokenLaw([5, 10], [0.5, 0.5]), 3)
    cap = 30
    b = llm.memory_stable(w, llm.Server(kv_capacity_tokens=cap, iteration_time=it))
    area = np.mean([sum(_held_tokens(l, 3, True)) for l in (5, 10)])
    assert b.area == pytest.approx(area)
    assert b.min_iteration_time == pytest.approx(t_min)
    assert b.demand == pytest.approx(0.2 * t_min * area)
    assert b.load == pytest.approx(b.demand / cap)
    assert b.feasible == (b.demand <= cap)
    assert b.capacity == cap


def test_memory_stable_dong_cao_condition_and_errors():
    # unit time: sum_k lambda_k w_k <= M, with equality allowed
    w = _types_workload(1.0, [(10, 4), (2, 2)])
    area = (50 + 7) / 2
    assert llm.memory_stable(w, llm.Server(kv_capacity_tokens=28)).area == area
    eq = llm.memory_stable(w.with_rate(28 / area), llm.Server(kv_capacity_tokens=28))
    assert eq.demand == pytest.approx(28.0) and eq.load == pytest.approx(1.0)
    over = llm.memory_stable(w.with_rate(1.01 * 28 / area), llm.Server(kv_capacity_tokens=28))
    assert not over.feasible
    assert llm.memory_stable(w, llm.Server()).feasible        # unlimited memory
    assert llm.memory_stable(w, llm.Server()).load == 0.0
    comp = llm.Server(kv_capacity_tokens=100,
                      kv_compression=llm.KVCompression(time_per_token=0.5))
    assert llm.memory_stable(w, comp).min_iteration_time == 1.5
    with pytest.raises(TypeError, match="iteration_time"):
        llm.memory_stable(w, llm.Server(iteration_time=lambda b, k, n: 1.0))
    with pytest.raises(ValueError, match="never finish"):
        llm.memory_stable(w, llm.Server(kv_capacity_tokens=12))


# ------------------------------------------------------------ multi-bin batching (Guldogan)
def _e_max_quad(law, B):
    """E[max of B iid] = int (1 - F^B) dx by scipy quad, independently of the package."""
    lo, hi = law.support
    val = integrate.quad(lambda x: 1 - float(law.cdf(x)) ** B, lo, hi, epsabs=0,
                         epsrel=1e-12, limit=200)[0]
    return lo + val


def test_multibin_one_bin_is_plain_static_batching():
    for B in (1, 2, 8, 32):
        harmonic = sum(1 / j for j in range(1, B + 1))            # E[max of B Exp(1)]
        r = llm.multibin_capacity(qt.Exponential(mean=1.0), B, 1)
        assert r.mean_batch_time == pytest.approx(harmonic, rel=1e-11)
        assert r.capacity == pytest.approx(B / harmonic, rel=1e-11)
    w = qt.Weibull(shape=0.6, scale=2.0)
    assert llm.multibin_capacity(w, 5, 1).mean_batch_time == pytest.approx(_e_max_quad(w, 5),
                                                                             rel=1e-9)


@pytest.mark.parametrize("B", [1, 4, 16])
@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_multibin_uniform_closed_form_vs_quadrature(B, k):
    closed = llm.multibin_capacity(qt.Uniform(1.0, 3.0), B, k)
    assert closed.method == "closed form"
    wrapped = qt.ScipyDistribution(stats.uniform(loc=1.0, scale=2.0))
    quad = llm.multibin_capacity(wrapped, B, k)
    assert quad.method == "quadrature"
    assert abs(closed.mean_batch_time - quad.mean_batch_time) <= 1e-10
    assert closed.bin_edges == pytest.approx(quad.bin_edges, abs=1e-12)
    formula = B / (1 + 2 * (0.5 + (B - 1) / (2 * k * (B + 1))))
    assert closed.capacity == pytest.approx(formula, rel=1e-14)


def test_multibin_many_bins_approach_b_over_mean():
    B = 8
    gaps = [1 - llm.multibin_capacity(qt.Uniform(1.0, 3.0), B, k).capacity / 4.0
            for k in (1, 10, 100, 10_000)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-4
    e = qt.Exponential(mean=1.0)
    caps = [llm.multibin_capacity(e, B, k).capacity for k in (1, 4, 16, 64, 256)]
    assert caps == sorted(caps)
    assert caps[-1] < 8.0 and 1 - caps[-1] / 8.0 < 0.05


def test_multibin_discrete_laws_exact_sums():
    d = qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2])
    r = llm.multibin_capacity(d, 3, 1)
    # E[max of 3] = sum_x P(max > x) over the gaps: 1 + (1 - .5^3) + 3 (1 - .8^3)
    assert r.mean_batch_time == pytest.approx(1 + (1 - 0.5**3) + 3 * (1 - 0.8**3), rel=1e-14)
    law = llm.TokenLaw([1, 2, 5], [0.5, 0.3, 0.2])
    assert llm.multibin_capacity(law, 3, 4) == llm.multibin_capacity(d, 3, 4)


def test_multibin_can_decrease_between_k_and_k_plus_1():
    two = qt.Discrete([0.0, 1.0], [0.5, 0.5])
    B = 8
    c2 = llm.multibin_capacity(two, B, 2)
    c3 = llm.multibin_capacity(two, B, 3)
    assert c2.mean_batch_time == pytest.approx(0.5)
    assert c3.mean_batch_time == pytest.approx((0 + (1 - 0.5**B) + 1) / 3)
    assert c3.capacity < c2.capacity
    assert llm.multibin_capacity(two, B, 6).capacity >= c3.capacity      # refinement


_LAWS = st.sampled_from([
    qt.Uniform(0.5, 4.0), qt.Exponential(mean=2.0), qt.Weibull(shape=0.5, scale=1.0),
    qt.Lognormal(mu=0.0, sigma=1.0), qt.Discrete([1.0, 2.0, 7.0], [0.6, 0.3, 0.1]),
    qt.HyperExponential([0.5, 5.0], [0.8, 0.2]),
])


@settings(max_examples=25, deadline=None)
@given(law=_LAWS, B=st.integers(1, 12), k=st.integers(1, 5), m=st.integers(2, 3))
def test_multibin_refinement_never_lowers_capacity(law, B, k, m):
    coarse = llm.multibin_capacity(law, B, k)
    fine = llm.multibin_capacity(law, B, k * m)
    assert fine.capacity >= coarse.capacity * (1 - 1e-10)
    assert fine.capacity <= fine.capacity_bound * (1 + 1e-10)


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 64), k=st.integers(1, 50), lo=st.floats(0.0, 10.0),
       width=st.floats(0.1, 10.0))
def test_multibin_uniform_is_monotone_in_k(B, k, lo, width):
    law = qt.Uniform(lo, lo + width)
    assert llm.multibin_capacity(law, B, k + 1).capacity >= \
        llm.multibin_capacity(law, B, k).capacity * (1 - 1e-14)


def _monte_carlo(law, prediction, B, k, n, seed):
    """Capacity estimate: sort n requests into k bins by the empirical quantiles of the
    prediction, form random batches of B within each bin, average the batch maxima."""
    rng = np.random.default_rng(seed)
    x, y = (prediction or qt.ExactPrediction()).sample(law, n, rng)
    order = np.argsort(y, kind="stable")
    means, variances = [], []
    for part in np.array_split(order, k):
        xs = rng.permutation(x[part])
        xs = xs[: xs.size - xs.size % B].reshape(-1, B).max(axis=1)
        means.append(xs.mean())
        variances.append(xs.var(ddof=1) / xs.size)
    return float(np.mean(means)), float(math.sqrt(sum(variances)) / k)


@pytest.mark.parametrize("law, prediction, B, k", [
    (qt.Exponential(mean=1.0), None, 8, 4),
    (qt.Weibull(shape=0.7, scale=1.0), None, 4, 3),
    (qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 8, 4),
    (qt.Lognormal(mu=0.0, sigma=0.8), qt.UniformPrediction(alpha=0.5), 6, 5),
    (qt.Uniform(1.0, 3.0), qt.LognormalPrediction(sigma=0.5), 16, 3),
])
def test_multibin_against_monte_carlo(law, prediction, B, k):
    r = llm.multibin_capacity(law, B, k, prediction)
    mean, se = _monte_carlo(law, prediction, B, k, 300_000, seed=2024)
    assert abs(r.mean_batch_time - mean) < 4.5 * se, (r.mean_batch_time, mean, se)
    assert se < 0.01 * mean


def _ode_noisy(law, prediction, B, k, top=60.0):
    """Independent E[max] per bin: Y-quantiles from P(Y <= y) = int f(s) P(Y <= y | s) ds
    (scipy quad), then the ODE F_i' = k f(x) P(bin i | x), E_i' = 1 - F_i**B integrated
    over [0, top] with DOP853."""
    def fy(y):
        return integrate.quad(lambda s: law.pdf(s) * prediction.conditional_cdf(y, s), 0,
                              np.inf, epsabs=1e-15, epsrel=1e-12, limit=400)[0]

    edges = [optimize.brentq(lambda y, j=j: fy(y) - j / k, 1e-9, 100.0, xtol=1e-15)
             for j in range(1, k)]
    lo_edges, hi_edges = [0.0, *edges], [*edges, np.inf]

    def rhs(x, state):
        F = state[:k]
        cdfs = [float(prediction.conditional_cdf(e, x)) if np.isfinite(e) else 1.0
                for e in hi_edges]
        lows = [float(prediction.conditional_cdf(e, x)) for e in lo_edges]
        pi = np.array(cdfs) - np.array(lows)
        return np.concatenate([k * law.pdf(x) * pi, 1 - np.clip(F, 0, 1) ** B])

    sol = integrate.solve_ivp(rhs, (1e-300, top), np.zeros(2 * k), method="DOP853",
                              rtol=1e-12, atol=1e-14)
    return sol.y[k:, -1]


def test_multibin_noisy_grid_vs_an_ode():
    law, pred, B, k = qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 4, 2
    r = llm.multibin_capacity(law, B, k, pred)
    assert r.method == "tanh-sinh grid" and r.error < 1e-7
    ref = _ode_noisy(law, pred, B, k)
    assert np.asarray(r.bin_batch_times) == pytest.approx(ref, rel=1e-7)


def test_multibin_noisy_predictions_one_bin_and_ordering():
    e = qt.Exponential(mean=1.0)
    one = llm.multibin_capacity(e, 8, 1, qt.ExponentialPrediction())
    assert one.mean_batch_time == pytest.approx(sum(1 / j for j in range(1, 9)), rel=1e-11)
    noisy = llm.multibin_capacity(e, 8, 4, qt.ExponentialPrediction())
    exact = llm.multibin_capacity(e, 8, 4)
    assert one.capacity < noisy.capacity < exact.capacity
    assert list(noisy.bin_batch_times) == sorted(noisy.bin_batch_times)
    # discrete sizes with noisy predictions: exact sums, between one bin and exact bins
    law = llm.TokenLaw([1, 5, 20], [0.5, 0.3, 0.2])
    d1 = llm.multibin_capacity(law, 4, 1).capacity
    dn = llm.multibin_capacity(law, 4, 3, qt.UniformPrediction(alpha=0.3))
    assert dn.method == "exact sum"
    assert d1 < dn.capacity <= llm.multibin_capacity(law, 4, 3).capacity


def test_multibin_noisy_discrete_against_monte_carlo():
    law = qt.Discrete([1.0, 4.0, 9.0], [0.5, 0.3, 0.2])
    pred = qt.LognormalPrediction(sigma=0.6)
    r = llm.multibin_capacity(law, 5, 3, pred)
    mean, se = _monte_carlo(law, pred, 5, 3, 300_000, seed=7)
    assert abs(r.mean_batch_time - mean) < 4.5 * se


def test_multibin_infinite_mean_and_errors():
    r = llm.multibin_capacity(qt.Pareto(alpha=0.9, xm=1.0), 4, 3)
    assert r.capacity == 0.0 and r.mean_batch_time == math.inf
    assert r.bin_batch_times[-1] == math.inf and math.isfinite(r.bin_batch_times[0])
    with pytest.raises(ValueError, match="batch_size"):
        llm.multibin_capacity(qt.Exponential(mean=1.0), 0, 2)
    with pytest.raises(ValueError, match="bins"):
        llm.multibin_capacity(qt.Exponential(mean=1.0), 2, 1.5)
    with pytest.raises(TypeError, match="service"):
        llm.multibin_capacity(3.0, 2, 2)
    with pytest.raises(TypeError, match="prediction"):
        llm.multibin_capacity(qt.Exponential(mean=1.0), 2, 2, "exact")


# ------------------------------------------------------------------------------ the guide
def test_llm_guide_runs_and_prints_what_it_shows():
    spec = importlib.util.spec_from_file_location("_test_docs", ROOT / "tests" / "test_docs.py")
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    text = (ROOT / "docs" / "llm.md").read_text(encoding="utf-8")
    blocks = docs.fenced_blocks(text)
    assert sum(lang == "python" for lang, _ in blocks) >= 4
    assert "See [llm_simulation.md](llm_simulation.md)." in text
    namespace: dict = {"__name__": "__llm_guide__"}
    for n, (lang, body) in enumerate(blocks):
        if lang != "python":
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(compile(body, f"llm.md[block {n}]", "exec"), namespace)
        nxt = blocks[n + 1] if n + 1 < len(blocks) else ("", "")
        if nxt[0] == "text":
            assert docs.output_matches(nxt[1], buf.getvalue()), (
                f"block {n} printed:\n{buf.getvalue()}\nbut the guide shows:\n{nxt[1]}")
