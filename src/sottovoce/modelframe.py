"""Formulas to arrays, with R's term names: model frames, one-sided ``~var`` specs, subsets.

Model formulas are parsed by formulaic (its syntax is patsy's, close to R's). Term and column
names follow the project's convention, shared with the list-experiment and randomized-response
regressions; against R's ``model.matrix`` names:

===========================  ===============================  ===============================
what                         sottovoce                        R
===========================  ===============================  ===============================
intercept                    ``(Intercept)``                  ``(Intercept)``
numeric column               ``age``                          ``age``
category of a text column    ``region[T.Moscow]``             ``regionMoscow``
category with ``C(x)``       ``C(region)[T.Moscow]``          ``factor(region)Moscow``
                             (treatment coding, the first      (same coding and reference)
                             level in sorted order is the base)
interaction                  ``age:C(region)[T.Moscow]``      ``age:regionMoscow``
transformed variable         ``I(age ** 2)``, ``np.log(x)``   ``I(age^2)``, ``log(x)``
===========================  ===============================  ===============================

Text columns enter as categories without ``C()``; a numeric column coded as categories needs
``C(x)``, as ``factor(x)`` in R. Rows with a missing value in any variable of the formula are left
out (R's ``na.omit``); as in R's ``svyglm`` they stay in the design with zero weight, so standard
errors still use the full design (a domain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["ModelFrame", "model_frame", "variables", "one_variable", "subset_mask"]


@dataclass(frozen=True)
class ModelFrame:
    """A response vector and model matrix from a formula, over all rows of the data.

    ``complete`` marks the rows where every variable is present (the others hold NaN);
    ``term_columns`` maps each term label of the formula (``C(stype)``, ``age:male``) to the
    columns of ``X`` it produced (R's ``assign``); ``spec`` rebuilds ``X`` for new data with the
    same coding (for predictions and margins).
    """

    y: pd.Series | None
    X: np.ndarray
    names: tuple[str, ...]
    term_columns: dict[str, list[int]]
    complete: np.ndarray
    response: str | None
    rhs: str
    spec: Any

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The model matrix of ``data`` with the coding of the fit (levels, reference categories)."""
        if self.spec is None:  # plain numeric columns (see _plain_numeric)
            return _numeric_matrix(data, list(self.names[1:]))
        try:
            mm = self.spec.get_model_matrix(data, na_action="ignore")
        except Exception as exc:  # formulaic's errors are many; name the formula and the cause
            raise InputError(f"cannot build the model matrix of '{self.rhs}' for new data: {_short(exc)}") from None
        return np.asarray(mm, dtype=float)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:240]


def variables(spec: str) -> list[str]:
    """Column names in a one-sided formula or a plain name: ``"~a + b"`` → ``["a", "b"]``."""
    text = str(spec).strip()
    if text.startswith("~"):
        text = text[1:]
    parts = [p.strip() for p in text.split("+")]
    if not all(parts):
        raise InputError(f"'{spec}' is not a list of columns; write '~a + b' or a column name")
    return [_unquote(p) for p in parts]


@overload
def one_variable(spec: str) -> str: ...
@overload
def one_variable(spec: None) -> None: ...
def one_variable(spec: str | None) -> str | None:
    """A single column from ``"support"`` or R's ``"~support"`` (``None`` stays ``None``)."""
    if not isinstance(spec, str) or not spec.strip().startswith("~"):
        return spec  # a column name as given (not necessarily a string)
    text = spec.strip()
    names = variables(text)
    if len(names) != 1:
        raise InputError(f"'{spec}' names {len(names)} columns; this takes one (e.g. '~{names[0]}')")
    return names[0]


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "`'\"":
        return name[1:-1]
    return name


