"""The M/G/1 queue with predicted job sizes: the main user-facing object."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ._memory import keep_large_blocks
from ._warnings import QuadratureWarning
from .analysis.advice import (
    _bucket_of,
    buckets_conditional,
    buckets_mean,
    one_bit_conditional,
    one_bit_mean,
)
from .analysis.classical import CLASSICAL_POLICIES, ClassicalAnalysis
from .analysis.predicted import PREDICTION_POLICIES, PredictionAnalysis
from .analysis.priority import priority_class_means
from .analysis.soap import SOAPAnalysis
from .analysis.trail import trail_known_sizes_conditional, trail_known_sizes_mean
from .distributions import SizeDistribution, as_distribution
from .distributions.base import check_positive
from .policies import (
    SERPT,
    TRAIL,
    Buckets,
    DelayPredict,
    Gittins,
    GittinsBuckets,
    GittinsPosterior,
    OneBit,
    Policy,
    Priority,
    RankPolicy,
    SkipPredict,
    SRPTBounce,
    get_policy,
)
from .predictions import ExactPrediction, MultiPrediction, PredictionModel

__all__ = ["MG1", "METHODS"]

METHODS = ("quad", "soap", "rwork", "mpmath", "symbolic")
_TRUE_SIZE_TWIN = {"SPJF": "SJF", "PSPJF": "PSJF", "SPRPT": "SRPT"}


class _AgeAdapter:
    """Gives an AgeRankAnalysis the ``conditional(lam, x, k)`` signature of SOAPAnalysis."""

    def __init__(self, engine):
        self.engine = engine

    def mean(self, lam):
        return self.engine.mean(lam)

    def conditional(self, lam, x, k=None):
        return self.engine.conditional(lam, x)


class _Engines:
    """Lambda-independent analysis objects shared by queues that differ only in load."""

    def __init__(self, size: SizeDistribution, prediction: PredictionModel, rtol: float,
                 predictions: MultiPrediction | None = None):
        keep_large_blocks()  # the engines' large temporaries from the heap (qtheory._memory)
        self.size, self.prediction, self.rtol = size, prediction, rtol
        self.predictions = predictions or MultiPrediction([prediction])
        self._classical = None
        self._predicted = None
        self._soap: dict = {}
        self._age: dict = {}

    def bounce(self):
        """SRPT-Bounce's closed form (cached; continuous sizes, multiplicative predictions)."""
        key = ("bounce",)
        if key not in self._age:
            from .analysis.bounce import BounceAnalysis

            self._age[key] = BounceAnalysis(self.size, self.prediction, self.rtol)
        return self._age[key]

    def trail(self, c: float):
        """TRAIL's closed form on the prediction for this ``c`` (cached)."""
        key = ("trail", float(c))
        if key not in self._age:
            from .analysis.trail_predicted import TrailPredictionAnalysis

            self._age[key] = TrailPredictionAnalysis(self.size, self.prediction, c, self.rtol)
        return self._age[key]

    def age_rank(self, key, build):
        """The age-rank SOAP analysis of ``build()``, cached under ``key``."""
        if key not in self._age:
            from .analysis.agerank import AgeRankAnalysis

            self._age[key] = AgeRankAnalysis(self.size, build(), self.rtol)
        return self._age[key]

    def gittins_buckets(self, pol: GittinsBuckets):
        """The multi-class SOAP analysis of ``pol``: one class per bucket of the prediction,
        with its posterior size law and that law's Gittins rank (cached per thresholds)."""
        key = ("gittins-buckets", pol.thresholds)
        if key not in self._age:
            from .analysis.multiclass import ClassRankAnalysis

            laws = pol.bucket_laws(self.size, self.prediction)
            ranks = pol.age_ranks_of(laws)
            analysis = ClassRankAnalysis(
                [(p, law, r) for (p, law), r in zip(laws, ranks) if law is not None],
                rtol=self.rtol, gittins=True)
            analysis.buckets = [j for j, (_, law) in enumerate(laws) if law is not None]
            self._age[key] = analysis
        return self._age[key]

    def gittins_posterior(self, pol: GittinsPosterior):
        """The analysis of Gittins on the posterior given the prediction (cached per node
        count and extrapolation; with ``rule="swap"`` and noisy predictions the swapped
        integral, one per queue)."""
        if pol.rule == "swap" and not self.prediction.is_exact:
            key = ("gittins-posterior-swap",)
            if key not in self._age:
                from .analysis.posterior_rwork import SwappedPosteriorAnalysis

                # (the queue's rtol: 6 nodes a piece from 1e-8 up, 8 from 1e-10, else 10)
                self._age[key] = SwappedPosteriorAnalysis(self.size, self.prediction,
                                                          self.rtol)
            return self._age[key]
        key = ("gittins-posterior", pol.nodes, pol.extrapolate)
        if key not in self._age:
            from .analysis.posterior_gittins import PosteriorGittinsAnalysis

            shared = self._age.setdefault(("gittins-posterior-nodes",), {})
            self._age[key] = PosteriorGittinsAnalysis(self.size, self.prediction, pol.nodes,
                                                      pol.extrapolate, self.rtol, shared)
        return self._age[key]

    def skip_two(self, pol):
        """SkipPredict with a separate cheap predictor (prediction ``pol.bit_prediction``;
        lambda- and cost-free parts cached per threshold)."""
        key = ("skip-two", pol.bit_prediction, float(pol.threshold))
        if key not in self._age:
            from .analysis.skip_two import SkipTwoAnalysis

            cheap = self.predictions.model(pol.bit_prediction, "policy")
            self._age[key] = SkipTwoAnalysis(self.size, self.prediction, cheap,
                                             pol.threshold, self.rtol)
        return self._age[key]

    def delay(self, pol):
        """The DelayPredict analysis of ``pol`` (lambda-free parts cached per policy)."""
        key = ("delay", pol.limit, pol.expensive_cost if pol.cost_model == "server" else 0.0)
        if key not in self._age:
            from .analysis.delay import DelayPredictAnalysis

            self._age[key] = DelayPredictAnalysis(self.size, self.prediction, key[1], key[2],
                                                  self.rtol)
        return self._age[key]

    def soap(self, rank):
        """The SOAP analysis of a RankFunction: age-only ranks (key "none") go to the
        exact age-rank engine, which handles jumps and any slopes; ranks whose branches are
        chosen by another key to the mixture of classes
        (:class:`~qtheory.analysis.soap_branched.BranchedSOAP`); the others to the
        piecewise engine, on the prediction model their key names."""
        if rank.branched:
            if rank not in self._soap:
                from .analysis.soap_branched import BranchedAgeRanks, BranchedSOAP

                # age-only segments: the multi-class age-rank engine (any slopes, laws with
                # atoms; no initial ranks); else SOAP's piecewise engine on each class
                age_only = rank.key == "none" and not rank.has_overhead and all(
                    br.initial is None for br in rank.branches)
                kind = BranchedAgeRanks if age_only else BranchedSOAP
                self._soap[rank] = kind(self.size, self.predictions, rank, self.rtol)
            return self._soap[rank]
        if rank.key == "none" and not rank.has_overhead:
            from .analysis.agerank import AgeRank

            eng = self.age_rank(("rank", rank), lambda: AgeRank.from_rank_function(rank))
            return _AgeAdapter(eng)
        if rank not in self._soap:
            model = self.prediction
            if rank.key == "prediction" and rank.key_index:
                model = self.predictions.model(rank.key_index, "rank")
            self._soap[rank] = SOAPAnalysis(self.size, model, rank, self.rtol)
        return self._soap[rank]

    @property
    def classical(self) -> ClassicalAnalysis:
        if self._classical is None:
            self._classical = ClassicalAnalysis(self.size, self.rtol)
        return self._classical

    @property
    def predicted(self) -> PredictionAnalysis:
        if self._predicted is None:
            self._predicted = PredictionAnalysis(self.size, self.prediction, self.rtol)
        return self._predicted


