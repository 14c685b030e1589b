"""Survey series (sottovoce.survey_series): parsing, harmonisation, estimates against a direct computation,
and the Chronicles example reproducing every figure the project published (cited in the series
file's [[published]] table)."""

from __future__ import annotations

import csv
import html
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CHRONICLES
from sottovoce.errors import InputError, SottovoceWarning
from sottovoce.survey_series import load_series, series
from sottovoce.survey_series_report import published_check, render_series, tidy_rows

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chronicles-series" / "chronicles.toml"
PUBLISHED = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["published"]


def _doc(tmp_path: Path, frames: dict[str, pd.DataFrame], **extra) -> dict:
    waves = []
    for i, (wid, df) in enumerate(frames.items()):
        p = tmp_path / f"{wid}.csv"
        df.to_csv(p, index=False)
        waves.append({"id": wid, "file": str(p), "start": f"2024-0{i + 1}-01", "end": f"2024-0{i + 1}-05", "pollster": "P", "weights": "w"})
    doc = {"series": {"id": "s", "title": "S"}, "waves": waves,
           "questions": [{"id": "q", "track": "yes", "categories": [{"id": "yes"}, {"id": "no"}, {"id": "dk", "kind": "hard_to_say"}],
                          "waves": {wid: {"column": "a", "codes": {"yes": [1], "no": [2], "dk": [9]}} for wid in frames}},
                         {"id": "g", "categories": [{"id": "m", "en": "Men", "ru": "Мужчины"}, {"id": "f", "en": "Women", "ru": "Женщины"}],
                          "waves": {wid: {"column": "sex", "codes": {"m": ["M"], "f": ["F"]}} for wid in frames}}],
           "report": {"subgroups": ["g"], "min_cell": 5}}
    doc.update(extra)
    return doc


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"a": rng.choice([1, 2, 9], n, p=[0.5, 0.3, 0.2]), "sex": rng.choice(["M", "F"], n),
                         "b": rng.choice([1, 2], n), "w": rng.uniform(0.5, 2, n)})


@pytest.mark.parametrize("patch, msg", [
    ({"extra": 1}, "unknown key"),
    ({"report": {"subgroups": ["nope"]}}, "not a tracked question"),
    ({"derive": [{"id": "d", "all": [{"question": "q", "in": ["maybe"]}]}]}, "'maybe' is not a category of 'q'"),
    ({"derive": [{"id": "d", "all": [{"question": "zz", "in": ["yes"]}]}]}, "not a tracked question"),
    ({"trend": {"unit": "month"}}, "unknown unit"),
])
def test_parse_errors_name_the_key(tmp_path, patch, msg):
    doc = _doc(tmp_path, {"w1": _frame(np.random.default_rng(0), 50)})
    doc.update(patch)
    with pytest.raises(InputError, match=msg):
        load_series(doc)


def test_wave_mapping_must_name_a_wave(tmp_path):
    doc = _doc(tmp_path, {"w1": _frame(np.random.default_rng(0), 50)})
    doc["questions"][0]["waves"]["w9"] = {"column": "a", "codes": {"yes": [1]}}
    with pytest.raises(InputError, match="'w9' is not a wave"):
        load_series(doc)


def test_missing_file_is_one_clear_error(tmp_path):
    doc = _doc(tmp_path, {"w1": _frame(np.random.default_rng(0), 50)})
    doc["waves"][0]["file"] = str(tmp_path / "gone.csv")
    with pytest.raises(InputError, match="gone.csv not found"):
        series(doc)


