"""``sottovoce field-check``: what went wrong in the field, from the vendor's file.

The file is first mapped back to the study: every question's columns must be there, and where the
vendor's value labels say a code means another option than in the study (codes swapped or
renumbered), the column is recoded by label and the change reported. Then:

* arm sizes as assigned (χ² goodness of fit to the design's arm probabilities: equal, or a split's
  declared ``probabilities``) and arms balanced on the demographics
  (χ² test of independence per arm column × demographic, Holm-adjusted across the tests) — the
  usual randomisation checks of split-sample experiments;
* the assignment file honoured (each case's recorded arm equals its assigned arm);
* answers in range per arm (a control-list count above J, or a code the study does not have);
* the list experiment's design-effect test (Blair & Imai 2012);
* interviewer effects: the intra-interviewer correlation ρ of each sensitive answer (one-way
  ANOVA estimator, Kish 1962), with the F test, Bonferroni across answers;
* straight-lining in multiple-choice grids and too-short interviews, by interviewer (binomial
  test of each interviewer's share against everyone's, Bonferroni across interviewers).

Checks return findings in English and Russian; nothing here changes the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._words import count_en, count_ru, en_form, plural_ru
from ..errors import InputError
from ..io import _key, _norm, read_table, value_labels
from ..questionnaire_spec import answer_codes
from ..study import (
    ChoiceQuestion,
    CrosswiseQuestion,
    DirectQuestion,
    DoubleListQuestion,
    ListQuestion,
    NumericQuestion,
    RRQuestion,
    Study,
    load_study,
)
from .plan import CASE_ID, arm_probabilities, assigned_columns

__all__ = ["Check", "FieldCheck", "field_check", "icc_anova"]

Msg = dict[str, str]


@dataclass
class Check:
    """One check: ``status`` ok | problem | skipped, findings (en/ru), a table and its numbers."""

    id: str
    status: str = "ok"
    findings: list[Msg] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, en: str, ru: str) -> None:
        self.status = "problem"
        self.findings.append({"en": en, "ru": ru})

    def note(self, en: str, ru: str) -> None:
        self.findings.append({"en": en, "ru": ru})


@dataclass
class FieldCheck:
    """The result of :func:`field_check`: the checks and the vendor's data mapped to the study."""

    study: Study
    file: Path
    n: int
    checks: list[Check]
    data: pd.DataFrame

    def check(self, cid: str) -> Check:
        return next(c for c in self.checks if c.id == cid)

    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status == "problem"]

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study.id, "file": self.file.name, "n": self.n,
                "checks": [{"id": c.id, "status": c.status, "findings": c.findings, "rows": c.rows} for c in self.checks]}


def field_check(study_path: str | Path | Study, vendor: str | Path, *, assignment: str | Path | None = None,
                case_id: str = CASE_ID, interviewer: str = "interviewer", duration: str = "duration",
                min_duration: float | None = None, alpha: float = 0.01) -> FieldCheck:
    """Map the vendor's file back to the study and run every check that its columns allow."""
    study = study_path if isinstance(study_path, Study) else load_study(study_path)
    path = Path(vendor)
    df = read_table(path)
    if len(df) == 0:
        raise InputError(f"{path}: the vendor file has no rows")
    df, mapping = _map(study, df, path)
    checks = [mapping, _arm_sizes(study, df, alpha), _balance(study, df, alpha),
              _assignment(study, df, assignment, case_id), _ranges(study, df), _design_tests(study, df),
              _interviewers(study, df, interviewer, alpha), _straightlining(study, df, interviewer, alpha),
              _short(df, duration, interviewer, min_duration, alpha)]
    return FieldCheck(study, path, len(df), checks, df)


# -- mapping ------------------------------------------------------------------------------------------

def _labelled(q: Any) -> bool:
    return isinstance(q, DirectQuestion | ChoiceQuestion) and bool(q.options) and not getattr(q, "multiple", False)


