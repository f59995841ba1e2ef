"""The result of an LLM serving simulation.

Examples
--------
>>> import numpy as np
>>> e = Estimate.from_means(np.array([1.0, 1.2, 0.8, 1.0]), np.array([0.5, 1.0, 2.0]))
>>> round(e.mean, 6), e.ci[0] < 1.0 < e.ci[1], e.p50
(1.0, True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...sim.result import MeanInterval, t_interval

__all__ = ["LLMResult", "Estimate", "PERCENTILES"]

#: Percentiles reported for latency, TTFT and TBT.
PERCENTILES = (50.0, 90.0, 99.0)


@dataclass(frozen=True)
class Estimate(MeanInterval):
    """A mean with a Student-t confidence interval, and percentiles.

    Attributes
    ----------
    mean : float
    ci : (float, float)
    std_error : float
    percentiles : dict
        ``{50.0: ..., 90.0: ..., 99.0: ...}`` over all measured values (pooled over
        replications; NaN when not applicable).
    means : ndarray
        The replication (or batch) means the interval is built from.
    """

    mean: float
    ci: tuple
    std_error: float
    percentiles: dict
    means: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def from_means(cls, means, values=None, level: float = 0.95) -> Estimate:
        """From replication (or batch) means and optionally the pooled values."""
        mean, ci, se = t_interval(means, level, drop_nonfinite=True)
        if values is not None and np.size(values):
            v = np.asarray(values, float)
            pct = {q: float(x) for q, x in zip(PERCENTILES, np.percentile(v, PERCENTILES))}
        else:
            pct = {q: float("nan") for q in PERCENTILES}
        return cls(mean, ci, se, pct, np.asarray(means, float))


@dataclass(frozen=True)
class LLMResult:
    """Metrics of :func:`qtheory.llm.simulate` (see its docstring for definitions).

    Attributes
    ----------
    scheduler : str
    latency, ttft, tbt : Estimate
        End-to-end latency (completion - arrival), time to first token (first output
        token - arrival) and time between tokens ((completion - first token) / (o - 1),
        requests with ``o >= 2``), over measured requests.
    throughput, token_throughput : Estimate
        Completed requests and their output tokens per unit time, in the window from
        the first measured arrival to the last arrival.
    mean_number : float
        Time-average number of requests in system over that window (Little's law:
        ``mean_number ~ throughput * latency.mean`` for a stable run).
    kv_mean_tokens : float
        Time-average KV tokens held (running requests, prompts being prefilled, paused
        requests) over the measured window: from the first iteration boundary at which
        the first measured arrival is visible to the one at which the last arrival is
        (mean over replications); the fill transient of the warm-up and the drain after
        the last arrival are left out.
    kv_mean_tokens_run : float
        The same time average over each whole run, from 0 to the last completion
        (mean over replications); times the run length it is the run's KV integral.
    kv_max_blocks, kv_max_tokens : int
        Largest KV blocks (tokens) held in any iteration, over all replications.
    kv_capacity_blocks : int or None
    preemptions, evictions, priority_preemptions : int
        Totals over replications: all preemptions, memory-overflow evictions, and
        preemptions by priority.
    recomputed_tokens, swapped_tokens : int
        Totals over replications: tokens processed again (recompute prefills, restart
        losses, lost partial prefills) and tokens moved to host memory and back.
    backlog_slope : float
        Least-squares slope (requests per unit time) of the number in system over the
        second half of the arrival window (mean over replications).
    backlog_end : float
        Number in system at the last arrival (mean over replications).
    stable : bool
        The heuristic of :func:`qtheory.llm.simulate` (backlog not growing).
    iterations : float
        Iterations executed per replication (mean).
    elapsed : float
        Seconds the kernels took (all replications).
    backend : str
        ``"cpu"`` or ``"gpu"``.
    kv_trace : dict or None
        ``time``, ``kv_tokens``, ``kv_blocks``, ``in_system`` sampled at
        ``trace_points`` equally spaced times from 0 to the last arrival (replication
        0): the KV tokens and blocks held in the iteration running at that time
        (prompts being prefilled included; 0 when idle) and the requests in system at
        the start of that iteration.
    records : dict or None
        Per-request arrays ``(replications, requests)``: ``arrival``, ``prompt``,
        ``output``, ``prediction``, ``first_token``, ``completion``, ``preemptions``.
    """

    scheduler: str
    latency: Estimate
    ttft: Estimate
    tbt: Estimate
    throughput: Estimate
    token_throughput: Estimate
    mean_number: float
    kv_mean_tokens: float
    kv_mean_tokens_run: float
    kv_max_blocks: int
    kv_max_tokens: int
    kv_capacity_blocks: int | None
    preemptions: int
    evictions: int
    priority_preemptions: int
    recomputed_tokens: int
    swapped_tokens: int
    backlog_slope: float
    backlog_end: float
    stable: bool
    requests: int
    warmup: int
    replications: int
    ci_method: str
    arrival_rate: float
    iterations: float
    seed: int
    level: float = 0.95
    elapsed: float = field(default=float("nan"), compare=False)
    backend: str = field(default="cpu", compare=False)
    kv_trace: dict | None = field(default=None, repr=False, compare=False)
    records: dict | None = field(default=None, repr=False, compare=False)
    notes: tuple = ()

    def summary(self) -> str:
        """A few lines: latency, TTFT, TBT, throughput, memory, preemptions."""
        lat, tt = self.latency, self.ttft
        flag = "" if self.stable else "  [UNSTABLE: backlog grows at " \
            f"{self.backlog_slope:.4g} requests per unit time]"
        return (f"{self.scheduler}: latency {lat.mean:.6g} ({100 * self.level:g}% CI "
                f"{lat.ci[0]:.6g} .. {lat.ci[1]:.6g}), p99 {lat.p99:.4g}; TTFT "
                f"{tt.mean:.4g}; TBT {self.tbt.mean:.4g}; throughput "
                f"{self.throughput.mean:.4g} req / {self.token_throughput.mean:.4g} tok "
                f"per unit time; KV max {self.kv_max_blocks} of "
                f"{self.kv_capacity_blocks} blocks; {self.preemptions} preemptions"
                f"{flag}")

    def __str__(self) -> str:
        return self.summary()
