"""Analysis and simulation side by side: the engine behind ``qtheory validate``.

For each (size law, load, policy) of a grid, :func:`cross_validate` computes the
analytic mean response time and simulates it, and reports the pair with the
z-score ``(simulated - analytic) / standard error``. :func:`write_report` writes
a Markdown table and a matplotlib plot: per size law, the analytic E[T] of each policy
as a curve over the load with the simulated means and their confidence intervals as
points with error bars, and a panel of the z-scores.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..policies import Policy, get_policy
from ..predictions import ExponentialPrediction
from ..queue import MG1
from .driver import simulate

if TYPE_CHECKING:  # matplotlib stays an optional dependency
    from matplotlib.figure import Figure

__all__ = ["ValidationRow", "cross_validate", "write_report", "plot_rows", "DEFAULT_LAWS",
           "DEFAULT_POLICIES"]


@dataclass(frozen=True)
class ValidationRow:
    """One cell of the grid: the analytic value, the simulated one and their z-score.

    ``queue`` and ``policy_obj`` are the queue and policy the cell was computed from
    (``None`` for rows built by hand); the plot of :func:`write_report` uses them to
    draw the analytic curve over the load. They take no part in comparisons.
    """

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
    queue: MG1 | None = field(default=None, compare=False, repr=False)
    policy_obj: Policy | None = field(default=None, compare=False, repr=False)


def DEFAULT_LAWS():  # noqa: N802 - a factory named like the constant it builds
    """The size laws of the default grid: exponential, Weibull (SCV 5), bounded Pareto."""
    from ..distributions import BoundedPareto, Exponential, Weibull

    return {"exponential": Exponential(mean=1.0), "weibull(0.5)": Weibull(0.5, 0.5),
            "bounded-pareto(1.5)": BoundedPareto(1.5, 0.1, 100.0)}


def DEFAULT_POLICIES():  # noqa: N802
    """The policies of the default grid (every policy whose formula takes under a second
    on the default laws).

    :class:`~qtheory.policies.GittinsBuckets` and :class:`~qtheory.policies.GittinsPosterior`
    are left out: their analyses take 1-45 s per value with noisy predictions, and the
    latter's simulated policy is its quantile-cell version (add them by hand).
    """
    from .. import policies as P

    return [P.FCFS(), P.PS(), P.FB(), P.SJF(), P.PSJF(), P.SRPT(), P.SPJF(), P.PSPJF(),
            P.SPRPT(), P.Priority(probs=(0.3, 0.7), preemptive=True),
            P.Priority(probs=(0.3, 0.7), preemptive=False), P.TRAIL(c=0.5),
            P.OneBit(threshold=1.0, preemptive=True), P.OneBit(threshold=1.0),
            P.Buckets(thresholds=(0.5, 2.0), preemptive=True), P.SRPTBounce(),
            P.SkipPredict(threshold=1.0, cheap_cost=0.1, expensive_cost=0.5),
            P.SkipPredict(threshold=1.0, cheap_cost=0.02, expensive_cost=0.05,
                          cost_model="server"),
            P.DelayPredict(limit=1.0, expensive_cost=0.05, cost_model="server"),
            P.Gittins(), P.SERPT()]


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
                                  r.std_error, r.z_score(exact), time.perf_counter() - t0,
                                  queue=q, policy_obj=pol))
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


def write_report(rows: Sequence[ValidationRow], path: str | Path,
                 title: str = "Analysis vs simulation", plot: bool = True, preamble: str = "",
                 curve_points: int = 30) -> Path:
    """Write ``rows`` as Markdown to ``path`` and, with ``plot``, a PNG beside it.

    Parameters
    ----------
    rows : sequence of ValidationRow
        The cells, as returned by :func:`cross_validate`.
    path : str or Path
        The Markdown file; the PNG takes the same name with the suffix ``.png``.
    title : str
        The report's heading.
    plot : bool
        Write the PNG (needs matplotlib): see :func:`plot_rows`.
    preamble : str
        A paragraph under the heading.
    curve_points : int
        Loads on each analytic curve of the plot.

    Returns
    -------
    Path
        ``path``.
    """
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
        _plot(rows, png, curve_points=curve_points)
        lines += [f"![z-scores]({png.name})", ""]
    lines.append(format_rows(rows))
    path.write_text("\n".join(lines) + "\n")
    return path


def _curve(rows, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Loads and analytic E[T] of one (law, policy) series for its curve.

    The loads are ``points`` evenly spaced ones from the smallest to the largest load of
    ``rows``, together with the rows' own loads, so that the curve passes through each
    cell's analytic value. Rows without their queue give just their analytic values.
    """
    rows = sorted(rows, key=lambda r: r.load)
    first = rows[0]
    if first.queue is None or first.policy_obj is None:
        return np.array([r.load for r in rows]), np.array([r.analytic for r in rows])
    lo, hi = rows[0].load, rows[-1].load
    loads = np.unique(np.concatenate([np.linspace(lo, hi, max(points, 2)),
                                      [r.load for r in rows]]))
    return loads, first.queue.sweep(first.policy_obj, loads)


