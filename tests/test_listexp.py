"""List experiments: closed forms, simulation with known truth, EM monotonicity, properties, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import sottovoce as sv
from sottovoce.errors import ConvergenceError, DesignError, InputError
from sottovoce.listexp import design_test as dt
from sottovoce.listexp.ml import MLModel, fit_ml


def simulate(n=2000, seed=0, J=3, delta=(-0.5, 0.8, -0.4), psi=(0.2, -0.3, 0.5), arms=1):
    rng = np.random.default_rng(seed)
    age = rng.normal(size=n)
    male = rng.integers(0, 2, n)
    X = np.c_[np.ones(n), age, male]
    z = rng.random(n) < 1 / (1 + np.exp(-(X @ np.asarray(delta))))
    ys = rng.binomial(J, 1 / (1 + np.exp(-(X @ np.asarray(psi)))))
    t = rng.integers(0, arms + 1, n)
    return pd.DataFrame({"y": ys + (t > 0) * z, "t": t, "age": age, "male": male, "w": rng.uniform(0.5, 2.0, n),
                         "region": rng.choice(["north", "south", "east"], n), "D": (z & (rng.random(n) < 0.5)).astype(int)})


# -- difference in means ------------------------------------------------------------------------
def test_dim_and_se_match_hand_computation():
    df = simulate(500, seed=1)
    res = sv.list_experiment(df, "y", "t", 3, weights="w")
    y, t, w = df.y.to_numpy(float), df.t.to_numpy(), df.w.to_numpy()
    mT = (w * y)[t == 1].sum() / w[t == 1].sum()
    mC = (w * y)[t == 0].sum() / w[t == 0].sum()
    u = np.where(t == 1, (y - mT) / w[t == 1].sum(), -(y - mC) / w[t == 0].sum())
    n = len(y)
    se = np.sqrt(n / (n - 1) * np.sum((w * u) ** 2))
    assert res.estimate == pytest.approx(mT - mC, abs=1e-12)
    assert res.se == pytest.approx(se, rel=1e-10)
    lo, hi = res.ci
    # the one interval rule: t on the design df (respondents − 1 without PSUs), within [0, 1]
    tq = scipy_stats.t.ppf(0.975, n - 1)
    assert (lo, hi) == pytest.approx((max(mT - mC - tq * se, 0), min(mT - mC + tq * se, 1)), rel=1e-9)
    assert res.ci_method == "t-truncated" and res.df == n - 1
    # unweighted: close to the textbook s_T^2/n_T + s_C^2/n_C
    r0 = sv.list_experiment(df, "y", "t", 3)
    welch = np.sqrt(df.y[df.t == 1].var() / (t == 1).sum() + df.y[df.t == 0].var() / (t == 0).sum())
    assert r0.se == pytest.approx(welch, rel=0.01)


def test_dim_by_group_and_several_items():
    df = simulate(1500, seed=2, arms=2)
    with pytest.raises(InputError, match="name them"):  # three arms are never guessed (issue 12)
        sv.list_experiment(df, "y", "t", 3)
    res = sv.list_experiment(df, "y", "t", 3, arms={0: "control", 1: "item A", 2: "item B"})
    assert [c.code for c in res.categories] == [1, 2]
    assert [c.label for c in res.categories] == ["item A", "item B"]
    by = sv.list_experiment(df[df.t < 2], "y", "t", 3, by="male")
    assert [g.level for g in by.groups] == [0, 1]
    sub = df[(df.t < 2) & (df.male == 1)]
    assert by.groups[1].estimate == pytest.approx(sub.y[sub.t == 1].mean() - sub.y[sub.t == 0].mean(), abs=1e-12)


# -- ML -----------------------------------------------------------------------------------------
def test_ml_recovers_planted_coefficients():
    df = simulate(30000, seed=3)
    res = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age + male")
    truth = {"sensitive": (-0.5, 0.8, -0.4), "control": (0.2, -0.3, 0.5)}
    for part, values in truth.items():
        for (term, v), true in zip(res.coefficients[part].items(), values, strict=False):
            assert abs(v["coef"] - true) < 4 * v["se"], (part, term)
    assert res.coefficients["sensitive"]["(Intercept)"]["se"] < 0.2


@pytest.mark.parametrize("kw", [{}, {"constrained": False}, {"ceiling": True, "floor": True}])
def test_em_loglik_never_decreases(kw):
    df = simulate(1500, seed=4)
    X = np.c_[np.ones(len(df)), df.age, df.male]
    model = MLModel(y=df.y.to_numpy(float), t=df.t.to_numpy(), X=X, terms=["(Intercept)", "age", "male"], J=3, wt=df.w.to_numpy(), **kw)
    theta = model.start()
    lls = [model.loglik(theta)]
    for _ in range(60):
        theta = model.em_step(theta)
        lls.append(model.loglik(theta))
    assert np.all(np.diff(lls) >= -1e-9 * abs(lls[0]))
    assert lls[-1] > lls[0]


def test_ml_fit_trace_is_monotone_and_score_zero():
    df = simulate(1500, seed=5)
    X = np.c_[np.ones(len(df)), df.age, df.male]
    model = MLModel(y=df.y.to_numpy(float), t=df.t.to_numpy(), X=X, terms=["a", "b", "c"], J=3, wt=np.ones(len(df)))
    fit = fit_ml(model)
    assert np.all(np.diff(fit.trace) >= -1e-9)
    assert np.max(np.abs(model.score(fit.theta))) < 1e-5


@pytest.mark.parametrize("kw", [{}, {"constrained": False}, {"ceiling": True, "floor": True}])
def test_analytic_hessian_matches_finite_differences(kw):
    df = simulate(800, seed=15)
    X = np.c_[np.ones(len(df)), df.age, df.male]
    model = MLModel(y=df.y.to_numpy(float), t=df.t.to_numpy(), X=X, terms=["a", "b", "c"], J=3, wt=df.w.to_numpy(), **kw)
    theta = model.start() + 0.1
    ll, g, H = model.derivatives(theta)
    np.testing.assert_allclose(H, model.hessian_fd(theta), rtol=1e-5, atol=1e-6 * np.abs(H).max())
    np.testing.assert_allclose(g, model.score(theta), rtol=1e-10, atol=1e-10)
    assert ll == pytest.approx(model.loglik(theta))


def test_ml_unconstrained_and_multi_item_labels():
    df = simulate(3000, seed=6, arms=2)
    res = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age + C(region)", arms={0: "control", 1: "a", 2: "b"})
    for cat in res.categories:
        assert list(cat.coefficients) == ["sensitive", "control"]
        assert list(cat.coefficients["sensitive"]) == ["(Intercept)", "age", "C(region)[T.north]", "C(region)[T.south]"]
    u = sv.list_experiment(df[df.t < 2], "y", "t", 3, method="ml", constrained=False)
    assert list(u.coefficients) == ["sensitive", "control.psi0", "control.psi1"]


def test_predict_average_and_individual():
    df = simulate(2000, seed=7)
    res = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age + male")
    p = res.predict()
    assert p.shape == (len(df),) and ((p > 0) & (p < 1)).all()
    avg = res.predict(avg=True)
    assert avg.estimate == pytest.approx(res.estimate)
    new = df.assign(male=1)
    assert res.predict(new, avg=True).estimate != pytest.approx(res.estimate)


def test_ml_design_se_and_weights_scale_invariance():
    df = simulate(2000, seed=8)
    a = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age", weights="w", se="design")
    b = sv.list_experiment(df.assign(w=df.w * 7.3), "y", "t", 3, method="ml", covariates="age", weights="w", se="design")
    assert a.estimate == pytest.approx(b.estimate, rel=1e-7)
    assert a.se == pytest.approx(b.se, rel=1e-6)


def test_ceiling_floor_shares_reported():
    df = simulate(4000, seed=9)
    rng = np.random.default_rng(0)
    lie = (df.t == 1) & (df.y == 4) & (rng.random(len(df)) < 0.5)
    df.loc[lie, "y"] = 3
    res = sv.list_experiment(df, "y", "t", 3, method="ml", ceiling=True)
    assert 0 < res.details["ceiling_liars_conditional"] < 1
    assert np.isfinite(res.coefficients["ceiling"]["(Intercept)"]["se"])


# -- design-effect test ---------------------------------------------------------------------------
def test_design_test_flags_design_effect_and_passes_clean():
    clean = simulate(3000, seed=10)
    assert sv.list_design_test(clean, "y", "t", 3).details["design_effect"] is False
    bad = clean.copy()
    hit = (bad.t == 1) & (bad.y >= 3)
    bad.loc[hit, "y"] -= 2  # adding the item makes high counters drop two control items
    r = sv.list_design_test(bad, "y", "t", 3)
    assert r.details["design_effect"] is True and r.estimate < 0.01
    assert r.details["verdict"].startswith("design effect detected")


def test_chibar_closed_form_matches_simulation():
    cov = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.4], [-0.2, 0.4, 1.0]])
    closed = dt._chibar_weights(cov, 0, 0)
    rng = np.random.default_rng(1)
    draws = rng.multivariate_normal(np.zeros(3), cov, size=200_000)
    _, active = dt._orthant_distance(draws, cov, np.linalg.inv(cov))
    sim = np.bincount(active, minlength=4) / len(draws)
    np.testing.assert_allclose(closed, sim, atol=0.005)
    assert closed.sum() == pytest.approx(1.0)


def test_orthant_distance_matches_qp():
    from scipy.optimize import minimize

    cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.5]])
    Si = np.linalg.inv(cov)
    x = np.array([-0.5, 0.8, -1.2])
    dist, _ = dt._orthant_distance(x[None], cov, Si)
    r = minimize(lambda b: (x - b) @ Si @ (x - b), np.ones(3), bounds=[(0, None)] * 3, method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-12})
    assert dist[0] == pytest.approx(r.fun, rel=1e-6)


def test_weighted_design_test_runs():
    df = simulate(2000, seed=11)
    r = sv.list_design_test(df, "y", "t", 3, weights="w")
    assert r.details["weighted"] and 0 <= r.estimate <= 1
    assert len(r.details["pi"]) == 8


# -- list + direct, double list, placebo, split ballot ---------------------------------------------
def test_list_direct_gap_and_combined():
    df = simulate(4000, seed=12)
    r = sv.list_direct(df, "y", "t", 3, "D", by="male")
    names = [c.label for c in r.categories]
    assert names == ["direct", "list", "gap", "combined"]
    d, lst, gap = (c.estimate for c in r.categories[:3])
    assert gap == pytest.approx(d - lst)
    assert r.categories[3].se < r.categories[1].se  # the combined estimator is more precise
    assert len(r.groups) == 2


def test_double_list_average_and_se():
    rng = np.random.default_rng(13)
    n = 3000
    z = rng.random(n) < 0.3
    a_on = rng.integers(0, 2, n)
    base = rng.normal(size=n)
    ya = np.clip(np.round(1.5 + base + rng.normal(0, 0.5, n)), 0, 3) + a_on * z
    yb = np.clip(np.round(1.5 + base + rng.normal(0, 0.5, n)), 0, 3) + (1 - a_on) * z
    df = pd.DataFrame({"ya": ya, "yb": yb, "a": a_on})
    r = sv.double_list(df, "ya", "yb", "a", 3)
    ta = ya[a_on == 1].mean() - ya[a_on == 0].mean()
    tb = yb[a_on == 0].mean() - yb[a_on == 1].mean()
    assert r.estimate == pytest.approx((ta + tb) / 2)
    assert r.se < min(c.se for c in r.categories)  # positively correlated lists: the double list gains
    assert r.details["corr_lists"] < 0


def test_placebo_deflation_and_correction():
    rng = np.random.default_rng(14)
    n = 6000
    t = rng.integers(0, 3, n)
    ys = rng.binomial(3, 0.5, n)
    z = rng.random(n) < 0.4
    deflate = (t > 0) & (ys > 0) & (rng.random(n) < 0.2)  # longer lists lose an item sometimes
    y = ys + (t == 1) * z - deflate
    r = sv.placebo_list(pd.DataFrame({"y": y, "t": t}), "y", "t", 3)
    cats = {c.label: c for c in r.categories}
    assert cats["deflation"].estimate == pytest.approx(-cats["placebo"].estimate)
    assert cats["corrected"].estimate == pytest.approx(cats["sensitive"].estimate + cats["deflation"].estimate)
    assert abs(cats["corrected"].estimate - 0.4) < 4 * cats["corrected"].se
    assert cats["deflation"].estimate > 0.05


def test_split_ballot_reproduces_published_wave2(wave2, cli):
    out = cli("split", wave2, "--var", "Q11", "--ballot", "подвыборка_2", "--weights", "wes_age_gender_tnp", "--json")
    assert out.code == 0, out.err
    res = out.json()
    shares = {(g["level"], c["code"]): c["estimate"] for g in res["groups"] for c in g["categories"]}
    assert round(100 * shares[(1, 1)]) == 70 and round(100 * shares[(2, 1)]) == 63
    assert round(100 * shares[(2, 100)]) == 12
    assert round(100 * shares[(1, 2)]) == 14 and round(100 * shares[(2, 2)]) == 7
    bases = {g["level"]: g["weight_total"] for g in res["groups"]}
    assert round(bases[1]) == 922 and round(bases[2]) == 868
    diff = {c["code"]: c for c in res["categories"]}
    assert diff[1]["estimate"] == pytest.approx(shares[(2, 1)] - shares[(1, 1)])
    assert res["tests"]["rao_scott"]["p_value"] < 1e-10


# -- properties ----------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100))
def test_dim_row_order_and_weight_scale_invariance(seed, scale):
    df = simulate(200, seed=seed)
    a = sv.list_experiment(df, "y", "t", 3, weights="w")
    perm = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    b = sv.list_experiment(perm.assign(w=perm.w * scale), "y", "t", 3, weights="w")
    assert a.estimate == pytest.approx(b.estimate, abs=1e-10)
    assert a.se == pytest.approx(b.se, rel=1e-8)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_ml_row_order_invariance(seed):
    df = simulate(600, seed=seed)
    a = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="male")
    b = sv.list_experiment(df.iloc[::-1], "y", "t", 3, method="ml", covariates="male")
    for part in a.coefficients:
        for term in a.coefficients[part]:
            assert a.coefficients[part][term]["coef"] == pytest.approx(b.coefficients[part][term]["coef"], abs=1e-6)


# -- CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def listfile(tmp_path):
    path = tmp_path / "list.csv"
    simulate(800, seed=20).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("args", [
    [], ["--method", "lm", "--covariates", "age + male"], ["--method", "nls", "--covariates", "age"],
    ["--method", "ml", "--covariates", "age + C(region)", "--weights", "w"], ["--method", "ml", "--unconstrained"],
    ["--direct", "D"], ["--by", "male"], ["--method", "ml", "--se", "design", "--weights", "w"],
])
def test_cli_list_json(cli, listfile, args):
    out = cli("list", listfile, "--count", "y", "--treat", "t", "--items", "3", *args, "--json")
    assert out.code == 0, out.err
    res = json.loads(out.out)
    assert {"estimate", "se", "ci", "n", "method"} <= set(res)
    if "--method" in args and "ml" in args:
        assert "sensitive" in res["coefficients"]


def test_cli_list_text_and_list_test(cli, listfile):
    out = cli("list", listfile, "--count", "y", "--treat", "t", "--items", "3", "--method", "ml", "--covariates", "age")
    assert out.code == 0 and "coefficients: sensitive" in out.out
    out = cli("list-test", listfile, "--count", "y", "--treat", "t", "--items", "3")
    assert out.code == 0 and "Bonferroni" in out.out
    out = cli("list-test", listfile, "--count", "y", "--treat", "t", "--items", "3", "--weights", "w", "--json")
    assert out.code == 0 and "verdict" in out.json()


def _bad(cli, tmp_path, df, *args):
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    out = cli("list", path, "--count", "y", "--treat", "t", *args)
    assert out.code == 2, (out.code, out.err)
    assert out.err.startswith("error: ") and out.err.count("\n") == 1
    assert "Traceback" not in out.err
    return out.err


def test_cli_bad_inputs(cli, tmp_path):
    base = simulate(300, seed=21)
    first_control = int(np.argmax(base.t == 0))
    err = _bad(cli, tmp_path, base.assign(y=np.where(base.index == first_control, 4, base.y)), "--items", "3")
    assert "J is smaller than the largest control count" in err
    err = _bad(cli, tmp_path, base.assign(y=np.where(base.t == 1, 5, base.y)), "--items", "3")
    assert "treatment counts run 0..J+1" in err
    err = _bad(cli, tmp_path, base.assign(y=np.where(base.index == 3, -1, base.y)), "--items", "3")
    assert "negative" in err
    err = _bad(cli, tmp_path, base.assign(t=np.where(base.index == 2, 0.5, base.t)), "--items", "3")
    assert "treatment column 't'" in err
    err = _bad(cli, tmp_path, base.assign(t=np.where(base.t == 1, 3, 0)), "--items", "3")
    assert "without gaps" in err
    err = _bad(cli, tmp_path, base.assign(t=base.t * 2), "--items", "3", "--direct", "D")
    assert "not binary" in err
    err = _bad(cli, tmp_path, base, "--method", "ml")
    assert "J is missing" in err
    err = _bad(cli, tmp_path, base.assign(t=np.where(base.index == 0, 1, 0), y=base.y.clip(upper=3)), "--items", "3")
    assert "only 1 respondent" in err
    err = _bad(cli, tmp_path, base.assign(y=np.where(base.index == 4, np.nan, base.y)), "--items", "3")
    assert "missing values" in err and "'y'" in err


def test_cli_em_not_converging_and_separation(cli, tmp_path):
    base = simulate(2000, seed=22)
    err = _bad(cli, tmp_path, base, "--items", "3", "--method", "ml", "--covariates", "age", "--max-iter", "1")
    assert "did not converge" in err
    sep = base.copy()
    sep["flag"] = (np.arange(len(sep)) % 10 == 0).astype(int)
    sep.loc[(sep.flag == 1) & (sep.t == 1), "y"] = 4  # everyone flagged holds the item and all controls
    sep.loc[(sep.flag == 1) & (sep.t == 0), "y"] = 3
    err = _bad(cli, tmp_path, sep, "--items", "3", "--method", "ml", "--covariates", "age + flag")
    assert "'flag'" in err


def test_python_errors_are_typed():
    df = simulate(200, seed=23)
    with pytest.raises(InputError):
        sv.list_experiment(df, "y", "t", None)
    with pytest.raises(InputError):
        sv.list_experiment(df, "y", "t", 3, method="probit")
    with pytest.raises(DesignError):
        sv.placebo_list(df, "y", "t", 3)
    with pytest.raises(ConvergenceError):
        sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age", max_iter=1)


def test_cli_list_test_weighted_design_and_several_items(cli, tmp_path):
    df = simulate(1500, seed=30, arms=2)
    df["stratum"] = np.arange(len(df)) % 3
    path = tmp_path / "multi.csv"
    df.to_csv(path, index=False)
    arms = ["--arms", "0=control,1=item 1,2=item 2"]
    out = cli("list-test", path, "--count", "y", "--treat", "t", "--items", "3", "--weights", "w", "--strata", "stratum", *arms, "--json")
    assert out.code == 0, out.err
    res = out.json()
    assert [c["code"] for c in res["categories"]] == [1, 2]
    assert all(0 <= c["p_value"] <= 1 for c in res["categories"])
    out = cli("list", path, "--count", "y", "--treat", "t", "--items", "3", "--method", "ml", "--by", "male", *arms, "--json")
    assert out.code == 0, out.err
    cats = out.json()["categories"]
    assert [len(c["groups"]) for c in cats] == [2, 2]
    assert list(cats[0]["coefficients"]) == ["sensitive", "control"]


def test_cli_placebo_and_double(cli, tmp_path):
    df = simulate(1500, seed=31, arms=2)
    df["yb"] = np.random.default_rng(1).binomial(3, 0.5, len(df))
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    out = cli("list", path, "--count", "y", "--treat", "t", "--items", "3", "--placebo-arm", "2", "--json")
    assert out.code == 0, out.err
    assert "deflation" in out.json()
    d2 = df[df.t < 2].assign(yb=lambda d: d.yb + (1 - d.t) * (d.D > 0))
    d2.to_csv(path, index=False)
    out = cli("list", path, "--count", "y", "--count-b", "yb", "--treat", "t", "--items", "3", "--json")
    assert out.code == 0, out.err
    assert out.json()["method"] == "list-double"


def test_design_test_with_a_long_list_uses_simulated_weights():
    rng = np.random.default_rng(40)
    n = 3000
    t = rng.integers(0, 2, n)
    y = rng.binomial(5, 0.5, n) + t * (rng.random(n) < 0.3)
    r = sv.list_design_test(pd.DataFrame({"y": y, "t": t}), "y", "t", 5)
    assert 0 <= r.estimate <= 1 and len(r.details["pi"]) == 12
    w = dt._chibar_weights(np.eye(5), 200_000, 1)
    from scipy.stats import binom

    np.testing.assert_allclose(w, binom.pmf(np.arange(6), 5, 0.5), atol=0.005)  # independent case: Binomial(m, 1/2)


def test_intercept_only_lm_with_design_se_is_the_difference_in_means():
    df = simulate(1200, seed=41)
    df["stratum"] = np.arange(len(df)) % 4
    df["psu"] = df.stratum * 100 + (np.arange(len(df)) // 4) % 20
    kw = {"weights": "w", "strata": "stratum", "psu": "psu"}
    dim = sv.list_experiment(df, "y", "t", 3, **kw)
    lm = sv.list_experiment(df, "y", "t", 3, method="lm", se="design", **kw)
    assert lm.estimate == pytest.approx(dim.estimate, abs=1e-12)
    assert lm.se == pytest.approx(dim.se, rel=1e-9)
    assert lm.coefficients["sensitive"]["(Intercept)"]["se"] == pytest.approx(dim.se, rel=1e-9)
    # ML with covariates: the design SE of the population prevalence adds the covariates' sampling
    ml = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age", se="design", **kw)
    assert 0.5 * dim.se < ml.se < 1.5 * dim.se


def test_a_calibrated_survey_gives_calibration_aware_dim_se():
    """Passing a raked Survey uses its calibration residuals: the DiM SE equals the one computed
    directly from the design's cov_total, and differs from treating the raked weights as fixed."""
    import numpy as np
    import pandas as pd

    import sottovoce as sv

    rng = np.random.default_rng(7)
    n = 3000
    sex = rng.choice(["m", "f"], n, p=[0.3, 0.7])
    treat = rng.integers(0, 2, n)
    base = rng.binomial(3, np.where(sex == "m", 0.6, 0.3))
    count = base + treat * (rng.random(n) < np.where(sex == "m", 0.7, 0.2))
    df = pd.DataFrame({"sex": sex, "treat": treat, "count": count})
    raked = sv.Survey(df).rake({"sex": {"m": 0.5, "f": 0.5}})
    fit = sv.list_experiment(raked, "count", "treat", 3)
    w = raked.weights
    t, y = treat == 1, count.astype(float)
    mt, mc = (w[t] @ y[t]) / w[t].sum(), (w[~t] @ y[~t]) / w[~t].sum()
    u = np.where(t, (y - mt) / w[t].sum(), 0.0) - np.where(~t, (y - mc) / w[~t].sum(), 0.0)
    assert fit.estimate == pytest.approx(mt - mc, rel=1e-12)
    assert fit.se == pytest.approx(float(np.sqrt(raked.cov_total(u)[0, 0])), rel=1e-10)
    fixed = sv.list_experiment(df.assign(w=w), "count", "treat", 3, weights="w")
    assert fixed.estimate == pytest.approx(fit.estimate, rel=1e-12)
    assert abs(fixed.se - fit.se) > 1e-4 * fit.se  # sex predicts the count: calibration changes the SE
    with pytest.raises(sv.InputError, match="either as a Survey"):
        sv.list_experiment(raked, "count", "treat", 3, weights="w")


