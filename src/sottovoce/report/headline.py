"""The main finding in plain sentences: each direct question, then every indirect design that
measures it, each with the sign of its difference kept and its uncertainty stated.

"±" is half the width of the 95% interval when the interval is about symmetric; an interval cut
by 0% or 100% (or otherwise lopsided by more than a point) is given as its two ends instead, so
a reader never infers a range the estimate does not have. An indirect estimate outside 0–100%
is said to be impossible and is not compared with the direct answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..disclosure import publishable
from .shares import DIFFERENCE, SHARE, has_interval, out_of_range, publishable_estimate, shown_ci
from .text import STRINGS, count_phrase, count_ru, fewer_than, pct, plural_ru, points, t

__all__ = ["headline", "headline_numbers", "comparisons_for_headline", "truth_sentences", "uncertainty"]


def questions(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {q["id"]: q for q in results.get("questions", [])}


def method_name(q: Mapping[str, Any], lang: str) -> str:
    return t(lang, f"m_name_{q['type']}")


def answer(q: Mapping[str, Any], lang: str) -> str:
    from .text import pick

    labels = [pick(o, lang) for o in q.get("yes_labels", [])]
    return " / ".join(x for x in labels if x) or t(lang, "yes")


def _min_cell(results: Mapping[str, Any]) -> int:
    return int(results.get("min_cell", 30) or 30)


def moe(r: Mapping[str, Any], bounds: tuple[float, float] = SHARE) -> int:
    """Half the width of the shown interval in whole points (at least 1 for a non-empty one)."""
    lo, hi = shown_ci(r, bounds)
    return max(points((hi - lo) / 2), 1) if hi > lo else 0


def _symmetric(r: Mapping[str, Any], bounds: tuple[float, float]) -> bool:
    lo, hi = shown_ci(r, bounds)
    est = float(r["estimate"])
    return lo <= est <= hi and abs((hi - est) - (est - lo)) < 0.01


def uncertainty(r: Mapping[str, Any], lang: str, bounds: tuple[float, float] = SHARE) -> str:
    """``±4`` for an about-symmetric interval, else the interval's ends (``95% interval 0–70%``)."""
    if _symmetric(r, bounds):
        # "±m" reads as est − m to est + m: only when that stays inside the range ("0% (±1)" for a
        # zero-width interval at 0 would read as −1% to 1%)
        m, est = moe(r, bounds), points(float(r["estimate"]))
        if points(bounds[0]) <= est - m and est + m <= points(bounds[1]):
            return f"±{m}"
    lo, hi = shown_ci(r, bounds)
    if bounds == SHARE:
        return t(lang, "interval_share", lo=pct(lo), hi=pct(hi))
    return t(lang, "interval_points", lo=_signed_points(lo), hi=_signed_points(hi))


def _signed_points(share: float) -> str:
    n = points(share)
    return f"+{n}" if n > 0 else (f"−{abs(n)}" if n < 0 else "0")


def gap_phrase(gap: int, lang: str, case: str = "nom", signed: bool = False) -> str:
    """``15 percentage points`` (or ``−15 …`` with ``signed``) in the case a Russian sentence needs."""
    n = abs(gap)
    sign = ("+" if gap > 0 else "−" if gap < 0 else "") if signed else ""
    if lang != "ru":
        return sign + count_phrase(n, "en", "point")
    if case == "gen":  # около N ...
        return sign + count_ru(n, "процентного пункта", "процентных пунктов", "процентных пунктов")
    return f"{sign}{n} " + plural_ru(n, "процентный пункт", "процентных пункта", "процентных пунктов")


