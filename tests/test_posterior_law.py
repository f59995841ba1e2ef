"""The size law given a prediction bucket, ``X | low < Y <= high`` for ``Y = X Z``
(:mod:`qtheory.distributions.posterior`), against independent computations: scipy quadrature of
its closed-form density, the joint-law integrals of :mod:`qtheory.analysis.joint`, Bessel-function
closed forms, Monte Carlo from the joint law, the law of total probability over a partition into
buckets, and the degenerate cases (no information, exact predictions, sizes with atoms)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, special, stats

import qtheory as qt
from qtheory.analysis.joint import JointIntegrals
from qtheory.distributions.point_posterior import point_law
from qtheory.distributions.posterior import PredictionBucket, bucket_law

SIZES = {
    "exp": qt.Exponential(mean=1.0),
    "weib": qt.Weibull(shape=0.5, scale=1.0),
    "logn": qt.Lognormal(sigma=1.0, mean=1.0),
}
PREDICTIONS = {
    "expZ": qt.ExponentialPrediction(),
    "unifZ": qt.UniformPrediction(0.5),
    "lognZ": qt.LognormalPrediction(0.7),
}
BUCKETS = [(0.0, 0.5), (0.5, 2.0), (2.0, np.inf)]
GRID = [(s, p, b) for s in SIZES for p in PREDICTIONS for b in BUCKETS]
GRID_IDS = [f"{s}-{p}-{b[0]}-{b[1]}" for s, p, b in GRID]
# one bucket per (size, prediction) pair, rotating, for the costlier quadrature checks
PAIRS = [(s, p, BUCKETS[(i + j) % 3]) for i, s in enumerate(SIZES)
         for j, p in enumerate(PREDICTIONS)]
PAIR_IDS = [f"{s}-{p}-{b[0]}-{b[1]}" for s, p, b in PAIRS]

_LAWS: dict = {}


def law_of(s, p, b) -> PredictionBucket:
    key = (s, p, b)
    if key not in _LAWS:
        _LAWS[key] = PredictionBucket(SIZES[s], PREDICTIONS[p], *b)
    return _LAWS[key]


def quad(fn, a, b, law):
    """Integral of ``fn`` over ``(a, b)`` by scipy, split at the law's breakpoints, at the
    bucket ends and at the size's median (where the density turns)."""
    cuts = {*law.breakpoints, law.low, law.high, law.size.scale}
    edges = [a, *sorted(c for c in cuts if a < c < b and np.isfinite(c)), b]
    return sum(integrate.quad(fn, u, v, epsabs=0.0, epsrel=1e-13, limit=500)[0]
               for u, v in zip(edges[:-1], edges[1:]))


def points(law):
    lo, hi = law.support
    x = np.array([0.05, 0.3, 0.8, 1.7, 3.5, 9.0])
    return x[(x > lo) & (x < hi)]


# --------------------------------------------------------------------- normalisation, mass
@pytest.mark.parametrize("s,p,b", GRID, ids=GRID_IDS)
def test_normalisation_and_complements(s, p, b):
    law = law_of(s, p, b)
    lo, hi = law.support
    assert law.moment(0) == 1.0
    top = hi if np.isfinite(hi) else 1e4
    assert float(law.cdf(top)) == pytest.approx(1.0, abs=1e-13)
    assert float(law.sf(lo)) == 1.0 and float(law.cdf(lo)) == 0.0
    x = np.geomspace(max(lo, 1e-3), min(top, 50.0), 41)
    np.testing.assert_allclose(law.cdf(x) + law.sf(x), 1.0, rtol=0, atol=2e-14)
    for k in (1.0, 2.0):
        np.testing.assert_allclose(law.partial_moment(k, x) + law.tail_moment(k, x),
                                   law.moment(k), rtol=1e-13, atol=0)
    c, sf = law.cdf(x), law.sf(x)
    assert np.all((c >= 0) & (c <= 1)) and np.all((sf >= 0) & (sf <= 1))
    # monotone up to rounding (each is a sum of positive terms computed afresh at every x)
    assert np.all(np.diff(c) >= -4e-16) and np.all(np.diff(sf) <= 4e-16 * sf[:-1])


