"""The compiled cell loops of the SOAP engine (qtheory.analysis._soap_kernels) against the
numpy path they replace: the same other-job functions N, O0, S and tagged densities nu, mu,
bit for bit (up to the sign of a zero), on random ranks of one to four segments (slopes -1,
0, +1, initial ranks, -inf tails) over several size laws (one of infinite variance) and noise
laws, at random levels
and noise values that include the extremes the engine meets (r = -inf, z at the ends of
the float range)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis.soap import SOAPAnalysis
from qtheory.rank import Branch, RankFunction, Segment

SIZES = {
    "exponential": qt.Exponential(mean=1.0),
    "weibull(0.5)": qt.Weibull(shape=0.5, scale=0.5),
    "bounded pareto": qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
    "hyperexp": qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "uniform": qt.Uniform(0.0, 2.0),
    # infinite second moment (tail moments of order 2 are inf: the cells' overflow rule)
    "pareto(1.5)": qt.Pareto(alpha=1.5, xm=1.0),
    "lognormal": qt.Lognormal(sigma=1.0, mean=1.0),
}
PREDICTIONS = {"exponential": qt.ExponentialPrediction(),
               "uniform": qt.UniformPrediction(alpha=0.5)}


def _random_rank(rng) -> RankFunction:
    """One branch of one to four segments (random slopes, values ``(a, b)`` with ``a`` 0 or
    in [0, 2], increasing ends), a -inf last segment a quarter of the time, an initial rank
    a third of the time."""
    segs = []
    end_a, end_b = 0.0, 0.0
    n = int(rng.integers(1, 5))
    for i in range(n):
        last = i == n - 1
        if last and rng.random() < 0.25:
            segs.append(Segment(value=(0.0, -np.inf)))
            break
        slope = int(rng.choice([-1, 0, 1]))
        value = (float(rng.choice([0.0, rng.uniform(0, 2)])), float(rng.uniform(-1, 1)))
        if last:
            segs.append(Segment(value=value, slope=slope))
        else:
            end_a += float(rng.choice([0.0, rng.uniform(0, 1)]))
            end_b += float(rng.uniform(0.05, 1.0))
            segs.append(Segment(value=value, slope=slope, end=(end_a, end_b)))
    initial = None
    if rng.random() < 1 / 3:
        initial = (float(rng.choice([0.0, rng.uniform(0, 2)])), float(rng.uniform(-1, 1)))
    return RankFunction("prediction", (Branch(tuple(segs), initial=initial),))


def _rows(rng, n=600):
    r = np.concatenate([rng.normal(0.0, 2.0, n - 6), [0.0, 0.5, 1.0, -1.0, -np.inf, 1e-300]])
    m = np.exp(rng.normal(0.0, 1.5, n))
    m[:3] = np.finfo(float).tiny
    m[3:6] = 1e300
    return r, m


def _same(a, b) -> bool:
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def _both_paths(an, method, r, m):
    with np.errstate(all="ignore"):
        compiled = getattr(an, method)(r, m)
        saved, an._compiled = an._compiled, None
        try:
            plain = getattr(an, method)(r, m)
        finally:
            an._compiled = saved
    return compiled, plain


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("pred", list(PREDICTIONS))
def test_compiled_cells_equal_the_numpy_path(size, pred):
    rng = np.random.default_rng(10 * list(SIZES).index(size) + list(PREDICTIONS).index(pred))
    checked = 0
    for _ in range(6):
        rank = _random_rank(rng)
        an = SOAPAnalysis(SIZES[size], PREDICTIONS[pred], rank, 1e-8)
        assert an._compiled is not None
        r, m = _rows(rng)
        for method, names in (("_other", ("N", "O0", "S")), ("_tagged_densities", ("nu", "mu"))):
            compiled, plain = _both_paths(an, method, r, m)
            for name, a, b in zip(names, compiled, plain):
                assert _same(a, b), (rank, name, np.flatnonzero(~((a == b) | np.isnan(b)))[:5])
            checked += 1
    assert checked == 12


def test_catalogue_ranks_equal_the_numpy_path():
    """SPRPT, TRAIL and SRPT-Bounce (decreasing and rising pieces, a -inf jump) and a rank of
    four segments, on a size law with a finite support end (the midpoint rule that avoids
    overflow is the other case)."""
    rng = np.random.default_rng(7)
    four = RankFunction.single("prediction", [
        Segment(value=(1.0, 0.0), slope=-1, end=(0.0, 0.5)),
        Segment(value=(1.0, -0.5), slope=0, end=(0.0, 1.5)),
        Segment(value=(1.0, -0.5), slope=-1, end=(0.0, 3.0)),
        Segment(value=(1.0, -2.0), slope=-1)])
    size, pred = SIZES["bounded pareto"], PREDICTIONS["uniform"]
    ranks = [pol.rank_function(size, pred) for pol in (
        qt.policies.SPRPT(), qt.policies.TRAIL(c=0.5), qt.policies.SRPTBounce())] + [four]
    for rank in ranks:
        an = SOAPAnalysis(size, pred, rank, 1e-8)
        assert an._compiled is not None
        r, m = _rows(rng)
        for method in ("_other", "_tagged_densities"):
            compiled, plain = _both_paths(an, method, r, m)
            assert all(_same(a, b) for a, b in zip(compiled, plain)), (rank, method)


def test_mean_is_the_same_number_on_both_paths():
    """The whole analysis through the compiled loops gives the numpy path's value and
    estimate, to the last bit (SPRPT and the rank of a -inf tail, on exponential noise)."""
    size, pred = SIZES["hyperexp"], PREDICTIONS["exponential"]
    rank = RankFunction.single("prediction", [
        Segment(value=(1.0, 0.0), slope=-1, end=(1.0, 0.0)), Segment(value=(0.0, -np.inf))])
    lam = 0.7 / size.mean
    a = SOAPAnalysis(size, pred, rank, 1e-8)
    b = SOAPAnalysis(size, pred, rank, 1e-8)
    b._compiled = None
    assert a.mean(lam) == b.mean(lam)


def test_other_ranks_keep_the_numpy_path():
    """Two branches, or an overhead segment: the compiled loops do not take them."""
    size, pred = SIZES["exponential"], PREDICTIONS["exponential"]
    two = RankFunction("prediction", (
        Branch((Segment(value=(1.0, 0.0), slope=-1),), high=1.0),
        Branch((Segment(value=(1.0, 0.0), slope=0),), low=1.0)))
    assert SOAPAnalysis(size, pred, two, 1e-8)._compiled is None
    over = RankFunction("prediction", (Branch((
        Segment(value=(0.0, 0.0), end=(0.0, 0.1), overhead=True),
        Segment(value=(1.0, 0.0), slope=-1))),))
    assert SOAPAnalysis(size, pred, over, 1e-8)._compiled is None


def _crossings_numpy(r, a, b, c0, c1, klo, khi, xlo, xhi, kinks, lo, hi, zlo, zhi):
    """The numpy arithmetic that ``crossing_points`` replaced in
    ``SOAPAnalysis._row_z_points`` (kept here as the oracle)."""
    key_ok = SOAPAnalysis._key_ok
    fin = np.isfinite(r)
    rr = np.where(fin, r, 0.0)[:, None]
    live = fin[:, None] | (c1 == 0)[None, :]
    c = c0[None, :] + c1[None, :] * rr
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zk = (-c[:, :, None] / kinks[None, None, :] - a[None, :, None]) / b[None, :, None]
        key = zk * kinks[None, None, :]
        zk = np.where((b[None, :, None] != 0) & live[:, :, None]
                      & key_ok(key, klo[None, :, None], khi[None, :, None])
                      & key_ok(kinks[None, None, :], xlo[None, :, None], xhi[None, :, None]),
                      zk, np.nan).reshape(r.size, -1)
        i, j = np.triu_indices(a.size, 1)
        ci, cj = c[:, i], c[:, j]
        num = cj * a[i] - ci * a[j]
        den = ci * b[j] - cj * b[i]
        z = num / den
        x = -ci / (a[i] + b[i] * z)
        key = z * x
        good = ((den != 0) & (z > zlo) & (z < zhi) & (x > lo) & (x < hi) & live[:, i]
                & live[:, j] & key_ok(key, klo[i], khi[i]) & key_ok(key, klo[j], khi[j])
                & key_ok(x, xlo[i], xhi[i]) & key_ok(x, xlo[j], xhi[j]))
        zp = np.where(good, z, np.nan)
    return zk, zp


@pytest.mark.parametrize("seed", range(6))
def test_crossing_points_match_numpy(seed):
    """The split points where boundaries meet the size law's kinks or each other: random
    tables (coefficients 0 a quarter of the time, key and size ranges finite or not), levels
    that include +-inf, 0 and 1e300, against the numpy oracle, bit for bit (NaN alike)."""
    from qtheory.analysis._soap_kernels import crossing_points

    rng = np.random.default_rng(seed)
    nb = int(rng.integers(2, 8))

    def coef():
        v = rng.normal(0.0, 2.0, nb)
        return np.where(rng.random(nb) < 0.25, 0.0, v)

    a, b, c0, c1 = coef(), coef(), coef(), coef()
    klo = np.where(rng.random(nb) < 0.5, -np.inf, rng.normal(0.0, 1.0, nb))
    khi = np.where(rng.random(nb) < 0.5, np.inf, klo + rng.exponential(2.0, nb))
    xlo = np.where(rng.random(nb) < 0.7, 0.0, rng.exponential(0.5, nb))
    xhi = np.where(rng.random(nb) < 0.7, np.inf, xlo + rng.exponential(3.0, nb))
    kinks = np.sort(rng.exponential(1.0, int(rng.integers(1, 4))))
    r = np.concatenate([rng.normal(0.0, 3.0, 200), [-np.inf, np.inf, 0.0, 1e300, -1e-300]])
    lo, hi, zlo, zhi = 0.0, float(rng.choice([np.inf, 50.0])), 0.0, np.inf
    fin = np.isfinite(r)
    got = crossing_points(np.where(fin, r, 0.0), fin, a, b, c0, c1, klo, khi, xlo, xhi,
                          kinks, lo, hi, zlo, zhi)
    want = _crossings_numpy(r, a, b, c0, c1, klo, khi, xlo, xhi, kinks, lo, hi, zlo, zhi)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.array_equal(g, w, equal_nan=True)
    # not vacuous: some boundaries meet a kink or cross (the engine's tables always do)
    assert np.isfinite(got[0]).any() or np.isfinite(got[1]).any()


@pytest.mark.parametrize("seed", range(4))
def test_kept_columns_match_python(seed):
    """The compiled column filter equals ``soap._kept_columns``: columns at a support end in
    every row, repeats of an earlier kept column, and columns with NaN (kept, as numpy
    compares them) among random ones."""
    from qtheory.analysis._soap_kernels import kept_columns
    from qtheory.analysis.soap import _kept_columns

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    lo, hi = 0.0, float(rng.choice([np.inf, 5.0]))
    cols = [rng.exponential(1.0, n), np.full(n, lo), np.full(n, hi), rng.exponential(2.0, n)]
    cols += [cols[0].copy(), np.minimum(rng.exponential(1.0, n), lo), cols[3].copy()]
    nan = rng.exponential(1.0, n)
    nan[int(rng.integers(n))] = np.nan
    cols += [nan, nan.copy()]
    order = rng.permutation(len(cols))
    arr = np.ascontiguousarray(np.stack([cols[k] for k in order]))
    want = _kept_columns(list(arr), lo, hi)
    got = kept_columns(arr, lo, hi)
    assert list(got) == want
    assert 2 <= len(want) < len(cols)


@pytest.mark.parametrize("level", [2, 3, 4])
def test_piece_sums_floors_match_the_numpy_path(level):
    """The compiled per-piece noise sums (``piece_sums``) against ``nested_sum`` with the
    floors that ``SOAPAnalysis._z_sums`` asks for: at tanh-sinh step 1/4 the plain
    difference d1 to the coarser sum, at step 1/8 the geometric rate's d1 min(1, d1/d2), above
    none (``soap._z_floor``); the sums bit for bit, the estimates to rounding. Random
    integrands of a few scales, one per pair, and pairs with weights of 0."""
    from qtheory.analysis import soap
    from qtheory.analysis._soap_kernels import piece_sums
    from qtheory.analysis.quadrature import nested_sum, tanh_sinh_rule

    rule = tanh_sinh_rule(level)
    rng = np.random.default_rng(level)
    npairs, size = 40, rule.left.size
    t = rule.left[None, :]
    v = np.exp(-rng.uniform(0.1, 30.0, (npairs, 1)) * t) * rng.uniform(0.5, 2.0, (npairs, 1))
    v[::7] = np.sqrt(t[0]) ** rng.uniform(0.1, 3.0)  # endpoint singularities
    w = np.broadcast_to(rule.weight, (npairs, size)).copy()
    w[5, ::3] = 0.0
    mode = soap._z_floor(level)
    assert mode == {2: 1, 3: 2, 4: 0}[level]
    got, est = piece_sums(np.ascontiguousarray(v), w, rule.coarse, rule.coarse4, mode)
    for p in range(npairs):
        prod = np.where(w[p] > 0, v[p] * w[p], 0.0)
        fine, e, half = nested_sum(prod[None], rule.coarse, rule.coarse4, with_coarse=True)
        d1 = abs(fine[0] - half[0])
        d2 = abs(half[0] - 4.0 * prod[rule.coarse4].sum())
        want = e[0]
        if mode == 1:
            want = max(want, d1)
        elif mode == 2:
            want = max(want, d1 * (min(d1 / d2, 1.0) if d2 > 0 else float(d1 > 0)))
        assert got[p] == pytest.approx(fine[0], rel=1e-15, abs=0)
        assert est[p] == pytest.approx(want, rel=1e-6, abs=1e-300)
    # the estimate only ever grows with the floor
    for m in (1, 2):
        assert np.all(piece_sums(np.ascontiguousarray(v), w, rule.coarse, rule.coarse4, m)[1]
                      >= piece_sums(np.ascontiguousarray(v), w, rule.coarse, rule.coarse4,
                                    0)[1])