def test_unmapped_codes_are_other_with_a_warning(tmp_path):
    df = _frame(np.random.default_rng(1), 80)
    df.loc[:4, "a"] = 7
    with pytest.warns(SottovoceWarning, match="match no category"):
        res = series(_doc(tmp_path, {"w1": df}))
    cats = {r["category"] for r in res.rows() if r["question"] == "q" and not r["group"]}
    assert "other" in cats


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_shares_equal_the_direct_weighted_computation(seed):
    """Every category share and composite equals the weighted mean of its indicator, and the
    categories of a wave add up to one (property, random data)."""
    import tempfile

    rng = np.random.default_rng(seed)
    frames = {"w1": _frame(rng, 120), "w2": _frame(rng, 90)}
    with tempfile.TemporaryDirectory() as tmp:
        doc = _doc(Path(tmp), frames, derive=[{"id": "d", "all": [{"question": "q", "in": ["yes"]}, {"column": "b", "in": [1]}]}])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SottovoceWarning)
            res = series(doc)
    for wid, df in frames.items():
        w = df["w"].to_numpy()
        total = 0.0
        for cat, code in (("yes", 1), ("no", 2), ("dk", 9)):
            got = res.share(wid, "q", cat)
            assert got == pytest.approx(w @ (df["a"] == code) / w.sum(), abs=1e-12)
            total += got
        assert total == pytest.approx(1.0)
        comp = res.share(wid, "d")
        assert comp == pytest.approx(w @ ((df["a"] == 1) & (df["b"] == 1)) / w.sum(), abs=1e-12)
        men = df["sex"] == "M"
        assert res.share(wid, "q", "yes", group="g", level="m") == pytest.approx(w[men] @ (df["a"][men] == 1) / w[men].sum(), abs=1e-12)


def test_text_labels_and_codes_harmonise_alike(tmp_path):
    rng = np.random.default_rng(3)
    coded = _frame(rng, 100)
    text = coded.assign(a=coded["a"].map({1: "Да", 2: "Нет", 9: "Затрудняюсь"}))
    doc = _doc(tmp_path, {"w1": coded, "w2": text})
    doc["questions"][0]["waves"]["w2"] = {"column": "a", "codes": {"yes": ["да"], "no": ["НЕТ"], "dk": ["Затрудняюсь"]}}
    res = series(doc)
    for cat in ("yes", "no", "dk"):
        assert res.share("w1", "q", cat) == pytest.approx(res.share("w2", "q", cat), abs=1e-12)


def test_small_groups_are_suppressed(tmp_path):
    doc = _doc(tmp_path, {"w1": _frame(np.random.default_rng(4), 40)})
    doc["report"]["min_cell"] = 30
    rows = series(doc).rows()
    grp = [r for r in rows if r["group"]]
    assert grp and all(r["suppressed"] and r["estimate"] is None for r in grp)


def test_a_subgroup_question_is_not_broken_down_by_itself(tmp_path):
    """Sex by sex gave shares of exactly 0 and 1 and a warning per cell (157 lines on the Chronicles
    series); other questions are still broken down by it, and it by the other subgroups."""
    df = _frame(np.random.default_rng(4), 200)
    df["age"] = np.where(np.arange(200) % 2 == 0, "young", "old")
    doc = _doc(tmp_path, {"w1": df})
    doc["questions"].append({"id": "age", "categories": [{"id": "young"}, {"id": "old"}],
                             "waves": {"w1": {"column": "age", "codes": {"young": ["young"], "old": ["old"]}}}})
    doc["report"]["subgroups"] = ["g", "age"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = series(doc).rows()
    by = {(r["question"], r["group"]) for r in rows if r["group"]}
    assert ("g", "g") not in by and ("age", "age") not in by
    assert {("q", "g"), ("q", "age"), ("g", "age"), ("age", "g")} <= by
    assert not [w for w in caught if "estimate is 0 or 1" in str(w.message)]


def test_a_wave_that_stores_hard_to_say_as_blanks_says_its_base(tmp_path):
    """Wave 3's file has no code for "hard to say" (its hard-to-say answers are blank): its shares
    rest on those with an answer. The table says so (en and ru), its composite is flagged not
    comparable, and the trends leave that wave out; no code is guessed for the blanks. Wave 2 has
    many blanks but codes hard-to-say: its base is said, and it stays comparable."""
    rng = np.random.default_rng(7)
    w1, w2, w3, w4 = (_frame(rng, 200) for _ in range(4))
    w2.loc[:59, "a"] = np.nan  # 30% not asked; hard-to-say still coded 9
    w3["a"] = w3["a"].where(w3["a"] != 9)  # hard-to-say stored as blank
    doc = _doc(tmp_path, {"w1": w1, "w2": w2, "w3": w3, "w4": w4})
    doc["derive"] = [{"id": "d", "text": {"en": "Yes", "ru": "Да"}, "base": "answered", "all": [{"question": "q", "in": ["yes"]}]}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SottovoceWarning)
        res = series(doc)
    waves = {w["id"]: w for w in res.data["waves"]}
    answered = int(w3["a"].notna().sum())
    assert waves["w3"]["bases"]["q"] == {"n": 200, "answered": answered, "blank": 200 - answered, "dk_as_blank": True}
    assert waves["w2"]["bases"]["q"]["dk_as_blank"] is False and "bases" in waves["w1"] and "q" not in waves["w1"]["bases"]
    assert waves["w3"]["composites"]["d"]["not_comparable"]["questions"] == ["q"]
    assert "not_comparable" not in waves["w2"]["composites"]["d"]
    assert "dk" not in {r["category"] for r in res.rows() if r["wave"] == "w3" and r["question"] == "q"}  # nothing guessed
    en, ru = html.unescape(render_series(res.data, "en")), html.unescape(render_series(res.data, "ru"))
    assert f"base = those with an answer ({answered} of 200); the file stores hard-to-say and refusals as blanks" in en
    assert f"база — ответившие ({answered} из 200)" in ru and "записаны пустыми ячейками" in ru
    assert "w2: base = those with an answer (140 of 200); 60 are blank in the file" in en
    assert "not comparable with the other waves" in en and "не сопоставимо с другими волнами" in ru
    for x in res.data["questions"][:1] + res.data["composites"]:
        tr = x["trend"]
        assert tr["status"] == "done" and any("left out of the trend: wave w3" in n["en"] for n in tr["notes"])
        assert sum(h["polls"] for h in tr["houses"]) == 3  # waves 1, 2 and 4
    assert "base = those with an answer" in res.summary("en")


# -- the Chronicles example ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chronicles(tmp_path_factory):
    if not (CHRONICLES / "chronicles-15-2025-09-26.xlsx").exists():
        pytest.skip("real data ../shared/data/chronicles not present")
    out = tmp_path_factory.mktemp("series") / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SottovoceWarning)
        res = series(EXAMPLE, out, data_dir=CHRONICLES)
    return res, out


