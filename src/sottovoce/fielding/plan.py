"""``sottovoce field-plan``: what a call centre needs to field a study — a script and an assignment.

The assignment gives every case (a number to be dialled and interviewed) its arms in advance:
split arm, block order, list-experiment arm. Each randomised column is drawn by complete
randomisation (a random permutation of a vector with fixed arm sizes; Rosenberger & Lachin 2016,
ch. 3): equal arm sizes, or, for a split with declared ``probabilities``, sizes proportional to
them (``n·p`` rounded by largest remainders, so they sum to ``n``), independently across columns,
from a seeded generator whose seed is written
next to the file, so the draw can be reproduced and audited. The script (``.xlsx``, one per
language) says, question by question, what to read, which codes to record, and which column of
the assignment decides the wording, the list, the order and the skips.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..questionnaire_spec import QuestionnaireSpec
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
from .texts import T, pick

__all__ = ["FieldPlan", "field_plan", "draw_assignment", "assigned_columns", "arm_probabilities", "arm_sizes", "CASE_ID"]

CASE_ID = "case_id"


@dataclass(frozen=True)
class FieldPlan:
    """The files written by :func:`field_plan` and the seed of the draw."""

    assignment: Path
    meta: Path
    scripts: dict[str, Path]
    seed: int
    n: int


def design_of(study: Study) -> QuestionnaireSpec:
    return study.design if isinstance(study.design, QuestionnaireSpec) else QuestionnaireSpec()


def assigned_columns(study: Study) -> dict[str, list[int]]:
    """The columns drawn in advance for each case -> their values (split arms, block order, list arms)."""
    d = design_of(study)
    out: dict[str, list[int]] = {s.column: s.values() for s in d.splits}
    if d.order is not None:
        out[d.order.column] = d.order.values()
    for q in study.questions:
        if isinstance(q, ListQuestion | DoubleListQuestion):
            out[q.treat] = [0, 1]
    return out


def arm_probabilities(study: Study) -> dict[str, list[float]]:
    """Each randomised column -> the probability of each of its values (as :func:`assigned_columns`):
    a split's declared probabilities, else equal."""
    d = design_of(study)
    declared = {s.column: s.shares() for s in d.splits}
    return {c: declared.get(c) or [1.0 / len(v)] * len(v) for c, v in assigned_columns(study).items()}


def arm_sizes(n: int, probabilities: list[float]) -> np.ndarray:
    """Arm sizes for ``n`` cases closest to ``n·p``: floors, then one more case to the arms with the
    largest remainders (Hamilton's method; ties to the earlier arm), so they sum to ``n``."""
    p = np.asarray(probabilities, dtype=float)
    exact = n * p / p.sum()
    sizes = np.floor(exact).astype(int)
    short = n - int(sizes.sum())
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[:short]] += 1
    return sizes


def draw_assignment(study: Study, n: int, seed: int) -> pd.DataFrame:
    """``n`` cases (``case_id`` C00001, …) with every randomised column drawn: arm sizes equal (up
    to one case) or proportional to a split's probabilities (:func:`arm_sizes`), in random order,
    independently across columns."""
    if not isinstance(n, int) or n < 2:
        raise InputError(f"--n {n}: give the number of cases to field, at least 2")
    cols = assigned_columns(study)
    if not cols:
        raise InputError(f"{study.path}: the study randomises nothing (no split, block order or list experiment); "
                         "a vendor needs only the script")
    rng = np.random.default_rng(seed)
    width = max(5, len(str(n)))
    data: dict[str, Any] = {CASE_ID: [f"C{i:0{width}d}" for i in range(1, n + 1)]}
    probs = {s.column: list(s.probabilities) for s in design_of(study).splits if s.probabilities}
    for col, values in cols.items():
        if col in probs:
            data[col] = rng.permutation(np.repeat(np.asarray(values), arm_sizes(n, probs[col])))
        else:  # equal arms: the draw of earlier versions, so a recorded seed still reproduces its plan
            data[col] = rng.permutation(np.resize(np.asarray(values), n))
    return pd.DataFrame(data)


