"""Benchmark: the whole Chronicles series vs reading its wave files once.

Target (issue 13): ``sottovoce series`` on examples/chronicles-series — 12 waves, every tracked
question and composite, by sex and age, the trends, results.json, results.csv and the HTML
report with its charts — in at most 5× the time it takes just to read the wave files (the floor:
any tool must read them). Uses the released files in ../shared/data/chronicles when present, else
the bundled extracts. Run: ``.venv/bin/python bench/bench_series.py``.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chronicles-series" / "chronicles.toml"
SHARED = next((p / "shared" / "data" / "chronicles" for p in ROOT.parents if (p / "shared" / "data" / "chronicles").is_dir()), None)
TARGET = 5.0


def _best(f, repeat: int = 2) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def run() -> list[dict]:
    from sottovoce.survey_series import _read_wave, load_series, series

    warnings.simplefilter("ignore")
    spec = load_series(EXAMPLE, data_dir=SHARED)
    source = "released files" if SHARED is not None else "bundled extracts"
    read = _best(lambda: [_read_wave(w) for w in spec.waves])
    with tempfile.TemporaryDirectory() as tmp:
        full = _best(lambda: series(spec, Path(tmp) / "out"))
    return [
        {"name": f"series: read the 12 Chronicles wave files once ({source})", "seconds": read, "ratio": 1.0, "target": None, "ok": True},
        {"name": "series: whole series (estimates, subgroups, trends, report) vs reading", "seconds": full,
         "ratio": full / read, "target": f"<= {TARGET:g}x", "ok": full / read <= TARGET},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<72} {row['seconds']:8.3f} s  ratio {row['ratio']:6.2f}  "
              f"target {row['target'] or '-'}  {'ok' if row['ok'] else 'SLOW'}")
