"""Randomized response: designs, prevalence, gap and regression (fast tests and references)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import sottovoce as sv
from sottovoce.errors import DesignError, InputError
from sottovoce.rr import simulate
from sottovoce.rr.regression import rr_logit

DESIGN_CASES = [
    ("warner", {"p": 0.7}),
    ("forced", {"p": 2 / 3, "p1": 1 / 6, "p0": 1 / 6}),
    ("unrelated", {"p": 0.75, "q": 0.4}),
    ("mirrored", {"p": 0.8}),
    ("disguised", {"p": 0.7}),
    ("crosswise", {"q": 0.25}),
]
IDS = [c[0] for c in DESIGN_CASES]


def _frame(name: str, params: dict, n: int = 3000, pi: float = 0.3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trait, ans = simulate(name, pi, n, rng, **params)
    return pd.DataFrame(
        {
            "y": ans,
            # the direct question: half of those with the trait hide it
            "d": (trait * (rng.random(n) < 0.5)).astype(int),
            "g": rng.choice(["north", "south", "east"], n),
            "w": rng.uniform(0.5, 2.0, n),
            "stratum": rng.integers(0, 4, n),
            "cluster": rng.integers(0, 15, n),
            "x": rng.normal(size=n),
        }
    )


# -- designs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=IDS)
def test_device_simulation_matches_the_linear_map(name, params):
    """The simulated device (written from each design's description, not from a and b) gives
    P(yes | trait) = a + b and P(yes | no trait) = a."""
    dsg = sv.rr_design(name, **params)
    rng = np.random.default_rng(1)
    m = 400_000
    for t, expected in ((1, dsg.a + dsg.b), (0, dsg.a)):
        share = dsg.simulate_answers(np.full(m, t, dtype=np.int8), rng).mean()
        assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / m) + 1e-12


def test_known_parameterisations_match_rr_package():
    """rr::rrreg writes P(yes) = c·π + d: forced c = p, d = p1; mirrored/disguised c = 2p − 1,
    d = 1 − p; unrelated c = p, d = (1 − p)q (rr/R/rr.R, function rrcd)."""
    f = sv.ForcedResponse(p=0.7, p1=0.2, p0=0.1)
    assert (f.b, f.a) == (0.7, 0.2)
    m = sv.Mirrored(p=0.8)
    assert (m.b, m.a) == pytest.approx((0.6, 0.2))
    dsg = sv.Disguised(p=0.3)
    assert (dsg.b, dsg.a) == pytest.approx((-0.4, 0.7))
    u = sv.UnrelatedQuestion(p=0.6, q=0.3)
    assert (u.b, u.a) == pytest.approx((0.6, 0.12))
    c = sv.Crosswise(q=0.2)  # P(same) = qπ + (1 − q)(1 − π)
    assert float(c.p_yes(0.1)) == pytest.approx(0.2 * 0.1 + 0.8 * 0.9)
    assert sv.rr_design("forced-known", p=0.7, p1=0.2).p0 == pytest.approx(0.1)
    assert sv.rr_design("forced", p=0.8334, p1=0.1667).p0 == 0.0  # no forced "no", rounded inputs
    assert sv.rr_design("unrelated-known", p=0.6, q=0.3) == u


@given(
    case=st.sampled_from(DESIGN_CASES),
    pi=st.floats(0, 1),
)
def test_p_yes_mapping_is_invertible(case, pi):
    dsg = sv.rr_design(case[0], **case[1])
    lam = dsg.p_yes(pi)
    assert 0 <= lam <= 1
    assert float(dsg.prevalence_from(lam)) == pytest.approx(pi, abs=1e-12)


@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=IDS)
def test_privacy_is_bayes_rule_checked_by_simulation(name, params):
    dsg = sv.rr_design(name, **params)
    trait, ans = simulate(dsg, 0.3, 400_000, 3)
    priv = dsg.privacy(0.3)
    yes_key, no_key = list(priv)
    assert trait[ans == 1].mean() == pytest.approx(priv[yes_key], abs=0.006)
    assert trait[ans == 0].mean() == pytest.approx(priv[no_key], abs=0.006)


@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=IDS)
def test_closed_form_variance_matches_simulation(name, params):
    """Var(π̂) = λ(1−λ)/(n b²): compare with the spread of 4,000 simulated surveys."""
    dsg = sv.rr_design(name, **params)
    n, reps, pi = 500, 4000, 0.3
    rng = np.random.default_rng(7)
    trait = (rng.random((reps, n)) < pi).astype(np.int8)
    est = dsg.prevalence_from(dsg.simulate_answers(trait, rng).mean(axis=1))
    assert est.mean() == pytest.approx(pi, abs=4 * np.sqrt(dsg.variance(pi, n) / reps))
    # the sample variance of 4,000 draws has relative SE ≈ sqrt(2/4000) ≈ 2.2%
    assert est.var(ddof=1) == pytest.approx(dsg.variance(pi, n), rel=0.08)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"design": "warner", "p": 0.5}, "not identifiable"),
        ({"design": "mirrored", "p": 0.5}, "not identifiable"),
        ({"design": "disguised", "p": 0.5}, "not identifiable"),
        ({"design": "crosswise", "q": 0.5}, "not identifiable"),
        ({"design": "forced", "p": 0.2, "p1": 0.5, "p0": 0.5}, "p1 \\+ p0"),
        ({"design": "forced", "p": 0.7, "p1": 0.2, "p0": 0.2}, "sum to 1"),
        ({"design": "warner", "p": 1.2}, "probability"),
        ({"design": "unrelated", "p": 0.7, "q": 0.0}, "q = 0"),
        ({"design": "unrelated", "p": 0.7}, "needs q="),
        ({"design": "coin"}, "unknown"),
    ],
)
def test_bad_designs_raise(args, match):
    with pytest.raises(DesignError, match=match):
        sv.rr_design(**args)


# -- prevalence ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=IDS)
def test_prevalence_srs_closed_form(name, params):
    df = _frame(name, params)
    r = sv.rr_prevalence(df, "y", name, **params)
    dsg = sv.rr_design(name, **params)
    lam = df["y"].mean()
    n = len(df)
    assert r.estimate == pytest.approx((lam - dsg.a) / dsg.b)
    # each respondent its own PSU: n/(n−1) · λ(1−λ)/(n b²)
    assert r.se == pytest.approx(np.sqrt(lam * (1 - lam) / ((n - 1) * dsg.b**2)))
    # the one interval rule: t on the design's df (respondents − 1 without PSUs), within [0, 1]
    t = scipy_stats.t.ppf(0.975, n - 1)
    assert r.ci == pytest.approx((max(r.estimate - t * r.se, 0), min(r.estimate + t * r.se, 1)), abs=1e-12)
    assert r.df == n - 1 and r.ci_method == "t-truncated" and r.scale == "share"
    assert r.n == n and r.method == f"rr-{name}"
    assert r.details["privacy"] and r.details["design"]["b"] == pytest.approx(dsg.b)


R_SURVEY = r"""
suppressMessages(library(survey))
df <- read.csv(commandArgs(TRUE)[1])
a <- as.numeric(commandArgs(TRUE)[2]); b <- as.numeric(commandArgs(TRUE)[3])
des <- svydesign(ids = ~cluster, strata = ~stratum, weights = ~w, data = df, nest = TRUE)
m <- svymean(~y + d, des)
V <- vcov(m)
pi <- (coef(m)[["y"]] - a) / b
se <- sqrt(V["y", "y"]) / abs(b)
gap <- svycontrast(m, c(y = 1 / b, d = -1))
bys <- svyby(~y, ~g, des, svymean)
lv <- sort(unique(df$g))
gg <- sapply(lv, function(l) { m <- svymean(~y + d, subset(des, g == l)); k <- svycontrast(m, c(y = 1 / b, d = -1))
             c(unname(coef(k)) - a / b, as.numeric(SE(k))) })
out <- list(pi = pi, by_gap = gg[1, ], by_gap_se = gg[2, ], gap_level = lv, se = se, gap = unname(coef(gap)) - a / b, gap_se = as.numeric(SE(gap)),
            by_level = as.character(bys$g), by_pi = (bys$y - a) / b, by_se = bys$se / abs(b))
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def _rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript not installed")
    return path


def _run_r(code: str, tmp_path, *args: str) -> dict:
    script = tmp_path / "ref.R"
    script.write_text(code)
    out = subprocess.run([_rscript(), str(script), *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 and "there is no package called" in out.stderr:
        pytest.skip(out.stderr.strip().splitlines()[-1])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize(("name", "params"), DESIGN_CASES[:3], ids=IDS[:3])
def test_prevalence_and_gap_match_r_survey(name, params, tmp_path):
    """Design-based SEs (weights, strata, PSUs) and the direct gap against R's survey package."""
    df = _frame(name, params, n=2500, seed=11)
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    dsg = sv.rr_design(name, **params)
    ref = _run_r(R_SURVEY, tmp_path, str(path), repr(dsg.a), repr(dsg.b))
    r = sv.rr_prevalence(df, "y", name, weights="w", strata="stratum", psu="cluster", by="g", direct="d", **params)
    assert r.estimate == pytest.approx(ref["pi"], abs=1e-10)
    assert r.se == pytest.approx(ref["se"], rel=1e-8)
    assert r.details["gap"]["estimate"] == pytest.approx(ref["gap"], abs=1e-10)
    assert r.details["gap"]["se"] == pytest.approx(ref["gap_se"], rel=1e-8)
    gaps = {g.level: g.details["gap"] for g in r.groups}
    for lvl, gap, gap_se in zip(ref["gap_level"], ref["by_gap"], ref["by_gap_se"], strict=True):
        assert gaps[lvl]["estimate"] == pytest.approx(gap, abs=1e-10)
        assert gaps[lvl]["se"] == pytest.approx(gap_se, rel=1e-8)
    got = {g.level: (g.estimate, g.se) for g in r.groups}
    for lvl, pi, se in zip(ref["by_level"], ref["by_pi"], ref["by_se"], strict=True):
        assert got[lvl][0] == pytest.approx(min(max(pi, 0), 1), abs=1e-10)
        assert got[lvl][1] == pytest.approx(se, rel=1e-8)


def test_gap_split_sample_matches_two_independent_estimates():
    """Split sample (each respondent answers one version): the gap SE is the root of the summed
    variances of the two SRS estimates."""
    rng = np.random.default_rng(5)
    n = 4000
    trait, ans = simulate("forced", 0.4, n, rng, p=0.7, p1=0.15)
    arm = rng.random(n) < 0.5
    df = pd.DataFrame({"y": np.where(arm, ans, np.nan), "d": np.where(~arm, trait * (rng.random(n) < 0.6), np.nan)})
    g = sv.rr_gap(df, "y", "d", "forced", p=0.7, p1=0.15)
    y, d = df["y"].dropna(), df["d"].dropna()
    v_rr = y.var(ddof=1) / len(y) / 0.7**2
    v_d = d.var(ddof=1) / len(d)
    # cov_total uses n/(n−1) over all n rows; with two arms the difference is O(1/n)
    assert g.se == pytest.approx(np.sqrt(v_rr + v_d), rel=2e-3)
    assert g.estimate == pytest.approx((y.mean() - 0.15) / 0.7 - d.mean())
    assert g.details["n_indirect"] == len(y) and g.details["n_direct"] == len(d)


def test_survey_object_accepted_and_domains_keep_full_design():
    df = _frame("forced", DESIGN_CASES[1][1])
    svy = sv.Survey(df, weights="w", strata="stratum", psu="cluster")
    a = sv.rr_prevalence(svy, "y", "forced", p=2 / 3, p1=1 / 6, by="g")
    b = sv.rr_prevalence(df, "y", "forced", p=2 / 3, p1=1 / 6, weights="w", strata="stratum", psu="cluster", by="g")
    assert a.to_dict() == b.to_dict()
    assert {g.level for g in a.groups} == {"north", "south", "east"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 1000))
def test_row_order_and_weight_scale_invariance(seed, scale):
    df = _frame("unrelated", {"p": 0.75, "q": 0.4}, n=300, seed=seed)
    kw = {"p": 0.75, "q": 0.4, "weights": "w", "strata": "stratum", "psu": "cluster", "direct": "d", "truncate": True}
    base = sv.rr_prevalence(df, "y", "unrelated", **kw)
    shuffled = df.sample(frac=1, random_state=seed).reset_index(drop=True)
    scaled = df.assign(w=df["w"] * scale)
    for other in (sv.rr_prevalence(shuffled, "y", "unrelated", **kw), sv.rr_prevalence(scaled, "y", "unrelated", **kw)):
        assert other.estimate == pytest.approx(base.estimate, abs=1e-12)
        assert other.se == pytest.approx(base.se, rel=1e-9)
        assert other.details["gap"]["se"] == pytest.approx(base.details["gap"]["se"], rel=1e-9)


def test_impossible_share_is_an_error_unless_truncated():
    # forced p1 = 1/6: at least ~1/6 must say yes; here nobody did in 600 answers
    df = pd.DataFrame({"y": np.r_[np.zeros(590), np.ones(10)]})
    with pytest.raises(DesignError, match="not followed"):
        sv.rr_prevalence(df, "y", "forced", p=2 / 3, p1=1 / 6)
    with pytest.warns(sv.SottovoceWarning, match="reported as 0"):
        r = sv.rr_prevalence(df, "y", "forced", p=2 / 3, p1=1 / 6, truncate=True)
    assert r.estimate == 0.0 and r.ci[0] == 0.0 and r.details["raw_estimate"] < 0
    assert r.warnings


def test_slightly_negative_estimate_is_kept_and_flagged():
    # λ̂ a little below p1 = 1/6: within sampling error, so not an error; the estimate is kept as
    # computed (issue 12), flagged, and its interval is the part of the t interval inside [0, 1]
    df = pd.DataFrame({"y": np.r_[np.zeros(170), np.ones(30)]})
    with pytest.warns(sv.SottovoceWarning, match="outside"):
        r = sv.rr_prevalence(df, "y", "forced", p=2 / 3, p1=1 / 6)
    assert r.estimate == pytest.approx((0.15 - 1 / 6) / (2 / 3)) and r.out_of_range
    t = scipy_stats.t.ppf(0.975, 199)
    assert r.ci == pytest.approx((0.0, r.estimate + t * r.se)) and r.ci[1] > 0
    assert r.to_dict()["out_of_range"] is True


def test_response_not_binary_is_an_error():
    df = pd.DataFrame({"y": [0, 1, 2, 1, 9, 0]})
    with pytest.raises(InputError, match="2, 9"):
        sv.rr_prevalence(df, "y", "warner", p=0.7)


# -- regression -----------------------------------------------------------------------------------
R_RRREG = r"""
# Blair, Imai & Zhou (2015) model P(yes | x) = c·logit⁻¹(x'β) + d, fitted the way the rr package
# does (EM: a weighted binomial glm whose weights are the posterior of the latent trait),
# here to a tight tolerance; SEs from the outer product of the scores, as rrreg.
df <- read.csv(commandArgs(TRUE)[1])
cc <- as.numeric(commandArgs(TRUE)[2]); dd <- as.numeric(commandArgs(TRUE)[3])
f <- as.formula(commandArgs(TRUE)[4])
mf <- model.frame(f, df, na.action = na.omit)
X <- model.matrix(f, mf); y <- model.response(mf)
# c < 0 (e.g. crosswise with q < 1/2) makes the EM weights negative: fit the equivalent model for
# the flipped answer, P(1 − y) = (−c)·g + (1 − d), which has the same likelihood and scores up to sign
if (cc < 0) { y <- 1 - y; cc <- -cc; dd <- 1 - dd }
lg <- function(e) 1 / (1 + exp(-e))
ll <- function(b) { h <- cc * lg(X %*% b) + dd; sum(y * log(h) + (1 - y) * log(1 - h)) }
b <- rep(0, ncol(X)); old <- -Inf; new <- ll(b); it <- 0
while (new - old > 1e-13 && it < 100000) {
  g <- lg(X %*% b)
  wt <- ifelse(y == 1, cc * g / (cc * g + dd), cc * (1 - g) / (1 - cc * g - dd))
  b <- coef(suppressWarnings(glm(cbind(y, 1 - y) ~ X - 1, family = binomial, weights = as.vector(wt), start = b,
                                control = list(epsilon = 1e-14, maxit = 100))))
  old <- new; new <- ll(b); it <- it + 1
}
g <- as.vector(lg(X %*% b)); h <- cc * g + dd
S <- (y / h - (1 - y) / (1 - h)) * cc * g * (1 - g) * X
V <- solve(crossprod(S))
cat(jsonlite::toJSON(list(names = colnames(X), coef = unname(b), se = sqrt(diag(V)), pred = mean(g)), digits = NA, auto_unbox = TRUE))
"""


@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=IDS)
def test_regression_matches_r_rrreg_model(name, params, tmp_path):
    rng = np.random.default_rng(21)
    n = 3000
    age = rng.integers(18, 80, n).astype(float)
    female = rng.integers(0, 2, n)
    educ = rng.integers(1, 5, n).astype(float)
    lin = -0.3 + 0.4 * (age - 50) / 10 - 0.3 * ((age - 50) / 10) ** 2 + 0.5 * female - 0.2 * educ
    trait, ans = simulate(name, 1 / (1 + np.exp(-lin)), n, rng, **params)
    df = pd.DataFrame({"y": ans.astype(float), "age": age, "female": female, "educ": educ})
    df.loc[rng.choice(n, 40, replace=False), "educ"] = np.nan  # na.omit, as rrreg
    df.loc[rng.choice(n, 25, replace=False), "y"] = np.nan
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    dsg = sv.rr_design(name, **params)
    ref = _run_r(R_RRREG, tmp_path, str(path), repr(dsg.b), repr(dsg.a), "y ~ I(age/10) + I((age/10)^2) + female + educ")
    r = sv.rr_regression(df, "y", "I(age/10) + I((age/10)**2) + female + educ", name, **params)
    coefs = r.coefficients["sensitive"]
    assert list(coefs)[0] == "(Intercept)" and len(coefs) == len(ref["names"]) == 5
    for (term, v), b_ref, se_ref in zip(coefs.items(), ref["coef"], ref["se"], strict=True):
        # the R side is an EM stopped at a log-likelihood change of 1e-13: agreement to ~1e-6
        assert v["coef"] == pytest.approx(b_ref, rel=1e-6, abs=1e-6), term
        assert v["se"] == pytest.approx(se_ref, rel=1e-6, abs=1e-6), term
    assert r.estimate == pytest.approx(ref["pred"], abs=1e-7)
    assert r.n == len(df.dropna())


def test_regression_recovers_planted_coefficients():
    rng = np.random.default_rng(3)
    n = 40_000
    x = rng.normal(size=n)
    z = rng.integers(0, 2, n)
    beta = np.array([-0.5, 0.8, -0.6])
    pi = 1 / (1 + np.exp(-(beta[0] + beta[1] * x + beta[2] * z)))
    _, ans = simulate("forced", pi, n, rng, p=2 / 3, p1=1 / 6)
    df = pd.DataFrame({"y": ans, "x": x, "z": z})
    r = sv.rr_regression(df, "y", "x + z", "forced", p=2 / 3, p1=1 / 6)
    got = r.coefficients["sensitive"]
    for term, b in zip(["(Intercept)", "x", "z"], beta, strict=True):
        assert abs(got[term]["coef"] - b) < 4 * got[term]["se"]
    assert got["x"]["se"] < 0.05
    assert abs(r.estimate - pi.mean()) < 4 * r.se


def test_rr_logit_on_arrays_equals_formula_interface():
    df = _frame("crosswise", {"q": 0.25}, n=1200, seed=8)
    a = sv.rr_regression(df, "y", "x", "crosswise", q=0.25)
    b = rr_logit(np.column_stack([np.ones(len(df)), df["x"]]), df["y"].to_numpy(float), sv.Crosswise(q=0.25), names=["(Intercept)", "x"])
    assert a.coefficients == b.coefficients


def test_weighted_regression_uses_design_sandwich_and_scale_invariance():
    df = _frame("mirrored", {"p": 0.8}, n=2000, seed=4)
    a = sv.rr_regression(df, "y", "x", "mirrored", p=0.8, weights="w", strata="stratum", psu="cluster")
    b = sv.rr_regression(df.assign(w=df["w"] * 37.0), "y", "x", "mirrored", p=0.8, weights="w", strata="stratum", psu="cluster")
    for t in ("(Intercept)", "x"):
        assert a.coefficients["sensitive"][t]["coef"] == pytest.approx(b.coefficients["sensitive"][t]["coef"], abs=1e-9)
        assert a.coefficients["sensitive"][t]["se"] == pytest.approx(b.coefficients["sensitive"][t]["se"], rel=1e-7)
    assert "sandwich" in a.details["se_method"]
    # intercept-only with weights: the linearization SE of the logit equals the delta-method SE of π̂
    c = sv.rr_regression(df, "y", "1", "mirrored", p=0.8, weights="w", strata="stratum", psu="cluster")
    prev = sv.rr_prevalence(df, "y", "mirrored", p=0.8, weights="w", strata="stratum", psu="cluster")
    assert c.estimate == pytest.approx(prev.estimate, abs=1e-8)
    assert c.se == pytest.approx(prev.se, rel=1e-6)


# -- CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def data_csv(tmp_path):
    df = _frame("forced", DESIGN_CASES[1][1], n=1500, seed=2)
    path = tmp_path / "rr.csv"
    df.to_csv(path, index=False)
    return path


def test_cli_json_prevalence_by_group_and_gap(cli, data_csv):
    res = cli("rr", data_csv, "--response", "y", "--design", "forced", "--p", "0.6667", "--p1", "0.1667",
              "--weights", "w", "--strata", "stratum", "--psu", "cluster", "--by", "g", "--direct", "d", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert out["method"] == "rr-forced" and 0 <= out["ci"][0] <= out["estimate"] <= out["ci"][1] <= 1
    assert len(out["groups"]) == 3 and all("gap" in g for g in out["groups"])
    assert out["gap"]["direct"] < out["estimate"]
    assert out["design"]["p0"] == pytest.approx(1 / 6, abs=1e-3)


def test_cli_regression_json(cli, data_csv):
    res = cli("rr", data_csv, "--response", "y", "--design", "forced", "--p", "0.6667", "--p1", "0.1667", "--p0", "0.1666",
              "--covariates", "x + C(g)", "--json")
    assert res.code == 0, res.err
    coefs = res.json()["coefficients"]["sensitive"]
    assert list(coefs) == ["(Intercept)", "x", "C(g)[T.north]", "C(g)[T.south]"]


def test_cli_table_output(cli, data_csv):
    res = cli("rr", data_csv, "--response", "y", "--design", "crosswise", "--q", "0.25", "--truncate")
    assert res.code == 0, res.err
    assert "crosswise design" in res.out and "P(answer coded 1)" in res.out


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--design", "warner", "--p", "0.7", "--covariates", "x", "--direct", "d"], "cannot be combined"),
        (["--design", "warner", "--p", "0.5"], "not identifiable"),
        (["--design", "warner", "--p", "0.7", "--covariates", "x + I(2*x)"], "collinear"),
        (["--design", "forced", "--p", "0.1", "--p1", "0.5", "--p0", "0.5"], "p1 + p0"),
        (["--design", "forced", "--p", "0.8"], "needs two of"),
        (["--design", "mirrored", "--p", "1.5"], "must be a probability"),
        (["--design", "unrelated", "--p", "0.7", "--q", "-0.1"], "q = -0.1"),
        (["--design", "crosswise", "--q", "0.5"], "not identifiable"),
        (["--design", "dice", "--p", "0.5"], "unknown randomized-response design"),
        (["--design", "forced", "--p", "0.7", "--p1", "0.15", "--covariates", "nosuchcol"], "covariates"),
    ],
)
def test_cli_bad_design_input(cli, data_csv, flags, match):
    res = cli("rr", data_csv, "--response", "y", *flags)
    assert res.code == 2
    assert res.err.startswith("error: ") and match in res.err and res.err.count("\n") == 1
    assert res.out == ""


