"""The critical analysis of a cited poll corpus: pooled trend, wordings, events, disagreements, bounds.

Reads the corpus (``examples/polls/war-support.csv``; format in ``examples/polls/README.md``), its
wordings table and a dated events file, and returns one JSON-able payload that the corpus report
(:mod:`sottovoce.report.corpus`) renders in English and Russian:

* **trend**: the pooled share (Jackman 2005; :func:`sottovoce.dynamics.fit_trend`) with a house
  effect per pollster × wording, and the smoothed share in the middle of every month;
* **wordings**: each pollster × wording's question text, the answer options it offers, what it
  published (its range of "support" per year) and its house effect — how the question asked
  shapes the answer;
* **events**: a level-shift test at each event (Box & Tiao 1975 intervention, Wald test, Holm
  1979 adjustment over the events), and each house's own published change across the event
  (its last poll before against its first after, within ``window`` days);
* **agreement**: every pair of houses, what they disagree by after the common trend;
* **audit**: each pollster's latest poll under worst-case nonresponse bounds (Manski 2003):
  item nonresponse only (the published non-answers could be either side), and unit nonresponse
  at the response rate the pollster published (``response_rate`` column), or at hypothetical
  rates when it published none (as ``sottovoce audit`` does).

Everything is computed from the corpus as it is: any number of rows, pollsters and wordings.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from ._results import jsonable
from .errors import InputError

__all__ = ["read_events", "analyze_corpus", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = 120  # days either side of an event within which a house's polls are compared
_LANGS = ("en", "ru")


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Events from a TOML file of ``[[event]]`` tables: ``date``, ``en``, ``ru`` (labels), ``source``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: events file not found")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid UTF-8 TOML ({exc}); fix the syntax") from None
    items = doc.get("event")
    if not isinstance(items, list) or not items:
        raise InputError(f"{path}: no [[event]] tables; write each event as [[event]] with date = \"YYYY-MM-DD\" and en = \"label\"")
    out = []
    for i, e in enumerate(items, start=1):
        where = f"{path} [[event]] {i}"
        unknown = set(e) - {"date", "en", "ru", "source"}
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: date, en, ru, source")
        raw = e.get("date")
        try:
            day = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise InputError(f"{where}: date {raw!r} is not a date; write date = \"YYYY-MM-DD\"") from None
        en = str(e.get("en", "")).strip()
        if not en:
            raise InputError(f"{where}: the English label 'en' is missing; write en = \"Partial mobilisation\"")
        out.append({"date": day.isoformat(), "label": {"en": en, "ru": str(e.get("ru", "")).strip() or en},
                    "source": str(e.get("source", ""))})
    return sorted(out, key=lambda e: e["date"])


def _events_from(events: str | Path | Sequence[Any] | Mapping[str, str] | None) -> list[dict[str, Any]]:
    """Events from a TOML file, dicts as :func:`read_events` returns them, ``{date: label}`` or
    ``"DATE=LABEL"`` strings (one label for both languages)."""
    if events is None:
        return []
    if isinstance(events, (str, Path)):
        return read_events(events)
    items: list[Any] = list(events.items()) if isinstance(events, Mapping) else list(events)
    if items and all(isinstance(e, Mapping) and isinstance(e.get("label"), Mapping) for e in items):
        read: list[dict[str, Any]] = []
        for e in items:
            label = e["label"]
            read.append({"date": str(pd.Timestamp(e["date"]).date()), "source": str(e.get("source", "")),
                         "label": {k: str(label.get(k) or label.get("en", "")) for k in _LANGS}})
        return sorted(read, key=lambda e: e["date"])
    from .dynamics.events import parse_events

    return [{"date": str(e.date.date()), "label": {k: e.label for k in _LANGS}, "source": ""} for e in parse_events(items)]


def analyze_corpus(
    corpus: str | Path,
    *,
    wordings: str | Path | None = None,
    events: str | Path | Sequence[Any] | Mapping[str, str] | None = None,
    unit: str = "day",
    base: str = "all",
    level: float = 0.95,
    window: int = DEFAULT_WINDOW,
    today: date | None = None,
) -> tuple[dict[str, Any], Any]:
    """Analyse a cited poll corpus; returns ``(payload, trend)``: the JSON-able results and the
    fitted :class:`~sottovoce.dynamics.TrendResult` (for its chart).

    The corpus must pass :func:`sottovoce.check_corpus` (otherwise one ``InputError`` names the
    first problems). Events outside the polls' dates, or whose shift the polls cannot separate
    from the house effects, are reported as not tested rather than stopping the analysis.
    """
    from .dynamics import fit_trend
    from .dynamics.corpus import read_wordings, validate_corpus
    from .validate import check_int, check_level

    check_level(level)
    window = int(check_int(window, "window", minimum=1))  # type: ignore[arg-type]
    corpus = Path(corpus)
    wpath = Path(wordings) if wordings is not None else corpus.with_name("wordings.csv")
    polls = validate_corpus(corpus, wpath, today=today)
    wdf = read_wordings(wpath)
    evs = _events_from(events)
    trend = fit_trend(polls, unit=unit, base=base, level=level, events={e["date"]: e["label"]["en"] for e in evs},
                      event_errors="report")
    payload: dict[str, Any] = {
        "kind": "corpus-report",
        "corpus": _corpus_summary(corpus, trend.polls),
        "level": level,
        "window": window,
        "trend": trend.to_dict(),
        "monthly": _monthly(trend.trend),
        "wordings": _wordings(trend, wdf),
        "features": [],
        "events": _events(evs, trend, window, level),
        "agreement": _records(trend.house_differences()),
        "audit": _audit(trend.polls, level),
    }
    payload["features"] = _features(trend, payload["wordings"])
    try:
        from importlib.metadata import version

        payload["version"] = version("sottovoce")
    except Exception:  # pragma: no cover - not installed as a distribution
        payload["version"] = ""
    return jsonable(payload), trend


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return jsonable(out.to_dict(orient="records"))  # type: ignore[no-any-return]


def _corpus_summary(path: Path, polls: pd.DataFrame) -> dict[str, Any]:
    counts = polls.groupby("pollster").size().sort_values(ascending=False)
    years = polls["start"].dt.year
    per_year = polls.assign(year=years).groupby(["pollster", "year"]).size()
    return {
        "file": path.name, "n_polls": len(polls), "n_pollsters": int(polls["pollster"].nunique()),
        "n_wordings": int(polls["wording"].nunique()), "pollsters": {str(k): int(v) for k, v in counts.items()},
        "first": str(polls["start"].min().date()), "last": str(polls["end"].max().date()),
        "per_year": [{"pollster": str(p), "year": int(y), "polls": int(n)} for (p, y), n in per_year.items()],
    }


def _monthly(trend: pd.DataFrame) -> list[dict[str, Any]]:
    """The smoothed share on the 15th of every month the grid covers (the first day after it with a
    week grid), with its band."""
    t = trend.set_index("date")
    months = pd.period_range(t.index.min(), t.index.max(), freq="M")
    out = []
    for m in months:
        mid = pd.Timestamp(m.year, m.month, 15)
        k = int(t.index.searchsorted(mid))
        if k >= len(t):
            k = len(t) - 1
        row = t.iloc[k]
        out.append({"month": str(m), "date": str(t.index[k].date()), "share": float(row["share"]), "se": float(row["se"]),
                    "low": float(row["low"]), "high": float(row["high"]), "out_of_range": bool(row["out_of_range"])})
    return out


def _wordings(trend: Any, wdf: pd.DataFrame) -> list[dict[str, Any]]:
    """Per house: the wording, its options, what it published per year and its house effect."""
    polls = trend.polls
    wd = wdf.set_index("wording_id")
    out = []
    for _, h in trend.houses.iterrows():
        mine = polls[polls["house"] == h["house"]]
        w = wd.loc[h["wording"]] if h["wording"] in wd.index else None
        years = []
        for y, g in mine.groupby(mine["start"].dt.year):
            years.append({"year": int(y), "polls": len(g), "min": float(g["yes"].min()), "max": float(g["yes"].max())})
        nonanswer = mine[["hard_to_say", "refused"]].sum(axis=1, min_count=1)
        if "hard_to_say_or_refused" in mine.columns:
            nonanswer = nonanswer.fillna(pd.to_numeric(mine["hard_to_say_or_refused"], errors="coerce"))
        out.append({
            "house": h["house"], "pollster": h["pollster"], "wording": h["wording"], "polls": int(h["polls"]),
            "modes": sorted(set(mine["mode"].astype(str)) - {""}),
            "text_original": "" if w is None else str(w["text_original"]), "text_en": "" if w is None else str(w["text_en"]),
            "options": [] if w is None else [o.strip() for o in str(w["options"]).split(";") if o.strip()],
            "hard_to_say_offered": "unknown" if w is None else str(w["hard_to_say_offered"]),
            "refused_offered": "unknown" if w is None else str(w["refused_offered"]),
            "mean_yes": float(mine["yes"].mean()), "mean_nonanswer": float(nonanswer.mean()) if nonanswer.notna().any() else None,
            "years": years, "effect": float(h["effect"]), "se": float(h["se"]), "low": float(h["low"]), "high": float(h["high"]),
            "reference": bool(h["reference"]),
        })
    return out


FEATURES = ("refused_offered", "hard_to_say_offered", "mode")


def _features(trend: Any, wordings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each feature of the question (is "don't want to answer" / "hard to say" offered; the
    mode), the mean house effect of each group of houses minus that of every other group, with its
    interval from the effects' joint covariance. Descriptive: the groups differ in more than the
    feature (pollster, sample, period), which the report says."""
    out = []
    for feat in FEATURES:
        groups: dict[str, list[str]] = {}
        for w in wordings:
            value = (w["modes"][0] if len(w["modes"]) == 1 else "mixed") if feat == "mode" else w[feat]
            groups.setdefault(str(value), []).append(w["house"])
        # "offered" first, so a contrast reads "houses offering it minus the others"
        values = sorted(groups, key=lambda v: ({"yes": 0, "no": 1, "unknown": 2}.get(v, 0), v))
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                weights = {h: 1 / len(groups[a]) for h in groups[a]} | {h: -1 / len(groups[b]) for h in groups[b]}
                out.append({"feature": feat, "group_a": a, "group_b": b, "houses_a": groups[a], "houses_b": groups[b],
                            **trend.house_contrast(weights)})
    return out