def _map(study: Study, df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, Check]:
    """Every question column present; single-answer columns recoded by label where the codes differ."""
    c = Check("mapping")
    df = df.copy()
    for q in study.questions:
        for col in q.columns():
            if col not in df.columns:
                c.problem(f"column {col} (question {q.id}) is not in {path.name}",
                          f"столбца {col} (вопрос {q.id}) нет в {path.name}")
        if not isinstance(q, DirectQuestion | ChoiceQuestion) or not _labelled(q) or q.columns()[0] not in df.columns:
            continue
        col = q.columns()[0]
        study_codes: dict[str, Any] = {}
        for o in q.options:
            for text in o.text.values():
                study_codes[_norm(text)] = o.code
        recode: dict[Any, Any] = {}
        for code, label in value_labels(df, col).items():
            target = study_codes.get(_norm(label))
            if target is None:
                if not any(_key(code) == _key(o.code) for o in q.options) and code not in answer_codes(q):
                    c.problem(f"{col}: the file's code {code} (“{label}”) is not an option of question {q.id}",
                              f"{col}: код {code} («{label}») в файле не является вариантом вопроса {q.id}")
                continue
            if _key(target) != _key(code):
                recode[code] = target
        if recode:
            pairs = ", ".join(f"{k} → {v}" for k, v in recode.items())
            c.problem(f"{col}: the file's codes differ from the study's by their labels ({pairs}); mapped by label",
                      f"{col}: коды в файле не совпадают с кодами исследования по меткам ({pairs}); сопоставлено по меткам")
            c.rows.append({"column": col, "recode": {str(k): v for k, v in recode.items()}})
            keys = {_key(k): v for k, v in recode.items()}
            seen = df[col].dropna().unique()  # decide per distinct code, not per respondent
            df[col] = df[col].replace({v: keys[_key(v)] for v in seen if _key(v) in keys})
    return df, c


# -- randomisation ---------------------------------------------------------------------------------

def _present(study: Study, df: pd.DataFrame) -> dict[str, list[int]]:
    return {c: v for c, v in assigned_columns(study).items() if c in df.columns}


def _arm_sizes(study: Study, df: pd.DataFrame, alpha: float) -> Check:
    c = Check("shares")
    cols = _present(study, df)
    if not cols:
        c.status = "skipped"
        return c
    probs = arm_probabilities(study)
    for col, values in cols.items():
        counts = np.array([(df[col] == v).sum() for v in values], dtype=float)
        share = np.asarray(probs[col]) / np.sum(probs[col])
        expected = counts.sum() * share
        p = float(stats.chisquare(counts, expected).pvalue) if counts.sum() > 0 else float("nan")
        c.rows.append({"column": col, "counts": {str(v): int(n) for v, n in zip(values, counts, strict=True)},
                       "expected": {str(v): float(e) for v, e in zip(values, expected, strict=True)}, "p_value": p})
        if p < alpha:
            shown = ", ".join(f"{v}: {int(n)} ({e:.0f})" for v, n, e in zip(values, counts, expected, strict=True))
            c.problem(f"{col}: arm sizes (expected in brackets) {shown} differ from the design's (χ² p = {p:.2g})",
                      f"{col}: размеры групп (ожидаемые в скобках) {shown} отличаются от заданных дизайном (χ² p = {p:.2g})")
    return c


def _demographics(study: Study, df: pd.DataFrame) -> dict[str, pd.Series]:
    """Demographic columns (numeric ones in quartiles) to test the arms' balance on."""
    out: dict[str, pd.Series] = {}
    for q in study.questions:
        if isinstance(q, ChoiceQuestion) and q.demographic and q.column in df.columns:
            out[q.column] = df[q.column]
        elif isinstance(q, NumericQuestion) and q.column in df.columns:
            x = pd.to_numeric(df[q.column], errors="coerce")
            out[q.column] = pd.qcut(x, 4, labels=False, duplicates="drop")
    return out


