"""Does GittinsPosterior's error estimate cover its error? Random systems.

Gittins on the posterior given a continuous prediction
(:class:`qtheory.policies.GittinsPosterior`) integrates over the prediction with a node rule
whose integrands jump where a node's rank crosses a level, so its value carries an estimate
from the differences of the rule at ``n``, ``n / 2`` and ``n / 4`` nodes
(:meth:`qtheory.analysis.posterior_gittins.PosteriorGittinsAnalysis.mean`). This script
draws random systems (the size and noise families of ``gittins_random_laws.py``: Weibull,
lognormal, exponential, hyperexponential, bounded Pareto, Pareto, uniform sizes; uniform,
exponential, lognormal noise; a load from 0.3 to 0.9), computes the 16-node value and the
64-node value, and counts the systems where they differ by more than the sum of their
estimates (a miss), and whether a ``QuadratureWarning`` came with it.

Run: ``python validation/posterior_random.py [seed ...] [--systems N]`` (about 6 s a system
on one core). Last run (2026-12-05, seeds 1 to 4, 12 systems each, 48 systems):

* before: 7 of the 48 raised a ``ValueError`` at 64 nodes (exponential, lognormal and
  Pareto sizes under uniform noise): a point posterior's density was 0 at the lower end of
  its support, where ``y / x`` rounds above the noise factor's support, and a rank piece's
  fit came out NaN; and one miss without a warning (uniform sizes on [0, 0.638], uniform
  noise 0.32, load 0.694: the 16-node value 1.5e-4 off with an estimate of 7.4e-5, as
  ``d_16`` happened to be small);
* after both fixes (the density's right limit there; an estimate of at least
  ``|d_{n/2}| / 4``): no errors; 1 miss of 48, with a warning: bounded Pareto (1.59 on
  [0.1, 452]) with lognormal noise 0.77, load 0.558, where the node values at 8 and 16 are
  not yet in the rule's asymptotic regime (E_n = 0.43950, 0.44015, 0.43821, 0.43808, 0.43807
  for n = 8 ... 128): 5.3e-3 off with an estimate of 1.5e-3 relative, which warns.

The 16-node estimates are 2e-4 to 0.1 relative (most warn: above 1e-3), the 64-node ones
2e-5 to 1e-2: the rule is a second-order one (``docs/soap.md``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

import qtheory as qt

sys.path.insert(0, str(Path(__file__).parent))
from gittins_random_laws import random_queue, seeded_rows  # noqa: E402 - shared


def run(seed: int, systems: int = 12) -> list:
    """``[(miss, warned, |v16 - v64| / v64, est16, est64, label), ...]`` for ``systems``
    random systems of seed ``seed`` (relative estimates; a system that raises has ``miss``
    None and the error as its label)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(systems):
        label, q = random_queue(rng, 0.3, 0.9)
        vals = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                for nodes in (16, 64):
                    vals.append(q.mean_response_time_with_error(
                        qt.policies.GittinsPosterior(nodes=nodes)))
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                out.append((None, False, np.nan, np.nan, np.nan, f"{label}: {exc!r}"))
                continue
        (v16, e16), (v64, e64) = vals
        diff = abs(v16 - v64)
        out.append((diff > e16 + e64, bool(caught), diff / v64, e16 / v64, e64 / v64, label))
    return out


def main(argv=None) -> None:
    rows = seeded_rows(run, __doc__, 12, argv)
    for miss, warned, rel, e16, e64, label in rows:
        tag = "ERROR" if miss is None else ("MISS" if miss else "ok")
        print(f"  {tag:5s} {'warned' if warned else '      '} |v16 - v64| {rel:.1e}  "
              f"estimates {e16:.1e} {e64:.1e}  {label}")
    errors = sum(r[0] is None for r in rows)
    misses = [r for r in rows if r[0]]
    print(f"\n{len(rows)} systems: {errors} errors, {len(misses)} misses "
          f"({sum(not r[1] for r in misses)} without a warning)")


if __name__ == "__main__":
    main()
