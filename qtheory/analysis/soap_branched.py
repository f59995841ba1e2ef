r"""SOAP for descriptors with several parts: branches chosen by one key, ranks in another.

A rank function whose branches are chosen by a *branch key* other than the key its segments
read (:attr:`qtheory.rank.RankFunction.branched`) ranks a job by two parts of its descriptor
``d = (x, y_0, y_1, ...)``: for example SkipPredict with two predictors, whose cheap
prediction ``Y_1`` decides short or long and whose expensive prediction ``Y_0`` ranks the
long jobs (R. Shahout and M. Mitzenmacher, "SkipPredict: When to Invest in Predictions for
Scheduling", NeurIPS 2024), or buckets of the true size with a rank in the prediction.

SOAP (Z. Scully, M. Harchol-Balter, A. Scheller-Wolf, "SOAP: One Clean Analysis of All
Age-Based Scheduling Policies", POMACS 2(1) 2018, Theorem 5.5) holds for any descriptor; what
changes is only the law over which its other-job functions and the tagged job's measures are
taken. With the predictions conditionally independent given the size
(:class:`~qtheory.predictions.MultiPrediction`: ``Y_j = X Z_j``, the ``Z_j`` independent),
a job whose branch key falls in branch ``b``'s interval ``I_b`` is, for everything else, a job
of a *class* ``b``:

* it has probability ``p_b = P(K_b in I_b)``;
* its size has the law of ``X`` given ``K_b in I_b``: the size law truncated to ``I_b`` for
  the branch key ``"size"``, the posterior law given a prediction bucket
  (:func:`~qtheory.distributions.posterior.bucket_law`, exact in the size law and the noise
  law) for ``"prediction:j"``;
* its key is ``X_b`` (the size) or ``X_b Z_i`` (prediction ``i != j``, whose noise is still
  independent of ``X_b``), and its rank is the branch's segments.

So ``N(r) = sum_b p_b N_b(r)``, likewise ``O0`` and ``S``, and the tagged job's measures
``nu = sum_b p_b nu_b``, ``mu = sum_b p_b mu_b``:

    E[T] = int W(r) dnu(r) + int dmu(r) / (1 - lambda N(r)),
    W(r) = lambda S(r) / (2 (1 - lambda O0(r)) (1 - lambda N(r))),

each class computed by :class:`~qtheory.analysis.soap.SOAPAnalysis` on its own law (its
other-job functions at every level, not only where its own tagged measures are nonzero) and
the integral over the level taken by the same adaptive rule, cut at every class's
breakpoints. The conditional response time of a job ``(x, k, k_b)`` is its class's tagged
job against the mixed other-job functions.

Checks (``tests/test_soap_branched.py``): branches that all carry the same rank give the
unbranched policy (the classes' laws mix back to the size law); constant ranks give Cobham's
preemptive and non-preemptive priority formulas over the classes; a perfect cheap predictor
equals branching on the size; and the simulator runs the same rank function.

Examples
--------
SkipPredict with a cheap predictor (uniform noise 0.5) for the bit and an expensive one
(exponential noise) for SPRPT:

>>> import numpy as np
>>> import qtheory as qt
>>> from qtheory.rank import Branch, RankFunction, Segment
>>> short = Branch((Segment(value=(0.0, -np.inf)),), high=1.0)
>>> long_ = Branch((Segment(value=(1.0, 0.0), slope=-1),), low=1.0)
>>> rank = RankFunction("prediction:0", (short, long_), branch_key="prediction:1")
>>> preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
>>> a = BranchedSOAP(qt.Exponential(mean=1.0), preds, rank)
>>> value, err = a.mean(0.7)
>>> round(float(value), 6), bool(err < 1e-8 * value)
(2.206512, True)
"""

from __future__ import annotations

import numpy as np

from ..distributions.base import SizeDistribution
from ..distributions.posterior import bucket_law
from ..predictions import ExactPrediction, MultiPrediction, PredictionModel
from ..rank import Branch, RankFunction
from .soap import _MAX_ROWS, SOAPAnalysis, _quiet

__all__ = ["BranchedSOAP", "BranchedAgeRanks", "branch_classes", "class_law"]


def _as_models(predictions) -> MultiPrediction:
    if isinstance(predictions, MultiPrediction):
        return predictions
    if isinstance(predictions, PredictionModel):
        return MultiPrediction([predictions])
    return MultiPrediction(predictions)


