"""Interviewer mode of the server (``serve --mode interviewer``): one page per case, arms from field-plan.

Through the HTTP app: each case's page shows its assigned arms, a submitted interview decrypts to
what was entered plus the case id and the interviewer code, a recorded or unknown case is refused,
arms that differ from the assignment are refused, and neither the interviewer code nor the case id
is anywhere in the database files in clear. One Chromium run does a case end to end.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from design_support import DESIGN_COLUMNS, page_draws, respondent, write_design_study
from sottovoce.errors import InputError
from sottovoce.field.app import create_app
from sottovoce.field.crypto import load_private_key, load_public_key, unseal
from sottovoce.field.export import decrypt_jsonl, export_jsonl
from sottovoce.field.interviewer import TEXTS as INTERVIEWER_TEXTS
from sottovoce.field.interviewer import load_assignment
from sottovoce.field.questionnaire import Questionnaire
from sottovoce.field.storage import open_store
from sottovoce.fielding.check import field_check
from sottovoce.fielding.plan import field_plan
from test_field_support import (
    COLUMNS,
    answers,
    form_body,
    invite_store,
    make_keys,
    run_app,
    start_server,
    write_study,
)

INTERVIEWER = "I07-zx"


@pytest.fixture
def setup(tmp_path: Path):
    study = write_study(tmp_path)
    pub, priv = make_keys(tmp_path)
    plan = field_plan(study, 8, tmp_path / "plan", seed=11)
    q = Questionnaire.from_file(study)
    assignment = load_assignment(plan.assignment, q)
    db = f"sqlite:///{tmp_path}/a.db"
    cases = [c for c, _ in assignment.cases.values()]
    store = invite_store(db, cases, tmp_path / "invite.key")
    app = create_app(q, load_public_key(pub), store, assignment=assignment)
    return app, q, assignment, db, priv, tmp_path


def _hidden(q: Questionnaire, html: str, col: str) -> int:
    pos = re.search(rf'name="{col}" value="(\d+)"', html)
    assert pos is not None, col
    return q.column_values()[col][int(pos.group(1))]


def _decrypt(db: str, priv: Path, tmp: Path):
    export_jsonl(db, tmp / "e.jsonl")
    return decrypt_jsonl(tmp / "e.jsonl", load_private_key(priv))


def test_case_pages_carry_assigned_arms_and_answers_decrypt_with_case_and_interviewer(setup):
    app, q, assignment, db, priv, tmp = setup
    rng = random.Random(3)
    entered, who = {}, {}

    async def go(c):
        sizes = set()
        for i, (case, values) in enumerate(assignment.cases.values()):
            who[case] = INTERVIEWER if i % 2 else "I08"
            for lang in ("en", "ru"):
                r = await c.get("/case", params={"case": case, "interviewer": INTERVIEWER, "lang": lang})
                assert r.status_code == 200 and case in r.text and "set-cookie" not in r.headers
                sizes.add(len(r.content))
            assert _hidden(q, r.text, "list_treat") == values["list_treat"]
            assert _hidden(q, r.text, "dl_treat") == values["dl_treat"]
            listed = re.search(r'id="q-support_list".*?<ul class="items">(.*?)</ul>', r.text, re.S)
            assert listed is not None and listed.group(1).count("<li>") == 3 + values["list_treat"]
            given = answers(treat=values["list_treat"], dl_treat=values["dl_treat"], q_support=rng.choice([1, 2, 99]),
                            list_count=rng.randint(0, 3 + values["list_treat"]), cw=rng.randint(0, 1))
            entered[case] = given
            body = {**form_body(q, given, key=f"key-{case}-{'x' * 16}", lang="ru"), "_case": case, "_interviewer": who[case]}
            r = await c.post("/submit", data=body)
            assert r.status_code == 303, r.text
        assert len(sizes) == 1  # one page length whatever the case, its arms and the language

    run_app(app, go)
    res = _decrypt(db, priv, tmp)
    assert not res.bad and len(res.table) == len(assignment.cases)
    assert list(res.table.columns) == ["case_id", "interviewer", *COLUMNS]
    for row in res.table.to_dict("records"):
        assert row["interviewer"] == who[row["case_id"]]
        assert {c: row[c] for c in COLUMNS} == entered[row["case_id"]]
    # the decrypted file is what field-check reads: every case got its assigned arms, interviewers seen
    res.table.to_csv(tmp / "decrypted.csv", index=False)
    checked = {c.id: c for c in field_check(tmp / "study.toml", tmp / "decrypted.csv", assignment=assignment.source).checks}
    assert checked["assignment"].status == "ok" and sum(r["mismatches"] for r in checked["assignment"].rows) == 0
    assert len(checked["assignment"].rows) == 2
    assert checked["interviewer"].status != "skipped" and {r["interviewers"] for r in checked["interviewer"].rows} == {2}
    # every sealed plaintext has one length
    sk = load_private_key(priv)
    lines = [json.loads(x) for x in (tmp / "e.jsonl").read_text().splitlines()[1:]]
    assert len({len(unseal(sk, base64.b64decode(x["ciphertext"]))) for x in lines}) == 1


def test_used_unknown_and_tampered_cases_are_refused(setup):
    app, q, assignment, db, priv, tmp = setup
    (case, values), (case2, values2) = list(assignment.cases.values())[:2]

    async def go(c):
        body = {**form_body(q, answers(treat=values["list_treat"], dl_treat=values["dl_treat"]), key="a" * 20),
                "_case": case, "_interviewer": INTERVIEWER}
        assert (await c.post("/submit", data=body)).status_code == 303
        again = await c.get("/case", params={"case": case, "interviewer": INTERVIEWER})
        assert again.status_code == 404 and "already been recorded" in again.text
        r = await c.post("/submit", data={**body, "_key": "b" * 20})
        assert r.status_code == 403
        r = await c.get("/case", params={"case": "C99999", "interviewer": INTERVIEWER, "lang": "ru"})
        assert r.status_code == 404 and "уже записана" in r.text
        r = await c.get("/case", params={"case": case2, "interviewer": "Ivan Petrov"})  # a name, not a code
        assert r.status_code == 400
        wrong = answers(treat=1 - values2["list_treat"], dl_treat=values2["dl_treat"])
        r = await c.post("/submit", data={**form_body(q, wrong, key="c" * 20), "_case": case2, "_interviewer": INTERVIEWER})
        assert r.status_code == 400 and "do not match" in r.text
        assert (await c.post("/api/submissions", json={})).status_code in (404, 405)  # no JSON API in this mode
        r = await c.get("/")
        assert r.status_code == 200 and 'action="/case"' in r.text

    run_app(app, go)
    assert len(_decrypt(db, priv, tmp).table) == 1


def test_both_forms_refuse_a_bad_post_alike(setup):
    """The web form and the interview form share their checks (_posted_form): the same bad post gets
    the same status and message from both; the interviewer code is checked only by the interview form."""
    app, q, _, _, _, tmp = setup
    web = create_app(q, app.state.public_key, open_store(f"sqlite:///{tmp}/web.db"))
    form = {"content-type": "application/x-www-form-urlencoded"}
    key = "k" * 20
    posts = [
        (b"a=1", {"content-type": "text/plain"}, 415),
        (b"\xff\xfe=1", form, 400),
        (b"_key=" + key.encode() + b"&_key=" + key.encode(), form, 400),
        (b"_key=short&_lang=ru", form, 400),
        (f"_key={key}&_interviewer={INTERVIEWER}&q_support=9".encode(), form, 400),
    ]

    async def replies(c):
        return [await c.post("/submit", content=body, headers=h) for body, h, _ in posts]

    posts.append((f"_key={key}&_interviewer=".encode(), form, 0))  # no interviewer code, nothing else wrong
    got = {name: run_app(a, replies) for name, a in (("web", web), ("interviewer", app))}
    for (body, _, code), w, i in zip(posts[:-1], got["web"], got["interviewer"], strict=False):
        assert w.status_code == i.status_code == code, body
        message = re.search(r'<p class="error">(.*?)</p>', w.text, re.S)
        assert message and message.group(1) in i.text, (body, w.text[:300])
    bad_interviewer = html.escape(INTERVIEWER_TEXTS["en"]["bad_interviewer"], quote=False)
    assert bad_interviewer in got["interviewer"][-1].text and bad_interviewer not in got["web"][-1].text


def test_interviewer_code_and_case_id_never_in_the_database_in_clear(setup):
    app, q, assignment, db, priv, tmp = setup
    case, values = next(iter(assignment.cases.values()))

    async def go(c):
        body = {**form_body(q, answers(treat=values["list_treat"], dl_treat=values["dl_treat"]), key="d" * 20),
                "_case": case, "_interviewer": INTERVIEWER}
        assert (await c.post("/submit", data=body)).status_code == 303

    run_app(app, go)
    app.store.close()
    disk = b"".join(p.read_bytes() for p in tmp.glob("a.db*"))
    assert disk
    for secret in (INTERVIEWER, case):
        for form in (secret.encode(), secret.lower().encode(), secret.encode("utf-16-le")):
            assert form not in disk


def test_assignment_checks_and_mode_needs_case_codes(tmp_path):
    study = write_study(tmp_path)
    q = Questionnaire.from_file(study)
    pub, _ = make_keys(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,list_treat\nC1,0\n")
    with pytest.raises(InputError, match="dl_treat"):
        load_assignment(bad, q)
    bad.write_text("case_id,list_treat,dl_treat\nC1,0,2\n")
    with pytest.raises(InputError, match="line 2: dl_treat"):
        load_assignment(bad, q)
    bad.write_text("case_id,list_treat,dl_treat\nC1,0,1\nc1,1,1\n")
    with pytest.raises(InputError, match="twice"):
        load_assignment(bad, q)
    bad.write_text("case_id,list_treat,dl_treat\nC1,0,1\n")
    with pytest.raises(InputError, match="invite-key"):
        create_app(q, load_public_key(pub), open_store(f"sqlite:///{tmp_path}/x.db"), assignment=load_assignment(bad, q))


def test_cli_refuses_interviewer_mode_without_assignment_or_key(tmp_path, cli):
    study = write_study(tmp_path)
    pub, _ = make_keys(tmp_path)
    r = cli("serve", study, "--public-key", pub, "--db", f"sqlite:///{tmp_path}/x.db", "--mode", "interviewer")
    assert r.code == 2 and "--assignment" in r.err
    plan = field_plan(study, 4, tmp_path / "plan", seed=1)
    r = cli("serve", study, "--public-key", pub, "--db", f"sqlite:///{tmp_path}/x.db", "--mode", "interviewer",
            "--assignment", plan.assignment)
    assert r.code == 2 and "--invite-key" in r.err
    r = cli("serve", study, "--public-key", pub, "--mode", "phone")
    assert r.code == 2 and "--mode phone" in r.err


def test_a_later_start_with_another_assignment_is_refused(tmp_path, cli):
    """The first start stores a keyed digest of the assignment; a start with the same plan (even
    re-saved: rows reordered, CRLF, ids in lower case) goes on, one with an edited arm or an added
    case is refused naming the file (CLI: one `error:` line, exit 2); a new database starts anew.
    Only the keyed digest is stored: not the file's plain SHA-256, no case id."""
    import hashlib

    from sottovoce.field.server import setup_cases

    study = write_study(tmp_path)
    pub, _ = make_keys(tmp_path)
    plan = field_plan(study, 8, tmp_path / "plan", seed=11)
    q = Questionnaire.from_file(study)
    key = tmp_path / "invite.key"
    db = f"sqlite:///{tmp_path}/a.db"

    def start(path: Path, url: str = db) -> None:
        store = open_store(url)
        try:
            setup_cases(store, load_assignment(path, q), key, url)
        finally:
            store.close()

    start(plan.assignment)
    table = pd.read_csv(plan.assignment)
    resaved = tmp_path / "resaved.csv"
    shuffled = table.sample(frac=1.0, random_state=3).assign(case_id=lambda t: t["case_id"].str.lower())
    shuffled.to_csv(resaved, index=False, lineterminator="\r\n")
    start(resaved)  # the same plan
    edited = table.copy()
    edited.loc[0, "list_treat"] = 1 - edited.loc[0, "list_treat"]
    edited.to_csv(tmp_path / "edited.csv", index=False)
    added = pd.concat([table, table.iloc[[0]].assign(case_id="C99999")])
    added.to_csv(tmp_path / "added.csv", index=False)
    for name in ("edited.csv", "added.csv"):
        with pytest.raises(InputError, match=f"--assignment .*{name}: not the assignment this database was started with"):
            start(tmp_path / name)
        r = cli("serve", study, "--public-key", pub, "--db", db, "--mode", "interviewer",
                "--assignment", tmp_path / name, "--invite-key", key)
        assert r.code == 2 and r.err.startswith("error:") and name in r.err, r.err  # refused before any warning
        assert len(r.err.strip().splitlines()) == 1 and "new database" in r.err
    start(tmp_path / "edited.csv", f"sqlite:///{tmp_path}/new.db")  # starting anew: a new database
    start(plan.assignment)  # the original still starts
    raw = (tmp_path / "a.db").read_bytes()
    canonical = load_assignment(plan.assignment, q).canonical()
    for secret in (hashlib.sha256(canonical).digest(), hashlib.sha256(plan.assignment.read_bytes()).digest(),
                   *[c.encode() for c in table["case_id"]]):
        assert secret not in raw


