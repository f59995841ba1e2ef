"""Regression tests of the SOAP engine's adaptive quadrature (nested refinement by level,
per-(rank level, noise piece) refinement, skipped other-job work where nu = mu = 0).

Each checks the engine against an independent closed form at the default rtol, and that
the reported error estimate is honest (not below the actual difference, up to the closed
form's own rounding), on the size laws and noise models of the benchmark."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.soap import SOAPAnalysis

SIZES = {
    "hyperexp": qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "bounded pareto": qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
}
PREDICTIONS = {
    "exponential": qt.ExponentialPrediction(),
    "uniform(0.5)": qt.UniformPrediction(alpha=0.5),
}


@pytest.mark.parametrize("sname", list(SIZES))
@pytest.mark.parametrize("pname", list(PREDICTIONS))
@pytest.mark.parametrize("policy", ["SPRPT", "PSPJF", "SPJF"])
def test_soap_matches_closed_form_with_honest_error(sname, pname, policy):
    q = qt.MG1(load=0.8, size=SIZES[sname], prediction=PREDICTIONS[pname])
    pol = getattr(qt.policies, policy)()
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        value, err = q.mean_response_time_with_error(pol, method="soap")
    closed = q.mean_response_time(policy)
    diff = abs(value - closed)
    assert diff <= 1e-9 * closed
    assert err <= 1e-9 * abs(value)
    assert diff <= err + 1e-10 * closed  # the closed forms' own error is ~1e-11


def test_sweep_reuses_refinement_and_matches_cold():
    """A load sweep on one queue refines once; each value equals a cold computation."""
    size, pred = SIZES["bounded pareto"], PREDICTIONS["exponential"]
    q = qt.MG1(load=0.5, size=size, prediction=pred)
    loads = [0.3, 0.6, 0.9]
    swept = q.sweep(qt.policies.TRAIL(c=0.5), loads)
    for load, v in zip(loads, np.asarray(swept, float)):
        cold = qt.MG1(load=load, size=size, prediction=pred).mean_response_time(
            qt.policies.TRAIL(c=0.5), method="soap")
        assert abs(v / cold - 1) < 1e-9


def test_noise_refinement_is_nested():
    """Refining a (rank level, noise piece) pair reuses the coarser nodes: the functions of
    r equal a direct evaluation at the finest level each pair reached, up to rounding."""
    size, pred = SIZES["bounded pareto"], PREDICTIONS["exponential"]
    rank = qt.policies.SPRPT().rank_function(size, pred) if hasattr(
        qt.policies.SPRPT(), "rank_function") else None
    if rank is None:
        pytest.skip("SPRPT has no rank function here")
    a = SOAPAnalysis(size, pred, rank)
    r = np.array([0.05, 0.5, 3.0, 20.0])
    got, err = a._functions_of_r(r, with_err=True)
    pts = a._z_split(r)
    m, w, zc, zc4 = a._m_nodes(r, 6, pts)
    ref, _ = a._z_sums(a._node_values(r, m, w, True), w, zc, zc4, 6)
    for k in got:
        scale = np.abs(ref[k]).max()
        assert np.all(np.abs(got[k] - ref[k]) <= err[k] + 1e-13 * scale), k


def test_piece_nodes_match_full_rule():
    """A refined noise piece's nodes (only that piece, z only at its new nodes) are those
    of the full rule, bit for bit."""
    from qtheory.analysis.quadrature import tanh_sinh_rule

    size, pred = SIZES["bounded pareto"], PREDICTIONS["exponential"]
    a = SOAPAnalysis(size, pred, qt.policies.TRAIL(c=0.5).rank())
    r = np.array([0.05, 0.5, 3.0, 20.0, 0.5])
    pts = a._z_split(r)
    level = 3
    size_ = tanh_sinh_rule(level).left.size
    m, w, _, _ = a._m_nodes(r, level, pts)
    pieces = m.shape[1] // size_
    piece = np.arange(r.size) % pieces
    new = ~tanh_sinh_rule(level).coarse
    mp, wp, _, _ = a._m_nodes(r, level, pts, piece=piece, nodes=new)
    rows = np.arange(r.size)
    full_m = m.reshape(r.size, pieces, size_)[rows, piece]
    full_w = w.reshape(r.size, pieces, size_)[rows, piece]
    assert np.array_equal(wp, full_w)
    assert np.array_equal(mp[:, new], full_m[:, new])
