"""Monte Carlo: raking removes nonresponse bias and supports intervals that cover (slow).

Respondents answer with a propensity that is a product of a sex effect and an age effect (the
model under which raking on the two margins is consistent: Deville & Särndal 1992; Kott 2006). The
raked mean of a binary answer should be unbiased for the population share, and the 95% interval
with the calibration (regression-residual) linearization variance should cover it 94–96% of the
time. The variance formula is written out here, independently of ``sottovoce.survey``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sottovoce.weighting import rake

SEX = np.array([0, 0, 0, 1, 1, 1])
AGE = np.array([0, 1, 2, 0, 1, 2])
POP = np.array([0.10, 0.15, 0.21, 0.11, 0.17, 0.26])  # population share of each sex × age cell
PROPENSITY = np.array([1.0, 0.6])[SEX] * np.array([0.4, 0.8, 1.2])[AGE]  # multiplicative
P_YES = np.array([0.30, 0.45, 0.70, 0.20, 0.40, 0.65])  # answer depends on both, with interaction
TRUTH = float(POP @ P_YES)
MARGINS = {
    "sex": {0: float(POP[SEX == 0].sum()), 1: float(POP[SEX == 1].sum())},
    "age": {a: float(POP[AGE == a].sum()) for a in range(3)},
}


def _one(rng: np.random.Generator, n: int) -> tuple[float, float, float]:
    draw = POP * PROPENSITY
    cell = rng.choice(6, size=n, p=draw / draw.sum())
    y = (rng.random(n) < P_YES[cell]).astype(float)
    df = pd.DataFrame({"sex": SEX[cell], "age": AGE[cell]})
    w = rake(df, MARGINS, tol=1e-10).to_numpy()
    est = float(w @ y / w.sum())
    # Linearization of the raked ratio mean: residuals of u on the margin indicators (calibration).
    u = (y - est) / w.sum()
    x = np.column_stack([np.ones(n), df["sex"] == 1, df["age"] == 1, df["age"] == 2]).astype(float)
    beta = np.linalg.lstsq(x * np.sqrt(w)[:, None], u * np.sqrt(w), rcond=None)[0]
    e = u - x @ beta
    z = w * e
    se = float(np.sqrt(n / (n - 1) * np.sum((z - z.mean()) ** 2)))
    return est, se, float(y.mean())


@pytest.mark.slow
def test_raking_is_unbiased_and_its_intervals_cover():
    rng = np.random.default_rng(20260228)
    reps, n = 2000, 800
    out = np.array([_one(rng, n) for _ in range(reps)])
    est, se, naive = out.T
    mc_se = est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.mean() - TRUTH) < 3 * mc_se  # raked: unbiased
    assert abs(naive.mean() - TRUTH) > 10 * mc_se  # unweighted: clearly biased by nonresponse
    assert se.mean() == pytest.approx(est.std(ddof=1), rel=0.05)  # SE matches the spread
    covered = np.abs(est - TRUTH) <= 1.959964 * se
    assert 0.94 <= covered.mean() <= 0.96, covered.mean()
