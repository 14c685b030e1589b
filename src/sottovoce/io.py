"""Reading and writing survey data: CSV, TSV, Parquet, SPSS ``.sav``, Stata ``.dta`` and Excel.

Value labels are kept, not lost: columns keep their codes (``1``, ``2``, ``99``) and the labels
travel in ``df.attrs["value_labels"] = {column: {code: label}}`` (variable labels in
``df.attrs["variable_labels"]``). :func:`match_categories` lets a margin or a study file name a
category by its code *or* its label, so ``sex = 1`` labelled "male" matches a margin ``male``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
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
    "category_mask",
    "category_label",
    "label_matches",
    "suggest_columns",
]

READ_FORMATS = (
    ".csv", ".tsv", ".txt", ".parquet", ".sav", ".zsav", ".dta", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods",
)
WRITE_FORMATS = (".csv", ".tsv", ".parquet", ".sav", ".dta")
_SHEETS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def _ext(path: Path) -> str:
    return path.suffix.lower()


def read_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    labels: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read a data file into a DataFrame, keeping value and variable labels in ``df.attrs``.

    Supported by extension: ``.csv``, ``.tsv``/``.txt``, ``.parquet``, ``.sav``/``.zsav`` (SPSS),
    ``.dta`` (Stata) and spreadsheets ``.xlsx``/``.xlsm``/``.xlsb``/``.xls``/``.ods`` (first sheet
    unless ``sheet`` names one or gives its 1-based number). Pandas categorical columns (from
    Parquet) are converted to codes with labels so every format behaves the same way.

    Text files: the encoding (BOM, UTF-16, UTF-8, else cp1251 and kin), the separator and the
    decimal mark are detected unless given; what was read is in ``df.attrs["read_notes"]``.
    SPSS user-missing codes become NaN and are listed with their counts in
    ``df.attrs["missing_codes"]``. ``labels`` is a codebook (TOML, see :mod:`sottovoce.codebook`)
    that adds variable and value labels to files that have none, and turns answers stored as text
    labels into their codes.
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
    if sheet is not None and ext not in _SHEETS:
        raise InputError(f"{p}: --sheet applies to spreadsheets ({', '.join(_SHEETS)}), not '{ext}' files")
    if (encoding or sep or decimal) and ext not in (".csv", ".tsv", ".txt"):
        raise InputError(f"{p}: --encoding/--sep/--decimal apply to text files (.csv .tsv .txt), not '{ext}' files")
    value_lbls: dict[str, dict[Any, str]] = {}
    var_lbls: dict[str, str] = {}
    missing: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    try:
        if ext in (".csv", ".tsv", ".txt"):
            from ._delimited import read_delimited

            df, fmt = read_delimited(
                p, default_sep="," if ext == ".csv" else "\t", columns=list(columns) if columns else None,
                encoding=encoding, sep=sep, decimal=decimal,
            )
            if fmt.encoding not in ("utf-8", "ascii") or fmt.sep != ("," if ext == ".csv" else "\t") or fmt.decimal != ".":
                notes.append(f"read {p.name} as {fmt.note()}")
        elif ext == ".parquet":
            df = pd.read_parquet(p, columns=list(columns) if columns else None)
        elif ext in _SHEETS:
            from ._spreadsheet import read_sheet

            df, sheet_notes = read_sheet(p, sheet)
            notes.extend(f"read {p.name}: {n}" for n in sheet_notes)
            if columns:
                require_columns(df, columns, where=str(p))
                df = df[list(columns)]
        else:
            import pyreadstat

            if ext == ".dta":
                df, meta = pyreadstat.read_dta(str(p), usecols=list(columns) if columns else None)
            else:
                df, meta = pyreadstat.read_sav(str(p), usecols=list(columns) if columns else None, user_missing=True)
                missing = _drop_user_missing(df, meta.missing_ranges or {})
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
    df.attrs["missing_codes"] = missing
    df.attrs["read_notes"] = notes
    df.attrs["source"] = str(p)
    if labels is not None:
        from .codebook import apply_labels

        apply_labels(df, labels)
    for key in ("value_labels", "variable_labels", "missing_codes"):
        df.attrs[key] = SharedLabels(df.attrs[key])
    return df


class SharedLabels(dict):  # type: ignore[type-arg]
    """Labels shared by a frame and the frames pandas derives from it, not deep-copied each time.

    pandas deep-copies ``df.attrs`` on every operation (``df[col]``, a mask, a copy); with the
    labels of a 150-column SPSS file that is ~60 ms per column access and made estimating one
    question ten times slower than it needs to be. Treat the labels as read-only: build a new
    mapping to change them (as :func:`sottovoce.codebook.apply_labels` does).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedLabels:
        return self


