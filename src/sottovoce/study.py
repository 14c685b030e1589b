"""The study file: one TOML file that describes a survey for analysis, fielding and the demo.

The format is specified in ``docs/study-file.md``. :func:`load_study` parses and validates it and
returns a :class:`Study` with typed question objects. Every error names the file, the key and the
fix, because a study file is written by hand and its mistakes are usually typos. Checks that need
the data (does a column exist? do the margins name columns the data have?) are in
:func:`check_against_data`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .derive import DerivedVariable, parse_derive
from .errors import InputError
from .questionnaire_spec import (
    CHOICE_KEYS,
    COMMON_KEYS,
    DECLINABLE,
    DECLINE_KEYS,
    choice_question,
    design_keys,
    parse_questionnaire,
)

__all__ = [
    "Study",
    "DirectQuestion",
    "ListQuestion",
    "DoubleListQuestion",
    "RRQuestion",
    "CrosswiseQuestion",
    "ChoiceQuestion",
    "NumericQuestion",
    "Question",
    "TrendSpec",
    "TruthSpec",
    "load_study",
    "check_against_data",
    "LANGUAGES",
]

LANGUAGES = ("en", "ru")
RR_DESIGNS = ("warner", "forced", "unrelated", "mirrored", "disguised")
LIST_METHODS = ("dim", "lm", "nls", "ml", "types")
LIST_MODELS = ("auto", "binomial", "betabinomial", "types")  # sottovoce.listexp.LIST_MODELS
CI_METHODS = ("wilson", "logit", "beta", "wald")  # as sottovoce.intervals.CI_METHODS (not imported: scipy)

Text = dict[str, str]  # language -> text


@dataclass(frozen=True)
class Option:
    """One answer option of a direct question: its code and its label in each language."""

    code: Any
    text: Text = field(default_factory=dict)


@dataclass(frozen=True)
class _QuestionBase:
    id: str
    measures: str | None = None
    # questionnaire design (parsed in sottovoce.questionnaire_spec): when the question is asked,
    # which split arm picks its wording, and the code of "prefer not to say"
    ask_if: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    wording_by: str | None = None
    wordings: tuple[Text, ...] = ()
    decline: Any = None

    @property
    def type(self) -> str:  # overridden as a class attribute by each subclass
        raise NotImplementedError

    def columns(self) -> list[str]:
        """The data columns this question reads."""
        raise NotImplementedError


@dataclass(frozen=True)
class DirectQuestion(_QuestionBase):
    """Asked straight out; ``yes`` lists the codes counted as the sensitive answer."""

    column: str = ""
    yes: tuple[Any, ...] = ()
    text: Text = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    hard_to_say: tuple[Any, ...] = ()
    refused: tuple[Any, ...] = ()
    ci: str = "wilson"  # interval of the share: wilson, logit, beta (Korn–Graubard) or wald
    type = "direct"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.column]


@dataclass(frozen=True)
class ListQuestion(_QuestionBase):
    """A list experiment (item count technique; Imai 2011, Blair & Imai 2012)."""

    count: str = ""
    treat: str = ""
    items: int = 0
    method: str = "dim"
    covariates: str | None = None
    list_model: str = "auto"
    control_items: Mapping[str, list[str]] = field(default_factory=dict)
    sensitive_item: Text = field(default_factory=dict)
    lead: Text = field(default_factory=dict)
    placebo: Text = field(default_factory=dict)
    type = "list"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.count, self.treat] + _formula_terms(self.covariates)


@dataclass(frozen=True)
class DoubleListQuestion(_QuestionBase):
    """A double list experiment (Droitcour et al. 1991; Glynn 2013)."""

    count_a: str = ""
    count_b: str = ""
    treat: str = ""
    items_a: int = 0
    items_b: int = 0
    control_items_a: Mapping[str, list[str]] = field(default_factory=dict)
    control_items_b: Mapping[str, list[str]] = field(default_factory=dict)
    sensitive_item: Text = field(default_factory=dict)
    type = "double_list"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.count_a, self.count_b, self.treat]


@dataclass(frozen=True)
class RRQuestion(_QuestionBase):
    """Randomized response (Warner 1965; Boruch 1971; Greenberg et al. 1969; Blair, Imai & Zhou 2015)."""

    design: str = "forced"
    response: str = ""
    p: float | None = None
    p1: float | None = None
    p0: float | None = None
    q: float | None = None
    device: str | None = None
    covariates: str | None = None
    text: Text = field(default_factory=dict)
    instructions: Text = field(default_factory=dict)
    truncate: bool = False  # report an estimate far outside [0, 1] truncated (with a warning) instead of failing
    type = "rr"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.response] + _formula_terms(self.covariates)


@dataclass(frozen=True)
class CrosswiseQuestion(_QuestionBase):
    """The crosswise model (Yu, Tian & Tang 2008; Jann, Jerke & Krumpal 2012)."""

    response: str = ""
    q: float = 0.0
    text: Text = field(default_factory=dict)
    innocuous: Text = field(default_factory=dict)
    instructions: Text = field(default_factory=dict)
    truncate: bool = False
    type = "crosswise"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.response]


@dataclass(frozen=True)
class ChoiceQuestion(_QuestionBase):
    """A non-sensitive question (``choice``, ``demographic``): one code per respondent, or with
    ``multiple`` one 0/1 column ``<column>_<code>`` per option. Usable as a subgroup and a margin."""

    column: str = ""
    text: Text = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    multiple: bool = False
    demographic: bool = False
    type = "choice"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        if self.multiple:
            return [f"{self.column}_{o.code}" for o in self.options]
        return [self.column]


@dataclass(frozen=True)
class NumericQuestion(_QuestionBase):
    """A non-sensitive whole number between ``min`` and ``max`` (age, household size)."""

    column: str = ""
    text: Text = field(default_factory=dict)
    min: int = 0
    max: int = 0
    type = "numeric"  # type: ignore[assignment]

    def columns(self) -> list[str]:
        return [self.column]


Question = (DirectQuestion | ListQuestion | DoubleListQuestion | RRQuestion | CrosswiseQuestion
            | ChoiceQuestion | NumericQuestion)


@dataclass(frozen=True)
class DataSpec:
    path: Path
    weights: str | None = None
    strata: str | None = None
    psu: str | None = None


@dataclass(frozen=True)
class DispositionsSpec:
    path: Path
    column: str = "disposition"
    e: float | None = None


@dataclass(frozen=True)
class WeightingSpec:
    margins: Path | Mapping[str, Mapping[str, float]] | None = None
    trim: float | None = None
    alternative_margins: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSpec:
    subgroups: tuple[str, ...] = ()
    min_cell: int = 30
    language: str = "en"
    labels: Mapping[str, Text] = field(default_factory=dict)  # "column" or "column=category" -> text


@dataclass(frozen=True)
class TrendSpec:
    """The ``[trend]`` table: published polls and microdata waves pooled into one trend
    (Jackman 2005; see :func:`sottovoce.dynamics.fit_trend`)."""

    polls: tuple[Path, ...]
    reference: str | None = None  # None: one pollster's main wording, or sum to zero with several (dynamics.identify)
    sum_to_zero: bool = False
    events: Mapping[str, str] = field(default_factory=dict)  # ISO date -> label
    unit: str = "day"
    base: str = "all"


@dataclass(frozen=True)
class TruthSpec:
    """``[study.truth]`` of a simulated study: the planted population value, which question it is
    about and why the estimates may differ from it (shown in the report next to the finding)."""

    share: float
    question: str | None = None
    explanation: Text = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """A parsed, validated study file. Paths are absolute (resolved against the file's folder)."""

    path: Path | None
    id: str
    title: Text
    population: Text = field(default_factory=dict)
    fieldwork: tuple[str, ...] = ()
    language: str = "en"
    simulated: bool = False
    data: DataSpec | None = None
    dispositions: DispositionsSpec | None = None
    weighting: WeightingSpec = field(default_factory=WeightingSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    questions: tuple[Question, ...] = ()
    sha256: str | None = None
    trend: TrendSpec | None = None
    truth: TruthSpec | None = None
    design: Any = None  # sottovoce.questionnaire_spec.QuestionnaireSpec: intro, consent, splits, order
    derived: tuple[DerivedVariable, ...] = ()  # [[derive]]: composite variables (sottovoce.derive)

    def question(self, qid: str) -> Question:
        """The question with this id (``KeyError`` if none)."""
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def text(self, value: Text, lang: str) -> str:
        """A translated text in ``lang`` (falling back to English, then to any language)."""
        return _pick(value, lang)


# -- parsing ------------------------------------------------------------------------------------

_TOP = {"study", "data", "dispositions", "weighting", "report", "questions", "trend", "questionnaire", "derive"}
_SECTION_KEYS: dict[str, tuple[set[str], set[str]]] = {  # section -> (required, optional)
    "study": ({"id", "title"}, {"population", "fieldwork", "language", "simulated", "truth"}),
    "data": ({"path"}, {"weights", "strata", "psu"}),
    "dispositions": ({"path"}, {"column", "e"}),
    "weighting": (set(), {"margins", "trim", "alternative_margins"}),
    "report": (set(), {"subgroups", "min_cell", "language", "labels"}),
    "trend": ({"polls"}, {"reference", "sum_to_zero", "events", "unit", "base"}),
}
_QUESTION_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "direct": ({"id", "column", "yes"}, {"text", "options", "hard_to_say", "refused", "measures", "ci"}),
    "list": (
        {"id", "count", "treat", "items"},
        {"method", "list_model", "covariates", "measures", "control_items", "sensitive_item", "lead", "placebo", "text"},
    ),
    "double_list": (
        {"id", "count_a", "count_b", "treat", "items_a", "items_b"},
        {"measures", "control_items_a", "control_items_b", "sensitive_item", "lead", "text"},
    ),
    "rr": (
        {"id", "design", "response", "p"},
        {"p1", "p0", "q", "measures", "device", "text", "instructions", "covariates", "truncate"},
    ),
    "crosswise": ({"id", "response", "q"}, {"measures", "text", "innocuous", "instructions", "truncate"}),
    **CHOICE_KEYS,
}
for _t, (_req, _opt) in _QUESTION_KEYS.items():  # design keys every question may have
    _opt |= COMMON_KEYS | (DECLINE_KEYS if _t in DECLINABLE else set())


class _Ctx:
    """Carries the file name so every error says where it happened."""

    def __init__(self, path: Path | None) -> None:
        self.where = str(path) if path is not None else "study"

    def fail(self, key: str, problem: str, fix: str) -> InputError:
        return InputError(f"{self.where}: {key}: {problem}; {fix}")


def load_study(path: str | os.PathLike[str] | Mapping[str, Any]) -> Study:
    """Parse and validate a study file (TOML; format in ``docs/study-file.md``).

    ``path`` may also be an already-parsed mapping (paths then resolve against the current
    folder). Raises :class:`~sottovoce.errors.InputError` naming the file, the key and the fix.
    """
    if isinstance(path, Mapping):
        return _parse(dict(path), None, Path.cwd(), None)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: study file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give the path of the study .toml file")
    raw = p.read_bytes()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text; save the study file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc}); fix the syntax at that line") from None
    return _parse(doc, p.resolve(), p.resolve().parent, hashlib.sha256(raw).hexdigest())


