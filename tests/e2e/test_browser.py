"""Headless Chromium (Debian's, JavaScript off) through the private network's Tor client:
open the onion address, switch to Russian, fill every field of the extended form (stage,
early-voting day, region, town, station number, role among them), attach a photo, submit,
see the receipt; then the operator's export and the analyst's decrypt give back exactly what
was typed and attached."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from testkit.browser import launch
from testkit.formfill import answers, fill_page, parse_form, sealed_fields, tiny_jpeg
from testkit.onion_serve import Served

pytestmark = [pytest.mark.e2e, pytest.mark.tor, pytest.mark.browser]

# The questions form version 3 added (a date is three selects: day, month, year).
EXTENDED = {"stage", "early_voting_day-day", "early_voting_day-month", "early_voting_day-year",
            "region", "town", "station", "role"}


def goto(page: Any, url: str, timeout: float = 90) -> None:
    """Navigate, retrying while the fresh onion service is not reachable yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            page.goto(url, timeout=30_000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_chromium_js_off_russian_form_with_photo(served: Served, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    address = served.address
    served.fetch(address, "/en/")            # the service is published and answers
    marker = "Браўзер " + secrets.token_hex(4)
    text = f"Наблюдателя удалили с участка. {marker}"
    photo = tiny_jpeg(("снимок " + marker).encode())
    with playwright.sync_playwright() as p:
        browser = launch(p, f"--proxy-server=socks5://127.0.0.1:{served.net.socks_port}",
                         "--disable-quic")
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            goto(page, f"http://{address}/en/")
            assert page.locator("html").get_attribute("lang") == "en"
            page.click('nav a[hreflang="ru"]')
            page.wait_for_load_state()
            assert page.locator("html").get_attribute("lang") == "ru"
            assert page.url.endswith("/ru/")
            form = parse_form(page.content())
            # The monitors' questions of form version 3 are on the page (issue 15)...
            assert set(form.fields) >= EXTENDED, sorted(form.fields)
            values = answers(form, text)
            # ...and answered with something else than each first choice.
            values.update(stage="early_voting", role="observer", station="№ 0417",
                          **{"early_voting_day-day": "3"})
            fill_page(page, form, values, [("фота.jpg", photo)])
            with page.expect_navigation(timeout=60_000):
                page.click('form[method="post"] [type="submit"]')
            receipt = page.locator("section.receipt code").inner_text().strip()
            assert page.url.endswith(f"/ru/receipt/{receipt}")  # a GET after the 303
            assert page.locator("html").get_attribute("lang") == "ru"
            page.reload()  # shows the receipt again and files nothing (counted below)
            assert page.locator("section.receipt code").inner_text().strip() == receipt
        finally:
            browser.close()

    reports = served.export_and_decrypt(tmp_path / "out")
    mine = [(r, d) for r, d in reports if marker in str(r.get("fields"))]
    assert len(mine) == 1, reports
    report, folder = mine[0]
    assert report["lang"] == "ru"
    assert report["form"]["version"] == 3
    assert report["receipt"] == receipt  # the code on the page is the one sealed inside
    assert report["form_nonce"] == values["_nonce"]  # the page's own, for double clicks
    codes = [k for k, f in form.fields.items() if f.kind == "codes"]
    assert report["cites"] == [values[k] for k in codes]
    typed = sealed_fields(form, values)
    assert typed.pop("station") == "№ 0417"
    fields = report["fields"]
    assert {k: v for k, v in fields.items() if v and k != "station"} == typed
    # The station number is sealed as the number alone, as the monitors count it.
    assert (fields["stage"], fields["role"], fields["station"]) == ("early_voting", "observer",
                                                                     "417")
    assert fields["early_voting_day"].endswith("-03")
    assert [a["name"] for a in report["attachments"]] == ["фота.jpg"]
    assert report["attachments"][0]["size"] == len(photo)
    files = [p for p in folder.iterdir() if p.name != "report.json"]
    assert [p.read_bytes() for p in files] == [photo]
