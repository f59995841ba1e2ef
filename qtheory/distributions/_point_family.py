"""The Chebyshev tables of many point posteriors of one size law and prediction at once.

Gittins on the posterior (:class:`~qtheory.analysis.posterior_rwork.
SwappedPosteriorAnalysis`) makes a hundred or more laws ``X | Y = y_j``
(:class:`~qtheory.distributions.point_posterior.PredictionPoint`), and each builds its
tables (:meth:`~qtheory.distributions.posterior.PredictionBucket._cheb_table`, the density's
:meth:`~qtheory.distributions.posterior.PredictionBucket._density_table`) in small NumPy
steps, about 1 ms a law, most of it the calls around the arithmetic. :func:`build_tables`
takes the same steps for all of them together: the density ``f(x) g(y_j / x) / x`` of
every law at all their points in one evaluation (:func:`_family_g`, element by element as
:meth:`PredictionPoint._g <qtheory.distributions.point_posterior.PredictionPoint._g>`),
the compiled gap sums and fits over all their panels (row by row, as for one law), the
power fits of their end panels in one call; before them the laws' panels
(:func:`_family_edges`: the halving rounds of ``_edges`` on all laws' panels at once) and
their panel sums. Each law's panels and tables are those it would build itself, bit for
bit (``tests/test_point_family.py``); its mass and anchors (quadratures over the noise)
are still its own. The 114 node laws of the Weibull 2 bench row: 0.14 s one at a time,
0.06 s together.

Examples
--------
>>> import numpy as np
>>> import qtheory as qt
>>> from qtheory.distributions.point_posterior import PredictionPoint
>>> size, noise = qt.Weibull(2.0), qt.UniformPrediction(0.5)
>>> laws = [PredictionPoint(size, noise, y) for y in (0.5, 1.0, 2.0)]
>>> build_tables(laws)
3
>>> bool(abs(float(laws[1].sf(1.0)) - 0.5) < 0.5)
True
"""

from __future__ import annotations

import numpy as np

from ._panelcheb import N_CHEB, first_kind_points, fit_panels, fit_power_panels, panel_points
from .posterior import _GL8_W, _GL8_X, _GL_W, _build_edges, _gap_sums, _gl_nodes

__all__ = ["build_tables"]

_KEYS = [(order, side) for order in (0.0, 1.0, 2.0) for side in (False, True)]
_BLOCK = 32768  # points of the density evaluated at a time


def _family_g(size, prediction, y, lo, hi, zlo, zhi, t: np.ndarray) -> np.ndarray:
    """``f(t) g(y / t) / t`` at the points ``t`` (any shape), each with its law's ``y``,
    support ``[lo, hi]`` and noise range ``[zlo, zhi]`` (arrays of ``t``'s shape): the steps
    of ``PredictionPoint._g`` and ``_weight``, element by element."""
    flat = t.ravel()
    y, lo, hi, zlo, zhi = (np.broadcast_to(v, t.shape).ravel() for v in (y, lo, hi, zlo, zhi))
    inside = (flat >= lo) & (flat <= hi) & (flat > 0)
    x = np.where(inside, flat, 1.0)
    with np.errstate(all="ignore"):
        z = np.clip(y / x, zlo, zhi)
        wv = np.asarray(prediction.noise_pdf(z), dtype=float) / x
    w = np.where(np.isfinite(wv) & (wv > 0), wv, 0.0)
    w = np.where(inside, w, 0.0)
    with np.errstate(all="ignore"):
        f = np.asarray(size.pdf(flat), dtype=float)
        out = np.where(w > 0, f * w, 0.0)
    return np.where(np.isfinite(out), out, 0.0).reshape(t.shape)


