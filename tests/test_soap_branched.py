"""Descriptors with several parts: qt.MultiPrediction, rank keys "prediction:j" and a
branch key other than the key (qtheory.analysis.soap_branched), in the analysis and in the
simulator.

Independent checks: branches that all carry one rank give that rank unbranched (closed
forms of SPRPT; the classes' posterior laws must mix back to the size law); constant
ranks give Cobham's priority formulas over the classes (qtheory.analysis.advice, which
shares no code with SOAP); a perfect cheap predictor gives SkipPredict's closed form with
exact predictions; and the simulator runs the same rank function.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.advice import buckets_conditional, buckets_mean
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.analysis.soap_branched import BranchedSOAP, branch_classes
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies
INF = np.inf
EXP = qt.Exponential(mean=1.0)
TWO = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])


def _skip(key="prediction:0", branch_key="prediction:1", t=1.0):
    """Shorts by the branch key (<= t) first come first served, never preempted; longs by
    SPRPT on the key."""
    short = Branch((Segment(value=(0.0, -INF)),), high=t)
    long_ = Branch((Segment(value=(1.0, 0.0), slope=-1),), low=t)
    return RankFunction(key, (short, long_), branch_key=branch_key)


def _same(seg, branch_key, cuts):
    edges = (-INF, *cuts, INF)
    return RankFunction("prediction:0", tuple(Branch(seg, low=a, high=b)
                                              for a, b in zip(edges[:-1], edges[1:])),
                        branch_key=branch_key)


def _bucket_rank(cuts, preemptive):
    """Bucket priority by the second prediction (rank = the bucket's index, age-only)."""
    edges = (-INF, *cuts, INF)
    branches = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if preemptive:
            branches.append(Branch((Segment(value=(0.0, float(i))),), low=a, high=b))
        else:
            branches.append(Branch((Segment(value=(0.0, -INF)),), low=a, high=b,
                                   initial=(0.0, float(i))))
    return RankFunction("none", tuple(branches), branch_key="prediction:1")


# ------------------------------------------------------------------ model and rank objects
def test_multi_prediction_validates_and_samples():
    with pytest.raises(ValueError, match="at least one"):
        qt.MultiPrediction([])
    with pytest.raises(ValueError, match=r"models\[1\]"):
        qt.MultiPrediction([qt.ExponentialPrediction(), "uniform"])
    gen = qt.ConditionalPrediction(cdf=lambda y, x: 1 - np.exp(-y / x),
                                   pdf=lambda y, x: np.exp(-y / x) / x)
    with pytest.raises(ValueError, match="multiplicative"):
        qt.MultiPrediction([qt.ExponentialPrediction(), gen])
    x, y = TWO.sample(EXP, 20000, rng=5)
    assert y.shape == (20000, 2)
    z1 = y[:, 1] / x
    assert z1.min() >= 0.5 and z1.max() <= 1.5
    # the two noise factors are independent: correlation of Z0 and Z1 near 0
    assert abs(np.corrcoef(y[:, 0] / x, z1)[0, 1]) < 0.03
    x2, y2 = TWO.sample(EXP, 20000, rng=5)
    assert np.array_equal(y, y2)


def test_queue_reads_the_first_prediction_as_the_prediction():
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    q1 = qt.MG1(load=0.7, size=EXP, prediction=qt.ExponentialPrediction())
    assert q.prediction == qt.ExponentialPrediction() and len(q.predictions) == 2
    assert q.mean_response_time("SPRPT") == q1.mean_response_time("SPRPT")
    assert len(q.with_load(0.5).predictions) == 2
    assert "MultiPrediction" in repr(q)


def test_rank_keys_parse_and_validate():
    r = _skip()
    assert (r.key, r.key_index, r.branch_key, r.branch_index) == ("prediction", 0,
                                                                    "prediction", 1)
    assert r.branched and r.key_name == "prediction" and r.branch_key_name == "prediction:1"
    assert not RankFunction("prediction:1", r.branches).branched
    assert RankFunction("prediction:0", r.branches) == RankFunction("prediction", r.branches)
    # an index means something only for a prediction key
    assert RankFunction("size", r.branches, key_index=1) == RankFunction("size", r.branches)
    assert RankFunction("prediction", r.branches, key_index=2).key_name == "prediction:2"
    with pytest.raises(ValueError, match="key must be one of"):
        RankFunction("prediction:x", r.branches)
    with pytest.raises(ValueError, match="branch_key"):
        RankFunction("size", r.branches, branch_key="none")
    with pytest.raises(ValueError, match="branch_k"):
        r.evaluate(1.0, 0.5)
    assert r.evaluate(2.0, 0.5, branch_k=[0.5, 1.5]).tolist() == [-INF, 1.5]
    with pytest.raises(ValueError, match="another key"):
        SOAPAnalysis(EXP, qt.ExponentialPrediction(), r)


def test_a_missing_prediction_model_is_named():
    q = qt.MG1(load=0.7, size=EXP, prediction=qt.ExponentialPrediction())
    with pytest.raises(ValueError, match="prediction 1"):
        q.mean_response_time(P.RankPolicy(_skip()))
    with pytest.raises(ValueError, match="prediction 2"):
        qt.MG1(load=0.7, size=EXP, prediction=TWO).mean_response_time(
            P.RankPolicy(RankFunction.single("prediction:2", [Segment(value=(1.0, 0.0))])))


def test_branch_classes_mix_back_to_the_size_law():
    classes = branch_classes(EXP, TWO, _same((Segment(value=(1.0, 0.0)),), "prediction:1",
                                             (0.5, 2.0)))
    assert abs(sum(p for p, _, _ in classes) - 1.0) < 1e-13
    for k in (1, 2):
        mixed = sum(p * law.moment(k) for p, law, _ in classes)
        assert abs(mixed / EXP.moment(k) - 1.0) < 1e-12


# ------------------------------------------------------------------ analysis
@pytest.mark.parametrize("branch_key,cuts", [("prediction:1", (1.0,)),
                                             ("prediction:1", (0.4, 1.5, 3.0)),
                                             ("size", (0.7,))])
def test_identical_branches_give_the_unbranched_policy(branch_key, cuts):
    """SPRPT on Y0 split into classes by Y1 (or by the size): the closed form of SPRPT."""
    size = qt.Weibull(shape=0.7, scale=1.0)
    q = qt.MG1(load=0.8, size=size, prediction=TWO)
    rank = _same((Segment(value=(1.0, 0.0), slope=-1),), branch_key, cuts)
    value, err = q.mean_response_time_with_error(P.RankPolicy(rank))
    ref = q.mean_response_time("SPRPT")
    assert abs(value / ref - 1.0) < 1e-9 and err < 1e-8 * value
    # and conditionally: the closed form of SPRPT given (x, y0), whatever y1
    x = np.array([0.2, 1.0, 3.0])
    y = np.array([[0.5, 0.15], [0.8, 1.4], [4.0, 2.9]])
    got = q.conditional_response_time(P.RankPolicy(rank), x, y)
    want = q.conditional_response_time("SPRPT", x, y[:, 0])
    np.testing.assert_allclose(got, want, rtol=1e-8)


@pytest.mark.parametrize("preemptive", [True, False])
def test_constant_ranks_by_a_second_prediction_are_cobham(preemptive):
    """Bucket priority by Y1 (age-only ranks per class, key "none"): Cobham's formulas on
    the buckets of model 1."""
    cuts = (0.6, 1.8)
    rank = _bucket_rank(cuts, preemptive)
    size = qt.HyperExponential(means=[0.5, 3.0], probs=[0.8, 0.2])
    q = qt.MG1(load=0.75, size=size, prediction=TWO)
    lam = q.arrival_rate
    ref, _ = buckets_mean(size, TWO[1], lam, cuts, preemptive)
    assert abs(q.mean_response_time(P.RankPolicy(rank)) / ref - 1.0) < 1e-9
    x, y1 = np.array([0.3, 1.0, 2.5]), np.array([0.5, 1.0, 3.0])
    got = q.conditional_response_time(P.RankPolicy(rank), x, np.stack([x, y1], axis=1))
    want = buckets_conditional(size, TWO[1], lam, cuts, preemptive, x, y1)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_a_perfect_cheap_predictor_is_skip_predict_on_the_size():
    """The bit from an exact predictor and SPRPT on exact predictions: SkipPredict's closed
    form with exact predictions (its short jobs are X <= T, its long ones run SRPT)."""
    exact = qt.MultiPrediction([qt.ExactPrediction(), qt.ExactPrediction()])
    q = qt.MG1(load=0.8, size=qt.Weibull(shape=2.0), prediction=exact)
    value = q.mean_response_time(P.RankPolicy(_skip(t=0.9)))
    ref = qt.MG1(load=0.8, size=qt.Weibull(shape=2.0)).mean_response_time(
        P.SkipPredict(threshold=0.9))
    assert abs(value / ref - 1.0) < 1e-9
    # branching on the size itself is the same policy
    on_size = q.mean_response_time(P.RankPolicy(_skip(branch_key="size", t=0.9)))
    assert abs(on_size / ref - 1.0) < 1e-9


def test_branched_analysis_warns_nothing_and_caches_per_rank():
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v1, e1 = q.mean_response_time_with_error(P.RankPolicy(_skip()))
    assert e1 < 1e-9 * v1
    assert isinstance(q._engines.soap(_skip()), BranchedSOAP)
    assert q.with_load(0.5).mean_response_time(P.RankPolicy(_skip())) < v1
    assert q.with_load(1.0).mean_response_time(P.RankPolicy(_skip())) == np.inf


def test_conditional_averages_to_the_mean():
    """E[T | x, y0, y1] averaged over 1e4 draws of the joint law: the mean (a Monte Carlo
    average of a function, 5 standard errors)."""
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    pol = P.RankPolicy(_skip())
    x, y = TWO.sample(EXP, 10000, rng=11)
    c = q.conditional_response_time(pol, x, y)
    mean = q.mean_response_time(pol)
    assert abs(c.mean() - mean) < 5 * c.std() / np.sqrt(c.size)
    with pytest.raises(ValueError, match="last axis"):
        q.conditional_response_time(pol, 1.0, 0.5)


# ------------------------------------------------------------------ simulator
@pytest.mark.parametrize("key,branch_key", [("prediction:0", "prediction:1"),
                                            ("prediction:1", "prediction:0"),
                                            ("prediction:2", "prediction:1"),
                                            ("prediction:1", "size")])
def test_simulator_runs_the_same_rank(key, branch_key):
    preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5),
                                qt.LognormalPrediction(0.6)])
    q = qt.MG1(load=0.7, size=EXP, prediction=preds)
    pol = P.RankPolicy(_skip(key, branch_key))
    sim = q.simulate(pol, jobs=150_000, replications=8, seed=7)
    value = q.mean_response_time(pol)
    z = (sim.mean - value) / sim.std_error
    assert abs(z) < 4.5, (sim.mean, value, z)


