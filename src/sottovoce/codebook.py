"""What is in a data file: a codebook of its variables, and codebooks for files that have none.

:func:`describe` lists every variable of a file (or a DataFrame) with its label, type, number of
distinct values, the value labels with their counts (weighted when a weight column is named), SPSS
user-missing codes, and the columns that look like survey weights. ``find`` keeps the variables
whose name, question text or answer labels contain the words searched for (case-, ё- and
space-insensitive, Cyrillic or Latin), which is how one finds "the war-support question" in a
vendor's file of 239 columns.

Vendors often deliver bare codes (``Q21 = 1, 2, 99, 100``) and the questionnaire as a PDF. A
*labels file* (TOML) written from the questionnaire gives such a file its labels::

    source = "wave-12-questionnaire-en.pdf, Question 21"   # optional, free text

    [Q21]
    label = "Do you support or not support Russia's military operation in Ukraine?"
    values = { 1 = "Yes, I support it", 2 = "No, I do not support it", 99 = "Difficult to answer", 100 = "Refusal" }

Pass it as ``read_table(path, labels=...)`` or ``--labels`` on any command. A column whose answers
are stored as text labels ("Да, поддерживаю") is turned into the codes of the labels file, so a
wave delivered with text answers matches the codes of the others.
"""

from __future__ import annotations

import html
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._words import count_en
from .errors import InputError
from .io import _clean_code, _key, _norm, as_frame, read_table, require_columns

__all__ = ["describe", "Codebook", "Variable", "ValueCount", "WeightCandidate", "load_labels", "apply_labels"]

# A column with at most this many distinct values is listed value by value.
MAX_LISTED = 30
_WEIGHT_NAMES = ("weight", "wes_", "wes", "вес", "wt", "wgt", "pond", "gewicht", "peso", "poids")


@dataclass(frozen=True)
class ValueCount:
    """One value of a variable: its code, label, count and (weighted) share of answers."""

    code: Any
    label: str | None
    count: int
    weighted: float | None = None
    share: float | None = None  # of non-missing answers; weighted when a weight was named
    missing_code: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": _json_code(self.code), "label": self.label, "count": self.count,
            "weighted": _json_num(self.weighted), "share": _json_num(self.share),
            "missing_code": self.missing_code,
        }


@dataclass(frozen=True)
class Variable:
    """One column of the file, as a codebook entry."""

    name: str
    label: str | None
    kind: str  # "labelled", "codes", "text", "open text", "number", "date", "empty"
    n: int  # answers (non-missing)
    missing: int
    distinct: int
    values: tuple[ValueCount, ...] = ()
    missing_codes: tuple[Any, ...] = ()
    stats: Mapping[str, float] = field(default_factory=dict)  # min/mean/max for numbers
    matched: tuple[str, ...] = ()  # with find: where the words were found ("name", "label", "values")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "kind": self.kind, "n": self.n,
            "missing": self.missing, "distinct": self.distinct,
            "values": [v.to_dict() for v in self.values],
            "missing_codes": [_json_code(c) for c in self.missing_codes],
            "stats": {k: _json_num(v) for k, v in self.stats.items()},
            "matched": list(self.matched),
        }


@dataclass(frozen=True)
class WeightCandidate:
    """A column that looks like a survey weight, and why."""

    name: str
    reason: str
    mean: float
    total: float
    zeros: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "mean": self.mean, "sum": self.total, "zeros": self.zeros}


