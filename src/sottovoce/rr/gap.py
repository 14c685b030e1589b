"""The gap between the indirect (randomized-response) and the direct estimate of a trait.

When the study also asked the question directly — of the same respondents, or of a split
sample — the gap π̂_rr − π̂_direct estimates how many hide the trait when asked outright
(the "sensitivity bias" of Blair, Coppock & Moor 2020, APSR 114:1297-1315). Both estimates are
weighted means over their own respondents, so the gap's linearization is the difference of the
two influence functions,
    uᵢ = 1[answered rr]·(yᵢ − λ̂)/(b·W_rr) − 1[answered direct]·(dᵢ − d̂)/W_direct,
and :meth:`Survey.cov_total` gives its design variance, including the covariance of the two
answers of one respondent (same sample) or of one PSU (split sample).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._results import Result
from ..io import require_columns
from .designs import RRDesign, make_design
from .prevalence import _plain, binary_column, group_codes, moment_estimates, survey_of, z_value

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
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    by: str | None = None,
    level: float = 0.95,
) -> Result:
    """Indirect minus direct prevalence, with its design-based SE, overall and by subgroup.

    ``response`` holds the randomized answers and ``direct`` the direct ones (0/1; a respondent
    missing one of them simply does not count for that estimate). The result's ``details``
    give both estimates (``indirect``, ``direct``) and their standard errors.
    """
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    df, svy = survey_of(data, weights, strata, psu)
    require_columns(df, [response, direct, by])
    y = binary_column(df, response)
    d = binary_column(df, direct, what="direct-question")
    z = z_value(level)
    codes, groups = group_codes(df, by)
    k = 1 + len(groups)
    pi, _, _, n_rr, u_rr = moment_estimates(y, codes, len(groups), svy, dsg, with_cov=False)
    # The direct question is the trivial design a = 0, b = 1.
    direct_design = _Direct()
    dhat, _, _, n_d, u_d = moment_estimates(d, codes, len(groups), svy, direct_design, with_cov=False)
    cov = svy.cov_total(np.asfortranarray(np.hstack([u_rr, u_d])))
    var_rr = np.diag(cov)[:k]
    var_d = np.diag(cov)[k:]
    cov_rd = np.diag(cov[:k, k:])
    gap = pi - dhat
    se = np.sqrt(np.clip(var_rr + var_d - 2 * cov_rd, 0, None))
    results = []
    for j in range(k):
        kw: dict[str, Any] = {}
        if j:
            kw = {"by": by, "level": _plain(groups[j - 1][0]), "label": groups[j - 1][1]}
        results.append(
            Result(
                estimate=float(gap[j]),
                se=float(se[j]),
                ci=(float(gap[j] - z * se[j]), float(gap[j] + z * se[j])),
                n=int(max(n_rr[j], n_d[j])),
                method=f"rr-{dsg.name}-gap",
                level_ci=level,
                variable=response,
                details={
                    "is_share": True,
                    "indirect": float(pi[j]),
                    "indirect_se": float(np.sqrt(max(var_rr[j], 0))),
                    "direct": float(dhat[j]),
                    "direct_se": float(np.sqrt(max(var_d[j], 0))),
                    "n_indirect": int(n_rr[j]),
                    "n_direct": int(n_d[j]),
                    "direct_variable": direct,
                },
                **kw,
            )
        )
    return results[0].with_(groups=tuple(results[1:])) if groups else results[0]


class _Direct(RRDesign):
    """A direct question seen as a degenerate design: P(yes) = π."""

    @property
    def a(self) -> float:
        return 0.0

    @property
    def b(self) -> float:
        return 1.0
