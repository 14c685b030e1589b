"""The corpus report (issue 18): analysis of the cited poll corpus and its English/Russian pages.

Checked against independent paths: a house difference equals the effect in a refit with the other
house as reference; Holm p-values equal statsmodels'; the bounds equal Manski's closed form; the
analysis works on any corpus (synthetic ones with other pollsters and wordings)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.corpus_analysis import analyze_corpus, read_events
from sottovoce.dynamics import fit_trend
from sottovoce.dynamics.model import holm
from sottovoce.errors import InputError
from sottovoce.report.corpus import corpus_view, render_corpus_report
from sottovoce.report.corpus_text import CORPUS_STRINGS
from test_report import visible

ROOT = Path(__file__).resolve().parents[1]
POLLS = ROOT / "examples" / "polls"
CORPUS = POLLS / "war-support.csv"
EVENTS = POLLS / "events.toml"


@pytest.fixture(scope="module")
def shipped():
    payload, trend = analyze_corpus(CORPUS, events=EVENTS)
    return payload, trend


# -- a synthetic corpus: any pollsters, any wordings --------------------------------------------
WORDINGS_HEADER = "wording_id,pollster,text_original,text_en,options,hard_to_say_offered,refused_offered,first_use,last_use,source_url,note\n"
CORPUS_HEADER = ("id,pollster,wording,start,end,mode,n,yes,support_definitely,support_rather,no,hard_to_say,refused,"
                 "hard_to_say_or_refused,deff,moe,response_rate,citation_url,citation_title,citation_date,citation_kind,dates_url,note\n")


def synthetic(folder: Path, seed: int = 1, rate: bool = True) -> Path:
    """Three pollsters, one with two wordings, monthly polls over two years, planted house effects."""
    rng = np.random.default_rng(seed)
    houses = [("Alpha", "alpha-a", +0.06, "phone"), ("Alpha", "alpha-b", 0.0, "phone"), ("Beta", "beta-x", -0.05, "online"),
              ("Gamma Polls", "gamma-q", -0.01, "face-to-face")]
    rows, wrows = [], []
    for k, (p, w, eff, mode) in enumerate(houses):
        starts = pd.date_range("2022-03-01", "2024-02-01", freq="MS") + pd.Timedelta(days=3 * k)
        for s in starts[k % 2::2]:
            n = 1200
            truth = 0.6 - 0.05 * (s.year - 2022) + eff
            yes = int(round(100 * rng.normal(truth, np.sqrt(truth * (1 - truth) / n))))
            no = 100 - yes - 8
            rr = "12" if rate and p == "Beta" else ""
            rows.append(f"{w}-{s:%Y-%m},{p},{w},{s:%Y-%m-%d},{s + pd.Timedelta(days=4):%Y-%m-%d},{mode},{n},{yes},,,{no},8,,,,,{rr},"
                        f"https://example.org/{w}/{s:%Y-%m},Title {w} {s:%Y-%m},,pollster,,\n")
        first = starts[k % 2::2].min().date().isoformat()
        last = starts[k % 2::2].max().date().isoformat()
        wrows.append(f"{w},{p},Вы поддерживаете это ({k})?,Do you support it ({k})?,support;no;hard_to_say,{'yes' if k else 'no'},unknown,"
                     f"{first},{last},https://example.org/{w},\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "polls.csv").write_text(CORPUS_HEADER + "".join(rows), encoding="utf-8")
    (folder / "wordings.csv").write_text(WORDINGS_HEADER + "".join(wrows), encoding="utf-8")
    (folder / "events.toml").write_text('[[event]]\ndate = "2023-01-10"\nen = "Event one"\nru = "Событие один"\n\n'
                                        '[[event]]\ndate = "2026-01-01"\nen = "After the polls"\nru = "После опросов"\n', encoding="utf-8")
    return folder / "polls.csv"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = synthetic(tmp_path_factory.mktemp("synthetic") / "c")
    payload, trend = analyze_corpus(path, events=path.with_name("events.toml"))
    return path, payload, trend


# -- the estimators: independent checks ----------------------------------------------------------
@pytest.mark.parametrize("bands", ["sigma", "plugin"])
def test_house_difference_equals_the_effect_with_the_other_house_as_reference(synth, bands):
    """effect(a) − effect(b) under sum-to-zero is a's effect when b is the reference, SE included."""
    path, _, _ = synth
    polls = pd.read_csv(path)
    base = fit_trend(polls, bands=bands)
    diffs = base.house_differences().set_index(["house_a", "house_b"])
    for ref in base.houses["house"]:
        other = fit_trend(polls, bands=bands, reference=ref).houses.set_index("house")
        for a in base.houses["house"]:
            if a == ref:
                continue
            key, sign = ((a, ref), 1) if (a, ref) in diffs.index else ((ref, a), -1)
            assert sign * diffs.loc[key, "difference"] == pytest.approx(other.loc[a, "effect"], abs=1e-9)
            assert diffs.loc[key, "se"] == pytest.approx(other.loc[a, "se"], rel=1e-5)


