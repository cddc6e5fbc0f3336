"""Decrypt an exported batch in bounded memory, checking it against keys/SPEC.md.

Used by :func:`testkit.live_client.export_and_open`: the manifest hash, every
envelope's size and hash, each report's listing of its attachments and the chain are
checked, and attachments are streamed (hashed, kept only while small), so a 512 MiB
attachment needs no memory. Any damage is an ``AssertionError``.
(:mod:`testkit.hostile.batch_reader` is the hostile tests' own reader: whole reports in
memory, damage raised as ``BatchProblem``.)
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nacl.public import PrivateKey

from keys import batch, envelope, signature

MIB = 1 << 20


class _Bounded:
    """``n`` bytes of ``inp`` as a file of its own, hashed as read."""

    def __init__(self, inp: BinaryIO, n: int) -> None:
        self.inp, self.left, self.hash = inp, n, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data = self.inp.read(want) if want else b""
        if len(data) != want:
            raise AssertionError("batch ends inside an envelope")
        self.left -= len(data)
        self.hash.update(data)
        return data

    def drain(self) -> bytes:
        while self.left:
            self.read(MIB)
        return self.hash.digest()


class _Sink:
    """Where a decrypted attachment goes: hashed, kept only while small."""

    def __init__(self, keep: int) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        self.keep = keep
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.size <= self.keep:
            self.parts.append(bytes(data))
        return len(data)

    @property
    def data(self) -> bytes | None:
        return b"".join(self.parts) if self.size <= self.keep else None


@dataclass
class OpenedAttachment:
    id: str
    size: int
    sha256: str  # of the decrypted data (computed here)
    data: bytes | None  # None when larger than the keep limit
    envelope_sha256: str = ""  # of the envelope bytes (checked against manifest and report)


@dataclass
class OpenedReport:
    seq: int
    id: str
    day: str
    report: dict[str, Any]
    attachments: dict[str, OpenedAttachment]

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.report["fields"])


def open_batch_file(path: Path, key: PrivateKey, keep: int = 4 * MIB) -> tuple[dict[str, Any],
                                                                           list[OpenedReport]]:
    """Check and decrypt a whole batch file (layout: keys/SPEC.md) in bounded memory."""
    out: list[OpenedReport] = []
    with open(path, "rb") as f:
        prefix = f.read(13)
        magic, version, mlen = struct.unpack(">8sBI", prefix)
        assert (magic, version) == (batch.MAGIC, batch.VERSION)
        raw = f.read(mlen)
        digest = f.read(32)
        assert hashlib.sha256(raw).digest() == digest, "manifest hash"
        assert signature.verify(f.read(signature.BLOCK_LEN), prefix, digest), "signature"
        manifest = json.loads(raw)
        prev = bytes.fromhex(manifest["prev"]["chain"])
        for r in manifest["reports"]:
            sec = _Bounded(f, r["size"])
            sink = _Sink(1 << 30)
            header, _ = envelope.open_stream(sec, sink, key)  # type: ignore[arg-type]
            env_sha = sec.drain()
            assert env_sha.hex() == r["sha256"], "report envelope hash"
            assert header.kind == envelope.KIND_REPORT
            assert header.envelope_id.hex() == header.report_id.hex() == r["id"]
            link = batch.chain_next(prev, r["seq"], bytes.fromhex(r["id"]), env_sha)
            assert link.hex() == r["chain"], f"chain link of seq {r['seq']}"
            prev = link
            report = json.loads(sink.data or b"")
            listing = {a["id"]: a for a in report["attachments"]}
            assert sorted(listing) == sorted(a["id"] for a in r["attachments"]), "attachments"
            atts: dict[str, OpenedAttachment] = {}
            for a in r["attachments"]:
                asec = _Bounded(f, a["size"])
                asink = _Sink(keep)
                aheader, _ = envelope.open_stream(asec, asink, key)  # type: ignore[arg-type]
                assert asec.drain().hex() == a["sha256"], "attachment envelope hash"
                assert aheader.kind == envelope.KIND_ATTACHMENT
                assert aheader.report_id.hex() == r["id"]
                assert aheader.envelope_id.hex() == a["id"]
                assert listing[a["id"]]["envelope_sha256"] == a["sha256"], "report's listing"
                assert listing[a["id"]]["size"] == asink.size, "listed plaintext size"
                atts[a["id"]] = OpenedAttachment(a["id"], asink.size, asink.hash.hexdigest(),
                                                 asink.data, a["sha256"])
            out.append(OpenedReport(r["seq"], r["id"], r["day"], report, atts))
        assert f.read(1) == b"", "trailing bytes after the last envelope"
    return manifest, out
