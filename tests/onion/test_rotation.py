"""Rotation state and signed announcements (sign offline, verify anywhere)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from onion import rotation, state
from onion.errors import AnnouncementError, KeyError_

ROOT = Path(__file__).resolve().parents[2]


def onion(*args: str, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--data", str(data)] if data else []
    return subprocess.run([sys.executable, "-m", "onion", *extra, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def signing(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "signing.key"
    rotation.signing_keygen(key, tmp_path / "signing.key.pub")
    return key, tmp_path / "signing.key.pub"


def test_rotate_keeps_old_for_grace_then_retires_it(tmp_path: Path) -> None:
    old = state.ensure_services(tmp_path)[0]
    path, new = rotation.rotate(tmp_path, 100.0, now=1_000_000.0)
    services = state.load_services(tmp_path)
    assert [s.address for s in services] == [old.address, new]
    assert services[0].retire_at(0) == 1_000_100.0 and services[1].superseded_at is None
    ann, sig = rotation.parse(path.read_text())
    assert (ann.old, ann.new, ann.valid_from) == (old.address, new, "1970-01-12")
    assert sig is None
    assert state.retire_due(tmp_path, 0, now=1_000_099.0) == []
    assert [s.address for s in state.retire_due(tmp_path, 0, now=1_000_100.0)] == [old.address]
    assert [s.address for s in state.load_services(tmp_path)] == [new]
    assert not (tmp_path / "onion" / old.key).exists()


def test_sign_then_verify(signing: tuple[Path, Path], tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    path, new = rotation.rotate(tmp_path, 14 * 86400.0)
    signed = rotation.sign(path.read_text(), rotation.load_signing_key(signing[0]))
    ann = rotation.verify(signed, rotation.load_verify_key(str(signing[1])))
    assert ann.new == new
    assert signed.splitlines()[1] == f"{ann.old} -> {new}, valid from {ann.valid_from}"
    # the verify key may be given as text too
    assert rotation.verify(signed, rotation.load_verify_key(signing[1].read_text())).new == new


def test_tampered_or_foreign_announcements_are_rejected(signing: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    state.ensure_services(tmp_path)
    path, _ = rotation.rotate(tmp_path, 86400.0)
    sk = rotation.load_signing_key(signing[0])
    vk = rotation.load_verify_key(str(signing[1]))
    signed = rotation.sign(path.read_text(), sk)
    ann, _ = rotation.parse(signed)
    other = rotation.Announcement(ann.old, state.new_service(tmp_path)[0].address,
                                  ann.valid_from, ann.old_until)
    forged = other.body() + signed.splitlines()[-1] + "\n"
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        rotation.verify(forged, vk)
    later = signed.replace(ann.old_until, "2999-01-01")
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        rotation.verify(later, vk)
    with pytest.raises(AnnouncementError, match="summary line"):
        rotation.verify(signed.replace(f"new: {ann.new}", f"new: {other.new}"), vk)
    with pytest.raises(AnnouncementError, match="not signed"):
        rotation.verify(path.read_text(), vk)
    rotation.signing_keygen(tmp_path / "other.key", tmp_path / "other.pub")
    with pytest.raises(AnnouncementError, match="BAD SIGNATURE"):
        rotation.verify(signed, rotation.load_verify_key(str(tmp_path / "other.pub")))
    with pytest.raises(AnnouncementError):
        rotation.verify("hello\n", vk)


def test_signing_key_is_private_and_not_overwritten(signing: tuple[Path, Path]) -> None:
    assert signing[0].stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyError_, match="refusing to overwrite"):
        rotation.signing_keygen(signing[0], signing[1])
    with pytest.raises(KeyError_, match="not a Skrynka verify key"):
        rotation.load_verify_key("skrynka-verify-key-v1 AAAA")


def test_cli_sign_verify_and_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = onion("rotate", data=data)
    assert res.returncode == 6 and "no onion address to rotate" in res.stderr
    state.ensure_services(data)
    res = onion("rotate", "--grace-days", "2", data=data)
    assert res.returncode == 0, res.stderr
    ann = next(line.split(": ", 2)[2] for line in res.stdout.splitlines()
               if "announcement: " in line)
    assert onion("signing-keygen", "--out", str(tmp_path / "s.key")).returncode == 0
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), ann)
    assert res.returncode == 8 and "not signed" in res.stderr
    assert onion("sign", "--key", str(tmp_path / "s.key"), ann).returncode == 0
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), ann)
    assert res.returncode == 0 and res.stdout.startswith("GOOD SIGNATURE"), res.stderr
    Path(ann).write_text(Path(ann).read_text().replace("old-until: ", "old-until: 1"))
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), ann)
    assert res.returncode == 8 and res.stderr.startswith("onion: error: ")


def test_client_auth_file(tmp_path: Path) -> None:
    from onion.cli import read_client_auth
    from onion.errors import UsageError

    good = "A" * 52
    path = tmp_path / "staff.keys"
    path.write_text(f"# staff\n{good}\ndescriptor:x25519:{'b' * 52}  # lower case is fine\n")
    assert read_client_auth(str(path)) == (good, "B" * 52)
    path.write_text("short\n")
    with pytest.raises(UsageError, match="not a base32 x25519 public key"):
        read_client_auth(str(path))
    path.write_text("# nobody\n")
    with pytest.raises(UsageError, match="holds no client keys"):
        read_client_auth(str(path))
