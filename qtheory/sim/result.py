"""The result of a simulation: means with confidence intervals, percentiles, records.

Examples
--------
>>> import numpy as np
>>> r = SimulationResult.from_replication_means(
...     "FCFS", np.array([4.9, 5.1, 5.0, 5.0]), level=0.95, jobs=1000, warmup=100)
>>> round(r.mean, 6), r.replications, r.ci_method
(5.0, 4, 'replications')
>>> r.ci[0] < 5.0 < r.ci[1]
True
>>> round(r.z_score(5.0), 6)
0.0
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

__all__ = ["SimulationResult", "SimulationWarning", "PERCENTILES", "histogram_percentiles",
           "MeanInterval", "t_interval"]

#: Response-time percentiles every result reports.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class SimulationWarning(UserWarning):
    """A simulation whose mean must not be read as a converged estimate (e.g. load >= 1)."""


def histogram_percentiles(hist: np.ndarray, log_lo: float, bins_per_log: float,
                          qs=PERCENTILES) -> dict:
    """Percentiles from a log-spaced histogram with an underflow and an overflow bin.

    Bin ``i`` (1-based) covers ``[exp(log_lo + (i-1)/s), exp(log_lo + i/s))`` with
    ``s = bins_per_log``; a percentile is interpolated geometrically inside its bin.
    Values in the underflow (overflow) bin are reported as the lower (upper) edge.

    Examples
    --------
    >>> h = np.zeros(12, np.int64); h[5] = 10
    >>> p = histogram_percentiles(h, 0.0, 1.0, qs=(50.0,))
    >>> round(p[50.0], 6) == round(float(np.exp(4.5)), 6)
    True
    """
    hist = np.asarray(hist, dtype=np.int64)
    total = int(hist.sum())
    out = {}
    nb = hist.size - 2
    cum = np.cumsum(hist)
    for q in qs:
        if total == 0:
            out[float(q)] = float("nan")
            continue
        target = q / 100.0 * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, hist.size - 1)
        if i == 0:
            out[float(q)] = float(np.exp(log_lo))
        elif i == nb + 1:
            out[float(q)] = float(np.exp(log_lo + nb / bins_per_log))
        else:
            below = cum[i - 1]
            frac = (target - below) / hist[i] if hist[i] > 0 else 0.5
            out[float(q)] = float(np.exp(log_lo + (i - 1 + frac) / bins_per_log))
    return out


class MeanInterval:
    """Methods shared by results that carry ``mean``, ``ci``, ``std_error`` and
    ``percentiles`` (:class:`SimulationResult`, :class:`qtheory.llm.Estimate`)."""

    def z_score(self, value: float) -> float:
        """``(mean - value) / std_error``: how many standard errors ``value`` is away."""
        if not self.std_error > 0:
            return 0.0 if self.mean == value else float("inf")
        return float((self.mean - value) / self.std_error)

    def covers(self, value: float) -> bool:
        """True when ``value`` lies in the confidence interval."""
        return bool(self.ci[0] <= value <= self.ci[1])

    @property
    def p50(self) -> float:
        """Median."""
        return self.percentiles[50.0]

    @property
    def p90(self) -> float:
        """90th percentile."""
        return self.percentiles[90.0]

    @property
    def p99(self) -> float:
        """99th percentile."""
        return self.percentiles[99.0]


@dataclass(frozen=True)
class SimulationResult(MeanInterval):
    """Mean response time and more from a simulation; see :func:`qtheory.sim.simulate`.

    Attributes
    ----------
    policy : str
    mean : float
        Mean response time over the measured jobs (NaN when no job was measured).
    ci : (float, float)
        Confidence interval at ``level`` for the mean.
    level : float
    std_error : float
        Standard error of ``mean``.
    percentiles : dict
        Response-time percentiles ``{50.0: ..., 90.0: ..., 99.0: ..., 99.9: ...}``.
    jobs : int
        Measured jobs per replication (after warm-up).
    warmup : int
        Jobs discarded per replication before measuring.
    replications : int
    replication_means : ndarray
        Mean response time of each replication.
    ci_method : {"replications", "batch means"}
        Independent replications (``replications >= 2``) or batch means within the
        single replication.
    mean_number : float
        Time-average number in system over the measurement window (Little's law:
        ``mean_number ~ arrival_rate * mean``).
    arrival_rate, load : float
    servers : int
    stable : bool
        False when the load is >= 1.
    converged : bool
        False when the queue is unstable, a replication was cut short, or no job was
        measured: ``mean`` is then not an estimate of a stationary mean.
    std : float
        Standard deviation of the response time (over all measured jobs).
    backend : str
    seed : int or None
    records : dict or None
        With ``records=True``: arrays of shape (replications, jobs) ``arrival``,
        ``size``, ``prediction``, ``completion`` of the measured jobs (by arrival); on a
        :class:`~qtheory.MultiPrediction` queue also ``predictions``, shape
        (replications, jobs, models): every prediction of every job (NaN for a model
        without an in-kernel sampler).
    percentile_method : str
        ``"exact"`` (from records) or ``"histogram"`` (log-spaced bins, about 1.2%
        relative resolution).
    """

    policy: str
    mean: float
    ci: tuple
    level: float
    std_error: float
    percentiles: dict
    jobs: int
    warmup: int
    replications: int
    replication_means: np.ndarray = field(repr=False, compare=False)
    ci_method: str = "replications"
    mean_number: float = float("nan")
    arrival_rate: float = float("nan")
    load: float = float("nan")
    servers: int = 1
    stable: bool = True
    converged: bool = True
    std: float = float("nan")
    backend: str = "cpu"
    seed: int | None = None
    records: dict | None = field(default=None, repr=False, compare=False)
    percentile_method: str = "histogram"
    notes: tuple = ()
    elapsed: float = field(default=float("nan"), repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_replication_means(cls, policy: str, means, level: float = 0.95, **kw):
        """A result whose CI is a Student-t interval over independent (or batch) means.

        ``replication_means`` defaults to ``means``.
        """
        means = np.asarray(means, dtype=float)
        mean, ci, se = t_interval(means, level)
        kw.setdefault("percentiles", {q: float("nan") for q in PERCENTILES})
        kw.setdefault("replications", means.size)
        kw.setdefault("replication_means", means)
        return cls(policy=policy, mean=mean, ci=ci, level=level, std_error=se, **kw)

    # ------------------------------------------------------------------ helpers
    @property
    def p999(self) -> float:
        """99.9th percentile of the response time."""
        return self.percentiles[99.9]

    @property
    def response_times(self) -> np.ndarray:
        """Response times of the measured jobs, shape (replications, jobs) (records only)."""
        if self.records is None:
            raise ValueError("records: run simulate(..., records=True) to keep per-job records")
        return self.records["completion"] - self.records["arrival"]

    def with_notes(self, *notes: str) -> SimulationResult:
        """A copy with extra notes."""
        return replace(self, notes=self.notes + tuple(notes))

    def summary(self) -> str:
        """One line: policy, mean, CI, percentiles and flags."""
        flag = "" if self.converged else "  [NOT CONVERGED" + (
            ": unstable load" if not self.stable else "") + "]"
        return (f"{self.policy}: E[T] = {self.mean:.6g} "
                f"({100 * self.level:g}% CI {self.ci[0]:.6g} .. {self.ci[1]:.6g}), "
                f"p50 {self.p50:.4g}, p99 {self.p99:.4g}; "
                f"{self.replications} x {self.jobs} jobs{flag}")

    def __str__(self) -> str:
        return self.summary()


def t_interval(means: np.ndarray, level: float, drop_nonfinite: bool = False):
    """``(mean, (low, high), std_error)``: Student-t interval over replication means.

    Non-finite means make every output NaN, unless ``drop_nonfinite`` (then they are
    left out). One mean gives an infinite interval.
    """
    means = np.asarray(means, dtype=float)
    if drop_nonfinite:
        means = means[np.isfinite(means)]
    n = means.size
    if n == 0 or not np.all(np.isfinite(means)):
        nan = float("nan")
        return nan, (nan, nan), nan
    mean = float(means.mean())
    if n < 2:
        return mean, (float("-inf"), float("inf")), float("inf")
    se = float(means.std(ddof=1) / np.sqrt(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * se
    return mean, (mean - half, mean + half), se