def _parse(doc: dict[str, Any], path: Path | None, base: Path, sha: str | None) -> Study:
    """A validated :class:`Study`: the top-level layout, then one parser per section."""
    ctx = _Ctx(path)
    _check_layout(ctx, doc)
    s = doc["study"]
    simulated = s.get("simulated", False)
    if not isinstance(simulated, bool):
        raise ctx.fail("study.simulated", f"must be true or false, not {simulated!r}", "write simulated = true")
    language = _lang(ctx, "study.language", s.get("language", "en"))
    questions = _questions(ctx, doc.get("questions", []))
    ids = [q.id for q in questions]
    design = parse_questionnaire(ctx, doc.get("questionnaire", {}), questions)
    return Study(
        path=path,
        id=_study_id(ctx, s["id"]),
        title=_text(ctx, "study.title", s["title"]),
        population=_text(ctx, "study.population", s.get("population", "")),
        fieldwork=_fieldwork(ctx, s.get("fieldwork", ())),
        language=language,
        simulated=simulated,
        data=_data(ctx, doc["data"], base) if "data" in doc else None,
        dispositions=_dispositions(ctx, doc["dispositions"], base) if "dispositions" in doc else None,
        weighting=_weighting(ctx, doc["weighting"], base) if "weighting" in doc else WeightingSpec(),
        report=_report(ctx, doc["report"], language) if "report" in doc else ReportSpec(language=language),
        questions=questions,
        sha256=sha,
        trend=_trend(ctx, doc["trend"], base) if "trend" in doc else None,
        truth=_truth(ctx, s["truth"], simulated, ids) if "truth" in s else None,
        design=design,
        derived=parse_derive(doc["derive"], ctx.where, taken=ids) if "derive" in doc else (),
    )


