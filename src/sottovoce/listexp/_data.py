"""Input checks and design matrices shared by the list-experiment estimators.

Every estimator starts here: the item count, the treatment arm and the covariates are read from
the data frame, checked (one-line errors naming the column, the value and the fix) and turned into
numpy arrays. Covariates go through formulaic with R-style term names, so coefficients carry the
same names as R's ``ictreg``: ``(Intercept)``, ``age``, ``C(region)[T.x]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, InputError
from ..io import as_frame, require_columns
from ..survey import Survey

MIN_ARM = 2  # fewer respondents than this in an arm leaves a mean without a variance


@dataclass
class ListData:
    """Checked list-experiment data: counts ``y``, arms ``t`` (0 = control), design matrix ``X``."""

    y: np.ndarray
    t: np.ndarray
    X: np.ndarray
    terms: list[str]
    J: int
    w: np.ndarray
    survey: Survey
    frame: pd.DataFrame
    arms: list[int]
    count: str
    treat: str


def _numeric(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    raw_missing = df[column].isna().to_numpy()
    bad = np.isnan(values) & ~raw_missing
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{what} column '{column}' has a non-numeric value {df[column].iloc[i]!r} at row {i + 1}; recode it as a number")
    return values


def treatment_codes(df: pd.DataFrame, treat: str, multi: bool = True) -> np.ndarray:
    """Arm codes as integers (0 = control). Binary when ``multi`` is False."""
    t = _numeric(df, treat, "treatment")
    if np.isnan(t).any():
        raise InputError(f"treatment column '{treat}' has {int(np.isnan(t).sum())} missing values (first at row {int(np.argmax(np.isnan(t))) + 1}); drop those respondents or fill in their arm")
    allowed = "0/1" if not multi else "0 (control), 1, 2, ... (one code per sensitive item)"
    if (t != np.round(t)).any() or (t < 0).any():
        bad = t[(t != np.round(t)) | (t < 0)][0]
        raise InputError(f"treatment column '{treat}' has the value {bad:g}; it must be {allowed}")
    t = t.astype(np.int64)
    codes = np.unique(t)
    if not multi and not set(codes) <= {0, 1}:
        raise InputError(f"treatment column '{treat}' is not binary (values {', '.join(map(str, codes[:6]))}); it must be 0 (control) or 1 (treatment)")
    if multi and len(codes) > 1 and not np.array_equal(codes, np.arange(codes.max() + 1)):
        raise InputError(f"treatment column '{treat}' has values {', '.join(map(str, codes[:8]))}; arms must be numbered 0 (control), 1, 2, ... without gaps")
    if 0 not in codes:
        raise DesignError(f"treatment column '{treat}' has no control respondents (code 0)")
    if len(codes) < 2:
        raise DesignError(f"treatment column '{treat}' has no treated respondents (code 1)")
    return t


def design_matrix(df: pd.DataFrame, covariates: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Model matrix of ``covariates`` (formulaic, R-style names) and the mask of complete rows."""
    n = len(df)
    if covariates is None or not str(covariates).strip() or str(covariates).strip() == "1":
        return np.ones((n, 1)), ["(Intercept)"], np.ones(n, dtype=bool)
    from formulaic import model_matrix

    spec = str(covariates).strip()
    if "~" in spec:
        spec = spec.split("~", 1)[1]
    try:
        mm = model_matrix(spec, df, na_action="ignore")
    except Exception as exc:  # formulaic raises many kinds; report the formula and the cause
        msg = " ".join(str(exc).split())
        raise InputError(f"covariates '{covariates}': {msg[:200]}; write them as 'age + male + C(region)' with columns of the data") from None
    X = np.asarray(mm, dtype=float)
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    complete = np.isfinite(X).all(axis=1)
    return X, names, complete


def load(
    data: Any,
    count: str,
    treat: str,
    J: int | None,
    covariates: str | None = None,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    multi: bool = True,
    extra: list[str] | None = None,
) -> ListData:
    """Read and check a list experiment; drop rows with missing covariates (as ``ictreg`` does).

    ``data`` may be a ready :class:`Survey` (for example one calibrated with ``Survey.rake``): its
    weights and its variance, calibration residuals included, are then used as they are.
    """
    given: Survey | None = data if isinstance(data, Survey) else None
    if given is not None:
        if weights or strata or psu:
            raise InputError("give the design either as a Survey or as weights/strata/psu columns, not both")
        df = given.data
    else:
        df = as_frame(data)
    require_columns(df, [count, treat, weights, strata, psu, *(extra or [])])
    if J is None:
        raise InputError("the number of control items J is missing; give it with --items J (items=J in Python)")
    J = int(J)
    if J < 1:
        raise InputError(f"the number of control items J must be at least 1 (got {J})")
    y = _numeric(df, count, "count")
    if np.isnan(y).any():
        i = int(np.argmax(np.isnan(y)))
        raise InputError(f"count column '{count}' has {int(np.isnan(y).sum())} missing values (first at row {i + 1}); drop those respondents before the analysis")
    t = treatment_codes(df, treat, multi=multi)
    if (y != np.round(y)).any():
        i = int(np.argmax(y != np.round(y)))
        raise InputError(f"count column '{count}' has the non-integer value {y[i]:g} at row {i + 1}; counts are whole numbers")
    ctrl_max = y[t == 0].max()
    if (y < 0).any():
        i = int(np.argmax(y < 0))
        raise InputError(f"count column '{count}' has the negative value {y[i]:g} at row {i + 1}; counts run from 0 to J")
    if ctrl_max > J:
        i = int(np.argmax((t == 0) & (y > J)))
        raise InputError(f"count column '{count}' has {y[i]:g} at row {i + 1} in the control group but J = {J}: J is smaller than the largest control count; check --items (control counts run 0..J)")
    if (y[t > 0] > J + 1).any():
        i = int(np.argmax((t > 0) & (y > J + 1)))
        raise InputError(f"count column '{count}' has {y[i]:g} at row {i + 1} in a treatment group but J + 1 = {J + 1}; treatment counts run 0..J+1 (check --items)")
    X, terms, complete = design_matrix(df, covariates)
    if weights is not None:
        wcol = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
        complete &= np.isfinite(wcol)
    keep = complete
    if given is not None and not keep.all():
        # Dropping rows would break the calibration the Survey carries.
        raise InputError(
            f"{int((~keep).sum())} respondents have missing covariates; drop them before building the Survey "
            "(a calibrated design cannot lose rows afterwards)"
        )
    if not keep.all():
        df = df.loc[keep].copy()
        y, t, X = y[keep], t[keep], X[keep]
    survey = given if given is not None else Survey(df, weights=weights, strata=strata, psu=psu)
    w = survey.weights
    arms = sorted(int(a) for a in np.unique(t))
    for a in arms:
        n_a = int(((t == a) & (w > 0)).sum())
        if n_a < MIN_ARM:
            name = "control group" if a == 0 else f"treatment arm {a}"
            raise DesignError(f"the {name} of '{treat}' has only {n_a} respondent(s) with a positive weight; a list experiment needs at least {MIN_ARM} per arm")
    return ListData(y=y.astype(float), t=t, X=X, terms=terms, J=J, w=w, survey=survey, frame=df, arms=arms, count=count, treat=treat)
