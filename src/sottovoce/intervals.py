"""Confidence intervals: the one rule every estimate in sottovoce goes through.

Every :class:`~sottovoce.Result` knows its *scale* (a share, a difference of shares, a mean, a
total, a coefficient, a test statistic) and its *degrees of freedom* (chosen by
:func:`design_df` from the design). :func:`interval` turns ``estimate``, ``se``, scale and df into
the interval; nothing else in the package computes one.

Quantiles are Student-t with the degrees of freedom :func:`design_df` chooses: by default the
estimate's Satterthwaite effective df where they are fewer than the design's (PSUs minus strata,
R's ``degf``), or — with ``df="design"`` — the design df, as R's ``confint(..., df = degf(design))``
and ``svyciprop`` do. ``df=None`` or ``inf`` gives the normal quantile.

Shares and differences of shares never get an interval outside their range:

- **Direct shares** (a weighted proportion, whose variance behaves like ``p(1-p)/n_eff``) take
  one of R's ``svyciprop`` methods:

  - ``wald``   p ± t·se (R's ``method="mean"``), cut to [0, 1];
  - ``logit``  interval for logit(p) with se/(p(1-p)), back-transformed (R's default);
  - ``wilson`` Wilson's (1927) score interval with the *effective* sample size
    ``n_eff = p(1-p)/var`` (Kish 1965; Kott & Carr 1997; Dean & Pagano 2015);
  - ``beta``   Korn & Graubard (1998, *Survey Methodology* 24:193): Clopper–Pearson with
    ``n_eff`` corrected by ``(t_{n-1}/t_df)^2`` (R's ``"beta"``).

  At ``p`` equal to 0 or 1, or with zero estimated variance (a domain inside a single PSU), the
  design variance carries no information: the effective sample size falls back to the number
  of respondents, and ``wald``/``logit`` fall back to Korn–Graubard (``Interval.fallback``).

- **Moment estimators** of a share (list-experiment differences in means, randomized response,
  crosswise, regression predictions) and differences of shares use ``t`` on their df (:func:`design_df`),
  truncated to the scale's range (``"t-truncated"``): the valid part of the t interval. Cutting
  never removes a value of the range from the interval, so the coverage of every possible true
  value is that of the t interval itself, while logit or Wilson intervals (built for a binomial
  variance) would undercover these estimators near 0 and 1.

  A moment estimate can fall outside [0, 1] (a list experiment whose treated arm counts fewer
  items than the control arm, say). It is **kept as computed** and flagged
  (``Interval.out_of_range``); its interval is the part of the t interval inside the range.
  When the **whole t interval lies outside the range**, no value of the share is compatible with
  the data at this level: the interval is **empty** (``low = high = nan``, ``Interval.empty``;
  a result then has ``ci = None``) and the caller says why (a design effect, a design that was
  not followed, wrongly coded arms). An interval clamped to a single boundary point would claim
  certainty where the data contradict the model, so it is never reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .validate import check_level as _check_level

if TYPE_CHECKING:
    import numpy as np

    from .survey import Survey

__all__ = [
    "CI_METHODS",
    "SCALES",
    "SCALE_RANGE",
    "DF_RULES",
    "DegreesOfFreedom",
    "Interval",
    "design_df",
    "design_dfs",
    "small_df_warning",
    "satterthwaite_df",
    "interval",
    "proportion_interval",
    "mean_interval",
    "quantile",
]

#: R ``svyciprop`` methods for direct shares
CI_METHODS = ("wilson", "logit", "beta", "wald")
#: what an estimate can measure; shares and differences of shares are bounded
SCALES = ("share", "share-difference", "mean", "total", "coefficient", "statistic", "p-value", "")
SCALE_RANGE: dict[str, tuple[float, float]] = {"share": (0.0, 1.0), "share-difference": (-1.0, 1.0)}
#: scales shown in percent
PERCENT_SCALES = frozenset(SCALE_RANGE)


@dataclass(frozen=True)
class DegreesOfFreedom:
    """Degrees of freedom behind an interval and where they come from.

    ``value`` is ``math.inf`` for normal quantiles. ``name`` says which rule chose it, e.g.
    ``"design: PSUs − strata"``; a later rule (a Satterthwaite effective df per estimate) only
    needs to return another ``DegreesOfFreedom`` from :func:`design_df`.
    """

    value: float
    name: str
    #: the design df an effective df was chosen under (None: this is the design df)
    design: float | None = None

    @property
    def finite(self) -> float | None:
        """The value, or None for normal quantiles (the JSON form)."""
        return self.value if math.isfinite(self.value) else None


NORMAL = DegreesOfFreedom(math.inf, "normal")


#: how :func:`design_df` chooses the degrees of freedom (``Survey(df=...)``, or ``df=`` of an estimate)
DF_RULES = ("effective", "design")
#: below this many (effective) degrees of freedom an interval is flagged as resting on few PSUs
SMALL_DF = 20.0


def _design_df_only(survey: Survey, rule: str | None = None) -> bool:
    """Whether ``survey``'s estimates take its design df whatever their variance: replicate
    weights (rank − 1), no strata or PSUs (respondents − 1), or the ``"design"`` rule (R's)."""
    srs = survey.psu_column is None and survey.strata_column is None
    return bool(survey.replicates) or srs or (survey.df_rule if rule is None else rule) == "design"


def design_df(survey: Survey, influence: Any = None, *, base: float | None = None,
              effective: float | None = None, rule: str | None = None) -> DegreesOfFreedom:
    """The degrees of freedom of an estimate from ``survey`` (a design or a domain of one): the
    one place where sottovoce chooses them.

    The design df are PSUs minus strata among respondents with a positive weight (R's
    ``degf``; ``base`` when the caller already has the count, as for a domain estimated together
    with others), or the rank of the replicate weights minus one.

    Rule ``"effective"`` (the default, ``Survey(df="effective")``): when the estimate's variance
    comes from a few strata, its effective degrees of freedom are fewer than the design's, and t
    on the design df gives intervals that cover too little (issue 17: 0.91–0.94 at 95% with 45
    PSUs in 4 strata). The Satterthwaite (1946) approximation over strata,

        ν = (Σ_h V_h)² / Σ_h V_h² / (n_h − 1),

    with ``V_h`` stratum h's contribution to the estimate's linearization variance (Korn &
    Graubard 1999, *Analysis of Health Surveys*, §5.2; Valliant & Rust 2010, *J. Off. Stat.*
    26:585), is used when it is smaller than the design df. It comes from ``influence`` (the
    estimate's linearization values, as given to :meth:`Survey.cov_total`; several columns: the
    smallest) or ``effective`` when the caller has computed it (:func:`satterthwaite_df`).
    Without either, the design df are used. Rule ``"design"`` always uses the design df, as R's
    ``survey`` does (``confint(..., df = degf(design))``, ``svyciprop``): results then equal R's.
    ``rule`` overrides the design's rule for one estimate.

    In a domain, a stratum's ``n_h`` counts only its PSUs that hold the domain (see
    :func:`satterthwaite_df`), as the design df count only the PSUs and strata that hold it.

    Multistage designs (``psu=[psu, ssu]`` with a finite population correction at each stage):
    the design df are the first stage's, as R's ``degf`` (``length(unique(cluster[, 1])) −
    length(unique(strata[, 1]))``), and so are the strata contributions ``V_h``. The later stages
    add variance only through the first-stage sampling fractions, estimated from many more units
    (hence with many df); leaving that term out of ν leaves ν no larger than with it as long as
    those df exceed ν, i.e. the rule errs on the wide side — and when the first-stage fractions are
    small (the usual case) the term is negligible. Without a finite population correction the
    later stages add nothing (the ultimate-cluster variance) and ν is exact in this sense.
    """
    if survey.replicates:
        return DegreesOfFreedom(survey.df, "design: rank of replicate weights − 1")
    value = survey.df if base is None else float(base)
    srs = survey.psu_column is None and survey.strata_column is None
    design = DegreesOfFreedom(value, "design: respondents − 1" if srs else "design: PSUs − strata")
    rule = survey.df_rule if rule is None else rule
    if rule not in DF_RULES:
        raise InputError(f"df='{rule}' is not a degrees-of-freedom rule; use 'effective' (Satterthwaite) or 'design' (as R)")
    if _design_df_only(survey, rule) or not value >= 1:
        return design
    if effective is None and influence is not None:
        effective = float(satterthwaite_df(survey.variance_by_stratum(influence)).min())
    if effective is None or not effective < value:
        return design
    return DegreesOfFreedom(max(effective, 1.0), f"effective: Satterthwaite over strata (design: {value:g} PSUs − strata)",
                            design=value)


def rounding_variance(estimate: float, se: float, scale: str) -> bool:
    """Whether ``se`` is rounding noise around a zero variance (as the share intervals decide it):
    the strata's parts of such a variance are noise too, so a Satterthwaite df from them would
    be a random number that depends on the order of the rows."""
    est, v = float(estimate), float(se) ** 2
    if not math.isfinite(v):
        return False
    if scale == "share":
        return v <= _EPS * max(est * (1.0 - est), _EPS)
    return v == 0.0 or math.sqrt(v) <= _EPS * abs(est)


def small_df_warning(dof: DegreesOfFreedom | None, what: str) -> str | None:
    """The caveat of an interval on fewer than :data:`SMALL_DF` effective degrees of freedom
    (None otherwise): its variance rests on a few PSUs, so the t quantile is large and the
    interval wide, and the variance estimate itself is unstable."""
    if dof is None or not dof.name.startswith("effective") or not dof.value < SMALL_DF:
        return None
    return (f"{what}: few effective degrees of freedom ({dof.value:.1f}, Satterthwaite): the variance rests on a few PSUs, "
            "and the interval is wide for that reason")


def design_dfs(survey: Survey, influence: Any) -> list[DegreesOfFreedom]:
    """:func:`design_df` of each column of ``influence`` (n × k: the linearization values of k
    estimates from ``survey``), from one pass over the strata: what estimators that report
    several numbers at once (double and placebo lists, list + direct, split ballots) need."""
    import numpy as np

    u = np.asarray(influence, dtype=float)
    if u.ndim == 1:
        u = u[:, None]
    first = design_df(survey)  # the design df: all there is for replicates, SRS or the "design" rule
    if _design_df_only(survey) or not first.value >= 1:
        return [first] * u.shape[1]
    eff = satterthwaite_df(survey.variance_by_stratum(u))
    return [design_df(survey, effective=float(e)) for e in eff]


def satterthwaite_df(parts: Any, held: Any = None) -> np.ndarray:
    """Satterthwaite's effective df of each of k estimates from their strata's variance
    contributions (a :class:`sottovoce.linearization.StratumVariance`: ``parts`` (H, k) and
    ``n_h`` (H,)); inf where the variance is zero. Stratum h counts ``n_h − 1`` df, at least one.

    ``held`` (H,) or (H, k): for an estimate in a domain, the PSUs of each stratum that hold the
    domain. The other PSUs' totals are zero whatever was sampled, so a stratum's variance rests on
    its ``m_h`` PSUs that hold the domain and counts ``m_h − 1`` df (Korn & Graubard 1999, §5.2:
    a domain's df are the PSUs containing it minus their strata). In issue 17's audit design this
    brings a 5% domain's Wilson interval from 0.92–0.93 to 0.953 coverage.
    """
    import numpy as np

    v = np.asarray(parts.parts, dtype=float)
    m = np.asarray(parts.n_h if held is None else held, dtype=float)
    d = np.maximum(m - 1.0, 1.0)
    if d.ndim == 1:
        d = d[:, None]
    num = v.sum(axis=0) ** 2
    den = (v * v / d).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


@dataclass(frozen=True)
class Interval:
    """An interval, the method that made it and what happened at the edges.

    ``n_eff`` is the effective sample size used by the proportion methods (nan otherwise);
    ``fallback`` why a proportion method fell back ("boundary", "zero variance");
    ``out_of_range`` whether the estimate lies outside its scale's range; ``empty`` whether the
    whole t interval did (then ``low``/``high`` are nan).
    """

    low: float
    high: float
    method: str
    n_eff: float = math.nan
    fallback: str | None = None
    out_of_range: bool = False
    empty: bool = False

    @property
    def pair(self) -> tuple[float, float] | None:
        """``(low, high)``, or None for an empty interval."""
        return None if self.empty else (self.low, self.high)


@lru_cache(maxsize=256)
def _t_quantile(a: float, df: float) -> float:
    # scipy.special, not scipy.stats: the same functions (scipy.stats.t.isf calls stdtrit) at a
    # fraction of the import time
    from scipy import special

    if not math.isfinite(df):
        return float(-special.ndtri(a))
    return float(special.stdtrit(df, 1.0 - a))


def quantile(level: float, df: float | None) -> float:
    """Two-sided critical value: t with ``df`` degrees of freedom, normal when df is None/inf."""
    _check_level(level)
    a = (1.0 - level) / 2.0
    if df is None or not math.isfinite(df):
        return _t_quantile(a, math.inf)
    if df <= 0:
        return math.nan
    return _t_quantile(a, float(df))


_EPS = 1e-12  # shares this close to 0 or 1, or effective sizes beyond 1e12, are taken as exact


def interval(
    estimate: float,
    se: float,
    scale: str,
    *,
    level: float = 0.95,
    df: float | None = None,
    method: str = "t",
    n: int | None = None,
    n_rows: int | None = None,
) -> Interval:
    """The interval of one estimate (see the module docstring for the rule).

    ``method`` is ``"t"`` (t on ``df``, truncated to the scale's range) or, for a direct share,
    one of :data:`CI_METHODS` (then ``n``, the respondents, is needed; ``n_rows`` is Korn &
    Graubard's sample size, default ``n``). Statistics and p-values get no interval.
    """
    _check_level(level)
    est, s = float(estimate), float(se)
    if scale in ("statistic", "p-value"):
        return Interval(math.nan, math.nan, "none")
    bounds = SCALE_RANGE.get(scale)
    if method in CI_METHODS:
        if scale != "share":
            raise InputError(f"interval method '{method}' is for shares; use method='t' for a {scale or 'number'}")
        if n is None:
            raise InputError("a proportion interval needs the number of respondents n")
        if 0.0 <= est <= 1.0 or abs(est) < _EPS or abs(est - 1.0) < _EPS:
            return proportion_interval(est, s * s, n, method, level, df, n_rows)
        method = "t"  # an impossible direct share cannot happen; treat it as a moment estimate
    if method != "t":
        raise InputError(f"unknown interval method '{method}'; use t or one of {', '.join(CI_METHODS)}")
    name = "t" if bounds is None else "t-truncated"
    if not (math.isfinite(est) and math.isfinite(s)):  # no standard error: no interval (not an empty one)
        out = bounds is not None and math.isfinite(est) and not (bounds[0] - _EPS <= est <= bounds[1] + _EPS)
        return Interval(math.nan, math.nan, name, out_of_range=out)
    q = quantile(level, df)
    lo, hi = est - q * s, est + q * s
    if bounds is None:
        return Interval(lo, hi, "t")
    a, b = bounds
    out = not (a - _EPS <= est <= b + _EPS)
    lo_c, hi_c = max(lo, a), min(hi, b)
    if not math.isfinite(q):
        return Interval(math.nan, math.nan, "t-truncated", out_of_range=out)
    if lo_c > hi_c:
        if not out:  # an estimate on the bound up to rounding (e.g. -9e-16 ± 2e-16): the bound itself
            edge = min(max(est, a), b)
            return Interval(edge, edge, "t-truncated", out_of_range=False)
        # the whole t interval lies outside the range: no compatible value
        return Interval(math.nan, math.nan, "t-truncated", out_of_range=True, empty=True)
    return Interval(lo_c, hi_c, "t-truncated", out_of_range=out)


def mean_interval(est: float, se: float, level: float = 0.95, df: float | None = None) -> tuple[float, float]:
    """Symmetric interval ``est ± t·se`` for a mean or total (R's ``confint(..., df=)``)."""
    q = quantile(level, df)
    return (est - q * se, est + q * se)


def proportion_interval(
    p: float,
    var: float,
    n: int,
    method: str = "wilson",
    level: float = 0.95,
    df: float | None = None,
    n_rows: int | None = None,
) -> Interval:
    """Interval for a proportion ``p`` with design variance ``var`` from ``n`` respondents.

    ``df`` is the design's degrees of freedom (None = infinite). ``n_rows`` is the sample size in
    Korn & Graubard's ``t_{n-1}`` (default ``n``; R uses the rows of the design object). See the
    module docstring for the methods and the fallbacks at the boundary.
    """
    if method not in CI_METHODS:
        raise InputError(f"unknown interval method '{method}'; use one of {', '.join(CI_METHODS)}")
    _check_level(level)
    q = quantile(level, df)
    # Rounding in weighted sums leaves shares like 1 - 3e-16 and variances like 1e-33 that depend
    # on the order of the rows; snap them, so the boundary and zero-variance rules are order-free.
    if abs(p) < _EPS:
        p = 0.0
    elif abs(1.0 - p) < _EPS:
        p = 1.0
    informative = 0.0 < p < 1.0 and math.isfinite(var) and var > _EPS * p * (1.0 - p)
    fallback = None
    if informative:
        n_eff = p * (1.0 - p) / var
    else:
        n_eff = float(max(n, 1))
        fallback = "boundary" if not 0.0 < p < 1.0 else "zero variance"
    if not informative and method in ("wald", "logit"):
        method_used = "beta"
    else:
        method_used = method
    if method_used == "wald":
        se = math.sqrt(var)
        lo, hi = max(0.0, p - q * se), min(1.0, p + q * se)
    elif method_used == "logit":
        se = math.sqrt(var) / (p * (1.0 - p))
        eta = math.log(p / (1.0 - p))
        lo, hi = _expit(eta - q * se), _expit(eta + q * se)
    elif method_used == "wilson":
        lo, hi = _wilson(p, n_eff, q)
    else:
        lo, hi, n_eff = _korn_graubard(p, n_eff, n if n_rows is None else n_rows, level, df)
    if not math.isfinite(q):  # no degrees of freedom: no interval
        lo, hi = math.nan, math.nan
    return Interval(float(lo), float(hi), method_used, float(n_eff), fallback)


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    lo = 0.0 if p <= 0.0 else max(0.0, centre - half)
    hi = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return lo, hi


def _korn_graubard(p: float, n_eff: float, n: int, level: float, df: float | None) -> tuple[float, float, float]:
    from scipy import stats

    a = (1.0 - level) / 2.0
    if df is not None and math.isfinite(df) and n > 1:
        # Korn & Graubard's degrees-of-freedom adjustment of the effective sample size.
        n_eff = n_eff * (_t_quantile(a, n - 1) / _t_quantile(a, df)) ** 2
    x = n_eff * p
    lo = 0.0 if x <= 0 else float(stats.beta.ppf(a, x, n_eff - x + 1.0))
    hi = 1.0 if n_eff - x <= 0 else float(stats.beta.ppf(1.0 - a, x + 1.0, n_eff - x))
    return lo, hi, n_eff


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
