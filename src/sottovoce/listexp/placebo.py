"""Placebo list experiments (Frye, Gehlbach, Marquardt & Reuter 2023, Journal of Politics).

A third arm gets the control list plus a *placebo* item whose prevalence ``p₀`` is known (often
0: "I have been to Mars"). Its difference in means should equal ``p₀``; Frye et al. found it
below ``p₀`` in Russian surveys ("artificial deflation": merely lengthening the list lowers the
count). We report

* ``placebo`` — the placebo arm's difference in means;
* ``deflation = p₀ − placebo`` (positive: the list deflates);
* ``sensitive`` — the usual difference in means for the sensitive arm;
* ``corrected = sensitive + deflation`` — the deflation-corrected estimate. It assumes that
  adding *any* item lowers the count of the control items by the same amount, so the placebo
  arm measures the artefact the sensitive arm suffers too (additivity, item-independence).

Standard errors use the joint influence values of the three arm means (:meth:`Survey.cov_total`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._results import Result
from ..errors import DesignError
from . import _data
from .dim import dim_influence
from .estimate import _ci

__all__ = ["placebo_list"]


def placebo_list(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    placebo_arm: int = 2,
    sensitive_arm: int = 1,
    placebo_prevalence: float = 0.0,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    level: float = 0.95,
) -> Result:
    """Estimate the deflation revealed by a placebo arm and the deflation-corrected prevalence."""
    d = _data.load(data, count, treat, items, None, weights, strata, psu, multi=True)
    for a, what in ((sensitive_arm, "sensitive"), (placebo_arm, "placebo")):
        if a not in d.arms:
            raise DesignError(f"treatment column '{treat}' has no {what} arm coded {a}; set --placebo-arm / --sensitive-arm")
    w = d.w
    s, us = dim_influence(d.y, d.t == sensitive_arm, d.t == 0, w)
    p, up = dim_influence(d.y, d.t == placebo_arm, d.t == 0, w)
    defl = placebo_prevalence - p
    U = np.stack([us, up, -up, us - up], axis=1)
    V = d.survey.cov_total(U)
    se = np.sqrt(np.maximum(np.diag(V), 0))
    n = int((w > 0).sum())
    vals = [("sensitive", s), ("placebo", p), ("deflation", defl), ("corrected", s + defl)]
    cats = tuple(Result(estimate=float(v), se=float(e), ci=_ci(v, e, level), n=n, method=f"list-placebo-{lab}", label=lab, code=lab, level_ci=level,
                        details={"is_share": True}) for (lab, v), e in zip(vals, se, strict=False))
    z = defl / se[2] if se[2] > 0 else np.nan
    return Result(estimate=float(s + defl), se=float(se[3]), ci=_ci(s + defl, se[3], level), n=n, method="list-placebo", variable=count,
                  level_ci=level, categories=cats, label="corrected",
                  details={"is_share": True, "deflation": float(defl), "deflation_se": float(se[2]), "deflation_z": float(z),
                           "placebo_prevalence": placebo_prevalence,
                           "assumptions": "the correction assumes adding any item lowers the control-item count by the same amount in the placebo and sensitive arms (Frye et al. 2023)"})
