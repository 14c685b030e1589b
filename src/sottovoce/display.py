"""The one table builder: what a result shows, rendered as text, HTML or a rich table.

:func:`result_display` turns any :class:`~sottovoce.Result` into a :class:`Display`: a table of
estimates (shares in percent), coefficient tables laid out as statsmodels prints them (coef,
std err, z or t, P>|z|, interval), fit statistics, a table of tests (statistic, df, p) and notes,
with the warnings always last. ``Result.summary()``, ``Result._repr_html_()`` and the CLI all
render the same cells, so the numbers agree wherever they are read.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._results import format_value

if TYPE_CHECKING:
    from ._results import Result

__all__ = ["Table", "Display", "result_display", "STAT_LABELS"]

#: how fit statistics in ``Result.stats`` are labelled
STAT_LABELS: dict[str, str] = {
    "loglik": "Log-likelihood",
    "deviance": "Deviance",
    "aic": "AIC",
    "iterations": "Iterations (all steps)",
    "em_iterations": "of which EM steps",
    "converged": "Converged",
    "n_arms": "Respondents per arm",
    "cells": "Distinct cells",
    "df_resid": "Residual df",
    "se_method": "Standard errors",
    "se_type": "Standard errors",
    "formula": "Model",
    "covariates": "Covariates",
    "design": "Design",
    "family": "Family",
    "link": "Link",
    "design_df": "Design df",
    "weighted_n": "Weighted N",
}

OUT_OF_RANGE_MARK = " (!)"


@dataclass
class Table:
    """A table of formatted cells: the first column is left-aligned, the others right-aligned."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Display:
    """Everything shown for one result, in order: tables, lines, then warnings."""

    title: str
    tables: list[Table] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Plain text (``Result.summary()``)."""
        out = [self.title] if self.title else []
        for t in self.tables:
            out.extend(_text_table(t))
        out.extend(self.lines)
        out.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(out)

    def html(self) -> str:
        """HTML for Jupyter (``Result._repr_html_()``)."""
        parts = ["<div class='sottovoce-result'>"]
        if self.title:
            parts.append(f"<p><b>{html.escape(self.title)}</b></p>")
        for t in self.tables:
            parts.append(_html_table(t))
        if self.lines:
            parts.append("<p>" + "<br>".join(html.escape(x) for x in self.lines) + "</p>")
        for w in self.warnings:
            parts.append(f"<p class='warning'><i>warning: {html.escape(w)}</i></p>")
        parts.append("</div>")
        return "".join(parts)

    def rich(self) -> list[Any]:
        """Renderables for a rich console (the CLI); warnings are printed separately on stderr."""
        from rich.table import Table as RichTable
        from rich.text import Text

        out: list[Any] = []
        if self.title and (not self.tables or self.tables[0].title):
            out.append(Text(self.title, style="bold"))
        for i, t in enumerate(self.tables):
            title = t.title or (self.title if i == 0 else "")
            rt = RichTable(title=Text(title) if title else None)
            for j, h in enumerate(t.header):
                rt.add_column(Text(h), justify="left" if j == 0 else "right")
            for row in t.rows:
                rt.add_row(*(Text(c) for c in row))  # plain text: no rich markup in labels like [T.x]
            out.append(rt)
        out.extend(Text(x) for x in self.lines)
        return out


def _text_table(t: Table) -> list[str]:
    widths = [len(h) for h in t.header]
    for row in t.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        # nothing is cut: the text shows every character the HTML and the CLI show
        return "  ".join([f"{cells[0]:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))]).rstrip()

    out = [t.title] if t.title else []
    out.append(fmt(t.header))
    out.extend(fmt(r) for r in t.rows)
    return out


def _html_table(t: Table) -> str:
    cap = f"<caption>{html.escape(t.title)}</caption>" if t.title else ""
    head = "".join(f"<th style='text-align:{'left' if j == 0 else 'right'}'>{html.escape(h)}</th>" for j, h in enumerate(t.header))
    body = "".join(
        "<tr>" + "".join(
            f"<th style='text-align:left'>{html.escape(c)}</th>" if j == 0 else f"<td style='text-align:right'>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        ) + "</tr>"
        for row in t.rows
    )
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- building ---------------------------------------------------------------------------------
def result_display(r: Result) -> Display:
    """The display of a result: estimates, coefficients, statistics, tests, notes, warnings."""
    title = r.method + (f" — {r.variable}" if r.variable else "")
    d = Display(title=title)
    main = _estimates_table(r)
    if main is not None:
        d.tables.append(main)
        d.lines.extend(_interval_lines(r))
    d.tables.extend(_coefficient_tables(r))
    d.lines.extend(_stat_lines(r.stats))
    tests = _tests_table(r.hypothesis_tests)
    if tests is not None:
        d.tables.append(tests)
    d.lines.extend(r.notes)
    d.warnings.extend(dict.fromkeys(r.warnings))
    return d


def _estimates_table(r: Result) -> Table | None:
    rows = r.rows()
    if not rows or (r.scale == "statistic" and r.hypothesis_tests and not (r.categories or r.groups)):
        return None  # a test: its table of tests says it all
    pcts = [x.is_share for _, x in rows]
    all_pct = all(p for p, (_, x) in zip(pcts, rows, strict=True) if x.failed is None)
    unit = " %" if all_pct else ""
    dfs = {(x.ci_method, x.df) for _, x in rows if x.ci is not None}
    show_df = len({df for _, df in dfs}) > 1
    header = ["", f"estimate{unit}", "se", f"{r.level_ci * 100:g}% CI", "n"] + (["df"] if show_df else [])
    out = []
    for (name, x), pct in zip(rows, pcts, strict=True):
        suffix = "%" if pct and not all_pct else ""
        if x.failed is not None:
            cells = [name, "not estimated", "–", "–", _int(x.n)]
        else:
            est = format_value(x.estimate, pct) + suffix + (OUT_OF_RANGE_MARK if x.out_of_range else "")
            ci = "–" if x.ci is None else f"{format_value(x.ci[0], pct)} – {format_value(x.ci[1], pct)}"
            cells = [name, est, format_value(x.se, pct), ci, _int(x.n)]
        if show_df:
            cells.append(_df(x.df) if x.ci is not None else "–")
        out.append(cells)
    return Table("", header, out)


def _interval_lines(r: Result) -> list[str]:
    lines = []
    methods: dict[str, tuple[float | None, str]] = {}
    truncated: set[str] = set()
    for _, x in r.rows():
        if x.ci is not None and x.ci_method:
            methods.setdefault(x.ci_method, (x.df, x.df_name))
            if x.ci_method == "t-truncated":
                truncated.add(x.scale)
    for m, (df, name) in methods.items():
        how = _METHOD_WORDS.get(m, m)
        if m == "t-truncated":
            cut = {"share": "[0, 1]", "share-difference": "[−1, 1]"}
            how += " cut to " + (" for shares, ".join(cut[s] for s in ("share", "share-difference") if s in truncated)
                                 + (" for differences" if len(truncated) > 1 else ""))
        dft = "normal quantiles" if df is None else f"t on {_df(df)} df" + (f" ({name})" if name else "")
        lines.append(f"{r.level_ci * 100:g}% CI: {how}; {dft}")
    flagged = [x for _, x in r.rows() if x.out_of_range and x.estimate is not None]
    # truncate=True reports an impossible estimate cut to the range: it is flagged, but not "kept as computed"
    reported_cut = [x for x in flagged if x.details.get("raw_estimate") not in (None, x.estimate)]
    if len(reported_cut) < len(flagged):
        lines.append(f"{OUT_OF_RANGE_MARK.strip()} estimate outside the range of a share: kept as computed, see the warnings")
    if reported_cut:
        lines.append(f"{OUT_OF_RANGE_MARK.strip()} computed estimate outside the range of a share: reported truncated to it, see the warnings")
    return lines


_METHOD_WORDS = {
    "wilson": "Wilson (effective sample size)",
    "logit": "logit",
    "beta": "Korn–Graubard (beta)",
    "wald": "Wald",
    "t": "estimate ± t·se",
    "t-truncated": "estimate ± t·se,",
    "imbens-manski": "Imbens–Manski",
    "woodruff": "Woodruff (1952)",
}


def _coefficient_tables(r: Result) -> list[Table]:
    table = r._coefficient_table()
    if not table:
        return []
    df_resid = r.stats.get("df_resid")
    z = "z" if df_resid is None else "t"
    lo_q, hi_q = (1 - r.level_ci) / 2, 1 - (1 - r.level_ci) / 2
    header = ["", "coef", "std err", z, f"P>|{z}|", f"[{lo_q:.3g}", f"{hi_q:.3g}]"]
    out = []
    for part, terms in table.items():
        rows = [[term, _f(v["coef"], 4), _f(v["se"], 4), _f(v["statistic"], 3), _f(v["p_value"], 3),
                 _f(v["ci"][0], 3), _f(v["ci"][1], 3)] for term, v in terms.items()]
        out.append(Table(f"coefficients: {part}", header, rows))
    return out


def _stat_lines(stats: Mapping[str, Any]) -> list[str]:
    lines = []
    for k, v in stats.items():
        if v is None:
            continue
        lines.append(f"{STAT_LABELS.get(k, k.replace('_', ' '))}: {_stat_value(k, v)}")
    return lines


def _stat_value(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {_stat_value(key, x)}" for k, x in v.items())
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if key in ("loglik", "deviance", "aic"):
            return f"{v:.3f}"
        return f"{v:.4g}"
    return str(v)


def _tests_table(tests: Mapping[str, Mapping[str, Any]]) -> Table | None:
    if not tests:
        return None
    rows = []
    for name, t in tests.items():
        stat = t.get("statistic")
        label = t.get("name", name)
        stat_name = t.get("statistic_name")
        rows.append([str(label), (f"{stat_name} = " if stat_name else "") + _f(stat, 4, sig=True), _dfs(t.get("df")),
                     _p(t.get("p_value"))])
    return Table("tests", ["test", "statistic", "df", "p-value"], rows)


# -- number formats ---------------------------------------------------------------------------
def _ok(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _f(x: Any, digits: int, sig: bool = False) -> str:
    if not _ok(x):
        return "–"
    return f"{float(x):.{digits}g}" if sig else f"{float(x):.{digits}f}"


def _p(x: Any) -> str:
    if not _ok(x):
        return "–"
    return "<0.0001" if float(x) < 1e-4 else f"{float(x):.4f}"


def _df(x: Any) -> str:
    if not _ok(x):
        return "∞" if x is None or (isinstance(x, float) and math.isinf(x)) else "–"
    v = float(x)
    return f"{v:.0f}" if v.is_integer() else f"{v:.2f}"


def _dfs(x: Any) -> str:
    if isinstance(x, (list, tuple)):
        return ", ".join(_df(v) for v in x)
    return _df(x)


def _int(x: Any) -> str:
    return "" if x is None else f"{int(x)}"
