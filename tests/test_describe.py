"""``describe``: the codebook of a file — labels, values with (weighted) counts, weights, search."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.codebook import likely_weights


@pytest.fixture
def survey() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({
        "ID": np.arange(1, n + 1, dtype=float),
        "GENDER": rng.choice([1.0, 2.0], n),
        "AGE": rng.integers(18, 90, n).astype(float),
        "Q4": rng.choice([1.0, 2.0, 99.0], n, p=[0.6, 0.2, 0.2]),
        "Q5": rng.choice(["Доверяю", "Не доверяю", "Ещё не знаю"], n),
        "open": [f"ответ {i}" for i in range(n)],
        "вес": rng.uniform(0.5, 1.5, n),
        "pop_weight": rng.uniform(50_000, 150_000, n),
        "income": rng.uniform(10_000, 90_000, n),
        "for_weight": rng.integers(1, 30, n).astype(float),  # a weighting *cell*, not a weight
    })
    df["вес"] /= df["вес"].mean()
    df.attrs["variable_labels"] = {
        "GENDER": "Пол респондента",
        "Q4": "Скажите, пожалуйста, вы поддерживаете или не поддерживаете военные действия России?",
    }
    df.attrs["value_labels"] = {
        "GENDER": {1: "Мужской", 2: "Женский"},
        "Q4": {1: "Да, поддерживаю", 2: "Нет, не поддерживаю", 99: "Затрудняюсь ответить", 100: "Отказ"},
    }
    df.attrs["source"] = "wave.sav"
    return df


def test_codebook_lists_every_variable_with_its_values(survey):
    book = sv.describe(survey)
    assert book.rows == 400 and book.columns == survey.shape[1] and book.names == list(survey.columns)
    q4 = book["Q4"]
    assert q4.kind == "labelled" and q4.label.startswith("Скажите")
    counts = survey["Q4"].value_counts()
    assert [(v.code, v.label, v.count) for v in q4.values] == [
        (1, "Да, поддерживаю", counts[1.0]), (2, "Нет, не поддерживаю", counts[2.0]),
        (99, "Затрудняюсь ответить", counts[99.0]), (100, "Отказ", 0),  # labelled but never given
    ]
    assert sum(v.share for v in q4.values) == pytest.approx(1.0)
    assert book["Q5"].kind == "text" and {v.code for v in book["Q5"].values} == {"Доверяю", "Не доверяю", "Ещё не знаю"}
    assert book["open"].kind == "open text" and book["open"].distinct == 400 and book["open"].values == ()
    assert book["AGE"].kind == "number" and book["AGE"].stats["min"] >= 18
    assert book["for_weight"].kind == "number"


def test_weighted_shares_are_the_weighted_shares(survey):
    book = sv.describe(survey, weights="вес")
    w = survey["вес"].to_numpy()
    for v in book["Q4"].values:
        direct = w[survey["Q4"].to_numpy() == v.code].sum() / w.sum()
        assert v.share == pytest.approx(direct, abs=1e-12)
        assert v.weighted == pytest.approx(w[survey["Q4"].to_numpy() == v.code].sum(), abs=1e-9)
    assert "shares weighted by вес" in book.summary()


def test_likely_weights(survey):
    found = {c.name: c for c in likely_weights(survey)}
    assert set(found) == {"вес", "pop_weight"}  # not income (no weight name), not the integer cell
    assert "mean 1.000" in found["вес"].reason and "name 'вес'" in found["вес"].reason
    assert "a population?" in found["pop_weight"].reason
    with_zeros = survey.assign(вес=np.where(np.arange(400) < 5, 0.0, survey["вес"]))
    assert "5 zero weights" in likely_weights(with_zeros)[0].reason
    # The unnamed column whose mean is 1 is found by its values.
    unnamed = survey.rename(columns={"вес": "v17"})
    assert "v17" in {c.name for c in likely_weights(unnamed)}


@pytest.mark.parametrize(
    "query, names",
    [
        ("поддерживаете", ["Q4"]),          # question text
        ("ПОДДЕРЖИВАЕТЕ России", ["Q4"]),   # any case; all words must occur
        ("не поддерживаю", ["Q4"]),         # an answer label
        ("еще", ["Q5"]),                    # ё written as е (answers stored as text)
        ("Дa", ["Q4"]),                     # a Latin 'a' inside a Cyrillic word
        ("gender", ["GENDER"]),             # a name
        ("вес", ["вес"]),
        ("ответ 17", []),                   # open answers are not searched
        ("nothing like this", []),
    ],
)
def test_find(survey, query, names):
    book = sv.describe(survey, find=query)
    assert book.names == names
    assert book.find == query


def test_find_says_where_it_matched(survey):
    book = sv.describe(survey, find="поддерживаю")
    assert book["Q4"].matched == ("values",)
    assert sv.describe(survey, find="Q4")["Q4"].matched == ("name",)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["Да", "Нет", "Затрудняюсь", "Ёлка", "yes", "NO"]), min_size=1, max_size=30))
def test_counts_add_up(values):
    df = pd.DataFrame({"q": values})
    v = sv.describe(df)["q"]
    assert sum(x.count for x in v.values) == len(values)
    assert {x.code for x in v.values} == set(values)
    assert sum(x.share for x in v.values) == pytest.approx(1.0)


def test_result_object_contract(survey):
    book = sv.describe(survey, find="поддерживаете", weights="вес")
    d = book.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["variables"][0]["values"][0] == {
        "code": 1, "label": "Да, поддерживаю", "count": book["Q4"].values[0].count,
        "weighted": pytest.approx(book["Q4"].values[0].weighted), "share": pytest.approx(book["Q4"].values[0].share),
        "missing_code": False,
    }
    assert "Q4" in book.summary() and "Да, поддерживаю" in str(book)
    survey.attrs["variable_labels"]["Q4"] = "<script>alert(1)</script>"
    html = sv.describe(survey, find="Q4")._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    with pytest.raises(AttributeError):  # frozen
        book.rows = 3  # type: ignore[misc]


def test_cli_describe(tmp_path, survey, cli):
    path = sv.write_table(survey, tmp_path / "wave.sav")
    r = cli("describe", path, "--find", "поддерживаете", "--weights", "вес", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)  # exactly one JSON object
    assert [v["name"] for v in d["variables"]] == ["Q4"] and d["weighted_by"] == "вес"
    assert [w["name"] for w in d["likely_weights"]][:1] == ["вес"]
    r = cli("describe", path, "--find", "поддерживаете")
    assert r.code == 0 and "Q4" in r.out and "поддерживаю" in r.out and "likely weight: вес" in r.out
    r = cli("describe", path, "--find", "nothing at all")
    assert r.code == 0 and "no variable matches 'nothing at all'" in r.out
    r = cli("describe", path, "--weights", "wes")
    assert r.code == 2 and "column 'wes' not found" in r.err and r.err.count("\n") == 1
    r = cli("describe", tmp_path / "none.sav")
    assert r.code == 2 and "data file not found" in r.err


def test_datasets_are_bundled_and_checked(cli, tmp_path, monkeypatch):
    from sottovoce import datasets

    p = datasets.path("chronicles-01")
    assert p.exists() and p.parent == datasets.HERE
    assert datasets.path("chronicles-02-2022-03-10.sav").name == "chronicles-02-2022-03-10.sav"
    df = sv.read_table(p)
    assert len(df) == 1807 and df.attrs["value_labels"]["Q4"][1] == "Да, поддерживаю"
    r = cli("datasets", "--json")
    names = [d["name"] for d in r.json()["datasets"]]
    assert r.code == 0 and names[:2] == ["chronicles-01", "chronicles-02"]
    assert [n for n in names[2:] if not n.startswith("chronicles-series-w")] == []  # the series example's extracts
    for n in names[2:]:
        assert datasets.path(n).stat().st_size > 10_000  # each extract checked by its SHA-256
    with pytest.raises(sv.InputError, match="no bundled data set 'x'"):
        datasets.path("x")
    # A file that differs from the published one is refused.
    fake = tmp_path / "chronicles-01-2022-02-28.sav"
    fake.write_bytes(p.read_bytes()[:-10])
    monkeypatch.setattr(datasets, "HERE", tmp_path)
    monkeypatch.setattr(datasets, "_checked", set())
    with pytest.raises(sv.InputError, match="SHA-256 .* differs from the published file"):
        datasets.path("chronicles-01")


def test_estimate_table_uses_variable_and_value_labels(cli):
    """`estimate --by` names subgroups by their value labels and the grouping variable by its
    label (the .sav has both), not by the raw column name; --json keeps the column names."""
    wave1 = sv.datasets.path("chronicles-01")
    r = cli("estimate", wave1, "--var", "Q4", "--by", "AGE_GR", "--weights", "wes_age_gender_tnp")
    assert r.code == 0, r.err
    assert "AGE_GR=" not in r.out and "Возрастные категории респондентов" in r.out
    assert "18-34 года: 1 Да, поддерживаю" in " ".join(r.out.split())
    j = cli("estimate", wave1, "--var", "Q4", "--by", "AGE_GR", "--json").json()
    assert {g["by"] for g in j["groups"]} == {"AGE_GR"} and j["by_label"] == "Возрастные категории респондентов"
