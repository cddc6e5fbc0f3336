"""Issue 14, part 3: announcements that cannot be replayed.

The reproduction: an old "A -> B" announcement still verified GOOD after a later rotation
to C, so whoever seized B could show voters the genuine old file. Now each signed body
carries a serial and an expiry, ``verify`` remembers the highest serial it has seen (per
verify key) and refuses older ones, expired ones and ones naming a revoked address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from onion import announce, rotation, seen, signkey, state
from onion.errors import AnnouncementError, AnnouncementRefused, StateError
from tests.onion.conftest import STRONG, Signing

ROOT = Path(__file__).resolve().parents[2]
TODAY = "2026-12-02"
LATER = "2999-01-01"


def _chain(data: Path, signing: Signing, count: int) -> list[tuple[str, str, str]]:
    """``count`` rotations A -> B -> C …, signed with serials 1, 2, …: (text, sig, new)."""
    state.ensure_services(data)
    out = []
    for serial in range(1, count + 1):
        path, new = rotation.rotate(data, 86400.0)
        text, sig = announce.sign(path.read_text(), signing.sk, serial, LATER)
        out.append((text, sig, new))
    return out


def _verify(text: str, sig: str, signing: Signing, memory: Path,
            today: str = TODAY) -> tuple[announce.Statement, str | None]:
    st = announce.verify(text, sig, signing.vk, today)
    return st, seen.check(memory, signing.vk, st)


def test_an_old_announcement_is_refused_after_a_later_rotation(signing: Signing,
                                                               tmp_path: Path) -> None:
    (a_to_b, sig1, b), (b_to_c, sig2, c) = _chain(tmp_path / "data", signing, 2)
    memory = tmp_path / "seen.json"
    assert _verify(a_to_b, sig1, signing, memory)[0].new == b     # serial 1: GOOD
    assert _verify(b_to_c, sig2, signing, memory)[0].new == c     # serial 2: GOOD
    # the seizer of B shows the genuine old file again: refused now
    with pytest.raises(AnnouncementRefused, match=r"REPLAYED: .*serial 1, but serial 2") as e:
        _verify(a_to_b, sig1, signing, memory)
    assert e.value.exit_code == 28 and b in (e.value.hint or "")
    assert _verify(b_to_c, sig2, signing, memory)[0].new == c     # the current one: still GOOD
    # the limit, documented in SECURITY.md: a verifier that never saw serial 2 accepts 1
    assert _verify(a_to_b, sig1, signing, tmp_path / "fresh.json")[0].new == b


def test_an_expired_announcement_is_refused(signing: Signing, tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    path, _ = rotation.rotate(tmp_path, 86400.0)
    text, sig = announce.sign(path.read_text(), signing.sk, 1, "2026-12-01")
    with pytest.raises(AnnouncementRefused, match="EXPIRED: .*expired on 2026-12-01; today "
                       "is 2026-12-02"):
        announce.verify(text, sig, signing.vk, TODAY)
    assert announce.verify(text, sig, signing.vk, "2026-12-01").serial == 1   # its last day


def test_a_revocation_is_signed_remembered_and_refuses_the_address(signing: Signing,
                                                                   tmp_path: Path) -> None:
    (a_to_b, sig1, b), (b_to_c, sig2, c) = _chain(tmp_path / "data", signing, 2)
    memory = tmp_path / "seen.json"
    _verify(a_to_b, sig1, signing, memory)
    rev_text, rev_sig = announce.sign(announce.Revocation(b, TODAY).body(), signing.sk, 3,
                                      LATER)
    rev, note = _verify(rev_text, rev_sig, signing, memory)
    assert isinstance(rev, announce.Revocation) and rev.address == b
    assert note and "named " + b in note and "stop using it" in note
    with pytest.raises(AnnouncementRefused, match=f"REVOKED: {b} was revoked as of {TODAY}"):
        _verify(a_to_b, sig1, signing, memory)
    # B -> C has a lower serial than the revocation but names C: still accepted
    assert _verify(b_to_c, sig2, signing, memory)[0].new == c
    # a later announcement back to the revoked address is refused too
    back = announce.Announcement(c, b, TODAY, TODAY).body()
    back_text, back_sig = announce.sign(back, signing.sk, 4, LATER)
    with pytest.raises(AnnouncementRefused, match="REVOKED"):
        _verify(back_text, back_sig, signing, memory)
    # replaying the revocation does no harm and is accepted; a forged one is not
    assert _verify(rev_text, rev_sig, signing, memory)[0] == rev
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        _verify(rev_text.replace("serial: 3", "serial: 30"), rev_sig, signing, memory)
    remembered = json.loads(memory.read_text())["keys"]
    assert list(remembered.values())[0]["revoked"] == {b: {"as_of": TODAY, "serial": 3}}


def test_two_bodies_with_one_serial_are_a_conflict(signing: Signing, tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    first = announce.sign(rotation.rotate(tmp_path, 1.0)[0].read_text(), signing.sk, 5, LATER)
    second = announce.sign(rotation.rotate(tmp_path, 1.0)[0].read_text(), signing.sk, 5, LATER)
    memory = tmp_path / "seen.json"
    _verify(*first, signing, memory)
    _verify(*first, signing, memory)                 # the same one again: fine
    with pytest.raises(AnnouncementRefused, match="CONFLICT"):
        _verify(*second, signing, memory)


def test_memory_is_per_verify_key_and_a_damaged_file_is_refused(signing: Signing,
                                                               tmp_path: Path) -> None:
    memory = tmp_path / "deep" / "seen.json"
    [(text, sig, _)] = _chain(tmp_path / "data", signing, 1)
    _verify(text, sig, signing, memory)
    assert memory.stat().st_mode & 0o777 == 0o600
    remembered = json.loads(memory.read_text())
    remembered["keys"]["c29tZW9uZSBlbHNl"] = {"serial": 99, "digest": "", "summary": "x",
                                              "revoked": {}}
    memory.write_text(json.dumps(remembered))
    _verify(text, sig, signing, memory)              # another key's 99 does not count
    remembered = json.loads(memory.read_text())
    for damaged in ({"serial": "99"}, []):
        memory.write_text(json.dumps(dict(remembered, keys={
            k: damaged for k in remembered["keys"]})))
        with pytest.raises(StateError, match="damaged"):
            _verify(text, sig, signing, memory)
    memory.write_text("{not json")
    with pytest.raises(StateError, match="cannot read"):
        _verify(text, sig, signing, memory)
    assert seen.default_path().parts[-2:] == ("skrynka", "announcements.json")


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_refuses_a_replay_with_exit_28(tmp_path: Path) -> None:
    data, key, memory = tmp_path / "data", str(tmp_path / "s.key"), str(tmp_path / "seen.json")
    (tmp_path / "pw").write_bytes(STRONG + b"\n")
    pw = str(tmp_path / "pw")
    made = onion("signing-keygen", "--out", key, "--passphrase-file", pw, "--kdf-memory-mib",
                 "64", "--kdf-passes", "1")
    assert made.returncode == 0, made.stderr
    state.ensure_services(data)
    files = []
    for serial in ("1", "2"):
        path, _ = rotation.rotate(data, 86400.0)
        res = onion("sign", "--key", key, "--passphrase-file", pw, str(path))
        assert res.returncode == 0 and f"(serial {serial}, expires " in res.stdout, res.stderr
        assert Path(f"{path}.sig").exists()
        files.append(str(path))
    for path in files:
        res = onion("verify", "--verify-key", key + ".pub", "--state", memory, path)
        assert res.returncode == 0 and res.stdout.startswith("GOOD SIGNATURE: "), res.stderr
    res = onion("verify", "--verify-key", key + ".pub", "--state", memory, files[0])
    assert res.returncode == 28 and res.stdout == ""
    assert res.stderr.startswith("onion: error: REPLAYED: this announcement has serial 1, "
                                 "but serial 2 (")
    assert "\nhint: do not use " in res.stderr
    Path(files[1] + ".sig").rename(tmp_path / "elsewhere.sig")
    res = onion("verify", "--verify-key", key + ".pub", "--state", memory, files[1])
    assert res.returncode == 24 and f"no signature file {files[1]}.sig" in res.stderr
    res = onion("verify", "--verify-key", key + ".pub", "--state", memory, "--signature",
                str(tmp_path / "elsewhere.sig"), files[1])
    assert res.returncode == 0, res.stderr
    low = onion("sign", "--key", key, "--passphrase-file", pw, "--serial", "2", files[0])
    assert low.returncode == 2 and "not above the last serial" in low.stderr
    rev = str(tmp_path / "rev.txt")
    address = Path(files[0]).read_text().split("new: ")[1].split("\n")[0]
    assert onion("revoke", address, "--out", rev).returncode == 0
    assert onion("sign", "--key", key, "--passphrase-file", pw, rev).returncode == 0
    res = onion("verify", "--verify-key", key + ".pub", "--state", memory, rev)
    assert res.returncode == 0 and res.stdout.startswith(f"GOOD SIGNATURE: REVOKED: {address}")
    assert "(serial 3)" in res.stdout
    assert Path(key + ".serial").read_text() == "3\n"
    # an expired one (signed by the library: sign never makes one that expires today)
    path, _ = rotation.rotate(data, 86400.0)
    sk = signkey.load_signing_key(Path(key), STRONG)
    text, sig = announce.sign(path.read_text(), sk, 9, "2020-01-01")
    path.write_text(text)
    Path(f"{path}.sig").write_text(sig)
    res = onion("verify", "--verify-key", key + ".pub", "--state", memory, str(path))
    assert res.returncode == 28 and "EXPIRED: " in res.stderr and "2020-01-01" in res.stderr