@dataclass(frozen=True)
class Codebook:
    """The codebook of one data file (see :func:`describe`)."""

    source: str
    rows: int
    columns: int
    variables: tuple[Variable, ...]
    weights: tuple[WeightCandidate, ...] = ()
    weighted_by: str | None = None
    find: str | None = None
    notes: tuple[str, ...] = ()
    method: str = "codebook"

    def __getitem__(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "source": self.source, "rows": self.rows, "columns": self.columns,
            "find": self.find, "weighted_by": self.weighted_by,
            "likely_weights": [w.to_dict() for w in self.weights],
            "notes": list(self.notes),
            "variables": [v.to_dict() for v in self.variables],
        }

    def summary(self) -> str:
        """A plain-text codebook (what ``print`` shows)."""
        lines = [self._headline()]
        lines += [f"  note: {n}" for n in self.notes]
        for w in self.weights:
            lines.append(f"  likely weight: {w.name} — {w.reason}")
        if self.find is not None and not self.variables:
            lines.append(f"  no variable matches '{self.find}'")
        for v in self.variables:
            lines.append("")
            lines.append(f"{v.name}  [{v.kind}; {count_en(v.n, 'answer')}, {v.missing} missing, {v.distinct} distinct]")
            if v.label:
                lines.append(f"  {v.label}")
            for line in _value_lines(v, self.weighted_by is not None):
                lines.append(f"    {line}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _headline(self) -> str:
        what = f"{self.source}: {count_en(self.rows, 'row')}, {count_en(self.columns, 'column')}"
        if self.find is not None:
            what += f"; {len(self.variables)} match '{self.find}'"
        if self.weighted_by:
            what += f"; shares weighted by {self.weighted_by} (n unweighted)"
        return what

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for v in self.variables:
            vals = "<br>".join(esc(x) for x in _value_lines(v, self.weighted_by is not None))
            rows.append(
                f"<tr><td><code>{esc(v.name)}</code></td><td>{esc(v.label or '')}</td><td>{esc(v.kind)}</td>"
                f"<td style='text-align:right'>{v.n}</td><td style='text-align:right'>{v.missing}</td>"
                f"<td style='text-align:left'>{vals}</td></tr>"
            )
        extra = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        extra += "".join(f"<li>likely weight <code>{esc(w.name)}</code>: {esc(w.reason)}</li>" for w in self.weights)
        return (
            f"<div><p><b>{esc(self._headline())}</b></p>"
            + (f"<ul>{extra}</ul>" if extra else "")
            + "<table><thead><tr><th>name</th><th>label</th><th>type</th><th>answers</th><th>missing</th>"
            "<th>values</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
        )


def describe(
    data: Any,
    *,
    find: str | None = None,
    weights: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    labels: str | os.PathLike[str] | None = None,
) -> Codebook:
    """The codebook of a data file or DataFrame: variables, labels, values with counts, weights.

    ``find`` keeps the variables whose name, variable label or value labels (for text columns:
    their answers) contain every word of ``find``. ``weights`` names a weight column: counts are
    then also given as weighted totals and shares. The reading options are those of
    :func:`sottovoce.read_table`.
    """
    if isinstance(data, (str, os.PathLike)):
        df = read_table(data, sheet=sheet, encoding=encoding, sep=sep, decimal=decimal, labels=labels)
    else:
        df = as_frame(data)
        if labels is not None:
            df = df.copy()
            df.attrs = dict(getattr(data, "attrs", {}))
            apply_labels(df, labels)
    source = str(df.attrs.get("source") or "data")
    w: np.ndarray | None = None
    if weights is not None:
        require_columns(df, [weights])
        w = pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype="float64")
        if np.isnan(w).any() or (w < 0).any():
            raise InputError(f"{source}: weight column '{weights}' has missing or negative values")
    words = _norm(find).split() if find is not None else []
    var_lbls = df.attrs.get("variable_labels", {})
    val_lbls = df.attrs.get("value_labels", {})
    missing_codes = df.attrs.get("missing_codes", {})
    notes = tuple(df.attrs.get("read_notes", ()))
    # pandas deep-copies attrs (all the labels) on every column operation: work without them.
    df = df.copy(deep=False)
    df.attrs = {}
    out = []
    for col in df.columns:
        name = str(col)
        s = df[col]
        lbls = val_lbls.get(col, {})
        label = var_lbls.get(col)
        matched: tuple[str, ...] = ()
        if words:
            matched = _matches(words, name, label, lbls, s)
            if not matched:
                continue
        out.append(_variable(name, s, label, lbls, missing_codes.get(col, {}), w, matched))
    return Codebook(
        source=source, rows=len(df), columns=df.shape[1], variables=tuple(out),
        weights=tuple(likely_weights(df)), weighted_by=weights, find=find,
        notes=notes,
    )


def likely_weights(df: pd.DataFrame) -> list[WeightCandidate]:
    """Columns that look like survey weights: non-integer, non-negative numbers with many distinct
    values whose mean is about 1 or whose sum is a population (with a weight-like name)."""
    out = []
    n = len(df)
    df = df.copy(deep=False)
    df.attrs = {}
    for col in df.columns:
        s = df[col]
        if n == 0 or not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(x).mean() > 0.01:
            continue
        x = x[~np.isnan(x)]
        if len(x) == 0 or (x < 0).any() or (x == 0).mean() > 0.05 or np.all(x == np.round(x)):
            continue
        if len(np.unique(x)) < 3:
            continue
        named = any(t in str(col).casefold() for t in _WEIGHT_NAMES)
        mean, total = float(x.mean()), float(x.sum())
        zeros = int((x == 0).sum())
        if abs(mean - 1) <= 0.05:
            why = f"mean {mean:.3f}, sum {total:,.1f} over {len(x)} rows"
        elif named and mean > 50:
            why = f"sums to {total:,.0f} (a population?), mean {mean:,.1f}"
        elif named and 0.5 <= mean <= 2:
            why = f"weight-like name; mean {mean:.3f}, sum {total:,.1f}"
        else:
            continue
        if named:
            why = f"name '{col}'; " + why
        if zeros:
            why += f"; {zeros} zero weights (respondents excluded)"
        out.append(WeightCandidate(str(col), why, mean, total, zeros))
    out.sort(key=lambda c: (not any(t in c.name.casefold() for t in _WEIGHT_NAMES), abs(c.mean - 1)))
    return out


