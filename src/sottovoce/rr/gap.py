"""The gap between the indirect (randomized-response) and the direct estimate of a trait.

When the study also asked the question directly — of the same respondents, or of a split
sample — the gap π̂_rr − π̂_direct estimates how many hide the trait when asked outright
(the "sensitivity bias" of Blair, Coppock & Moor 2020, APSR 114:1297-1315). Both estimates are
weighted means over their own respondents, so the gap's linearization is the difference of the
two influence functions,
    uᵢ = 1[answered rr]·(yᵢ − λ̂)/(b·W_rr) − 1[answered direct]·(dᵢ − d̂)/W_direct,
and :meth:`Survey.cov_total` gives its design variance, including the covariance of the two
answers of one respondent (same sample) or of one PSU (split sample). The interval is the one
rule for a difference of shares (:func:`sottovoce.intervals.interval`): t on the design's
degrees of freedom, within [−1, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._results import Result
from ..intervals import design_df
from ..io import require_columns
from ..subgroups import estimate_by
from ..survey import Survey, as_survey
from ..validate import check_level
from .designs import RRDesign, make_design
from .moments import DirectDesign, binary_column, moment_estimate

__all__ = ["rr_gap"]


def rr_gap(
    data: Any,
    response: str,
    direct: str,
    design: str | RRDesign,
    *,
    p: float | None = None,
    p1: float | None = None,
    p0: float | None = None,
    q: float | None = None,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    by: str | None = None,
    level: float = 0.95,
) -> Result:
    """Indirect minus direct prevalence, with its design-based SE, overall and by subgroup.

    ``response`` holds the randomized answers and ``direct`` the direct ones (0/1; a respondent
    missing one of them simply does not count for that estimate). The result's ``details``
    give both estimates (``indirect``, ``direct``) and their standard errors.
    """
    check_level(level)
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    svy = as_survey(data, weights, strata, psu)
    df = svy.data
    require_columns(df, [response, direct, by])
    y = binary_column(df, response)
    d = binary_column(df, direct, what="direct-question")

    def fit(s: Survey) -> Result:
        return _gap(y, d, s, dsg, response, direct, level)

    top = fit(svy)
    if by is None:
        return top
    groups, notes = estimate_by(svy, by, lambda dom, lev: fit(dom), min_n=2)
    return top.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*top.warnings, *notes))))


def _gap(y: np.ndarray, d: np.ndarray, svy: Survey, dsg: RRDesign, response: str, direct: str, level: float) -> Result:
    pi, _, n_rr, u_rr = moment_estimate(y, svy, dsg)
    dhat, _, n_d, u_d = moment_estimate(d, svy, DirectDesign())
    cov = svy.cov_total(np.column_stack([u_rr, u_d]))
    var_rr, var_d, cov_rd = cov[0, 0], cov[1, 1], cov[0, 1]
    se = float(np.sqrt(max(var_rr + var_d - 2 * cov_rd, 0.0)))
    return Result.from_estimate(
        float(pi - dhat), se, scale="share-difference", df=design_df(svy, u_rr - u_d), level=level,
        n=int(max(n_rr, n_d)), method=f"rr-{dsg.name}-gap", variable=response,
        details={
            "indirect": float(pi),
            "indirect_se": float(np.sqrt(max(var_rr, 0))),
            "direct": float(dhat),
            "direct_se": float(np.sqrt(max(var_d, 0))),
            "n_indirect": int(n_rr),
            "n_direct": int(n_d),
            "direct_variable": direct,
        },
    )
