"""Getting answers out: export ciphertexts (server side), decrypt them (analyst side, offline).

``export`` needs no key and reveals nothing: it copies ``{id, day, ciphertext}`` rows to JSON lines.
``decrypt`` opens each sealed box with the private key and writes one row per submission whose
columns are the study's answer columns, so ``sottovoce analyze`` reads the table directly. A
record that does not open (tampered, truncated, sealed to another key, not a submission) is
reported by its id; it is never dropped silently.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nacl.public
import pandas as pd

from ..errors import InputError
from .crypto import BadCiphertext, unseal
from .questionnaire import decode_payload
from .storage import open_store

__all__ = ["export_jsonl", "decrypt_jsonl", "Decrypted"]


def export_jsonl(db: str, out: str | os.PathLike[str]) -> int:
    """Write every stored submission to ``out`` as JSON lines ``{id, day, ciphertext}``; returns the count.

    Written to a temporary file and renamed, so a crash never leaves half an export.
    """
    out_path = Path(out)
    store = open_store(db)
    try:
        db_path = getattr(store, "path", None)
        if db_path is not None and out_path.resolve() in {Path(f"{db_path}{s}").resolve() for s in ("", "-wal", "-shm")}:
            raise InputError(f"--out {out_path}: that is the database itself; choose another file name")
        tmp = out_path.with_name(f".{out_path.name}.tmp")
        n = 0
        with open(tmp, "w", encoding="utf-8") as fh:
            for rid, day, ct in store.rows():
                fh.write(json.dumps({"id": rid, "day": day, "ciphertext": base64.b64encode(ct).decode("ascii")}) + "\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    finally:
        store.close()
    return n


@dataclass
class Decrypted:
    """The decrypted answers plus the records that could not be opened (by id, with the reason)."""

    table: pd.DataFrame
    bad: list[tuple[str, str]] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)


def _records(path: Path) -> Iterator[tuple[int, str, str, bytes | None, str]]:
    """(line number, id, day, ciphertext or None, problem)."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                yield lineno, f"line {lineno}", "", None, "not JSON"
                continue
            if not isinstance(obj, dict):
                yield lineno, f"line {lineno}", "", None, "not a JSON object"
                continue
            rid = str(obj.get("id") or f"line {lineno}")
            try:
                ct = base64.b64decode(str(obj.get("ciphertext", "")), validate=True)
            except (binascii.Error, ValueError):
                yield lineno, rid, str(obj.get("day", "")), None, "ciphertext is not base64"
                continue
            yield lineno, rid, str(obj.get("day", "")), ct, ""


def decrypt_jsonl(path: str | os.PathLike[str], private_key: nacl.public.PrivateKey, *, with_meta: bool = False) -> Decrypted:
    """Open every record of an export; answers become columns in the order the questionnaire asked them.

    ``with_meta`` adds ``record_id`` and ``day`` columns in front.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: export file not found; make one with `sottovoce export --db URL --out FILE.jsonl`")
    rows: list[dict] = []
    bad: list[tuple[str, str]] = []
    studies: set[str] = set()
    columns: dict[str, None] = {}
    try:
        for _, rid, day, ct, problem in _records(p):
            if ct is None:
                bad.append((rid, problem))
                continue
            try:
                study, answers = decode_payload(unseal(private_key, ct))
            except BadCiphertext:
                bad.append((rid, "does not open with this key (tampered or sealed to another key)"))
                continue
            except (ValueError, UnicodeDecodeError):
                bad.append((rid, "opens but is not a sottovoce submission"))
                continue
            studies.add(study)
            columns.update(dict.fromkeys(answers))
            rows.append({"record_id": rid, "day": day, **answers} if with_meta else dict(answers))
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a text file of JSON lines; give the file written by `sottovoce export`") from None
    cols = (["record_id", "day"] if with_meta else []) + list(columns)
    table = pd.DataFrame.from_records(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
    return Decrypted(table, bad, studies)
