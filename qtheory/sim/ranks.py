"""Compile a policy into the flat arrays that the kernels evaluate.

A :class:`qtheory.rank.RankFunction` becomes

* ``branches``, shape (nb, 6): ``high, first segment, number of segments,
  has initial rank, initial coefficient, initial constant``; branch ``b`` holds
  the keys ``high[b-1] < k <= high[b]``;
* ``segments``, shape (ns, 9): ``start_c, start_k, end_c, end_k, value_c,
  value_k, value_t, slope, overhead``; on ``[start, end)`` in age the rank is
  ``value_c*k + value_k + value_t*arrival_time + slope*(age - start)``;
  ``overhead`` is 1 for a segment of server time that does not serve the job's
  size (ages count it, the job's own work does not; see :mod:`qtheory.rank`).

``value_t`` (the coefficient of the arrival time) is not part of
:class:`~qtheory.rank.RankFunction`; the compiler uses it for the policies the
rank form cannot express: newest-short-first :class:`~qtheory.policies.OneBit`
(rank ``-arrival time`` among shorts). :class:`~qtheory.policies.Priority` becomes
bucket ranks of a fourth key, the job's class, drawn in the kernel. Processor
sharing has its own kernel.

The key of a job is chosen by ``KEY_*``: nothing (0), the true size (1), the
prediction (2), the class (3) or another prediction than the first (4: a rank key
``"prediction:j"`` on a :class:`~qtheory.MultiPrediction` queue). A rank whose branches are
chosen by another key (``branch_key``) carries ``BKEY_*``: the size (1), prediction 0 (2),
or the extra predictions A (4) and B (5), whose models ``extra`` names.

Examples
--------
>>> from qtheory.policies import SPRPT
>>> c = compile_policy(SPRPT())
>>> c.key, c.branches.shape, c.segments.shape, c.kind
(2, (1, 6), (1, 9), 'rank')
>>> float(c.segments[0, 7])  # slope
-1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..policies import PS, OneBit, Policy, Priority, get_policy
from ..rank import KEYS, Branch, RankFunction, Segment

__all__ = ["CompiledPolicy", "compile_policy", "compile_rank", "KEY_NONE", "KEY_SIZE",
           "KEY_PREDICTION", "KEY_CLASS", "KEY_EXTRA", "BKEY_SAME", "BKEY_SIZE",
           "BKEY_PREDICTION", "BKEY_EXTRA_A", "BKEY_EXTRA_B"]

KEY_NONE, KEY_SIZE, KEY_PREDICTION, KEY_CLASS, KEY_EXTRA = 0, 1, 2, 3, 4
# what chooses a job's branch (layout.C_BKEY): its key, its size, prediction 0, or the
# extra predictions A and B (models other than the first)
BKEY_SAME, BKEY_SIZE, BKEY_PREDICTION, BKEY_EXTRA_A, BKEY_EXTRA_B = 0, 1, 2, 4, 5
_INF = float("inf")


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready for a kernel.

    Attributes
    ----------
    name : str
    kind : {"rank", "ps"}
    key : int
        ``KEY_NONE``, ``KEY_SIZE``, ``KEY_PREDICTION`` or ``KEY_CLASS``.
    branches, segments : ndarray
        See the module docstring (empty for ``"ps"``).
    class_cum : ndarray
        Cumulative class probabilities (``KEY_CLASS`` only, else ``[1.0]``).
    rising : bool
        True when some segment's rank rises with age (FB-like; shared service on ties).
    overhead : bool
        True when some segment is overhead (server time that does not serve the size).
    bkey : int
        What chooses a job's branch when not its key (``BKEY_*``; ``BKEY_SAME`` else).
    extra : tuple of int
        The indices of the prediction models drawn as extra predictions A and B (models
        other than the first that the key or the branch key reads).
    """

    name: str
    kind: str
    key: int
    branches: np.ndarray
    segments: np.ndarray
    class_cum: np.ndarray
    rising: bool
    overhead: bool = False
    bkey: int = BKEY_SAME
    extra: tuple = ()


