"""The analyze pipeline: numbers against closed forms, R's survey and the estimator APIs; outputs;
the CLI contract; missing estimators and failing designs."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce import pipeline
from test_study_fixtures import make_study


def _no_weighting(study: Path) -> Path:
    text = study.read_text(encoding="utf-8").replace('[weighting]\nmargins = "margins.toml"\n', "")
    study.write_text(text, encoding="utf-8")
    return study


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    study = make_study(folder / "study")
    out = folder / "out"
    res = sv.analyze(study, out_dir=out)
    return study, out, res


def test_unweighted_direct_share_matches_the_closed_form(tmp_path):
    study = _no_weighting(make_study(tmp_path / "s", n=500, seed=7))
    res = sv.analyze(study)
    df = pd.read_csv(tmp_path / "s" / "respondents.csv")
    y = (df["q_support"] == 1).to_numpy(float)
    n, p = len(y), y.mean()
    r = res.question("support_direct")["result"]
    assert r["estimate"] == pytest.approx(p, rel=1e-12)
    # with-replacement linearization of a mean with equal weights: p(1-p)/(n-1)
    assert r["se"] == pytest.approx(np.sqrt(p * (1 - p) / (n - 1)), rel=1e-9)
    assert r["n"] == n
    assert res.data["weighting"]["status"] == "none"
    # item nonresponse: plain shares of the codes 99 and 98
    inr = res.question("support_direct")["item_nonresponse"]
    assert inr["hard_to_say"] == pytest.approx((df["q_support"] == 99).mean())
    assert inr["refused"] == pytest.approx((df["q_support"] == 98).mean())


def test_raked_direct_share_and_se_match_r_survey(tiny, tmp_path):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    study, _, res = tiny
    folder = study.parent
    script = f"""
suppressMessages(library(survey))
d <- read.csv("{folder / 'respondents.csv'}")
d$yes <- as.numeric(d$q_support == 1)
des <- svydesign(ids = ~1, weights = ~1, data = d)
n <- nrow(d)
ps <- list(data.frame(sex = c("male", "female"), Freq = n * c(0.45, 0.55)),
           data.frame(age_group = c("18-39", "40+"), Freq = n * c(0.35, 0.65)))
