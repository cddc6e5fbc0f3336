"""Helpers for the app tests: multipart bodies built in memory, valid answers in
three languages, reading back (decrypting) what the server stored, and checking
a page's localized message."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from werkzeug.test import TestResponse

from app.models import attachments, blob_chunks, reports
from keys.envelope import KIND_ATTACHMENT, KIND_REPORT, open_bytes, read_header

TEXTS = {
    "be": "Назіральніка выдалілі з участка ў 19:40. Ґ і ў — беларускія літары.",
    "ru": "Наблюдателя удалили с участка в 19:40, бюллетени пересчитывали за ширмой.",
    "en": "The observer was removed at 19:40; ballots were counted behind a screen.",
}


def valid_fields(lang: str = "en", **extra: Any) -> list[tuple[str, str]]:
    fields = [
        ("what", "observers_barred"),
        ("what", "opaque_counting"),
        ("region", "minsk_city"),
        ("town", {"be": "Мінск", "ru": "Минск", "en": "Minsk"}[lang]),
        ("incident_date-day", "25"),  # the date's three selects (app/templates/_fields.html)
        ("incident_date-month", "2"),
        ("incident_date-year", "2024"),
        ("incident_time", "19:40"),
        ("description", TEXTS[lang]),
    ]
    for name, value in extra.items():  # a date's name replaces its three parts too
        fields = [f for f in fields if f[0] != name and not f[0].startswith(f"{name}-")]
        if value is not None:
            fields += [(name, v) for v in (value if isinstance(value, list) else [value])]
    return fields


@dataclass
class FilePart:
    name: str
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def multipart(
    fields: Sequence[tuple[str, str | bytes]], files: Sequence[FilePart] = (),
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """(body, content type) built in memory: nothing is spooled to a temp file."""
    b = boundary or "----skrynka" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        out += f'--{b}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += raw + b"\r\n"
    for f in files:
        out += (
            f'--{b}\r\nContent-Disposition: form-data; name="{f.name}"; '
            f'filename="{f.filename}"\r\nContent-Type: {f.content_type}\r\n\r\n'
        ).encode()
        out += f.data + b"\r\n"
    out += f"--{b}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={b}"


def post(client: FlaskClient, url: str, fields: Sequence[tuple[str, str | bytes]],
         files: Sequence[FilePart] = (), **kw: Any) -> TestResponse:
    body, ctype = multipart(fields, files)
    return client.post(url, data=body, content_type=ctype, **kw)


@dataclass
class Stored:
    seq: int
    day: str
    report: dict[str, Any]
    files: list[bytes]
    chain: bytes
    envelope_sha256: bytes
    attachment_sha256: list[str]  # hex SHA-256 of each attachment's stored envelope


def stored_reports(app: Flask, key: PrivateKey) -> list[Stored]:
    """Open every stored report and attachment (reports + blob_chunks) with the analyst key."""
    store = app.extensions["skrynka"].store
    out = []
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(reports).order_by(reports.c.seq)).all()
        for row in rows:
            header, plain = open_bytes(bytes(row.envelope), key)
            assert header.kind == KIND_REPORT and header.report_id == bytes(row.report_id)
            report = json.loads(plain)
            files, hashes = [], []
            atts = conn.execute(
                sa.select(attachments).where(attachments.c.report_seq == row.seq)
                .order_by(attachments.c.position)
            ).all()
            assert [bytes(a.attachment_id).hex() for a in atts] == [
                a["id"] for a in report["attachments"]
            ]
            for att in atts:
                data = store.blobs.reader(bytes(att.attachment_id)).read()
                assert len(data) == att.size
                h, content = open_bytes(data, key)
                assert h.kind == KIND_ATTACHMENT and h.report_id == bytes(row.report_id)
                assert h.envelope_id == bytes(att.attachment_id)
                assert hashlib.sha256(data).digest() == bytes(att.sha256)
                files.append(content)
                hashes.append(hashlib.sha256(data).hexdigest())
            out.append(Stored(row.seq, row.day, report, files, bytes(row.chain),
                              bytes(row.envelope_sha256), hashes))
    return out


def envelope_kind(path: Path) -> int:
    with path.open("rb") as f:
        return read_header(f).kind


def has_message(resp: TestResponse, app: Flask, lang: str, key: str, **params: Any) -> bool:
    """The localized catalog text ``key`` appears (HTML-escaped) in the page."""
    from markupsafe import escape

    text = app.extensions["skrynka"].catalogs.gettext(lang, key, **params)
    return str(escape(text)) in resp.get_data(as_text=True)


def piece_ids(app: Flask) -> set[bytes]:
    """The attachment ids that have pieces in ``blob_chunks`` (stored or not)."""
    store = app.extensions["skrynka"].store
    with store.engine.connect() as conn:
        return {bytes(r[0]) for r in conn.execute(
            sa.select(blob_chunks.c.attachment_id).distinct())}


def orphan_pieces(app: Flask) -> int:
    """Pieces no attachment row owns: what a refused or cut-off upload left."""
    return int(app.extensions["skrynka"].store.blobs.orphans())
