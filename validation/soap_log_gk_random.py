"""Random user ranks: SOAP's mean with the Gauss-Kronrod rule of the level in log|r| and with
the rule before it.

Since 2026-12-07 (23rd session) every finite piece of the level axis starts with the 15-point
Gauss-Kronrod pair, taken in the variable log|r| on the pieces on one side of 0, and the pieces
on one side of 0 over more than the factor ``soap._R_SPAN`` (4) are cut geometrically. Before,
the pair was taken in r itself, pieces over a factor 8 started with tanh-sinh instead, and the
cuts were at a factor 16: that rule is put back here by patches (:func:`_before`). This script
draws random piecewise ranks (``random_rank`` of ``soap_random_ranks.py``) on bounded Pareto,
exponential, Weibull (shape 0.4 to 2), lognormal and uniform sizes with uniform, exponential
or lognormal noise, loads 0.2 to 0.8, and computes each mean at rtol 1e-8 both ways, by the
shared loop of ``soap_range_random.py``: the relative difference (against the estimate) and
the times.

Run: ``python validation/soap_log_gk_random.py [seed ...] [--systems N] [--budget S]``.

First run (2026-12-07, seeds 1-3): 70 rows, worst relative difference 1.1e-12, none above its
estimate; 95.6 s with the rule before, 94.7 s in log|r| (``docs/soap.md``, "Gauss-Kronrod in
log|r|"). Seeds 4-6: 69 rows, worst 9.1e-12, none above its estimate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import qtheory as qt
from qtheory.analysis import soap as S

sys.path.insert(0, str(Path(__file__).parent))
from soap_range_random import compare, compare_main  # noqa: E402 - shared

_INITIAL = S.SOAPAnalysis._initial_pieces


def _before(self):
    """The initial pieces as the engine took them before: the pieces on one side of 0 over
    more than a factor 8 start with tanh-sinh (with ``_R_SPAN`` 16 and the pair in r)."""
    pieces = _INITIAL(self)
    for kind, a, b in pieces:
        if kind == "F" and (a > 0 or b < 0) and max(a / b, b / a) > 8.0:
            self._gk_start.discard((kind, a, b))
    return pieces


PATCHES = [(S, "_R_SPAN", 16.0), (S.SOAPAnalysis, "gauss_kronrod_log", False),
           (S.SOAPAnalysis, "_initial_pieces", _before)]


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
    """:func:`soap_range_random.compare`, the switch this rule (:data:`PATCHES`)."""
    return compare(seed, systems, budget, _size, PATCHES)


def main(argv=None) -> list:
    return compare_main(run, __doc__, argv, 30, "with the rule before (in r)",
                        "in log|r|")


if __name__ == "__main__":
    main()
