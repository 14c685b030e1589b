"""Manski / Imbens–Manski / propensity-ratio bounds, sensitivity curve, tipping point, SMUB."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import sottovoce as sv
from sottovoce.errors import InputError
from sottovoce.nonresponse import (
    imbens_manski_c,
    manski_bounds,
    propensity_ratio_bounds,
    sensitivity_curve,
    smub,
    survey_bounds,
    tipping_point,
)

share = st.one_of(st.just(0.0), st.floats(1e-9, 1))
shares = st.tuples(share, share).filter(lambda t: t[0] + t[1] <= 1 and t[0] + t[1] > 1e-3)
rates = st.floats(1e-3, 1)


def test_worst_case_closed_form():
    b = manski_bounds(0.59, 0.22, 0.10)
    assert (b.lower, b.upper) == pytest.approx((0.059, 1 - 0.022))
    assert b.estimate == pytest.approx(0.59 / 0.81)


@settings(max_examples=300, deadline=None)
@given(s=shares, r=rates, gamma=st.floats(1, 50))
def test_bounds_contain_complete_case_and_reported_share(s, r, gamma):
    y, n = s
    b = manski_bounds(y, n, r)
    cc = y / (y + n)
    assert b.lower - 1e-12 <= cc <= b.upper + 1e-12
    assert b.lower - 1e-12 <= y <= b.upper + 1e-12
    g = propensity_ratio_bounds(y, n, r, gamma)
    assert g.lower - 1e-12 <= cc <= g.upper + 1e-12
    assert b.lower - 1e-12 <= g.lower and g.upper <= b.upper + 1e-12  # nested in the worst case
    g1 = propensity_ratio_bounds(y, n, r, 1.0)
    assert g1.lower == pytest.approx(cc) and g1.upper == pytest.approx(cc)
    wider = propensity_ratio_bounds(y, n, r, gamma * 2)
    assert wider.lower <= g.lower + 1e-12 and wider.upper >= g.upper - 1e-12


def test_propensity_ratio_bound_derivation_by_simulation():
    # population with theta = 0.4; supporters answer with prob 0.3, opponents 0.15 (ratio 2)
    theta, p1, p0 = 0.4, 0.30, 0.15
    r = theta * p1 + (1 - theta) * p0
    p_obs = theta * p1 / r  # share of yes among answerers
    g = propensity_ratio_bounds(p_obs, 1 - p_obs, r, 2.0)
    assert g.lower == pytest.approx(theta)  # the true value sits on the bound at the true ratio
    assert propensity_ratio_bounds(p_obs, 1 - p_obs, r, 1.9).lower > theta


@settings(max_examples=200, deadline=None)
@given(s=shares, r=rates)
def test_sensitivity_curve_through_complete_case_and_spans_bounds(s, r):
    y, n = s
    cc = y / (y + n)
    curve = dict(sensitivity_curve(y, n, r).curve)
    assert curve[cc] == pytest.approx(cc, abs=1e-12)
    b = manski_bounds(y, n, r)
    assert curve[0.0] == pytest.approx(b.lower) and curve[1.0] == pytest.approx(b.upper)
    tp = tipping_point(y, n, r)
    if tp["share"] is not None:
        theta = r * y + (1 - r * (y + n)) * tp["share"]
        assert theta == pytest.approx(0.5)
    if tp["gamma"] is not None:
        g = propensity_ratio_bounds(y, n, r, tp["gamma"])
        assert min(abs(g.lower - 0.5), abs(g.upper - 0.5)) < 1e-9 or g.lower > 0.5 or g.upper < 0.5


def test_tipping_point_numbers():
    tp = tipping_point(0.59, 0.22, 0.10)
    # theta(s) = 0.059 + 0.919 s = 0.5  ->  s = 0.441/0.919
    assert tp["share"] == pytest.approx(0.441 / 0.919)
    assert tp["gamma"] == pytest.approx(0.59 / 0.22)
    robust = tipping_point(0.9, 0.05, 1.0)
    assert robust["share"] is None and "stays above" in robust["verdict"]


def test_imbens_manski_critical_value():
    assert imbens_manski_c(0.0, 1.0)[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-6)
    assert imbens_manski_c(100.0, 1.0)[0] == pytest.approx(stats.norm.ppf(0.95), abs=1e-6)
    c = imbens_manski_c(1.0, 1.0)[0]
    assert stats.norm.cdf(c + 1) - stats.norm.cdf(-c) == pytest.approx(0.95, abs=1e-9)


def test_survey_bounds_match_r_survey(wave1):
    # R: svymean(~I(q4==1)+I(q4==2), svydesign(ids=~1, weights=~wes_age_gender_tnp)), survey 4.x
    df = sv.read_table(wave1)
    b = survey_bounds(df, "Q4", 1, 2, response_rate=0.1, weights="wes_age_gender_tnp")
    assert b.details["yes_share"] == pytest.approx(0.592571625411, abs=1e-11)
    assert b.details["se_yes"] == pytest.approx(0.012083594364, abs=1e-11)
    assert b.details["no_share"] == pytest.approx(0.222119867639, abs=1e-11)
    assert b.details["se_no"] == pytest.approx(0.010154734429, abs=1e-11)
    assert b.lower == pytest.approx(0.1 * 0.592571625411) and b.upper == pytest.approx(1 - 0.1 * 0.222119867639)
    # the published topline (59% support, 22% not) is reproduced
    assert round(100 * b.details["yes_share"]) == 59 and round(100 * b.details["no_share"]) == 22


def test_bad_inputs():
    with pytest.raises(InputError, match="more than 100%"):
        manski_bounds(0.7, 0.4, 0.5)
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        manski_bounds(0.5, 0.4, 0.0)
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        sensitivity_curve(0.5, 0.4, 1.2)
    with pytest.raises(InputError, match=">= 1"):
        propensity_ratio_bounds(0.5, 0.4, 0.5, 0.5)


@pytest.mark.slow
def test_imbens_manski_coverage_monte_carlo():
    rng = np.random.default_rng(20260101)
    reps, n = 4000, 800
    for y0, n0, r, level in [(0.5, 0.3, 0.3, 0.95), (0.6, 0.4, 1.0, 0.95), (0.45, 0.45, 0.9, 0.90)]:
        counts = rng.multinomial(n, [y0, n0, 1 - y0 - n0], size=reps)
        y, no = counts[:, 0] / n, counts[:, 1] / n
        se_y, se_n = np.sqrt(y * (1 - y) / n), np.sqrt(no * (1 - no) / n)
        lo, hi = r * y, 1 - r * no
        c = imbens_manski_c(hi - lo, np.maximum(r * se_y, r * se_n), level)
        ci_lo, ci_hi = lo - c * r * se_y, hi + c * r * se_n
        true_lo, true_hi = r * y0, 1 - r * n0
        for theta in (true_lo, true_hi):  # the endpoints are the hardest points to cover
            cover = np.mean((ci_lo <= theta) & (theta <= ci_hi))
            assert level - 0.02 <= cover <= level + 0.02, (y0, n0, r, theta, cover)
        mid = (true_lo + true_hi) / 2
        assert np.mean((ci_lo <= mid) & (mid <= ci_hi)) >= level - 0.01


def test_smub_closed_forms():
    rng = np.random.default_rng(1)
    n = 2000
    age = rng.choice(["young", "old"], size=n, p=[0.7, 0.3])  # young over-represented
    y = (rng.random(n) < np.where(age == "young", 0.3, 0.7)).astype(int)
    df = pd.DataFrame({"y": y, "age": age})
    pop = {"age": {"young": 0.4, "old": 0.6}}
    res = smub(df, "y", 1, ["age"], pop, phi=(0.0, 0.5, 1.0))
    x = np.where(age == "young", y[age == "young"].mean(), y[age == "old"].mean())
    d = (x.mean() - (0.4 * y[age == "young"].mean() + 0.6 * y[age == "old"].mean())) / x.std(ddof=1)
    rho = np.corrcoef(x, y)[0, 1]
    assert res.smub[0.5] == pytest.approx(d)  # phi = 0.5: the standardized proxy difference
    assert res.smub[0.0] == pytest.approx(rho * d)
    assert res.smub[1.0] == pytest.approx(d / rho)
    # phi = 0 is the MAR adjustment: respondent mean minus bias = post-stratified mean
    ps = 0.4 * y[age == "young"].mean() + 0.6 * y[age == "old"].mean()
    assert res.adjusted[0.0] == pytest.approx(ps)
    with pytest.raises(InputError, match="no table"):
        smub(df, "y", 1, ["age"], {"sex": {"m": 1}})


def _mubp_world(seed=7, n_pop=400_000):
    rng = np.random.default_rng(seed)
    age = rng.choice(list("abcd"), size=n_pop)
    u = pd.Series(age).map({"a": -1.0, "b": -0.3, "c": 0.3, "d": 1.0}).to_numpy() + rng.normal(size=n_pop)
    y = (u > 0).astype(int)
    # selection depends on age only: ignorable given the auxiliary (phi = 0 holds)
    sel = rng.random(n_pop) < pd.Series(age).map({"a": 0.002, "b": 0.004, "c": 0.006, "d": 0.012}).to_numpy()
    return age, y, sel


def test_mubp_probit_proxy_and_phi0_recovers_ignorable_bias():
    sm = pytest.importorskip("statsmodels.api")
    from sottovoce.nonresponse import mubp
    from sottovoce.nonresponse.sensitivity import _fit_probit

    age, y, sel = _mubp_world()
    df = pd.DataFrame({"age": age[sel], "y": y[sel]})
    Z = pd.get_dummies(df["age"], drop_first=True).astype(float)
    Z.insert(0, "const", 1.0)
    beta = _fit_probit(Z.to_numpy(), df["y"].to_numpy(dtype=float))
    assert beta == pytest.approx(sm.Probit(df["y"], Z).fit(disp=0).params.to_numpy(), abs=1e-7)
    pop = {"age": {k: float((age == k).mean()) for k in "abcd"}}
    zp = pd.get_dummies(pd.Series(age[~sel]), drop_first=True).astype(float).to_numpy()
    res = mubp(df, "y", 1, ["age"], pop, selected_fraction=float(sel.mean()),
               population_var_x=float((beta[0] + zp @ beta[1:]).var()))
    true_bias = df["y"].mean() - y.mean()
    assert res.mubp[0.0] == pytest.approx(true_bias, abs=0.03)  # normal approximation to a 4-point proxy
    assert res.mubp[0.0] < res.mubp[0.5] < res.mubp[1.0]  # more selection on Y, more bias
    # no imbalance on the auxiliary: nothing to extrapolate, MUBP = 0 for every phi
    balanced = {"age": df["age"].value_counts(normalize=True).to_dict()}
    flat = mubp(df, "y", 1, ["age"], balanced)
    assert all(abs(v) < 1e-9 for v in flat.mubp.values())
