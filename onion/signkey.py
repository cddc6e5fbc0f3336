"""The organisation's signing key file: an Ed25519 key sealed under a passphrase.

The key is sealed exactly as analyst keys are (keys/keyfile.py: Argon2id from the
passphrase and a random salt, libsodium's secretbox), and a new passphrase must meet the
same strength rule (keys/passphrase.py). The file (mode 0600, never overwritten)::

    # Skrynka organisation signing key (Ed25519). Keep it offline.
    # created: YYYY-MM-DD
    # verify key: skrynka-verify-key-v1 <base64 public key>
    skrynka-signing-key-v2 argon2id m=<KiB> t=<passes> p=<lanes> <base64 salt> <base64 box>

Beside it ``FILE.pub`` holds the verify key line and ``FILE.allowed_signers`` the same
key for ``ssh-keygen -Y verify``; ``FILE.serial`` the last serial number signed with it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from pathlib import Path

import nacl.signing

from keys import keyfile
from keys.errors import KeyFileError, UsageError, WrongPassphrase
from keys.passphrase import check_strength
from onion import sshsig
from onion.announce import SERIAL_RE, verify_key_line
from onion.errors import OnionKeyError

TAG = "skrynka-signing-key-v2"
V1_TAG = "skrynka-signing-key-v1"
FIRST_LINE = "# Skrynka organisation signing key (Ed25519). Keep it offline."
VERIFY_COMMENT = "# verify key: "
MAX_FILE = 4096


def _create(path: Path, text: str, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise OnionKeyError(f"{path} already exists; refusing to overwrite a signing key",
                            "choose another file name, or move the old one away") from exc
    except OSError as exc:
        raise OnionKeyError(f"cannot create signing key {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OnionKeyError(f"cannot write {path}: {exc.strerror}") from exc


def signing_keygen(key_path: Path, passphrase: bytes, params: keyfile.KdfParams | None = None,
                   seed: bytes | None = None) -> str:
    """A new signing key file (or one holding ``seed``, a v1 key's) and its ``.pub`` and
    ``.allowed_signers`` files; returns the verify key line."""
    check_strength(passphrase)
    extra = [Path(f"{key_path}.pub"), Path(f"{key_path}.allowed_signers")]
    for path in [key_path, *extra]:
        if path.exists() or path.is_symlink():
            raise OnionKeyError(f"{path} already exists; refusing to overwrite a signing key",
                                "choose another --out, or move the old files away")
    sk = nacl.signing.SigningKey(seed) if seed else nacl.signing.SigningKey.generate()
    public = bytes(sk.verify_key)
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    sealed = keyfile.seal(bytes(sk), passphrase, params or keyfile.calibrate())
    _create(key_path, f"{FIRST_LINE}\n# created: {day}\n{VERIFY_COMMENT}"
            f"{verify_key_line(public)}\n{TAG} {sealed}\n", 0o600)
    _create(extra[0], verify_key_line(public) + "\n", 0o644)
    _create(extra[1], sshsig.allowed_signers_line(public) + "\n", 0o644)
    return verify_key_line(public)


def _read(path: Path) -> list[str]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
        text = raw.decode("ascii")
    except OSError as exc:
        raise OnionKeyError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise OnionKeyError(f"{path} is not a Skrynka signing key") from exc
    if len(raw) > MAX_FILE:
        raise OnionKeyError(f"{path} is too large to be a Skrynka signing key")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def read_v1_seed(path: Path) -> bytes:
    """The seed of an old unprotected ``skrynka-signing-key-v1 <base64>`` file."""
    lines = _read(path)
    words = lines[0].split() if len(lines) == 1 else []
    try:
        seed = base64.b64decode(words[1], validate=True) if len(words) == 2 else b""
    except binascii.Error:
        seed = b""
    if words[:1] != [V1_TAG] or len(seed) != 32:
        raise OnionKeyError(f"{path} is not a v1 (unprotected) Skrynka signing key")
    return seed


def load_signing_key(path: Path, passphrase: bytes) -> nacl.signing.SigningKey:
    """The signing key in ``path`` opened with ``passphrase`` (WrongPassphrase if not)."""
    lines = _read(path)
    keys = [line for line in lines if not line.startswith("#")]
    if len(keys) == 1 and keys[0].startswith(V1_TAG + " "):
        raise OnionKeyError(
            f"{path} is an unprotected (v1) signing key; it is no longer used as it is",
            f"seal it under a passphrase (same verify key): `python -m onion signing-keygen "
            f"--from-v1 {path} --out NEW.key`, then destroy {path}")
    comments = [line[len(VERIFY_COMMENT):] for line in lines if line.startswith(VERIFY_COMMENT)]
    if len(keys) != 1 or not keys[0].startswith(TAG + " ") or len(comments) != 1:
        raise OnionKeyError(f"{path} is not a Skrynka signing key",
                            "make one with `python -m onion signing-keygen`")
    try:
        seed = keyfile.unseal(keys[0].split(" ")[1:], passphrase)
    except KeyFileError as exc:
        raise OnionKeyError(f"{path}: {exc.message}") from exc
    if seed is None:
        raise WrongPassphrase(f"wrong passphrase for {path}",
                              "type it again; if it is surely right, the file is damaged: "
                              "use a backup")
    sk = nacl.signing.SigningKey(seed)
    if verify_key_line(bytes(sk.verify_key)) != comments[0]:
        raise OnionKeyError(f"{path}: the verify key comment does not match the key")
    return sk


def _serial_file(key_path: Path) -> Path:
    return Path(f"{key_path}.serial")


def next_serial(key_path: Path, given: int | None) -> int:
    """``given`` if it is above the last serial signed with this key, else last + 1."""
    path = _serial_file(key_path)
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        text = "0"
    except (OSError, UnicodeDecodeError) as exc:
        raise OnionKeyError(f"cannot read the last serial in {path}: {exc}") from exc
    if not (text == "0" or SERIAL_RE.match(text)):
        raise OnionKeyError(f"{path} does not hold a serial number",
                            "put the last serial signed in it, or give --serial N")
    last = int(text)
    if given is None:
        return last + 1
    if given <= last:
        raise UsageError(f"--serial {given} is not above the last serial signed with this "
                         f"key ({last}, in {path})", f"give --serial {last + 1} or more")
    return given


def record_serial(key_path: Path, serial: int) -> None:
    """Remember ``serial`` as the last one signed with this key."""
    path = _serial_file(key_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(f"{serial}\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise OnionKeyError(f"cannot write {path}: {exc.strerror}") from exc
