"""Survey weighting: raking, post-stratification, trimming and weight diagnostics.

Raking is iterative proportional fitting (Deming & Stephan 1940): the weights are multiplied, one
margin after another, by target/achieved for each category until every margin matches. Its limit
is the calibration estimator with the multiplicative (raking) distance of Deville & Särndal (1992),
the same fixed point as R's ``survey::rake`` (Lumley 2010, ch. 7). Respondents who share all
weighting categories get the same adjustment, so we collapse them into cells once, iterate on cell
totals, and map the factors back once: a million rows cost about one pass over the columns.

Trimming follows the cap-and-redistribute scheme of Potter (1990) alternated with raking, as in the
"IPF with trimming" of Battaglia, Hoaglin & Frankel (2009, *Survey Practice*).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from ._results import Result
from ._words import count_en, en_form
from .errors import ConvergenceError, InputError
from .io import _key as _io_key  # the same code normalisation as match_categories
from .io import as_frame, category_label, match_categories, require_columns
from .margins import Margins, load_margins, normalise_table
from .validate import check_number

if TYPE_CHECKING:
    from .display import Display

__all__ = [
    "Margins",
    "load_margins",
    "rake",
    "poststratify",
    "trim",
    "kish_deff",
    "effective_n",
    "diagnostics",
    "weight_report",
    "WeightReport",
]

# Above this many possible category combinations the cells are found by sorting, not counting.
_DENSE_CELLS = 1 << 22


# ------------------------------------------------------------------------------------------------
# Categories → integer indices
# ------------------------------------------------------------------------------------------------
def _where(df: pd.DataFrame) -> str:
    return str(df.attrs.get("source") or "data")


@dataclass
class _IntView:
    """An integer-coded column as offsets ``rel = value - base`` into the range ``base..hi``."""

    rel: np.ndarray
    base: int
    size: int
    lo: int  # smallest and largest value in the column
    hi: int

    def candidates(self) -> np.ndarray:
        """Every value in the column's range (a superset of the values present)."""
        return np.arange(self.base, self.base + self.size)


def _categorical_view(s: pd.Series, codes: Sequence[Any]) -> tuple[_IntView, list[int]] | None:
    """A pandas categorical as an integer-coded column: its category codes, and the position
    among the categories of each margin category (``codes``, values of the column). ``None``
    when a value is missing (the general path reports it)."""
    if not isinstance(s.dtype, pd.CategoricalDtype) or len(s) == 0:
        return None
    rel = s.array.codes  # the Categorical's own codes (s.cat.codes copies them)
    lo, hi = int(rel.min()), int(rel.max())
    positions = s.cat.categories.get_indexer(pd.Index(list(codes), dtype=s.cat.categories.dtype))
    if lo < 0 or (positions < 0).any():
        return None
    return _IntView(rel, 0, len(s.cat.categories), lo, hi), [int(i) for i in positions]