@pytest.mark.parametrize("s,p,b", GRID, ids=GRID_IDS)
def test_mass_against_the_joint_integrals(s, p, b):
    """p = P(Y <= high) - P(Y <= low) from the marginal law of the prediction
    (qtheory.analysis.joint, an independent code path). Its default level (3, used by
    ``PredictionModel.marginal_cdf``) is good to about 3e-10; level 6 to rounding."""
    law = law_of(s, p, b)
    size, pred = SIZES[s], PREDICTIONS[p]
    lo, hi = b
    ys = np.array([lo, hi if np.isfinite(hi) else 1.0])

    def mass(Fy):
        return (Fy[1] if np.isfinite(hi) else 1.0) - Fy[0]

    fine = JointIntegrals(size, pred, level=6).evaluate(ys, ("Fy",))["Fy"]
    assert law.mass == pytest.approx(mass(fine), rel=1e-12)
    default = np.array([float(pred.marginal_cdf(y, size)) for y in ys])
    assert law.mass == pytest.approx(mass(default), rel=1e-9)


@pytest.mark.parametrize("lo,hi", [(0.5, 2.0), (0.0, 1.0), (1.0, np.inf)])
def test_exponential_sizes_and_predictions_in_closed_form(lo, hi):
    """X ~ Exp(1), Y | X = x ~ Exp(mean x): w(x) = exp(-lo/x) - exp(-hi/x) and
    int_0^inf x**(v-1) exp(-x - a/x) dx = 2 a**(v/2) K_v(2 sqrt(a))."""
    def bessel(v, a):
        if a == 0:
            return special.gamma(v)
        if not np.isfinite(a):
            return 0.0
        return 2.0 * a ** (v / 2) * special.kv(v, 2.0 * np.sqrt(a))

    law = PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), lo, hi)
    p = bessel(1, lo) - bessel(1, hi)
    assert law.mass == pytest.approx(p, rel=1e-14)
    for k in (1, 2, 3):
        assert law.moment(k) == pytest.approx((bessel(k + 1, lo) - bessel(k + 1, hi)) / p,
                                              rel=1e-13)


# --------------------------------------------------------------------- against scipy quad
@pytest.mark.parametrize("s,p,b", PAIRS, ids=PAIR_IDS)
def test_density_integrates_to_the_cdf(s, p, b):
    law = law_of(s, p, b)
    lo, hi = law.support
    x = points(law)
    ref = np.array([quad(law.pdf, lo, v, law) for v in x])
    np.testing.assert_allclose(law.cdf(x), ref, rtol=1e-10, atol=0)
    tail = np.array([quad(law.pdf, v, hi, law) for v in x])
    np.testing.assert_allclose(law.sf(x), tail, rtol=1e-10, atol=0)


@pytest.mark.parametrize("s,p,b", PAIRS, ids=PAIR_IDS)
def test_partial_and_tail_moments_against_quadrature(s, p, b):
    law = law_of(s, p, b)
    lo, hi = law.support
    x = points(law)
    for k in (0.0, 1.0, 2.0):
        def g(t, k=k):
            return t**k * law.pdf(t)

        pm = np.array([quad(g, lo, v, law) for v in x])
        tm = np.array([quad(g, v, hi, law) for v in x])
        np.testing.assert_allclose(law.partial_moment(k, x), pm, rtol=1e-10, atol=0)
        np.testing.assert_allclose(law.tail_moment(k, x), tm, rtol=1e-10, atol=0)
        assert law.moment(k) == pytest.approx(quad(g, lo, hi, law), rel=1e-10)


