"""Batches: the envelopes a server exports, with a manifest and a hash chain.

Layout and rules: ``keys/SPEC.md`` (section "Batch"). The server numbers its
reports 1, 2, 3, … in one chain; link ``n`` hashes link ``n-1`` with report
``n``'s id and envelope hash, so an analyst who keeps the last link seen can
tell whether anything between two batches is missing, repeated or altered.
Version 2 adds the server's signature after the manifest hash (SPEC.md section
6, ``keys/signature.py``); version 1 (unsigned) is still written for tests.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Callable

if TYPE_CHECKING:
    from nacl.signing import SigningKey

MAGIC = b"SKRYNKAB"
VERSION = 2  # signed
UNSIGNED_VERSION = 1
VERSIONS = (UNSIGNED_VERSION, VERSION)
CHAIN_LABEL = b"skrynka-chain-v1"
GENESIS = bytes(32)
MAX_MANIFEST = 64 << 20
_PREFIX = struct.Struct(">8sBI")  # magic, version, manifest length


def chain_next(prev: bytes, seq: int, report_id: bytes, envelope_sha256: bytes) -> bytes:
    """The chain link for report ``seq``: SHA-256 over the previous link and the report."""
    if len(prev) != 32 or len(report_id) != 16 or len(envelope_sha256) != 32 or seq < 1:
        raise ValueError("bad chain input")
    return hashlib.sha256(
        CHAIN_LABEL + prev + struct.pack(">Q", seq) + report_id + envelope_sha256
    ).digest()


@dataclass(frozen=True)
class AttachmentEntry:
    id: bytes
    size: int  # envelope bytes
    sha256: bytes  # of the envelope
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class ReportEntry:
    seq: int
    id: bytes
    day: str  # YYYY-MM-DD, the coarse day the server received it
    size: int  # envelope bytes
    sha256: bytes  # of the envelope
    chain: bytes  # link after this report
    open: Callable[[], BinaryIO]
    attachments: Sequence[AttachmentEntry] = field(default_factory=tuple)


def manifest_dict(
    *, batch_id: bytes, chain_id: bytes, created_day: str, prev_seq: int, prev_chain: bytes,
    reports: Sequence[ReportEntry], version: int = VERSION,
) -> dict[str, object]:
    """The manifest as a JSON-ready dict (see SPEC.md for every key)."""
    return {
        "format": "skrynka-batch",
        "version": version,
        "batch_id": batch_id.hex(),
        "chain_id": chain_id.hex(),
        "created_day": created_day,
        "prev": {"seq": prev_seq, "chain": prev_chain.hex()},
        "reports": [
            {
                "seq": r.seq,
                "id": r.id.hex(),
                "day": r.day,
                "size": r.size,
                "sha256": r.sha256.hex(),
                "chain": r.chain.hex(),
                "attachments": [
                    {"id": a.id.hex(), "size": a.size, "sha256": a.sha256.hex()}
                    for a in r.attachments
                ],
            }
            for r in reports
        ],
    }


def write_batch(
    out: BinaryIO,
    *,
    batch_id: bytes,
    chain_id: bytes,
    created_day: str,
    prev_seq: int,
    prev_chain: bytes,
    reports: Sequence[ReportEntry],
    signing_key: SigningKey | None,
    copy_chunk: int = 1 << 20,
) -> None:
    """Write a batch: prefix, manifest, manifest hash, signature, then every envelope.

    With ``signing_key`` the batch is version 2, signed (SPEC 6); with None it is
    an unsigned version 1 batch, which analysts accept only with --allow-unsigned.
    Each envelope's bytes are checked against the size and hash given for it,
    so a batch never claims what it does not carry.
    """
    version = UNSIGNED_VERSION if signing_key is None else VERSION
    manifest = json.dumps(
        manifest_dict(
            batch_id=batch_id, chain_id=chain_id, created_day=created_day,
            prev_seq=prev_seq, prev_chain=prev_chain, reports=reports, version=version,
        ),
        ensure_ascii=True, separators=(",", ":"), sort_keys=True,
    ).encode("ascii")
    if len(manifest) > MAX_MANIFEST:
        raise ValueError("too many reports for one batch")
    prefix = _PREFIX.pack(MAGIC, version, len(manifest))
    digest = hashlib.sha256(manifest).digest()
    out.write(prefix)
    out.write(manifest)
    out.write(digest)
    if signing_key is not None:
        from keys import signature

        out.write(signature.sign(signing_key, prefix, digest))
    for report in reports:
        _copy_checked(report.open, report.size, report.sha256, out, copy_chunk)
        for att in report.attachments:
            _copy_checked(att.open, att.size, att.sha256, out, copy_chunk)


def _copy_checked(
    opener: Callable[[], BinaryIO], size: int, sha256: bytes, out: BinaryIO, chunk: int
) -> None:
    digest = hashlib.sha256()
    copied = 0
    with opener() as src:
        while block := src.read(min(chunk, size - copied + 1)):
            copied += len(block)
            if copied > size:
                break
            digest.update(block)
            out.write(block)
    if copied != size or digest.digest() != sha256:
        raise ValueError("stored envelope does not match its recorded size or hash")
