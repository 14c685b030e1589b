"""A survey series: many waves of one project, harmonised question by question, as one tracker.

A series file (TOML, format in ``docs/series-file.md``) lists the waves (file, fieldwork dates,
pollster, mode, weights or margins, a subsample) and, for every tracked question, a harmonisation
table: its answer categories once, and per wave the column and the codes or text labels that mean
each category, with the wording used (a split ballot names one wording per arm). ``[[derive]]``
composites (:mod:`sottovoce.derive`) are conditions over the harmonised categories and are
estimated in every wave that asked all their questions.

:func:`series` reads each file once, estimates every category share of every question per wave
(and per arm of a split ballot) with design-based standard errors (Taylor linearization on the
wave's own design, Lumley 2010; raking when margins are given, Deville & Särndal 1992), overall
and by subgroup, pools the waves into a trend per question (Jackman 2005, :mod:`sottovoce.dynamics`)
and writes ``results.json``, a tidy ``results.csv`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import json
import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._results import jsonable
from ._words import count_en, en_form
from .derive import Condition, DerivedVariable, derive_indicator, parse_derive
from .errors import InputError, SottovoceWarning

__all__ = ["series", "load_series", "SeriesSpec", "SeriesResults", "SERIES_FORMAT"]

SERIES_FORMAT = "sottovoce-series/1"
KINDS = ("substantive", "hard_to_say", "refused")
Text = dict[str, str]


@dataclass(frozen=True)
class WaveSpec:
    id: str
    file: Path
    start: str
    end: str
    label: Text = field(default_factory=dict)
    pollster: str = ""
    mode: str = ""
    weights: str | None = None
    margins: Path | None = None
    sheet: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    dataset: str | None = None  # a file of sottovoce.datasets (fresh clone) instead of a path
    extract: str | None = None  # a sottovoce.datasets extract used when ``file`` is not found


@dataclass(frozen=True)
class Category:
    id: str
    text: Text
    kind: str = "substantive"


@dataclass(frozen=True)
class WaveMap:
    """How one wave asked a question: the column, codes per category, the wording (or split arms)."""

    column: str
    codes: Mapping[str, tuple[Any, ...]]
    wording: str = "main"
    split: str | None = None
    arms: Mapping[str, str] = field(default_factory=dict)  # arm code -> wording id
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # numeric column: category -> [low, high]


@dataclass(frozen=True)
class SeriesQuestion:
    id: str
    text: Text
    categories: tuple[Category, ...]
    waves: Mapping[str, WaveMap]
    wordings: Mapping[str, Text] = field(default_factory=dict)
    track: str | None = None  # category pooled into the trend
    opposite: str | None = None


@dataclass(frozen=True)
class TrendDefaults:
    unit: str = "week"
    reference: str | None = None  # None: the pollster's main wording when there is one pollster
    sigma_cap: float = 0.02  # per unit, used when the likelihood of sigma is flat
    base: str = "all"


@dataclass(frozen=True)
class SeriesSpec:
    path: Path | None
    id: str
    title: Text
    language: str
    waves: tuple[WaveSpec, ...]
    questions: tuple[SeriesQuestion, ...]
    derived: tuple[DerivedVariable, ...] = ()
    subgroups: tuple[str, ...] = ()
    min_cell: int = 30
    trend: TrendDefaults = field(default_factory=TrendDefaults)
    notes: Mapping[str, Text] = field(default_factory=dict)  # id -> note shown under a question
    published: tuple[Mapping[str, Any], ...] = ()  # published figures to check against


# -- parsing ------------------------------------------------------------------------------------

_TOP = {"series", "waves", "questions", "derive", "report", "trend", "published"}


def _text(v: Any, where: str) -> Text:
    if isinstance(v, str):
        return {"en": v} if v else {}
    if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
        return dict(v)
    raise InputError(f"{where}: must be a string or a table of translations; write {{ en = \"...\", ru = \"...\" }}")


def _need(d: Mapping[str, Any], key: str, where: str, example: str) -> Any:
    if key not in d:
        raise InputError(f"{where}: missing key '{key}'; add {example}")
    return d[key]


def _keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for k in d:
        if k not in allowed:
            raise InputError(f"{where}.{k}: unknown key; allowed keys here: {', '.join(sorted(allowed))}")


def _codes(v: Any, where: str) -> tuple[Any, ...]:
    v = v if isinstance(v, list) else [v]
    if not all(isinstance(c, (int, float, str)) and not isinstance(c, bool) for c in v):
        raise InputError(f"{where}: {v!r} is not a list of codes or labels; write [1] or [\"Да\"]")
    return tuple(v)


def load_series(path: str | os.PathLike[str] | Mapping[str, Any], data_dir: str | os.PathLike[str] | None = None) -> SeriesSpec:
    """Parse and validate a series file; errors name the file, the key and the fix.

    Wave files are found in ``data_dir`` when given (else ``[series] data_dir``, relative to the
    series file, else the series file's folder)."""
    if isinstance(path, Mapping):
        return _parse(dict(path), None, Path.cwd(), data_dir)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: series file not found")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; save the series file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc}); fix the syntax at that line") from None
    return _parse(doc, p.resolve(), p.resolve().parent, data_dir)


