"""Survey server, in process: keys, sealing, storage (SQLite and PostgreSQL), the app, export/decrypt, CLI."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pandas as pd
import pytest

from sottovoce.errors import DesignError, InputError
from sottovoce.field.app import SECURITY_HEADERS, create_app
from sottovoce.field.crypto import BadCiphertext, load_private_key, load_public_key, seal, unseal
from sottovoce.field.export import decrypt_jsonl, export_jsonl
from sottovoce.field.questionnaire import AnswerError, Questionnaire, decode_payload
from sottovoce.field.storage import Pending, open_store
from test_field_support import (
    COLUMNS,
    answers,
    form_body,
    invite_store,
    make_keys,
    postgres_url,
    run_app,
    write_study,
)

KEY = "k" * 24


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return make_keys(tmp_path)


def make_app(study: Path, pub: Path, db: str, **kw):
    return create_app(Questionnaire.from_file(study), load_public_key(pub), db, **kw)


# -- keys ---------------------------------------------------------------------------------------

def test_keys_private_file_is_0600_and_pair_roundtrips(tmp_path, cli):
    r = cli("keys", "new", "--out", tmp_path / "k")
    assert r.code == 0, r.err
    priv, pub = tmp_path / "k" / "private.key", tmp_path / "k" / "public.key"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    sk, pk = load_private_key(priv), load_public_key(pub)
    assert bytes(sk.public_key) == bytes(pk)
    assert unseal(sk, seal(pk, b"answer")) == b"answer"
    again = cli("keys", "new", "--out", tmp_path / "k")  # never overwrite a key
    assert again.code == 2 and "already exists" in again.err


def test_passphrase_protected_key(tmp_path, cli, monkeypatch):
    pf = tmp_path / "pass.txt"
    pf.write_text("correct horse battery\n")
    assert cli("keys", "new", "--out", tmp_path / "k", "--passphrase-file", pf).code == 0
    priv = tmp_path / "k" / "private.key"
    raw = priv.read_text()
    assert "argon2id" in raw and '"key"' not in raw
    sk = load_private_key(priv, b"correct horse battery")
    assert bytes(sk.public_key) == bytes(load_public_key(tmp_path / "k" / "public.key"))
    with pytest.raises(InputError, match="wrong passphrase"):
        load_private_key(priv, b"wrong")
    with pytest.raises(InputError, match="passphrase-protected"):
        load_private_key(priv)
    # through the CLI: a wrong passphrase is one error line, exit 2
    export = tmp_path / "e.jsonl"
    export_jsonl(f"sqlite:///{tmp_path}/empty.db", export)  # an export of no answers yet
    bad = tmp_path / "bad.txt"
    bad.write_text("nope\n")
    r = cli("decrypt", export, "--key", priv, "--out", tmp_path / "a.csv", "--passphrase-file", bad)
    assert r.code == 2 and r.err.startswith("error: ") and "wrong passphrase" in r.err
    monkeypatch.setenv("SOTTOVOCE_PASSPHRASE", "correct horse battery")
    r = cli("decrypt", export, "--key", priv, "--out", tmp_path / "a.csv")
    assert r.code == 0, r.err


def test_weak_passphrase_and_readable_key_are_refused(tmp_path, cli):
    """Issue 11: a 1-character passphrase and a 0644 private key were accepted silently."""
    weak = tmp_path / "weak.txt"
    weak.write_text("x\n")
    r = cli("keys", "new", "--out", tmp_path / "k", "--passphrase-file", weak)
    assert r.code == 2 and "too weak" in r.err and "--allow-weak-passphrase" in r.err
    assert not (tmp_path / "k" / "private.key").exists()
    assert cli("keys", "new", "--out", tmp_path / "k", "--passphrase-file", weak, "--allow-weak-passphrase").code == 0
    pub, priv = make_keys(tmp_path / "plain")
    export = tmp_path / "e.jsonl"
    export_jsonl(f"sqlite:///{tmp_path}/empty.db", export)
    os.chmod(priv, 0o644)
    r = cli("decrypt", export, "--key", priv, "--out", tmp_path / "a.csv")
    assert r.code == 2 and "other users" in r.err and "chmod 600" in r.err
    r = cli("decrypt", export, "--key", priv, "--out", tmp_path / "a.csv", "--allow-readable-key")
    assert r.code == 0, r.err


def test_server_refuses_private_key(tmp_path, study, keys, cli):
    _, priv = keys
    r = cli("serve", study, "--public-key", priv, "--db", f"sqlite:///{tmp_path}/x.db")
    assert r.code == 2 and "PRIVATE key" in r.err


def test_sealed_box_detects_tampering_and_wrong_key(tmp_path):
    pub, priv = make_keys(tmp_path)
    _, priv2 = make_keys(tmp_path / "other")
    ct = seal(load_public_key(pub), b"secret")
    flipped = bytearray(ct)
    flipped[40] ^= 1
    with pytest.raises(BadCiphertext):
        unseal(load_private_key(priv), bytes(flipped))
    with pytest.raises(BadCiphertext):
        unseal(load_private_key(priv2), ct)


def test_every_sealed_answer_has_one_length(study, keys):
    """Issue 11: ciphertexts were 304 bytes with no refusal and 560 with ten. Now one length per study,
    checked for every question type, every column and every value it can take."""
    pub, priv = keys
    q = Questionnaire.from_file(study)
    pk, sk = load_public_key(pub), load_private_key(priv)
    lengths = set()
    for col, values in q.column_values().items():
        for v in values:
            for arms in ((1, 1), (0, 0)):  # some counts exist only in one arm
                try:
                    a = q.validate({**answers(treat=arms[0], dl_treat=arms[1], list_count=0, dl_a=0, dl_b=0), col: v})
                    break
                except AnswerError:
                    continue
            else:
                raise AssertionError((col, v))
            ct = seal(pk, q.encode(a, day="2024-02-29", server=b"s" * 32))
            lengths.add(len(ct))
            assert decode_payload(unseal(sk, ct)).answers == a
    assert len(lengths) == 1 and lengths == {q.payload_size() + 48}  # 48: the sealed box's key and tag
    with pytest.raises(AnswerError):
        q.encode({**answers(), "q_support": "x" * 500}, day="2024-02-29", server=b"s" * 32)


# -- questionnaire -------------------------------------------------------------------------------

def test_validation_names_column_and_allowed_values(study):
    q = Questionnaire.from_file(study)
    assert q.columns() == COLUMNS
    assert q.validate(answers()) == answers()
    with pytest.raises(AnswerError, match="list_count"):
        q.validate(answers(treat=0, list_count=4))  # control list has only 3 items
    assert q.validate(answers(treat=1, list_count=4))["list_count"] == 4
    with pytest.raises(AnswerError, match="dl_b"):
        q.validate(answers(dl_treat=1, dl_b=3))
    with pytest.raises(AnswerError, match="missing answer 'cw'"):
        q.validate({k: v for k, v in answers().items() if k != "cw"})
    with pytest.raises(AnswerError, match="unknown answer column"):
        q.validate({**answers(), "ip": 1})
    with pytest.raises(AnswerError, match="q_support"):
        q.validate(answers(q_support=True))
    assert q.validate(answers(q_support=99))["q_support"] == 99  # hard to say
    assert q.answers_from_form(form_body(q, answers())) == answers()
    with pytest.raises(AnswerError, match="q_support"):  # the form sends positions, not codes
        q.answers_from_form({**form_body(q, answers()), "q_support": "99"})


def test_list_arms_are_randomised_at_render(study):
    q = Questionnaire.from_file(study)
    arms = [dict(q.render("en")[1]["hidden"])["list_treat"] for _ in range(200)]
    assert 60 < arms.count("1") < 140  # ~Binomial(200, 1/2)
    shown = {len(q.render("en")[1]["items"]) for _ in range(50)}
    assert shown == {3, 4}


def test_unfieldable_question_fails_at_startup(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[study]\nid = "x"\ntitle = "x"\n[[questions]]\nid = "r"\ntype = "rr"\ndesign = "forced"\n'
                 'response = "r"\np = 0.7\np1 = 0.2\np0 = 0.1\n')
    with pytest.raises(DesignError, match="die faces"):
        Questionnaire.from_file(p)


# -- storage -------------------------------------------------------------------------------------

def _exercise_store(url: str, key_file: Path) -> None:
    s = open_store(url)
    try:
        a, b = s.hash("key-a"), s.hash("key-b")
        out = s.submit_batch([Pending(a, b"1"), Pending(a, b"2"), Pending(b, b"3")])
        assert [o.status for o in out] == ["stored", "duplicate", "stored"] and s.count() == 2
        from sottovoce.field.storage import read_invite_key

        s.unlock_invites(read_invite_key(key_file, create=True))
        assert s.import_invites(["code-1", "code-2", "CODE 1"], "codes.txt") == 2  # case, spaces, dashes ignored
        with pytest.raises(InputError, match="already imported"):
            s.import_invites(["code-2", "code-1"], "codes.txt")
        t1 = s.tag("code-1")
        got = s.submit_batch([Pending(s.hash("c"), b"4", t1), Pending(s.hash("d"), b"5", t1),
                              Pending(s.hash("e"), b"6", s.tag("nope"))])
        # two submissions in one batch with the same code: exactly one gets it (either may)
        assert sorted(o.status for o in got[:2]) == ["bad_invite", "stored"] and got[2].status == "bad_invite"
        assert s.count() == 3 and not s.invite_may_be_valid(t1) and s.invite_may_be_valid(s.tag("code-2"))
        winner, ct_won = ("c", b"4") if got[0].status == "stored" else ("d", b"5")
        # a retry of an accepted submission is a duplicate, even though its code is used up now
        assert s.submit_batch([Pending(s.hash(winner), ct_won, t1)])[0].status == "duplicate"
        assert s.scrub()
        rows = list(s.rows())
        assert sorted(ct for _, ct in rows) == [b"1", b"3", ct_won] and [r for r, _ in rows] == sorted(r for r, _ in rows)
    finally:
        s.close()
    s2 = open_store(url)  # after a restart: the salt persists, the used code stays used
    assert s2.hash("key-a") == a
    s2.unlock_invites(read_invite_key(key_file, create=False))
    assert not s2.invite_may_be_valid(s2.tag("code-1")) and s2.invite_may_be_valid(s2.tag("code-2"))
    assert s2.submit_batch([Pending(s2.hash("f"), b"7", s2.tag("code-1"))])[0].status == "bad_invite"
    with pytest.raises(InputError, match="does not match"):
        s2.unlock_invites(b"w" * 32)
    s2.close()


def test_sqlite_store(tmp_path):
    _exercise_store(f"sqlite:///{tmp_path}/s.db", tmp_path / "invite.key")
    import sqlite3

    assert stat.S_IMODE((tmp_path / "s.db").stat().st_mode) == 0o600  # issue 11: was 0644
    assert not (tmp_path / "s.db-wal").exists()  # a clean close leaves no WAL behind
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = {r[1] for r in con.execute("PRAGMA table_info(submissions)")}
    assert cols == {"id", "ciphertext", "idem"}  # no day, no time, no sequence
    assert {r[1] for r in con.execute("PRAGMA table_info(invites)")} == {"tag", "used"}
    assert stat.S_IMODE((tmp_path / "s.db-wal").stat().st_mode) == 0o600
    con.close()


@pytest.mark.postgres
def test_postgres_store(tmp_path):
    url = postgres_url("sv_field_unit")
    if url is None:
        pytest.skip("no PostgreSQL server reachable through `su postgres -c psql`")
    _exercise_store(url, tmp_path / "invite.key")


@pytest.mark.postgres
def test_postgres_reconnects_after_losing_its_connection():
    url = postgres_url("sv_field_reconnect")
    if url is None:
        pytest.skip("no PostgreSQL server reachable through `su postgres -c psql`")
    import subprocess

    s = open_store(url)
    assert s.submit_batch([Pending(s.hash("before"), b"1")])[0].status == "stored"
    kill = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'sv_field_reconnect' AND pid <> pg_backend_pid()")
    subprocess.run(["su", "postgres", "-c", f'psql -qAt -c "{kill}"'], check=True, capture_output=True, cwd="/")
    assert s.submit_batch([Pending(s.hash("after"), b"2")])[0].status == "stored"
    assert s.ping() and s.count() == 2
    s.close()


def test_bad_db_urls(tmp_path, study, keys, cli):
    pub, _ = keys
    for db, msg in (("mysql://x", "use sqlite"), (f"sqlite:///{tmp_path}/nodir/x.db", "does not exist"),
                    ("postgresql://nobody:x@127.0.0.1:1/none", "cannot connect")):
        r = cli("serve", study, "--public-key", pub, "--db", db)
        assert r.code == 2 and r.err.startswith("error: ") and msg in r.err, (db, r.err)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    r = cli("export", "--db", f"sqlite:///{junk}", "--out", tmp_path / "e.jsonl")
    assert r.code == 2 and "SQLite" in r.err


# -- the app -------------------------------------------------------------------------------------

def test_pages_headers_no_cookies_and_languages(tmp_path, study, keys):
    pub, _ = keys
    app = make_app(study, pub, f"sqlite:///{tmp_path}/a.db")

    async def go(c):
        out = {}
        for path in ("/", "/?lang=ru", "/thanks", "/healthz", "/openapi.json", "/static/survey.js", "/nope"):
            out[path] = await c.get(path)
        return out

    res = run_app(app, go)
    for path, r in res.items():
        for k, v in SECURITY_HEADERS.items():
            assert r.headers.get(k) == v, (path, k)
        assert "set-cookie" not in r.headers
    page = res["/"].text
    assert res["/"].status_code == 200 and 'autocomplete="off"' in page
    assert "http://" not in page and "https://" not in page  # nothing from third parties
    assert "<script>" not in page and "style=" not in page  # CSP: no inline code
    assert "Hard to say" in page and "Prefer not to answer" in page
    assert "Вы поддерживаете военную операцию?" in res["/?lang=ru"].text
    assert res["/nope"].status_code == 404 and res["/nope"].json()["error"]
    spec = res["/openapi.json"].json()
    assert "/api/submissions" in spec["paths"]
    assert set(spec["paths"]["/api/submissions"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["answers"]["properties"]) == set(COLUMNS)


def test_api_and_form_submissions_roundtrip(tmp_path, study, keys, cli):
    pub, priv = keys
    db = f"sqlite:///{tmp_path}/a.db"
    app = make_app(study, pub, db)
    given = [answers(treat=1, list_count=4), answers(treat=0, list_count=0, q_support=98, dl_treat=1, dl_a=3)]

    async def go(c):
        codes = []
        r = await c.post("/api/submissions", json={"idempotency_key": KEY, "answers": given[0]})
        codes.append(r.status_code)
        assert r.json() == {"status": "stored"}  # issue 11: no record id, which would be a receipt
        r = await c.post("/api/submissions", json={"idempotency_key": KEY, "answers": given[0]})  # retry
        codes.append(r.status_code)
        assert r.json() == {"status": "duplicate"}
        form = form_body(Questionnaire.from_file(study), given[1], key="f" * 30, lang="ru")
        r = await c.post("/submit", data=form)
        codes.append(r.status_code)
        assert r.headers["location"] == "/thanks?lang=ru"
        r = await c.post("/submit", data=form)  # a double click stores once
        codes.append(r.status_code)
        return codes

    assert run_app(app, go) == [201, 200, 303, 303]
    r = cli("export", "--db", db, "--out", tmp_path / "e.jsonl")
    assert r.code == 0, r.err
    header, *lines = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert header["count"] == len(lines) == 2 and header["study"] == "field-test"
    assert all(set(x) == {"id", "ciphertext"} for x in lines)  # the day travels sealed
    r = cli("decrypt", tmp_path / "e.jsonl", "--key", priv, "--out", tmp_path / "a.csv")
    assert r.code == 0, r.err
    df = pd.read_csv(tmp_path / "a.csv")
    assert list(df.columns) == COLUMNS
    got = sorted(df.to_dict("records"), key=lambda d: d["list_treat"])
    assert got == sorted(given, key=lambda d: d["list_treat"])


def test_refusals_are_4xx_with_clear_messages(tmp_path, study, keys):
    pub, _ = keys
    app = make_app(study, pub, f"sqlite:///{tmp_path}/a.db", max_body=2048)

    async def go(c):
        api = "/api/submissions"
        j = {"content-type": "application/json"}
        return [
            (await c.post(api, content=b"{not json", headers=j), 400, "malformed JSON"),
            (await c.post(api, content=b"[1, 2]", headers=j), 400, "JSON object"),
            (await c.post(api, content=b'{"x": 1}', headers=j), 400, "unknown field"),
            (await c.post(api, json={"idempotency_key": "short", "answers": answers()}), 400, "idempotency_key"),
            (await c.post(api, json={"idempotency_key": KEY}), 400, "missing 'answers'"),
            (await c.post(api, json={"idempotency_key": KEY, "answers": answers(cw=7)}), 422, "'cw'"),
            (await c.post(api, json={"idempotency_key": KEY, "answers": [1]}), 422, "object"),
            (await c.post(api, content=b"\xff\xfe", headers=j), 400, "malformed JSON"),
            (await c.post(api, content=b"a=1", headers={"content-type": "text/plain"}), 415, "application/json"),
            (await c.post(api, content=b"x" * 5000, headers=j), 413, "over the limit"),
            (await c.post("/submit", content=b"_key=" + b"a" * 5000,
                          headers={"content-type": "application/x-www-form-urlencoded"}), 413, "over the limit"),
            (await c.post("/submit", data={"_key": "bad"}), 400, "form key"),
            (await c.post("/submit", data={"_key": KEY, "q_support": "7"}), 400, "q_support"),
            (await c.post("/submit", content=b"\xff", headers={"content-type": "application/x-www-form-urlencoded"}), 400, "UTF-8"),
            (await c.get("/api/submissions"), 405, "method not allowed"),
            # issue 11: /static/survey.js/ redirected to a Location built from the Host header
            (await c.get("/static/survey.js/", headers={"host": "evil.example"}), 404, "not found"),
            (await c.get("/static/nope.js"), 404, "not found"),
        ]

    async def chunked(c):  # no Content-Length: the limit still holds while reading
        async def body():
            for _ in range(10):
                yield b"x" * 1000

        return await c.post("/api/submissions", content=body(), headers={"content-type": "application/json"})

    for r, code, msg in run_app(app, go):
        assert r.status_code == code and msg in r.text, (code, r.status_code, r.text[:200])
        assert "location" not in r.headers
    app2 = make_app(study, pub, f"sqlite:///{tmp_path}/b.db", max_body=2048)
    r = run_app(app2, chunked)
    assert r.status_code == 413

    async def deep(c):  # issue 11: 30,000 '[' gave a 500 and a 50-line traceback (RecursionError)
        j = {"content-type": "application/json"}
        return [await c.post("/api/submissions", content=b"[" * 30000, headers=j),
                await c.post("/api/submissions", content=b'{"idempotency_key": "' + b"k" * 20 + b'", "answers": {"cw": '
                             + b"[" * 30000, headers=j)]

    for r in run_app(make_app(study, pub, f"sqlite:///{tmp_path}/c.db"), deep):
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"], r.text[:200]

    async def trickle(c):  # a body that trickles in slower than the deadline holds nothing for long
        async def body():
            yield b'{"idempotency_key": '
            await asyncio.sleep(1.0)
            yield b'"' + b"k" * 20 + b'"}'

        return await c.post("/api/submissions", content=body(), headers={"content-type": "application/json"})

    r = run_app(make_app(study, pub, f"sqlite:///{tmp_path}/d.db", request_timeout=0.3), trickle)
    assert r.status_code == 408 and "in time" in r.json()["error"]


def test_invitation_codes(tmp_path, study, keys, cli):
    pub, _ = keys
    db = f"sqlite:///{tmp_path}/a.db"
    store = invite_store(db, ["alpha-1", "beta-2", "gamma-3"], tmp_path / "invite.key")
    app = make_app(study, pub, store)

    async def go(c):
        page = await c.get("/")
        assert 'name="_invite"' in page.text
        api = "/api/submissions"
        s = [
            await c.post(api, json={"idempotency_key": KEY, "answers": answers()}),
            await c.post(api, json={"idempotency_key": KEY, "answers": answers(), "invite": "alpha-1"}),
            await c.post(api, json={"idempotency_key": KEY, "answers": answers(), "invite": "ALPHA 1"}),  # retry
            await c.post(api, json={"idempotency_key": KEY, "answers": answers(), "invite": "bogus"}),  # retry, bogus code
            await c.post(api, json={"idempotency_key": "z" * 20, "answers": answers(), "invite": "alpha-1"}),
            await c.post(api, json={"idempotency_key": "y" * 20, "answers": answers(), "invite": "guess"}),
        ]
        q = Questionnaire.from_file(study)
        for _ in range(20):  # guessing
            await c.post(api, json={"idempotency_key": secrets.token_urlsafe(16), "answers": answers(), "invite": "guess"})
        f1 = await c.post("/submit", data=form_body(q, answers(), invite="beta-2"))
        f2 = await c.post("/submit", data=form_body(q, answers(), key="g" * 32, invite="beta-2"))
        assert [r.json() for r in s[1:4]] == [{"status": "stored"}, {"status": "duplicate"}, {"status": "duplicate"}]
        return [r.status_code for r in s] + [f1.status_code, f2.status_code]

    batches = []
    real = store.submit_batch
    store.submit_batch = lambda items: batches.append(items) or real(items)  # type: ignore[method-assign]
    assert run_app(app, go) == [403, 201, 200, 200, 403, 403, 303, 403]
    # the wrong and the used codes never reached the writer (read-only check, from memory); the
    # accepted ones and the retries did
    reached = [p for b in batches for p in b]
    assert all(p.invite_tag in (store.tag("alpha-1"), store.tag("beta-2")) or p.idem_hash == store.hash(KEY)
               for p in reached) and len(reached) == 4  # alpha, its two retries, beta
    store.submit_batch = real  # type: ignore[method-assign]
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert b"alpha" not in raw and b"beta" not in raw  # no code in clear
    s = open_store(db)
    assert s.count() == 2
    s.close()
    codes = tmp_path / "empty.txt"
    codes.write_text("\n")
    r = cli("serve", study, "--public-key", pub, "--db", f"sqlite:///{tmp_path}/b.db", "--invites", codes,
            "--invite-key", tmp_path / "b.key")
    assert r.code == 2 and "no codes" in r.err
    r = cli("serve", study, "--public-key", pub, "--db", f"sqlite:///{tmp_path}/b.db", "--invites", codes)
    assert r.code == 2 and "--invite-key" in r.err
    # the invitation-only database refuses to serve without its key, or with another one
    r = cli("serve", study, "--public-key", pub, "--db", db)
    assert r.code == 2 and "--invite-key" in r.err
    (tmp_path / "other.key").write_text("sottovoce-invite-key-v1\n" + base64.b64encode(b"o" * 32).decode() + "\n")
    r = cli("serve", study, "--public-key", pub, "--db", db, "--invite-key", tmp_path / "other.key")
    assert r.code == 2 and "does not match" in r.err


def test_a_code_file_is_imported_once(tmp_path, study, keys, cli):
    """Issue 11: `serve --invites codes.txt` re-imported the file at every start ("7 new") and used codes
    were accepted again. A second import is refused, naming the file; a used code stays used."""
    from sottovoce.field.server import setup_invitations

    pub, _ = keys
    db = f"sqlite:///{tmp_path}/a.db"
    codes, key = tmp_path / "codes.txt", tmp_path / "run" / "invite.key"
    key.parent.mkdir()
    codes.write_text("alpha-1\nbeta-2\n")
    store = open_store(db)
    setup_invitations(store, codes, key, db)  # the first `serve --invites` (before it starts serving)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    t = store.tag("alpha-1")
    assert store.submit_batch([Pending(store.hash("k1"), b"x", t)])[0].status == "stored"
    store.close()
    r = cli("serve", study, "--public-key", pub, "--db", db, "--invites", codes, "--invite-key", key)
    assert r.code == 2 and str(codes) in r.err and "imported once" in r.err and "Traceback" not in r.err
    codes.write_text("beta-2\nalpha-1\n\n")  # reordered: the same codes, still refused
    r = cli("serve", study, "--public-key", pub, "--db", db, "--invites", codes, "--invite-key", key)
    assert r.code == 2 and "imported once" in r.err
    # a new file that repeats a used code adds the new codes, but the used code stays used
    (tmp_path / "more.txt").write_text("alpha-1\ndelta-4\n")
    store = open_store(db)
    setup_invitations(store, tmp_path / "more.txt", key, db)
    assert not store.invite_may_be_valid(store.tag("alpha-1")) and store.invite_may_be_valid(store.tag("delta-4"))
    store.close()


# -- export and decrypt --------------------------------------------------------------------------

def _sealed_db(tmp: Path, pub: Path, n: int, name: str = "a.db", study_file: Path | None = None) -> tuple[str, list[dict]]:
    """A database with ``n`` answers sealed as the server seals them; returns its URL and the answers."""
    q = Questionnaire.from_file(study_file or write_study(tmp))
    db = f"sqlite:///{tmp}/{name}"
    s = open_store(db)
    s.bind_study(q.id)
    pk = load_public_key(pub)
    rows = [answers(treat=i % 2, list_count=(i % 3) + (i % 2), rr_die=i % 2) for i in range(n)]
    s.submit_batch([Pending(s.hash(f"key{i:020d}"), seal(pk, q.encode(a, day="2024-03-01", server=s.server_secret)))
                    for i, a in enumerate(rows)])
    s.close()
    return db, rows


def test_tampered_and_foreign_records_are_reported_by_id(tmp_path, keys, cli):
    pub, priv = keys
    other_pub, _ = make_keys(tmp_path / "other")
    db, _ = _sealed_db(tmp_path, pub, 4)
    s = open_store(db)
    q = Questionnaire.from_file(tmp_path / "study.toml")
    s.submit_batch([Pending(s.hash("foreign"), seal(load_public_key(other_pub), q.encode(answers(), day="2024-03-01", server=s.server_secret)))])
    s.close()
    export_jsonl(db, tmp_path / "e.jsonl")
    header, *lines = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    sk = load_private_key(priv)

    def opens(line: dict) -> bool:
        try:
            unseal(sk, base64.b64decode(line["ciphertext"]))
            return True
        except BadCiphertext:
            return False

    lines.sort(key=lambda x: not opens(x))  # the foreign record last
    assert [opens(x) for x in lines] == [True] * 4 + [False]
    ct = bytearray(base64.b64decode(lines[0]["ciphertext"]))
    ct[-1] ^= 0x20
    lines[0]["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    lines[1]["ciphertext"] = "%%%"
    (tmp_path / "t.jsonl").write_text(json.dumps(header) + "\n" + "".join(json.dumps(x) + "\n" for x in lines) + "{broken\n")
    res = decrypt_jsonl(tmp_path / "t.jsonl", sk)
    assert {lines[0]["id"], lines[1]["id"], lines[4]["id"], "line 7"} == {rid for rid, _ in res.bad}
    assert len(res.bad) == 4 and len(res.table) == 2  # the record sealed to another key is bad too
    assert res.problems  # the file as a whole does not match its header either
    r = cli("decrypt", tmp_path / "t.jsonl", "--key", priv, "--out", tmp_path / "a.csv")
    assert r.code == 2 and lines[0]["id"] in r.err and "4 records not usable" in r.err and "the 2 good records" in r.err and len(r.err.splitlines()) == 1
    assert not (tmp_path / "a.csv").exists()
    r = cli("decrypt", tmp_path / "t.jsonl", "--key", priv, "--out", tmp_path / "a.csv", "--skip-bad")
    assert r.code == 0 and lines[0]["id"] in r.err and len(pd.read_csv(tmp_path / "a.csv")) == 2
    r = cli("decrypt", tmp_path / "t.jsonl", "--key", priv, "--out", tmp_path / "t.jsonl", "--skip-bad")
    assert r.code == 2 and "overwrite" in r.err


def test_export_you_can_trust(tmp_path, keys, cli):
    """Issue 11, attack 8: a truncated export decrypted with exit 0, duplicated lines gave extra rows,
    records forged with the public key alone were accepted, another study's file gave no warning.
    Each is now one error line (exit 2); --skip-bad writes the good rows and names the rest."""
    pub, priv = keys
    db, rows = _sealed_db(tmp_path, pub, 60)
    export = tmp_path / "e.jsonl"
    assert cli("export", "--db", db, "--out", export).code == 0
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    head, *body = export.read_text().splitlines(keepends=True)
    q = Questionnaire.from_file(tmp_path / "study.toml")

    def decrypt(text: str, *extra) -> tuple:
        f = tmp_path / f"in-{secrets.token_hex(4)}.jsonl"
        f.write_text(text)
        out = tmp_path / f"out-{secrets.token_hex(4)}.csv"
        r = cli("decrypt", f, "--key", priv, "--out", out, *extra)
        return r, (len(pd.read_csv(out)) if out.exists() else None)

    r, n = decrypt(head + "".join(body))
    assert r.code == 0 and n == 60, r.err
    # 1. cut at a line boundary: 40 records gone
    r, n = decrypt(head + "".join(body[:20]))
    assert r.code == 2 and n is None and "truncated" in r.err and "40 missing" in r.err and len(r.err.splitlines()) == 1
    r, n = decrypt(head + "".join(body[:20]), "--skip-bad")
    assert r.code == 0 and n == 20 and "truncated" in r.err
    # ... and with the count in the header edited to match: the header's MAC gives it away
    forged_head = json.loads(head)
    forged_head["count"] = 20
    r, n = decrypt(json.dumps(forged_head) + "\n" + "".join(body[:20]))
    assert r.code == 2 and "header was altered" in r.err
    # 2. duplicated lines
    r, n = decrypt(head + "".join(body) + "".join(body[:3]))
    assert r.code == 2 and "duplicated" in r.err
    r, n = decrypt(head + "".join(body) + "".join(body[:3]), "--skip-bad")
    assert r.code == 0 and n == 60
    # 3. a record forged with the public key alone (the forger does not know the server token)
    forged = seal(load_public_key(pub), q.encode(answers(q_support=1), day="2024-03-01", server=b"f" * 32))
    line = json.dumps({"id": "f" * 32, "ciphertext": base64.b64encode(forged).decode()}) + "\n"
    r, n = decrypt(head + "".join(body[:-1]) + line)
    assert r.code == 2 and "not sealed by this export's server" in r.err and "f" * 32 in r.err
    r, n = decrypt(head + "".join(body[:-1]) + line, "--skip-bad")
    assert r.code == 0 and n == 59
    # 4. another study's export (same key, reused by the analyst): named, and refused with --study
    other = tmp_path / "other"
    other.mkdir()
    (other / "study.toml").write_text((tmp_path / "study.toml").read_text().replace('id = "field-test"', 'id = "other-study"'))
    odb, _ = _sealed_db(other, pub, 5, study_file=other / "study.toml")
    export_jsonl(odb, other / "e.jsonl")
    r, n = decrypt((other / "e.jsonl").read_text(), "--study", "field-test")
    assert r.code == 2 and "other-study" in r.err
    r, n = decrypt((other / "e.jsonl").read_text(), "--study", str(tmp_path / "study.toml"))
    assert r.code == 2 and "other-study" in r.err
    # two exports joined into one file
    r, n = decrypt(head + "".join(body) + (other / "e.jsonl").read_text())
    assert r.code == 2 and "second export header" in r.err
    # 5. the server id can be pinned
    sid = json.loads(head)["server"]
    assert decrypt(head + "".join(body), "--server-id", sid)[0].code == 0
    r, _ = decrypt(head + "".join(body), "--server-id", "0000-0000-0000-0000")
    assert r.code == 2 and sid in r.err


def test_wrong_key_is_said_once(tmp_path, keys, cli):
    """Issue 15: a wrong key printed one message per record (307 lines); now one line, exit 2."""
    pub, _ = keys
    _, other_priv = make_keys(tmp_path / "other")
    db, _ = _sealed_db(tmp_path, pub, 30)
    export_jsonl(db, tmp_path / "e.jsonl")
    for extra in ((), ("--skip-bad",)):
        r = cli("decrypt", tmp_path / "e.jsonl", "--key", other_priv, "--out", tmp_path / "a.csv", *extra)
        assert r.code == 2 and r.err.count("\n") <= 1 and "wrong key?" in r.err and "30 records" in r.err
        assert not (tmp_path / "a.csv").exists()


def test_cli_bad_inputs(tmp_path, study, keys, cli):
    pub, priv = keys
    cases = [
        (("decrypt", tmp_path / "none.jsonl", "--key", priv, "--out", tmp_path / "a.csv"), "not found"),
        (("decrypt", tmp_path / "none.jsonl", "--key", pub, "--out", tmp_path / "a.csv"), "private key"),
        (("serve", study, "--public-key", tmp_path / "nope.key"), "not found"),
        (("serve", tmp_path / "nope.toml", "--public-key", pub), "nope.toml"),
        (("serve", study, "--public-key", pub, "--invites", tmp_path / "nope.txt"), "--invites"),
        (("keys", "new", "--out", study), "not a directory"),
        (("keys", "new", "--out", tmp_path / "k2", "--passphrase-file", tmp_path / "nope"), "--passphrase-file"),
        (("export", "--db", f"sqlite:///{tmp_path}/a.db", "--out", tmp_path / "a.db"), "database itself"),
    ]
    for args, msg in cases:
        r = cli(*args)
        assert r.code == 2 and r.err.startswith("error: ") and msg in r.err and "Traceback" not in r.err, (args, r.err)
    for junk in (b"\xff\xfe\x00garbage", b'{"id": "x", "ciphertext": "AAAA"}\n'):  # not an export, or an old one
        (tmp_path / "e.jsonl").write_bytes(junk)
        r = cli("decrypt", tmp_path / "e.jsonl", "--key", priv, "--out", tmp_path / "a.csv")
        assert r.code == 2 and "not a sottovoce export" in r.err


def test_decrypted_table_feeds_the_estimators(tmp_path, study, keys):
    """The table has the study's answer columns with the codes the estimators expect."""
    pub, priv = keys
    db, rows = _sealed_db(tmp_path, pub, 40)
    export_jsonl(db, tmp_path / "e.jsonl")
    res = decrypt_jsonl(tmp_path / "e.jsonl", load_private_key(priv), with_meta=True)
    assert list(res.table.columns) == ["record_id", "day", *COLUMNS] and not res.bad and not res.problems
    assert set(res.table.day) == {"2024-03-01"}
    t = res.table
    dim = t.loc[t.list_treat == 1, "list_count"].mean() - t.loc[t.list_treat == 0, "list_count"].mean()
    truth = pd.DataFrame(rows)
    assert dim == pytest.approx(truth.loc[truth.list_treat == 1, "list_count"].mean() - truth.loc[truth.list_treat == 0, "list_count"].mean())
    assert os.path.getsize(tmp_path / "e.jsonl") > 0


