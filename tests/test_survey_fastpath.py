"""The one-pass estimation engine (issue 16) against a plain row-by-row implementation.

Shares, totals and domain estimates are computed from category codes (PSU × category totals)
and calibration residuals in cell space (``linearization.py``). Here an independent, slow,
row-level implementation of the same formulas — dense indicator matrices, calibration residuals
swept row by row as R's ``svyrecvar``, the stratified variance of PSU totals — must agree to
1e-10 on designs the R references do not cover: chains of calibration steps (rake then trim,
post-stratify then rake), exact raking projections, domains of domains, fpc and lonely PSUs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sottovoce.survey import Survey


def _data(seed: int = 3, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 5, n)
    psu = rng.integers(0, 6, n)
    psu[stratum == 4] = 0  # a lonely PSU
    return pd.DataFrame({
        "stratum": stratum, "psu": psu, "w": rng.uniform(0.5, 4.0, n),
        "a": rng.integers(1, 3, n), "b": rng.integers(1, 5, n), "g": rng.integers(0, 4, n),
        "cat": rng.choice(["x", "y", "z", "v"], n, p=[0.5, 0.3, 0.15, 0.05]),
        "x": rng.normal(10, 3, n), "grp": rng.integers(0, 7, n),
    }).assign(fpc=lambda d: 40.0)


MARGINS = {"a": {1: 0.45, 2: 0.55}, "b": {1: 0.2, 2: 0.3, 3: 0.3, 4: 0.2}}


# -- the row-level reference -----------------------------------------------------------------------
def _rake_rows(x: np.ndarray, w: np.ndarray, margins: list[np.ndarray], sweeps: int | None) -> np.ndarray:
    pos = w > 0
    r = np.where(pos[:, None], x / np.where(pos, w, 1.0)[:, None], 0.0)
    for _ in range(sweeps if sweeps is not None else 5000):
        change = 0.0
        for c in margins:
            for j in range(r.shape[1]):
                cnt = np.bincount(c[pos], minlength=c.max() + 1)
                m = np.bincount(c[pos], weights=r[pos, j], minlength=c.max() + 1) / np.where(cnt > 0, cnt, 1)
                r[pos, j] -= m[c[pos]]
                change = max(change, np.abs(m).max())
        if sweeps is None and change < 1e-15:
            break
    return r * w[:, None]


def _post_rows(x: np.ndarray, cells: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    psw = np.where((new == 0) & (old == 0), 1.0, new)
    r = x / psw[:, None] * old[:, None]
    denom = np.bincount(cells, weights=old)
    out = x.copy()
    for j in range(x.shape[1]):
        m = np.bincount(cells, weights=r[:, j]) / denom
        out[:, j] -= m[cells] * psw
    return out


def _reference_var(svy: Survey, u: np.ndarray) -> np.ndarray:
    """Variances of the totals of w u: residuals step by step, then the stratified formula."""
    x = svy._w[:, None] * u * (1.0 if svy._mask is None else svy._mask[:, None])
    for step in svy._cal:
        if hasattr(step, "margins"):
            x = _rake_rows(x, step.new, list(step.margins), step.sweeps)
        else:
            x = _post_rows(x, step.cells, step.old, step.new)
    z = np.stack([np.bincount(svy._psu, weights=x[:, j], minlength=svy._n_psu) for j in range(x.shape[1])], axis=1)
    out = np.zeros(x.shape[1])
    for h in range(len(svy._n_h)):
        zh = z[svy._psu_stratum == h]
        nh = len(zh)
        if nh == 1 and svy.lonely_psu in ("remove", "certainty"):
            continue
        centre = zh.mean(0) if nh > 1 else 0.0
        scale = svy._f_h[h] * (nh / (nh - 1) if nh > 1 else 1.0)
        out += scale * ((zh - centre) ** 2).sum(0)
    return out


def _reference_shares(svy: Survey, var: str, domain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = pd.factorize(svy.data[var], sort=True)
    y = np.eye(codes.max() + 1)[codes]
    wd = svy.weights * domain
    W = wd.sum()
    p = wd @ y / W
    u = (y - p) / W * domain[:, None]
    return p, np.sqrt(_reference_var(svy, u))


DESIGNS = {
    "strata_psu": lambda d: Survey(d, "w", "stratum", "psu"),
    "fpc_lonely_remove": lambda d: Survey(d, "w", "stratum", "psu", fpc="fpc", lonely_psu="remove"),
    "raked": lambda d: Survey(d, "w", "stratum", "psu").rake(MARGINS, tol=1e-12),
    "raked_exact": lambda d: Survey(d, "w", "stratum", "psu").rake(MARGINS, tol=1e-12, variance="exact"),
    "raked_then_trimmed": lambda d: Survey(d, "w", "stratum", "psu").rake(MARGINS, tol=1e-12).trim(upper=1.6, margins=MARGINS, tol=1e-12),
    "post_then_raked": lambda d: Survey(d, "w", "stratum", "psu").poststratify("g", {0: 0.3, 1: 0.2, 2: 0.25, 3: 0.25}).rake(MARGINS, tol=1e-12),
}


@pytest.fixture(scope="module", params=list(DESIGNS))
def design(request):
    return DESIGNS[request.param](_data())


def test_shares_match_the_row_level_reference(design):
    p = design.proportion("cat")
    ref_p, ref_se = _reference_shares(design, "cat", np.ones(len(design)))
    np.testing.assert_allclose([c.estimate for c in p.categories], ref_p, rtol=1e-10)
    np.testing.assert_allclose([c.se for c in p.categories], ref_se, rtol=1e-8)


def test_shares_by_group_match_the_row_level_reference(design):
    p = design.proportion("cat", by="grp")
    grp = design.data["grp"].to_numpy()
    for g, res in enumerate(p.groups):
        ref_p, ref_se = _reference_shares(design, "cat", (grp == g).astype(float))
        np.testing.assert_allclose([c.estimate for c in res.categories], ref_p, rtol=1e-10)
        np.testing.assert_allclose([c.se for c in res.categories], ref_se, rtol=1e-8)


def test_numeric_means_and_totals_by_group(design):
    x = design.data["x"].to_numpy()
    grp = design.data["grp"].to_numpy()
    m = design.mean("x", by="grp")
    t = design.total("x", by="grp")
    for g in range(7):
        d = (grp == g).astype(float)
        wd = design.weights * d
        mean = wd @ x / wd.sum()
        se_m = np.sqrt(_reference_var(design, ((x - mean) / wd.sum() * d)[:, None]))[0]
        se_t = np.sqrt(_reference_var(design, (x * d)[:, None]))[0]
        assert m.groups[g].estimate == pytest.approx(mean, rel=1e-12)
        assert m.groups[g].se == pytest.approx(se_m, rel=1e-8)
        assert t.groups[g].estimate == pytest.approx(wd @ x, rel=1e-12)
        assert t.groups[g].se == pytest.approx(se_t, rel=1e-8)


def test_cov_total_dense_matches_the_reference_and_a_domain_of_a_domain(design):
    d = design.data
    u = np.column_stack([d["x"], (d["cat"] == "x").astype(float), np.sin(np.arange(len(d)))])
    np.testing.assert_allclose(np.diag(design.cov_total(u)), _reference_var(design, u), rtol=1e-8)
    inner = design.domain(d["g"] < 3).domain(d["a"] == 1)
    mask = ((d["g"] < 3) & (d["a"] == 1)).to_numpy().astype(float)
    np.testing.assert_allclose(np.diag(inner.cov_total(u)), _reference_var(design, u * mask[:, None]), rtol=1e-8)
    p = inner.proportion("cat")
    ref_p, ref_se = _reference_shares(design, "cat", mask)
    np.testing.assert_allclose([c.se for c in p.categories], ref_se, rtol=1e-8)


def test_missing_answers_are_a_domain_in_the_fast_path():
    d = _data()
    d.loc[d.index % 7 == 0, "cat"] = None
    svy = DESIGNS["raked"](d)
    p = svy.proportion("cat", by="grp")
    answered = d["cat"].notna().to_numpy()
    for g, res in enumerate(p.groups):
        dom = (answered & (d["grp"].to_numpy() == g)).astype(float)
        codes, _ = pd.factorize(d["cat"], sort=True)
        y = np.zeros((len(d), 4))
        y[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1
        W = svy.weights @ dom
        pr = (svy.weights * dom) @ y / W
        se = np.sqrt(_reference_var(svy, (y - pr) / W * dom[:, None]))
        np.testing.assert_allclose([c.se for c in res.categories], se, rtol=1e-8)


def test_domain_df_counts_the_psus_holding_the_domain():
    """R's degf of a domain: PSUs − strata among the domain's respondents with a positive weight
    (zero-weight rows and unanswered rows hold no PSU)."""
    d = _data()
    d.loc[d.index % 5 == 0, "w"] = 0.0
    d.loc[d.index % 11 == 0, "x"] = np.nan
    d.loc[(d["grp"] == 6) & (d["stratum"] > 1), "grp"] = 5  # a group in few strata
    for svy in (Survey(d, "w", "stratum", "psu", df="design"), Survey(d, "w", "stratum", "psu", df="design").rake(MARGINS, tol=1e-12)):
        res = svy.mean("x", by="grp")
        for g in res.groups:
            rows = (d["grp"] == g.level) & (svy.weights > 0) & d["x"].notna()
            want = d.loc[rows, ["stratum", "psu"]].drop_duplicates().shape[0] - d.loc[rows, "stratum"].nunique()
            assert g.df == want


def test_mean_each_by_is_the_overall_mean_with_every_subgroup():
    d = _data()
    d.loc[d.index % 9 == 0, "x"] = np.nan
    svy = DESIGNS["raked"](d)
    got = svy._mean_each_by("x", ["grp", "g"], levels={})
    want = svy.mean("x")
    assert got.estimate == want.estimate and got.se == want.se and got.ci == want.ci
    groups = svy.mean("x", by="grp").groups + svy.mean("x", by="g").groups
    assert [(r.by, r.level, r.estimate, r.se, r.ci) for r in got.groups] == [(r.by, r.level, r.estimate, r.se, r.ci) for r in groups]


def test_rake_on_categoricals_equals_rake_on_codes():
    from sottovoce.errors import InputError
    from sottovoce.weighting import rake

    d = _data()[["a", "b"]]
    cats = d.astype("category")
    np.testing.assert_array_equal(rake(cats, MARGINS).to_numpy(), rake(d, MARGINS).to_numpy())
    text = d.astype(str).astype("category")
    text_margins = {c: {str(k): v for k, v in m.items()} for c, m in MARGINS.items()}
    np.testing.assert_allclose(rake(text, text_margins).to_numpy(), rake(d, MARGINS).to_numpy(), rtol=1e-14)
    # an unused category with a target, and a name that is no category: the messages of the code path
    unused = cats.assign(b=cats["b"].cat.add_categories([5]))
    with pytest.raises(InputError, match="category '5' of column 'b' is not in the data; the data have: 1, 2, 3, 4"):
        rake(unused, {"a": MARGINS["a"], "b": {**MARGINS["b"], 5: 0.0}})
    with pytest.raises(InputError, match="category '7' of column 'b' is not in the data"):
        rake(cats, {"a": MARGINS["a"], "b": {1: 0.5, 7: 0.5}})
