"""Property (issue 12): for random data, designs and subgroups, no share interval that sottovoce
prints, renders or serialises leaves [0, 1] (a difference of shares: [−1, 1]), for every
estimator of a share."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.errors import SottovoceError

RANGE = {"share": (0.0, 1.0), "share-difference": (-1.0, 1.0)}


def _frame(seed: int, n: int, prevalence: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    t[:2] = [0, 1]
    z = rng.random(n) < prevalence
    trait, ans = sv.simulate_rr("forced", np.full(n, prevalence), n, rng, p=2 / 3, p1=1 / 6)
    return pd.DataFrame({
        "y": (rng.random(n) < prevalence).astype(int),
        "cat": rng.integers(0, 3, n),
        "count": rng.binomial(3, rng.uniform(0.05, 0.95), n) + t * z,
        "countb": rng.binomial(3, 0.5, n) + (1 - t) * z,
        "t": t, "t3": np.where(rng.random(n) < 0.3, 2, t),
        "d": (z & (rng.random(n) < 0.7)).astype(int),
        "rr": ans, "rd": trait,
        "g": rng.integers(0, 3, n),
        "w": rng.uniform(0.2, 5, n), "stratum": rng.integers(0, 2, n), "psu": rng.integers(0, max(2, n // 4), n),
        "q": rng.choice([1.0, 2.0, 9.0, np.nan], n),
    })


def _estimators(df: pd.DataFrame, design: dict, by: str | None, ci: str) -> list:
    svy = sv.Survey(df, **design)
    kw = dict(design)
    return [
        lambda: svy.mean("y", by=by, ci=ci),
        lambda: svy.proportion("cat", by=by, ci=ci),
        lambda: sv.list_experiment(df, "count", "t", 4, by=by, **kw),
        lambda: sv.list_direct(df, "count", "t", 4, "d", by=by, **kw),
        lambda: sv.double_list(df, "count", "countb", "t", 4, **kw),
        lambda: sv.placebo_list(df, "count", "t3", 4, **kw),
        lambda: sv.rr_prevalence(df, "rr", "forced", p=2 / 3, p1=1 / 6, by=by, direct="rd", **kw),
        lambda: sv.rr_prevalence(df, "rr", "forced", p=2 / 3, p1=1 / 6, by=by, truncate=True, **kw),
        lambda: sv.rr_gap(df, "rr", "rd", "forced", p=2 / 3, p1=1 / 6, by=by, **kw),
        lambda: sv.split_ballot(df, "cat", "t", **kw),
        lambda: sv.item_nonresponse(df, ["q"], hard_to_say=[9], by=by, **kw),
        lambda: sv.survey_bounds(df, "q", 1.0, 2.0, 0.5, **kw),
    ]


def _check_json(node: object) -> None:
    if isinstance(node, dict):
        scale = node.get("scale")
        if scale in RANGE and node.get("ci") is not None and None not in node["ci"]:
            lo, hi = RANGE[scale]
            assert lo <= node["ci"][0] <= node["ci"][1] <= hi, node
        for v in node.values():
            _check_json(v)
    elif isinstance(node, list):
        for v in node:
            _check_json(v)


def _check_display(r: sv.Result) -> None:
    text, markup = r.summary(), r._repr_html_()
    rows = r.rows()
    table = r.display().tables[0] if r.display().tables else None
    if table is None or len(table.header) < 4 or "CI" not in table.header[3]:
        return
    for (name, x), cells in zip(rows, table.rows, strict=True):
        if x.scale not in RANGE or x.ci is None:
            assert cells[3] == "–"
            continue
        assert np.isfinite(x.ci).all(), (name, x.ci)  # an interval is a pair of numbers or None
        lo_c, hi_c = (float(v.replace("%", "")) for v in cells[3].split(" – "))
        lo, hi = (100 * v for v in RANGE[x.scale])
        assert lo <= lo_c <= hi_c <= hi, (name, cells)
        assert cells[3] in text and cells[3] in markup


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(8, 80),
    prevalence=st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.97, 1.0]),
    design=st.sampled_from(["none", "weights", "strata_psu"]),
    by=st.sampled_from([None, "g"]),
    ci=st.sampled_from(["wilson", "logit", "beta", "wald"]),
)
def test_no_share_interval_leaves_its_range(seed, n, prevalence, design, by, ci):
    df = _frame(seed, n, prevalence)
    kw = {"none": {}, "weights": {"weights": "w"}, "strata_psu": {"weights": "w", "strata": "stratum", "psu": "psu"}}[design]
    for make in _estimators(df, kw, by, ci):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = make()
        except SottovoceError:
            continue  # an honest refusal (too few respondents in an arm, a design not followed …)
        payload = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        _check_json(payload)
        _check_display(r)


@pytest.mark.parametrize("est,se", [(1.33, 1.37), (-0.9, 0.5), (0.5, 10.0), (0.0, 0.0), (1.0, 0.2), (-3.0, 0.1)])
def test_moment_estimates_outside_the_range_keep_a_valid_interval(est, se):
    from sottovoce.intervals import DegreesOfFreedom

    r = sv.Result.from_estimate(est, se, scale="share", df=DegreesOfFreedom(6, "test"), n=7, method="m")
    assert r.estimate == est
    if r.ci is not None:
        assert 0 <= r.ci[0] <= r.ci[1] <= 1
    assert r.out_of_range == (not 0 <= est <= 1)
    _check_json(r.to_dict())
