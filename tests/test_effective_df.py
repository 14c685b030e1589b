"""Effective degrees of freedom (issue 17): Satterthwaite's df over strata, chosen in
``intervals.design_df`` for every estimate whose variance rests on a few strata.

Checked three ways: the df against the formula written out from a row-level computation of each
stratum's variance; ``df="design"`` against R's rule (PSUs − strata; the R-reference tests run
under it); and Monte Carlo coverage on a clustered design like issue 17's audit — 45 PSUs in 4
strata, two heavily weighted strata with 8 and 10 PSUs, weights varying about 40-fold, ICC ≈ 0.05,
raked to sex × age — for shares, a small domain's share, randomized response, crosswise, the
direct − RR gap and a list experiment's difference in means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.errors import InputError
from sottovoce.intervals import design_df, satterthwaite_df
from sottovoce.survey import Survey

# population PSUs per stratum, sampled PSUs per stratum: the first two strata are heavy and thin
N_PSU, N_SAMPLED, PSU_SIZE, TAKE = (400, 300, 90, 90), (8, 10, 13, 14), 250, 40


def _population(seed: int = 17) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_psu = sum(N_PSU)
    stratum = np.repeat(np.arange(4), N_PSU)
    n = n_psu * PSU_SIZE
    psu = np.repeat(np.arange(n_psu), PSU_SIZE)
    sex = rng.integers(1, 3, n)
    age = rng.choice([1, 2, 3], n, p=[0.3, 0.4, 0.3])
    # ICC ≈ 0.05 on the latent scale: var(u) = 0.05/0.95 · π²/3
    effect = rng.normal(0, np.sqrt(0.05 / 0.95 * np.pi**2 / 3), n_psu)[psu]
    z = rng.random(n) < 1 / (1 + np.exp(-(-0.6 + effect + 0.3 * (age - 2) + 0.4 * (stratum[psu] < 2))))
    # a domain of about 5% that lives in half of the PSUs
    dom_psu = rng.random(n_psu) < 0.5
    domain = dom_psu[psu] & (rng.random(n) < 0.1)
    return pd.DataFrame({"stratum": stratum[psu], "psu": psu, "sex": sex, "age": age, "z": z.astype(int),
                         "domain": domain.astype(int)})


POP = _population()
# raked to the population's own margins
MARGINS = {c: POP[c].value_counts(normalize=True).sort_index().to_dict() for c in ("sex", "age")}


def _sample(rng: np.random.Generator) -> pd.DataFrame:
    """PSUs by simple random sampling in each stratum, TAKE people in each, response depending
    on sex and age (so the weights vary about 40-fold and raking matters)."""
    parts = []
    first = np.concatenate([[0], np.cumsum(N_PSU)[:-1]])
    for h in range(4):
        chosen = first[h] + rng.choice(N_PSU[h], N_SAMPLED[h], replace=False)
        for j in chosen:
            rows = j * PSU_SIZE + rng.choice(PSU_SIZE, TAKE, replace=False)
            parts.append(rows)
    idx = np.concatenate(parts)
    s = POP.iloc[idx].reset_index(drop=True)
    resp = 0.2 + 0.2 * (s["sex"] == 2) + 0.2 * (s["age"] - 1)
    keep = rng.random(len(s)) < resp
    s = s[keep.to_numpy()].reset_index(drop=True)
    base = np.array(N_PSU)[s["stratum"]] / np.array(N_SAMPLED)[s["stratum"]] * PSU_SIZE / TAKE
    s["w"] = base / resp[keep.to_numpy()].to_numpy()
    n = len(s)
    z = s["z"].to_numpy()
    # forced randomized response (p = 0.7, forced yes 0.15), crosswise (q = 0.25), direct answers
    # that hide 40% of the yeses, a list experiment with 4 control items
    u = rng.random(n)
    s["rr"] = np.where(u < 0.7, z, np.where(u < 0.85, 1, 0))
    other = rng.random(n) < 0.25
    s["cw"] = (z == other).astype(int)
    s["direct"] = (z * (rng.random(n) > 0.4)).astype(int)
    treat = rng.random(n) < 0.5
    control = sum((rng.random(n) < p).astype(int) for p in (0.2, 0.45, 0.6, 0.75))
    s["count"] = control + treat * z
    s["treat"] = treat.astype(int)
    s["in_domain"] = s["domain"]
    return s


# -- the df itself --------------------------------------------------------------------------------
def test_satterthwaite_df_is_the_formula_on_each_strata_contribution():
    rng = np.random.default_rng(3)
    s = _sample(rng)
    svy = Survey(s, "w", "stratum", "psu")
    y = s["z"].to_numpy(float)
    w = s["w"].to_numpy()
    p = w @ y / w.sum()
    u = (y - p) / w.sum()
    z = pd.Series(w * u).groupby([s["stratum"], s["psu"]]).sum()
    v_h, n_h = [], []
    for _, zh in z.groupby(level=0):
        v_h.append(len(zh) / (len(zh) - 1) * ((zh - zh.mean()) ** 2).sum())
        n_h.append(len(zh))
    v_h, n_h = np.array(v_h), np.array(n_h)
    want = v_h.sum() ** 2 / (v_h**2 / (n_h - 1)).sum()
    assert satterthwaite_df(svy.variance_by_stratum(u))[0] == pytest.approx(want, rel=1e-10)
    res = svy.mean("z")
    assert res.df == pytest.approx(min(want, 41), rel=1e-10)
    assert res.df < 41 and res.df_name.startswith("effective")
    assert design_df(svy, u).value == pytest.approx(res.df, rel=1e-10)
    # the R-compatible rule: PSUs − strata, whatever the variance
    assert Survey(s, "w", "stratum", "psu", df="design").mean("z").df == 41
    assert svy.mean("z", df="design").df == 41 and svy.with_df("design").mean("z").df_name == "design: PSUs − strata"


def test_effective_df_is_never_more_than_the_design_df_and_bad_rules_are_refused():
    rng = np.random.default_rng(5)
    s = _sample(rng)
    svy = Survey(s, "w", "stratum", "psu")
    for r in (svy.mean("z", by="sex"), svy.proportion("age"), sv.rr_prevalence(svy, "rr", "forced", p=0.7, p1=0.15, p0=0.15)):
        for c in (r, *r.groups, *r.categories):
            if c.df is not None:
                assert 1 <= c.df <= 41
    with pytest.raises(InputError, match="degrees-of-freedom rule"):
        Survey(s, "w", "stratum", "psu", df="kish")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="degrees-of-freedom rule"):
        svy.mean("z", df="kish")
    # without PSUs or strata, the df stay respondents − 1
    assert Survey(s, "w").mean("z").df == len(s) - 1


# -- Monte Carlo coverage -------------------------------------------------------------------------
def _truths() -> dict[str, float]:
    z = POP["z"]
    dom = float(z[POP["domain"] == 1].mean())
    return {"share": float(z.mean()), "domain": dom, "domain_kg": dom, "rr": float(z.mean()),
            "cw": float(z.mean()), "list": float(z.mean())}


def _estimates(s: pd.DataFrame) -> dict[str, tuple[float, float] | None]:
    svy = Survey(s, "w", "stratum", "psu").rake(MARGINS)
    out = {
        "share": svy.mean("z").ci,
        "domain": svy.mean("z", by="in_domain").groups[1].ci,
        "domain_kg": svy.mean("z", by="in_domain", ci="beta").groups[1].ci,
        "rr": sv.rr_prevalence(svy, "rr", "forced", p=0.7, p1=0.15, p0=0.15).ci,
        "cw": sv.rr_prevalence(svy, "cw", "crosswise", q=0.25).ci,
        "list": sv.list_experiment(svy, "count", "treat", items=4).ci,
    }
    gap = sv.rr_gap(svy, "rr", "direct", "forced", p=0.7, p1=0.15, p0=0.15)
    out["gap"] = gap.ci
    return out


@pytest.mark.slow
def test_intervals_cover_on_a_design_with_few_psus_carrying_the_variance():
    """Issue 17's audit found 0.91–0.94 with t on PSUs − strata (or 1.96); on the Satterthwaite
    df the intervals must cover 94–96% (here within Monte Carlo error: 600 samples, ±1.8%).

    The 5% domain's variance is itself too small (its share sits in about 17 PSUs): Wilson's
    interval on the domain's effective df still covers only about 0.92–0.93 (1,000 samples);
    Korn–Graubard's (``ci="beta"``) covers 0.944. The default for domains is not changed yet,
    so the Wilson domain interval is only held to ≥ 0.90 here."""
    import warnings

    truth = _truths()
    truth["gap"] = truth["rr"] - float((POP["z"] * 0.6).mean())  # direct answers hide 40% of the yeses
    rng = np.random.default_rng(2026)
    reps = 600
    hits = {k: 0 for k in ("share", "domain", "domain_kg", "rr", "cw", "list", "gap")}
    edge = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            got = _estimates(_sample(rng))
            for k, ci in got.items():
                if ci is not None and ci[0] <= truth[k] <= ci[1]:
                    hits[k] += 1
            share_ci = got["share"]
            edge += share_ci is None or share_ci[0] <= 0.0 or share_ci[1] >= 1.0
    cover = {k: v / reps for k, v in hits.items()}
    assert all(0.93 <= c <= 0.975 for k, c in cover.items() if k != "domain"), cover
    assert cover["domain"] >= 0.90, cover
    assert edge / reps <= 0.005
