"""Tables of many point posteriors built together (qtheory.distributions._point_family)
against each law's own tables: the same arrays, bit for bit."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.distributions._point_family import build_tables
from qtheory.distributions.point_posterior import PredictionPoint
from qtheory.distributions.posterior import PredictionBucket

FAMILIES = {
    # bounded posteriors (uniform noise): a steep end panel, power fits at both ends
    "weibull 2, uniform": (lambda: qt.Weibull(2.0), lambda: qt.UniformPrediction(0.5),
                           np.geomspace(0.02, 5.0, 12)),
    # unbounded ones with hundreds of panels a law (evaluated in blocks)
    "exponential, exponential": (lambda: qt.Exponential(mean=1.0), qt.ExponentialPrediction,
                                 np.geomspace(1e-6, 20.0, 8)),
    "weibull 0.5, uniform": (lambda: qt.Weibull(0.5), lambda: qt.UniformPrediction(0.3),
                             np.geomspace(1e-8, 50.0, 8)),
    "bounded pareto, lognormal": (lambda: qt.BoundedPareto(1.5, 0.2, 50.0),
                                  lambda: qt.LognormalPrediction(0.5),
                                  np.geomspace(0.05, 80.0, 8)),
}


def _own(law):
    for k in (0.0, 1.0, 2.0):
        for side in (False, True):
            law._cheb_table(k, side)
    law._density_table()
    return law


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_tables_together_equal_each_laws_own(name):
    make_size, make_pred, ys = FAMILIES[name]
    size, pred = make_size(), make_pred()
    together = [PredictionPoint(size, pred, float(y)) for y in ys]
    alone = [_own(PredictionPoint(size, pred, float(y))) for y in ys]
    assert build_tables(together) == ys.size
    for a, b in zip(together, alone):
        assert set(a._cheb_cache) == set(b._cheb_cache)
        for key in b._cheb_cache:
            for x, y in zip(a._cheb_cache[key], b._cheb_cache[key]):
                np.testing.assert_array_equal(x, y)
        for x, y in zip(a._density_cache, b._density_cache):
            np.testing.assert_array_equal(x, y)
    # and the laws' functions through them
    x = np.geomspace(1e-3, 10.0, 50) * float(together[len(ys) // 2].mean)
    law_a, law_b = together[len(ys) // 2], alone[len(ys) // 2]
    for fn in ("sf", "pdf"):
        np.testing.assert_array_equal(getattr(law_a, fn)(x), getattr(law_b, fn)(x))
    np.testing.assert_array_equal(law_a.tail_moment(2, x), law_b.tail_moment(2, x))


def test_which_laws_are_built():
    """Only tabulated point posteriors of the first law's size law and prediction without
    tables of their own; the others build their own tables as before."""
    size, pred = qt.Weibull(2.0), qt.UniformPrediction(0.5)
    done = _own(PredictionPoint(size, pred, 1.0))
    other = PredictionPoint(qt.Weibull(2.0), pred, 1.0)  # another size law object
    bucket = PredictionBucket(size, pred, 0.5, 2.0)
    fresh = PredictionPoint(size, pred, 2.0)
    tabs = done._cheb_cache
    assert build_tables([fresh, done, other, bucket, qt.Exponential(1.0)]) == 1
    assert done._cheb_cache is tabs
    assert "_cheb_cache" not in other.__dict__ and "_cheb_cache" not in bucket.__dict__
    assert build_tables([]) == 0


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_panels_together_equal_each_laws_own(name):
    """The panels (halving rounds, steep ends, grading) and the panel sums of the orders
    0, 1, 2 built together: each law's own, bit for bit."""
    make_size, make_pred, ys = FAMILIES[name]
    size, pred = make_size(), make_pred()
    together = [PredictionPoint(size, pred, float(y)) for y in ys]
    alone = [PredictionPoint(size, pred, float(y)) for y in ys]
    build_tables(together)
    for a, b in zip(together, alone):
        for x, y in zip(a._edges(), b._edges()):
            np.testing.assert_array_equal(x, y)
        for k in (0.0, 1.0, 2.0):
            for x, y in zip(a._panels(k), b._panels(k)):
                np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_grids_and_ranks_at_zero_together(name):
    """posterior_rwork._grids_and_gammas: each law's law_grid and gittins_at_zero, bit for
    bit, with the laws' functions called together (exponential and bounded Pareto node
    laws take the bisection of the rank at age 0, Weibull 2 ones mostly their mean)."""
    from qtheory.analysis.posterior_rwork import _grids_and_gammas, gittins_at_zero, law_grid

    make_size, make_pred, ys = FAMILIES[name]
    size, pred = make_size(), make_pred()
    laws = [PredictionPoint(size, pred, float(y)) for y in ys]
    build_tables(laws)
    grids, gam = _grids_and_gammas(laws)
    for law, g, ga in zip(laws, grids, gam):
        g0 = law_grid(law)
        for x, y in zip(g[:4], g0[:4]):
            np.testing.assert_array_equal(x, y)
        assert g[4] == g0[4] and ga == gittins_at_zero(law, g0)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_point_laws_equal_point_law(name):
    """point_laws (the masses' quadratures over the noise for all laws at once) gives
    point_law's laws: the same masses and functions, bit for bit."""
    from qtheory.distributions._point_family import point_laws
    from qtheory.distributions.point_posterior import point_law

    make_size, make_pred, ys = FAMILIES[name]
    size, noise = make_size(), make_pred()
    ys = [float(y) for y in ys]
    together = point_laws(size, noise, ys)
    for y, law in zip(ys, together):
        alone = point_law(size, noise, y)
        assert type(law) is type(alone)
        assert law.mass == alone.mass
        x = np.asarray(law.support[0]) + np.array([0.3, 1.0, 2.5]) * float(alone.mean)
        assert np.array_equal(law.sf(x), alone.sf(x))
        assert np.array_equal(law.pdf(x), alone.pdf(x))


