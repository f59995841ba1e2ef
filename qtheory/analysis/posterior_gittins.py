r"""Gittins on the posterior law of the size given a continuous prediction.

A job whose prediction is ``y`` is ranked at age ``a`` by the Gittins rank of its posterior
size law ``X | Y = y`` (:func:`qtheory.distributions.point_posterior.point_law`). Among
preemptive policies that see only each job's prediction and age it minimises the mean
response time (Gittins' theorem with the prediction as the job's type: J. C. Gittins,
"Multi-armed Bandit Allocation Indices", 1989; S. Aalto, U. Ayesta, R. Righter, "On the
Gittins index in the M/G/1 queue", Queueing Systems 63, 2009; Z. Scully, M. Harchol-Balter,
A. Scheller-Wolf, "SOAP", POMACS 2(1) 2018, Section 5, for the analysis of a policy whose
rank depends on a descriptor and the age). It is therefore a lower bound for SPJF, PSPJF,
SPRPT, TRAIL, bucket advice and every other policy of this package that uses the prediction,
and with exact predictions it is SRPT.

The descriptor ``y`` is continuous, so SOAP's other-job functions are integrals over the
prediction of other jobs, ``N(r) = int E[X_y^new[r]] dF_Y(y)`` (and likewise ``O0``, ``S``),
and ``E[T] = int E[T_y] dF_Y(y)``. Both integrals are taken with a composite ``n``-point
Gauss-Legendre rule in the prediction's quantile ``u = F_Y(y)`` (:func:`node_rule`): one class
of :class:`~qtheory.analysis.multiclass.ClassRankAnalysis` per node ``y_j = F_Y^{-1}(u_j)``,
with the rule's weight as its probability and the posterior at ``y_j`` as its law, ranked by
that law's Gittins rank (:func:`~qtheory.analysis.gittins.gittins_rank`). The rule is cut
where the posterior itself jumps or kinks in ``y`` (:func:`prediction_breakpoints`: with a
bounded noise factor, where an atom or an end of the size law's support enters or leaves the
posterior's support; for atoms with uniform noise the posterior is constant between those
points and the rule is exact), and for size laws with a tail heavier than the exponential's
its nodes are graded towards the top quantiles (:func:`heavy_tailed`). The integrands still
jump in ``y`` wherever a class's rank crosses a level, so the rule is not spectral. Measured
at load 0.8 (``validation/gittins_posterior.py``, ``validation/gittins_nodes.py``), with
``d_n = E_n - E_{n/2}``:

* exact predictions (the limit, SRPT, is known): second order, ``n**2`` times the error
  -1.31, -1.38, -1.44, -1.47 for n = 8, 16, 32, 64;
* Weibull shape 2 sizes, uniform noise (alpha 0.5): ``d_n`` = -1.55e-3, -3.2e-4, -8.2e-5 for
  n = 16, 32, 64 (ratios 4.8, 3.9: second order);
* exponential sizes, exponential noise: ``d_n`` = 1.15e-2, 9.7e-4, 3.25e-4 for n = 8, 16, 32
  (ratios 11.8, 3.0: between first and second order so far);
* Weibull shape 0.5 sizes, uniform noise 0.3 (graded): ``d_n`` = -0.375, -0.057, -0.012 for
  n = 8, 16, 32 (ratios 6.6, 4.7; ungraded +0.81, +0.29, +0.088);
* discrete sizes (atoms 1, 2, 5), exponential noise: ``d_n`` = -0.173, -0.016, -0.0040,
  -0.0023 for n = 8 ... 64 (ratios 10.7, 4.0, 1.8: first order at the end).

The value is the Richardson extrapolation ``E_n + d_n / 3`` of an order-2 rule; its error
estimate is ``max(|d_n|, |d_{n/2}| / 4)`` (plus the classes' quadrature error), which bounds
the error of the value for any order from 1 up (the error of ``E_n`` is ``d_n / (2**p - 1)``
at order ``p``) as long as the differences shrink steadily. They need not: uniform sizes on
[0, 0.638] with uniform noise 0.32, load 0.694, ``d_n`` = -1.69e-3, -7.4e-5, -1.19e-4,
-3.7e-5, -1.4e-5, -3.5e-6 for n = 8 ... 256; the 16-node value was 1.5e-4 off, twice
``|d_16|``, hence the second term (:meth:`PosteriorGittinsAnalysis.mean`).

No conditional response time ``E[T | X = x, Y = y]`` is offered: at a fixed tagged level the
other-job functions converge only at first order, with erratic signs (whether a node falls
just below or above a jump), and the errors average out only in the mean. Measured (Weibull
2 sizes, uniform noise 0.5, load 0.8, x = y = 1, the tagged job ranked by its own posterior,
the node classes as the others): 1.616, 1.632, 1.506, 1.509 for 8, 16, 32, 64 nodes, so
``|E_n - E_{n/2}|`` would not bound its error.

Each node system's mean is the r-work integral over the level
(:mod:`qtheory.analysis.rwork`: the classes are ranked by their own Gittins ranks, so no
tagged-job analysis is needed; ``method="soap"`` gives SOAP's, the same to 6e-12). With it,
the node rule approximates just two integrals over the prediction at each level,
``N(r) = int N_y(r) dF_Y`` and ``S(r) = int S_y(r) dF_Y``: ``N_y(r)`` jumps where the rank at
age 0 equals ``r``, ``S_y(r)`` has a kink there. Correcting the rule for ``N``'s jump alone
(even with its exact position and size, exact predictions) made ``E[T]`` worse, -2.0e-4
against +3.8e-5 at 64 nodes: the errors of ``N`` and ``S`` cancel in part (``docs/soap.md``).

:mod:`qtheory.analysis.posterior_rwork` (``GittinsPosterior(rule="swap")``) swaps the order
for ``S`` and integrates ``N`` exactly across its jump, and converges spectrally where the
node rule cannot (Weibull 2 sizes, uniform noise 0.5, load 0.8: 2.35617874024804 with an
estimate of 1.8e-11, against 2.35610 with 2.2e-3 here at 16 nodes); it costs about 2 s.

Cost: one posterior law and one Gittins rank per node, and the node systems' work functions
at the levels of the r-work integral (tables in the level, :mod:`qtheory.analysis._worktab`).
A whole value (``E_n`` with its ``n/2`` and ``n/4`` companions), load 0.8, cold: Weibull 2
sizes with uniform noise 0.5 0.48 s for n = 16, 0.65 s and 1.44 s more for 32 and 64;
exponential sizes with exponential noise 1.15 s; bounded Pareto (alpha 1.5 on [0.2, 50])
with lognormal noise (sigma 0.5) 1.34 s (SOAP's multi-class analysis: 0.53, 1.49 and 1.69 s;
0.8, 1.8 and 2.4 s before the nested rank fits of 2026-12-05; 5.3 and 4.1 s for the last two
before the work tables, and 3.4 s, 55 s and about 2 minutes before the posterior laws were
tabulated). What remains is mostly the node laws' ranks (15-45 ms a law).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution

__all__ = ["PosteriorGittinsAnalysis", "prediction_breakpoints", "heavy_tailed", "node_rule",
           "node_classes"]

_WARN_REL = 1e-3  # relative error estimate above which a QuadratureWarning is issued


def prediction_breakpoints(size: SizeDistribution, prediction,
                           as_y: bool = False) -> np.ndarray:
    """Quantiles ``u = F_Y(y_b)`` in ``(0, 1)`` of the predictions ``y_b`` where the
    posterior law jumps or kinks as a function of ``y``: ``y_b = b z`` for ``b`` a breakpoint,
    atom or finite end of the size law's support and ``z`` a breakpoint or finite positive
    end of the noise factor's support (a point ``b`` enters or leaves the posterior's
    support there). Empty for noise factors without such points (exponential, lognormal).
    With ``as_y``, the predictions ``y_b`` themselves (those the quantiles keep).

    Examples
    --------
    >>> import qtheory as qt
    >>> size = qt.Discrete([1.0, 2.0], [0.5, 0.5])   # y in [x/2, 3x/2]: 0.5, 1, 1.5, 3
    >>> prediction_breakpoints(size, qt.UniformPrediction(0.5))   # 0 and 1 left out
    array([0.25 , 0.625])
    """
    zs = {float(z) for z in (*prediction.noise_support, *prediction.noise_breakpoints)}
    zs = {z for z in zs if 0 < z < np.inf}
    if not zs or prediction.is_exact:
        return np.zeros(0)
    bs = {float(b) for b in (*size.support, *size.breakpoints)}
    if size.is_discrete:
        bs |= {float(v) for v in np.asarray(size.atoms[0], dtype=float)}
    ys = np.array(sorted({b * z for b in bs for z in zs if 0 < b < np.inf}))
    if not ys.size:
        return np.zeros(0)
    u = np.asarray(prediction.marginal_cdf(ys, size), dtype=float)
    keep = (u > 1e-12) & (u < 1.0 - 1e-12)
    u, ys = u[keep], ys[keep]
    if u.size > 1:  # merge points closer than 1e-9 in probability
        first = np.concatenate([[True], np.diff(u) > 1e-9])
        u, ys = u[first], ys[first]
    return ys if as_y else u


def heavy_tailed(size: SizeDistribution) -> bool:
    """True when the size law's squared coefficient of variation exceeds 1 (a tail heavier
    than the exponential's, or an infinite second moment): :func:`node_rule` then grades its
    last piece towards ``u = 1``.

    Examples
    --------
    >>> import qtheory as qt
    >>> heavy_tailed(qt.Exponential(mean=1.0)), heavy_tailed(qt.Weibull(0.5))
    (False, True)
    """
    m1, m2 = float(size.mean), float(size.moment(2))
    return not np.isfinite(m2) or m2 / (m1 * m1) - 1.0 > 1.0


def node_rule(size: SizeDistribution, prediction, n: int):
    """Nodes ``u_j`` and weights of the composite Gauss-Legendre rule on ``(0, 1)`` (the
    prediction's quantile) with about ``n`` nodes: the interval is cut at
    :func:`prediction_breakpoints` and each piece of width ``w`` gets ``2 round(n w / 2)``
    nodes (at least 1), so that the rule for ``n / 2`` has half the nodes on every piece.
    For a :func:`heavy_tailed` size law the last piece ``[a, 1]`` is mapped by
    ``u = 1 - (1 - a)(1 - t)**2``, which grades the nodes towards ``u = 1``, where the
    response time given the prediction grows like a power of ``-log(1 - u)`` or faster.
    Measured (load 0.8, differences of successive doublings 8 -> 16 -> 32): Weibull 0.5
    sizes with uniform noise 0.3, -0.057 and -0.012 graded against +0.29 and +0.088 plain;
    Weibull 2 with uniform noise 0.5, -0.0097 and -0.0020 graded against -0.0016 and
    -0.00032 plain (so light tails stay plain).

    Examples
    --------
    >>> import qtheory as qt
    >>> u, w = node_rule(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 8)
    >>> u.size, round(float(w.sum()), 14)
    (8, 1.0)
    """
    edges = np.concatenate([[0.0], prediction_breakpoints(size, prediction), [1.0]])
    graded = heavy_tailed(size)
    us, ws = [], []
    last = edges.size - 2
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        m = max(1, 2 * int(round(n * (b - a) / 2.0)))
        x, w = np.polynomial.legendre.leggauss(m)
        t, wt = 0.5 * (x + 1.0), 0.5 * w
        if i == last and graded:
            # u = 1 - (1 - a)(1 - t)**2: nodes graded towards u = 1, where E[T | y] grows
            # without bound (like y(u), a power of -log(1 - u))
            us.append(1.0 - (1.0 - a) * (1.0 - t) ** 2)
            ws.append(2.0 * (1.0 - a) * (1.0 - t) * wt)
        else:
            us.append(a + (b - a) * t)
            ws.append((b - a) * wt)
    return np.concatenate(us), np.concatenate(ws)


def node_classes(size: SizeDistribution, prediction, n: int) -> list:
    """``[(weight, y_j, posterior law), ...]``: the nodes of :func:`node_rule` in the
    prediction's quantile and the posterior law of the size at each.

    Examples
    --------
    >>> import qtheory as qt
    >>> cls = node_classes(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 4)
    >>> round(sum(w for w, _, _ in cls), 14), [type(law).__name__ for _, _, law in cls][:1]
    (1.0, ['PredictionPoint'])
    """
    from ..distributions.point_posterior import point_law

    u, w = node_rule(size, prediction, int(n))
    y = prediction.marginal_ppf(u, size)
    return [(float(wj), float(yj), point_law(size, prediction, float(yj)))
            for wj, yj in zip(w, y)]


class PosteriorGittinsAnalysis:
    """Mean response time of Gittins on the posterior given the prediction (module
    docstring).

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size.
    prediction : PredictionModel
        Multiplicative ``Y = X Z`` (:func:`~qtheory.distributions.point_posterior.point_law`);
        exact predictions give SRPT exactly.
    nodes : int
        Gauss-Legendre nodes ``n`` (even, 4 to 256); the value also uses ``n / 2`` nodes.
    extrapolate : bool
        Return the Richardson value ``(4 E_n - E_{n/2}) / 3`` (default) or ``E_n``.
    rtol : float
        Target relative error of each multi-class quadrature.
    cache : dict, optional
        Where the node-class engines are kept (by node count); queues that share their
        size and prediction laws share it, so ``nodes=32`` reuses the engine of
        ``nodes=16``.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = PosteriorGittinsAnalysis(qt.Weibull(2.0), qt.UniformPrediction(0.5))
    >>> value, err = a.mean(0.8 / qt.Weibull(2.0).mean)
    >>> q = qt.MG1(load=0.8, size=qt.Weibull(2.0), prediction=qt.UniformPrediction(0.5))
    >>> bool(value + err < q.mean_response_time("SPRPT"))   # the best use of predictions
    True
    """

    def __init__(self, size: SizeDistribution, prediction, nodes: int = 16,
                 extrapolate: bool = True, rtol: float = 1e-9, cache: dict | None = None):
        self.size, self.prediction = size, prediction
        self.nodes = check_nodes(nodes)
        self.extrapolate = bool(extrapolate)
        self.rtol = float(rtol)
        self._engines: dict[int, object] = {} if cache is None else cache
        self._exact = None  # exact predictions: SRPT's classical analysis
        if prediction.is_exact:
            from .classical import ClassicalAnalysis

            self._exact = ClassicalAnalysis(size, rtol)
        self._sprpt = None  # SPRPT's analysis, the bound checked by mean

    def engine(self, n: int):
        """The :class:`~qtheory.analysis.multiclass.ClassRankAnalysis` over ``n`` node
        classes (built once)."""
        if n not in self._engines:
            from .gittins import gittins_rank
            from .multiclass import ClassRankAnalysis

            classes = node_classes(self.size, self.prediction, n)
            self._engines[n] = ClassRankAnalysis(
                [(w, law, gittins_rank(law)) for w, _, law in classes], rtol=self.rtol,
                gittins=True)
        return self._engines[n]

    def node_means(self, lam: float, method: str | None = None) -> tuple[float, float, float,
                                                                           float]:
        """``(E_n, E_{n/2}, E_{n/4}, quadrature error of E_n)`` at arrival rate ``lam``, each
        by ``method`` (``"rwork"``, ``"soap"``, or by default the r-work integral with SOAP's
        analysis as its fallback: :meth:`~qtheory.analysis.multiclass.ClassRankAnalysis.mean`)."""
        n = self.nodes
        hi, err = self.engine(n).mean(lam, method)
        mid, _ = self.engine(n // 2).mean(lam, method)
        lo, _ = self.engine(max(n // 4, 1)).mean(lam, method)
        return float(hi), float(mid), float(lo), float(err)

    def sprpt(self, lam: float) -> float:
        """E[T] of SPRPT, a policy this one bounds from below (the check of :meth:`mean`)."""
        from .predicted import PredictionAnalysis

        if self._sprpt is None:
            self._sprpt = PredictionAnalysis(self.size, self.prediction, self.rtol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QuadratureWarning)
            return float(self._sprpt.mean("SPRPT", lam)[0])

    def mean(self, lam: float, method: str | None = None) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` (``inf`` at load >= 1); the
        node systems' means by ``method`` (:meth:`node_means`).

        With ``d_n = E_n - E_{n/2}``: when the differences shrink at least as fast as at
        first order (``|d_n| <= |d_{n/2}| / 2``) the value is ``E_n + d_n / 3`` (with
        ``extrapolate``) and the estimate ``max(|d_n|, |d_{n/2}| / 4)`` (a difference well
        below what second order gives is a lucky cancellation: one 16-node value was 1.5e-4
        off with ``|d_16| = 7.4e-5``, ``|d_8| / 4 = 4.2e-4``); otherwise the rule is not in its
        asymptotic regime, the value is ``E_n`` and the estimate ``max(|d_n|, |d_{n/2}|)``.
        A :class:`~qtheory.QuadratureWarning` reports an estimate above ``1e-3`` relative,
        differences that do not shrink, and a value above SPRPT's by more than the estimate
        (impossible for the optimum: the node rule has not converged, typically at loads
        near 1; Weibull 2 sizes, uniform noise 0.5, load 0.99: E_n = 21.70, 25.36, 25.70,
        25.37, 25.24 for n = 4 ... 64, SPRPT 25.24)."""
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        if lam * self.size.mean >= 1.0:
            return np.inf, 0.0
        if self._exact is not None:  # the posterior is the point mass at y: SRPT
            return self._exact.mean("SRPT", lam)
        hi, mid, lo, err = self.node_means(lam, method)
        d, d_prev = hi - mid, mid - lo
        # (differences at rounding level count as converged)
        steady = abs(d) <= 0.5 * abs(d_prev) + 64.0 * np.finfo(float).eps * abs(hi)
        value = hi + d / 3.0 if (self.extrapolate and steady) else hi
        # a difference far below a quarter of the one before (what second order gives) is
        # a lucky cancellation, not convergence: uniform sizes on [0, 0.638], uniform noise
        # 0.32, load 0.694, d_n = -1.69e-3, -7.4e-5, -1.19e-4, -3.7e-5, -1.4e-5, -3.5e-6 for
        # n = 8 ... 256, and the 16-node value was 1.5e-4 off with |d_16| = 7.4e-5 (so the
        # estimate is at least |d_{n/2}| / 4)
        est = (max(abs(d), 0.25 * abs(d_prev)) if steady else max(abs(d), abs(d_prev))) + err
        problems = []
        if not steady:
            problems.append(f"the differences do not shrink ({d_prev:+.2e}, then {d:+.2e})")
        if est > _WARN_REL * abs(value):
            problems.append(f"the error estimate is {est / abs(value):.1e} relative")
        bound = self.sprpt(lam)
        if value - est > bound:
            problems.append(f"the value {value:.6g} exceeds SPRPT's {bound:.6g}, which it "
                            "bounds: the rule has not converged")
        if problems:
            warnings.warn(f"Gittins on the posterior (nodes={self.nodes}): "
                          + "; ".join(problems) + "; raise nodes", QuadratureWarning,
                          stacklevel=2)
        return float(value), float(est)


def check_nodes(nodes) -> int:
    """``nodes`` as an int: even, 4 to 256, else ``ValueError`` naming it."""
    if isinstance(nodes, bool) or not isinstance(nodes, numbers.Integral) or nodes < 4 \
            or nodes > 256 or nodes % 2:
        raise ValueError(f"nodes must be an even integer from 4 to 256, got {nodes!r}")
    return int(nodes)