def test_house_differences_have_every_pair_inside_minus_one_one(shipped):
    payload, trend = shipped
    h = len(trend.houses)
    d = trend.house_differences()
    assert len(d) == h * (h - 1) // 2 == len(payload["agreement"])
    assert ((d["low"] >= -1) & (d["high"] <= 1) & (d["low"] <= d["difference"]) & (d["difference"] <= d["high"])).all()
    assert ((d["p_value"] > 0) & (d["p_value"] <= 1)).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=0, max_size=12))
def test_holm_matches_statsmodels(p):
    from statsmodels.stats.multitest import multipletests

    adj = holm(p)
    if not p:
        assert len(adj) == 0
        return
    ref = multipletests(p, method="holm")[1]
    assert np.allclose(adj, ref, atol=1e-12)
    assert (adj >= np.asarray(p) - 1e-15).all() and (adj <= 1).all()


def test_events_outside_the_polls_are_reported_not_fatal(synth):
    path, payload, trend = synth
    ev = {e["date"]: e for e in payload["events"]}
    assert "outside the polls' date range" in ev["2026-01-01"]["test"]["failed"]
    t = ev["2023-01-10"]["test"]
    assert 0 < t["p_value"] <= 1 and t["p_holm"] == pytest.approx(t["p_value"]) and t["tests_in_family"] == 1
    assert -1 <= t["low"] <= t["shift"] <= t["high"] <= 1
    with pytest.raises(InputError, match="outside the polls' date range"):
        fit_trend(pd.read_csv(path), events={"2026-01-01": "late"})  # the default still refuses


def test_a_house_change_across_an_event_is_its_own_polls_difference(synth):
    path, payload, trend = synth
    polls = trend.polls
    ev = next(e for e in payload["events"] if e["date"] == "2023-01-10")
    assert ev["changes"], "every house polls within 120 days of the event"
    for ch in ev["changes"]:
        mine = polls[polls["house"] == ch["house"]].set_index(polls[polls["house"] == ch["house"]]["date"].dt.strftime("%Y-%m-%d"))
        b, a = mine.loc[ch["before"]], mine.loc[ch["after"]]
        assert ch["change"] == pytest.approx(a["y"] - b["y"])
        assert ch["se"] == pytest.approx(np.hypot(a["se"], b["se"]))
        assert ch["before"] < ev["date"] <= ch["after"]


def test_bounds_are_manskis_closed_form(synth):
    """[r·yes, 1 − r·no] at the published rate (Beta publishes 12%), hypothetical rates otherwise."""
    path, payload, _ = synth
    polls = pd.read_csv(path)
    for a in payload["audit"]:
        last = polls[polls["pollster"] == a["pollster"]].sort_values("start").iloc[-1]
        y, no = last["yes"] / 100, last["no"] / 100
        assert a["item"]["lower"] == pytest.approx(y) and a["item"]["upper"] == pytest.approx(1 - no)
        rates = [u["response_rate"] for u in a["unit"]]
        assert rates == ([0.12] if a["pollster"] == "Beta" else [0.1, 0.3])
        for u in a["unit"]:
            assert u["lower"] == pytest.approx(u["response_rate"] * y) and u["upper"] == pytest.approx(1 - u["response_rate"] * no)
            assert 0 <= u["ci"][0] <= u["lower"] <= u["upper"] <= u["ci"][1] <= 1


