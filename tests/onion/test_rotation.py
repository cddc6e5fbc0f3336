"""Rotation state, and the rotate/sign/verify commands with their exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from onion import announce, rotation, state

ROOT = Path(__file__).resolve().parents[2]


def onion(*args: str, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--data", str(data)] if data else []
    return subprocess.run([sys.executable, "-m", "onion", *extra, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_rotate_keeps_old_for_grace_then_retires_it(tmp_path: Path) -> None:
    old = state.ensure_services(tmp_path)[0]
    path, new = rotation.rotate(tmp_path, 100.0, now=1_000_000.0)
    services = state.load_services(tmp_path)
    assert [s.address for s in services] == [old.address, new]
    assert services[0].retire_at(0) == 1_000_100.0 and services[1].superseded_at is None
    ann = announce.parse(path.read_text())
    assert isinstance(ann, announce.Announcement)
    assert (ann.old, ann.new, ann.valid_from) == (old.address, new, "1970-01-12")
    assert ann.serial == 0       # unsigned: sign adds the serial and the expiry
    assert state.retire_due(tmp_path, 0, now=1_000_099.0) == []
    assert [s.address for s in state.retire_due(tmp_path, 0, now=1_000_100.0)] == [old.address]
    assert [s.address for s in state.load_services(tmp_path)] == [new]
    assert not (tmp_path / "onion" / old.key).exists()


def test_cli_sign_verify_and_exit_codes(tmp_path: Path, skrynka_data: Path) -> None:
    data = skrynka_data                       # made by app init; serve has never run there
    res = onion("rotate", data=data)
    assert res.returncode == 23 and "no onion address to rotate" in res.stderr
    state.ensure_services(data)
    res = onion("rotate", "--grace-days", "2", data=data)
    assert res.returncode == 0, res.stderr
    ann = next(line.split(": ", 2)[2] for line in res.stdout.splitlines()
               if "announcement: " in line)
    pw = tmp_path / "pw"
    pw.write_text("ember quarry lantern velvet oboe\n")
    keygen = ("signing-keygen", "--out", str(tmp_path / "s.key"), "--passphrase-file", str(pw),
              "--kdf-memory-mib", "64", "--kdf-passes", "1")
    assert onion(*keygen).returncode == 0
    seen = ("--state", str(tmp_path / "seen.json"))
    Path(ann + ".sig").write_text("")
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), *seen, ann)
    assert res.returncode == 24 and "not signed" in res.stderr
    res = onion("sign", "--key", str(tmp_path / "s.key"), "--passphrase-file", str(pw), ann)
    assert res.returncode == 0, res.stderr
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), *seen, ann)
    assert res.returncode == 0 and res.stdout.startswith("GOOD SIGNATURE"), res.stderr
    (tmp_path / "wrong").write_text("wrong passphrase, long enough\n")
    res = onion("sign", "--key", str(tmp_path / "s.key"), "--passphrase-file",
                str(tmp_path / "wrong"), ann)
    assert res.returncode == 7 and "wrong passphrase" in res.stderr
    Path(ann).write_text(Path(ann).read_text().replace("old-until: ", "old-until: 1"))
    res = onion("verify", "--verify-key", str(tmp_path / "s.key.pub"), *seen, ann)
    assert res.returncode == 24 and res.stderr.startswith("onion: error: ")


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


def test_hostnames_file_marks_the_old_address_with_the_new_one_and_its_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the app shows on the old address during the grace period (app/addresses.py);
    the Host check (app/hosts.py) still reads both names."""
    from app.addresses import Moving, parse_retiring
    from app.hosts import parse_hostnames

    monkeypatch.delenv("SKRYNKA_HOSTNAMES_FILE", raising=False)
    old = state.ensure_services(tmp_path)[0]
    path, new = rotation.rotate(tmp_path, 3 * state.DAY, now=1_000_000.0)
    state.write_hostnames(tmp_path, state.load_services(tmp_path), 14 * state.DAY)
    text = state.hostnames_path(tmp_path).read_text()
    until = announce.parse(path.read_text()).old_until  # type: ignore[union-attr]
    assert text == f"{old.address} # until {until}, then {new}\n{new}\n"
    assert parse_hostnames(text) == {old.address, new}
    assert parse_retiring(text) == {old.address: Moving(new, until)}
    state.write_hostnames(tmp_path, [state.current(state.load_services(tmp_path))], 1.0)
    assert state.hostnames_path(tmp_path).read_text() == f"{new}\n"
