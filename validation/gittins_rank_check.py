"""Check the Gittins rank next to its piece boundaries against an independent minimisation.

Near a regime boundary or a breakpoint crossing of the rank (hazard / residual / interior
regimes, the best quantum arriving at or leaving a kink of the law) the quantum search of
:mod:`qtheory.analysis.gittins` decides between candidates that nearly tie, which is where a
missed minimum or a misplaced boundary shows. For each law this script takes every piece
boundary of :func:`~qtheory.analysis.gittins.gittins_rank` and the law's breakpoints, 24 ages
around each (1e-9 to 3e-2 relative, both sides), and compares

* ``_Law.classify`` (the search itself) and the rank function (its Chebyshev pieces), with
* the least of 1 / hazard, the mean residual and ``J(a, b)`` over 2 500 log-spaced quanta
  ``b`` (plus the breakpoints and a hair either side), its three lowest local minima refined
  by scipy's bounded Brent search in ``log(b - a)``.

Both sides use the same ``J`` (:meth:`_Law._Jat`, itself checked against the NumPy path in
``tests/test_gittins_tab.py``), so this checks the search, not the tail integrals. Laws: 6
size laws x 3 noise models x 3 prediction buckets (tabulated posteriors) and 11 plain laws
(3 of which have a piece boundary or breakpoint inside their range: the others are skipped).
A line is flagged ``!!`` where the search is above the independent minimum by more than
1e-11 (a missed minimum) or below it by more (the brute force missed one: that happens
where a true minimum's grid neighbours lie above an end candidate), or where the rank
function is off by more than 1e-9.

Run: ``python validation/gittins_rank_check.py [plain|bucket|all]`` (about 10 minutes for
all). Last run (2026-12-05, after the nested rank fits, the tie rule of tabulated tails and
the coarser small quanta): classify at most 1.1e-11 above the independent minimum (2.3e-11
the run before; an exponential law given lognormal noise in (0.5, 2], age 3.13: J is flat
there to 1e-11), the rank function within 1.1e-11 of it where the brute force found the
minimum (2.3e-11 before); the brute
force itself missed minima by up to 7.9e-7 in three laws (the search found lower values).
The same figures again after the grid of ages came to approach every kink of the law
(2026-12-05, ``gittins._NEAR_KINK``), and after the search of a tabulated law became one
compiled call (2026-12-06, ``_gittins_tab.interior_tabulated``; about 4 minutes).
The run before the search refined minima that do not tie with an end candidate showed a
rank 1.6e-4 too high over ages 0.35471-0.35539 (hyperexponential sizes, exponential noise,
bucket (2, inf)), now ``tests/test_gittins_crossings.py``.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.optimize import minimize_scalar

import qtheory as qt
from qtheory.analysis import gittins as G
from qtheory.distributions.posterior import PredictionBucket

SIZES = {
    "bp": lambda: qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0),
    "hx": lambda: qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2)),
    "w05": lambda: qt.Weibull(0.5),
    "ln": lambda: qt.Lognormal(sigma=1.0, mean=1.0),
    "exp": lambda: qt.Exponential(mean=1.0),
    "w2": lambda: qt.Weibull(2.0),
}
NOISE = {"u": lambda: qt.UniformPrediction(0.5), "e": qt.ExponentialPrediction,
         "ln": lambda: qt.LognormalPrediction(0.5)}
PLAIN = {"unif": lambda: qt.Uniform(0.0, 2.0),
         "texp": lambda: qt.Truncated(qt.Exponential(mean=1.0), 0.0, 1.0),
         "tw05": lambda: qt.Truncated(qt.Weibull(0.5), 0.0, 5.0),
         "hx3": lambda: qt.HyperExponential(means=(0.1, 1.0, 10.0), probs=(0.5, 0.4, 0.1)),
         "w03": lambda: qt.Weibull(0.3)}


def laws(which: str):
    if which in ("all", "plain"):
        for k, f in {**SIZES, **PLAIN}.items():
            yield k, f()
    if which in ("all", "bucket"):
        for sk, mk in SIZES.items():
            for pk, mp in NOISE.items():
                for lo, hi in ((0.0, 0.5), (0.5, 2.0), (2.0, np.inf)):
                    yield f"{sk}_{pk}_{lo}_{hi}", PredictionBucket(mk(), mp(), lo, hi)


def brute(law: G._Law, ages: np.ndarray, H, M) -> np.ndarray:
    """The least of 1 / hazard, the mean residual and J over dense quanta, refined."""
    ea, _, _ = law._ends(ages)
    top = np.where(np.isfinite(law.hi), law.hi, ages + 1e4 * (ages + law.med))
    t = np.geomspace(1e-10, 1.0, 2500)
    b = ages[:, None] + (top - ages)[:, None] * t[None, :]
    zz = np.concatenate([law.bps, law.bps * (1 + 1e-12), law.bps * (1 - 1e-12)])
    b = np.concatenate([b, np.broadcast_to(zz, (ages.size, zz.size))], axis=1)
    b.sort(axis=1)
    b = np.where(b > ages[:, None], b, b[:, -1:])
    if np.isfinite(law.hi):
        b = np.minimum(b, law.hi)
    J = law._Jat(ages[:, None], tuple(q[:, None] for q in ea), b)
    J = np.where(np.isnan(J), np.inf, J)
    out = np.minimum(np.minimum(H, M), J.min(axis=1))
    for i in range(ages.size):
        Ji = J[i]
        inner = (Ji[1:-1] <= Ji[:-2]) & (Ji[1:-1] <= Ji[2:]) & (b[i, 1:-1] > b[i, :-2])
        ks = np.nonzero(inner)[0] + 1
        x, e = ages[i:i + 1], tuple(q[i:i + 1] for q in ea)
        for k in ks[np.argsort(Ji[ks])][:3]:
            r = minimize_scalar(lambda u, x=x, e=e: float(law._Jat(x, e, x + np.exp(u))[0]),
                                bounds=(np.log(b[i, k - 1] - ages[i]),
                                        np.log(b[i, k + 1] - ages[i])),
                                method="bounded", options={"xatol": 1e-11})
            out[i] = min(out[i], r.fun)
    return out


def main(which: str = "all") -> None:
    worst = 0.0
    for name, size in laws(which):
        law = G._Law(size)
        rk = G.gittins_rank(size)
        starts = np.unique(np.concatenate([[p.start for p in rk.pieces], law.bps]))
        starts = starts[(starts > 0) & (starts < law.A)]
        if not starts.size:
            continue
        s = np.concatenate([-np.geomspace(1e-9, 3e-2, 12), np.geomspace(1e-9, 3e-2, 12)])
        ages = (starts[:, None] * (1 + s[None, :])).ravel()
        ages = ages[(ages > 0) & (ages < law.A * 0.9999)]
        g, lab, H, M = law.classify(ages, ends=True)
        ref = brute(law, ages, H, M)
        idx = np.searchsorted(rk._starts, ages, side="right") - 1
        rv = np.empty(ages.size)
        for j in np.unique(idx):
            m = idx == j
            rv[m] = rk.pieces[j].eval(ages[m])
        with np.errstate(all="ignore"):
            rel = np.nan_to_num((g - ref) / np.abs(ref))
            relr = np.nan_to_num((rv - ref) / np.abs(ref))
        i1, i2, i3 = np.argmax(rel), np.argmin(rel), np.argmax(np.abs(relr))
        worst = max(worst, rel[i1])
        flag = "!!" if rel[i1] > 1e-11 or rel[i2] < -1e-11 or abs(relr[i3]) > 1e-9 else ""
        print(f"{name}: search above by {rel[i1]:.1e} (age {ages[i1]:.10g}), below by "
              f"{-rel[i2]:.1e}; rank function {relr[i3]:+.1e} (age {ages[i3]:.10g}) {flag}",
              flush=True)
    print(f"worst: the search above the independent minimum by {worst:.2e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
