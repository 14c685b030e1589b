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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats

from ._results import Result
from .errors import InputError
from .nonresponse.aapor import outcome_rates
from .nonresponse.bounds import manski_bounds, propensity_ratio_bounds
from .nonresponse.sensitivity import sensitivity_curve, tipping_point

__all__ = ["AuditResult", "load_poll", "audit_poll"]

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

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(poll=self.poll, margin_of_error=self.margin_of_error, bounds=self.bounds,
                   assumption_bounds=list(self.assumption_bounds), sensitivity=self.sensitivity,
                   indirect=self.indirect, sentences=list(self.sentences))
        from ._results import jsonable

        return jsonable(out)  # type: ignore[no-any-return]

    def summary(self) -> str:
        p = self.poll
        when = p.get("fieldwork") or p.get("published") or "date not published"
        head = f"{p.get('pollster', '')}: {p.get('title', '')} ({when})"
        return "\n".join([head, *(f"- {s}" for s in self.sentences)])

    def _repr_html_(self) -> str:
        import html

        items = "".join(f"<li>{html.escape(s)}</li>" for s in self.sentences)
        return f"<div><p><b>{html.escape(str(self.poll.get('pollster', '')))}</b> — {html.escape(str(self.poll.get('title', '')))}</p><ul>{items}</ul></div>"


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


