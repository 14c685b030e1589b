"""List-experiment and RR regressions by group (issue 14): the model is refitted in each group's domain.

Before, ``by=`` predicted every group's prevalence from the one overall model, so a difference
between the groups that the covariates do not carry vanished (38% vs 58% came out as 46% vs 47%).
Now each group is a domain of the design (R's ``svyby(~y, ~g, design, svyglm)``): its fit equals a
fit on the group's own respondents, its design-based SEs keep the full design, and a group with
too few respondents or a failed fit is reported as failed while the others stand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import expit

import sottovoce as sv

TRUTH = {0: 0.38, 1: 0.58}  # prevalence of the sensitive item among sex = 0 and sex = 1
J = 4


def simulate(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """A list experiment where the item depends on sex and age; the model's only covariate is age.

    The group intercepts are set so that the population prevalence is exactly ``TRUTH`` in each
    sex (age is standard normal in both)."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n)
    age = rng.normal(size=n)
    z = rng.random(n) < expit(np.where(sex == 1, _intercept(TRUTH[1]), _intercept(TRUTH[0])) + 0.8 * age)
    ys = rng.binomial(J, expit(0.1 - 0.3 * age + 0.2 * sex))
    t = rng.integers(0, 2, n)
    return pd.DataFrame({"y": ys + t * z, "t": t, "age": age, "sex": sex, "w": rng.uniform(0.5, 2.0, n),
                         "stratum": rng.integers(0, 4, n), "region": rng.choice(["north", "south", "east"], n)}).assign(
        psu=lambda f: f.stratum * 100 + rng.integers(0, 20, n))


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(80)  # E over age ~ N(0, 1)


def _intercept(p: float) -> float:
    return brentq(lambda a: float(_WEIGHTS @ expit(a + 0.8 * _NODES)) / np.sqrt(2 * np.pi) - p, -6, 6)


def _coefs(res: sv.Result, what: str = "coef") -> np.ndarray:
    return np.array([v[what] for part in res.coefficients.values() for v in part.values()])


# -- the defect: groups must recover their own prevalence ----------------------------------------
@pytest.mark.parametrize("method", ["lm", "nls", "ml"])
def test_groups_recover_their_prevalence(method):
    df = simulate()
    res = sv.list_experiment(df, "y", "t", J, method=method, covariates="age", by="sex")
    assert [g.level for g in res.groups] == [0, 1]
    for g in res.groups:
        lo, hi = g.ci
        assert lo <= TRUTH[g.level] <= hi, (g.level, g.estimate, g.ci)
        assert g.method == f"list-{method}" and g.coefficients  # each group has its own fit
    gap = res.groups[1].estimate - res.groups[0].estimate
    assert 0.1 < gap < 0.3  # the overall model's predictions differ by about one point
    assert any(n.startswith("by sex: the model is refitted in each group") for n in res.notes)
    assert res.details["by_model"] == "refit"


@pytest.mark.parametrize("method", ["lm", "ml"])
def test_overall_model_predictions_are_explicit_and_labelled(method):
    df = simulate()
    res = sv.list_experiment(df, "y", "t", J, method=method, covariates="age", by="sex", by_model="overall")
    assert all(g.method == f"list-{method}-overall-model" for g in res.groups)
    assert abs(res.groups[1].estimate - res.groups[0].estimate) < 0.05  # what by= used to report silently
    assert any("predicted from the overall model" in n for n in res.notes)
    assert res.details["by_model"] == "overall"
    with pytest.raises(sv.InputError, match="by_model"):
        sv.list_experiment(df, "y", "t", J, method=method, covariates="age", by="sex", by_model="pooled")
    with pytest.raises(sv.InputError, match="regressions"):
        sv.list_experiment(df, "y", "t", J, by="sex", by_model="overall")


# -- each group's fit is the fit on the group's respondents --------------------------------------
@pytest.mark.parametrize("method", ["lm", "nls", "ml"])
def test_group_fit_equals_fit_on_the_subset(method):
    df = simulate(3000, seed=3)
    res = sv.list_experiment(df, "y", "t", J, method=method, covariates="age + C(region)", weights="w", by="sex")
    for g in res.groups:
        sub = sv.list_experiment(df[df.sex == g.level], "y", "t", J, method=method, covariates="age + C(region)", weights="w")
        np.testing.assert_allclose(_coefs(g), _coefs(sub), rtol=0, atol=1e-8)
        np.testing.assert_allclose(_coefs(g, "se"), _coefs(sub, "se"), rtol=1e-8)  # no design: the fit's own SEs
        assert g.estimate == pytest.approx(sub.estimate, abs=1e-8)
        assert g.se == pytest.approx(sub.se, rel=1e-6)
        assert g.n == sub.n
        # the group's model predicts as the subset's does
        assert g.predict(avg=True).estimate == pytest.approx(sub.predict(avg=True).estimate, abs=1e-8)


