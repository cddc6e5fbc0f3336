"""Onion keys: tor's file format, mode 0600, O_EXCL, the same address every time."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from onion import onionkey, state
from onion.errors import OnionKeyError


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k" / "a.key"
    key, created = onionkey.load_or_create(path)
    assert created
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"== ed25519v1-secret: type0 ==")
    again, created_again = onionkey.load_or_create(path)
    assert not created_again and again.address == key.address
    with pytest.raises(FileExistsError):
        onionkey.write_new(path, onionkey.OnionKey.generate())
    assert onionkey.load(path).address == key.address


def test_unsafe_or_damaged_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    onionkey.write_new(path, onionkey.OnionKey.generate())
    os.chmod(path, 0o644)
    with pytest.raises(OnionKeyError, match="readable by others"):
        onionkey.load(path)
    os.chmod(path, 0o600)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(OnionKeyError, match="not an onion secret key"):
        onionkey.load(path)


def test_address_checksum_is_checked() -> None:
    key = onionkey.OnionKey.generate()
    assert onionkey.ADDRESS_RE.match(key.address)
    assert onionkey.public_of_address(key.address) == onionkey.public_key(key.expanded)
    flipped = ("b" if key.address[0] != "b" else "c") + key.address[1:]
    with pytest.raises(OnionKeyError):
        onionkey.public_of_address(flipped)


def test_first_run_makes_one_address_and_keeps_it(tmp_path: Path) -> None:
    first = state.ensure_services(tmp_path)
    second = state.ensure_services(tmp_path)
    assert len(first) == 1 and first == second
    key = state.load_key(tmp_path, first[0])
    assert key.address == first[0].address
    assert (tmp_path / "onion" / "services.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.tor
def test_tor_derives_the_same_address_from_our_key_file(tmp_path: Path) -> None:
    """tor itself reads our key file from a HiddenServiceDir and writes the hostname."""
    key = onionkey.OnionKey.generate()
    hs = tmp_path / "hs"
    hs.mkdir(mode=0o700)
    onionkey.write_new(hs / "hs_ed25519_secret_key", key)
    (tmp_path / "torrc").write_text("")
    proc = subprocess.Popen(
        ["tor", "-f", str(tmp_path / "torrc"), "--defaults-torrc", os.devnull, "--DataDirectory",
         str(tmp_path / "tor"), "--SocksPort", "0", "--DisableNetwork", "1",
         "--HiddenServiceDir", str(hs), "--HiddenServicePort", "80 127.0.0.1:9"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, MALLOC_ARENA_MAX="1"))
    try:
        deadline = time.monotonic() + 60
        while not (hs / "hostname").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, "tor exited"
            time.sleep(0.2)
        assert (hs / "hostname").read_text().strip() == key.address
    finally:
        proc.terminate()
        proc.wait(20)