def test_point_laws_errors_and_other_laws():
    """A prediction of density 0 is refused as point_law refuses it; exact predictions and
    sizes with atoms give point_law's laws."""
    from qtheory.distributions._point_family import family_of, point_laws
    from qtheory.distributions.point_posterior import point_law

    with pytest.raises(ValueError, match="has density 0"):
        point_laws(qt.Uniform(1.0, 2.0), qt.UniformPrediction(0.1), [1.5, 5.0])
    exact = point_laws(qt.Weibull(2.0), qt.ExactPrediction(), [0.5, 1.0])
    assert [law.mean for law in exact] == [0.5, 1.0]
    atoms = point_laws(qt.Discrete([1.0, 2.0], [0.5, 0.5]), qt.UniformPrediction(0.5), [1.2])
    assert atoms[0].atoms[1].tolist() == point_law(
        qt.Discrete([1.0, 2.0], [0.5, 0.5]), qt.UniformPrediction(0.5), 1.2).atoms[1].tolist()
    assert family_of(exact) is None
    mixed = point_laws(qt.Weibull(2.0), qt.UniformPrediction(0.5), [1.0]) + \
        point_laws(qt.Weibull(2.0), qt.UniformPrediction(0.5), [1.0])
    assert family_of(mixed) is None  # (two size law objects)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_exact_density_and_law_stack(name):
    """Family.pdf_exact equals each law's _pdf_exact bit for bit (at the ends of the
    supports too, where the tables stop), and so does LawStack.pdf there."""
    from qtheory.analysis._lawstack import LawStack
    from qtheory.distributions._point_family import family_of, point_laws

    make_size, make_pred, ys = FAMILIES[name]
    size, noise = make_size(), make_pred()
    ys = [float(y) for y in ys]
    laws = point_laws(size, noise, ys)
    build_tables(laws)
    fam = family_of(laws)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(laws), 300)
    ends = [(law._lo, law._hi if np.isfinite(law._hi) else 4.0 * float(law.mean))
            for law in laws]
    x = np.array([rng.choice([ends[i][0], ends[i][1], ends[i][0] + rng.random()
                              * (ends[i][1] - ends[i][0])]) for i in idx])
    want = np.array([float(laws[i]._pdf_exact(v)) for i, v in zip(idx, x)])
    assert np.array_equal(fam.pdf_exact(idx, x), want)
    own = np.array([float(laws[i].pdf(v)) for i, v in zip(idx, x)])
    assert np.array_equal(LawStack(laws).pdf(idx, x), own)