def _check_variables(formula: str, df: pd.DataFrame) -> list[str]:
    """The data columns a formula uses; an error naming the first one the data lack."""
    from formulaic import Formula

    try:
        needed = Formula(formula).required_variables
    except Exception as exc:
        raise InputError(f"formula '{formula}' cannot be read: {_short(exc)}; write it as 'y ~ x1 + C(x2)'") from None
    names = sorted(str(v) for v in needed if str(v) not in ("np", "C", "I"))
    missing = [v for v in names if v not in df.columns]
    if missing:
        cols = ", ".join(map(str, list(df.columns)[:25]))
        raise InputError(f"formula '{formula}' names column '{missing[0]}', which the data do not have; columns are: {cols}")
    return names


def model_frame(formula: str, df: pd.DataFrame, *, need_response: bool = True) -> ModelFrame:
    """Parse ``formula`` (``"y ~ x1 + C(x2)"``) over ``df``; one-line errors for bad formulas."""
    from formulaic import model_matrix

    text = str(formula).strip()
    if need_response and "~" not in text:
        raise InputError(f"formula '{formula}' has no '~'; write it as 'outcome ~ x1 + x2'")
    lhs, rhs = (text.split("~", 1) if "~" in text else ("", text))
    lhs, rhs = lhs.strip(), rhs.strip() or "1"
    if need_response and not lhs:
        raise InputError(f"formula '{formula}' has no outcome before '~'; write it as 'outcome ~ x1 + x2'")
    used = _check_variables(f"{lhs} ~ {rhs}" if lhs else f"~ {rhs}", df)
    data = df.reset_index(drop=True)
    plain = _plain_numeric(rhs, data)
    if plain is not None:
        X = _numeric_matrix(data, plain)
        complete = np.isfinite(X).all(axis=1)
        y = None
        if lhs:
            y = data[lhs] if lhs in data.columns else _outcome_expression(lhs, data, formula)
            complete &= y.notna().to_numpy()
        return ModelFrame(y=y, X=X, names=("(Intercept)", *plain), term_columns={"(Intercept)": [0], **{c: [j + 1] for j, c in enumerate(plain)}},
                          complete=complete, response=lhs or None, rhs=rhs, spec=None)
    try:
        mm = model_matrix(rhs, data, na_action="ignore", output="numpy")  # no DataFrame of a million rows
    except Exception as exc:
        raise InputError(f"formula '{formula}': {_short(exc)}; write it as 'y ~ x1 + C(x2)' with columns of the data") from None
    X = np.asarray(mm, dtype=float)
    spec = mm.model_spec
    names = tuple("(Intercept)" if c == "Intercept" else str(c) for c in spec.column_names)
    term_columns: dict[str, list[int]] = {}
    for term, sl in spec.term_slices.items():
        label = "(Intercept)" if str(term) == "1" else str(term)
        term_columns[label] = list(range(sl.start, sl.stop))
    # formulaic codes a missing category as the reference level: missing values are checked on
    # the columns themselves.
    complete = np.isfinite(X).all(axis=1) & data[used].notna().all(axis=1).to_numpy()
    y = None
    if lhs:
        y_raw = data[lhs] if lhs in data.columns else _outcome_expression(lhs, data, formula)
        complete &= y_raw.notna().to_numpy()
        y = y_raw  # coded by the caller (families differ)
    return ModelFrame(y=y, X=X, names=names, term_columns=term_columns, complete=complete,
                      response=lhs or None, rhs=rhs, spec=spec)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _plain_numeric(rhs: str, data: pd.DataFrame) -> list[str] | None:
    """The columns of a right-hand side made only of distinct numeric column names (``x1 + x2``),
    or None. Such a model matrix is the intercept and the columns themselves — exactly what
    formulaic builds (tests/test_glm.py checks it) — and is built here in one numpy copy, which
    matters with millions of rows; anything else goes to formulaic."""
    parts = [p.strip() for p in rhs.split("+")]
    if len(set(parts)) != len(parts) or any(not _NAME.match(p) or p in ("C", "I", "np") for p in parts):
        return None
    for p in parts:
        if p not in data.columns:
            return None
        s = data[p]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            return None
    return parts


