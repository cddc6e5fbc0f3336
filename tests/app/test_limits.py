"""Limits and bad input: 413 per file and per report (answered after draining the
body), 400 for malformed or hostile bodies, 503 without keys or over budget."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from nacl.public import PrivateKey

from app.blobstore import BlobStore
from app.errors import StorageFull
from tests.app.helpers import (
    FilePart,
    has_message,
    multipart,
    orphan_pieces,
    piece_ids,
    post,
    stored_reports,
    valid_fields,
)

MIB = 1 << 20


@pytest.fixture
def small(make_app) -> Flask:
    return make_app(max_file_mb=1, max_report_mb=2)


def nothing_left(app: Flask, key: PrivateKey) -> None:
    assert stored_reports(app, key) == []
    assert piece_ids(app) == set()


class TrackingStream(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buf) -> int:
        n = super().readinto(buf)
        self.consumed += n
        return n


def post_tracked(app: Flask, url: str, body: bytes, ctype: str):
    stream = TrackingStream(body)
    resp = app.test_client().post(url, input_stream=stream, content_type=ctype,
                                  content_length=len(body))
    return resp, stream


def test_file_over_limit_is_413_and_body_drained(small: Flask, analyst_key: PrivateKey) -> None:
    body, ctype = multipart(valid_fields(), [
        FilePart("attachments", "ok.bin", b"a" * 1000),
        FilePart("attachments", "big.bin", b"b" * (MIB + 1)),
        FilePart("attachments", "after.bin", b"c" * 300_000),
    ])
    resp, stream = post_tracked(small, "/be/", body, ctype)
    assert resp.status_code == 413
    assert has_message(resp, small, "be", "error.413", limit_mb=1)
    assert stream.consumed == len(body), "the rest of the body was read before answering"
    nothing_left(small, analyst_key)


def test_file_at_limit_is_accepted(small: Flask, analyst_key: PrivateKey) -> None:
    data = b"\xff" * MIB
    resp = post(small.test_client(), "/en/", valid_fields(), [FilePart("attachments", "x", data)])
    assert resp.status_code == 303
    assert stored_reports(small, analyst_key)[0].files == [data]


def test_report_over_limit_is_413(small: Flask, analyst_key: PrivateKey) -> None:
    files = [FilePart("attachments", f"{i}.bin", bytes([i]) * (MIB - 10)) for i in range(3)]
    body, ctype = multipart(valid_fields(), files)
    resp, stream = post_tracked(small, "/ru/", body, ctype)
    assert resp.status_code == 413
    assert has_message(resp, small, "ru", "error.413", limit_mb=2)
    assert stream.consumed == len(body)
    nothing_left(small, analyst_key)


def test_declared_length_over_limit_is_413(small: Flask, analyst_key: PrivateKey) -> None:
    body, ctype = multipart(valid_fields(), [FilePart("attachments", "x", b"z" * (4 * MIB))])
    resp, stream = post_tracked(small, "/en/", body, ctype)
    assert resp.status_code == 413
    assert has_message(resp, small, "en", "error.413", limit_mb=2)
    assert stream.consumed == len(body)
    nothing_left(small, analyst_key)


def test_huge_declared_length_is_not_drained(small: Flask) -> None:
    body, ctype = multipart(valid_fields(), [FilePart("attachments", "x", b"z" * (6 * MIB))])
    resp, stream = post_tracked(small, "/en/", body, ctype)
    assert resp.status_code == 413
    assert stream.consumed == 0
    assert resp.headers["Connection"] == "close"


BAD_BODIES = {
    "invalid utf-8 in a field": lambda: multipart(
        valid_fields(description=None) + [("description", b"caf\xe9 \xff\xfe")]),
    "latin-1 charset part": lambda: (
        b'--B\r\nContent-Disposition: form-data; name="description"\r\n'
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n--B--\r\n",
        "multipart/form-data; boundary=B"),
    "no closing boundary": lambda: (
        b'--B\r\nContent-Disposition: form-data; name="what"\r\n\r\nx',
        "multipart/form-data; boundary=B"),
    "missing boundary parameter": lambda: (b"--B\r\n", "multipart/form-data"),
    "garbage": lambda: (b"\x00\x01 not multipart at all", "multipart/form-data; boundary=B"),
    "too many fields": lambda: multipart(valid_fields() + [("town", "x")] * 250),
    "oversized field": lambda: multipart(valid_fields(description="я" * 200_000)),
    "file part for a text field": lambda: multipart(
        valid_fields(), [FilePart("description", "d.txt", b"text")]),
    "unknown content type": lambda: (b"what=x", "text/plain"),
    "invalid utf-8 urlencoded": lambda: (b"description=%ff%fe&what=x",
                                         "application/x-www-form-urlencoded"),
    "invalid utf-8 file name": lambda: (
        b'--B\r\nContent-Disposition: form-data; name="attachments"; filename="\xff.jpg"\r\n\r\n'
        b"x\r\n--B--\r\n", "multipart/form-data; boundary=B"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_400(app: Flask, analyst_key: PrivateKey, case: str) -> None:
    body, ctype = BAD_BODIES[case]()
    resp, stream = post_tracked(app, "/ru/", body, ctype)
    assert resp.status_code == 400, case
    assert has_message(resp, app, "ru", "error.400")
    assert stream.consumed == len(body)
    nothing_left(app, analyst_key)


def test_urlencoded_report_is_accepted(app: Flask, analyst_key: PrivateKey) -> None:
    from urllib.parse import urlencode

    resp = app.test_client().post("/en/", data=urlencode(valid_fields("be")),
                                  content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 303
    assert stored_reports(app, analyst_key)[0].report["lang"] == "en"


@pytest.mark.parametrize("content", ["", "# no keys here\n", "skrynka1notakey\n"])
def test_no_usable_analyst_key_is_503(make_app, data_dir: Path, analyst_key: PrivateKey,
                                      content: str) -> None:
    (data_dir / "analysts.pub").write_text(content)
    if not content:
        (data_dir / "analysts.pub").unlink()
    app = make_app()
    client = app.test_client()
    for lang in ("be", "ru", "en"):
        resp = client.get(f"/{lang}/")
        assert resp.status_code == 503
        assert has_message(resp, app, lang, "error.503_nokey")
    resp = post(client, "/en/", valid_fields(), [FilePart("attachments", "a", b"x" * 100_000)])
    assert resp.status_code == 503
    assert client.get("/en/safety").status_code == 200
    nothing_left(app, analyst_key)


def test_key_added_later_is_picked_up(make_app, data_dir: Path, analyst_key: PrivateKey) -> None:
    text = (data_dir / "analysts.pub").read_text()
    (data_dir / "analysts.pub").unlink()
    app = make_app()
    assert post(app.test_client(), "/en/", valid_fields()).status_code == 503
    (data_dir / "analysts.pub").write_text(text)
    assert post(app.test_client(), "/en/", valid_fields()).status_code == 303
    assert len(stored_reports(app, analyst_key)) == 1


def test_budget_full_is_503_and_keeps_earlier_reports(make_app,
                                                      analyst_key: PrivateKey) -> None:
    app = make_app(max_file_mb=1, max_report_mb=1, storage_budget_mb=1)
    client = app.test_client()
    first = b"first" * 1000
    assert post(client, "/en/", valid_fields(), [FilePart("attachments", "1", first)]
                ).status_code == 303
    # 600 KB plaintext pads to 1 MiB of ciphertext: over the 1 MiB budget.
    resp = post(client, "/be/", valid_fields("be"),
                [FilePart("attachments", "2", b"s" * 600_000)])
    assert resp.status_code == 503
    assert has_message(resp, app, "be", "error.503_full")
    [stored] = stored_reports(app, analyst_key)
    assert stored.files == [first]
    assert orphan_pieces(app) == 0 and len(piece_ids(app)) == 1


def test_disk_full_while_sealing_is_503(app: Flask, analyst_key: PrivateKey,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = BlobStore.append

    def append(self: BlobStore, attachment_id: bytes, n: int, owner: int, data: bytes) -> None:
        if n * len(data) > 200_000:
            raise StorageFull("the disk is full")
        real(self, attachment_id, n, owner, data)

    monkeypatch.setattr(BlobStore, "append", append)
    resp = post(app.test_client(), "/en/", valid_fields(),
                [FilePart("attachments", "big", b"q" * 1_000_000)])
    assert resp.status_code == 503
    assert has_message(resp, app, "en", "error.503_full")
    nothing_left(app, analyst_key)


def test_eleventh_file_is_413_and_nothing_is_kept(app: Flask, analyst_key: PrivateKey) -> None:
    """The default cap is 10 attachments; the issue's 190 one-byte files are refused."""
    assert app.extensions["skrynka"].config.max_files == 10
    for count in (11, 190):
        files = [FilePart("attachments", f"{i}.jpg", bytes([i % 256])) for i in range(count)]
        body, ctype = multipart(valid_fields("be"), files)
        resp, stream = post_tracked(app, "/be/", body, ctype)
        assert resp.status_code == 413, count
        assert has_message(resp, app, "be", "error.413_files", max_files=10)
        assert stream.consumed == len(body)
        nothing_left(app, analyst_key)


