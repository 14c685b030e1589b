"""Taylor-linearized mean of a proportion with strata and PSUs: sottovoce against svy (and R).

Task (issue 2): 1,000,000 rows, 50 strata × 20 PSUs, unequal weights, a 0/1 variable. Same data,
same estimate and standard error (checked to 1e-6 relative) for every tool; the ratio is how many
times faster sottovoce is (target >= 3× against svy, the Rust-backed successor of samplics).
Times include building the design object from the columns, as a user would run it. R's
``survey::svymean`` is a third reference (timed inside R, reading the data is not counted) when
``Rscript`` is installed.

Run alone: ``python bench/run.py survey``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_ROWS = 1_000_000
REPEAT = 3


def make_data(n: int = N_ROWS, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 50, n)
    psu = rng.integers(0, 20, n)
    effect = rng.normal(0, 0.4, (50, 20))[stratum, psu]
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.3 + effect)))).astype(np.int64)
    w = rng.uniform(0.5, 3.0, n)
    return pd.DataFrame({"stratum": stratum, "psu": psu, "w": w, "y": y})


def _best(fn, repeat: int = REPEAT) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_sottovoce(df: pd.DataFrame) -> tuple[float, float]:
    from sottovoce.survey import Survey

    r = Survey(df, "w", "stratum", "psu").mean("y")
    return float(r.estimate), float(r.se)


def run_svy(df: pd.DataFrame) -> tuple[float, float]:
    import polars as pl
    import svy

    frame = pl.from_pandas(df)
    est = svy.Sample(frame, svy.Design(stratum="stratum", psu="psu", wgt="w")).estimation.mean("y")
    row = est.to_dicts()[0] if hasattr(est, "to_dicts") else None
    if row is None:
        raise RuntimeError("svy returned no estimate")
    return float(row["est"]), float(row["se"])


def run_r(df: pd.DataFrame) -> tuple[float, float, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df.to_csv(path, index=False)
        code = (
            f"suppressMessages(library(survey)); d <- read.csv('{path}');"
            f"t <- system.time(for (i in 1:{REPEAT}) {{ des <- svydesign(ids=~psu, strata=~stratum, weights=~w, data=d, nest=TRUE);"
            " m <- svymean(~y, des) });"
            f"cat(t[['elapsed']]/{REPEAT}, coef(m), SE(m), '\\n')"
        )
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            return None
        secs, est, se = map(float, out.stdout.split())
        return secs, est, se


def run() -> list[dict]:
    df = make_data()
    t_sv, (est, se) = _best(lambda: run_sottovoce(df))
    rows: list[dict] = [{"name": f"survey mean, strata+PSU, {N_ROWS:,} rows: sottovoce", "seconds": t_sv,
                         "ratio": None, "target": None, "ok": None}]
    try:
        t_svy, (e2, s2) = _best(lambda: run_svy(df))
        same = abs(e2 / est - 1) < 1e-6 and abs(s2 / se - 1) < 1e-6
        rows.append({"name": f"  vs svy (same SE: {same})", "seconds": t_svy, "ratio": t_svy / t_sv,
                     "target": ">= 3x", "ok": bool(same and t_svy / t_sv >= 3)})
    except Exception as exc:  # peer missing or broken: report, do not hide the others
        rows.append({"name": f"  vs svy: failed ({type(exc).__name__}: {exc})", "ok": False})
    r = run_r(df)
    if r is not None:
        t_r, e3, s3 = r
        same = abs(e3 / est - 1) < 1e-6 and abs(s3 / se - 1) < 1e-6
        rows.append({"name": f"  vs R survey::svymean (same SE: {same})", "seconds": t_r, "ratio": t_r / t_sv,
                     "target": None, "ok": None if same else False})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
