"""List experiment plus a direct question (Aronow, Coppock, Crawford & Green 2015, JSM 3:43–66).

When the same respondents also answer the sensitive question directly (``1`` yes, ``0`` no):

* ``direct`` — the weighted share answering yes;
* ``list`` — the difference in means;
* ``gap = direct − list`` — the social-desirability gap (negative: the direct question
  under-reports); its variance uses the joint influence function of both estimates, so the
  covariance from the same respondents answering both questions is accounted for;
* ``combined`` — Aronow et al.'s estimator under their assumptions (1) treatment independent of
  the direct answer (randomisation), (2) no design effect and no liars in the list, and (3)
  *one-sided lying*: nobody who does not hold the trait says yes directly. Then
  ``π = P(D = 1) + P(D = 0) · τ_{D=0}`` with ``τ_{D=0}`` the difference in means among those who
  said no directly. It is never less precise than the list alone when assumption (3) holds.

All standard errors come from :meth:`Survey.cov_total` (weights, strata, PSUs), overall and by
subgroup (``by``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._results import Result
from ..errors import InputError
from ..intervals import design_dfs
from ..subgroups import estimate_by
from ..survey import Survey
from ..validate import check_column, check_level
from . import _data
from .dim import dim_influence, mean_influence

__all__ = ["list_direct"]


def list_direct(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    direct: str,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    by: str | None = None,
    level: float = 0.95,
) -> Result:
    """Direct vs list estimates, their gap and the combined estimator (binary treatment)."""
    check_level(level)
    check_column(direct, "direct", allow_none=False)
    d = _data.load(data, count, treat, items, None, weights, strata, psu, multi=False, extra=[direct] + ([by] if by else []))
    D = pd.to_numeric(d.frame[direct], errors="coerce").to_numpy(float)
    if np.isnan(D).any():
        raise InputError(f"direct-question column '{direct}' has {int(np.isnan(D).sum())} missing values (first at row {int(np.argmax(np.isnan(D))) + 1}); code refusals as 0 or drop them")
    if not set(np.unique(D)) <= {0.0, 1.0}:
        bad = [v for v in np.unique(D) if v not in (0, 1)][0]
        raise InputError(f"direct-question column '{direct}' has the value {bad:g}; code it 1 (yes) / 0 (no)")
    top = _estimates(d, D, d.survey, level)
    if d.warnings:
        top = top.with_(warnings=tuple(dict.fromkeys((*d.warnings, *top.warnings))))
    if not by:
        return top
    groups, notes = estimate_by(d.survey, by, lambda dom, lev: _estimates(d, D, dom, level), min_n=2)
    return top.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*top.warnings, *notes))))


def _estimates(d: _data.ListData, D: np.ndarray, svy: Survey, level: float) -> Result:
    w = svy.weights
    dom = w > 0
    T, C = (d.t == 1) & dom, (d.t == 0) & dom
    p_d, u_d = mean_influence(D, dom, w)
    tau, u_tau = dim_influence(d.y, T, C, w)
    no = D == 0
    tau0, u_tau0 = dim_influence(d.y, T & no, C & no, w)
    comb = p_d + (1 - p_d) * tau0
    u_comb = (1 - tau0) * u_d + (1 - p_d) * u_tau0
    U = np.stack([u_d, u_tau, u_d - u_tau, u_comb], axis=1)
    V = svy.cov_total(U)
    se = np.sqrt(np.maximum(np.diag(V), 0))
    dofs = design_dfs(svy, U)  # each estimate's own effective df (issue 17)
    n = int(dom.sum())
    names = ["direct", "list", "gap", "combined"]
    scales = ["share", "share", "share-difference", "share"]
    vals = [p_d, tau, p_d - tau, comb]
    cats = tuple(Result.from_estimate(float(v), float(s), scale=sc, df=dof, level=level, n=n, method=f"list-direct-{nm}", label=nm, code=nm,
                                      where=f"{d.count}, {nm}")
                 for nm, sc, v, s, dof in zip(names, scales, vals, se, dofs, strict=True))
    # a row's caveat (an impossible list estimate, few df) is shown with the table, not only in its row's JSON
    warnings = [w for c in cats for w in c.warnings]
    if p_d - tau > 0:
        warnings.append("the direct question gives a higher share than the list experiment: the list may be deflated (see placebo_list) or the direct answers over-report")
    assumptions = "combined estimator assumes no design effect, honest list answers and no false 'yes' to the direct question (Aronow et al. 2015)"
    gap = cats[2]
    res: Result = Result.from_estimate(
        float(comb), float(se[3]), scale="share", df=dofs[3], level=level, n=n, method="list-direct", label="combined",
        variable=d.count, categories=cats,
        details={"direct": float(p_d), "list": float(tau), "gap": float(p_d - tau), "gap_se": float(se[2]),
                 "gap_ci": list(gap.ci) if gap.ci else None,
                 "corr_direct_list": float(V[0, 1] / np.sqrt(V[0, 0] * V[1, 1])) if V[0, 0] * V[1, 1] > 0 else None,
                 "assumptions": assumptions},
        notes=(f"assumptions: {assumptions}",),
        warnings=tuple(warnings),
    )
    return res.with_(warnings=tuple(dict.fromkeys(res.warnings)))  # the combined row's caveat is the result's own
