"""Chebyshev tables of SOAP's other-job functions in the level
(:mod:`qtheory.analysis.soap_levels`), which SOAP's conditional response times use."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.analysis.soap_levels import LevelTable
from qtheory.rank import Branch, RankFunction, Segment

P = qt.policies

USER = RankFunction("prediction", (
    Branch((Segment(value=(0.0, -np.inf)),), high=0.8),
    Branch((Segment(value=(1.0, 0.0), end=(0.0, 0.5)), Segment(value=(0.0, -np.inf))),
           low=0.8)))

CASES = {
    "sprpt-exp": (qt.Exponential(mean=1.0), qt.ExponentialPrediction(), P.SPRPT().rank()),
    "trail-weibull": (qt.Weibull(0.5, 0.5), qt.ExponentialPrediction(), P.TRAIL(c=0.5).rank()),
    "bounce-bpareto": (qt.BoundedPareto(1.5, 0.2, 50.0), qt.UniformPrediction(0.5),
                       P.SRPTBounce().rank()),
    "delay-hyperexp": (qt.HyperExponential((0.5, 3.0), (0.8, 0.2)), qt.LognormalPrediction(0.7),
                       P.DelayPredict(limit=0.5).rank()),
    "user-weibull2": (qt.Weibull(2.0), qt.UniformPrediction(0.5), USER),
    # constant levels on the cuts, whose values are neither side's limit (a table's right
    # limit there was 42 % off)
    "buckets-p": (qt.Weibull(2.0), qt.UniformPrediction(0.5),
                  P.Buckets(thresholds=(0.5, 1.0, 2.0), preemptive=True).rank()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_tables_equal_the_noise_quadrature(name):
    size, pred, rank = CASES[name]
    a = SOAPAnalysis(size, pred, rank)
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.uniform(-3, 6, 60), rng.exponential(30, 20),
                        -rng.exponential(30, 20), [1e-9, 0.0, -np.inf]])
    vals, need = LevelTable(a).lookup(r)
    tight = SOAPAnalysis(size, pred, rank, rtol=1e-13)._functions_of_r(r, False)
    assert np.count_nonzero(need) <= 3  # at a cut (0), next to it, and -inf
    assert need[-1] and np.all(np.isnan(vals["N"][need]))
    # the fits may miss by their tolerance: 1e-13 of the scale plus four times the noise
    # quadrature's estimates, which are 1e-11 relative or so (measured: at most 1.1e-11)
    m2 = float(size.moment(2))
    for q, scale in (("N", size.mean), ("O0", size.mean), ("S", m2)):
        np.testing.assert_allclose(vals[q][~need], tight[q][~need], rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize("name", list(CASES))
def test_conditional_from_tables_equals_the_exact_path(name):
    size, pred, rank = CASES[name]
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    x, y = pred.sample(size, 40, np.random.default_rng(3))
    x = np.concatenate([x, [0.0, 1e-6, 5.0]])
    y = np.concatenate([y, [0.5, 2.0, 1e-7]])
    a = SOAPAnalysis(size, pred, rank)
    fast = a.conditional(q.arrival_rate, x, y)
    exact = a.conditional(q.arrival_rate, x, y, exact=True)
    np.testing.assert_allclose(fast, exact, rtol=1e-10, atol=1e-12)


def test_sprpt_near_its_singular_level_equals_the_closed_form():
    """Levels near r = 0, where SPRPT's functions are singular: a fit whose coefficients had
    converged was 5e-11 off at r = 0.025 (9.6e-10 in a conditional response time) before
    the fits were checked next to the ends of their pieces."""
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    x = np.array([1e-3, 0.01, 0.1, 0.18, 1.0, 3.0])
    y = np.array([1.4e-3, 0.002, 0.05, 0.0017, 1.0, 0.5])
    soap = SOAPAnalysis(size, pred, P.SPRPT().rank()).conditional(q.arrival_rate, x, y)
    np.testing.assert_allclose(soap, q.conditional_response_time("SPRPT", x, y), rtol=1e-12)


@pytest.mark.parametrize("policy", ["PSPJF", "SPRPT", "TRAIL", "Bounce"])
def test_closed_form_conditionals_from_tables_equal_the_exact_path(policy, monkeypatch):
    """The closed forms' conditional response times take the inner integrals at the nodes of
    their residence integrals, and at the points of calls with many jobs, from tables in y
    (``PredictionAnalysis._tabled``): the same values as point by point (``_finest``). The
    threshold of "many" is lowered here so that the points' values come from the tables."""
    from qtheory.analysis import predicted

    monkeypatch.setattr(predicted, "_FEW_POINTS", 8)
    size, pred = qt.Weibull(0.5, 0.5), qt.ExponentialPrediction()
    pol = {"PSPJF": "PSPJF", "SPRPT": "SPRPT", "TRAIL": P.TRAIL(c=0.5),
           "Bounce": P.SRPTBounce()}[policy]
    x, y = pred.sample(size, 60, np.random.default_rng(4))
    x = np.concatenate([x, [0.0, 1e-6, 5.0]])
    y = np.concatenate([y, [0.5, 2.0, 1e-7]])
    fast = qt.MG1(load=0.8, size=size, prediction=pred).conditional_response_time(pol, x, y)
    q = qt.MG1(load=0.8, size=size, prediction=pred)
    engine = {"TRAIL": lambda: q._engines.trail(0.5), "Bounce": q._engines.bounce}.get(
        policy, lambda: q._engines.predicted)()
    engine.exact_conditional = True
    np.testing.assert_allclose(fast, q.conditional_response_time(pol, x, y), rtol=1e-10)
