"""Benchmark: pooling 1,000 polls over 5 years on a daily grid (sottovoce.dynamics).

Target (issue 8): the whole job — ML fit of sigma, smoothing with sigma-uncertainty bands, and the
chart — under 10× one pass of the Kalman filter over the same grid. The baseline pass is the
textbook filter with the house effects as constant states (``augmented_state_filter``), one
predict step per day and one update per poll. Run: ``.venv/bin/python bench/bench_dynamics.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = 10.0


def make_polls(seed: int = 1, n_polls: int = 1000, years: int = 5, n_houses: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_days = 365 * years + 1
    alpha = 0.6 + np.cumsum(np.r_[0.0, rng.normal(0, 0.002, n_days - 1)])
    alpha = np.clip(alpha, 0.1, 0.9)
    house_fx = rng.normal(0, 0.03, n_houses)
    h = rng.integers(0, n_houses, n_polls)
    t = rng.integers(0, n_days - 4, n_polls)
    n = rng.integers(800, 2000, n_polls)
    p = alpha[t + 2] + house_fx[h]
    y = rng.normal(p, np.sqrt(p * (1 - p) / n))
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(t, unit="D")
    return pd.DataFrame({"pollster": [f"P{k}" for k in h], "start": start, "end": start + pd.Timedelta(days=4),
                         "n": n, "yes": 100 * y})


def _best(f, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def run() -> list[dict]:
    from sottovoce.dynamics import fit_trend, plot_trend
    from sottovoce.dynamics.kalman import augmented_state_filter

    polls = make_polls()
    res = fit_trend(polls)
    p = res.polls
    houses = list(res.houses["house"])
    t = (p["date"] - p["date"].min()).dt.days.to_numpy()
    x = np.column_stack([(p["house"] == h).to_numpy(float) for h in houses[1:]])
    n_days = len(res.trend)
    s2 = res.details["sigma"] ** 2
    baseline = _best(lambda: augmented_state_filter(t, p["y"].to_numpy(), p["se"].to_numpy() ** 2, x, n_days, s2))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trend.png"
        fit = _best(lambda: fit_trend(polls))
        full = _best(lambda: plot_trend(fit_trend(polls), out))
    rows = [
        {"name": "dynamics: one textbook Kalman filter pass (1,000 polls, 1,826 days)", "seconds": baseline,
         "ratio": 1.0, "target": None, "ok": True},
        {"name": "dynamics: fit (ML sigma) + smoothing with sigma-uncertainty bands", "seconds": fit,
         "ratio": fit / baseline, "target": None, "ok": True},
        {"name": "dynamics: fit + smoothing + PNG chart vs one filter pass", "seconds": full,
         "ratio": full / baseline, "target": TARGET, "ok": full / baseline < TARGET},
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<72} {row['seconds']:8.3f} s  ratio {row['ratio']:6.2f}  "
              f"target {row['target'] if row['target'] else '-'}  {'ok' if row['ok'] else 'SLOW'}")
