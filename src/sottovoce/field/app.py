"""The survey server: a Starlette ASGI app that seals each submission before anything stores it.

Routes: ``GET /`` (the survey, ``?lang=en|ru``), ``POST /submit`` (the form, works without
JavaScript), ``POST /api/submissions`` (JSON), ``GET /thanks``, ``GET /healthz``,
``GET /openapi.json`` and ``/static/*`` (own CSS and JS only). Every response carries a strict
CSP, ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` and ``nosniff``; none sets a
cookie, and no redirect is ever built from the request's ``Host`` header (trailing-slash redirects
are off; the one redirect, after a form, is a relative path). Nothing is logged per request.

The handlers are module functions; what they share (questionnaire, key, store, writer, pages)
lives on ``app.state`` of the Starlette app.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import jinja2
import nacl.public
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InputError
from .crypto import seal
from .interviewer import (
    CASE_COLUMN,
    INTERVIEWER_COLUMN,
    INTERVIEWER_MAX,
    INTERVIEWER_PATTERN,
    Assignment,
    check_arms,
)
from .interviewer import TEXTS as INTERVIEWER_TEXTS
from .openapi import IDEM_PATTERN, openapi_spec
from .questionnaire import MESSAGES, UI, AnswerError, Questionnaire
from .storage import GroupCommitter, Pending, Store, open_store, today

__all__ = ["create_app", "SECURITY_HEADERS", "DEFAULT_MAX_BODY", "DEFAULT_REQUEST_TIMEOUT"]

log = logging.getLogger("sottovoce.field")

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_REQUEST_TIMEOUT = 15.0
DEFAULT_SCRUB_INTERVAL = 300.0
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
_STATIC = (("survey.css", "text/css; charset=utf-8"), ("survey.js", "text/javascript; charset=utf-8"))
_PAD_OPEN, _PAD_CLOSE = b"<!--", b"-->"
_RECENT_INVITED = 50_000  # idempotency hashes of recent invited answers: a retry is a duplicate, not a 403


# -- the outer ASGI layer ----------------------------------------------------------------------------

class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class Guard:
    """Outermost ASGI layer: body-size limit and deadline, security headers. It logs nothing."""

    def __init__(self, app: ASGIApp, max_body: int, body_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = {"yes": False}

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["yes"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"set-cookie"]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        async def refuse(code: int, msg: str) -> None:
            await _error(code, msg)(scope, receive, send_secured)

        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            if length.isdigit():
                await refuse(413, f"request body of {int(length)} bytes is over the limit of {self.max_body} bytes")
            else:
                await refuse(400, "malformed Content-Length header")
            return
        seen, done = 0, False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal seen, done
            if done:  # the body is in: later calls only wait for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # (no extra task per call, unlike wait_for)
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if seen > self.max_body:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_secured)
        except (_TooLarge, _TooSlow) as exc:
            if started["yes"]:
                raise
            if isinstance(exc, _TooLarge):
                await refuse(413, f"request body is over the limit of {self.max_body} bytes")
            else:
                await refuse(408, f"the request body did not arrive within {self.body_timeout:g} s")


def _error(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"error": msg}, status_code=code)


async def _body(request: Request) -> bytes | tuple[int, str]:
    """The body, or (status, reason) when it went over the size limit or the deadline (the Guard's checks)."""
    try:
        return await request.body()
    except _TooLarge:
        return 413, f"request body is over the limit of {request.app.state.max_body} bytes"
    except _TooSlow:
        return 408, "the request body did not arrive in time"


# -- pages ---------------------------------------------------------------------------------------

def _lang_of(st: State, value: str | None) -> str:
    study = st.questionnaire.study
    return value if value in UI else (study.language if study.language in UI else "en")


def _html(st: State, name: str, lang: str, path: str, **ctx: Any) -> bytes:
    study = st.questionnaire.study
    title = study.text(study.title, lang) or study.id
    return st.env.get_template(name).render(lang=lang, ui=UI[lang], title=title, path=path, **ctx).encode("utf-8")


def _page(st: State, name: str, lang: str, path: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_html(st, name, lang, path, **ctx), status_code=status)


def _survey_html(st: State, lang: str, arms: dict[str, int] | None = None, case: dict[str, str] | None = None) -> bytes:
    """The survey page; ``case`` (interviewer mode: id, interviewer) turns it into that case's interview page."""
    blocks = st.questionnaire.render(lang, arms=arms)
    design = st.questionnaire.design
    extra: dict[str, Any] = {}
    if case is not None:
        t = INTERVIEWER_TEXTS[lang]
        extra = {"path": "/case", "query": f"case={case['id']}&interviewer={case['interviewer']}",
                 "case": {**case, "title": t["case_title"].format(case=case["id"], interviewer=case["interviewer"]),
                          "script": t["script"], "submit": t["submit"]}}
    return _html(st, "survey.html", lang, extra.pop("path", "/"), blocks=blocks, key=secrets.token_urlsafe(24),
                 invites=st.invites and case is None, case=extra.pop("case", None), **extra,
                 intro=st.questionnaire.study.text(design.intro, lang), consent=st.questionnaire.study.text(design.consent, lang))


def _longest_survey(st: State) -> int:
    """The length of the longest survey page any draw (list arms, split arms) and language can give.

    Every combination is rendered (the questionnaire caps their number); the block order and the
    position of a list's sensitive item move text around without changing its length.
    """
    choices = st.questionnaire.arm_choices()
    case = None  # interviewer mode: the longest case id and interviewer code (both ASCII, never escaped)
    if st.assignment is not None:
        case = {"id": "X" * st.assignment.case_width, "interviewer": "X" * INTERVIEWER_MAX}
    longest = 0
    for lang in UI:
        for combo in itertools.product(*choices.values()):
            longest = max(longest, len(_survey_html(st, lang, dict(zip(choices, combo, strict=True)), case)))
    return longest + len(_PAD_OPEN) + len(_PAD_CLOSE)


def _padded(st: State, html: bytes) -> bytes:
    """``html`` padded (inside a comment before ``</body>``) to the one length of every survey page."""
    fill = st.page_size - len(html) - len(_PAD_OPEN) - len(_PAD_CLOSE)
    if fill < 0:  # cannot happen for a page built from blocks; never serve a length that tells
        log.error("survey page longer than its computed maximum; its length may reveal the arm")
        fill = 0
    at = html.rindex(b"</body>")
    return html[:at] + _PAD_OPEN + b" " * fill + _PAD_CLOSE + html[at:]


async def survey(request: Request) -> Response:
    st = request.app.state
    lang = _lang_of(st, request.query_params.get("lang"))
    return HTMLResponse(_padded(st, _survey_html(st, lang)))


async def thanks(request: Request) -> Response:
    st = request.app.state
    lang = _lang_of(st, request.query_params.get("lang"))
    nxt = INTERVIEWER_TEXTS[lang]["next"] if st.assignment is not None else None
    return _page(st, "thanks.html", lang, "/thanks", next_case=nxt)


# -- submissions ------------------------------------------------------------------------------------

def _invite_msg(lang: str) -> str:
    return ("Код приглашения неверен или уже использован." if lang == "ru"
            else "This invitation code is not valid or has already been used.")


def _invite_tag(st: State, invite: str, idem_hash: str) -> bytes | None:
    """The code's tag if it may be valid; None to refuse — decided from memory, before any write.

    A retry of an answer already stored with this code is let through (it becomes a duplicate).
    """
    tag = st.store.tag(invite)
    if st.store.invite_may_be_valid(tag) or idem_hash in st.recent_invited:
        return tag
    return None


async def _store_sealed(st: State, answers: dict[str, Any], idem_hash: str, tag: bytes | None) -> str:
    """Seal (with the day and the server token inside), queue for the next group commit; the status once durable."""
    payload = st.questionnaire.encode(answers, day=today(), server=st.store.server_secret, size=st.payload_size)
    outcome = await asyncio.wrap_future(st.committer.submit(Pending(idem_hash, seal(st.public_key, payload), tag)))
    if outcome.status == "stored" and tag is not None:
        st.recent_invited[idem_hash] = None
        while len(st.recent_invited) > _RECENT_INVITED:
            st.recent_invited.popitem(last=False)
    return str(outcome.status)


def _read_form(raw: bytes) -> dict[str, str] | str:
    """The posted form as a dict, or the reason it is malformed."""
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return "malformed form body (not UTF-8 url-encoded)"
    if any(len(v) > 1 for v in fields.values()):
        return "a form field was sent more than once"
    return {k: v[0] for k, v in fields.items()}


@dataclass(frozen=True)
class _Posted:
    """A posted web or interview form that passed the checks both forms share."""

    lang: str
    form: dict[str, str]
    key: str
    answers: dict[str, Any]


async def _posted_form(request: Request, check: Callable[[dict[str, str], str], str | None] | None = None) -> _Posted | Response:
    """The posted form read and checked, or the error page that refuses it.

    In order: content type, body (size limit and deadline), encoding, the page's language, the
    idempotency key, the caller's own fields (``check`` returns the message that refuses them, in
    the form's language), consent, and the answers against the questionnaire.
    """
    st = request.app.state
    lang = _lang_of(st, None)
    if _ctype(request) != "application/x-www-form-urlencoded":
        return _page(st, "error.html", lang, "/", 415, message=MESSAGES["form_type"][lang])
    raw = await _body(request)
    if isinstance(raw, tuple):
        return _page(st, "error.html", lang, "/", raw[0], message=MESSAGES["too_large" if raw[0] == 413 else "too_slow"][lang])
    form = _read_form(raw)
    if isinstance(form, str):
        return _page(st, "error.html", lang, "/", 400, message=MESSAGES["malformed"][lang].format(why=form))
    lang = _lang_of(st, form.get("_lang"))
    key = form.get("_key", "")
    if not _IDEM.match(key):
        return _page(st, "error.html", lang, "/", 400, message=MESSAGES["form_key"][lang])
    refusal = check(form, lang) if check is not None else None
    if refusal is not None:
        return _page(st, "error.html", lang, "/", 400, message=refusal)
    if st.questionnaire.design.consent and form.get("_consent") != "1":
        return _page(st, "error.html", lang, "/", 400, message=MESSAGES["consent"][lang])
    try:
        answers = st.questionnaire.answers_from_form(form)
    except AnswerError as exc:
        return _page(st, "error.html", lang, "/", 400, message=exc.text(lang))
    return _Posted(lang, form, key, answers)


async def _store_and_thank(st: State, row: dict[str, Any], idem: str, tag: bytes | None, lang: str, refused: str) -> Response:
    """Store a checked form's row and redirect to the thanks page (``refused``: the message when
    the code or case turns out to be used already)."""
    try:
        status = await _store_sealed(st, row, idem, tag)
    except Exception:
        log.exception("storage failed")
        return _page(st, "error.html", lang, "/", 503, message=MESSAGES["storage"][lang])
    if status == "bad_invite":
        return _page(st, "error.html", lang, "/", 403, message=refused)
    # Post/Redirect/Get, to a relative path: reloading cannot resubmit, and the form is gone
    return RedirectResponse(f"/thanks?lang={lang}", status_code=303)


async def submit_form(request: Request) -> Response:
    st = request.app.state
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    lang, form = posted.lang, posted.form
    idem, tag = st.store.hash(posted.key), None
    if st.invites:
        tag = _invite_tag(st, form.get("_invite", ""), idem) if form.get("_invite") else None
        if tag is None:
            return _page(st, "error.html", lang, "/", 403, message=_invite_msg(lang))
    return await _store_and_thank(st, posted.answers, idem, tag, lang, _invite_msg(lang))


def _parse_api_body(st: State, raw: bytes) -> tuple[str, dict[str, Any], str | None] | JSONResponse:
    """(idempotency key, validated answers, invite) from a JSON body, or the refusal."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return _error(400, "malformed JSON body (nested too deeply)")
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"malformed JSON body ({str(exc)[:80]})")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object with idempotency_key and answers")
    extra = sorted(set(body) - {"idempotency_key", "answers", "invite"})
    if extra:
        return _error(400, f"unknown field(s) {', '.join(repr(e[:40]) for e in extra[:5])}; allowed: idempotency_key, answers, invite")
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not _IDEM.match(key):
        return _error(400, "idempotency_key must be a string of 16-128 characters A-Z a-z 0-9 _ -")
    invite = body.get("invite")
    if invite is not None and (not isinstance(invite, str) or len(invite) > 128):
        return _error(400, "invite must be a string of at most 128 characters")
    if "answers" not in body:
        return _error(400, "missing 'answers' (an object mapping answer columns to values)")
    try:
        answers = st.questionnaire.validate(body["answers"])
    except AnswerError as exc:
        return _error(422, str(exc))
    return key, answers, invite


async def submit_api(request: Request) -> Response:
    st = request.app.state
    if _ctype(request) != "application/json":
        return _error(415, "send the submission as application/json")
    raw = await _body(request)
    if isinstance(raw, tuple):
        return _error(*raw)
    parsed = _parse_api_body(st, raw)
    if isinstance(parsed, Response):
        return parsed
    key, answers, invite = parsed
    idem, tag = st.store.hash(key), None
    if st.invites:
        if not invite:
            return _error(403, "this survey needs an invitation code ('invite')")
        tag = _invite_tag(st, invite, idem)
        if tag is None:
            return _error(403, "invitation code not valid or already used")
    try:
        status = await _store_sealed(st, answers, idem, tag)
    except Exception:
        log.exception("storage failed")
        return _error(503, "storage unavailable; retry later with the same idempotency_key")
    if status == "bad_invite":
        return _error(403, "invitation code not valid or already used")
    # the status only: a record id would be a receipt tying the respondent to a row
    return JSONResponse({"status": status}, status_code=201 if status == "stored" else 200)


# -- interviewer mode ---------------------------------------------------------------------------------

async def interviewer_start(request: Request) -> Response:
    st = request.app.state
    lang = _lang_of(st, request.query_params.get("lang"))
    return _page(st, "interviewer.html", lang, "/", t=INTERVIEWER_TEXTS[lang])


def _open_case(st: State, case: str) -> tuple[str, dict[str, int]] | None:
    """The case (id as written, assigned columns) if it is in the assignment and not yet recorded; else None."""
    found = st.assignment.find(case)
    if found is None or not st.store.invite_may_be_valid(st.store.tag(found[0])):
        return None
    return found


async def interviewer_case(request: Request) -> Response:
    """One case's interview page, its arms set from the assignment (padded like every survey page)."""
    st = request.app.state
    lang = _lang_of(st, request.query_params.get("lang"))
    t = INTERVIEWER_TEXTS[lang]
    interviewer = request.query_params.get("interviewer", "").strip()
    if not INTERVIEWER_PATTERN.fullmatch(interviewer):
        return _page(st, "error.html", lang, "/", 400, message=t["bad_interviewer"])
    found = _open_case(st, request.query_params.get("case", "").strip())
    if found is None:
        return _page(st, "error.html", lang, "/", 404, message=t["bad_case"])
    case, values = found
    arms = st.assignment.page_arms(st.questionnaire, values)
    return HTMLResponse(_padded(st, _survey_html(st, lang, arms, {"id": case, "interviewer": interviewer})))


async def interviewer_submit(request: Request) -> Response:
    """The interview form: checked like the web form, plus the case (one-time, like an invitation) and its arms."""
    st = request.app.state

    def interviewer_ok(form: dict[str, str], lang: str) -> str | None:
        ok = INTERVIEWER_PATTERN.fullmatch(form.get("_interviewer", ""))
        return None if ok else INTERVIEWER_TEXTS[lang]["bad_interviewer"]

    posted = await _posted_form(request, interviewer_ok)
    if isinstance(posted, Response):
        return posted
    lang, form, answers = posted.lang, posted.form, posted.answers
    t = INTERVIEWER_TEXTS[lang]
    idem = st.store.hash(posted.key)
    found = st.assignment.find(form.get("_case", ""))
    tag = _invite_tag(st, found[0], idem) if found is not None else None
    if found is None or tag is None:
        return _page(st, "error.html", lang, "/", 403, message=t["bad_case"])
    if not check_arms(found[1], answers):
        return _page(st, "error.html", lang, "/", 400, message=t["mismatch"])
    row = {CASE_COLUMN: found[0], INTERVIEWER_COLUMN: form["_interviewer"], **answers}
    return await _store_and_thank(st, row, idem, tag, lang, t["bad_case"])


def _ctype(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# -- the rest ------------------------------------------------------------------------------------------

async def healthz(request: Request) -> Response:
    st = request.app.state
    ok = await asyncio.to_thread(st.store.ping)
    return JSONResponse({"status": "ok", "study": st.questionnaire.id}) if ok else _error(503, "database unreachable")


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.spec)


async def static_file(request: Request) -> Response:
    found = request.app.state.static.get(request.path_params["name"])
    if found is None:
        return _error(404, "not found")
    return Response(found[0], media_type=found[1])


async def refused(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    return _error(code, {404: "not found", 405: "method not allowed"}.get(code, "refused"))


ROUTES = [
    Route("/", survey, methods=["GET"]),
    Route("/thanks", thanks, methods=["GET"]),
    Route("/submit", submit_form, methods=["POST"]),
    Route("/api/submissions", submit_api, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/static/{name:str}", static_file, methods=["GET"]),
]
INTERVIEWER_ROUTES = [  # no JSON API: the interview page is the instrument
    Route("/", interviewer_start, methods=["GET"]),
    Route("/case", interviewer_case, methods=["GET"]),
    Route("/thanks", thanks, methods=["GET"]),
    Route("/submit", interviewer_submit, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/static/{name:str}", static_file, methods=["GET"]),
]


async def _scrub_loop(st: State) -> None:
    """Every ``scrub_interval`` seconds, if anything was written: erase order and pairing (on the writer thread)."""
    while True:
        await asyncio.sleep(st.scrub_interval)
        if st.store.dirty:
            try:
                await asyncio.wrap_future(st.committer.run(st.store.scrub))
            except Exception:
                log.exception("scrub failed")


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    st = app.state
    task = asyncio.create_task(_scrub_loop(st)) if st.scrub_interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # commit what is queued
        await asyncio.to_thread(st.committer.close)
        if st.scrub_on_stop:  # here, not after uvicorn returns: uvicorn re-raises SIGTERM once it has stopped
            await asyncio.to_thread(_final_scrub, st.store)
        # otherwise the store stays open, so an app that goes through another lifespan (tests) keeps working


def _final_scrub(store: Store) -> None:
    try:
        if not store.scrub():
            log.warning("another process had the database open at stop, so its WAL was not cleared; start and "
                        "stop the server again when nothing else reads the database")
    finally:
        store.close()


def create_app(
    questionnaire: Questionnaire,
    public_key: nacl.public.PublicKey,
    db: str | Store,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    scrub_interval: float = DEFAULT_SCRUB_INTERVAL,
    scrub_on_stop: bool = False,
    assignment: Assignment | None = None,
) -> Guard:
    """Build the ASGI app for one study. ``db`` is a URL (see :func:`open_store`) or an open store.

    The app holds only the *public* key: it can seal answers but never read them back. An
    invitation-only store must have been given its invitation key (:meth:`Store.unlock_invites`).
    With ``scrub_on_stop`` the app scrubs and closes the store when its lifespan ends (``serve``).
    With an ``assignment`` (from ``field-plan``) it is the interviewer mode (:mod:`sottovoce.field.interviewer`):
    the store must hold the case ids as its invitation codes.
    """
    store = open_store(db) if isinstance(db, str) else db
    store.bind_study(questionnaire.id)
    invites = store.invites_enabled()
    if invites and not store.invites_unlocked:
        raise InputError("this study is invitation-only: give --invite-key, the key file made when the codes were imported")
    if assignment is not None and not invites:
        raise InputError("the interviewer mode needs the case ids imported as one-time codes: give --invite-key")
    app = Starlette(routes=ROUTES if assignment is None else INTERVIEWER_ROUTES, exception_handlers={404: refused, 405: refused}, lifespan=_lifespan)
    app.router.redirect_slashes = False  # a redirect would be built from the Host header
    st = app.state
    st.questionnaire, st.public_key, st.store, st.invites = questionnaire, public_key, store, invites
    st.committer = GroupCommitter(store)
    st.scrub_interval, st.scrub_on_stop = scrub_interval, scrub_on_stop
    st.recent_invited = collections.OrderedDict()
    st.env = jinja2.Environment(
        loader=jinja2.PackageLoader("sottovoce.field", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    st.static = {name: (resources.files("sottovoce.field").joinpath("static", name).read_bytes(), ctype)
                 for name, ctype in _STATIC}
    st.spec, st.max_body = openapi_spec(questionnaire, max_body), max_body
    st.assignment = assignment
    st.payload_size = None if assignment is None else questionnaire.payload_size_with(
        {CASE_COLUMN: "X" * assignment.case_width, INTERVIEWER_COLUMN: "X" * INTERVIEWER_MAX})
    st.page_size = _longest_survey(st)
    guard = Guard(app, max_body, request_timeout)
    guard.state = st  # type: ignore[attr-defined]  # for the CLI and tests
    guard.store = store  # type: ignore[attr-defined]
    guard.committer = st.committer  # type: ignore[attr-defined]
    return guard
