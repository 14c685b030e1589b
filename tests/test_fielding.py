"""Issue 15: phone fielding through a vendor — field-plan writes the script and the assignment,
a simulated call centre returns an SPSS file (with planted problems), field-check finds each."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from design_support import write_design_study
from sottovoce.fielding import draw_assignment, field_check, field_plan
from sottovoce.fielding.check import icc_anova
from sottovoce.io import write_table
from sottovoce.study import load_study

N = 1200
PROBLEMS = ("imbalance", "interviewer", "range", "swapped", "short", "straightline", "design")


def vendor_file(assignment: pd.DataFrame, seed: int, planted: tuple[str, ...] = ()) -> pd.DataFrame:
    """What a call centre returns for the design study: one row per case of the assignment, the
    assigned arms recorded, answers simulated; ``planted`` adds field problems (see PROBLEMS)."""
    rng = np.random.default_rng(seed)
    n = len(assignment)
    df = assignment.copy()
    df["interviewer"] = rng.integers(1, 31, n)  # 30 interviewers
    df["duration"] = np.round(rng.normal(900, 150, n).clip(400))
    df["sex"] = rng.choice([1, 2], n, p=[0.45, 0.55])
    df["age"] = rng.integers(18, 90, n)
    df["employed"] = rng.choice([1, 2], n)
    df["sector"] = np.where(df["employed"] == 1, rng.choice([1, 2], n), np.nan)
    for k in (1, 2, 3):
        df[f"media_{k}"] = rng.integers(0, 2, n)
    support = rng.random(n) < 0.5
    df["q_support"] = np.where(support, 1, 2)
    truth = rng.random(n) < 0.35
    controls = rng.binomial(3, 0.4, n)
    df["list_count"] = controls + df["list_treat"] * truth
    df["rr"] = rng.integers(0, 2, n)
    df["cw"] = np.where(df["ballot"] == 2, rng.integers(0, 2, n), np.nan)
    if "imbalance" in planted:  # interviewers re-assign older respondents to ballot 2
        old = (df["age"] > 60) & (df["ballot"] == 1) & (rng.random(n) < 0.6)
        df.loc[old, "ballot"] = 2
    if "interviewer" in planted:  # three interviewers lead respondents to "yes"
        lead = df["interviewer"].isin([1, 2, 3])
        df.loc[lead, "q_support"] = np.where(rng.random(int(lead.sum())) < 0.95, 1, 2)
    if "range" in planted:  # counts a control list cannot give
        bad = df.index[df["list_treat"] == 0][:12]
        df.loc[bad, "list_count"] = [4] * 8 + [7] * 4
    if "short" in planted:  # one interviewer rushes through
        df.loc[df["interviewer"] == 7, "duration"] = 150
    if "straightline" in planted:  # two interviewers fill the news grid with one answer (all no or all yes)
        lazy = df["interviewer"].isin([4, 5]) & (rng.random(n) < 0.9)
        same = rng.integers(0, 2, n)
        for k in (1, 2, 3):
            df.loc[lazy, f"media_{k}"] = same[lazy.to_numpy()]
    if "design" in planted:  # a design effect: with the sensitive item on the list, 60% of those with
        # a control item hide one of them (Blair & Imai 2012: π(0, yes) < 0)
        hide = (df["list_treat"] == 1) & (controls >= 1) & (rng.random(n) < 0.6)
        df.loc[hide, "list_count"] -= 1
    labels = {"sex": {1: "Мужской", 2: "Женский"}, "employed": {1: "Да", 2: "Нет"}, "q_support": {1: "Да", 2: "Нет"}}
    if "swapped" in planted:  # the vendor's codebook has yes = 2, no = 1 (labels tell the truth)
        df["q_support"] = df["q_support"].map({1: 2, 2: 1})
        labels["q_support"] = {1: "Нет", 2: "Да"}
    df.attrs["value_labels"] = labels
    return df


@pytest.fixture
def planned(tmp_path: Path):
    study = write_design_study(tmp_path)
    plan = field_plan(study, N, tmp_path / "plan", seed=2026)
    return study, plan, pd.read_csv(plan.assignment)


def test_field_plan_writes_script_and_reproducible_assignment(planned, tmp_path, cli):
    study, plan, table = planned
    meta = json.loads(plan.meta.read_text())
    assert meta["seed"] == 2026 and meta["n"] == N and meta["study_sha256"] == load_study(study).sha256
    again = draw_assignment(load_study(study), N, 2026)
    pd.testing.assert_frame_equal(again.astype(str), table.astype(str))
    for col in ("ballot", "block_order", "list_treat"):
        counts = table[col].value_counts()
        assert counts.max() - counts.min() == 0  # equal arms (N is even)
    # the arms of different columns are drawn independently: every combination occurs
    assert table.groupby(["ballot", "block_order", "list_treat"]).size().min() > 100
    from python_calamine import CalamineWorkbook

    for lang, words in (("en", ["Ask only if employed", "ONLY", "Assignment"]), ("ru", ["Задавайте, только если", "ТОЛЬКО КОЛИЧЕСТВО", "Распределение"])):
        wb = CalamineWorkbook.from_path(plan.scripts[lang])
        text = json.dumps([wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names], ensure_ascii=False)
        for w in words:
            assert w in text, (lang, w)
        assert "2026" in text  # the seed is in the workbook
    r = cli("field-plan", study, "--n", "10", "--out", tmp_path / "plan")
    assert r.code == 2 and "never overwritten" in r.err


def test_clean_vendor_file_passes(planned, tmp_path, cli):
    study, plan, table = planned
    sav = tmp_path / "vendor.sav"
    write_table(vendor_file(table, 1), sav)
    res = field_check(study, sav, assignment=plan.assignment)
    assert res.problems() == [], [(c.id, c.findings) for c in res.problems()]
    assert {c.id: c.status for c in res.checks}["straightlining"] in ("ok", "skipped")
    r = cli("field-check", study, sav, "--assignment", plan.assignment, "--out", tmp_path / "r.html", "--lang", "ru")
    assert r.code == 0, r.err
    html = (tmp_path / "r.html").read_text()
    assert "проблем не найдено" in html


@pytest.mark.parametrize("problem", PROBLEMS)
def test_each_planted_problem_is_found(planned, tmp_path, problem):
    study, plan, table = planned
    sav = tmp_path / "vendor.sav"
    write_table(vendor_file(table, 1, (problem,)), sav)
    res = field_check(study, sav, assignment=plan.assignment)
    found = {c.id for c in res.problems()}
    expected = {"imbalance": {"balance", "assignment", "shares"}, "interviewer": {"interviewer"}, "range": {"ranges"},
                "swapped": {"mapping"}, "short": {"short"}, "straightline": {"straightlining"},
                "design": {"design_test"}}[problem]
    assert found == expected, [(c.id, c.findings) for c in res.problems()]
    if problem == "swapped":  # mapped back by label: the data hold the study's codes again
        want = vendor_file(table, 1)["q_support"].to_numpy()
        assert (res.data["q_support"].to_numpy() == want).all()
    if problem == "interviewer":
        row = next(r for r in res.check("interviewer").rows if r["question"] == "support_direct")
        assert row["icc"] > 0.05
    if problem == "straightline":  # exactly the two planted interviewers are named
        named = {r["interviewer"] for r in res.check("straightlining").rows if "interviewer" in r}
        assert named == {"4", "5"}, res.check("straightlining").rows  # as the call centre wrote them, not "4.0"
        assert "interviewer 4:" in " ".join(f["en"] for f in res.check("straightlining").findings)
    if problem == "design":
        row = res.check("design_test").rows[0]
        assert row["question"] == "support_list" and row["p_value"] < 0.01


def test_all_problems_at_once_and_the_report(planned, tmp_path, cli):
    study, plan, table = planned
    sav = tmp_path / "vendor.sav"
    write_table(vendor_file(table, 3, PROBLEMS), sav)
    r = cli("field-check", study, sav, "--assignment", plan.assignment, "--out", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "r.json").read_text())
    bad = {c["id"] for c in data["checks"] if c["status"] == "problem"}
    assert bad == {"balance", "assignment", "shares", "interviewer", "ranges", "mapping", "short", "straightlining", "design_test"}
    html = (tmp_path / "r.html").read_text()
    assert html.count('class="status problem"') == 9 and "PROBLEM" in r.out


def test_a_single_bad_answer_is_counted_in_the_singular(planned, tmp_path):
    """One answer out of range read "1 answers in arm 0 are out of range" / "1 ответов"."""
    study, plan, table = planned
    df = vendor_file(table, 1)
    df.loc[df.index[df["list_treat"] == 0][0], "list_count"] = 4
    write_table(df, tmp_path / "vendor.sav")
    res = field_check(study, tmp_path / "vendor.sav", assignment=plan.assignment)
    en, ru = res.check("ranges").findings[0]["en"], res.check("ranges").findings[0]["ru"]
    assert "1 answer in arm 0 is out of range" in en, en
    assert "1 ответ в группе 0" in ru, ru


def test_icc_matches_the_anova_formula_and_is_zero_without_clusters():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(40), 25)
    u = rng.normal(0, 0.5, 40)[g]
    y = u + rng.normal(0, 1, len(g))
    icc, p, k = icc_anova(y, g)
    assert k == 40 and p < 1e-6 and abs(icc - 0.25 / 1.25) < 0.08  # ρ = σ_u² / (σ_u² + σ_e²) = 0.2
    # equal cluster sizes: the textbook form (MSB − MSW) / (MSB + (m − 1) MSW)
    means = np.array([y[g == i].mean() for i in range(40)])
    msb = 25 * ((means - y.mean()) ** 2).sum() / 39
    msw = sum(((y[g == i] - means[i]) ** 2).sum() for i in range(40)) / (1000 - 40)
    assert icc == pytest.approx((msb - msw) / (msb + 24 * msw), rel=1e-12)
    icc0, p0, _ = icc_anova(rng.normal(size=1000), g)
    assert abs(icc0) < 0.03 and p0 > 0.001


def test_field_check_reports_missing_columns_and_bad_input(planned, tmp_path, cli):
    study, plan, table = planned
    df = vendor_file(table, 1).drop(columns=["rr"])
    write_table(df, tmp_path / "v.sav")
    res = field_check(study, tmp_path / "v.sav")
    assert res.check("mapping").status == "problem" and "rr" in res.check("mapping").findings[0]["en"]
    assert res.check("assignment").status == "skipped"
    r = cli("field-check", study, tmp_path / "nosuch.sav")
    assert r.code == 2 and r.err.startswith("error:")


# -- the real wave 2 split ballot ------------------------------------------------------------------

WAVE2_STUDY = Path(__file__).resolve().parents[1] / "examples" / "chronicles-wave2" / "study.toml"


def test_wave2_split_ballot_checked_and_analysed(tmp_path, cli):
    """Chronicles wave 2 as a study file: field-check finds the two wording arms balanced on sex,
    age group and settlement type; analyze reproduces the published 70% (old wording) vs 63% (new)
    with the weighted bases 922 and 868 (half-year report, table 2.1.1)."""
    import sottovoce as sv

    data = sv.datasets.path("chronicles-02")  # the project's file, bundled (checked by SHA-256)
    r = cli("field-check", WAVE2_STUDY, data, "--json", tmp_path / "check.json", "--out", tmp_path / "check.html")
    assert r.code == 0, r.err
    checks = {c["id"]: c for c in json.loads((tmp_path / "check.json").read_text())["checks"]}
    assert checks["mapping"]["status"] == "ok" and checks["ranges"]["status"] == "ok"
    assert checks["shares"]["status"] == "ok"  # 936 vs 875 cases
    balance = {row["variable"]: row for row in checks["balance"]["rows"]}
    assert set(balance) == {"GENDER", "AGE_GR", "TNP"} and checks["balance"]["status"] == "ok"
    assert min(row["p_value"] for row in balance.values()) > 0.01
    out = tmp_path / "out"
    r = cli("analyze", WAVE2_STUDY, "--out", out)
    assert r.code == 0, r.err
    res = json.loads((out / "results.json").read_text())
    split = next(q for q in res["questions"] if q["id"] == "support")["split"]
    shares = {(g["level"], c["code"]): c["estimate"] for g in split["result"]["groups"] for c in g["categories"]}
    assert round(100 * shares[(1, 1)]) == 70 and round(100 * shares[(2, 1)]) == 63
    assert round(100 * shares[(2, 100)]) == 12 and round(100 * shares[(1, 2)]) == 14 and round(100 * shares[(2, 2)]) == 7
    bases = {g["level"]: g["weight_total"] for g in split["result"]["groups"]}
    assert round(bases[1]) == 922 and round(bases[2]) == 868
    html = (out / "report.html").read_text()
    assert 'id="splits"' in html and "69.6" in html and "63.1" in html
    assert "Old wording" in r.out or "Old wording" in html


@pytest.mark.slow
def test_straightlining_and_design_effect_checks_over_many_vendor_files(planned, tmp_path):
    """20 clean vendor files and 20 with planted straight-liners (two interviewers) and a planted
    list design effect: straight-lining is never flagged in a clean file and always in a planted
    one; the design-effect test (Blair & Imai 2012, nominal 5%) raises at most 3 false alarms in 20
    clean files (a binomial(20, 0.05) exceeds 3 with probability 0.016) and finds the planted
    effect (π(0, yes) ≈ −0.09, n = 1,200) in at least 15 of 20."""
    study, _, table = planned
    clean = {"straightlining": 0, "design_test": 0}
    found = {"straightlining": 0, "design_test": 0}
    for seed in range(100, 120):
        for planted, tally in (((), clean), (("straightline", "design"), found)):
            write_table(vendor_file(table, seed, planted), tmp_path / "v.sav")
            res = field_check(study, tmp_path / "v.sav")
            for k in tally:
                tally[k] += res.check(k).status == "problem"
            assert {c.id for c in res.problems()} <= {"straightlining", "design_test"}
    assert clean["straightlining"] == 0 and clean["design_test"] <= 3, clean
    assert found["straightlining"] == 20 and found["design_test"] >= 15, found
