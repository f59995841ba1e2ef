"""Prediction models: the joint law of a job's true size X and its prediction Y.

All built-in models are *multiplicative*: ``Y = X * Z`` with a noise factor Z
independent of X. This covers the models of Mitzenmacher (ITCS 2020,
arXiv:1902.00732): exponential predictions (``Y | X=x ~ Exp(mean x)``, i.e.
``Z ~ Exp(1)``) and uniform predictions (``Y | X=x ~ U[(1-a)x, (1+a)x]``, i.e.
``Z ~ U[1-a, 1+a]``), as well as log-normal noise with median x and any
user-supplied noise law (:class:`MultiplicativePrediction`). Independence of Z
turns every double integral over (X, Y) into an integral over Z of closed-form
partial moments of X, which is what makes the quadrature engine fast.

A model gives the conditional law (``conditional_cdf``, ``conditional_pdf``),
the joint density (``joint_pdf``), the marginal of Y and the load of jobs
predicted below y (``rho_prime``), and joint sampling (``sample``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

from .distributions.base import SizeDistribution, as_generator, check_positive

_MARGINAL_RTOL = 1e-13  # marginal_pdf / marginal_cdf: target relative error estimate
_MARGINAL_MAX_LEVEL = 8  # highest tanh-sinh level tried
_MARGINAL_WARN = 1e-10  # relative error estimate above which a QuadratureWarning is issued

__all__ = [
    "IntervalPrediction",
    "PredictionModel",
    "ExactPrediction",
    "ExponentialPrediction",
    "UniformPrediction",
    "LognormalPrediction",
    "MultiplicativePrediction",
    "ConditionalPrediction",
    "MultiPrediction",
]


class PredictionModel:
    """Base class: ``Y = X * Z`` with noise Z independent of the size X.

    Subclasses implement the law of Z: ``noise_cdf``, ``noise_sf``,
    ``noise_pdf``, ``noise_ppf``, ``noise_isf``, ``noise_support``,
    ``noise_breakpoints``, ``noise_partial_moment`` (E[Z**j; Z <= z]) and the
    mpmath ``noise_mp_cdf``/``noise_mp_pdf``.
    """

    #: True when Z is the constant 1 (perfect predictions).
    is_exact: bool = False
    #: True for a general conditional law that is not of the form Y = X * Z.
    is_general: bool = False

    # ---- law of the noise factor Z -------------------------------------------------
    noise_support: tuple[float, float] = (0.0, np.inf)
    noise_breakpoints: tuple[float, ...] = ()
    #: The power ``beta > 0`` of the noise factor's law at 0: ``P(Z <= z)`` of exact order
    #: ``z**beta`` and its density of order ``z**(beta - 1)`` as ``z -> 0``; ``inf`` when
    #: ``Z`` is bounded away from 0 (or its law vanishes there faster than any power);
    #: ``None`` when unknown. It decides which conditional moments diverge: given
    #: ``Y = y`` or ``Y`` in a bounded bucket, ``E[X**k | Y]`` is infinite exactly when
    #: ``E[X**(k - beta)]`` is (the likelihood of a large size decays like ``x**-beta``).
    noise_power_at_zero: float | None = None

    def noise_cdf(self, z):  # pragma: no cover - abstract
        """P(Z <= z), vectorised."""
        raise NotImplementedError

    def noise_sf(self, z):  # pragma: no cover - abstract
        """P(Z > z), computed without cancellation."""
        raise NotImplementedError

    def noise_pdf(self, z):  # pragma: no cover - abstract
        """Density of Z."""
        raise NotImplementedError

    def noise_ppf(self, u):  # pragma: no cover - abstract
        """Quantile function of Z."""
        raise NotImplementedError

    def noise_isf(self, u):  # pragma: no cover - abstract
        """Inverse survival function of Z (accurate for small u)."""
        raise NotImplementedError

    def noise_partial_moment(self, j: int, z):  # pragma: no cover - abstract
        """E[Z**j; Z <= z]."""
        raise NotImplementedError

    def noise_sample(self, n: int, rng: np.random.Generator):  # pragma: no cover
        """``n`` draws of Z from the Generator ``rng``."""
        raise NotImplementedError

    def noise_mp_cdf(self, z):  # pragma: no cover - abstract
        """P(Z <= z) on mpmath numbers."""
        raise NotImplementedError

    def noise_mp_pdf(self, z):  # pragma: no cover - abstract
        """Density of Z on mpmath numbers."""
        raise NotImplementedError

    @property
    def noise_median(self) -> float:
        """Median of Z."""
        return float(self.noise_ppf(0.5))

    def noise_shortfall(self) -> float:
        """E[(1 - Z)+], so that E[(X - Y)+] = E[X] * E[(1 - Z)+]."""
        lo = self.noise_support[0]
        if lo >= 1.0:
            return 0.0
        # E[(1-Z); Z<=1] = P(Z<=1) - E[Z; Z<=1]
        return float(self.noise_cdf(1.0) - self.noise_partial_moment(1, 1.0))

    def noise_window_square(self, a):
        """E[(1 + a - Z)**2; a < Z < 1 + a] for ``a >= 0`` (vectorised)."""
        a = np.asarray(a, dtype=float)
        b = 1.0 + a
        m = [self.noise_partial_moment(j, b) - self.noise_partial_moment(j, a) for j in range(3)]
        return np.maximum(b * b * m[0] - 2.0 * b * m[1] + m[2], 0.0)

    # ---- joint law -------------------------------------------------------------------
    def conditional_cdf(self, y, x):
        """P(Y <= y | X = x)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.noise_cdf(y / x)

    def conditional_pdf(self, y, x):
        """Density of Y at y given X = x."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.noise_pdf(y / x) / x

    def joint_pdf(self, x, y, size: SizeDistribution):
        """Joint density g(x, y) = f(x) * conditional_pdf(y | x)."""
        return size.pdf(x) * self.conditional_pdf(y, x)

    def marginal_pdf(self, y, size: SizeDistribution):
        """Density of the prediction Y, by tanh-sinh quadrature over Z (the level raised per
        point, from 3, until two successive levels and the nested error estimate agree to
        ``1e-13`` relative, up to level 8; a :class:`~qtheory.QuadratureWarning` gives the
        error reached when it is above ``1e-10``).

        Examples
        --------
        Exponential sizes and predictions: ``f_Y(y) = 2 K_0(2 sqrt(y))``, a logarithmic
        singularity at 0.

        >>> import qtheory as qt
        >>> from scipy.special import kv
        >>> y = np.array([1e-8, 1e-4, 1.0])
        >>> f = ExponentialPrediction().marginal_pdf(y, qt.Exponential(mean=1.0))
        >>> bool(np.all(np.abs(f / (2 * kv(0, 2 * np.sqrt(y))) - 1) < 1e-13))
        True
        """
        return self._marginal(y, size, "fy")

    def marginal_cdf(self, y, size: SizeDistribution):
        """P(Y <= y), computed as :meth:`marginal_pdf` is."""
        return self._marginal(y, size, "Fy")

    def marginal_ppf(self, u, size: SizeDistribution) -> np.ndarray | float:
        """Quantiles ``F_Y^{-1}(u)`` of the prediction for ``0 < u < 1`` (any shape; a float for a
        scalar, as :meth:`marginal_cdf` gives), to a few ulps: a bracket from the size law's median
        widened by factors 2, 4, 16, ... (up to ``2**64``), then Illinois false position with
        bisection safeguards (:func:`~qtheory.analysis.agerank._bracket_solve`) on
        :meth:`marginal_cdf`, or a bisection in ``log y`` on the size law's cdf for exact
        predictions and sizes with atoms (a cdf that jumps). The 64 quantiles of
        ``GittinsPosterior(nodes=64)``'s rule take 43-69 calls of the cdf (64-100 with the doubling
        and bisection used before; each call a quadrature over the noise for every point).
        Quadrature warnings at the far points of the search are dropped; the cdf at the quantiles
        found warns as usual.

        Examples
        --------
        >>> import qtheory as qt
        >>> y = ExactPrediction().marginal_ppf([0.5], qt.Exponential(mean=1.0))
        >>> bool(abs(y[0] - np.log(2.0)) < 1e-14)
        True
        >>> round(ExactPrediction().marginal_ppf(0.5, qt.Exponential(mean=1.0)), 14)
        0.69314718055995
        """
        shape = np.shape(u)
        u = np.asarray(u, dtype=float).ravel()
        if np.any(~(u > 0) | ~(u < 1)):
            raise ValueError(f"u must lie in (0, 1), got {u!r}")

        def cdf(t):
            if self.is_exact:  # also for atoms, where marginal_cdf refuses exact predictions
                return np.asarray(size.cdf(t), dtype=float)
            return np.asarray(self.marginal_cdf(t, size), dtype=float)

        from ._warnings import QuadratureWarning

        med = float(size.scale) if np.isfinite(size.scale) and size.scale > 0 else 1.0
        with warnings.catch_warnings():  # far points of the search (the result is checked)
            warnings.simplefilter("ignore", QuadratureWarning)
            y = self._ppf_search(u, cdf, med, size)
        cdf(y)  # warns where the cdf at the quantiles themselves is not accurate
        return float(y[0]) if shape == () else y.reshape(shape)

    def _ppf_search(self, u, cdf, med, size):
        """The bracket and solver of :meth:`marginal_ppf`."""
        lo, hi = np.full(u.shape, med), np.full(u.shape, med)
        step = 1.0  # widen by 2**step, the step doubling up to 64 (far quantiles in a few calls)
        for _ in range(1100):  # until the bracket holds every u
            low_bad = cdf(lo) >= u
            high_bad = cdf(hi) < u
            if not (np.any(low_bad) or np.any(high_bad)):
                break
            lo = np.where(low_bad, np.maximum(lo * 2.0**-step, 1e-300), lo)
            hi = np.where(high_bad, np.minimum(hi * 2.0**step, 1e300), hi)
            step = min(2.0 * step, 64.0)
        if self.is_exact or size.is_discrete:  # a cdf that may jump: bisection
            for _ in range(200):
                mid = np.sqrt(lo * hi)
                below = cdf(mid) < u
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
                if np.all(hi <= lo * (1.0 + 4.0 * np.finfo(float).eps)):
                    break
            return hi
        from .analysis.agerank import _bracket_solve  # a continuous cdf

        return _bracket_solve(cdf, lo, hi, u, True)

    def _marginal(self, y, size: SizeDistribution, what: str):
        from ._warnings import QuadratureWarning
        from .analysis.joint import JointIntegrals

        y = np.asarray(y, float)
        flat = y.ravel()
        if self.is_exact and size.is_discrete and what == "Fy":
            # Y = X: the size law's cdf, a step function (which has no density to integrate)
            return np.asarray(size.cdf(flat), dtype=float).reshape(y.shape)
        joint = JointIntegrals(size, self)
        out = np.array(joint.evaluate(flat, (what,))[what], dtype=float)
        if self.is_exact or size.is_discrete or getattr(self, "is_general", False):
            return out.reshape(y.shape)  # closed forms and finite sums
        rows = np.arange(flat.size)
        while True:  # the next level, on the rows that have not converged
            joint = JointIntegrals(size, self, level=joint.level + 1)
            new = np.asarray(joint.evaluate(flat[rows], (what,))[what], dtype=float)
            err = np.maximum(np.abs(new - out[rows]), joint.last_error[what])
            out[rows] = new
            bad = ~(err <= _MARGINAL_RTOL * np.abs(new) + 1e-300)
            if not np.any(bad) or joint.level >= _MARGINAL_MAX_LEVEL:
                break
            rows = rows[bad]
        worst = float(np.max(err[bad] / np.maximum(np.abs(new[bad]), 1e-300), initial=0.0))
        if worst > _MARGINAL_WARN:
            warnings.warn(f"{type(self).__name__}: the marginal {what} of the prediction "
                          f"reached a relative error of {worst:.1e} (quadrature over the noise)",
                          QuadratureWarning, stacklevel=3)
        return out.reshape(y.shape)

    def rho_prime(self, y, size: SizeDistribution, arrival_rate: float):
        """rho'_y = lambda E[X; Y <= y], the load of jobs predicted at most y."""
        from .analysis.joint import JointIntegrals

        lam = check_positive("arrival_rate", arrival_rate)
        return lam * JointIntegrals(size, self).evaluate(np.asarray(y, float), ("L",))["L"]

    def sample(self, size: SizeDistribution, n: int, rng):
        """Draw ``n`` pairs (x, y) from the joint law.

        Examples
        --------
        >>> from qtheory import Exponential
        >>> x, y = UniformPrediction(alpha=0.5).sample(Exponential(mean=1.0), 3, rng=1)
        >>> bool(np.all((y >= 0.5 * x) & (y <= 1.5 * x)))
        True
        """
        gen = as_generator(rng)
        x = size.sample(n, gen)
        return x, x * self.noise_sample(n, gen)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {}

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._params().items()))))


