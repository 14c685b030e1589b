"""The report's view model: every section already translated, rounded and suppressed.

:func:`build_view` assembles the sections, one function each (comparison, subgroups, weighting,
nonresponse, trend, methods); caveats are collected along the way. It reads the publishable
payload only (:func:`sottovoce.disclosure.publishable` is applied first, so a report rendered
from an in-memory result and one re-rendered from ``results.json`` are the same page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._words import count_en, count_ru
from ..disclosure import publishable
from ..intervals import SMALL_DF
from . import charts
from .headline import answer, headline, method_name, questions, truth_sentences
from .shares import (
    DIFFERENCE,
    SHARE,
    failed,
    failure_reason,
    has_interval,
    out_of_range,
    publishable_estimate,
    shown_ci,
)
from .text import STRINGS, fewer_than, groups_in, pct, pick, round_half_up, t, times

__all__ = ["build_view", "failures"]

_SHOWN_RATES = ("RR1", "RR3", "COOP1", "REF1", "CON1")  # all rates are in results.json
_ORDER = {"direct": 0, "list": 1, "double_list": 2, "rr": 3, "crosswise": 4}


# -- numbers as the report prints them ---------------------------------------------------------


def fmt1(share: float, lang: str = "en") -> str:
    return dec(f"{round_half_up(100 * share, 1):.1f}", lang)


def dec(text: str, lang: str) -> str:
    """Russian writes decimals with a comma (54,5), English with a point (54.5); both get a true
    minus sign (−7.5), not a hyphen."""
    text = text.replace("-", "−") if text.startswith("-") else text
    return text.replace(".", ",") if lang == "ru" else text


def num(x: Any, digits: int, lang: str = "en") -> str:
    if x is None:
        return "–"
    return dec(f"{round_half_up(float(x), digits):.{digits}f}", lang)


def pct1(x: Any, lang: str = "en") -> str:
    return "" if x is None else fmt1(float(x), lang)


def signed(share: float, lang: str) -> str:
    """A difference of shares in points with one decimal and an explicit sign: +5.1 / −0.3."""
    text = fmt1(share, lang)
    return text if text.startswith("−") else "+" + text


# -- rows and points ----------------------------------------------------------------------------


def row(label: str, r: Mapping[str, Any] | None, min_cell: int, lang: str, kind: str = "", why: str | None = None) -> dict[str, Any]:
    """One table row: the estimate and its interval, or why it is not shown."""
    S = STRINGS[lang]
    # n stays on rows not shown (as in results.json and the terminal tables): a blank reads as "nobody"
    empty = {"label": label, "kind": kind, "suppressed": True, "estimate": "", "ci": "",
             "n": "" if r is None or r.get("n") is None else r["n"], "flag": ""}
    if r is not None and (r.get("suppressed") or (r.get("estimate") is not None and not publishable_estimate(r, min_cell))):
        return {**empty, "note": t(lang, "suppressed", fewer=fewer_than(min_cell, lang))}
    if failed(r):
        return {**empty, "note": S["not_estimated"]}
    if r is None or r.get("estimate") is None:
        return {**empty, "note": S.get(f"why_{why}", "–") if why else "–"}
    bounds = DIFFERENCE if kind == "gap" else SHARE
    ci = "–"  # the contract gives no interval when all of it lies outside the range
    if has_interval(r):
        lo, hi = shown_ci(r, bounds)
        ci = f"{fmt1(lo, lang)} – {fmt1(hi, lang)}"
    return {
        "label": label, "kind": kind, "suppressed": False, "note": "",
        "estimate": fmt1(r["estimate"], lang), "ci": ci, "n": r.get("n"),
        "flag": S["impossible_flag"] if kind != "gap" and out_of_range(r) else "",
    }


def point(label: str, kind: str, r: Mapping[str, Any] | None, min_cell: int) -> charts.Point | None:
    """A chart point; impossible estimates and suppressed ones are not drawn."""
    if not publishable_estimate(r, min_cell) or out_of_range(r) or not has_interval(r):
        return None
    assert r is not None
    lo, hi = shown_ci(r)
    return charts.Point(label, kind, r["estimate"], lo, hi)


def _list_model(q: Mapping[str, Any]) -> str:
    """The list model whose estimate is shown: the requested method, unless the pipeline's model
    check (``fit_list_model``) replaced it by the beta-binomial or the difference in means."""
    chosen = (q.get("result") or {}).get("list_model")
    return {"dim": "dim", "betabinomial": "ml_bb", "types": "types"}.get(chosen or "", q.get("method", "dim"))


def group_key(g: Mapping[str, Any]) -> tuple[str, str]:
    return str(g.get("by")), str(g.get("label") if g.get("label") is not None else g.get("level"))


def _labeller(results: Mapping[str, Any], lang: str) -> Callable[..., str]:
    labels = results.get("labels") or {}

    def label_of(column: str, category: Any = None) -> str:
        key = str(column) if category is None else f"{column}={category}"
        return pick(labels.get(key), lang) or (str(column) if category is None else str(category))

    return label_of


# -- failures -----------------------------------------------------------------------------------


def failures(results: Mapping[str, Any], lang: str | None = None) -> list[str]:
    """Every question, subgroup and comparison that could not be estimated, with why — the
    console of ``analyze``/``demo`` and the report's caveats print these same sentences."""
    from . import _lang

    lang = _lang(results, lang)
    label_of = _labeller(results, lang)
    min_cell = int(results.get("min_cell", 30) or 30)

    def why(r: Mapping[str, Any]) -> str:
        if r.get("message_withheld"):
            return t(lang, "why_withheld", fewer=fewer_than(min_cell, lang))
        return (failure_reason(r) or STRINGS[lang]["why_error"]).rstrip(". ")

    def where(g: Mapping[str, Any]) -> dict[str, str]:
        return {"by": label_of(g.get("by")), "level": label_of(g.get("by"), group_key(g)[1])}

    out = []
    for q in results.get("questions", []):
        if q.get("status") == "failed":
            out.append(t(lang, "c_failed", q=q["id"], why=why(q)))
        for g in (q.get("result") or {}).get("groups") or []:
            if failed(g):
                out.append(t(lang, "c_failed_group", q=q["id"], why=why(g), **where(g)))
    for c in results.get("comparisons", []):
        for g in c.get("groups") or []:
            if failed(g):
                out.append(t(lang, "c_failed_gap", d=c["direct"], i=c["indirect"], why=why(g), **where(g)))
    return out


