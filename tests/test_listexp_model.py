"""List-experiment control models (issue 17): the control-model tests, the beta-binomial model,
the respondent-types model, and the choice the pipeline and CLI make between them."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

import sottovoce as sv
from sottovoce.errors import DesignError, InputError
from sottovoce.listexp import fit_list_model
from sottovoce.listexp import fit_test as ft
from sottovoce.listexp.betabinomial import BBModel, bb_logpmf, bb_pmf_table
from sottovoce.listexp.dim import dim_influence
from sottovoce.listexp.types import _design, _loglik, fit_types, moment_types

UNEQUAL = (0.2, 0.45, 0.6, 0.75)


def sample(n=2000, seed=0, probs=UNEQUAL, truth=0.35, **extra):
    """Control items with the given prevalences (independent), a sensitive item of prevalence
    ``truth``, half the respondents treated."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < truth
    c = sum(rng.random(n) < p for p in probs)
    t = rng.permutation(n) < n // 2
    return pd.DataFrame({"count": c + t * z, "treat": t.astype(int), **{k: v(rng, n) for k, v in extra.items()}})


def overdispersed(n=3000, seed=0, rho=0.2, mu=0.4, J=4, truth=0.35):
    rng = np.random.default_rng(seed)
    phi = rho / (1 - rho)
    c = rng.binomial(J, rng.beta(mu / phi, (1 - mu) / phi, n))
    t = rng.integers(0, 2, n)
    return pd.DataFrame({"count": c + t * (rng.random(n) < truth), "treat": t, "x": rng.normal(size=n)})


# -- beta-binomial ------------------------------------------------------------------------------
def test_beta_binomial_pmf_matches_scipy_and_tends_to_the_binomial():
    J, eta, zeta = 4, np.array([-2.0, 0.1, 1.7]), -1.2
    mu, phi = 1 / (1 + np.exp(-eta)), np.exp(zeta)  # gamlss sigma = ρ/(1 − ρ) = exp(logit ρ)
    ref = np.stack([scipy_stats.betabinom.pmf(y, J, mu / phi, (1 - mu) / phi) for y in range(J + 1)], axis=1)
    np.testing.assert_allclose(bb_pmf_table(J, eta, zeta), ref, rtol=1e-12)
    binom = np.stack([scipy_stats.binom.pmf(y, J, mu) for y in range(J + 1)], axis=1)
    np.testing.assert_allclose(bb_pmf_table(J, eta, -30.0), binom, rtol=1e-10)
    lp, _, _ = bb_logpmf(np.array([-1.0, 5.0]), J, np.zeros(2), zeta)
    assert np.all(lp == -np.inf)


