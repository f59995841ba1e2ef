"""Level integrals over the age for laws whose inverse hazard does not rise
(qtheory.analysis.ageint), against the runs route of qtheory.analysis.phiruns, closed forms
and quadrature."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import qtheory as qt
from qtheory.analysis.ageint import age_integrals, falling, weight_integrals
from qtheory.analysis.phiruns import _Fns, level_integral, level_integrals
from qtheory.analysis.posterior_rwork import SwappedPosteriorAnalysis, gittins_at_zero, law_grid
from qtheory.distributions.point_posterior import point_law

FALLING = {
    "exponential": lambda: qt.Exponential(mean=1.0),  # a constant hazard: m(a) constant
    "weibull 1.5": lambda: qt.Weibull(1.5),  # the density like x**0.5 at 0
    "weibull 2": lambda: qt.Weibull(2.0),
    "weibull 3.5": lambda: qt.Weibull(3.5),
    "uniform": lambda: qt.Uniform(0.0, 1.0),
    "uniform 1-2": lambda: qt.Uniform(1.0, 2.0),  # the support starts above 0
    "erlang 3": lambda: qt.Erlang(3, 1.0),
    "truncated weibull 2": lambda: qt.Truncated(qt.Weibull(2.0), 0.2, 1.5),
    "posterior weibull 2": lambda: point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 0.8),
    "posterior erlang 3": lambda: point_law(qt.Erlang(3, 1.0), qt.UniformPrediction(0.5),
                                            2.0),
    "posterior weibull 2 lognormal": lambda: point_law(qt.Weibull(2.0),
                                                       qt.LognormalPrediction(0.5), 1.0),
}
RISING = {
    "weibull 0.5": lambda: qt.Weibull(0.5),
    "lognormal": lambda: qt.Lognormal(1.5, mean=1.0),  # the hazard rises, then falls
    "bounded pareto": lambda: qt.BoundedPareto(1.5, 0.2, 50.0),
    "posterior exp/exp": lambda: point_law(qt.Exponential(mean=1.0),
                                           qt.ExponentialPrediction(), 1.0),
    # density 1/x on the support: the inverse hazard x log(b / x) rises, then falls
    # (exponential sizes: e**-x / x, log-convex, a falling hazard)
    "posterior exponential": lambda: point_law(qt.Exponential(mean=1.0),
                                               qt.UniformPrediction(0.5), 2.0),
    "posterior uniform": lambda: point_law(qt.Uniform(0.0, 1.0), qt.UniformPrediction(0.5),
                                           0.3),
}


class _Step(stats.rv_continuous):
    """Density 1 + 1e-4 on [0, 1/2), 1 - 1e-4 on [1/2, 1]: the inverse hazard falls
    everywhere but at 1/2, where it jumps up by 1e-4 (relative), less than it falls
    between two ages of the law's grid."""

    def _pdf(self, x):
        return np.where(x < 0.5, 1.0 + 1e-4, 1.0 - 1e-4)

    def _cdf(self, x):
        return np.where(x < 0.5, (1.0 + 1e-4) * x, 0.5 + 0.5e-4 + (1.0 - 1e-4) * (x - 0.5))


def _weight(r):
    """A weight like the r-work integral's, rising with the level, with kinks at r = 0.7
    and r = 2.5 (cuts at s = 1 / 0.7 and 0.4)."""
    return 0.5 / (1.0 - 0.3 * np.minimum(r, 0.7) / 0.7 - 0.1 * np.minimum(r, 2.5) / 2.5)


@pytest.mark.parametrize("name", sorted(FALLING) + sorted(RISING))
def test_falling_says_which_laws_qualify(name):
    law = (FALLING | RISING)[name]()
    assert bool(falling(_Fns([law]))[0]) == (name in FALLING)


def test_a_jump_up_of_the_inverse_hazard_at_a_breakpoint_is_seen():
    """The jump at 1/2 is below what the inverse hazard falls between two grid ages: only
    the breakpoint's two sides show it (without the breakpoint the law would pass)."""
    law = qt.ScipyDistribution(_Step(a=0.0, b=1.0)(), breakpoints=(0.5,))
    assert not falling(_Fns([law]))[0]
    blind = qt.ScipyDistribution(_Step(a=0.0, b=1.0)())
    assert falling(_Fns([blind]))[0]


@pytest.mark.parametrize("name", sorted(FALLING))
def test_age_route_equals_runs_route(name):
    """The level integral over the age against the runs of Phi over the level, both at
    rtol 1e-11, with a weight that kinks at two levels: within 1e-10 (relative) and
    within their estimates (the runs route leaves out the levels below 2**-40 of the
    mean, a share far below that)."""
    law = FALLING[name]()
    grid = law_grid(law)
    gam = gittins_at_zero(law, grid)
    cuts = [1.0 / 0.7, 1.0 / 2.5]
    va, ea = level_integral(law, _weight, gam, grid, cuts=cuts, rtol=1e-11)
    vr, er = level_integral(law, _weight, gam, grid, cuts=cuts, rtol=1e-11, route="runs")
    assert abs(va - vr) <= 1e-10 * vr
    assert abs(va - vr) <= ea + er + 1e-14 * vr
    assert ea <= 1e-10 * va


