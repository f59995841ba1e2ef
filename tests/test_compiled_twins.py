"""Compiled twins of NumPy steps of the posterior laws' tables, the work tables, the Gittins
rank and two size laws (2026-12-06): each against the NumPy expression it replaced (bit for
bit where the order of operations is kept) or against an independent reference (scipy's
density, 40-digit mpmath)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy import stats

import qtheory as qt
from qtheory.analysis._worktab import _chebval_rows
from qtheory.analysis.agerank import _Law as _AgeLaw
from qtheory.analysis.gittins import _flat_to
from qtheory.distributions import posterior as PO
from qtheory.distributions._panelcheb import (
    _DCT,
    _EPS,
    _LINEAR_SPAN,
    _NOISE,
    N_CHEB,
    fit_panels,
    lobatto,
    panel_points,
)
from qtheory.distributions.point_posterior import point_law
from qtheory.distributions.posterior import PredictionBucket


def _laws():
    return [PredictionBucket(qt.Weibull(0.5), qt.ExponentialPrediction(), 0.3, 1.0),
            PredictionBucket(qt.BoundedPareto(1.5, 0.2, 50.0), qt.UniformPrediction(0.5), 0.5,
                             2.0),
            PredictionBucket(qt.Lognormal(1.0), qt.LognormalPrediction(0.7), 1.0, np.inf),
            point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 1.0)]


def _fit_numpy(pieces, anchors):
    """fit_panels in NumPy (as before _fit_rows, with the log fallback of a noisy linear
    row)."""
    piece, anchor = np.asarray(pieces, float), np.asarray(anchors, float)
    with np.errstate(all="ignore"):
        v = anchor[:, None] + piece
        lo, hi = np.min(v, axis=1), np.max(v, axis=1)
        finite = np.all(np.isfinite(v), axis=1) & (lo > 0)
        linear = finite & (hi <= _LINEAR_SPAN * lo)
        logs = np.log(np.where(finite[:, None], v, 1.0))
        ref = logs[:, logs.shape[1] // 2]
        data = np.where(linear[:, None], piece, logs - ref[:, None])
        coef = np.einsum("pj,cj->pc", data, _DCT)
        scale = np.where(linear, np.maximum(np.max(np.abs(piece), axis=1), lo / 16.0),
                         np.maximum(1.0, np.max(np.abs(logs), axis=1)))
        ok = finite & (np.abs(coef[:, -1]) + np.abs(coef[:, -2]) <= 8.0 * _EPS * scale)
        # a linear row that fails: the log table
        retry = linear & ~ok
        lc = np.einsum("pj,cj->pc", logs - ref[:, None], _DCT)
        lok = np.abs(lc[:, -1]) + np.abs(lc[:, -2]) <= 8.0 * _EPS * np.maximum(
            1.0, np.max(np.abs(logs), axis=1))
        coef = np.where((retry & lok)[:, None], lc, coef)
        ok |= retry & lok
        linear &= ~(retry & lok)
        zero = np.all(v == 0.0, axis=1)
        noise = ~ok & ~zero & np.all(np.isfinite(v), axis=1) & (hi <= _NOISE) & (lo >= 0)
        coef[noise] = np.einsum("pj,cj->pc", piece[noise], _DCT)
        ok |= noise
        linear |= noise
    mode = np.where(ok, np.where(linear, 1, 2), np.where(zero, 3, 0)).astype(np.int8)
    return np.where(ok[:, None], coef, 0.0), mode, np.where(mode == 2, ref, anchor)


def test_gap_and_gauss_legendre_sums_equal_numpy_bit_for_bit():
    """_gap_sums (the cumulative tables' gap integrals and running sums) and _gl_sums (the
    panels' 16-point sums and rounding bounds) keep NumPy's pairwise order of a row of 8 or
    16 and its left-to-right running sums: the same arrays, bit for bit."""
    for law in _laws():
        a, b = law._edges()
        x = panel_points(a, b)
        u, v = x[:, :-1].ravel(), x[:, 1:].ravel()
        half = 0.5 * (v - u)
        t = (u + half)[:, None] + half[:, None] * PO._GL8_X
        g = law._g(t)
        zero = np.zeros((a.size, 1))
        for order in (0, 1, 2):
            with np.errstate(all="ignore"):
                gap = half * np.sum(PO._GL8_W * (g if order == 0 else t**float(order) * g),
                                    axis=1)
            gap = gap.reshape(a.size, N_CHEB - 1)
            up = np.concatenate([zero, np.cumsum(gap, axis=1)], axis=1)
            down = np.concatenate([np.cumsum(gap[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
            up2, down2 = PO._gap_sums(half, t, g, PO._GL8_W, order, N_CHEB - 1)
            assert np.array_equal(up, up2) and np.array_equal(down, down2)
        h = 0.5 * (b - a)
        tt = PO._gl_nodes(a, b, h)
        with np.errstate(all="ignore"):
            gg = law._g(tt)
            rel = np.where(gg > PO._FLOOR, 4.0 * PO._EPS * (1.0 + np.abs(np.log(np.where(
                gg > PO._FLOOR, gg, 1.0)))), 1.0)
            val, noise = PO._gl_sums(h, tt, gg, PO._GL_W, np.array([0, 1, 2]), PO._FLOOR,
                                     4.0 * PO._EPS)
            for i, k in enumerate((0.0, 1.0, 2.0)):
                terms = PO._GL_W * tt**k * gg
                assert np.array_equal(val[i], h * np.sum(terms, axis=1))
                np.testing.assert_allclose(noise[i], np.abs(h) * np.sum(terms * rel, axis=1),
                                           rtol=1e-15, atol=0)


def test_compiled_fit_panels_equals_the_numpy_fit():
    """fit_panels (compiled, _fit_rows) against its NumPy form on the tables of four laws
    and on rows of every kind (linear, log, all zero, an underflowing tail, NaN, inf,
    negative): the same modes and anchors, coefficients within 1e-15 of a row's largest."""
    rows, anchors = [], []
    for law in _laws():
        a, b = law._edges()
        g = law._g(panel_points(a, b))
        rows.append(g)
        anchors.append(np.zeros(a.size))
        pts = panel_points(a, b)
        rows.append(np.cumsum(g * np.gradient(pts, axis=1), axis=1))
        anchors.append(np.linspace(0.0, 1.0, a.size))
    odd = np.vstack([np.zeros(N_CHEB), np.full(N_CHEB, 1e-300) * np.arange(1, N_CHEB + 1),
                     np.r_[np.nan, np.ones(N_CHEB - 1)], np.r_[np.inf, np.ones(N_CHEB - 1)],
                     -np.ones(N_CHEB), np.exp(np.linspace(0.0, 40.0, N_CHEB)),
                     # a linear row noisier than 8 eps of itself (an exponential of a
                     # large argument): the log table takes it
                     1e-16 * (1.5 + 0.5 * lobatto(N_CHEB))
                     * (1.0 + 20.0 * _EPS * (-1.0) ** np.arange(N_CHEB))])
    rows.append(odd)
    anchors.append(np.zeros(odd.shape[0]))
    piece, anchor = np.vstack(rows), np.concatenate(anchors)
    c1, m1, a1 = _fit_numpy(piece, anchor)
    c2, m2, a2 = fit_panels(piece, anchor)
    assert np.array_equal(m1, m2)
    assert set(np.unique(m2)) >= {0, 1, 2, 3}
    assert m2[-1] == 2
    np.testing.assert_array_equal(a1, a2)
    scale = np.maximum(np.max(np.abs(c1), axis=1), 1e-300)
    assert np.max(np.abs(c1 - c2) / scale[:, None]) <= 1e-15
    with pytest.raises(ValueError, match="pieces"):
        fit_panels(np.zeros((2, 5)), np.zeros(2))


def test_row_clenshaw_equals_numpy():
    """_chebval_rows (compiled) keeps the NumPy recurrence's order: bit for bit, and within
    1e-15 of numpy.polynomial's chebval row by row."""
    rng = np.random.default_rng(3)
    c = rng.normal(size=(50, 32)) * np.exp(-0.5 * np.arange(32))
    u = rng.uniform(-1.0, 1.0, (50, 4))
    b1, b2 = np.zeros(u.shape), np.zeros(u.shape)
    for k in range(c.shape[1] - 1, 0, -1):
        b1, b2 = c[:, k:k + 1] + 2.0 * u * b1 - b2, b1
    want = c[:, :1] + u * b1 - b2
    got = _chebval_rows(c, u)
    assert np.array_equal(got, want)
    ref = np.array([np.polynomial.chebyshev.chebval(u[i], c[i]) for i in range(50)])
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", [0.3, 0.5, 1.0, 1.7, 2.0, 5.0])
def test_weibull_density_against_scipy(shape):
    """Weibull.pdf (compiled, weibull_pdf) against scipy's weibull_min within 2e-13 relative
    (the rounding of exp((c - 1) log u - u**c) where the exponent is large) over 12 decades;
    0 below 0 and at inf, NaN at NaN, inf at 0 below shape 1, a float for a scalar."""
    law = qt.Weibull(shape=shape, scale=1.3)
    x = np.geomspace(1e-6, 1e6, 4001)
    with np.errstate(all="ignore"):
        ref = stats.weibull_min(shape, scale=1.3).pdf(x)
    got = law.pdf(x)
    big = ref > 1e-290
    assert np.max(np.abs(got[big] / ref[big] - 1.0)) < 2e-13
    edge = law.pdf(np.array([-1.0, np.inf, np.nan, 0.0]))
    assert edge[0] == 0.0 and edge[1] == 0.0 and np.isnan(edge[2])
    assert edge[3] == (np.inf if shape < 1 else (1.0 / 1.3 if shape == 1 else 0.0))
    assert isinstance(law.pdf(0.7), float)
    assert law.pdf(np.ones((2, 3))).shape == (2, 3)


def test_exponential_window_keeps_its_precision_where_the_ends_meet():
    """The window P(low < x Z <= high) of exponential noise as exp(-low/x) (1 - exp(-(high -
    low)/x)): against 40-digit mpmath within 4 eps times the condition ``1 + high/x`` (the
    rounding of the arguments), also where high and low are within 1e-12 of each other (the
    difference of two survival functions lost 4 digits there); and _window takes it."""
    x = np.geomspace(1e-3, 1e3, 301)
    for low, high in ((0.5, 2.0), (0.0, 1.0), (2.0, np.inf), (1.0, 1.0 + 1e-12)):
        got = PO._exponential_window(low, high, x)
        with mpmath.workdps(40):
            ref = np.array([float(mpmath.exp(-mpmath.mpf(low) / mpmath.mpf(v))
                                  - (mpmath.exp(-mpmath.mpf(high) / mpmath.mpf(v))
                                     if np.isfinite(high) else 0)) for v in x])
        ok = ref > 1e-290
        # the rounding of low / x alone moves exp(-low / x) by (low / x) eps
        cond = 1.0 + (low + (high - low if np.isfinite(high) else 0.0)) / x
        assert np.all(np.abs(got[ok] / ref[ok] - 1.0) <= 4.0 * _EPS * cond[ok])
        assert np.array_equal(got, PO._window(qt.ExponentialPrediction(), low, high, x))


def test_flat_to_broadcasts_as_numpy():
    """_flat_to: a column against a matrix by repeat, an array of the shape by ravel, the
    rest by broadcast_to: the arrays np.broadcast_to would give, contiguous and 1-D."""
    col, mat = np.arange(4.0)[:, None], np.ones((4, 3))
    for q, shape in ((col, (4, 3)), (mat, (4, 3)), (np.float64(2.0), (4, 3)),
                     (np.arange(3.0), (4, 3)), (np.arange(5.0), (5,))):
        got = _flat_to(q, shape)
        assert got.flags.c_contiguous and got.ndim == 1
        assert np.array_equal(got, np.broadcast_to(np.asarray(q, float), shape).ravel())


def test_horizon_tail_moment_only_where_the_sf_is_negligible():
    """The rank engine's horizon (the first median * 2**k with sf <= 1e-200 and a tail
    moment below 1e-18 of the mean) is the one the full 64-candidate rule gives, and asks the
    law's tail moment at no more than 8 points for a law wrapped from scipy (each beyond its
    tables a scipy quadrature)."""
    from qtheory.distributions.tabulated import Tabulated, fast_law

    twin = fast_law(qt.ScipyDistribution(stats.lognorm(1.0, scale=np.exp(-0.5))))
    assert isinstance(twin, Tabulated)
    calls = []
    orig = type(twin).tail_moment

    class Counting(type(twin)):
        def tail_moment(self, k, x):
            calls.append(np.size(x))
            return orig(self, k, x)

    twin.__class__ = Counting
    h = _AgeLaw(twin).horizon
    twin.__class__ = type(twin).__mro__[1]
    assert sum(calls) <= 8
    h0 = max(float(twin.scale), 1e-300)
    cand = h0 * 2.0 ** np.arange(0.0, 64.0)
    sf = np.asarray(twin.sf(cand), dtype=float)
    tm = np.asarray(twin.tail_moment(1, cand), dtype=float)
    stop = ((sf <= 1e-200) & (tm <= 1e-18 * float(twin.moment(1)))) | (cand > 1e250)
    assert h == float(cand[int(np.argmax(stop))])


def test_legendre_value_and_roots_compiled():
    """_legval1 is numpy's legval, bit for bit; _leg_roots finds each bracketed root of a
    Legendre series to a few ulps (against numpy's companion-matrix roots), with the ends'
    exact zeros kept."""
    from numpy.polynomial import legendre as L

    from qtheory.analysis.posterior_rwork import _leg_roots, _legval1

    rng = np.random.default_rng(11)
    for m in (1, 2, 3, 6, 10):
        c = rng.normal(size=m)
        x = rng.uniform(-1.0, 1.0, 50)
        assert [_legval1(v, c) for v in x] == L.legval(x, c).tolist()
    C, lo, hi, want = [], [], [], []
    for _ in range(200):
        c = rng.normal(size=6)
        r = L.legroots(c)
        r = np.sort(r[np.isreal(r)].real)
        r = r[(r > -0.99) & (r < 0.99)]
        if not r.size:
            continue
        a, b = r[0] - 1e-3, r[0] + 1e-3
        if r.size > 1 and b >= r[1]:
            continue
        C.append(c)
        lo.append(a)
        hi.append(b)
        want.append(r[0])
    C, lo, hi = np.array(C), np.array(lo), np.array(hi)
    flo = np.array([L.legval(a, c) for a, c in zip(lo, C)])
    fhi = np.array([L.legval(b, c) for b, c in zip(hi, C)])
    got = _leg_roots(C, lo, hi, flo, fhi)
    assert np.max(np.abs(got - np.array(want))) <= 1e-14
    # an exact zero at an end is that end
    z = _leg_roots(np.array([[0.0, 1.0]]), np.array([0.0]), np.array([0.5]),
                   np.array([0.0]), np.array([0.5]))
    assert z.tolist() == [0.0]
