"""Where sealed submissions wait for the analyst: SQLite (embedded default) or PostgreSQL.

Only four things are stored per submission: a random record id, the UTC day, the ciphertext and a
salted hash of the form's idempotency key. Invitation codes live in a separate table as salted
hashes and are *deleted* when used, so nothing ties a code to an answer (no shared column, no
timestamps; SQLite's ``secure_delete`` overwrites the freed bytes). Submissions sit in a
``WITHOUT ROWID`` table keyed by the random id, so their physical order carries no arrival order.

Durability: SQLite runs in WAL mode with ``synchronous=FULL`` by default (a commit is on disk
before it is acknowledged); PostgreSQL uses its default ``synchronous_commit=on``.
:class:`GroupCommitter` batches the submissions that arrive together into one transaction (group
commit, as databases do for their own logs), so one fsync acknowledges many respondents.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import hashlib
import hmac
import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import InputError

__all__ = ["Pending", "Outcome", "Store", "SQLiteStore", "PostgresStore", "open_store", "GroupCommitter", "today"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS submissions (id TEXT PRIMARY KEY, day TEXT NOT NULL, "
    "ciphertext {blob} NOT NULL, idem TEXT NOT NULL UNIQUE){without_rowid}",
    "CREATE TABLE IF NOT EXISTS invites (hash TEXT PRIMARY KEY){without_rowid}",
)


@dataclass(frozen=True)
class Pending:
    """One submission on its way to storage (already sealed)."""

    idem_hash: str
    ciphertext: bytes
    invite_hash: str | None = None


@dataclass(frozen=True)
class Outcome:
    """``status`` is ``stored``, ``duplicate`` (same idempotency key seen before) or ``bad_invite``."""

    status: str
    id: str | None = None


def today() -> str:
    """The UTC day: the finest time the server keeps."""
    return _dt.datetime.now(_dt.UTC).date().isoformat()


def new_record_id() -> str:
    return secrets.token_hex(16)


class Store:
    """Common logic of both databases; subclasses supply the connection and the SQL dialect."""

    url: str
    _ph = "?"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secret: bytes = b""

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

    # -- setup ---------------------------------------------------------------------------------
    def _init_schema(self, blob: str, without_rowid: str) -> None:
        for stmt in _SCHEMA:
            self._exec(stmt.format(blob=blob, without_rowid=without_rowid))
        self._exec("INSERT INTO meta (name, value) VALUES ('salt', ?) ON CONFLICT (name) DO NOTHING",
                   (secrets.token_bytes(32),))
        self._secret = bytes(self._exec("SELECT value FROM meta WHERE name = 'salt'").fetchone()[0])
        self._commit()

    def hash(self, value: str) -> str:
        """Salted hash (HMAC-SHA-256 with this database's secret salt) of an invite code or idempotency key."""
        return hmac.new(self._secret, value.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- writes --------------------------------------------------------------------------------
    def submit_batch(self, items: list[Pending], day: str | None = None) -> list[Outcome]:
        """Store a batch in ONE transaction (committed durably before returning)."""
        day = day or today()
        # one lock order for every process (by key hash): two servers committing overlapping
        # batches of retried submissions then wait for each other instead of deadlocking
        order = sorted(range(len(items)), key=lambda i: items[i].idem_hash)
        for attempt in range(5):
            with self._lock:
                self._begin()
                try:
                    done = {i: self._submit_one(items[i], day) for i in order}
                    self._commit()
                    if any(p.invite_hash is not None for p in items):
                        self._scrub_invites()
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

    def _scrub_invites(self) -> None:
        """Remove the traces that tie a used invitation to the commit that stored an answer.

        A used code's row is deleted in the same transaction that stores the answer, so the
        database's log (SQLite's WAL, PostgreSQL's dead tuples) would pair them until cleaned up.
        """

    def _retryable(self, exc: BaseException) -> bool:
        """A transient conflict with another process (deadlock, serialization, busy database)."""
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def _submit_one(self, p: Pending, day: str) -> Outcome:
        row = self._exec("SELECT id FROM submissions WHERE idem = ?", (p.idem_hash,)).fetchone()
        if row:
            return Outcome("duplicate", row[0])
        rid = new_record_id()
        got = self._exec(
            "INSERT INTO submissions (id, day, ciphertext, idem) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (idem) DO NOTHING RETURNING id",
            (rid, day, p.ciphertext, p.idem_hash),
        ).fetchone()
        if got is None:  # another process stored the same key meanwhile (PostgreSQL)
            row = self._exec("SELECT id FROM submissions WHERE idem = ?", (p.idem_hash,)).fetchone()
            return Outcome("duplicate", row[0] if row else None)
        if p.invite_hash is not None:
            used = self._exec("DELETE FROM invites WHERE hash = ? RETURNING hash", (p.invite_hash,)).fetchone()
            if used is None:
                self._exec("DELETE FROM submissions WHERE id = ?", (rid,))
                return Outcome("bad_invite")
        return Outcome("stored", rid)

    def add_invites(self, codes: Iterable[str]) -> int:
        """Register invitation codes (only their salted hashes are stored); returns how many are new."""
        hashes = sorted({self.hash(c.strip()) for c in codes if c.strip()})
        n = 0
        with self._lock:
            self._begin()
            try:
                for h in hashes:
                    cur = self._exec("INSERT INTO invites (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING RETURNING hash", (h,))
                    n += cur.fetchone() is not None
                self._commit()
            except BaseException:
                self._rollback()
                raise
        return n

    # -- reads ---------------------------------------------------------------------------------
    def _read(self, sql: str) -> list[tuple]:
        for attempt in range(2):
            with self._lock:
                try:
                    rows = list(self._exec(sql).fetchall())
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

    def invites_left(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM invites")[0][0])

    def invites_enabled(self) -> bool:
        return bool(self._read("SELECT value FROM meta WHERE name = 'invites'"))

    def require_invites(self) -> None:
        """Mark the study as invitation-only (kept in the database so every server process agrees)."""
        with self._lock:
            self._exec("INSERT INTO meta (name, value) VALUES ('invites', ?) ON CONFLICT (name) DO NOTHING", (b"1",))
            self._commit()

    def rows(self) -> Iterator[tuple[str, str, bytes]]:
        """All stored submissions as ``(id, day, ciphertext)``, ordered by the random id."""
        for rid, day, ct in self._read("SELECT id, day, ciphertext FROM submissions ORDER BY id"):
            yield str(rid), str(day), bytes(ct)

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


class SQLiteStore(Store):
    """Embedded store: one file, WAL journal, ``synchronous=FULL`` unless the URL says otherwise."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        super().__init__()
        self.url = f"sqlite:///{path}"
        self.path = path
        if not path.parent.is_dir():
            raise InputError(f"{path}: the directory {path.parent} does not exist; create it or choose another --db path")
        try:
            self._c = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
            self._c.execute("PRAGMA journal_mode=WAL")
            self._c.execute(f"PRAGMA synchronous={synchronous}")
            self._c.execute("PRAGMA secure_delete=ON")
            # truncate the WAL at each checkpoint: old frames would keep the arrival order of answers
            self._c.execute("PRAGMA journal_size_limit=0")
            self._c.execute("BEGIN IMMEDIATE")
            self._init_schema("BLOB", " WITHOUT ROWID")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: cannot open as a SQLite database ({exc}); give a new file name or a sottovoce database") from None

    def _conn(self) -> sqlite3.Connection:
        return self._c

    def _scrub_invites(self) -> None:
        # copy the commit into the main file (where secure_delete has zeroed the used code) and
        # truncate the WAL, whose frames would otherwise show which code went with which answer
        try:
            self._c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass  # a reader holds the WAL: it is truncated at the next invitation or on close

    def _begin(self) -> None:
        self._c.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self._c.in_transaction:
            self._c.execute("COMMIT")

    def _rollback(self) -> None:
        if self._c.in_transaction:
            self._c.execute("ROLLBACK")


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

    def _begin(self) -> None:
        pass  # psycopg opens a transaction on the first statement

    def _retryable(self, exc: BaseException) -> bool:
        import psycopg.errors

        return isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure)

    def _scrub_invites(self) -> None:
        # the deleted invitation row's xmax equals the new answer's xmin until VACUUM removes it
        import psycopg

        try:
            self._c.autocommit = True
            self._c.execute("VACUUM invites")
        except psycopg.Error:
            pass
        finally:
            self._c.autocommit = False

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


class GroupCommitter:
    """One writer thread that commits whatever has queued up as one transaction, then acknowledges.

    Concurrent submissions therefore share one durable commit (one fsync) instead of queueing for
    one each; a submission's future resolves only after its transaction has committed.
    """

    def __init__(self, store: Store, max_batch: int = 512) -> None:
        self.store = store
        self.max_batch = max_batch
        self._q: queue.Queue[tuple[Pending, concurrent.futures.Future[Outcome]] | None] = queue.Queue()
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

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                outcomes = self.store.submit_batch([p for p, _ in batch])
            except Exception as exc:  # the database failed: every waiting request learns it
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                for (_, fut), oc in zip(batch, outcomes, strict=True):
                    fut.set_result(oc)
            if stop:
                return

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                self._q.put(None)
                self._thread.join(timeout=30)


def db_files(url: str) -> list[Path]:
    """The files of a SQLite store (database, WAL, shared memory) — for tests and checks."""
    if url.startswith("sqlite:///"):
        p = Path(url[len("sqlite:///"):].split("?", 1)[0])
    else:
        p = Path(url)
    return [q for q in (p, Path(f"{p}-wal"), Path(f"{p}-shm")) if q.exists()]

