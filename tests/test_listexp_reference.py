"""List-experiment estimators against independent references computed in R (base R, sandwich, survey)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv

R_SCRIPT = Path(__file__).parent / "reference" / "listexp_reference.R"
pytestmark = [
    pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed"),
    pytest.mark.xdist_group("listexp-r"),  # one R run for the module
]


def simulate(n: int = 1200, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(size=n)
    male = rng.integers(0, 2, n)
    X = np.c_[np.ones(n), age, male]
    z = rng.random(n) < 1 / (1 + np.exp(-(X @ [-0.6, 0.7, -0.5])))
    ys = rng.binomial(3, 1 / (1 + np.exp(-(X @ [0.1, -0.4, 0.4]))))
    t = rng.integers(0, 2, n)
    # some ceiling and floor liars, so that the liar models are identified
    lie = (t == 1) & z & (((ys == 3) & (rng.random(n) < 0.5)) | ((ys == 0) & (rng.random(n) < 0.4)))
    z = z & ~lie
    stratum = rng.integers(0, 4, n)
    # a second experiment with two sensitive items (arms 1 and 2) for the joint multi-item model
    t3 = rng.integers(0, 3, n)
    z2 = rng.random(n) < 1 / (1 + np.exp(-(X @ [0.3, -0.5, 0.2])))
    y3 = ys + (t3 == 1) * z + (t3 == 2) * z2
    out = pd.DataFrame({
        "y": ys + t * z, "t": t, "age": age, "male": male, "w": rng.uniform(0.4, 2.5, n),
        "stratum": stratum, "t3": t3, "y3": y3, "psu": stratum * 100 + rng.integers(0, 15, n), "D": (z & (rng.random(n) < 0.5)).astype(int),
    })
    # overdispersed control counts (beta-binomial, ρ = 0.25) for ictreg's overdispersed model; drawn
    # after everything above, so the other columns are unchanged
    mu = 1 / (1 + np.exp(-(X @ [0.2, -0.3, 0.5])))
    phi = 0.25 / 0.75
    zb = rng.random(n) < 1 / (1 + np.exp(-(X @ [-0.4, 0.5, 0.3])))
    out["ybb"] = rng.binomial(3, rng.beta(mu / phi, (1 - mu) / phi)) + t * zb
    return out


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    probe = subprocess.run(["Rscript", "-e", "library(survey)"], capture_output=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip("R package survey not installed")
    tmp = tmp_path_factory.mktemp("listref")
    df = simulate()
    df.to_csv(tmp / "d.csv", index=False)
    subprocess.run(["Rscript", str(R_SCRIPT), str(tmp / "d.csv"), str(tmp / "o.json")], check=True, capture_output=True, timeout=300)
    raw = json.loads((tmp / "o.json").read_text())
    return df, {k: (v[0] if len(v) == 1 else v) for k, v in raw.items()}


def _vec(res, parts):
    return np.array([res.coefficients[p][t]["coef"] for p in parts for t in res.coefficients[p]]), np.array(
        [res.coefficients[p][t]["se"] for p in parts for t in res.coefficients[p]])


def test_lm_matches_r_lm_hc3(ref):
    df, r = ref
    res = sv.list_experiment(df, "y", "t", 3, method="lm", covariates="age + male", weights="w")
    coef, se = _vec(res, ["control", "sensitive"])
    np.testing.assert_allclose(coef, r["lm_coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(se, r["lm_se"], rtol=1e-6)


@pytest.mark.parametrize("kind,kw,parts", [
    ("ml", {}, ["sensitive", "control"]),
    ("mlu", {"constrained": False}, ["sensitive", "control.psi0", "control.psi1"]),
    ("mlb", {"ceiling": True, "floor": True}, ["sensitive", "control", "floor", "ceiling"]),
])
def test_ml_matches_r_optim(ref, kind, kw, parts):
    df, r = ref
    res = sv.list_experiment(df, "y", "t", 3, method="ml", covariates="age + male", weights="w", **kw)
    coef, se = _vec(res, parts)
    assert res.details["loglik"] >= r[f"{kind}_ll"] - 1e-6
    np.testing.assert_allclose(coef, r[f"{kind}_coef"], atol=1e-4)
    np.testing.assert_allclose(se, r[f"{kind}_se"], rtol=1e-3)


def test_nls_matches_r_nls(ref):
    df, r = ref
    res = sv.list_experiment(df, "y", "t", 3, method="nls", covariates="age + male", weights="w")
    coef, _ = _vec(res, ["sensitive", "control"])
    np.testing.assert_allclose(coef, r["nls_sens"] + r["nls_ctrl"], atol=1e-5)


def test_dim_design_se_matches_svyglm(ref):
    df, r = ref
    res = sv.list_experiment(df, "y", "t", 3, weights="w", strata="stratum", psu="psu", by="male")
    assert res.estimate == pytest.approx(r["dim"], abs=1e-10)
    assert res.se == pytest.approx(r["dim_se"], rel=1e-8)
    g1 = [g for g in res.groups if g.level == 1][0]
    assert g1.estimate == pytest.approx(r["dim_m1"], abs=1e-10)
    assert g1.se == pytest.approx(r["dim_m1_se"], rel=1e-8)


def test_lm_by_group_refits_as_svyglm_on_the_domain(ref):
    """Issue 14: the linear list regression by a column is R's svyglm on each domain of the design
    (coefficients and their design-based SEs), not the overall model's predictions."""
    df, r = ref
    res = sv.list_experiment(df, "y", "t", 3, method="lm", covariates="age", weights="w", strata="stratum", psu="psu", by="male")
    assert [g.level for g in res.groups] == [0, 1]
    for g in res.groups:
        coef, se = _vec(g, ["control", "sensitive"])
        np.testing.assert_allclose(coef, r[f"lm_by_m{g.level}_coef"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(se, r[f"lm_by_m{g.level}_se"], rtol=1e-8)


def test_direct_gap_matches_survey_linearization(ref):
    df, r = ref
    res = sv.list_direct(df, "y", "t", 3, "D", weights="w", strata="stratum", psu="psu")
    assert res.details["gap"] == pytest.approx(r["gap"], abs=1e-10)
    assert res.details["gap_se"] == pytest.approx(r["gap_se"], rel=1e-8)
    assert [c for c in res.categories if c.label == "list"][0].se == pytest.approx(r["dim_se_contrast"], rel=1e-8)


def test_joint_multi_item_ml_matches_r_optim(ref):
    df, r = ref
    # three arms must be named (issue 12); the reference numbers are unchanged
    res = sv.list_experiment(df, "y3", "t3", 3, method="ml", covariates="age + male",
                             arms={0: "control", 1: "sensitive item 1", 2: "sensitive item 2"})
    coef = np.concatenate([[v["coef"] for v in c.coefficients["sensitive"].values()] for c in res.categories]
                          + [[v["coef"] for v in res.categories[0].coefficients["control"].values()]])
    se = np.concatenate([[v["se"] for v in c.coefficients["sensitive"].values()] for c in res.categories]
                        + [[v["se"] for v in res.categories[0].coefficients["control"].values()]])
    assert res.details["loglik"] >= r["multi_ll"] - 1e-6
    np.testing.assert_allclose(coef, r["multi_coef"], atol=1e-4)
    np.testing.assert_allclose(se, r["multi_se"], rtol=1e-3)


def test_overdispersed_ml_matches_r_optim(ref):
    # ictreg(y ~ age + male, J = 3, method = "ml", overdispersed = TRUE): beta-binomial control
    # count with logit(ρ) reported as "overdispersion"; R's order is (control, overdispersion, treat)
    df, r = ref
    res = sv.list_experiment(df, "ybb", "t", 3, method="ml", covariates="age + male", weights="w", overdispersed=True)
    coef, se = _vec(res, ["control", "overdispersion", "sensitive"])
    assert list(res.coefficients["overdispersion"]) == ["overdispersion"]
    assert res.details["loglik"] == pytest.approx(r["bb_ll"], abs=1e-6)
    # issue 17 asks for 1e-4; both maximisers reach the same optimum to about 1e-8
    np.testing.assert_allclose(coef, r["bb_coef"], atol=1e-6)
    np.testing.assert_allclose(se, r["bb_se"], rtol=1e-6)
    assert res.details["rho"] == pytest.approx(1 / (1 + np.exp(-r["bb_coef"][3])), abs=1e-5)
    assert res.hypothesis_tests["control_fit"]["p_value"] > 0.05  # the beta-binomial is the true law here
    if "bb_dbb_vs_vgam" in r:  # the R likelihood then used VGAM::dbetabinom, which equals gamlss's dBB
        assert r["bb_dbb_vs_vgam"] < 1e-8  # (1e-10: lbeta cancellation near ρ = 0)
