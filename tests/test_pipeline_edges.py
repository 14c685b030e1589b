"""Issue 12, the study half: the cases a user met, run as written.

* a 7-answer pilot whose list experiment gives a share above 100%: never a headline finding, the
  sign of the difference kept, every indirect design covered;
* a subgroup whose randomized answers are all 0: that group fails alone (with why), the question,
  the other groups and the overall gap stand; every failure on the console and in the report;
  ``truncate`` per question in the study file;
* ``min_cell = 30`` and a subgroup of 8 respondents: suppressed in results.json as in results.csv
  and the report; the report still re-renders from results.json alone.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.report import headline
from sottovoce.report.shares import failed, failure_reason
from test_report import visible
from test_study_fixtures import make_study

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"

PILOT = """
[study]
id = "pilot"
title = "Pilot"
[data]
path = "respondents.csv"
[report]
min_cell = 1
[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
yes = [1]
[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 3
measures = "support_direct"
{extra}
"""


def _pilot(folder: Path, extra: str = "", rows: str | None = None) -> Path:
    """Seven answers: 4 direct 'yes'; the list arms give a difference in means of 1.33."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "respondents.csv").write_text(rows or (
        "q_support,list_count,list_treat,rr_answer\n"
        "1,3,1,1\n2,1,0,0\n2,3,1,0\n1,0,0,1\n1,3,1,0\n2,3,0,0\n1,3,1,0\n"), encoding="utf-8")
    (folder / "study.toml").write_text(PILOT.format(extra=extra), encoding="utf-8")
    return folder / "study.toml"


RR_QUESTION = """
[[questions]]
id = "support_rr"
type = "rr"
design = "forced"
response = "rr_answer"
p = 0.75
p1 = 0.125
p0 = 0.125
measures = "support_direct"
"""


