"""A cited corpus of published poll figures and the table of the question wordings behind them.

The corpus (``examples/polls/war-support.csv``) is a poll table that ``sottovoce trend`` reads
(see :mod:`sottovoce.dynamics.polls`) with the extra columns a fact-checker needs: the split of
"support" into definitely/rather, the wording id, the margin of error and a citation per row.
The wordings table (``wordings.csv``, next to it) holds each pollster's question text once, with the
answer options it offers, so every pollster × wording gets its own house effect.

:func:`check_corpus` returns every problem it finds, each naming the file, the line (as an editor
shows it: the header is line 1), the row id and the column, and saying how to fix it;
:func:`validate_corpus` raises one :class:`~sottovoce.errors.InputError` if there is any. The
checks are about form and internal consistency (shares add up, dates parse, no poll twice,
citations present); whether a number matches its source is checked by people (see
``examples/polls/VERIFICATION.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .._words import count_en
from ..errors import InputError

__all__ = ["CORPUS_COLUMNS", "PENDING_COLUMNS", "WORDING_COLUMNS", "ANSWER_OPTIONS", "MODES", "Problem", "check_corpus",
           "validate_corpus", "read_wordings", "format_problems"]

# column -> required?
CORPUS_COLUMNS: dict[str, bool] = {
    "id": True, "pollster": True, "wording": True, "start": True, "end": True, "mode": True, "n": True,
    "yes": True, "support_definitely": False, "support_rather": False, "no": False, "hard_to_say": False,
    "refused": False, "hard_to_say_or_refused": False, "deff": False, "moe": False, "response_rate": False,
    "citation_url": True, "citation_title": True, "citation_date": False, "citation_kind": True,
    "dates_url": False, "note": False,
}
WORDING_COLUMNS: dict[str, bool] = {
    "wording_id": True, "pollster": True, "text_original": True, "text_en": True, "options": True,
    "hard_to_say_offered": True, "refused_offered": True, "first_use": True, "last_use": True,
    "source_url": True, "note": False,
}
# Extra column of the pending file: what keeps a row out of the trend corpus (";"-separated).
PENDING_COLUMNS: dict[str, bool] = {**CORPUS_COLUMNS, "missing": True}
MISSING = ("fieldwork_dates", "n", "second_poll")
# Answer categories a wording may report (the ``options`` column, separated by ";").
ANSWER_OPTIONS = ("support", "support_definitely", "support_rather", "no", "no_rather", "no_definitely",
                  "hard_to_say", "refused", "hard_to_say_or_refused")
MODES = ("face-to-face", "phone", "online", "mixed")
CITATION_KINDS = ("pollster", "secondary")
OFFERED = ("yes", "no", "unknown")
_SHARES = ("yes", "no", "hard_to_say", "refused", "hard_to_say_or_refused")
_ROUNDING = 0.5  # every published share is rounded to a whole percent
_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+(/\S*)?$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Problem:
    """One problem in a corpus or wordings file: where it is and how to fix it."""

    file: str
    line: int | None  # line in the file as an editor numbers it (header = 1); None: the whole file
    row_id: str
    column: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        if self.row_id:
            where += f" ({self.row_id})"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


def read_wordings(path: str | Path) -> pd.DataFrame:
    """Read the wordings table as text (no type guessing), one row per wording id."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: wordings file not found; pass the wordings table (wordings.csv next to the corpus)")
    return _read_text_csv(path)


def check_corpus(polls: str | Path, wordings: str | Path | None = None, *,
                 pending: str | Path | None = None, today: date | None = None) -> list[Problem]:
    """Every problem in a cited poll corpus, its pending file and its wordings table (empty: all fine).

    ``wordings`` defaults to ``wordings.csv`` in the corpus's folder, ``pending`` to
    ``<corpus name>-pending.csv`` there if that file exists. ``today`` (default: the current date)
    bounds fieldwork dates from above.
    """
    polls = Path(polls)
    if not polls.exists():
        raise InputError(f"{polls}: corpus file not found")
    wpath = Path(wordings) if wordings is not None else polls.with_name("wordings.csv")
    if pending is None:
        auto = polls.with_name(f"{polls.stem}-pending.csv")
        ppath = auto if auto.exists() else None
    else:
        ppath = Path(pending)
        if not ppath.exists():
            raise InputError(f"{ppath}: pending file not found")
    df = _read_text_csv(polls)
    wdf = read_wordings(wpath)
    pdf = _read_text_csv(ppath) if ppath is not None else None
    today = today or date.today()
    out: list[Problem] = []
    out += _check_columns(str(polls), df, CORPUS_COLUMNS, "corpus")
    out += _check_columns(str(wpath), wdf, WORDING_COLUMNS, "wordings table")
    if pdf is not None:
        out += _check_columns(str(ppath), pdf, PENDING_COLUMNS, "pending file", allow_empty=True)
    if out:  # without the columns the row checks would only repeat the same complaint
        return out
    wording_rows = _check_wordings(str(wpath), wdf, out)
    ids: dict[str, str] = {}
    _check_rows(str(polls), df, wording_rows, today, out, ids=ids)
    if pdf is not None:
        _check_rows(str(ppath), pdf, wording_rows, today, out, pending=True, ids=ids)
    _check_wording_use(str(wpath), wdf, df, pdf, out)
    return out