def test_file_cap_counts_attachments_not_empty_inputs(make_app,
                                                      analyst_key: PrivateKey) -> None:
    app = make_app(max_files=2)
    empty = FilePart("attachments", "", b"")  # a file input left empty, as browsers send it
    files = [empty, FilePart("attachments", "a.jpg", b"a"), empty,
             FilePart("attachments", "b.txt", b""), empty]  # a named empty file counts
    resp = post(app.test_client(), "/ru/", valid_fields("ru"), files)
    assert resp.status_code == 303
    assert stored_reports(app, analyst_key)[0].files == [b"a", b""]
    for third in (FilePart("attachments", "c.jpg", b"c"), FilePart("attachments", "", b"c")):
        resp = post(app.test_client(), "/en/", valid_fields(), files + [third])
        assert resp.status_code == 413
        assert has_message(resp, app, "en", "error.413_files", max_files=2)
    assert len(stored_reports(app, analyst_key)) == 1
    assert orphan_pieces(app) == 0 and len(piece_ids(app)) == 2


@pytest.mark.parametrize("lang", ["be", "ru", "en"])
def test_form_says_how_many_files(make_app, lang: str) -> None:
    app = make_app(max_files=7)
    resp = app.test_client().get(f"/{lang}/")
    assert resp.status_code == 200 and has_message(resp, app, lang, "form.file_count", max_files=7)


def test_full_for_attachments_still_takes_text(make_app, analyst_key: PrivateKey) -> None:
    """Reports with files fill the budget up to the text-only reserve; then they get the
    503 page, and reports without files still get their receipts."""
    app = make_app(max_file_mb=1, max_report_mb=1, storage_budget_mb=2, text_reserve_mb=1)
    client = app.test_client()
    store = app.extensions["skrynka"].store
    statuses = []
    for i in range(30):
        resp = post(client, "/ru/", valid_fields("ru"),
                    [FilePart("attachments", f"{i}.jpg", bytes([i]) * 100_000)])
        statuses.append(resp.status_code)
        if resp.status_code != 303:
            break
    assert statuses[-1] == 503 and set(statuses[:-1]) == {303} and len(statuses) > 2
    assert has_message(resp, app, "ru", "error.503_full")
    assert store.unexported_bytes() <= store.budget_bytes - store.reserve_bytes
    for lang in ("be", "ru", "en"):
        assert post(client, f"/{lang}/", valid_fields(lang)).status_code == 303
    stored = stored_reports(app, analyst_key)
    assert [len(s.files) for s in stored] == [1] * (len(statuses) - 1) + [0] * 3
    assert orphan_pieces(app) == 0
