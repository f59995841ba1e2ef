"""The r-work of a job law from the runs of Phi (qtheory.analysis.phiruns), checked against
the Gittins rank tables and r-work engines, closed forms and SOAP's tagged-job analysis."""

import warnings

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.agerank import AgeRankAnalysis
from qtheory.analysis.gittins import gittins_rank
from qtheory.analysis.multiclass import ClassRankAnalysis
from qtheory.analysis.phiruns import (
    _Fns,
    hazard_extrema,
    illinois,
    level_integral,
    rank_at,
    run_work,
)
from qtheory.analysis.posterior_rwork import SwappedPosteriorAnalysis, gittins_at_zero, law_grid
from qtheory.distributions.point_posterior import point_law

LAWS = {
    "exponential": lambda: qt.Exponential(mean=1.0),
    "weibull 0.5": lambda: qt.Weibull(0.5),  # the rank rises with age
    "weibull 2": lambda: qt.Weibull(2.0),  # the rank falls: old runs [b, inf)
    "uniform": lambda: qt.Uniform(0.0, 1.0),
    "lognormal": lambda: qt.Lognormal(1.5, mean=1.0),  # the hazard rises then falls
    "bounded pareto": lambda: qt.BoundedPareto(1.5, 0.2, 50.0),
    # posteriors: exponential noise (hazard rises and falls back to 1), uniform noise
    # (bounded supports), Weibull 0.5 under uniform noise (a first run and a later one)
    "posterior exp/exp": lambda: point_law(qt.Exponential(mean=1.0),
                                           qt.ExponentialPrediction(), 1.0),
    "posterior weibull 2": lambda: point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 0.8),
    "posterior weibull 0.5": lambda: point_law(qt.Weibull(0.5), qt.UniformPrediction(0.3),
                                               5.0),
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_run_work_equals_the_engines(name):
    """N and S at 400 levels over five decades against the work functions of the Gittins
    rank tables (an independent route: a rank table and its level sets). Measured: N within
    7e-16 of the mean, S within 2e-13 of E[X^2] pointwise and 5e-15 weighted by dr / r^2
    (the r-work integral's weight)."""
    law = LAWS[name]()
    eng = ClassRankAnalysis([(1.0, law, gittins_rank(law))], rtol=1e-11, gittins=True)
    m = float(law.mean)
    r = m * np.geomspace(1e-3, 1e2, 400)
    _, _, S0 = eng._cross_work(0, r, np.ones(r.size, dtype=bool))
    N0 = eng._cross_work(0, r, np.zeros(r.size, dtype=bool))[0]
    N, S = run_work(law, r)
    assert np.max(np.abs(N - N0)) <= 1e-12 * m
    assert np.max(np.abs(S - S0)) <= 1e-11 * float(law.moment(2))
    assert np.sum(np.abs(S - S0) / r) <= 1e-12 * np.sum(S0 / r)


def test_closed_forms():
    """Exponential sizes: first come first served at rank 1 (S = E[X^2] = 2 above it, 0
    below). Uniform sizes on [0, 1]: the rank is the mean remaining size (1 - a) / 2, so
    below level 1/2 the run is [1 - 2 r, 1] and S = (2 r)^3 / 3."""
    N, S = run_work(qt.Exponential(mean=1.0), np.array([0.5, 0.999, 1.001, 4.0]))
    np.testing.assert_allclose(N, [0.0, 0.0, 1.0, 1.0], atol=1e-14)
    np.testing.assert_allclose(S, [0.0, 0.0, 2.0, 2.0], atol=1e-13)
    r = np.array([5e-7, 1e-4, 0.1, 0.3, 0.6, 2.0])
    N, S = run_work(qt.Uniform(0.0, 1.0), r)
    want = np.where(r < 0.5, (2.0 * r) ** 3 / 3.0, 1.0 / 3.0)
    # the run's start 1 - 2 r to a few ulps of 1: relative 3 ulps / (2 r) in its length
    assert np.all(np.abs(S - want) <= (1e-12 + 1e-15 / r) * want)
    np.testing.assert_allclose(N, np.where(r >= 0.5, 0.5, 0.0), atol=1e-15)


