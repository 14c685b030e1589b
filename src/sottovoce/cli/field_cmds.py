"""``sottovoce keys new``, ``serve``, ``export``, ``decrypt``: fielding a survey without endangering respondents."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import typer

from .._words import count_en
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
    keys.command("new")(keys_new)
    keys.command("invites")(keys_invites)
    app.command("serve")(serve)
    app.command("export")(export)
    app.command("decrypt")(decrypt)


def keys_new(
    out: Path = typer.Option(..., "--out", help="Directory for public.key and private.key (created; never overwritten)."),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file", help="Protect private.key with the passphrase on this file's first line."),
    ask_passphrase: bool = typer.Option(False, "--ask-passphrase", help="Prompt for a passphrase to protect private.key."),
    allow_weak: bool = typer.Option(False, "--allow-weak-passphrase", help="Accept a passphrase shorter than 12 characters."),
) -> None:
    """Make an X25519 key pair: public.key for `serve`, private.key (0600) for `decrypt`."""
    from ..field.crypto import check_passphrase, new_keypair

    phrase = _read_passphrase(passphrase_file, ask_passphrase, confirm=True)
    if phrase and not allow_weak:
        check_passphrase(phrase)
    pub, priv = new_keypair(out, phrase)
    protected = "passphrase-protected" if phrase else "NOT passphrase-protected"
    print(f"public key:  {pub}  (give this one to the server)")
    print(f"private key: {priv}  ({protected}; keep it offline, never on the server)")


def keys_invites(
    count: int = typer.Option(..., "--count", "-n", help="How many one-time invitation codes to make."),
    out: Path = typer.Option(..., "--out", help="File to write, one code a line (never overwritten)."),
) -> None:
    """Make one-time invitation codes for `serve --invites` (the server stores only keyed tags)."""
    import secrets

    if count < 1 or count > 1_000_000:
        raise InputError(f"--count {count}: give a number of codes between 1 and 1,000,000")
    if out.exists():
        raise InputError(f"{out}: already exists; refusing to overwrite invitation codes, choose another --out")
    if not out.parent.exists():
        raise InputError(f"{out}: folder '{out.parent}' does not exist")
    # 80 random bits per code, in an alphabet without look-alike characters, grouped for dictation;
    # every code has the same length, so the length of a posted form says nothing either
    alphabet = "23456789abcdefghjkmnpqrstuvwxyz"

    def code() -> str:
        return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))

    codes: set[str] = set()
    while len(codes) < count:
        codes.add(code())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(sorted(codes)) + "\n")
    print(f"{count} invitation codes written to {out} (0600); give one to each invited respondent. "
          "Import them once with `serve --invites`, then destroy the copy on the server")


def serve(
    study: Path = typer.Argument(..., help="The study file (TOML) whose [[questions]] make the survey."),
    public_key: Path = typer.Option(..., "--public-key", help="public.key from `sottovoce keys new`."),
    db: str = typer.Option("sqlite:///answers.db", "--db", help="sqlite:///file.db (default) or postgresql://user@host/dbname."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep 127.0.0.1 behind Tor or a proxy)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    invites: Path | None = typer.Option(None, "--invites", help="File of one-time invitation codes, one a line; imported once (then destroy it)."),
    invite_key: Path | None = typer.Option(None, "--invite-key", help="Invitation key file, kept OFF this disk (tmpfs or removable media); made on the first import, needed at every start."),
    max_body: int = typer.Option(64 * 1024, "--max-body", help="Largest request body in bytes (bigger ones get 413)."),
    max_connections: int = typer.Option(500, "--max-connections", help="Open connections at most; more are closed at once."),
    request_timeout: float = typer.Option(15.0, "--request-timeout", help="Seconds a client has to send a request's head, and again its body."),
    scrub_interval: float = typer.Option(300.0, "--scrub-interval", help="Seconds between scrubs that erase arrival order from the database files (0: only at start and stop)."),
    mode: str = typer.Option("web", "--mode", help="web (respondents answer themselves) or interviewer (a call centre: one page per case of --assignment)."),
    assignment: Path | None = typer.Option(None, "--assignment", help="Interviewer mode: assignment.csv from `sottovoce field-plan` (case id -> arms)."),
) -> None:
    """Serve the survey: answers are sealed to the public key on arrival."""
    from ..field.server import run_server

    if max_connections < 1 or request_timeout <= 0 or scrub_interval < 0:
        raise InputError("--max-connections must be at least 1, --request-timeout above 0 and --scrub-interval 0 or more")
    run_server(study, public_key, db, host=host, port=port, invites=invites, invite_key=invite_key, max_body=max_body,
               max_connections=max_connections, request_timeout=request_timeout, scrub_interval=scrub_interval,
               mode=mode, assignment=assignment)


def export(
    db: str = typer.Option(..., "--db", help="The server's database URL (as given to `serve`)."),
    out: Path = typer.Option(..., "--out", help="JSON lines file to write (a header, then {id, ciphertext} lines)."),
) -> None:
    """Export the sealed submissions (no key needed; nothing is decrypted)."""
    from ..field.export import export_jsonl

    n = export_jsonl(db, out)
    print(f"exported {n} sealed submissions to {out}", file=sys.stderr)


def decrypt(
    export_file: Path = typer.Argument(..., help="The JSON lines file from `sottovoce export`."),
    key: Path = typer.Option(..., "--key", help="private.key from `sottovoce keys new`."),
    out: Path = typer.Option(..., "--out", help="Table to write: .csv, .tsv, .parquet, .sav or .dta."),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file", help=f"Passphrase on this file's first line (or set {PASSPHRASE_ENV}; else you are asked)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Write the records that check out and list the rest on stderr (default: refuse)."),
    with_meta: bool = typer.Option(False, "--with-meta", help="Add record_id and day columns."),
    server_id: str | None = typer.Option(None, "--server-id", help="The server id `serve` printed; the export must come from that server."),
    study: str | None = typer.Option(None, "--study", help="The study id (or study file) the export must hold."),
    allow_readable_key: bool = typer.Option(False, "--allow-readable-key", help="Use a private key file that other users can read."),
) -> None:
    """Decrypt an export into a table that `sottovoce analyze` reads; check it is whole and genuine."""
    from ..field.crypto import check_private_key_mode, load_private_key, private_key_is_protected
    from ..field.export import decrypt_jsonl
    from ..io import write_table

    if out.exists() and any(f.exists() and out.resolve() == f.resolve() for f in (export_file, key)):
        raise InputError(f"--out {out}: refusing to overwrite an input file; choose another --out")
    if not allow_readable_key:
        check_private_key_mode(key)
    phrase = _read_passphrase(passphrase_file, ask=True) if private_key_is_protected(key) else None
    sk = load_private_key(key, phrase)
    result = decrypt_jsonl(export_file, sk, with_meta=with_meta, server_id=server_id, study=_study_id(study))
    if result.problems or result.bad:
        what = "; ".join(result.problems)
        if result.bad:
            ids = ", ".join(f"{rid} ({why})" for rid, why in result.bad[:5])
            more = f" and {len(result.bad) - 5} more" if len(result.bad) > 5 else ""
            what += ("; " if what else "") + f"{count_en(len(result.bad), 'record')} not usable: {ids}{more}"
        if not skip_bad:
            raise InputError(f"{export_file}: {what}; pass --skip-bad to write the {count_en(len(result.table), 'good record')}")
        print(f"warning: {export_file}: {what}", file=sys.stderr)
    write_table(result.table, out, protect=[export_file, key])
    print(f"decrypted {count_en(len(result.table), 'submission')} of study '{result.study}' (server id {result.server}) to {out}",
          file=sys.stderr)


def _study_id(study: str | None) -> str | None:
    """``--study`` as a study id, read from the study file when it names one."""
    if study is None or not study.endswith(".toml"):
        return study
    from ..study import load_study

    return load_study(study).id
