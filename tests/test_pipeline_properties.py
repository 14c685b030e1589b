"""Property tests of the pipeline: row order does not matter, weights' scale does not matter, and
no published row or chart point ever has fewer than ``min_cell`` respondents."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.report import build_view
from test_study_fixtures import make_study


def _numbers(data):
    out = {}
    for q in data["questions"]:
        r = q.get("result") or {}
        out[q["id"]] = (r.get("estimate"), r.get("se"))
        for g in r.get("groups", []):
            out[(q["id"], g["by"], str(g["level"]))] = (g["estimate"], g["se"])
    for c in data["comparisons"]:
        out[("gap", c["indirect"])] = (c["estimate"], c["se"])
    return out


def _close(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for x, y in zip(a[k], b[k], strict=True):
            assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (k, x, y)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 100))
def test_row_order_and_weight_scale_do_not_change_results(tmp_path_factory, seed, scale):
    folder = tmp_path_factory.mktemp("prop")
    study = make_study(folder / "a", n=300, seed=seed % 1000, data_extra='weights = "w0"')
    base = sv.analyze(study).to_dict()
    df = pd.read_csv(folder / "a" / "respondents.csv")
    df = df.sample(frac=1.0, random_state=seed).assign(w0=lambda d: d["w0"] * scale)
    df.to_csv(folder / "a" / "respondents.csv", index=False)
    _close(_numbers(base), _numbers(sv.analyze(study).to_dict()))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(min_cell=st.integers(1, 500))
def test_nothing_below_min_cell_is_published(tmp_path_factory, min_cell):
    folder = tmp_path_factory.mktemp("cells")
    study = make_study(folder / "a", n=400, seed=3)
    study.write_text(study.read_text(encoding="utf-8").replace("min_cell = 30", f"min_cell = {min_cell}"), encoding="utf-8")
    res = sv.analyze(study)
    for row in res.rows():
        assert row["suppressed"] == (row["n"] is None or row["n"] < min_cell)
        if row["suppressed"]:
            assert row["estimate"] is None and row["ci_low"] is None
    data = res.to_dict()  # results.json: the same rule
    entries = [q["result"] for q in data["questions"] if q.get("result")] + list(data["comparisons"])
    entries += [g for e in list(entries) for g in e.get("groups", [])]
    for e in entries:
        if e.get("n") is None or e["n"] < min_cell:
            assert e["estimate"] is None and e["se"] is None and e["ci"] is None and e["suppressed"], e
        else:
            assert e["estimate"] is not None and not e.get("suppressed")
    view = build_view(res.to_dict())
    shown = [r for g in view["groups"] for r in g["rows"] if not r["suppressed"]] + [r for r in view["compare_rows"] if not r["suppressed"]]
    assert all(r["n"] >= min_cell for r in shown)
