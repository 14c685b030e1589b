"""The report's words and numbers: headline equals results.json, rounding and Russian plurals,
small-cell suppression, and a Russian report free of untranslated English."""

from __future__ import annotations

import copy
import re
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sottovoce as sv
from sottovoce.report import build_view, headline, headline_numbers, render_report
from sottovoce.report.text import STRINGS, plural_ru, round_half_up

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "study.toml"


class _Text(HTMLParser):
    """Visible text of a page (no <style>, no SVG internals), and the text of one element by id."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.parts: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self.open_ids: list[tuple[str, int]] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        self.depth += 1
        if tag in ("style", "svg", "script"):
            self.skip += 1
        ident = dict(attrs).get("id")
        if ident:
            self.open_ids.append((ident, self.depth))
            self.by_id[ident] = []

    def handle_endtag(self, tag):
        if tag in ("style", "svg", "script"):
            self.skip -= 1
        while self.open_ids and self.open_ids[-1][1] == self.depth:
            self.open_ids.pop()
        self.depth -= 1

    def handle_data(self, data):
        if self.skip:
            return
        self.parts.append(data)
        for ident, _ in self.open_ids:
            self.by_id[ident].append(data)

    def text(self, ident: str | None = None) -> str:
        return " ".join(" ".join(self.by_id[ident] if ident else self.parts).split())


def visible(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    res = sv.analyze(DEMO, out_dir=out)
    return res, (out / "report.html").read_text(encoding="utf-8"), res.report_html("ru")


def test_headline_numbers_in_the_html_equal_results_json(demo):
    res, html_en, html_ru = demo
    data = res.to_dict()
    qs = {q["id"]: q for q in data["questions"]}
    comp = min((c for c in data["comparisons"] if c.get("se") is not None), key=lambda c: c["se"])
    direct, indirect = qs[comp["direct"]]["result"], qs[comp["indirect"]]["result"]

    def whole(x):  # percent, rounded half up, computed here independently of the report code
        return int(Decimal(repr(100 * x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def moe(r):
        return whole((r["ci"][1] - r["ci"][0]) / 2)

    expected = [f"{whole(direct['estimate'])}%", f"(±{moe(direct)})", f"{whole(indirect['estimate'])}%", f"(±{moe(indirect)})",
                f"{whole(comp['estimate'])} ", f"(±{moe(comp)})"]
    for html in (html_en, html_ru):
        head = visible(html).text("headline")
        pos = 0
        for piece in expected:  # in this order
            found = head.find(piece, pos)
            assert found >= 0, (piece, head)
            pos = found + len(piece)
    h = headline_numbers(data)
    assert (h["direct_pct"], h["indirect_pct"], h["gap_points"]) == (whole(direct["estimate"]), whole(indirect["estimate"]), whole(comp["estimate"]))
    assert h["verdict"] == ("hidden" if comp["ci"][0] > 0 else "reverse" if comp["ci"][1] < 0 else "none")


def test_every_section_is_there_in_both_languages(demo):
    _, html_en, html_ru = demo
    for html in (html_en, html_ru):
        page = visible(html)
        for section in ("headline", "compare", "groups", "nonresponse", "weighting", "methods", "caveats", "simulated"):
            assert page.text(section), section
        assert html.count("<svg") >= 3 and html.count("<figcaption>") == html.count("<svg")
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
        assert "https://" not in html and "<script" not in html and "<link" not in html and "@import" not in html
    en = visible(html_en)
    assert "Imai (2011)" in en.text("methods") and "Warner (1965)" in en.text("methods") and "AAPOR" in en.text("methods")
    assert "simulated" in en.text("caveats")


def _allowed_latin(data: dict) -> set[str]:
    """Latin words a Russian report may show: data values, ids, codes, and names of people/methods."""
    allowed = {"sottovoce", "results", "json", "csv", "SHA", "AAPOR", "Standard", "Definitions", "RR", "COOP", "REF", "CON",
               "et", "al", "Imai", "Blair", "Zhou", "Aronow", "Coppock", "Crawford", "Green", "Droitcour", "Glynn", "Warner",
               "Boruch", "Greenberg", "Yu", "Tian", "Tang", "Jann", "Jerke", "Krumpal", "Deville", "Särndal", "Lumley", "Kish",
               "Manski", "dim", "lm", "nls", "ml"}
    names = ("id", "by", "level", "label", "variable", "category", "measures", "direct", "indirect")

    def walk(x, key=None):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key in names:  # names from the data, shown as they are
            allowed.update(re.findall(r"[A-Za-zÀ-ÿ]+", x))
    walk(data)
    allowed.update(w for s in data.get("subgroups", []) for w in re.findall(r"[A-Za-zÀ-ÿ]+", s))
    return allowed


def chart_text(html: str) -> str:
    """The words drawn in the page's charts: matplotlib's SVG keeps each text as a comment."""
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    words = [w for svg in svgs for w in re.findall(r"<!-- (.*?) -->", svg)]
    return " ".join(w.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&") for w in words)


def test_russian_report_has_no_untranslated_english(demo):
    """Neither in its text nor in the words its charts draw."""
    res, _, html_ru = demo
    assert chart_text(html_ru)  # the charts' words are there to check
    text = visible(html_ru).text() + " " + chart_text(html_ru)
    for key, english in STRINGS["en"].items():
        fixed = [p.strip() for p in re.split(r"\{[^}]*\}", english) if len(re.findall(r"[A-Za-z]{2,}", p)) >= 2]
        for piece in fixed:
            assert piece not in text, (key, piece)
    text = re.sub(r"\b[0-9a-f]{16}…", "", text)  # the study file's hash in the footer
    latin = set(re.findall(r"[A-Za-zÀ-ÿ]+", text)) - _allowed_latin(res.to_dict())
    assert not latin, sorted(latin)
    assert "Главный вывод" in text and "Оговорки" in text


def test_russian_numbers_use_a_decimal_comma(demo):
    res, _, html_ru = demo
    w = res.to_dict()["weighting"]
    deff = f"{round_half_up(w['kish_deff'], 2):.2f}"
    assert deff.replace(".", ",") in visible(html_ru).text("weighting")
    assert deff not in visible(html_ru).text("weighting")


def _results(direct=0.68, d_ci=(0.65, 0.71), indirect=0.53, i_ci=(0.46, 0.60), gap=0.15, g_ci=(0.08, 0.22), n=1000, groups=()):
    return {
        "format": "sottovoce-results/1", "language": "en", "min_cell": 30, "subgroups": ["region"], "n_respondents": n,
        "study": {"id": "t", "title": {"en": "T"}, "simulated": False},
        "questions": [
            {"id": "d", "type": "direct", "status": "done", "yes_labels": [{"en": "Yes", "ru": "Да"}],
             "result": {"estimate": direct, "ci": list(d_ci), "se": 0.01, "n": n, "method": "direct", "groups": list(groups)}},
            {"id": "l", "type": "list", "status": "done", "method": "dim", "measures": "d",
             "result": {"estimate": indirect, "ci": list(i_ci), "se": 0.03, "n": n, "method": "list-dim"}},
        ],
        "comparisons": [{"direct": "d", "indirect": "l", "estimate": gap, "ci": list(g_ci), "se": 0.03, "n": n}],
        "weighting": {"status": "none"}, "nonresponse": {"status": "none"}, "skipped": [],
    }


def test_the_issue_example_reads_as_written():
    assert headline(_results()) == [
        "Asked directly, 68% said “Yes” (±3).",
        "Asked indirectly (list experiment), 53% (±7): fear plausibly hides about 15 percentage points (±7).",
    ]
    assert headline(_results(), "ru") == [
        "На прямой вопрос 68% ответили «Да» (±3).",
        "При косвенном вопросе (списочный эксперимент) — 53% (±7): страх, по всей видимости, скрывает около 15 процентных пунктов (±7).",
    ]


def test_wording_when_the_gap_is_not_significant_or_reversed():
    flat = _results(indirect=0.64, i_ci=(0.57, 0.71), gap=0.04, g_ci=(-0.03, 0.11))
    assert headline(flat)[1] == ("Asked indirectly (list experiment), 64% (±7): the difference, direct minus indirect, is +4 percentage points (±7), "
                                 "within the margin of error, so this design shows no clear sign that fear hides answers.")
    assert "разница (прямой минус косвенный) составляет +4 процентных пункта (±7) и не выходит за пределы погрешности" in headline(flat, "ru")[1]
    rev = _results(indirect=0.75, i_ci=(0.68, 0.82), gap=-0.07, g_ci=(-0.12, -0.02))
    assert headline(rev)[1].endswith("more people gave the sensitive answer this way than when asked directly, by about 7 percentage points (±5).")
    assert headline(rev, "ru")[1].endswith("примерно на 7 процентных пунктов (±5).")
    one = _results(gap=0.21, g_ci=(0.15, 0.27))
    assert "около 21 процентного пункта" in headline(one, "ru")[1]
    assert "about 21 percentage points" in headline(one)[1]


def test_a_negative_difference_keeps_its_sign():
    """The issue's pilot: the table said −90.5 while the headline said "The difference (90 percentage points …)"."""
    neg = _results(direct=0.43, d_ci=(0.12, 0.79), indirect=0.60, i_ci=(0.2, 0.9), gap=-0.17, g_ci=(-0.9, 0.56))
    assert "is −17 percentage points (±73)" in headline(neg)[1]
    assert "составляет −17 процентных пунктов (±73)" in headline(neg, "ru")[1]


