"""Many posteriors of one size law and prediction at once: their tables, masses and exact
densities.

Gittins on the posterior (:class:`~qtheory.analysis.posterior_rwork.
SwappedPosteriorAnalysis`) makes a hundred or more laws ``X | Y = y_j``
(:class:`~qtheory.distributions.point_posterior.PredictionPoint`), and each builds its
tables (:meth:`~qtheory.distributions.posterior.PredictionBucket._cheb_table`, the density's
:meth:`~qtheory.distributions.posterior.PredictionBucket._density_table`) in small NumPy
steps, about 1 ms a law, most of it the calls around the arithmetic. :func:`build_tables`
runs the same algorithms on all of them together
(:func:`~qtheory.distributions.posterior._build_edges` for the panels and their sums,
:func:`~qtheory.distributions.posterior._build_tables` for the tables, which a law alone
runs with itself only), with the density ``f(x) g(y_j / x) / x`` of every law evaluated at
all their points at once (:func:`_family_g`, element by element as :meth:`PredictionPoint._g
<qtheory.distributions.point_posterior.PredictionPoint._g>`, in blocks). Each law's panels
and tables are those it would build itself, bit for bit (``tests/test_point_family.py``);
its anchors (quadratures over the noise) are still its own. The 114 node laws of the
Weibull 2 bench row: 0.14 s one at a time, 0.06 s together. Bucket posteriors
(:class:`~qtheory.distributions.posterior.PredictionBucket`, the laws of
``GittinsBuckets``) are built together too, each one's density its own.

:func:`point_laws` makes the point posteriors with their masses (the prediction's density
``f_Y(y)``, a quadrature over the noise factor a law) computed for all of them at once
(:func:`~qtheory.distributions.posterior.refine_rows` over every law's rows; 35 ms one at a
time for the bench row's laws, 10 ms together), and :class:`Family` gives their exact
densities at once (the points their tables leave: the ends of their supports), each bit
for bit what the law gives alone.

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

from .posterior import PredictionBucket, _build_edges, _build_tables, _warn_raw, refine_rows

__all__ = ["build_tables", "point_laws", "family_of", "Family"]

_BLOCK = 32768  # points of the density evaluated at a time
_LOW_Y = 2.0**-12  # a point posterior's panels reach down to y times this at least (build_tables)


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


def build_tables(laws, trim: float = 0.0) -> int:
    """Build the Chebyshev tables (orders 0, 1, 2, both sides, and the density) of the
    posteriors ``laws`` together, into each law's caches: point posteriors
    (:class:`~qtheory.distributions.point_posterior.PredictionPoint`) of the first law's
    size law (the same object) and prediction (an equal one), their densities evaluated
    together (:func:`_family_g`), or bucket posteriors
    (:class:`~qtheory.distributions.posterior.PredictionBucket`) likewise, each one's
    density its own (:meth:`~qtheory.distributions.posterior.PredictionBucket._g`, the
    window of its bucket) but the panels' halving rounds, sums and fits of all of them
    together. Laws of another kind, or with tables already, are left to build their own.
    Returns the number of laws built.

    With ``trim`` (point posteriors only), each law's tables stop where what lies beyond
    holds at most ``trim`` of each moment (:func:`~qtheory.distributions.posterior.
    _trimmed`), and a law whose support lies wholly below the panels' range (``2**-40``
    of the size law's median) gets panels on its support (Weibull 0.5 sizes under uniform
    noise 0.3 given predictions below about ``1e-13``: without tables every value is a
    quadrature over the noise; their tables agree with those to 5.5e-13 relative), and a
    law whose support reaches below that range gets panels from ``y 2**-12`` up (``X = y /
    Z`` below that asks ``Z`` above 4096; exponential sizes and noise given ``4.5e-12``
    have 4e-6 of their mass below ``2**-40`` of the median), before the trimming.

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.distributions.posterior import bucket_law
    >>> size, noise = qt.Weibull(0.5), qt.ExponentialPrediction()
    >>> laws = [bucket_law(size, noise, a, b) for a, b in ((0.0, 1.0), (1.0, np.inf))]
    >>> build_tables(laws)
    2
    """
    from .point_posterior import PredictionPoint

    todo = []
    for law in laws:
        if trim > 0 and type(law) is PredictionPoint and not law._use_panels \
                and not law._in_z and 0.0 < law._lo < law._hi <= law._tmin:
            # (a support wholly below the panels' range, 2**-40 of the size law's median:
            # panels on the support itself)
            law._tmin, law._tmax, law._use_panels = law._lo, law._hi, True
        elif trim > 0 and type(law) is PredictionPoint and law._use_panels \
                and law._lo < law._tmin and 0 < law.y * _LOW_Y < law._tmin:
            # (a prediction so small that the posterior has mass below the panels' range:
            # from y 2**-12 on, X = y / Z below that asks Z above 4096)
            law._tmin = max(law._lo, law.y * _LOW_Y)
        if not (isinstance(law, PredictionBucket) and law._use_panels):
            continue
        if "_cheb_cache" in law.__dict__ or "_density_cache" in law.__dict__ \
                or "_edge_cache" in law.__dict__:
            continue
        if todo and (type(law) is not type(todo[0]) or law.size is not todo[0].size
                     or law.prediction != todo[0].prediction):
            continue
        todo.append(law)
    if not todo:
        return 0
    if type(todo[0]) is PredictionPoint:
        fam = Family(todo)
        g = fam.g
        _anchors(fam)
    else:
        g = _own_g_of(todo)
    _build_edges(todo, g, trim if type(todo[0]) is PredictionPoint else 0.0)
    _build_tables(todo, g, (0.0, 1.0, 2.0), density=True)
    return len(todo)


def _anchors(fam) -> None:
    """The tables' anchors of the point posteriors of the :class:`Family` ``fam`` (the
    quadratures over the noise below ``t_min`` and above ``t_max`` that
    :meth:`~qtheory.distributions.posterior.PredictionBucket._panels` needs, orders 0, 1
    and 2), all together (:meth:`Family.raw`), into each law's ``_anchors``."""
    todo = fam.laws
    tmax = np.array([law._tmax for law in todo], dtype=float)
    for k in (0.0, 1.0, 2.0):
        # (where the size law's own tail underflows past t_max, nothing is above it: the
        # laws share their size law, one call for all)
        gone = todo[0]._parent_tail_gone(k, tmax)
        lo, hi = [], []
        for i, law in enumerate(todo):
            if law._tmin > law._lo and law._flat_below() is None:
                lo.append(i)
            if not law._diverges(k) and law._tmax < law._hi and not gone[i]:
                hi.append(i)
        for side, rows in (("lo", lo), ("hi", hi)):
            if not rows:
                continue
            idx = np.array(rows, dtype=np.int64)
            if side == "lo":
                v = fam.raw(idx, k, np.zeros(idx.size), fam.tmin[idx], "partial moment")
            else:
                v = fam.raw(idx, k, fam.tmax[idx], np.full(idx.size, np.inf), "tail moment")
            for i, val in zip(rows, v):
                todo[i].__dict__.setdefault("_anchors", {})[(k, side)] = float(val)


