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
smoothly with ``y``), so the outer integral takes a composite Gauss-Legendre rule in
``log y`` (pieces between quantiles of the prediction, cut at
:func:`~qtheory.analysis.posterior_gittins.prediction_breakpoints`), spectrally. Each
``T(y_j)`` is an integral over the level between the critical values of node ``j``'s rank
(:mod:`qtheory.analysis.rwork`'s pieces in ``s = 1 / r``), ``S_y`` from the node class's
work tables.

What remains is ``N(r)``, needed at every level of every node: its integrand jumps in ``y``.
Write ``Phi(b) = E[min(X, b) | y] + r P(X > b | y)``: the Gittins rank at age 0 is at most
``r`` exactly when ``Phi(0) = r`` is at least ``Phi(c1)``, with ``c1`` the global minimiser of
``Phi`` over the ages past its first local maximum (the end of the first interval of ages
whose rank is at most ``r``). Then

    N_y(r) = 1[D(y, r) <= 0] E[min(X, c1) | y],    D(y, r) = E[min(X, c1) | y] - r P(X <= c1 | y),

where ``D`` and ``E[min(X, c1)]`` are smooth in ``y`` on both sides of the jump (``c1``
follows one local minimum). On each piece of the prediction's rule the node values of
``D`` and of ``E[min(X, c1)] f_Y(y)`` are interpolated by polynomials (through the piece's
Gauss nodes), and the second is integrated over the part of the piece where the first is
``<= 0`` (product integration). ``N(r)`` is smooth in ``s = 1 / r`` between a few cuts, and
is tabulated there by Chebyshev interpolation, refined until its last coefficients are at
rounding level. The work integral ``int N(r) / r^2 dr = 1`` of Gittins ranks checks it.

Measured (Weibull 2 sizes, uniform noise 0.5, load 0.8): 2.3561787402548 with 8 nodes a
piece, the same to 4e-15 with 10; the node rule gives 2.35629364, 2.35621145 and
2.35618806 with 32, 64 and 128 nodes (differences shrinking by 3.5, order about 1.8),
extrapolated at that order to 2.35617870.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.polynomial import chebyshev as C
from numpy.polynomial import legendre as L

from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution

__all__ = ["SwappedPosteriorAnalysis", "quantile_pieces", "first_record", "law_grid"]

# quantiles of the prediction where the rule's pieces end (and 1 - these): the tails in
# factors of 100 down to 1e-14, the body in fifths
_TAIL_U = (1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.05)
_BODY_U = (0.2, 0.4, 0.6, 0.8)
_GRID = 257  # ages of a node law's grid for Phi (first_record)
_CHEB = 17  # Chebyshev points of a piece of N's table
_CHEB_DEPTH = 8  # bisections of a piece of N's table at most
_R_NODES = (16, 24)  # Gauss-Legendre nodes of a node's level pieces (value, check)
_S_RATIO = 4.0  # a node's level pieces in s = 1 / r span at most this factor
_FLOOR = 2.0**-40  # levels below this times the node law's mean are left out (as rwork)


def quantile_pieces(size: SizeDistribution, prediction) -> np.ndarray:
    """Edges ``y`` of the pieces of the rule over the prediction: at the quantiles
    :data:`_TAIL_U`, :data:`_BODY_U` and one minus the tail ones, and at
    :func:`~qtheory.analysis.posterior_gittins.prediction_breakpoints` (where the posterior
    jumps or kinks in ``y``).

    Examples
    --------
    >>> import qtheory as qt
    >>> e = quantile_pieces(qt.Weibull(2.0), qt.UniformPrediction(0.5))
    >>> e.size, bool(np.all(np.diff(e) > 0))
    (23, True)
    """
    from .posterior_gittins import prediction_breakpoints

    u = np.array(sorted({*_TAIL_U, *_BODY_U, 0.5, *(1.0 - np.array(_TAIL_U))}))
    u = np.unique(np.concatenate([u, prediction_breakpoints(size, prediction)]))
    y = np.asarray(prediction.marginal_ppf(u, size), dtype=float)
    y = np.unique(y[np.isfinite(y) & (y > 0)])
    return y


def _grid(law) -> np.ndarray:
    """Ages from the lower end of ``law``'s support to where its tail is below 1e-17."""
    lo, hi = (float(v) for v in law.support)
    if not np.isfinite(hi):
        hi = float(law.mean) if lo <= 0 else max(lo, float(law.mean))
        hi *= 2.0
        while float(law.sf(hi)) > 1e-17:
            hi *= 1.5
    if lo > 0 and hi > 20.0 * lo:
        return np.geomspace(lo, hi, _GRID)
    if lo <= 0:
        base = max(float(law.scale) * 1e-12, hi * 1e-15)
        return np.concatenate([[0.0], np.geomspace(base, hi, _GRID - 1)])
    return np.linspace(lo, hi, _GRID)


def law_grid(law):
    """``(b, sf, pdf, E[min(X, b)], mean)`` on the ages of :func:`_grid` (for
    :func:`first_record`)."""
    b = _grid(law)
    with np.errstate(all="ignore"):
        sf = np.asarray(law.sf(b), dtype=float)
        pdf = np.asarray(law.pdf(b), dtype=float)
        em = np.asarray(law.partial_moment(1, b), dtype=float) + b * sf
    return b, sf, pdf, em, float(law.mean)


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
    b, sf, pdf, em, m1 = law_grid(law) if grid is None else grid
    last = b.size - 1
    # Phi' = sf - r pdf; the first local maximum is the first age where Phi' <= 0
    dphi = sf[None, :] - r[:, None] * pdf[None, :]
    down = dphi <= 0.0
    has = down.any(axis=1)
    first = np.argmax(down, axis=1)
    phi = em[None, :] + r[:, None] * sf[None, :]
    phi = np.where(np.arange(b.size)[None, :] >= first[:, None], phi, np.inf)
    k = np.argmin(phi, axis=1)
    D = np.full(r.size, np.inf)
    n = np.zeros(r.size)
    F = np.zeros(r.size)
    # at the grid's end: the end of the support (or beyond the grid, the job's completion)
    end = has & (k == last)
    n[end], F[end] = m1, 1.0
    inner = np.nonzero(has & (k < last))[0]
    if inner.size:
        lo = b[np.maximum(k[inner] - 1, 0)]
        hi = b[k[inner] + 1]
        rr = r[inner]
        for _ in range(60):  # Phi' = sf - r pdf goes from < 0 to > 0 in [lo, hi]
            mid = 0.5 * (lo + hi)
            with np.errstate(all="ignore"):
                g = np.asarray(law.sf(mid), dtype=float) - rr * np.asarray(law.pdf(mid),
                                                                             dtype=float)
            neg = g < 0
            lo = np.where(neg, mid, lo)
            hi = np.where(neg, hi, mid)
            if np.all(hi - lo <= 4e-16 * hi):
                break
        c = 0.5 * (lo + hi)
        s = np.asarray(law.sf(c), dtype=float)
        n[inner] = np.asarray(law.partial_moment(1, c), dtype=float) + c * s
        F[inner] = 1.0 - s
    ok = has
    D[ok] = n[ok] - r[ok] * F[ok]
    return D, n, F


class _Piece:
    """One piece ``[a, b]`` of the rule over the prediction, in ``t`` with
    ``y = a (b / a)**((t + 1) / 2)``: the nodes, the weights (of ``dF_Y``) and the
    interpolation matrix."""

    def __init__(self, a: float, b: float, m: int):
        t, w = L.leggauss(m)
        self.a, self.b, self.m = a, b, m
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
        Target relative error of the node classes' work tables.
    nodes : int
        Gauss-Legendre nodes a piece of the rule over the prediction (where its
        probability is at least 1e-3; 2 fewer where it is at least 1e-7, else 4 fewer,
        at least 4). At 8, Weibull 2 sizes with uniform noise 0.5 came out 4.8e-12 below
        the value at 10; at 6, 7e-9.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = SwappedPosteriorAnalysis(qt.Weibull(2.0), qt.UniformPrediction(0.5), nodes=6)
    >>> value, err = a.mean(0.8 / qt.Weibull(2.0).mean)
    >>> round(value, 7), err < 1e-8
    (2.3561787, True)
    """

    def __init__(self, size: SizeDistribution, prediction, rtol: float = 1e-11,
                 nodes: int = 10):
        from ..distributions.point_posterior import point_law

        if prediction.is_exact:
            raise ValueError("prediction: exact predictions give SRPT exactly; the swapped "
                             "integral is for noisy predictions")
        if size.is_discrete:
            raise ValueError("size: the swapped integral needs a continuous size law (with "
                             "atoms the posterior's ranks jump in the prediction; use "
                             "rule='nodes')")
        self.size, self.prediction = size, prediction
        self.rtol = float(rtol)
        edges = quantile_pieces(size, prediction)
        u = np.asarray(prediction.marginal_cdf(edges, size), dtype=float)
        self.pieces = []
        for a, b, p in zip(edges[:-1], edges[1:], np.diff(u)):
            m = nodes if p >= 1e-3 else (max(nodes - 2, 4) if p >= 1e-7 else
                                          max(nodes - 4, 4))
            self.pieces.append(_Piece(float(a), float(b), m))
        self.tail = float(u[0] + (1.0 - u[-1]))  # probability left out
        self.laws = []
        for pc in self.pieces:
            pc.laws = [point_law(size, prediction, float(y)) for y in pc.y]
            pc.fy = np.array([law.mass for law in pc.laws])
            pc.wf = pc.w * pc.jac * pc.fy  # weights of dF_Y
            pc.grids = [law_grid(law) for law in pc.laws]
            self.laws.extend(pc.laws)
        self._engines = None
        self._ntab = None

    # ------------------------------------------------------------------ N(r)
    def N(self, r) -> np.ndarray:
        """``N(r) = int N_y(r) dF_Y(y)`` at the levels ``r`` by product integration on each
        piece (module docstring)."""
        r = np.atleast_1d(np.asarray(r, dtype=float))
        top = np.isinf(r)  # every job is served to completion: the (kept) mean
        if np.any(top):
            out = np.empty(r.size)
            out[top] = sum(float(pc.wf @ [law.mean for law in pc.laws])
                           for pc in self.pieces)
            out[~top] = self.N(r[~top]) if np.any(~top) else 0.0
            return out
        out = np.zeros(r.size)
        for pc in self.pieces:
            D = np.empty((pc.m, r.size))
            g = np.empty((pc.m, r.size))
            for j, law in enumerate(pc.laws):
                d, n, _ = first_record(law, r, pc.grids[j])
                D[j] = d
                g[j] = n * pc.fy[j] * pc.jac[j]
            fin = np.isfinite(D)
            served = fin & (D <= 0)
            # the interpolant of D at the piece's ends counts too (a root between the
            # last node and the end)
            allfin = fin.all(axis=0)
            ends = np.full((2, r.size), np.inf)
            if np.any(allfin):
                cD = pc.vinv @ D[:, allfin]
                ends[0, allfin] = L.legval(-1.0, cD)
                ends[1, allfin] = L.legval(1.0, cD)
            full = served.all(axis=0) & (ends <= 0).all(axis=0)
            out[full] += pc.w @ g[:, full]
            part = np.nonzero((served.any(axis=0) | (ends <= 0).any(axis=0)) & ~full)[0]
            if not part.size:
                continue
            # nodes with no first record (D = inf) have no continuation: their piece takes
            # the rule's own sum there (fold of the rank's structure; rare, and flagged by
            # the work identity)
            bad = ~fin[:, part].all(axis=0)
            if np.any(bad):
                idx = part[bad]
                out[idx] += np.einsum("j,jk->k", pc.w, np.where(served[:, idx], g[:, idx], 0.0))
                part = part[~bad]
            if not part.size:
                continue
            cD = pc.vinv @ D[:, part]  # Legendre coefficients, one column per level
            cg = pc.vinv @ g[:, part]
            out[part] += _served_integral(cD, cg, pc.t, D[:, part])
        return out

    def _n_table(self):
        """Chebyshev pieces of ``N`` in ``s = 1 / r``, refined until each piece's last
        coefficients are at rounding level (module docstring)."""
        if self._ntab is not None:
            return self._ntab
        m1 = float(self.size.mean)
        smax = 1.0 / (_FLOOR * min(float(law.mean) for law in self.laws))
        cuts = [0.0, *(np.geomspace(1.0 / (64.0 * m1), smax, 1 + int(np.ceil(
            np.log2(smax * 64.0 * m1)))))]
        # the rank at age 0 at the pieces' edges: the computed N's pieces join there
        gam = []
        for pc in self.pieces:
            for j in (0, pc.m - 1):
                gam.append(float(self._gamma(pc.laws[j], pc.grids[j])))
        gam = np.array(gam)
        gam = gam[np.isfinite(gam) & (gam > 0)]
        edges = np.unique(np.concatenate([cuts, 1.0 / gam]))
        edges = edges[edges <= smax]
        x = np.cos(np.pi * np.arange(_CHEB) / (_CHEB - 1))[::-1]  # Chebyshev points
        todo = [(float(a), float(b), 0) for a, b in zip(edges[:-1], edges[1:])]
        done = []
        tol = 1e-14 * m1
        while todo:
            # all pieces of a round at once
            s = np.concatenate([0.5 * (a + b) + 0.5 * (b - a) * x for a, b, _ in todo])
            with np.errstate(divide="ignore"):
                vals = self.N(np.where(s > 0, 1.0 / s, np.inf))
            nxt = []
            for i, (a, b, depth) in enumerate(todo):
                v = vals[i * _CHEB:(i + 1) * _CHEB]
                c = C.chebfit(x, v, _CHEB - 1)
                if np.abs(c[-3:]).max() <= tol or depth >= _CHEB_DEPTH:
                    done.append((a, b, c))
                else:
                    h = 0.5 * (a + b)
                    nxt += [(a, h, depth + 1), (h, b, depth + 1)]
            todo = nxt
        done.sort()
        self._ntab = (np.array([d[0] for d in done]), np.array([d[1] for d in done]),
                      np.array([d[2] for d in done]), float(smax))
        return self._ntab

    def N_table(self, r) -> np.ndarray:
        """``N(r)`` from its Chebyshev table (``N(inf) = E[X]``; 0 below the table)."""
        lo, hi, coef, smax = self._n_table()
        r = np.asarray(r, dtype=float)
        with np.errstate(divide="ignore"):
            s = np.where(r > 0, 1.0 / r, np.inf)
        i = np.clip(np.searchsorted(hi, s), 0, lo.size - 1)
        x = np.clip((2.0 * s - lo[i] - hi[i]) / (hi[i] - lo[i]), -1.0, 1.0)
        out = np.zeros(s.shape)
        # Clenshaw over the rows (pieces differ per level)
        c = coef[i]
        b1 = np.zeros(s.shape)
        b2 = np.zeros(s.shape)
        for k in range(c.shape[1] - 1, 0, -1):
            b1, b2 = 2.0 * x * b1 - b2 + c[:, k], b1
        out = x * b1 - b2 + c[:, 0]
        return np.where(s > smax, 0.0, out)

    @staticmethod
    def _gamma(law, grid) -> float:
        """The Gittins rank at age 0: the least ``r`` with ``D(r) <= 0`` (bisection)."""
        lo, hi = 0.0, float(law.mean)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            d = first_record(law, np.array([mid]), grid)[0][0]
            lo, hi = (lo, mid) if d <= 0 else (mid, hi)
            if hi - lo <= 1e-15 * hi:
                break
        return hi

    # ------------------------------------------------------------------ T(y)
    def engines(self):
        """The node classes' r-work engines (one per node, its own Gittins rank)."""
        if self._engines is None:
            from .gittins import gittins_rank
            from .multiclass import ClassRankAnalysis

            self._engines = [ClassRankAnalysis([(1.0, law, gittins_rank(law))],
                                               rtol=self.rtol, gittins=True)
                             for law in self.laws]
        return self._engines

    def _node_T(self, eng, law, lam: float):
        """``(T(y), its estimate)`` for one node: ``int S_y(r) K(r) dr`` in ``s = 1 / r``
        on the node's level pieces, by Gauss-Legendre with 16 and 24 nodes."""
        e = eng.engines[0]
        floor = _FLOOR * float(law.mean)
        crit = np.unique(np.asarray(e.crit, dtype=float))
        crit = crit[np.isfinite(crit) & (crit > floor)]
        lo, hi, _, smax = self._n_table()
        s = np.unique(np.concatenate([[0.0], 1.0 / crit, [1.0 / floor], lo, hi]))
        s = s[s <= 1.0 / floor]
        edges = [0.0]
        for a, b in zip(s[:-1], s[1:]):
            if a > 0 and b > _S_RATIO * a:
                k = int(np.ceil(np.log(b / a) / np.log(_S_RATIO)))
                edges.extend(a * (b / a) ** (np.arange(1, k + 1) / k))
            else:
                edges.append(b)
        edges = np.unique(np.array(edges))
        sa, sb = edges[:-1, None], edges[1:, None]
        tot = []
        for n in _R_NODES:
            t, w = L.leggauss(n)
            sn = (0.5 * (sa + sb) + 0.5 * (sb - sa) * t).ravel()
            wn = (0.5 * (sb - sa) * w).ravel()
            r = 1.0 / sn
            _, _, S = eng._cross_work(0, r, np.ones(r.size, dtype=bool))
            g = S / (2.0 * (1.0 - lam * self.N_table(r)))
            tot.append(float(g @ wn))
        return tot[-1], abs(tot[-1] - tot[0])

    def work_identity(self) -> float:
        """``int_0^inf N(r) / r^2 dr`` from ``N``'s table (1 for Gittins ranks, less the
        levels below the floor): a check of the product integration."""
        lo, hi, coef, _ = self._n_table()
        total = 0.0
        for a, b, c in zip(lo, hi, coef):
            # int N(1/s) ds over the piece: Chebyshev integral
            ci = C.chebint(c)
            total += 0.5 * (b - a) * (C.chebval(1.0, ci) - C.chebval(-1.0, ci))
        return total

    def mean(self, lam: float, method: str | None = None) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` (``inf`` at load >= 1); the
        estimate sums the rule's over the prediction (:func:`_gauss_estimate` a piece),
        the nodes' level integrals (16 against 24 points), the work identity's miss times
        the value and the prediction's probability left out times the value. ``method``:
        ``None`` or ``"rwork"`` (SOAP's tagged-job analysis has no such form here)."""
        if method not in (None, "rwork"):
            raise ValueError(f"method: the swapped integral is an r-work integral; "
                             f"{method!r} is for the node rule (rule='nodes')")
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        if lam * self.size.mean >= 1.0:
            return np.inf, 0.0
        engines = self.engines()
        value, err, k = 0.0, 0.0, 0
        for pc in self.pieces:
            T = np.empty(pc.m)
            for j in range(pc.m):
                T[j], e = self._node_T(engines[k], self.laws[k], lam)
                err += pc.wf[j] * e
                k += 1
            value += float(pc.wf @ T)
            err += _gauss_estimate(pc.vinv @ (T * pc.fy * pc.jac))
        ident = self.work_identity()
        err += abs(ident - 1.0) * abs(value)
        err += self.tail * abs(value)
        if err > 1e-6 * abs(value):
            warnings.warn(f"Gittins on the posterior (swapped integral): error estimate "
                          f"{err / abs(value):.1e} relative (work identity "
                          f"{ident:.12f})", QuadratureWarning, stacklevel=2)
        return float(value), float(err)


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


def _served_integral(cD, cg, t, D) -> np.ndarray:
    """Per column: the integral over ``t`` in ``[-1, 1]`` of the polynomial with Legendre
    coefficients ``cg`` where the one with coefficients ``cD`` is ``<= 0``. The sign
    changes of ``D`` between consecutive nodes (and the ends) bracket its roots, found by
    bisection on the interpolant."""
    m, K = D.shape
    tt = np.concatenate([[-1.0], t, [1.0]])
    Dv = np.empty((m + 2, K))
    Dv[1:-1] = D
    Dv[0] = L.legval(-1.0, cD)
    Dv[-1] = L.legval(1.0, cD)
    G = L.legint(cg, lbnd=-1)  # antiderivative, 0 at -1
    out = np.zeros(K)
    for k in range(K):
        pts = [-1.0]
        for i in range(m + 1):
            if (Dv[i, k] <= 0) != (Dv[i + 1, k] <= 0):
                lo, hi = tt[i], tt[i + 1]
                flo = Dv[i, k]
                for _ in range(60):
                    mid = 0.5 * (lo + hi)
                    fm = L.legval(mid, cD[:, k])
                    if (fm <= 0) == (flo <= 0):
                        lo, flo = mid, fm
                    else:
                        hi = mid
                    if hi - lo <= 1e-16:
                        break
                pts.append(0.5 * (lo + hi))
        pts.append(1.0)
        # the intervals between the roots alternate; the sign at their middles decides
        Gk = G[:, k]
        for a, b in zip(pts[:-1], pts[1:]):
            if b > a and L.legval(0.5 * (a + b), cD[:, k]) <= 0:
                out[k] += L.legval(b, Gk) - L.legval(a, Gk)
    return out
