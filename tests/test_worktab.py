"""Tables of a class's other-job functions in the rank level (qtheory.analysis._worktab):
tabulated values against the exact path, the levels left to it, and multi-class means with
and without the tables."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import qtheory as qt
from qtheory.analysis import multiclass
from qtheory.analysis._worktab import WorkTable, critical_values
from qtheory.analysis.agerank import AgeRank, AgeRankAnalysis, RankPiece, _Levels
from qtheory.analysis.gittins import gittins_rank, serpt_rank
from qtheory.analysis.multiclass import ClassRankAnalysis
from qtheory.distributions.posterior import PredictionBucket


def _exact(e, r):
    lev = _Levels(r, np.full(r.size, -1), np.zeros(r.size))
    O0, S = e._old_work(lev)
    return e._new_work(lev), O0, S


def _engines():
    w = qt.Weibull(0.5)
    bucket = PredictionBucket(qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction(),
                              0.5, 2.0)
    trunc = qt.Truncated(qt.Weibull(0.5), 0.0, 5.0)  # SERPT: a smooth maximum
    hx = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
    return {
        "gittins-weibull": AgeRankAnalysis(w, gittins_rank(w)),
        "gittins-bucket": AgeRankAnalysis(bucket, gittins_rank(bucket)),
        "serpt-truncated": AgeRankAnalysis(trunc, serpt_rank(trunc)),
        "gittins-hyperexp": AgeRankAnalysis(hx, gittins_rank(hx)),
        "callable": AgeRankAnalysis(w, AgeRank.from_callable(lambda a: (a - 1.0) ** 2,
                                                             breakpoints=[1.0], size=w)),
    }


ENGINES = _engines()


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_tables_match_the_exact_path(name):
    e = ENGINES[name]
    tab = WorkTable(e)
    crit = critical_values(e)
    lo, hi = crit[0], crit[-1]
    r = np.random.default_rng(7).uniform(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), 4000)
    r = np.concatenate([r, crit])  # critical values themselves: the exact path
    wait = np.arange(r.size) % 3 != 0
    N, O0, S, need = tab.lookup(r, wait)
    eN, eO, eS = _exact(e, r)
    assert tab.panels > 0 and np.all(tab.built)
    ok = ~need
    for got, want in ((N, eN), (np.where(wait, O0, 0.0), np.where(wait, eO, 0.0)),
                      (np.where(wait, S, 0.0), np.where(wait, eS, 0.0))):
        scale = np.max(np.abs(want[np.isfinite(want)]))
        assert np.max(np.abs(got[ok] - want[ok])) <= 1e-12 * scale
    assert np.all(need[-crit.size:])  # at a critical value (a jump): never tabulated
    # beyond the critical values: the constants (compared with the exact path above)
    assert not np.any(need[(r < tab.lo_out) | (r > tab.hi_out)])
    assert np.all(np.isnan(N[need]))
    inside = (r > lo) & (r < hi)
    if name == "gittins-hyperexp":
        # 1 / hazard rises to the larger mean, 3, exponentially in the age: near 3 the ages
        # are ill-conditioned (noisy exact values), and [1.8, 3) stays with the exact path
        assert np.all(~need[inside & (r < 1.8)])
    else:
        assert np.mean(need[inside]) < 0.1, "the tables should cover most of the levels"


def test_a_smooth_maximum_is_fitted_in_the_square_root():
    """SERPT's rank on a truncated Weibull(0.5) law rises to a smooth maximum: the ages of a
    level below it go like the square root of the distance, and the interval next to it is
    fitted in that variable (mode 1) rather than halved to the depth limit. Close to the
    maximum the exact path is ill-conditioned (an age off by ``eps / g'``, ``g'`` going to
    0): its values scatter about a smooth curve in that variable by 2.3e-12 (distances 1e-6
    to 1e-8 of the level), the table's by 5.4e-13."""
    e = ENGINES["serpt-truncated"]
    tab = WorkTable(e)
    tab.build(np.arange(tab.ia.size))
    assert np.any((tab.mode == 1) & tab.okN & tab.okW)
    top = critical_values(e)[-1]
    far = top * (1.0 - np.geomspace(1e-2, 1e-6, 40))
    N, _, S, need = tab.lookup(far, np.ones(far.size, dtype=bool))
    eN, _, eS = _exact(e, far)
    assert not np.any(need)
    assert np.max(np.abs(N - eN)) <= 1e-12 * e.law.m1
    assert np.max(np.abs(S - eS)) <= 1e-12 * e.law.m2
    d = np.geomspace(1e-6, 1e-8, 300)
    near = top * (1.0 - d)
    N, _, _, need = tab.lookup(near, np.ones(near.size, dtype=bool))
    eN = _exact(e, near)[0]
    assert not np.any(need) and np.all(np.diff(N) >= 0)  # nondecreasing in the level

    def scatter(v):  # about a smooth curve in sqrt(d)
        s = np.sqrt(d)
        return np.max(np.abs(v - np.polyval(np.polyfit(s, v, 6), s)))

    assert scatter(N) <= min(scatter(eN), 2e-12)
    assert np.max(np.abs(N - eN)) <= 1e-11 * e.law.m1