class ExactPrediction(PredictionModel):
    """Perfect predictions: Y = X.

    Examples
    --------
    >>> float(ExactPrediction().conditional_cdf(1.0, 2.0))
    0.0
    """

    is_exact = True
    noise_support = (1.0, 1.0)
    noise_breakpoints = (1.0,)
    noise_power_at_zero = np.inf

    def noise_cdf(self, z):
        return np.where(np.asarray(z, float) >= 1.0, 1.0, 0.0)[()]

    def noise_sf(self, z):
        return np.where(np.asarray(z, float) >= 1.0, 0.0, 1.0)[()]

    def noise_pdf(self, z):
        raise TypeError("ExactPrediction has no density: Y = X exactly")

    def noise_ppf(self, u):
        return np.ones_like(np.asarray(u, float))[()]

    noise_isf = noise_ppf

    def noise_partial_moment(self, j, z):
        return self.noise_cdf(z)

    def noise_sample(self, n, rng):
        return np.ones(n)

    def noise_mp_cdf(self, z):
        return 1 if z >= 1 else 0

    def noise_mp_pdf(self, z):
        raise TypeError("ExactPrediction has no density")

    def noise_shortfall(self) -> float:
        return 0.0


class ExponentialPrediction(PredictionModel):
    """Exponential predictions: Y | X=x ~ Exponential with mean x.

    The model of Mitzenmacher, "Scheduling with Predictions and the Price of
    Misprediction", ITCS 2020, Section 4.

    Examples
    --------
    >>> round(float(ExponentialPrediction().conditional_cdf(1.0, 1.0)), 6)
    0.632121
    """

    noise_support = (0.0, np.inf)
    noise_power_at_zero = 1.0  # P(Z <= z) = 1 - exp(-z) ~ z

    def noise_cdf(self, z):
        z = np.maximum(np.asarray(z, float), 0.0)
        return -np.expm1(-z)

    def noise_sf(self, z):
        z = np.maximum(np.asarray(z, float), 0.0)
        return np.exp(-z)

    def noise_pdf(self, z):
        z = np.asarray(z, float)
        return np.where(z >= 0, np.exp(-np.abs(z)), 0.0)

    def noise_ppf(self, u):
        return -np.log1p(-np.asarray(u, float))

    def noise_isf(self, u):
        return -np.log(np.asarray(u, float))

    def noise_partial_moment(self, j, z):
        z = np.maximum(np.asarray(z, float), 0.0)
        return special.gamma(j + 1) * special.gammainc(j + 1, z)

    def noise_window_square(self, a):
        # integral_0^1 (1-w)^2 e^{-(a+w)} dw = e^{-a} (1 - 2/e), exact and stable
        return np.exp(-np.asarray(a, float)) * (1.0 - 2.0 / np.e)

    def noise_shortfall(self) -> float:
        return float(np.exp(-1.0))

    def noise_sample(self, n, rng):
        return rng.exponential(1.0, n)

    def noise_mp_cdf(self, z):
        import mpmath as mp

        return -mp.expm1(-z) if z > 0 else mp.mpf(0)

    def noise_mp_pdf(self, z):
        import mpmath as mp

        return mp.exp(-z) if z >= 0 else mp.mpf(0)