def test_beta_binomial_derivatives_are_exact():
    df = overdispersed(600, seed=3)
    X = np.c_[np.ones(len(df)), df.x]
    m = BBModel(y=df["count"].to_numpy(float), t=df.treat.to_numpy(), X=X, terms=["(Intercept)", "x"], J=4, wt=np.ones(len(df)))
    theta = np.array([-0.5, 0.2, -0.3, 0.1, -1.4])
    ll, g, H = m.derivatives(theta)
    eps = 1e-6
    num = np.array([(m.loglik(theta + eps * e) - m.loglik(theta - eps * e)) / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H, m.hessian_fd(theta), rtol=1e-6, atol=1e-6)


def test_beta_binomial_fit_recovers_the_truth_and_fits_the_control_arm():
    df = overdispersed(20000, seed=4, rho=0.2, mu=0.4)
    res = sv.list_experiment(df, "count", "treat", 4, method="ml", overdispersed=True)
    assert res.details["rho"] == pytest.approx(0.2, abs=0.02)
    assert res.estimate == pytest.approx(0.35, abs=3 * res.se)
    assert res.coefficients["overdispersion"]["overdispersion"]["coef"] == pytest.approx(np.log(0.2 / 0.8), abs=0.15)
    assert res.hypothesis_tests["control_fit"]["p_value"] > 0.01
    # the binomial model on the same data is rejected, and says the counts are over-dispersed
    binom = sv.list_experiment(df, "count", "treat", 4, method="ml")
    test = binom.hypothesis_tests["control_fit"]
    assert test["p_value"] < 1e-6 and test["dispersion"] > 1.3
    assert any("over-dispersed" in w and "overdispersed=True" in w for w in binom.warnings)


def test_beta_binomial_refuses_under_dispersed_counts_and_other_models():
    df = sample(4000, seed=5)
    with pytest.raises(DesignError, match="boundary"):
        sv.list_experiment(df, "count", "treat", 4, method="ml", overdispersed=True)
    for kw in ({"constrained": False}, {"ceiling": True}):
        with pytest.raises(InputError, match="overdispersed=True"):
            sv.list_experiment(df, "count", "treat", 4, method="ml", overdispersed=True, **kw)
    with pytest.raises(InputError, match="method='ml'"):
        sv.list_experiment(df, "count", "treat", 4, method="nls", overdispersed=True)


# -- control-model tests -------------------------------------------------------------------------
def test_control_law_test_rejects_unequal_prevalences_and_reports_its_parts():
    res = sv.list_experiment(sample(2000, seed=6), "count", "treat", 4, method="ml")
    t = res.hypothesis_tests["control_fit"]
    assert {"name", "statistic_name", "statistic", "df", "p_value"} <= set(t)
    assert t["statistic_name"] == "F" and t["df"][0] == 4 and t["df"][1] == pytest.approx(1999 - 4 + 1)
    assert t["p_value"] < 0.05 and t["dispersion"] < 1
    assert sum(t["observed"]) == pytest.approx(1) and sum(t["expected"]) == pytest.approx(1)
    assert any("under-dispersed" in w and "method='types'" in w for w in res.warnings)
    out = res.to_dict()
    assert out["tests"]["control_fit"]["p_value"] == t["p_value"]
    assert "control-count law" in res.summary()


def test_control_law_test_linearisation_matches_its_definition():
    # F·k·d/(d − k + 1) is the Wald χ² r'V⁻r with V from cov_total of the stated influence values
    df = sample(1500, seed=7, probs=(0.4,) * 4)
    res = sv.list_experiment(df, "count", "treat", 4, method="ml")
    t = res.hypothesis_tests["control_fit"]
    k, ddf = t["df"]
    assert t["statistic"] == pytest.approx(t["chi2"] * ddf / ((ddf + k - 1) * k), rel=1e-12)
    assert t["chi2"] >= 0 and 0 < t["p_value"] <= 1


def test_pooling_merges_sparse_counts_from_the_tails():
    assert ft._pool(np.array([1.0, 30, 40, 20, 2])) == [[0, 1], [2], [3, 4]]
    assert ft._pool(np.array([10.0, 10, 10])) == [[0], [1], [2]]
    assert ft._pool(np.array([1.0, 1, 1])) == [[0, 1, 2]]
    # a sparse cell inside joins its smaller neighbour
    assert ft._pool(np.array([20.0, 6, 1, 30])) == [[0], [1, 2], [3]]


def test_control_test_with_weights_and_clusters_uses_the_design():
    df = sample(3000, seed=8, probs=(0.4,) * 4, w=lambda r, n: r.uniform(0.5, 2, n), psu=lambda r, n: r.integers(0, 60, n))
    res = sv.list_experiment(df, "count", "treat", 4, method="ml", weights="w", psu="psu")
    t = res.hypothesis_tests["control_fit"]
    assert t["df"][1] == pytest.approx(59 - t["df"][0] + 1)  # PSUs − 1 design df
    assert t["p_value"] > 0.01


def test_nls_mean_test_needs_covariates():
    df = sample(1500, seed=9, x=lambda r, n: r.normal(size=n))
    plain = sv.list_experiment(df, "count", "treat", 4, method="nls").hypothesis_tests["control_fit"]
    assert plain["p_value"] is None and "saturated" in plain["reason"]
    withx = sv.list_experiment(df, "count", "treat", 4, method="nls", covariates="x").hypothesis_tests["control_fit"]
    assert withx["p_value"] is not None and withx["groups"] == 10


def test_nls_mean_test_flags_a_wrong_mean_model():
    # control mean depends on x², which a logistic mean in x cannot follow
    rng = np.random.default_rng(10)
    n = 6000
    x = rng.normal(size=n)
    c = rng.binomial(4, 1 / (1 + np.exp(-(-1 + 1.2 * x ** 2))))
    t = rng.integers(0, 2, n)
    df = pd.DataFrame({"count": c + t * (rng.random(n) < 0.3), "treat": t, "x": x})
    res = sv.list_experiment(df, "count", "treat", 4, method="nls", covariates="x")
    assert res.hypothesis_tests["control_fit"]["p_value"] < 1e-4
    assert any("NLS control model" in w for w in res.warnings)


# -- respondent types ----------------------------------------------------------------------------
def test_types_equal_dim_and_its_design_se_when_the_moment_solution_is_feasible():
    df = sample(4000, seed=11, w=lambda r, n: r.uniform(0.5, 2, n), psu=lambda r, n: r.integers(0, 80, n))
    ty = sv.list_experiment(df, "count", "treat", 4, method="types", weights="w", psu="psu")
    dim = sv.list_experiment(df, "count", "treat", 4, weights="w", psu="psu")
    assert ty.details["moment_feasible"]
    assert ty.estimate == pytest.approx(dim.estimate, abs=1e-12)
    assert ty.se == pytest.approx(dim.se, rel=1e-10)
    pi = {(r["y"], r["sensitive"]): r["estimate"] for r in ty.details["pi"]}
    test = sv.list_design_test(df, "count", "treat", 4)  # same respondent-type estimates (unweighted)
    unw = sv.list_experiment(df, "count", "treat", 4, method="types")
    assert {(r["y"], r["sensitive"]): r["estimate"] for r in unw.details["pi"]} == pytest.approx(
        {(r["y"], r["sensitive"]): r["estimate"] for r in test.details["pi"]}, abs=1e-12)
    assert sum(pi.values()) == pytest.approx(1)


def test_types_observed_se_is_the_multinomial_variance():
    df = sample(3000, seed=12)
    ty = sv.list_experiment(df, "count", "treat", 4, method="types")
    y, t = df["count"].to_numpy(float), df.treat.to_numpy() == 1
    var = y[t].var() / t.sum() + y[~t].var() / (~t).sum()  # ML (divisor n) variances
    assert ty.se == pytest.approx(np.sqrt(var), rel=1e-9)


def test_types_constrained_mle_satisfies_kkt_and_beats_feasible_points():
    # the sensitive item only among respondents with ≥ 2 control items: types (0, 1), (1, 1) are
    # zero and the moment solution is negative in small samples
    rng = np.random.default_rng(13)
    n = 300
    c = sum(rng.random(n) < p for p in UNEQUAL)
    z = (rng.random(n) < 0.5) & (c >= 2)
    t = rng.permutation(n) < n // 2
    y = (c + t * z).astype(float)
    f = fit_types(y, t, ~t, np.ones(n), 4)
    assert not f.moment_feasible and f.active.any()
    n_cells = np.r_[np.bincount(y[~t].astype(int), minlength=6)[:5], np.bincount(y[t].astype(int), minlength=6)]
    A = _design(4)
    pi = np.r_[f.pi[0], f.pi[1]]
    assert np.all(pi >= 0) and pi.sum() == pytest.approx(1)
    g = A.T @ np.where(n_cells > 0, n_cells / (A @ pi), 0.0)
    N = n_cells.sum()
    free = pi > 0
    np.testing.assert_allclose(g[free], N, rtol=1e-8)
    assert np.all(g[~free] <= N * (1 + 1e-8))
    best = f.loglik
    for _ in range(200):
        cand = rng.dirichlet(np.ones(10))
        assert _loglik(n_cells.astype(float), A, cand) <= best + 1e-9
    assert best == pytest.approx(_loglik(n_cells.astype(float), A, pi))
    res = sv.list_experiment(pd.DataFrame({"count": y, "treat": t.astype(int)}), "count", "treat", 4, method="types")
    assert any("at zero" in note for note in res.notes) and res.details["types_at_zero"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(40, 400), J=st.integers(1, 5))
def test_types_properties(seed, n, J):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 0.95, J)
    c = sum(rng.random(n) < p for p in probs)
    z = rng.random(n) < rng.uniform(0.05, 0.9)
    t = rng.permutation(n) < n // 2
    y = (c + t * z).astype(float)
    w = rng.integers(1, 4, n).astype(float)
    f = fit_types(y, t, ~t, w, J)
    # a share, type shares on the simplex
    assert 0 <= f.prevalence <= 1 and np.all(f.pi >= 0) and f.pi.sum() == pytest.approx(1)
    # invariant to the order of the respondents
    perm = rng.permutation(n)
    g = fit_types(y[perm], t[perm], ~t[perm], w[perm], J)
    assert g.prevalence == pytest.approx(f.prevalence, abs=1e-10) and g.se == pytest.approx(f.se, rel=1e-8, abs=1e-12)
    # integer weights are frequency weights: the same as repeating the rows
    rep = np.repeat(np.arange(n), w.astype(int))
    h = fit_types(y[rep], t[rep], ~t[rep], np.ones(len(rep)), J)
    assert h.prevalence == pytest.approx(f.prevalence, abs=1e-9)
    # where the moment solution is feasible it is the MLE and the prevalence is the weighted DiM
    dim, _ = dim_influence(y, t, ~t, w)
    nc = np.bincount(y[~t].astype(int), weights=w[~t], minlength=J + 2)[: J + 1]
    nt = np.bincount(y[t].astype(int), weights=w[t], minlength=J + 2)
    if np.all(moment_types(nc, nt) >= 0):
        assert f.moment_feasible and f.prevalence == pytest.approx(dim, abs=1e-12)
    else:
        # the constrained MLE is at least as likely as the clipped moment solution
        clipped = np.maximum(moment_types(nc, nt), 0)
        clipped /= clipped.sum()
        assert f.loglik >= _loglik(np.r_[nc, nt], _design(J), clipped) - 1e-9