def test_linear_and_constant_ranks_have_nothing_to_tabulate():
    """FB (a linear rank) and a constant rank never solve for ages: the levels between their
    critical values take the (cheap) exact path, those beyond them the exact constants."""
    law = qt.Weibull(0.5)
    for rank in (AgeRank.linear(1.0), AgeRank.constant(2.0)):
        e = AgeRankAnalysis(law, rank)
        tab = WorkTable(e)
        r = np.concatenate([np.linspace(0.1, 5.0, 50), [-3.0, 1e6]])
        N, O0, S, need = tab.lookup(r, np.ones(r.size, dtype=bool))
        crit = critical_values(e)
        assert tab.ia.size == 0 and tab.panels == 0
        np.testing.assert_array_equal(need, (r >= tab.lo_out) & (r <= tab.hi_out))
        eN, eO, eS = _exact(e, r[~need])
        np.testing.assert_array_equal(N[~need], eN)
        np.testing.assert_array_equal(S[~need], eS)
        assert crit.size >= 1


def test_intervals_are_built_where_enough_levels_fall():
    e = ENGINES["gittins-weibull"]
    tab = WorkTable(e)
    r = np.full(10, 0.5 * (tab.ia[0] + tab.ib[0]))
    tab.lookup(r, np.ones(10, dtype=bool), least=11)
    assert not np.any(tab.built)
    tab.lookup(r, np.ones(10, dtype=bool), least=10)
    assert tab.built[0] and not np.any(tab.built[1:])


def _bucket_classes(k):
    size, pred = qt.Weibull(0.5), qt.ExponentialPrediction()
    edges = np.concatenate([[0.0], pred.marginal_ppf(np.arange(1, k + 1) / (k + 1), size),
                            [np.inf]])
    laws = [PredictionBucket(size, pred, a, b) for a, b in zip(edges[:-1], edges[1:])]
    return [(law.mass, law, gittins_rank(law)) for law in laws]


def test_class_means_with_and_without_tables(monkeypatch):
    """Gittins given 4-bucket advice (exponential noise: the classes' ranks overlap, so
    their levels fall inside each other's critical intervals): the class means with the
    tables equal those of the exact path to 1e-13 relative, and the tables were used."""
    classes = _bucket_classes(4)
    lam = 0.8 / qt.Weibull(0.5).mean
    with_tab = ClassRankAnalysis(classes)
    got, _ = with_tab.class_means(lam)
    assert any(t.panels for t in with_tab._tables.values())
    monkeypatch.setattr(multiclass, "_TABLE_LEAST", 1 << 62)
    plain = ClassRankAnalysis(classes)
    want, _ = plain.class_means(lam)
    assert not any(t.panels for t in plain._tables.values())
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def _nonpreemptive(value):
    """Rank ``value`` at age 0, then -inf: served to completion once started."""
    return AgeRank([RankPiece(0.0, 1e-300, value=value), RankPiece(1e-300, np.inf,
                                                                  value=-np.inf)])


MIXES = {
    # atoms: the work functions are piecewise linear in the ages, kinked at the atoms
    "discrete-gittins": lambda: [
        (0.5, qt.Discrete([0.5, 1.0, 4.0], [0.5, 0.3, 0.2]),
         gittins_rank(qt.Discrete([0.5, 1.0, 4.0], [0.5, 0.3, 0.2]))),
        (0.5, qt.Weibull(0.5), gittins_rank(qt.Weibull(0.5)))],
    # a non-preemptive class (rank -inf after age 0) among preemptive ones
    "nonpreemptive": lambda: [
        (0.3, qt.Exponential(mean=1.0), _nonpreemptive(1.5)),
        (0.4, qt.Lognormal(sigma=1.0, mean=1.0),
         gittins_rank(qt.Lognormal(sigma=1.0, mean=1.0))),
        (0.3, qt.Weibull(0.5), gittins_rank(qt.Weibull(0.5)))],
    # a smooth maximum (SERPT), a linear rank (FB) and a callable one
    "serpt-fb-callable": lambda: [
        (0.4, qt.Truncated(qt.Weibull(0.5), 0.0, 5.0),
         serpt_rank(qt.Truncated(qt.Weibull(0.5), 0.0, 5.0))),
        (0.3, qt.Weibull(2.0), AgeRank.linear(1.0)),
        (0.3, qt.Weibull(0.5), AgeRank.from_callable(lambda a: (a - 1.0) ** 2,
                                                     breakpoints=[1.0], size=qt.Weibull(0.5)))],
}


