"""Security headers on every response, no cookies, the Host check, 405 pages."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.headers import CSP
from tests.app.helpers import FilePart, has_message, post, valid_fields

ONION = "a" * 56 + ".onion"


def check_headers(resp, *, html: bool = True) -> None:
    h = resp.headers
    assert h["Content-Security-Policy"] == CSP
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "camera=()" in h["Permissions-Policy"]
    assert "Set-Cookie" not in h
    if html:
        assert h["Cache-Control"] == "no-store"


def test_headers_on_every_kind_of_response(app: Flask, client: FlaskClient) -> None:
    for url in ("/", "/be/", "/ru/safety", "/en/nowhere", "/zz/"):
        check_headers(client.get(url))
    check_headers(client.get("/static/style.css"), html=False)
    check_headers(post(client, "/en/", valid_fields()))  # receipt
    check_headers(post(client, "/en/", valid_fields(region="nowhere")))  # 400 form
    check_headers(client.put("/en/"))
    assert client.get("/static/style.css").mimetype == "text/css"


def test_no_cookie_is_ever_set(client: FlaskClient) -> None:
    responses = [client.get("/"), client.get("/en/"),
                 post(client, "/en/", valid_fields(), [FilePart("attachments", "a", b"1")]),
                 client.post("/en/", data=b"bad", content_type="multipart/form-data")]
    assert all("Set-Cookie" not in r.headers for r in responses)
    assert client._cookies == {}


def test_method_not_allowed_is_localized(app: Flask, client: FlaskClient) -> None:
    resp = client.post("/ru/safety", data=b"", content_type="text/plain")
    assert resp.status_code == 405
    assert has_message(resp, app, "ru", "error.405")
    assert "GET" in resp.headers["Allow"]


@pytest.fixture
def onion_app(make_app, data_dir: Path) -> Flask:
    (data_dir / "onion").mkdir()
    (data_dir / "onion" / "hostnames").write_text(f"{ONION}\n")
    return make_app(allow_local_host=False)


@pytest.mark.parametrize("host,ok", [
    (ONION, True), (f"{ONION}:80", True), (ONION.upper(), True),
    (f"{ONION}:8080", False), ("b" * 56 + ".onion", False), ("localhost", False),
    ("127.0.0.1:5000", False), ("example.com", False), ("", False),
])
def test_host_check_onion_only(onion_app: Flask, host: str, ok: bool) -> None:
    client = onion_app.test_client()
    resp = client.get("/en/", headers={"Host": host})
    if ok:
        assert resp.status_code == 200
    else:
        assert resp.status_code in (400, 421)
        assert has_message(resp, onion_app, "en", "error.host")
        check_headers(resp)


def test_refused_host_stores_nothing(onion_app: Flask, analyst_key) -> None:
    from tests.app.helpers import stored_reports

    body_client = onion_app.test_client()
    resp = post(body_client, "/en/", valid_fields(), headers={"Host": "evil.example"})
    assert resp.status_code == 421
    assert stored_reports(onion_app, analyst_key) == []


def test_new_hostnames_are_picked_up(onion_app: Flask, data_dir: Path) -> None:
    client = onion_app.test_client()
    new = "c" * 56 + ".onion"
    assert client.get("/en/", headers={"Host": new}).status_code == 421
    path = data_dir / "onion" / "hostnames"
    path.write_text(f"# rotated\n{ONION}\n{new}\n")
    future = time.time() + 5
    os.utime(path, (future, future))
    assert client.get("/en/", headers={"Host": new}).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:1234", "[::1]:80"])
def test_local_hosts_when_allowed(client: FlaskClient, host: str) -> None:
    assert client.get("/", headers={"Host": host}).status_code == 200


def test_other_hosts_refused_even_with_local(client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "10.0.0.1"}).status_code == 421