def test_far_tails_keep_relative_precision():
    """Small cdf and sf values are computed directly (no 1 - cdf): check them at points where
    they are far below 1e-16 against quadrature of the density."""
    law = law_of("exp", "expZ", (0.5, 2.0))
    for x in (0.01, 0.03):
        assert float(law.cdf(x)) == pytest.approx(quad(law.pdf, 0.0, x, law), rel=1e-10)
        assert float(law.cdf(x)) < 1e-8
    for x in (30.0, 45.0):
        assert float(law.sf(x)) == pytest.approx(quad(law.pdf, x, np.inf, law), rel=1e-10)
        assert float(law.tail_moment(1, x)) == pytest.approx(
            quad(lambda t: t * law.pdf(t), x, np.inf, law), rel=1e-10)
        assert float(law.sf(x)) < 1e-12


def test_two_internal_methods_agree():
    """Truncated moments come from panels of the integral over the size (fast path) with the
    quadrature over the noise factor Z at the ends; the latter alone must agree everywhere."""
    for key in [("weib", "unifZ", (0.5, 2.0)), ("logn", "lognZ", (2.0, np.inf))]:
        law = PredictionBucket(SIZES[key[0]], PREDICTIONS[key[1]], *key[2])
        slow = PredictionBucket(SIZES[key[0]], PREDICTIONS[key[1]], *key[2])
        slow._use_panels = False
        lo, hi = law.support
        x = np.geomspace(max(lo, 1e-2), min(hi, 30.0), 25)[1:-1]
        for k in (0.0, 1.0):
            np.testing.assert_allclose(law.partial_moment(k, x), slow.partial_moment(k, x),
                                       rtol=1e-11, atol=0)
            np.testing.assert_allclose(law.tail_moment(k, x), slow.tail_moment(k, x),
                                       rtol=1e-11, atol=0)


def test_noise_given_by_a_density_is_integrated_in_z():
    tri = qt.MultiplicativePrediction(pdf=lambda z: 1 - np.abs(z - 1), support=(0, 2),
                                      breakpoints=[1.0])
    law = PredictionBucket(qt.Exponential(mean=1.0), tri, 0.5, 2.0)
    assert law.support == (0.25, np.inf) and 0.5 in law.breakpoints and 1.0 in law.breakpoints
    x = np.array([0.4, 1.0, 3.0])
    ref = np.array([quad(lambda t: t * law.pdf(t), 0.25, v, law) for v in x])
    np.testing.assert_allclose(law.partial_moment(1, x), ref, rtol=1e-9, atol=0)


# --------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("s,p,b", [("exp", "expZ", (0.5, 2.0)), ("weib", "unifZ", (2.0, np.inf)),
                                   ("logn", "lognZ", (0.0, 0.5))],
                         ids=["exp-expZ", "weib-unifZ", "logn-lognZ"])
def test_sampling_matches_the_law(s, p, b):
    law = law_of(s, p, b)
    n = 20_000
    x = law.sample(n, rng=12345)
    assert x.shape == (n,)
    lo, hi = law.support
    assert np.all((x >= lo) & (x <= hi))
    sd = np.sqrt(law.moment(2) - law.mean**2)
    assert abs(x.mean() - law.mean) < 5.0 * sd / np.sqrt(n)
    assert stats.kstest(x, law.cdf).pvalue > 1e-3
    np.testing.assert_array_equal(law.sample(50, rng=7), law.sample(50, np.random.default_rng(7)))
    assert law.sample(0, rng=1).shape == (0,)
    with pytest.raises(ValueError, match="rng"):
        law.sample(5, None)