def test_half_points_round_away_from_zero():
    r = _results(direct=0.525, d_ci=(0.50, 0.55), gap=0.025, g_ci=(0.005, 0.045))
    h = headline(r)
    assert h[0] == "Asked directly, 53% said “Yes” (±3)."  # Python's round(52.5) would give 52
    assert "about 3 percentage points (±2)" in h[1]


def test_small_cells_are_suppressed_in_tables_and_charts():
    groups = [{"by": "region", "level": "North", "label": "North", "estimate": 0.61, "ci": [0.55, 0.67], "se": 0.03, "n": 400},
              {"by": "region", "level": "Islands", "label": "Islands", "estimate": 0.123456, "ci": [0.01, 0.4], "se": 0.1, "n": 12}]
    html = render_report(_results(groups=groups))
    page = visible(html).text("groups")
    assert "North" in page and "61.0" in page
    assert "Islands" in page and "fewer than 30 respondents — not shown" in page
    assert "12.3" not in html and "0.123456" not in html
    assert "1 group had fewer than 30 respondents and is not shown." in visible(html).text("caveats")
    assert "В 1 группе меньше 30 респондентов, она не показана." in visible(render_report(_results(groups=groups), "ru")).text("caveats")
    r21 = _results(groups=groups)
    r21["min_cell"] = 21
    groups[0]["n"] = 20
    assert "меньше 21 респондента — не показано" in visible(render_report(r21, "ru")).text("groups")
    assert "В 2 группах меньше 21 респондента, они не показаны." in visible(render_report(r21, "ru")).text("caveats")
    small = _results(n=20)
    assert headline(small) == ["Every estimate rests on fewer than 30 respondents, too few to publish, so there is no finding to state."]
    no_indirect = _results()
    no_indirect["comparisons"] = []
    assert headline(no_indirect) == ["Asked directly, 68% said “Yes” (±3).",
                                     "No direct question is linked to an indirect one, so there is no comparison to headline."]


