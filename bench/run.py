"""Run every benchmark in ``bench/`` and print one table (``make bench``).

Each ``bench/bench_*.py`` module exposes ``run() -> list[dict]``; a row has ``name``, ``seconds``,
``ratio`` (how many times faster sottovoce is, or the memory ratio), ``target`` (a human-readable
goal such as ``">= 20x"``) and ``ok`` (``True``/``False``/``None`` when there is no target).
``python bench/run.py weighting`` runs only the modules whose name contains ``weighting``.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fmt(x: object, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "–"
        return f"{x:.{digits}g}"
    return str(x)


def main(argv: list[str]) -> int:
    only = argv[1:] if len(argv) > 1 else []
    rows: list[dict] = []
    for path in sorted(HERE.glob("bench_*.py")):
        if only and not any(o in path.stem for o in only):
            continue
        print(f"running {path.name} …", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            got = _load(path).run()
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            got = [{"name": f"{path.stem}: failed ({type(exc).__name__}: {exc})", "ok": False}]
        for row in got:
            row.setdefault("module", path.stem.removeprefix("bench_"))
            rows.append(row)
        print(f"  {path.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    if not rows:
        print("no benchmarks found", file=sys.stderr)
        return 1
    header = f"{'module':<12} {'benchmark':<58} {'seconds':>9} {'ratio':>9} {'target':>10} {'ok':>4}"
    print(header)
    print("-" * len(header))
    for r in rows:
        ok = r.get("ok")
        print(
            f"{_fmt(r.get('module')):<12} {_fmt(r.get('name'))[:58]:<58} {_fmt(r.get('seconds'), 4):>9} "
            f"{_fmt(r.get('ratio')):>9} {_fmt(r.get('target')):>10} {'' if ok is None else ('yes' if ok else 'NO'):>4}"
        )
        if r.get("note"):
            print(f"{'':<12}   {r['note']}")
    missed = [r for r in rows if r.get("ok") is False]
    print(f"\n{len(rows)} rows, {len(missed)} missed targets")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
