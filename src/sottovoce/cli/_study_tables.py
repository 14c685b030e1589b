"""Terminal tables of a study's results (``sottovoce demo`` and ``sottovoce analyze``).

They read the publishable ``results.json`` payload only, through the same helpers as the report
(:mod:`sottovoce.report.shares`), so what the terminal shows is exactly what the report and the
JSON say: small groups suppressed, intervals inside their range, impossible estimates flagged,
failed groups named. Labels follow the report language (``--lang``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ..report.shares import (
    DIFFERENCE,
    SHARE,
    failed,
    has_interval,
    out_of_range,
    publishable_estimate,
    shown_ci,
)
from ..report.text import STRINGS, t
from ..report.view import fmt1

_RATES = ("RR1", "RR3", "COOP1", "REF1", "CON1")


def _min_cell(data: Mapping[str, Any]) -> int:
    return int(data.get("min_cell", 30) or 30)


def _cells(r: Mapping[str, Any], lang: str, min_cell: int, bounds: tuple[float, float] = SHARE) -> tuple[str, str, str]:
    """Estimate, interval and n of one row, or why they are not shown.

    The respondent count is shown on every row, suppressed ones included: results.json and
    results.csv publish it for them too, and a blank n read as "no respondents".
    """
    S = STRINGS[lang]
    n = "" if r.get("n") is None else str(r["n"])
    if failed(r):
        return S["tbl_failed"], "", n
    if r.get("suppressed") or not publishable_estimate(r, min_cell):
        return S["tbl_suppressed"], t(lang, "tbl_small", k=min_cell), n
    est = fmt1(r["estimate"], lang)
    if bounds == SHARE and out_of_range(r):
        est += f" ({S['tbl_impossible']})"
    if not has_interval(r):  # all of the interval outside the range: the contract gives none
        return est, "–", n
    lo, hi = shown_ci(r, bounds)
    return est, f"{fmt1(lo, lang)} – {fmt1(hi, lang)}", n


def _questions(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [q for q in data.get("questions", []) if isinstance(q.get("result"), Mapping)]


def _table(title: str, columns: Sequence[str], left: int) -> Table:
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < left else "right")
    return table


def direct_by_group(data: Mapping[str, Any], lang: str = "en") -> Table | None:
    """Weighted share giving the sensitive answer to each direct question, overall and by group."""
    S = STRINGS[lang]
    min_cell = _min_cell(data)
    direct = [q for q in _questions(data) if q.get("type") == "direct"]
    if not direct:
        return None
    table = _table(S["tbl_direct_title"], [S["tbl_question"], S["tbl_group"], S["tbl_estimate"], S["tbl_ci"], S["tbl_n"]], 2)
    labels = data.get("labels") or {}

    def label(key: str, fallback: Any) -> str:
        v = labels.get(key)
        return str((v.get(lang) or v.get("en")) if isinstance(v, Mapping) else (v or fallback))

    for q in direct:
        r = q["result"]
        table.add_row(q["id"], S["tbl_everyone"], *_cells(r, lang, min_cell))
        for g in r.get("groups", ()):
            by = str(g.get("by"))
            level = g.get("label") if g.get("label") is not None else g.get("level")
            table.add_row("", f"{label(by, by)} = {label(f'{by}={level}', level)}", *_cells(g, lang, min_cell))
    return table


def direct_vs_indirect(data: Mapping[str, Any], lang: str = "en") -> Table | None:
    """Every question design side by side, then each direct − indirect gap."""
    S = STRINGS[lang]
    min_cell = _min_cell(data)
    qs = [q for q in _questions(data) if q["result"].get("estimate") is not None or q["result"].get("suppressed")]
    if not qs:
        return None
    table = _table(S["tbl_compare_title"], [S["tbl_design"], S["tbl_question"], S["tbl_estimate"], S["tbl_ci"], S["tbl_n"]], 2)
    for q in qs:
        table.add_row(S.get(f"m_name_{q.get('type', '')}", q.get("type", "")), q["id"], *_cells(q["result"], lang, min_cell))
    byid = {q["id"]: q["result"] for q in qs}
    for c in data.get("comparisons", ()) or ():
        if not isinstance(c, Mapping) or (c.get("estimate") is None and not c.get("suppressed")):
            continue
        est, ci, n = _cells(c, lang, min_cell, DIFFERENCE)
        if publishable_estimate(c, min_cell) and (out_of_range(byid.get(c.get("indirect"))) or out_of_range(c, DIFFERENCE)):
            est += f" ({S['tbl_not_a_finding']})"  # a difference to an impossible share is no finding either
        table.add_row(S["tbl_gap"], str(c.get("indirect", "")), est, ci, n)
    return table


def nonresponse(data: Mapping[str, Any], lang: str = "en") -> Table | None:
    """AAPOR outcome rates, worst-case bounds and the tipping point of the sensitivity curve."""
    S = STRINGS[lang]
    nr = data.get("nonresponse") or {}
    if not isinstance(nr, Mapping) or nr.get("status") not in (None, "ok", "done") or not nr.get("rates"):
        return None
    table = _table(S["tbl_nr_title"], [S["tbl_measure"], S["tbl_value"]], 1)
    rates = nr.get("rates", {})
    for name in _RATES:
        if rates.get(name) is not None:
            table.add_row(f"AAPOR {name}", fmt1(rates[name], lang))
    b = nr.get("bounds") or {}
    if isinstance(b, Mapping) and b.get("lower") is not None:
        table.add_row(t(lang, "tbl_bounds", q=b.get("question", "")), f"{fmt1(b['lower'], lang)} – {fmt1(b['upper'], lang)}")
    s = nr.get("sensitivity") or {}
    if isinstance(s, Mapping) and s.get("tipping_share") is not None:
        table.add_row(t(lang, "tbl_tipping", threshold=fmt1(s.get("threshold", 0.5), lang)), fmt1(s["tipping_share"], lang))
    return table


def split_ballots(data: Mapping[str, Any], lang: str = "en") -> Table | None:
    """Each worded question's yes share per split arm (``wording_by`` in the study file)."""
    from ..report.splits import SPLIT_TEXT, split_rows

    rows, _ = split_rows(data, lang)
    if not rows:
        return None
    T = SPLIT_TEXT[lang]
    table = _table(T["title"], [T["question"], T["arm"], T["yes"], T["ci"], T["base"], T["n"]], 2)
    for r in rows:
        table.add_row(r["question"], r["arm"], r["yes"], r["ci"], r["base"], r["n"])
    return table


def print_tables(console: Console, data: Mapping[str, Any], which: Sequence[str] = ("direct", "compare", "split", "nonresponse"),
                 lang: str | None = None) -> None:
    """Print the chosen tables (skipping those the study has no results for)."""
    lang = lang or str(data.get("language") or "en")
    makers = {"direct": direct_by_group, "compare": direct_vs_indirect, "split": split_ballots, "nonresponse": nonresponse}
    for key in which:
        table = makers[key](data, lang)
        if table is not None:
            console.print(table)
