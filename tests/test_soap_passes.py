"""The SOAP engine's noise quadrature split by kind of integrand: the tagged job's measures
(nu, mu) at the crossings of the tagged boundaries, the other-job functions (N, O0, S) at
those of the other-job boundaries, and a pass computing all five at both
(``soap._Z_KINDS``); where the other-job functions have clearly fewer split points, all five
come in two passes (``SOAPAnalysis._functions_in_two_passes``). Checks: the split points of
each kind are those of "both" restricted to it; a rank whose kinds split alike keeps one
pass and its value bit for bit; DelayPredict with server-time costs (an overhead segment:
13.6 against 6.6 pieces a level) takes two passes and equals its closed form; a rank of
three rising segments (90 against 22 pieces) takes two passes and agrees with one pass
within the estimates."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
import qtheory.analysis.soap as soap_module
from qtheory.analysis.soap import SOAPAnalysis, _piece_count
from qtheory.rank import RankFunction, Segment

P = qt.policies
R = np.linspace(-2.0, 3.0, 11)


def _rows(pts):
    return [np.unique(row) for row in pts]


def _near(a, b):
    """Every point of ``a`` within 1e-12 (relative) of one of ``b`` (points closer than
    1e-13 are merged, so a kind's point can stand for another's in "both")."""
    return all(np.min(np.abs(b - v)) <= 1e-12 * abs(v) for v in a)


def _analysis(rank, size=None, prediction=None, rtol=1e-9):
    return SOAPAnalysis(size or qt.Exponential(mean=1.0),
                        prediction or qt.ExponentialPrediction(), rank, rtol)


def _delay_server():
    return P.DelayPredict(limit=1.0, expensive_cost=0.1, cost_model="server").rank_function(
        qt.Exponential(mean=1.0), qt.ExponentialPrediction())


# three rising segments with jumps (soap_random_ranks.py, seed 1: over 60 s a value before)
_RISING = RankFunction.single("prediction", [
    Segment(value=(1.08, 0.86), slope=1, end=(0.0, 0.71)),
    Segment(value=(0.0, -0.88), slope=1, end=(0.0, 1.18)),
    Segment(value=(1.96, 0.67), slope=1)])


@pytest.mark.parametrize("rank", [_delay_server(), _RISING, P.SRPTBounce().rank_function(
    qt.Exponential(mean=1.0), qt.ExponentialPrediction())], ids=["delay", "rising", "bounce"])
def test_split_points_by_kind(rank):
    """Each kind's split points lie among those of "both", and the two kinds together
    make them up (per row; to the merging of points closer than 1e-13)."""
    a = _analysis(rank)
    kinds = {k: _rows(a._z_split(R, k)) for k in ("tagged", "other", "both")}
    for t, o, b in zip(kinds["tagged"], kinds["other"], kinds["both"]):
        assert _near(t, b) and _near(o, b)
        assert _near(b, np.concatenate([t, o]))


def test_one_pass_where_the_kinds_split_alike(monkeypatch):
    """SPRPT's tagged and other-job boundaries are the same: one pass, and the value is the
    one-pass value bit for bit (two passes forced differ only within the estimates)."""
    rank = P.SPRPT().rank_function(qt.Exponential(mean=1.0), qt.ExponentialPrediction())
    a = _analysis(rank)
    assert _piece_count(a._z_split(R, "other")) == _piece_count(a._z_split(R, "both"))
    calls = []
    real = SOAPAnalysis._functions_in_two_passes
    monkeypatch.setattr(SOAPAnalysis, "_functions_in_two_passes",
                        lambda self, *args: calls.append(1) or real(self, *args))
    v, e = a.mean(0.8)
    assert not calls
    monkeypatch.setattr(soap_module, "_TWO_PASSES", 1.0)  # two passes wherever they tie
    w, f = _analysis(rank).mean(0.8)
    assert calls and abs(v - w) <= e + f
    closed = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0),
                    prediction=qt.ExponentialPrediction()).mean_response_time("SPRPT")
    assert abs(w / closed - 1.0) < 1e-9


@pytest.mark.parametrize("load", [0.5, 0.9])
def test_delay_predict_server_in_two_passes_equals_its_closed_form(load, monkeypatch):
    """DelayPredict with server-time costs through SOAP's overhead segment: the other-job
    functions split at fewer points, so two passes; the value equals the dedicated closed
    form (qtheory.analysis.delay) to 1e-9 and the one-pass value within the estimates."""
    rank = _delay_server()
    a = _analysis(rank)
    assert _piece_count(a._z_split(R, "other")) <= 0.7 * _piece_count(a._z_split(R, "both"))
    calls = []
    real = SOAPAnalysis._functions_in_two_passes
    monkeypatch.setattr(SOAPAnalysis, "_functions_in_two_passes",
                        lambda self, *args: calls.append(1) or real(self, *args))
    lam = load / a.m1
    v, e = a.mean(lam)
    assert calls
    q = qt.MG1(arrival_rate=lam, size=qt.Exponential(mean=1.0),
               prediction=qt.ExponentialPrediction())
    closed = q.mean_response_time(P.DelayPredict(limit=1.0, expensive_cost=0.1,
                                                 cost_model="server"))
    assert e <= 1e-9 * v and abs(v / closed - 1.0) < 1e-9
    monkeypatch.setattr(soap_module, "_TWO_PASSES", 0.0)  # one pass
    w, f = _analysis(rank).mean(lam)
    assert abs(v - w) <= e + f


@pytest.mark.slow
def test_rising_rank_in_two_passes_agrees_with_one_pass(monkeypatch):
    """Three rising segments with jumps: 90-odd pieces a level for all five functions, 22 for
    the other-job functions. Two passes and one agree within the sum of the estimates (50 s:
    one pass takes about twice as long as two)."""
    a = _analysis(_RISING, rtol=1e-6)
    both = _piece_count(a._z_split(R, "both"))
    assert both > 40 and _piece_count(a._z_split(R, "other")) < 0.4 * both
    v, e = a.mean(0.6)
    monkeypatch.setattr(soap_module, "_TWO_PASSES", 0.0)
    w, f = _analysis(_RISING, rtol=1e-6).mean(0.6)
    assert e <= 1e-6 * v and f <= 1e-6 * w
    assert abs(v - w) <= e + f


def test_tagged_kind_splits_at_the_pole_of_a_moving_ramp_end(monkeypatch):
    """Rank 2y - a: the tagged job's ramp ends at x = r / (2z - 1), which sweeps every size
    next to z = 1/2. The tagged kind's split points include that pole (until 2026-12-06 only
    the other-job cells' own pole put it into "both"): in two passes (forced) the value on
    Weibull 0.5 sizes with exponential noise agrees with one pass to 1e-11 with an estimate
    below 1e-9 (before: 7.4e-8 off, an estimate of 3.6e-7, 2 s), and so does 2y - a in two
    classes by a second prediction (BranchedSOAP's classes take the tagged kind) against
    the same at rtol 1e-11."""
    rank = RankFunction.single("prediction", [Segment(value=(2.0, 0.0), slope=-1)])
    size = qt.Weibull(shape=0.5, scale=0.5)
    a = _analysis(rank, size=size, rtol=1e-8)
    assert np.any(np.isclose(a._structural["tagged"], 0.5, rtol=0, atol=1e-14))
    v, e = a.mean(0.8 / a.m1)
    monkeypatch.setattr(soap_module, "_TWO_PASSES", 1.01)  # two passes wherever split
    b = _analysis(rank, size=size, rtol=1e-8)
    w, f = b.mean(0.8 / b.m1)
    assert b._passes == 2
    assert f <= 1e-9 * w and abs(w / v - 1.0) < 1e-11
    monkeypatch.setattr(soap_module, "_TWO_PASSES", 0.7)
    from qtheory.rank import Branch

    seg = (Segment(value=(2.0, 0.0), slope=-1),)
    branched = RankFunction("prediction:0", (Branch(seg, high=1.0), Branch(seg, low=1.0)),
                            branch_key="prediction:1")
    pol = P.RankPolicy(branched, label="2y-a in 2 classes")
    preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)])
    got, est = qt.MG1(load=0.8, size=size, prediction=preds,
                      rtol=1e-8).mean_response_time_with_error(pol)
    ref = qt.MG1(load=0.8, size=size, prediction=preds, rtol=1e-11).mean_response_time(pol)
    assert est <= 2e-9 * got and abs(got / ref - 1.0) < 1e-11
