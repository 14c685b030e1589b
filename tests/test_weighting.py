"""Weighting: margins files, raking, post-stratification, trimming and weight diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.errors import ConvergenceError, InputError
from sottovoce.weighting import effective_n, kish_deff, load_margins, poststratify, rake, trim

MARGINS = {"sex": {"male": 0.462, "female": 0.538}, "age": {"18-29": 0.2, "30-59": 0.5, "60+": 0.3}}


@pytest.fixture
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    df = pd.DataFrame({
        "sex": rng.choice([1.0, 2.0], n, p=[0.4, 0.6]),
        "age": rng.choice(["18-29", "30-59", "60+"], n, p=[0.1, 0.5, 0.4]),
        "w": rng.uniform(0.5, 2.0, n),
    })
    df.attrs["value_labels"] = {"sex": {1: "male", 2: "female"}}
    return df


def shares(df: pd.DataFrame, col: str, w: np.ndarray) -> pd.Series:
    return pd.Series(w, index=df.index).groupby(df[col]).sum() / w.sum()


# -- load_margins -----------------------------------------------------------------------------
def test_load_margins_normalises_rounded_shares(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[sex]\nmale = 0.46\nfemale = 0.545\n[age_group]\n"18-29" = 0.17\n"60+" = 0.83\n', encoding="utf-8")
    m = load_margins(p)
    assert set(m) == {"sex", "age_group"}
    assert sum(m["sex"].values()) == pytest.approx(1, abs=1e-15)
    assert m["sex"]["male"] == pytest.approx(0.46 / 1.005)
    assert m.counts == {} and m.population_total is None and m.source == str(p)


def test_load_margins_counts_are_normalised_and_flagged(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("[sex]\nmale = 50_000_000\nfemale = 60_000_000\n", encoding="utf-8")
    m = load_margins(p)
    assert m["sex"]["female"] == pytest.approx(6 / 11)
    assert m.counts == {"sex": 110_000_000} and m.population_total == 110_000_000


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[sex]\nmale = 0.3\nfemale = 0.3\n", "sum to 0.6"),
        ("[sex]\nmale = 'many'\nfemale = 0.5\n", "is not a number"),
        ("[sex]\nmale = -0.1\nfemale = 1.1\n", "must be finite and >= 0"),
        ("[sex]\n", "is empty"),
        ("sex = 0.5\n", "must be a table"),
        ("[sex\nmale=1", "not a valid TOML"),
        ("", "no margins"),
        ("[sex]\nmale = 10\nfemale = 10\n[age]\na = 100\nb = 200\n", "populations of different sizes"),
    ],
)
def test_load_margins_errors_name_file_and_table(tmp_path, text, needle):
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=needle) as info:
        load_margins(p)
    assert str(p) in str(info.value)
    assert "\n" not in str(info.value)


def test_load_margins_missing_file(tmp_path):
    with pytest.raises(InputError, match="margins file not found"):
        load_margins(tmp_path / "nope.toml")


# -- rake -------------------------------------------------------------------------------------
def test_rake_hits_margins_and_keeps_total(sample):
    w = rake(sample, MARGINS)
    assert isinstance(w, pd.Series) and w.index.equals(sample.index)
    assert w.sum() == pytest.approx(len(sample))
    got = shares(sample, "sex", w.to_numpy())
    assert got[1.0] == pytest.approx(0.462, abs=1e-8) and got[2.0] == pytest.approx(0.538, abs=1e-8)
    got = shares(sample, "age", w.to_numpy())
    assert got["18-29"] == pytest.approx(0.2, abs=1e-8) and got["60+"] == pytest.approx(0.3, abs=1e-8)
    assert w.attrs["iterations"] >= 1 and w.attrs["max_gap"] <= 1e-8


def test_rake_with_input_weights_keeps_their_sum_and_zeros(sample):
    sample.loc[[3, 10, 50], "w"] = 0.0
    w = rake(sample, MARGINS, "w")
    assert w.sum() == pytest.approx(sample["w"].sum())
    assert (w[[3, 10, 50]] == 0).all() and (w.drop([3, 10, 50]) > 0).all()
    assert w.attrs["n_zero"] == 3
    # The same with the weights passed as an array.
    np.testing.assert_allclose(rake(sample, MARGINS, sample["w"].to_numpy()), w, rtol=1e-12)


def test_rake_counts_scale_to_population(sample):
    counts = {k: {c: v * 1e6 for c, v in t.items()} for k, t in MARGINS.items()}
    w = rake(sample, counts)
    assert w.sum() == pytest.approx(1e6)
    np.testing.assert_allclose(w / w.sum(), rake(sample, MARGINS) / len(sample), rtol=1e-9)


def test_rake_matches_closed_form_for_one_margin(sample):
    """With one margin raking is post-stratification: w_i = target_c * N / n_c."""
    w = rake(sample, {"age": MARGINS["age"]})
    counts = sample["age"].value_counts()
    expected = sample["age"].map(lambda a: MARGINS["age"][a] * len(sample) / counts[a])
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_rake_saturated_two_by_two_closed_form():
    """Two binary margins with all four cells: the IPF limit solves a quadratic we can write down.

    Cell weights (per respondent) are a_i * b_j; with n_ij respondents the fitted cell totals
    m_ij = n_ij a_i b_j must have the row and column targets; the odds ratio of the fitted table
    equals that of the sample (IPF preserves cross-product ratios, Bishop, Fienberg & Holland 1975).
    """
    df = pd.DataFrame({"x": [0] * 30 + [0] * 10 + [1] * 20 + [1] * 40, "y": [0] * 30 + [1] * 10 + [0] * 20 + [1] * 40})
    w = rake(df, {"x": {0: 0.5, 1: 0.5}, "y": {0: 0.3, 1: 0.7}}, tol=1e-14)
    m = w.groupby([df["x"], df["y"]]).sum().unstack().to_numpy() / len(df)
    # m = [[p, 0.5 - p], [0.3 - p, 0.2 + p]] with odds ratio 30*40/(10*20) = 6.
    theta = 6.0
    # p (0.2 + p) = 6 (0.5 - p)(0.3 - p)  ->  5p^2 - 5.0p + 0.9 = 0
    p = (5.0 - np.sqrt(25 - 4 * 5 * 0.9)) / 10
    np.testing.assert_allclose(m, [[p, 0.5 - p], [0.3 - p, 0.2 + p]], rtol=1e-10)
    assert m[0, 0] * m[1, 1] / (m[0, 1] * m[1, 0]) == pytest.approx(theta)


def test_rake_matches_codes_and_labels(sample):
    by_code = rake(sample, {"sex": {1: 0.462, 2: 0.538}})
    by_label = rake(sample, {"sex": {"male": 0.462, "female": 0.538}})
    by_text = rake(sample, {"sex": {"1": 0.462, "2": 0.538}})
    np.testing.assert_allclose(by_code, by_label)
    np.testing.assert_allclose(by_code, by_text)


def test_rake_categorical_integer_and_string_columns_agree(sample):
    expected = rake(sample, MARGINS)
    cat = sample.copy()
    cat["age"] = cat["age"].astype("category")
    np.testing.assert_allclose(rake(cat, MARGINS), expected, rtol=1e-12)
    ints = sample.copy()
    ints["sex"] = ints["sex"].astype("int8")
    np.testing.assert_allclose(rake(ints, MARGINS), expected, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), reorder=st.booleans(), unused=st.booleans(), as_text=st.booleans())
def test_rake_categorical_columns_equal_integer_codes(seed, reorder, unused, as_text):
    """Categorical columns take the code path (no hashing of rows): whatever the order of the
    categories, with unused categories or text categories, the weights equal those of the
    integer-coded columns."""
    rng = np.random.default_rng(seed)
    n = 2000
    df = pd.DataFrame({"a": rng.integers(1, 4, n), "b": rng.integers(1, 6, n)})
    margins = {"a": {1: 0.2, 2: 0.5, 3: 0.3}, "b": {k: 1 / 5 for k in range(1, 6)}}
    expected = rake(df, margins, tol=1e-12)
    names = {k: f"c{k}" for k in range(1, 6)}
    cat = pd.DataFrame({})
    cat_margins = {}
    for col in df:
        values = df[col].map(names) if as_text else df[col]
        cats = sorted(values.unique())
        if reorder:
            cats = cats[::-1]
        if unused:
            cats = [*cats, "zz" if as_text else 99]
        cat[col] = pd.Categorical(values, categories=cats)
        cat_margins[col] = {(names[k] if as_text else k): v for k, v in margins[col].items()}
    np.testing.assert_allclose(rake(cat, cat_margins, tol=1e-12), expected, rtol=1e-10)


def test_rake_categorical_errors_name_the_problem(sample):
    cat = sample.copy()
    cat["age"] = cat["age"].astype("category")
    with pytest.raises(InputError, match="missing values"):
        bad = cat.copy()
        bad.loc[bad.index[0], "age"] = np.nan
        rake(bad, MARGINS)
    extra = cat.copy()
    extra["age"] = extra["age"].cat.add_categories([77])
    extra.loc[extra.index[:3], "age"] = 77
    with pytest.raises(InputError, match="77"):
        rake(extra, MARGINS)
    unused = {**MARGINS, "age": {**MARGINS["age"]}}
    cat["age"] = cat["age"].cat.add_categories([55])
    key = next(iter(unused["age"]))
    unused["age"][55] = 0.0
    unused["age"][key] = unused["age"][key]  # same shares; 55 is a category no respondent has
    with pytest.raises(InputError, match="not in the data"):
        rake(cat, unused)


def test_rake_many_sparse_categories_uses_sorting_path():
    """Margins whose category product is huge collapse cells by sorting; same answer as direct IPF."""
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame({f"v{j}": rng.integers(0, 40, n) for j in range(6)})
    margins = {c: {int(k): v for k, v in (df[c].value_counts(normalize=True) * 0 + 1 / 40).items()} for c in df}
    w = rake(df, margins, tol=1e-10)
    for c in df:
        np.testing.assert_allclose(w.groupby(df[c]).sum() / n, 1 / 40, atol=1e-9)


@pytest.mark.parametrize(
    "mutate, margins, error, needle",
    [
        (lambda d: d.drop(columns="age"), MARGINS, InputError, "column 'age' not found"),
        (lambda d: d.assign(age=d["age"].where(d.index != 5)), MARGINS, InputError, "1 missing values"),
        (lambda d: d.assign(sex=d["sex"].where(d.index != 5)), MARGINS, InputError, "'sex' has 1 missing"),
        (lambda d: d, {**MARGINS, "age": {**MARGINS["age"], "90+": 0.0}}, InputError, "'90\\+' of column 'age' is not in the data"),
        (lambda d: d.assign(age=d["age"].where(d.index != 5, "unknown")), MARGINS, InputError, "unknown .*missing from margins table \\[age\\]"),
        (lambda d: d.assign(sex=d["sex"].where(d.index != 5, 9.0)), MARGINS, InputError, "9 .*missing from margins table \\[sex\\]"),
        (lambda d: d.assign(w=d["w"].where(d.index != 5, -1.0)), MARGINS, InputError, "1 negative"),
        (lambda d: d.assign(w=d["w"].where(d.index != 5)), MARGINS, InputError, "1 missing or non-numeric"),
        (lambda d: d.assign(w=0.0), MARGINS, InputError, "zero for every respondent"),
        (lambda d: d.iloc[:0], MARGINS, InputError, "no rows"),
        (lambda d: d, {"sex": {"male": 0.5, "1": 0.5}}, InputError, "names category 1 twice"),
    ],
)
def test_rake_bad_input(sample, mutate, margins, error, needle):
    with pytest.raises(error, match=needle) as info:
        rake(mutate(sample), margins, "w")
    assert "\n" not in str(info.value)


def test_rake_category_with_only_zero_weights(sample):
    sample.loc[sample["age"] == "18-29", "w"] = 0.0
    with pytest.raises(InputError, match="'18-29' of \\[age\\] has only respondents with zero weight"):
        rake(sample, MARGINS, "w")


def test_rake_conflicting_margins_explain_why():
    # 'young' occurs only with 'city' in the sample, but young are 60% and city only 40%.
    df = pd.DataFrame({"age": ["young"] * 10 + ["old"] * 10, "place": ["city"] * 10 + ["city"] * 5 + ["village"] * 5})
    with pytest.raises(ConvergenceError, match=r"did not converge.*\[age\] 'young' .*occurs only with \[place\] 'city'.*40\.00%") as info:
        rake(df, {"age": {"young": 0.6, "old": 0.4}, "place": {"city": 0.4, "village": 0.6}}, max_iter=200)
    assert "\n" not in str(info.value)


def test_rake_zero_target_gives_zero_weight(sample):
    w = rake(sample, {"age": {"18-29": 0.0, "30-59": 0.6, "60+": 0.4}})
    assert (w[sample["age"] == "18-29"] == 0).all()
    assert w.sum() == pytest.approx(len(sample))


def test_rake_rejects_bad_tolerance(sample):
    with pytest.raises(InputError, match="tol must be > 0"):
        rake(sample, MARGINS, tol=0)


# -- real data --------------------------------------------------------------------------------
def test_poststratify_reproduces_chronicles_weight(wave1):
    """The published weight is a post-stratification on sex × age × settlement (`for_weight`)."""
    df = sv.read_table(wave1)
    published = df["wes_age_gender_tnp"].to_numpy()
    kept = df[published > 0]
    labels = df.attrs["value_labels"]["for_weight"]
    targets = {labels[int(k)]: v for k, v in kept.groupby("for_weight")["wes_age_gender_tnp"].sum().items()}
    assert any("Г" in k for k in targets)  # matched by the Cyrillic value labels
    w = poststratify(kept, "for_weight", targets)
    np.testing.assert_allclose(w, kept["wes_age_gender_tnp"], rtol=1e-12)


def test_rake_chronicles_by_labels(wave1):
    df = sv.read_table(wave1)
    kept = df[df["wes_age_gender_tnp"] > 0].copy()
    kept.attrs = df.attrs
    pub = kept["wes_age_gender_tnp"]
    margins = {
        col: {df.attrs["value_labels"][col][int(k)]: v for k, v in (pub.groupby(kept[col]).sum() / pub.sum()).items()}
        for col in ("GENDER", "AGE_GR", "TNP")
    }
    w = rake(kept, margins)
    diag = sv.diagnostics(kept, w, margins)
    assert diag["difference"].abs().max() < 1e-8
    assert set(diag["category"]) >= {"Мужской", "Женский", "18-34 года", "село"}
    # The published weights meet the same margins, up to their rounding to three decimals.
    assert sv.diagnostics(kept, pub, margins)["difference"].abs().max() < 1e-3


# -- poststratify -----------------------------------------------------------------------------
def test_poststratify_crossed_cells_and_errors(sample):
    targets = {(s, a): 1 / 6 for s in ("male", "female") for a in ("18-29", "30-59", "60+")}
    w = poststratify(sample, ["sex", "age"], targets, weights="w")
    cell = w.groupby([sample["sex"], sample["age"]]).sum()
    np.testing.assert_allclose(cell, sample["w"].sum() / 6, rtol=1e-12)
    # Within a cell, weights stay proportional to the input weights.
    ratio = (w / sample["w"]).groupby([sample["sex"], sample["age"]]).std()
    assert ratio.max() < 1e-12
    missing = {k: 0.2 for k in targets if k != ("male", "60+")}
    with pytest.raises(InputError, match="the data have cell \\(sex=male, age=60\\+\\) but the targets do not"):
        poststratify(sample, ["sex", "age"], missing)
    with pytest.raises(InputError, match="each cell key needs 2 parts"):
        poststratify(sample, ["sex", "age"], {"male": 0.5, "female": 0.5})
    counts = poststratify(sample, "sex", pd.Series({"male": 46.2e6, "female": 53.8e6}))
    assert counts.sum() == pytest.approx(100e6)


def test_poststratify_target_cell_without_respondents(sample):
    sample.loc[(sample["sex"] == 1.0) & (sample["age"] == "60+"), "w"] = 0.0
    targets = {(s, a): 1 / 6 for s in ("male", "female") for a in ("18-29", "30-59", "60+")}
    with pytest.raises(InputError, match="cell \\('male', '60\\+'\\) has no respondents with positive weight"):
        poststratify(sample, ["sex", "age"], targets, weights="w")


# -- trim -------------------------------------------------------------------------------------
def test_trim_caps_and_keeps_total():
    rng = np.random.default_rng(1)
    w = rng.lognormal(0, 1, 1000)
    w[:5] = 0
    t = trim(w, upper=3.0)
    mean = w[w > 0].mean()
    assert t.max() <= 3 * mean * (1 + 1e-9)
    assert t.sum() == pytest.approx(w.sum())
    assert (t[:5] == 0).all() and (t[5:] > 0).all()
    # Untrimmed weights are scaled by one common factor (their ranks and ratios are kept).
    free = t.to_numpy()[5:] < 3 * mean * (1 - 1e-9)
    r = t.to_numpy()[5:][free] / w[5:][free]
    assert r.std() / r.mean() < 1e-12
    floor = trim(w, upper=3.0, lower=0.3)
    assert floor[5:].min() >= 0.3 * mean * (1 - 1e-9) and floor.sum() == pytest.approx(w.sum())


def test_trim_then_rake_meets_both(sample):
    untrimmed = rake(sample, MARGINS, "w")
    cap = 0.9 * untrimmed.max() / untrimmed.mean()
    t = trim(sample, upper=cap, weights="w", margins=MARGINS)
    assert t.max() <= cap * t.mean() * (1 + 1e-6)
    diag = sv.diagnostics(sample, t, MARGINS)
    assert diag["difference"].abs().max() < 1e-8
    assert t.sum() == pytest.approx(sample["w"].sum())


def test_trim_impossible_cap_says_raise_it(sample):
    with pytest.raises(ConvergenceError, match="raise the cap"):
        trim(sample, upper=1.0, margins=MARGINS, max_rounds=20)


@pytest.mark.parametrize("kw, needle", [({"upper": 0.5}, "at least 1"), ({"upper": 3, "lower": 2}, "between 0 and 1")])
def test_trim_bad_bounds(kw, needle):
    with pytest.raises(InputError, match=needle):
        trim(np.ones(5), **kw)


# -- diagnostics ------------------------------------------------------------------------------
def test_kish_deff_and_effective_n_closed_form():
    w = np.array([1.0, 1.0, 2.0, 4.0, 0.0])
    # n = 4 positive weights, sum 8, sum of squares 22.
    assert kish_deff(w) == pytest.approx(4 * 22 / 64)
    assert effective_n(w) == pytest.approx(64 / 22)
    assert kish_deff(np.full(10, 3.0)) == pytest.approx(1.0)
    a = np.random.default_rng(0).lognormal(size=500)
    assert kish_deff(a) == pytest.approx(1 + (a.std() / a.mean()) ** 2)
    with pytest.raises(InputError):
        kish_deff([1.0, -1.0])


def test_diagnostics_table_and_report(sample):
    w = rake(sample, MARGINS)
    d = sv.diagnostics(sample, w, MARGINS)
    assert list(d.columns) == ["variable", "category", "code", "label", "n", "unweighted", "target", "achieved", "difference"]
    assert d.loc[d["category"] == "male", "label"].item() == "male"
    assert d["n"].sum() == 2 * len(sample)
    stats = d.attrs["weights"]
    assert stats["deff"] == pytest.approx(kish_deff(w)) and stats["n_eff"] == pytest.approx(effective_n(w))
    rep = sv.weight_report(sample, w, MARGINS)
    text = rep.summary()
    assert "deff" in text and "46.20" in text
    js = rep.to_dict()
    assert js["margins"][0]["variable"] == "sex" and js["deff"] == pytest.approx(stats["deff"])
    assert "<table>" in rep._repr_html_()


def test_rake_ignores_categories_of_zero_weight_rows(sample):
    """Excluded respondents (weight 0) may have a refused or missing category: they take no part."""
    odd = sample.assign(age=sample["age"].where(sample.index != 4, "refused"))
    odd.loc[5, "sex"] = np.nan
    odd.loc[[4, 5], "w"] = 0.0
    w = rake(odd, MARGINS, "w")
    assert w[4] == 0 and w[5] == 0
    clean = sample.drop(index=[4, 5])
    np.testing.assert_allclose(w.drop(index=[4, 5]), rake(clean, MARGINS, "w"), rtol=1e-10)
    assert sv.diagnostics(odd, w, MARGINS)["n"].sum() == 2 * (len(sample) - 2)
    # With a positive weight the same rows are an error.
    odd.loc[4, "w"] = 1.0
    with pytest.raises(InputError, match="refused"):
        rake(odd, MARGINS, "w")


def test_rake_integer_code_absent_from_data_is_named(sample):
    """Codes inside the data's range but absent from it, and codes outside it, are both reported."""
    coded = sample.assign(grp=np.where(sample.index % 2 == 0, 1, 3))
    with pytest.raises(InputError, match=r"category '2' of column 'grp' is not in the data; the data have: 1, 3"):
        rake(coded, {"grp": {"1": 0.4, "2": 0.2, "3": 0.4}})
    with pytest.raises(InputError, match=r"category '7' of column 'grp' is not in the data; the data have: 1, 3"):
        rake(coded, {"grp": {"1": 0.4, "7": 0.2, "3": 0.4}})
    coded.attrs["value_labels"] = {"grp": {1: "one", 2: "two", 3: "three"}}
    with pytest.raises(InputError, match=r"'two' of column 'grp' is not in the data; the data have: 1 \(one\), 3 \(three\)"):
        rake(coded, {"grp": {"one": 0.4, "two": 0.2, "three": 0.4}})