def test_simulation_is_reproducible_and_other_models_do_not_move_it():
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    pol = P.RankPolicy(_skip())
    a = q.simulate(pol, jobs=20_000, replications=2, seed=3)
    b = q.simulate(pol, jobs=20_000, replications=2, seed=3)
    assert a.mean == b.mean
    # SPRPT reads prediction 0 only: a second model changes none of its jobs
    one = qt.MG1(load=0.7, size=EXP, prediction=qt.ExponentialPrediction())
    assert q.simulate("SPRPT", jobs=20_000, replications=2, seed=3).mean == \
        one.simulate("SPRPT", jobs=20_000, replications=2, seed=3).mean


def test_simulator_refuses_numpy_sampled_extra_models():
    from scipy import stats

    preds = qt.MultiPrediction([qt.ExponentialPrediction(),
                                qt.MultiplicativePrediction(stats.gamma(2.0, scale=0.5))])
    q = qt.MG1(load=0.7, size=EXP, prediction=preds)
    with pytest.raises(NotImplementedError, match="prediction 1"):
        q.simulate(P.RankPolicy(_skip()), jobs=1000, replications=2, seed=1)


# ------------------------------------------------------------------ SkipPredict, two predictors
@pytest.mark.parametrize("size,preds", [
    (EXP, TWO),
    (qt.Weibull(shape=0.5, scale=1.0),
     qt.MultiPrediction([qt.LognormalPrediction(0.5), qt.ExponentialPrediction()])),
])
def test_skip_two_closed_form_is_soap_on_the_two_part_descriptor(size, preds):
    """Zero costs: the closed form (qtheory.analysis.skip_two) against SOAP's engine on the
    branched rank, which share no formula."""
    q = qt.MG1(load=0.8, size=size, prediction=preds)
    pol = P.SkipPredict(threshold=0.8, bit_prediction=1)
    closed = q.mean_response_time(pol)
    soap = q.mean_response_time(pol, method="soap")
    assert abs(closed / soap - 1.0) < 1e-9
    # the external model's costs: c1 + c2 P(Y_1 > T), the bit's model
    costly = P.SkipPredict(threshold=0.8, cheap_cost=0.1, expensive_cost=1.0, bit_prediction=1)
    p_long = 1.0 - float(preds[1].marginal_cdf(0.8, size))
    assert abs(q.mean_cost(costly) - (closed + 0.1 + p_long)) < 1e-12 * closed


