"""Analysis and simulation side by side: the engine behind ``qtheory validate``.

For each (size law, load, policy) of a grid, :func:`cross_validate` computes the
analytic mean response time and simulates it, and reports the pair with the
z-score ``(simulated - analytic) / standard error``. :func:`write_report` writes
a Markdown table and a matplotlib plot of the z-scores.

Examples
--------
>>> import qtheory as qt
>>> rows = cross_validate({"exp": qt.Exponential(mean=1.0)}, [0.5], ["FCFS", "SRPT"],
...                       jobs=20_000, replications=4, seed=1)
>>> [r.policy for r in rows], all(abs(r.z) < 4 for r in rows)
(['FCFS', 'SRPT'], True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..policies import get_policy
from ..predictions import ExponentialPrediction
from ..queue import MG1
from .driver import simulate

__all__ = ["ValidationRow", "cross_validate", "write_report", "DEFAULT_LAWS", "DEFAULT_POLICIES"]


@dataclass(frozen=True)
class ValidationRow:
    """One cell of the grid: the analytic value, the simulated one and their z-score."""

    law: str
    load: float
    policy: str
    analytic: float
    simulated: float
    ci_low: float
    ci_high: float
    std_error: float
    z: float
    seconds: float


def DEFAULT_LAWS():  # noqa: N802 - a factory named like the constant it builds
    """The size laws of the default grid: exponential, Weibull (SCV 5), bounded Pareto."""
    from ..distributions import BoundedPareto, Exponential, Weibull

    return {"exponential": Exponential(mean=1.0), "weibull(0.5)": Weibull(0.5, 0.5),
            "bounded-pareto(1.5)": BoundedPareto(1.5, 0.1, 100.0)}


def DEFAULT_POLICIES():  # noqa: N802
    """The policies of the default grid (every policy with a fast formula).

    DelayPredict is left out: its analysis takes a slow SOAP path (add it by hand).
    """
    from .. import policies as P

    return [P.FCFS(), P.PS(), P.FB(), P.SJF(), P.PSJF(), P.SRPT(), P.SPJF(), P.PSPJF(),
            P.SPRPT(), P.Priority(probs=(0.3, 0.7), preemptive=True),
            P.Priority(probs=(0.3, 0.7), preemptive=False), P.TRAIL(c=0.5),
            P.OneBit(threshold=1.0, preemptive=True), P.OneBit(threshold=1.0),
            P.Buckets(thresholds=(0.5, 2.0), preemptive=True), P.SRPTBounce(),
            P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.5),
            P.SkipPredict(threshold=1.0, cheap_cost=0.02, expensive_cost=0.05,
                          cost_model="server")]


def cross_validate(laws: dict, loads, policies, *, prediction=None, jobs: int = 200_000,
                   replications: int = 8, seed: int = 0, progress: bool = False,
                   server_cost_max_load: float = 0.9):
    """Analytic vs simulated mean response time over a grid; a list of :class:`ValidationRow`.

    Parameters
    ----------
    laws : dict
        Name -> size law.
    loads : sequence of float
    policies : sequence of str or Policy
    prediction : PredictionModel, optional
        Default :class:`~qtheory.ExponentialPrediction`.
    jobs, replications, seed
        Passed to :func:`qtheory.sim.simulate` (the seed is offset per cell).
    progress : bool
        A tqdm progress bar over the cells (if tqdm is installed).
    server_cost_max_load : float
        Policies with server-time prediction costs (``cost_model="server"``) run on top
        of the nominal load; their cells above this load are left out.
    """
    pred = prediction if prediction is not None else ExponentialPrediction()
    cells = [(n, d, float(rho), get_policy(p)) for n, d in laws.items() for rho in loads
             for p in policies]
    cells = [c for c in cells if not (getattr(c[3], "cost_model", "") == "server"
                                      and c[2] > server_cost_max_load)]
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(cells), unit="cell")
        except ImportError:  # pragma: no cover
            bar = None
    rows = []
    for i, (name, dist, rho, pol) in enumerate(cells):
        q = MG1(load=rho, size=dist, prediction=pred)
        t0 = time.perf_counter()
        exact = q.mean_response_time(pol)
        r = simulate(q, pol, jobs=jobs, replications=replications, seed=seed + i)
        rows.append(ValidationRow(name, rho, pol.name, float(exact), r.mean, r.ci[0], r.ci[1],
                                  r.std_error, r.z_score(exact), time.perf_counter() - t0))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return rows


def format_rows(rows) -> str:
    """The rows as a Markdown table."""
    out = ["| size law | load | policy | analytic E[T] | simulated E[T] | 95% CI | z |",
           "|---|---:|---|---:|---:|---|---:|"]
    for r in rows:
        out.append(f"| {r.law} | {r.load:g} | {r.policy} | {r.analytic:.6g} | "
                   f"{r.simulated:.6g} | {r.ci_low:.5g} .. {r.ci_high:.5g} | {r.z:+.2f} |")
    return "\n".join(out)


def write_report(rows, path, title: str = "Analysis vs simulation", plot: bool = True,
                 preamble: str = "") -> Path:
    """Write ``rows`` as Markdown to ``path`` (and, with ``plot``, a PNG of the z-scores)."""
    path = Path(path)
    zs = [abs(r.z) for r in rows]
    worst = max(zs) if zs else float("nan")
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble, ""]
    lines += [f"{len(rows)} cells; largest |z| = {worst:.2f}; cells with |z| >= 4: "
              f"{sum(z >= 4 for z in zs)}.", ""]
    if plot:
        png = path.with_suffix(".png")
        _plot(rows, png)
        lines += [f"![z-scores]({png.name})", ""]
    lines.append(format_rows(rows))
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot(rows, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    laws = sorted({r.law for r in rows})
    fig, ax = plt.subplots(figsize=(9, 4))
    for j, law in enumerate(laws):
        sub = [r for r in rows if r.law == law]
        ax.scatter([i + 0.2 * j for i in range(len(sub))], [r.z for r in sub], s=12, label=law)
    ax.axhline(4, color="r", lw=0.8)
    ax.axhline(-4, color="r", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("z = (simulated - analytic) / s.e.")
    ax.set_xlabel("cell (load x policy)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