def _parse(doc: dict[str, Any], path: Path | None, base: Path, data_dir: str | os.PathLike[str] | None = None) -> SeriesSpec:
    where = str(path or "series")
    _keys(doc, _TOP, where)
    s = _need(doc, "series", where, '[series] with id = "..." and title = "..."')
    _keys(s, {"id", "title", "language", "data_dir"}, f"{where}: series")
    files_at = Path(data_dir).resolve() if data_dir is not None else (base / str(s.get("data_dir", "."))).resolve()
    lang = s.get("language", "en")
    if lang not in ("en", "ru"):
        raise InputError(f"{where}: series.language: unknown language {lang!r}; use en or ru")
    waves = tuple(_wave(w, f"{where}: waves[{i}]", base, files_at) for i, w in enumerate(_need(doc, "waves", where, "[[waves]] tables")))
    wave_ids = [w.id for w in waves]
    if len(set(wave_ids)) != len(wave_ids):
        raise InputError(f"{where}: waves: duplicate wave ids {sorted({x for x in wave_ids if wave_ids.count(x) > 1})}; give each wave its own id")
    qs = tuple(_question(q, f"{where}: questions[{i}]", wave_ids) for i, q in enumerate(_need(doc, "questions", where, "[[questions]] tables")))
    qids = [q.id for q in qs]
    if len(set(qids)) != len(qids):
        raise InputError(f"{where}: questions: duplicate question ids; give each question its own id")
    derived = parse_derive(doc.get("derive", []), where, refs="question", taken=qids)
    by_id = {q.id: q for q in qs}
    for d in derived:
        for c in d.conditions():
            if c.kind == "question":
                if c.ref not in by_id:
                    raise InputError(f"{where}: derive (id '{d.id}'): question '{c.ref}' is not a tracked question; use one of {', '.join(qids)}")
                cats = {x.id for x in by_id[c.ref].categories}
                bad = [v for v in c.values if str(v) not in cats]
                if bad:
                    raise InputError(f"{where}: derive (id '{d.id}'): '{bad[0]}' is not a category of '{c.ref}'; use one of {', '.join(sorted(cats))}")
    r = doc.get("report", {})
    _keys(r, {"subgroups", "min_cell", "notes"}, f"{where}: report")
    subgroups = tuple(r.get("subgroups", []))
    for g in subgroups:
        if g not in by_id:
            raise InputError(f"{where}: report.subgroups: '{g}' is not a tracked question; subgroups are harmonised questions (add it under [[questions]])")
    min_cell = r.get("min_cell", 30)
    if not isinstance(min_cell, int) or isinstance(min_cell, bool) or min_cell < 1:
        raise InputError(f"{where}: report.min_cell: {min_cell!r} is not a positive whole number; write min_cell = 30")
    notes = {str(k): _text(v, f"{where}: report.notes.{k}") for k, v in r.get("notes", {}).items()}
    t = doc.get("trend", {})
    _keys(t, {"unit", "reference", "sigma_cap", "base"}, f"{where}: trend")
    unit = t.get("unit", "week")
    if unit not in ("day", "week"):
        raise InputError(f"{where}: trend.unit: unknown unit {unit!r}; use \"day\" or \"week\"")
    cap = t.get("sigma_cap", 0.02)
    if not isinstance(cap, (int, float)) or not 0 < cap <= 0.1:
        raise InputError(f"{where}: trend.sigma_cap: {cap!r} is not a share between 0 and 0.1; write sigma_cap = 0.02 (2 points per unit)")
    published = doc.get("published", [])
    if not isinstance(published, list):
        raise InputError(f"{where}: published: must be an array of tables; write [[published]] with wave, question, category, share, source")
    return SeriesSpec(path=path, id=str(_need(s, "id", f"{where}: series", 'id = "chronicles"')),
                      title=_text(_need(s, "title", f"{where}: series", 'title = "..."'), f"{where}: series.title"),
                      language=lang, waves=waves, questions=qs, derived=derived, subgroups=subgroups, min_cell=min_cell,
                      trend=TrendDefaults(unit=unit, reference=t.get("reference"), sigma_cap=float(cap), base=t.get("base", "all")),
                      notes=notes, published=tuple(published))


