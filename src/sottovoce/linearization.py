"""The variance engine behind :meth:`sottovoce.survey.Survey.cov_total`: PSU totals in one pass.

A design-based variance needs the weighted influence values only through their totals per PSU
(Lumley 2010, *Complex Surveys*, appendix C; Wolter 2007, ch. 6). This module computes those
totals without ever building an n × k matrix when the influence values are *coded* — shares,
totals and domain means of categorical variables, where ``u_ic`` is a category indicator minus a
domain share — and turns them into the stratified with-replacement variance, together with each
stratum's contribution (the components of a Satterthwaite effective df).

Influence values come in two forms:

* :class:`Coded` — ``u_ic = s_c (y_i 1[code_i = c] − m_c 1[group(code_i) = group(c)])``: a
  column ``c`` per (domain, category), ``m_c`` the column's share or mean, ``s_c`` a scale
  (1/W of the domain). Any total over a partition of the rows (PSUs, calibration cells) is one
  ``bincount`` over ``partition × code``: memory grows with the number of parts × columns, never
  with rows × columns.
* dense ``(n, k)`` arrays (the general contract of ``cov_total``), summed with ``bincount``.

Calibration (raking, post-stratification; Deville & Särndal 1992) replaces the influence values
by their residuals from the calibration cells' means, as R's ``svyrecvar`` does. The residual
of a row depends on the other rows only through sums over the calibration cells, so the whole
backfitting runs on (cells × columns) arrays: per estimate, one aggregation over the cells of
each step and one over the PSUs, whatever the number of sweeps (:class:`CalibrationPlan`).
Everything that depends on the design alone (cell codes, cross-tabulations of the steps' weights
between cells and PSUs) is built once per design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["Coded", "CalibrationPlan", "PostStep", "RakeStep", "StratumVariance", "aggregate_dense", "stratum_variance"]

#: ``agg(part, n_part, v)``: the (n_part, k) totals of ``v_i * x_i`` over the parts of a partition
#: (``v`` None: every ``v_i`` is 1)
Aggregator = Callable[[np.ndarray, int, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class Coded:
    """Influence values given by codes (see the module docstring).

    ``code`` (n,) is the column of each row, or ``k`` for a row that adds nothing; ``group_of``
    (k,) the group (domain) of each column, non-decreasing, so a group's columns are contiguous;
    ``centre`` and ``scale`` (k,) the ``m_c`` and ``s_c``; ``value`` (n,) the ``y_i`` (None = 1,
    category indicators). ``complete``: no row is coded ``k`` (saves index arithmetic).
    ``record``: a partition (the design's PSUs) whose group totals of ``v`` are kept when it is
    aggregated (:meth:`recorded`), so the caller learns which PSUs hold each group for free.
    ``base``: ``base(part, n_part, v, idx)`` gives the (n_part, groups) totals of ``v`` over the
    rows of each group when the caller knows them cheaply (a design's PSU totals of its weights,
    computed once), or None; used for numeric values, where they would cost a pass. ``idx`` is
    the (part, column) index of every row, ``part * (k or k + 1) + code``, for it to reuse.

    The totals over a partition are computed once per (partition, weights) and kept: the
    estimate itself is read from the PSU table before the variance uses the same table
    (:meth:`centred`).
    """

    code: np.ndarray
    k: int
    group_of: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    value: np.ndarray | None = None
    complete: bool = False
    record: np.ndarray | None = field(default=None, repr=False, compare=False)
    base: Callable[[np.ndarray, int, np.ndarray | None, np.ndarray], np.ndarray | None] | None = field(
        default=None, repr=False, compare=False)
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _starts: np.ndarray = field(init=False, repr=False)
    _col_group: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        g = self.group_of
        new_group = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
        object.__setattr__(self, "_starts", np.flatnonzero(new_group))
        # index of each column's group among the groups present (columns of B)
        object.__setattr__(self, "_col_group", np.cumsum(new_group) - 1)

    def centred(self, centre: np.ndarray, scale: np.ndarray) -> Coded:
        """The same codes with other ``centre`` and ``scale``, sharing the totals already made."""
        new = replace(self, centre=centre, scale=scale)
        object.__setattr__(new, "_memo", self._memo)
        return new

    def raw(self, part: np.ndarray, n_part: int, v: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(A1, B)``: totals of ``v y 1[code = c]`` per (part, column) and of ``v`` per (part, group)."""
        key = (id(part), id(v))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is part and hit[1] is v:  # ids are unique while the arrays live
            return hit[2], hit[3]
        k1 = self.k if self.complete else self.k + 1
        if k1 == 1:
            idx = part
        else:
            idx = part * k1
            idx += self.code
        size = n_part * k1
        b = None
        if self.value is not None and self.base is not None:
            b = self.base(part, n_part, v, idx)
        if b is None or self.value is None:
            a0 = np.bincount(idx, weights=v, minlength=size).reshape(n_part, k1)[:, : self.k]
            # one column per group: B is A0
            b = a0 if len(self._starts) == self.k else np.add.reduceat(a0, self._starts, axis=1)
        if self.value is None:
            a1 = a0
        else:
            vy = self.value if v is None else v * self.value
            a1 = np.bincount(idx, weights=vy, minlength=size).reshape(n_part, k1)[:, : self.k]
        if part is self.record:
            self._memo["b"] = b
        self._memo[key] = (part, v, a1, b)
        return a1, b

    def recorded(self) -> np.ndarray:
        """The (parts, groups) totals of ``v`` of the last aggregation over ``record``."""
        return self._memo["b"]  # type: ignore[no-any-return]

    def aggregate(self, part: np.ndarray, n_part: int, v: np.ndarray | None) -> np.ndarray:
        """Totals of ``v_i u_ic`` per (part, column): an (n_part, k) array."""
        a1, b = self.raw(part, n_part, v)
        return self.scale * (a1 - self.centre * b[:, self._col_group])


def aggregate_dense(u: np.ndarray) -> Aggregator:
    """The aggregator of a dense (n, k) array of influence values."""

    def agg(part: np.ndarray, n_part: int, v: np.ndarray | None) -> np.ndarray:
        k = u.shape[1]
        if k <= 8:
            out = np.empty((n_part, k))
            for j in range(k):
                out[:, j] = np.bincount(part, weights=u[:, j] if v is None else v * u[:, j], minlength=n_part)
            return out
        if v is None:
            v = np.ones(len(part))
        mat = sparse.csr_matrix((v, (part, np.arange(len(part)))), shape=(n_part, len(part)))
        return np.asarray(mat @ u)

    return agg


def _crosstab(rows: np.ndarray, n_rows: int, cols: np.ndarray, n_cols: int, v: np.ndarray) -> np.ndarray | sparse.csr_matrix:
    """(n_rows, n_cols) table of the totals of ``v`` over pairs (rows_i, cols_i): dense when
    small, sparse otherwise."""
    if n_rows * n_cols <= 1_000_000:
        return np.bincount(rows * n_cols + cols, weights=v, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    keep = v != 0
    return sparse.csr_matrix((v[keep], (rows[keep], cols[keep])), shape=(n_rows, n_cols))


def _cells(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Joint cells of several code columns: the cell of each row, the number of cells and, for
    each column, the code of each cell."""
    sizes = [int(c.max()) + 1 for c in codes]
    if float(np.prod(sizes, dtype=float)) <= 4 * len(codes[0]) + 1024:
        joint = np.zeros(len(codes[0]), dtype=np.int64)
        for c, s in zip(codes, sizes, strict=True):
            joint = joint * s + c
        present = np.bincount(joint, minlength=int(np.prod(sizes))) > 0
        rank = np.cumsum(present) - 1
        cell = rank[joint]
        keys = np.flatnonzero(present)
        per: list[np.ndarray] = []
        for s in reversed(sizes):
            per.append(keys % s)
            keys = keys // s
        per.reverse()
        return cell.astype(np.int64), int(present.sum()), per
    stacked = np.column_stack(codes)
    uniq, cell = np.unique(stacked, axis=0, return_inverse=True)
    return cell.reshape(-1).astype(np.int64), len(uniq), [uniq[:, j] for j in range(uniq.shape[1])]


@dataclass(frozen=True)
class PostStep:
    """One post-stratification: cell of each row, weights before and after."""

    cells: np.ndarray
    old: np.ndarray
    new: np.ndarray


@dataclass(frozen=True)
class RakeStep:
    """One raking: the category codes of each margin and the raked weights."""

    margins: tuple[np.ndarray, ...]
    new: np.ndarray
    sweeps: int | None  # None = iterate the projection to convergence


@dataclass
class _Step:
    """One calibration step in cell space (see :class:`CalibrationPlan`)."""

    kind: str  # "rake" or "post"
    cells: np.ndarray  # (n,) cell of each row
    n_cells: int
    v: np.ndarray | None  # (n,) row weights of the cell sums: w_final * b_t * Q_{t-1} (None: all 1)
    cross: list[np.ndarray | sparse.csr_matrix]  # C_{t,s} for the earlier steps s < t
    to_psu: np.ndarray | sparse.csr_matrix | None = None  # D_t (n_psu, n_cells)
    # raking: pos-row counts per cell, margin code of each cell, margin counts, sweeps
    count: np.ndarray | None = None
    margins: list[tuple[np.ndarray | sparse.csr_matrix, np.ndarray, np.ndarray]] = field(default_factory=list)
    sweeps: int | None = None
    # post-stratification: denominators per cell
    denom: np.ndarray | None = None

    def solve(self, r0: np.ndarray) -> np.ndarray:
        """The cell adjustments ``h`` (n_cells, k) from the cell sums ``r0`` of the current residuals."""
        if self.kind == "post":
            assert self.denom is not None
            d = self.denom[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(d != 0, r0 / np.where(d != 0, d, 1.0), 0.0)
        assert self.count is not None
        h = np.zeros_like(r0)
        s = r0.copy()
        cnt = self.count[:, None]
        max_sweeps = self.sweeps if self.sweeps is not None else 10_000
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = float(np.nanmax(np.abs(np.where(cnt > 0, r0 / np.where(cnt > 0, cnt, 1.0), 0.0)), initial=0.0))
        scale = max(scale, 1e-300)
        for _ in range(max_sweeps):
            change = 0.0
            for to_margin, margin_code, margin_count in self.margins:
                tot = np.asarray(to_margin @ s)
                with np.errstate(divide="ignore", invalid="ignore"):
                    m = np.where(margin_count[:, None] > 0, tot / np.where(margin_count[:, None] > 0, margin_count[:, None], 1.0), 0.0)
                mc = m[margin_code]
                h += mc
                s -= cnt * mc
                if m.size:
                    change = max(change, float(np.abs(m).max()))
            if self.sweeps is None and change <= 1e-13 * scale:
                break
        return h


class CalibrationPlan:
    """Calibration residuals of a chain of raking / post-stratification steps, in cell space.

    Step ``t`` replaces the weighted influence values ``x`` by ``x q_t − a_t h_t[cell]``, where
    ``h_t`` solves the step's projection from the cell sums ``Σ_cell b_t x`` (raking: ``q`` the
    rows with a positive raked weight, ``a = w_t``, ``b = 1/w_t``, ``h`` backfitted over the
    margins, R's ``svyrecvar`` with 10 sweeps or to convergence; post-stratification: ``q = 1``,
    ``a`` the new weights, ``b = old/new``, ``h`` the cell means, R's ``postStratify``). Unrolled,
    the cell sums of step ``t`` and the final PSU totals are aggregations of the *original*
    influence values minus sparse (cells × cells) and (PSUs × cells) tables times the earlier
    ``h`` — tables that depend on the design only and are built here, once.
    """

    def __init__(self, steps: Sequence[PostStep | RakeStep], w_final: np.ndarray, psu: np.ndarray, n_psu: int) -> None:
        n = len(w_final)
        built: list[_Step] = []
        a_list: list[np.ndarray] = []  # a_s times the q of the steps after s so far
        q_all = np.ones(n)
        for st in steps:
            kind = "rake" if isinstance(st, RakeStep) else "post"
            if isinstance(st, RakeStep):
                w_t = np.asarray(st.new, dtype=float)
                pos = w_t > 0
                q = pos.astype(float)
                a = w_t
                with np.errstate(divide="ignore", invalid="ignore"):
                    b = np.where(pos, 1.0 / np.where(pos, w_t, 1.0), 0.0)
                cells, n_cells, per = _cells(list(st.margins))
            else:
                new = np.asarray(st.new, dtype=float)
                old = np.asarray(st.old, dtype=float)
                psw = np.where((new == 0) & (old == 0), 1.0, new)
                q = np.ones(n)
                a = psw
                with np.errstate(divide="ignore", invalid="ignore"):
                    b = np.where(psw != 0, old / np.where(psw != 0, psw, 1.0), 0.0)
                cells = np.asarray(st.cells, dtype=np.int64)
                n_cells = int(cells.max()) + 1
                per = []
            cross = [_crosstab(cells, n_cells, prev.cells, prev.n_cells, a_prev * b) for prev, a_prev in zip(built, a_list, strict=True)]
            if kind == "rake" and np.array_equal(a, w_final):
                # the last raking (b = 1/w): the cell sums weigh every row with a positive weight
                # by 1, exactly (w · 1/w need not round to 1)
                v_step: np.ndarray | None = q * q_all
                if bool(np.all(v_step == 1.0)):
                    v_step = None
            else:
                v_step = w_final * b * q_all
            step = _Step(kind, cells, n_cells, v_step, cross)
            if isinstance(st, RakeStep):
                step.count = np.bincount(cells[w_t > 0], minlength=n_cells).astype(float)
                step.sweeps = st.sweeps
                for codes in per:
                    n_lev = int(codes.max()) + 1 if len(codes) else 0
                    to_margin = _crosstab(codes, n_lev, np.arange(n_cells), n_cells, np.ones(n_cells))
                    step.margins.append((to_margin, codes, np.asarray(to_margin @ step.count)))
            else:
                step.denom = np.bincount(cells, weights=old, minlength=n_cells)
            a_list = [a_prev * q for a_prev in a_list]
            a_list.append(a.copy())
            q_all = q_all * q
            built.append(step)
        for step, a_s in zip(built, a_list, strict=True):
            step.to_psu = _crosstab(psu, n_psu, step.cells, step.n_cells, a_s)
        self._a = a_list
        self.steps = built
        v_psu = w_final * q_all
        # the final weights themselves when no row is dropped: their PSU totals are shared
        self.v_psu = w_final if np.array_equal(v_psu, w_final) else v_psu

    def psu_totals(self, agg: Aggregator, psu: np.ndarray, n_psu: int,
                   others: Sequence[tuple[np.ndarray, int]] = ()) -> tuple[np.ndarray, list[np.ndarray]]:
        """(n_psu, k) PSU totals of the calibration residuals of ``w u`` (``agg`` aggregates
        ``u``), and the same totals over each ``(part, n_part)`` of ``others`` (the units of a
        multistage design's later stages)."""
        hs: list[np.ndarray] = []
        for step in self.steps:
            r0 = agg(step.cells, step.n_cells, step.v)
            for c, h in zip(step.cross, hs, strict=True):
                r0 = r0 - np.asarray(c @ h)
            hs.append(step.solve(r0))
        z = agg(psu, n_psu, self.v_psu)
        for step, h in zip(self.steps, hs, strict=True):
            assert step.to_psu is not None
            z = z - np.asarray(step.to_psu @ h)
        more = []
        for part, n_part in others:
            zp = agg(part, n_part, self.v_psu)
            for step, h, a_s in zip(self.steps, hs, self._a, strict=True):
                zp = zp - np.asarray(_crosstab(part, n_part, step.cells, step.n_cells, a_s) @ h)
            more.append(zp)
        return z, more


@dataclass(frozen=True)
class StratumVariance:
    """The stratified (ultimate-cluster) variance of PSU totals, with each stratum's share.

    ``var`` (k,) the variances of the k totals; ``parts`` (H, k) each stratum's contribution
    ``V_h`` (they sum to ``var``); ``n_h`` (H,) the PSUs per stratum.
    """

    var: np.ndarray
    parts: np.ndarray
    n_h: np.ndarray


def stratum_variance(z: np.ndarray, psu_stratum: np.ndarray, n_h: np.ndarray, f_h: np.ndarray,
                     lonely_psu: str, full: bool) -> tuple[np.ndarray | None, StratumVariance]:
    """``sum_h f_h n_h/(n_h - 1) sum_j (z_hj - zbar_h)(z_hj - zbar_h)'`` (with-replacement
    approximation, R's ``svyrecvar``): the k×k covariance when ``full`` (else None) and the
    per-stratum variances."""
    n_str = len(n_h)
    by_stratum = _stratum_summer(psu_stratum, n_str)
    sums = by_stratum(z)
    lonely = n_h == 1
    centre = sums / np.maximum(n_h, 1)[:, None]
    if lonely_psu == "adjust":
        centre[lonely] = 0.0  # R's "adjust": deviation from the population mean, zero
    dev = z - centre[psu_stratum]
    scale_h = f_h * np.where(lonely, 1.0, n_h / np.maximum(n_h - 1, 1))
    if lonely_psu in ("remove", "certainty"):
        scale_h = np.where(lonely, 0.0, scale_h)
    scale = scale_h[psu_stratum]
    sq = dev * dev * scale[:, None]
    parts = by_stratum(sq)
    cov = (dev * scale[:, None]).T @ dev if full else None
    return cov, StratumVariance(parts.sum(axis=0), parts, n_h)


def _stratum_summer(psu_stratum: np.ndarray, n_str: int) -> Callable[[np.ndarray], np.ndarray]:
    """``f(x)``: the (strata, k) sums of the rows of the (PSUs, k) array ``x`` by stratum. PSUs
    numbered stratum by stratum (a design's, see :class:`sottovoce.survey.Survey`) are summed
    in contiguous blocks (one ``reduceat`` for all k columns); otherwise one bincount a column."""
    if len(psu_stratum) and bool((psu_stratum[1:] >= psu_stratum[:-1]).all()):
        starts = np.searchsorted(psu_stratum, np.arange(n_str))
        if len(np.unique(starts)) == n_str:  # every stratum holds a PSU: no empty block

            def blocks(x: np.ndarray) -> np.ndarray:
                return np.add.reduceat(x, starts, axis=0)

            return blocks

    def columns(x: np.ndarray) -> np.ndarray:
        out = np.empty((n_str, x.shape[1]))
        for j in range(x.shape[1]):
            out[:, j] = np.bincount(psu_stratum, weights=x[:, j], minlength=n_str)
        return out

    return columns