def build_tables(laws) -> int:
    """Build the Chebyshev tables (orders 0, 1, 2, both sides, and the density) of the
    point posteriors ``laws`` together, into each law's caches; laws that are not
    tabulated point posteriors of the first law's size law (the same object) and
    prediction (an equal one), or that have tables already, are left to build their own.
    Returns the number of laws built."""
    from .point_posterior import PredictionPoint

    todo = []
    for law in laws:
        if not (isinstance(law, PredictionPoint) and law._use_panels):
            continue
        if "_cheb_cache" in law.__dict__ or "_density_cache" in law.__dict__:
            continue
        if todo and (law.size is not todo[0].size or law.prediction != todo[0].prediction):
            continue
        todo.append(law)
    if not todo:
        return 0
    size, prediction = todo[0].size, todo[0].prediction
    _family_edges(todo)
    edges = [law._edges() for law in todo]
    sums = [{k: law._panels(k) for k in (0.0, 1.0, 2.0)} for law in todo]
    npan = np.array([e[0].size for e in edges])
    off = np.concatenate([[0], np.cumsum(npan)])
    A = np.concatenate([e[0] for e in edges])
    B = np.concatenate([e[1] for e in edges])
    law_of = np.repeat(np.arange(len(todo)), npan)  # each panel's law
    g_n = _family_g_of(todo, size, prediction)

    def g_at(t, rows):  # the density of each row's law at its points
        return g_n(t, law_of[rows])

    # the cumulative tables (PredictionBucket._cheb_table): gap sums at the Lobatto
    # points of every panel, then the fits
    x = panel_points(A, B)
    u, v = x[:, :-1].ravel(), x[:, 1:].ravel()
    half = 0.5 * (v - u)
    t = (u + half)[:, None] + half[:, None] * _GL8_X
    g = g_at(t.reshape(A.size, N_CHEB - 1, -1), np.arange(A.size)).reshape(t.shape)
    tabs = {}
    for order in (0.0, 1.0, 2.0):
        up, down = _gap_sums(half, t, g, _GL8_W, int(order), N_CHEB - 1)
        left = np.concatenate([s[order][2][:n] for s, n in zip(sums, npan)])
        right = np.concatenate([s[order][3][:n] for s, n in zip(sums, npan)])
        for side, vals, anchors in ((False, up, left), (True, down, right)):
            coef, mode, anchor = fit_panels(vals, anchors)
            tabs[(order, side)] = [coef, mode, np.array(anchor, dtype=float)]
    # end panels where the value reaches 0: C / d**p, all tables' in one fit; their values
    # at the first-kind points as PredictionBucket._panel_values takes them (the points lie
    # inside their panel: the panel sums beyond it plus the 16-point rule on the piece)
    rows_all, vals_all, left_all, keys_all = [], [], [], []
    for key in _KEYS:
        coef, mode, anchor = tabs[key]
        rows = np.nonzero((mode == 0) & (anchor == 0.0))[0]
        if not rows.size:
            continue
        order, side = key
        xf = first_kind_points(A[rows], B[rows])
        k = xf.shape[1]
        pr = np.repeat(rows, k)  # each point's panel
        xi = xf.ravel()
        uu, vv = (xi, B[pr]) if side else (A[pr], xi)
        hh = 0.5 * (vv - uu)
        tt = _gl_nodes(uu, vv, hh)
        gg = g_at(tt, pr)
        with np.errstate(all="ignore"):
            piece = hh * np.sum(_GL_W * (gg if order == 0 else tt**order * gg), axis=1)
        anchors = np.concatenate([s_[order][3 if side else 2][:n]
                                  for s_, n in zip(sums, npan)])
        rows_all.append(rows)
        vals_all.append((piece + anchors[pr]).reshape(xf.shape))
        left_all.append(np.full(rows.size, not side))
        keys_all.append(key)
    if rows_all:
        rr = np.concatenate(rows_all)
        c, m, p = fit_power_panels(np.concatenate(vals_all), A[rr], B[rr],
                                   np.concatenate(left_all))
        at = 0
        for key, rows in zip(keys_all, rows_all):
            sl = slice(at, at + rows.size)
            at += rows.size
            ok = m[sl] > 0
            coef, mode, anchor = tabs[key]
            coef, mode, anchor = coef.copy(), mode.copy(), anchor.copy()
            coef[rows[ok]], mode[rows[ok]], anchor[rows[ok]] = c[sl][ok], m[sl][ok], p[sl][ok]
            tabs[key] = [coef, mode, anchor]
    # the density's table (PredictionBucket._density_table)
    gd = g_at(x, np.arange(A.size))
    coef_d, mode_d, anchor_d = fit_panels(gd, np.zeros(A.size))
    lft_end, rgt_end = gd[:, 0] == 0.0, gd[:, -1] == 0.0
    ends = (mode_d == 0) & (lft_end != rgt_end) & np.all(gd[:, 1:-1] > 0, axis=1)
    if ends.any():
        idx = np.nonzero(ends)[0]
        xf = first_kind_points(A[idx], B[idx])
        c, m, p = fit_power_panels(g_at(xf, idx), A[idx], B[idx], lft_end[idx])
        ok = m > 0
        coef_d, mode_d, anchor_d = coef_d.copy(), mode_d.copy(), np.array(anchor_d, dtype=float)
        coef_d[idx[ok]], mode_d[idx[ok]], anchor_d[idx[ok]] = c[ok], m[ok], p[ok]
    for n, law in enumerate(todo):
        sl = slice(off[n], off[n + 1])
        a, b = edges[n]
        law.__dict__["_cheb_cache"] = {key: (a, b, tabs[key][0][sl], tabs[key][1][sl],
                                             tabs[key][2][sl]) for key in _KEYS}
        law.__dict__["_density_cache"] = (a, b, coef_d[sl], mode_d[sl], anchor_d[sl])
    return len(todo)


def _family_g_of(todo, size, prediction):
    """The density of law ``n`` of ``todo`` at points ``t`` (rows), ``g(t, n)`` with ``n``
    an array of the rows' laws."""
    par = np.array([[law.y, law._lo, law._hi, law._zlo, law._zhi] for law in todo])

    def g(t, n):
        out = np.empty(t.shape)
        per = max(1, _BLOCK // max(1, int(np.prod(t.shape[1:]))))
        shape = (-1,) + (1,) * (t.ndim - 1)
        for i in range(0, t.shape[0], per):
            p = par[n[i:i + per]]
            out[i:i + per] = _family_g(size, prediction,
                                       *(p[:, c].reshape(shape) for c in range(5)),
                                       t[i:i + per])
        return out

    return g


def _family_edges(todo) -> None:
    """:func:`~qtheory.distributions.posterior._build_edges` of the point posteriors
    ``todo`` (the density of all of them in one evaluation, :func:`_family_g_of`)."""
    _build_edges(todo, _family_g_of(todo, todo[0].size, todo[0].prediction))