def _events(evs: list[dict[str, Any]], trend: Any, window: int, level: float) -> list[dict[str, Any]]:
    """Each event: its level-shift test and each house's own published change across it."""
    from scipy import special

    from .dynamics.bands import difference_interval

    z = float(special.ndtri(0.5 + level / 2))
    tests = {t["date"]: t for t in trend.tests}
    polls = trend.polls.sort_values("date")
    out = []
    for e in evs:
        day = pd.Timestamp(e["date"])
        changes = []
        for house, g in polls.groupby("house", sort=True):
            before = g[(g["date"] < day) & (g["date"] >= day - pd.Timedelta(days=window))]
            after = g[(g["date"] >= day) & (g["date"] <= day + pd.Timedelta(days=window))]
            if before.empty or after.empty:
                continue
            b, a = before.iloc[-1], after.iloc[0]
            diff = float(a["y"] - b["y"])
            se = math.sqrt(float(a["se"]) ** 2 + float(b["se"]) ** 2)  # independent samples
            lo, hi = difference_interval(diff, se, z)
            changes.append({"house": str(house), "before": str(b["date"].date()), "after": str(a["date"].date()),
                            "y_before": float(b["y"]), "y_after": float(a["y"]), "change": diff, "se": se,
                            "low": float(lo), "high": float(hi)})
        out.append({**e, "test": tests.get(e["date"], {"failed": "not tested"}), "changes": changes})
    return out