class IntervalPrediction(PredictionModel):
    """Multiplicative error in a band: Y | X=x ~ U[beta x, alpha x], 0 <= beta < alpha.

    The estimate model of Z. Scully, I. Grosof and M. Mitzenmacher, "Uniform
    Bounds for Scheduling with Job Size Estimates", ITCS 2022 (arXiv:2110.00633):
    a job of size s has an estimate in [beta s, alpha s]; here the estimate is
    uniform on that band (their bounds hold for any law on it).

    Examples
    --------
    >>> float(IntervalPrediction(beta=0.5, alpha=2.0).conditional_cdf(1.0, 1.0))
    0.3333333333333333
    """

    def __init__(self, beta: float, alpha: float):
        b = check_positive("beta", beta, allow_zero=True)
        a = check_positive("alpha", alpha)
        if not a > b:
            raise ValueError(f"beta must be < alpha, got beta={beta!r}, alpha={alpha!r}")
        self.beta, self.alpha_hi = b, a
        self.noise_support = (b, a)
        self.noise_breakpoints = tuple(p for p in (b, a) if p > 0)
        self.noise_power_at_zero = np.inf if b > 0 else 1.0  # uniform on [0, a]: z / a

    def _params(self):
        return {"beta": self.beta, "alpha": self.alpha_hi}

    def noise_cdf(self, z):
        lo, hi = self.noise_support
        return np.clip((np.asarray(z, float) - lo) / (hi - lo), 0.0, 1.0)

    def noise_sf(self, z):
        lo, hi = self.noise_support
        return np.clip((hi - np.asarray(z, float)) / (hi - lo), 0.0, 1.0)

    def noise_pdf(self, z):
        lo, hi = self.noise_support
        z = np.asarray(z, float)
        return np.where((z >= lo) & (z <= hi), 1.0 / (hi - lo), 0.0)

    def noise_ppf(self, u):
        lo, hi = self.noise_support
        return lo + (hi - lo) * np.asarray(u, float)

    def noise_isf(self, u):
        lo, hi = self.noise_support
        return hi - (hi - lo) * np.asarray(u, float)

    def noise_partial_moment(self, j, z):
        lo, hi = self.noise_support
        z = np.clip(np.asarray(z, float), lo, hi)
        return (z ** (j + 1) - lo ** (j + 1)) / ((j + 1) * (hi - lo))

    def noise_window_square(self, a):
        # integral over [max(a, lo), min(1+a, hi)] of (1+a-z)^2 / (hi - lo)
        a = np.asarray(a, float)
        lo, hi = self.noise_support
        z0 = np.clip(a, lo, hi)
        z1 = np.clip(1.0 + a, lo, hi)
        return ((1.0 + a - z0) ** 3 - (1.0 + a - z1) ** 3) / (3.0 * (hi - lo))

    def noise_shortfall(self) -> float:
        lo, hi = self.noise_support
        top = min(1.0, hi)
        if lo >= 1.0:
            return 0.0
        return ((1.0 - lo) ** 2 - (1.0 - top) ** 2) / (2.0 * (hi - lo))

    def noise_sample(self, n, rng):
        lo, hi = self.noise_support
        return rng.uniform(lo, hi, n)

    def noise_mp_cdf(self, z):
        import mpmath as mp

        lo, hi = (mp.mpf(v) for v in self.noise_support)
        return min(max((z - lo) / (hi - lo), mp.mpf(0)), mp.mpf(1))

    def noise_mp_pdf(self, z):
        import mpmath as mp

        lo, hi = (mp.mpf(v) for v in self.noise_support)
        return 1 / (hi - lo) if lo <= z <= hi else mp.mpf(0)


