"""Means of several variables and domains with their joint covariance, and contrasts of them.

R users write ``svycontrast(svyby(~support, ~sex, design, svymean, covmat = TRUE), c(1, -1))``
for "men minus women" with its standard error, or ``svycontrast(svymean(~w2 + w1, design),
c(1, -1))`` for a change between two answers of the same respondents. Here
``svy.means("support", by="sex").contrast({"male": 1, "female": -1})`` and
``svy.means("~w2 + w1").contrast({"w2": 1, "w1": -1})``.

Means of 0/1 variables are shares (intervals t, cut to [0, 1], as every moment of shares here),
other means numbers. Each mean and each contrast takes the effective df of its own influence
values (Satterthwaite over strata, counting the PSUs that hold its domains; ``df="design"``: PSUs
− strata, as R), through :class:`~sottovoce.estimates.Linearization`. Each domain mean ``ȳ_d = Σ_d w y / Σ_d w`` has influence values ``(y_i − ȳ_d) 1[i ∈ d] / W_d``;
stacking them for every (variable, domain) pair and passing them to :meth:`Survey.cov_total` once
gives the whole covariance matrix, covariances between domains sharing PSUs included (Lumley
2010, §3.5). With replicate weights each domain mean is recomputed per replicate instead.
Respondents missing a variable are left out of that variable's means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import InputError
from .estimates import Estimates, Linearization
from .intervals import design_df
from .io import require_columns, value_labels
from .modelframe import one_variable, variables

if TYPE_CHECKING:
    from .survey import Survey

__all__ = ["domain_means", "contrast"]


def domain_means(survey: Survey, vars_: str | Sequence[str], by: str | None = None, *, level: float = 0.95) -> Estimates:
    """Weighted means of ``vars_`` (a name, ``"~a + b"`` or a list), per level of ``by`` if
    given, with their joint design covariance (see the module docstring).

    Names of the estimates: the variable (no ``by``), the level of ``by`` (one variable), or
    ``variable:level``.
    """
    names = variables(vars_) if isinstance(vars_, str) else [str(v) for v in vars_]
    by = one_variable(by)
    require_columns(survey.data, [*names, by])
    df = survey.data
    w_all = survey.weights
    if by is not None:
        codes, levels = pd.factorize(df[by], sort=True)
        labels = value_labels(df, by)
        domains = [(str(labels.get(_clean(lev), _clean(lev))), codes == j) for j, lev in enumerate(levels)]
    else:
        domains = [("", np.ones(len(df), dtype=bool))]
    terms, cols, masks = [], [], []
    for v in names:
        s = df[v]
        if not pd.api.types.is_numeric_dtype(s):
            raise InputError(f"column '{v}' is not numeric; means need numbers (code categories as 0/1 columns)")
        y = s.to_numpy(dtype=float)
        for label, d in domains:
            m = d & np.isfinite(y)
            if not (w_all[m] > 0).any():
                raise InputError(f"no respondent with a positive weight answered '{v}'" + (f" in {by}={label}" if by else ""))
            terms.append(label if by and len(names) == 1 else (f"{v}:{label}" if by else v))
            cols.append(np.nan_to_num(y))
            masks.append(m)
    Y = np.column_stack(cols)
    M = np.column_stack(masks).astype(float)
    Wd = w_all @ M
    est = (w_all @ (Y * M)) / Wd
    lin = None
    if survey.replicates:
        reps = survey.replicate_weights() * survey.domain_mask()[:, None]
        est_rep = (reps.T @ (Y * M)) / (reps.T @ M)
        vcov = survey.replicate_cov(est_rep, est)
    else:
        U = (Y - est) * M / Wd
        vcov = survey.cov_total(U)
        # each mean, and each contrast of them, gets the effective df of its own influence over
        # the PSUs holding its domains (issue 17)
        lin = Linearization(survey, (U,), M > 0)
    binary = all(bool(np.isin(df[v].dropna().unique(), [0, 1]).all()) for v in names)
    n = int((w_all > 0).sum())
    return Estimates.build(terms, est, vcov, scale="share" if binary else "mean", dof=design_df(survey), linearization=lin,
                           level=level, n=n,
                           method="domain-means", variable=", ".join(names), by=by,
                           details={"weighted_n": [float(x) for x in Wd]})


def contrast(result: Any, weights: Any, level: float | None = None) -> Estimates:
    """Linear combinations of estimates with their standard errors (R's ``svycontrast``);
    ``result.contrast(weights)`` (see :meth:`Estimates.contrast`)."""
    if not hasattr(result, "contrast"):
        raise InputError("contrast() needs estimates with a covariance: Survey.means(), Survey.glm() or margins")
    return result.contrast(weights, level=level)  # type: ignore[no-any-return]


def _clean(code: Any) -> Any:
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return int(code)
    if isinstance(code, np.integer):
        return int(code)
    return code
