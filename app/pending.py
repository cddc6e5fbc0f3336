"""A sealed report on its way into the database: ciphertext and file paths only.

app/intake builds these; app/storage.py stores them (app/inserter.py writes
the rows). Nothing here is plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PendingAttachment:
    """A sealed attachment waiting in ``incoming/`` (ciphertext only)."""

    attachment_id: bytes
    part_path: Path
    size: int  # envelope bytes
    sha256: bytes  # of the envelope

    @property
    def blob_name(self) -> str:
        return self.attachment_id.hex()


@dataclass(frozen=True)
class PendingReport:
    """A sealed report: its envelope and its attachments' envelopes."""

    report_id: bytes
    envelope: bytes
    envelope_sha256: bytes
    attachments: tuple[PendingAttachment, ...]