# -- sections -----------------------------------------------------------------------------------


def _compare_section(results: Mapping[str, Any], qs_sorted: list[Mapping[str, Any]], lang: str, min_cell: int, caveats: list[str]) -> dict[str, Any]:
    """Direct and indirect estimates side by side (chart and table), gaps and wordings."""
    S = STRINGS[lang]
    rows, pts = [], []
    for q in qs_sorted:
        r = q.get("result")
        rows.append(row(f"{method_name(q, lang)}: {q['id']}", r, min_cell, lang, q["type"], q.get("reason")))
        p = point(method_name(q, lang), q["type"], r, min_cell)
        if p is not None:
            pts.append(p)
        if publishable_estimate(r, min_cell) and out_of_range(r):
            assert r is not None
            caveats.append(t(lang, "c_impossible", q=q["id"], method=method_name(q, lang), p=fmt1(r["estimate"], lang), n=r.get("n")))
        pval = (q.get("design_test") or {}).get("p_value")
        if pval is not None and pval < 0.05:
            caveats.append(t(lang, "c_design_test", q=q["id"], p=dec(f"{pval:.3f}", lang)))
        res = r or {}
        if q["type"] == "list" and res.get("rejected_model"):  # fit_list_model replaced the requested model
            caveats.append(t(lang, "c_list_model", q=q["id"], model=S.get(f"list_{q.get('method', 'ml')}", q.get("method", "")),
                             shown=S.get(f"list_{_list_model(q)}", res.get("list_model", "")), est=pct(res.get("rejected_estimate"))))
    byid = questions(results)
    gap_rows = []
    for c in results.get("comparisons", []):
        if c["indirect"] not in byid:
            continue
        r = row(f"{S['gap_row']}: {method_name(byid[c['indirect']], lang)}", c, min_cell, lang, "gap")
        if (out_of_range(byid[c["indirect"]].get("result")) or out_of_range(c, DIFFERENCE)) and not r["suppressed"]:
            r["flag"] = S["impossible_gap_flag"]  # a difference to an impossible share is no finding either
        gap_rows.append(r)
    return {
        "compare_rows": rows, "gap_rows": gap_rows,
        "compare_chart": charts.interval_chart(pts, S["chart_compare_alt"], S["estimate"]) if pts else "",
        "wordings": [{"method": method_name(q, lang), "id": q["id"], "text": pick(q.get("wording"), lang)} for q in qs_sorted if q.get("wording")],
    }


