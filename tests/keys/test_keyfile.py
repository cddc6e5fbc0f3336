"""keys.keyfile: create, load, passwd, and refuse damaged or hostile key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import keyfile, pubkey
from keys.errors import KeyFileError, OutputError, UsageError, WrongPassphrase

CHEAP = keyfile.KdfParams(memory_kib=65536, time_cost=1, parallelism=1)
PW = "пароль: correct horse".encode()
NEW = b"lantern quarry ember velvet oboe"


@pytest.fixture()
def made(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "analyst.key"
    return path, keyfile.generate(path, PW, params=CHEAP)


def test_generate_writes_private_and_public_files(made: tuple[Path, bytes]) -> None:
    path, public = made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pub_path = Path(str(path) + ".pub")
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644
    lines = [x for x in pub_path.read_text().splitlines() if not x.startswith("#")]
    assert lines == [pubkey.encode_public(public)]
    assert f"# public key: {lines[0]}" in path.read_text().splitlines()
    key = keyfile.load_private(path, PW)
    assert bytes(key.public_key) == public
    assert keyfile.public_from_file(path) == public == keyfile.public_from_file(pub_path)
    text = path.read_text()
    assert bytes(key).hex() not in text and "m=65536 t=1 p=1" in text


def test_generate_never_overwrites(made: tuple[Path, bytes]) -> None:
    path, public = made
    before = path.read_bytes(), Path(str(path) + ".pub").read_bytes()
    with pytest.raises(OutputError) as caught:
        keyfile.generate(path, PW, params=CHEAP)
    assert caught.value.hint
    assert (path.read_bytes(), Path(str(path) + ".pub").read_bytes()) == before


def test_generate_refuses_existing_pub_and_leaves_no_private_key(tmp_path: Path) -> None:
    (tmp_path / "k.key.pub").write_text("someone else's\n")
    with pytest.raises(OutputError):
        keyfile.generate(tmp_path / "k.key", PW, params=CHEAP)
    assert not (tmp_path / "k.key").exists()
    assert (tmp_path / "k.key.pub").read_text() == "someone else's\n"


def test_generate_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    os.symlink(target, tmp_path / "k.key")
    with pytest.raises(OutputError):
        keyfile.generate(tmp_path / "k.key", PW, params=CHEAP)
    assert not target.exists()


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        keyfile.generate(tmp_path / "k.key", b"", params=CHEAP)
    assert not list(tmp_path.iterdir())


def test_wrong_passphrase(made: tuple[Path, bytes]) -> None:
    path, _ = made
    with pytest.raises(WrongPassphrase) as caught:
        keyfile.load_private(path, PW + b" ")
    assert caught.value.exit_code == 7 and caught.value.hint


def test_change_passphrase(made: tuple[Path, bytes]) -> None:
    path, public = made
    old_text = path.read_text()
    key = keyfile.load_private(path, PW)
    keyfile.change_passphrase(path, PW, NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes(keyfile.load_private(path, NEW)) == bytes(key)
    with pytest.raises(WrongPassphrase):
        keyfile.load_private(path, PW)
    new_text = path.read_text()
    old_fields, new_fields = old_text.splitlines()[-1].split(), new_text.splitlines()[-1].split()
    assert old_fields[:5] == new_fields[:5]
    assert old_fields[5] != new_fields[5] and old_fields[6] != new_fields[6]  # salt, box
    assert sorted(p.name for p in path.parent.iterdir()) == ["analyst.key", "analyst.key.pub"]
    assert keyfile.public_from_file(path) == public


def test_change_passphrase_with_wrong_old_leaves_file(made: tuple[Path, bytes]) -> None:
    path, _ = made
    before = path.read_bytes()
    with pytest.raises(WrongPassphrase):
        keyfile.change_passphrase(path, b"nope", NEW)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["analyst.key", "analyst.key.pub"]


def _edit(path: Path, index: int, value: str) -> None:
    lines = path.read_text().splitlines()
    fields = lines[-1].split(" ")
    fields[index] = value
    lines[-1] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("index, value", [
    (2, "m=4194305"), (2, "m=65535"), (2, "m=99999999999"), (3, "t=0"), (3, "t=65"),
    (4, "p=0"), (4, "p=17"), (2, "m=-1"), (3, "t=+1"), (3, "t= 1"), (0, "SKRYNKA-KEY-2"),
    (1, "argon2i"), (5, "!!!!"), (6, ""),
])
def test_hostile_or_malformed_params_refused_before_derivation(
        made: tuple[Path, bytes], index: int, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = made
    _edit(path, index, value)
    calls: list[object] = []
    monkeypatch.setattr(keyfile, "hash_secret_raw", lambda *a, **k: calls.append(a))
    with pytest.raises(KeyFileError):
        keyfile.load_private(path, PW)
    assert calls == []  # refused before any Argon2 work


def test_tampered_box_is_wrong_passphrase(made: tuple[Path, bytes]) -> None:
    path, _ = made
    fields = path.read_text().splitlines()[-1].split(" ")
    box = bytearray(keyfile.base64.b64decode(fields[6]))
    box[-1] ^= 0x40
    _edit(path, 6, keyfile.base64.b64encode(bytes(box)).decode())
    with pytest.raises(WrongPassphrase):
        keyfile.load_private(path, PW)


def test_public_comment_must_match_the_key(made: tuple[Path, bytes]) -> None:
    path, public = made
    other = pubkey.encode_public(bytes(PrivateKey.generate().public_key))
    path.write_text(path.read_text().replace(pubkey.encode_public(public), other))
    assert keyfile.public_from_file(path) != public  # no passphrase: cannot know yet
    with pytest.raises(KeyFileError):
        keyfile.load_private(path, PW)


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe not utf-8", b"# only comments\n", b"x" * 70000,
    b"SKRYNKA-KEY-1 argon2id m=65536 t=1 p=1\n",
])
def test_not_a_key_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        keyfile.load_private(path, PW)
    with pytest.raises(KeyFileError):
        keyfile.public_from_file(path)


def test_missing_file_is_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        keyfile.load_private(tmp_path / "absent.key", PW)


def test_crlf_line_endings_are_accepted(made: tuple[Path, bytes]) -> None:
    path, public = made
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert bytes(keyfile.load_private(path, PW).public_key) == public


def test_calibrate_gives_sane_params() -> None:
    params = keyfile.calibrate(target_seconds=0.01, memory_kib=65536)
    assert params == keyfile.KdfParams(65536, params.time_cost, 1)
    assert 1 <= params.time_cost <= keyfile.MAX_TIME
    params.check()
    with pytest.raises(KeyFileError):
        keyfile.calibrate(memory_kib=1024)


def test_pub_file_is_a_valid_recipients_file(made: tuple[Path, bytes]) -> None:
    path, public = made
    assert pubkey.read_recipients(Path(str(path) + ".pub")) == [public]
