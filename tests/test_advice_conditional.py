"""Conditional response times of one-bit and k-bucket advice (Cobham's per-class forms,
:func:`qtheory.analysis.advice.buckets_conditional`), against SOAP's conditional for the
policies that have a rank function, against the mean through a quadrature over the joint
law, and against the simulator per job (the newest-short-first one-bit policy has no rank
function, so only the last two check it)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.advice import buckets_conditional, one_bit_conditional

P = qt.policies

VARIANTS = {
    "onebit-np": P.OneBit(threshold=1.0),
    "onebit-p-lcfs": P.OneBit(threshold=1.0, preemptive=True),
    "onebit-p-fifo": P.OneBit(threshold=1.0, preemptive=True, within="fifo"),
    "buckets-np": P.Buckets(thresholds=(0.5, 1.0, 2.0)),
    "buckets-p": P.Buckets(thresholds=(0.5, 1.0, 2.0), preemptive=True),
}


def _thresholds(pol):
    return (pol.threshold,) if isinstance(pol, P.OneBit) else pol.thresholds


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "onebit-p-lcfs"])
def test_closed_forms_equal_soap(name):
    pol = VARIANTS[name]
    q = qt.MG1(load=0.7, size=qt.Weibull(2.0), prediction=qt.UniformPrediction(0.5))
    x = np.array([0.1, 0.5, 1.0, 1.3, 2.0])
    y = np.array([0.3, 0.9, 0.6, 1.6, 2.5])
    soap = q._engines.soap(pol.rank()).conditional(q.arrival_rate, x, y)
    np.testing.assert_allclose(q.conditional_response_time(pol, x, y), soap, rtol=1e-9)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_conditionals_average_to_the_mean(name):
    """A product Gauss-Legendre rule over (X, Y) for exponential sizes and noise, split at
    the thresholds in y (where the conditional jumps), against the mean's own formula."""
    pol = VARIANTS[name]
    q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    gx, gw = np.polynomial.legendre.leggauss(12)

    def rule(edges):
        a, b = np.asarray(edges[:-1]), np.asarray(edges[1:])
        h = 0.5 * (b - a)
        return ((a + h)[:, None] + h[:, None] * gx).ravel(), (h[:, None] * gw).ravel()

    xs, wx = rule(np.concatenate([[0.0], np.geomspace(1e-3, 45.0, 16)]))
    X, Y, W = [], [], []
    for xv, wv in zip(xs, wx):  # Y = x Z, Z exponential: u = y / x up to 45
        cuts = [t / xv for t in _thresholds(pol) if t / xv < 45.0]
        us, wu = rule(np.unique(np.concatenate([[0.0], np.geomspace(1e-3, 45.0, 10), cuts])))
        X.append(np.full(us.size, xv))
        Y.append(us * xv)
        W.append(wv * np.exp(-xv) * wu * np.exp(-us))
    X, Y, W = (np.concatenate(v) for v in (X, Y, W))
    avg = float(np.sum(W * q.conditional_response_time(pol, X, Y)))
    assert avg == pytest.approx(q.mean_response_time(pol), rel=1e-8)


def test_newest_short_first_against_the_simulator():
    """Per job, the simulated response time minus its conditional mean averages to 0 over
    the short jobs, the long ones, and sizes far from their class's typical one."""
    pol = VARIANTS["onebit-p-lcfs"]
    q = qt.MG1(load=0.6, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    res = q.simulate(pol, jobs=200_000, replications=8, seed=5, records=True)
    x, y = res.records["size"], res.records["prediction"]
    resid = res.response_times - q.conditional_response_time(pol, x, y)
    for sel in (y <= 1.0, y > 1.0, (y <= 1.0) & (x > 1.0), (y > 1.0) & (x < 0.5)):
        per = np.array([resid[i][sel[i]].mean() for i in range(resid.shape[0])])
        z = per.mean() / (per.std(ddof=1) / np.sqrt(per.size))
        assert abs(z) < 4.0


def test_limits_and_bad_input():
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    x, y = np.array([0.2, 3.0]), np.array([5.0, 0.1])
    # no thresholds: first come first served, x + W_0 / (1 - rho)
    np.testing.assert_allclose(buckets_conditional(size, pred, 0.5, [], True, x, y),
                               x + 0.5 / 0.5, rtol=1e-14)
    # a threshold above every prediction: every job short (LCFS-PR: x / (1 - rho))
    np.testing.assert_allclose(one_bit_conditional(size, pred, 0.5, 1e300, True, "lcfs", x, y),
                               x / 0.5, rtol=1e-12)
    assert np.all(np.isinf(buckets_conditional(size, pred, 1.0, [1.0], False, x, y)))
    with pytest.raises(ValueError, match="within"):
        one_bit_conditional(size, pred, 0.5, 1.0, True, "lifo", x, y)
