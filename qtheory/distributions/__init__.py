"""Job-size laws on [0, inf) with a common vectorised interface.

See :mod:`qtheory.distributions.base` for the interface every law implements.
"""

from .base import SizeDistribution
from .continuous import (
    BoundedPareto,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from .discrete import Deterministic, Discrete, Empirical
from .point_posterior import PredictionPoint, point_law
from .posterior import PredictionBucket, bucket_law
from .scipy_wrap import ScipyDistribution, as_distribution
from .tabulated import Tabulated
from .truncated import Truncated

__all__ = [
    "Truncated",
    "PredictionBucket",
    "bucket_law",
    "PredictionPoint",
    "point_law",
    "SizeDistribution",
    "Exponential",
    "Uniform",
    "Gamma",
    "Erlang",
    "HyperExponential",
    "Weibull",
    "Lognormal",
    "Pareto",
    "BoundedPareto",
    "Deterministic",
    "Discrete",
    "Empirical",
    "ScipyDistribution",
    "as_distribution",
    "Tabulated",
]
