"""The r-work integral of Gittins policies (:mod:`qtheory.analysis.rwork`) against SOAP's
tagged-job analysis of the same classes, against closed forms (M/M/1, first come first
served on one atom, preemptive priority of exponential classes), and its limits (only the
Gittins rank's values make it right)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qtheory as qt
from qtheory.analysis.agerank import AgeRankAnalysis
from qtheory.analysis.gittins import gittins_rank, serpt_rank
from qtheory.analysis.multiclass import ClassRankAnalysis
from qtheory.analysis.priority import priority_class_means
from qtheory.analysis.rwork import _RANK_FLOOR, rwork_mean
from qtheory.distributions.posterior import PredictionBucket

P = qt.policies

LAWS = {
    "exponential": lambda: qt.Exponential(mean=1.0),
    "weibull 0.5": lambda: qt.Weibull(0.5),
    "weibull 2": lambda: qt.Weibull(2.0),
    "hyperexponential": lambda: qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "lognormal": lambda: qt.Lognormal(sigma=1.0, mean=1.0),
    "two atoms": lambda: qt.Discrete([1.0, 10.0], [0.9, 0.1]),
    "bounded pareto": lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
    "uniform": lambda: qt.Uniform(0.0, 2.0),  # the rank falls to 0 at the end
    "pareto 1.5": lambda: qt.Pareto(alpha=1.5, xm=1.0),  # E[X^2] infinite
    "pareto 2.5": lambda: qt.Pareto(alpha=2.5, xm=1.0),
}


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize("load", [0.5, 0.95])
def test_one_class_equals_soap(name, load):
    """Gittins for a known size law: the r-work integral and SOAP's analysis (the same
    rank, the same work functions, but no tagged job) agree to 1e-10; measured 2e-12 at
    most (Weibull 0.5, load 0.8)."""
    law = LAWS[name]()
    engine = AgeRankAnalysis(law, gittins_rank(law))
    lam = load / law.mean
    soap, _ = engine.mean(lam)
    a = ClassRankAnalysis.from_engines([1.0], [engine], gittins=True)
    value, err = rwork_mean(a, lam)
    assert value == pytest.approx(soap, rel=1e-10)
    assert err <= 1e-9 * value


def test_closed_forms():
    """M/M/1: Gittins is first come first served, ``E[X] / (1 - rho)``; one atom:
    Pollaczek-Khinchine, ``x + lambda x^2 / (2 (1 - rho))``."""
    law = qt.Exponential(mean=2.0)
    a = ClassRankAnalysis([(1.0, law, gittins_rank(law))], gittins=True)
    assert a.mean(0.3)[0] == pytest.approx(2.0 / 0.4, rel=1e-12)
    atom = qt.Deterministic(1.5)
    b = ClassRankAnalysis([(1.0, atom, gittins_rank(atom))], gittins=True)
    assert b.mean(0.5)[0] == pytest.approx(1.5 + 0.5 * 2.25 / (2 * 0.25), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.2, 5.0), min_size=2, max_size=4, unique=True),
       st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4), st.floats(0.1, 0.97))
def test_exponential_classes_are_preemptive_priority(means, weights, load):
    """Exponential classes: each Gittins rank is the class's mean, so Gittins with class
    information is preemptive priority, shortest mean first (the c-mu rule); the r-work
    integral equals the priority closed form."""
    means = np.array(means)
    if np.min(np.diff(np.sort(means))) < 1e-3 * means.max():  # ties are FCFS, not priority
        return
    p = np.array(weights[:means.size])
    p /= p.sum()
    lam = load / float(p @ means)
    a = ClassRankAnalysis([(q, qt.Exponential(mean=m), gittins_rank(qt.Exponential(mean=m)))
                           for q, m in zip(p, means)], gittins=True)
    order = np.argsort(means)
    t = priority_class_means(lam * p[order], means[order], 2 * means[order] ** 2,
                             preemptive=True)
    assert a.mean(lam)[0] == pytest.approx(float(p[order] @ t), rel=1e-10)


@pytest.mark.parametrize("size, pred, thresholds", [
    (qt.Weibull(2.0), qt.UniformPrediction(0.5), (0.5, 2.0)),
    (qt.Exponential(mean=1.0), qt.ExponentialPrediction(), (0.5, 2.0)),
    (qt.Weibull(0.5), qt.ExponentialPrediction(), (0.03, 0.25, 1.0, 3.5)),
    (qt.Lognormal(sigma=1.0, mean=1.0), qt.LognormalPrediction(0.5), (1.0,)),
])
def test_bucket_policies_equal_soap(size, pred, thresholds):
    """GittinsBuckets: the default (r-work) and SOAP's class means agree to 1e-10
    (measured at most 4e-12)."""
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    pol = P.GittinsBuckets(thresholds=thresholds)
    rwork = q.mean_response_time(pol)
    assert rwork == q.mean_response_time(pol, method="rwork")
    assert rwork == pytest.approx(q.mean_response_time(pol, method="soap"), rel=1e-10)


def test_posterior_node_systems_equal_soap():
    """GittinsPosterior: each node system (its classes ranked by their own Gittins ranks)
    by the r-work integral and by SOAP, to 1e-10."""
    from qtheory.analysis.posterior_gittins import PosteriorGittinsAnalysis

    a = PosteriorGittinsAnalysis(qt.Weibull(2.0), qt.UniformPrediction(0.5), nodes=8)
    lam = 0.8 / qt.Weibull(2.0).mean
    soap = a.node_means(lam, "soap")
    rwork = a.node_means(lam, "rwork")
    np.testing.assert_allclose(rwork[:3], soap[:3], rtol=1e-10, atol=0)


def test_only_gittins_ranks():
    """SERPT orders Weibull 0.5 jobs as Gittins does (both ranks rise with age: FB), so
    SOAP gives the same mean for both; the r-work integral uses the rank's *values* and
    is right only for Gittins' (with SERPT's values it gave 6.007 against 7.906). The
    work integral of a new job, 1 for Gittins ranks (0.4037 for SERPT's), tells them apart:
    a clear error, not a wrong number. The default takes SOAP's value: first for a law in
    closed form, and for tabulated laws (posteriors given a prediction, where the r-work
    integral comes first) instead of the r-work integral's, with a warning."""
    law = qt.Weibull(0.5)
    lam = 0.8 / law.mean
    g = ClassRankAnalysis([(1.0, law, gittins_rank(law))], gittins=True)
    s = ClassRankAnalysis([(1.0, law, serpt_rank(law))], gittins=True)
    assert s.mean(lam, "soap")[0] == pytest.approx(g.mean(lam, "soap")[0], rel=1e-9)
    assert g.mean(lam)[0] == pytest.approx(g.mean(lam, "rwork")[0], rel=1e-10)
    with pytest.raises(ValueError, match=r"not their laws' Gittins ranks .* is 0\.40"):
        s.mean(lam, "rwork")
    assert s.mean(lam)[0] == s.mean(lam, "soap")[0]
    bucket = PredictionBucket(law, qt.ExponentialPrediction(), 0.5, 2.0)
    sb = ClassRankAnalysis([(1.0, bucket, serpt_rank(bucket))], gittins=True)
    with pytest.raises(ValueError, match="not their laws' Gittins ranks"):
        sb.mean(lam, "rwork")
    with pytest.warns(qt.QuadratureWarning, match="SOAP's analysis is used instead"):
        assert sb.mean(lam)[0] == sb.mean(lam, "soap")[0]


def test_bounded_supports_and_atoms():
    """Ranks that fall to 0 at the end of a bounded support or before an atom: the
    second moments of the last level sets are taken without cancellation
    (``_Law.trunc2`` on narrow intervals) and levels below 1e-12 of the mean are left out
    (without either, 0.974 and 204180 came out of 0.509 and 5.32)."""
    for law in (qt.Truncated(qt.Weibull(2.0), 0.0, 0.5), qt.Truncated(qt.Weibull(2.0), 0.5, 2.0),
                qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2]), qt.Deterministic(2.0)):
        e = AgeRankAnalysis(law, gittins_rank(law))
        lam = 0.7 / law.mean
        a = ClassRankAnalysis.from_engines([1.0], [e], gittins=True)
        assert a.mean(lam)[0] == pytest.approx(e.mean(lam)[0], rel=1e-11)
    size = qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2])
    q = qt.MG1(load=0.8, size=size, prediction=qt.UniformPrediction(0.5))
    pol = P.GittinsPosterior(nodes=8)
    assert q.mean_response_time(pol) == pytest.approx(q.mean_response_time(pol, method="soap"),
                                                      rel=1e-11)


