"""Issue 12, acceptance: what a new user met when trying the finished contract (each test failed
before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

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