def test_pilot_never_headlines_an_impossible_share(tmp_path, cli):
    study = _pilot(tmp_path / "pilot")
    r = cli("analyze", study, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    lst = next(q for q in data["questions"] if q["id"] == "support_list")["result"]
    assert lst["estimate"] > 1  # the moment estimator's own answer, kept for checking
    head = " ".join(headline(data))
    assert "outside 0–100%" in head and "not a finding" in head
    assert f"{round(100 * lst['estimate'])}% (" not in head  # no "133% (±137)"
    assert "fear plausibly hides" not in head and "difference" not in head
    # the report: flagged in the table, a caveat, no chart point, intervals inside [0, 100]
    page = visible((tmp_path / "out" / "report.html").read_text())
    assert "impossible: outside 0–100%" in page.text("compare")
    assert "not a finding: the indirect estimate is impossible" in page.text("compare")
    assert "support_list" in page.text("caveats") and "outside 0–100%" in page.text("caveats")
    # results.csv: flagged, interval cut to [0, 1] (shares) and [-1, 1] (the gap)
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    lrow = next(x for x in rows if x["question"] == "support_list")
    assert lrow["out_of_range"] == "True" and 0 <= float(lrow["ci_low"]) <= float(lrow["ci_high"]) <= 1
    grow = next(x for x in rows if x["type"] == "gap")
    assert -1 <= float(grow["ci_low"]) <= float(grow["ci_high"]) <= 1
    # the terminal table says so too, for the share and for its difference to the direct answer
    table = r.out[r.out.index("side by side"):]  # rich wraps cells at 80 columns: look for the words
    assert "(impossible)" in table and "not a" in table.split("gap:")[1] and "finding)" in table.split("gap:")[1]


def test_every_indirect_design_is_in_the_headline_with_the_sign_of_its_difference(tmp_path):
    """The pilot's headline said "The difference (90 percentage points …)" while the table said
    −90.5, and it spoke of one design only."""
    study = _pilot(tmp_path / "pilot", extra=RR_QUESTION, rows=(
        "q_support,list_count,list_treat,rr_answer\n"
        "1,3,1,1\n2,1,0,1\n2,2,1,1\n1,2,0,1\n1,2,1,1\n2,2,0,1\n1,3,1,0\n2,1,0,1\n1,2,1,1\n2,2,0,1\n"))
    res = sv.analyze(study)
    head = res.headline()
    comps = {c["indirect"]: c for c in res.to_dict()["comparisons"]}
    assert comps["support_list"]["estimate"] == pytest.approx(0.5 - 0.8)  # direct 50%, list 2.4 − 1.6
    assert len(head) == 3  # the direct sentence, then one per indirect design
    lst = next(s for s in head if "list experiment" in s)
    assert "80%" in lst and "the difference, direct minus indirect, is −30 percentage points" in lst
    assert any("randomized response" in s for s in head)
    table = res.summary()
    assert "-30.0" in table  # the table and the sentence agree on the sign


def _demo_with_club(folder: Path, n_small: int = 12, min_cell: int = 10, extra: str = "") -> Path:
    """The demo study plus a subgroup column 'club' whose 'small' level answered the randomized
    question with 0 every time (the issue's case: prevalence -0.250, se 0)."""
    shutil.copytree(DEMO, folder)
    df = pd.read_csv(folder / "respondents.csv")
    df["club"] = np.where(np.arange(len(df)) < len(df) - n_small, "big", "small")
    df.loc[df["club"] == "small", "rr_answer"] = 0
    df.to_csv(folder / "respondents.csv", index=False)
    text = (folder / "study.toml").read_text(encoding="utf-8")
    text = text.replace('subgroups = ["sex", "age_group", "education", "settlement"]', 'subgroups = ["sex", "club"]')
    text = text.replace("min_cell = 30", f"min_cell = {min_cell}")
    text = text.replace('device = "die"\n', f'device = "die"\n{extra}')
    (folder / "study.toml").write_text(text, encoding="utf-8")
    return folder / "study.toml"


def test_one_subgroup_never_kills_a_whole_question(tmp_path, cli):
    study = _demo_with_club(tmp_path / "demo")
    r = cli("analyze", study, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    rr = next(q for q in data["questions"] if q["id"] == "support_rr")
    assert rr["status"] == "done" and 0 <= rr["result"]["estimate"] <= 1
    groups = {(g["by"], g["level"]): g for g in rr["result"]["groups"]}
    small = groups[("club", "small")]
    why = failure_reason(small)
    assert failed(small) and small["estimate"] is None and small["n"] == 12
    assert "-0.250" in why and "truncate = true" in why and "--truncate" not in why
    for key in (("sex", "female"), ("sex", "male"), ("club", "big")):
        assert groups[key]["estimate"] is not None and not failed(groups[key])
    # the same numbers as the estimator run on its own for the groups that stand
    direct = sv.rr_prevalence(pd.read_csv(tmp_path / "demo" / "respondents.csv"), "rr_answer", "forced", p=2 / 3, p1=1 / 6, p0=1 / 6)
    assert direct.n == rr["result"]["n"]
    gap = next(c for c in data["comparisons"] if c["indirect"] == "support_rr")
    ggroups = {(g["by"], g["level"]): g for g in gap["groups"]}
    assert failed(ggroups[("club", "small")]) and ggroups[("club", "big")]["estimate"] is not None
    # every failure on the console and named in the report
    assert "Not estimated:" in r.err and "support_rr" in r.err and "club = small" in r.err
    assert "--truncate" not in r.err and "truncate=True" not in r.err
    caveats = visible((tmp_path / "out" / "report.html").read_text()).text("caveats")
    assert "“support_rr” could not be estimated for club = small" in caveats and "-0.250" in caveats
    assert "The overall estimate and the other groups stand" in caveats


def test_truncate_is_set_per_question_in_the_study_file(tmp_path):
    study = _demo_with_club(tmp_path / "demo", extra="truncate = true\n")
    assert sv.load_study(study).question("support_rr").truncate is True
    with pytest.warns(sv.SottovoceWarning, match="reported as 0"):
        res = sv.analyze(study)
    small = next(g for g in res.question("support_rr")["result"]["groups"] if g["level"] == "small")
    assert small["estimate"] == 0.0 and not failed(small)
    bad = tmp_path / "bad.toml"
    bad.write_text(study.read_text(encoding="utf-8").replace("truncate = true", 'truncate = "yes"'), encoding="utf-8")
    with pytest.raises(sv.InputError, match="truncate: must be true or false"):
        sv.load_study(bad)


def test_ci_method_is_set_per_question(tmp_path):
    study = make_study(tmp_path / "s", extra="")
    text = study.read_text(encoding="utf-8").replace("refused = [98]\n", 'refused = [98]\nci = "beta"\n', 1)
    study.write_text(text, encoding="utf-8")
    res = sv.analyze(study)
    beta = res.question("support_direct")["result"]
    default = sv.analyze(make_study(tmp_path / "t")).question("support_direct")["result"]
    assert beta["estimate"] == pytest.approx(default["estimate"], rel=1e-12)
    assert beta["ci"] != pytest.approx(default["ci"])  # Korn–Graubard, not Wilson
    df = pd.read_csv(tmp_path / "s" / "respondents.csv")
    df["y"] = (df["q_support"] == 1).astype(float)
    svy = sv.Survey(df).rake(sv.load_margins(tmp_path / "s" / "margins.toml"))
    assert beta["ci"] == pytest.approx(list(svy.mean("y", ci="beta").ci), rel=1e-10)
    assert default["ci"] == pytest.approx(list(svy.mean("y", ci="wilson").ci), rel=1e-10)
    bad = tmp_path / "s" / "bad.toml"
    bad.write_text(text.replace('ci = "beta"', 'ci = "exact"'), encoding="utf-8")
    with pytest.raises(sv.InputError, match="ci: unknown value .exact. for the interval of the share; use one of wilson"):
        sv.load_study(bad)


def test_a_failed_small_group_does_not_leak_its_figures(tmp_path, cli):
    """With min_cell 30 the 12-respondent group is suppressed, and the estimator's message (which
    quotes its prevalence) is withheld from every published file."""
    study = _demo_with_club(tmp_path / "demo", min_cell=30)
    r = cli("analyze", study, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    for name in ("results.json", "results.csv", "report.html"):
        assert "-0.250" not in (tmp_path / "out" / name).read_text(), name
    assert "-0.250" not in r.out + r.err
    assert "reason is withheld" in r.err


def test_small_cells_are_suppressed_in_results_json_too(tmp_path, cli):
    """The issue's case: min_cell = 30 and a subgroup of 8 respondents, whose estimate
    (0.625, se 0.171, n 8) results.json used to carry in full."""
    study = make_study(tmp_path / "s")
    df = pd.read_csv(tmp_path / "s" / "respondents.csv")
    df["club"] = np.where(np.arange(len(df)) < 8, "tiny", "rest")
    df.to_csv(tmp_path / "s" / "respondents.csv", index=False)
    text = study.read_text(encoding="utf-8").replace('subgroups = ["sex", "region"]', 'subgroups = ["club"]')
    study.write_text(text, encoding="utf-8")
    r = cli("analyze", study, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    entries = [g for q in data["questions"] for g in (q.get("result") or {}).get("groups", [])]
    entries += [g for c in data["comparisons"] for g in c.get("groups", [])]
    tiny = [g for g in entries if g["level"] == "tiny"]
    assert tiny and all(g["suppressed"] and g["estimate"] is None and g["se"] is None and g["ci"] is None and g["n"] == 8 for g in tiny)
    assert all(set(g) <= {"by", "level", "label", "code", "variable", "method", "n", "confidence", "status", "message",
                          "message_withheld", "failed", "direct", "indirect", "indirect_type", "definition",
                          "estimate", "se", "ci", "suppressed"} for g in tiny)
    rest = [g for g in entries if g["level"] == "rest"]
    assert rest and all(g["estimate"] is not None for g in rest)
    # the same rule in results.csv and the report
    rows = [x for x in csv.DictReader((tmp_path / "out" / "results.csv").open()) if x["category"] == "tiny"]
    assert rows and all(x["suppressed"] == "True" and x["estimate"] == "" for x in rows)
    # --json prints the publishable payload
    j = cli("analyze", study, "--out", tmp_path / "out2", "--json").json()
    assert all(g["estimate"] is None for q in j["questions"] for g in (q.get("result") or {}).get("groups", []) if g["level"] == "tiny")
    # the report re-renders from results.json alone, identically
    again = cli("report", tmp_path / "out" / "results.json", "--out", tmp_path / "again.html")
    assert again.code == 0
    assert (tmp_path / "again.html").read_text() == (tmp_path / "out" / "report.html").read_text()
    # the analyst still has the numbers in memory
    res = sv.analyze(study)
    full = next(g for g in res.internal["questions"][0]["result"]["groups"] if g["level"] == "tiny")
    assert full["estimate"] is not None and full["n"] == 8


def test_demo_report_explains_the_planted_truth(tmp_path):
    res = sv.analyze(DEMO / "study.toml")
    truth = json.loads((DEMO / "truth.json").read_text())["support"]
    for lang, words in (("en", ("planted true share is 38%", "less willing to be interviewed")),
                        ("ru", ("истинная доля равна 38%", "реже соглашались на интервью"))):
        page = visible(res.report_html(lang)).text("headline")
        for w in words:
            assert w in page, (lang, w)
    assert round(100 * truth) == 38
    # and which intervals contain it is computed, not written: none does in the demo
    for q in res.to_dict()["questions"]:
        lo, hi = q["result"]["ci"]
        assert not lo <= truth <= hi
    assert "none of their 95% intervals contains the truth" in visible(res.report_html("en")).text("headline")
