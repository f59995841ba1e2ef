r"""Level integrals of laws with a rising hazard rate, taken over the age (no runs to find).

:func:`~qtheory.analysis.phiruns.level_integral` integrates ``S(r) weight(r) / r**2`` over
the level ``r`` of a law ranked by its own Gittins rank, finding the runs of

    Phi(b) = E[min(X, b)] + r P(X > b)

at every level (Z. Scully and M. Harchol-Balter, "The Gittins Policy in the M/G/1 Queue",
WiOpt 2021, section 4). ``Phi' = f(b) (h(b)**-1 - r)``, with ``h = f / P(X > b)`` the
hazard rate. Where the inverse hazard ``1 / h`` does not rise with the age (a rising, or
constant, hazard rate: log-concave densities, the posteriors of Weibull sizes of shape at
least 1 under uniform noise), ``Phi`` rises while ``1 / h > r`` and falls after, so each
level has one run, which ends at the end of the support: from age 0 where ``Phi(0) = r``
is at least ``Phi(end) = E[X]``, that is ``r >= gamma = E[X]``, and else from the age
``a(r)`` where ``Phi(a) = E[X]``, that is where the mean remaining size

    m(a) = E[(X - a)^+] / P(X > a)

equals ``r`` (the Gittins rank of such a law at age ``a`` is ``m(a)``, falling with the
age). So ``S(r) = E[X^2]`` above ``gamma`` and ``S(r) = E[((X - a(r))^+)^2]`` below, and
the change of variables ``r = m(a)`` (``m`` falls from ``gamma`` at age 0 to 0 at the end
of the support, ``-m'(a) = 1 - f(a) E[(X - a)^+] / P(X > a)^2``) gives

    int_0^inf S(r) weight(r) dr / r**2
        = E[X^2] int_0^(1 / gamma) weight(1 / s) ds
          + int_0^end E[((X - a)^+)^2] weight(m(a)) (-m'(a)) / m(a)**2 da.

The first integral is shared by all laws (:func:`weight_integrals`, once for every
``gamma``); the second needs at each point the law's tail moments of orders 0, 1 and 2
and its density, one lookup each, and no root: the runs route finds a run's start by the
Illinois method at every level. ``E[((X - a)^+)^2]`` is ``T_2 - 2 a T_1 + a^2 T_0`` from
the tail moments, as :meth:`~qtheory.analysis._lawstack.LawStack.trunc2` takes it, and by
the density's quadrature (that of ``trunc2`` for narrow intervals) where those differences
would lose more than ten digits, next to a bounded support's end. There the integrand
vanishes like ``end - a`` (``m(a)`` about ``(end - a) / 2``), where in ``s = 1 / r`` the
levels went on geometrically to ``2**40`` times the mean's inverse.

Both integrals are composite Gauss-Legendre sums with 12 and 16 points a piece (value,
check), a piece whose two sums differ by more than ``rtol / 100`` of the whole halved, 8
times at most, as the runs route's (:func:`~qtheory.analysis.phiruns.level_integrals`).
The pieces over the age are cut at the law's breakpoints (the lower end of its support
among them: below it ``m(a) = E[X] - a``) and at the ages ``m(a) = r`` of the weight's
cuts (where it may kink), less the cuts at levels where the weight is flat to
``rtol / 1000`` (:func:`_flat_cuts`: a bounded error), and graded towards an end of the
support where the density vanishes (:func:`_graded_ends`: there ``-m'`` goes like a power
of the distance). The rank at age 0 is the law's mean, ``m(0)``, whatever rank the caller
passes (a computed one can fall below it by rounding where ``E[min(X, b)] / P(X <= b)`` is
flat in ``b``: exponential sizes). :func:`falling` says which laws
qualify: the inverse hazard must not rise (by more than ``1e-10`` relative) between the
ages of the law's grid nor across its breakpoints. The runs route sees the law on the
same grid.

Measured (Weibull 2 sizes, uniform noise 0.5, load 0.8, the 114 node laws of
:class:`~qtheory.analysis.posterior_rwork.SwappedPosteriorAnalysis` at ``rtol`` 1e-8): every
node law qualifies. Against the runs route at ``rtol`` 1e-13, each node's value is within
2.5e-11 (relative) at ``rtol`` 1e-8 (the runs route's own: 2.4e-11), and within 8e-14 at
``rtol`` 1e-13; the age route takes 34,500 points (the runs route 63,000 levels with a
root or two each), all the node laws' integrals 31 to 35 ms against 165 to 173 ms.
"""

