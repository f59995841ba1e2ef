r"""Mean response time of Gittins policies as one integral over the rank level (r-work).

When every job is ranked by the Gittins rank of its own size law given what the scheduler
knows of it (its class, its prediction bucket, the posterior given its prediction), the
mean response time needs no tagged-job analysis at all:

    E[T] = integral_0^inf S(r) / (2 r^2 (1 - lambda N(r))) dr,

with SOAP's other-job functions of the level ``r`` mixed over the classes,
``N(r) = E[X^new[r]]`` and ``S(r) = sum_i E[(X_i^old[r])^2]``
(:mod:`qtheory.analysis.multiclass`). Derivation (the r-work argument of Z. Scully and
M. Harchol-Balter, "The Gittins Policy in the M/G/1 Queue", WiOpt 2021, and the "work
integral number equality" of Z. Scully, I. Grosof and M. Harchol-Balter, "The Gittins Policy
is Nearly Optimal in the M/G/k under Extremely General Conditions", POMACS 4(3) 2020):

* A job's *r-work* is the service it needs until it completes or its rank first reaches
  ``r``. For a job at age ``a`` its expectation is ``w(r) = V(r) - r V'(r)`` with
  ``V(r) = min_b (E[min(X, b) - a | X > a] + r P(X > b | X > a))`` (the Gittins rank at
  ``a`` is below ``r`` exactly when some ``b > a`` makes that bracket below its value
  ``r`` at ``b = a``), so ``int_0^inf w(r) / r^2 dr = [-V(r) / r]_0^inf = 1``: summed over the
  jobs present, ``E[number in system] = int_0^inf E[W(r)] / r^2 dr`` with ``W(r)`` the total
  r-work in the system.
* Under Gittins the total r-work drains at rate 1 whenever it is positive (a job of rank
  below ``r`` is then served). It grows by the r-work of arrivals, ``X^new[r]`` at rate
  ``lambda``, and by the r-work of old jobs whose rank falls below ``r`` again, which happens
  only while the total is 0 (an old job of rank above ``r`` is served only then): each job
  once per later interval of ages with rank below ``r``. Counting the area under the
  workload path jump by jump (PASTA for the arrivals, found work 0 for the others),
  ``E[W(r)] (1 - lambda E[X^new[r]]) = lambda (E[X^new[r]^2] + sum_{i >= 1}
  E[(X_i^old[r])^2]) / 2``, and the bracket is ``S(r)`` for all but countably many ``r``
  (interval 0 of an old job is the new job's interval).
* Little's law divides by ``lambda``.

The integral is taken in ``s = 1 / r``, where it reads ``int_0^inf S(1/s) / (2 (1 - lambda
N(1/s))) ds``: a bounded integrand (at most ``E[X^2] / (2 (1 - rho))``; heavy tails aside).
The pieces run between the reciprocals of the classes' critical rank values, where the
work functions jump or kink, cut where they span more than a factor 16, and graded (by
factors of 4) towards an end whose neighbouring critical value is much closer than the
piece is long: a smooth extremum of a rank is a branch point of the work functions, and
one 0.0088 outside a piece of 37.5 kept tanh-sinh 2.4e-7 off up to its last level. Each
piece has the nested tanh-sinh rule of the classes' quadratures, and the pieces that hold
the estimate go up a level until it meets ``rtol / 100``
(:func:`~qtheory.analysis.agerank._accept`; :data:`_TIGHT`: at ``rtol`` a class ranked first
come first served was accepted 3.3e-9 off Pollaczek-Khinchine with an estimate of 1.1e-10).

Small levels need care, as the formula divides ``S(r)`` by ``r**2``. A Gittins rank falls
to 0 only over the last ages before an atom or the end of a bounded support, where ``S(r)``
falls like ``r**2`` or faster; computed as a difference of moments it kept an absolute
error of a few ulps of ``E[X^2]``, and a Weibull 2 law truncated to ``[0, 0.5]`` came out
0.974 for 0.509. The size law's ``trunc2`` now integrates the tail over narrow intervals
(an error of a few ulps of the interval's length squared), and levels below ``2**-40`` of
the mean size are left out: there the level sets are a few ulps of the age wide, and the
posterior of atoms 1, 2 and 5 under uniform noise gave 204180 for 5.32 (what is left out
is about ``1e-12`` relative: ``S(r) <= p r**2`` there).

A check comes free: the expected r-work of a new job integrates to
``int_0^inf N(r) / r^2 dr = 1`` (the identity above at age 0; over the levels kept, from
``r_min`` up, to ``sum_c p_c V_c(r_min) / r_min``, which is below 1 for a class whose rank
falls to 0 at age 0, as a Weibull 0.4 law's, whose jobs are served at any level). On the
same nodes it
measures what the quadrature and the ranks miss (it joins the error estimate: 4e-16 to
3e-11 for bucket laws), and it tells a rank that is not Gittins' apart: SERPT's rank on a
Weibull 0.5 law (which orders jobs as Gittins' does, so SOAP gives the same mean) gives
0.4037, and the formula 6.007 for 7.906. Such classes raise a ``ValueError``.

The work functions come from each class's tables in the level
(:class:`~qtheory.analysis._worktab.WorkTable`) or its exact path. Nothing is computed per
tagged job, so the cost no longer grows with the classes' own quadratures: Gittins given 9
prediction buckets (Weibull 0.5 sizes, exponential noise, 8 equal-probability thresholds,
load 0.8) 62 ms where the SOAP analysis of the same classes takes 171-185 ms, the two
within 1.7e-12 of each other (4 buckets: 35 ms against 68 ms, 7.5e-13). With a single class
the formula reproduces SOAP's Gittins mean on ten laws (exponential, Weibull 0.5 and 2,
hyperexponential, lognormal, two atoms, bounded Pareto, uniform, Pareto 1.5 and 2.5) to
1.7e-12, and with exponential classes the preemptive priority formula (the c-mu rule) to
1e-10 (``tests/test_rwork.py``).

SOAP's tagged-job analysis depends on the ranks' order only; this formula on their values.
The ranks of tabulated laws are within about 1e-11 of Gittins' (``gittins_rank``), which
moves the value by about as much: within the 1e-9 of the engines, and the reason the
tests that compare tabulated with exact laws compare SOAP's values. Since 2026-12-06 the
estimate says so: where a class's law is tabulated it carries :data:`_RANK_FLOOR` (5e-11)
of the value besides the quadrature's (on 240 random bucket systems the two analyses
differed by up to 3.3e-11 where this one's quadrature estimate was below 1e-14), so that a
request for less takes SOAP's analysis too (``ClassRankAnalysis.mean``'s default) or warns.
"""