def _int_view(s: pd.Series) -> _IntView | None:
    """An integer-valued column (SPSS/Stata codes) with a short range; ``None`` when it is not one.

    Non-negative codes are used as offsets directly, so no shifted copy of the column is made.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        return None
    vals = s.to_numpy()
    kind = vals.dtype.kind
    if kind not in "iuf" or len(vals) == 0:
        return None
    lo, hi = vals.min(), vals.max()
    if not (np.isfinite(lo) and np.isfinite(hi)) or int(hi) - min(int(lo), 0) >= 1 << 12:
        return None  # NaN present (min/max propagate it) or codes too spread out for a table
    ints = vals.astype(np.int64, copy=False)
    if kind == "f" and not np.array_equal(ints, vals):
        return None
    base = min(int(lo), 0)
    return _IntView(ints - base if base else ints, base, int(hi) - base + 1, int(lo), int(hi))


@dataclass
class _CatView:
    """A pandas categorical column as its category codes: no hashing of the rows.

    ``codes`` are positions in ``categories`` (-1 for a missing value). Which categories occur is
    not counted here: a margin category that matches an unused category is reported by
    :func:`_check_present` from the cells, like any other absent category.
    """

    codes: np.ndarray
    categories: list[Any]
    has_missing: bool


def _cat_view(s: pd.Series) -> _CatView | None:
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return None
    codes = s.cat.codes.to_numpy()
    return _CatView(codes, list(s.cat.categories), bool(len(codes)) and int(codes.min()) < 0)


def _match(df: pd.DataFrame, column: str, keys: Sequence[Any], where: str, view: _IntView | _CatView | None) -> dict[Any, Any]:
    """Map margin category names to data codes, as :func:`sottovoce.io.match_categories` does.

    For integer-coded columns the names are resolved against the column's range without touching
    the rows: a name is a code when it reads as an integer (``1``, ``"1"``, ``1.0``), else it is
    looked up among the value labels (case-insensitive). Whether a matched code really occurs is
    checked afterwards on the cells (:func:`_check_present`). Any name that resolves to nothing
    goes to ``match_categories`` on the values actually present, which reports it.
    """
    s = df[column]
    if view is None and isinstance(s.dtype, pd.CategoricalDtype):
        # as for integer codes: names resolved against the categories without touching the rows;
        # whether a matched category occurs is checked on the cells (_check_present). A name
        # that matches no category goes to match_categories on the categories present, which
        # reports it.
        cat_labels = {column: df.attrs.get("value_labels", {}).get(column, {})}
        every = pd.DataFrame({column: s.cat.categories})
        every.attrs["value_labels"] = cat_labels
        got = match_categories(every, column, keys, where=where, strict=False)
        if len(got) == len(list(keys)):
            return got
        present = pd.DataFrame({column: pd.unique(s.dropna())})
        present.attrs["value_labels"] = cat_labels
        return match_categories(present, column, keys, where=where)
    if view is None:
        return match_categories(df, column, keys, where=where)
    if isinstance(view, _CatView):  # the categories that occur, without hashing a million rows
        present = pd.DataFrame({column: pd.Series(view.categories, dtype=object)})
        present.attrs["value_labels"] = {column: df.attrs.get("value_labels", {}).get(column, {})}
        return match_categories(present, column, keys, where=where)
    labels: dict[str, Any] = {}
    for code, lab in df.attrs.get("value_labels", {}).get(column, {}).items():
        labels.setdefault(str(lab).strip().casefold(), code)
    out: dict[Any, Any] = {}
    for k in keys:
        code = _as_int_code(_io_key(k))
        if code is None:
            label_code = labels.get(str(k).strip().casefold())
            code = _as_int_code(_io_key(label_code)) if label_code is not None else None
        if code is None or not (0 <= code - view.base < view.size):
            present = pd.DataFrame({column: np.flatnonzero(np.bincount(view.rel)) + view.base})
            present.attrs["value_labels"] = {column: df.attrs.get("value_labels", {}).get(column, {})}
            return match_categories(present, column, keys, where=where)  # raises, naming the key
        out[k] = code
    return out


def _as_int_code(key: str) -> int | None:
    try:
        return int(key)
    except ValueError:
        return None


def _check_present(df: pd.DataFrame, column: str, keys: Sequence[Any], codes: Sequence[Any],
                   cats: np.ndarray, where: str) -> None:
    """Every margin category must occur in the data (same message as ``match_categories``)."""
    seen = np.bincount(cats, minlength=len(keys)) > 0
    if seen.all():
        return
    absent = list(keys)[int(np.flatnonzero(~seen)[0])]
    shown = []
    for c in sorted((_norm(codes[int(i)]) for i in np.flatnonzero(seen)), key=str)[:30]:
        lab = category_label(df, column, c)
        shown.append(f"{c} ({lab})" if lab else f"{c}")
    raise InputError(f"{where}: category '{absent}' of column '{column}' is not in the data; the data have: {', '.join(shown)}")


def _category_index(df: pd.DataFrame, column: str, codes: Sequence[Any], where: str, table: str,
                    excluded: np.ndarray | None = None, view: _IntView | None = None,
                    series: pd.Series | None = None) -> np.ndarray:
    """Index (0..k-1) of each row's category among ``codes`` (data values of the k categories).

    Integer-coded columns (SPSS and Stata codes) go through a lookup table indexed by value, one
    vectorised pass; other columns are hashed with :func:`pandas.factorize`. Missing values and
    values that are not among ``codes`` raise :class:`InputError`, unless every such row is
    ``excluded`` (zero input weight): those rows take no part, so any index will do.
    """
    s = df[column] if series is None else series
    if view is not None and all(_is_int_code(c) for c in codes):
        lookup = np.full(view.size, -1, dtype=_small_int(len(codes)))
        for j, c in enumerate(codes):
            if 0 <= int(c) - view.base < view.size:
                lookup[int(c) - view.base] = j
        idx = lookup.take(view.rel)  # take: about 3x faster than fancy indexing here
    else:
        if isinstance(s.dtype, pd.CategoricalDtype):
            fcodes, uniques = s.cat.codes.to_numpy(), list(s.cat.categories)
        else:
            fcodes, uniques = pd.factorize(s, use_na_sentinel=True)
        idx = np.where(fcodes >= 0, _lookup_for(list(uniques), codes)[fcodes], -1).astype(_small_int(len(codes)))
    if idx.min() < 0:
        bad = idx < 0
        if excluded is not None and excluded[bad].all():
            return np.where(bad, 0, idx)
        if excluded is not None:
            bad &= ~excluded
        missing = bad & s.isna().to_numpy()
        if missing.any():
            _raise_missing(column, int(missing.sum()), where)
        _raise_unknown(df, column, s.to_numpy()[bad], where, table)
    return idx


def _small_int(k: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer type holding -1..k-1 (category indices stay small in memory)."""
    return np.int8 if k < 127 else np.int16 if k < 32_000 else np.int32


def _is_int_code(c: Any) -> bool:
    if isinstance(c, (bool, np.bool_)):
        return False
    if isinstance(c, (int, np.integer)):
        return True
    return isinstance(c, (float, np.floating)) and float(c).is_integer()


def _lookup_for(values: list[Any], codes: Sequence[Any]) -> np.ndarray:
    """Position in ``codes`` of each of ``values`` (-1 when absent); equal codes compare as equal."""
    pos: dict[Any, int] = {}
    for j, c in enumerate(codes):
        pos.setdefault(_norm(c), j)
    return np.array([pos.get(_norm(v), -1) for v in values] or [-1], dtype=np.intp)


