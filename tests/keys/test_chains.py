"""Issue 18, analyst side: several backends' batches (each backend its own export key and
chain, Onionbalance) decrypted into one output directory (keys/origin.py, SPEC 6.3).

Each backend is a tests.keys.helpers.Drop with a signing key of its own; the batches are
made by the real keys.batch code, as app/ exports them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keys.decrypt import decrypt_batches
from keys.errors import OriginError, VerificationError
from keys.origin import Trust
from keys.signature import describe
from keys.state import STATE_FILE, load_state
from tests.keys.helpers import Drop, assert_report_dir, folders


def _key(drop: Drop) -> bytes:
    assert drop.signer is not None
    return bytes(drop.signer.verify_key)


@pytest.fixture
def two(analyst: PrivateKey) -> tuple[Drop, Drop]:
    """Two backends of one drop: own export key, own chain, same analysts."""
    return Drop([bytes(analyst.public_key)]), Drop([bytes(analyst.public_key)])


def _both(two: tuple[Drop, Drop]) -> Trust:
    a, b = two
    return Trust(signer=_key(a), signers=(_key(b),))


def _batches(tmp_path: Path, drop: Drop, name: str, *sizes: int) -> list[Path]:
    """Submit and export ``sizes`` reports per batch: name-1.skb, name-2.skb, …"""
    paths = []
    for i, n in enumerate(sizes, 1):
        new = [drop.submit({"what": f"{name} {len(drop.reports) + 1}"}) for _ in range(n)]
        paths.append(drop.export(tmp_path / f"{name}-{i}.skb", new))
    return paths


def test_two_backends_in_one_run_and_across_runs(tmp_path: Path, two: tuple[Drop, Drop],
                                                  analyst: PrivateKey) -> None:
    a, b = two
    a1, a2 = _batches(tmp_path, a, "a", 2, 1)
    b1, b2 = _batches(tmp_path, b, "b", 3, 2)
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [b1, a1], out, trust=_both(two))
    assert (s.decrypted, s.problems, s.fatal, s.new_chains) == (5, [], [], [])
    assert s.signers_pinned == [_key(a), _key(b)] and s.signer_pinned == _key(a)
    state = load_state(out)
    assert state.signers == [_key(a), _key(b)]
    assert state.owners == {a.chain_id: _key(a), b.chain_id: _key(b)}
    assert sorted(state.chains[a.chain_id].seen) == [1, 2]
    assert sorted(state.chains[b.chain_id].seen) == [1, 2, 3]
    starts = [n for n in s.notes if "this folder starts at seq 1" in n]
    assert len(starts) == 2 and any(describe(_key(b)) in n and b.chain_id.hex() in n
                                    for n in starts)
    s = decrypt_batches(analyst, [a2, b2], out)  # later runs: no flag at all
    assert (s.decrypted, s.problems, s.fatal, s.signers_pinned) == (3, [], [], [])
    for r in a.reports + b.reports:
        assert_report_dir(out, r)
    assert len(folders(out)) == 8
    s = decrypt_batches(analyst, [a1, a2, b1, b2], out, trust=_both(two))  # all again
    assert (s.decrypted, s.skipped, s.problems, s.fatal) == (0, 8, [], [])


def test_a_missing_batch_is_a_gap_of_its_chain_only(tmp_path: Path, two: tuple[Drop, Drop],
                                                    analyst: PrivateKey) -> None:
    a, b = two
    a1, _lost, a3 = _batches(tmp_path, a, "a", 2, 2, 1)
    b1, b2 = _batches(tmp_path, b, "b", 1, 1)
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [a1, a3, b1, b2], out, trust=_both(two))
    assert s.decrypted == 5 and not s.fatal and s.gaps == [(3, 4)]
    assert s.problems == [f"gap: export key {describe(_key(a))}: server {a.chain_id.hex()}: "
                          "reports seq 3-4 are in none of the batches seen"]
    with pytest.raises(VerificationError) as err:
        s.raise_for_problems()
    assert "export --again 3-4" in str(err.value.hint)
    assert "each on the server whose export key its gap names" in str(err.value.hint)


def test_a_forged_batch_by_a_third_key_is_refused_whole(
        tmp_path: Path, two: tuple[Drop, Drop], analyst: PrivateKey) -> None:
    a, b = two
    a1 = _batches(tmp_path, a, "a", 2)[0]
    b1 = _batches(tmp_path, b, "b", 1)[0]
    forger = Drop(a.recipients, chain_id=a.chain_id, links=dict(a.links),
                  reports=list(a.reports), signer=SigningKey.generate())
    forged = forger.export(tmp_path / "forged.skb", [forger.submit({"what": "forged"})])
    stranger = Drop(a.recipients, signer=SigningKey.generate())  # its own chain, too
    strange = stranger.export(tmp_path / "stranger.skb", [stranger.submit()])
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [a1, forged, b1, strange], out,
                        trust=Trust(signer=_key(a), signers=(_key(b),), new_chain=True))
    assert s.decrypted == 3 and s.problems == [] and len(s.fatal) == 2
    assert all(isinstance(e, OriginError) for e in s.fatal)
    assert "forged.skb: signed by" in s.fatal[0].message
    assert "not by any of its 2 export keys" in s.fatal[0].message
    assert "--add-signer" in str(s.fatal[0].hint)
    assert forger.reports[-1].id.hex() not in folders(out)
    assert stranger.chain_id not in load_state(out).chains
    assert set(load_state(out).chains[a.chain_id].seen) == {1, 2}


def test_a_chain_signed_by_the_other_pinned_key_is_refused(
        tmp_path: Path, two: tuple[Drop, Drop], analyst: PrivateKey) -> None:
    """A backend (or a thief of its key) cannot write into another backend's chain."""
    a, b = two
    a1 = _batches(tmp_path, a, "a", 1)[0]
    b1 = _batches(tmp_path, b, "b", 1)[0]
    out = tmp_path / "out"
    assert decrypt_batches(analyst, [a1, b1], out, trust=_both(two)).decrypted == 2
    intruder = Drop(a.recipients, chain_id=a.chain_id, links=dict(a.links),
                    reports=list(a.reports), signer=b.signer)
    into_a = intruder.export(tmp_path / "into-a.skb", [intruder.submit({"what": "by b"})])
    genuine = a.export(tmp_path / "a-2.skb", [a.submit({"what": "a 2"})])
    for flags in (Trust(), _both(two), Trust(new_chain=True)):
        s = decrypt_batches(analyst, [into_a], out, trust=flags)
        assert s.decrypted == 0 and len(s.fatal) == 1 and isinstance(s.fatal[0], OriginError)
        assert f"chain {a.chain_id.hex()} belongs to the export key {describe(_key(a))}" \
            in s.fatal[0].message and describe(_key(b)) in s.fatal[0].message
    assert 2 not in load_state(out).chains[a.chain_id].seen
    s = decrypt_batches(analyst, [genuine], out)
    assert (s.decrypted, s.problems, s.fatal) == (1, [], [])
    assert_report_dir(out, a.reports[1])


