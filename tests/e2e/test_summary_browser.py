"""The analysts' summary (``python -m keys summary``) as the analyst's browser shows it:
Debian's Chromium, headless, JavaScript off, opening the folder from disk (issue 16).

The 30-report fixture of tests/keys is decrypted for real and summarized in Russian. Every
page the index links opens without a request leaving the folder (only ``file:`` URLs),
the photo's thumbnail is the copy without metadata and it loads; screenshots of the index,
a list and the photo's report page at desktop width and at print size (A4, print media)
go to build/screenshots/summary/. In print the navigation is hidden.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey
from playwright.sync_api import sync_playwright

from keys.findings.build import summarize
from testkit.browser import launch
from tests.keys.findings_fixture import Fixture, build

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SKRYNKA_SCREENSHOTS") or ROOT / "build" / "screenshots") / "summary"
DESKTOP = {"width": 1280, "height": 900}
A4 = {"width": 794, "height": 1123}  # 210 x 297 mm at 96 CSS px per inch


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fixture, Path]:
    tmp = tmp_path_factory.mktemp("summary")
    fixture = build(tmp, PrivateKey.generate())
    reports = fixture.decrypt(tmp / "reports")
    summarize(reports, lang="ru")
    return fixture, reports / "summary"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Any, path: Path, size: dict[str, int], print_media: bool = False
              ) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(java_script_enabled=False, viewport=size)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    if print_media:
        page.emulate_media(media="print")
    page.goto(path.as_uri(), wait_until="load")
    return context, page, requests


def test_summary_in_a_browser_with_javascript_off(browser: Any, made: tuple[Fixture, Path]
                                                   ) -> None:
    fixture, summary = made
    rid = fixture.rid(4)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"index": summary / "index.html", "list": summary / "lists" / "all.html",
             "report": summary / "reports" / f"{rid}.html"}
    for name, path in pages.items():
        for label, size, printed in (("desktop", DESKTOP, False), ("print", A4, True)):
            context, page, requests = open_page(browser, path, size, printed)
            try:
                assert page.locator("html").get_attribute("lang") == "ru"
                assert [u for u in requests if not u.startswith("file://")] == []
                nav = page.evaluate(
                    "[...document.querySelectorAll('nav')].map(n => getComputedStyle(n).display)")
                assert all(d == "none" for d in nav) if printed else "none" not in nav
                page.screenshot(path=SHOTS / f"{label}-{name}.png", full_page=True)
            finally:
                context.close()
    context, page, requests = open_page(browser, pages["report"], DESKTOP)
    try:
        img = page.locator("img").first
        assert img.get_attribute("src") == f"../shared/{rid}/photo.png"
        assert page.evaluate("document.images[0].complete && document.images[0].naturalWidth"
                             ) == 128  # the shared copy, decoded by the browser
        assert any(u.endswith(f"/shared/{rid}/photo.png") for u in requests)
        assert not any(u.endswith(f"/{rid}/photo.png") and "/shared/" not in u
                       for u in requests)  # the original is linked, never loaded
    finally:
        context.close()
