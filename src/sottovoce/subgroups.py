"""Subgroup estimation written once for every statistic (R's ``svyby``).

:func:`estimate_by` runs an estimator on each level of a grouping column as a *domain* of the
design (:meth:`sottovoce.survey.Survey.domain`: the estimate uses the level's respondents, the
variance keeps the whole design; Lumley 2010, §2.3). Every estimator in sottovoce gets its
``by=`` from here, so the rules are the same everywhere:

* levels are sorted and labelled with the data's value labels;
* a level without rows (an unused category) or whose respondents all have zero weight is
  dropped, and the returned notes say so;
* respondents with no value of the grouping column belong to no subgroup (said, too);
* a level with fewer than ``min_n`` respondents, or whose estimate fails (an impossible
  estimate, an arm without respondents, a model that does not converge), is returned as a
  *failed* result (``Result.failed`` = the reason) while the other levels and the overall
  estimate stand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._results import Result
from ._words import count_en, en_form
from .errors import InputError, SottovoceError
from .io import require_columns, value_labels

if TYPE_CHECKING:
    from .survey import Survey

__all__ = ["Level", "by_codes", "by_levels", "estimate_by"]


@dataclass(frozen=True)
class Level:
    """One subgroup: its code (as in the data), its label, its respondents and its rows
    (``mask``, computed on first use from the level's position ``index`` in ``codes``)."""

    code: Any
    label: str
    n: int
    index: int = -1
    codes: np.ndarray | None = field(default=None, repr=False, compare=False)

    @cached_property
    def mask(self) -> np.ndarray:
        """The level's rows (a boolean array over the design's rows)."""
        assert self.codes is not None
        return self.codes == self.index


def by_codes(svy: Survey, by: str) -> tuple[np.ndarray, list[Level], list[str]]:
    """The levels of ``by`` among the design's respondents, the level of each row (an index into
    the returned levels; −1 for none or a dropped level) and notes about dropped levels."""
    df = svy.data
    require_columns(df, [by])
    col = df[by]
    w = svy.weights
    pos = w > 0
    notes: list[str] = []
    miss = col.isna().to_numpy()
    if (miss & pos).any():
        k = int((miss & pos).sum())
        notes.append(f"{count_en(k, 'respondent')} with no value of '{by}' {en_form(k, 'belongs', 'belong')} to no subgroup")
    codes, uniques = _sorted_codes(col)
    labels = value_labels(df, by)
    valid = codes >= 0
    every = bool(valid.all())
    rows = np.bincount(codes if every else codes[valid], minlength=len(uniques))
    all_pos = bool(pos.all())
    counts = rows if every and all_pos else np.bincount(codes[valid & pos], minlength=len(uniques))
    kept: list[tuple[int, Any, str, int]] = []
    for j, raw in enumerate(uniques):
        code = clean_code(raw)
        label = labels.get(code)
        shown = f"{by}={code}" + (f" ({label})" if label is not None and str(label) != str(code) else "")
        if counts[j] == 0:
            everyone = "its one respondent has" if rows[j] == 1 else f"all {int(rows[j])} respondents have"
            notes.append(f"{shown}: {everyone} zero weight; level dropped")
            continue
        kept.append((j, code, str(label) if label is not None else str(code), int(counts[j])))
    if len(kept) == len(uniques):  # no level dropped: the codes are the levels' positions
        index = np.asarray(codes, dtype=np.int64)
    else:
        remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
        for i, (j, *_) in enumerate(kept):
            remap[j] = i
        index = remap[np.asarray(codes, dtype=np.int64)]  # a code of -1 picks the last entry, -1
    out = [Level(code, label, n, i, index) for i, (_, code, label, n) in enumerate(kept)]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = {clean_code(u) for u in uniques}
        for cat in col.cat.categories:
            if clean_code(cat) not in present:
                notes.append(f"{by}={clean_code(cat)}: no respondents; level dropped")
    return index, out, notes


def _sorted_codes(col: pd.Series) -> tuple[np.ndarray, Any]:
    """Codes of the sorted distinct values of ``col`` (−1 for a missing value), as
    ``pandas.factorize(sort=True)``; integer columns with a small range by counting, without
    hashing or sorting the rows."""
    if col.dtype.kind in "iu" and len(col):
        x = col.to_numpy()
        lo, hi = int(x.min()), int(x.max())
        if hi - lo <= 4 * len(x) + 1024:
            shifted = (x - lo).astype(np.intp, copy=False)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            keys = pd.Index(np.flatnonzero(present) + lo, dtype=x.dtype)
            if len(keys) == hi - lo + 1:  # every value in the range occurs: the shifted values are the codes
                return shifted, keys
            rank = np.cumsum(present) - 1
            return rank[shifted], keys
    try:
        return pd.factorize(col, sort=True)
    except TypeError:  # mixed types that do not sort
        return pd.factorize(col, sort=False)


def by_levels(svy: Survey, by: str) -> tuple[list[Level], list[str]]:
    """The levels of ``by`` among the design's respondents and notes about dropped levels."""
    _, levels, notes = by_codes(svy, by)
    return levels, notes


def estimate_by(
    svy: Survey,
    by: str,
    fit: Callable[[Survey, Level], Result] | None = None,
    *,
    min_n: int = 1,
    failure: Callable[[Level, str], Result] | None = None,
    fit_all: Callable[[np.ndarray, list[Level]], Sequence[Result | SottovoceError]] | None = None,
    known: tuple[np.ndarray, list[Level], list[str]] | None = None,
) -> tuple[tuple[Result, ...], tuple[str, ...]]:
    """One result per level of ``by``: ``fit(domain, level)`` on each level's domain.

    An estimator that can estimate every level in one pass gives ``fit_all(index, levels)``
    instead (``index``: the level of each row, −1 for none), returning one result — or the
    error that made the level fail — per level. ``known``: what :func:`by_codes` returned for
    this design and column, when the caller estimates many variables by the same column.

    Returns the group results (labelled with ``by``, ``level`` and ``label``; failed levels
    with ``failed`` set) and the notes to show with the overall result: dropped levels and each
    group's warnings, prefixed with the group.
    """
    if not isinstance(by, str):
        raise InputError(f"by={by!r} must be the name of a column, not a {type(by).__name__}")
    if (fit is None) == (fit_all is None):
        raise TypeError("estimate_by needs exactly one of fit and fit_all")
    index, levels, found = by_codes(svy, by) if known is None else known
    notes = list(found)
    fitted_by_index: dict[int, Result | SottovoceError] = {}
    if fit_all is not None:
        eligible = [lev for lev in levels if lev.n >= min_n]
        fitted_by_index = dict(zip((lev.index for lev in eligible), fit_all(index, eligible), strict=True))
    groups: list[Result] = []
    for lev in levels:
        where = f"{by}={lev.code}" + (f" ({lev.label})" if lev.label != str(lev.code) else "")
        reason = None
        res: Result | None = None
        if lev.n < min_n:
            reason = f"too few respondents ({lev.n}; at least {min_n} needed)"
        elif fit_all is not None:
            got = fitted_by_index[lev.index]
            if isinstance(got, SottovoceError):
                reason = str(got)
            else:
                res = got
        else:
            assert fit is not None
            try:
                res = fit(svy.domain(lev.mask), lev)
            except (SottovoceError, np.linalg.LinAlgError) as exc:
                reason = str(exc) if not isinstance(exc, np.linalg.LinAlgError) else f"the model cannot be fitted ({exc})"
        if res is None:
            assert reason is not None
            res = failure(lev, reason) if failure is not None else Result.failure(reason, n=lev.n)
            notes.append(f"{where}: not estimated: {reason}")
        else:
            notes.extend(w if w.startswith(f"{by}=") else f"{where}: {w}" for w in res.warnings)
        groups.append(res.with_(by=by, level=lev.code, label=lev.label))
    return tuple(groups), tuple(dict.fromkeys(notes))


def clean_code(code: Any) -> Any:
    """A code as users write it: 2.0 → 2, numpy scalars → Python numbers."""
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return int(code)
    if isinstance(code, np.integer):
        return int(code)
    if isinstance(code, np.generic):
        return code.item()
    return code