def test_a_new_chain_signed_by_both_keys_in_one_run_is_refused(
        tmp_path: Path, two: tuple[Drop, Drop], analyst: PrivateKey) -> None:
    a, b = two
    a1 = _batches(tmp_path, a, "a", 1)[0]
    copy = Drop(a.recipients, chain_id=a.chain_id, links=dict(a.links),
                reports=list(a.reports), signer=b.signer)
    b_on_a = copy.export(tmp_path / "b-on-a.skb", [copy.submit()])
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [a1, b_on_a], out, trust=_both(two))
    assert s.decrypted == 0 and len(s.fatal) == 2
    assert all("is signed by 2 different trusted keys" in e.message for e in s.fatal)
    assert load_state(out).owners == {}  # bound to neither
    s = decrypt_batches(analyst, [a1], out)  # alone: its key's first chain
    assert (s.decrypted, s.fatal) == (1, [])
    assert load_state(out).owners == {a.chain_id: _key(a)}


def test_each_key_s_first_chain_needs_no_flag_a_second_does(
        tmp_path: Path, two: tuple[Drop, Drop], analyst: PrivateKey) -> None:
    a, b = two
    a1 = _batches(tmp_path, a, "a", 1)[0]
    b1 = _batches(tmp_path, b, "b", 1)[0]
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [a1], out, trust=_both(two))  # b pinned, no chain yet
    assert (s.decrypted, s.fatal) == (1, [])
    s = decrypt_batches(analyst, [b1], out)
    assert (s.decrypted, s.fatal, s.new_chains) == (1, [], [])
    reinit = Drop(b.recipients, signer=b.signer)  # backend b's database re-initialised
    again = reinit.export(tmp_path / "reinit.skb", [reinit.submit()])
    s = decrypt_batches(analyst, [again], out)
    assert s.decrypted == 0 and "new server chain" in s.fatal[0].message
    assert f"another chain of the export key {describe(_key(b))}" in s.fatal[0].message
    s = decrypt_batches(analyst, [again], out, trust=Trust(new_chain=True))
    assert (s.decrypted, s.fatal, s.new_chains) == (1, [], [reinit.chain_id])
    assert load_state(out).owners[reinit.chain_id] == _key(b)