from __future__ import annotations

import numpy as np

from .agerank import _FIRST_LEVEL, _LAST_LEVEL, _accept, _rel_diff, geometric_edges
from .quadrature import finite_nodes, nested_sum, tanh_sinh_rule

__all__ = ["rwork_mean"]


_SPAN = 16.0  # a piece in s over more than this factor is cut geometrically
_FLOOR = 2.0**-40  # levels below this times the mean size are left out (_pieces)
_GRADE = 4.0  # pieces graded towards a close neighbouring critical value (_pieces)
_CLOSE = 1e-6  # ... unless closer than this times the piece's length
# levels of a class's critical interval for its work table there (the classes' SOAP
# analysis waits for 2048: multiclass._TABLE_LEAST); 9 bucket classes: 92 -> 62 ms
_LEAST = 256
_NEAR_TOP = 1.0 - 2.0**-20  # see rwork_mean: below the largest critical value
_NOT_GITTINS = 1e-4  # a work integral this far from 1: the ranks are not Gittins ranks
# the levels go on until the estimate meets this times rtol: the nested estimate of a piece
# can be 30 times low where a rank decreases slowly over a wide range of ages (a class
# ranked first come first served, whose mean is Pollaczek-Khinchine's: 3.3e-9 off with an
# estimate of 1.1e-10 at rtol; exact with rtol / 100). Pieces already far below it cost
# nothing more (nine bucket classes: 67 -> 68 ms)
_TIGHT = 1e-2
# the first level is accepted only where this times the square of its relative difference to
# the half-step sum is within the target (agerank._accept's rule, with agerank._FIRST_C = 256
# for SOAP's analysis), and that product joins its estimate. On 240 GittinsBuckets systems
# of validation/rwork_random.py (seeds 1 to 6) the first level's error was up to 1.3e6 times
# that square: uniform sizes on [0, 1.81] given a threshold of lognormal noise 0.31, load
# 0.389, differed from the half-step sum by 2.0e-8 and was 4.9e-10 off, with a nested
# estimate of 1.6e-14 (another, 1.3e-9 and 3.2e-13 off: 1.9e5); every other system
# differed by at most 1e-10 (most by 1e-15), and those stay at the first level
_FIRST_C = 1e8
_RANK_FLOOR = 5e-11  # relative, joins the estimate where a class's rank rests on tables


