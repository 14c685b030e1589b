"""Monte Carlo checks of the poll-pooling model: band coverage and level-shift test size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sottovoce.dynamics import fit_trend

DAY0 = pd.Timestamp("2022-01-01")


def _series(rng, n_days=60, n_polls=30, sigma=0.005, houses=(0.03, -0.01, -0.02)):
    alpha = 0.5 + np.cumsum(np.r_[0.0, rng.normal(0, sigma, n_days - 1)])
    h = np.arange(n_polls) % len(houses)
    t = np.sort(rng.integers(0, n_days, n_polls))
    t[0], t[-1] = 0, n_days - 1  # the grid spans the planted series
    n = rng.integers(600, 1500, n_polls)
    p = alpha[t] + np.asarray(houses)[h]
    y = rng.normal(p, np.sqrt(p * (1 - p) / n))
    start = DAY0 + pd.to_timedelta(t, unit="D")
    df = pd.DataFrame({"pollster": np.array(["A", "B", "C"])[h], "start": start, "end": start, "n": n, "yes": 100 * y})
    return df, alpha


@pytest.mark.slow
def test_trend_bands_cover_the_planted_trend():
    """95% bands (sigma by ML, house effects sum to zero as planted) cover 93-97% of days."""
    rng = np.random.default_rng(2026)
    hits, days, house_hits = 0, 0, 0
    for _ in range(500):
        df, alpha = _series(rng)
        res = fit_trend(df)
        a = alpha[: len(res.trend)]
        hits += int(((res.trend["low"] <= a) & (a <= res.trend["high"])).sum())
        days += len(a)
        h = res.houses.set_index("house")
        house_hits += sum(h.loc[k, "low"] <= v <= h.loc[k, "high"] for k, v in zip("ABC", (0.03, -0.01, -0.02), strict=True))
    coverage = hits / days
    print(f"trend band coverage {coverage:.4f} over {days} series-days; house CI coverage {house_hits / 1500:.4f}")
    assert 0.93 <= coverage <= 0.97
    assert 0.92 <= house_hits / 1500 <= 0.975


@pytest.mark.slow
def test_level_shift_test_holds_its_size():
    """Without a planted shift the Wald test rejects at about its nominal 5%."""
    rng = np.random.default_rng(7)
    rejections = 0
    reps = 300
    for _ in range(reps):
        df, _ = _series(rng)
        res = fit_trend(df, events=["2022-01-31=Midpoint"])
        rejections += res.tests[0]["p_value"] < 0.05
    rate = rejections / reps
    print(f"level-shift test size {rate:.3f}")
    assert 0.02 <= rate <= 0.09


@pytest.mark.slow
def test_bands_near_zero_stay_inside_and_cover():
    """A trend planted at 3-6% from small polls: the logit-transformed band (dynamics/bands.py)
    never leaves [0, 1] and covers about 95% of days, better than m ± z·se cut at 0, which the
    skewed sampling error of a small share makes undercover."""
    from scipy import stats

    rng = np.random.default_rng(44)
    hits = cut_hits = days = 0
    z = stats.norm.ppf(0.975)
    for _ in range(200):
        n_days = 60
        alpha = np.clip(0.045 + np.cumsum(np.r_[0.0, rng.normal(0, 0.002, n_days - 1)]), 0.005, 0.995)
        h = np.arange(20) % 3
        t = np.sort(rng.integers(0, n_days, 20))
        t[0], t[-1] = 0, n_days - 1
        n = rng.integers(200, 600, 20)
        p = np.clip(alpha[t] + np.array([0.01, -0.005, -0.005])[h], 0.001, 0.999)
        start = DAY0 + pd.to_timedelta(t, unit="D")
        df = pd.DataFrame({"pollster": np.array(["A", "B", "C"])[h], "start": start, "end": start, "n": n,
                           "yes": 100 * rng.binomial(n, p) / n})
        tr = fit_trend(df).trend
        assert ((tr["low"] >= 0) & (tr["high"] <= 1) & (tr["low"] <= tr["share"]) & (tr["share"] <= tr["high"])).all()
        a = alpha[: len(tr)]
        hits += int(((tr["low"] <= a) & (a <= tr["high"])).sum())
        lo_cut = np.clip(tr["share"] - z * tr["se"], 0, 1)
        hi_cut = np.clip(tr["share"] + z * tr["se"], 0, 1)
        cut_hits += int(((lo_cut <= a) & (a <= hi_cut)).sum())
        days += len(a)
    coverage, cut = hits / days, cut_hits / days
    print(f"near-zero trend: logit band coverage {coverage:.4f}, cut normal band {cut:.4f} over {days} series-days")
    assert 0.93 <= coverage <= 0.975
    assert coverage > cut
