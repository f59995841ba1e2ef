"""Multi-class age-rank SOAP engine and truncated laws.

Independent checks: preemptive and non-preemptive priority closed forms
(qtheory.analysis.priority, Cobham / Kleinrock), FB on a mixture against the single-class
engine on the mixed law, and Truncated against scipy quadrature of the parent density.
"""

import numpy as np
import pytest
from scipy import integrate

import qtheory as qt
from qtheory.analysis.agerank import AgeRank, AgeRankAnalysis, RankPiece
from qtheory.analysis.gittins import gittins_rank
from qtheory.analysis.multiclass import ClassRankAnalysis
from qtheory.analysis.priority import priority_class_means
from qtheory.distributions.truncated import Truncated

LAWS = [qt.Exponential(mean=1.0), qt.Weibull(shape=0.5, scale=0.5),
        qt.Discrete([0.5, 2.0], [0.6, 0.4]), qt.Uniform(0.0, 2.0)]


def _rates(probs, lam):
    return [p * lam for p in probs]


@pytest.mark.parametrize("preemptive", [True, False])
def test_constant_ranks_are_priority_classes(preemptive):
    laws = [qt.Exponential(mean=0.5), qt.Weibull(shape=0.5, scale=0.5), qt.Uniform(0.0, 3.0)]
    probs = [0.5, 0.3, 0.2]
    classes = []
    for i, (p, law) in enumerate(zip(probs, laws)):
        rank = float(i) if preemptive else AgeRank(
            [RankPiece(0.0, 1e-300, value=float(i)), RankPiece(1e-300, np.inf, value=-np.inf)])
        classes.append((p, law, rank))
    a = ClassRankAnalysis(classes)
    lam = 0.8 / sum(p * law.mean for p, law in zip(probs, laws))
    got, _ = a.class_means(lam)
    ref = priority_class_means(_rates(probs, lam), [law.moment(1) for law in laws],
                               [law.moment(2) for law in laws], preemptive=preemptive)
    np.testing.assert_allclose(got, ref, rtol=1e-8)


@pytest.mark.parametrize("lam", [0.3, 0.7])
def test_fb_on_classes_is_fb_on_the_mixture(lam):
    fb = AgeRank.linear(1.0)
    mix = qt.HyperExponential(means=[0.5, 2.0], probs=[0.3, 0.7])
    a = ClassRankAnalysis([(0.3, qt.Exponential(mean=0.5), fb),
                           (0.7, qt.Exponential(mean=2.0), fb)])
    ref = AgeRankAnalysis(mix, fb).mean(lam)[0]
    assert a.mean(lam)[0] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("law", LAWS, ids=repr)
def test_identical_classes_equal_one_class(law):
    g = gittins_rank(law)
    lam = 0.6 / law.mean
    one = AgeRankAnalysis(law, g).mean(lam)[0]
    two = ClassRankAnalysis([(0.25, law, g), (0.75, law, g)]).mean(lam)[0]
    assert two == pytest.approx(one, rel=1e-9)


def test_unstable_and_bad_input():
    a = ClassRankAnalysis([(1.0, qt.Exponential(mean=1.0), 0.0)])
    assert a.mean(1.0) == (np.inf, 0.0)
    with pytest.raises(ValueError, match="sum to 1"):
        ClassRankAnalysis([(0.5, qt.Exponential(mean=1.0), 0.0)])
    with pytest.raises(ValueError, match="probability"):
        ClassRankAnalysis([(-0.5, qt.Exponential(mean=1.0), 0.0),
                           (1.5, qt.Exponential(mean=1.0), 0.0)])
    with pytest.raises(ValueError, match="size"):
        ClassRankAnalysis([(1.0, "exp", 0.0)])
    with pytest.raises(ValueError, match="lam"):
        a.mean(-1.0)


@pytest.mark.parametrize("law,lo,hi", [
    (qt.Exponential(mean=1.0), 0.0, 1.0), (qt.Exponential(mean=1.0), 1.0, np.inf),
    (qt.Weibull(shape=0.5, scale=0.5), 0.3, 5.0),
    (qt.BoundedPareto(alpha=1.5, low=1.0, high=100.0), 2.0, 100.0)])
def test_truncated_against_quadrature(law, lo, hi):
    t = Truncated(law, lo, hi)
    mass = integrate.quad(law.pdf, lo, hi, limit=200)[0]
    for k in (1, 2):
        ref = integrate.quad(lambda s: s**k * law.pdf(s), lo, hi, limit=200)[0] / mass
        assert t.moment(k) == pytest.approx(ref, rel=1e-9)
    x = np.array([lo + 0.3 * min(hi - lo, 3.0)])
    ref_cdf = integrate.quad(law.pdf, lo, float(x[0]), limit=200)[0] / mass
    assert float(t.cdf(x)[0]) == pytest.approx(ref_cdf, rel=1e-9)
    assert float(t.cdf(x)[0] + t.sf(x)[0]) == pytest.approx(1.0, abs=1e-14)
    pm = integrate.quad(lambda s: s * law.pdf(s), lo, float(x[0]), limit=200)[0] / mass
    assert float(t.partial_moment(1, x)[0]) == pytest.approx(pm, rel=1e-9)
    assert float(t.partial_moment(1, x)[0] + t.tail_moment(1, x)[0]) == pytest.approx(
        t.moment(1), rel=1e-12)
    s = t.sample(2000, np.random.default_rng(1))
    assert np.all((s > lo) & (s <= hi))


