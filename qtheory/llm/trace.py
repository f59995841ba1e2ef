"""Loading a request trace (CSV: timestamp, prompt tokens, output tokens).

Recognised column names (case-insensitive): timestamps ``timestamp``, ``time``,
``arrival_time``; prompt lengths ``prompt_tokens``, ``input_tokens``, ``prompt``,
``ContextTokens`` (Azure LLM inference trace 2023); output lengths
``output_tokens``, ``generated_tokens``, ``output``, ``GeneratedTokens`` (Azure).
Timestamps are numbers (seconds) or ISO dates (``2023-11-16 18:15:46.6805900``, as in
the Azure trace). Every row must parse: a malformed row raises a ``ValueError``
naming its line; nothing is dropped silently.

Examples
--------
>>> import io
>>> from qtheory import llm
>>> csv = io.StringIO("timestamp,prompt_tokens,output_tokens\\n0.0,10,5\\n0.5,20,7\\n2.0,4,1\\n")
>>> w = llm.load_trace(csv)
>>> w.arrival_rate, w.pairs[1].tolist()
(1.0, [5, 7, 1])
"""

from __future__ import annotations

import csv
import io
import numbers
import os

import numpy as np

from .tokens import TokenLaw
from .workload import TraceArrivals, Workload

__all__ = ["load_trace", "read_trace"]

_TIME = ("timestamp", "time", "arrival_time", "arrival")
_PROMPT = ("prompt_tokens", "input_tokens", "prompt", "contexttokens", "context_tokens",
           "input")
_OUTPUT = ("output_tokens", "generated_tokens", "output", "generatedtokens", "completion_tokens")


def _find(header: list[str], names: tuple[str, ...], what: str, given: str | None) -> int:
    low = [h.strip().lower() for h in header]
    if given is not None:
        if given.lower() not in low:
            raise ValueError(f"column {given!r} ({what}) is not in the header {header}")
        return low.index(given.lower())
    for n in names:
        if n in low:
            return low.index(n)
    raise ValueError(f"no {what} column in the header {header}: name it one of {names} "
                     f"or pass it explicitly")


def _time(text: str, line: int) -> float:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    try:
        d = np.datetime64(t.replace(" ", "T"), "ns")
    except ValueError:
        raise ValueError(f"line {line}: timestamp {text!r} is neither a number nor an "
                         f"ISO date") from None
    return float(d.astype(np.int64)) * 1e-9


def _count(text: str, line: int, what: str, minimum: int) -> int:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"line {line}: {what} {text!r} is not a number") from None
    if not np.isfinite(v) or not v.is_integer():
        raise ValueError(f"line {line}: {what} {text!r} is not a whole number of tokens")
    if v < minimum:
        raise ValueError(f"line {line}: {what} is {int(v)}, must be >= {minimum}")
    return int(v)


def read_trace(source, time_column: str | None = None, prompt_column: str | None = None,
               output_column: str | None = None, zero_output: str = "error"):
    """Read a CSV trace into ``(times, prompt, output)`` arrays.

    Parameters
    ----------
    source : path or file-like
        The CSV (with a header row).
    time_column, prompt_column, output_column : str, optional
        Column names, if not among the recognised ones (module docstring).
    zero_output : {"error", "one"}
        Rows with 0 output tokens (present in the Azure traces) raise an error, or with
        ``"one"`` are counted as 1 output token (a request that ends after its first
        decode step).

    Returns
    -------
    times, prompt, output : ndarray
        Arrival times in seconds from the first request, and token counts; rows are
        sorted by time (stable).
    """
    if zero_output not in ("error", "one"):
        raise ValueError(f"zero_output must be 'error' or 'one', got {zero_output!r}")
    if isinstance(source, (str, os.PathLike)):
        with open(source, newline="") as fh:
            text = fh.read()
    else:
        text = source.read()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError("the trace is empty (no header row)") from None
    it = _find(header, _TIME, "timestamp", time_column)
    ip = _find(header, _PROMPT, "prompt-token", prompt_column)
    io_ = _find(header, _OUTPUT, "output-token", output_column)
    width = max(it, ip, io_) + 1
    times, prompt, output = [], [], []
    min_out = 0 if zero_output == "one" else 1
    for line, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < width:
            raise ValueError(f"line {line}: expected at least {width} fields, got {len(row)}")
        times.append(_time(row[it], line))
        prompt.append(_count(row[ip], line, "prompt tokens", 1))
        output.append(max(_count(row[io_], line, "output tokens", min_out), 1))
    if not times:
        raise ValueError("the trace has a header but no requests")
    t = np.asarray(times)
    order = np.argsort(t, kind="stable")
    t = t[order] - t[order][0]
    return t, np.asarray(prompt, np.int64)[order], np.asarray(output, np.int64)[order]


def load_trace(source, arrival_rate: float | None = None, prediction=None, **columns) -> Workload:
    """A :class:`~qtheory.llm.Workload` replaying a CSV trace.

    Requests keep their own (prompt, output) pair and arrival time; the token laws are
    the trace's empirical marginals. ``arrival_rate`` rescales the time axis (default:
    the trace's own rate, requests minus one over the time span).

    Parameters
    ----------
    source : path or file-like
        The CSV (see :func:`read_trace`).
    arrival_rate : float, optional
        Target mean rate.
    prediction : PredictionModel, optional
        Prediction model on output lengths (default exact).
    **columns
        Passed to :func:`read_trace` (column names, ``zero_output``).
    """
    t, p, o = read_trace(source, **columns)
    if t.size < 2 or t[-1] <= 0:
        raise ValueError("a trace needs at least two distinct arrival times")
    own = (t.size - 1) / t[-1]
    arrivals = TraceArrivals(t)
    rate = own
    if arrival_rate is not None:
        if isinstance(arrival_rate, bool) or not isinstance(arrival_rate, numbers.Real) \
                or not (np.isfinite(arrival_rate) and arrival_rate > 0):
            raise ValueError(f"arrival_rate must be a finite number > 0, got {arrival_rate!r}")
        arrivals = TraceArrivals(t * (own / arrival_rate))
        rate = float(arrival_rate)
    kw = {} if prediction is None else {"prediction": prediction}
    return Workload(rate, TokenLaw.from_samples(p, "trace prompts"),
                    TokenLaw.from_samples(o, "trace outputs"), arrivals=arrivals,
                    pairs=(p, o), name="trace", **kw)