def compile_rank(rank: RankFunction, value_t=None) -> tuple[int, np.ndarray, np.ndarray]:
    """``(key, branches, segments)`` arrays of a rank function.

    ``value_t`` optionally gives, per branch, the coefficient of the arrival time
    added to every segment's value of that branch.
    """
    if not isinstance(rank, RankFunction):
        raise TypeError(f"rank: expected a qtheory.rank.RankFunction, got {type(rank).__name__}")
    key = KEYS.index(rank.key)  # "none", "size", "prediction" -> 0, 1, 2
    if rank.key == "prediction" and rank.key_index:
        key = KEY_EXTRA  # another prediction than the first: drawn as extra prediction A
    br_rows, seg_rows = [], []
    for bi, br in enumerate(rank.branches):
        first = len(seg_rows)
        for s in br.segments:
            ninf = np.isneginf(s.value[1])
            seg_rows.append([s.start[0], s.start[1], s.end[0], s.end[1],
                             0.0 if ninf else s.value[0], s.value[1],
                             0.0 if (value_t is None or ninf) else float(value_t[bi]),
                             0.0 if ninf else float(s.slope),
                             1.0 if getattr(s, "overhead", False) else 0.0])
        init = br.initial
        br_rows.append([br.high, first, len(br.segments), 0.0 if init is None else 1.0,
                        0.0 if init is None else init[0], 0.0 if init is None else init[1]])
    return key, np.array(br_rows, float), np.array(seg_rows, float)


def _class_rank(n: int, preemptive: bool) -> RankFunction:
    """Bucket ranks of the class index 0, 1, ..., n-1 (class 0 first)."""
    edges = [-_INF] + [i + 0.5 for i in range(n - 1)] + [_INF]
    branches = []
    for i in range(n):
        if preemptive:
            seg, init = [Segment(value=(0.0, float(i)))], None
        else:
            seg, init = [Segment(value=(0.0, -_INF))], (0.0, float(i))
        branches.append(Branch(tuple(seg), low=edges[i], high=edges[i + 1], initial=init))
    return RankFunction("size", tuple(branches))  # key column replaced by KEY_CLASS below


def _rank_of(pol: Policy, size, prediction) -> RankFunction | None:
    return pol.rank_function(size, prediction)


def compile_policy(policy, size=None, prediction=None) -> CompiledPolicy:
    """Compile ``policy`` (object or name) for the kernels.

    The rank comes from ``policy.rank_function(size, prediction)``; policies without
    one are handled here: PS, :class:`~qtheory.policies.Priority` and newest-short-first
    :class:`~qtheory.policies.OneBit`.
    """
    pol = get_policy(policy)
    one = np.ones(1)
    if isinstance(pol, PS):
        return CompiledPolicy(pol.name, "ps", KEY_NONE, np.zeros((0, 6)), np.zeros((0, 9)),
                              one, False)
    if isinstance(pol, Priority):
        n = len(pol.probs)
        _, br, seg = compile_rank(_class_rank(n, pol.preemptive))
        cum = np.cumsum(pol.probs)
        cum[-1] = 1.0
        return CompiledPolicy(pol.name, "rank", KEY_CLASS, br, seg, cum, False)
    if isinstance(pol, OneBit) and pol.preemptive and pol.within == "lcfs":
        # shorts (y <= T): rank -arrival_time (newest first, preemptive); longs: 1, FIFO
        rank = RankFunction("prediction", (
            Branch((Segment(value=(0.0, 0.0)),), high=pol.threshold),
            Branch((Segment(value=(0.0, 1.0)),), low=pol.threshold),
        ))
        key, br, seg = compile_rank(rank, value_t=(-1.0, 0.0))
        return CompiledPolicy(pol.name, "rank", key, br, seg, one, False)
    rank = _rank_of(pol, size, prediction)
    if rank is None:
        raise ValueError(f"policy: {pol.name} has no rank function and no dedicated "
                         "simulation kernel")
    key, br, seg = compile_rank(rank)
    bkey, extra = _branch_codes(rank)
    return CompiledPolicy(pol.name, "rank", key, br, seg, one, bool(np.any(seg[:, 7] > 0)),
                          bool(np.any(seg[:, 8] != 0)), bkey, extra)


def _branch_codes(rank: RankFunction) -> tuple[int, tuple]:
    """``(bkey, extra)`` of a rank (:class:`CompiledPolicy`): the extra prediction A is the
    key's model when that is not the first, else the branch key's; B the branch key's when
    A is taken by the key."""
    extra: list[int] = []
    if rank.key == "prediction" and rank.key_index:
        extra.append(rank.key_index)
    if not rank.branched:
        return BKEY_SAME, tuple(extra)
    if rank.branch_key == "size":
        return BKEY_SIZE, tuple(extra)
    j = rank.branch_index
    if j == 0:
        return BKEY_PREDICTION, tuple(extra)
    if extra and extra[0] == j:
        return BKEY_EXTRA_A, tuple(extra)
    extra.append(j)
    return (BKEY_EXTRA_A if len(extra) == 1 else BKEY_EXTRA_B), tuple(extra)