@pytest.mark.parametrize("name", ["weibull 0.5", "weibull 2", "lognormal",
                                  "bounded pareto", "uniform"])
@pytest.mark.parametrize("load", [0.0, 0.8])
def test_level_integral_is_the_gittins_mean(name, load):
    """One class alone: with ``weight = 1 / (2 (1 - lambda N))`` and both N and S from the
    runs of Phi, the integral is Gittins' mean response time, against SOAP's tagged-job
    analysis on the rank tables (at load 0, E[X])."""
    law = LAWS[name]()
    lam = load / float(law.mean)
    fns = _Fns(law)
    grid = law_grid(law)

    def weight(r):
        return 1.0 / (2.0 * (1.0 - lam * run_work(law, r, grid, fns)[0]))

    gamma = float(np.asarray(gittins_rank(law)(np.array([0.0])))[0])
    value, err = level_integral(law, weight, gamma, grid, fns)
    if load == 0.0:
        want = float(law.mean)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = AgeRankAnalysis(law, gittins_rank(law)).mean(lam)[0]
    assert value == pytest.approx(want, rel=1e-9)
    assert err <= 1e-9 * value


def test_illinois_and_its_stops():
    """Cube roots to rounding in few steps; a root on an end of its bracket; a function
    whose rounding keeps the bracket from closing (it stops on the secant's step)."""
    calls = []

    def f(x, i):
        calls.append(x.size)
        return x**3 - np.array([2.0, 5.0, 0.5])[i]

    lo, hi = np.array([1.0, 1.0, 0.5]), np.array([2.0, 2.0, 1.0])
    x = illinois(f, lo, hi, f(lo, np.arange(3)), f(hi, np.arange(3)))
    np.testing.assert_allclose(x, np.cbrt([2.0, 5.0, 0.5]), rtol=4e-15)
    assert len(calls) <= 16
    x = illinois(lambda x, i: x - 1.0, np.array([0.0]), np.array([1.0]), np.array([-1.0]),
                 np.array([0.0]))
    assert x[0] == 1.0
    noisy = illinois(lambda x, i: (x - 0.3) + 1e-17 * np.sin(1e9 * x), np.array([0.0]),
                     np.array([1.0]), np.array([-0.3]), np.array([0.7]))
    assert abs(noisy[0] - 0.3) < 1e-15


def test_hazard_extrema_and_rank_at():
    """The lognormal's hazard peaks once (its inverse hazard's minimum, against a dense
    scan); the rank at an age of a rising-hazard law is its mean remaining size, of an
    exponential law its mean."""
    law = qt.Lognormal(1.5, mean=1.0)
    ages, vals = hazard_extrema(law, law_grid(law))
    x = np.geomspace(ages[0] / 2, ages[0] * 2, 200001)
    ih = np.asarray(law.sf(x)) / np.asarray(law.pdf(x))
    assert ages.size == 1
    assert vals[0] == pytest.approx(ih.min(), rel=1e-12)
    u = qt.Uniform(1.0, 3.0)
    np.testing.assert_allclose(rank_at(u, law_grid(u), np.array([1.0, 2.0, 2.9])),
                               [1.0, 0.5, 0.05], rtol=1e-10)
    e = qt.Exponential(mean=2.0)
    np.testing.assert_allclose(rank_at(e, law_grid(e), np.array([0.5, 3.0])), 2.0,
                               rtol=1e-10)


def test_a_switch_of_the_first_runs_end_is_found():
    """Bounded Pareto sizes under lognormal noise, a prediction of 13.97: between the
    inverse hazard's minimum (5.161) and maximum (5.491) the first run ends at an interior
    minimum of Phi or at the support's end, and switches at 5.31192245 (the rank engine's
    critical value there). The node's level integral finds it; with the switch placed by
    the grid's minima instead (4e-6 off) the node's T was 1.3e-7 off."""
    law = point_law(qt.BoundedPareto(1.5, 0.2, 50.0), qt.LognormalPrediction(0.5),
                    13.970113776453983)
    rank = gittins_rank(law)
    eng = ClassRankAnalysis([(1.0, law, rank)], rtol=1e-13, gittins=True)
    crit = np.asarray(eng.engines[0].crit, dtype=float)
    switch = np.unique(crit[(crit > 5.2) & (crit < 5.4)])
    assert np.ptp(switch) <= 1e-12 * switch[0]
    r = switch[0] * np.array([1.0 - 1e-9, 1.0 + 1e-9])
    _, S, sig = run_work(law, r, signature=True)
    _, _, S0 = eng._cross_work(0, r, np.ones(2, dtype=bool))
    assert sig[0] != sig[1]
    np.testing.assert_allclose(S, S0, rtol=1e-9)
    gamma = float(np.asarray(rank(np.array([0.0])))[0])
    value, _ = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma)
    assert value == pytest.approx(float(law.mean), rel=1e-9)