def _balance(study: Study, df: pd.DataFrame, alpha: float) -> Check:
    c = Check("balance")
    arms, demo = _present(study, df), _demographics(study, df)
    if not arms or not demo:
        c.status = "skipped"
        c.note("no arm or demographic columns to test (declare type = \"demographic\" questions)",
               "нет столбцов групп или демографии (объявите вопросы type = \"demographic\")")
        return c
    tests = []
    for a in arms:
        for d, s in demo.items():
            tab = pd.crosstab(df[a], s)
            tab = tab.loc[tab.sum(axis=1) > 0, tab.sum(axis=0) > 0]
            if tab.shape[0] < 2 or tab.shape[1] < 2:
                continue
            chi2, p, dof, _ = stats.chi2_contingency(tab.to_numpy(), correction=False)
            tests.append({"arm": a, "variable": d, "chi2": float(chi2), "df": int(dof), "p_value": float(p)})
    ps = np.array([t["p_value"] for t in tests])
    holm = _holm(ps)
    for t, h in zip(tests, holm, strict=True):
        t["p_holm"] = float(h)
        c.rows.append(t)
        if h < alpha:
            c.problem(f"{t['arm']} is not balanced on {t['variable']} (χ² = {t['chi2']:.1f}, df {t['df']}, Holm p = {h:.2g})",
                      f"группы {t['arm']} не сбалансированы по {t['variable']} (χ² = {t['chi2']:.1f}, df {t['df']}, p Холма = {h:.2g})")
    return c


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _assignment(study: Study, df: pd.DataFrame, assignment: str | Path | None, case_id: str) -> Check:
    c = Check("assignment")
    if assignment is None:
        c.status = "skipped"
        c.note("no assignment file given (--assignment)", "файл распределения не указан (--assignment)")
        return c
    plan = read_table(assignment)
    for who, frame in (("assignment file", plan), ("vendor file", df)):
        if case_id not in frame.columns:
            raise InputError(f"the {who} has no case id column '{case_id}'; give it with --case-id")
    merged = df[[case_id, *[x for x in _present(study, df)]]].merge(plan, on=case_id, how="left", suffixes=("", "__plan"), indicator=True)
    unknown = int((merged["_merge"] == "left_only").sum())
    if unknown:
        c.problem(f"{count_en(unknown, 'case')} of the file {en_form(unknown, 'is', 'are')} not in the assignment file",
                  f"{count_ru(unknown, 'номера', 'номеров', 'номеров')} из файла нет в распределении")
    for col in _present(study, df):
        if col not in plan.columns:
            continue
        got, want = merged[col], merged[f"{col}__plan"]
        bad = got.notna() & want.notna() & (pd.to_numeric(got, errors="coerce") != pd.to_numeric(want, errors="coerce"))
        k = int(bad.sum())
        c.rows.append({"column": col, "mismatches": k, "cases": merged.loc[bad, case_id].astype(str).head(10).tolist()})
        if k:
            c.problem(f"{col}: {count_en(k, 'case')} {en_form(k, 'was', 'were')} not given the assigned arm (e.g. {', '.join(merged.loc[bad, case_id].astype(str).head(5))})",
                      f"{col}: {count_ru(k, 'номер', 'номера', 'номеров')} {plural_ru(k, 'получил', 'получили', 'получили')} не назначенную группу (например, {', '.join(merged.loc[bad, case_id].astype(str).head(5))})")
    return c


# -- answers ---------------------------------------------------------------------------------------

def _allowed_counts(q: Any, arm: int, which: str = "") -> set[Any]:
    d = {q.decline} if q.decline is not None else set()
    if isinstance(q, ListQuestion):
        top = q.items + (1 if arm == 1 or q.placebo else 0)
    else:
        top = (q.items_a + (arm == 1)) if which == "a" else (q.items_b + (arm == 0))
    return set(range(int(top) + 1)) | d


def _ranges(study: Study, df: pd.DataFrame) -> Check:
    c = Check("ranges")
    for q in study.questions:
        if any(col not in df.columns for col in q.columns()):
            continue
        if isinstance(q, ListQuestion | DoubleListQuestion):
            parts = [(q.count, "")] if isinstance(q, ListQuestion) else [(q.count_a, "a"), (q.count_b, "b")]
            for col, which in parts:
                for arm in (0, 1):
                    x = pd.to_numeric(df.loc[df[q.treat] == arm, col], errors="coerce").dropna()
                    bad = ~x.isin(_allowed_counts(q, arm, which))
                    c.rows.append({"column": col, "arm": arm, "n": int(len(x)), "out_of_range": int(bad.sum())})
                    if bad.any():
                        vals = ", ".join(map(str, sorted(set(x[bad].astype(int)))[:5]))
                        c.problem(f"{col}: {count_en(int(bad.sum()), 'answer')} in arm {arm} {en_form(int(bad.sum()), 'is', 'are')} out of range ({vals}; allowed {min(_allowed_counts(q, arm, which))}–{q.items + arm if isinstance(q, ListQuestion) else ''})",
                                  f"{col}: {count_ru(int(bad.sum()), 'ответ', 'ответа', 'ответов')} в группе {arm} вне допустимых пределов ({vals})")
            treat = pd.to_numeric(df[q.treat], errors="coerce")
            odd = int((treat.notna() & ~treat.isin([0, 1])).sum())
            if odd:
                c.problem(f"{q.treat}: {count_en(odd, 'value')} other than 0/1",
                          f"{q.treat}: {count_ru(odd, 'значение', 'значения', 'значений')}, {plural_ru(odd, 'отличное', 'отличных', 'отличных')} от 0/1")
            continue
        if isinstance(q, RRQuestion | CrosswiseQuestion):
            allowed: set[Any] = {0, 1} | ({q.decline} if q.decline is not None else set())
        elif isinstance(q, ChoiceQuestion) and q.multiple:
            allowed = {0, 1}
        else:
            allowed = set(answer_codes(q))
        for col in q.columns():
            x = df[col].dropna()
            keys = {_key(a) for a in allowed}
            bad = ~x.map({v: _key(v) in keys for v in x.unique()}).astype(bool)
            c.rows.append({"column": col, "n": int(len(x)), "out_of_range": int(bad.sum())})
            if bad.any():
                vals = ", ".join(map(str, list(dict.fromkeys(x[bad].tolist()))[:5]))
                c.problem(f"{col}: {count_en(int(bad.sum()), 'answer')} with codes the study does not have ({vals})",
                          f"{col}: {count_ru(int(bad.sum()), 'ответ', 'ответа', 'ответов')} с кодами, которых нет в исследовании ({vals})")
    return c


