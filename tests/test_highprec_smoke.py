"""The independent mpmath method runs in the default suite on cheap cases.

(The expensive comparisons use stored values: tests/data/mpmath_reference.json.)
"""

from __future__ import annotations

import math

import mpmath
import pytest

import qtheory as qt
from qtheory.analysis.highprec import mean_response_time as mp_mean


def test_mm1_fcfs_and_ps_exact():
    size = qt.Exponential(mean=1.0)
    for policy in ("FCFS", "PS"):
        assert mp_mean(policy, size, qt.ExactPrediction(), 0.75, 25) == pytest.approx(4.0,
                                                                                       rel=1e-15)


@pytest.mark.parametrize("policy", ["SJF", "PSJF", "SRPT", "FB"])
def test_classical_against_quadrature(policy):
    size = qt.Weibull(shape=1.5, scale=1.0)
    q = qt.MG1(load=0.7, size=size, rtol=1e-11)
    assert mp_mean(policy, size, qt.ExactPrediction(), q.arrival_rate, 20) == pytest.approx(
        q.mean_response_time(policy), rel=1e-9)


def test_uniform_predictions_spjf_against_quadrature():
    size = qt.Exponential(mean=1.0)
    pred = qt.UniformPrediction(alpha=0.5)
    q = qt.MG1(load=0.6, size=size, prediction=pred, rtol=1e-11)
    assert mp_mean("SPJF", size, pred, q.arrival_rate, 18) == pytest.approx(
        q.mean_response_time("SPJF"), rel=1e-9)


def test_unstable_and_bad_policy():
    size = qt.Exponential(mean=1.0)
    assert mp_mean("SRPT", size, qt.ExactPrediction(), 1.0, 15) == math.inf
    with pytest.raises(ValueError, match="policy"):
        mp_mean("NOPE", size, qt.ExactPrediction(), 0.5, 15)
    assert mpmath.mp.dps == 15  # the method restores the working precision
