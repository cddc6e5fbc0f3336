"""Batch signatures (SPEC.md section 6): who exported a batch.

A server signs every batch it exports with its own Ed25519 *export key*
(libsodium ``crypto_sign``). The analysts record the key's public text once
(``skrynka-export1…``, printed by ``python -m app init`` and ``stats``) and
``keys decrypt`` refuses batches signed by any other key. The signature covers
a label, the batch's 13-byte prefix and the manifest's SHA-256; the manifest
binds every envelope by its hash, so the signature binds the whole batch.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import SigningKey, VerifyKey

from keys.errors import KeyFileError
from keys.pubkey import _CHARSET, _convert, _hrp_expand, _polymod, bech32_encode

HRP = "skrynka-export"
LABEL = b"skrynka-batch-v2"  # 16 ASCII bytes, no terminator
SIGNER_LEN = 32
SIG_LEN = 64
BLOCK_LEN = SIGNER_LEN + SIG_LEN
TEXT_LEN = len(HRP) + 1 + 52 + 6  # 73
_MAX_FILE = 64 * 1024
_HINT = ("copy the whole skrynka-export1… line the operator read from `python -m app init` "
         "or `python -m app stats`")


def encode_signer(raw: bytes) -> str:
    """``skrynka-export1…`` text (Bech32, BIP 173, as SPEC 1 but this prefix) of a signer key."""
    if len(raw) != SIGNER_LEN:
        raise ValueError("export public keys are 32 bytes")
    return bech32_encode(HRP, raw)


def decode_signer(text: str) -> bytes:
    """The 32-byte key of a ``skrynka-export1…`` text; KeyFileError unless exactly one."""
    text = text.strip()
    if text.lower() != text and text.upper() != text:
        raise KeyFileError("export key mixes upper and lower case", hint=_HINT)
    text = text.lower()
    if not text.startswith(HRP + "1"):
        raise KeyFileError("not a Skrynka export key (it must start with skrynka-export1)",
                           hint=_HINT)
    body = text[len(HRP) + 1:]
    if len(text) != TEXT_LEN or any(c not in _CHARSET for c in body):
        raise KeyFileError(f"export key must be {TEXT_LEN} characters of skrynka-export1 text",
                           hint=_HINT)
    values = [_CHARSET.index(c) for c in body]
    if _polymod(_hrp_expand(HRP) + values) != 1:
        raise KeyFileError("export key checksum does not match (mistyped?)", hint=_HINT)
    raw = _convert(values[:-6], 5, 8, False)
    if raw is None or len(raw) != SIGNER_LEN:
        raise KeyFileError("export key does not hold 32 bytes", hint=_HINT)
    return bytes(raw)


def fingerprint(raw: bytes) -> str:
    """Short form to compare aloud: the first 10 bytes of SHA-256(key), hex in groups of 4."""
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return "-".join(digest[i:i + 4] for i in range(0, 20, 4))


def describe(raw: bytes) -> str:
    """``skrynka-export1… (fingerprint xxxx-…)``, for messages."""
    return f"{encode_signer(raw)} (fingerprint {fingerprint(raw)})"


def message(prefix: bytes, manifest_sha256: bytes) -> bytes:
    """The bytes a batch signature covers: LABEL | prefix[13] | SHA-256(manifest)[32]."""
    if len(prefix) != 13 or len(manifest_sha256) != 32:
        raise ValueError("bad signature input")
    return LABEL + prefix + manifest_sha256


def sign(key: SigningKey, prefix: bytes, manifest_sha256: bytes) -> bytes:
    """The signature block: signer public key[32] | Ed25519 signature[64]."""
    sig = key.sign(message(prefix, manifest_sha256)).signature
    return bytes(key.verify_key) + bytes(sig)


def verify(block: bytes, prefix: bytes, manifest_sha256: bytes) -> bytes | None:
    """The signer's public key if ``block`` is a valid signature of this batch, else None."""
    if len(block) != BLOCK_LEN:
        return None
    signer, sig = block[:SIGNER_LEN], block[SIGNER_LEN:]
    try:
        VerifyKey(signer).verify(message(prefix, manifest_sha256), sig)
    except (BadSignatureError, NaclValueError):
        return None
    return signer


def read_signer(value: str) -> bytes:
    """``--signer``: a ``skrynka-export1…`` text, or a file holding one.

    In a file, ``#`` comment lines are skipped, except that a ``# public key:``
    comment counts (so the server's key file's public line can be copied whole).
    """
    if value.strip().lower().startswith(HRP + "1"):
        return decode_signer(value)
    path = Path(value)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_FILE + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the export key file {value}: {exc}", hint=_HINT) from None
    found = {decode_signer(line.strip().removeprefix("# public key:"))
             for line in text.splitlines()
             if line.strip().lower().startswith(HRP + "1")
             or line.startswith("# public key: " + HRP + "1")}
    if len(found) != 1 or len(raw) > _MAX_FILE:
        raise KeyFileError(f"{value} does not hold exactly one skrynka-export1… key", hint=_HINT)
    return found.pop()


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def read_named_signer(value: str) -> tuple[str | None, bytes]:
    """``--signer [NAME=]KEY|FILE``: an optional short name the analyst gives the key (a
    backend's, say ``b2``), then :func:`read_signer`. A value that is an existing file is
    a file, whatever it holds; a name is 1-32 letters, digits, ``_``, ``.`` or ``-``."""
    name, sep, rest = value.partition("=")
    if sep and NAME_PATTERN.fullmatch(name) and not Path(value).exists():
        return name, read_signer(rest)
    return None, read_signer(value)
