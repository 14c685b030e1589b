"""Input checks and design matrices shared by the list-experiment estimators.

Every estimator starts here: the item count, the treatment arm and the covariates are read from
the data frame, checked (one-line errors naming the column, the value and the fix) and turned into
numpy arrays. Covariates go through formulaic with R-style term names, so coefficients carry the
same names as R's ``ictreg``: ``(Intercept)``, ``age``, ``C(region)[T.x]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, InputError
from ..io import as_frame, require_columns
from ..survey import Survey, as_survey, design_columns
from ..validate import check_column, check_int

MIN_ARM = 2  # fewer respondents than this in an arm leaves a mean without a variance
SMALL_ARM = 30  # fewer than this: the arm's mean is very uncertain; said in a warning


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
    arm_names: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def arm_label(self, arm: int) -> str:
        """The name of an arm ("control", "sensitive item 1", or the user's name for it)."""
        return self.arm_names.get(arm, "control" if arm == 0 else f"sensitive item {arm}")

    def arm_counts(self) -> dict[str, int]:
        """Respondents with a positive weight in each arm, by arm name."""
        return {self.arm_label(a): int(((self.t == a) & (self.w > 0)).sum()) for a in self.arms}


def _numeric(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    raw_missing = df[column].isna().to_numpy()
    bad = np.isnan(values) & ~raw_missing
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{what} column '{column}' has a non-numeric value {df[column].iloc[i]!r} at row {i + 1}; recode it as a number")
    return values


def _same(a: Any, b: Any) -> bool:
    """Whether a value of the data and a key the user wrote name the same arm (1 == 1.0 == "1")."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip() == str(b).strip()


def treatment_codes(
    df: pd.DataFrame,
    treat: str,
    multi: bool = True,
    arms: Mapping[Any, str] | None = None,
    control: Any = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Arm codes as integers (0 = control, 1..K the sensitive items) and each arm's name.

    A numeric 0/1 column needs nothing more. A column with more than two values, or with text
    values, needs its arms named: ``arms`` maps each value to a name (the control arm is the one
    named ``"control"``), or ``control`` names the control value and the other values are the
    sensitive items, named by their text, in sorted order (R's factor ``control/affirm/race``).
    """
    col = df[treat]
    missing = col.isna().to_numpy()
    if missing.any():
        raise InputError(f"treatment column '{treat}' has {int(missing.sum())} missing values (first at row {int(np.argmax(missing)) + 1}); drop those respondents or fill in their arm")
    values = pd.unique(col)
    try:
        values = np.array(sorted(values), dtype=object)
    except TypeError:
        values = np.array(sorted(values, key=str), dtype=object)
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if arms is None and control is None:
        return _numeric_arms(df, treat, multi, values, numeric)
    if arms is not None and control is not None:
        raise InputError("give the arms either with arms= (every value named) or with control= (the control value), not both")
    if arms is not None:
        if not isinstance(arms, Mapping) or not arms:
            raise InputError(f"arms={arms!r} must map each value of '{treat}' to a name, e.g. arms={{0: 'control', 1: 'item A', 2: 'item B'}}")
        keys = list(arms)
        ctrl = [k for k in keys if str(arms[k]).strip().lower() == "control"]
        if len(ctrl) != 1:
            raise InputError(f"arms={dict(arms)!r}: name exactly one arm 'control' (the arm without a sensitive item)")
        order = ctrl + [k for k in keys if k not in ctrl]
        names = [str(arms[k]) for k in order]
    else:
        if not any(_same(v, control) for v in values):
            raise InputError(f"control={control!r} is not a value of treatment column '{treat}' (values: {', '.join(map(str, values[:8]))})")
        ctrl_value = next(v for v in values if _same(v, control))
        order = [ctrl_value] + [v for v in values if v is not ctrl_value]
        names = ["control"] + [str(v) for v in order[1:]]
    t = np.full(len(col), -1, dtype=np.int64)
    raw = col.to_numpy()
    for code, key in enumerate(order):
        hit = np.array([_same(v, key) for v in values], dtype=bool)
        for v in values[hit]:
            t[raw == v] = code
    unknown = values[[not any(_same(v, k) for k in order) for v in values]]
    if len(unknown):
        raise InputError(f"treatment column '{treat}' has the value {unknown[0]!r}, which arms= does not name; add it (or drop those respondents)")
    if not multi and len(order) > 2:
        raise InputError(f"treatment column '{treat}' is not binary ({len(order)} arms); this design needs a control and one treatment arm")
    present = np.bincount(t, minlength=len(order))
    if present[0] == 0:
        raise DesignError(f"treatment column '{treat}' has no respondents in the control arm ({order[0]!r})")
    if len(order) < 2 or not present[1:].any():
        raise DesignError(f"treatment column '{treat}' has no treated respondents")
    return t, dict(enumerate(names))


def _numeric_arms(df: pd.DataFrame, treat: str, multi: bool, values: np.ndarray, numeric: bool) -> tuple[np.ndarray, dict[int, str]]:
    shown = ", ".join(map(str, values[:8]))
    if not numeric:
        # suggest the value that looks like the control arm (R's factors often name it so)
        likely = next((v for v in values if str(v).strip().lower() in ("control", "ctrl", "0", "контроль")), values[0] if len(values) else None)
        hint = f"control={likely!r}" if likely is not None else "control="
        raise InputError(
            f"treatment column '{treat}' has text values ({shown}); say which is the control arm with {hint} "
            f"(the other values are the sensitive items), or name every arm with arms="
        )
    t = _numeric(df, treat, "treatment")
    allowed = "0/1" if not multi else "0 (control), 1, 2, ... (one code per sensitive item)"
    if (t != np.round(t)).any() or (t < 0).any():
        bad = t[(t != np.round(t)) | (t < 0)][0]
        raise InputError(f"treatment column '{treat}' has the value {bad:g}; it must be {allowed}")
    t = t.astype(np.int64)
    codes = np.unique(t)
    if not multi and not set(codes) <= {0, 1}:
        raise InputError(f"treatment column '{treat}' is not binary (values {', '.join(map(str, codes[:6]))}); it must be 0 (control) or 1 (treatment)")
    if len(codes) > 1 and not np.array_equal(codes, np.arange(codes.max() + 1)) and len(codes) <= 2:
        raise InputError(f"treatment column '{treat}' has values {', '.join(map(str, codes[:8]))}; arms must be numbered 0 (control), 1, 2, ... without gaps (or named with arms=)")
    if len(codes) > 2:
        example = ", ".join(f"{c}: {'control' if c == 0 else f'item {c}'!r}" for c in codes[:4])
        raise InputError(
            f"treatment column '{treat}' has {len(codes)} values ({', '.join(map(str, codes[:8]))}): with more than two arms, "
            f"name them, e.g. arms={{{example}}}, so that the control arm and each sensitive item are explicit"
        )
    if 0 not in codes:
        raise DesignError(f"treatment column '{treat}' has no control respondents (code 0)")
    if len(codes) < 2:
        raise DesignError(f"treatment column '{treat}' has no treated respondents (code 1)")
    return t, {0: "control", 1: "sensitive item 1"}


def design_matrix(df: pd.DataFrame, covariates: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Model matrix of ``covariates`` (formulaic, R-style names) and the mask of complete rows."""
    n = len(df)
    if covariates is None or not str(covariates).strip() or str(covariates).strip() == "1":
        return np.ones((n, 1)), ["(Intercept)"], np.ones(n, dtype=bool)
    spec = str(covariates).strip()
    if "~" in spec:
        spec = spec.split("~", 1)[1]
    simple = _plain_sum(df, spec)
    if simple is not None:
        # "age + male": the intercept and the columns as they are, which is what formulaic builds;
        # skipping its import saves most of a second of a command's start-up (tests compare both)
        X = np.column_stack([np.ones(n), *(pd.to_numeric(df[c]).to_numpy(dtype=float) for c in simple)])
        return X, ["(Intercept)", *simple], np.isfinite(X).all(axis=1)
    from formulaic import model_matrix

    try:
        mm = model_matrix(spec, df, na_action="ignore")
    except Exception as exc:  # formulaic raises many kinds; report the formula and the cause
        msg = " ".join(str(exc).split())
        raise InputError(f"covariates '{covariates}': {msg[:200]}; write them as 'age + male + C(region)' with columns of the data") from None
    X = np.asarray(mm, dtype=float)
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    complete = np.isfinite(X).all(axis=1)
    return X, names, complete


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _plain_sum(df: pd.DataFrame, spec: str) -> list[str] | None:
    """The columns of a formula that is only a sum of distinct numeric (not boolean) columns."""
    terms = [t.strip() for t in spec.split("+")]
    if not terms or any(not _NAME.fullmatch(t) for t in terms) or len(set(terms)) != len(terms):
        return None
    for t in terms:
        if t not in df.columns or not pd.api.types.is_numeric_dtype(df[t]) or pd.api.types.is_bool_dtype(df[t]):
            return None
    return terms


def load(
    data: Any,
    count: str,
    treat: str,
    J: int | None,
    covariates: str | None = None,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    multi: bool = True,
    extra: list[str] | None = None,
    arms: Mapping[Any, str] | None = None,
    control: Any = None,
) -> ListData:
    """Read and check a list experiment; drop rows with missing covariates (as ``ictreg`` does).

    ``data`` may be a ready :class:`Survey` (for example one calibrated with ``Survey.rake``): its
    weights and its variance, calibration residuals included, are then used as they are.
    """
    check_column(count, "count", allow_none=False)
    check_column(treat, "treat", allow_none=False)
    if J is None:
        raise InputError("the number of control items J is missing; give it with items=J")
    J = check_int(J, "items")
    assert J is not None
    if J < 1:
        raise InputError(f"the number of control items J must be at least 1 (got items={J})")
    # A ready Survey (e.g. calibrated with Survey.rake) is used as it is: its weights and its
    # variance, calibration residuals included. A table gets its design (as_survey) once the
    # rows ictreg would drop (missing covariates or weights) are gone.
    given: Survey | None = as_survey(data, weights, strata, psu) if isinstance(data, Survey) else None
    if given is not None:
        df = given.data
    else:
        df, (weights, strata, psu) = design_columns(as_frame(data), weights=weights, strata=strata, psu=psu)
    require_columns(df, [count, treat, weights, strata, psu, *(extra or [])])
    y = _numeric(df, count, "count")
    if np.isnan(y).any():
        i = int(np.argmax(np.isnan(y)))
        raise InputError(f"count column '{count}' has {int(np.isnan(y).sum())} missing values (first at row {i + 1}); drop those respondents before the analysis")
    t, arm_names = treatment_codes(df, treat, multi=multi, arms=arms, control=control)
    if (y != np.round(y)).any():
        i = int(np.argmax(y != np.round(y)))
        raise InputError(f"count column '{count}' has the non-integer value {y[i]:g} at row {i + 1}; counts are whole numbers")
    ctrl_max = y[t == 0].max()
    if (y < 0).any():
        i = int(np.argmax(y < 0))
        raise InputError(f"count column '{count}' has the negative value {y[i]:g} at row {i + 1}; counts run from 0 to J")
    if ctrl_max > J:
        i = int(np.argmax((t == 0) & (y > J)))
        raise InputError(f"count column '{count}' has {y[i]:g} at row {i + 1} in the control group but J = {J}: J is smaller than the largest control count; check items= (control counts run 0..J)")
    if (y[t > 0] > J + 1).any():
        i = int(np.argmax((t > 0) & (y > J + 1)))
        raise InputError(f"count column '{count}' has {y[i]:g} at row {i + 1} in a treatment group but J + 1 = {J + 1}; treatment counts run 0..J+1 (check items=)")
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
    if not keep.all():  # as ictreg's na.omit
        df = df.loc[keep].copy()
        y, t, X = y[keep], t[keep], X[keep]
    survey = given if given is not None else as_survey(df, weights, strata, psu)
    w = survey.weights
    arm_codes = sorted(int(a) for a in np.unique(t[w > 0]))
    warns = []
    for a in arm_codes or [0]:
        n_a = int(((t == a) & (w > 0)).sum())
        name = "control group" if a == 0 else f"treatment arm {a} ({arm_names.get(a, a)})"
        if n_a < MIN_ARM:
            raise DesignError(f"the {name} of '{treat}' has only {n_a} respondent(s) with a positive weight; a list experiment needs at least {MIN_ARM} per arm")
        if n_a < SMALL_ARM:
            warns.append(f"the {name} of '{treat}' has only {n_a} respondents: its mean, and every estimate from it, is very uncertain")
    for a in arm_names:
        if a not in arm_codes and a != 0:
            raise DesignError(f"treatment arm {a} ({arm_names[a]}) of '{treat}' has no respondents with a positive weight")
    if len(arm_codes) < 2:
        raise DesignError(f"treatment column '{treat}' has no treated respondents with a positive weight")
    return ListData(y=y.astype(float), t=t, X=X, terms=terms, J=J, w=w, survey=survey, frame=df, arms=arm_codes, count=count,
                    treat=treat, arm_names=arm_names, warnings=warns)
