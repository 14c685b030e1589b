"""Counted nouns agree with their number in what users read: "1 house", not "1 houses"; Russian
with its three forms (1 опрос, 2 опроса, 5 опросов)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce._words import count_en, count_ru, en_form, plural_ru
from sottovoce.dynamics import fit_trend
from sottovoce.fielding.report import summary_line
from sottovoce.report.text import fewer_than


@pytest.mark.parametrize(("n", "word"), [(0, "опросов"), (1, "опрос"), (2, "опроса"), (4, "опроса"), (5, "опросов"),
                                         (11, "опросов"), (12, "опросов"), (14, "опросов"), (21, "опрос"), (22, "опроса"),
                                         (101, "опрос"), (111, "опросов"), (112, "опросов"), (1002, "опроса")])
def test_russian_plural_forms_from_the_grammar_table(n, word):
    assert count_ru(n, "опрос", "опроса", "опросов") == f"{n} {word}"


@given(st.integers(0, 10**6))
def test_russian_form_depends_on_the_last_two_digits_only(n):
    forms = ("a", "b", "c")
    assert plural_ru(n, *forms) == plural_ru(n % 100, *forms) == plural_ru(n + 100, *forms)


def test_english_counts():
    assert [count_en(k, "house") for k in (0, 1, 2)] == ["0 houses", "1 house", "2 houses"]
    assert count_en(1, "analysis", "analyses") == "1 analysis" and count_en(3, "analysis", "analyses") == "3 analyses"
    assert en_form(1, "is", "are") == "is" and en_form(7, "is", "are") == "are"
    assert fewer_than(1, "en") == "1 respondent" and fewer_than(21, "ru") == "21 респондента"


def test_a_trend_from_one_pollster_says_one_house():
    """The trend's title read "18 polls, 1 houses" for a single pollster."""
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta([0, 30, 60, 90, 120], unit="D")
    df = pd.DataFrame({"pollster": "P", "start": start, "end": start, "n": 1000, "yes": [50, 52, 51, 49, 50]})
    title = fit_trend(df).summary().splitlines()[0]
    assert "5 polls, 1 house," in title, title
    assert not re.search(r"\b1 (polls|houses)\b", title)


def _check(n_checks: int, n_bad: int, n: int) -> SimpleNamespace:
    checks = [SimpleNamespace(status="problem" if i < n_bad else "ok") for i in range(n_checks)]
    return SimpleNamespace(checks=checks, n=n, problems=lambda: [c for c in checks if c.status == "problem"])


def test_field_check_summary_agrees_in_both_languages():
    assert summary_line(_check(1, 0, 1)) == "No problem found in 1 check of 1 interview."
    assert summary_line(_check(9, 1, 300)) == "1 of 9 checks found a problem in 300 interviews."
    assert summary_line(_check(1, 0, 5), "ru") == "В 1 проверке 5 интервью проблем не найдено."
    assert summary_line(_check(9, 0, 5), "ru") == "В 9 проверках 5 интервью проблем не найдено."
    assert summary_line(_check(21, 1, 5), "ru") == "1 из 21 проверки нашла проблему в 5 интервью."
    assert summary_line(_check(9, 3, 5), "ru") == "3 из 9 проверок нашли проблему в 5 интервью."
