"""Quantiles of a survey variable with Woodruff (1952) intervals, as R's ``svyquantile``.

This reproduces the default of ``svyquantile`` in R's survey package 4.x (``qrule = "math"``,
``interval.type = "mean"``; check ``args(survey:::svyquantile.survey.design)``):

* estimate (``qrule_math``): sort the values, accumulate the weights; the ``p`` quantile is the
  smallest value whose cumulative weight share exceeds ``p``, or the value where it equals ``p``
  exactly (the inverse of the weighted empirical distribution function);
* interval (Woodruff 1952, *JASA* 47:635; Lumley 2010, §2.4): estimate the share ``F̂(q̂)`` of
  respondents at or below the quantile with its design-based SE (:meth:`Survey.cov_total`, or the
  replicates), take ``F̂ ± t_df · se`` and map both ends back through the same quantile rule; an
  end below 0 or above 1 has no interval end (NaN, as R). ``df`` is the effective df of ``F̂(q̂)``'s
  linearization values (Satterthwaite over strata, :func:`~sottovoce.intervals.design_df`, issue
  17), one per quantile; with ``df="design"`` PSUs − strata, which is R's;
* standard error: the interval's width over ``2 t_df`` (as R reports it).

Cumulative weights are summed in extended precision, in order, as R's ``cumsum`` and ``sum`` do,
so that ties of the cumulative share with ``p`` fall the same way as in R.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._results import Result
from ._words import count_en, en_form
from .errors import InputError, SottovoceWarning
from .intervals import DegreesOfFreedom, design_df, rounding_variance, small_df_warning
from .intervals import quantile as critical
from .modelframe import one_variable

if TYPE_CHECKING:
    from .survey import Survey

__all__ = ["svyquantile", "weighted_quantile", "quantile_label"]


class _Sorted:
    """Values with positive weight, sorted (stable, as R's ``order``), with R's cumulative sums."""

    def __init__(self, x: np.ndarray, w: np.ndarray) -> None:
        keep = w != 0
        x, w = x[keep], w[keep]
        order = np.argsort(x, kind="stable")
        self.x = x[order]
        cum = np.cumsum(w[order].astype(np.longdouble))  # R's cumsum and sum accumulate in long double
        self.cumw = cum.astype(float)
        self.total = float(cum[-1]) if len(cum) else 0.0

    def math_rule(self, p: float) -> float:
        """R's ``qrule_math``: ``x[pos]`` when the cumulative share equals ``p`` there, else ``x[pos+1]``."""
        n = len(self.x)
        if n == 0:
            return math.nan
        below = np.flatnonzero(self.cumw <= p * self.total)
        pos = int(below[-1]) if below.size else 0  # R's last(): 1 (here 0) when none
        nxt = pos if pos == n - 1 else pos + 1
        wlow = p - self.cumw[pos] / self.total
        return float(self.x[pos] if wlow == 0 else self.x[nxt])


def quantile_label(p: float) -> str:
    """How a quantile is named in tables: ``"median"``, ``"25th percentile"``, ``"2.5th percentile"``.

    One name, not the code and a percentage side by side ("0.25 25%"), and never a bare "25%",
    which beside an estimate reads as a share.
    """
    if p == 0.5:
        return "median"
    pc = 100 * p
    whole = round(pc)
    if abs(pc - whole) > 1e-9:
        return f"{pc:g}th percentile"
    suffix = "th" if 11 <= whole % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")
    return f"{whole}{suffix} percentile"


def weighted_quantile(x: np.ndarray, w: np.ndarray, p: float) -> float:
    """The ``p`` quantile of ``x`` with weights ``w`` by R's ``qrule_math`` (zero weights ignored)."""
    return _Sorted(np.asarray(x, dtype=float), np.asarray(w, dtype=float)).math_rule(p)


def svyquantile(survey: Survey, var: str, quantiles: float | Sequence[float] = 0.5, *, level: float = 0.95,
                df: float | None = None) -> Result:
    """Quantiles of ``var`` with Woodruff intervals (see the module docstring).

    Respondents with a missing value are left out (R's ``na.rm = TRUE``) as a domain. One
    quantile gives one result; several give one child result per quantile in ``categories``.
    """
    name = one_variable(var)
    assert name is not None
    if name not in survey.data.columns:
        from .io import require_columns

        require_columns(survey.data, [name])
    qs = [float(quantiles)] if isinstance(quantiles, (int, float, np.number)) else [float(q) for q in quantiles]
    if not qs or any(not 0 <= q <= 1 for q in qs):
        raise InputError(f"quantiles {qs} must be between 0 and 1 (e.g. 0.5 for the median)")
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must be between 0 and 1 (e.g. 0.95)")
    s = survey.data[name]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise InputError(f"column '{name}' is not numeric; quantiles need numbers")
    present = s.notna().to_numpy()
    dom = survey.domain(present)
    w = dom.weights
    n = int((w > 0).sum())
    if n == 0:
        raise InputError(f"column '{name}' has no answers from respondents with a positive weight")
    x = np.nan_to_num(s.to_numpy(dtype=float))
    srt = _Sorted(x, w)
    design = design_df(dom) if df is None else DegreesOfFreedom(float(df), "given")
    warns: list[str] = []
    if not present.all():
        k = int((~present & (survey.weights > 0)).sum())
        warns.append(f"{count_en(k, 'respondent')} with no answer to '{name}' {en_form(k, 'is', 'are')} left out (a domain)")
    if not design.value > 0:
        warns.append("the design has no degrees of freedom: no interval")
    children = []
    for p in qs:
        qhat = srt.math_rule(p)
        share, se_share, u = _share_at_or_below(dom, survey, x, w, qhat)
        dof = design
        if df is None and u is not None and not rounding_variance(share, se_share, "share"):
            dof = design_df(dom, u)  # the effective df of F̂(q̂), which the interval is for
        q_crit = critical(level, dof.finite) if dof.value > 0 else math.nan
        few = small_df_warning(dof, f"{quantile_label(p)} of '{name}'")
        if few:
            warns.append(few)
        lo_p, hi_p = share - q_crit * se_share, share + q_crit * se_share
        lo = math.nan if not (lo_p >= 0) else srt.math_rule(lo_p)
        hi = math.nan if not (hi_p <= 1) else srt.math_rule(hi_p)
        se = (hi - lo) / (2 * q_crit) if q_crit > 0 else math.nan
        if not (math.isfinite(lo) and math.isfinite(hi)):
            warns.append(f"{p:g} quantile of '{name}': the interval for the share below it leaves [0, 1]; "
                         "one end of the interval is undefined (too few respondents in the tail)")
        # Woodruff's interval is not a symmetric t interval of the estimate, so it is made here
        # (R's svyquantile default), not by the interval rule; an undefined end stays NaN as in R
        children.append(Result(
            estimate=qhat, se=se, ci=(lo, hi), n=n, method="quantile", level_ci=level, variable=name,
            code=p, label=quantile_label(p), ci_method="woodruff", df=dof.finite, df_name=dof.name,
            details={"quantile": p, "share_below": share, "share_below_se": se_share,
                     "qrule": "math", "interval": "woodruff (mean)"},
        ))
    for msg in dict.fromkeys(warns):
        warnings.warn(msg, SottovoceWarning, stacklevel=3)
    if len(children) == 1:
        return children[0].with_(warnings=tuple(dict.fromkeys(warns)))
    # the parent names the design df; each quantile's interval has its own (the children's)
    return Result(n=n, method="quantile", level_ci=level, variable=name, categories=tuple(children),
                  df=design.finite, df_name=design.name, details={"qrule": "math", "interval": "woodruff (mean)"},
                  warnings=tuple(dict.fromkeys(warns)))


def _share_at_or_below(dom: Survey, survey: Survey, x: np.ndarray, w: np.ndarray,
                       q: float) -> tuple[float, float, np.ndarray | None]:
    """``F̂(q)`` in the domain, its design SE (R's ``svymean(x <= q, design)``) and its
    linearization values (None with replicate weights)."""
    ind = (x <= q).astype(float)
    W = w.sum()
    share = float(w @ ind / W)
    if survey.replicates:
        reps = survey.replicate_weights() * dom.domain_mask()[:, None]
        est = (reps.T @ ind) / reps.sum(axis=0)
        var = float(survey.replicate_cov(est[:, None], np.array([share]))[0, 0])
        u = None
    else:
        u = (ind - share) / W
        var = float(dom.cov_total(u)[0, 0])
    return share, math.sqrt(max(var, 0.0)), u