def test_uniform_sizes_closed_form():
    """Uniform sizes on [0, 1]: below the level 1/2 the run is [1 - 2 r, 1] and
    S = (2 r)**3 / 3, above it E[X^2] = 1/3; with weight 1 / (1 + r) the integral of
    S weight / r**2 in closed form (and by scipy's quad)."""
    law = qt.Uniform(0.0, 1.0)

    def w(r):
        return 1.0 / (1.0 + r)

    # int_0^(1/2) 8 r / (3 (1 + r)) dr and int_(1/2)^inf dr / (3 r^2 (1 + r))
    want = 8.0 / 3.0 * (0.5 - np.log(1.5)) + (2.0 - np.log(3.0)) / 3.0
    check = integrate.quad(lambda r: (2.0 * r) ** 3 / 3.0 * w(r) / r**2, 0.0, 0.5)[0] \
        + integrate.quad(lambda r: w(r) / (3.0 * r**2), 0.5, np.inf)[0]
    assert check == pytest.approx(want, rel=1e-12)
    v, e = age_integrals(_Fns([law]), [0], w, rtol=1e-12)
    assert v[0] == pytest.approx(want, rel=1e-12)
    assert e[0] <= 1e-11 * v[0]


def test_weight_integrals_closed_form_and_each_as_alone():
    """int_0^x ds / (1 + s) = log(1 + x) for several ends at once, with cuts; each end's
    value and estimate are those it has alone, bit for bit (the shared pieces lie between
    the cuts, whatever the other ends)."""
    ends = np.array([0.3, 2.0, 7.5, 40.0, 1e4])

    def w(r):
        return 1.0 / (1.0 + 1.0 / r)  # weight(1 / s) = 1 / (1 + s)

    v, e = weight_integrals(w, ends, cuts=[1.0, 5.0, 100.0], rtol=1e-12)
    np.testing.assert_allclose(v, np.log1p(ends), rtol=1e-13)
    assert np.all(e <= 1e-12 * v)
    for i, x in enumerate(ends):
        v1, e1 = weight_integrals(w, np.array([x]), cuts=[1.0, 5.0, 100.0], rtol=1e-12)
        assert (v1[0], e1[0]) == (v[i], e[i])


def test_level_integrals_mixes_both_routes():
    """Falling and rising laws in one call: each law's value is the one it has alone, and
    the falling ones take the age route (their runs route differs from it by rounding
    and quadrature only)."""
    laws = [FALLING["posterior weibull 2"](), RISING["posterior exp/exp"](),
            FALLING["weibull 2"]()]
    grids = [law_grid(law) for law in laws]
    gam = [gittins_at_zero(law, g) for law, g in zip(laws, grids)]
    v, e = level_integrals(laws, _weight, gam, grids, cuts=[1.0 / 0.7, 0.4])
    vr, er = level_integrals(laws, _weight, gam, grids, cuts=[1.0 / 0.7, 0.4], route="runs")
    for n, law in enumerate(laws):
        v1, e1 = level_integral(law, _weight, gam[n], grids[n], cuts=[1.0 / 0.7, 0.4])
        assert (v[n], e[n]) == (v1, e1)
    assert v[1] == vr[1] and e[1] == er[1]  # (the rising law: the runs route)
    assert np.all(np.abs(v - vr) <= e + er + 1e-14 * v)
    with pytest.raises(ValueError, match="route"):
        level_integrals(laws, _weight, gam, grids, route="age")


def test_n_of_falling_laws_without_the_grid_scans(monkeypatch):
    """N of Gittins on the posterior: with every node law's inverse hazard falling, the
    first run ends at the end of the support and N skips the grid scans; the values equal
    those of the scans (forced by calling no law falling) to 1e-15 of E[X]."""
    import qtheory.analysis.ageint as ageint

    size, noise = qt.Weibull(2.0), qt.UniformPrediction(0.5)
    a = SwappedPosteriorAnalysis(size, noise, rtol=1e-8)
    r = float(size.mean) * np.geomspace(1e-3, 10.0, 300)
    fast = a.N(r)
    assert a._nstack()[2].all()
    b = SwappedPosteriorAnalysis(size, noise, rtol=1e-8)
    monkeypatch.setattr(ageint, "falling", lambda fns: np.zeros(len(fns.laws), dtype=bool))
    slow = b.N(r)
    assert not b._nstack()[2].any()
    assert np.max(np.abs(fast - slow)) <= 1e-15 * float(size.mean)