def test_bucket_tables_together_equal_each_laws_own():
    """Bucket posteriors (GittinsBuckets' laws: Weibull 0.5 sizes, exponential noise, eight
    thresholds) built together: each law's panels, tables and density table are its own,
    bit for bit; GittinsBuckets builds them so."""
    from qtheory.distributions.posterior import bucket_law

    size, noise = qt.Weibull(0.5), qt.ExponentialPrediction()
    edges = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0, 9.0, 20.0, np.inf)
    together = [bucket_law(size, noise, a, b) for a, b in zip(edges[:-1], edges[1:])]
    assert build_tables(together) == len(together)
    assert build_tables(together) == 0  # (built already)
    for law, (a, b) in zip(together, zip(edges[:-1], edges[1:])):
        alone = _own(bucket_law(size, noise, a, b))
        for k in (0.0, 1.0, 2.0):
            for side in (False, True):
                for x, y in zip(law._cheb_table(k, side), alone._cheb_table(k, side)):
                    assert np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(law._density_table(), alone._density_table()):
            assert np.array_equal(np.asarray(x), np.asarray(y))
    pol = qt.policies.GittinsBuckets(thresholds=edges[1:-1])
    laws = pol.bucket_laws(size, noise)
    assert all("_cheb_cache" in law.__dict__ for _, law in laws)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_exact_moments_equal_each_laws_own(name):
    """LawStack's moments of point posteriors at points over many scales (the tables' ends
    passed, where each law integrates over the noise): the family's quadratures all
    together (Family.moments_exact) give each law's own values, bit for bit; so do the
    tables' anchors computed together by build_tables."""
    from qtheory.analysis._lawstack import LawStack
    from qtheory.distributions._point_family import point_laws

    make_size, make_pred, ys = FAMILIES[name]
    size, noise = make_size(), make_pred()
    laws = point_laws(size, noise, [float(y) for y in ys])
    build_tables(laws)
    st = LawStack(laws)
    assert st._fam()
    rng = np.random.default_rng(5)
    idx = rng.integers(0, len(laws), 400)
    scale = np.array([float(law.scale) for law in laws])
    x = scale[idx] * np.exp(rng.normal(0.0, 8.0, idx.size))
    for k in (0.0, 1.0, 2.0):
        for tail in (False, True):
            got = st._moments(k, idx, x, tail)
            own = np.array([float((law.tail_moment if tail else law.partial_moment)(k, v))
                            for law, v in zip([laws[i] for i in idx], x)])
            assert np.array_equal(got, own)
    alone = PredictionPoint(size, noise, float(ys[0]))
    for k in (0.0, 1.0, 2.0):
        assert np.array_equal(np.asarray(laws[0]._panels(k)[2]),
                              np.asarray(alone._panels(k)[2]))


@pytest.mark.parametrize("case", ["exp", "lognormal"])
def test_trimmed_tables_same_functions(case):
    """build_tables(trim=1e-30) (posterior._trimmed): the tables stop where what lies
    beyond holds at most 1e-30 of each moment (orders 0, 1, 2), with far fewer panels,
    and the laws' functions are the untrimmed twins' at 1201 points over 60 decades
    (tables inside, exact paths beyond the trimmed ends) within 3e-13 relative wherever a
    value is above 1e-200, but for the tails below the lower end and the partial moments
    above the upper one: there the whole moment, the law's own. (The untrimmed tables'
    total can be further from it: lognormal sizes and noise given 1e-4, E[X^2] from the
    tables 2.0e-10 below the law's moment, which mpmath's quadrature of the density
    gives to 1e-15.) A trimmed stack's trunc2 (partial moments below a trimmed lower end
    taken as 0) is the untrimmed one's to 1e-15 of E[X^2]."""
    from qtheory.analysis._lawstack import LawStack
    from qtheory.distributions._point_family import point_laws

    size, pred = ((qt.Exponential(mean=1.0), qt.ExponentialPrediction()) if case == "exp"
                  else (qt.Lognormal(1.0, mean=1.0), qt.LognormalPrediction(0.5)))
    ys = np.array([1e-4, 0.3, 2.0, 20.0])
    plain, cut = point_laws(size, pred, ys), point_laws(size, pred, ys)
    build_tables(plain)
    build_tables(cut, trim=1e-30)
    np_plain = sum(law._edges()[0].size for law in plain)
    np_cut = sum(law._edges()[0].size for law in cut)
    assert np_cut < 0.5 * np_plain
    for p, c in zip(plain, cut):
        assert c._tmin > p._tmin and c._tmax < p._tmax and c._neg_lo and c._neg_hi
        x = p.scale * np.geomspace(1e-30, 1e30, 1201)
        below, above = x < c._tmin, x >= c._tmax
        for f, g, whole in ((p.sf(x), c.sf(x), below), (p.pdf(x), c.pdf(x), None),
                            *((p.partial_moment(k, x), c.partial_moment(k, x), above)
                              for k in (0, 1, 2)),
                            *((p.tail_moment(k, x), c.tail_moment(k, x), below)
                              for k in (1, 2))):
            f, g = np.asarray(f), np.asarray(g)
            big = (np.abs(f) > 1e-200) & (True if whole is None else ~whole)
            assert np.all(np.abs(g[big] - f[big]) <= 3e-13 * np.abs(f[big]))
            if whole is not None:
                assert np.unique(g[whole]).size == 1
        # beyond the trimmed ends: the whole moment, exactly
        for k in (0, 1, 2):
            assert float(c.tail_moment(k, 0.5 * c._tmin)) == float(c.moment(k))
            assert float(c.partial_moment(k, 2.0 * c._tmax)) == float(c.moment(k))
    sp, sc = LawStack(plain), LawStack(cut)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, ys.size, 400)
    med = np.array([law.scale for law in plain])[idx]
    b = med * 10.0 ** rng.uniform(-12, 0.5, idx.size)
    c_ = b * 10.0 ** rng.uniform(0.0, 3.0, idx.size)
    m2 = np.array([float(law.moment(2)) for law in plain])[idx]
    assert np.all(np.abs(sc.trunc2(idx, b, c_) - sp.trunc2(idx, b, c_)) <= 1e-15 * m2)