def _check_layout(ctx: _Ctx, doc: Mapping[str, Any]) -> None:
    """Known sections only, each a table with its required keys and no unknown ones."""
    for key in doc:
        if key not in _TOP:
            raise ctx.fail(key, "unknown section", f"use only {', '.join(sorted(_TOP))} (check the spelling)")
    for sec, (req, opt) in _SECTION_KEYS.items():
        if sec in doc:
            if not isinstance(doc[sec], dict):
                raise ctx.fail(sec, "must be a table", f"write it as [{sec}] followed by key = value lines")
            _check_keys(ctx, sec, doc[sec], req, opt)
    if "study" not in doc:
        raise ctx.fail("study", "missing section", 'add [study] with at least id = "..." and title = "..."')


def _study_id(ctx: _Ctx, v: Any) -> str:
    sid = _str(ctx, "study.id", v)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", sid):
        raise ctx.fail("study.id", f"'{sid}' has characters other than letters, digits, - and _", "use a short id like \"demo-2026\"")
    return sid


def _fieldwork(ctx: _Ctx, fieldwork: Any) -> tuple[str, ...]:
    if not isinstance(fieldwork, (list, tuple)) or not all(isinstance(d, (str,)) or hasattr(d, "isoformat") for d in fieldwork):
        raise ctx.fail("study.fieldwork", "must be a list of dates", 'write fieldwork = ["2026-03-02", "2026-03-09"]')
    return tuple(str(x) for x in fieldwork)


