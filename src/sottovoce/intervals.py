"""Confidence intervals for proportions estimated from complex samples.

Each method takes the design-based point estimate ``p`` and its variance and returns an interval
on [0, 1]. Quantiles are Student-t with the design's degrees of freedom (PSUs minus strata), as R's
``survey::svyciprop`` does; ``df=inf`` gives the normal quantiles.

- ``wald``   p ± t·se (R's ``svyciprop(method="mean")``), clipped to [0, 1].
- ``logit``  interval for logit(p) with se/(p(1-p)), back-transformed (R's default ``"logit"``).
- ``wilson`` Wilson's (1927) score interval with the *effective* sample size
  ``n_eff = p(1-p)/var`` (Kish 1965; Kott & Carr 1997, Dean & Pagano 2015).
- ``beta``   Korn & Graubard (1998, *Survey Methodology* 24:193) Clopper–Pearson interval with
  ``n_eff`` corrected by ``(t_{n-1}/t_df)^2`` (R's ``"beta"``).

At ``p`` equal to 0 or 1, or with zero estimated variance (a domain inside a single PSU), the
design variance carries no information; the effective sample size falls back to the number of
respondents, and ``wald``/``logit`` (which would give a zero-width or infinite interval) fall
back to Korn–Graubard. The caller is told through ``Interval.fallback`` so it can warn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .errors import InputError

__all__ = ["CI_METHODS", "Interval", "proportion_interval", "mean_interval", "quantile"]

CI_METHODS = ("wilson", "logit", "beta", "wald")


@dataclass(frozen=True)
class Interval:
    """An interval with the effective sample size it used and why it fell back, if it did."""

    low: float
    high: float
    method: str
    n_eff: float
    fallback: str | None = None


def quantile(level: float, df: float | None) -> float:
    """Two-sided critical value: t with ``df`` degrees of freedom, normal when df is None/inf."""
    _check_level(level)
    a = (1.0 - level) / 2.0
    if df is None or not math.isfinite(df):
        return float(stats.norm.isf(a))
    if df <= 0:
        return math.nan
    return float(stats.t.isf(a, df))


_EPS = 1e-12  # shares this close to 0 or 1, or effective sizes beyond 1e12, are taken as exact


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
    a = (1.0 - level) / 2.0
    if df is not None and math.isfinite(df) and n > 1:
        # Korn & Graubard's degrees-of-freedom adjustment of the effective sample size.
        n_eff = n_eff * (stats.t.ppf(a, n - 1) / stats.t.ppf(a, df)) ** 2
    x = n_eff * p
    lo = 0.0 if x <= 0 else float(stats.beta.ppf(a, x, n_eff - x + 1.0))
    hi = 1.0 if n_eff - x <= 0 else float(stats.beta.ppf(1.0 - a, x + 1.0, n_eff - x))
    return lo, hi, n_eff


def _expit(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level {level} must be between 0 and 1 (e.g. 0.95)")
