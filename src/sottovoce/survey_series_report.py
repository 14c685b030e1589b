"""Outputs of a series (:mod:`sottovoce.survey_series`): the tidy CSV, terminal tables and the HTML tracker.

Everything is rendered from the ``results.json`` payload. Estimates pass through the report's one
rule (:mod:`sottovoce.report.shares`): fewer than ``min_cell`` respondents → suppressed, intervals
inside [0, 1], failed groups named. Charts are inline SVG drawn with the report's matplotlib style
(:mod:`sottovoce.report.charts`), every label in the report's language.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .disclosure import is_small
from .errors import InputError
from .report.shares import failed, has_interval, shown_ci
from .report.text import fewer_than, pick
from .report.view import fmt1

__all__ = ["tidy_rows", "text_tables", "render_series", "write_series", "CSV_COLUMNS"]

CSV_COLUMNS = ["wave", "start", "end", "pollster", "question", "kind", "wording", "arm", "category", "category_label", "group",
               "level", "level_label", "estimate", "se", "ci_low", "ci_high", "n", "suppressed", "status"]

S = {
    "en": {"report": "Survey series report", "waves": "Waves", "wave": "Wave", "fieldwork": "Fieldwork", "pollster": "Pollster",
           "mode": "Mode", "file": "File", "weights": "Weights", "n": "n", "subsample": "Subsample", "share": "Share, %",
           "ci": "95% interval", "answer": "Answer", "question": "Question", "wording": "Wording", "composites": "Composite measures",
           "questions": "Tracked questions", "by": "By", "trend": "Pooled trend", "latest": "Latest smoothed share",
           "harmonisation": "Harmonisation", "column": "Column", "codes": "Codes", "definition": "Definition",
           "chart_x": "Fieldwork (midpoint)", "chart_y": "Share of respondents, %", "band": "Pooled trend (95% band)",
           "suppressed": "fewer than {fewer}", "not_estimated": "not estimated", "published": "Published figures checked",
           "source": "Source", "published_value": "Published, %", "ours": "This report, %", "arm": "split ballot, arm",
           "contents": "Contents", "methods": "Methods",
           "methods_text": "Shares are weighted; intervals are design-based (Taylor linearization on each wave's design; "
                           "Wilson intervals for shares, as R survey's svyciprop). Composite measures are respondents who meet "
                           "all listed conditions, out of all respondents in the wave (base all) or of those asked every question in them (base answered). Trends pool the waves in a random-walk "
                           "model with house effects per wording (Jackman 2005).",
           "ref_note": "Reference", "subgroup_trends": "Subgroup trends", "group": "Group",
           "reproduced": "reproduced", "not_reproduced": "not reproduced", "verdict": "Check",
           "base_dk": "{wave}: base = those with an answer ({a} of {n}); the file stores hard-to-say and refusals as blanks",
           "base_blank": "{wave}: base = those with an answer ({a} of {n}); {b} are blank in the file",
           "not_comparable": "{wave}: not comparable with the other waves — base = those with an answer to {qs} ({a} of {n}); "
                             "the file stores hard-to-say and refusals as blanks"},
    "ru": {"report": "Отчёт по серии опросов", "waves": "Волны", "wave": "Волна", "fieldwork": "Полевой период", "pollster": "Исследователь",
           "mode": "Метод", "file": "Файл", "weights": "Веса", "n": "n", "subsample": "Подвыборка", "share": "Доля, %",
           "ci": "95% интервал", "answer": "Ответ", "question": "Вопрос", "wording": "Формулировка", "composites": "Составные показатели",
           "questions": "Отслеживаемые вопросы", "by": "По группам", "trend": "Сводный тренд", "latest": "Последнее сглаженное значение",
           "harmonisation": "Сопоставление волн", "column": "Столбец", "codes": "Коды", "definition": "Определение",
           "chart_x": "Полевой период (середина)", "chart_y": "Доля респондентов, %", "band": "Сводный тренд (95% полоса)",
           "suppressed": "меньше {fewer}", "not_estimated": "не оценено", "published": "Сверка с опубликованными цифрами",
           "source": "Источник", "published_value": "Опубликовано, %", "ours": "Этот отчёт, %", "arm": "расщеплённая выборка, вариант",
           "contents": "Содержание", "methods": "Методы",
           "methods_text": "Доли взвешены; интервалы учитывают дизайн выборки (линеаризация Тейлора по дизайну каждой волны; "
                           "интервалы Уилсона для долей, как svyciprop в R survey). Составной показатель — доля респондентов, "
                           "выполняющих все перечисленные условия, среди всех опрошенных в волне (база «all») или среди тех, кому задали все входящие в него вопросы (база «answered»). Тренд объединяет волны в модели "
                           "случайного блуждания с эффектами формулировок (Jackman 2005).",
           "ref_note": "База сравнения", "subgroup_trends": "Тренды по группам", "group": "Группа",
           "reproduced": "совпадает", "not_reproduced": "не совпадает", "verdict": "Сверка",
           "base_dk": "{wave}: база — ответившие ({a} из {n}); в файле «затрудняюсь ответить» и отказы записаны пустыми ячейками",
           "base_blank": "{wave}: база — ответившие ({a} из {n}); у {b} в файле пустая ячейка",
           "not_comparable": "{wave}: не сопоставимо с другими волнами — база — ответившие на вопросы: {qs} ({a} из {n}); "
                             "в файле «затрудняюсь ответить» и отказы записаны пустыми ячейками"},
}


def _lang(data: Mapping[str, Any], lang: str | None) -> str:
    lang = lang or data.get("language") or "en"
    if lang not in S:
        raise InputError(f"unknown report language '{lang}'; use en or ru")
    return lang


def _labels(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Question/composite id → {"text", "cats": {category id: text}}."""
    out: dict[str, dict[str, Any]] = {}
    for q in data.get("questions", []):
        out[q["id"]] = {"text": q.get("text") or {}, "cats": {c["id"]: c.get("text") or {} for c in q.get("categories", [])}}
    for c in data.get("composites", []):
        out[c["id"]] = {"text": c.get("text") or {}, "cats": {}}
    return out