def _wave(w: Any, where: str, base: Path, files_at: Path) -> WaveSpec:
    if not isinstance(w, dict):
        raise InputError(f"{where}: must be a table; write [[waves]] then id = \"w1\", file = \"...\"")
    _keys(w, {"id", "file", "dataset", "extract", "start", "end", "label", "pollster", "mode", "weights", "margins", "sheet", "where", "source"}, where)
    if ("file" in w) == ("dataset" in w):
        raise InputError(f"{where}: give exactly one of file = \"path\" or dataset = \"name\" (a file of sottovoce.datasets)")
    for k in ("start", "end"):
        try:
            pd.Timestamp(str(_need(w, k, where, f'{k} = "2024-01-23"')))
        except ValueError:
            raise InputError(f"{where}.{k}: '{w[k]}' is not a date; write YYYY-MM-DD") from None
    margins = w.get("margins")
    return WaveSpec(
        id=str(_need(w, "id", where, 'id = "w12"')), file=(files_at / str(w["file"])).resolve() if "file" in w else Path(str(w["dataset"])),
        dataset=w.get("dataset"), extract=w.get("extract"), start=str(w["start"]), end=str(w["end"]), label=_text(w.get("label", ""), f"{where}.label"),
        pollster=str(w.get("pollster", "")), mode=str(w.get("mode", "")), weights=w.get("weights"),
        margins=(base / margins).resolve() if isinstance(margins, str) else None, sheet=w.get("sheet"),
        where=dict(w.get("where", {})), source=str(w.get("source", "")))


def _question(q: Any, where: str, wave_ids: list[str]) -> SeriesQuestion:
    if not isinstance(q, dict):
        raise InputError(f"{where}: must be a table; write [[questions]] then id = \"support\"")
    _keys(q, {"id", "text", "categories", "waves", "wordings", "track", "opposite"}, where)
    qid = str(_need(q, "id", where, 'id = "support"'))
    where = f"{where} (id '{qid}')"
    cats = []
    for j, c in enumerate(_need(q, "categories", where, 'categories = [{ id = "yes", en = "Support" }, ...]')):
        if not isinstance(c, dict) or "id" not in c:
            raise InputError(f"{where}.categories[{j}]: each category needs an id; write {{ id = \"yes\", en = \"Support\", ru = \"Поддерживаю\" }}")
        kind = c.get("kind", "substantive")
        if kind not in KINDS:
            raise InputError(f"{where}.categories[{j}].kind: unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        cats.append(Category(id=str(c["id"]), text={k: str(v) for k, v in c.items() if k not in ("id", "kind")}, kind=kind))
    cat_ids = [c.id for c in cats]
    maps: dict[str, WaveMap] = {}
    for wid, m in (q.get("waves") or {}).items():
        w = f"{where}.waves.{wid}"
        if wid not in wave_ids:
            raise InputError(f"{w}: '{wid}' is not a wave of this series; use one of {', '.join(wave_ids)}")
        _keys(m, {"column", "codes", "wording", "split", "arms", "ranges"}, w)
        ranges = m.get("ranges", {})
        codes = m.get("codes", {}) if ranges else _need(m, "codes", w, 'codes = { yes = [1], no = [2] }')
        for cid, r in ranges.items():
            if cid not in cat_ids or not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, (int, float)) for x in r)):
                raise InputError(f"{w}.ranges.{cid}: must be a category of '{qid}' = [low, high]; write {cid} = [18, 34]")
        for cid in codes:
            if cid not in cat_ids:
                raise InputError(f"{w}.codes.{cid}: not a category of '{qid}'; use one of {', '.join(cat_ids)}")
        if ("split" in m) != ("arms" in m):
            raise InputError(f"{w}: a split ballot needs both split = \"column\" and arms = {{ \"1\" = \"wording id\", ... }}")
        maps[wid] = WaveMap(column=str(_need(m, "column", w, 'column = "Q21"')),
                            codes={k: _codes(v, f"{w}.codes.{k}") for k, v in codes.items()}, wording=str(m.get("wording", "main")),
                            split=m.get("split"), arms={str(k): str(v) for k, v in (m.get("arms") or {}).items()},
                            ranges={k: (float(v[0]), float(v[1])) for k, v in ranges.items()})
    track = q.get("track")
    if track is not None and track not in cat_ids:
        raise InputError(f"{where}.track: '{track}' is not a category; use one of {', '.join(cat_ids)}")
    return SeriesQuestion(id=qid, text=_text(q.get("text", ""), f"{where}.text"), categories=tuple(cats), waves=maps,
                          wordings={k: _text(v, f"{where}.wordings.{k}") for k, v in (q.get("wordings") or {}).items()},
                          track=track, opposite=q.get("opposite"))


