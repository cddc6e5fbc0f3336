"""Generate the SPEC.md test vectors (run: python -m tests.vectors.make_vectors).

Private keys are fixed; envelopes use fresh random file keys, so a rerun gives
different bytes with the same meaning. Broken vectors are made either by editing
good bytes or, where the damage must survive authentication (tags, padding), by
sealing crafted chunks with a known file key.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
from pathlib import Path
from typing import Any, Callable

import nacl.bindings as sodium
from nacl.public import PrivateKey, PublicKey, SealedBox

from keys import batch, envelope, keyfile, pubkey
from keys.pubkey import encode_public

HERE = Path(__file__).resolve().parent
KEYS = {"a": bytes(range(1, 33)), "b": bytes(range(33, 65)), "c": bytes(range(65, 97))}
PASSPHRASE = "correct horse battery staple"
CHEAP = keyfile.KdfParams(memory_kib=65536, time_cost=1, parallelism=1)
DAY = "2026-11-24"


def data(n: int, label: bytes = b"skrynka-vector") -> bytes:
    """The known data of the vectors: SHAKE-256 of a label, n bytes."""
    return hashlib.shake_256(label).digest(n)


def ident(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()[:16]


def pub(name: str) -> bytes:
    return bytes(PrivateKey(KEYS[name]).public_key)


def seal(payload: bytes, kind: int = envelope.KIND_REPORT, eid: bytes | None = None,
         rid: bytes | None = None, names: str = "ab") -> bytes:
    rid = rid if rid is not None else ident("report")
    eid = eid if eid is not None else rid
    return envelope.seal_bytes(payload, [pub(n) for n in names], kind=kind,
                               envelope_id=eid, report_id=rid)


def craft(pieces: list[tuple[bytes, int]], *, version: int = 1, kind: int = 1,
          recipients: list[bytes] | None = None, eid: bytes | None = None,
          rid: bytes | None = None) -> bytes:
    """An envelope whose chunks are exactly ``pieces`` (plaintext, tag), all authentic."""
    rid = rid if rid is not None else ident("crafted")
    eid = eid if eid is not None else rid
    keys = recipients if recipients is not None else [pub("a"), pub("b")]
    file_key = bytes(range(100, 132))
    head = struct.pack(">8sBB16s16sB", b"SKRYNKAE", version, kind, eid, rid, len(keys))
    for k in keys:
        head += k + SealedBox(PublicKey(k)).encrypt(file_key)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    head += sodium.crypto_secretstream_xchacha20poly1305_init_push(state, file_key)
    out, ad = [head], head
    for plain, tag in pieces:
        out.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag))
        ad = b""
    return b"".join(out)


def padded(payload: bytes, size: int, length: int | None = None, pad: bytes = b"") -> bytes:
    """Padded plaintext of ``size`` bytes, optionally lying about its length or padding."""
    body = payload + pad
    body += bytes(size - 8 - len(body))
    return body + struct.pack(">Q", len(payload) if length is None else length)


MSG = envelope.TAG_MESSAGE
FIN = envelope.TAG_FINAL
HEAD2 = 67 + 2 * 112  # header bytes with two recipients
SC = envelope.SEALED_CHUNK


def set_byte(blob: bytes, offset: int, value: int) -> bytes:
    return blob[:offset] + bytes([value]) + blob[offset + 1 :]


def envelope_vectors() -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []

    def good(name: str, blob: bytes, payload: bytes, kind: int, eid: bytes, rid: bytes) -> None:
        files[name] = blob
        index.append({"file": name, "keys": ["a", "b"], "expect": "ok", "length": len(payload),
                      "sha256": hashlib.sha256(payload).hexdigest(), "kind": kind,
                      "envelope_id": eid.hex(), "report_id": rid.hex()})

    def bad(name: str, blob: bytes, expect: str, why: str, key: str = "a") -> None:
        files[name] = blob
        index.append({"file": name, "keys": [key], "expect": expect, "why": why})

    for n in (0, 1, 504, 505, 65536, 65537):
        rid = ident(f"report-{n}")
        good(f"env-{n}.bin", seal(data(n), rid=rid), data(n), 1, rid, rid)
    aid, arid = ident("attachment"), ident("report-of-attachment")
    att = seal(data(3000, b"attachment"), envelope.KIND_ATTACHMENT, aid, arid)
    good("env-attachment.bin", att, data(3000, b"attachment"), 2, aid, arid)

    one = files["env-1.bin"]
    two = files["env-65537.bin"]
    other_one = seal(data(1), rid=ident("other"))
    bad("env-1.bin", one, "NotRecipient", "key c is not a recipient", key="c")
    bad("bad-magic.bin", b"SKRYNKAX" + one[8:], "FormatError", "magic")
    bad("bad-version.bin", set_byte(one, 8, 2), "UnsupportedVersion", "version 2")
    bad("bad-kind.bin", set_byte(one, 9, 3), "FormatError", "kind 3")
    bad("bad-report-id.bin", set_byte(one, 26, one[26] ^ 1), "FormatError",
        "report envelope whose report_id differs from envelope_id")
    bad("bad-n0.bin", set_byte(one, 42, 0), "FormatError", "n = 0")
    bad("bad-n33.bin", set_byte(one, 42, 33), "FormatError", "n = 33")
    bad("dup-recipient.bin", craft([(padded(b"x", 512), FIN)], recipients=[pub("a"), pub("a")]),
        "FormatError", "recipient listed twice")
    bad("short.bin", one[:5], "FormatError", "fewer than 8 bytes")
    bad("trunc-header.bin", one[:30], "DamagedError", "cut inside the fixed header")
    bad("trunc-stanza.bin", one[:100], "DamagedError", "cut inside the stanzas")
    bad("trunc-ssheader.bin", one[: HEAD2 - 3], "DamagedError", "cut inside the stream header")
    bad("trunc-nochunk.bin", one[:HEAD2], "DamagedError", "no chunk at all")
    bad("trunc-chunk.bin", one[:-1], "DamagedError", "last byte of the final chunk missing")
    bad("trunc-boundary.bin", two[: HEAD2 + SC], "DamagedError",
        "cut after the first chunk: the last chunk is not FINAL")
    bad("flip-tag.bin", set_byte(one, len(one) - 1, one[-1] ^ 0x01), "DamagedError",
        "a flipped byte of the final chunk's authentication tag")
    bad("flip-ciphertext.bin", set_byte(one, HEAD2 + 5, one[HEAD2 + 5] ^ 0x80), "DamagedError",
        "a flipped ciphertext byte")
    bad("flip-other-recipient.bin", set_byte(one, 43 + 112, one[43 + 112] ^ 1), "DamagedError",
        "the second stanza's key altered (first chunk AD fails)")
    bad("flip-stanza.bin", set_byte(one, 43 + 40, one[43 + 40] ^ 1), "DamagedError",
        "key a's sealed file key altered")
    bad("flip-ssheader.bin", set_byte(one, HEAD2 - 1, one[HEAD2 - 1] ^ 1), "DamagedError",
        "stream header altered")
    bad("reordered-chunks.bin", two[:HEAD2] + two[HEAD2 + SC:] + two[HEAD2 : HEAD2 + SC],
        "DamagedError", "the two chunks swapped")
    bad("swapped-chunk.bin", one[:HEAD2] + other_one[HEAD2:], "DamagedError",
        "chunk taken from another envelope")
    bad("bytes-after-final.bin", one + b"\0", "DamagedError", "one byte after the final chunk")
    bad("final-not-last.bin", craft([(bytes(65536), FIN), (padded(b"", 512), FIN)]),
        "DamagedError", "first chunk tagged FINAL, then another chunk")
    bad("last-not-final.bin", craft([(padded(b"abc", 512), MSG)]), "DamagedError",
        "only chunk tagged MESSAGE")
    rekey = sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY
    bad("rekey-tag.bin", craft([(padded(b"abc", 512), rekey)]),
        "DamagedError", "only chunk tagged REKEY")
    bad("nonzero-padding.bin", craft([(padded(b"abc", 512, pad=b"\0\0\x01"), FIN)]),
        "DamagedError", "a non-zero padding byte")
    bad("trailer-too-long.bin", craft([(padded(b"abc", 512, length=505), FIN)]),
        "DamagedError", "trailer length 505 > padded size - 8")
    bad("wrong-bucket.bin", craft([(padded(b"abc", 1024), FIN)]), "DamagedError",
        "3 bytes padded to 1024 (must be 512)")
    bad("wrong-bucket-chunked.bin", craft([(padded(b"abc", 1536), FIN)]), "DamagedError",
        "3 bytes padded to 1536")
    bad("empty-final.bin", craft([(b"", FIN)]), "DamagedError", "final chunk of 17 bytes")
    bad("short-final.bin", craft([(b"\0\0\0\0", FIN)]), "DamagedError", "padded plaintext < 8")
    files["crafted-ok.bin"] = craft([(padded(b"abc", 512), FIN)])
    index.append({"file": "crafted-ok.bin", "keys": ["a", "b"], "expect": "ok", "length": 3,
                  "sha256": hashlib.sha256(b"abc").hexdigest(), "kind": 1,
                  "envelope_id": ident("crafted").hex(), "report_id": ident("crafted").hex()})
    return files, index


CHAIN_ID = ident("chain")


def report_plain(rid: bytes, attachments: list[tuple[bytes, str, bytes, bytes]],
                 size_delta: int = 0) -> bytes:
    """A report plaintext (SPEC 3.4) listing ``attachments`` (id, name, data, envelope)."""
    doc = {
        "format": "skrynka-report", "version": 1, "form": {"id": "violations", "version": 1},
        "lang": "be", "received_day": DAY,
        "fields": {"what": f"Вкіды бюлетэняў ({rid.hex()[:6]})", "kind": ["ballot-stuffing"]},
        "labels": {"what": "What happened", "kind": "Kind of violation"},
        "attachments": [  # size_delta: the first attachment's listed size is off by it
            {"id": aid.hex(), "name": name, "media_type": "image/jpeg",
             "size": len(body) + (size_delta if i == 0 else 0),
             "envelope_sha256": hashlib.sha256(env).hexdigest()}
            for i, (aid, name, body, env) in enumerate(attachments)
        ],
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _seal_attachment(body: bytes, aid: bytes, rid: bytes) -> bytes:
    return seal(body, envelope.KIND_ATTACHMENT, aid, rid)


class Rep:
    """One report of a vector batch: its envelope, attachments' envelopes and expectations."""

    def __init__(self, seq: int, label: str, n_att: int = 0, size_delta: int = 0,
                 second: Callable[[bytes, bytes, bytes], bytes] | None = None,
                 names: str = "ab") -> None:
        """``second(data, attachment id, report id)``, if given, seals the second
        attachment (a damaged one the report's plaintext nevertheless lists)."""
        self.seq, self.id = seq, ident(label)
        self.atts = [(ident(f"{label}-att{i}"), f"photo {i}.jpg", data(700 + i, label.encode()))
                     for i in range(n_att)]
        # Attachments are sealed first: the report lists their envelopes' SHA-256.
        self.att_envs = [(second if i == 1 and second else _seal_attachment)(body, aid, self.id)
                         for i, (aid, _, body) in enumerate(self.atts)]
        self.plain = report_plain(self.id, [(a, n, b, e) for (a, n, b), e
                                            in zip(self.atts, self.att_envs)], size_delta)
        self.env = seal(self.plain, rid=self.id, names=names)