def test_suppressed_rows_keep_their_n_in_the_terminal_and_the_report():
    """A suppressed group shows its respondent count (as results.json and results.csv do) in the
    terminal tables and the report; the n column used to be blank on exactly those rows."""
    import io

    from rich.console import Console

    from sottovoce.cli._study_tables import print_tables

    groups = [{"by": "region", "level": "North", "label": "North", "estimate": 0.61, "ci": [0.55, 0.67], "se": 0.03, "n": 400},
              {"by": "region", "level": "Islands", "label": "Islands", "estimate": 0.123456, "ci": [0.01, 0.4], "se": 0.1, "n": 12}]
    for lang, word in (("en", "suppressed"), ("ru", "скрыто")):
        buf = io.StringIO()
        print_tables(Console(file=buf, width=200), _results(groups=groups), lang=lang)
        line = next(x for x in buf.getvalue().splitlines() if "Islands" in x)
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert cells[2] == word and cells[4] == "12", line
        rows = [r for g in build_view(_results(groups=groups), lang)["groups"] for r in g["rows"] if r["label"] == "Islands"]
        assert rows and all(r["suppressed"] and r["n"] == 12 for r in rows)
    html = render_report(_results(groups=groups))
    row = re.search(r"<tr>(?:(?!</tr>).)*Islands(?:(?!</tr>).)*</tr>", html)
    assert row and re.search(r'<td class="num">12</td></tr>$', row.group(0)), row


