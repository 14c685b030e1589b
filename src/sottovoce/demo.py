"""A simulated wartime phone survey with known truth: the bundled example study.

Everything here is SIMULATED and labelled as such. It mimics a random-digit-dial mobile phone
survey of Russian adults of the kind run since 2022: about 20,000 numbers dialled, about 1,600
completed interviews, AAPOR final disposition codes for every number, and a questionnaire with a
direct war-support question ("hard to say" and refusals included), a four-item list experiment and
a forced-response randomized-response item (one die roll: 1 = say "yes", 6 = say "no", 2–5 =
answer truthfully).

What is planted, so that every estimator can be judged against the truth:

* the true share of supporters is lower than the direct answers show (some opponents say "yes" or
  "hard to say" out of fear);
* opponents are less willing to be interviewed at all (unit nonresponse depends on the answer);
* women, older and urban people and graduates are easier to reach (the sample needs weighting).

The weighting targets are real, cited population figures (see ``MARGINS_2021`` and the generated
``margins-census-2021.toml``); the people are not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["make_demo", "DEMO_SEED", "demo_truth"]

DEMO_SEED = 20220224

# -- population figures (real; sources in MARGIN_SOURCES) ------------------------------------------
# Sex × age × settlement cells of the adult population: the post-stratification targets of the
# Chronicles survey, wave 1 (28 Feb–2 Mar 2022), read off the weighted open-data SPSS file
# (weighted shares of `for_weight` under `wes_age_gender_tnp`, rounded to 4 places), which the
# project derived from Rosstat's population figures.
CELLS = pd.DataFrame(
    [
        ("male", "18-34", "urban", 0.1003),
        ("male", "35-54", "urban", 0.1316),
        ("male", "55+", "urban", 0.1012),
        ("female", "18-34", "urban", 0.1007),
        ("female", "35-54", "urban", 0.1449),
        ("female", "55+", "urban", 0.1727),
        ("male", "18-34", "rural", 0.0339),
        ("male", "35-54", "rural", 0.0431),
        ("male", "55+", "rural", 0.0412),
        ("female", "18-34", "rural", 0.0290),
        ("female", "35-54", "rural", 0.0423),
        ("female", "55+", "rural", 0.0590),
    ],
    columns=["sex", "age_group", "settlement", "share"],
)

# Federal districts: Rosstat's resident population on 1 January 2023, revised with the results of
# the 2020 (2021) All-Russian census, as published by TASS (21 March 2023); all ages.
DISTRICT_POPULATION = {
    "Central": 40_240_256,
    "North-Western": 13_867_347,
    "Southern": 16_642_052,
    "North Caucasian": 10_205_730,
    "Volga": 28_683_247,
    "Ural": 12_259_126,
    "Siberian": 16_645_802,
    "Far Eastern": 7_903_864,
}

MARGIN_SOURCES = {
    "district": (
        "Rosstat, resident population on 1 Jan 2023 by federal district, revised with the results of "
        "the All-Russian population census 2020 (held Oct–Nov 2021); reported by TASS, 21 Mar 2023 "
        "(e.g. vesti.news, 'Росстат привел актуальные данные численности населения'). All ages: "
        "the adult shares by district were not reachable from this machine."
    ),
    "sex, age_group, settlement": (
        "Post-stratification targets (sex × age × urban/rural) of the Chronicles phone survey, wave 1, "
        "28 Feb–2 Mar 2022 (www.chronicles.report, CC BY 4.0), derived by the project from Rosstat's "
        "population figures; read off the weighted open-data file."
    ),
}


EDUCATION_SHARE_HIGHER = 0.30  # simulated: education is a reporting group, not a weighting margin

# -- the simulated behaviour ----------------------------------------------------------------------
# log-odds of truly supporting the war
_SUPPORT: dict[str, Any] = {
    "intercept": -0.55,
    "male": 0.15,
    "age": {"18-34": -0.70, "35-54": 0.0, "55+": 0.55},
    "rural": 0.30,
    "higher": -0.45,
    "district": {
        "Central": -0.05, "North-Western": -0.15, "Southern": 0.15, "North Caucasian": 0.25,
        "Volga": 0.05, "Ural": 0.0, "Siberian": -0.05, "Far Eastern": -0.10,
    },
}
# log-odds of agreeing to the interview once reached
_RESPONSE: dict[str, Any] = {
    "intercept": -1.52,
    "male": -0.25,
    "age": {"18-34": -0.35, "35-54": 0.0, "55+": 0.30},
    "rural": -0.30,
    "higher": 0.35,
    "supporter": 0.40,  # opponents refuse more often
}
# How people answer the direct question: P(yes), P(no), P(hard to say), P(refuse)
_DIRECT_SUPPORTER = (0.93, 0.01, 0.05, 0.01)
_DIRECT_OPPONENT = (0.22, 0.48, 0.21, 0.09)
# Control items of the list experiment (simulated prevalences, independent of support)
_LIST_ITEMS = (0.62, 0.18, 0.47, 0.33)
_LIST_TEXT_EN = [
    "I have been abroad in the last five years",
    "I have taken part in a street protest",
    "I have a dacha or a plot of land",
    "I follow news on Telegram channels",
]
_LIST_TEXT_RU = [
    "Я был(а) за границей за последние пять лет",
    "Я участвовал(а) в уличной акции протеста",
    "У меня есть дача или земельный участок",
    "Я читаю новости в Telegram-каналах",
]
# Forced response with one die: 1 → "yes", 6 → "no", 2–5 → the truth.
RR_P, RR_P1, RR_P0 = 4 / 6, 1 / 6, 1 / 6


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _support_logit(df: pd.DataFrame) -> np.ndarray:
    s = _SUPPORT
    return (
        s["intercept"]
        + s["male"] * (df["sex"] == "male").to_numpy()
        + df["age_group"].map(s["age"]).to_numpy(float)
        + s["rural"] * (df["settlement"] == "rural").to_numpy()
        + s["higher"] * (df["education"] == "higher").to_numpy()
        + df["district"].map(s["district"]).to_numpy(float)
    )


def _population_cells() -> pd.DataFrame:
    """Every (sex, age, settlement, education, district) cell with its population share."""
    d_share = pd.Series(DISTRICT_POPULATION, dtype=float)
    d_share /= d_share.sum()
    edu = pd.DataFrame({"education": ["higher", "no higher"], "edu_share": [EDUCATION_SHARE_HIGHER, 1 - EDUCATION_SHARE_HIGHER]})
    dist = pd.DataFrame({"district": d_share.index, "d_share": d_share.to_numpy()})
    cells = CELLS.merge(edu, how="cross").merge(dist, how="cross")
    cells["pop_share"] = cells["share"] * cells["edu_share"] * cells["d_share"]
    return cells


def demo_truth() -> dict[str, object]:
    """The planted population values, computed exactly from the simulation model."""
    cells = _population_cells()
    p = _logistic(_support_logit(cells))
    w = cells["pop_share"].to_numpy()
    out: dict[str, object] = {"support": float(np.sum(w * p))}
    for col in ("sex", "age_group", "settlement", "education", "district"):
        grp = {}
        for level, idx in cells.groupby(col).groups.items():
            ww = w[np.asarray(cells.index.get_indexer(idx))]
            grp[str(level)] = float(np.sum(ww * p[cells.index.get_indexer(idx)]) / ww.sum())
        out[f"support_by_{col}"] = grp
    return out


def simulate(seed: int = DEMO_SEED, numbers: int = 20_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the dialling and the interviews: returns (respondents, dispositions)."""
    rng = np.random.default_rng(seed)
    d_names = list(DISTRICT_POPULATION)
    d_share = np.array([DISTRICT_POPULATION[d] for d in d_names], dtype=float)
    d_share /= d_share.sum()
    # Every dialled number belongs to a district (known from the Rossvyaz number range: a frame variable).
    district = rng.choice(len(d_names), size=numbers, p=d_share)
    # Eligibility and contact outcome of each number.
    u = rng.random(numbers)
    status = np.select(
        [u < 0.20, u < 0.45, u < 0.58, u < 0.595],
        ["not_eligible", "unknown", "non_contact", "other"],
        default="reached",
    )
    reached = np.flatnonzero(status == "reached")
    m = len(reached)
    cell = rng.choice(len(CELLS), size=m, p=CELLS["share"].to_numpy() / CELLS["share"].sum())
    people = CELLS.iloc[cell][["sex", "age_group", "settlement"]].reset_index(drop=True)
    people["education"] = np.where(rng.random(m) < EDUCATION_SHARE_HIGHER, "higher", "no higher")
    people["district"] = np.asarray(d_names, dtype=object)[district[reached]]
    supporter = rng.random(m) < _logistic(_support_logit(people))
    r = _RESPONSE
    resp_logit = (
        r["intercept"]
        + r["male"] * (people["sex"] == "male").to_numpy()
        + people["age_group"].map(r["age"]).to_numpy(float)
        + r["rural"] * (people["settlement"] == "rural").to_numpy()
        + r["higher"] * (people["education"] == "higher").to_numpy()
        + r["supporter"] * supporter
    )
    u2 = rng.random(m)
    p_complete = _logistic(resp_logit)
    complete = u2 < p_complete
    partial = (~complete) & (u2 < p_complete + 0.01)

    # AAPOR final disposition codes (telephone).
    disp = np.empty(numbers, dtype=object)
    ne = np.flatnonzero(status == "not_eligible")
    disp[ne] = rng.choice(["4.2", "4.31", "4.51", "4.7"], size=len(ne), p=[0.05, 0.55, 0.25, 0.15])
    unk = np.flatnonzero(status == "unknown")
    disp[unk] = rng.choice(["3.12", "3.13", "3.14", "3.21"], size=len(unk), p=[0.15, 0.55, 0.20, 0.10])
    nc = np.flatnonzero(status == "non_contact")
    disp[nc] = rng.choice(["2.21", "2.22"], size=len(nc), p=[0.3, 0.7])
    oth = np.flatnonzero(status == "other")
    disp[oth] = rng.choice(["2.32", "2.33", "2.35"], size=len(oth), p=[0.3, 0.5, 0.2])
    refusal_codes = rng.choice(["2.111", "2.112", "2.12"], size=m, p=[0.70, 0.20, 0.10])
    disp[reached] = np.where(complete, "1.1", np.where(partial, "1.2", refusal_codes))
    dispositions = pd.DataFrame(
        {
            "case_id": np.arange(1, numbers + 1),
            "disposition": disp,
            "district": np.asarray(d_names, dtype=object)[district],
        }
    )

    # The interviews.
    idx = np.flatnonzero(complete)
    resp = people.iloc[idx].reset_index(drop=True)
    truth = supporter[idx]
    n = len(resp)
    probs = np.where(truth[:, None], np.array(_DIRECT_SUPPORTER)[None, :], np.array(_DIRECT_OPPONENT)[None, :])
    cum = probs.cumsum(axis=1)
    k = (rng.random(n)[:, None] > cum).sum(axis=1)
    direct = np.array([1, 2, 99, 98])[np.minimum(k, 3)]
    treat = rng.permutation(np.arange(n) % 2)
    items = (rng.random((n, len(_LIST_ITEMS))) < np.array(_LIST_ITEMS)).sum(axis=1)
    count = items + treat * truth
    die = rng.integers(1, 7, size=n)
    rr = np.where(die == 1, 1, np.where(die == 6, 0, truth.astype(int)))
    respondents = pd.DataFrame(
        {
            "resp_id": np.arange(1, n + 1),
            "case_id": dispositions["case_id"].to_numpy()[reached[idx]],
            "sex": resp["sex"],
            "age_group": resp["age_group"],
            "education": resp["education"],
            "settlement": resp["settlement"],
            "district": resp["district"],
            "q_support": direct,
            "list_treat": treat,
            "list_count": count,
            "rr_answer": rr,
        }
    )
    return respondents, dispositions