def class_law(size: SizeDistribution, model: PredictionModel, low: float, high: float):
    """``(p, law)``: the probability that ``low < Y <= high`` for the prediction ``Y = X Z``
    of ``model`` (the size itself for exact predictions) and the law of the size given it
    (:func:`~qtheory.distributions.posterior.bucket_law`); ``(0, None)`` when that has
    probability 0.

    Examples
    --------
    >>> import qtheory as qt
    >>> p, law = class_law(qt.Exponential(mean=1.0), qt.ExactPrediction(), 0.0, 1.0)
    >>> round(p, 12), type(law).__name__
    (0.632120558829, 'Truncated')
    """
    try:
        law = bucket_law(size, model, low, high)
    except ValueError as exc:
        if "probability 0" in str(exc) or "no mass" in str(exc):
            return 0.0, None
        raise
    p = getattr(law, "mass", None)
    if p is None:  # a Discrete law of reweighted atoms: the bucket's probability
        hi = 1.0 if not np.isfinite(high) else float(model.marginal_cdf(high, size))
        p = hi - (float(model.marginal_cdf(low, size)) if low > 0 else 0.0)
    return float(p), law


def branch_classes(size: SizeDistribution, predictions, rank: RankFunction) -> list:
    """``[(p_b, law_b, branch index b), ...]``: the probability of each branch of ``rank``
    and the law of the size given it (module docstring, :func:`class_law`), branches of
    probability 0 left out.

    Examples
    --------
    >>> import numpy as np
    >>> import qtheory as qt
    >>> from qtheory.rank import Branch, RankFunction, Segment
    >>> one = (Segment(value=(0.0, 0.0)),)
    >>> r = RankFunction("none", (Branch(one, high=1.0), Branch(one, low=1.0)),
    ...                  branch_key="size")
    >>> [(round(p, 12), type(law).__name__, b)
    ...  for p, law, b in branch_classes(qt.Exponential(mean=1.0), None, r)]
    [(0.632120558829, 'Truncated', 0), (0.367879441171, 'Truncated', 1)]
    """
    if rank.branch_key == "prediction":
        model = _as_models(predictions).model(rank.branch_index, "branch_key")
    else:  # the size: a bucket of exact predictions
        model = ExactPrediction()
    out = []
    for b, br in enumerate(rank.branches):
        low, high = max(float(br.low), 0.0), float(br.high)
        if not high > low:
            continue
        p, law = class_law(size, model, low, high)
        if p > 0:
            out.append((p, law, b))
    if not out:
        raise ValueError("rank: every branch has probability 0")
    return out


def _branch_values(rank: RankFunction, x, branch_k):
    """The branch key's values (the size itself for the branch key ``"size"``), or an error
    naming it when they are missing."""
    if rank.branch_key == "size":
        return x
    if branch_k is None:
        raise ValueError(f"branch_k: this rank chooses its branch by "
                         f"{rank.branch_key_name!r}; give its value")
    return branch_k