def test_pieces_next_to_a_switch_take_the_rule_in_u(monkeypatch):
    """The node law of the test above: ``int S / (2 r**2) dr = E[X]``. The pieces on both
    sides of the switch of its first run's end take the rule in ``u`` (``s = switch +-
    width u**2``, phiruns._piece_points): at rtol 1e-11 the integral is within 1e-13 of the
    mean. In ``s`` (the same cuts, no grading) it was 3.5e-12 off after the halving rounds,
    beyond its rtol: ``S`` has a square-root singularity there."""
    import qtheory.analysis.phiruns as pr

    law = point_law(qt.BoundedPareto(1.5, 0.2, 50.0), qt.LognormalPrediction(0.5),
                    13.970113776453983)
    gamma = gittins_at_zero(law)
    kinds = []
    plain = pr._piece_points

    def spy(sa, sb, kind, t, w):
        kinds.append(int(np.count_nonzero(kind)))
        return plain(sa, sb, kind, t, w)

    monkeypatch.setattr(pr, "_piece_points", spy)
    value, err = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma, rtol=1e-11)
    assert max(kinds) > 0
    assert abs(value / float(law.mean) - 1.0) < 1e-13
    assert err < 1e-11 * value
    monkeypatch.setattr(pr, "_piece_points",
                        lambda sa, sb, kind, t, w: plain(sa, sb, 0 * kind, t, w))
    in_s, _ = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma, rtol=1e-11)
    assert abs(in_s / float(law.mean) - 1.0) > 1e-12


def test_a_law_with_a_switch_sums_its_other_pieces_at_once(monkeypatch):
    """The node law of the tests above: in the round where a switch of its runs' end is
    found, its other pieces are summed (or halved) then, and the next round takes only the
    pieces cut at the switch and the halves (until the 32nd session it took every piece
    again: 4017 node-law pieces of the bounded Pareto system became 119,000 rows instead
    of 77,000). The integral is E[X] to 1e-13 at rtol 1e-11."""
    import qtheory.analysis.phiruns as pr

    law = point_law(qt.BoundedPareto(1.5, 0.2, 50.0), qt.LognormalPrediction(0.5),
                    13.970113776453983)
    gamma = gittins_at_zero(law)
    pieces, pend = [], []
    plain_points, plain_sum = pr._rule_points, pr._sum_pieces

    def rule_points(nodes_, live, rules, label=None):
        pieces.append(sum(nodes_[i].sa.size for i in live))
        return plain_points(nodes_, live, rules, label)

    def sum_pieces(nn, sn, g, rules, rtol, last, pending=None):
        pend.append(0 if pending is None else int(np.count_nonzero(pending)))
        return plain_sum(nn, sn, g, rules, rtol, last, pending)

    monkeypatch.setattr(pr, "_rule_points", rule_points)
    monkeypatch.setattr(pr, "_sum_pieces", sum_pieces)
    value, err = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma, rtol=1e-11)
    assert pend[0] > 0  # (the first round: the pieces with the switch wait)
    assert pieces[1] < 0.5 * pieces[0]
    assert abs(value / float(law.mean) - 1.0) < 1e-13 and err < 1e-11 * value


