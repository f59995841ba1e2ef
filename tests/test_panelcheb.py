"""The Chebyshev tables of a posterior law (:mod:`qtheory.distributions._panelcheb`) against the
exact path they replace (panel sums plus a Gauss-Legendre rule on the piece, and the closed-form
density), on bucket and point posteriors of several size and noise laws; and the lookups' edge
cases (NaN, points outside the support or the panels, panels without a table)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.distributions._panelcheb import (
    N_CHEB,
    first_kind_points,
    fit_panels,
    fit_power_panels,
    moments_lookup,
    panel_lookup,
    panel_points,
)
from qtheory.distributions.point_posterior import point_law
from qtheory.distributions.posterior import PredictionBucket

LAWS = {
    "exp-expZ-0.5-2": lambda: PredictionBucket(qt.Exponential(mean=1.0),
                                               qt.ExponentialPrediction(), 0.5, 2.0),
    "exp-expZ-2-inf": lambda: PredictionBucket(qt.Exponential(mean=1.0),
                                               qt.ExponentialPrediction(), 2.0, np.inf),
    "weib2-unifZ": lambda: PredictionBucket(qt.Weibull(shape=2.0, scale=1.0),
                                            qt.UniformPrediction(0.5), 0.5, 2.0),
    "weib.5-lognZ": lambda: PredictionBucket(qt.Weibull(shape=0.5, scale=1.0),
                                             qt.LognormalPrediction(0.7), 0.5, 2.0),
    "logn-expZ-1-inf": lambda: PredictionBucket(qt.Lognormal(sigma=1.0),
                                                qt.ExponentialPrediction(), 1.0, np.inf),
    # a bounded law: the first and last panels reach 0 (tables of C / d**p, modes 4 and 5)
    "bp-unifZ-0-0.5": lambda: PredictionBucket(qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
                                               qt.UniformPrediction(0.5), 0.0, 0.5),
    # a bucket whose window closes inside the size law's support, at both ends (sizes in
    # [1/3, 2]): panels graded towards each end (posterior._graded)
    "exp-unifZ-0.5-1": lambda: PredictionBucket(qt.Exponential(mean=1.0),
                                                qt.UniformPrediction(0.5), 0.5, 1.0),
    "point-exp-expZ": lambda: point_law(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
                                        1.0),
    "point-bp-lognZ": lambda: point_law(qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
                                        qt.LognormalPrediction(0.5), 3.0),
    # a density falling by e**14 across its last panel, to a finite end (support [2, 6]):
    # that panel cut towards the end (posterior._build_edges), the tails there 1e-16
    # of the mass and noisier than 8 eps of themselves (log tables)
    "point-weib2-unifZ-3": lambda: point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 3.0),
}


def sample_points(law, n=1500, seed=0):
    """Points of the panels' range: log-spaced over 9 decades and uniform near the median."""
    rng = np.random.default_rng(seed)
    lo, hi = law.support
    top = hi if np.isfinite(hi) else 1e3 * law.scale
    x = np.concatenate([np.geomspace(max(lo, 1e-6 * law.scale), top, n),
                        rng.uniform(lo, min(top, 10.0 * law.scale), n)])
    return np.sort(x[(x >= law._tmin) & (x < law._tmax)])


@pytest.mark.parametrize("name", list(LAWS))
def test_tables_match_the_exact_path(name):
    """Both sides, orders 0, 1, 2: within 2e-13 relative of the panel sums plus the 16-point
    rule wherever the value is above 1e-200 (below, both carry the rounding of subnormal
    densities); the density within 5e-13 of the closed form."""
    law = LAWS[name]()
    x = sample_points(law)
    for k in (0.0, 1.0, 2.0):
        for tail in (False, True):
            table = law._cheb_table(k, tail)
            fast = panel_lookup(x, *table)
            exact = law._panel_values(k, x, tail)
            # NaN exactly on the panels without a table (the law takes the exact path there)
            j = np.clip(np.searchsorted(table[0], x, side="right") - 1, 0, table[0].size - 1)
            np.testing.assert_array_equal(np.isnan(fast), table[3][j] == 0)
            fast = np.where(np.isnan(fast), exact, fast)
            big = exact > 1e-200
            assert big.sum() > 500
            rel = np.abs(fast[big] - exact[big]) / exact[big]
            assert np.max(rel) < 2e-13, (k, tail, np.max(rel))
            assert np.all(fast[~big] < 1e-199)
    dens, closed = law.pdf(x), law._pdf_exact(x)
    big = closed > 1e-200
    assert np.max(np.abs(dens[big] - closed[big]) / closed[big]) < 5e-13
    # the tables cover nearly every panel (the others keep the exact path)
    a, _, _, mode, _ = law._cheb_table(0.0, False)
    assert np.count_nonzero(mode == 0) <= 2 and a.size >= 10


