"""Random user ranks: SOAP's mean in one pass and in two, where the choice depends on it.

The SOAP engine computes the tagged job's measures and the other-job functions in two passes
(each on its own split points in the noise, each refining its own pieces) where the
other-job functions' split points make at most ``soap._TWO_PASSES`` of the pieces of both,
else in one pass. This script draws random piecewise ranks (``random_rank`` of
``soap_random_ranks.py``) on random systems (``random_queue`` of ``gittins_random_laws.py``:
Weibull, lognormal, exponential, hyperexponential, bounded Pareto, Pareto and uniform sizes
with uniform, exponential or lognormal noise, loads 0.2 to 0.8), computes each mean at rtol
1e-8 with the threshold at ``--high`` and at ``--low``, and where the two thresholds give a
different number of passes compares the means against the sum of their error estimates. A
value over ``--budget`` seconds either way is skipped.

Run: ``python validation/soap_passes_random.py [seed ...] [--systems N] [--ranks K]
[--low 0.7] [--high 0.9] [--budget S]``.

First run (2026-12-07, seeds 1 to 4, 10 systems of 3 ranks each, thresholds 0.7 and 0.9,
budget 20 s): of 120 ranks, 9 over the budget; 15 took two passes at 0.9 and one at 0.7; all
15 within the sum of the estimates, the largest difference 2.0e-11 relative; those 15 took
3.9 s in all with two passes and 4.9 s with one.
"""

from __future__ import annotations

import signal
import sys
import warnings
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.analysis import soap as S

sys.path.insert(0, str(Path(__file__).parent))
from gittins_random_laws import random_queue, seeded_rows  # noqa: E402 - shared
from soap_random_ranks import (  # noqa: E402 - shared
    _alarm,
    _OverBudget,
    _was_over,
    random_rank,
)
from soap_range_random import timed_mean  # noqa: E402 - shared


def _mean(q0, pol, rank, threshold, budget):
    """``(mean, estimate, seconds, passes)`` with ``soap._TWO_PASSES = threshold``
    (``soap_range_random.timed_mean``)."""
    return timed_mean(q0.size, q0.prediction, q0.load, pol, rank, budget,
                      [(S, "_TWO_PASSES", threshold)],
                      lambda analysis: getattr(analysis, "_passes", None))


def run(seed: int, systems: int, ranks: int, low: float, high: float, budget: int) -> list:
    """``[(relative difference, within the estimates, seconds at high, at low)]`` for the
    ranks whose number of passes differs between the thresholds."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(systems):
        label, q0 = random_queue(rng, 0.2, 0.8)
        for j in range(ranks):
            rank = random_rank(rng, q0)
            pol = qt.policies.RankPolicy(rank, label="random")
            try:
                v1, e1, t1, p1 = _mean(q0, pol, rank, high, budget)
                v0, e0, t0, p0 = _mean(q0, pol, rank, low, budget)
            except (_OverBudget, SystemError) as exc:
                if not _was_over(exc):
                    raise
                print(f"seed {seed} {i}.{j}: over the budget", flush=True)
                continue
            if p1 == p0:
                continue
            d = abs(v1 - v0)
            rows.append((d / abs(v0), bool(d <= e0 + e1), t1, t0))
            print(f"seed {seed} {i}.{j}: {label}: passes {p0} -> {p1}, difference "
                  f"{d / abs(v0):.1e}, estimates {e0 / abs(v0):.1e} and {e1 / abs(v1):.1e}, "
                  f"{t0 * 1e3:.0f} -> {t1 * 1e3:.0f} ms", flush=True)
    return rows


def main(argv=None) -> list:
    warnings.simplefilter("ignore", qt.QuadratureWarning)
    signal.signal(signal.SIGALRM, _alarm)
    options = {"--ranks": {"type": int, "default": 3},
               "--low": {"type": float, "default": 0.7},
               "--high": {"type": float, "default": S._TWO_PASSES},
               "--budget": {"type": int, "default": 20}}
    rows = seeded_rows(run, __doc__, 10, argv, options)
    if rows:
        print(f"{len(rows)} ranks change passes; largest difference "
              f"{max(r[0] for r in rows):.1e}; all within the estimates: "
              f"{all(r[1] for r in rows)}; {sum(r[2] for r in rows):.1f} s at the higher "
              f"threshold, {sum(r[3] for r in rows):.1f} s at the lower")
    return rows


if __name__ == "__main__":
    main()
