"""Monte Carlo engine: event-driven simulation of the policies the analysis covers.

The simulator reads the same policy objects as the analytic engine: each
policy's rank function (:mod:`qtheory.rank`) is compiled into flat arrays
(:mod:`qtheory.sim.ranks`) that one generic Numba kernel evaluates; processor
sharing, priority classes and newest-short-first one-bit advice have dedicated
handling. See ``docs/simulation.md``.

Examples
--------
>>> import qtheory as qt
>>> from qtheory.sim import simulate
>>> q = qt.MG1(load=0.7, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
>>> r = simulate(q, "SPRPT", jobs=20_000, replications=4, seed=3)
>>> abs(r.z_score(q.mean_response_time("SPRPT"))) < 4
True
"""

from .driver import BACKENDS, simulate
from .result import PERCENTILES, SimulationResult, SimulationWarning

__all__ = ["simulate", "SimulationResult", "SimulationWarning", "BACKENDS", "PERCENTILES"]
