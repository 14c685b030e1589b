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
from ..io import category_label
from . import _data
from .dim import dim_influence, mean_influence
from .estimate import _ci

__all__ = ["list_direct"]


def list_direct(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    direct: str,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    by: str | None = None,
    level: float = 0.95,
) -> Result:
    """Direct vs list estimates, their gap and the combined estimator (binary treatment)."""
    d = _data.load(data, count, treat, items, None, weights, strata, psu, multi=False, extra=[direct] + ([by] if by else []))
    D = pd.to_numeric(d.frame[direct], errors="coerce").to_numpy(float)
    if np.isnan(D).any():
        raise InputError(f"direct-question column '{direct}' has {int(np.isnan(D).sum())} missing values (first at row {int(np.argmax(np.isnan(D))) + 1}); code refusals as 0 or drop them")
    if not set(np.unique(D)) <= {0.0, 1.0}:
        bad = [v for v in np.unique(D) if v not in (0, 1)][0]
        raise InputError(f"direct-question column '{direct}' has the value {bad:g}; code it 1 (yes) / 0 (no)")
    top = _estimates(d, D, np.ones(len(D), dtype=bool), level)
    groups = []
    if by:
        col = d.frame[by].to_numpy()
        for lev in sorted(pd.unique(col), key=lambda v: (str(type(v)), v)):
            g = _estimates(d, D, col == lev, level)
            groups.append(g.with_(by=by, level=lev, label=category_label(d.frame, by, lev)))
    return top.with_(groups=tuple(groups))


def _estimates(d: _data.ListData, D: np.ndarray, dom: np.ndarray, level: float) -> Result:
    w = np.where(dom, d.w, 0.0)
    T, C = (d.t == 1) & dom, (d.t == 0) & dom
    p_d, u_d = mean_influence(D, dom, w)
    tau, u_tau = dim_influence(d.y, T, C, w)
    no = D == 0
    tau0, u_tau0 = dim_influence(d.y, T & no, C & no, w)
    comb = p_d + (1 - p_d) * tau0
    u_comb = (1 - tau0) * u_d + (1 - p_d) * u_tau0
    U = np.stack([u_d, u_tau, u_d - u_tau, u_comb], axis=1)
    V = d.survey.cov_total(U)
    se = np.sqrt(np.maximum(np.diag(V), 0))
    names = ["direct", "list", "gap", "combined"]
    vals = [p_d, tau, p_d - tau, comb]
    cats = tuple(Result(estimate=float(v), se=float(s), ci=_ci(v, s, level), n=int((w > 0).sum()), method=f"list-direct-{nm}", label=nm, code=nm,
                        level_ci=level, details={"is_share": True}) for nm, v, s in zip(names, vals, se, strict=False))
    warnings = []
    if p_d - tau > 0:
        warnings.append("the direct question gives a higher share than the list experiment: the list may be deflated (see placebo_list) or the direct answers over-report")
    return Result(estimate=float(comb), se=float(se[3]), ci=_ci(comb, se[3], level), n=int((w > 0).sum()), method="list-direct", label="combined",
                  variable=d.count, level_ci=level, categories=cats,
                  details={"is_share": True, "direct": float(p_d), "list": float(tau), "gap": float(p_d - tau), "gap_se": float(se[2]),
                           "gap_ci": list(_ci(p_d - tau, se[2], level)), "corr_direct_list": float(V[0, 1] / np.sqrt(V[0, 0] * V[1, 1])) if V[0, 0] * V[1, 1] > 0 else None,
                           "assumptions": "combined estimator assumes no design effect, honest list answers and no false 'yes' to the direct question (Aronow et al. 2015)"},
                  warnings=tuple(warnings))
