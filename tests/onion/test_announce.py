"""Signed announcements (sign offline, verify anywhere) and the signing key files."""

from __future__ import annotations

from pathlib import Path

import pytest

from onion import announce, rotation, state
from onion.errors import AnnouncementError, OnionKeyError


@pytest.fixture
def signing(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "signing.key"
    announce.signing_keygen(key, tmp_path / "signing.key.pub")
    return key, tmp_path / "signing.key.pub"


def test_sign_then_verify(signing: tuple[Path, Path], tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    path, new = rotation.rotate(tmp_path, 14 * 86400.0)
    signed = announce.sign(path.read_text(), announce.load_signing_key(signing[0]))
    ann = announce.verify(signed, announce.load_verify_key(str(signing[1])))
    assert ann.new == new
    assert signed.splitlines()[1] == f"{ann.old} -> {new}, valid from {ann.valid_from}"
    # the verify key may be given as text too
    assert announce.verify(signed, announce.load_verify_key(signing[1].read_text())).new == new


def test_tampered_or_foreign_announcements_are_rejected(signing: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    path, _ = rotation.rotate(tmp_path, 86400.0)
    sk = announce.load_signing_key(signing[0])
    vk = announce.load_verify_key(str(signing[1]))
    signed = announce.sign(path.read_text(), sk)
    ann, _ = announce.parse(signed)
    other = announce.Announcement(ann.old, state.new_service(tmp_path)[0].address,
                                  ann.valid_from, ann.old_until)
    forged = other.body() + signed.splitlines()[-1] + "\n"
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        announce.verify(forged, vk)
    later = signed.replace(ann.old_until, "2999-01-01")
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        announce.verify(later, vk)
    with pytest.raises(AnnouncementError, match="summary line"):
        announce.verify(signed.replace(f"new: {ann.new}", f"new: {other.new}"), vk)
    with pytest.raises(AnnouncementError, match="not signed"):
        announce.verify(path.read_text(), vk)
    announce.signing_keygen(tmp_path / "other.key", tmp_path / "other.pub")
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        announce.verify(signed, announce.load_verify_key(str(tmp_path / "other.pub")))
    with pytest.raises(AnnouncementError):
        announce.verify("hello\n", vk)


def test_a_mistyped_address_is_an_announcement_error(signing: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    """A checksum that does not match is a format error of the announcement (its exit code),
    not a key file error."""
    state.ensure_services(tmp_path)
    path, new = rotation.rotate(tmp_path, 86400.0)
    swapped = new[1] + new[0] + new[2:] if new[0] != new[1] else new[:55][::-1] + new[55:]
    with pytest.raises(AnnouncementError, match="checksum"):
        announce.parse(path.read_text().replace(new, swapped))


def test_signing_key_is_private_and_not_overwritten(signing: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    assert signing[0].stat().st_mode & 0o777 == 0o600
    with pytest.raises(OnionKeyError, match="refusing to overwrite"):
        announce.signing_keygen(signing[0], signing[1])
    with pytest.raises(OnionKeyError, match="not a Skrynka verify key"):
        announce.load_verify_key("skrynka-verify-key-v1 AAAA")
    with pytest.raises(OnionKeyError, match="cannot create signing key"):
        announce.signing_keygen(tmp_path / "no-such-dir" / "k", tmp_path / "k.pub")
    (tmp_path / "binary.key").write_bytes(b"\xff\xfe")
    with pytest.raises(OnionKeyError, match="not a Skrynka signing key"):
        announce.load_signing_key(tmp_path / "binary.key")