def test_cli_response_not_binary(cli, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"y": ["yes", "no", "1", "0", "maybe"]}).to_csv(path, index=False)
    res = cli("rr", path, "--response", "y", "--design", "warner", "--p", "0.7")
    assert res.code == 2 and "must be coded 0/1" in res.err and "yes" in res.err and "maybe" in res.err


def test_cli_missing_column(cli, data_csv):
    res = cli("rr", data_csv, "--response", "nope", "--design", "warner", "--p", "0.7")
    assert res.code == 2 and "nope" in res.err


def test_cli_impossible_share_and_truncate(cli, tmp_path):
    path = tmp_path / "imp.csv"
    pd.DataFrame({"y": np.r_[np.zeros(590), np.ones(10)].astype(int)}).to_csv(path, index=False)
    base = ["rr", path, "--response", "y", "--design", "forced", "--p", "0.6667", "--p1", "0.1667"]
    res = cli(*base)
    assert res.code == 2 and "not followed" in res.err and "--truncate" in res.err
    res = cli(*base, "--truncate", "--json")
    assert res.code == 0 and res.json()["estimate"] == 0.0
    assert "warning:" in res.err


def test_simulate_helper_for_the_demo():
    trait, ans = simulate("forced", 0.35, 10_000, np.random.default_rng(0), p=2 / 3, p1=1 / 6)
    assert trait.shape == ans.shape == (10_000,) and set(np.unique(ans)) <= {0, 1}
    assert abs(trait.mean() - 0.35) < 0.02
    assert sv.simulate_rr is simulate


