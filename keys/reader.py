"""Reading a batch file as a stream, in constant memory.

``open_batch`` reads the prefix and the manifest (at most 64 MiB, its SHA-256
checked, in version 2 its signature verified, every key and type validated);
``BatchFile.section`` then hands out
each envelope in turn as a bounded, hashing reader. A file that ends early or
goes on after its last envelope is a :class:`DamagedError` naming the place.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from keys import batch, envelope, signature
from keys.errors import DamagedError, FormatError, UnsupportedVersion

_PREFIX = struct.Struct(">8sBI")
_HASH_LEN = 32
_MIN_ENVELOPE = envelope.sealed_size(0, 1)
_MAX_ENVELOPE = 1 << 48
_HEX = re.compile(r"[0-9a-f]*")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NOT_BATCH_HINT = "pass a batch file exported with `python -m app export`"
_DAMAGED_HINT = "copy the batch from the server again; a USB copy may be incomplete"


class BatchTruncated(DamagedError):
    """The batch file ends before the manifest says it should."""

    hint = _DAMAGED_HINT


# Slotted: a 64 MiB manifest lists ~200,000 entries, and every batch of a run is open at once.
@dataclass(frozen=True)
class AttachmentItem:
    __slots__ = ("id", "size", "sha256")
    id: bytes
    size: int  # envelope bytes
    sha256: bytes  # of the envelope


@dataclass(frozen=True)
class ReportItem:
    __slots__ = ("seq", "id", "day", "size", "sha256", "chain", "attachments")
    seq: int
    id: bytes
    day: str
    size: int
    sha256: bytes
    chain: bytes
    attachments: tuple[AttachmentItem, ...]


@dataclass(frozen=True)
class Manifest:
    batch_id: bytes
    chain_id: bytes
    created_day: str
    prev_seq: int
    prev_chain: bytes
    reports: tuple[ReportItem, ...]
    version: int = batch.VERSION
    signer: bytes | None = None  # the verified signer's Ed25519 key (version 2), else None

    @property
    def body_size(self) -> int:
        """Bytes of all envelopes together."""
        return sum(r.size + sum(a.size for a in r.attachments) for r in self.reports)


# -- strict manifest validation -----------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> Any:
    """Each JSON object as parsed: a repeated key is a FormatError; an object shaped and
    valid as a report or attachment entry becomes its (compact) item at once, so the
    parsed manifest never holds 200,000 dicts. Anything else stays a dict, checked
    later in the order SPEC 3.3 gives (so a bad version still wins over a bad entry)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FormatError(f"batch manifest repeats the key {key!r}")
        result[key] = value
    try:
        if result.keys() == _REPORT_KEYS:
            return _report(result, "report")
        if result.keys() == _ATTACHMENT_KEYS:
            return _attachment(result, "attachment")
    except FormatError:
        pass
    return result


_REPORT_KEYS = {"seq", "id", "day", "size", "sha256", "chain", "attachments"}
_ATTACHMENT_KEYS = {"id", "size", "sha256"}


def _reject_constant(name: str) -> Any:
    raise FormatError(f"batch manifest holds {name}, which is not allowed")


def _reject_float(text: str) -> Any:
    raise FormatError(f"batch manifest holds a fraction ({text}); only whole numbers are allowed")


def _obj(value: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"batch manifest: {where} is not an object")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise FormatError(
            f"batch manifest: {where} keys are wrong (missing {missing}, unknown {extra})"
        )
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise FormatError(f"batch manifest: {where} must be a whole number in {low}..{high}")
    return value


