"""Test helpers for keys/: a tiny "server" that seals reports and exports batches.

It uses the real keys.envelope and keys.batch code, so batches made here are
exactly what app/ exports. Fixtures built on it are in conftest.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keys import batch, envelope
from keys import decrypt as _decrypt
from keys.origin import Trust
from keys.output import attachment_names

#: What the tests of everything but origin give: pin the first signer, allow unsigned.
TRUSTING = Trust(trust_first=True, allow_unsigned=True)


def decrypt_batches(key: PrivateKey, batches: Any, out: Path, **kw: Any) -> _decrypt.Summary:
    """keys.decrypt.decrypt_batches, trusting the first signer unless ``trust`` is given."""
    kw.setdefault("trust", TRUSTING)
    return _decrypt.decrypt_batches(key, batches, out, **kw)


@dataclass
class Sealed:
    seq: int
    id: bytes
    report: dict
    envelope: bytes
    chain: bytes
    attachments: list[tuple[bytes, bytes, bytes]]  # (id, envelope, plaintext)

    @property
    def files(self) -> dict[str, bytes]:
        """Expected attachment files: sanitized name -> plaintext."""
        names = attachment_names(self.report)
        return {n: a[2] for n, a in zip(names, self.attachments)}


@dataclass
class Drop:
    """A server: one chain, reports numbered 1, 2, 3, …"""

    recipients: list[bytes]
    chain_id: bytes = field(default_factory=lambda: os.urandom(16))
    links: dict[int, bytes] = field(default_factory=lambda: {0: batch.GENESIS})
    reports: list[Sealed] = field(default_factory=list)
    signer: SigningKey | None = field(default_factory=SigningKey.generate)  # None: version 1

    def submit(
        self, fields: dict | None = None, lang: str = "en",
        attachments: list[tuple[str, bytes]] | tuple = (), day: str = "2026-11-20",
        extra: dict | None = None,
    ) -> Sealed:
        rid = os.urandom(16)
        atts = []
        listing = []
        for name, data in attachments:
            aid = os.urandom(16)
            env = envelope.seal_bytes(data, self.recipients, kind=envelope.KIND_ATTACHMENT,
                                      envelope_id=aid, report_id=rid)
            atts.append((aid, env, data))
            listing.append({"id": aid.hex(), "name": name, "media_type": "application/octet-stream",
                            "size": len(data),
                            "envelope_sha256": hashlib.sha256(env).hexdigest()})
        report = {
            "format": "skrynka-report", "version": 1,
            "form": {"id": "violations", "version": 3}, "lang": lang, "received_day": day,
            "fields": fields if fields is not None else {"what": f"report {len(self.reports) + 1}"},
            "labels": {k: k.title() for k in (fields or {"what": ""})},
            "attachments": listing,
        }
        report.update(extra or {})  # e.g. receipt, cites, form_nonce (SPEC 3.4)
        plain = json.dumps(report, ensure_ascii=False).encode("utf-8")
        env = envelope.seal_bytes(plain, self.recipients, kind=envelope.KIND_REPORT,
                                  envelope_id=rid, report_id=rid)
        seq = len(self.reports) + 1
        link = batch.chain_next(self.links[seq - 1], seq, rid, hashlib.sha256(env).digest())
        self.links[seq] = link
        sealed = Sealed(seq, rid, report, env, link, atts)
        self.reports.append(sealed)
        return sealed

    def entries(self, reports: list[Sealed]) -> list[batch.ReportEntry]:
        def opener(data: bytes):
            return lambda: io.BytesIO(data)

        return [
            batch.ReportEntry(
                seq=r.seq, id=r.id, day=r.report["received_day"], size=len(r.envelope),
                sha256=hashlib.sha256(r.envelope).digest(), chain=r.chain,
                open=opener(r.envelope),
                attachments=[
                    batch.AttachmentEntry(aid, len(env), hashlib.sha256(env).digest(), opener(env))
                    for aid, env, _ in r.attachments
                ],
            )
            for r in reports
        ]

    def export(self, path: Path, reports: list[Sealed] | None = None) -> Path:
        """Write a batch of consecutive reports (default: all)."""
        reports = self.reports if reports is None else reports
        prev = reports[0].seq - 1 if reports else len(self.reports)
        with open(path, "wb") as out:
            batch.write_batch(
                out, batch_id=os.urandom(16), chain_id=self.chain_id, created_day="2026-11-21",
                prev_seq=prev, prev_chain=self.links[prev], reports=self.entries(reports),
                signing_key=self.signer,
            )
        return path


def make_batch(path: Path, recipients: list[bytes], n: int, *, attachments: int = 1,
               signed: bool = True) -> Drop:
    """A batch of ``n`` reports, each with ``attachments`` small attachments; version 1
    (unsigned) unless ``signed``."""
    d = Drop(recipients) if signed else Drop(recipients, signer=None)
    for i in range(n):
        files = [(f"photo{j}.jpg", os.urandom(100 + i + j)) for j in range(attachments)]
        d.submit({"what": f"report {i}", "where": ["polling", "street"]}, attachments=files)
    d.export(path)
    return d


def folders(out: Path) -> dict[str, Path]:
    return {p.name: p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}


def assert_report_dir(out: Path, sealed: Sealed) -> None:
    """The folder of ``sealed`` holds exactly its report and attachments."""
    folder = out / sealed.id.hex()
    assert json.loads((folder / "report.json").read_text(encoding="utf-8")) == sealed.report
    expected = dict(sealed.files, **{"report.json": None})
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    for name, data in sealed.files.items():
        assert (folder / name).read_bytes() == data