def test_caveats_are_generated_from_the_results():
    r = _results()
    r["questions"][1]["design_test"] = {"p_value": 0.012}
    r["weighting"] = {"status": "done", "calibrated": True, "n": 1000, "effective_n": 400.0, "kish_deff": 2.5, "weight_max_ratio": 9.3, "diagnostics": []}
    r["study"]["simulated"] = True
    cav = visible(render_report(r)).text("caveats")
    assert "failed the design-effect test (p = 0.012)" in cav
    assert "up to 9.3 times the mean" in cav
    assert "(самый большой в 9,3 раза больше среднего)" in visible(render_report(r, "ru")).text("caveats")
    assert "the design effect is 2.50, so the 1000 interviews count like 400" in cav
    assert "The data are simulated" in cav
    cav_ru = visible(render_report(r, "ru")).text("caveats")
    assert "не прошёл тест на дизайн-эффект (p = 0,012)" in cav_ru


def test_few_effective_degrees_of_freedom_get_a_caveat_in_both_languages():
    """Issue 17: an interval on fewer than 20 effective (Satterthwaite) df is named with its df;
    design df, or effective df of 20 and more, give no caveat."""
    r = _results()
    assert "effective degrees of freedom" not in visible(render_report(r)).text("caveats")
    r["questions"][0]["result"].update(df=41.0, df_name="design: PSUs − strata")
    r["questions"][1]["result"].update(df=25.0, df_name="effective: Satterthwaite over strata (design: 41 PSUs − strata)")
    assert "effective degrees of freedom" not in visible(render_report(r)).text("caveats")
    r["questions"][1]["result"]["df"] = 12.34
    r["questions"][0]["result"]["groups"] = [{"by": "region", "level": "N", "estimate": 0.6, "ci": [0.5, 0.7], "n": 300,
                                               "df": 6.04, "df_name": "effective: Satterthwaite over strata"}]
    cav = visible(render_report(r)).text("caveats")
    assert "The intervals of d, l rest on few effective degrees of freedom (as few as 6.0)" in cav
    cav_ru = visible(render_report(r, "ru")).text("caveats")
    assert "Интервалы для d, l опираются на малое число эффективных степеней свободы (вплоть до 6,0)" in cav_ru


def test_ratios_in_words():
    from sottovoce.report.text import times

    assert [times(x, "en") for x in (1, 2.34, 5)] == ["1 time", "2.3 times", "5 times"]
    assert [times(x, "ru") for x in (1, 2, 2.34, 5, 22)] == ["1 раз", "2 раза", "2,3 раза", "5 раз", "22 раза"]


