"""Tests of qtheory.distributions: closed forms against scipy.stats, quadrature and mpmath."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from qtheory.distributions import (
    BoundedPareto,
    Deterministic,
    Discrete,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    ScipyDistribution,
    SizeDistribution,
    Uniform,
    Weibull,
    as_distribution,
)

mp = mpmath.mp

KS = [0, 0.5, 1, 2, 3]


def _trunc_pareto(alpha: float, low: float, high: float):
    """scipy's truncated Pareto with the same parametrisation as BoundedPareto."""
    return stats.truncpareto(alpha, high / low, scale=low)


# (law, matching frozen scipy law)
PAIRS = {
    "exponential": (Exponential(mean=2.0), stats.expon(scale=2.0)),
    "exponential_rate": (Exponential(rate=0.25), stats.expon(scale=4.0)),
    "uniform": (Uniform(1.0, 3.0), stats.uniform(1.0, 2.0)),
    "uniform0": (Uniform(0.0, 3.0), stats.uniform(0.0, 3.0)),
    "gamma_small": (Gamma(0.5, scale=2.0), stats.gamma(0.5, scale=2.0)),
    "gamma_mean": (Gamma(3.5, mean=2.0), stats.gamma(3.5, scale=2.0 / 3.5)),
    "erlang": (Erlang(3, mean=1.5), stats.gamma(3, scale=0.5)),
    "weibull_heavy": (Weibull(0.5, 0.5), stats.weibull_min(0.5, scale=0.5)),
    "weibull_light": (Weibull(2.5, 1.5), stats.weibull_min(2.5, scale=1.5)),
    "lognormal": (Lognormal(1.2, mu=0.3), stats.lognorm(1.2, scale=math.exp(0.3))),
    "pareto": (Pareto(2.5, 1.5), stats.pareto(2.5, scale=1.5)),
    "bounded_pareto": (BoundedPareto(1.5, 1.0, 100.0), _trunc_pareto(1.5, 1.0, 100.0)),
    "bounded_pareto_log": (BoundedPareto(2.0, 0.5, 50.0), _trunc_pareto(2.0, 0.5, 50.0)),
}

HYPER = HyperExponential(means=[1.0, 10.0], probs=[0.9, 0.1])
CONTINUOUS = {**{k: v[0] for k, v in PAIRS.items()}, "hyperexp": HYPER}

XS = np.array([-1.0, 0.0, 1e-6, 0.3, 1.0, 1.5, 1.7, 2.5, 10.0, 60.0, 100.0, 200.0, 1e4])


def _ids(d):
    return sorted(d)


def _deep_tail_x(d: SizeDistribution, target: float = 1e-30) -> float:
    """x with sf(x) ~ target (bisection on the law's own sf)."""
    a = b = d.scale
    while d.sf(b) > target:
        b *= 2.0
    for _ in range(200):
        m = 0.5 * (a + b)
        a, b = (m, b) if d.sf(m) > target else (a, m)
    return b


def _mp_tail(d: SizeDistribution, k: float, x: float):
    """E[X**k; X > x] by mpmath quadrature of mp_pdf (40 digits)."""
    with mp.workdps(40):
        lo, hi = d.support
        x = mp.mpf(max(x, lo))
        if np.isfinite(hi):
            return mp.quad(lambda t: t**k * d.mp_pdf(t), [x, mp.mpf(hi)])
        pts = [x, 1.5 * x, 3 * x, 10 * x, mp.inf]
        return mp.quad(lambda t: t**k * d.mp_pdf(t), pts)


# --------------------------------------------------------------------------- scipy
@pytest.mark.parametrize("name", _ids(PAIRS))
def test_pdf_cdf_sf_match_scipy(name):
    d, ref = PAIRS[name]
    with np.errstate(all="ignore"):
        for f in ("pdf", "cdf", "sf"):
            got, want = getattr(d, f)(XS), getattr(ref, f)(XS)
            assert got.shape == XS.shape and got.dtype == float
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=f)


@pytest.mark.parametrize("name", _ids(PAIRS))
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_moments_match_scipy(name, k):
    d, ref = PAIRS[name]
    got = d.moment(k)
    if name == "pareto" and k >= 2.5:
        assert got == math.inf
        return
    lo, hi = ref.support()
    pts = [b for b in d.breakpoints if lo < b < hi] or None
    if np.isfinite(hi):
        want = integrate.quad(lambda t: t**k * ref.pdf(t), lo, hi, points=pts, epsrel=1e-13)[0]
    else:
        want = ref.moment(k)
    assert got == pytest.approx(want, rel=1e-10)


def test_weibull_documented_values():
    d = Weibull(shape=0.5, scale=0.5)
    x = np.array([0.1, 1.0, 7.0])
    np.testing.assert_allclose(d.cdf(x), 1 - np.exp(-np.sqrt(2 * x)), rtol=1e-14)
    assert d.moment(1) == pytest.approx(1.0, rel=1e-14)
    assert d.moment(2) == pytest.approx(6.0, rel=1e-14)