# -- labels files -----------------------------------------------------------------------------

def load_labels(path: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Read a labels file: ``{column: {"label": str | None, "values": {code: label}}}``."""
    where = "labels" if isinstance(path, Mapping) else str(path)
    if isinstance(path, Mapping):
        doc: Mapping[str, Any] = path
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(f"{p}: labels file not found")
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: not a valid TOML labels file ({exc})") from exc
    out: dict[str, dict[str, Any]] = {}
    for col, spec in doc.items():
        if not isinstance(spec, Mapping):
            continue  # top-level metadata such as source = "..."
        unknown = set(spec) - {"label", "values"}
        if unknown:
            raise InputError(f"{where}: [{col}] has unknown keys {sorted(unknown)}; use label and values")
        label = spec.get("label")
        if label is not None and not isinstance(label, str):
            raise InputError(f"{where}: [{col}] label must be a string")
        values = spec.get("values", {})
        if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
            raise InputError(f"{where}: [{col}] values must be a table of code = \"label\"")
        out[str(col)] = {"label": label, "values": {_code_of(k): v for k, v in values.items()}}
    if not out:
        raise InputError(f"{where}: no [column] tables; see `sottovoce describe --help` for the format")
    return out


def apply_labels(df: pd.DataFrame, labels: str | os.PathLike[str] | Mapping[str, Any]) -> pd.DataFrame:
    """Add a labels file's variable and value labels to ``df`` (in place; also returned).

    A column whose answers are text equal to the labels (ignoring case, spaces and ё/е) is
    replaced by the codes, so text-label files behave like coded ones. A column the file names
    but the data lack, or a text answer with no label, raises :class:`InputError`.
    """
    spec = load_labels(labels)
    where = "labels" if isinstance(labels, Mapping) else str(labels)
    require_columns(df, list(spec), where=f"{where} (for {df.attrs.get('source') or 'data'})")
    var_lbls = dict(df.attrs.get("variable_labels", {}))
    val_lbls = {k: dict(v) for k, v in df.attrs.get("value_labels", {}).items()}
    for col, entry in spec.items():
        if entry["label"]:
            var_lbls[col] = entry["label"]
        values: dict[Any, str] = entry["values"]
        if not values:
            continue
        s = df[col]
        if not pd.api.types.is_numeric_dtype(s):
            by_text = {_key(lab): code for code, lab in values.items()}
            texts = pd.unique(s.dropna())
            unknown = [t for t in texts if _key(t) not in by_text and _key(t) not in {_key(c) for c in values}]
            if unknown:
                shown = ", ".join(repr(str(t)) for t in unknown[:5])
                raise InputError(
                    f"{where}: column '{col}' has answers that no label of the labels file matches: {shown}; "
                    "add them under values"
                )
            mapping = {t: float(by_text.get(_key(t), _code_of(t))) for t in texts}
            df[col] = s.map(mapping).astype("float64")
        val_lbls[col] = {**val_lbls.get(col, {}), **values}
    df.attrs["variable_labels"] = var_lbls
    df.attrs["value_labels"] = val_lbls
    return df


def _code_of(key: Any) -> Any:
    text = str(key).strip()
    try:
        f = float(text)
    except ValueError:
        return text
    return _clean_code(f)


# -- building entries ---------------------------------------------------------------------------

def _matches(words: list[str], name: str, label: str | None, lbls: Mapping[Any, str], s: pd.Series) -> tuple[str, ...]:
    fields = {"name": _norm(name), "label": _norm(label or "")}
    vals = " | ".join(map(str, lbls.values()))
    if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s):
        uniq = pd.unique(s.dropna())
        if len(uniq) <= MAX_LISTED:  # answers stored as text are labels; open answers are not searched
            vals += " | " + " | ".join(map(str, uniq))
    fields["values"] = _norm(vals)
    everything = " ".join(fields.values())
    if not all(w in everything for w in words):
        return ()
    return tuple(k for k, v in fields.items() if any(w in v for w in words))


def _variable(
    name: str, s: pd.Series, label: str | None, lbls: Mapping[Any, str], miss: Mapping[str, Any],
    w: np.ndarray | None, matched: tuple[str, ...],
) -> Variable:
    present = s.notna().to_numpy()
    n, missing = int(present.sum()), int((~present).sum())
    mcodes = tuple(miss.get("codes", ()))
    if n == 0:
        return Variable(name, label, "empty", 0, missing, 0, missing_codes=mcodes, matched=matched)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s.dropna()
        span = {"min": float(d.min().timestamp()), "max": float(d.max().timestamp())}
        return Variable(name, label, "date", n, missing, int(d.nunique()), stats=span, matched=matched)
    raw = s[present].to_numpy(dtype="float64") if numeric else s[present].astype(str).to_numpy()
    codes, inverse = np.unique(raw, return_inverse=True)
    distinct = len(codes)
    listed = bool(lbls) or distinct <= (MAX_LISTED if not numeric else 12)
    if numeric and not lbls and not np.all(codes == np.round(codes)):
        listed = False
    stats: dict[str, float] = {}
    if numeric:
        x = s[present].to_numpy(dtype="float64")
        stats = {"min": float(x.min()), "mean": float(x.mean()), "max": float(x.max())}
    if not listed:
        kind = "number" if numeric else "open text"
        return Variable(name, label, kind, n, missing, distinct, missing_codes=mcodes, stats=stats, matched=matched)
    counts = np.bincount(inverse, minlength=distinct)
    wsum = np.bincount(inverse, weights=w[present], minlength=distinct) if w is not None else None
    base = float(wsum.sum()) if wsum is not None else float(n)
    by_key: dict[str, int] = {_key(_clean_code(c)): i for i, c in enumerate(codes)}
    values: list[ValueCount] = []
    seen: set[str] = set()
    for code, lab in lbls.items():  # labelled codes first, in the file's order, with zero counts too
        k = _key(code)
        i = by_key.get(k)
        seen.add(k)
        c = int(counts[i]) if i is not None else 0
        wt = float(wsum[i]) if (wsum is not None and i is not None) else (0.0 if wsum is not None else None)
        share = (wt if wt is not None else c) / base if base > 0 else None
        values.append(ValueCount(_clean_code(code), str(lab), c, wt, share, _is_missing_code(code, mcodes)))
    for i, code in enumerate(codes):
        code = _clean_code(code)
        if _key(code) in seen:
            continue
        wt = float(wsum[i]) if wsum is not None else None
        share = (wt if wt is not None else int(counts[i])) / base if base > 0 else None
        values.append(ValueCount(code, None, int(counts[i]), wt, share))
    kind = "labelled" if lbls else ("codes" if numeric else "text")
    return Variable(name, label, kind, n, missing, distinct, tuple(values), mcodes, stats, matched)


def _is_missing_code(code: Any, mcodes: tuple[Any, ...]) -> bool:
    c = _clean_code(code)
    for m in mcodes:
        if isinstance(m, list) and len(m) == 2:
            try:
                if m[0] <= c <= m[1]:
                    return True
            except TypeError:
                continue
        elif _key(m) == _key(c):
            return True
    return False


def _value_lines(v: Variable, weighted: bool) -> list[str]:
    """One line per value: code, share of answers (weighted if a weight was named), count, label."""
    lines = []
    for vc in v.values:
        lab = f"  {vc.label}" if vc.label else ""
        miss = " [missing code]" if vc.missing_code else ""
        unl = "  (no label)" if vc.label is None and v.kind == "labelled" else ""
        share = f"{100 * vc.share:5.1f}%" if vc.share is not None else "     "
        lines.append(f"{_fmt(vc.code):>4} {share} n={vc.count}{lab}{unl}{miss}")
    if v.missing_codes and not any(vc.missing_code for vc in v.values):
        lines.append(f"missing codes {', '.join(map(_fmt, v.missing_codes))} (set to missing)")
    if v.stats and not v.values:
        if v.kind == "date":
            lo = pd.Timestamp(v.stats["min"], unit="s").date()
            hi = pd.Timestamp(v.stats["max"], unit="s").date()
            lines.append(f"from {lo} to {hi}")
        else:
            lines.append(f"min {v.stats['min']:,.4g}, mean {v.stats['mean']:,.4g}, max {v.stats['max']:,.4g}")
    elif v.kind == "open text":
        lines.append(f"{v.distinct} different answers")
    return lines


def _fmt(code: Any) -> str:
    if isinstance(code, list):
        return "–".join(_fmt(c) for c in code)
    return str(_clean_code(code))


def _json_code(code: Any) -> Any:
    c = _clean_code(code)
    if isinstance(c, float) and not math.isfinite(c):
        return None
    if isinstance(c, (np.floating,)):
        return float(c)
    if isinstance(c, list):
        return [_json_code(x) for x in c]
    return c


def _json_num(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)
