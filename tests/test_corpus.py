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
TODAY = date(2026, 1, 1)


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
    assert list(df.columns) == list(CORPUS_COLUMNS)
    pending = pd.read_csv(PENDING, dtype=str, keep_default_na=False)
    assert list(pending.columns) == list(PENDING_COLUMNS)
    # every verified row (corpus + pending) has a citation; the corpus alone feeds the trend
    assert (pending["citation_url"].str.startswith("http")).all() and not set(df["id"]) & set(pending["id"])
    # every row cites a page; every wording in use is in the table
    assert (df["citation_url"].str.startswith("http")).all()
    assert set(df["wording"]) <= set(pd.read_csv(WORDINGS)["wording_id"])


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
def _set(i, col, value):
    def edit(rows):
        rows[i][col] = value
    return edit


BROKEN = [
    ("shares above 100", _set(0, "no", "40"), "add up to 114%"),
    ("split does not add up", _set(1, "support_rather", "20"), "is not definitely 46% + rather 20%"),
    ("half a split", _set(1, "support_rather", ""), "only one part of the support split"),
    ("share not a number", _set(0, "yes", "74%"), "'74%' is not a number"),
    ("share out of range", _set(0, "no", "-3"), "outside 0-100"),
    ("missing yes", _set(0, "yes", ""), "every row needs the published support share"),
    ("bad start date", _set(0, "start", "21.04.2022"), "'21.04.2022' is not a date; write the fieldwork start"),
    ("impossible date", _set(0, "end", "2022-02-30"), "'2022-02-30' is not a date"),
    ("end before start", _set(0, "end", "2022-04-01"), "fieldwork ends (2022-04-01) before it starts (2022-04-21)"),
    ("end in the future", _set(0, "end", "2027-04-27"), "is in the future"),
    ("n zero", _set(0, "n", "0"), "'0' must be a whole number of respondents"),
    ("n fractional", _set(0, "n", "1616.5"), "'1616.5' must be a whole number"),
    ("n missing", _set(0, "n", ""), "'' must be a whole number"),
    ("unknown wording", _set(0, "wording", "levada-support"), "'levada-support' is not in the wordings table"),
    ("wording of another pollster", _set(0, "pollster", "FOM"), "belongs to pollster 'Levada Center', not 'FOM'"),
    ("mode misspelt", _set(0, "mode", "face to face"), "'face to face' is not one of face-to-face, phone"),
    ("no citation", _set(0, "citation_url", ""), "every row needs the URL of the page"),
    ("citation not a URL", _set(0, "citation_url", "censor.net/ua/news/3337561"), "is not a web address"),
    ("no title", _set(0, "citation_title", ""), "copy the page's own title"),
    ("bad citation date", _set(0, "citation_date", "28 April 2022"), "write the page's date as YYYY-MM-DD"),
    ("bad citation kind", _set(0, "citation_kind", "news"), "must be 'pollster'"),
    ("dates page not a URL", _set(2, "dates_url", "see Levada"), "give the page that states the fieldwork dates"),
    ("line break in a cell", _set(0, "note", "two\nlines"), "contains a line break"),
    ("bad id", _set(0, "id", "Levada 2022/04"), "is not a plain id"),
    ("implausible moe", _set(0, "moe", "34"), "not plausible as percentage points"),
    ("combined and split non-answers", lambda rows: rows[0].update(hard_to_say="5", hard_to_say_or_refused="7"),
     "either the combined non-answer share or hard_to_say/refused"),
]


