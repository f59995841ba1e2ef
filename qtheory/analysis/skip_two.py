r"""SkipPredict with a separate cheap predictor, prediction costs in server time.

R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in Predictions for
Scheduling", NeurIPS 2024 (arXiv:2402.03564), Section 4: a cheap predictor labels every job
short or long, an expensive one predicts the size of the long jobs only. Here the two are
separate predictors of a :class:`~qtheory.MultiPrediction` queue: the bit is
``Y_1 <= T`` (short; ``Y_1 = X Z_1``), the long jobs run SPRPT on ``Y_0 = X Z_0``, with
``Z_0, Z_1`` independent of each other and of ``X``. Every job first needs ``c1`` of server
time at rank ``-inf`` (FIFO, never preempted); a short job then its size at rank ``-inf``; a
long job ``c2`` at rank 0, then its size at rank ``y_0 - w`` (``w`` its own work done).

SOAP (Z. Scully, M. Harchol-Balter, A. Scheller-Wolf, POMACS 2(1) 2018, Theorem 5.5),
derived as for one predictor
(:meth:`~qtheory.analysis.predicted.PredictionAnalysis.skip_predict_mean`) but with the long
jobs' predictions ``Y_0`` no longer above ``T``. Write ``S`` and ``L`` for
the short and long classes (probabilities ``p_S``, ``p_L``; ``X_L`` the law of the size
given ``Y_1 > T``, :func:`~qtheory.distributions.posterior.bucket_law`), and

    D(u) = 1 - rho - lam (c1 + c2 p_L) + lam p_L E[X_L; Y_0 > u]     (u > 0),
    D(u) = 1 - lam (c1 + E[X; S])                                    (u <= 0),

the work a new job brings below rank ``u`` taken from 1. Then

* a short job: ``c1 + x + lam (E[(c1 + X)^2; S] + c1^2 p_L) / (2 (1 - lam (c1 + E[X; S])))``;
* a long job ``(x, y_0)``: its worst future rank is ``y_0 > 0``, and
  ``lam Sigma(y_0) / (2 D(y_0)^2) + (c1 + c2) / D(y_0) + int_{y_0 - x}^{y_0} du / D(u)``, with
  ``Sigma(y) = E[(c1 + X)^2; S] + (c1 + c2)^2 p_L
  + p_L (2 (c1 + c2) E[X_L; Y_0 <= y] + E[X_L^2; Y_0 <= y] + V2_L(y))``
  (``V2_L``: SPRPT's old work in the long class, :mod:`qtheory.analysis.joint`).

Averaged over the jobs, with ``K_L(u) = P(Y_0 > u, Y_0 - X_L < u)``:

    E[T] = p_S (c1 + W_S) + E[X; S]
         + p_L int_0^inf f_{Y_0|L}(y) (lam Sigma(y) / (2 D(y)^2) + (c1 + c2) / D(y)) dy
         + p_L int_0^inf K_L(u) / D(u) du
         + p_L E[X_L] E[(1 - Z_0)^+] / (1 - lam (c1 + E[X; S])),

the last term being the residence at ranks below 0 (``int_{-inf}^0 K_L = E[(X_L - Y_0)^+]``).
(With one predictor, ``Z_1 = Z_0``, the long class's ``Y_0`` is not independent of ``X_L`` but
above ``T``, and the one-predictor form, with ``D`` constant on ``(0, T]``, applies instead.)
The integrals over ``y`` are those of SPRPT's closed form on the long class
(:class:`~qtheory.analysis.predicted.PredictionAnalysis` on ``X_L``), by its adaptive tanh-sinh
rule.

Checks (``tests/test_soap_branched.py``): with ``c1 = c2 = 0`` it equals SOAP's engine on the
two-part descriptor (:mod:`qtheory.analysis.soap_branched`), which shares no formula with it;
with both predictors exact it equals the one-predictor closed form; and the simulator agrees.
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..predictions import PredictionModel
from .outer import FIRST_C, adaptive
from .predicted import PredictionAnalysis
from .soap_branched import class_law

__all__ = ["SkipTwoAnalysis"]


class SkipTwoAnalysis:
    """The lambda-free parts of SkipPredict with a separate cheap predictor (module
    docstring), for one threshold; :meth:`mean` for any load and costs.

    Parameters
    ----------
    size : SizeDistribution
        A continuous size law.
    expensive, cheap : PredictionModel
        The multiplicative models of the expensive prediction ``Y_0`` (SPRPT's) and of the
        cheap one ``Y_1`` (the bit's).
    threshold : float
        ``T``, with ``0 < T < inf``: short iff ``Y_1 <= T``.
    rtol : float
        Target relative error.

    Examples
    --------
    >>> import qtheory as qt
    >>> a = SkipTwoAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
    ...                     qt.UniformPrediction(0.5), 1.0)
    >>> value, err = a.mean(0.7, 0.0, 0.0)     # zero costs: the external model's E[T]
    >>> round(value, 8), bool(err < 1e-8 * value)
    (2.20651188, True)
    """

    def __init__(self, size: SizeDistribution, expensive: PredictionModel,
                 cheap: PredictionModel, threshold: float, rtol: float = 1e-9):
        T = float(threshold)
        if not 0.0 < T < np.inf:
            raise ValueError(f"threshold: expected 0 < T < inf, got {threshold!r} (T = 0 is "
                             "SPRPT and T = inf FCFS, for any cheap predictor)")
        if size.is_discrete:
            raise ValueError("size: SkipPredict with a separate cheap predictor needs a "
                             "continuous size law")
        for name, m in (("expensive", expensive), ("cheap", cheap)):
            if not isinstance(m, PredictionModel) or m.is_general:
                raise ValueError(f"{name}: expected a multiplicative PredictionModel, got "
                                 f"{m!r}")
        self.size, self.expensive, self.cheap, self.threshold = size, expensive, cheap, T
        self.rtol = rtol
        self.m1, self.m2 = float(size.moment(1)), float(size.moment(2))
        self.p_short, short = class_law(size, cheap, 0.0, T)
        self.p_long, long_ = class_law(size, cheap, T, np.inf)
        self.short_m1 = self.p_short * float(short.moment(1)) if short is not None else 0.0
        self.short_m2 = self.p_short * float(short.moment(2)) if short is not None else 0.0
        self.long = None
        if long_ is not None:
            self.long = PredictionAnalysis(long_, expensive, rtol)
            self.long_m1 = float(long_.moment(1))
            # E[(X_L - Y_0)^+] = E[X_L] E[(1 - Z_0)^+]: Z_0 is independent of X_L
            self.shortfall = self.long_m1 * float(expensive.noise_shortfall())

    def _terms(self, lam: float, c1: float, c2: float):
        """``(E[(c1 + X)^2; S], lam (c1 + E[X; S]), W_S, D above 0 less its Lbar term)``, the
        lambda- and cost-dependent constants of the module docstring; ``None`` when the
        server's load with the costs is at least 1 (or ``E[X^2]`` is infinite)."""
        pS, pL, LS = self.p_short, self.p_long, self.short_m1
        rho = lam * self.m1
        if rho + lam * (c1 + c2 * pL) >= 1.0 or not np.isfinite(self.m2):
            return None
        short_sq = c1 * c1 * pS + 2.0 * c1 * LS + self.short_m2  # E[(c1 + X)^2; S]
        rho_minus = lam * (c1 + LS)
        w_short = lam * (short_sq + c1 * c1 * pL) / (2.0 * (1.0 - rho_minus))
        return short_sq, rho_minus, w_short, 1.0 - rho - lam * (c1 + c2 * pL)

    def mean(self, lam: float, c1: float, c2: float) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` with costs ``c1``, ``c2``
        (``inf`` when the server's load with the costs is at least 1)."""
        terms = self._terms(lam, c1, c2)
        if terms is None:
            return np.inf, 0.0
        short_sq, rho_minus, w_short, base = terms
        pS, pL = self.p_short, self.p_long
        short = pS * (w_short + c1) + self.short_m1
        if self.long is None:
            return short, 0.0
        c12 = c1 + c2
        tail = pL * self.shortfall / (1.0 - rho_minus)
        A = self.long
        needs = ("fy", "Fy", "Lbar", "S2", "V2", "K")

        def evaluate(level):
            g, q = A._grid(level, needs, lo=0.0)
            d = base + lam * pL * q["Lbar"]
            L = self.long_m1 - q["Lbar"]
            sigma = short_sq + c12 * c12 * pL + pL * (2.0 * c12 * L + q["S2"] + q["V2"])
            with np.errstate(all="ignore"):
                v1, e1 = g.integrate(q["fy"] * (0.5 * lam * sigma / d**2 + c12 / d))
                v2, e2 = g.integrate(q["K"] / d)
            return short + tail + pL * (v1 + v2), pL * (e1 + e2)

        first = 3 if len(A._y_breakpoints()[2]) > 2 else 4
        return adaptive(evaluate, self.rtol, "SkipPredict (two predictors) mean response time",
                        first=first, first_c=FIRST_C)

    def conditional(self, lam: float, c1: float, c2: float, x, y0, y1) -> np.ndarray:
        """E[T | size ``x``, expensive prediction ``y0``, cheap prediction ``y1``]
        (vectorised, broadcast): the per-job forms of the module docstring, a short job
        (``y1 <= T``) ``c1 + x + W_S``, a long one
        ``lam Sigma(y0) / (2 D(y0)^2) + (c1 + c2) / D(y0) + int_{y0 - x}^{y0} du / D(u)``.

        Examples
        --------
        >>> import qtheory as qt
        >>> a = SkipTwoAnalysis(qt.Exponential(mean=1.0), qt.ExponentialPrediction(),
        ...                     qt.UniformPrediction(0.5), 1.0)
        >>> a.conditional(0.7, 0.05, 0.3, [0.5, 2.0], [0.4, 2.5], [0.6, 1.9]).round(6)
        array([ 0.665287, 10.719341])
        """
        x, y0, y1 = np.broadcast_arrays(np.asarray(x, float), np.asarray(y0, float),
                                        np.asarray(y1, float))
        terms = self._terms(lam, c1, c2)
        if terms is None:
            return np.full(x.shape, np.inf)
        short_sq, rho_minus, w_short, base = terms
        pL = self.p_long
        out = np.array(c1 + x + w_short, dtype=float)
        long_ = y1 > self.threshold
        if np.any(long_) and self.long is not None:
            xl, yl = x[long_], y0[long_]
            A, c12 = self.long, c1 + c2
            q = A._tabled(yl, ("Lbar", "S2", "V2"))
            d = base + lam * pL * q["Lbar"]
            sigma = short_sq + c12 * c12 * pL + pL * (
                2.0 * c12 * (self.long_m1 - q["Lbar"]) + q["S2"] + q["V2"])
            lo = yl - xl
            res = A._levels(lam, np.maximum(lo, 0.0), yl, base=base, coef=lam * pL)
            res = res + np.maximum(-lo, 0.0) / (1.0 - rho_minus)
            out[long_] = 0.5 * lam * sigma / d**2 + c12 / d + res
        return out