@given(st.integers(min_value=0, max_value=10_000))
def test_russian_plural_forms(n):
    form = plural_ru(n, "пункт", "пункта", "пунктов")
    last, last2 = n % 10, n % 100
    if 11 <= last2 <= 14:
        assert form == "пунктов"
    elif last == 1:
        assert form == "пункт"
    elif last in (2, 3, 4):
        assert form == "пункта"
    else:
        assert form == "пунктов"


@given(st.floats(min_value=-1000, max_value=1000, allow_nan=False), st.integers(min_value=0, max_value=3))
def test_round_half_up_is_decimal_rounding(x, digits):
    expected = float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    assert round_half_up(x, digits) == expected
    assert abs(round_half_up(x, digits) - x) <= 0.5 * 10 ** -digits + 1e-9


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.floats(0.001, 0.2), st.floats(0.001, 0.2))
def test_headline_verdict_follows_the_interval(d, i, se_d, se_g):
    gap = d - i
    ci = (gap - 1.96 * se_g, gap + 1.96 * se_g)
    r = _results(direct=d, d_ci=(d - 1.96 * se_d, d + 1.96 * se_d), indirect=i, i_ci=(i - 0.05, i + 0.05), gap=gap, g_ci=ci)
    h = headline(r)
    lo, hi = max(ci[0], -1), min(ci[1], 1)
    if lo > 0:
        assert "fear plausibly hides" in h[1]
    elif hi < 0:
        assert "more people gave the sensitive answer" in h[1]
    else:
        assert "within the margin of error" in h[1]
    sign = "+" if round_half_up(100 * gap) > 0 else "−" if round_half_up(100 * gap) < 0 else ""
    assert f"{sign}{abs(int(round_half_up(100 * gap)))} percentage point" in h[1] or lo > 0 or hi < 0
    assert len(headline(copy.deepcopy(r), "ru")) == 2


def test_labels_from_the_study_file_name_groups_in_each_language():
    groups = [{"by": "region", "level": "North", "label": "North", "estimate": 0.61, "ci": [0.55, 0.67], "se": 0.03, "n": 400}]
    r = _results(groups=groups)
    r["labels"] = {"region": {"en": "Region", "ru": "Регион"}, "region=North": {"en": "The North", "ru": "Север"}}
    en, ru = visible(render_report(r)).text("groups"), visible(render_report(r, "ru")).text("groups")
    assert "Region" in en and "The North" in en
    assert "Регион" in ru and "Север" in ru and "North" not in ru


def _payload(d, d_se, i, i_se, gap_ci, n, g_est, g_se, g_n):
    z = 1.96
    r = _results(direct=d, d_ci=(d - z * d_se, d + z * d_se), indirect=i, i_ci=(i - z * i_se, i + z * i_se),
                 gap=d - i, g_ci=gap_ci, n=n,
                 groups=[{"by": "region", "level": "North", "label": "North", "estimate": g_est, "se": g_se,
                          "ci": [g_est - z * g_se, g_est + z * g_se], "n": g_n}])
    r["questions"][1]["result"]["groups"] = [{"by": "region", "level": "North", "label": "North", "estimate": 1 - g_est,
                                               "se": g_se, "ci": [1 - g_est - z * g_se, 1 - g_est + z * g_se], "n": g_n}]
    return r


_share = st.floats(-0.6, 1.6)
_se = st.floats(0.001, 0.9)