from __future__ import annotations

import numpy as np

__all__ = ["falling", "age_integrals", "weight_integrals"]

_RISE = 1e-10  # a rise of the inverse hazard below this (relative) is rounding
_EPS = float(np.finfo(float).eps)


def falling(fns) -> np.ndarray:
    """For each law of ``fns`` (the :class:`~qtheory.analysis.phiruns._Fns` of the runs
    route, on their grids), whether its inverse hazard ``P(X > b) / f(b)`` does not rise
    with the age on its grid (by more than ``1e-10`` relative: rounding) nor across its
    breakpoints (a density that jumps down raises it), and is finite past the first
    age of positive density: then the law's Gittins rank is its mean remaining size,
    falling with the age, and its level integral can be taken over the age
    (:func:`age_integrals`).

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.analysis.phiruns import _Fns
    >>> falling(_Fns([qt.Weibull(2.0), qt.Weibull(0.5), qt.Uniform(1.0, 2.0)])).tolist()
    [True, False, True]
    """
    G = fns.G
    cols = np.arange(fns.B.shape[1])[None, :]
    inside = cols < G[:, None]
    with np.errstate(all="ignore"):
        ih = np.where(fns.PDF > 0, fns.SF / fns.PDF, np.inf)
    fin = np.isfinite(ih) & inside
    j0 = np.argmax(fin, axis=1)  # the first age of positive density
    past = inside & (cols >= j0[:, None])
    # finite from there on (a gap in the support: Phi rises across it), and not rising
    out = fin.any(axis=1) & ~np.any(past & ~fin, axis=1)
    with np.errstate(invalid="ignore"):
        rise = (ih[:, 1:] > ih[:, :-1] * (1.0 + _RISE)) & past[:, 1:] & past[:, :-1]
    out &= ~rise.any(axis=1)
    # a density that jumps down at a breakpoint raises the inverse hazard there
    nd, bp = [], []
    for i in np.flatnonzero(out):
        start, top = fns.B[i, j0[i]], fns.B[i, G[i] - 1]
        for x in getattr(fns.laws[i], "breakpoints", ()):
            if np.isfinite(x) and start < x < top:
                nd.append(i)
                bp.append(float(x))
    if bp:
        nd, bp = np.array(nd, dtype=np.int64), np.array(bp)
        with np.errstate(all="ignore"):
            lo_s, hi_s = (fns.ihaz(bp * sd, nd) for sd in (1.0 - 1e-13, 1.0 + 1e-13))
        bad = ~np.isfinite(hi_s) | (hi_s > lo_s * (1.0 + _RISE))
        out[nd[bad]] = False
    return out