def test_split_ballot_share_intervals_keep_a_positive_width_at_zero(wave2):
    """The old wording did not offer "don't want to answer" (code 100): its share there is 0, and
    its interval is a real one-sided interval, never [0, 0]."""
    import sottovoce as sv

    df = sv.read_table(wave2)
    r = sv.split_ballot(df, "Q11", "подвыборка_2", weights="wes_age_gender_tnp")
    old = next(g for g in r.groups if g.level == 1)
    zero = next(c for c in old.categories if c.code == 100)
    assert zero.estimate == 0.0 and zero.ci[0] == 0.0 and 0.0 < zero.ci[1] < 0.02
    for g in r.groups:
        for c in g.categories:
            assert c.ci[0] <= c.estimate <= c.ci[1] and c.ci[1] > c.ci[0]


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(["age", "male", "x3"]), k=st.integers(1, 3), seed=st.integers(0, 1000))
def test_plain_sum_fast_path_equals_formulaic(order, k, seed):
    """A sum of numeric columns is built without importing formulaic (start-up); it must be
    exactly what formulaic builds: the same columns, names and complete rows."""
    from formulaic import model_matrix

    from sottovoce.listexp._data import design_matrix

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(size=40), "male": rng.integers(0, 2, 40), "x3": rng.normal(size=40)})
    df.loc[rng.integers(0, 40), "x3"] = np.nan
    spec = " + ".join(order[:k])
    X, names, ok = design_matrix(df, spec)
    mm = model_matrix(spec, df, na_action="ignore")
    assert names == ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    ref = np.asarray(mm, dtype=float)
    np.testing.assert_array_equal(ok, np.isfinite(ref).all(axis=1))
    np.testing.assert_allclose(X[ok], ref[ok], rtol=0, atol=0)
