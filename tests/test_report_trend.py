"""The study's optional ``[trend]`` table: polls pooled by the pipeline into ``results.json`` and
shown as the report's "Trend across polls" section in English and Russian."""

from __future__ import annotations

import json
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

import sottovoce as sv
from sottovoce.report import render_report
from sottovoce.report.text import STRINGS
from test_report import _allowed_latin, chart_text, visible

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"

# Three pollsters with different levels (about −5, 0 and +5 points around one trend).
POLLS = """pollster,start,end,n,yes,no,hard_to_say,source
Levada,2022-03-01,2022-03-05,1600,68,22,10,test
Levada,2022-04-01,2022-04-05,1600,70,20,10,test
Levada,2022-05-01,2022-05-05,1600,71,19,10,test
Levada,2022-06-01,2022-06-05,1600,67,23,10,test
FOM,2022-03-10,2022-03-12,1500,63,27,10,test
FOM,2022-04-10,2022-04-12,1500,65,25,10,test
FOM,2022-05-10,2022-05-12,1500,64,26,10,test
VCIOM,2022-03-15,2022-03-16,1600,74,18,8,test
VCIOM,2022-04-20,2022-04-21,1600,75,17,8,test
VCIOM,2022-06-10,2022-06-11,1600,73,19,8,test
"""

TREND = '''
[trend]
polls = ["polls.csv"]
events = { "2022-04-15" = "mobilization" }
'''


def _study(folder: Path, trend: str = TREND, polls: str = POLLS) -> Path:
    """The demo study (unchanged data) plus a [trend] table and a polls CSV, in ``folder``."""
    shutil.copytree(DEMO, folder)
    (folder / "polls.csv").write_text(polls, encoding="utf-8")
    study = folder / "study.toml"
    study.write_text(study.read_text(encoding="utf-8") + trend, encoding="utf-8")
    return study