def test_bad_input_and_instability():
    law = qt.Exponential(mean=1.0)
    a = ClassRankAnalysis([(1.0, law, gittins_rank(law))], gittins=True)
    assert rwork_mean(a, 1.0) == (np.inf, 0.0)
    with pytest.raises(ValueError, match="lam"):
        rwork_mean(a, -1.0)
    with pytest.raises(ValueError, match="method"):
        a.mean(0.5, "fast")
    q = qt.MG1(load=0.5, size=law)
    with pytest.raises(ValueError, match="method: 'rwork' is for the Gittins policies"):
        q.mean_response_time("SRPT", method="rwork")
    assert q.mean_response_time(P.Gittins(), method="rwork") == pytest.approx(2.0, rel=1e-12)


def test_first_level_of_soap_found_off_by_the_rwork_integral():
    """Gittins on Pareto(1.83) at load 0.843: SOAP's analysis accepted its first quadrature
    level with an estimate of 9.2e-12 and was 2.1e-9 off; the r-work integral disagreed.
    The first level now also needs a small difference to its half-step sum
    (``agerank._accept``), and the two agree to 1e-12."""
    law = qt.Pareto(alpha=1.8300015898098343, xm=1.0)
    lam = 0.843 / law.mean
    engine = AgeRankAnalysis(law, gittins_rank(law))
    soap, est = engine.mean(lam)
    rwork, _ = ClassRankAnalysis.from_engines([1.0], [engine], gittins=True).mean(lam)
    assert soap == pytest.approx(rwork, rel=1e-12)
    assert abs(soap - rwork) <= est + 1e-12 * soap


