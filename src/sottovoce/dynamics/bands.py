"""Bands and intervals of the pooled trend that stay inside the values a share can take.

The model (Jackman 2005) is linear and Gaussian on the share scale, so its smoothed share on a
day is ``m`` with standard error ``s``; ``m ± z·s`` can leave [0, 1] when the polls say little
(two pollsters, an unidentified random-walk variance: the README example gave 2.8%–127.4%).

* **Trend band and the latest share**: the logit-transformed interval
  ``expit(logit m ± z·s / (m(1 − m)))`` — the delta-method interval R's ``svyciprop`` uses by
  default (``method = "logit"``; Lumley 2010, *Complex Surveys*). It keeps the point estimate, is
  asymmetric towards the far side of the nearer bound, and equals ``m ± z·s`` to first order when
  ``s`` is small against ``m(1 − m)`` (mid-range shares, precise polls), so the band's coverage
  there is unchanged. Near 0 or 1 it covers *better* than ``m ± z·s`` cut at the bound, because the
  sampling error of a small share is skewed: for a trend planted at about 4.5% and polls of 200–600
  (``tests/test_dynamics_mc.py``) the logit band covers 95.1% of days and the cut normal band
  93.3%; at 3% they cover 92.6% and 90.6%, at 10% 94.9% and 94.4%.
  A day whose point estimate itself lies outside (0, 1) has no logit; its band is the normal one
  intersected with [0, 1], which keeps its coverage (the truth is always inside [0, 1]), and the
  day is flagged ``out_of_range``.
* **House effects and level shifts** are differences of shares: their intervals are intersected
  with [−1, 1]. The intersection of a confidence interval with the parameter space has the same
  coverage as the interval, so nothing else changes.

Alternatives considered: modelling the walk on the logit scale changes the model (house effects
would be in log-odds, not points) and the point estimates; a normal posterior truncated to [0, 1]
keeps the band narrower than the cut normal near the bounds and covers no better than it.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["share_band", "difference_interval"]


def share_band(share: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low, high, out_of_range)`` of the share on each day (see the module docstring)."""
    m = np.asarray(share, dtype=float)
    s = np.maximum(np.asarray(se, dtype=float), 0.0)
    inside = (m > 0) & (m < 1)
    mm = np.where(inside, m, 0.5)  # any value in (0, 1): these days take the other branch
    half = z * s / (mm * (1 - mm))
    lg = special.logit(mm)
    low = np.where(inside, special.expit(lg - half), np.clip(m - z * s, 0.0, 1.0))
    high = np.where(inside, special.expit(lg + half), np.clip(m + z * s, 0.0, 1.0))
    return low, high, ~((m >= 0) & (m <= 1))


def difference_interval(est: np.ndarray | float, se: np.ndarray | float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """``est ± z·se`` intersected with [−1, 1] (a difference of two shares)."""
    e = np.asarray(est, dtype=float)
    s = np.asarray(se, dtype=float)
    return np.clip(e - z * s, -1.0, 1.0), np.clip(e + z * s, -1.0, 1.0)
