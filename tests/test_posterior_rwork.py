"""Gittins on the posterior by the r-work integral with the prediction's integral inside
(qtheory.analysis.posterior_rwork)."""

import warnings

import numpy as np
import pytest
from numpy.polynomial import legendre as L

import qtheory as qt
from qtheory.analysis.gittins import gittins_rank
from qtheory.analysis.multiclass import ClassRankAnalysis
from qtheory.analysis.posterior_rwork import (
    SwappedPosteriorAnalysis,
    _gauss_estimate,
    _served_integral,
    _switch_integral,
    first_record,
    interior_run,
    law_grid,
    quantile_pieces,
)
from qtheory.distributions.point_posterior import point_law

# Weibull 2 sizes, uniform noise 0.5, load 0.8: the swapped integral with 10 nodes a piece
# and the prediction's quantiles from 1e-14 (estimate 3.4e-12); a prototype with its own
# rule over the prediction (13 linear pieces on [0, 8], 8 and 10 nodes each) and its own N
# (the posteriors there have decreasing ranks, so N(r) = int 1[E[X | y] <= r] E[X | y]
# dF_Y) gave 2.356178740254842 and ...838; the node rule gives 2.35629364, 2.35621145,
# 2.35618806 with 32, 64, 128 nodes, differences falling
# by 3.5, extrapolated at that rate to 2.35617870
REFERENCE = 2.3561787402548644


def test_first_record_exponential_is_fcfs():
    D, n, F = first_record(qt.Exponential(mean=1.0), np.array([0.25, 0.99, 1.01, 3.0]))
    # rank 1 at every age: no age is served below level 1, the whole job above it
    assert np.all(np.isinf(D[:2])) and np.all(n[:2] == 0)
    np.testing.assert_allclose(D[2:], [1.0 - 1.01, 1.0 - 3.0], rtol=1e-12)
    np.testing.assert_allclose(n[2:], 1.0, rtol=1e-12)
    np.testing.assert_allclose(F[2:], 1.0)


def test_first_record_decreasing_rank_runs_to_completion():
    """Weibull 2 sizes under uniform noise: the posterior's hazard rises, its rank falls from
    E[X | y], so D = E[X | y] - r and a job served at level r runs to completion."""
    law = point_law(qt.Weibull(2.0), qt.UniformPrediction(0.5), 1.3)
    r = np.geomspace(1e-3, 10.0, 12) * law.mean
    D, n, F = first_record(law, r)
    np.testing.assert_allclose(D, law.mean - r, rtol=0, atol=1e-14)
    np.testing.assert_allclose(n, law.mean, rtol=1e-14)


@pytest.mark.parametrize("y", [0.3, 1.0, 4.0])
def test_first_record_against_the_gittins_engine(y):
    """Exponential sizes and noise: the posterior's hazard falls back to 1 after a
    maximum, so below level 1 a job's first run ends at an interior age. The sign of D
    against the Gittins rank at age 0 and E[min(X, c1)] against the engine's new r-work."""
    law = point_law(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), y)
    rank = gittins_rank(law)
    gamma = float(np.asarray(rank(np.array([0.0])))[0])
    r = np.concatenate([np.linspace(0.3, 1.6, 27) * gamma, [0.999, 1.2]])
    D, n, F = first_record(law, r)
    served = r > gamma * (1 + 1e-9)
    assert np.all(D[served] <= 0)
    assert np.all(D[r < gamma * (1 - 1e-9)] > 0)
    eng = ClassRankAnalysis([(1.0, law, rank)], rtol=1e-12, gittins=True)
    N, _, _ = eng._cross_work(0, r[served], np.zeros(served.sum(), dtype=bool))
    np.testing.assert_allclose(n[served], N, rtol=1e-10)


