"""The survey design object: weights, strata, PSUs and the variance of weighted totals.

Every design-based standard error in sottovoce goes through :meth:`Survey.cov_total`: an
estimator writes its linearization (influence) values ``u_i`` so that ``theta_hat - theta ≈
sum_i w_i u_i``, and the design turns them into a covariance matrix (Taylor linearization with
strata and PSUs, Lumley 2010, ch. 2 and appendix C; Wolter 2007, ch. 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .io import as_frame, require_columns

__all__ = ["Survey"]


class Survey:
    """A survey design: data plus weights, strata and primary sampling units (PSUs).

    Parameters
    ----------
    data : DataFrame (pandas, or polars converted to pandas).
    weights : name of the weight column; ``None`` means equal weights of 1. Zero weights are
        legitimate (excluded respondents); negative or missing weights are an error.
    strata, psu : names of the stratum and PSU (cluster) columns; PSU ids are taken as nested
        within strata.
    """

    def __init__(
        self,
        data: Any,
        weights: str | None = None,
        strata: str | None = None,
        psu: str | None = None,
    ) -> None:
        df = as_frame(data)
        if len(df) == 0:
            raise InputError(f"{df.attrs.get('source', 'data')}: no rows")
        require_columns(df, [weights, strata, psu])
        self.data = df
        self.weights_column = weights
        self.strata_column = strata
        self.psu_column = psu
        n = len(df)
        if weights is None:
            w = np.ones(n)
        else:
            w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(w)
            if bad.any():
                raise InputError(f"weight column '{weights}' has {int(bad.sum())} missing or non-numeric values (first at row {int(np.argmax(bad)) + 1})")
            if (w < 0).any():
                raise InputError(f"weight column '{weights}' has {int((w < 0).sum())} negative values (first at row {int(np.argmax(w < 0)) + 1}); weights must be >= 0")
            if not (w > 0).any():
                raise InputError(f"weight column '{weights}' is zero for every respondent")
        self._w = w
        self._strata = _codes(df, strata, "stratum")
        psu_codes = _codes(df, psu, "PSU") if psu is not None else np.arange(n)
        # PSUs are nested in strata: one id per (stratum, psu) pair.
        self._psu = pd.factorize(pd.MultiIndex.from_arrays([self._strata, psu_codes]))[0] if strata else psu_codes

    # -- basic properties ---------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """The final weights, one per row (zeros for excluded respondents)."""
        return self._w

    @property
    def n(self) -> int:
        """Respondents with a positive weight."""
        return int((self._w > 0).sum())

    def __len__(self) -> int:
        return len(self.data)

    # -- variance -----------------------------------------------------------------------------
    def cov_total(self, u: np.ndarray) -> np.ndarray:
        """Design covariance of the weighted totals ``sum_i w_i u_ik`` (a k×k matrix).

        Uses the with-replacement approximation for PSUs within strata:
        ``sum_h n_h/(n_h - 1) sum_j (z_hj - zbar_h)(z_hj - zbar_h)'`` with ``z_hj`` the weighted
        PSU totals. Strata with a single PSU contribute nothing here.
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            u = u[:, None]
        z = u * self._w[:, None]
        n_psu = int(self._psu.max()) + 1
        zt = np.stack([np.bincount(self._psu, weights=z[:, k], minlength=n_psu) for k in range(z.shape[1])], axis=1)
        psu_stratum = np.zeros(n_psu, dtype=np.int64)
        psu_stratum[self._psu] = self._strata
        n_h = np.bincount(psu_stratum)
        mean_h = np.stack([np.bincount(psu_stratum, weights=zt[:, k], minlength=len(n_h)) for k in range(zt.shape[1])], axis=1) / np.maximum(n_h, 1)[:, None]
        dev = zt - mean_h[psu_stratum]
        scale = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 0.0)[psu_stratum]
        return (dev * scale[:, None]).T @ dev


def _codes(df: pd.DataFrame, column: str | None, what: str) -> np.ndarray:
    if column is None:
        return np.zeros(len(df), dtype=np.int64)
    s = df[column]
    if s.isna().any():
        raise InputError(f"{what} column '{column}' has {int(s.isna().sum())} missing values")
    return pd.factorize(s, sort=True)[0].astype(np.int64)
