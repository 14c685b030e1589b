"""Monte Carlo checks of issue 17's list-model criteria (slow).

The issue's scenario: four control items of prevalence .2/.45/.6/.75 (their count is a sum of
unequal Bernoullis, under-dispersed relative to the binomial the ML model assumes), a sensitive
item of 35%, half the respondents treated, simple random sampling — against the same design with
four items of 40% each, where the binomial model holds.

* the control-count test flags the unequal case in ≥ 95% of samples of 2,000 and stays quiet
  (≤ 6%) when the binomial model holds;
* the pipeline's list estimate for ``method = "ml"`` (:func:`fit_list_model` with
  ``list_model="auto"`` on a :class:`~sottovoce.Survey`, as ``analyze`` calls it) is unbiased and
  covers 94–96% in both cases, where the ML estimate alone is 5 points low in the unequal case;
* the beta-binomial interval covers when its model holds; the respondent-types model is unbiased
  where its constraints do not bind and more efficient (at some bias) where true type shares are 0.

The suite runs ``SV_LIST_MC_REPS`` samples per case (default 500, each test well under a minute)
and checks coverage within 3 Monte Carlo SEs of 95% (± 2.9 points at 500 samples), which still
fails the ML model's coverage in the unequal case (≈ 0.85). The acceptance run behind the README's
numbers used 4,000 samples, where the band is the issue's 94–96%::

    SV_LIST_MC_REPS=4000 pytest -m slow -s tests/test_listexp_model_coverage.py
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import sottovoce as sv
from sottovoce.listexp import fit_list_model
from sottovoce.listexp.types import fit_types

pytestmark = pytest.mark.slow
REPS = int(os.environ.get("SV_LIST_MC_REPS", "500"))
TRUE = 0.35
N = 2000
UNEQUAL = (0.2, 0.45, 0.6, 0.75)
EQUAL = (0.4,) * 4


def _band(reps: int, level: float = 0.95) -> tuple[float, float]:
    """The coverage band checked: the issue's 94–96%, widened to 3 Monte Carlo SEs for small runs."""
    half = max(0.01, 3 * np.sqrt(level * (1 - level) / reps))
    return level - half, level + half


def _samples(probs, reps, seed, n=N):
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        z = rng.random(n) < TRUE
        c = sum(rng.random(n) < p for p in probs)
        t = rng.permutation(n) < n // 2
        yield pd.DataFrame({"count": c + t * z, "treat": t.astype(int)})


def _pipeline_default(probs, seed, reps=REPS, n=N):
    """Per sample: the binomial model's test p, the default estimate and whether its interval
    covers, which model was reported, and the ML estimate (reported or rejected)."""
    p, est, ml = np.empty(reps), np.empty(reps), np.empty(reps)
    cov, ml_cov = np.empty(reps, dtype=bool), np.empty(reps, dtype=bool)
    chosen: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, df in enumerate(_samples(probs, reps, seed, n)):
            r = fit_list_model(sv.Survey(df), "count", "treat", len(probs), method="ml")
            model = r.details["list_model"]
            tests = r.hypothesis_tests
            p[i] = (tests["control_fit"] if model == "binomial" else tests["control_fit[binomial]"])["p_value"]
            est[i], cov[i] = r.estimate, r.ci[0] <= TRUE <= r.ci[1]
            ml[i] = r.estimate if model == "binomial" else r.details["rejected_estimate"]
            ml_ci = r.ci if model == "binomial" else r.details["rejected_ci"]
            ml_cov[i] = ml_ci[0] <= TRUE <= ml_ci[1]
            chosen[model] = chosen.get(model, 0) + 1
    out = {"flagged": float(np.mean(p < 0.05)), "coverage": float(cov.mean()), "bias": float(est.mean() - TRUE),
           "bias_mc_se": float(est.std() / np.sqrt(reps)), "ml_bias": float(ml.mean() - TRUE), "ml_coverage": float(ml_cov.mean()), "chosen": chosen}
    print(f"\n{probs} n={n} reps={reps}: {out}")
    return out, est


def test_binomial_model_holds_test_quiet_and_default_covers():
    out, _ = _pipeline_default(EQUAL, seed=101)
    assert out["flagged"] <= 0.06, out
    lo, hi = _band(REPS)
    assert lo <= out["coverage"] <= hi, out
    assert abs(out["bias"]) <= 3 * out["bias_mc_se"], out
    assert out["chosen"].get("binomial", 0) >= 0.9 * REPS


def test_unequal_prevalences_flagged_default_unbiased_and_covers():
    out, _ = _pipeline_default(UNEQUAL, seed=202)
    assert out["flagged"] >= 0.95, out
    lo, hi = _band(REPS)
    assert lo <= out["coverage"] <= hi, out
    assert abs(out["bias"]) <= 3 * out["bias_mc_se"], out
    # what the default replaced: the ML estimate is 5 points low and its interval under-covers
    assert out["ml_bias"] < -0.03 and out["ml_coverage"] < 0.9, out
    assert out["chosen"].get("dim", 0) >= 0.95 * REPS


