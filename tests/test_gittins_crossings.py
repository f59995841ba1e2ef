"""Where the best quantum of the Gittins rank crosses a breakpoint or an end regime
(qtheory.analysis.gittins: _illinois, _crossing_roots, _end_switch_roots), and the quanta
added near breakpoints only where the density jumps (_Law._up, _Law._corner).

Each root is checked against what defines it, computed independently of the root finder:
the side of the breakpoint on which the full quantum search (_Law.interior) ends the best
quantum just before and after the root, the first-order condition dJ/db = 0 at the
breakpoint, and equal candidate values."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import qtheory as qt
from qtheory.analysis import gittins as G

BP = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
HX = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
U05 = qt.UniformPrediction(0.5)


def _law(size, lo, hi):
    return G._Law(qt.PredictionBucket(size, U05, lo, hi))


def _side(law, a, z):
    return int(G._sides(law.interior(np.array([a]))[1], z)[0])


def test_illinois_solves_each_row_to_a_few_ulps():
    c = np.array([0.5, 2.0, 7.0, 1e-3])
    r = G._illinois(lambda x, rows: x ** 3 - c[rows], np.zeros(4), np.full(4, 10.0),
                    -c, 1000.0 - c)
    assert np.allclose(r, np.cbrt(c), rtol=4 * np.finfo(float).eps, atol=0)


def test_illinois_leaves_unbracketed_and_nan_rows_nan():
    def f(x, rows):
        return np.where(rows == 1, np.nan, x - 1.0)

    r = G._illinois(f, np.array([0.0, 0.0, 2.0]), np.array([3.0, 3.0, 3.0]),
                    np.array([-1.0, -1.0, 1.0]), np.array([2.0, 2.0, 2.0]))
    assert r[0] == pytest.approx(1.0, rel=1e-15)
    assert np.isnan(r[1]) and np.isnan(r[2])  # NaN inside; no sign change


def test_density_jumps_are_told_from_kinks():
    # bucket (0, 0.5] of bounded Pareto sizes: support [0.2, 1]; the density jumps up at
    # 0.2 (the size law's lower end) and has a kink (continuous) at 1/3 = 0.5 / 1.5
    law = _law(BP, 0.0, 0.5)
    assert np.allclose(law.bps, [0.2, 1.0 / 3.0, 1.0])
    assert law._up.tolist() == [True, False, False]
    # (and the density falls to 0 continuously at the upper end 1 = 0.5 / 0.5)
    assert law._corner.tolist() == [True, False, False]
    # a Pareto law's own lower end: a jump up; inner breakpoints of a uniform-noise
    # bucket of hyperexponential sizes: kinks only
    law = _law(HX, 0.5, 2.0)
    assert not law._up[law._inner].any() and not law._corner[law._inner].any()


@pytest.mark.parametrize("z_rel", [1e-9, 1e-7, 1e-5])
def test_rank_just_below_a_kink_is_the_least_J(z_rel):
    # the base grid of quanta starts at 1e-8 (a + median): ages closer below a kink than
    # that get the quanta near it all the same (without them the rank was 2.4e-10 high)
    law = _law(BP, 0.0, 0.5)
    z = 1.0 / 3.0
    a = z * (1.0 - z_rel)
    g = float(law.gittins(np.array([a]))[0])
    ea, _, _ = law._ends(np.array([a]))

    def j(u):
        return float(law._Jat(np.array([a]), ea, np.array([a + np.exp(u)]))[0])

    # independent: scipy's bounded Brent on log(b - a) around the kink, and the ends
    uz = np.log(z - a)
    best = min(minimize_scalar(j, bounds=(uz - 8, uz + 8), method="bounded",
                               options={"xatol": 1e-12}).fun, j(uz))
    assert g <= best * (1 + 1e-13)
    assert g >= best * (1 - 1e-12)


def test_crossing_through_a_kink_is_the_first_order_condition():
    # bucket (2, inf): the best quantum's end passes the kink z = 4 = 2 / 0.5 (continuous
    # density) near age 1.2766: there dJ/db = 0 at b = z, i.e. J(a, z) = P(X > z) / f(z)
    law = _law(BP, 2.0, np.inf)
    z = 4.0
    lo, hi = 1.2765957, 1.3049645
    assert _side(law, lo, z) == 1 and _side(law, hi, z) == -1
    _, b = law.interior(np.array([lo, hi]))
    r = G._crossing_roots(law, np.array([lo]), np.array([hi]), np.array([z]), np.array([1]),
                          np.array([-1]), b[:1], b[1:])[0]
    assert lo < r < hi
    jz = float(law.J(np.array([r]), np.array([z]))[0])
    hz = float(law.sf(np.array([z]))[0] / law.pdf(np.array([z]))[0])
    assert jz == pytest.approx(hz, rel=1e-14)
    # the full search ends the best quantum on either side of z a little away from it
    assert _side(law, r * (1 - 1e-5), z) == 1 and _side(law, r * (1 + 1e-5), z) == -1


def test_jump_across_a_kink_is_where_two_optima_tie():
    # bucket (0, 0.5]: the best quantum jumps from above z = 1/3 to below it near age
    # 0.19935 (the rank's slope jumps there, -1.2 to -4): a root of the difference of the
    # two local optima, equal to the bisection on the side to a few ulps
    law = _law(BP, 0.0, 0.5)
    z = 1.0 / 3.0
    lo, hi = 0.19934756, 0.1994563
    assert _side(law, lo, z) == 1 and _side(law, hi, z) == -1
    _, b = law.interior(np.array([lo, hi]))
    r = G._crossing_roots(law, np.array([lo]), np.array([hi]), np.array([z]), np.array([1]),
                          np.array([-1]), b[:1], b[1:])[0]
    bis = G._bisect_labels(
        lambda x, act: G._sides(law.interior(x.ravel())[1].reshape(x.shape), z),
        np.array([lo]), np.array([hi]), np.array([-1]), rows=True)[0]
    assert r == pytest.approx(bis, rel=1e-14)
    assert _side(law, r * (1 - 1e-12), z) == 1 and _side(law, r * (1 + 1e-12), z) == -1


def test_unresolved_crossings_are_left_to_the_bisection():
    # sides that do not change, or a bracket without the crossing: NaN, no guess
    law = _law(BP, 2.0, np.inf)
    lo, hi = np.array([1.0]), np.array([1.1])  # the best quantum ends above z = 4 at both
    _, b = law.interior(np.array([1.0, 1.1]))
    assert (b > 4.0).all()
    r = G._crossing_roots(law, lo, hi, np.array([4.0]), np.array([1]), np.array([1]),
                          b[:1], b[1:])
    assert np.isnan(r[0])


def test_end_switch_root_is_where_the_hazard_meets_the_interior_optimum():
    # bucket (0, 0.5]: 1 / hazard (below) and an interior optimum (above) cross near age
    # 0.22933; the root has equal candidates and the labels on either side
    law = _law(BP, 0.0, 0.5)
    lo, hi = 0.2231888723, 0.2504809203
    _, lab_lo = law.classify(np.array([lo]))
    G_hi, lab_hi, _, _, b_hi = law.classify(np.array([hi]), ends=True, quanta=True)
    assert lab_lo[0] == 0 and lab_hi[0] == 2
    r = G._end_switch_roots(law, np.array([lo]), np.array([hi]), np.array([0]),
                            np.array([hi]), b_hi)[0]
    assert lo < r < hi
    h = float(law.hazard_inv(np.array([r]))[0])
    iv = float(law.interior(np.array([r]))[0][0])
    assert iv == pytest.approx(h, rel=1e-14)
    _, lab = law.classify(np.array([r * (1 - 1e-9), r * (1 + 1e-9)]))
    assert lab.tolist() == [0, 2]


def test_end_switch_leaves_merges_to_the_bisection():
    # bucket (2, inf) of bounded Pareto sizes: the interior optimum's quantum shrinks to 0
    # at the boundary near age 2.254 (it merges into 1 / hazard): no sign change of the
    # difference, NaN
    law = _law(BP, 2.0, np.inf)
    lo, hi = 2.219453862, 2.490846737
    _, lab_lo, _, _, b_lo = law.classify(np.array([lo]), ends=True, quanta=True)
    _, lab_hi = law.classify(np.array([hi]))
    assert lab_lo[0] == 2 and lab_hi[0] == 0
    r = G._end_switch_roots(law, np.array([lo]), np.array([hi]), np.array([0]),
                            np.array([lo]), b_lo)
    assert np.isnan(r[0])


def test_noise_minima_at_the_mean_residual_do_not_hide_a_true_minimum():
    # hyperexponential sizes, exponential noise, the bucket Y > 2: for long quanta J(a, b)
    # flattens to the mean residual M, and rounding noise makes grid minima at M; a true
    # minimum near b = 2.567 whose grid values lay above M (its least value below it) was
    # not refined, and the rank was M, up to 1.6e-4 too high at ages 0.35471-0.35539
    law = G._Law(qt.PredictionBucket(HX, qt.ExponentialPrediction(), 2.0, np.inf))
    for a in (0.3548, 0.3553):
        x = np.array([a])
        g = float(law.gittins(x)[0])
        m = float(law.mrl(x)[0])
        ea, _, _ = law._ends(x)
        res = minimize_scalar(lambda u: float(law._Jat(x, ea, x + np.exp(u))[0]),
                              bounds=(np.log(1.5), np.log(4.0)), method="bounded",
                              options={"xatol": 1e-12})
        assert res.fun < m * (1 - 1e-5)  # the minimum near 2.567 beats the residual
        assert g == pytest.approx(res.fun, rel=1e-13)


def test_end_switch_root_where_the_interior_optimum_is_born_inside_the_bracket():
    # bucket (0, 0.5]: no interior minimum at ages 0.177-0.19; one is born above the mean
    # residual near 0.19 and crosses it near 0.19489: the root is sought from the last of 8
    # ages across the bracket where the minimum exists
    law = _law(BP, 0.0, 0.5)
    lo, hi = 0.177201875, 0.1988705273
    _, lab_lo = law.classify(np.array([lo]))
    _, lab_hi, _, _, b_hi = law.classify(np.array([hi]), ends=True, quanta=True)
    assert lab_lo[0] == 1 and lab_hi[0] == 2
    r = G._end_switch_roots(law, np.array([lo]), np.array([hi]), np.array([1]),
                            np.array([hi]), b_hi)[0]
    assert lo < r < hi
    m = float(law.mrl(np.array([r]))[0])
    assert float(law.interior(np.array([r]))[0][0]) == pytest.approx(m, rel=1e-14)
    _, lab = law.classify(np.array([r * (1 - 1e-9), r * (1 + 1e-9)]))
    assert lab.tolist() == [1, 2]
