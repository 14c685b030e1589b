"""OpenAPI 3.0 description of the submission API, generated from the study's questions."""

from __future__ import annotations

from typing import Any

from .questionnaire import Questionnaire

__all__ = ["openapi_spec", "IDEM_PATTERN"]

IDEM_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"

_ERROR = {
    "description": "Refused, with a message saying why",
    "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}},
}


def openapi_spec(q: Questionnaire, max_body: int) -> dict[str, Any]:
    """The API as served at ``/openapi.json`` (answers schema derived from the study file)."""
    answers = q.answer_schema()
    submission = {
        "type": "object",
        "required": ["idempotency_key", "answers"],
        "additionalProperties": False,
        "properties": {
            "idempotency_key": {
                "type": "string", "pattern": IDEM_PATTERN,
                "description": "Random per submission (16-128 of A-Z a-z 0-9 _ -); a retry with the same key is stored once.",
            },
            "invite": {"type": "string", "maxLength": 128, "description": "One-time invitation code, if the study requires one."},
            "answers": answers,
        },
    }
    form = {
        "type": "object",
        "required": ["_key", *answers["required"]],
        "properties": {
            "_key": {"type": "string", "pattern": IDEM_PATTERN},
            # answers are sent as their zero-padded position among the column's values
            "_lang": {"type": "string", "enum": ["en", "ru"]},
            "_invite": {"type": "string", "maxLength": 128},
            **{c: {"type": "string"} for c in answers["properties"]},
        },
    }
    # the status only: no record id, which would be a receipt tying a respondent to a row
    stored = {"type": "object", "properties": {"status": {"type": "string", "enum": ["stored", "duplicate"]}},
              "required": ["status"], "additionalProperties": False}
    refusals = {
        "400": _ERROR, "403": _ERROR, "408": _ERROR, "413": _ERROR, "415": _ERROR, "422": _ERROR,
        "503": {**_ERROR, "description": "Storage unavailable; retry later with the same idempotency key"},
    }
    html = {"text/html": {"schema": {"type": "string"}}}
    lang = [{"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["en", "ru"]}}]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"sottovoce survey server: {q.id}",
            "version": "1",
            "description": "Submissions are sealed to the study's public key on arrival. No address, "
            f"user agent or time finer than the day is stored. Bodies over {max_body} bytes are refused (413).",
        },
        "paths": {
            "/api/submissions": {"post": {
                "summary": "Submit one respondent's answers",
                "operationId": "submit",
                "requestBody": {"required": True, "content": {"application/json": {"schema": submission}}},
                "responses": {
                    "201": {"description": "Stored", "content": {"application/json": {"schema": stored}}},
                    "200": {"description": "Already stored under this idempotency key", "content": {"application/json": {"schema": stored}}},
                    **refusals,
                },
            }},
            "/submit": {"post": {
                "summary": "The survey form's target (HTML); redirects to the thank-you page",
                "operationId": "submitForm",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
                "responses": {"303": {"description": "Stored; see /thanks"}, **{k: {"description": v["description"], "content": html} for k, v in refusals.items()}},
            }},
            "/": {"get": {"summary": "The survey page", "operationId": "survey", "parameters": lang,
                          "responses": {"200": {"description": "HTML form", "content": html}}}},
            "/thanks": {"get": {"summary": "Thank-you page (contains no answers)", "operationId": "thanks", "parameters": lang,
                                "responses": {"200": {"description": "HTML", "content": html}}}},
            "/healthz": {"get": {"summary": "Health check (database reachable)", "operationId": "health",
                                 "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                                               "503": _ERROR}}},
        },
    }
