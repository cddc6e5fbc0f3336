"""app/intake in isolation: sinks seal as they go and keep no plaintext; the parser is strict."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from nacl.public import PrivateKey

from app.blobstore import CHUNK_BYTES, BlobStore
from app.httperrors import BadForm, TooLarge
from app.intake.multipart import parse_body
from app.intake.report import _describe
from app.intake.sealing import AttachmentSink, Receiving, clean_filename, clean_media_type
from app.models import blob_chunks, metadata
from app.storage import make_engine
from keys.envelope import CHUNK, KIND_ATTACHMENT, open_bytes, sealed_size


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[BlobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pieces.db'}")
    metadata.create_all(engine)
    yield BlobStore(engine)
    engine.dispose()


@pytest.fixture
def rx(blobs: BlobStore, analyst_key: PrivateKey) -> Receiving:
    return Receiving([bytes(analyst_key.public_key)], blobs.writer, 3 * CHUNK,
                     4 * CHUNK, frozenset({"attachments"}))


def pieces(blobs: BlobStore) -> list[bytes]:
    """Every piece in the database, in the order written."""
    with blobs.engine.connect() as conn:
        return [bytes(r[0]) for r in conn.execute(
            sa.select(blob_chunks.c.data).order_by(blob_chunks.c.id))]


def stored(blobs: BlobStore, sink: AttachmentSink) -> bytes:
    return blobs.reader(sink.attachment_id).read()


def test_sink_seals_while_writing(rx: Receiving, blobs: BlobStore,
                                  analyst_key: PrivateKey) -> None:
    sink = AttachmentSink(rx, "photo.jpg", "image/jpeg; name=x")
    data = os.urandom(5 * CHUNK + 5)
    rx.max_file_bytes = rx.max_report_bytes = 6 * CHUNK
    sink.write(data[:4 * CHUNK + 1])
    # A whole piece is already sealed in the database; the plaintext is not there.
    written = b"".join(pieces(blobs))
    assert len(written) == CHUNK_BYTES and data[:64] not in written
    sink.write(data[4 * CHUNK + 1 :])
    sink.finish()
    assert sink.result is not None
    env = stored(blobs, sink)
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
    assert pieces(blobs)  # finished parts stay for storing
    rx.sinks.append(sink)
    rx.discard()
    assert pieces(blobs) == []


def test_sink_limits(rx: Receiving, blobs: BlobStore) -> None:
    one = AttachmentSink(rx, "a", None)
    with pytest.raises(TooLarge) as exc:
        one.write(b"x" * (3 * CHUNK + 1))
    assert exc.value.code == 413
    one.abort()  # unfinished: removed
    rx.total = 0
    first = AttachmentSink(rx, "a", None)
    first.write(b"x" * (3 * CHUNK))
    second = AttachmentSink(rx, "b", None)
    with pytest.raises(TooLarge):
        second.write(b"y" * (CHUNK + 1))  # 4 * CHUNK per report in this fixture
    for sink in (first, second):
        sink.abort()
    assert pieces(blobs) == []


def test_empty_unnamed_part_writes_no_file(rx: Receiving, blobs: BlobStore) -> None:
    sink = AttachmentSink(rx, "", "application/octet-stream")
    sink.finish()
    assert sink.skipped and sink.result is None and pieces(blobs) == []


def test_empty_named_file_is_an_attachment(rx: Receiving, blobs: BlobStore,
                                           analyst_key: PrivateKey) -> None:
    sink = AttachmentSink(rx, "empty.txt", "text/plain")
    sink.finish()
    assert sink.result is not None
    assert open_bytes(stored(blobs, sink), analyst_key)[1] == b""


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


def _environ(body: bytes, boundary: str = "B") -> dict[str, object]:
    return {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}"}


def test_a_file_in_a_field_that_takes_none_is_refused(rx: Receiving, blobs: BlobStore) -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="town"; filename="a"\r\n\r\n'
            + b"z" * 600_000 + b"\r\n--B--\r\n")
    with pytest.raises(BadForm):
        parse_body(_environ(body), rx)
    assert rx.sinks == [] and pieces(blobs) == []


def test_parser_returns_text_and_seals_files(rx: Receiving, blobs: BlobStore,
                                            analyst_key: PrivateKey) -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="town"\r\n\r\n\xd0\x9f\xd1\x96\xd0\xbd'
            b'\xd1\x81\xd0\xba\r\n--B\r\nContent-Disposition: form-data; name="attachments"; '
            b'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' + b"\xff" * 70_000
            + b"\r\n--B--\r\n")
    fields = parse_body(_environ(body), rx)
    assert fields.getlist("town") == ["Пінск"] and "attachments" not in fields
    [sink] = rx.sinks
    assert sink.done and sink.result is not None and sink.filename == "p.jpg"
    assert open_bytes(stored(blobs, sink), analyst_key)[1] == b"\xff" * 70_000


@pytest.mark.parametrize("body,ctype", [
    (b"--B\r\nContent-Disposition: form-data; name=\"town\"\r\n\r\nx", "boundary=B"),
    (b"--B\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n\xff\r\n--B--\r\n", "boundary=B"),
    (b"", ""),
    (b"x" * 10, "boundary=" + "b" * 201),
])
def test_malformed_bodies_are_400(rx: Receiving, body: bytes, ctype: str) -> None:
    env = _environ(body)
    env["CONTENT_TYPE"] = f"multipart/form-data; {ctype}" if ctype else "text/plain"
    with pytest.raises(BadForm):
        parse_body(env, rx)


def test_empty_writes_to_an_unnamed_part_create_nothing(rx: Receiving, blobs: BlobStore) -> None:
    sink = AttachmentSink(rx, "", None)
    sink.write(b"")
    sink.finish()
    assert sink.skipped and pieces(blobs) == []