@pytest.mark.parametrize("name", ["exp-expZ-0.5-2", "weib2-unifZ"])
def test_public_functions_match_the_exact_path(name):
    """cdf, sf, partial and tail moments through the tables against :meth:`_moments_exact`
    with the tables switched off (every panel in mode 0, so the exact path everywhere)."""
    law, ref = LAWS[name](), LAWS[name]()
    x = np.concatenate([sample_points(law, 300), [law.support[0], 0.0, 1e9, np.nan]])
    ref.cdf(x[:3])
    for key, (a, b, coef, mode, anchor) in list(ref._cheb_cache.items()):
        ref._cheb_cache[key] = (a, b, coef, np.zeros_like(mode), anchor)
    for fn in ("cdf", "sf"):
        got, want = getattr(law, fn)(x), getattr(ref, fn)(x)
        np.testing.assert_allclose(got, want, rtol=2e-13, atol=1e-300)
    for k in (1.0, 2.0):
        for fn in ("partial_moment", "tail_moment"):
            got, want = getattr(law, fn)(k, x), getattr(ref, fn)(k, x)
            np.testing.assert_allclose(got, want, rtol=2e-13, atol=1e-300)
    assert np.isnan(law.cdf(np.nan)) and np.isnan(law.pdf(np.nan))
    assert isinstance(law.cdf(1.0), float) and law.cdf(np.array([[1.0, 2.0]])).shape == (1, 2)
    # the four functions of the Gittins rank in one pass: the same values
    four = law.tails_at(x)
    for got, want in zip(four, (law.sf(x), law.cdf(x), law.partial_moment(1.0, x),
                                law.tail_moment(1.0, x))):
        np.testing.assert_array_equal(got, want)


def test_monotone_to_one_ulp_near_the_top():
    """Mode 1 tabulates the piece of a panel, not the cumulative value: the cdf keeps rising
    (to an ulp) where its increments fall below the ulp of 1."""
    law = LAWS["exp-expZ-0.5-2"]()
    x = np.geomspace(5.0, 60.0, 400)
    c, s = law.cdf(x), law.sf(x)
    assert np.all(np.diff(c) >= -np.spacing(1.0))
    assert np.all(np.diff(s) <= np.spacing(s[:-1]))


def test_fit_modes_and_lookup_edge_cases():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0])
    x = panel_points(a, b)
    c = np.exp(-x**2)  # a tail: C varies by e**-7 ... e**-9 on a panel
    pieces = np.vstack([np.log(x[0]), c[1], np.zeros(N_CHEB), np.abs(np.sin(9 * x[3]))])
    anchors = np.array([1.0, 0.0, 0.0, 0.0])
    coef, mode, anchor = fit_panels(pieces, anchors)
    # panel 0: 1 + log x varies by less than 5x: the piece; panel 1: e**-x**2 over a panel of
    # width 1 near x = 2 varies 150x: its log; panel 2: zero; panel 3: |sin| has zeros: none
    assert mode.tolist() == [1, 2, 3, 0]
    pts = np.array([1.3, 2.6, 3.5, 4.5, 0.5, 7.0])
    v = panel_lookup(pts, a, b, coef, mode, anchor)
    assert v[0] == pytest.approx(1.0 + np.log(1.3), rel=1e-15)
    assert v[1] == pytest.approx(np.exp(-2.6**2), rel=1e-14)
    assert v[2] == 0.0 and np.isnan(v[3])
    assert v[4] == pytest.approx(1.0 + np.log(1.0), abs=1e-15)  # clamped to the first panel
    assert np.isnan(v[5])  # clamped to the last panel, which has no table
    # moments_lookup: support ends, the panels' range, NaN, the clip and the cap at the moment
    out, need, n = moments_lookup(np.array([np.nan, 0.5, 1.5, 9.0, 4.5, 1.2]), a, b, coef, mode,
                                  anchor, 1.0, 6.0, 1.0, 5.0, 2.0, 0.9, False, True)
    assert np.isnan(out[0]) and out[1] == 0.0 and out[3] == 0.9
    assert out[2] == pytest.approx(min((1.0 + np.log(1.5)) / 2.0, 0.9))
    assert need.tolist() == [False, False, False, False, True, False] and n == 1
    assert 0.0 <= out[5] <= 0.9


