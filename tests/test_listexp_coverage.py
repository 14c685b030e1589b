"""Monte Carlo checks of the list-experiment intervals and of the design-effect test's size (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv

pytestmark = pytest.mark.slow
TRUE = 0.3


def _samples(n_samples: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, (n_samples, n))
    y = rng.binomial(3, 0.45, (n_samples, n)) + t * (rng.random((n_samples, n)) < TRUE)
    return y, t


def test_dim_interval_coverage():
    # the public estimator end to end, 3,000 samples of 600 respondents
    y, t = _samples(3000, 600, 2024)
    hits = 0
    for s in range(len(y)):
        res = sv.list_experiment(pd.DataFrame({"y": y[s], "t": t[s]}), "y", "t", 3)
        hits += res.ci[0] <= TRUE <= res.ci[1]
    assert 0.94 <= hits / len(y) <= 0.96, hits / len(y)


def test_ml_interval_coverage():
    # the ML fit on each sample's (count, arm) cells, as list_experiment does, warm-started at
    # the previous sample's estimate; prevalence CI = delta method, as list_experiment reports it
    from sottovoce.listexp.ml import MLModel, fit_ml

    n_samples = 3000
    y, t = _samples(n_samples, 5000, 12)
    hits, theta = 0, None
    codes = y * 2 + t  # one code per (count, arm) cell
    counts = np.stack([np.bincount(c, minlength=10) for c in codes])
    cy, ct = np.arange(10) // 2, np.arange(10) % 2
    for s in range(n_samples):
        keep = counts[s] > 0
        model = MLModel(y=cy[keep].astype(float), t=ct[keep], X=np.ones((keep.sum(), 1)), terms=["(Intercept)"], J=3, wt=counts[s, keep].astype(float))
        fit = fit_ml(model, theta0=theta)
        theta = fit.theta
        p = 1 / (1 + np.exp(-theta[0]))
        se = p * (1 - p) * np.sqrt(fit.vcov[0, 0])
        hits += abs(p - TRUE) <= 1.959964 * se
    assert 0.94 <= hits / n_samples <= 0.96, hits / n_samples


def test_ml_cells_equal_list_experiment():
    y, t = _samples(1, 2000, 11)
    res = sv.list_experiment(pd.DataFrame({"y": y[0], "t": t[0]}), "y", "t", 3, method="ml")
    from sottovoce.listexp.ml import MLModel, fit_ml

    cells, inv = np.unique(np.c_[y[0], t[0]], axis=0, return_inverse=True)
    model = MLModel(y=cells[:, 0].astype(float), t=cells[:, 1], X=np.ones((len(cells), 1)), terms=["(Intercept)"], J=3,
                    wt=np.bincount(inv.ravel()).astype(float))
    p = 1 / (1 + np.exp(-fit_ml(model).theta[0]))
    assert res.estimate == pytest.approx(p, abs=1e-8)


def test_design_test_size_on_clean_designs():
    # no design effect: the Bonferroni test must reject at most at its nominal 5% rate
    y, t = _samples(400, 1000, 99)
    rejections = sum(sv.list_design_test(pd.DataFrame({"y": y[s], "t": t[s]}), "y", "t", 3).details["design_effect"] for s in range(400))
    assert rejections / 400 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 400)