class MG1:
    """M/G/1 queue: Poisson arrivals, i.i.d. sizes, and a prediction of each size.

    Parameters
    ----------
    arrival_rate : float, optional
        Poisson arrival rate lambda > 0. Give this or ``load``.
    size : SizeDistribution or frozen scipy.stats continuous distribution
        Law of the true job size X.
    prediction : PredictionModel or MultiPrediction, optional
        Joint law of (X, Y); defaults to :class:`~qtheory.ExactPrediction`. With a
        :class:`~qtheory.MultiPrediction` (several predictions of each job) the first model
        is *the* prediction (``q.prediction``) that every one-prediction policy reads, and
        rank functions reach the others by their keys ``"prediction:j"``
        (``q.predictions``).
    load : float, optional
        rho = lambda E[X] > 0 instead of ``arrival_rate``.
    rtol : float
        Relative tolerance of the quadrature (default 1e-9). If it cannot be
        met a :class:`~qtheory.QuadratureWarning` gives the achieved error.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0),
    ...            prediction=qt.ExponentialPrediction())
    >>> q.load
    0.8
    >>> round(q.mean_response_time("FCFS"), 10)
    5.0
    >>> q.mean_response_time("SRPT") < q.mean_response_time("SPRPT") < q.mean_response_time("FCFS")
    True
    """

    def __init__(
        self,
        arrival_rate: float | None = None,
        size=None,
        prediction: PredictionModel | None = None,
        *,
        load: float | None = None,
        rtol: float = 1e-9,
        _engines: _Engines | None = None,
    ):
        if size is None:
            raise ValueError("size: a size distribution is required")
        size = as_distribution(size)
        if prediction is None:
            prediction = ExactPrediction()
        multi = None
        if isinstance(prediction, MultiPrediction):
            multi, prediction = prediction, prediction.models[0]
        if not isinstance(prediction, PredictionModel):
            raise TypeError(
                f"prediction: expected a PredictionModel, got {type(prediction).__name__}"
            )
        rtol = check_positive("rtol", rtol)
        mean = size.mean
        if not (np.isfinite(mean) and mean > 0):
            raise ValueError(f"size: the mean size must be finite and > 0, got {mean!r}")
        if (arrival_rate is None) == (load is None):
            raise ValueError("give exactly one of arrival_rate and load")
        if load is not None:
            arrival_rate = check_positive("load", load) / mean
        self.arrival_rate = check_positive("arrival_rate", arrival_rate)
        # the load as given: load / mean * mean may round below 1 (load=1.0, Weibull 2 sizes)
        self._load = float(load) if load is not None else None
        self.size = size
        self.prediction = prediction
        self.rtol = rtol
        self._engines = _engines or _Engines(size, prediction, rtol, multi)

    # ------------------------------------------------------------------ properties
    @property
    def load(self) -> float:
        """rho = lambda E[X] (exactly the ``load`` given, when one was)."""
        if self._load is not None:
            return self._load
        return self.arrival_rate * self.size.mean

    @property
    def predictions(self) -> MultiPrediction:
        """All prediction models of a job (a :class:`~qtheory.MultiPrediction`; one model,
        :attr:`prediction`, unless the queue was given several)."""
        return self._engines.predictions

    @property
    def is_stable(self) -> bool:
        """True when the load is below 1."""
        return self.load < 1.0

    def __repr__(self) -> str:
        pred = self.predictions if len(self.predictions) > 1 else self.prediction
        return (
            f"MG1(arrival_rate={self.arrival_rate!r}, size={self.size!r}, "
            f"prediction={pred!r})"
        )

    def with_load(self, load: float) -> MG1:
        """The same queue at another load, sharing all cached quadrature.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(load=0.5, size=qt.Exponential(mean=2.0))
        >>> q.with_load(0.9).arrival_rate
        0.45
        """
        return MG1(size=self.size, prediction=self.predictions if len(self.predictions) > 1
                   else self.prediction, load=load, rtol=self.rtol, _engines=self._engines)

    # ------------------------------------------------------------------ means
    def mean_response_time(self, policy, method: str = "quad", dps: int = 30) -> float:
        """Mean response time E[T] of ``policy`` (name or object).

        Parameters
        ----------
        policy : str or Policy
        method : {"quad", "soap", "rwork", "mpmath", "symbolic"}
            ``"quad"``: double-precision tanh-sinh quadrature (fast, ~1e-10)
            of the policy's closed form, or the SOAP engine for policies that
            have none (for ``GittinsBuckets`` and ``GittinsPosterior``, the
            r-work integral below); ``"soap"``: the SOAP engine even where a
            closed form exists; ``"rwork"``: for the Gittins policies only
            (``Gittins``, ``GittinsBuckets``, ``GittinsPosterior``), the integral
            of the r-work over the rank level (:mod:`qtheory.analysis.rwork`),
            which needs no tagged-job analysis (a second route to the same number);
            ``"mpmath"``: an independent high-precision computation at ``dps``
            digits (slow: seconds); ``"symbolic"``: a sympy closed form where one
            exists (M/M/1 and exponential predictions of exponential sizes),
            else ``NotImplementedError``.
        dps : int
            Decimal digits for ``method="mpmath"``.

        Returns
        -------
        float
            ``inf`` when the load is >= 1 (or the needed moment is infinite).
        """
        value, _ = self.mean_response_time_with_error(policy, method=method, dps=dps)
        return float(value)

    def mean_response_time_with_error(self, policy, method: str = "quad", dps: int = 30):
        """Return ``(E[T], estimated absolute error)`` (error 0 for closed forms)."""
        pol = get_policy(policy)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        lam = self.arrival_rate
        if self.load >= 1.0:  # unstable under every policy (whatever the rounding of lam)
            return np.inf, 0.0
        if method == "mpmath":
            from .analysis import highprec

            if self.prediction.is_general and pol.uses_prediction:
                raise ValueError("method: 'mpmath' needs a multiplicative prediction model; "
                                 "use method='quad' for a ConditionalPrediction")

            return highprec.mean_response_time(pol.name, self.size, self.prediction, lam, dps), 0.0
        if method == "symbolic":
            from .analysis import symbolic

            return symbolic.mean_response_time(pol.name, self.size, self.prediction, lam), 0.0
        if method == "rwork":
            return self._rwork_mean(pol, lam)
        if method in ("soap", "quad") and self._age_rank_analysis(pol) is not None:
            analysis = self._age_rank_analysis(pol)
            if isinstance(pol, (GittinsBuckets, GittinsPosterior)):
                value, err = analysis.mean(lam, "soap" if method == "soap" else None)
            else:
                value, err = analysis.mean(lam)
            if np.isinf(value) and isinstance(pol, (Gittins, SERPT, GittinsBuckets,
                                                    GittinsPosterior)):
                warnings.warn(
                    f"{pol.name}: the mean is infinite: past the age where the size law's "
                    f"tail is negligible a rank that does not rise there is held constant, "
                    f"and with E[X**2] = {self.size.moment(2)!r} the jobs that old, served "
                    f"first come first served among themselves, wait forever on average; the "
                    f"true policy's mean may be finite", QuadratureWarning, stacklevel=2)
            return float(value), float(err)
        if method == "soap":
            rank = pol.rank()
            if rank is None:
                raise ValueError(f"policy: {pol.name} has no SOAP rank function")
            value, err = self._engines.soap(rank).mean(lam)
            return float(value), float(err)
        if isinstance(pol, Priority):
            return float(np.dot(pol.probs, self._priority_means(pol))), 0.0
        if isinstance(pol, OneBit):
            return one_bit_mean(self.size, self.prediction, lam, pol.threshold, pol.preemptive,
                                pol.within), 0.0
        if isinstance(pol, Buckets):  # Cobham's formulas over the buckets (SOAP: "soap")
            value, err = buckets_mean(self.size, self.prediction, lam, pol.thresholds,
                                      pol.preemptive)
            if err > self.rtol * abs(value):
                warnings.warn(f"{pol.name}: the buckets' moments carry a quadrature error "
                              f"of {err / abs(value):.2e} relative in the mean, above "
                              f"rtol={self.rtol:.1e}", QuadratureWarning, stacklevel=2)
            return float(value), float(err)
        value, err = self._quad_mean(pol, lam)
        return float(value), float(err)

    def _rwork_mean(self, pol: Policy, lam: float):
        """``(E[T], error)`` of a Gittins policy by the r-work integral over the level."""
        if isinstance(pol, (GittinsBuckets, GittinsPosterior)):
            analysis = self._age_rank_analysis(pol)
        elif isinstance(pol, Gittins):
            from .analysis.multiclass import ClassRankAnalysis

            key = ("rwork", pol.name)
            if key not in self._engines._age:
                self._engines._age[key] = ClassRankAnalysis.from_engines(
                    [1.0], [self._age_rank_analysis(pol)], self.rtol, gittins=True)
            analysis = self._engines._age[key]
        else:
            raise ValueError(f"method: 'rwork' is for the Gittins policies (Gittins, "
                             f"GittinsBuckets, GittinsPosterior), not {pol.name}")
        value, err = analysis.mean(lam, "rwork")
        return float(value), float(err)

    def _age_rank_analysis(self, pol: Policy):
        """The age-rank engine for Gittins, SERPT and callable ranks, else None."""
        if isinstance(pol, (Gittins, SERPT)):
            return self._engines.age_rank(pol.name, lambda: pol.age_rank(self.size))
        if isinstance(pol, GittinsBuckets):
            return self._engines.gittins_buckets(pol)
        if isinstance(pol, GittinsPosterior):
            return self._engines.gittins_posterior(pol)
        if isinstance(pol, RankPolicy) and pol.is_callable:
            return self._engines.age_rank(("callable", id(pol.function), pol.label),
                                          lambda: pol.age_rank(self.size))
        return None

    def _quad_mean(self, pol: Policy, lam: float):
        name = pol.name
        if name in CLASSICAL_POLICIES:
            return self._engines.classical.mean(name, lam)
        if name in PREDICTION_POLICIES:
            if self.prediction.is_exact and self.size.is_discrete:
                return self._engines.classical.mean(_TRUE_SIZE_TWIN[name], lam)
            return self._engines.predicted.mean(name, lam)
        if isinstance(pol, TRAIL) and (pol.on == "size" or self.prediction.is_exact):
            return trail_known_sizes_mean(self.size, lam, pol.c, self.rtol)
        if isinstance(pol, TRAIL):
            # the closed form (SOAP by hand; the SOAP engine: method="soap")
            return self._engines.trail(pol.c).trail_mean(lam)
        if isinstance(pol, SRPTBounce) and not self.prediction.is_general \
                and not self.size.is_discrete:
            # the closed form (SOAP by hand; the SOAP engine: method="soap")
            return self._engines.bounce().bounce_mean(lam)
        if isinstance(pol, SkipPredict):
            self._bit_model(pol)  # a bit from a prediction the queue lacks: named
            c1, c2 = pol.server_costs()
            if pol.bit_prediction and 0.0 < pol.threshold < np.inf:
                # the closed form with a separate cheap predictor (SOAP: method="soap")
                return self._engines.skip_two(pol).mean(lam, c1, c2)
            return self._engines.predicted.skip_predict_mean(lam, pol.threshold, c1, c2)
        if isinstance(pol, DelayPredict):
            return self._engines.delay(pol).mean(lam)
        rank = pol.rank()
        if rank is None:
            raise ValueError(f"policy: no analysis for {name!r}")
        return self._engines.soap(rank).mean(lam)

    def mean_cost(self, policy) -> float:
        """Mean response time plus the expected prediction cost paid outside the server.

        The cost metric of Shahout and Mitzenmacher (NeurIPS 2024): for
        :class:`~qtheory.policies.SkipPredict` and
        :class:`~qtheory.policies.DelayPredict` with ``cost_model="external"`` it adds
        ``cheap_cost + expensive_cost * P(long)`` (``expensive_cost * P(X > limit)``);
        in the server-time model the costs are already part of the response time;
        other policies pay nothing.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0), prediction=qt.ExactPrediction())
        >>> pol = qt.policies.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=1.0)
        >>> extra = q.mean_cost(pol) - q.mean_response_time(pol)
        >>> round(extra, 12) == round(0.1 + float(np.exp(-1.0)), 12)  # c1 + c2 P(X > 1)
        True
        """
        pol = get_policy(policy)
        value = self.mean_response_time(pol)
        if isinstance(pol, SkipPredict):
            t = pol.threshold
            bit = self._bit_model(pol)
            p_long = 0.0 if t == np.inf else 1.0 - float(bit.marginal_cdf(t, self.size))
            return value + pol.external_cost(p_long)
        if isinstance(pol, DelayPredict):
            return value + pol.external_cost(float(self.size.sf(pol.limit)))
        return value

    def _soap_conditional(self, pol: Policy, lam: float, x, y):
        rank = pol.rank()
        if rank is None:
            raise ValueError(f"policy: no conditional response time for {pol.name}")
        engine = self._engines.soap(rank)
        n = len(self.predictions)
        if not (rank.branched or rank.key_index):
            return engine.conditional(lam, x, y)
        if n > 1:
            k = self._one_prediction(y, rank.key_index) if rank.key == "prediction" else None
            bk = self._one_prediction(y, rank.branch_index) \
                if rank.branch_key == "prediction" else None
        else:
            k = y if rank.key == "prediction" else None
            bk = y if rank.branch_key == "prediction" else None
        if rank.branched:
            return engine.conditional(lam, x, k, bk)
        return engine.conditional(lam, x, k)

    def _skip_conditional(self, pol: SkipPredict, lam: float, x, y):
        """SkipPredict's conditional response times from its closed forms (both cost models;
        with a separate cheap predictor ``y[..., j]`` is prediction ``j``)."""
        c1, c2 = pol.server_costs()
        self._bit_model(pol)
        if pol.bit_prediction:
            y0 = self._one_prediction(y, 0)
            if 0.0 < pol.threshold < np.inf:
                return self._engines.skip_two(pol).conditional(
                    lam, c1, c2, x, y0, self._one_prediction(y, pol.bit_prediction))
            y = y0
        if self.prediction.is_general:
            raise ValueError("prediction: SkipPredict needs a multiplicative prediction model")
        return self._engines.predicted.skip_predict_conditional(lam, pol.threshold, c1, c2, x, y)

    def _bit_model(self, pol: SkipPredict):
        """The prediction model SkipPredict's bit comes from (an error naming the
        prediction when the queue has no such model)."""
        return self.predictions.model(pol.bit_prediction, "policy")

    def _one_prediction(self, y, j: int):
        """Prediction ``j`` of ``y``, whose last axis holds one value per prediction model
        (queues with several)."""
        y = np.asarray(y, dtype=float)
        n = len(self.predictions)
        if y.ndim == 0 or y.shape[-1] != n:
            raise ValueError(f"y: this queue has {n} predictions a job; give them along the "
                             f"last axis of y (shape (..., {n})), got shape {y.shape}")
        return y[..., j]

    def priority_class_response_times(self, policy: Priority) -> np.ndarray:
        """Mean response time of each class of a :class:`~qtheory.policies.Priority` policy.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(arrival_rate=0.6, size=qt.Exponential(mean=1.0))
        >>> q.priority_class_response_times(qt.policies.Priority(probs=(0.5, 0.5),
        ...                                                      preemptive=True))
        array([1.42857143, 3.57142857])
        """
        if not isinstance(policy, Priority):
            raise ValueError("policy must be a qtheory.policies.Priority")
        return self._priority_means(policy)

    def _priority_means(self, pol: Priority) -> np.ndarray:
        p = np.asarray(pol.probs)
        m1, m2 = self.size.moment(1), self.size.moment(2)
        return priority_class_means(self.arrival_rate * p, np.full(p.size, m1), np.full(p.size, m2),
                                    pol.preemptive)

    def sweep(self, policy, loads: Sequence[float], method: str = "quad") -> np.ndarray:
        """E[T] of ``policy`` at each load, reusing one set of quadrature nodes.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0))
        >>> q.sweep("PS", [0.5, 0.75, 1.0])
        array([ 2.,  4., inf])
        """
        return np.array(
            [self.with_load(r).mean_response_time(policy, method=method) for r in loads]
        )

    def price_of_misprediction(self, policy) -> float:
        """E[T] of a prediction policy over E[T] of its twin on true sizes.

        SPJF is compared with SJF, PSPJF with PSJF and SPRPT with SRPT
        (Mitzenmacher, ITCS 2020).
        """
        pol = get_policy(policy)
        if pol.name not in _TRUE_SIZE_TWIN:
            raise ValueError(f"policy: expected one of {tuple(_TRUE_SIZE_TWIN)}, got {pol.name!r}")
        return self.mean_response_time(pol) / self.mean_response_time(_TRUE_SIZE_TWIN[pol.name])

    def approximation_ratio(self, policy) -> float:
        """E[T] of ``policy`` over E[T] of SRPT on true sizes, the measure of Scully,
        Grosof and Mitzenmacher, "Uniform Bounds for Scheduling with Job Size
        Estimates", ITCS 2022 (SRPT is mean-optimal when sizes are known).

        Examples
        --------
        >>> import qtheory as qt
        >>> from scipy import stats
        >>> # estimates in [0.5 s, 2 s]: Z ~ U[0.5, 2]
        >>> q = qt.MG1(load=0.9, size=qt.Exponential(mean=1.0),
        ...            prediction=qt.MultiplicativePrediction(stats.uniform(0.5, 1.5)))
        >>> 1.0 < q.approximation_ratio("PSPJF") < 2.0
        True
        """
        return self.mean_response_time(policy) / self.mean_response_time("SRPT")

    # ------------------------------------------------------------------ conditional
    def conditional_response_time(self, policy, x, y=None):
        """E[T(x)] (size-based policies) or E[T(x, y)] (prediction policies).

        Parameters
        ----------
        policy : str or Policy
        x : float or array_like
            True size(s).
        y : float or array_like, optional
            Prediction(s); required for SPJF, PSPJF and SPRPT. On a queue with several
            predictions (:class:`~qtheory.MultiPrediction`) a rank policy that reads them
            takes one value per model along the last axis (``y[..., j]`` is prediction
            ``j``) when it reads another than prediction 0; the other policies read ``y``
            as prediction 0.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(arrival_rate=0.5, size=qt.Exponential(mean=1.0))
        >>> float(q.conditional_response_time("PS", 1.0))
        2.0
        """
        pol = get_policy(policy)
        lam = self.arrival_rate
        x = np.asarray(x, dtype=float)
        if np.any(~np.isfinite(x)) or np.any(x < 0):
            raise ValueError("x must be finite and >= 0")
        if pol.uses_prediction:
            if y is None:
                raise ValueError(f"y: policy {pol.name} needs the prediction y")
            y = np.asarray(y, dtype=float)
            if np.any(~np.isfinite(y)) or np.any(y < 0):
                raise ValueError("y must be finite and >= 0")
            if isinstance(pol, (GittinsBuckets, GittinsPosterior)):
                out = self._gittins_conditional(pol, lam, x, y)
            elif isinstance(pol, OneBit):  # Cobham's per-class forms (SOAP: the tests)
                out = one_bit_conditional(self.size, self.prediction, lam, pol.threshold,
                                          pol.preemptive, pol.within, x, y)
            elif isinstance(pol, Buckets):
                out = buckets_conditional(self.size, self.prediction, lam, pol.thresholds,
                                          pol.preemptive, x, y)
            elif isinstance(pol, TRAIL) and self.prediction.is_exact:
                out = trail_known_sizes_conditional(self.size, lam, pol.c, x)
            elif isinstance(pol, TRAIL):
                out = self._engines.trail(pol.c).trail_conditional(lam, x, y)
            elif isinstance(pol, SRPTBounce) and not self.prediction.is_general \
                    and not self.size.is_discrete:
                out = self._engines.bounce().bounce_conditional(lam, x, y)
            elif isinstance(pol, SkipPredict):
                out = self._skip_conditional(pol, lam, x, y)
            elif isinstance(pol, DelayPredict) and not self.prediction.is_general \
                    and not self.size.is_discrete:
                # the closed form's per-job terms (both cost models; SOAP: the tests)
                out = self._engines.delay(pol).conditional(lam, x, y)
            elif pol.name not in _TRUE_SIZE_TWIN:
                out = self._soap_conditional(pol, lam, x, y)
            elif self.prediction.is_exact and self.size.is_discrete:
                out = self._engines.classical.conditional(_TRUE_SIZE_TWIN[pol.name], lam, x)
            else:
                out = self._engines.predicted.conditional(pol.name, lam, x, y)
        elif isinstance(pol, Priority):
            p = np.asarray(pol.probs)
            means = self._priority_means(pol)
            m1 = self.size.mean
            sigma_prev = np.concatenate([[0.0], np.cumsum(self.arrival_rate * p * m1)[:-1]])
            if pol.preemptive:  # E[T_k(x)] = x/(1 - sigma_{k-1}) + wait_k
                per = x[..., None] / (1 - sigma_prev) + (means - m1 / (1 - sigma_prev))
            else:
                per = x[..., None] + (means - m1)
            out = per @ p
        elif pol.name in CLASSICAL_POLICIES:
            out = self._engines.classical.conditional(pol.name, lam, x)
        elif isinstance(pol, TRAIL):  # on the size
            out = trail_known_sizes_conditional(self.size, lam, pol.c, x)
        elif self._age_rank_analysis(pol) is not None:
            out = (self._age_rank_analysis(pol).conditional(lam, x) if lam * self.size.moment(1)
                   < 1 else np.full(np.shape(x), np.inf))
        else:
            out = self._soap_conditional(pol, lam, x, y)
        out = np.asarray(out, dtype=float)
        return out[()] if out.ndim == 0 else out

    def _gittins_conditional(self, pol, lam, x, y):
        """E[T(x, y)] of GittinsBuckets (the class of y's bucket) and of GittinsPosterior
        with exact predictions (SRPT)."""
        x, y = np.broadcast_arrays(x, y)
        out = np.empty(x.shape)
        for yv in np.unique(y):
            at = y == yv
            if isinstance(pol, GittinsPosterior):
                if not self.prediction.is_exact:
                    raise NotImplementedError(
                        f"{pol.name}: no conditional response time with noisy predictions "
                        "(pointwise in the prediction the node rule converges only at first "
                        "order, erratically; qtheory.analysis.posterior_gittins); use "
                        "mean_response_time, or GittinsBuckets' conditional response time")
                out[at] = self._engines.classical.conditional("SRPT", lam, x[at])
                continue
            analysis = self._engines.gittins_buckets(pol)
            bucket = int(_bucket_of(pol.thresholds, yv))
            if bucket not in analysis.buckets:
                raise ValueError(f"y: the bucket of {yv!r} has probability 0")
            out[at] = analysis.conditional(analysis.buckets.index(bucket), lam, x[at])
        return out

    # ------------------------------------------------------------------ simulation
    def simulate(self, policy, **kw):
        """Simulate this queue under ``policy``; see :func:`qtheory.sim.simulate`.

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(load=0.5, size=qt.Exponential(mean=1.0))
        >>> r = q.simulate("SRPT", jobs=10_000, replications=2, seed=1)
        >>> r.policy, r.converged
        ('SRPT', True)
        """
        from .sim import simulate

        return simulate(self, policy, **kw)