@settings(max_examples=25, deadline=None)
@given(_share, _se, _share, _se, st.floats(-0.9, 0.9), _se, st.integers(1, 3000), _share, _se, st.integers(1, 3000))
def test_no_published_share_interval_leaves_0_100(d, d_se, i, i_se, gap, g_se, n, g_est, gg_se, g_n):
    """Whatever the estimators hand over (points outside [0, 1] included), every interval the
    headline, the report, results.csv and the terminal tables publish lies inside [0, 100]% for a
    share and ±100 points for a difference; an impossible point is only ever shown flagged."""
    import io

    from rich.console import Console

    from sottovoce.cli._study_tables import print_tables
    from sottovoce.pipeline import tidy_rows

    d = min(max(d, 0.0), 1.0)  # a direct share is always possible; the indirect one need not be
    r = _payload(d, d_se, i, i_se, (gap - 1.96 * g_se, gap + 1.96 * g_se), n, g_est, gg_se, g_n)
    for row in tidy_rows(r):
        if row["ci_low"] is None:
            continue
        lo_b, hi_b = (-1, 1) if row["type"] == "gap" else (0, 1)
        assert lo_b <= row["ci_low"] <= row["ci_high"] <= hi_b, row
        assert row["out_of_range"] == (not lo_b <= row["estimate"] <= hi_b)
    for lang in ("en", "ru"):
        for sentence in headline(r, lang):
            shown = [float(x.replace(",", ".").replace("−", "-")) for x in re.findall(r"−?\d+(?:[.,]\d+)?(?=%)", sentence)]
            if any(not 0 <= x <= 100 for x in shown):
                assert "0–100%" in sentence, sentence  # only the impossible-estimate sentence
        view = build_view(r, lang)
        for row in view["compare_rows"] + view["gap_rows"] + [x for g in view["groups"] for x in g["rows"]]:
            if row["suppressed"]:
                continue
            lo, hi = (float(x.replace(",", ".").replace("−", "-")) for x in row["ci"].split(" – "))
            bound = (-100, 100) if row["kind"] == "gap" else (0, 100)
            assert bound[0] <= lo <= hi <= bound[1], row
            est = float(row["estimate"].replace(",", ".").replace("−", "-"))
            if row["kind"] != "gap" and not 0 <= est <= 100:
                assert row["flag"], row
        buf = io.StringIO()
        print_tables(Console(file=buf, width=200), r, lang=lang)
        for line in buf.getvalue().splitlines():
            for lo, hi in re.findall(r"(−?\d+[.,]\d) – (−?\d+[.,]\d)", line):
                lo_f, hi_f = (float(x.replace(",", ".").replace("−", "-")) for x in (lo, hi))
                bound = (-100, 100) if ("gap" in line or "разница" in line) else (0, 100)
                assert bound[0] <= lo_f <= hi_f <= bound[1], line


def test_an_estimate_without_an_interval_is_shown_flagged_not_hidden_or_headlined():
    """The result contract gives ``ci = None`` when a moment estimate's whole t interval lies outside
    [0, 1] (an impossible estimate): shown flagged with "–" for its interval, never in the headline,
    never called "suppressed"."""
    import io

    from rich.console import Console

    from sottovoce.cli._study_tables import print_tables
    from sottovoce.pipeline import tidy_rows

    r = _results(indirect=1.6, i_ci=(0, 1), gap=-0.92, g_ci=(-1, -0.8))
    r["questions"][1]["result"].update(ci=None, out_of_range=True)
    r["comparisons"][0].update(ci=None, out_of_range=True)
    head = headline(r)
    assert "the estimate is 160%, outside 0–100%" in head[1] and "not a finding" in head[1]
    rows = build_view(r)["compare_rows"]
    lst = next(x for x in rows if x["kind"] == "list")
    assert not lst["suppressed"] and lst["ci"] == "–" and lst["flag"] and lst["estimate"] == "160.0"
    csv_row = next(x for x in tidy_rows(r) if x["question"] == "l")
    assert csv_row["ci_low"] is None and csv_row["out_of_range"] and not csv_row["suppressed"]
    buf = io.StringIO()
    print_tables(Console(file=buf, width=200), r)
    assert "160.0 (impossible)" in buf.getvalue() and "not a finding" in buf.getvalue()
