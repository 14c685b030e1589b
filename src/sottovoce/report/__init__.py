"""The HTML report: one self-contained file a journalist can quote and a methodologist can check.

The report is rendered from the ``results.json`` payload alone (``sottovoce report`` re-renders it
without recomputing). It has a plain-language headline with its uncertainty, the direct and
indirect estimates side by side, subgroups, nonresponse, weighting, methods with their papers and
caveats generated from the results. Cells with fewer than ``min_cell`` respondents are suppressed
in every table and chart (the usual statistical-disclosure rule for published tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from . import charts
from .text import (
    STRINGS,
    count_phrase,
    fewer_than,
    groups_in,
    pct,
    pick,
    plural_ru,
    points,
    round_half_up,
    t,
    times,
)

__all__ = ["render_report", "write_report", "build_view", "headline", "headline_numbers", "LANGUAGES"]

LANGUAGES = tuple(STRINGS)
_SHOWN_RATES = ("RR1", "RR3", "COOP1", "REF1", "CON1")  # all rates are in results.json
_ORDER = {"direct": 0, "list": 1, "double_list": 2, "rr": 3, "crosswise": 4}


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# -- helpers over the results payload ---------------------------------------------------------


def _lang(results: Mapping[str, Any], lang: str | None) -> str:
    lang = lang or results.get("language") or "en"
    if lang not in STRINGS:
        from ..errors import InputError

        raise InputError(f"unknown report language '{lang}'; use one of {', '.join(STRINGS)}")
    return lang


def _ok(r: Mapping[str, Any] | None, min_cell: int) -> bool:
    """A publishable estimate: computed, with an interval, and with at least ``min_cell`` respondents."""
    return r is not None and r.get("estimate") is not None and r.get("ci") is not None and (r.get("n") or 0) >= min_cell  # type: ignore[no-any-return]


def _moe(r: Mapping[str, Any]) -> int:
    lo, hi = r["ci"]
    return max(points((hi - lo) / 2), 1) if hi > lo else 0


def _questions(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {q["id"]: q for q in results.get("questions", [])}


def _method_name(q: Mapping[str, Any], lang: str) -> str:
    return t(lang, f"m_name_{q['type']}")


def _list_model(q: Mapping[str, Any]) -> str:
    """The list model whose estimate is shown: the requested method, unless the pipeline's model
    check (``fit_list_model``) replaced it by the beta-binomial or the difference in means."""
    chosen = (q.get("result") or {}).get("list_model")
    return {"dim": "dim", "betabinomial": "ml_bb", "types": "types"}.get(chosen or "", q.get("method", "dim"))


def _answer(q: Mapping[str, Any], lang: str) -> str:
    labels = [pick(o, lang) for o in q.get("yes_labels", [])]
    return " / ".join(x for x in labels if x) or t(lang, "yes")


def _gap_phrase(gap: int, lang: str, case: str) -> str:
    """``15 percentage points`` / Russian in the case the sentence needs (nominative or genitive)."""
    n = abs(gap)
    if lang != "ru":
        return count_phrase(n, "en", "point")
    if case == "gen":  # около N ...
        return f"{n} " + ("процентного пункта" if n % 10 == 1 and n % 100 != 11 else "процентных пунктов")
    return f"{n} " + plural_ru(n, "процентный пункт", "процентных пункта", "процентных пунктов")


def _best_comparison(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The headline comparison: the most precise indirect estimate linked to a direct question."""
    qs = _questions(results)
    min_cell = int(results.get("min_cell", 30))
    cands = [
        c for c in results.get("comparisons", [])
        if c.get("se") is not None and _ok(qs.get(c["direct"], {}).get("result"), min_cell)
        and _ok(qs.get(c["indirect"], {}).get("result"), min_cell)
    ]
    if not cands:
        return None
    return min(cands, key=lambda c: c["se"])