def test_collect_export_decrypt_analyze(tmp_path, keys, cli):
    """The researcher's path: answers through the API, export, decrypt, `sottovoce analyze` on the table.

    The estimates must equal the closed forms computed from the answers sent, so the columns and
    codes the server writes are the ones the estimators read.
    """
    import random

    pub, priv = keys
    study = write_study(tmp_path)
    study.write_text(study.read_text().replace('language = "en"\n', 'language = "en"\n\n[data]\npath = "answers.csv"\n', 1))
    app = make_app(study, pub, f"sqlite:///{tmp_path}/a.db")
    rng = random.Random(3)
    sent = []
    for _ in range(300):
        tr, dt = rng.randrange(2), rng.randrange(2)
        sent.append(answers(treat=tr, list_count=rng.randint(0, 3 + tr), dl_treat=dt, dl_a=rng.randint(0, 2 + dt),
                            dl_b=rng.randint(0, 3 - dt), q_support=rng.choice([1, 2, 99, 98]), rr_die=rng.randrange(2),
                            rr_browser=int(rng.random() < 0.4), cw=int(rng.random() < 0.6)))

    async def go(c):
        return [(await c.post("/api/submissions", json={"idempotency_key": f"key-{i:020d}", "answers": a})).status_code
                for i, a in enumerate(sent)]

    assert set(run_app(app, go)) == {201}
    assert cli("export", "--db", f"sqlite:///{tmp_path}/a.db", "--out", tmp_path / "e.jsonl").code == 0
    assert cli("decrypt", tmp_path / "e.jsonl", "--key", priv, "--out", tmp_path / "answers.csv").code == 0
    r = cli("analyze", study, "--out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    est = {q["id"]: q["result"]["estimate"] for q in r.json()["questions"]}
    d = pd.DataFrame(sent)
    assert est["support_direct"] == pytest.approx((d.q_support == 1).mean())
    dim = d[d.list_treat == 1].list_count.mean() - d[d.list_treat == 0].list_count.mean()
    assert est["support_list"] == pytest.approx(dim)
    p, p1 = 2 / 3, 1 / 6
    assert est["support_rr_die"] == pytest.approx((d.rr_die.mean() - p1) / p)  # forced response (Boruch 1971)
    assert est["support_rr_browser"] == pytest.approx((d.rr_browser.mean() - (1 - p)) / (2 * p - 1))  # Warner (1965)
    q = 0.25
    assert est["support_cw"] == pytest.approx((d.cw.mean() + q - 1) / (2 * q - 1))  # crosswise (Yu et al. 2008)


def test_keys_invites_makes_unique_private_codes(tmp_path, cli):
    out = tmp_path / "codes.txt"
    r = cli("keys", "invites", "--count", "50", "--out", out)
    assert r.code == 0, r.err
    codes = out.read_text().split()
    assert len(codes) == len(set(codes)) == 50
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    assert (out.stat().st_mode & 0o777) == 0o600
    again = cli("keys", "invites", "--count", "5", "--out", out)
    assert again.code == 2 and again.err.startswith("error:") and "refusing to overwrite" in again.err
    assert out.read_text().split() == codes
    assert cli("keys", "invites", "--count", "0", "--out", tmp_path / "x.txt").code == 2


def test_log_flood_is_impossible():
    """Issue 11: a flood wrote 47 MB of tracebacks in 11 s. Each kind of line now appears a few times a
    minute, as one line, and what was dropped is counted."""
    import io
    import logging

    from sottovoce.field.server import OneLineRateLimit

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    flt = OneLineRateLimit(per_kind=3, total=30)
    handler.addFilter(flt)
    lg = logging.getLogger("sottovoce.test-flood")
    lg.addHandler(handler)
    lg.propagate = False
    try:
        for i in range(5000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                lg.exception("socket.accept() out of system resource %d", i)
            lg.warning("Exceeded concurrency limit.")
        flt._window -= 61  # a minute later
        lg.warning("Exceeded concurrency limit.")
    finally:
        lg.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 7 and "Traceback" not in out.getvalue() and "Too many open files" in lines[0]
    assert "9994 log lines suppressed" in lines[-1]