def _few_df(qs_sorted: list[Mapping[str, Any]]) -> dict[str, float]:
    """The questions with an interval on fewer than 20 effective (Satterthwaite) degrees of
    freedom — overall, per answer or per subgroup — and the fewest df of each (issue 17)."""
    out: dict[str, float] = {}
    for q in qs_sorted:
        r = q.get("result") or {}
        for e in (r, *(r.get("categories") or []), *(r.get("groups") or [])):
            df, name = e.get("df"), str(e.get("df_name") or "")
            if df is not None and name.startswith("effective") and df < SMALL_DF and e.get("ci") is not None:
                out[q["id"]] = min(out.get(q["id"], df), float(df))
    return out


def _group_sections(results: Mapping[str, Any], qs_sorted: list[Mapping[str, Any]], lang: str, min_cell: int, caveats: list[str]) -> list[dict[str, Any]]:
    """One chart and table per grouping column; small groups are counted for a caveat."""
    S = STRINGS[lang]
    label_of = _labeller(results, lang)
    sections, small = [], 0
    for by in results.get("subgroups", []):
        levels: list[str] = []
        per_q: dict[str, dict[str, Mapping[str, Any]]] = {}
        for q in qs_sorted:
            for g in (q.get("result") or {}).get("groups", []) or []:
                if str(g.get("by")) != by:
                    continue
                lev = label_of(by, group_key(g)[1])
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
                r = row(lev, g, min_cell, lang, q["type"])
                r["question"] = method_name(q, lang)
                rows.append(r)
                if g is not None and (g.get("suppressed") or (g.get("estimate") is not None and (g.get("n") or 0) < min_cell)):
                    small += 1
                pts.append(point(lev, q["type"], g, min_cell))
            key = q["type"] if q["type"] not in series else f"{q['type']}:{q['id']}"
            series[key] = pts
            names[key] = method_name(q, lang)
        alt = t(lang, "chart_groups_alt", group=label_of(by))
        drawable = any(p is not None for pts in series.values() for p in pts)
        chart = charts.grouped_interval_chart(levels, series, names, alt, S["estimate"]) if drawable else ""
        sections.append({"column": by, "by": label_of(by), "rows": rows, "chart": chart, "alt": alt})
    if small:
        caveats.append(t(lang, "c_small", count=groups_in(small, lang), fewer=fewer_than(min_cell, lang),
                         verb=S["c_small_verb_one"] if small == 1 else S["c_small_verb_many"]))
    return sections