def _own_g_of(todo):
    """The density of law ``n`` of ``todo`` at points ``t`` (rows), ``g(t, n)``, each
    law's rows by its own :meth:`~qtheory.distributions.posterior.PredictionBucket._g`."""

    def g(t, n):
        out = np.empty(t.shape)
        n = np.asarray(n)
        for m in np.unique(n):
            sel = n == m
            out[sel] = todo[int(m)]._g(t[sel])
        return out

    return g


def point_laws(size, prediction, ys) -> list:
    """``[point_law(size, prediction, y) for y in ys]``, the same laws bit for bit, with
    the prediction's densities ``f_Y(y)`` (each law's mass: a quadrature over the noise
    factor, refined a row at a time) computed for all of them together, rows of one
    width at a time (:func:`~qtheory.distributions.posterior.refine_rows`; 114 node laws
    of the Weibull 2 bench row: 35 ms one at a time).

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.distributions.point_posterior import point_law
    >>> size, noise = qt.Weibull(2.0), qt.UniformPrediction(0.5)
    >>> laws = point_laws(size, noise, [0.5, 1.0, 2.0])
    >>> [law.mass for law in laws] == [point_law(size, noise, y).mass for y in (0.5, 1.0, 2.0)]
    True
    """
    from .base import SizeDistribution
    from .point_posterior import PredictionPoint, _check_y, point_law, point_quad
    from .posterior import _check_prediction

    ys = [float(y) for y in ys]
    if not isinstance(size, SizeDistribution) or size.is_discrete:
        return [point_law(size, prediction, y) for y in ys]
    _check_prediction(prediction)
    if prediction.is_exact:
        return [point_law(size, prediction, y) for y in ys]
    laws = []
    for y in ys:
        law = PredictionPoint.__new__(PredictionPoint)
        law.y = _check_y(y)
        law._setup(size, prediction, law.y, law.y, defer_mass=True)
        laws.append(law)
    masses = np.zeros(len(laws))
    zps = [law._zpoints(np.zeros(1), np.full(1, np.inf)) if law._lo < law._hi else None
           for law in laws]
    for width in sorted({z.shape[1] for z in zps if z is not None}):
        idx = [i for i, z in enumerate(zps) if z is not None and z.shape[1] == width]
        zp = np.concatenate([zps[i] for i in idx])
        yv = np.array([laws[i].y for i in idx])
        c, d = np.zeros(yv.size), np.full(yv.size, np.inf)
        out, err = refine_rows(
            lambda r, level, zp=zp, yv=yv, c=c, d=d: point_quad(laws[0], yv[r], 0.0, c[r],
                                                               d[r], zp[r], level), zp)
        for q in range(len(idx)):
            _warn_raw("PredictionPoint", "probability", 0.0, out[q:q + 1], err[q:q + 1])
        masses[idx] = out
    for law, mass in zip(laws, masses):
        try:
            law._set_mass(float(mass))
        except ValueError as exc:
            if "probability 0" not in str(exc):
                raise
            raise ValueError(f"y: the prediction {law.y!r} has density 0 under size={size!r} "
                             f"and prediction={prediction!r}") from None
    return laws


