"""Analyst public keys as one line of text: ``skrynka1…`` (Bech32, BIP 173).

The prefix says what the key is for; Bech32's checksum catches a mistyped,
swapped or cut key, so a bad line is rejected with a clear message instead of
silently sealing reports to nobody.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from keys.errors import KeyFileError

HRP = "skrynka"
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
#: Hex digits of a key fingerprint (see :func:`fingerprint`).
FINGERPRINT_HEX = 16
_HINT = "copy the whole line from the analyst's .pub file (it starts with skrynka1)"


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to - bits)) & maxv)
    elif not pad and (bits >= frm or (acc << (to - bits)) & maxv):
        return None
    return out


def bech32_encode(hrp: str, raw: bytes) -> str:
    """``<hrp>1…``: ``raw`` in Bech32 (BIP 173) with its 6-symbol checksum."""
    data = _convert(raw, 8, 5, True)
    assert data is not None
    check = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    data += [(check >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data)


def encode_public(raw: bytes) -> str:
    """``skrynka1…`` text for a 32-byte X25519 public key."""
    if len(raw) != 32:
        raise ValueError("public keys are 32 bytes")
    return bech32_encode(HRP, raw)


def decode_public(text: str) -> bytes:
    """The 32-byte key in a ``skrynka1…`` line; KeyFileError if it is not exactly one."""
    text = text.strip()
    if text.lower() != text and text.upper() != text:
        raise KeyFileError("public key mixes upper and lower case", hint=_HINT)
    text = text.lower()
    if not text.startswith(HRP + "1"):
        raise KeyFileError("not a Skrynka public key (it must start with skrynka1)", hint=_HINT)
    body = text[len(HRP) + 1 :]
    if len(body) != 58:
        raise KeyFileError(
            f"public key has {len(body) + len(HRP) + 1} characters, expected 66 (cut or extended?)",
            hint=_HINT,
        )
    if any(c not in _CHARSET for c in body):
        raise KeyFileError("public key has a character that cannot occur in one", hint=_HINT)
    values = [_CHARSET.index(c) for c in body]
    if _polymod(_hrp_expand(HRP) + values) != 1:
        raise KeyFileError("public key checksum does not match (mistyped?)", hint=_HINT)
    raw = _convert(values[:-6], 5, 8, False)
    if raw is None or len(raw) != 32:
        raise KeyFileError("public key does not hold 32 bytes", hint=_HINT)
    return bytes(raw)


def fingerprint(raw: bytes) -> str:
    """A short, stable name for a 32-byte public key, the same on server and laptop:
    the first 16 hex digits of SHA-256 over the key's 32 bytes (SPEC.md, "Key
    fingerprints and the recipients pin").

    For showing and comparing by eye; checks compare the whole keys."""
    if len(raw) != 32:
        raise ValueError("public keys are 32 bytes")
    return hashlib.sha256(raw).hexdigest()[:FINGERPRINT_HEX]


#: How a line of a private key's text begins (upper-cased), what that key is, and whether
#: it is one that must never be on the server (then it is exposed once it is). A recipients
#: file holding one, commented out or not, is refused as such (SPEC.md section 1).
PRIVATE_MARKS: tuple[tuple[str, str, bool], ...] = (
    ("SKRYNKA-KEY-", "an analyst's private key (keys keygen's key file)", True),
    ("SKRYNKA-SIGNING-KEY-", "the organisation's signing key (onion signing-keygen)", True),
    ("SKRYNKA-EXPORT-KEY-", "the server's export signing key (export.key)", False),
    ("AGE-SECRET-KEY-", "an age private key", True),
    ("ED25519-V3:", "an onion service's private key", False),
    ("== ED25519V1-SECRET", "an onion service's private key (tor's key file)", False),
)
_PEM = ("-----BEGIN", "PRIVATE KEY-----")  # PEM and OpenSSH private keys
_TOR_KEY_FILE = b"== ed25519v1-secret"
_EXPOSED_HINTS = {
    "SKRYNKA-SIGNING-KEY-": "make a new signing key offline (`python -m onion signing-keygen`) "
                           "and announce its verify key as you did the old one",
}
_EXPOSED_HINT = ("on the analyst's offline laptop make a new key pair (`python -m keys keygen`) "
                 "and put only its .pub line (skrynka1…) here; stop using the exposed key")
_NOT_HERE_HINT = "this file lists only public keys: the skrynka1… line of each analyst's .pub file"


def private_key_kind(line: str) -> tuple[str, str, bool] | None:
    """The :data:`PRIVATE_MARKS` entry a line of text (a ``#`` comment or not) starts
    with, or None; PEM/OpenSSH private key armour counts too."""
    probe = line.strip().lstrip("#").strip().upper()
    for mark in PRIVATE_MARKS:
        if probe.startswith(mark[0]):
            return mark
    if probe.startswith(_PEM[0]) and probe.endswith(_PEM[1]):
        return (_PEM[0], "a PEM or OpenSSH private key", True)
    return None


def private_key_error(number: int, name: str, line: str, on_server: bool) -> KeyFileError | None:
    """The error for line ``number`` of ``name`` if it is a private key, else None."""
    kind = private_key_kind(line)
    if kind is None:
        return None
    start, what, secret = kind
    if secret and on_server:
        return KeyFileError(
            f"line {number} of {name} is {what}, not a public key: remove it from the "
            "server and treat it as exposed", hint=_EXPOSED_HINTS.get(start, _EXPOSED_HINT))
    return KeyFileError(f"line {number} of {name} is {what}, not a public key: remove it "
                        "from this file", hint=_NOT_HERE_HINT)


def recipients_text(raw: bytes, name: str, on_server: bool = True) -> str:
    """The text of a recipients file's bytes; KeyFileError if it is not UTF-8, naming a
    tor onion key file (binary) as the private key it is."""
    at = raw.find(_TOR_KEY_FILE)
    if at >= 0:
        error = private_key_error(raw.count(b"\n", 0, at) + 1, name,
                                  _TOR_KEY_FILE.decode("ascii"), on_server)
        assert error is not None
        raise error
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"{name} is not UTF-8 text", hint=_HINT) from None


def read_recipients(path: str | Path, on_server: bool = True) -> list[bytes]:
    """Keys listed in a recipients file: one ``skrynka1…`` per line, ``#`` comments.

    Any bad line rejects the whole file (naming the line); an empty file, a repeated
    key or a private key (:func:`private_key_kind`) is an error too. ``on_server``: the
    file is the server's analysts.pub, where a private key is exposed (the message
    says so); else an analyst's own list, on the offline laptop.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read analyst keys file {path}: {exc}") from None
    return parse_recipients(recipients_text(raw, str(path), on_server), str(path), on_server)


def parse_recipients(text: str, name: str, on_server: bool = True) -> list[bytes]:
    """The keys in the text of a recipients file called ``name`` (see read_recipients).
    A private key is looked for first, on every line: it matters more than any other
    mistake in the file."""
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        error = private_key_error(number, name, line, on_server)
        if error is not None:
            raise error
    keys: list[bytes] = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            key = decode_public(line)
        except KeyFileError as exc:
            raise KeyFileError(f"{name}:{number}: {exc.message}", hint=exc.hint) from None
        if key in keys:
            raise KeyFileError(f"{name}:{number}: this key is listed twice",
                               hint="remove one of the two lines")
        keys.append(key)
    if not keys:
        raise KeyFileError(f"{name} lists no analyst public key")
    return keys