def _valid_list_rows(q: ListQuestion, df: pd.DataFrame) -> pd.DataFrame:
    x = df[[q.count, q.treat]].apply(pd.to_numeric, errors="coerce").dropna()
    y, t = x[q.count], x[q.treat]
    top = q.items + ((t == 1) | bool(q.placebo)).astype(int)
    ok = (y >= 0) & (y <= top) & (y == y.round()) & t.isin([0, 1])
    return x[ok]


def _design_tests(study: Study, df: pd.DataFrame) -> Check:
    c = Check("design_test")
    lists = [q for q in study.questions if isinstance(q, ListQuestion) and {q.count, q.treat} <= set(df.columns)]
    if not lists:
        c.status = "skipped"
        return c
    from ..listexp import list_design_test

    for q in lists:
        x = _valid_list_rows(q, df)
        try:
            r = list_design_test(x, q.count, q.treat, q.items)
        except Exception as exc:  # a test that cannot run is reported, not fatal
            c.note(f"{q.id}: the test could not run ({exc})", f"{q.id}: тест не удалось выполнить ({exc})")
            continue
        p = float(r.estimate if r.estimate is not None else float("nan"))
        c.rows.append({"question": q.id, "p_value": p, "verdict": r.details.get("verdict")})
        if p < 0.05:
            c.problem(f"{q.id}: design effect (adding the sensitive item changed the answers to the others; p = {p:.2g})",
                      f"{q.id}: эффект дизайна (добавление чувствительного пункта изменило ответы на остальные; p = {p:.2g})")
    return c


# -- interviewers and data quality --------------------------------------------------------------------