def test_a_new_backend_needs_add_signer(tmp_path: Path, two: tuple[Drop, Drop],
                                        analyst: PrivateKey) -> None:
    a, b = two
    a1 = _batches(tmp_path, a, "a", 1)[0]
    b1 = _batches(tmp_path, b, "b", 2)[0]
    out = tmp_path / "out"
    assert decrypt_batches(analyst, [a1], out, trust=Trust(signer=_key(a))).decrypted == 1
    s = decrypt_batches(analyst, [b1], out)
    assert s.decrypted == 0 and "not by the trusted export key" in s.fatal[0].message
    for flags in (_both(two), Trust(signer=_key(b))):  # --signer never adds a key
        with pytest.raises(OriginError, match="--signer names") as err:
            decrypt_batches(analyst, [b1], out, trust=flags)
        assert "--add-signer" in str(err.value.hint)
    assert load_state(out).signers == [_key(a)] and not folders(out).keys() - {
        a.reports[0].id.hex()}
    s = decrypt_batches(analyst, [b1], out, trust=Trust(add_signers=(_key(b),)))
    assert (s.decrypted, s.fatal, s.new_chains) == (2, [], [])  # b's first chain: no flag
    assert (s.signers_added, s.signers_pinned) == ([_key(b)], [])
    assert load_state(out).signers == [_key(a), _key(b)]
    s = decrypt_batches(analyst, [b1], out, trust=Trust(add_signers=(_key(b),)))
    assert s.signers_added == [] and s.skipped == 2  # pinned already: nothing added
    s = decrypt_batches(analyst, [a1, b1], out, trust=_both(two))  # now --signer both is fine
    assert (s.skipped, s.fatal) == (3, [])


def test_trust_first_signer_stays_one_key_only(tmp_path: Path, two: tuple[Drop, Drop],
                                               analyst: PrivateKey) -> None:
    a, b = two
    a1 = _batches(tmp_path, a, "a", 1)[0]
    b1 = _batches(tmp_path, b, "b", 1)[0]
    with pytest.raises(OriginError, match="signed by 2 different keys"):
        decrypt_batches(analyst, [a1, b1], tmp_path / "out", trust=Trust(trust_first=True))
    assert load_state(tmp_path / "out").signers == []


def test_a_version_1_state_file_is_migrated(tmp_path: Path, two: tuple[Drop, Drop],
                                            analyst: PrivateKey) -> None:
    """A directory written by the single-signer version: its key owns its chain."""
    a, b = two
    a1, a2 = _batches(tmp_path, a, "a", 2, 1)
    out = tmp_path / "out"
    out.mkdir()
    reports = [[r.seq, r.id.hex(), hashlib.sha256(r.envelope).hexdigest(),
                r.chain.hex()] for r in a.reports[:2]]
    old = {"format": "skrynka-analyst-state", "version": 1, "signer": _key(a).hex(),
           "chains": {a.chain_id.hex(): {"last": {"seq": 2, "chain": a.links[2].hex()},
                                         "reports": reports}}}
    (out / STATE_FILE).write_text(json.dumps(old, separators=(",", ":")) + "\n")
    state = load_state(out)
    assert (state.signers, state.signer) == ([_key(a)], _key(a))
    assert state.owners == {a.chain_id: _key(a)} and sorted(state.chains[a.chain_id].seen) \
        == [1, 2]
    b1 = _batches(tmp_path, b, "b", 1)[0]
    s = decrypt_batches(analyst, [a2, b1], out, trust=Trust(add_signers=(_key(b),)))
    assert (s.decrypted, s.problems, s.fatal) == (2, [], [])  # seq 3 continues the old ones
    written = json.loads((out / STATE_FILE).read_text())
    assert written["version"] == 2 and "signer" not in written
    assert written["signers"] == [_key(a).hex(), _key(b).hex()]
    assert written["owners"] == {a.chain_id.hex(): _key(a).hex(), b.chain_id.hex(): _key(b).hex()}
    unpinned = {**old, "chains": {}}
    del unpinned["signer"]
    (out / STATE_FILE).write_text(json.dumps(unpinned))
    assert (load_state(out).signers, load_state(out).owners) == ([], {})
