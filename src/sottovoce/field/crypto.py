"""Study keys and sealed boxes: what makes a seized survey server useless to whoever seizes it.

Each submission is encrypted on arrival with a libsodium *sealed box* (X25519 + XSalsa20-Poly1305,
an ephemeral sender key per message) to the study's public key; only the analyst's private key
opens it. The private key file can be protected with a passphrase: the key is wrapped in a
``SecretBox`` whose key is derived with Argon2id (``crypto_pwhash``, Biryukov, Dinu & Khovratovich
2016, RFC 9106). See the libsodium documentation, "Sealed boxes" and "Password hashing".
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import nacl.exceptions
import nacl.public
import nacl.pwhash
import nacl.secret
import nacl.utils

from ..errors import InputError

__all__ = [
    "PUBLIC_KEY_NAME",
    "PRIVATE_KEY_NAME",
    "new_keypair",
    "load_public_key",
    "load_private_key",
    "private_key_is_protected",
    "seal",
    "unseal",
    "BadCiphertext",
    "MIN_PASSPHRASE",
    "check_passphrase",
    "check_private_key_mode",
]

MIN_PASSPHRASE = 12  # characters; a diceware phrase of four words or more passes

PUBLIC_KEY_NAME = "public.key"
PRIVATE_KEY_NAME = "private.key"
_PUBLIC_TAG = "sottovoce-public-key-v1"
_PRIVATE_TAG = "sottovoce-private-key-v1"


class BadCiphertext(Exception):
    """A record that does not open with the given key (tampered, truncated or sealed to another key)."""


def check_passphrase(passphrase: bytes) -> None:
    """Refuse a passphrase an offline guesser breaks quickly (Argon2id only slows each guess down)."""
    text = passphrase.decode("utf-8", errors="replace")
    if len(text) < MIN_PASSPHRASE or len(set(text)) < 5:
        raise InputError(
            f"the passphrase is too weak ({len(text)} characters, {len(set(text))} different); use at least "
            f"{MIN_PASSPHRASE} characters, e.g. four or more random words, or pass --allow-weak-passphrase"
        )


def check_private_key_mode(path: str | os.PathLike[str]) -> None:
    """Refuse a private key file that other users can read (as ssh does)."""
    p = Path(path)
    mode = p.stat().st_mode & 0o777 if p.is_file() else 0
    if mode & 0o077:
        raise InputError(
            f"{p}: the private key can be read by other users (mode {oct(mode)}); run `chmod 600 {p}`, "
            "or pass --allow-readable-key"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: not valid base64 ({exc}); is this a sottovoce key file?") from None


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no window where it is world-readable); never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise InputError(f"{path}: already exists; keys are never overwritten — choose another --out directory") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)  # the umask may have narrowed it; make the public key readable as intended


def new_keypair(out_dir: str | os.PathLike[str], passphrase: bytes | None = None) -> tuple[Path, Path]:
    """Make the study's X25519 key pair in ``out_dir``: ``public.key`` (0644) and ``private.key`` (0600).

    With ``passphrase`` the private key is wrapped: Argon2id (libsodium's *moderate* limits, stored in
    the file) derives a SecretBox key from the passphrase and a random salt. Returns both paths.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory; give --out a directory for the key pair")
    out.mkdir(parents=True, exist_ok=True)
    pub_path, priv_path = out / PUBLIC_KEY_NAME, out / PRIVATE_KEY_NAME
    for p in (pub_path, priv_path):
        if p.exists():
            raise InputError(f"{p}: already exists; keys are never overwritten — choose another --out directory")
    sk = nacl.public.PrivateKey.generate()
    if passphrase:
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        ops, mem = nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE
        kek = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=ops, memlimit=mem)
        wrapped = nacl.secret.SecretBox(kek).encrypt(bytes(sk))
        body = {"kdf": "argon2id", "salt": _b64(salt), "opslimit": ops, "memlimit": mem, "box": _b64(bytes(wrapped))}
    else:
        body = {"kdf": None, "key": _b64(bytes(sk))}
    priv_text = json.dumps({"type": _PRIVATE_TAG, **body}, indent=1) + "\n"
    pub_text = f"{_PUBLIC_TAG}\n{_b64(bytes(sk.public_key))}\n"
    _write_new(priv_path, priv_text, 0o600)
    _write_new(pub_path, pub_text, 0o644)
    return pub_path, priv_path