class UniformPrediction(IntervalPrediction):
    """Uniform multiplicative error: Y | X=x ~ U[(1 - alpha) x, (1 + alpha) x].

    Mitzenmacher, ITCS 2020, Section 4. ``alpha`` in (0, 1].

    Examples
    --------
    >>> float(UniformPrediction(alpha=0.5).conditional_cdf(1.0, 1.0))
    0.5
    """

    def __init__(self, alpha: float):
        a = check_positive("alpha", alpha)
        if a > 1.0:
            raise ValueError(f"alpha must be in (0, 1] so that predictions are >= 0, got {alpha!r}")
        super().__init__(1.0 - a, 1.0 + a)
        self.alpha = a

    def _params(self):
        return {"alpha": self.alpha}

    def noise_shortfall(self) -> float:
        return self.alpha / 4.0


class LognormalPrediction(PredictionModel):
    """Log-normal multiplicative error with median x: Y = x * exp(sigma * N(0, 1)).

    Examples
    --------
    >>> float(LognormalPrediction(sigma=0.5).conditional_cdf(2.0, 2.0))
    0.5
    """

    #: P(Z <= z) = Phi(log(z) / sigma) vanishes faster than any power of z
    noise_power_at_zero = np.inf

    def __init__(self, sigma: float):
        self.sigma = check_positive("sigma", sigma)

    def _params(self):
        return {"sigma": self.sigma}

    def _logz(self, z):
        z = np.asarray(z, float)
        with np.errstate(divide="ignore"):
            return np.log(np.maximum(z, 0.0)) / self.sigma

    def noise_cdf(self, z):
        return special.ndtr(self._logz(z))

    def noise_sf(self, z):
        return special.ndtr(-self._logz(z))

    def noise_pdf(self, z):
        z = np.asarray(z, float)
        s = self._logz(z)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.exp(-0.5 * s * s) / (np.sqrt(2 * np.pi) * self.sigma * z)
        return np.where(z > 0, out, 0.0)

    def noise_ppf(self, u):
        return np.exp(self.sigma * special.ndtri(np.asarray(u, float)))

    def noise_isf(self, u):
        return np.exp(-self.sigma * special.ndtri(np.asarray(u, float)))

    def noise_partial_moment(self, j, z):
        s = self.sigma
        return np.exp(0.5 * (j * s) ** 2) * special.ndtr(self._logz(z) - j * s)

    def noise_sample(self, n, rng):
        return np.exp(self.sigma * rng.standard_normal(n))

    def noise_mp_cdf(self, z):
        import mpmath as mp

        return mp.ncdf(mp.log(z) / self.sigma) if z > 0 else mp.mpf(0)

    def noise_mp_pdf(self, z):
        import mpmath as mp

        if z <= 0:
            return mp.mpf(0)
        s = mp.mpf(self.sigma)
        return mp.npdf(mp.log(z) / s) / (s * z)


