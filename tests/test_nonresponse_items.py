"""Item nonresponse shares, R-indicator, margin distances, alternative targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.errors import InputError
from sottovoce.nonresponse import (
    alternative_targets,
    fit_logistic,
    item_nonresponse,
    margin_distance,
    r_indicator,
)


def test_item_nonresponse_matches_r_survey(wave1):
    # R: svyby(~I(q4==99), ~AGE_GR, svydesign(ids=~1, weights=~wes_age_gender_tnp), svymean)
    ref = {1: (0.2723171227, 0.02249481707), 2: (0.2001801604, 0.01546347923), 3: (0.1095300207, 0.01297589871)}
    df = sv.read_table(wave1)
    res = item_nonresponse(df, ["Q4"], hard_to_say=[99], by="AGE_GR", weights="wes_age_gender_tnp")
    assert len(res.groups) == 3
    for g in res.groups:
        q = g.categories[0]
        p, se = ref[int(g.level)]
        assert q.details["hard_to_say"] == pytest.approx(p, abs=1e-9)
        assert q.details["se_hard_to_say"] == pytest.approx(se, abs=1e-9)
    overall = res.categories[0]
    assert round(100 * overall.details["hard_to_say"]) == 19  # published topline: 19% hard to say


def test_item_nonresponse_parts_add_up():
    df = pd.DataFrame({"q": [1, 2, 99, 100, None, 1, 99, 2], "w": [1, 2, 1, 1, 3, 1, 1, 2], "g": list("aabbaabb")})
    res = item_nonresponse(df, "q", hard_to_say=99, refused=100, weights="w", by="g")
    d = res.categories[0].details
    assert d["hard_to_say"] == pytest.approx(2 / 12) and d["refused"] == pytest.approx(1 / 12)
    assert d["missing"] == pytest.approx(3 / 12)
    assert res.categories[0].estimate == pytest.approx(6 / 12)
    assert {g.level for g in res.groups} == {"a", "b"}


def test_logistic_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(3000), rng.integers(0, 2, 3000), rng.integers(0, 3, 3000)])
    y = (rng.random(3000) < 1 / (1 + np.exp(-(-1 + 0.8 * X[:, 1] - 0.4 * X[:, 2])))).astype(float)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit().params
    assert fit_logistic(X, y) == pytest.approx(ref, abs=1e-8)


def test_r_indicator_closed_form():
    # propensities fixed by design: 0.2 in group a (half the sample) and 0.6 in group b
    df = pd.DataFrame({"g": ["a"] * 1000 + ["b"] * 1000, "resp": [1] * 200 + [0] * 800 + [1] * 600 + [0] * 400})
    res = r_indicator(df, "resp", ["g"])
    rho = np.r_[np.full(1000, 0.2), np.full(1000, 0.6)]
    assert res.estimate == pytest.approx(1 - 2 * rho.std(ddof=1))
    assert res.details["mean_propensity"] == pytest.approx(0.4)
    # all propensities equal -> R = 1
    flat = pd.DataFrame({"g": ["a", "b"] * 50, "resp": [1, 1, 0, 0] * 25})
    assert r_indicator(flat, "resp", ["g"]).estimate == pytest.approx(1.0)


def test_r_indicator_from_disposition_codes():
    df = pd.DataFrame({"disp": ["1.1", "2.11", "4.3", "1.1", "3.13", "2.21"] * 20, "region": ["n", "n", "n", "s", "s", "s"] * 20})
    res = r_indicator(df, "disp", ["region"], disposition_codes=True)
    assert res.n == 100  # the 4.3 cases (not eligible) are dropped
    with pytest.raises(InputError, match="0/1"):
        r_indicator(df, "region", ["disp"])


def test_margin_distance_before_and_after():
    df = pd.DataFrame({"sex": ["m"] * 30 + ["f"] * 70})
    margins = {"sex": {"m": 0.46, "f": 0.54}}
    w = sv.rake(df, margins)
    out = margin_distance(df, margins, None, w.to_numpy())
    assert out.loc[0, "before"] == pytest.approx(0.16)
    assert out.loc[0, "after"] == pytest.approx(0.0, abs=1e-8)


def test_alternative_targets_report_movement():
    rng = np.random.default_rng(5)
    n = 3000
    age = rng.choice(["young", "old"], size=n, p=[0.5, 0.5])
    y = np.where(rng.random(n) < np.where(age == "young", 0.3, 0.7), "yes", "no")
    df = pd.DataFrame({"age": age, "y": y})
    sets = {"census2010": {"age": {"young": 0.5, "old": 0.5}}, "census2021": {"age": {"young": 0.4, "old": 0.6}}}
    res = alternative_targets(df, "y", sets)
    yes = next(c for c in res.categories if c.code == "yes")
    py, po = (y[age == "young"] == "yes").mean(), (y[age == "old"] == "yes").mean()
    by = yes.details["by_margin_set"]
    assert by["census2010"] == pytest.approx(0.5 * py + 0.5 * po)
    assert by["census2021"] == pytest.approx(0.4 * py + 0.6 * po)
    assert yes.details["spread"] == pytest.approx(0.1 * (po - py))
    with pytest.raises(InputError, match="at least two"):
        alternative_targets(df, "y", {"one": sets["census2010"]})


def test_demo_worst_case_bounds_contain_planted_truth():
    import json
    from pathlib import Path

    from sottovoce.nonresponse import outcome_rates, survey_bounds

    demo = Path(__file__).resolve().parents[1] / "examples" / "demo"
    if not (demo / "truth.json").exists():
        pytest.skip("demo study not generated")
    resp = pd.read_csv(demo / "respondents.csv")
    disp = pd.read_csv(demo / "dispositions.csv", dtype={"disposition": str})
    rr3 = outcome_rates(disp, column="disposition").rates["RR3"]
    truth = json.loads((demo / "truth.json").read_text())["support"]
    b = survey_bounds(resp, "q_support", 1, 2, response_rate=rr3)
    assert b.lower <= truth <= b.upper
    assert b.estimate - truth > 0.2  # the complete-case answer is far off: nonresponse depends on the answer