def _numeric_matrix(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    X = np.empty((len(data), len(columns) + 1), order="F")  # filled column by column
    X[:, 0] = 1.0
    for j, c in enumerate(columns):
        X[:, j + 1] = data[c].to_numpy(dtype=float, na_value=np.nan)
    return X


def _outcome_expression(lhs: str, data: pd.DataFrame, formula: str) -> pd.Series:
    """An outcome written as an expression (``I(q_support == 1)``, ``np.log(income)``)."""
    from formulaic import model_matrix

    try:
        mm = model_matrix(f"{lhs} ~ 1", data, na_action="ignore")
    except Exception as exc:
        raise InputError(f"the outcome '{lhs}' of formula '{formula}' cannot be evaluated: {_short(exc)}") from None
    out = mm.lhs
    if out.shape[1] != 1:
        raise InputError(f"the outcome '{lhs}' of formula '{formula}' gives {out.shape[1]} columns; it must give one "
                         "(a 0/1 outcome: write I(answer == 'yes'))")
    return pd.Series(np.asarray(out.iloc[:, 0]), index=data.index, name=lhs)


_UNSAFE = re.compile(r"(__|\bimport\b|\blambda\b|@|\bexec\b|\beval\b|\bopen\b)")


def subset_mask(df: pd.DataFrame, expr: str) -> np.ndarray:
    """Rows where a pandas/R-style condition holds: ``"age >= 18 & region == 'Moscow'"``.

    The expression uses column names, comparisons, ``&``, ``|``, ``~``/``not`` and ``in``
    (``region in ['Moscow', 'Kazan']``); R's ``!`` and ``%in%`` are accepted too. A missing value
    makes the condition false, as R's ``subset()``.
    """
    text = str(expr).strip()
    if not text:
        raise InputError("the subset condition is empty; write e.g. \"age >= 18 & region == 'Moscow'\"")
    if _UNSAFE.search(text):
        raise InputError(f"subset '{expr}': only column names, numbers, strings, comparisons and & | ~ are allowed")
    py = re.sub(r"%in%\s*c\(([^)]*)\)", r" in [\1]", text)
    py = re.sub(r"!(?!=)", "~", py)
    py = py.replace("&&", "&").replace("||", "|").replace("TRUE", "True").replace("FALSE", "False")
    try:
        out = df.eval(py, engine="python")
    except Exception as exc:
        msg = _short(exc)
        m = re.search(r"name '([^']+)' is not defined", msg)
        if m:
            cols = ", ".join(map(str, list(df.columns)[:25]))
            raise InputError(f"subset '{expr}' names column '{m.group(1)}', which the data do not have; columns are: {cols}") from None
        raise InputError(f"subset '{expr}' cannot be evaluated: {msg}") from None
    arr = np.asarray(out)
    # A row with a missing value in a column the condition names is outside the subset (R gives
    # NA there, which subset() drops; ``~(age < 18)`` would otherwise keep a missing age).
    named = [c for c in df.columns if re.search(rf"(?<![\w.'\"]){re.escape(str(c))}(?![\w'\"])", text)]
    if named and arr.shape == (len(df),):
        arr = np.where(df[named].notna().all(axis=1).to_numpy(), arr, False)
    if arr.shape != (len(df),):
        raise InputError(f"subset '{expr}' does not give one true/false value per row; write a condition such as \"age >= 18\"")
    if arr.dtype == object:
        if not all(isinstance(v, (bool, np.bool_)) or v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA for v in arr):
            raise InputError(f"subset '{expr}' is not a true/false condition")
        return np.array([bool(v) if isinstance(v, (bool, np.bool_)) else False for v in arr])
    if arr.dtype != bool:
        raise InputError(f"subset '{expr}' is not a true/false condition (it gives {arr.dtype} values); write a comparison such as \"age >= 18\"")
    return arr