def test_served_integral_of_polynomials():
    """D(t) = t - 0.3 (served below 0.3) and g(t) = 1 + t**2: the integral from -1 to 0.3
    is 1.3 + (0.027 + 1) / 3; D(t) = t**2 - 0.25 (served on [-0.5, 0.5]): 1 + 1 / 12."""
    m = 8
    t, _ = L.leggauss(m)
    vinv = np.linalg.inv(L.legvander(t, m - 1))
    g = 1.0 + t * t
    D = np.stack([t - 0.3, t * t - 0.25], axis=1)
    G = np.stack([g, g], axis=1)
    out = _served_integral(vinv @ D, vinv @ G, t, D)
    np.testing.assert_allclose(out, [1.3 + 1.027 / 3.0, 1.0 + 1.0 / 12.0], rtol=1e-13)


def test_served_integral_of_a_log_interpolant():
    """With ``logs`` the coefficients are of log g: g = exp(t), served below t = 0.3."""
    m = 6
    t, _ = L.leggauss(m)
    vinv = np.linalg.inv(L.legvander(t, m - 1))
    D = (t - 0.3)[:, None]
    out = _served_integral(vinv @ D, vinv @ t[:, None], t, D, np.array([True]))
    assert out[0] == pytest.approx(np.exp(0.3) - np.exp(-1.0), rel=1e-13)


def test_switch_integral_of_polynomials():
    """Served where t <= 0.5; the interior branch (value 2) where t < 0, the end's (value 1)
    elsewhere: 2 * 1 + 1 * 0.5."""
    cG = np.array([[-0.5], [1.0]])
    cE = np.array([[0.0], [1.0]])
    out = _switch_integral(cG, cE, np.array([1.0]), np.array([[2.0]]))
    assert out[0] == pytest.approx(2.5, rel=1e-14)


def test_interior_run_agrees_with_first_record():
    """Weibull 0.5 sizes under wide uniform noise (0.9): the posterior's hazard falls and
    then rises to the end of its support, so Phi has an interior minimum at some levels.
    Where it is below the end's (E < 0) the first run ends there; where there is none
    (E = inf) a served job runs to completion."""
    law = point_law(qt.Weibull(0.5), qt.UniformPrediction(0.9), 1.0)
    grid = law_grid(law)
    r = np.linspace(0.02, 1.5, 60) * law.mean
    _, n, _ = first_record(law, r, grid)
    nB, E = interior_run(law, r, grid)
    inner = np.isfinite(E) & (E < 0)
    assert 10 < inner.sum() < r.size
    np.testing.assert_allclose(n[inner], nB[inner], rtol=1e-12)
    assert np.all(nB[inner] < law.mean)
    end = ~np.isfinite(E) & (n > 0)
    assert end.any()
    np.testing.assert_allclose(n[end], law.mean, rtol=1e-12)


def test_gauss_estimate_bounds_the_rule():
    for m in (4, 6, 8):
        t, w = L.leggauss(m)
        for f, exact in ((np.exp, np.e - 1 / np.e), (lambda x: 1 / (2 - x), np.log(3.0))):
            c = np.linalg.solve(L.legvander(t, m - 1), f(t))
            assert abs(w @ f(t) - exact) <= _gauss_estimate(c)


def test_refuses_atoms_and_exact_predictions():
    with pytest.raises(ValueError, match="size"):
        SwappedPosteriorAnalysis(qt.Discrete([1.0, 2.0], [0.5, 0.5]),
                                 qt.UniformPrediction(0.5))
    with pytest.raises(ValueError, match="prediction"):
        SwappedPosteriorAnalysis(qt.Weibull(2.0), qt.ExactPrediction())
    with pytest.raises(ValueError, match="rule"):
        qt.policies.GittinsPosterior(rule="spectral")


def test_swap_rule_matches_the_reference_and_bounds_sprpt():
    """The user's path: the swapped integral within its estimate of the reference (an
    independent prototype agrees with it to 4e-15; 6.9e-12 off, with an estimate of 1.8e-11:
    the predictions below the quantile 1e-8 are left out), its work identity right, below
    SPRPT and within the node rule's error estimate."""
    q = qt.MG1(load=0.8, size=qt.Weibull(2.0), prediction=qt.UniformPrediction(0.5))
    pol = qt.policies.GittinsPosterior(rule="swap")
    with warnings.catch_warnings():
        warnings.simplefilter("error", qt.QuadratureWarning)
        value, err = q.mean_response_time_with_error(pol)
    assert pol.name == "GittinsPosterior(swap)"
    assert abs(value - REFERENCE) <= max(err, 1e-12) + 1e-12 * REFERENCE
    assert err < 1e-10 * value
    node, node_err = q.mean_response_time_with_error(qt.policies.GittinsPosterior(nodes=16))
    assert abs(node - value) <= node_err
    assert value < q.mean_response_time("SPRPT")
    a = q._engines.gittins_posterior(pol)
    # over the predictions kept (their probability)
    assert abs(a.work_identity() - (1.0 - a.below - a.above)) < 1e-11
    with pytest.raises(ValueError, match="method"):
        a.mean(0.8 / q.size.mean, "soap")