def icc_anova(y: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """Intra-cluster correlation by one-way ANOVA (ICC(1); Kish 1962), its F-test p-value, and the
    number of clusters: ρ = (MSB − MSW) / (MSB + (n₀ − 1) MSW), n₀ = (N − Σnᵢ²/N)/(k − 1)."""
    y = np.asarray(y, dtype=float)
    codes, g = np.unique(groups, return_inverse=True)
    k, n = len(codes), len(y)
    if k < 2 or n - k < 1:
        return float("nan"), float("nan"), k
    ni = np.bincount(g).astype(float)
    means = np.bincount(g, weights=y) / ni
    grand = y.mean()
    ssb = float((ni * (means - grand) ** 2).sum())
    ssw = float(((y - means[g]) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n - k)
    n0 = (n - (ni ** 2).sum() / n) / (k - 1)
    if msw == 0:
        return (1.0 if msb > 0 else 0.0), (0.0 if msb > 0 else 1.0), k
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    p = float(stats.f.sf(msb / msw, k - 1, n - k))
    return float(icc), p, k


def _sensitive_answers(study: Study, df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each sensitive answer as a number: a direct question's yes, a list count net of its arm's
    mean (the arm is randomised, not the interviewer's doing), an RR/crosswise answer."""
    out: dict[str, pd.Series] = {}
    for q in study.questions:
        if isinstance(q, DirectQuestion) and q.column in df.columns:
            s = df[q.column]
            yes_keys = {_key(c) for c in q.yes}
            yes = s.map({v: float(_key(v) in yes_keys) for v in s.dropna().unique()})
            out[q.id] = yes.where(s.notna())
        elif isinstance(q, ListQuestion) and {q.count, q.treat} <= set(df.columns):
            x = _valid_list_rows(q, df)
            out[q.id] = (x[q.count] - x.groupby(q.treat)[q.count].transform("mean")).reindex(df.index)
        elif isinstance(q, RRQuestion | CrosswiseQuestion) and q.response in df.columns:
            r = pd.to_numeric(df[q.response], errors="coerce")
            out[q.id] = r.where(r.isin([0, 1]))
    return out


def _interviewers(study: Study, df: pd.DataFrame, interviewer: str, alpha: float) -> Check:
    c = Check("interviewer")
    if interviewer not in df.columns:
        c.status = "skipped"
        c.note(f"no interviewer column '{interviewer}'", f"нет столбца интервьюера '{interviewer}'")
        return c
    answers = _sensitive_answers(study, df)
    m = max(len(answers), 1)
    for qid, y in answers.items():
        ok = y.notna() & df[interviewer].notna()
        icc, p, k = icc_anova(y[ok].to_numpy(), df.loc[ok, interviewer].astype(str).to_numpy())
        c.rows.append({"question": qid, "icc": icc, "p_value": p, "interviewers": k, "n": int(ok.sum())})
        if p < alpha / m:
            c.problem(f"{qid}: answers depend on the interviewer (intra-interviewer correlation ρ = {icc:.3f}, F-test p = {p:.2g}, {k} interviewers)",
                      f"{qid}: ответы зависят от интервьюера (внутриинтервьюерная корреляция ρ = {icc:.3f}, F-тест p = {p:.2g}, интервьюеров: {k})")
    return c


def _names(who: pd.Series) -> pd.Series:
    """Interviewer ids as written by the call centre: a numeric id read from SPSS as 4.0 is "4"."""
    def name(v: Any) -> str:
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    return who.map({v: name(v) for v in who.dropna().unique()})  # per distinct id, not per interview


def _concentration(flag: pd.Series, who: pd.Series | None, alpha: float) -> list[dict[str, Any]]:
    """Interviewers whose share of flagged interviews is far above everyone's (binomial, Bonferroni)."""
    if who is None:
        return []
    base = float(flag.mean())
    groups = list(flag.groupby(_names(who)))
    out = []
    for name, f in groups:
        p = float(stats.binomtest(int(f.sum()), len(f), base, alternative="greater").pvalue) if 0 < base < 1 else 1.0
        if p < alpha / max(len(groups), 1):
            out.append({"interviewer": name, "flagged": int(f.sum()), "n": len(f), "p_value": p})
    return out


def _straightlining(study: Study, df: pd.DataFrame, interviewer: str, alpha: float) -> Check:
    c = Check("straightlining")
    grids = [q.columns() for q in study.questions if isinstance(q, ChoiceQuestion) and q.multiple and len(q.options) >= 3
             and set(q.columns()) <= set(df.columns)]
    if not grids:
        c.status = "skipped"
        return c
    flag = pd.Series(True, index=df.index)
    for cols in grids:
        flag &= df[cols].nunique(axis=1, dropna=False) == 1
    who = df[interviewer] if interviewer in df.columns else None
    c.rows.append({"straightlined": int(flag.sum()), "n": len(df)})
    for r in _concentration(flag, who, alpha):
        c.rows.append(r)
        c.problem(f"interviewer {r['interviewer']}: {r['flagged']} of {r['n']} interviews give the same answer to every item (p = {r['p_value']:.2g})",
                  f"интервьюер {r['interviewer']}: в {r['flagged']} из {r['n']} интервью одинаковый ответ на все пункты (p = {r['p_value']:.2g})")
    return c


def _short(df: pd.DataFrame, duration: str, interviewer: str, min_duration: float | None, alpha: float) -> Check:
    c = Check("short")
    if duration not in df.columns:
        c.status = "skipped"
        c.note(f"no duration column '{duration}'", f"нет столбца длительности '{duration}'")
        return c
    d = pd.to_numeric(df[duration], errors="coerce")
    limit = float(min_duration) if min_duration is not None else float(d.median()) / 3
    flag = (d < limit).fillna(False)
    share = float(flag.mean())
    c.rows.append({"threshold_seconds": limit, "short": int(flag.sum()), "n": int(d.notna().sum())})
    if share > 0.05:
        c.problem(f"{count_en(int(flag.sum()), 'interview')} ({share:.1%}) {en_form(int(flag.sum()), 'is', 'are')} shorter than {limit:.0f} s",
                  f"{int(flag.sum())} интервью ({share:.1%}) короче {limit:.0f} с")
    who = df[interviewer] if interviewer in df.columns else None
    for r in _concentration(flag, who, alpha):
        c.rows.append(r)
        c.problem(f"interviewer {r['interviewer']}: {r['flagged']} of {r['n']} interviews are shorter than {limit:.0f} s (p = {r['p_value']:.2g})",
                  f"интервьюер {r['interviewer']}: {r['flagged']} из {r['n']} интервью короче {limit:.0f} с (p = {r['p_value']:.2g})")
    return c