# --------------------------------------------------------------------- structure
@pytest.mark.parametrize("s", list(SIZES))
@pytest.mark.parametrize("p", list(PREDICTIONS))
def test_no_information_gives_the_size_law(s, p):
    size = SIZES[s]
    law = PredictionBucket(size, PREDICTIONS[p], 0.0, np.inf)
    assert law.mass == pytest.approx(1.0, rel=1e-14)
    x = np.array([0.01, 0.2, 1.0, 3.0, 12.0])
    np.testing.assert_allclose(law.cdf(x), size.cdf(x), rtol=1e-12, atol=0)
    np.testing.assert_allclose(law.sf(x), size.sf(x), rtol=1e-12, atol=0)
    np.testing.assert_allclose(law.pdf(x), size.pdf(x), rtol=1e-14, atol=0)
    for k in (1.0, 2.0):
        np.testing.assert_allclose(law.partial_moment(k, x), size.partial_moment(k, x),
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(law.tail_moment(k, x), size.tail_moment(k, x),
                                   rtol=1e-12, atol=0)
        assert law.moment(k) == pytest.approx(size.moment(k), rel=1e-12)


@pytest.mark.parametrize("s", list(SIZES))
@pytest.mark.parametrize("p", list(PREDICTIONS))
def test_total_probability_over_a_partition(s, p):
    """sum_j p_j E[X**k; X <= x | bucket j] = E[X**k; X <= x] for buckets partitioning
    [0, inf), and likewise for tail moments and densities."""
    size = SIZES[s]
    laws = [law_of(s, p, b) for b in BUCKETS]
    assert sum(law.mass for law in laws) == pytest.approx(1.0, abs=1e-14)
    x = np.array([0.05, 0.4, 1.0, 2.5, 8.0])
    np.testing.assert_allclose(sum(law.mass * law.pdf(x) for law in laws), size.pdf(x),
                               rtol=1e-14, atol=0)
    for k in (0.0, 1.0, 2.0):
        pm = sum(law.mass * law.partial_moment(k, x) for law in laws)
        tm = sum(law.mass * law.tail_moment(k, x) for law in laws)
        np.testing.assert_allclose(pm, size.partial_moment(k, x), rtol=1e-12, atol=0)
        np.testing.assert_allclose(tm, size.tail_moment(k, x), rtol=1e-12, atol=0)


def test_support_and_breakpoints_with_bounded_noise():
    law = law_of("exp", "unifZ", (0.5, 2.0))  # Z in [0.5, 1.5]
    assert law.support == (pytest.approx(1 / 3), 4.0)
    for b in (1 / 3, 0.5 / 0.5, 2.0 / 1.5, 4.0):
        assert any(abs(v - b) < 1e-15 for v in law.breakpoints), b
    assert float(law.pdf(0.3)) == 0.0 and float(law.pdf(4.5)) == 0.0
    assert float(law.cdf(4.0)) == 1.0 and float(law.sf(1 / 3)) == 1.0
    # the density vanishes linearly at both ends and keeps its relative precision there
    for e, d in ((law.support[1], -1e-13), (law.support[0], 1e-13)):
        assert float(law.pdf(e + d)) == pytest.approx(
            1e-3 * float(law.pdf(e + 1e3 * d)), rel=1e-6)
    assert float(law.sf(np.nextafter(4.0, 0.0))) > 0.0


def test_vectorisation_scalars_and_nan():
    law = law_of("logn", "expZ", (0.5, 2.0))
    x = np.array([[0.0, 0.5], [np.nan, 2.0]])
    for f in (law.pdf, law.cdf, law.sf, lambda v: law.partial_moment(1, v),
              lambda v: law.tail_moment(2, v)):
        out = f(x)
        assert out.shape == x.shape and np.isnan(out[1, 0])
        np.testing.assert_allclose(out[~np.isnan(x)], [f(float(v)) for v in x[~np.isnan(x)]],
                                   rtol=1e-15)
        assert isinstance(f(1.0), float)
    assert law.cdf(-1.0) == 0.0 and law.sf(np.inf) == 0.0
    assert law.tail_moment(1, -1.0) == pytest.approx(law.mean, rel=1e-15)
    assert law.partial_moment(1, np.inf) == pytest.approx(law.mean, rel=1e-15)


def test_median_and_mpmath():
    law = law_of("exp", "lognZ", (0.5, 2.0))
    assert float(law.cdf(law.scale)) == pytest.approx(0.5, abs=1e-14)
    import mpmath as mp

    with mp.workdps(25):
        for x in (0.4, 1.3):
            assert float(law.mp_pdf(x)) == pytest.approx(float(law.pdf(x)), rel=1e-13)
            assert float(law.mp_cdf(x)) == pytest.approx(float(law.cdf(x)), rel=1e-12)
            assert float(law.mp_sf(x)) == pytest.approx(float(law.sf(x)), rel=1e-12)
        assert law.mp_cdf(0.0) == 0 and law.mp_sf(0.0) == 1


def test_heavy_tailed_sizes():
    """Pareto(1.5) sizes: E[X**2] is infinite, but not given a bounded prediction bucket
    (the posterior tail has an extra factor P(Z <= high/x) ~ high/x)."""
    size = qt.Pareto(1.5)
    law = PredictionBucket(size, qt.ExponentialPrediction(), 0.5, 2.0)
    ref = quad(lambda t: t * t * law.pdf(t), 1.0, np.inf, law)
    assert law.moment(2) == pytest.approx(ref, rel=1e-10)
    top = PredictionBucket(size, qt.ExponentialPrediction(), 0.5, np.inf)
    assert top.moment(2) == np.inf and np.all(top.tail_moment(2, [0.5, 3.0]) == np.inf)
    assert float(top.partial_moment(2, 3.0)) == pytest.approx(
        quad(lambda t: t * t * top.pdf(t), 1.0, 3.0, top), rel=1e-10)


def test_gittins_rank_of_a_bucket_law():
    from qtheory.analysis.gittins import gittins_rank
    from qtheory.analysis.multiclass import ClassRankAnalysis

    laws = [law_of("exp", "expZ", b) for b in BUCKETS]
    ranks = [gittins_rank(law) for law in laws]
    a = ClassRankAnalysis([(law.mass, law, r) for law, r in zip(laws, ranks)])
    value, err = a.mean(0.8)
    assert np.isfinite(value) and err < 1e-9 * value
    # knowing the bucket beats not knowing it (Gittins on the size law: FCFS for Exp(1))
    assert value < 1.0 / (1.0 - 0.8)


# --------------------------------------------------------------------- factory
def test_exact_predictions_give_truncated():
    size = qt.Weibull(shape=0.5, scale=1.0)
    law = bucket_law(size, qt.ExactPrediction(), 0.5, 2.0)
    assert isinstance(law, qt.Truncated)
    assert (law.low, law.high) == (0.5, 2.0)
    assert law.mean == qt.Truncated(size, 0.5, 2.0).mean


def test_sizes_with_atoms_give_discrete():
    size = qt.Discrete([0.0, 1.0, 2.0, 4.0], [0.1, 0.3, 0.4, 0.2])
    pred = qt.UniformPrediction(0.5)  # Y | X = x uniform on [x/2, 3x/2]
    law = bucket_law(size, pred, 1.2, 3.0)
    assert isinstance(law, qt.Discrete)
    v, w = law.atoms
    # P(1.2 < Y <= 3 | X = x): x = 1 (Y in [0.5, 1.5]): 0.3; x = 2 (Y in [1, 3]): 0.9;
    # x = 4 (Y in [2, 6]): 0.25; x = 0: Y = 0, never
    raw = np.array([0.3 * 0.3, 0.4 * 0.9, 0.2 * 0.25])
    np.testing.assert_array_equal(v, [1.0, 2.0, 4.0])
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-14)
    single = bucket_law(size, qt.ExponentialPrediction(), 0.0, np.inf)
    np.testing.assert_allclose(single.atoms[1], np.array([0.3, 0.4, 0.2]) / 0.9, rtol=1e-14)
    assert isinstance(bucket_law(qt.Exponential(mean=1.0), pred, 1.0, 2.0), PredictionBucket)


