"""Who else can read (issue 14, part 2): the analyst pins the expected recipients and
every report sealed to another key is flagged loudly and counted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys.errors import OutputError, UnexpectedRecipients, VerificationError
from keys.pubkey import fingerprint
from keys.recipients import PIN_FILE, load_recipients
from tests.keys.helpers import Drop, decrypt_batches

ROGUE = bytes(PrivateKey.generate().public_key)


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "reports.csv", encoding="utf-8-sig", newline="") as f:
        return {row["seq"]: row for row in csv.DictReader(f)}


def _rogue_drop(drop: Drop) -> Drop:
    """Two reports sealed as configured, then a key appended by a coerced operator."""
    drop.submit({"what": "before 1"})
    drop.submit({"what": "before 2"}, attachments=[("a.jpg", b"jpeg")])
    drop.recipients.append(ROGUE)
    drop.submit({"what": "after 3"}, attachments=[("b.jpg", b"jpeg")])
    drop.submit({"what": "after 4"})
    return drop


def test_a_rogue_key_is_flagged_and_counted(tmp_path: Path, drop: Drop,
                                            analyst: PrivateKey) -> None:
    mine = bytes(analyst.public_key)
    path = _rogue_drop(drop).export(tmp_path / "b.skb")
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [path], out, recipients=[mine])
    assert s.decrypted == 4 and s.problems == [] and s.fatal == []  # all still decrypted
    assert s.unexpected == 2 and s.pinned == 1
    assert s.line().endswith("; 2 sealed to keys outside the pinned 1")
    assert [f.split(":")[0] for f in s.flags] == ["unexpected-recipient"] * 2
    assert "(seq 3)" in s.flags[0] and "(seq 4)" in s.flags[1]
    assert all(f"also sealed to {fingerprint(ROGUE)}, outside" in f for f in s.flags)
    with pytest.raises(UnexpectedRecipients) as caught:
        s.raise_for_problems()
    assert caught.value.exit_code == VerificationError.exit_code == 8
    assert "2 report(s) are sealed to keys outside" in caught.value.message
    rows = _rows(out)
    assert [rows[q]["unexpected_recipients"] for q in "1234"] == ["", "", fingerprint(ROGUE),
                                                                  fingerprint(ROGUE)]
    assert load_recipients(out).pinned == (mine,)


def test_the_pin_is_remembered_per_directory(tmp_path: Path, drop: Drop,
                                             analyst: PrivateKey) -> None:
    mine = bytes(analyst.public_key)
    drop.submit({"what": "1"})
    first = drop.export(tmp_path / "b1.skb")
    out = tmp_path / "out"
    s1 = decrypt_batches(analyst, [first], out, recipients=[mine])
    assert s1.unexpected == 0 and s1.raise_for_problems() is None
    drop.recipients.append(ROGUE)
    drop.submit({"what": "2"})
    second = drop.export(tmp_path / "b2.skb", drop.reports[1:])
    s2 = decrypt_batches(analyst, [second], out)  # no --recipients this time
    assert s2.decrypted == 1 and s2.unexpected == 1 and s2.pinned == 1
    other = decrypt_batches(analyst, [second], tmp_path / "elsewhere")  # another dir: no pin
    assert other.unexpected == 0 and other.pinned is None
    assert any(n.startswith("recipients not pinned") and f"{fingerprint(ROGUE)} (1)" in n
               for n in other.notes)


def test_a_pin_set_later_flags_reports_decrypted_before(tmp_path: Path, drop: Drop,
                                                        analyst: PrivateKey) -> None:
    mine = bytes(analyst.public_key)
    path = _rogue_drop(drop).export(tmp_path / "b.skb")
    out = tmp_path / "out"
    s1 = decrypt_batches(analyst, [path], out)
    note = next(n for n in s1.notes if n.startswith("recipients not pinned"))
    assert f"{fingerprint(mine)} (4), {fingerprint(ROGUE)} (2)" in note
    s2 = decrypt_batches(analyst, [path], out, recipients=[mine])
    assert s2.skipped == 4 and s2.unexpected == 0
    assert any("2 report(s) in" in n for n in s2.notes)
    assert _rows(out)["3"]["unexpected_recipients"] == fingerprint(ROGUE)
    s3 = decrypt_batches(analyst, [path], out, recipients=[mine, ROGUE])  # the rogue accepted
    assert any(n.startswith("recipients pin of") for n in s3.notes)
    assert _rows(out)["3"]["unexpected_recipients"] == ""


def test_a_damaged_pin_file_is_an_output_error(tmp_path: Path, drop: Drop,
                                               analyst: PrivateKey) -> None:
    drop.submit()
    path = drop.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    decrypt_batches(analyst, [path], out)
    (out / PIN_FILE).write_text('{"format": "skrynka-recipients", "version": 1}')
    with pytest.raises(OutputError, match="damaged"):
        decrypt_batches(analyst, [path], out)


def test_an_attachment_sealed_to_another_key_flags_its_report(
    tmp_path: Path, drop: Drop, analyst: PrivateKey, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keys import envelope
    from tests.keys import helpers

    seal = envelope.seal_bytes

    def rogue_attachments(data: bytes, recipients: list[bytes], **kw: object) -> bytes:
        if kw["kind"] == envelope.KIND_ATTACHMENT:
            recipients = [*recipients, ROGUE]
        return seal(data, recipients, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(helpers.envelope, "seal_bytes", rogue_attachments)
    drop.submit({"what": "photo"}, attachments=[("a.jpg", b"jpeg")])
    monkeypatch.undo()
    drop.submit({"what": "text"})
    path = drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [path], tmp_path / "out", recipients=[bytes(analyst.public_key)])
    assert s.decrypted == 2 and s.unexpected == 1 and "(seq 1)" in s.flags[0]


def test_a_pin_without_the_decrypting_key_is_refused(tmp_path: Path, drop: Drop,
                                                     analyst: PrivateKey) -> None:
    from keys.errors import UsageError

    drop.submit()
    path = drop.export(tmp_path / "b.skb")
    with pytest.raises(UsageError, match=fingerprint(bytes(analyst.public_key))):
        decrypt_batches(analyst, [path], tmp_path / "out", recipients=[ROGUE])
    assert not (tmp_path / "out").exists()
