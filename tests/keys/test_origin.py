"""Issue 14, part 1: batches with an origin. Each attack of the issue, reproduced.

Before version 2 anyone holding an analyst's public key could build a batch that
``keys decrypt`` accepted with "0 problems" (the manifest hash and the chain are
unkeyed). Each test below builds the attack with the real keys library and shows
what happens now.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keys.decrypt import decrypt_batches
from keys.errors import DamagedError, OriginError, OutputError, VerificationError
from keys.origin import Trust
from keys.state import load_state
from tests.keys.helpers import Drop, assert_report_dir, folders


def _forger_continuing(real: Drop, signer: SigningKey | None) -> Drop:
    """A forger who saw a real batch (its chain_id, links) and has the analysts' public keys."""
    return Drop(real.recipients, chain_id=real.chain_id, links=dict(real.links),
                reports=list(real.reports), signer=signer)


def _pinned(real: Drop, analyst: PrivateKey, tmp_path: Path, n: int = 2) -> Path:
    for i in range(n):
        real.submit({"what": f"genuine {i + 1}"})
    real.export(tmp_path / "b1.skb")
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [tmp_path / "b1.skb"], out,
                        trust=Trust(signer=bytes(real.signer.verify_key)))  # type: ignore[union-attr]
    assert (s.decrypted, s.problems, s.fatal) == (n, [], [])
    return out


def test_forged_continuation_is_refused_and_the_genuine_one_accepted(
        tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    """Was: accepted with 0 problems; the genuine seq 3 later rejected as "altered"."""
    out = _pinned(drop, analyst, tmp_path)
    forger = _forger_continuing(drop, SigningKey.generate())
    fake = forger.submit({"what": "forged: nothing happened here"})
    forger.export(tmp_path / "forged.skb", [fake])
    for flags in (Trust(), Trust(trust_first=True), Trust(allow_unsigned=True)):
        s = decrypt_batches(analyst, [tmp_path / "forged.skb"], out, trust=flags)
        assert s.decrypted == 0 and s.problems == [] and len(s.fatal) == 1
        assert isinstance(s.fatal[0], OriginError) and s.fatal[0].exit_code == 30
        assert "not by the trusted export key" in s.fatal[0].message
        with pytest.raises(OriginError):
            s.raise_for_problems()
    assert fake.id.hex() not in folders(out)
    assert 3 not in load_state(out).chains[drop.chain_id].seen
    genuine = drop.submit({"what": "genuine 3"})
    drop.export(tmp_path / "b2.skb", [genuine])
    s = decrypt_batches(analyst, [tmp_path / "b2.skb"], out)
    assert (s.decrypted, s.problems, s.fatal) == (1, [], [])
    assert_report_dir(out, genuine)


def test_forger_claiming_the_real_signer_fails_the_signature(
        tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    out = _pinned(drop, analyst, tmp_path)
    forger = _forger_continuing(drop, SigningKey.generate())
    forger.export(tmp_path / "forged.skb", [forger.submit({"what": "forged"})])
    data = bytearray((tmp_path / "forged.skb").read_bytes())
    at = 13 + int.from_bytes(data[9:13], "big") + 32
    data[at:at + 32] = bytes(drop.signer.verify_key)  # type: ignore[union-attr]
    (tmp_path / "forged.skb").write_bytes(bytes(data))
    with pytest.raises(DamagedError, match="signature does not verify"):
        decrypt_batches(analyst, [tmp_path / "forged.skb"], out)


def test_forged_new_chain_is_refused(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    """Was: a new chain_id accepted silently (a re-initialised or compromised server drops
    every unexported report with no alarm)."""
    out = _pinned(drop, analyst, tmp_path)
    stranger = Drop(drop.recipients, signer=SigningKey.generate())
    stranger.submit({"what": "from a new server"})
    stranger.export(tmp_path / "stranger.skb")
    s = decrypt_batches(analyst, [tmp_path / "stranger.skb"], out,
                        trust=Trust(new_chain=True))
    assert s.decrypted == 0 and isinstance(s.fatal[0], OriginError)  # other signer
    reinit = Drop(drop.recipients, signer=drop.signer)  # same key, database re-initialised
    reinit.submit({"what": "after re-init"})
    reinit.export(tmp_path / "reinit.skb")
    s = decrypt_batches(analyst, [tmp_path / "reinit.skb"], out)
    assert s.decrypted == 0 and len(s.fatal) == 1 and isinstance(s.fatal[0], OriginError)
    assert "new server chain" in s.fatal[0].message and "--new-chain" in str(s.fatal[0].hint)
    s = decrypt_batches(analyst, [tmp_path / "reinit.skb"], out, trust=Trust(new_chain=True))
    assert (s.decrypted, s.problems, s.fatal) == (1, [], [])
    assert s.new_chains == [reinit.chain_id]


def test_version_1_downgrade_is_refused(tmp_path: Path, drop: Drop,
                                        analyst: PrivateKey) -> None:
    """A forger writes version 1 (no signature) to dodge the check."""
    out = _pinned(drop, analyst, tmp_path)
    forger = _forger_continuing(drop, None)
    forger.export(tmp_path / "v1.skb", [forger.submit({"what": "unsigned forgery"})])
    assert (tmp_path / "v1.skb").read_bytes()[8] == 1
    for flags in (Trust(), Trust(allow_unsigned=True)):
        s = decrypt_batches(analyst, [tmp_path / "v1.skb"], out, trust=flags)
        assert s.decrypted == 0 and isinstance(s.fatal[0], OriginError)
        assert "unsigned (version 1)" in s.fatal[0].message
    fresh = tmp_path / "fresh"  # no signer pinned: only with --allow-unsigned
    s = decrypt_batches(analyst, [tmp_path / "v1.skb"], fresh)
    assert s.decrypted == 0 and isinstance(s.fatal[0], OriginError)
    assert "--allow-unsigned" in str(s.fatal[0].hint)
    s = decrypt_batches(analyst, [tmp_path / "v1.skb"], fresh, trust=Trust(allow_unsigned=True))
    assert s.decrypted == 1 and not s.fatal


def test_seq_conflict_keeps_both_versions(tmp_path: Path, drop: Drop,
                                          analyst: PrivateKey) -> None:
    """Was: the second version of a seq rejected as "altered" and dropped. Now (even when
    the trusted key signed both, i.e. the server itself was compromised) both are kept
    under DIR/quarantine/ and named."""
    out = _pinned(drop, analyst, tmp_path, n=1)
    recorded = drop.reports[0]
    twin = Drop(drop.recipients, chain_id=drop.chain_id, signer=drop.signer)
    other = twin.submit({"what": "another seq 1"}, attachments=[("p.jpg", b"photo")])
    twin.export(tmp_path / "twin.skb")
    s = decrypt_batches(analyst, [tmp_path / "twin.skb"], out)
    assert (s.decrypted, s.quarantined, len(s.problems)) == (0, 1, 1)
    folder = out / "quarantine" / drop.chain_id.hex() / "1"
    assert s.problems[0].startswith(f"conflict: server {drop.chain_id.hex()} seq 1: report "
                                    f"{other.id.hex()}")
    assert recorded.id.hex() in s.problems[0] and str(folder) in s.problems[0]
    assert "; 1 kept in quarantine" in s.line()
    with pytest.raises(VerificationError):
        s.raise_for_problems()
    [new] = folder.glob("new-*/")
    assert json.loads((new / "report.json").read_text()) == other.report
    assert (new / "p.jpg").read_bytes() == b"photo"
    assert json.loads((folder / "recorded" / "report.json").read_text()) == recorded.report
    assert json.loads((folder / "recorded.json").read_text())["report_id"] == recorded.id.hex()
    described = json.loads((folder / f"{new.name}.json").read_text())
    assert (described["report_id"], described["batch"]) == (other.id.hex(), "twin.skb")
    assert described["signer"] == bytes(drop.signer.verify_key).hex()  # type: ignore[union-attr]
    assert_report_dir(out, recorded)  # the recorded one stays where it was, and in the state
    assert load_state(out).chains[drop.chain_id].seen[1].report_id == recorded.id
    again = decrypt_batches(analyst, [tmp_path / "twin.skb"], out)
    assert again.quarantined == 0 and len(list(folder.glob("new-*/"))) == 1  # not twice


def test_explicit_signer_contradicting_the_pinned_one(tmp_path: Path, drop: Drop,
                                                      analyst: PrivateKey) -> None:
    out = _pinned(drop, analyst, tmp_path)
    other = bytes(SigningKey.generate().verify_key)
    with pytest.raises(OriginError, match="trusts the export key"):
        decrypt_batches(analyst, [tmp_path / "b1.skb"], out, trust=Trust(signer=other))


def test_trust_first_signer_pins_and_persists(tmp_path: Path, drop: Drop,
                                              analyst: PrivateKey) -> None:
    drop.submit()
    drop.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], out)
    assert s.decrypted == 0 and "trusts no export key yet" in s.fatal[0].message
    assert load_state(out).signer is None
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], out, trust=Trust(trust_first=True))
    assert s.decrypted == 1 and s.signer_pinned == bytes(drop.signer.verify_key)  # type: ignore[union-attr]
    assert load_state(out).signer == s.signer_pinned
    again = decrypt_batches(analyst, [tmp_path / "b.skb"], out, trust=Trust(trust_first=True))
    assert again.signer_pinned is None and again.skipped == 1


