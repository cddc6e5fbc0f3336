"""Signed announcements and revocations (format v2): sign offline, verify anywhere, and the
passphrase-protected signing key files."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from keys.errors import WeakPassphrase, WrongPassphrase
from onion import announce, rotation, signkey, sshsig, state
from onion.errors import AnnouncementError, OnionKeyError
from tests.onion.conftest import CHEAP, STRONG, Signing

TODAY = "2026-12-02"
LATER = "2999-01-01"


def _rotate(data: Path) -> tuple[str, str]:
    state.ensure_services(data)
    path, new = rotation.rotate(data, 14 * 86400.0)
    return path.read_text(), new


def test_sign_then_verify(signing: Signing, tmp_path: Path) -> None:
    text, new = _rotate(tmp_path)
    assert text.startswith("skrynka-onion-announcement v2\n") and "serial" not in text
    signed, sig = announce.sign(text, signing.sk, 7, LATER)
    ann = announce.verify(signed, sig, signing.vk, TODAY)
    assert isinstance(ann, announce.Announcement)
    assert (ann.new, ann.serial, ann.expires) == (new, 7, LATER)
    assert signed.splitlines()[1] == f"{ann.old} -> {new}, valid from {ann.valid_from}"
    assert signed.splitlines()[-2:] == ["serial: 7", f"expires: {LATER}"]
    assert sig.startswith("-----BEGIN SSH SIGNATURE-----\n")
    # the verify key may be given as text, as the .allowed_signers file, or as an ssh line
    for given in (signing.pub.read_text(), f"{signing.key}.allowed_signers",
                  sshsig.ssh_public_line(bytes(signing.sk.verify_key))):
        assert announce.verify(signed, sig, announce.load_verify_key(given), TODAY) == ann


def test_tampered_or_foreign_statements_are_rejected(signing: Signing, tmp_path: Path) -> None:
    text, _ = _rotate(tmp_path)
    signed, sig = announce.sign(text, signing.sk, 3, LATER)
    ann = announce.parse(signed)
    assert isinstance(ann, announce.Announcement)
    other = announce.Announcement(ann.old, state.new_service(tmp_path)[0].address,
                                  ann.valid_from, ann.old_until, 3, LATER)
    for forged in (other.body(), signed.replace(ann.old_until, "2999-01-01"),
                   signed.replace("serial: 3", "serial: 9"),
                   signed.replace(f"expires: {LATER}", "expires: 3999-01-01")):
        with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
            announce.verify(forged, sig, signing.vk, TODAY)
    with pytest.raises(AnnouncementError, match="summary line"):
        announce.verify(signed.replace(f"new: {ann.new}", f"new: {other.new}"), sig,
                        signing.vk, TODAY)
    with pytest.raises(AnnouncementError, match="not signed"):
        announce.verify(text, sig, signing.vk, TODAY)
    with pytest.raises(AnnouncementError, match="exact format"):
        announce.verify(signed[:-1], sig, signing.vk, TODAY)    # no final LF
    with pytest.raises(AnnouncementError, match="serial '0' is not a number from 1 up"):
        announce.verify(signed.replace("serial: 3", "serial: 0"), sig, signing.vk, TODAY)
    for sloppy in (signed.replace("\n", "\r\n"), signed.replace("serial: 3", "serial: 3 "),
                   signed.replace("serial: 3", "serial: 03")):
        with pytest.raises(AnnouncementError):
            announce.verify(sloppy, sig, signing.vk, TODAY)
    stranger = nacl.signing.SigningKey.generate()
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        announce.verify(signed, sig, stranger.verify_key, TODAY)
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):   # other key, same text
        announce.verify(signed, announce.sign(text, stranger, 3, LATER)[1], signing.vk, TODAY)
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):   # another namespace
        announce.verify(signed, sshsig.sign(signed.encode(), signing.sk, "file"), signing.vk,
                        TODAY)
    for garbage in ("", "hello\n", sig.replace("U1NIU0lH", "AAAAAAAA")):
        with pytest.raises(AnnouncementError):
            announce.verify(signed, garbage, signing.vk, TODAY)
    with pytest.raises(AnnouncementError):
        announce.verify("hello\n", sig, signing.vk, TODAY)


def test_a_v1_announcement_is_refused_as_replayable(signing: Signing, tmp_path: Path) -> None:
    text, _ = _rotate(tmp_path)
    v1 = text.replace("announcement v2", "announcement v1")
    with pytest.raises(AnnouncementError, match="format v1 .* no serial number and no expiry"):
        announce.verify(v1, "", signing.vk, TODAY)


def test_a_mistyped_address_is_an_announcement_error(tmp_path: Path) -> None:
    """A checksum that does not match is a format error of the announcement (its exit code),
    not a key file error."""
    text, new = _rotate(tmp_path)
    swapped = new[1] + new[0] + new[2:] if new[0] != new[1] else new[:55][::-1] + new[55:]
    with pytest.raises(AnnouncementError, match="checksum"):
        announce.parse(text.replace(new, swapped))


def test_revocation_format(signing: Signing, tmp_path: Path) -> None:
    _, new = _rotate(tmp_path)
    text = announce.Revocation(new, TODAY).body()
    assert text.splitlines()[:2] == ["skrynka-onion-revocation v2",
                                     f"{new} is revoked as of {TODAY}: do not use it"]
    signed, sig = announce.sign(text, signing.sk, 4, LATER)
    assert signed.splitlines()[-1] == "serial: 4" and "expires" not in signed
    rev = announce.verify(signed, sig, signing.vk, "3999-01-01")   # never expires
    assert rev == announce.Revocation(new, TODAY, 4)
    with pytest.raises(AnnouncementError, match="not a day"):
        announce.parse(text.replace(TODAY, "2026-13-01"))


def test_signing_key_is_sealed_private_and_not_overwritten(signing: Signing,
                                                           tmp_path: Path) -> None:
    assert signing.key.stat().st_mode & 0o777 == 0o600
    text = signing.key.read_text()
    assert "argon2id m=65536 t=1 p=1" in text and bytes(signing.sk).hex() not in text
    assert signing.pub.read_text().startswith("skrynka-verify-key-v1 ")
    assert Path(f"{signing.key}.allowed_signers").read_text().startswith(
        'skrynka namespaces="skrynka-announcement" ssh-ed25519 AAAA')
    with pytest.raises(WrongPassphrase):
        signkey.load_signing_key(signing.key, STRONG + b" ")
    with pytest.raises(OnionKeyError, match="refusing to overwrite"):
        signkey.signing_keygen(signing.key, STRONG, CHEAP)
    with pytest.raises(OnionKeyError, match="not a Skrynka verify key"):
        announce.load_verify_key("skrynka-verify-key-v1 AAAA")
    with pytest.raises(OnionKeyError, match="cannot create signing key"):
        signkey.signing_keygen(tmp_path / "no-such-dir" / "k", STRONG, CHEAP)
    (tmp_path / "binary.key").write_bytes(b"\xff\xfe")
    with pytest.raises(OnionKeyError, match="not a Skrynka signing key"):
        signkey.load_signing_key(tmp_path / "binary.key", STRONG)


def test_a_weak_signing_key_passphrase_is_refused(tmp_path: Path) -> None:
    for weak in (b"hunter2", b"aaaaaaaaaaaaaaaaaaaa", b"0123456789abcdefghij"):
        with pytest.raises(WeakPassphrase, match="too weak") as caught:
            signkey.signing_keygen(tmp_path / "s.key", weak, CHEAP)
        assert "diceware" in (caught.value.hint or "")
    assert not list(tmp_path.iterdir())


def test_an_old_unprotected_key_is_refused_then_sealed_with_the_same_verify_key(
        tmp_path: Path) -> None:
    import base64

    sk = nacl.signing.SigningKey.generate()
    old = tmp_path / "old.key"
    old.write_text(f"skrynka-signing-key-v1 {base64.b64encode(bytes(sk)).decode()}\n")
    with pytest.raises(OnionKeyError, match="unprotected") as caught:
        signkey.load_signing_key(old, STRONG)
    assert "--from-v1" in (caught.value.hint or "")
    vk = signkey.signing_keygen(tmp_path / "new.key", STRONG, CHEAP,
                                signkey.read_v1_seed(old))
    assert vk == announce.verify_key_line(bytes(sk.verify_key))
    assert bytes(signkey.load_signing_key(tmp_path / "new.key", STRONG)) == bytes(sk)


def test_serial_counter_beside_the_key(signing: Signing) -> None:
    assert signkey.next_serial(signing.key, None) == 1
    signkey.record_serial(signing.key, 5)
    assert signkey.next_serial(signing.key, None) == 6
    assert signkey.next_serial(signing.key, 9) == 9
    with pytest.raises(Exception, match="not above the last serial"):
        signkey.next_serial(signing.key, 5)
