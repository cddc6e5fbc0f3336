"""Fuzz: any report plaintext, through the whole decrypt path, has a defined outcome.

A report envelope is authenticated, so whatever its plaintext holds was sealed by
someone with the analyst's public key (which is public). Mutated plaintexts
(odd JSON values, lone surrogates, control characters, deep nesting, raw byte
edits) are sealed into a valid batch and decrypted: the report is either kept
(its report.json and the tables written) or named as a problem. Nothing may end
in "internal error" (any exception but a KeysError), as a lone surrogate did.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from keys import batch, envelope
from keys.errors import KeysError
from tests.keys.helpers import decrypt_batches

KEY = PrivateKey.generate()
RID = bytes(range(16))
BASE: dict[str, Any] = {
    "format": "skrynka-report", "version": 1, "form": {"id": "violations", "version": 1},
    "lang": "be", "received_day": "2026-11-24",
    "fields": {"what": "=1+1", "kind": ["a", "b"]}, "labels": {"what": "What"},
    "attachments": [],
}
_ODD_TEXT = st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\x1b[2K", "\u202e", "\x00",
                             "=cmd|' /C calc'!A0", " -1", "\ud83d\ude00", "x" * 70000, ""])
_TEXT = st.text(max_size=12) | _ODD_TEXT
_LEAF = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
         | st.floats(allow_nan=False, allow_infinity=False) | _TEXT)
_VALUE = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=12)
_PATHS = [("fields", "what"), ("fields", "kind"), ("fields", "\ud800"), ("fields", "seq"),
          ("labels", "what"), ("form", "id"), ("form", "version"), ("lang",), ("version",),
          ("received_day",), ("attachments",), ("receipt",), ("cites",), ("form_nonce",),
          ("extra",), ("fields",)]
_RAW = st.sampled_from([b"\\ud800", b"\\udc00", b"\\u0000", b"NaN", b"1e999", b"\xff", b"[",
                        b"\\", b'"', b"\x1b", b"{}", b"-0"])


def _encode(doc: Any) -> bytes:
    """JSON text that may escape lone surrogates (ensure_ascii), as a hostile sealer can."""
    return json.dumps(doc, ensure_ascii=True).encode("ascii")


def _batch(plain: bytes, atts: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """A one-report batch; ``atts``: (id, envelope) of its attachments."""
    env = envelope.seal_bytes(plain, [bytes(KEY.public_key)], envelope_id=RID, report_id=RID)
    sha = hashlib.sha256(env).digest()
    entry = batch.ReportEntry(1, RID, "2026-11-24", len(env), sha,
                              batch.chain_next(batch.GENESIS, 1, RID, sha),
                              lambda: io.BytesIO(env),
                              [batch.AttachmentEntry(aid, len(a), hashlib.sha256(a).digest(),
                                                     (lambda a=a: io.BytesIO(a)))
                               for aid, a in atts])
    out = io.BytesIO()
    batch.write_batch(out, batch_id=bytes(16), chain_id=bytes(16), created_day="2026-11-24",
                      prev_seq=0, prev_chain=batch.GENESIS, reports=[entry], signing_key=None)
    return out.getvalue()


def _work() -> Path:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="fuzz-report-", dir=base))


def _outcome(plain: bytes, atts: Sequence[tuple[bytes, bytes]] = ()) -> None:
    work = _work()
    try:
        (work / "b.skb").write_bytes(_batch(plain, atts))
        try:
            summary = decrypt_batches(KEY, [work / "b.skb"], work / "out")
        except KeysError:
            return
        kept = (work / "out" / RID.hex()).is_dir()
        assert kept != bool(summary.problems), summary.problems
        if kept:
            json.loads((work / "out" / RID.hex() / "report.json").read_bytes())
            assert (work / "out" / "reports.csv").read_bytes().decode("utf-8-sig")
    finally:
        shutil.rmtree(work, ignore_errors=True)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _VALUE), max_size=3))
def test_mutated_report_values_have_a_defined_outcome(edits: list[tuple[tuple[str, ...],
                                                                         Any]]) -> None:
    doc = json.loads(json.dumps(BASE))
    for path, value in edits:
        target = doc
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            target[path[-1]] = value
    _outcome(_encode(doc))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, 400), _RAW), min_size=1, max_size=3))
def test_raw_plaintext_edits_have_a_defined_outcome(edits: list[tuple[int, bytes]]) -> None:
    plain = bytearray(_encode(BASE))
    for at, piece in edits:
        at %= len(plain)
        plain[at:at] = piece
    _outcome(bytes(plain))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_TEXT | st.sampled_from(["report.json", "../../x", "CON", ".", "..", "a/",
                                          "\\\\server\\x", "reports.csv"]),
                min_size=1, max_size=3))
def test_attachment_names_have_a_defined_outcome(names: list[str]) -> None:
    doc = json.loads(json.dumps(BASE))
    atts = []
    for i, name in enumerate(names):
        aid = bytes([i + 1]) * 16
        env = envelope.seal_bytes(b"data", [bytes(KEY.public_key)],
                                  kind=envelope.KIND_ATTACHMENT, envelope_id=aid, report_id=RID)
        atts.append((aid, env))
        doc["attachments"].append({"id": aid.hex(), "name": name, "size": 4,
                                   "envelope_sha256": hashlib.sha256(env).hexdigest()})
    _outcome(_encode(doc), atts)


def test_a_lone_surrogate_is_a_named_problem(tmp_path: Path) -> None:
    """The issue's reproduction: it was "internal error … this is a bug", no report kept."""
    doc = json.loads(json.dumps(BASE))
    doc["fields"]["what"] = "\ud800"
    (tmp_path / "b.skb").write_bytes(_batch(_encode(doc)))
    summary = decrypt_batches(KEY, [tmp_path / "b.skb"], tmp_path / "out")
    assert [p.split(": ")[0] for p in summary.problems] == ["damaged"]
    assert "lone surrogate" in summary.problems[0]
    assert not (tmp_path / "out" / RID.hex()).exists()