def test_types_rejects_covariates_and_sandwich():
    df = sample(500, seed=14, x=lambda r, n: r.normal(size=n))
    with pytest.raises(InputError, match="no covariates"):
        sv.list_experiment(df, "count", "treat", 4, method="types", covariates="x")
    with pytest.raises(InputError, match="observed"):
        sv.list_experiment(df, "count", "treat", 4, method="types", se="sandwich")


def test_types_by_subgroup_and_several_items():
    df = sample(3000, seed=15, g=lambda r, n: r.integers(0, 3, n))
    res = sv.list_experiment(df, "count", "treat", 4, method="types", by="g")
    assert len(res.groups) == 3 and all(0 <= g.estimate <= 1 for g in res.groups)
    for g in res.groups:
        sub = df[df.g == g.level]
        assert g.estimate == pytest.approx(sv.list_experiment(sub, "count", "treat", 4, method="types").estimate, abs=1e-12)
    rng = np.random.default_rng(16)
    n = 3000
    arm = rng.integers(0, 3, n)
    c = sum(rng.random(n) < p for p in UNEQUAL)
    df3 = pd.DataFrame({"count": c + (arm == 1) * (rng.random(n) < 0.3) + (arm == 2) * (rng.random(n) < 0.2), "treat": arm})
    multi = sv.list_experiment(df3, "count", "treat", 4, method="types", arms={0: "control", 1: "A", 2: "B"})
    assert [c.label for c in multi.categories] == ["A", "B"]


