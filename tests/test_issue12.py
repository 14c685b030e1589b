"""The cases of issue 12, run as a user would: each gives the right or an honest answer."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sottovoce as sv
from sottovoce.errors import DesignError, InputError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "respondents.csv"


@pytest.fixture
def wave1() -> Path:
    """Chronicles wave 1, bundled with sottovoce (so these tests never skip for want of data)."""
    return Path(sv.datasets.path("chronicles-01"))

R_CHISQ = r"""
suppressMessages({library(foreign); library(survey)})
d <- read.spss(commandArgs(TRUE)[1], to.data.frame = FALSE, use.value.labels = FALSE)
d <- data.frame(Q4 = d$Q4, TNP = d$TNP, w = d$wes_age_gender_tnp)
des <- svydesign(ids = ~1, weights = ~w, data = d)
# respondents with a positive weight, the empty TNP level dropped (droplevels)
sub <- subset(des, w > 0)
sub$variables$Q4 <- droplevels(factor(sub$variables$Q4)); sub$variables$TNP <- droplevels(factor(sub$variables$TNP))
f <- svychisq(~Q4 + TNP, sub)
c1 <- svychisq(~Q4 + TNP, sub, statistic = "Chisq")
cat(sprintf('{"F": %.12g, "ndf": %.12g, "ddf": %.12g, "p": %.12g, "chisq": %.12g, "p_chisq": %.12g}',
            f$statistic, f$parameter[1], f$parameter[2], f$p.value, c1$statistic, c1$p.value))
