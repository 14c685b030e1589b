"""Population margins for weighting: reading them from TOML and checking that they make sense.

A margins file has one table per weighting column; each key is a category (its code or its value
label) and each value is the population share, or a population count::

    [sex]
    male = 0.462
    female = 0.538

Shares are normalised to sum to exactly 1 (published tables are rounded). A table of counts (values
of at least 1 that sum to more than 1.5) is accepted, normalised, and remembered as counts so that
raking can scale the weights to the population total.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["Margins", "load_margins"]

# Published shares are rounded: 0.17 + 0.29 + 0.25 + 0.29 may give 0.999 or 1.001.
SHARE_TOLERANCE = 0.01
# Counts differing across tables by more than this (relative) are two different populations.
COUNT_TOLERANCE = 0.01


class Margins(dict[str, dict[Any, float]]):
    """``{column: {category: share}}`` with shares summing to 1 in every table.

    Attributes
    ----------
    source : where the margins came from (a file name, or ``"margins"``), used in error messages.
    counts : ``{column: population total}`` for the tables that were given as counts.
    """

    source: str
    counts: dict[str, float]

    def __init__(self, tables: Mapping[str, dict[Any, float]] | None = None, *, source: str = "margins",
                 counts: Mapping[str, float] | None = None) -> None:
        super().__init__(tables or {})
        self.source = source
        self.counts = dict(counts or {})

    @property
    def population_total(self) -> float | None:
        """The population size when any table was given as counts (their mean), else ``None``."""
        if not self.counts:
            return None
        return sum(self.counts.values()) / len(self.counts)

    def __reduce__(self):  # type: ignore[no-untyped-def]  # keep attributes when pickled/copied
        return (_rebuild, (dict(self), self.source, self.counts))


def _rebuild(tables: dict[str, dict[Any, float]], source: str, counts: dict[str, float]) -> Margins:
    return Margins(tables, source=source, counts=counts)


def load_margins(path_or_mapping: str | os.PathLike[str] | Mapping[str, Mapping[Any, Any]]) -> Margins:
    """Read population margins from a TOML file (or check a mapping) and normalise them.

    Returns a :class:`Margins` (a dict ``{column: {category: share}}``). Raises
    :class:`~sottovoce.errors.InputError` naming the file, the table and the fix when a table is
    empty, holds a non-numeric or negative value, or holds shares that do not sum to 1.
    """
    if isinstance(path_or_mapping, Margins):
        return path_or_mapping
    if hasattr(path_or_mapping, "to_pandas") or type(path_or_mapping).__name__ == "DataFrame":
        path_or_mapping = _from_frame(path_or_mapping)
    if not isinstance(path_or_mapping, (Mapping, str, os.PathLike)):
        raise InputError(
            f"margins={type(path_or_mapping).__name__}: give a TOML file, a mapping {{column: {{category: share}}}} "
            "or a long table with columns variable, category, share"
        )
    if isinstance(path_or_mapping, Mapping):
        raw: Mapping[str, Any] = path_or_mapping
        source = "margins"
    else:
        p = Path(path_or_mapping)
        source = str(p)
        if not p.exists():
            raise InputError(f"{p}: margins file not found")
        if p.is_dir():
            raise InputError(f"{p}: is a directory, not a margins file")
        try:
            with p.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{p}: not a valid TOML margins file ({str(exc).splitlines()[0]})") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: not a valid TOML margins file (not UTF-8 text)") from exc
    if not raw:
        raise InputError(f"{source}: no margins; add one table per weighting column, e.g. [sex] male = 0.46 female = 0.54")
    tables: dict[str, dict[Any, float]] = {}
    counts: dict[str, float] = {}
    for column, table in raw.items():
        if not isinstance(table, Mapping):
            raise InputError(
                f"{source}: '{column}' must be a table of category = share (e.g. [{column}] then one line per category), not a single value"
            )
        shares, total = normalise_table(table, source=source, table=str(column))
        tables[str(column)] = shares
        if total is not None:
            counts[str(column)] = total
    if len(counts) > 1:
        lo, hi = min(counts.values()), max(counts.values())
        if hi - lo > COUNT_TOLERANCE * hi:
            detail = ", ".join(f"[{c}] {t:,.0f}" for c, t in counts.items())
            raise InputError(
                f"{source}: the tables given as counts describe populations of different sizes ({detail}); "
                "use counts from one population or give shares"
            )
    return Margins(tables, source=source, counts=counts)


def normalise_table(values: Mapping[Any, Any], *, source: str, table: str) -> tuple[dict[Any, float], float | None]:
    """Check one table of shares or counts; return ``(shares, total)``, ``total=None`` for shares."""
    if len(values) == 0:
        raise InputError(f"{source}: table [{table}] is empty; list its categories with their population shares")
    out: dict[Any, float] = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                number = float(value)  # numpy scalars, strings of numbers from a mapping
            except (TypeError, ValueError):
                raise InputError(
                    f"{source}: [{table}] {key} = {value!r} is not a number; give the population share (e.g. 0.25) or count"
                ) from None
        else:
            number = float(value)
        if not math.isfinite(number) or number < 0:
            raise InputError(f"{source}: [{table}] {key} = {value!r}; shares and counts must be finite and >= 0")
        out[key] = number
    total = sum(out.values())
    if total <= 0:
        raise InputError(f"{source}: table [{table}] sums to 0; give positive population shares")
    looks_like_counts = total > 1.5 and any(v >= 1 for v in out.values())
    if not looks_like_counts and abs(total - 1) > SHARE_TOLERANCE:
        raise InputError(
            f"{source}: shares in table [{table}] sum to {total:.4g}, not 1; fix the shares "
            "(or give population counts, which are normalised)"
        )
    shares = {k: v / total for k, v in out.items()}
    return shares, (total if looks_like_counts else None)


def _from_frame(frame: Any) -> dict[str, dict[Any, Any]]:
    """A long table of margins (columns ``variable``, ``category``, ``share``) as a mapping."""
    df = frame.to_pandas() if hasattr(frame, "to_pandas") else frame
    cols = [str(c).lower() for c in df.columns]
    value = "share" if "share" in cols else "target" if "target" in cols else None
    if "variable" not in cols or "category" not in cols or value is None:
        raise InputError(
            f"margins given as a table need columns variable, category and share (it has {', '.join(map(str, df.columns))}); "
            "or give a TOML file or a mapping {column: {category: share}}"
        )
    names = dict(zip(cols, df.columns, strict=True))
    out: dict[str, dict[Any, Any]] = {}
    for var, cat, val in zip(df[names["variable"]], df[names["category"]], df[names[value]], strict=True):
        out.setdefault(str(var), {})[cat] = val
    return out
