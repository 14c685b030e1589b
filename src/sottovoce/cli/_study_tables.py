"""Terminal tables of a study's results (``sottovoce demo`` and ``sottovoce analyze``).

They read the ``results.json`` payload only, so what the terminal shows is exactly what the report
and the JSON say. Groups with fewer respondents than the study's ``min_cell`` are suppressed here
too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from .._results import format_value

_METHOD_NAMES = {
    "direct": "direct question",
    "list": "list experiment",
    "double_list": "double list experiment",
    "rr": "randomized response",
    "crosswise": "crosswise model",
}
_RATES = ("RR1", "RR3", "COOP1", "REF1", "CON1")


def _pct(x: Any) -> str:
    return format_value(x, pct=True)


def _ci(r: Mapping[str, Any]) -> str:
    ci = r.get("ci") or (None, None)
    return f"{_pct(ci[0])} – {_pct(ci[1])}"


def _questions(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [q for q in data.get("questions", []) if isinstance(q.get("result"), Mapping) and q["result"].get("estimate") is not None]


def direct_by_group(data: Mapping[str, Any]) -> Table | None:
    """Weighted share giving the sensitive answer to each direct question, overall and by group."""
    min_cell = int(data.get("min_cell", 30) or 30)
    direct = [q for q in _questions(data) if q.get("type") == "direct"]
    if not direct:
        return None
    table = Table(title="Asked directly (weighted), %", title_justify="left")
    for col in ("question", "group", "estimate %", "95% CI", "n"):
        table.add_column(col, justify="left" if col in ("question", "group") else "right")
    for q in direct:
        r = q["result"]
        table.add_row(q["id"], "everyone", _pct(r["estimate"]), _ci(r), str(r.get("n", "")))
        for g in r.get("groups", ()):
            name = f"{g.get('by')} = {g.get('label') or g.get('level')}"
            if (g.get("n") or 0) < min_cell:
                table.add_row("", name, "suppressed", f"n < {min_cell}", "")
            else:
                table.add_row("", name, _pct(g.get("estimate")), _ci(g), str(g.get("n", "")))
    return table


def direct_vs_indirect(data: Mapping[str, Any]) -> Table | None:
    """Every question design side by side, then each direct − indirect gap."""
    qs = _questions(data)
    if not qs:
        return None
    table = Table(title="Direct and indirect questions side by side, %", title_justify="left")
    for col in ("design", "question", "estimate %", "95% CI", "n"):
        table.add_column(col, justify="left" if col in ("design", "question") else "right")
    for q in qs:
        r = q["result"]
        table.add_row(_METHOD_NAMES.get(q.get("type", ""), q.get("type", "")), q["id"], _pct(r["estimate"]), _ci(r), str(r.get("n", "")))
    for c in data.get("comparisons", ()) or ():
        if not isinstance(c, Mapping) or c.get("estimate") is None:
            continue
        what = c.get("indirect") if isinstance(c.get("indirect"), str) else c.get("method", "gap")
        table.add_row("gap: direct − indirect", str(what), _pct(c["estimate"]), _ci(c), str(c.get("n", "")))
    return table


def nonresponse(data: Mapping[str, Any]) -> Table | None:
    """AAPOR outcome rates, worst-case bounds and the tipping point of the sensitivity curve."""
    nr = data.get("nonresponse") or {}
    if not isinstance(nr, Mapping) or nr.get("status") not in (None, "ok", "done") or not nr.get("rates"):
        return None
    table = Table(title="Who did not answer", title_justify="left")
    table.add_column("measure")
    table.add_column("value %", justify="right")
    rates = nr.get("rates", {})
    for name in _RATES:
        if name in rates:
            table.add_row(f"AAPOR {name}", _pct(rates[name]))
    b = nr.get("bounds") or {}
    if isinstance(b, Mapping) and b.get("lower") is not None:
        table.add_row(f"worst-case bounds, {b.get('question', '')}", f"{_pct(b['lower'])} – {_pct(b['upper'])}")
    s = nr.get("sensitivity") or {}
    if isinstance(s, Mapping) and s.get("tipping_share") is not None:
        table.add_row(
            f"tipping point: the total reaches {_pct(s.get('threshold', 0.5))}% if this share of nonrespondents say 'yes'",
            _pct(s["tipping_share"]),
        )
    return table


def print_tables(console: Console, data: Mapping[str, Any], which: Sequence[str] = ("direct", "compare", "nonresponse")) -> None:
    """Print the chosen tables (skipping those the study has no results for)."""
    makers = {"direct": direct_by_group, "compare": direct_vs_indirect, "nonresponse": nonresponse}
    for key in which:
        table = makers[key](data)
        if table is not None:
            console.print(table)