def test_quarantine_never_writes_through_a_link(tmp_path: Path, drop: Drop,
                                                analyst: PrivateKey) -> None:
    out = _pinned(drop, analyst, tmp_path, n=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "quarantine").symlink_to(elsewhere)
    twin = Drop(drop.recipients, chain_id=drop.chain_id, signer=drop.signer)
    twin.submit({"what": "another seq 1"})
    twin.export(tmp_path / "twin.skb")
    with pytest.raises(OutputError, match="symbolic link"):
        decrypt_batches(analyst, [tmp_path / "twin.skb"], out)
    assert not any(elsewhere.iterdir())


def test_upgrade_from_unsigned_keeps_the_chain(tmp_path: Path, analyst: PrivateKey) -> None:
    """A directory that decrypted an old server's version 1 batches pins the upgraded
    server's key with --signer and goes on with the same chain (no --new-chain)."""
    server = Drop([bytes(analyst.public_key)], signer=None)
    server.submit({"what": "before the upgrade"})
    server.export(tmp_path / "old.skb")
    out = tmp_path / "out"
    s = decrypt_batches(analyst, [tmp_path / "old.skb"], out, trust=Trust(allow_unsigned=True))
    assert (s.decrypted, s.fatal) == (1, [])
    server.signer = SigningKey.generate()  # app init after the upgrade makes export.key
    new = server.submit({"what": "after the upgrade"})
    server.export(tmp_path / "new.skb", [new])
    s = decrypt_batches(analyst, [tmp_path / "new.skb"], out,
                        trust=Trust(signer=bytes(server.signer.verify_key)))
    assert (s.decrypted, s.problems, s.fatal) == (1, [], [])
    s = decrypt_batches(analyst, [tmp_path / "old.skb"], out, trust=Trust(allow_unsigned=True))
    assert isinstance(s.fatal[0], OriginError)  # unsigned, now that a key is pinned
