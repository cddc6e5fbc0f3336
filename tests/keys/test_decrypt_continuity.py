"""keys.decrypt: continuity of a server's chain: gaps within and between batches, and
links that differ from the ones seen before."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import batch
from keys.errors import VerificationError
from tests.keys.helpers import Drop, decrypt_batches


def test_hole_inside_one_batch(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(5):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b.skb", [drop.reports[0], drop.reports[1], drop.reports[4]])
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 3
    assert s.problems == [f"gap: server {drop.chain_id.hex()}: reports seq 3-4 are in none of "
                          "the batches seen"]


def test_gap_before_batch_prev(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(4):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b1.skb", drop.reports[:1])
    drop.export(tmp_path / "b2.skb", drop.reports[2:])
    s = decrypt_batches(analyst, [tmp_path / "b2.skb", tmp_path / "b1.skb"], tmp_path / "out")
    assert s.decrypted == 3 and len(s.problems) == 1 and "seq 2 are" in s.problems[0]


def test_leading_gap_after_prev(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(4):
        drop.submit({"what": str(i)})
    # a batch that says it follows seq 1 but starts at seq 3: seq 2 is missing
    with open(tmp_path / "lead.skb", "wb") as out:
        batch.write_batch(out, batch_id=bytes(16), chain_id=drop.chain_id,
                          created_day="2026-11-21", prev_seq=1, prev_chain=drop.links[1],
                          reports=drop.entries(drop.reports[2:]), signing_key=drop.signer)
    s = decrypt_batches(analyst, [tmp_path / "lead.skb"], tmp_path / "out")
    assert s.decrypted == 2
    assert s.problems == [f"gap: server {drop.chain_id.hex()}: reports seq 2 are in none of "
                          "the batches seen"]
    drop.export(tmp_path / "b.skb", drop.reports[2:])  # prev.seq 2: an analyst's first batch
    assert decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out2").problems == []


def test_rewritten_chain_link_flagged(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(3):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b1.skb", drop.reports[:2])
    decrypt_batches(analyst, [tmp_path / "b1.skb"], tmp_path / "out")
    drop.links[2] = bytes(32)  # the next batch claims another link for seq 2
    drop.export(tmp_path / "b2.skb", drop.reports[2:])
    s = decrypt_batches(analyst, [tmp_path / "b2.skb"], tmp_path / "out")
    assert any(p.startswith("forked:") and "seq 2" in p for p in s.problems)


def test_a_fresh_folder_says_where_it_starts(tmp_path: Path, drop: Drop,
                                             analyst: PrivateKey) -> None:
    """Issue 14, part 6: which seq a fresh folder starts from; what came before is
    "not seen here", not a gap; the next run into it says nothing of the start."""
    for i in range(6):
        drop.submit({"what": str(i)})
    late = drop.export(tmp_path / "late.skb", drop.reports[3:5])  # prev.seq 3
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [late], out)
    chain = drop.chain_id.hex()
    assert s.notes[0] == f"server {chain}: this folder starts at seq 4; seq 1-3 not seen here"
    assert s.problems == []
    nxt = drop.export(tmp_path / "next.skb", drop.reports[5:])
    s2 = decrypt_batches(analyst, [nxt], out)
    assert not any("starts at" in n for n in s2.notes) and s2.problems == []
    first = drop.export(tmp_path / "first.skb", drop.reports[:1])
    s3 = decrypt_batches(analyst, [first], tmp_path / "fresh")
    assert s3.notes[0] == f"server {chain}: this folder starts at seq 1"
    second = drop.export(tmp_path / "second.skb", drop.reports[1:3])
    s4 = decrypt_batches(analyst, [second], tmp_path / "other")
    assert s4.notes[0] == f"server {chain}: this folder starts at seq 2; seq 1 not seen here"


def test_the_gap_hint_names_the_re_export(tmp_path: Path, drop: Drop,
                                          analyst: PrivateKey) -> None:
    for i in range(6):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b1.skb", drop.reports[:2])
    drop.export(tmp_path / "b3.skb", drop.reports[4:])
    s = decrypt_batches(analyst, [tmp_path / "b1.skb", tmp_path / "b3.skb"], tmp_path / "out")
    assert s.gaps == [(3, 4)]
    with pytest.raises(VerificationError) as caught:
        s.raise_for_problems()
    assert caught.value.hint is not None
    assert "`python -m app export --again 3-4 --out FILE`" in caught.value.hint


def test_messages_say_what_happened_to_the_reports(tmp_path: Path, drop: Drop,
                                                   analyst: PrivateKey) -> None:
    """Issue 14.5: "the reports named above were not kept" was said of gaps (never in a
    batch) and forks (kept) too."""
    import pytest

    from keys.errors import VerificationError

    for i in range(4):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b.skb", [drop.reports[0], drop.reports[3]])
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    with pytest.raises(VerificationError) as caught:
        s.raise_for_problems()
    assert caught.value.message == ("1 problem(s) found: 1 range(s) of reports are missing "
                                    "from every batch")
    drop.reports[1].envelope = drop.reports[2].envelope  # altered: not kept
    drop.export(tmp_path / "c.skb", drop.reports[1:3])
    s = decrypt_batches(analyst, [tmp_path / "c.skb"], tmp_path / "out")
    with pytest.raises(VerificationError) as caught:
        s.raise_for_problems()
    assert caught.value.message.startswith("1 problem(s) found: 1 report(s) named above were "
                                           "not kept"), caught.value.message


def test_a_huge_gap_is_named_not_listed(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    """A hostile prev.seq of 2^63 - 1: the gap is one range (it once built a set of every
    missing seq: hours and all the memory)."""
    drop.submit({"what": "1"})
    drop.export(tmp_path / "b1.skb")
    with open(tmp_path / "far.skb", "wb") as out:
        batch.write_batch(out, batch_id=bytes(16), chain_id=drop.chain_id,
                          created_day="2026-11-21", prev_seq=2**63 - 1, prev_chain=bytes(32),
                          reports=[], signing_key=drop.signer)
    s = decrypt_batches(analyst, [tmp_path / "b1.skb", tmp_path / "far.skb"], tmp_path / "out")
    assert s.decrypted == 1
    assert s.problems == [f"gap: server {drop.chain_id.hex()}: reports seq 2-{2**63 - 1} are in "
                          "none of the batches seen"]