@pytest.mark.parametrize("method", ["lm", "ml"])
def test_group_design_ses_are_domain_ses(method):
    """With strata and PSUs a group's SEs are those of the domain (full design), not of the subset
    taken as its own design."""
    df = simulate(3000, seed=4)
    df.loc[df.psu % 20 < 3, "sex"] = 1  # some PSUs without anyone of sex = 0
    svy = sv.Survey(df, weights="w", strata="stratum", psu="psu")
    res = sv.list_experiment(svy, "y", "t", J, method=method, covariates="age", se="design", by="sex")
    for g in res.groups:
        dom = sv.list_experiment(svy.domain(df.sex == g.level), "y", "t", J, method=method, covariates="age", se="design")
        sub = sv.list_experiment(df[df.sex == g.level], "y", "t", J, method=method, covariates="age", weights="w",
                                 strata="stratum", psu="psu", se="design")
        np.testing.assert_allclose(_coefs(g), _coefs(sub), rtol=0, atol=1e-8)
        np.testing.assert_allclose(_coefs(g, "se"), _coefs(dom, "se"), rtol=1e-10)
        assert (g.estimate, g.se, g.df) == pytest.approx((dom.estimate, dom.se, dom.df), rel=1e-10)
        if g.level == 0:  # the domain's variance counts the PSUs without group members (R's subset of a design)
            assert not np.allclose(_coefs(g, "se"), _coefs(sub, "se"), rtol=1e-6)


def test_joint_multi_item_ml_refits_in_each_group():
    rng = np.random.default_rng(77)
    df = simulate(4500, seed=7)
    t3 = rng.integers(0, 3, len(df))
    z2 = rng.random(len(df)) < np.where(df.sex == 1, 0.2, 0.5)
    df["t3"] = t3
    ys = rng.binomial(J, 0.4, len(df))
    z1 = rng.random(len(df)) < np.where(df.sex == 1, 0.6, 0.3)
    df["y3"] = ys + (t3 == 1) * z1 + (t3 == 2) * z2
    arms = {0: "control", 1: "item A", 2: "item B"}
    res = sv.list_experiment(df, "y3", "t3", J, method="ml", covariates="age", arms=arms, by="sex")
    for cat in res.categories:
        assert [g.level for g in cat.groups] == [0, 1]
    for level in (0, 1):
        sub = sv.list_experiment(df[df.sex == level], "y3", "t3", J, method="ml", covariates="age", arms=arms)
        for cat, sub_cat in zip(res.categories, sub.categories, strict=True):
            g = cat.groups[level]
            np.testing.assert_allclose(_coefs(g), _coefs(sub_cat), rtol=0, atol=1e-8)
            np.testing.assert_allclose(_coefs(g, "se"), _coefs(sub_cat, "se"), rtol=1e-6)
    item_a = {g.level: g.estimate for g in res.categories[0].groups}
    item_b = {g.level: g.estimate for g in res.categories[1].groups}
    assert item_a[1] - item_a[0] > 0.15 and item_b[0] - item_b[1] > 0.15
    over = sv.list_experiment(df, "y3", "t3", J, method="ml", covariates="age", arms=arms, by="sex", by_model="overall")
    assert all(g.method == "list-ml-overall-model" for c in over.categories for g in c.groups)
    assert any("predicted from the overall model" in n for n in over.notes)