def test_swap_rule_with_exact_predictions_is_srpt():
    q = qt.MG1(load=0.7, size=qt.Weibull(2.0), prediction=qt.ExactPrediction())
    v = q.mean_response_time(qt.policies.GittinsPosterior(rule="swap"))
    assert v == pytest.approx(q.mean_response_time("SRPT"), rel=1e-12)


@pytest.mark.slow
def test_swap_rule_exponential_noise_against_the_node_rule_at_128_nodes():
    """Exponential sizes and noise, load 0.8 (posterior hazards that rise and fall back to 1,
    so N's pieces are halved). The node rule (PosteriorGittinsAnalysis(size, prediction,
    nodes=128, rtol=1e-11).node_means(0.8), 5 minutes) gives E_128 = 3.052557566860874 and
    E_64 = 3.0525335669673086, differences falling by 3.85 a doubling, so the limit is
    E_128 + d / 3 = 3.0525655668 at order 2 and 3.0525659800 at the measured 3.85."""
    q = qt.MG1(load=0.8, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    value, err = q.mean_response_time_with_error(qt.policies.GittinsPosterior(rule="swap"))
    assert abs(value - 3.0525655668) < 5e-7
    assert err < 1e-6 * value


@pytest.mark.slow
def test_swap_rule_bounded_pareto_converges_in_the_nodes():
    """Bounded Pareto sizes, lognormal noise: 10 and 12 nodes a piece within their
    estimates of each other (their level integrals refined where a node's rank has close
    critical values)."""
    size, pred = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0), qt.LognormalPrediction(0.5)
    lam = 0.8 / size.mean
    v10, e10 = SwappedPosteriorAnalysis(size, pred, nodes=10).mean(lam)
    v12, e12 = SwappedPosteriorAnalysis(size, pred, nodes=12).mean(lam)
    assert abs(v10 - v12) <= e10 + e12
    assert max(e10, e12) < 1e-6 * v10


@pytest.mark.parametrize("size, prediction", [
    (qt.Weibull(2.0), qt.UniformPrediction(0.5)),
    (qt.Exponential(mean=1.0), qt.ExponentialPrediction()),
    # steep ends of the prediction's support (a Pareto law's lower end, a bounded law's
    # upper end): the grid's interpolation misses the far quantiles, found exactly
    (qt.Pareto(alpha=3.598, xm=1.0), qt.UniformPrediction(0.5)),
    (qt.Uniform(0.0, 0.638), qt.UniformPrediction(0.32)),
])
def test_piece_edges_near_their_quantiles(size, prediction):
    """quantile_pieces: the rule's first edge within a factor 4 of the prediction's quantile
    1e-10 and its last of 1 - 1e-14 (the probability left out: a factor 4 of its target;
    with the grid's interpolation alone it was 1e-2 for the Pareto law), the breakpoints
    exactly among the edges, and the edges increasing."""
    from qtheory.analysis.posterior_gittins import prediction_breakpoints

    e = quantile_pieces(size, prediction)
    u = np.asarray(prediction.marginal_cdf(e, size), dtype=float)
    assert 0.25e-10 < u[0] < 4e-10 and 0.25e-14 < 1.0 - u[-1] < 4e-14
    assert np.all(np.diff(e) > 0)
    yb = prediction_breakpoints(size, prediction, as_y=True)
    assert np.all(np.isin(yb[(yb > e[0]) & (yb < e[-1])], e))