# -- estimation ---------------------------------------------------------------------------------


def _read_wave(w: WaveSpec) -> pd.DataFrame:
    from .io import read_table

    if w.dataset is not None:
        from . import datasets

        return read_table(datasets.path(w.dataset), sheet=w.sheet)
    if not w.file.exists():
        if w.extract is not None:
            from . import datasets

            warnings.warn(f"wave '{w.id}': {w.file.name} not found in {w.file.parent}; using the bundled extract {w.extract} "
                          "(the same values, only the columns this series reads)", SottovoceWarning, stacklevel=3)
            return read_table(datasets.path(w.extract))
        raise InputError(f"wave '{w.id}': data file {w.file} not found; fix waves.file or --data-dir (the folder of the wave files)")
    return read_table(w.file, sheet=w.sheet)


def _harmonise(df: pd.DataFrame, q: SeriesQuestion, m: WaveMap, wave: str) -> pd.Series:
    """The question's answers as category ids (``other`` for an answer the table does not map, NaN
    for no answer). Codes and text labels are matched as everywhere (:func:`sottovoce.io.category_mask`)."""
    from .io import category_mask, require_columns

    require_columns(df, [m.column], where=f"wave '{wave}' (question '{q.id}')")
    out = pd.Series(np.full(len(df), None, dtype=object), index=df.index)
    taken = np.zeros(len(df), dtype=bool)
    for cid, codes in m.codes.items():
        hit = category_mask(df, m.column, codes) & ~taken
        out[hit] = cid
        taken |= hit
    if m.ranges:
        num = pd.to_numeric(df[m.column], errors="coerce").to_numpy(dtype=float)
        for cid, (lo, hi) in m.ranges.items():
            hit = (num >= lo) & (num <= hi) & ~taken
            out[hit] = cid
            taken |= hit
    answered = df[m.column].notna().to_numpy()
    rest = answered & ~taken
    if rest.any():
        vals = sorted({str(v) for v in df[m.column][rest].unique()})[:8]
        k = int(rest.sum())
        warnings.warn(f"wave '{wave}', question '{q.id}': {count_en(k, 'answer')} in column '{m.column}' {en_form(k, 'matches', 'match')} no category "
                      f"({', '.join(vals)}); counted as 'other' — add their codes to the harmonisation table", SottovoceWarning, stacklevel=2)
        out[rest] = "other"
    return out


