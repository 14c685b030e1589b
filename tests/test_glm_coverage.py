"""Monte Carlo coverage of design-based GLM intervals: stratified cluster sample, raked weights.

A finite population of 12,800 people in 8 strata × 80 clusters (cluster effects in the outcome
and a covariate) is sampled again and again: 4–8 clusters per stratum without replacement (fpc),
everyone in a sampled cluster. The weights are raked to the population's sex and age counts,
and a logistic ``Survey.glm`` is fitted. Its 95% intervals (t on design df + 1 − 9) must cover
the census coefficients (the unweighted fit on the whole population, which is what ``svyglm``
estimates) 94–96% of the time over 500 samples × 9 coefficients. A variance that ignores the
clustering and the raking, computed from the same fits, covers the slope of the clustered
covariate far less often (checked, so the test can fail).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sottovoce.errors import SottovoceWarning
from sottovoce.glm import family_of, irls
from sottovoce.survey import Survey

H, M, S = 8, 80, 20
M_H = np.array([4, 5, 6, 7, 8, 6, 5, 7])
REPS = 500
FORMULA = "y ~ x1 + x2 + x3 + sex + a1 + a2 + r1 + r2"


def population(seed: int = 2024) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    N = H * M * S
    stratum = np.repeat(np.arange(H), M * S)
    cluster = np.repeat(np.arange(H * M), S)
    u = rng.normal(0, 0.8, H * M)[cluster]  # cluster effects in the outcome
    v = rng.normal(0, 1, H * M)[cluster]  # a cluster-level part of x1 (a neighbourhood trait)
    sex = rng.integers(0, 2, N)
    age = rng.choice(3, N, p=[0.3, 0.4, 0.3])
    reg = rng.choice(3, N)
    x1 = 0.8 * v + 0.6 * rng.normal(0, 1, N)
    x2, x3 = rng.normal(0, 1, N), rng.gamma(2, 1, N)
    eta = (-0.3 + 0.5 * x1 - 0.2 * x2 + 0.1 * x3 - 0.4 * sex + 0.3 * (age == 1) + 0.7 * (age == 2)
           + 0.2 * (reg == 1) - 0.3 * (reg == 2) + u + 0.2 * stratum / H)
    y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    pop = pd.DataFrame({"stratum": stratum, "cluster": cluster, "sex": sex, "age": age, "x1": x1, "x2": x2, "x3": x3,
                        "a1": (age == 1) * 1, "a2": (age == 2) * 1, "r1": (reg == 1) * 1, "r2": (reg == 2) * 1, "y": y})
    X = np.column_stack([np.ones(N), x1, x2, x3, sex, age == 1, age == 2, reg == 1, reg == 2]).astype(float)
    census = irls(X, y, np.ones(N), family_of("binomial"), tol=1e-14, max_iter=100).beta
    return pop, census


@pytest.mark.slow
def test_glm_intervals_cover_under_stratified_clusters_and_raking():
    pop, census = population()
    margins = {"sex": pop.sex.value_counts().to_dict(), "age": pop.age.value_counts().to_dict()}
    rng = np.random.default_rng(7)
    hits, naive_hits = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SottovoceWarning)
        for _ in range(REPS):
            chosen = np.concatenate([h * M + rng.choice(M, M_H[h], replace=False) for h in range(H)])
            s = pop[np.isin(pop.cluster.to_numpy(), chosen)]
            s = s.assign(w=M / M_H[s.stratum.to_numpy()], fpc=M)
            design = Survey(s, "w", "stratum", "cluster", fpc="fpc")
            fit = design.rake(margins).glm(FORMULA, "quasibinomial")
            ci = fit.conf_int().to_numpy()
            hits.append((ci[:, 0] <= census) & (census <= ci[:, 1]))
            # the same fit with a variance that ignores the clusters and the raking
            naive_design = Survey(s.assign(w=fit.fit.survey.weights), "w", "stratum")
            se = np.sqrt(np.diag(naive_design.cov_total(fit.fit.influence)))
            q = (ci[:, 1] - fit.coef) / fit.bse.to_numpy()
            naive_hits.append(np.abs(fit.coef - census) <= q * se)
    coverage = float(np.mean(hits))
    assert 0.94 <= coverage <= 0.96, coverage
    # the test can tell a wrong variance from a right one: ignoring the clusters undercovers the
    # slope of the clustered covariate x1 badly (the correct intervals do not)
    per_term = np.mean(hits, axis=0)
    assert np.mean(naive_hits, axis=0)[1] < 0.88 and per_term[1] > 0.91, (per_term, np.mean(naive_hits, axis=0))
