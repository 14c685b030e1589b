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
from ..errors import DesignError, InputError
from ..intervals import design_dfs
from ..validate import check_level, check_probability
from . import _data
from .dim import dim_influence

__all__ = ["placebo_list"]


def placebo_list(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    placebo_arm: int = 2,
    sensitive_arm: int = 1,
    placebo_prevalence: float = 0.0,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    level: float = 0.95,
) -> Result:
    """Estimate the deflation revealed by a placebo arm and the deflation-corrected prevalence.

    ``treat`` is 0 (control), ``sensitive_arm`` and ``placebo_arm`` (codes; default 1 and 2):
    the arms are named by this call, so three values need no ``arms=``.
    """
    check_level(level)
    placebo_prevalence = float(check_probability(placebo_prevalence, "placebo_prevalence") or 0.0)
    if len({0, sensitive_arm, placebo_arm}) != 3:
        raise InputError(f"sensitive_arm={sensitive_arm!r} and placebo_arm={placebo_arm!r} must be two different codes other than 0 (the control)")
    # this call names the three arms: after loading, 1 is the sensitive arm and 2 the placebo arm
    names = {0: "control", sensitive_arm: "sensitive", placebo_arm: "placebo"}
    try:
        d = _data.load(data, count, treat, items, None, weights, strata, psu, multi=True, arms=names)
    except DesignError as exc:
        raise DesignError(f"{exc}; set placebo_arm= / sensitive_arm= to the codes of those arms") from None
    sensitive_arm, placebo_arm = 1, 2
    w = d.w
    s, us = dim_influence(d.y, d.t == sensitive_arm, d.t == 0, w)
    p, up = dim_influence(d.y, d.t == placebo_arm, d.t == 0, w)
    defl = placebo_prevalence - p
    U = np.stack([us, up, -up, us - up], axis=1)
    V = d.survey.cov_total(U)
    se = np.sqrt(np.maximum(np.diag(V), 0))
    n = int((w > 0).sum())
    dofs = design_dfs(d.survey, U)  # each estimate's own effective df (issue 17)
    vals = [("sensitive", s, "share"), ("placebo", p, "share"), ("deflation", defl, "share-difference"), ("corrected", s + defl, "share")]
    cats = tuple(Result.from_estimate(float(v), float(e), scale=scale, df=dof, level=level, n=n, method=f"list-placebo-{lab}", label=lab, code=lab)
                 for (lab, v, scale), e, dof in zip(vals, se, dofs, strict=True))
    z = defl / se[2] if se[2] > 0 else np.nan
    assumptions = ("the correction assumes adding any item lowers the control-item count by the same amount in the placebo and "
                   "sensitive arms (Frye et al. 2023)")
    res: Result = Result.from_estimate(
        float(s + defl), float(se[3]), scale="share", df=dofs[3], level=level, n=n, method="list-placebo", variable=count,
        categories=cats, label="corrected",
        details={"deflation": float(defl), "deflation_se": float(se[2]), "deflation_z": float(z),
                 "placebo_prevalence": placebo_prevalence, "assumptions": assumptions},
        notes=(f"deflation (placebo prevalence {100 * placebo_prevalence:g}% − placebo arm): {100 * defl:.1f} points "
               f"(se {100 * se[2]:.1f}, z = {z:.2f})", f"assumptions: {assumptions}"),
        warnings=tuple(d.warnings),
    )
    return res

