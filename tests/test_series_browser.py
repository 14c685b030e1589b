"""The series report in Debian chromium (Playwright): offline, no console errors, a chart and a
per-wave table per question (hard to say and refusals included), both languages; screenshots in
test-artifacts/."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from browser_support import assert_charts, open_offline, screenshot
from sottovoce.errors import SottovoceWarning
from sottovoce.survey_series import series

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("series-browser")
    rng = np.random.default_rng(7)
    waves, maps = [], {}
    for i, p_yes in enumerate([0.6, 0.55, 0.5, 0.52]):
        n = 400
        df = pd.DataFrame({"q": rng.choice([1, 2, 99, 100], n, p=[p_yes, 0.6 - p_yes + 0.2, 0.1, 0.1]),
                           "sex": rng.choice([1, 2], n), "arm": rng.choice([1, 2], n), "w": rng.uniform(0.5, 2, n)})
        df.to_csv(tmp / f"w{i}.csv", index=False)
        waves.append({"id": f"w{i}", "file": str(tmp / f"w{i}.csv"), "start": f"2024-0{2 * i + 1}-01", "end": f"2024-0{2 * i + 1}-06",
                      "pollster": "P", "weights": "w", "label": {"en": f"Wave {i}", "ru": f"Волна {i}"}})
        maps[f"w{i}"] = {"column": "q", "codes": {"yes": [1], "no": [2], "hts": [99], "ref": [100]}}
    maps["w1"] = {**maps["w1"], "split": "arm", "arms": {"1": "main", "2": "new"}}
    doc = {"series": {"id": "t", "title": {"en": "Test tracker", "ru": "Тестовый трекер"}}, "waves": waves,
           "questions": [{"id": "support", "text": {"en": "Support", "ru": "Поддержка"}, "track": "yes", "categories": [
               {"id": "yes", "en": "Support", "ru": "Поддерживаю"}, {"id": "no", "en": "Oppose", "ru": "Не поддерживаю"},
               {"id": "hts", "en": "Hard to say", "ru": "Затрудняюсь ответить", "kind": "hard_to_say"},
               {"id": "ref", "en": "Refused", "ru": "Отказ", "kind": "refused"}], "waves": maps},
               {"id": "sex", "text": {"en": "Sex", "ru": "Пол"}, "categories": [{"id": "m", "en": "Men", "ru": "Мужчины"}, {"id": "f", "en": "Women", "ru": "Женщины"}],
                "waves": {w["id"]: {"column": "sex", "codes": {"m": [1], "f": [2]}} for w in waves}}],
           "derive": [{"id": "both", "text": {"en": "Supporting men", "ru": "Мужчины-сторонники"},
                       "all": [{"question": "support", "in": ["yes"]}, {"question": "sex", "in": ["m"]}]}],
           "report": {"subgroups": ["sex"]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SottovoceWarning)
        res = series(doc, tmp / "out")
    ru = tmp / "report-ru.html"
    ru.write_text(res.report_html("ru"), encoding="utf-8")
    return {"en": tmp / "out" / "report.html", "ru": ru}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_survey_series_report_in_chromium(browser, reports, lang):
    opened = open_offline(browser, reports[lang])
    page = opened.page
    assert opened.loaded_alone(), (opened.requests, opened.errors)
    assert page.evaluate("document.documentElement.lang") == lang
    for sec in ("waves", "q-support", "q-both", "methods"):
        assert page.locator(f"#{sec}").is_visible(), sec
    table = page.locator("#q-support table.per-wave")
    head = table.locator("thead").inner_text()
    assert ("Hard to say" in head and "Refused" in head) if lang == "en" else ("Затрудняюсь ответить" in head and "Отказ" in head)
    assert table.locator("tbody tr").count() == 5  # four waves, the second split into two wordings
    assert "main" in page.locator("#q-support").inner_text()
    assert page.locator("#q-support p.trend").count() == 1  # the one-wave wording is left out, the trend stands
    assert_charts(page, 4, 300)  # per question, per composite, subgroup trends
    screenshot(page, f"series-{lang}")
    page.close()