def _styles(policies) -> dict:
    """Policy name -> (colour, line style, marker), the same in every panel."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    dashes = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
    return {p: (cmap(i % 20), dashes[(i // 20) % len(dashes)], markers[i % len(markers)])
            for i, p in enumerate(policies)}


def plot_rows(rows: Sequence[ValidationRow], png: str | Path | None = None, *,
              curve_points: int = 30) -> Figure:
    """Plot analysis against simulation; a matplotlib ``Figure``, saved to ``png`` if given.

    One panel per size law: for each policy, the analytic mean response time as a curve
    over ``curve_points`` loads from the smallest to the largest simulated load of that
    policy (plus the simulated loads themselves), and the simulated means as markers with
    error bars spanning their confidence intervals; the y axis is logarithmic. A last
    panel shows the z-scores against the load, with the |z| = 4 bounds.

    Parameters
    ----------
    rows : sequence of ValidationRow
        The cells; the curves are recomputed from each row's ``queue`` and
        ``policy_obj`` (rows without them give a polyline through their analytic values).
    png : str or Path, optional
        Where to save the figure.
    curve_points : int
        Loads on each analytic curve.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (already detached from pyplot). In each law's panel, titled with the
        law, the curve of a policy is the ``Line2D`` labelled with the policy's name and its
        error bars the ``ErrorbarContainer`` labelled ``"<policy> (simulated)"``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter

    class PlainLog(LogFormatter):
        """The ticks a LogFormatter would label, written as plain numbers (0.2, 30)."""

        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    laws = list(dict.fromkeys(r.law for r in rows))
    policies = list(dict.fromkeys(r.policy for r in rows))
    style = _styles(policies)
    panels = len(laws) + 1
    ncols = 1 if panels == 1 else 2 if panels <= 4 else 3
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 4.4 * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax, law in zip(flat, laws):
        for pol in policies:
            sub = sorted((r for r in rows if r.law == law and r.policy == pol),
                         key=lambda r: r.load)
            if not sub:
                continue
            colour, dash, marker = style[pol]
            x, y = _curve(sub, curve_points)
            ax.plot(x, y, color=colour, ls=dash, lw=1.2, label=pol)
            mean = np.array([r.simulated for r in sub])
            yerr = np.array([[r.simulated - r.ci_low for r in sub],
                             [r.ci_high - r.simulated for r in sub]])
            ax.errorbar([r.load for r in sub], mean, yerr=np.clip(yerr, 0.0, None),
                        fmt=marker, color=colour, ms=4, mfc="none", capsize=2.5, lw=1.0,
                        label=f"{pol} (simulated)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PlainLog())
        ax.yaxis.set_minor_formatter(PlainLog(labelOnlyBase=False))
        ax.set_title(law)
        ax.set_xlabel("load")
        ax.set_ylabel("E[T]")
        ax.grid(True, which="both", alpha=0.25)
    zax = flat[len(laws)]
    shapes = ["o", "s", "^", "D", "v", "P", "X"]
    law_marker = {law: shapes[j % len(shapes)] for j, law in enumerate(laws)}
    loads = sorted({r.load for r in rows})
    step = min(np.diff(loads)) if len(loads) > 1 else 0.1
    for j, law in enumerate(laws):
        shift = (j - (len(laws) - 1) / 2) * 0.08 * step
        sub = [r for r in rows if r.law == law]
        zax.scatter([r.load + shift for r in sub], [r.z for r in sub], s=16,
                    c=[style[r.policy][0] for r in sub], marker=law_marker[law],
                    edgecolors="k", linewidths=0.3)
    zax.axhline(4, color="r", lw=0.8)
    zax.axhline(-4, color="r", lw=0.8)
    zax.axhline(0, color="k", lw=0.5)
    zax.set_title("z = (simulated - analytic) / s.e.")
    zax.set_xlabel("load (laws side by side)")
    zax.set_ylabel("z")
    zax.legend([Line2D([], [], ls="none", marker=law_marker[law], color="k") for law in laws],
               laws, fontsize=7, title="size law", title_fontsize=7, loc="best")
    for ax in flat[panels:]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=style[p][0], ls=style[p][1], marker=style[p][2], mfc="none",
                      ms=4) for p in policies]
    legend_cols = max(1, min(len(policies), 3 if ncols > 1 else 2))
    fig.legend(handles, policies, loc="lower center", ncol=legend_cols, fontsize=7.5,
               frameon=False, title="policy: analytic (line), simulated with CI (markers)",
               title_fontsize=8)
    legend_rows = -(-len(policies) // legend_cols)
    fig.set_figheight(fig.get_figheight() + 0.16 * legend_rows + 0.35)
    bottom = (0.35 + 0.16 * legend_rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if png is not None:
        fig.savefig(png, dpi=110)
    plt.close(fig)
    return fig


def _plot(rows, png: Path, curve_points: int = 30):
    """Save :func:`plot_rows` of ``rows`` to ``png``; the figure."""
    return plot_rows(rows, png, curve_points=curve_points)