def load_public_key(path: str | os.PathLike[str]) -> nacl.public.PublicKey:
    """Read a ``public.key`` written by :func:`new_keypair` (refuses a private key by mistake)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: public key file not found; make one with `sottovoce keys new --out DIR`")
    text = p.read_text(encoding="utf-8", errors="replace")
    if _PRIVATE_TAG in text:
        raise InputError(
            f"{p}: this is the PRIVATE key; the server must only ever get the public key ({PUBLIC_KEY_NAME})"
        )
    lines = text.split()
    if len(lines) != 2 or lines[0] != _PUBLIC_TAG:
        raise InputError(f"{p}: not a sottovoce public key file (expected '{_PUBLIC_TAG}' and a base64 key)")
    raw = _unb64(lines[1], str(p))
    if len(raw) != nacl.public.PublicKey.SIZE:
        raise InputError(f"{p}: the key has {len(raw)} bytes, expected {nacl.public.PublicKey.SIZE}")
    return nacl.public.PublicKey(raw)


def _read_private(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: private key file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{path}: not a sottovoce private key file (is it the public key?)") from None
    if not isinstance(obj, dict) or obj.get("type") != _PRIVATE_TAG:
        raise InputError(f"{path}: not a sottovoce private key file (missing type '{_PRIVATE_TAG}')")
    return obj


def private_key_is_protected(path: str | os.PathLike[str]) -> bool:
    """True when the private key file is wrapped with a passphrase."""
    return _read_private(Path(path)).get("kdf") == "argon2id"


def load_private_key(path: str | os.PathLike[str], passphrase: bytes | None = None) -> nacl.public.PrivateKey:
    """Read (and with ``passphrase`` unwrap) a ``private.key`` written by :func:`new_keypair`."""
    p = Path(path)
    obj = _read_private(p)
    if obj.get("kdf") == "argon2id":
        if not passphrase:
            raise InputError(
                f"{p}: the private key is passphrase-protected; give --passphrase-file FILE or set SOTTOVOCE_PASSPHRASE"
            )
        try:
            salt = _unb64(obj["salt"], str(p))
            kek = nacl.pwhash.argon2id.kdf(
                nacl.secret.SecretBox.KEY_SIZE, passphrase, salt,
                opslimit=int(obj["opslimit"]), memlimit=int(obj["memlimit"]),
            )
            raw = nacl.secret.SecretBox(kek).decrypt(_unb64(obj["box"], str(p)))
        except nacl.exceptions.CryptoError:
            raise InputError(f"{p}: wrong passphrase for the private key (or the key file is damaged)") from None
        except (KeyError, ValueError, TypeError):
            raise InputError(f"{p}: damaged private key file (bad salt, limits or box)") from None
    elif obj.get("kdf") is None and "key" in obj:
        raw = _unb64(obj["key"], str(p))
    else:
        raise InputError(f"{p}: unknown key protection '{obj.get('kdf')}'")
    if len(raw) != nacl.public.PrivateKey.SIZE:
        raise InputError(f"{p}: the key has {len(raw)} bytes, expected {nacl.public.PrivateKey.SIZE}")
    return nacl.public.PrivateKey(raw)


def seal(public_key: nacl.public.PublicKey, plaintext: bytes) -> bytes:
    """Encrypt to the study key; only the private key's holder can open it (the sender cannot)."""
    return bytes(nacl.public.SealedBox(public_key).encrypt(plaintext))


def unseal(private_key: nacl.public.PrivateKey, ciphertext: bytes) -> bytes:
    """Open a sealed box; raises :class:`BadCiphertext` if it was tampered with or sealed to another key."""
    try:
        return bytes(nacl.public.SealedBox(private_key).decrypt(ciphertext))
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise BadCiphertext(str(exc)) from None
