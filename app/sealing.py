"""The plaintext boundary: a report exists in the clear only inside this module.

Uploads go from the socket through werkzeug's multipart decoder straight into
:class:`keys.envelope.Sealer`: :class:`SealingRequest` gives werkzeug an
:class:`AttachmentSink` for every file part, which seals each 64 KiB as it
arrives into ``<data>/incoming/<pid>-<random>.part`` (ciphertext only, 0600). Text
fields stay in memory (bounded in size and number), are validated, and the
report JSON is sealed in memory. Nothing here logs, and nothing plaintext is
ever written to a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Request
from nacl.utils import random as random_bytes
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from app.bodyio import read_upto
from app.errors import BadForm, Full, TooLarge
from app.form import FormDef, Validated
from app.storage import PendingAttachment, PendingReport
from keys.envelope import KIND_ATTACHMENT, KIND_REPORT, Sealer, seal_bytes

MAX_FIELD_BYTES = 256 * 1024  # one text field (the longest textarea is 50 000 characters)
MAX_TEXT_BYTES = 1024 * 1024  # all text fields together
MAX_PARTS = 200  # fields + files in one report
MAX_NAME_CHARS = 255
# Body read size (app/bodyio.py receives straight into it): 256 KiB reads took a
# 512 MiB upload at 321-324 MB/s here, 64 KiB reads at 274-305 MB/s (fewer trips
# through the multipart decoder), for ~0.5 MiB more per concurrent upload.
READ_SIZE = 256 * 1024
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_UTF8 = {"", "utf-8", "utf8", "us-ascii", "ascii"}


def part_name(pid: int) -> str:
    """An upload's file in ``incoming/``: the worker's pid first, so that when a
    worker dies the master can remove exactly its parts (gunicorn.conf.py)."""
    return f"{pid}-{random_bytes(16).hex()}.part"


@dataclass
class Receiving:
    """One request's upload context: where sealed parts go and the limits."""

    recipients: Sequence[bytes]
    incoming: Path
    max_file_bytes: int
    max_report_bytes: int
    file_fields: frozenset[str]
    report_id: bytes = field(default_factory=lambda: random_bytes(16))
    sinks: list[AttachmentSink] = field(default_factory=list)
    total: int = 0  # attachment plaintext bytes so far

    def too_large(self, limit: int) -> TooLarge:
        return TooLarge(limit_mb=limit >> 20)

    def discard(self) -> None:
        """Remove every sealed or half-sealed part of this request."""
        for sink in self.sinks:
            sink.abort()
        self.sinks.clear()


