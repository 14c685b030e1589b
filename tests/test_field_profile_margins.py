"""A profile question of a fielded study as a weighting margin (issue 15 audit).

End to end: the design study (a ``demographic`` question ``sex``) served by the HTTP app, 600
respondents who over-represent men post their forms, the sealed answers are exported and
decrypted with the CLI, and ``analyze`` rakes to population margins on ``sex`` — the profile
question's column, with its codes — before estimating. The weighted share must equal the
post-stratified share computed by hand (raking on one variable is post-stratification) and R
survey's rake() (standard errors too), also when the margins name the options by their text
("Male", "Женский"); the weighted sex shares must equal the margins; a margin on a code the
question does not have is refused.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import httpx
import pandas as pd
import pytest

from design_support import DESIGN_COLUMNS, page_draws, respondent, write_design_study
from sottovoce.field.app import create_app
from sottovoce.field.crypto import load_public_key
from sottovoce.field.questionnaire import Questionnaire
from test_field_support import make_keys, post_consented, post_many

pytestmark = pytest.mark.xdist_group("field-server")

N = 600
MARGINS = {1: 0.45, 2: 0.55}  # population: 45% men, 55% women
SAMPLE_MEN = 0.7  # the sample: 70% men
YES = {1: 0.8, 2: 0.4}  # men say yes far more often, so weighting moves the estimate


def _field(study: Path, tmp: Path, cli) -> pd.DataFrame:
    """Serve the study, post N respondents, export and decrypt with the CLI; the decrypted table."""
    pub, priv = make_keys(tmp)
    q = Questionnaire.from_file(study)
    db = f"sqlite:///{tmp}/a.db"
    app = create_app(q, load_public_key(pub), db)
    rng = random.Random(4)

    async def one(c: httpx.AsyncClient) -> None:
        page = await c.get("/")
        hidden = page_draws(page.text)
        draws = {col: q.column_values()[col][int(hidden[col])] for col in ("ballot", "block_order", "list_treat")}
        a = respondent(draws, rng)
        a["sex"] = 1 if rng.random() < SAMPLE_MEN else 2
        a["q_support"] = 1 if rng.random() < YES[a["sex"]] else 2
        await post_consented(c, q, hidden, q.validate(a))

    post_many(app, N, one)
    r = cli("export", "--db", db, "--out", tmp / "export.jsonl")
    assert r.code == 0, r.err
    r = cli("decrypt", tmp / "export.jsonl", "--key", priv, "--out", tmp / "answers.csv", "--study", study)
    assert r.code == 0, r.err
    return pd.read_csv(tmp / "answers.csv")


def _with_margins(study: Path, tmp: Path, margins: dict) -> Path:
    """The study file with the decrypted answers as data and [weighting.margins.sex] (codes as keys)."""
    text = study.read_text(encoding="utf-8")
    table = "\n".join(f'"{k}" = {v}' for k, v in margins.items())
    text = text.replace("[report]", f'[data]\npath = "answers.csv"\n\n[weighting.margins.sex]\n{table}\n\n[report]', 1)
    out = tmp / "weighted.toml"
    out.write_text(text, encoding="utf-8")
    return out


def test_profile_question_is_a_weighting_margin_end_to_end(tmp_path, cli):
    study = write_design_study(tmp_path)
    df = _field(study, tmp_path, cli)
    assert len(df) == N and set(df["sex"]) == {1, 2}
    men = float((df["sex"] == 1).mean())
    assert 0.6 < men < 0.8  # the sample over-represents men
    weighted = _with_margins(study, tmp_path, MARGINS)
    r = cli("analyze", weighted, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    direct = next(q for q in res["questions"] if q["id"] == "support_direct")
    assert direct["status"] == "done"
    yes = df["q_support"] == 1
    raw = float(yes.mean())
    # by hand: post-stratification to the margins (each sex's share of yes, weighted by the population)
    by_hand = sum(MARGINS[s] * float(yes[df["sex"] == s].mean()) for s in (1, 2))
    assert direct["result"]["estimate"] == pytest.approx(by_hand, abs=1e-9)
    assert abs(by_hand - raw) > 0.03  # the margin mattered: men are over-represented and say yes more
    # the margins may name the profile question's options by their text, in any language of the study
    by_text = _with_margins(study, tmp_path, {"Male": MARGINS[1], "Женский": MARGINS[2]})
    r = cli("analyze", by_text, "--out", tmp_path / "out-text")
    assert r.code == 0, r.err
    again = json.loads((tmp_path / "out-text" / "results.json").read_text())
    assert next(q for q in again["questions"] if q["id"] == "support_direct")["result"]["estimate"] == pytest.approx(by_hand, abs=1e-9)
    # the weights reproduce the margins on the profile question's column
    diag = {(d["variable"], d["category"]): d for d in res["weighting"]["diagnostics"]}
    assert set(diag) == {("sex", "1"), ("sex", "2")}
    for s in (1, 2):
        assert diag[("sex", str(s))]["achieved"] == pytest.approx(MARGINS[s], abs=1e-9)
    # a subgroup by the same profile question keeps each sex's own share
    groups = {g["level"]: g for g in direct["result"]["groups"]}
    for s in (1, 2):
        assert groups[s]["estimate"] == pytest.approx(float(yes[df["sex"] == s].mean()), abs=1e-9)
    # standard errors as R survey's rake() gives them (calibration residuals)
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    script = Path(__file__).parent / "reference" / "rake_profile_reference.R"
    subprocess.run(["Rscript", str(script), str(tmp_path / "answers.csv"), str(tmp_path / "r.json")], check=True,
                   capture_output=True, timeout=300)
    ref = json.loads((tmp_path / "r.json").read_text())
    assert direct["result"]["estimate"] == pytest.approx(ref["estimate"], abs=1e-10)
    assert direct["result"]["se"] == pytest.approx(ref["se"], rel=1e-6)
    for i, s in enumerate((1, 2)):
        assert groups[s]["estimate"] == pytest.approx(ref["by_sex"][i], abs=1e-10)
        assert groups[s]["se"] == pytest.approx(ref["by_sex_se"][i], rel=1e-6)


def test_margin_on_a_code_the_profile_question_lacks_is_refused(tmp_path, cli):
    study = write_design_study(tmp_path)
    rng = random.Random(1)
    rows = [respondent({"ballot": 1 + i % 2, "block_order": 1 + i // 2 % 2, "list_treat": i % 2}, rng) for i in range(80)]
    pd.DataFrame(rows, columns=DESIGN_COLUMNS).to_csv(tmp_path / "answers.csv", index=False)
    weighted = _with_margins(study, tmp_path, {1: 0.45, 3: 0.55})
    r = cli("analyze", weighted, "--out", tmp_path / "out")
    assert r.code == 2 and r.err.startswith("error:"), (r.code, r.err)
    assert "sex" in r.err and "3" in r.err and len(r.err.strip().splitlines()) == 1, r.err