def entries(reps: list[Rep], prev_chain: bytes) -> tuple[list[batch.ReportEntry], bytes]:
    out, link = [], prev_chain
    for r in reps:
        sha = hashlib.sha256(r.env).digest()
        link = batch.chain_next(link, r.seq, r.id, sha)
        atts = [batch.AttachmentEntry(aid, len(e), hashlib.sha256(e).digest(),
                                      (lambda e=e: io.BytesIO(e)))  # type: ignore[misc]
                for (aid, _, _), e in zip(r.atts, r.att_envs)]
        out.append(batch.ReportEntry(r.seq, r.id, DAY, len(r.env), sha, link,
                                     (lambda r=r: io.BytesIO(r.env)), atts))  # type: ignore[misc]
    return out, link


def write_ok(reps: list[Rep], prev_seq: int, prev_chain: bytes) -> tuple[bytes, bytes]:
    ents, link = entries(reps, prev_chain)
    out = io.BytesIO()
    batch.write_batch(out, batch_id=ident(f"batch-{prev_seq}"), chain_id=CHAIN_ID,
                      created_day=DAY, prev_seq=prev_seq, prev_chain=prev_chain, reports=ents,
                      signing_key=None)  # version 1; version 2: make_signed.py
    return out.getvalue(), link


def raw_batch(manifest: bytes, bodies: list[bytes], version: int = 1) -> bytes:
    return (struct.pack(">8sBI", b"SKRYNKAB", version, len(manifest)) + manifest
            + hashlib.sha256(manifest).digest() + b"".join(bodies))


def dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode()


def manifest_of(reps: list[Rep], prev_seq: int, prev_chain: bytes) -> dict[str, Any]:
    ents, _ = entries(reps, prev_chain)
    return batch.manifest_dict(batch_id=ident(f"batch-{prev_seq}"), chain_id=CHAIN_ID,
                               created_day=DAY, prev_seq=prev_seq, prev_chain=prev_chain,
                               reports=ents, version=1)


def bodies_of(reps: list[Rep]) -> list[bytes]:
    return [b for r in reps for b in [r.env, *r.att_envs]]


def expect_reports(reps: list[Rep]) -> list[dict[str, Any]]:
    return [{"seq": r.seq, "id": r.id.hex(), "sha256": hashlib.sha256(r.plain).hexdigest(),
             "attachments": [{"id": a.hex(), "size": len(b),
                              "sha256": hashlib.sha256(b).hexdigest()} for a, _, b in r.atts]}
            for r in reps]


def batch_vectors() -> tuple[dict[str, bytes], list[dict[str, Any]], list[dict[str, Any]],
                             list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    r1, r2, r3 = Rep(1, "r1", 2), Rep(2, "r2"), Rep(3, "r3", 1)
    first, link2 = write_ok([r1, r2], 0, batch.GENESIS)
    second, link3 = write_ok([r3], 2, link2)
    files["batch-1.skb"], files["batch-2.skb"] = first, second
    index.append({"file": "batch-1.skb", "key": "a", "expect": "ok", "chain_id": CHAIN_ID.hex(),
                  "prev": {"seq": 0, "chain": batch.GENESIS.hex()},
                  "last": {"seq": 2, "chain": link2.hex()}, "reports": expect_reports([r1, r2])})
    index.append({"file": "batch-2.skb", "key": "b", "expect": "ok", "chain_id": CHAIN_ID.hex(),
                  "prev": {"seq": 2, "chain": link2.hex()},
                  "last": {"seq": 3, "chain": link3.hex()}, "reports": expect_reports([r3])})

    def bad(name: str, blob: bytes, expect: str, why: str) -> None:
        files[name] = blob
        index.append({"file": name, "key": "a", "expect": expect, "why": why})

    m = manifest_of([r1, r2], 0, batch.GENESIS)
    body = bodies_of([r1, r2])
    mlen = len(dump(m))
    bad("batch-bad-magic.skb", b"SKRYNKAX" + first[8:], "FormatError", "magic")
    bad("batch-bad-version.skb", set_byte(first, 8, 3), "UnsupportedVersion", "prefix version 3")
    bad("batch-hash.skb", set_byte(first, 13 + mlen, first[13 + mlen] ^ 1), "DamagedError",
        "manifest hash altered")
    bad("batch-manifest-altered.skb", first.replace(b'"created_day":"2026-11-24"',
                                                    b'"created_day":"2026-11-25"'),
        "DamagedError", "manifest altered, hash not updated")
    bad("batch-manifest-too-long.skb", first[:9] + struct.pack(">I", (64 << 20) + 1) + first[13:],
        "FormatError", "manifest length over 64 MiB")
    bad("batch-truncated.skb", first[:-1], "DamagedError", "last byte missing")
    bad("batch-trailing.skb", first + b"\0", "DamagedError", "a byte after the last envelope")
    bad("batch-env-altered.skb", set_byte(first, len(first) - 1, first[-1] ^ 1),
        "VerificationError",
        "a byte of the last envelope altered (its sha256 differs)")
    bad("batch-not-json.skb", raw_batch(b"{not json}", body), "FormatError", "manifest not JSON")
    bad("batch-non-ascii.skb", raw_batch(dump(m).replace(b"2026-11-24", "2026-11-2\u0664".encode()),
                                         body), "FormatError", "non-ASCII manifest byte")
    bad("batch-dup-key.skb", raw_batch(dump(m)[:-1] + b',"format":"skrynka-batch"}', body),
        "FormatError", "a JSON key twice")
    bad("batch-extra-key.skb", raw_batch(dump({**m, "note": "x"}), body), "FormatError",
        "an unknown manifest key")
    bad("batch-manifest-version.skb", raw_batch(dump({**m, "version": 2}), body),
        "UnsupportedVersion", "manifest version 2 in a version 1 prefix")
    for name, value in (("string", "1"), ("true", True), ("float", 1.0)):
        bad(f"batch-manifest-version-{name}.skb", raw_batch(dump({**m, "version": value}), body),
            "FormatError", f"manifest version {json.dumps(value)}: mistyped, not a version")
    bad("batch-bool-seq.skb", raw_batch(dump({**m, "prev": {**m["prev"], "seq": False}}), body),
        "FormatError", "prev.seq is a boolean")
    gap = [Rep(2, "r1", 2), Rep(3, "r2")]
    bad("batch-seq-gap.skb", raw_batch(dump(manifest_of(gap, 0, batch.GENESIS)), bodies_of(gap)),
        "VerificationError", "first seq 2 after prev.seq 0 (chain links consistent)")
    mm = json.loads(json.dumps(m))
    mm["reports"][1]["chain"] = "00" * 32
    bad("batch-chain.skb", raw_batch(dump(mm), body), "VerificationError",
        "second report's chain link wrong")
    liar = Rep(2, "r2")
    liar.env = seal(liar.plain, rid=ident("someone-else"))
    bad("batch-report-id.skb", raw_batch(dump(manifest_of([r1, liar], 0, batch.GENESIS)),
                                         bodies_of([r1, liar])), "VerificationError",
        "report envelope's id differs from its manifest entry")
    kind = Rep(2, "r2")
    kind.env = seal(kind.plain, envelope.KIND_ATTACHMENT, kind.id, kind.id)
    bad("batch-report-kind.skb", raw_batch(dump(manifest_of([r1, kind], 0, batch.GENESIS)),
                                           bodies_of([r1, kind])), "VerificationError",
        "a report entry holding an attachment envelope")
    dropped = Rep(1, "r1", 2)
    dropped.atts, dropped.att_envs = dropped.atts[:1], dropped.att_envs[:1]
    bad("batch-att-missing.skb", raw_batch(dump(manifest_of([dropped, r2], 0, batch.GENESIS)),
                                           bodies_of([dropped, r2])), "VerificationError",
        "the report lists two attachments, the batch carries one")
    extra = Rep(2, "r2")
    stray = ident("stray")
    extra.atts = [(stray, "x.jpg", b"stray")]
    extra.att_envs = [seal(b"stray", envelope.KIND_ATTACHMENT, stray, extra.id)]
    bad("batch-att-unlisted.skb", raw_batch(dump(manifest_of([r1, extra], 0, batch.GENESIS)),
                                            bodies_of([r1, extra])), "VerificationError",
        "an attachment the report's plaintext does not list")
    swapped = Rep(1, "r1", 2)
    aid0 = swapped.atts[0][0]
    swapped.att_envs[0] = seal(b"not the photo", envelope.KIND_ATTACHMENT, aid0, swapped.id)
    bad("batch-att-content.skb", raw_batch(dump(manifest_of([swapped, r2], 0, batch.GENESIS)),
                                           bodies_of([swapped, r2])), "VerificationError",
        "an attachment envelope whose SHA-256 differs from the report's envelope_sha256")
    resealed = Rep(1, "r1", 2)
    aid1, _, body1 = resealed.atts[1]
    resealed.att_envs[1] = seal(body1, envelope.KIND_ATTACHMENT, aid1, resealed.id)
    bad("batch-att-resealed.skb", raw_batch(dump(manifest_of([resealed, r2], 0, batch.GENESIS)),
                                            bodies_of([resealed, r2])), "VerificationError",
        "the listed attachment's data sealed again: same ids, size and data, other envelope")
    sized = Rep(1, "r1", 2, size_delta=1)
    bad("batch-att-size.skb", raw_batch(dump(manifest_of([sized, r2], 0, batch.GENESIS)),
                                        bodies_of([sized, r2])), "VerificationError",
        "the report lists its first attachment one byte longer than its data (envelope hash "
        "right)")
    # Each of these lists the damaged envelope's true SHA-256 (report and manifest), so only
    # the header check of SPEC 3.3 / 3.4 can catch it.
    header_cases = [
        ("batch-att-report-id.skb",
         lambda b, a, r: seal(b, envelope.KIND_ATTACHMENT, a, ident("r9")),
         "an attachment envelope whose report_id is another report's (hashes right)"),
        ("batch-att-envelope-id.skb",
         lambda b, a, r: seal(b, envelope.KIND_ATTACHMENT, ident("r1-other"), r),
         "an attachment envelope whose envelope_id is not its listed id (hashes right)"),
        ("batch-att-kind.skb",
         lambda b, a, r: seal(b, envelope.KIND_REPORT, a, a),
         "an attachment sealed as a report envelope, kind 1 (hashes right)"),
        ("batch-att-not-recipient.skb",
         lambda b, a, r: seal(b, envelope.KIND_ATTACHMENT, a, r, names="c"),
         "an attachment not sealed to the key, in a report that is (3.3, a run: rule 1)"),
    ]
    for name, second, why in header_cases:
        rep = Rep(1, "r1", 2, second=second)
        bad(name, raw_batch(dump(manifest_of([rep, r2], 0, batch.GENESIS)),
                            bodies_of([rep, r2])), "VerificationError", why)

    # Report plaintexts that break SPEC 3.4 (sealed, hashed and chained correctly).
    r2_doc = json.loads(r2.plain)
    plain_cases = [
        ("batch-report-dup-key.skb", r2.plain[:-1] + b', "lang": "en"}',
         "report 2's plaintext has the key lang twice"),
        ("batch-report-version-true.skb",
         json.dumps({**r2_doc, "version": True}, ensure_ascii=False).encode(),
         "report 2's plaintext has version true (not the integer 1)"),
        ("batch-report-nan.skb",
         json.dumps({**r2_doc, "form": {**r2_doc["form"], "version": float("nan")}},
                    ensure_ascii=False).encode(),
         "report 2's plaintext holds NaN, which is not JSON"),
        ("batch-report-no-day.skb",
         json.dumps({k: v for k, v in r2_doc.items() if k != "received_day"},
                    ensure_ascii=False).encode(),
         "report 2's plaintext has no received_day"),
        ("batch-report-surrogate.skb",
         r2.plain.replace(b'"ballot-stuffing"', b'"ballot-stuffing\\ud800"'),
         "report 2's plaintext holds a lone surrogate escape, \\ud800 (3.4)"),
        ("batch-report-deep.skb",
         json.dumps({**r2_doc, "extra": json.loads("[" * 16 + "]" * 16)},
                    ensure_ascii=False).encode(),
         "report 2's plaintext nests arrays 17 deep (an ignored key, still bounded: 3.4)"),
        ("batch-report-no-fields.skb",
         json.dumps({k: v for k, v in r2_doc.items() if k != "fields"},
                    ensure_ascii=False).encode(),
         "report 2's plaintext has no fields"),
    ]
    for name, plain, why in plain_cases:
        odd = Rep(2, "r2")
        odd.plain, odd.env = plain, seal(plain, rid=odd.id)
        bad(name, raw_batch(dump(manifest_of([r1, odd], 0, batch.GENESIS)),
                            bodies_of([r1, odd])), "VerificationError", why)

    # Continuity across batches (each batch is valid alone).
    r4 = Rep(4, "r4")
    files["batch-gap.skb"], _ = write_ok([r4], 3, hashlib.sha256(b"unseen").digest())
    fork = Rep(3, "r3-forked")
    files["batch-fork.skb"], _ = write_ok([fork], 2, link2)
    forked_prev = Rep(3, "r3")
    files["batch-fork-prev.skb"], _ = write_ok([forked_prev], 2, bytes(32))
    rooted, _ = write_ok([Rep(1, "r1-elsewhere")], 0, hashlib.sha256(b"not genesis").digest())
    bad("batch-genesis-prev.skb", rooted, "VerificationError",
        "prev.seq 0 with a prev.chain other than GENESIS (links consistent with it)")
    # An empty batch whose prev.seq is beyond every seq seen: its prev.seq raises hi (3.2).
    files["batch-empty-ahead.skb"], _ = write_ok([], 4, hashlib.sha256(b"ahead").digest())
    # prev.seq 1, then report 3: skips seq 2 (alone a gap; after batch-2, nothing missing).
    _, link1 = entries([r1], batch.GENESIS)
    r3_again = Rep(3, "r3", 1)
    r3_again.env, r3_again.att_envs, r3_again.plain = r3.env, r3.att_envs, r3.plain
    skip_m = manifest_of([r3_again], 1, link1)
    skip_m["reports"][0]["chain"] = link3.hex()  # its true link (after seq 2)
    bad("batch-skip.skb", raw_batch(dump(skip_m), bodies_of([r3_again])), "VerificationError",
        "prev.seq 1, then report 3: seq 2 is missing (3.2, alone into a fresh directory)")
    not_mine = Rep(3, "r3-not-mine", names="c")
    files["batch-not-mine.skb"], _ = write_ok([not_mine], 2, link2)
    index.append({"file": "batch-not-mine.skb", "key": "a", "expect": "NotRecipient",
                  "why": "report 3 sealed to c only (3.3, a run: rule 1)"})
    index.append({"file": "batch-1.skb", "key": "c", "expect": "NotRecipient",
                  "why": "key c is in no report envelope's stanzas"})
    rehashed = json.loads(json.dumps(m))
    rehashed.update(created_day="2020-01-01", batch_id=ident("other batch").hex(),
                    chain_id=ident("other chain").hex())
    for rep in rehashed["reports"]:
        rep["day"] = "2020-01-01"
    files["batch-rehashed.skb"] = raw_batch(dump(rehashed), body)
    ids = {n: ident(n).hex() for n in ("r1", "r2", "r3", "r4", "r3-not-mine")}
    continuity = [
        {"batches": ["batch-1.skb", "batch-2.skb"], "expect": "ok",
         "kept": [ids["r1"], ids["r2"], ids["r3"]]},
        {"batches": ["batch-1.skb", "batch-1.skb"], "expect": "ok",
         "why": "the same batch again: repeated reports with identical links",
         "kept": [ids["r1"], ids["r2"]]},
        {"batches": ["batch-1.skb", "batch-gap.skb"], "expect": "VerificationError",
         "why": "report 3 missing", "kept": [ids["r1"], ids["r2"], ids["r4"]]},
        {"batches": ["batch-1.skb", "batch-2.skb", "batch-fork.skb"],
         "expect": "VerificationError", "why": "report 3 again with a different link",
         "kept": [ids["r1"], ids["r2"], ids["r3"]]},
        {"batches": ["batch-1.skb", "batch-fork-prev.skb"], "expect": "VerificationError",
         "why": "prev.seq 2 with a different prev.chain: a fork withholds nothing (3.2)",
         "kept": [ids["r1"], ids["r2"], ids["r3"]]},
        {"batches": ["batch-1.skb", "batch-empty-ahead.skb"], "expect": "VerificationError",
         "why": "an empty batch with prev.seq 4 after report 2: seqs 3-4 missing (3.2)",
         "kept": [ids["r1"], ids["r2"]]},
        {"batches": ["batch-1.skb", "batch-2.skb", "batch-skip.skb"], "expect": "ok",
         "why": "a batch skipping seq 2, which is recorded: nothing missing (3.2)",
         "kept": [ids["r1"], ids["r2"], ids["r3"]]},
    ]
    runs = [
        {"batches": ["batch-1.skb", "batch-hash.skb"], "key": "a", "expect": "DamagedError",
         "why": "a bad header aborts the run before anything is written (3.3)", "kept": []},
        {"batches": ["batch-2.skb", "batch-truncated.skb"], "key": "a",
         "expect": "DamagedError", "why": "a truncated batch; the other is still decrypted",
         "kept": [ids["r1"], ids["r3"]]},
        {"batches": ["batch-truncated.skb", "batch-gap.skb"], "key": "a",
         "expect": "DamagedError", "why": "DamagedError wins over a gap (VerificationError)",
         "kept": [ids["r1"], ids["r4"]]},
        {"batches": ["batch-1.skb", "batch-not-mine.skb"], "key": "a",
         "expect": "VerificationError",
         "why": "one report envelope not sealed to the key, others that are",
         "kept": [ids["r1"], ids["r2"]]},
        {"batches": ["batch-not-mine.skb", "batch-truncated.skb"], "key": "c",
         "expect": "DamagedError",
         "why": "key c opens report 3, so not NotRecipient; the truncated batch makes it "
                "DamagedError", "kept": [ids["r3-not-mine"]]},
        {"batches": ["batch-1.skb", "batch-truncated.skb"], "key": "c",
         "expect": "NotRecipient", "why": "NotRecipient wins over DamagedError", "kept": []},
    ]
    for name in ("batch-gap.skb", "batch-fork.skb", "batch-fork-prev.skb",
                 "batch-empty-ahead.skb"):
        index.append({"file": name, "key": "a", "expect": "ok-alone"})
    index.append({"file": "batch-rehashed.skb", "key": "a", "expect": "ok-alone",
                  "why": "batch-1 with every day, batch_id and chain_id changed and the manifest "
                         "hash recomputed: undetected in version 1 (3.3)"})
    return files, index, continuity, runs


def keyfile_vectors() -> tuple[dict[str, bytes], list[dict[str, Any]], list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    text = keyfile.render(PrivateKey(KEYS["a"]), PASSPHRASE.encode(), CHEAP, DAY)
    files["key-a.key"] = text.encode()
    files["key-a.key.pub"] = f"# Skrynka analyst public key\n{encode_public(pub('a'))}\n".encode()
    pa = encode_public(pub("a"))
    index.append({"file": "key-a.key", "passphrase": PASSPHRASE, "expect": "ok", "public": pa})
    index.append({"file": "key-a.key", "passphrase": "Correct horse battery staple",
                  "expect": "WrongPassphrase"})
    index.append({"file": "key-a.key.pub", "expect": "public-only", "public": pa})
    line = text.splitlines()[3]
    fields = line.split(" ")

    def bad(name: str, new_text: str, expect: str, why: str) -> None:
        files[name] = new_text.encode()
        index.append({"file": name, "passphrase": PASSPHRASE, "expect": expect, "why": why})

    def with_field(i: int, value: str) -> str:
        return text.replace(line, " ".join(fields[:i] + [value] + fields[i + 1 :]))

    bad("key-version.key", with_field(0, "SKRYNKA-KEY-2"), "KeyFileError", "unknown version")
    bad("key-kdf.key", with_field(1, "scrypt"), "KeyFileError", "unknown KDF")
    bad("key-memory-huge.key", with_field(2, "m=8388608"), "KeyFileError", "8 GiB of memory")
    bad("key-memory-small.key", with_field(2, "m=1024"), "KeyFileError", "1 MiB of memory")
    bad("key-time-zero.key", with_field(3, "t=0"), "KeyFileError", "t = 0")
    bad("key-time-huge.key", with_field(3, "t=65"), "KeyFileError", "t = 65")
    bad("key-lanes.key", with_field(4, "p=17"), "KeyFileError", "p = 17")
    bad("key-lanes-2.key", with_field(4, "p=2"), "KeyFileError",
        "p = 2: only p = 1 is allowed (libsodium's crypto_pwhash computes p = 1 only)")
    bad("key-leading-zero.key", with_field(3, "t=01"), "KeyFileError", "t=01")
    bad("key-salt-b64.key", with_field(5, fields[5][:-3] + "*=="), "KeyFileError", "bad base64")
    bad("key-salt-short.key", with_field(5, "AAAAAAAAAAAAAAAAAAAA"), "KeyFileError",
        "15-byte salt")
    bad("key-box-short.key", with_field(6, fields[6][:-4]), "KeyFileError", "box too short")
    bad("key-fields.key", text.replace(line, line + " extra"), "KeyFileError", "8 fields")
    bad("key-no-public.key", "\n".join(t for t in text.splitlines() if "public key" not in t),
        "KeyFileError", "no public key comment")
    bad("key-public-mismatch.key", text.replace(pa, encode_public(pub("b"))), "KeyFileError",
        "public key comment of another key")
    bad("key-public-typo.key", text.replace(pa, pa[:-1] + ("q" if pa[-1] != "q" else "p")),
        "KeyFileError", "mistyped public key comment")
    box = bytearray(keyfile.base64.b64decode(fields[6]))
    box[30] ^= 1
    bad("key-box-flipped.key", with_field(6, keyfile.base64.b64encode(bytes(box)).decode()),
        "WrongPassphrase", "ciphertext altered")
    salt = bytearray(keyfile.base64.b64decode(fields[5]))
    salt[0] ^= 1
    bad("key-salt-flipped.key", with_field(5, keyfile.base64.b64encode(bytes(salt)).decode()),
        "WrongPassphrase", "salt altered")
    bad("key-two-lines.key", text + line + "\n", "KeyFileError", "two key lines")
    nfc, nfd = "пароль caf\u00e9", "пароль cafe\u0301"  # "é" composed, then decomposed
    files["key-nfc.key"] = keyfile.render(PrivateKey(KEYS["a"]), nfc.encode(), CHEAP,
                                          DAY).encode()
    index.append({"file": "key-nfc.key", "passphrase": nfc, "expect": "ok", "public": pa,
                  "why": "a passphrase with a composed \u00e9 (NFC)"})
    index.append({"file": "key-nfc.key", "passphrase": nfd, "expect": "WrongPassphrase",
                  "why": "the same passphrase decomposed (NFD): no Unicode normalization (4)"})

    texts = [{"text": pa, "expect": "ok", "raw": pub("a").hex()},
             {"text": encode_public(pub("b")), "expect": "ok", "raw": pub("b").hex()},
             {"text": pa.upper(), "expect": "ok", "raw": pub("a").hex()},
             {"text": pa[:8] + pa[8:].upper(), "expect": "KeyFileError", "why": "mixed case"},
             {"text": pa[:-1], "expect": "KeyFileError", "why": "cut"},
             {"text": pa + "q", "expect": "KeyFileError", "why": "one character more"},
             {"text": "skrynkb1" + pa[8:], "expect": "KeyFileError", "why": "wrong prefix"},
             {"text": "age1" + pa[8:], "expect": "KeyFileError", "why": "another tool's key"},
             {"text": pa[:10] + pa[11] + pa[10] + pa[12:], "expect": "KeyFileError",
              "why": "two characters swapped"},
             {"text": pa[:20] + "b" + pa[21:], "expect": "KeyFileError",
              "why": "a character outside the alphabet"},
             {"text": _bech32(pub("a"), pad_bits=0b0101), "expect": "KeyFileError",
              "why": "non-zero padding bits (checksum right)"},
             {"text": _bech32(pub("a"), constant=0x2BC830A3), "expect": "KeyFileError",
              "why": "a Bech32m checksum (constant 0x2bc830a3), not Bech32"}]
    return files, index, texts


def _bech32(raw: bytes, *, pad_bits: int = 0, constant: int = 1) -> str:
    """A public key text with chosen padding bits and checksum constant (SPEC 1)."""
    values = pubkey._convert(raw, 8, 5, True)  # noqa: SLF001
    assert values is not None
    values[-1] |= pad_bits
    check = pubkey._polymod(pubkey._hrp_expand(pubkey.HRP) + values + [0] * 6) ^ constant  # noqa: SLF001
    data = values + [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    return pubkey.HRP + "1" + "".join(pubkey._CHARSET[d] for d in data)  # noqa: SLF001


def main(argv: list[str] | None = None) -> int:
    """Write the vectors into tests/vectors/ (or the directory given)."""
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else HERE
    env_files, env_index = envelope_vectors()
    batch_files, batch_index, continuity, runs = batch_vectors()
    from tests.vectors import make_signed

    signed_files, signed_index, origin, signers = make_signed.signed_vectors()
    batch_files.update(signed_files)
    batch_index += signed_index
    key_files, key_index, texts = keyfile_vectors()
    files = {**env_files, **batch_files, **key_files}
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.suffix in (".bin", ".skb", ".key", ".pub"):
            old.unlink()
    for name, blob in files.items():
        (out_dir / name).write_bytes(blob)
    index = {
        "about": "Skrynka SPEC.md test vectors; made by make_vectors.py",
        "data": "env-<n>.bin holds shake_256(b'skrynka-vector').digest(n)",
        "keys": {k: {"private": v.hex(), "public": encode_public(pub(k))} for k, v in KEYS.items()},
        "signers": signers, "origin": origin,
        "envelopes": env_index, "batches": batch_index, "continuity": continuity, "runs": runs,
        "keyfiles": key_index, "public_keys": texts,
    }
    (out_dir / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    total = sum(len(b) for b in files.values())
    print(f"{len(files)} vector files, {total} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
