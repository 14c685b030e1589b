"""Vendor files as they come: CSV from Russian offices, legacy .xls, several sheets, aggregate tables,
answers stored as text labels, labels files, and the errors that name what was meant."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.errors import InputError
from sottovoce.io import category_mask, match_categories, require_columns

ANSWERS = ["Да, поддерживаю", "Нет, не поддерживаю", "Затрудняюсь ответить", "Ещё не решил"]


@pytest.fixture
def poll() -> pd.DataFrame:
    """A small poll as a vendor would type it: Cyrillic names and answers, fractional weights."""
    rng = np.random.default_rng(7)
    n = 60
    return pd.DataFrame({
        "Пол": rng.choice(["Мужской", "Женский"], n),
        "Возраст": rng.integers(18, 90, n).astype(float),
        "Q1": rng.choice(ANSWERS, n),
        "вес": np.round(rng.uniform(0.4, 1.8, n), 2),
    })


def _write_text(path, df, *, encoding, sep, decimal, bom=False, crlf=True):
    text = df.to_csv(index=False, sep=sep, decimal=decimal, lineterminator="\r\n" if crlf else "\n")
    data = text.encode(encoding)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if pd.api.types.is_numeric_dtype(b[col]):
            np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=0, atol=1e-12)
        else:
            assert list(a[col].astype(str)) == list(b[col].astype(str))


@pytest.mark.parametrize(
    "name, encoding, sep, decimal, bom, note",
    [
        ("cp1251.csv", "cp1251", ",", ".", False, "encoding cp1251 (detected), comma-separated"),
        ("excel-unicode.txt", "utf-16", "\t", ".", False, "encoding utf-16 (detected), tab-separated"),
        ("semicolon-bom.csv", "utf-8", ";", ",", True, "semicolon-separated (detected), decimal comma (detected)"),
        ("cp1251-semicolon.csv", "cp1251", ";", ",", False, "encoding cp1251 (detected), semicolon-separated (detected), decimal comma"),
    ],
)
def test_office_csv_exports_read_like_the_original(tmp_path, poll, name, encoding, sep, decimal, bom, note):
    path = _write_text(tmp_path / name, poll, encoding=encoding, sep=sep, decimal=decimal, bom=bom)
    df = sv.read_table(path)
    _same(poll, df)
    assert df["вес"].dtype == "float64"  # decimal commas became numbers
    assert any(note in n for n in df.attrs["read_notes"]), df.attrs["read_notes"]


def test_plain_utf8_csv_says_nothing(tmp_path, poll):
    df = sv.read_table(_write_text(tmp_path / "plain.csv", poll, encoding="utf-8", sep=",", decimal=".", crlf=False))
    _same(poll, df)
    assert df.attrs["read_notes"] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    encoding=st.sampled_from(["utf-8", "cp1251", "utf-16"]),
    sep=st.sampled_from([",", ";", "\t"]),
    comma=st.booleans(),
    bom=st.booleans(),
    rows=st.lists(
        st.tuples(st.sampled_from(ANSWERS), st.floats(0.05, 9.95).map(lambda x: round(x, 2)), st.integers(1, 99)),
        min_size=5, max_size=40,
    ),
)
def test_detection_recovers_any_export(tmp_path, encoding, sep, comma, bom, rows):
    """Whatever encoding, separator and decimal mark an office used, the table reads back the same."""
    decimal = "," if comma and sep != "," else "."
    df = pd.DataFrame(rows, columns=["Вопрос 1", "вес", "код"]).astype({"код": float})
    path = _write_text(tmp_path / "x.csv", df, encoding=encoding, sep=sep, decimal=decimal, bom=bom)
    back = sv.read_table(path)
    _same(df, back)


def test_overrides_win_and_wrong_encoding_is_one_clear_line(tmp_path, poll):
    path = _write_text(tmp_path / "cp.csv", poll, encoding="cp1251", sep=";", decimal=",")
    df = sv.read_table(path, encoding="cp1251", sep=";", decimal=",")
    _same(poll, df)
    assert "(detected)" not in " ".join(df.attrs["read_notes"])
    with pytest.raises(InputError, match=r"cannot decode as utf-8 \(byte 0x.. at position \d+\); it looks like cp1251: pass --encoding cp1251"):
        sv.read_table(path, encoding="utf-8")
    # A forced separator that is wrong gives one column, which the column check then names.
    one = sv.read_table(path, sep=",", encoding="cp1251")
    assert one.shape[1] < poll.shape[1]
    with pytest.raises(InputError, match="--sheet applies to spreadsheets"):
        sv.read_table(path, sheet="1")
    poll.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="--encoding/--sep/--decimal apply to text files"):
        sv.read_table(tmp_path / "p.parquet", encoding="cp1251")
    with pytest.raises(InputError, match="unknown text encoding"):
        sv.read_table(path, encoding="klingon")


def test_cli_reads_office_csv_and_prints_what_it_detected(tmp_path, poll, cli):
    path = _write_text(tmp_path / "poll.csv", poll, encoding="cp1251", sep=";", decimal=",")
    r = cli("estimate", path, "--var", "Q1", "--weights", "вес", "--json")
    assert r.code == 0, r.err
    est = r.json()
    w = poll["вес"]
    direct = {a: w[poll["Q1"] == a].sum() / w.sum() for a in ANSWERS}
    got = {c["label"] if c.get("label") else c["code"]: c["estimate"] for c in est["categories"]}
    for a in ANSWERS:
        if direct[a] > 0:
            assert got[a] == pytest.approx(direct[a], abs=1e-12)
    assert "note: read poll.csv as encoding cp1251 (detected), semicolon-separated (detected), decimal comma (detected)" in r.err
    # Overrides on the command line; a wrong one is a one-line error.
    r = cli("estimate", path, "--var", "Q1", "--encoding", "utf-8")
    assert r.code == 2 and r.err.count("\n") == 1 and "pass --encoding cp1251" in r.err
    r = cli("estimate", path, "--var", "Q1", "--encoding", "cp1251", "--sep", ";", "--decimal", ",", "--json")
    assert r.code == 0 and "(detected)" not in r.err


def test_legacy_xls(tmp_path, poll):
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Хроники_пуб")
    for j, col in enumerate(poll.columns):
        sheet.write(0, j, col)
        for i, v in enumerate(poll[col]):
            sheet.write(i + 1, j, v.item() if hasattr(v, "item") else v)
    book.save(str(tmp_path / "wave.xls"))
    df = sv.read_table(tmp_path / "wave.xls")
    _same(poll, df)


def _xlsx(path, sheets: dict[str, list[list]]):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def _rows(df: pd.DataFrame) -> list[list]:
    return [list(df.columns)] + [[v.item() if hasattr(v, "item") else v for v in r] for r in df.itertuples(index=False)]


# An SPSS frequency table pasted into Excel, and a cross-tab with "Все опрошенные" on top.
FREQUENCIES = [
    ["Скажите, пожалуйста, вы поддерживаете...", None, None, None, None, None],
    [None, None, "Частота", "Процент", "Валидный процент", "Накопленный процент"],
    ["Валидные", "Да, поддерживаю", 963.2, 60.2, 60.2, 60.2],
    [None, "Нет, не поддерживаю", 175.0, 10.9, 10.9, 71.1],
    [None, "Всего", 1600.0, 100.0, 100.0, None],
]
CROSSTAB = [
    [None, None, None, "Пол респондента", None],
    [None, None, "Все опрошенные", "Мужской", "Женский"],
    [None, None, 1600, 808, 792],
    ["Q10", "Да, поддерживаю", 59.1, 62.0, 56.1],
]


@pytest.mark.parametrize("rows, says", [(FREQUENCIES, "'валидный процент'"), (CROSSTAB, "'все опрошенные'")])
def test_aggregate_sheet_is_refused_in_one_line(tmp_path, rows, says, cli):
    path = _xlsx(tmp_path / "tables.xlsx", {"Лист1": rows})
    with pytest.raises(InputError, match="is a table of aggregates, not one row per respondent") as exc:
        sv.read_table(path)
    assert says in str(exc.value) and "\n" not in str(exc.value)
    r = cli("describe", path)
    assert r.code == 2 and r.out == "" and r.err.startswith("error: ") and r.err.count("\n") == 1


def test_several_sheets(tmp_path, poll, cli):
    path = _xlsx(tmp_path / "wave.xlsx", {"Итоги": CROSSTAB, "Данные": _rows(poll), "Пусто": []})
    with pytest.raises(InputError, match=r"sheets that look like respondent data: 'Данные' \(--sheet NAME\)"):
        sv.read_table(path)
    for which in ("Данные", "данные", 2, "2"):
        df = sv.read_table(path, sheet=which)
        _same(poll, df)
        assert "sheet 'Данные' (2 of 3; also 'Итоги', 'Пусто'; choose with --sheet)" in df.attrs["read_notes"][0]
    with pytest.raises(InputError, match=r"no sheet '9'; the sheets are 1 'Итоги', 2 'Данные', 3 'Пусто'"):
        sv.read_table(path, sheet=9)
    with pytest.raises(InputError, match="sheet 'Пусто' is empty"):
        sv.read_table(path, sheet="Пусто")
    r = cli("estimate", path, "--sheet", "Данные", "--var", "Q1", "--weights", "вес", "--json")
    assert r.code == 0, r.err
    assert "note: read wave.xlsx: sheet 'Данные'" in r.err


def test_xlsx_text_answers_match_by_label_or_by_code_with_a_labels_file(tmp_path, poll):
    path = _xlsx(tmp_path / "wave11.xlsx", {"wave": _rows(poll)})
    df = sv.read_table(path)
    assert df["Q1"].dtype == "str"
    # By their text, with any case, spaces and ё/е:
    assert match_categories(df, "Q1", ["да,  ПОДДЕРЖИВАЮ", "еще не решил"]) == {
        "да,  ПОДДЕРЖИВАЮ": "Да, поддерживаю", "еще не решил": "Ещё не решил"}
    # A code cannot match text without a codebook, and the error says what to do.
    with pytest.raises(InputError, match="stores answers as text: name the category by its text, or give a codebook"):
        match_categories(df, "Q1", [1])
    labels = tmp_path / "labels.toml"
    labels.write_text(
        '[Q1]\nlabel = "Вы поддерживаете?"\n'
        'values = { 1 = "Да, поддерживаю", 2 = "Нет, не поддерживаю", 99 = "Затрудняюсь ответить", 100 = "Еще не решил" }\n',
        encoding="utf-8",
    )
    coded = sv.read_table(path, labels=labels)
    expect = poll["Q1"].map({ANSWERS[0]: 1.0, ANSWERS[1]: 2.0, ANSWERS[2]: 99.0, ANSWERS[3]: 100.0})
    np.testing.assert_array_equal(coded["Q1"].to_numpy(), expect.to_numpy())
    assert coded.attrs["variable_labels"]["Q1"] == "Вы поддерживаете?"
    # Now the codes and the labels both match, as in a coded wave.
    assert match_categories(coded, "Q1", [1, "Нет, не поддерживаю"]) == {1: 1.0, "Нет, не поддерживаю": 2.0}
    assert category_mask(coded, "Q1", [1, 2, 555]).sum() == poll["Q1"].isin(ANSWERS[:2]).sum()
    # And a codebook attached to a text column still matches codes without converting it.
    text = df.copy()
    text.attrs["value_labels"] = {"Q1": {1: "Да, поддерживаю", 2: "Нет, не поддерживаю"}}
    assert match_categories(text, "Q1", [1]) == {1: "Да, поддерживаю"}
    assert category_mask(text, "Q1", [1]).sum() == (poll["Q1"] == ANSWERS[0]).sum()


def test_labels_file_errors(tmp_path, poll):
    path = _xlsx(tmp_path / "w.xlsx", {"w": _rows(poll)})
    bad = tmp_path / "bad.toml"
    bad.write_text('[Q1]\nvalues = { 1 = "Да, поддерживаю" }\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"column 'Q1' has answers that no label of the labels file matches: 'Нет, не поддерживаю'"):
        sv.read_table(path, labels=bad)
    bad.write_text('[q_1]\nlabel = "x"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"column 'q_1' not found; did you mean Q1\?"):
        sv.read_table(path, labels=bad)
    bad.write_text('[Q1]\nlable = "x"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown keys \['lable'\]"):
        sv.read_table(path, labels=bad)
    bad.write_text("[Q1\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid TOML labels file"):
        sv.read_table(path, labels=bad)
    with pytest.raises(InputError, match="labels file not found"):
        sv.read_table(path, labels=tmp_path / "nope.toml")


def test_column_not_found_suggests_names_and_labels(tmp_path):
    df = pd.DataFrame({f"Q{i}": [1.0, 2.0] for i in range(1, 60)} | {"wes_age_gender_tnp": [1.0, 1.0]})
    df.attrs["variable_labels"] = {"Q4": "Вы поддерживаете военные действия России?", "Q9": "Доверяете ли вы телевидению?"}
    df.attrs["value_labels"] = {"Q17": {1: "Поддерживаю", 2: "Не поддерживаю"}}
    df.attrs["source"] = "wave1.sav"
    with pytest.raises(InputError) as exc:
        require_columns(df, ["q4"])
    msg = str(exc.value)
    assert msg.startswith("wave1.sav: column 'q4' not found; did you mean Q4,") and "sottovoce describe wave1.sav --find TEXT" in msg
    with pytest.raises(InputError, match=r"did you mean wes_age_gender_tnp\?"):
        require_columns(df, ["wes_age_gender"])
    with pytest.raises(InputError, match=r"columns whose labels mention 'поддерживаете': Q4"):
        require_columns(df, ["поддерживаете"])
    with pytest.raises(InputError, match=r"columns whose labels mention 'поддерживаю': Q17"):
        require_columns(df, ["поддерживаю"])
    with pytest.raises(InputError, match=r"the data have 60 columns \(Q1, Q2, .*, …\)"):
        require_columns(df, ["zzzzzz"])


def test_spss_user_missing_codes_are_missing_and_counted(tmp_path):
    import pyreadstat

    df = pd.DataFrame({"edu": [1.0, 2.0, 9.0, 9.0, 3.0, 99.0], "q": [1.0, 2.0, 1.0, 2.0, 1.0, 1.0]})
    pyreadstat.write_sav(
        df, str(tmp_path / "m.sav"), variable_value_labels={"edu": {1: "basic", 2: "secondary", 3: "higher", 9: "no answer"}},
        missing_ranges={"edu": [9, {"lo": 98, "hi": 99}]},
    )
    back = sv.read_table(tmp_path / "m.sav")
    assert back["edu"].isna().sum() == 3
    # SPSS keeps the range before the discrete value.
    assert back.attrs["missing_codes"]["edu"] == {"codes": [[98, 99], 9], "count": 3}
    book = sv.describe(tmp_path / "m.sav")
    edu = book["edu"]
    assert edu.missing == 3 and edu.missing_codes == ([98, 99], 9)
    assert [v.code for v in edu.values if v.missing_code] == [9]
    assert json.loads(json.dumps(book.to_dict()))["variables"][0]["missing_codes"] == [[98, 99], 9]


def test_labels_are_shared_not_deep_copied(tmp_path):
    """pandas deep-copies attrs on every operation; read_table's labels are shared instead."""
    df = pd.DataFrame({f"q{i}": [1.0, 2.0, 1.0] for i in range(5)})
    df.attrs["value_labels"] = {f"q{i}": {1: "yes", 2: "no"} for i in range(5)}
    path = sv.write_table(df, tmp_path / "l.sav")
    back = sv.read_table(path)
    sub = back[back["q1"] == 1.0]
    assert sub.attrs["value_labels"] is back.attrs["value_labels"]
    assert back["q2"].attrs["variable_labels"] is back.attrs["variable_labels"]
    assert sub.attrs["value_labels"]["q3"] == {1: "yes", 2: "no"}