class MultiplicativePrediction(PredictionModel):
    """User-supplied conditional law of the scale form Y | X=x ~ x * Z.

    Give the law of the noise factor Z either as a frozen continuous
    ``scipy.stats`` distribution (``noise``) or as a density (``pdf`` with its
    ``support``). A density is checked to be non-negative and to integrate to 1.

    Parameters
    ----------
    noise : frozen scipy.stats continuous distribution, optional
        Law of Z, with support in [0, inf).
    pdf : callable, optional
        Vectorised density of Z (instead of ``noise``).
    support : (float, float)
        Support of ``pdf`` (default ``(0, inf)``).
    breakpoints : sequence of float, optional
        Points where the density of Z is not smooth (its support ends are added).
    power_at_zero : float, optional
        For a support that starts at 0: the power ``beta > 0`` with ``P(Z <= z)`` of exact
        order ``z**beta`` as ``z -> 0`` (``np.inf``: faster than any power), which says
        which moments of the size given a prediction diverge
        (:attr:`PredictionModel.noise_power_at_zero`). Unknown by default: such moments
        are then computed by quadrature, which warns where it does not converge. A
        support above 0 has ``inf``.

    Examples
    --------
    >>> from scipy import stats
    >>> m = MultiplicativePrediction(stats.gamma(2.0, scale=0.5))
    >>> round(float(m.noise_partial_moment(1, np.inf)), 12)
    1.0
    >>> tri = MultiplicativePrediction(pdf=lambda z: 1 - np.abs(z - 1), support=(0, 2),
    ...                                breakpoints=[1.0])
    >>> round(float(tri.noise_cdf(1.0)), 12)
    0.5
    >>> MultiplicativePrediction(pdf=lambda z: 2 * np.ones_like(z), support=(0, 1))
    Traceback (most recent call last):
    ...
    ValueError: pdf: the noise density integrates to 2, not 1

    Gamma noise of shape 2 has ``P(Z <= z) ~ z**2 / 2``; with Pareto(1.5) sizes the
    second moment of the size given a prediction is finite, the fourth is not:

    >>> import qtheory as qt
    >>> from qtheory.distributions.point_posterior import point_law
    >>> g2 = MultiplicativePrediction(stats.gamma(2.0, scale=0.5), power_at_zero=2.0)
    >>> post = point_law(qt.Pareto(alpha=1.5, xm=1.0), g2, 2.0)
    >>> bool(np.isfinite(post.moment(2))), float(post.moment(4))
    (True, inf)
    """

    def __init__(self, noise=None, *, pdf=None, support=(0.0, np.inf), breakpoints=(),
                 power_at_zero: float | None = None):
        if (noise is None) == (pdf is None):
            raise ValueError("give exactly one of noise (a frozen scipy law) and pdf (a density)")
        if noise is not None:
            if not hasattr(noise, "dist") or not isinstance(noise.dist, stats.rv_continuous):
                raise ValueError("noise must be a frozen continuous scipy.stats distribution")
            lo, hi = (float(v) for v in noise.support())
            if lo < 0:
                raise ValueError(f"noise must have support in [0, inf), its lower end is {lo}")
            self._pdf = noise.pdf
        else:
            if not callable(pdf):
                raise ValueError("pdf must be a callable density of the noise factor Z")
            lo, hi = (float(v) for v in support)
            if not (0.0 <= lo < hi) or np.isnan(hi):
                raise ValueError(f"support must satisfy 0 <= low < high, got {support!r}")
            self._pdf = lambda z: np.asarray(pdf(np.asarray(z, float)), dtype=float)
            self.integrate_in_z = True
        self.noise = noise
        self.noise_support = (lo, hi)
        if power_at_zero is not None:
            try:
                beta = float(power_at_zero)
            except (TypeError, ValueError):
                raise ValueError(f"power_at_zero must be a number > 0 or None, got "
                                 f"{power_at_zero!r}") from None
            if not beta > 0:  # (NaN fails too)
                raise ValueError(f"power_at_zero must be > 0, got {power_at_zero!r}")
            if lo > 0 and np.isfinite(beta):
                raise ValueError(f"power_at_zero: the noise support starts at {lo!r} > 0, "
                                 f"so the power at 0 is inf, not {power_at_zero!r}")
            power_at_zero = beta
        self.noise_power_at_zero = np.inf if lo > 0 else power_at_zero
        pts = {float(p) for p in breakpoints} | {p for p in (lo, hi) if 0 < p < np.inf}
        self.noise_breakpoints = tuple(sorted(p for p in pts if lo <= p <= hi))
        if pdf is not None:
            self._check_density()

    def _check_density(self):
        lo, hi = self.noise_support
        probe = np.linspace(lo, hi if np.isfinite(hi) else lo + 50.0, 1001)[1:-1]
        vals = self._pdf(probe)
        if vals.shape != probe.shape:
            raise ValueError("pdf must be vectorised: pdf(array) must return an array "
                             "of the same shape")
        if np.any(~np.isfinite(vals)) or np.any(vals < 0):
            raise ValueError("pdf: the noise density must be finite and >= 0")
        total = self._integral(lambda t: self._pdf(t), np.inf)
        if not abs(total - 1.0) <= 1e-6:
            raise ValueError(f"pdf: the noise density integrates to {total:.6g}, not 1")
        self._total = total

    def _integral(self, fn, upper: float) -> float:
        from scipy import integrate

        lo, hi = self.noise_support
        hi_ = min(upper, hi)
        if hi_ <= lo:
            return 0.0
        edges = [lo, *[p for p in self.noise_breakpoints if lo < p < hi_], hi_]
        total = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            total += integrate.quad(lambda t: float(fn(np.array(t))), a, b,
                                    epsabs=0.0, epsrel=1e-12, limit=200)[0]
        return total

    def _params(self):
        if self.noise is None:
            out = {"pdf": getattr(self._pdf, "__qualname__", "pdf"),
                   "support": self.noise_support}
        else:
            out = {"noise": f"{self.noise.dist.name}{self.noise.args}{self.noise.kwds}"}
        if self.noise_support[0] == 0 and self.noise_power_at_zero is not None:
            out["power_at_zero"] = self.noise_power_at_zero
        return out

    def noise_pdf(self, z):
        z = np.asarray(z, float)
        lo, hi = self.noise_support
        inside = (z >= lo) & (z <= hi)
        return np.where(inside, self._pdf(np.clip(z, lo, hi if np.isfinite(hi) else None)), 0.0)

    def noise_cdf(self, z):
        if self.noise is not None:
            return self.noise.cdf(z)
        return self.noise_partial_moment(0, z)

    def noise_sf(self, z):
        if self.noise is not None:
            return self.noise.sf(z)
        return 1.0 - self.noise_cdf(z)

    def noise_ppf(self, u):
        if self.noise is not None:
            return self.noise.ppf(u)
        return self._sampler().ppf(u)

    def noise_isf(self, u):
        if self.noise is not None:
            return self.noise.isf(u)
        return self._sampler().ppf(1.0 - np.asarray(u, float))

    @property
    def noise_median(self) -> float:
        if self.noise is not None:
            return float(self.noise.median())
        from scipy.optimize import brentq

        lo, hi = self.noise_support
        b = hi if np.isfinite(hi) else max(2.0 * lo, 1.0)
        while not np.isfinite(hi) and self.noise_cdf(b) < 0.5:
            b *= 2.0
        return float(brentq(lambda t: self.noise_cdf(t) - 0.5, lo, b, xtol=1e-14))

    def noise_partial_moment(self, j, z):
        def one(zz):
            return self._integral(lambda t: t**j * self.noise_pdf(t), zz)

        return np.vectorize(one, otypes=[float])(np.asarray(z, float))[()]

    def _sampler(self):
        if getattr(self, "_nip", None) is None:
            from scipy.stats.sampling import NumericalInversePolynomial

            pdf = self.noise_pdf

            class _Dist:
                def pdf(self, z):
                    return pdf(z)

            self._nip = NumericalInversePolynomial(_Dist(), domain=self.noise_support,
                                                   u_resolution=1e-12)
        return self._nip

    def noise_sample(self, n, rng):
        if self.noise is not None:
            return self.noise.rvs(size=n, random_state=rng)
        return self._sampler().rvs(size=n, random_state=rng)

    def noise_mp_cdf(self, z):
        import mpmath as mp

        return mp.mpf(float(self.noise_cdf(float(z))))

    def noise_mp_pdf(self, z):
        import mpmath as mp

        return mp.mpf(float(self.noise_pdf(float(z))))