def _margins_toml() -> str:
    cells = CELLS
    lines = [
        "# Population margins of Russian adults used to weight the SIMULATED demo study.",
        "# Sources (real, cited):",
    ]
    for k, v in MARGIN_SOURCES.items():
        lines.append(f"#  - {k}: {v}")
    lines.append("# education is not a weighting margin here: the demo simulates it.")
    for col in ("sex", "age_group", "settlement"):
        lines.append(f"\n[{col}]")
        for level, share in cells.groupby(col, sort=False)["share"].sum().items():
            lines.append(f'"{level}" = {share:.4f}')
    lines.append("\n[district]  # resident population, 1 Jan 2023 (census-based), all ages")
    for d, pop in DISTRICT_POPULATION.items():
        lines.append(f'"{d}" = {pop}')
    return "\n".join(lines) + "\n"


# Why no estimate of the demo hits the planted truth (shown in the report next to the finding).
TRUTH_EXPLANATION = {
    "en": ("Why the estimates differ from the truth: the simulated opponents of the war were less willing to be interviewed at all "
           "(unit nonresponse that depends on the opinion itself). Weighting corrects who is easier to reach by sex, age and "
           "settlement, not who refuses because of what they think, and the indirect questions remove the fear of answering, "
           "not the refusal to take part; the direct question is higher still because some opponents say “yes” out of fear. "
           "The worst-case bounds under “Who did not answer” contain the truth."),
    "ru": ("Почему оценки отличаются от истинного значения: в симуляции противники войны реже соглашались на интервью "
           "(неответ зависит от самого мнения). Взвешивание исправляет то, кого легче застать по полу, возрасту и типу "
           "поселения, но не то, кто отказывается из-за своих взглядов, а косвенные вопросы снимают страх отвечать, но не "
           "отказ участвовать; прямой вопрос даёт ещё более высокую оценку, потому что часть противников из страха отвечает "
           "«да». Границы при худшем сценарии в разделе «Кто не ответил» истинное значение содержат."),
}