def weight_integrals(weight, s_ends, cuts=(), rtol: float = 1e-11, nodes=(12, 16),
                     split: int = 8, span: float = 4.0):
    """``(int_0^(s_i) weight(1 / s) ds, estimate)`` for each ``s_i`` of ``s_ends``: composite
    Gauss-Legendre sums in ``s`` over pieces between the ``cuts`` (where ``weight`` may
    kink), each over at most the factor ``span``, shared by every ``s_i`` above them, and
    each ``s_i``'s own pieces from the last cut below it; a piece whose two sums
    (``nodes`` points) differ by more than ``rtol / 100`` of the integral from 0 to its end
    is halved, ``split`` times at most. The shared pieces do not depend on the other
    ``s_i``, so each value is the one it has alone, bit for bit. ``weight`` must not fall
    as ``r`` grows (as the r-work integral's).

    Examples
    --------
    >>> v, e = weight_integrals(lambda r: 1.0 + 0.0 * r, np.array([0.5, 2.0]), cuts=[1.0])
    >>> v.tolist()
    [0.5, 2.0]
    """
    from .phiruns import _leggauss, span_edges

    s_ends = np.asarray(s_ends, dtype=float)
    n = s_ends.size
    cuts = np.unique(np.asarray(cuts, dtype=float))
    cuts = cuts[(cuts > 0) & np.isfinite(cuts)]
    # (all cuts, those above every s_i too: the shared pieces below an s_i are then the
    # same whatever the other ends)
    shared = span_edges(np.concatenate([[0.0], cuts]), span) if cuts.size else np.zeros(1)
    base = np.zeros(n, dtype=np.int64)  # the shared pieces below each s_i
    for i in range(n):
        if s_ends[i] > 0:
            base[i] = int(np.searchsorted(shared, s_ends[i], side="right")) - 1
    upto = int(base.max(initial=0))
    # pieces: (a, b, owner); owner -1 is shared, else the s_i whose own piece it is
    pa, pb, own = [shared[:upto]], [shared[1:upto + 1]], [np.full(upto, -1)]
    for i in range(n):
        if not s_ends[i] > 0:
            continue
        j = base[i]
        e = span_edges(np.array([shared[j], s_ends[i]]), span) if shared[j] > 0 \
            else np.array([0.0, s_ends[i]])
        e = e[e <= s_ends[i]]
        pa.append(e[:-1])
        pb.append(e[1:])
        own.append(np.full(e.size - 1, i))
    sa, sb, ow = np.concatenate(pa), np.concatenate(pb), np.concatenate(own)
    rules = [_leggauss(m) for m in nodes]
    done_a, done_v, done_e, done_o = [], [], [], []
    for rnd in range(split + 1):
        vals = []
        for t, w in rules:
            x = 0.5 * (sa + sb)[:, None] + 0.5 * (sb - sa)[:, None] * t[None, :]
            with np.errstate(divide="ignore"):
                g = np.asarray(weight(1.0 / x.ravel()), dtype=float).reshape(x.shape)
            vals.append((g * w[None, :]).sum(axis=1) * 0.5 * (sb - sa))
        diff = np.abs(vals[1] - vals[0])
        # the integral from 0 to each piece's end: the shared pieces (kept and these) in
        # order, then an s_i's own on top of the shared ones below it
        A = np.concatenate([np.concatenate(done_a) if done_a else np.zeros(0), sa])
        V = np.concatenate([np.concatenate(done_v) if done_v else np.zeros(0), vals[1]])
        O = np.concatenate([np.concatenate(done_o) if done_o else np.zeros(0, dtype=int),
                            ow])
        cum = _ordered_cumsum(A, V, O, shared, base)[-sa.size:]
        bad = diff > 1e-2 * rtol * np.abs(cum)
        if rnd == split:
            bad[:] = False
        keep = ~bad
        done_a.append(sa[keep])
        done_v.append(vals[1][keep])
        done_e.append(diff[keep])
        done_o.append(ow[keep])
        if not bad.any():
            break
        mid = 0.5 * (sa[bad] + sb[bad])
        sa, sb = np.concatenate([sa[bad], mid]), np.concatenate([mid, sb[bad]])
        ow = np.concatenate([ow[bad], ow[bad]])
    A, V, E, O = (np.concatenate(x) for x in (done_a, done_v, done_e, done_o))
    out_v, out_e = np.zeros(n), np.zeros(n)
    sh = O < 0
    order = np.argsort(A[sh], kind="stable")
    a_sh, cv, ce = A[sh][order], np.cumsum(V[sh][order]), np.cumsum(E[sh][order])
    for i in range(n):
        if not s_ends[i] > 0:
            continue
        k = int(np.searchsorted(a_sh, shared[base[i]], side="left"))  # shared pieces below
        v = float(cv[k - 1]) if k else 0.0
        e = float(ce[k - 1]) if k else 0.0
        mine = np.flatnonzero(O == i)
        for q in mine[np.argsort(A[mine], kind="stable")]:
            v += float(V[q])
            e += float(E[q])
        out_v[i], out_e[i] = v, e
    return out_v, out_e


def _ordered_cumsum(A, V, O, shared, base) -> np.ndarray:
    """For each piece (start ``A``, value ``V``, owner ``O``: -1 shared) the sum of the
    values from 0 to its end: the shared pieces' in order, an owned piece's on top of the
    shared pieces below its owner's first own piece and its owner's earlier ones."""
    out = np.empty(A.size)
    sh = np.flatnonzero(O < 0)
    order = sh[np.argsort(A[sh], kind="stable")]
    cs = np.cumsum(V[order])
    out[order] = cs
    a_sorted = A[order]
    for i in np.unique(O[O >= 0]):
        mine = np.flatnonzero(O == i)
        mine = mine[np.argsort(A[mine], kind="stable")]
        k = int(np.searchsorted(a_sorted, shared[base[i]], side="left"))
        below = float(cs[k - 1]) if k else 0.0
        out[mine] = below + np.cumsum(V[mine])
    return out


