"""Property tests (hypothesis) of the survey design and its estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.survey import Survey

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(12, 120))
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    df = pd.DataFrame({
        "stratum": rng.integers(0, 2, n),
        "psu": rng.integers(0, 4, n),
        "w": rng.uniform(0.2, 5.0, n).round(3),
        "y": rng.integers(0, 2, n),
        "x": rng.normal(10, 3, n),
        "cat": rng.integers(1, 4, n),
        "g": rng.integers(0, 3, n),
        "a": idx % 2,  # every (a, b) cell occurs: raking is always feasible
        "b": (idx // 2) % 3,
    })
    df.loc[rng.random(n) < 0.1, "w"] = 0.0
    df.loc[0, "w"] = 1.0  # at least one positive weight
    return df


def _design(df, raked=False):
    if raked:  # keep every raking cell reachable: no zero weights here
        df = df.assign(w=df.w.where(df.w > 0, 1.0))
    svy = Survey(df, "w", "stratum", "psu")
    if raked:
        svy = svy.rake({"a": {0: 0.4, 1: 0.6}, "b": {0: 0.2, 1: 0.3, 2: 0.5}}, tol=1e-12)
    return svy


def _numbers(r) -> np.ndarray:
    return np.array(_flat(r), dtype=float)


def _flat(r) -> list:
    out = [r.estimate, r.se, *r.ci] if r.estimate is not None else []
    for c in r.categories:
        out += [c.estimate, c.se, *c.ci]
    for g in r.groups:
        out += _flat(g)
    return out


@SETTINGS
@given(samples(), st.integers(0, 2**31 - 1), st.booleans())
def test_row_order_does_not_matter(df, seed, raked):
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[perm].reset_index(drop=True)
    for fn in (lambda s: s.mean("x", by="g"), lambda s: s.proportion("cat", by="g", ci="beta")):
        np.testing.assert_allclose(_numbers(fn(_design(df, raked))), _numbers(fn(_design(shuffled, raked))),
                                   rtol=1e-9, atol=1e-12)


@SETTINGS
@given(samples(), st.floats(0.01, 1000), st.booleans())
def test_scaling_weights_changes_no_mean_or_se(df, c, raked):
    if raked:
        df = df.assign(w=df.w.where(df.w > 0, 1.0))
    a = _design(df, raked).mean("x")
    b = _design(df.assign(w=df.w * c), raked).mean("x")
    assert b.estimate == pytest.approx(a.estimate, rel=1e-9)
    assert b.se == pytest.approx(a.se, rel=1e-7, abs=1e-12)
    pa, pb = _design(df, raked).proportion("cat"), _design(df.assign(w=df.w * c), raked).proportion("cat")
    np.testing.assert_allclose(_numbers(pa), _numbers(pb), rtol=1e-7, atol=1e-12)


@SETTINGS
@given(samples(), st.booleans())
def test_domain_of_everything_is_the_full_estimate(df, raked):
    svy = _design(df, raked)
    full = svy.proportion("cat")
    dom = svy.domain(np.ones(len(df), dtype=bool)).proportion("cat")
    np.testing.assert_allclose(_numbers(full), _numbers(dom), rtol=1e-12, atol=1e-15)


@SETTINGS
@given(samples())
def test_shares_sum_to_one_and_covariance_is_psd(df):
    svy = _design(df, raked=True)
    p = svy.proportion("cat", by="g")
    assert sum(c.estimate for c in p.categories) == pytest.approx(1.0)
    for c in p.categories:
        assert 0 <= c.ci[0] <= c.estimate <= c.ci[1] <= 1
    u = np.column_stack([df.x, df.y, df.cat])
    v = svy.cov_total(u)
    np.testing.assert_allclose(v, v.T, rtol=1e-10, atol=1e-8)
    assert np.linalg.eigvalsh(v).min() > -1e-8 * max(1.0, np.abs(v).max())


@SETTINGS
@given(samples())
def test_domain_totals_add_up(df):
    """Totals of disjoint domains add up to the full total (estimates and influence)."""
    svy = _design(df)
    full = svy.total("x")
    parts = svy.total("x", by="g").groups
    assert sum(g.estimate for g in parts if g.estimate is not None) == pytest.approx(full.estimate)
