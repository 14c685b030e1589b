"""Audit a published poll from its toplines alone.

A poll file (TOML, format in README "Nonresponse and poll audits") gives the pollster, dates,
mode, sample size, question wording, the reported shares (percent, as published), the response
rate or dispositions and the design effect when published, optionally an indirect estimate of the
same question (list experiment, randomized response) and a citation for every figure. The audit
reports:

* the honest margin of error ``z·sqrt(deff·p(1-p)/n)`` with the published design effect or, when
  none is published, a stated range (default deff 1.5–2.5, typical of weighted national phone and
  face-to-face samples; Kish 1965, *Survey Sampling*, §8.2);
* worst-case (Manski) and propensity-ratio bounds with Imbens–Manski intervals
  (:mod:`sottovoce.nonresponse.bounds`);
* the sensitivity curve and the tipping point (:mod:`sottovoce.nonresponse.sensitivity`);
* the gap between the direct share and an indirect estimate, ``indirect - direct`` with
  ``se = sqrt(se_indirect² + se_direct²)`` (independent samples, or a conservative approximation
  within one sample);
* plain sentences saying the same.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scipy import stats

from ._results import Result
from .errors import InputError
from .nonresponse.aapor import outcome_rates
from .nonresponse.bounds import manski_bounds, propensity_ratio_bounds
from .nonresponse.sensitivity import sensitivity_curve, tipping_point

if TYPE_CHECKING:
    from .display import Display

__all__ = ["AuditResult", "load_poll", "audit_poll", "curve_text"]

DEFAULT_DEFF_RANGE = (1.5, 2.5)
# Shown, clearly labelled as hypothetical, when a poll publishes no response rate.
ASSUMED_RESPONSE_RATES = (0.1, 0.3)
_SHARE_KEYS = ("yes", "no", "hard_to_say", "refused")
_CITED_NUMBERS = ("sample_size", "response_rate", "design_effect", "published_moe")


@dataclass(frozen=True)
class AuditResult(Result):
    """The audit of one published poll; ``estimate`` is the reported yes share."""

    poll: dict[str, Any] = field(default_factory=dict)
    margin_of_error: dict[str, Any] = field(default_factory=dict)
    bounds: dict[str, Any] = field(default_factory=dict)
    assumption_bounds: tuple[dict[str, Any], ...] = ()
    sensitivity: dict[str, Any] = field(default_factory=dict)
    indirect: dict[str, Any] | None = None
    sentences: tuple[str, ...] = ()

    json_fields: ClassVar[Mapping[str, str]] = {
        "poll": "poll", "margin_of_error": "margin_of_error", "bounds": "bounds", "assumption_bounds": "assumption_bounds",
        "sensitivity": "sensitivity", "indirect": "indirect", "sentences": "sentences",
    }

    def display(self) -> Display:
        """The pollster, title and date, then the plain sentences (and the warnings)."""
        from .display import Display

        p = self.poll
        when = p.get("fieldwork") or p.get("published") or "date not published"
        return Display(title=f"{p.get('pollster', '')}: {p.get('title', '')} ({when})",
                       lines=[*(f"- {s}" for s in self.sentences), *self.sensitivity_lines()], warnings=list(self.warnings))

    def sensitivity_lines(self) -> list[str]:
        """The sensitivity curves as lines (``0%→74%, 10%→75%, …``), item nonresponse kept apart
        from unit and item nonresponse; each curve's point "like those who answered" is marked."""
        sens, cc = self.sensitivity, self.bounds.get("complete_case")
        if not sens or not sens.get("curve"):
            return []
        out = []
        if sens["scope"] == "item nonresponse only":
            if sens.get("answered_share", 0.0) < 0.995:  # else everyone interviewed answered yes or no
                out.append("sensitivity to item nonresponse (assumed yes-share among respondents without a yes-or-no answer -> "
                           "share among respondents): " + curve_text(sens["curve"], cc))
        else:
            out.append("sensitivity (assumed yes-share among everyone not counted: no interview or no yes-or-no answer -> "
                       f"share among all eligible, at the {100 * sens['response_rate']:.1f}% response rate): " + curve_text(sens["curve"], cc))
        if sens.get("scenarios"):
            out.append("sensitivity to unit and item nonresponse (assumed yes-share among everyone not counted: no interview or "
                       "no yes-or-no answer -> share among all eligible), at hypothetical response rates:")
            out.extend(f"  {100 * sc['assumed_response_rate']:.0f}%: " + curve_text(sc["curve"], cc) for sc in sens["scenarios"])
        return out


