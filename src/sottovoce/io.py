"""Reading and writing survey data: CSV, TSV, Parquet, SPSS ``.sav``, Stata ``.dta`` and Excel.

Value labels are kept, not lost: columns keep their codes (``1``, ``2``, ``99``) and the labels
travel in ``df.attrs["value_labels"] = {column: {code: label}}`` (variable labels in
``df.attrs["variable_labels"]``). :func:`match_categories` lets a margin or a study file name a
category by its code *or* its label, so ``sex = 1`` labelled "male" matches a margin ``male``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "read_table",
    "write_table",
    "as_frame",
    "value_labels",
    "variable_label",
    "require_columns",
    "match_categories",
    "category_label",
]

READ_FORMATS = (".csv", ".tsv", ".txt", ".parquet", ".sav", ".zsav", ".dta", ".xlsx")
WRITE_FORMATS = (".csv", ".tsv", ".parquet", ".sav", ".dta")


def _ext(path: Path) -> str:
    return path.suffix.lower()


def read_table(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame, keeping value and variable labels in ``df.attrs``.

    Supported by extension: ``.csv``, ``.tsv``/``.txt`` (tab-separated), ``.parquet``, ``.sav``/``.zsav``
    (SPSS), ``.dta`` (Stata) and ``.xlsx`` (first sheet). Pandas categorical columns (from Parquet
    or Excel text) are converted to codes with labels so every format behaves the same way.
    """
    p = Path(path)
    ext = _ext(p)
    if ext not in READ_FORMATS:
        raise InputError(
            f"{p}: unknown data file extension '{p.suffix or '(none)'}'; use one of {', '.join(READ_FORMATS)}"
        )
    if not p.exists():
        raise InputError(f"{p}: data file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a data file")
    value_lbls: dict[str, dict[Any, str]] = {}
    var_lbls: dict[str, str] = {}
    try:
        if ext == ".csv":
            df = pd.read_csv(p, usecols=columns)
        elif ext in (".tsv", ".txt"):
            df = pd.read_csv(p, sep="\t", usecols=columns)
        elif ext == ".parquet":
            df = pd.read_parquet(p, columns=list(columns) if columns else None)
        elif ext == ".xlsx":
            df = pd.read_excel(p, usecols=columns, engine="openpyxl")
        else:
            import pyreadstat

            reader = pyreadstat.read_dta if ext == ".dta" else pyreadstat.read_sav
            df, meta = reader(str(p), usecols=list(columns) if columns else None)
            value_lbls = {
                col: {_clean_code(k): str(v) for k, v in lbls.items()}
                for col, lbls in (meta.variable_value_labels or {}).items()
                if col in df.columns
            }
            var_lbls = {k: str(v) for k, v in (meta.column_names_to_labels or {}).items() if v and k in df.columns}
    except InputError:
        raise
    except ValueError as exc:  # usecols mismatch and similar
        raise InputError(f"{p}: {_one_line(exc)}") from exc
    except Exception as exc:  # corrupt or unreadable file: say so in one line
        raise InputError(f"{p}: cannot read as {ext.lstrip('.')} file ({_one_line(exc)})") from exc
    # Categorical columns (parquet, pandas) become codes + labels, like SPSS columns.
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype) and col not in value_lbls:
            cats = list(df[col].cat.categories)
            codes = df[col].cat.codes.astype("float64").where(df[col].cat.codes >= 0)
            if all(isinstance(c, (int, np.integer)) for c in cats):
                df[col] = df[col].astype("float64")
            else:
                df[col] = codes + 1
                value_lbls[col] = {i + 1: str(c) for i, c in enumerate(cats)}
    df.attrs["value_labels"] = value_lbls
    df.attrs["variable_labels"] = var_lbls
    df.attrs["source"] = str(p)
    return df


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``df`` by extension, atomically (temporary file, then rename), keeping labels.

    ``protect`` lists input files that must never be overwritten; writing to one raises
    :class:`InputError`.
    """
    p = Path(path)
    ext = _ext(p)
    if ext not in WRITE_FORMATS:
        raise InputError(f"{p}: cannot write '{p.suffix or '(none)'}' files; use one of {', '.join(WRITE_FORMATS)}")
    for q in protect:
        if Path(q).exists() and p.exists() and p.resolve() == Path(q).resolve():
            raise InputError(f"{p}: refusing to overwrite the input file; choose another --out")
    if not p.parent.exists():
        raise InputError(f"{p}: folder '{p.parent}' does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".sottovoce-", suffix=ext, dir=p.parent)
    os.close(fd)
    try:
        value_lbls = {k: v for k, v in df.attrs.get("value_labels", {}).items() if k in df.columns}
        var_lbls = df.attrs.get("variable_labels", {})
        if ext == ".csv":
            df.to_csv(tmp, index=False)
        elif ext == ".tsv":
            df.to_csv(tmp, sep="\t", index=False)
        elif ext == ".parquet":
            out = df.copy()
            out.attrs = {}
            out.to_parquet(tmp, index=False)
        else:
            import pyreadstat

            labels = [var_lbls.get(c) for c in df.columns]
            out = df.copy()
            out.attrs = {}
            if ext == ".sav":
                pyreadstat.write_sav(out, tmp, column_labels=labels, variable_value_labels=value_lbls or None)
            else:
                dta_lbls: dict[str, dict[int | float, str]] = {
                    str(c): {int(k): str(v) for k, v in m.items()} for c, m in value_lbls.items()
                }
                pyreadstat.write_dta(out, tmp, column_labels=labels, variable_value_labels=dta_lbls or None)
        os.replace(tmp, p)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{p}: cannot write ({_one_line(exc)})") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def as_frame(data: Any) -> pd.DataFrame:
    """Accept a pandas DataFrame, a polars DataFrame or anything ``pd.DataFrame`` takes."""
    if isinstance(data, pd.DataFrame):
        return data
    to_pandas = getattr(data, "to_pandas", None)
    if callable(to_pandas):
        return to_pandas()
    try:
        return pd.DataFrame(data)
    except Exception as exc:
        raise InputError(f"cannot use {type(data).__name__} as a data table: {_one_line(exc)}") from exc


def value_labels(df: pd.DataFrame, column: str) -> dict[Any, str]:
    """The ``{code: label}`` mapping of a column, or ``{}`` when it has none."""
    return dict(df.attrs.get("value_labels", {}).get(column, {}))


def variable_label(df: pd.DataFrame, column: str) -> str | None:
    """The variable label (question text) of a column, when the file had one."""
    return df.attrs.get("variable_labels", {}).get(column)


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], where: str | None = None) -> None:
    """Raise :class:`InputError` naming the first missing column and the file it was looked for in."""
    source = where or df.attrs.get("source") or "data"
    for col in columns:
        if col is not None and col not in df.columns:
            avail = ", ".join(map(str, list(df.columns)[:25]))
            more = " …" if len(df.columns) > 25 else ""
            raise InputError(f"{source}: column '{col}' not found; columns are: {avail}{more}")


def category_label(df: pd.DataFrame, column: str, code: Any) -> str | None:
    """The label of one code of ``column`` (``None`` when unlabelled)."""
    return value_labels(df, column).get(_clean_code(code))


def match_categories(
    df: pd.DataFrame,
    column: str,
    keys: Iterable[Any],
    *,
    where: str = "margins",
) -> dict[Any, Any]:
    """Map each category *name* (a code or a value label) to the code used in ``df[column]``.

    Matching is exact on the code first (``"1"`` matches ``1.0``), then on the value label
    (case-insensitive, surrounding spaces ignored). Raises :class:`InputError` for a name that
    matches nothing, naming the column, the name and the categories that exist.
    """
    series = df[column]
    present = pd.unique(series.dropna())
    lbls = value_labels(df, column)
    by_code = {_key(c): c for c in present}
    by_label: dict[str, Any] = {}
    for code, lab in lbls.items():
        by_label.setdefault(str(lab).strip().casefold(), code)
    out: dict[Any, Any] = {}
    for k in keys:
        kk = _key(k)
        if kk in by_code:
            out[k] = by_code[kk]
            continue
        lab = str(k).strip().casefold()
        if lab in by_label:
            code = by_label[lab]
            match = [c for c in present if _key(c) == _key(code)]
            out[k] = match[0] if match else code
            continue
        shown = ", ".join(
            f"{_fmt_code(c)} ({lbls[_clean_code(c)]})" if _clean_code(c) in lbls else _fmt_code(c)
            for c in sorted(present, key=lambda c: str(c))[:30]
        )
        raise InputError(f"{where}: category '{k}' of column '{column}' is not in the data; the data have: {shown}")
    return out


def _clean_code(code: Any) -> Any:
    """Normalise numeric codes: 1.0 -> 1 so labels and data agree."""
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return int(code)
    if isinstance(code, np.integer):
        return int(code)
    return code


def _key(code: Any) -> str:
    c = _clean_code(code)
    if isinstance(c, str):
        s = c.strip()
        try:
            f = float(s)
            if f.is_integer():
                return str(int(f))
        except ValueError:
            pass
        return s.casefold()
    return str(c)


def _fmt_code(code: Any) -> str:
    return str(_clean_code(code))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