def test_truncated_bad_input():
    with pytest.raises(ValueError, match="high"):
        Truncated(qt.Exponential(mean=1.0), 2.0, 1.0)
    with pytest.raises(ValueError, match="no mass"):
        Truncated(qt.Uniform(0.0, 1.0), 2.0, 3.0)
    with pytest.raises(ValueError, match="low"):
        Truncated(qt.Exponential(mean=1.0), -1.0, 1.0)


@pytest.mark.parametrize("size,T", [
    (qt.Discrete([0.5, 1.0, 4.0], [0.5, 0.3, 0.2]), 1.0),
    (qt.Discrete([0.2, 1.0, 3.0, 10.0], [0.4, 0.3, 0.2, 0.1]), 2.0)], ids=["d3", "d4"])
@pytest.mark.parametrize("load", [0.5, 0.9])
def test_gittins_given_a_bit_sits_between_srpt_and_gittins(size, T, load):
    """More information cannot hurt the mean-optimal policy: SRPT (full sizes) <= Gittins
    given the size's bucket <= Gittins given nothing."""
    short, long_ = Truncated(size, 0.0, T), Truncated(size, T, np.inf)
    lam = load / size.mean
    a = ClassRankAnalysis([(float(size.cdf(T)), short, gittins_rank(short)),
                           (float(size.sf(T)), long_, gittins_rank(long_))])
    bit, err = a.mean(lam)
    assert err <= 1e-8 * bit
    q = qt.MG1(arrival_rate=lam, size=size)
    assert q.mean_response_time("SRPT") <= bit * (1 + 1e-9)
    assert bit <= q.mean_response_time(qt.policies.Gittins()) * (1 + 1e-9)


def test_gauss_node_classes_converge_to_srpt_at_second_order():
    # exact predictions at the Gauss-Legendre quantile nodes of Exp(1): one Deterministic
    # class per node, ranked y_j - a, tends to SRPT (validation/gittins_nodes.py); the
    # midpoint rule only at first order
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "validation" / "gittins_nodes.py"
    spec = importlib.util.spec_from_file_location("gittins_nodes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ref = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0)).mean_response_time("SRPT")
    gl = [mod.node_value(n, "gauss") - ref for n in (8, 16)]
    mid = [mod.node_value(n, "midpoint") - ref for n in (8, 16)]
    assert 3.5 < gl[0] / gl[1] < 4.5  # second order
    assert 1.8 < mid[0] / mid[1] < 2.2  # first order
    assert abs(gl[1]) < 6e-3


def test_classes_with_equal_ranks_to_rounding_keep_a_consistent_order():
    """Three prediction buckets whose posterior laws are equal in exact arithmetic (uniform
    noise that never reaches the support's ends: each density is the size's over ``x``)
    have ranks a few ulps apart, in an order that changes with the age. SOAP's rounding
    tolerance at a piece's end (for a rank's own values) made one class tie with another
    and come strictly before a third: 1.86265 where the simulator gives 1.85986 +- 0.0007
    (6.4e7 jobs) and the r-work integral 1.85990. Other classes' levels now compare
    exactly, and the value is that of the ranks made exactly equal, and of the r-work
    integral."""
    size = Truncated(qt.Weibull(0.654617338433932), 0.8262233467711652, 1.2866009262254046)
    q = qt.MG1(load=0.61, size=size, prediction=qt.UniformPrediction(0.870545373391788))
    pol = qt.policies.GittinsBuckets(thresholds=(0.4331, 0.7627, 0.7648, 0.841))
    laws = pol.bucket_laws(size, q.prediction)
    cl = [(p, law, gittins_rank(law)) for p, law in laws]
    lam = q.arrival_rate
    soap = ClassRankAnalysis(cl, rtol=1e-9).mean(lam, method="soap")[0]
    shared = [cl[0], *[(c[0], cl[1][1], cl[1][2]) for c in cl[1:4]], cl[4]]
    tied = ClassRankAnalysis(shared, rtol=1e-9).mean(lam, method="soap")[0]
    rwork = q.mean_response_time(pol, method="rwork")
    assert soap == pytest.approx(tied, rel=1e-11)
    assert soap == pytest.approx(rwork, rel=1e-11)
    assert abs(soap - 1.85986) < 1.1e-3  # the simulator's, within 1.5 half-widths