def test_issue_reproduction_at_n_20000():
    # the issue's own sample size: ML's bias (−0.052) is three of its SEs; the default is unbiased
    reps = max(REPS // 5, 60)
    out, _ = _pipeline_default(UNEQUAL, seed=303, reps=reps, n=20000)
    assert out["flagged"] == 1.0 and out["chosen"] == {"dim": reps}, out
    assert abs(out["bias"]) <= 3 * out["bias_mc_se"], out
    assert out["ml_bias"] == pytest.approx(-0.052, abs=0.006) and out["ml_coverage"] < 0.5, out
    lo, hi = _band(reps)
    assert lo <= out["coverage"] <= hi, out


def test_beta_binomial_interval_covers_when_its_model_holds():
    rng = np.random.default_rng(404)
    reps = max(REPS // 2, 200)
    rho, mu, n = 0.2, 0.45, 2000
    phi = rho / (1 - rho)
    hits, est = 0, np.empty(reps)
    for i in range(reps):
        c = rng.binomial(4, rng.beta(mu / phi, (1 - mu) / phi, n))
        t = rng.permutation(n) < n // 2
        df = pd.DataFrame({"count": c + t * (rng.random(n) < TRUE), "treat": t.astype(int)})
        r = sv.list_experiment(df, "count", "treat", 4, method="ml", overdispersed=True)
        est[i] = r.estimate
        hits += r.ci[0] <= TRUE <= r.ci[1]
    lo, hi = _band(reps)
    print(f"\nbeta-binomial, rho = {rho}: coverage {hits / reps:.3f}, bias {est.mean() - TRUE:.4f} ({reps} samples)")
    assert lo <= hits / reps <= hi, hits / reps
    assert abs(est.mean() - TRUE) <= 3 * est.std() / np.sqrt(reps)


def _types_vs_dim(gen, reps, seed, n):
    rng = np.random.default_rng(seed)
    est, dim, hits = np.empty(reps), np.empty(reps), 0
    truth = TRUE
    for s in range(reps):
        y, t, truth = gen(rng, n)
        f = fit_types(y, t, ~t, np.ones(n), 4)
        est[s], dim[s] = f.prevalence, y[t].mean() - y[~t].mean()
        hits += abs(f.prevalence - truth) <= 1.96 * f.se
    return est, dim, truth, hits / reps


def _unequal(rng, n):
    z = rng.random(n) < TRUE
    c = sum(rng.random(n) < p for p in UNEQUAL)
    t = rng.permutation(n) < n // 2
    return (c + t * z).astype(float), t, TRUE


def _boundary(rng, n):
    # the sensitive item only among respondents with ≥ 2 control items: types (0, 1), (1, 1) are 0
    c = sum(rng.random(n) < p for p in UNEQUAL)
    z = (rng.random(n) < 0.5) & (c >= 2)
    t = rng.permutation(n) < n // 2
    p_c = np.ones(1)
    for p in UNEQUAL:  # law of the control count (Poisson-binomial)
        p_c = np.convolve(p_c, [1 - p, p])
    return (c + t * z).astype(float), t, 0.5 * p_c[2:].sum()


def test_types_model_unbiased_and_as_efficient_as_dim_where_constraints_do_not_bind():
    reps = max(REPS, 1000)  # cheap: no data frames
    est, dim, truth, cov = _types_vs_dim(_unequal, reps, 505, N)
    print(f"\ntypes, unequal: bias {est.mean() - truth:.4f}, var/var(DiM) {est.var() / dim.var():.3f}, coverage {cov:.3f}")
    assert abs(est.mean() - truth) <= 3 * est.std() / np.sqrt(reps)
    # the MLE is the difference in means unless a sample's moment solution turns negative
    assert 0.95 <= est.var() / dim.var() <= 1.0
    lo, hi = _band(reps)
    assert lo <= cov <= hi, cov


def test_types_model_gains_precision_where_true_types_are_zero():
    est, dim, truth, cov = _types_vs_dim(_boundary, max(REPS, 500), 606, N)
    print(f"\ntypes, zero types: bias {est.mean() - truth:.4f} (DiM {dim.mean() - truth:.4f}), var/var(DiM) "
          f"{est.var() / dim.var():.3f}, MSE/MSE(DiM) {np.mean((est - truth) ** 2) / np.mean((dim - truth) ** 2):.3f}, coverage {cov:.3f}")
    assert est.var() < 0.7 * dim.var()  # a real gain
    assert np.mean((est - truth) ** 2) < np.mean((dim - truth) ** 2)  # also in MSE, despite its bias
    assert est.mean() - truth > 0  # pulled away from the zero types: the price (README)
