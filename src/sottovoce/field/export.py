"""Getting answers out: export ciphertexts (server side), decrypt them (analyst side, offline).

``export`` needs no key and reveals nothing: it writes a header line, then one ``{id, ciphertext}``
line per submission in the order of the random ids. The header carries the study id, the number
of records, the SHA-256 of the record lines, the server id (a fingerprint of the server token)
and an HMAC of all of these under the server token.

``decrypt`` opens each sealed box with the private key and checks what the header promises. The
server token also travels *inside* every sealed answer, where only the analyst can read it; so:

* a truncated, duplicated, reordered-and-edited or concatenated file, and a file of another
  study, is detected (count, digest, study id, header MAC);
* a record forged by someone who has only the public key is detected: it lacks the token;
* NOT detected: a whole export forged consistently with a token of the forger's own making,
  unless the analyst pins the server id (``decrypt --server-id``), and anything done by someone
  who controls the server (they can also submit answers through the form like anyone else).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.public
import pandas as pd

from .._words import count_en
from ..errors import InputError
from .crypto import BadCiphertext, unseal
from .questionnaire import decode_payload
from .storage import fingerprint, open_store, sqlite_path

__all__ = ["export_jsonl", "decrypt_jsonl", "Decrypted", "EXPORT_FORMAT"]

EXPORT_FORMAT = "sottovoce-export"
EXPORT_VERSION = 2


def _canonical(header: dict[str, Any]) -> bytes:
    return json.dumps({k: header[k] for k in sorted(header) if k != "mac"}, separators=(",", ":")).encode("utf-8")


def _mac(secret: bytes, header: dict[str, Any]) -> str:
    return hmac.new(secret, b"sottovoce export header\0" + _canonical(header), hashlib.sha256).hexdigest()


def export_jsonl(db: str, out: str | os.PathLike[str]) -> int:
    """Write the header and every stored submission to ``out`` (JSON lines); returns the count.

    The rows are read in one short snapshot, then written to a temporary file (0600) that is
    renamed, so a crash never leaves half an export and the server is never held up.
    """
    out_path = Path(out)
    db_path = sqlite_path(db)
    if db_path is not None and out_path.resolve() in {Path(f"{db_path}{s}").resolve() for s in ("", "-wal", "-shm")}:
        raise InputError(f"--out {out_path}: that is the database itself; choose another file name")
    store = open_store(db)
    try:
        rows = list(store.rows())
        study, server_id, secret = store.study_id() or "", store.server_id, store.server_secret
    finally:
        store.close()
    lines = [(json.dumps({"id": rid, "ciphertext": base64.b64encode(ct).decode("ascii")}) + "\n").encode("ascii")
             for rid, ct in rows]
    header: dict[str, Any] = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "study": study, "count": len(lines),
                              "sha256": hashlib.sha256(b"".join(lines)).hexdigest(), "server": server_id}
    header["mac"] = _mac(secret, header)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write((json.dumps(header) + "\n").encode("ascii"))
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out_path)
    return len(lines)


@dataclass
class Decrypted:
    """The decrypted answers, the records that could not be used (by id, with the reason), and
    what is wrong with the file as a whole (truncated, duplicated, altered)."""

    table: pd.DataFrame
    bad: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    study: str = ""
    server: str = ""


@dataclass
class _Line:
    lineno: int
    rid: str
    raw: bytes
    ct: bytes | None
    problem: str = ""


def _read_header(path: Path, first: bytes) -> dict[str, Any]:
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path}: not a sottovoce export (the first line is not its header); give the file "
                         "written by `sottovoce export`")
    if header.get("version") != EXPORT_VERSION:
        raise InputError(f"{path}: export format version {header.get('version')!r}; this sottovoce reads version "
                         f"{EXPORT_VERSION} (export again with this version)")
    for key, kind in (("study", str), ("count", int), ("sha256", str), ("server", str), ("mac", str)):
        if not isinstance(header.get(key), kind):
            raise InputError(f"{path}: the export header lacks '{key}'; the file is damaged, export it again")
    return header


def _read_lines(path: Path) -> tuple[dict[str, Any], list[_Line]]:
    if not path.is_file():
        raise InputError(f"{path}: export file not found; make one with `sottovoce export --db URL --out FILE.jsonl`")
    raw_lines = [ln for ln in path.read_bytes().splitlines(keepends=True) if ln.strip()]
    if not raw_lines:
        raise InputError(f"{path}: the file is empty; give the file written by `sottovoce export`")
    try:
        header = _read_header(path, raw_lines[0])
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file of JSON lines; give the file written by `sottovoce export`") from None
    out = []
    for n, raw in enumerate(raw_lines[1:], 2):
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            out.append(_Line(n, f"line {n}", raw, None, "not JSON (cut short?)"))
            continue
        if not isinstance(obj, dict):
            out.append(_Line(n, f"line {n}", raw, None, "not a JSON object"))
            continue
        if obj.get("format") == EXPORT_FORMAT:
            out.append(_Line(n, f"line {n}", raw, None, "a second export header (were two files joined?)"))
            continue
        rid = str(obj.get("id") or f"line {n}")
        try:
            ct = base64.b64decode(str(obj.get("ciphertext", "")), validate=True)
        except (binascii.Error, ValueError):
            out.append(_Line(n, rid, raw, None, "ciphertext is not base64"))
            continue
        out.append(_Line(n, rid, raw, ct))
    return header, out


def _file_problems(header: dict[str, Any], lines: list[_Line]) -> tuple[list[str], set[int]]:
    """What is wrong with the file as a whole, and the line numbers of duplicated records."""
    problems, dup_lines = [], set()
    seen: Counter[str] = Counter()
    for ln in lines:
        seen[ln.rid] += 1
        if seen[ln.rid] > 1:
            dup_lines.add(ln.lineno)
    dups = sorted(r for r, k in seen.items() if k > 1)
    n, want = len(lines), header["count"]
    if n < want:
        problems.append(f"truncated: the header says {want} records, the file has {n} ({want - n} missing)")
    elif n > want:
        problems.append(f"the header says {want} records, the file has {n} ({n - want} extra)")
    if dups:
        problems.append(f"{count_en(len(dup_lines), 'duplicated record')}, e.g. {dups[0]}")
    if not problems and hashlib.sha256(b"".join(ln.raw if ln.raw.endswith(b"\n") else ln.raw + b"\n"
                                                for ln in lines)).hexdigest() != header["sha256"]:
        problems.append("the records do not match the header's digest (the file was altered)")
    return problems, dup_lines


@dataclass
class _Opened:
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)
    columns: dict[str, None] = field(default_factory=dict)
    opened: int = 0
    secret: bytes | None = None  # the server token, from a record whose fingerprint matches the header


def _open_records(lines: list[_Line], private_key: nacl.public.PrivateKey, header: dict[str, Any],
                  dup_lines: set[int], with_meta: bool) -> _Opened:
    """Unseal each record and check it belongs to the header's server and study, once."""
    out = _Opened()
    for ln in lines:
        if ln.ct is None:
            out.bad.append((ln.rid, ln.problem))
            continue
        try:
            payload = decode_payload(unseal(private_key, ln.ct))
        except BadCiphertext:
            out.bad.append((ln.rid, "does not open with this key (tampered or sealed to another key)"))
            continue
        except (ValueError, UnicodeDecodeError):
            out.bad.append((ln.rid, "opens but is not a sottovoce submission"))
            continue
        out.opened += 1
        if fingerprint(payload.server) != header["server"]:
            out.bad.append((ln.rid, "not sealed by this export's server (forged with the public key, or from another database)"))
            continue
        out.secret = payload.server
        if payload.study != header["study"]:
            out.bad.append((ln.rid, f"an answer to study '{payload.study}', not '{header['study']}'"))
            continue
        if ln.lineno in dup_lines:
            out.bad.append((ln.rid, "duplicate of an earlier line"))
            continue
        out.columns.update(dict.fromkeys(payload.answers))
        out.rows.append({"record_id": ln.rid, "day": payload.day, **payload.answers} if with_meta else dict(payload.answers))
    return out


