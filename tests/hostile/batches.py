"""Read and decrypt an exported batch strictly, straight from keys/SPEC.md.

This is the hostile tests' own reader (independent of the analyst CLI), so a
server-side bug cannot hide behind a matching bug in ``python -m keys decrypt``:
every size, hash and chain link in the manifest is checked, and any damage is an
exception — a batch exported by a healthy server is never damaged.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey

from keys.batch import GENESIS, MAGIC, chain_next
from keys.envelope import KIND_ATTACHMENT, KIND_REPORT, open_bytes
from tests.hostile.client import Opened

_PREFIX = struct.Struct(">8sBI")


class BatchProblem(Exception):
    """The exported batch is not what SPEC.md says a server writes."""


@dataclass(frozen=True)
class Entry:
    manifest: dict[str, object]
    envelope: bytes
    attachments: tuple[bytes, ...]


def split_batch(data: bytes) -> tuple[dict[str, object], list[Entry]]:
    """Manifest and every report's envelope bytes, with sizes and hashes checked."""
    if len(data) < _PREFIX.size:
        raise BatchProblem("batch shorter than its prefix")
    magic, version, mlen = _PREFIX.unpack_from(data)
    if magic != MAGIC or version != 1:
        raise BatchProblem(f"bad magic/version {magic!r}/{version}")
    pos = _PREFIX.size
    manifest_raw = data[pos : pos + mlen]
    pos += mlen
    if hashlib.sha256(manifest_raw).digest() != data[pos : pos + 32]:
        raise BatchProblem("manifest hash does not match")
    pos += 32
    manifest = json.loads(manifest_raw)
    entries = []
    for rep in manifest["reports"]:
        env, pos = _take(data, pos, rep)
        atts = []
        for att in rep["attachments"]:
            blob, pos = _take(data, pos, att)
            atts.append(blob)
        entries.append(Entry(rep, env, tuple(atts)))
    if pos != len(data):
        raise BatchProblem(f"{len(data) - pos} bytes after the last envelope")
    return manifest, entries


def _take(data: bytes, pos: int, meta: dict[str, object]) -> tuple[bytes, int]:
    size = meta["size"]
    assert isinstance(size, int)
    blob = data[pos : pos + size]
    if len(blob) != size or hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise BatchProblem(f"envelope {meta['id']} does not match its size or hash")
    return blob, pos + size


def check_chain(manifest: dict[str, object], entries: list[Entry]) -> None:
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


def open_entry(e: Entry, key: PrivateKey) -> Opened:
    """Decrypt one report and its attachments; any damage raises."""
    header, plain = open_bytes(e.envelope, key)
    rid = bytes.fromhex(str(e.manifest["id"]))
    if header.kind != KIND_REPORT or header.report_id != rid:
        raise BatchProblem(f"report envelope {rid.hex()} has a wrong header")
    report = json.loads(plain.decode("utf-8"))
    listed = report.get("attachments", [])
    metas = e.manifest["attachments"]
    assert isinstance(metas, list)
    if [a["id"] for a in listed] != [a["id"] for a in metas]:
        raise BatchProblem(f"report {rid.hex()} lists other attachments than the manifest")
    atts: dict[str, bytes] = {}
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
        atts[meta["id"]] = data
    return Opened(report, atts)


def decrypt_batch(path: Path, key: PrivateKey) -> list[Opened]:
    manifest, entries = split_batch(path.read_bytes())
    check_chain(manifest, entries)
    return [open_entry(e, key) for e in entries]


def decrypt_batches(paths: list[Path], key: PrivateKey) -> list[Opened]:
    """Several consecutive batches of one server (their chains must join)."""
    out: list[Opened] = []
    for p in paths:
        out += decrypt_batch(p, key)
    return out