def test_cli_real_spss_file_with_non_binary_codes(cli, wave1):
    """The Chronicles support question is coded 1/2/99: the error names the codes to recode."""
    res = cli("rr", wave1, "--response", "Q4", "--design", "forced", "--p", "0.6667", "--p1", "0.1667")
    assert res.code == 2 and "'Q4'" in res.err and "99" in res.err and "0/1" in res.err


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_regression_row_order_invariance(seed):
    df = _frame("disguised", {"p": 0.7}, n=600, seed=seed)
    base = sv.rr_regression(df, "y", "x", "disguised", p=0.7, weights="w", psu="cluster")
    other = sv.rr_regression(df.sample(frac=1, random_state=seed), "y", "x", "disguised", p=0.7, weights="w", psu="cluster")
    for t in ("(Intercept)", "x"):
        assert other.coefficients["sensitive"][t]["coef"] == pytest.approx(base.coefficients["sensitive"][t]["coef"], abs=1e-8)
        assert other.coefficients["sensitive"][t]["se"] == pytest.approx(base.coefficients["sensitive"][t]["se"], rel=1e-6)


def test_cli_by_groups_use_the_labels(cli, data_csv, tmp_path):
    """With a labels file the table names the --by variable by its label and its levels by theirs."""
    labels = tmp_path / "labels.toml"
    labels.write_text('[g]\nlabel = "Region of residence"\nvalues = { 1 = "north", 2 = "south", 3 = "east" }\n', encoding="utf-8")
    res = cli("rr", data_csv, "--response", "y", "--design", "forced", "--p", "0.6667", "--p1", "0.1667", "--by", "g",
              "--labels", labels)
    assert res.code == 0, res.err
    assert "Region of residence" in res.out and "g=" not in res.out and "south" in res.out
