"""The PNG of ``write_report``: analytic curves over the load, simulated means with CIs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import qtheory as qt  # noqa: E402
from qtheory.queue import MG1  # noqa: E402
from qtheory.sim.validate import cross_validate, plot_rows, write_report  # noqa: E402

LOADS = (0.4, 0.55, 0.7)  # 0.55 is not on the evenly spaced part of the curve


@pytest.fixture(scope="module")
def rows():
    laws = {"exp(1)": qt.Exponential(mean=1.0)}
    return cross_validate(laws, LOADS, ["FCFS", "SRPT"], jobs=5_000, replications=3, seed=3)


def _panel(fig, law):
    (ax,) = [a for a in fig.axes if a.get_title() == law]
    return ax


def _curve(ax, policy):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == policy]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def _bars(ax, policy):
    """x, lower end and upper end of each error bar of ``policy``'s simulated points."""
    (cont,) = [c for c in ax.containers if c.get_label() == f"{policy} (simulated)"]
    _, _, (barcol,) = cont.lines
    segs = [np.asarray(s, float) for s in barcol.get_segments()]
    return (np.array([s[0, 0] for s in segs]), np.array([s[:, 1].min() for s in segs]),
            np.array([s[:, 1].max() for s in segs]))


def test_report_png_curves_and_error_bars(rows, tmp_path):
    import matplotlib.pyplot as plt

    out = write_report(rows, tmp_path / "report.md", plot=True, curve_points=12)
    png = tmp_path / "report.png"
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![z-scores](report.png)" in out.read_text()

    fig = plot_rows(rows, curve_points=12)
    try:
        ax = _panel(fig, "exp(1)")
        assert ax.get_yscale() == "log"
        for policy in ("FCFS", "SRPT"):
            cells = sorted((r for r in rows if r.policy == policy), key=lambda r: r.load)
            x, y = _curve(ax, policy)
            # a fine grid from the smallest to the largest load, through the simulated loads
            assert x.size >= 12 and np.all(np.diff(x) > 0)
            assert x[0] == pytest.approx(LOADS[0]) and x[-1] == pytest.approx(LOADS[-1])
            for r in cells:
                (k,) = np.flatnonzero(np.isclose(x, r.load, rtol=0, atol=1e-12))
                assert y[k] == pytest.approx(r.analytic, rel=1e-9)
            # between the cells the curve is the analysis, not an interpolation
            q = MG1(load=0.5, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
            for k in (1, x.size // 2, x.size - 2):
                assert y[k] == pytest.approx(q.with_load(x[k]).mean_response_time(policy),
                                             rel=1e-9)
            bx, lo, hi = _bars(ax, policy)
            np.testing.assert_allclose(bx, [r.load for r in cells], rtol=0, atol=1e-12)
            np.testing.assert_allclose(lo, [r.ci_low for r in cells], rtol=1e-12)
            np.testing.assert_allclose(hi, [r.ci_high for r in cells], rtol=1e-12)
        # FCFS at load rho: E[T] = 1 / (1 - rho) for Exp(1) sizes
        x, y = _curve(ax, "FCFS")
        np.testing.assert_allclose(y, 1.0 / (1.0 - x), rtol=1e-9)
        # the z-score panel is kept
        assert any(a.get_title().startswith("z = ") for a in fig.axes)
    finally:
        plt.close(fig)


def test_plot_without_queues_draws_through_the_cells(rows):
    """Rows built by hand (no queue attached) fall back to their own analytic values."""
    import dataclasses

    import matplotlib.pyplot as plt

    bare = [dataclasses.replace(r, queue=None, policy_obj=None) for r in rows]
    fig = plot_rows(bare)
    try:
        x, y = _curve(_panel(fig, "exp(1)"), "SRPT")
        cells = sorted((r for r in rows if r.policy == "SRPT"), key=lambda r: r.load)
        np.testing.assert_allclose(x, [r.load for r in cells])
        np.testing.assert_allclose(y, [r.analytic for r in cells])
    finally:
        plt.close(fig)
