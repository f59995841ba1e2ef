"""The compiled J(a, b) of a tabulated posterior law (qtheory.analysis._gittins_tab) against
the NumPy path it replaces (_Law._J on _Law.at): every branch (the two sides of the median,
narrow windows by 16- or 4-point Gauss-Legendre, windows across breakpoints, windows and
quanta next to a finite end of the support, quanta beyond it, points left to the exact
path)."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.analysis import gittins as G

LAWS = [
    (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.UniformPrediction(0.5), 0.0, 0.5),
    (qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.UniformPrediction(0.5), 0.5, 2.0),
    (qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)), qt.UniformPrediction(0.5),
     2.0, np.inf),
    (qt.Weibull(0.5), qt.ExponentialPrediction(), 0.5, 2.0),
    (qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction(), 0.0, 1.0),
    (qt.Weibull(2.0), qt.UniformPrediction(0.5), 0.5, 2.0),
]


def _pairs(law: G._Law, rng):
    """Ages over the law's range (and next to its breakpoints and finite end), each with
    quanta from 1e-9 of the local scale (tiny and narrow windows) to far beyond the mass."""
    ages = np.geomspace(law.med * 1e-4, law.A, 40)
    ages = np.concatenate([ages, law.bps * (1.0 - 1e-7), law.bps * (1.0 + 1e-7)])
    if np.isfinite(law.hi):
        ages = np.concatenate([ages, law.hi * (1.0 - np.geomspace(1e-10, 1e-2, 6))])
    ages = ages[(ages > 0) & (ages < law.A)]
    rel = np.concatenate([np.geomspace(1e-9, 1e4, 60), rng.uniform(1e-3, 0.2, 20)])
    a = np.repeat(ages, rel.size)
    b = a + np.tile(rel, ages.size) * (a + law.med)
    near = law.bps[law.bps > 0]
    if near.size:  # quanta ending at a breakpoint (and a hair either side)
        z = np.concatenate([near, near * (1.0 - 1e-9), near * (1.0 + 1e-9)])
        a2 = np.repeat(ages, z.size)
        b2 = np.tile(z, ages.size)
        keep = b2 > a2
        a, b = np.concatenate([a, a2[keep]]), np.concatenate([b, b2[keep]])
    if np.isfinite(law.hi):
        b = np.minimum(b, law.hi)
        keep = b > a
        a, b = a[keep], b[keep]
    return a, b


@pytest.mark.parametrize("case", range(len(LAWS)))
def test_compiled_J_matches_numpy_path(case):
    size, prediction, lo, hi = LAWS[case]
    law = G._Law(qt.PredictionBucket(size, prediction, lo, hi))
    assert law._tab is not None
    a, b = _pairs(law, np.random.default_rng(case))
    ea, _, _ = law._ends(a)
    fast = law._Jat(a, ea, b)
    tab, law._tab = law._tab, None
    try:
        ref = law._Jat(a, ea, b)
    finally:
        law._tab = tab
    both_inf = np.isinf(fast) & np.isinf(ref)
    assert np.all(np.isfinite(ref) | both_inf)
    fin = ~both_inf
    rel = np.abs(fast[fin] / ref[fin] - 1.0)
    # (2.7e-15 on the Weibull 2 bucket law, whose tails near its finite end take log tables)
    assert np.max(rel) <= 3e-15, (np.max(rel), a[fin][np.argmax(rel)], b[fin][np.argmax(rel)])
    # the ranks from both paths agree as well (the compiled path refines the quanta by
    # Brent's method, the NumPy path by multi-section: least values within a few ulps)
    ages = np.geomspace(law.med * 1e-3, law.A * 0.999, 25)
    g1 = law.gittins(ages)
    law._tab = None
    try:
        g0 = law.gittins(ages)
    finally:
        law._tab = tab
    assert np.max(np.abs(g1 / g0 - 1.0)) <= 2e-14


@pytest.mark.parametrize("case", [0, 3, 4])
def test_brent_section_finds_the_least_value(case):
    """The compiled section (Brent's method to 1e-9 in u) against scipy's bounded Brent to
    1e-12 started from the least of 2001 points of each bracket: never above it by more
    than 2 ulps, and the NumPy multi-section never below the compiled result by more."""
    from scipy.optimize import minimize_scalar

    size, prediction, lo, hi = LAWS[case]
    law = G._Law(qt.PredictionBucket(size, prediction, lo, hi))
    ages = np.geomspace(law.med * 1e-2, law.med * 5.0, 7)
    ages = ages[ages < law.A]
    ea, _, _ = law._ends(ages)
    _, bstar = law.interior(ages, ea)
    rows = np.nonzero(np.isfinite(bstar) & (bstar > ages))[0]
    assert rows.size >= 3
    a = ages[rows]
    e = tuple(q[rows] for q in ea)
    u0 = np.log(bstar[rows] - a)
    ulo, uhi = u0 - 0.4, u0 + 0.3
    J = law._Jat
    flo, fhi = J(a, e, a + np.exp(ulo)), J(a, e, a + np.exp(uhi))
    val, arg = law._section(a, e, ulo, uhi, flo, fhi)
    # (the kernel's exp and NumPy's may differ in the last bit)
    assert np.allclose(J(a, e, a + np.exp(arg)), val, rtol=1e-14, atol=0)
    tab, law._tab = law._tab, None
    try:
        val_np, _ = law._section(a, e, ulo, uhi, flo, fhi)
    finally:
        law._tab = tab
    assert np.all(val <= val_np * (1.0 + 4.5e-16))
    for i in range(a.size):
        ei = tuple(q[i:i + 1] for q in e)

        def f(u, i=i, ei=ei):
            return float(J(a[i:i + 1], ei, a[i:i + 1] + np.exp(u))[0])

        grid = np.linspace(ulo[i], uhi[i], 2001)
        k = int(np.argmin([f(u) for u in grid]))
        res = minimize_scalar(f, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 2000)]),
                              method="bounded", options={"xatol": 1e-12})
        best = min(res.fun, f(grid[k]))
        assert val[i] <= best * (1.0 + 4.5e-16), (val[i], best)


def test_points_outside_the_tables_take_the_exact_path():
    """Quanta the tables do not hold (here on an inner panel of a Weibull bucket law with
    uniform noise whose tables are taken away, as where no mode fits a panel) are flagged by
    the kernel and computed on the NumPy path: the result is the NumPy path's, and the mask
    is not empty. (The panel that lacked a table here until 2026-12-06, next to the lower end
    of the support, has one since the panels are graded towards that end.)"""
    from qtheory.analysis._gittins_tab import j_tabulated

    post = qt.PredictionBucket(qt.Weibull(0.5), qt.UniformPrediction(0.5), 0.5, 2.0)
    ta, tb, _, _, _ = post._cheb_table(0.0, True)  # builds every order's and side's table
    j = ta.size // 2
    for key, (pa, pb, coef, mode, anchor) in list(post._cheb_cache.items()):
        mode = mode.copy()
        mode[j] = 0
        post._cheb_cache[key] = (pa, pb, coef, mode, anchor)
    law = G._Law(post)
    b = ta[j] + (tb[j] - ta[j]) * np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    a = np.full(5, 0.5 * ta[j])
    ea, _, _ = law._ends(a)
    flat = [a, *(np.ascontiguousarray(q) for q in ea), b]
    raw, need = j_tabulated(*flat, *law._tab)
    assert need.all() and np.all(np.isnan(raw))
    got = law._Jat(a, ea, b)
    ref = law._J(a, ea, b, law.at(b))
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got / ref - 1.0)) <= 2e-15


def test_plain_laws_keep_the_numpy_path():
    assert G._Law(qt.Weibull(0.5))._tab is None


FAR_LAWS = [
    (qt.Weibull(0.5), qt.ExponentialPrediction(), 0.0, 0.3),  # a long tail for a low bucket
    (qt.Lognormal(sigma=1.0, mean=1.0), qt.ExponentialPrediction(), 1.0, np.inf),
    (qt.Pareto(alpha=2.5, xm=1.0), qt.LognormalPrediction(0.5), 2.0, np.inf),
]


@pytest.mark.parametrize("case", range(len(FAR_LAWS)))
def test_quanta_end_where_both_tails_are_negligible(case):
    """interior() ends the quanta of an age a at the first age t of _far_tails where
    P(X > t) and E[(X - t)^+] are below 1e-17 of theirs at a: there J(a, b) is the mean
    residual size for every b >= t (checked to 4e-15, a few ulps, on quanta up to
    1e6 (a + median)), and the ranks are those of the search over all quanta (to
    rounding)."""
    size, prediction, lo, hi = FAR_LAWS[case]
    law = G._Law(qt.PredictionBucket(size, prediction, lo, hi))
    a = np.geomspace(law.med * 1e-3, law.A * 0.99, 60)
    ea, _, M = law._ends(a)
    end = law._far_ends(a, ea)
    cut = np.isfinite(end)
    assert cut.sum() >= 30 and np.all(end[cut] > a[cut])
    t, sf, r = law._far
    assert np.all(np.diff(sf) <= 0) and np.all(np.diff(r) <= 0)
    k = np.searchsorted(t, end[cut])
    assert np.all(sf[k] <= G._FAR * ea[0][cut]) and np.all(r[k] <= G._FAR * ea[3][cut])
    # beyond the end, J is the mean residual size to rounding
    ac = a[cut]
    ratio = np.maximum(1e6 * (ac + law.med) / end[cut], 1.0)
    bq = end[cut][:, None] * ratio[:, None] ** np.linspace(0.0, 1.0, 12)[None, :]
    J = law.J(np.broadcast_to(ac[:, None], bq.shape), bq)
    assert np.max(np.abs(J / M[cut][:, None] - 1.0)) <= 4e-15
    # the rank with the quanta ended as with all of them
    got = law.gittins(a)
    law._far_ends = lambda x, e: np.full(np.shape(x), np.inf)
    want = law.gittins(a)
    assert np.max(np.abs(got / want - 1.0)) <= 1e-14


@pytest.mark.parametrize("case", range(len(LAWS)))
def test_compiled_interior_matches_the_numpy_form(case):
    """_Law.interior of a tabulated law (one compiled pass over the ages,
    _gittins_tab.interior_tabulated) against its NumPy form on the same batch of ages (the
    rank's grid, with the ages next to the breakpoints and to a finite end, and more): the
    least values within 1 ulp (the kernel's log may differ from NumPy's in the last bit,
    and a Brent search from a bracket one ulp off ends elsewhere on the same flat minimum;
    equal on all 1303 finite values here, and on all but 3 of 12665 ages of 30 other laws,
    1 ulp apart), the same ages without an interior optimum, and each age's quantum giving
    its value (within 2 ulps here: NumPy's exp of the search's u)."""
    size, prediction, lo, hi = LAWS[case]
    law = G._Law(qt.PredictionBucket(size, prediction, lo, hi))
    ages = np.concatenate([G._grid(law), np.geomspace(law.med * 1e-6, law.A, 80)])
    ages = ages[(ages >= 0) & (ages < law.A)]
    ea, _, _ = law._ends(ages)
    got, quanta = law.interior(ages, ea)
    want, _ = law._interior_numpy(ages, ea)
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    fin = np.isfinite(want)
    assert fin.sum() >= 20
    assert np.max(np.abs(got[fin] / want[fin] - 1.0)) <= 2.3e-16
    J = law.J(ages[fin], quanta[fin])
    assert np.max(np.abs(J / got[fin] - 1.0)) <= 2e-15


def test_interior_ages_off_the_tables_take_the_numpy_form():
    """Ages whose quanta meet a value the tables do not hold are left by the kernel to the
    NumPy form, and their values are its values. (A Weibull 2 bucket law with uniform noise
    had no table of its tails near its finite end until its noisy linear tables fell back
    to log tables; here the last three panels of its tail table are blanked.)"""
    size, prediction, lo, hi = LAWS[5]
    law = G._Law(qt.PredictionBucket(size, prediction, lo, hi))
    tab = list(law._tab)
    mode = tab[3].copy()  # the modes of the table of P(X > x)
    mode[-3:] = 0
    tab[3] = mode
    law._tab = tuple(tab)
    ages = G._grid(law)
    ea, _, _ = law._ends(ages)
    e = tuple(np.ascontiguousarray(q, dtype=float) for q in ea)
    _, _, need = law._interior_compiled(ages, e)
    assert 0 < need.sum() < ages.size
    got, _ = law.interior(ages, ea)
    want, _ = law._interior_numpy(ages[need], tuple(q[need] for q in e))
    assert np.array_equal(got[need], want)