def test_sum_pieces_leaves_the_pending_ones_first():
    """_sum_pieces with ``pending``: those pieces stay, first and in their order; the
    others that agree are summed, those that do not are halved after them."""
    from qtheory.analysis.phiruns import _leggauss, _Node, _piece_points, _sum_pieces

    rules = [_leggauss(4), _leggauss(6)]
    nn = _Node(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0]))

    def f(s):  # smooth but on [2, 3], where it kinks
        return 1.0 + np.abs(s - 2.3)

    sn = [_piece_points(nn.sa, nn.sb, nn.kind, t, w)[0] for t, w in rules]
    g = np.concatenate([f(x).ravel() for x in sn])
    pend = np.array([False, True, False, False])
    _sum_pieces(nn, sn, g, rules, 1e-12, False, pend)
    assert nn.result is None
    assert nn.sa.tolist() == [1.0, 2.0, 2.5] and nn.sb.tolist() == [2.0, 2.5, 3.0]
    # (pieces 0 and 3, exact by both rules: the integral of 1 + |s - 2.3| there)
    assert nn.done_v == pytest.approx(2.8 + 2.2, rel=1e-14)


def test_pieces_next_to_a_fold_take_the_rule_in_u(monkeypatch):
    """Lognormal sizes under lognormal noise, the posterior given 0.8 (lognormal itself; its
    inverse hazard has a minimum and a maximum, folds where a run of Phi appears or two
    merge), over the level (route "runs"): ``int S / (2 r**2) dr = E[X]``. With the pieces
    next to the folds in ``u`` (phiruns._fold_node) the integral at rtol 1e-11 is within
    1e-14 of the mean from 435 levels; in ``s`` it was 5e-13 off from 771."""
    import qtheory.analysis.phiruns as pr

    law = point_law(qt.Lognormal(1.0, mean=1.0), qt.LognormalPrediction(0.5), 0.8)
    gamma = gittins_at_zero(law)
    rows = [0]
    runs = pr._runs

    def count(fns, nd, r, signature=False):
        rows[0] += r.size
        return runs(fns, nd, r, signature)

    monkeypatch.setattr(pr, "_runs", count)
    out = {}
    for name, node in (("u", pr._fold_node), ("s", lambda e, f: pr._Node(e[:-1], e[1:]))):
        monkeypatch.setattr(pr, "_fold_node", node)
        rows[0] = 0
        value, err = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma, rtol=1e-11,
                                    route="runs")
        out[name] = (abs(value / float(law.mean) - 1.0), err / value, rows[0])
    assert out["u"][0] < 1e-14 and out["u"][1] < 1e-11
    assert out["u"][2] < 0.7 * out["s"][2]


def test_swapped_mean_by_runs_equals_by_engines():
    """The swapped integral with each node's T from the runs of Phi and from its rank
    engine: the same value within the estimates (Weibull 2 sizes, uniform noise, 6 nodes a
    piece); a bad ``node_work`` is refused."""
    size, pred = qt.Weibull(2.0), qt.UniformPrediction(0.5)
    lam = 0.8 / size.mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, ea = SwappedPosteriorAnalysis(size, pred, nodes=6, node_work="engine").mean(lam)
        b, eb = SwappedPosteriorAnalysis(size, pred, nodes=6, node_work="runs").mean(lam)
    assert abs(a - b) <= 1e-12 * a
    with pytest.raises(ValueError, match="node_work"):
        SwappedPosteriorAnalysis(size, pred, node_work="tables")


def test_cuts_after_halving_cover_each_level_once():
    """Pareto 3.94 sizes under uniform noise 0.51, the posterior given 4.4667 (a switch of
    the first run's end at level 0.99825): with N's cuts, the switch was first seen in a
    piece left after a halving round, and cutting the union of the pieces left integrated
    the gaps between them twice (T 75 % off, with an estimate of 6e-8). Alone at load 0,
    with the same cuts, the integral must be E[X]."""
    size, pred = qt.Pareto(alpha=3.9428582851106517, xm=1.0), \
        qt.UniformPrediction(0.512854868438303)
    a = SwappedPosteriorAnalysis(size, pred, nodes=6)
    a._n_table()
    # (the node law of an earlier rule over the prediction: the rule's pieces now follow
    # the posteriors, and the law is built at its prediction)
    law = point_law(size, pred, 2.9524756427906866 * (1.0 + 0.512854868438303))
    assert law.support[0] == pytest.approx(2.9524756427906866)
    grid = law_grid(law)
    gamma = float(np.asarray(gittins_rank(law)(np.array([0.0])))[0])
    value, err = level_integral(law, lambda r: 0.5 + 0.0 * r, gamma, grid, cuts=a._kcuts)
    assert value == pytest.approx(float(law.mean), rel=1e-11)
    assert err < 1e-10 * value