def test_skip_two_with_exact_predictors_is_the_one_predictor_form():
    size = qt.Weibull(shape=2.0)
    ex = qt.MultiPrediction([qt.ExactPrediction(), qt.ExactPrediction()])
    for model in ("external", "server"):
        two = P.SkipPredict(0.9, 0.05, 0.3, cost_model=model, bit_prediction=1)
        one = P.SkipPredict(0.9, 0.05, 0.3, cost_model=model)
        a = qt.MG1(load=0.8, size=size, prediction=ex).mean_response_time(two)
        b = qt.MG1(load=0.8, size=size).mean_response_time(one)
        assert abs(a / b - 1.0) < 1e-10, model


def test_skip_two_server_model_against_the_simulator():
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    pol = P.SkipPredict(1.0, 0.05, 0.3, cost_model="server", bit_prediction=1)
    value = q.mean_response_time(pol)
    sim = q.simulate(pol, jobs=200_000, replications=8, seed=5)
    assert abs(sim.mean - value) < 4.5 * sim.std_error, (sim.mean, value)
    # the costs slow it down, and T = inf is FCFS on c1 + X whatever the bit
    assert value > q.mean_response_time(P.SkipPredict(1.0, bit_prediction=1))
    fcfs = q.mean_response_time(P.SkipPredict(np.inf, 0.05, 0.3, "server", bit_prediction=1))
    m1, m2 = 1.0 + 0.05, 2.0 + 2 * 0.05 + 0.05**2   # E[c1 + X], E[(c1 + X)^2]
    lam = q.arrival_rate
    assert abs(fcfs - (m1 + lam * m2 / (2 * (1 - lam * m1)))) < 1e-12 * fcfs


