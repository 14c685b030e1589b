"""Design-based GLMs, quantiles, ratios, contrasts and margins: properties, closed forms, bad input.

(Agreement with R is in test_glm_reference.py, interval coverage in test_glm_coverage.py.)
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.errors import DesignError, InputError, SottovoceWarning
from sottovoce.survey import Survey

pytestmark = pytest.mark.filterwarnings("ignore::sottovoce.errors.SottovoceWarning")


def sample(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 4, n)
    psu = stratum * 10 + rng.integers(0, 6, n)
    age = rng.normal(45, 15, n).round()
    region = rng.choice(["Kazan", "Moscow", "Omsk"], n)
    male = rng.integers(0, 2, n)
    eta = -0.5 + 0.03 * (age - 45) + 0.6 * (region == "Moscow") - 0.4 * male + rng.normal(0, 0.3, 30)[psu % 30]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    score = 50 + 0.4 * age + 5 * (region == "Omsk") + rng.normal(0, 8, n)
    return pd.DataFrame({"y": y, "score": score, "age": age, "region": region, "male": male, "w": rng.uniform(0.5, 3, n),
                         "stratum": stratum, "psu": psu, "count": rng.poisson(np.exp(0.5 + 0.01 * age))})


DF = sample()
SVY = Survey(DF, "w", "stratum", "psu")


# -- closed forms -------------------------------------------------------------------------------
def test_intercept_only_gaussian_is_the_design_mean():
    m = SVY.glm("score ~ 1")
    mean = SVY.mean("score")
    assert m.params["(Intercept)"] == pytest.approx(mean.estimate, rel=1e-12)
    assert m.bse["(Intercept)"] == pytest.approx(mean.se, rel=1e-10)
    assert m.df_resid == SVY.df


def test_intercept_only_logit_is_the_logit_of_the_share_with_delta_se():
    m = SVY.glm("y ~ 1", family="binomial")
    p = SVY.mean("y")
    assert 1 / (1 + np.exp(-m.coef[0])) == pytest.approx(p.estimate, rel=1e-10)
    assert m.bse.iloc[0] == pytest.approx(p.se / (p.estimate * (1 - p.estimate)), rel=1e-6)


def test_gaussian_coefficients_are_weighted_least_squares():
    m = SVY.glm("score ~ age + C(region)")
    X = np.column_stack([np.ones(len(DF)), DF.age, DF.region == "Moscow", DF.region == "Omsk"]).astype(float)
    w = DF.w.to_numpy()
    beta = np.linalg.solve((X * w[:, None]).T @ X, X.T @ (w * DF.score))
    np.testing.assert_allclose(m.coef, beta, rtol=1e-10)
    assert m.terms == ("(Intercept)", "age", "C(region)[T.Moscow]", "C(region)[T.Omsk]")


def test_binomial_and_quasibinomial_agree_and_match_statsmodels_point_estimates():
    import statsmodels.api as smapi

    a = SVY.glm("y ~ age + male", family="binomial")
    b = SVY.glm("y ~ age + male", family="quasibinomial")
    np.testing.assert_allclose(a.coef, b.coef)
    np.testing.assert_allclose(a.bse, b.bse)
    X = smapi.add_constant(DF[["age", "male"]].astype(float))
    ref = smapi.GLM(DF.y, X, family=smapi.families.Binomial(), var_weights=DF.w).fit(tol=1e-12)
    np.testing.assert_allclose(a.coef, ref.params.to_numpy(), rtol=1e-6)


def test_numeric_average_marginal_effect_of_a_linear_model_is_its_coefficient():
    m = SVY.glm("score ~ age + C(region)")
    ame = m.marginal_effects("age")
    assert ame.coef[0] == pytest.approx(m.params["age"], rel=1e-7)
    assert ame.bse.iloc[0] == pytest.approx(m.bse["age"], rel=1e-6)


def test_categorical_effect_is_a_contrast_of_predictive_margins():
    m = SVY.glm("y ~ age + C(region)", family="binomial")
    pm = m.margins(at="region")
    ame = m.marginal_effects("region")
    c = pm.contrast({"region=Moscow": 1, "region=Kazan": -1})
    assert ame.coef[0] == pytest.approx(c.estimate, rel=1e-12) and ame.bse.iloc[0] == pytest.approx(c.se, rel=1e-10)
    lo, hi = pm.conf_int().min().min(), pm.conf_int().max().max()
    assert 0 <= lo and hi <= 1  # shares: logit-scale intervals


def test_margins_without_groups_average_the_predictions():
    m = SVY.glm("y ~ age + C(region)", family="binomial")
    pm = m.margins()
    assert pm.coef[0] == pytest.approx(np.average(m.predict(), weights=DF.w), rel=1e-12)
    # the fitted logistic model reproduces the weighted share exactly (score equations)
    assert pm.coef[0] == pytest.approx(SVY.mean("y").estimate, rel=1e-8)


def test_margins_difference_of_a_model_with_itself_is_zero():
    m = SVY.glm("y ~ age", family="binomial")
    d = sv.margins_difference(m, m, by="region")
    np.testing.assert_allclose(d.coef, 0, atol=1e-15)
    np.testing.assert_allclose(d.bse, 0, atol=1e-12)


def test_ratio_of_a_variable_to_one_is_its_mean():
    df = DF.assign(one=1.0)
    s = Survey(df, "w", "stratum", "psu")
    r, m = s.ratio("score", "~one"), s.mean("score")
    assert r.estimate == pytest.approx(m.estimate, rel=1e-12) and r.se == pytest.approx(m.se, rel=1e-10)


def test_equal_weight_quantile_is_the_inverse_empirical_distribution():
    s = Survey(DF)
    for p in (0.1, 0.25, 0.5, 0.9):
        assert s.quantile("score", p).estimate == np.quantile(DF.score, p, method="inverted_cdf")


def test_a_quantile_row_has_one_name():
    """Quantile rows read "0.25 25%" (the code and a percentage that looks like a share); now one name."""
    from sottovoce.quantile import quantile_label

    text = SVY.quantile("score", [0.25, 0.5, 0.975], by="region").summary()
    rows = [line.split("  ")[0] for line in text.splitlines()[2:] if not line.startswith("95% CI")]
    assert rows[:3] == ["25th percentile", "median", "97.5th percentile"], text
    assert "region=Kazan: 25th percentile" in rows and not any("%" in r for r in rows), text
    assert "Woodruff (1952)" in text
    assert [quantile_label(p) for p in (0.01, 0.02, 0.03, 0.11, 0.12, 0.21, 0.9)] == [
        "1st percentile", "2nd percentile", "3rd percentile", "11th percentile", "12th percentile", "21st percentile",
        "90th percentile"]
    one = SVY.quantile("score", 0.25)
    assert one.code == 0.25 and one.label == "25th percentile"  # the code stays for machines


def test_domain_means_match_mean_by_and_contrasts_follow():
    means = SVY.means("score", by="region")
    by = SVY.mean("score", by="region")
    np.testing.assert_allclose(means.coef, [g.estimate for g in by.groups], rtol=1e-12)
    np.testing.assert_allclose(means.bse, [g.se for g in by.groups], rtol=1e-10)
    diff = means.contrast({"Moscow": 1, "Kazan": -1})
    V = means.vcov
    assert diff.se == pytest.approx(np.sqrt(V[1, 1] + V[0, 0] - 2 * V[0, 1]), rel=1e-12)
    assert diff.estimate == pytest.approx(means.coef[1] - means.coef[0])


def test_subset_by_expression_is_a_domain_of_the_full_design():
    sub = SVY.subset("age >= 40 & region == 'Moscow'")
    manual = SVY.domain((DF.age >= 40) & (DF.region == "Moscow"))
    a, b = sub.mean("score"), manual.mean("score")
    assert (a.estimate, a.se) == (b.estimate, b.se)
    assert SVY.subset("region %in% c('Moscow', 'Omsk')").n == int(DF.region.isin(["Moscow", "Omsk"]).sum())


def test_formula_style_variable_names():
    a, b = SVY.mean("~score", by="~region"), SVY.mean("score", by="region")
    assert a.estimate == b.estimate and [g.se for g in a.groups] == [g.se for g in b.groups]


def test_two_stage_design_adds_the_second_stage_variance():
    df = DF.assign(ssu=np.arange(len(DF)) % 3, N1=12, N2=50)
    one = Survey(df, "w", "stratum", "psu", fpc="N1").mean("score")
    two = Survey(df, "w", "stratum", ["psu", "ssu"], fpc=["N1", "N2"]).mean("score")
    assert two.estimate == one.estimate and two.se > one.se


def test_by_refits_the_model_in_each_level_as_svyby():
    m = SVY.glm("score ~ age + male", by="~region")
    assert [g.level for g in m.groups] == ["Kazan", "Moscow", "Omsk"]
    for g in m.groups:
        alone = SVY.domain(DF.region == g.level).glm("score ~ age + male")
        np.testing.assert_array_equal(g.coef, alone.coef)
        np.testing.assert_array_equal(g.bse, alone.bse)
    frame = m.to_frame()
    assert frame.index.names == ["group", "term"] and frame.loc[("region=Omsk", "age"), "coef"] == m.groups[2].params["age"]
    assert frame.loc["all"].equals(SVY.glm("score ~ age + male").to_frame())
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d["by"] == "region" and set(d["groups"][1]["coefficients"]["model"]) == {"(Intercept)", "age", "male"}
    text = m.summary()
    assert "coefficients: region=Moscow" in text and text.count("P>|t|") == 4


def test_by_keeps_the_other_levels_when_one_cannot_be_fitted():
    df = DF.assign(tiny=np.where(np.arange(len(DF)) < 3, "few", "many"))
    with pytest.warns(SottovoceWarning, match="tiny=few: not estimated"):
        m = Survey(df, "w", "stratum", "psu").glm("score ~ age + male + C(region)", by="tiny")
    few, many = m.groups
    assert few.failed and "coefficients" in many.to_dict() and "tiny=few: not estimated" in m.summary()
    assert list(m.to_frame().index.get_level_values("group").unique()) == ["all", "tiny=many"]


def test_by_any_statistic_by_name_or_function():
    a = SVY.by("region", "quantile", "score", [0.25, 0.5])
    b = SVY.by("~region", lambda s: s.quantile("score", [0.25, 0.5]))
    assert [c.estimate for g in a.groups for c in g.categories] == [c.estimate for g in b.groups for c in g.categories]
    r = SVY.ratio("score", "age", by="region")
    for g in r.groups:
        alone = SVY.domain(DF.region == g.level).ratio("score", "age")
        assert (g.estimate, g.se) == (alone.estimate, alone.se)
    with pytest.raises(InputError, match="statistic='rake' is not an estimator"):
        SVY.by("region", "rake")
    with pytest.raises(InputError, match="statistic=.quantile. with these arguments"):
        SVY.by("region", "quantile", "score", bogus=1)
    with pytest.raises(InputError, match="not a result"):
        SVY.by("region", lambda s: 1.0)
    with pytest.raises(InputError, match="nope"):
        SVY.glm("score ~ age", by="nope")


# -- properties ---------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100), family=st.sampled_from(["gaussian", "quasibinomial", "poisson"]))
def test_invariant_to_row_order_and_weight_scale(seed, scale, family):
    df = sample(300, seed)
    outcome = {"gaussian": "score", "quasibinomial": "y", "poisson": "count"}[family]
    f = f"{outcome} ~ age + C(region) + male"
    base = Survey(df, "w", "stratum", "psu").glm(f, family)
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = Survey(df.iloc[perm].reset_index(drop=True), "w", "stratum", "psu").glm(f, family)
    scaled = Survey(df.assign(w=df.w * scale), "w", "stratum", "psu").glm(f, family)
    for other in (shuffled, scaled):
        np.testing.assert_allclose(other.coef, base.coef, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(other.bse, base.bse, rtol=1e-6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), family=st.sampled_from(["gaussian", "quasibinomial"]), cut=st.floats(0.2, 0.8))
def test_by_levels_are_domain_fits_and_one_level_is_the_whole_sample(seed, family, cut):
    df = sample(300, seed)
    df = df.assign(one="all", half=np.where(np.random.default_rng(seed).random(len(df)) < cut, "a", "b"))
    s = Survey(df, "w", "stratum", "psu")
    f = ("score" if family == "gaussian" else "y") + " ~ age + male"
    whole = s.glm(f, family)
    (only,) = s.glm(f, family, by="one").groups
    np.testing.assert_array_equal(only.coef, whole.coef)
    np.testing.assert_array_equal(only.bse, whole.bse)
    for g in s.glm(f, family, by="half").groups:
        alone = s.subset(f"half == '{g.level}'").glm(f, family)
        np.testing.assert_array_equal(g.bse, alone.bse)
        assert g.n == int((df.half == g.level).sum())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.05, 0.95))
def test_quantile_interval_contains_the_estimate_and_ignores_row_order(seed, p):
    df = sample(200, seed)
    s = Survey(df, "w", "stratum", "psu")
    q = s.quantile("score", p)
    q2 = Survey(df.iloc[::-1].reset_index(drop=True), "w", "stratum", "psu").quantile("score", p)
    assert q.estimate == q2.estimate
    lo, hi = q.ci
    assert not (lo > q.estimate) and not (hi < q.estimate)


# -- results as statsmodels users expect --------------------------------------------------------
def test_result_accessors_summary_frame_html_and_json():
    m = SVY.glm("y ~ age + C(region)", family="binomial")
    assert list(m.params.index) == list(m.terms) and m.conf_int().shape == (4, 2)
    np.testing.assert_allclose(m.tvalues, m.params / m.bse)
    text = m.summary()
    for head in ("coef", "std err", "P>|t|", "[0.025", "0.975]", "Family", "binomial", "logit", "Design df", "Iterations",
                 "Converged: yes", "600 respondents", "odds ratios"):
        assert head in text
    frame = m.to_frame()
    assert list(frame.columns) == ["coef", "se", "t", "p", "ci_low", "ci_high"]
    assert "<table>" in m._repr_html_() and "std err" in m._repr_html_()
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    term = d["coefficients"]["model"]["C(region)[T.Moscow]"]
    assert set(term) >= {"coef", "se", "statistic", "p_value", "ci"} and d["family"] == "binomial" and "odds_ratios" in d
    assert d["df_resid"] == m.df_resid and len(d["vcov"]) == 4
    orat = m.odds_ratios()
    np.testing.assert_allclose(orat["odds_ratio"], np.exp(m.params))
    np.testing.assert_allclose(orat["ci_low"], np.exp(m.conf_int()[0]))
    t = m.wald_test("region")
    assert "F =" in t.summary() and t.details["df"] == 2 and 0 <= t.details["p_value"] <= 1
    json.dumps(t.to_dict(), allow_nan=False)
    assert "Wald test: region = 0" in m.with_tests("region").summary()
    for r in (m.margins(by="region"), m.marginal_effects(), SVY.means("score", by="region"), SVY.quantile("score", [0.25, 0.5]),
              SVY.ratio("score", "age")):
        json.dumps(r.to_dict(), allow_nan=False)
        assert r.summary()


# -- bad input ----------------------------------------------------------------------------------
def test_formula_naming_a_missing_column():
    with pytest.raises(InputError, match="'regoin'"):
        SVY.glm("y ~ age + C(regoin)")


def test_non_binary_outcome_for_binomial():
    with pytest.raises(InputError, match="0/1"):
        SVY.glm("count ~ age", family="binomial")
    with pytest.raises(InputError, match="categories"):
        Survey(DF.assign(r3=DF.region)).glm("r3 ~ age", family="binomial")


def test_text_outcome_with_two_levels_follows_r():
    df = DF.assign(ans=np.where(DF.y == 1, "yes", "no"))
    m = Survey(df, "w", "stratum", "psu").glm("ans ~ age", family="binomial")
    np.testing.assert_allclose(m.coef, SVY.glm("y ~ age", family="binomial").coef, rtol=1e-12)
    assert any("'yes' is coded 1" in w for w in m.warnings)


def test_perfect_separation_is_a_clear_error():
    df = DF.assign(y=(DF.region == "Moscow").astype(int))
    with pytest.raises(DesignError, match="separation.*Moscow"):
        Survey(df, "w").glm("y ~ age + C(region)", family="binomial")


def test_singular_design_names_the_collinear_term():
    df = DF.assign(age2=DF.age * 2 + 1)
    with pytest.raises(InputError, match="'age2'.*collinear"):
        Survey(df, "w").glm("score ~ age + age2")
    with pytest.raises(InputError, match="collinear"):
        Survey(DF.assign(k=1.0), "w").glm("score ~ age + k")


def test_too_few_psus_for_the_model_warns_and_gives_no_p_values():
    df = DF[DF.stratum == 0].copy()
    s = Survey(df, "w", psu="psu")  # 6 PSUs: 5 df
    with pytest.warns(SottovoceWarning, match="degrees of freedom"):
        m = s.glm("score ~ age + C(region) + male + I(age**2)")
    assert m.df_resid <= 0 and np.isnan(m.pvalues).all()
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d["coefficients"]["model"]["age"]["p_value"] is None


def test_bad_subset_and_quantile_inputs():
    with pytest.raises(InputError, match="'agge'"):
        SVY.subset("agge > 3")
    with pytest.raises(InputError, match="true/false"):
        SVY.subset("age + 1")
    with pytest.raises(InputError, match="between 0 and 1"):
        SVY.quantile("score", 1.5)
    with pytest.raises(InputError, match="not numeric"):
        SVY.quantile("region", 0.5)


def test_missing_values_are_a_domain_as_in_r():
    df = DF.copy()
    df.loc[::7, "age"] = np.nan
    s = Survey(df, "w", "stratum", "psu")
    with pytest.warns(SottovoceWarning, match="left out"):
        m = s.glm("score ~ age")
    dom = Survey(df, "w", "stratum", "psu").domain(df.age.notna())
    m2 = dom.glm("score ~ age")
    np.testing.assert_allclose(m.bse, m2.bse, rtol=1e-12)
    assert m.n == int(df.age.notna().sum())


def test_missing_category_is_not_taken_as_the_reference_level():
    df = DF.copy()
    df.loc[:9, "region"] = None
    m = Survey(df, "w").glm("score ~ C(region)")
    assert m.n == len(df) - 10


# -- list experiment and randomized response: the same margins tools ---------------------------
def indirect_sample(n: int = 3000, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.choice(["18-34", "35-54", "55+"], n)
    older = (age == "55+").astype(float)
    trait = rng.random(n) < 1 / (1 + np.exp(-(-0.6 + 1.0 * older)))
    direct = (trait & (rng.random(n) < 0.7)).astype(int)  # 30% of holders hide it
    t = rng.integers(0, 2, n)
    count = rng.binomial(3, 0.4, n) + t * trait
    die = rng.integers(1, 7, n)
    rr = np.where(die == 1, 1, np.where(die == 6, 0, trait.astype(int)))
    psu = rng.integers(0, 60, n)
    return pd.DataFrame({"age": age, "direct": direct, "t": t, "count": count, "rr": rr, "w": rng.uniform(0.5, 2, n), "psu": psu})


def test_list_and_rr_regressions_give_margins_consistent_with_their_prevalence():
    df = indirect_sample()
    s = Survey(df, "w", psu="psu")
    lst = sv.list_experiment(s, "count", "t", 3, method="ml", covariates="C(age)", se="design")
    pm = sv.predictive_margins(lst)
    assert pm.coef[0] == pytest.approx(lst.estimate, rel=1e-10) and pm.bse.iloc[0] == pytest.approx(lst.se, rel=1e-8)
    rr = sv.rr_regression(df, "rr", "C(age)", "forced", p=4 / 6, p1=1 / 6, p0=1 / 6)
    delta = sv.predictive_margins(rr, vce="unconditional")  # no design: falls back to the delta method
    assert "delta" in delta.details["vce"]
    assert delta.coef[0] == pytest.approx(rr.estimate, rel=1e-10) and delta.bse.iloc[0] == pytest.approx(rr.se, rel=1e-8)
    by = sv.predictive_margins(lst, by="age")
    assert by.terms == ("age=18-34", "age=35-54", "age=55+") and (by.coef[2] > by.coef[0])


def test_who_hides_it_is_one_call_with_the_joint_covariance():
    df = indirect_sample(6000)
    s = Survey(df, "w", psu="psu")
    direct = s.glm("direct ~ C(age)", family="binomial")
    rr = sv.rr_regression(s, "rr", "C(age)", "forced", p=4 / 6, p1=1 / 6, p0=1 / 6)
    gap = sv.margins_difference(rr, direct, by="age")
    assert gap.details["vce"] == "unconditional (joint)"
    assert (gap.coef > 0).all()  # the planted 30% who hide it
    # the joint SE uses the positive covariance of the two answers of one respondent
    a = sv.predictive_margins(rr, by="age")
    b = direct.margins(by="age")
    independent = np.sqrt(a.bse.to_numpy() ** 2 + b.bse.to_numpy() ** 2)
    assert (gap.bse.to_numpy() < independent).all()


# -- CLI ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("glm") / "d.csv"
    DF.to_csv(p, index=False)
    return p


def test_cli_regress_text_and_json(cli, data_file):
    r = cli("regress", data_file, "--formula", "y ~ age + C(region)", "--family", "binomial", "--weights", "w",
            "--strata", "stratum", "--psu", "psu", "--test", "C(region)", "--predict-by", "region", "--effects")
    assert r.code == 0, r.err
    for text in ("std err", "odds ratios", "Wald test", "Predictive margins", "Average marginal effects"):
        assert text in r.out
    j = cli("regress", data_file, "--formula", "y ~ age + C(region)", "--family", "binomial", "--weights", "w",
            "--strata", "stratum", "--psu", "psu", "--test", "region", "--json")
    assert j.code == 0, j.err
    d = j.json()
    assert d["coefficients"]["model"]["age"]["coef"] == pytest.approx(SVY.glm("y ~ age + C(region)", "binomial").params["age"])
    assert d["tests"]["region"]["df"][0] == 2 and d["family"] == "binomial"
    b = cli("regress", data_file, "--formula", "score ~ age", "--weights", "w", "--strata", "stratum", "--psu", "psu",
            "--by", "region", "--json")
    assert b.code == 0, b.err
    groups = b.json()["groups"]
    assert [g["level"] for g in groups] == ["Kazan", "Moscow", "Omsk"]
    assert groups[1]["coefficients"]["model"]["age"]["se"] == pytest.approx(SVY.subset("region == 'Moscow'").glm("score ~ age").bse["age"])
    t = cli("regress", data_file, "--formula", "score ~ age", "--weights", "w", "--by", "region")
    assert t.code == 0 and "coefficients: region=Omsk" in t.out


@pytest.mark.parametrize(("args", "message"), [
    (["--formula", "y ~ agee"], "agee"),
    (["--formula", "count ~ age", "--family", "binomial"], "0/1"),
    (["--formula", "y ~ age", "--family", "logistic"], "logistic"),
    (["--formula", "y ~ age", "--subset", "nope == 1"], "nope"),
    (["--formula", "y ~ age", "--test", "C(region)"], "not a term"),
])
def test_cli_regress_bad_input_is_one_line_exit_2(cli, data_file, args, message):
    r = cli("regress", data_file, *args)
    assert r.code == 2 and r.err.startswith("error:") and message in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_cli_regress_perfect_separation_exit_2(cli, tmp_path):
    p = tmp_path / "sep.csv"
    DF.assign(y=(DF.region == "Moscow").astype(int)).to_csv(p, index=False)
    r = cli("regress", p, "--formula", "y ~ C(region)", "--family", "binomial")
    assert r.code == 2 and "separation" in r.err


def test_no_warning_leaks_as_traceback():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        SVY.glm("y ~ age", family="binomial").marginal_effects()


@settings(max_examples=30, deadline=None)
@given(cols=st.lists(st.sampled_from(["age", "male", "score", "count", "w"]), min_size=1, max_size=5, unique=True))
def test_plain_numeric_fast_path_is_formulaics_model_matrix(cols):
    from formulaic import model_matrix

    from sottovoce.modelframe import model_frame

    df = DF.copy()
    df.loc[::11, "score"] = np.nan
    mf = model_frame("y ~ " + " + ".join(cols), df)
    assert mf.spec is None  # the fast path was taken
    ref = model_matrix(" + ".join(cols), df, na_action="ignore")
    assert mf.names == tuple("(Intercept)" if c == "Intercept" else c for c in ref.columns)
    np.testing.assert_array_equal(mf.X, np.asarray(ref, dtype=float))
    np.testing.assert_array_equal(mf.matrix(df.iloc[:7]), mf.X[:7])


def test_readme_regression_example_runs_and_says_what_it_prints():
    """The Python block of README's "Regression and other R survey verbs" runs from a clone."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    section = text.split("## Regression and other R survey verbs", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        env: dict = {}
        exec(compile(code, "README", "exec"), env)
    finally:
        os.chdir(cwd)
    assert env["direct"].wald_test("age_group").details["F"] == pytest.approx(21.13, abs=0.01)
    gap = sv.margins_difference(env["rr"], env["direct"], by="age_group")
    assert gap.details["vce"] == "unconditional (joint)"
    np.testing.assert_allclose(gap.coef, [-0.112, -0.086, -0.038], atol=0.001)
    q = env["dclus2"].quantile("api00", [0.25, 0.5, 0.75])
    assert [c.estimate for c in q.categories] == [545, 653, 807]


def test_margins_at_a_numeric_variable_is_a_clear_error_and_fitted_values_align():
    m = SVY.glm("y ~ age + C(region)", family="binomial")
    with pytest.raises(InputError, match="marginal_effects"):
        m.margins(at="age")
    fitted = m.fittedvalues
    assert fitted.index.equals(DF.index)
    np.testing.assert_allclose(fitted.to_numpy(), m.predict(), rtol=1e-12)


def test_readme_regress_command_runs(cli, monkeypatch):
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text().split("## Regression and other R survey verbs", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    command = re.sub(r"\\\n\s*", " ", block).strip()
    monkeypatch.chdir(root)
    r = cli(*shlex.split(command)[1:])
    assert r.code == 0, r.err
    assert "Wald test: age_group = 0" in r.out and "F = 20.97" in r.out and "odds ratio" in r.out
