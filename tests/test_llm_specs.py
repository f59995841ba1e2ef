"""Specification objects of qtheory.llm: token laws, workloads, servers, presets and traces.

Each quantity is checked against an independent computation (a direct sum, a closed form, a
hand count), and every validation error is checked to name the offending parameter.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import qtheory as qt
from qtheory import llm
from qtheory.llm.tokens import MAX_TOKENS


# ------------------------------------------------------------------------------ TokenLaw
def test_exponential_tokens_mean_is_that_of_a_geometric_law():
    law = llm.TokenLaw.from_distribution(qt.Exponential(mean=10.0), maximum=4096)
    # ceil(X) of X ~ Exp(mean 10) is geometric on {1, 2, ...} with success 1 - e^{-1/10}
    assert law.mean == pytest.approx(1.0 / (1.0 - math.exp(-0.1)), rel=1e-13)
    q = math.exp(-0.1)
    assert law.moment(2) == pytest.approx((1 + q) / (1 - q) ** 2, rel=1e-12)


def test_from_distribution_matches_a_direct_sum():
    x = qt.Weibull(shape=0.7, scale=30.0)
    law = llm.TokenLaw.from_distribution(x, minimum=1, maximum=500)
    k = np.arange(1, 501)
    direct = np.array([x.cdf(float(j)) - x.cdf(float(j - 1)) for j in k])
    direct[0] = x.cdf(1.0)          # mass at or below the minimum goes to the minimum
    direct[-1] += x.sf(500.0)       # mass above the maximum goes to the maximum
    assert law.values.tolist() == k[direct > 0].tolist()
    for j in (1, 2):
        assert law.moment(j) == pytest.approx(float(np.sum(direct * k.astype(float) ** j)),
                                              rel=1e-12)


def test_clipping_puts_the_tail_mass_at_the_maximum():
    law = llm.TokenLaw.from_distribution(qt.Exponential(mean=10.0), maximum=20)
    assert law.maximum == 20
    assert law.probs[-1] == pytest.approx(math.exp(-1.9), rel=1e-12)   # P(X > 19)
    assert law.probs.sum() == pytest.approx(1.0, abs=1e-15)
    low = llm.TokenLaw.from_distribution(qt.Exponential(mean=10.0), minimum=5, maximum=100)
    assert low.minimum == 5
    assert low.probs[0] == pytest.approx(1 - math.exp(-0.5), rel=1e-12)   # P(X <= 5)


def test_deterministic_and_integer_discrete_laws():
    assert llm.TokenLaw.from_distribution(qt.Deterministic(2.5)).values.tolist() == [3]
    law = llm.TokenLaw.from_distribution(qt.Discrete([1.0, 3.0], [0.25, 0.75]))
    assert law.values.tolist() == [1, 3]
    assert law.probs.tolist() == pytest.approx([0.25, 0.75])


def test_tokenlaw_table_cdf_sample():
    law = llm.TokenLaw([3, 1, 2], [0.2, 0.5, 0.3])
    assert law.values.tolist() == [1, 2, 3]
    values, cum = law.table()
    assert cum[-1] == 1.0 and cum.tolist() == pytest.approx([0.5, 0.8, 1.0])
    assert law.cdf(1.5) == pytest.approx(0.5)
    assert law.cdf(np.array([0, 3])).tolist() == pytest.approx([0.0, 1.0])
    s = law.sample(20_000, np.random.default_rng(1))
    assert set(np.unique(s)) <= {1, 2, 3}
    assert np.mean(s == 1) == pytest.approx(0.5, abs=0.02)
    emp = llm.TokenLaw.from_samples([4, 4, 7, 4])
    assert emp.values.tolist() == [4, 7] and emp.probs.tolist() == [0.75, 0.25]


@pytest.mark.parametrize("values, probs, match", [
    ([], [], "values"),
    ([1, 2], [1.0], "probs"),
    ([1.5], [1.0], "whole numbers"),
    ([-1], [1.0], ">= 0"),
    ([MAX_TOKENS + 1], [1.0], "<="),
    ([1, 1], [0.5, 0.5], "distinct"),
    ([1, 2], [0.5, 0.6], "sum to 1"),
    ([1, 2], [-0.5, 1.5], "probs"),
])
def test_tokenlaw_validation(values, probs, match):
    with pytest.raises(ValueError, match=match):
        llm.TokenLaw(values, probs)


def test_from_distribution_validation():
    with pytest.raises(TypeError, match="law"):
        llm.TokenLaw.from_distribution(10)
    with pytest.raises(ValueError, match="maximum"):
        llm.TokenLaw.from_distribution(qt.Exponential(mean=1.0), minimum=5, maximum=3)
    with pytest.raises(ValueError, match="minimum"):
        llm.TokenLaw.from_distribution(qt.Exponential(mean=1.0), minimum=-1)
    with pytest.raises(ValueError, match="maximum="):
        llm.TokenLaw.from_distribution(qt.Pareto(alpha=0.5, xm=1.0))


def test_as_token_law_names_the_parameter():
    assert llm.as_token_law(7, "prompt_tokens").values.tolist() == [7]
    with pytest.raises(TypeError, match="prompt_tokens"):
        llm.as_token_law(7.5, "prompt_tokens")
    with pytest.raises(TypeError, match="output_tokens"):
        llm.as_token_law(True, "output_tokens")
    with pytest.raises(ValueError, match="output_tokens must put no mass below 1"):
        llm.as_token_law(llm.TokenLaw([0, 1], [0.5, 0.5]), "output_tokens")


# ------------------------------------------------------------------------------ Workload
def _small_workload(**kw):
    base = dict(arrival_rate=2.0, prompt_tokens=llm.TokenLaw([1, 4], [0.5, 0.5]),
                output_tokens=llm.TokenLaw([2, 3, 9], [0.2, 0.3, 0.5]))
    base.update(kw)
    return llm.Workload(**base)


def test_workload_means_and_joint_moment_of_the_product_law():
    w = _small_workload()
    assert w.mean_prompt == 2.5 and w.mean_output == pytest.approx(5.8)
    assert w.mean_tokens == pytest.approx(8.3)
    direct = sum(pp * po * (p * o + o**2)
                 for p, pp in zip([1, 4], [0.5, 0.5])
                 for o, po in zip([2, 3, 9], [0.2, 0.3, 0.5]))
    assert w.joint_moment(lambda p, o: p * o + o**2) == pytest.approx(direct, rel=1e-14)
    assert w.joint_moment(lambda p, o: 3.0) == pytest.approx(3.0)   # a constant broadcasts


def test_joint_moment_of_large_laws_is_blocked_and_exact():
    w = llm.preset("sharegpt", 1.0)
    # E[L O^2] factorises for independent laws
    ref = w.mean_prompt * w.output_tokens.moment(2)
    assert w.joint_moment(lambda p, o: p * o**2) == pytest.approx(ref, rel=1e-12)


def test_workload_pairs():
    w = _small_workload(pairs=([1, 4, 4], [2, 9, 3]))
    assert w.joint_moment(lambda p, o: p * o) == pytest.approx((2 + 36 + 12) / 3)
    assert w.pairs[0].dtype == np.int64
    with pytest.raises(ValueError, match="pairs"):
        _small_workload(pairs=([1, 2], [3]))
    with pytest.raises(ValueError, match="pairs"):
        _small_workload(pairs=([1, 2], [3, 0]))
    with pytest.raises(ValueError, match="pairs"):
        _small_workload(pairs=([], []))


@pytest.mark.parametrize("kw, exc, match", [
    ({"arrival_rate": 0.0}, ValueError, "arrival_rate"),
    ({"arrival_rate": -1.0}, ValueError, "arrival_rate"),
    ({"arrival_rate": math.nan}, ValueError, "arrival_rate"),
    ({"arrival_rate": math.inf}, ValueError, "arrival_rate"),
    ({"arrival_rate": True}, ValueError, "arrival_rate"),
    ({"prompt_tokens": 2.5}, TypeError, "prompt_tokens"),
    ({"output_tokens": "many"}, TypeError, "output_tokens"),
    ({"output_tokens": 0}, ValueError, "output_tokens"),
    ({"prompt_tokens": 0}, ValueError, "prompt_tokens"),
    ({"prediction": "exact"}, TypeError, "prediction"),
    ({"arrivals": "uniform"}, ValueError, "arrivals"),
    ({"arrivals": 3}, TypeError, "arrivals"),
])
def test_workload_validation_names_the_parameter(kw, exc, match):
    with pytest.raises(exc, match=match):
        _small_workload(**kw)


def test_arrival_processes():
    assert llm.poisson().cv == 1.0
    g = llm.gamma(2.0)
    assert g.shape == 0.25
    with pytest.raises(ValueError, match="cv"):
        llm.gamma(0.0)
    w = _small_workload(arrivals=llm.gamma(3.0))
    assert w.arrivals == llm.GammaArrivals(3.0)
    t = llm.TraceArrivals([5.0, 6.0, 8.0])
    assert t.times.tolist() == [0.0, 1.0, 3.0]
    with pytest.raises(ValueError, match="row 2"):
        llm.TraceArrivals([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        llm.TraceArrivals([0.0, math.nan])


def test_with_rate_rescales_a_trace():
    w = _small_workload(arrivals=llm.TraceArrivals([0.0, 1.0, 2.0]),
                        pairs=([1, 4, 4], [2, 9, 3]))
    w2 = w.with_rate(4.0)
    assert w2.arrival_rate == 4.0
    assert w2.arrivals.times.tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert w2.pairs[1].tolist() == [2, 9, 3]
    for bad in (0.0, "fast", math.nan):
        with pytest.raises(ValueError, match="arrival_rate"):
            w.with_rate(bad)


# ------------------------------------------------------------------------------ Server
@pytest.mark.parametrize("kw, exc, match", [
    ({"token_budget": 0}, ValueError, "token_budget"),
    ({"token_budget": 1.5}, ValueError, "token_budget"),
    ({"max_batch": 0}, ValueError, "max_batch"),
    ({"kv_capacity_tokens": -5}, ValueError, "kv_capacity_tokens"),
    ({"kv_capacity_tokens": 0}, ValueError, "kv_capacity_tokens"),
    ({"block_size": 0}, ValueError, "block_size"),
    ({"kv_capacity_bytes": 1e9}, ValueError, "model"),
    ({"kv_capacity_bytes": 1e9, "kv_capacity_tokens": 10, "model": "llama-2-7b"},
     ValueError, "not both"),
    ({"kv_capacity_bytes": 1000.0, "model": "llama-2-7b"}, ValueError, "kv_capacity_bytes"),
    ({"model": "gpt-5"}, ValueError, "model"),
    ({"model": 7}, TypeError, "model"),
    ({"preemption": "swap"}, ValueError, "swap_bandwidth"),
    ({"preemption": "drop"}, ValueError, "preemption"),
    ({"preemption": "swap", "swap_bandwidth": -1.0}, ValueError, "swap_bandwidth"),
    ({"iteration_time": 3.0}, TypeError, "iteration_time"),
    ({"chunked_prefill": 1}, TypeError, "chunked_prefill"),
    ({"prefill_emits_token": "yes"}, TypeError, "prefill_emits_token"),
    ({"kv_compression": 2.0}, TypeError, "kv_compression"),
])
def test_server_validation_names_the_parameter(kw, exc, match):
    with pytest.raises(exc, match=match):
        llm.Server(**kw)


@pytest.mark.parametrize("name, per_token", [("llama-2-7b", 524_288), ("llama-3-8b", 131_072)])
def test_kv_bytes_to_tokens(name, per_token):
    spec = llm.MODELS[name]
    assert spec.bytes_per_token == per_token
    assert spec.bytes_per_token == 2 * spec.layers * spec.kv_heads * spec.head_dim * 2
    s = llm.Server(kv_capacity_bytes=16 * 2**30, model=name)
    assert s.kv_capacity_tokens == 16 * 2**30 // per_token
    s2 = llm.Server(kv_capacity_bytes=16 * 2**30 + per_token - 1, model=name.upper())
    assert s2.kv_capacity_tokens == 16 * 2**30 // per_token          # rounded down
    half = llm.Server(kv_capacity_bytes=16 * 2**30, model=name,
                      kv_compression=llm.KVCompression(factor=2.0))
    assert half.kv_capacity_tokens == 2 * s.kv_capacity_tokens


def test_model_spec_and_compression_validation():
    with pytest.raises(ValueError, match="layers"):
        llm.ModelSpec("x", layers=0, kv_heads=1, head_dim=1)
    with pytest.raises(ValueError, match="factor"):
        llm.KVCompression(factor=0.5)
    with pytest.raises(ValueError, match="time_per_token"):
        llm.KVCompression(time_per_token=-1.0)


def test_iteration_time_models():
    st = llm.StaircaseTime(c=11.28, a=35.47, b0=128)
    assert st(batch_tokens=128) == pytest.approx(11.28 + 35.47)
    assert st(batch_tokens=129) == pytest.approx(11.28 + 2 * 35.47)
    assert llm.LinearTime(d0=2.0, d1=0.5)(kv_tokens=10) == 7.0
    assert llm.UnitTime()(batch_tokens=99) == 1.0
    with pytest.raises(ValueError, match="b0"):
        llm.StaircaseTime(c=1.0, a=1.0, b0=0)
    with pytest.raises(ValueError, match="d0"):
        llm.LinearTime(d0=0.0)
    with pytest.raises(ValueError, match="d1"):
        llm.LinearTime(d0=1.0, d1=-1.0)
    with pytest.raises(ValueError, match="duration"):
        llm.UnitTime(0.0)
    s = llm.Server(iteration_time=st, kv_compression=llm.KVCompression(time_per_token=0.01))
    assert s.time_of(300) == pytest.approx(11.28 + 3 * 35.47 + 3.0)


def test_server_blocks():
    s = llm.Server(kv_capacity_tokens=100, block_size=16)
    assert s.kv_blocks == 6
    assert s.blocks_for(16) == 1 and s.blocks_for(17) == 2
    assert s.blocks_for(np.array([1, 32, 33])).tolist() == [1, 2, 3]
    assert llm.Server().kv_blocks is None


def test_server_check():
    w = llm.Workload(arrival_rate=1.0, prompt_tokens=llm.TokenLaw([10, 40], [0.5, 0.5]),
                     output_tokens=llm.TokenLaw([1, 20], [0.5, 0.5]))
    assert llm.Server(kv_capacity_tokens=60).check(w) is None
    with pytest.raises(ValueError, match="longest prompt"):
        llm.Server(kv_capacity_tokens=39).check(w)
    with pytest.raises(ValueError, match="never finish"):
        llm.Server(kv_capacity_tokens=59).check(w)
    # blocks: 60 tokens need 64 in blocks of 16
    with pytest.raises(ValueError, match="64 in blocks"):
        llm.Server(kv_capacity_tokens=60, block_size=16).check(w)
    with pytest.raises(ValueError, match="token_budget=32"):
        llm.Server(token_budget=32).check(w)
    assert llm.Server(token_budget=32, chunked_prefill=True).check(w) is None
    # a trace's own pairs: the largest pair, not the largest prompt + largest output
    wt = llm.Workload(arrival_rate=1.0, prompt_tokens=llm.TokenLaw([10, 40], [0.5, 0.5]),
                      output_tokens=llm.TokenLaw([1, 20], [0.5, 0.5]),
                      pairs=([10, 40], [20, 1]))
    assert llm.Server(kv_capacity_tokens=41).check(wt) is None


# ------------------------------------------------------------------------------ presets
def _median(law):
    return int(law.values[np.searchsorted(np.cumsum(law.probs), 0.5)])


@pytest.mark.parametrize("name", sorted(llm.PRESETS))
def test_presets_match_their_cited_statistics(name):
    w = llm.preset(name, arrival_rate=3.0)
    ps, os_, cap_p, cap_o, source = llm.PRESETS[name]
    assert w.arrival_rate == 3.0 and source in w.name
    for law, stats_, cap in ((w.prompt_tokens, ps, cap_p), (w.output_tokens, os_, cap_o)):
        assert law.minimum >= 1 and law.maximum <= cap
        if "mean" in stats_:
            assert law.mean == pytest.approx(stats_["mean"], abs=1e-9)
        if "median" in stats_:
            assert _median(law) == stats_["median"]
            below = float(law.cdf(stats_["median"] - 1))
            assert below < 0.5 <= float(law.cdf(stats_["median"]))


def test_preset_values_from_the_literature():
    w = llm.preset("sharegpt", 1.0)
    assert (w.mean_prompt, w.mean_output) == pytest.approx((161.31, 337.99), abs=1e-9)
    w = llm.preset("alpaca", 1.0)
    assert (w.mean_prompt, w.mean_output) == pytest.approx((19.31, 58.45), abs=1e-9)
    w = llm.preset("lmsys", 1.0)
    assert (w.mean_prompt, w.mean_output) == pytest.approx((40.62, 85.32), abs=1e-9)
    assert (_median(w.prompt_tokens), _median(w.output_tokens)) == (11, 45)
    w = llm.preset("AZURE_CODE", 1.0, prediction=qt.ExponentialPrediction(),
                   arrivals=llm.gamma(2.0))
    assert (_median(w.prompt_tokens), _median(w.output_tokens)) == (1500, 13)
    assert w.prediction == qt.ExponentialPrediction() and w.arrivals.cv == 2.0


def test_preset_errors():
    with pytest.raises(ValueError, match="name"):
        llm.preset("wikitext", 1.0)
    with pytest.raises(ValueError, match="arrival_rate"):
        llm.preset("alpaca", 0.0)
    with pytest.raises(ValueError, match="mean"):
        llm.lognormal_tokens()
    with pytest.raises(ValueError, match="mean > median"):
        llm.lognormal_tokens(mean=10.0, median=20)


# ------------------------------------------------------------------------------ traces
def _csv(text):
    return io.StringIO(text)


def test_trace_numeric_timestamps():
    w = llm.load_trace(_csv("time,input_tokens,output_tokens\n1.0,10,5\n3.0,20,7\n2.0,4,1\n"))
    # rows are sorted by time; the rate is (requests - 1) / span
    assert w.arrival_rate == pytest.approx(1.0)
    assert w.arrivals.times.tolist() == [0.0, 1.0, 2.0]
    assert w.pairs[0].tolist() == [10, 4, 20] and w.pairs[1].tolist() == [5, 1, 7]
    assert w.prompt_tokens.values.tolist() == [4, 10, 20]
    assert w.name == "trace"


def test_trace_iso_timestamps_and_azure_columns():
    text = ("TIMESTAMP,ContextTokens,GeneratedTokens\n"
            "2023-11-16 18:15:46.6805900,374,44\n"
            "2023-11-16 18:15:48.1805900,396,109\n"
            "2023-11-16 18:15:49.6805900,879,12\n")
    w = llm.load_trace(_csv(text))
    assert w.arrivals.times.tolist() == pytest.approx([0.0, 1.5, 3.0], abs=1e-6)
    assert w.arrival_rate == pytest.approx(2 / 3.0, rel=1e-6)
    assert w.pairs[0].tolist() == [374, 396, 879]
    assert w.pairs[1].tolist() == [44, 109, 12]


def test_trace_arrival_rate_rescales_time(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,prompt_tokens,output_tokens\n0,10,5\n1,20,7\n4,4,1\n")
    w = llm.load_trace(path, arrival_rate=2.0)
    assert w.arrival_rate == 2.0
    assert w.arrivals.times.tolist() == pytest.approx([0.0, 0.25, 1.0])   # 2 / span = 2
    assert llm.load_trace(str(path)).arrival_rate == pytest.approx(0.5)
    for bad in (-1.0, math.inf, "fast", True):
        with pytest.raises(ValueError, match="arrival_rate"):
            llm.load_trace(path, arrival_rate=bad)


def test_trace_zero_output_tokens():
    text = "timestamp,prompt_tokens,output_tokens\n0,10,5\n1,20,0\n"
    with pytest.raises(ValueError, match="line 3: output tokens is 0"):
        llm.load_trace(_csv(text))
    w = llm.load_trace(_csv(text), zero_output="one")
    assert w.pairs[1].tolist() == [5, 1]
    with pytest.raises(ValueError, match="zero_output"):
        llm.read_trace(_csv(text), zero_output="drop")


@pytest.mark.parametrize("row, match", [
    ("1.0,abc,5", "line 3: prompt tokens 'abc' is not a number"),
    ("1.0,2.5,5", "line 3: prompt tokens '2.5' is not a whole number"),
    ("1.0,10", "line 3: expected at least 3 fields"),
    ("yesterday,10,5", "line 3: timestamp 'yesterday'"),
    ("1.0,10,-2", "line 3: output tokens is -2"),
    ("1.0,0,4", "line 3: prompt tokens is 0"),
    ("1.0,10,inf", "line 3: output tokens 'inf'"),
])
def test_malformed_rows_name_their_line(row, match):
    text = f"timestamp,prompt_tokens,output_tokens\n0.0,1,1\n{row}\n"
    with pytest.raises(ValueError, match=match):
        llm.read_trace(_csv(text))


def test_trace_columns_and_empty_files():
    text = "when,a,b\n0,3,4\n2,5,6\n"
    with pytest.raises(ValueError, match="timestamp"):
        llm.read_trace(_csv(text))
    t, p, o = llm.read_trace(_csv(text), time_column="WHEN", prompt_column="a",
                             output_column="b")
    assert t.tolist() == [0.0, 2.0] and p.tolist() == [3, 5] and o.tolist() == [4, 6]
    with pytest.raises(ValueError, match="column 'c'"):
        llm.read_trace(_csv(text), time_column="when", prompt_column="c")
    with pytest.raises(ValueError, match="empty"):
        llm.read_trace(_csv(""))
    with pytest.raises(ValueError, match="no requests"):
        llm.read_trace(_csv("timestamp,prompt_tokens,output_tokens\n\n"))
    with pytest.raises(ValueError, match="two distinct arrival times"):
        llm.load_trace(_csv("timestamp,prompt_tokens,output_tokens\n1,2,3\n1,2,3\n"))
