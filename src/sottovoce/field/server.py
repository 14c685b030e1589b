"""Running the survey server (``sottovoce serve``): invitations, limits, logging, scrub at start and stop.

Limits against abuse, on top of uvicorn's own (``limit_concurrency``, ``backlog``,
``timeout_keep_alive``): the soft file-descriptor limit is raised to the hard one, connections
beyond ``max_connections`` (kept well under that limit) are closed as they are accepted, a request
head must arrive within ``request_timeout`` (uvicorn has no such deadline, so idle or trickling
connections would otherwise hold a descriptor for ever) and the body within the same time (the
app's Guard). Logging is one line per event, at most a few of each kind a minute, never with a
traceback, an address or a time: a flood cannot fill the disk, and nothing logs a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from .app import DEFAULT_MAX_BODY, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SCRUB_INTERVAL, create_app
from .crypto import load_public_key
from .interviewer import Assignment, load_assignment
from .questionnaire import Questionnaire
from .storage import Store, _redact, open_store, read_invite_key, sqlite_path

__all__ = ["run_server", "setup_invitations", "setup_cases", "guarded_protocol", "OneLineRateLimit", "DEFAULT_MAX_CONNECTIONS"]

DEFAULT_MAX_CONNECTIONS = 500
_FD_RESERVE = 64  # descriptors kept free for the database, the log and the listening socket


class OneLineRateLimit(logging.Filter):
    """Each kind of message at most ``per_kind`` times a minute, all together at most ``total``; one line each."""

    def __init__(self, per_kind: int = 3, total: int = 30) -> None:
        super().__init__()
        self.per_kind, self.total = per_kind, total
        self._window = 0.0
        self._counts: dict[tuple[str, str], int] = {}
        self._all = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        suppressed = 0
        if now - self._window > 60:
            suppressed = self._dropped
            self._window, self._counts, self._all, self._dropped = now, {}, 0, 0
        kind = (record.name, str(record.msg)[:60])
        self._counts[kind] = self._counts.get(kind, 0) + 1
        self._all += 1
        if self._counts[kind] > self.per_kind or self._all > self.total:
            self._dropped += 1 + suppressed
            return False
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:  # a traceback becomes one line
            exc = record.exc_info[1]
            message += f" ({type(exc).__name__}: {str(exc)[:200]})"
            record.exc_info, record.exc_text = None, None
        if suppressed:
            message += f" ({suppressed} log lines suppressed in the minute before)"
        record.msg, record.args = message, ()
        return True


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OneLineRateLimit())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        lg = logging.getLogger(name)
        lg.handlers, lg.propagate = [], True
    logging.getLogger("uvicorn.access").disabled = True


def _connection_cap(wanted: int) -> int:
    """Raise the soft descriptor limit to the hard one; keep ``_FD_RESERVE`` of them free."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    cap = min(wanted, soft - _FD_RESERVE) if soft != resource.RLIM_INFINITY else wanted
    if cap < 8:
        raise InputError(f"the process may open only {soft} files; raise `ulimit -n` (at least {_FD_RESERVE + 64})")
    return cap


def guarded_protocol(max_connections: int, head_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a connection cap and a deadline for each request head."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # before it costs more than a moment's descriptor
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _too_slow(self) -> None:
            if not self.transport.is_closing():
                self.transport.abort()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedProtocol


def _key_file_warnings(key_file: Path, db: str) -> None:
    mode = key_file.stat().st_mode
    if mode & 0o077:
        print(f"warning: {key_file} can be read by other users (mode {oct(mode & 0o777)}); chmod 600 it",
              file=sys.stderr)
    db_path = sqlite_path(db)
    if db_path is not None and key_file.resolve().stat().st_dev == db_path.resolve().parent.stat().st_dev:
        print(f"warning: the invitation key {key_file} is on the same file system as the database; whoever "
              "seizes that disk can tell which invited people answered. Keep it on tmpfs (/run) or removable "
              "media, with a copy offline", file=sys.stderr)


def setup_invitations(store: Store, invites: Path | None, invite_key: Path | None, db: str) -> None:
    """Unlock the invitation key and import a code file (once); what ``serve --invites/--invite-key`` does."""
    if invites is None and not store.invites_enabled():
        return
    if invites is not None and not invites.is_file():
        raise InputError(f"--invites {invites}: file not found; give a text file with one code per line")
    if invite_key is None:
        raise InputError("invitation codes need --invite-key FILE: the key that makes the stored tags unlinkable to "
                         "the codes. Keep that file off this disk (tmpfs or removable media); it is made on the "
                         "first import and needed at every start")
    first = invites is not None and not store.invites_enabled()
    key = read_invite_key(invite_key, create=first)
    _key_file_warnings(invite_key, db)
    store.unlock_invites(key)
    if invites is None:
        return
    try:
        codes = invites.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"--invites {invites}: not a UTF-8 text file of codes") from None
    n = store.import_invites(codes, str(invites))
    print(f"imported {n} invitation codes from {invites}.\n"
          f"  Now destroy {invites} on this machine (shred -u {invites}) and keep the distribution list offline.\n"
          f"  Keep {invite_key} off this disk and give it at every start: without it the database cannot tell "
          "who answered.", file=sys.stderr)