# -- small groups and failed fits ----------------------------------------------------------------
def test_small_group_fails_with_reason_and_the_others_stand():
    df = simulate(3000, seed=5)
    df["grp"] = np.where(df.sex == 1, "b", "a")
    tiny = df.index[(df.t == 0)][:2].tolist() + df.index[(df.t == 1)][:40].tolist()
    df.loc[tiny, "grp"] = "tiny"          # 2 control respondents: fewer than the model's 2 coefficients + 1
    few = df.index[(df.t == 0)][2:22].tolist() + df.index[(df.t == 1)][40:60].tolist()
    df.loc[few, "grp"] = "few"            # 20 per arm: estimated, with a warning
    res = sv.list_experiment(df, "y", "t", J, method="lm", covariates="age", by="grp")
    by_label = {g.label: g for g in res.groups}
    assert by_label["tiny"].failed is not None and "too few respondents" in by_label["tiny"].failed
    assert "control group has 2" in by_label["tiny"].failed
    assert by_label["tiny"].estimate is None and by_label["tiny"].ci is None
    assert by_label["few"].failed is None and by_label["few"].ci is not None
    assert any(w.startswith("grp=few: ") and "very uncertain" in w for w in res.warnings)
    assert any(w.startswith("grp=tiny: not estimated: too few respondents") for w in res.warnings)
    for label in ("a", "b"):
        assert by_label[label].failed is None and by_label[label].estimate is not None


def test_group_where_a_covariate_is_constant_or_the_fit_fails():
    df = simulate(3000, seed=6)
    # region 'east' only among sex = 1: C(region) is collinear within sex = 0's arms
    df.loc[(df.sex == 0) & (df.region == "east"), "region"] = "north"
    res = sv.list_experiment(df, "y", "t", J, method="lm", covariates="age + C(region)", by="sex")
    g0, g1 = res.groups
    assert g0.failed == ("covariate 'C(region)[T.south]' is constant or collinear within the control group (in this group); "
                         "drop it or merge its categories")
    assert g1.failed is None and g1.coefficients
    assert res.warnings == (f"sex=0: not estimated: {g0.failed}",)
    # an ML fit that cannot be estimated in one group (its treated respondents count fewer items
    # than its controls: the sensitive model runs off to a zero share) fails there only
    df2 = simulate(3000, seed=8)
    treated = (df2.sex == 0) & (df2.t == 1)
    df2.loc[treated, "y"] = np.minimum(df2.loc[treated, "y"], 1)
    res2 = sv.list_experiment(df2, "y", "t", J, method="ml", covariates="age", by="sex")
    assert res2.estimate is not None
    assert res2.groups[0].failed.startswith("the ML fit is on the boundary")
    assert res2.groups[1].failed is None and TRUTH[1] - 0.1 < res2.groups[1].estimate < TRUTH[1] + 0.1
    assert f"sex=0: not estimated: {res2.groups[0].failed}" in res2.warnings


# -- the CLI names the groups ---------------------------------------------------------------------
def test_cli_names_groups_and_their_fits(cli, tmp_path):
    df = simulate(3000, seed=9)
    df["grp"] = df.sex.map({0: "men", 1: "women"})
    tiny = df.index[(df.t == 0)][:1].tolist() + df.index[(df.t == 1)][:5].tolist()
    df.loc[tiny, "grp"] = "tiny"
    path = tmp_path / "l.csv"
    df.to_csv(path, index=False)
    base = ["list", path, "--count", "y", "--treat", "t", "--items", str(J), "--method", "ml", "--model", "binomial",
            "--covariates", "age", "--by", "grp"]
    out = cli(*base)
    assert out.code == 0, out.err
    assert "coefficients: sensitive — grp=men" in out.out and "coefficients: sensitive — grp=women" in out.out
    assert "by grp: the model is refitted in each group" in out.out
    assert "grp=tiny" in out.out and "not estimated" in out.out
    assert "warning: grp=tiny: not estimated: too few respondents" in out.err
    js = cli(*base, "--json").json()
    groups = {g["label"]: g for g in js["groups"]}
    assert set(groups) == {"men", "tiny", "women"}
    assert groups["tiny"]["failed"].startswith("too few respondents")
    assert groups["men"]["method"] == "list-ml" and "sensitive" in groups["men"]["coefficients"]
    assert groups["women"]["estimate"] - groups["men"]["estimate"] > 0.1
    over = cli(*base, "--by-model", "overall", "--json").json()
    assert {g["method"] for g in over["groups"] if not g.get("failed")} == {"list-ml-overall-model"}
    assert any("predicted from the overall model" in n for n in over["notes"])
    bad = cli(*base, "--by-model", "pooled")
    assert bad.code == 2 and bad.err.startswith("error: --by-model 'pooled'")