def comparisons_for_headline(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The comparisons the headline states: both sides publishable, most precise first."""
    qs = questions(results)
    min_cell = _min_cell(results)
    def indirect_ok(r: Mapping[str, Any] | None) -> bool:  # an impossible one is stated as such
        return publishable_estimate(r, min_cell) and (has_interval(r) or out_of_range(r))

    cands = [
        c for c in results.get("comparisons", [])
        if c.get("se") is not None and publishable_estimate(c, min_cell)
        and publishable_estimate(d := qs.get(c["direct"], {}).get("result"), min_cell) and has_interval(d)
        and indirect_ok(qs.get(c["indirect"], {}).get("result"))
    ]
    return sorted(cands, key=lambda c: c["se"])


def _verdict(c: Mapping[str, Any]) -> str:
    lo, hi = shown_ci(c, DIFFERENCE)
    return "hidden" if lo > 0 else "reverse" if hi < 0 else "none"


def headline_numbers(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The numbers of the lead comparison (whole percents and signed points), for tests and the
    terminal: the most precise indirect design whose estimate is a possible share."""
    qs = questions(results)
    for c in comparisons_for_headline(results):
        i = qs[c["indirect"]]["result"]
        if out_of_range(i) or not has_interval(c):
            continue
        d = qs[c["direct"]]["result"]
        return {
            "direct": c["direct"], "indirect": c["indirect"],
            "direct_pct": int(pct(d["estimate"])), "direct_moe": moe(d),
            "indirect_pct": int(pct(i["estimate"])), "indirect_moe": moe(i),
            "gap_points": points(c["estimate"]), "gap_moe": moe(c, DIFFERENCE), "verdict": _verdict(c),
        }
    return None


def _indirect_sentence(c: Mapping[str, Any], iq: Mapping[str, Any], lang: str) -> str:
    i = iq["result"]
    method = method_name(iq, lang)
    if out_of_range(i):
        return t(lang, "ind_impossible", method=method, p=pct(i["estimate"]))
    if not has_interval(c):  # a difference whose whole interval lies outside ±100 points
        return t(lang, "ind_nogap", method=method, p=pct(i["estimate"]), unc=uncertainty(i, lang))
    kw = {"method": method, "p": pct(i["estimate"]), "unc": uncertainty(i, lang),
          "gunc": uncertainty(c, lang, DIFFERENCE)}
    verdict = _verdict(c)
    gap = points(c["estimate"])
    if verdict == "hidden":
        return t(lang, "ind_hidden", gap=gap_phrase(gap, lang, "gen"), **kw)
    if verdict == "reverse":
        return t(lang, "ind_reverse", gap=gap_phrase(gap, lang, "acc"), **kw)
    return t(lang, "ind_none", gap=gap_phrase(gap, lang, "nom", signed=True), **kw)


def headline(results: Mapping[str, Any], lang: str | None = None) -> list[str]:
    """The main finding as plain sentences, e.g. "Asked directly, 55% said “Yes” (±3). Asked
    indirectly (randomized response), 47% (±4): fear plausibly hides about 8 percentage points (±4)."."""
    from . import _lang

    lang = _lang(results, lang)
    results = publishable(results)
    qs = questions(results)
    min_cell = _min_cell(results)
    comps = comparisons_for_headline(results)
    if not comps:  # no indirect comparison: still state the first publishable direct estimate
        for q in results.get("questions", []):
            r = q.get("result")
            if q["type"] == "direct" and publishable_estimate(r, min_cell) and has_interval(r):
                return [t(lang, "direct_sentence", p=pct(r["estimate"]), answer=answer(q, lang), unc=uncertainty(r, lang)), t(lang, "no_headline")]
        if any((q.get("result") or {}).get("suppressed") for q in results.get("questions", [])):
            return [t(lang, "no_headline_small", fewer=fewer_than(min_cell, lang))]
        return [t(lang, "no_headline")]
    out: list[str] = []
    directs = list(dict.fromkeys(c["direct"] for c in comps))  # in order of their most precise comparison
    for did in directs:
        dq = qs[did]
        d = dq["result"]
        out.append(t(lang, "direct_sentence", p=pct(d["estimate"]), answer=answer(dq, lang), unc=uncertainty(d, lang)))
        out.extend(_indirect_sentence(c, qs[c["indirect"]], lang) for c in comps if c["direct"] == did)
    return out


def truth_sentences(results: Mapping[str, Any], lang: str) -> list[str]:
    """For a simulated study with a planted truth: the truth, how far each estimate is from it
    (and whether its interval contains it), and the study file's explanation of why."""
    study = results.get("study") or {}
    truth = study.get("truth")
    if not study.get("simulated") or not isinstance(truth, Mapping) or truth.get("share") is None:
        return []
    from .text import pick

    min_cell = _min_cell(results)
    share = float(truth["share"])
    measured = truth.get("question")
    shown, inside = [], []
    for q in results.get("questions", []):
        r = q.get("result")
        if not publishable_estimate(r, min_cell) or out_of_range(r) or not has_interval(r):
            continue
        if measured and q["id"] != measured and q.get("measures") != measured:
            continue
        assert r is not None
        shown.append(t(lang, "truth_estimate", method=method_name(q, lang), p=pct(r["estimate"])))
        lo, hi = shown_ci(r)
        if lo <= share <= hi:
            inside.append(method_name(q, lang))
    out = [t(lang, "truth_share", p=pct(share))]
    if shown:
        cover = t(lang, "truth_cover", which=", ".join(inside)) if inside else STRINGS[lang]["truth_cover_none"]
        out.append(t(lang, "truth_estimates", estimates="; ".join(shown), cover=cover))
    why = pick(truth.get("explanation"), lang)
    if why:
        out.append(why)
    return out
