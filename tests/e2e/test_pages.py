"""Every page and error page, in be/ru/en, as a voter's browser shows it (issue 15, part 5).

For each page of testkit/pages.py, Debian's Chromium, headless, with JavaScript off and a
360 px wide phone viewport, gets it from a real gunicorn under its onion name; the test
checks the status and language, that nothing comes from another origin, that the page
does not scroll sideways, and saves a full-page screenshot to build/screenshots/360/
(``SKRYNKA_SCREENSHOTS`` to move it). Then axe-core (the engine axe-playwright-python
ships) checks that same response at 360 px and at 1280 px: no serious or critical
violation. axe needs scripts, and a JavaScript-off page runs none, so it runs in a second
page that is served the first one's bytes (status, headers and body); the pages carry no
``<script>`` or ``<noscript>``, so both pages render the same document.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

from testkit.browser import launch
from testkit.formfill import answers, fill_page, parse_form, tiny_jpeg
from testkit.pages import PagesServer, Visit, uncovered, visits

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SKRYNKA_SCREENSHOTS") or ROOT / "build" / "screenshots")
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING = ("serious", "critical")
VISITS = visits()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesServer]:
    srv = PagesServer(tmp_path_factory.mktemp("pages"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser(server: PagesServer) -> Iterator[Any]:
    with sync_playwright() as p:
        # Every onion name is this server: the Host header is what Tor Browser sends.
        b = launch(p, f"--host-resolver-rules=MAP *.onion 127.0.0.1:{server.port}")
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def test_every_route_and_error_status_has_a_visit() -> None:
    assert uncovered(VISITS) == []
    assert {v.lang for v in VISITS} == {"be", "ru", "en"}
    assert len({v.slug for v in VISITS}) == len(VISITS)


def fetch_as_voter(browser: Any, server: PagesServer, visit: Visit) -> dict[str, Any]:
    """Open the page with JavaScript off at 360 px; check it; return what it was served."""
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    url = server.url(visit)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    if visit.method != "GET":
        def send(route: Any) -> None:
            headers = {**route.request.headers, "content-type": visit.content_type}
            route.continue_(method=visit.method, post_data=visit.body, headers=headers)
        page.route(url, send, times=1)
    try:
        response = page.goto(url, wait_until="load")
        assert response is not None
        html = response.body()
        served = {"status": response.status, "headers": response.headers, "body": html}
        assert response.status == visit.status, html[:3000]
        assert page.locator("html").get_attribute("lang") == visit.lang
        origin = urlsplit(url).netloc
        assert [u for u in seen if urlsplit(u).netloc != origin] == []
        assert b"<script" not in html and b"<noscript" not in html
        SHOTS.joinpath("html").mkdir(parents=True, exist_ok=True)
        SHOTS.joinpath("html", f"{visit.slug}.html").write_bytes(html)
        width, view = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        SHOTS.joinpath("360").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "360" / f"{visit.slug}.png", full_page=True)
        assert width <= view, f"{visit.slug} scrolls sideways at 360 px: {width} > {view}"
        return served
    finally:
        context.close()


def blocking(results: dict[str, Any]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in results["violations"] if v["impact"] in BLOCKING
    ]


def check_with_axe(browser: Any, axe: Any, server: PagesServer, visit: Visit,
                   served: dict[str, Any], save: bool = True) -> list[str]:
    """axe-core over the bytes the voter got, at phone and desktop widths."""
    context = browser.new_context(java_script_enabled=True, viewport=PHONE)
    page = context.new_page()
    url = server.url(visit)
    page.route(url, lambda route: route.fulfill(
        status=served["status"], headers=served["headers"], body=served["body"]), times=1)
    problems: list[str] = []
    try:
        page.goto(url, wait_until="load")
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            results = axe.run(page).response
            if save:  # every finding, of any impact, beside the screenshots
                (SHOTS / "axe").mkdir(parents=True, exist_ok=True)
                found = [(v["id"], v["impact"], len(v["nodes"])) for v in results["violations"]]
                (SHOTS / "axe" / f"{visit.slug}-{size['width']}.json").write_text(
                    json.dumps(found))
            problems += [f"{size['width']} px: {p}" for p in blocking(results)]
    finally:
        context.close()
    return problems


def test_the_check_finds_what_it_looks_for(browser: Any, axe: Any, server: PagesServer) -> None:
    """The same harness on a page with an unlabelled field, an image without alt text and
    a box wider than the phone: each is found."""
    visit = Visit("broken", "en", "/en/", 200)
    bad = (b'<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
           b'<img src="/static/none.png"><input name="q"><div style="width:500px">w</div>'
           b"</main></body></html>")
    served = {"status": 200, "headers": {"content-type": "text/html"}, "body": bad}
    problems = check_with_axe(browser, axe, server, visit, served, save=False)
    assert any(p.startswith("360 px: image-alt (critical)") for p in problems), problems
    assert any(p.startswith("1280 px: label (critical)") for p in problems), problems
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        page.route(server.url(visit), lambda r: r.fulfill(status=200, body=bad,
                                                           content_type="text/html"))
        page.goto(server.url(visit))
        assert page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]
    finally:
        context.close()


@pytest.mark.parametrize("visit", VISITS, ids=[v.slug for v in VISITS])
def test_page_is_accessible_and_fits_a_phone(
    browser: Any, axe: Any, server: PagesServer, visit: Visit,
) -> None:
    with server.state_for(visit):
        served = fetch_as_voter(browser, server, visit)
    problems = check_with_axe(browser, axe, server, visit, served)
    assert problems == [], "\n".join(problems)


def test_every_page_is_valid_html5() -> None:
    """The W3C Nu Html Checker finds no error on any page the voter was served above
    (run with the whole module: each page's test saves what it got)."""
    from testkit.htmlcheck import html_errors

    saved = sorted(SHOTS.joinpath("html").glob("*.html"))
    assert {p.stem for p in saved} >= {v.slug for v in VISITS}, "run the whole module"
    assert html_errors(SHOTS / "html") == []


def test_a_bad_station_number_is_stopped_before_the_upload(
    browser: Any, server: PagesServer,
) -> None:
    """JavaScript off: the browser itself refuses "12345" (the input's pattern) and sends
    nothing, photo and all; corrected to "№ 17", the report goes through."""
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(server.url(Visit("form", "en", "/en/", 200)))
        form = parse_form(page.content())
        values = answers(form, "Observers were sent away.")
        values["station"] = "12345"
        fill_page(page, form, values, [("p.jpg", tiny_jpeg(b"pattern check"))])
        page.click('form[method="post"] [type="submit"]')
        page.wait_for_timeout(500)
        assert posts == [] and page.locator("#f-station:invalid").count() == 1
        page.fill("#f-station", "№ 17")
        with page.expect_navigation():
            page.click('form[method="post"] [type="submit"]')
        assert len(posts) == 1 and "/en/receipt/" in page.url
    finally:
        context.close()