class _CipherFile:
    """The ``out`` of a Sealer: a new 0600 file, hashing what is written."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.file.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)


class AttachmentSink:
    """A file part's destination: seals plaintext on the fly, never stores it.

    werkzeug calls ``write`` per piece, ``seek(0)`` when the part is complete
    (that finishes the envelope and fsyncs it) and ``close`` at the end of the
    request. Reading is refused: the plaintext is not kept.
    """

    def __init__(self, rx: Receiving, filename: str, content_type: str | None) -> None:
        self.rx = rx
        self.filename = filename
        self.media_type = clean_media_type(content_type)
        self.attachment_id = random_bytes(16)
        self.path = rx.incoming / part_name(os.getpid())
        self.size = 0
        self.result: PendingAttachment | None = None
        self._out: _CipherFile | None = None
        self._sealer: Sealer | None = None
        self.done = False

    def _open(self) -> Sealer:
        try:
            self._out = _CipherFile(self.path)
        except OSError:
            raise Full() from None
        self._sealer = Sealer(
            self._out, self.rx.recipients, kind=KIND_ATTACHMENT,
            envelope_id=self.attachment_id, report_id=self.rx.report_id,
        )
        return self._sealer

    def write(self, data: bytes) -> int:
        if self.done:
            raise ValueError("attachment is complete")
        if not data:
            return 0
        self.size += len(data)
        self.rx.total += len(data)
        if self.size > self.rx.max_file_bytes:
            raise self.rx.too_large(self.rx.max_file_bytes)
        if self.rx.total > self.rx.max_report_bytes:
            raise self.rx.too_large(self.rx.max_report_bytes)
        sealer = self._sealer or self._open()
        try:
            sealer.write(data)
        except OSError:
            raise Full() from None
        return len(data)

    @property
    def skipped(self) -> bool:
        """An empty file input (no file chosen): no filename and no bytes."""
        return not self.filename and self.size == 0

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset or whence:
            raise OSError("an attachment sink can only be finished")
        if not self.done:
            self.finish()
        return 0

    def finish(self) -> None:
        self.done = True
        if self.skipped:
            return
        sealer = self._sealer or self._open()
        assert self._out is not None
        try:
            sealer.close()
            self._out.file.flush()
            os.fsync(self._out.file.fileno())
            self._out.file.close()
        except OSError:
            raise Full() from None
        self.result = PendingAttachment(
            self.attachment_id, self.path, self._out.size, self._out.hash.digest()
        )

    def read(self, *_args: object) -> bytes:
        raise OSError("sealed attachments cannot be read back")

    def close(self) -> None:
        """End of request: an unfinished part is removed (finished ones stay)."""
        if self.result is None:
            self.abort()

    def abort(self) -> None:
        """Drop this part. Cleanup must succeed on a full disk too: closing a
        buffered file whose flush fails raises (the descriptor is closed anyway)."""
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.file.close()
        self.path.unlink(missing_ok=True)
        self.result = None


def clean_media_type(content_type: str | None) -> str:
    mimetype = parse_options_header(content_type or "")[0].strip().lower()
    return mimetype if _MEDIA_TYPE.fullmatch(mimetype) else "application/octet-stream"


def clean_filename(name: str) -> str:
    """The original name, minus control characters, at most 255 characters."""
    return "".join(c for c in name if c.isprintable())[:MAX_NAME_CHARS]


# --- strict form parsing ----------------------------------------------------------


def _decode_field(data: bytes, headers: t.Any) -> str:
    content_type = headers.get("content-type")  # browsers send none for text fields
    charset = parse_options_header(content_type)[1].get("charset", "") if content_type else ""
    if charset.lower() not in _UTF8:
        raise BadForm()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadForm() from None


class _Collector:
    """Turns decoder events into fields (bounded, strict UTF-8) and sealed files."""

    def __init__(self, parser: StrictMultiPartParser, content_length: int | None) -> None:
        self.parser = parser
        self.content_length = content_length
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.parts = self.text_bytes = self.field_bytes = 0
        self.part: Field | File | None = None
        self.buf: list[bytes] = []
        self.sink: t.IO[bytes] | None = None

    def start(self, event: Field | File) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or not event.name:
            raise BadForm()
        if isinstance(event, File) and event.name not in self.parser.file_fields:
            raise BadForm()
        self.part, self.buf, self.field_bytes = event, [], 0
        self.sink = (
            self.parser.start_file_streaming(event, self.content_length)
            if isinstance(event, File) else None
        )

    def data(self, event: Data) -> None:
        part = self.part
        if part is None:
            raise BadForm()
        if self.sink is not None:
            self.sink.write(event.data)
        else:
            self.field_bytes += len(event.data)
            self.text_bytes += len(event.data)
            if self.field_bytes > MAX_FIELD_BYTES or self.text_bytes > MAX_TEXT_BYTES:
                raise BadForm()
            self.buf.append(event.data)
        if event.more_data:
            return
        if self.sink is not None:
            self.sink.seek(0)
            name = part.filename if isinstance(part, File) else ""
            self.files.append(
                (part.name, FileStorage(self.sink, name, part.name, headers=part.headers))
            )
        else:
            self.fields.append((part.name, _decode_field(b"".join(self.buf), part.headers)))
        self.part, self.sink, self.buf = None, None, []


class StrictMultiPartParser(MultiPartParser):
    """werkzeug's parser, but: strict UTF-8, our own bounds, 400 on bad input."""

    file_fields: frozenset[str] = frozenset()

    def parse(  # type: ignore[override]
        self, stream: t.IO[bytes], boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        decoder = MultipartDecoder(boundary)
        collect = _Collector(self, content_length)
        while True:
            data = stream.read(self.buffer_size)
            decoder.receive_data(data or None)
            event = decoder.next_event()
            while not isinstance(event, (Epilogue, NeedData)):
                if isinstance(event, (Field, File)):
                    collect.start(event)
                elif isinstance(event, Data):
                    collect.data(event)
                event = decoder.next_event()
            if not data:
                if not isinstance(event, Epilogue):
                    raise BadForm()
                return self.cls(collect.fields), self.cls(collect.files)


class SealingFormDataParser(FormDataParser):
    """Form parsing that fails loudly (400) instead of silently yielding nothing."""

    def __init__(self, *args: t.Any, file_fields: frozenset[str] = frozenset(),
                 **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.file_fields = file_fields

    def parse(
        self, stream: t.IO[bytes], mimetype: str, content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> tuple[t.IO[bytes], MultiDict[str, t.Any], MultiDict[str, t.Any]]:
        options = options or {}
        try:
            if mimetype == "multipart/form-data":
                boundary = options.get("boundary", "").encode("ascii")
                if not boundary or len(boundary) > 200:
                    raise BadForm()
                parser = StrictMultiPartParser(
                    stream_factory=self.stream_factory, cls=self.cls, buffer_size=READ_SIZE
                )
                parser.file_fields = self.file_fields
                form, files = parser.parse(stream, boundary, content_length)
                return stream, form, files
            if mimetype == "application/x-www-form-urlencoded":
                body = read_upto(stream, MAX_TEXT_BYTES + 1)
                if len(body) > MAX_TEXT_BYTES:
                    raise BadForm()
                items = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                  errors="strict", max_num_fields=MAX_PARTS)
                return stream, self.cls(items), self.cls()
        except (ValueError, UnicodeError) as exc:
            if isinstance(exc, BadForm):
                raise
            raise BadForm() from None
        raise BadForm()


class SealingRequest(Request):
    """The app's request class: uploads can only go into a sealer."""

    form_data_parser_class = SealingFormDataParser
    receiving: Receiving | None = None

    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> t.IO[bytes]:
        rx = self.receiving
        if rx is None:
            raise BadForm()  # nobody armed a sealer: never spool to disk
        sink = AttachmentSink(rx, clean_filename(filename or ""), content_type)
        rx.sinks.append(sink)
        return sink  # type: ignore[return-value]

    def make_form_data_parser(self) -> FormDataParser:
        rx = self.receiving
        return SealingFormDataParser(
            stream_factory=self._get_file_stream, cls=self.parameter_storage_class,
            file_fields=rx.file_fields if rx is not None else frozenset(),
        )


# --- a whole report -----------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """Validation failed: what to show again (never stored)."""

    validated: Validated


def receive(
    request: SealingRequest, form_def: FormDef, lang: str, day: str
) -> Invalid | PendingReport:
    """Parse, validate and seal one submission (request.receiving must be set)."""
    rx = request.receiving
    assert rx is not None
    form = request.form
    sinks = [s for s in rx.sinks if not s.skipped]
    validated = form_def.validate(form, lang)
    if not validated.ok:
        rx.discard()
        return Invalid(validated)
    attachments = [_describe(s) for s in sinks]
    report = {
        "format": "skrynka-report",
        "version": 1,
        "form": {"id": form_def.id, "version": form_def.version},
        "lang": lang,
        "received_day": day,
        "fields": validated.values,
        "labels": form_def.labels_en(),
        "attachments": attachments,
    }
    plain = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    envelope = seal_bytes(plain, rx.recipients, kind=KIND_REPORT, report_id=rx.report_id)
    pending = tuple(s.result for s in sinks if s.result is not None)
    return PendingReport(rx.report_id, envelope, hashlib.sha256(envelope).digest(), pending)


def _describe(sink: AttachmentSink) -> dict[str, object]:
    """The report's entry for a sealed attachment. ``envelope_sha256`` (the hash of the
    sealed envelope, as in the batch manifest) binds the plaintext too: the envelope's
    AEAD authenticates it under the file key sealed inside those very bytes."""
    assert sink.result is not None
    return {
        "id": sink.attachment_id.hex(),
        "name": sink.filename,
        "media_type": sink.media_type,
        "size": sink.size,
        "envelope_sha256": sink.result.sha256.hex(),
    }
