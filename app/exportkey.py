"""The server's export key: an Ed25519 key that signs every batch it exports.

It proves where a batch comes from, not secrecy: it is the server's own key
(never an analyst's), kept in the data directory beside the database, so anyone
who holds the running server or its disk can sign with it (SECURITY.md, "Batch
signatures"). ``app init`` makes it once (O_EXCL, mode 0600) and prints its
public text, which the analysts record once and give to ``keys decrypt --signer``.

The file is plain text, like an age key file::

    # Skrynka export signing key. Batches this server exports are signed with it.
    # Give the analysts only the public key below; never copy this file elsewhere.
    # public key: skrynka-export1…
    SKRYNKA-EXPORT-KEY-1 <seed: standard base64 of 32 bytes>
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from nacl.signing import SigningKey
from nacl.utils import random as random_bytes

from app.errors import ConfigError, StorageError
from keys.errors import KeyFileError
from keys.signature import decode_signer, describe, encode_signer

TAG = "SKRYNKA-EXPORT-KEY-1"
PUBLIC_PREFIX = "# public key: "
_MAX_FILE = 4096
_HINT = ("the export key file is made by `python -m app init`; if it is lost, init makes a "
         "new one and the analysts must be told its public key (decrypt --signer)")


def render(key: SigningKey) -> str:
    """The text of an export key file holding ``key``."""
    seed = base64.b64encode(bytes(key)).decode("ascii")
    return (
        "# Skrynka export signing key. Batches this server exports are signed with it.\n"
        "# Give the analysts only the public key below; never copy this file elsewhere.\n"
        f"{PUBLIC_PREFIX}{encode_signer(bytes(key.verify_key))}\n"
        f"{TAG} {seed}\n"
    )


def create(path: Path) -> tuple[SigningKey, bool]:
    """The key in ``path``, made first if the file is missing; (key, made now)."""
    key = SigningKey(random_bytes(32))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return load(path), False
    except OSError as exc:
        raise StorageError(f"cannot create the export key {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(render(key))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StorageError(f"cannot write the export key {path}: {exc.strerror}") from None
    return key, True


def load(path: Path) -> SigningKey:
    """The signing key in ``path``; ConfigError if the file is missing or malformed."""
    try:
        raw = path.read_bytes() if path.stat().st_size <= _MAX_FILE else b"x" * (_MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(f"no export key at {path}",
                          hint="run `python -m app init` to make one") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the export key {path}: {exc.strerror}") from None
    try:
        lines = [ln for ln in raw.decode("ascii").splitlines() if ln.strip()]
        keys = [ln.split(" ") for ln in lines if not ln.startswith("#")]
        publics = [ln[len(PUBLIC_PREFIX):] for ln in lines if ln.startswith(PUBLIC_PREFIX)]
        if len(raw) > _MAX_FILE or len(keys) != 1 or len(publics) != 1:
            raise ValueError("shape")
        tag, seed_text = keys[0]
        seed = base64.b64decode(seed_text, validate=True)
        if tag != TAG or len(seed) != 32 or base64.b64encode(seed).decode() != seed_text:
            raise ValueError("key line")
        key = SigningKey(seed)
        if bytes(key.verify_key) != decode_signer(publics[0]):
            raise ValueError("public key comment")
    except (UnicodeDecodeError, ValueError, binascii.Error, KeyFileError):
        raise ConfigError(f"the export key {path} is malformed", hint=_HINT) from None
    return key


def public_text(key: SigningKey) -> str:
    """``skrynka-export1… (fingerprint …)``: what ``init`` and ``stats`` print."""
    return describe(bytes(key.verify_key))
