"""Benchmark: start-up and a user's whole command (issue 12).

Targets:

* ``python -c "import sottovoce"`` and ``sottovoce --help`` each take at most 0.3 s (best of
  several runs, in fresh processes; ``python -c pass`` is shown as the floor);
* a user's whole ``sottovoce list data.csv … --method ml`` run on 20,000 respondents (start-up,
  reading the CSV, the EM fit with its standard errors, printing) is at least 20× faster than R
  doing the same. R's ``list`` package cannot be installed here (no CRAN), so the peer is
  ``bench/list_ml_em.R``: the same constrained ML model fitted by the same EM (weighted ``glm``
  M-steps, as ``ictreg`` does) to the same log-likelihood tolerance, run by ``Rscript`` from
  start-up to printing. It computes no standard errors (``ictreg`` does, by ``optim``), so the
  ratio is, if anything, in R's favour.

Run: ``.venv/bin/python bench/bench_startup.py`` (or ``make bench``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
START_TARGET = 0.3
LIST_TARGET = 20.0
N = 20_000
J = 4


def _best(cmd: list[str], repeat: int = 7, env: dict[str, str] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - t0)
    return best


def _sottovoce() -> list[str]:
    script = Path(sys.executable).with_name("sottovoce")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from sottovoce.cli import main; sys.exit(main(sys.argv[1:]))"]


def make(n: int = N, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 3] = rng.integers(0, 2, n)
    X[:, 4] = rng.integers(0, 4, n)
    z = rng.random(n) < 1 / (1 + np.exp(-(-0.8 + X @ np.array([0.5, -0.3, 0.2, 0.4, -0.1]))))
    ys = rng.binomial(J, 1 / (1 + np.exp(-(0.1 + X @ np.array([-0.2, 0.3, 0.1, -0.3, 0.05])))))
    t = rng.integers(0, 2, n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, 6)])
    df["y"], df["t"] = ys + t * z, t
    return df


def run() -> list[dict]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    floor = _best([sys.executable, "-c", "pass"], env=env)
    imp = _best([sys.executable, "-c", "import sottovoce"], env=env)
    helps = _best([*_sottovoce(), "--help"], env=env)
    rows: list[dict] = [
        {"name": "python -c pass (floor)", "seconds": floor, "ratio": None, "target": None, "ok": None},
        {"name": "python -c 'import sottovoce'", "seconds": imp, "ratio": None, "target": f"<= {START_TARGET} s",
         "ok": imp <= START_TARGET},
        {"name": "sottovoce --help", "seconds": helps, "ratio": None, "target": f"<= {START_TARGET} s", "ok": helps <= START_TARGET},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        make().to_csv(path, index=False)
        cmd = [*_sottovoce(), "list", str(path), "--count", "y", "--treat", "t", "--items", str(J), "--method", "ml",
               "--covariates", "x1 + x2 + x3 + x4 + x5", "--json"]
        ours = _best(cmd, repeat=3, env=env)
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
        rscript = shutil.which("Rscript")
        if rscript is None:
            rows.append({"name": f"sottovoce list --method ml, {N:,} respondents (no Rscript: no peer)", "seconds": ours,
                         "ratio": None, "target": f">= {LIST_TARGET:g}x", "ok": None})
            return rows
        rcmd = [rscript, str(HERE / "list_ml_em.R"), str(path), str(J), "1e-8"]
        theirs = _best(rcmd, repeat=2)
        ref = json.loads(subprocess.run(rcmd, check=True, capture_output=True, text=True).stdout)
        same = abs(ref["loglik"] - out["loglik"]) < 1e-3 * abs(ref["loglik"])
        ratio = theirs / ours
        rows.append({"name": f"sottovoce list --method ml, {N:,} resp. vs R EM (R {theirs:.2f} s)", "seconds": ours,
                     "ratio": ratio, "target": f">= {LIST_TARGET:g}x", "ok": ratio >= LIST_TARGET and same})
        if not same:
            rows.append({"name": f"  log-likelihoods differ: sottovoce {out['loglik']:.4f}, R {ref['loglik']:.4f}", "ok": False})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