class Family:
    """Point posteriors ``X | Y = y_n`` of one size law (the same object) and prediction
    (an equal one), for computations over all of them at once."""

    def __init__(self, laws):
        self.laws = list(laws)
        self.size, self.prediction = laws[0].size, laws[0].prediction
        self.par = np.array([[law.y, law._lo, law._hi, law._zlo, law._zhi] for law in laws])
        self.mass = np.array([law.mass for law in laws])
        self.tmin = np.array([law._tmin for law in laws])
        self.tmax = np.array([law._tmax for law in laws])
        self.panels = np.array([law._use_panels for law in laws])
        self.neg = np.array([[law._neg_lo, law._neg_hi] for law in laws], dtype=bool)

    def g(self, t: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The density ``f(t) g(y_n / t) / t`` (times the mass) of law ``n[i]`` at the
        points of row ``i`` of ``t``, in blocks of :data:`_BLOCK` points
        (:func:`_family_g`)."""
        out = np.empty(t.shape)
        per = max(1, _BLOCK // max(1, int(np.prod(t.shape[1:]))))
        shape = (-1,) + (1,) * (t.ndim - 1)
        for i in range(0, t.shape[0], per):
            p = self.par[n[i:i + per]]
            out[i:i + per] = _family_g(self.size, self.prediction,
                                       *(p[:, c].reshape(shape) for c in range(5)),
                                       t[i:i + per])
        return out

    def raw(self, idx: np.ndarray, k: float, c: np.ndarray, d: np.ndarray,
            what: str) -> np.ndarray:
        """Law ``idx[i]``'s ``p E[X**k; c[i] < X <= d[i] | y]`` (its
        :meth:`~qtheory.distributions.posterior.PredictionBucket._raw`, bit for bit): the
        quadratures over the noise factor of all rows refined together
        (:func:`~qtheory.distributions.posterior.refine_rows`), rows of one width at a
        time; each law's QuadratureWarning as its own."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.zeros(idx.size)
        err = np.zeros(idx.size)
        rows, zps = [], []
        for m in np.unique(idx):
            sel = np.flatnonzero(idx == m)
            rows.append(sel)
            zps.append(self.laws[m]._zpoints(c[sel], d[sel]))
        widths = np.array([z.shape[1] for z in zps])
        from .point_posterior import point_quad

        for w in np.unique(widths):
            pick = np.flatnonzero(widths == w)
            sel = np.concatenate([rows[q] for q in pick])
            zp = np.concatenate([zps[q] for q in pick])
            y, cs, ds = self.par[idx[sel], 0], c[sel], d[sel]
            o, e = refine_rows(lambda r, level, zp=zp, y=y, cs=cs, ds=ds: point_quad(
                self.laws[0], y[r], k, cs[r], ds[r], zp[r], level), zp)
            out[sel], err[sel] = o, e
        for sel in rows:
            _warn_raw(type(self.laws[0]).__name__, what, k, out[sel], err[sel])
        return out

    def moments_exact(self, k: float, idx: np.ndarray, x: np.ndarray, tail: bool,
                      mom: np.ndarray) -> np.ndarray:
        """Law ``idx[i]``'s :meth:`~qtheory.distributions.posterior.PredictionBucket.
        _moments_exact` at ``x[i]`` (its moment ``mom[i]``), the same steps element by
        element, the quadratures over the noise of all laws' points together
        (:meth:`raw`)."""
        idx = np.asarray(idx, dtype=np.int64)
        x = np.asarray(x, dtype=float)
        mom = np.asarray(mom, dtype=float)
        lo, hi = self.par[idx, 1], self.par[idx, 2]
        below = ~(x > lo)
        above = ~(x < hi)
        inside = ~(below | above) & ~np.isnan(x)
        out = np.empty(x.shape)
        out[below] = mom[below] if tail else 0.0
        out[above] = 0.0 if tail else mom[above]
        if tail:  # (a divergent moment diverges beyond every x)
            div = inside & ~np.isfinite(mom)
            out[div] = mom[div]
            inside &= ~div
        raw = np.zeros(x.shape)
        fast = inside & self.panels[idx] & (x >= self.tmin[idx]) & (x < self.tmax[idx])
        # (beyond a trimmed end: the whole moment, posterior._trimmed)
        whole = inside & ((x < self.tmin[idx]) & self.neg[idx, 0] if tail
                          else (x >= self.tmax[idx]) & self.neg[idx, 1])
        raw[whole] = self.mass[idx[whole]] * mom[whole]
        for m in np.unique(idx[fast]):
            sel = np.flatnonzero(fast & (idx == m))
            raw[sel] = self.laws[m]._panel_values(k, np.ascontiguousarray(x[sel]), tail)
        slow = inside & ~fast & ~whole  # (no flat window below t_min: g(y/x)/x)
        high = slow & (x >= self.tmax[idx]) & np.isfinite(mom)
        if high.any():
            at = np.flatnonzero(high)
            gone = self.laws[0]._parent_tail_gone(k, x[at])
            raw[at[gone]] = 0.0 if tail else self.mass[idx[at[gone]]] * mom[at[gone]]
            slow[at[gone]] = False
        if slow.any():
            at = np.flatnonzero(slow)
            xs = x[at]
            if tail:
                raw[at] = self.raw(idx[at], k, xs, np.full(xs.shape, np.inf), "tail moment")
            else:
                raw[at] = self.raw(idx[at], k, np.zeros(xs.shape), xs, "partial moment")
        ins = np.flatnonzero(inside)
        out[ins] = raw[ins] / self.mass[idx[ins]]
        fin = ins[np.isfinite(mom[ins])]
        out[fin] = np.minimum(out[fin], mom[fin])
        return out

    def pdf_exact(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Law ``idx[i]``'s :meth:`PredictionPoint._pdf_exact
        <qtheory.distributions.point_posterior.PredictionPoint._pdf_exact>` at ``x[i]``
        (1-D arrays), the same steps element by element."""
        p = self.par[idx]
        g = _family_g(self.size, self.prediction, p[:, 0], p[:, 1], p[:, 2], p[:, 3],
                      p[:, 4], np.asarray(x, dtype=float))
        return np.where(np.isnan(x), np.nan, g / self.mass[idx])


def family_of(laws):
    """A :class:`Family` of ``laws`` where they are all point posteriors of one size law
    (the same object) and prediction (an equal one), with their masses; else ``None``.

    Examples
    --------
    >>> import qtheory as qt
    >>> laws = point_laws(qt.Weibull(2.0), qt.UniformPrediction(0.5), [0.5, 1.0])
    >>> family_of(laws).pdf_exact(np.array([1, 0]), np.array([1.0, 0.5])).round(6).tolist()
    [1.216964, 1.830596]
    """
    from .point_posterior import PredictionPoint

    laws = list(laws)
    if not laws or not all(type(law) is PredictionPoint for law in laws):
        return None
    first = laws[0]
    if any(law.size is not first.size or law.prediction != first.prediction for law in laws):
        return None
    return Family(laws)