class ConditionalPrediction(PredictionModel):
    """A general user-supplied conditional law of the prediction: Y | X = x.

    Unlike the multiplicative models, the law of Y given X = x may have any shape
    (additive noise, a bias that depends on x, ...). Give it by its conditional
    cdf and density, both vectorised over arrays ``y`` and ``x`` of one shape.
    The closed-form engine integrates over the size x directly (slower than the
    multiplicative models, which integrate closed-form partial moments); the
    SOAP engine and the mpmath method need a multiplicative model.

    Parameters
    ----------
    cdf : callable
        ``cdf(y, x) = P(Y <= y | X = x)`` for ``y >= 0``.
    pdf : callable
        ``pdf(y, x)``, the conditional density of Y at y.
    breakpoints : callable, optional
        ``breakpoints(x)`` -> sequence of arrays: points in y (for each x) where
        the density has kinks or jumps (e.g. support ends).
    check_at : sequence of float
        Sizes x at which the density is checked to be >= 0, to integrate to 1
        and to agree with ``cdf``; a ``ValueError`` naming ``pdf`` or ``cdf`` is
        raised otherwise.

    Examples
    --------
    Additive uniform noise, Y | X = x ~ U[x, x + 1]:

    >>> m = ConditionalPrediction(
    ...     cdf=lambda y, x: np.clip(y - x, 0.0, 1.0),
    ...     pdf=lambda y, x: ((y >= x) & (y <= x + 1)).astype(float),
    ...     breakpoints=lambda x: (x, x + 1.0))
    >>> float(m.conditional_cdf(2.5, 2.0))
    0.5
    """

    is_general = True

    def __init__(self, cdf, pdf, breakpoints=None, check_at=(0.5, 1.0, 2.0)):
        if not callable(cdf):
            raise ValueError("cdf must be a callable cdf(y, x)")
        if not callable(pdf):
            raise ValueError("pdf must be a callable pdf(y, x)")
        if breakpoints is not None and not callable(breakpoints):
            raise ValueError("breakpoints must be a callable breakpoints(x)")
        self._cdf, self._pdf, self._bp = cdf, pdf, breakpoints
        self._check(check_at)

    def _params(self):
        return {"cdf": getattr(self._cdf, "__qualname__", "cdf"),
                "pdf": getattr(self._pdf, "__qualname__", "pdf")}

    def _y_edges(self, x: float) -> list[float]:
        pts = {0.0}
        if self._bp is not None:
            pts |= {float(v) for v in np.ravel(self._bp(np.asarray(x, float))) if np.isfinite(v)}
        return sorted(v for v in pts if v >= 0)

    def _check(self, check_at):
        from scipy import integrate

        for x in check_at:
            x = float(x)
            probe = np.linspace(0.0, 20.0 * max(x, 1.0), 2001)
            vals = np.asarray(self._pdf(probe, np.full(probe.shape, x)), float)
            if vals.shape != probe.shape:
                raise ValueError("pdf must be vectorised: pdf(y_array, x_array) must return "
                                 "an array of the same shape")
            if np.any(~np.isfinite(vals)) or np.any(vals < 0):
                raise ValueError(f"pdf: the conditional density must be finite and >= 0 "
                                 f"(fails at x={x:g})")
            edges = self._y_edges(x) + [np.inf]
            total = 0.0
            for a, b in zip(edges[:-1], edges[1:]):
                total += integrate.quad(lambda y, x=x: float(self._pdf(np.array(y), np.array(x))),
                                        a, b, limit=200)[0]
            if not abs(total - 1.0) <= 1e-6:
                raise ValueError(f"pdf: the conditional density at x={x:g} integrates to "
                                 f"{total:.6g}, not 1")
            mid = edges[1] if len(edges) > 2 and np.isfinite(edges[1]) else x
            c = float(self._cdf(np.array(mid), np.array(x)))
            ref = sum(integrate.quad(lambda y, x=x: float(self._pdf(np.array(y), np.array(x))),
                                     a, min(b, mid), limit=200)[0]
                      for a, b in zip(edges[:-1], edges[1:]) if a < mid)
            if not abs(c - ref) <= 1e-6:
                raise ValueError(f"cdf: cdf(y={mid:g}, x={x:g}) = {c:.6g} but the density "
                                 f"integrates to {ref:.6g} there")

    def conditional_cdf(self, y, x):
        y, x = np.broadcast_arrays(np.asarray(y, float), np.asarray(x, float))
        return np.asarray(self._cdf(y, x), float)[()]

    def conditional_pdf(self, y, x):
        y, x = np.broadcast_arrays(np.asarray(y, float), np.asarray(x, float))
        return np.asarray(self._pdf(y, x), float)[()]

    def sample(self, size: SizeDistribution, n: int, rng):
        """Draw ``n`` pairs (x, y): x from the size law, y by inverting the conditional cdf
        (vectorised bisection to 1e-12 relative)."""
        gen = as_generator(rng)
        x = size.sample(n, gen)
        u = gen.random(n)
        lo = np.zeros(n)
        hi = np.maximum(x, 1.0)
        for _ in range(200):  # bracket
            small = self._cdf(hi, x) < u
            if not np.any(small):
                break
            hi = np.where(small, 2.0 * hi, hi)
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            below = self._cdf(mid, x) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return x, 0.5 * (lo + hi)

    def shortfall(self, size: SizeDistribution, c: float = 1.0) -> float:
        """E[(X - c Y)+] = E[int_0^X P(Y <= s/c | X) ds] by quadrature (``c > 0``; SPRPT's
        ``c = 1``, TRAIL's limit of preemption ``c``)."""
        from scipy import integrate

        c = float(c)
        if not c > 0:
            raise ValueError(f"c must be > 0, got {c!r}")

        def inner(x):
            edges = [0.0] + [c * e for e in self._y_edges(x) if 0 < c * e < x] + [x]
            return sum(integrate.quad(
                lambda s: float(self._cdf(np.array(s / c), np.array(x))), a, b,
                limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))

        lo, hi = size.support
        pts = [p for p in size.breakpoints if lo < p < hi]
        edges = [lo, *pts, hi]
        return sum(integrate.quad(lambda x: float(size.pdf(x)) * inner(x), a, b, limit=200)[0]
                   for a, b in zip(edges[:-1], edges[1:]))

    def _not_multiplicative(self, *_args, **_kw):
        raise TypeError("ConditionalPrediction is a general conditional law, not Y = X * Z: "
                        "use the closed-form engine (SPJF, PSPJF, SPRPT, method='quad')")

    noise_cdf = noise_sf = noise_pdf = noise_ppf = noise_isf = _not_multiplicative
    noise_partial_moment = noise_sample = noise_mp_cdf = noise_mp_pdf = _not_multiplicative
    noise_window_square = _not_multiplicative

    def noise_shortfall(self) -> float:
        self._not_multiplicative()

    @property
    def noise_median(self) -> float:
        return 1.0