def tidy_rows(data: Mapping[str, Any], lang: str | None = None) -> list[dict[str, Any]]:
    """One row per wave × question × wording × category × group level, as published."""
    lang = _lang(data, lang)
    min_cell = int(data.get("min_cell", 30))
    labels = _labels(data)
    glabels = data.get("group_labels", {})
    rows: list[dict[str, Any]] = []

    def add(w: Mapping[str, Any], qid: str, kind: str, e: Mapping[str, Any], r: Mapping[str, Any], cat: str, group: str, level: str) -> None:
        small = is_small(r, min_cell) if r.get("estimate") is not None else False
        ci = shown_ci(r) if has_interval(r) and not small else (None, None)
        gname = group.replace("__sv_h_", "")
        rows.append({
            "wave": w["id"], "start": w["start"], "end": w["end"], "pollster": w.get("pollster", ""), "question": qid, "kind": kind,
            "wording": e.get("wording") or "", "arm": e.get("arm") or "", "category": cat,
            "category_label": pick(labels.get(qid, {}).get("cats", {}).get(cat, {}), lang) if cat else pick(labels.get(qid, {}).get("text", {}), lang),
            "group": gname, "level": level, "level_label": pick(glabels.get(group, {}).get(level, {}), lang) if group else "",
            "estimate": None if small else r.get("estimate"), "se": None if small else r.get("se"),
            "ci_low": ci[0], "ci_high": ci[1], "n": r.get("n"), "suppressed": small, "status": "failed" if failed(r) else "done"})

    for w in data.get("waves", []):
        for kind, block in (("question", w.get("questions", {})), ("composite", w.get("composites", {}))):
            for qid, qb in block.items():
                for e in qb["entries"]:
                    res = e["result"]
                    for g in [res, *(res.get("groups") or [])]:
                        group = str(g.get("by") or "") if g is not res else ""
                        level = str(g.get("level") if g.get("level") is not None else "") if g is not res else ""
                        if kind == "composite":
                            add(w, qid, kind, e, g, "", group, level)
                        elif failed(g) or not g.get("categories"):
                            add(w, qid, kind, e, g, "", group, level)
                        else:
                            for c in g["categories"]:
                                add(w, qid, kind, e, {**c, "n": c.get("n", g.get("n"))}, str(c.get("code")), group, level)
    return rows