def test_trim_gives_tables_to_laws_below_the_panels():
    """With trim, a point posterior whose support lies wholly below the panels' range
    (2**-40 of the size law's median) gets panels on its support: Weibull 0.5 sizes under
    uniform noise 0.3 given 1e-14 and 3e-15 (support about [8e-15, 1.4e-14]); its functions
    agree with its untabulated twin's quadratures over the noise to 1e-12 relative."""
    from qtheory.distributions._point_family import point_laws

    size, pred = qt.Weibull(0.5), qt.UniformPrediction(0.3)
    ys = np.array([1e-14, 3e-15])
    plain, cut = point_laws(size, pred, ys), point_laws(size, pred, ys)
    build_tables(plain)
    assert build_tables(cut, trim=1e-30) == 2
    for p, c in zip(plain, cut):
        assert not p._use_panels and c._use_panels and "_cheb_cache" in c.__dict__
        lo, hi = p.support
        x = np.linspace(lo, hi, 401)[1:-1]
        for f, g in ((p.sf(x), c.sf(x)), (p.pdf(x), c.pdf(x)),
                     (p.partial_moment(1, x), c.partial_moment(1, x)),
                     (p.tail_moment(2, x), c.tail_moment(2, x))):
            f, g = np.asarray(f), np.asarray(g)
            assert np.all(np.abs(g - f) <= 1e-12 * np.abs(f))


def test_trimmed_end_whole_moment_only_where_all_beyond_is_negligible(monkeypatch):
    """posterior._trimmed: below a trimmed lower end a tail is taken as the whole moment only
    where everything below, the anchor below the old panels included, is at most trim of
    the total; with that anchor made large (a law with mass below 2**-40 of the median
    and none on its first panels) the lower end is still trimmed but its values take the
    exact path."""
    import qtheory.distributions._point_family as PF
    from qtheory.distributions._point_family import point_laws

    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    ok = point_laws(size, pred, np.array([0.3]))[0]
    build_tables([ok], trim=1e-30)
    assert ok._neg_lo and ok._neg_hi
    orig = PF._anchors

    def big(fam):
        orig(fam)
        for law in fam.laws:
            for k in (0.0, 1.0, 2.0):
                law.__dict__.setdefault("_anchors", {})[(k, "lo")] = 0.5

    monkeypatch.setattr(PF, "_anchors", big)
    law = point_laws(size, pred, np.array([0.3]))[0]
    build_tables([law], trim=1e-30)
    assert law._tmin == ok._tmin and not law._neg_lo and law._neg_hi