# -- the choice: fit_list_model ------------------------------------------------------------------
def test_auto_falls_back_to_dim_for_under_dispersed_counts_and_says_so():
    df = sample(2000, seed=17)
    res = fit_list_model(df, "count", "treat", 4, method="ml")
    dim = sv.list_experiment(df, "count", "treat", 4)
    assert res.method == "list-dim" and res.estimate == dim.estimate and res.se == dim.se
    assert res.details["list_model"] == "dim" and res.details["list_model_requested"] == "auto"
    assert res.hypothesis_tests["control_fit[binomial]"]["p_value"] < 0.05
    assert any("rejected" in n for n in res.notes) and any("difference in means" in n for n in res.notes)
    ml = sv.list_experiment(df, "count", "treat", 4, method="ml")
    assert res.details["rejected_estimate"] == pytest.approx(ml.estimate) and res.details["rejected_ci"] == pytest.approx(ml.ci)
    # binomial keeps the ML fit with its warning
    kept = fit_list_model(df, "count", "treat", 4, method="ml", list_model="binomial")
    assert kept.method == "list-ml" and kept.warnings


def test_auto_reports_the_beta_binomial_when_it_fits():
    df = overdispersed(3000, seed=18)
    res = fit_list_model(df, "count", "treat", 4, method="ml", covariates="x")
    assert res.details["list_model"] == "betabinomial" and "overdispersion" in res.coefficients
    assert res.hypothesis_tests["control_fit[binomial]"]["p_value"] < 0.05
    assert res.hypothesis_tests["control_fit"]["p_value"] >= 0.05
    assert res.details["rejected_model"] == "binomial" and 0 < res.details["rejected_estimate"] < 1


