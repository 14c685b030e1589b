"""Data input and output: every format round-trips, labels survive, bad files give one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.errors import InputError
from sottovoce.io import match_categories, value_labels


@pytest.fixture
def labelled() -> pd.DataFrame:
    df = pd.DataFrame({"sex": [1.0, 2.0, 2.0, 1.0], "q": [1.0, 99.0, 2.0, 1.0], "w": [0.5, 1.5, 1.0, 1.0]})
    df.attrs["value_labels"] = {"sex": {1: "male", 2: "female"}, "q": {1: "yes", 2: "no", 99: "hard to say"}}
    df.attrs["variable_labels"] = {"q": "Do you support it?"}
    return df


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet", ".sav", ".dta"])
def test_round_trip(tmp_path, labelled, ext):
    path = sv.write_table(labelled, tmp_path / f"d{ext}")
    back = sv.read_table(path)
    np.testing.assert_allclose(back["w"].to_numpy(float), labelled["w"].to_numpy(float))
    np.testing.assert_allclose(back["q"].to_numpy(float), labelled["q"].to_numpy(float))
    if ext in (".sav", ".dta"):
        assert value_labels(back, "sex") == {1: "male", 2: "female"}
        assert back.attrs["variable_labels"]["q"] == "Do you support it?"


def test_xlsx_and_categoricals(tmp_path):
    df = pd.DataFrame({"sex": ["male", "female", "male"], "w": [1.0, 2.0, 3.0]})
    df.to_excel(tmp_path / "d.xlsx", index=False)
    back = sv.read_table(tmp_path / "d.xlsx")
    assert list(back["sex"]) == ["male", "female", "male"]
    df["sex"] = df["sex"].astype("category")
    df.to_parquet(tmp_path / "c.parquet")
    cat = sv.read_table(tmp_path / "c.parquet")
    labels = value_labels(cat, "sex")
    assert sorted(labels.values()) == ["female", "male"]
    assert [labels[c] for c in cat["sex"]] == ["male", "female", "male"]


def test_match_by_code_or_label(labelled):
    assert match_categories(labelled, "sex", ["male", "2"]) == {"male": 1.0, "2": 2.0}
    assert match_categories(labelled, "sex", [" Female "]) == {" Female ": 2.0}
    with pytest.raises(InputError, match="category 'other' of column 'sex'"):
        match_categories(labelled, "sex", ["other"])


def test_real_spss_labels(wave1):
    df = sv.read_table(wave1)
    assert len(df) == 1807
    assert value_labels(df, "Q4")[1] == "Да, поддерживаю"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "not found"),
        ("data.json", b"{}", "unknown data file extension"),
        ("broken.sav", b"this is not an SPSS file", "cannot read as sav"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        sv.read_table(path)


def test_never_overwrites_input(tmp_path, labelled):
    src = sv.write_table(labelled, tmp_path / "in.csv")
    with pytest.raises(InputError, match="refusing to overwrite"):
        sv.write_table(labelled, src, protect=[src])
