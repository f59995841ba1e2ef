"""Workload presets with cited length statistics.

Each preset's token laws match the statistics its source reports; the *shape* of each
law (log-normal, capped at ``maximum`` tokens) is our modelling assumption, stated
here, because the sources report summary statistics rather than the laws. For
research on a specific dataset, load the real trace with
:func:`qtheory.llm.load_trace`.

- ``sharegpt``: mean prompt 161.31, mean output 337.99 tokens (vLLM: Kwon et al.,
  SOSP 2023, Fig. 11);
- ``alpaca``: mean prompt 19.31, mean output 58.45 (vLLM, Fig. 11);
- ``lmsys``: prompt mean 40.62 and median 11, output mean 85.32 and median 45
  (LMSYS-Chat-1M 10k-request subset of Jaillet et al., arXiv:2502.07115);
- ``azure-conversation``: median prompt 1020, median output 129 (Azure LLM inference
  trace 2023: Patel et al., Splitwise, ISCA 2024);
- ``azure-code``: median prompt 1500, median output 13 (same).

Where only a mean is cited, the log-normal's shape is ``sigma = 1``; where only a
median is cited, also ``sigma = 1``; where both are cited, ``sigma`` is solved for.
The location is then solved so that the *rounded, capped* token law has the cited
mean (or median) exactly. Every law is capped at 4096 tokens (8192 for Azure prompts).

Examples
--------
>>> from qtheory import llm
>>> w = llm.preset("sharegpt", arrival_rate=1.0)
>>> round(w.mean_prompt, 2), round(w.mean_output, 2)
(161.31, 337.99)
>>> sorted(llm.PRESETS)
['alpaca', 'azure-code', 'azure-conversation', 'lmsys', 'sharegpt']
"""

from __future__ import annotations

import functools
import math

from scipy import optimize

from ..distributions import Lognormal
from .tokens import TokenLaw
from .workload import Workload

__all__ = ["preset", "PRESETS", "lognormal_tokens"]

#: name -> (prompt statistics, output statistics, cap prompt, cap output, source);
#: statistics are dicts with "mean" and/or "median".
PRESETS = {
    "sharegpt": ({"mean": 161.31}, {"mean": 337.99}, 4096, 4096,
                 "vLLM (Kwon et al., SOSP 2023), Fig. 11"),
    "alpaca": ({"mean": 19.31}, {"mean": 58.45}, 4096, 4096,
               "vLLM (Kwon et al., SOSP 2023), Fig. 11"),
    "lmsys": ({"mean": 40.62, "median": 11}, {"mean": 85.32, "median": 45}, 4096, 4096,
              "LMSYS-Chat-1M 10k subset, Jaillet et al., arXiv:2502.07115"),
    "azure-conversation": ({"median": 1020}, {"median": 129}, 8192, 4096,
                           "Azure LLM inference trace 2023, Patel et al., Splitwise, "
                           "ISCA 2024"),
    "azure-code": ({"median": 1500}, {"median": 13}, 8192, 4096,
                   "Azure LLM inference trace 2023, Patel et al., Splitwise, ISCA 2024"),
}


def _law(mu: float, sigma: float, maximum: int) -> TokenLaw:
    return TokenLaw.from_distribution(Lognormal(mu=mu, sigma=sigma), minimum=1,
                                      maximum=maximum)


@functools.lru_cache(maxsize=64)
def lognormal_tokens(mean: float | None = None, median: float | None = None,
                     maximum: int = 4096, sigma: float = 1.0) -> TokenLaw:
    """A capped, rounded-up log-normal token law with a given mean and/or median.

    Parameters
    ----------
    mean, median : float, optional
        Statistics of the token law to match (at least one). With both, ``sigma`` is
        solved for; with one, ``sigma`` is used as given.
    maximum : int
        Cap on the token count (mass above goes to ``maximum``).
    sigma : float
        Log-normal shape when only one statistic is given.

    Examples
    --------
    >>> law = lognormal_tokens(mean=100.0, maximum=2048)
    >>> round(law.mean, 9)
    100.0
    """
    if mean is None and median is None:
        raise ValueError("give mean and/or median")
    if median is not None:
        # the token median is ceil of the log-normal's: put the log-normal's median
        # just below the integer so that P(N <= median) = 1/2 exactly
        mu = math.log(median - 1e-9)
        if mean is None:
            return _law(mu, sigma, maximum)
        if mean <= median:
            raise ValueError("a log-normal needs mean > median")

        def gap(s):
            return _law(mu, s, maximum).mean - mean

        s = optimize.brentq(gap, 1e-3, 5.0, xtol=1e-13)
        return _law(mu, s, maximum)

    def gap_mu(m):
        return _law(m, sigma, maximum).mean - mean

    m = optimize.brentq(gap_mu, -10.0, math.log(maximum) + 5.0, xtol=1e-13)
    return _law(m, sigma, maximum)


def preset(name: str, arrival_rate: float, prediction=None, arrivals="poisson") -> Workload:
    """A :class:`~qtheory.llm.Workload` with the token laws of a named dataset.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS` (see the module docstring for sources).
    arrival_rate : float
        Requests per unit time.
    prediction : PredictionModel, optional
        Prediction of output lengths (default exact).
    arrivals : "poisson" or GammaArrivals
        Arrival process.
    """
    key = str(name).lower().replace("_", "-")
    if key not in PRESETS:
        raise ValueError(f"name must be one of {sorted(PRESETS)}, got {name!r}")
    ps, os_, cap_p, cap_o, source = PRESETS[key]
    prompt = lognormal_tokens(maximum=cap_p, **ps)
    output = lognormal_tokens(maximum=cap_o, **os_)
    kw = {} if prediction is None else {"prediction": prediction}
    return Workload(arrival_rate, prompt, output, arrivals=arrivals,
                    name=f"{key} ({source})", **kw)

