"""The range of a rank's values (``SOAPAnalysis._rank_range``) and the pieces of the level
axis it leaves out: every rank a job can have lies inside the bounds (sampled over sizes,
predictions and ages), and a mean with the pieces outside left out equals the mean with
them (their integrand is 0)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qtheory as qt
from qtheory.analysis import soap as S
from qtheory.analysis.soap import SOAPAnalysis, _affine_extreme
from qtheory.rank import Branch, RankFunction, Segment

SIZES = [qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.Uniform(low=0.5, high=3.0),
         qt.Exponential(mean=1.0), qt.Weibull(shape=0.5, scale=0.5)]
NOISES = [qt.UniformPrediction(alpha=0.5), qt.ExponentialPrediction(),
          qt.UniformPrediction(alpha=0.9), qt.ExactPrediction()]


@st.composite
def ranks(draw):
    """A branch of one to three segments keyed by the prediction: slopes -1, 0 or +1,
    values ``(a, b)`` with ``a`` 0 or in [0, 2] and ``b`` in [-2, 2], increasing ends
    affine in the prediction; a last segment of -inf a quarter of the time; an initial rank
    a quarter of the time."""
    n = draw(st.integers(1, 3))
    segs, ea, eb = [], 0.0, 0.0
    num = st.floats(-2.0, 2.0, allow_nan=False)
    for i in range(n):
        last = i == n - 1
        if last and draw(st.integers(0, 3)) == 0:
            segs.append(Segment(value=(0.0, -np.inf)))
            break
        value = (draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])), draw(num))
        slope = draw(st.sampled_from([-1, 0, 1]))
        if last:
            segs.append(Segment(value=value, slope=slope))
        else:
            ea += draw(st.sampled_from([0.0, 0.5, 1.0]))
            eb += draw(st.floats(0.05, 1.5))
            segs.append(Segment(value=value, slope=slope, end=(ea, eb)))
    initial = (draw(st.sampled_from([0.0, 1.0])), draw(num)) \
        if draw(st.integers(0, 3)) == 0 else None
    return RankFunction("prediction", (Branch(tuple(segs), initial=initial),))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rank=ranks(), si=st.integers(0, len(SIZES) - 1), ni=st.integers(0, len(NOISES) - 1),
       seed=st.integers(0, 2**31))
def test_every_rank_lies_in_the_range(rank, si, ni, seed):
    size, noise = SIZES[si], NOISES[ni]
    # (no finite rank at all: low = inf, high = -inf)
    low, high = SOAPAnalysis(size, noise, rank, 1e-8)._rank_range()
    rng = np.random.default_rng(seed)
    x = size.sample(20000, rng)
    z = np.ones(x.size) if noise.is_exact else np.asarray(noise.noise_ppf(rng.random(x.size)))
    y = x * z
    # ages: 0, the completion age and uniform ones in between (and the segment ends)
    ages = [np.zeros(x.size), x, x * rng.random(x.size)]
    for sg in rank.branches[0].segments[:-1]:
        e = sg.end[0] * y + sg.end[1]
        ages += [np.clip(e, 0.0, x), np.clip(np.nextafter(e, -np.inf), 0.0, x)]
    for a in ages:
        v = rank.evaluate(y, a)
        v = v[np.isfinite(v)]
        tol = 1e-12 * max(1.0, np.max(np.abs(v), initial=0.0))
        assert np.all(v >= low - tol), (float(np.min(v)), low)
        assert np.all(v <= high + tol), (float(np.max(v)), high)


def test_affine_extreme_by_brute_force():
    """The least and greatest of ``cx x + cy y + c0`` over sizes and keys ``y = x z``
    against a dense grid, bounded and unbounded."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        cx, cy, c0 = rng.uniform(-2, 2, 3)
        xs = (float(rng.uniform(0, 1)), float(rng.uniform(1, 5)))
        zs = (float(rng.uniform(0, 1)), float(rng.uniform(1, 3)))
        gx, gz = np.meshgrid(np.linspace(*xs, 201), np.linspace(*zs, 201))
        f = cx * gx + cy * gx * gz + c0
        assert _affine_extreme(cx, cy, c0, xs, zs, False) == pytest.approx(f.min(), abs=1e-12)
        assert _affine_extreme(cx, cy, c0, xs, zs, True) == pytest.approx(f.max(), abs=1e-12)
    # unbounded sizes or noise: infinite where the function grows without bound
    assert _affine_extreme(-1.0, 1.0, 0.0, (0.0, np.inf), (0.0, np.inf), False) == -np.inf
    assert _affine_extreme(-1.0, 1.0, 0.0, (0.0, np.inf), (0.0, np.inf), True) == np.inf
    assert _affine_extreme(0.0, 1.0, -2.0, (0.0, np.inf), (0.0, np.inf), False) == -2.0
    assert _affine_extreme(1.0, 0.0, 0.5, (0.2, np.inf), (1.0, 1.0), False) == 0.7


def _without_range(monkeypatch):
    monkeypatch.setattr(SOAPAnalysis, "_rank_range", lambda self: (-np.inf, np.inf))


