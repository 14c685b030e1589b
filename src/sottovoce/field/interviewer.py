"""Interviewer mode of the survey server (``sottovoce serve --mode interviewer``): CATI by a call centre.

A call-centre interviewer opens one page per case (``GET /case?case=C00001&interviewer=I07``), reads
the questions aloud and clicks the respondent's answers. The case's arms (list arm, split arm, block
order) are not drawn on the page: they come from the assignment file written by ``sottovoce
field-plan`` (:mod:`sottovoce.fielding.plan`), so the draw is the one recorded with its seed and the
vendor's script. What stays as in the web mode: every answer is sealed to the analyst's public key
on arrival, pages and sealed plaintexts have one length per study, nothing is logged per request.

Case ids are handled exactly like invitation codes (:mod:`sottovoce.field.storage`): the server
keeps only their keyed tags (HMAC under the invitation key, kept off the server's disk) and a
"used" flag, so an unknown case id or one already answered is refused, and whoever seizes the disk
cannot tell which cases were answered. The case id, the arms and the interviewer code go *inside*
the sealed answer (columns ``case_id`` and ``interviewer``), where ``field-check`` finds them after
``decrypt``: the interviewer code never sits beside a ciphertext in clear, not even as a keyed
hash (a hash in clear would let whoever seizes the disk group answers by interviewer and, with the
call centre's rota, by shift). Only a short code is accepted (letters, digits, ``. _ -``), never a
name: the call centre keeps the list of who is behind each code.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..study import DoubleListQuestion, ListQuestion
from .questionnaire import Questionnaire
from .storage import normalise_code

__all__ = ["Assignment", "load_assignment", "INTERVIEWER_PATTERN", "CASE_COLUMN", "INTERVIEWER_COLUMN", "TEXTS"]

CASE_COLUMN = "case_id"  # as written by field-plan and read by field-check
INTERVIEWER_COLUMN = "interviewer"
INTERVIEWER_MAX = 32
INTERVIEWER_PATTERN = re.compile(rf"[A-Za-z0-9_.-]{{1,{INTERVIEWER_MAX}}}")
_CASE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "start": "Interviewer: open a case",
        "case": "Case id",
        "interviewer": "Your interviewer code (not your name)",
        "open": "Open the case",
        "case_title": "Case {case} — interviewer {interviewer}",
        "script": "Read the introduction and every question and its answer options aloud, exactly as written, "
                  "in the order shown. Do not read “prefer not to say”, “hard to say” or “refused”: record them only "
                  "when the respondent says so. For a list, read the items and ask only how many apply, never which. "
                  "For a die or coin question, the respondent keeps the result to themselves. The arms of this case "
                  "are already set from the assignment: do not change anything on the page.",
        "submit": "Record the interview",
        "next": "Open the next case",
        "bad_case": "This case id is not in the assignment or has already been recorded.",
        "bad_interviewer": "Give your interviewer code: 1–32 letters, digits, “.”, “_” or “-”.",
        "mismatch": "The arms sent do not match this case's assignment; open the case again.",
    },
    "ru": {
        "start": "Интервьюер: открыть анкету",
        "case": "Номер анкеты (case id)",
        "interviewer": "Ваш код интервьюера (не имя)",
        "open": "Открыть анкету",
        "case_title": "Анкета {case} — интервьюер {interviewer}",
        "script": "Зачитывайте вступление, каждый вопрос и варианты ответа дословно и в показанном порядке. "
                  "Не зачитывайте «предпочитаю не отвечать», «затрудняюсь ответить» и «отказ»: отмечайте их, только "
                  "если респондент сам так ответит. В вопросе-списке зачитайте пункты и спросите только, сколько из "
                  "них подходит, но не какие. В вопросе с кубиком или монетой респондент оставляет результат при себе. "
                  "Условия этой анкеты уже заданы по плану выборки: ничего на странице не меняйте.",
        "submit": "Записать интервью",
        "next": "Открыть следующую анкету",
        "bad_case": "Этой анкеты нет в плане выборки, или она уже записана.",
        "bad_interviewer": "Укажите код интервьюера: 1–32 латинские буквы, цифры, «.», «_» или «-».",
        "mismatch": "Условия в форме не совпадают с планом для этой анкеты; откройте анкету заново.",
    },
}


@dataclass(frozen=True)
class Assignment:
    """Case id -> the columns drawn for it in advance (as in ``assignment.csv``), keyed by normalised case id."""

    source: str
    columns: tuple[str, ...]
    cases: dict[str, tuple[str, dict[str, int]]]  # normalised id -> (id as written, column -> value)

    @property
    def case_width(self) -> int:
        return max(len(c) for c, _ in self.cases.values())

    def find(self, case: str) -> tuple[str, dict[str, int]] | None:
        return self.cases.get(normalise_code(case)) if _CASE_PATTERN.fullmatch(case or "") else None

    def canonical(self) -> bytes:
        """The cases and their arms as bytes that do not depend on the file's layout (row order,
        spaces, line endings, case of the ids): what :meth:`Store.bind_assignment` digests, so the
        same plan is recognised at every start and any edited case or arm is not."""
        lines = [",".join([CASE_COLUMN, *self.columns])]
        lines += [",".join([key, *(str(values[c]) for c in self.columns)]) for key, (_, values) in sorted(self.cases.items())]
        return "\n".join(lines).encode("utf-8")

    def page_arms(self, q: Questionnaire, values: dict[str, int]) -> dict[str, int]:
        """The draws to fix on the page (``Questionnaire.render``'s ``arms``): list question id or split/order column."""
        by_treat = {qq.treat: qq.id for qq in q.study.questions if isinstance(qq, ListQuestion | DoubleListQuestion)}
        return {by_treat.get(col, col): v for col, v in values.items()}


def load_assignment(path: str | Path, questionnaire: Questionnaire) -> Assignment:
    """Read ``assignment.csv`` from ``field-plan``; its columns must be the ones the study randomises."""
    from ..fielding.plan import assigned_columns

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--assignment {p}: file not found; give the assignment.csv written by `sottovoce field-plan`")
    try:
        with p.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"--assignment {p}: not a UTF-8 CSV file ({str(exc)[:80]})") from None
    wanted = assigned_columns(questionnaire.study)
    header = set(rows[0]) if rows else set()
    missing = [c for c in [CASE_COLUMN, *wanted] if c not in header]
    if not rows or missing:
        raise InputError(f"--assignment {p}: missing column(s) {', '.join(missing) or CASE_COLUMN} (or no cases); "
                         f"write it with `sottovoce field-plan {questionnaire.study.path} --n N --out DIR`")
    cases: dict[str, tuple[str, dict[str, int]]] = {}
    for i, row in enumerate(rows, start=2):
        case = (row[CASE_COLUMN] or "").strip()
        if not _CASE_PATTERN.fullmatch(case):
            raise InputError(f"--assignment {p}: line {i}: case id {case[:40]!r} is not 1-64 letters, digits, '.', '_' or '-'")
        values: dict[str, int] = {}
        for col, allowed in wanted.items():
            raw = (row[col] or "").strip()
            if not raw.lstrip("-").isdigit() or int(raw) not in allowed:
                raise InputError(f"--assignment {p}: line {i}: {col} = {raw[:20]!r}; allowed: {', '.join(map(str, allowed))}")
            values[col] = int(raw)
        key = normalise_code(case)
        if key in cases:
            raise InputError(f"--assignment {p}: line {i}: case id {case!r} appears twice")
        cases[key] = (case, values)
    return Assignment(str(p), tuple(wanted), cases)


def check_arms(assignment_values: dict[str, int], answers: dict[str, Any]) -> bool:
    """Whether the validated answers carry the case's assigned arms (a column skipped by the design is None)."""
    return all(answers.get(c) is None or answers[c] == v for c, v in assignment_values.items())
