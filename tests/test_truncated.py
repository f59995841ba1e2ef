"""Truncated laws: vectorised functions equal their scalar values, and moments, partial and
tail moments equal scipy quadrature of the parent density on the interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

import qtheory as qt
from qtheory.distributions.truncated import Truncated

CASES = [
    (qt.Exponential(mean=1.0), 0.0, 1.0),
    (qt.Exponential(mean=1.0), 1.0, np.inf),
    (qt.Weibull(shape=0.5, scale=1.0), 0.0, 5.0),
    (qt.Weibull(shape=2.0, scale=1.0), 0.3, 1.7),
    (qt.Lognormal(sigma=1.0, mean=1.0), 0.5, 4.0),
    (qt.BoundedPareto(alpha=1.5, low=1.0, high=100.0), 2.0, 100.0),
    (qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)), 0.2, np.inf),
]
IDS = [f"{type(law).__name__}[{lo},{hi}]" for law, lo, hi in CASES]


def _points(t):
    lo, hi = t.low, t.high
    top = hi if np.isfinite(hi) else lo + 10.0
    inner = np.linspace(lo, top, 13)
    return np.concatenate([[0.0, 0.5 * lo, lo, np.nextafter(lo, np.inf)], inner,
                           [np.nextafter(top, 0.0), top, 2.0 * top + 1.0]])


@pytest.mark.parametrize("law,lo,hi", CASES, ids=IDS)
def test_array_input_equals_scalar_loop(law, lo, hi):
    t = Truncated(law, lo, hi)
    x = _points(t)
    funcs = {"pdf": t.pdf, "cdf": t.cdf, "sf": t.sf,
             "pm1": lambda z: t.partial_moment(1, z), "pm2": lambda z: t.partial_moment(2, z),
             "tm1": lambda z: t.tail_moment(1, z), "tm0.5": lambda z: t.tail_moment(0.5, z)}
    for name, f in funcs.items():
        arr = f(x)
        assert isinstance(arr, np.ndarray) and arr.shape == x.shape, name
        loop = np.array([f(float(v)) for v in x])
        assert all(isinstance(f(float(v)), float) for v in x[:3]), name
        np.testing.assert_allclose(arr, loop, rtol=1e-15, atol=0, err_msg=name)
        # any shape, and a fresh law object (no cached constants) agrees too
        np.testing.assert_allclose(f(x.reshape(1, -1, 1)).ravel(), loop, rtol=1e-15, atol=0)
    fresh = Truncated(law, lo, hi)
    np.testing.assert_allclose(fresh.tail_moment(1, x), t.tail_moment(1, x), rtol=1e-15, atol=0)


@pytest.mark.parametrize("law,lo,hi", CASES, ids=IDS)
def test_moments_against_quadrature_of_the_parent_density(law, lo, hi):
    t = Truncated(law, lo, hi)
    top = hi if np.isfinite(hi) else np.inf

    def quad(g, a, b):
        pts = [p for p in law.breakpoints if a < p < b] if np.isfinite(b) else None
        return integrate.quad(g, a, b, points=pts or None, limit=400, epsabs=0,
                              epsrel=1e-13)[0]

    mass = quad(law.pdf, lo, top)
    assert t.mass == pytest.approx(mass, rel=1e-10)
    for k in (0.5, 1.0, 2.0, 3.0):
        ref = quad(lambda s: s**k * law.pdf(s), lo, top) / mass
        assert t.moment(k) == pytest.approx(ref, rel=1e-10), k
    ends = hi if np.isfinite(hi) else lo + 6.0
    for x in np.linspace(lo, ends, 7)[1:]:
        cdf = quad(law.pdf, lo, x) / mass
        assert float(t.cdf(x)) == pytest.approx(cdf, rel=1e-10, abs=1e-15)
        assert float(t.sf(x)) == pytest.approx(1.0 - cdf, rel=1e-10, abs=1e-15)
        for k in (1.0, 2.0):
            pm = quad(lambda s: s**k * law.pdf(s), lo, x) / mass
            tm = quad(lambda s: s**k * law.pdf(s), x, top) / mass if x < top else 0.0
            assert float(t.partial_moment(k, x)) == pytest.approx(pm, rel=1e-10, abs=1e-15)
            assert float(t.tail_moment(k, x)) == pytest.approx(tm, rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("law,lo,hi", CASES, ids=IDS)
def test_density_closed_at_the_lower_end_and_median(law, lo, hi):
    t = Truncated(law, lo, hi)
    a = t.support[0]
    # the right limit at the lower end of the support, as the other laws (Uniform, Pareto)
    assert float(t.pdf(a)) == pytest.approx(float(law.pdf(a)) / t.mass, rel=1e-15)
    assert float(t.pdf(np.nextafter(a, -np.inf))) == 0.0
    if np.isfinite(hi):
        assert float(t.pdf(np.nextafter(hi, np.inf))) == 0.0
    m = t.scale
    assert float(t.cdf(m)) == pytest.approx(0.5, abs=1e-13)
    assert float(t.cdf(np.nextafter(m, 0.0))) <= 0.5 + 1e-15


def test_lower_end_density_gives_the_right_gittins_rank_at_age_zero():
    """Truncated Weibull(0.5) on [0, 5]: the hazard is infinite at 0+, so the Gittins rank of a
    fresh job is 0 (a density of 0 at age 0 once made it the mean residual size, 0.866, on a
    sliver [0, 1e-68), which is another policy: new jobs then did not preempt). Since
    2026-12-06 a truncated law's closed-form pieces are Chebyshev interpolants (as a
    tabulated law's, good to 1e-12 of their largest value): 0 to rounding."""
    from qtheory.analysis.gittins import gittins_rank

    g = gittins_rank(Truncated(qt.Weibull(shape=0.5, scale=1.0), 0.0, 5.0))
    assert abs(float(g(0.0))) <= 1e-15
    assert g.pieces[0].start == 0.0 and g.pieces[0].kind == 1
