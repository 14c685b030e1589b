"""Excel and OpenDocument sheets through calamine: one reader for .xlsx, .xlsm, .xlsb, .xls and .ods.

python-calamine (Rust's calamine) reads legacy ``.xls`` as well as ``.xlsx`` and is about eight
times faster than openpyxl on the Chronicles files (bench/bench_io.py), with identical values.

Vendors also send sheets that are *not* respondent data: cross-tabulations ("Все опрошенные",
"Частота", "Процент"), chart data, frequency tables. Read naively they become a frame of
``Unnamed: 0…`` columns and numbers that look like answers. A sheet whose first row is not a row of
column names is refused here, naming what gave it away and the sheets that do look like data.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

# Cell texts that only statistical output has (frequency tables, cross-tabs), compared
# case-insensitively anywhere in the first rows ...
_STRONG_WORDS = frozenset((
    "все опрошенные", "частота", "частоты", "валидные", "валидный процент", "накопленный процент",
    "% по столбцу", "% по строке", "frequency", "valid percent", "cumulative percent", "column %",
    "row %", "all respondents",
))
# ... and words that also occur in data, counted only in the first column and the first row.
_WEAK_WORDS = frozenset((
    "всего", "итого", "процент", "число", "доля", "пропущенные", "total", "percent", "valid",
    "missing", "base", "n",
))
_SCAN_ROWS = 30


def sheet_names(path: Path) -> list[str]:
    """The names of the sheets of a workbook, in order."""
    return list(_open(path).sheet_names)


def read_sheet(path: Path, sheet: str | int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One sheet as a DataFrame (first row = column names) and notes on what was chosen.

    ``sheet`` is a sheet name or a 1-based position (``2`` = the second sheet); by default the
    first. A table of aggregates or an empty sheet raises :class:`InputError`.
    """
    wb = _open(path)
    names = list(wb.sheet_names)
    if not names:
        raise InputError(f"{path}: the workbook has no sheets")
    name = _pick(path, names, sheet)
    try:
        rows = wb.get_sheet_by_name(name).to_python()
    except Exception as exc:  # a damaged sheet
        raise InputError(f"{path}: cannot read sheet '{name}' ({_one_line(exc)})") from exc
    rows = _trim(rows)
    notes: list[str] = []
    if len(names) > 1:
        others = ", ".join(f"'{n}'" for n in names if n != name)
        notes.append(f"sheet '{name}' ({names.index(name) + 1} of {len(names)}; also {others}; choose with --sheet)")
    if not rows:
        raise InputError(f"{path}: sheet '{name}' is empty{_elsewhere(wb, names, name)}")
    why = aggregate_reason(rows)
    if why:
        raise InputError(
            f"{path}: sheet '{name}' is a table of aggregates, not one row per respondent ({why}); "
            f"sottovoce needs respondent-level data{_elsewhere(wb, names, name)}"
        )
    return _frame(rows), notes


def aggregate_reason(rows: list[list[Any]]) -> str | None:
    """Why these rows look like a table of aggregates rather than respondents (``None``: they don't).

    Respondent data have a first row of column names, all (or nearly all) filled in. Cross-tabs and
    frequency tables start with a title or blank cells above their row labels, and carry words like
    "Частота", "Все опрошенные" or "Cumulative percent" in their first rows.
    """
    header = rows[0]
    width = len(header)
    blank = sum(_is_blank(c) for c in header)
    top = rows[:_SCAN_ROWS]
    strong = _found(c for r in top for c in r) & _STRONG_WORDS
    weak = _found([*header, *(r[0] for r in top if r)]) & _WEAK_WORDS
    words = sorted(strong) + sorted(weak)
    said = f"; it holds {', '.join(repr(w) for w in words[:3])}" if words else ""
    if width >= 2 and blank / width > 0.3:
        return f"its first row is not a row of column names: {blank} of {width} cells are empty{said}"
    if _is_blank(header[0]) and words:
        return f"its first cell is empty{said}"
    if len(strong) >= 2:
        return f"it holds {', '.join(repr(w) for w in sorted(strong)[:3])}"
    return None


def _found(cells: Any) -> set[str]:
    out = set()
    for c in cells:
        if isinstance(c, str) and c.strip():
            t = " ".join(c.strip().casefold().split())
            out.add(t)
            if t.startswith(("n=", "(n=")):
                out.add("n")
    return out


