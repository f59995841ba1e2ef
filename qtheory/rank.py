"""Rank functions: the one definition of a policy that both engines read.

A SOAP policy (Scully, Harchol-Balter, Scheller-Wolf, "SOAP: One Clean
Analysis of All Age-Based Scheduling Policies", POMACS 2018) serves the job of
lowest rank r(d, a), where d is the job's descriptor and a its age; ties go to
the job that arrived first.

qtheory represents r in a *piecewise form* that the SOAP integrals can be
computed from exactly and a simulation kernel can evaluate cheaply:

* the descriptor enters through one scalar **key** ``k``: the true size
  (``key="size"``), the prediction (``key="prediction"``), or nothing
  (``key="none"``, rank depends on age only);
* the key axis is split into **branches** ``low < k <= high`` (e.g. the buckets
  of k-bucket advice); each branch has its own rank in age;
* within a branch, the rank is a sequence of **segments** covering
  ``[0, inf)`` in age: on ``[start, end)`` it is ``value + slope*(a - start)``
  with ``slope`` in {-1, 0, +1} (any finite slope is accepted on a segment whose
  ``value``, ``start`` and ``end`` do not depend on the key, e.g. a tabulated Gittins
  rank); ``start``, ``end`` and ``value`` are affine in
  the key, written ``(coefficient of k, constant)``; ``value`` may be ``-inf``
  (the job can no longer be preempted);
* an optional ``initial`` rank applies at age exactly 0 (non-preemptive
  policies: rank = k at age 0, then ``-inf``);
* a segment marked ``overhead=True`` is server time that does not serve the
  job's own size (a prediction computed on the server, as in SkipPredict's
  server-time cost model): ages count all service received, and a job ends
  when its non-overhead service reaches its size. An overhead segment is
  entered only by a job still in the system at its start.

Examples
--------
SPRPT is rank ``y - a``: one segment, slope -1, value ``1*y + 0``:

>>> r = RankFunction.single("prediction", [Segment(value=(1.0, 0.0), slope=-1)])
>>> float(r.evaluate(k=2.0, age=0.5))
1.5
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Segment", "Branch", "RankFunction", "KEYS", "parse_key"]

KEYS = ("none", "size", "prediction")


def _name(key: str, index: int) -> str:
    return f"{key}:{index}" if key == "prediction" and index else key


def _affine(name: str, value, allow_inf: bool = False) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (coefficient of the key, constant), "
                         f"got {value!r}") from None
    if not np.isfinite(a) or np.isnan(b) or (not allow_inf and not np.isfinite(b)):
        raise ValueError(f"{name} has a non-finite coefficient: {value!r}")
    return (a, b)


def _json_float(v: float):
    """``v`` for JSON: a float, or the strings ``"inf"``/``"-inf"``."""
    v = float(v)
    return v if np.isfinite(v) else ("inf" if v > 0 else "-inf")


def _json_num(v, where: str) -> float:
    """A number of :meth:`RankFunction.from_dict`'s data: a number or a numeric string."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{where}: expected a number, got {v!r}")
    try:
        out = float(v)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {v!r}") from None
    if np.isnan(out):
        raise ValueError(f"{where}: NaN is not a rank parameter")
    return out


def _json_pair(v, where: str) -> tuple[float, float]:
    """An affine pair ``[coefficient of the key, constant]`` of the data."""
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"{where}: expected a pair [coefficient of the key, constant], "
                         f"got {v!r}")
    return (_json_num(v[0], where), _json_num(v[1], where))


def _entries(v, where: str, what: str) -> list:
    """A non-empty list of mappings of :meth:`RankFunction.from_dict`'s data."""
    if not isinstance(v, list) or not v:
        raise ValueError(f"{where}: expected a non-empty list of {what}")
    for i, d in enumerate(v):
        if not isinstance(d, dict):
            raise ValueError(f"{where.replace('rank.', '')}[{i}]: expected a mapping, got "
                             f"{type(d).__name__}")
    return v


