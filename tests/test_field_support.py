"""Shared helpers for the survey-server tests (a study with every design, a running server)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sottovoce.field.loadtest import Server, free_port  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ADDR = "127.0.0.77"  # tests connect from this loopback address so the grep test can look for it

STUDY_TOML = """
[study]
id = "field-test"
title = { en = "Field test survey", ru = "Тестовый опрос" }
language = "en"

[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
text = { en = "Do you support the military operation?", ru = "Вы поддерживаете военную операцию?" }
options = [
  { code = 1, en = "Yes", ru = "Да" },
  { code = 2, en = "No", ru = "Нет" },
]
yes = [1]
hard_to_say = [99]
refused = [98]

[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 3
lead = { en = "How many of these apply to you? Only say how many.", ru = "Сколько из этого относится к вам?" }
control_items = { en = ["I own a car", "I read books", "I have a cat"], ru = ["У меня есть машина", "Я читаю книги", "У меня есть кошка"] }
sensitive_item = { en = "I support the operation", ru = "Я поддерживаю операцию" }

[[questions]]
id = "support_double"
type = "double_list"
count_a = "dl_a"
count_b = "dl_b"
treat = "dl_treat"
items_a = 2
items_b = 2
control_items_a = { en = ["I cook", "I ski"], ru = ["Я готовлю", "Я катаюсь на лыжах"] }
control_items_b = { en = ["I swim", "I sing"], ru = ["Я плаваю", "Я пою"] }
sensitive_item = { en = "I support the operation", ru = "Я поддерживаю операцию" }

[[questions]]
id = "support_rr_die"
type = "rr"
design = "forced"
response = "rr_die"
p = 0.6666666666666666
p1 = 0.16666666666666666
p0 = 0.16666666666666666
device = "die"
text = { en = "Do you support the operation?", ru = "Вы поддерживаете операцию?" }

[[questions]]
id = "support_rr_browser"
type = "rr"
design = "warner"
response = "rr_browser"
p = 0.6666666666666666
device = "browser"
text = { en = "I support the operation.", ru = "Я поддерживаю операцию." }

[[questions]]
id = "support_cw"
type = "crosswise"
response = "cw"
q = 0.25
text = { en = "I support the operation", ru = "Я поддерживаю операцию" }
innocuous = { en = "My mother was born in January, February or March", ru = "Моя мама родилась в январе, феврале или марте" }
"""

COLUMNS = ["q_support", "list_treat", "list_count", "dl_treat", "dl_a", "dl_b", "rr_die", "rr_browser", "cw"]


def write_study(tmp: Path) -> Path:
    p = tmp / "study.toml"
    p.write_text(STUDY_TOML, encoding="utf-8")
    return p


def invite_store(url: str, codes: list[str], key_file: Path):
    """A store that has imported ``codes`` under the invitation key in ``key_file`` (made if absent)."""
    from sottovoce.field.storage import open_store, read_invite_key

    store = open_store(url)
    store.unlock_invites(read_invite_key(key_file, create=True))
    store.import_invites(codes, "codes.txt")
    return store


def make_keys(tmp: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
    from sottovoce.field.crypto import new_keypair

    return new_keypair(tmp / "keys", passphrase)


def form_body(q, answers: dict, key: str = "f" * 32, lang: str = "en", invite: str | None = None) -> dict[str, str]:
    """The form a browser posts for ``answers`` (fields in page order; values as the page offers them)."""
    fields = {"_key": key, "_lang": lang}
    if invite is not None:
        fields["_invite"] = invite
    fields.update({c: q.form_value(c, answers[c]) for c in q.columns()})
    return fields


def answers(treat: int = 1, dl_treat: int = 0, **kw: int) -> dict[str, int]:
    a = {"q_support": 2, "list_treat": treat, "list_count": 2, "dl_treat": dl_treat, "dl_a": 1, "dl_b": 2,
         "rr_die": 1, "rr_browser": 0, "cw": 1}
    a.update(kw)
    return a


def run_app(app, coro_fn):  # noqa: ANN001, ANN201
    """Run ``coro_fn(client)`` against the ASGI app in-process (httpx), then close its committer."""
    import asyncio

    import httpx

    async def main():  # noqa: ANN202
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            return await coro_fn(c)

    try:
        return asyncio.run(main())
    finally:
        app.committer.close()


async def post_consented(c, q, hidden: dict, answers: dict) -> None:  # noqa: ANN001 (httpx client, Questionnaire)
    """Post the consented English web form for ``answers`` on a page whose hidden fields are
    ``hidden``; the server must answer with the thanks redirect."""
    from urllib.parse import urlencode

    body = {"_key": hidden["_key"], "_lang": "en", "_consent": "1", **{col: q.form_value(col, answers[col]) for col in q.columns()}}
    r = await c.post("/submit", content=urlencode(body), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 303, r.text


def post_many(app, n: int, one, batch: int = 50) -> None:  # noqa: ANN001 (ASGI app, coroutine function)
    """Run ``one(client)`` ``n`` times against the app, ``batch`` at a time, then close its committer."""
    import asyncio

    async def go(c):  # noqa: ANN001, ANN202
        for start in range(0, n, batch):
            await asyncio.gather(*(one(c) for _ in range(start, min(n, start + batch))))

    run_app(app, go)


def start_server(tmp: Path, study: Path, extra: list[str] | None = None) -> tuple[Server, str, Path]:
    """A running survey server for ``study`` with fresh keys and a SQLite database in ``tmp``:
    (server, database URL, private key). The server knows its questionnaire; stop it afterwards."""
    from sottovoce.field.questionnaire import Questionnaire

    pub, priv = make_keys(tmp)
    db = f"sqlite:///{tmp}/answers.db"
    server = Server(study, pub, db, tmp / "server.log", extra=extra or []).start()
    server.questionnaire = Questionnaire.from_file(study)
    return server, db, priv


def exported_answers(cli, db: str, priv: Path, tmp: Path):  # noqa: ANN001, ANN201 (cli fixture; a DataFrame)
    """Export the database and decrypt it with the CLI, as an analyst would; the answers table."""
    import pandas as pd

    out = tmp / "e.jsonl"
    assert cli("export", "--db", db, "--out", out).code == 0
    r = cli("decrypt", out, "--key", priv, "--out", tmp / "answers.csv")
    assert r.code == 0, r.err
    return pd.read_csv(tmp / "answers.csv")



PG_ROLE = "sv_field_test"


def postgres_url(dbname: str) -> str | None:
    """Create a fresh database (owned by a test role) via `su postgres -c psql`; None if no server."""
    import shutil

    if shutil.which("psql") is None or shutil.which("su") is None:
        return None

    def psql(sql: str) -> bool:
        r = subprocess.run(["su", "postgres", "-c", f'psql -qAt -v ON_ERROR_STOP=1 -c "{sql}"'],
                           capture_output=True, text=True, cwd="/", timeout=60)
        return r.returncode == 0

    role = (f"DO \\$\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{PG_ROLE}') THEN "
            f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_ROLE}'; END IF; END \\$\\$")
    try:
        if not psql(role):
            return None
        psql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        if not psql(f"CREATE DATABASE {dbname} OWNER {PG_ROLE}"):
            return None
    except (OSError, subprocess.SubprocessError):
        return None
    return f"postgresql://{PG_ROLE}:{PG_ROLE}@127.0.0.1/{dbname}"