def _study_toml() -> str:
    truth = f"{float(demo_truth()['support']):.4f}"  # type: ignore[arg-type]
    explanation = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in TRUTH_EXPLANATION.items())
    items_en = ", ".join(json.dumps(t, ensure_ascii=False) for t in _LIST_TEXT_EN)
    items_ru = ", ".join(json.dumps(t, ensure_ascii=False) for t in _LIST_TEXT_RU)
    return f'''# SIMULATED example study: a wartime phone survey of Russian adults with known truth.
# Generated by `sottovoce.demo.make_demo`; the people are invented, the population margins are real.

[study]
id = "demo-wartime-phone-survey"
title = {{ en = "Wartime phone survey of Russian adults (SIMULATED example)", ru = "Телефонный опрос взрослых россиян во время войны (СИМУЛЯЦИЯ, учебный пример)" }}
population = {{ en = "Adults 18+ in Russia", ru = "Взрослое население России 18+" }}
fieldwork = ["2026-03-02", "2026-03-09"]
language = "en"
simulated = true

[study.truth]
question = "support_direct"
share = {truth}
explanation = {{ {explanation} }}

[data]
path = "respondents.csv"

[dispositions]
path = "dispositions.csv"
column = "disposition"

[weighting]
margins = "margins-census-2021.toml"
trim = 5.0

[report]
subgroups = ["sex", "age_group", "education", "settlement"]
min_cell = 30
language = "en"

[report.labels]
sex = {{ en = "Sex", ru = "Пол" }}
"sex=male" = {{ en = "Men", ru = "Мужчины" }}
"sex=female" = {{ en = "Women", ru = "Женщины" }}
age_group = {{ en = "Age", ru = "Возраст" }}
"age_group=18-34" = {{ en = "18–34", ru = "18–34 года" }}
"age_group=35-54" = {{ en = "35–54", ru = "35–54 года" }}
"age_group=55+" = {{ en = "55 and older", ru = "55 лет и старше" }}
education = {{ en = "Education", ru = "Образование" }}
"education=higher" = {{ en = "Higher education", ru = "Высшее образование" }}
"education=no higher" = {{ en = "No higher education", ru = "Без высшего образования" }}
settlement = {{ en = "Settlement", ru = "Тип поселения" }}
"settlement=urban" = {{ en = "Town or city", ru = "Город" }}
"settlement=rural" = {{ en = "Village", ru = "Село" }}

[[questions]]
id = "support_direct"
type = "direct"
column = "q_support"
text = {{ en = "Do you support the military actions of Russia on the territory of Ukraine?", ru = "Вы поддерживаете или не поддерживаете военные действия России на территории Украины?" }}
options = [
  {{ code = 1, en = "Yes, I support them", ru = "Да, поддерживаю" }},
  {{ code = 2, en = "No, I do not support them", ru = "Нет, не поддерживаю" }},
]
yes = [1]
hard_to_say = [99]
refused = [98]

[[questions]]
id = "support_list"
type = "list"
count = "list_count"
treat = "list_treat"
items = 4
method = "dim"
measures = "support_direct"
lead = {{ en = "How many of the following statements apply to you? Please say only how many, not which ones.", ru = "Сколько из следующих утверждений относятся к вам? Назовите, пожалуйста, только количество, а не какие именно." }}
control_items = {{ en = [{items_en}], ru = [{items_ru}] }}
sensitive_item = {{ en = "I support the military actions of Russia in Ukraine", ru = "Я поддерживаю военные действия России на Украине" }}

[[questions]]
id = "support_rr"
type = "rr"
design = "forced"
response = "rr_answer"
p = {RR_P!r}
p1 = {RR_P1!r}
p0 = {RR_P0!r}
device = "die"
measures = "support_direct"
text = {{ en = "Do you support the military actions of Russia in Ukraine?", ru = "Вы поддерживаете военные действия России на Украине?" }}
instructions = {{ en = "Roll a die where nobody can see it. If it shows 1, answer \\"yes\\". If it shows 6, answer \\"no\\". Otherwise answer truthfully. Do not tell us what you rolled.", ru = "Бросьте кубик так, чтобы никто не видел. Если выпала 1, ответьте «да». Если выпала 6, ответьте «нет». В остальных случаях ответьте честно. Не говорите нам, что выпало." }}
'''


def make_demo(out_dir: str | Path, seed: int = DEMO_SEED) -> Path:
    """Write the simulated example study to ``out_dir``; returns the path of ``study.toml``.

    Files: ``study.toml``, ``respondents.csv`` (about 1,600 interviews), ``dispositions.csv``
    (about 20,000 dialled numbers with AAPOR codes), ``margins-census-2021.toml`` and
    ``truth.json`` (the planted population values).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    respondents, dispositions = simulate(seed)
    respondents.to_csv(out / "respondents.csv", index=False)
    dispositions.to_csv(out / "dispositions.csv", index=False)
    (out / "margins-census-2021.toml").write_text(_margins_toml(), encoding="utf-8")
    (out / "study.toml").write_text(_study_toml(), encoding="utf-8")
    truth = demo_truth()
    truth["seed"] = seed
    truth["note"] = "SIMULATED data: planted population values of the demo study."
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out / "study.toml"