def _only(d: dict, allowed: tuple, where: str) -> None:
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise ValueError(f"{where}: unknown entr{'y' if len(extra) == 1 else 'ies'} "
                         f"{', '.join(map(repr, extra))}; allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class Segment:
    """Rank ``value + slope*(age - start)`` for ``start <= age < end``.

    ``start``, ``end`` and ``value`` are pairs ``(coefficient of the key,
    constant)``; ``end`` may have constant ``inf`` and ``value`` constant
    ``-inf``. ``start`` is filled in from the previous segment's ``end``.
    """

    value: tuple = (0.0, 0.0)
    slope: float = 0
    end: tuple = (0.0, np.inf)
    start: tuple = (0.0, 0.0)
    overhead: bool = False

    def __post_init__(self):
        object.__setattr__(self, "value", _affine("value", self.value, allow_inf=True))
        object.__setattr__(self, "end", _affine("end", self.end, allow_inf=True))
        object.__setattr__(self, "start", _affine("start", self.start))
        try:
            slope = float(self.slope)
        except (TypeError, ValueError):
            raise ValueError(f"slope must be a finite number, got {self.slope!r}") from None
        if not np.isfinite(slope):
            raise ValueError(f"slope must be a finite number, got {self.slope!r}")
        object.__setattr__(self, "slope", int(slope) if slope in (-1.0, 0.0, 1.0) else slope)
        if self.value[1] == np.inf:
            raise ValueError("value: a rank of +inf is not supported (use a large constant)")
        if np.isinf(self.value[1]) and (self.value[0] != 0 or self.slope != 0):
            raise ValueError("value: a -inf rank must be constant (coefficient 0, slope 0)")
        if self.end[1] == -np.inf:
            raise ValueError("end must not be -inf")


@dataclass(frozen=True)
class Branch:
    """The rank of jobs whose key lies in ``(low, high]``."""

    segments: tuple
    low: float = -np.inf
    high: float = np.inf
    initial: tuple | None = None

    def __post_init__(self):
        segs = tuple(self.segments)
        if not segs:
            raise ValueError("segments: a branch needs at least one segment")
        if not (self.low < self.high):
            raise ValueError(f"branch bounds out of order: low={self.low!r}, high={self.high!r}")
        fixed = []
        start = (0.0, 0.0)
        for i, s in enumerate(segs):
            if not isinstance(s, Segment):
                raise ValueError(f"segments[{i}] must be a Segment, got {type(s).__name__}")
            s = Segment(value=s.value, slope=s.slope, end=s.end, start=start,
                        overhead=s.overhead)
            if s.overhead and (np.isinf(s.end[1]) or s.end[0] != s.start[0]):
                raise ValueError(f"segments[{i}]: an overhead segment needs a finite length "
                                 "that does not depend on the key")
            fixed.append(s)
            start = s.end
            if np.isinf(s.end[1]) and i != len(segs) - 1:
                raise ValueError(f"segments[{i}] ends at infinity but is not the last segment")
        if not np.isinf(fixed[-1].end[1]):
            raise ValueError("segments: the last segment must end at age infinity")
        object.__setattr__(self, "segments", tuple(fixed))
        if self.initial is not None:
            object.__setattr__(self, "initial", _affine("initial", self.initial, allow_inf=True))


def parse_key(name: str, value) -> tuple[str, int]:
    """``(key, index)`` of a key name: ``"none"``, ``"size"``, ``"prediction"`` (index 0)
    or ``"prediction:j"`` (the ``j``-th prediction of a
    :class:`~qtheory.predictions.MultiPrediction`, ``j >= 0``).

    Examples
    --------
    >>> parse_key("key", "prediction:1"), parse_key("key", "size")
    (('prediction', 1), ('size', 0))
    """
    if isinstance(value, str) and value.startswith("prediction:"):
        tail = value[len("prediction:"):]
        if tail.isdigit():
            return "prediction", int(tail)
    if value in KEYS:
        return value, 0
    raise ValueError(f"{name} must be one of {KEYS} or 'prediction:j' (j = 0, 1, ...), "
                     f"got {value!r}")


@dataclass(frozen=True)
class RankFunction:
    """A piecewise rank function; see the module docstring.

    Parameters
    ----------
    key : {"none", "size", "prediction", "prediction:j"}
        What the segments' values and ends are affine in. ``"prediction:j"`` is the
        ``j``-th prediction of a :class:`~qtheory.predictions.MultiPrediction`
        (``"prediction"`` is ``"prediction:0"``); stored as ``key="prediction"`` with
        ``key_index=j``.
    branches : sequence of Branch
        Ordered, contiguous in the branch key, covering its whole range.
    branch_key : {"size", "prediction", "prediction:j"}, optional
        What chooses a job's branch (its bounds ``low < k <= high``); by default the key
        itself. A different branch key makes a descriptor with several parts: for example
        branches on a cheap prediction and, in each, a rank in an expensive one
        (SkipPredict with two predictors), or buckets of the true size with a rank in the
        prediction. Stored resolved (``branch_key``, ``branch_index``).
    key_index, branch_index : int
        Filled in from the names; give them only through ``"prediction:j"``.

    Examples
    --------
    Shorts by a cheap prediction (``Y_1 <= 2``) first come first served, never preempted;
    the others by SPRPT on an expensive one (``Y_0``):

    >>> short = Branch((Segment(value=(0.0, -np.inf)),), high=2.0)
    >>> long_ = Branch((Segment(value=(1.0, 0.0), slope=-1),), low=2.0)
    >>> r = RankFunction("prediction:0", (short, long_), branch_key="prediction:1")
    >>> r.key, r.key_index, r.branch_key, r.branch_index, r.branched
    ('prediction', 0, 'prediction', 1, True)
    >>> float(r.evaluate(k=3.0, age=0.5, branch_k=2.5)), float(r.evaluate(3.0, 0.5, 1.5))
    (2.5, -inf)
    """

    key: str
    branches: tuple = field(default_factory=tuple)
    branch_key: str | None = None
    key_index: int = 0
    branch_index: int = 0

    def __post_init__(self):
        key, kidx = parse_key("key", self.key)
        if kidx == 0 and self.key_index and key == "prediction":
            kidx = int(self.key_index)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "key_index", kidx)
        if self.branch_key is None:
            bkey, bidx = key, kidx
        else:
            bkey, bidx = parse_key("branch_key", self.branch_key)
            if bidx == 0 and self.branch_index and bkey == "prediction":
                bidx = int(self.branch_index)
            if bkey == "none":
                raise ValueError("branch_key: 'none' cannot choose a branch (leave it out "
                                 "for a rank with one branch)")
        object.__setattr__(self, "branch_key", bkey)
        object.__setattr__(self, "branch_index", bidx)
        br = tuple(self.branches)
        if not br:
            raise ValueError("branches: at least one branch is required")
        if br[0].low != -np.inf or br[-1].high != np.inf:
            raise ValueError("branches must cover the whole key axis: first low = -inf, "
                             "last high = inf")
        for a, b in zip(br[:-1], br[1:]):
            if a.high != b.low:
                raise ValueError(f"branches out of order or not contiguous: ({a.low}, {a.high}] "
                                 f"then ({b.low}, {b.high}]")
        if self.branch_key == "none" and len(br) > 1:
            raise ValueError("key='none' allows one branch only (or give a branch_key)")
        if self.key != "none":
            for b in br:
                for s in b.segments:
                    keyed = s.value[0] != 0 or s.start[0] != 0 or s.end[0] != 0
                    if s.slope not in (-1, 0, 1) and keyed:
                        raise ValueError(f"slope must be -1, 0 or +1 on a segment that depends "
                                         f"on the {self.key} (got {s.slope!r}); other slopes "
                                         "are allowed where value, start and end do not "
                                         "depend on the key (age-only pieces, e.g. a branch's "
                                         "tabulated Gittins rank)")
        object.__setattr__(self, "branches", br)

    @classmethod
    def single(cls, key: str, segments, initial=None) -> RankFunction:
        """A rank with one branch."""
        return cls(key, (Branch(tuple(segments), initial=initial),))

    @property
    def branched(self) -> bool:
        """True when the branch key is not the key (a descriptor with several parts)."""
        return (self.branch_key, self.branch_index) != (self.key, self.key_index)

    @property
    def key_name(self) -> str:
        """The key as written: ``"prediction:j"`` for ``j >= 1``."""
        return _name(self.key, self.key_index)

    @property
    def branch_key_name(self) -> str:
        """The branch key as written."""
        return _name(self.branch_key, self.branch_index)

    @property
    def has_overhead(self) -> bool:
        """True when some segment is server-time overhead (see the module docstring)."""
        return any(s.overhead for b in self.branches for s in b.segments)

    @property
    def unit_slopes(self) -> bool:
        """True when every segment has slope -1, 0 or +1 (the piecewise SOAP engine's form)."""
        return all(s.slope in (-1, 0, 1) for b in self.branches for s in b.segments)

    def to_dict(self) -> dict:
        """The rank as plain data (lists, numbers, strings) that :func:`json.dumps` writes
        as strict JSON: infinities as the strings ``"inf"`` and ``"-inf"``. Segments' starts
        are left out (each is the end of the segment before it). :meth:`from_dict` reads it
        back, equal to this rank.

        Examples
        --------
        >>> import json
        >>> r = RankFunction.single("prediction", [Segment(value=(1.0, 0.0), slope=-1)])
        >>> print(json.dumps(r.to_dict()))  # doctest: +NORMALIZE_WHITESPACE
        {"key": "prediction", "branch_key": null, "branches": [{"low": "-inf",
        "high": "inf", "initial": null, "segments": [{"value": [1.0, 0.0], "slope": -1,
        "end": [0.0, "inf"], "overhead": false}]}]}
        >>> RankFunction.from_dict(json.loads(json.dumps(r.to_dict()))) == r
        True
        """
        def pair(v):
            return [_json_float(v[0]), _json_float(v[1])]

        return {
            "key": self.key_name,
            "branch_key": self.branch_key_name if self.branched else None,
            "branches": [
                {"low": _json_float(b.low), "high": _json_float(b.high),
                 "initial": None if b.initial is None else pair(b.initial),
                 "segments": [{"value": pair(sg.value), "slope": sg.slope, "end": pair(sg.end),
                               "overhead": bool(sg.overhead)} for sg in b.segments]}
                for b in self.branches],
        }

    @classmethod
    def from_dict(cls, data) -> RankFunction:
        """A rank from the plain data of :meth:`to_dict` (a JSON file's contents).

        Only ``"key"`` and ``"branches"`` are required; in a branch ``"low"``, ``"high"``
        (default: the whole axis) and ``"initial"`` (none) may be left out, in a segment
        ``"slope"`` (0), ``"end"`` (the last segment's ``[0, "inf"]``) and ``"overhead"``
        (false). Numbers may be written as strings (``"inf"``, ``"-inf"``, ``"1e-3"``).
        A wrong or unknown entry raises a ``ValueError`` naming its place
        (``branches[0].segments[1].slope``).

        Examples
        --------
        TRAIL with ``c = 0.5`` (SPRPT while the age is below half the prediction, then
        never preempted), written by hand:

        >>> r = RankFunction.from_dict({"key": "prediction", "branches": [{"segments": [
        ...     {"value": [1, 0], "slope": -1, "end": [0.5, 0]},
        ...     {"value": [0, "-inf"]}]}]})
        >>> float(r.evaluate(k=2.0, age=0.5)), float(r.evaluate(k=2.0, age=1.5))
        (1.5, -inf)
        """
        if not isinstance(data, dict):
            raise ValueError(f"rank: expected a mapping with 'key' and 'branches', got "
                             f"{type(data).__name__}")
        _only(data, ("key", "branch_key", "branches", "label"), "rank")
        if "key" not in data or "branches" not in data:
            raise ValueError("rank: needs 'key' and 'branches'")
        out = []
        for i, b in enumerate(_entries(data["branches"], "rank.branches", "branches")):
            where = f"branches[{i}]"
            _only(b, ("low", "high", "initial", "segments"), where)
            segs = _entries(b.get("segments"), f"{where}.segments", "segments")
            made = []
            for j, sg in enumerate(segs):
                at = f"{where}.segments[{j}]"
                _only(sg, ("value", "slope", "end", "overhead"), at)
                last = j == len(segs) - 1
                if not last and "end" not in sg:
                    raise ValueError(f"{at}.end: every segment but the last needs an end")
                overhead = sg.get("overhead", False)
                if not isinstance(overhead, bool):
                    raise ValueError(f"{at}.overhead: expected true or false, got "
                                     f"{overhead!r}")
                # the entries' own errors name them; the segment's checks get its place
                value = _json_pair(sg.get("value", [0, 0]), f"{at}.value")
                slope = _json_num(sg.get("slope", 0), f"{at}.slope")
                end = _json_pair(sg.get("end", [0, "inf"]), f"{at}.end")
                try:
                    made.append(Segment(value=value, slope=slope, end=end, overhead=overhead))
                except ValueError as exc:
                    raise ValueError(f"{at}: {exc}") from None
            init = b.get("initial")
            low = _json_num(b.get("low", "-inf"), f"{where}.low")
            high = _json_num(b.get("high", "inf"), f"{where}.high")
            initial = None if init is None else _json_pair(init, f"{where}.initial")
            try:
                out.append(Branch(tuple(made), low=low, high=high, initial=initial))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return cls(data["key"], tuple(out), branch_key=data.get("branch_key"))

    def evaluate(self, k, age, branch_k=None):
        """Rank at key ``k`` and age ``age`` (vectorised; broadcasts); ``branch_k`` is the
        branch key's value (by default ``k``: needed only when :attr:`branched`)."""
        if branch_k is None:
            if self.branched:
                raise ValueError("branch_k: this rank chooses its branch by "
                                 f"{self.branch_key_name!r}, not by its key "
                                 f"{self.key_name!r}; give its value")
            branch_k = k
        k, age, bk = np.broadcast_arrays(np.asarray(k, float), np.asarray(age, float),
                                         np.asarray(branch_k, float))
        out = np.full(k.shape, np.nan)
        for br in self.branches:
            inb = (bk > br.low) & (bk <= br.high)
            for s in br.segments:
                st = s.start[0] * k + s.start[1]
                en = s.end[0] * k + s.end[1]
                on = inb & (age >= st) & (age < en)
                with np.errstate(invalid="ignore"):
                    val = s.value[0] * k + s.value[1] + s.slope * (age - st)
                out = np.where(on, val, out)
            if br.initial is not None:
                init = br.initial[0] * k + br.initial[1]
                out = np.where(inb & (age == 0), init, out)
        return out[()] if out.ndim == 0 else out
