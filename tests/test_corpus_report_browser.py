"""The corpus report (issue 18) in a real browser (Debian chromium via Playwright), in English and
Russian: loads offline without console errors, requests nothing but itself, shows every section
with its charts, and prints to PDF. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import ROOT, assert_charts, open_offline, print_pdf, screenshot
from sottovoce.corpus_analysis import analyze_corpus
from sottovoce.report.corpus import render_corpus_report
from sottovoce.report.corpus_text import CORPUS_STRINGS

SECTIONS = ("headline", "corpus", "trend", "series", "wordings", "events", "agreement", "audit", "methods", "caveats")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus-browser")
    payload, trend = analyze_corpus(ROOT / "examples" / "polls" / "war-support.csv", events=ROOT / "examples" / "polls" / "events.toml")
    paths = {}
    for lang in ("en", "ru"):
        paths[lang] = out / f"corpus-report.{lang}.html"
        paths[lang].write_text(render_corpus_report(payload, lang, trend), encoding="utf-8")
    return paths, payload


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_corpus_report_renders_offline_in_chromium(browser, pages, lang):
    paths, payload = pages
    opened = open_offline(browser, paths[lang])
    page = opened.page
    assert opened.loaded_alone(), (opened.requests, opened.errors)
    assert page.evaluate("document.documentElement.lang") == lang
    S = CORPUS_STRINGS[lang]
    for section in SECTIONS:
        box = page.locator(f"#{section}")
        assert box.count() == 1 and box.is_visible(), section
        assert box.inner_text().strip(), section
    assert S["sec_wordings"] in page.locator("#wordings h2").inner_text()
    # the trend, the pollsters' panels and the house effects: inline SVG, named, full width
    assert_charts(page, 3, 500, exact=True)
    # one row per pollster × wording, one test result per event, one row per pair of houses
    assert page.locator("#wordings-table tbody tr").count() == len(payload["wordings"])
    assert page.locator("#events .event-result").count() == len(payload["events"])
    assert page.locator("#agreement tbody tr").count() == len(payload["agreement"])
    # the monthly table opens and shows every month
    page.locator("#trend details summary").click()
    assert page.locator("#monthly tbody tr").count() == len(payload["monthly"])
    screenshot(page, f"corpus-report-{lang}")
    print_pdf(page, f"corpus-report-{lang}")
    assert opened.loaded_alone(), (opened.requests, opened.errors)
    page.close()


def test_nothing_outside_the_report_is_needed(pages):
    """Self-contained: no link, script, image or stylesheet points outside the file."""
    paths, _ = pages
    html = Path(paths["en"]).read_text(encoding="utf-8")
    for marker in ("<script", "<link", "src=\"http", "url(http", "<img"):
        assert marker not in html
