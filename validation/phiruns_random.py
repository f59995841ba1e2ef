"""Each prediction's T(y) by the runs of Phi against its Gittins rank engine: random systems.

The swapped integral for Gittins on the posterior (:mod:`qtheory.analysis.posterior_rwork`)
needs, for each node ``y`` of its rule over the prediction, ``T(y) = int S_y(r) K(r) dr``.
Two independent routes give it: the node law's Gittins rank table and r-work engine
(``node_work="engine"``), and the runs of ``Phi`` with no rank table at all
(``node_work="runs"``, :mod:`qtheory.analysis.phiruns`). For random systems (the size and
noise families of ``gittins_random_laws.py``, a load from 0.3 to 0.9) this computes the
mean both ways on one analysis (one N, 6 nodes a piece, so the two differ only in the
nodes' T; each route halves the rule's pieces where its own T's Gauss sums miss, so both
are taken again until their pieces are the same) and reports the difference against the
two estimates: a *miss* is a difference
above their sum. Exceptions are reported, not hidden.

Run: ``python validation/phiruns_random.py [seed ...] [--systems N]`` (about 3 minutes a
seed of 8 systems). Last run (2026-12-08, 33rd session, seeds 1 to 3, 8 systems each, the
analysis built for the engines, whose node laws keep full tables): 23 of 24 within the
estimates, no errors; ``|runs - engine|`` median 2.4e-12 relative, largest 3.1e-10; the
nodes' T took 25 s by the runs and 259 s by the engines, alone on the machine. (32nd
session: the same counts, median 2.7e-12, 32 s against 262 s; 31st: the same counts and
differences, 50 s against 290 s with the CI's tests beside them.) With the engines' laws
trimmed as the runs' are (``posterior._trimmed``, 1e-30 of each moment), the 31st session:
the same counts, median 4.6e-13, but the engines took 452 s (their rank tables reach beyond
the trimmed ends, where each value is a quadrature), so only the runs' laws are
trimmed. (30th session: 45 s against 269 s, median 3.0e-12; 29th: 66 s against 290 s;
28th: 59 s against 249 s; 27th: 37 s against 149 s, fewer node laws.)
The miss (lognormal sizes, sigma 0.962, uniform noise 0.762, load 0.546: 3.1e-10 apart,
estimates 5.2e-11 and 1.1e-10) is the engines': at the node laws near ``y = 21.5`` their
``S`` is up to 1.2e-5 low at levels 8.56 to 8.70, where the two runs of ``Phi`` merge; there
the runs' ``S`` agrees with ``Phi`` scanned over 2.4 million ages, the runs' ends refined by
root finding and ``S`` by adaptive quadrature, to 1.5e-9 (89.4006557521 against the runs'
89.400655806 and the engine's 89.3999325 at level 8.6). Bounded Pareto sizes under lognormal
noise show the same near ``y = 15.25`` (a run that appears at a fold of ``Phi``,
``docs/soap.md``). A first run in the 25th session found two systems 4e-3 and 5.4e-3 apart
(Pareto sizes; the runs' estimate said 1e-2), from a bug of the level integral, since fixed
(``tests/test_phiruns.py``, ``test_cuts_after_halving_cover_each_level_once``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

from qtheory.analysis.posterior_rwork import SwappedPosteriorAnalysis

sys.path.insert(0, str(Path(__file__).parent))
from gittins_random_laws import random_queue, seeded_rows  # noqa: E402 - shared


def run(seed: int, systems: int = 8) -> list:
    """``[(status, |runs - engine| / value, estimate runs, estimate engine, seconds runs,
    seconds engine, label), ...]``, ``status`` one of ``"ok"``, ``"MISS"``, ``"ERROR"``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(systems):
        label, q = random_queue(rng, 0.3, 0.9)
        lam = q.load / float(q.size.mean)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                a = SwappedPosteriorAnalysis(q.size, q.prediction, nodes=6, node_work="engine")
                a._n_table()
                t = time.perf_counter()
                ve, ee = a.mean(lam)
                te = time.perf_counter() - t
                a.node_work = "runs"
                t = time.perf_counter()
                vr, er = a.mean(lam)
                tr = time.perf_counter() - t
                # each route halves the rule's pieces where its own T's Gauss sums miss
                # (since the 28th session): again until both have the same pieces
                for _ in range(3):
                    n = len(a.pieces)
                    a.node_work = "engine"
                    ve, ee = a.mean(lam)
                    a.node_work = "runs"
                    vr, er = a.mean(lam)
                    if len(a.pieces) == n:
                        break
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                out.append(("ERROR", np.nan, np.nan, np.nan, np.nan, np.nan,
                            f"{label}: {exc!r}"))
                print(f"  ERROR {label}: {exc!r}", flush=True)
                continue
        diff = abs(vr - ve)
        status = "MISS" if diff > er + ee else "ok"
        out.append((status, diff / ve, er / vr, ee / ve, tr, te, label))
        print(f"  {status:5s} |runs - engine| {diff / ve:.1e}  estimates {er / vr:.1e} "
              f"{ee / ve:.1e}  T by runs {tr:5.1f} s, by engines {te:5.1f} s  {label}",
              flush=True)
    return out


def main(argv=None) -> None:
    rows = seeded_rows(run, __doc__, 8, argv)
    counts = {s: sum(r[0] == s for r in rows) for s in ("ok", "MISS", "ERROR")}
    good = [r for r in rows if r[0] != "ERROR"]
    d = np.array([r[1] for r in good])
    tr = np.array([r[4] for r in good])
    te = np.array([r[5] for r in good])
    print(f"\n{len(rows)} systems: {counts}; |runs - engine| median {np.median(d):.1e}, "
          f"largest {d.max():.1e}; time of the nodes' T: runs {tr.sum():.0f} s, engines "
          f"(with their rank tables) {te.sum():.0f} s, ratio {tr.sum() / te.sum():.2f}")


if __name__ == "__main__":
    main()