def _pct(x: float, digits: int = 0) -> str:
    return f"{100 * x:.{digits}f}%"


def load_poll(path: str | Path) -> dict[str, Any]:
    """Read and validate a poll file; returns the parsed mapping (errors name the file and key)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: poll file not found")
    try:
        with p.open("rb") as fh:
            spec = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from None
    spec["_path"] = str(p)
    _validate(spec, str(p))
    return spec


def _number(spec: dict[str, Any], key: str, where: str) -> float | None:
    v = spec.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where}: '{key}' = {v!r} must be a number (leave it out when it was not published)")
    return float(v)


def _validate(spec: dict[str, Any], where: str) -> None:
    sources = spec.get("sources", {})
    if not isinstance(sources, dict):
        raise InputError(f"{where}: [sources] must be a table of citations, e.g. [sources.levada] with publisher, title, date, url")
    for sid, src in sources.items():
        missing = [k for k in ("publisher", "title", "url") if not (isinstance(src, dict) and src.get(k))]
        if missing:
            raise InputError(f"{where}: citation [sources.{sid}] lacks {', '.join(missing)}; every source needs publisher, title, url (and date when known)")

    def cited(table: dict[str, Any], key: str, label: str) -> None:
        sid = table.get(f"{key}_source", table.get("source"))
        if not sid:
            raise InputError(f"{where}: {label} has no citation; add {key}_source = \"<id>\" (or source) naming a [sources.<id>] table")
        if sid not in sources:
            raise InputError(f"{where}: {label} cites source '{sid}', which is not defined; add [sources.{sid}]")

    n = _number(spec, "sample_size", where)
    if n is None:
        raise InputError(f"{where}: 'sample_size' is missing; the audit needs the published number of respondents (sample_size = 1600)")
    if n < 1 or not float(n).is_integer():
        raise InputError(f"{where}: sample_size = {n:g} must be a positive whole number")
    for key in _CITED_NUMBERS:
        if _number(spec, key, where) is not None:
            cited(spec, key, f"'{key}'")
    r = _number(spec, "response_rate", where)
    if r is not None and not (0 < r <= 1):
        raise InputError(f"{where}: response_rate = {r:g} must be in (0, 1] (a share: 0.09 for 9%)")
    deff = _number(spec, "design_effect", where)
    if deff is not None and deff < 1 / 3:
        raise InputError(f"{where}: design_effect = {deff:g} is implausible; it is the variance ratio to simple random sampling (usually 1–3)")
    shares = spec.get("shares")
    if not isinstance(shares, dict):
        raise InputError(f"{where}: the [shares] table is missing; give yes, no, hard_to_say (percent, as published)")
    if _number(shares, "yes", f"{where} [shares]") is None:
        raise InputError(f"{where}: [shares] needs 'yes' (percent as published)")
    pm = _number(spec, "published_moe", where)
    if pm is not None and not (0 < pm < 50):
        raise InputError(f"{where}: published_moe = {pm:g} must be the published margin of error in percentage points at 50% (e.g. 3.4)")
    total = 0.0
    k_given = 0
    for k in _SHARE_KEYS:
        v = _number(shares, k, f"{where} [shares]")
        if v is None:
            continue
        if v < 0 or v > 100:
            raise InputError(f"{where}: [shares] {k} = {v:g} must be a percentage between 0 and 100")
        total += v
        k_given += 1
    # each figure rounded to a whole percent can be off by 0.5
    if total > 100 + max(1.0, 0.5 * k_given):
        raise InputError(f"{where}: [shares] sum to {total:g}%, more than 100% beyond rounding; check the published figures")
    cited(shares, "shares", "[shares]")
    disp = spec.get("dispositions")
    if disp is not None:
        if not isinstance(disp, dict):
            raise InputError(f"{where}: [dispositions] must be a table of AAPOR counts I, P, R, NC, O, UH, UO, NE")
        cited(disp, "dispositions", "[dispositions]")
    ind = spec.get("indirect")
    if ind is not None:
        if not isinstance(ind, dict) or _number(ind, "estimate", f"{where} [indirect]") is None:
            raise InputError(f"{where}: [indirect] needs 'estimate' (percent) and a source")
        cited(ind, "estimate", "[indirect] estimate")
        est = float(ind["estimate"])
        if not 0 <= est <= 100:
            raise InputError(f"{where}: [indirect] estimate = {est:g} must be a percentage between 0 and 100")


@dataclass(frozen=True)
class _Toplines:
    """The published shares, normalised: yes, no, hard to say, refused (shares of respondents)."""

    yes: float
    no: float
    hard_to_say: float
    refused: float
    label: str

    @property
    def answered(self) -> float:
        """Share of respondents with a yes-or-no answer (the rest is item nonresponse)."""
        return self.yes + self.no

    @property
    def complete_case(self) -> float:
        return self.yes / self.answered if self.answered > 0 else float("nan")


def _toplines(spec: dict[str, Any], where: str, warnings: list[str]) -> _Toplines:
    sh = spec["shares"]
    y = float(sh["yes"]) / 100
    dk = float(sh.get("hard_to_say") or 0) / 100
    rf = float(sh.get("refused") or 0) / 100
    if _number(sh, "no", where) is None:
        # only the yes share was published: everyone else is counted as "not yes"
        no = max(0.0, 1 - y - dk - rf)
        warnings.append("the 'no' share was not published; every respondent not counted as yes, hard to say or refusing is treated as no")
    else:
        no = float(sh["no"]) / 100
    if y + no > 1:
        s = y + no
        y, no = y / s, no / s
    return _Toplines(y, no, dk, rf, str(sh.get("yes_label", "yes")))


def _response_rate(spec: dict[str, Any], where: str, warnings: list[str]) -> tuple[float | None, str | None, Any]:
    """The unit response rate: published, or AAPOR RR3 from published dispositions, or None."""
    r = _number(spec, "response_rate", where)
    source = "published" if r is not None else None
    rates = None
    if spec.get("dispositions"):
        counts = {k: v for k, v in spec["dispositions"].items() if k.upper() in ("I", "P", "R", "NC", "O", "UH", "UO", "NE")}
        rates = outcome_rates(counts=counts, e=spec["dispositions"].get("e"))
        if r is None:
            r, source = rates.rates["RR3"], "AAPOR RR3 from published dispositions"
    if r is None:
        source = "not published"
        warnings.append("no response rate was published: the worst case of unit nonresponse is shown only under hypothetical response rates")
    return r, source, rates


def _margin_of_error(spec: dict[str, Any], tl: _Toplines, n: int, z: float, where: str,
                     deff_range: tuple[float, float]) -> tuple[dict[str, Any], float, float, float | None, str]:
    """The honest margin of error (published, implied or assumed design effect) and the SEs."""
    deff = _number(spec, "design_effect", where)
    deff_source = "published"
    pm = _number(spec, "published_moe", where)
    if deff is None and pm is not None:
        # the pollster's own margin of error at 50% implies deff = (moe/z)^2 · n / 0.25
        deff = max(1.0, (pm / 100 / float(stats.norm.ppf(0.975))) ** 2 * n / 0.25)
        deff_source = f"implied by the published margin of error ±{pm:g} points at 50%"
    srs_se = math.sqrt(tl.yes * (1 - tl.yes) / n)
    moe: dict[str, Any]
    if deff is not None:
        moe = {"design_effect": deff, "design_effect_source": deff_source, "moe": z * srs_se * math.sqrt(deff), "moe_srs": z * srs_se}
        se = srs_se * math.sqrt(deff)
    else:
        lo_d, hi_d = deff_range
        moe = {"design_effect": list(deff_range), "design_effect_source": "not published; assumed range",
               "moe": [z * srs_se * math.sqrt(lo_d), z * srs_se * math.sqrt(hi_d)], "moe_srs": z * srs_se}
        se = srs_se * math.sqrt(hi_d)
    se_no = math.sqrt(tl.no * (1 - tl.no) / n) * (se / srs_se if srs_se > 0 else 1)
    return moe, se, se_no, deff, deff_source


def _rate_scenarios(r: float | None, r_source: str | None) -> list[tuple[float, str]]:
    """The response rates the unit-nonresponse figures are given at: the real one, or hypothetical ones."""
    if r is not None:
        return [(r, str(r_source))]
    return [(ra, "hypothetical") for ra in ASSUMED_RESPONSE_RATES]


def _sensitivity(tl: _Toplines, scenarios: list[tuple[float, str]]) -> dict[str, Any]:
    """Sensitivity curves and tipping points: among respondents (item nonresponse only) and at
    each response rate (unit and item nonresponse)."""
    def one(rate: float) -> dict[str, Any]:
        sc = sensitivity_curve(tl.yes, tl.no, rate)
        tp = tipping_point(tl.yes, tl.no, rate)
        return {"response_rate": rate, "curve": [{"assumed_share": a, "estimate": e} for a, e in sc.curve],
                "tipping_share": tp["share"], "tipping_gamma": tp["gamma"], "verdict": tp["verdict"],
                "answered_share": sc.answered_share}

    first = one(scenarios[0][0]) if scenarios[0][1] != "hypothetical" else one(1.0)
    first["scope"] = "item nonresponse only" if scenarios[0][1] == "hypothetical" else "unit and item nonresponse"
    first["scenarios"] = [{**one(rate), "scope": "unit and item nonresponse", "assumed_response_rate": rate}
                          for rate, src in scenarios if src == "hypothetical"]
    return first


def _indirect(spec: dict[str, Any], tl: _Toplines, se: float, z: float, worst: tuple[float, float], where: str) -> dict[str, Any] | None:
    ind = spec.get("indirect")
    if not ind:
        return None
    est = float(ind["estimate"]) / 100
    ise = _number(ind, "se", where)
    ise = ise / 100 if ise is not None else None
    gap = est - tl.yes
    gse = math.sqrt(ise**2 + se**2) if ise is not None else None
    gap_ci = [max(-1.0, gap - z * gse), min(1.0, gap + z * gse)] if gse is not None else None
    return {"method": ind.get("method", "indirect"), "estimate": est, "se": ise, "direct": tl.yes, "gap": gap,
            "gap_se": gse, "gap_ci": gap_ci, "within_worst_case_bounds": bool(worst[0] <= est <= worst[1]),
            "source": ind.get("estimate_source", ind.get("source"))}


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two intervals that read the same in whole percents."""
    return _pct(a[0]) == _pct(b[0]) and _pct(a[1]) == _pct(b[1])


