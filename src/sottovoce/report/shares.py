"""What of an estimate may be shown: publishable, possible, and with an interval inside its range.

Every presentation layer (the headline, the report's tables and charts, the terminal tables and
``results.csv``) reads estimates through these helpers, so they all follow one rule:

* an estimate from fewer than ``min_cell`` respondents is not shown (:mod:`sottovoce.disclosure`);
* a share's interval is shown inside [0, 1] and a difference of shares inside [−1, 1] (no share
  can lie outside; intersecting a confidence interval with the parameter space keeps its
  coverage, because the true value is always inside);
* a point estimate outside [0, 1] — possible for moment estimators of list experiments and
  randomized response in small samples — is flagged as impossible and never stated as a finding.
  The estimator's own ``out_of_range`` flag is used when the result has one; otherwise the point
  is checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..disclosure import is_small

__all__ = ["SHARE", "DIFFERENCE", "publishable_estimate", "has_interval", "out_of_range", "shown_ci", "failed", "failure_reason"]

SHARE = (0.0, 1.0)
DIFFERENCE = (-1.0, 1.0)


def failed(r: Mapping[str, Any] | None) -> bool:
    """An estimate the estimator could not produce (a failed question or subgroup): the result
    contract's ``failed`` (the reason), or the pipeline's ``status = "failed"``."""
    return bool(r) and (r.get("status") == "failed" or bool(r.get("failed")))  # type: ignore[union-attr]


def failure_reason(r: Mapping[str, Any]) -> str | None:
    """Why an estimate failed, as the estimator said it (``None`` when withheld or unknown)."""
    reason = r.get("message") or r.get("failed")
    return str(reason) if reason and not r.get("message_withheld") else None


def publishable_estimate(r: Mapping[str, Any] | None, min_cell: int) -> bool:
    """Computed, not suppressed and from at least ``min_cell`` respondents. Its interval may be
    missing: the result contract gives none when the whole interval lies outside the range."""
    return (r is not None and not r.get("suppressed") and r.get("estimate") is not None
            and not is_small(r, min_cell))


def has_interval(r: Mapping[str, Any] | None) -> bool:
    ci = (r or {}).get("ci")
    return ci is not None and ci[0] is not None and ci[1] is not None


def out_of_range(r: Mapping[str, Any] | None, bounds: tuple[float, float] = SHARE) -> bool:
    """The point estimate lies outside the values the quantity can take (flagged, never a finding)."""
    if not r or r.get("estimate") is None:
        return False
    flag = r.get("out_of_range")
    if flag is not None:
        return bool(flag)
    est = float(r["estimate"])
    return not bounds[0] <= est <= bounds[1]


def shown_ci(r: Mapping[str, Any], bounds: tuple[float, float] = SHARE) -> tuple[float, float]:
    """The interval as published: intersected with the range of the quantity."""
    lo, hi = r["ci"]
    lo_b, hi_b = bounds
    return min(max(float(lo), lo_b), hi_b), max(min(float(hi), hi_b), lo_b)