def test_bad_input():
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    for maker in (PredictionBucket, bucket_law):
        with pytest.raises(ValueError, match="low"):
            maker(size, pred, -0.1, 1.0)
        with pytest.raises(ValueError, match="low"):
            maker(size, pred, np.inf, np.inf)
        with pytest.raises(ValueError, match="low"):
            maker(size, pred, np.nan, 1.0)
        with pytest.raises(ValueError, match="high"):
            maker(size, pred, 1.0, 1.0)
        with pytest.raises(ValueError, match="high"):
            maker(size, pred, 1.0, np.nan)
        with pytest.raises(ValueError, match="size"):
            maker("exp", pred, 0.0, 1.0)
        with pytest.raises(ValueError, match="prediction"):
            maker(size, "exp", 0.0, 1.0)
        general = qt.ConditionalPrediction(
            cdf=lambda y, x: np.clip(y - x, 0.0, 1.0),
            pdf=lambda y, x: ((y >= x) & (y <= x + 1)).astype(float),
            breakpoints=lambda x: (x, x + 1.0))
        with pytest.raises(ValueError, match="prediction"):
            maker(size, general, 0.0, 1.0)
    # a bucket of zero probability: sizes in [1, 3] times Z in [0.5, 1.5] are in [0.5, 4.5]
    with pytest.raises(ValueError, match="probability 0"):
        PredictionBucket(qt.Uniform(1.0, 3.0), qt.UniformPrediction(0.5), 5.0, 9.0)
    with pytest.raises(ValueError, match="probability 0"):
        bucket_law(qt.Discrete([1.0], [1.0]), qt.UniformPrediction(0.5), 2.0, 3.0)
    with pytest.raises(ValueError, match="prediction"):
        PredictionBucket(size, qt.ExactPrediction(), 0.0, 1.0)
    with pytest.raises(ValueError, match="size"):
        PredictionBucket(qt.Discrete([1.0], [1.0]), pred, 0.0, 1.0)
    law = law_of("exp", "expZ", (0.5, 2.0))
    with pytest.raises(ValueError, match="k"):
        law.partial_moment(-1.0, 1.0)


