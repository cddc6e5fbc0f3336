"""One whole submission: parse, validate, seal."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from app.formdef import FormDef
from app.intake.multipart import parse_body
from app.intake.sealing import AttachmentSink, Receiving
from app.intake.validate import Validated, validate
from app.pending import PendingReport
from keys.envelope import KIND_REPORT, seal_bytes
from keys.receipt import new_code

#: The form page's hidden input: random per rendering, sealed as ``form_nonce``.
NONCE_FIELD = "_nonce"
_NONCE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Invalid:
    """Validation failed: what to show again (never stored), and how many chosen files
    were received and dropped (the voter must choose them again)."""

    validated: Validated
    files_dropped: int = 0


@dataclass(frozen=True)
class Accepted:
    """The sealed report, and its receipt code for the voter's page (kept nowhere:
    the code is inside the sealed report, and nothing else holds it)."""

    pending: PendingReport
    receipt: str


def receive(
    environ: dict[str, Any], rx: Receiving, form_def: FormDef, lang: str, day: str
) -> Invalid | Accepted:
    """Read, validate and seal the submission in ``environ``'s body.

    Attachments are sealed into ``rx`` while the body arrives; the caller
    stores the result and then calls ``rx.discard()`` whatever happened.
    The receipt code is made here, before sealing, and sealed into the report.
    """
    fields = parse_body(environ, rx)
    validated = validate(form_def, fields)
    if not validated.ok:
        dropped = sum(1 for s in rx.sinks if not s.skipped)
        rx.discard()
        return Invalid(validated, dropped)
    sinks = [s for s in rx.sinks if not s.skipped]
    values = dict(validated.values)
    cited = values.pop(form_def.receipts_field() or "", [])
    receipt = new_code()
    report: dict[str, Any] = {
        "format": "skrynka-report",
        "version": 1,
        "form": {"id": form_def.id, "version": form_def.version},
        "lang": lang,
        "received_day": day,
        "fields": values,
        "labels": form_def.labels_en(),
        "attachments": [_describe(s) for s in sinks],
        "receipt": receipt,
        "cites": cited if isinstance(cited, list) else [],
    }
    nonce = fields.getlist(NONCE_FIELD)
    if len(nonce) == 1 and _NONCE.fullmatch(nonce[0]):
        report["form_nonce"] = nonce[0]
    plain = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    envelope = seal_bytes(plain, rx.recipients, kind=KIND_REPORT, report_id=rx.report_id)
    pending = tuple(s.result for s in sinks if s.result is not None)
    sha = hashlib.sha256(envelope).digest()
    return Accepted(PendingReport(rx.report_id, envelope, sha, pending), receipt)


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