# -- coverage -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_group_intervals_cover_under_a_stratified_cluster_design():
    """95% intervals of each group's prevalence (lm refitted per group, design SEs) cover the truth
    in 93–97% of 300 simulated samples."""
    hits = np.zeros(2)
    reps = 300
    for rep in range(reps):
        df = simulate(2000, seed=1000 + rep)
        res = sv.list_experiment(df, "y", "t", J, method="lm", covariates="age", weights="w", strata="stratum", psu="psu",
                                 se="design", by="sex")
        for g in res.groups:
            hits[g.level] += g.ci[0] <= TRUTH[g.level] <= g.ci[1]
    cover = hits / reps
    assert np.all((cover >= 0.925) & (cover <= 0.975)), cover


# -- randomized-response regressions get the same by= -------------------------------------------
def rr_simulate(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Forced-response answers (p = 2/3 answer truthfully, 1/6 forced yes) of the same trait."""
    df = simulate(n, seed)
    rng = np.random.default_rng(seed + 500)
    z = rng.random(n) < expit(np.where(df.sex == 1, _intercept(TRUTH[1]), _intercept(TRUTH[0])) + 0.8 * df.age)
    u = rng.random(n)
    df["rr"] = np.where(u < 2 / 3, z, u < 2 / 3 + 1 / 6).astype(int)
    return df


def test_rr_regression_refits_in_each_group():
    df = rr_simulate()
    res = sv.rr_regression(df, "rr", "age", "forced", p=2 / 3, p1=1 / 6, by="sex")
    assert [g.level for g in res.groups] == [0, 1]
    for g in res.groups:
        assert g.ci[0] <= TRUTH[g.level] <= g.ci[1], (g.level, g.estimate, g.ci)
        sub = sv.rr_regression(df[df.sex == g.level], "rr", "age", "forced", p=2 / 3, p1=1 / 6)
        np.testing.assert_allclose(_coefs(g), _coefs(sub), rtol=0, atol=1e-8)
        np.testing.assert_allclose(_coefs(g, "se"), _coefs(sub, "se"), rtol=1e-8)
        assert (g.estimate, g.se) == pytest.approx((sub.estimate, sub.se), rel=1e-8)
    assert res.groups[1].estimate - res.groups[0].estimate > 0.1
    assert any(n.startswith("by sex: the regression is refitted in each group") for n in res.notes)
    # the overall fit keeps its margins model (by= copies the result)
    assert [c.label for c in sv.predictive_margins(res, by="sex").categories] == ["sex=0", "sex=1"]


def test_rr_regression_by_with_a_design_and_a_small_group():
    df = rr_simulate(3000, seed=2)
    df.loc[df.psu % 20 < 3, "sex"] = 1
    df.loc[df.index[:2], "sex"] = 2  # two respondents: too few for two coefficients
    svy = sv.Survey(df, weights="w", strata="stratum", psu="psu")
    res = sv.rr_regression(svy, "rr", "age", "forced", p=2 / 3, p1=1 / 6, by="sex")
    g0, g1, g2 = res.groups
    for g in (g0, g1):
        dom = sv.rr_regression(svy.domain(df.sex == g.level), "rr", "age", "forced", p=2 / 3, p1=1 / 6)
        np.testing.assert_allclose(_coefs(g), _coefs(dom), rtol=0, atol=1e-10)
        np.testing.assert_allclose(_coefs(g, "se"), _coefs(dom, "se"), rtol=1e-10)
        assert (g.estimate, g.se, g.df) == pytest.approx((dom.estimate, dom.se, dom.df), rel=1e-10)
    assert g2.failed is not None and "2 complete rows for 2 coefficients" in g2.failed
    assert any(w.startswith("sex=2: not estimated") for w in res.warnings)


def test_cli_rr_covariates_by(cli, tmp_path):
    df = rr_simulate(3000, seed=3)
    path = tmp_path / "rr.csv"
    df.to_csv(path, index=False)
    out = cli("rr", path, "--response", "rr", "--design", "forced", "--p", "0.6666666666666666", "--p1", "0.16666666666666666",
              "--covariates", "age", "--by", "sex", "--json")
    assert out.code == 0, out.err
    groups = out.json()["groups"]
    assert [g["level"] for g in groups] == [0, 1] and all("sensitive" in g["coefficients"] for g in groups)
    text = cli("rr", path, "--response", "rr", "--design", "forced", "--p", "0.6666666666666666", "--p1", "0.16666666666666666",
               "--covariates", "age", "--by", "sex")
    assert "sex=0" in text.out and "sex=1" in text.out and "refitted in each group" in text.out