def test_skip_predict_bit_prediction_is_validated():
    assert P.SkipPredict(1.0, bit_prediction=1).name == \
        "SkipPredict-external(T=1, c1=0, c2=0, bit=prediction:1)"
    assert P.SkipPredict(1.0).rank() == P.SkipPredict(1.0, bit_prediction=0).rank()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="bit_prediction"):
            P.SkipPredict(1.0, bit_prediction=bad)
    q = qt.MG1(load=0.7, size=EXP, prediction=qt.ExponentialPrediction())
    with pytest.raises(ValueError, match="prediction 1"):
        q.mean_response_time(P.SkipPredict(1.0, bit_prediction=1))


@pytest.mark.parametrize("size", [qt.Weibull(shape=0.5, scale=1.0),
                                  qt.HyperExponential(means=[0.5, 3.0], probs=[0.8, 0.2])])
def test_an_independent_exponential_bit_equals_the_shared_one(size):
    """Exponential noise is memoryless: given Y > T a prediction is T + X Z' with Z'
    exponential, so the long jobs of SkipPredict with the bit from its own prediction are
    ranked as by an independent copy shifted by T (all long ranks sit above the shorts' -inf,
    so the shift changes nothing). Hence, in the external model, the bit from a second,
    independent exponential predictor gives the one-predictor closed form; both two-part
    engines (the closed form of skip_two and SOAP on the branched rank) must meet it."""
    e = qt.ExponentialPrediction()
    q = qt.MG1(load=0.8, size=size, prediction=qt.MultiPrediction([e, e]))
    one = q.mean_response_time(P.SkipPredict(threshold=1.0))
    two = P.SkipPredict(threshold=1.0, bit_prediction=1)
    assert abs(q.mean_response_time(two) / one - 1.0) < 1e-9
    assert abs(q.mean_response_time(two, method="soap") / one - 1.0) < 1e-9


