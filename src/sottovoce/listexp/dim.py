"""Difference-in-means estimator of a list experiment, with design-based standard errors.

The prevalence of the sensitive item is ``τ = Ȳ_T − Ȳ_C`` (weighted means of the item count in
the treatment and control arms; Raghavarao & Federer 1979; Imai 2011 eq. 1). Its linearization is
``u_i = T_i (y_i − Ȳ_T) / W_T − C_i (y_i − Ȳ_C) / W_C`` (``W`` the arm's weight total), so
``τ̂ − τ ≈ Σ w_i u_i`` and :meth:`Survey.cov_total` gives its variance under the survey design
(strata, PSUs, calibration). For a subgroup the same ``u_i`` is set to zero outside the subgroup,
which is domain estimation with the full design (Lumley 2010, sec. 2.3).
"""

from __future__ import annotations

import numpy as np

from ..errors import DesignError

__all__: list[str] = []


def dim_influence(y: np.ndarray, treated: np.ndarray, control: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted difference in means between two disjoint masks and its influence values."""
    WT, WC = float(w[treated].sum()), float(w[control].sum())
    if WT <= 0 or WC <= 0:
        raise DesignError("an arm of the list experiment has no respondents with a positive weight in this group")
    mT = float(w[treated] @ y[treated]) / WT
    mC = float(w[control] @ y[control]) / WC
    u = np.where(treated, (y - mT) / WT, 0.0) - np.where(control, (y - mC) / WC, 0.0)
    return mT - mC, u


def mean_influence(x: np.ndarray, mask: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted mean of ``x`` in ``mask`` and its influence values (zero outside the mask)."""
    W = float(w[mask].sum())
    if W <= 0:
        raise DesignError("a group has no respondents with a positive weight")
    m = float(w[mask] @ x[mask]) / W
    return m, np.where(mask, (x - m) / W, 0.0)