def test_wordings_report_what_each_house_published_and_its_effect(synth):
    path, payload, trend = synth
    polls = pd.read_csv(path)
    rows = {w["house"]: w for w in payload["wordings"]}
    assert set(rows) == set(trend.houses["house"]) and len(rows) == 4  # Alpha's two wordings are two houses
    a = rows["Alpha / alpha-a"]
    mine = polls[polls["wording"] == "alpha-a"]
    assert a["polls"] == len(mine) and a["mean_yes"] == pytest.approx(mine["yes"].mean())
    y2022 = mine[mine["start"].str.startswith("2022")]["yes"]
    assert a["years"][0] == {"year": 2022, "polls": len(y2022), "min": y2022.min(), "max": y2022.max()}
    assert a["hard_to_say_offered"] == "no" and a["options"] == ["support", "no", "hard_to_say"]
    # the planted order of house effects is recovered (alpha-a +6, gamma -1, beta -5 points)
    eff = {w["wording"]: w["effect"] for w in payload["wordings"]}
    assert eff["alpha-a"] > eff["gamma-q"] > eff["beta-x"]


def test_monthly_shares_cover_every_month_inside_zero_one(shipped):
    payload, trend = shipped
    months = [m["month"] for m in payload["monthly"]]
    first, last = trend.trend["date"].min(), trend.trend["date"].max()
    assert months == [str(p) for p in pd.period_range(first, last, freq="M")]
    for m in payload["monthly"]:
        assert 0 <= m["low"] <= m["share"] <= m["high"] <= 1
    assert payload["trend"]["ci"][0] >= 0 and payload["trend"]["ci"][1] <= 1
    json.dumps(payload, allow_nan=False)  # strict JSON


# -- the report ------------------------------------------------------------------------------------
def test_every_string_is_translated():
    en, ru = CORPUS_STRINGS["en"], CORPUS_STRINGS["ru"]
    assert set(en) == set(ru)
    same = [k for k in en if en[k] == ru[k]]
    assert not same, same
    for k in en:  # the same placeholders in both languages
        assert set(re.findall(r"{(\w+)}", en[k])) == set(re.findall(r"{(\w+)}", ru[k])), k


# names of methods' authors, the tool, file and column names, and the letters of formulas
ALLOWED_LATIN = {"sottovoce", "audit", "csv", "wordings", "response_rate", "p", "n", "z", "deff", "Jackman", "de", "Jong",
                 "Hamilton", "Box", "Tiao", "Holm", "Manski", "Imbens"}


@pytest.mark.parametrize("which", ["shipped", "synth"])
def test_russian_page_has_no_untranslated_english(which, shipped, synth):
    payload, trend = shipped if which == "shipped" else synth[1:]
    html = render_corpus_report(payload, "ru", trend)
    page = visible(html)
    text = page.text()
    # quoted wordings in English (where the sources give no Russian text) are data, marked lang="en"
    quoted = " ".join(re.findall(r'<q lang="en">(.*?)</q>', html))
    words = lambda s: set(re.findall(r"[A-Za-z_]+", s))  # noqa: E731
    allowed = ALLOWED_LATIN | words(quoted) | words(payload["corpus"]["file"]) | words(" ".join(payload["corpus"]["pollsters"]))
    assert not words(text) - allowed, sorted(words(text) - allowed)
    for key in ("sec_trend", "sec_wordings", "sec_events", "sec_agreement", "sec_audit"):
        assert CORPUS_STRINGS["ru"][key] in text


def test_report_numbers_equal_the_payload(shipped):
    payload, trend = shipped
    for lang in ("en", "ru"):
        view = corpus_view(payload, lang, None)
        tr = payload["trend"]
        p = f"{100 * tr['estimate']:.1f}"
        assert (p if lang == "en" else p.replace(".", ",")) in view["headline"][0]
        # every pollster × wording is in the wordings table and the agreement table has every pair
        assert len(view["wording_rows"]) == len(payload["wordings"])
        assert len(view["agreement"]) == len(payload["agreement"])
        for row in view["monthly"]:
            lo, hi = (float(x.replace(",", ".")) for x in row["ci"].split("–"))
            assert 0 <= lo <= hi <= 100