class MultiPrediction:
    """Several predictions of each job's size: ``Y_j = X * Z_j``, ``j = 0, 1, ...``.

    The noise factors ``Z_j`` are independent of the size and of each other: each
    prediction is a separate predictor's noisy look at the same size (for example a
    cheap one-bit classifier and an expensive regressor, as in SkipPredict: R. Shahout and
    M. Mitzenmacher, "SkipPredict: When to Invest in Predictions for Scheduling", NeurIPS
    2024). The joint density of ``(X, Y_0, ..., Y_{n-1})`` is
    ``f(x) prod_j g_j(y_j / x) / x``.

    A queue given a ``MultiPrediction`` (``qt.MG1(..., prediction=MultiPrediction(...))``)
    treats its first model as *the* prediction: every policy that reads one prediction
    (SPRPT, buckets, TRAIL, ...) reads ``Y_0``, and the queue's ``prediction`` is
    ``models[0]``. A rank function reads the others through its keys
    (``RankFunction(key="prediction:1", ...)``, ``branch_key="prediction:0"``; see
    :mod:`qtheory.rank`), and the SOAP engine and the simulator take them from
    ``q.predictions``.

    Parameters
    ----------
    models : sequence of PredictionModel
        At least one; with more than one, each multiplicative (not a
        :class:`ConditionalPrediction`).

    Examples
    --------
    >>> import qtheory as qt
    >>> mp = MultiPrediction([qt.UniformPrediction(0.5), qt.ExponentialPrediction()])
    >>> len(mp), mp[1]
    (2, ExponentialPrediction())
    >>> x, y = mp.sample(qt.Exponential(mean=1.0), 4, rng=1)
    >>> y.shape, bool(np.all((y[:, 0] >= 0.5 * x) & (y[:, 0] <= 1.5 * x)))
    ((4, 2), True)
    """

    def __init__(self, models):
        try:
            models = tuple(models)
        except TypeError:
            raise ValueError("models: expected a sequence of PredictionModel, got "
                             f"{type(models).__name__}") from None
        if not models:
            raise ValueError("models: at least one prediction model is required")
        for j, m in enumerate(models):
            if isinstance(m, MultiPrediction):
                raise ValueError(f"models[{j}]: a MultiPrediction cannot be nested")
            if not isinstance(m, PredictionModel):
                raise ValueError(f"models[{j}]: expected a PredictionModel, got "
                                 f"{type(m).__name__}")
            if m.is_general and len(models) > 1:
                raise ValueError(f"models[{j}]: several predictions need multiplicative "
                                 "models (Y = X * Z); a ConditionalPrediction is not one")
        self.models = models

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, j: int) -> PredictionModel:
        return self.models[j]

    def model(self, j: int, what: str = "index") -> PredictionModel:
        """Model ``j``, with an error naming ``what`` when there is none."""
        if not 0 <= j < len(self.models):
            raise ValueError(f"{what}: prediction {j} asked for, but the queue has "
                             f"{len(self.models)} prediction model(s)")
        return self.models[j]

    def sample(self, size: SizeDistribution, n: int, rng):
        """``n`` draws ``x`` (shape ``(n,)``) and ``y`` (shape ``(n, len(self))``): the
        size first, then each noise factor in turn from the same Generator."""
        gen = as_generator(rng)
        x = size.sample(n, gen)
        y = np.stack([x * m.noise_sample(n, gen) for m in self.models], axis=1)
        return x, y

    def __repr__(self) -> str:
        return f"MultiPrediction({list(self.models)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, MultiPrediction) and self.models == other.models

    def __hash__(self) -> int:
        return hash(("MultiPrediction", self.models))