def _stack_is_each_law(st, laws, idx, x, c):
    """The LawStack ``st``'s functions at the points ``x`` of the laws ``idx`` are each
    law's own, bit for bit; its trunc2 to ``c`` is _Law's to an ulp."""
    from qtheory.analysis.agerank import _Law

    for mine, own in ((st.sf(idx, x), lambda law, v: law.sf(v)),
                      (st.pdf(idx, x), lambda law, v: law.pdf(v)),
                      (st.tail_moment(1, idx, x), lambda law, v: law.tail_moment(1, v)),
                      (st.partial_moment(2, idx, x), lambda law, v: law.partial_moment(2, v)),
                      (st.emin(idx, x), lambda law, v: _Law(law).emin(v))):
        for n, law in enumerate(laws):
            m = idx == n
            np.testing.assert_array_equal(mine[m], own(law, x[m]))
    t2 = st.trunc2(idx, x, c)
    for n, law in enumerate(laws):
        m = idx == n
        np.testing.assert_allclose(t2[m], _Law(law).trunc2(x[m], c[m]), rtol=4e-16, atol=0.0)


def test_law_stack_gives_each_laws_own_values():
    """LawStack: the joined tables of nine node laws looked up in one compiled pass give
    what each law's own methods give, bit for bit (points inside, at and beyond the
    supports, in the laws' untabulated end panels); trunc2 as _Law's to an ulp (its
    vectorised sums)."""
    from qtheory.analysis._lawstack import LawStack

    laws = [point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), y) for y in (0.05, 1.0, 3.0)]
    laws += [point_law(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), y)
             for y in (0.01, 1.0, 8.0)]
    laws += [point_law(qt.BoundedPareto(1.5, 0.2, 50.0), qt.LognormalPrediction(0.5), y)
             for y in (0.3, 2.0, 40.0)]
    st = LawStack(laws)
    assert st.fast
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(laws), 4000)
    x = np.exp(rng.normal(0.0, 2.0, idx.size))
    x[:9] = [law.support[0] for law in laws]
    x[9:18] = [law.support[1] if np.isfinite(law.support[1]) else 1e300 for law in laws]
    idx[:18] = np.tile(np.arange(9), 2)
    c = x * np.exp(np.abs(rng.normal(0.0, 0.5, x.size)))
    c[::5] = np.inf
    c[1::7] = x[1::7] * (1.0 + 1e-5)  # narrow runs: the density's quadrature
    _stack_is_each_law(st, laws, idx, x, c)
    # a stack of untabulated laws: a law at a time
    plain = LawStack([qt.Weibull(2.0), qt.Exponential(mean=2.0)])
    assert not plain.fast
    v = plain.sf(np.array([0, 1]), np.array([1.0, 1.0]))
    assert v.tolist() == [float(qt.Weibull(2.0).sf(1.0)), float(qt.Exponential(2.0).sf(1.0))]


