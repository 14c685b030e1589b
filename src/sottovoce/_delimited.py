"""Delimited text as offices export it: detect the encoding, the separator and the decimal mark.

Russian statistical offices and polling vendors rarely send UTF-8 comma-separated files. Excel's
"CSV" on a Russian Windows is cp1251 and semicolon-separated with decimal commas (``0,75``), its
"Unicode text" is UTF-16 with a byte-order mark and tabs, and LibreOffice adds a UTF-8 BOM. This
module guesses all three from the bytes, says what it guessed, and lets the caller override each.

The encoding comes from a byte-order mark when there is one, then strict UTF-8, then
charset-normalizer limited to the single-byte code pages such files actually use (unrestricted,
it calls a short Cyrillic file cp852 or cp932).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError

# Single-byte code pages that survey exports use: Cyrillic Windows, KOI8-R, DOS, Mac, Western.
_CODEPAGES = ["cp1251", "koi8_r", "cp866", "mac_cyrillic", "cp1252", "iso8859_5"]
_SEPARATORS = ",;\t|"
_NON_ASCII_LINE = re.compile(rb"[^\n]*[\x80-\xff][^\n]*")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class TextFormat:
    """How a delimited file was read; ``detected`` names the parts that were guessed."""

    encoding: str
    sep: str
    decimal: str
    detected: tuple[str, ...] = ()

    def note(self) -> str:
        def mark(part: str) -> str:
            return " (detected)" if part in self.detected else ""

        sep = _SEP_NAMES.get(self.sep, repr(self.sep))
        dec = "decimal comma" if self.decimal == "," else "decimal point"
        return (
            f"encoding {self.encoding}{mark('encoding')}, {sep}-separated{mark('sep')}, "
            f"{dec}{mark('decimal')}"
        )


def read_delimited(
    path: Path,
    *,
    default_sep: str,
    columns: list[str] | None = None,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> tuple[pd.DataFrame, TextFormat]:
    """Read a CSV/TSV/TXT file, detecting whatever the caller did not fix."""
    raw = path.read_bytes()
    detected: list[str] = []
    if encoding is None:
        encoding = detect_encoding(raw)
        detected.append("encoding")
    text = _decode(path, raw, encoding)
    sample = "\n".join(text[:65536].splitlines()[:200])
    if sep is None:
        sep = detect_separator(sample, default_sep)
        detected.append("sep")
    elif sep in ("\\t", "tab"):
        sep = "\t"
    if decimal is None:
        decimal = detect_decimal(sample, sep)
        detected.append("decimal")
    if len(decimal) != 1:
        raise InputError(f"{path}: --decimal must be one character ('.' or ','), not {decimal!r}")
    df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, usecols=columns)
    return df, TextFormat(encoding, sep, decimal, tuple(detected))


def detect_encoding(raw: bytes) -> str:
    """The text encoding of ``raw``: BOM, then UTF-16 by its zero bytes, UTF-8, then a code page."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = raw[:4096]
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:
        # UTF-16 without a BOM: ASCII characters leave a zero byte in every other position.
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Judge the code page on lines that have non-ASCII bytes (bounded, so a large file costs little).
    sample = b"\n".join(m.group(0) for _, m in zip(range(4000), _NON_ASCII_LINE.finditer(raw), strict=False))
    best = from_bytes(sample[:262144] or raw[:262144], cp_isolation=_CODEPAGES).best()
    return best.encoding if best is not None else "cp1251"


def detect_separator(sample: str, default: str) -> str:
    """The field separator: the candidate that splits the lines into the same number (> 1) of fields."""
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        return default
    best, best_score = default, (0.0, 0)
    for cand in _SEPARATORS:
        counts = [len(row) for row in csv.reader(lines, delimiter=cand)]
        width = counts[0]
        if width < 2:
            continue
        consistent = sum(c == width for c in counts) / len(counts)
        score = (consistent, width)
        if score > best_score:
            best, best_score = cand, score
    return best


_COMMA_NUM = r"[+-]?\d+,\d+"
_POINT_NUM = r"[+-]?\d*\.\d+"


def detect_decimal(sample: str, sep: str) -> str:
    """',' when numbers are written ``0,75`` (and never ``0.75``) in fields split by ``sep``."""
    if sep == ",":
        return "."
    cell = "(?:^|{s})\"?({n})\"?(?={s}|$)"
    s = re.escape(sep)
    commas = len(re.findall(cell.format(s=s, n=_COMMA_NUM), sample, flags=re.M))
    points = len(re.findall(cell.format(s=s, n=_POINT_NUM), sample, flags=re.M))
    return "," if commas > 0 and points == 0 else "."


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except LookupError as exc:
        raise InputError(f"{path}: unknown text encoding '{encoding}' (try cp1251, utf-8 or utf-16)") from exc
    except UnicodeDecodeError as exc:
        guess = detect_encoding(raw)
        hint = f"it looks like {guess}: pass --encoding {guess}" if guess != encoding else "check the file"
        raise InputError(
            f"{path}: cannot decode as {encoding} (byte 0x{raw[exc.start]:02x} at position {exc.start}); {hint}, "
            "or leave --encoding out to detect it"
        ) from exc