def decrypt_jsonl(path: str | os.PathLike[str], private_key: nacl.public.PrivateKey, *, with_meta: bool = False,
                  server_id: str | None = None, study: str | None = None) -> Decrypted:
    """Open and check every record of an export; answers become columns in questionnaire order.

    ``with_meta`` adds ``record_id`` and ``day`` columns in front. ``server_id`` and ``study``, when
    given, must match the export's. Raises :class:`InputError` when no record opens (wrong key) or
    the file is not an export; everything else is reported in the result for the caller to judge.
    """
    p = Path(path)
    header, lines = _read_lines(p)
    if server_id is not None and header["server"] != server_id.strip():
        raise InputError(f"{p}: the export comes from server {header['server']}, not {server_id.strip()}; "
                         "check that this is the right export (or the right --server-id)")
    if study is not None and header["study"] != study:
        raise InputError(f"{p}: the export holds answers to study '{header['study']}', not '{study}'")
    problems, dup_lines = _file_problems(header, lines)
    got = _open_records(lines, private_key, header, dup_lines, with_meta)
    if lines and not got.opened:
        raise InputError(f"{p}: none of the {len(lines)} records opens with this private key (wrong key?); use the "
                         "private.key made together with the server's public.key")
    if got.secret is not None and not hmac.compare_digest(_mac(got.secret, header), header["mac"]):
        problems.insert(0, "the header was altered (its MAC does not verify)")
    cols = (["record_id", "day"] if with_meta else []) + list(got.columns)
    table = pd.DataFrame.from_records(got.rows, columns=cols) if got.rows else pd.DataFrame(columns=cols)
    return Decrypted(table, got.bad, problems, str(header["study"]), str(header["server"]))
