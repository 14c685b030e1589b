"""Fuzzing the submission API: schemathesis from the served OpenAPI description, plus hypothesis bodies.

No request may produce a 5xx; every refusal is a 4xx with a message that says what was wrong.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.field.app import create_app
from sottovoce.field.crypto import load_public_key
from sottovoce.field.questionnaire import Questionnaire
from test_field_support import COLUMNS, answers, make_keys, write_study

pytestmark = pytest.mark.xdist_group("field-fuzz")
MAX_BODY = 4096


def _app(tmp):
    study = write_study(tmp)
    pub, _ = make_keys(tmp)
    return create_app(Questionnaire.from_file(study), load_public_key(pub), f"sqlite:///{tmp}/fuzz.db", max_body=MAX_BODY)


_tmp_app = None


def _shared_app(tmp_path_factory=None):
    global _tmp_app
    if _tmp_app is None:
        import tempfile
        from pathlib import Path

        _tmp_app = _app(Path(tempfile.mkdtemp(prefix="sv-fuzz-")))
    return _tmp_app


schema = schemathesis.openapi.from_asgi("/openapi.json", _shared_app())


def _clear_refusal(response) -> None:
    if 400 <= response.status_code < 500:
        text = response.text
        ctype = response.headers.get("content-type", "")
        ctype = ctype[0] if isinstance(ctype, list) else ctype  # schemathesis keeps header lists
        if ctype.startswith("application/json"):
            msg = json.loads(text)["error"]
        else:
            assert 'class="error"' in text
            msg = text.split('class="error">', 1)[1].split("<", 1)[0]
        assert len(msg) > 8, f"unclear refusal: {msg!r}"


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_no_5xx(case):
    response = case.call()
    assert response.status_code < 500, response.text[:200]
    _clear_refusal(response)


def _post(app, path: str, body: bytes, ctype: str):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.post(path, content=body, headers={"content-type": ctype})

    return asyncio.run(go())


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["/api/submissions", "/submit"]),
    ctype=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data", ""]),
    body=st.one_of(
        st.binary(max_size=6000),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"idempotency_key": st.text(min_size=0, max_size=140), "answers": st.dictionaries(
            st.sampled_from(COLUMNS + ["other"]), json_values, max_size=12)}).map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.sampled_from(COLUMNS + ["_key", "_lang", "_invite"]), st.text(max_size=30), max_size=12).map(
            lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")),
    ),
)
def test_random_bodies_get_4xx_or_success(path, ctype, body):
    r = _post(_shared_app(), path, body, ctype)
    assert r.status_code < 500, r.text[:200]
    if r.status_code >= 400:
        _clear_refusal(r)
    if len(body) > MAX_BODY:
        assert r.status_code == 413


def test_valid_submission_still_accepted_after_fuzzing():
    r = _post(_shared_app(), "/api/submissions", json.dumps({"idempotency_key": "q" * 20, "answers": answers()}).encode(), "application/json")
    assert r.status_code in (200, 201)
