"""Issue 15 in a real browser (Debian chromium via Playwright): every new question type and design,
in English and Russian, with and without JavaScript. The decrypted rows equal the clicks (splits
and block order recorded, skips stored empty, declines stored as their code), and the page and the
form keep one length whatever was drawn or answered."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd
import pytest

from browser_support import loopback_context, watch_sizes
from design_support import DESIGN_COLUMNS, write_design_study
from sottovoce.field.questionnaire import Questionnaire
from test_field_support import exported_answers, start_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("field-server")]
GIVEN: list[tuple] = []


@pytest.fixture(scope="module")
def served(tmp_path_factory, browser):  # browser first: it skips without chromium, before a server starts
    tmp = tmp_path_factory.mktemp("designs")
    server, db, priv = start_server(tmp, write_design_study(tmp))
    yield server, db, priv
    server.stop()


def _fill(page, q: Questionnaire, rng: random.Random, js: bool, lang: str, decline: bool) -> dict:
    """Answer like a respondent (by clicking); returns the codes given (None: not asked)."""
    values = q.column_values()
    hidden = {el.get_attribute("name"): el.get_attribute("value") for el in page.locator("form input[type=hidden]").all()}
    draws = {c: values[c][int(hidden[c])] for c in ("ballot", "block_order", "list_treat")}
    # the block order drawn is the order on the page
    ids = [el.get_attribute("id") for el in page.locator("fieldset.question[id]").all()]
    direct_first = ids.index("q-support_direct") < ids.index("q-support_list")
    assert direct_first == (draws["block_order"] == 1), (ids, draws)
    # the wording of the split arm, and the crosswise block only on arm 2
    body = page.inner_text("body")
    long_wording = ("or would you rather not answer" if lang == "en" else "предпочли бы не отвечать") in body
    assert long_wording == (draws["ballot"] == 2)
    assert (page.locator("#q-support_cw").count() == 1) == (draws["ballot"] == 2)
    assert page.locator("#q-support_list .items li").count() == 3 + draws["list_treat"]

    def click(col: str, code) -> None:
        page.check(f"input[name={col}][value='{q.form_value(col, code)}']")

    page.check("input[name=_consent]")
    a = {**draws, "sex": rng.choice([1, 2]), "age": rng.randint(18, 99), "employed": rng.choice([1, 2])}
    click("sex", a["sex"])
    # by index (the placeholder is first): Playwright's value= also matches labels, and the labels are ages
    page.select_option("select[name=age]", index=int(q.form_value("age", a["age"])) + 1)
    assert page.locator("select[name=age]").input_value() == q.form_value("age", a["age"])
    click("employed", a["employed"])
    if js:  # the skip: the follow-up question appears only for the employed
        assert page.locator("#q-sector").is_visible() == (a["employed"] == 1)
        assert not page.locator(".skip-note").first.is_visible()
    else:
        assert page.locator("#q-sector").is_visible() and page.locator("#q-sector .skip-note").is_visible()
    a["sector"] = rng.choice([1, 2]) if a["employed"] == 1 else None
    if a["sector"] is not None:
        click("sector", a["sector"])
    for c in ("media_1", "media_2", "media_3"):
        a[c] = rng.choice([0, 1])
        click(c, a[c])
    a["q_support"] = rng.choice([1, 2, 99])
    click("q_support", a["q_support"])
    a["list_count"] = 98 if decline else rng.randint(0, 3 + draws["list_treat"])
    click("list_count", a["list_count"])
    a["rr"] = 98 if decline else rng.choice([0, 1])
    click("rr", a["rr"])
    a["cw"] = None
    if draws["ballot"] == 2:
        a["cw"] = 98 if decline else rng.choice([0, 1])
        click("cw", a["cw"])
    return a


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_designs_in_chromium(served, browser, js, lang, cli, tmp_path):
    server, db, priv = served
    q = server.questionnaire
    rng = random.Random(hash((js, lang)) % 1000)
    context = loopback_context(browser, js)
    page = context.new_page()
    sizes = watch_sizes(page)
    # the intro is shown first
    page.goto(f"{server.url}/?lang={lang}")
    assert ("It takes five minutes" if lang == "en" else "Он займёт пять минут") in page.inner_text("body")
    given = []
    wanted = [(b, o) for b in (1, 2) for o in (1, 2)]  # every split arm and block order at least once
    for i, (ballot, order) in enumerate(wanted):
        for _ in range(60):
            page.goto(f"{server.url}/?lang={lang}")
            hidden = {el.get_attribute("name"): el.get_attribute("value") for el in page.locator("form input[type=hidden]").all()}
            vals = q.column_values()
            if (vals["ballot"][int(hidden["ballot"])], vals["block_order"][int(hidden["block_order"])]) == (ballot, order):
                break
        else:
            pytest.fail(f"ballot {ballot}, order {order} never came up")
        given.append(_fill(page, q, rng, js, lang, decline=i == 1))
        page.click("button.submit")
        page.wait_for_url("**/thanks?lang=*")
        assert ("Thank you" if lang == "en" else "Спасибо") in page.inner_text("body")
    context.close()
    assert len(sizes["page"]) == 1 and len(sizes["form"]) == 1, sizes

    df = exported_answers(cli, db, priv, tmp_path)
    assert list(df.columns) == DESIGN_COLUMNS
    GIVEN.extend(tuple(g[c] for c in DESIGN_COLUMNS) for g in given)
    stored = Counter(tuple(None if pd.isna(row[c]) else int(row[c]) for c in DESIGN_COLUMNS) for row in df.to_dict("records"))
    assert stored == Counter(GIVEN)  # exactly the clicks: arms, order, skips (empty) and declines (98)
