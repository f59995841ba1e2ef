"""Row-chunked calls of the analytic engines' compiled loops on a small thread pool.

The compiled loops of the SOAP engine and of the size laws (cell formulas, incomplete
moments, table lookups) work row by row, each row on its own, and release the GIL
(``nogil=True``). A large call is cut into as many contiguous chunks of rows as there
are threads, the chunks run at once, and their results are put back together in
order, so the numbers are the same as from one call, bit for bit, whatever the number
of threads. Calls of fewer than :data:`MIN_ROWS` rows stay in the calling thread (a round
trip through the pool costs tens of microseconds).

The number of threads is the number of CPUs this process may use, at most 8; the
environment variable ``QTHEORY_THREADS`` or :func:`set_threads` sets it (1: no pool).
The pool is made on first use and made again in a process forked from one that had it
(a forked child inherits the pool's object but not its threads).

Examples
--------
>>> import numpy as np
>>> from qtheory import _threads
>>> x = np.arange(20000.0)
>>> parts = _threads.map_chunks(lambda s: x[s] * 2.0, x.size)
>>> bool(np.array_equal(np.concatenate(parts), 2.0 * x))
True
>>> old = _threads.get_threads()
>>> _threads.set_threads(1)
>>> len(_threads.chunks(20000))
1
>>> _threads.set_threads(old)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["MIN_ROWS", "chunks", "concat_chunks", "map_chunks", "get_threads", "set_threads"]

#: calls of fewer rows than this run in the calling thread
MIN_ROWS = 8192
_MAX_DEFAULT = 8

_lock = threading.Lock()
_state: dict = {"n": None, "pool": None, "pid": None, "size": 0}


def _default() -> int:
    env = os.environ.get("QTHEORY_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"QTHEORY_THREADS must be a whole number >= 1, got {env!r}") \
                from None
        if n < 1:
            raise ValueError(f"QTHEORY_THREADS must be a whole number >= 1, got {env!r}")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_DEFAULT))


def get_threads() -> int:
    """The number of threads over which the analytic engines spread a large call of a
    compiled loop (``qt.get_threads``; :func:`set_threads`).

    Examples
    --------
    >>> import qtheory as qt
    >>> qt.get_threads() >= 1
    True
    """
    if _state["n"] is None:
        _state["n"] = _default()
    return _state["n"]


def set_threads(n: int | None) -> None:
    """Set the number of threads over which the analytic engines spread a large call of a
    compiled loop (``qt.set_threads``; ``None``: back to the default, ``QTHEORY_THREADS``
    or the CPUs this process may use, at most 8). Results do not depend on it: the rows
    are cut into contiguous chunks, each computed as alone.

    Parameters
    ----------
    n : int or None
        Threads, ``>= 1`` (1: every call in the calling thread).

    Examples
    --------
    >>> import qtheory as qt
    >>> qt.set_threads(1)
    >>> qt.get_threads()
    1
    >>> qt.set_threads(None)
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a whole number >= 1 or None, got {n!r}")
    with _lock:
        _state["n"] = n
        pool = _state["pool"]
        if pool is not None and _state["pid"] == os.getpid():
            pool.shutdown(wait=False)
        _state["pool"] = None


def _pool(k: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _state["pool"]
        if pool is None or _state["pid"] != os.getpid() or _state["size"] < k:
            if pool is not None and _state["pid"] == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="qtheory")
            _state.update(pool=pool, pid=os.getpid(), size=k)
        return pool


def chunks(n: int) -> list[slice]:
    """Contiguous slices of ``range(n)``, one per thread (one slice below :data:`MIN_ROWS`
    rows or with one thread)."""
    k = min(get_threads(), n // MIN_ROWS)
    if k <= 1:
        return [slice(0, n)]
    edges = [n * i // k for i in range(k + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(k)]


def map_chunks(fn: Callable[[slice], object], n: int) -> list:
    """``[fn(s) for s in chunks(n)]``, the chunks after the first on the pool (the first in
    the calling thread); ``fn`` must only read shared inputs and return its own outputs."""
    parts = chunks(n)
    if len(parts) == 1 or threading.current_thread().name.startswith("qtheory"):
        # (a call from one of the pool's own threads stays there: no waiting on the pool
        # from inside it)
        return [fn(slice(0, n))]
    pool = _pool(len(parts) - 1)
    futures = [pool.submit(fn, s) for s in parts[1:]]
    first = fn(parts[0])
    return [first, *(f.result() for f in futures)]


def concat_chunks(fn: Callable[[slice], tuple], n: int, axes: tuple) -> tuple:
    """:func:`map_chunks` of a ``fn`` that returns a tuple of arrays, each part put back
    together along its axis in ``axes`` (``None``: a count, summed)."""
    parts = map_chunks(fn, n)
    if len(parts) == 1:
        return parts[0]
    return tuple(sum(p[i] for p in parts) if ax is None
                 else np.concatenate([p[i] for p in parts], axis=ax)
                 for i, ax in enumerate(axes))