r <- rake(des, list(~sex, ~age_group), ps, control = list(maxit = 100, epsilon = 1e-12))
m <- svymean(~yes, r)
b <- svyby(~yes, ~sex, r, svymean)
cat(sprintf("%.15g %.15g %.15g %.15g\\n", coef(m), SE(m), coef(b)[["female"]], SE(b)[1]))
"""
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    est, se, est_f, se_f = map(float, out.stdout.split())
    r = res.question("support_direct")["result"]
    assert r["estimate"] == pytest.approx(est, rel=1e-8)
    assert r["se"] == pytest.approx(se, rel=1e-8)
    female = next(g for g in r["groups"] if g["by"] == "sex" and g["level"] == "female")
    assert female["estimate"] == pytest.approx(est_f, rel=1e-8)
    assert female["se"] == pytest.approx(se_f, rel=1e-8)


def test_pipeline_numbers_equal_the_estimator_apis(tiny):
    study, _, res = tiny
    from sottovoce.rr import rr_prevalence

    df = sv.read_table(study.parent / "respondents.csv")
    df["yes"] = (df["q_support"] == 1).astype(float)
    svy = sv.Survey(df).rake(study.parent / "margins.toml")
    assert res.question("support_direct")["result"]["estimate"] == pytest.approx(svy.mean("yes").estimate, rel=1e-12)
    rr = rr_prevalence(svy, "rr_answer", "forced", p=0.75, p1=0.125, p0=0.125)
    got = res.question("support_rr")["result"]
    assert got["estimate"] == pytest.approx(rr.estimate, rel=1e-12) and got["se"] == pytest.approx(rr.se, rel=1e-12)
    # the comparison is direct − indirect, and its point estimate is exactly the difference
    comp = res.data["comparisons"][0]
    assert comp["definition"] == "direct - indirect"
    assert comp["estimate"] == pytest.approx(svy.mean("yes").estimate - rr.estimate, abs=1e-12)
    lo, hi = comp["ci"]
    assert lo < comp["estimate"] < hi
    # the planted truth: a share of opponents says "yes" when asked directly
    assert comp["estimate"] > 0


def test_outputs_are_complete_and_stay_inside_the_folder(tiny):
    study, out, res = tiny
    assert sorted(p.name for p in out.iterdir()) == ["charts", "report.html", "results.csv", "results.json"]
    assert sorted(p.name for p in study.parent.parent.iterdir()) == ["out", "study"]  # no temp folder left
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data == res.to_dict()
    assert data["format"] == pipeline.FORMAT
    assert data["study"]["sha256"] == hashlib.sha256(study.read_bytes()).hexdigest()
    assert {"sottovoce", "numpy", "pandas", "scipy", "python"} <= set(data["versions"])
    assert {q["id"]: q["status"] for q in data["questions"]} == {"support_direct": "done", "support_rr": "done"}
    codes = pd.read_csv(study.parent / "dispositions.csv", dtype=str)["disposition"]
    # RR1 = I / (all cases but the not eligible, 4.x): AAPOR Standard Definitions
    assert data["nonresponse"]["status"] == "done"
    assert data["nonresponse"]["rates"]["RR1"] == pytest.approx((codes == "1.1").sum() / (codes != "4.1").sum(), rel=1e-12)
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert list(rows[0]) == pipeline.CSV_COLUMNS
    islands = [r for r in rows if r["category"] == "Islands"]
    assert islands and all(r["suppressed"] == "True" and r["estimate"] == "" and r["ci_low"] == "" for r in islands)
    direct = next(r for r in rows if r["question"] == "support_direct" and r["group"] == "")
    assert float(direct["estimate"]) == data["questions"][0]["result"]["estimate"]
    assert {p.name for p in (out / "charts").iterdir()} == {"compare.svg", "by-sex.svg", "by-region.svg", "nonresponse-sensitivity.svg"}
    assert (out / "charts" / "compare.svg").read_text(encoding="utf-8").startswith("<svg")


def test_analyze_keeps_other_files_in_an_existing_folder(tmp_path, cli):
    study = make_study(tmp_path / "s", n=300)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    res = cli("analyze", study, "--out", out, "--json")
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == ["charts", "notes.txt", "report.html", "results.csv", "results.json"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_cli_json_prints_one_object_and_report_rerenders_identically(tmp_path, cli):
    study = make_study(tmp_path / "s", n=300)
    out = tmp_path / "out"
    res = cli("analyze", study, "--out", out, "--json", "--lang", "ru")
    assert res.code == 0, res.err
    payload = json.loads(res.out)  # exactly one JSON object, nothing else on stdout
    assert payload["outputs"]["report"] == str(out / "report.html")
    assert payload["headline"][0].startswith("На прямой вопрос")
    assert payload["questions"] == json.loads((out / "results.json").read_text(encoding="utf-8"))["questions"]
    again = cli("report", out / "results.json", "--out", tmp_path / "again.html", "--lang", "ru")
    assert again.code == 0, again.err
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == (out / "report.html").read_text(encoding="utf-8")
    en = cli("report", out / "results.json", "--out", tmp_path / "en.html", "--json", "--lang", "en")
    assert en.code == 0 and json.loads(en.out)["headline"][0].startswith("Asked directly")


def test_report_command_bad_input(tmp_path, cli):
    res = cli("report", tmp_path / "missing.json", "--out", tmp_path / "r.html")
    assert res.code == 2 and "results file not found" in res.err
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}', encoding="utf-8")
    res = cli("report", bad, "--out", tmp_path / "r.html")
    assert res.code == 2 and "not a sottovoce results.json" in res.err
    assert not (tmp_path / "r.html").exists()


def test_missing_data_file_and_bad_language_exit_2_without_output(tmp_path, cli):
    study = make_study(tmp_path / "s", n=200)
    (tmp_path / "s" / "respondents.csv").unlink()
    res = cli("analyze", study, "--out", tmp_path / "out")
    assert res.code == 2 and "respondents.csv" in res.err and "not found" in res.err
    study = make_study(tmp_path / "t", n=200)
    res = cli("analyze", study, "--out", tmp_path / "out", "--lang", "de")
    assert res.code == 2 and "unknown report language 'de'" in res.err
    assert not (tmp_path / "out").exists()


def test_a_missing_estimator_is_skipped_cleanly(tmp_path, monkeypatch):
    study = make_study(tmp_path / "s", n=300)
    real = pipeline._module
    monkeypatch.setattr(pipeline, "_module", lambda name: None if name in ("rr", "nonresponse") else real(name))
    res = sv.analyze(study, out_dir=tmp_path / "out")
    assert res.question("support_rr") == {"id": "support_rr", "type": "rr", "measures": "support_direct", "wording": {},
                                          "status": "skipped", "reason": "not_available"}
    assert res.data["comparisons"] == []
    assert {"step": "nonresponse", "reason": "not_available"} in res.data["skipped"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "No direct question is linked to an indirect one" in html
    assert "this estimator is not available in this version of sottovoce" in html


def test_a_design_that_cannot_be_estimated_is_recorded_not_fatal(tmp_path):
    # the answers were generated with p1 = p0 = 0.125; claiming p1 = 0.65 makes the
    # implied prevalence impossible, which rr_prevalence reports as a DesignError
    study = make_study(tmp_path / "s", n=400)
    text = study.read_text(encoding="utf-8").replace("p = 0.75\np1 = 0.125\np0 = 0.125", "p = 0.3\np1 = 0.65\np0 = 0.05")
    study.write_text(text, encoding="utf-8")
    res = sv.analyze(study, out_dir=tmp_path / "out")
    q = res.question("support_rr")
    assert q["status"] == "failed" and "outside [0, 1]" in q["message"]
    assert res.question("support_direct")["status"] == "done"
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "“support_rr” could not be estimated" in html


def test_notebook_display_and_summary(tiny):
    _, _, res = tiny
    html = res._repr_html_()
    assert html.startswith("<div>") and "<table>" in html and "support_direct" in html
    text = res.summary()
    assert text.splitlines()[0].startswith("Asked directly")
    assert "suppressed" in text  # the 12 respondents of region Islands
    assert sv.analyze is pipeline.analyze and sv.StudyResults is pipeline.StudyResults


def test_output_folder_that_would_replace_an_input_is_refused(tmp_path, cli):
    folder = tmp_path / "s"
    study = make_study(folder, n=200)
    (folder / "respondents.csv").rename(folder / "results.csv")
    study.write_text(study.read_text(encoding="utf-8").replace('path = "respondents.csv"', 'path = "results.csv"'), encoding="utf-8")
    before = (folder / "results.csv").read_bytes()
    res = cli("analyze", study, "--out", folder)
    assert res.code == 2 and "would replace the input file results.csv" in res.err
    assert (folder / "results.csv").read_bytes() == before and not (folder / "report.html").exists()


def test_report_labels_reach_results_json(tmp_path):
    study = make_study(tmp_path / "s", n=200, extra='')
    text = study.read_text(encoding="utf-8").replace("min_cell = 30", 'min_cell = 30\nlabels = { sex = { en = "Sex", ru = "Пол" }, "sex=male" = { en = "Men", ru = "Мужчины" } }')
    study.write_text(text, encoding="utf-8")
    res = sv.analyze(study)
    assert res.data["labels"]["sex=male"] == {"en": "Men", "ru": "Мужчины"}
    assert "Мужчины" in res.report_html("ru")


def test_real_chronicles_wave_reproduces_the_published_topline(tmp_path, wave1):
    # Chronicles wave 1 (real SPSS data, Cyrillic labels): published weighted topline 59% support
    (tmp_path / "study.toml").write_text(f'''
[study]
id = "chronicles-1"
title = "Chronicles wave 1"

[data]
path = "{wave1}"
weights = "wes_age_gender_tnp"

[report]
subgroups = ["AGE_GR"]

[[questions]]
id = "support"
type = "direct"
column = "Q4"
yes = [1]
hard_to_say = [99]
''', encoding="utf-8")
    res = sv.analyze(tmp_path / "study.toml", out_dir=tmp_path / "out", lang="ru")
    r = res.question("support")["result"]
    assert round(100 * r["estimate"]) == 59
    assert round(100 * res.question("support")["item_nonresponse"]["hard_to_say"]) == 19
    assert r["n"] == 1807 - 16  # zero weights excluded
    assert res.question("support")["yes_labels"]  # the data's own Cyrillic value label
    head = res.headline("ru")[0]
    assert head.startswith("На прямой вопрос 59% ответили «") and re.search("[А-Яа-я]", head.split("«")[1])
    assert {g["by"] for g in r["groups"]} == {"AGE_GR"} and len(r["groups"]) >= 3


def test_every_question_type_runs_and_equals_its_estimator(tmp_path):
    from sottovoce import listexp
    from sottovoce.rr import rr_prevalence
    from test_study_fixtures import ALL_DESIGNS

    study = make_study(tmp_path / "s", n=1500, seed=11, extra=ALL_DESIGNS)
    res = sv.analyze(study, out_dir=tmp_path / "out", lang="ru")
    assert {q["id"]: q["status"] for q in res.data["questions"]} == dict.fromkeys(
        ["support_direct", "support_rr", "support_list", "support_double", "support_cw"], "done")
    df = sv.read_table(tmp_path / "s" / "respondents.csv")
    svy = sv.Survey(df).rake(tmp_path / "s" / "margins.toml")
    frame = df.assign(w=svy.weights)
    cw = rr_prevalence(svy, "cw_answer", "crosswise", q=0.25)
    assert res.question("support_cw")["result"]["estimate"] == pytest.approx(cw.estimate, rel=1e-12)
    # list experiments get the calibrated design, so their SEs include the raking residuals
    lst = listexp.list_experiment(svy, "list_count", "list_treat", 3)
    assert res.question("support_list")["result"]["estimate"] == pytest.approx(lst.estimate, rel=1e-12)
    assert res.question("support_list")["result"]["se"] == pytest.approx(lst.se, rel=1e-12)
    assert res.question("support_list")["se_weights"] == "calibrated"
    fixed = listexp.list_experiment(frame, "list_count", "list_treat", 3, weights="w")
    assert fixed.estimate == pytest.approx(lst.estimate, rel=1e-12) and fixed.se != lst.se
    assert res.question("support_list")["design_test"]["p_value"] is not None
    dbl = listexp.double_list(svy, "list_a", "list_b", "double_treat", 3, 3)
    assert res.question("support_double")["result"]["estimate"] == pytest.approx(dbl.estimate, rel=1e-12)
    # every indirect question is compared with the direct one: the list gap is direct − list
    comps = {c["indirect"]: c for c in res.data["comparisons"]}
    assert set(comps) == {"support_rr", "support_list", "support_cw"}
    yes = (df["q_support"] == 1).astype(float)
    direct = float(np.average(yes, weights=svy.weights))
    assert comps["support_list"]["estimate"] == pytest.approx(direct - lst.estimate, abs=1e-12)
    assert comps["support_cw"]["estimate"] == pytest.approx(direct - cw.estimate, abs=1e-12)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    for name in ("списочный эксперимент", "двойной списочный эксперимент", "перекрёстная модель", "рандомизированный ответ"):
        assert name in html
    assert "Droitcour et al. (1991)" in html and "Yu, Tian &amp; Tang (2008)" in html


def test_bad_data_values_exit_2_naming_the_column_and_write_nothing(tmp_path, cli):
    study = make_study(tmp_path / "s", n=200)
    df = pd.read_csv(tmp_path / "s" / "respondents.csv")
    df.loc[5, "rr_answer"] = 7
    df.to_csv(tmp_path / "s" / "respondents.csv", index=False)
    res = cli("analyze", study, "--out", tmp_path / "out")
    assert res.code == 2, res.err
    assert "rr_answer" in res.err and "0/1" in res.err and res.err.count("\n") == 1
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s"]
