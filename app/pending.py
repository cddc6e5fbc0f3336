"""A sealed report on its way into the database: ciphertext only.

app/intake builds these; app/storage.py stores them (app/inserter.py writes
the rows). Nothing here is plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PendingAttachment:
    """A sealed attachment whose pieces are already in ``blob_chunks`` (ciphertext
    only), waiting for the report's commit to give it an ``attachments`` row."""

    attachment_id: bytes
    size: int  # envelope bytes
    sha256: bytes  # of the envelope


@dataclass(frozen=True)
class PendingReport:
    """A sealed report: its envelope and its attachments' envelopes."""

    report_id: bytes
    envelope: bytes
    envelope_sha256: bytes
    attachments: tuple[PendingAttachment, ...]