@pytest.mark.parametrize(("case", "edit", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_copy_is_caught_with_its_message(tmp_path, case, edit, message):
    found = problems(tmp_path, edit)
    assert any(message in p for p in found), found
    hit = next(p for p in found if message in p)
    assert "war-support.csv line " in hit and "column '" in hit  # file, line and column named


def test_message_names_the_editor_line_and_row_id(tmp_path):
    found = problems(tmp_path, _set(2, "n", "many"))
    rid = load(CORPUS)[2]["id"]
    assert found == [f"{tmp_path / 'war-support.csv'} line 4 ({rid}), column 'n': 'many' must be a whole number "
                     "of respondents (at least 1)"]


def test_duplicate_poll_and_duplicate_id(tmp_path):
    def dup(rows):
        twin = dict(rows[0])
        twin["id"] = "levada-2022-04-again"
        rows.append(twin)
        same_id = dict(rows[1])
        same_id["start"], same_id["end"] = "2022-07-01", "2022-07-05"
        rows.append(same_id)
    found = problems(tmp_path, dup)
    assert any("the same poll (Levada Center, levada-support-actions, 2022-04-21 to 2022-04-27) is already on line 2" in p
               for p in found), found
    assert any(f"'{load(CORPUS)[1]['id']}' is already used on line 3" in p for p in found), found


def test_complete_row_that_adds_up_to_too_little(tmp_path):
    # every category the wording reports (support, no, hard to say) given, but 74 + 19 + 2 = 95
    found = problems(tmp_path, _set(0, "hard_to_say", "2"))
    assert any("add up to only 95%" in p for p in found), found
    # 74 + 19 + 7 = 100: fine
    assert problems(tmp_path, _set(0, "hard_to_say", "7")) == []


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
        rows[0]["wording"] = "solo"

    def add_solo(w):
        w.append({**w[0], "wording_id": "solo", "first_use": "2022-04-21", "last_use": "2022-04-21"})
    found = problems(tmp_path, one_row_wording, add_solo)
    assert any("only one corpus row uses this wording" in p and "(solo)" in p for p in found), found


PENDING_BROKEN = [
    ("no reason", lambda rows: rows[0].update(missing=""), "say what keeps this row out of the trend corpus"),
    ("unknown reason", lambda rows: rows[0].update(missing="dates"), "unknown reason(s) dates"),
    ("dates empty but not listed", lambda rows: rows[0].update(missing="n"), "'' is not a date; write the fieldwork start"),
    ("n empty but not listed", lambda rows: rows[0].update(missing="fieldwork_dates"), "'' must be a whole number"),
    ("id used in the corpus too", lambda rows: rows[0].update(id="levada-2022-04"), "'levada-2022-04' is already used on line 2"),
    ("shares above 100 in pending", lambda rows: rows[0].update(no="30"), "add up to 111%"),
    ("bad date still checked", lambda rows: rows[0].update(start="May 2022", missing="n"), "'May 2022' is not a date"),
]


@pytest.mark.parametrize(("case", "pedit", "message"), PENDING_BROKEN, ids=[b[0] for b in PENDING_BROKEN])
def test_broken_pending_file_is_caught(tmp_path, case, pedit, message):
    found = problems(tmp_path, lambda rows: None, pedit=pedit)
    assert any(message in p and "war-support-pending.csv line 2" in p for p in found), found


def test_moving_a_pending_row_into_the_corpus_without_dates_is_caught(tmp_path):
    row = {k: v for k, v in load(PENDING)[0].items() if k != "missing"}
    found = problems(tmp_path, lambda rows: rows.append(row), pedit=lambda rows: rows.pop(0) and None)
    assert any("column 'start': '' is not a date" in p for p in found), found
    assert any("column 'n': '' must be a whole number" in p for p in found), found


def test_validate_corpus_raises_one_error_naming_the_count(tmp_path):
    p, w = broken_copy(tmp_path, lambda rows: [r.update(n="0") for r in rows] and None)
    with pytest.raises(InputError) as exc:
        validate_corpus(p, w, today=TODAY)
    msg = str(exc.value)
    assert msg.startswith(f"{len(load(CORPUS))} problem(s) in the poll corpus") and "check-polls" in msg


def test_cli_check_polls(cli, tmp_path):
    ok = cli("check-polls", CORPUS)
    assert ok.code == 0 and ok.out.startswith("ok: ") and "polls from" in ok.out
    p, w = broken_copy(tmp_path, _set(0, "no", "40"))
    bad = cli("check-polls", p, "--wordings", w)
    assert bad.code == 2 and "add up to 114%" in bad.out
    assert bad.err.startswith("error: 1 problem(s)") and bad.err.count("\n") == 1
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
        r = rows[0]
        for c in ("yes", "no", "hard_to_say", "refused", "support_definitely", "support_rather"):
            r[c] = ""
        for c, v in zip(cols, shares, strict=True):
            r[c] = str(v)
    found = [p for p in problems(tmp, edit) if "line 2 " in p]
    total, k = sum(shares), len(shares)
    over = total > 100 + 0.5 * k
    # the wording reports support, no and hard to say: a row with those three must reach 100 - rounding
    complete = len(shares) >= 3
    under = complete and total < 100 - 0.5 * k
    assert bool(found) == (over or under), (shares, found)
    assert math.isfinite(total)