def test_hyperexponential_is_a_mixture():
    comps = [stats.expon(scale=1.0), stats.expon(scale=10.0)]
    w = [0.9, 0.1]
    for f in ("pdf", "cdf", "sf"):
        want = sum(p * getattr(c, f)(XS) for p, c in zip(w, comps, strict=True))
        np.testing.assert_allclose(getattr(HYPER, f)(XS), want, rtol=1e-13)
    for k in (1, 2, 3):
        want = sum(p * c.moment(k) for p, c in zip(w, comps, strict=True))
        assert HYPER.moment(k) == pytest.approx(want, rel=1e-13)


def test_lognormal_mean_parametrisation():
    d = Lognormal(sigma=0.8, mean=3.0)
    assert d.moment(1) == pytest.approx(3.0, rel=1e-14)
    assert d.mu == pytest.approx(math.log(3.0) - 0.32, rel=1e-14)
    assert Lognormal(0.5).mu == 0.0


def test_erlang_is_gamma():
    e, g = Erlang(4, mean=2.0), Gamma(shape=4.0, scale=0.5)
    np.testing.assert_array_equal(e.cdf(XS), g.cdf(XS))
    assert repr(e) == "Erlang(k=4, mean=2.0)"
    assert Erlang(2.0).moment(1) == 1.0


# ------------------------------------------------------------------ partial / tail moments
@pytest.mark.parametrize("name", _ids(CONTINUOUS))
@pytest.mark.parametrize("k", KS)
def test_partial_plus_tail_is_moment(name, k):
    d = CONTINUOUS[name]
    m = d.moment(k)
    xs = np.concatenate([XS, [_deep_tail_x(d) if not np.isfinite(d.support[1]) else 99.999]])
    p, t = d.partial_moment(k, xs), d.tail_moment(k, xs)
    assert p.shape == xs.shape
    if not np.isfinite(m):
        assert np.all(t == np.inf)
        return
    np.testing.assert_allclose(p + t, m, rtol=1e-12)
    lo, hi = d.support
    assert np.all(p[xs <= lo] == 0.0) and np.all(t[xs <= lo] == m)
    assert np.all(p[xs >= hi] == m) and np.all(t[xs >= hi] == 0.0)