def test_trend_chart_is_translated(shipped):
    """matplotlib's SVG keeps each drawn text as a comment: the Russian chart draws only Russian words."""
    payload, trend = shipped
    texts = {lang: re.findall(r"<!-- (.*?) -->", corpus_view(payload, lang, trend)["trend_chart"]) for lang in ("en", "ru")}
    assert CORPUS_STRINGS["en"]["chart_ylabel"] in texts["en"] and CORPUS_STRINGS["ru"]["chart_ylabel"] in texts["ru"]
    assert "Частичная мобилизация" in texts["ru"] and "Partial mobilisation" in texts["en"]
    latin = {w for t in texts["ru"] for w in re.findall(r"[A-Za-z]+", t.replace("&gt;", ">"))}
    names = {w for p in payload["corpus"]["pollsters"] for w in re.findall(r"[A-Za-z]+", p)}
    assert latin <= {"z"} | names, latin  # the formula letter; pollsters whose names are Latin in Russian too
    from sottovoce.report.corpus_text import MONTHS

    assert not set(MONTHS["en"]) & set(texts["ru"])  # month ticks, when the span shows any, are Russian


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_writes_both_reports_and_the_results(cli, tmp_path, synth):
    path, _, _ = synth
    out = tmp_path / "out"
    r = cli("corpus-report", str(path), "--events", str(path.with_name("events.toml")), "--out", str(out))
    assert r.code == 0, r.err
    assert "latest (" in r.out
    for name in ("corpus-report.en.html", "corpus-report.ru.html", "corpus-results.json"):
        assert (out / name).exists()
    data = json.loads((out / "corpus-results.json").read_text(encoding="utf-8"))
    assert data["kind"] == "corpus-report" and data["corpus"]["n_pollsters"] == 3
    r = cli("corpus-report", str(path), "--out", str(tmp_path / "j"), "--json", "--lang", "ru")
    assert r.code == 0 and json.loads(r.out)["corpus"]["n_polls"] == data["corpus"]["n_polls"]
    assert not (tmp_path / "j" / "corpus-report.en.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--lang", "de"], "unknown report language"),
    (["--events", "missing.toml"], "events file not found"),
    (["--window", "0"], "--window 0 must be at least 1"),
])
def test_cli_errors_are_one_line(cli, tmp_path, synth, args, message):
    path, _, _ = synth
    r = cli("corpus-report", str(path), "--out", str(tmp_path / "o"), *args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_cli_never_writes_over_an_input(cli, tmp_path, synth):
    path, _, _ = synth
    folder = tmp_path / "c"
    shutil.copytree(path.parent, folder)
    json_in = folder / "corpus-results.json"
    json_in.write_text("{}", encoding="utf-8")
    r = cli("corpus-report", str(folder / "polls.csv"), "--events", str(json_in), "--out", str(folder))
    assert r.code == 2 and json_in.read_text(encoding="utf-8") == "{}"


def test_events_file_errors_name_the_file_and_fix(tmp_path):
    bad = tmp_path / "e.toml"
    bad.write_text('[[event]]\ndate = "21.09.2022"\nen = "x"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"e.toml \[\[event\]\] 1: date '21.09.2022' is not a date; write date = \"YYYY-MM-DD\""):
        read_events(bad)
    bad.write_text('[[event]]\ndate = "2022-09-21"\n', encoding="utf-8")
    with pytest.raises(InputError, match="'en' is missing"):
        read_events(bad)
    assert [e["date"] for e in read_events(EVENTS)] == sorted(e["date"] for e in read_events(EVENTS))


def test_a_bad_corpus_is_one_clear_error(tmp_path, synth):
    path, _, _ = synth
    folder = tmp_path / "bad"
    shutil.copytree(path.parent, folder)
    text = (folder / "polls.csv").read_text(encoding="utf-8").replace(",pollster,,\n", ",maybe,,\n", 1)
    (folder / "polls.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="citation_kind"):
        analyze_corpus(folder / "polls.csv")


# -- Monte Carlo: the new interval ----------------------------------------------------------------
@pytest.mark.slow
def test_house_difference_intervals_cover_the_planted_differences():
    """95% intervals of effect(a) − effect(b) cover the planted differences (+4, +5, +1 points)
    93-97% of the time (sigma by ML, its uncertainty in the intervals)."""
    from test_dynamics_mc import _series

    rng = np.random.default_rng(18)
    planted = {("A", "B"): 0.04, ("A", "C"): 0.05, ("B", "C"): 0.01}
    hits = total = 0
    for _ in range(400):
        df, _ = _series(rng)
        d = fit_trend(df).house_differences().set_index(["house_a", "house_b"])
        for key, v in planted.items():
            hits += bool(d.loc[key, "low"] <= v <= d.loc[key, "high"])
            total += 1
    coverage = hits / total
    print(f"house-difference interval coverage {coverage:.4f} over {total}")
    assert 0.93 <= coverage <= 0.97


def test_trend_on_the_corpus_from_a_fresh_clone(cli, tmp_path, monkeypatch):
    """`sottovoce trend examples/polls/war-support.csv` with no ../shared: the latest pooled share
    with its interval inside [0, 1], in the text and in --json."""
    clone = tmp_path / "clone"
    shutil.copytree(POLLS, clone / "examples" / "polls")
    assert not (tmp_path / "shared").exists()
    monkeypatch.chdir(clone)
    r = cli("trend", "examples/polls/war-support.csv", "--json")
    assert r.code == 0, r.err
    res = json.loads(r.out)
    assert 0 <= res["ci"][0] <= res["estimate"] <= res["ci"][1] <= 1 and not res["out_of_range"]
    r = cli("trend", "examples/polls/war-support.csv")
    assert r.code == 0 and f"latest ({res['last_grid_date']}): {100 * res['estimate']:.1f}% [{100 * res['ci'][0]:.1f}, " in r.out


def test_feature_contrasts_are_linear_combinations_of_house_effects(synth):
    """A feature's contrast is the mean effect of one group minus the other's; with one house per
    group it is exactly that pair's difference (same SE)."""
    _, payload, trend = synth
    eff = trend.houses.set_index("house")["effect"]
    diffs = trend.house_differences().set_index(["house_a", "house_b"])
    for f in payload["features"]:
        want = eff[f["houses_a"]].mean() - eff[f["houses_b"]].mean()
        assert f["estimate"] == pytest.approx(want, abs=1e-12)
        assert -1 <= f["low"] <= f["estimate"] <= f["high"] <= 1
        if len(f["houses_a"]) == len(f["houses_b"]) == 1:
            a, b = f["houses_a"][0], f["houses_b"][0]
            key, sign = ((a, b), 1) if (a, b) in diffs.index else ((b, a), -1)
            assert sign * diffs.loc[key, "difference"] == pytest.approx(f["estimate"]) and diffs.loc[key, "se"] == pytest.approx(f["se"])
    modes = [f for f in payload["features"] if f["feature"] == "mode"]
    assert {(f["group_a"], f["group_b"]) for f in modes} == {("face-to-face", "online"), ("face-to-face", "phone"), ("online", "phone")}
    with pytest.raises(InputError, match="not in the trend"):
        trend.house_contrast({"Nobody / x": 1.0})


@pytest.fixture(scope="module")
def two_identifications(synth):
    path, _, trend = synth
    polls = pd.read_csv(path)
    return trend, fit_trend(polls, reference="Beta")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=4, max_size=4))
def test_contrasts_summing_to_zero_do_not_depend_on_the_identification(two_identifications, w):
    """Sum-to-zero house effects and effects relative to a reference house differ by a constant, so
    any contrast whose weights sum to zero has the same estimate and SE under both."""
    a, b = two_identifications
    houses = a.houses["house"].tolist()
    c = np.asarray(w) - np.mean(w)
    weights = dict(zip(houses, c, strict=True))
    x, y = a.house_contrast(weights), b.house_contrast(weights)
    assert x["estimate"] == pytest.approx(y["estimate"], abs=1e-9)
    assert x["se"] == pytest.approx(y["se"], rel=1e-5, abs=1e-12)
    assert -1 <= x["low"] <= x["high"] <= 1
