"""Sealing as the bytes arrive: one request's :class:`Receiving` and its attachment sinks.

Every file part goes into an :class:`AttachmentSink`, which seals each 64 KiB
as it arrives and hands the ciphertext to the request's spool (app/blobstore.py:
pieces in the database, never a file per upload). Nothing here can read a part
back, and nothing plaintext is ever written anywhere.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nacl.utils import random as random_bytes
from werkzeug.http import parse_options_header

from app.errors import StorageFull
from app.httperrors import Full, TooLarge, TooManyFiles
from app.pending import PendingAttachment
from keys.envelope import KIND_ATTACHMENT, Sealer

MAX_NAME_CHARS = 255
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


class CipherOut(Protocol):
    """Where one attachment's ciphertext goes (app/blobstore.py's ChunkWriter)."""

    size: int

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...
    def digest(self) -> bytes: ...


#: Opens the destination of one attachment envelope, by attachment id.
Spool = Callable[[bytes], CipherOut]


@dataclass
class Receiving:
    """One request's upload context: the keys to seal to, where sealed parts go, the
    limits. Handed explicitly to the body parser; it collects the request's sinks."""

    recipients: Sequence[bytes]
    spool: Spool
    max_file_bytes: int
    max_report_bytes: int  # attachment plaintext of one report, all files together
    file_fields: frozenset[str]
    max_body_bytes: int | None = None  # the whole request body (framing and text included)
    max_files: int = 10  # attachments of one report (SKRYNKA_MAX_FILES)
    report_id: bytes = field(default_factory=lambda: random_bytes(16))
    sinks: list[AttachmentSink] = field(default_factory=list)
    total: int = 0  # attachment plaintext bytes so far
    files: int = 0  # file parts so far that are attachments (not skipped empty inputs)

    def open_sink(self, filename: str, content_type: str | None) -> AttachmentSink:
        """A new sink for one file part of this request."""
        sink = AttachmentSink(self, clean_filename(filename), content_type)
        self.sinks.append(sink)
        return sink

    def count_file(self) -> None:
        """One more file part is an attachment: TooManyFiles (413) past ``max_files``.

        Raised before anything of that part is sealed; the parts sealed so far
        are removed by :meth:`discard`, as for every refused request."""
        self.files += 1
        if self.files > self.max_files:
            raise TooManyFiles(self.max_files)

    def discard(self) -> None:
        """Remove every sealed or half-sealed part of this request."""
        for sink in self.sinks:
            sink.abort()
        self.sinks.clear()

    def release(self) -> None:
        """The report is stored: its attachments' pieces belong to it now."""
        self.sinks.clear()


class AttachmentSink:
    """A file part's destination: seals plaintext on the fly, never stores it.

    The parser calls ``write`` per piece and ``finish`` when the part is complete
    (that finishes the envelope and fsyncs it). Reading is refused: the
    plaintext is not kept.
    """

    def __init__(self, rx: Receiving, filename: str, content_type: str | None) -> None:
        self.rx = rx
        self.filename = filename
        self.media_type = clean_media_type(content_type)
        self.attachment_id = random_bytes(16)
        self.size = 0
        self.result: PendingAttachment | None = None
        self._out: CipherOut | None = None
        self._sealer: Sealer | None = None
        self.done = False
        if self.filename:
            rx.count_file()  # a named part is an attachment, even an empty one

    def _open(self) -> Sealer:
        self._out = self.rx.spool(self.attachment_id)
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
        if self.size == 0 and not self.filename:
            self.rx.count_file()  # a nameless part with bytes is an attachment too
        self.size += len(data)
        self.rx.total += len(data)
        if self.size > self.rx.max_file_bytes:
            raise TooLarge(self.rx.max_file_bytes)
        if self.rx.total > self.rx.max_report_bytes:
            raise TooLarge(self.rx.max_report_bytes)
        sealer = self._sealer or self._open()
        try:
            sealer.write(data)
        except StorageFull:
            raise Full() from None
        return len(data)

    @property
    def skipped(self) -> bool:
        """An empty file input (no file chosen): no filename and no bytes."""
        return not self.filename and self.size == 0

    def finish(self) -> None:
        """The part is complete: close the envelope (the report's commit makes it
        durable)."""
        if self.done:
            return
        self.done = True
        if self.skipped:
            return
        sealer = self._sealer or self._open()
        assert self._out is not None
        try:
            sealer.close()
            self._out.close()
        except StorageFull:
            raise Full() from None
        self.result = PendingAttachment(self.attachment_id, self._out.size, self._out.digest())

    def read(self, *_args: object) -> bytes:
        raise OSError("sealed attachments cannot be read back")

    def abort(self) -> None:
        """Drop this part. Cleanup must not fail the request: on a full disk or a
        database error its pieces stay as orphans, removed when this worker exits
        (gunicorn.conf.py) or at the next start."""
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.discard()
        self.result = None


def clean_media_type(content_type: str | None) -> str:
    mimetype = parse_options_header(content_type or "")[0].strip().lower()
    return mimetype if _MEDIA_TYPE.fullmatch(mimetype) else "application/octet-stream"


def clean_filename(name: str) -> str:
    """The original name, minus control characters, at most 255 characters."""
    return "".join(c for c in name if c.isprintable())[:MAX_NAME_CHARS]
