"""The HTML report: one self-contained file a journalist can quote and a methodologist can check.

The report is rendered from the ``results.json`` payload alone (``sottovoce report`` re-renders it
without recomputing). It has a plain-language headline with its uncertainty, the direct and
indirect estimates side by side, subgroups, nonresponse, weighting, methods with their papers and
caveats generated from the results. Cells with fewer than ``min_cell`` respondents are suppressed
in every table and chart (the usual statistical-disclosure rule for published tables; see
:mod:`sottovoce.disclosure`), and an impossible estimate (a share outside 0–100%) is flagged,
never headlined (:mod:`.shares`).

Modules: :mod:`.headline` (the main finding in sentences), :mod:`.view` (the sections of the
page), :mod:`.shares` (what of an estimate may be shown), :mod:`.charts` (SVG), :mod:`.text`
(the English and Russian strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from .headline import headline, headline_numbers
from .text import STRINGS
from .view import build_view, failures

__all__ = ["render_report", "write_report", "build_view", "headline", "headline_numbers", "failures", "LANGUAGES"]

LANGUAGES = tuple(STRINGS)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _lang(results: Mapping[str, Any], lang: str | None) -> str:
    lang = lang or results.get("language") or "en"
    if lang not in STRINGS:
        from ..errors import InputError

        raise InputError(f"unknown report language '{lang}'; use one of {', '.join(STRINGS)}")
    return lang


def render_report(results: Mapping[str, Any], lang: str | None = None) -> str:
    """The report as one self-contained HTML string (inline CSS and SVG; no external requests)."""
    view = build_view(results, lang)
    from markupsafe import Markup

    view["compare_chart"] = Markup(view["compare_chart"])
    for g in view["groups"]:
        g["chart"] = Markup(g["chart"])
    if view["nonresponse"].get("sens_chart"):
        view["nonresponse"]["sens_chart"] = Markup(view["nonresponse"]["sens_chart"])
    if view["trend"] is not None and view["trend"]["chart"]:
        view["trend"]["chart"] = Markup(view["trend"]["chart"])
    return _env().get_template("report.html.j2").render(**view)


def write_report(results: Mapping[str, Any], path: str | Path, lang: str | None = None) -> Path:
    """Render the report and write it to ``path`` (UTF-8)."""
    p = Path(path)
    p.write_text(render_report(results, lang), encoding="utf-8")
    return p
