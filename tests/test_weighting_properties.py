"""Property tests (hypothesis) for raking: margins reproduced, weights positive, order and scale free."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.weighting import poststratify, rake, trim


@st.composite
def raking_problem(draw):
    """A sample in which every pair of categories occurs (so any positive margins are reachable)."""
    ks = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3))
    grid = np.array(np.meshgrid(*[np.arange(k) for k in ks], indexing="ij")).reshape(len(ks), -1).T
    extra = draw(st.integers(0, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = np.vstack([grid, rng.integers(0, ks, size=(extra, len(ks)))]) if extra else grid
    df = pd.DataFrame({f"v{j}": rows[:, j] + 1 for j in range(len(ks))})
    w = rng.uniform(0.2, 5.0, len(df))
    margins = {}
    for j, k in enumerate(ks):
        raw = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))
        margins[f"v{j}"] = {c + 1: float(v) for c, v in enumerate(raw / raw.sum())}
    return df, w, margins


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _shares(df, col, w):
    return pd.Series(w).groupby(df[col].to_numpy()).sum() / np.sum(w)


@SETTINGS
@given(raking_problem())
def test_raking_reproduces_margins_and_total(problem):
    df, w0, margins = problem
    w = rake(df, margins, w0, tol=1e-10).to_numpy()
    assert abs(w.sum() - w0.sum()) <= 1e-9 * w0.sum()
    for col, table in margins.items():
        got = _shares(df, col, w)
        for cat, share in table.items():
            assert abs(got[cat] - share) <= 1e-9


@SETTINGS
@given(raking_problem())
def test_weights_stay_positive(problem):
    df, w0, margins = problem
    w = rake(df, margins, w0).to_numpy()
    assert np.isfinite(w).all() and (w > 0).all()


@SETTINGS
@given(raking_problem(), st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(problem, seed):
    df, w0, margins = problem
    df = df.assign(w0=w0)
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[perm]
    a = rake(df, margins, "w0", tol=1e-12)
    b = rake(shuffled, margins, "w0", tol=1e-12)
    np.testing.assert_allclose(b.sort_index().to_numpy(), a.to_numpy(), rtol=1e-9)


@SETTINGS
@given(raking_problem(), st.floats(1e-3, 1e4))
def test_scaling_input_weights_keeps_shares(problem, scale):
    df, w0, margins = problem
    a = rake(df, margins, w0, tol=1e-12).to_numpy()
    b = rake(df, margins, w0 * scale, tol=1e-12).to_numpy()
    np.testing.assert_allclose(b / b.sum(), a / a.sum(), rtol=1e-8)


@SETTINGS
@given(raking_problem())
def test_poststratify_on_one_margin_equals_raking_on_it(problem):
    df, w0, margins = problem
    col, table = next(iter(margins.items()))
    np.testing.assert_allclose(poststratify(df, col, table, weights=w0), rake(df, {col: table}, w0), rtol=1e-10)


@SETTINGS
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 100.0)), min_size=2, max_size=80), st.floats(1.0, 6.0))
def test_trim_bounds_and_total(ws, cap):
    w = np.array(ws)
    if not (w > 0).any():
        w[0] = 1.0
    t = trim(w, upper=cap).to_numpy()
    mean = w[w > 0].mean()
    assert t.max() <= cap * mean * (1 + 1e-9)
    assert abs(t.sum() - w.sum()) <= 1e-9 * w.sum()
    assert ((t > 0) == (w > 0)).all()


@SETTINGS
@given(raking_problem(), st.integers(-3, 500))
def test_integer_and_text_codings_give_the_same_weights(problem, offset):
    """The integer fast paths (consecutive codes, lookup table) agree with the general hashing path."""
    df, w0, margins = problem
    shifted = df + offset
    m_int = {c: {k + offset: v for k, v in t.items()} for c, t in margins.items()}
    text = df.astype(str)
    m_txt = {c: {str(k): v for k, v in t.items()} for c, t in margins.items()}
    np.testing.assert_allclose(rake(shifted, m_int, w0, tol=1e-12), rake(text, m_txt, w0, tol=1e-12), rtol=1e-9)
