"""The ratio of two population totals, ``R = Σ w y / Σ w x`` (R's ``svyratio``).

Linearization (Woolson & Kleinbaum; Lumley 2010, §2.2.3; Cochran 1977, §6.3): ``R̂ − R ≈ Σ w_i
(y_i − R̂ x_i) / X̂``, whose design variance :meth:`Survey.cov_total` gives (strata, PSUs, fpc,
calibration residuals). With replicate weights the ratio is recomputed in every replicate and
the replicate ratios give the variance, as ``svyratio.svyrep.design``. Respondents missing either
variable are left out as a domain (R's ``na.rm = TRUE``). The interval is ``R̂ ± t·se`` with the
ratio's effective degrees of freedom (Satterthwaite over strata of the same linearization values,
:func:`~sottovoce.intervals.design_df`; ``df="design"``: PSUs − strata, as R).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._results import Result
from ._words import count_en, en_form
from .errors import DesignError, InputError, SottovoceWarning
from .intervals import design_df
from .io import require_columns
from .modelframe import one_variable

if TYPE_CHECKING:
    from .survey import Survey

__all__ = ["svyratio"]


def svyratio(survey: Survey, numerator: str, denominator: str, *, level: float = 0.95) -> Result:
    """Ratio of the totals of ``numerator`` and ``denominator`` with its design-based SE."""
    num, den = one_variable(numerator), one_variable(denominator)
    assert num is not None and den is not None
    require_columns(survey.data, [num, den])
    cols = {}
    for c in (num, den):
        s = survey.data[c]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise InputError(f"column '{c}' is not numeric; a ratio needs numbers")
        cols[c] = s.to_numpy(dtype=float)
    present = np.isfinite(cols[num]) & np.isfinite(cols[den])
    dom = survey.domain(present)
    w = dom.weights
    y, x = np.nan_to_num(cols[num]), np.nan_to_num(cols[den])
    X = float(w @ x)
    if X == 0:
        raise DesignError(f"the weighted total of '{den}' is zero: the ratio is undefined")
    r = float(w @ y) / X
    if survey.replicates:
        reps = survey.replicate_weights() * dom.domain_mask()[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            est = (reps.T @ y) / (reps.T @ x)
        var = float(survey.replicate_cov(est[:, None], np.array([r]))[0, 0])
        dof = design_df(dom)
    else:
        u = (y - r * x) / X
        var = float(dom.cov_total(u)[0, 0])
        dof = design_df(dom, u)  # the effective df of the same influence (issue 17)
    se = math.sqrt(max(var, 0.0))
    warns = []
    n_missing = int((~present & (survey.weights > 0)).sum())
    if n_missing:
        warns.append(f"{count_en(n_missing, 'respondent')} missing '{num}' or '{den}' {en_form(n_missing, 'is', 'are')} left out (a domain)")
    for m in warns:
        warnings.warn(m, SottovoceWarning, stacklevel=3)
    return Result.from_estimate(  # type: ignore[no-any-return]
        r, se, scale="", df=dof, level=level, n=int((w > 0).sum()), method="ratio", variable=f"{num}/{den}",
        details={"numerator": num, "denominator": den, "numerator_total": float(w @ y), "denominator_total": X},
        warnings=tuple(warns))
