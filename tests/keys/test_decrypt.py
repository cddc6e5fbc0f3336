"""keys.decrypt: batches -> report folders, tables and state, with every check."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import batch, envelope
from keys.errors import DamagedError, FormatError, NotRecipient, VerificationError
from keys.origin import Trust
from tests.keys.helpers import Drop, assert_report_dir, decrypt_batches, folders


def _csv_rows(out: Path) -> list[dict[str, str]]:
    raw = (out / "reports.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_round_trip_text_and_attachments(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    sizes = [0, 1, 65536, 65537, 5 * 1024 * 1024 + 3]
    be = drop.submit({"what": "Беларуская: ўсё добра, ці не?", "kind": ["ballot", "pressure"]},
                     lang="be", attachments=[(f"f{n}.bin", os.urandom(n)) for n in sizes])
    ru = drop.submit({"what": "Русский: вброс бюллетеней ёж"}, lang="ru")
    en = drop.submit({"what": "English\nwith newline, \"quotes\" and commas"}, lang="en",
                     attachments=[("фота.jpg", b"\xff\xd8jpeg")])
    drop.export(tmp_path / "b1.skb")
    summary = decrypt_batches(analyst, [tmp_path / "b1.skb"], tmp_path / "out")
    assert (summary.decrypted, summary.attachments, summary.skipped) == (3, 6, 0)
    assert summary.problems == [] and summary.fatal == []
    summary.raise_for_problems()
    for sealed in (be, ru, en):
        assert_report_dir(tmp_path / "out", sealed)
    text = (tmp_path / "out" / be.id.hex() / "report.json").read_text(encoding="utf-8")
    assert "ўсё" in text  # not \\u escapes
    assert oct(os.stat(tmp_path / "out" / be.id.hex() / "f65537.bin").st_mode & 0o777) == "0o600"
    assert summary.line() == (f"decrypted 3 reports (6 attachments) to {tmp_path / 'out'}; "
                              "skipped 0 already present; 0 problems; "
                              "0 unresolved citations")


def test_tables(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    a = drop.submit({"what": "=HYPERLINK(\"http://x\")", "kind": ["a", "b"]}, lang="be",
                    attachments=[("x.jpg", b"1"), ("y.jpg", b"2")])
    b = drop.submit({"where": "+375 29", "what": "-1", "note": "@sum\tx"}, lang="ru")
    drop.export(tmp_path / "b.skb")
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    rows = _csv_rows(tmp_path / "out")
    assert [r["report_id"] for r in rows] == [a.id.hex(), b.id.hex()]
    assert [r["seq"] for r in rows] == ["1", "2"]
    first, second = rows
    assert first["what"] == "'=HYPERLINK(\"http://x\")"
    assert first["kind"] == "a; b"
    assert first["attachments"] == "x.jpg; y.jpg"
    assert first["lang"] == "be" and first["form_id"] == "violations"
    assert first["form_version"] == "3"
    assert first["received_day"] == "2026-11-20" and first["where"] == ""
    assert second["where"] == "'+375 29" and second["what"] == "'-1"
    assert second["note"] == "'@sum\tx"
    lines = (tmp_path / "out" / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    objs = [json.loads(line) for line in lines]
    assert objs[0]["kind"] == ["a", "b"] and objs[0]["what"] == "=HYPERLINK(\"http://x\")"
    assert objs[1]["report_id"] == b.id.hex() and objs[1]["seq"] == 2


def test_idempotent_and_overlapping(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(5):
        drop.submit({"what": f"r{i}"}, attachments=[("a.txt", b"x" * i)])
    drop.export(tmp_path / "b1.skb", drop.reports[:3])
    drop.export(tmp_path / "b2.skb", drop.reports[1:])  # overlaps seq 2-3
    out = tmp_path / "out"
    s1 = decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    assert (s1.decrypted, s1.skipped, s1.problems) == (3, 0, [])
    s2 = decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    assert (s2.decrypted, s2.skipped, s2.problems) == (0, 3, [])
    s3 = decrypt_batches(analyst, [tmp_path / "b2.skb", tmp_path / "b1.skb"], out)
    assert (s3.decrypted, s3.skipped, s3.problems, s3.fatal) == (2, 5, [], [])
    assert sorted(folders(out)) == sorted(r.id.hex() for r in drop.reports)
    assert len(_csv_rows(out)) == 5
    for sealed in drop.reports:
        assert_report_dir(out, sealed)


def test_gap_across_batches(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(6):
        drop.submit({"what": f"r{i}"})
    drop.export(tmp_path / "b1.skb", drop.reports[:2])
    drop.export(tmp_path / "b3.skb", drop.reports[4:])  # seq 3-4 never exported
    out = tmp_path / "out"
    assert decrypt_batches(analyst, [tmp_path / "b1.skb"], out).problems == []
    s = decrypt_batches(analyst, [tmp_path / "b3.skb"], out)
    assert s.decrypted == 2
    assert len(s.problems) == 1 and s.problems[0].startswith("gap:") and "seq 3-4" in s.problems[0]
    with pytest.raises(VerificationError) as info:
        s.raise_for_problems()
    assert info.value.exit_code == 8


def test_duplicate_report_id(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    first = drop.submit({"what": "original"})
    out = tmp_path / "out"
    drop.export(tmp_path / "b1.skb")
    decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    # the server, re-initialised, replays the same report under a new chain, seq 1
    other = Drop(drop.recipients, signer=drop.signer)
    other.reports.append(first)
    link = batch.chain_next(batch.GENESIS, 1, first.id, hashlib.sha256(first.envelope).digest())
    other.links[1] = link
    other.export(tmp_path / "b2.skb")
    s = decrypt_batches(analyst, [tmp_path / "b2.skb"], out,
                        trust=Trust(trust_first=True, new_chain=True))
    assert s.decrypted == 0 and len(s.problems) == 1
    assert s.problems[0].startswith("duplicate:") and first.id.hex() in s.problems[0]


def test_same_seq_different_content(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    drop.submit({"what": "a"})
    out = tmp_path / "out"
    drop.export(tmp_path / "b1.skb")
    decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    rewritten = Drop(drop.recipients, chain_id=drop.chain_id, signer=drop.signer)
    rewritten.submit({"what": "b"})
    rewritten.export(tmp_path / "b2.skb")
    s = decrypt_batches(analyst, [tmp_path / "b2.skb"], out)
    # both versions are kept: the new one in quarantine (tests/keys/test_origin.py)
    assert s.decrypted == 0 and s.quarantined == 1
    assert len(s.problems) == 1 and s.problems[0].startswith("conflict:")
    assert sorted(folders(out)) == sorted([drop.reports[0].id.hex(), "quarantine"])


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _envelope_offset(path: Path, drop: Drop, index: int) -> int:
    data = path.read_bytes()
    return data.index(drop.reports[index].envelope)


def test_altered_report_is_skipped_others_kept(tmp_path: Path, drop: Drop,
                                                analyst: PrivateKey) -> None:
    for i in range(4):
        drop.submit({"what": f"r{i}"}, attachments=[("a.txt", b"payload %d" % i)])
    path = drop.export(tmp_path / "b.skb")
    _flip(path, _envelope_offset(path, drop, 2) + 300)
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [path], out)
    assert s.decrypted == 3 and len(s.problems) == 1 and s.fatal == []
    assert drop.reports[2].id.hex() in s.problems[0] and "seq 3" in s.problems[0]
    assert drop.reports[2].id.hex() not in folders(out)
    for i in (0, 1, 3):
        assert_report_dir(out, drop.reports[i])
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]
    # the damaged report is not remembered: a good copy later decrypts it
    good = Drop(drop.recipients, chain_id=drop.chain_id, links=drop.links, reports=drop.reports,
                signer=drop.signer)
    good.export(tmp_path / "good.skb")
    s2 = decrypt_batches(analyst, [tmp_path / "good.skb"], out)
    assert (s2.decrypted, s2.skipped, s2.problems) == (1, 3, [])


def test_chain_mismatch_is_altered(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(3):
        drop.submit({"what": f"r{i}"})
    # a validly sealed envelope replaced (the server was made to re-seal report 2)
    fake = envelope.seal_bytes(json.dumps(drop.reports[1].report).encode(), drop.recipients,
                               envelope_id=drop.reports[1].id, report_id=drop.reports[1].id)
    drop.reports[1].envelope = fake  # the chain link still names the original envelope
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 2 and len(s.problems) == 1
    assert s.problems[0].startswith("altered:") and "seq 2" in s.problems[0]


def test_swapped_attachments_detected(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    a = drop.submit({"what": "a"}, attachments=[("a.jpg", b"A" * 1000)])
    b = drop.submit({"what": "b"}, attachments=[("b.jpg", b"B" * 1000)])
    c = drop.submit({"what": "c"}, attachments=[("c.jpg", b"C")])
    a.attachments, b.attachments = b.attachments, a.attachments
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 1 and len(s.problems) == 2
    assert all(p.startswith("damaged:") for p in s.problems)
    assert list(folders(tmp_path / "out")) == [c.id.hex()]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp")]


def test_missing_attachment_detected(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    a = drop.submit({"what": "a"}, attachments=[("a.jpg", b"A"), ("b.jpg", b"B")])
    a.attachments = a.attachments[:1]
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 0 and len(s.problems) == 1 and "attachments" in s.problems[0]
    assert folders(tmp_path / "out") == {}


def test_attachment_wrong_size_in_listing(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    a = drop.submit({"what": "a"}, attachments=[("a.jpg", b"AAAA")])
    a.report["attachments"][0]["size"] = 3  # the server listed another file than it sealed
    plain = json.dumps(a.report).encode()
    a.envelope = envelope.seal_bytes(plain, drop.recipients, envelope_id=a.id, report_id=a.id)
    drop.links[1] = a.chain = batch.chain_next(batch.GENESIS, 1, a.id,
                                               hashlib.sha256(a.envelope).digest())
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 0 and "differs from the report's listing" in s.problems[0]


def test_truncated_batch_keeps_intact_reports(tmp_path: Path, drop: Drop,
                                              analyst: PrivateKey) -> None:
    for i in range(3):
        drop.submit({"what": f"r{i}"}, attachments=[("a.bin", os.urandom(70000))])
    path = drop.export(tmp_path / "b.skb")
    data = path.read_bytes()
    path.write_bytes(data[: _envelope_offset(path, drop, 2) + 100])
    s = decrypt_batches(analyst, [path], tmp_path / "out")
    assert s.decrypted == 2 and len(s.fatal) == 1
    assert isinstance(s.fatal[0], DamagedError) and "truncated in report seq 3" in str(s.fatal[0])
    with pytest.raises(DamagedError):
        s.raise_for_problems()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp")]


def test_trailing_bytes(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    drop.submit({"what": "a"})
    path = drop.export(tmp_path / "b.skb")
    with open(path, "ab") as f:
        f.write(b"extra")
    s = decrypt_batches(analyst, [path], tmp_path / "out")
    assert len(s.fatal) == 1 and "trailing bytes" in str(s.fatal[0])


def test_not_recipient_said_once(tmp_path: Path, drop: Drop) -> None:
    for i in range(3):
        drop.submit({"what": f"r{i}"})
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(PrivateKey.generate(), [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 0 and s.problems == []
    assert len(s.fatal) == 1 and isinstance(s.fatal[0], NotRecipient)
    assert "3 reports" in str(s.fatal[0])
    with pytest.raises(NotRecipient):
        s.raise_for_problems()


def test_not_a_batch(tmp_path: Path, analyst: PrivateKey) -> None:
    (tmp_path / "x").write_bytes(b"PK\x03\x04 not a batch at all")
    with pytest.raises(FormatError):
        decrypt_batches(analyst, [tmp_path / "x"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_temp_left_on_failure(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    a = drop.submit({"what": "a"}, attachments=[("big.bin", os.urandom(200000)),
                                                ("small.bin", b"s")])
    path = drop.export(tmp_path / "b.skb")
    att_env = a.attachments[1][1]
    _flip(path, path.read_bytes().index(att_env) + len(att_env) - 5)  # last chunk of the last one
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [path], out)
    assert s.decrypted == 0 and len(s.problems) == 1
    leftovers = sorted(p.name for p in out.iterdir())
    assert leftovers == [".skrynka-lock", ".skrynka-recipients.json", ".skrynka-state.json",
                         "citations.csv", "reports.csv", "reports.jsonl"]


def test_progress_callback(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for _ in range(3):
        drop.submit()
    drop.export(tmp_path / "b.skb")
    seen: list[tuple[int, int, int, int]] = []
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out",
                    progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [1, 2, 3] and all(s[1] == 3 for s in seen)
    assert seen[-1][2] == seen[-1][3] == sum(len(r.envelope) for r in drop.reports)
