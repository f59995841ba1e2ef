"""Row-chunked calls of the compiled loops on threads (qtheory._threads): the same numbers
as one call, bit for bit, whatever the number of threads."""

import os
import subprocess
import sys

import numpy as np
import pytest

import qtheory as qt
from qtheory import _threads
from qtheory import policies as P
from qtheory.distributions.posterior import PredictionBucket


@pytest.fixture
def threads():
    old = _threads._state["n"]
    yield _threads.set_threads
    _threads.set_threads(old)


def test_chunks_cover_the_rows_in_order(threads):
    threads(3)
    assert _threads.chunks(_threads.MIN_ROWS - 1) == [slice(0, _threads.MIN_ROWS - 1)]
    n = 3 * _threads.MIN_ROWS + 5
    parts = _threads.chunks(n)
    assert len(parts) == 3 and parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    threads(1)
    assert _threads.chunks(n) == [slice(0, n)]


def test_map_chunks_keeps_order_and_runs_on_the_pool(threads):
    threads(4)
    n = 4 * _threads.MIN_ROWS
    import threading

    names = []

    def fn(s):
        names.append(threading.current_thread().name)
        return s.start

    assert _threads.map_chunks(fn, n) == [0, n // 4, n // 2, 3 * n // 4]
    assert sum(name.startswith("qtheory") for name in names) == 3
    # from a thread of the pool itself: one call, in that thread
    inner = _threads._pool(1).submit(_threads.map_chunks, lambda s: (s.start, s.stop), n)
    assert inner.result() == [(0, n)]


def test_bad_thread_counts_are_refused(threads):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n must be"):
            threads(bad)
    env = dict(os.environ, QTHEORY_THREADS="zero")
    out = subprocess.run([sys.executable, "-c", "from qtheory import _threads; "
                          "_threads.get_threads()"], env=env, capture_output=True, text=True)
    assert "QTHEORY_THREADS must be a whole number" in out.stderr


@pytest.mark.parametrize("case", ["four segments", "classes"])
def test_soap_values_do_not_depend_on_the_threads(threads, case, monkeypatch):
    """A SOAP value and its estimate on 1 and 3 threads: identical (the chunked compiled
    loops: cell formulas, tagged terms, exponential moments, posterior table lookups)."""
    size = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
    if case == "four segments":
        from qtheory.rank import RankFunction, Segment

        pol = P.RankPolicy(RankFunction.single("prediction", [
            Segment(value=(1.0, 0.0), slope=-1, end=(0.0, 0.5)),
            Segment(value=(1.0, -0.5), slope=0, end=(0.0, 1.5)),
            Segment(value=(1.0, -2.0), slope=-1)]), label="3 segments")
        pred, kw = qt.ExponentialPrediction(), {"method": "soap"}
    else:
        from qtheory.rank import Branch, RankFunction, Segment

        cuts = (0.5, 2.0)
        pol = P.RankPolicy(RankFunction(
            "prediction:0", tuple(Branch((Segment(value=(1.0, 0.0), slope=-1),), low=a, high=b)
                                  for a, b in zip((-np.inf, *cuts), (*cuts, np.inf))),
            branch_key="prediction:1"), label="SPRPT in 3 classes by Y1")
        pred = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
        kw = {}
    split = []
    chunks = _threads.chunks
    monkeypatch.setattr(_threads, "chunks", lambda n: split.append(len(chunks(n))) or chunks(n))
    got = []
    for n in (1, 3):
        threads(n)
        q = qt.MG1(load=0.8, size=size, prediction=pred, rtol=1e-6)
        got.append(q.mean_response_time_with_error(pol, **kw))
    assert got[0] == got[1]
    assert max(split) == 3  # some calls went to three threads


def test_lookups_do_not_depend_on_the_threads(threads):
    """The chunked lookups of a posterior bucket (moments, density, probabilities between
    two points), the exponential moments and the bounded Pareto probabilities between two
    points: the same arrays on 1 and 3 threads, on more points than a chunk."""
    law = PredictionBucket(qt.Weibull(shape=0.5, scale=1.0), qt.ExponentialPrediction(),
                           0.5, 2.0)
    ex = qt.HyperExponential(means=(0.5, 3.0), probs=(0.8, 0.2))
    bp = qt.BoundedPareto(alpha=1.5, low=0.2, high=50.0)
    rng = np.random.default_rng(3)
    x = np.exp(rng.normal(0.0, 2.0, 3 * _threads.MIN_ROWS + 7))
    x2 = x * np.exp(rng.exponential(1.0, x.size))
    out = []
    for n in (1, 3):
        threads(n)
        out.append([*law.moments012(x), *law.moments012(x, tail=True), law.pdf(x),
                    law.prob_between(x, x2), *ex.moments012(x), *ex.moments012(x, True),
                    bp.prob_between(x, x2)])
    for a, b in zip(*out):
        assert np.array_equal(a, b, equal_nan=True)


def _child_sum(n):
    x = np.arange(float(n))
    return float(np.concatenate(_threads.map_chunks(lambda s: x[s], n)).sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_pool(threads):
    """A child forked after the parent used the pool inherits the pool's object but none of
    its threads: the child makes a new pool (before, its work would wait forever)."""
    import multiprocessing as mp

    threads(2)
    n = 2 * _threads.MIN_ROWS
    assert _child_sum(n) == n * (n - 1) / 2  # the parent's pool is up
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_child_sum, (n,)).get(timeout=60) == n * (n - 1) / 2