def _data(ctx: _Ctx, d: Mapping[str, Any], base: Path) -> DataSpec:
    return DataSpec(
        path=_path(ctx, "data.path", d["path"], base),
        weights=_opt_str(ctx, "data.weights", d.get("weights")),
        strata=_opt_str(ctx, "data.strata", d.get("strata")),
        psu=_opt_str(ctx, "data.psu", d.get("psu")),
    )


def _dispositions(ctx: _Ctx, d: Mapping[str, Any], base: Path) -> DispositionsSpec:
    e = d.get("e")
    if e is not None and not (_is_num(e) and 0 <= e <= 1):
        raise ctx.fail("dispositions.e", f"{e!r} is not a share between 0 and 1", "give the estimated eligible share, e.g. e = 0.35")
    return DispositionsSpec(
        path=_path(ctx, "dispositions.path", d["path"], base),
        column=_str(ctx, "dispositions.column", d.get("column", "disposition")),
        e=float(e) if e is not None else None,
    )


def _weighting(ctx: _Ctx, w: Mapping[str, Any], base: Path) -> WeightingSpec:
    margins: Any = w.get("margins")
    if isinstance(margins, str):
        margins = _path(ctx, "weighting.margins", margins, base)
    elif isinstance(margins, dict):
        for col, cats in margins.items():
            if not isinstance(cats, dict) or not all(_is_num(v) for v in cats.values()):
                raise ctx.fail(f"weighting.margins.{col}", "must be a table of category = share", f'write [weighting.margins.{col}] then lines like "male" = 0.46')
    elif margins is not None:
        raise ctx.fail("weighting.margins", "must be a file name or a table", 'write margins = "margins.toml"')
    trim = w.get("trim")
    if trim is not None and not (_is_num(trim) and trim > 1):
        raise ctx.fail("weighting.trim", f"{trim!r} is not a number above 1", "give the cap as a multiple of the mean weight, e.g. trim = 5.0")
    alt = w.get("alternative_margins", {})
    if not isinstance(alt, dict):
        raise ctx.fail("weighting.alternative_margins", "must be a table name = file", 'write alternative_margins = { "census-2010" = "margins-2010.toml" }')
    return WeightingSpec(
        margins=margins,
        trim=float(trim) if trim is not None else None,
        alternative_margins={k: _path(ctx, f"weighting.alternative_margins.{k}", v, base) for k, v in alt.items()},
    )


def _report(ctx: _Ctx, r: Mapping[str, Any], language: str) -> ReportSpec:
    subgroups = r.get("subgroups", [])
    if not isinstance(subgroups, list) or not all(isinstance(x, str) for x in subgroups):
        raise ctx.fail("report.subgroups", "must be a list of column names", 'write subgroups = ["sex", "age_group"]')
    min_cell = r.get("min_cell", 30)
    if not isinstance(min_cell, int) or isinstance(min_cell, bool) or min_cell < 1:
        raise ctx.fail("report.min_cell", f"{min_cell!r} is not a positive whole number", "write min_cell = 30")
    labels = r.get("labels", {})
    if not isinstance(labels, dict):
        raise ctx.fail("report.labels", "must be a table", 'write [report.labels] then lines like sex = { en = "Sex", ru = "Пол" } or "sex=male" = { en = "Men", ru = "Мужчины" }')
    return ReportSpec(
        labels={str(k): _text(ctx, f"report.labels.{k}", v) for k, v in labels.items()},
        subgroups=tuple(subgroups),
        min_cell=min_cell,
        language=_lang(ctx, "report.language", r.get("language", language)),
    )