def _question_resolver(harm: Mapping[str, pd.Series], df: pd.DataFrame, wave: str) -> Any:
    from .derive import column_resolver

    by_column = column_resolver(df, where=f"wave '{wave}'")

    def resolve(c: Condition) -> tuple[np.ndarray, np.ndarray]:
        if c.kind == "column":
            return by_column(c)
        s = harm[c.ref]
        return s.isin([str(v) for v in c.values]).to_numpy(), s.notna().to_numpy()

    return resolve


def _order(result: dict[str, Any], cat_ids: list[str]) -> dict[str, Any]:
    """Categories in the series file's order (the estimator sorts them alphabetically)."""
    def key(c: Mapping[str, Any]) -> int:
        return cat_ids.index(str(c.get("code"))) if str(c.get("code")) in cat_ids else len(cat_ids)

    if result.get("categories"):
        result["categories"] = sorted(result["categories"], key=key)
    for g in result.get("groups") or []:
        _order(g, cat_ids)
    return result


def _estimate(svy: Any, col: str, kind: str, subgroups: list[str]) -> dict[str, Any]:
    """Overall and per-subgroup estimates (one Result; subgroups through ``estimate_by``).

    A subgroup question is not broken down by itself: within "sex = female" the share of women
    is 1 by definition, a table of 0s and 1s and a warning for every cell of every wave.
    """
    fit = (lambda by: svy.proportion(col, by=by)) if kind == "proportion" else (lambda by: svy.mean(col, by=by))
    overall = fit(None)
    groups = []
    for by in (s for s in subgroups if s != col):
        groups.extend(fit(by).groups)
    return dict(overall.with_(groups=tuple(groups)).to_dict())


def _wave_results(spec: SeriesSpec, w: WaveSpec, df: pd.DataFrame) -> dict[str, Any]:
    from .survey import Survey

    harm: dict[str, pd.Series] = {}
    for q in spec.questions:
        if w.id in q.waves:
            harm[q.id] = _harmonise(df, q, q.waves[w.id], w.id)
    cols = {f"__sv_h_{k}": v for k, v in harm.items()}
    resolve = _question_resolver(harm, df, w.id)
    composites: dict[str, str] = {}
    for d in spec.derived:
        if all(c.kind == "column" or c.ref in harm for c in d.conditions()):
            cols[f"__sv_d_{d.id}"] = derive_indicator(d, resolve, df.index, where=f"wave '{w.id}'")
            composites[d.id] = f"__sv_d_{d.id}"
    work = df.assign(**cols)
    work.attrs = dict(df.attrs)
    if w.weights is not None:
        from .io import require_columns

        require_columns(work, [w.weights], where=f"wave '{w.id}' (weights)")
    svy = Survey(work, weights=w.weights)
    if w.margins is not None:
        from .weighting import load_margins

        svy = svy.rake(load_margins(w.margins))
    mask = np.ones(len(work), dtype=bool)
    for col, val in w.where.items():
        from .io import category_mask

        mask &= category_mask(work, col, [val])
    if not mask.any():
        raise InputError(f"wave '{w.id}': no respondent has {dict(w.where)}; check waves.where")
    dom = svy.domain(mask) if not mask.all() else svy
    subs = [f"__sv_h_{g}" for g in spec.subgroups if g in harm]
    out: dict[str, Any] = {"n": int(mask.sum()), "questions": {}, "composites": {}}
    for q in spec.questions:
        if q.id not in harm:
            continue
        m = q.waves[w.id]
        cat_ids = [c.id for c in q.categories]
        entries = []
        if m.split is None:
            entries.append({"wording": m.wording, "arm": None, "result": _order(_estimate(dom, f"__sv_h_{q.id}", "proportion", subs), cat_ids)})
        else:
            from .io import category_mask

            for code, wording in m.arms.items():
                arm = mask & category_mask(work, m.split, [code])
                if not arm.any():
                    raise InputError(f"wave '{w.id}', question '{q.id}': no respondent in arm {m.split} = {code}; check arms")
                entries.append({"wording": wording, "arm": code,
                                "result": _order(_estimate(svy.domain(arm), f"__sv_h_{q.id}", "proportion", subs), cat_ids)})
        out["questions"][q.id] = {"column": m.column, "entries": entries}
    out["bases"] = _bases(spec, harm, mask)
    for did, col in composites.items():
        out["composites"][did] = {"entries": [{"wording": "main", "arm": None, "result": _estimate(dom, col, "mean", subs)}]}
        d = next(x for x in spec.derived if x.id == did)
        blank = sorted({c.ref for c in d.conditions() if c.kind == "question" and out["bases"].get(c.ref, {}).get("dk_as_blank")})
        if blank:  # its base is not the one of the other waves: flag it, in the table and for the trend
            answered = int((work[col].notna().to_numpy() & mask).sum())
            out["composites"][did]["not_comparable"] = {"questions": blank, "answered": answered, "n": int(mask.sum())}
    return out


