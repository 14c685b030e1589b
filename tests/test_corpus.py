"""The cited war-support corpus: the shipped files pass the validator, broken copies are caught with a
message a journalist can act on, and ``sottovoce trend`` reads the corpus from a fresh clone."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.dynamics import read_polls
from sottovoce.dynamics.corpus import CORPUS_COLUMNS, PENDING_COLUMNS, check_corpus, validate_corpus
from sottovoce.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
POLLS = ROOT / "examples" / "polls"
CORPUS = POLLS / "war-support.csv"
PENDING = POLLS / "war-support-pending.csv"
WORDINGS = POLLS / "wordings.csv"
TODAY = date(2026, 12, 1)  # after the latest fieldwork in the shipped corpus (VCIOM, 25 January 2026)


def load(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def dump(path: Path, rows: list[dict[str, str]], fields: list[str] | None = None) -> Path:
    fields = fields or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


def broken_copy(tmp_path: Path, edit, wedit=None, pedit=None) -> tuple[Path, Path]:
    """Copy the shipped corpus, pending file and wordings into tmp_path; apply the edits to copies."""
    out = []
    for src, name, fn in ((CORPUS, "war-support.csv", edit), (WORDINGS, "wordings.csv", wedit),
                          (PENDING, "war-support-pending.csv", pedit)):
        rows = load(src)
        fields = list(rows[0])
        if fn is not None:
            rows = fn(rows) or rows
        same = all(set(r) == set(fields) for r in rows)
        out.append(dump(tmp_path / name, rows, fields if same else None))
    return out[0], out[1]


def problems(tmp_path, edit, wedit=None, pedit=None) -> list[str]:
    p, w = broken_copy(tmp_path, edit, wedit, pedit)
    return [str(x) for x in check_corpus(p, w, today=TODAY)]


# -- the shipped corpus ---------------------------------------------------------------------------
def test_shipped_corpus_passes_every_check():
    assert check_corpus(CORPUS, today=date.today()) == []  # finds war-support-pending.csv by itself
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    # every column the files have is a documented one, in the documented order (optional columns
    # such as response_rate may be absent)
    assert list(df.columns) == [c for c in CORPUS_COLUMNS if c in df.columns]
    assert {c for c, req in CORPUS_COLUMNS.items() if req} <= set(df.columns)
    pending = pd.read_csv(PENDING, dtype=str, keep_default_na=False)
    assert list(pending.columns) == [c for c in PENDING_COLUMNS if c in pending.columns]
    # every verified row (corpus + pending) has a citation; the corpus alone feeds the trend
    assert (pending["citation_url"].str.startswith("http")).all() and not set(df["id"]) & set(pending["id"])
    # every row cites a page; every wording in use is in the table
    assert (df["citation_url"].str.startswith("http")).all()
    assert set(df["wording"]) <= set(pd.read_csv(WORDINGS)["wording_id"])


def test_shipped_corpus_does_not_shrink():
    """Lower bounds, not exact counts: the corpus may grow, but rows and pollsters must not silently vanish."""
    df = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    pending = pd.read_csv(PENDING, dtype=str, keep_default_na=False)
    assert len(df) >= 38 and len(pending) >= 33
    assert df["pollster"].nunique() >= 4
    assert set(pending["pollster"]) | set(df["pollster"]) >= {"Levada Center", "Chronicles", "FOM", "VCIOM", "Russian Field"}
    # every pollster x wording in the trend file has at least two dated polls (the checker enforces it too)
    assert df.groupby(["pollster", "wording"]).size().min() >= 2


def test_shipped_corpus_reads_as_a_poll_table():
    polls = validate_corpus(CORPUS)
    assert len(polls) == len(load(CORPUS))
    # a published margin of error becomes the pollster's implied design effect: Levada's 3.4 points
    # at n = 1616 means deff = 1616 * (0.034 / 1.96)^2 / 0.25 = 1.945
    apr = polls[polls["start"] == pd.Timestamp("2022-04-21")].iloc[0]
    assert apr["deff"] == pytest.approx(1616 * (0.034 / 1.959963984540054) ** 2 / 0.25, rel=1e-12)
    assert apr["source"].endswith(apr["citation_url"]) and apr["citation_title"] in apr["source"]
    no_moe = polls[polls["moe"].isna() & polls["deff"].notna()]
    assert (no_moe["deff"] == 1.0).all()


def test_trend_on_the_corpus_from_a_fresh_clone(cli):
    """`sottovoce trend examples/polls/war-support.csv` needs nothing outside the repository."""
    r = cli("trend", CORPUS, "--json")
    assert r.code == 0, r.err
    out = r.json()
    low, high = out["ci"]
    assert 0.0 <= low <= out["estimate"] <= high <= 1.0
    assert out["n_polls"] == len(load(CORPUS))
    assert all(p["source"].startswith(("(", "http")) or "http" in p["source"] for p in out["polls"])
    text = cli("trend", CORPUS)
    assert text.code == 0 and "latest" in text.out


def test_old_poll_tables_still_read_unchanged():
    polls = read_polls(POLLS / "published-polls.csv")
    assert (polls["deff"] == 1.0).all() and "censor.net" in polls["source"].iloc[0]


# -- broken copies: each caught, with where and how to fix ---------------------------------------
# Broken copies edit fixed anchor rows found by id, so the corpus can grow and be re-sorted.
APRIL, AUGUST, SEPTEMBER = "levada-2022-04", "levada-2022-08", "levada-2022-09"


def _at(rows, rid):
    return next(i for i, r in enumerate(rows) if r["id"] == rid)


def line_of(path: Path, rid: str) -> int:
    """The editor line of row ``rid`` (header = line 1)."""
    return _at(load(path), rid) + 2


def _set(rid, col, value):
    def edit(rows):
        rows[_at(rows, rid)][col] = value
    return edit


BROKEN = [
    ("shares above 100", _set(APRIL, "no", "40"), "add up to 114%"),
    ("split does not add up", _set(AUGUST, "support_rather", "20"), "is not definitely 46% + rather 20%"),
    ("half a split", _set(AUGUST, "support_rather", ""), "only one part of the support split"),
    ("share not a number", _set(APRIL, "yes", "74%"), "'74%' is not a number"),
    ("share out of range", _set(APRIL, "no", "-3"), "outside 0-100"),
    ("missing yes", _set(APRIL, "yes", ""), "every row needs the published support share"),
    ("bad start date", _set(APRIL, "start", "21.04.2022"), "'21.04.2022' is not a date; write the fieldwork start"),
    ("impossible date", _set(APRIL, "end", "2022-02-30"), "'2022-02-30' is not a date"),
    ("end before start", _set(APRIL, "end", "2022-04-01"), "fieldwork ends (2022-04-01) before it starts (2022-04-21)"),
    ("end in the future", _set(APRIL, "end", "2027-04-27"), "is in the future"),
    ("n zero", _set(APRIL, "n", "0"), "'0' must be a whole number of respondents"),
    ("n fractional", _set(APRIL, "n", "1616.5"), "'1616.5' must be a whole number"),
    ("n missing", _set(APRIL, "n", ""), "'' must be a whole number"),
    ("unknown wording", _set(APRIL, "wording", "levada-support"), "'levada-support' is not in the wordings table"),
    ("wording of another pollster", _set(APRIL, "pollster", "FOM"), "belongs to pollster 'Levada Center', not 'FOM'"),
    ("mode misspelt", _set(APRIL, "mode", "face to face"), "'face to face' is not one of face-to-face, phone"),
    ("no citation", _set(APRIL, "citation_url", ""), "every row needs the URL of the page"),
    ("citation not a URL", _set(APRIL, "citation_url", "censor.net/ua/news/3337561"), "is not a web address"),
    ("no title", _set(APRIL, "citation_title", ""), "copy the page's own title"),
    ("bad citation date", _set(APRIL, "citation_date", "28 April 2022"), "write the page's date as YYYY-MM-DD"),
    ("bad citation kind", _set(APRIL, "citation_kind", "news"), "must be 'pollster'"),
    ("dates page not a URL", _set(SEPTEMBER, "dates_url", "see Levada"), "give the page that states the fieldwork dates"),
    ("line break in a cell", _set(APRIL, "note", "two\nlines"), "contains a line break"),
    ("bad id", _set(APRIL, "id", "Levada 2022/04"), "is not a plain id"),
    ("implausible moe", _set(APRIL, "moe", "34"), "not plausible as percentage points"),
    ("combined and split non-answers", lambda rows: rows[_at(rows, APRIL)].update(hard_to_say="5", hard_to_say_or_refused="7"),
     "either the combined non-answer share or hard_to_say/refused"),
]


@pytest.mark.parametrize(("case", "edit", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_copy_is_caught_with_its_message(tmp_path, case, edit, message):
    found = problems(tmp_path, edit)
    assert any(message in p for p in found), found
    hit = next(p for p in found if message in p)
    assert "war-support.csv line " in hit and "column '" in hit  # file, line and column named


def test_message_names_the_editor_line_and_row_id(tmp_path):
    found = problems(tmp_path, _set(SEPTEMBER, "n", "many"))
    line = line_of(CORPUS, SEPTEMBER)
    assert found == [f"{tmp_path / 'war-support.csv'} line {line} ({SEPTEMBER}), column 'n': 'many' must be a whole "
                     "number of respondents (at least 1)"]


def test_duplicate_poll_and_duplicate_id(tmp_path):
    def dup(rows):
        twin = dict(rows[_at(rows, APRIL)])
        twin["id"] = "levada-2022-04-again"
        rows.append(twin)
        same_id = dict(rows[_at(rows, AUGUST)])
        same_id["start"], same_id["end"] = "2022-07-01", "2022-07-05"
        rows.append(same_id)
    found = problems(tmp_path, dup)
    assert any("the same poll (Levada Center, levada-support-actions, 2022-04-21 to 2022-04-27) is already on "
               f"line {line_of(CORPUS, APRIL)}" in p for p in found), found
    assert any(f"'{AUGUST}' is already used on line {line_of(CORPUS, AUGUST)}" in p for p in found), found


def test_complete_row_that_adds_up_to_too_little(tmp_path):
    # every category the wording reports (support, no, hard to say) given, but 74 + 19 + 2 = 95
    found = problems(tmp_path, _set(APRIL, "hard_to_say", "2"))
    assert any("add up to only 95%" in p for p in found), found
    # 74 + 19 + 7 = 100: fine
    assert problems(tmp_path, _set(APRIL, "hard_to_say", "7")) == []


def test_columns_missing_or_unknown(tmp_path):
    p, w = broken_copy(tmp_path, lambda rows: [{("nn" if k == "n" else k): v for k, v in r.items()} for r in rows])
    found = [str(x) for x in check_corpus(p, w, today=TODAY)]
    assert any("missing column(s) n" in x for x in found) and any("unknown column(s) nn" in x for x in found)


WORDING_BROKEN = [
    ("unused wording", lambda w: w.append({**w[0], "wording_id": "spare"}), "no row of the corpus or its pending file uses"),
    ("first use out of date", lambda w: w[0].update(first_use="2022-03-01"), "earliest fieldwork start with this wording is"),
    ("bad option", lambda w: w[0].update(options="support;maybe"), "unknown option(s) maybe"),
    ("bad offered flag", lambda w: w[0].update(hard_to_say_offered="sometimes"), "must be yes, no or unknown"),
    ("no source", lambda w: w[0].update(source_url=""), "is not a web address"),
    ("duplicate wording id", lambda w: w.append(dict(w[0])), "is already defined on line 2"),
    ("empty English text", lambda w: w[0].update(text_en=""), "empty; copy it from the pollster's publication"),
]


@pytest.mark.parametrize(("case", "wedit", "message"), WORDING_BROKEN, ids=[b[0] for b in WORDING_BROKEN])
def test_broken_wordings_table_is_caught(tmp_path, case, wedit, message):
    found = problems(tmp_path, lambda rows: None, wedit)
    assert any(message in p and "wordings.csv" in p for p in found), found


def test_single_poll_wording_is_flagged_for_the_trend(tmp_path):
    def one_row_wording(rows):
        rows[_at(rows, APRIL)]["wording"] = "solo"

    def add_solo(w):
        w.append({**w[0], "wording_id": "solo", "first_use": "2022-04-21", "last_use": "2022-04-21"})
    found = problems(tmp_path, one_row_wording, add_solo)
    assert any("only one corpus row uses this wording" in p and "(solo)" in p for p in found), found


# Pending tests edit the first pending row that lacks both fieldwork dates and n.
PENDING_ROW = next(r for r in load(PENDING) if not r["start"] and not r["n"] and r["yes"])
PENDING_LINE = line_of(PENDING, PENDING_ROW["id"])
_PENDING_OTHER = sum(float(PENDING_ROW[c]) for c in ("yes", "hard_to_say", "refused", "hard_to_say_or_refused")
                     if PENDING_ROW[c])
_PENDING_OVER = f"{_PENDING_OTHER + 30:g}"


def _pset(**kw):
    def edit(rows):
        rows[_at(rows, PENDING_ROW["id"])].update(**kw)
    return edit


PENDING_BROKEN = [
    ("no reason", _pset(missing=""), "say what keeps this row out of the trend corpus"),
    ("unknown reason", _pset(missing="dates"), "unknown reason(s) dates"),
    ("dates empty but not listed", _pset(missing="n"), "'' is not a date; write the fieldwork start"),
    ("n empty but not listed", _pset(missing="fieldwork_dates"), "'' must be a whole number"),
    ("id used in the corpus too", _pset(id=APRIL), f"'{APRIL}' is already used on line {line_of(CORPUS, APRIL)}"),
    ("shares above 100 in pending", _pset(no="30"), f"add up to {_PENDING_OVER}%"),
    ("bad date still checked", _pset(start="May 2022", missing="n"), "'May 2022' is not a date"),
]


@pytest.mark.parametrize(("case", "pedit", "message"), PENDING_BROKEN, ids=[b[0] for b in PENDING_BROKEN])
def test_broken_pending_file_is_caught(tmp_path, case, pedit, message):
    found = problems(tmp_path, lambda rows: None, pedit=pedit)
    assert any(message in p and f"war-support-pending.csv line {PENDING_LINE}" in p for p in found), found


def test_moving_a_pending_row_into_the_corpus_without_dates_is_caught(tmp_path):
    row = {k: v for k, v in PENDING_ROW.items() if k != "missing"}
    found = problems(tmp_path, lambda rows: rows.append(row),
                     pedit=lambda rows: rows.pop(_at(rows, PENDING_ROW["id"])) and None)
    assert any("column 'start': '' is not a date" in p for p in found), found
    assert any("column 'n': '' must be a whole number" in p for p in found), found


def test_validate_corpus_raises_one_error_naming_the_count(tmp_path):
    p, w = broken_copy(tmp_path, lambda rows: [r.update(n="0") for r in rows] and None)
    with pytest.raises(InputError) as exc:
        validate_corpus(p, w, today=TODAY)
    msg = str(exc.value)
    assert msg.startswith(f"{len(load(CORPUS))} problems in the poll corpus") and "check-polls" in msg


def test_cli_check_polls(cli, tmp_path):
    ok = cli("check-polls", CORPUS)
    assert ok.code == 0 and ok.out.startswith("ok: ") and "polls from" in ok.out
    p, w = broken_copy(tmp_path, _set(APRIL, "no", "40"))
    bad = cli("check-polls", p, "--wordings", w)
    assert bad.code == 2 and "add up to 114%" in bad.out
    assert bad.err.startswith("error: 1 problem in ") and bad.err.count("\n") == 1
    missing = cli("check-polls", tmp_path / "nope.csv")
    assert missing.code == 2 and "not found" in missing.err


def test_reader_moe_and_citation_columns(tmp_path):
    df = pd.DataFrame({"pollster": ["A", "A", "B"], "start": ["2022-03-01"] * 3, "end": ["2022-03-02"] * 3,
                       "n": [1600, 1600, 2000], "yes": [70, 72, 60], "moe": [3.4, None, 2.19], "deff": [None, None, 1.5],
                       "citation_url": ["https://a.example/1", "https://a.example/2", "https://b.example/x"],
                       "citation_title": ["Poll A", "", "Poll B"]})
    polls = read_polls(df)
    assert polls["deff"].tolist() == pytest.approx([1600 * (0.034 / 1.959963984540054) ** 2 / 0.25, 1.0, 1.5])
    assert polls["source"].tolist() == ["Poll A — https://a.example/1", "https://a.example/2", "Poll B — https://b.example/x"]
    with pytest.raises(InputError, match="margin of error moe = 0 must be in percentage points"):
        read_polls(df.assign(moe=[0, None, None]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=2, max_size=4))
def test_sum_rule_matches_rounding_tolerance(tmp_path_factory, shares):
    """Shares pass iff they add up to at most 100 plus half a point per published share."""
    tmp = tmp_path_factory.mktemp("sum")
    cols = ["yes", "no", "hard_to_say", "refused"][: len(shares)]

    def edit(rows):
        r = rows[_at(rows, APRIL)]
        for c in ("yes", "no", "hard_to_say", "refused", "support_definitely", "support_rather"):
            r[c] = ""
        for c, v in zip(cols, shares, strict=True):
            r[c] = str(v)
    found = [p for p in problems(tmp, edit) if f"line {line_of(CORPUS, APRIL)} " in p]
    total, k = sum(shares), len(shares)
    over = total > 100 + 0.5 * k
    # the wording reports support, no and hard to say: a row with those three must reach 100 - rounding
    complete = len(shares) >= 3
    under = complete and total < 100 - 0.5 * k
    assert bool(found) == (over or under), (shares, found)
    assert math.isfinite(total)
