"""The SOAP engine's first rule on finite pieces of the level: the 15-point Gauss-Kronrod
pair (qtheory.analysis.quadrature.gauss_kronrod15), with tanh-sinh where its estimate is too
large; and the geometric cuts of long pieces in the level. Checks: the rule's constants;
values with and without it agree within their estimates and with closed forms; the pieces
with endpoint singularities go on to tanh-sinh; and the level count falls (the reason for
the rule)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.quadrature import gauss_kronrod15
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.analysis.soap_branched import BranchedSOAP
from qtheory.rank import Branch, RankFunction, Segment


def test_rule_constants():
    """The Gauss nodes and weights are numpy's 7-point Gauss-Legendre rule; the Kronrod
    rule integrates x**k exactly up to degree 23 and the Gauss rule up to 13 (and not 14)."""
    x, wk, wg = gauss_kronrod15()
    t, w = np.polynomial.legendre.leggauss(7)
    assert np.allclose(x[wg > 0], 0.5 * (t + 1.0), rtol=0, atol=2e-16)
    assert np.allclose(wg[wg > 0], 0.5 * w, rtol=0, atol=2e-16)
    assert np.all(np.diff(x) > 0) and np.all(wk > 0)
    for k in range(24):
        assert abs(np.sum(wk * x**k) - 1.0 / (k + 1)) < 1e-15
    for k in range(14):
        assert abs(np.sum(wg * x**k) - 1.0 / (k + 1)) < 1e-15
    assert abs(np.sum(wg * x**14) - 1.0 / 15) > 1e-10


def _four_classes():
    cuts = (0.5, 1.0, 2.0)
    rank = RankFunction("prediction:0", tuple(
        Branch((Segment(value=(1.0, 0.0), slope=-1),), low=a, high=b)
        for a, b in zip((-np.inf, *cuts), (*cuts, np.inf))), branch_key="prediction:1")
    preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)])
    return rank, preds


_MID = RankFunction.single("prediction", [
    Segment(value=(1.0, 0.0), slope=-1, end=(0.0, 0.5)),
    Segment(value=(1.0, -0.5), slope=0, end=(0.0, 1.5)),
    Segment(value=(1.0, -0.5), slope=-1, end=(0.0, 3.0)),
    Segment(value=(1.0, -2.0), slope=-1)])


class _TanhSinhOnly(SOAPAnalysis):
    gauss_kronrod_first = False


class _BranchedTanhSinhOnly(BranchedSOAP):
    gauss_kronrod_first = False


def _levels(a):
    return sum(g[1].size for g in a._grids.values())


def test_four_classes_against_closed_form_and_tanh_sinh():
    """SPRPT split into 4 classes by a second prediction is SPRPT: the value with the
    Gauss-Kronrod start is within its estimate of the closed form and of the tanh-sinh-only
    value; two pieces (next to r = 0, where the integrand has endpoint singularities) go on
    to tanh-sinh, the other ten finite ones are accepted at 15 nodes, and the levels
    evaluated fall from 910 to at most 600."""
    rank, preds = _four_classes()
    size = qt.Exponential(mean=1.0)
    lam = 0.8
    a = BranchedSOAP(size, preds, rank)
    b = _BranchedTanhSinhOnly(size, preds, rank)
    v, e = a.mean(lam)
    w, f = b.mean(lam)
    closed = qt.MG1(arrival_rate=lam, size=size, prediction=preds[0]).mean_response_time(
        "SPRPT")
    assert e <= 1e-9 * v and abs(v - closed) <= e
    assert abs(v - w) <= e + f
    kinds = [(p[0], a._grids[p][0]) for p in a._pieces]
    assert sum(1 for k, lv in kinds if k == "F" and lv == 0) == 10
    assert sum(1 for k, lv in kinds if k == "F" and lv >= 3) == 2
    assert _levels(a) <= 600 < _levels(b)


@pytest.mark.parametrize("lam", [0.3, 0.8, 0.97])
def test_user_rank_agrees_with_tanh_sinh(lam):
    """A four-segment user rank (no closed form): both rules agree within the sum of their
    estimates, at low and high loads (the Gauss-Kronrod decision is taken per load)."""
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    a, b = SOAPAnalysis(size, pred, _MID), _TanhSinhOnly(size, pred, _MID)
    v, e = a.mean(lam)
    w, f = b.mean(lam)
    assert e <= 1e-9 * v and f <= 1e-9 * w
    assert abs(v - w) <= e + f


def test_sweep_after_cold():
    """A sweep on one analysis (pieces accepted by Gauss-Kronrod at one load may go on to
    tanh-sinh at another) gives the cold values."""
    size = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    pred = qt.ExponentialPrediction()
    rank = qt.policies.TRAIL(c=0.8).rank()
    warm = SOAPAnalysis(size, pred, rank)
    for lam in (0.5 / size.mean, 0.95 / size.mean, 0.2 / size.mean):
        v, e = warm.mean(lam)
        c, g = SOAPAnalysis(size, pred, rank).mean(lam)
        assert abs(v - c) <= e + g
        closed = qt.MG1(arrival_rate=lam, size=size, prediction=pred).mean_response_time(
            qt.policies.TRAIL(c=0.8))
        assert abs(v / closed - 1.0) < 1e-9


def test_long_pieces_are_cut_geometrically():
    """SkipPredict with its bit from a second (lognormal) prediction on bounded Pareto sizes:
    a piece of the level from -74 to -0.076, whose integrand lives near its end at -0.076,
    was 3.8e-10 off at tanh-sinh's last level with an estimate of 2.9e-11 (the mean 1.9e-9
    off, estimate 2.5e-10; found by validation/closed_forms_random.py --two). Cut
    geometrically, the mean is within its estimate of the closed form (skip_two at rtol
    1e-11, itself checked against SOAP at 1e-11)."""
    from qtheory.analysis.soap import _geometric_cuts

    pol = qt.policies.SkipPredict(threshold=0.199831, bit_prediction=1)
    size = qt.BoundedPareto(alpha=2.4777220512380387, low=0.1, high=97.89909541608681)
    preds = qt.MultiPrediction([qt.UniformPrediction(alpha=0.7586016144288252),
                                qt.LognormalPrediction(sigma=0.2028626365301886)])
    ref = qt.MG1(load=0.318, size=size, prediction=preds, rtol=1e-11).mean_response_time(pol)
    v, e = qt.MG1(load=0.318, size=size, prediction=preds).mean_response_time_with_error(
        pol, method="soap")
    assert e <= 1e-9 * v and abs(v - ref) <= e
    lows, highs = _geometric_cuts([-74.0, -0.076, 0.0, 0.5, 200.0])
    assert lows[0] == -74.0 and highs[-1] == 200.0 and highs[:-1] == lows[1:]
    ratios = [max(abs(a), abs(b)) / min(abs(a), abs(b)) for a, b in zip(lows, highs)
              if a * b > 0]
    assert max(ratios) <= 4.0 * (1 + 1e-12) and len(lows) == 5 + 1 + 1 + 5


# ---------------------------------------------------------------- the noise quadrature
_SKIP_BIT = qt.policies.SkipPredict(threshold=1.0, bit_prediction=1)


def _noise_cases():
    e, u = qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)
    return {
        "4 segments, exp/exp": (qt.Exponential(mean=1.0), e, _MID, None, SOAPAnalysis),
        "SPRPT, bounded Pareto/exp": (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), e,
                                      qt.policies.SPRPT().rank(), "SPRPT", SOAPAnalysis),
        "TRAIL 0.5, Weibull/uniform": (qt.Weibull(shape=0.5, scale=0.5), u,
                                       qt.policies.TRAIL(c=0.5).rank(),
                                       qt.policies.TRAIL(c=0.5), SOAPAnalysis),
        # the class law given Y1 > 1 has a density like e^{-1/x}: a feature much narrower
        # than its noise piece at small levels, which Gauss-Kronrod alone missed (6e-6 off)
        "SkipPredict bit, hyperexp/exp x2": (
            qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
            qt.MultiPrediction([e, e]), _SKIP_BIT.rank(), None, BranchedSOAP),
    }


@pytest.mark.parametrize("name", list(_noise_cases()))
def test_noise_gauss_kronrod_agrees_with_tanh_sinh(name, monkeypatch):
    """The Gauss-Kronrod start of the noise pieces gives the tanh-sinh-only value within the
    sum of their estimates, and the closed form within its own (SkipPredict with the bit
    from an independent exponential predictor: the one-predictor closed form, by
    memorylessness, test_soap_branched)."""
    size, pred, rank, closed, cls = _noise_cases()[name]
    lam = 0.8 / size.mean
    v, e = cls(size, pred, rank).mean(lam)
    monkeypatch.setattr(SOAPAnalysis, "gauss_kronrod_noise", False)
    w, f = cls(size, pred, rank).mean(lam)
    assert e <= 1e-9 * v and f <= 1e-9 * w
    assert abs(v - w) <= e + f
    if name.startswith("SkipPredict"):
        q = qt.MG1(arrival_rate=lam, size=size, prediction=pred[0])
        ref = q.mean_response_time(qt.policies.SkipPredict(threshold=1.0))
        assert abs(v - ref) <= e + 1e-12 * ref
    elif closed is not None:
        q = qt.MG1(arrival_rate=lam, size=size, prediction=pred)
        assert abs(v - q.mean_response_time(closed)) <= e


def test_noise_pieces_next_to_poles_and_tails_start_with_tanh_sinh():
    """SPRPT's cell edges x = r/z and x = r/(z - 1) have poles at z = 0 and 1: the pieces
    that reach them, and the exponential noise's tail piece (density 0 at infinity), start
    with tanh-sinh; a piece over which the distances to both poles and the noise density
    change by at most 8 takes Gauss-Kronrod, any other tanh-sinh."""
    srpt = qt.policies.SPRPT().rank()
    gk = 0
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)):
        a = SOAPAnalysis(qt.Exponential(mean=1.0), pred, srpt)
        r = np.array([0.03, 0.3, 2.0, 40.0])
        pts = a._z_split(r, "both")
        ts = a._ts_pieces(r, "both", pts)
        lo, hi = pred.noise_support
        z = np.concatenate([np.full((r.size, 1), lo), np.sort(pts, axis=1),
                            np.full((r.size, 1), hi)], axis=1)
        for i in range(r.size):
            for j in range(z.shape[1] - 1):
                za, zb = z[i, j], z[i, j + 1]
                if zb <= za:
                    continue
                if za in (0.0, 1.0) or zb in (1.0, np.inf):
                    assert ts[i, j], (pred, r[i], za, zb)
                    continue
                one = (zb - 1) / (za - 1) if za > 1 else (1 - za) / (1 - zb)
                dens = pred.noise_pdf(np.array([za, zb]))
                safe = max(zb / za, one) <= 8 and max(dens) <= 8 * min(dens)
                assert ts[i, j] != safe, (pred, r[i], za, zb)
                gk += int(safe)
    assert gk >= 2  # some pieces take Gauss-Kronrod


def test_noise_gauss_kronrod_evaluates_fewer_nodes(monkeypatch):
    """The reason for the rule: the four-segment rank evaluates its tagged measures at
    well under the noise nodes of tanh-sinh alone (203000 against 389000 at rtol 1e-8 when
    it was made)."""
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    counts = []
    original = SOAPAnalysis._tagged_densities

    def counting(self, r, m):  # every node where the tagged measures are evaluated
        counts[-1] += r.size
        return original(self, r, m)

    monkeypatch.setattr(SOAPAnalysis, "_tagged_densities", counting)
    values = []
    for gk in (True, False):
        monkeypatch.setattr(SOAPAnalysis, "gauss_kronrod_noise", gk)
        counts.append(0)
        values.append(SOAPAnalysis(size, pred, _MID, rtol=1e-8).mean(0.8))
    assert counts[0] <= 0.6 * counts[1]
    (v, e), (w, f) = values
    assert abs(v - w) <= e + f


def test_mixed_rule_nodes_equal_two_rules_and_a_selection():
    """joint._u_nodes_mixed (the Gauss-Kronrod pair on some pieces, tanh-sinh on the others,
    each piece computed once) gives the arrays of the two single-rule calls and a selection
    by the mask, bit for bit (pieces at both halves of u, of zero and NaN width)."""
    from qtheory.analysis.joint import _u_nodes, _u_nodes_mixed
    from qtheory.analysis.quadrature import tanh_sinh_rule
    from qtheory.analysis.soap import _gk_noise_rule

    rng = np.random.default_rng(4)
    u = np.sort(rng.uniform(0.0, 1.0, (6, 9)), axis=1)
    u[:, 0], u[:, -1] = 0.0, 1.0
    u[2, 4] = u[2, 3]  # a piece of zero width
    uc = 1.0 - u
    uc[3, 5] = np.nan
    ends = tuple(np.ascontiguousarray(v) for v in (u[:, :-1], u[:, 1:], uc[:, :-1], uc[:, 1:]))
    gk, ts = _gk_noise_rule(), tanh_sinh_rule(1)
    assert gk.left.size == ts.left.size
    mask = rng.uniform(size=(6, 8)) < 0.5
    r1 = tuple(np.ascontiguousarray(v, float) for v in (gk.left, gk.right, gk.weight))
    r2 = tuple(np.ascontiguousarray(v, float) for v in (ts.left, ts.right, ts.weight))
    got = _u_nodes_mixed(*ends, *r1, *r2, mask)
    one, two = _u_nodes(*ends, *r1), _u_nodes(*ends, *r2)
    sel = np.repeat(mask, gk.left.size, axis=1)
    for g, a, b in zip(got, one, two):
        assert np.array_equal(g, np.where(sel, b, a), equal_nan=True)


# ---------------------------------------------------------------- wide pieces of the level
def _batches(a, monkeypatch):
    """A list that gets one entry per batch of levels ``a`` evaluates (``_fill`` calls
    that evaluate a piece)."""
    calls = []
    orig = type(a)._fill

    def fill(self, new=(), finer=()):
        before = {p: g[0] for p, g in self._grids.items()}
        orig(self, new, finer)
        if any(before.get(p) != g[0] for p, g in self._grids.items()):
            calls.append(1)

    monkeypatch.setattr(type(a), "_fill", fill)
    return calls


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_gauss_kronrod_in_log_r(side):
    """The first rule of a piece of the level on one side of 0 is Gauss-Kronrod in log|r|:
    its 15 nodes increase inside the piece, and with the Kronrod weights it integrates
    r**k and exp(-|r|) over a piece over a factor 4 (the largest after the geometric cuts)
    to 1e-14 relative; its error estimate on r**-3 is 1e-12 of the value, where the same
    rule in r has one of 1e-5 (so a piece on one side of 0 fails it)."""
    from qtheory.analysis import soap as S

    a = SOAPAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
                     qt.policies.SPRPT().rank())
    lo, hi = sorted((side * 0.5, side * 2.0))
    r, wk, rule = a._piece_nodes(("F", lo, hi), S._GK_LEVEL)
    assert np.all(np.diff(r) > 0) and lo < r[0] and r[-1] < hi
    assert np.count_nonzero(rule.coarse) == 7 and np.all(wk > 0)
    for k in (-3, -2, -1, 1, 2, 3):
        exact = (np.log(hi / lo) if k == -1 else (hi ** (k + 1) - lo ** (k + 1)) / (k + 1))
        assert abs(np.sum(wk * r ** k) / exact - 1.0) < 1e-14
    exact = abs(np.exp(-abs(lo)) - np.exp(-abs(hi)))
    assert abs(np.sum(wk * np.exp(-np.abs(r))) / exact - 1.0) < 1e-14
    # the Gauss weights: 7 nodes, exact for degree 13 in log|r|, so r**k to about 1e-8
    assert abs(np.sum(rule.coarse * r ** -2) / ((hi ** -1 - lo ** -1) / -1) - 1.0) < 1e-6
    # the estimate |K15 - G7| on r**-3: 8e-14 relative in log|r|, 2.7e-5 in r
    exact = (hi ** -2 - lo ** -2) / -2
    assert abs(np.sum((wk - rule.coarse) * r ** -3) / exact) < 1e-12
    b = SOAPAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
                     qt.policies.SPRPT().rank())
    b.gauss_kronrod_log = False
    r, wk, rule = b._piece_nodes(("F", lo, hi), S._GK_LEVEL)
    assert abs(np.sum((wk - rule.coarse) * r ** -3) / exact) > 1e-5


@pytest.mark.parametrize("noise", ["exponential", "uniform"])
def test_pieces_on_one_side_take_gauss_kronrod_in_log_r(noise, monkeypatch):
    """SPRPT on bounded Pareto sizes: every finite piece of the level starts with Gauss-
    Kronrod, and the value takes one batch of levels in log|r| and more in r (where the
    pieces on one side of 0 fail: their integrands live on the scale of the end nearer 0),
    within its estimate of the closed form and of that value."""
    size = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    pred = qt.ExponentialPrediction() if noise == "exponential" \
        else qt.UniformPrediction(alpha=0.5)
    rank = qt.policies.SPRPT().rank()
    lam = 0.8 / size.mean
    a = SOAPAnalysis(size, pred, rank, rtol=1e-8)
    calls = _batches(a, monkeypatch)
    v, e = a.mean(lam)
    batches = len(calls)
    finite = [p for p in a._initial_pieces() if p[0] == "F"]
    assert all(p in a._gk_start for p in finite)
    assert all(a._grids[p][0] == 0 for p in finite if p[1] > 0 or p[2] < 0)
    b = SOAPAnalysis(size, pred, rank, rtol=1e-8)
    b.gauss_kronrod_log = False
    calls_b = _batches(b, monkeypatch)
    w, f = b.mean(lam)
    assert batches == 1 < len(calls_b)
    closed = qt.MG1(arrival_rate=lam, size=size, prediction=pred).mean_response_time("SPRPT")
    assert e <= 1e-8 * v and abs(v - closed) <= e and abs(v - w) <= e + f