def setup_cases(store: Store, plan: Assignment, invite_key: Path | None, db: str) -> None:
    """Interviewer mode: unlock the key and, on the first start, import the case ids as one-time codes."""
    if invite_key is None:
        raise InputError("--mode interviewer needs --invite-key FILE: the key that makes the stored case tags "
                         "unlinkable to the case ids. Keep it off this disk; it is made on the first start")
    first = not store.invites_enabled()
    store.unlock_invites(read_invite_key(invite_key, create=first))
    store.bind_assignment(plan.canonical(), plan.source)  # before importing: an edited plan imports nothing
    _key_file_warnings(invite_key, db)
    if first:
        n = store.import_invites([case for case, _ in plan.cases.values()], plan.source)
        print(f"imported {n} case ids from {plan.source} as one-time codes. Keep {invite_key} off this disk "
              "and give it at every start.", file=sys.stderr)


def run_server(
    study: str | os.PathLike[str],
    public_key: str | os.PathLike[str],
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    invites: str | os.PathLike[str] | None = None,
    invite_key: str | os.PathLike[str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    scrub_interval: float = DEFAULT_SCRUB_INTERVAL,
    mode: str = "web",
    assignment: str | os.PathLike[str] | None = None,
) -> None:
    """Check everything, scrub, run uvicorn (no access log); the app scrubs again on a clean stop.

    ``mode="interviewer"`` serves one page per case of ``assignment`` (``field-plan``'s file) to a
    call centre's interviewers; the case ids become the one-time codes (imported on the first start).
    """
    import uvicorn

    os.umask(0o077)  # the database, its WAL and anything else we create: owner only
    questionnaire = Questionnaire.from_file(Path(study))
    key = load_public_key(public_key)
    plan = None
    if mode not in ("web", "interviewer"):
        raise InputError(f"--mode {mode}: give web (respondents answer themselves) or interviewer (a call centre)")
    if mode == "interviewer":
        if assignment is None or invites is not None:
            raise InputError("--mode interviewer needs --assignment (assignment.csv from `sottovoce field-plan`) and "
                             "--invite-key, and takes no --invites: the case ids are the one-time codes")
        plan = load_assignment(Path(assignment), questionnaire)
    elif assignment is not None:
        raise InputError("--assignment is for --mode interviewer")
    cap = _connection_cap(max_connections)
    if invites is not None and not Path(invites).is_file():  # before the database is created
        raise InputError(f"--invites {invites}: file not found; give a text file with one code per line")
    store = open_store(db)
    try:
        if plan is not None:
            setup_cases(store, plan, Path(invite_key) if invite_key else None, db)
        else:
            setup_invitations(store, Path(invites) if invites else None, Path(invite_key) if invite_key else None, db)
        app = create_app(questionnaire, key, store, max_body=max_body, request_timeout=request_timeout,
                         scrub_interval=scrub_interval, scrub_on_stop=True, assignment=plan)
        store.scrub()  # whatever the last stop was, start from files without order or pairing
        _configure_logging()
        print(f"serving study '{questionnaire.id}' on http://{host}:{port}/ (database {_redact(db)}, "
              f"server id {store.server_id})", file=sys.stderr, flush=True)
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, server_header=False,
            date_header=False, proxy_headers=False, lifespan="on", timeout_graceful_shutdown=5,
            limit_concurrency=cap + 1, backlog=256, timeout_keep_alive=5,  # (connections are capped above)
            http=guarded_protocol(cap, request_timeout),
        )
        uvicorn.Server(config).run()  # its lifespan's end scrubs and closes the store (a clean stop)
    finally:
        store.close()
