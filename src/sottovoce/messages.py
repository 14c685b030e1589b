"""Estimator warnings in the reader's language, for the console of ``--lang`` commands.

The estimators word their warnings in English, for the Python user and the logs. A command run
with ``--lang ru`` prints them to a Russian reader, so before printing, :func:`translate` rewrites
the known parts of a message through the report's catalogue (:data:`sottovoce.report.text.STRINGS`,
keys ``msg_*``). Each English template there is also the pattern that finds it: its placeholders
match the counted noun, the verb or the quoted name, so the English wording and its pattern can
never drift apart. A part no template matches stays English (a column name or a rarer message
still reads, and nothing is lost); the ``warning:`` and ``error:`` prefixes stay too, for scripts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from ._words import count_ru, plural_ru
from .report.text import STRINGS

__all__ = ["translate"]

# What each placeholder of an English template matches.
_SLOTS = {
    "n": r"(?P<n>\d+) respondents?",
    "verb": r"(?P<verb>is|are)",
    "method": r"(?P<method>[\w-]+)",
    "wave": r"(?P<wave>[^']+)",
    "name": r"(?P<name>[^']+)",
}

# How a Russian template's placeholders are filled from what the English one matched.
_CI_RU = {"wilson": "Уилсона", "logit": "логит", "beta": "Корна–Грауберда", "wald": "Вальда", "t": "t"}


def _n_nominative(n: int) -> str:
    return count_ru(n, "респондент", "респондента", "респондентов")


def _n_dative(n: int) -> str:  # «по 1 респонденту», «по 5 респондентам»
    return count_ru(n, "респонденту", "респондентам", "респондентам")


def _excluded(n: int) -> str:
    return plural_ru(n, "исключён", "исключены", "исключены")


_RU_FILL: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "msg_wave": lambda g: {"wave": g["wave"]},
    "msg_boundary": lambda g: {"method": _CI_RU.get(g["method"], g["method"]), "n": _n_dative(int(g["n"]))},
    "msg_zero_variance": lambda g: {"method": _CI_RU.get(g["method"], g["method"]), "n": _n_dative(int(g["n"]))},
    "msg_no_answer": lambda g: {"n": _n_nominative(int(g["n"])), "name": g["name"], "verb": _excluded(int(g["n"]))},
    "msg_zero_weight": lambda g: {"n": _n_nominative(int(g["n"])), "verb": _excluded(int(g["n"]))},
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else _SLOTS[p] for i, p in enumerate(parts)))


@cache
def _catalogue() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((key, _pattern(STRINGS["en"][key])) for key in _RU_FILL)


_FILL = {"ru": _RU_FILL}


def translate(text: str, lang: str | None) -> str:
    """``text`` (an estimator's English warning) in ``lang``: each known part reworded, the rest kept."""
    fill = _FILL.get(lang or "en")
    if fill is None:
        return text
    for key, pattern in _catalogue():
        target, how = STRINGS[str(lang)][key], fill[key]

        def reword(m: re.Match[str], target: str = target, how: Callable[[dict[str, str]], dict[str, str]] = how) -> str:
            return target.format(**how(m.groupdict()))

        text = pattern.sub(reword, text)
    return text
