"""Damaged batches for the analyst's offline tool: seeded bit flips, truncations, splices.

A valid batch of several reports (some with multi-chunk attachments) is built
with the keys library and a throw-away key; each mutation of it is decrypted
with ``keys.decrypt.decrypt_batches`` into a fresh directory. Whatever happens
must be *clean*: only a :class:`keys.errors.KeysError` may be raised, every
report folder that appears is exactly what was sealed, the damaged report is
named as a problem, and every report the damage did not reach is decrypted.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keys import output
from keys.batch import GENESIS, AttachmentEntry, ReportEntry, chain_next, write_batch
from keys.decrypt import decrypt_batches
from keys.envelope import KIND_ATTACHMENT, seal_bytes
from keys.errors import KeysError
from keys.origin import Trust


@dataclass(frozen=True)
class Sealed:
    report_id: bytes
    report: dict[str, object]
    attachments: dict[str, bytes]  # file name in the output folder -> bytes
    start: int  # offset of its first envelope byte in the batch
    end: int  # offset after its last attachment envelope


@dataclass
class Original:
    data: bytes
    body_start: int  # first envelope byte (everything before is prefix + manifest + hash)
    reports: list[Sealed]


def _report(
    rng: random.Random, rid: bytes, atts: list[tuple[bytes, str, bytes]], blobs: list[bytes]
) -> dict[str, object]:
    return {
        "format": "skrynka-report", "version": 1,
        "form": {"id": "election-violation", "version": 1},
        "lang": rng.choice(["be", "ru", "en"]), "received_day": "2026-11-24",
        "fields": {"what": ["other"], "region": "brest",
                   "description": f"report {rid.hex()} " + "‮ж" * rng.randint(0, 50)},
        "labels": {"what": "What happened?", "region": "Region", "description": "Description"},
        "attachments": [
            {"id": aid.hex(), "name": name, "media_type": "image/jpeg", "size": len(data),
             "envelope_sha256": hashlib.sha256(blob).hexdigest()}  # SPEC 3.4
            for (aid, name, data), blob in zip(atts, blobs)
        ],
    }


def build(rng: random.Random, key: PrivateKey, n_reports: int = 5) -> Original:
    """A valid first batch of ``n_reports`` reports sealed to ``key``."""
    pub = bytes(key.public_key)
    entries: list[ReportEntry] = []
    meta: list[tuple[bytes, dict[str, object], dict[str, bytes], list[int]]] = []
    link = GENESIS
    for seq in range(1, n_reports + 1):
        rid = rng.randbytes(16)
        atts = [(rng.randbytes(16), rng.choice(["a.jpg", "../b.jpg", "снимок.png"]),
                 rng.randbytes(rng.choice([10, 3000, 70_000, 140_000])))
                for _ in range(rng.choice([0, 0, 1, 2]))]
        blobs = [seal_bytes(d, [pub], kind=KIND_ATTACHMENT, envelope_id=aid, report_id=rid)
                 for aid, _, d in atts]
        report = _report(rng, rid, atts, blobs)
        env = seal_bytes(json.dumps(report, ensure_ascii=False).encode(), [pub],
                         report_id=rid)
        sha = hashlib.sha256(env).digest()
        link = chain_next(link, seq, rid, sha)
        entries.append(ReportEntry(
            seq=seq, id=rid, day="2026-11-24", size=len(env), sha256=sha, chain=link,
            open=_opener(env),
            attachments=tuple(AttachmentEntry(aid, len(b), hashlib.sha256(b).digest(),
                                              _opener(b))
                              for (aid, _, _), b in zip(atts, blobs)),
        ))
        names = output.attachment_names(report)
        meta.append((rid, report, {n: d for n, (_, _, d) in zip(names, atts)},
                     [len(env)] + [len(b) for b in blobs]))
    import io

    buf = io.BytesIO()
    write_batch(buf, batch_id=rng.randbytes(16), chain_id=rng.randbytes(16),
                created_day="2026-11-24", prev_seq=0, prev_chain=GENESIS, reports=entries,
                signing_key=SigningKey(rng.randbytes(32)))  # version 2, signed (SPEC 6)
    data = buf.getvalue()
    total = sum(sum(sizes) for *_, sizes in meta)
    pos = body_start = len(data) - total
    sealed = []
    for rid, report, files, sizes in meta:
        sealed.append(Sealed(rid, report, files, pos, pos + sum(sizes)))
        pos += sum(sizes)
    return Original(data, body_start, sealed)


def _opener(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return lambda: io.BytesIO(data)


# --- mutations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    kind: str
    data: bytes
    first: int  # first original offset that differs (or where the data was cut)


def _pos(rng: random.Random, orig: Original) -> int:
    # a third of the damage lands in prefix + manifest, the rest in the envelopes
    if rng.random() < 0.3:
        return rng.randrange(orig.body_start)
    return rng.randrange(orig.body_start, len(orig.data))


def mutate(rng: random.Random, orig: Original) -> Mutation:
    data = bytearray(orig.data)
    kind = rng.choice(["flip", "flip", "truncate", "delete", "insert", "duplicate", "overwrite"])
    at = _pos(rng, orig)
    if kind == "flip":
        spots = sorted({at} | {rng.randrange(len(data)) for _ in range(rng.randint(0, 2))})
        for p in spots:
            data[p] ^= 1 << rng.randrange(8)
        return Mutation(kind, bytes(data), spots[0])
    if kind == "truncate":
        return Mutation(kind, bytes(data[:at]), at)
    n = rng.choice([1, 7, 17, 64, 512, 4096, 65553])
    if kind == "delete":
        del data[at : at + n]
    elif kind == "insert":
        data[at:at] = rng.randbytes(n)
    elif kind == "duplicate":
        src = rng.randrange(len(data))
        data[at:at] = orig.data[src : src + n]
    else:
        src = rng.randrange(len(data))
        data[at : at + n] = orig.data[src : src + n]
        data = data[: len(orig.data)] if len(data) > len(orig.data) else data
    first = next((i for i, (a, b) in enumerate(zip(orig.data, data)) if a != b),
                 min(len(orig.data), len(data)))
    return Mutation(kind, bytes(data), first)


# --- checking ------------------------------------------------------------------------------


class Unclean(AssertionError):
    """The tool did not end cleanly on a damaged batch."""


def _output_ok(out: Path, orig: Original) -> set[bytes]:
    """Report ids whose folders appeared; each must be exactly what was sealed."""
    by_id = {s.report_id.hex(): s for s in orig.reports}
    seen: set[bytes] = set()
    for entry in out.iterdir():
        if entry.name.startswith(".") or entry.is_file():
            continue
        sealed = by_id.get(entry.name)
        if sealed is None:
            raise Unclean(f"unexpected folder {entry.name}")
        got = json.loads((entry / output.REPORT_FILE).read_text("utf-8"))
        if got != sealed.report:
            raise Unclean(f"report {entry.name} decrypted to something else")
        files = {p.name: p.read_bytes() for p in entry.iterdir() if p.name != output.REPORT_FILE}
        if files != sealed.attachments:
            raise Unclean(f"report {entry.name}: attachments differ")
        seen.add(sealed.report_id)
    return seen


def check(orig: Original, mut: Mutation, key: PrivateKey, work: Path) -> str:
    """Decrypt one mutation; returns the outcome class; raises Unclean if it is not clean."""
    batch = work / "batch.skb"
    out = work / "out"
    batch.write_bytes(mut.data)
    raised: KeysError | None = None
    try:
        summary = decrypt_batches(key, [batch], out, trust=Trust(trust_first=True))
    except KeysError as exc:
        raised, summary = exc, None
    except Exception as exc:  # anything else is a crash of the offline tool
        raise Unclean(f"{mut.kind}@{mut.first}: {type(exc).__name__}: {exc}\n"
                      + traceback.format_exc()) from exc
    try:
        got = _output_ok(out, orig) if out.is_dir() else set()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if summary is not None and not summary.problems and not summary.fatal:
        raise Unclean(f"{mut.kind}@{mut.first}: damage went unnoticed")
    if mut.first >= orig.body_start:  # the manifest is intact: reports before the damage
        for s in orig.reports:
            if s.end <= mut.first and s.report_id not in got:
                raise Unclean(f"{mut.kind}@{mut.first}: undamaged report {s.report_id.hex()} "
                              "before the damage was not decrypted")
        if mut.kind == "flip":  # a flip damages one report; all others come out
            hit = [s for s in orig.reports if s.start <= mut.first < s.end]
            others = {s.report_id for s in orig.reports} - {h.report_id for h in hit}
            flips_elsewhere = sum(a != b for a, b in zip(orig.data, mut.data)) > 1
            if not flips_elsewhere and others - got:
                raise Unclean(f"flip@{mut.first}: undamaged reports were not decrypted")
            if hit and hit[0].report_id in got:
                raise Unclean(f"flip@{mut.first}: the damaged report was output")
    if raised is not None:
        return f"error:{type(raised).__name__}"
    return "partial" if got else "none"


@dataclass
class MutationStats:
    runs: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)


def run_mutations(n: int, seed: int, work: Path, *, time_limit: float = 600.0,
                  batches: int = 4) -> MutationStats:
    """``n`` mutations spread over ``batches`` different originals, bounded by time."""
    rng = random.Random(seed)
    key = PrivateKey.generate()
    originals = [build(rng, key, rng.randint(3, 6)) for _ in range(batches)]
    stats = MutationStats()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for i in range(n):
        if time.monotonic() - started > time_limit:
            break
        orig = originals[i % len(originals)]
        mut = mutate(rng, orig)
        if mut.data == orig.data:
            continue
        stats.kinds[mut.kind] += 1
        stats.outcomes[check(orig, mut, key, work)] += 1
        stats.runs += 1
    stats.seconds = time.monotonic() - started
    return stats