@pytest.mark.parametrize("name", _ids(CONTINUOUS))
@pytest.mark.parametrize("k", KS)
def test_partial_moment_against_quad(name, k):
    d = CONTINUOUS[name]
    lo, _ = d.support
    got = d.partial_moment(k, XS)
    for x, g in zip(XS, got, strict=True):
        if x <= lo:
            assert g == 0.0
            continue
        grid = d.scale * 2.0 ** np.arange(-4, 40)  # so that quad cannot miss the mass
        cuts = sorted({lo, x} | {b for b in (*d.breakpoints, *grid) if lo < b < x})
        want = sum(
            integrate.quad(lambda t: t**k * d.pdf(t), a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        )
        assert g == pytest.approx(want, rel=1e-9), x


@pytest.mark.parametrize("name", _ids(CONTINUOUS))
def test_order_zero_is_cdf_and_sf(name):
    d = CONTINUOUS[name]
    np.testing.assert_allclose(d.partial_moment(0, XS), d.cdf(XS), rtol=1e-14, atol=0)
    np.testing.assert_allclose(d.tail_moment(0, XS), d.sf(XS), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", _ids(CONTINUOUS))
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_deep_tail_relative_precision(name, k):
    d = CONTINUOUS[name]
    lo, hi = d.support
    if np.isfinite(hi):
        xs = [hi * (1 - 1e-6), hi * (1 - 1e-12)]  # tail mass ~1e-8 and ~1e-14
    else:
        xs = [_deep_tail_x(d)]  # sf ~ 1e-30
    for x in xs:
        want = _mp_tail(d, k, x)
        got = d.tail_moment(k, x)
        if want == mp.inf or not np.isfinite(d.moment(k)):
            assert got == math.inf
            continue
        assert 0 < got < 1e-5 * max(d.moment(k), 1.0)
        assert got == pytest.approx(float(want), rel=1e-10)
        if k == 0:
            assert d.sf(x) == pytest.approx(float(d.mp_sf(x)), rel=1e-12)


@pytest.mark.parametrize("name", ["gamma_mean", "weibull_light", "lognormal", "exponential"])
def test_small_x_partial_relative_precision(name):
    d = CONTINUOUS[name]
    x = 1e-8
    with mp.workdps(40):
        want = d.mp_cdf(x)
    assert d.partial_moment(0, x) == pytest.approx(float(want), rel=1e-12)
    assert d.cdf(x) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_bounded_pareto_log_case(alpha):
    lo, hi = 0.5, 40.0
    d = BoundedPareto(alpha, lo, hi)
    den = 1 - (lo / hi) ** alpha
    k = alpha  # E[X**alpha] = alpha lo**alpha log(hi/lo) / den
    assert d.moment(k) == pytest.approx(alpha * lo**alpha * math.log(hi / lo) / den, rel=1e-14)
    x = 3.0
    want = alpha * lo**alpha * math.log(x / lo) / den
    assert d.partial_moment(k, x) == pytest.approx(want, rel=1e-14)
    assert d.tail_moment(k, x) == pytest.approx(
        alpha * lo**alpha * math.log(hi / x) / den, rel=1e-14
    )
    # continuity through k == alpha
    for eps in (1e-9, -1e-9):
        assert d.partial_moment(k + eps, x) == pytest.approx(want, rel=1e-7)


def test_pareto_divergent_moments():
    d = Pareto(2.0, xm=1.0)
    assert d.moment(2) == math.inf and d.moment(3.5) == math.inf
    assert d.tail_moment(2, 5.0) == math.inf
    assert d.partial_moment(2, 5.0) == pytest.approx(2.0 * math.log(5.0), rel=1e-14)
    assert d.tail_moment(2, np.inf) == 0.0
    assert d.partial_moment(1, np.inf) == pytest.approx(2.0)


# -------------------------------------------------------------------------------- mpmath
@pytest.mark.parametrize("name", _ids(CONTINUOUS))
def test_mp_functions_match_floats(name):
    d = CONTINUOUS[name]
    xs = [-1.0, 0.0, 0.3, 1.0, 1.7, 2.5, 10.0, 60.0, 200.0]
    with mp.workdps(30):
        for x in xs:
            for f in ("pdf", "cdf", "sf"):
                got = getattr(d, "mp_" + f)(mp.mpf(x))
                assert isinstance(got, mpmath.mpf)
                want = getattr(d, f)(x)
                if math.isinf(want):
                    assert got == mp.inf
                else:
                    assert float(got) == pytest.approx(want, rel=1e-12, abs=1e-300), (f, x)
        for k in (0, 1, 2, 2.5):
            m = d.moment(k)
            got = d.mp_moment(k)
            assert (got == mp.inf) if math.isinf(m) else float(got) == pytest.approx(m, rel=1e-13)


def test_mp_high_precision():
    with mp.workdps(50):
        d = Exponential(mean=2.0)
        assert mp.almosteq(d.mp_sf(mp.mpf(2)), mp.exp(-1), rel_eps=mp.mpf(10) ** -48)
        w = Weibull(0.5, 0.5)
        assert mp.almosteq(w.mp_moment(2), mp.mpf(6), rel_eps=mp.mpf(10) ** -48)
        bp = BoundedPareto(1.5, 1.0, 100.0)
        assert mp.almosteq(bp.mp_cdf(mp.mpf(50)) + bp.mp_sf(mp.mpf(50)), 1, rel_eps=1e-45)


# -------------------------------------------------------------------------------- discrete
def test_discrete_atoms_and_semantics():
    d = Discrete(values=[3.0, 1.0, 3.0, 0.0], probs=[0.25, 0.5, 0.25, 0.0])
    vals, probs = d.atoms
    np.testing.assert_array_equal(vals, [1.0, 3.0])
    np.testing.assert_array_equal(probs, [0.5, 0.5])
    assert d.is_discrete and d.support == (1.0, 3.0) and d.breakpoints == (1.0, 3.0)
    x = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(d.cdf(x), [0, 0.5, 0.5, 1, 1])
    np.testing.assert_array_equal(d.sf(x), [1, 0.5, 0.5, 0, 0])
    np.testing.assert_array_equal(d.pmf(x), [0, 0.5, 0, 0.5, 0])
    np.testing.assert_array_equal(d.partial_moment(2, x), [0, 0.5, 0.5, 5, 5])
    np.testing.assert_array_equal(d.tail_moment(2, x), [5, 4.5, 4.5, 0, 0])
    assert d.moment(2) == 5.0 and d.mean == 2.0
    with pytest.raises(TypeError, match="atoms; use pmf"):
        d.pdf(1.0)
    with pytest.raises(TypeError, match="atoms"):
        d.mp_pdf(1.0)
    assert d.mp_cdf(1.0) == 0.5 and d.mp_sf(1.0) == 0.5 and d.mp_moment(2) == 5
    assert repr(d) == "Discrete(values=[1.0, 3.0], probs=[0.5, 0.5])"


def test_discrete_normalises_and_tail_is_exact():
    d = Discrete([1.0, 2.0, 1e3], [0.5, 0.5 - 1e-20 + 2e-10, 1e-20])
    assert d.atoms[1].sum() == pytest.approx(1.0, abs=1e-15)
    assert d.sf(2.0) == pytest.approx(1e-20, rel=1e-6)
    assert d.tail_moment(3, 2.0) == pytest.approx(1e-20 * 1e9, rel=1e-6)


def test_empirical_and_deterministic():
    e = Empirical([2.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(e.atoms[0], [1.0, 2.0, 5.0])
    np.testing.assert_array_equal(e.atoms[1], [0.25, 0.5, 0.25])
    assert e.moment(1) == 2.5 and e.scale == 2.0
    det = Deterministic(2.0)
    assert det.moment(3) == 8.0 and det.cdf(2.0) == 1.0 and det.sf(2.0) == 0.0
    assert det.partial_moment(1, 2.0) == 2.0 and det.tail_moment(1, 1.999) == 2.0
    np.testing.assert_array_equal(det.sample(3, 0), [2.0, 2.0, 2.0])
    assert repr(det) == "Deterministic(value=2.0)"


def test_discrete_partial_tail_vs_moment():
    rng = np.random.default_rng(1)
    d = Empirical(rng.exponential(size=500))
    xs = np.linspace(-1, 8, 50)
    for k in KS:
        np.testing.assert_allclose(
            d.partial_moment(k, xs) + d.tail_moment(k, xs), d.moment(k), rtol=1e-12
        )


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: Exponential(), "mean"),
        (lambda: Exponential(mean=1.0, rate=1.0), "rate"),
        (lambda: Exponential(mean=-1.0), "mean"),
        (lambda: Exponential(rate=0.0), "rate"),
        (lambda: Exponential(mean=float("nan")), "mean"),
        (lambda: Exponential(mean=float("inf")), "mean"),
        (lambda: Deterministic(0.0), "value"),
        (lambda: Uniform(2.0, 1.0), "low"),
        (lambda: Uniform(-1.0, 1.0), "low"),
        (lambda: Uniform(0.0, float("inf")), "high"),
        (lambda: Gamma(0.0, scale=1.0), "shape"),
        (lambda: Gamma(1.0, scale=-1.0), "scale"),
        (lambda: Gamma(1.0, scale=1.0, mean=1.0), "mean"),
        (lambda: Erlang(2.5), "k"),
        (lambda: Erlang(0), "k"),
        (lambda: Erlang(2, mean=0.0), "mean"),
        (lambda: HyperExponential([1.0, -2.0], [0.5, 0.5]), "means"),
        (lambda: HyperExponential([1.0, 2.0], [0.5, 0.6]), "probs"),
        (lambda: HyperExponential([1.0, 2.0], [1.0]), "probs"),
        (lambda: Weibull(-1.0), "shape"),
        (lambda: Weibull(1.0, scale=float("nan")), "scale"),
        (lambda: Lognormal(0.0), "sigma"),
        (lambda: Lognormal(1.0, mu=0.0, mean=1.0), "mean"),
        (lambda: Lognormal(1.0, mu=float("inf")), "mu"),
        (lambda: Lognormal(1.0, mean=-1.0), "mean"),
        (lambda: Pareto(0.0), "alpha"),
        (lambda: Pareto(1.5, xm=0.0), "xm"),
        (lambda: BoundedPareto(-1.0, 1.0, 2.0), "alpha"),
        (lambda: BoundedPareto(1.0, 2.0, 1.0), "low"),
        (lambda: BoundedPareto(1.0, 0.0, 1.0), "low"),
        (lambda: BoundedPareto(1.0, 1.0, float("inf")), "high"),
        (lambda: Discrete([1.0, -2.0], [0.5, 0.5]), "values"),
        (lambda: Discrete([1.0, 2.0], [0.5, 0.4]), "probs"),
        (lambda: Discrete([1.0, 2.0], [1.5, -0.5]), "probs"),
        (lambda: Discrete([], []), "values"),
        (lambda: Empirical([1.0, float("nan")]), "samples"),
        (lambda: ScipyDistribution(stats.norm()), "dist"),
        (lambda: ScipyDistribution(stats.poisson(2.0)), "dist"),
    ],
)
def test_bad_parameters_raise(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_bad_arguments_to_methods():
    d = Exponential(mean=1.0)
    with pytest.raises(ValueError, match="k"):
        d.moment(-1)
    with pytest.raises(ValueError, match="k"):
        d.partial_moment(float("nan"), 1.0)
    with pytest.raises(ValueError, match="n"):
        d.sample(-1, 0)
    with pytest.raises(ValueError, match="rng"):
        d.sample(3, None)


# ---------------------------------------------------------------------------- sampling
SAMPLED = {**CONTINUOUS, "discrete": Discrete([1.0, 2.0, 7.0], [0.2, 0.5, 0.3])}


@pytest.mark.parametrize("name", _ids(SAMPLED))
def test_sample_mean_and_reproducibility(name):
    d = SAMPLED[name]
    n = 20_000
    x = d.sample(n, 12345)
    assert x.shape == (n,) and x.dtype == float
    lo, hi = d.support
    assert np.all((x >= lo) & (x <= hi))
    se = math.sqrt((d.moment(2) - d.mean**2) / n)
    assert abs(x.mean() - d.mean) < 5 * se
    np.testing.assert_array_equal(x[:100], d.sample(100, 12345))
    np.testing.assert_array_equal(
        d.sample(10, np.random.default_rng(7)), d.sample(10, np.random.default_rng(7))
    )
    assert not np.array_equal(d.sample(10, 1), d.sample(10, 2))


# ------------------------------------------------------------------------ interface bits
def test_shapes_scalars_and_nan():
    d = Gamma(2.0, scale=1.0)
    x = np.linspace(0, 5, 12).reshape(3, 4)
    for f in (d.pdf, d.cdf, d.sf, lambda t: d.partial_moment(1, t), lambda t: d.tail_moment(2, t)):
        assert f(x).shape == (3, 4)
        assert isinstance(f(1.0), float)
        assert math.isnan(f(float("nan")))
    assert Discrete([1.0], [1.0]).cdf(np.array([[0.0, 1.0]])).shape == (1, 2)


def test_support_and_breakpoints():
    assert Exponential(mean=1.0).breakpoints == ()
    assert Weibull(2.0).breakpoints == () and Lognormal(1.0).breakpoints == ()
    assert HYPER.breakpoints == () and Gamma(2.0).breakpoints == ()
    assert Uniform(0.0, 2.0).breakpoints == (2.0,)
    assert Uniform(1.0, 2.0).breakpoints == (1.0, 2.0)
    assert Pareto(2.0, xm=3.0).breakpoints == (3.0,) and Pareto(2.0, 3.0).support == (3.0, np.inf)
    assert BoundedPareto(1.0, 1.0, 9.0).breakpoints == (1.0, 9.0)
    assert Deterministic(4.0).breakpoints == (4.0,)


@pytest.mark.parametrize("name", _ids(CONTINUOUS))
def test_scale_is_median(name):
    d = CONTINUOUS[name]
    assert d.cdf(d.scale) == pytest.approx(0.5, rel=1e-12)


def test_repr():
    assert repr(Exponential(rate=2.0)) == "Exponential(mean=0.5)"
    assert repr(Pareto(2.0)) == "Pareto(alpha=2.0, xm=1.0)"
    assert repr(HYPER) == "HyperExponential(means=[1.0, 10.0], probs=[0.9, 0.1])"
    assert "ScipyDistribution(expon(scale=2.0))" == repr(ScipyDistribution(stats.expon(scale=2.0)))


# ------------------------------------------------------------------------------ scipy wrap
SCIPY_PAIRS = {
    "expon": (stats.expon(scale=2.0), Exponential(mean=2.0)),
    "gamma": (stats.gamma(0.5, scale=2.0), Gamma(0.5, scale=2.0)),
    "pareto": (stats.pareto(2.5, scale=1.5), Pareto(2.5, 1.5)),
    "truncpareto": (_trunc_pareto(1.5, 1.0, 100.0), BoundedPareto(1.5, 1.0, 100.0)),
    "uniform": (stats.uniform(1.0, 2.0), Uniform(1.0, 3.0)),
}


@pytest.mark.parametrize("name", _ids(SCIPY_PAIRS))
def test_scipy_wrapper_matches_closed_forms(name):
    frozen, d = SCIPY_PAIRS[name]
    w = ScipyDistribution(frozen)
    assert w.support == d.support and w.breakpoints == d.breakpoints
    xs = np.array([-1.0, 0.0, 0.3, 1.7, 10.0, 1e3])
    np.testing.assert_allclose(w.sf(xs), d.sf(xs), rtol=1e-12)
    for k in (0, 0.5, 1, 3):
        m = d.moment(k)
        assert w.moment(k) == (pytest.approx(m, rel=1e-11) if np.isfinite(m) else m)
        np.testing.assert_allclose(w.partial_moment(k, xs), d.partial_moment(k, xs), rtol=1e-11)
        np.testing.assert_allclose(w.tail_moment(k, xs), d.tail_moment(k, xs), rtol=1e-11)
    assert float(w.mp_sf(1.7)) == pytest.approx(d.sf(1.7), rel=1e-12)
    np.testing.assert_array_equal(w.sample(5, 3), w.sample(5, 3))


def test_scipy_wrapper_deep_tail():
    w, d = ScipyDistribution(stats.expon(scale=2.0)), Exponential(mean=2.0)
    x = _deep_tail_x(d)
    for k in (1, 2):
        assert w.tail_moment(k, x) == pytest.approx(d.tail_moment(k, x), rel=1e-10)


def test_as_distribution():
    d = Exponential(mean=1.0)
    assert as_distribution(d) is d
    w = as_distribution(stats.lognorm(0.5))
    assert isinstance(w, ScipyDistribution) and w.dist.dist.name == "lognorm"
    with pytest.raises(TypeError):
        as_distribution(stats.poisson(3.0))
    with pytest.raises(TypeError):
        as_distribution(2.0)
    with pytest.raises(ValueError, match="dist"):
        as_distribution(stats.norm())


# ------------------------------------------------------------------------------ hypothesis
_pos = st.floats(0.2, 5.0)
_laws = st.one_of(
    st.builds(lambda m: Exponential(mean=m), _pos),
    st.builds(lambda a, b: Uniform(a, a + b), st.floats(0.0, 3.0), _pos),
    st.builds(lambda a, m: Gamma(a, mean=m), st.floats(0.1, 20.0), _pos),
    st.builds(lambda k, m: Erlang(k, mean=m), st.integers(1, 30), _pos),
    st.builds(
        lambda m1, m2, p: HyperExponential([m1, m2], [p, 1 - p]), _pos, _pos, st.floats(0, 1)
    ),
    st.builds(lambda c, s: Weibull(c, s), st.floats(0.3, 5.0), _pos),
    st.builds(lambda s, mu: Lognormal(s, mu=mu), st.floats(0.1, 2.0), st.floats(-2.0, 2.0)),
    st.builds(lambda a, xm: Pareto(a, xm), st.floats(0.5, 6.0), _pos),
    st.builds(
        lambda a, lo, r: BoundedPareto(a, lo, lo * r),
        st.floats(0.1, 4.0),
        _pos,
        st.floats(1.01, 1e4),
    ),
    st.builds(
        lambda v, p: Discrete(v, np.asarray(p) / np.sum(p)),
        st.lists(st.floats(0.0, 100.0), min_size=3, max_size=3),
        st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    d=_laws,
    k=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]),
    xs=st.lists(st.floats(-1.0, 1e3), min_size=2, max_size=8),
)
def test_property_partial_monotone_and_sums_to_moment(d, k, xs):
    xs = np.sort(np.asarray(xs + [d.scale]))
    p = d.partial_moment(k, xs)
    t = d.tail_moment(k, xs)
    assert np.all(p >= 0) and np.all(t >= 0)
    assert np.all(np.diff(p) >= -1e-12 * np.abs(p[1:]))
    m = d.moment(k)
    if np.isfinite(m):
        np.testing.assert_allclose(p + t, m, rtol=1e-11)
    else:
        assert np.all(t == np.inf)


def test_regularized_gamma_of_whole_orders_against_mpmath():
    """P(n, y) and Q(n, y) for whole n <= 8 (the partial and tail moments of exponential,
    Erlang, gamma and Weibull laws): within 4e-15 relative of mpmath at 40 digits, at tiny
    y (where P ~ y**n / n!, and scipy's gammainc was 1.5e-13 off at y = 2.4e-94, n = 3),
    near y = 1 (where 1 - Q for n = 8 was 2e-11 off until 2026-12-06), and far out; exact at
    0, inf and NaN. Reference: ``mpmath.gammainc(n, 0, y, regularized=True)`` (P) and
    ``mpmath.gammainc(n, y, mpmath.inf, regularized=True)`` (Q), ``mp.dps = 40``."""
    from qtheory.distributions.gamma_family import _regularized_gamma

    mpmath.mp.dps = 40
    y = np.array([1e-200, 2.418907053730546e-94, 1e-20, 1e-5, 0.3, 0.999, 1.0, 1.0001, 1.5,
                  2.0, 3.0, 4.17, 5.0, 7.9, 8.0, 12.0, 40.0, 700.0])
    try:
        for n in range(1, 9):
            for upper in (False, True):
                got = _regularized_gamma(float(n), y, upper)
                for g, v in zip(got, y):
                    want = (mpmath.gammainc(n, v, mpmath.inf, regularized=True) if upper
                            else mpmath.gammainc(n, 0, v, regularized=True))
                    if want > mpmath.mpf("1e-300"):
                        assert abs(g - want) <= 4e-15 * want, (n, upper, v, g, want)
                    else:
                        assert g <= 1e-299
                ends = _regularized_gamma(float(n), np.array([0.0, np.inf, np.nan]), upper)
                assert ends[:2].tolist() == ([1.0, 0.0] if upper else [0.0, 1.0])
                assert np.isnan(ends[2])
    finally:
        mpmath.mp.dps = 15
    # a shape with its own axes comes back with them; other orders keep scipy's functions
    assert _regularized_gamma(2.0, np.ones((2, 3)), False).shape == (2, 3)
    assert _regularized_gamma(2.5, np.array([1.0]), True)[0] == pytest.approx(
        float(mpmath.gammainc(2.5, 1.0, mpmath.inf, regularized=True)), rel=1e-14)


def test_incomplete_gamma_series_table_reaches_its_cut():
    """The series of P(n, y) below its cut is summed by Horner's rule to a fixed degree
    (gamma_family._SER_DEG): the first term left out is below 1e-17 of the sum at the cut
    (the sum is at least 1), the table holds that term, and the degree is the least such;
    at the cut itself the sum meets 1F1(1; n + 1; y) in mpmath (40 digits) to 2 ulps."""
    from math import factorial, sqrt

    from qtheory.distributions.gamma_family import _SER, _SER_DEG, _gamma_int

    mpmath.mp.dps = 40
    try:
        for n in range(1, 9):
            cut = max(1.0, n - 1.0 - sqrt(n))
            d = int(_SER_DEG[n])
            assert d + 1 < _SER.shape[1]
            assert _SER[n, d] == factorial(n) / factorial(n + d)
            assert cut ** (d + 1) * _SER[n, d + 1] <= 1e-17 < cut ** d * _SER[n, d]
            y = np.nextafter(cut, 0.0)
            want = mpmath.gammainc(n, 0, y, regularized=True)
            got = _gamma_int(n, np.array([y]), False)[0]
            assert abs(got - want) <= 4.5e-16 * want, (n, got, want)
    finally:
        mpmath.mp.dps = 15


def test_bounded_pareto_gives_three_orders_in_one_pass():
    """BoundedPareto moments012 (one compiled pass, heavy_tailed.bounded_pareto_012: the
    logarithms and exponentials of a point shared by the orders, powers by products) against
    cdf/sf and the partial and tail moments one order at a time: within 1e-14 relative (the
    largest seen 6e-15, alpha 0.3 over six decades), including k = alpha (the log case), a
    support of one part in a thousand, the ends, beyond them, 0, inf and NaN."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.exp(rng.normal(0.0, 2.0, 4000)), [0.0, 0.2, 50.0, 1e-300,
                                                             1e300, np.inf, -1.0, np.nan]])
    for law in (BoundedPareto(1.5, 0.2, 50.0), BoundedPareto(1.0, 1.0, 4.0),
                BoundedPareto(2.0, 0.5, 100.0), BoundedPareto(0.3, 1e-3, 1e3),
                BoundedPareto(2.5, 1.0, 1.001)):
        for tail in (False, True):
            with np.errstate(all="ignore"):
                fused = law.moments012(x, tail)
                one = SizeDistribution.moments012(law, x, tail)
            for a, b in zip(fused, one):
                assert np.allclose(a, b, rtol=1e-14, atol=0, equal_nan=True)
                assert np.array_equal(a == 0, b == 0)
        assert law.moments012(np.ones((2, 3)))[2].shape == (2, 3)
        assert isinstance(law.moments012(1.0)[1], float)


def test_exponential_mixtures_prob_between_in_one_pass():
    """Exponential and HyperExponential prob_between (one compiled pass over the pairs,
    gamma_family.exp_mixture_between) against the generic difference of sf (at or above the
    median) or cdf: within 1e-15 of the end's value (the C library's exp and expm1 against
    NumPy's), NaN at NaN, 0 for an empty interval, exact tails far out; shapes broadcast."""
    rng = np.random.default_rng(8)
    a = np.concatenate([np.exp(rng.normal(0.0, 2.0, 3000)), [0.0, -1.0, np.nan, 1.0, 40.0, 5.0]])
    b = a * np.exp(rng.exponential(1.0, a.size))
    b[-6:] = [1.0, 2.0, 3.0, np.nan, np.inf, 5.0]
    for law in (Exponential(mean=1.0), HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
                HyperExponential(means=(0.1, 1.0, 30.0), probs=(0.5, 0.3, 0.2))):
        got = law.prob_between(a, b)
        with np.errstate(invalid="ignore"):
            want = SizeDistribution.prob_between(law, a, b)
            end = np.where(a >= law.scale, law.sf(a), law.cdf(b))
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        assert np.all(np.abs(got[ok] - want[ok]) <= 1e-15 * end[ok])
        assert got[-1] == 0.0
        assert law.prob_between([[1.0], [2.0]], [3.0, 4.0]).shape == (2, 2)
    assert Exponential(mean=1.0).prob_between(40.0, np.inf) == np.exp(-40.0)


def test_bounded_pareto_prob_between_against_mpmath():
    """BoundedPareto.prob_between (one compiled product, heavy_tailed.bounded_pareto_between)
    against 40-digit mpmath on five laws, over and beyond the support, with intervals as
    narrow as 1e-9 relative (where the generic difference of two cdf values is 6e-7 off) and
    open to inf: within 2e-15; NaN at NaN, 0 where the clipped interval is empty."""
    rng = np.random.default_rng(4)
    with mpmath.workdps(40):
        for alpha, lo, hi in ((1.5, 0.2, 50.0), (0.3, 0.1, 1e5), (2.5, 1.0, 3.0),
                              (1.0, 0.1, 500.0), (4.0, 0.5, 1e3)):
            law = BoundedPareto(alpha=alpha, low=lo, high=hi)
            x = np.exp(rng.uniform(np.log(lo) - 0.5, np.log(hi) + 0.5, (2, 120)))
            a, b = np.minimum(x[0], x[1]), np.maximum(x[0], x[1])
            b[:10] = np.inf
            b[10:30] = a[10:30] * (1 + 1e-9)
            got = law.prob_between(a, b)
            for ai, bi, g in zip(a, b, got):
                ref = float(law.mp_sf(ai) - (law.mp_sf(bi) if np.isfinite(bi) else 0))
                if min(bi, hi) <= max(ai, lo):
                    assert g == 0.0
                else:
                    assert abs(g / ref - 1.0) < 2e-15
        assert np.isnan(law.prob_between([np.nan, 1.0], [2.0, np.nan])).all()
        assert law.prob_between([[1.0], [2.0]], [3.0, 4.0]).shape == (2, 2)


def test_incomplete_gamma_laws_give_three_orders_in_one_pass():
    """Exponential and HyperExponential moments012 (one compiled pass,
    gamma_family.exp_mixture_012), and Weibull's where 1 + 1/shape and 1 + 2/shape are whole
    (shape 1, 1/2, 1/3: gamma_family.exp_power_012; shape 2 takes the orders one at a time)
    against their partial and tail moments one order at a time: orders 1 and 2 bit for bit
    (the same compiled incomplete gamma), order 0 within 2 ulps (the C library's exp and
    expm1 against NumPy's); exact at 0, inf and NaN; shapes kept."""
    rng = np.random.default_rng(5)
    x = np.concatenate([np.exp(rng.normal(0.0, 3.0, 4000)), [0.0, -1.0, np.inf, 1e-300,
                                                             700.0, 1e308, np.nan]])
    for law in (Exponential(mean=0.3), HyperExponential(means=(0.1, 1.0, 30.0),
                                                           probs=(0.5, 0.3, 0.2)),
                Weibull(shape=0.5, scale=1.0), Weibull(shape=1.0, scale=2.0),
                Weibull(shape=1.0 / 3.0, scale=0.7), Weibull(shape=2.0, scale=1.0)):
        for tail in (False, True):
            with np.errstate(all="ignore"):
                fused = law.moments012(x, tail)
                one = SizeDistribution.moments012(law, x, tail)
            assert np.array_equal(fused[1], one[1], equal_nan=True)
            assert np.array_equal(fused[2], one[2], equal_nan=True)
            assert np.allclose(fused[0], one[0], rtol=5e-16, atol=0, equal_nan=True)
            assert [float(v[-7]) for v in fused] == ([1.0, law.mean, law.moment(2)] if tail
                                                    else [0.0, 0.0, 0.0])
        assert law.moments012(np.ones((2, 3)))[2].shape == (2, 3)
        assert isinstance(law.moments012(1.0)[1], float)


def test_moments012_sides_is_each_side_bit_for_bit():
    """moments012_sides (the SOAP engine's cell moments: each point on its side, one pass
    for the laws with compiled moments012) against moments012 of each side's points, bit for
    bit: BoundedPareto, Exponential, HyperExponential, Weibull (compiled orders and shape 2's
    one at a time), a prediction bucket's tables, Lognormal (the generic path); zeros and
    the caller's totals at codes 2 and 3; the edge codes of the SOAP engine's compiled
    edge_sides."""
    import qtheory as qt
    from qtheory.analysis._soap_kernels import edge_sides
    from qtheory.distributions.posterior import PredictionBucket

    rng = np.random.default_rng(11)
    laws = [BoundedPareto(1.5, 0.2, 50.0), BoundedPareto(0.3, 1e-3, 1e3),
            Exponential(mean=0.3), HyperExponential(means=(0.1, 1.0, 30.0), probs=(0.5, 0.3, 0.2)),
            Weibull(shape=0.5, scale=1.0), Weibull(shape=2.0, scale=1.0),
            PredictionBucket(Exponential(mean=1.0), qt.ExponentialPrediction(), 0.5, 2.0),
            qt.Lognormal(mu=0.0, sigma=1.0)]
    for law in laws:
        lo, hi = law.support
        x = np.concatenate([law.scale * np.exp(rng.normal(0.0, 2.0, 20000)),
                            [lo, hi, 0.0, np.inf, np.nan, law.scale]])
        x = x[np.isfinite(x) | np.isnan(x)] if hi == np.inf else x
        side = edge_sides(x, float(lo), float(hi), float(law.scale))
        inside = (x > lo) & (x < hi)
        assert np.array_equal(side[inside], np.where(x[inside] <= law.scale, 0, 1))
        assert np.all(side[~inside] >= 2)
        # the totals at code 3 are the caller's, written as given (the engine passes the
        # law's own; other numbers here, so a law that wrote its own would fail)
        tot = np.array([law.moment(k) for k in (0, 1, 2)]) * 1.5 + 1.0
        with np.errstate(all="ignore"):
            got = law.moments012_sides(x, side, tot)
        for code, tail in ((0, False), (1, True)):
            at = side == code
            with np.errstate(all="ignore"):
                want = law.moments012(x[at], tail)
            for k in range(3):
                assert np.array_equal(got[k, at], want[k], equal_nan=True), (law, k, tail)
        assert np.all(got[:, side == 2] == 0.0)
        assert np.array_equal(got[:, side == 3], np.broadcast_to(tot[:, None],
                                                                 (3, int(np.sum(side == 3)))))
        # the codes as given, wherever the points are (the unbounded laws' edges never
        # reach code 3 above)
        forced = law.moments012_sides(np.array([law.scale, 2.0 * law.scale]),
                                      np.array([3, 2], np.int8), tot)
        assert forced[:, 0].tolist() == tot.tolist() and forced[:, 1].tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="side"):
        laws[0].moments012_sides(np.ones(3), np.zeros(2, np.int8), np.ones(3))
