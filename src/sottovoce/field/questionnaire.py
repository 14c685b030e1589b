"""The survey as respondents see it, built from the study file's ``[[questions]]``.

Each question becomes a block of the form whose field names are the study's answer columns
(``column``, ``count``/``treat``, ``count_a``/``count_b``, ``response``), so a decrypted submission
is a row that ``sottovoce analyze`` reads directly. Designs and their sources:

* list experiment (item count technique; Imai 2011): the server draws the arm when it renders the
  page and puts it in a hidden field; the arm travels only inside the sealed answer;
* double list (Droitcour et al. 1991; Glynn 2013): the sensitive item goes on list A or B;
* randomized response (Warner 1965; forced response, Boruch 1971; unrelated question, Greenberg
  et al. 1969; mirrored/disguised, Blair, Imai & Zhou 2015): the respondent rolls a real die (or,
  with ``device = "browser"``, a virtual one drawn with ``crypto.getRandomValues``) and follows the
  printed instruction; the roll is never asked for or sent;
* crosswise model (Yu, Tian & Tang 2008): one answer about two statements at once;
* questionnaire designs (``[questionnaire]`` and the questions' ``ask_if``, ``wording_by`` and
  ``decline``; :mod:`sottovoce.questionnaire_spec`): split-sample arms and the block order are
  drawn with the list arms and travel in hidden fields, inside the sealed answer; a question not
  asked (another arm, or skipped by an earlier answer) is sent as its "does not apply" value and
  stored as null; "prefer not to say" is its own code; profile questions (``choice``,
  ``demographic``, ``numeric``) are plain answers for subgroups and margins.

Lengths say nothing (an observer of encrypted traffic sees them): every radio value of a column
is its zero-padded position among the column's values (a skipped question sends its "not asked"
position, a numeric answer is a drop-down of positions), so a posted form has one length whatever
the answers; every sealed plaintext of a study is padded to one length, the longest the study
allows (:meth:`Questionnaire.payload_size`); the app pads each page to the longest any draw gives (it renders every combination at start-up).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import DesignError
from ..questionnaire_spec import QuestionnaireSpec, answer_codes
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

__all__ = ["Questionnaire", "AnswerError", "MESSAGES", "Payload", "decode_payload", "UI", "PAYLOAD_VERSION"]

PAYLOAD_VERSION = 2  # 2: fixed length per study; the day and the server token inside
MAX_DRAW_COMBINATIONS = 1024  # pages to render at start-up to find the longest (list arms × split arms)

UI: dict[str, dict[str, str]] = {
    "en": {
        "hard_to_say": "Hard to say",
        "refused": "Prefer not to answer",
        "submit": "Send my answers",
        "privacy": "Your answers are encrypted as soon as they arrive. We do not store your IP address, "
        "your browser, or the time you answered. Nothing is saved on your device.",
        "invite": "Invitation code",
        "thanks_title": "Thank you",
        "thanks": "Your answers have been received. You can close this page.",
        "error_title": "Please check your answers",
        "back": "Back to the survey",
        "count_label": "How many?",
        "list_a": "List A",
        "list_b": "List B",
        "list_lead": "How many of these statements apply to you? Only say how many, not which.",
        "double_lead": "For each list, how many of the statements apply to you? Only say how many, not which.",
        "cw_same": "Both statements are true, or both are false",
        "cw_diff": "Exactly one of the two statements is true",
        "cw_lead": "Read both statements. Do not say which is true; only say whether they are the same for you.",
        "statement_a": "Statement A",
        "statement_b": "Statement B",
        "yes": "Yes",
        "no": "No",
        "roll": "Roll the die",
        "die_shows": "The die shows",
        "die_private": "Only you can see this; it is not sent.",
        "forced": "Roll a die where nobody can see it, and do not tell us the result. If it shows {yes}, "
        "answer \u201cYes\u201d whatever the truth. If it shows {no}, answer \u201cNo\u201d. Otherwise answer truthfully.",
        "mirror": "Roll a die where nobody can see it, and do not tell us the result. If it shows {a}, answer "
        "\u201cYes\u201d if the statement is TRUE for you. Otherwise answer \u201cYes\u201d if it is FALSE for you.",
        "language": "Язык: русский",
        "other_lang": "ru",
        "required": "Please answer: {q}",
        "title_suffix": "",
        "decline": "Prefer not to say",
        "not_asked": "Does not apply to me (skip)",
        "skip_note": "Answer only if {conds}; otherwise choose \u201cDoes not apply to me\u201d.",
        "skip_part": "your answer to question {n} was {answers}",
        "and": " and ",
        "pick": "Choose\u2026",
        "consent_title": "Before you start",
        "start": "I agree",
    },
    "ru": {
        "hard_to_say": "Затрудняюсь ответить",
        "refused": "Не хочу отвечать",
        "submit": "Отправить ответы",
        "privacy": "Ваши ответы шифруются сразу при получении. Мы не храним ваш IP-адрес, браузер и время "
        "ответа. На вашем устройстве ничего не сохраняется.",
        "invite": "Код приглашения",
        "thanks_title": "Спасибо",
        "thanks": "Ваши ответы получены. Эту страницу можно закрыть.",
        "error_title": "Пожалуйста, проверьте ответы",
        "back": "Вернуться к опросу",
        "count_label": "Сколько?",
        "list_a": "Список А",
        "list_b": "Список Б",
        "list_lead": "Сколько из этих утверждений относятся к вам? Назовите только количество, а не какие именно.",
        "double_lead": "Сколько утверждений из каждого списка относятся к вам? Назовите только количество, а не какие именно.",
        "cw_same": "Оба утверждения верны или оба неверны",
        "cw_diff": "Верно ровно одно из двух утверждений",
        "cw_lead": "Прочитайте оба утверждения. Не говорите, какое верно; ответьте только, одинаковы ли они для вас.",
        "statement_a": "Утверждение А",
        "statement_b": "Утверждение Б",
        "yes": "Да",
        "no": "Нет",
        "roll": "Бросить кубик",
        "die_shows": "На кубике выпало",
        "die_private": "Это видите только вы; это не отправляется.",
        "forced": "Бросьте кубик так, чтобы никто не видел, и не сообщайте нам результат. Если выпало {yes}, "
        "ответьте «Да» независимо от правды. Если выпало {no}, ответьте «Нет». В остальных случаях ответьте честно.",
        "mirror": "Бросьте кубик так, чтобы никто не видел, и не сообщайте нам результат. Если выпало {a}, ответьте "
        "«Да», если утверждение ВЕРНО для вас. Иначе ответьте «Да», если оно НЕВЕРНО для вас.",
        "language": "Language: English",
        "other_lang": "en",
        "required": "Пожалуйста, ответьте: {q}",
        "title_suffix": "",
        "decline": "Предпочитаю не отвечать",
        "not_asked": "Ко мне не относится (пропустить)",
        "skip_note": "Отвечайте, только если {conds}; иначе выберите «Ко мне не относится».",
        "skip_part": "на вопрос {n} вы ответили {answers}",
        "and": " и ",
        "pick": "Выберите\u2026",
        "consent_title": "Перед началом",
        "start": "Я согласен(на)",
    },
}


MESSAGES: dict[str, dict[str, str]] = {
    "missing": {"en": "missing answer '{col}'; allowed values: {allowed}",
                "ru": "нет ответа '{col}'; допустимые значения: {allowed}"},
    "bad_type": {"en": "answer '{col}' must be one of {allowed}, got {value}",
                 "ru": "ответ '{col}' должен быть одним из {allowed}, получено {value}"},
    "not_allowed": {"en": "answer '{col}' = {value} is not allowed; use one of {allowed}",
                    "ru": "ответ '{col}' = {value} недопустим; выберите один из {allowed}"},
    "not_offered": {"en": "answer '{col}' = {value} is not one of the offered choices; reload the survey page",
                    "ru": "ответ '{col}' = {value} не из предложенных вариантов; обновите страницу опроса"},
    "unknown": {"en": "unknown answer column(s) {cols}; expected {expected}",
                "ru": "неизвестные поля ответа {cols}; ожидаются {expected}"},
    "not_object": {"en": "answers must be an object mapping answer columns to values",
                   "ru": "ответы должны быть объектом: поле ответа -> значение"},
    "too_long": {"en": "the answers do not fit the study's fixed payload size",
                 "ru": "ответы не помещаются в фиксированный размер записи опроса"},
    "consent": {"en": "please tick the box to agree to take part before sending your answers",
                "ru": "пожалуйста, отметьте согласие на участие, прежде чем отправлять ответы"},
    "form_key": {"en": "missing or malformed form key (_key); reload the survey page",
                 "ru": "нет ключа формы (_key) или он искажён; обновите страницу опроса"},
    "form_type": {"en": "send the form as application/x-www-form-urlencoded",
                  "ru": "форма должна отправляться как application/x-www-form-urlencoded"},
    "storage": {"en": "the server could not store your answers; please try again",
                "ru": "сервер не смог сохранить ваши ответы; попробуйте ещё раз"},
    "too_large": {"en": "the form is too large", "ru": "форма слишком велика"},
    "too_slow": {"en": "the form did not arrive in time; please try again",
                 "ru": "форма не пришла вовремя; попробуйте ещё раз"},
    "malformed": {"en": "the form could not be read ({why}); reload the survey page",
                  "ru": "форму не удалось прочитать ({why}); обновите страницу опроса"},
}


class AnswerError(ValueError):
    """A submission that does not fit the questionnaire (the message says which answer and why).

    ``str(exc)`` is English (the JSON API); :meth:`text` gives the message in the page's language.
    """

    def __init__(self, key: str, **params: Any) -> None:
        self.key, self.params = key, params
        super().__init__(MESSAGES[key]["en"].format(**params))

    def text(self, lang: str) -> str:
        return MESSAGES[self.key].get(lang, MESSAGES[self.key]["en"]).format(**self.params)


def _pick(text: Mapping[str, str] | str | None, lang: str, fallback: str = "") -> str:
    if not text:
        return fallback
    if isinstance(text, str):
        return text
    return text.get(lang) or text.get("en") or next(iter(text.values()), fallback)


def _faces(k: int, top: bool = False) -> str:
    """Die faces as text: the first k (1, 1–2, …) or with ``top`` the last k (6, 5–6, …)."""
    lo, hi = (7 - k, 6) if top else (1, k)
    return str(lo) if lo == hi else f"{lo}\u2013{hi}"


def _sixths(x: float | None, where: str) -> int:
    k = round((x or 0.0) * 6)
    if abs(k / 6 - (x or 0.0)) > 0.005:
        raise DesignError(
            f"{where}: probability {x} is not a whole number of die faces (k/6); use multiples of 1/6 "
            "(e.g. 0.1667) or write the die rule yourself in `instructions`"
        )
    return k


def _same(a: Any, b: Any) -> bool:
    """Two codes are the same answer (a TOML code against a stored one: 1 == 1, "1" == 1 as text)."""
    return (a == b and type(a) is type(b)) or str(a) == str(b)


@dataclass(frozen=True)
class Questionnaire:
    """The fieldable form of a study: rendering, answer columns and validation of submissions."""

    study: Study

    @classmethod
    def from_file(cls, path: str | Path) -> Questionnaire:
        q = cls(load_study(path))
        q.check()
        return q

    @property
    def id(self) -> str:
        return self.study.id

    @property
    def languages(self) -> tuple[str, ...]:
        return ("en", "ru")

    @property
    def design(self) -> QuestionnaireSpec:
        """The study's ``[questionnaire]`` table (empty when it has none)."""
        return self.study.design if isinstance(self.study.design, QuestionnaireSpec) else QuestionnaireSpec()

    def check(self) -> None:
        """Fail at start-up (not in front of a respondent) when a question cannot be shown."""
        if not self.study.questions:
            raise DesignError(f"{self.study.path}: the study has no [[questions]] to show; add at least one")
        seen: dict[str, str] = {c: "[questionnaire]" for c in self.design.design_columns()}
        for q in self.study.questions:
            where = f"{self.study.path}: question '{q.id}'"
            for col in self._cols(q):
                if col.startswith("_"):
                    raise DesignError(f"{where}: column '{col}' starts with '_', which the server reserves; rename it")
                if col in seen:
                    raise DesignError(f"{where}: column '{col}' is also used by question '{seen[col]}'; give each answer its own column")
                seen[col] = q.id
            if isinstance(q, ListQuestion) and not q.control_items:
                raise DesignError(f"{where}: a list question needs control_items (and sensitive_item) to be shown")
            if isinstance(q, ListQuestion | DoubleListQuestion) and not q.sensitive_item:
                raise DesignError(f"{where}: add sensitive_item, the statement added to the treatment list")
            if isinstance(q, DoubleListQuestion) and not (q.control_items_a and q.control_items_b):
                raise DesignError(f"{where}: a double list needs control_items_a and control_items_b to be shown")
            if isinstance(q, RRQuestion) and not q.instructions:
                if q.design in ("unrelated", "disguised"):
                    raise DesignError(f"{where}: the {q.design} design needs `instructions` telling the respondent what to answer for each die result")
                if q.design == "forced":
                    _sixths(q.p1, f"{where}: p1")
                    _sixths(q.p0, f"{where}: p0")
                else:
                    _sixths(q.p, f"{where}: p")
        for lang in self.languages:  # list lengths must match the declared number of items
            for q in self.study.questions:
                if isinstance(q, ListQuestion) and len(self._list_items(q.control_items, lang)) != q.items:
                    raise DesignError(f"{self.study.path}: question '{q.id}': control_items.{lang} has {len(self._list_items(q.control_items, lang))} items but items = {q.items}")
        combos = 1
        for values in self.arm_choices().values():
            combos *= len(values)
        if combos > MAX_DRAW_COMBINATIONS:
            raise DesignError(f"{self.study.path}: the random draws (list arms, split arms, block orders) give {combos} "
                              f"different pages, more than {MAX_DRAW_COMBINATIONS}; use fewer splits, arms or blocks")

    @staticmethod
    def _list_items(items: Mapping[str, list[str]], lang: str) -> list[str]:
        return list(items.get(lang) or items.get("en") or next(iter(items.values()), []))

    @staticmethod
    def _cols(q: Any) -> list[str]:
        if isinstance(q, DirectQuestion | ChoiceQuestion | NumericQuestion):
            return q.columns()
        if isinstance(q, ListQuestion):
            return [q.treat, q.count]
        if isinstance(q, DoubleListQuestion):
            return [q.treat, q.count_a, q.count_b]
        return [q.response]

    def columns(self) -> list[str]:
        """The answer columns: the design's (split arms, block order), then each question's in file order."""
        return self.design.design_columns() + [c for q in self.study.questions for c in self._cols(q)]

    # -- the values each column can take ----------------------------------------------------------
    @staticmethod
    def _direct_codes(q: DirectQuestion) -> list[Any]:
        return answer_codes(q)

    def _allowed(self, q: Any, arm: int | None = None) -> dict[str, list[Any]]:
        """Allowed values of each of ``q``'s columns; for list questions under ``arm`` (None: any arm).

        A question asked only to some respondents (``ask_if``) also takes None: not asked.
        """
        d = [q.decline] if getattr(q, "decline", None) is not None else []
        out: dict[str, list[Any]]
        if isinstance(q, DirectQuestion | NumericQuestion):
            out = {q.column: answer_codes(q)}
        elif isinstance(q, ChoiceQuestion):
            out = ({c: [1, 0] for c in q.columns()} if q.multiple else {q.column: answer_codes(q)})
        elif isinstance(q, ListQuestion):
            top = q.items + (1 if (arm is None or arm == 1 or q.placebo) else 0)
            out = {q.treat: [0, 1], q.count: list(range(top + 1)) + d}
        elif isinstance(q, DoubleListQuestion):
            a = q.items_a + (1 if arm in (None, 1) else 0)
            b = q.items_b + (1 if arm in (None, 0) else 0)
            out = {q.treat: [0, 1], q.count_a: list(range(a + 1)) + d, q.count_b: list(range(b + 1)) + d}
        else:
            out = {q.response: [0, 1] + d}
        if q.ask_if:
            out = {c: [*v, None] for c, v in out.items()}
        return out

    @cached_property
    def _values(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for s in self.design.splits:
            out[s.column] = s.values()
        if self.design.order is not None:
            out[self.design.order.column] = self.design.order.values()
        for q in self.study.questions:
            out.update(self._allowed(q))
        return out

    def column_values(self) -> dict[str, list[Any]]:
        """Every value each answer column can take (under any arm), in the order the form offers them."""
        return {c: list(v) for c, v in self._values.items()}

    def form_value(self, column: str, value: Any) -> str:
        """What the form sends for ``value``: its position among the column's values, zero-padded.

        Every value of a column has the same width, so the length of a posted form says nothing
        about the answers (an observer of encrypted traffic sees lengths).
        """
        values = self._values[column]
        at = next(i for i, v in enumerate(values) if (v is None and value is None) or (v is not None and _same(v, value)))
        return str(at).zfill(len(str(len(values) - 1)))

    def arm_choices(self) -> dict[str, list[int]]:
        """The random draws of a page: list question id -> arms, split or block-order column -> values.

        (The position of a list's sensitive item is drawn too; it moves text, not the page length.)
        """
        out: dict[str, list[int]] = {q.id: [0, 1] for q in self.study.questions if isinstance(q, ListQuestion | DoubleListQuestion)}
        out.update({s.column: s.values() for s in self.design.splits})
        if self.design.order is not None:
            out[self.design.order.column] = self.design.order.values()
        return out

    def sequence(self, order: int | None) -> list[Any]:
        """The questions in the order shown under block-order draw ``order`` (1 or None: the file's)."""
        qs = list(self.study.questions)
        o = self.design.order
        if o is None or order is None:
            return qs
        ids = {qid for b in o.blocks for qid in b}
        slots = [i for i, q in enumerate(qs) if q.id in ids]
        by_id = {q.id: q for q in qs}
        moved = [by_id[qid] for b in o.permutations()[order - 1] for qid in o.blocks[b]]
        for i, q in zip(slots, moved, strict=True):
            qs[i] = q
        return qs

    def _split_ok(self, q: Any, draws: Mapping[str, Any]) -> bool:
        """Whether ``q`` is asked in the split arms drawn (conditions on splits only)."""
        return all(any(_same(draws[c], x) for x in codes) for c, codes in q.ask_if.items() if self.design.split(c))

    def asked(self, q: Any, answers: Mapping[str, Any]) -> bool:
        """Whether ``q`` is asked, given the split arms and the earlier answers in ``answers``."""
        return all(answers.get(c) is not None and any(_same(answers[c], x) for x in codes) for c, codes in q.ask_if.items())

    # -- rendering --------------------------------------------------------------------------------
    def render(self, lang: str, rng: secrets.SystemRandom | None = None,
               arms: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
        """View models for the template; list arms, split arms, block order and item positions are
        drawn here, per page (on the server, which keeps none of them: they travel in the form).

        ``arms`` fixes some draws (list question id, split or order column -> value).
        """
        rng = rng or secrets.SystemRandom()
        ui = UI[lang]
        fixed = dict(arms or {})
        blocks: list[dict[str, Any]] = []
        draws: dict[str, int] = {}
        for s in self.design.splits:
            draws[s.column] = fixed[s.column] if s.column in fixed else s.draw(rng)  # with the declared probabilities
        o = self.design.order
        if o is not None:
            draws[o.column] = fixed[o.column] if o.column in fixed else rng.choice(o.values())
        if draws:
            blocks.append({"n": 0, "id": "_design", "type": "design", "hidden": [(c, self.form_value(c, v)) for c, v in draws.items()]})

        def radios(col: str, labels: list[tuple[Any, str]], cond: bool) -> list[tuple[str, str]]:
            out = [(self.form_value(col, v), text) for v, text in labels]
            return out + ([(self.form_value(col, None), ui["not_asked"])] if cond else [])

        shown: dict[str, tuple[int, Any]] = {}  # answer column -> (question number, question) for skip notes
        n = 0
        for q in self.sequence(draws.get(o.column) if o else None):
            cols = self._cols(q)
            if not self._split_ok(q, draws):  # another arm's question: its columns go as "not asked"
                blocks.append({"n": 0, "id": q.id, "type": "absent", "hidden": [(c, self.form_value(c, None)) for c in cols]})
                continue
            n += 1
            for c in cols:
                shown[c] = (n, q)
            cond = {c: codes for c, codes in q.ask_if.items() if not self.design.split(c)}
            b: dict[str, Any] = {"n": n, "id": q.id, "type": q.type, "hidden": [], "virtual_die": False, "cond": None}
            if cond:
                b["cond"] = {"data": _json({c: [self.form_value(c, x) for x in codes] for c, codes in cond.items()}),
                             "note": self._skip_note(cond, shown, lang),
                             "skip": {c: self.form_value(c, None) for c in cols}}
            arm = fixed.get(q.id)
            if arm is None:
                arm = rng.randrange(2)
            decline = getattr(q, "decline", None)
            dl = [(decline, ui["decline"])] if decline is not None else []
            text = _pick(q.wordings[draws[q.wording_by] - 1], lang) if q.wording_by else None
            if isinstance(q, DirectQuestion):
                labels = [(o_.code, _pick(o_.text, lang, str(o_.code))) for o_ in q.options]
                if not labels:
                    labels = [(c, ui["yes"]) for c in q.yes] + [(0 if 0 not in q.yes else 2, ui["no"])]
                labels += [(c, ui["hard_to_say"]) for c in q.hard_to_say]
                labels += [(c, ui["refused"]) for c in q.refused]
                b.update(text=text or _pick(q.text, lang, q.id), name=q.column, choices=radios(q.column, labels, bool(cond)))
            elif isinstance(q, ChoiceQuestion):
                labels = [(o_.code, _pick(o_.text, lang, str(o_.code))) for o_ in q.options]
                b.update(text=text or _pick(q.text, lang, q.id), name=q.column)
                if q.multiple:
                    b.update(type="multiple", rows=[(lab, c, radios(c, [(1, ui["yes"]), (0, ui["no"])], bool(cond)))
                                                    for (_, lab), c in zip(labels, q.columns(), strict=True)])
                else:
                    b.update(choices=radios(q.column, labels, bool(cond)))
            elif isinstance(q, NumericQuestion):
                b.update(text=text or _pick(q.text, lang, q.id), name=q.column,
                         choices=radios(q.column, [(v, str(v)) for v in range(q.min, q.max + 1)], bool(cond)),
                         placeholder=ui["pick"])
            elif isinstance(q, ListQuestion):
                items = self._list_items(q.control_items, lang)
                extra = _pick(q.sensitive_item, lang) if arm else _pick(q.placebo, lang)
                if extra:
                    items.insert(rng.randrange(len(items) + 1), extra)
                b.update(text=text or _pick(q.lead, lang, ui["list_lead"]), items=items, name=q.count,
                         hidden=[(q.treat, self.form_value(q.treat, arm))],
                         counts=radios(q.count, [(c, str(c)) for c in range(len(items) + 1)] + dl, bool(cond)))
            elif isinstance(q, DoubleListQuestion):  # arm 1: sensitive item on list A
                lists = []
                for label, ctrl, col, on in (("list_a", q.control_items_a, q.count_a, arm == 1),
                                             ("list_b", q.control_items_b, q.count_b, arm == 0)):
                    items = self._list_items(ctrl, lang)
                    if on:
                        items.insert(rng.randrange(len(items) + 1), _pick(q.sensitive_item, lang))
                    lists.append({"label": ui[label], "items": items, "name": col,
                                  "counts": radios(col, [(c, str(c)) for c in range(len(items) + 1)] + dl, bool(cond))})
                b.update(text=text or ui["double_lead"], lists=lists, hidden=[(q.treat, self.form_value(q.treat, arm))])
            elif isinstance(q, RRQuestion):
                b.update(text=text or _pick(q.text, lang, q.id), name=q.response, instructions=self._rr_rule(q, lang),
                         choices=radios(q.response, [(1, ui["yes"]), (0, ui["no"])] + dl, bool(cond)),
                         virtual_die=q.device == "browser")
            elif isinstance(q, CrosswiseQuestion):
                b.update(text=_pick(q.instructions, lang, ui["cw_lead"]), name=q.response,
                         statements=[(ui["statement_a"], text or _pick(q.text, lang)), (ui["statement_b"], _pick(q.innocuous, lang))],
                         choices=radios(q.response, [(1, ui["cw_same"]), (0, ui["cw_diff"])] + dl, bool(cond)))
            blocks.append(b)
        return blocks

    def _skip_note(self, cond: Mapping[str, tuple[Any, ...]], shown: Mapping[str, tuple[int, Any]], lang: str) -> str:
        """"Answer only if you answered “Yes” to question 3" (what a page without JavaScript shows)."""
        parts = []
        for c, codes in cond.items():
            n, q = shown.get(c, (0, None))
            labels = dict(self.option_labels(q, lang)) if q is not None else {}
            said = ", ".join(f"\u201c{labels.get(x, x)}\u201d" for x in codes)
            parts.append(UI[lang]["skip_part"].format(n=n, answers=said))
        return UI[lang]["skip_note"].format(conds=UI[lang]["and"].join(parts))

    @staticmethod
    def option_labels(q: Any, lang: str) -> list[tuple[Any, str]]:
        """(code, label) of a single-answer question's options, in ``lang``."""
        ui = UI[lang]
        if isinstance(q, NumericQuestion):
            return [(v, str(v)) for v in range(q.min, q.max + 1)]
        if isinstance(q, DirectQuestion) and not q.options:
            out = [(c, ui["yes"]) for c in q.yes] + [(0 if 0 not in q.yes else 2, ui["no"])]
        else:
            out = [(o.code, _pick(o.text, lang, str(o.code))) for o in getattr(q, "options", ())]
        if isinstance(q, DirectQuestion):
            out += [(c, ui["hard_to_say"]) for c in q.hard_to_say] + [(c, ui["refused"]) for c in q.refused]
        return out

    def _rr_rule(self, q: RRQuestion, lang: str) -> str:
        return self.rr_rule(q, lang)

    @staticmethod
    def rr_rule(q: RRQuestion, lang: str) -> str:
        """The die rule of a randomized-response question, in ``lang`` (the study's own, or from p)."""
        if q.instructions:
            return _pick(q.instructions, lang)
        if q.design == "forced":
            return UI[lang]["forced"].format(yes=_faces(_sixths(q.p1, q.id)), no=_faces(_sixths(q.p0, q.id), top=True))
        return UI[lang]["mirror"].format(a=_faces(_sixths(q.p, q.id)))

    # -- validation ------------------------------------------------------------------------------
    def answers_from_form(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Pick the answer columns out of a posted form (zero-padded positions) and validate them."""
        values = self._values
        answers: dict[str, Any] = {}
        for col, allowed in values.items():
            if col not in form or form[col] == "":
                continue
            sent = form[col]
            width = len(str(len(allowed) - 1))
            if len(sent) != width or not sent.isdigit() or int(sent) >= len(allowed):
                raise AnswerError("not_offered", col=col, value=repr(sent[:40]))
            answers[col] = allowed[int(sent)]
        return self.validate(answers)

    def validate(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Check every answer against its question; returns the answers in column order.

        A question not asked (another split arm, or skipped by an earlier answer) is stored as
        None whatever was sent for it. Raises :class:`AnswerError` naming the column and the
        allowed values (in English and Russian).
        """
        if not isinstance(answers, Mapping):
            raise AnswerError("not_object")
        unknown = sorted(set(answers) - set(self.columns()))
        if unknown:
            raise AnswerError("unknown", cols=", ".join(map(repr, unknown[:5])), expected=", ".join(self.columns()))
        out: dict[str, Any] = {}
        for col in self.design.design_columns():
            out[col] = self._code(answers, col, self._values[col])
        for q in self.study.questions:
            if not self.asked(q, out):
                for col in self._cols(q):
                    out[col] = None
                continue
            arm = None
            if isinstance(q, ListQuestion | DoubleListQuestion):
                arm = out[q.treat] = self._code(answers, q.treat, [0, 1])
            for col, allowed in self._allowed(q, arm).items():
                if col not in out:
                    out[col] = self._code(answers, col, [a for a in allowed if a is not None])
        return {c: out[c] for c in self.columns()}

    @staticmethod
    def _code(answers: Mapping[str, Any], col: str, allowed: list[Any]) -> Any:
        shown = ", ".join(map(str, allowed))
        if col not in answers or answers[col] in (None, ""):
            raise AnswerError("missing", col=col, allowed=shown)
        v = answers[col]
        if isinstance(v, bool) or not isinstance(v, int | str | float):
            raise AnswerError("bad_type", col=col, allowed=shown, value=json.dumps(v)[:40])
        for a in allowed:  # accept the code itself or its text form
            if v == a and type(v) is type(a):
                return a
            if isinstance(v, str) and v == str(a):
                return a
        raise AnswerError("not_allowed", col=col, allowed=shown, value=repr(str(v)[:40]))

    def answer_schema(self) -> dict[str, Any]:
        """JSON Schema of the ``answers`` object (for the OpenAPI description)."""
        props: dict[str, Any] = {}
        required = []
        for col, values in self.column_values().items():
            codes = [v for v in values if v is not None]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in codes) and codes == list(range(codes[0], codes[0] + len(codes))):
                props[col] = {"type": "integer", "minimum": codes[0], "maximum": codes[-1]}
            else:
                props[col] = {"enum": codes}
            if None in values:  # asked only to some respondents
                props[col] = {"anyOf": [props[col], {"type": "null"}]}
            else:
                required.append(col)
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}

    # -- the sealed plaintext --------------------------------------------------------------------
    def payload_size(self) -> int:
        """The one plaintext length of every sealed answer of this study (its longest possible payload)."""
        return self._payload_size

    @cached_property
    def _payload_size(self) -> int:
        longest = {col: max(values, key=lambda v: len(_json(v))) for col, values in self._values.items()}
        return len(_encode(self.id, longest, "0000-00-00", bytes(32)))

    def payload_size_with(self, extra: Mapping[str, str]) -> int:
        """The one plaintext length when string columns ``extra`` (their longest values) go first in the answers."""
        longest = {col: max(values, key=lambda v: len(_json(v))) for col, values in self._values.items()}
        return len(_encode(self.id, {**extra, **longest}, "0000-00-00", bytes(32)))

    def encode(self, answers: Mapping[str, Any], *, day: str, server: bytes, size: int | None = None) -> bytes:
        """The plaintext to seal: answers, the day and the server token, padded to :meth:`payload_size`
        (or to ``size``, the interviewer mode's, whose answers carry the case and interviewer too)."""
        raw = _encode(self.id, answers, day, server)
        size = self.payload_size() if size is None else size
        if len(raw) > size:  # validated answers never are; anything else must not leak through its length
            raise AnswerError("too_long")
        return raw + b" " * (size - len(raw))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _encode(study_id: str, answers: Mapping[str, Any], day: str, server: bytes) -> bytes:
    obj = {"v": PAYLOAD_VERSION, "study": study_id, "day": day, "srv": base64.b64encode(server).decode("ascii"),
           "answers": dict(answers)}
    return _json(obj).encode("utf-8")


@dataclass(frozen=True)
class Payload:
    """A decrypted submission: its study, the day it arrived, the server token, the answers."""

    study: str
    day: str
    server: bytes
    answers: dict[str, Any]


def decode_payload(plain: bytes) -> Payload:
    """Inverse of :meth:`Questionnaire.encode`; raises ``ValueError`` on anything else."""
    obj = json.loads(plain.decode("utf-8"))
    if (not isinstance(obj, dict) or obj.get("v") != PAYLOAD_VERSION or not isinstance(obj.get("answers"), dict)
            or not isinstance(obj.get("srv"), str)):
        raise ValueError("not a sottovoce submission")
    return Payload(str(obj.get("study")), str(obj.get("day", "")), base64.b64decode(obj["srv"]), obj["answers"])
