"""Read and decrypt an exported batch strictly, straight from keys/SPEC.md.

This is the hostile tests' own reader (independent of the analyst CLI), so a
server-side bug cannot hide behind a matching bug in ``python -m keys decrypt``:
every size, hash and chain link in the manifest is checked, and any damage is an
exception — a batch exported by a healthy server is never damaged.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nacl.exceptions import BadSignatureError
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from keys.batch import GENESIS, MAGIC, chain_next
from keys.envelope import KIND_ATTACHMENT, KIND_REPORT, open_bytes
from testkit.hostile.ledger import Opened, digest

_PREFIX = struct.Struct(">8sBI")


class BatchProblem(Exception):
    """The exported batch is not what SPEC.md says a server writes."""


@dataclass(frozen=True)
class Entry:
    manifest: dict[str, object]
    envelope: bytes
    attachments: tuple[bytes, ...]


def read_manifest(f: BinaryIO) -> dict[str, object]:
    """The manifest at the start of a batch (its hash checked); ``f`` is left at the body."""
    prefix = f.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise BatchProblem("batch shorter than its prefix")
    magic, version, mlen = _PREFIX.unpack(prefix)
    if magic != MAGIC or version not in (1, 2):
        raise BatchProblem(f"bad magic/version {magic!r}/{version}")
    raw = f.read(mlen)
    digest = f.read(32)
    if len(raw) != mlen or hashlib.sha256(raw).digest() != digest:
        raise BatchProblem("manifest hash does not match")
    if version == 2:  # SPEC 6.1: signer key[32] | Ed25519 signature[64] over label|prefix|hash
        block = f.read(96)
        try:
            VerifyKey(block[:32]).verify(b"skrynka-batch-v2" + prefix + digest, block[32:])
        except (BadSignatureError, ValueError):
            raise BatchProblem("batch signature does not verify") from None
    manifest: dict[str, object] = json.loads(raw)
    if type(manifest.get("version")) is not int:  # SPEC 3.3: "1" or true is mistyped
        raise BatchProblem(f"manifest version {manifest.get('version')!r} is not an integer")
    if manifest.get("version") != version:
        raise BatchProblem("manifest version differs from the prefix's")
    return manifest


def iter_entries(f: BinaryIO, manifest: dict[str, object]) -> Iterator[Entry]:
    """Each report's envelopes in turn, sizes and hashes checked (one report in memory)."""
    reports = manifest["reports"]
    assert isinstance(reports, list)
    for rep in reports:
        env = _take(f, rep)
        yield Entry(rep, env, tuple(_take(f, att) for att in rep["attachments"]))
    if f.read(1):
        raise BatchProblem("bytes after the last envelope")


def split_batch(data: bytes) -> tuple[dict[str, object], list[Entry]]:
    """Manifest and every report's envelope bytes (a whole batch held in memory)."""
    f = io.BytesIO(data)
    manifest = read_manifest(f)
    return manifest, list(iter_entries(f, manifest))


def _take(f: BinaryIO, meta: dict[str, object]) -> bytes:
    size = meta["size"]
    assert isinstance(size, int)
    blob = f.read(size)
    if len(blob) != size or hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise BatchProblem(f"envelope {meta['id']} does not match its size or hash")
    return blob


def check_chain(manifest: dict[str, object], entries: Iterable[Entry]) -> Iterator[Entry]:
    """Pass the entries through, checking sequence numbers and chain links on the way."""
    prev = manifest["prev"]
    assert isinstance(prev, dict)
    seq, link = int(prev["seq"]), bytes.fromhex(prev["chain"])
    if seq == 0 and link != GENESIS:
        raise BatchProblem("first batch does not start at the genesis link")
    for e in entries:
        m = e.manifest
        if m["seq"] != seq + 1:
            raise BatchProblem(f"sequence jumps from {seq} to {m['seq']}")
        seq += 1
        link = chain_next(link, seq, bytes.fromhex(str(m["id"])),
                          bytes.fromhex(str(m["sha256"])))
        if link.hex() != m["chain"]:
            raise BatchProblem(f"chain link of report {seq} is wrong")
        yield e


def open_entry(e: Entry, key: PrivateKey) -> Opened:
    """Decrypt one report and its attachments; any damage raises."""
    header, plain = open_bytes(e.envelope, key)
    rid = bytes.fromhex(str(e.manifest["id"]))
    if header.kind != KIND_REPORT or header.report_id != rid:
        raise BatchProblem(f"report envelope {rid.hex()} has a wrong header")
    report = json.loads(plain.decode("utf-8"))
    if re.search("[\ud800-\udfff]", json.dumps(report, ensure_ascii=False)):  # SPEC 3.4
        raise BatchProblem(f"report {rid.hex()} holds a lone surrogate")
    if _depth(report) > 16:  # SPEC 3.4
        raise BatchProblem(f"report {rid.hex()} nests more than 16 deep")
    listed = report.get("attachments", [])
    metas = e.manifest["attachments"]
    assert isinstance(metas, list)
    if [a["id"] for a in listed] != [a["id"] for a in metas]:
        raise BatchProblem(f"report {rid.hex()} lists other attachments than the manifest")
    atts: dict[str, str] = {}
    for meta, blob in zip(listed, e.attachments):
        h, data = open_bytes(blob, key)
        if (h.kind != KIND_ATTACHMENT or h.report_id != rid
                or h.envelope_id.hex() != meta["id"]):
            raise BatchProblem(f"attachment {meta['id']} has a wrong header")
        if len(data) != meta["size"]:
            raise BatchProblem(f"attachment {meta['id']} differs from its listed size")
        # the report binds each attachment by its envelope's hash (SPEC 3.4); older
        # servers listed the plaintext's hash instead: check whichever is there
        if "envelope_sha256" in meta and hashlib.sha256(blob).hexdigest() != meta[
                "envelope_sha256"]:
            raise BatchProblem(f"attachment {meta['id']} differs from its listed envelope")
        if "sha256" in meta and hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise BatchProblem(f"attachment {meta['id']} differs from its listed hash")
        if "envelope_sha256" not in meta and "sha256" not in meta:
            raise BatchProblem(f"attachment {meta['id']} is listed without any hash")
        atts[meta["id"]] = digest(data)
    return Opened(report, atts)


def _depth(value: object) -> int:
    """Arrays and objects nested in ``value`` (a top-level object: 1)."""
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list):
        return 0
    return 1 + max(map(_depth, items), default=0)


def decrypt_batch(path: Path, key: PrivateKey) -> list[Opened]:
    """Every report of a batch, decrypted; streamed, so memory stays at one report."""
    with open(path, "rb") as f:
        manifest = read_manifest(f)
        return [open_entry(e, key) for e in check_chain(manifest, iter_entries(f, manifest))]


def decrypt_batches(paths: list[Path], key: PrivateKey) -> list[Opened]:
    """Several consecutive batches of one server (their chains must join, one signer)."""
    out: list[Opened] = []
    if len({signer_of(p) for p in paths}) > 1:
        raise BatchProblem("the batches of one server are signed by different keys")
    for p in paths:
        out += decrypt_batch(p, key)
    return out


def signer_of(path: Path) -> bytes | None:
    """The export key a version 2 batch names (checked by read_manifest); None: version 1."""
    with open(path, "rb") as f:
        prefix = f.read(_PREFIX.size)
        _, version, mlen = _PREFIX.unpack(prefix)
        f.seek(_PREFIX.size + mlen + 32)
        return f.read(32) if version == 2 else None