@pytest.mark.browser
@pytest.mark.xdist_group("field-server")
def test_chromium_interviewer_records_a_case(tmp_path, browser_for_one_test):
    browser = browser_for_one_test
    study = write_study(tmp_path)
    plan = field_plan(study, 4, tmp_path / "plan", seed=5)
    q = Questionnaire.from_file(study)
    cases = list(load_assignment(plan.assignment, q).cases.values())
    server, db, priv = start_server(tmp_path, study, extra=["--mode", "interviewer", "--assignment", str(plan.assignment),
                                                           "--invite-key", str(tmp_path / "invite.key")])
    given = {}
    try:
        for (case, values), js, lang in zip(cases[:2], (True, False), ("en", "ru"), strict=True):
            page = browser.new_context(java_script_enabled=js).new_page()
            page.goto(f"{server.url}/?lang={lang}")
            page.fill("#case", case.lower())  # case ids are dictated: case does not matter
            page.fill("#interviewer", INTERVIEWER)
            page.click("button.submit")
            assert case in page.locator("#case-title").inner_text()
            assert page.locator("#q-support_list .items li").count() == 3 + values["list_treat"]
            assert page.locator("#q-support_double .sublist").nth(0).locator("li").count() == 2 + values["dl_treat"]
            a = answers(treat=values["list_treat"], dl_treat=values["dl_treat"], list_count=1, q_support=99)
            for name in ("q_support", "list_count", "dl_a", "dl_b", "rr_die", "rr_browser", "cw"):
                page.check(f"input[name={name}][value='{q.form_value(name, a[name])}']")
            page.click("button.submit")
            page.wait_for_url("**/thanks**")
            assert page.locator("#next-case").count() == 1
            given[case] = a
            page.goto(f"{server.url}/case?case={case}&interviewer={INTERVIEWER}")  # now used
            assert page.locator("p.error").count() == 1
    finally:
        server.stop()
    res = _decrypt(db, priv, tmp_path)
    assert len(res.table) == 2
    for row in res.table.to_dict("records"):
        assert row["interviewer"] == INTERVIEWER and {c: row[c] for c in COLUMNS} == given[row["case_id"]]


