"""OpenSSH's SSHSIG signatures with an Ed25519 key, made and checked with PyNaCl alone.

So that anyone can check an announcement with a standard tool (``ssh-keygen -Y verify``,
OpenSSH 8.1+) as well as with ``python -m onion verify``. Format: OpenSSH's
PROTOCOL.sshsig. The Ed25519 signature is over the "signed data"::

    byte[6] "SSHSIG" | string namespace | string reserved ("") | string "sha512"
    | string SHA-512(message)

and the armoured signature file holds the blob::

    byte[6] "SSHSIG" | uint32 1 | string publickey | string namespace | string reserved
    | string "sha512" | string signature

between ``-----BEGIN SSH SIGNATURE-----`` and ``-----END SSH SIGNATURE-----`` (base64,
70 characters a line, as ssh-keygen writes it). ``string`` is a 4-byte big-endian length
and the bytes; publickey is ``string "ssh-ed25519" | string key`` and signature is
``string "ssh-ed25519" | string sig``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

import nacl.exceptions
import nacl.signing

from onion.errors import AnnouncementError

NAMESPACE = "skrynka-announcement"
PRINCIPAL = "skrynka"
MAGIC = b"SSHSIG"
VERSION = 1
HASH = b"sha512"
KEY_TYPE = b"ssh-ed25519"
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
MAX_ARMOUR = 4096


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def public_blob(public: bytes) -> bytes:
    """An Ed25519 public key in SSH wire format."""
    return _string(KEY_TYPE) + _string(public)


def ssh_public_line(public: bytes) -> str:
    """``ssh-ed25519 AAAA…`` (as in an OpenSSH .pub file)."""
    return f"{KEY_TYPE.decode()} {base64.b64encode(public_blob(public)).decode('ascii')}"


def allowed_signers_line(public: bytes) -> str:
    """One line of an ``ssh-keygen -Y verify -f allowed_signers`` file for this key."""
    return f'{PRINCIPAL} namespaces="{NAMESPACE}" {ssh_public_line(public)}'


def signed_data(message: bytes, namespace: str = NAMESPACE) -> bytes:
    return (MAGIC + _string(namespace.encode("ascii")) + _string(b"") + _string(HASH)
            + _string(hashlib.sha512(message).digest()))


def sign(message: bytes, sk: nacl.signing.SigningKey, namespace: str = NAMESPACE) -> str:
    """The armoured SSHSIG signature of ``message`` (ends with LF)."""
    sig = sk.sign(signed_data(message, namespace)).signature
    blob = (MAGIC + struct.pack(">I", VERSION) + _string(public_blob(bytes(sk.verify_key)))
            + _string(namespace.encode("ascii")) + _string(b"") + _string(HASH)
            + _string(_string(KEY_TYPE) + _string(sig)))
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AnnouncementError("the signature file is truncated or not an SSH signature")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self) -> bytes:
        (length,) = struct.unpack(">I", self.take(4))
        return self.take(length)


def _unarmour(armoured: str) -> bytes:
    lines = armoured.strip().splitlines()
    if len(armoured) > MAX_ARMOUR or len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise AnnouncementError("the signature file is not an SSH signature "
                                f"('{BEGIN}' … '{END}')")
    try:
        return base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnnouncementError("the SSH signature is not valid base64") from exc


def _fields(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """(public key, namespace, raw signature) of a well-formed Ed25519 SSHSIG blob."""
    r = _Reader(blob)
    if r.take(6) != MAGIC or struct.unpack(">I", r.take(4))[0] != VERSION:
        raise AnnouncementError("not an SSHSIG signature of version 1")
    key = _Reader(r.string())
    namespace, reserved, hash_alg, sig_field = r.string(), r.string(), r.string(), r.string()
    sig = _Reader(sig_field)
    if key.string() != KEY_TYPE or sig.string() != KEY_TYPE:
        raise AnnouncementError("the SSH signature is not an Ed25519 (ssh-ed25519) signature")
    public, raw = key.string(), sig.string()
    if len(public) != 32 or len(raw) != 64 or reserved or hash_alg != HASH or r.pos != len(
            blob) or key.pos != len(key.data) or sig.pos != len(sig.data):
        raise AnnouncementError("the SSH signature is malformed (lengths, reserved field, "
                                "hash algorithm or trailing bytes)")
    return public, namespace, raw


def verify(message: bytes, armoured: str, vk: nacl.signing.VerifyKey,
           namespace: str = NAMESPACE) -> None:
    """AnnouncementError unless ``armoured`` is ``vk``'s SSHSIG of ``message`` in
    ``namespace``."""
    public, got_namespace, raw = _fields(_unarmour(armoured))
    bad = "BAD SIGNATURE: this file was not signed by this key or was altered"
    hint = "do not trust the addresses in it"
    if public != bytes(vk):
        raise AnnouncementError(f"{bad} (the signature names another key)", hint)
    if got_namespace != namespace.encode("ascii"):
        raise AnnouncementError(f"{bad} (signed for {got_namespace!r}, not {namespace!r})", hint)
    try:
        vk.verify(signed_data(message, namespace), raw)
    except nacl.exceptions.BadSignatureError as exc:
        raise AnnouncementError(bad, hint) from exc


def parse_ssh_public(text: str) -> bytes | None:
    """The Ed25519 key of an ``ssh-ed25519 AAAA…`` or allowed_signers line, else None."""
    words = text.split()
    if KEY_TYPE.decode() not in words[:-1]:
        return None
    try:
        blob = base64.b64decode(words[words.index(KEY_TYPE.decode()) + 1], validate=True)
        r = _Reader(blob)
        if r.string() != KEY_TYPE:
            return None
        public = r.string()
    except (binascii.Error, ValueError, AnnouncementError):
        return None
    return public if len(public) == 32 and r.pos == len(blob) else None
