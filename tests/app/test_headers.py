"""Security headers on every response, no cookies, the Host check, 405 pages."""

from __future__ import annotations

import hashlib
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
    receipt = post(client, "/en/", valid_fields())
    assert receipt.status_code == 303  # See Other: the receipt page
    check_headers(receipt)
    check_headers(client.get(receipt.headers["Location"]))
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


STATIC = Path(__file__).resolve().parents[2] / "app" / "static"


@pytest.mark.parametrize("name,mimetype", [("style.css", "text/css"),
                                           ("icon.svg", "image/svg+xml")])
def test_static_files_carry_no_file_times(client: FlaskClient, name: str, mimetype: str) -> None:
    """mtimes are when this checkout was installed: they would fingerprint a deployment."""
    body = (STATIC / name).read_bytes()
    resp = client.get(f"/static/{name}")
    assert resp.status_code == 200 and resp.data == body and resp.mimetype == mimetype
    check_headers(resp, html=False)
    assert "Last-Modified" not in resp.headers
    assert resp.headers["ETag"] == '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    assert resp.headers["Cache-Control"] == "no-cache"
    stamp = int((STATIC / name).stat().st_mtime)
    assert str(stamp) not in str(resp.headers)


def test_static_revalidates_by_content_never_by_date(client: FlaskClient) -> None:
    etag = client.get("/static/style.css").headers["ETag"]
    again = client.get("/static/style.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    check_headers(again, html=False)
    for when in ("Wed, 01 Jan 2099 00:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"):
        # Flask's own view answered 304 when the date was after the file's mtime: an
        # oracle for the install time, one request per bisection step.
        dated = client.get("/static/style.css", headers={"If-Modified-Since": when})
        assert dated.status_code == 200 and "Last-Modified" not in dated.headers


def test_static_etag_does_not_follow_the_file_time(tmp_path: Path) -> None:
    from app.headers import StaticFiles

    for name, stamp in (("old", 1_000_000_000), ("new", 1_900_000_000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "style.css").write_bytes(b"body { color: black }\n")
        os.utime(tmp_path / name / "style.css", (stamp, stamp))
    old, new = StaticFiles(tmp_path / "old"), StaticFiles(tmp_path / "new")
    assert old.files == new.files


@pytest.mark.parametrize("path", ["/static/nowhere.css", "/static/../views.py",
                                  "/static/%2e%2e/views.py", "/static/"])
def test_static_unknown_files_are_404_pages(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    check_headers(resp)
