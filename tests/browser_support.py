"""Shared setup of the tests that drive Debian chromium through Playwright (marked ``browser``).

The ``browser`` fixture (tests/conftest.py) launches chromium once per module from here; a report
page is opened offline with :func:`open_offline`, the survey server's pages in a context that may
reach loopback only (:func:`loopback_context`). Screenshots and PDFs go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = ("127.0.0.1", "localhost")


def launch() -> Iterator[Any]:
    """A headless Debian chromium, closed afterwards; skips when chromium or Playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian chromium not installed at /usr/bin/chromium (scripts/setup-system.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@dataclass
class OfflinePage:
    """A page that may load only its own file: every request it made and every error it logged."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def loaded_alone(self) -> bool:
        """Nothing but the file itself was requested, and the page logged no error."""
        return self.requests == [self.url] and self.errors == []


def open_offline(browser: Any, path: Path) -> OfflinePage:
    """Open a self-contained HTML file with every other request refused and console errors recorded."""
    url = path.resolve().as_uri()
    out = OfflinePage(browser.new_page(viewport={"width": 1100, "height": 1400}), url)

    def route(r: Any) -> None:
        out.requests.append(r.request.url)
        r.continue_() if r.request.url == url else r.abort()

    out.page.route("**/*", route)
    out.page.on("console", lambda m: out.errors.append(m.text) if m.type == "error" else None)
    out.page.on("pageerror", lambda e: out.errors.append(str(e)))
    out.page.on("requestfailed", lambda r: out.errors.append(f"request failed: {r.url}"))
    out.page.goto(url, wait_until="load")
    return out


def loopback_context(browser: Any, js: bool, hosts: list[str] | None = None) -> Any:
    """A browser context whose requests may reach loopback only (each host asked for goes to ``hosts``)."""
    context = browser.new_context(java_script_enabled=js)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if hosts is not None:
            hosts.append(host)
        route.continue_() if host in LOOPBACK else route.abort()

    context.route("**/*", guard)
    return context


def watch_sizes(page: Any) -> dict[str, set[int]]:
    """The lengths an observer of the encrypted traffic would measure: survey pages and posted forms."""
    sizes: dict[str, set[int]] = {"page": set(), "form": set()}

    def seen(response: Any) -> None:
        req = response.request
        if req.method == "POST":
            sizes["form"].add(len(req.post_data_buffer or b""))
        elif urlsplit(req.url).path == "/":
            sizes["page"].add(len(response.body()))

    page.on("response", seen)
    return sizes


def assert_charts(page: Any, count: int, min_width: float, exact: bool = False) -> None:
    """``count`` (or more) inline SVG charts, each named for screen readers and at least ``min_width`` wide."""
    charts = page.locator("svg.chart")
    assert charts.count() == count if exact else charts.count() >= count, charts.count()
    for i in range(charts.count()):
        assert charts.nth(i).get_attribute("role") == "img" and charts.nth(i).get_attribute("aria-label")
        assert charts.nth(i).bounding_box()["width"] > min_width


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def print_pdf(page: Any, name: str) -> bytes:
    """Print the page to A4 (print media: navigation hidden), keep the PDF as an artifact and return it."""
    page.emulate_media(media="print")
    assert page.locator("nav").is_hidden()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.pdf").write_bytes(pdf)
    return pdf
