"""The corpus report: one self-contained HTML page per language from :func:`sottovoce.corpus_analysis.analyze_corpus`.

Sections: the main finding, the polls, the pooled trend (chart and monthly table), each
pollster × wording against the trend, how the wording shapes the answer, events with their
level-shift tests, what the pollsters agree and disagree on, the nonresponse bounds of each
pollster's latest poll, methods and caveats. Every label, axis and legend is in the report's
language; every interval of a share is shown inside [0, 100]% and every difference inside
[−100, 100] points (:mod:`.shares`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._words import count_en, count_ru
from . import charts
from .corpus_text import (
    CORPUS_STRINGS,
    MODE_NAMES,
    MONTHS,
    OPTION_NAMES,
    POLLSTER_NAMES,
    WORDING_NO,
)
from .shares import DIFFERENCE, SHARE, shown_ci
from .view import dec, fmt1, signed

__all__ = ["corpus_view", "render_corpus_report", "house_names", "CORPUS_LANGUAGES"]

CORPUS_LANGUAGES = tuple(CORPUS_STRINGS)


def _lang(lang: str) -> str:
    if lang not in CORPUS_STRINGS:
        from ..errors import InputError

        raise InputError(f"unknown report language '{lang}'; use one of {', '.join(CORPUS_STRINGS)}")
    return lang


def house_names(payload: Mapping[str, Any], lang: str) -> dict[str, str]:
    """House label -> the name a reader sees: the pollster's name in ``lang``, numbered by wording
    when a pollster asked more than one wording in the corpus."""
    houses = [(h["house"], h["pollster"], h["wording"]) for h in payload["wordings"]]
    per: dict[str, list[str]] = {}
    for _, p, w in houses:
        per.setdefault(p, []).append(w)
    names = {}
    for house, p, w in houses:
        name = POLLSTER_NAMES.get(lang, {}).get(p, p)
        if len(per[p]) > 1:
            name += ", " + WORDING_NO[lang].format(k=per[p].index(w) + 1)
        names[house] = name
    return names


def _pct_ci(r: Mapping[str, Any], lo: str, hi: str, lang: str, bounds: tuple[float, float] = SHARE) -> str:
    a, b = shown_ci({"ci": (r[lo], r[hi])}, bounds)
    if bounds == DIFFERENCE:
        return f"{signed(a, lang)} … {signed(b, lang)}"
    return f"{fmt1(a, lang)}–{fmt1(b, lang)}"


def _whole(x: float, lang: str) -> str:
    """A published percent as printed: 51, 58.5 (58,5 in Russian)."""
    return dec(f"{x:g}", lang)


def _wording_text(h: Mapping[str, Any], lang: str) -> tuple[str, bool, str]:
    """The question as asked and the language it is quoted in: the report's language when the
    source gives it; ``False`` when the wordings table marks it as not verified (its text then
    starts with a parenthesis). Originals are Russian, ``text_en`` English."""
    pairs = [(h["text_original"], "ru"), (h["text_en"], "en")]
    for text, tl in sorted(pairs, key=lambda x: x[1] != lang):
        if text and not text.startswith("("):
            return text, True, tl
    return "", False, lang


def _p(x: float, lang: str) -> str:
    return dec("< 0.001" if x < 0.001 else f"{x:.3f}", lang)


def _count(n: int, lang: str, en: tuple[str, str], ru: tuple[str, str, str]) -> str:
    return count_ru(n, *ru) if lang == "ru" else count_en(n, *en)


def corpus_view(payload: Mapping[str, Any], lang: str, trend: Any = None) -> dict[str, Any]:
    """Everything the template shows, translated and rounded. ``trend`` (the fitted
    :class:`~sottovoce.dynamics.TrendResult`) is needed for the trend chart only."""
    lang = _lang(lang)
    S = CORPUS_STRINGS[lang]
    names = house_names(payload, lang)
    pname = lambda p: POLLSTER_NAMES.get(lang, {}).get(p, p)  # noqa: E731
    tr = payload["trend"]
    c = payload["corpus"]
    caveats: list[str] = []
    polls_txt = _count(c["n_polls"], lang, ("poll", "polls"), ("опроса", "опросов", "опросов"))
    pollsters_txt = _count(c["n_pollsters"], lang, ("pollster", "pollsters"), ("компании", "компаний", "компаний"))
    polls_nom = _count(c["n_polls"], lang, ("poll", "polls"), ("опрос", "опроса", "опросов"))

    # headline
    headline = []
    if tr.get("ci"):
        lo, hi = shown_ci(tr)
        key = "headline_impossible" if tr.get("out_of_range") else "headline"
        headline.append(S[key].format(polls=polls_txt, pollsters=pollsters_txt, date=tr["last_grid_date"], p=fmt1(tr["estimate"], lang),
                                      lo=fmt1(lo, lang), hi=fmt1(hi, lang)))
    monthly = payload["monthly"]
    if monthly:
        shares = np.array([m["share"] for m in monthly])
        a, b = int(np.argmin(shares)), int(np.argmax(shares))
        headline.append(S["headline_range"].format(lo=fmt1(shares[a], lang), lo_month=monthly[a]["month"],
                                                   hi=fmt1(shares[b], lang), hi_month=monthly[b]["month"]))
    w = payload["wordings"]
    if len(w) > 1:
        top = max(w, key=lambda x: x["effect"])
        bottom = min(w, key=lambda x: x["effect"])
        headline.append(S["headline_spread"].format(spread=fmt1(top["effect"] - bottom["effect"], lang),
                                                    top=names[top["house"]], bottom=names[bottom["house"]]))

    # corpus table: pollster × year
    years = sorted({r["year"] for r in c["per_year"]})
    counts = {(r["pollster"], r["year"]): r["polls"] for r in c["per_year"]}
    corpus_rows = [{"pollster": pname(p), "cells": [counts.get((p, y), 0) for y in years], "all": n}
                   for p, n in c["pollsters"].items()]
    corpus_rows.append({"pollster": S["all"], "cells": [sum(counts.get((p, y), 0) for p in c["pollsters"]) for y in years],
                        "all": c["n_polls"]})

    # the trend and its monthly table
    labels = {"ylabel": S["chart_ylabel"], "band": S["chart_band"], "trend": S["chart_trend"], "outlier": S["chart_outlier"],
              "title": S["chart_title"], "months": MONTHS[lang],
              "events": {e["label"]["en"]: e["label"][lang] for e in payload["events"]}}
    trend_chart = _trend_svg(trend, labels, names, S["chart_trend_alt"]) if trend is not None else ""
    monthly_rows = [{"month": m["month"], "share": fmt1(m["share"], lang), "ci": _pct_ci(m, "low", "high", lang)} for m in monthly]
    sigma = dec(f"{100 * float(tr.get('sigma') or 0):.3f}", lang)

    # each house against the trend
    series_chart = _series_chart(payload, names, S) if trend is not None else ""

    # wordings
    offered = {"yes": S["offered_yes"], "no": S["offered_no"], "unknown": S["offered_unknown"]}
    wording_rows = []
    for h in sorted(w, key=lambda x: -x["effect"]):
        text, verified, text_lang = _wording_text(h, lang)
        wording_rows.append({
            "house": names[h["house"]], "polls": h["polls"], "text": text, "verified": verified, "text_lang": text_lang,
            "original": h["text_original"] if text_lang == "en" and h["text_original"] and not h["text_original"].startswith("(") else "",
            "options": ", ".join(OPTION_NAMES[lang].get(o, o) for o in h["options"]),
            "hts": offered.get(h["hard_to_say_offered"], h["hard_to_say_offered"]),
            "ref": offered.get(h["refused_offered"], h["refused_offered"]),
            "modes": ", ".join(MODE_NAMES[lang].get(m, m) for m in h["modes"]),
            "years": "; ".join(f"{y['year']}: {_whole(y['min'], lang)}" + (f"–{_whole(y['max'], lang)}" if y["max"] != y["min"] else "")
                               for y in h["years"]),
            "nonanswer": "–" if h["mean_nonanswer"] is None else dec(f"{h['mean_nonanswer']:.1f}", lang),
            "effect": signed(h["effect"], lang), "ci": _pct_ci(h, "low", "high", lang, DIFFERENCE),
        })
    features = []
    for f in payload.get("features", []):
        def group(v: str, houses: list[str], f: Mapping[str, Any] = f) -> str:
            shown = MODE_NAMES[lang].get(v, v) if f["feature"] == "mode" else offered.get(v, v)
            return f"{shown} ({', '.join(names[h] for h in houses)})"

        features.append({"feature": S[f"feature_{f['feature']}"], "a": group(f["group_a"], f["houses_a"]),
                         "b": group(f["group_b"], f["houses_b"]), "difference": signed(f["estimate"], lang),
                         "ci": _pct_ci(f, "low", "high", lang, DIFFERENCE), "p": _p(f["p_value"], lang)})
    effects_chart = _effects_chart(w, names, S) if len(w) > 1 else ""

    # events
    tested = [e for e in payload["events"] if not e["test"].get("failed")]
    events = []
    for e in payload["events"]:
        x = e["test"]
        if x.get("failed"):
            why = S.get(f"why_{x.get('reason')}", x["failed"]).format(first=payload["corpus"]["first"], last=payload["corpus"]["last"])
            result = S["event_untested"].format(why=why)
        else:
            result = S["event_shift"].format(shift=signed(x["shift"], lang), lo=_pct_ci(x, "low", "high", lang, DIFFERENCE).split(" … ")[0],
                                             hi=_pct_ci(x, "low", "high", lang, DIFFERENCE).split(" … ")[1],
                                             p=_p(x["p_value"], lang), ph=_p(x.get("p_holm", x["p_value"]), lang))
        events.append({"date": e["date"], "label": e["label"][lang], "source": e.get("source", ""), "result": result,
                       "failed": bool(x.get("failed")),
                       "changes": [{"house": names.get(ch["house"], ch["house"]), "before": f"{ch['before']}: {fmt1(ch['y_before'], lang)}",
                                    "after": f"{ch['after']}: {fmt1(ch['y_after'], lang)}", "change": signed(ch["change"], lang),
                                    "ci": _pct_ci(ch, "low", "high", lang, DIFFERENCE)} for ch in e["changes"]]})
    untested = [f"{e['label']} ({e['date']})" for e in events if e["failed"]]
    if untested:
        caveats.append(S["c_untested"].format(events="; ".join(untested)))

    # agreement
    agreement = []
    for d in payload["agreement"]:
        if d.get("se") is None:
            continue
        dis = d["low"] > 0 or d["high"] < 0
        agreement.append({"pair": f"{names[d['house_a']]} − {names[d['house_b']]}", "difference": signed(d["difference"], lang),
                          "ci": _pct_ci(d, "low", "high", lang, DIFFERENCE), "p": _p(d["p_value"], lang),
                          "verdict": S["disagree"] if dis else S["agree"], "disagree": dis})

    # audit
    audit = []
    any_rate = False
    for a in payload["audit"]:
        row: dict[str, Any] = {"pollster": pname(a["pollster"]), "poll": f"{a['date']} (n = {a['n']})", "reported": fmt1(a["yes"], lang)}
        if a.get("failed"):
            row.update(item=S["audit_failed"].format(why=S.get(f"why_{a.get('reason')}", a["failed"])), unit=[])
        else:
            row["item"] = f"{fmt1(a['item']['lower'], lang)}–{fmt1(a['item']['upper'], lang)}"
            any_rate = any_rate or a["response_rate_published"]
            row["unit"] = [
                (S["rate_published"] if u["source"] == "published" else S["rate_hypothetical"]).format(r=dec(f"{100 * u['response_rate']:g}", lang))
                + f": {fmt1(u['lower'], lang)}–{fmt1(u['upper'], lang)}" for u in a["unit"]]
        audit.append(row)

    # caveats
    caveats.insert(0, S["c_sum_zero"])
    few = [names[h["house"]] for h in w if h["polls"] < 4]
    if few:
        caveats.append(S["c_few"].format(houses=", ".join(few)))
    k_out = sum(1 for p in tr.get("polls", []) if p.get("outlier"))
    if k_out:
        caveats.append(S["c_outliers"].format(k=k_out))
    caveats.append(S["c_gaps"])

    return {
        "lang": lang, "S": S, "title": S["title"],
        "corpus_line": S["corpus_line"].format(file=c["file"], polls=polls_nom, pollsters=pollsters_txt, first=c["first"], last=c["last"]),
        "headline": headline, "years": years, "corpus_rows": corpus_rows,
        "trend_chart": trend_chart, "trend_summary": S["trend_summary"].format(sigma=sigma), "monthly": monthly_rows,
        "series_chart": series_chart, "wording_rows": wording_rows, "features": features, "effects_chart": effects_chart,
        "events_intro": S["events_intro"].format(events=_count(len(tested), lang, ("event", "events"), ("события", "событий", "событий"))), "events": events,
        "event_changes": S["event_changes"].format(window=payload.get("window", 120)),
        "event_no_changes": S["event_no_changes"].format(window=payload.get("window", 120)),
        "agreement": agreement, "audit": audit, "audit_no_rate": "" if any_rate else S["audit_no_rate"],
        "methods": [S[k] for k in ("m_trend", "m_poll_error", "m_shift", "m_pairs", "m_bounds")],
        "caveats": caveats or [S["c_none"]], "footer": S["footer"].format(version=payload.get("version", "")),
    }


def _trend_svg(trend: Any, labels: Mapping[str, Any], names: Mapping[str, str], alt: str) -> str:
    from ..dynamics.chart import plot_trend
    from .view import _svg_inline

    with tempfile.TemporaryDirectory() as tmp:
        svg = plot_trend(trend, Path(tmp) / "trend.svg", labels=labels, house_names=names).read_text(encoding="utf-8")
    out = _svg_inline(svg)
    return out.replace('role="img" ', f'role="img" aria-label="{charts._attr(alt)}" ', 1)


def _series_chart(payload: Mapping[str, Any], names: Mapping[str, str], S: Mapping[str, str]) -> str:
    """Small multiples: each house's polls (95% intervals) and the trend shifted by its effect."""
    import matplotlib.dates as mdates
    import pandas as pd
    from scipy import special

    from ..dynamics.bands import share_band

    plt = charts.plt
    tr = payload["trend"]
    houses = payload["wordings"]
    days = pd.to_datetime([r["date"] for r in tr["trend"]])
    share = np.array([r["share"] for r in tr["trend"]])
    polls = pd.DataFrame(tr["polls"])
    polls["date"] = pd.to_datetime(polls["date"])
    z = float(special.ndtri(0.5 + float(payload.get("level", 0.95)) / 2))
    k = len(houses)
    ncol = 2 if k > 1 else 1
    nrow = (k + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.5, 2.3 * nrow + 0.6), sharex=True, sharey=True, squeeze=False)
    for ax in axes.flat[k:]:
        ax.set_visible(False)
    for ax, h in zip(axes.flat, houses, strict=False):
        mine = polls[polls["house"] == h["house"]]
        lo, hi, _ = share_band(mine["y"].to_numpy(float), mine["se"].to_numpy(float), z)
        y = 100 * mine["y"].to_numpy(float)
        ax.plot(days, 100 * np.clip(share + h["effect"], 0, 1), color="#333333", lw=1.2, label=S["series_line"])
        ax.errorbar(mine["date"], y, yerr=[y - 100 * lo, 100 * hi - y], fmt="o", ms=3.5, color=charts.COLOURS["direct"],
                    elinewidth=1, label=S["series_polls"])
        ax.set_title(names[h["house"]], fontsize=9)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("%", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return charts._svg(fig, S["chart_series_alt"])


def _effects_chart(houses: list[Mapping[str, Any]], names: Mapping[str, str], S: Mapping[str, str]) -> str:
    """House effects with their intervals, in points, highest first."""
    plt = charts.plt
    rows = sorted(houses, key=lambda x: x["effect"])
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.0))
    for i, h in enumerate(rows):
        lo, hi = shown_ci({"ci": (h["low"], h["high"])}, DIFFERENCE)
        ax.plot([100 * lo, 100 * hi], [i, i], color=charts.COLOURS["direct"], lw=2.5, solid_capstyle="butt")
        ax.plot([100 * h["effect"]], [i], "o", color=charts.COLOURS["direct"], ms=7)
    ax.axvline(0, color="#777777", lw=1, ls="--")
    ax.set_yticks(range(len(rows)), [names[h["house"]] for h in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(S["chart_effects_x"])
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return charts._svg(fig, S["chart_effects_alt"])


def render_corpus_report(payload: Mapping[str, Any], lang: str = "en", trend: Any = None) -> str:
    """The corpus report as one self-contained HTML string (inline CSS and SVG, no requests)."""
    from markupsafe import Markup

    from . import _env

    view = corpus_view(payload, lang, trend)
    for key in ("trend_chart", "series_chart", "effects_chart"):
        view[key] = Markup(view[key])
    return _env().get_template("corpus.html.j2").render(**view)