def _rate_text(rate: float) -> str:
    return _pct(rate, 1 if rate < 0.1 else 0)


def _sentences(spec: dict[str, Any], tl: _Toplines, n: int, moe: dict[str, Any], deff: float | None, deff_source: str,
               deff_range: tuple[float, float], r: float | None, r_source: str | None, item: tuple[float, float],
               worst: list[dict[str, Any]], ab: tuple[dict[str, Any], ...], sens: dict[str, Any],
               indirect: dict[str, Any] | None, level: float) -> list[str]:
    """Plain sentences; every one says whether it is about item nonresponse (respondents without
    a yes-or-no answer), unit nonresponse (people who gave no interview) or both."""
    pop = spec.get("population", "adults")
    pollster = spec.get("pollster", "The pollster")
    silent = 1 - tl.answered
    out = [
        f"{pollster} reported {_pct(tl.yes)} {tl.label}, {_pct(tl.no)} against"
        + (f", {_pct(tl.hard_to_say)} hard to say" if tl.hard_to_say else "") + (f" and {_pct(tl.refused)} refusing to answer" if tl.refused else "")
        + f" (n = {n:,}).",
    ]
    if deff is not None:
        out.append(f"With a design effect of {deff:.2f} ({deff_source}), the margin of error on {_pct(tl.yes)} is ±{100 * moe['moe']:.1f} points (±{100 * moe['moe_srs']:.1f} if it were a simple random sample).")
    else:
        out.append(f"No design effect was published; with a design effect between {deff_range[0]:g} and {deff_range[1]:g} the margin of error on {_pct(tl.yes)} is ±{100 * moe['moe'][0]:.1f} to ±{100 * moe['moe'][1]:.1f} points, not the ±{100 * moe['moe_srs']:.1f} of a simple random sample.")
    if item[1] - item[0] > 0.005:
        out.append(f"Item nonresponse: {_pct(silent)} of the respondents gave no yes-or-no answer; if all of them or none of them would say yes, "
                   f"the share among respondents lies between {_pct(item[0])} and {_pct(item[1])}.")
    # unit nonresponse: the worst case at the published rate, or at hypothetical ones
    if r is not None:
        w = worst[0]
        out.append(f"Unit nonresponse: {_rate_text(r)} of the eligible people gave an interview ({r_source}). Counting both those who gave no interview "
                   f"and those without a yes-or-no answer, anywhere from {_pct(w['lower'])} to {_pct(w['upper'])} of {pop} could hold this view (worst case).")
    else:
        first, *rest = worst
        hyp = f"{_pct(first['response_rate'])} of those approached given an interview, anywhere from {_pct(first['lower'])} to {_pct(first['upper'])} of {pop} could hold this view" + "".join(
            f"; at {_pct(x['response_rate'])}, from {_pct(x['lower'])} to {_pct(x['upper'])}" for x in rest)
        out.append("Unit nonresponse: no response rate was published, so how many people refused the interview is unknown and the worst case cannot be stated. "
                   f"Counting both those who gave no interview and those without a yes-or-no answer: had (hypothetically) {hyp} (worst case).")
    # the propensity-ratio bound at the same response rates as the worst case
    g2 = [a for a in ab if a["gamma"] == 2.0] or [a for a in ab if a["gamma"] == ab[0]["gamma"]]
    if g2:
        gamma = g2[0]["gamma"]
        distinct = [a for i, a in enumerate(g2) if all(not _same((a["lower"], a["upper"]), (b["lower"], b["upper"])) for b in g2[:i])]
        narrower = [a for a in g2 if not _same((a["lower"], a["upper"]), next((w["lower"], w["upper"]) for w in worst if w["response_rate"] == a["response_rate"]))]
        head = (f"If supporters were at most {gamma:g} times as likely (or as unlikely) as opponents to give an interview and a yes-or-no answer, "
                "the true share would lie between ")
        if not narrower:
            out.append(f"Assuming supporters were at most {gamma:g} times as likely (or as unlikely) as opponents to give an interview and a yes-or-no answer "
                       "narrows nothing here: the worst case above already holds.")
        elif len(distinct) == 1:
            at = (f"at the {_rate_text(r)} response rate" if r is not None
                  else "at a hypothetical " + " or ".join(_pct(a["response_rate"]) for a in g2) + " response rate alike")
            out.append(head + f"{_pct(distinct[0]['lower'])} and {_pct(distinct[0]['upper'])} ({at}).")
        else:
            out.append(head + "; ".join(f"{_pct(a['lower'])} and {_pct(a['upper'])} at a hypothetical {_pct(a['response_rate'])} response rate" for a in g2) + ".")
    # tipping point
    p = tl.complete_case
    if r is None:
        t10 = sens["scenarios"][0]
        if t10["tipping_share"] is not None and p > 0.5:
            out.append(f"At a (hypothetical) {_pct(t10['assumed_response_rate'])} response rate, the reported majority disappears if fewer than "
                       f"{_pct(t10['tipping_share'])} of those not counted (no interview or no yes-or-no answer) would say yes.")
    elif sens["tipping_share"] is not None and p > 0.5:
        out.append(f"The reported majority disappears if fewer than {_pct(sens['tipping_share'])} of those not counted (no interview or no yes-or-no answer) would say yes"
                   + (f", or if supporters were {sens['tipping_gamma']:.1f} times as willing to answer as opponents." if sens["tipping_gamma"] else "."))
    else:
        out.append(f"Tipping point: {sens['verdict']}.")
    if indirect is not None:
        gtxt = f"{100 * indirect['gap']:+.0f} points"
        if indirect["gap_ci"]:
            gtxt += f" ({int(100 * level)}% CI {100 * indirect['gap_ci'][0]:+.0f} to {100 * indirect['gap_ci'][1]:+.0f})"
        out.append(f"The {indirect['method']} estimate of {_pct(indirect['estimate'])} differs from the direct answer by {gtxt}.")
    return out