def field_plan(study_path: str | Path, n: int, out: str | Path, seed: int | None = None) -> FieldPlan:
    """Write ``assignment.csv``, ``plan.json`` (seed, study checksum) and ``questionnaire-{en,ru}.xlsx``
    to ``out`` (created; existing files are never overwritten)."""
    study = load_study(study_path)
    out_dir = Path(out)
    names = ["assignment.csv", "plan.json", "questionnaire-en.xlsx", "questionnaire-ru.xlsx"]
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: is a file; give a folder")
    clash = [x for x in names if (out_dir / x).exists()]
    if clash:
        raise InputError(f"--out {out_dir}: {', '.join(clash)} already there; choose a new folder (a plan is never overwritten)")
    seed = secrets.randbits(32) if seed is None else int(seed)
    table = draw_assignment(study, n, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "assignment.csv", index=False)
    from importlib import metadata

    meta = {
        "format": "sottovoce-field-plan/1", "study": study.id, "study_sha256": study.sha256, "n": n, "seed": seed,
        "generator": "numpy.random.default_rng (PCG64)",
        "method": "complete randomisation per column, arm sizes equal or proportional to the split's probabilities (largest remainder)",
        "columns": {c: v for c, v in assigned_columns(study).items()},
        "probabilities": arm_probabilities(study), "case_id": CASE_ID,
        "sottovoce": metadata.version("sottovoce"), "numpy": np.__version__,
    }
    (out_dir / "plan.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    scripts = {}
    for lang in ("en", "ru"):
        scripts[lang] = out_dir / f"questionnaire-{lang}.xlsx"
        write_script(study, table, meta, lang, scripts[lang])
    return FieldPlan(out_dir / "assignment.csv", out_dir / "plan.json", scripts, seed, n)


# -- the interviewer script ---------------------------------------------------------------------

def script_rows(study: Study, lang: str) -> list[list[str]]:
    """One row per question: number, variable(s), what to read, codes to record, instructions."""
    d = design_of(study)
    rows: list[list[str]] = []
    if d.intro:
        rows.append(["", "", pick(d.intro, lang), "", T("read_intro", lang)])
    if d.consent:
        rows.append(["", "", pick(d.consent, lang), "", T("consent_rule", lang)])
    if d.order is not None:
        blocks = "; ".join(f"{T('block', lang)} {i + 1}: {', '.join(b)}" for i, b in enumerate(d.order.blocks))
        orders = "; ".join(f"{v} = {d.order.describe(v)}" for v in d.order.values())
        rows.append(["", d.order.column, "", orders, T("order_rule", lang).format(col=d.order.column, blocks=blocks)])
    for i, q in enumerate(study.questions, 1):
        notes = []
        if q.wording_by:
            notes.append(T("wording_rule", lang).format(col=q.wording_by) + " " + " | ".join(
                f"{arm}: \u201c{pick(w, lang)}\u201d" for arm, w in enumerate(q.wordings, 1)))
        for col, when in q.ask_if.items():
            notes.append(T("ask_if_rule", lang).format(col=col, codes=", ".join(map(str, when))))
        text, codes = _question_text(q, lang)
        if q.wording_by:  # the wordings are in the instructions, by arm
            text = T("see_wording", lang).format(col=q.wording_by)
        decline = getattr(q, "decline", None)
        if decline is not None:
            codes += f"; {decline} = {T('decline', lang)} ({T('do_not_read', lang)})"
        notes.extend(_question_rules(q, lang))
        rows.append([str(i), ", ".join(_columns(q)), text, codes, " ".join(notes)])
    return rows


def _columns(q: Any) -> list[str]:
    if isinstance(q, ListQuestion):
        return [q.count, q.treat]
    if isinstance(q, DoubleListQuestion):
        return [q.count_a, q.count_b, q.treat]
    return q.columns()


def _opts(options: Any, lang: str) -> str:
    return "; ".join(f"{o.code} = {pick(o.text, lang) or o.code}" for o in options)


def _question_text(q: Any, lang: str) -> tuple[str, str]:
    if isinstance(q, DirectQuestion):
        codes = _opts(q.options, lang) or "; ".join(f"{c} = {T('yes', lang)}" for c in q.yes)
        extra = [f"{c} = {T('hard_to_say', lang)} ({T('do_not_read', lang)})" for c in q.hard_to_say]
        extra += [f"{c} = {T('refused', lang)} ({T('do_not_read', lang)})" for c in q.refused]
        return pick(q.text, lang) or q.id, "; ".join([codes, *extra])
    if isinstance(q, ChoiceQuestion):
        if q.multiple:
            return pick(q.text, lang) or q.id, T("multiple_codes", lang).format(
                items="; ".join(f"{q.column}_{o.code} = {pick(o.text, lang)}" for o in q.options))
        return pick(q.text, lang) or q.id, _opts(q.options, lang)
    if isinstance(q, NumericQuestion):
        return pick(q.text, lang) or q.id, f"{q.min}\u2013{q.max}"
    if isinstance(q, ListQuestion):
        items = q.control_items.get(lang) or q.control_items.get("en") or []
        listed = " / ".join(items)
        return (pick(q.lead, lang) or T("list_lead", lang)) + f" [{listed}]", f"0\u2013{q.items + 1}"
    if isinstance(q, DoubleListQuestion):
        return pick(getattr(q, "lead", None), lang) or T("list_lead", lang), f"A: 0\u2013{q.items_a + 1}; B: 0\u2013{q.items_b + 1}"
    if isinstance(q, RRQuestion):
        return pick(q.text, lang) or q.id, f"1 = {T('yes', lang)}; 0 = {T('no', lang)}"
    assert isinstance(q, CrosswiseQuestion)
    return (f"A: {pick(q.text, lang)} B: {pick(q.innocuous, lang)}",
            f"1 = {T('cw_same', lang)}; 0 = {T('cw_diff', lang)}")


def _question_rules(q: Any, lang: str) -> list[str]:
    if isinstance(q, ListQuestion):
        return [T("list_rule", lang).format(treat=q.treat, count=q.count, item=pick(q.sensitive_item, lang), j=q.items)]
    if isinstance(q, DoubleListQuestion):
        return [T("double_rule", lang).format(treat=q.treat, item=pick(q.sensitive_item, lang))]
    if isinstance(q, RRQuestion):
        return [T("rr_rule", lang) + " " + _rr_rule(q, lang)]
    if isinstance(q, CrosswiseQuestion):
        return [T("cw_rule", lang)]
    return []


def _rr_rule(q: RRQuestion, lang: str) -> str:
    """The die rule read to the respondent (the web page's, or the study's own instructions)."""
    if q.instructions:
        return pick(q.instructions, lang)
    from ..errors import DesignError
    from ..field.questionnaire import Questionnaire

    try:
        return Questionnaire.rr_rule(q, lang)
    except DesignError:
        return ""


def write_script(study: Study, table: pd.DataFrame, meta: dict[str, Any], lang: str, path: Path) -> None:
    """The vendor's workbook: Script, Assignment and About sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = T("sheet_script", lang)
    head = [T(h, lang) for h in ("col_no", "col_var", "col_read", "col_codes", "col_instr")]
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in script_rows(study, lang):
        ws.append(row)
    for col, width in zip("ABCDE", (5, 22, 60, 40, 70), strict=True):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    wa = wb.create_sheet(T("sheet_assignment", lang))
    wa.append(list(table.columns))
    for rec in table.itertuples(index=False):
        wa.append([x.item() if hasattr(x, "item") else x for x in rec])
    about = wb.create_sheet(T("sheet_about", lang))
    title = pick(study.title, lang)
    for k, v in (("study", f"{study.id}: {title}"), ("cases", meta["n"]), ("seed", meta["seed"]),
                 ("generator", meta["generator"]), ("method", meta["method"]), ("study_sha256", meta["study_sha256"]),
                 ("return", T("return_rule", lang))):
        about.append([k, v])
    about.column_dimensions["B"].width = 100
    wb.save(path)