@pytest.mark.parametrize("p", PUBLISHED, ids=lambda p: f"{p['wave']}-{p['question']}-{p.get('wording', '')}-{p.get('category', '')}-{p['share']}")
def test_published_figure(chronicles, p):
    """Each published figure is reproduced to rounding, or (differs = true) is not, with the
    reason in the series file's note and in the report."""
    res, _ = chronicles
    check = next(c for c in published_check(res.data) if (c["wave"], c["question"], c["category"], c["wording"], c["value"])
                 == (p["wave"], p["question"], p.get("category", ""), p.get("wording", ""), p["share"]))
    assert check["ours"] is not None
    if p.get("differs"):
        assert not check["reproduced"] and p.get("note")
    else:
        assert check["reproduced"], f"{check['ours']:.2f} vs published {p['share']}"


def test_every_wave_and_split_ballot(chronicles):
    res, out = chronicles
    waves = [w["id"] for w in res.data["waves"]]
    assert waves == ["w1", "w2", "w7a", "w7b", "w8", "w9", "w10", "w11", "w12", "w13", "w14", "w15"]
    support = {w["id"]: w["questions"]["support"]["entries"] for w in res.data["waves"]}
    assert all(support.values())
    assert [e["wording"] for e in support["w2"]] == ["actions", "operation"]
    spend = next(w for w in res.data["waves"] if w["id"] == "w11")["questions"]["spending"]["entries"]
    assert [e["wording"] for e in spend] == ["deficit", "plain"]
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    cats = {r["category"] for r in rows if r["question"] == "support" and r["wave"] == "w12" and not r["group"]}
    assert cats == {"yes", "no", "hard_to_say", "refused"}
    assert {r["group"] for r in rows} >= {"", "sex", "age"}
    assert len(rows) == len(tidy_rows(res.data))