def _audit(polls: pd.DataFrame, level: float) -> list[dict[str, Any]]:
    """Each pollster's latest poll under worst-case bounds (Manski 2003; ``sottovoce audit``'s rules)."""
    from .audit import ASSUMED_RESPONSE_RATES
    from .nonresponse.bounds import manski_bounds

    out = []
    for pollster, g in polls.sort_values("date").groupby("pollster", sort=True):
        last = g.iloc[-1]
        yes = float(last["yes"]) / 100
        no = float(last["no"]) / 100 if pd.notna(last["no"]) else None
        row: dict[str, Any] = {"pollster": str(pollster), "poll": str(last.get("id", "")), "date": str(last["date"].date()),
                               "n": int(last["n"]), "yes": yes, "no": no}
        if no is None:
            row["failed"] = "no 'do not support' share published: the bounds need it"
            row["reason"] = "no_no_share"
            out.append(row)
            continue
        se_yes = float(last["se"])
        se_no = math.sqrt(float(last["deff"]) * no * (1 - no) / float(last["n"]))
        item = manski_bounds(yes, no, 1.0, se_yes, se_no, n=int(last["n"]), level=level)
        row["item"] = {"lower": item.lower, "upper": item.upper, "ci": list(item.ci) if item.ci else None}
        rates = pd.to_numeric(g.get("response_rate", pd.Series(dtype=float)), errors="coerce").dropna()
        published = [(float(rates.iloc[-1]) / 100, "published")] if len(rates) else []
        row["response_rate_published"] = bool(published)
        scen = published or [(r, "hypothetical") for r in ASSUMED_RESPONSE_RATES]
        row["unit"] = []
        for rate, src in scen:
            b = manski_bounds(yes, no, rate, se_yes, se_no, n=int(last["n"]), level=level)
            row["unit"].append({"response_rate": rate, "source": src, "lower": b.lower, "upper": b.upper,
                                "ci": list(b.ci) if b.ci else None})
        out.append(row)
    return out

