"""Estimates that reuse the design's totals (issue 16) against the row-level reference.

A mean among the answered rows is computed from the design's PSU (and calibration-cell) totals
of its weights, kept once per design, minus the unanswered rows' totals; with many unanswered
rows the totals are taken directly. Subgroup totals are kept per grouping and reused by the next
variable. Each path must give the row-level reference's estimates, SEs and design df, and a
repeated estimate (from the kept totals) the same numbers as the first.
"""

from __future__ import annotations

import numpy as np
import pytest

from sottovoce.survey import Survey
from test_survey_fastpath import DESIGNS, _data, _reference_var


def _reference_mean(svy: Survey, x: np.ndarray, dom: np.ndarray) -> tuple[float, float]:
    x0 = np.where(dom > 0, x, 0.0)
    W = svy.weights @ dom
    mean = (svy.weights * dom) @ x0 / W
    return mean, float(np.sqrt(_reference_var(svy, ((x0 - mean) / W * dom)[:, None]))[0])


@pytest.mark.parametrize("name", list(DESIGNS))
@pytest.mark.parametrize("every", [9, 2])  # few unanswered rows (subtracted), many (taken directly)
def test_mean_among_the_answered_matches_the_reference(name, every):
    d = _data()
    d.loc[d.index % every == 0, "x"] = np.nan
    svy = DESIGNS[name](d)
    x = d["x"].to_numpy()
    answered = (~np.isnan(x)).astype(float)
    first = svy.mean("x")
    mean, se = _reference_mean(svy, x, answered)
    assert first.estimate == pytest.approx(mean, rel=1e-12)
    assert first.se == pytest.approx(se, rel=1e-8)
    total = svy.total("x")
    assert total.se == pytest.approx(float(np.sqrt(_reference_var(svy, np.nan_to_num(x)[:, None] * answered[:, None]))[0]), rel=1e-8)
    by = svy.mean("x", by="grp")
    for g, res in enumerate(by.groups):
        m, s = _reference_mean(svy, x, answered * (d["grp"].to_numpy() == g))
        assert res.estimate == pytest.approx(m, rel=1e-12)
        assert res.se == pytest.approx(s, rel=1e-8)
    again = svy.mean("x")  # from the totals kept by the first call
    assert (again.estimate, again.se, again.ci, again.df) == (first.estimate, first.se, first.ci, first.df)


def test_an_unanswered_psu_leaves_the_design_df():
    """A PSU whose rows are all unanswered (or weigh zero) holds no respondent: R's degf of the
    estimate drops it, exactly, although its weight total is the design's minus its rows'."""
    d = _data()
    d.loc[(d["stratum"] == 0) & (d["psu"] == 2), "x"] = np.nan
    d.loc[(d["stratum"] == 1) & (d["psu"] == 3), "w"] = 0.0
    d.loc[d.index % 13 == 0, "x"] = np.nan
    for svy in (Survey(d, "w", "stratum", "psu", df="design"),
                Survey(d, "w", "stratum", "psu", df="design").rake({"a": {1: 0.45, 2: 0.55}}, tol=1e-12)):
        rows = d["x"].notna() & (svy.weights > 0)
        want = d.loc[rows, ["stratum", "psu"]].drop_duplicates().shape[0] - d.loc[rows, "stratum"].nunique()
        assert svy.mean("x").df == want
        assert svy.mean("x").df == svy.domain(d["x"].notna()).df


def test_integer_and_float_columns_give_the_same_share():
    d = _data()
    d["yes"] = (d["cat"] == "x").astype(np.int64)
    svy = DESIGNS["raked"](d)
    as_int = svy.mean("yes", by="g")
    as_float = DESIGNS["raked"](d.assign(yes=d["yes"].astype(float))).mean("yes", by="g")
    assert as_int.scale == as_float.scale == "share"
    assert as_int.estimate == pytest.approx(as_float.estimate, rel=1e-14)
    assert as_int.se == pytest.approx(as_float.se, rel=1e-12)
    for a, b in zip(as_int.groups, as_float.groups, strict=True):
        assert (a.estimate, a.se) == pytest.approx((b.estimate, b.se), rel=1e-12)


def test_nested_psus_from_integer_pairs_equal_the_column_by_column_codes():
    """PSU ids that repeat across strata, negative and sparse ids, strata as text: the PSU of each
    row and the stratum of each PSU are the same whichever way they are coded."""
    rng = np.random.default_rng(5)
    n = 2000
    d = _data(n=n).assign(stratum=rng.choice([-3, 7, 40], n), psu=rng.choice([-5, 0, 2, 900], n))
    fast = Survey(d, "w", "stratum", "psu")
    slow = Survey(d.assign(stratum=d["stratum"].astype(str).str.zfill(3).radd("s"), psu=d["psu"].astype(float)),
                  "w", "stratum", "psu")
    pairs = d[["stratum", "psu"]].drop_duplicates().sort_values(["stratum", "psu"]).reset_index(drop=True)
    assert fast._n_psu == len(pairs)
    want = pairs.reset_index().merge(d[["stratum", "psu"]], on=["stratum", "psu"], how="right")["index"].to_numpy()
    np.testing.assert_array_equal(fast._psu, want)
    np.testing.assert_array_equal(fast._psu_stratum, pairs["stratum"].rank(method="dense").astype(int).to_numpy() - 1)
    assert fast.mean("x").se == pytest.approx(slow.mean("x").se, rel=1e-12)