def _weighting_section(results: Mapping[str, Any], lang: str, caveats: list[str]) -> dict[str, Any]:
    """Raking diagnostics: effective sample size, design effect, the margins reached."""
    S = STRINGS[lang]
    label_of = _labeller(results, lang)
    w = results.get("weighting") or {}
    view: dict[str, Any] = {"done": w.get("status") == "done", "trim": w.get("trim")}
    if not view["done"]:
        return view
    n, neff, deff, wmax = w.get("n"), w.get("effective_n"), w.get("kish_deff"), w.get("weight_max_ratio")
    view["summary"] = t(lang, "weighting_summary", n=n, neff=num(neff, 0, lang), deff=num(deff, 2, lang), wmax=times(wmax, lang) if wmax is not None else "–")
    view["se_note"] = S["se_note_calibrated"] if w.get("calibrated") else S["se_note_fixed"]
    view["rows"] = [
        {"variable": label_of(d.get("variable")), "category": label_of(d.get("variable"), d.get("category")),
         "target": pct1(d.get("target"), lang), "achieved": pct1(d.get("achieved"), lang), "sample": pct1(d.get("sample"), lang)}
        for d in w.get("diagnostics", [])
    ]
    if wmax is not None and wmax > 5:
        caveats.append(t(lang, "c_weights", wmax=times(wmax, lang)))
    fixed = [q["id"] for q in results.get("questions", []) if q.get("se_weights") == "fixed" and q.get("status") == "done"]
    if fixed:
        caveats.append(t(lang, "c_fixed_se", qs=", ".join(fixed)))
    if deff is not None and deff > 2:
        caveats.append(t(lang, "c_deff", deff=num(deff, 2, lang), n=n, neff=num(neff, 0, lang)))
    return view


def _nonresponse_section(results: Mapping[str, Any], qs_sorted: list[Mapping[str, Any]], lang: str, caveats: list[str]) -> dict[str, Any]:
    """AAPOR rates, worst-case bounds, the sensitivity curve and item nonresponse."""
    S = STRINGS[lang]
    byid = questions(results)
    nr = results.get("nonresponse") or {}
    view: dict[str, Any] = {"done": nr.get("status") == "done", "items": [], "skipped": nr.get("status") == "skipped",
                            "cases": nr.get("n_cases"), "rates": [], "bounds": "", "sens_chart": "", "sens_rows": [], "tipping": ""}
    if view["done"]:
        rates = nr.get("rates") or {}
        view["rates"] = [{"name": k, "help": S[f"rate_help_{k}"], "value": pct1(rates[k], lang)} for k in _SHOWN_RATES if rates.get(k) is not None]
        b = nr.get("bounds")
        bq = byid.get((b or {}).get("question", ""), {})
        if b and b.get("lower") is not None:
            view["bounds"] = t(lang, "bounds_text", answer=answer(bq, lang), lo=pct(b["lower"]), hi=pct(b["upper"]), rr=pct(b["response_rate"]))
        sens = nr.get("sensitivity")
        if sens and sens.get("x"):
            xs = [100 * x for x in sens["x"]]
            view["sens_chart"] = charts.line_chart(xs, sens["y"], S["chart_sens_alt"], t(lang, "sens_x", answer=answer(bq, lang)), S["sens_y"], sens.get("threshold"))
            view["sens_rows"] = [{"x": num(x, 0, lang), "y": pct1(y, lang)} for x, y in zip(xs, sens["y"], strict=False)]
            if sens.get("tipping_share") is not None:
                view["tipping"] = t(lang, "tipping", s=pct(sens["tipping_share"]), answer=answer(bq, lang), threshold=pct(sens.get("threshold", 0.5)))
        rr = rates.get("RR3", rates.get("RR1"))
        if rr is not None and rr < 0.3:
            caveats.append(t(lang, "c_low_rr", rr=pct(rr), k="3" if rates.get("RR3") is not None else "1"))
    view["sens_x"] = t(lang, "sens_x", answer=answer(byid.get(((nr.get("sensitivity") or {}).get("question")) or "", {}), lang))
    for q in qs_sorted:
        inr = q.get("item_nonresponse")
        if inr:
            view["items"].append({"question": q["id"], **{k: pct1(inr.get(k), lang) for k in ("hard_to_say", "refused", "missing")}})
    return view


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


