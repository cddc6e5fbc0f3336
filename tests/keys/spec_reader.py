"""A decryptor written from keys/SPEC.md alone: envelopes (section 2), batches and runs
of batches (section 3). tests/keys/test_spec_vectors.py checks every vector with it as
well as with the reference code, so the SPEC is shown to be enough. It holds whole
batches in memory and follows the SPEC's wording, not the reference's structure.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from keys import batch, errors


def _spec_padded_size(length: int) -> int:
    need = length + 8
    if need <= 512:
        return 512
    if need <= 1 << 20:
        return 1 << (need - 1).bit_length()
    return -(-need // (1 << 20)) * (1 << 20)


def spec_open_envelope(blob: bytes, key: PrivateKey) -> tuple[int, bytes, bytes, bytes]:
    """(kind, envelope_id, report_id, data), or the error class SPEC 2.5 names."""
    import nacl.bindings as sodium
    from nacl.exceptions import CryptoError
    from nacl.public import SealedBox

    if len(blob) < 8 or blob[:8] != b"SKRYNKAE":
        raise errors.FormatError("magic")
    if len(blob) < 43:
        raise errors.DamagedError("truncated header")
    version, kind, eid, rid, n = blob[8], blob[9], blob[10:26], blob[26:42], blob[42]
    if version != 1:
        raise errors.UnsupportedVersion("version")
    if kind not in (1, 2) or (kind == 1 and eid != rid) or not 1 <= n <= 32:
        raise errors.FormatError("header field")
    end = 67 + 112 * n
    if len(blob) < end:
        raise errors.DamagedError("truncated header")
    stanzas = [blob[43 + 112 * i : 43 + 112 * (i + 1)] for i in range(n)]
    if len({s[:32] for s in stanzas}) != n:
        raise errors.FormatError("duplicate recipient")
    mine = [s[32:] for s in stanzas if s[:32] == bytes(key.public_key)]
    if not mine:
        raise errors.NotRecipient("not a recipient")
    try:
        file_key = SealedBox(key).decrypt(mine[0])
    except CryptoError:
        raise errors.DamagedError("stanza") from None
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, blob[end - 24 : end], file_key)
    body = blob[end:]
    chunks = [body[i : i + 65553] for i in range(0, len(body), 65553)] or [b""]
    padded = b""
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        if len(chunk) <= 17:
            raise errors.DamagedError("short chunk")
        try:
            piece, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                state, chunk, blob[:end] if i == 0 else None)
        except CryptoError:
            raise errors.DamagedError("chunk authentication") from None
        if tag != (3 if last else 0):
            raise errors.DamagedError("tag")
        padded += piece
    if len(padded) < 8:
        raise errors.DamagedError("short")
    (length,) = struct.unpack(">Q", padded[-8:])
    if length > len(padded) - 8 or _spec_padded_size(length) != len(padded) or any(
            padded[length:-8]):
        raise errors.DamagedError("padding")
    return kind, eid, rid, padded[:length]



# -- a batch reader written from SPEC.md section 3 ---------------------------------------------

_HEX16, _HEX32 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise errors.FormatError("duplicate key")
    return dict(pairs)


def _shape(value: Any, form: dict[str, Any]) -> None:
    """FormatError unless ``value`` has exactly the keys of ``form``, each of its form."""
    if not isinstance(value, dict) or set(value) != set(form):
        raise errors.FormatError(f"keys {sorted(value) if isinstance(value, dict) else value}")
    for key, want in form.items():
        got = value[key]
        if isinstance(want, re.Pattern):
            ok = isinstance(got, str) and want.fullmatch(got) is not None
        elif want is int:
            ok = type(got) is int and got >= 0
        elif isinstance(want, list):
            ok = isinstance(got, list)
            for item in got if ok else []:
                _shape(item, want[0])
        elif isinstance(want, dict):
            _shape(got, want)
            ok = True
        else:
            ok = got == want
        if not ok:
            raise errors.FormatError(f"{key} = {got!r}")


_ATT = {"id": _HEX16, "size": int, "sha256": _HEX32}
_REPORT = {"seq": int, "id": _HEX16, "day": _DAY, "size": int, "sha256": _HEX32,
           "chain": _HEX32, "attachments": [_ATT]}
_MANIFEST = {"format": "skrynka-batch", "version": int, "batch_id": _HEX16, "chain_id": _HEX16,
             "created_day": _DAY, "prev": {"seq": int, "chain": _HEX32}, "reports": [_REPORT]}


def spec_header(blob: bytes) -> tuple[dict[str, Any], int]:
    """The manifest and the offset of the first envelope, checked in 3.3's order."""
    if blob[:8] != b"SKRYNKAB":
        raise errors.FormatError("magic")
    if len(blob) < 13:
        raise errors.DamagedError("short prefix")  # SPEC: file shorter than 45 + M
    version, length = struct.unpack(">BI", blob[8:13])
    if version not in (1, 2):
        raise errors.UnsupportedVersion("version")
    if length > 64 << 20:
        raise errors.FormatError("manifest too long")
    raw, digest = blob[13 : 13 + length], blob[13 + length : 45 + length]
    block = blob[45 + length : 141 + length] if version == 2 else b""
    if len(digest) != 32 or len(block) != (96 if version == 2 else 0):
        raise errors.DamagedError("truncated manifest or signature")
    if hashlib.sha256(raw).digest() != digest:
        raise errors.DamagedError("manifest hash")
    if version == 2:  # SPEC 6.1: the signature, before the JSON
        try:
            VerifyKey(block[:32]).verify(b"skrynka-batch-v2" + blob[:13] + digest, block[32:])
        except BadSignatureError:
            raise errors.DamagedError("signature") from None
    try:
        manifest = json.loads(raw.decode("ascii"), object_pairs_hook=_pairs)
    except (UnicodeDecodeError, ValueError):
        raise errors.FormatError("not ASCII JSON") from None
    # 3.3's order: the top-level keys, `format`, then `version`, then everything else
    if not isinstance(manifest, dict) or set(manifest) != set(_MANIFEST):
        raise errors.FormatError("top-level keys")
    if manifest["format"] != "skrynka-batch":
        raise errors.FormatError("format")
    if type(manifest["version"]) is not int:
        raise errors.FormatError("version is not an integer")
    if manifest["version"] != version:  # 6.1: the manifest's version is the prefix's
        raise errors.UnsupportedVersion("manifest version")
    _shape(manifest, _MANIFEST)
    seq, ids = manifest["prev"]["seq"], set()
    for rep in manifest["reports"]:
        if rep["seq"] <= seq:
            raise errors.FormatError("seq order")
        seq = rep["seq"]
        for item in [rep["id"]] + [a["id"] for a in rep["attachments"]]:
            if item in ids:
                raise errors.FormatError("repeated id")
            ids.add(item)
    return manifest, 45 + length + len(block)