def headline_numbers(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The numbers the headline quotes (whole percents and points), for tests and the terminal."""
    c = _best_comparison(results)
    if c is None:
        return None
    qs = _questions(results)
    d, i = qs[c["direct"]]["result"], qs[c["indirect"]]["result"]
    lo, hi = c["ci"]
    gap = points(c["estimate"])
    if lo > 0:
        verdict = "hidden"
    elif hi < 0:
        verdict = "reverse"
    else:
        verdict = "none"
    return {
        "direct": c["direct"], "indirect": c["indirect"],
        "direct_pct": int(pct(d["estimate"])), "direct_moe": _moe(d),
        "indirect_pct": int(pct(i["estimate"])), "indirect_moe": _moe(i),
        "gap_points": gap, "gap_moe": _moe(c), "verdict": verdict,
    }


def headline(results: Mapping[str, Any], lang: str | None = None) -> list[str]:
    """The main finding as plain sentences, e.g. "Asked directly, 68% said “Yes” (±3). ..."."""
    lang = _lang(results, lang)
    h = headline_numbers(results)
    if h is None:  # no indirect comparison: still state the first publishable direct estimate
        min_cell = int(results.get("min_cell", 30))
        for q in results.get("questions", []):
            r = q.get("result")
            if q["type"] == "direct" and _ok(r, min_cell):
                return [t(lang, "direct_sentence", p=pct(r["estimate"]), answer=_answer(q, lang), moe=_moe(r)), t(lang, "no_headline")]
        return [t(lang, "no_headline")]
    qs = _questions(results)
    dq, iq = qs[h["direct"]], qs[h["indirect"]]
    out = [
        t(lang, "direct_sentence", p=h["direct_pct"], answer=_answer(dq, lang), moe=h["direct_moe"]),
        t(lang, "indirect_sentence", method=_method_name(iq, lang), p=h["indirect_pct"], moe=h["indirect_moe"]),
    ]
    if h["verdict"] == "hidden":
        out.append(t(lang, "gap_hidden", gap=_gap_phrase(h["gap_points"], lang, "gen"), moe=h["gap_moe"]))
    elif h["verdict"] == "reverse":
        out.append(t(lang, "gap_reverse", gap=_gap_phrase(h["gap_points"], lang, "acc"), moe=h["gap_moe"]))
    else:
        out.append(t(lang, "gap_none", gap=_gap_phrase(h["gap_points"], lang, "nom"), moe=h["gap_moe"]))
    return out


# -- view model ---------------------------------------------------------------------------------


def _row(label: str, r: Mapping[str, Any] | None, min_cell: int, lang: str, kind: str = "", why: str | None = None) -> dict[str, Any]:
    if r is None or r.get("estimate") is None:
        note = STRINGS[lang].get(f"why_{why}", "–") if why else "–"
        return {"label": label, "kind": kind, "suppressed": True, "note": note, "estimate": "", "ci": "", "n": ""}
    n = r.get("n")
    if not _ok(r, min_cell):
        return {"label": label, "kind": kind, "suppressed": True, "note": t(lang, "suppressed", fewer=fewer_than(min_cell, lang)), "estimate": "", "ci": "", "n": ""}
    lo, hi = r["ci"]
    return {
        "label": label, "kind": kind, "suppressed": False, "note": "",
        "estimate": _fmt1(r["estimate"], lang), "ci": f"{_fmt1(lo, lang)} – {_fmt1(hi, lang)}", "n": n,
    }


def _fmt1(share: float, lang: str = "en") -> str:
    return _dec(f"{round_half_up(100 * share, 1):.1f}", lang)


def _dec(text: str, lang: str) -> str:
    """Russian writes decimals with a comma (54,5), English with a point (54.5); both get a true
    minus sign (−7.5), not a hyphen."""
    text = text.replace("-", "−") if text.startswith("-") else text
    return text.replace(".", ",") if lang == "ru" else text


def _point(label: str, kind: str, r: Mapping[str, Any] | None, min_cell: int) -> charts.Point | None:
    if not _ok(r, min_cell):
        return None
    assert r is not None
    return charts.Point(label, kind, r["estimate"], max(r["ci"][0], 0.0), min(r["ci"][1], 1.0))


def _group_key(g: Mapping[str, Any]) -> tuple[str, str]:
    return str(g.get("by")), str(g.get("label") if g.get("label") is not None else g.get("level"))


def build_view(results: Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """Everything the template shows, already translated, rounded and suppressed."""
    lang = _lang(results, lang)
    S = STRINGS[lang]
    min_cell = int(results.get("min_cell", 30))
    study = results.get("study", {})
    qs = [q for q in results.get("questions", [])]
    qs_sorted = sorted(qs, key=lambda q: _ORDER.get(q["type"], 9))
    caveats: list[str] = []
    if study.get("simulated"):
        caveats.append(S["c_simulated"])

    # Side-by-side comparison (one chart + table over every question that has an estimate).
    compare_rows, compare_points = [], []
    for q in qs_sorted:
        name = f"{_method_name(q, lang)}: {q['id']}"
        compare_rows.append(_row(name, q.get("result"), min_cell, lang, q["type"], q.get("reason")))
        p = _point(_method_name(q, lang), q["type"], q.get("result"), min_cell)
        if p is not None:
            compare_points.append(p)
        if q.get("status") == "failed":
            caveats.append(t(lang, "c_failed", q=q["id"], why=S["why_error"]))
        dt = q.get("design_test") or {}
        pval = dt.get("p_value")
        if pval is not None and pval < 0.05:
            caveats.append(t(lang, "c_design_test", q=q["id"], p=_dec(f"{pval:.3f}", lang)))
        res = q.get("result") or {}
        if q["type"] == "list" and res.get("rejected_model"):  # fit_list_model replaced the requested model
            shown = S.get(f"list_{_list_model(q)}", res.get("list_model", ""))
            caveats.append(t(lang, "c_list_model", q=q["id"], model=S.get(f"list_{q.get('method', 'ml')}", q.get("method", "")),
                             shown=shown, est=pct(res.get("rejected_estimate"))))
    wordings = [{"method": _method_name(q, lang), "id": q["id"], "text": pick(q.get("wording"), lang)} for q in qs_sorted if q.get("wording")]
    gap_rows = []
    byid = _questions(results)
    for c in results.get("comparisons", []):
        iq = byid.get(c["indirect"])
        if iq is None:
            continue
        gap_rows.append(_row(f"{S['gap_row']}: {_method_name(iq, lang)}", c, min_cell, lang, "gap"))
    compare_chart = charts.interval_chart(compare_points, S["chart_compare_alt"], S["estimate"]) if compare_points else ""

    # Subgroups: one chart and table per grouping column.
    labels = results.get("labels") or {}

    def label_of(column: str, category: Any = None) -> str:
        key = str(column) if category is None else f"{column}={category}"
        return pick(labels.get(key), lang) or (str(column) if category is None else str(category))

    group_sections, small = [], 0
    for by in results.get("subgroups", []):
        levels: list[str] = []
        per_q: dict[str, dict[str, Mapping[str, Any]]] = {}
        for q in qs_sorted:
            for g in (q.get("result") or {}).get("groups", []) or []:
                if str(g.get("by")) != by:
                    continue
                lev = label_of(by, _group_key(g)[1])
                if lev not in levels:
                    levels.append(lev)
                per_q.setdefault(q["id"], {})[lev] = g
        if not levels:
            continue
        rows, series, names = [], {}, {}
        for q in qs_sorted:
            if q["id"] not in per_q:
                continue
            pts = []
            for lev in levels:
                g = per_q[q["id"]].get(lev)
                row = _row(lev, g, min_cell, lang, q["type"])
                row["question"] = _method_name(q, lang)
                rows.append(row)
                if g is not None and g.get("estimate") is not None and (g.get("n") or 0) < min_cell:
                    small += 1
                pts.append(_point(lev, q["type"], g, min_cell))
            key = q["type"] if q["type"] not in series else f"{q['type']}:{q['id']}"
            series[key] = pts
            names[key] = _method_name(q, lang)
        alt = t(lang, "chart_groups_alt", group=label_of(by))
        drawable = any(p is not None for pts in series.values() for p in pts)
        chart = charts.grouped_interval_chart(levels, series, names, alt, S["estimate"]) if drawable else ""
        group_sections.append({"column": by, "by": label_of(by), "rows": rows, "chart": chart, "alt": alt})
    if small:
        caveats.append(t(lang, "c_small", count=groups_in(small, lang), fewer=fewer_than(min_cell, lang),
                         verb=S["c_small_verb_one"] if small == 1 else S["c_small_verb_many"]))

    # Weighting.
    w = results.get("weighting") or {}
    weighting: dict[str, Any] = {"done": w.get("status") == "done"}
    if weighting["done"]:
        n, neff, deff, wmax = w.get("n"), w.get("effective_n"), w.get("kish_deff"), w.get("weight_max_ratio")
        weighting["summary"] = t(lang, "weighting_summary", n=n, neff=_num(neff, 0, lang), deff=_num(deff, 2, lang), wmax=times(wmax, lang) if wmax is not None else "–")
        weighting["se_note"] = S["se_note_calibrated"] if w.get("calibrated") else S["se_note_fixed"]
        weighting["rows"] = [
            {"variable": label_of(d.get("variable")), "category": label_of(d.get("variable"), d.get("category")),
             "target": _pct1(d.get("target"), lang), "achieved": _pct1(d.get("achieved"), lang), "sample": _pct1(d.get("sample"), lang)}
            for d in w.get("diagnostics", [])
        ]
        if wmax is not None and wmax > 5:
            caveats.append(t(lang, "c_weights", wmax=times(wmax, lang)))
        fixed = [q["id"] for q in qs if q.get("se_weights") == "fixed" and q.get("status") == "done"]
        if fixed:
            caveats.append(t(lang, "c_fixed_se", qs=", ".join(fixed)))
        if deff is not None and deff > 2:
            caveats.append(t(lang, "c_deff", deff=_num(deff, 2, lang), n=n, neff=_num(neff, 0, lang)))

    # Nonresponse.
    nr = results.get("nonresponse") or {}
    nonresponse: dict[str, Any] = {"done": nr.get("status") == "done", "items": [], "skipped": nr.get("status") == "skipped",
                                   "cases": nr.get("n_cases"), "rates": [], "bounds": "", "sens_chart": "", "sens_rows": [], "tipping": ""}
    if nonresponse["done"]:
        rates = nr.get("rates") or {}
        nonresponse["rates"] = [
            {"name": k, "help": S[f"rate_help_{k}"], "value": _pct1(rates[k], lang)}
            for k in _SHOWN_RATES if rates.get(k) is not None
        ]
        b = nr.get("bounds")
        bq = byid.get((b or {}).get("question", ""), {})
        if b and b.get("lower") is not None:
            nonresponse["bounds"] = t(lang, "bounds_text", answer=_answer(bq, lang), lo=pct(b["lower"]), hi=pct(b["upper"]), rr=pct(b["response_rate"]))
        sens = nr.get("sensitivity")
        if sens and sens.get("x"):
            xs = [100 * x for x in sens["x"]]
            nonresponse["sens_chart"] = charts.line_chart(xs, sens["y"], S["chart_sens_alt"], t(lang, "sens_x", answer=_answer(bq, lang)), S["sens_y"], sens.get("threshold"))
            nonresponse["sens_rows"] = [{"x": _num(x, 0, lang), "y": _pct1(y, lang)} for x, y in zip(xs, sens["y"], strict=False)]
            if sens.get("tipping_share") is not None:
                nonresponse["tipping"] = t(lang, "tipping", s=pct(sens["tipping_share"]), answer=_answer(bq, lang), threshold=pct(sens.get("threshold", 0.5)))
        rr = rates.get("RR3", rates.get("RR1"))
        if rr is not None and rr < 0.3:
            caveats.append(t(lang, "c_low_rr", rr=pct(rr), k="3" if rates.get("RR3") is not None else "1"))
    nonresponse["sens_x"] = t(lang, "sens_x", answer=_answer(byid.get(((nr.get("sensitivity") or {}).get("question")) or "", {}), lang))
    for q in qs_sorted:
        inr = q.get("item_nonresponse")
        if inr:
            nonresponse["items"].append({"question": q["id"], **{k: _pct1(inr.get(k), lang) for k in ("hard_to_say", "refused", "missing")}})

    for s in results.get("skipped", []):
        what = S.get(f"what_{s.get('step')}", s.get("step", ""))
        caveats.append(t(lang, "c_skipped", what=what, why=S.get(f"why_{s.get('reason', 'error')}", S["why_error"])))

    trend = _trend_view(results.get("trend"), lang)
    if trend is not None and trend["failed"]:
        caveats.append(t(lang, "c_trend_failed", why=trend["failed"]))

    # Methods actually used.
    methods = []
    seen = set()
    for q in qs_sorted:
        if q.get("status") != "done":
            continue
        if q["type"] == "direct":
            m = S["m_direct"]
        elif q["type"] == "list":
            m = t(lang, "m_list", method=S.get(f"list_{_list_model(q)}", q.get("method", "dim")))
        elif q["type"] == "rr":
            m = t(lang, "m_rr", design=S.get(f"design_{q.get('design')}", q.get("design")))
        else:
            m = S[f"m_{q['type']}"]
        if m not in seen:
            seen.add(m)
            methods.append(m)
    if weighting["done"]:
        methods.append(S["m_rake"])
        if w.get("trim"):
            methods.append(t(lang, "m_trim", k=times(w["trim"], lang)))
    if nonresponse["done"]:
        methods.append(S["m_aapor"])
    if trend is not None and trend["done"]:
        methods.append(S["m_trend"])
    methods.append(t(lang, "m_suppress", fewer=fewer_than(min_cell, lang)))

    fieldwork = " – ".join(study.get("fieldwork", []))
    return {
        "lang": lang, "S": S, "title": pick(study.get("title"), lang) or study.get("id", ""),
        "population": pick(study.get("population"), lang), "fieldwork": fieldwork,
        "simulated": bool(study.get("simulated")), "n_respondents": results.get("n_respondents"),
        "version": (results.get("versions") or {}).get("sottovoce", ""),
        "headline": headline(results, lang), "compare_rows": compare_rows, "gap_rows": gap_rows, "wordings": wordings,
        "compare_chart": compare_chart, "groups": group_sections, "weighting": weighting,
        "nonresponse": nonresponse, "methods": methods, "caveats": caveats or [S["c_none"]],
        "min_cell": min_cell, "sha256": study.get("sha256", ""), "trend": trend,
    }


def _svg_inline(svg: str) -> str:
    """A standalone SVG file made fit to inline in HTML: no XML prolog or DOCTYPE, no metadata
    block (it names external vocabularies), and the report's chart class for sizing."""
    start = svg.find("<svg")
    if start < 0:
        return ""
    body = svg[start:]
    head, sep, rest = body.partition("<metadata>")
    if sep:
        body = head + rest.split("</metadata>", 1)[-1]
    return body.replace("<svg ", '<svg class="chart" role="img" ', 1)


def _signed(share: float, lang: str) -> str:
    """A difference of shares in points with one decimal and an explicit sign: +5.1 / −0.3."""
    text = _fmt1(share, lang)
    return text if text.startswith("−") else "+" + text


def _trend_view(tr: Mapping[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The "Trend across polls" section, or ``None`` when the study has no ``[trend]`` table."""
    if not tr:
        return None
    S = STRINGS[lang]
    view: dict[str, Any] = {"done": tr.get("status") == "done", "failed": "", "chart": "", "houses": [], "latest": "",
                            "summary": "", "tests": [], "alt": S["chart_trend_alt"]}
    if tr.get("status") == "failed":
        view["failed"] = str(tr.get("message") or S["why_error"])
        return view
    if tr.get("status") == "skipped":
        view["failed"] = S["why_not_available"]
        return view
    view["chart"] = _svg_inline(tr.get("chart_svg") or "")
    ci = tr.get("ci") or [None, None]
    if tr.get("estimate") is not None and ci[0] is not None:
        view["latest"] = t(lang, "trend_latest", date=tr.get("last_grid_date", ""), p=_fmt1(tr["estimate"], lang),
                           lo=_fmt1(ci[0], lang), hi=_fmt1(ci[1], lang))
    ref = tr.get("reference")
    constraint = t(lang, "trend_relative_to", house=ref) if ref else S["trend_sum_to_zero"]
    n_polls, n_houses = int(tr.get("n_polls") or 0), int(tr.get("n_houses") or 0)
    if lang == "ru":  # «10 опросов из 3 источников»: genitive after «из»
        polls = f"{n_polls} " + plural_ru(n_polls, "опрос", "опроса", "опросов")
        houses = f"{n_houses} " + ("источника" if n_houses % 10 == 1 and n_houses % 100 != 11 else "источников")
    else:
        polls = f"{n_polls} poll" + ("" if n_polls == 1 else "s")
        houses = f"{n_houses} house" + ("" if n_houses == 1 else "s")
    view["summary"] = t(lang, "trend_summary", polls=polls, houses=houses, first=tr.get("first", ""),
                        last=tr.get("last", ""), base=S[f"trend_base_{tr.get('base', 'all')}"], constraint=constraint)
    for h in tr.get("houses") or []:
        view["houses"].append({
            "house": h.get("house"), "polls": h.get("polls"), "reference": bool(h.get("reference")),
            "effect": _signed(h["effect"], lang) if h.get("effect") is not None else "–",
            "ci": "" if h.get("reference") or h.get("low") is None else f"{_signed(h['low'], lang)} … {_signed(h['high'], lang)}",
        })
    for x in tr.get("tests") or []:
        if x.get("shift") is None:
            continue
        view["tests"].append(t(lang, "trend_shift", event=x.get("event", ""), date=x.get("date", ""), shift=_signed(x["shift"], lang),
                               lo=_signed(x["low"], lang), hi=_signed(x["high"], lang), p=_dec(f"{x['p_value']:.3f}", lang)))
    return view


def _num(x: Any, digits: int, lang: str = "en") -> str:
    if x is None:
        return "–"
    return _dec(f"{round_half_up(float(x), digits):.{digits}f}", lang)


def _pct1(x: Any, lang: str = "en") -> str:
    return "" if x is None else _fmt1(float(x), lang)


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

