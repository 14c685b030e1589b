"""The survey server: a Starlette ASGI app that seals each submission before anything stores it.

Routes: ``GET /`` (the survey, ``?lang=en|ru``), ``POST /submit`` (the form, works without
JavaScript), ``POST /api/submissions`` (JSON), ``GET /thanks``, ``GET /healthz``,
``GET /openapi.json`` and ``/static/*`` (own CSS and JS only). Every response carries a strict
CSP, ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` and ``nosniff``; none sets a
cookie. The only log line per request is ``METHOD /path STATUS`` (no address, query, agent or body).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
import nacl.public
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .crypto import seal
from .openapi import IDEM_PATTERN, openapi_spec
from .questionnaire import UI, AnswerError, Questionnaire, encode_payload
from .storage import GroupCommitter, Pending, Store, open_store

__all__ = ["create_app", "run_server", "SECURITY_HEADERS", "DEFAULT_MAX_BODY"]

log = logging.getLogger("sottovoce.field")

DEFAULT_MAX_BODY = 64 * 1024
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; "
    "img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_IDEM = re.compile(IDEM_PATTERN)
_LOGGED_PATHS = {"/", "/submit", "/api/submissions", "/thanks", "/healthz", "/openapi.json",
                 "/static/survey.css", "/static/survey.js"}



class _TooLarge(Exception):
    pass


class Guard:
    """Outermost ASGI layer: body-size limit, security headers, and address-free logging."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"set-cookie"]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        async def refuse(code: int, msg: str) -> None:
            await JSONResponse({"error": msg}, status_code=code)(scope, receive, send_secured)

        length = dict(scope.get("headers", [])).get(b"content-length")
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                if length.isdigit():
                    await refuse(413, f"request body of {int(length)} bytes is over the limit of {self.max_body} bytes")
                else:
                    await refuse(400, "malformed Content-Length header")
            else:
                seen = 0

                async def limited_receive() -> Message:
                    nonlocal seen
                    message = await receive()
                    if message["type"] == "http.request":
                        seen += len(message.get("body", b""))
                        if seen > self.max_body:
                            raise _TooLarge
                    return message

                try:
                    await self.app(scope, limited_receive, send_secured)
                except _TooLarge:
                    if status["code"]:
                        raise
                    await refuse(413, f"request body is over the limit of {self.max_body} bytes")
        finally:
            path = scope.get("path", "")
            log.info("%s %s %s", scope.get("method", "?"), path if path in _LOGGED_PATHS else "(other)", status["code"])


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it goes over the size limit (checked while reading)."""
    try:
        return await request.body()
    except _TooLarge:
        return None


def _error(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"error": msg}, status_code=code)


def create_app(
    questionnaire: Questionnaire,
    public_key: nacl.public.PublicKey,
    db: str | Store,
    *,
    max_body: int = DEFAULT_MAX_BODY,
) -> Guard:
    """Build the ASGI app for one study. ``db`` is a URL (see :func:`open_store`) or an open store.

    The app holds only the *public* key: it can seal answers but never read them back.
    """
    store = open_store(db) if isinstance(db, str) else db
    committer = GroupCommitter(store)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sottovoce.field", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    static = {
        name: (resources.files("sottovoce.field").joinpath("static", name).read_bytes(), ctype)
        for name, ctype in (("survey.css", "text/css; charset=utf-8"), ("survey.js", "text/javascript; charset=utf-8"))
    }
    spec = openapi_spec(questionnaire, max_body)
    study = questionnaire.study

    def lang_of(value: str | None) -> str:
        return value if value in UI else (study.language if study.language in UI else "en")

    def page(name: str, lang: str, path: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        title = study.text(study.title, lang) or study.id
        html = env.get_template(name).render(lang=lang, ui=UI[lang], title=title, path=path, **ctx)
        return HTMLResponse(html, status_code=status)

    async def store_sealed(answers: dict[str, Any], key: str, invite: str | None) -> tuple[str, str | None]:
        """Seal, then queue for the next group commit; returns (status, id) once durable."""
        ciphertext = seal(public_key, encode_payload(questionnaire.id, answers))
        item = Pending(store.hash(key), ciphertext, store.hash(invite.strip()) if invite is not None else None)
        outcome = await asyncio.wrap_future(committer.submit(item))
        return outcome.status, outcome.id

    async def survey(request: Request) -> Response:
        lang = lang_of(request.query_params.get("lang"))
        return page("survey.html", lang, "/", blocks=questionnaire.render(lang), key=secrets.token_urlsafe(24),
                    invites=invites_required())

    async def thanks(request: Request) -> Response:
        return page("thanks.html", lang_of(request.query_params.get("lang")), "/thanks")

    def invites_required() -> bool:
        return bool(state.get("invites"))

    async def submit_form(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        lang = lang_of(None)
        if ctype != "application/x-www-form-urlencoded":
            return page("error.html", lang, "/", 415, message="send the form as application/x-www-form-urlencoded")
        raw = await _body(request)
        if raw is None:
            return page("error.html", lang, "/", 413, message=f"request body is over the limit of {max_body} bytes")
        try:
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
        except (UnicodeDecodeError, ValueError):
            return page("error.html", lang, "/", 400, message="malformed form body (not UTF-8 url-encoded)")
        if any(len(v) > 1 for v in fields.values()):
            return page("error.html", lang, "/", 400, message="a form field was sent more than once")
        form = {k: v[0] for k, v in fields.items()}
        lang = lang_of(form.get("_lang"))
        key = form.get("_key", "")
        if not _IDEM.match(key):
            return page("error.html", lang, "/", 400, message="missing or malformed form key (_key); reload the survey page")
        try:
            answers = questionnaire.answers_from_form(form)
        except AnswerError as exc:
            return page("error.html", lang, "/", 400, message=str(exc))
        invite = form.get("_invite") if invites_required() else None
        if invites_required() and not invite:
            return page("error.html", lang, "/", 403, message=_invite_msg(lang))
        try:
            status, _ = await store_sealed(answers, key, invite)
        except Exception:
            log.exception("storage failed")
            return page("error.html", lang, "/", 503, message="the server could not store your answers; please try again")
        if status == "bad_invite":
            return page("error.html", lang, "/", 403, message=_invite_msg(lang))
        # Post/Redirect/Get: reloading the thank-you page cannot resubmit, and the form is gone
        return RedirectResponse(f"/thanks?lang={lang}", status_code=303)

    async def submit_api(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _error(415, "send the submission as application/json")
        raw = await _body(request)
        if raw is None:
            return _error(413, f"request body is over the limit of {max_body} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"malformed JSON body ({str(exc)[:80]})")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object with idempotency_key and answers")
        extra = sorted(set(body) - {"idempotency_key", "answers", "invite"})
        if extra:
            return _error(400, f"unknown field(s) {', '.join(map(repr, extra[:5]))}; allowed: idempotency_key, answers, invite")
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not _IDEM.match(key):
            return _error(400, "idempotency_key must be a string of 16-128 characters A-Z a-z 0-9 _ -")
        invite = body.get("invite")
        if invite is not None and (not isinstance(invite, str) or len(invite) > 128):
            return _error(400, "invite must be a string of at most 128 characters")
        if "answers" not in body:
            return _error(400, "missing 'answers' (an object mapping answer columns to values)")
        try:
            answers = questionnaire.validate(body["answers"])
        except AnswerError as exc:
            return _error(422, str(exc))
        if invites_required() and not invite:
            return _error(403, "this survey needs an invitation code ('invite')")
        try:
            status, rid = await store_sealed(answers, key, invite if invites_required() else None)
        except Exception:
            log.exception("storage failed")
            return _error(503, "storage unavailable; retry later with the same idempotency_key")
        if status == "bad_invite":
            return _error(403, "invitation code not valid or already used")
        return JSONResponse({"status": status, "id": rid}, status_code=201 if status == "stored" else 200)

    async def healthz(request: Request) -> Response:
        ok = await asyncio.to_thread(store.ping)
        return JSONResponse({"status": "ok", "study": questionnaire.id}) if ok else _error(503, "database unreachable")

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    def static_file(name: str) -> Callable[[Request], Awaitable[Response]]:
        body, ctype = static[name]

        async def handler(request: Request) -> Response:
            return Response(body, media_type=ctype)

        return handler

    state: dict[str, Any] = {"invites": store.invites_enabled()}
    routes = [
        Route("/", survey, methods=["GET"]),
        Route("/thanks", thanks, methods=["GET"]),
        Route("/submit", submit_form, methods=["POST"]),
        Route("/api/submissions", submit_api, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *[Route(f"/static/{n}", static_file(n), methods=["GET"]) for n in static],
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        msg = {404: "not found", 405: "method not allowed"}.get(code, "refused")
        return _error(code, msg)

    def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        import contextlib

        @contextlib.asynccontextmanager
        async def span():  # type: ignore[no-untyped-def]
            yield
            # commit what is queued; the connection stays open (it closes with the process), so an
            # app that goes through another lifespan (tests, reloads) keeps working
            await asyncio.to_thread(committer.close)

        return span()

    inner = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    guard = Guard(inner, max_body)
    guard.store = store  # type: ignore[attr-defined]  # for the CLI and tests
    guard.committer = committer  # type: ignore[attr-defined]
    guard.state = state  # type: ignore[attr-defined]
    return guard


def _invite_msg(lang: str) -> str:
    return ("Код приглашения неверен или уже использован." if lang == "ru"
            else "This invitation code is not valid or has already been used.")


def run_server(
    study: str | os.PathLike[str],
    public_key: str | os.PathLike[str],
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    invites: str | os.PathLike[str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> None:
    """What ``sottovoce serve`` does: check everything, then run uvicorn with no access log."""
    import sys

    import uvicorn

    from ..errors import InputError
    from .crypto import load_public_key
    from .storage import _redact

    questionnaire = Questionnaire.from_file(Path(study))
    key = load_public_key(public_key)
    if invites is not None and not Path(invites).is_file():
        raise InputError(f"--invites {invites}: file not found; give a text file with one code per line")
    store = open_store(db)
    if invites is not None:
        codes = Path(invites).read_text(encoding="utf-8").splitlines()
        if not any(c.strip() for c in codes):
            raise InputError(f"--invites {invites}: no codes in the file; put one code per line")
        added = store.add_invites(codes)
        store.require_invites()
        print(f"invitation codes: {added} new, {store.invites_left()} unused", file=sys.stderr)
    # our own log lines only: METHOD /path STATUS, no time, no address (uvicorn's access log is off)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    app = create_app(questionnaire, key, store, max_body=max_body)
    print(f"serving study '{questionnaire.id}' on http://{host}:{port}/ (database {_redact(db)})", file=sys.stderr, flush=True)
    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=False, server_header=False,
        date_header=False, proxy_headers=False, lifespan="on", timeout_graceful_shutdown=5,
    )
