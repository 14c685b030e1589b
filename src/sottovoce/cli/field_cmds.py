"""``sottovoce keys new``, ``serve``, ``export``, ``decrypt``: fielding a survey without endangering respondents."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import typer

from ..errors import InputError

PASSPHRASE_ENV = "SOTTOVOCE_PASSPHRASE"


def _read_passphrase(path: Path | None, ask: bool, confirm: bool = False) -> bytes | None:
    """From a file (first line), the SOTTOVOCE_PASSPHRASE variable, or a prompt on a terminal."""
    if path is not None:
        if not path.is_file():
            raise InputError(f"--passphrase-file {path}: file not found")
        text = path.read_text(encoding="utf-8").splitlines()
        if not text or not text[0]:
            raise InputError(f"--passphrase-file {path}: the first line is empty; put the passphrase on it")
        return text[0].encode("utf-8")
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV].encode("utf-8")
    if ask:
        if not sys.stdin.isatty():
            raise InputError(f"no terminal to ask for the passphrase; use --passphrase-file FILE or set {PASSPHRASE_ENV}")
        first = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("again: ") != first:
            raise InputError("the two passphrases differ; run the command again")
        if not first:
            raise InputError("empty passphrase; type one, or leave out --ask-passphrase for an unprotected key")
        return first.encode("utf-8")
    return None


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Make the study's key pair (the server gets only the public key).", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("new")
    def keys_new(
        out: Path = typer.Option(..., "--out", help="Directory for public.key and private.key (created; never overwritten)."),
        passphrase_file: Path | None = typer.Option(None, "--passphrase-file", help="Protect private.key with the passphrase on this file's first line."),
        ask_passphrase: bool = typer.Option(False, "--ask-passphrase", help="Prompt for a passphrase to protect private.key."),
    ) -> None:
        """Make an X25519 key pair: public.key for `serve`, private.key (0600) for `decrypt`."""
        from ..field.crypto import new_keypair

        phrase = _read_passphrase(passphrase_file, ask_passphrase, confirm=True)
        pub, priv = new_keypair(out, phrase)
        protected = "passphrase-protected" if phrase else "NOT passphrase-protected"
        print(f"public key:  {pub}  (give this one to the server)")
        print(f"private key: {priv}  ({protected}; keep it offline, never on the server)")

    @keys.command("invites")
    def keys_invites(
        count: int = typer.Option(..., "--count", "-n", help="How many one-time invitation codes to make."),
        out: Path = typer.Option(..., "--out", help="File to write, one code a line (never overwritten)."),
    ) -> None:
        """Make one-time invitation codes for `serve --invites` (hand them out; the server stores only hashes)."""
        import secrets

        if count < 1 or count > 1_000_000:
            raise InputError(f"--count {count}: give a number of codes between 1 and 1,000,000")
        if out.exists():
            raise InputError(f"{out}: already exists; refusing to overwrite invitation codes, choose another --out")
        if not out.parent.exists():
            raise InputError(f"{out}: folder '{out.parent}' does not exist")
        # 80 random bits per code, in an alphabet without look-alike characters, grouped for dictation.
        alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
        codes = {"-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4)) for _ in range(count)}
        while len(codes) < count:
            codes.add("-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4)))
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(sorted(codes)) + "\n")
        print(f"{count} invitation codes written to {out} (0600); give one to each invited respondent")

    @app.command("serve")
    def serve(
        study: Path = typer.Argument(..., help="The study file (TOML) whose [[questions]] make the survey."),
        public_key: Path = typer.Option(..., "--public-key", help="public.key from `sottovoce keys new`."),
        db: str = typer.Option("sqlite:///answers.db", "--db", help="sqlite:///file.db (default) or postgresql://user@host/dbname."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep 127.0.0.1 behind Tor or a proxy)."),
        port: int = typer.Option(8000, "--port", help="Port to listen on."),
        invites: Path | None = typer.Option(None, "--invites", help="File of one-time invitation codes, one a line; only their hashes are stored."),
        max_body: int = typer.Option(64 * 1024, "--max-body", help="Largest request body in bytes (bigger ones get 413)."),
    ) -> None:
        """Serve the survey: answers are sealed to the public key on arrival."""
        from ..field.app import run_server

        run_server(study, public_key, db, host=host, port=port, invites=invites, max_body=max_body)

    @app.command("export")
    def export(
        db: str = typer.Option(..., "--db", help="The server's database URL (as given to `serve`)."),
        out: Path = typer.Option(..., "--out", help="JSON lines file to write ({id, day, ciphertext})."),
    ) -> None:
        """Export the sealed submissions (no key needed; nothing is decrypted)."""
        from ..field.export import export_jsonl

        n = export_jsonl(db, out)
        print(f"exported {n} sealed submissions to {out}", file=sys.stderr)

    @app.command("decrypt")
    def decrypt(
        export_file: Path = typer.Argument(..., help="The JSON lines file from `sottovoce export`."),
        key: Path = typer.Option(..., "--key", help="private.key from `sottovoce keys new`."),
        out: Path = typer.Option(..., "--out", help="Table to write: .csv, .tsv, .parquet, .sav or .dta."),
        passphrase_file: Path | None = typer.Option(None, "--passphrase-file", help=f"Passphrase on this file's first line (or set {PASSPHRASE_ENV}; else you are asked)."),
        skip_bad: bool = typer.Option(False, "--skip-bad", help="Write the records that open and list the bad ones on stderr (default: refuse)."),
        with_meta: bool = typer.Option(False, "--with-meta", help="Add record_id and day columns."),
    ) -> None:
        """Decrypt an export into a table that `sottovoce analyze` reads."""
        from ..field.crypto import load_private_key, private_key_is_protected
        from ..field.export import decrypt_jsonl
        from ..io import write_table

        if out.exists() and any(f.exists() and out.resolve() == f.resolve() for f in (export_file, key)):
            raise InputError(f"--out {out}: refusing to overwrite an input file; choose another --out")
        phrase = _read_passphrase(passphrase_file, ask=private_key_is_protected(key)) if private_key_is_protected(key) else None
        sk = load_private_key(key, phrase)
        result = decrypt_jsonl(export_file, sk, with_meta=with_meta)
        if result.bad:
            ids = "; ".join(f"{rid} ({why})" for rid, why in result.bad[:20])
            more = f" and {len(result.bad) - 20} more" if len(result.bad) > 20 else ""
            msg = f"{export_file}: {len(result.bad)} record(s) could not be decrypted: {ids}{more}"
            if not skip_bad:
                raise InputError(msg + "; check the key, or pass --skip-bad to write the others")
            print(f"warning: {msg}", file=sys.stderr)
        if len(result.studies) > 1:
            print(f"warning: the export mixes studies {', '.join(sorted(result.studies))}", file=sys.stderr)
        write_table(result.table, out, protect=[export_file, key])
        print(f"decrypted {len(result.table)} submissions to {out}", file=sys.stderr)


def _safe(url: str) -> str:
    from ..field.storage import _redact

    return _redact(url)