def _spec_plain(plain: bytes) -> dict[str, Any]:
    """SPEC 3.4's rules for a report plaintext, as written there."""
    def no_constant(name: str) -> Any:
        raise ValueError(name)

    def is_int(v: Any) -> bool:
        return type(v) is int

    def is_hex(v: Any, n: int) -> bool:
        return isinstance(v, str) and len(v) == n and all(c in "0123456789abcdef" for c in v)

    try:
        doc = json.loads(plain.decode("utf-8"), object_pairs_hook=_pairs,
                         parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, errors.FormatError):
        raise errors.VerificationError("report plaintext is not strict UTF-8 JSON") from None
    ok = (isinstance(doc, dict) and doc.get("format") == "skrynka-report"
          and is_int(doc.get("version")) and doc["version"] == 1
          and isinstance(doc.get("form"), dict) and isinstance(doc["form"].get("id"), str)
          and is_int(doc["form"].get("version"))
          and isinstance(doc.get("lang"), str) and isinstance(doc.get("received_day"), str)
          and isinstance(doc.get("fields"), dict)
          and all(isinstance(v, str) or (isinstance(v, list) and all(isinstance(c, str) for c in v))
                  for v in doc["fields"].values())
          and isinstance(doc.get("attachments"), list)
          and all(isinstance(a, dict) and is_hex(a.get("id"), 32) and isinstance(a.get("name"), str)
                  and is_int(a.get("size")) and is_hex(a.get("envelope_sha256"), 64)
                  for a in doc["attachments"]))
    if not ok:
        raise errors.VerificationError("report plaintext breaks SPEC 3.4")
    if _SURROGATE.search(json.dumps(doc, ensure_ascii=False)):
        raise errors.VerificationError("report plaintext holds a lone surrogate (SPEC 3.4)")
    if _depth(doc) > 16:
        raise errors.VerificationError("report plaintext nests more than 16 deep (SPEC 3.4)")
    return doc