@pytest.mark.parametrize("noise", [qt.ExponentialPrediction(), qt.UniformPrediction(alpha=0.5)])
def test_pieces_outside_the_range_carry_nothing(noise, monkeypatch):
    """Bounded Pareto sizes: the 4-segment rank of the bench has no rank below -49 with
    exponential noise (so the half-line below the least breakpoint and the piece (-50, -49)
    are left out), below -24 with uniform noise on [0.5, 1.5], and then none above 75 either;
    the mean is the same as with every piece (the error estimate too, up to the refinement's
    grouping of levels)."""
    rank = RankFunction.single("prediction", [
        Segment(value=(1.0, 0.0), slope=-1, end=(0.0, 0.5)),
        Segment(value=(1.0, -0.5), slope=0, end=(0.0, 1.5)),
        Segment(value=(1.0, -0.5), slope=-1, end=(0.0, 3.0)),
        Segment(value=(1.0, -2.0), slope=-1)])
    size = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    a = SOAPAnalysis(size, noise, rank, 1e-8)
    low, high = a._rank_range()
    zlo = noise.noise_support[0]
    assert low == pytest.approx(50.0 * (zlo - 1.0) + 1.0, abs=1e-13)  # y + 1 - x at x = 50
    kinds = [p[0] for p in a._initial_pieces()]
    assert "L" not in kinds
    assert ("R" in kinds) == (high == np.inf)
    if isinstance(noise, qt.UniformPrediction):
        assert high == pytest.approx(1.5 * 50.0)
    v, e = a.mean(0.8 / size.mean)
    with pytest.MonkeyPatch.context() as mp:
        _without_range(mp)
        full = SOAPAnalysis(size, noise, rank, 1e-8)
        assert "L" in [p[0] for p in full._initial_pieces()]
        v0, e0 = full.mean(0.8 / size.mean)
    assert v == pytest.approx(v0, rel=1e-13)
    assert e == pytest.approx(e0, rel=0.05)


def test_unbounded_or_overhead_keeps_every_piece():
    """Exponential sizes (SPRPT's ranks reach -inf) and a rank with an overhead segment
    (a completion age past the size) get no bounds."""
    srpt = RankFunction.single("prediction", [Segment(value=(1.0, 0.0), slope=-1)])
    a = SOAPAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), srpt, 1e-8)
    assert a._rank_range() == (-np.inf, np.inf)
    bp = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    b = SOAPAnalysis(bp, qt.UniformPrediction(alpha=0.5), srpt, 1e-8)
    assert b._rank_range() == (pytest.approx(-50.0 * 0.5), pytest.approx(1.5 * 50.0))
    over = RankFunction.single("prediction", [
        Segment(value=(0.0, 0.0), end=(0.0, 0.1), overhead=True),
        Segment(value=(1.0, 0.0), slope=-1)])
    c = SOAPAnalysis(bp, qt.UniformPrediction(alpha=0.5), over, 1e-8)
    assert c._rank_range() == (-np.inf, np.inf)
    assert S._RANGE_TIE < 1e-13


def test_branched_range_joins_the_classes():
    """SPRPT in classes by a second prediction (``BranchedSOAP``): its range is that of its
    classes, each on its own class law, and the mean is the same without it."""
    from qtheory.analysis.soap_branched import BranchedSOAP

    cuts = (0.5, 1.0, 2.0)
    rank = RankFunction("prediction:0", tuple(
        Branch((Segment(value=(1.0, 0.0), slope=-1),), low=a, high=b)
        for a, b in zip((-np.inf, *cuts), (*cuts, np.inf))), branch_key="prediction:1")
    size = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    preds = qt.MultiPrediction([qt.UniformPrediction(alpha=0.5), qt.UniformPrediction(alpha=0.5)])
    a = BranchedSOAP(size, preds, rank, 1e-8)
    low, high = a._rank_range()
    parts = [engine._rank_range() for _, engine, _ in a.classes]
    assert (low, high) == (min(p[0] for p in parts), max(p[1] for p in parts))
    assert low == pytest.approx(-25.0) and high == pytest.approx(75.0)
    assert [p[0] for p in a._initial_pieces()].count("F") == len(a._initial_pieces())
    v, _ = a.mean(0.8 / size.mean)
    with pytest.MonkeyPatch.context() as mp:
        _without_range(mp)
        mp.setattr(BranchedSOAP, "_rank_range", lambda self: (-np.inf, np.inf))
        v0, _ = BranchedSOAP(size, preds, rank, 1e-8).mean(0.8 / size.mean)
    assert v == pytest.approx(v0, rel=1e-13)


def test_range_by_key():
    """The key is the size itself (z = 1) for a size-keyed rank, and 0 without a key."""
    bp = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    srpt = RankFunction.single("size", [Segment(value=(1.0, 0.0), slope=-1)])
    a = SOAPAnalysis(bp, qt.ExactPrediction(), srpt, 1e-8)
    assert a._rank_range() == (0.0, 50.0)  # x - age over ages up to x
    age = RankFunction.single("none", [Segment(value=(0.0, 1.0), slope=-1, end=(0.0, 2.0)),
                                       Segment(value=(0.0, 3.0), slope=0)])
    b = SOAPAnalysis(bp, qt.ExactPrediction(), age, 1e-8)
    assert b._rank_range() == (-1.0, 3.0)  # 1 - age on [0, 2), then 3