def _questions(ctx: _Ctx, raw_qs: Any) -> tuple[Question, ...]:
    """Every ``[[questions]]`` entry, with unique ids and valid ``measures`` links."""
    if not isinstance(raw_qs, list):
        raise ctx.fail("questions", "must be an array of tables", "write each question as [[questions]] followed by its keys")
    questions = tuple(_question(ctx, i, q) for i, q in enumerate(raw_qs))
    ids = [q.id for q in questions]
    for i, qid in enumerate(ids):
        if qid in ids[:i]:
            raise ctx.fail(f"{_qkey(i, qid)}.id", f"duplicate question id '{qid}'", "give every question its own id")
    for i, q in enumerate(questions):
        if q.measures is None:
            continue
        if q.measures not in ids:
            raise ctx.fail(
                f"{_qkey(i, q.id)}.measures",
                f"question '{q.id}' measures '{q.measures}', which is not a question in this file",
                f"use the id of a direct question ({', '.join(x.id for x in questions if x.type == 'direct') or 'none defined'})",
            )
        target = questions[ids.index(q.measures)]
        if q.type != "direct" and target.type != "direct":
            raise ctx.fail(f"{_qkey(i, q.id)}.measures", f"'{q.measures}' is a {target.type} question", "an indirect question must measure a direct question")
        if q.type == "direct" and target.type == "direct":
            raise ctx.fail(f"{_qkey(i, q.id)}.measures", f"direct question '{q.id}' is linked to direct question '{q.measures}'", "link a direct question to an indirect one (list, rr, crosswise)")
    return questions


def _truth(ctx: _Ctx, t: Any, simulated: bool, ids: list[str]) -> TruthSpec:
    if not simulated:
        raise ctx.fail("study.truth", "is only for simulated data", "remove it, or set simulated = true if the data are simulated")
    if not isinstance(t, dict):
        raise ctx.fail("study.truth", "must be a table", 'write [study.truth] then share = 0.38 and question = "..."')
    _check_keys(ctx, "study.truth", t, {"share"}, {"question", "explanation"})
    question = _opt_str(ctx, "study.truth.question", t.get("question"))
    if question is not None and question not in ids:
        raise ctx.fail("study.truth.question", f"'{question}' is not a question in this file", f"use one of {', '.join(ids) or 'none defined'}")
    return TruthSpec(share=_prob(ctx, "study.truth.share", t["share"]), question=question,
                     explanation=_text(ctx, "study.truth.explanation", t.get("explanation", "")))


def _trend(ctx: _Ctx, t: Mapping[str, Any], base: Path) -> TrendSpec:
    polls = t["polls"]
    if isinstance(polls, str):
        polls = [polls]
    if not isinstance(polls, list) or not polls or not all(isinstance(x, str) and x.strip() for x in polls):
        raise ctx.fail("trend.polls", f"{polls!r} is not a list of file names", 'write polls = ["polls.csv", "waves.toml"]')
    reference = _opt_str(ctx, "trend.reference", t.get("reference"))
    sum_to_zero = t.get("sum_to_zero")
    if sum_to_zero is not None and not isinstance(sum_to_zero, bool):
        raise ctx.fail("trend.sum_to_zero", f"must be true or false, not {sum_to_zero!r}", "write sum_to_zero = true")
    if reference is not None and sum_to_zero:
        raise ctx.fail("trend.sum_to_zero", "conflicts with trend.reference", "keep one: a reference pollster or house effects that sum to zero")
    if reference is None and sum_to_zero is False:
        raise ctx.fail("trend.sum_to_zero", "is false but no trend.reference is given", 'name the reference pollster, e.g. reference = "Levada"')
    events = t.get("events", {})
    if not isinstance(events, dict):
        raise ctx.fail("trend.events", "must be a table of date = label", 'write events = { "2022-09-21" = "mobilization" }')
    for day, label in events.items():
        try:
            date.fromisoformat(str(day))
        except ValueError:
            raise ctx.fail(f"trend.events.{day}", f"'{day}' is not a date", 'write the date as YYYY-MM-DD, e.g. "2022-09-21" = "mobilization"') from None
        if not isinstance(label, str) or not label.strip():
            raise ctx.fail(f"trend.events.{day}", f"{label!r} is not a non-empty label", f'write "{day}" = "mobilization"')
    unit = t.get("unit", "day")
    if unit not in ("day", "week"):
        raise ctx.fail("trend.unit", f"unknown unit {unit!r}", 'use "day" or "week"')
    share_base = t.get("base", "all")
    if share_base not in ("all", "opinion"):
        raise ctx.fail("trend.base", f"unknown base {share_base!r}", 'use "all" (share of all respondents) or "opinion" (share among yes + no)')
    return TrendSpec(
        polls=tuple(_path(ctx, f"trend.polls[{i}]", x, base) for i, x in enumerate(polls)),
        reference=reference, sum_to_zero=bool(sum_to_zero), events={str(k): v for k, v in events.items()}, unit=unit, base=share_base,
    )