def test_trim_rejects_unknown_redistribution():
    with pytest.raises(InputError, match="redistribute must be"):
        trim(np.ones(5), upper=2, redistribute="spread")


@pytest.mark.parametrize(
    "codes",
    [[1, 2, 3], [3, 1, 2], [1, 2, 99], [-1, 0, 1], [0, 5, 2], [10, 11, 12]],
    ids=["consecutive", "unsorted", "gap", "negative", "lookup", "offset"],
)
def test_integer_fast_paths_agree_with_text_columns(codes):
    """Integer codes take the in-place (consecutive) or lookup-table path; text takes the hashing path."""
    rng = np.random.default_rng(5)
    n = 500
    a = rng.choice(codes, n, p=[0.5, 0.3, 0.2])
    b = rng.choice([1, 2], n)
    ints = pd.DataFrame({"a": a, "b": b})
    floats = ints.astype(float)
    text = ints.astype(str)
    shares = {"a": {codes[0]: 0.2, codes[1]: 0.3, codes[2]: 0.5}, "b": {2: 0.45, 1: 0.55}}
    expected = rake(text, {c: {str(k): v for k, v in t.items()} for c, t in shares.items()}, tol=1e-12)
    np.testing.assert_allclose(rake(ints, shares, tol=1e-12), expected, rtol=1e-10)
    np.testing.assert_allclose(rake(floats, shares, tol=1e-12), expected, rtol=1e-10)
    got = pd.Series(expected.to_numpy()).groupby(a).sum() / n
    assert got[codes[2]] == pytest.approx(0.5) and got[codes[0]] == pytest.approx(0.2)


def test_rake_astronomical_cell_space_uses_row_sorting():
    """12 margins of 40 categories: 40**12 combinations overflow int64 codes; rows are sorted instead."""
    rng = np.random.default_rng(9)
    n = 2000
    df = pd.DataFrame({f"v{j}": rng.integers(0, 40, n).astype(str) for j in range(12)})
    margins = {c: {k: 1 / 40 for k in map(str, range(40))} for c in df}
    w = rake(df, margins, tol=1e-9, max_iter=5000)
    for c in df:
        np.testing.assert_allclose(w.groupby(df[c]).sum() / n, 1 / 40, atol=1e-8)