@pytest.mark.parametrize("kind", ["ihaz", "start", "mres"])
def test_law_stack_roots_equal_illinois(kind):
    """LawStack.roots (each bracket to its end in one compiled pass, the rows in chunks on
    the thread pool) gives illinois's roots of the same function bit for bit: node laws
    with trimmed tables, brackets inside and beyond the tables (there a bracket stops for
    the laws' exact paths, a Python call, and resumes), first points inside and outside
    their brackets, a looser tolerance; a stack of untabulated laws takes illinois
    itself."""
    from qtheory.analysis._lawstack import LawStack
    from qtheory.distributions._point_family import build_tables, point_laws

    laws = []
    for size, noise, ys in ((qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
                             (1e-6, 0.01, 1.0, 8.0)),
                            (qt.BoundedPareto(1.5, 0.2, 50.0), qt.LognormalPrediction(0.5),
                             (0.3, 2.0, 40.0))):
        some = point_laws(size, noise, np.array(ys))
        build_tables(some, trim=1e-30)
        laws += some
    st = LawStack(laws)
    assert st.fast and st.neg_lo.any()
    rng = np.random.default_rng(11)
    n = 20000  # (above two chunks' rows)
    idx = rng.integers(0, len(laws), n)
    lo_t, hi_t = st.tmin[idx], st.tmax[idx]
    # roots at points inside the tables, and a tenth beyond each end of them
    u = rng.random(n)
    xs = lo_t * (hi_t / lo_t) ** u
    xs[::10] = hi_t[::10] * (1.0 + rng.random(xs[::10].size))
    xs[5::10] = lo_t[5::10] * (0.5 + 0.5 * rng.random(xs[5::10].size))
    lo = xs * (1.0 - 0.3 * rng.random(n))
    hi = xs * (1.0 + 0.3 * rng.random(n))
    target = rng.random(n) * np.array([float(law.mean) for law in laws])[idx]

    def fun(x, sel, st=st):
        s = st.sf(idx[sel], x)
        with np.errstate(all="ignore"):
            if kind == "ihaz":
                return st.inverse_hazard(idx[sel], x) - r[sel]
            e = np.maximum(st.tail_moment(1.0, idx[sel], x) - x * s, 0.0)
            if kind == "mres":
                return np.where(s > 0, e / s, 0.0) - r[sel]
            v = r[sel] - (e + target[sel]) / s
        return np.where(s > 0, v, np.where(e + target[sel] > 0, -np.inf, r[sel]))

    r = np.zeros(n)
    everyone = np.arange(n)
    if kind == "ihaz":
        r = st.inverse_hazard(idx, xs)
    elif kind == "mres":
        r = fun(xs, everyone)
    else:
        r = -fun(xs, everyone)  # (r - (e + target) / s with r = 0)
    flo, fhi = fun(lo, everyone), fun(hi, everyone)
    x0 = np.where(rng.random(n) < 0.5, xs * (1.0 + 0.4 * rng.normal(size=n)), np.nan)
    want = illinois(fun, lo, hi, flo, fhi, x0=x0)
    got = st.roots(kind, idx, lo, hi, flo, fhi, r, target, x0=x0)
    np.testing.assert_array_equal(got, want)
    inside = (want > lo) & (want < hi)
    assert inside.mean() > 0.8  # (the brackets' roots, most inside)
    # some brackets stopped for the exact paths (the instance's own calls counted)
    seen = []
    own = st.inverse_hazard if kind == "ihaz" else st.tail_moment

    def counted(*a):
        seen.append(1)
        return own(*a)

    setattr(st, "inverse_hazard" if kind == "ihaz" else "tail_moment", counted)
    got2 = st.roots(kind, idx[:300], lo[:300], hi[:300], flo[:300], fhi[:300], r[:300],
                    target[:300], iters=40, xtol=1e-9)
    assert seen
    np.testing.assert_array_equal(got2, illinois(fun, lo[:300], hi[:300], flo[:300],
                                                 fhi[:300], iters=40, xtol=1e-9))
    # untabulated laws: illinois itself
    plain = LawStack([qt.Weibull(2.0), qt.Exponential(mean=2.0)])
    assert not plain.fast
    ip = np.array([0, 1, 1])
    rp = np.array([0.5, 2.0, 2.0])
    lp, hp = np.array([0.01, 0.1, 1.0]), np.array([3.0, 5.0, 9.0])
    if kind == "ihaz":
        want = illinois(lambda x, s: plain.inverse_hazard(ip[s], x) - rp[s], lp, hp,
                        plain.inverse_hazard(ip, lp) - rp, plain.inverse_hazard(ip, hp) - rp)
        got = plain.roots(kind, ip, lp, hp, plain.inverse_hazard(ip, lp) - rp,
                          plain.inverse_hazard(ip, hp) - rp, rp)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(plain.inverse_hazard(ip, got), rp, rtol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        st.roots("nope", idx[:1], lo[:1], hi[:1], flo[:1], fhi[:1], r[:1])


def test_law_stack_of_tabulated_and_untabulated_laws():
    """A stack whose laws are partly tabulated (Weibull 0.5 under uniform noise: the lowest
    predictions' posteriors lie below the tables' first age) gives each law's own values,
    bit for bit, the tabulated ones through the joined tables and the others a law at a
    time; trunc2 as _Law's to an ulp."""
    from qtheory.analysis._lawstack import LawStack, _tabulated

    laws = [point_law(qt.Weibull(0.5), qt.UniformPrediction(0.3), y)
            for y in (1e-16, 0.3, 1e-18, 4.0)] + [qt.Exponential(mean=2.0)]
    tab = [_tabulated(law) for law in laws]
    assert tab == [False, True, False, True, False]
    st = LawStack(laws)
    assert not st.fast and st._mix is not None
    rng = np.random.default_rng(5)
    idx = rng.integers(0, len(laws), 3000)
    x = np.array([float(laws[i].mean) for i in idx]) * np.exp(rng.normal(0.0, 1.5, idx.size))
    c = x * np.exp(np.abs(rng.normal(0.0, 0.5, x.size)))
    c[::5] = np.inf
    _stack_is_each_law(st, laws, idx, x, c)
    np.testing.assert_array_equal(st.hi, [float(law.support[1]) for law in laws])


def test_level_integrals_together_equal_each_alone():
    """level_integrals over several laws at once (one run_work call a round for all) gives
    each law's level_integral alone, to the last bit: node laws of three posteriors, one
    with a switch of its first run's end (Weibull 0.5 under uniform noise)."""
    from qtheory.analysis.phiruns import level_integrals

    laws = [point_law(qt.Weibull(0.5), qt.UniformPrediction(0.3), 5.0),
            point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 0.8),
            point_law(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 1.0)]
    grids = [law_grid(law) for law in laws]
    from qtheory.analysis.posterior_rwork import gittins_at_zero

    gam = [gittins_at_zero(law, g) for law, g in zip(laws, grids)]

    def weight(r):
        return 0.5 / (1.0 - 0.3 * np.minimum(r, 1.0))

    v, e = level_integrals(laws, weight, gam, grids, cuts=[0.7, 2.5])
    for n, law in enumerate(laws):
        v1, e1 = level_integral(law, weight, gam[n], grids[n], cuts=[0.7, 2.5])
        assert (v[n], e[n]) == (v1, e1)


