"""Every text of the vendor script and the field report, in English and Russian."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["T", "pick", "TEXTS"]

TEXTS: dict[str, dict[str, str]] = {
    # script
    "sheet_script": {"en": "Script", "ru": "Сценарий"},
    "sheet_assignment": {"en": "Assignment", "ru": "Распределение"},
    "sheet_about": {"en": "About", "ru": "О плане"},
    "col_no": {"en": "No.", "ru": "№"},
    "col_var": {"en": "Variable(s)", "ru": "Переменные"},
    "col_read": {"en": "Read out", "ru": "Зачитать"},
    "col_codes": {"en": "Codes to record", "ru": "Коды для записи"},
    "col_instr": {"en": "Interviewer instructions", "ru": "Инструкции интервьюеру"},
    "read_intro": {"en": "Read before the first question.", "ru": "Прочитайте перед первым вопросом."},
    "consent_rule": {"en": "Continue only if the respondent agrees; otherwise end the interview and code it as a refusal.",
                     "ru": "Продолжайте, только если респондент согласен; иначе завершите интервью и закодируйте отказ."},
    "block": {"en": "block", "ru": "блок"},
    "order_rule": {"en": "Ask the blocks in the order given for the case in column {col} of the Assignment sheet ({blocks}). Record {col} as assigned.",
                   "ru": "Задавайте блоки в порядке, указанном для этого номера в столбце {col} листа «Распределение» ({blocks}). Запишите {col} как назначено."},
    "wording_rule": {"en": "Read the wording of the case's arm in column {col} of the Assignment sheet; record {col} as assigned.",
                     "ru": "Зачитайте формулировку для группы этого номера из столбца {col} листа «Распределение»; запишите {col} как назначено."},
    "see_wording": {"en": "Wording by column {col}: see the instructions", "ru": "Формулировка по столбцу {col}: см. инструкции"},
    "ask_if_rule": {"en": "Ask only if {col} is {codes}; otherwise skip and leave it empty.",
                    "ru": "Задавайте, только если {col} = {codes}; иначе пропустите и оставьте пустым."},
    "list_rule": {"en": "Column {treat} of the Assignment sheet: 0 = read the {j} statements; 1 = read them with \u201c{item}\u201d added as the third. Record ONLY THE NUMBER in {count}; never ask which ones. Record {treat} as assigned.",
                  "ru": "Столбец {treat} листа «Распределение»: 0 = зачитайте {j} утверждения; 1 = зачитайте их, добавив третьим «{item}». Запишите в {count} ТОЛЬКО КОЛИЧЕСТВО; никогда не спрашивайте, какие именно. Запишите {treat} как назначено."},
    "double_rule": {"en": "Column {treat}: 1 = add \u201c{item}\u201d to list A; 0 = add it to list B. Record only the numbers.",
                    "ru": "Столбец {treat}: 1 = добавьте «{item}» в список А; 0 = в список Б. Записывайте только количество."},
    "rr_rule": {"en": "Randomized response: the respondent uses a die (or a random number only they know) and answers by the rule; never ask the die result.",
                "ru": "Рандомизированный ответ: респондент бросает кубик (или берёт случайное число, известное только ему) и отвечает по правилу; никогда не спрашивайте результат."},
    "cw_rule": {"en": "Read both statements; the respondent says only whether both are true/false or exactly one is true.",
                "ru": "Зачитайте оба утверждения; респондент говорит только, одинаковы ли они для него или верно ровно одно."},
    "decline": {"en": "Prefer not to say", "ru": "Предпочитаю не отвечать"},
    "do_not_read": {"en": "do not read out", "ru": "не зачитывать"},
    "hard_to_say": {"en": "Hard to say", "ru": "Затрудняюсь ответить"},
    "refused": {"en": "Refused", "ru": "Отказ от ответа"},
    "yes": {"en": "Yes", "ru": "Да"},
    "no": {"en": "No", "ru": "Нет"},
    "cw_same": {"en": "both true or both false", "ru": "оба верны или оба неверны"},
    "cw_diff": {"en": "exactly one true", "ru": "верно ровно одно"},
    "list_lead": {"en": "How many of these statements apply to you? Only say how many.",
                  "ru": "Сколько из этих утверждений относятся к вам? Назовите только количество."},
    "multiple_codes": {"en": "1 = mentioned, 0 = not mentioned, one variable per option: {items}",
                       "ru": "1 = назван, 0 = не назван, по переменной на вариант: {items}"},
    "return_rule": {"en": "Return an SPSS .sav file with one row per completed interview: case_id, every variable of the Script sheet with the codes given there, the assigned columns as assigned, interviewer id (interviewer) and interview length in seconds (duration).",
                    "ru": "Верните файл SPSS .sav, по строке на завершённое интервью: case_id, все переменные листа «Сценарий» с указанными там кодами, назначенные столбцы как назначено, номер интервьюера (interviewer) и длительность интервью в секундах (duration)."},
    # report
    "report_title": {"en": "Field check", "ru": "Проверка полевого этапа"},
    "ok": {"en": "OK", "ru": "норма"},
    "problem": {"en": "PROBLEM", "ru": "ПРОБЛЕМА"},
    "skipped": {"en": "not checked", "ru": "не проверено"},
    # {checks}, {of_checks} and {interviews} are counted phrases (see fielding.report.summary_line)
    "summary_ok": {"en": "No problem found in {checks} of {interviews}.", "ru": "В {checks} {interviews} проблем не найдено."},
    "summary_bad": {"en": "{p} of {of_checks} found a problem in {interviews}.", "ru": "{p} из {of_checks} {found} проблему в {interviews}."},
    "file": {"en": "Vendor file", "ru": "Файл подрядчика"},
    "mapping": {"en": "Mapping to the study", "ru": "Сопоставление с исследованием"},
    "balance": {"en": "Arms balanced on demographics", "ru": "Баланс групп по демографии"},
    "shares": {"en": "Arm sizes as assigned", "ru": "Размеры групп по плану"},
    "assignment": {"en": "Assignment file honoured", "ru": "Соблюдение распределения"},
    "ranges": {"en": "Answers in range (per arm)", "ru": "Ответы в допустимых пределах (по группам)"},
    "design_test": {"en": "List experiment: design effect test", "ru": "Списочный эксперимент: тест эффекта дизайна"},
    "interviewer": {"en": "Interviewer effects (intra-interviewer correlation)", "ru": "Эффекты интервьюеров (внутриинтервьюерная корреляция)"},
    "straightlining": {"en": "Straight-lining", "ru": "Однотипные ответы"},
    "short": {"en": "Too-short interviews", "ru": "Слишком короткие интервью"},
    "no_column": {"en": "column {col} is not in the file", "ru": "столбца {col} нет в файле"},
}


def T(key: str, lang: str) -> str:
    """The text ``key`` in ``lang`` (English when missing)."""
    entry = TEXTS[key]
    return entry.get(lang) or entry["en"]


def pick(text: Mapping[str, str] | str | None, lang: str) -> str:
    """A study-file text in ``lang`` (falling back to English, then to any language)."""
    if not text:
        return ""
    if isinstance(text, str):
        return text
    return text.get(lang) or text.get("en") or next(iter(text.values()), "")
