"""The plaintext boundary in isolation: sinks seal as they go and keep no plaintext."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from app.errors import BadForm, TooLarge
from app.sealing import (
    AttachmentSink,
    Receiving,
    SealingFormDataParser,
    _describe,
    clean_filename,
    clean_media_type,
)
from keys.envelope import CHUNK, KIND_ATTACHMENT, open_bytes, sealed_size


@pytest.fixture
def rx(tmp_path: Path, analyst_key: PrivateKey) -> Receiving:
    (tmp_path / "incoming").mkdir()
    return Receiving([bytes(analyst_key.public_key)], tmp_path / "incoming", 3 * CHUNK,
                     4 * CHUNK, frozenset({"attachments"}))


def test_sink_seals_while_writing(rx: Receiving, analyst_key: PrivateKey) -> None:
    sink = AttachmentSink(rx, "photo.jpg", "image/jpeg; name=x")
    data = os.urandom(2 * CHUNK + 5)
    sink.write(data[:CHUNK + 1])
    # One whole chunk is already sealed on disk; the plaintext is not there.
    on_disk = sink.path.read_bytes()
    assert len(on_disk) >= CHUNK and data[:64] not in on_disk
    sink.write(data[CHUNK + 1 :])
    assert sink.seek(0) == 0
    assert sink.result is not None
    assert stat.S_IMODE(sink.path.stat().st_mode) == 0o600
    env = sink.path.read_bytes()
    assert len(env) == sealed_size(len(data), 1) == sink.result.size
    assert hashlib.sha256(env).digest() == sink.result.sha256
    header, plain = open_bytes(env, analyst_key)
    assert plain == data and header.kind == KIND_ATTACHMENT
    assert header.report_id == rx.report_id and header.envelope_id == sink.attachment_id
    assert sink.size == len(data) and sink.media_type == "image/jpeg"
    # The report lists the attachment by its envelope's hash (SPEC 3.4), not the plaintext's.
    assert _describe(sink) == {"id": sink.attachment_id.hex(), "name": "photo.jpg",
                               "media_type": "image/jpeg", "size": len(data),
                               "envelope_sha256": hashlib.sha256(env).hexdigest()}
    with pytest.raises(OSError):
        sink.read()
    sink.close()  # finished parts stay for storing
    assert sink.path.exists()
    rx.sinks.append(sink)
    rx.discard()
    assert not sink.path.exists()


def test_sink_limits(rx: Receiving) -> None:
    one = AttachmentSink(rx, "a", None)
    with pytest.raises(TooLarge) as exc:
        one.write(b"x" * (3 * CHUNK + 1))
    assert exc.value.code == 413
    one.close()  # unfinished: removed
    assert not one.path.exists()
    rx.total = 0
    first = AttachmentSink(rx, "a", None)
    first.write(b"x" * (3 * CHUNK))
    second = AttachmentSink(rx, "b", None)
    with pytest.raises(TooLarge):
        second.write(b"y" * (CHUNK + 1))  # 4 * CHUNK per report in this fixture
    for sink in (first, second):
        sink.abort()
    assert list(rx.incoming.iterdir()) == []


def test_empty_unnamed_part_writes_no_file(rx: Receiving) -> None:
    sink = AttachmentSink(rx, "", "application/octet-stream")
    sink.seek(0)
    assert sink.skipped and sink.result is None and list(rx.incoming.iterdir()) == []


def test_empty_named_file_is_an_attachment(rx: Receiving, analyst_key: PrivateKey) -> None:
    sink = AttachmentSink(rx, "empty.txt", "text/plain")
    sink.seek(0)
    assert sink.result is not None
    assert open_bytes(sink.path.read_bytes(), analyst_key)[1] == b""


@pytest.mark.parametrize("given,expected", [
    ("image/JPEG", "image/jpeg"), ("text/plain; charset=utf-8", "text/plain"),
    ("", "application/octet-stream"), (None, "application/octet-stream"),
    ("evil\r\nX: y", "application/octet-stream"), ("image/<script>", "application/octet-stream"),
    ("a" * 70 + "/b", "application/octet-stream"),
])
def test_media_type_is_sanitised(given: str | None, expected: str) -> None:
    assert clean_media_type(given) == expected


def test_filename_cleaning() -> None:
    assert clean_filename("фота 1.jpg") == "фота 1.jpg"
    assert clean_filename("a\x00b\r\nc.jpg") == "abc.jpg"
    assert len(clean_filename("x" * 1000)) == 255


def test_parser_without_a_sealer_refuses_files() -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="attachments"; filename="a"\r\n\r\n'
            b"data\r\n--B--\r\n")
    parser = SealingFormDataParser(file_fields=frozenset())
    with pytest.raises(BadForm):
        parser.parse(io.BytesIO(body), "multipart/form-data", len(body), {"boundary": "B"})


def test_file_part_without_armed_request_is_refused(client) -> None:
    # A GET with a multipart body: nothing armed a sealer, so nothing may be spooled.
    body = (b'--B\r\nContent-Disposition: form-data; name="attachments"; filename="a"\r\n\r\n'
            + b"z" * 600_000 + b"\r\n--B--\r\n")
    with client.application.test_request_context(
        "/en/", method="POST", data=body, content_type="multipart/form-data; boundary=B"
    ) as ctx, pytest.raises(BadForm):
        ctx.request.form  # noqa: B018


def test_empty_writes_to_an_unnamed_part_create_nothing(rx: Receiving) -> None:
    sink = AttachmentSink(rx, "", None)
    sink.write(b"")
    sink.seek(0)
    assert sink.skipped and list(rx.incoming.iterdir()) == []