def _open(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:
        raise InputError(f"{path}: cannot read as {path.suffix.lstrip('.')} workbook ({_one_line(exc)})") from exc


def _pick(path: Path, names: list[str], sheet: str | int | None) -> str:
    if sheet is None:
        return names[0]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    text = str(sheet).strip()
    folded = {n.strip().casefold(): n for n in names}
    if text.casefold() in folded:
        return folded[text.casefold()]
    if text.lstrip("-").isdigit():
        i = int(text)
        if 1 <= i <= len(names):
            return names[i - 1]
    listed = ", ".join(f"{i} '{n}'" for i, n in enumerate(names, 1))
    raise InputError(f"{path}: no sheet '{sheet}'; the sheets are {listed} (--sheet takes a name or a number from 1)")


def _elsewhere(wb: Any, names: list[str], this: str) -> str:
    """Name the other sheets that look like respondent data, if any."""
    good = []
    for n in names:
        if n == this:
            continue
        try:
            rows = _trim(wb.get_sheet_by_name(n).to_python(nrows=_SCAN_ROWS))
        except Exception:
            continue
        if rows and len(rows) > 1 and aggregate_reason(rows) is None:
            good.append(n)
    if good:
        return f"; sheets that look like respondent data: {', '.join(repr(n) for n in good)} (--sheet NAME)"
    return "; no sheet of this workbook looks like respondent data (use the .sav or the respondent file of this wave)"


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    """Drop trailing empty rows and columns (formatting beyond the data)."""
    while rows and all(_is_blank(c) for c in rows[-1]):
        rows = rows[:-1]
    if not rows:
        return rows
    full = max(len(r) for r in rows)
    width = full
    while width > 0 and all(len(r) < width or _is_blank(r[width - 1]) for r in rows):
        width -= 1
    if width == full and all(len(r) == full for r in rows):
        return rows
    return [list(r[:width]) + [""] * (width - len(r)) for r in rows]


def _is_blank(c: Any) -> bool:
    return c is None or (isinstance(c, str) and not c.strip())


def _frame(rows: list[list[Any]]) -> pd.DataFrame:
    names = _column_names(rows[0])
    body = np.empty((len(rows) - 1, len(names)), dtype=object)
    for i, r in enumerate(rows[1:]):
        body[i, :] = r
    data: dict[str, Any] = {}
    for j, name in enumerate(names):
        col = body[:, j]
        try:  # the common case, a column of codes: numpy converts it without a Python loop
            data[name] = col.astype("float64")
            continue
        except (ValueError, TypeError):
            pass
        number = np.fromiter((type(v) is float or type(v) is int for v in col), dtype=bool, count=len(col))
        data[name] = _column(col, number)
    return pd.DataFrame(data, index=pd.RangeIndex(len(body)))


def _column_names(header: list[Any]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for j, c in enumerate(header):
        if _is_blank(c):
            name = f"Unnamed: {j}"
        elif isinstance(c, float) and c.is_integer():
            name = str(int(c))
        else:
            name = str(c).strip()
        if name in seen:  # duplicated names get a suffix, as pandas does
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _column(col: np.ndarray, number: np.ndarray) -> Any:
    """Numbers become float64 (like SPSS columns), dates datetime64, text stays text; blanks are NaN."""
    blank = np.fromiter((v is None for v in col), dtype=bool, count=len(col))
    text = np.fromiter((type(v) is str for v in col), dtype=bool, count=len(col))
    if text.any():
        blank[text] = np.char.strip(col[text].astype(str)) == ""
    present = ~blank
    if not present.any():
        return np.full(len(col), np.nan)
    if (number | blank).all():
        x = np.full(len(col), np.nan)
        x[number] = col[number].astype("float64")
        return x
    vals = [None if b else v for v, b in zip(col, blank, strict=True)]
    kept = [v for v in vals if v is not None]
    if all(isinstance(v, (_dt.datetime, _dt.date)) for v in kept):
        return pd.to_datetime(pd.Series(vals, dtype="object"))
    if all(isinstance(v, bool) for v in kept):
        return np.array([np.nan if v is None else float(v) for v in vals], dtype="float64")
    # Text, or text mixed with numbers (a code typed into a text column): keep as text.
    return pd.array([None if v is None else _text(v) for v in vals], dtype="str")


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
