"""``sottovoce weight``: writes a weighted copy, prints diagnostics or one JSON object, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv

MARGINS_TOML = '[sex]\nmale = 0.462\nfemale = 0.538\n[age]\n"18-29" = 0.2\n"30-59" = 0.5\n"60+" = 0.3\n'


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame({
        "sex": rng.choice([1.0, 2.0], n, p=[0.4, 0.6]),
        "age": rng.choice(["18-29", "30-59", "60+"], n, p=[0.1, 0.5, 0.4]),
        "w": rng.uniform(0.5, 2.0, n),
        "q": rng.choice([1.0, 2.0], n),
    })
    df.attrs["value_labels"] = {"sex": {1: "male", 2: "female"}}
    data = tmp_path / "data.sav"
    sv.write_table(df, data)
    # The CSV copy names the categories in words, as a spreadsheet export would.
    df = df.assign(sex=df["sex"].map({1.0: "male", 2.0: "female"}))
    csv = _write(df, tmp_path / "data.csv")
    margins = tmp_path / "m.toml"
    margins.write_text(MARGINS_TOML, encoding="utf-8")
    return tmp_path, data, csv, margins, df


def test_weight_writes_copy_and_prints_diagnostics(cli, files):
    tmp, data, _, margins, df = files
    out = tmp / "weighted.parquet"
    r = cli("weight", data, "--margins", margins, "--out", out)
    assert r.code == 0, r.err
    assert "46.2" in r.out and "Kish deff" in r.out and "wrote" in r.out
    back = sv.read_table(out)
    assert list(back.columns) == [*df.columns, "weight"]
    assert (back["sex"].to_numpy() == sv.read_table(data)["sex"].to_numpy()).all()
    w = back["weight"].to_numpy()
    assert w.sum() == pytest.approx(len(df))
    assert w[back["sex"] == 1].sum() / w.sum() == pytest.approx(0.462, abs=1e-8)


def test_weight_json_is_one_object(cli, files):
    tmp, data, _, margins, df = files
    r = cli("weight", data, "--margins", margins, "--weights", "w", "--json", "--out", tmp / "o.sav")
    assert r.code == 0, r.err
    obj = json.loads(r.out)  # exactly one JSON object, nothing else on stdout
    assert obj["method"] == "weighting" and obj["n_zero"] == 0 and obj["sum"] == pytest.approx(df["w"].sum())
    assert {m["category"] for m in obj["margins"]} == {"male", "female", "18-29", "30-59", "60+"}
    assert max(abs(m["difference"]) for m in obj["margins"]) < 1e-8
    back = sv.read_table(tmp / "o.sav")
    assert sv.io.value_labels(back, "sex") == {1: "male", 2: "female"}  # labels survive


def test_weight_zero_weights_are_reported(cli, files):
    tmp, _, csv, margins, df = files
    df.loc[:4, "w"] = 0.0
    df.to_csv(csv, index=False)
    r = cli("weight", csv, "--margins", margins, "--weights", "w", "--json")
    assert r.code == 0, r.err
    obj = r.json()
    assert obj["n_zero"] == 5 and obj["n"] == len(df) - 5
    assert "5 respondents have zero weight" in " ".join(obj["warnings"])
    r = cli("weight", csv, "--margins", margins, "--weights", "w")
    assert "zero weight: 5" in r.out


def test_weight_counts_margins_scale_to_population(cli, files):
    tmp, data, _, _, _ = files
    m = tmp / "counts.toml"
    m.write_text("[sex]\nmale = 46_200_000\nfemale = 53_800_000\n", encoding="utf-8")
    r = cli("weight", data, "--margins", m, "--json")
    assert r.code == 0, r.err
    assert r.json()["sum"] == pytest.approx(100e6) and r.json()["margins_as_counts"] is True


def test_weight_trim(cli, files):
    tmp, data, _, margins, _ = files
    r = cli("weight", data, "--margins", margins, "--weights", "w", "--trim", "2.5", "--json")
    assert r.code == 0, r.err
    obj = r.json()
    assert obj["trimmed"] > 0
    assert obj["max_over_mean"] <= 2.5 * (1 + 1e-6)
    assert max(abs(m["difference"]) for m in obj["margins"]) < 1e-8


def _write(df: pd.DataFrame, path):
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing_file", "data file not found"),
        ("unknown_ext", "unknown data file extension"),
        ("corrupt_sav", "cannot read as sav file"),
        ("missing_margins", "margins file not found"),
        ("bad_toml", "not a valid TOML"),
        ("missing_column", "column 'age' not found"),
        ("bad_sum", "sum to 0.9, not 1"),
        ("margin_category_absent", "category '90+' of column 'age' is not in the data"),
        ("data_category_absent", "category 70+ (1 rows"),
        ("missing_values", "weighting column 'sex' has 1 missing values"),
        ("negative_weights", "has 1 negative values"),
        ("missing_weights", "has 1 missing or non-numeric values"),
        ("missing_weight_column", "column 'wt' not found"),
        ("empty", "no rows"),
        ("no_convergence", "raking did not converge"),
        ("overwrite", "refusing to overwrite the input file"),
        ("name_clash", "already has a column 'q'"),
        ("bad_trim", "cap must be at least 1"),
        ("bad_out_ext", "cannot write '.xlsx' files"),
    ],
)
def test_weight_bad_input(cli, files, case, needle):
    tmp, data, csv, margins, df = files
    args = [csv, "--margins", margins]
    if case == "missing_file":
        args[0] = tmp / "nope.csv"
    elif case == "unknown_ext":
        args[0] = _write(df, tmp / "data.foo")
    elif case == "corrupt_sav":
        (tmp / "bad.sav").write_bytes(b"this is not SPSS")
        args[0] = tmp / "bad.sav"
    elif case == "missing_margins":
        args[2] = tmp / "nope.toml"
    elif case == "bad_toml":
        (tmp / "bad.toml").write_text("[sex\n", encoding="utf-8")
        args[2] = tmp / "bad.toml"
    elif case == "missing_column":
        _write(df.drop(columns="age"), csv)
    elif case == "bad_sum":
        (tmp / "bad.toml").write_text("[sex]\nmale = 0.4\nfemale = 0.5\n", encoding="utf-8")
        args[2] = tmp / "bad.toml"
    elif case == "margin_category_absent":
        (tmp / "bad.toml").write_text('[age]\n"18-29" = 0.2\n"30-59" = 0.5\n"60+" = 0.2\n"90+" = 0.1\n', encoding="utf-8")
        args[2] = tmp / "bad.toml"
    elif case == "data_category_absent":
        _write(df.assign(age=df["age"].where(df.index != 3, "70+")), csv)
    elif case == "missing_values":
        _write(df.assign(sex=df["sex"].where(df.index != 3)), csv)
    elif case == "negative_weights":
        _write(df.assign(w=df["w"].where(df.index != 3, -2.0)), csv)
        args += ["--weights", "w"]
    elif case == "missing_weights":
        _write(df.assign(w=df["w"].where(df.index != 3)), csv)
        args += ["--weights", "w"]
    elif case == "missing_weight_column":
        args += ["--weights", "wt"]
    elif case == "empty":
        _write(df.iloc[:0], csv)
    elif case == "no_convergence":
        # Everyone aged 18-29 is male in this sample, but the margins want more young people than men.
        _write(df.assign(sex=np.where(df["age"] == "18-29", "male", df["sex"])), csv)
        (tmp / "bad.toml").write_text('[sex]\nmale = 0.1\nfemale = 0.9\n[age]\n"18-29" = 0.3\n"30-59" = 0.4\n"60+" = 0.3\n', encoding="utf-8")
        args[2] = tmp / "bad.toml"
        args += ["--max-iter", "100"]
    elif case == "overwrite":
        args += ["--out", tmp / "." / "data.csv"]
    elif case == "name_clash":
        args += ["--out", tmp / "o.csv", "--weight-name", "q"]
    elif case == "bad_trim":
        args += ["--trim", "0.5"]
    elif case == "bad_out_ext":
        args += ["--out", tmp / "o.xlsx"]
    before = csv.read_bytes()
    r = cli("weight", *args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    assert needle in r.err, r.err
    assert "Traceback" not in r.err and r.out == ""
    if case == "overwrite":
        assert csv.read_bytes() == before