def test_trend_defaults(chronicles):
    res, _ = chronicles
    q = {x["id"]: x for x in res.data["questions"]}
    tr = q["support"]["trend"]
    assert tr["status"] == "done" and tr["reference"] == "Chronicles / operation"
    assert any("main wording" in n["en"] and "основная формулировка" in n["ru"] for n in tr["notes"])
    flat = [x for x in res.data["questions"] + res.data["composites"] if (x.get("trend") or {}).get("flat_sigma")]
    capped = [x for x in flat if x["trend"]["sigma_fixed"] is not None]
    assert capped and all(x["trend"]["sigma_fixed"] == 0.02 and any("flat likelihood" in n["en"] for n in x["trend"]["notes"]) for x in capped)
    # a cap the waves reject (awareness of the mobilisation jumped) is not imposed, and the warning says so
    assert all(any("reject a cap" in n["en"] and "отвергают предел" in n["ru"] for n in x["trend"]["notes"]) for x in flat if x not in capped)
    for x in res.data["questions"] + res.data["composites"]:
        for b in (x.get("trend") or {}).get("band") or []:
            assert 0 <= b["low"] <= b["share"] <= b["high"] <= 1
            assert b["high"] - b["low"] < 0.36  # the bands spanned 27-88% between waves
    # one pollster, reference = its main wording: the trend ends at the last wave, not between wordings
    last = next(w for w in res.data["waves"] if w["id"] == "w15")["questions"]["support"]["entries"][0]["result"]
    last_yes = next(c for c in last["categories"] if c["code"] == "yes")["estimate"]
    assert abs(tr["latest"]["estimate"] - last_yes) < 0.01


def test_report_in_both_languages(chronicles):
    res, out = chronicles
    en = (out / "report.html").read_text(encoding="utf-8")
    ru = render_series(res.data, "ru")
    for page in (en, ru):
        assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
        assert page.count("<svg") >= 8
    # (an apostrophe is escaped in HTML text: compare the text the reader sees)
    assert "Hard to say" in en and "Don't want to answer" in html.unescape(en) and "Share of respondents, %" in en
    assert "Затрудняюсь ответить" in ru and "Доля респондентов, %" in ru and "Поддерживаю" in ru
    assert "Consistent supporters of the war" in en and "Последовательные сторонники войны" in ru
    assert "not reproduced" in en and "unweighted share" in en


def test_wave_15_says_its_base_and_its_composites_are_not_comparable(chronicles):
    """Wave 15's file stores hard-to-say and refusals for the truce and spending questions as blanks
    (364 and 372 of 1,604): the report says its base, flags its composites and keeps it out of their trends."""
    res, out = chronicles
    w15 = next(w for w in res.data["waves"] if w["id"] == "w15")
    assert w15["bases"]["truce"] == {"n": 1604, "answered": 1240, "blank": 364, "dk_as_blank": True}
    assert w15["bases"]["spending"]["blank"] == 372 and w15["bases"]["spending"]["dk_as_blank"]
    assert {k for k, v in w15["composites"].items() if v.get("not_comparable")} == {"consistent_war", "consistent_peace", "war_core", "peace_core"}
    w13 = next(w for w in res.data["waves"] if w["id"] == "w13")
    assert not w13["bases"]["truce"]["dk_as_blank"]  # half of sample A was not asked; hard-to-say is coded there
    en = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    ru = html.unescape(render_series(res.data, "ru"))
    assert "Wave 15 (Sep-Oct 2025): base = those with an answer (1,240 of 1,604); the file stores hard-to-say and refusals as blanks" in en
    assert "база — ответившие (1\u00a0240 из 1\u00a0604)" in ru
    assert en.count("not comparable with the other waves") >= 4 and ru.count("не сопоставимо с другими волнами") >= 4
    comps = {c["id"]: c for c in res.data["composites"]}
    assert all(any("left out of the trend: wave w15" in n["en"] for n in comps[k]["trend"]["notes"]) for k in comps)
    assert "base: all respondents" not in en


def test_bundled_extracts_hold_the_released_values():
    """The fresh-clone extracts (sottovoce.datasets) equal the released files' columns, value for value."""
    from sottovoce import datasets
    from sottovoce.io import read_table

    if not (CHRONICLES / "chronicles-15-2025-09-26.xlsx").exists():
        pytest.skip("real data ../shared/data/chronicles not present")
    spec = load_series(EXAMPLE, data_dir=CHRONICLES)
    for w in spec.waves:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = read_table(w.file)
            ext = read_table(datasets.path(w.extract))
        for col in ext.columns:
            a, b = full[col], ext[col]
            if pd.api.types.is_numeric_dtype(a):
                assert np.allclose(a.to_numpy(float), b.to_numpy(float), equal_nan=True, rtol=0, atol=1e-12), (w.id, col)
            else:
                assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), (w.id, col)


