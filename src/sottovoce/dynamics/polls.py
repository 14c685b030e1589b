"""Poll tables for the dynamics model: reading, validating and turning polls into observations.

A *poll table* has one row per published poll (or per wave of microdata). Columns, in the CSV
that ``sottovoce trend`` reads (shares in percent, 0–100; dates ISO ``YYYY-MM-DD``):

==============  ========  ======================================================================
column          required  meaning
==============  ========  ======================================================================
pollster        yes       who fielded the poll (Levada, FOM, VCIOM, Chronicles, ...)
start, end      yes       first and last day of fieldwork
n               yes       respondents asked the question (the base of the shares)
yes             yes       reported share giving the counted answer ("support"), percent
no              no        reported share of the opposite answer, percent
hard_to_say     no        "hard to say" / "don't know", percent
refused         no        "don't want to answer" / refusals, percent
wording         no        id of the question wording (house effects are per pollster × wording)
mode            no        phone, face-to-face, online, ... (kept for the record)
deff            no        design effect if published (default 1: simple random sampling)
moe             no        published margin of error, percentage points at a 50% share (95%);
                          used only when ``deff`` is empty: deff = n·(moe/100/1.96)² / 0.25
source          no        citation: URL or title of the publication the figures come from
                          (filled from ``citation_url``/``citation_title`` when empty)
==============  ========  ======================================================================

The cited corpus in ``examples/polls/war-support.csv`` adds columns (``support_definitely``,
``support_rather``, ``hard_to_say_or_refused``, ``citation_*``, ...) that pass through unchanged;
:func:`sottovoce.dynamics.corpus.check_corpus` checks them.

Microdata waves (:class:`Wave`) become rows of the same table with design-based standard errors
from :class:`sottovoce.survey.Survey` (Taylor linearization, Lumley 2010, ch. 2).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["POLL_COLUMNS", "Wave", "read_polls", "read_waves_file", "validate_polls", "wave_to_poll", "poll_observations"]

POLL_COLUMNS = ("pollster", "start", "end", "n", "yes", "no", "hard_to_say", "refused", "wording",
                "mode", "deff", "source")
_REQUIRED = ("pollster", "start", "end", "n", "yes")
_SHARES = ("yes", "no", "hard_to_say", "refused")
# Published shares are rounded to whole percents: each may be off by 0.5 points.
_ROUNDING = 0.5
_Z95 = 1.959963984540054  # normal quantile of a 95% margin of error
SHARE_BASES = ("all", "opinion")


@dataclass(frozen=True)
class Wave:
    """One wave of microdata to be estimated as a poll (design-based SE via ``Survey``).

    ``question`` is the column with the answer codes; ``yes`` the codes counted as the answer of
    interest, ``no`` the opposite answer (default: every other substantive code), ``hard_to_say``
    and ``refused`` the non-substantive codes. ``where`` restricts the wave to a subsample
    (e.g. one arm of a split ballot: ``{"подвыборка_2": 1}``) while keeping the full design.
    """

    data: Any
    question: str
    yes: tuple[Any, ...]
    start: str
    end: str
    pollster: str
    wording: str = ""
    weights: str | None = None
    strata: str | None = None
    psu: str | None = None
    no: tuple[Any, ...] | None = None
    hard_to_say: tuple[Any, ...] = ()
    refused: tuple[Any, ...] = ()
    where: Mapping[str, Any] = field(default_factory=dict)
    mode: str = ""
    source: str = ""
    margins: Any = None
    trim: float | None = None


def wave_to_poll(wave: Wave) -> dict[str, Any]:
    """Estimate one microdata wave as a poll row, with design-based SEs of both share bases."""
    from ..io import read_table, require_columns
    from ..survey import Survey

    where = str(wave.data) if not isinstance(wave.data, pd.DataFrame) else "wave data"
    df = read_table(wave.data) if not isinstance(wave.data, pd.DataFrame) else wave.data
    require_columns(df, [wave.question, wave.weights, wave.strata, wave.psu, *wave.where], where=where)
    svy = Survey(df, weights=wave.weights, strata=wave.strata, psu=wave.psu)
    if wave.margins is not None:
        svy = svy.rake(wave.margins)
        if wave.trim is not None:
            svy = svy.trim(wave.trim, margins=wave.margins)
    in_sub = np.ones(len(df), dtype=bool)
    for col, val in wave.where.items():
        in_sub &= (df[col] == val).to_numpy()
    if not in_sub.any():
        raise InputError(f"{where}: no respondent has {dict(wave.where)}; check the subsample column and code")
    codes = df[wave.question]
    answered = codes.notna().to_numpy() & in_sub & (svy.weights > 0)
    is_yes = codes.isin(list(wave.yes)).to_numpy() & answered
    if wave.no is not None:
        is_no = codes.isin(list(wave.no)).to_numpy() & answered
    else:
        is_no = answered & ~is_yes & ~codes.isin(list(wave.hard_to_say) + list(wave.refused)).to_numpy()
    is_hts = codes.isin(list(wave.hard_to_say)).to_numpy() & answered
    is_ref = codes.isin(list(wave.refused)).to_numpy() & answered
    if not is_yes.any():
        raise InputError(f"{where}: no respondent in column '{wave.question}' gave a 'yes' code {list(wave.yes)}; check the codes")
    w = svy.weights
    tot = float(w[answered].sum())
    p_all = float(w[is_yes].sum()) / tot
    op = is_yes | is_no
    tot_op = float(w[op].sum())
    p_op = float(w[is_yes].sum()) / tot_op
    # Linearization of a ratio of weighted totals: u_i = z_i (y_i - p) / sum(w z); zero outside
    # the subsample so the variance keeps the full design (domain estimation).
    u = np.column_stack([
        answered * (is_yes - p_all) / tot,
        op * (is_yes - p_op) / tot_op,
    ]).astype(float)
    var = np.diag(svy.cov_total(u))
    n = int(answered.sum())
    pct = lambda m: 100.0 * float(w[m].sum()) / tot  # noqa: E731
    srs = p_all * (1 - p_all) / n
    return {
        "pollster": wave.pollster, "wording": wave.wording, "mode": wave.mode,
        "start": wave.start, "end": wave.end, "n": n,
        "yes": 100 * p_all, "no": pct(is_no), "hard_to_say": pct(is_hts) if wave.hard_to_say else np.nan,
        "refused": pct(is_ref) if wave.refused else np.nan,
        "deff": float(var[0] / srs) if srs > 0 else 1.0,
        "source": wave.source or where,
        "se_all": float(math.sqrt(var[0])), "se_opinion": float(math.sqrt(var[1])),
    }


def validate_polls(polls: pd.DataFrame, where: str = "polls") -> pd.DataFrame:
    """Check and normalise a poll table; one-line ``InputError`` naming the row and the fix."""
    names = [str(c).strip() for c in polls.columns]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(missing)}; a poll table needs {', '.join(_REQUIRED)} "
                         f"(optional: no, hard_to_say, refused, wording, mode, deff, source)")
    if len(polls) == 0:
        raise InputError(f"{where}: no polls")
    # The columns are checked and normalised as separate Series and assembled once at the end:
    # per-column DataFrame indexing and assignment would dominate a fit of a thousand polls.
    cols: dict[str, pd.Series] = {c: polls.iloc[:, k].reset_index(drop=True) for k, c in enumerate(names)}
    m = len(polls)
    for c in ("no", "hard_to_say", "refused", "deff", "se_all", "se_opinion"):
        if c not in cols:
            cols[c] = pd.Series(np.full(m, np.nan))
    for c in ("wording", "mode", "source"):
        if c not in cols:
            cols[c] = pd.Series(pd.array([""] * m, dtype="str"))
        else:
            cols[c] = cols[c].astype(object).where(cols[c].notna(), "").astype(str).str.strip()
    rows = lambda mask: np.flatnonzero(np.asarray(mask))  # noqa: E731

    def who(i: int) -> str:
        return f"{where} row {i + 1} ({cols['pollster'].iloc[i]}, {cols['start'].iloc[i]})"

    pollster = cols["pollster"].astype("string").str.strip()
    bad = rows(pollster.isna() | (pollster == ""))
    if len(bad):
        raise InputError(f"{where} row {bad[0] + 1}: pollster is empty; name the pollster")
    cols["pollster"] = pollster.astype(str)
    for c in ("start", "end"):
        parsed = _dates(cols[c])
        bad = rows(parsed.isna())
        if len(bad):
            raise InputError(f"{who(bad[0])}: {c} date '{cols[c].iloc[bad[0]]}' is missing or not a date; write it as YYYY-MM-DD")
        cols[c] = parsed.dt.normalize()
    bad = rows(cols["end"] < cols["start"])
    if len(bad):
        i = bad[0]
        raise InputError(f"{who(i)}: fieldwork end {cols['end'].iloc[i].date()} precedes start {cols['start'].iloc[i].date()}; swap or correct the dates")
    n = pd.to_numeric(cols["n"], errors="coerce")
    bad = rows(n.isna() | (n < 1))
    if len(bad):
        raise InputError(f"{who(bad[0])}: sample size n = '{cols['n'].iloc[bad[0]]}' is missing or below 1; give the number of respondents asked")
    cols["n"] = n.astype(float)
    shares = np.empty((m, len(_SHARES)))
    for k, c in enumerate(_SHARES):
        raw = cols[c]
        num = raw.astype(float) if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
        v = num.to_numpy(float)
        cand = rows(np.isnan(v) & raw.notna().to_numpy())  # only these can be non-numeric text
        nonnum = cand[(raw.iloc[cand].astype(str).str.strip() != "").to_numpy()] if len(cand) else cand
        if len(nonnum):
            raise InputError(f"{who(nonnum[0])}: {c} = '{raw.iloc[nonnum[0]]}' is not a number; give shares in percent (0-100)")
        bad = rows((v < 0) | (v > 100 + _ROUNDING))
        if len(bad):
            raise InputError(f"{who(bad[0])}: {c} = {v[bad[0]]:g}% is outside 0-100; give shares in percent")
        shares[:, k] = v
        cols[c] = pd.Series(v)
    bad = rows(np.isnan(shares[:, 0]))
    if len(bad):
        raise InputError(f"{who(bad[0])}: the 'yes' share is missing; every poll needs its reported share")
    reported = (~np.isnan(shares)).sum(axis=1)
    total = np.nansum(shares, axis=1)
    bad = rows(total > 100 + _ROUNDING * reported)
    if len(bad):
        i = bad[0]
        raise InputError(f"{who(i)}: the shares add up to {total[i]:g}%, above 100% beyond rounding; check the figures (they must be percent of one base)")
    deff = pd.to_numeric(cols["deff"], errors="coerce").to_numpy(float)
    bad = rows(~np.isnan(deff) & (deff <= 0))
    if len(bad):
        raise InputError(f"{who(bad[0])}: design effect deff = {deff[bad[0]]:g} must be positive; leave it empty if not published")
    if "moe" in cols:
        moe = pd.to_numeric(cols["moe"], errors="coerce").to_numpy(float)
        bad = rows(~np.isnan(moe) & ((moe <= 0) | (moe > 50)))
        if len(bad):
            raise InputError(f"{who(bad[0])}: margin of error moe = {moe[bad[0]]:g} must be in percentage points "
                             "(0-50) at a 50% share; leave it empty if not published")
        # A published margin of error at p = 0.5 implies the pollster's own variance: moe = z·sqrt(deff·0.25/n).
        implied = cols["n"].to_numpy(float) * (moe / 100 / _Z95) ** 2 / 0.25
        deff = np.where(np.isnan(deff), implied, deff)
    cols["deff"] = pd.Series(np.where(np.isnan(deff), 1.0, deff))
    if "citation_url" in cols:
        title = cols.get("citation_title", pd.Series([""] * m))
        cite = [" — ".join(str(v).strip() for v in pair if isinstance(v, str) and v.strip())
                for pair in zip(title, cols["citation_url"], strict=True)]
        cols["source"] = cols["source"].where(cols["source"] != "", pd.Series(cite, dtype=str))
    return pd.DataFrame(cols)


def _dates(col: pd.Series) -> pd.Series:
    """Parse a date column: fast path for real dates and uniform ISO strings, then per-value."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    parsed = pd.to_datetime(col, errors="coerce", format="ISO8601")
    retry = parsed.isna() & col.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(col[retry], errors="coerce", format="mixed")
    return parsed


