"""The report in a real browser (Debian chromium via Playwright): renders without console errors,
requests nothing but itself, shows every section, and prints to PDF. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

import sottovoce as sv

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTIONS = ("headline", "compare", "groups", "nonresponse", "weighting", "methods", "caveats")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "out"
    res = sv.analyze(ROOT / "examples" / "demo" / "study.toml", out_dir=out)
    ru = out.parent / "report-ru.html"
    ru.write_text(res.report_html("ru"), encoding="utf-8")
    return {"en": out / "report.html", "ru": ru}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_report_renders_offline_without_errors(browser, reports, lang):
    path = reports[lang]
    url = path.resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 1400})

    def route(r):
        requests.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url, wait_until="load")
    assert requests == [url], requests
    assert errors == []
    assert page.evaluate("document.documentElement.lang") == lang
    for section in SECTIONS:
        box = page.locator(f"#{section}")
        assert box.count() == 1 and box.is_visible(), section
        assert box.inner_text().strip(), section
    # charts are inline SVG with a name for screen readers and a caption
    charts = page.locator("svg.chart")
    assert charts.count() >= 3
    for i in range(charts.count()):
        assert charts.nth(i).get_attribute("role") == "img" and charts.nth(i).get_attribute("aria-label")
        assert charts.nth(i).bounding_box()["width"] > 300
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{lang}.png"), full_page=True)
    # print: the PDF renders, data tables inside <details> are shown, navigation hidden
    page.emulate_media(media="print")
    assert page.locator("nav").is_hidden()
    assert page.locator("#groups details table").first.is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    (ARTIFACTS / f"report-{lang}.pdf").write_bytes(pdf)
    assert requests == [url]
    page.close()