def audit_poll(poll: str | Path | dict[str, Any], level: float = 0.95, deff_range: tuple[float, float] = DEFAULT_DEFF_RANGE,
               gammas: tuple[float, ...] = (1.5, 2.0, 3.0)) -> AuditResult:
    """Audit a published poll (a poll file path or its parsed mapping); see the module docstring."""
    spec = load_poll(poll) if not isinstance(poll, dict) else poll
    where = str(spec.get("_path", "poll"))
    if "_path" not in spec:
        _validate(spec, where)
    n = int(spec["sample_size"])
    sh = spec["shares"]
    y = float(sh["yes"]) / 100
    dk = float(sh.get("hard_to_say") or 0) / 100
    rf = float(sh.get("refused") or 0) / 100
    warnings: list[str] = []
    if _number(sh, "no", where) is None:
        # only the yes share was published: everyone else is counted as "not yes"
        no = max(0.0, 1 - y - dk - rf)
        warnings.append("the 'no' share was not published; every respondent not counted as yes, hard to say or refusing is treated as no")
    else:
        no = float(sh["no"]) / 100
    if y + no > 1:
        s = y + no
        y, no = y / s, no / s
    label = str(sh.get("yes_label", "yes"))
    z = float(stats.norm.ppf(1 - (1 - level) / 2))

    # response rate: published, or from published dispositions
    r = _number(spec, "response_rate", where)
    r_source = "published" if r is not None else None
    rates = None
    if spec.get("dispositions"):
        counts = {k: v for k, v in spec["dispositions"].items() if k.upper() in ("I", "P", "R", "NC", "O", "UH", "UO", "NE")}
        rates = outcome_rates(counts=counts, e=spec["dispositions"].get("e"))
        if r is None:
            r, r_source = rates.rates["RR3"], "AAPOR RR3 from published dispositions"
    if r is None:
        r_eff, r_source = 1.0, "not published"
        warnings.append("no response rate was published: bounds cover item nonresponse only and are too narrow")
    else:
        r_eff = r

    # honest margin of error
    deff = _number(spec, "design_effect", where)
    deff_source = "published"
    pm = _number(spec, "published_moe", where)
    if deff is None and pm is not None:
        # the pollster's own margin of error at 50% implies deff = (moe/z)^2 · n / 0.25
        deff = max(1.0, (pm / 100 / float(stats.norm.ppf(0.975))) ** 2 * n / 0.25)
        deff_source = f"implied by the published margin of error ±{pm:g} points at 50%"
    srs_se = math.sqrt(y * (1 - y) / n)
    moe: dict[str, Any]
    if deff is not None:
        moe = {"design_effect": deff, "design_effect_source": deff_source, "moe": z * srs_se * math.sqrt(deff),
               "moe_srs": z * srs_se}
        se = srs_se * math.sqrt(deff)
    else:
        lo_d, hi_d = deff_range
        moe = {"design_effect": list(deff_range), "design_effect_source": "not published; assumed range",
               "moe": [z * srs_se * math.sqrt(lo_d), z * srs_se * math.sqrt(hi_d)], "moe_srs": z * srs_se}
        se = srs_se * math.sqrt(hi_d)
    se_no = math.sqrt(no * (1 - no) / n) * (se / srs_se if srs_se > 0 else 1)

    mb = manski_bounds(y, no, r_eff, se, se_no, n=n, level=level)
    bounds: dict[str, Any] = {"lower": mb.lower, "upper": mb.upper, "ci": list(mb.ci) if mb.ci else None,
              "response_rate": r, "response_rate_source": r_source, "complete_case": mb.estimate}
    ab: tuple[dict[str, Any], ...] = tuple(
        {"gamma": g, "lower": b.lower, "upper": b.upper, "ci": list(b.ci) if b.ci else None}
        for g in gammas
        for b in [propensity_ratio_bounds(y, no, r_eff, g, se, se_no, n=n, level=level)]
    )
    sc = sensitivity_curve(y, no, r_eff)
    tp = tipping_point(y, no, r_eff)
    scenarios: list[dict[str, Any]] = []
    if r is None:
        for ra in ASSUMED_RESPONSE_RATES:
            b = manski_bounds(y, no, ra)
            t = tipping_point(y, no, ra)
            scenarios.append({"assumed_response_rate": ra, "lower": b.lower, "upper": b.upper, "tipping_share": t["share"]})
        bounds["assumed_response_rate_scenarios"] = scenarios
    sens = {"curve": [{"assumed_share": s, "estimate": t} for s, t in sc.curve], "tipping_share": tp["share"],
            "tipping_gamma": tp["gamma"], "verdict": tp["verdict"], "answered_share": sc.answered_share}

    indirect = None
    ind = spec.get("indirect")
    if ind:
        est = float(ind["estimate"]) / 100
        ise = _number(ind, "se", where)
        ise = ise / 100 if ise is not None else None
        gap = est - y
        gse = math.sqrt(ise**2 + se**2) if ise is not None else None
        indirect = {"method": ind.get("method", "indirect"), "estimate": est, "se": ise, "direct": y, "gap": gap,
                    "gap_se": gse, "gap_ci": [gap - z * gse, gap + z * gse] if gse is not None else None,
                    "within_worst_case_bounds": bool(mb.lower <= est <= mb.upper), "source": ind.get("estimate_source", ind.get("source"))}

    # plain sentences
    pop = spec.get("population", "adults")
    sentences = [
        f"{spec.get('pollster', 'The pollster')} reported {_pct(y)} {label}, {_pct(no)} against"
        + (f", {_pct(dk)} hard to say" if dk else "") + (f" and {_pct(rf)} refusing to answer" if rf else "")
        + f" (n = {n:,}).",
    ]
    if deff is not None:
        sentences.append(f"With a design effect of {deff:.2f} ({deff_source}), the margin of error on {_pct(y)} is ±{100 * moe['moe']:.1f} points (±{100 * moe['moe_srs']:.1f} if it were a simple random sample).")
    else:
        sentences.append(f"No design effect was published; with a design effect between {deff_range[0]:g} and {deff_range[1]:g} the margin of error on {_pct(y)} is ±{100 * moe['moe'][0]:.1f} to ±{100 * moe['moe'][1]:.1f} points, not the ±{100 * moe['moe_srs']:.1f} of a simple random sample.")
    if r is not None:
        sentences.append(f"At a {_pct(r, 1 if r < 0.1 else 0)} response rate, anywhere from {_pct(mb.lower)} to {_pct(mb.upper)} of {pop} could hold this view: only {_pct(sc.answered_share)} of the eligible population gave a yes-or-no answer.")
    else:
        first, *rest = scenarios
        hyp = f"{_pct(first['assumed_response_rate'])}, anywhere from {_pct(first['lower'])} to {_pct(first['upper'])} of {pop} could hold this view" + "".join(
            f"; at {_pct(x['assumed_response_rate'])}, from {_pct(x['lower'])} to {_pct(x['upper'])}" for x in rest)
        item = (f" Among respondents alone, those without a yes-or-no answer leave the share between {_pct(mb.lower)} and {_pct(mb.upper)}."
                if mb.upper - mb.lower > 0.005 else "")
        sentences.append(f"No response rate was published, so the worst case cannot be stated.{item} Had the response rate been (hypothetically) {hyp}.")
    g2 = next((a for a in ab if a["gamma"] == 2.0), ab[0] if ab else None)
    if g2 is not None and g2["upper"] - g2["lower"] > 0.005:
        sentences.append(f"If supporters were up to {g2['gamma']:g} times as likely (or as unlikely) to answer as opponents, the true share would lie between {_pct(g2['lower'])} and {_pct(g2['upper'])}.")
    if r is None:
        t10 = scenarios[0]
        if t10["tipping_share"] is not None and y / (y + no) > 0.5:
            sentences.append(f"At a (hypothetical) {_pct(t10['assumed_response_rate'])} response rate, the reported majority disappears if fewer than {_pct(t10['tipping_share'])} of those who did not answer would say yes.")
    elif tp["share"] is not None and y / (y + no) > 0.5:
        sentences.append(f"The reported majority disappears if fewer than {_pct(tp['share'])} of those who did not answer would say yes" + (f", or if supporters were {tp['gamma']:.1f} times as willing to answer as opponents." if tp["gamma"] else "."))
    else:
        sentences.append(f"Tipping point: {tp['verdict']}.")
    if indirect is not None:
        gtxt = f"{100 * indirect['gap']:+.0f} points"
        if indirect["gap_ci"]:
            gtxt += f" ({int(100 * level)}% CI {100 * indirect['gap_ci'][0]:+.0f} to {100 * indirect['gap_ci'][1]:+.0f})"
        sentences.append(f"The {indirect['method']} estimate of {_pct(indirect['estimate'])} differs from the direct answer by {gtxt}.")
    lo_ci = max(0.0, y - z * se)
    poll_info = {k: spec.get(k) for k in ("pollster", "title", "fieldwork", "published", "mode", "population", "question", "question_original", "sample_size", "notes")}
    if rates is not None:
        poll_info["aapor_rates"] = dict(rates.rates)
    return AuditResult(
        estimate=y, se=se, ci=(lo_ci, min(1.0, y + z * se)), n=n, method="poll-audit", level_ci=level, label=label,
        details={"is_share": True, "hard_to_say": dk, "refused": rf},
        warnings=tuple(warnings), poll=poll_info, margin_of_error=moe, bounds=bounds, assumption_bounds=ab,
        sensitivity=sens, indirect=indirect, sentences=tuple(sentences),
    )