def poll_observations(polls: pd.DataFrame, base: str = "all") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed share, its sampling variance and effective sample size for each poll.

    ``base="all"``: the share of all respondents giving the counted answer (hard-to-say and
    refusals in the denominator, as pollsters publish it). ``base="opinion"``: the share among
    respondents with an opinion, yes / (yes + no); the sample size shrinks to n·(yes + no).
    Variance: ``deff · y(1 - y) / n`` (y kept at least 1/(2n) from 0 and 1 so that a poll
    reporting 0% or 100% does not get infinite precision), or the design-based SE of a microdata
    wave when known.
    """
    if base not in SHARE_BASES:
        raise InputError(f"share base '{base}' is unknown; use 'all' (share of all respondents) or 'opinion' (of those with an opinion)")
    yes = polls["yes"].to_numpy(float) / 100
    n = polls["n"].to_numpy(float)
    if base == "all":
        y = yes
        se = polls["se_all"].to_numpy(float)
    else:
        no = polls["no"].to_numpy(float) / 100
        if np.isnan(no).any():
            i = int(np.argmax(np.isnan(no)))
            raise InputError(f"poll {i + 1} ({polls['pollster'].iloc[i]}, {polls['start'].iloc[i].date()}) has no 'no' share; "
                             "the opinion base (yes / (yes + no)) needs it, or use the base of all respondents")
        op = yes + no
        if (op <= 0).any():
            i = int(np.argmax(op <= 0))
            raise InputError(f"poll {i + 1} ({polls['pollster'].iloc[i]}): yes + no is 0%; it cannot give a share among those with an opinion")
        y = yes / op
        n = n * np.minimum(op, 1.0)
        se = polls["se_opinion"].to_numpy(float)
    deff = polls["deff"].to_numpy(float)
    yc = np.clip(y, 0.5 / n, 1 - 0.5 / n)
    var = np.where(np.isfinite(se), se**2, deff * yc * (1 - yc) / n)
    neff = yc * (1 - yc) / var
    return y, var, neff


# -- reading files ------------------------------------------------------------------------------
def read_polls(paths: str | Path | Sequence[str | Path] | pd.DataFrame, waves: Iterable[Wave] = ()) -> pd.DataFrame:
    """Read and validate polls from CSV/TSV/XLSX tables, waves files and microdata waves.

    A TOML file here is a list of waves (``[[wave]]`` tables with the fields of :class:`Wave`,
    ``data`` relative to the file). Study files and published-poll audit files are other
    formats, read at the edge by :func:`sottovoce.trend_sources.read_poll_files` (which
    ``sottovoce trend`` and the ``[trend]`` step of ``analyze`` use) and handed in as a poll table.
    """
    frames: list[pd.DataFrame] = []
    if isinstance(paths, pd.DataFrame):
        frames.append(validate_polls(paths, "polls"))
        paths = []
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError(f"{path}: file not found")
        if path.suffix.lower() == ".toml":
            frames.append(validate_polls(pd.DataFrame(read_waves_file(path)), str(path)))
        else:
            from ..io import read_table

            frames.append(validate_polls(read_table(path), str(path)))
    wave_rows = [wave_to_poll(w) for w in waves]
    if wave_rows:
        frames.append(validate_polls(pd.DataFrame(wave_rows), "waves"))
    if not frames:
        raise InputError("no polls given; pass a polls CSV, a waves/study/poll TOML file, or microdata waves")
    return pd.concat(frames, ignore_index=True)


def read_waves_file(path: Path) -> list[dict[str, Any]]:
    """The poll rows of a waves file (``[[wave]]`` tables), one per wave."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    if "wave" not in doc:
        raise InputError(f"{path}: not a waves file ([[wave]] tables); a study file or a published-poll file is read with "
                         "sottovoce.trend_sources.read_poll_files (as `sottovoce trend` does) and passed to fit_trend as a poll table")
    return [wave_to_poll(_wave_from_toml(path, i, w)) for i, w in enumerate(doc["wave"])]