def _question(ctx: _Ctx, i: int, q: Any) -> Question:
    if not isinstance(q, dict):
        raise ctx.fail(f"questions[{i}]", "must be a table", "write it as [[questions]] followed by key = value lines")
    key = _qkey(i, q.get("id"))
    qtype = q.get("type")
    if qtype is None:
        raise ctx.fail(f"{key}.type", "missing", f"add type = one of {', '.join(_QUESTION_KEYS)}")
    if qtype not in _QUESTION_KEYS:
        raise ctx.fail(f"{key}.type", f"unknown question type '{qtype}'", f"use one of {', '.join(_QUESTION_KEYS)}")
    req, opt = _QUESTION_KEYS[qtype]
    _check_keys(ctx, key, q, req | {"type"}, opt)
    return replace(_typed_question(ctx, key, qtype, q), **design_keys(ctx, key, q))


def _typed_question(ctx: _Ctx, key: str, qtype: str, q: dict[str, Any]) -> Question:
    qid = _str(ctx, f"{key}.id", q["id"])
    measures = _opt_str(ctx, f"{key}.measures", q.get("measures"))
    if qtype in CHOICE_KEYS:
        return choice_question(ctx, key, qtype, q, qid, _options(ctx, key, q.get("options", [])))
    if qtype == "direct":
        yes = _codes(ctx, f"{key}.yes", q["yes"], required=True)
        options = _options(ctx, key, q.get("options", []))
        return DirectQuestion(
            id=qid, measures=measures, column=_str(ctx, f"{key}.column", q["column"]), yes=yes,
            text=_text(ctx, f"{key}.text", q.get("text", "")), options=tuple(options),
            hard_to_say=_codes(ctx, f"{key}.hard_to_say", q.get("hard_to_say", [])),
            refused=_codes(ctx, f"{key}.refused", q.get("refused", [])),
            ci=_choice(ctx, f"{key}.ci", q.get("ci", "wilson"), CI_METHODS, "the interval of the share"),
        )
    if qtype == "list":
        method = q.get("method", "dim")
        if method not in LIST_METHODS:
            raise ctx.fail(f"{key}.method", f"unknown list-experiment method '{method}'", f"use one of {', '.join(LIST_METHODS)}")
        list_model = q.get("list_model", "auto")
        if list_model not in LIST_MODELS:
            raise ctx.fail(f"{key}.list_model", f"unknown list model '{list_model}'", f"use one of {', '.join(LIST_MODELS)}")
        return ListQuestion(
            id=qid, measures=measures, count=_str(ctx, f"{key}.count", q["count"]),
            treat=_str(ctx, f"{key}.treat", q["treat"]), items=_items(ctx, f"{key}.items", q["items"]),
            method=method, covariates=_opt_str(ctx, f"{key}.covariates", q.get("covariates")), list_model=list_model,
            control_items=_text_lists(ctx, f"{key}.control_items", q.get("control_items", {})),
            sensitive_item=_text(ctx, f"{key}.sensitive_item", q.get("sensitive_item", "")),
            lead=_text(ctx, f"{key}.lead", q.get("lead", "")),
            placebo=_text(ctx, f"{key}.placebo", q.get("placebo", "")),
        )
    if qtype == "double_list":
        return DoubleListQuestion(
            id=qid, measures=measures, count_a=_str(ctx, f"{key}.count_a", q["count_a"]),
            count_b=_str(ctx, f"{key}.count_b", q["count_b"]), treat=_str(ctx, f"{key}.treat", q["treat"]),
            items_a=_items(ctx, f"{key}.items_a", q["items_a"]), items_b=_items(ctx, f"{key}.items_b", q["items_b"]),
            control_items_a=_text_lists(ctx, f"{key}.control_items_a", q.get("control_items_a", {})),
            control_items_b=_text_lists(ctx, f"{key}.control_items_b", q.get("control_items_b", {})),
            sensitive_item=_text(ctx, f"{key}.sensitive_item", q.get("sensitive_item", "")),
        )
    if qtype == "rr":
        design = q["design"]
        if design not in RR_DESIGNS:
            raise ctx.fail(f"{key}.design", f"unknown randomized-response design '{design}'", f"use one of {', '.join(RR_DESIGNS)} (or type = \"crosswise\")")
        probs = {k: _prob(ctx, f"{key}.{k}", q[k]) for k in ("p", "p1", "p0", "q") if k in q}
        if design == "forced":
            for k in ("p1", "p0"):
                if k not in probs:
                    raise ctx.fail(f"{key}.{k}", "missing for the forced-response design", "give p1 (forced yes) and p0 (forced no), e.g. p1 = 0.1667, p0 = 0.0833")
            if abs(probs["p"] + probs["p1"] + probs["p0"] - 1) > 1e-3:
                raise ctx.fail(f"{key}.p", f"p + p1 + p0 = {probs['p'] + probs['p1'] + probs['p0']:.4g}, not 1", "the three outcomes of the die must add up to 1")
        if design == "unrelated" and "q" not in probs:
            raise ctx.fail(f"{key}.q", "missing for the unrelated-question design", "give the known prevalence of the innocuous question, e.g. q = 0.5")
        if design in ("warner", "mirrored") and abs(probs["p"] - 0.5) < 1e-9:
            raise ctx.fail(f"{key}.p", "p = 0.5 makes the answers carry no information", "use a p away from 0.5, e.g. 0.7")
        device = q.get("device")
        if device is not None and device not in ("die", "browser"):
            raise ctx.fail(f"{key}.device", f"unknown device '{device}'", 'use "die" or "browser"')
        return RRQuestion(
            id=qid, measures=measures, design=design, response=_str(ctx, f"{key}.response", q["response"]),
            p=probs.get("p"), p1=probs.get("p1"), p0=probs.get("p0"), q=probs.get("q"), device=device,
            covariates=_opt_str(ctx, f"{key}.covariates", q.get("covariates")),
            text=_text(ctx, f"{key}.text", q.get("text", "")),
            instructions=_text(ctx, f"{key}.instructions", q.get("instructions", "")),
            truncate=_bool(ctx, f"{key}.truncate", q.get("truncate", False)),
        )
    qq = _prob(ctx, f"{key}.q", q["q"])
    if abs(qq - 0.5) < 1e-9:
        raise ctx.fail(f"{key}.q", "q = 0.5 makes the crosswise answers carry no information", "pick an innocuous item with a known prevalence away from 0.5, e.g. 0.25")
    return CrosswiseQuestion(
        id=qid, measures=measures, response=_str(ctx, f"{key}.response", q["response"]), q=qq,
        text=_text(ctx, f"{key}.text", q.get("text", "")),
        innocuous=_text(ctx, f"{key}.innocuous", q.get("innocuous", "")),
        instructions=_text(ctx, f"{key}.instructions", q.get("instructions", "")),
        truncate=_bool(ctx, f"{key}.truncate", q.get("truncate", False)),
    )


