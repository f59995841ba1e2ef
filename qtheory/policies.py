"""Scheduling policies as data.

A policy is a small immutable object naming the discipline and its flags; the
analytic engine (and, later, the Monte Carlo engine) reads it. Policies can be
given by object (``qt.policies.SPRPT()``) or by name (``"SPRPT"``, case-insensitive;
``"LAS"`` is an alias of ``"FB"``).

=========  ===================================================  ===========
name       rule (lower rank served first, ties FIFO)            preemptive
=========  ===================================================  ===========
FCFS       arrival order                                        no
PS         processor sharing                                    --
FB         least attained service (alias LAS)                   yes
SJF        shortest true size                                   no
PSJF       shortest true size                                   yes
SRPT       shortest remaining true size                         yes
SPJF       shortest predicted size                              no
PSPJF      shortest predicted size                              yes
SPRPT      shortest predicted remaining size (y - age)          yes
Priority   fixed classes drawn independently of size (Cobham)   either
=========  ===================================================  ===========
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Policy",
    "FCFS",
    "PS",
    "FB",
    "SJF",
    "PSJF",
    "SRPT",
    "SPJF",
    "PSPJF",
    "SPRPT",
    "Priority",
    "get_policy",
    "POLICY_NAMES",
]


@dataclass(frozen=True)
class Policy:
    """Base class of all policies."""

    name = "policy"
    preemptive = False
    uses_prediction = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FCFS(Policy):
    """First come, first served."""

    name = "FCFS"


@dataclass(frozen=True)
class PS(Policy):
    """Processor sharing."""

    name = "PS"
    preemptive = True


@dataclass(frozen=True)
class FB(Policy):
    """Foreground-background / least attained service (LAS)."""

    name = "FB"
    preemptive = True


@dataclass(frozen=True)
class SJF(Policy):
    """Shortest job first (non-preemptive, true sizes)."""

    name = "SJF"


@dataclass(frozen=True)
class PSJF(Policy):
    """Preemptive shortest job first (true sizes)."""

    name = "PSJF"
    preemptive = True


@dataclass(frozen=True)
class SRPT(Policy):
    """Shortest remaining processing time (true sizes)."""

    name = "SRPT"
    preemptive = True


@dataclass(frozen=True)
class SPJF(Policy):
    """Shortest predicted job first (non-preemptive)."""

    name = "SPJF"
    uses_prediction = True


@dataclass(frozen=True)
class PSPJF(Policy):
    """Preemptive shortest predicted job first (rank = prediction)."""

    name = "PSPJF"
    preemptive = True
    uses_prediction = True


@dataclass(frozen=True)
class SPRPT(Policy):
    """Shortest predicted remaining processing time (rank = prediction - age).

    A job whose age passes its prediction keeps its negative rank and runs on.
    """

    name = "SPRPT"
    preemptive = True
    uses_prediction = True


@dataclass(frozen=True)
class Priority(Policy):
    """Fixed priority classes, each job independently of its size in class i w.p. ``probs[i]``.

    Class 0 has the highest priority; FIFO within a class. With ``preemptive=True``
    it is preemptive-resume. Mean response times follow Cobham (1954); see
    :mod:`qtheory.analysis.priority`.

    Examples
    --------
    >>> Priority(probs=(0.3, 0.7)).name
    'Priority-NP'
    """

    probs: tuple = field(default=(1.0,))
    preemptive: bool = False

    def __post_init__(self):
        p = np.asarray(self.probs, dtype=float)
        if p.ndim != 1 or p.size == 0 or np.any(~np.isfinite(p)) or np.any(p < 0):
            raise ValueError(
                f"probs must be a non-empty list of non-negative numbers, got {self.probs!r}"
            )
        if abs(p.sum() - 1.0) > 1e-9:
            raise ValueError(f"probs must sum to 1, they sum to {p.sum()!r}")
        object.__setattr__(self, "probs", tuple(float(v) for v in p / p.sum()))

    @property
    def name(self) -> str:  # type: ignore[override]
        return "Priority-P" if self.preemptive else "Priority-NP"


_BY_NAME = {
    "FCFS": FCFS,
    "FIFO": FCFS,
    "PS": PS,
    "FB": FB,
    "LAS": FB,
    "SJF": SJF,
    "PSJF": PSJF,
    "SRPT": SRPT,
    "SPJF": SPJF,
    "PSPJF": PSPJF,
    "SPRPT": SPRPT,
}

#: Names accepted by :func:`get_policy`.
POLICY_NAMES = ("FCFS", "PS", "FB", "SJF", "PSJF", "SRPT", "SPJF", "PSPJF", "SPRPT")


def get_policy(policy) -> Policy:
    """Return a :class:`Policy` from a policy object or a name.

    Examples
    --------
    >>> get_policy("las")
    FB()
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        key = policy.strip().upper()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"policy: unknown name {policy!r}; known: {', '.join(POLICY_NAMES)}")
    raise TypeError(f"policy: expected a name or a Policy object, got {type(policy).__name__}")
