"""The one passphrase strength rule (keys/passphrase.py) for analyst keys: a clear refusal
with a hint below it, in the library and in ``python -m keys keygen | passwd``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keys import keyfile
from keys.errors import UsageError, WeakPassphrase
from keys.passphrase import check_strength

ROOT = Path(__file__).resolve().parents[2]
CHEAP = keyfile.KdfParams(memory_kib=65536, time_cost=1, parallelism=1)
STRONG = b"ember quarry lantern velvet oboe"

WEAK = [
    (b"hunter2", "7 characters, at least 16"),
    (b"correct horse", "13 characters"),
    (b"abababababababababab", "only 2 different characters"),
    (b"Password1Password1", "only 8 different characters"),
    (b"abcdefghijklmnopqrstuvwxyz", "mostly repeated or consecutive"),
    (b"aaaabbbbccccddddeeeeffffgggghhhhiiiijjjj", "mostly repeated or consecutive"),
]


@pytest.mark.parametrize(("passphrase", "why"), WEAK)
def test_weak_passphrases_are_refused_with_a_reason_and_a_hint(passphrase: bytes,
                                                               why: str) -> None:
    with pytest.raises(WeakPassphrase, match=why) as caught:
        check_strength(passphrase)
    assert caught.value.exit_code == 2 and "diceware" in (caught.value.hint or "")


@pytest.mark.parametrize("passphrase", [
    STRONG, b"correct horse battery staple", "пароль: correct horse".encode(),
    "хліб сонце ріка вітер".encode(), b"7fQ!x2#Lm9@pZ4&w"])
def test_strong_passphrases_pass(passphrase: bytes) -> None:
    check_strength(passphrase)


def test_empty_is_its_own_message() -> None:
    with pytest.raises(UsageError, match="empty"):
        check_strength(b"")


def test_library_refuses_weak_for_new_keys_and_new_passphrases(tmp_path: Path) -> None:
    with pytest.raises(WeakPassphrase):
        keyfile.generate(tmp_path / "k.key", b"short pass", params=CHEAP)
    assert not list(tmp_path.iterdir())
    keyfile.generate(tmp_path / "k.key", STRONG, params=CHEAP)
    before = (tmp_path / "k.key").read_bytes()
    with pytest.raises(WeakPassphrase):
        keyfile.change_passphrase(tmp_path / "k.key", STRONG, b"1234567890123456")
    assert (tmp_path / "k.key").read_bytes() == before


def test_an_old_key_with_a_weak_passphrase_still_opens(tmp_path: Path) -> None:
    """The rule applies when a passphrase is chosen, never when a key is opened."""
    from nacl.public import PrivateKey

    key = PrivateKey.generate()
    (tmp_path / "old.key").write_text(keyfile.render(key, b"pw", CHEAP, "2026-01-01"))
    assert bytes(keyfile.load_private(tmp_path / "old.key", b"pw")) == bytes(key)
    keyfile.change_passphrase(tmp_path / "old.key", b"pw", STRONG)
    assert bytes(keyfile.load_private(tmp_path / "old.key", STRONG)) == bytes(key)


def test_cli_keygen_refuses_a_weak_passphrase(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("letmein\n")
    res = subprocess.run([sys.executable, "-m", "keys", "keygen", "--out", str(tmp_path / "a.key"),
                          "--passphrase-file", str(tmp_path / "pw"), "--kdf-memory-mib", "64",
                          "--kdf-passes", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0] == ("skrynka-keys: error: the passphrase is too weak: 7 characters, "
                        "at least 16 are needed")
    assert lines[1].startswith("hint: use five or more random words") and len(lines) == 2
    assert not (tmp_path / "a.key").exists()