def _pct(x: Any, lang: str) -> str:
    """A share in percent with one decimal as the study report writes it (rounded half up; 54,5 in Russian)."""
    return "–" if x is None else fmt1(float(x), lang)


def _count(k: int, lang: str) -> str:
    return f"{k:,}".replace(",", "\u00a0" if lang == "ru" else ",")


def base_notes(data: Mapping[str, Any], qid: str, composite: bool, lang: str) -> dict[str, str]:
    """Wave id → what the base of this question's (or composite's) shares is in that wave, when it
    is not all respondents: many blanks, or hard-to-say and refusals stored as blanks."""
    s = S[lang]
    labels = _labels(data)
    out: dict[str, str] = {}
    for w in data.get("waves", []):
        wl = pick(w.get("label") or {}, lang) or w["id"]
        if composite:
            nc = (w.get("composites", {}).get(qid) or {}).get("not_comparable")
            if nc:
                quote = ("«", "»") if lang == "ru" else ("“", "”")
                qs = ", ".join(quote[0] + (pick(labels.get(x, {}).get("text", {}), lang) or x) + quote[1] for x in nc["questions"])
                out[w["id"]] = s["not_comparable"].format(wave=wl, qs=qs, a=_count(nc["answered"], lang), n=_count(nc["n"], lang))
            continue
        b = (w.get("bases") or {}).get(qid)
        if b and qid in w.get("questions", {}):
            key = "base_dk" if b["dk_as_blank"] else "base_blank"
            out[w["id"]] = s[key].format(wave=wl, a=_count(b["answered"], lang), n=_count(b["n"], lang), b=_count(b["blank"], lang))
    return out


def text_tables(data: Mapping[str, Any], lang: str | None = None) -> str:
    """Per-wave tables for the terminal: every category (hard to say and refusals included)."""
    lang = _lang(data, lang)
    s = S[lang]
    labels = _labels(data)
    lines = []
    rows = [r for r in tidy_rows(data, lang) if not r["group"]]
    for qid, info in labels.items():
        qrows = [r for r in rows if r["question"] == qid]
        if not qrows:
            continue
        lines.append(f"{pick(info['text'], lang) or qid} [{qid}]")
        lines.append(f"  {s['wave']:<10} {s['wording']:<12} {s['answer']:<34} {s['share']:>8} {s['ci']:>13} {s['n']:>6}")
        for r in qrows:
            ci = "" if r["ci_low"] is None else f"{_pct(r['ci_low'], lang)}–{_pct(r['ci_high'], lang)}"
            lab = r["category_label"] or r["category"] or pick(info["text"], lang)
            lines.append(f"  {r['wave']:<10} {r['wording'][:12]:<12} {lab[:34]:<34} {_pct(r['estimate'], lang):>8} {ci:>13} {r['n'] or '':>6}")
        composite = any(c["id"] == qid for c in data.get("composites", []))
        lines.extend(f"  {note}" for note in base_notes(data, qid, composite, lang).values())
        lines.append("")
    return "\n".join(lines)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else (repr(float(r[k])) if isinstance(r[k], float) else r[k])) for k in CSV_COLUMNS})


# -- charts -------------------------------------------------------------------------------------

_CAT_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999", "#000000"]


