"""Prediction models: the noise laws, the joint law of (X, Y), and user-supplied noise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, stats

import qtheory as qt

MODELS = {
    "exponential": qt.ExponentialPrediction(),
    "uniform": qt.UniformPrediction(alpha=0.3),
    "uniform1": qt.UniformPrediction(alpha=1.0),
    "lognormal": qt.LognormalPrediction(sigma=0.7),
    "scipy-gamma": qt.MultiplicativePrediction(stats.gamma(3.0, scale=1 / 3)),
    "density": qt.MultiplicativePrediction(pdf=lambda z: 1 - np.abs(z - 1), support=(0, 2),
                                           breakpoints=[1.0]),
}


def _quad(fn, model, upper=np.inf):
    lo, hi = model.noise_support
    hi = min(hi, upper)
    pts = [p for p in model.noise_breakpoints if lo < p < hi]
    edges = [lo, *pts, hi]
    return sum(integrate.quad(fn, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
               for a, b in zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("name", list(MODELS))
def test_noise_law_consistency(name):
    m = MODELS[name]
    assert _quad(lambda z: float(m.noise_pdf(z)), m) == pytest.approx(1.0, abs=1e-9)
    for z in (0.3, 0.9, 1.0, 1.2, 2.5):
        cdf = float(m.noise_cdf(z))
        assert cdf == pytest.approx(_quad(lambda t: float(m.noise_pdf(t)), m, z), abs=1e-9)
        assert cdf + float(m.noise_sf(z)) == pytest.approx(1.0, abs=1e-12)
        for j in (1, 2):
            ref = _quad(lambda t: t**j * float(m.noise_pdf(t)), m, z)
            assert float(m.noise_partial_moment(j, z)) == pytest.approx(ref, rel=1e-8, abs=1e-12)
    for a in (0.0, 0.4, 2.0):
        ref = _quad(lambda t: (1 + a - t) ** 2 * float(m.noise_pdf(t)) * (a < t < 1 + a), m)
        assert float(m.noise_window_square(a)) == pytest.approx(ref, rel=1e-7, abs=1e-12)
    ref = _quad(lambda t: max(1 - t, 0.0) * float(m.noise_pdf(t)), m)
    assert m.noise_shortfall() == pytest.approx(ref, rel=1e-8)
    if not isinstance(m, qt.MultiplicativePrediction) or m.noise is not None:
        u = np.array([1e-6, 0.2, 0.5, 0.9])
        np.testing.assert_allclose(m.noise_cdf(m.noise_ppf(u)), u, rtol=1e-9)
        np.testing.assert_allclose(m.noise_sf(m.noise_isf(u)), u, rtol=1e-9)


@pytest.mark.parametrize("name", ["exponential", "uniform", "lognormal", "density"])
def test_joint_law_and_marginals(name):
    m = MODELS[name]
    size = qt.Weibull(shape=1.5, scale=1.0)
    # joint density integrates to 1 (inner over y split at the kinks of the noise)
    def inner(x):
        mult = (m.noise_support[0], *m.noise_breakpoints, 1.0, 5.0, m.noise_support[1])
        pts = [x * p for p in mult if p <= m.noise_support[1]]
        edges = sorted({p for p in pts if np.isfinite(p)} | {0.0})
        if not np.isfinite(m.noise_support[1]):
            edges.append(np.inf)
        return sum(integrate.quad(lambda y: float(m.joint_pdf(x, y, size)), a, b)[0]
                   for a, b in zip(edges[:-1], edges[1:]) if b > a)
    total = integrate.quad(inner, 0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    y = np.array([0.2, 0.8, 1.5])
    cdf = m.marginal_cdf(y, size)
    pdf = m.marginal_pdf(y, size)
    h = 1e-5
    deriv = (m.marginal_cdf(y + h, size) - m.marginal_cdf(y - h, size)) / (2 * h)
    np.testing.assert_allclose(pdf, deriv, rtol=1e-6)
    assert np.all((cdf > 0) & (cdf < 1))
    # rho'_y grows to rho
    lam = 0.7
    rp = m.rho_prime(np.array([1e-3, 1.0, 1e6]), size, lam)
    assert np.all(np.diff(rp) > 0) and rp[-1] == pytest.approx(lam * size.mean, rel=1e-9)


def test_sampling_is_reproducible_and_right():
    size = qt.Exponential(mean=2.0)
    for m in MODELS.values():
        x1, y1 = m.sample(size, 20000, 7)
        x2, y2 = m.sample(size, 20000, np.random.default_rng(7))
        np.testing.assert_array_equal(y1, y2)
        z = y1 / x1
        lo, hi = m.noise_support
        assert np.all((z >= lo - 1e-12) & (z <= hi + 1e-12))
        # mean of Z within 5 standard errors
        mean_z = float(m.noise_partial_moment(1, np.inf))
        assert abs(z.mean() - mean_z) < 5 * z.std() / np.sqrt(z.size)
    with pytest.raises(ValueError, match="rng"):
        MODELS["uniform"].sample(size, 10, None)


def test_user_noise_three_ways_agree():
    size = qt.Exponential(mean=1.0)
    ways = [qt.ExponentialPrediction(), qt.MultiplicativePrediction(stats.expon()),
            qt.MultiplicativePrediction(pdf=lambda z: np.exp(-z))]
    for policy in ("SPJF", "PSPJF", "SPRPT"):
        vals = [qt.MG1(load=0.8, size=size, prediction=w).mean_response_time(policy) for w in ways]
        np.testing.assert_allclose(vals[1:], vals[0], rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pdf": lambda z: 2 * np.ones_like(z), "support": (0, 1)}, "integrates to 2"),
        ({"pdf": lambda z: z - 0.5, "support": (0, 2)}, ">= 0"),
        ({"pdf": lambda z: np.ones_like(z), "support": (1, 0)}, "support"),
        ({"pdf": 3.0}, "callable"),
        ({}, "exactly one"),
    ],
)
def test_bad_user_noise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        qt.MultiplicativePrediction(**kwargs)
    with pytest.raises(ValueError, match="noise"):
        qt.MultiplicativePrediction(stats.norm())


# ----------------------------------------------------------------------------- general laws
def _general_exponential():
    return qt.ConditionalPrediction(cdf=lambda y, x: -np.expm1(-y / x),
                                    pdf=lambda y, x: np.exp(-y / x) / x)


def _additive_uniform():
    """Y | X = x ~ U[x, x + 1]: not a scale family."""
    return qt.ConditionalPrediction(
        cdf=lambda y, x: np.clip(y - x, 0.0, 1.0),
        pdf=lambda y, x: ((y >= x) & (y <= x + 1.0)).astype(float),
        breakpoints=lambda x: (x, x + 1.0))


def test_general_law_reproduces_multiplicative_model():
    size = qt.Weibull(shape=1.5, scale=1.0)
    for policy in ("SPJF", "PSPJF", "SPRPT"):
        a = qt.MG1(load=0.8, size=size, prediction=_general_exponential()).mean_response_time(
            policy)
        b = qt.MG1(load=0.8, size=size, prediction=qt.ExponentialPrediction()
                   ).mean_response_time(policy)
        assert a == pytest.approx(b, rel=1e-8)


def test_general_law_additive_noise_against_direct_integration():
    """SPJF under additive U[x, x+1] noise, exponential sizes, by nested scipy quad of
    Mitzenmacher's formula with f_Y and rho'_y written out by hand."""
    lam = 0.8

    def rho_p(y):
        pts = [y - 1.0] if y > 1 else None
        return lam * integrate.quad(lambda x: x * np.exp(-x) * min(y - x, 1.0), 0, y,
                                    points=pts, epsrel=1e-13, epsabs=0)[0]

    def fy(y):
        return np.exp(-max(y - 1.0, 0.0)) - np.exp(-y)

    integral = (integrate.quad(lambda y: fy(y) / (1 - rho_p(y)) ** 2, 0, 1, epsrel=1e-13)[0]
                + integrate.quad(lambda y: fy(y) / (1 - rho_p(y)) ** 2, 1, np.inf,
                                 epsrel=1e-13, limit=200)[0])
    ref = 1.0 + lam * 2.0 / 2.0 * integral
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=1.0), prediction=_additive_uniform())
    assert q.mean_response_time("SPJF") == pytest.approx(ref, rel=1e-9)
    # sampling follows the law
    x, y = _additive_uniform().sample(qt.Exponential(mean=1.0), 20000, 3)
    assert np.all((y >= x - 1e-9) & (y <= x + 1 + 1e-9))
    assert abs(np.mean(y - x) - 0.5) < 5 * np.sqrt(1 / 12 / 20000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cdf": lambda y, x: np.clip(y / x, 0, 1), "pdf": lambda y, x: 2 * (y <= x) / x},
         "integrates to 2"),
        ({"cdf": lambda y, x: np.clip(y / x, 0, 1), "pdf": lambda y, x: (y <= x) / x - 0.1},
         ">= 0"),
        ({"cdf": lambda y, x: np.clip(y / (2 * x), 0, 1), "pdf": lambda y, x: (y <= x) / x,
          "breakpoints": lambda x: (x,)}, "cdf"),
        ({"cdf": 1.0, "pdf": lambda y, x: y}, "cdf must"),
    ],
)
def test_bad_general_law(kwargs, match):
    with pytest.raises(ValueError, match=match):
        qt.ConditionalPrediction(**kwargs)


def test_general_law_refused_where_unsupported():
    """SRPT-Bounce and the SOAP engine need Y = X Z (TRAIL's closed form takes general laws
    since 2026-12-05: tests/test_trail_predicted.py)."""
    q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0), prediction=_general_exponential())
    with pytest.raises(ValueError, match="multiplicative"):
        q.mean_response_time(qt.policies.SRPTBounce())
    with pytest.raises(ValueError, match="multiplicative"):
        q.mean_response_time(qt.policies.TRAIL(c=0.5), method="soap")


@pytest.mark.parametrize("name", ["exponential", "uniform", "lognormal", "density"])
def test_marginal_quantiles_far_out_in_few_calls(name):
    """``marginal_ppf`` widens its bracket by 2, 4, 16, ... (up to 2**64) and solves by
    false position: the quantiles 1e-12, 0.5 and 1 - 1e-9 of exponential sizes with
    exponential noise took 147 calls of the marginal cdf with the doubling and bisection
    used before, and take 81 (with the check of the result). Each quantile is the first
    float where the cdf reaches it, to a few ulps; the far points of the search (cdf values
    that round to 0 or 1) raise no warning, the cdf at the quantiles would."""
    pred = MODELS[name]
    size = qt.Exponential(mean=1.0)
    calls = []
    cdf = pred.marginal_cdf

    def counted(t, s):
        calls.append(1)
        return cdf(t, s)

    u = np.array([1e-12, 0.5, 1.0 - 1e-9])
    try:
        pred.marginal_cdf = counted
        with warnings.catch_warnings():
            warnings.simplefilter("error", qt.QuadratureWarning)
            y = pred.marginal_ppf(u, size)
    finally:
        del pred.marginal_cdf
    assert np.all(cdf(y, size) >= u * (1.0 - 2.3e-16))  # (to the cdf's last bit)
    assert np.all(cdf(y * (1.0 - 1e-13), size) < u)
    if name == "exponential":
        assert len(calls) < 110


def test_marginal_ppf_keeps_the_shape_of_its_argument():
    """A scalar gives a float (it gave a 1-element array, unlike ``marginal_cdf``), an array
    its own shape."""
    pred, size = qt.ExponentialPrediction(), qt.Weibull(2.0)
    y = pred.marginal_ppf(0.5, size)
    assert isinstance(y, float)
    assert float(pred.marginal_cdf(y, size)) == pytest.approx(0.5, rel=1e-13)
    grid = pred.marginal_ppf([[0.2, 0.5], [0.7, 0.9]], size)
    assert grid.shape == (2, 2) and grid[0, 1] == y
