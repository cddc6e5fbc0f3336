"""Over the private Tor network: the form through the onion address, a report posted with
curl, and the service coming back by itself after tor or gunicorn is killed."""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest

from testkit.formfill import answers, curl_form_args, parse_form, sealed_fields, tiny_jpeg
from testkit.onion_serve import Served, run

pytestmark = [pytest.mark.e2e, pytest.mark.tor]


def test_form_fetched_and_report_posted_over_tor(served: Served, tmp_path: Path) -> None:
    address = served.address
    assert served.hostnames() == [address]
    page = served.fetch(address, "/en/")
    assert page.status == 200, page
    form = parse_form(page.body)
    assert form.enctype == "multipart/form-data"
    marker = "curl-over-tor " + secrets.token_hex(6)
    values = answers(form, marker)
    files = {}
    file_fields = [f.name for f in form.fields.values() if f.kind == "file"]
    if file_fields:
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(tiny_jpeg(marker.encode()))
        files[file_fields[0]] = str(photo)
    action = urljoin(f"http://{address}/en/", form.action or "/en/")
    path = action.split(address, 1)[1]
    receipt = served.fetch(address, path, timeout=60,
                           extra=["-L", *curl_form_args(values, files)])
    assert receipt.status == 200, receipt.body[:2000]
    assert 'class="receipt"' in receipt.body, receipt.body[:2000]

    reports = served.export_and_decrypt(tmp_path / "out")
    mine = [r for r, _ in reports if marker in str(r.get("fields"))]
    assert len(mine) == 1, reports
    assert mine[0]["lang"] == "en"
    # the nonce and the cited codes are sealed beside the fields; the date as YYYY-MM-DD
    assert {k: v for k, v in mine[0]["fields"].items() if v} == sealed_fields(form, values)
    assert mine[0]["form_nonce"] == values["_nonce"]
    assert mine[0]["cites"] == [values["follows_up"]]
    assert mine[0]["receipt"] in receipt.body


def test_status_shows_the_published_descriptor(served: Served) -> None:
    address = served.address
    served.wait_for(lambda: all(s["published"] for s in served.status()["services"]), 60,
                    "the HS_DESC UPLOADED event")
    res = run(["-m", "onion", "status"], served.env)
    assert "serve:      running" in res.stdout
    assert "bootstrap 100%" in res.stdout
    assert f"address:    {address}  descriptor published, current" in res.stdout
    assert "pow:        on" in res.stdout
    said = re.search(rf"^(\S+ \S+) onion: descriptor published: {address}$", served.log_text(),
                     re.MULTILINE)
    assert said and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", said.group(1)), \
        served.log_text()[-2000:]


def test_gunicorn_killed_is_restarted(served: Served) -> None:
    address = served.address
    web_pid = served.status()["web_pid"]
    os.killpg(web_pid, signal.SIGKILL)
    served.wait_for(lambda: served.status().get("web_pid") not in (None, web_pid), 30,
                    "a new gunicorn")
    page = served.fetch(address, "/en/", timeout=60)
    assert page.status == 200
    assert served.status()["web_restarts"] >= 1


def test_tor_killed_same_address_answers_again(served: Served) -> None:
    address = served.address
    assert served.fetch(address, "/en/").status == 200
    tor_pid = served.tor_pid()
    restarts = served.status()["tor_restarts"]
    t0 = time.monotonic()
    os.kill(tor_pid, signal.SIGKILL)
    # serve notices within its 1 s tick, relaunches tor with the same key, publishes again
    served.wait_republished(tor_pid, 60)
    page = served.fetch(address, "/en/", timeout=120)
    assert page.status == 200
    st = served.status()
    assert st["tor_restarts"] == restarts + 1
    assert served.address == address
    assert [s["address"] for s in st["services"]] == [address]
    assert time.monotonic() - t0 < 150
