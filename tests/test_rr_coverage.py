"""Monte Carlo coverage of randomized-response intervals (slow; run in CI).

Each test simulates thousands of surveys through the design's own device (not through a + bπ)
and counts how often the reported 95% interval covers the true prevalence / coefficient.
With 6,000 samples the Monte Carlo SE of a 95% coverage is 0.28 points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.rr import simulate
from sottovoce.rr.regression import rr_logit

pytestmark = pytest.mark.slow

DESIGN_CASES = [
    ("warner", {"p": 0.7}),
    ("forced", {"p": 2 / 3, "p1": 1 / 6, "p0": 1 / 6}),
    ("unrelated", {"p": 0.75, "q": 0.4}),
    ("mirrored", {"p": 0.8}),
    ("disguised", {"p": 0.3}),
    ("crosswise", {"q": 0.25}),
]
REPS = 6000


@pytest.mark.parametrize(("name", "params"), DESIGN_CASES, ids=[c[0] for c in DESIGN_CASES])
def test_prevalence_interval_coverage(name, params):
    pi, n = 0.3, 800
    dsg = sv.rr_design(name, **params)
    rng = np.random.default_rng(2024)
    trait = (rng.random((REPS, n)) < pi).astype(np.int8)
    answers = dsg.simulate_answers(trait, rng)  # all samples at once
    covered = np.empty(REPS, dtype=bool)
    estimates = np.empty(REPS)
    for r in range(REPS):  # one call per simulated survey: the real code path
        res = sv.rr_prevalence(pd.DataFrame({"y": answers[r]}), "y", dsg, truncate=True)
        covered[r] = res.ci[0] <= pi <= res.ci[1]
        estimates[r] = res.details["raw_estimate"]
    coverage = covered.mean()
    print(f"{name}: coverage {coverage:.4f}, bias {estimates.mean() - pi:+.4f}")
    assert 0.94 <= coverage <= 0.96, coverage
    assert abs(estimates.mean() - pi) < 4 * estimates.std() / np.sqrt(REPS)


def test_clustered_stratified_design_coverage():
    """Forced response in a stratified cluster sample with intra-cluster correlation: the
    design-based SE (through Survey.cov_total) keeps coverage; an SRS SE would not."""
    reps, strata, psus, m = 2000, 8, 20, 10
    p = {"p": 2 / 3, "p1": 1 / 6, "p0": 1 / 6}
    dsg = sv.rr_design("forced", **p)
    rng = np.random.default_rng(99)
    stratum_mean = np.linspace(0.15, 0.45, strata)
    truth = stratum_mean.mean()  # equal-sized strata, equal weights
    # cluster prevalences vary around the stratum mean (Beta with ICC ≈ 0.1)
    k = 9.0
    mu = np.repeat(stratum_mean, psus)
    cluster_pi = rng.beta(mu * k, (1 - mu) * k, size=(reps, strata * psus))
    person_pi = np.repeat(cluster_pi, m, axis=1)
    trait = (rng.random(person_pi.shape) < person_pi).astype(np.int8)
    answers = dsg.simulate_answers(trait, rng)
    st_col = np.repeat(np.arange(strata), psus * m)
    psu_col = np.repeat(np.arange(strata * psus), m)
    covered = np.empty(reps, dtype=bool)
    srs_covered = np.empty(reps, dtype=bool)
    for r in range(reps):
        df = pd.DataFrame({"y": answers[r], "s": st_col, "c": psu_col})
        res = sv.rr_prevalence(df, "y", dsg, strata="s", psu="c", truncate=True)
        covered[r] = res.ci[0] <= truth <= res.ci[1]
        lam = answers[r].mean()
        se_srs = np.sqrt(lam * (1 - lam) / len(df)) / dsg.b
        srs_covered[r] = abs(res.details["raw_estimate"] - truth) <= 1.96 * se_srs
    print(f"clustered: design-based coverage {covered.mean():.4f}, SRS coverage {srs_covered.mean():.4f}")
    assert 0.935 <= covered.mean() <= 0.965
    assert srs_covered.mean() < 0.93


@pytest.mark.parametrize(("name", "params"), [DESIGN_CASES[1], DESIGN_CASES[5]], ids=["forced", "crosswise"])
def test_regression_interval_coverage(name, params):
    """95% Wald intervals from rrreg's OPG standard errors cover the planted slope."""
    reps, n = 2500, 1500
    beta = np.array([-0.4, 0.7])
    dsg = sv.rr_design(name, **params)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(reps, n))
    pi = 1 / (1 + np.exp(-(beta[0] + beta[1] * x)))
    answers = dsg.simulate_answers((rng.random((reps, n)) < pi).astype(np.int8), rng)
    hits = np.empty((reps, 2), dtype=bool)
    for r in range(reps):
        # the model matrix is built here (formula parsing is tested elsewhere); fit and SEs are rr_regression's
        res = rr_logit(np.column_stack([np.ones(n), x[r]]), answers[r].astype(float), dsg, names=["(Intercept)", "x"])
        c = res.coefficients["sensitive"]
        for j, t in enumerate(("(Intercept)", "x")):
            hits[r, j] = abs(c[t]["coef"] - beta[j]) <= 1.959964 * c[t]["se"]
    print(f"{name} regression coverage: intercept {hits[:, 0].mean():.4f}, slope {hits[:, 1].mean():.4f}")
    assert np.all((hits.mean(axis=0) >= 0.935) & (hits.mean(axis=0) <= 0.965)), hits.mean(axis=0)