def _options(ctx: _Ctx, key: str, raw: Any) -> tuple[Option, ...]:
    if not isinstance(raw, list):
        raise ctx.fail(f"{key}.options", "must be a list of options", 'write options = [{ code = 1, en = "Yes", ru = "Да" }, ...]')
    options = []
    for j, o in enumerate(raw):
        if not isinstance(o, dict) or "code" not in o:
            raise ctx.fail(f"{key}.options[{j}]", "each option needs a code", '{ code = 1, en = "Yes", ru = "Да" }')
        options.append(Option(code=o["code"], text={k: str(v) for k, v in o.items() if k != "code"}))
    return tuple(options)


# -- checks against the data -------------------------------------------------------------------


def check_against_data(study: Study, df: pd.DataFrame, margins: Mapping[str, Any] | None = None) -> None:
    """Check that every column the study names exists in the data (and the margins' columns too).

    Raises :class:`InputError` naming the study file, the key and the columns that do exist.
    """
    ctx = _Ctx(study.path)
    cols = set(map(str, df.columns))
    shown = ", ".join(map(str, list(df.columns)[:25])) + (" …" if len(df.columns) > 25 else "")
    data_name = study.data.path.name if study.data else "the data"

    def need(key: str, col: str | None) -> None:
        if col is not None and col not in cols:
            raise ctx.fail(key, f"column '{col}' is not in {data_name}", f"use one of its columns: {shown}")

    if study.data:
        need("data.weights", study.data.weights)
        need("data.strata", study.data.strata)
        need("data.psu", study.data.psu)
    for i, s in enumerate(study.report.subgroups):
        need(f"report.subgroups[{i}]", s)
    for i, q in enumerate(study.questions):
        for col in q.columns():
            need(_qkey(i, q.id), col)
    for d in study.derived:
        for col in d.refs():
            need(f"derive (id '{d.id}')", col)
    for col in margins or {}:
        if col not in cols:
            raise ctx.fail(
                "weighting.margins",
                f"the margins have column '{col}', which is not in {data_name}",
                f"rename it to a data column or remove it (columns: {shown})",
            )