def _slow_levels(rank) -> np.ndarray:
    """Rank values where a monotone piece of ``rank`` is slowest (interior local minima of
    ``|g'|`` below a tenth of the piece's largest, on 65 ages a piece): the inverse of the
    rank, which sets the level sets' ends, has a complex branch point close to the real
    axis there, and tanh-sinh across such a level converged to 4e-5 at its last level (a
    bucket law ranked first come first served, slowest at slope 0.0136 against 1: 3.1e-6
    off Pollaczek-Khinchine, with a warning); cut there, the first level is exact."""
    out = []
    for p in rank.pieces:
        if p.kind == 0 or not (np.isfinite(p.start) and np.isfinite(p.end)) \
                or not p.end > p.start:
            continue
        a = np.linspace(p.start, p.end, 65)
        with np.errstate(all="ignore"):
            g = np.asarray(p.eval(a), dtype=float)
            slope = np.abs(np.diff(g) / np.diff(a))
        if not np.all(np.isfinite(slope)) or slope.size < 3:
            continue
        top = float(np.max(slope))
        inner = np.nonzero((slope[1:-1] <= slope[:-2]) & (slope[1:-1] <= slope[2:])
                           & (slope[1:-1] < 0.1 * top))[0] + 1
        out.extend(0.5 * (g[inner] + g[inner + 1]))
    return np.asarray(out, dtype=float)


def _pieces(analysis):
    """The pieces ``(lo, hi)`` in ``s = 1 / r`` and the largest critical rank value: from 0
    to the reciprocal of the largest, between the reciprocals of consecutive ones, and from
    the smallest to ``1 / r_min`` with ``r_min = _FLOOR * E[X]`` (each cut geometrically
    into pieces of at most the factor :data:`_SPAN`: a rank that falls to rounding level at
    the end of a bounded support puts a critical value at 1e-16, and a single piece from
    s = 1 to 1e16 was 2.9e-8 off on a uniform law with an estimate of 4e-15).

    Levels below ``r_min`` are left out. There the rank is within ``1e-12`` of the mean
    size of 0, which only the last ages before an atom or the end of a bounded support
    reach, and their level sets are a few ulps of the age wide: the computed ``S(r)`` is
    ``p ulp**2`` where it should fall like ``r**2`` or faster, and the factor ``1 / r**2``
    made 204180 of 5.32 (Gittins on the posterior, atoms 1, 2 and 5 with uniform noise).
    What is left out is at most about ``r_min`` times the atoms' mass (``S(r) <= p r**2``
    for the last ``r`` of ages before an atom), ``1e-12`` relative."""
    floor = _FLOOR * analysis.m1
    crit = np.unique(np.concatenate([np.asarray(e.crit, dtype=float)
                                     for e in analysis.engines]
                                    + [_slow_levels(e.rank) for e in analysis.engines]))
    crit = crit[np.isfinite(crit) & (crit > floor)]
    s = np.unique(np.concatenate([[0.0], 1.0 / crit, [1.0 / floor]]))
    edges = []
    for i in range(s.size - 1):
        a, b = s[i], s[i + 1]
        cuts = list(geometric_edges(a, b, _SPAN)) if a > 0 and b > _SPAN * a else [a, b]
        # graded towards an end whose neighbouring critical value is much closer than the
        # piece is long: the work functions have a branch point there (a smooth extremum of
        # a rank), and tanh-sinh converges slowly with a singularity that near outside
        # (s in [2.79, 40.3] next to one at 2.78: stuck at 2.4e-7 up to level 7)
        # the nearest other critical value each side (the same value computed on both sides
        # of a join of rank pieces, within 1e-9, is not another)
        below = s[:i][s[:i] < a * (1.0 - 1e-9)]
        above = s[i + 2:][s[i + 2:] > b * (1.0 + 1e-9)]
        gap_lo = a - below[-1] if below.size else np.inf
        gap_hi = above[0] - b if above.size else np.inf
        # (within the first and the last of the geometric cuts)
        for gap, sign, end, span in ((gap_lo, 1.0, a, cuts[1] - cuts[0]),
                                     (gap_hi, -1.0, b, cuts[-1] - cuts[-2])):
            if gap < _CLOSE * span:  # as good as at the end itself
                continue
            d = _GRADE * gap
            while d < 0.5 * span:
                cuts.append(end + sign * d)
                d *= _GRADE
        edges.extend(sorted(set(cuts))[:-1])
    edges.append(s[-1])
    edges = np.unique(np.array(edges))
    return edges[:-1], edges[1:], float(crit[-1]) if crit.size else np.inf