def _drop_user_missing(df: pd.DataFrame, ranges: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Set SPSS user-missing codes to NaN (as SPSS treats them) and count them per column."""
    out: dict[str, dict[str, Any]] = {}
    for col, spans in ranges.items():
        if col not in df.columns or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        x = df[col]
        hit = np.zeros(len(df), dtype=bool)
        codes: list[Any] = []
        for span in spans:
            if not isinstance(span, Mapping):
                continue
            lo, hi = span.get("lo"), span.get("hi")
            if lo is None or hi is None:
                continue
            hit |= ((x >= lo) & (x <= hi)).to_numpy()
            codes.append(_clean_code(lo) if lo == hi else [_clean_code(lo), _clean_code(hi)])
        out[col] = {"codes": codes, "count": int(hit.sum())}
        if hit.any():
            df[col] = x.mask(hit)
    return out


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
    if isinstance(data, (str, os.PathLike)):
        raise InputError(f"data={str(data)!r} is a file name, not a table: read it first, e.g. sv.read_table({str(data)!r})")
    if data is None or isinstance(data, (int, float)):
        raise InputError(f"data={data!r}: give a table (a pandas or polars DataFrame) or a Survey")
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
    """Raise :class:`InputError` naming the first missing column, the file, and what was meant.

    The message suggests the closest column names (difflib, case-insensitive) and the columns whose
    variable or value labels mention the name, so ``--var support`` points at the question.
    """
    source = where or df.attrs.get("source") or "data"
    for col in columns:
        if col is not None and col not in df.columns:
            raise InputError(f"{source}: column '{col}' not found; {suggest_columns(df, str(col))}")


def suggest_columns(df: pd.DataFrame, name: str, limit: int = 5) -> str:
    """A short phrase naming the columns a user probably meant by ``name``."""
    import difflib

    names = [str(c) for c in df.columns]
    folded: dict[str, list[str]] = {}
    for c in names:
        folded.setdefault(_norm(c), []).append(c)
    close: list[str] = list(folded.get(_norm(name), []))
    for hit in difflib.get_close_matches(_norm(name), list(folded), n=limit, cutoff=0.6):
        close.extend(c for c in folded[hit] if c not in close)
    by_label = [c for c in label_matches(df, name) if c not in close]
    parts = []
    if close:
        parts.append(f"did you mean {', '.join(close[:limit])}?")
    if by_label:
        more = f" (+{len(by_label) - limit} more)" if len(by_label) > limit else ""
        parts.append(f"columns whose labels mention '{name}': {', '.join(by_label[:limit])}{more}")
    if not parts:
        head = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        parts.append(f"the data have {len(names)} columns ({head})")
    src = df.attrs.get("source")
    hint = f"; list them with: sottovoce describe {src} --find TEXT" if src else ""
    return "; ".join(parts) + hint


def label_matches(df: pd.DataFrame, text: str) -> list[str]:
    """Columns whose variable label or value labels contain every word of ``text`` (case- and ё-insensitive)."""
    words = _norm(text).split()
    if not words:
        return []
    var_lbls = df.attrs.get("variable_labels", {})
    val_lbls = df.attrs.get("value_labels", {})
    out = []
    for c in df.columns:
        hay = _norm(" ".join([str(var_lbls.get(c, "")), *map(str, val_lbls.get(c, {}).values())]))
        if hay.strip() and all(w in hay for w in words):
            out.append(str(c))
    return out


def category_label(df: pd.DataFrame, column: str, code: Any) -> str | None:
    """The label of one code of ``column`` (``None`` when unlabelled)."""
    return value_labels(df, column).get(_clean_code(code))


def match_categories(
    df: pd.DataFrame,
    column: str,
    keys: Iterable[Any],
    *,
    where: str = "margins",
    strict: bool = True,
) -> dict[Any, Any]:
    """Map each category *name* (a code or a value label) to the value used in ``df[column]``.

    A name matches a code present in the data (``"1"`` matches ``1.0``), or a value label whose
    code is present, or — for answers stored as text labels, as some vendors deliver them — the
    text itself, also when the name is the *code* of that label. Text is compared ignoring case,
    surrounding and repeated spaces and ё/е. A name that matches nothing raises
    :class:`InputError` naming the column and the categories that exist (with ``strict=False`` it is
    left out of the result instead).
    """
    series = df[column]
    present = pd.unique(series.dropna())
    lbls = value_labels(df, column)
    by_code = {_key(c): c for c in present}
    by_label: dict[str, Any] = {}
    for code, lab in lbls.items():
        by_label.setdefault(_key(str(lab)), code)
    out: dict[Any, Any] = {}
    for k in keys:
        kk = _key(k)
        if kk in by_code:
            out[k] = by_code[kk]
            continue
        if kk in by_label:  # a label whose code is in the data
            code = by_label[kk]
            if _key(code) in by_code:
                out[k] = by_code[_key(code)]
                continue
        text = next((v for c, v in lbls.items() if _key(c) == kk), None)
        if text is not None and _key(text) in by_code:  # a code whose label is stored as text
            out[k] = by_code[_key(text)]
            continue
        if not strict:
            continue
        shown = ", ".join(
            f"{_fmt_code(c)} ({lbls[_clean_code(c)]})" if _clean_code(c) in lbls else _fmt_code(c)
            for c in sorted(present, key=lambda c: str(c))[:30]
        )
        hint = ""
        if kk.lstrip("-").isdigit() and any(isinstance(c, str) for c in present):
            hint = (
                "; this column stores answers as text: name the category by its text, or give a codebook "
                "(--labels) that maps codes to these texts"
            )
        raise InputError(f"{where}: category '{k}' of column '{column}' is not in the data; the data have: {shown}{hint}")
    return out


def category_mask(df: pd.DataFrame, column: str, keys: Iterable[Any]) -> np.ndarray:
    """Boolean mask of the rows whose ``column`` is one of ``keys`` (codes or labels, matched as in
    :func:`match_categories`); names absent from the data select nobody."""
    hit = match_categories(df, column, list(keys), strict=False)
    return df[column].isin(list(hit.values())).to_numpy()


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
        return _norm(s)
    return str(c)


# Latin letters that look like Cyrillic ones: vendors' files mix them ("Дa" with a Latin a).
_LOOKALIKES = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "ё": "е"})


def _norm(text: Any) -> str:
    """Text for matching: case-folded, ё as е, Latin look-alikes as Cyrillic, runs of spaces as one."""
    t = " ".join(str(text).casefold().split())
    # Fold look-alikes only in words that contain Cyrillic, so Latin words and codes stay as typed.
    return " ".join(w.translate(_LOOKALIKES) if _has_cyrillic(w) else w.replace("ё", "е") for w in t.split(" "))


def _has_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


def _fmt_code(code: Any) -> str:
    return str(_clean_code(code))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
