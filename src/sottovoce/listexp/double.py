"""Double list experiments (Droitcour et al. 1991; Glynn 2013, POQ 77:159–172).

Every respondent answers two control lists, A and B; one random half sees the sensitive item on
list A, the other on list B. Each list is a list experiment whose control group is the other half,
so ``τ_A = Ȳ_A(sensitive on A) − Ȳ_A(sensitive on B)`` and ``τ_B`` likewise; the double-list
estimate is their average. Its variance comes from the joint influence values of both differences
(the same respondents answer both lists, which is what makes the design more precise when the
two lists' control counts are positively correlated) through :meth:`Survey.cov_total`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._results import Result
from ..intervals import design_dfs, quantile
from ..validate import check_level
from . import _data
from .dim import dim_influence

__all__ = ["double_list"]


def double_list(
    data: Any,
    count_a: str,
    count_b: str,
    sensitive_on: str,
    items_a: int | None,
    items_b: int | None = None,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    level: float = 0.95,
) -> Result:
    """Combine the two list experiments of a double list design.

    ``sensitive_on`` is 1 where the sensitive item was on list A, 0 where it was on list B.
    """
    check_level(level)
    items_b = items_a if items_b is None else items_b
    da = _data.load(data, count_a, sensitive_on, items_a, None, weights, strata, psu, multi=False, extra=[count_b])
    # list B: its treatment group is where the sensitive item was on B
    frame = da.frame.copy()
    flip = "__sensitive_on_b__"
    frame[flip] = 1 - da.t
    db = _data.load(frame, count_b, flip, items_b, None, multi=False)  # only its counts and arms are used
    w = da.w
    ta, ua = dim_influence(da.y, da.t == 1, da.t == 0, w)
    tb, ub = dim_influence(db.y, db.t == 1, db.t == 0, w)
    U = np.stack([ua, ub, (ua + ub) / 2, ua - ub], axis=1)
    V = da.survey.cov_total(U)
    se = np.sqrt(np.maximum(np.diag(V), 0))
    est = (ta + tb) / 2
    n = int((w > 0).sum())
    # each estimate's own effective df (issue 17): lists A, B, their average, their difference
    dofs = design_dfs(da.survey, U)
    cats = tuple(Result.from_estimate(v, float(s), scale="share", df=dof, level=level, n=n, method="list-dim", label=lab, code=lab)
                 for lab, v, s, dof in (("list A", ta, se[0], dofs[0]), ("list B", tb, se[1], dofs[1])))
    warnings = list(da.warnings)
    se_diff = float(np.sqrt(max(V[0, 0] + V[1, 1] - 2 * V[0, 1], 0)))
    if abs(ta - tb) > quantile(level, dofs[3].finite) * se_diff:
        warnings.append("the two lists give significantly different estimates: a design effect in one list is likely")
    corr = float(V[0, 1] / np.sqrt(V[0, 0] * V[1, 1])) if V[0, 0] * V[1, 1] > 0 else None
    res: Result = Result.from_estimate(
        float(est), float(se[2]), scale="share", df=dofs[2], level=level, n=n, method="list-double", variable=f"{count_a}+{count_b}",
        categories=cats, details={"corr_lists": corr, "difference": float(ta - tb), "difference_se": se_diff},
        notes=(f"list A − list B: {100 * (ta - tb):.1f} points (se {100 * se_diff:.1f}); correlation of the two lists' estimates "
               f"{'–' if corr is None else f'{corr:.3f}'}",),
        warnings=tuple(warnings),
    )
    return res