def validate_corpus(polls: str | Path, wordings: str | Path | None = None, *,
                    today: date | None = None) -> pd.DataFrame:
    """Check a corpus (see :func:`check_corpus`) and return it read as a poll table for the trend.

    Raises one ``InputError`` listing the first problems and how many there are in all.
    """
    problems = check_corpus(polls, wordings, today=today)
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more; `sottovoce check-polls {polls}` lists them all)" if len(problems) > 3 else ""
        raise InputError(f"{count_en(len(problems), 'problem')} in the poll corpus: {shown}{more}")
    from .polls import read_polls

    return read_polls(polls)


# -- helpers ------------------------------------------------------------------------------------
def _read_text_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the file as CSV in UTF-8") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a well-formed CSV ({str(exc).strip()}); check quotes and commas") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty; it needs a header line and rows") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda c: c.str.strip())


def _check_columns(file: str, df: pd.DataFrame, spec: dict[str, bool], what: str,
                   allow_empty: bool = False) -> list[Problem]:
    out = []
    missing = [c for c, req in spec.items() if req and c not in df.columns]
    if missing:
        out.append(Problem(file, None, "", "", f"missing column(s) {', '.join(missing)}; a {what} needs "
                           f"{', '.join(c for c, r in spec.items() if r)} (see examples/polls/README.md)"))
    unknown = [c for c in df.columns if c not in spec]
    if unknown:
        out.append(Problem(file, None, "", "", f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(spec)} "
                           "(a typo in the header? put remarks in 'note')"))
    if len(df) == 0 and not allow_empty:
        out.append(Problem(file, None, "", "", f"the {what} has no rows"))
    return out


def _number(v: str) -> float | None:
    """A published number, or None if the cell is empty; raises ValueError on text."""
    if v == "":
        return None
    x = float(v)
    if not np.isfinite(x):
        raise ValueError(v)
    return x


def _day(v: str) -> date:
    if not _ISO_DAY.match(v):
        raise ValueError(v)
    return date.fromisoformat(v)


def _check_wordings(file: str, wdf: pd.DataFrame, out: list[Problem]) -> dict[str, pd.Series]:
    seen: dict[str, int] = {}
    rows: dict[str, pd.Series] = {}
    for i, r in wdf.iterrows():
        line = int(i) + 2  # type: ignore[call-overload]
        wid = r["wording_id"]

        def bad(col: str, msg: str, line: int = line, wid: str = wid) -> None:
            out.append(Problem(file, line, wid, col, msg))

        _no_newlines(r, bad)
        if not wid:
            bad("wording_id", "empty; give the wording a short id such as 'levada-support-actions'")
            continue
        if not _ID.match(wid):
            bad("wording_id", f"'{wid}' is not a plain id; use lower-case letters, digits, '-', '_' or '.'")
        if wid in seen:
            bad("wording_id", f"'{wid}' is already defined on line {seen[wid]}; each wording once")
            continue
        seen[wid] = line
        rows[wid] = r
        for col in ("pollster", "text_original", "text_en"):
            if not r[col]:
                bad(col, "empty; copy it from the pollster's publication")
        opts = [o.strip() for o in r["options"].split(";") if o.strip()]
        wrong = [o for o in opts if o not in ANSWER_OPTIONS]
        if not opts:
            bad("options", f"empty; list the answer categories the pollster reports, separated by ';' (from {', '.join(ANSWER_OPTIONS)})")
        elif wrong:
            bad("options", f"unknown option(s) {', '.join(wrong)}; use {', '.join(ANSWER_OPTIONS)}")
        for col in ("hard_to_say_offered", "refused_offered"):
            if r[col] not in OFFERED:
                bad(col, f"'{r[col]}' must be yes, no or unknown (unknown: the pollster does not say)")
        if not _URL.match(r["source_url"]):
            bad("source_url", f"'{r['source_url']}' is not a web address (http://... or https://...) of the page quoting the wording")
        for col in ("first_use", "last_use"):
            try:
                if r[col]:
                    _day(r[col])
            except ValueError:
                bad(col, f"'{r[col]}' is not a date; write YYYY-MM-DD (the earliest/latest fieldwork start in the corpus)")
    return rows


