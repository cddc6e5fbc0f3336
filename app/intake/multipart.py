"""Parsing a report's body: text fields kept in memory, file parts sealed as they arrive.

Strict where werkzeug is lenient: UTF-8 only, bounded field sizes and counts, a
400 for anything malformed (never an empty form). File parts are only allowed
in the form's file fields and go straight into the :class:`Receiving`'s sinks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from app.httperrors import BadForm
from app.intake.body import read_upto
from app.intake.sealing import AttachmentSink, Receiving
from contract import MIB

MAX_FIELD_BYTES = 256 * 1024  # one text field (the longest textarea is 50 000 characters)
MAX_TEXT_BYTES = MIB  # all text fields together
MAX_PARTS = 200  # fields + files in one report
MAX_BOUNDARY = 200
#: The longest body a report without attachments can have: all its text and the
#: framing (boundary line and part headers) of every part. A longer body must
#: carry files, so it must leave the storage budget's text-only reserve alone.
MAX_TEXT_BODY = MAX_TEXT_BYTES + MAX_PARTS * 512
# One read of the body: 256 KiB means fewer trips through the multipart decoder
# than 64 KiB, for ~0.5 MiB more per concurrent upload.
READ_SIZE = 256 * 1024
_UTF8 = {"", "utf-8", "utf8", "us-ascii", "ascii"}

Fields = MultiDict[str, str]


def parse_body(environ: dict[str, Any], rx: Receiving) -> Fields:
    """Read the whole body of ``environ``: returns the text fields; files go into ``rx``.

    Raises BadForm (400) for anything malformed, TooLarge (413) past a limit.
    """
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    stream = get_input_stream(environ, max_content_length=rx.max_body_bytes)
    try:
        if mimetype == "multipart/form-data":
            boundary = options.get("boundary", "").encode("ascii")
            if not boundary or len(boundary) > MAX_BOUNDARY:
                raise BadForm()
            return _parse_multipart(stream, boundary, rx)
        if mimetype == "application/x-www-form-urlencoded":
            body = read_upto(stream, MAX_TEXT_BYTES + 1)
            if len(body) > MAX_TEXT_BYTES:
                raise BadForm()
            items = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              errors="strict", max_num_fields=MAX_PARTS)
            return MultiDict(items)
    except HTTPException:
        raise
    except (ValueError, UnicodeError):
        raise BadForm() from None
    raise BadForm()


def _parse_multipart(stream: Any, boundary: bytes, rx: Receiving) -> Fields:
    decoder = MultipartDecoder(boundary)
    collect = _Collector(rx)
    while True:
        data = stream.read(READ_SIZE)
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
            return MultiDict(collect.fields)


def _decode_field(data: bytes, headers: Any) -> str:
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

    def __init__(self, rx: Receiving) -> None:
        self.rx = rx
        self.fields: list[tuple[str, str]] = []
        self.parts = self.text_bytes = self.field_bytes = 0
        self.part: Field | File | None = None
        self.buf: list[bytes] = []
        self.sink: AttachmentSink | None = None

    def start(self, event: Field | File) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or not event.name:
            raise BadForm()
        if isinstance(event, File) and event.name not in self.rx.file_fields:
            raise BadForm()
        self.part, self.buf, self.field_bytes = event, [], 0
        self.sink = (
            self.rx.open_sink(event.filename or "", event.headers.get("content-type"))
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
            self.sink.finish()
        else:
            self.fields.append((part.name, _decode_field(b"".join(self.buf), part.headers)))
        self.part, self.sink, self.buf = None, None, []