def test_flat_weight_cuts_are_dropped_within_the_bound():
    """Cuts at levels where the weight is within rtol / 1000 of its value below them all
    are dropped (a weight flat below r = 0.01, kinked above): the integral moves by less
    than rtol / 500 of itself, and the cuts where it varies are kept."""
    from qtheory.analysis import ageint

    def w(r):
        return 0.5 + 2e-9 * np.minimum(r, 1e-3) + 0.2 * np.clip(r - 0.01, 0.0, 0.5)

    cuts = 1.0 / np.array([1e-4, 3e-4, 1e-3, 0.02, 0.1, 0.3])
    kept = ageint._flat_cuts(w, np.sort(cuts), 1e-8)
    assert np.allclose(np.sort(1.0 / kept), [0.02, 0.1, 0.3])
    assert ageint._flat_cuts(w, np.sort(cuts), 1e-16).size == cuts.size
    law = point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 0.05)  # (levels near 0.05)
    grid = law_grid(law)
    v, e = age_integrals(_Fns([law], [grid]), [0], w, cuts=cuts, rtol=1e-8)
    v0, e0 = age_integrals(_Fns([law], [grid]), [0], w, cuts=cuts, rtol=1e-16)
    assert abs(v[0] - v0[0]) <= 2e-3 * 1e-8 * v0[0] + e[0] + e0[0]


def test_squared_run_work_near_a_bounded_end():
    """E[((X - a)^+)^2] of the age route (one lookup of each tail moment, the narrow
    intervals' quadrature where the differences lose ten digits) against LawStack.trunc2
    (the runs route's) at ages closing on the end of a posterior's support: within 1e-9
    relative (ten digits kept) down to 1e-12 of the end."""
    from qtheory.analysis import ageint

    law = FALLING["posterior weibull 2"]()
    fns = _Fns([law])
    end = float(law.support[1])
    x = end * (1.0 - np.geomspace(1e-12, 0.5, 200))
    nd = np.zeros(x.size, dtype=np.int64)
    S = ageint._tail_work(fns, x, nd)[0]
    want = fns.st.trunc2(nd, x, np.full(x.size, end))
    assert np.all(np.abs(S - want) <= 1e-9 * want)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["weibull", "gamma", "uniform", "posterior"]),
       shape=st.floats(1.0, 5.0), lo=st.floats(0.0, 2.0), y=st.floats(0.05, 5.0),
       knee=st.floats(0.05, 3.0), slope=st.floats(0.0, 0.4))
def test_routes_agree_on_random_falling_laws(kind, shape, lo, y, knee, slope):
    """Random laws with a rising hazard (Weibull and gamma of shape at least 1, uniform,
    posteriors of Weibull sizes under uniform noise) and a weight that kinks at a random
    level: the age route and the runs route agree within their estimates (rtol 1e-10), and
    each is within 1e-9 of the other."""
    law = {"weibull": lambda: qt.Weibull(shape),
           "gamma": lambda: qt.Gamma(shape, mean=1.0),
           "uniform": lambda: qt.Uniform(lo, lo + shape),
           "posterior": lambda: point_law(qt.Weibull(shape), qt.UniformPrediction(0.5), y)}[
        kind]()
    grid = law_grid(law)
    if not falling(_Fns([law], [grid]))[0]:
        return  # (the grid says the hazard falls somewhere: the runs route alone)
    gam = gittins_at_zero(law, grid)
    m = float(law.mean)

    def w(r):
        return 0.5 / (1.0 - slope * np.minimum(r, knee * m) / (knee * m))

    cuts = [1.0 / (knee * m)]
    va, ea = level_integral(law, w, gam, grid, cuts=cuts, rtol=1e-10)
    vr, er = level_integral(law, w, gam, grid, cuts=cuts, rtol=1e-10, route="runs")
    assert abs(va - vr) <= ea + er + 1e-13 * vr
    assert abs(va - vr) <= 1e-9 * vr


@pytest.mark.parametrize("name", ["exponential", "weibull 1.5", "erlang 3", "uniform 1-2"])
def test_alone_at_load_zero_the_mean(name):
    """Alone at load 0 (weight 1/2) the level integral over the age is E[X] to 1e-13:
    the rank at age 0 taken as the mean (a computed one fell 3e-5 below it under
    exponential sizes, and the value was 3e-5 off), and the pieces graded towards a lower
    end where the density vanishes (Weibull 1.5: 3.1e-7 off before)."""
    law = FALLING[name]()
    grid = law_grid(law)
    v, e = level_integral(law, lambda r: 0.5 + 0.0 * r, gittins_at_zero(law, grid), grid,
                          rtol=1e-10)
    assert v == pytest.approx(float(law.mean), rel=1e-13)
    assert e <= 1e-11 * v
