"""The analysis against the simulator on random systems and random policies.

Each system is a random size law, noise law and load (the families of
``gittins_random_laws.py``: Weibull, lognormal, exponential, hyperexponential, bounded
Pareto, Pareto, uniform sizes; uniform, exponential, lognormal noise), here at a load from
0.2 to 0.85. For it the script draws ``--policies`` policies from the whole catalogue with
random parameters (thresholds at random quantiles of the prediction, TRAIL's ``c``, the
costs of SkipPredict and DelayPredict, Gittins given 1 or 2 prediction buckets), computes
each mean response time with the default analysis and simulates it
(:func:`qtheory.sim.simulate`: ``--jobs`` jobs in each of ``--replications`` independent
replications, a Student t interval over them), and records the z-score
``(simulated - analytic) / standard error``.

What it can see: an analysis and a simulator that disagree by more than a few standard
errors (a few parts in a thousand at these run lengths), such as a policy whose two
engines read its parameters differently. The closed forms, SOAP and the r-work integral
are checked against each other to 1e-9 by the other ``*_random.py`` scripts; this one is
the independent check of them all against a simulated queue.

Caveat: where ``E[X^3]`` is infinite (Pareto with ``alpha <= 3``) the response time has
an infinite variance (first come first served: the waiting time's tail is one power
lighter than the size's), the mean of a replication converges at a rate below ``n**-0.5``
and is mostly below the true mean (the rare huge jobs that carry it are missing), and its
standard error says little. A finite but large third moment does the same at these run
lengths. Rows of laws with ``E[X^3]`` infinite or above 200 ``E[X]^3``, or a squared
coefficient of variation above 10, are marked ``heavy``; a large ``|z|`` there is no
evidence against the analysis unless it persists in a longer simulation. Measured, on
first come first served (whose analytic value is Pollaczek-Khinchine's): Pareto(2.55)
simulated 4.4 standard errors low; Pareto(2.117) 8.8, 5.0 and 2.1 standard errors low
(8.77, 9.92, 10.83 for 13.59) with 2e5, 2e6 and 2e7 jobs a replication; bounded Pareto
(2.21 on [0.1, 298.5], ``E[X^3] = 270 E[X]^3``) -2.1, +0.1 and +3.8.

Run: ``python validation/sim_random.py [seed ...] [--systems N] [--policies K] [--jobs J]
[--replications R] [--only FAMILY,...]`` (about 30 s a seed of 6 systems on 2 cores with the
defaults; ``--only`` draws from the named families of :data:`FAMILIES` alone).

TRAIL on the prediction and SRPT-Bounce, whose closed forms are new on 2026-12-05
(``--only trail,bounce --jobs 2000000``, seeds 101 to 112, 2 systems of 2 policies each): 48
rows, on the 38 light ones the z-scores have mean +0.13 and standard deviation 0.66, none
beyond 3. A first check of the same kind (one TRAIL with ``c`` uniform on [0.1, 0.95] and
SRPT-Bounce on each system) gave sd 1.00 and none beyond 3 with 2e6 jobs a replication, and
with 2e5 sd 1.47 and three SRPT-Bounce rows beyond 3, the worst -4.31 on exponential sizes and
noise at load 0.619, which came out -0.78, -0.52 and +1.64 with 8 x 5e6 jobs on three seeds.

Last run (2026-12-05, seeds 1 to 12, 6 systems of 4 policies each, 8 replications of 2e5
jobs): 288 rows, every policy of the catalogue analysed and simulated. On the 228 light
rows the z-scores have mean +0.11 and standard deviation 1.14 (a t law with 7 degrees of
freedom has 1.18); 7 have ``|z| > 3`` and 1 has ``|z| > 4``, where that law expects 4.5 and
1.2. That one, DelayPredict with server-time costs on Pareto(3.13) sizes, came out +2.8
and +1.6 standard errors with 2e7 jobs a replication (two seeds; 1.6e-4 relative). Of the
60 heavy rows 6 have ``|z| > 4``, all low, all on Pareto sizes with ``alpha`` from 2.1 to
2.6 (SPRPT on Pareto(2.117): 5.06, 5.46, 5.39 for 5.887 with 2e5, 2e6, 2e7 jobs; its
closed form and SOAP agree to 1e-9). The first run also showed that ``"Gittins"`` and
``"SERPT"`` were not accepted as names (now they are, :func:`qtheory.policies.get_policy`).

Family ``two`` (``--only two``; the queues get a second, independent prediction,
``qt.MultiPrediction``): SkipPredict with its bit from the second prediction (both cost
models) and classes by the second prediction ranked by SPRPT or PSPJF on the first. First run
(2026-12-06, seeds 1 to 6, 4 systems of 3 policies, 8 x 2e5 jobs): 72 rows; on the 48 light
ones mean z +0.09, sd 1.58, 5 with ``|z| > 3`` (+3.32, +3.91, +3.13, -3.03, -3.06), none
beyond 4. Rerun with 8 x 2e6 jobs on two seeds, those and the other class policies of their
systems came out within ``|z| <= 2.6`` (the worst, PSPJF in 4 classes on lognormal sizes of
sigma 0.82: +2.60 and +1.03; with 8 x 4e6 jobs on three more seeds +1.11, +0.24, -0.52). Of
the 24 heavy rows 2 have ``|z| > 4``, both low, both on lognormal sizes of sigma above 1.7.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import qtheory as qt

sys.path.insert(0, str(Path(__file__).parent))
from gittins_random_laws import random_queue  # noqa: E402 - shared

P = qt.policies


def _quantiles(rng, q, k: int) -> tuple:
    """``k`` increasing thresholds at random quantiles (0.05 to 0.95) of the prediction."""
    u = np.sort(rng.uniform(0.05, 0.95, k))
    t = np.asarray(q.prediction.marginal_ppf(u, q.size), dtype=float)
    t = np.unique(t[np.isfinite(t) & (t > 0)])
    return tuple(float(v) for v in t)


#: the families of :func:`random_policy`, by the name ``--only`` takes, as its kinds
FAMILIES = {"classical": range(0, 6), "prediction": range(6, 9), "trail": [9],
            "onebit": [10], "buckets": [11], "skip": [12], "delay": [13], "bounce": [14],
            "gittins": [15], "gittinsbuckets": [16], "two": [17, 18]}


def random_policy(rng, q, only=None):
    """A policy of the catalogue with random parameters for the queue ``q`` (of the
    families named in ``only``, :data:`FAMILIES`, when given)."""
    if only:
        kind = int(rng.choice([k for name in only for k in FAMILIES[name]]))
    else:
        kind = rng.integers(0, 17)  # family "two" only when asked (it needs two predictions)
    if kind <= 5:
        return ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT")[kind]
    if kind <= 8:
        return ("SPJF", "PSPJF", "SPRPT")[kind - 6]
    if kind == 9:
        return P.TRAIL(c=float(rng.choice([0.0, 0.2, 0.5, 0.8, 1.0, rng.uniform(0, 1.5)])))
    if kind == 10:
        (t,) = _quantiles(rng, q, 1) or (1.0,)
        return P.OneBit(threshold=t, preemptive=bool(rng.integers(0, 2)),
                        within=str(rng.choice(["lcfs", "fifo"])))
    if kind == 11:
        return P.Buckets(thresholds=_quantiles(rng, q, int(rng.integers(1, 4))),
                         preemptive=bool(rng.integers(0, 2)))
    if kind == 12:
        (t,) = _quantiles(rng, q, 1) or (1.0,)
        model = str(rng.choice(["external", "server"]))
        m1 = float(q.size.mean)
        cheap = float(rng.uniform(0.0, 0.05)) * m1
        return P.SkipPredict(threshold=t, cheap_cost=cheap,
                             expensive_cost=cheap + float(rng.uniform(0.0, 0.2)) * m1,
                             cost_model=model)
    if kind == 13:
        m1 = float(q.size.mean)
        return P.DelayPredict(limit=float(rng.uniform(0.2, 3.0)) * m1,
                              expensive_cost=float(rng.uniform(0.0, 0.1)) * m1,
                              cost_model=str(rng.choice(["external", "server"])))
    if kind == 14:
        return P.SRPTBounce()
    if kind == 15:
        return str(rng.choice(["Gittins", "SERPT"]))
    if kind == 16:
        return P.GittinsBuckets(thresholds=_quantiles(rng, q, int(rng.integers(1, 3))))
    # a second prediction (family "two": the queue's predictions are a MultiPrediction)
    u = np.sort(rng.uniform(0.05, 0.95, int(rng.integers(1, 4))))
    cuts = [float(v) for v in q.predictions[1].marginal_ppf(u, q.size)]
    m1 = float(q.size.mean)
    if kind == 17:
        cheap = float(rng.uniform(0.0, 0.05)) * m1
        return P.SkipPredict(threshold=cuts[0], cheap_cost=cheap,
                             expensive_cost=cheap + float(rng.uniform(0.0, 0.2)) * m1,
                             cost_model=str(rng.choice(["external", "server"])),
                             bit_prediction=1)
    # classes by the second prediction, each SPRPT (or PSPJF) on the first, offset by its
    # index times a random multiple of the mean size
    from qtheory.rank import Branch, RankFunction, Segment

    step = float(rng.uniform(0.0, 2.0)) * m1
    slope = int(rng.choice([-1, 0]))
    edges = (-np.inf, *cuts, np.inf)
    rank = RankFunction("prediction:0", tuple(
        Branch((Segment(value=(1.0, i * step), slope=slope),), low=a, high=b)
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))), branch_key="prediction:1")
    return P.RankPolicy(rank, label=f"{len(cuts) + 1} classes by Y1, "
                                    f"{'SPRPT' if slope else 'PSPJF'} on Y0 + {step:.3g} i")


def run(seed: int, systems: int, policies: int, jobs: int, replications: int,
        only=None) -> list:
    """``[(z, policy, label, analytic, simulated, standard error, heavy, note), ...]``
    for ``policies`` random policies on each of ``systems`` random systems of ``seed``
    (a policy whose analysis or simulation raises, or is refused by the load, gets
    ``z = nan`` and the reason in ``note``)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(systems):
        label, q = random_queue(rng, 0.2, 0.85)
        if only and "two" in only:  # a second, independent prediction
            from gittins_random_laws import _prediction

            preds = qt.MultiPrediction([q.prediction, _prediction(rng)])
            label = f"{q.size!r}, {preds!r}, load {q.load:.3f}"
            q = qt.MG1(load=q.load, size=q.size, prediction=preds)
        m1, m2, m3 = (float(q.size.moment(k)) for k in (1, 2, 3))
        heavy = not np.isfinite(m3) or m3 / m1**3 > 200.0 or m2 / (m1 * m1) - 1.0 > 10.0
        for _ in range(policies):
            pol = random_policy(rng, q, only)
            name = pol if isinstance(pol, str) else pol.name
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    a = q.mean_response_time(pol)
                    s = qt.simulate(q, pol, jobs=jobs, replications=replications,
                                    seed=int(rng.integers(2**31)))
                except Exception as exc:  # noqa: BLE001 - reported, not hidden
                    out.append((np.nan, name, label, np.nan, np.nan, np.nan, heavy,
                                repr(exc)[:120]))
                    continue
            note = "; ".join(sorted({str(w.message)[:80] for w in caught}))
            se = float(s.std_error)
            z = (s.mean - a) / se if se > 0 and np.isfinite(a) else np.nan
            out.append((float(z), name, label, float(a), float(s.mean), se, heavy, note))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seeds", nargs="*", type=int, default=[1])
    ap.add_argument("--systems", type=int, default=6)
    ap.add_argument("--policies", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--only", default="", help="comma-separated families of the catalogue "
                    f"({', '.join(FAMILIES)})")
    args = ap.parse_args(argv)
    only = [f for f in args.only.split(",") if f]
    bad = set(only) - set(FAMILIES)
    if bad:
        ap.error(f"--only: unknown families {sorted(bad)}")
    rows = []
    for seed in args.seeds:
        t = time.perf_counter()
        got = run(seed, args.systems, args.policies, args.jobs, args.replications, only)
        rows.extend(got)
        print(f"seed {seed}: {len(got)} rows in {time.perf_counter() - t:.0f} s", flush=True)
        for z, name, label, a, s, se, heavy, note in got:
            print(f"  z={z:+6.2f} {'heavy' if heavy else '     '} {name:28s} analytic {a:.6g} "
                  f"simulated {s:.6g} +- {se:.2g}  [{label}] {note}", flush=True)
    print("\n" + z_summary([r[0] for r in rows], [r[6] for r in rows]))


def z_summary(z, heavy) -> str:
    """One line on the z-scores ``z`` (nan: none) of rows marked ``heavy`` or light."""
    z = np.asarray(z, dtype=float)
    ok = np.isfinite(z)
    light = ok & ~np.asarray(heavy, dtype=bool)
    return (f"{z.size} rows, {np.sum(~ok)} without a z-score; light-tailed {np.sum(light)}: "
            f"|z| > 3: {np.sum(np.abs(z[light]) > 3)}, > 4: {np.sum(np.abs(z[light]) > 4)}, "
            f"mean z {np.mean(z[light]):+.2f}, sd {np.std(z[light]):.2f}; heavy "
            f"{np.sum(ok & ~light)}: |z| > 4: {np.sum(np.abs(z[ok & ~light]) > 4)}")


if __name__ == "__main__":
    main()
