"""Sample-size planning: formulas against simulation, the comparison table, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.planning import PLAN_DEFAULTS


def _simulated_se(name: str, pi: float, n: int, reps: int, rng: np.random.Generator, items: int = 4, control_var: float = 0.5) -> float:
    """SD of the estimator over simulated surveys, each drawn through the design's mechanism."""
    trait = (rng.random((reps, n)) < pi).astype(np.int8)
    if name == "direct":
        est = trait.mean(axis=1)
    elif name == "list":
        # control count ~ Binomial(J, r) with J·r(1−r) = control_var; half the sample treated
        r = 0.5 - math.sqrt(0.25 - control_var / items)
        control = rng.binomial(items, r, size=(reps, n))
        treated = np.arange(n) < n // 2
        count = control + trait * treated
        est = count[:, treated].mean(axis=1) - count[:, ~treated].mean(axis=1)
    else:
        dsg = sv.rr_design(name, **PLAN_DEFAULTS[name])
        est = dsg.prevalence_from(dsg.simulate_answers(trait, rng).mean(axis=1))
    return float(est.std(ddof=1))


@pytest.mark.slow
@pytest.mark.parametrize("name", sv.PLAN_DESIGNS)
def test_predicted_se_matches_simulation_within_5_percent(name):
    n, pi, reps = 1600, 0.3, 3000  # relative SE of a simulated SD ≈ 1/sqrt(2·3000) ≈ 1.3%
    row = sv.plan(name, n=n, prevalence=pi).details["designs"][0]
    sim = _simulated_se(name, pi, n, reps, np.random.default_rng(17))
    assert row["se"] == pytest.approx(sim, rel=0.05), (row["se"], sim)


def test_direct_closed_form_and_comparison_sentence():
    plan = sv.plan(n=1600, prevalence=0.5)
    rows = {r["design"]: r for r in plan.details["designs"]}
    assert rows["direct"]["se"] == pytest.approx(math.sqrt(0.25 / 1600))
    assert rows["direct"]["moe"] == pytest.approx(1.959964 * 0.0125, rel=1e-6)
    # forced (p = 2/3): λ = 1/2, se = sqrt(1/4 / 1600) / (2/3)
    assert rows["forced"]["se"] == pytest.approx(0.0125 * 1.5)
    # list: 2(2σ² + π(1−π))/n with σ² = 0.5
    assert rows["list"]["se"] == pytest.approx(math.sqrt(2 * (1 + 0.25) / 1600))
    assert plan.details["sentence"].startswith("with 1,600 respondents: direct ±2.4 points, list ±7.7 points, forced ±3.7 points")
    assert set(rows) == set(sv.PLAN_DESIGNS)
    for name in PLAN_DEFAULTS:
        assert set(rows[name]["privacy"]) and all(0 < v < 1 for v in rows[name]["privacy"].values())
    assert "direct" in plan.summary() and "privacy" in plan.summary()


@given(
    moe=st.floats(0.01, 0.2),
    pi=st.floats(0.05, 0.95),
    deff=st.floats(1.0, 4.0),
    name=st.sampled_from(["direct", "list", "forced", "crosswise", "unrelated"]),
)
def test_n_for_moe_is_the_smallest_n_reaching_it(moe, pi, deff, name):
    row = sv.plan(name, moe=moe, prevalence=pi, deff=deff).details["designs"][0]
    need = row["n_required"]
    se_at = lambda n: sv.plan(name, n=n, prevalence=pi, deff=deff).details["designs"][0]["moe"]  # noqa: E731
    assert se_at(need) <= moe * (1 + 1e-9)
    if need > 1:
        assert se_at(need - 1) > moe * (1 - 1e-9)


def test_design_effect_scales_the_standard_error():
    a = sv.plan("forced", n=1000, deff=1.0).details["designs"][0]["se"]
    b = sv.plan("forced", n=1000, deff=2.25).details["designs"][0]["se"]
    assert b == pytest.approx(1.5 * a)


def test_custom_design_parameters_and_privacy():
    row = sv.plan("forced", n=1000, prevalence=0.2, p=0.8, p1=0.1).details["designs"][0]
    assert row["parameters"] == pytest.approx({"p": 0.8, "p1": 0.1, "p0": 0.1})
    # P(trait | yes) = 0.2·0.9 / (0.2·0.9 + 0.8·0.1)
    assert row["privacy"]["P(trait | yes)"] == pytest.approx(0.18 / 0.26)


def test_cli_plan_table_and_json(cli):
    res = cli("plan", "--n", "1600")
    assert res.code == 0, res.err
    assert "with 1,600 respondents: direct ±2.4 points" in res.out and "crosswise" in res.out
    res = cli("plan", "--moe", "0.03", "--prevalence", "0.3", "--design", "direct,list,crosswise", "--deff", "1.5",
              "--items", "3", "--control-var", "0.6", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert [r["design"] for r in out["designs"]] == ["direct", "list", "crosswise"]
    assert out["designs"][0]["n_required"] == math.ceil(1.959964**2 * 0.21 * 1.5 / 0.03**2)
    assert out["designs"][1]["parameters"] == {"items": 3, "control_var": 0.6}


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--moe", "3"], "--moe 3.0"),
        (["--prevalence", "1.2"], "--prevalence"),
        (["--n", "0"], "--n 0"),
        (["--deff", "0"], "--deff"),
        (["--design", "survey-monkey"], "unknown design"),
        (["--design", "warner", "--p", "0.5"], "not identifiable"),
        (["--design", "forced", "--p", "0.2", "--p1", "0.5", "--p0", "0.5"], "p1 + p0"),
        (["--p", "0.7"], "exactly one"),
        (["--control-var", "9"], "--control-var"),
    ],
)
def test_cli_plan_bad_input(cli, flags, match):
    res = cli("plan", *flags)
    assert res.code == 2 and res.err.startswith("error: ") and match in res.err, res.err
