"""Study files: parsing the documented format, and errors that name the file, the key and the fix."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from sottovoce.errors import InputError
from sottovoce.study import (
    CrosswiseQuestion,
    DirectQuestion,
    DoubleListQuestion,
    ListQuestion,
    RRQuestion,
    load_study,
)
from test_study_fixtures import make_study

ROOT = Path(__file__).resolve().parents[1]


def test_documented_example_parses_into_typed_questions():
    text = (ROOT / "docs" / "study-file.md").read_text(encoding="utf-8")
    doc = tomllib.loads(re.search(r"```toml\n(.*?)```", text, re.S).group(1))
    study = load_study(doc)
    kinds = [type(q) for q in study.questions]
    assert kinds == [DirectQuestion, ListQuestion, DoubleListQuestion, RRQuestion, CrosswiseQuestion]
    direct, lst, dbl, rr, cw = study.questions
    assert direct.yes == (1,) and direct.hard_to_say == (99,) and direct.refused == (98,)
    assert direct.options[0].text == {"en": "Yes", "ru": "Да"}
    assert (lst.items, lst.method, lst.measures) == (4, "dim", "support_direct")
    assert lst.columns() == ["list_count", "list_treat", "age", "male"]
    assert (dbl.items_a, dbl.items_b, dbl.treat) == (4, 4, "double_treat")
    assert (rr.design, rr.p, rr.p1, rr.p0) == ("forced", 0.75, 0.1667, 0.0833)
    assert cw.q == 0.25
    assert study.report.subgroups == ("sex", "age_group") and study.report.min_cell == 30
    assert study.weighting.trim == 5.0
    assert study.text(study.title, "ru").startswith("Телефонный")


def test_demo_study_parses_with_paths_relative_to_the_file():
    study = load_study(ROOT / "examples" / "demo" / "study.toml")
    assert study.data is not None and study.data.path == (ROOT / "examples" / "demo" / "respondents.csv").resolve()
    assert study.simulated is True
    assert len(study.sha256 or "") == 64
    assert {q.type for q in study.questions} >= {"direct", "list", "rr"}


def _write(tmp_path: Path, replace: tuple[str, str] | None = None, extra: str = "", data_extra: str = "", margins: str | None = None) -> Path:
    kw = {"margins": margins} if margins is not None else {}
    path = make_study(tmp_path / "study", n=200, extra=extra, data_extra=data_extra, **kw)
    if replace:
        text = path.read_text(encoding="utf-8")
        assert replace[0] in text
        path.write_text(text.replace(replace[0], replace[1]), encoding="utf-8")
    return path


# Each bad study: (how to break it, words the one-line error must contain: the key and the fix)
BAD = {
    "unknown question type": (dict(replace=('type = "rr"', 'type = "randomised"')),
                              ["questions[1] (id 'support_rr').type", "unknown question type 'randomised'", "use one of direct, list"]),
    "unknown key": (dict(replace=('column = "q_support"', 'column = "q_support"\ncolumnn = "x"')),
                    ["questions[0] (id 'support_direct').columnn", "unknown key", "fix the spelling"]),
    "unknown section": (dict(extra="[reprot]\nmin_cell = 5"), ["reprot", "unknown section"]),
    "missing column": (dict(replace=('response = "rr_answer"', 'response = "rr_answr"')),
                       ["questions[1] (id 'support_rr')", "column 'rr_answr' is not in respondents.csv", "use one of its columns"]),
    "measures a missing question": (dict(replace=('measures = "support_direct"', 'measures = "support_direkt"')),
                                    ["questions[1] (id 'support_rr').measures", "'support_direkt', which is not a question", "support_direct"]),
    "margins for a column the data lack": (dict(margins="[sex]\nmale = 0.45\nfemale = 0.55\n[income]\nlow = 0.5\nhigh = 0.5\n"),
                                           ["weighting.margins", "column 'income'", "rename it to a data column or remove it"]),
    "missing weight column": (dict(data_extra='weights = "wt"'), ["data.weights", "column 'wt'"]),
    "forced design without p0": (dict(replace=("p0 = 0.125\n", "")), ["p0", "missing for the forced-response design"]),
    "probabilities that do not add up": (dict(replace=("p = 0.75", "p = 0.8")), ["p + p1 + p0", "must add up to 1"]),
    "bad min_cell": (dict(replace=("min_cell = 30", "min_cell = -3")), ["report.min_cell", "positive whole number"]),
    "not TOML": (dict(replace=('[report]', '[report')), ["not valid TOML"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_study_exits_2_naming_file_key_and_fix_and_writes_nothing(tmp_path, cli, case):
    how, words = BAD[case]
    study = _write(tmp_path, **how)
    out = tmp_path / "out"
    res = cli("analyze", study, "--out", out)
    assert res.code == 2, res.err
    line = res.err.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert str(study.name) in line or "margins" in line
    for w in words:
        assert w in line, (w, line)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["study"]  # no temporary folder left behind either


def test_bad_study_keeps_an_existing_output_folder_untouched(tmp_path, cli):
    study = _write(tmp_path, replace=('type = "rr"', 'type = "rrr"'))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    res = cli("analyze", study, "--out", out)
    assert res.code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_errors_from_python_name_the_file(tmp_path):
    study = _write(tmp_path, replace=('type = "direct"', 'type = "straight"'))
    with pytest.raises(InputError, match=re.escape(str(study.resolve())) + r": questions\[0\] \(id 'support_direct'\)\.type: unknown question type 'straight'"):
        load_study(study)
    with pytest.raises(InputError, match="study file not found"):
        load_study(tmp_path / "nope.toml")


def test_direct_question_linked_to_a_direct_question_is_rejected(tmp_path):
    extra = '[[questions]]\nid = "d2"\ntype = "direct"\ncolumn = "q_support"\nyes = [1]\nmeasures = "support_direct"\n'
    with pytest.raises(InputError, match=r"questions\[2\] \(id 'd2'\)\.measures: direct question 'd2' is linked to direct question"):
        load_study(_write(tmp_path, extra=extra))


def test_duplicate_ids_and_missing_required_keys(tmp_path):
    extra = '[[questions]]\nid = "support_rr"\ntype = "crosswise"\nresponse = "rr_answer"\nq = 0.25\n'
    with pytest.raises(InputError, match="duplicate question id 'support_rr'"):
        load_study(_write(tmp_path / "a", extra=extra))
    with pytest.raises(InputError, match=r"questions\[2\] \(id 'c'\)\.response: missing required key"):
        load_study(_write(tmp_path / "b", extra='[[questions]]\nid = "c"\ntype = "crosswise"\nq = 0.25\n'))