_WAVE_KEYS = {"data", "question", "yes", "start", "end", "pollster", "wording", "weights", "strata",
              "psu", "no", "hard_to_say", "refused", "where", "mode", "source", "margins", "trim"}


def _wave_from_toml(path: Path, i: int, w: Mapping[str, Any]) -> Wave:
    where = f"{path} [[wave]] {i + 1}"
    unknown = set(w) - _WAVE_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_WAVE_KEYS))}")
    for k in ("data", "question", "yes", "start", "end", "pollster"):
        if k not in w:
            raise InputError(f"{where}: missing key '{k}'")
    codes = lambda v: tuple(v) if isinstance(v, list) else (v,)  # noqa: E731
    data = Path(w["data"])
    if not data.is_absolute():
        data = path.parent / data
    return Wave(
        data=data, question=w["question"], yes=codes(w["yes"]), start=str(w["start"]), end=str(w["end"]),
        pollster=str(w["pollster"]), wording=str(w.get("wording", "")), weights=w.get("weights"),
        strata=w.get("strata"), psu=w.get("psu"), no=codes(w["no"]) if "no" in w else None,
        hard_to_say=codes(w.get("hard_to_say", [])), refused=codes(w.get("refused", [])),
        where=dict(w.get("where", {})), mode=str(w.get("mode", "")), source=str(w.get("source", "")),
        margins=_relative(path, w["margins"]) if isinstance(w.get("margins"), str) else w.get("margins"),
        trim=w.get("trim"),
    )


def _relative(path: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else path.parent / p
