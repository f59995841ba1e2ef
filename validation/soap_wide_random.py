"""Random user ranks: SOAP's mean with and without the wide pieces of the level starting with
tanh-sinh.

A finite piece of the level axis on one side of 0 over more than the factor
``soap._WIDE_RATIO`` (8) starts with tanh-sinh instead of the 15-point Gauss-Kronrod pair (its
integrand lives on the scale of its end nearer 0; on the bench's rows Gauss-Kronrod failed on
all of them, at a batch of levels each). This script draws random piecewise ranks
(``random_rank`` of ``soap_random_ranks.py``) on bounded Pareto, exponential, Weibull (shape
0.4 to 2), lognormal and uniform sizes with uniform, exponential or lognormal noise, loads 0.2
to 0.8, and computes each mean at rtol 1e-8 as the engine does and with the rule off (ratio
infinite), by the shared loop of ``soap_range_random.py``: the relative difference (against the
estimate) and the times.

Run: ``python validation/soap_wide_random.py [seed ...] [--systems N] [--budget S]``.

First run (2026-12-07, seeds 1-3): see ``docs/soap.md`` ("Wide pieces of the level").
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.analysis import soap as S

sys.path.insert(0, str(Path(__file__).parent))
from soap_range_random import compare, compare_main  # noqa: E402 - shared


def _size(rng):
    k = int(rng.integers(5))
    if k == 0:
        return qt.BoundedPareto(alpha=float(rng.uniform(0.5, 2.5)), low=0.1,
                                high=float(rng.uniform(5, 500)))
    if k == 1:
        return qt.Exponential(mean=float(rng.uniform(0.5, 2.0)))
    if k == 2:
        return qt.Weibull(shape=float(rng.uniform(0.4, 2.0)), scale=1.0)
    if k == 3:
        return qt.Lognormal(mu=0.0, sigma=float(rng.uniform(0.5, 1.5)))
    return qt.Uniform(0.0, float(rng.uniform(0.5, 3.0)))


def run(seed: int, systems: int, budget: int) -> list:
    """:func:`soap_range_random.compare`, the switch this rule."""
    return compare(seed, systems, budget, _size, [(S, "_WIDE_RATIO", np.inf)])


def main(argv=None) -> list:
    return compare_main(run, __doc__, argv, 30, "with Gauss-Kronrod first on every finite "
                        "piece", "with the rule")


if __name__ == "__main__":
    main()