def test_power_modes_at_a_zero_end():
    """Modes 4 and 5: C / d**p with the least whole power that fits, the value's relative
    precision kept up to the zero end; a quotient that is not smooth (a kink) gets no table."""
    a, b = np.array([1.0, 1.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0, 2.0])
    x = first_kind_points(a, b)
    vals = np.vstack([(x[0] - 1.0) * np.exp(x[0]),             # p = 1 at the left end
                      (2.0 - x[1])**2 * (1.0 + x[1]),            # p = 2 at the right end
                      (x[2] - 1.0)**3 / x[2],                     # p = 3 at the left end
                      (x[3] - 1.0) * np.abs(x[3] - 1.5) + 1e-3])  # a kink: no table
    coef, mode, power = fit_power_panels(vals, a, b, np.array([True, False, True, True]))
    assert mode.tolist() == [4, 5, 4, 0] and power[:3].tolist() == [1.0, 2.0, 3.0]
    for j, (z, want) in enumerate([(1.0 + 1e-12, 1e-12 * np.exp(1.0 + 1e-12)),
                                   (2.0 - 1e-9, 1e-18 * (3.0 - 1e-9)),
                                   (1.0 + 1e-6, 1e-18 / (1.0 + 1e-6)),
                                   (1.7, 1.3)]):
        v = panel_lookup(np.array([z, 1.37]), a[j:j + 1], b[j:j + 1], coef[j:j + 1],
                         mode[j:j + 1], power[j:j + 1])
        if mode[j] == 0:
            assert np.all(np.isnan(v))
            continue
        assert v[0] == pytest.approx(want, rel=1e-14)
        assert v[0] > 0.0 and np.isfinite(v[1])


@pytest.mark.parametrize("size, pred, thresholds", [
    (qt.Exponential(mean=1.0), qt.ExponentialPrediction(), (1.0,)),
    # heavy and kinky: a rank rising to its asymptote 3, support ends, kink crossings
    (qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)), qt.UniformPrediction(0.5),
     (1.0,)),
    (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.UniformPrediction(0.5), (0.5, 2.0)),
])
def test_gittins_buckets_noisy_against_the_exact_path(size, pred, thresholds):
    """GittinsBuckets through the tables (and Chebyshev hazard and residual pieces) against
    the same analysis with the tables switched off, to 1e-12 (measured: 2.2e-16 and 1.1e-16
    for the two heavy cases), both by SOAP, which depends on the ranks' order only; the
    default r-work integral, which uses the ranks' values, within 1e-11 (measured 1.6e-12
    and 1.0e-12 on the first and the last)."""
    from qtheory.analysis.multiclass import ClassRankAnalysis
    from qtheory.policies import GittinsBuckets

    pol = GittinsBuckets(thresholds=thresholds)
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    fast = q.mean_response_time(pol, method="soap")
    assert q.mean_response_time(pol) == pytest.approx(fast, rel=1e-11)

    class Exact(PredictionBucket):
        tabulated = False
        tails_at = None  # the Gittins rank then calls the four functions one by one

        def _moments(self, k, x, tail, clip=False):
            x = np.asarray(x, dtype=float)
            out = self._moments_exact(k, x.ravel(), tail, self.moment(k))
            out = np.where(np.isnan(x.ravel()), np.nan, out)
            out = np.clip(out, 0.0, 1.0) if clip else out
            out = out.reshape(x.shape)
            return float(out) if out.ndim == 0 else out

        def pdf(self, x):
            return self._pdf_exact(x)

    laws = [(p, Exact(size, pred, law.low, law.high)) for p, law in
            pol.bucket_laws(size, pred)]
    ranks = pol.age_ranks_of(laws)
    exact = ClassRankAnalysis([(p, law, r) for (p, law), r in
                               zip(laws, ranks)]).mean(0.8 / size.mean)[0]
    assert fast == pytest.approx(exact, rel=1e-12)