def _mixed(analysis, r: np.ndarray):
    """``(N(r), S(r))`` mixed over the classes at the bare levels ``r``, each distinct level
    once (the tanh-sinh nodes next to a cut round onto it: 12204 levels of GittinsBuckets(8
    quantiles), 8254 distinct)."""
    r, inv = np.unique(r, return_inverse=True)
    N, S = np.zeros(r.size), np.zeros(r.size)
    wait = np.ones(r.size, dtype=bool)
    for k, q in enumerate(analysis.probs):
        n_k, _, s_k = analysis._cross_work(k, r, wait, least=_LEAST)
        N += q * n_k
        S += q * s_k
    return N[inv], S[inv]


def _work_target(analysis, r_min: float) -> float:
    """``sum_c p_c V_c(r_min) / r_min``: what the work integral of a new job over the
    levels from ``r_min`` up is for Gittins ranks (1 when no class is served below
    ``r_min``)."""
    from .agerank import _Levels

    lev = _Levels(np.array([r_min]), np.array([-1]), np.zeros(1))
    total = 0.0
    for q, e in zip(analysis.probs, analysis.engines):
        c = float(e._first_reach(lev)[0])
        n = float(e.law.emin(np.array([c]))[0])  # (the engine's _new_work at r_min)
        tail = float(e.law.sf(np.array([c]))[0]) if np.isfinite(c) else 0.0
        total += q * (n / r_min + tail)
    return total


