"""Audit of published polls: the examples, the numbers, plain sentences, bad input through the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sottovoce.audit import audit_poll, load_poll
from sottovoce.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "published-polls").glob("*.toml"))

BASE = """
pollster = "Test pollster"
title = "t"
sample_size = {n}
{extra}
source = "s"

[shares]
yes = {yes}
no = {no}
hard_to_say = {dk}
source = "s"

[sources.s]
publisher = "p"
title = "t"
date = "2022-03-01"
url = "https://example.org"
"""


def poll_file(tmp_path, n="1000", yes=59, no=22, dk=19, extra="response_rate = 0.09") -> Path:
    path = tmp_path / "poll.toml"
    path.write_text(BASE.format(n=n, yes=yes, no=no, dk=dk, extra=extra))
    return path


def test_published_examples_exist_and_audit_cleanly(cli):
    assert len(EXAMPLES) >= 6
    pollsters = set()
    with_indirect = 0
    for path in EXAMPLES:
        spec = load_poll(path)
        pollsters.add(spec["pollster"])
        with_indirect += "indirect" in spec
        for src in spec["sources"].values():
            assert src["url"].startswith("https://")
        res = cli("audit", path, "--json")
        assert res.code == 0, (path, res.err)
        d = res.json()
        assert 0 <= d["bounds"]["lower"] <= d["estimate"] <= d["bounds"]["upper"] <= 1
        assert d["sentences"]
    assert len(pollsters) >= 4 and with_indirect >= 1


def test_audit_numbers(tmp_path):
    res = audit_poll(poll_file(tmp_path, extra='response_rate = 0.09\nresponse_rate_source = "s"\ndesign_effect = 2.0'))
    z = 1.959963984540054
    assert res.margin_of_error["moe"] == pytest.approx(z * math.sqrt(2 * 0.59 * 0.41 / 1000))
    assert res.bounds["lower"] == pytest.approx(0.09 * 0.59)
    assert res.bounds["upper"] == pytest.approx(1 - 0.09 * 0.22)
    assert res.sensitivity["tipping_share"] == pytest.approx((0.5 - 0.09 * 0.59) / (1 - 0.09 * 0.81))
    curve = {round(c["assumed_share"], 12): c["estimate"] for c in res.sensitivity["curve"]}
    assert curve[round(0.59 / 0.81, 12)] == pytest.approx(0.59 / 0.81)  # passes through the complete case
    assert any(s.startswith("Unit nonresponse: 9.0% of the eligible people gave an interview") and "anywhere from 5% to 98%" in s
               for s in res.sentences)


def test_published_moe_implies_design_effect(tmp_path):
    res = audit_poll(poll_file(tmp_path, n="1600", extra='published_moe = 3.4\npublished_moe_source = "s"'))
    deff = (0.034 / 1.959963984540054) ** 2 * 1600 / 0.25
    assert res.margin_of_error["design_effect"] == pytest.approx(deff)
    assert res.bounds["assumed_response_rate_scenarios"][0]["assumed_response_rate"] == 0.1


def test_indirect_gap(tmp_path):
    path = poll_file(tmp_path)
    path.write_text(path.read_text() + '\n[indirect]\nmethod = "list experiment"\nestimate = 53\nse = 3\nsource = "s"\n')
    res = audit_poll(path)
    assert res.indirect["gap"] == pytest.approx(-0.06)
    assert res.indirect["gap_se"] == pytest.approx(math.sqrt(0.03**2 + res.se**2))


def test_missing_citation_is_an_error(tmp_path):
    path = poll_file(tmp_path, extra="design_effect = 1.8")
    text = path.read_text().replace('source = "s"\n\n[shares]', '\n[shares]')
    path.write_text(text)
    with pytest.raises(InputError, match="citation"):
        load_poll(path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": '""'}, "sample_size' is missing"),
        ({"yes": 70, "no": 30, "dk": 10}, "more than 100%"),
        ({"extra": 'response_rate = 1.4\nresponse_rate_source = "s"'}, r"\(0, 1\]"),
        ({"extra": 'response_rate = 0\nresponse_rate_source = "s"'}, r"\(0, 1\]"),
    ],
)
def test_cli_bad_poll_files(cli, tmp_path, kwargs, message):
    import re

    path = poll_file(tmp_path, **kwargs)
    res = cli("audit", path)
    assert res.code == 2
    assert res.err.startswith("error:") and re.search(message, res.err)
    assert len(res.err.strip().splitlines()) == 1


def test_cli_sample_size_absent_entirely(cli, tmp_path):
    path = poll_file(tmp_path)
    path.write_text(path.read_text().replace("sample_size = 1000\n", ""))
    res = cli("audit", path)
    assert res.code == 2 and "sample_size" in res.err


def test_rounding_is_not_an_error(tmp_path):
    res = audit_poll(poll_file(tmp_path, yes=73, no=14, dk=14))  # 101% as published by FOM
    assert res.estimate == pytest.approx(0.73)


def test_cli_audit_text_output(cli):
    res = cli("audit", EXAMPLES[0])
    assert res.code == 0 and "sensitivity" in res.out


LEVADA = ROOT / "examples" / "published-polls" / "levada-2022-04.toml"


def _expit(x):
    return 1 / (1 + math.exp(-x))


def test_levada_keeps_unit_and_item_nonresponse_apart():
    """The issue's case: no response rate published. The item-nonresponse range (74–81%) is said
    to be about respondents; the propensity-ratio bound is given under the same hypothetical
    response rates as the worst case (not at a response rate of 100%, where it collapsed onto
    the item-nonresponse range)."""
    res = audit_poll(LEVADA)
    item = [s for s in res.sentences if s.startswith("Item nonresponse")]
    unit = [s for s in res.sentences if s.startswith("Unit nonresponse")]
    assert len(item) == 1 and "between 74% and 81%" in item[0] and "among respondents" in item[0]
    assert len(unit) == 1 and "no response rate was published" in unit[0]
    assert "from 7% to 98%" in unit[0] and "from 22% to 94%" in unit[0]
    # propensity ratio 2 at a hypothetical 10% (or 30%) response rate, computed in closed form
    p = 0.74 / 0.93
    lo, hi = _expit(math.log(p / (1 - p)) - math.log(2)), _expit(math.log(p / (1 - p)) + math.log(2))
    gamma = next(s for s in res.sentences if s.startswith("If supporters were at most 2 times"))
    assert f"between {100 * lo:.0f}% and {100 * hi:.0f}%" in gamma
    assert "between 66% and 89%" in gamma
    assert "hypothetical 10% or 30% response rate" in gamma and "74% and 81%" not in gamma
    g2 = [a for a in res.assumption_bounds if a["gamma"] == 2.0]
    assert {a["response_rate"] for a in g2} == {0.1, 0.3}
    assert all(a["lower"] == pytest.approx(lo) and a["upper"] == pytest.approx(hi) for a in g2)
    # every sentence with a range says which nonresponse it is about
    for s in res.sentences:
        if "between" in s or "anywhere from" in s:
            assert any(k in s for k in ("Item nonresponse", "Unit nonresponse", "an interview and a yes-or-no answer")), s


def test_published_response_rate_gives_the_propensity_bound_at_that_rate(tmp_path):
    res = audit_poll(poll_file(tmp_path, extra='response_rate = 0.09\nresponse_rate_source = "s"'))
    g2 = [a for a in res.assumption_bounds if a["gamma"] == 2.0]
    assert [a["response_rate"] for a in g2] == [0.09]
    s = next(s for s in res.sentences if "2 times" in s)
    assert "at the 9.0% response rate" in s


def test_cli_audit_never_prints_a_duplicate_point(cli):
    """`80%→80%, 80%→80%` in the issue: the complete-case point and the 80% grid point."""
    import re

    for path in EXAMPLES:
        res = cli("audit", path)
        assert res.code == 0
        lines = [ln for ln in res.out.splitlines() if "→" in ln]
        assert lines, path
        for ln in lines:
            xs = re.findall(r"(\d+)%(?: \([^)]*\))?→", ln)
            assert len(xs) == len(set(xs)) >= 5, (path, ln)
    out = cli("audit", LEVADA).out
    assert "80% (like those who answered)→80%" in out and "80%→80%" not in out
    assert "sensitivity to item nonresponse" in out and "at hypothetical response rates" in out


def test_audit_result_is_on_the_result_contract():
    """JSON without NaN, the sentences and warnings in the one display (text and HTML alike)."""
    import html as html_mod
    import json

    res = audit_poll(LEVADA)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["sentences"] == list(res.sentences) and d["scale"] == "share" and d["ci_method"].startswith("t")
    assert d["estimate"] == pytest.approx(0.74) and 0 <= d["ci"][0] < 0.74 < d["ci"][1] <= 1
    text, page = res.summary(), html_mod.unescape(res._repr_html_())
    for s in res.sentences:
        assert s in text and s in page
    for w in res.warnings:
        assert w in text and w in page