def test_the_panels_reach_further_for_a_power_tail():
    """A bucket of Pareto(2.5) sizes: the panels run past median * 2**50 while the size
    law's tail E[X; X > t] is above 1e-30 of its mean (to 2**66 here), and the tables
    there agree with the quadrature over the noise; a lognormal law's stop at 2**50."""
    from qtheory.distributions.posterior import PredictionBucket

    law = PredictionBucket(qt.Pareto(alpha=2.5, xm=1.0), qt.LognormalPrediction(0.5), 2.0,
                           np.inf)
    assert law._tmax > law._med * 2.0**60
    x = np.geomspace(law._med * 2.0**51, law._tmax / 2.0, 20)
    for k in (0.0, 1.0):
        got = law.tail_moment(k, x)
        want = law._raw(k, x, np.full(x.size, np.inf), "tail moment") / law.mass
        assert np.max(np.abs(got / want - 1.0)) < 1e-12
    light = PredictionBucket(qt.Lognormal(sigma=1.0, mean=1.0), qt.LognormalPrediction(0.5),
                             2.0, np.inf)
    assert light._tmax == light._med * 2.0**50


@pytest.mark.parametrize("low, high", [(0.5, 1.0), (1.0, 2.0), (2.0, np.inf)])
def test_panels_graded_towards_a_closing_window(low, high, monkeypatch):
    """A bucket of a uniformly noisy prediction holds sizes from ``low / 1.5`` up: its partial
    moments grow like a power of the distance to that end. With the panels graded towards it
    (each at most 2.5 times as far from the end at its far edge as at its near edge) every
    panel has a table; without, the panel after the first had none (its points took the
    exact path: 97k points a value of SPRPT in four classes by such a prediction)."""
    import qtheory.distributions.posterior as post

    def modes(law):
        return [law._cheb_table(k, tail)[3] for k in (0.0, 1.0, 2.0) for tail in (False, True)]

    law = PredictionBucket(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), low, high)
    a, b = law._edges()
    assert law.support[0] == pytest.approx(low / 1.5) and a[0] == law.support[0]
    np.testing.assert_array_equal(a[1:], b[:-1])  # still a partition of the panels' range
    lo = law.support[0]
    inner = a > lo
    assert np.all((b[inner] - lo) <= post._GRADE * (a[inner] - lo) * (1.0 + 1e-12))
    hi = law.support[1]
    if np.isfinite(hi):  # likewise towards the upper end (a tail moment reaches 0 there)
        assert b[-1] == hi
        inner = b < hi
        assert np.all((hi - a[inner]) <= post._GRADE * (hi - b[inner]) * (1.0 + 1e-12))
    assert all(np.count_nonzero(m == 0) == 0 for m in modes(law))
    x = sample_points(law, 400)
    for k in (0.0, 2.0):
        np.testing.assert_allclose(law.partial_moment(k, x),
                                   law._moments_exact(k, x, False, law.moment(k)),
                                   rtol=2e-13, atol=1e-300)
    monkeypatch.setattr(post, "_GRADE", np.inf)
    ungraded = PredictionBucket(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), low, high)
    assert ungraded._edges()[0].size < a.size
    assert any(np.count_nonzero(m == 0) > 0 for m in modes(ungraded))


