"""Survey design: closed forms, edge cases, the estimate CLI, bad input and the real Chronicles data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sottovoce.errors import DesignError, InputError, SottovoceWarning
from sottovoce.intervals import proportion_interval
from sottovoce.survey import Survey

REF = Path(__file__).resolve().parent / "reference"


# -- intervals: published and closed-form values ------------------------------------------------
def test_wilson_matches_newcombe_1998():
    # Newcombe (1998, Stat Med 17:857), example 81/263: score interval 0.2553 to 0.3662.
    p, n = 81 / 263, 263
    iv = proportion_interval(p, p * (1 - p) / n, n, "wilson", df=None)
    assert (round(iv.low, 4), round(iv.high, 4)) == (0.2553, 0.3662)
    assert iv.n_eff == pytest.approx(n)


def test_zero_successes_closed_forms():
    n = 10
    wilson = proportion_interval(0.0, 0.0, n, "wilson", df=None)
    z2 = stats.norm.isf(0.025) ** 2
    assert wilson.low == 0 and wilson.high == pytest.approx(z2 / (n + z2))
    beta = proportion_interval(0.0, 0.0, n, "beta", df=None)
    assert beta.low == 0 and beta.high == pytest.approx(1 - 0.025 ** (1 / n))  # Clopper-Pearson
    for method in ("wald", "logit"):  # would be zero-width: fall back to Korn-Graubard
        iv = proportion_interval(0.0, 0.0, n, method, df=None)
        assert iv.method == "beta" and iv.fallback == "boundary" and iv.high > 0.2
    one = proportion_interval(1.0, 0.0, n, "wilson", df=None)
    assert one.high == 1 and one.low == pytest.approx(1 - z2 / (n + z2))


def test_logit_and_wald_closed_forms():
    p, var = 0.3, 0.0004
    iv = proportion_interval(p, var, 500, "logit", df=None)
    z = stats.norm.isf(0.025)
    eta, se = math.log(p / (1 - p)), math.sqrt(var) / (p * (1 - p))
    assert iv.low == pytest.approx(1 / (1 + math.exp(-(eta - z * se))))
    assert iv.high == pytest.approx(1 / (1 + math.exp(-(eta + z * se))))
    w = proportion_interval(p, var, 500, "wald", level=0.9, df=20)
    t = stats.t.isf(0.05, 20)
    assert (w.low, w.high) == pytest.approx((p - t * 0.02, p + t * 0.02))


def test_srs_unit_weights_give_textbook_se():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.3).astype(int)
    r = Survey(pd.DataFrame({"y": y})).mean("y")
    p, n = y.mean(), len(y)
    assert r.se == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    assert r.details["deff"] == pytest.approx(1.0)
    assert r.details["deff_kish"] == pytest.approx(1.0)


def test_kish_deff():
    w = np.array([1.0, 2.0, 3.0, 4.0])
    r = Survey(pd.DataFrame({"y": [0, 1, 1, 0], "w": w}), "w").mean("y")
    assert r.details["deff_kish"] == pytest.approx(4 * (w**2).sum() / w.sum() ** 2)


def test_fpc_with_full_census_gives_zero_variance():
    df = pd.DataFrame({"s": [1, 1, 2, 2], "y": [1.0, 2.0, 3.0, 5.0], "N": [2, 2, 2, 2]})
    assert Survey(df, strata="s", fpc="N").mean("y").se == pytest.approx(0.0, abs=1e-15)
    frac = Survey(df.assign(N=0.5), strata="s", fpc="N").mean("y").se
    assert frac == pytest.approx(Survey(df, strata="s").mean("y").se * math.sqrt(0.5))


# -- domains and edge cases -------------------------------------------------------------------
def test_domain_of_everything_equals_full_design():
    d = pd.read_csv(REF / "survey_data.csv")
    svy = Survey(d, "w", "stratum", "psu")
    a, b = svy.mean("x"), svy.domain(np.ones(len(d), bool)).mean("x")
    assert (a.estimate, a.se) == pytest.approx((b.estimate, b.se), rel=1e-12)


def test_domain_inside_one_psu_warns_and_keeps_a_real_interval():
    df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "g": [1, 1, 2, 2, 2, 2], "y": [0, 1, 1, 0, 1, 1]})
    svy = Survey(df, psu="psu")
    with pytest.warns(SottovoceWarning, match="one PSU"):
        r = svy.mean("y", by="g")
    g1 = r.groups[0]
    assert g1.warnings and "one PSU" in g1.warnings[0]
    assert g1.ci[1] - g1.ci[0] > 0.1


def test_share_of_zero_in_a_domain_has_positive_width():
    df = pd.DataFrame({"g": [1] * 30 + [2] * 30, "y": [0] * 30 + [0, 1] * 15})
    r = Survey(df).proportion("y", by="g", ci="logit")
    zero = r.groups[0].categories[1]
    assert zero.estimate == 0 and zero.ci[0] == 0 and zero.ci[1] > 0.05
    assert any("0 or 1" in w for w in r.warnings)


def test_lonely_psu_options():
    df = pd.DataFrame({"s": [1, 1, 1, 1, 2, 2], "p": [1, 1, 2, 2, 3, 3], "y": [1.0, 2, 3, 4, 5, 7]})
    adjust = Survey(df, strata="s", psu="p").total("y").se
    remove = Survey(df, strata="s", psu="p", lonely_psu="remove").total("y").se
    # stratum 1: PSU totals 3 and 7, n/(n-1) * sum of squared deviations = 2 * (4 + 4) = 16
    assert remove == pytest.approx(4.0)
    assert adjust == pytest.approx(math.sqrt(16 + 12**2))  # lonely PSU: deviation from zero
    with pytest.raises(DesignError, match="single PSU"):
        Survey(df, strata="s", psu="p", lonely_psu="fail")


def test_bootstrap_replicates_are_reproducible_and_resample_psus():
    d = pd.read_csv(REF / "survey_data.csv")
    base = Survey(d, "w", "stratum", "psu")
    a = base.with_replicates("bootstrap", n=30, seed=5)
    b = base.with_replicates("bootstrap", n=30, seed=5)
    np.testing.assert_array_equal(a.replicate_weights(), b.replicate_weights())
    mult = a._rep.multipliers
    # each replicate draws n_h PSUs in each stratum
    per_stratum = np.stack([mult[base._psu_stratum == h].sum(0) for h in range(4)])
    np.testing.assert_array_equal(per_stratum, np.repeat(base._n_h[:, None], 30, axis=1))
    nbar = 1 / np.mean(1 / base._n_h)
    assert a._rep.scale == pytest.approx(nbar / ((nbar - 1) * 29))
    se_lin, se_boot = base.mean("x").se, a.mean("x").se
    assert 0.5 < se_boot / se_lin < 2


def test_jkn_matches_linearization_for_a_total():
    # For a linear statistic the stratified jackknife equals the linearization variance exactly.
    d = pd.read_csv(REF / "survey_data.csv")
    base = Survey(d, "w", "stratum", "psu")
    assert base.with_replicates("jkn").total("x").se == pytest.approx(base.total("x").se, rel=1e-10)


def test_poststratified_se_smaller_for_a_poststratum_indicator():
    # The share of a post-stratum is fixed by the calibration: its SE must be zero.
    d = pd.read_csv(REF / "survey_data.csv").assign(g2=lambda t: (t.g == 2).astype(int))
    base = Survey(d, "w", "stratum", "psu")
    ps = base.poststratify("g", {1: 0.5, 2: 0.3, 3: 0.2})
    assert base.mean("g2").se > 0.01
    assert ps.mean("g2").estimate == pytest.approx(0.3)
    assert ps.mean("g2").se == pytest.approx(0.0, abs=1e-12)


# -- CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def small_csv(tmp_path):
    d = pd.read_csv(REF / "survey_data.csv")[["stratum", "psu", "w", "a", "b", "y", "cat", "x", "g", "xm"]]
    p = tmp_path / "s.csv"
    d.to_csv(p, index=False)
    return p


def test_cli_estimate_json_matches_python(cli, small_csv):
    r = cli("estimate", small_csv, "--var", "y", "--weights", "w", "--strata", "stratum", "--psu", "psu", "--json")
    assert r.code == 0, r.err
    out = r.json()
    svy = Survey(pd.read_csv(small_csv), "w", "stratum", "psu")
    assert out["estimate"] == pytest.approx(svy.mean("y").estimate)
    assert out["se"] == pytest.approx(svy.mean("y").se)
    assert set(out) >= {"estimate", "se", "ci", "n", "method"}


def test_cli_estimate_by_and_margins(cli, small_csv, tmp_path):
    m = tmp_path / "m.toml"
    m.write_text("[a]\n1 = 0.52\n2 = 0.48\n[b]\n1 = 0.3\n2 = 0.45\n3 = 0.25\n")
    r = cli("estimate", small_csv, "--var", "cat", "--by", "g", "--weights", "w", "--strata", "stratum",
            "--psu", "psu", "--margins", m, "--ci", "beta", "--categories", "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert [c["code"] for c in out["categories"]] == [1, 2, 99]
    assert len(out["groups"]) == 3 and len(out["groups"][0]["categories"]) == 3
    assert "raking" in out["design"]
    raked = Survey(pd.read_csv(small_csv), "w", "stratum", "psu").rake(
        {"a": {1: 0.52, 2: 0.48}, "b": {1: 0.3, 2: 0.45, 3: 0.25}})
    assert out["categories"][0]["se"] == pytest.approx(raked.proportion("cat").categories[0].se)


def test_cli_table_mentions_zero_weights(cli, tmp_path):
    p = tmp_path / "z.csv"
    pd.DataFrame({"y": [1, 0, 1, 1, 0], "w": [1.0, 0.0, 2.0, 1.0, 0.0]}).to_csv(p, index=False)
    r = cli("estimate", p, "--var", "y", "--weights", "w")
    assert r.code == 0 and "2 respondents with zero weight are excluded" in r.out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--var", "nope"], "column 'nope' not found"),
        (["--var", "y", "--weights", "neg"], "negative values"),
        (["--var", "y", "--weights", "miss"], "missing or non-numeric"),
        (["--var", "y", "--ci", "exact"], "--ci 'exact'"),
        (["--var", "y", "--level", "95"], "--level 95"),
        (["--var", "y", "--strata", "s", "--psu", "p", "--lonely-psu", "fail"], "single PSU"),
        (["--var", "y", "--strata", "s", "--fpc", "badfpc"], "varies within stratum"),
        (["--var", "y", "--weights", "zero"], "zero for every respondent"),
        (["--var", "y", "--margins", "MISSING.toml"], "MISSING.toml"),
    ],
)
def test_cli_bad_input(cli, tmp_path, args, needle):
    p = tmp_path / "bad.csv"
    pd.DataFrame({
        "y": [1, 0, 1, 0], "neg": [1.0, -1.0, 1.0, 1.0], "miss": [1.0, None, 1.0, 1.0], "zero": [0.0] * 4,
        "s": [1, 1, 2, 2], "p": [1, 2, 3, 3], "badfpc": [10, 11, 10, 10],
    }).to_csv(p, index=False)
    r = cli("estimate", p, *[str(a).replace("MISSING.toml", str(tmp_path / "MISSING.toml")) for a in args])
    assert r.code == 2, (r.code, r.err)
    assert r.err.startswith("error: ") and needle in r.err and r.err.count("\n") == 1
    assert r.out == ""


def test_cli_missing_and_empty_files(cli, tmp_path):
    r = cli("estimate", tmp_path / "none.csv", "--var", "y")
    assert r.code == 2 and "not found" in r.err
    e = tmp_path / "empty.csv"
    e.write_text("y,w\n")
    r = cli("estimate", e, "--var", "y")
    assert r.code == 2 and "no rows" in r.err


def test_python_bad_input_messages():
    df = pd.DataFrame({"y": [1, 0], "s": [1, None]})
    with pytest.raises(InputError, match="stratum column 's' has 1 missing"):
        Survey(df, strata="s")
    with pytest.raises(InputError, match="replicate_type"):
        Survey(df.assign(r1=1.0), replicate_weights=["r1"])
    with pytest.raises(DesignError, match="kind='jkn'"):
        Survey(pd.DataFrame({"y": [1, 0, 1, 1], "s": [1, 1, 2, 2]}), strata="s").with_replicates("jk1")
    with pytest.raises(InputError, match="not numeric"):
        Survey(pd.DataFrame({"y": ["a", "b"]})).mean("y")


# -- real data ------------------------------------------------------------------------------------
def test_chronicles_wave1_topline(cli, wave1):
    r = cli("estimate", wave1, "--var", "Q4", "--weights", "wes_age_gender_tnp", "--json")
    assert r.code == 0, r.err
    out = r.json()
    shares = [round(100 * c["estimate"]) for c in out["categories"]]
    assert shares == [59, 22, 19]  # the project's published topline
    assert round(out["weighted_base"]) == 1791
    assert out["n_zero_weight"] == 16 and out["n"] == 1791
    assert out["categories"][0]["label"].startswith("Да")
    ref = json.loads((REF / "chronicles_w1.json").read_text())  # R: svydesign(ids=~1, weights=~wt)
    np.testing.assert_allclose([c["estimate"] for c in out["categories"]], ref["estimate"], rtol=1e-6)
    np.testing.assert_allclose([c["se"] for c in out["categories"]], ref["se"], rtol=1e-6)
    logit = cli("estimate", wave1, "--var", "Q4", "--weights", "wes_age_gender_tnp", "--ci", "logit", "--json").json()
    np.testing.assert_allclose([c["ci"] for c in logit["categories"]], [x[1:] for x in ref["logit"]], rtol=1e-6)


def test_trim_keeps_calibration_and_caps_weights():
    d = pd.read_csv(REF / "survey_data.csv")
    svy = Survey(d, "w", "stratum", "psu")
    margins = {"a": {1: 0.52, 2: 0.48}, "b": {1: 0.3, 2: 0.45, 3: 0.25}}
    t = svy.trim(upper=1.5, margins=margins)
    w = t.weights
    assert w.max() <= 1.5 * w.mean() * (1 + 1e-6)
    assert t.calibrated and "raking" in t.mean("y").details["design"]
    # the margins still hold, so their indicators have (near) zero SE after trimming + re-raking
    d2 = Survey(d.assign(a2=(d.a == 2).astype(int)), "w", "stratum", "psu").trim(upper=1.5, margins=margins)
    assert d2.mean("a2").estimate == pytest.approx(0.48, abs=1e-6)
    assert d2.mean("a2").se < 1e-6
    plain = svy.trim(upper=1.5)
    assert not plain.calibrated and "trimmed" in plain.mean("y").details["design"]


def test_package_reexports_survey():
    import sottovoce as sv

    assert sv.Survey is Survey


def test_cli_chisq_matches_python(cli, small_csv):
    r = cli("estimate", small_csv, "--var", "cat", "--categories", "--weights", "w", "--strata", "stratum",
            "--psu", "psu", "--chisq", "g", "--json")
    assert r.code == 0, r.err
    t = r.json()["chisq"]
    ref = json.loads((REF / "survey_reference.json").read_text())["strata_psu"]
    assert t["F"] == pytest.approx(ref["chisq_F"]["statistic"], rel=1e-6)
    assert t["p_value_chisq"] == pytest.approx(ref["chisq_Chisq"]["p"], rel=1e-6)
    text = cli("estimate", small_csv, "--var", "cat", "--categories", "--weights", "w", "--chisq", "g")
    assert text.code == 0 and "Rao-Scott test of cat × g" in text.out


def test_replicate_se_undefined_when_a_replicate_misses_the_group():
    df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "g": [1, 1, 2, 2, 2, 2], "y": [0, 1, 1, 0, 1, 1]})
    jk = Survey(df, psu="psu").with_replicates("jk1")
    with pytest.warns(SottovoceWarning, match="replicate SE is undefined"):
        r = jk.mean("y", by="g")
    assert r.groups[0].se is None or math.isnan(r.groups[0].se)
    assert math.isfinite(r.groups[1].se)


def test_deff_reference_is_chosen_once_for_the_design_not_per_group():
    """Weights scaled to the sample (they sum to n): every group's deff compares with SRS with
    replacement, also a group weighted up to more than twice its size — with constant weights
    inside it, its deff is 1 (it flipped to 'without replacement' and about 2 when each group
    chose for itself)."""
    rng = np.random.default_rng(5)
    g = np.r_[np.zeros(20, int), np.ones(80, int)]
    df = pd.DataFrame({"g": g, "w": np.where(g == 0, 3.0, 0.5), "y": rng.integers(0, 2, 100)})
    res = Survey(df, "w").proportion("y", by="g")
    refs = {c.details["deff_srs"] for grp in res.groups for c in grp.categories}
    assert refs == {"with replacement"}
    for grp in res.groups:
        for c in grp.categories:
            assert c.details["deff"] == pytest.approx(1.0, rel=0.05)