def _no_newlines(r: pd.Series, bad) -> None:  # type: ignore[no-untyped-def]
    for col, v in r.items():
        if "\n" in v or "\r" in v:
            bad(str(col), "contains a line break; keep every cell on one line (line numbers in messages rely on it)")


def _check_rows(file: str, df: pd.DataFrame, wordings: dict[str, pd.Series], today: date,
                out: list[Problem], *, pending: bool = False, ids: dict[str, str] | None = None) -> None:
    ids = {} if ids is None else ids  # row id -> "file line N", shared by the corpus and its pending file
    polls: dict[tuple[str, str, str, str], int] = {}
    for i, r in df.iterrows():
        line = int(i) + 2  # type: ignore[call-overload]
        rid = r["id"]

        def bad(col: str, msg: str, line: int = line, rid: str = rid) -> None:
            out.append(Problem(file, line, rid, col, msg))

        _no_newlines(r, bad)
        if not rid:
            bad("id", "empty; give the row a unique id such as 'levada-2023-06'")
        elif not _ID.match(rid):
            bad("id", f"'{rid}' is not a plain id; use lower-case letters, digits, '-', '_' or '.'")
        elif rid in ids:
            bad("id", f"'{rid}' is already used on {ids[rid]}; ids must be unique")
        else:
            ids[rid] = f"line {line}" if not pending else f"line {line} of {Path(file).name}"
        missing: set[str] = set()
        if pending:
            missing = {m.strip() for m in r["missing"].split(";") if m.strip()}
            wrong = sorted(missing - set(MISSING))
            if not missing:
                bad("missing", f"empty; say what keeps this row out of the trend corpus ({', '.join(MISSING)})")
            elif wrong:
                bad("missing", f"unknown reason(s) {', '.join(wrong)}; use {', '.join(MISSING)}")
        if not r["pollster"]:
            bad("pollster", "empty; name the pollster as in the wordings table")
        w = wordings.get(r["wording"])
        if w is None:
            bad("wording", f"'{r['wording']}' is not in the wordings table; add it there or use an existing id")
        elif w["pollster"] != r["pollster"]:
            bad("wording", f"'{r['wording']}' belongs to pollster '{w['pollster']}', not '{r['pollster']}'")
        if r["mode"] not in MODES:
            bad("mode", f"'{r['mode']}' is not one of {', '.join(MODES)}")
        # dates
        days = {}
        for col in ("start", "end"):
            if "fieldwork_dates" in missing and not r[col]:
                continue
            try:
                days[col] = _day(r[col])
            except ValueError:
                bad(col, f"'{r[col]}' is not a date; write the fieldwork {col} as published, YYYY-MM-DD")
        if len(days) == 2:
            if days["end"] < days["start"]:
                bad("end", f"fieldwork ends ({days['end']}) before it starts ({days['start']}); swap or correct the dates")
            if days["end"] > today:
                bad("end", f"fieldwork end {days['end']} is in the future; check the year")
            key = (r["pollster"], r["wording"], r["start"], r["end"])
            if key in polls:
                bad("start", f"the same poll ({r['pollster']}, {r['wording']}, {r['start']} to {r['end']}) is already on "
                    f"line {polls[key]}; keep one row per poll (merge the figures, cite the better page)")
            else:
                polls[key] = line
        # sample size
        try:
            n = _number(r["n"])
            if (n is None and "n" not in missing) or (n is not None and (n < 1 or n != int(n))):
                raise ValueError(r["n"])
        except ValueError:
            bad("n", f"'{r['n']}' must be a whole number of respondents (at least 1)")
        # shares
        vals: dict[str, float | None] = {}
        for col in (*_SHARES, "support_definitely", "support_rather"):
            try:
                vals[col] = _number(r[col]) if col in r.index else None
            except ValueError:
                bad(col, f"'{r[col]}' is not a number; write the share in percent without the % sign (e.g. 19)")
                vals[col] = None
                continue
            v = vals[col]
            if v is not None and not 0 <= v <= 100:
                bad(col, f"{v:g} is outside 0-100; shares are percent of all respondents")
                vals[col] = None
        if vals["yes"] is None and not r["yes"]:
            bad("yes", "empty; every row needs the published support share (definitely + rather when split)")
        _check_share_sums(vals, w, bad)
        for col, lo, hi, unit in (("deff", 0.0, 20.0, "a design effect"), ("moe", 0.0, 15.0, "percentage points (at most 15)"),
                                  ("response_rate", 0.0, 100.0, "a response rate in percent (0-100)")):
            try:
                v = _number(r[col]) if col in r.index else None
            except ValueError:
                bad(col, f"'{r[col]}' is not a number; leave it empty if not published")
                continue
            if v is not None and not lo < v <= hi:
                bad(col, f"{v:g} is not plausible as {unit}; leave it empty if not published")
        # citation
        if not _URL.match(r["citation_url"]):
            bad("citation_url", f"'{r['citation_url']}' is not a web address; every row needs the URL of the page its figures come from")
        if not r["citation_title"]:
            bad("citation_title", "empty; copy the page's own title")
        cdate = r.get("citation_date", "")
        if cdate and not re.match(r"^\d{4}(-\d{2}(-\d{2})?)?$", cdate):
            bad("citation_date", f"'{cdate}' is not a date; write the page's date as YYYY-MM-DD (or YYYY-MM), or leave it empty")
        if r["citation_kind"] not in CITATION_KINDS:
            bad("citation_kind", f"'{r['citation_kind']}' must be 'pollster' (the pollster's own page) or 'secondary' (a page quoting it)")
        dates_url = r.get("dates_url", "")
        if dates_url and not _URL.match(dates_url):
            bad("dates_url", f"'{dates_url}' is not a web address; give the page that states the fieldwork dates, or leave it empty")