# -- small validators ---------------------------------------------------------------------------


def _qkey(i: int, qid: Any) -> str:
    """How errors name a question: its position and, when it has one, its id."""
    return f"questions[{i}] (id '{qid}')" if isinstance(qid, str) and qid else f"questions[{i}]"


def _check_keys(ctx: _Ctx, where: str, table: Mapping[str, Any], required: set[str], optional: set[str]) -> None:
    for k in table:
        if k not in required and k not in optional:
            allowed = ", ".join(sorted(required | optional))
            raise ctx.fail(f"{where}.{k}", "unknown key", f"remove it or fix the spelling; allowed keys here: {allowed}")
    for k in sorted(required):
        if k not in table:
            raise ctx.fail(f"{where}.{k}", "missing required key", f"add {k} = ... (see docs/study-file.md)")


def _str(ctx: _Ctx, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ctx.fail(key, f"{v!r} is not a non-empty string", f'write {key.rsplit(".", 1)[-1]} = "..."')
    return v


def _opt_str(ctx: _Ctx, key: str, v: Any) -> str | None:
    return None if v is None else _str(ctx, key, v)


def _bool(ctx: _Ctx, key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ctx.fail(key, f"must be true or false, not {v!r}", f"write {key.rsplit('.', 1)[-1]} = true")
    return v


def _choice(ctx: _Ctx, key: str, v: Any, allowed: tuple[str, ...], what: str) -> str:
    if v not in allowed:
        raise ctx.fail(key, f"unknown value {v!r} for {what}", f"use one of {', '.join(allowed)}")
    return str(v)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _prob(ctx: _Ctx, key: str, v: Any) -> float:
    if not _is_num(v) or not 0 <= v <= 1:
        raise ctx.fail(key, f"{v!r} is not a probability between 0 and 1", "give a number such as 0.25")
    return float(v)


def _items(ctx: _Ctx, key: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ctx.fail(key, f"{v!r} is not a positive whole number", "give the number of control items, e.g. 4")
    return v


def _codes(ctx: _Ctx, key: str, v: Any, required: bool = False) -> tuple[Any, ...]:
    if not isinstance(v, list):
        v = [v]
    if required and not v:
        raise ctx.fail(key, "is empty", "list the codes of the sensitive answer, e.g. yes = [1]")
    if not all(isinstance(c, (int, float, str)) and not isinstance(c, bool) for c in v):
        raise ctx.fail(key, f"{v!r} is not a list of codes", "write codes like [1] or [\"yes\"]")
    return tuple(v)


def _lang(ctx: _Ctx, key: str, v: Any) -> str:
    if v not in LANGUAGES:
        raise ctx.fail(key, f"unknown language {v!r}", f"use one of {', '.join(LANGUAGES)}")
    return str(v)


def _text(ctx: _Ctx, key: str, v: Any) -> Text:
    if isinstance(v, str):
        return {"en": v} if v else {}
    if isinstance(v, dict) and all(isinstance(x, str) for x in v.values()):
        return dict(v)
    raise ctx.fail(key, "must be a string or a table of translations", 'write "..." or { en = "...", ru = "..." }')


def _text_lists(ctx: _Ctx, key: str, v: Any) -> dict[str, list[str]]:
    if isinstance(v, list):
        v = {"en": v}
    if isinstance(v, dict) and all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in v.values()):
        return {k: list(x) for k, x in v.items()}
    raise ctx.fail(key, "must be a list of strings or a table of translated lists", 'write { en = ["...", "..."], ru = ["...", "..."] }')


def _path(ctx: _Ctx, key: str, v: Any, base: Path) -> Path:
    s = _str(ctx, key, v)
    return (base / s).resolve()


def _pick(value: Mapping[str, str], lang: str) -> str:
    if not value:
        return ""
    return value.get(lang) or value.get("en") or next(iter(value.values()))


def _formula_terms(formula: str | None) -> list[str]:
    """Column names in a simple covariate formula ``"age + male + I(age^2)"`` (plain names only)."""
    if not formula:
        return []
    return [t.strip() for t in formula.split("+") if re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_.]*\s*", t)]