class BranchedAgeRanks:
    """A branched rank whose segments read the age only (key ``"none"``): each branch's
    class (:func:`branch_classes`) ranked by its own age rank, analysed by the multi-class
    age-rank engine (:class:`~qtheory.analysis.multiclass.ClassRankAnalysis`: any slopes,
    jumps, size laws with atoms), with :class:`BranchedSOAP`'s interface.

    Examples
    --------
    First come first served within two classes by a second prediction, the class of small
    predictions first (preemptive priority): Cobham's formulas over those classes.

    >>> import numpy as np
    >>> import qtheory as qt
    >>> from qtheory.rank import Branch, RankFunction, Segment
    >>> r = RankFunction("none", (Branch((Segment(value=(0.0, 0.0)),), high=1.0),
    ...                           Branch((Segment(value=(0.0, 1.0)),), low=1.0)),
    ...                  branch_key="prediction:1")
    >>> preds = qt.MultiPrediction([qt.ExponentialPrediction(), qt.UniformPrediction(0.5)])
    >>> value, err = BranchedAgeRanks(qt.Exponential(mean=1.0), preds, r).mean(0.7)
    >>> from qtheory.analysis.advice import buckets_mean
    >>> ref, _ = buckets_mean(qt.Exponential(mean=1.0), preds[1], 0.7, (1.0,), True)
    >>> bool(abs(value / ref - 1.0) < 1e-9)
    True
    """

    def __init__(self, size: SizeDistribution, predictions, rank: RankFunction,
                 rtol: float = 1e-9):
        from .multiclass import ClassRankAnalysis

        if rank.key != "none":
            raise ValueError(f"rank: its segments read {rank.key_name!r}; BranchedAgeRanks "
                             "takes age-only segments (use BranchedSOAP)")
        self.rank = rank
        self.classes = branch_classes(size, predictions, rank)
        self.m1 = float(size.moment(1))
        ranks = [RankFunction.single("none", rank.branches[b].segments,
                                     initial=rank.branches[b].initial)
                 for _, _, b in self.classes]
        self.engine = ClassRankAnalysis([(p, law, r) for (p, law, _), r
                                         in zip(self.classes, ranks)], rtol=rtol)

    def mean(self, lam: float) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam``."""
        if lam * self.m1 >= 1.0:
            return np.inf, 0.0
        return self.engine.mean(lam)

    def conditional(self, lam: float, x, k=None, branch_k=None, exact: bool = False):
        """E[T | size ``x``, branch key ``branch_k``] (``k`` is not read; for the branch key
        ``"size"`` it is ``x``), vectorised and broadcast."""
        branch_k = _branch_values(self.rank, x, branch_k)
        x, bk = np.broadcast_arrays(np.asarray(x, float), np.asarray(branch_k, float))
        out = np.full(x.shape, np.nan)
        for c, (_, _, b) in enumerate(self.classes):
            br = self.rank.branches[b]
            rows = (bk > br.low) & (bk <= br.high)
            if np.any(rows):
                out[rows] = self.engine.conditional(c, lam, x[rows])
        return out


class BranchedSOAP(SOAPAnalysis):
    """SOAP analysis of a rank whose branches are chosen by another key (module docstring).

    Parameters
    ----------
    size : SizeDistribution
        A continuous size law.
    predictions : MultiPrediction, PredictionModel or sequence of them
        The queue's prediction models; the rank's keys ``"prediction:j"`` index them.
    rank : RankFunction
        With :attr:`~qtheory.rank.RankFunction.branched` true (any rank is accepted: one
        whose branch key is its key gives one class per branch of the same key).
    rtol : float
        Target relative error of the integral over rank levels.
    """

    def __init__(self, size: SizeDistribution, predictions, rank: RankFunction,
                 rtol: float = 1e-9):
        if not isinstance(size, SizeDistribution):
            raise ValueError(f"size: expected a SizeDistribution, got {type(size).__name__}")
        if size.is_discrete:
            raise ValueError("size: the SOAP engine needs a continuous size law")
        if not isinstance(rank, RankFunction):
            raise TypeError(f"rank: expected a RankFunction, got {type(rank).__name__}")
        if rank.key == "prediction":
            key_model = _as_models(predictions).model(rank.key_index, "key")
        else:
            key_model = ExactPrediction()
        self._init_level_state(size, key_model, rank, rtol)
        self.classes = []
        for p, law, b in branch_classes(size, predictions, rank):
            br = rank.branches[b]
            sub = RankFunction(rank.key, (Branch(br.segments, initial=br.initial),),
                               key_index=rank.key_index)
            engine = SOAPAnalysis(law, key_model, sub, rtol)
            self.classes.append((p, engine, b))
        # the mean completion age (the size plus the overhead served, each class's own)
        self.m1 = float(sum(p * engine.m1 for p, engine, _ in self.classes))

    # ---------------------------------------------------------------- mixed functions
    def _functions_of_r(self, r, tagged: bool = True, weights=None, with_err: bool = False):
        """The classes' N, O0, S (and nu, mu), mixed by probability.

        On its own a class computes its other-job functions only where its own tagged
        measures are nonzero, and weights their noise quadrature by them; the mixture needs
        them wherever any class's measures are nonzero, weighted by the mixture's. So the
        classes first give nu and mu alone, and then N, O0 and S at the levels where the
        mixture's ``|nu| + |mu|`` is nonzero, with that as the weight of each level (weighted
        by a class's own measures, which are 1e-17 where a class hardly reaches a level that
        others reach often, a level of SPRPT split in two classes kept an error of 1e-2 in N
        and the mean an estimate of 7e-7)."""
        r = np.asarray(r, dtype=float)
        if not tagged:
            parts = [(p, *engine._functions_of_r(r, False, weights, True))
                     for p, engine, _ in self.classes]
        else:
            parts = [(p, *engine._functions_of_r(r, True, weights, True, others=False))
                     for p, engine, _ in self.classes]
            nu = sum(p * v["nu"] for p, v, _ in parts)
            mu = sum(p * v["mu"] for p, v, _ in parts)
            measure = np.abs(nu) + np.abs(mu)
            for (_p, v, e), (_, engine, _) in zip(parts, self.classes):
                v2, e2 = engine._others_at(r, measure, weights)
                v.update(v2)
                e.update(e2)
        res = {k: sum(p * v[k] for p, v, _ in parts) for k in parts[0][1]}
        err = {k: sum(p * e[k] for p, _, e in parts) for k in parts[0][2]}
        return (res, err) if with_err else res

    def _atom_masses(self):
        """The classes' atoms of nu and mu, mixed by probability (errors likewise)."""
        if self._atoms is None:
            atoms: dict = {}
            errs: dict = {}
            for p, engine, _ in self.classes:
                for v, (nu, mu) in engine._atom_masses().items():
                    a0, a1 = atoms.get(v, (0.0, 0.0))
                    atoms[v] = (a0 + p * nu, a1 + p * mu)
                    e0, e1 = engine._atom_err.get(v, (0.0, 0.0))
                    f0, f1 = errs.get(v, (0.0, 0.0))
                    errs[v] = (f0 + p * e0, f1 + p * e1)
            self._atoms, self._atom_err = atoms, errs
        return self._atoms

    @_quiet
    def _r_breakpoints(self):
        """Every class's breakpoints in the level (merged where they differ by rounding)."""
        pts = sorted({v for _, engine, _ in self.classes for v in engine._r_breakpoints()})
        out: list[float] = []
        for v in pts:
            if not out or v - out[-1] > 1e-12 * max(1.0, abs(v)):
                out.append(v)
        return out

    def _rank_range(self):
        """The classes' rank ranges, joined (each on its own class law)."""
        ranges = [engine._rank_range() for _, engine, _ in self.classes]
        return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)

    def _scale_r(self):
        scales = [engine._scale_r() for _, engine, _ in self.classes]
        return float(np.median(scales))

    # ---------------------------------------------------------------- conditional
    @_quiet
    def conditional(self, lam: float, x, k=None, branch_k=None, exact: bool = False):
        """E[T | size ``x``, key ``k``, branch key ``branch_k``], vectorised and broadcast
        (``k`` is ignored for the keys ``"size"`` and ``"none"``; ``branch_k`` for the
        branch key ``"size"`` is the size itself). Each job is its class's tagged job against
        the mixed other-job functions (tables in the level, or with ``exact`` the noise
        quadrature at every level)."""
        branch_k = _branch_values(self.rank, x, branch_k)
        if self.rank.key == "prediction" and k is None:
            raise ValueError(f"k: this rank reads {self.rank.key_name!r}; give its value")
        x, kk, bk = np.broadcast_arrays(np.asarray(x, float),
                                        np.asarray(x if k is None else k, float),
                                        np.asarray(branch_k, float))
        shape = x.shape
        xf, kf, bf = x.ravel(), kk.ravel(), bk.ravel()
        if self.rank.key == "prediction":
            with np.errstate(divide="ignore", invalid="ignore"):
                mf = np.where(xf > 0, kf / xf, 1.0)
        else:
            mf = np.full(xf.shape, 0.0 if self.rank.key == "none" else 1.0)
        if lam * self.m1 >= 1.0:
            return np.full(shape, np.inf)
        bps = np.array(self._r_breakpoints())
        functions = self._other_functions(exact)
        scale = None if exact else float(self._scale_r())
        out = np.full(xf.shape, np.nan)
        # jobs in chunks, as SOAPAnalysis.conditional takes them (memory: each ramp's nodes
        # on every piece between the cuts)
        chunk = max(1, _MAX_ROWS // (32 * (bps.size + 2)))
        for _, engine, b in self.classes:
            br = self.rank.branches[b]
            rows = np.flatnonzero((bf > br.low) & (bf <= br.high))
            for i in range(0, rows.size, chunk):
                r = rows[i:i + chunk]
                out[r] = engine._conditional_flat(lam, xf[r], mf[r], bps, functions, scale)
        return out.reshape(shape)
