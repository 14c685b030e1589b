"""Where sealed submissions wait for the analyst: SQLite (embedded default) or PostgreSQL.

What is stored, and why nothing on disk pairs, orders or times answers:

* ``submissions``: a random record id, the sealed answer (one fixed length per study; the day and
  the server token travel *inside* it) and a salted hash of the form's idempotency key. No time,
  no address, no sequence number.
* ``invites``: for each invitation code a *tag*, HMAC-SHA-256 under the **invitation key**, and a
  ``used`` flag. The invitation key is not stored here (only a check value): it lives in a file the
  operator keeps off this disk and gives at every start. With the code list but without that key,
  a tag cannot be matched to a code, so the database does not say who answered.
* ``imports``: a keyed digest of every code file imported, so a file is imported only once.
* ``meta``: in interviewer mode also a keyed digest of the assignment the server was first started
  with (:meth:`Store.bind_assignment`), so a later start with an edited file is refused.

Between commits, SQLite's WAL and the order of cells inside pages carry the history of recent
commits. :meth:`Store.scrub` erases it: it rewrites every row in one transaction in the order of
the random keys (``secure_delete`` zeroes what is freed), and for SQLite closes and reopens the
connection so the WAL and the shared-memory index are deleted, after we overwrite them with zeros
(we hold them open, so their blocks go back to the file system as zeros). The server scrubs at
start, every few minutes while it runs, and on a clean stop. The database file never shrinks
(no VACUUM, no auto-vacuum) and the WAL is never truncated while open, so no freed file-system
block ever held an answer.

Durability: SQLite runs in WAL mode with ``synchronous=FULL`` by default (a commit is on disk before
it is acknowledged); PostgreSQL uses its default ``synchronous_commit=on``. :class:`GroupCommitter`
batches the submissions that arrive together into one transaction (group commit), so one fsync
acknowledges many respondents; inside a batch rows are written in the order of their random hash,
never in arrival order.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as _dt
import hashlib
import hmac
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import InputError

__all__ = [
    "Pending", "Outcome", "Store", "SQLiteStore", "PostgresStore", "open_store", "GroupCommitter", "today",
    "normalise_code", "read_invite_key", "INVITE_KEY_TAG", "SCHEMA_VERSION",
]

log = logging.getLogger("sottovoce.field")

SCHEMA_VERSION = b"2"
INVITE_KEY_TAG = "sottovoce-invite-key-v1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS submissions (id TEXT PRIMARY KEY, ciphertext {blob} NOT NULL, "
    "idem TEXT NOT NULL UNIQUE){without_rowid}",
    "CREATE TABLE IF NOT EXISTS invites (tag {blob} PRIMARY KEY, used INTEGER NOT NULL){without_rowid}",
    "CREATE TABLE IF NOT EXISTS imports (digest {blob} PRIMARY KEY){without_rowid}",
)
_KEY_CHECK = b"sottovoce invitation key check v1"
_OPEN_TAGS_RELOAD = 30.0  # seconds: how stale the in-memory set of open invitation tags may get


@dataclass(frozen=True)
class Pending:
    """One submission on its way to storage (already sealed); ``invite_tag`` when the study needs one."""

    idem_hash: str
    ciphertext: bytes
    invite_tag: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """``status`` is ``stored``, ``duplicate`` (same idempotency key seen before) or ``bad_invite``."""

    status: str


def today() -> str:
    """The UTC day: the finest time the server keeps (and only inside the sealed answer)."""
    return _dt.datetime.now(_dt.UTC).date().isoformat()


def new_record_id() -> str:
    return secrets.token_hex(16)


def normalise_code(code: str) -> str:
    """An invitation code as compared: case, spaces and dashes do not matter (codes are dictated)."""
    return "".join(ch for ch in code.lower() if not ch.isspace() and ch != "-")


def read_invite_key(path: Path, *, create: bool) -> bytes:
    """Read the invitation key file (or make it, 0600, when ``create`` and it does not exist yet)."""
    if not path.exists():
        if not create:
            raise InputError(f"--invite-key {path}: file not found; give the key file made when the codes were imported")
        if not path.parent.is_dir():
            raise InputError(f"--invite-key {path}: the folder {path.parent} does not exist")
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{INVITE_KEY_TAG}\n{base64.b64encode(key).decode()}\n")
            fh.flush()
            os.fsync(fh.fileno())
        return key
    parts = path.read_text(encoding="utf-8", errors="replace").split()
    if len(parts) != 2 or parts[0] != INVITE_KEY_TAG:
        raise InputError(f"--invite-key {path}: not a sottovoce invitation key file (expected '{INVITE_KEY_TAG}' and a key)")
    try:
        key = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise InputError(f"--invite-key {path}: the key is not valid base64; is the file damaged?") from None
    if len(key) != 32:
        raise InputError(f"--invite-key {path}: the key has {len(key)} bytes, expected 32")
    return key


class Store:
    """Common logic of both databases; subclasses supply the connection and the SQL dialect."""

    url: str
    _ph = "?"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._salt: bytes = b""
        self.server_secret: bytes = b""
        self._invite_key: bytes | None = None
        self._open_tags: set[bytes] = set()
        self._tags_loaded = 0.0
        self.dirty = False  # rows written since the last scrub

    # -- dialect hooks -------------------------------------------------------------------------
    def _conn(self) -> Any:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        self._conn().commit()

    def _rollback(self) -> None:
        self._conn().rollback()

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._ph)

    def _exec(self, sql: str, params: tuple = ()) -> Any:
        return self._conn().execute(self._q(sql), params)

    def _many(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            self._conn().executemany(self._q(sql), rows)

    # -- setup ---------------------------------------------------------------------------------
    def _init_schema(self, blob: str, without_rowid: str) -> None:
        old = self._exec("SELECT 1 FROM information_schema.columns WHERE table_name = 'submissions' AND column_name = 'day'"
                         if self._ph == "%s" else
                         "SELECT 1 FROM pragma_table_info('submissions') WHERE name = 'day'").fetchone()
        if old:
            self._rollback()
            raise InputError(f"{_redact(self.url)}: this database was made by an older sottovoce (it stores the day "
                             "in clear); export it with that version, then start a new database")
        for stmt in _SCHEMA:
            self._exec(stmt.format(blob=blob, without_rowid=without_rowid))
        for name, value in (("schema", SCHEMA_VERSION), ("salt", secrets.token_bytes(32)),
                            ("server", secrets.token_bytes(32))):
            self._exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, value))
        meta = dict(self._exec("SELECT name, value FROM meta").fetchall())
        self._commit()
        self._salt, self.server_secret = bytes(meta["salt"]), bytes(meta["server"])

    def _meta(self, name: str) -> bytes | None:
        rows = self._read("SELECT value FROM meta WHERE name = ?", (name,))
        return bytes(rows[0][0]) if rows else None

    def _set_meta(self, name: str, value: bytes) -> None:
        with self._lock:
            self._begin()
            self._exec("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, value))
            self._commit()

    @property
    def server_id(self) -> str:
        """A fingerprint of the server token (safe to publish): the analyst can pin it at ``decrypt``."""
        return fingerprint(self.server_secret)

    def bind_study(self, study_id: str) -> None:
        """Tie the database to one study; a second study on the same database is refused."""
        self._set_meta("study", study_id.encode("utf-8"))
        bound = (self._meta("study") or b"").decode("utf-8")
        if bound != study_id:
            raise InputError(f"{_redact(self.url)}: this database holds answers to study '{bound}', not '{study_id}'; "
                             "give each study its own database")

    def bind_assignment(self, content: bytes, source: str) -> None:
        """Tie the database to one interviewer-mode assignment (``content``: its canonical bytes).

        Only HMAC-SHA-256 of the content under the invitation key is stored (like the code tags):
        it reveals no case or arm to whoever seizes the disk without that key. The first start
        stores it; a start with a different assignment is refused (its cases would not be the
        one-time codes imported, and field-check could not match the answers to one plan)."""
        if self._invite_key is None:
            raise RuntimeError("invitation key not given")
        digest = hmac.new(self._invite_key, b"assignment\0" + content, hashlib.sha256).digest()
        self._set_meta("assignment", digest)
        if not hmac.compare_digest(self._meta("assignment") or b"", digest):
            raise InputError(f"--assignment {source}: not the assignment this database was started with (a case or an "
                             "arm differs); start with the original file, or field this plan as a new start on a new "
                             f"database (--db; {_redact(self.url)} keeps the interviews recorded so far)")

    def study_id(self) -> str | None:
        raw = self._meta("study")
        return raw.decode("utf-8") if raw is not None else None

    def hash(self, value: str) -> str:
        """Salted hash (HMAC-SHA-256 with this database's secret salt) of an idempotency key."""
        return hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- invitations ---------------------------------------------------------------------------
    def invites_enabled(self) -> bool:
        return self._meta("invites") is not None

    @property
    def invites_unlocked(self) -> bool:
        """Whether the invitation key has been given (see :meth:`unlock_invites`)."""
        return self._invite_key is not None

    def unlock_invites(self, key: bytes) -> None:
        """Give the invitation key (kept off this disk); checked against the stored check value."""
        check = hmac.new(key, _KEY_CHECK, hashlib.sha256).digest()
        self._set_meta("invite_check", check)
        if not hmac.compare_digest(self._meta("invite_check") or b"", check):
            raise InputError("the invitation key does not match this database; give the key file made when "
                             "the codes were first imported")
        self._invite_key = key
        self._load_open_tags()

    def tag(self, code: str) -> bytes:
        """The stored form of an invitation code: HMAC under the invitation key (not kept on disk)."""
        if self._invite_key is None:
            raise RuntimeError("invitation key not given")
        return hmac.new(self._invite_key, normalise_code(code).encode("utf-8"), hashlib.sha256).digest()

    def import_invites(self, codes: Iterable[str], source: str) -> int:
        """Register a code file once (its keyed digest is kept); returns how many codes it holds."""
        if self._invite_key is None:
            raise RuntimeError("invitation key not given")
        tags = sorted({self.tag(c) for c in codes if normalise_code(c)})
        if not tags:
            raise InputError(f"--invites {source}: no codes in the file; put one code per line")
        digest = hmac.new(self._invite_key, b"file\0" + b"".join(tags), hashlib.sha256).digest()
        with self._lock:
            self._begin()
            try:
                new = self._exec("INSERT INTO imports (digest) VALUES (?) ON CONFLICT (digest) DO NOTHING RETURNING digest",
                                 (digest,)).fetchone()
                if new is None:
                    raise InputError(
                        f"--invites {source}: these codes were already imported into this database; a code file is "
                        "imported once, so a used code can never become valid again. Start the server without "
                        f"--invites, and destroy {source}")
                # a code already known (from another file) keeps its flag: a used code stays used
                self._many("INSERT INTO invites (tag, used) VALUES (?, 0) ON CONFLICT (tag) DO NOTHING",
                           [(t,) for t in tags])
                self._exec("INSERT INTO meta (name, value) VALUES ('invites', ?) ON CONFLICT (name) DO NOTHING", (b"1",))
                self._commit()
            except BaseException:
                self._rollback()
                raise
            self.dirty = True
        self._load_open_tags()
        return len(tags)

    def _load_open_tags(self) -> None:
        self._open_tags = {bytes(r[0]) for r in self._read("SELECT tag FROM invites WHERE used = 0")}
        self._tags_loaded = time.monotonic()

    def invite_may_be_valid(self, tag: bytes) -> bool:
        """Read-only check before any write: False for a code that is unknown or known to be used.

        Answered from memory (reloaded at most every 30 s on a miss, for codes imported by another
        server process), so a flood of wrong codes costs no database work.
        """
        if tag in self._open_tags:
            return True
        if time.monotonic() - self._tags_loaded > _OPEN_TAGS_RELOAD:
            with self._lock:
                if time.monotonic() - self._tags_loaded > _OPEN_TAGS_RELOAD:
                    self._load_open_tags()
            return tag in self._open_tags
        return False

    # -- writes --------------------------------------------------------------------------------
    def submit_batch(self, items: list[Pending]) -> list[Outcome]:
        """Store a batch in ONE transaction (committed durably before returning)."""
        # rows go in in the order of their random key hash (never in arrival order), which is also
        # one lock order for every process: two servers retrying overlapping batches cannot deadlock
        order = sorted(range(len(items)), key=lambda i: items[i].idem_hash)
        for attempt in range(5):
            with self._lock:
                self._begin()
                try:
                    done = {i: self._submit_one(items[i]) for i in order}
                    self._commit()
                    self.dirty = True
                    for i in order:
                        if done[i].status == "stored" and items[i].invite_tag is not None:
                            self._open_tags.discard(items[i].invite_tag)  # type: ignore[arg-type]
                    return [done[i] for i in range(len(items))]
                except BaseException as exc:
                    try:
                        self._rollback()
                    except Exception:
                        pass  # the connection itself is gone; _recover reconnects
                    if attempt == 4 or not (self._retryable(exc) or self._recover(exc)):
                        raise
        raise AssertionError("unreachable")

    def _recover(self, exc: BaseException) -> bool:
        """Reconnect after a lost connection (database restarted); True if it is worth retrying."""
        return False

    def _retryable(self, exc: BaseException) -> bool:
        """A transient conflict with another process (deadlock, serialization, busy database)."""
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def _submit_one(self, p: Pending) -> Outcome:
        if self._exec("SELECT 1 FROM submissions WHERE idem = ?", (p.idem_hash,)).fetchone():
            return Outcome("duplicate")
        if p.invite_tag is not None:
            used = self._exec("UPDATE invites SET used = 1 WHERE tag = ? AND used = 0 RETURNING tag", (p.invite_tag,)).fetchone()
            if used is None:
                return Outcome("bad_invite")
        got = self._exec("INSERT INTO submissions (id, ciphertext, idem) VALUES (?, ?, ?) "
                         "ON CONFLICT (idem) DO NOTHING RETURNING id", (new_record_id(), p.ciphertext, p.idem_hash)).fetchone()
        if got is None:  # another process stored the same key meanwhile (PostgreSQL)
            if p.invite_tag is not None:
                self._exec("UPDATE invites SET used = 0 WHERE tag = ?", (p.invite_tag,))
            return Outcome("duplicate")
        return Outcome("stored")

    # -- scrubbing -----------------------------------------------------------------------------
    def _rewrite(self) -> None:
        """Rewrite every answer and invitation row in key order, in one transaction.

        Afterwards the place of a row in the file says nothing about when it arrived, and rows that
        were committed together (an answer and the code it used) no longer share anything.
        """
        self._begin()
        try:
            self._lock_tables()
            subs = sorted(self._exec("SELECT id, ciphertext, idem FROM submissions").fetchall())
            invs = sorted(self._exec("SELECT tag, used FROM invites").fetchall())
            self._exec("DELETE FROM submissions")
            self._exec("DELETE FROM invites")
            self._many("INSERT INTO submissions (id, ciphertext, idem) VALUES (?, ?, ?)", [tuple(r) for r in subs])
            self._many("INSERT INTO invites (tag, used) VALUES (?, ?)", [tuple(r) for r in invs])
            self._commit()
        except BaseException:
            self._rollback()
            raise

    def _lock_tables(self) -> None:
        pass

    def scrub(self) -> bool:
        """Erase the arrival order and the code↔answer pairing from the files; True if complete."""
        with self._lock:
            self._rewrite()
            done = self._after_rewrite()
            self.dirty = not done  # not cleared (another process had the files open): try again next time
        if self._invite_key is not None:
            self._load_open_tags()
        return done

    def _after_rewrite(self) -> bool:
        return True

    # -- reads ---------------------------------------------------------------------------------
    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        for attempt in range(2):
            with self._lock:
                try:
                    rows = list(self._exec(sql, params).fetchall())
                    self._rollback()  # end the read transaction (PostgreSQL opens one implicitly)
                    return rows
                except Exception as exc:
                    try:
                        self._rollback()
                    except Exception:
                        pass
                    if attempt or not self._recover(exc):
                        raise
        raise AssertionError("unreachable")

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM submissions")[0][0])

    def rows(self) -> Iterator[tuple[str, bytes]]:
        """All stored submissions as ``(id, ciphertext)``, ordered by the random id.

        Read in one short transaction (a snapshot) and released before the caller writes anything,
        so an export never holds up the server.
        """
        for rid, ct in self._read("SELECT id, ciphertext FROM submissions ORDER BY id"):
            yield str(rid), bytes(ct)

    def ping(self) -> bool:
        try:
            self._read("SELECT 1")
            return True
        except Exception:
            return False

    def close(self) -> None:
        with self._lock:
            try:
                self._conn().close()
            except Exception:
                pass


def fingerprint(secret: bytes) -> str:
    """A short public fingerprint of a server token: 4 groups of 4 hex digits."""
    h = hashlib.sha256(b"sottovoce server id\0" + secret).hexdigest()[:16]
    return "-".join(h[i:i + 4] for i in range(0, 16, 4))


def _zero_file(fh: Any) -> None:
    """Overwrite an open file with zeros to its full length and sync it."""
    size = os.fstat(fh.fileno()).st_size
    fh.seek(0)
    block = b"\0" * 65536
    left = size
    while left > 0:
        left -= fh.write(block[: min(left, len(block))])
    fh.flush()
    os.fsync(fh.fileno())


class SQLiteStore(Store):
    """Embedded store: one file (0600), WAL journal, ``synchronous=FULL`` unless the URL says otherwise."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        super().__init__()
        self.url = f"sqlite:///{path}"
        self.path = path
        self.synchronous = synchronous
        if not path.parent.is_dir():
            raise InputError(f"{path}: the directory {path.parent} does not exist; create it or choose another --db path")
        if not path.exists():  # SQLite gives its WAL and shared-memory files the database file's mode
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            self._connect()
            self._c.execute("BEGIN IMMEDIATE")
            self._init_schema("BLOB", " WITHOUT ROWID")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: cannot open as a SQLite database ({exc}); give a new file name or a sottovoce database") from None

    def _connect(self) -> None:
        self._c = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        for pragma in ("journal_mode=WAL", f"synchronous={self.synchronous}",
                       "secure_delete=ON",        # freed cells and pages are overwritten with zeros
                       "auto_vacuum=NONE",        # the file never shrinks: no freed blocks with old pages
                       "journal_size_limit=-1",   # nor does the WAL while open (scrub zeroes it instead)
                       "temp_store=MEMORY"):      # sorts and temporary tables never touch the disk
            self._c.execute(f"PRAGMA {pragma}")

    def _conn(self) -> sqlite3.Connection:
        return self._c

    def _begin(self) -> None:
        self._c.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self._c.in_transaction:
            self._c.execute("COMMIT")

    def _rollback(self) -> None:
        if self._c.in_transaction:
            self._c.execute("ROLLBACK")

    def _side_files(self) -> list[Path]:
        return [Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]

    def _close_zeroing(self) -> bool:
        """Close; if SQLite then deleted the WAL and its index (we were the last connection), zero them.

        We hold both files open across the close, so their blocks stay ours until they are zeros.
        Returns False when another connection kept them (they are left alone: it still needs them).
        """
        held = []
        for p in self._side_files():
            with contextlib.suppress(OSError):
                held.append(open(p, "r+b"))  # noqa: SIM115  (closed below)
        try:
            self._c.close()
        except sqlite3.Error:
            pass
        cleared = True
        for fh in held:
            try:
                if os.fstat(fh.fileno()).st_nlink == 0:
                    _zero_file(fh)
                else:
                    cleared = False
            finally:
                fh.close()
        return cleared

    def _after_rewrite(self) -> bool:
        # the rewrite went through the WAL; closing checkpoints it into the file and deletes it
        cleared = self._close_zeroing()
        self._connect()
        if not cleared:
            log.warning("scrub: another process has the database open, so its WAL could not be cleared; "
                        "it will be at the next scrub")
        return cleared

    def close(self) -> None:
        with self._lock:
            self._close_zeroing()


class PostgresStore(Store):
    """Shared store for several server processes or hosts (psycopg 3, ``synchronous_commit`` on)."""

    _ph = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg

        self.url = url
        try:
            self._c = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            raise InputError(f"--db {_redact(url)}: cannot connect to PostgreSQL ({_one_line(exc)}); check host, database and role") from None
        self._c.execute("SET synchronous_commit = on")
        self._c.commit()
        # several processes may create the schema at once: serialise with an advisory lock
        self._c.execute("SELECT pg_advisory_xact_lock(74656)")
        self._init_schema("BYTEA", "")

    def _conn(self) -> Any:
        return self._c

    def _many(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            with self._c.cursor() as cur:
                cur.executemany(self._q(sql), rows)

    def _begin(self) -> None:
        pass  # psycopg opens a transaction on the first statement

    def _retryable(self, exc: BaseException) -> bool:
        import psycopg.errors

        return isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure)

    def _lock_tables(self) -> None:
        # writers of other server processes wait (briefly); readers (an export) go on
        self._exec("LOCK TABLE submissions, invites IN EXCLUSIVE MODE")

    def _after_rewrite(self) -> bool:
        # every live row now carries the scrub's transaction id; VACUUM frees the dead versions
        import psycopg

        try:
            self._c.autocommit = True
            self._c.execute("VACUUM submissions")
            self._c.execute("VACUUM invites")
        except psycopg.Error:
            return False
        finally:
            self._c.autocommit = False
        return True

    def _recover(self, exc: BaseException) -> bool:
        import psycopg

        if not (isinstance(exc, psycopg.OperationalError) or self._c.closed or self._c.broken):
            return False
        try:
            self._c.close()
            self._c = psycopg.connect(self.url, connect_timeout=10)
            return True
        except psycopg.Error:
            return False


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (or plain path), None for PostgreSQL."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0])
    if "://" not in url:
        return Path(url)
    return None


def open_store(url: str) -> Store:
    """Open ``sqlite:///relative.db``, ``sqlite:////absolute.db``, a plain ``*.db`` path, or ``postgresql://...``.

    SQLite URLs accept ``?synchronous=FULL|NORMAL`` (FULL is the durable default).
    """
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        parts = urlsplit(url)
        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        sync = parse_qs(parts.query).get("synchronous", ["FULL"])[0].upper()
        if sync not in ("FULL", "NORMAL", "EXTRA"):
            raise InputError(f"--db {url}: synchronous must be FULL, EXTRA or NORMAL")
        return SQLiteStore(path, sync)
    if "://" not in url and url.endswith((".db", ".sqlite", ".sqlite3")):
        return SQLiteStore(Path(url))
    raise InputError(f"--db {url}: use sqlite:///path.db (relative), sqlite:////abs/path.db or postgresql://user@host/dbname")


_Job = tuple[Pending | Callable[[], Any], concurrent.futures.Future]


class GroupCommitter:
    """One writer thread that commits whatever has queued up as one transaction, then acknowledges.

    Concurrent submissions therefore share one durable commit (one fsync) instead of queueing for
    one each; a submission's future resolves only after its transaction has committed. Maintenance
    (:meth:`run`, e.g. a scrub) runs on the same thread, between batches.
    """

    def __init__(self, store: Store, max_batch: int = 512) -> None:
        self.store = store
        self.max_batch = max_batch
        self._q: queue.Queue[_Job | None] = queue.Queue()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._start_lock:  # (re)start after close(): an app may go through several lifespans
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sottovoce-writer", daemon=True)
                self._thread.start()

    def submit(self, item: Pending) -> concurrent.futures.Future[Outcome]:
        fut: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        self._q.put((item, fut))
        self._ensure_thread()  # after the put: an item queued behind a close() still finds a writer
        return fut

    def run(self, job: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``job`` on the writer thread (after the batches queued before it)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._q.put((job, fut))
        self._ensure_thread()
        return fut

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            if not isinstance(first[0], Pending):
                self._job(first)
                continue
            batch = [first]
            stop = False
            extra: _Job | None = None
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if not isinstance(nxt[0], Pending):
                    extra = nxt
                    break
                batch.append(nxt)
            try:
                outcomes = self.store.submit_batch([p for p, _ in batch])  # type: ignore[misc]
            except Exception as exc:  # the database failed: every waiting request learns it
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                for (_, fut), oc in zip(batch, outcomes, strict=True):
                    fut.set_result(oc)
            if extra is not None:
                self._job(extra)
            if stop:
                return

    @staticmethod
    def _job(item: _Job) -> None:
        job, fut = item
        try:
            fut.set_result(job())  # type: ignore[operator]
        except Exception as exc:
            fut.set_exception(exc)

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._q.put(None)
                self._thread.join(timeout=60)


def db_files(url: str) -> list[Path]:
    """The files of a SQLite store (database, WAL, shared memory) — for tests and checks."""
    p = sqlite_path(url) or Path(url)
    return [q for q in (p, Path(f"{p}-wal"), Path(f"{p}-shm")) if q.exists()]