def test_no_quadrature_warnings_on_the_grid():
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        for s, p, b in GRID:
            law = PredictionBucket(SIZES[s], PREDICTIONS[p], *b)
            law.partial_moment(1, np.geomspace(1e-4, 1e3, 30))
            law.tail_moment(2, np.geomspace(1e-4, 1e3, 30))


@pytest.mark.parametrize("pred", [qt.UniformPrediction(0.5), qt.ExponentialPrediction(),
                                  qt.LognormalPrediction(0.5)])
@pytest.mark.parametrize("bucket", [(0.0, 0.5), (0.5, 2.0), (2.0, np.inf)])
def test_moments_below_the_tables_from_the_size_law(pred, bucket):
    """Below t_min (the median times 2**-40) the bucket's window is exactly 1 (low = 0) or
    0 (low > 0), so the truncated moments there are the size law's own (times the window),
    not a quadrature over the noise factor; both give the same values."""
    law = PredictionBucket(qt.Weibull(0.5), pred, *bucket)
    c = law._flat_below()
    assert c == (1.0 if bucket[0] == 0 else 0.0)
    x = np.geomspace(1e-60, 0.999 * law._tmin, 9)
    x = x[x > law._lo]
    for k in (0.0, 1.0, 2.0):
        for tail in (False, True):
            mom = law.moment(k)
            fast = law._moments_exact(k, x, tail, mom)
            law.__dict__["_flat_below_c"] = None  # the quadrature over the noise factor
            slow = law._moments_exact(k, x, tail, mom)
            law.__dict__["_flat_below_c"] = c
            np.testing.assert_allclose(fast, slow, rtol=2e-15, atol=0)