_LAWS = st.one_of(
    st.builds(lambda k: qt.Weibull(k), st.floats(0.4, 3.0)),
    st.builds(lambda s: qt.Lognormal(sigma=s, mean=1.0), st.floats(0.2, 1.5)),
    st.builds(lambda m: qt.Exponential(mean=m), st.floats(0.3, 3.0)),
    st.builds(lambda b: qt.Uniform(0.0, b), st.floats(0.5, 4.0)),
    st.builds(lambda a, h: qt.BoundedPareto(alpha=a, low=0.1, high=h), st.floats(0.6, 2.5),
              st.floats(3.0, 100.0)),
)


@settings(max_examples=20, deadline=None)
@given(_LAWS, _LAWS, st.floats(0.1, 0.9), st.floats(0.2, 0.95))
def test_two_classes_equal_soap(law_a, law_b, p, load):
    """Gittins with the class of a two-law mixture (each class ranked by its own law's
    Gittins rank): the r-work integral equals SOAP's multi-class analysis to 1e-9 wherever
    SOAP reports convergence."""
    import warnings

    classes = [(p, law_a, gittins_rank(law_a)), (1.0 - p, law_b, gittins_rank(law_b))]
    lam = load / (p * law_a.mean + (1.0 - p) * law_b.mean)
    a = ClassRankAnalysis(classes, gittins=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        try:
            soap, est = a.mean(lam, "soap")
        except qt.QuadratureWarning:
            return
        rwork, est_r = a.mean(lam)
    assert rwork == pytest.approx(soap, rel=1e-9)
    assert est_r <= 1e-9 * rwork


@pytest.mark.parametrize("shape_a, law_b, rel", [
    # a rank nearly constant over the ages: the r-work quadrature ended 1.5e-9 off with an
    # estimate of 0.94e-9, and SOAP's analysis is taken instead (its estimate is smaller)
    (0.75, qt.Weibull(0.9987135307899688), 1e-12),
    (0.5, qt.Weibull(0.99999), 1e-11),
    # a subnormal age end made SOAP's piece cuts overflow (geometric_edges)
    (0.99999, qt.Lognormal(sigma=1.0, mean=1.0), 1e-10),
])
def test_two_classes_found_by_the_property_search(shape_a, law_b, rel):
    law_a = qt.Weibull(shape_a)
    classes = [(0.5, law_a, gittins_rank(law_a)), (0.5, law_b, gittins_rank(law_b))]
    lam = 0.5 / (0.5 * law_a.mean + 0.5 * law_b.mean)
    a = ClassRankAnalysis(classes, gittins=True)
    soap, _ = a.mean(lam, "soap")
    value, est = a.mean(lam)
    assert value == pytest.approx(soap, rel=rel)
    assert est <= 1e-9 * value


@pytest.mark.parametrize("method", ["soap", "rwork"])
def test_a_bucket_whose_rank_peaks_at_age_0_is_fcfs(method):
    """Lognormal sizes given ``0.6515 < Y <= 1.9914`` under uniform noise (alpha 0.835): the
    Gittins rank is largest at age 0 (``E[X]``), so no arrival preempts and the policy is
    first come first served, ``E[X] + lambda E[X^2] / (2 (1 - rho))``. Found by
    ``validation/rwork_random.py``: SOAP's value was 3.2e-8 above it at every load (estimate
    3e-12), the r-work integral's 9.5e-8 (estimate 8e-15). The rank was 1 / hazard up to the
    law's kink at 3.9477, where over [3.85, 3.9477] an interior optimum is lower (7e-5): a
    regime narrower than the age grid's step, next to the kink, whose only grid age
    (1e-9 from it) was within the tie allowance. The grid now approaches every kink
    (``gittins._NEAR_KINK``); both routes then agree with the closed form to 1e-11."""
    from qtheory.distributions.posterior import PredictionBucket

    size = qt.Lognormal(sigma=0.48065439282099587, mean=float(np.exp(
        -0.1155143226690601 + 0.48065439282099587**2 / 2)))
    law = PredictionBucket(size, qt.UniformPrediction(alpha=0.8349659146318266), 0.6515,
                           1.9914)
    rank = gittins_rank(law)
    engine = AgeRankAnalysis(law, rank)
    assert float(rank(np.array([0.0]))[0]) == pytest.approx(law.mean, rel=1e-12)
    lam = 0.342 / law.mean
    pk = law.mean + lam * law.moment(2) / (2.0 * (1.0 - lam * law.mean))
    if method == "soap":
        value = engine.mean(lam)[0]
    else:
        value = ClassRankAnalysis.from_engines([1.0], [engine], gittins=True).mean(
            lam, "rwork")[0]
    assert value == pytest.approx(pk, rel=1e-10)


def test_pieces_graded_towards_a_close_critical_value():
    """Lognormal sizes, uniform noise 0.835, thresholds 0.6515 and 1.9914: a branch point of
    the work functions (a smooth minimum of one class's rank, at level 0.3596) lies 0.0088
    outside a piece of 37.5 in s = 1 / r, and the r-work quadrature stayed 2.4e-7 off up to
    its last level (the default then took SOAP's value). Pieces are now graded towards such
    a neighbour, and the r-work integral alone agrees with SOAP to 1e-10."""
    size = qt.Lognormal(sigma=0.48065439282099587, mean=float(np.exp(
        -0.1155143226690601 + 0.48065439282099587**2 / 2)))
    pred = qt.UniformPrediction(alpha=0.8349659146318266)
    q = qt.MG1(load=0.342, size=size, prediction=pred)
    pol = P.GittinsBuckets(thresholds=(0.6515, 1.9914))
    soap = q.mean_response_time(pol, method="soap")
    value, est = q.mean_response_time_with_error(pol, method="rwork")
    assert value == pytest.approx(soap, rel=1e-10)
    # (the estimate carries the tabulated ranks' floor, rwork._RANK_FLOOR, besides)
    assert est <= (1e-12 + _RANK_FLOOR) * value


# Simulated with qtheory's simulator (2026-12-05): 16 replications of 1e8 jobs, seed 7:
#   q = qt.MG1(load=0.8, size=qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2]),
#              prediction=qt.ExponentialPrediction())
#   qt.sim.simulate(q, P.GittinsBuckets(thresholds=(0.5, 2.0)), jobs=100_000_000,
#                   replications=16, seed=7)   # mean 6.728454, 95 % CI [6.726433, 6.730475]
_DISCRETE_SIM = (6.726432686246442, 6.730475124398277)


def _discrete_buckets():
    q = qt.MG1(load=0.8, size=qt.Discrete([1.0, 2.0, 5.0], [0.5, 0.3, 0.2]),
               prediction=qt.ExponentialPrediction())
    return q, P.GittinsBuckets(thresholds=(0.5, 2.0))


def test_discrete_buckets_agree_with_the_simulator():
    """Atoms 1, 2, 5 given buckets of an exponential-noise prediction: every bucket's rank
    takes the same values at the same ages past the last uncertain atom (5 - a after age 2),
    so the classes' ranks tie exactly. The r-work integral (the default), which does not see
    single levels, is inside the simulator's 95 % interval of 1.6e9 jobs (6.72841 against
    6.72845 +- 0.00202)."""
    q, pol = _discrete_buckets()
    value = q.mean_response_time(pol)
    assert _DISCRETE_SIM[0] <= value <= _DISCRETE_SIM[1]


def test_discrete_buckets_by_soap():
    """SOAP's multi-class analysis of the same classes gave 6.73925, 5 half-widths above the
    simulator's interval, with an estimate of 2e-15 (found 2026-12-05 by the r-work
    integral): its rounding tolerance for levels at a piece's end (``agerank._flat``, meant
    for smooth maxima of continuous ranks) made near-ties of an atom law's rank values into
    the wrong ties. Laws with atoms now compare exactly, and the two routes agree to 1e-12
    (also Gittins on the posterior of these sizes, whose node values had wandered: 6.1070,
    6.1418 for 16 and 32 nodes where they converge as 6.0589, 6.0548)."""
    q, pol = _discrete_buckets()
    value = q.mean_response_time(pol, method="soap")
    assert _DISCRETE_SIM[0] <= value <= _DISCRETE_SIM[1]
    assert value == pytest.approx(q.mean_response_time(pol), rel=1e-12)


def test_default_falls_back_to_soap_where_the_ranks_fail_the_work_identity():
    """Atoms 0.35, 0.73, 6.4, 7.5 given Y > 13.25 (exponential noise): the two small atoms
    have a posterior mass near 1e-17, and the discrete rank has a sliver of rank 7.0 past
    the first (above its rank 6.89 at age 0), so the work identity misses by 1.4e-3. The
    r-work integral alone refuses (ValueError); the default, SOAP first for laws with atoms,
    returns SOAP's value."""
    size = qt.Discrete([0.3488509975500262, 0.729027547274163, 6.4486878973238,
                        7.453442187112515],
                       [0.27651150495040094, 0.06000757196504464, 0.414025663977472,
                        0.24945525910708252])
    q = qt.MG1(load=0.55, size=size, prediction=qt.ExponentialPrediction())
    pol = P.GittinsBuckets(thresholds=(0.1378, 2.2685, 13.253))
    with pytest.raises(ValueError, match="not their laws' Gittins ranks"):
        q.mean_response_time(pol, method="rwork")
    assert q.mean_response_time(pol) == q.mean_response_time(pol, method="soap")


def test_default_for_laws_in_closed_form_is_soap_first():
    """Exact predictions make the bucket laws truncated size laws, in closed form: the
    default is SOAP's analysis there (the r-work integral's work tables solve for levels on
    the ranks' closed forms, 1.8-3.6 times as long), and the two agree."""
    q = qt.MG1(load=0.8, size=qt.Weibull(0.5), prediction=qt.ExactPrediction())
    pol = P.GittinsBuckets(thresholds=(0.5, 2.0))
    value = q.mean_response_time(pol)
    assert value == q.mean_response_time(pol, method="soap")
    assert value == pytest.approx(q.mean_response_time(pol, method="rwork"), rel=1e-12)


def test_first_come_first_served_class_meets_pollaczek_khinchine():
    """A bucket law whose Gittins rank decreases at every age (hyperexponential sizes given
    Y > 2.2 under lognormal noise 1.06) is served first come first served: its mean is
    Pollaczek-Khinchine's. The r-work integral accepted a quadrature level 3.3e-9 off with an
    estimate of 1.1e-10 (a rank that decreases slowly over hundreds of ages); its levels now
    go on to rtol / 100, and it is exact."""
    size = qt.HyperExponential(means=[0.12029593233887477, 9.962742069201795], probs=[0.7, 0.3])
    law = PredictionBucket(size, qt.LognormalPrediction(sigma=1.0608244399664966), 2.2001, np.inf)
    rank = gittins_rank(law)
    assert all(p.kind <= 0 for p in rank.pieces)
    lam = 0.6 / law.mean
    m1, m2 = float(law.moment(1)), float(law.moment(2))
    pk = m1 + lam * m2 / (2.0 * (1.0 - lam * m1))
    a = ClassRankAnalysis([(1.0, law, rank)], rtol=1e-9, gittins=True)
    assert a.mean(lam, "rwork")[0] == pytest.approx(pk, rel=1e-12)
    assert a.mean(lam, "soap")[0] == pytest.approx(pk, rel=1e-12)


def test_slowest_ages_of_a_rank_cut_the_levels():
    """A bucket law of uniform sizes (lognormal noise 1.08, 0.0844 < Y <= 0.1743) is ranked
    first come first served; its rank falls by 0.0136 an age unit at its slowest, against 1
    elsewhere. Across that level the r-work quadrature converged to 4e-5 at its last level
    and the value was 3.1e-6 off Pollaczek-Khinchine (with a warning); the level is a cut
    now (``rwork._slow_levels``) and the value exact."""
    size = qt.Uniform(0.0, 1.7788938518931772)
    law = PredictionBucket(size, qt.LognormalPrediction(sigma=1.0788386865380073), 0.0844,
                           0.1743)
    rank = gittins_rank(law)
    from qtheory.analysis.rwork import _slow_levels

    slow = _slow_levels(rank)
    assert slow.size == 1 and 0.43 < slow[0] < 0.44
    lam = 0.6 / law.mean
    m1, m2 = float(law.moment(1)), float(law.moment(2))
    pk = m1 + lam * m2 / (2.0 * (1.0 - lam * m1))
    value, err = ClassRankAnalysis([(1.0, law, rank)], gittins=True).mean(lam, "rwork")
    assert value == pytest.approx(pk, rel=1e-12)
    # (the estimate holds the first level's error model, rwork._FIRST_C times the square of
    # its difference to the half-step sum: 3.1e-12 here, within the target rtol / 100, and
    # the tabulated ranks' floor rwork._RANK_FLOOR)
    assert err < (1e-11 + _RANK_FLOOR) * value


def test_first_level_error_model_covers_a_slow_first_level():
    """Uniform sizes on [0, 1.81] given a threshold of lognormal noise 0.31, load 0.389
    (``validation/rwork_random.py``, seed 1): the first quadrature level differed from its
    half-step sum by 2.0e-8 and was 4.9e-10 off, with a nested estimate of 1.6e-14, and was
    accepted (256 times that square is below the target). The r-work integral's first level
    now needs ``rwork._FIRST_C`` = 1e8 times it, which sends this one on to the next level:
    the value is within its estimate of the one at rtol 1e-12 and of SOAP's."""
    q = qt.MG1(load=0.38890651935634746, size=qt.Uniform(0.0, 1.8140738079056353),
               prediction=qt.LognormalPrediction(0.30866723271899754))
    pol = qt.policies.GittinsBuckets(thresholds=(0.7119159742010734,))
    value, err = q.mean_response_time_with_error(pol, method="rwork")
    tight = qt.MG1(load=q.load, size=q.size, prediction=q.prediction, rtol=1e-12)
    # (the r-work integral on tabulated ranks promises no better than rwork._RANK_FLOOR)
    with pytest.warns(qt.QuadratureWarning, match="r-work"):
        ref, ref_err = tight.mean_response_time_with_error(pol, method="rwork")
    soap, _ = q.mean_response_time_with_error(pol, method="soap")
    assert abs(value - ref) <= err + ref_err
    assert abs(value - soap) <= 1e-13 * soap
    assert err < 1e-11 * value + _RANK_FLOOR * value


def test_repeated_levels_are_computed_once():
    """The r-work integral's nodes next to a cut round onto it, so a batch of levels repeats
    some (12204 levels, 8254 distinct, for GittinsBuckets of eight quantiles): the mixed work
    functions take each distinct level once, and a repeat gets its level's values; against
    each level alone, within the level solver's last bits (its grid depends on the batch).
    A class engine's exact path gives a repeated level the same values too."""
    from qtheory.analysis.rwork import _mixed

    pred = qt.ExponentialPrediction()
    size = qt.Weibull(0.5)
    laws = [(0.4, PredictionBucket(size, pred, 0.0, 0.7)),
            (0.6, PredictionBucket(size, pred, 0.7, np.inf))]
    a = ClassRankAnalysis([(p, law, gittins_rank(law)) for p, law in laws])
    r = np.geomspace(0.05, 20.0, 40)
    rep = np.concatenate([r, r[::3], r[5:9]])
    N, S = _mixed(a, rep)
    assert np.array_equal(N[40:54], N[:40][::3]) and np.array_equal(S[40:54], S[:40][::3])
    alone = np.array([_mixed(a, r[i:i + 1]) for i in range(r.size)])[:, :, 0]
    assert np.allclose(N[:40], alone[:, 0], rtol=1e-14, atol=0)
    assert np.allclose(S[:40], alone[:, 1], rtol=1e-14, atol=0)
    fresh = ClassRankAnalysis([(p, law, gittins_rank(law)) for p, law in laws])
    wait = np.ones(rep.size, dtype=bool)
    n0, o0, s0 = fresh._exact_work(0, rep, wait)  # (no memo yet)
    assert np.array_equal(n0[40:54], n0[:40][::3]) and np.array_equal(o0[54:58], o0[5:9])
    assert np.array_equal(s0[40:54], s0[:40][::3])