def test_negligible_low_levels_are_bounded_not_computed(monkeypatch):
    """A node law whose lowest levels carry below 1e-14 of its integral (Weibull 2 sizes
    given 3 under uniform noise): those pieces are left out with the bound of _drop_tails,
    the value moves by less than 1e-13 and than both estimates, and fewer levels are done;
    a weight that falls with the level leaves nothing out."""
    from qtheory.analysis import phiruns
    from qtheory.analysis.posterior_rwork import gittins_at_zero

    law = point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 3.0)
    grid = law_grid(law)
    gam = gittins_at_zero(law, grid)
    rows = []
    runs = phiruns._runs

    def counted(fns, nd, r, signature=False):
        rows.append(r.size)
        return runs(fns, nd, r, signature)

    monkeypatch.setattr(phiruns, "_runs", counted)

    def weight(r):
        return 0.5 / (1.0 - 0.5 * np.minimum(r / 4.0, 1.0))

    # (the runs route: this law's inverse hazard falls, and by default its integral is
    # taken over the age, ageint)
    v1, e1 = level_integral(law, weight, gam, grid, route="runs")
    n1 = sum(rows)
    rows.clear()
    with monkeypatch.context() as m:
        m.setattr(phiruns, "_drop_tails", lambda *args: None)
        v0, e0 = level_integral(law, weight, gam, grid, route="runs")
    n0 = sum(rows)
    assert abs(v1 - v0) <= min(1e-13 * v0, e1 + e0)
    assert n1 < 0.8 * n0
    # a weight that falls as the level grows (up by 1e30 below r = 1e-3): the integrand
    # at the edges rises with s there, and nothing is left out
    rows.clear()
    level_integral(law, lambda r: 1.0 + 1e30 * (r < 1e-3), gam, grid, route="runs")
    assert sum(rows) >= n0