# A question's base is said per wave when at least this share of the wave's respondents has a
# blank (no answer at all) in its column: the shares then rest on those with an answer.
BLANK_SHARE = 0.05


def _bases(spec: SeriesSpec, harm: Mapping[str, pd.Series], mask: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per question of the wave: respondents, those with an answer, and whether the file stores
    "hard to say" and refusals as blanks — the question has such categories, none of the wave's
    respondents has one of their codes, and many are blank. No code is guessed: the blanks stay
    out of the base, and the report says which base the wave's shares have."""
    out: dict[str, dict[str, Any]] = {}
    n = int(mask.sum())
    for q in spec.questions:
        if q.id not in harm or q.id in spec.subgroups or n == 0:
            continue
        h = harm[q.id][mask]
        answered = int(h.notna().sum())
        if n - answered < BLANK_SHARE * n:
            continue
        nonsub = {c.id for c in q.categories if c.kind != "substantive"}
        dk_as_blank = bool(nonsub) and not h.isin(list(nonsub)).any()
        out[q.id] = {"n": n, "answered": answered, "blank": n - answered, "dk_as_blank": dk_as_blank}
    return out


def _group_labels(spec: SeriesSpec) -> dict[str, dict[str, Text]]:
    """Subgroup column → category id → label, for the report."""
    out: dict[str, dict[str, Text]] = {}
    for g in spec.subgroups:
        q = next(x for x in spec.questions if x.id == g)
        out[f"__sv_h_{g}"] = {c.id: c.text for c in q.categories}
    return out


# -- the trend ----------------------------------------------------------------------------------


def _comparable(w: Mapping[str, Any], qid: str, composite: bool) -> bool:
    """False when the wave's file stores hard-to-say and refusals as blanks for this question (or
    for a question of this composite): its shares rest on another base than the other waves'."""
    if composite:
        return not (w["composites"].get(qid) or {}).get("not_comparable")
    return not (w.get("bases") or {}).get(qid, {}).get("dk_as_blank")


def _poll_rows(spec: SeriesSpec, waves: list[dict[str, Any]], qid: str, track: str, opposite: str | None, composite: bool) -> pd.DataFrame:
    rows = []
    for w in waves:
        block = (w["composites"] if composite else w["questions"]).get(qid)
        if not block or not _comparable(w, qid, composite):
            continue
        for e in block["entries"]:
            r = e["result"]
            if composite:
                yes, se_yes, no = r.get("estimate"), r.get("se"), None
            else:
                cats = {str(c.get("code")): c for c in r.get("categories") or []}
                c = cats.get(track)
                yes = c.get("estimate") if c else 0.0
                se_yes = c.get("se") if c else None
                no = cats.get(opposite, {}).get("estimate") if opposite else None
            if yes is None or se_yes is None:
                continue
            rows.append({"pollster": w["pollster"] or "series", "start": w["start"], "end": w["end"], "n": r.get("n"),
                         "yes": 100 * yes, "no": 100 * no if no is not None else np.nan, "hard_to_say": np.nan, "refused": np.nan,
                         "wording": "" if composite else e["wording"], "mode": w.get("mode", ""), "deff": 1.0, "source": w["id"],
                         "se_all": max(float(se_yes), 1e-6), "se_opinion": np.nan})
    return pd.DataFrame(rows)


def _base_note(waves: list[dict[str, Any]], qid: str, composite: bool) -> list[dict[str, str]]:
    """The waves left out of a trend because their base differs (hard-to-say stored as blanks)."""
    gone = [w["id"] for w in waves if ((w["composites"] if composite else w["questions"]).get(qid)) and not _comparable(w, qid, composite)]
    if not gone:
        return []
    shown = ", ".join(gone)
    return [{"en": f"left out of the trend: wave {shown} (its file stores hard-to-say and refusals as blanks, so its shares rest on "
                   "those with an answer and are not comparable with the other waves)",
             "ru": f"не вошли в тренд: волна {shown} (в её файле «затрудняюсь ответить» и отказы записаны пустыми ячейками, "
                   "поэтому доли посчитаны среди ответивших и не сопоставимы с другими волнами)"}]


def _trend(spec: SeriesSpec, polls: pd.DataFrame) -> dict[str, Any]:
    """Pool the waves (Jackman 2005) through :func:`sottovoce.dynamics.fit_trend`, whose defaults
    (:mod:`sottovoce.dynamics.identify`) are the ones ``sottovoce trend`` and a study's ``[trend]``
    use: with one pollster the reference house is its main wording, a wording asked in one wave
    only (a split-ballot arm) is left out, and a flat likelihood for sigma bounds it at
    ``trend.sigma_cap`` per unit, with a note, so the bands between waves stay readable."""
    from .dynamics import fit_trend
    from .dynamics.identify import identify

    if len(polls) == 0:
        return {"status": "skipped", "reason": "no waves"}
    ident = identify(polls, spec.trend.reference)
    if int(ident.keep.sum()) < 3:
        return {"status": "skipped", "reason": "fewer than three waves", "notes": list(ident.notes)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_trend(polls, unit=spec.trend.unit, reference=spec.trend.reference, base=spec.trend.base,
                        sigma_cap=spec.trend.sigma_cap, test_events=False)
    d = res.to_dict()
    trend = d.get("trend") or []
    notes = list(d.get("trend_notes") or [])
    said = {n["en"] for n in notes}
    return {"status": "done", "reference": d.get("reference"), "unit": spec.trend.unit, "sigma_fixed": d.get("sigma_cap") and d.get("sigma"),
            "flat_sigma": bool(d.get("flat_sigma")), "notes": notes,
            "warnings": [w for w in res.warnings if w not in said] + [str(w.message) for w in caught if str(w.message) not in said][:3],
            "latest": {"estimate": d.get("estimate"), "ci": d.get("ci"), "date": trend[-1]["date"] if trend else None},
            "band": [{"date": t["date"], "share": t["share"], "low": t["low"], "high": t["high"]} for t in trend],
            "houses": d.get("house_effects") or d.get("houses")}


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesResults:
    """The series payload (``results.json``): waves, per-question per-wave estimates, trends."""

    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row per wave × question × wording × category × group (as ``results.csv``)."""
        from .survey_series_report import tidy_rows

        return tidy_rows(self.data)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows())

    def share(self, wave: str, question: str, category: str | None = None, wording: str | None = None,
              group: str = "", level: str = "") -> float | None:
        """One estimate from the tidy rows (``category=None`` for a composite)."""
        for r in self.rows():
            if (r["wave"], r["question"], r["group"], r["level"]) == (wave, question, group, level) \
                    and (category is None or r["category"] == category) and (wording is None or r["wording"] == wording):
                return r["estimate"]
        raise KeyError((wave, question, category, wording, group, level))

    def published_check(self) -> list[dict[str, Any]]:
        """Each ``[[published]]`` figure beside this series' estimate (percent) and whether it is
        reproduced to rounding, as the report's check table shows it."""
        from .survey_series_report import published_check

        return published_check(self.data)

    def report_html(self, lang: str | None = None) -> str:
        from .survey_series_report import render_series

        return render_series(self.data, lang)

    def save(self, out_dir: str | os.PathLike[str], lang: str | None = None) -> Path:
        from .survey_series_report import write_series

        return write_series(self.data, out_dir, lang)

    def summary(self, lang: str | None = None) -> str:
        from .survey_series_report import text_tables

        return text_tables(self.data, lang)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.frame().to_html(index=False)


def series(spec_or_path: SeriesSpec | str | os.PathLike[str] | Mapping[str, Any], out_dir: str | os.PathLike[str] | None = None,
           lang: str | None = None, *, data_dir: str | os.PathLike[str] | None = None) -> SeriesResults:
    """Estimate every tracked question and composite in every wave, pool the trends, and (with
    ``out_dir``) write ``results.json``, ``results.csv`` and ``report.html``.

    ``data_dir``: the folder of the wave files (overrides the series file's ``data_dir``)."""
    spec = spec_or_path if isinstance(spec_or_path, SeriesSpec) else load_series(spec_or_path, data_dir)
    lang = lang or spec.language
    if lang not in ("en", "ru"):
        raise InputError(f"unknown report language '{lang}'; use en or ru")
    waves: list[dict[str, Any]] = []
    for w in spec.waves:
        df = _read_wave(w)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = _wave_results(spec, w, df)
        notes = list(dict.fromkeys(_tidy_warning(str(c.message), w.id) for c in caught))
        for note in notes:
            warnings.warn(note, SottovoceWarning, stacklevel=2)
        res["warnings"] = notes
        waves.append({"id": w.id, "label": w.label, "start": w.start, "end": w.end, "pollster": w.pollster, "mode": w.mode,
                      "file": w.dataset or w.file.name, "weights": w.weights, "margins": w.margins.name if w.margins else None,
                      "where": dict(w.where), "source": w.source, "n_file": int(len(df)), **res})
    questions = []
    for q in spec.questions:
        entry: dict[str, Any] = {
            "id": q.id, "text": q.text, "categories": [{"id": c.id, "text": c.text, "kind": c.kind} for c in q.categories],
            "wordings": {k: dict(v) for k, v in q.wordings.items()}, "track": q.track, "subgroup": q.id in spec.subgroups,
            "harmonisation": {wid: {"column": m.column, "codes": {k: list(v) for k, v in m.codes.items()}, "wording": m.wording,
                                    "split": m.split, "arms": dict(m.arms)} for wid, m in q.waves.items()},
            "note": spec.notes.get(q.id, {}),
        }
        if q.track is not None and q.id not in spec.subgroups:
            counts: dict[str, int] = {}
            for m in q.waves.values():
                counts[m.wording] = counts.get(m.wording, 0) + 1
            main = max(counts, key=lambda k: counts[k]) if counts else "main"  # the wording most waves used
            entry["main_wording"] = main
            entry["trend"] = _with_notes(_safe_trend(spec, _poll_rows(spec, waves, q.id, q.track, q.opposite, False)),
                                         _base_note(waves, q.id, False))
        questions.append(entry)
    composites = []
    for d in spec.derived:
        composites.append({**d.to_dict(), "note": spec.notes.get(d.id, {}),
                           "trend": _with_notes(_safe_trend(spec, _poll_rows(spec, waves, d.id, "", None, True)), _base_note(waves, d.id, True))})
    data = jsonable({
        "format": SERIES_FORMAT, "series": {"id": spec.id, "title": spec.title, "file": spec.path.name if spec.path else None},
        "language": lang, "min_cell": spec.min_cell, "subgroups": list(spec.subgroups), "group_labels": _group_labels(spec),
        "waves": waves, "questions": questions, "composites": composites, "published": [dict(p) for p in spec.published],
    })
    out = SeriesResults(data)
    if out_dir is not None:
        out.save(out_dir, lang)
    return out


def _tidy_warning(text: str, wave: str) -> str:
    """An estimator's warning in the series' own names (harmonised columns are internal)."""
    text = text.replace("__sv_h_", "").replace("__sv_d_", "")
    return text if text.startswith("wave ") else f"wave '{wave}': {text}"


def _with_notes(trend: dict[str, Any], notes: list[dict[str, str]]) -> dict[str, Any]:
    if notes:
        trend["notes"] = [*notes, *(trend.get("notes") or [])]
    return trend


def _safe_trend(spec: SeriesSpec, polls: pd.DataFrame) -> dict[str, Any]:
    from .errors import SottovoceError

    try:
        return _trend(spec, polls)
    except SottovoceError as exc:
        return {"status": "failed", "message": str(exc)}


def load_series_results(path: str | Path) -> SeriesResults:
    p = Path(path)
    data = json.loads(p.read_text(encoding="utf-8"))
    if data.get("format") != SERIES_FORMAT:
        raise InputError(f"{p}: not a sottovoce series results.json")
    return SeriesResults(data)

