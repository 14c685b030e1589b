"""Unequal split-sample arms (issue 15 audit): ``probabilities`` on a ``[[questionnaire.split]]``,
honoured by the web page's draw, by ``field-plan``'s assignment (and so by interviewer mode), and
by ``field-check``'s arm-size test; checked on the real Chronicles wave 2 design (arms 724/212/875)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from design_support import write_design_study
from sottovoce.errors import InputError
from sottovoce.field.interviewer import load_assignment
from sottovoce.field.questionnaire import Questionnaire
from sottovoce.fielding import draw_assignment, field_check, field_plan
from sottovoce.fielding.plan import arm_sizes
from sottovoce.io import write_table
from sottovoce.questionnaire_spec import Split
from sottovoce.study import load_study
from test_fielding import vendor_file

PLACEMENT = [0.4, 0.12, 0.48]  # wave 2's подвыборка, as the brief's example


def unequal_study(tmp: Path, ballot: str = "probabilities = [0.3, 0.7]", placement: str = "probabilities = [0.4, 0.12, 0.48]") -> Path:
    """The design study with an unequal two-arm ballot and a three-arm placement split."""
    text = write_design_study(tmp).read_text(encoding="utf-8")
    old = '[[questionnaire.split]]\ncolumn = "ballot"\narms = 2\n'
    assert old in text
    new = old + ballot + '\n\n[[questionnaire.split]]\ncolumn = "placement"\narms = 3\n' + placement + "\n"
    p = tmp / "unequal.toml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize("value, words", [
    ("[0.5, 0.5]", "2 probabilities for a split of 3 arms"),
    ("[0.5, 0.5, 0.0]", "0.0 is not a positive probability"),
    ("[0.6, 0.6, -0.2]", "-0.2 is not a positive probability"),
    ("[0.4, 0.12, 0.47]", "sum to 0.99, not 1"),
    ('["0.4", 0.12, 0.48]', "is not a list of numbers"),
    ("0.4", "is not a list of numbers"),
])
def test_bad_probabilities_are_refused_naming_the_key(tmp_path, cli, value, words):
    bad = unequal_study(tmp_path, placement=f"probabilities = {value}")
    with pytest.raises(InputError) as exc:
        load_study(bad)
    msg = str(exc.value)
    assert "unequal.toml" in msg and "questionnaire.split[1].probabilities" in msg and words in msg, msg
    r = cli("field-plan", bad, "--n", "10", "--out", tmp_path / "plan")
    assert r.code == 2 and r.err.startswith("error:") and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "plan").exists()


def test_study_keeps_the_probabilities(tmp_path):
    s = load_study(unequal_study(tmp_path))
    assert s.design.split("ballot").shares() == [0.3, 0.7]
    assert s.design.split("placement").shares() == PLACEMENT
    plain = load_study(write_design_study(tmp_path))
    assert plain.design.split("ballot").probabilities == () and plain.design.split("ballot").shares() == [0.5, 0.5]
    # 0.1 + 0.2 + 0.7 is 0.9999999999999999 in floating point: accepted
    load_study(unequal_study(tmp_path, placement="probabilities = [0.1, 0.2, 0.7]"))


class _Every:
    """A stand-in generator whose ``randrange(m)`` returns 0, 1, …, m − 1 in turn."""

    def __init__(self) -> None:
        self.i = 0

    def randrange(self, m: int) -> int:
        u = self.i % m
        self.i += 1
        return u


def test_split_draw_gives_each_arm_exactly_its_probability():
    """The draw maps every integer below Σweights to one arm: over one full cycle each arm gets
    exactly its share (no modulo or rounding bias), e.g. 0.4/0.12/0.48 -> 10/3/12 of 25."""
    s = Split("placement", 3, (), tuple(PLACEMENT))
    assert s.integer_weights() == [10, 3, 12]
    rng = _Every()
    assert Counter(s.draw(rng) for _ in range(25)) == {1: 10, 2: 3, 3: 12}
    third = Split("x", 3, (), (1 / 3, 1 / 3, 1 / 3))
    assert len(set(third.integer_weights())) == 1  # equal thirds stay exactly equal
    assert Split("x", 2).integer_weights() == [1, 1]


def test_web_page_draws_follow_the_probabilities(tmp_path):
    """3,000 pages rendered by the server's draw (secrets.SystemRandom): the arms recorded in the
    hidden fields fit the declared probabilities (χ²), and clearly not equal arms."""
    q = Questionnaire.from_file(unequal_study(tmp_path))
    n = 3000
    got: dict[str, Counter] = {"ballot": Counter(), "placement": Counter()}
    values = q.column_values()
    for _ in range(n):
        hidden = dict(q.render("en")[0]["hidden"])
        for col in got:
            got[col][values[col][int(hidden[col])]] += 1
    for col, p in (("ballot", [0.3, 0.7]), ("placement", PLACEMENT)):
        counts = np.array([got[col][v] for v in range(1, len(p) + 1)])
        assert stats.chisquare(counts, n * np.array(p)).pvalue > 1e-4, (col, counts)  # false alarm 1 in 10,000
        assert stats.chisquare(counts).pvalue < 1e-6, (col, counts)  # equal arms would not give these


def test_arm_sizes_round_by_largest_remainder():
    assert arm_sizes(1811, PLACEMENT).tolist() == [725, 217, 869]  # 724.4, 217.32, 869.28
    assert arm_sizes(7, [0.5, 0.5]).tolist() == [4, 3]
    assert arm_sizes(100, [0.3, 0.7]).tolist() == [30, 70]


def test_field_plan_interviewer_mode_and_field_check_honour_the_probabilities(tmp_path, cli):
    """field-plan draws arm sizes n·p; the interviewer mode serves each case its planned arm;
    field-check tests the arm sizes against n·p: a vendor file fielded as planned passes, one
    whose interviewers evened out the arms is flagged."""
    study = unequal_study(tmp_path)
    n = 1811
    plan = field_plan(study, n, tmp_path / "plan", seed=7)
    table = pd.read_csv(plan.assignment)
    assert table["placement"].value_counts().sort_index().tolist() == [725, 217, 869]
    assert table["ballot"].value_counts().sort_index().tolist() == [543, 1268]  # 543.3, 1267.7
    meta = json.loads(plan.meta.read_text())
    assert meta["probabilities"]["placement"] == PLACEMENT and meta["probabilities"]["list_treat"] == [0.5, 0.5]
    again = draw_assignment(load_study(study), n, 7)
    pd.testing.assert_frame_equal(again.astype(str), table.astype(str))
    # interviewer mode reads the plan: each case keeps its drawn arm
    q = Questionnaire.from_file(study)
    assignment = load_assignment(plan.assignment, q)
    first = table.iloc[0]
    _, values = assignment.find(first["case_id"])
    assert values["placement"] == first["placement"] and values["ballot"] == first["ballot"]
    html_arms = assignment.page_arms(q, values)
    hidden = dict(q.render("en", arms=html_arms)[0]["hidden"])
    assert q.column_values()["placement"][int(hidden["placement"])] == first["placement"]

    clean = vendor_file(table, 1)
    write_table(clean, tmp_path / "clean.sav")
    res = field_check(study, tmp_path / "clean.sav", assignment=plan.assignment)
    assert res.problems() == [], [(c.id, c.findings) for c in res.problems()]
    row = next(r for r in res.check("shares").rows if r["column"] == "placement")
    assert row["expected"] == pytest.approx({"1": 0.4 * n, "2": 0.12 * n, "3": 0.48 * n})

    evened = clean.copy()
    evened["placement"] = np.resize([1, 2, 3], n)  # interviewers rotated the placements instead
    write_table(evened, tmp_path / "evened.sav")
    res = field_check(study, tmp_path / "evened.sav")
    shares = res.check("shares")
    assert shares.status == "problem" and len(shares.findings) == 1
    assert "placement" in shares.findings[0]["en"] and "2: 604 (217)" in shares.findings[0]["en"]
    assert "differ from the design" in shares.findings[0]["en"] and "отличаются" in shares.findings[0]["ru"]


def test_equal_split_draw_is_unchanged_for_a_recorded_seed(tmp_path):
    """Studies without probabilities draw exactly as before (a recorded seed still reproduces its plan)."""
    study = load_study(write_design_study(tmp_path))
    rng = np.random.default_rng(2026)
    want = rng.permutation(np.resize(np.asarray([1, 2]), 101))
    assert draw_assignment(study, 101, 2026)["ballot"].tolist() == want.tolist()


def test_random_module_generators_work_too(tmp_path):
    s = Split("placement", 3, (), tuple(PLACEMENT))
    rng = random.Random(3)
    counts = Counter(s.draw(rng) for _ in range(5000))
    assert stats.chisquare([counts[a] for a in (1, 2, 3)], 5000 * np.array(PLACEMENT)).pvalue > 1e-4


# -- the real wave 2 design: подвыборка, arms 724 / 212 / 875 --------------------------------------

WAVE2_STUDY = Path(__file__).resolve().parents[1] / "examples" / "chronicles-wave2" / "study.toml"


def test_wave2_three_unequal_arms_checked_by_field_check(tmp_path):
    """The example declares подвыборка (wording × placement) with probabilities 0.4/0.12/0.48:
    field-check expects 724.4/217.3/869.3 cases and finds the arms balanced on sex, age group and
    settlement; declared as equal arms, the same file is flagged."""
    import sottovoce as sv

    data = sv.datasets.path("chronicles-02")
    res = field_check(WAVE2_STUDY, data)
    assert res.problems() == [], [(c.id, c.findings) for c in res.problems()]
    rows = {r["column"]: r for r in res.check("shares").rows}
    assert rows["подвыборка"]["counts"] == {"1": 724, "2": 212, "3": 875}
    assert rows["подвыборка"]["expected"] == pytest.approx({"1": 724.4, "2": 217.32, "3": 869.28})
    assert rows["подвыборка_2"]["counts"] == {"1": 936, "2": 875}
    balance = {r["variable"]: r for r in res.check("balance").rows if r["arm"] == "подвыборка"}
    assert set(balance) == {"GENDER", "AGE_GR", "TNP"} and min(r["p_value"] for r in balance.values()) > 0.05
    equal = tmp_path / "equal.toml"
    equal.write_text(WAVE2_STUDY.read_text(encoding="utf-8").replace("probabilities = [0.4, 0.12, 0.48]\n", "")
                     .replace('path = "../../src/', f'path = "{WAVE2_STUDY.parents[2]}/src/'), encoding="utf-8")
    flagged = field_check(equal, data).check("shares")
    assert flagged.status == "problem" and "подвыборка:" in flagged.findings[0]["en"]
    assert "2: 212 (604)" in flagged.findings[0]["en"]


def test_wave2_split_by_three_unequal_arms_matches_r_and_the_published_figures(tmp_path):
    """split_ballot by подвыборка (arms of 716/212/862 weighted respondents): every arm's shares,
    standard errors and differences from arm 1 equal R survey's (svyby + svycontrast); pooling the
    two old-wording arms by their weighted bases gives the published 70% (base 922) against 63%
    (base 868) for the new wording (half-year report, table 2.1.1)."""
    import shutil
    import subprocess

    import sottovoce as sv
    from sottovoce.io import read_table

    df = read_table(sv.datasets.path("chronicles-02"))
    r = sv.split_ballot(df, "Q11", "подвыборка", weights="wes_age_gender_tnp")
    groups = {int(g.level): g for g in r.groups}
    base = {a: g.details["weight_total"] for a, g in groups.items()}
    yes = {a: next(c.estimate for c in g.categories if c.code == 1) for a, g in groups.items()}
    old = (yes[1] * base[1] + yes[2] * base[2]) / (base[1] + base[2])
    assert round(100 * old) == 70 and round(base[1] + base[2]) == 922
    assert round(100 * yes[3]) == 63 and round(base[3]) == 868
    assert round(100 * yes[1]) == 72 and round(100 * yes[2]) == 61  # placement moved the old wording's answers
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    frame = df[["Q11", "подвыборка", "wes_age_gender_tnp"]].set_axis(["y", "arm", "w"], axis=1)
    frame.to_csv(tmp_path / "d.csv", index=False)
    script = Path(__file__).parent / "reference" / "split_ballot_reference.R"
    subprocess.run(["Rscript", str(script), str(tmp_path / "d.csv"), str(tmp_path / "o.json")], check=True,
                   capture_output=True, timeout=300)
    ref = json.loads((tmp_path / "o.json").read_text())
    for a in ref["arms"]:
        got = {c.code: c for c in groups[a].categories}
        for k, code in enumerate(ref["codes"]):
            assert got[code].estimate == pytest.approx(ref["shares"][str(a)][k], abs=1e-10)
            assert got[code].se == pytest.approx(ref["se"][str(a)][k], rel=1e-8, abs=1e-12)
    diffs = {(c.details["ballot"], c.code): c for c in r.categories}
    for a in ref["arms"][1:]:
        for k, code in enumerate(ref["codes"]):
            assert diffs[(a, code)].estimate == pytest.approx(ref["diff"][str(a)][k], abs=1e-10)
            assert diffs[(a, code)].se == pytest.approx(ref["diff_se"][str(a)][k], rel=1e-8, abs=1e-12)


def test_unequal_arms_through_the_server_are_sealed_and_fit_the_probabilities(tmp_path, cli):
    """800 respondents through the HTTP app (the page the server draws, the form they post): the
    decrypted rows carry the placement arm drawn for each page, and the arms fit 0.4/0.12/0.48."""

    import httpx

    from design_support import page_draws, respondent
    from sottovoce.field.app import create_app
    from sottovoce.field.crypto import load_public_key
    from test_field_support import make_keys, post_consented, post_many

    study = unequal_study(tmp_path)
    q = Questionnaire.from_file(study)
    pub, priv = make_keys(tmp_path)
    db = f"sqlite:///{tmp_path}/a.db"
    app = create_app(q, load_public_key(pub), db)
    rng = random.Random(8)
    drawn: Counter = Counter()
    n = 800

    async def one(c: httpx.AsyncClient) -> None:
        hidden = page_draws((await c.get("/")).text)
        draws = {col: q.column_values()[col][int(hidden[col])] for col in ("ballot", "block_order", "list_treat", "placement")}
        drawn[(draws["ballot"], draws["placement"])] += 1
        await post_consented(c, q, hidden, q.validate({**respondent(draws, rng), "placement": draws["placement"]}))

    post_many(app, n, one)
    assert cli("export", "--db", db, "--out", tmp_path / "e.jsonl").code == 0
    r = cli("decrypt", tmp_path / "e.jsonl", "--key", priv, "--out", tmp_path / "answers.csv")
    assert r.code == 0, r.err
    df = pd.read_csv(tmp_path / "answers.csv")
    assert Counter(zip(df["ballot"], df["placement"], strict=True)) == drawn  # what each page drew is what was sealed
    counts = df["placement"].value_counts().reindex([1, 2, 3], fill_value=0).to_numpy()
    assert stats.chisquare(counts, n * np.array(PLACEMENT)).pvalue > 1e-4, counts
    assert stats.chisquare(counts).pvalue < 1e-6, counts
    ballot = df["ballot"].value_counts().reindex([1, 2], fill_value=0).to_numpy()
    assert stats.chisquare(ballot, n * np.array([0.3, 0.7])).pvalue > 1e-4, ballot