def test_auto_keeps_the_binomial_model_when_it_holds():
    df = sample(2000, seed=19, probs=(0.4,) * 4)
    res = fit_list_model(df, "count", "treat", 4, method="ml")
    assert res.details["list_model"] == "binomial" and res.method == "list-ml" and not res.notes


def test_fit_list_model_other_choices_and_bad_input():
    df = sample(1500, seed=20)
    assert fit_list_model(df, "count", "treat", 4, method="ml", list_model="types").method == "list-types"
    assert fit_list_model(df, "count", "treat", 4, method="dim").method == "list-dim"
    assert fit_list_model(df, "count", "treat", 4, method="lm").method == "list-lm"
    with pytest.raises(InputError, match="list_model="):
        fit_list_model(df, "count", "treat", 4, list_model="poisson")
    with pytest.raises(InputError, match="method='ml'"):
        fit_list_model(df, "count", "treat", 4, method="nls", list_model="betabinomial")
    # a Survey gets design-based SEs
    svy = sv.Survey(df)
    r = fit_list_model(svy, "count", "treat", 4, method="ml", list_model="binomial")
    assert r.details["se_type"] == "design"


# -- study file, pipeline, CLI ---------------------------------------------------------------------
LIST_Q = '''
[[questions]]
id = "uneq_list"
type = "list"
count = "uneq_count"
treat = "list_treat"
items = 4
method = "ml"
{model}
'''


def _study_with_unequal_list(tmp_path, model=""):
    from test_study_fixtures import make_study

    study = make_study(tmp_path / "s", n=1500, seed=21, extra=LIST_Q.format(model=model))
    path = tmp_path / "s" / "respondents.csv"
    df = pd.read_csv(path)
    rng = np.random.default_rng(22)
    c = sum(rng.random(len(df)) < p for p in (0.1, 0.3, 0.7, 0.9))
    df["uneq_count"] = c + df.list_treat * (rng.random(len(df)) < 0.35)
    df.to_csv(path, index=False)
    return study


def test_study_file_list_model_is_parsed_and_checked(tmp_path):
    from sottovoce.errors import SottovoceError
    from sottovoce.study import load_study

    study = load_study(_study_with_unequal_list(tmp_path, 'list_model = "betabinomial"'))
    q = [q for q in study.questions if q.id == "uneq_list"][0]
    assert q.list_model == "betabinomial"
    assert [q for q in load_study(_study_with_unequal_list(tmp_path / "b")).questions if q.id == "uneq_list"][0].list_model == "auto"
    with pytest.raises(SottovoceError, match="list_model"):
        load_study(_study_with_unequal_list(tmp_path / "c", 'list_model = "poisson"'))


def test_pipeline_falls_back_and_says_so(tmp_path):
    res = sv.analyze(_study_with_unequal_list(tmp_path))
    q = res.question("uneq_list")
    assert q["status"] == "done"
    r = q["result"]
    assert r["method"] == "list-dim" and r["list_model"] == "dim"
    assert r["tests"]["control_fit[binomial]"]["p_value"] < 0.05
    assert any("difference in means" in n for n in r["notes"])
    # the report names the method actually used and says why, in both languages
    from sottovoce.report import build_view

    en, ru = build_view(res.to_dict(), "en"), build_view(res.to_dict(), "ru")
    assert any("uneq_list" in c and "did not fit" in c and "difference in means" in c for c in en["caveats"])
    assert any("uneq_list" in c and "разность средних" in c for c in ru["caveats"])
    assert "List experiment (difference in means)" in " ".join(en["methods"])
    assert "List experiment (maximum likelihood)" not in " ".join(en["methods"])