def _bounded(r: Mapping[str, Any], lo_key: str, hi_key: str, bounds: tuple[float, float]) -> tuple[float, float]:
    """An interval of the trend payload shown inside the range of its quantity."""
    return shown_ci({"ci": (r[lo_key], r[hi_key])}, bounds)


def trend_chart_labels(lang: str, base: str = "all") -> dict[str, Any]:
    """The words of the ``[trend]`` chart in ``lang`` (see :func:`sottovoce.dynamics.plot_trend`);
    pollster names and event labels are data and stay as given, as in the section's table."""
    from .corpus_text import MONTHS

    S = STRINGS[lang]
    return {"title": S["trend_chart_title"], "ylabel": t(lang, "trend_chart_ylabel", base=S[f"trend_base_{base}"]),
            "band": S["trend_chart_band"], "trend": S["trend_chart_line"], "outlier": S["trend_chart_outlier"],
            "months": MONTHS[lang]}


def trend_chart_svg(tr: Mapping[str, Any], lang: str) -> str:
    """The ``[trend]`` chart as drawn in ``lang`` (a results.json from before charts were drawn per
    language has one, ``chart_svg``)."""
    return str((tr.get("chart_svgs") or {}).get(lang) or tr.get("chart_svg") or "")


def trend_view(tr: Mapping[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The "Trend across polls" section, or ``None`` when the study has no ``[trend]`` table."""
    if not tr:
        return None
    S = STRINGS[lang]
    view: dict[str, Any] = {"done": tr.get("status") == "done", "failed": "", "chart": "", "houses": [], "latest": "",
                            "summary": "", "tests": [], "notes": [], "alt": S["chart_trend_alt"]}
    if tr.get("status") == "failed":
        view["failed"] = str(tr.get("message") or S["why_error"])
        return view
    if tr.get("status") == "skipped":
        view["failed"] = S["why_not_available"]
        return view
    view["chart"] = _svg_inline(trend_chart_svg(tr, lang))
    # the defaults fit_trend applied (reference wording, polls left out, a bounded sigma), in this language
    view["notes"] = [n.get(lang) or n.get("en", "") for n in tr.get("trend_notes") or []]
    if tr.get("estimate") is not None and has_interval(tr):
        lo, hi = shown_ci(tr)
        key = "trend_latest_impossible" if out_of_range(tr) else "trend_latest"
        view["latest"] = t(lang, key, date=tr.get("last_grid_date", ""), p=fmt1(tr["estimate"], lang), lo=fmt1(lo, lang), hi=fmt1(hi, lang))
    ref = tr.get("reference")
    constraint = t(lang, "trend_relative_to", house=ref) if ref else S["trend_sum_to_zero"]
    n_polls, n_houses = int(tr.get("n_polls") or 0), int(tr.get("n_houses") or 0)
    if lang == "ru":  # «10 опросов из 3 источников»: genitive after «из»
        polls, houses = count_ru(n_polls, "опрос", "опроса", "опросов"), count_ru(n_houses, "источника", "источников", "источников")
    else:
        polls, houses = count_en(n_polls, "poll"), count_en(n_houses, "house")
    view["summary"] = t(lang, "trend_summary", polls=polls, houses=houses, first=tr.get("first", ""),
                        last=tr.get("last", ""), base=S[f"trend_base_{tr.get('base', 'all')}"], constraint=constraint)
    for h in tr.get("houses") or []:
        ci_text = ""
        if not h.get("reference") and h.get("low") is not None:
            lo, hi = _bounded(h, "low", "high", DIFFERENCE)
            ci_text = f"{signed(lo, lang)} … {signed(hi, lang)}"
        view["houses"].append({"house": h.get("house"), "polls": h.get("polls"), "reference": bool(h.get("reference")),
                               "effect": signed(h["effect"], lang) if h.get("effect") is not None else "–", "ci": ci_text})
    for x in tr.get("tests") or []:
        if x.get("shift") is None:
            continue
        lo, hi = _bounded(x, "low", "high", DIFFERENCE)
        view["tests"].append(t(lang, "trend_shift", event=x.get("event", ""), date=x.get("date", ""), shift=signed(x["shift"], lang),
                               lo=signed(lo, lang), hi=signed(hi, lang), p=dec(f"{x['p_value']:.3f}", lang)))
    return view


def _methods(qs_sorted: list[Mapping[str, Any]], weighting: Mapping[str, Any], nonresponse: Mapping[str, Any],
             trend: Mapping[str, Any] | None, lang: str, min_cell: int) -> list[str]:
    """The methods actually used, each once, with their papers."""
    S = STRINGS[lang]
    methods: list[str] = []
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
        if m not in methods:
            methods.append(m)
    if weighting["done"]:
        methods.append(S["m_rake"])
        if weighting.get("trim"):
            methods.append(t(lang, "m_trim", k=times(weighting["trim"], lang)))
    if nonresponse["done"]:
        methods.append(S["m_aapor"])
    if trend is not None and trend["done"]:
        methods.append(S["m_trend"])
    methods.append(t(lang, "m_suppress", fewer=fewer_than(min_cell, lang)))
    return methods


def build_view(results: Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """Everything the template shows, already translated, rounded and suppressed."""
    from . import _lang

    results = publishable(results)
    lang = _lang(results, lang)
    S = STRINGS[lang]
    min_cell = int(results.get("min_cell", 30))
    study = results.get("study", {})
    qs_sorted = sorted(results.get("questions", []), key=lambda q: _ORDER.get(q["type"], 9))
    caveats: list[str] = [S["c_simulated"]] if study.get("simulated") else []

    compare = _compare_section(results, qs_sorted, lang, min_cell, caveats)
    few = _few_df(qs_sorted)
    if few:
        caveats.append(t(lang, "c_few_df", qs=", ".join(few), df=num(min(few.values()), 1, lang)))
    caveats.extend(failures(results, lang))
    groups = _group_sections(results, qs_sorted, lang, min_cell, caveats)
    weighting = _weighting_section(results, lang, caveats)
    nonresponse = _nonresponse_section(results, qs_sorted, lang, caveats)
    for s in results.get("skipped", []):
        what = S.get(f"what_{s.get('step')}", s.get("step", ""))
        caveats.append(t(lang, "c_skipped", what=what, why=S.get(f"why_{s.get('reason', 'error')}", S["why_error"])))
    from .splits import SPLIT_TEXT, split_rows

    split_table, split_notes = split_rows(results, lang)
    trend = trend_view(results.get("trend"), lang)
    if trend is not None and trend["failed"]:
        caveats.append(t(lang, "c_trend_failed", why=trend["failed"]))

    return {
        "lang": lang, "S": S, "title": pick(study.get("title"), lang) or study.get("id", ""),
        "population": pick(study.get("population"), lang), "fieldwork": " – ".join(study.get("fieldwork", [])),
        "simulated": bool(study.get("simulated")), "n_respondents": results.get("n_respondents"),
        "version": (results.get("versions") or {}).get("sottovoce", ""),
        "headline": headline(results, lang), "truth": truth_sentences(results, lang), **compare,
        "groups": groups, "weighting": weighting, "nonresponse": nonresponse,
        "methods": _methods(qs_sorted, weighting, nonresponse, trend, lang, min_cell),
        "caveats": caveats or [S["c_none"]], "min_cell": min_cell, "sha256": study.get("sha256", ""), "trend": trend,
        "splits": {"rows": split_table, "notes": split_notes, "T": SPLIT_TEXT[lang]},
    }