def test_split_wording_and_block_order_come_from_the_assignment(tmp_path):
    """A study with a split ballot, a block order and a list: each case's page and sealed row carry its plan."""
    study = write_design_study(tmp_path)
    pub, priv = make_keys(tmp_path)
    plan = field_plan(study, 12, tmp_path / "plan", seed=4)
    q = Questionnaire.from_file(study)
    assignment = load_assignment(plan.assignment, q)
    assert set(assignment.columns) == {"ballot", "block_order", "list_treat"}
    db = f"sqlite:///{tmp_path}/a.db"
    store = invite_store(db, [c for c, _ in assignment.cases.values()], tmp_path / "invite.key")
    app = create_app(q, load_public_key(pub), store, assignment=assignment)
    rng, entered = random.Random(9), {}

    async def go(c):
        for case, values in assignment.cases.values():
            r = await c.get("/case", params={"case": case, "interviewer": INTERVIEWER, "lang": "ru"})
            hidden = page_draws(r.text)
            shown = {col: q.column_values()[col][int(hidden[col])] for col in ("ballot", "block_order", "list_treat")}
            assert shown == values
            a = respondent(values, rng)
            entered[case] = a
            body = {**form_body(q, a, key=f"k-{case}-{'y' * 16}"), "_consent": "1", "_case": case, "_interviewer": INTERVIEWER}
            assert (await c.post("/submit", data=body)).status_code == 303

    run_app(app, go)
    res = _decrypt(db, priv, tmp_path)
    assert len(res.table) == 12
    for row in res.table.to_dict("records"):
        want = entered[row["case_id"]]
        assert all((pd.isna(row[c]) and want[c] is None) or row[c] == want[c] for c in DESIGN_COLUMNS)
