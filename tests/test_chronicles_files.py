"""Every file of the real Chronicles series (../shared/data/chronicles) loads or is refused in one
line, and ``describe --find`` finds the war-support question in every wave file.

The waves came from several vendors: SPSS files with Cyrillic labels, a legacy .xls, .xlsx files
of bare codes (their labels come from the questionnaires, in examples/chronicles-series/codebooks)
or of text answers, cross-tabulated tables that are not respondent data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CHRONICLES, ROOT
from sottovoce.io import READ_FORMATS

CODEBOOKS = ROOT / "examples" / "chronicles-series" / "codebooks"
# Tables of aggregates, not respondents: refused with one clear line.
AGGREGATES = {"chronicles-09-2023-02-02.xlsx", "chronicles-09-report-charts.xlsx"}

# file, search words, war-support column, its codes (or texts, before a labels file turns them
# into codes), weight column. Codes: 1 support, 2 don't support, then hard to say and refusal.
WAVES = [
    ("chronicles-01-2022-02-28.sav", "поддерживаете военные действия", "Q4", [1, 2, 99], "wes_age_gender_tnp"),
    ("chronicles-02-2022-03-10.sav", "поддерживаете военную операцию", "Q11", [1, 2, 99, 100], "wes_age_gender_tnp"),
    ("chronicles-07a-express-2022-09-21.sav", "поддерживаете военную операцию", "Q5", [1, 2, 99, 100], "wes_age_gender_tnp"),
    ("chronicles-07b-express-2022-09-29.sav", "поддерживаете военную операцию", "Q5", [1, 2, 99, 100], "wes_age_gender_tnp"),
    ("chronicles-08.sav", "поддерживаете военную операцию", "Q16", [1, 2, 99, 100], "wes_age_gender_tnp"),
    ("chronicles-09-2023-02-02.sav", "поддерживаете военную операцию", "Q10", [1, 2, 99, 100], "for_weight"),
    ("chronicles-10-2023-07-04.xls", "поддерживаете военную операцию", "Q10", [1, 2, 99, 100], "вес"),
    ("chronicles-10-2023-07-04-en.xlsx", "support military operation", "Q10", [1, 2, 99, 100], "weight"),
    ("chronicles-11-2023-10-17.xlsx", "да, поддерживаю", "Q13", [1, 2, 99, 100], "weight"),
    ("chronicles-11-2023-10-17-en.xlsx", "I second that", "Q13", [1, 2, 99, 100], "weight"),
    ("chronicles-12-2024-01-23.xlsx", "поддерживаете военную операцию", "Q21", [1, 2, 99, 100], "вес"),
    ("chronicles-12-2024-01-23-en.xlsx", "support military operation", "Q21", [1, 2, 99, 100], "weight"),
    ("chronicles-13-2024-09-10.xlsx", "поддерживаете военную операцию", "Q17", [1, 2, 3, 4], "вес_полн"),
    ("chronicles-13-2024-09-10-en.xlsx", "support military operation", "Q17", [1, 2, 3, 4], "weight_full"),
    ("chronicles-14.xlsx", "поддерживаете военную операцию", "Q22", [1, 2, 3, 4], "weight"),
    ("chronicles-14-en.xlsx", "support military operation", "Q22", [1, 2, 3, 4], "weight"),
    ("chronicles-15-2025-09-26.xlsx", "поддерживаете военную операцию", "Q21", [1, 2, 3, 4], "вес"),
]


def _data_files() -> list[Path]:
    if not CHRONICLES.exists():
        return []
    return sorted(p for p in CHRONICLES.iterdir() if p.suffix.lower() in READ_FORMATS)


@pytest.fixture(scope="module")
def chronicles() -> Path:
    if not CHRONICLES.exists():
        pytest.skip("real data ../shared/data/chronicles not present")
    return CHRONICLES


def _labels(name: str) -> Path | None:
    p = CODEBOOKS / (Path(name).stem + ".toml")
    return p if p.exists() else None


def test_every_wave_file_is_listed(chronicles):
    """The table below covers every respondent file of the folder (a new wave must be added)."""
    listed = {w[0] for w in WAVES} | AGGREGATES | {"chronicles-09-open-answers.xlsx"}
    assert {p.name for p in _data_files()} == listed


@pytest.mark.parametrize("name", [p.name for p in _data_files()] or ["(absent)"])
def test_every_file_loads_or_is_refused_in_one_line(chronicles, cli, name):
    path = chronicles / name
    r = cli("describe", path, "--json")
    if name in AGGREGATES:
        assert r.code == 2 and r.out == ""
        assert r.err.count("\n") == 1 and r.err.startswith(f"error: {path}: sheet ")
        assert "is a table of aggregates, not one row per respondent" in r.err
    else:
        assert r.code == 0, r.err
        book = json.loads(r.out)
        assert book["rows"] > 500 and book["columns"] >= 6
        assert all(e.startswith("note: ") for e in r.err.splitlines())


@pytest.mark.parametrize("name, words, column, codes, weight", WAVES, ids=[w[0] for w in WAVES])
def test_find_the_war_support_question(chronicles, cli, name, words, column, codes, weight):
    labels = _labels(name)
    args = ["describe", chronicles / name, "--find", words, "--weights", weight, "--json"]
    if labels is not None:
        args += ["--labels", labels]
    r = cli(*args)
    assert r.code == 0, r.err
    book = json.loads(r.out)
    found = {v["name"]: v for v in book["variables"]}
    assert column in found, f"{name}: '{words}' found {list(found)}"
    var = found[column]
    present = [v["code"] for v in var["values"] if v["count"] > 0]
    assert sorted(present) == codes
    # Every answer given has a label (from the file or the labels file), and none is left over.
    assert all(v["label"] for v in var["values"]), var["values"]
    assert var["missing"] == 0
    # The weight is what describe offers as the likely weight, and the shares are weighted.
    assert weight in [w["name"] for w in book["likely_weights"]]
    assert sum(v["share"] for v in var["values"]) == pytest.approx(1.0)
    support = next(v["share"] for v in var["values"] if v["code"] == 1)
    assert 0.45 < support < 0.70  # every wave's published support lies in 51–66%


def test_bare_coded_waves_have_no_text_to_find_without_their_labels_file(chronicles, cli):
    """Why the labels files exist: without one, a bare-coded wave holds no question text at all."""
    r = cli("describe", chronicles / "chronicles-12-2024-01-23.xlsx", "--find", "поддерживаете", "--json")
    assert r.code == 0 and json.loads(r.out)["variables"] == []


def test_published_toplines(chronicles, cli):
    """Spot checks against the project's published figures (weighted %, rounded)."""
    cases = [
        # wave 9 report-charts sheet, chart 1: waves 7a, 7b, 8, 9 support / don't support
        ("chronicles-07a-express-2022-09-21.sav", "Q5", "wes_age_gender_tnp", 54, 13),
        ("chronicles-07b-express-2022-09-29.sav", "Q5", "wes_age_gender_tnp", 51, 12),
        ("chronicles-08.sav", "Q16", "wes_age_gender_tnp", 57, 9),
        ("chronicles-09-2023-02-02.sav", "Q10", "for_weight", 59, 11),
    ]
    for name, col, weight, yes, no in cases:
        r = cli("describe", chronicles / name, "--find", col, "--weights", weight, "--json")
        var = next(v for v in json.loads(r.out)["variables"] if v["name"] == col)
        share = {v["code"]: 100 * v["share"] for v in var["values"]}
        assert round(share[1]) == yes and round(share[2]) == no, (name, share)