def _mean_residual(fns, x, nd):
    """``(m(x), E[(X - x)^+], P(X > x))`` of the laws ``nd``."""
    e, s = fns.eplus(x, nd)
    with np.errstate(all="ignore"):
        return np.where(s > 0, e / s, 0.0), e, s


def _cut_ages(fns, nd: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The ages where the mean remaining size ``m(a)`` of law ``nd[i]`` equals the level
    ``r[i]`` (below its ``E[X]``): ``E[X] - r`` below the support's lower end, else the
    Illinois root in the bracket of the law's grid, all laws' together (NaN for levels
    below the grid's last age's: past the integral's end)."""
    out = np.full(r.size, np.nan)
    m1, lo = fns.M1[nd], fns.lo[nd]
    below = (lo > 0) & (r >= m1 - lo)
    out[below] = m1[below] - r[below]
    with np.errstate(all="ignore"):
        MG = np.where(fns.SF > 0, fns.EP / fns.SF, 0.0)  # (NaN past each grid's end)
    last = fns.G[nd] - 1
    first_m, last_m = MG[nd, 0], MG[nd, last]
    sel = np.flatnonzero(~below & (r > last_m) & (r < first_m))
    if sel.size:
        ns, rs = nd[sel], r[sel]
        # the last grid age with m >= r (m falls along the grid)
        j = np.clip((MG[ns] >= rs[:, None]).sum(axis=1) - 1, 0, fns.G[ns] - 2)
        lo_b, hi_b = fns.B[ns, j], fns.B[ns, j + 1]

        flo = fns.st.root_values("mres", ns, lo_b, rs)
        fhi = fns.st.root_values("mres", ns, hi_b, rs)
        out[sel] = fns.st.roots("mres", ns, lo_b, hi_b, np.maximum(flo, 0.0),
                                np.minimum(fhi, 0.0), rs)
    return out


def age_integrals(fns, idx, weight, cuts=(), rtol: float = 1e-11, nodes=(12, 16),
                  split: int = 8):
    """``(values, estimates)`` of the level integrals of the laws ``idx`` of ``fns`` (each
    with a non-rising inverse hazard, :func:`falling`), over the age (module docstring):
    ``E[X^2]`` times :func:`weight_integrals` to ``1 / gamma``, ``gamma = E[X]`` the rank
    at age 0 of such a law, plus the integral over the
    age of ``E[((X - a)^+)^2] weight(m(a)) (-m'(a)) / m(a)**2`` from 0 to the end of the
    support (or of the law's grid, where its tail is below 1e-17), cut at the law's
    breakpoints and at the ages of the ``cuts`` (levels in ``s = 1 / r``), each piece by
    Gauss-Legendre with ``nodes`` points (value, check), halved where the two differ by
    more than ``rtol / 100`` of the law's whole, ``split`` times at most. All laws' points
    in one call a round.

    Examples
    --------
    Alone at load 0 a job's response time is its size: ``int S / (2 r**2) dr = E[X]``.

    >>> import qtheory as qt
    >>> from qtheory.analysis.phiruns import _Fns
    >>> law = qt.Weibull(2.0)
    >>> v, e = age_integrals(_Fns([law]), [0], lambda r: 0.5 + 0.0 * r)
    >>> bool(abs(v[0] / law.mean - 1.0) < 1e-11)
    True
    """
    from .phiruns import _MERGE, _leggauss, _merge_cuts, _Node, _rule_points, _sum_pieces

    idx = np.asarray(idx, dtype=np.int64)
    cuts = np.asarray(cuts, dtype=float)
    k = idx.size
    if not k:
        return np.zeros(0), np.zeros(0)
    # (the rank at age 0 of such a law is its mean, m(0): exactly so, where a computed
    # minimum of E[min(X, b)] / P(X <= b) over b may fall below it by rounding where the
    # ratio is flat, 3e-5 under exponential sizes)
    gammas = fns.M1[idx].astype(float)
    with np.errstate(divide="ignore"):
        s_top = np.where(gammas > 0, 1.0 / gammas, np.inf)  # (the levels' s at age 0)
    J, Je = weight_integrals(weight, s_top, cuts, rtol=rtol, nodes=nodes, split=split)
    m2 = _tail_work(fns, np.zeros(k), idx)[0]
    # each law's fixed ages: 0, the support's lower end, its breakpoints, the end (of the
    # support, or of the grid where the tail is below 1e-17)
    fixed = []
    for i in idx:
        law = fns.laws[i]
        end = min(float(fns.end[i]), float(fns.B[i, int(fns.G[i]) - 1]))
        lo = max(float(fns.lo[i]), 0.0)
        bps = [float(x) for x in getattr(law, "breakpoints", ()) if np.isfinite(x)
               and lo < x < end]
        fixed.append(np.unique(np.array([0.0, lo, end, *bps], dtype=float)))
    nf = np.repeat(idx, [f.size for f in fixed])
    m_fix = _mean_residual(fns, np.concatenate(fixed), nf)[0]
    with np.errstate(divide="ignore"):
        s_fix = np.where(m_fix > 0, 1.0 / m_fix, 0.0)
    # the weight's cuts (merged among themselves once: the same for every law) below each
    # law's rank at age 0 and farther than 1e-6 (relative) from the levels of its fixed
    # ages, then their ages, all laws' together
    at = np.concatenate([[0], np.cumsum([f.size for f in fixed])])
    cm = _merge_cuts(np.zeros(0), cuts[cuts > 0]) if cuts.size else cuts
    cm = _flat_cuts(weight, cm, rtol)
    width = max(f.size for f in fixed)
    SF_ = np.full((k, width), np.nan)
    for q in range(k):
        SF_[q, :at[q + 1] - at[q]] = s_fix[at[q]:at[q + 1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        near = np.nanmin(np.abs(cm[None, :, None] - SF_[:, None, :]), axis=2,
                         initial=np.inf) <= _MERGE * cm[None, :]
        use = (cm[None, :] > s_top[:, None]) & ~near
    qq, jj = np.nonzero(use)
    a_c = _cut_ages(fns, idx[qq], 1.0 / cm[jj]) if qq.size else np.zeros(0)
    at_c = np.concatenate([[0], np.cumsum(np.bincount(qq, minlength=k))])
    edges = []
    for q in range(k):
        ac = a_c[at_c[q]:at_c[q + 1]]
        end = fixed[q][-1]
        e = np.unique(np.concatenate([fixed[q], ac[(ac > 0) & (ac < end)]]))
        edges.append(_graded_ends(fns, int(idx[q]), e))
    nodes_ = []
    for q in range(k):
        nn = _Node(edges[q][:-1], edges[q][1:])
        nn.done_v, nn.done_e = float(m2[q] * J[q]), float(m2[q] * Je[q])
        nodes_.append(nn)
    rules = [_leggauss(m) for m in nodes]
    for rnd in range(split + 1):
        live = [q for q in range(k) if nodes_[q].result is None]
        if not live:
            break
        sns, xs, nds = _rule_points(nodes_, live, rules, label=idx)
        x, nd = np.concatenate(xs), np.concatenate(nds)
        g_all = _integrand(fns, x, nd, weight)
        at = 0
        for q, sn, flat in zip(live, sns, xs):
            _sum_pieces(nodes_[q], sn, g_all[at:at + flat.size], rules, rtol, rnd >= split)
            at += flat.size
    return (np.array([nn.result[0] for nn in nodes_]),
            np.array([nn.result[1] for nn in nodes_]))


def _flat_cuts(weight, cuts: np.ndarray, rtol: float) -> np.ndarray:
    """The cuts (in ``s = 1 / r``, sorted) less those at levels where the weight is still
    within ``rtol / 1000`` (relative) of its value at a level below them all: the weight
    does not fall as the level grows, so below such a level it lies in a band that narrow
    and a Gauss-Legendre sum over any of its kinks errs by at most twice the band times the
    integral of ``S`` there, below ``rtol / 500`` of the whole. (The r-work integral's
    weight ``1 / (2 (1 - lambda N))``: ``N`` of Gittins on the posterior has a cut at each
    piece of the prediction's rule, down to its quantile 1e-8, where ``N`` is 1e-12 of the
    mean; next to the end of a bounded support those cuts made pieces whose points needed
    the narrow intervals' quadrature, 16 % of the bench row's points.)"""
    if not cuts.size:
        return cuts
    s_top = float(cuts.max())
    with np.errstate(divide="ignore"):
        w = np.asarray(weight(1.0 / np.concatenate([cuts, [1e6 * s_top]])), dtype=float)
    w0 = w[-1]
    if not (np.isfinite(w0) and w0 > 0 and np.all(np.isfinite(w))):
        return cuts
    return cuts[~(w[:-1] - w0 <= 1e-3 * rtol * w0)]


_GRADE = 20  # pieces graded by factors of 4 towards an end where the density vanishes


def _graded_ends(fns, i: int, e: np.ndarray) -> np.ndarray:
    """The edges ``e`` of law ``i``'s pieces over the age, with the first piece past the
    lower end of the support graded towards it by factors of 4 (20 times) where the
    density vanishes there like a power, and the last piece towards the end of a bounded
    support likewise. A density like ``x**(k - 1)`` at 0 (Weibull or gamma sizes of shape
    ``k > 1``) makes ``-m'(a) = 1 - h(a) m(a)`` go like ``a**(k - 1)``, a singularity of
    the integrand that the Gauss sums of a piece and its halvings took to 3e-7 only
    (Weibull 1.5, weight 1/2: the value 3.1e-7 off at rtol 1e-10); graded pieces take it
    to rounding. "Like a power": 0 at the end but positive at the grid's next age (about
    1e-12 of the law's scale away). A density that vanishes faster than any power (the
    posteriors under exponential or lognormal noise, ``g(y / x)`` at 0) has underflowed
    there, its integrand is flat, and graded pieces below the tables' start cost a
    quadrature over the noise a point (Weibull 2 sizes under lognormal noise: 2 s more,
    the value the same to 1.4e-15)."""
    g = int(fns.G[i])
    lo = max(float(fns.lo[i]), 0.0)
    out = [e]
    if e.size >= 2:
        j = int(np.searchsorted(e, lo, side="right"))  # the first edge past lo
        if j < e.size and g >= 3 and fns.PDF[i, 0] == 0.0 and fns.PDF[i, 1] > 0.0 \
                and fns.B[i, 0] <= lo:
            d = e[j] - lo
            out.append(lo + d * 4.0 ** -np.arange(1, _GRADE + 1))
        end = float(fns.end[i])
        if np.isfinite(end) and e[-1] == end and g >= 3 and fns.PDF[i, g - 1] == 0.0 \
                and fns.PDF[i, g - 2] > 0.0 and fns.B[i, g - 1] >= end:
            d = e[-1] - e[-2]
            out.append(end - d * 4.0 ** -np.arange(1, _GRADE + 1))
    return np.unique(np.concatenate(out))


def _integrand(fns, x, nd, weight) -> np.ndarray:
    """``E[((X - a)^+)^2] weight(m(a)) (-m'(a)) / m(a)**2`` at the ages ``x`` of the laws
    ``nd`` (0 where ``P(X > a) = 0``): the tail moments of orders 0, 1 and 2 and the density
    once a point, ``E[((X - a)^+)^2]`` from them as
    :meth:`~qtheory.analysis._lawstack.LawStack.trunc2` takes it to the end of the support
    (by the density's quadrature within 1/64 of ``a`` of a bounded support's end)."""
    S, m, e, s = _tail_work(fns, x, nd)
    p = fns.pdf(x, nd)
    ok = (s > 0) & (m > 0)
    with np.errstate(all="ignore"):
        dm = np.clip(1.0 - p * e / (s * s), 0.0, 1.0)
        w = np.asarray(weight(np.where(ok, m, 1.0)), dtype=float)
        return np.where(ok, S * w * dm / (m * m), 0.0)


def _tail_work(fns, x, nd):
    """``(E[((X - x)^+)^2], m(x), E[(X - x)^+], P(X > x))`` of the laws ``nd`` from one
    lookup of each tail moment (:meth:`~qtheory.analysis._lawstack.LawStack.trunc2`'s
    steps with ``c = inf``; its narrow intervals' quadrature where the moments'
    differences would lose more than ten digits)."""
    st = fns.st
    x = np.asarray(x, dtype=float)
    s = st.sf(nd, x)
    with np.errstate(all="ignore"):
        t1 = st.tail_moment(1.0, nd, x)
        e = np.maximum(t1 - x * s, 0.0)
        t2 = st.tail_moment(2.0, nd, x)
        S = np.maximum(t2 - 2.0 * x * t1 + x * x * s, 0.0)
        # the narrow intervals' quadrature where the differences lose more than ten
        # digits (next to a bounded support's end: 16 % of the bench row's points are
        # narrow, far fewer lose that much)
        lost = (s > 0) & ~(_EPS * (t2 + 2.0 * x * t1 + x * x * s) <= 1e-10 * S)
        if lost.any():
            at = np.flatnonzero(lost)
            S[at] = st.trunc2_narrow(nd[at], x[at], np.full(at.size, np.inf), S[at])
        m = np.where(s > 0, e / s, 0.0)
    return S, m, e, s