@pytest.mark.parametrize("alpha, k, want", [
    (1.5, 2, 5.4861970531045917298802384384),
    (2.5, 3, 7.80015593131830165960581426169),
    (2.5, 2, 2.43674120191849733713590785732),
])
def test_moments_of_power_tails_against_mpmath(alpha, k, want):
    """``E[X**k | Y <= 0.5]`` for Pareto sizes (xm = 1) and exponential noise, whose
    integrand decays like ``x**(k - alpha - 2)``: the moments are the totals of the panel
    sums and their two anchors (the tables' own), which agree with mpmath to rounding; the
    quadrature over the noise factor used before was 7.4e-12 and 8.0e-12 off on the first
    two. Reference values (30 digits)::

        import mpmath as mp
        mp.mp.dps = 30
        def mom(alpha, k, hi):
            f = lambda x: alpha * x**(-alpha - 1) * (1 - mp.exp(-hi / x))
            pts = [1, 10, 100, 1e4, 1e8, 1e16, mp.inf]
            return mp.quad(lambda x: x**k * f(x), pts) / mp.quad(f, pts)
        mom(1.5, 2, 0.5), mom(2.5, 3, 0.5), mom(2.5, 2, 0.5)
    """
    law = PredictionBucket(qt.Pareto(alpha=alpha, xm=1.0), qt.ExponentialPrediction(), 0.0,
                           0.5)
    assert law.moment(k) == pytest.approx(want, rel=2e-15)


def _pareto_exp_bucket_moment(k, alpha=1.5, hi=0.5):
    """``E[X**k | Y <= hi]``, Pareto(alpha) sizes (xm = 1), exponential noise, from the
    series ``1 - exp(-hi / x) = sum_n (-1)**(n + 1) (hi / x)**n / n!`` integrated term by
    term (each term ``alpha / (n + alpha - k)``, finite for ``k < alpha + 1``)::

        import mpmath as mp
        mp.mp.dps = 30
        a, t = mp.mpf(1.5), mp.mpf(0.5)
        S = lambda k: a * mp.nsum(lambda n: (-1)**(n + 1) * t**n
                                  / (mp.factorial(n) * (n + a - k)), [1, mp.inf])
        S(2.4) / S(0)   # 29.0570210011629329248086616019
    """
    import mpmath as mp

    with mp.workdps(30):
        a, t = mp.mpf(alpha), mp.mpf(hi)

        def S(k):
            return a * mp.nsum(lambda n: (-1)**(n + 1) * t**n
                               / (mp.factorial(n) * (n + a - k)), [1, mp.inf])

        return float(S(k) / S(0))