def _hex(value: Any, length: int, where: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length or not _HEX.fullmatch(value):
        raise FormatError(f"batch manifest: {where} must be {2 * length} lowercase hex digits")
    return bytes.fromhex(value)


def _day(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise FormatError(f"batch manifest: {where} must be a day YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise FormatError(f"batch manifest: {where} is not a real day") from None
    return sys.intern(value)  # one string per day, not one per report


def _attachment(value: Any, where: str) -> AttachmentItem:
    if isinstance(value, AttachmentItem):
        return value  # checked as it was parsed
    obj = _obj(value, _ATTACHMENT_KEYS, where)
    return AttachmentItem(
        id=_hex(obj["id"], 16, where + " id"),
        size=_int(obj["size"], where + " size", _MIN_ENVELOPE, _MAX_ENVELOPE),
        sha256=_hex(obj["sha256"], 32, where + " sha256"),
    )


def _report(value: Any, where: str) -> ReportItem:
    if isinstance(value, ReportItem):
        return value  # checked as it was parsed
    obj = _obj(value, _REPORT_KEYS, where)
    atts = obj["attachments"]
    if not isinstance(atts, list):
        raise FormatError(f"batch manifest: {where} attachments is not a list")
    return ReportItem(
        seq=_int(obj["seq"], where + " seq", 1, 2**63 - 1),
        id=_hex(obj["id"], 16, where + " id"),
        day=_day(obj["day"], where + " day"),
        size=_int(obj["size"], where + " size", _MIN_ENVELOPE, _MAX_ENVELOPE),
        sha256=_hex(obj["sha256"], 32, where + " sha256"),
        chain=_hex(obj["chain"], 32, where + " chain"),
        attachments=tuple(
            _attachment(a, f"{where} attachment {i + 1}") for i, a in enumerate(atts)
        ),
    )


def parse_manifest(raw: bytes, prefix_version: int | None = None) -> Manifest:
    """Validate a manifest's JSON: every key, every type; FormatError on anything else.

    Its ``version`` must be ``prefix_version`` if given, else any known version.
    """
    try:
        text = raw.decode("ascii")
        data = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FormatError("batch manifest is not valid ASCII JSON", hint=_DAMAGED_HINT) from None
    top = _obj(data, {"format", "version", "batch_id", "chain_id", "created_day", "prev",
                      "reports"}, "the top level")
    if top["format"] != "skrynka-batch":
        raise FormatError("batch manifest is not a skrynka-batch", hint=_NOT_BATCH_HINT)
    if type(top["version"]) is not int:  # "1", true: mistyped, not another version
        raise FormatError("batch manifest: version must be a whole number")
    if top["version"] not in batch.VERSIONS:
        raise UnsupportedVersion(f"batch manifest version {top['version']} is not supported")
    if prefix_version is not None and top["version"] != prefix_version:
        raise UnsupportedVersion(f"batch manifest version {top['version']} differs from its "
                                 f"prefix version {prefix_version}")
    prev = _obj(top["prev"], {"seq", "chain"}, "prev")
    if not isinstance(top["reports"], list):
        raise FormatError("batch manifest: reports is not a list")
    reports = tuple(_report(r, f"report {i + 1}") for i, r in enumerate(top["reports"]))
    manifest = Manifest(
        batch_id=_hex(top["batch_id"], 16, "batch_id"),
        chain_id=_hex(top["chain_id"], 16, "chain_id"),
        created_day=_day(top["created_day"], "created_day"),
        prev_seq=_int(prev["seq"], "prev seq", 0, 2**63 - 1),
        prev_chain=_hex(prev["chain"], 32, "prev chain"),
        reports=reports,
        version=top["version"],
    )
    _check_order(manifest)
    return manifest


def _check_order(manifest: Manifest) -> None:
    last = manifest.prev_seq
    ids: set[bytes] = set()
    for report in manifest.reports:
        if report.seq <= last:
            raise FormatError(f"batch manifest: report seq {report.seq} is out of order")
        last = report.seq
        for item_id in [report.id] + [a.id for a in report.attachments]:
            if item_id in ids:
                raise FormatError(f"batch manifest: id {item_id.hex()} is used twice")
            ids.add(item_id)


def link_ok(manifest: Manifest, index: int, envelope_sha256: bytes) -> bool | None:
    """Whether report ``index``'s chain link matches its envelope hash.

    The link is recomputed from the previous link the batch states (so one
    altered report does not taint those after it). None when the previous
    report is missing from the batch, so the link cannot be checked.
    """
    report = manifest.reports[index]
    if index == 0:
        prev_seq, prev_chain = manifest.prev_seq, manifest.prev_chain
    else:
        prev_seq, prev_chain = manifest.reports[index - 1].seq, manifest.reports[index - 1].chain
    if prev_seq != report.seq - 1:
        return None
    return batch.chain_next(prev_chain, report.seq, report.id, envelope_sha256) == report.chain


# -- streaming -----------------------------------------------------------------------------


class Section:
    """One envelope's bytes within the batch: bounded, hashed as read, truncation checked."""

    def __init__(self, inp: BinaryIO, size: int, where: str, name: str) -> None:
        self._inp = inp
        self.remaining = size
        self.where = where
        self._name = name
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        want = self.remaining if n < 0 else min(n, self.remaining)
        if want <= 0:
            return b""
        data = self._inp.read(want)
        if len(data) != want:
            raise BatchTruncated(f"{self._name}: batch is truncated in {self.where}")
        self.remaining -= want
        self._hash.update(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever of the envelope is left unread."""
        while self.remaining:
            self.read(1 << 20)

    def sha256(self) -> bytes:
        """SHA-256 of the whole envelope (drains it first)."""
        self.drain()
        return self._hash.digest()


class BatchFile:
    """An open batch file: its manifest, then its envelopes in order."""

    def __init__(self, path: Path, inp: BinaryIO, manifest: Manifest) -> None:
        self.path = path
        self.name = str(path)
        self._inp = inp
        self.manifest = manifest
        self._current: Section | None = None

    def section(self, size: int, where: str) -> Section:
        """The next envelope (the previous one is drained first)."""
        if self._current is not None:
            self._current.drain()
        self._current = Section(self._inp, size, where, self.name)
        return self._current

    def finish(self) -> None:
        """Check that nothing follows the last envelope."""
        if self._current is not None:
            self._current.drain()
        extra = len(self._inp.read(1 << 16))
        if extra:
            raise DamagedError(
                f"{self.name}: batch has trailing bytes after its last envelope",
                hint=_DAMAGED_HINT,
            )

    def close(self) -> None:
        self._inp.close()

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_batch(path: str | Path) -> BatchFile:
    """Open a batch and read its manifest; FormatError if it is not a batch."""
    path = Path(path)
    try:
        inp = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by BatchFile
    except OSError as exc:
        raise FormatError(f"cannot read batch {path}: {exc.strerror}") from None
    try:
        manifest = _read_manifest(inp, str(path))
    except BaseException:
        inp.close()
        raise
    return BatchFile(path, inp, manifest)


def _read_manifest(inp: BinaryIO, name: str) -> Manifest:
    prefix = inp.read(_PREFIX.size)
    if len(prefix) < 8 or prefix[:8] != batch.MAGIC:
        raise FormatError(f"{name} is not a Skrynka batch", hint=_NOT_BATCH_HINT)
    if len(prefix) < _PREFIX.size:
        raise BatchTruncated(f"{name}: batch is truncated in its prefix")
    _, version, length = _PREFIX.unpack(prefix)
    if version not in batch.VERSIONS:
        raise UnsupportedVersion(f"{name}: batch version {version} is not supported",
                                 hint="use a newer version of skrynka-keys")
    if length > batch.MAX_MANIFEST:
        raise FormatError(f"{name}: batch manifest claims {length} bytes, over the 64 MiB limit")
    raw = inp.read(length)
    digest = inp.read(_HASH_LEN)
    block = inp.read(signature.BLOCK_LEN) if version == batch.VERSION else b""
    if len(raw) != length or len(digest) != _HASH_LEN or (
            version == batch.VERSION and len(block) != signature.BLOCK_LEN):
        raise BatchTruncated(f"{name}: batch is truncated in its manifest")
    if hashlib.sha256(raw).digest() != digest:
        raise DamagedError(f"{name}: batch manifest hash does not match (damaged)",
                           hint=_DAMAGED_HINT)
    signer = signature.verify(block, prefix, digest) if block else None
    if block and signer is None:
        raise DamagedError(f"{name}: batch signature does not verify (altered or forged)",
                           hint="ask for the batch again; if it happens again, the batch "
                                "was made by someone without the server's export key")
    try:
        manifest = parse_manifest(raw, version)
    except FormatError as exc:
        raise type(exc)(f"{name}: {exc.message}", hint=exc.hint) from None
    return dataclasses.replace(manifest, signer=signer)
