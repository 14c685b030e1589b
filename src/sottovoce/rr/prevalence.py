"""Prevalence of a sensitive trait from randomized answers, with design-based standard errors.

With λ̂ = Σ wᵢyᵢ / Σ wᵢ the weighted share of answers coded 1, the moment estimator is
π̂ = (λ̂ − a)/b (Warner 1965; Greenberg et al. 1969; Blair, Imai & Zhou 2015, §2). Its
linearization is π̂ − π ≈ Σ wᵢ uᵢ with uᵢ = (yᵢ − λ̂)/(b·W), W = Σ wᵢ, so the design variance
(strata, PSUs, calibration) comes from :meth:`sottovoce.survey.Survey.cov_total` (Lumley 2010,
§2.4). A subgroup is a domain: its uᵢ are zero outside the group and the full design is kept.

Intervals: the Wald interval π̂ ± z·se clipped to [0, 1]. Clipping never removes a value in
[0, 1] from the interval, so coverage of any true π in [0, 1] is exactly that of the Wald
interval (checked by the Monte Carlo tests), while a logit interval would undercover near 0.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from .._results import Result
from ..errors import DesignError, InputError, SottovoceWarning
from ..io import as_frame, category_label, require_columns
from ..survey import Survey
from .designs import RRDesign, make_design

__all__ = ["rr_prevalence"]

#: how many standard errors outside [0, 1] an estimate may fall before the design is deemed broken
IMPOSSIBLE_Z = 3.0


def binary_column(df: pd.DataFrame, column: str, what: str = "response") -> np.ndarray:
    """A 0/1 column as floats with NaN for missing; any other value is an error naming it."""
    raw = df[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        y = raw.to_numpy(dtype=float, na_value=np.nan)
        bad_np = np.isfinite(y) & (y != 0) & (y != 1) | np.isinf(y)
        if not bad_np.any():
            if not np.isfinite(y).any():
                raise InputError(f"{what} column '{column}' has no answers (all missing)")
            return y
    num = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & ~num.isin([0, 1])
    if bad.any():
        values = pd.unique(raw[bad].astype(str))[:5]
        raise InputError(
            f"{what} column '{column}' must be coded 0/1 (1 = the answer 'yes'/'same'), but has "
            f"{int(bad.sum())} other values: {', '.join(values)}; recode them (or set them missing)"
        )
    y = num.to_numpy(dtype=float)
    if not np.isfinite(y).any():
        raise InputError(f"{what} column '{column}' has no answers (all missing)")
    return y


def survey_of(
    data: Any, weights: str | None, strata: str | None, psu: str | None
) -> tuple[pd.DataFrame, Survey]:
    """Accept a DataFrame (plus design columns) or a ready :class:`Survey`."""
    if isinstance(data, Survey):
        return data.data, data
    df = as_frame(data)
    return df, Survey(df, weights=weights, strata=strata, psu=psu)


def group_codes(df: pd.DataFrame, by: str | None) -> tuple[np.ndarray | None, list[tuple[Any, Any]]]:
    """Level index of each row (−1 for a missing level) and (code, label) per level, sorted."""
    if by is None:
        return None, []
    require_columns(df, [by])
    codes, levels = pd.factorize(df[by], sort=True)
    return codes, [(lvl, category_label(df, by, lvl)) for lvl in levels]


@lru_cache(maxsize=16)
def z_value(level: float) -> float:
    """Normal quantile for a two-sided interval at ``level``."""
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must be between 0 and 1")
    return float(norm.ppf(0.5 + level / 2))


def moment_estimates(
    y: np.ndarray, codes: np.ndarray | None, n_groups: int, svy: Survey, design: RRDesign, with_cov: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """π̂, its covariance, λ̂, unweighted n and influence values: overall, then per group.

    ``codes`` gives each row's group (−1: in no group). Respondents are collapsed to group
    totals with ``bincount``; each row's influence value is written once, in its own column.
    """
    w = svy.weights
    ok = np.isfinite(y)
    y0 = np.where(ok, y, 0.0)
    wo = np.where(ok, w, 0.0)
    k = 1 + n_groups
    # column 0 is everybody; column 1 + g is group g
    W = np.empty(k)
    S = np.empty(k)
    n = np.empty(k, dtype=np.int64)
    W[0], S[0], n[0] = wo.sum(), wo @ y0, int((ok & (w > 0)).sum())
    if n_groups:
        assert codes is not None
        ing = codes >= 0
        W[1:] = np.bincount(codes[ing], weights=wo[ing], minlength=n_groups)
        S[1:] = np.bincount(codes[ing], weights=(wo * y0)[ing], minlength=n_groups)
        n[1:] = np.bincount(codes[ing & ok & (w > 0)], minlength=n_groups)
    if (W <= 0).any():
        raise InputError("a group has no respondents with a positive weight and an answer")
    lam = S / W
    pi = (lam - design.a) / design.b
    u = np.zeros((len(y), k), order="F")  # column-major: the design sums one column at a time
    u[:, 0] = ok * (y0 - lam[0]) / (design.b * W[0])
    for g in range(n_groups):  # one contiguous column per group (a loop over groups, not rows)
        assert codes is not None
        u[:, 1 + g] = np.where(ok & (codes == g), (y0 - lam[1 + g]) / (design.b * W[1 + g]), 0.0)
    return pi, (svy.cov_total(u) if with_cov else None), lam, n, u


def check_range(pi: float, se: float, design: RRDesign, where: str, truncate: bool) -> tuple[float, str | None]:
    """Clip an estimate to [0, 1]; an estimate far outside means the design was not followed."""
    if 0.0 <= pi <= 1.0:
        return pi, None
    clipped = min(max(pi, 0.0), 1.0)
    far = (pi < -IMPOSSIBLE_Z * se) or (pi > 1 + IMPOSSIBLE_Z * se) or se == 0
    msg = (
        f"{where}: the share of answers coded 1 implies a prevalence of {pi:.3f} (se {se:.3f}) under the "
        f"{design.name} design {design.params()}"
    )
    if far and not truncate:
        raise DesignError(
            msg + f", more than {IMPOSSIBLE_Z:g} standard errors outside [0, 1]: the design was probably not "
            "followed (check the design probabilities and the 0/1 coding); pass --truncate to report it truncated"
        )
    return clipped, msg + f"; reported as {clipped:g}"


def rr_prevalence(
    data: Any,
    response: str,
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
    direct: str | None = None,
    truncate: bool = False,
    level: float = 0.95,
) -> Result:
    """Prevalence of a sensitive trait measured by randomized response (or crosswise).

    Parameters
    ----------
    data : DataFrame, or a :class:`~sottovoce.survey.Survey` (then ``weights/strata/psu`` are ignored).
    response : 0/1 column of observed answers (1 = "yes", the red card, or crosswise "same");
        missing answers are left out.
    design : a design object or its name (``warner``, ``forced``, ``unrelated``, ``mirrored``,
        ``disguised``, ``crosswise``) with ``p``, ``p1``, ``p0``, ``q`` as in the CLI.
    by : subgroup column; one result per level under ``groups`` (domain estimation).
    direct : 0/1 column with the same question asked directly; adds ``gap`` (indirect − direct).
    truncate : report an estimate far outside [0, 1] truncated, with a warning, instead of failing.

    Returns a :class:`~sottovoce.Result`; ``details`` hold the design, the observed share of
    "yes" (``yes_share``) and the privacy of each answer at the estimated prevalence.
    """
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    df, svy = survey_of(data, weights, strata, psu)
    require_columns(df, [response, by, direct])
    y = binary_column(df, response)
    z = z_value(level)
    codes, groups = group_codes(df, by)
    pi, cov, lam, n, _ = moment_estimates(y, codes, len(groups), svy, dsg)
    assert cov is not None
    se = np.sqrt(np.clip(np.diag(cov), 0, None))

    gaps: list[Result | None] = [None] * (1 + len(groups))
    if direct is not None:
        from .gap import rr_gap

        g = rr_gap(svy, response, direct, dsg, by=by, level=level)
        gaps = [g, *g.groups]

    results = []
    for j in range(1 + len(groups)):
        where = f"column '{response}'" + (f", {by} = {groups[j - 1][0]}" if j else "")
        est, warn = check_range(float(pi[j]), float(se[j]), dsg, where, truncate)
        warns: tuple[str, ...] = ()
        if warn:
            warnings.warn(warn, SottovoceWarning, stacklevel=2)
            warns = (warn,)
        details: dict[str, Any] = {
            "is_share": True,
            "yes_share": float(lam[j]),
            "raw_estimate": float(pi[j]),
            "privacy": dsg.privacy(min(max(est, 1e-9), 1 - 1e-9)),
        }
        gap_j = gaps[j]
        if gap_j is not None:
            details["gap"] = _gap_dict(gap_j)
        kw: dict[str, Any] = {}
        if j:
            kw = {"by": by, "level": _plain(groups[j - 1][0]), "label": groups[j - 1][1]}
        else:
            details["design"] = dsg.describe()
        results.append(
            Result(
                estimate=est,
                se=float(se[j]),
                ci=(float(max(0.0, est - z * se[j])), float(min(1.0, est + z * se[j]))),
                n=int(n[j]),
                method=f"rr-{dsg.name}",
                level_ci=level,
                variable=response,
                details=details,
                warnings=warns,
                **kw,
            )
        )
    top = results[0]
    if groups:
        top = top.with_(groups=tuple(results[1:]), warnings=tuple(w for r in results for w in r.warnings))
    return top


def _gap_dict(g: Result) -> dict[str, Any]:
    return {"estimate": g.estimate, "se": g.se, "ci": list(g.ci) if g.ci else None, "n": g.n, **dict(g.details)}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value

