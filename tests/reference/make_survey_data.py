"""Generate the fixed simulated data that tests/reference/survey_reference.R analyses.

Run once (``python tests/reference/make_survey_data.py``); the CSV is committed so that neither
the tests nor R depend on a random number generator. Replicate weight columns (JK1 on the
clusters, and a bootstrap) are written out too, so R reads exactly the replicates sottovoce uses.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20260227)
    rows = []
    psu_id = 0
    for h, n_psu in enumerate([5, 6, 4, 7]):
        for _ in range(n_psu):
            psu_id += 1
            m = int(rng.integers(8, 20))
            effect = rng.normal(0, 0.6)
            for _ in range(m):
                a = int(rng.integers(1, 3))
                b = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
                eta = -0.3 + 0.5 * (a == 2) - 0.4 * (b == 3) + 0.3 * h + effect
                y = int(rng.random() < 1 / (1 + np.exp(-eta)))
                cat = int(rng.choice([1, 2, 99], p=[0.55, 0.25, 0.20]))
                x = float(np.round(rng.gamma(2.0, 10.0) + 5 * y, 3))
                g = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
                w = float(np.round(rng.uniform(50, 250) * (1 + 0.5 * h), 4))
                rows.append(dict(stratum=h + 1, psu=psu_id, fpc=[40, 30, 25, 50][h], w=w, a=a, b=b, y=y,
                                 cat=cat, x=x, g=g))
    df = pd.DataFrame(rows)
    # A few missing answers, so NA handling (a domain) is checked against R's na.rm.
    df["xm"] = df["x"].where(rng.random(len(df)) > 0.08)
    # Replicate weights written out: JK1 over the PSUs (ignoring strata) and 40 bootstrap ones.
    psus = df["psu"].to_numpy()
    upsu = np.unique(psus)
    n = len(upsu)
    for r, p in enumerate(upsu):
        df[f"jk{r + 1}"] = np.where(psus == p, 0.0, df["w"] * n / (n - 1))
    for r in range(40):
        draws = np.concatenate([rng.choice(upsu[np.isin(upsu, df.loc[df.stratum == h, "psu"])],
                                           size=df.loc[df.stratum == h, "psu"].nunique())
                                for h in sorted(df.stratum.unique())])
        mult = pd.Series(draws).value_counts().reindex(upsu, fill_value=0)
        df[f"bs{r + 1}"] = df["w"] * mult.reindex(psus).to_numpy()
    df.to_csv(HERE / "survey_data.csv", index=False)
    print(len(df), "rows")


if __name__ == "__main__":
    main()