def test_moments_that_diverge_given_a_bounded_bucket_or_a_point():
    """Given ``Y <= 0.5`` (or ``Y = 2``), a size ``x`` has weight of order ``x**-1`` under
    exponential noise (its power at 0), so with Pareto(1.5) sizes ``E[X**k | Y]`` is finite
    for ``k < 2.5`` and infinite from 2.5 on: ``inf``, not a large number with a warning (they
    came out as 568 and 2.5e42 before). Orders just below the edge stay finite and right."""
    size = qt.Pareto(alpha=1.5, xm=1.0)
    law = PredictionBucket(size, qt.ExponentialPrediction(), 0.0, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no quadrature is attempted
        for k in (2.5, 3.0, 4.0):
            assert law.moment(k) == np.inf
        np.testing.assert_array_equal(law.tail_moment(3.0, [0.5, 1.0, 50.0]), np.inf)
        part = law.partial_moment(3.0, [1.0, 5.0])
        assert part[0] == 0.0 and np.isfinite(part[1]) and part[1] > 0
        point = point_law(size, qt.ExponentialPrediction(), 2.0)
        assert point.moment(2.5) == np.inf and np.isfinite(point.moment(2.0))
    for k in (1.0, 2.0):
        assert law.moment(k) == pytest.approx(_pareto_exp_bucket_moment(k), rel=1e-13)
    with warnings.catch_warnings():  # x**-1.1: the quadrature warns (3e-5), still right
        warnings.simplefilter("ignore", qt.QuadratureWarning)
        assert law.moment(2.4) == pytest.approx(_pareto_exp_bucket_moment(2.4), rel=1e-6)


def test_which_noise_laws_make_moments_diverge():
    """The noise factor's power at 0 decides: uniform noise reaching 0 (alpha = 1) has
    power 1, as exponential noise; uniform noise bounded away from 0, log-normal and exact
    predictions have ``inf`` (every moment of a bounded bucket is finite); an unbounded
    bucket diverges with the size law whatever the noise."""
    size = qt.Pareto(alpha=1.5, xm=1.0)
    assert qt.UniformPrediction(1.0).noise_power_at_zero == 1.0
    assert qt.ExponentialPrediction().noise_power_at_zero == 1.0
    for pred in (qt.UniformPrediction(0.5), qt.LognormalPrediction(0.5),
                 qt.ExactPrediction()):
        assert pred.noise_power_at_zero == np.inf
    assert PredictionBucket(size, qt.UniformPrediction(1.0), 0.0, 0.5).moment(2.5) == np.inf
    for pred in (qt.UniformPrediction(0.5), qt.LognormalPrediction(0.5)):
        assert np.isfinite(PredictionBucket(size, pred, 0.0, 1.0).moment(3.0))
        assert PredictionBucket(size, pred, 0.5, np.inf).moment(1.5) == np.inf


def test_power_at_zero_of_a_user_noise_law():
    """A user's noise law declares its power at 0; it is unknown by default (the
    quadrature then decides, and warns), ``inf`` for a support above 0, and part of the
    model's identity."""
    g = stats.gamma(2.0, scale=0.5)
    assert qt.MultiplicativePrediction(g).noise_power_at_zero is None
    declared = qt.MultiplicativePrediction(g, power_at_zero=2.0)
    assert declared.noise_power_at_zero == 2.0
    assert declared != qt.MultiplicativePrediction(g)
    assert declared == qt.MultiplicativePrediction(g, power_at_zero=2)
    law = PredictionBucket(qt.Pareto(alpha=1.5, xm=1.0), declared, 0.0, 0.5)
    assert law.moment(3.5) == np.inf
    tri = qt.MultiplicativePrediction(pdf=lambda z: 1 - np.abs(z - 1), support=(0, 2),
                                      breakpoints=[1.0], power_at_zero=2.0)
    assert tri.noise_power_at_zero == 2.0
    away = qt.MultiplicativePrediction(stats.uniform(0.5, 1.0))
    assert away.noise_power_at_zero == np.inf
    for bad in (0.0, -1.0, float("nan"), "two"):
        with pytest.raises(ValueError, match="power_at_zero"):
            qt.MultiplicativePrediction(g, power_at_zero=bad)
    with pytest.raises(ValueError, match="power_at_zero: the noise support starts at 0.5"):
        qt.MultiplicativePrediction(stats.uniform(0.5, 1.0), power_at_zero=1.0)


def test_bucket_law_of_a_truncated_size_law_cuts_at_its_ends():
    """A truncated size law lists the ends of its support as breakpoints (its density
    jumps there), and the quadratures over the noise factor cut where they enter: the
    moments of a bucket law no longer stop at 1e-7 with a warning. Reference (mpmath, 30
    digits, the size density times P(Z <= 0.7 / x) split at the support's ends)::

        k = mp.mpf(1.5); f = lambda x: k * x**(k-1) * mp.e**(-x**k)
        w = lambda x: 1 - mp.e**(-mp.mpf('0.7') / x)
        num = mp.quad(lambda x: x * f(x) * w(x), [0.3, 1, 2])
        den = mp.quad(lambda x: f(x) * w(x), [0.3, 1, 2])
        num / den   # 0.807200079471579226963271597354
    """
    size = qt.Truncated(qt.Weibull(1.5), 0.3, 2.0)
    assert size.breakpoints == (0.3, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        law = PredictionBucket(size, qt.ExponentialPrediction(), 0.0, 0.7)
        assert float(law.moment(1)) == pytest.approx(0.807200079471579226963271597354,
                                                     rel=1e-13)
        for pred in (qt.LognormalPrediction(0.5), qt.UniformPrediction(0.5)):
            for lo, hi in ((0.0, 0.7), (0.7, 1.5), (1.5, np.inf)):
                PredictionBucket(size, pred, lo, hi).moment(2)
