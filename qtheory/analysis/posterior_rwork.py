r"""Gittins on the posterior given a continuous prediction: the r-work integral with the
prediction's integral inside.

The r-work integral (:mod:`qtheory.analysis.rwork`) of Gittins on the posterior law
``X | Y = y`` reads

    E[T] = int_0^inf S(r) K(r) dr,    K(r) = 1 / (2 r^2 (1 - lambda N(r))),

with ``N(r) = int N_y(r) dF_Y(y)`` and ``S(r) = int S_y(r) dF_Y(y)`` the other-job functions
of the level ``r`` mixed over the predictions (Z. Scully and M. Harchol-Balter, "The Gittins
Policy in the M/G/1 Queue", WiOpt 2021; Z. Scully, I. Grosof and M. Harchol-Balter, POMACS
4(3) 2020, the work integral number equality). The node rule of
:mod:`qtheory.analysis.posterior_gittins` takes both mixtures with one rule over ``y``, and
``N_y(r)`` jumps in ``y`` where the rank at age 0, ``gamma(y)``, equals ``r``: second order at
best. Here the order is swapped where it can be, since ``E[T]`` is linear in ``S``:

    E[T] = int dF_Y(y) T(y),    T(y) = int_0^inf S_y(r) K(r) dr.

``T(y)`` is smooth in ``y`` (an integral over ``r`` of ``S_y``, which is continuous in ``r``,
its kinks at the levels ``gamma(y)`` and the other critical values of ``y``'s rank moving
smoothly with ``y``) except where two of those critical values cross or one appears, so
the outer integral takes a composite Gauss-Legendre rule in ``log y`` (pieces between
points near quantiles of the prediction, cut at
:func:`~qtheory.analysis.posterior_gittins.prediction_breakpoints`; 6 nodes a piece for
``rtol`` from 1e-9 up, 8 from 1e-10, else 10), spectrally, with its pieces cut where the
rank at age 0 crosses another critical level or the inverse hazard stops rising
(:meth:`SwappedPosteriorAnalysis._refine`), and halved where the Gauss sums of ``T``
miss the most (:meth:`SwappedPosteriorAnalysis._refine_T`). Each ``T(y_j)`` is an integral
over the level between the critical levels of node ``j``'s law, ``S_y`` from the runs of
``Phi`` below, with no rank table, all nodes at once
(:func:`~qtheory.analysis.phiruns.level_integrals`; a node law whose inverse hazard does
not rise has one run a level, from the age where its mean remaining size is the level,
and its integral is taken over that age, :mod:`qtheory.analysis.ageint`;
``node_work="engine"``: between the
critical values of the node's Gittins rank, :mod:`qtheory.analysis.rwork`'s pieces in
``s = 1 / r``, ``S_y`` from the node class's work tables, an independent check).

What remains is ``N(r)``, needed at every level of every node: its integrand jumps in ``y``.
Write ``Phi(b) = E[min(X, b) | y] + r P(X > b | y)``: the Gittins rank at age 0,
``gamma(y) = min_b E[min(X, b) | y] / P(X <= b | y)`` (:func:`gittins_at_zero`), is at most
``r`` exactly when ``Phi(0) = r`` is at least ``Phi(c1)``, with ``c1`` the global minimiser of
``Phi`` over the ages past its first local maximum (the end of the first interval of ages
whose rank is at most ``r``; :func:`first_record`). Then

    N_y(r) = 1[gamma(y) <= r] E[min(X, c1) | y],

where ``gamma`` and ``E[min(X, c1)]`` are smooth in ``y`` on both sides of the jump
(``c1`` follows one local minimum of ``Phi``; for a node law whose inverse hazard does not
rise, :func:`~qtheory.analysis.ageint.falling`, ``Phi`` falls from its one maximum on,
``c1`` is the end of the support and ``E[min(X, c1)] = E[X]``, with no scan of its grid).
On each piece of ``N``'s rule the node values of ``gamma`` and of ``E[min(X, c1)] f_Y(y)``
are interpolated by polynomials through the piece's Gauss nodes, and the second is
integrated over the part of the piece where the first is ``<= r`` (product integration).
``c1`` exists only at levels above the least inverse hazard of the posterior (below it no
age has rank ``<= r``); where, at some level, one node of a piece is served while another
has no ``c1`` (exponential sizes with exponential noise: the posteriors' hazards rise and
fall back to 1), the unserved node takes the served nodes' branch (:func:`_continued`) or
is left out of the interpolant, and the piece's own work identity decides whether it is
halved (:meth:`SwappedPosteriorAnalysis._n_table`; until the 28th session such pieces were
halved first, to a factor 2 in ``y``). On the
pieces of the tails ``gamma`` and the integrand are powers of ``y`` (exponentials in the
rule's variable ``log y``), so the boundary comes from the interpolant of ``log gamma`` and
a positive integrand is interpolated in its logarithm (Weibull 0.5 sizes: ``y**1.5`` over a
factor 100, whose polynomial through 6 nodes left those pieces' share of the work identity
2.5e-3 off). Where ``c1`` switches between an interior minimum of ``Phi`` and the end of
the support within a piece (:func:`interior_run`), both branches are interpolated and the
switch is a cut of its own. ``N(r)`` is smooth in ``s = 1 / r`` between a few cuts and is
tabulated there by Chebyshev interpolation, each piece refined (5 times at most) until its
last coefficients are below 1e-13 of its size or 1e-15 over its width (the two pieces of
the rule that meet at an edge of the prediction each give that join's level, 1e-12 to
5e-4 apart: the nodes' level integrals take one cut for both, :func:`_join_cuts`). The
computed ``N`` is smooth between the cuts since the 31st session: an unserved node joins
its piece's interpolant at a level of its own, a cut (:meth:`SwappedPosteriorAnalysis.
_late`), not where its first run appears (there its ``E[min(X, c1)]`` has a square-root
onset), ties of the first run's two ends are settled one way a column (:func:`_settled`),
and each piece's end points are taken inside it (:func:`_cheb_points`); before, exponential
noise had 39 pieces bisected to the limit and still over their tolerance, and 15,334
levels in the table against 4,845 then.

Since the 33rd session a piece whose nodes' first runs end at interior minima of ``Phi``
all through its served range takes its partly served levels another way
(:func:`_rho_integral`): along lines of equal height ``rho = r - gamma(y)`` above the rank
at age 0. At one level the interpolant through the nodes spans the fold where the unserved
nodes' ``c1`` appears (a square-root singularity inside the piece) and was 2e-4 to 3e-3
(relative) off the piece's part under exponential noise; along ``rho`` every node is
served (or on the same branch of interior minima) and the integrand is smooth in ``y``:
1e-6 off, against 40-point Gauss rules of fresh posteriors. Each node law's ``log
E[min(X, c1)] f_Y dy/dt`` at the levels ``gamma_j + rho`` is tabulated once in ``sqrt(level -
fold_j)`` (:meth:`SwappedPosteriorAnalysis._rho_tables`: the fold's square root removed,
33 or 65 Chebyshev points to rounding), and a partly served level takes 24 Gauss points
a served sub-interval, each with the nodes' tables at its own height, interpolated in
``t``. Such a piece needs no late cuts; where a node's next critical level (another
extremum of its inverse hazard, or the grid's last age) comes within the heights the
tables would need, they reach 0.9 of the way there and the levels above take the
interpolant at the level, from a cut. Exponential noise: 9 of its 20 pieces (7 all
through), the pieces halved by ``N``'s check 6 -> 3, its table's pieces 225 -> 130, the
value at rtol 1e-8 7.4e-11 -> 5.6e-12 from that at 1e-10. The work
integral ``int N(r) / r^2 dr = 1`` of Gittins ranks checks it, piece by piece: each
piece's part of ``N`` integrates to the piece's probability, and the pieces that miss most
are halved until the others miss ``rtol / 4`` at most (:meth:`SwappedPosteriorAnalysis.
_n_table`); the identity's misses (against the probability kept) join the estimate. An
error ``dN`` moves the mean by ``int M dN / r^2 dr``, ``M = lambda S / (2 (1 - lambda
N)^2)``, where it moves the identity by ``int dN / r^2 dr``: a piece cut from a halved one
weighs its miss by ``M`` where its parent's ``N`` moved (:meth:`SwappedPosteriorAnalysis.
_n_weights`; 29th session: exponential noise's misses sit where ``M`` is 1e-7 to 1e-3, and
its check stops after one round of halvings, not three).
Where the served nodes of a piece end their first run at the end of the support, the
unserved ones take that branch too, ``E[X]``, in the interpolant (:func:`_continued`).

The rule over the prediction runs from about its quantile 1e-10 to 1 - 1e-14; the estimate
adds what is left out, directly and through ``N`` (:meth:`SwappedPosteriorAnalysis.mean`;
from the quantile 1e-8, as until the 28th session, the jobs left out moved ``N`` by 1.1e-8
of the mean under bounded Pareto sizes).

Checked in the 28th session (load 0.8, ``rtol=1e-8`` against ``rtol=1e-10``; estimates
relative to the mean, then and at the 27th session's end): exponential sizes and noise
3.8e-9 (5.1e-8), Weibull 0.5 sizes under uniform noise 0.3 4.4e-9 (5.8e-7), bounded
Pareto sizes under lognormal noise 0.5 5.0e-9 (1.0e-5; its value had been 8.0e-9 off, now
2.4e-11 from the value at ``rtol=1e-11``), lognormal sizes and noise 2.9e-9, Weibull 2
under lognormal noise 3.5e-9, gamma 3 under uniform noise 2.5e-9; every value within its
estimate of the one at ``rtol=1e-10`` (``docs/soap.md``). At ``rtol=1e-10`` bounded
Pareto's value is 1e-9 from the one at ``rtol=1e-11``, beyond its estimate (1.4e-10): near
``y = 15.3`` a switch of the first run's end meets a fold of ``Phi``, a weak singularity of
``T(y)`` that neither a crossing of the rank at age 0 nor a change of the inverse
hazard's kind shows (left).

"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from numpy.polynomial import chebyshev as C
from numpy.polynomial import legendre as L

from .._threads import concat_chunks
from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution
from .phiruns import _first_sign, span_edges

__all__ = ["SwappedPosteriorAnalysis", "quantile_pieces", "first_record", "law_grid",
           "gittins_at_zero", "interior_run"]

# quantiles of the prediction where the rule's pieces end (and 1 - these, but the lowest):
# the tails in factors of 100, the body in fifths. Below the lowest quantile and above 1 -
# the lowest upper one the prediction's probability is left out, and its share estimated
# from the outer nodes (mean): the posteriors of predictions below 1e-9 of the mean under
# exponential noise span many scales, and their Gittins ranks took 0.3 s each
_TAIL_U = (1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.05)
# the upper tail goes on to 1 - 1e-14, in factors of 100: there the prediction's share of
# E[T] grows with it (Weibull 2 sizes, uniform noise: left out above 1 - 1e-10, it was
# 3.2e-9 of the mean)
_TOP_U = (1e-14, 1e-12, 1e-10)
_BODY_U = (0.2, 0.4, 0.6, 0.8)
_GRID = 257  # ages of a node law's grid for Phi (first_record)
_CHEB = 17  # Chebyshev points of a piece of N's table
_CHEB_X = np.cos(np.pi * np.arange(_CHEB) / (_CHEB - 1))[::-1]  # ... on [-1, 1], rising
_CHEB_DEPTH = 5  # bisections of a piece of N's table at most
_RHO_K = (33, 65)  # Chebyshev points of a node law's table in the level (_rho_tables)
_R_NODES = (16, 24)  # Gauss-Legendre nodes of a node's level pieces (value, check)
# Gauss-Legendre nodes (value, check) of the level integrals' pieces below rtol 1e-9 and
# from it up (29th session, rtol 1e-8: 20 % fewer levels than with (12, 16), the values
# within 2.8e-11 of those, 3e-12 for bounded Pareto)
_LEVEL_NODES = ((12, 16), (8, 12))
_S_RATIO = 4.0  # a node's level pieces in s = 1 / r span at most this factor
_T_SPLIT = 8  # halvings of a node's level pieces at most
_NTOL = (1e-13, 1e-15)  # N's table: relative and integral tolerance a piece (_n_table)
_FLOOR = 2.0**-40  # levels below this times the node law's mean are left out (as rwork)
_RULE_SPLIT = 4  # rounds of halvings of the rule's pieces at most (_refine)
_N_CHECK = 3  # rounds of halvings of N's pieces by their work identities at most
_JOIN = 1e-3  # N's joins this close (relative) are one (_join_cuts)
# node laws' tables stop where what lies beyond holds at most this of each moment (orders
# 0, 1, 2; posterior._trimmed): the grids stop where the tails are below 1e-17 (with
# node_work="runs"; the engines' rank tables reach further: their laws keep full tables)
_TRIM = 1e-30


def quantile_pieces(size: SizeDistribution, prediction) -> np.ndarray:
    """Edges ``y`` of the pieces of the rule over the prediction: near the quantiles
    :data:`_TAIL_U`, :data:`_BODY_U` and one minus the tail ones (:func:`_rough_ppf`: any
    edges will do, their probabilities are computed, and the quantiles to a few ulps took
    115 calls of the prediction's cdf, 0.08 s; those whose probability, or one minus it,
    misses the target by more than a factor 4 are then found to a few ulps), and exactly
    at the predictions where the
    posterior jumps or kinks in ``y`` (:func:`~qtheory.analysis.posterior_gittins.
    prediction_breakpoints`; a quantile edge within 5 % of one gives way to it).

    Examples
    --------
    >>> import qtheory as qt
    >>> e = quantile_pieces(qt.Weibull(2.0), qt.UniformPrediction(0.5))
    >>> e.size, bool(np.all(np.diff(e) > 0))
    (21, True)
    """
    from .posterior_gittins import prediction_breakpoints

    u = np.array(sorted({*_TAIL_U, *_BODY_U, 0.5, *(1.0 - np.array(_TAIL_U)),
                         *(1.0 - np.array(_TOP_U))}))
    y = _rough_ppf(size, prediction, u)
    # where the cdf rises steeply (near an end of the prediction's support: a Pareto size
    # law's lower end, a bounded one's upper end) the grid misses the far quantiles, and
    # the probability left out was 1e-2: those to a few ulps
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.asarray(prediction.marginal_cdf(y, size), dtype=float)
        q = np.where(u < 0.5, F / u, (1.0 - F) / (1.0 - u))
    bad = ~((q > 0.25) & (q < 4.0))
    if bad.any():
        y[bad] = np.asarray(prediction.marginal_ppf(u[bad], size), dtype=float)
    yb = prediction_breakpoints(size, prediction, as_y=True)
    if yb.size:
        inner = y[1:-1]
        near = np.min(np.abs(np.log(inner[:, None] / yb[None, :])), axis=1) < np.log(1.05)
        y = np.concatenate([y[:1], inner[~near], y[-1:], yb])
    y = np.unique(y[np.isfinite(y) & (y > 0)])
    return y


def _rough_ppf(size: SizeDistribution, prediction, u: np.ndarray) -> np.ndarray:
    """Predictions ``y`` near the quantiles ``u`` (within the grid's step, a factor
    ``2**0.25``): the prediction's cdf on a grid of ``y`` in factors of ``2**0.25`` about
    the size law's median, widened by 16 octaves a side until it holds every ``u``, and
    ``log y`` interpolated against ``log u`` (``log(1 - u)`` from the median on); 3 to 6
    calls of the cdf."""
    med = float(size.scale) if np.isfinite(size.scale) and size.scale > 0 else 1.0
    lo, hi = -8.0, 8.0
    ex = np.arange(lo, hi + 0.125, 0.25)
    F = np.asarray(prediction.marginal_cdf(med * 2.0**ex, size), dtype=float)
    for _ in range(64):
        low = F[0] > 0.5 * u.min() and lo > -1000.0
        high = 1.0 - F[-1] > 0.5 * (1.0 - u.max()) and hi < 1000.0
        if not (low or high):
            break
        parts_e, parts_f = [ex], [F]
        if low:
            e = np.arange(lo - 16.0, lo - 0.125, 0.25)
            parts_e.insert(0, e)
            parts_f.insert(0, np.asarray(prediction.marginal_cdf(med * 2.0**e, size),
                                         dtype=float))
            lo -= 16.0
        if high:
            e = np.arange(hi + 0.25, hi + 16.125, 0.25)
            parts_e.append(e)
            parts_f.append(np.asarray(prediction.marginal_cdf(med * 2.0**e, size),
                                      dtype=float))
            hi += 16.0
        ex, F = np.concatenate(parts_e), np.concatenate(parts_f)
    F = np.maximum.accumulate(np.clip(F, 0.0, 1.0))
    out = np.empty(u.size)
    with np.errstate(divide="ignore"):
        for side in (False, True):
            sel = (u >= 0.5) if side else (u < 0.5)
            if not sel.any():
                continue
            # the interpolation variable: log F (lower half) or -log(1 - F) (upper half)
            x = -np.log1p(-F) if side else np.log(F)
            tgt = -np.log1p(-u[sel]) if side else np.log(u[sel])
            ok = np.isfinite(x)
            xs, es = x[ok], ex[ok]
            keep = np.concatenate([[True], np.diff(xs) > 0])  # strictly increasing
            out[sel] = med * 2.0 ** np.interp(tgt, xs[keep], es[keep])
    return out


def _grid(law, hi_top: float | None = None) -> np.ndarray:
    """Ages from the lower end of ``law``'s support to where its tail is below 1e-17.

    On a support from 0 the first positive age is ``1e-12`` of the law's median (or
    ``1e-15`` of the last age), or the first age of a tabulated law's tables where that is
    higher and the law's probability below it is at most 1e-17: below it each lookup is a
    quadrature over the noise. Exponential sizes under exponential noise, whose tables
    start at ``2**-40`` of the size law's median, took 6,680 such points, 0.3 s (a tenth of
    that system's time); the node laws near the lowest predictions have medians far below
    the size law's. The last age is :func:`_top_ages`' (``hi_top`` where the caller has
    it): on a bounded support its end, or where the tail is below 1e-17 well before it
    (the far end's density underflows, and a tabulated posterior computes it there by
    quadrature: Weibull 2 sizes given a large prediction, 100 calls a node)."""
    lo = float(law.support[0])
    hi = float(_top_ages(None, [law])[0] if hi_top is None else hi_top)
    if lo > 0 and hi > 20.0 * lo:
        return np.geomspace(lo, hi, _GRID)
    if lo <= 0:
        tmin = float(getattr(law, "_tmin", 0.0))
        use = getattr(law, "_use_panels", False) and tmin > hi * 1e-15 \
            and float(np.asarray(law.partial_moment(0.0, np.array([tmin])))[0]) <= 1e-17
        # (the median is below hi, where the tail is below 1e-17: from tmin >= 1e-12 hi on,
        # tmin is above 1e-12 of it without computing it, 0.6 ms a node law)
        base = max((hi if use and tmin >= 1e-12 * hi else float(law.scale)) * 1e-12,
                   hi * 1e-15)
        if use and tmin > base:
            base = tmin  # (below its tables' first age, and negligible there)
        return np.concatenate([[0.0], np.geomspace(base, hi, _GRID - 1)])
    return np.linspace(lo, hi, _GRID)


def _top_ages(st, laws, ladder: int = 16) -> np.ndarray:
    """The last age of :func:`_grid` of each law. On an unbounded support: from twice the
    mean (or the lower end, where higher) up by factors 1.5 to the first age where ``P(X >
    b) <= 1e-17``, ``ladder`` ages of all laws in one call of the
    :class:`~qtheory.analysis._lawstack.LawStack` ``st`` (its own where ``None``) at a time
    (a call a step, about ten a node law, took 0.04 s of 192 node laws' grids under
    exponential noise); the ages are the running products a step at a time, the same
    numbers as stepping one by one. On a bounded support: its end, or, where that is
    beyond 1.01 times the mean (or the lower end), the first of 19 ages from there to the
    end where ``P(X > b) <= 1e-17``, all laws' in one call too (a call a law took 0.04 s
    of bounded Pareto sizes' 261 node laws); an age above a law's trimmed tables whose tail
    beyond is negligible (``_neg_hi``: at most ``2**-60``) is such an age with no
    quadrature."""
    from ._lawstack import LawStack

    out = np.full(len(laws), np.nan)
    start = {}
    bounded = []  # (law, its candidate ages)
    for i, law in enumerate(laws):
        lo, hi = (float(v) for v in law.support)
        if not np.isfinite(hi):
            start[i] = (float(law.mean) if lo <= 0 else max(lo, float(law.mean))) * 2.0
            continue
        out[i] = hi
        m = max(lo, float(law.mean))
        if hi > 1.01 * m:
            bounded.append((i, m + (hi - m) * np.linspace(0.05, 1.0, 20)[:-1]))
    if not (start or bounded):
        return out
    st = LawStack(list(laws)) if st is None else st
    if bounded:
        nb = np.repeat(np.array([i for i, _ in bounded], dtype=np.int64), 19)
        cand = np.concatenate([c for _, c in bounded])
        tmax = np.array([float(getattr(laws[i], "_tmax", np.inf)) for i, _ in bounded])
        neg = np.array([bool(getattr(laws[i], "_neg_hi", False)) for i, _ in bounded])
        known = (cand >= np.repeat(tmax, 19)) & np.repeat(neg, 19)
        sf = np.zeros(cand.size)
        with np.errstate(all="ignore"):
            sf[~known] = np.asarray(st.sf(nb[~known], cand[~known]), dtype=float)
        tiny = (sf <= 1e-17).reshape(-1, 19)
        for (i, c), t in zip(bounded, tiny):
            if t.any():
                out[i] = float(c[np.argmax(t)])
    if not start:
        return out
    todo = np.array(sorted(start), dtype=np.int64)
    first = np.array([start[i] for i in todo.tolist()])
    while todo.size:
        lad = np.empty((todo.size, ladder))
        lad[:, 0] = first
        for j in range(1, ladder):
            lad[:, j] = lad[:, j - 1] * 1.5
        with np.errstate(all="ignore"):
            sf = np.asarray(st.sf(np.repeat(todo, ladder), lad.ravel()),
                            dtype=float).reshape(lad.shape)
        ok = ~(sf > 1e-17)
        hit = ok.any(axis=1)
        out[todo[hit]] = lad[hit, np.argmax(ok[hit], axis=1)]
        todo, first = todo[~hit], lad[~hit, -1] * 1.5
    return out


def law_grid(law):
    """``(b, sf, pdf, E[min(X, b)], mean)`` on the ages of :func:`_grid` (for
    :func:`first_record`)."""
    from ._lawstack import LawStack

    return _law_grids(LawStack([law]), [law])[0]


def _law_grids(st, laws) -> list:
    """:func:`law_grid` of each of ``laws`` (those of the
    :class:`~qtheory.analysis._lawstack.LawStack` ``st``), the laws' functions called for
    all of them together."""
    tops = _top_ages(st, laws)
    bs = [_grid(law, t) for law, t in zip(laws, tops)]
    nd = np.repeat(np.arange(len(laws)), [b.size for b in bs])
    x = np.concatenate(bs)
    with np.errstate(all="ignore"):
        sf = st.sf(nd, x)
        pdf = st.pdf(nd, x)
        # E[min(X, b)] = E[X; X <= b] + b P(X > b): below a law's trimmed lower end the
        # first term is at most its anchor (twice that, for the quadrature), and where that
        # is below 2**-54 of the second, adding it leaves the second as it is, bit for bit:
        # no quadrature over the noise there (bounded Pareto sizes under lognormal noise:
        # the posteriors of the largest predictions, 1,235 grid ages a call)
        pm = np.zeros(x.size)
        bound = np.array([2.0 * law.__dict__.get("_anchors", {}).get((1.0, "lo"), np.inf)
                          / law.mass if getattr(law, "_neg_lo", False) else np.inf
                          for law in laws])
        tmin = np.array([float(getattr(law, "_tmin", -np.inf)) for law in laws])
        need = ~((x < tmin[nd]) & (bound[nd] < 2.0**-54 * (x * sf)))
        pm[need] = st.partial_moment(1.0, nd[need], x[need])
        em = pm + x * sf
    off = np.concatenate([[0], np.cumsum([b.size for b in bs])])
    return [(b, sf[off[i]:off[i + 1]], pdf[off[i]:off[i + 1]], em[off[i]:off[i + 1]],
             float(law.mean)) for i, (b, law) in enumerate(zip(bs, laws))]


def _phi_grid(law, r: np.ndarray, grid):
    """What :func:`_first` and :func:`_interior` need of ``Phi`` on the grid of
    :func:`law_grid` at the levels ``r`` (rows), from one compiled pass a row
    (:func:`_phi_scan`): ``(ages, mean, any Phi' <= 0, first index with Phi' <= 0, argmin
    of Phi from there, argmin of Phi from there before the last age (-1: none), Phi' > 0
    just past that one, Phi at the last age)``. ``Phi' = sf - r pdf``, and the first local
    maximum of ``Phi`` is the first age where it is ``<= 0``."""
    b, sf, pdf, em, m1 = law_grid(law) if grid is None else grid
    return (b, m1, *_phi_scan(np.ascontiguousarray(sf, dtype=float),
                              np.ascontiguousarray(pdf, dtype=float),
                              np.ascontiguousarray(em, dtype=float),
                              np.ascontiguousarray(r, dtype=float)))


@njit(cache=True, nogil=True)
def _phi_scan(sf, pdf, em, r):  # pragma: no cover - compiled (tested through callers)
    """The row scans of :func:`_phi_grid` (the first minimum where values tie)."""
    has, first, k1, k2, after, end_phi = _phi_outputs(r.size)
    for i in range(r.size):
        _phi_row(sf, pdf, em, sf.size - 1, r[i], i, has, first, k1, k2, after, end_phi)
    return has, first, k1, k2, after, end_phi


@njit(cache=True, nogil=True)
def _phi_scan_stack(SF, PDF, EM, G, nd, r):  # pragma: no cover - compiled (tested through
    # SwappedPosteriorAnalysis.N)
    """:func:`_phi_scan` of many laws at once: row ``i`` on the grid of law ``nd[i]`` (rows
    of the stacked ``SF``, ``PDF``, ``EM``, its first ``G[nd[i]]`` ages), the same steps."""
    has, first, k1, k2, after, end_phi = _phi_outputs(r.size)
    for i in range(r.size):
        n, g = nd[i], G[nd[i]]
        _phi_row(SF[n, :g], PDF[n, :g], EM[n, :g], g - 1, r[i], i, has, first, k1, k2,
                 after, end_phi)
    return has, first, k1, k2, after, end_phi


@njit(cache=True, nogil=True, inline="always")
def _phi_outputs(R):  # pragma: no cover - compiled
    """The outputs of :func:`_phi_scan` for ``R`` rows, as no row has been scanned."""
    return (np.zeros(R, dtype=np.bool_), np.zeros(R, dtype=np.int64),
            np.zeros(R, dtype=np.int64), np.full(R, -1, dtype=np.int64),
            np.zeros(R, dtype=np.bool_), np.empty(R))


@njit(cache=True, nogil=True, inline="always")
def _phi_row(sf, pdf, em, last, ri, i, has, first, k1, k2, after,
             end_phi):  # pragma: no cover - compiled
    """Row ``i`` of :func:`_phi_scan` (level ``ri``), into the outputs."""
    end_phi[i] = em[last] + ri * sf[last]
    f = _first_sign(sf, pdf, ri, 0, False)
    if f < 0:
        return
    has[i] = True
    first[i] = f
    best = np.inf
    kb = -1
    for j in range(f, last):
        v = em[j] + ri * sf[j]
        if v < best:
            best = v
            kb = j
    k2[i] = kb
    if kb >= 0:
        after[i] = sf[kb + 1] - ri * pdf[kb + 1] > 0.0
    # the argmin over all ages from f, the last one included (ties: the earliest)
    k1[i] = kb if (kb >= 0 and best <= end_phi[i]) else last


def _local_min(law, lo: np.ndarray, hi: np.ndarray, r: np.ndarray):
    """``(E[min(X, c)], P(X > c))`` at the local minimum ``c`` of ``Phi`` in ``[lo, hi]``,
    where ``Phi' = sf - r pdf`` goes from ``< 0`` to ``> 0``: the root of the inverse hazard
    minus ``r`` (the same sign where the density is positive, and about linear) by the
    Illinois method (:func:`~qtheory.analysis.phiruns.illinois`; the bisection to rounding
    it replaces took 60 calls of the law, 23 of the 30 s of N's table under exponential
    noise). :func:`_local_min_stack` with ``law`` alone."""
    from ._lawstack import LawStack

    lo, hi, r = (np.asarray(v, dtype=float) for v in (lo, hi, r))
    return _local_min_stack(LawStack([law]), np.zeros(lo.size, dtype=np.int64), lo, hi, r)


def _local_min_stack(st, nd: np.ndarray, lo: np.ndarray, hi: np.ndarray, r: np.ndarray,
                     glo: np.ndarray | None = None, ghi: np.ndarray | None = None,
                     x0: np.ndarray | None = None):
    """:func:`_local_min` of many laws at once (bracket ``i`` of law ``nd[i]`` of the
    :class:`~qtheory.analysis._lawstack.LawStack` ``st``): the same steps, the laws'
    functions called for all brackets together. ``glo``, ``ghi``: the inverse hazard
    minus ``r`` at the brackets' ends where the caller has them, ``x0`` a first point
    (:meth:`SwappedPosteriorAnalysis.N`, :func:`~qtheory.analysis.phiruns._grid_start`)."""

    if glo is None:
        glo, ghi = st.root_values("ihaz", nd, lo, r), st.root_values("ihaz", nd, hi, r)
    c = st.roots("ihaz", nd, lo, hi, np.minimum(glo, 0.0), np.maximum(ghi, 0.0), r, x0=x0)
    s = st.sf(nd, c)
    return st.partial_moment(1.0, nd, c) + c * s, s


def first_record(law, r: np.ndarray, grid=None):
    """``(D, E[min(X, c1)], P(X <= c1))`` of ``law`` at the levels ``r`` (module docstring):
    ``c1`` the global minimiser of ``Phi(b) = E[min(X, b)] + r P(X > b)`` over the ages past
    ``Phi``'s first local maximum, ``D = E[min(X, c1)] - r P(X <= c1)``; ``D`` is ``inf``
    where ``Phi`` has no such minimum (no age has rank ``<= r``).

    Examples
    --------
    Exponential sizes: Gittins is first come first served at rank ``E[X] = 1``, and a job
    runs to completion at every level above it.

    >>> import qtheory as qt
    >>> D, n, F = first_record(qt.Exponential(mean=1.0), np.array([0.5, 2.0]))
    >>> np.round(D, 9).tolist(), np.round(n, 9).tolist()
    ([inf, -1.0], [0.0, 1.0])
    """
    r = np.asarray(r, dtype=float)
    return _first(law, r, _phi_grid(law, r, grid))


def _first(law, r: np.ndarray, pg):
    """:func:`first_record` on the Phi grid ``pg`` of :func:`_phi_grid`."""
    b, m1, has, first, k1, _, _, _ = pg
    rows = _first_brackets(has, first, k1, b.size - 1)
    nm, s = _solved(law, r, b, rows)
    return _first_values(r, has, k1, b.size - 1, m1, rows[0], nm, s)


def _solved(law, r, b, rows):
    """``(E[min(X, c)], P(X > c))`` with ``c`` the local minima of ``Phi`` in the brackets
    ``rows = (levels, i0, i2)`` (grid indices of ``b``; :func:`_local_min`), ``None`` for
    none."""
    sel, i0, i2 = rows
    return _local_min(law, b[i0], b[i2], r[sel]) if sel.size else (None, None)


def _first_brackets(has, first, k1, last):
    """``(levels, i0, i2)``: the rows of a Phi scan (:func:`_phi_scan`, each grid's last
    index ``last``) whose ``c1`` is an interior minimum, and its brackets' grid indices:
    from Phi's first local maximum on, at most (before it Phi' > 0, and a bracket holding
    both roots of Phi' left the root finder at its start: 20 % off in E[min(X, c1)] next
    to a fold under exponential noise). Row-wise, for one law (:func:`_first`) or many
    (:meth:`SwappedPosteriorAnalysis.N`)."""
    inner = np.nonzero(has & (k1 < last))[0]
    return inner, np.maximum(k1[inner] - 1, first[inner]), k1[inner] + 1


def _first_values(r, has, k1, last, m1, inner, nm, s):
    """:func:`_first`'s ``(D, n, F)`` at the levels ``r`` from the local minima ``(nm,
    s)`` at the rows ``inner`` (``m1``, the mean, and ``last`` a row or for all)."""
    D = np.full(r.size, np.inf)
    n = np.zeros(r.size)
    F = np.zeros(r.size)
    # at the grid's end: the end of the support (or beyond the grid, the job's completion)
    end = has & (k1 == last)
    n[end], F[end] = np.broadcast_to(m1, r.shape)[end], 1.0
    if inner.size:
        n[inner] = nm
        F[inner] = 1.0 - s
    ok = has
    D[ok] = n[ok] - r[ok] * F[ok]
    return D, n, F


def interior_run(law, r: np.ndarray, grid=None):
    """``(E[min(X, b)], Phi(b) - Phi(end))`` at the levels ``r`` for ``b`` the best interior
    local minimum of ``Phi`` past its first local maximum (``nan`` and ``inf`` where there is
    none), ``end`` the end of the support (or the grid's end: the job's completion). Where the
    two are both minima of ``Phi`` and their order swaps as the prediction moves, the first
    run's end ``c1`` jumps from one to the other (:meth:`SwappedPosteriorAnalysis.N` follows
    that switch: Weibull 0.5 sizes under uniform noise, whose posteriors' hazards fall and
    then rise towards the end of their support).

    Examples
    --------
    >>> import qtheory as qt
    >>> n, e = interior_run(qt.Exponential(mean=1.0), np.array([2.0]))   # no interior one
    >>> bool(np.isnan(n[0])), bool(np.isinf(e[0]))
    (True, True)
    """
    r = np.asarray(r, dtype=float)
    return _interior(law, r, _phi_grid(law, r, grid))


def _interior(law, r: np.ndarray, pg):
    """:func:`interior_run` on the Phi grid ``pg`` of :func:`_phi_grid`."""
    b, _, has, first, _, k2, after, end_phi = pg
    rows = _interior_brackets(has, first, k2, after)
    nm, s = _solved(law, r, b, rows)
    return _interior_values(r, end_phi, rows[0], nm, s)


def _interior_brackets(has, first, k2, after):
    """``(levels, i0, i2)``: the rows of a Phi scan with an interior local minimum past
    Phi's first local maximum, and its brackets' grid indices (row-wise, as
    :func:`_first_brackets`)."""
    sel = np.nonzero(has & (k2 >= 0) & after)[0]
    return sel, np.maximum(k2[sel] - 1, first[sel]), k2[sel] + 1


def _interior_values(r, end_phi, sel, nm, sc):
    """:func:`_interior`'s ``(n, e)`` at the levels ``r`` from the local minima ``(nm,
    sc)`` at the rows ``sel``."""
    n = np.full(r.size, np.nan)
    e = np.full(r.size, np.inf)
    if sel.size:
        n[sel] = nm
        e[sel] = n[sel] + r[sel] * sc - end_phi[sel]
    return n, e


def gittins_at_zero(law, grid=None) -> float:
    """The Gittins rank of ``law`` at age 0, ``min_b E[min(X, b)] / P(X <= b)`` (``b = inf``
    gives the mean): the least value on :func:`law_grid`'s ages, refined by bisection on the
    stationarity condition ``P(X > b) P(X <= b) = E[min(X, b)] f(b)`` (the ratio equals the
    inverse hazard there) between the neighbouring ages.

    Examples
    --------
    >>> import qtheory as qt
    >>> round(gittins_at_zero(qt.Exponential(mean=2.0)), 12)   # first come first served
    2.0
    >>> round(gittins_at_zero(qt.Uniform(0.0, 1.0)), 12)        # E[X] (a rising hazard)
    0.5
    """
    from ._lawstack import LawStack

    return float(_gammas(LawStack([law]), [law_grid(law) if grid is None else grid])[0])


def _grids_and_gammas(laws, st=None):
    """:func:`law_grid` and :func:`gittins_at_zero` of each of ``laws``, the same values,
    the laws' functions called for all of them together
    (:class:`~qtheory.analysis._lawstack.LawStack`; the bisections of the ranks at age 0
    side by side). Returns the list of grids and the array of ranks."""
    from ._lawstack import LawStack

    st = LawStack(laws) if st is None else st
    grids = _law_grids(st, laws)
    return grids, _gammas(st, grids)


def _gammas(st, grids) -> np.ndarray:
    """:func:`gittins_at_zero` of the laws of the :class:`~qtheory.analysis._lawstack.
    LawStack` ``st`` on their grids: the least ratio on each grid, refined by bisection on
    the stationarity condition between its neighbouring ages, all laws' side by side."""
    gam = np.empty(len(grids))
    todo, lo, hi, best = [], [], [], []
    for i, (b, sfi, _, emi, m1) in enumerate(grids):
        with np.errstate(all="ignore"):
            ratio = np.where(1.0 - sfi > 0, emi / (1.0 - sfi), np.inf)
        k = int(np.argmin(ratio))
        gam[i] = m1
        if not float(ratio[k]) < m1 or k == b.size - 1:
            continue
        todo.append(i)
        lo.append(b[max(k - 1, 0)])
        hi.append(b[k + 1])
        best.append(float(ratio[k]))
    if todo:
        n = np.array(todo)
        lo, hi = np.array(lo), np.array(hi)
        live = np.ones(n.size, dtype=bool)
        for _ in range(60):  # h = sf F - E[min(X, b)] f: < 0 before the minimum, > 0 after
            if not live.any():
                break
            j = np.nonzero(live)[0]
            mid = 0.5 * (lo[j] + hi[j])
            with np.errstate(all="ignore"):
                s_ = st.sf(n[j], mid)
                h = s_ * (1.0 - s_) - (st.partial_moment(1.0, n[j], mid) + mid * s_) * \
                    st.pdf(n[j], mid)
            lo[j] = np.where(h < 0, mid, lo[j])
            hi[j] = np.where(h < 0, hi[j], mid)
            live[j] = ~(hi[j] - lo[j] <= 4e-16 * hi[j])
        c = 0.5 * (lo + hi)
        with np.errstate(all="ignore"):
            s_ = st.sf(n, c)
            val = (st.partial_moment(1.0, n, c) + c * s_) / (1.0 - s_)
        m1s = np.array([grids[i][4] for i in todo])
        gam[n] = np.minimum(np.minimum(val, np.array(best)), m1s)
    return gam