def _pair_points(law, seed):
    """Points over the panels, beyond them (the exact path), at the support's ends, and NaN."""
    rng = np.random.default_rng(seed)
    lo, hi = law.support
    x = np.concatenate([sample_points(law, 400, seed),
                        law._tmin * np.array([1e-3, 0.5]), law._tmax * np.array([1.5, 10.0]),
                        [lo, hi, 0.0, np.inf, np.nan]])
    x = x[(x >= 0) | np.isnan(x)]
    return x[rng.permutation(x.size)]


@pytest.mark.parametrize("name", list(LAWS))
def test_fused_lookups_equal_one_order_at_a_time(name):
    """moments012 (three tables in one pass, the Clenshaw sums interleaved) and prob_between
    (one pass for both ends) give the one-order lookups' values bit for bit, the exact path's
    points included."""
    from qtheory.distributions.base import SizeDistribution

    law = LAWS[name]()
    x = _pair_points(law, 3)
    with np.errstate(all="ignore"):
        for tail in (False, True):
            fused = law.moments012(x, tail)
            one = [(law.tail_moment if tail else law.partial_moment)(k, x) for k in (0, 1, 2)]
            for k in range(3):
                same = (fused[k] == one[k]) | (np.isnan(fused[k]) & np.isnan(one[k]))
                assert same.all(), (name, tail, k, x[~same][:3])
        y = x * np.exp(np.random.default_rng(4).exponential(1.0, x.size))
        got = law.prob_between(x, y)
        ref = SizeDistribution.prob_between(law, x, y)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    assert same.all(), (name, x[~same][:3])


def test_a_steep_finite_end_has_tables():
    """Weibull 2 sizes given the prediction 3 under uniform noise 0.5: every panel of every
    table has one (until the 26th session the last panel, [4.67, 6], had none on the tail
    side, and its points took the exact path: a fifth of Gittins on the posterior's node
    level integrals), and the end panel was cut towards the end."""
    law = LAWS["point-weib2-unifZ-3"]()
    a, b = law._edges()
    assert b[-1] == 6.0 and b[-1] - a[-1] < 0.1
    for k in (0.0, 1.0, 2.0):
        for tail in (False, True):
            assert np.all(law._cheb_table(k, tail)[3] > 0)
    assert np.all(law._density_table()[3] > 0)


@pytest.mark.parametrize("size, noise, y", [
    (qt.Weibull(2.0), qt.LognormalPrediction(0.5), 0.9),
    (qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 20.0),
    (qt.Lognormal(1.0, mean=1.0), qt.LognormalPrediction(0.5), 2000.0)])
def test_panels_where_the_density_underflows_are_joined(size, noise, y, monkeypatch):
    """A point posterior's panels run from 2**-40 to 2**50 of the median; where ``f w``
    underflows to 0 at every node of both halves' rules, runs of such panels (but the ones
    next to a panel where it does not) are one panel (posterior._merge_zero). The law has
    a third to a half fewer panels, and its functions are the unjoined law's bit for bit
    over 30 decades (the joined panels' tables are constant, and the density's fits next
    to the density's last subnormal values are those of the unjoined panels)."""
    import qtheory.distributions.posterior as post

    law = point_law(size, noise, y)
    a, b = law._edges()
    monkeypatch.setattr(post, "_merge_zero", lambda a, b, zero: (a, b))
    plain = point_law(size, noise, y)
    pa, pb = plain._edges()
    assert a.size < 0.7 * pa.size
    np.testing.assert_array_equal(a[1:], b[:-1])  # still a partition of the same range
    assert a[0] == pa[0] and b[-1] == pb[-1]
    wide = np.flatnonzero(b / a > 4.0 * np.max(pb / pa))
    assert wide.size  # the joined panels, their density 0 at 200 points each
    u = np.linspace(0.0, 1.0, 202)[1:-1]
    pts = (a[wide, None] + (b - a)[wide, None] * u[None, :]).ravel()
    assert np.all(law.pdf(pts) == 0.0)
    x = np.exp(np.linspace(np.log(1e-14), np.log(1e16), 3001))
    for f in (lambda v, m: m.sf(v), lambda v, m: m.pdf(v), lambda v, m: m.partial_moment(1, v),
              lambda v, m: m.tail_moment(2, v)):
        np.testing.assert_array_equal(f(x, law), f(x, plain))