def _fmt1(x: float, lang: str) -> str:  # one decimal, rounded half up, computed here independently
    s = str(Decimal(repr(100 * x)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return s.replace(".", ",") if lang == "ru" else s


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("trend")
    study = _study(base / "study")
    out = base / "out"
    res = sv.analyze(study, out_dir=out)
    return res, out, base / "study"


def test_results_json_has_the_fitted_trend_and_the_chart(run):
    res, out, folder = run
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    tr = data["trend"]
    assert tr["status"] == "done" and tr["files"] == ["polls.csv"]
    direct = sv.fit_trend(folder / "polls.csv", events={"2022-04-15": "mobilization"})
    assert tr["estimate"] == pytest.approx(direct.estimate, rel=1e-9)
    assert {h["house"]: h["effect"] for h in tr["houses"]} == pytest.approx(direct.houses.set_index("house")["effect"].to_dict(), rel=1e-9)
    effects = {h["house"]: h["effect"] for h in tr["houses"]}
    assert effects["FOM"] < -0.03 and effects["VCIOM"] > 0.03 and abs(sum(effects.values())) < 1e-9  # sum-to-zero
    assert [t["event"] for t in tr["tests"]] == ["mobilization"]
    svg = (out / "charts" / "trend.svg").read_text(encoding="utf-8")
    assert svg == tr["chart_svgs"]["en"] and "<svg" in svg and set(tr["chart_svgs"]) == {"en", "ru"}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_report_shows_the_trend_section(run, lang):
    res, out, _ = run
    html = (out / "report.html").read_text(encoding="utf-8") if lang == "en" else res.report_html("ru")
    S = STRINGS[lang]
    page = visible(html)
    sec = page.text("trend")
    assert sec.startswith(S["sec_trend"])
    assert f'<a href="#trend">{S["sec_trend"]}</a>' in html
    tr = res.to_dict()["trend"]
    latest = f"{_fmt1(tr['estimate'], lang)}% "
    assert latest in sec and _fmt1(tr["ci"][0], lang) in sec and _fmt1(tr["ci"][1], lang) in sec
    for h in tr["houses"]:
        sign = "+" if h["effect"] >= 0 else "−"
        assert f"{h['house']} {h['polls']} {sign}{_fmt1(abs(h['effect']), lang)}" in sec, h
    assert "mobilization" in sec
    # the chart is inline, with a caption, and the page still loads nothing from outside
    part = html[html.index('<section id="trend">'):html.index('<section id="nonresponse">')]
    assert part.count("<svg") == 1 and part.count("<figcaption>") == 1 and S["chart_trend_alt"] in sec
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html and "purl.org" not in html
    assert html.count("<figcaption>") == html.count("<svg")
    assert "Jackman 2005" in page.text("methods")


def test_russian_report_with_the_trend_has_no_untranslated_english(run):
    res, _, _ = run
    data = res.to_dict()
    html = res.report_html("ru")
    text = visible(html).text() + " " + chart_text(html)  # the charts' words too, the trend chart's included
    for key, english in STRINGS["en"].items():
        fixed = [p.strip() for p in re.split(r"\{[^}]*\}", english) if len(re.findall(r"[A-Za-z]{2,}", p)) >= 2]
        for piece in fixed:
            assert piece not in text, (key, piece)
    text = re.sub(r"\b[0-9a-f]{16}…", "", text)
    # pollster names and event labels are data, shown as given; Jackman is a cited author; the
    # p-value is written "p" in Russian too (as in the list experiment's design-test caveat)
    data_words = {w for h in data["trend"]["houses"] for w in re.findall(r"[A-Za-zÀ-ÿ]+", h["house"])}
    data_words |= {w for e in data["trend"]["events"] for w in re.findall(r"[A-Za-zÀ-ÿ]+", e["label"])}
    latin = set(re.findall(r"[A-Za-zÀ-ÿ]+", text)) - _allowed_latin(data) - data_words - {"Jackman", "p"}
    assert not latin, sorted(latin)
    assert "Динамика по опросам" in text and "Эффекты опросных компаний" in text


def _chart_texts(html: str) -> list[str]:
    """The words drawn in the trend section's chart: matplotlib's SVG keeps each text as a comment."""
    part = html[html.index('<section id="trend">'):html.index('<section id="nonresponse">')]
    svg = part[part.index("<svg"):part.index("</svg>")]
    return [x.replace("&gt;", ">").replace("&lt;", "<") for x in re.findall(r"<!-- (.*?) -->", svg)]


def test_the_trend_chart_is_drawn_in_the_report_language(run, tmp_path, cli):
    """The section's text was Russian but its chart English (title, axis, legend, months)."""
    res, out, _ = run
    data = res.to_dict()
    houses = {w for h in data["trend"]["houses"] for w in re.findall(r"[A-Za-z]+", h["house"])}
    events = {w for e in data["trend"]["events"] for w in re.findall(r"[A-Za-z]+", e["label"])}
    en = _chart_texts((out / "report.html").read_text(encoding="utf-8"))
    assert STRINGS["en"]["trend_chart_line"] in en and "share, % of all respondents" in en
    for html in (res.report_html("ru"), _rerendered(cli, out, tmp_path)):
        ru = _chart_texts(html)
        assert STRINGS["ru"]["trend_chart_title"] in ru and "доля, % всех респондентов" in ru, ru
        latin = {w for x in ru for w in re.findall(r"[A-Za-z]+", x)} - houses - events - {"z"}
        assert not latin, sorted(latin)
        assert any(re.search(r"[а-я]", x) for x in ru if x not in STRINGS["ru"].values())  # month ticks too
    res.save(tmp_path / "ru-out", "ru")  # the chart file follows the report's language too
    assert (tmp_path / "ru-out" / "charts" / "trend.svg").read_text(encoding="utf-8") == data["trend"]["chart_svgs"]["ru"]


def _rerendered(cli, out: Path, tmp_path: Path) -> str:
    r = cli("report", out / "results.json", "--out", tmp_path / "ru.html", "--lang", "ru")
    assert r.code == 0, r.err
    return (tmp_path / "ru.html").read_text(encoding="utf-8")


def test_no_trend_table_no_section(run):
    res, _, _ = run
    data = {k: v for k, v in res.to_dict().items() if k != "trend"}
    for lang in ("en", "ru"):
        html = render_report(data, lang)
        assert 'id="trend"' not in html and "#trend" not in html


def test_a_trend_that_cannot_be_fitted_is_a_caveat_not_a_crash(tmp_path):
    polls = POLLS + "Romir,2022-05-20,2022-05-22,1000,60,30,10,test\n"  # one poll: its house effect is not identified
    study = _study(tmp_path / "s", polls=polls)
    res = sv.analyze(study, out_dir=tmp_path / "out")
    tr = res.to_dict()["trend"]
    assert tr["status"] == "failed" and "Romir" in tr["message"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "could not be estimated" in visible(html).text("caveats") and "Romir" in visible(html).text("trend")
    assert not (tmp_path / "out" / "charts" / "trend.svg").exists()


@pytest.mark.parametrize("trend, key", [
    ('\n[trend]\npolz = ["polls.csv"]\n', "trend.polz"),
    ('\n[trend]\nevents = { "2022-04-15" = "x" }\n', "trend.polls"),
    ('\n[trend]\npolls = ["polls.csv"]\nreference = "Levada"\nsum_to_zero = true\n', "trend.sum_to_zero"),
    ('\n[trend]\npolls = ["polls.csv"]\nevents = { "15.04.2022" = "mobilization" }\n', "trend.events.15.04.2022"),
    ('\n[trend]\npolls = ["polls.csv"]\nunit = "month"\n', "trend.unit"),
    ('\n[trend]\npolls = ["missing.csv"]\n', "trend.polls"),
])
def test_bad_trend_table_exits_2_with_one_line(tmp_path, cli, trend, key):
    study = _study(tmp_path / "s", trend=trend)
    res = cli("analyze", study, "--out", tmp_path / "out")
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and key in lines[0], res.err
    assert not (tmp_path / "out").exists()


# One pollster, two wordings (the second reads 8 points higher): the study's [trend] applies the
# same default as `sottovoce trend` and `sottovoce series` (dynamics.identify) and says so.
ONE_POLLSTER = """pollster,start,end,n,yes,no,wording,source
Chronicles,2022-03-01,2022-03-05,1600,66,24,old,test
Chronicles,2022-04-01,2022-04-05,1600,67,23,old,test
Chronicles,2022-05-01,2022-05-05,1600,58,30,new,test
Chronicles,2022-06-01,2022-06-05,1600,57,31,new,test
Chronicles,2022-07-01,2022-07-05,1600,56,32,new,test
Chronicles,2022-08-01,2022-08-05,1600,55,33,new,test
"""


def test_one_pollster_study_trend_uses_the_main_wording(tmp_path):
    study = _study(tmp_path / "s", trend='\n[trend]\npolls = ["polls.csv"]\n', polls=ONE_POLLSTER)
    res = sv.analyze(study, out_dir=tmp_path / "out")
    tr = res.to_dict()["trend"]
    assert tr["status"] == "done" and tr["reference"] == "Chronicles / new"
    assert abs(tr["estimate"] - 0.55) < 0.015  # on the scale of the wording asked now, not between the two
    en, ru = visible(res.report_html("en")).text("trend"), visible(res.report_html("ru")).text("trend")
    assert "the pollster's main wording" in en and "основная формулировка исследователя" in ru
    sum_zero = _study(tmp_path / "z", trend='\n[trend]\npolls = ["polls.csv"]\nsum_to_zero = true\n', polls=ONE_POLLSTER)
    tz = sv.analyze(sum_zero, out_dir=tmp_path / "zout").to_dict()["trend"]
    assert tz["reference"] is None and tz["estimate"] > tr["estimate"] + 0.02
