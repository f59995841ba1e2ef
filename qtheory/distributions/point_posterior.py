r"""The size law given the prediction itself: ``X | Y = y`` for ``Y = X Z``.

For a multiplicative prediction model ``Y = X Z`` (the noise factor ``Z`` has density ``g``,
cdf ``G``, and is independent of the size ``X``, with density ``f``), the prediction has the
conditional density ``h(y | x) = g(y / x) / x`` and the posterior law of ``X`` given
``Y = y`` has the density (Bayes' rule)

    f(x | y) = f(x) g(y / x) / (x f_Y(y)),    f_Y(y) = int f(x) g(y / x) / x dx.

Truncated moments are computed by the two methods of
:class:`~qtheory.distributions.posterior.PredictionBucket`, with the bucket's window
``w(x) = P(low < x Z <= high)`` replaced by the conditional density ``g(y / x) / x``:

*over the size* (the fast path): panels of ``int t**k f(t) g(y / t) / t dt``, cut once per
law until a 16-point Gauss-Legendre rule on a panel and on its halves agree to ``1e-14``;

*over the noise factor* (the density ``f_Y(y)``, the moments, the parts outside the panel
range): substituting ``x = y / z``,

    f_Y(y) E[X**k; c < X <= d | Y = y] = int_{y/d}^{y/c} (y / z)**k f(y / z) / z dG(z),

integrated with the nested tanh-sinh rule in probability space ``u = G(z)``, split at
``y / x_b`` for the size law's breakpoints and median ``x_b`` and at the noise law's
breakpoints, raised in level until two successive levels agree to ``1e-12``.

This is the posterior of the size given a continuous prediction: the classes of
:class:`qtheory.policies.GittinsPosterior` (one per quadrature node ``y_j`` of the
prediction's quantile) are ranked by the Gittins rank of these laws. :func:`point_law`
returns the right law for any input: :class:`~qtheory.distributions.discrete.Deterministic`
``(y)`` for exact predictions, a :class:`~qtheory.distributions.discrete.Discrete` law (atoms
``x_i`` with masses proportional to ``p_i g(y / x_i) / x_i``) for a size law with atoms,
:class:`PredictionPoint` otherwise.

Examples
--------
Exponential sizes and exponential predictions: ``f(x | y)`` is proportional to
``exp(-x - y/x) / x``, and ``int x**(v-1) exp(-x - y/x) dx = 2 y**(v/2) K_v(2 sqrt(y))``, so
``f_Y(y) = 2 K_0(2 sqrt(y))`` and the posterior mean is
``sqrt(y) K_1(2 sqrt(y)) / K_0(2 sqrt(y))``.

>>> import numpy as np
>>> import qtheory as qt
>>> from scipy.special import kv
>>> law = PredictionPoint(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 1.0)
>>> bool(abs(law.mass - 2 * kv(0, 2.0)) < 1e-14)
True
>>> bool(abs(law.mean - kv(1, 2.0) / kv(0, 2.0)) < 1e-13)
True
>>> point_law(qt.Exponential(mean=1.0), qt.ExactPrediction(), 2.0)
Deterministic(value=2.0)
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .base import SizeDistribution, as_generator, check_count, finish
from .discrete import Deterministic
from .posterior import PredictionBucket, _check_prediction, reweighted_atoms

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..predictions import PredictionModel

__all__ = ["PredictionPoint", "point_law"]


def _check_y(y) -> float:
    if isinstance(y, bool) or not isinstance(y, numbers.Real) or not (np.isfinite(y) and y > 0):
        raise ValueError(f"y must be a finite prediction > 0, got {y!r}")
    return float(y)


def _density_weight(prediction: PredictionModel, y: float, x: np.ndarray,
                    z_range: tuple[float, float] | None = None) -> np.ndarray:
    """``g(y / x) / x`` for ``x > 0`` (array): the density of ``Y`` at ``y`` given ``X = x``;
    with ``z_range``, ``y / x`` put back into that range first (see
    :meth:`PredictionPoint._weight`)."""
    with np.errstate(all="ignore"):
        z = y / x if z_range is None else np.clip(y / x, *z_range)
        out = np.asarray(prediction.noise_pdf(z), dtype=float) / x
    return np.where(np.isfinite(out) & (out > 0), out, 0.0)


def point_law(size: SizeDistribution, prediction: PredictionModel, y: float) -> SizeDistribution:
    """The law of the size ``X`` given that its prediction is ``Y = y``.

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size.
    prediction : PredictionModel
        A multiplicative prediction model ``Y = X Z`` (general conditional laws are refused).
    y : float
        The prediction, ``> 0``; it must have positive density.

    Returns
    -------
    SizeDistribution
        :class:`~qtheory.distributions.discrete.Deterministic` ``(y)`` for exact predictions;
        a :class:`~qtheory.distributions.discrete.Discrete` law for a size law with atoms
        (atoms ``x_i`` with masses proportional to ``p_i g(y / x_i) / x_i``);
        a :class:`PredictionPoint` otherwise.

    Examples
    --------
    >>> import qtheory as qt
    >>> d = point_law(qt.Discrete([1.0, 2.0], [0.5, 0.5]), qt.UniformPrediction(0.5), 1.2)
    >>> d.atoms      # g(1.2) / 1 = 1 and g(0.6) / 2 = 0.5 (g = 1 on [0.5, 1.5])
    (array([1., 2.]), array([0.66666667, 0.33333333]))
    """
    if not isinstance(size, SizeDistribution):
        raise ValueError(f"size must be a SizeDistribution, got {size!r}")
    _check_prediction(prediction)
    y = _check_y(y)
    if prediction.is_exact:
        return Deterministic(y)
    if size.is_discrete:
        return reweighted_atoms(size, lambda v: _density_weight(prediction, y, v),
                                f"y: the prediction {y!r} has density 0 under size={size!r} "
                                f"and prediction={prediction!r}")
    return PredictionPoint(size, prediction, y)


def point_quad(law, y, k: float, c: np.ndarray, d: np.ndarray, zp: np.ndarray, level: int):
    """``(value, nested estimate, difference from the rule at half the nodes)`` of
    ``E_Z[f(y / Z) (y / Z)**k / Z; c < y / Z <= d]`` over the pieces of the rows of ``zp``
    by the tanh-sinh rule at ``level`` (:meth:`PredictionPoint._quad`; ``y`` a number, or
    one a row for the point posteriors of one size law and prediction together, ``law``
    any of them: the nodes depend on the prediction only)."""
    from ..analysis.quadrature import nested_sum

    zn, w, rule = law._nodes(zp, level)
    pieces = zp.shape[1] - 1
    y = np.asarray(y, dtype=float)
    if y.ndim:
        y = y[:, None]
    with np.errstate(all="ignore"):
        zn = np.clip(np.where(np.isnan(zn), 1.0, zn), np.finfo(float).tiny,
                     np.finfo(float).max)
        x = y / zn
        sel = (x > c[:, None]) & (x <= d[:, None]) & (w > 0)
        f = np.asarray(law.size.pdf(np.where(sel, x, 1.0)), dtype=float)
        vals = f * (x**k if k else 1.0) / zn
        prod = np.where(sel & np.isfinite(vals), vals * w, 0.0)
    coarse = np.tile(rule.coarse, pieces)
    coarse4 = np.tile(rule.coarse4, pieces)
    with np.errstate(all="ignore"):
        fine, est, half = nested_sum(prod, coarse, coarse4, with_coarse=True)
        return fine, est, np.abs(fine - half)


class PredictionPoint(PredictionBucket):
    """The law of a continuous size ``X`` given ``Y = y`` for ``Y = X Z``.

    Formulas and numerical method in the module docstring; the interface and accuracy are
    those of :class:`~qtheory.distributions.posterior.PredictionBucket` (truncated moments to
    about ``1e-14`` relative, the density closed form up to the constant ``f_Y(y)``).

    Parameters
    ----------
    size : SizeDistribution
        The law of the true size; continuous (for laws with atoms use :func:`point_law`).
    prediction : PredictionModel
        Multiplicative, with a continuous noise factor (for exact predictions use
        :func:`point_law`, which returns ``Deterministic(y)``).
    y : float
        The prediction, ``> 0``, with positive density ``f_Y(y)``.

    Attributes
    ----------
    mass : float
        ``f_Y(y)``, the density of the prediction at ``y``.

    Examples
    --------
    >>> import qtheory as qt
    >>> law = PredictionPoint(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), 1.0)
    >>> law.support                     # y / Z with Z in [0.5, 1.5]
    (0.6666666666666666, 2.0)
    >>> round(float(law.cdf(1.0) + law.sf(1.0)), 14)
    1.0
    """

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, y: float):
        if not isinstance(size, SizeDistribution):
            raise ValueError(f"size must be a SizeDistribution, got {size!r}")
        _check_prediction(prediction)
        if prediction.is_exact:
            raise ValueError("prediction: exact predictions give Deterministic(y); use point_law")
        if size.is_discrete:
            raise ValueError("size: a law with atoms gives a Discrete posterior; use point_law")
        y = _check_y(y)
        self.y = y
        try:
            self._setup(size, prediction, y, y)
        except ValueError as exc:
            if "probability 0" not in str(exc):
                raise
            raise ValueError(f"y: the prediction {y!r} has density 0 under size={size!r} and "
                             f"prediction={prediction!r}") from None

    # The bucket's machinery with the window replaced by the conditional density; the
    # bounds (low, high) of the parent are both y, so its support y / z_max .. y / z_min,
    # the z split points y / x_b and the breakpoints y / z_b are the point's.
    def _zpoints(self, c: np.ndarray, d: np.ndarray):
        y = self.y
        n = c.size
        with np.errstate(divide="ignore", invalid="ignore"):
            zfrom = np.maximum(y / d, self._zlo)
            zto = np.minimum(y / c, self._zhi)
        zfrom = np.where(np.isnan(zfrom), self._zlo, zfrom)
        zto = np.where(np.isnan(zto), self._zhi, zto)
        from ..analysis.quadrature import inner_points

        z = inner_points(np.broadcast_to(self._zfixed, (n, self._zfixed.size)),
                         zfrom[:, None], zto[:, None])
        z = np.where(np.isfinite(z), z, zto[:, None])
        return np.concatenate([zfrom[:, None], z, zto[:, None]], axis=1)

    def _quad(self, k: float, c: np.ndarray, d: np.ndarray, zp: np.ndarray, level: int):
        return point_quad(self, self.y, k, c, d, zp, level)

    def _weight(self, x: np.ndarray) -> np.ndarray:
        """``g(y / x) / x`` at points ``x`` (1-D), 0 outside the support ``[y / z_max,
        y / z_min]``. Inside it ``y / x`` is in the noise factor's support, and is put back
        there where rounding takes it out: at the lower end ``y / (y / z_max)`` can round
        above ``z_max``, where the density of a uniform factor is 0, and the law's density
        there was 0 instead of its right limit (exponential sizes, uniform noise 0.5229,
        ``y = 3.2798``: ``1 / hazard`` was inf at the end of a rank piece, which came out NaN,
        and Gittins on the posterior with 64 nodes raised a ``ValueError``)."""
        inside = (x >= self._lo) & (x <= self._hi) & (x > 0)
        w = _density_weight(self.prediction, self.y, np.where(inside, x, 1.0),
                            (self._zlo, self._zhi))
        return np.where(inside, w, 0.0)

    def _g(self, t: np.ndarray) -> np.ndarray:
        flat = t.ravel()
        w = self._weight(flat)
        with np.errstate(all="ignore"):
            f = np.asarray(self.size.pdf(flat), dtype=float)
            out = np.where(w > 0, f * w, 0.0)
        return np.where(np.isfinite(out), out, 0.0).reshape(t.shape)

    def _pdf_exact(self, x: ArrayLike):
        """Density ``f(x) g(y / x) / (x f_Y(y))`` (closed form up to ``f_Y(y)``), vectorised;
        :meth:`pdf` takes it from tables of this function on the panels.

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionPoint(qt.Exponential(mean=1.0), qt.ExponentialPrediction(), 1.0)
        >>> from scipy.integrate import quad
        >>> round(quad(law._pdf_exact, 0, np.inf)[0], 10)
        1.0
        """
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        inside = (flat >= self._lo) & (flat <= self._hi) & (flat > 0)
        out = np.zeros(flat.shape)
        if np.any(inside):
            xi = flat[inside]
            w = self._weight(xi)
            with np.errstate(invalid="ignore"):
                f = np.asarray(self.size.pdf(xi), dtype=float)
                out[inside] = np.where(w > 0, f * w, 0.0) / self.mass
        return finish(out.reshape(x.shape), x)

    def sample(self, n: int, rng: int | np.random.Generator) -> np.ndarray:
        """``n`` draws by inversion: ``u`` uniform, then the ``x`` with ``cdf(x) = u`` by a
        vectorised bisection in ``log x`` (to the resolution of the cdf, about ``1e-14``).

        Examples
        --------
        >>> import qtheory as qt
        >>> law = PredictionPoint(qt.Exponential(mean=1.0), qt.UniformPrediction(0.5), 1.0)
        >>> x = law.sample(1000, rng=1)
        >>> bool(x.min() >= law.support[0] and x.max() <= law.support[1])
        True
        """
        n = check_count(n)
        gen = as_generator(rng)
        u = gen.random(n)
        med = float(self.scale)
        lo = np.full(n, self._lo if self._lo > 0 else med * 2.0**-_SAMPLE_SPAN)
        hi = np.full(n, self._hi if np.isfinite(self._hi) else med * 2.0**_SAMPLE_SPAN)
        for _ in range(_SAMPLE_STEPS):
            mid = np.sqrt(lo * hi)
            below = np.asarray(self.cdf(mid), dtype=float) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
            if np.all(hi <= lo * (1.0 + 4e-16)):
                break
        return np.sqrt(lo * hi)

    # ------------------------------------------------------------------ mpmath
    def _mp_w(self, x):
        from mpmath import mp

        if x <= 0:
            return mp.zero
        return self.prediction.noise_mp_pdf(self.y / x) / x

    def _params(self) -> dict:
        return {"size": self.size, "prediction": self.prediction, "y": self.y}


_SAMPLE_SPAN = 60  # bisection range for an unbounded support: median * 2**-60 .. 2**60
_SAMPLE_STEPS = 200

