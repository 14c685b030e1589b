"""The field report: one self-contained HTML page (en/ru) listing every check and what it found."""

from __future__ import annotations

import json
from typing import Any

import jinja2

from .._words import count_en, count_ru, plural_ru
from .check import FieldCheck
from .texts import T, pick

__all__ = ["render_field_report"]

_TEMPLATE = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ T('report_title') }}: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
.status { font-weight: bold; padding: 0 .4em; border-radius: .2em; }
.ok { background: #dfd; } .problem { background: #fdd; } .skipped { background: #eee; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: 90%; }
td, th { border: 1px solid #ccc; padding: .2em .5em; text-align: left; }
</style></head>
<body>
<h1>{{ T('report_title') }}: {{ title }}</h1>
<p>{{ T('file') }}: <code>{{ file }}</code>, n = {{ n }}</p>
<p class="summary">{{ summary }}</p>
{% for c in checks %}
<section id="check-{{ c.id }}">
<h2><span class="status {{ c.status }}">{{ T(c.status) }}</span> {{ T(c.id) }}</h2>
{% if c.findings %}<ul>{% for f in c.findings %}<li>{{ f[lang] }}</li>{% endfor %}</ul>{% endif %}
{% if c.rows %}
<table>
<tr>{% for k in c.cols %}<th>{{ k }}</th>{% endfor %}</tr>
{% for r in c.rows %}<tr>{% for k in c.cols %}<td>{{ fmt(r.get(k)) }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endif %}
</section>
{% endfor %}
</body></html>
"""


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def summary_line(result: FieldCheck, lang: str = "en") -> str:
    """One sentence: how many checks ran on how many interviews and how many found a problem,
    with every count agreeing with its noun (1 check, 2 checks; в 1 проверке, в 5 проверках)."""
    bad = len(result.problems())
    run = sum(c.status != "skipped" for c in result.checks)
    if lang == "ru":  # «интервью» does not decline; «в … проверках» is prepositional, «из … проверок» genitive
        words = {"checks": count_ru(run, "проверке", "проверках", "проверках"),
                 "of_checks": count_ru(run, "проверки", "проверок", "проверок"),
                 "interviews": f"{result.n} интервью", "found": plural_ru(bad, "нашла", "нашли", "нашли")}
    else:
        words = {"checks": count_en(run, "check"), "of_checks": count_en(run, "check"),
                 "interviews": count_en(result.n, "interview"), "found": ""}
    return T("summary_bad" if bad else "summary_ok", lang).format(p=bad, **words)


def render_field_report(result: FieldCheck, lang: str = "en") -> str:
    """The report of :func:`~sottovoce.fielding.field_check` as HTML in ``lang`` (en or ru)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    checks = []
    for c in result.checks:
        keys: list[str] = []
        for r in c.rows:
            keys += [k for k in r if k not in keys]
        checks.append({"id": c.id, "status": c.status, "findings": c.findings, "rows": c.rows, "cols": keys})
    summary = summary_line(result, lang)
    return env.from_string(_TEMPLATE).render(
        lang=lang, T=lambda k: T(k, lang), title=pick(result.study.title, lang) or result.study.id,
        file=result.file.name, n=result.n, summary=summary, checks=checks, fmt=_fmt)
