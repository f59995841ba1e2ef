"""qtheory: analytic queueing theory of scheduling with predicted job sizes.

The public API in one screen::

    import qtheory as qt
    q = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0),
               prediction=qt.ExponentialPrediction())
    q.mean_response_time("SPRPT")
    q.mean_response_time("SPJF", method="mpmath", dps=30)
    q.conditional_response_time("SPRPT", x=1.0, y=0.5)
    q.simulate("SPRPT", jobs=10**6, replications=8, seed=1)   # Monte Carlo, with a CI
"""

from . import policies, rank, sim
from ._threads import get_threads, set_threads
from ._warnings import QuadratureWarning
from .analysis.optimize import OptimumResult, optimal_buckets, optimal_one_bit, optimal_trail
from .analysis.priority import priority_class_means
from .distributions import (
    BoundedPareto,
    Deterministic,
    Discrete,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    PredictionBucket,
    ScipyDistribution,
    SizeDistribution,
    Tabulated,
    Truncated,
    Uniform,
    Weibull,
    as_distribution,
)
from .policies import get_policy
from .predictions import (
    ConditionalPrediction,
    ExactPrediction,
    ExponentialPrediction,
    IntervalPrediction,
    LognormalPrediction,
    MultiplicativePrediction,
    MultiPrediction,
    PredictionModel,
    UniformPrediction,
)
from .queue import MG1
from .sim import SimulationResult, simulate

__version__ = "0.1.0"

__all__ = [
    "MG1",
    "policies",
    "rank",
    "sim",
    "simulate",
    "SimulationResult",
    "optimal_one_bit",
    "optimal_buckets",
    "optimal_trail",
    "OptimumResult",
    "priority_class_means",
    "get_policy",
    "QuadratureWarning",
    "get_threads",
    "set_threads",
    "SizeDistribution",
    "as_distribution",
    "Exponential",
    "Deterministic",
    "Uniform",
    "Truncated",
    "PredictionBucket",
    "Gamma",
    "Erlang",
    "HyperExponential",
    "Weibull",
    "Lognormal",
    "Pareto",
    "BoundedPareto",
    "Discrete",
    "Empirical",
    "ScipyDistribution",
    "Tabulated",
    "PredictionModel",
    "ExactPrediction",
    "ExponentialPrediction",
    "UniformPrediction",
    "IntervalPrediction",
    "LognormalPrediction",
    "MultiplicativePrediction",
    "MultiPrediction",
    "ConditionalPrediction",
    "__version__",
]
