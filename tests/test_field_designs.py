"""Issue 15: questionnaire designs on the web path — splits, block order, skips, declines, profile
questions, intro and consent, Russian validation messages — keeping issue 11's fixed lengths."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from design_support import DESIGN_COLUMNS, page_draws, respondent, write_design_study
from sottovoce.errors import InputError
from sottovoce.field.app import _padded, _survey_html, create_app
from sottovoce.field.crypto import load_private_key, load_public_key, seal, unseal
from sottovoce.field.export import decrypt_jsonl, export_jsonl
from sottovoce.field.questionnaire import AnswerError, Questionnaire, decode_payload
from sottovoce.study import load_study
from test_field_support import make_keys

pytestmark = pytest.mark.xdist_group("field-server")


@pytest.fixture
def design(tmp_path: Path) -> Path:
    return write_design_study(tmp_path)


def form_of(q: Questionnaire, a: dict, key: str | None = None, lang: str = "en", consent: bool = True) -> dict[str, str]:
    fields = {"_key": key or "f" * 32, "_lang": lang}
    if consent:
        fields["_consent"] = "1"
    fields.update({c: q.form_value(c, a[c]) for c in q.columns()})
    return fields


def _all_draws(q: Questionnaire):
    choices = q.arm_choices()
    for combo in itertools.product(*choices.values()):
        yield dict(zip(choices, combo, strict=True))


def _valid_answer_sets(q: Questionnaire):
    """One answer set per (draw, column, value) the column can take under that draw."""
    rng = random.Random(3)
    for d in _all_draws(q):
        base = respondent({"ballot": d["ballot"], "block_order": d["block_order"], "list_treat": d["support_list"]}, rng)
        for col, values in q.column_values().items():
            for v in values:
                a = {**base, col: v}
                if col == "employed":
                    a["sector"] = 1 if v == 1 else None
                try:
                    yield q.validate(a)
                except AnswerError:
                    continue


def test_study_file_parses_designs(design):
    s = load_study(design)
    assert [x.column for x in s.design.splits] == ["ballot"]
    assert s.design.order.blocks == (("support_direct",), ("support_list", "support_rr"))
    assert s.question("support_list").decline == 98
    assert s.question("sector").ask_if == {"employed": (1,)}
    assert s.question("media").columns() == ["media_1", "media_2", "media_3"]
    q = Questionnaire.from_file(design)
    assert q.columns() == DESIGN_COLUMNS


@pytest.mark.parametrize("patch, match", [
    ('wording_by = "ballot"', None),
    ('ask_if = { employed = [1] }', None),
    ('decline = 98\nmeasures = "support_direct"\ncontrol', None),
])
def test_design_errors_name_the_key(tmp_path, patch, match):
    text = write_design_study(tmp_path).read_text()
    bad = {
        'wording_by = "ballot"': 'wording_by = "nosuch"',
        'ask_if = { employed = [1] }': 'ask_if = { employed = [7] }',
        'decline = 98\nmeasures = "support_direct"\ncontrol': 'decline = 3\nmeasures = "support_direct"\ncontrol',
    }[patch]
    assert patch in text
    (tmp_path / "bad.toml").write_text(text.replace(patch, bad, 1), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_study(tmp_path / "bad.toml")
    msg = str(exc.value)
    assert "bad.toml" in msg and ("wording_by" in msg or "ask_if" in msg or "decline" in msg), msg


def test_skips_declines_and_splits_are_stored_as_codes(design):
    q = Questionnaire.from_file(design)
    rng = random.Random(1)
    a = respondent({"ballot": 1, "block_order": 2, "list_treat": 1}, rng, decline=True)
    out = q.validate({**a, "cw": 1, "sector": 2, "employed": 2})  # not asked: cw (ballot 1), sector (not employed)
    assert out["cw"] is None and out["sector"] is None
    assert out["list_count"] == 98 and out["rr"] == 98
    with pytest.raises(AnswerError, match="missing answer 'sector'"):
        q.validate({**a, "employed": 1, "sector": None})
    with pytest.raises(AnswerError, match="missing answer 'cw'"):
        q.validate({**a, "ballot": 2, "cw": None})
    with pytest.raises(AnswerError, match="age"):
        q.validate({**a, "age": 17})
    # the form: a skipped question sends its "does not apply" position, which reads back as None
    assert q.answers_from_form(form_of(q, out)) == out


def test_every_sealed_answer_and_form_has_one_length(design, tmp_path):
    """Issue 11's guarantee with designs: one plaintext length, one form length, whatever the arm,
    the order, the skips or the declines."""
    pub, priv = make_keys(tmp_path)
    q = Questionnaire.from_file(design)
    pk, sk = load_public_key(pub), load_private_key(priv)
    lengths, forms, n = set(), set(), 0
    for a in _valid_answer_sets(q):
        ct = seal(pk, q.encode(a, day="2024-02-29", server=b"s" * 32))
        lengths.add(len(ct))
        forms.add(len(urlencode(form_of(q, a, key=secrets.token_urlsafe(24), lang=random.choice(["en", "ru"])))))
        n += 1
        if n % 50 == 0:
            assert decode_payload(unseal(sk, ct)).answers == a
    assert n > 500
    assert lengths == {q.payload_size() + 48} and len(forms) == 1


def test_every_page_has_one_length(design, tmp_path):
    pub, _ = make_keys(tmp_path)
    q = Questionnaire.from_file(design)
    app = create_app(q, load_public_key(pub), f"sqlite:///{tmp_path}/a.db")
    st = app.state
    try:
        sizes = {len(_padded(st, _survey_html(st, lang, d))) for lang in ("en", "ru") for d in _all_draws(q)}
        assert sizes == {st.page_size}

        async def pages():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return [await c.get(f"/?lang={lang}") for lang in ("en", "ru") for _ in range(30)]

        got = asyncio.run(pages())
        assert {len(r.content) for r in got} == {st.page_size}
        # the arm decides the wording, and the crosswise block is on arm 2's pages only
        ballot = {q.column_values()["ballot"][int(page_draws(r.text)["ballot"])]: r.text for r in got}
        assert set(ballot) == {1, 2}
        assert 'id="q-support_cw"' in ballot[2] and 'id="q-support_cw"' not in ballot[1]
        assert "or would you rather not answer" in ballot[2] or "предпочли бы не отвечать" in ballot[2]
    finally:
        app.committer.close()


def test_russian_page_shows_russian_errors(design, tmp_path):
    pub, _ = make_keys(tmp_path)
    q = Questionnaire.from_file(design)
    app = create_app(q, load_public_key(pub), f"sqlite:///{tmp_path}/a.db")
    a = respondent({"ballot": 1, "block_order": 1, "list_treat": 0}, random.Random(2))

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            h = {"content-type": "application/x-www-form-urlencoded"}
            no_age = {k: v for k, v in form_of(q, a, lang="ru").items() if k != "age"}
            r1 = await c.post("/submit", content=urlencode(no_age), headers=h)
            r2 = await c.post("/submit", content=urlencode(form_of(q, a, lang="ru", consent=False)), headers=h)
            r3 = await c.post("/submit", content=urlencode({**form_of(q, a, lang="ru"), "_key": "x"}), headers=h)
            return r1, r2, r3

    try:
        r1, r2, r3 = asyncio.run(go())
    finally:
        app.committer.close()
    import html

    assert r1.status_code == 400 and "нет ответа 'age'" in html.unescape(r1.text) and "missing" not in r1.text
    assert r2.status_code == 400 and "согласие" in r2.text
    assert r3.status_code == 400 and "обновите страницу" in r3.text


def test_randomisation_recorded_and_balanced_over_1000_http_respondents(design, tmp_path):
    """1,000 respondents through the HTTP app: each loads the page (the server draws the arms),
    answers and posts the form; the decrypted rows hold the draws, which are balanced (χ²)."""
    pub, priv = make_keys(tmp_path)
    q = Questionnaire.from_file(design)
    db = f"sqlite:///{tmp_path}/a.db"
    app = create_app(q, load_public_key(pub), db)
    rng = random.Random(15)
    given = []

    async def one(c: httpx.AsyncClient, i: int) -> None:
        lang = "ru" if i % 2 else "en"
        page = await c.get(f"/?lang={lang}")
        hidden = page_draws(page.text)
        draws = {col: q.column_values()[col][int(hidden[col])] for col in ("ballot", "block_order", "list_treat")}
        a = q.validate(respondent(draws, rng, decline=rng.random() < 0.1))
        given.append(a)
        body = {**form_of(q, a, lang=lang), "_key": hidden["_key"]}
        r = await c.post("/submit", content=urlencode(body), headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 303, r.text

    async def go():  # 50 respondents at a time, as they would arrive (the server commits in groups)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for start in range(0, 1000, 50):
                await asyncio.gather(*(one(c, i) for i in range(start, start + 50)))

    try:
        asyncio.run(go())
    finally:
        app.committer.close()
    export_jsonl(db, tmp_path / "e.jsonl")
    df = decrypt_jsonl(tmp_path / "e.jsonl", load_private_key(priv)).table
    assert list(df.columns) == DESIGN_COLUMNS and len(df) == 1000

    def key(row):
        return tuple(None if pd.isna(row[c]) else int(row[c]) for c in DESIGN_COLUMNS)

    assert Counter(key(r) for r in df.to_dict("records")) == Counter(tuple(a[c] for c in DESIGN_COLUMNS) for a in given)
    # balance: each draw uniform, and the draws independent of each other (χ² on the joint table)
    cells = Counter(zip(df["ballot"], df["block_order"], df["list_treat"], strict=True))
    assert len(cells) == 8
    p_joint = stats.chisquare([cells[k] for k in sorted(cells)]).pvalue
    p_ballot = stats.chisquare(df["ballot"].value_counts().to_numpy()).pvalue
    assert min(p_joint, p_ballot) > 1e-4, (cells, p_joint, p_ballot)  # a false alarm 1 run in 5,000
    # a too-strict generator would fail too: the counts are not suspiciously even
    assert np.ptp([cells[k] for k in cells]) > 3
    # declines stored as their code; cw only on ballot 2; sector only for the employed
    assert set(df.loc[df["list_count"] == 98, "rr"]) == {98}
    assert df.loc[df["ballot"] == 1, "cw"].isna().all() and df.loc[df["ballot"] == 2, "cw"].notna().all()
    assert df.loc[df["employed"] == 2, "sector"].isna().all()
    assert df["media_1"].isin([0, 1]).all()


def test_analyze_designs_profile_questions_declines_and_split(design, tmp_path):
    """The decrypted rows analysed: profile questions are subgroups (no `__sv_yes_sex`), declines
    are item nonresponse, and the worded question is compared across the split with `split`."""
    import warnings

    import sottovoce as sv

    rng = np.random.default_rng(5)
    n = 1200
    ballot = rng.integers(1, 3, n)
    treat = rng.integers(0, 2, n)
    truth = rng.random(n) < 0.4
    decline = rng.random(n) < 0.08
    count = np.minimum(rng.binomial(3, 0.5, n) + (treat * truth), 4)
    df = pd.DataFrame({
        "ballot": ballot, "block_order": rng.integers(1, 3, n), "sex": rng.integers(1, 3, n),
        "age": rng.integers(18, 90, n), "employed": 2, "sector": np.nan, "media_1": 1, "media_2": 0, "media_3": 0,
        "q_support": np.where(rng.random(n) < np.where(ballot == 1, 0.7, 0.6), 1, 2),
        "list_treat": treat, "list_count": np.where(decline, 98, count),
        "rr": np.where(decline, 98, rng.integers(0, 2, n)),
        "cw": np.where(ballot == 2, rng.integers(0, 2, n), np.nan),
    })
    df.to_csv(tmp_path / "answers.csv", index=False)
    text = design.read_text().replace("[report]", '[data]\npath = "answers.csv"\n\n[report]')
    (tmp_path / "design.toml").write_text(text, encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sv.analyze(tmp_path / "design.toml", tmp_path / "out")
    assert not [w for w in caught if "__sv_" in str(w.message)]
    data = res.to_dict()
    ids = [x["id"] for x in data["questions"]]
    assert "sex" not in ids and "age" not in ids and "support_list" in ids
    assert data["labels"]["sex=1"]["ru"] == "Мужской"
    lst = data["questions"][ids.index("support_list")]
    assert lst["status"] == "done" and lst["item_nonresponse"]["declined"] == pytest.approx(np.average(decline), abs=1e-12)
    est = lst["result"]["estimate"]
    assert abs(est - 0.4) < 0.15
    direct = data["questions"][ids.index("support_direct")]
    split = direct["split"]
    assert split["status"] == "done" and split["ballot"] == "ballot"
    shares = {(g["level"], c["code"]): c["estimate"] for g in split["result"]["groups"] for c in g["categories"]}
    for b in (1, 2):
        assert shares[(b, 1)] == pytest.approx(np.mean(df.loc[df.ballot == b, "q_support"] == 1))
    cw = data["questions"][ids.index("support_cw")]
    assert cw["status"] == "done" and cw["result"]["n"] == int((ballot == 2).sum())