def test_skip_two_conditional():
    """Zero costs: SOAP's conditional response times on the two-part descriptor. With costs
    (server model): averaged over 1e4 draws of the joint law, the mean."""
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    x = np.array([0.5, 2.0, 0.3, 3.0])
    y = np.array([[0.4, 0.6], [2.5, 1.9], [1.2, 0.3], [0.5, 2.2]])
    pol = P.SkipPredict(1.0, bit_prediction=1)
    closed = q.conditional_response_time(pol, x, y)
    soap = q._engines.soap(pol.rank()).conditional(q.arrival_rate, x, y[:, 0], y[:, 1],
                                                   exact=True)
    np.testing.assert_allclose(closed, soap, rtol=1e-10)
    srv = P.SkipPredict(1.0, 0.05, 0.3, cost_model="server", bit_prediction=1)
    xs, ys = TWO.sample(EXP, 10000, rng=3)
    c = q.conditional_response_time(srv, xs, ys)
    assert abs(c.mean() - q.mean_response_time(srv)) < 5 * c.std() / np.sqrt(c.size)
    # T = inf: every job short, whatever its bit (FCFS on c1 + X)
    every = P.SkipPredict(np.inf, 0.05, 0.3, cost_model="server", bit_prediction=1)
    lam, m1, m2 = q.arrival_rate, 1.05, 2.0 + 0.1 + 0.0025
    np.testing.assert_allclose(q.conditional_response_time(every, x, y),
                               0.05 + x + lam * m2 / (2 * (1 - lam * m1)), rtol=1e-12)


@pytest.mark.parametrize("preemptive", [True, False])
def test_class_kernel_reads_the_branch_key(preemptive):
    """Constant ranks by a second prediction's buckets run in the class kernel (a queue
    per branch), whose branch is the branch key's: the simulated mean against Cobham's
    formulas over the buckets of model 1, and the generic kernel job for job."""
    import qtheory.sim.driver as drv

    cuts = (0.6, 1.8)
    pol = P.RankPolicy(_bucket_rank(cuts, preemptive))
    q = qt.MG1(load=0.75, size=EXP, prediction=TWO)
    ref, _ = buckets_mean(EXP, TWO[1], q.arrival_rate, cuts, preemptive)
    sim = q.simulate(pol, jobs=200_000, replications=8, seed=4)
    assert abs(sim.mean - ref) < 4.5 * sim.std_error, (sim.mean, ref)
    assert drv._kernel_name(drv.prepare(q, pol, jobs=10, warmup=0, seed=1).compiled, 1) \
        == "mg1_class"
    special = q.simulate(pol, jobs=5_000, replications=2, seed=9, records=True)
    drv._SPECIAL_KERNELS = False
    try:
        generic = q.simulate(pol, jobs=5_000, replications=2, seed=9, records=True)
    finally:
        drv._SPECIAL_KERNELS = True
    np.testing.assert_array_equal(special.response_times, generic.response_times)


def test_age_only_branched_ranks_two_engines_and_any_slope():
    """Age-only ranks by a second prediction's classes go to the multi-class age-rank engine
    (BranchedAgeRanks); with unit slopes SOAP's piecewise engine on the classes
    (BranchedSOAP) must give the same mean. Slopes other than +-1 (refused by the piecewise
    engine) against the simulator, and sizes with atoms against Cobham's formulas."""
    from qtheory.analysis.soap_branched import BranchedAgeRanks

    fb = RankFunction("none", (Branch((Segment(value=(0.0, 0.0), slope=1),), high=1.0),
                               Branch((Segment(value=(0.0, 0.5), slope=1),), low=1.0)),
                      branch_key="prediction:1")
    size = qt.Weibull(shape=0.7, scale=1.0)
    q = qt.MG1(load=0.8, size=size, prediction=TWO)
    lam = q.arrival_rate
    a, _ = BranchedAgeRanks(size, TWO, fb).mean(lam)
    b, _ = BranchedSOAP(size, TWO, fb).mean(lam)
    assert abs(a / b - 1.0) < 1e-8
    assert isinstance(q._engines.soap(fb), BranchedAgeRanks)
    x, y = np.array([0.2, 1.5]), np.array([[0.3, 0.5], [2.0, 1.6]])
    np.testing.assert_allclose(
        q.conditional_response_time(P.RankPolicy(fb), x, y),
        BranchedSOAP(size, TWO, fb).conditional(lam, x, branch_k=y[:, 1], k=y[:, 0]),
        rtol=1e-8)
    half = RankFunction("none", (Branch((Segment(value=(0.0, 0.0), slope=0.5),), high=1.0),
                                 Branch((Segment(value=(0.0, 0.3), slope=2.0),), low=1.0)),
                        branch_key="prediction:1")
    value = q.mean_response_time(P.RankPolicy(half))
    sim = q.simulate(P.RankPolicy(half), jobs=150_000, replications=8, seed=2)
    assert abs(sim.mean - value) < 4.5 * sim.std_error, (sim.mean, value)
    atoms = qt.Discrete([0.5, 1.0, 4.0], [0.5, 0.3, 0.2])
    qa = qt.MG1(load=0.7, size=atoms, prediction=TWO)
    ref, _ = buckets_mean(atoms, TWO[1], qa.arrival_rate, (0.6, 1.8), True)
    assert abs(qa.mean_response_time(P.RankPolicy(_bucket_rank((0.6, 1.8), True))) / ref
               - 1.0) < 1e-9