def test_cli_errors_are_one_line(cli, tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text('[series]\nid = "s"\ntitle = "S"\n[[waves]]\nid = "w1"\nfile = "gone.csv"\nstart = "2024-01-01"\nend = "2024-01-02"\n'
                   '[[questions]]\nid = "q"\ncategories = [{ id = "yes" }]\nwaves.w1 = { column = "a", codes = { yes = [1] } }\n', encoding="utf-8")
    r = cli("series", bad, "--out", tmp_path / "out")
    assert r.code == 2 and r.err.startswith("error: ") and "gone.csv not found" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    r = cli("series", tmp_path / "nope.toml")
    assert r.code == 2 and "series file not found" in r.err


def test_cli_prints_per_wave_tables_with_labels(cli, tmp_path):
    doc = _doc(tmp_path, {"w1": _frame(np.random.default_rng(5), 80)})
    doc["questions"][0]["categories"] = [{"id": "yes", "en": "Support", "ru": "Поддерживаю"}, {"id": "no", "en": "Oppose"},
                                         {"id": "dk", "en": "Hard to say", "kind": "hard_to_say"}]
    import json as _json

    path = tmp_path / "s.toml"
    path.write_text(_toml(doc), encoding="utf-8")
    r = cli("series", path, "--lang", "ru")
    assert r.code == 0 and "Поддерживаю" in r.out and "Hard to say" in r.out
    r = cli("series", path, "--json")
    assert r.code == 0 and _json.loads(r.out)["format"] == "sottovoce-series/1"


def test_cli_warnings_and_file_lines_follow_lang_ru(cli, tmp_path):
    """With --lang ru the estimators' warnings and the closing lines were English."""
    df = _frame(np.random.default_rng(5), 80)
    df.loc[df["sex"] == "F", "a"] = 1  # every woman says yes: a share of 1, which the estimator warns about
    path = tmp_path / "s.toml"
    path.write_text(_toml(_doc(tmp_path, {"w1": df})), encoding="utf-8")
    r = cli("series", path, "--lang", "ru", "--out", tmp_path / "out")
    assert r.code == 0, r.err
    warned = [x for x in r.err.splitlines() if x.startswith("warning: ")]
    assert warned and all(x.startswith("warning: волна «w1»: ") and "оценка равна 0 или 1; интервал Уилсона по" in x for x in warned), warned
    assert "отчёт: " in r.out and "результаты: " in r.out and "report: " not in r.out
    en = cli("series", path, "--out", tmp_path / "out-en")
    assert "estimate is 0 or 1" in en.err and "report: " in en.out


def test_russian_series_numbers_use_a_decimal_comma(tmp_path):
    """The series tables wrote 59.3 in Russian where the study report writes 59,3."""
    from sottovoce.survey_series_report import build_series_view, text_tables

    rng = np.random.default_rng(3)
    res = series(_doc(tmp_path, {"w1": _frame(rng, 120)}))
    share = next(r["estimate"] for r in res.rows() if not r["group"] and r["question"] == "q")
    en, ru = f"{100 * share:.1f}", f"{100 * share:.1f}".replace(".", ",")
    assert ru in text_tables(res.data, "ru") and en not in text_tables(res.data, "ru")
    assert en in text_tables(res.data, "en")
    cells = [c["est"] + c["ci"] for sec in build_series_view(res.data, "ru")["questions"] for row in sec["table"] for c in row["cells"]]
    assert cells and all("." not in c for c in cells) and any("," in c for c in cells), cells


def _toml(doc: dict) -> str:
    """A minimal TOML writer for the test documents (tables, arrays of tables, inline values)."""
    import json as _json

    def val(v):  # noqa: ANN001, ANN202
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {val(x)}' for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return _json.dumps(v, ensure_ascii=False)

    lines = []
    for key in ("series", "report"):
        if key in doc:
            lines.append(f"[{key}]")
            lines += [f'"{k}" = {val(v)}' for k, v in doc[key].items()]
    for key in ("waves", "questions", "derive"):
        for item in doc.get(key, []):
            lines.append(f"[[{key}]]")
            lines += [f'"{k}" = {val(v)}' for k, v in item.items()]
    return "\n".join(lines) + "\n"