def rwork_mean(analysis, lam: float) -> tuple[float, float]:
    """``(E[T], error estimate)`` of a multi-class Gittins policy at arrival rate ``lam``
    (module docstring), from the classes of ``analysis`` (a
    :class:`~qtheory.analysis.multiclass.ClassRankAnalysis` whose every class is ranked by
    the Gittins rank of its own law: ``ValueError`` where the work integral of a new job
    shows otherwise). ``inf`` at load >= 1.

    Examples
    --------
    Gittins on an exponential law is first come first served (a constant rank): the
    M/M/1's ``E[X] / (1 - rho)``.

    >>> import qtheory as qt
    >>> from qtheory.analysis.gittins import gittins_rank
    >>> from qtheory.analysis.multiclass import ClassRankAnalysis
    >>> law = qt.Exponential(mean=1.0)
    >>> a = ClassRankAnalysis([(1.0, law, gittins_rank(law))])
    >>> round(rwork_mean(a, 0.8)[0], 12)
    5.0
    """
    lam = float(lam)
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    if lam * analysis.m1 >= 1.0:
        return np.inf, 0.0
    lo, hi, top = _pieces(analysis)
    # above the largest critical value the work functions are constants; where the
    # second moment diverges (a Pareto law's E[X^2]) that constant is inf (and so are the
    # levels within rounding of that value, taken to reach the end of the last piece), and
    # those nodes take the value at 1 - 2**-20 of it instead (their share is about 1 / top
    # times that value: 1e-77 for Pareto(1.5), whose top rank is 5e153)
    below_top = None

    def pieces_at(idx, level):
        """Per piece of ``idx``: the nested sums (value, estimate, half-step value) of the
        integrand and the work integral of a new job, at ``level``."""
        nonlocal below_top
        rule = tanh_sinh_rule(level)
        xf, wf = finite_nodes(lo[idx], hi[idx], rule)
        with np.errstate(divide="ignore", over="ignore"):
            r = 1.0 / xf.ravel()
        N, S = _mixed(analysis, r)
        with np.errstate(all="ignore"):
            g = np.where(S > 0, S / (2.0 * (1.0 - lam * N)), 0.0)
        off = ~np.isfinite(g) & (r > top * _NEAR_TOP)
        if np.any(off):
            if below_top is None:
                nb, sb = _mixed(analysis, np.array([top * _NEAR_TOP]))
                below_top = float(sb[0] / (2.0 * (1.0 - lam * nb[0]))) if sb[0] > 0 else 0.0
            g[off] = below_top
        fine, est, half = nested_sum(g.reshape(xf.shape) * wf, rule.coarse, rule.coarse4,
                                     with_coarse=True)
        work, west = nested_sum(N.reshape(xf.shape) * wf, rule.coarse, rule.coarse4)
        return fine, est, half, work, west

    # the work integral over the levels kept, from r_min up, is sum_c p_c V_c(r_min) / r_min
    # (telescoping -d(V / r)), V(r) = E[min(X, c(r))] + r P(X > c(r)): 1 but for classes
    # whose rank falls to 0 at age 0 (a decreasing hazard without bound: Weibull 0.4),
    # which are served below r_min (1.5e-9 short for Weibull 0.406 at 2**-40 of the mean)
    work_target = _work_target(analysis, 1.0 / hi[-1]) if hi.size else 1.0
    every = np.arange(lo.size)
    fine, est, half, work_p, west = pieces_at(every, _FIRST_LEVEL)
    level = np.full(lo.size, _FIRST_LEVEL)
    prev = None
    while True:
        # a piece's estimate counts the work integral's too, in units of the value: a rank
        # nearly constant over the ages (Weibull 0.9987) makes both integrands rise within a
        # few parts in 1e3 of the level, which the work integral's estimate sees first
        value = float(fine.sum())
        est_all = est + west * abs(value)
        err = float(est_all.sum())
        # the work integral of a new job, int_0^inf N(r) / r^2 dr, is 1 for Gittins ranks
        work = float(work_p.sum())
        miss = abs(work - work_target)
        if not np.isfinite(value):
            return np.inf, 0.0
        if miss > _NOT_GITTINS:
            raise ValueError(
                f"the classes' ranks are not their laws' Gittins ranks (the r-work integral "
                f"needs them): the work integral of a new job, int N(r) / r^2 dr, is "
                f"{work:.6g}, not {work_target:.6g}; use the SOAP analysis (method='soap')")
        below = float(half.sum()) if prev is None else prev
        if _accept(value, err, below, _TIGHT * analysis.rtol, first=prev is None,
                   first_c=_FIRST_C):
            if prev is None:  # the first level's error model (_FIRST_C) in its estimate
                d = _rel_diff(value, below)
                err += _FIRST_C * d * d * abs(value)
            break
        # the next level on the pieces that hold most of the estimate (their share above
        # a hundredth of the target each, or the largest), the others kept
        target = 1e-2 * _TIGHT * analysis.rtol * abs(value)
        refine = np.nonzero((est_all > target / max(lo.size, 1)) & (level < _LAST_LEVEL))[0]
        if not refine.size:
            refine = np.nonzero(level < _LAST_LEVEL)[0]
            if not refine.size:
                break
            refine = refine[[int(np.argmax(est_all[refine]))]]
        prev = value
        for lv in np.unique(level[refine] + 1):
            idx = refine[level[refine] + 1 == lv]
            fine[idx], est[idx], half[idx], work_p[idx], west[idx] = pieces_at(idx, int(lv))
            level[idx] = lv
    # ranks built on a tabulated law's tables are within about 1e-11 of Gittins' values,
    # which moves this formula's value by about as much while SOAP's analysis, on the ranks'
    # order, does not move (module docstring): on 240 systems of validation/rwork_random.py
    # the two differed by up to 3.3e-11 where this integral's own estimate was below 1e-14
    if any(getattr(e.size, "tabulated", False) for e in analysis.engines):
        err += _RANK_FLOOR * abs(value)
    # the identity's miss joins the estimate: at the accepted level it is the quadrature
    # error of that other integral (2.8e-11 at level 4 for 9 bucket classes, whose value
    # was then within 4e-15 of level 5's) or what the ranks miss of Gittins' values
    return value, float(err + miss * abs(value))
