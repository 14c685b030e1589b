"""A real browser (Debian chromium via Playwright) completes the survey with and without JavaScript.

Every design and both arms of each list are answered; the answers are exported, decrypted and
compared with what was clicked. Afterwards the browser holds no cookies and no storage, the form is
gone from history, and no request ever left loopback.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from browser_support import loopback_context, watch_sizes
from sottovoce.field.questionnaire import Questionnaire
from test_field_support import COLUMNS, exported_answers, start_server, write_study

GIVEN: list[tuple[int, ...]] = []  # every answer set submitted to the module's server, in any test
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("field-server")]


@pytest.fixture(scope="module")
def served(tmp_path_factory, browser):  # browser first: it skips without chromium, before a server starts
    tmp = tmp_path_factory.mktemp("browser")
    server, db, priv = start_server(tmp, write_study(tmp))
    yield server, tmp, db, priv
    server.stop()


def _fill(page, q: Questionnaire, rng: random.Random, js: bool) -> dict[str, int]:
    """Answer every question on the page like a respondent; returns what was given."""
    hidden = {el.get_attribute("name"): int(el.get_attribute("value"))
              for el in page.locator("form input[type=hidden]").all() if not el.get_attribute("name").startswith("_")}
    given = dict(hidden)
    given["q_support"] = rng.choice([1, 2, 99, 98])
    n_list = page.locator("#q-support_list .items li").count()
    assert n_list == 3 + hidden["list_treat"]
    given["list_count"] = rng.randint(0, n_list)
    lists = page.locator("#q-support_double .sublist")
    given["dl_a"] = rng.randint(0, lists.nth(0).locator("li").count())
    given["dl_b"] = rng.randint(0, lists.nth(1).locator("li").count())
    assert lists.nth(0).locator("li").count() == 2 + hidden["dl_treat"]
    given["rr_die"] = rng.randint(0, 1)
    die = page.locator("#q-support_rr_browser .virtual-die")
    if js:
        page.click("#q-support_rr_browser button.roll")
        face = page.locator("#q-support_rr_browser .die-face").inner_text()
        assert face.split(":")[-1].strip() in {"1", "2", "3", "4", "5", "6"}
    else:
        assert not die.is_visible()  # without JS the printed die rule is all there is
    given["rr_browser"] = rng.randint(0, 1)
    given["cw"] = rng.randint(0, 1)
    for name in ("q_support", "list_count", "dl_a", "dl_b", "rr_die", "rr_browser", "cw"):
        page.check(f"input[name={name}][value='{q.form_value(name, given[name])}']")
    return given


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_complete_survey_in_every_arm(served, browser, js, cli, tmp_path):
    server, tmp, db, priv = served
    rng = random.Random(7 if js else 8)
    hosts: list[str] = []
    context = loopback_context(browser, js, hosts)
    page = context.new_page()
    sizes = watch_sizes(page)  # what an observer of the encrypted traffic would measure
    given: list[dict[str, int]] = []
    for want in [(0, 0), (1, 1), (0, 1), (1, 0)]:  # (list arm, double-list arm)
        for _ in range(60):  # arms are drawn by the server; reload until this combination comes up
            page.goto(f"{server.url}/?lang={'ru' if want[0] else 'en'}")
            arms = (int(page.locator("input[name=list_treat]").get_attribute("value")),
                    int(page.locator("input[name=dl_treat]").get_attribute("value")))
            if arms == want:
                break
        else:
            pytest.fail(f"arm combination {want} never came up")
        given.append(_fill(page, server.questionnaire, rng, js))
        page.click("button.submit")
        page.wait_for_url("**/thanks?lang=*")
        body = page.inner_text("body")
        assert page.locator("form").count() == 0 and "_key" not in page.content()
        assert (("Спасибо" in body) if want[0] else ("Thank you" in body)), (page.url, body)
        page.go_back()  # no-store: the survey comes back empty, nothing kept from before
        page.wait_for_load_state()
        assert page.locator("input:checked").count() == 0
    # the respondent can switch language
    page.goto(f"{server.url}/")
    page.click("a.lang")
    assert "Вы поддерживаете военную операцию?" in page.inner_text("body")
    state = context.storage_state()
    assert state["cookies"] == [] and all(not o.get("localStorage") for o in state["origins"])
    if js:
        assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert set(hosts) == {"127.0.0.1"}, set(hosts)
    context.close()
    # issue 11: page and form lengths told the list arm and the answers; now one length each
    assert len(sizes["page"]) == 1 and len(sizes["form"]) == 1, sizes

    df = exported_answers(cli, db, priv, tmp_path)
    assert list(df.columns) == COLUMNS
    GIVEN.extend(tuple(g[c] for c in COLUMNS) for g in given)
    stored = Counter(tuple(int(row[c]) for c in COLUMNS) for row in df.to_dict("records"))
    assert stored == Counter(GIVEN)  # exactly the answers clicked, each once, in this module's database