def _depth(value: Any) -> int:
    """Arrays and objects nested in ``value`` (the top-level object: 1)."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return 0
    return 1 + max(map(_depth, value), default=0)


def _open(env: bytes, key: PrivateKey) -> tuple[int, bytes, bytes, bytes]:
    try:
        return spec_open_envelope(env, key)
    except (errors.FormatError, errors.DamagedError) as exc:
        raise errors.VerificationError(f"envelope damaged: {exc}") from None


def _take(blob: bytes, offset: int, entry: dict[str, Any]) -> bytes:
    env = blob[offset : offset + entry["size"]]
    if len(env) != entry["size"]:
        raise errors.DamagedError("batch truncated")
    return env


def _check_report(blob: bytes, offset: int, rep: dict[str, Any], key: PrivateKey,
                  ) -> dict[str, Any]:
    """One report and its attachments (3.3, 3.4): the delivered form, or the error."""
    env = _take(blob, offset, rep)
    offset += rep["size"]
    envs = []
    for att in rep["attachments"]:
        envs.append(_take(blob, offset, att))
        offset += att["size"]
    if hashlib.sha256(env).hexdigest() != rep["sha256"]:
        raise errors.VerificationError("envelope altered")
    kind, eid, _, plain = _open(env, key)
    if kind != 1 or eid.hex() != rep["id"]:
        raise errors.VerificationError("report envelope does not match its entry")
    listed = {a["id"]: a for a in _spec_plain(plain)["attachments"]}
    if set(listed) != {a["id"] for a in rep["attachments"]}:
        raise errors.VerificationError("attachments differ from the report's list")
    atts = []
    for att, aenv in zip(rep["attachments"], envs):
        if hashlib.sha256(aenv).hexdigest() != att["sha256"]:
            raise errors.VerificationError("attachment envelope altered")
        try:
            kind, eid, rid, body = _open(aenv, key)
        except errors.NotRecipient:  # 3.3, a run: attachments do not count
            raise errors.VerificationError("attachment not sealed to the key") from None
        if (kind, eid.hex(), rid.hex()) != (2, att["id"], rep["id"]):
            raise errors.VerificationError("attachment envelope does not match")
        want = listed[att["id"]]
        if (len(body), hashlib.sha256(aenv).hexdigest()) != (want["size"],
                                                             want["envelope_sha256"]):
            raise errors.VerificationError("attachment differs from the report's list")
        atts.append({"id": att["id"], "size": len(body),
                     "sha256": hashlib.sha256(body).hexdigest()})
    return {"seq": rep["seq"], "id": rep["id"], "sha256": hashlib.sha256(plain).hexdigest(),
            "attachments": atts}


# -- runs: continuity (3.2) and the run's class (3.3) ------------------------------------------


@dataclass
class SpecRun:
    """What a run found: delivered reports, findings, and the counts the class needs."""

    recorded: dict[str, dict[int, tuple[str, str, str]]] = field(default_factory=dict)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    damaged: bool = False
    read: int = 0
    not_recipient: int = 0

    def verdict(self) -> str:
        """3.3, "A run": the class the run ends with ("ok" for success)."""
        if self.read and self.not_recipient == self.read:
            return "NotRecipient"
        if self.damaged:
            return "DamagedError"
        return "VerificationError" if self.findings else "ok"


def _link_checks(rep: dict[str, Any], before: tuple[int, str]) -> bool:
    """3.2: the stated link, against the stated link before it (None: a gap, unchecked)."""
    if before[0] != rep["seq"] - 1:
        return True
    got = batch.chain_next(bytes.fromhex(before[1]), rep["seq"], bytes.fromhex(rep["id"]),
                           bytes.fromhex(rep["sha256"]))
    return got.hex() == rep["chain"]


def _batch_into(run: SpecRun, blob: bytes, manifest: dict[str, Any], offset: int,
                key: PrivateKey) -> None:
    seen = run.recorded.setdefault(manifest["chain_id"], {0: ("", "", "00" * 32)})
    prev = manifest["prev"]
    if prev["seq"] in seen and seen[prev["seq"]][2] != prev["chain"]:
        run.findings.append("fork")
    before = (prev["seq"], prev["chain"])
    ids = {v[0]: (c, s) for c, chain in run.recorded.items() for s, v in chain.items() if s}
    for rep in manifest["reports"]:
        size = rep["size"] + sum(a["size"] for a in rep["attachments"])
        try:
            _one(run, manifest["chain_id"], ids, blob, offset, rep, before, key)
        except errors.DamagedError:  # truncated: the rest of the batch is lost
            run.damaged = True
            return
        offset += size
        before = (rep["seq"], rep["chain"])
    if offset != len(blob):
        run.damaged = True


def _one(run: SpecRun, chain_id: str, ids: dict[str, tuple[str, int]], blob: bytes,
         offset: int, rep: dict[str, Any], before: tuple[int, str], key: PrivateKey) -> None:
    seen = run.recorded[chain_id]
    entry = (rep["id"], rep["sha256"], rep["chain"])
    if rep["id"] in ids and ids[rep["id"]] != (chain_id, rep["seq"]):
        _take(blob, offset, rep)
        run.findings.append("duplicate")
        return
    if rep["seq"] in seen:
        _take(blob, offset, rep)
        real = hashlib.sha256(blob[offset : offset + rep["size"]]).hexdigest()
        if seen[rep["seq"]] != entry or real != rep["sha256"]:
            run.findings.append("altered")
        return
    run.read += 1
    if _not_recipient(blob[offset : offset + rep["size"]], key):  # 2.5's order: before chunks
        run.not_recipient += 1
        run.findings.append("not-recipient")
        if offset + rep["size"] + sum(a["size"] for a in rep["attachments"]) > len(blob):
            raise errors.DamagedError("batch truncated")
        return
    try:
        if not _link_checks(rep, before):
            raise errors.VerificationError("chain")
        delivered = _check_report(blob, offset, rep, key)
    except errors.VerificationError:
        run.findings.append("report")
        return
    seen[rep["seq"]] = entry
    ids[rep["id"]] = (chain_id, rep["seq"])
    run.delivered.append(delivered)


def _not_recipient(env: bytes, key: PrivateKey) -> bool:
    """Whether opening the envelope (2.5, checks in its order) gives NotRecipient."""
    try:
        spec_open_envelope(env, key)
    except errors.NotRecipient:
        return True
    except errors.KeysError:
        pass
    return False


def _gaps(run: SpecRun, before: dict[str, set[int]], listed: dict[str, set[int]],
          anchors: dict[str, set[int]]) -> None:
    """3.2, "Gaps: the one rule"."""
    for chain_id, seqs in listed.items():
        have = seqs | before.get(chain_id, set())
        lo = min(have | {a + 1 for a in anchors[chain_id]})
        hi = max(have | anchors[chain_id])
        if hi - lo + 1 > len({s for s in have if lo <= s <= hi}):
            run.findings.append("gap")


def spec_run(blobs: list[bytes], key: PrivateKey, run: SpecRun | None = None) -> SpecRun:
    """Decrypt ``blobs`` as one run (into the output of ``run``, if given): header errors
    abort it (raised); everything else is in the SpecRun."""
    run = run if run is not None else SpecRun()
    headers = [spec_header(blob) for blob in blobs]  # 3.3: a bad header aborts the run
    before = {c: {s for s in seen if s} for c, seen in run.recorded.items()}
    listed: dict[str, set[int]] = {}
    anchors: dict[str, set[int]] = {}
    run.findings, run.damaged, run.read, run.not_recipient = [], False, 0, 0
    for blob, (manifest, offset) in zip(blobs, headers):
        listed.setdefault(manifest["chain_id"], set()).update(
            r["seq"] for r in manifest["reports"])
        anchors.setdefault(manifest["chain_id"], set()).add(manifest["prev"]["seq"])
        _batch_into(run, blob, manifest, offset, key)
    _gaps(run, before, listed, anchors)
    return run


def spec_read_batch(blob: bytes, key: PrivateKey) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One batch alone into a fresh directory: (manifest, delivered reports), or the
    class of 3.3 raised."""
    manifest, _ = spec_header(blob)
    run = spec_run([blob], key)
    verdict = run.verdict()
    if verdict != "ok":
        raise getattr(errors, verdict)(", ".join(run.findings))
    return manifest, run.delivered
