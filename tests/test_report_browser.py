"""The report in a real browser (Debian chromium via Playwright): renders without console errors,
requests nothing but itself, shows every section, and prints to PDF. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import pytest

import sottovoce as sv
from browser_support import ROOT, assert_charts, open_offline, print_pdf, screenshot

SECTIONS = ("headline", "compare", "groups", "nonresponse", "weighting", "methods", "caveats")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "out"
    res = sv.analyze(ROOT / "examples" / "demo" / "study.toml", out_dir=out)
    ru = out.parent / "report-ru.html"
    ru.write_text(res.report_html("ru"), encoding="utf-8")
    return {"en": out / "report.html", "ru": ru}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_report_renders_offline_without_errors(browser, reports, lang):
    opened = open_offline(browser, reports[lang])
    page = opened.page
    assert opened.loaded_alone(), (opened.requests, opened.errors)
    assert page.evaluate("document.documentElement.lang") == lang
    for section in SECTIONS:
        box = page.locator(f"#{section}")
        assert box.count() == 1 and box.is_visible(), section
        assert box.inner_text().strip(), section
    # charts are inline SVG with a name for screen readers and a caption
    assert_charts(page, 3, 300)
    screenshot(page, f"report-{lang}")
    # print: the PDF renders, data tables inside <details> are shown, navigation hidden
    print_pdf(page, f"report-{lang}")
    assert page.locator("#groups details table").first.is_visible()
    assert opened.loaded_alone(), (opened.requests, opened.errors)
    page.close()
