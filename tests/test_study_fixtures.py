"""A small simulated study written to a temporary folder, shared by the study/pipeline/report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STUDY_TOML = '''
[study]
id = "tiny-test"
title = {{ en = "Tiny test study", ru = "Маленькое тестовое исследование" }}
population = {{ en = "Test adults", ru = "Тестовые взрослые" }}
simulated = true
language = "en"

[data]
path = "respondents.csv"
{data_extra}

[dispositions]
path = "dispositions.csv"
column = "disposition"

[weighting]
margins = "margins.toml"

[report]
subgroups = ["sex", "region"]
min_cell = 30

[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
text = {{ en = "Do you support it?", ru = "Вы это поддерживаете?" }}
options = [ {{ code = 1, en = "Yes", ru = "Да" }}, {{ code = 2, en = "No", ru = "Нет" }} ]
yes = [1]
hard_to_say = [99]
refused = [98]

[[questions]]
id = "support_rr"
type = "rr"
design = "forced"
response = "rr_answer"
p = 0.75
p1 = 0.125
p0 = 0.125
measures = "support_direct"
{extra}
'''

ALL_DESIGNS = '''
[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 3
measures = "support_direct"
sensitive_item = { en = "I support it", ru = "Я это поддерживаю" }

[[questions]]
id = "support_double"
type = "double_list"
count_a = "list_a"
count_b = "list_b"
treat = "double_treat"
items_a = 3
items_b = 3
measures = "support_direct"

[[questions]]
id = "support_cw"
type = "crosswise"
response = "cw_answer"
q = 0.25
measures = "support_direct"
'''

MARGINS = '''
[sex]
male = 0.45
female = 0.55
[age_group]
"18-39" = 0.35
"40+" = 0.65
'''


def make_study(folder: Path, n: int = 800, seed: int = 1, extra: str = "", data_extra: str = "",
               margins: str = MARGINS, truth: float = 0.4, lie: float = 0.3) -> Path:
    """Write a small study (direct question, forced-response RR, dispositions, margins).

    Supporters are ``truth`` of the population; a share ``lie`` of opponents says "yes" when asked
    directly, so the direct share exceeds the RR estimate. Region "Islands" has 12 respondents
    (a small cell to suppress).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sex = rng.choice(["male", "female"], n, p=[0.4, 0.6])
    age = rng.choice(["18-39", "40+"], n, p=[0.3, 0.7])
    region = np.array(["North"] * (n // 2) + ["South"] * (n - n // 2 - 12) + ["Islands"] * 12)
    trait = rng.random(n) < truth
    says_yes = trait | (rng.random(n) < lie)
    q = np.where(says_yes, 1, 2)
    r = rng.random(n)
    q = np.where(r < 0.08, 99, np.where(r < 0.12, 98, q))
    die = rng.random(n)
    rr = np.where(die < 0.125, 1, np.where(die < 0.25, 0, trait.astype(int)))
    # crosswise (innocuous prevalence 0.25): "same" when both or neither hold
    innocuous = rng.random(n) < 0.25
    cw = (innocuous == trait).astype(int)
    # a 3-item list experiment and a double list (sensitive item on list A when double_treat = 1)
    ctrl = rng.binomial(3, 0.4, n)
    list_treat = rng.integers(0, 2, n)
    ctrl_a, ctrl_b = rng.binomial(3, 0.5, n), rng.binomial(3, 0.3, n)
    dt = rng.integers(0, 2, n)
    pd.DataFrame({"resp_id": np.arange(1, n + 1), "sex": sex, "age_group": age, "region": region,
                  "q_support": q, "rr_answer": rr, "w0": rng.uniform(0.5, 1.5, n), "cw_answer": cw,
                  "list_treat": list_treat, "list_count": ctrl + list_treat * trait,
                  "double_treat": dt, "list_a": ctrl_a + dt * trait, "list_b": ctrl_b + (1 - dt) * trait,
                  }).to_csv(folder / "respondents.csv", index=False)
    codes = np.concatenate([np.full(n, "1.1"), rng.choice(["2.11", "2.21", "3.13", "4.1"], 3 * n)])
    pd.DataFrame({"case_id": np.arange(1, len(codes) + 1), "disposition": codes}).to_csv(folder / "dispositions.csv", index=False)
    (folder / "margins.toml").write_text(margins, encoding="utf-8")
    (folder / "study.toml").write_text(STUDY_TOML.format(extra=extra, data_extra=data_extra), encoding="utf-8")
    return folder / "study.toml"
