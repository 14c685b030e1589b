"""The moment estimator shared by randomized-response prevalence and the direct-question gap.

With λ̂ = Σ wᵢyᵢ / Σ wᵢ the weighted share of answers coded 1, the prevalence is
π̂ = (λ̂ − a)/b (Warner 1965; Greenberg et al. 1969; Blair, Imai & Zhou 2015, §2). Its
linearization is π̂ − π ≈ Σ wᵢ uᵢ with uᵢ = (yᵢ − λ̂)/(b·W), W = Σ wᵢ, so the design variance
(strata, PSUs, calibration) comes from :meth:`sottovoce.survey.Survey.cov_total` (Lumley 2010,
§2.4). On a domain of the design (a subgroup) the same formulas use the domain's weights, and
the variance keeps the full design.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, InputError
from ..survey import Survey
from .designs import RRDesign

__all__ = ["IMPOSSIBLE_Z", "DirectDesign", "binary_column", "moment_estimate", "check_range", "plain"]

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


def moment_estimate(y: np.ndarray, svy: Survey, design: RRDesign) -> tuple[float, float, int, np.ndarray]:
    """π̂, λ̂, the respondents and the influence values of π̂ in ``svy`` (a design or a domain).

    Rows with a missing answer (NaN) do not count; the influence values are zero for them.
    """
    w = svy.weights
    ok = np.isfinite(y)
    y0 = np.where(ok, y, 0.0)
    wo = np.where(ok, w, 0.0)
    W = float(wo.sum())
    n = int((ok & (w > 0)).sum())
    if W <= 0:
        raise DesignError("no respondents with a positive weight and an answer")
    lam = float(wo @ y0) / W
    pi = (lam - design.a) / design.b
    u = np.where(ok & (w > 0), (y0 - lam) / (design.b * W), 0.0)
    return pi, lam, n, u


def check_range(pi: float, se: float, design: RRDesign, where: str, truncate: bool) -> tuple[float, str | None]:
    """The estimate to report and a caveat: an estimate more than :data:`IMPOSSIBLE_Z` standard
    errors outside [0, 1] means the design was not followed, an error unless ``truncate`` (then
    it is reported truncated to [0, 1]). Nearer estimates are kept as computed (and flagged by
    the interval rule, :func:`sottovoce.intervals.interval`)."""
    if 0.0 <= pi <= 1.0:
        return pi, None
    far = (pi < -IMPOSSIBLE_Z * se) or (pi > 1 + IMPOSSIBLE_Z * se) or se == 0
    if not (far or truncate):
        return pi, None
    msg = (
        f"{where}: the share of answers coded 1 implies a prevalence of {pi:.3f} (se {se:.3f}) under the "
        f"{design.name} design {design.params()}"
    )
    if not truncate:
        raise DesignError(
            msg + f", more than {IMPOSSIBLE_Z:g} standard errors outside [0, 1]: the design was probably not "
            "followed (check the design probabilities and the 0/1 coding); pass truncate=True to report it truncated"
        )
    clipped = min(max(pi, 0.0), 1.0)
    return clipped, msg + f"; reported as {clipped:g} (truncate=True)"


class DirectDesign(RRDesign):
    """A direct question seen as a degenerate design: P(yes) = π."""

    @property
    def a(self) -> float:
        return 0.0

    @property
    def b(self) -> float:
        return 1.0


def plain(value: Any) -> Any:
    """A numpy scalar as a Python value."""
    if isinstance(value, np.generic):
        return value.item()
    return value