"""


# -- the wrong test ------------------------------------------------------------------------------
def test_rao_scott_drops_the_zero_weight_level_and_matches_r(wave1, tmp_path):
    """Q4 × TNP on wave 1: TNP = 3 has only zero weights. It is left out (and said), as R's
    svychisq after droplevels: F = 4.269 on 2.0 and 3573.6 df, p = 0.0141 (was 2.407, p = 0.051)."""
    df = sv.read_table(wave1)
    t = sv.Survey(df, weights="wes_age_gender_tnp").chisq("Q4", "TNP")
    assert t.estimate == pytest.approx(4.269, abs=5e-4)
    assert t.details["p_value"] == pytest.approx(0.0141, abs=5e-5)
    assert any("TNP=3" in w and "zero weight" in w for w in t.warnings)
    text = t.summary()
    assert "F = 4.269" in text and "2.00, 3573.60" in text and "0.0141" in text
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not installed")
    script = tmp_path / "chisq.R"
    script.write_text(R_CHISQ)
    out = subprocess.run([rscript, str(script), str(wave1)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and "there is no package called" in out.stderr:
        pytest.skip(out.stderr.strip().splitlines()[-1])
    assert out.returncode == 0, out.stderr
    ref = json.loads(out.stdout)
    assert t.details["F"] == pytest.approx(ref["F"], rel=1e-6)
    assert [t.details["ndf"], t.details["ddf"]] == pytest.approx([ref["ndf"], ref["ddf"]], rel=1e-6)
    assert t.details["p_value"] == pytest.approx(ref["p"], rel=1e-5)
    assert t.details["pearson_chisq"] == pytest.approx(ref["chisq"], rel=1e-6)  # R's "Chisq" prints Pearson's X²
    assert t.details["p_value_chisq"] == pytest.approx(ref["p_chisq"], rel=1e-5)


def test_readme_estimate_command_prints_the_right_test(cli, wave1):
    r = cli("estimate", wave1, "--var", "Q4", "--weights", "wes_age_gender_tnp", "--by", "TNP", "--ci", "beta", "--chisq", "TNP")
    assert r.code == 0, r.err
    assert "F = 4.269" in r.out and "0.0141" in r.out and "2.407" not in r.out
    assert "TNP=3" in r.err and "dropped" in r.err
    js = cli("estimate", wave1, "--var", "Q4", "--weights", "wes_age_gender_tnp", "--chisq", "TNP", "--json").json()
    assert js["chisq"]["F"] == pytest.approx(4.269, abs=5e-4) and js["chisq"]["tests"]["F"]["df"][0] == pytest.approx(1.996, abs=1e-3)


def test_rao_scott_drops_an_empty_category():
    rng = np.random.default_rng(4)
    n = 400
    df = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.integers(0, 3, n), "w": rng.uniform(0.5, 2, n)})
    base = sv.Survey(df, weights="w").chisq("a", "b")
    cat = df.assign(b=pd.Categorical(df.b, categories=[0, 1, 2, 7]))
    with_empty = sv.Survey(cat, weights="w").chisq("a", "b")
    assert with_empty.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert any("b=7" in w and "no respondents" in w for w in with_empty.warnings)


# -- one way in for the design -------------------------------------------------------------------
def test_weights_as_a_series_and_a_design_given_twice():
    df = pd.read_csv(DEMO)
    rng = np.random.default_rng(0)
    df["w"] = rng.uniform(0.5, 2, len(df))
    by_name = sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, weights="w")
    by_series = sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, weights=df["w"])
    assert by_series.estimate == by_name.estimate and by_series.se == by_name.se
    lst = sv.list_experiment(df, "list_count", "list_treat", 4, weights=df["w"])
    assert lst.se == sv.list_experiment(df, "list_count", "list_treat", 4, weights="w").se
    with pytest.raises(InputError, match="index does not match"):
        sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, weights=df["w"].iloc[::2].reset_index(drop=True))
    with pytest.raises(InputError, match="weights=5 must be a column name"):
        sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, weights=5)
    svy = sv.Survey(df, weights="w")
    with pytest.raises(InputError, match="given twice"):
        sv.rr_prevalence(svy, "rr_answer", "forced", p=2 / 3, p1=1 / 6, weights="w")
    with pytest.raises(InputError, match="given twice"):
        sv.list_experiment(svy, "list_count", "list_treat", 4, weights="w")


def test_a_survey_works_everywhere():
    df = pd.read_csv(DEMO)
    df["w"] = np.random.default_rng(1).uniform(0.5, 2, len(df))
    svy = sv.Survey(df, weights="w")
    for fit in (
        lambda d, **kw: sv.split_ballot(d, "q_support", "list_treat", **kw),
        lambda d, **kw: sv.item_nonresponse(d, ["q_support"], hard_to_say=[9], **kw),
        lambda d, **kw: sv.survey_bounds(d, "q_support", 1, 0, 0.3, **kw),
        lambda d, **kw: sv.rr_prevalence(d, "rr_answer", "forced", p=2 / 3, p1=1 / 6, **kw),
        lambda d, **kw: sv.list_experiment(d, "list_count", "list_treat", 4, **kw),
    ):
        a, b = fit(svy), fit(df, weights="w")
        assert a.to_dict() == b.to_dict()


def test_polars_frames_are_converted():
    pl = pytest.importorskip("polars")
    df = pd.read_csv(DEMO)
    a = sv.list_experiment(pl.from_pandas(df), "list_count", "list_treat", 4)
    assert a.estimate == sv.list_experiment(df, "list_count", "list_treat", 4).estimate


# -- impossible shares -----------------------------------------------------------------------------
def test_a_seven_answer_pilot_is_flagged_not_published():
    df = pd.DataFrame({"count": [1, 0, 2, 3, 3, 2, 3], "treat": [0, 0, 0, 1, 1, 1, 1]})
    r = sv.list_experiment(df, "count", "treat", 3)
    assert r.estimate == pytest.approx(2.75 - 1.0)  # kept as computed: 175%
    assert r.out_of_range and r.to_dict()["out_of_range"] is True
    assert r.ci is not None and 0 <= r.ci[0] <= r.ci[1] <= 1
    assert any("outside [0%, 100%]" in w for w in r.warnings)
    assert "(!)" in r.summary() and "(!)" in r._repr_html_()


def test_whole_interval_outside_the_range_is_empty():
    df = pd.DataFrame({"count": [3] * 40 + [0] * 40, "treat": [0] * 40 + [1] * 40})
    df.loc[0, "count"] = 2  # a little variance
    r = sv.list_experiment(df, "count", "treat", 3)
    assert r.estimate < -2 and r.ci is None and r.out_of_range
    assert any("no value is compatible" in w for w in r.warnings)
    assert json.loads(json.dumps(r.to_dict(), allow_nan=False))["ci"] is None


def test_list_by_district_intervals_stay_in_0_1(cli):
    out = cli("list", DEMO, "--count", "list_count", "--treat", "list_treat", "--items", "4", "--by", "district", "--json")
    assert out.code == 0, out.err
    for g in out.json()["groups"]:
        assert 0 <= g["ci"][0] <= g["ci"][1] <= 1


def test_three_valued_treatment_needs_named_arms(cli, tmp_path):
    df = pd.read_csv(DEMO).iloc[:11].copy()
    df["arm"] = [0, 1, 2] * 3 + [0, 1]
    with pytest.raises(InputError, match=r"arms=\{0: 'control'"):
        sv.list_experiment(df, "list_count", "arm", 4)
    r = sv.list_experiment(df, "list_count", "arm", 4, arms={0: "control", 1: "item A", 2: "item B"})
    assert [c.label for c in r.categories] == ["item A", "item B"]
    assert sum("only" in w and "respondents" in w for w in r.warnings) == 3  # every arm is tiny
    for c in r.categories:
        assert 0 <= c.ci[0] <= c.ci[1] <= 1
    path = tmp_path / "three.csv"
    df.to_csv(path, index=False)
    bad = cli("list", path, "--count", "list_count", "--treat", "arm", "--items", "4")
    assert bad.code == 2 and '--arms "0=control,1=item 1,2=item 2"' in bad.err and "arms={" not in bad.err
    ok = cli("list", path, "--count", "list_count", "--treat", "arm", "--items", "4", "--arms", "0=control,1=item A,2=item B")
    assert ok.code == 0 and "item A" in ok.out and "only 3 respondents" in ok.err


def test_text_arms_with_control_like_r_factors():
    rng = np.random.default_rng(9)
    n = 900
    arm = rng.choice(["control", "affirm", "race"], n)
    z1, z2 = rng.random(n) < 0.3, rng.random(n) < 0.6
    y = rng.binomial(3, 0.5, n) + (arm == "affirm") * z1 + (arm == "race") * z2
    df = pd.DataFrame({"y": y, "treat": arm})
    with pytest.raises(InputError, match="control="):
        sv.list_experiment(df, "y", "treat", 3)
    r = sv.list_experiment(df, "y", "treat", 3, control="control")
    assert [c.label for c in r.categories] == ["affirm", "race"]
    assert r.categories[1].estimate == pytest.approx(y[arm == "race"].mean() - y[arm == "control"].mean())


# -- one small subgroup does not kill the question -----------------------------------------------
def test_rr_subgroup_all_zero_fails_alone(cli, tmp_path):
    df = pd.read_csv(DEMO)
    df.loc[df.district == "Ural", "rr_answer"] = 0
    r = sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, by="district")
    ural = next(g for g in r.groups if g.level == "Ural")
    assert ural.failed is not None and "not followed" in ural.failed and ural.estimate is None
    assert all(g.failed is None for g in r.groups if g.level != "Ural") and r.estimate is not None
    assert r.to_dict()["groups"][[g.level for g in r.groups].index("Ural")]["failed"]
    path = tmp_path / "rr.csv"
    df.to_csv(path, index=False)
    out = cli("rr", path, "--response", "rr_answer", "--design", "forced", "--p", "0.6667", "--p1", "0.1667", "--by", "district")
    assert out.code == 0 and "not estimated" in out.out and "--truncate" in out.err and "truncate=True" not in out.err
    assert out.err.count("district=Ural") == 1


def test_empty_and_zero_weight_levels_are_dropped_and_said():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"y": rng.integers(0, 2, 300), "g": rng.integers(0, 3, 300), "w": rng.uniform(0.5, 2, 300)})
    df.loc[df.g == 2, "w"] = 0.0
    df["g"] = pd.Categorical(df.g, categories=[0, 1, 2, 5])
    r = sv.Survey(df, weights="w").mean("y", by="g")
    assert [g.level for g in r.groups] == [0, 1]
    assert any("g=2" in w and "zero weight" in w for w in r.warnings)
    assert any("g=5" in w and "no respondents" in w for w in r.warnings)


# -- errors for Python users -------------------------------------------------------------------
def test_wrong_types_are_input_errors_naming_the_parameter():
    df = pd.read_csv(DEMO)
    with pytest.raises(InputError, match=r"p='0\.667' must be a number"):
        sv.rr_prevalence(df, "rr_answer", "forced", p="0.667", p1=1 / 6)
    with pytest.raises(DesignError, match=r"needs q=") as exc:
        sv.rr_prevalence(df, "rr_answer", "unrelated", p=0.7)
    assert "--" not in str(exc.value)
    with pytest.raises(InputError, match="level="):
        sv.list_experiment(df, "list_count", "list_treat", 4, level="95%")
    with pytest.raises(InputError, match="margins="):
        sv.rake(df, 5)
    raked = sv.rake(df, pd.DataFrame({"variable": ["sex", "sex"], "category": ["male", "female"], "share": [0.46, 0.54]}))
    assert raked.shape == (len(df),)
    with pytest.raises(InputError, match="truncate="):
        sv.rr_prevalence(df, "rr_answer", "forced", p=2 / 3, p1=1 / 6, truncate="yes")
    with pytest.raises(InputError, match="items="):
        sv.list_experiment(df, "list_count", "list_treat", "four")


def test_library_messages_never_name_cli_flags():
    import re

    src = ROOT / "src" / "sottovoce"
    mine = ["survey.py", "intervals.py", "_results.py", "display.py", "subgroups.py", "validate.py", "planning.py", "margins.py"]
    offenders = []
    for path in [*(src / m for m in mine), *(src / "rr").glob("*.py"), *(src / "listexp").glob("*.py"), *(src / "nonresponse").glob("*.py")]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"(Error|warn|append)\(.*[\"'][^\"']*--[a-z]", line):
                offenders.append(f"{path.name}:{i}")
    assert not offenders, offenders


# -- summaries ---------------------------------------------------------------------------------
def test_manski_html_shows_the_bounds_and_summaries_show_warnings():
    b = sv.manski_bounds(0.59, 0.22, 0.3, 0.012, 0.010)
    html = b._repr_html_()
    assert "17.7 – 93.4" in html and "17.7 – 93.4" in b.summary()
    r = sv.list_experiment(pd.DataFrame({"count": [1, 0, 2, 3, 3, 2, 3], "treat": [0, 0, 0, 1, 1, 1, 1]}), "count", "treat", 3)
    for w in r.warnings:
        assert w in r.summary()


# -- structure -----------------------------------------------------------------------------------
def test_import_is_light_and_rr_has_no_import_cycle():
    code = ("import sys, sottovoce; heavy = [m for m in ('numpy', 'pandas', 'scipy', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    # sottovoce --help loads the command modules but no numerical library (start-up, bench_startup.py)
    code = ("import io, sys, contextlib; from sottovoce.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "print(','.join(m for m in ('numpy', 'pandas', 'scipy', 'rich.table', 'formulaic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    gap = (ROOT / "src" / "sottovoce" / "rr" / "gap.py").read_text(encoding="utf-8")
    assert "from .prevalence" not in gap and "import prevalence" not in gap


def test_public_api_is_explicit():
    assert "fit_logistic" not in sv.__all__ and "check_toplines" not in sv.__all__
    for name in sv.__all__:
        assert getattr(sv, name) is not None
    assert sv.as_survey is sv.survey.as_survey
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in set(re.findall(r"\bsv\.([A-Za-z_]\w*)", readme)):
        assert hasattr(sv, name), f"README names sv.{name}, which is not exported"


def test_interval_rule_t_on_the_design_df():
    from sottovoce.intervals import interval

    iv = interval(0.3, 0.05, "share", df=9)
    q = stats.t.ppf(0.975, 9)
    assert (iv.low, iv.high) == pytest.approx((0.3 - q * 0.05, 0.3 + q * 0.05))
    assert interval(0.98, 0.05, "share", df=9).high == 1.0
    d = interval(-0.9, 0.2, "share-difference", df=math.inf)
    assert d.low == -1.0 and d.method == "t-truncated"
    e = interval(1.5, 0.1, "share", df=30)
    assert e.empty and e.pair is None and e.out_of_range