@pytest.mark.parametrize("name", sorted(MIXES))
def test_tables_everywhere_change_no_class_mean(name, monkeypatch):
    """Every interval tabulated (one level is enough to build it) against none: the class
    means agree to 1e-12 relative on mixes with atoms, a non-preemptive class, a smooth
    maximum, a linear and a callable rank."""
    classes = MIXES[name]()
    m1 = sum(p * law.mean for p, law, _ in classes)
    lam = 0.8 / m1
    monkeypatch.setattr(multiclass, "_TABLE_LEAST", 1)
    tab = ClassRankAnalysis(classes)
    got, _ = tab.class_means(lam)
    assert sum(t.panels for t in tab._tables.values()) > 0
    monkeypatch.setattr(multiclass, "_TABLE_LEAST", 1 << 62)
    want, _ = ClassRankAnalysis(MIXES[name]()).class_means(lam)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


_LAWS = [
    lambda: qt.Exponential(mean=1.0),
    lambda: qt.Weibull(0.5),
    lambda: qt.Weibull(2.0),
    lambda: qt.Lognormal(sigma=1.0, mean=1.0),
    lambda: qt.Discrete([0.5, 1.0, 4.0], [0.5, 0.3, 0.2]),
    lambda: qt.Truncated(qt.Weibull(0.5), 0.0, 5.0),
    lambda: qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
    lambda: qt.Uniform(0.0, 2.0),
    lambda: qt.Pareto(alpha=2.5, xm=1.0),  # a rank growing like the age
]


def _rank(kind, value, law):
    if kind == "gittins":
        return gittins_rank(law)
    if kind == "serpt":
        return serpt_rank(law)
    if kind == "fb":
        return AgeRank.linear(value)
    if kind == "constant":
        return AgeRank.constant(value)
    if kind == "nonpreemptive":
        return _nonpreemptive(value)
    return AgeRank.from_callable(lambda a, c=value: (a - c) ** 2, breakpoints=[value],
                                 size=law)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_LAWS) - 1),
                          st.sampled_from(["gittins", "serpt", "fb", "constant",
                                           "nonpreemptive", "callable"]),
                          st.floats(0.2, 3.0), st.floats(0.1, 1.0)),
                min_size=2, max_size=4),
       st.floats(0.3, 0.9))
def test_tables_everywhere_on_random_mixes(spec, load):
    """Random mixes of laws and ranks (Gittins, SERPT, FB, constant, non-preemptive,
    callable): every interval tabulated against none, class means to 1e-11 relative or
    within the sum of the two analyses' own error estimates where that is larger. Two classes of the
    hyperexponential law ranked by its Gittins or SERPT rank are left out: that rank rises
    to 3 like ``3 - c exp(-5 a / 3)``, flat to rounding past age 20, where one class's
    levels meet the other's rank at ages that rounding decides, with or without tables
    (:func:`test_ranks_flat_to_rounding_across_classes_warn`)."""
    flat = [i == 6 and kind in ("gittins", "serpt") for i, kind, *_ in spec]
    assume(sum(flat) < 2)
    def classes():
        total = sum(w for *_, w in spec)
        out = []
        for i, kind, value, w in spec:
            law = _LAWS[i]()
            out.append((w / total, law, _rank(kind, value, law)))
        return out

    m1 = sum(p * law.mean for p, law, _ in classes())
    lam = load / m1
    old = multiclass._TABLE_LEAST
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", qt.QuadratureWarning)  # (the case above)
            multiclass._TABLE_LEAST = 1
            got, got_err = ClassRankAnalysis(classes()).class_means(lam)
            multiclass._TABLE_LEAST = 1 << 62
            want, err = ClassRankAnalysis(classes()).class_means(lam)
    finally:
        multiclass._TABLE_LEAST = old
    # two computations, each within its own estimate: they differ by at most the sum (a
    # truncated Weibull 0.5 law ranked by SERPT beside Gittins ranks, load 0.5: 1.2e-9 apart
    # with estimates 7.3e-10 each, found 2026-12-06)
    assert np.all(np.abs(got - want) <= np.maximum(1e-11 * np.abs(want), err + got_err))


def test_ranks_flat_to_rounding_across_classes_converge():
    """Two classes of one hyperexponential law, each ranked by its Gittins rank, equal that
    law on its own (1.82487973798766 at load 0.5, single-class engine, estimate 4e-14). The
    rank rises to 3 like ``3 - c exp(-5 a / 3)``, flat to rounding past age 20: one class's
    levels there met the other class's rank at ages that rounding decided, and the analysis
    did not converge (levels 4 to 7), 7.7e-7 off with a QuadratureWarning. The rank's flat
    tail is now a constant (``gittins._flat_tail``: the remaining size is exponential to
    rounding there, so the order of those jobs leaves the mean as it is), and the pair
    agrees with the single class."""
    h = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
    lam = 0.5 / h.mean
    rank = gittins_rank(h)
    assert rank.pieces[1].kind == 0 and rank.pieces[1].value == 3.0
    assert 15.0 < rank.pieces[1].start < 25.0
    pair = ClassRankAnalysis([(0.5, h, gittins_rank(h)), (0.5, h, gittins_rank(h))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        value, err = pair.mean(lam)
    one = AgeRankAnalysis(h, gittins_rank(h)).mean(lam)[0]
    assert value == pytest.approx(one, rel=1e-10)
    assert value == pytest.approx(1.82487973798766, rel=1e-10)
