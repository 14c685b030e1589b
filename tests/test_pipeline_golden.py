"""Golden test: results.json of the bundled demo study, number by number (to 1e-9).

The demo data are committed (examples/demo, seeded), so every estimate is reproducible. When an
estimator changes on purpose, regenerate the golden file deliberately and review the diff:

    SOTTOVOCE_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_pipeline_golden.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import sottovoce as sv

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "demo-results.json"
IGNORED = {"versions"}  # library versions change without changing any number


def _compare(got: Any, want: Any, path: str = "$") -> list[str]:
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object"]
        out = []
        if set(got) != set(want):
            out.append(f"{path}: keys differ: missing {sorted(set(want) - set(got))}, new {sorted(set(got) - set(want))}")
        for k in set(got) & set(want):
            out += _compare(got[k], want[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: expected a list of {len(want)}"]
        return [e for i, (g, w) in enumerate(zip(got, want, strict=True)) for e in _compare(g, w, f"{path}[{i}]")]
    if isinstance(want, float) and not isinstance(want, bool):
        if not isinstance(got, (int, float)) or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            return [f"{path}: {got!r} != {want!r}"]
        return []
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def test_demo_results_match_the_golden_file(tmp_path):
    data = {k: v for k, v in sv.analyze(ROOT / "examples" / "demo" / "study.toml").to_dict().items() if k not in IGNORED}
    if os.environ.get("SOTTOVOCE_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    problems = _compare(json.loads(json.dumps(data)), want)
    assert not problems, "\n".join(problems[:20])
    # and the golden file is not vacuous: it holds the headline numbers
    assert {q["id"] for q in want["questions"] if q["status"] == "done"} >= {"support_direct", "support_rr"}
    assert want["comparisons"] and want["nonresponse"]["status"] == "done"