def test_simulate_matches_prevalence():
    trait, ans = simulate("crosswise", 0.2, 200_000, 1, q=0.25)
    r = sv.rr_prevalence(pd.DataFrame({"y": ans}), "y", "crosswise", q=0.25)
    assert abs(r.estimate - trait.mean()) < 4 * r.se


def test_clustered_regression_sandwich_coverage():
    """Weighted, clustered sample with a cluster-level covariate: the design-based sandwich SE
    of the slope covers; rrreg's OPG SE (which ignores the clustering) would be too small."""
    reps, psus, m = 1500, 120, 12
    beta = np.array([-0.5, 0.8])
    dsg = sv.rr_design("forced", p=2 / 3, p1=1 / 6)
    rng = np.random.default_rng(31)
    n = psus * m
    cluster = np.repeat(np.arange(psus), m)
    xc = rng.normal(size=(reps, psus))
    effect = rng.normal(scale=0.8, size=(reps, psus))  # cluster random effect on the logit
    x = np.repeat(xc, m, axis=1) + 0.5 * rng.normal(size=(reps, n))
    # the random effect attenuates the marginal slope, so coverage is checked around the
    # simulation mean of the estimates: this tests the standard error, not the bias
    lin = beta[0] + beta[1] * x + np.repeat(effect, m, axis=1)
    trait = (rng.random((reps, n)) < 1 / (1 + np.exp(-lin))).astype(np.int8)
    answers = dsg.simulate_answers(trait, rng).astype(float)
    w = rng.uniform(0.5, 2.0, size=n)
    svy = sv.Survey(pd.DataFrame({"w": w, "c": cluster}), weights="w", psu="c")
    X = np.empty((n, 2))
    X[:, 0] = 1
    slopes = np.empty(reps)
    ses = np.empty(reps)
    opg = np.empty(200)
    for r in range(reps):
        X[:, 1] = x[r]
        res = rr_logit(X, answers[r], dsg, names=["(Intercept)", "x"], weights=w, survey=svy)
        slopes[r] = res.coefficients["sensitive"]["x"]["coef"]
        ses[r] = res.coefficients["sensitive"]["x"]["se"]
        if r < 200:
            opg[r] = rr_logit(X, answers[r], dsg, names=["(Intercept)", "x"]).coefficients["sensitive"]["x"]["se"]
    # the target is the population-averaged (marginal) slope: estimate it from the simulation
    target = slopes.mean()
    coverage = np.mean(np.abs(slopes - target) <= 1.959964 * ses)
    print(f"clustered regression: sandwich coverage {coverage:.4f}, sd {slopes.std():.4f}, "
          f"mean sandwich se {ses.mean():.4f}, mean OPG se {opg.mean():.4f}")
    assert 0.93 <= coverage <= 0.97
    assert ses.mean() == pytest.approx(slopes.std(ddof=1), rel=0.08)
    assert opg.mean() < 0.85 * slopes.std(ddof=1)
