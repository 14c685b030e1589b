"""Prevalence of a sensitive trait from randomized answers, with design-based standard errors.

The moment estimator π̂ = (λ̂ − a)/b and its linearization are in :mod:`.moments`. Intervals
follow the one rule for shares estimated by moments (:func:`sottovoce.intervals.interval`): t
on the design's degrees of freedom, the part inside [0, 1]. Cutting never removes a value in
[0, 1] from the interval, so the coverage of any true π is that of the t interval (checked by the
Monte Carlo tests), while a logit interval would undercover near 0.

An estimate outside [0, 1] within :data:`~.moments.IMPOSSIBLE_Z` standard errors is sampling
error: it is kept as computed and flagged (``out_of_range``, with a caveat). Farther out the
design was not followed: an error (for a subgroup: that subgroup fails, the others stand)
unless ``truncate=True``, which reports it truncated to [0, 1].
"""

from __future__ import annotations

import warnings
from typing import Any

from .._results import Result
from ..errors import SottovoceWarning
from ..intervals import design_df
from ..io import require_columns
from ..subgroups import estimate_by
from ..survey import Survey, as_survey
from ..validate import check_bool, check_column, check_level
from .designs import RRDesign, make_design
from .gap import rr_gap
from .moments import binary_column, check_range, moment_estimate

__all__ = ["rr_prevalence"]


def rr_prevalence(
    data: Any,
    response: str,
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
    direct: str | None = None,
    truncate: bool = False,
    level: float = 0.95,
) -> Result:
    """Prevalence of a sensitive trait measured by randomized response (or crosswise).

    Parameters
    ----------
    data : DataFrame (with ``weights``/``strata``/``psu`` columns or Series), or a
        :class:`~sottovoce.survey.Survey` (then give no other design argument).
    response : 0/1 column of observed answers (1 = "yes", the red card, or crosswise "same");
        missing answers are left out.
    design : a design object or its name (``warner``, ``forced``, ``unrelated``, ``mirrored``,
        ``disguised``, ``crosswise``) with ``p``, ``p1``, ``p0``, ``q`` as in the CLI.
    by : subgroup column; one result per level under ``groups`` (domain estimation).
    direct : 0/1 column with the same question asked directly; adds ``gap`` (indirect − direct).
    truncate : report an estimate far outside [0, 1] truncated, with a warning, instead of failing.

    Returns a :class:`~sottovoce.Result`; ``details`` hold the design, the observed share of
    "yes" (``yes_share``), the estimate before any truncation (``raw_estimate``) and the privacy
    of each answer at the estimated prevalence.
    """
    check_column(response, "response", allow_none=False)
    check_column(direct, "direct")
    truncate = check_bool(truncate, "truncate")
    check_level(level)
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    svy = as_survey(data, weights, strata, psu)
    df = svy.data
    require_columns(df, [response, by, direct])
    y = binary_column(df, response)

    def fit(s: Survey, where: str) -> Result:
        pi, lam, n, u = moment_estimate(y, s, dsg)
        se = float(s.cov_total(u)[0, 0]) ** 0.5
        est, caveat = check_range(pi, se, dsg, where, truncate)
        details: dict[str, Any] = {
            "yes_share": lam,
            "raw_estimate": pi,
            "privacy": dsg.privacy(min(max(est, 1e-9), 1 - 1e-9)),
        }
        notes: tuple[str, ...] = ()
        if direct is not None:
            g = rr_gap(s, response, direct, dsg, level=level)
            details["gap"] = {"estimate": g.estimate, "se": g.se, "ci": list(g.ci) if g.ci else None, "n": g.n,
                              "ci_method": g.ci_method, "df": g.df, **dict(g.details)}
            lo_hi = f"{100 * g.ci[0]:.1f} to {100 * g.ci[1]:.1f}" if g.ci else "no interval"
            notes = (f"indirect − direct gap: {100 * (g.estimate or 0):.1f} points (se {100 * (g.se or 0):.1f}; "
                     f"{100 * level:g}% CI {lo_hi}; direct {100 * g.details['direct']:.1f}%)",)
        res: Result = Result.from_estimate(
            est, se, scale="share", df=design_df(s, u), level=level, n=n, method=f"rr-{dsg.name}",
            variable=response, details=details, notes=notes, warnings=(caveat,) if caveat else (), where=where,
        )
        if truncate and est != pi:  # reported truncated: the flag says what was computed
            res = res.with_(out_of_range=True)
        return res

    top = fit(svy, f"column '{response}'")
    params = ", ".join(f"{k} = {v:.3g}" for k, v in dsg.params().items())
    top = top.with_(details={**top.details, "design": dsg.describe()},
                    notes=(f"{dsg.name} design ({params}): P(answer coded 1) = {dsg.a:.3g} {'+' if dsg.b >= 0 else '−'} {abs(dsg.b):.3g}·prevalence", *top.notes))
    if by is not None:
        groups, gnotes = estimate_by(svy, by, lambda dom, lev: fit(dom, f"column '{response}'"), min_n=2)
        top = top.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*top.warnings, *gnotes))))
    for w in top.warnings:
        warnings.warn(w, SottovoceWarning, stacklevel=2)
    return top