def _norm(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _raise_missing(column: str, count: int, where: str) -> None:
    raise InputError(
        f"{where}: weighting column '{column}' has {count} missing values; drop or impute those rows, "
        "or give them a category of their own in the data and the margins"
    )


def _raise_unknown(df: pd.DataFrame, column: str, bad: np.ndarray, where: str, table: str) -> None:
    vals = pd.unique(pd.Series(bad))
    shown = []
    for v in vals[:5]:
        lab = category_label(df, column, v)
        shown.append(f"{_norm(v)} ({lab})" if lab else f"{_norm(v)}")
    raise InputError(
        f"{table}: column '{column}' has categor{'y' if len(vals) == 1 else 'ies'} "
        f"{', '.join(shown)}{' …' if len(vals) > 5 else ''} ({len(bad)} rows in {where}) missing from "
        f"margins table [{column}]; add {'it' if len(vals) == 1 else 'them'} to the margins or recode those rows"
    )


# ------------------------------------------------------------------------------------------------
# Cells
# ------------------------------------------------------------------------------------------------
@dataclass
class _Cells:
    """Respondents collapsed into cells of identical weighting categories."""

    row_cell: np.ndarray  # per row: its cell, or its dense mixed-radix code when ``occupied`` is set
    cats: list[np.ndarray]  # category index of each cell, per margin
    ks: list[int]  # number of categories per margin
    n_cells: int
    occupied: np.ndarray | None = None  # dense codes of the observed cells (counting path)
    dense_size: int = 0
    counts: np.ndarray | None = None  # rows per cell

    def totals(self, w: np.ndarray | None) -> np.ndarray:
        """Sum of weights (or the row count when ``w`` is None) per cell."""
        if w is None and self.counts is not None:
            return self.counts.astype(float)
        if self.occupied is not None:
            t = np.bincount(self.row_cell, weights=w, minlength=self.dense_size)[self.occupied]
        else:
            t = np.bincount(self.row_cell, weights=w, minlength=self.n_cells)
        return t.astype(float, copy=False)

    def to_rows(self, per_cell: np.ndarray) -> np.ndarray:
        """Spread a per-cell array back to the rows (one gather)."""
        if self.occupied is not None:
            full = np.zeros(self.dense_size)
            full[self.occupied] = per_cell
            return full.take(self.row_cell)
        return per_cell.take(self.row_cell)


def _fast_cells(views: list[_IntView | _CatView | None], codes: list[list[Any]], ks: list[int]) -> _Cells | None:
    """Cells of integer-coded columns, computed like the benchmark's floor: Horner's rule in place.

    The cell code is ``((o_1 k_2 + o_2) k_3 + o_3) ...`` with ``o_j`` the offset of the row's
    category in column j. When a column's margin codes are consecutive integers (1..k, as survey
    files code them) the offset is ``value - first code``: three in-place passes, no lookup, no
    temporary. Otherwise a lookup table maps each value to its category. Returns ``None`` (use the
    general path) when a column is not integer-coded, the cell space is large, or a value is not
    in the margins (the general path reports it, or tolerates it for zero-weight rows).
    """
    total = math.prod(ks)
    if total > _DENSE_CELLS or any(v is None or (isinstance(v, _CatView) and v.has_missing) for v in views):
        return None
    if not all(_is_int_code(c) for cs, v in zip(codes, views, strict=True) if isinstance(v, _IntView) for c in cs):
        return None
    unknown = -(1 << 40)  # a value outside the margins drives the code negative
    code: np.ndarray | None = None
    perms: list[np.ndarray | None] = []
    shift = 0  # Σ_j first_j × stride_j, subtracted once at the end instead of once per column
    for j, view in enumerate(views):
        assert view is not None
        k = ks[j]
        shift *= k
        if code is not None:
            code *= k
        if isinstance(view, _CatView):
            lut = _lookup_for(view.categories, codes[j])
            if len(lut) == k and np.array_equal(np.sort(lut), np.arange(k)):
                # every category is a margin category: the category code is the offset, and lut
                # maps it back to the margin's order (as perm does for integer codes)
                perms.append(lut)
                if code is None:
                    code = view.codes.astype(np.int64)
                else:
                    code += view.codes
            else:  # unused or unknown categories: a lookup (unknown ones drive the code negative)
                full = np.where(lut >= 0, lut, unknown).astype(np.int64)
                perms.append(None)
                if code is None:
                    code = full.take(view.codes)
                else:
                    code += full.take(view.codes)
            continue
        cs = [int(c) for c in codes[j]]
        first = min(cs)
        if sorted(cs) == list(range(first, first + k)) and first <= view.lo and view.hi < first + k:
            # offset o = value - first; perm maps it back to the margin's own category order
            perms.append(np.argsort(cs))
            shift += first - view.base
            if code is None:
                code = view.rel.astype(np.int64, copy=True)
            else:
                code += view.rel
        else:
            perms.append(None)
            lut = np.full(view.size, unknown, dtype=np.int64)
            for i, c in enumerate(cs):
                if 0 <= c - view.base < view.size:
                    lut[c - view.base] = i
            if code is None:
                code = lut.take(view.rel)
            else:
                code += lut.take(view.rel)
    assert code is not None
    if shift:
        code -= shift
    if len(code) == 0 or (any(p is None for p in perms) and code.min() < 0):
        return None
    counts = np.bincount(code, minlength=total)
    occupied = np.flatnonzero(counts)
    cats = [c if perm is None else perm[c] for c, perm in zip(_decode(occupied, ks), perms, strict=True)]
    return _Cells(row_cell=code, cats=cats, ks=ks, n_cells=len(occupied), occupied=occupied,
                  dense_size=total, counts=counts[occupied])


def _make_cells(idx: list[np.ndarray], ks: list[int]) -> _Cells:
    """Collapse rows into observed combinations of the margin categories.

    With few possible combinations the cell code is a mixed-radix number counted with
    ``np.bincount`` (no sorting); otherwise ``np.unique`` finds the observed combinations.
    """
    total = math.prod(ks)
    if total < 1 << 62:
        # The narrowest integer type holding every code keeps this pass memory-light and fast.
        dtype = np.int16 if total < 1 << 15 else np.int32 if total < 1 << 31 else np.int64
        code: np.ndarray = np.array(idx[0], dtype=dtype)
        for j in range(1, len(idx)):
            code *= ks[j]
            code += idx[j]
        if total <= _DENSE_CELLS:  # a count array of at most 32 MiB
            counts = np.bincount(code, minlength=total)
            occupied = np.flatnonzero(counts)
            cats = _decode(occupied, ks)
            return _Cells(row_cell=code, cats=cats, ks=ks, n_cells=len(occupied), occupied=occupied,
                          dense_size=total, counts=counts[occupied])
        uniq, inverse = np.unique(code, return_inverse=True)
        return _Cells(row_cell=inverse.ravel(), cats=_decode(uniq, ks), ks=ks, n_cells=len(uniq))
    stacked = np.column_stack(idx)
    uniq2, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return _Cells(row_cell=inverse.ravel(), cats=[uniq2[:, j].astype(np.intp) for j in range(len(ks))],
                  ks=ks, n_cells=len(uniq2))


def _decode(codes: np.ndarray, ks: list[int]) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    rest = codes.astype(np.int64)
    for k in reversed(ks):
        out.append((rest % k).astype(np.intp))
        rest = rest // k
    return out[::-1]


# ------------------------------------------------------------------------------------------------
# Input weights
# ------------------------------------------------------------------------------------------------
def _input_weights(df: pd.DataFrame, weights: Any) -> np.ndarray | None:
    """Validated input weights (``None`` for equal weights). Zero is allowed, negative/missing not."""
    where = _where(df)
    if len(df) == 0:
        raise InputError(f"{where}: no rows to weight")
    if weights is None:
        return None
    if isinstance(weights, str):
        require_columns(df, [weights], where=where)
        name = f"weight column '{weights}'"
        raw = df[weights]
    else:
        name = "input weights"
        raw = weights
        if isinstance(raw, pd.Series) and not raw.index.equals(df.index):
            raw = raw.reindex(df.index)
    w = pd.to_numeric(pd.Series(np.asarray(raw).ravel() if not isinstance(raw, pd.Series) else raw), errors="coerce").to_numpy(dtype=float)
    if len(w) != len(df):
        raise InputError(f"{where}: {name} have {len(w)} values for {len(df)} rows")
    bad = ~np.isfinite(w)
    if bad.any():
        raise InputError(
            f"{where}: {name} has {int(bad.sum())} missing or non-numeric values (first at row {int(np.argmax(bad)) + 1}); "
            "give every respondent a weight (0 excludes one)"
        )
    neg = w < 0
    if neg.any():
        raise InputError(
            f"{where}: {name} has {int(neg.sum())} negative values (first at row {int(np.argmax(neg)) + 1}); weights must be >= 0"
        )
    if not (w > 0).any():
        raise InputError(f"{where}: {name} is zero for every respondent; nothing to weight")
    return w


# ------------------------------------------------------------------------------------------------
# Raking
# ------------------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    df: pd.DataFrame
    margins: Margins
    columns: list[str]
    keys: list[list[Any]]  # margin category names per column, in margin order
    codes: list[list[Any]]  # the data codes they match
    targets: list[np.ndarray]  # shares per column
    cells: _Cells


def _prepare(data: Any, margins: Any, excluded: np.ndarray | None = None) -> _Prepared:
    df = as_frame(data)
    m = load_margins(margins)
    where = _where(df)
    if len(df) == 0:
        raise InputError(f"{where}: no rows to weight")
    columns = list(m.keys())
    require_columns(df, columns, where=where)
    keys, codes, targets, views, series_ = [], [], [], [], []
    for col in columns:
        table = m[col]
        series = df[col]
        view: _IntView | _CatView | None = _int_view(series) or _cat_view(series)
        match = _match(df, col, list(table.keys()), m.source, view)
        seen: dict[Any, Any] = {}
        for key, code in match.items():
            c = _norm(code)
            if c in seen:
                raise InputError(
                    f"{m.source}: [{col}] names category {c} twice ('{seen[c]}' and '{key}'); keep one of them"
                )
            seen[c] = key
        k_list = list(table.keys())
        keys.append(k_list)
        codes.append([match[k] for k in k_list])
        targets.append(np.array([table[k] for k in k_list], dtype=float))
        views.append(view)
        series_.append(series)
    ks = [len(k) for k in keys]
    # categoricals count as integer codes: their category codes, the margins' categories mapped to them
    fast_views, fast_codes = list(views), list(codes)
    for j, series in enumerate(series_):
        got = _categorical_view(series, codes[j]) if views[j] is None else None
        if got is not None:
            fast_views[j], fast_codes[j] = got
    cells = _fast_cells(fast_views, fast_codes, ks)
    if cells is None:  # text or categorical columns, missing or unknown values: the general path
        idx = [
            _category_index(df, col, codes[j], where, m.source, excluded, v if isinstance(v := views[j], _IntView) else None, series_[j])
            for j, col in enumerate(columns)
        ]
        cells = _make_cells(idx, ks)
    for j, col in enumerate(columns):
        _check_present(df, col, keys[j], codes[j], cells.cats[j], m.source)
    return _Prepared(df, m, columns, keys, codes, targets, cells)


def _ipf(cell_w: np.ndarray, prep: _Prepared, totals: list[np.ndarray], tol: float, max_iter: int,
         scale: float) -> tuple[np.ndarray, int, float]:
    """Iterative proportional fitting on cell totals; returns (cell factors, sweeps, max gap)."""
    cats, ks = prep.cells.cats, prep.cells.ks
    w = cell_w.copy()
    gap = math.inf
    for sweep in range(1, max_iter + 1):
        for j in range(len(ks)):
            achieved = np.bincount(cats[j], weights=w, minlength=ks[j])
            # Categories with a zero target get zero weight; achieved > 0 was checked beforehand.
            ratio = np.divide(totals[j], achieved, out=np.zeros(ks[j]), where=achieved > 0)
            w *= ratio[cats[j]]
        # After a sweep the last margin is exact; measure the others on the share scale.
        gap = max(float(np.max(np.abs(np.bincount(cats[j], weights=w, minlength=ks[j]) - totals[j]))) for j in range(len(ks))) / scale
        if gap <= tol:
            return np.divide(w, cell_w, out=np.zeros_like(w), where=cell_w > 0), sweep, gap
    raise ConvergenceError(_why_not_converged(prep, w, totals, scale, max_iter, gap))


def _why_not_converged(prep: _Prepared, w: np.ndarray, totals: list[np.ndarray], scale: float,
                       max_iter: int, gap: float) -> str:
    cats, ks, cols = prep.cells.cats, prep.cells.ks, prep.columns
    # Which margin is off, and by how much (before the last margin's step made it exact).
    worst = (0, 0, 0.0, 0.0, 0.0)
    for j in range(len(ks)):
        ach = np.bincount(cats[j], weights=w, minlength=ks[j]) / scale
        tgt = totals[j] / scale
        d = np.abs(ach - tgt)
        i = int(np.argmax(d))
        if d[i] > worst[4]:
            worst = (j, i, float(ach[i]), float(tgt[i]), float(d[i]))
    j, i, ach_i, tgt_i, _ = worst
    where = f"margin [{cols[j]}] category '{prep.keys[j][i]}' reaches {100 * ach_i:.3f}% instead of {100 * tgt_i:.3f}%"
    # Why: an empty combination of categories can make two margins impossible to meet together.
    for a in range(len(ks)):
        for b in range(len(ks)):
            if a == b:
                continue
            present = np.zeros((ks[a], ks[b]), dtype=bool)
            present[cats[a], cats[b]] = True
            reachable = present.astype(float) @ (totals[b] / scale)
            short = (totals[a] / scale) - reachable
            if short.max() > 1e-9:
                i_a = int(np.argmax(short))
                partners = [str(prep.keys[b][q]) for q in np.flatnonzero(present[i_a])]
                return (
                    f"{prep.margins.source}: raking did not converge in {max_iter} sweeps: {where}; why: in the "
                    f"sample, [{cols[a]}] '{prep.keys[a][i_a]}' (target {100 * totals[a][i_a] / scale:.2f}%) occurs only "
                    f"with [{cols[b]}] {', '.join(repr(p) for p in partners) or 'nothing'} whose targets add up to "
                    f"{100 * reachable[i_a]:.2f}%, so the two margins conflict; merge sparse categories or drop one margin"
                )
    n_possible = math.prod(ks)
    empty = n_possible - prep.cells.n_cells
    why = (f"{empty} of {n_possible} category combinations are empty in the sample, which can make the margins "
           "impossible to meet together" if empty else "convergence is slow")
    return (
        f"{prep.margins.source}: raking did not converge in {max_iter} sweeps (largest gap {100 * gap:.2g} points): "
        f"{where}; why: {why}; merge sparse categories, or raise max_iter / tol"
    )


def rake(
    data: Any,
    margins: Any,
    weights: Any = None,
    *,
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> pd.Series:
    """Rake weights to population margins by iterative proportional fitting.

    Parameters
    ----------
    data : DataFrame (pandas, or polars) holding one column per margin.
    margins : a margins file (TOML), a mapping ``{column: {category: share or count}}`` or the result
        of :func:`load_margins`. Categories are matched by code or value label.
    weights : input (design) weights: a column name, an array or a Series; ``None`` for equal
        weights. Zero weights are kept at zero (excluded respondents).
    tol : convergence when every margin is within ``tol`` of its target share (absolute, on the
        share scale).
    max_iter : the most sweeps over all margins before :class:`ConvergenceError`.

    Returns
    -------
    A Series of weights aligned to ``data.index``. With shares they sum to the sum of the input
    weights (the number of rows without input weights); with counts, to the population total.
    ``series.attrs`` holds ``iterations``, ``max_gap``, ``n_zero`` and ``total``.

    The fixed point is the raking estimator of Deming & Stephan (1940) / Deville & Särndal (1992),
    identical to R's ``survey::rake`` run to convergence.
    """
    if not (tol > 0) or max_iter < 1:
        raise InputError(f"rake: tol must be > 0 and max_iter >= 1 (got tol={tol}, max_iter={max_iter})")
    df = as_frame(data)
    w0 = _input_weights(df, weights)
    prep = _prepare(df, margins, None if w0 is None else w0 == 0)
    n = len(prep.df)
    cell_w = prep.cells.totals(w0)
    total = prep.margins.population_total or (float(w0.sum()) if w0 is not None else float(n))
    targets = [t * total for t in prep.targets]
    _check_reachable(prep, cell_w, w0 is not None)
    factor, sweeps, gap = _ipf(cell_w, prep, targets, tol, max_iter, total)
    out = prep.cells.to_rows(factor)
    if w0 is not None:
        out *= w0
    series = pd.Series(out, index=prep.df.index, name="weight", copy=False)
    series.attrs.update(
        iterations=sweeps, max_gap=gap, total=total,
        n_zero=int((w0 == 0).sum()) if w0 is not None else 0,
        counts=bool(prep.margins.counts), margins_source=prep.margins.source,
    )
    return series


def _check_reachable(prep: _Prepared, cell_w: np.ndarray, weighted: bool) -> None:
    """A category with a positive target needs respondents with positive weight."""
    for j, col in enumerate(prep.columns):
        have = np.bincount(prep.cells.cats[j], weights=cell_w, minlength=prep.cells.ks[j])
        lacking = np.flatnonzero((have <= 0) & (prep.targets[j] > 0))
        if len(lacking):
            i = int(lacking[0])
            why = "only respondents with zero weight" if weighted else "no respondents"
            raise InputError(
                f"{prep.margins.source}: category '{prep.keys[j][i]}' of [{col}] has {why} in {_where(prep.df)} "
                f"but a target of {100 * prep.targets[j][i]:.2f}%; merge it with a neighbouring category"
            )


# ------------------------------------------------------------------------------------------------
# Post-stratification
# ------------------------------------------------------------------------------------------------
def poststratify(data: Any, cells: str | Sequence[str], targets: Any, weights: Any = None) -> pd.Series:
    """Post-stratify: scale the weights in each cell so the cell's total matches its target.

    ``cells`` is one column or several (crossed). ``targets`` maps each cell to its population share
    or count: keys are categories (codes or labels) for one column, tuples for several; a pandas
    Series with a (Multi)Index works too. Every data cell needs a target and every target cell needs
    respondents. Weights sum to the input total with shares, to the population with counts — as R's
    ``survey::postStratify`` (Lumley 2010, §7.3).
    """
    df = as_frame(data)
    where = _where(df)
    cols = [cells] if isinstance(cells, str) else list(cells)
    if not cols:
        raise InputError("poststratify: name at least one cell column")
    if len(df) == 0:
        raise InputError(f"{where}: no rows to weight")
    require_columns(df, cols, where=where)
    if isinstance(targets, pd.DataFrame):
        raise InputError("poststratify: give targets as a mapping or a Series indexed by cell, not a DataFrame")
    raw = dict(targets.items()) if isinstance(targets, (pd.Series, Mapping)) else None
    if raw is None:
        raise InputError("poststratify: targets must map each cell to its population share or count")
    shares, count_total = normalise_table(raw, source="targets", table=" × ".join(cols))
    keys = list(shares.keys())
    tuples = [k if isinstance(k, tuple) else (k,) for k in keys]
    if any(len(t) != len(cols) for t in tuples):
        raise InputError(f"targets: each cell key needs {len(cols)} parts ({', '.join(cols)}), e.g. {tuple('…' for _ in cols)}")
    w0 = _input_weights(df, weights)
    excluded = None if w0 is None else w0 == 0
    idx, ks, per_col_codes = [], [], []
    for j, col in enumerate(cols):
        names = list(dict.fromkeys(t[j] for t in tuples))
        view = _int_view(df[col])
        match = _match(df, col, names, "targets", view)
        codes = list(dict.fromkeys(_norm(match[nm]) for nm in names))
        per_col_codes.append({nm: codes.index(_norm(match[nm])) for nm in names})
        ks.append(len(codes))
        idx.append(_category_index(df, col, codes, where, "targets", excluded, view))
    cell_struct = _make_cells(idx, ks)
    have = cell_struct.totals(w0)
    # Target per observed cell; a data cell without target is an error, so is a target without data.
    strides = np.cumprod([1] + ks[::-1][:-1])[::-1]
    target_code = {
        int(sum(per_col_codes[j][t[j]] * strides[j] for j in range(len(cols)))): share for t, share in zip(tuples, shares.values(), strict=True)
    }
    cell_codes = np.zeros(cell_struct.n_cells, dtype=np.int64)
    for j, c in enumerate(cell_struct.cats):
        cell_codes += c.astype(np.int64) * int(strides[j])
    tgt = np.array([target_code.get(int(c), np.nan) for c in cell_codes])
    if np.isnan(tgt).any():
        j = int(np.flatnonzero(np.isnan(tgt))[0])
        combo = ", ".join(f"{col}={_cell_name(per_col_codes[q], cell_struct.cats[q][j])}" for q, col in enumerate(cols))
        raise InputError(f"targets: the data have cell ({combo}) but the targets do not; add its share or merge cells")
    covered = set(int(c) for c in cell_codes[have > 0])
    for t, code in zip(tuples, target_code, strict=True):
        if code not in covered and target_code[code] > 0:
            raise InputError(f"targets: cell {t if len(t) > 1 else t[0]!r} has no respondents with positive weight in {where}; merge it with a neighbouring cell")
    total = count_total if count_total is not None else (float(w0.sum()) if w0 is not None else float(len(df)))
    factor = np.divide(tgt * total, have, out=np.zeros_like(have), where=have > 0)
    out = cell_struct.to_rows(factor)
    if w0 is not None:
        out *= w0
    series = pd.Series(out, index=df.index, name="weight")
    series.attrs.update(total=total, n_zero=int((w0 == 0).sum()) if w0 is not None else 0)
    return series


def _cell_name(names_to_pos: dict[Any, int], pos: int) -> str:
    for nm, p in names_to_pos.items():
        if p == pos:
            return str(nm)
    return str(pos)


# ------------------------------------------------------------------------------------------------
# Trimming
# ------------------------------------------------------------------------------------------------
def _cap(w: np.ndarray, hi: float | None, lo: float | None) -> np.ndarray:
    """Cap weights at ``hi`` (floor at ``lo``) and spread the difference over the others.

    Potter (1990): the total is kept, the weights inside the bounds are scaled to absorb what was cut
    (or added); repeat because scaling can push more weights across a bound. A weight that reaches
    a bound stays there, so this ends within n rounds (in practice a handful). Zero weights stay zero.
    """
    w = w.copy()
    pos = w > 0
    total = w.sum()
    for _ in range(int(pos.sum()) + 1):
        over = pos & (w > hi * (1 + 1e-12)) if hi is not None else np.zeros_like(pos)
        under = pos & (w < lo * (1 - 1e-12)) if lo is not None else np.zeros_like(pos)
        if not over.any() and not under.any():
            return w
        if hi is not None:
            w[over] = hi
        if lo is not None:
            w[under] = lo
        fixed = pos & ((w >= hi) if hi is not None else False) | pos & ((w <= lo) if lo is not None else False)
        free = pos & ~fixed
        free_sum = w[free].sum()
        rest = total - w[fixed].sum()
        if free_sum <= 0:
            if abs(rest) <= 1e-9 * total:  # every weight sits on a bound and the total still holds
                return w
            raise ConvergenceError("trim: the bounds leave no weight free to absorb the trimmed excess; widen them")
        w[free] *= rest / free_sum
    raise ConvergenceError("trim: capping did not settle; widen the bounds")


def _cap_equal(w: np.ndarray, hi: float | None, lo: float | None, max_rounds: int = 10_000) -> np.ndarray:
    """R's ``survey::trimWeights(strict = TRUE)``: clip, then share the clipped amount *equally*.

    Each round clips the weights outside ``[lo, hi]`` and adds the total clipped, divided equally,
    to every weight that was inside; it repeats until no weight is outside (Lumley 2010, §7.5).
    Zero weights (excluded respondents) are left out, where R would also move them.
    """
    w = w.copy()
    pos = w > 0
    upper = np.inf if hi is None else hi
    lower = -np.inf if lo is None else lo
    for _ in range(max_rounds):
        outside = pos & ((w < lower) | (w > upper))
        if not outside.any():
            return w
        inside = pos & ~outside
        if not inside.any():
            raise ConvergenceError("trim: every weight is outside the bounds; widen them")
        clipped = np.clip(w[outside], lower, upper)
        excess = float((w[outside] - clipped).sum())
        w[outside] = clipped
        w[inside] += excess / int(inside.sum())
    raise ConvergenceError("trim: trimming did not settle; widen the bounds")


def trim(
    data_or_weights: Any,
    upper: float = 5.0,
    lower: float | None = None,
    *,
    weights: Any = None,
    margins: Any = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    max_rounds: int = 200,
    redistribute: str = "proportional",
) -> pd.Series:
    """Trim weights to at most ``upper`` × the mean weight (and at least ``lower`` × the mean).

    ``data_or_weights`` is either the weights (array or Series) or a DataFrame with ``weights`` (a
    column name; ``None`` means equal weights). The excess above the cap is spread over the other
    respondents so the total stays the same (Potter 1990). With ``margins`` the weights are then
    raked back to the margins, and trimming and raking alternate until the weights are within the
    bounds (to 1e-6 relative) *and* the margins hold (to ``tol``): Battaglia, Hoaglin & Frankel
    (2009). The mean is over respondents with a positive weight; zero weights stay zero.

    ``redistribute="proportional"`` (default) scales the untrimmed weights by one common factor, so
    their ratios are kept (Potter 1990); ``"equal"`` adds the same amount to each, exactly as R's
    ``survey::trimWeights(design, upper, lower, strict = TRUE)`` does.
    """
    if redistribute not in ("proportional", "equal"):
        raise InputError(f"trim: redistribute must be 'proportional' or 'equal' (got {redistribute!r})")
    cap = _cap if redistribute == "proportional" else _cap_equal
    upper = float(check_number(upper, "upper") or 0.0)
    lower = check_number(lower, "lower", allow_none=True)
    if not upper >= 1:
        raise InputError(f"trim: upper={upper:g}: the cap must be at least 1 × the mean weight; use e.g. upper=5")
    if lower is not None and not (0 <= lower <= 1):
        raise InputError(f"trim: lower={lower:g}: the floor must be between 0 and 1 × the mean weight")
    if isinstance(data_or_weights, pd.DataFrame) or hasattr(data_or_weights, "to_pandas") and not isinstance(data_or_weights, pd.Series):
        df = as_frame(data_or_weights)
        if margins is not None:
            w_series = rake(df, margins, weights, tol=tol, max_iter=max_iter)
        else:
            w_in = _input_weights(df, weights)
            w_series = pd.Series(np.ones(len(df)) if w_in is None else w_in, index=df.index, name="weight")
    else:
        if margins is not None:
            raise InputError("trim: to re-rake after trimming, pass the data frame (with weights=COLUMN) and margins")
        w_series = data_or_weights if isinstance(data_or_weights, pd.Series) else pd.Series(np.asarray(data_or_weights, dtype=float))
        df = pd.DataFrame(index=w_series.index)
        w_series = pd.Series(_input_weights(df, w_series.to_numpy()), index=w_series.index, name="weight")
    w = w_series.to_numpy(dtype=float)
    pos = w > 0
    mean = w[pos].mean()
    hi, lo = upper * mean, (lower * mean if lower else None)
    rounds = 0
    if margins is None:
        w = cap(w, hi, lo)
    else:
        prep = _prepare(df, margins, w == 0)
        total = float(w.sum())
        targets = [t * total for t in prep.targets]
        for rounds in range(1, max_rounds + 1):  # noqa: B007 - reported after the loop
            w = cap(w, hi, lo)
            cell_w = prep.cells.totals(w)
            factor, _, _ = _ipf(cell_w, prep, targets, tol, max_iter, total)
            w = w * prep.cells.to_rows(factor)
            if w.max() <= hi * (1 + 1e-6) and (lo is None or w[pos].min() >= lo * (1 - 1e-6)):
                break
        else:
            raise ConvergenceError(
                f"trim: after {max_rounds} rounds of trimming and raking the largest weight is still "
                f"{w.max() / mean:.3g} × the mean (cap {upper}); the margins need larger weights: raise the cap"
            )
    series = pd.Series(w, index=w_series.index, name=w_series.name or "weight")
    series.attrs.update(w_series.attrs)
    series.attrs.update(
        trimmed=int((w >= hi * (1 - 1e-9)).sum()), cap=hi, floor=lo, rounds=rounds,
        n_zero=int((~pos).sum()),
    )
    return series


# ------------------------------------------------------------------------------------------------
# Diagnostics
# ------------------------------------------------------------------------------------------------
def _positive(w: Any) -> np.ndarray:
    try:
        a = np.asarray(w, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"weights must be numbers (an array or Series of weights), not {type(w).__name__} {str(w)[:40]!r}") from None
    if not np.isfinite(a).all() or (a < 0).any():
        raise InputError("weights must be finite and >= 0")
    a = a[a > 0]
    if len(a) == 0:
        raise InputError("weights are all zero")
    return a


def kish_deff(w: Any) -> float:
    """Kish's (1965) design effect due to unequal weights: ``n Σw² / (Σw)²`` = 1 + CV² (zero weights excluded)."""
    a = _positive(w)
    return float(len(a) * np.dot(a, a) / a.sum() ** 2)


def effective_n(w: Any) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²`` (zero weights excluded)."""
    a = _positive(w)
    return float(a.sum() ** 2 / np.dot(a, a))


def _weight_stats(w: np.ndarray) -> dict[str, float | int]:
    a = _positive(w)
    mean = float(a.mean())
    return {
        "n": int(len(w)),
        "n_positive": int(len(a)),
        "n_zero": int(len(w) - len(a)),
        "sum": float(a.sum()),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": mean,
        "cv": float(a.std() / mean),
        "max_over_mean": float(a.max() / mean),
        "deff": kish_deff(a),
        "n_eff": effective_n(a),
    }


def diagnostics(data: Any, weights: Any, margins: Any) -> pd.DataFrame:
    """Achieved versus target share for every margin category, with the weights' summary.

    Columns: ``variable, category, code, label, n, unweighted, target, achieved, difference`` (shares).
    ``df.attrs["weights"]`` holds min/max/mean/CV, Kish's deff and the effective n; see also
    :func:`weight_report` for a printable summary.
    """
    df = as_frame(data)
    w = _input_weights(df, weights)
    w_arr = np.ones(len(df)) if w is None else w
    prep = _prepare(df, margins, w_arr == 0)
    cell_w = prep.cells.totals(w_arr)
    cell_n = prep.cells.totals((w_arr > 0).astype(float))  # respondents who count
    rows = []
    for j, col in enumerate(prep.columns):
        ach = np.bincount(prep.cells.cats[j], weights=cell_w, minlength=prep.cells.ks[j])
        cnt = np.bincount(prep.cells.cats[j], weights=cell_n, minlength=prep.cells.ks[j])
        for i, key in enumerate(prep.keys[j]):
            code = _norm(prep.codes[j][i])
            rows.append({
                "variable": col,
                "category": str(key),
                "code": code,
                "label": category_label(prep.df, col, code),
                "n": int(cnt[i]),
                "unweighted": float(cnt[i] / cnt.sum()),
                "target": float(prep.targets[j][i]),
                "achieved": float(ach[i] / ach.sum()),
            })
    table = pd.DataFrame(rows)
    table["difference"] = table["achieved"] - table["target"]
    table.attrs["weights"] = _weight_stats(w_arr)
    return table


@dataclass(frozen=True)
class WeightReport(Result):
    """A printable weighting summary: margins achieved vs targets and the weights' spread."""

    table: Any = None  # the diagnostics DataFrame

    json_fields: ClassVar[Mapping[str, str]] = {"margins": "margin_records"}

    @property
    def margin_records(self) -> list[dict[str, Any]] | None:
        """The diagnostics table as JSON records (non-finite numbers as None)."""
        if self.table is None:
            return None
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]

    def display(self) -> Display:
        from .display import Display, Table

        d = self.details
        line = (f"weights: n={d['n']} (zero weight: {d['n_zero']}), sum {d['sum']:,.6g}, min {d['min']:.3g}, "
                f"max {d['max']:.3g} ({d['max'] / d['mean']:.2f}× mean), CV {d['cv']:.3f}, "
                f"Kish deff {d['deff']:.3f}, effective n {d['n_eff']:.0f}")
        rows = []
        for r in (self.table.itertuples() if self.table is not None else []):
            label = getattr(r, "label", None)
            cat = str(r.category) if label is None or str(label) == str(r.category) else f"{r.category} ({label})"
            rows.append([str(r.variable), cat, f"{r.n}", f"{100 * r.unweighted:.2f}", f"{100 * r.target:.2f}", f"{100 * r.achieved:.2f}"])
        table = Table("", ["margin", "category", "n", "sample %", "target %", "weighted %"], rows)
        return Display(title="weighting", tables=[table], lines=[line], warnings=list(self.warnings))


def weight_report(data: Any, weights: Any, margins: Any, **details: Any) -> WeightReport:
    """:func:`diagnostics` as a :class:`WeightReport` (``.summary()``, ``.to_dict()``, Jupyter table)."""
    table = diagnostics(data, weights, margins)
    stats = dict(table.attrs["weights"])
    stats.update(details)
    stats["max_abs_difference"] = float(table["difference"].abs().max())
    warns = []
    if stats["n_zero"]:
        k = stats["n_zero"]
        warns.append(f"{count_en(k, 'respondent')} {en_form(k, 'has', 'have')} zero weight and {en_form(k, 'is', 'are')} excluded")
    if stats["deff"] > 2:
        warns.append(f"the weights inflate variances by {stats['deff']:.2f}× (Kish deff); consider trimming")
    return WeightReport(method="weighting", n=stats["n_positive"], details=stats, table=table, warnings=tuple(warns))
