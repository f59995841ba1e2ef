"""Random user ranks on bounded size laws: SOAP's mean with and without the rank-range cut.

``SOAPAnalysis._rank_range`` bounds every rank a job can have, and the engine leaves out the
pieces of the level axis outside those bounds (their integrand is 0: the tagged job's measures
live on values of the rank). This script draws random piecewise ranks (``random_rank`` of
``soap_random_ranks.py``: one or two branches, one to three segments, slopes -1, 0, +1, a
final ``-inf`` segment a quarter of the time) on bounded Pareto (60 %) and uniform sizes with
uniform, exponential or lognormal noise, loads 0.2 to 0.8, and computes each mean at rtol
1e-8 twice: as the engine does, and with the bounds switched off (every piece kept). It
reports the relative difference, how many initial pieces the cut left out and the times (the
two runs of a rank in alternating order: the first pays one-time costs). A value that takes
more than ``--budget`` seconds either way is skipped.

Run: ``python validation/soap_range_random.py [seed ...] [--systems N] [--budget S]``.

First run (2026-12-06, seeds 1 to 3, 12 systems of 2 ranks each, budget 25 s): 68 rows (4
over the budget: the machine ran the test suite beside it, and its times, 137.9 s with every
piece against 137.8 s with the cut, say nothing); the cut left out at least one piece in all
68; worst relative difference 1.0e-14, median 0. A first form of the script an hour before
(the cut's value always computed first, 69 rows): the same differences, 141.3 s against
131.3 s.
"""

from __future__ import annotations

import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import qtheory as qt
from qtheory.analysis import soap as S
from qtheory.analysis.soap_branched import BranchedSOAP

sys.path.insert(0, str(Path(__file__).parent))
from gittins_random_laws import _prediction, seeded_rows  # noqa: E402 - shared
from soap_random_ranks import (  # noqa: E402 - shared
    _alarm,
    _OverBudget,
    _was_over,
    random_rank,
)


def _unbounded(self):
    return -np.inf, np.inf


def _bounded_size(rng):
    if rng.random() < 0.6:
        return qt.BoundedPareto(alpha=float(rng.uniform(0.5, 2.5)), low=0.1,
                                high=float(rng.uniform(5, 500)))
    return qt.Uniform(0.0, float(rng.uniform(0.5, 3)))


def _pieces(analysis) -> int:
    return len(analysis._initial_pieces())


def timed_mean(size, pred, load, pol, rank, budget, patches=(), report=_pieces):
    """``(mean, estimate, seconds, report(the rank's analysis))`` at rtol 1e-8 through SOAP,
    with ``patches`` (``(owner, attribute, value)``: a class or module of the engine with a
    switch changed) in place during the run and an alarm after ``budget`` seconds; the
    shared timed value of the A/B checks (``soap_passes_random.py`` too). ``report``: the
    number of initial pieces of the level by default."""
    saved = [(owner, name, vars(owner)[name]) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        q = qt.MG1(load=load, size=size, prediction=pred, rtol=1e-8)
        signal.alarm(budget)
        t = time.perf_counter()
        v, e = q.mean_response_time_with_error(pol, method="soap")
        t = time.perf_counter() - t
        signal.alarm(0)
        return v, e, t, report(q._engines.soap(rank))
    finally:
        signal.alarm(0)
        for owner, name, value in saved:
            setattr(owner, name, value)


def compare(seed: int, systems: int, budget: int, sizes, patches) -> list:
    """``[(relative difference, estimate, pieces with, without, seconds with, without)]``:
    ``systems`` random (size from ``sizes(rng)``, prediction, load) of seed ``seed``, two
    random ranks each, every mean as the engine computes it and with ``patches`` in place
    (:func:`timed_mean`; the two in alternating order: the first pays one-time costs). The shared
    loop of the checks of one engine switch (``soap_log_gk_random.py`` too)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(systems):
        size, pred = sizes(rng), _prediction(rng)
        load = float(rng.uniform(0.2, 0.8))
        q0 = qt.MG1(load=load, size=size, prediction=pred)
        for j in range(2):
            rank = random_rank(rng, q0)
            pol = qt.policies.RankPolicy(rank, label="random")
            try:
                if (i + j) % 2:
                    vo, _, to, po = timed_mean(size, pred, load, pol, rank, budget, patches)
                    vn, en, tn, pn = timed_mean(size, pred, load, pol, rank, budget)
                else:
                    vn, en, tn, pn = timed_mean(size, pred, load, pol, rank, budget)
                    vo, _, to, po = timed_mean(size, pred, load, pol, rank, budget, patches)
            except (_OverBudget, SystemError) as exc:
                if not _was_over(exc):
                    raise
                print(f"seed {seed} {i}.{j}: over the budget", flush=True)
                continue
            d = abs(vn / vo - 1) if np.isfinite(vo) and vo != 0 else (0.0 if vn == vo
                                                                       else np.inf)
            est = en / abs(vn) if np.isfinite(vn) and vn != 0 else 0.0
            rows.append((d, est, pn, po, tn, to))
            print(f"seed {seed} {i}.{j}: {size!r}, {pred!r}, load {load:.2f}: pieces {po} -> "
                  f"{pn}, difference {d:.1e}, estimate {est:.1e}, {to * 1e3:.0f} -> "
                  f"{tn * 1e3:.0f} ms", flush=True)
    return rows


def run(seed: int, systems: int, budget: int) -> list:
    """:func:`compare` on bounded sizes, the switch the rank-range cut."""
    return compare(seed, systems, budget, _bounded_size,
                   [(S.SOAPAnalysis, "_rank_range", _unbounded),
                    (BranchedSOAP, "_rank_range", _unbounded)])


def compare_main(run, doc: str, argv, budget: int, off: str, on: str, extra=None) -> list:
    """The command line of a check built on :func:`compare`: ``run(seed, systems, budget)``
    over the seeds (``gittins_random_laws.seeded_rows``, ``--budget`` seconds a value), then
    one summary line (the worst and median relative difference, how many exceed their
    estimate, ``extra(rows)``, and the seconds with the switch off and on, labelled ``off``
    and ``on``)."""
    warnings.simplefilter("ignore", qt.QuadratureWarning)
    signal.signal(signal.SIGALRM, _alarm)
    rows = seeded_rows(run, doc, 12, argv, {"--budget": {"type": int, "default": budget}})
    if rows:
        d = np.array([r[0] for r in rows])
        est = np.array([r[1] for r in rows])
        more = f"{extra(rows)}; " if extra is not None else ""
        print(f"{len(rows)} rows; worst relative difference {d.max():.2e}, median "
              f"{np.median(d):.1e}; above the estimate: {int(np.sum(d > est))}; {more}"
              f"{sum(r[5] for r in rows):.1f} s {off}, {sum(r[4] for r in rows):.1f} s {on}")
    return rows


def main(argv=None) -> list:
    return compare_main(run, __doc__, argv, 25, "with every piece", "with the cut",
                        lambda rows: "pieces left out in "
                                     f"{sum(r[2] < r[3] for r in rows)}")


if __name__ == "__main__":
    main()
