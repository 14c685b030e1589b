"""Counted nouns that agree with their number, for every message a user reads.

English has two forms (1 poll, 2 polls). Russian has three, chosen by the last one or two digits
(1 опрос, 2 опроса, 5 опросов, 11 опросов, 21 опрос), and the form also depends on the case the
sentence needs, so callers pass the three forms of the case they need (nominative after a bare
count, genitive after «из»/«меньше», and so on).
"""

from __future__ import annotations

__all__ = ["plural_ru", "en_form", "count_en", "count_ru"]


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form for a count: 1 пункт, 2 пункта, 5 пунктов, 11 пунктов, 21 пункт."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def en_form(n: int, one: str, many: str) -> str:
    """The English word that agrees with ``n``: a verb (``"is"``/``"are"``) or an irregular noun."""
    return one if abs(int(n)) == 1 else many


def count_en(n: int, one: str, many: str | None = None) -> str:
    """``"1 poll"``, ``"3 polls"``; ``many`` for irregular plurals (``"1 analysis"``, ``"2 analyses"``)."""
    return f"{int(n)} {en_form(n, one, many or one + 's')}"


def count_ru(n: int, one: str, few: str, many: str) -> str:
    """``"1 опрос"``, ``"3 опроса"``, ``"5 опросов"`` (the forms of the case the sentence needs)."""
    return f"{int(n)} {plural_ru(n, one, few, many)}"