class _Piece:
    """One piece ``[a, b]`` of the rule over the prediction, in ``t`` with
    ``y = a (b / a)**((t + 1) / 2)``: the nodes, the weights (of ``dF_Y``) and the
    interpolation matrix."""

    def __init__(self, a: float, b: float, m: int):
        t, w = L.leggauss(m)
        self.a, self.b, self.m = a, b, m
        self.nshape = None  # (where N moved when its parent was halved: _n_table)
        self.t = t
        self.y = a * (b / a) ** (0.5 * (t + 1.0))
        self.jac = 0.5 * np.log(b / a) * self.y  # dy / dt
        self.w = w
        self.vinv = np.linalg.inv(L.legvander(t, m - 1))


class SwappedPosteriorAnalysis:
    """Mean response time of Gittins on the posterior given the prediction, by the r-work
    integral with the prediction's integral inside (module docstring).

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size (continuous: laws with atoms take the node rule).
    prediction : PredictionModel
        Multiplicative ``Y = X Z`` with a continuous noise factor.
    rtol : float
        Target relative error of each node's level integral (and, with
        ``node_work="engine"``, of its work tables).
    nodes : int, optional
        Gauss-Legendre nodes a piece of the rule over the prediction (from 10 on, that
        many where the piece's probability is at least 1e-3, 2 fewer where it is at least
        1e-7, else 4 fewer, at least 6), before the pieces are cut and halved where the
        rule needs it (:meth:`_refine`, :meth:`_refine_T`). Default from ``rtol``: 6 from
        ``1e-9`` up (from ``1e-8`` until the 28th session, when the pieces were not yet
        refined), 8 from ``1e-10``, else 10.
        Weibull 2 sizes with uniform noise 0.5 (load 0.8): at ``rtol=1e-8`` 126 node laws,
        1.5e-11 from the value at ``rtol=1e-10``, estimate 3.0e-9 (relative); at
        ``rtol=1e-9`` 138 node laws, 1.5e-11 off, estimate 5.2e-10 (with 8 nodes a piece
        168 laws and 1.8e-12). Until the 26th session the pieces of the tails took as few
        as 4 nodes, and at 6 a piece the estimate was 4.6e-5 and the value 3e-9 off.
    node_work : str
        How each node's ``T(y) = int S_y(r) K(r) dr`` is computed: ``"runs"`` (default)
        from the runs of ``Phi`` at each level, with no rank table
        (:func:`~qtheory.analysis.phiruns.level_integral`); ``"engine"`` from the node
        law's Gittins rank table and r-work engine (:meth:`_node_T`). Two independent
        routes: on 24 random systems their means agree to 3.1e-10 relative at most, median
        3.0e-12, 23 within their estimates (``validation/phiruns_random.py``, 28th
        session; the miss is the engines', whose rank tables lose a run where two runs of
        ``Phi`` merge or one appears at a fold, there ``S`` up to 1e-5 low: the runs agree
        with a brute-force scan of ``Phi``), and the runs take 0.24 of the engines' time.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = SwappedPosteriorAnalysis(qt.Weibull(2.0), qt.UniformPrediction(0.5))
    >>> value, err = a.mean(0.8 / qt.Weibull(2.0).mean)
    >>> round(value, 10), bool(err < 1e-10)
    (2.356178740, True)
    """

    def __init__(self, size: SizeDistribution, prediction, rtol: float = 1e-11,
                 nodes: int | None = None, node_work: str = "runs"):

        if prediction.is_exact:
            raise ValueError("prediction: exact predictions give SRPT exactly; the swapped "
                             "integral is for noisy predictions")
        if size.is_discrete:
            raise ValueError("size: the swapped integral needs a continuous size law (with "
                             "atoms the posterior's ranks jump in the prediction; use "
                             "rule='nodes')")
        if node_work not in ("engine", "runs"):
            raise ValueError(f"node_work must be 'engine' or 'runs', got {node_work!r}")
        self.size, self.prediction = size, prediction
        self.node_work = node_work
        self.rtol = float(rtol)
        if nodes is None:
            nodes = 6 if self.rtol >= 1e-9 else (8 if self.rtol >= 1e-10 else 10)
        nodes = int(nodes)
        if nodes < 4:
            raise ValueError(f"nodes must be at least 4, got {nodes!r}")
        self.nodes = nodes
        edges = quantile_pieces(size, prediction)
        u = np.asarray(prediction.marginal_cdf(edges, size), dtype=float)
        self.pieces = []
        for a, b, p in zip(edges[:-1], edges[1:], np.diff(u)):
            # (fewer in the tails only from 10 a piece on: with 4 there at 6 a piece the
            # rule's estimate was 1e-4 of the mean and N's work identity 7e-8 off, with 6
            # at 8 a piece the estimate 1.3e-9 against 2.1e-11 with 8)
            m = nodes if (p >= 1e-3 or nodes < 10) else (nodes - 2 if p >= 1e-7 else
                                                          max(nodes - 4, 6))
            self.pieces.append(_Piece(float(a), float(b), m))
            self.pieces[-1].p = float(p)
        self.below, self.above = float(u[0]), float(1.0 - u[-1])  # probability left out
        # every node law (their masses, tables, grids and ranks at age 0 together: the
        # same, bit for bit; 114 node laws under Weibull 2 sizes, 0.14 s one at a time,
        # 0.06 s together), with one LawStack for the grids, N and the level integrals
        self._st = self._build(self.pieces)
        self.laws = [law for pc in self.pieces for law in pc.laws]
        self.refined = self._refine()
        if self.refined:
            self._relaw()
        # N's own pieces: those of the rule, halved where their own work identities miss
        # (_n_table). (Until the 28th session they were first halved, to a factor 2 in y
        # and 6 times at most, where at some level a node was served while another had no
        # run at all: exponential noise's 21 pieces became 46, N's table took 11.9 s
        # instead of 7.7 s, and the value moved by 2e-13 without it, 4e-15 at rtol 1e-10:
        # the unserved nodes now take the served branch, _continued, and the identities
        # halve what still misses.)
        self.npieces = list(self.pieces)
        self._engines = None
        self._ntab = None
        self._ncomps = None  # N's tables (_n_table)

    def _build(self, pieces):
        """The node laws of ``pieces`` (point posteriors at their nodes), their tables,
        grids and ranks at age 0, all pieces' together (the same as a piece at a time,
        bit for bit), and each piece filled (:meth:`_fill`). Returns the
        :class:`~qtheory.analysis._lawstack.LawStack` of those laws (``None`` for no
        pieces)."""
        if not pieces:
            return None
        every, st, grids, gammas = self._node_laws(np.concatenate([pc.y for pc in pieces]))
        at = 0
        for pc in pieces:
            pc.laws = every[at:at + pc.m]
            pc.grids, pc.gamma = grids[at:at + pc.m], gammas[at:at + pc.m]
            at += pc.m
            self._fill(pc)
        return st

    def _node_laws(self, ys: np.ndarray):
        """``(laws, LawStack, grids, ranks at age 0)`` of the point posteriors at the
        predictions ``ys``, their tables built together."""
        from ..distributions._point_family import build_tables, point_laws
        from ._lawstack import LawStack

        laws = point_laws(self.size, self.prediction, ys)
        # (trimmed for the runs: the engines' rank tables reach beyond the trimmed ends,
        # where each value is a quadrature, and took 1.5 to 1.8 times as long)
        build_tables(laws, trim=_TRIM if self.node_work == "runs" else 0.0)
        st = LawStack(laws)
        grids, gammas = _grids_and_gammas(laws, st)
        return laws, st, grids, gammas

    def _relaw(self) -> None:
        """:attr:`laws` and their LawStack after the rule's pieces changed."""
        from ._lawstack import LawStack

        self.laws = [law for pc in self.pieces for law in pc.laws]
        self._st = LawStack(self.laws)

    def _refine(self) -> int:
        """Cut the pieces of the rule over the prediction where ``T(y)`` is not smooth,
        :data:`_RULE_SPLIT` rounds at most, the new pieces' node laws built together;
        returns the number of pieces cut: at the predictions where the node laws' rank at
        age 0 crosses another of their critical levels (:func:`_critical_levels`: the
        extrema of the inverse hazard, its values at the first age and on both sides of
        the breakpoints; :func:`_crossings`), each found as the root of the interpolant of
        the difference of their logarithms between the two nodes where its sign changes,
        and where the inverse hazard stops rising (:meth:`_transitions`). There the
        structure of ``S_y(r)`` in the level changes and ``T(y)`` has a weak singularity
        (bounded Pareto sizes under lognormal noise 0.5: the rank at age 0 crosses the
        inverse hazard at the support's lower end at ``y = 0.5247``, and the 6 nodes of
        ``[0.422, 0.700]`` were 5.1e-9 off (3.8e-9 of the mean; 1.3e-9 with 8, 5.6e-10 with
        10), with a Gauss estimate of 3e-11; cut there, 2.9e-10). The pieces are halved
        where ``T``'s own Gauss sums miss (:meth:`_refine_T`) and ``N``'s by their work
        identities (:meth:`_n_table`). (Halving first where the Gauss sums of ``E[X | y]``,
        ``E[X^2 | y]`` and ``gamma(y)`` missed, as tried in the 28th session, cost the
        bench row 18 more node laws at ``rtol=1e-9`` and moved no value by more than its
        estimate.)"""
        count = 0
        for _ in range(_RULE_SPLIT):
            self._critical(self.pieces)
            cuts = {}
            trans = self._transitions(self.pieces)
            for pc in self.pieces:
                ys = np.unique(np.concatenate([_crossings(pc), trans.get(id(pc), [])]))
                if ys.size:
                    cuts[id(pc)] = ys
            if not cuts:
                break
            bad = [pc for pc in self.pieces if id(pc) in cuts]
            new = self._split(bad, [cuts[id(pc)] for pc in bad])
            self._build([q for v in new.values() for q in v])
            self.pieces = [q for pc in self.pieces for q in new.get(id(pc), [pc])]
            count += len(bad)
        return count

    def _transitions(self, pieces) -> dict:
        """The predictions (by piece) where the node laws' critical levels change in
        kind (:func:`_signature`: the inverse hazard stops rising, a pair of its extrema
        appears): between two neighbouring nodes of different kinds, 15 point laws
        between them, 3 rounds (the transition to 2e-4 of the gap). Bounded Pareto sizes
        under lognormal noise: the posteriors' inverse hazards stop rising near ``y =
        17``, and the 8 nodes of ``[5.11, 20.8]`` were 3.6e-9 off with a Gauss estimate
        of 2e-14."""
        from .phiruns import _Fns

        gaps = []
        for pc in pieces:
            sig = [_signature(c) for c in pc.crit]
            for j in range(pc.m - 1):
                if sig[j] != sig[j + 1]:
                    gaps.append([pc, float(pc.y[j]), float(pc.y[j + 1]), sig[j]])
        if not gaps:
            return {}
        k = 15
        for _ in range(3):
            ys = np.concatenate([np.geomspace(lo, hi, k + 2)[1:-1] for _, lo, hi, _ in gaps])
            laws, st, grids, gam = self._node_laws(ys)
            crit = _critical_levels(_Fns(laws, grids, st=st), gam)
            for q, g in enumerate(gaps):
                sig = [_signature(c) for c in crit[q * k:(q + 1) * k]]
                y = ys[q * k:(q + 1) * k]
                j = next((i for i, v in enumerate(sig) if v != g[3]), k)
                g[1] = float(y[j - 1]) if j > 0 else g[1]
                g[2] = float(y[j]) if j < k else g[2]
        out = {}
        for pc, lo, hi, _ in gaps:
            y = np.sqrt(lo * hi)
            t = 2.0 * np.log(y / pc.a) / np.log(pc.b / pc.a) - 1.0
            if -1.0 + 2e-3 < t < 1.0 - 2e-3:
                out.setdefault(id(pc), []).append(y)
        return out

    def _refine_T(self, integrals) -> None:
        """Halve (in ``log y``) the pieces of the rule whose Gauss sums of ``T(y) dF_Y``
        (their nodes' ``T`` from ``integrals``) miss the most (:func:`_gauss_estimate`),
        until what the others miss sums to ``rtol / 2`` of the value at most, 2 rounds at
        most, the halves' ``T`` from ``integrals`` (the level's weight unchanged: ``N``'s
        pieces are others). Weibull 0.5 sizes under uniform noise 0.3: a piece ``[2.56,
        7.30]`` whose Gauss estimate was 1.7e-8 of the mean (its sum 1.3e-13 off)."""
        for _ in range(2):
            value = abs(sum(float(pc.wf @ pc.T) for pc in self.pieces))
            est = np.array([_gauss_estimate(pc.vinv @ (pc.T * pc.fy * pc.jac))
                            for pc in self.pieces]) / max(value, 1e-300)
            can = np.array([pc.b > 1.01 * pc.a for pc in self.pieces])
            bad = _worst(est, 0.5 * self.rtol) & can
            if not bad.any():
                return
            halves = self._halves([pc for pc, b in zip(self.pieces, bad) if b])
            subs = [q for v in halves.values() for q in v]
            self._build(subs)
            integrals(subs)
            self.pieces = [q for pc in self.pieces for q in halves.get(id(pc), [pc])]
            self._relaw()
            self.refined += int(bad.sum())

    def _halves(self, pieces) -> dict:
        """The halves (in ``log y``) of each of ``pieces`` (by ``id``), with their
        probabilities (:meth:`_split`)."""
        return self._split(pieces, [np.array([np.sqrt(pc.a * pc.b)]) for pc in pieces])

    def _split(self, pieces, cuts) -> dict:
        """Each of ``pieces`` cut at its predictions ``cuts`` (increasing, inside it): the
        new pieces (by the old one's ``id``, its nodes a piece), with their probabilities
        (the cdf at the cuts, the last one's the rest of the old piece's)."""
        pts = np.concatenate([[pc.a, *c] for pc, c in zip(pieces, cuts)])
        u = np.asarray(self.prediction.marginal_cdf(pts, self.size), dtype=float)
        out, at = {}, 0
        for pc, c in zip(pieces, cuts):
            e = [pc.a, *np.asarray(c, dtype=float).tolist(), pc.b]
            ue = u[at:at + len(e) - 1]
            at += len(e) - 1
            subs = [_Piece(float(a), float(b), pc.m) for a, b in zip(e[:-1], e[1:])]
            for k, q in enumerate(subs[:-1]):
                q.p = float(ue[k + 1] - ue[k])
            subs[-1].p = pc.p - sum(q.p for q in subs[:-1])
            out[id(pc)] = subs
        return out

    def _critical(self, pieces) -> None:
        """Each piece's node laws' critical levels (:func:`_critical_levels`), for the
        pieces without them, all together."""
        todo = [pc for pc in pieces if getattr(pc, "crit", None) is None]
        if not todo:
            return
        from .phiruns import _Fns

        laws = [law for pc in todo for law in pc.laws]
        grids = [g for pc in todo for g in pc.grids]
        # (the first time, the laws of self._st, in its order)
        same = self._st is not None and [id(v) for v in laws] == [id(v) for v in self._st.laws]
        crit = _critical_levels(_Fns(laws, grids, st=self._st if same else None),
                                np.concatenate([pc.gamma for pc in todo]))
        at = 0
        for pc in todo:
            pc.crit = crit[at:at + pc.m]
            at += pc.m

    def _fill(self, pc: _Piece) -> None:
        """The piece's masses, weights, and the interpolants of its ranks at age 0 (its
        node laws, grids and ranks made, :meth:`_build`)."""
        pc.fy = np.array([law.mass for law in pc.laws])
        pc.means = np.array([float(law.mean) for law in pc.laws])
        pc.wf = pc.w * pc.jac * pc.fy  # weights of dF_Y
        pc.cgam = pc.vinv @ pc.gamma
        with np.errstate(divide="ignore"):
            pc.lgam = np.log(np.maximum(pc.gamma, np.finfo(float).tiny))
        pc.clgam = pc.vinv @ pc.lgam

    # ------------------------------------------------------------------ N(r)
    def N(self, r, parts: bool = False, pieces=None):
        """``N(r) = int N_y(r) dF_Y(y)`` at the levels ``r`` by product integration on each
        piece (module docstring); with ``parts``, also each piece's part (``(levels,
        pieces)``, the pieces of :attr:`npieces`)."""
        r = np.atleast_1d(np.asarray(r, dtype=float))
        pieces = self.npieces if pieces is None else pieces
        per = np.zeros((r.size, len(pieces))) if parts else None
        top = np.isinf(r)  # every job is served to completion: the (kept) mean
        if np.any(top):
            out = np.empty(r.size)
            means = [float(pc.wf @ pc.means) for pc in pieces]
            out[top] = sum(means)
            if parts:
                per[top] = means
            if np.any(~top):
                if parts:
                    out[~top], per[~top] = self.N(r[~top], parts=True, pieces=pieces)
                else:
                    out[~top] = self.N(r[~top], pieces=pieces)
            return (out, per) if parts else out
        out = np.zeros(r.size)
        fns, where, falls, thr = self._nstack()
        self._rho_tables(pieces)
        # every piece's laws at their levels as rows (law-major a piece), one compiled
        # scan of Phi on their grids for all of them (_phi_scan_stack), then the local
        # minima of Phi of all in one stacked Illinois search (_local_min_stack), then
        # each piece (until the 32nd session a scan and four helpers a law and call: under
        # exponential noise N's table made 133,000 Python calls under the profiler, now
        # 57,000; the wall time alone did not move beyond the machine's noise)
        plans, rows_nd, rows_r = [], [], []
        nrow = 0
        for pi, pc in enumerate(pieces):
            # served at level r: the rank at age 0, gamma(y), is at most r (smooth in y: its
            # interpolant through the piece's nodes gives the boundary)
            # (the ends of both interpolants of gamma: the partly served part's boundary is
            # that of log gamma, which on a piece of the tails is 1e-3 from the other at an
            # end, and N was 1e-6 (relative) short of its share there under Weibull 0.5)
            low, high = _served_range(pc)
            lim = -np.inf if pc.rho is None else pc.rho[5]
            if lim == np.inf:
                # (served all through where the interpolant of log gamma is below r at its
                # ends and nodes, as _served_parts finds it: from there the Gauss sum, and
                # N jumps by the rho rule's miss at that level, a cut, _rho_top)
                high = _rho_top(pc)
            full = r >= high
            part = np.nonzero(~full & (r >= low))[0]
            idx = np.nonzero(full)[0]
            along = r[part] < lim
            if along.any():
                # (the partly served levels along the node laws' tables in the level
                # above their ranks at age 0, as high as those reach: _rho_integral)
                v = _rho_integral(pc, r[part[along]])
                out[part[along]] += v
                if parts:
                    per[part[along], pi] += v
                part = part[~along]
            both = np.concatenate([idx, part])
            if not both.size:
                continue
            rr = r[both]
            li = np.array([where[id(law)] for law in pc.laws], dtype=np.int64)
            # (a non-rising inverse hazard: Phi falls from its one maximum on, and the
            # first run, where there is one, ends at the end of the support, c1 = end:
            # ageint.falling, no grid scan)
            fl = falls[li]
            scan = np.flatnonzero(~fl)
            plans.append((pi, pc, part, idx, both, rr, li, fl, scan, nrow))
            rows_nd.append(np.repeat(li[scan], rr.size))
            rows_r.append(np.tile(rr, scan.size))
            nrow += scan.size * rr.size
        if nrow:
            D1, n1, nI, eI = self._rows(np.concatenate(rows_nd), np.concatenate(rows_r))
        for pi, pc, part, idx, both, rr, li, fl, scan, r0 in plans:
            D = np.empty((pc.m, rr.size))
            g = np.empty((pc.m, rr.size))
            nB = np.empty((pc.m, rr.size))
            E = np.empty((pc.m, rr.size))
            for j in np.flatnonzero(fl):  # (falling: thr is the least level with a run)
                hasr = rr >= thr[li[j]]
                m1 = float(pc.grids[j][4])
                D[j] = np.where(hasr, m1 - rr, np.inf)
                g[j] = np.where(hasr, m1, 0.0) * pc.fy[j] * pc.jac[j]
                nB[j], E[j] = np.nan, np.inf
            if scan.size:
                blk = slice(r0, r0 + scan.size * rr.size)
                shp = (scan.size, rr.size)
                D[scan] = D1[blk].reshape(shp)
                g[scan] = n1[blk].reshape(shp) * pc.fy[scan, None] * pc.jac[scan, None]
                nB[scan] = nI[blk].reshape(shp)
                E[scan] = eI[blk].reshape(shp)
            # where the first run's end switches between an interior minimum of Phi and
            # the end of the support within the piece, both branches and the switch
            E = _settled(E, pc.means)
            switch = (E < 0).any(axis=0) & (E >= 0).any(axis=0) & np.isfinite(E).all(axis=0)
            if np.any(switch):
                cols = np.nonzero(switch)[0]
                gA = (pc.fy * pc.jac * pc.means)[:, None]
                gB = nB[:, cols] * (pc.fy * pc.jac)[:, None]
                cA = pc.vinv @ gA
                cB = pc.vinv @ gB
                cE = pc.vinv @ E[:, cols]
                cG = np.repeat(pc.cgam[:, None], cols.size, axis=1)
                cG[0] -= rr[cols]
                v = _switch_integral(cG, cE, cA[:, 0], cB)
                out[both[cols]] += v
                if parts:
                    per[both[cols], pi] += v
                keep = ~switch
                nfull = idx.size
                D, g, E, nB = D[:, keep], g[:, keep], E[:, keep], nB[:, keep]
                idx = idx[keep[:nfull]]
                part = part[keep[nfull:]]
            k = idx.size
            v = pc.w @ g[:, :k]
            out[idx] += v
            if parts:
                per[idx, pi] += v
            if not part.size:
                continue
            D, g = _continued(pc, D[:, k:], g[:, k:], E[:, k:], nB[:, k:],
                              late=self._late(pc), r=r[part])
            # E[min(X, c1)] through the nodes where the first run exists (past a fold of the
            # rank's structure, at levels below a node's least inverse hazard, it does not:
            # the polynomial through the other nodes then)
            fin = np.isfinite(D)
            # a positive integrand is interpolated in its logarithm: over a piece of the
            # tails it is a power of y, an exponential in t (Weibull 0.5 sizes: y**1.5 over a
            # factor 100, whose polynomial through 6 nodes left N 2.5e-3 off there; a column
            # with nodes left out too, through the others: until the 31st session such a
            # column was interpolated linearly, and N jumped where a node joined it)
            logs = (~fin | (g > 0)).all(axis=0) & fin.any(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(logs[None, :], np.log(np.where(g > 0, g, 1.0)), g)
            cg = pc.vinv @ np.where(fin, g, 0.0)
            _fit_finite(cg, pc.t, g, fin)
            # the served part: log gamma(y) <= log r (gamma is a power of y in the tails)
            cD = np.repeat(pc.clgam[:, None], part.size, axis=1)
            cD[0] -= np.log(r[part])
            v = _served_integral(cD, cg, pc.t, pc.lgam[:, None] - np.log(r[part])[None, :],
                                 logs)
            out[part] += v
            if parts:
                per[part, pi] += v
        return (out, per) if parts else out

    def _rho_tables(self, pieces) -> None:
        """Each of ``pieces`` without one yet: ``pc.rho``, the Chebyshev tables of ``log
        (E[min(X, c1)] f_Y(y) dy/dt)`` of each node law at the levels ``gamma_j + rho``
        above its rank at age 0, in ``sqrt(level - fold)`` with ``fold`` the node's least
        level with a run (there its ``c1`` appears, with a square-root onset: in ``rho``
        the tables' coefficients fell by 10 in 4 under exponential noise, in the root to
        rounding in 20), for the partly served levels of ``N`` (:func:`_rho_integral`):
        ``(heights, tables, folds, their roots at 0, at the top, lim)``. The heights
        ``rho`` run over ``[0, high - low]`` (the served range's width,
        :func:`_served_range`), or where a node's next critical level above its rank at
        age 0 (an extremum of its inverse hazard, or its value at the grid's last age,
        beyond which no interior minimum shows) is nearer, to 0.9 of the least such
        distance, and then only the levels below ``lim = low +`` that take this way (else
        ``lim`` is ``inf``). The values are those of the best interior minimum of ``Phi``
        (above the piece's served range a node's first run may end at the end of the
        support, but that branch goes on smoothly and the points served are below);
        ``None`` where the tables do not serve: a node whose inverse hazard does not
        rise, a level up to the served range's top where that minimum is not below
        ``Phi`` at the end of the support (the first run's end may switch) or is
        missing, or a table whose last coefficients are above 1e-12 with 65 points
        (:data:`_RHO_K`). All pieces' nodes at all their points in one :meth:`_rows`
        call a size."""
        todo = [pc for pc in pieces if not hasattr(pc, "rho")]
        if not todo:
            return
        fns, where, falls, thr = self._nstack()
        plan = []
        for pc in todo:
            pc.rho = None
            low, high = _served_range(pc)
            li = np.array([where[id(law)] for law in pc.laws], dtype=np.int64)
            if falls[li].any() or not (high > low):
                continue
            # (each node's fold: the least level with a run, its inverse hazard's least
            # value, refined where its critical levels have it; and the next critical
            # level above its rank at age 0: another extremum of the inverse hazard, or
            # its value at the grid's last age, beyond which no interior minimum shows)
            fold = thr[li].copy()
            up = fns.IH[li, fns.G[li] - 1].copy()
            for j, c in enumerate(getattr(pc, "crit", None) or ()):
                ext = [v for k, v in c.items() if isinstance(k, tuple) and k[0] == "x"
                       and np.isfinite(v)]
                fold[j] = min([fold[j], *ext])
                up[j] = min([up[j], *[v for v in ext if v > pc.gamma[j]]])
            if not (np.all(np.isfinite(fold)) and np.all(pc.gamma > fold)):
                continue
            # the heights the tables reach: the served range's width, or 0.9 of the
            # least distance to a node's next critical level (then only the levels up to
            # the least rank at age 0 plus that take this way, a cut)
            up = np.where(np.isfinite(up) & (up > pc.gamma), up - pc.gamma, np.inf)
            w = min(high - low, 0.9 * float(up.min()))
            if not w > 0:
                continue
            lim = low + w if w < high - low else np.inf
            plan.append((pc, li, w, fold, np.sqrt(pc.gamma - fold),
                         np.sqrt(pc.gamma + w - fold), lim, high))
        # (33 points, then 65 where those did not reach rounding: the lowest predictions'
        # pieces under exponential noise, 1.4e-9 with 33)
        for k in _RHO_K:
            if not plan:
                return
            x = np.cos(np.pi * np.arange(k) / (k - 1))[::-1]
            fit = np.linalg.inv(C.chebvander(x, k - 1))
            rows_nd = np.concatenate([np.repeat(p[1], k) for p in plan])
            rows_r = np.concatenate([
                (fold[:, None] + (v0[:, None] + (v1 - v0)[:, None] * (0.5 * (1.0 + x))[
                    None, :]) ** 2).ravel() for _, _, _, fold, v0, v1, _, _ in plan])
            D, _, nI, E = self._rows(rows_nd, rows_r)
            at, again = 0, []
            for p in plan:
                pc, _, w, fold, v0, v1, lim, high = p
                sl = slice(at, at + pc.m * k)
                at += pc.m * k
                # (the interior minima's branch: where a node's level is above the
                # piece's served range (its table's top reaches that range's width
                # above its own rank at age 0) its first run may end at the end of the
                # support, but the branch goes on smoothly, and the points served are
                # below; up to the first point above that range it must be c1's)
                h = nI[sl].reshape(pc.m, k) * (pc.fy * pc.jac)[:, None]
                lv = rows_r[sl].reshape(pc.m, k)
                up = np.argmax(np.concatenate([lv >= high, np.ones((pc.m, 1), bool)],
                                               axis=1), axis=1)
                own = np.arange(k)[None, :] <= up[:, None]
                if not (np.all(np.isfinite(D[sl])) and np.all(E[sl].reshape(pc.m, k)[own] < 0)
                        and np.all(h > 0) and np.all(np.isfinite(h))):
                    continue
                coef = fit @ np.log(h).T  # (point, node)
                if np.abs(coef[-3:]).max() > 1e-12:
                    again.append(p)
                    continue
                pc.rho = (w, coef, fold, v0, v1, lim)
            plan = again

    def _rows(self, nd: np.ndarray, rq: np.ndarray):
        """``(D, E[min(X, c1)], E[min(X, b)], Phi(b) - Phi(end))`` of the laws ``nd`` (of
        :meth:`_nstack`) at the levels ``rq``, row by row: one compiled scan of ``Phi`` on
        their grids for all rows (:func:`_phi_scan_stack`, in chunks on the thread pool),
        then the local minima of ``Phi`` of all in one stacked Illinois search
        (:func:`_local_min_stack`; ``c1`` the first run's end, ``b`` the best interior
        minimum, :func:`first_record`, :func:`interior_run`)."""
        from .phiruns import _grid_start

        fns = self._nstack()[0]
        B, IH = fns.B, fns.IH
        has, first, k1, k2, after, end_phi = concat_chunks(
            lambda s: _phi_scan_stack(fns.SF, fns.PDF, fns.EM, fns.G, nd[s], rq[s]),
            nd.size, (0,) * 6)
        last = fns.G[nd] - 1
        # the first run's end at an interior minimum and the best interior minimum
        inner, f0, f2 = _first_brackets(has, first, k1, last)
        sel, j0, j2 = _interior_brackets(has, first, k2, after)
        i0, i2 = np.concatenate([f0, j0]), np.concatenate([f2, j2])
        at = np.concatenate([inner, sel])
        nb, rb = nd[at], rq[at]
        nm_all, s_all = np.zeros(0), np.zeros(0)
        if at.size:
            # (the brackets' ends are grid ages: their values from the grids, the
            # brackets narrowed there, all at once: _grid_start)
            i1 = np.minimum(i0 + 1, i2)
            lo, hi, g0, g2, x0 = _grid_start(B[nb, i0], B[nb, i1], B[nb, i2],
                                             IH[nb, i0] - rb, IH[nb, i1] - rb,
                                             IH[nb, i2] - rb, i2 - i0 == 2)
            nm_all, s_all = _local_min_stack(fns.st, nb, lo, hi, rb, g0, g2, x0)
        D1, n1, _ = _first_values(rq, has, k1, last, fns.M1[nd], inner,
                                  nm_all[:inner.size], s_all[:inner.size])
        nI, eI = _interior_values(rq, end_phi, sel, nm_all[inner.size:],
                                  s_all[inner.size:])
        return D1, n1, nI, eI

    def _nstack(self):
        """The laws of ``N``'s pieces with their grids (a
        :class:`~qtheory.analysis.phiruns._Fns`: their LawStack, the grids' ages, survival
        function, density and inverse hazard as rows padded with NaN), each law's index in
        it (by ``id``), whether its inverse hazard does not rise
        (:func:`~qtheory.analysis.ageint.falling`), and the least level at which ``Phi``
        falls somewhere on its grid (where ``P(X > b) - r f(b) <= 0``)."""
        if getattr(self, "_nst", None) is None:
            from .ageint import falling
            from .phiruns import _Fns

            grids = {id(law): g for pc in self.npieces for law, g in zip(pc.laws, pc.grids)}
            laws = list({id(law): law for pc in self.npieces for law in pc.laws}.values())
            same = [id(law) for law in laws] == [id(law) for law in self.laws]
            fns = _Fns(laws, [grids[id(law)] for law in laws], st=self._st if same else None)
            # (the grids' inverse hazards, 0 where nothing is left)
            ih = np.where(fns.SF <= 0, 0.0, fns.IH)
            thr = np.nanmin(np.where(np.isnan(fns.B), np.inf, ih), axis=1)
            self._nst = (fns, {id(law): i for i, law in enumerate(laws)}, falling(fns), thr)
        return self._nst

    def _late(self, pc) -> np.ndarray:
        """Each node law of the piece: the level below which, unserved, it is left out of
        ``N``'s interpolant where its first run does not end at the end of the support
        (:func:`_continued`), the geometric mean of the least level at which its ``Phi``
        falls somewhere (its ``c1`` appears there, ``E[min(X, c1)]`` with a square-root
        onset) and its rank at age 0 (0 for a law whose inverse hazard does not rise). These
        levels are cuts of ``N``'s table (:meth:`_tabulate`)."""
        _, where, falls, thr = self._nstack()
        if getattr(pc, "rho", None) is not None and pc.rho[5] == np.inf:
            return np.zeros(pc.m)  # (its partly served part: _rho_integral)
        i = np.array([where[id(law)] for law in pc.laws])
        with np.errstate(invalid="ignore"):
            ok = ~falls[i] & np.isfinite(thr[i]) & (thr[i] > 0) & (thr[i] < pc.gamma)
            return np.where(ok, np.sqrt(np.where(ok, thr[i], 1.0) * pc.gamma), 0.0)

    def _n_table(self, lam: float | None = None):
        """Chebyshev pieces of ``N`` in ``s = 1 / r``, refined until each piece's last
        coefficients are at rounding level (module docstring), and each piece of ``N``'s
        rule checked by its own work identity: ``int N_piece(r) / r^2 dr`` is the piece's
        probability ``P(a < Y < b)`` (every posterior's Gittins ranks satisfy it), and the
        pieces that miss most are halved until what the others miss sums to ``rtol / 4``
        at most (:data:`_N_CHECK` rounds at most; the halves are tabulated on their own
        and the tables merged, :func:`_merge_tables`). Bounded Pareto sizes under
        lognormal noise: a piece of ``y`` in ``[1.77, 5.11]``, where the first run ends at
        an interior minimum of ``Phi`` that folds away within it, was 1.2e-7 off (2.9e-6 of
        its probability), its halves 2.8e-11.

        With the arrival rate ``lam``, each piece weighs its miss by what ``N``'s error
        there does to the mean (:meth:`_n_weights`: for a piece cut from a halved one,
        the sensitivity of ``E[T]`` to ``N`` averaged over the levels where its parent's
        part of ``N`` moved when halved; for the others, its bound below the level where
        the piece's part of ``N`` reaches its limit), against ``rtol / 4`` of ``E[X]`` (a
        lower bound of the mean). Exponential noise at ``rtol=1e-8``: the identity's
        misses sat at levels 0.04 to 0.35, where ``E[T]`` moves by 1e-7 to 1e-3 of what
        the identity does
        (the mean at load 0.8 with no halving at all was 1.28e-8 off; the weighted
        differences of the tables predicted 1.29e-8), and the check stops after one round
        of halvings instead of three. Built once; a later call with a ``lam`` not yet
        checked resumes the rounds where that one needs more."""
        if self._ncomps is None:
            smax = 1.0 / (_FLOOR * min(float(law.mean) for law in self.laws))
            self._ncomps = [self._tabulate(self.npieces, smax)]
            self._nsmax = float(smax)
            self.nsplit = 0  # (each piece carries its probability, pc.p, from its making)
            self._nround = 0
            self._nchecked = set()
        key = None if lam is None else float(lam)
        if self._ntab is not None and key in self._nchecked:
            return self._ntab
        comps, smax = self._ncomps, self._nsmax
        while True:
            miss = np.abs(self._n_misses())
            can = np.array([pc.b > 1.01 * pc.a for pc in self.npieces])
            fac = np.ones(miss.size)
            if lam is not None:
                # (the weights' bound first: S and the shapes only where it does not do;
                # a weight not known, NaN, as the miss alone)
                fac = np.nan_to_num(self._n_weights(lam, bound=True) / float(self.size.mean),
                                    nan=1.0)
                if _worst(miss * fac, 0.25 * self.rtol).any():
                    fac = np.nan_to_num(self._n_weights(lam) / float(self.size.mean),
                                        nan=1.0)
            bad = _worst(miss * fac, 0.25 * self.rtol) & can
            if not bad.any() or self._nround >= _N_CHECK:
                break
            owner = self._n_owner()
            parents = [pc for pc, b in zip(self.npieces, bad) if b]
            halves = self._halves(parents)
            for pc in parents:
                c, k = owner[id(pc)]
                c[2] -= c[3][:, k]  # the piece out of its table
                c[4][k] = None
            kept = [pc for pc, b in zip(self.npieces, bad) if not b]
            subs = [q for v in halves.values() for q in v]
            self._build(subs)
            self.nsplit += len(subs) // 2
            self.npieces = sorted(kept + subs, key=lambda q: q.a)
            self._nst = None
            comps.append(self._tabulate(subs, smax))
            # each halved piece's shape: where in the level its part of N moved
            new = {id(q): k for k, q in enumerate(comps[-1][4])}
            for pc in parents:
                c, k = owner[id(pc)]
                shape = _n_shape(c, k, comps[-1], [new[id(q)] for q in halves[id(pc)]], smax)
                for q in halves[id(pc)]:
                    q.nshape = shape  # (its halved parent's: _n_weights)
            self._nround += 1
            self._ntab = None
        if self._ntab is None:
            lo, hi, coef = comps[0][:3] if len(comps) == 1 else _merge_tables(comps)
            # where N may kink (its pieces' joins): the cuts of the nodes' level integrals,
            # each join once (_join_cuts)
            gam = np.concatenate([_edge_gammas(self.npieces), _rho_cuts(self.npieces)])
            self._kcuts = _join_cuts(1.0 / gam[1.0 / gam <= smax])
            self._ntab = (lo, hi, coef, float(smax))
        self._nchecked.add(key)
        return self._ntab

    def _n_owner(self) -> dict:
        """Each piece of ``N``'s tables (by ``id``): ``(its table, its index there)``."""
        return {id(pc): (c, k) for c in self._ncomps for k, pc in enumerate(c[4])
                if pc is not None}

    def _n_misses(self) -> np.ndarray:
        """Each piece of :attr:`npieces`: its part of ``N``'s work identity less its
        probability (signed)."""
        owner = self._n_owner()
        return np.array([owner[id(pc)][0][5][owner[id(pc)][1]] - pc.p for pc in self.npieces])

    def _n_weights(self, lam: float, bound: bool = False) -> np.ndarray:
        """Each piece of :attr:`npieces`: what a miss of its work identity does to ``E[T]``
        at the arrival rate ``lam`` (per unit of the miss). ``E[T] = int S(r) K(r) dr`` with
        ``K = 1 / (2 r^2 (1 - lam N))``, so an error ``dN`` of ``N`` moves it by ``int M(r)
        dN(r) / r^2 dr``, ``M = lam S(r) / (2 (1 - lam N(r))^2)``, where the identity moves
        by ``int dN(r) / r^2 dr``. For a piece cut from a halved one: ``M`` averaged with the
        weights ``|dN| ds`` of its parent's part of ``N`` against its halves' (the piece's
        error taken where its parent's was); ``S`` from the runs of a node law a piece at
        4 levels a factor 10, linear in ``log r`` between them (:meth:`_n_S`; taking ``S``
        at the next level up, a bound since ``S`` does not fall as the level rises, put
        exponential noise's check a round of halvings further), ``N`` from the tables,
        from the top of the parents' levels down until ``M``'s bound at the last level
        (``S`` and ``N`` do not fall as the level rises) times the weight below it is 1 %
        of the rest (Weibull 0.5 sizes: its halved pieces are at predictions below 1e-8,
        their levels span 17 decades, and ``S`` at all of them took 0.4 s). Other pieces
        (where their misses sit is not known): the bound of ``M``, ``lam E[X^2] / (2 (1 -
        rho)^2)`` (``S(r) <= E[X^2]``, ``N(r) <= E[X]``), NaN where ``E[X^2]`` is infinite
        (then the check weighs their misses alone and :meth:`mean`'s estimate by the
        value, as until the 29th session: lognormal sizes under lognormal noise at rtol
        1e-9 were 7.9e-10 off with an estimate of 6.2e-10 so, 1.6e-10 with 9.3e-11 at 8
        nodes a piece, from the miss 1.6e-11 of a piece of predictions 39 to 123, whose
        levels are where ``M`` nears its bound, 27 against the value 2.5). With ``bound``,
        every piece takes that bound, with no runs."""
        rho = lam * float(self.size.mean)
        m2 = float(self.size.moment(2.0))
        mmax = lam * m2 / (2.0 * (1.0 - rho) ** 2)
        # (each piece's error sits below the level where its part of N reaches its limit,
        # and M does not fall as the level rises: M's bound with N there)
        top = self._n_top()
        with np.errstate(divide="ignore"):
            ntop = _comps_at(self._ncomps, 1.0 / top, self._nsmax)
        out = lam * m2 / (2.0 * (1.0 - lam * ntop) ** 2) if np.isfinite(m2) \
            else np.full(len(self.npieces), np.nan)
        shaped = [i for i, pc in enumerate(self.npieces) if pc.nshape is not None]
        if not shaped:
            return out
        if bound:
            out[shaped] = mmax
            return out
        # S on the lattice r = 10**(k / 4) from the top of the shapes' levels down, a
        # decade at a time, until below the last level computed the bound of M there
        # (S and N do not fall as the level rises) times the weight left is below 1 % of
        # what the levels above gave, for every piece
        used = [self.npieces[i].nshape for i in shaped]
        ls_ = [-4.0 * np.log10(sp[w > 0]) for sp, w in used]  # lattice coordinates
        ws = [w[w > 0] for _, w in used]
        Ns = [_comps_at(self._ncomps, sp[w > 0], self._nsmax) for sp, w in used]
        k = int(np.ceil(max((float(v.max()) for v in ls_ if v.size), default=0.0)))
        kbot = int(np.floor(min((float(v.min()) for v in ls_ if v.size), default=0.0)))
        acc = np.zeros(len(shaped))
        while True:
            ks = np.arange(k, k - 5, -1)
            S = self._n_S(ks)  # (S at 10**(ks / 4), falling ks)
            for j, (lv, w, N) in enumerate(zip(ls_, ws, Ns)):
                sel = (lv <= ks[0]) & (lv > ks[-1])
                if sel.any():
                    Sr = np.interp(lv[sel], ks[::-1], S[::-1])
                    acc[j] += float((lam * Sr / (2.0 * (1.0 - lam * N[sel]) ** 2)) @ w[sel])
            k = int(ks[-1])
            rest = np.array([lam * S[-1] / (2.0 * (1.0 - lam * float(N[lv <= k].max(
                initial=0.0))) ** 2) * float(w[lv <= k].sum()) for lv, w, N in zip(ls_, ws, Ns)])
            if k <= kbot or np.all(rest <= 0.01 * acc):
                break
        # (the levels below: their bound)
        tot = acc + rest
        for j, i in enumerate(shaped):
            out[i] = float(tot[j] / max(ws[j].sum(), 1e-300))
        return out

    def _n_top(self) -> np.ndarray:
        """Each piece of :attr:`npieces`: the least level above which its part of ``N``
        stays at its limit (its value at ``r = inf``, to 1e-13 of it), from its table at
        the table's Chebyshev points (kept until the next round of halvings)."""
        if getattr(self, "_ntop", (None,))[0] == self._nround:
            return self._ntop[1]
        x = _CHEB_X
        out = np.empty(len(self.npieces))
        owner = self._n_owner()
        pts = {}
        for i, pc in enumerate(self.npieces):
            c, k = owner[id(pc)]
            if id(c) not in pts:
                lo, hi = c[0], c[1]
                sp = (0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * x)
                # (each table piece's part of each piece at its points)
                pts[id(c)] = sp, C.chebval(x, c[3].transpose(2, 0, 1))
            sp, vals = pts[id(c)]
            v = vals[:, k, :]
            lim = v[0, 0]
            moved = np.abs(v - lim) > 1e-13 * max(abs(lim), 1e-300)
            out[i] = 1.0 / sp[moved].min() if moved.any() else np.inf
        self._ntop = (self._nround, out)
        return out

    def _n_S(self, ks: np.ndarray) -> np.ndarray:
        """``S`` of the mixture over the predictions (:meth:`_n_weights`) at the levels
        ``10**(ks / 4)``, each computed once (:func:`~qtheory.analysis.phiruns._runs`),
        from the middle node law of each piece of the rule weighed by the piece's
        probability."""
        if getattr(self, "_nS", None) is None:
            from .phiruns import _Fns

            # (one node law a piece, its middle one, weighed by the piece's probability:
            # an estimate's weight needs a digit; all of them cost Weibull 0.5 sizes 0.5 s,
            # most of it their E[(X - b)^+] on their grids, out to the far tails)
            laws = [pc.laws[pc.m // 2] for pc in self.pieces]
            grids = [pc.grids[pc.m // 2] for pc in self.pieces]
            self._nS = ({}, _Fns(laws, grids), np.array([pc.p for pc in self.pieces]))
        got, fns, wf = self._nS
        need = [int(k) for k in ks if int(k) not in got]
        if need:
            from .phiruns import _runs

            n = len(fns.laws)
            r = 10.0 ** (np.array(need, dtype=float) / 4.0)
            _, S = _runs(fns, np.repeat(np.arange(n), r.size), np.tile(r, n))
            for k, v in zip(need, wf @ S.reshape(n, r.size)):
                got[k] = float(v)
        return np.array([got[int(k)] for k in ks])

    def _tabulate(self, pieces, smax: float):
        """The Chebyshev table of the part of ``N`` of ``pieces`` (``[lo, hi, coef,
        coefficients of each piece (table piece, piece, coefficient), pieces, each piece's
        work identity]``), each table piece refined until its last coefficients are at
        rounding level."""
        m1 = float(self.size.mean)
        cuts = [0.0, *(np.geomspace(1.0 / (64.0 * m1), smax, 1 + int(np.ceil(
            np.log2(smax * 64.0 * m1)))))]
        # the rank at age 0 at the pieces' edges: the computed N's pieces join there
        gam = _edge_gammas(pieces)
        # (and where a node joins the interpolant of its piece while unserved, _late,
        # where the piece is partly served: below, none of it is; not in a piece whose
        # partly served part is taken along its nodes' tables in the level, _rho_tables)
        self._rho_tables(pieces)
        late = [(self._late(pc), _served_range(pc)[0]) for pc in pieces]
        late = np.concatenate([v[(v > 0) & (v > low)] for v, low in late])
        edges = np.unique(np.concatenate([cuts, 1.0 / gam, 1.0 / late,
                                          1.0 / _rho_cuts(pieces)]))
        edges = edges[edges <= smax]
        x = _CHEB_X
        # (the interpolant's coefficients: the inverse of the points' Vandermonde matrix,
        # once, instead of a least-squares fit a piece)
        fit = np.linalg.inv(C.chebvander(x, _CHEB - 1))
        todo = [(float(a), float(b), 0) for a, b in zip(edges[:-1], edges[1:])]
        done = []
        # each piece to 1e-13 of its own size or to 1e-15 / its width in s, whichever is
        # larger: the identity and the levels weigh N by ds, and the pieces at small levels
        # are wide in s (Weibull 0.5 sizes: predictions near 1e-15 have N about 1e-22 over s
        # near 1e16, and an absolute 1e-14 * E[X] left their share of the work identity
        # 2.5e-3 off; the relative bound alone took exponential noise's table from 450 to
        # 1355 pieces, 89 s)
        # (from rtol 1e-10 up, that many times looser: N's error moves the mean by int M
        # dN / r^2 dr, _n_weights; 100 times at most)
        tol_rel, tol_int = (v * min(100.0, max(1.0, self.rtol / 1e-10)) for v in _NTOL)
        while todo:
            # all pieces of a round at once
            s = np.concatenate([_cheb_points(a, b) for a, b, _ in todo])
            with np.errstate(divide="ignore"):
                vals, per = self.N(np.where(s > 0, 1.0 / s, np.inf), parts=True,
                                   pieces=pieces)
            nxt = []
            for i, (a, b, depth) in enumerate(todo):
                v = vals[i * _CHEB:(i + 1) * _CHEB]
                c = fit @ v
                tol = max(tol_rel * np.abs(c).max(), tol_int / (b - a))
                if np.abs(c[-3:]).max() <= tol or depth >= _CHEB_DEPTH:
                    done.append((a, b, c, fit @ per[i * _CHEB:(i + 1) * _CHEB]))
                else:
                    h = 0.5 * (a + b)
                    nxt += [(a, h, depth + 1), (h, b, depth + 1)]
            todo = nxt
        done.sort(key=lambda d: d[0])
        lo = np.array([d[0] for d in done])
        hi = np.array([d[1] for d in done])
        pco = np.array([d[3] for d in done]).transpose(0, 2, 1)  # (table piece, piece, k)
        # each piece's work identity: the Chebyshev integrals over the table's pieces
        k = np.arange(_CHEB)
        wk = np.zeros(_CHEB)
        wk[::2] = 2.0 / (1.0 - k[::2].astype(float) ** 2)
        ident = (0.5 * (hi - lo)) @ (pco @ wk)
        return [lo, hi, np.array([d[2] for d in done]), pco, list(pieces), ident]

    def N_table(self, r) -> np.ndarray:
        """``N(r)`` from its Chebyshev table (``N(inf) = E[X]``; 0 below the table)."""
        lo, hi, coef, smax = self._ntab if self._ntab is not None else self._n_table()
        r = np.asarray(r, dtype=float)
        with np.errstate(divide="ignore"):
            s = np.where(r > 0, 1.0 / r, np.inf)
        i = np.clip(np.searchsorted(hi, s), 0, lo.size - 1)
        return np.where(s > smax, 0.0, _table_at(lo, hi, coef, i, s))

    # ------------------------------------------------------------------ T(y)
    def engines(self):
        """The node classes' r-work engines (one per node law of :attr:`laws`, its own
        Gittins rank; made once each)."""
        if self._engines is None:
            self._engines = {}
        return [self._engine(law, self._engines) for law in self.laws]

    def _engine(self, law, engines: dict):
        """The r-work engine of ``law`` (its own Gittins rank), from ``engines`` (by
        ``id``) or made and kept there."""
        if id(law) not in engines:
            from .gittins import gittins_rank
            from .multiclass import ClassRankAnalysis

            engines[id(law)] = ClassRankAnalysis([(1.0, law, gittins_rank(law))],
                                                 rtol=self.rtol, gittins=True)
        return engines[id(law)]

    def _node_T(self, eng, law, lam: float):
        """``(T(y), its estimate)`` for one node: ``int S_y(r) K(r) dr`` in ``s = 1 / r``,
        on the pieces of :func:`~qtheory.analysis.rwork._pieces` for the node's class
        (between its rank's critical values, graded towards close ones) and the levels
        where ``N``'s pieces join (where ``N`` may kink; until the 25th session all of its
        table's cuts), each over at most a factor :data:`_S_RATIO`, by Gauss-Legendre with
        16 and 24 points; a piece whose two sums differ by more than ``rtol / 100`` of the
        whole is halved, up to :data:`_T_SPLIT` times (bounded Pareto sizes under lognormal
        noise: a node with critical values 12.66 and 12.86 was 6e-4 off before)."""
        from .rwork import _pieces

        floor = _FLOOR * float(law.mean)
        self._n_table()
        lo, hi, _ = _pieces(eng)
        s = np.unique(np.concatenate([[0.0], lo, hi, self._kcuts]))
        s = s[s <= 1.0 / floor]
        edges = span_edges(s, _S_RATIO)
        sa, sb = edges[:-1], edges[1:]
        rules = [L.leggauss(n) for n in _R_NODES]
        done_v, done_e = 0.0, 0.0
        for rnd in range(_T_SPLIT + 1):
            vals = []
            for t, w in rules:
                sn = (0.5 * (sa + sb)[:, None] + 0.5 * (sb - sa)[:, None] * t).ravel()
                wn = (0.5 * (sb - sa)[:, None] * w).ravel()
                r = 1.0 / sn
                _, _, S = eng._cross_work(0, r, np.ones(r.size, dtype=bool))
                g = S / (2.0 * (1.0 - lam * self.N_table(r)))
                vals.append((g * wn).reshape(sa.size, -1).sum(axis=1))
            diff = np.abs(vals[1] - vals[0])
            total = done_v + float(vals[1].sum())
            bad = diff > 1e-2 * self.rtol * max(abs(total), 1e-300)
            if rnd == _T_SPLIT or not np.any(bad):
                return total, done_e + float(diff.sum())
            done_v += float(vals[1][~bad].sum())
            done_e += float(diff[~bad].sum())
            mid = 0.5 * (sa[bad] + sb[bad])
            sa, sb = np.concatenate([sa[bad], mid]), np.concatenate([mid, sb[bad]])
        return done_v, done_e  # (not reached)

    def work_identity(self) -> float:
        """``int_0^inf N(r) / r^2 dr`` from ``N``'s table (1 for Gittins ranks, less the
        levels below the floor): a check of the product integration."""
        lo, hi, coef, _ = self._ntab if self._ntab is not None else self._n_table()
        # int N(1/s) ds over each piece: Chebyshev integrals (all pieces at once), summed
        # in order
        ci = C.chebint(np.asarray(coef).T)
        parts = 0.5 * (hi - lo) * (C.chebval(1.0, ci) - C.chebval(-1.0, ci))
        total = 0.0
        for v in parts.tolist():
            total += v
        return total

    def mean(self, lam: float, method: str | None = None) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` (``inf`` at load >= 1); the
        estimate sums the rule's over the prediction (:func:`_gauss_estimate` a piece),
        the nodes' level integrals (16 against 24 points), the work identity's misses
        (against the probability kept) times the value, those of pieces cut from halved
        ones times their own weights (:meth:`_n_weights`), and what the prediction's tails
        left out
        add: their probability times the outer nodes' ``T`` (four times, above), and below,
        through ``N``, ``lambda P(below) E[X | y_first] E[T] / (1 - rho)``. ``method``:
        ``None`` or ``"rwork"`` (SOAP's tagged-job analysis has no such form here)."""
        if method not in (None, "rwork"):
            raise ValueError(f"method: the swapped integral is an r-work integral; "
                             f"{method!r} is for the node rule (rule='nodes')")
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        if lam * self.size.mean >= 1.0:
            return np.inf, 0.0
        self._n_table(lam)
        if self.node_work == "runs":
            from .phiruns import _Fns, level_integrals

            def weight(r):
                return 1.0 / (2.0 * (1.0 - lam * self.N_table(r)))

            # every node's level integral at once (the laws' functions called for all
            # of them together: phiruns.level_integrals)
            def integrals(pieces, st=None):
                laws = [law for pc in pieces for law in pc.laws]
                grids = [g for pc in pieces for g in pc.grids]
                T, E = level_integrals(
                    _Fns(laws, grids, st=st), weight,
                    np.concatenate([pc.gamma for pc in pieces]), grids, cuts=self._kcuts,
                    floors=[_FLOOR * float(law.mean) for law in laws], rtol=self.rtol,
                    nodes=_LEVEL_NODES[self.rtol >= 1e-9])
                at = 0
                for pc in pieces:
                    pc.T, pc.E = T[at:at + pc.m], E[at:at + pc.m]
                    at += pc.m

            integrals(self.pieces, self._st)
        else:
            self.engines()
            engines = self._engines

            def integrals(pieces, st=None):
                # each node law's own rank engine (made once)
                for pc in pieces:
                    res = [self._node_T(self._engine(law, engines), law, lam)
                           for law in pc.laws]
                    pc.T = np.array([v for v, _ in res])
                    pc.E = np.array([e for _, e in res])

            integrals(self.pieces)
        # (the same pieces by either route: the halves follow T's own Gauss sums)
        self._refine_T(integrals)
        value, err = 0.0, 0.0
        Ts = []
        for pc in self.pieces:
            T = pc.T
            err += float(pc.wf @ pc.E)
            value += float(pc.wf @ T)
            err += _gauss_estimate(pc.vinv @ (T * pc.fy * pc.jac))
            Ts.append(T)
        # the work identity over the predictions kept: their probability, each piece's
        # miss weighted by what it does to the mean (_n_weights; the pieces not cut from
        # a halved one by the value, their misses summed with their signs)
        ident = self.work_identity()
        miss = self._n_misses()
        shaped = np.array([pc.nshape is not None for pc in self.npieces], dtype=bool)
        wts = self._n_weights(lam, bound=True)
        known = ~np.isnan(wts)
        # (pieces whose weight is not known: their signed misses times the value)
        err += abs(float(miss[~known].sum())) * abs(value)
        err += float(np.abs(miss[known & ~shaped]) @ wts[known & ~shaped])
        if shaped.any():
            # (the shaped pieces' bound where that is already below 1 % of rtol)
            if not float(np.abs(miss[shaped]) @ wts[shaped]) <= 0.01 * self.rtol * abs(value):
                wts = self._n_weights(lam)
            err += float(np.abs(miss[shaped]) @ wts[shaped])
        # the prediction's tails left out: their share, about the outer nodes' T times their
        # probability (the upper one four times that: T grows with the prediction)
        T_first, T_last = float(Ts[0][0]), float(Ts[-1][-1])
        err += self.below * abs(T_first) + 4.0 * self.above * abs(T_last)
        # ... and through N: the jobs left out below would add at most their mean (below
        # the first node's) to N at every level, which moves E[T] = int S K dr by about
        # lambda dN E[T] / (1 - rho) (first order in K)
        rho = lam * float(self.size.mean)
        err += lam * self.below * float(self.laws[0].mean) * abs(value) / (1.0 - rho)
        self.tails = (T_first, T_last)
        if err > 1e-6 * abs(value):
            warnings.warn(f"Gittins on the posterior (swapped integral): error estimate "
                          f"{err / abs(value):.1e} relative (work identity "
                          f"{ident:.12f})", QuadratureWarning, stacklevel=2)
        return float(value), float(err)


def _served_range(pc) -> tuple[float, float]:
    """``(low, high)``: the least level at which some of the piece is served, and the
    least at which all of it is: the least and the greatest rank at age 0 of its nodes and
    of both its interpolants' ends (:meth:`SwappedPosteriorAnalysis.N`)."""
    with np.errstate(over="ignore"):
        ends = np.concatenate([L.legval(np.array([-1.0, 1.0]), pc.cgam),
                               np.exp(L.legval(np.array([-1.0, 1.0]), pc.clgam))])
    return min(pc.gamma.min(), ends.min()), max(pc.gamma.max(), ends.max())


def _settled(E: np.ndarray, m1: np.ndarray, rel: float = 1e-12) -> np.ndarray:
    """``E`` (``Phi`` at a node's interior minimum less at the end of its support, nodes by
    levels) with its ties settled: a value within ``rel`` of the node's mean ``m1`` is a
    tie (an interior minimum so far in the tail that both ends give the same ``N_y``, and
    ``E``'s sign is its rounding), taken as ``-rel m1`` (the interior minimum) in a
    column where another node's interior minimum is clearly the global one, else as ``+rel
    m1``. Lognormal sizes under lognormal noise: ``E`` of ``1e-26`` and ``-4e-15`` at the
    nodes of a piece flagged half its levels as switches of the first run's end, whose
    integral (linear in the nodes' values) differs from the other levels' (logarithmic)
    by 1e-8, and ``N``'s table bisected there to its limit.

    Examples
    --------
    >>> E = np.array([[1e-26, -4e-15, -1e-3], [1e-26, 1e-3, 2e-3]]).T
    >>> (_settled(E, np.ones(3)) < 0).T.tolist()
    [[True, True, True], [False, False, False]]
    """
    tie = np.abs(E) <= rel * m1[:, None]
    if not tie.any():
        return E
    neg = (E < 0) & ~tie
    side = np.where(neg.any(axis=0)[None, :], -1.0, 1.0)
    return np.where(tie, side * rel * m1[:, None], E)


def _continued(pc, D, g, E, nB, late=None, r=None):
    """``(D, g)`` of a piece's partly served levels (columns) with each unserved node's
    ``E[min(X, c1)]`` taken on the branch of the served ones. Only the served part of the
    piece is integrated, but every node's value shapes the interpolant there: at an
    unserved node (``D > 0``) ``c1``, the global minimiser of ``Phi``, may already be an
    interior minimum while the served nodes end at the end of the support (bounded Pareto
    sizes under lognormal noise: one such node moved ``N`` by 1e-5 as the level crossed
    the one where its interior minimum became the lower, and ``N``'s table missed its
    tolerance by 1e6 there; the work identity was 2e-7 off however many nodes). Where the
    served nodes all end at the end of the support (or, none served, the node of the least
    rank at age 0 does), every node takes ``E[X]``, the branch's smooth continuation
    (defined where there is no run at all too); where they all end at an interior
    minimum, the unserved nodes take theirs where they have one and are left out of the
    interpolant where they do not. Served nodes on both branches (with a node without an
    interior minimum: a switch is otherwise cut, :func:`_switch_integral`) are left as
    they are.

    With ``late`` (a level a node) and the columns' levels ``r``, an unserved node whose
    ``c1`` is not taken as ``E[X]`` is left out of the interpolant below its level
    ``late`` (:meth:`SwappedPosteriorAnalysis._late`): its ``E[min(X, c1)]`` has a
    square-root onset in the level where its run appears, and the interpolant through it
    there was not smooth in the level."""
    served = D <= 0
    inner = E < 0  # the interior minimum is the global one
    none = ~served.any(axis=0)
    j0 = int(np.argmin(pc.gamma))
    ends = np.where(none, ~inner[j0], ~(served & inner).any(axis=0))
    inners = np.where(none, inner[j0], ~(served & ~inner).any(axis=0))
    early = None
    if late is not None:
        early = ~served & ~ends[None, :] & (np.asarray(r)[None, :] < late[:, None])
        if not early.any():
            early = None
    if not (ends.any() or inners.any() or early is not None):
        return D, g
    D, g = D.copy(), g.copy()
    fj = (pc.fy * pc.jac)[:, None]
    m1 = pc.means[:, None]
    if ends.any():
        g[:, ends] = m1 * fj
        D[:, ends] = np.where(np.isfinite(D[:, ends]), D[:, ends], 1.0)
    if inners.any():
        # the interior minima where the unserved nodes have one, else left out
        cols = np.nonzero(inners & ~ends)[0]
        has = np.isfinite(nB[:, cols])
        un = ~served[:, cols]
        g[:, cols] = np.where(un & has, nB[:, cols] * fj, g[:, cols])
        D[:, cols] = np.where(un & ~has, np.inf, np.where(un, 1.0, D[:, cols]))
    if early is not None:
        D[early] = np.inf
    return D, g


def _fit_finite(cg, t, g, fin) -> None:
    """Where a column of ``g`` (values at the nodes ``t``) is finite at some nodes only, its
    Legendre coefficients in ``cg`` become the interpolant through those nodes (degree one
    less than their number; zero where none is). The columns are grouped by which nodes
    are finite, each group solved at once (one fit a column cost 0.1 ms: 1.9 s of the
    6.5 s of ``N``'s table under exponential noise)."""
    bad = np.nonzero(~fin.all(axis=0))[0]
    if not bad.size:
        return
    cg[:, bad] = 0.0
    masks, inv = np.unique(fin[:, bad].T, axis=0, return_inverse=True)
    for u, ok in enumerate(masks):
        k = int(ok.sum())
        if not k:
            continue
        cols = bad[inv.ravel() == u]
        cg[:k, cols] = np.linalg.solve(L.legvander(t[ok], k - 1), g[np.ix_(ok, cols)])


def _cheb_points(a: float, b: float) -> np.ndarray:
    """The Chebyshev points :data:`_CHEB_X` of ``[a, b]`` (in ``s``), the ends 8 ulps
    inside: ``N``'s computed value may jump at a cut of its table (a node joins or leaves
    the interpolant of its piece, :meth:`SwappedPosteriorAnalysis._late`), and each piece
    takes its own side's limit there.

    Examples
    --------
    >>> p = _cheb_points(1.0, 2.0)
    >>> bool(1.0 < p[0] < 1.0 + 1e-14 and 2.0 - 1e-14 < p[-1] < 2.0)
    True
    """
    p = 0.5 * (a + b) + 0.5 * (b - a) * _CHEB_X
    p[0] = a * (1.0 + 8.0 * np.finfo(float).eps) if a > 0 else a
    p[-1] = b * (1.0 - 8.0 * np.finfo(float).eps)
    return p


def _join_cuts(s: np.ndarray, rel: float = _JOIN) -> np.ndarray:
    """The levels ``s`` (sorted, unique) with each cluster of levels within ``rel``
    (relative) of its neighbour replaced by its geometric mean. The two pieces of ``N``'s
    rule that meet at an edge of the prediction each give their own estimate of the join's
    level, ``gamma`` at the edge from their interpolants: 1e-12 to 5e-4 apart (Weibull
    sizes, uniform noise), while distinct joins are at least 7e-2 apart. Each is a kink of
    the computed ``N`` whose slope jumps by about that mismatch (the true ``N`` is smooth
    there), so one cut between them moves a level integral by about ``rel**2`` times that
    jump, and each pair had made a piece of 28 levels of its own.

    Examples
    --------
    >>> _join_cuts(np.array([1.0, 1.0 + 1e-6, 2.0])).round(9).tolist()
    [1.0000005, 2.0]
    """
    s = np.unique(np.asarray(s, dtype=float))
    if s.size < 2:
        return s
    start = np.concatenate([[True], np.diff(s) > rel * s[1:]])
    grp = np.cumsum(start) - 1
    with np.errstate(divide="ignore"):
        logs = np.where(s > 0, np.log(np.where(s > 0, s, 1.0)), -np.inf)
    out = np.exp(np.bincount(grp, weights=np.where(s > 0, logs, 0.0))
                 / np.bincount(grp))
    zero = np.bincount(grp, weights=(s <= 0).astype(float)) > 0
    return np.where(zero, 0.0, out)



def _worst(miss: np.ndarray, total: float) -> np.ndarray:
    """The largest entries of ``miss`` (a mask) whose removal leaves a sum of at most
    ``total``."""
    order = np.argsort(miss)  # ascending: the smallest are kept while their sum fits
    keep = np.cumsum(miss[order]) <= total
    out = np.ones(miss.size, dtype=bool)
    out[order[keep]] = False
    return out


def _table_at(lo, hi, coef, i, s) -> np.ndarray:
    """The Chebyshev table ``(lo, hi, coef)``'s piece ``i`` at ``s`` (each point its own
    piece; Clenshaw over the rows)."""
    x = np.clip((2.0 * s - lo[i] - hi[i]) / (hi[i] - lo[i]), -1.0, 1.0)
    c = coef[i]
    b1 = np.zeros(s.shape)
    b2 = np.zeros(s.shape)
    for k in range(c.shape[1] - 1, 0, -1):
        b1, b2 = 2.0 * x * b1 - b2 + c[:, k], b1
    return x * b1 - b2 + c[:, 0]


def _comps_at(comps, s: np.ndarray, smax: float) -> np.ndarray:
    """The sum of the tables ``comps`` (each ``[lo, hi, coef, ...]``) at ``s`` (0 beyond
    ``smax``)."""
    out = np.zeros(s.size)
    for lo, hi, coef in (c[:3] for c in comps):
        i = np.clip(np.searchsorted(hi, s), 0, lo.size - 1)
        out += _table_at(lo, hi, coef, i, s)
    return np.where(s > smax, 0.0, out)


def _n_shape(parent, k: int, child, ks, smax: float):
    """``(s, w)``: where the part of ``N`` of piece ``k`` of the table ``parent`` moved when
    the piece was halved, its halves pieces ``ks`` of the table ``child``: the Chebyshev
    points of both tables' pieces (in ``s = 1 / r``), and ``|dN| ds`` there (``dN`` the
    parent's part less its halves'; ``ds`` the points' spacing)."""
    x = _CHEB_X
    pts = []
    for lo, hi in ((parent[0], parent[1]), (child[0], child[1])):
        pts.append((0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * x).ravel())
    s = np.unique(np.concatenate(pts))
    s = s[(s > 0) & (s <= smax)]

    def part(t, j):
        lo, hi, pco = t[0], t[1], t[3]
        i = np.clip(np.searchsorted(hi, s), 0, lo.size - 1)
        return _table_at(lo, hi, pco[:, j, :], i, s)

    dN = part(parent, k) - sum(part(child, j) for j in ks)
    return s, np.abs(dN) * np.gradient(s)


def _merge_tables(comps):
    """One Chebyshev table ``(lo, hi, coef)`` of the sum of the tables ``comps`` (each
    ``[lo, hi, coef, ...]`` over the same range): over the union of their pieces' edges,
    each piece inside one piece of each table, where each is a polynomial of the same
    degree, re-expanded from its values at the Chebyshev points (exact to rounding)."""
    edges = np.unique(np.concatenate([np.concatenate([c[0], c[1]]) for c in comps]))
    a, b = edges[:-1], edges[1:]
    n = comps[0][2].shape[1]
    x = np.cos(np.pi * np.arange(n) / (n - 1))[::-1]
    pts = (0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * x).ravel()
    mid = np.repeat(0.5 * (a + b), n)
    vals = np.zeros(pts.size)
    for lo, hi, coef in (c[:3] for c in comps):
        i = np.clip(np.searchsorted(hi, mid), 0, lo.size - 1)
        vals += _table_at(lo, hi, coef, i, pts)
    fit = np.linalg.inv(C.chebvander(x, n - 1))
    return a, b, vals.reshape(-1, n) @ fit.T


def _edge_gammas(pieces) -> np.ndarray:
    """The rank at age 0 at the pieces' edges, from each piece's interpolant of ``log
    gamma`` (which places the served part's boundary, :meth:`SwappedPosteriorAnalysis.N`;
    that of ``gamma`` placed these cuts up to 1e-3 off the kinks on the pieces of the
    tails, and the table's pieces there missed their tolerance, the work identity 1e-8 off
    under Weibull 0.5 sizes); finite and positive ones."""
    with np.errstate(over="ignore"):
        gam = np.exp(np.concatenate([L.legval(np.array([-1.0, 1.0]), pc.clgam)
                                     for pc in pieces]))
    return gam[np.isfinite(gam) & (gam > 0)]


def _critical_levels(fns, gammas) -> list:
    """Each law's critical levels of ``S(r)`` (a dict a law, by label): its rank at age
    0 (``"g"``), the local extrema of its inverse hazard (``("x", k)``, the ``k``-th by
    age), its inverse hazard at the grid's first age (``"s0"``) and on both sides of its
    breakpoints (``("b", k, side)``); a law whose inverse hazard does not rise
    (:func:`~qtheory.analysis.ageint.falling`) has its rank at age 0 only (its level
    integral has no other)."""
    from .ageint import falling
    from .phiruns import _breakpoint_sides, _extrema

    fall = falling(fns)
    if fall.all():
        return [{"g": float(g)} for g in gammas]
    nd_e, ages, vals = _extrema(fns)
    bp_nd, _, sides = _breakpoint_sides(fns, fall)
    with np.errstate(all="ignore"):
        ih0 = np.where(fns.PDF[:, 0] > 0, fns.SF[:, 0] / fns.PDF[:, 0], np.inf)
    out = []
    for i in range(len(fns.laws)):
        c = {"g": float(gammas[i])}
        if not fall[i]:
            sel = nd_e == i
            for k, v in enumerate(vals[sel][np.argsort(ages[sel])]):
                c[("x", k)] = float(v)
            c["s0"] = float(ih0[i])
            for k, j in enumerate(np.flatnonzero(bp_nd == i)):
                c[("b", k, "-")], c[("b", k, "+")] = float(sides[0][j]), float(sides[1][j])
        out.append({k: v for k, v in c.items() if np.isfinite(v) and v > 0})
    return out


def _signature(crit: dict) -> tuple:
    """The kind of a law's critical levels (:func:`_critical_levels`): whether its
    inverse hazard rises somewhere (it has more than its rank at age 0)."""
    return len(crit) > 1


def _crossings(pc) -> np.ndarray:
    """The predictions inside the piece where the node laws' rank at age 0 crosses
    another of their critical levels (:meth:`SwappedPosteriorAnalysis._refine`): for
    each level that every node has, the root of the interpolant (through the nodes) of
    the difference of the logarithms between two neighbouring nodes where it changes
    sign; those within 1e-3 (of the piece's width in ``log y``) of an edge or of each
    other are left out. (Crossings of any two levels cut exponential noise's pieces into
    240 node laws, not 132, for a value 5e-13 apart; Weibull 2 sizes under lognormal
    noise moved by 1.4e-10.)"""
    keys = set(pc.crit[0])
    for c in pc.crit[1:]:
        keys &= set(c)
    if "g" not in keys or len(keys) < 2:
        return np.zeros(0)
    keys = sorted(keys - {"g"}, key=str)
    lv = np.log(np.array([[c[k] for k in keys] for c in pc.crit]))  # (nodes, levels)
    d = lv - np.log(np.array([c["g"] for c in pc.crit]))[:, None]
    roots = []
    for j, q in zip(*np.nonzero(np.sign(d[1:]) * np.sign(d[:-1]) < 0)):
        cd = pc.vinv @ d[:, q]
        lo, hi = pc.t[j], pc.t[j + 1]
        flo = L.legval(lo, cd)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            fm = L.legval(mid, cd)
            if np.sign(fm) == np.sign(flo):
                lo, flo = mid, fm
            else:
                hi = mid
        roots.append(0.5 * (lo + hi))
    if not roots:
        return np.zeros(0)
    t = np.unique(np.array(roots))
    t = t[(t > -1.0 + 2e-3) & (t < 1.0 - 2e-3)]
    if t.size > 1:
        t = t[np.concatenate([[True], np.diff(t) > 2e-3])]
    return pc.a * (pc.b / pc.a) ** (0.5 * (t + 1.0))


def _gauss_estimate(c: np.ndarray) -> float:
    """Error estimate of the ``m``-point Gauss-Legendre sum of a function on ``[-1, 1]`` from
    the Legendre coefficients ``c`` of its interpolant through the nodes: with the
    coefficients falling by ``q`` a degree (``q**2`` from the last two pairs, at most 1), the
    rule misses about ``2 (|c_{m-1}| + |c_{m-2}|) q**(m + 1)`` (the degrees from ``2 m`` on).

    Examples
    --------
    >>> t, w = L.leggauss(6)
    >>> c = np.linalg.solve(L.legvander(t, 5), np.exp(t))
    >>> bool(abs(w @ np.exp(t) - (np.e - 1 / np.e)) < _gauss_estimate(c) < 1e-6)
    True
    """
    a = np.abs(np.asarray(c, dtype=float))
    m = a.size
    last = a[-1] + a[-2]
    before = a[-3] + a[-4] if m >= 4 else a[0]
    q = min(1.0, np.sqrt(last / before)) if before > 0 else 1.0
    return float(2.0 * last * q ** (m + 1))


def _switch_integral(cG, cE, cA, cB) -> np.ndarray:
    """Per column: the integral over ``t`` in ``[-1, 1]``, where the polynomial with Legendre
    coefficients ``cG`` is ``<= 0`` (served), of the one with coefficients ``cB`` where the
    polynomial ``cE`` is ``< 0`` and of ``cA`` elsewhere; the roots of ``cG`` and ``cE``
    (:func:`_leg_real_roots`) cut the interval. All columns at once (a column at a time,
    1.6 s of the 4.1 s of lognormal sizes under lognormal noise)."""
    K = cE.shape[1]
    out = np.zeros(K)
    kg, zg = _leg_real_roots(cG)
    ke, ze = _leg_real_roots(cE)
    # each column's cuts (its ends and the roots of both), the served intervals between
    ia, ib, col = _served_intervals(K, np.concatenate([kg, ke]), np.concatenate([zg, ze]), cG)
    mid = 0.5 * (ia + ib)
    if not col.size:
        return out
    GA = L.legint(cA, lbnd=-1)
    GB = L.legint(cB[:, col], lbnd=-1)
    G = np.where((L.legval(mid, cE[:, col], tensor=False) < 0)[None, :], GB, GA[:, None])
    vals = L.legval(ib, G, tensor=False) - L.legval(ia, G, tensor=False)
    np.add.at(out, col, vals)
    return out


def _leg_real_roots(C: np.ndarray):
    """``(columns, roots)``: the real roots in ``(-1, 1)`` (imaginary parts below 1e-9) of
    the Legendre series in the columns of ``C``, as ``numpy.polynomial.legendre.legroots``
    finds them (the eigenvalues of the rotated scaled companion matrix, trailing zero
    coefficients trimmed), the columns of one degree in one stacked ``eigvals``.

    Examples
    --------
    >>> k, z = _leg_real_roots(np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    >>> k.tolist(), z.tolist()
    ([0], [0.0])
    """
    C = np.asarray(C, dtype=float)
    m, K = C.shape
    nz = C != 0
    deg = np.where(nz.any(axis=0), m - 1 - np.argmax(nz[::-1], axis=0), 0)
    ks, zs = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for d in np.unique(deg[deg >= 1]):
        cols = np.nonzero(deg == d)[0]
        c = C[:d + 1, cols]
        if d == 1:
            z = (-c[0] / c[1])[:, None].astype(complex)
        else:
            n = int(d)
            scl = 1.0 / np.sqrt(2 * np.arange(n) + 1)
            mat = np.zeros((cols.size, n, n))
            off = np.arange(1, n) * scl[:n - 1] * scl[1:n]
            i = np.arange(n - 1)
            mat[:, i, i + 1] = off
            mat[:, i + 1, i] = off
            mat[:, :, -1] -= ((c[:-1] / c[-1]).T * (scl / scl[-1])) * (n / (2 * n - 1))
            z = np.linalg.eigvals(mat[:, ::-1, ::-1])
        ok = (np.abs(z.imag) < 1e-9) & (z.real > -1.0) & (z.real < 1.0)
        r, q = np.nonzero(ok)
        ks.append(cols[r])
        zs.append(z.real[r, q])
    return np.concatenate(ks), np.concatenate(zs)


_SUB = L.leggauss(24)  # the rule on a served sub-interval for a log-interpolated integrand


def _piece_integral(coef, a: float, b: float, log: bool) -> float:
    """The integral over ``[a, b]`` of the polynomial with Legendre coefficients ``coef``
    (its antiderivative), or with ``log`` of its exponential (Gauss-Legendre, 24 points)."""
    if not log:
        G = L.legint(coef, lbnd=-1)
        return float(L.legval(b, G) - L.legval(a, G))
    x, w = _SUB
    return float(0.5 * (b - a) * (w @ np.exp(L.legval(0.5 * (a + b) + 0.5 * (b - a) * x,
                                                      coef))))


@njit(cache=True, nogil=True)
def _legval1(x, c):  # pragma: no cover - compiled
    """The Legendre series ``c`` at ``x``: numpy's ``legval`` recurrence."""
    m = c.size
    if m == 1:
        return c[0]
    if m == 2:
        return c[0] + c[1] * x
    nd = m
    c0 = c[m - 2]
    c1 = c[m - 1]
    for i in range(3, m + 1):
        tmp = c0
        nd -= 1
        c0 = c[m - i] - c1 * ((nd - 1) / nd)
        c1 = tmp + c1 * x * ((2 * nd - 1) / nd)
    return c0 + c1 * x


@njit(cache=True, nogil=True)
def _leg_roots(C, lo, hi, flo, fhi):  # pragma: no cover - compiled
    """The root in ``[lo[i], hi[i]]`` of the Legendre series ``C[i]`` (values ``flo[i]``,
    ``fhi[i]`` at the ends, of opposite signs or zero) by the Illinois method (the value
    kept at an end that stays twice in a row halved; every 8th step a bisection), to 2
    ulps of the bracket or an exact zero."""
    n = lo.size
    out = np.empty(n)
    for i in range(n):
        a, b, fa, fb = lo[i], hi[i], flo[i], fhi[i]
        if fa == 0.0:
            out[i] = a
            continue
        if fb == 0.0:
            out[i] = b
            continue
        side = 0
        x = 0.5 * (a + b)
        for it in range(200):
            if b - a <= 2.0 * np.spacing(max(abs(a), abs(b))):
                break
            if it % 8 == 7:
                x = 0.5 * (a + b)
            else:
                x = (a * fb - b * fa) / (fb - fa)
                if not (x > a and x < b):
                    x = 0.5 * (a + b)
            fx = _legval1(x, C[i])
            if fx == 0.0:
                a = b = x
                break
            if (fx < 0.0) == (fa < 0.0):
                if side == 1:
                    fb *= 0.5
                a, fa = x, fx
                side = 1
            else:
                if side == -1:
                    fa *= 0.5
                b, fb = x, fx
                side = -1
        out[i] = a if abs(fa) <= abs(fb) else b
    return out


def _served_intervals(K: int, kk: np.ndarray, roots: np.ndarray, cD: np.ndarray):
    """``(starts, ends, columns)``: the intervals of ``[-1, 1]`` between the points
    ``roots`` (of the columns ``kk``) of each of ``K`` columns where the Legendre series of
    that column of ``cD`` is ``<= 0`` at the middle (each column's points -1, its roots in
    order, 1: one sort of all columns' points, the ends first and last where a root
    equals one; empty intervals left out)."""
    pts = np.concatenate([np.full(K, -1.0), roots, np.full(K, 1.0)])
    pc = np.concatenate([np.arange(K), kk, np.arange(K)])
    order = np.lexsort((pts, pc))
    pts, pc = pts[order], pc[order]
    same = pc[1:] == pc[:-1]
    ia, ib, col = pts[:-1][same], pts[1:][same], pc[:-1][same]
    keep = ib > ia
    ia, ib, col = ia[keep], ib[keep], col[keep]
    served = L.legval(0.5 * (ia + ib), cD[:, col], tensor=False) <= 0
    return ia[served], ib[served], col[served]


def _served_parts(cD, t, D):
    """``(starts, ends, columns)``: the intervals of ``[-1, 1]`` where the Legendre series
    with coefficients ``cD`` (a column a level; ``D`` its values at the nodes ``t``) is
    ``<= 0``: the sign changes of ``D`` between consecutive nodes (and the ends) bracket
    its roots, found by the Illinois method on the interpolant (compiled,
    :func:`_leg_roots`), all columns' together (:func:`_served_intervals`)."""
    m, K = D.shape
    tt = np.concatenate([[-1.0], t, [1.0]])
    Dv = np.empty((m + 2, K))
    Dv[1:-1] = D
    Dv[0] = L.legval(-1.0, cD)
    Dv[-1] = L.legval(1.0, cD)
    neg = Dv <= 0
    ii, kk = np.nonzero(neg[:-1] != neg[1:])  # bracket [tt[i], tt[i + 1]] of column k
    lo, hi = tt[ii].copy(), tt[ii + 1].copy()
    flo, fhi = Dv[ii, kk], Dv[ii + 1, kk]
    root = _leg_roots(np.ascontiguousarray(cD[:, kk].T), lo, hi, flo, fhi)
    # the intervals between the roots of every column where cD is <= 0
    return _served_intervals(K, kk, root, cD)


def _rho_top(pc) -> float:
    """The least level from which a piece with :func:`_rho_integral` is served all
    through: the greatest rank at age 0 of its nodes and of its interpolant of ``log
    gamma``'s ends (that interpolant places the served part)."""
    with np.errstate(over="ignore"):
        ends = np.exp(L.legval(np.array([-1.0, 1.0]), pc.clgam))
    return float(max(pc.gamma.max(), ends.max()))


def _rho_cuts(pieces) -> np.ndarray:
    """The levels where ``N`` of the pieces with :func:`_rho_integral` changes rule, a cut
    of its table and of the nodes' level integrals: where the piece becomes served all
    through (:func:`_rho_top`), or where its tables stop short of that (``lim``)."""
    return np.array([_rho_top(pc) if pc.rho[5] == np.inf else pc.rho[5]
                     for pc in pieces if pc.rho is not None], dtype=float)


def _rho_integral(pc, r: np.ndarray) -> np.ndarray:
    """The piece's part of ``N`` at the partly served levels ``r``, along lines of equal
    height ``rho = r - gamma(y)`` above the rank at age 0: on the served part of the piece
    (where the interpolant of ``log gamma`` is ``<= log r``, :func:`_served_parts`), 24
    Gauss-Legendre points a sub-interval; at each, ``rho`` from that interpolant, every
    node law's ``log(E[min(X, c1)] f_Y dy/dt)`` at its own level ``gamma_j + rho`` from
    its table (:meth:`SwappedPosteriorAnalysis._rho_tables`), and the value at the point
    the exponential of their interpolant in ``t``.

    At one level, the nodes above the served part have no ``c1`` near where their first
    run appears (a fold of ``Phi``: ``E[min(X, c1)]`` with a square-root onset), or their
    ``c1`` continues a branch toward that fold, and an interpolant at the level through
    them was 1e-3 (relative) off the piece's part (exponential noise, predictions 0.012 to
    0.079; 40-point Gauss-Legendre rules of fresh posteriors over the served part as the
    reference). Along ``rho`` every node is served and ``c1`` follows one branch of
    interior minima, smooth in ``y``: 1e-6 off there."""
    w, coef, fold, v0, v1, _ = pc.rho
    lr = np.log(r)
    cD = np.repeat(pc.clgam[:, None], r.size, axis=1)
    cD[0] -= lr
    ia, ib, col = _served_parts(cD, pc.t, pc.lgam[:, None] - lr[None, :])
    out = np.zeros(r.size)
    if not col.size:
        return out
    x, wt = _SUB
    pts = 0.5 * (ia + ib)[None, :] + 0.5 * (ib - ia)[None, :] * x[:, None]
    with np.errstate(over="ignore"):
        rho = r[col][None, :] - np.exp(L.legval(pts, pc.clgam))
    rho = np.clip(rho, 0.0, w)
    # each node's table at the points' heights (in sqrt(level - fold)), then their
    # interpolant in t
    lh = np.stack([C.chebval(np.clip(2.0 * (np.sqrt(pc.gamma[j] + rho - fold[j]) - v0[j])
                                     / (v1[j] - v0[j]) - 1.0, -1.0, 1.0), coef[:, j])
                   for j in range(pc.m)])
    cl = np.tensordot(pc.vinv, lh, axes=(1, 0))
    vals = 0.5 * (ib - ia) * (wt @ np.exp(L.legval(pts, cl, tensor=False)))
    np.add.at(out, col, vals)
    return out


def _served_integral(cD, cg, t, D, logs=None) -> np.ndarray:
    """Per column: the integral over ``t`` in ``[-1, 1]`` of the polynomial with Legendre
    coefficients ``cg`` (of its exponential where ``logs``) where the one with coefficients
    ``cD`` is ``<= 0``. The sign changes of ``D`` between consecutive nodes (and the ends)
    bracket its roots, found by the Illinois method on the interpolant (compiled,
    :func:`_leg_roots`); the intervals between them of all
    columns are then summed together (their antiderivatives, or 24 Gauss-Legendre points
    for an exponential)."""
    K = D.shape[1]
    ia, ib, col = _served_parts(cD, t, D)
    out = np.zeros(K)
    if not col.size:
        return out
    lg = np.zeros(col.size, dtype=bool) if logs is None else np.asarray(logs, bool)[col]
    vals = np.zeros(col.size)
    if (~lg).any():
        sel = ~lg
        G = L.legint(cg[:, col[sel]], lbnd=-1)
        vals[sel] = (L.legval(ib[sel], G, tensor=False) - L.legval(ia[sel], G, tensor=False))
    if lg.any():
        x, w = _SUB
        a_, b_ = ia[lg], ib[lg]
        pts = 0.5 * (a_ + b_)[None, :] + 0.5 * (b_ - a_)[None, :] * x[:, None]
        vals[lg] = 0.5 * (b_ - a_) * (w @ np.exp(L.legval(pts, cg[:, col[lg]],
                                                           tensor=False)))
    np.add.at(out, col, vals)
    return out
