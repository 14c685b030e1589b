"""Issue 12, acceptance: what a new user met when trying the finished contract (each test failed
before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PILOT_ROWS = (
    "id,q_support,list_count,list_treat,rr_answer,sex\n"
    "1,1,1,0,1,male\n2,2,0,0,0,female\n3,1,2,0,1,male\n4,2,3,1,0,female\n"
    "5,1,3,1,1,male\n6,99,2,1,0,female\n7,1,3,1,1,male\n"
)
PILOT_STUDY = """
[study]
id = "pilot"
title = "Seven-answer pilot"
[data]
path = "pilot.csv"
[report]
subgroups = ["sex"]
min_cell = 1
[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
yes = [1]
hard_to_say = [99]
[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 3
measures = "support_direct"
[[questions]]
id = "support_rr"
type = "rr"
design = "forced"
response = "rr_answer"
p = 0.6666666666666666
p1 = 0.16666666666666666
p0 = 0.16666666666666666
measures = "support_direct"
"""


def _pilot(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pilot.csv").write_text(PILOT_ROWS, encoding="utf-8")
    (folder / "study.toml").write_text(PILOT_STUDY, encoding="utf-8")
    return folder / "study.toml"


def test_pilot_with_a_subgroup_whose_list_arm_is_empty(tmp_path, cli):
    """Men answered only the treatment list: the direct − list gap of that group fails alone
    (it was an internal error, StopIteration, that killed the whole analysis)."""
    r = cli("analyze", _pilot(tmp_path / "pilot"), "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    gap = next(c for c in data["comparisons"] if c["indirect"] == "support_list")
    male = next(g for g in gap["groups"] if g["level"] == "male")
    assert male["failed"] and male["estimate"] is None
    assert "support_direct” and “support_list” could not be estimated for sex = male" in r.err
    # warnings name the question, not the pipeline's derived column
    assert "__sv_" not in r.err and "__sv_" not in (tmp_path / "out" / "results.json").read_text()


def test_more_wrong_types_are_input_errors_naming_the_parameter(cli, tmp_path):
    """Found by trying the public functions with what a hurried user passes."""
    import numpy as np
    import pandas as pd

    import sottovoce as sv
    from sottovoce.errors import InputError

    df = pd.read_csv(Path(__file__).resolve().parents[1] / "examples" / "demo" / "respondents.csv")
    with pytest.raises(InputError, match=r"upper='5' must be a number"):
        sv.trim(df, upper="5")  # was TypeError: '>=' not supported
    with pytest.raises(InputError, match=r"upper=0.5: the cap must be at least 1"):
        sv.trim(np.ones(10), upper=0.5)
    with pytest.raises(InputError, match="weights must be numbers"):
        sv.effective_n("abc")  # was ValueError: could not convert string to float
    with pytest.raises(InputError, match=r"is a file name, not a table: read it first, e\.g\. sv\.read_table"):
        sv.list_experiment("respondents.csv", "list_count", "list_treat", 4)  # was "DataFrame constructor not properly called!"
    with pytest.raises(InputError, match=r"data=None: give a table"):
        sv.list_experiment(None, "list_count", "list_treat", 4)  # was "column 'list_count' not found; the data have 0 columns"
    r = cli("weight", sv.datasets.path("chronicles-01"), "--margins", Path(__file__).resolve().parents[1] / "examples" / "chronicles" / "margins-wave1.toml",
            "--trim", "0.5", "--out", tmp_path / "w.sav")
    assert r.code == 2 and "--trim 0.5: the cap must be at least 1" in r.err and "upper=" not in r.err


def test_audit_prints_the_display_once(cli):
    """``sottovoce audit`` printed summary() (warnings included) and then the same warnings again
    on stderr, and its sensitivity curves were formatted by the command, not the result: Python
    and Jupyter users never saw them."""
    import sottovoce as sv

    poll = Path(__file__).resolve().parents[1] / "examples" / "published-polls" / "levada-2022-04.toml"
    r = cli("audit", poll)
    assert r.code == 0, r.err
    res = sv.audit_poll(poll)
    assert res.warnings and all(r.err.count(w) == 1 and w not in r.out for w in res.warnings)
    text, markup = res.summary(), res._repr_html_()
    assert "sensitivity to item nonresponse" in text and "0%→74%" in text and "0%→74%" in markup
    for line in res.display().lines:
        assert line.strip() in r.out.replace("\n", " ") or line.strip()[:60] in r.out


def test_trend_prints_its_display_with_warnings_on_stderr(cli, tmp_path):
    """``sottovoce trend`` echoed summary() (warnings on stdout, hand-aligned house table); now it
    goes through emit like every other command: the house effects are a table, warnings on stderr."""
    polls = Path(__file__).resolve().parents[1] / "examples" / "polls"
    r = cli("trend", polls / "chronicles-waves.toml", polls / "published-polls.csv", "--reference", "Chronicles / new",
            "--csv", tmp_path / "t.csv")
    assert r.code == 0, r.err
    assert "latest (2022-08-28): 65.1% [10.7, 96.7]" in r.out  # the README's numbers
    assert "warning:" not in r.out and "warning: the polls hardly determine" in r.err
    assert "┃ house" in r.out and "wrote" in r.err


def test_a_suppressed_list_question_keeps_no_design_test(tmp_path):
    """With min_cell 30 a 7-answer pilot is suppressed everywhere, but results.json still carried
    the list experiment's design-effect test (p-value and verdict) computed from those 7 answers."""
    import sottovoce as sv

    study = _pilot(tmp_path / "pilot")
    study.write_text(study.read_text().replace("min_cell = 1", "min_cell = 30"))
    sv.analyze(study, out_dir=tmp_path / "out")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    lst = next(q for q in data["questions"] if q["id"] == "support_list")
    assert lst["result"]["suppressed"] and lst["result"]["n"] == 7
    assert lst.get("design_test") is None


def test_text_arms_error_suggests_the_control_value(tmp_path, cli):
    """R's control/affirm/race factor: the error suggested --control 'affirm' (the first sorted value)."""
    path = tmp_path / "race.csv"
    path.write_text("y,treat\n" + "".join(f"{i % 4},{a}\n" for i, a in enumerate(["control", "affirm", "race"] * 20)))
    r = cli("list", path, "--count", "y", "--treat", "treat", "--items", "3")
    assert r.code == 2 and "--control 'control'" in r.err and "control=" not in r.err