def _check_share_sums(vals: dict[str, float | None], w: pd.Series | None, bad) -> None:  # type: ignore[no-untyped-def]
    yes, d, r_ = vals["yes"], vals["support_definitely"], vals["support_rather"]
    if d is not None and r_ is not None and yes is not None and abs(d + r_ - yes) > 2 * _ROUNDING + 1e-9:
        bad("yes", f"support {yes:g}% is not definitely {d:g}% + rather {r_:g}% = {d + r_:g}% within rounding; check the figures")
    if (d is None) != (r_ is None):
        bad("support_definitely" if d is None else "support_rather",
            "only one part of the support split is given; give both (definitely and rather) or neither")
    if vals["hard_to_say_or_refused"] is not None and (vals["hard_to_say"] is not None or vals["refused"] is not None):
        bad("hard_to_say_or_refused", "give either the combined non-answer share or hard_to_say/refused separately, not both")
    given = [vals[c] for c in _SHARES if vals[c] is not None]
    total = float(sum(given))  # type: ignore[arg-type]
    k = len(given)
    if total > 100 + _ROUNDING * k + 1e-9:
        bad("yes", f"the shares add up to {total:g}%, more than 100% beyond rounding; they must be percent of one base")
        return
    if w is None:
        return
    opts = {o.strip() for o in w["options"].split(";")}
    needed = [vals["yes"]]
    if {"no", "no_rather", "no_definitely"} & opts:
        needed.append(vals["no"])
    if vals["hard_to_say_or_refused"] is not None:
        pass  # the combined share stands for every non-answer category the wording reports
    else:
        needed += [vals[c] for c in ("hard_to_say", "refused", "hard_to_say_or_refused") if c in opts]
    complete = all(v is not None for v in needed)
    if complete and total < 100 - _ROUNDING * k - 1e-9:
        bad("yes", f"every category the wording reports is given but they add up to only {total:g}%; "
            "a share is missing or mistyped (or the wording's options in wordings.csv are incomplete)")


def _check_wording_use(file: str, wdf: pd.DataFrame, df: pd.DataFrame, pdf: pd.DataFrame | None,
                       out: list[Problem]) -> None:
    keep = ["wording", "start"]  # optional columns may be absent from either file
    both = df if pdf is None else pd.concat([df[keep], pdf[keep]], ignore_index=True)
    starts = pd.to_datetime(both["start"], errors="coerce", format="%Y-%m-%d")
    for i, r in wdf.iterrows():
        line = int(i) + 2  # type: ignore[call-overload]
        wid = r["wording_id"]
        used = (both["wording"] == wid).to_numpy()
        if not used.any():
            out.append(Problem(file, line, wid, "wording_id", "no row of the corpus or its pending file uses this "
                               "wording; remove it or add its polls"))
            continue
        if (df["wording"] == wid).sum() == 1:
            out.append(Problem(file, line, wid, "wording_id",
                               "only one corpus row uses this wording: the trend cannot separate a house effect from a "
                               "single poll; add another poll with this wording or move the row to the pending file "
                               "(missing = second_poll)"))
        s = starts[used].dropna()
        for col, want in (("first_use", s.min() if len(s) else None), ("last_use", s.max() if len(s) else None)):
            if want is None:
                if r[col]:
                    out.append(Problem(file, line, wid, col, f"'{r[col]}' but no row with this wording has fieldwork "
                                       "dates; leave it empty"))
            elif r[col] != want.date().isoformat():
                out.append(Problem(file, line, wid, col, f"'{r[col]}' but the {'earliest' if col == 'first_use' else 'latest'} "
                                   f"fieldwork start with this wording is {want.date()}; update it"))


def format_problems(problems: Iterable[Problem]) -> str:
    """The problems as lines of text, one per problem."""
    return "\n".join(str(p) for p in problems)
