"""A real browser (Debian chromium via Playwright) completes the survey with and without JavaScript.

Every design and both arms of each list are answered; the answers are exported, decrypted and
compared with what was clicked. Afterwards the browser holds no cookies and no storage, the form is
gone from history, and no request ever left loopback.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from urllib.parse import urlsplit

import pandas as pd
import pytest

from sottovoce.field.questionnaire import Questionnaire
from test_field_support import COLUMNS, Server, make_keys, write_study

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

GIVEN: list[tuple[int, ...]] = []  # every answer set submitted to the module's server, in any test
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("field-server")]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian chromium not installed (scripts/setup-system.sh installs it)")
    pytest.importorskip("playwright")
    tmp = tmp_path_factory.mktemp("browser")
    study = write_study(tmp)
    pub, priv = make_keys(tmp)
    db = f"sqlite:///{tmp}/answers.db"
    server = Server(study, pub, db, tmp / "server.log").start()
    server.questionnaire = Questionnaire.from_file(study)
    yield server, tmp, db, priv
    server.stop()


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


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
    context = browser.new_context(java_script_enabled=js)
    hosts: list[str] = []

    def guard(route):
        host = urlsplit(route.request.url).hostname
        hosts.append(host or "")
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    sizes: dict[str, set[int]] = {"page": set(), "form": set()}

    def seen(response) -> None:  # what an observer of the encrypted traffic would measure
        req = response.request
        if req.method == "POST":
            sizes["form"].add(len(req.post_data_buffer or b""))
        elif urlsplit(req.url).path == "/":
            sizes["page"].add(len(response.body()))

    page.on("response", seen)
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

    out = tmp_path / "e.jsonl"
    assert cli("export", "--db", db, "--out", out).code == 0
    r = cli("decrypt", out, "--key", priv, "--out", tmp_path / "answers.csv")
    assert r.code == 0, r.err
    df = pd.read_csv(tmp_path / "answers.csv")
    assert list(df.columns) == COLUMNS
    GIVEN.extend(tuple(g[c] for c in COLUMNS) for g in given)
    stored = Counter(tuple(int(row[c]) for c in COLUMNS) for row in df.to_dict("records"))
    assert stored == Counter(GIVEN)  # exactly the answers clicked, each once, in this module's database