def audit_poll(poll: str | Path | dict[str, Any], level: float = 0.95, deff_range: tuple[float, float] = DEFAULT_DEFF_RANGE,
               gammas: tuple[float, ...] = (1.5, 2.0, 3.0)) -> AuditResult:
    """Audit a published poll (a poll file path or its parsed mapping); see the module docstring."""
    spec = load_poll(poll) if not isinstance(poll, dict) else poll
    where = str(spec.get("_path", "poll"))
    if "_path" not in spec:
        _validate(spec, where)
    n = int(spec["sample_size"])
    warnings: list[str] = []
    tl = _toplines(spec, where, warnings)
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    r, r_source, rates = _response_rate(spec, where, warnings)
    moe, se, se_no, deff, deff_source = _margin_of_error(spec, tl, n, z, where, deff_range)

    # Item nonresponse alone (among respondents), then unit and item nonresponse at each rate.
    mb_item = manski_bounds(tl.yes, tl.no, 1.0, se, se_no, n=n, level=level)
    scenarios = _rate_scenarios(r, r_source)
    worst: list[dict[str, Any]] = []
    for rate, src in scenarios:
        b = manski_bounds(tl.yes, tl.no, rate, se, se_no, n=n, level=level)
        worst.append({"response_rate": rate, "response_rate_source": src, "lower": b.lower, "upper": b.upper, "ci": list(b.ci) if b.ci else None})
    ab = tuple(
        {"gamma": g, "response_rate": rate, "response_rate_source": src, "lower": b.lower, "upper": b.upper, "ci": list(b.ci) if b.ci else None}
        for g in gammas for rate, src in scenarios
        for b in [propensity_ratio_bounds(tl.yes, tl.no, rate, g, se, se_no, n=n, level=level)]
    )
    main: dict[str, Any] = worst[0] if r is not None else {"lower": mb_item.lower, "upper": mb_item.upper, "ci": list(mb_item.ci) if mb_item.ci else None}
    bounds: dict[str, Any] = {
        "lower": main["lower"], "upper": main["upper"], "ci": main["ci"], "response_rate": r, "response_rate_source": r_source,
        "complete_case": mb_item.estimate, "scope": "unit and item nonresponse" if r is not None else "item nonresponse only",
        "item_nonresponse": {"lower": mb_item.lower, "upper": mb_item.upper, "ci": list(mb_item.ci) if mb_item.ci else None},
    }
    if r is None:
        bounds["assumed_response_rate_scenarios"] = [
            {"assumed_response_rate": w["response_rate"], "lower": w["lower"], "upper": w["upper"],
             "tipping_share": tipping_point(tl.yes, tl.no, w["response_rate"])["share"]} for w in worst]
    sens = _sensitivity(tl, scenarios)
    indirect = _indirect(spec, tl, se, z, (main["lower"], main["upper"]), where)
    sentences = _sentences(spec, tl, n, moe, deff, deff_source, deff_range, r, r_source, (mb_item.lower, mb_item.upper),
                           worst, ab, sens, indirect, level)

    poll_info = {k: spec.get(k) for k in ("pollster", "title", "fieldwork", "published", "mode", "population", "question", "question_original", "sample_size", "notes")}
    if rates is not None:
        poll_info["aapor_rates"] = dict(rates.rates)
    # the reported share's interval: the one rule (normal quantiles: the design df is not published)
    return AuditResult.from_estimate(
        tl.yes, se, scale="share", df=None, level=level, ci="t", n=n, method="poll-audit", label=tl.label,
        details={"hard_to_say": tl.hard_to_say, "refused": tl.refused},
        warnings=tuple(warnings), poll=poll_info, margin_of_error=moe, bounds=bounds, assumption_bounds=ab,
        sensitivity=sens, indirect=indirect, sentences=tuple(sentences),
    )


def curve_text(curve: list[dict[str, Any]], complete_case: float | None = None) -> str:
    """``0%→74%, 10%→75%, …`` with no point printed twice: a grid point that reads the same as
    the complete-case point (the respondents' own split) is left out, and that point is marked."""
    seen: set[str] = set()
    cc = None if complete_case is None else _pct(complete_case)
    def is_cc(c: dict[str, Any]) -> bool:
        return complete_case is not None and abs(c["assumed_share"] - complete_case) < 1e-12

    items = sorted(curve, key=lambda c: (_pct(c["assumed_share"]).zfill(5), not is_cc(c)))
    out = []
    for c in items:
        x = _pct(c["assumed_share"])
        if x in seen:
            continue
        seen.add(x)
        mark = " (like those who answered)" if cc is not None and x == cc else ""
        out.append(f"{x}{mark}→{_pct(c['estimate'])}")
    return ", ".join(out)
