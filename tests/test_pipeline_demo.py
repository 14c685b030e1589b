"""``sottovoce demo``: simulates the example study, runs the whole pipeline, prints the headline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import sottovoce as sv

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_the_same_results_as_analyze_on_the_bundled_example(tmp_path, cli):
    out = tmp_path / "demo-output"
    res = cli("demo", "--out", out, "--json")
    assert res.code == 0, res.err
    payload = json.loads(res.out)
    assert payload["outputs"]["report"] == str(out / "report.html") and (out / "report.html").exists()
    assert 0 < payload["truth"]["support"] < 1
    written = json.loads((out / "results.json").read_text(encoding="utf-8"))
    bundled = sv.analyze(ROOT / "examples" / "demo" / "study.toml").to_dict()
    # the demo regenerates examples/demo with the same seed: identical estimates
    for got, want in zip(written["questions"], bundled["questions"], strict=True):
        assert got["id"] == want["id"] and got["status"] == want["status"]
        if "result" in want:
            assert math.isclose(got["result"]["estimate"], want["result"]["estimate"], rel_tol=1e-9)
            assert math.isclose(got["result"]["se"], want["result"]["se"], rel_tol=1e-9)
    assert written["study"]["simulated"] is True


def test_demo_prints_the_headline_and_the_report_path(tmp_path, cli):
    out = tmp_path / "d"
    res = cli("demo", "--out", out)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith("Asked directly,") and "%" in lines[0]
    assert f"report: {out / 'report.html'}" in res.out
    assert "planted true share" in res.out
    assert sorted(p.name for p in out.iterdir()) == ["charts", "report.html", "results.csv", "results.json", "study"]


def test_demo_refuses_a_file_as_output(tmp_path, cli):
    f = tmp_path / "x"
    f.write_text("keep", encoding="utf-8")
    res = cli("demo", "--out", f)
    assert res.code == 2 and "not a folder" in res.err
    assert f.read_text(encoding="utf-8") == "keep"


def test_demo_prints_direct_indirect_and_nonresponse_tables(tmp_path, cli):
    """The demo's terminal output: weighted direct shares by group, every design with the gaps,
    and the nonresponse measures, with the same numbers as results.json."""
    import json

    r = cli("demo", "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    for title in ("Asked directly (weighted)", "Direct and indirect questions side by side", "Who did not answer"):
        assert title in r.out
    for q in data["questions"]:
        assert f"{100 * q['result']['estimate']:.1f}" in r.out
    assert "list experiment" in r.out and "randomized response" in r.out and "gap: direct − indirect" in r.out
    assert f"{100 * data['nonresponse']['rates']['RR3']:.1f}" in r.out
    assert "Sex = Women" in r.out  # the study file's labels, as in the report


def test_demo_tables_follow_lang_ru(tmp_path, cli):
    """--lang ru: the terminal tables' titles, headers and group labels are Russian, decimals use a comma."""
    import json

    r = cli("demo", "--out", tmp_path / "out", "--lang", "ru")
    assert r.code == 0, r.err
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    for text in ("Прямой вопрос (взвешено), %", "Прямые и косвенные вопросы рядом, %", "Кто не ответил", "оценка, %",
                 "Пол = Женщины", "списочный эксперимент", "разница: прямой −", "В этой симуляции заложенная истинная доля равна 38%"):
        assert text in r.out, text
    for english in ("Asked directly (weighted)", "side by side", "everyone", "estimate %", "sex = female", "planted"):
        assert english not in r.out, english
    direct = data["questions"][0]["result"]["estimate"]
    assert f"{100 * direct:.1f}".replace(".", ",") in r.out
