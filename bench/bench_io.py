"""Reading vendor files: sottovoce's calamine reader vs pandas + openpyxl, and CSV detection cost.

The workbook is shaped like a Chronicles wave (1,600 respondents × 240 columns: codes, a few text
columns, a weight); the real files of ../shared/data/chronicles are timed too when present. CSV:
a cp1251, semicolon-separated, decimal-comma export read with detection vs pandas told everything.
``python bench/run.py io``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import sottovoce as sv

SHARED = Path(os.environ.get("SOTTOVOCE_SHARED") or Path(__file__).resolve().parents[2] / "shared") / "data" / "chronicles"


def _best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _wave(n: int = 1600, k: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cols = {f"Q{j}": rng.choice([1.0, 2.0, 3.0, 99.0, np.nan], n) for j in range(k - 4)}
    cols["region"] = rng.choice(["Москва", "Тамбовская область", "Республика Дагестан"], n)
    cols["open"] = [f"ответ {i}" if i % 3 else None for i in range(n)]
    cols["age"] = rng.integers(18, 90, n).astype(float)
    cols["вес"] = rng.uniform(0.5, 1.8, n)
    return pd.DataFrame(cols)


def run() -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        xlsx = Path(tmp) / "wave.xlsx"
        _wave().to_excel(xlsx, index=False, engine="openpyxl")
        ours = _best(lambda: sv.read_table(xlsx))
        peer = _best(lambda: pd.read_excel(xlsx, engine="openpyxl"), repeat=2)
        rows.append({"name": "read .xlsx 1600x240 (vs pandas+openpyxl)", "seconds": ours, "ratio": peer / ours,
                     "target": ">= 3x", "ok": peer / ours >= 3})
        csv = Path(tmp) / "wave.csv"
        df = _wave(20_000, 60)
        csv.write_bytes(df.to_csv(index=False, sep=";", decimal=",").encode("cp1251"))
        ours = _best(lambda: sv.read_table(csv))
        told = _best(lambda: pd.read_csv(csv, sep=";", decimal=",", encoding="cp1251"))
        rows.append({"name": "read cp1251 ';' decimal-comma CSV 20000x60, detected (vs pandas told)",
                     "seconds": ours, "ratio": told / ours, "target": ">= 0.5x", "ok": told / ours >= 0.5})
    if SHARED.exists():
        files = sorted(SHARED.glob("chronicles-1[0-5]*.xlsx"))
        ours = sum(_best(lambda f=f: sv.read_table(f), repeat=1) for f in files)
        peer = sum(_best(lambda f=f: pd.read_excel(f, engine="openpyxl"), repeat=1) for f in files)
        rows.append({"name": f"read the {len(files)} real Chronicles .xlsx waves (vs pandas+openpyxl)",
                     "seconds": ours, "ratio": peer / ours, "target": ">= 3x", "ok": peer / ours >= 3})
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