def test_trim_reaches_below_the_panels_for_small_predictions():
    """With trim, a point posterior given a prediction so small that it has mass below the
    panels' usual range (2**-40 of the size law's median) gets panels from y 2**-12 up,
    trimmed as any (exponential sizes and noise given 4.5e-12: until the 32nd session 4e-6
    of its mass lay below the tables, and each value there was a quadrature over the
    noise). Its functions there agree with mpmath's (the posterior's density is
    ``exp(-x - y / x) / x`` over ``2 K_0(2 sqrt(y))``) to 1e-11 relative (the untrimmed
    twin's quadratures were 1.1e-12 and 5.9e-11 off its tail moment of order 1); below its
    new lower end the tail is the whole moment (what lies below is under 1e-30 of it),
    the same from a LawStack's compiled lookup as from the law, bit for bit."""
    import mpmath as mp

    from qtheory.analysis._lawstack import LawStack
    from qtheory.distributions._point_family import _LOW_Y, point_laws

    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    ys = np.array([4.5e-12, 1e-13])
    plain, cut = point_laws(size, pred, ys), point_laws(size, pred, ys)
    build_tables(plain)
    build_tables(cut, trim=1e-30)
    with mp.workdps(30):
        for y, p, c in zip(ys, plain, cut):
            # (the panels from y 2**-12 up, then trimmed where below 1e-30)
            assert y * _LOW_Y * (1 - 1e-12) <= c._tmin < p._tmin and c._neg_lo
            Y = mp.mpf(float(y))
            mass = 2 * mp.besselk(0, 2 * mp.sqrt(Y))
            for x in np.geomspace(1.01 * c._tmin, p._tmin, 4):
                cuts = [mp.mpf(float(x))] + [mp.mpf(10.0) ** e for e in (-12, -9, -6, -3, 0)
                                             if 10.0**e > x] + [mp.inf]
                for k, got in ((0, c.sf(x)), (1, c.tail_moment(1, x))):
                    ref = mp.quad(lambda t, k=k: t ** (k - 1) * mp.exp(-t - Y / t), cuts) / mass
                    assert abs(float(got) / float(ref) - 1.0) <= 1e-11
    st = LawStack(cut)
    idx = np.array([0, 0, 1, 1])
    x = np.array([0.5, 0.1, 0.5, 0.1]) * np.array([cut[i]._tmin for i in idx])
    for k in (0.0, 1.0, 2.0):
        own = np.array([float(cut[i].tail_moment(k, v)) for i, v in zip(idx, x)])
        assert np.array_equal(st._moments(k, idx, x, True), own)
        assert np.array_equal(own, np.array([float(cut[i].moment(k)) for i in idx]))


def test_trim_refines_what_holds_the_anchors_digits():
    """build_tables(trim): the panels far out in a law's negligible end runs are taken
    without halving (posterior._negligible_ends), but not those that hold the anchors'
    leading digits: the anchors of the trimmed laws are the untrimmed tables' sums beyond
    their ends to 1e-13 (with the whole run unrefined, exponential noise given 20: 6e-9
    off), and next to the trimmed upper end P(X > 79.5), about 1e-33, is within 1e-13 of
    mpmath's (dps 50; the untrimmed tables 1.4e-14). Fewer of the density's evaluations
    go to the panels than without the end runs taken as they are."""
    import mpmath as mp

    import qtheory.distributions.posterior as post
    from qtheory.distributions._point_family import point_laws

    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    ys = np.array([1e-4, 0.3, 2.0, 20.0])
    plain, cut = point_laws(size, pred, ys), point_laws(size, pred, ys)
    build_tables(plain)
    build_tables(cut, trim=1e-30)
    for p, c in zip(plain, cut):
        a, _ = p._edges()
        an_p = p.__dict__.get("_anchors", {})
        for k in (0.0, 1.0, 2.0):
            s = p.__dict__["_panel_sums"][k]
            hi = float(np.sum(s[a >= c._tmax])) + an_p.get((k, "hi"), 0.0)
            lo = float(np.sum(s[a < c._tmin])) + an_p.get((k, "lo"), 0.0)
            an_c = c.__dict__["_anchors"]
            assert abs(an_c.get((k, "hi"), 0.0) - hi) <= 1e-13 * hi
            assert abs(an_c.get((k, "lo"), 0.0) - lo) <= 1e-13 * lo
    with mp.workdps(50):
        Y = mp.mpf(20.0)
        ref = mp.quad(lambda t: mp.exp(-t - Y / t) / t, [79.5, 84.5, 99.5, mp.inf]) / (
            2 * mp.besselk(0, 2 * mp.sqrt(Y)))
    assert abs(float(cut[3].sf(79.5)) / float(ref) - 1.0) < 1e-13
    # (the panels' evaluations: with the far end runs taken as they are, fewer)
    counts = []
    orig = post._gl_orders_of

    def spy(g, orders, a, b, n):
        counts[-1] += a.size
        return orig(g, orders, a, b, n)

    for frac in (1e-3, 0.0):
        counts.append(0)
        laws = point_laws(size, pred, ys)
        with pytest.MonkeyPatch.context() as mpk:
            mpk.setattr(post, "_gl_orders_of", spy)
            if frac == 0.0:
                mpk.setattr(post, "_negligible_ends",
                            lambda a, nn, est, f, within=1e-16: np.zeros(a.size, dtype=bool))
            build_tables(laws, trim=1e-30)
    assert counts[0] < 0.8 * counts[1]