def test_cli_list_ml_falls_back_and_model_option(cli, tmp_path):
    path = tmp_path / "l.csv"
    sample(2000, seed=23).to_csv(path, index=False)
    base = ["list", path, "--count", "count", "--treat", "treat", "--items", "4"]
    out = cli(*base, "--method", "ml", "--json")
    assert out.code == 0, out.err
    res = json.loads(out.out)
    assert res["method"] == "list-dim" and res["list_model"] == "dim" and res["notes"]
    out = cli(*base, "--method", "ml", "--model", "binomial", "--json")
    assert out.code == 0 and json.loads(out.out)["method"] == "list-ml" and "under-dispersed" in out.err
    out = cli(*base, "--method", "ml", "--model", "betabinomial")
    assert out.code == 2 and out.err.startswith("error: ") and "--model binomial" in out.err and "--method types" in out.err
    out = cli(*base, "--method", "types", "--json")
    assert out.code == 0 and json.loads(out.out)["method"] == "list-types"
    out = cli(*base, "--method", "ml", "--model", "poisson")
    assert out.code == 2 and "--model" in out.err


def test_dispersion_of_a_sum_of_bernoullis_is_below_the_binomial():
    # the reason for all of the above: Σ p(1 − p) ≤ J p̄ (1 − p̄), with equality iff all p are equal
    for probs in product((0.1, 0.5, 0.9), repeat=3):
        p = np.array(probs)
        assert np.sum(p * (1 - p)) <= len(p) * p.mean() * (1 - p.mean()) + 1e-15


# -- properties ----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(J=st.integers(1, 8), eta=st.floats(-6, 6), zeta=st.floats(-12, 4))
def test_beta_binomial_pmf_properties(J, eta, zeta):
    P = bb_pmf_table(J, np.array([eta]), zeta)[0]
    mu, rho = 1 / (1 + np.exp(-eta)), 1 / (1 + np.exp(-zeta))
    y = np.arange(J + 1)
    assert np.all(P >= 0) and P.sum() == pytest.approx(1, abs=1e-12)
    # moments of Imai's (2011) overdispersed model: mean Jμ, variance Jμ(1 − μ)(1 + (J − 1)ρ)
    assert P @ y == pytest.approx(J * mu, rel=1e-10, abs=1e-12)
    var = P @ (y - J * mu) ** 2
    assert var == pytest.approx(J * mu * (1 - mu) * (1 + (J - 1) * rho), rel=1e-8, abs=1e-12)
    phi = np.exp(zeta)
    np.testing.assert_allclose(P, scipy_stats.betabinom.pmf(y, J, mu / phi, (1 - mu) / phi), rtol=1e-9, atol=1e-300)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(300, 1500), J=st.integers(2, 5), scale=st.floats(0.1, 50))
def test_fit_list_model_properties(seed, n, J, scale):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.1, 0.9, J)
    df = sample(n, seed=seed, probs=tuple(probs), truth=float(rng.uniform(0.05, 0.6)),
                w=lambda r, m: r.uniform(0.5, 2.0, m))
    try:
        res = fit_list_model(df, "count", "treat", J, method="ml", weights="w")
    except DesignError:  # an ML fit on the boundary is refused with a message, never a wrong number
        return
    model = res.details["list_model"]
    assert model in ("binomial", "betabinomial", "dim")
    lo, hi = res.ci
    assert 0 <= lo <= hi <= 1
    tests = res.hypothesis_tests
    binom = tests["control_fit"] if model == "binomial" else tests["control_fit[binomial]"]
    # the choice follows the binomial model's test
    assert (model == "binomial") == (binom["p_value"] is None or binom["p_value"] >= 0.05)
    if model == "dim":
        dim = sv.list_experiment(df, "count", "treat", J, weights="w")
        assert res.estimate == dim.estimate and res.ci == dim.ci
    # a constant factor on the weights changes nothing; nor does the order of the respondents
    perm = rng.permutation(n)
    other = fit_list_model(df.iloc[perm].assign(w=df.w.iloc[perm] * scale), "count", "treat", J, method="ml", weights="w")
    assert other.details["list_model"] == model
    assert other.estimate == pytest.approx(res.estimate, abs=1e-7)
    b2 = other.hypothesis_tests["control_fit"] if model == "binomial" else other.hypothesis_tests["control_fit[binomial]"]
    assert b2["statistic"] == pytest.approx(binom["statistic"], rel=1e-5, abs=1e-8)