# ------------------------------------------------------------------ records of every prediction
def _spjf_by(key):
    """Non-preemptive shortest job first by ``key``: the key at age 0, then never preempted."""
    return P.RankPolicy(RankFunction.single(key, [Segment(value=(0.0, -INF))],
                                            initial=(1.0, 0.0)))


@pytest.mark.parametrize("j", [0, 1, 2])
def test_records_hold_the_predictions_the_kernel_read(j):
    """Non-preemptive SPJF by prediction ``j``: at every start of service the job started
    has the least recorded prediction ``j`` of the jobs waiting then (the records of the
    predictions other than the first are drawn again after the run: this is what says they
    are the kernel's). The recorded predictions of the other models are not so ordered."""
    preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5),
                                qt.LognormalPrediction(0.6)])
    q = qt.MG1(load=0.9, size=EXP, prediction=preds)
    sim = q.simulate(_spjf_by(f"prediction:{j}"), jobs=3000, replications=2, seed=5,
                     warmup=0, records=True)
    rec = sim.records
    assert rec["predictions"].shape == (2, 3000, 3)
    np.testing.assert_array_equal(rec["predictions"][:, :, 0], rec["prediction"])
    z = rec["predictions"] / rec["size"][:, :, None]
    assert np.all((z[:, :, 1] >= 0.5) & (z[:, :, 1] <= 1.5))
    violations = np.zeros(3, dtype=int)
    for r in range(2):
        arr, comp = rec["arrival"][r], rec["completion"][r]
        start = comp - rec["size"][r]
        done = np.isfinite(comp)
        order = np.argsort(start[done])
        a, s = arr[done][order], start[done][order]
        y = rec["predictions"][r][done][order]
        for i in range(a.size - 1):
            # waiting when job i starts: arrived before it started, started after it
            wait = (a[i + 1:] < s[i])
            if np.any(wait):
                violations += np.any(y[i + 1:][wait] < y[i], axis=0)
    assert violations[j] == 0
    assert np.all(violations[np.arange(3) != j] > 100)


def test_skip_two_conditional_against_simulated_jobs():
    """SkipPredict with its bit from the second prediction, server-time costs: the simulated
    response times of the recorded jobs minus E[T | x, y0, y1] of their recorded size and
    predictions average to 0 (within 4.5 standard errors of replication means), among the
    short jobs by the bit and among the long ones."""
    q = qt.MG1(load=0.7, size=EXP, prediction=TWO)
    pol = P.SkipPredict(1.0, 0.05, 0.3, cost_model="server", bit_prediction=1)
    sim = q.simulate(pol, jobs=10_000, replications=8, seed=9, records=True)
    rec = sim.records
    y = rec["predictions"]
    resid = (rec["completion"] - rec["arrival"]) - q.conditional_response_time(
        pol, rec["size"], y)
    for part in (y[:, :, 1] <= 1.0, y[:, :, 1] > 1.0):
        means = np.array([resid[r][part[r]].mean() for r in range(8)])
        se = means.std(ddof=1) / np.sqrt(8)
        assert abs(means.mean()) < 4.5 * se, (means.mean(), se)


def test_records_of_a_model_without_an_in_kernel_sampler_are_nan():
    from scipy import stats

    preds = qt.MultiPrediction([qt.ExponentialPrediction(),
                                qt.MultiplicativePrediction(stats.gamma(2.0, scale=0.5))])
    q = qt.MG1(load=0.7, size=EXP, prediction=preds)
    sim = q.simulate("SPRPT", jobs=500, replications=2, seed=1, records=True)
    assert np.all(np.isnan(sim.records["predictions"][:, :, 1]))
    assert np.all(np.isfinite(sim.records["predictions"][:, :, 0]))
    assert any("prediction 1" in n for n in sim.notes)
    one = qt.MG1(load=0.7, size=EXP, prediction=qt.ExponentialPrediction())
    assert "predictions" not in one.simulate("SPRPT", jobs=500, replications=2, seed=1,
                                             records=True).records
