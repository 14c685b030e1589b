"""Benchmark: list-experiment ML (EM) regression (sottovoce.listexp).

Target (issue 3): ML with 5 covariates, J = 4, 100,000 respondents, converged to 1e-8 in the
log-likelihood, in at most 20× the time of one statsmodels ``Logit`` fit on the same design
matrix; and a 1,000,000-respondent fit that fits in memory (peak traced memory reported).
Run: ``.venv/bin/python bench/bench_listexp.py``.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd

TARGET = 20.0


def make(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 3] = rng.integers(0, 2, n)
    X[:, 4] = rng.integers(0, 4, n)
    eta_g = -0.8 + X @ np.array([0.5, -0.3, 0.2, 0.4, -0.1])
    eta_h = 0.1 + X @ np.array([-0.2, 0.3, 0.1, -0.3, 0.05])
    z = rng.random(n) < 1 / (1 + np.exp(-eta_g))
    ys = rng.binomial(4, 1 / (1 + np.exp(-eta_h)))
    t = rng.integers(0, 2, n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, 6)])
    df["y"], df["t"] = ys + t * z, t
    return df


def _best(f, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> list[dict]:
    import statsmodels.api as sm

    import sottovoce as sv

    covs = "x1 + x2 + x3 + x4 + x5"
    df = make(100_000)
    X = np.c_[np.ones(len(df)), df[[f"x{i}" for i in range(1, 6)]].to_numpy()]
    yb = (df["y"].to_numpy() >= 3).astype(float)
    t_logit = _best(lambda: sm.Logit(yb, X).fit(disp=0, tol=1e-8), repeat=3)
    t_ml = _best(lambda: sv.list_experiment(df, "y", "t", 4, method="ml", covariates=covs, tol=1e-8), repeat=2)
    ratio = t_ml / t_logit
    rows = [
        {"name": "statsmodels Logit, 100k × 6 (baseline)", "seconds": t_logit, "ratio": 1.0, "target": None, "ok": None},
        {"name": "ML (EM) list regression, 5 covariates, J=4, 100k", "seconds": t_ml, "ratio": ratio, "target": f"<= {TARGET:g}x logit", "ok": ratio <= TARGET},
    ]
    big = make(1_000_000, seed=2)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = sv.list_experiment(big, "y", "t", 4, method="ml", covariates=covs, tol=1e-8)
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    data_bytes = big.memory_usage(deep=True).sum()
    rows.append({"name": f"ML list regression, 1M respondents (peak {peak / 2**20:.0f} MiB, {peak / data_bytes:.1f}× the data)",
                 "seconds": secs, "ratio": peak / data_bytes, "target": "fits in memory", "ok": bool(np.isfinite(res.se))})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
