"""SOAP analysis of multi-class age ranks: each class has its own size law and rank.

Jobs arrive in a Poisson stream of rate ``lambda``; a job is of class ``c`` with probability
``p_c``, has a size drawn from the law ``X_c`` and is ranked by ``g_c(a)`` at age ``a`` (lower
is served first, ties first come first served). This is SOAP with the descriptor ``d = c``
(Z. Scully, M. Harchol-Balter, A. Scheller-Wolf, "SOAP: One Clean Analysis of All Age-Based
Scheduling Policies", POMACS 2(1) 2018, Theorem 5.5): for a tagged class-``c`` job of size
``x``, with worst future rank ``r = w_c(0; x)``,

    E[T_{c,x}] = lambda S(r) / (2 (1 - lambda O0(r)) (1 - lambda N(r)))
               + integral_0^x da / (1 - lambda N(w_c(a; x))),

where the other-job functions are mixtures over the classes,
``N(r) = sum_c' p_c' E[X_c'^new[r]]``, ``O0(r) = sum_c' p_c' E[X_c',0^old[r]]`` and
``S(r) = sum_c' p_c' sum_i E[(X_c',i^old[r])^2]``, each class's term being that of the single
class engine :class:`~qtheory.analysis.agerank.AgeRankAnalysis` (exact in the size law).

The tagged job's levels and lambda-free weights are those of its own class's engine; only the
other-job functions change. A class's own levels keep the piece and age they were read from,
so comparisons with its own rank stay exact; other classes compare rank values.

For Gittins policies (every class ranked by the Gittins rank of its own law) the mean has a
second route that needs no tagged job, the r-work integral over the level
(:mod:`qtheory.analysis.rwork`): ``gittins=True`` makes it :meth:`ClassRankAnalysis.mean`'s
default, and the two agree to about 1e-12.

Uses: Gittins with class information (each class ranked by the Gittins rank of its own law,
:func:`~qtheory.analysis.gittins.gittins_rank`), for example Gittins given perfect bucket advice
with :class:`~qtheory.distributions.truncated.Truncated` laws as the classes; and Gittins on
the posterior law of the size given a *continuous* prediction, whose SOAP integrals over the
prediction :mod:`qtheory.analysis.posterior_gittins` takes with one class per Gauss-Legendre
node of the prediction's quantile (second order, as the other-job functions jump in the
prediction at every rank level; ``docs/soap.md``, "Several classes").

Examples
--------
Constant ranks are preemptive priority: class 0 (rank 0) is an M/M/1 on its own.

>>> import qtheory as qt
>>> a = ClassRankAnalysis([(0.5, qt.Exponential(mean=1.0), 0.0),
...                        (0.5, qt.Exponential(mean=1.0), 1.0)])
>>> round(float(a.class_means(0.8)[0][0]), 10)      # 1 / (1 - 0.4)
1.6666666667
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .._warnings import QuadratureWarning
from ..distributions.base import SizeDistribution
from ..distributions.posterior import release_node_values
from ._worktab import WorkTable
from .agerank import _FIRST_LEVEL, _LAST_LEVEL, AgeRankAnalysis, _accept, _Levels, _Structure

__all__ = ["ClassRankAnalysis"]

_TABLE_LEAST = 2048  # levels in a critical interval of a class for its work tables there
_RELEASE_ROWS = 1 << 14  # level arrays longer than this are not kept in a law's node memo
_FALLBACK = 0.1  # Gittins classes: SOAP's analysis too where the r-work estimate is above
# this times rtol (ClassRankAnalysis.mean)


def _bare(val: np.ndarray) -> _Levels:
    """Rank levels with no source piece: other classes compare rank values only."""
    return _Levels(val, np.full(val.size, -1, dtype=np.int64), np.zeros(val.size))


class ClassRankAnalysis:
    """Mean response time of a multi-class age-rank policy (module docstring).

    Parameters
    ----------
    classes : sequence of (probability, SizeDistribution, rank)
        One entry per class: its probability (``>= 0``, summing to 1 within ``1e-9``), its
        size law and its age rank (anything :class:`~qtheory.analysis.agerank.AgeRankAnalysis`
        accepts: an ``AgeRank``, an age-only ``RankFunction``, a number or a callable).
    rtol : float
        Target relative error of :meth:`mean`.
    gittins : bool
        Every class is ranked by the Gittins rank of its own law (not checked): :meth:`mean`
        is then the r-work integral over the level (:func:`~qtheory.analysis.rwork.rwork_mean`,
        no tagged-job analysis) unless asked for SOAP's.

    Examples
    --------
    FB on every class of a mixture is FB on the mixed law:

    >>> import qtheory as qt
    >>> from qtheory.analysis.agerank import AgeRank
    >>> fb = AgeRank.linear(1.0)
    >>> a = ClassRankAnalysis([(0.3, qt.Exponential(mean=0.5), fb),
    ...                        (0.7, qt.Exponential(mean=2.0), fb)])
    >>> h = AgeRankAnalysis(qt.HyperExponential(means=[0.5, 2.0], probs=[0.3, 0.7]), fb)
    >>> bool(abs(a.mean(0.4)[0] - h.mean(0.4)[0]) < 1e-9)
    True
    """

    def __init__(self, classes, rtol: float = 1e-9, gittins: bool = False):
        self.gittins = bool(gittins)
        try:
            classes = list(classes)
        except TypeError:
            raise ValueError("classes must be a sequence of (probability, size, rank)") from None
        if not classes:
            raise ValueError("classes must not be empty")
        probs = []
        engines = []
        for i, item in enumerate(classes):
            try:
                p, size, rank = item
            except (TypeError, ValueError):
                raise ValueError(f"classes[{i}] must be (probability, size, rank)") from None
            if isinstance(p, bool) or not isinstance(p, numbers.Real) or not np.isfinite(p) \
                    or p < 0:
                raise ValueError(f"classes[{i}]: probability must be finite and >= 0, got {p!r}")
            if not isinstance(size, SizeDistribution):
                raise ValueError(f"classes[{i}]: size must be a SizeDistribution, got {size!r}")
            probs.append(float(p))
            engines.append(rank if isinstance(rank, AgeRankAnalysis)
                           else AgeRankAnalysis(size, rank, rtol=rtol))
        p = np.array(probs)
        if abs(p.sum() - 1.0) > 1e-9:
            raise ValueError(f"class probabilities must sum to 1 (within 1e-9), got {p.sum()!r}")
        keep = p > 0
        self.probs = p[keep] / p[keep].sum()
        self.engines = [e for e, k in zip(engines, keep) if k]
        self.rtol = float(rtol)
        # split every class's quadratures where its rank crosses another class's critical
        # levels: the other-job functions jump or kink there
        crit = np.unique(np.concatenate([e.crit for e in self.engines]))
        for e in self.engines:
            if not np.array_equal(e.crit, crit):
                e.crit = crit
                e._dec_edges = {j: e._piece_edges(j) for j in e._dec_edges}
                e._structs.clear()
        self.m1 = float(sum(q * e.law.m1 for q, e in zip(self.probs, self.engines)))
        # every class's law tabulated (posterior laws of noisy predictions): see mean
        self._tabulated = all(getattr(e.size, "tabulated", False) for e in self.engines)
        self._structs: dict[int, list[_Structure]] = {}
        self._memo: dict[int, tuple] = {}  # class -> work functions at bare levels
        self._tables: dict[int, WorkTable] = {}  # class -> its work functions' tables

    @classmethod
    def from_engines(cls, probs, engines, rtol: float = 1e-9,
                     gittins: bool = False) -> ClassRankAnalysis:
        """Build from ready :class:`AgeRankAnalysis` objects (one per class)."""
        return cls([(p, e.size, e) for p, e in zip(probs, engines)], rtol=rtol,
                   gittins=gittins)

    # ------------------------------------------------------------------ mixture functions
    def _level(self, level: int) -> list[_Structure]:
        """Every class's structure at ``level``: its own lambda-free weights with the
        other-job functions mixed over the classes. Each class's work functions are
        evaluated once, on the levels of all the other classes together (one root-finding
        pass per class instead of one per pair of classes); the sums over the other classes
        keep the class order."""
        if level in self._structs:
            return self._structs[level]
        owns = [e._structure(level) for e in self.engines]
        n = len(owns)
        sizes = [o.levels.size for o in owns]
        offs = np.cumsum([0] + sizes)
        vals = np.concatenate([o.levels.val for o in owns])
        wait = np.zeros(vals.size, dtype=bool)
        for c, o in enumerate(owns):
            wait[offs[c] + o.waiting] = True
        cls = np.repeat(np.arange(n), sizes)
        # every class's own terms first, then the other classes' in class order
        N = np.concatenate([self.probs[c] * o.N for c, o in enumerate(owns)])
        O0, S = np.zeros(vals.size), np.zeros(vals.size)
        for c, o in enumerate(owns):
            wl = offs[c] + o.waiting
            O0[wl] = self.probs[c] * o.O0[o.waiting]
            S[wl] = self.probs[c] * o.S[o.waiting]
        for k, (q, e) in enumerate(zip(self.probs, self.engines)):
            rows = np.nonzero(cls != k)[0]
            if not rows.size:
                continue
            n_k, o_k, s_k = self._cross_work(k, vals[rows], wait[rows])
            N[rows] += q * n_k
            w = np.nonzero(wait[rows])[0]
            if w.size:
                O0[rows[w]] += q * o_k[w]
                S[rows[w]] += q * s_k[w]
            if rows.size > _RELEASE_ROWS:  # the law's memo of these large arrays
                release_node_values(e.size)
        out = []
        for c, own in enumerate(owns):
            sl = slice(offs[c], offs[c + 1])
            out.append(_Structure(own.node_w, own.node_pid, own.node_c2, own.node_c4,
                                  own.t_node, own.t_lev, own.t_coef, own.t_w, N[sl],
                                  O0[sl], S[sl]))
        self._structs[level] = out
        return out

    def _cross_work(self, k: int, val: np.ndarray, wait: np.ndarray,
                    least: int | None = None):
        """Class ``k``'s work functions ``(N, O0, S)`` at the bare levels ``val`` (``O0``,
        ``S`` where ``wait``): from the class's tables in the level
        (:class:`~qtheory.analysis._worktab.WorkTable`; an interval is tabulated when at
        least ``least`` of the levels fall in it, :data:`_TABLE_LEAST` by default), the
        levels they leave out by the exact path (:meth:`_exact_work`)."""
        tab = self._tables.get(k)
        if tab is None:
            tab = self._tables[k] = WorkTable(self.engines[k])
        N, O0, S, need = tab.lookup(val, wait,
                                    least=_TABLE_LEAST if least is None else least)
        if np.any(need):
            idx = np.nonzero(need)[0]
            N[idx], O0[idx], S[idx] = self._exact_work(k, val[idx], wait[idx])
        return N, O0, S

    def _exact_work(self, k: int, val: np.ndarray, wait: np.ndarray):
        """Class ``k``'s work functions ``(N, O0, S)`` at the bare levels ``val`` (``O0``,
        ``S`` where ``wait``) by its engine, reusing those of earlier quadrature levels: the
        levels of a quadrature level are among those of the next (nested rules)."""
        e = self.engines[k]
        memo = self._memo.get(k)
        n = val.size
        N, O0, S = np.zeros(n), np.zeros(n), np.zeros(n)
        have_n = np.zeros(n, dtype=bool)
        have_o = np.zeros(n, dtype=bool)
        if memo is not None and memo[0].size:
            mv, mN, mO, mS, mo = memo
            i = np.minimum(np.searchsorted(mv, val), mv.size - 1)
            have_n = mv[i] == val
            have_o = have_n & mo[i]
            N[have_n] = mN[i[have_n]]
            O0[have_o], S[have_o] = mO[i[have_o]], mS[i[have_o]]
        new_n = ~have_n
        if np.any(new_n):
            N[new_n] = e._new_work(_bare(val[new_n]))
        new_o = wait & ~have_o
        if np.any(new_o):
            O0[new_o], S[new_o] = e._old_work(_bare(val[new_o]))
        # keep every value, its old work where known
        got_o = have_o | new_o
        if memo is not None and memo[0].size:
            allv = np.concatenate([memo[0], val])
            parts = [np.concatenate([m, x]) for m, x in zip(memo[1:], (N, O0, S, got_o))]
        else:
            allv, parts = val, [N, O0, S, got_o]
        order = np.lexsort((~parts[3], allv))  # by value, the entry with old work first
        allv = allv[order]
        first = np.concatenate([[True], allv[1:] != allv[:-1]])
        self._memo[k] = (allv[first], *(q[order][first] for q in parts))
        return N, O0, S

    def _mean_by(self, lam: float, method: str) -> tuple[float, float]:
        """``(E[T], error estimate)`` by ``"soap"`` (the class means mixed) or ``"rwork"``,
        without :meth:`mean`'s choice and warning (``inf`` where a class's mean is)."""
        if method == "rwork":
            from .rwork import rwork_mean

            return rwork_mean(self, lam)
        vals, errs = self.class_means(lam)
        if not np.all(np.isfinite(vals)):
            return np.inf, 0.0
        return float(self.probs @ vals), float(self.probs @ errs)

    # ------------------------------------------------------------------ public
    def class_means(self, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """``(E[T_c], error estimates)`` for every class at arrival rate ``lam`` (``inf`` when
        the load is >= 1)."""
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        n = len(self.engines)
        if lam * self.m1 >= 1.0:
            return np.full(n, np.inf), np.zeros(n)
        vals, errs, prev = None, None, None
        for level in range(_FIRST_LEVEL, _LAST_LEVEL + 1):
            out = [st.evaluate(lam, coarse=True) for st in self._level(level)]
            vals = np.array([v for v, _, _ in out])
            errs = np.array([e for _, e, _ in out])
            if not np.all(np.isfinite(vals)):
                break
            total = float(self.probs @ vals)
            err = float(self.probs @ errs)
            below = float(self.probs @ np.array([c for _, _, c in out]))
            if _accept(total, err, below if prev is None else prev, self.rtol,
                       first=prev is None):
                break
            prev = total
        return vals, errs

    def mixed_work(self, own: AgeRankAnalysis | None = None, own_prob: float = 0.0,
                   skip: int | None = None):
        """The other-job functions ``(new_work, old_work)`` of a tagged job: the classes'
        work at the levels' values, weighted by their probabilities (class ``skip``
        left out), plus ``own_prob`` times ``own``'s work, which compares exactly with the
        tagged job's own pieces."""
        def new_work(L):
            out = own_prob * own._new_work(L) if own is not None else np.zeros(L.size)
            b = _bare(L.val)
            for k, (q, e) in enumerate(zip(self.probs, self.engines)):
                if k != skip:
                    out = out + q * e._new_work(b)
            return out

        def old_work(L):
            O0, S = np.zeros(L.size), np.zeros(L.size)
            if own is not None:
                o, s = own._old_work(L)
                O0, S = own_prob * o, own_prob * s
            b = _bare(L.val)
            for k, (q, e) in enumerate(zip(self.probs, self.engines)):
                if k != skip:
                    o, s = e._old_work(b)
                    O0, S = O0 + q * o, S + q * s
            return O0, S

        return new_work, old_work

    def conditional(self, c: int, lam: float, x) -> np.ndarray:
        """``E[T]`` of a class-``c`` job of size ``x`` (vectorised; ``inf`` at load >= 1):
        SOAP's tagged-job formula on class ``c``'s rank with the other-job functions mixed
        over the classes (:meth:`mixed_work`).

        Examples
        --------
        Class 0 of a preemptive priority is an M/G/1 on its own: ``x / 1`` plus its wait.

        >>> import qtheory as qt
        >>> a = ClassRankAnalysis([(0.5, qt.Exponential(mean=1.0), 0.0),
        ...                        (0.5, qt.Exponential(mean=1.0), 1.0)])
        >>> round(float(a.conditional(0, 0.8, 2.0)), 12)     # 2 + 0.4 / (1 - 0.4)
        2.666666666667
        """
        lam = float(lam)
        if not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
        if not (isinstance(c, (int, np.integer)) and 0 <= c < len(self.engines)):
            raise ValueError(f"c must be a class index from 0 to {len(self.engines) - 1}, "
                             f"got {c!r}")
        x = np.asarray(x, dtype=float)
        if np.any(np.isnan(x)) or np.any(x < 0):
            raise ValueError("x must be >= 0 (and not NaN)")
        if lam * self.m1 >= 1.0:
            return np.full(x.shape, np.inf)
        own = self.engines[c]
        new_work, old_work = self.mixed_work(own, float(self.probs[c]), skip=c)
        return own._conditional(lam, x, new_work, old_work)

    def mean(self, lam: float, method: str | None = None) -> tuple[float, float]:
        """``(E[T], error estimate)`` at arrival rate ``lam`` (``inf`` at load >= 1).

        ``method``: ``"soap"`` (the classes' means by SOAP, :meth:`class_means`, mixed) or
        ``"rwork"`` (only for Gittins ranks: :func:`~qtheory.analysis.rwork.rwork_mean`).
        By default ``"soap"``, and where the analysis was built with ``gittins=True`` and
        every class's law is tabulated (posterior laws given a noisy prediction) the r-work
        integral, with SOAP's analysis computed too where the r-work estimate is above
        ``rtol / 10`` (that estimate carries 5e-11 of the value for tabulated ranks,
        ``rwork._RANK_FLOOR``, so at an rtol below 5e-10 both are computed); for laws in
        closed form or with atoms (the truncated laws of exact predictions) the other way
        round, as the r-work integral's tables solve for levels
        on closed forms there, 1.8-3.6 times as long (the value with the smaller estimate is
        returned: ranks nearly
        constant over the ages, as a Weibull law's of shape within 1e-3 of 1, make the work
        functions rise within a few parts in 1e3 of the level, where the r-work quadrature
        ended 1.5e-9 off with an estimate of 0.94e-9 (Weibull 0.75 and 0.9987 classes),
        while SOAP, which uses the ranks' order only, was within 1e-12; SOAP in turn did not
        converge on hyperexponential buckets before their ranks' flat-to-rounding tails
        became constants, ``gittins._flat_tail``). Either
        raises its quadrature level until the nested tanh-sinh estimate meets ``rtol`` and
        the value agrees with the level below to ``sqrt(rtol)`` (the first level only with
        an estimate below ``rtol / 100``: :func:`~qtheory.analysis.agerank._accept`); a
        :class:`~qtheory.QuadratureWarning` reports a miss.

        Examples
        --------
        Gittins given the class of an exponential mixture: the two methods agree.

        >>> import qtheory as qt
        >>> from qtheory.analysis.gittins import gittins_rank
        >>> laws = [qt.Weibull(0.5), qt.Exponential(mean=3.0)]
        >>> a = ClassRankAnalysis([(0.5, w, gittins_rank(w)) for w in laws], gittins=True)
        >>> soap, rwork = a.mean(0.2, "soap")[0], a.mean(0.2)[0]
        >>> bool(abs(soap - rwork) <= 1e-10 * soap)
        True
        """
        auto = method is None and self.gittins
        if method is None:
            # laws in closed form (the truncated size laws of exact predictions) take SOAP
            # first: there the r-work integral's work tables solve for the level on the
            # ranks' closed forms, each call a tail moment of the parent law (Gittins given
            # thresholds 0.5 and 2 of exact predictions, Weibull 0.5 sizes: 221 ms against
            # SOAP's 128 ms; bounded Pareto 385 against 201 ms; the two within 1e-14)
            method = "rwork" if self.gittins and self._tabulated else "soap"
        if method not in ("soap", "rwork"):
            raise ValueError(f"method must be 'soap' or 'rwork', got {method!r}")
        try:
            value, err = self._mean_by(lam, method)
        except ValueError as exc:
            if not (auto and method == "rwork" and "Gittins ranks" in str(exc)):
                raise
            # the default: SOAP's analysis, which needs only the ranks' order (an atom of
            # negligible mass, 1e-17, left a sliver of rank 7.0 above the rank 6.89 at
            # age 0 of a bucket law of sizes 0.35, 0.73, 6.4, 7.5: work integral 0.9986)
            warnings.warn(f"{exc}; SOAP's analysis is used instead", QuadratureWarning,
                          stacklevel=2)
            method = "soap"
            value, err = self._mean_by(lam, method)
        else:
            if auto and np.isfinite(value) and err > _FALLBACK * self.rtol * abs(value):
                # the other method too; the value with the smaller estimate is returned
                other = "soap" if method == "rwork" else "rwork"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", QuadratureWarning)
                    try:
                        o_value, o_err = self._mean_by(lam, other)
                    except ValueError:  # ranks that fail the work identity
                        o_value, o_err = np.nan, np.inf
                if np.isfinite(o_value) and o_err < err:
                    value, err, method = o_value, o_err, other
        if np.isfinite(value) and err > self.rtol * abs(value):
            warnings.warn(
                f"multi-class {'r-work' if method == 'rwork' else 'SOAP'} mean response time: "
                f"quadrature reached an estimated relative error of {err / abs(value):.2e}, "
                f"above the requested rtol={self.rtol:.1e}", QuadratureWarning, stacklevel=2)
        return value, err
