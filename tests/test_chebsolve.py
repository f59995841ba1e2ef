"""The compiled root finder on Chebyshev rank pieces equals the NumPy one, bit for bit."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis._chebsolve import cheb_bracket_solve
from qtheory.analysis.agerank import _bracket_solve
from qtheory.analysis.gittins import _ChebFunc, gittins_rank


@pytest.mark.parametrize("size", [
    qt.Lognormal(sigma=1.0, mean=1.0),
    qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),  # square-root modes near the ends
    qt.PredictionBucket(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 0.5, 2.0),
])
def test_compiled_solve_equals_numpy_solve(size):
    rng = np.random.default_rng(7)
    pieces = [p for p in gittins_rank(size).pieces
              if isinstance(p.func, _ChebFunc) and np.isfinite(p.end)]
    assert pieces
    modes = set()
    for p in pieces:
        modes.add(p.func.mode)
        v = p.eval(np.linspace(p.start, p.end, 30))
        # levels at the piece's own values (ties, tangencies), inside and outside its range
        lev = np.concatenate([v, rng.uniform(v.min(), v.max(), 60), [v.min() - 1.0,
                                                                      v.max() + 1.0]])
        for inc in (True, False):
            for strict in (False, True):
                a = _bracket_solve(p.func, p.start, p.end, lev, inc, strict)
                b = p.func.bracket_solve(p.start, p.end, lev, inc, strict)
                np.testing.assert_array_equal(a, b)
    if isinstance(size, qt.BoundedPareto):
        assert modes - {0}  # a transformed variable was exercised


def test_compiled_solve_reports_nan():
    with pytest.raises(ValueError, match="NaN"):
        cheb_bracket_solve(np.array([np.nan, 1.0]), 0.0, 1.0, 0, 0.0, 1.0, np.zeros(1),
                           np.ones(1), np.array([0.5]), True, False)