def _chart(series: list[tuple[str, list[tuple[Any, float, float, float]]]], band: list[Mapping[str, Any]] | None, title: str, lang: str) -> str:
    """Shares across waves as inline SVG: one coloured line of points with 95% intervals per
    category, the pooled trend's band behind. Written directly (no plotting library): the tracker
    has dozens of charts and each costs microseconds this way; text is SVG text in the report's
    language, so nothing is fetched."""
    import html

    import numpy as np
    import pandas as pd

    s = S[lang]
    width, height, left, right, top, bottom = 720.0, 300.0, 56.0, 16.0, 14.0, 40.0
    days = [pd.Timestamp(p[0]) for _, pts in series for p in pts] + [pd.Timestamp(b["date"]) for b in band or []]
    if not days:
        return ""
    t0, t1 = min(days), max(days)
    span = max((t1 - t0).days, 1)
    t0 -= pd.Timedelta(days=max(span // 30, 3))
    t1 += pd.Timedelta(days=max(span // 30, 3))
    span = (t1 - t0).days
    pw, ph = width - left - right, height - top - bottom

    def x(d: Any) -> float:
        return left + pw * (pd.Timestamp(d) - t0).days / span

    def y(v: float) -> float:
        return top + ph * (1 - float(v))

    out = [f'<svg role="img" aria-label="{html.escape(title, quote=True)}" class="chart" viewBox="0 0 {width:.0f} {height + 22 * ((len(series) + 2) // 3):.0f}" '
           'font-family="system-ui, sans-serif" font-size="11">']
    for v in np.arange(0, 1.01, 0.2):  # horizontal grid and y labels
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e3e8"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#5a5a5f">{100 * v:.0f}</text>')
    out.append(f'<text transform="translate(14 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle" fill="#5a5a5f">{html.escape(s["chart_y"])}</text>')
    step = "YS" if span > 500 else "QS" if span > 150 else "MS"
    for d in pd.date_range(t0, t1, freq=step):  # date ticks
        label = str(d.year) if step == "YS" else d.strftime("%Y-%m")
        out.append(f'<line x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#888"/>'
                   f'<text x="{x(d):.1f}" y="{top + ph + 16}" text-anchor="middle" fill="#5a5a5f">{label}</text>')
    legend = []
    if band:
        upper = " ".join(f"{x(b['date']):.1f},{y(b['high']):.1f}" for b in band)
        lower = " ".join(f"{x(b['date']):.1f},{y(b['low']):.1f}" for b in reversed(band))
        out.append(f'<polygon points="{upper} {lower}" fill="#0072B2" fill-opacity="0.15"/>')
        out.append('<polyline fill="none" stroke="#0072B2" stroke-opacity="0.6" points="' +
                   " ".join(f"{x(b['date']):.1f},{y(b['share']):.1f}" for b in band) + '"/>')
        legend.append((s["band"], "#0072B2", True))
    for i, (name, pts) in enumerate(series):
        if not pts:
            continue
        c = _CAT_COLOURS[i % len(_CAT_COLOURS)]
        pts = sorted(pts, key=lambda p: pd.Timestamp(p[0]))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.3" points="' + " ".join(f"{x(p[0]):.1f},{y(p[1]):.1f}" for p in pts) + '"/>')
        for d, est, lo, hi in pts:
            out.append(f'<line x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{c}" stroke-width="1.5"/>'
                       f'<circle cx="{x(d):.1f}" cy="{y(est):.1f}" r="3.2" fill="{c}"><title>{html.escape(name)}: {100 * est:.1f}% '
                       f'({100 * lo:.1f}–{100 * hi:.1f})</title></circle>')
        legend.append((name, c, False))
    for j, (name, c, is_band) in enumerate(legend):  # legend below the plot, three per row
        lx, ly = left + (j % 3) * (pw / 3), height + 6 + 20 * (j // 3)
        mark = (f'<rect x="{lx:.1f}" y="{ly - 8:.1f}" width="14" height="9" fill="{c}" fill-opacity="0.25"/>' if is_band
                else f'<circle cx="{lx + 6:.1f}" cy="{ly - 4:.1f}" r="3.5" fill="{c}"/>')
        out.append(mark + f'<text x="{lx + 18:.1f}" y="{ly:.1f}" fill="#1d1d1f">{html.escape(name[:48])}</text>')
    out.append("</svg>")
    return "".join(out)


def _mid(w: Mapping[str, Any]) -> str:
    import pandas as pd

    a, b = pd.Timestamp(w["start"]), pd.Timestamp(w["end"])
    return str((a + (b - a) / 2).date())


# -- HTML ---------------------------------------------------------------------------------------


def _css() -> str:
    tpl = (Path(__file__).parent / "report" / "templates" / "report.html.j2").read_text(encoding="utf-8")
    m = re.search(r"<style>(.*?)</style>", tpl, flags=re.S)
    return m.group(1) if m else ""


def build_series_view(data: Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """What the HTML page shows, language resolved, numbers formatted."""
    lang = _lang(data, lang)
    s = S[lang]
    min_cell = int(data.get("min_cell", 30))
    rows = tidy_rows(data, lang)
    waves = {w["id"]: w for w in data.get("waves", [])}

    def fmt(r: Mapping[str, Any]) -> dict[str, str]:
        if r["suppressed"]:
            return {"est": "–", "ci": s["suppressed"].format(fewer=fewer_than(min_cell, lang)), "cls": "suppressed"}
        if r["status"] == "failed" or r["estimate"] is None:
            return {"est": "–", "ci": s["not_estimated"], "cls": "suppressed"}
        ci = "–" if r["ci_low"] is None else f"{_pct(r['ci_low'], lang)}–{_pct(r['ci_high'], lang)}"
        return {"est": _pct(r["estimate"], lang), "ci": ci, "cls": ""}

    def section(item: Mapping[str, Any], kind: str) -> dict[str, Any]:
        qid = item["id"]
        mine = [r for r in rows if r["question"] == qid]
        top = [r for r in mine if not r["group"]]
        cats = [c["id"] for c in item.get("categories", [])] or [""]
        extra = sorted({r["category"] for r in top} - set(cats))
        cats = cats + extra
        cat_names = {c: (next((r["category_label"] for r in top if r["category"] == c), "") or c) for c in cats}
        if kind == "composite":
            cat_names = {"": pick(item.get("text") or {}, lang) or qid}
        keys = list(dict.fromkeys((r["wave"], r["wording"], r["arm"]) for r in top))
        bnotes = base_notes(data, qid, kind == "composite", lang)
        table = []
        for wid, wording, arm in keys:
            cells = {r["category"]: fmt(r) for r in top if (r["wave"], r["wording"], r["arm"]) == (wid, wording, arm)}
            n = next((r["n"] for r in top if (r["wave"], r["wording"], r["arm"]) == (wid, wording, arm)), "")
            wl = pick(waves[wid].get("label") or {}, lang) or wid
            wording_name = pick((item.get("wordings") or {}).get(wording, {}), lang) or wording
            table.append({"wave": wl, "dates": f"{waves[wid]['start']} – {waves[wid]['end']}",
                          "wording": wording_name + (f" ({s['arm']} {arm})" if arm else ""), "n": n, "base": bnotes.get(wid, "") if not arm else "",
                          "cells": [cells.get(c, {"est": "", "ci": "", "cls": ""}) for c in cats]})
        series_pts = []
        for c in cats:
            pts = [(_mid(waves[r["wave"]]), r["estimate"], r["ci_low"], r["ci_high"]) for r in top
                   if r["category"] == c and r["estimate"] is not None and r["ci_low"] is not None]
            series_pts.append((cat_names[c], pts))
        tr = item.get("trend") or {}
        band = tr.get("band") if tr.get("status") == "done" else None
        title = pick(item.get("text") or {}, lang) or qid
        chart = _chart(series_pts, band, title, lang) if any(p for _, p in series_pts) else ""
        groups = []
        for g in data.get("subgroups", []):
            grows = [r for r in mine if r["group"] == g and (kind == "composite" or r["category"] == item.get("track"))]
            if not grows or g == qid:
                continue
            levels = list(dict.fromkeys(r["level"] for r in grows))
            gpts = [(next(r["level_label"] for r in grows if r["level"] == lev) or lev,
                     [(_mid(waves[r["wave"]]), r["estimate"], r["ci_low"], r["ci_high"]) for r in grows
                      if r["level"] == lev and r["estimate"] is not None and r["ci_low"] is not None]) for lev in levels]
            gtitle = f"{title} — {s['by']}: {pick(_labels(data).get(g, {}).get('text', {}), lang) or g}"
            gtable = [{"wave": pick(waves[r['wave']].get('label') or {}, lang) or r["wave"], "level": r["level_label"] or r["level"],
                       "wording": r["wording"], **fmt(r), "n": r["n"]} for r in grows]
            groups.append({"title": gtitle, "chart": _chart(gpts, None, gtitle, lang), "rows": gtable})
        harm = [{"wave": pick(waves[w].get("label") or {}, lang) or w, "column": h["column"],
                 "codes": "; ".join(f"{cat_names.get(k, k)}: {', '.join(map(str, v))}" for k, v in h["codes"].items()),
                 "wording": (pick((item.get('wordings') or {}).get(h['wording'], {}), lang) or h["wording"]) if not h.get("split")
                 else f"{h['split']}: " + ", ".join(f"{k} → {v}" for k, v in h["arms"].items())}
                for w, h in (item.get("harmonisation") or {}).items()]
        return {"id": qid, "title": title, "kind": kind, "cats": [cat_names[c] for c in cats], "table": table, "chart": chart,
                "trend": tr if tr.get("status") == "done" else None, "trend_notes": [pick(n, lang) for n in tr.get("notes") or []], "trend_other": tr if tr.get("status") not in (None, "done") else None,
                "latest": (_pct((tr.get("latest") or {}).get("estimate"), lang), [_pct(x, lang) for x in ((tr.get("latest") or {}).get("ci") or [None, None])])
                if tr.get("status") == "done" else None,
                "groups": groups, "harmonisation": harm, "definition": item.get("definition", ""), "note": pick(item.get("note") or {}, lang),
                "base_notes": list(bnotes.values())}

    qsecs = [section(q, "question") for q in data.get("questions", []) if not q.get("subgroup")]
    csecs = [section(c, "composite") for c in data.get("composites", [])]
    wave_rows = [{"label": pick(w.get("label") or {}, lang) or w["id"], "dates": f"{w['start']} – {w['end']}", "pollster": w.get("pollster", ""),
                  "mode": w.get("mode", ""), "file": w.get("file", ""), "weights": w.get("weights") or "–",
                  "where": ", ".join(f"{k} = {v}" for k, v in (w.get("where") or {}).items()), "n": w.get("n")} for w in data.get("waves", [])]
    published = [{**c, "ours": "–" if c["ours"] is None else f"{c['ours']:.1f}",
                  "verdict": s["reproduced"] if c["reproduced"] else s["not_reproduced"]} for c in published_check(data)]
    return {"lang": lang, "S": s, "title": pick(data["series"].get("title") or {}, lang), "waves": wave_rows, "questions": qsecs,
            "composites": csecs, "published": published, "css": _css()}


def published_check(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each ``[[published]]`` figure beside this series' estimate (percent, unrounded) and whether
    it is reproduced "to rounding": within half a unit of the published figure's last digit."""
    rows = tidy_rows(data)
    out = []
    for p in data.get("published", []):
        est = _lookup(rows, p)
        value = float(p["share"])
        digits = len(str(p["share"]).split(".")[1]) if "." in str(p["share"]) else 0
        ours = None if est is None else 100 * est
        if p.get("rounding") == "truncate":  # a report that cuts decimals instead of rounding
            ok = ours is not None and value <= ours + 1e-9 < value + 10 ** -digits
        else:
            ok = ours is not None and abs(ours - value) <= 0.5 * 10 ** -digits + 1e-9
        out.append({"wave": p.get("wave", ""), "question": p.get("question", ""), "category": p.get("category", ""),
                    "wording": p.get("wording", ""), "value": p["share"], "ours": ours, "reproduced": ok,
                    "differs": bool(p.get("differs")), "source": p.get("source", ""), "note": p.get("note", "")})
    return out


def _lookup(rows: list[dict[str, Any]], p: Mapping[str, Any]) -> float | None:
    for r in rows:
        if r["wave"] == p.get("wave") and r["question"] == p.get("question") and not r["group"] \
                and r["category"] == str(p.get("category", "")) and (not p.get("wording") or r["wording"] == p["wording"]):
            return r["estimate"]  # type: ignore[no-any-return]
    return None


_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header><p class="meta">{{ S.report }}</p><h1>{{ title }}</h1></header>
<nav aria-label="{{ S.contents }}"><ol>
<li><a href="#waves">{{ S.waves }}</a></li>
{% for q in questions %}<li><a href="#q-{{ q.id }}">{{ q.title }}</a></li>{% endfor %}
{% for q in composites %}<li><a href="#q-{{ q.id }}">{{ q.title }}</a></li>{% endfor %}
{% if published %}<li><a href="#published">{{ S.published }}</a></li>{% endif %}
</ol></nav>
<section id="waves"><h2>{{ S.waves }}</h2>
<table><thead><tr><th>{{ S.wave }}</th><th>{{ S.fieldwork }}</th><th>{{ S.pollster }}</th><th>{{ S.mode }}</th><th>{{ S.file }}</th><th>{{ S.weights }}</th><th>{{ S.subsample }}</th><th class="num">{{ S.n }}</th></tr></thead>
<tbody>{% for w in waves %}<tr><td>{{ w.label }}</td><td>{{ w.dates }}</td><td>{{ w.pollster }}</td><td>{{ w.mode }}</td><td>{{ w.file }}</td><td>{{ w.weights }}</td><td>{{ w.where }}</td><td class="num">{{ w.n }}</td></tr>{% endfor %}</tbody></table>
</section>
{% for group_name, items in [(S.questions, questions), (S.composites, composites)] %}
{% if items %}<h2>{{ group_name }}</h2>{% endif %}
{% for q in items %}
<section id="q-{{ q.id }}" class="question"><h3>{{ q.title }}</h3>
{% if q.definition %}<p class="note">{{ S.definition }}: {{ q.definition }}</p>{% endif %}
{% if q.note %}<p class="note">{{ q.note }}</p>{% endif %}
{% if q.chart %}<figure>{{ q.chart }}<figcaption>{{ q.title }}</figcaption></figure>{% endif %}
<table class="per-wave"><thead><tr><th>{{ S.wave }}</th><th>{{ S.wording }}</th>{% for c in q.cats %}<th class="num">{{ c }}, %</th>{% endfor %}<th class="num">{{ S.n }}</th></tr></thead>
<tbody>{% for r in q.table %}<tr><td>{{ r.wave }}<br><span class="note">{{ r.dates }}</span>{% if r.base %}<br><span class="note flag">{{ r.base }}</span>{% endif %}</td><td>{{ r.wording }}</td>{% for c in r.cells %}<td class="num {{ c.cls }}">{{ c.est }}<br><span class="note">{{ c.ci }}</span></td>{% endfor %}<td class="num">{{ r.n }}</td></tr>{% endfor %}</tbody></table>
{% for n in q.base_notes %}<p class="note">{{ n }}</p>{% endfor %}
{% if q.trend %}<p class="trend">{{ S.trend }}: {{ S.latest }} {{ q.latest[0] }}% ({{ q.latest[1][0] }}–{{ q.latest[1][1] }}). {% if q.trend.reference %}{{ S.ref_note }}: {{ q.trend.reference }}.{% endif %}</p>
{% for n in q.trend_notes %}<p class="note">{{ n }}</p>{% endfor %}{% endif %}
{% if q.trend_other %}{% for n in q.trend_notes %}<p class="note">{{ n }}</p>{% endfor %}{% endif %}
{% if q.groups %}<h4>{{ S.subgroup_trends }}</h4>{% for g in q.groups %}<figure>{{ g.chart }}<figcaption>{{ g.title }}</figcaption></figure>
<details><summary>{{ g.title }}</summary><table><thead><tr><th>{{ S.wave }}</th><th>{{ S.group }}</th><th class="num">{{ S.share }}</th><th class="num">{{ S.ci }}</th><th class="num">{{ S.n }}</th></tr></thead><tbody>
{% for r in g.rows %}<tr><td>{{ r.wave }}</td><td>{{ r.level }}</td><td class="num {{ r.cls }}">{{ r.est }}</td><td class="num">{{ r.ci }}</td><td class="num">{{ r.n }}</td></tr>{% endfor %}</tbody></table></details>{% endfor %}{% endif %}
{% if q.harmonisation %}<details><summary>{{ S.harmonisation }}</summary><table><thead><tr><th>{{ S.wave }}</th><th>{{ S.column }}</th><th>{{ S.codes }}</th><th>{{ S.wording }}</th></tr></thead><tbody>
{% for h in q.harmonisation %}<tr><td>{{ h.wave }}</td><td>{{ h.column }}</td><td>{{ h.codes }}</td><td>{{ h.wording }}</td></tr>{% endfor %}</tbody></table></details>{% endif %}
</section>
{% endfor %}{% endfor %}
{% if published %}<section id="published"><h2>{{ S.published }}</h2><table><thead><tr><th>{{ S.wave }}</th><th>{{ S.question }}</th><th>{{ S.answer }}</th><th class="num">{{ S.published_value }}</th><th class="num">{{ S.ours }}</th><th>{{ S.verdict }}</th><th>{{ S.source }}</th></tr></thead><tbody>
{% for p in published %}<tr><td>{{ p.wave }}</td><td>{{ p.question }}</td><td>{{ p.category }}{% if p.wording %} ({{ p.wording }}){% endif %}</td><td class="num">{{ p.value }}</td><td class="num">{{ p.ours }}</td><td class="{{ '' if p.reproduced else 'flag' }}">{{ p.verdict }}</td><td>{{ p.source }}{% if p.note %}<br><span class="note">{{ p.note }}</span>{% endif %}</td></tr>{% endfor %}</tbody></table></section>{% endif %}
<section id="methods"><h2>{{ S.methods }}</h2><p>{{ S.methods_text }}</p></section>
</body></html>
"""


def render_series(data: Mapping[str, Any], lang: str | None = None) -> str:
    """The tracker as one self-contained HTML page (inline CSS and SVG, nothing fetched)."""
    import jinja2
    from markupsafe import Markup

    view = build_series_view(data, lang)
    view["css"] = Markup(view["css"])
    for q in view["questions"] + view["composites"]:
        q["chart"] = Markup(q["chart"])
        for g in q["groups"]:
            g["chart"] = Markup(g["chart"])
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(_TEMPLATE).render(**view)


def write_series(data: Mapping[str, Any], out_dir: str | os.PathLike[str], lang: str | None = None) -> Path:
    """Write ``results.json``, ``results.csv`` and ``report.html`` into ``out_dir`` atomically."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; give --out a folder name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (tmp / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        _write_csv(tidy_rows(data, lang), tmp / "results.csv")
        (tmp / "report.html").write_text(render_series(data, lang), encoding="utf-8")
        out.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
