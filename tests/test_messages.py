"""Console messages follow --lang: the estimators' English warnings are reworded through the
report's catalogue (sottovoce.messages), and what the CLI prints around the tables is translated."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from sottovoce.messages import _RU_FILL, translate
from sottovoce.report.text import STRINGS
from sottovoce.survey import Survey


def _warnings_of(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return [str(w.message) for w in caught] + list(getattr(out, "warnings", ()))


def test_the_estimators_own_warnings_are_translated_whole():
    """The real messages (not copies of them): if an estimator rewords one, its template here stops
    matching and this test fails, instead of the Russian console silently going back to English."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.choice([1.0, 2.0], 60), "w": rng.uniform(0.5, 2, 60)})
    df.loc[:2, "a"] = np.nan
    df["one"] = 1.0
    msgs = _warnings_of(lambda: Survey(df, "w").proportion("one"))
    msgs += _warnings_of(lambda: Survey(df, "w").quantile("a", 0.5))
    assert any("estimate is 0 or 1" in m for m in msgs) and any("left out" in m for m in msgs), msgs
    for m in msgs:
        ru = translate(m, "ru")
        words = re.findall(r"[A-Za-z]{3,}", ru)
        assert set(words) <= {"one", "wilson"}, (m, ru)  # only the column name and nothing English
    assert translate(msgs[0], "en") == msgs[0]


def test_every_catalogue_entry_is_reworded_with_agreeing_counts():
    for key in _RU_FILL:
        assert key in STRINGS["ru"], key
    samples = {
        "wave 'w3': ": "волна «w3»: ",
        "estimate is 0 or 1; wilson interval from the 21 respondents": "оценка равна 0 или 1; интервал Уилсона по 21 респонденту",
        "estimated variance is zero; logit interval from the 5 respondents": "оценка дисперсии равна нулю; интервал логит по 5 респондентам",
        "1 respondent with no answer to 'Q4' is left out (a domain)": "1 респондент без ответа на «Q4» исключён из расчёта (как домен)",
        "3 respondents with no answer to 'Q4' are left out (a domain)": "3 респондента без ответа на «Q4» исключены из расчёта (как домен)",
        "11 respondents with zero weight are excluded": "11 респондентов с нулевым весом исключены из расчёта",
    }
    for en, ru in samples.items():
        assert translate(en, "ru") == ru
    assert translate("something new", "ru") == "something new"


def test_analyze_and_demo_print_their_own_lines_in_russian(tmp_path, cli):
    r = cli("demo", "--out", tmp_path / "out", "--lang", "ru")
    assert r.code == 0, r.err
    assert f"отчёт: {tmp_path / 'out' / 'report.html'}" in r.out and "результаты: " in r.out
    assert "симулированное учебное исследование записано в" in r.err
    for english in ("report:", "results:", "simulated example study", "written to"):
        assert english not in r.out + r.err, english
    again = cli("report", tmp_path / "out" / "results.json", "--out", tmp_path / "again.html", "--lang", "ru")
    assert again.code == 0 and again.out.startswith("отчёт: "), again.out
    en = cli("report", tmp_path / "out" / "results.json", "--out", tmp_path / "again.html", "--lang", "en")
    assert en.out.startswith("report: "), en.out
